/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vmm_snap.c - device snapshots: vmm_save() stops a device and writes its
 * migration data, the guest memory and the interrupt setup to a file;
 * vmm_restore() starts another device from such a file.
 *
 * The file (all integers little-endian):
 *
 *   header   magic "VFUSNAP\0", u32 version (1), u32 number of sections,
 *            u32 flags (0), u32 CRC32C of the 20 bytes before it
 *   section  u32 type, u32 reserved (0), u64 payload length, the payload,
 *            u32 CRC32C of the section's header and payload
 *
 *   DEVICE   the migration data stream, as read (exactly one)
 *   MEMORY   one guest memory region: u64 gpa, u64 size, u32 flags
 *            (VMM_MEM_*), u32 number of runs, then the runs of non-zero
 *            pages, each u64 offset, u64 length and the bytes, in
 *            increasing order (pages not in a run are zero)
 *   IRQS     u32 count, u32 reserved (0), then per enabled vector u32
 *            index, u32 vector, u64 triggers pending, in increasing order
 *            (at most one such section)
 *
 * vmm_restore() reads and checks the whole file before it touches the
 * device, so a truncated or corrupted file changes nothing there: a bad
 * checksum is -EBADMSG, anything else wrong with the file -EINVAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/private.h"

#define S(x) VFIO_USER_DEVICE_STATE_##x

#define SNAP_MAGIC "VFUSNAP"  /* with its NUL: 8 bytes */
#define SNAP_VERSION 1u
#define SNAP_HDR_LEN 24u
#define SNAP_SEC_HDR_LEN 16u
#define SNAP_SEC_CRC_LEN 4u
#define SNAP_MEM_HDR_LEN 24u
#define SNAP_RUN_HDR_LEN 16u
#define SNAP_IRQ_HDR_LEN 8u
#define SNAP_IRQ_ENT_LEN 16u

/* Largest file vmm_restore() reads (it holds it all in memory). */
#define SNAP_MAX_FILE ((uint64_t)1 << 30)

enum snap_type {
    SNAP_DEVICE = 1,
    SNAP_MEMORY = 2,
    SNAP_IRQS = 3,
};

/* ------------------------------------------------------------------ */
/* CRC32C (Castagnoli, reflected, as iSCSI and ext4 use it)            */
/* ------------------------------------------------------------------ */

/* The table, computed by the compiler: eight shift-and-xor steps each. */
#define CRC_POLY 0x82f63b78u
#define C1(c) (((c) >> 1) ^ (CRC_POLY & (0u - ((c) & 1u))))
#define C8(c) C1(C1(C1(C1(C1(C1(C1(C1((uint32_t)(c)))))))))
#define C4X(n) C8(n), C8((n) + 1), C8((n) + 2), C8((n) + 3)
#define C16X(n) C4X(n), C4X((n) + 4), C4X((n) + 8), C4X((n) + 12)
#define C64X(n) C16X(n), C16X((n) + 16), C16X((n) + 32), C16X((n) + 48)

static const uint32_t crc_table[256] = {
    C64X(0), C64X(64), C64X(128), C64X(192),
};

/* Continue a CRC32C over @len more bytes (start with crc = 0). */
static uint32_t
crc32c(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    crc = ~crc;
    while (len-- > 0) {
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

/* ------------------------------------------------------------------ */
/* Little-endian fields                                                */
/* ------------------------------------------------------------------ */

static void
put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void
put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t
get32(const uint8_t *p)
{
    uint32_t v = 0;

    for (int i = 3; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint64_t
get64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

typedef struct snap_out {
    FILE *f;
    uint32_t crc; /* of the section being written */
    int err;      /* first write error */
} snap_out_t;

static void
out_bytes(snap_out_t *o, const void *p, size_t len)
{
    if (o->err != 0 || len == 0) {
        return;
    }
    o->crc = crc32c(o->crc, p, len);
    if (fwrite(p, 1, len, o->f) != len) {
        o->err = -EIO;
    }
}

static void
sec_begin(snap_out_t *o, uint32_t type, uint64_t len)
{
    uint8_t h[SNAP_SEC_HDR_LEN];

    put32(h, type);
    put32(h + 4, 0);
    put64(h + 8, len);
    o->crc = 0;
    out_bytes(o, h, sizeof(h));
}

static void
sec_end(snap_out_t *o)
{
    uint8_t c[SNAP_SEC_CRC_LEN];

    put32(c, o->crc);
    out_bytes(o, c, sizeof(c));
}

/* Pages of @r that are not all zero, merged into runs: the callback */
typedef void(run_cb_t)(snap_out_t *o, const vmm_mem_region_t *r,
                       uint64_t off, uint64_t len);

static void
for_each_run(snap_out_t *o, const vmm_mem_region_t *r, uint64_t pg,
             run_cb_t *cb)
{
    uint64_t off = 0;

    while (off < r->size) {
        uint64_t start;

        while (off < r->size && vmm_migr_page_zero(r->base + off,
                                                   (size_t)pg)) {
            off += pg;
        }
        if (off >= r->size) {
            break;
        }
        start = off;
        while (off < r->size && !vmm_migr_page_zero(r->base + off,
                                                    (size_t)pg)) {
            off += pg;
        }
        cb(o, r, start, off - start);
    }
}

typedef struct run_count {
    snap_out_t base; /* first: the callback gets it */
    uint32_t runs;
    uint64_t bytes;
} run_count_t;

static void
count_run(snap_out_t *o, const vmm_mem_region_t *r, uint64_t off,
          uint64_t len)
{
    run_count_t *c = (run_count_t *)o;

    (void)r;
    (void)off;
    c->runs++;
    c->bytes += SNAP_RUN_HDR_LEN + len;
}

static void
write_run(snap_out_t *o, const vmm_mem_region_t *r, uint64_t off,
          uint64_t len)
{
    uint8_t h[SNAP_RUN_HDR_LEN];

    put64(h, off);
    put64(h + 8, len);
    out_bytes(o, h, sizeof(h));
    out_bytes(o, r->base + off, (size_t)len);
}

static void
write_region(snap_out_t *o, const vmm_mem_region_t *r, uint64_t pg)
{
    run_count_t c;
    uint8_t h[SNAP_MEM_HDR_LEN];

    memset(&c, 0, sizeof(c));
    for_each_run(&c.base, r, pg, count_run);
    sec_begin(o, SNAP_MEMORY, SNAP_MEM_HDR_LEN + c.bytes);
    put64(h, r->gpa);
    put64(h + 8, r->size);
    put32(h + 16, r->flags);
    put32(h + 20, c.runs);
    out_bytes(o, h, sizeof(h));
    for_each_run(o, r, pg, write_run);
    sec_end(o);
}

/* The enabled vectors and their pending triggers. */
static void
write_irqs(snap_out_t *o, vmm_t *vmm)
{
    uint8_t h[SNAP_IRQ_HDR_LEN], e[SNAP_IRQ_ENT_LEN];
    uint32_t idx, v, n = 0;
    uint64_t count;

    for (idx = 0; idx < VMM_MAX_IRQS; idx++) {
        for (v = 0; v < vmm->irq[idx].nr; v++) {
            n += vmm->irq[idx].vecs[v].efd >= 0;
        }
    }
    sec_begin(o, SNAP_IRQS, SNAP_IRQ_HDR_LEN + (uint64_t)n * sizeof(e));
    put32(h, n);
    put32(h + 4, 0);
    out_bytes(o, h, sizeof(h));
    for (idx = 0; idx < VMM_MAX_IRQS; idx++) {
        for (v = 0; v < vmm->irq[idx].nr; v++) {
            if (vmm->irq[idx].vecs[v].efd < 0) {
                continue;
            }
            if (vmm_irq_count(vmm, idx, v, false, &count) < 0) {
                count = 0;
            }
            put32(e, idx);
            put32(e + 4, v);
            put64(e + 8, count);
            out_bytes(o, e, sizeof(e));
        }
    }
    sec_end(o);
}

static int
write_file(vmm_t *vmm, const char *path, const vmm_buf_t *data)
{
    uint8_t h[SNAP_HDR_LEN];
    snap_out_t o = {0};
    uint64_t pg = vmm_migr_page(vmm);
    size_t i;
    int fd;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -errno;
    }
    o.f = fdopen(fd, "wb");
    if (o.f == NULL) {
        int err = -errno;

        close(fd);
        unlink(path);
        return err;
    }
    memcpy(h, SNAP_MAGIC, 8);
    put32(h + 8, SNAP_VERSION);
    put32(h + 12, (uint32_t)(vmm->nr_mem + 2));
    put32(h + 16, 0);
    put32(h + 20, crc32c(0, h, 20));
    out_bytes(&o, h, sizeof(h));

    sec_begin(&o, SNAP_DEVICE, data->len);
    out_bytes(&o, data->data, data->len);
    sec_end(&o);
    for (i = 0; i < vmm->nr_mem; i++) {
        write_region(&o, &vmm->mem[i], pg);
    }
    write_irqs(&o, vmm);

    if (fclose(o.f) != 0 && o.err == 0) {
        o.err = -EIO;
    }
    if (o.err != 0) {
        unlink(path);
    }
    return o.err;
}

/*
 * The device is stopped first (RUNNING -> STOP -> STOP_COPY, walked by
 * the server), so its data and the guest memory are read while nothing
 * changes them.
 */
VMM_EXPORT int
vmm_save(vmm_t *src, const char *path)
{
    vmm_buf_t data = {0};
    uint64_t moved = 0;
    uint32_t st = S(RUNNING);
    int rc;

    if (src == NULL || path == NULL) {
        return -EINVAL;
    }
    if (src->track_pgsize != 0) {
        return -EBUSY;
    }
    rc = vmm_migr_check(src, S(RUNNING));
    if (rc == -EINVAL && vmm_mig_get_state(src, &st) == 0 &&
        st == S(STOP)) {
        rc = 0; /* already stopped: save it as it is */
    }
    if (rc < 0) {
        return rc;
    }
    rc = vmm_mig_set_state(src, S(STOP_COPY));
    if (rc == 0) {
        rc = vmm_migr_read_data(src, &data, true, &moved);
    }
    if (rc == 0) {
        rc = vmm_mig_set_state(src, S(STOP));
    }
    if (rc == 0) {
        rc = write_file(src, path, &data);
    }
    if (rc < 0) {
        vmm_log(src, LOG_ERR, "saving to %s failed: %s", path, strerror(-rc));
        if (st == S(RUNNING)) {
            vmm_migr_back_to_running(src);
        } else {
            (void)vmm_mig_set_state(src, S(STOP));
        }
    }
    vmm_buf_free(&data);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

typedef struct snap_region {
    uint64_t gpa, size;
    uint32_t flags;
    uint32_t nr_runs;
    const uint8_t *runs; /* into the file */
} snap_region_t;

typedef struct snap {
    uint8_t *file;
    size_t file_len;
    const uint8_t *dev;
    size_t dev_len;
    bool have_dev;
    snap_region_t *regions;
    size_t nr_regions;
    const uint8_t *irqs; /* entries, into the file */
    uint32_t nr_irqs;
} snap_t;

static void
snap_free(snap_t *s)
{
    free(s->file);
    free(s->regions);
    memset(s, 0, sizeof(*s));
}

static int
read_all(const char *path, snap_t *s)
{
    struct stat sb;
    size_t done = 0;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, &sb) < 0) {
        rc = -errno;
    } else if (!S_ISREG(sb.st_mode) || sb.st_size < 0 ||
               (uint64_t)sb.st_size > SNAP_MAX_FILE) {
        rc = -EINVAL;
    } else {
        s->file_len = (size_t)sb.st_size;
        s->file = malloc(s->file_len + 1);
        if (s->file == NULL) {
            rc = -ENOMEM;
        }
    }
    while (rc == 0 && done < s->file_len) {
        ssize_t n = read(fd, s->file + done, s->file_len - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = n < 0 ? -errno : -EINVAL; /* shrank under us */
            break;
        }
        done += (size_t)n;
    }
    close(fd);
    return rc;
}

/* One MEMORY payload: the region and its runs. */
static int
parse_region(const uint8_t *p, uint64_t len, uint64_t pg, snap_region_t *r)
{
    uint64_t at = SNAP_MEM_HDR_LEN, next_off = 0, end;
    uint32_t i;

    if (len < SNAP_MEM_HDR_LEN) {
        return -EINVAL;
    }
    r->gpa = get64(p);
    r->size = get64(p + 8);
    r->flags = get32(p + 16);
    r->nr_runs = get32(p + 20);
    r->runs = p + SNAP_MEM_HDR_LEN;
    if (r->size == 0 || r->size > SIZE_MAX || r->gpa % pg != 0 ||
        r->size % pg != 0 || __builtin_add_overflow(r->gpa, r->size, &end) ||
        (r->flags & ~(VMM_MEM_RW | VMM_MEM_NOFD)) != 0) {
        return -EINVAL;
    }
    for (i = 0; i < r->nr_runs; i++) {
        uint64_t off, n;

        if (len - at < SNAP_RUN_HDR_LEN) {
            return -EINVAL;
        }
        off = get64(p + at);
        n = get64(p + at + 8);
        at += SNAP_RUN_HDR_LEN;
        if (n == 0 || off < next_off || off > r->size ||
            n > r->size - off || n > len - at) {
            return -EINVAL;
        }
        next_off = off + n;
        at += n;
    }
    return at == len ? 0 : -EINVAL;
}

static int
parse_irqs(const uint8_t *p, uint64_t len, snap_t *s)
{
    uint64_t prev = 0;
    uint32_t i, n;

    if (len < SNAP_IRQ_HDR_LEN) {
        return -EINVAL;
    }
    n = get32(p);
    if (get32(p + 4) != 0 ||
        (len - SNAP_IRQ_HDR_LEN) != (uint64_t)n * SNAP_IRQ_ENT_LEN) {
        return -EINVAL;
    }
    for (i = 0; i < n; i++) {
        const uint8_t *e = p + SNAP_IRQ_HDR_LEN + (size_t)i * SNAP_IRQ_ENT_LEN;
        uint32_t idx = get32(e), vec = get32(e + 4);
        uint64_t key = ((uint64_t)idx << 32 | vec) + 1;

        if (idx >= VMM_MAX_IRQS || vec >= VMM_MAX_IRQ_VECTORS ||
            key <= prev) {
            return -EINVAL;
        }
        prev = key;
    }
    s->irqs = p + SNAP_IRQ_HDR_LEN;
    s->nr_irqs = n;
    return 0;
}

static int
region_cmp(const void *a, const void *b)
{
    const snap_region_t *x = a, *y = b;

    return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* The whole file, checked; nothing is done with it yet. */
static int
parse(snap_t *s, uint64_t pg)
{
    const uint8_t *f = s->file;
    uint64_t at = SNAP_HDR_LEN;
    uint32_t nr, i;
    bool have_irqs = false;
    int rc;

    if (s->file_len < SNAP_HDR_LEN || memcmp(f, SNAP_MAGIC, 8) != 0) {
        return -EINVAL;
    }
    if (get32(f + 20) != crc32c(0, f, 20)) {
        return -EBADMSG;
    }
    nr = get32(f + 12);
    if (get32(f + 8) != SNAP_VERSION || get32(f + 16) != 0 ||
        nr > (s->file_len - SNAP_HDR_LEN) /
                 (SNAP_SEC_HDR_LEN + SNAP_SEC_CRC_LEN)) {
        return -EINVAL;
    }
    s->regions = calloc(nr + 1, sizeof(*s->regions));
    if (s->regions == NULL) {
        return -ENOMEM;
    }
    for (i = 0; i < nr; i++) {
        const uint8_t *h = f + at;
        uint64_t left = s->file_len - at;
        uint64_t len;
        uint32_t type;

        if (left < SNAP_SEC_HDR_LEN + SNAP_SEC_CRC_LEN) {
            return -EINVAL;
        }
        type = get32(h);
        len = get64(h + 8);
        if (len > left - SNAP_SEC_HDR_LEN - SNAP_SEC_CRC_LEN) {
            return -EINVAL; /* truncated */
        }
        if (get32(h + SNAP_SEC_HDR_LEN + len) !=
            crc32c(0, h, SNAP_SEC_HDR_LEN + (size_t)len)) {
            return -EBADMSG;
        }
        if (get32(h + 4) != 0) {
            return -EINVAL;
        }
        h += SNAP_SEC_HDR_LEN;
        switch (type) {
        case SNAP_DEVICE:
            if (s->have_dev) {
                return -EINVAL;
            }
            s->have_dev = true;
            s->dev = h;
            s->dev_len = (size_t)len;
            break;
        case SNAP_MEMORY:
            rc = parse_region(h, len, pg, &s->regions[s->nr_regions]);
            if (rc < 0) {
                return rc;
            }
            s->nr_regions++;
            break;
        case SNAP_IRQS:
            if (have_irqs) {
                return -EINVAL;
            }
            have_irqs = true;
            rc = parse_irqs(h, len, s);
            if (rc < 0) {
                return rc;
            }
            break;
        default:
            return -EINVAL;
        }
        at += SNAP_SEC_HDR_LEN + len + SNAP_SEC_CRC_LEN;
    }
    if (at != s->file_len || !s->have_dev ||
        s->dev_len > VMM_MIG_MAX_DATA) {
        return -EINVAL;
    }
    qsort(s->regions, s->nr_regions, sizeof(*s->regions), region_cmp);
    for (i = 1; i < s->nr_regions; i++) {
        if (s->regions[i].gpa - s->regions[i - 1].gpa <
            s->regions[i - 1].size) {
            return -EINVAL; /* overlapping regions */
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Restoring                                                           */
/* ------------------------------------------------------------------ */

/* Whether [@gpa, +@size) overlaps guest memory @vmm has mapped. */
static bool
overlaps_mem(const vmm_t *vmm, uint64_t gpa, uint64_t size)
{
    size_t i;

    for (i = 0; i < vmm->nr_mem; i++) {
        const vmm_mem_region_t *r = &vmm->mem[i];

        if (r->gpa < gpa + size && gpa < r->gpa + r->size) {
            return true;
        }
    }
    return false;
}

/* What @dst must offer before anything changes on it. */
static int
check_dst(vmm_t *dst, const snap_t *s)
{
    struct vfio_irq_info info;
    uint32_t i;
    int rc;

    rc = vmm_migr_check(dst, S(RUNNING));
    if (rc < 0) {
        return rc;
    }
    for (i = 0; i < s->nr_regions; i++) {
        if (overlaps_mem(dst, s->regions[i].gpa, s->regions[i].size)) {
            return -EEXIST;
        }
    }
    for (i = 0; i < s->nr_irqs; i++) {
        const uint8_t *e = s->irqs + (size_t)i * SNAP_IRQ_ENT_LEN;

        rc = vmm_irq_info(dst, get32(e), &info);
        if (rc < 0) {
            return rc;
        }
        if (get32(e + 4) >= info.count) {
            return -EINVAL;
        }
    }
    return 0;
}

static int
map_regions(vmm_t *dst, const snap_t *s, size_t *nr_made)
{
    size_t i;
    uint32_t k;
    int rc;

    for (i = 0; i < s->nr_regions; i++) {
        const snap_region_t *r = &s->regions[i];
        const uint8_t *p = r->runs;
        uint8_t *base;

        rc = vmm_mem_map(dst, r->gpa, r->size, r->flags);
        if (rc < 0) {
            return rc;
        }
        (*nr_made)++;
        base = vmm_mem_ptr(dst, r->gpa, (size_t)r->size);
        if (base == NULL) {
            return -EFAULT;
        }
        for (k = 0; k < r->nr_runs; k++) {
            uint64_t off = get64(p), n = get64(p + 8);

            memcpy(base + off, p + SNAP_RUN_HDR_LEN, (size_t)n);
            p += SNAP_RUN_HDR_LEN + n;
        }
    }
    return 0;
}

/* Enable the saved vectors (runs of neighbours at once), then counts. */
static int
enable_irqs(vmm_t *dst, const snap_t *s, bool *made)
{
    uint32_t i = 0;
    int rc;

    while (i < s->nr_irqs) {
        const uint8_t *e = s->irqs + (size_t)i * SNAP_IRQ_ENT_LEN;
        uint32_t idx = get32(e), start = get32(e + 4), n = 1;

        while (i + n < s->nr_irqs) {
            const uint8_t *x = s->irqs + (size_t)(i + n) * SNAP_IRQ_ENT_LEN;

            if (get32(x) != idx || get32(x + 4) != start + n) {
                break;
            }
            n++;
        }
        rc = vmm_irq_enable(dst, idx, start, n);
        if (rc < 0) {
            return rc;
        }
        made[idx] = true;
        i += n;
    }
    for (i = 0; i < s->nr_irqs; i++) {
        const uint8_t *e = s->irqs + (size_t)i * SNAP_IRQ_ENT_LEN;
        uint32_t idx = get32(e), v = get32(e + 4);

        if (v < dst->irq[idx].nr) {
            dst->irq[idx].vecs[v].count = get64(e + 8);
        }
    }
    return 0;
}

VMM_EXPORT int
vmm_restore(vmm_t *dst, const char *path)
{
    bool irq_made[VMM_MAX_IRQS] = {false};
    snap_t s = {0};
    size_t nr_made = 0, i;
    int rc;

    if (dst == NULL || path == NULL) {
        return -EINVAL;
    }
    rc = read_all(path, &s);
    if (rc == 0) {
        rc = parse(&s, vmm_migr_page(dst));
        if (rc < 0) {
            vmm_log(dst, LOG_ERR, "%s: not a usable snapshot (%s)", path,
                    strerror(-rc));
        }
    }
    if (rc == 0) {
        rc = check_dst(dst, &s);
    }
    if (rc < 0) {
        snap_free(&s);
        return rc;
    }
    /* from here on, a failure undoes what was done */
    rc = map_regions(dst, &s, &nr_made);
    if (rc == 0) {
        rc = enable_irqs(dst, &s, irq_made);
    }
    if (rc == 0) {
        rc = vmm_migr_resume(dst, s.dev, s.dev_len);
    }
    if (rc < 0) {
        vmm_log(dst, LOG_ERR, "restoring from %s failed: %s", path,
                strerror(-rc));
        vmm_migr_back_to_running(dst);
        for (i = 0; i < VMM_MAX_IRQS; i++) {
            if (irq_made[i]) {
                (void)vmm_irq_disable(dst, (uint32_t)i);
            }
        }
        for (i = 0; i < nr_made; i++) {
            (void)vmm_mem_unmap(dst, s.regions[i].gpa, s.regions[i].size);
        }
    }
    snap_free(&s);
    return rc;
}
