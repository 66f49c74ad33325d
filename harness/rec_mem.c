/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rec_mem.c - the recorder's model of guest memory.
 *
 * For every region the client maps, the model holds what the replay's
 * guest memory will hold at the same point of the scenario: zeros after
 * `mem map`, then every `mem write` the recorder emitted and every byte
 * the device wrote.  Comparing the model with what the device really read
 * (DMA_READ replies) or with the client's memory itself (fd-backed
 * regions, through a read-only mapping of the fd the client passed)
 * tells which bytes the guest changed, so only those are written out.
 *
 * Models are anonymous MAP_NORESERVE mappings: a large region costs
 * address space, and memory only where the device or the guest touched
 * it.  Fd-backed regions are compared in full, so their total is bounded
 * by the watch budget; regions beyond it are mapped but not tracked.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/rec.h"

/* Runs of changed bytes closer than this are reported as one. */
#define SPAN_MERGE_GAP 32u
/* Compared at a time when looking for changes. */
#define SCAN_CHUNK 4096u
/* Largest model mapping (address space, not memory). */
#define MODEL_MAX (1ull << 40)

void
rec_mem_init(rec_mem_t *m, uint64_t watch_bytes)
{
    memset(m, 0, sizeof(*m));
    m->watch_left = watch_bytes;
}

static void
region_release(rec_mem_t *m, rec_mreg_t *r)
{
    if (r->model != NULL) {
        munmap(r->model, (size_t)r->size);
    }
    if (r->live_map != NULL) {
        munmap(r->live_map, r->live_map_len);
        /* the budget is given back so a remap can be watched again */
        m->watch_left += r->size;
    }
    memset(r, 0, sizeof(*r));
}

void
rec_mem_clear(rec_mem_t *m)
{
    size_t i;

    for (i = 0; i < m->nr; i++) {
        region_release(m, &m->r[i]);
    }
    m->nr = 0;
}

void
rec_mem_free(rec_mem_t *m)
{
    if (m == NULL) {
        return;
    }
    rec_mem_clear(m);
    free(m->r);
    m->r = NULL;
    m->cap = 0;
}

/* ------------------------------------------------------------------ */
/* Views of the client's memory                                        */
/* ------------------------------------------------------------------ */

/*
 * The fd must really hold the range: touching a mapping beyond the end of
 * the file raises SIGBUS.  A client that shrinks its memfd afterwards can
 * still do that to us; docs/recorder.md says so.
 */
void
rec_live_open(rec_mem_t *m, int fd, uint64_t offset, uint64_t size,
              rec_live_t *live)
{
    long pg = sysconf(_SC_PAGESIZE);
    uint64_t start, end, len;
    struct stat st;
    void *p;

    memset(live, 0, sizeof(*live));
    if (fd < 0 || size == 0 || size > m->watch_left || pg <= 0 ||
        fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        __builtin_add_overflow(offset, size, &end) ||
        end > (uint64_t)st.st_size) {
        return;
    }
    start = offset - offset % (uint64_t)pg;
    len = end - start;
    if (len > SIZE_MAX || start > (uint64_t)INT64_MAX) {
        return;
    }
    p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, (off_t)start);
    if (p == MAP_FAILED) {
        return;
    }
    live->map = p;
    live->map_len = (size_t)len;
    live->p = (const uint8_t *)p + (offset - start);
    live->budget = size;
    m->watch_left -= size;
}

void
rec_live_close(rec_mem_t *m, rec_live_t *live)
{
    if (live != NULL && live->map != NULL) {
        munmap(live->map, live->map_len);
        m->watch_left += live->budget;
        memset(live, 0, sizeof(*live));
    }
}

/* ------------------------------------------------------------------ */
/* Regions                                                             */
/* ------------------------------------------------------------------ */

/* first region whose end lies above @gpa */
static size_t
lower(const rec_mem_t *m, uint64_t gpa)
{
    size_t lo = 0, hi = m->nr;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (m->r[mid].gpa + m->r[mid].size <= gpa) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

bool
rec_mem_overlaps(const rec_mem_t *m, uint64_t gpa, uint64_t size)
{
    uint64_t end;
    size_t i;

    if (size == 0 || __builtin_add_overflow(gpa, size, &end)) {
        return false;
    }
    i = lower(m, gpa);
    return i < m->nr && m->r[i].gpa < end;
}

bool
rec_mem_covered(const rec_mem_t *m, uint64_t gpa, uint64_t len)
{
    size_t i = lower(m, gpa);

    while (len > 0) {
        uint64_t off, n;

        if (i >= m->nr || m->r[i].gpa > gpa) {
            return false;
        }
        off = gpa - m->r[i].gpa;
        n = m->r[i].size - off < len ? m->r[i].size - off : len;
        len -= n;
        gpa += n;
        i++;
    }
    return true;
}

bool
rec_mem_tracked(const rec_mem_t *m, uint64_t gpa, uint64_t len)
{
    size_t i = lower(m, gpa);

    while (len > 0) {
        uint64_t off, n;

        if (i >= m->nr || m->r[i].gpa > gpa || m->r[i].model == NULL) {
            return false;
        }
        off = gpa - m->r[i].gpa;
        n = m->r[i].size - off < len ? m->r[i].size - off : len;
        len -= n;
        gpa += n;
        i++;
    }
    return true;
}

long
rec_mem_exact(const rec_mem_t *m, uint64_t gpa, uint64_t size)
{
    size_t i = lower(m, gpa);

    if (i < m->nr && m->r[i].gpa == gpa && m->r[i].size == size) {
        return (long)i;
    }
    return -1;
}

int
rec_mem_add(rec_mem_t *m, uint64_t gpa, uint64_t size, uint32_t prot,
            bool nofd, rec_live_t *live)
{
    rec_mreg_t r = {.gpa = gpa, .size = size, .prot = prot, .nofd = nofd};
    uint64_t end;
    size_t i;

    if (size == 0 || __builtin_add_overflow(gpa, size, &end) ||
        rec_mem_overlaps(m, gpa, size)) {
        rec_live_close(m, live);
        return -EEXIST;
    }
    if (m->nr == m->cap) {
        size_t cap = m->cap == 0 ? 16 : m->cap * 2;
        rec_mreg_t *n;

        if (cap > PROTO_MAX_DMA_MAPS_CEIL) {
            rec_live_close(m, live);
            return -ENOMEM;
        }
        n = realloc(m->r, cap * sizeof(*n));
        if (n == NULL) {
            rec_live_close(m, live);
            return -ENOMEM;
        }
        m->r = n;
        m->cap = cap;
    }
    /*
     * fd-backed memory is tracked only with a view to compare against;
     * fd-less memory is seen through DMA messages, so always tracked.
     */
    if ((nofd || live->map != NULL) && size <= MODEL_MAX) {
        void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

        if (p != MAP_FAILED) {
            r.model = p;
        }
    }
    if (r.model != NULL && live->map != NULL) {
        r.live = live->p;
        r.live_map = live->map;
        r.live_map_len = live->map_len;
        memset(live, 0, sizeof(*live));
    } else {
        rec_live_close(m, live);
    }
    i = lower(m, gpa);
    memmove(&m->r[i + 1], &m->r[i], (m->nr - i) * sizeof(m->r[0]));
    m->r[i] = r;
    m->nr++;
    return 0;
}

void
rec_mem_remove(rec_mem_t *m, size_t i)
{
    if (i >= m->nr) {
        return;
    }
    region_release(m, &m->r[i]);
    memmove(&m->r[i], &m->r[i + 1], (m->nr - i - 1) * sizeof(m->r[0]));
    m->nr--;
}

/* ------------------------------------------------------------------ */
/* Model contents                                                      */
/* ------------------------------------------------------------------ */

void
rec_mem_model_set(rec_mem_t *m, uint64_t gpa, const uint8_t *data,
                  size_t len, bool *changed)
{
    size_t i = lower(m, gpa);

    if (changed != NULL) {
        *changed = false;
    }
    while (len > 0 && i < m->nr) {
        rec_mreg_t *r = &m->r[i];
        uint64_t off, n;

        if (r->gpa >= gpa + len) {
            break;
        }
        if (r->gpa > gpa) {
            /* a hole between regions: skip it */
            n = r->gpa - gpa;
            data += n;
            len -= (size_t)n;
            gpa = r->gpa;
        }
        off = gpa - r->gpa;
        n = r->size - off < len ? r->size - off : len;
        if (r->model != NULL) {
            if (changed != NULL && memcmp(r->model + off, data, n) != 0) {
                *changed = true;
            }
            memcpy(r->model + off, data, n);
        }
        data += n;
        len -= (size_t)n;
        gpa += n;
        i++;
    }
}

bool
rec_mem_model_get(const rec_mem_t *m, uint64_t gpa, uint8_t *out,
                  size_t len)
{
    size_t i = lower(m, gpa);

    while (len > 0) {
        const rec_mreg_t *r;
        uint64_t off, n;

        if (i >= m->nr) {
            return false;
        }
        r = &m->r[i];
        if (r->gpa > gpa || r->model == NULL) {
            return false;
        }
        off = gpa - r->gpa;
        n = r->size - off < len ? r->size - off : len;
        memcpy(out, r->model + off, n);
        out += n;
        len -= (size_t)n;
        gpa += n;
        i++;
    }
    return true;
}

/* first and last differing byte of two equal-length blocks, if any */
static bool
diff_bounds(const uint8_t *a, const uint8_t *b, size_t n, size_t *first,
            size_t *last)
{
    size_t i, j;

    if (memcmp(a, b, n) == 0) {
        return false;
    }
    for (i = 0; a[i] == b[i]; i++) {
    }
    for (j = n - 1; a[j] == b[j]; j--) {
    }
    *first = i;
    *last = j;
    return true;
}

/*
 * The live bytes are copied once into the model and reported from there:
 * the client may be changing its memory while we look, and the model must
 * hold exactly what was reported.
 */
static void
sync_region(rec_mreg_t *r, rec_span_cb_t *cb, void *arg)
{
    uint64_t off = 0;
    bool open = false;
    uint64_t run_start = 0, run_end = 0; /* [start, end) of the open run */

    while (off < r->size) {
        size_t n = r->size - off < SCAN_CHUNK ? (size_t)(r->size - off)
                                              : SCAN_CHUNK;
        size_t first, last;

        if (diff_bounds(r->live + off, r->model + off, n, &first, &last)) {
            uint64_t s = off + first, e = off + last + 1;

            memcpy(r->model + s, r->live + s, e - s);
            if (open && s - run_end <= SPAN_MERGE_GAP) {
                run_end = e;
            } else {
                if (open) {
                    cb(arg, r->gpa + run_start, r->model + run_start,
                       run_end - run_start);
                }
                open = true;
                run_start = s;
                run_end = e;
            }
        }
        off += n;
    }
    if (open) {
        cb(arg, r->gpa + run_start, r->model + run_start,
           run_end - run_start);
    }
}

void
rec_mem_sync(rec_mem_t *m, rec_span_cb_t *cb, void *arg)
{
    size_t i;

    for (i = 0; i < m->nr; i++) {
        if (m->r[i].live != NULL && m->r[i].model != NULL) {
            sync_region(&m->r[i], cb, arg);
        }
    }
}
