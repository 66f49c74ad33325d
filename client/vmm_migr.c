/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vmm_migr.c - the fake VMM's migration driver: the device state machine
 * and migration data (DEVICE_FEATURE, MIG_DATA_READ/WRITE), DMA logging,
 * and vmm_migrate(), which moves a running device, its guest memory and
 * its interrupts from one client to another.  Snapshot files are in
 * vmm_snap.c.
 *
 * Guest memory belongs to the VMM, so "carrying" it is a local copy from
 * the source client's regions to the same regions recreated on the
 * destination.  Copied once up front, it is kept exact by re-copying what
 * was written since: pages the device wrote directly (fd-backed regions,
 * from the server's DMA_LOGGING_REPORT) and pages written through
 * DMA_WRITE messages or by the "guest" (which the client serves or does
 * itself, so it notes them here: a server cannot log memory it does not
 * map, and libvfio-user refuses to report such regions).
 *
 * Whatever a server answers is checked: a state outside the enum, a reply
 * of the wrong size, a bitmap not echoing its range, more data than the
 * limits allow give -EPROTO (or -E2BIG), never a crash or an overrun.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/private.h"

#define S(x) VFIO_USER_DEVICE_STATE_##x

/* PRE_COPY rounds of vmm_migrate() when the options say 0. */
#define VMM_MIG_DEFAULT_ITERS 16u

/* ------------------------------------------------------------------ */
/* DEVICE_FEATURE                                                      */
/* ------------------------------------------------------------------ */

/*
 * One DEVICE_FEATURE with @flags and @len bytes of @data; argsz offers
 * room for @room bytes of reply data.  On success *@reply holds the
 * validated reply (flags echoed; GET within argsz; SET/PROBE the same
 * length as the request).
 */
static int
feature(vmm_t *vmm, uint32_t flags, const void *data, size_t len,
        size_t room, proto_msg_t *reply)
{
    struct vfio_user_device_feature hdr = {.flags = flags};
    size_t most = room > len ? room : len;
    uint8_t *body;
    int rc;

    *reply = (proto_msg_t)PROTO_MSG_INIT;
    if (vmm == NULL) {
        return -EINVAL;
    }
    if (most > UINT32_MAX - sizeof(hdr)) {
        return -E2BIG;
    }
    hdr.argsz = (uint32_t)(sizeof(hdr) + most);
    body = malloc(sizeof(hdr) + len);
    if (body == NULL) {
        return -ENOMEM;
    }
    memcpy(body, &hdr, sizeof(hdr));
    if (len > 0) {
        memcpy(body + sizeof(hdr), data, len);
    }
    rc = vmm_request(vmm, VFIO_USER_DEVICE_FEATURE, body, sizeof(hdr) + len,
                     NULL, 0, reply);
    free(body);
    return rc;
}

/* GET of a feature whose data is @len bytes: copy them to @out. */
static int
feature_get(vmm_t *vmm, uint32_t feat, void *out, size_t len)
{
    const size_t hdr = sizeof(struct vfio_user_device_feature);
    proto_msg_t reply;
    int rc;

    rc = feature(vmm, VFIO_DEVICE_FEATURE_GET | feat, NULL, 0, len, &reply);
    if (rc < 0) {
        return rc;
    }
    if (reply.body_len < hdr + len) {
        vmm_log(vmm, LOG_ERR, "feature %u: reply of %zu bytes, need %zu",
                feat, reply.body_len, hdr + len);
        rc = -EPROTO;
    } else {
        memcpy(out, reply.body + hdr, len);
    }
    vmm_msg_free(vmm, &reply);
    return rc;
}

VMM_EXPORT int
vmm_mig_features(vmm_t *vmm, uint64_t *flags)
{
    struct vfio_user_device_feature_migration mig;
    int rc;

    if (flags == NULL) {
        return -EINVAL;
    }
    *flags = 0;
    rc = feature_get(vmm, VFIO_DEVICE_FEATURE_MIGRATION, &mig, sizeof(mig));
    if (rc == 0) {
        *flags = mig.flags;
    }
    return rc;
}

VMM_EXPORT int
vmm_mig_get_state(vmm_t *vmm, uint32_t *state)
{
    struct vfio_user_device_feature_mig_state st;
    int rc;

    if (state == NULL) {
        return -EINVAL;
    }
    *state = S(ERROR);
    rc = feature_get(vmm, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
                     sizeof(st));
    if (rc < 0) {
        return rc;
    }
    if (st.device_state >= VFIO_USER_DEVICE_NUM_STATES) {
        vmm_log(vmm, LOG_ERR, "server reports device state %u",
                st.device_state);
        return -EPROTO;
    }
    *state = st.device_state;
    return 0;
}

/*
 * Any value goes on the wire, so tests can see the server refuse states
 * outside the enum; the server walks multi-step arcs itself.
 */
VMM_EXPORT int
vmm_mig_set_state(vmm_t *vmm, uint32_t state)
{
    struct vfio_user_device_feature_mig_state st = {.device_state = state};
    proto_msg_t reply;
    int rc;

    rc = feature(vmm,
                 VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
                 &st, sizeof(st), 0, &reply);
    if (rc == 0) {
        vmm_msg_free(vmm, &reply);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* MIG_DATA_READ / MIG_DATA_WRITE                                      */
/* ------------------------------------------------------------------ */

/* The largest migration data chunk one message may carry. */
static size_t
mig_chunk(const vmm_t *vmm)
{
    uint64_t n = vmm->pub_caps.max_data_xfer_size;

    if (n == 0) {
        n = PROTO_DEFAULT_MAX_DATA_XFER;
    }
    if (n > UINT32_MAX - sizeof(struct vfio_user_mig_data)) {
        n = UINT32_MAX - sizeof(struct vfio_user_mig_data);
    }
    return (size_t)n;
}

/*
 * One MIG_DATA_READ of @len bytes (at most a chunk).  The data stays in
 * @reply (freed by the caller): *@got bytes at *@data.
 */
static int
mig_read_msg(vmm_t *vmm, size_t len, proto_msg_t *reply, const uint8_t **data,
             size_t *got)
{
    struct vfio_user_mig_data req, res;
    int rc;

    req.size = (uint32_t)len;
    req.argsz = (uint32_t)(sizeof(req) + len);
    rc = vmm_request(vmm, VFIO_USER_MIG_DATA_READ, &req, sizeof(req), NULL,
                     0, reply);
    if (rc < 0) {
        return rc;
    }
    /* proto: size <= what we asked, body holds at least size bytes */
    memcpy(&res, reply->body, sizeof(res));
    *data = reply->body + sizeof(res);
    *got = res.size;
    return 0;
}

VMM_EXPORT int
vmm_mig_read(vmm_t *vmm, void *buf, size_t len, size_t *got)
{
    proto_msg_t reply;
    const uint8_t *data;
    int rc;

    if (got != NULL) {
        *got = 0;
    }
    if (vmm == NULL || got == NULL || (len > 0 && buf == NULL)) {
        return -EINVAL;
    }
    if (len > mig_chunk(vmm)) {
        len = mig_chunk(vmm);
    }
    rc = mig_read_msg(vmm, len, &reply, &data, got);
    if (rc < 0) {
        return rc;
    }
    if (*got > 0) {
        memcpy(buf, data, *got);
    }
    vmm_msg_free(vmm, &reply);
    return 0;
}

VMM_EXPORT int
vmm_mig_write(vmm_t *vmm, const void *buf, size_t len)
{
    struct vfio_user_mig_data req;
    const uint8_t *p = buf;
    size_t chunk;
    uint8_t *body;
    int rc = 0;

    if (vmm == NULL || (len > 0 && buf == NULL)) {
        return -EINVAL;
    }
    chunk = mig_chunk(vmm);
    body = malloc(sizeof(req) + (len < chunk ? len : chunk));
    if (body == NULL) {
        return -ENOMEM;
    }
    while (len > 0 && rc == 0) {
        size_t n = len < chunk ? len : chunk;
        proto_msg_t reply;

        req.size = (uint32_t)n;
        req.argsz = (uint32_t)(sizeof(req) + n);
        memcpy(body, &req, sizeof(req));
        memcpy(body + sizeof(req), p, n);
        rc = vmm_request(vmm, VFIO_USER_MIG_DATA_WRITE, body,
                         sizeof(req) + n, NULL, 0, &reply);
        if (rc == 0) {
            vmm_msg_free(vmm, &reply);
            p += n;
            len -= n;
        }
    }
    free(body);
    return rc;
}

/* ------------------------------------------------------------------ */
/* DMA logging (the server's side)                                     */
/* ------------------------------------------------------------------ */

static bool
is_pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

/* Bytes of a bitmap of whole 64-bit words for @len at @pgsize (pow2). */
static uint64_t
words_bytes(uint64_t len, uint64_t pgsize)
{
    uint64_t bits = len / pgsize + (len % pgsize != 0);

    return (bits / 64 + (bits % 64 != 0)) * 8;
}

/* DMA_LOGGING_START; *@selected is the page size the server took. */
static int
dirty_start(vmm_t *vmm, uint64_t pgsize, const vmm_range_t *ranges,
            size_t nr, uint64_t *selected)
{
    const size_t hdr = sizeof(struct vfio_user_device_feature);
    struct vfio_user_device_feature_dma_logging_control ctl = {
        .page_size = pgsize, .num_ranges = (uint32_t)nr};
    struct vfio_user_device_feature_dma_logging_range r;
    proto_msg_t reply;
    uint8_t *data;
    size_t len, i;
    int rc;

    if (vmm == NULL || !is_pow2(pgsize) || (nr > 0 && ranges == NULL)) {
        return -EINVAL;
    }
    if (nr > vmm->pub_caps.max_data_xfer_size / sizeof(r)) {
        return -E2BIG;
    }
    len = sizeof(ctl) + nr * sizeof(r);
    data = malloc(len);
    if (data == NULL) {
        return -ENOMEM;
    }
    memcpy(data, &ctl, sizeof(ctl));
    for (i = 0; i < nr; i++) {
        r.iova = ranges[i].gpa;
        r.length = ranges[i].size;
        memcpy(data + sizeof(ctl) + i * sizeof(r), &r, sizeof(r));
    }
    rc = feature(vmm,
                 VFIO_DEVICE_FEATURE_SET |
                     VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
                 data, len, 0, &reply);
    free(data);
    if (rc < 0) {
        return rc;
    }
    /* the spec: the reply may carry another page size, the one taken */
    memcpy(&ctl, reply.body + hdr, sizeof(ctl));
    vmm_msg_free(vmm, &reply);
    if (!is_pow2(ctl.page_size)) {
        vmm_log(vmm, LOG_ERR, "server logs at page size %#llx",
                (unsigned long long)ctl.page_size);
        return -EPROTO;
    }
    if (selected != NULL) {
        *selected = ctl.page_size;
    }
    return 0;
}

VMM_EXPORT int
vmm_dirty_start(vmm_t *vmm, uint64_t pgsize, const vmm_range_t *ranges,
                size_t nr_ranges)
{
    return dirty_start(vmm, pgsize, ranges, nr_ranges, NULL);
}

/* STOP carries no data (the kernel's layout; libvfio-user takes it). */
VMM_EXPORT int
vmm_dirty_stop(vmm_t *vmm)
{
    proto_msg_t reply;
    int rc;

    rc = feature(vmm,
                 VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
                 NULL, 0, 0, &reply);
    if (rc == 0) {
        vmm_msg_free(vmm, &reply);
    }
    return rc;
}

/*
 * The server sends whole 64-bit words (and, as libvfio-user, may set and
 * clear bits past the range inside the same words): the caller gets as
 * many bytes as @bitmap_size holds, the rest of @bitmap zeroed.
 */
VMM_EXPORT int
vmm_dirty_report(vmm_t *vmm, uint64_t gpa, uint64_t size, uint64_t pgsize,
                 uint8_t *bitmap, size_t bitmap_size)
{
    const size_t hdr = sizeof(struct vfio_user_device_feature);
    struct vfio_user_device_feature_dma_logging_report rep = {
        .iova = gpa, .length = size, .page_size = pgsize};
    struct vfio_user_device_feature_dma_logging_report got;
    proto_msg_t reply;
    uint64_t bits, need, wire;
    size_t n;
    int rc;

    if (vmm == NULL || bitmap == NULL || !is_pow2(pgsize) || size < pgsize ||
        gpa + size < gpa) {
        return -EINVAL;
    }
    bits = size / pgsize + (size % pgsize != 0);
    need = bits / 8 + (bits % 8 != 0);
    if (bitmap_size < need) {
        return -EINVAL;
    }
    wire = words_bytes(size, pgsize);
    if (wire > vmm->pub_caps.max_data_xfer_size || wire > UINT32_MAX / 2) {
        return -E2BIG;
    }
    rc = feature(vmm,
                 VFIO_DEVICE_FEATURE_GET |
                     VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
                 &rep, sizeof(rep), sizeof(rep) + (size_t)wire, &reply);
    if (rc < 0) {
        return rc;
    }
    if (reply.body_len != hdr + sizeof(rep) + wire) {
        vmm_log(vmm, LOG_ERR, "dirty report of %zu bytes, expected %llu",
                reply.body_len,
                (unsigned long long)(hdr + sizeof(rep) + wire));
        vmm_msg_free(vmm, &reply);
        return -EPROTO;
    }
    memcpy(&got, reply.body + hdr, sizeof(got));
    if (got.iova != gpa || got.length != size || got.page_size != pgsize) {
        vmm_log(vmm, LOG_ERR, "dirty report for another range");
        vmm_msg_free(vmm, &reply);
        return -EPROTO;
    }
    n = bitmap_size < wire ? bitmap_size : (size_t)wire;
    memcpy(bitmap, reply.body + hdr + sizeof(rep), n);
    memset(bitmap + n, 0, bitmap_size - n);
    vmm_msg_free(vmm, &reply);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Write tracking (the client's side)                                  */
/* ------------------------------------------------------------------ */

static void
bit_set(uint8_t *bm, uint64_t i)
{
    bm[i / 8] |= (uint8_t)(1u << (i % 8));
}

static bool
bit_get(const uint8_t *bm, uint64_t i)
{
    return (bm[i / 8] >> (i % 8)) & 1;
}

/* Bytes of a one-bit-per-page bitmap of region @r at @pg. */
static size_t
track_bytes(const vmm_mem_region_t *r, uint64_t pg)
{
    uint64_t pages = r->size / pg + (r->size % pg != 0);

    return (size_t)(pages / 8 + (pages % 8 != 0));
}

void
vmm_migr_note_write(const vmm_t *vmm, const vmm_mem_region_t *r,
                    uint64_t off, uint64_t len)
{
    uint64_t pg = vmm->track_pgsize;
    uint64_t i, last;

    if (pg == 0 || r->dirty == NULL || len == 0) {
        return;
    }
    last = (off + len - 1) / pg; /* within the region: no overflow */
    for (i = off / pg; i <= last; i++) {
        bit_set(r->dirty, i);
    }
}

static void
track_stop(vmm_t *vmm)
{
    size_t i;

    for (i = 0; i < vmm->nr_mem; i++) {
        free(vmm->mem[i].dirty);
        vmm->mem[i].dirty = NULL;
    }
    vmm->track_pgsize = 0;
}

static int
track_start(vmm_t *vmm, uint64_t pg)
{
    size_t i;

    for (i = 0; i < vmm->nr_mem; i++) {
        vmm->mem[i].dirty = calloc(1, track_bytes(&vmm->mem[i], pg) + 1);
        if (vmm->mem[i].dirty == NULL) {
            track_stop(vmm);
            return -ENOMEM;
        }
    }
    vmm->track_pgsize = pg;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers shared with vmm_snap.c                                      */
/* ------------------------------------------------------------------ */

uint64_t
vmm_migr_page(const vmm_t *vmm)
{
    uint64_t pg = vmm->pub_caps.pgsizes;

    return pg != 0 ? pg & -pg : PROTO_DEFAULT_PGSIZES;
}

void
vmm_buf_free(vmm_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* Room for @n more bytes (at most VMM_MIG_MAX_DATA in all). */
int
vmm_buf_reserve(vmm_buf_t *b, size_t n)
{
    size_t cap;
    uint8_t *p;

    if (n > VMM_MIG_MAX_DATA - b->len) {
        return -E2BIG;
    }
    if (b->cap - b->len >= n) {
        return 0;
    }
    cap = b->cap != 0 ? b->cap : 4096;
    while (cap - b->len < n) {
        cap = cap > VMM_MIG_MAX_DATA / 2 ? VMM_MIG_MAX_DATA : cap * 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        return -ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

/*
 * Read migration data into @b.  A pre-copy round (@drain false) ends at
 * the first short read, which the spec calls "no more data" (for now);
 * draining goes on until the device gives nothing, since libvfio-user's
 * devices may give less than asked with more to come.
 */
int
vmm_migr_read_data(vmm_t *vmm, vmm_buf_t *b, bool drain, uint64_t *moved)
{
    for (;;) {
        size_t chunk = mig_chunk(vmm);
        proto_msg_t reply;
        const uint8_t *data;
        size_t got;
        int rc;

        if (chunk > VMM_MIG_MAX_DATA - b->len) {
            chunk = VMM_MIG_MAX_DATA - b->len;
        }
        if (chunk == 0) {
            vmm_log(vmm, LOG_ERR, "more than %llu bytes of migration data",
                    (unsigned long long)VMM_MIG_MAX_DATA);
            return -E2BIG;
        }
        rc = mig_read_msg(vmm, chunk, &reply, &data, &got);
        if (rc < 0) {
            return rc;
        }
        /*
         * Room for what came, not for what was asked: a device state of a
         * few KiB would otherwise grow the buffer by a chunk (1 MiB by
         * default) per read.
         */
        rc = vmm_buf_reserve(b, got);
        if (rc == 0 && got > 0) {
            memcpy(b->data + b->len, data, got);
            b->len += got;
            *moved += got;
        }
        vmm_msg_free(vmm, &reply);
        if (rc < 0) {
            return rc;
        }
        if (got == 0 || (got < chunk && !drain)) {
            return 0;
        }
    }
}

int
vmm_migr_check(vmm_t *vmm, uint32_t want_state)
{
    uint64_t feat;
    uint32_t st;
    int rc;

    rc = vmm_mig_features(vmm, &feat);
    if (rc < 0) {
        return rc;
    }
    if (!(feat & VFIO_MIGRATION_STOP_COPY)) {
        /* the spec: a migratable device has at least STOP_COPY */
        return -ENOTSUP;
    }
    rc = vmm_mig_get_state(vmm, &st);
    if (rc < 0) {
        return rc;
    }
    return st == want_state ? 0 : -EINVAL;
}

/*
 * Put a device back to RUNNING after a failed migration, best effort.  A
 * RESUMING device is reset first: the kernel's uAPI aborts a resuming
 * session that way, and the device must not run on half its data.
 */
void
vmm_migr_back_to_running(vmm_t *vmm)
{
    uint32_t st;

    if (vmm_mig_get_state(vmm, &st) < 0 || st == S(RUNNING)) {
        return;
    }
    if (st == S(RESUMING)) {
        (void)vmm_reset(vmm);
        if (vmm_mig_get_state(vmm, &st) < 0 || st == S(RUNNING)) {
            return;
        }
    }
    if (vmm_mig_set_state(vmm, S(RUNNING)) < 0) {
        vmm_log(vmm, LOG_WARNING, "device left in state %u after a failed "
                "migration", st);
    }
}

/*
 * RESUMING, the data, RUNNING.  The server walks RUNNING -> STOP ->
 * RESUMING and RESUMING -> STOP -> RUNNING itself.
 */
int
vmm_migr_resume(vmm_t *dst, const uint8_t *data, size_t len)
{
    int rc;

    rc = vmm_mig_set_state(dst, S(RESUMING));
    if (rc == 0) {
        rc = vmm_mig_write(dst, data, len);
    }
    if (rc == 0) {
        rc = vmm_mig_set_state(dst, S(RUNNING));
    }
    return rc;
}

/* The region mapped exactly at [@gpa, +@size) of @vmm, or NULL. */
const vmm_mem_region_t *
vmm_migr_region(const vmm_t *vmm, uint64_t gpa, uint64_t size)
{
    size_t lo = 0, hi = vmm->nr_mem;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (vmm->mem[mid].gpa < gpa) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < vmm->nr_mem && vmm->mem[lo].gpa == gpa &&
        vmm->mem[lo].size == size) {
        return &vmm->mem[lo];
    }
    return NULL;
}

/* All zero: the first byte is, and every byte equals the one before. */
bool
vmm_migr_page_zero(const uint8_t *p, size_t len)
{
    return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* ------------------------------------------------------------------ */
/* vmm_migrate()                                                       */
/* ------------------------------------------------------------------ */

typedef struct mig_run {
    vmm_t *src, *dst;
    vmm_migr_opts_t o;
    vmm_migr_stats_t st;
    uint64_t pg;       /* tracking page: src's smallest negotiated page */
    bool logging;      /* the src server logs DMA writes */
    bool tracking;     /* we note DMA_WRITEs we serve for src */
    vmm_buf_t data;    /* device data read so far */
    size_t nr_regions; /* src regions at the start */
    bool *made;        /* per src region: we created it on dst */
    bool irq_made[VMM_MAX_IRQS];
} mig_run_t;

/* Recreate every src region on dst (an identical one is reused). */
static int
dst_map_memory(mig_run_t *m)
{
    size_t i;

    m->nr_regions = m->src->nr_mem;
    m->made = calloc(m->nr_regions + 1, sizeof(*m->made));
    if (m->made == NULL) {
        return -ENOMEM;
    }
    for (i = 0; i < m->nr_regions; i++) {
        const vmm_mem_region_t *r = &m->src->mem[i];
        const vmm_mem_region_t *d = vmm_migr_region(m->dst, r->gpa, r->size);
        int rc;

        if (d != NULL && d->flags == r->flags) {
            continue;
        }
        rc = vmm_mem_map(m->dst, r->gpa, r->size, r->flags);
        if (rc < 0) {
            vmm_log(m->src, LOG_ERR, "migration: cannot map [%#llx, +%#llx) "
                    "on the destination: %s", (unsigned long long)r->gpa,
                    (unsigned long long)r->size, strerror(-rc));
            return rc;
        }
        m->made[i] = true;
    }
    return 0;
}

/*
 * Copy all of src's memory.  The first copy (@first) skips the zero pages
 * of regions we just created on dst, which are zero already.
 */
static int
copy_all(mig_run_t *m, bool first)
{
    size_t i;

    for (i = 0; i < m->nr_regions; i++) {
        const vmm_mem_region_t *r = &m->src->mem[i];
        uint8_t *d = vmm_mem_ptr(m->dst, r->gpa, (size_t)r->size);
        uint64_t off;

        if (d == NULL) {
            return -EFAULT;
        }
        if (!first || !m->made[i]) {
            memcpy(d, r->base, (size_t)r->size);
            m->st.guest_bytes += r->size;
            continue;
        }
        for (off = 0; off < r->size; off += m->pg) {
            size_t n = (size_t)(r->size - off < m->pg ? r->size - off : m->pg);

            if (!vmm_migr_page_zero(r->base + off, n)) {
                memcpy(d + off, r->base + off, n);
                m->st.guest_bytes += n;
            }
        }
    }
    return 0;
}

/*
 * The server's bits for fd-backed region @r, or-ed into @bm (one bit per
 * m->pg page).  REPORT must cover the region from its start (as
 * libvfio-user requires) in one reply: the report's page size grows
 * until its bitmap fits the transfer size, which only makes the copy
 * coarser.
 */
static int
merge_report(mig_run_t *m, const vmm_mem_region_t *r, uint8_t *bm)
{
    uint64_t rpg = m->pg;
    uint64_t nbits, i, per, j, pages = r->size / m->pg;
    uint8_t *rbm;
    size_t rlen;
    int rc;

    while (words_bytes(r->size, rpg) > m->src->pub_caps.max_data_xfer_size &&
           rpg < r->size) {
        rpg *= 2;
    }
    rlen = (size_t)words_bytes(r->size, rpg);
    rbm = calloc(1, rlen);
    if (rbm == NULL) {
        return -ENOMEM;
    }
    rc = vmm_dirty_report(m->src, r->gpa, r->size, rpg, rbm, rlen);
    if (rc == 0) {
        nbits = r->size / rpg + (r->size % rpg != 0);
        per = rpg / m->pg;
        for (i = 0; i < nbits; i++) {
            if (!bit_get(rbm, i)) {
                continue;
            }
            for (j = i * per; j < (i + 1) * per && j < pages; j++) {
                bit_set(bm, j);
            }
        }
    }
    free(rbm);
    return rc;
}

/*
 * Re-copy what was written since the last sync; *@pages is how many
 * pages were.  Reading the logs clears them.
 */
static int
sync_dirty(mig_run_t *m, uint64_t *pages)
{
    size_t i;

    *pages = 0;
    for (i = 0; i < m->nr_regions; i++) {
        vmm_mem_region_t *r = &m->src->mem[i];
        uint8_t *d = vmm_mem_ptr(m->dst, r->gpa, (size_t)r->size);
        size_t len = track_bytes(r, m->pg);
        uint64_t k, n = r->size / m->pg;
        uint8_t *bm;
        int rc;

        if (d == NULL) {
            return -EFAULT;
        }
        bm = calloc(1, len + 1);
        if (bm == NULL) {
            return -ENOMEM;
        }
        if (m->logging && !(r->flags & VMM_MEM_NOFD)) {
            rc = merge_report(m, r, bm);
            if (rc < 0) {
                free(bm);
                return rc;
            }
        }
        if (r->dirty != NULL) {
            for (k = 0; k < len; k++) {
                bm[k] |= r->dirty[k];
            }
            memset(r->dirty, 0, len);
        }
        for (k = 0; k < n; k++) {
            if (bit_get(bm, k)) {
                memcpy(d + k * m->pg, r->base + k * m->pg, (size_t)m->pg);
                (*pages)++;
                m->st.guest_bytes += m->pg;
            }
        }
        free(bm);
    }
    m->st.dirty_pages += *pages;
    return 0;
}

/*
 * Enable on dst every vector enabled on src (runs of neighbours in one
 * go), with the triggers src counted and nobody took yet: they happened
 * to the guest, which now lives on dst.
 */
static int
dst_irqs(mig_run_t *m)
{
    uint32_t idx, v, start;
    uint64_t count;
    int rc;

    for (idx = 0; idx < VMM_MAX_IRQS; idx++) {
        const vmm_irq_index_t *x = &m->src->irq[idx];

        for (v = 0; v < x->nr;) {
            if (x->vecs[v].efd < 0) {
                v++;
                continue;
            }
            for (start = v; v < x->nr && x->vecs[v].efd >= 0; v++) {
            }
            rc = vmm_irq_enable(m->dst, idx, start, v - start);
            if (rc < 0) {
                return rc;
            }
            m->irq_made[idx] = true;
        }
        for (v = 0; v < x->nr; v++) {
            if (x->vecs[v].efd >= 0 &&
                vmm_irq_count(m->src, idx, v, false, &count) == 0 &&
                v < m->dst->irq[idx].nr) {
                m->dst->irq[idx].vecs[v].count = count;
            }
        }
    }
    return 0;
}

static void
logging_off(mig_run_t *m)
{
    if (m->logging) {
        int rc = vmm_dirty_stop(m->src);

        if (rc < 0) {
            vmm_log(m->src, LOG_WARNING, "cannot stop DMA logging: %s",
                    strerror(-rc));
        }
        m->logging = false;
    }
    if (m->tracking) {
        track_stop(m->src);
        m->tracking = false;
    }
}

/* Undo what the migration did: src RUNNING again, dst as it was. */
static void
rollback(mig_run_t *m)
{
    uint32_t idx;
    size_t i;

    logging_off(m);
    vmm_migr_back_to_running(m->src);
    vmm_migr_back_to_running(m->dst);
    for (idx = 0; idx < VMM_MAX_IRQS; idx++) {
        if (m->irq_made[idx]) {
            (void)vmm_irq_disable(m->dst, idx);
        }
    }
    for (i = 0; m->made != NULL && i < m->nr_regions; i++) {
        if (m->made[i]) {
            (void)vmm_mem_unmap(m->dst, m->src->mem[i].gpa,
                                m->src->mem[i].size);
        }
    }
}

static bool
has_fd_memory(const vmm_t *vmm)
{
    size_t i;

    for (i = 0; i < vmm->nr_mem; i++) {
        if (!(vmm->mem[i].flags & VMM_MEM_NOFD)) {
            return true;
        }
    }
    return false;
}

/* The source side, up to a stopped device whose data is all in m->data. */
static int
migrate_src(mig_run_t *m, uint64_t feat)
{
    uint64_t moved, pages = 0, selected;
    uint32_t i;
    int rc;

    rc = track_start(m->src, m->pg);
    if (rc < 0) {
        return rc;
    }
    m->tracking = true;
    if (!m->o.no_dirty_log && has_fd_memory(m->src)) {
        rc = dirty_start(m->src, m->pg, NULL, 0, &selected);
        if (rc == -ENOTCONN) {
            return rc;
        }
        /* a server that cannot log gets a full copy once stopped */
        m->logging = rc == 0;
        if (rc < 0) {
            vmm_log(m->src, LOG_INFO, "no DMA logging (%s): guest memory "
                    "is copied again once the device stopped",
                    strerror(-rc));
        }
    }
    rc = copy_all(m, true);
    if (rc < 0) {
        return rc;
    }
    if ((feat & VFIO_MIGRATION_PRE_COPY) && !m->o.no_precopy) {
        rc = vmm_mig_set_state(m->src, S(PRE_COPY));
        if (rc < 0) {
            return rc;
        }
        for (i = 0; i < m->o.max_precopy_iters; i++) {
            moved = 0;
            rc = vmm_migr_read_data(m->src, &m->data, false, &moved);
            if (rc == 0) {
                rc = sync_dirty(m, &pages);
            }
            if (rc < 0) {
                return rc;
            }
            m->st.precopy_iters++;
            m->st.precopy_bytes += moved;
            if (moved == 0 && pages == 0) {
                break;
            }
        }
    }
    rc = vmm_mig_set_state(m->src, S(STOP_COPY));
    if (rc < 0) {
        return rc;
    }
    moved = 0;
    rc = vmm_migr_read_data(m->src, &m->data, true, &moved);
    if (rc < 0) {
        return rc;
    }
    m->st.stopcopy_bytes += moved;
    /* the device is stopped: this copy is the last one */
    rc = m->logging ? sync_dirty(m, &pages) : copy_all(m, false);
    if (rc < 0) {
        return rc;
    }
    /* STOP_COPY -> STOP ends the saving session */
    rc = vmm_mig_set_state(m->src, S(STOP));
    if (rc < 0) {
        return rc;
    }
    logging_off(m);
    return 0;
}

VMM_EXPORT int
vmm_migrate(vmm_t *src, vmm_t *dst, const vmm_migr_opts_t *opts,
            vmm_migr_stats_t *stats)
{
    mig_run_t m = {.src = src, .dst = dst};
    uint64_t feat;
    int rc;

    if (stats != NULL) {
        memset(stats, 0, sizeof(*stats));
    }
    if (src == NULL || dst == NULL || src == dst) {
        return -EINVAL;
    }
    if (opts != NULL) {
        m.o = *opts;
    }
    if (m.o.max_precopy_iters == 0) {
        m.o.max_precopy_iters = VMM_MIG_DEFAULT_ITERS;
    }
    m.pg = vmm_migr_page(src);
    if (src->track_pgsize != 0) {
        return -EBUSY; /* already migrating this one */
    }
    rc = vmm_migr_check(src, S(RUNNING));
    if (rc == 0) {
        rc = vmm_migr_check(dst, S(RUNNING));
    }
    if (rc == 0) {
        rc = vmm_mig_features(src, &feat);
    }
    if (rc < 0) {
        return rc;
    }

    rc = dst_map_memory(&m);
    if (rc == 0) {
        rc = migrate_src(&m, feat);
    }
    if (rc == 0) {
        rc = dst_irqs(&m);
    }
    if (rc == 0) {
        rc = vmm_migr_resume(dst, m.data.data, m.data.len);
    }
    if (rc < 0) {
        vmm_log(src, LOG_ERR, "migration failed: %s", strerror(-rc));
        rollback(&m);
    }
    if (stats != NULL) {
        *stats = m.st;
    }
    vmm_buf_free(&m.data);
    free(m.made);
    return rc;
}
