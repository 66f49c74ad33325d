/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_migration.c - the server's migration v2: every one of the 8x8
 * state transitions (paths checked against a breadth-first search over
 * the spec's direct arcs), transition callback failures, DEVICE_FEATURE
 * validation, MIG_DATA_READ/WRITE in the right states only and in any
 * chunking, data the device rejects, which commands a stopped device
 * takes, reset, and DMA logging: START/STOP/REPORT validation and bitmaps
 * exact for every way a device writes guest memory.  Driven through the
 * real server pipeline on the in-process transport.
 */
#include "test_dma_util.h"

#include "server/dma.h"

#define PG 4096u
#define S(x) VFIO_USER_DEVICE_STATE_##x
#define NSTATES VFIO_USER_DEVICE_NUM_STATES
#define FHDR sizeof(struct vfio_user_device_feature)
#define MAX_PATH 16
#define MT_IO 4096

/* ------------------------------------------------------------------ */
/* A migratable device on the DMA fixture                              */
/* ------------------------------------------------------------------ */

typedef struct mt {
    fx_t fx; /* first: the fixture's callbacks find it as the private */
    /* transition callbacks seen (as VFIO_USER_DEVICE_STATE_*) */
    uint32_t path[MAX_PATH];
    size_t nr_path;
    int fail_at;     /* fail the callback after this many steps (-1) */
    int fail_errno;
    /* read_data serves out[], write_data appends to in[] */
    uint8_t out[MT_IO];
    size_t out_len, out_pos;
    uint8_t in[MT_IO];
    size_t in_len;
    int read_errno, write_errno; /* fail the callback with it */
    bool read_too_much, write_short;
    size_t nr_reads, nr_writes;
} mt_t;

static uint32_t
vfio_state(vfu_migr_state_t st)
{
    switch (st) {
    case VFU_MIGR_STATE_STOP:
        return S(STOP);
    case VFU_MIGR_STATE_RUNNING:
        return S(RUNNING);
    case VFU_MIGR_STATE_STOP_AND_COPY:
        return S(STOP_COPY);
    case VFU_MIGR_STATE_PRE_COPY:
        return S(PRE_COPY);
    case VFU_MIGR_STATE_RESUME:
        return S(RESUMING);
    }
    fail();
    return S(ERROR);
}

static int
mt_transition(vfu_ctx_t *ctx, vfu_migr_state_t st)
{
    mt_t *mt = vfu_get_private(ctx);

    if (mt->fail_at >= 0 && mt->nr_path == (size_t)mt->fail_at) {
        errno = mt->fail_errno;
        return -1;
    }
    assert_true(mt->nr_path < MAX_PATH);
    mt->path[mt->nr_path++] = vfio_state(st);
    return 0;
}

static ssize_t
mt_read_data(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
    mt_t *mt = vfu_get_private(ctx);
    size_t n = mt->out_len - mt->out_pos;

    mt->nr_reads++;
    if (mt->read_errno != 0) {
        errno = mt->read_errno;
        return -1;
    }
    if (mt->read_too_much) {
        return (ssize_t)count + 1;
    }
    if (n > count) {
        n = (size_t)count;
    }
    memcpy(buf, mt->out + mt->out_pos, n);
    mt->out_pos += n;
    return (ssize_t)n;
}

static ssize_t
mt_write_data(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
    mt_t *mt = vfu_get_private(ctx);

    mt->nr_writes++;
    if (mt->write_errno != 0) {
        errno = mt->write_errno;
        return -1;
    }
    if (count > sizeof(mt->in) - mt->in_len) {
        errno = ENOSPC;
        return -1;
    }
    memcpy(mt->in + mt->in_len, buf, (size_t)count);
    mt->in_len += (size_t)count;
    return mt->write_short && count > 0 ? (ssize_t)count - 1
                                        : (ssize_t)count;
}

static ssize_t
mt_bar0(vfu_ctx_t *ctx, char *buf, size_t count, loff_t off, bool is_write)
{
    (void)ctx;
    (void)off;
    if (!is_write) {
        memset(buf, 0x5a, count);
    }
    return (ssize_t)count;
}

static const vfu_migration_callbacks_t mt_cbs = {
    .version = VFU_MIGR_CALLBACKS_VERS,
    .transition = mt_transition,
    .read_data = mt_read_data,
    .write_data = mt_write_data,
};

/*
 * A device with DMA (unless !@dma), BAR0, INTx and, with @migr, the
 * migration callbacks; attached with the capabilities in @json.
 */
static mt_t *
mt_new_json(bool dma, bool migr, const char *json)
{
    mt_t *mt = calloc(1, sizeof(*mt));
    fx_t *fx;

    assert_non_null(mt);
    fx = &mt->fx;
    mt->fail_at = -1;
    fx->buf = malloc(FX_BUF);
    fx->mem = calloc(1, FX_MEM_SIZE);
    assert_non_null(fx->buf);
    assert_non_null(fx->mem);
    fx->ctx = vfu_create_ctx(VFU_TRANS_EXT_INPROC, NULL,
                             LIBVFIO_USER_FLAG_ATTACH_NB, mt,
                             VFU_DEV_TYPE_PCI);
    assert_non_null(fx->ctx);
    assert_int_equal(vfu_setup_log(fx->ctx, fx_log, LOG_DEBUG), 0);
    assert_int_equal(vfu_pci_init(fx->ctx, VFU_PCI_TYPE_CONVENTIONAL,
                                  PCI_HEADER_TYPE_NORMAL, 0),
                     0);
    assert_int_equal(vfu_setup_region(fx->ctx, VFU_PCI_DEV_BAR0_REGION_IDX,
                                      4096, mt_bar0, VFU_REGION_FLAG_RW,
                                      NULL, 0, -1, 0),
                     0);
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, VFU_DEV_INTX_IRQ, 1),
                     0);
    if (dma) {
        assert_int_equal(vfu_setup_device_dma(fx->ctx, 16, fx_dma_register,
                                              fx_dma_unregister),
                         0);
    }
    assert_int_equal(vfu_setup_device_reset_cb(fx->ctx, fx_reset), 0);
    if (migr) {
        assert_int_equal(vfu_setup_device_migration_callbacks(fx->ctx,
                                                              &mt_cbs),
                         0);
    }
    fx_attach_json(fx, json);
    return mt;
}

static mt_t *
mt_new(bool dma, bool migr)
{
    return mt_new_json(dma, migr, "{\"capabilities\":{\"max_msg_fds\":8}}");
}

static void
mt_free(mt_t *mt)
{
    vfu_destroy_ctx(mt->fx.ctx);
    free(mt->fx.buf);
    free(mt->fx.mem);
    free(mt);
}

/* DEVICE_FEATURE with @argsz, @flags and @len bytes of @data: errno. */
static int
feat(mt_t *mt, uint32_t argsz, uint32_t flags, const void *data, size_t len)
{
    struct vfio_user_device_feature h = {.argsz = argsz, .flags = flags};
    uint8_t body[FHDR + 256];

    assert_true(len <= sizeof(body) - FHDR);
    memcpy(body, &h, sizeof(h));
    if (len > 0) {
        memcpy(body + FHDR, data, len);
    }
    return fx_rt(&mt->fx, VFIO_USER_DEVICE_FEATURE, body, FHDR + len);
}

static int
set_state(mt_t *mt, uint32_t st)
{
    struct vfio_user_device_feature_mig_state s = {.device_state = st};

    return feat(mt, FHDR + sizeof(s),
                VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
                &s, sizeof(s));
}

static uint32_t
get_state(mt_t *mt)
{
    struct vfio_user_device_feature_mig_state s;

    assert_int_equal(feat(mt, FHDR + sizeof(s),
                          VFIO_DEVICE_FEATURE_GET |
                              VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
                          NULL, 0),
                     0);
    assert_int_equal(mt->fx.len, FHDR + sizeof(s));
    memcpy(&s, mt->fx.body + FHDR, sizeof(s));
    return s.device_state;
}

/* MIG_DATA_READ of @size (argsz as given): errno; data at fx.body + 8. */
static int
mig_read(mt_t *mt, uint32_t size, uint32_t argsz)
{
    struct vfio_user_mig_data r = {.argsz = argsz, .size = size};

    return fx_rt(&mt->fx, VFIO_USER_MIG_DATA_READ, &r, sizeof(r));
}

static int
mig_write(mt_t *mt, const void *data, uint32_t size)
{
    struct vfio_user_mig_data w = {.argsz = sizeof(w) + size, .size = size};
    uint8_t *body = malloc(sizeof(w) + size);
    int rc;

    assert_non_null(body);
    memcpy(body, &w, sizeof(w));
    memcpy(body + sizeof(w), data, size);
    rc = fx_rt(&mt->fx, VFIO_USER_MIG_DATA_WRITE, body, sizeof(w) + size);
    free(body);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The state machine                                                   */
/* ------------------------------------------------------------------ */

/* The spec's direct arcs ("Direct State Transitions"). */
static bool
direct_arc(uint32_t from, uint32_t to)
{
    switch (from) {
    case S(STOP):
        return to == S(RUNNING) || to == S(STOP_COPY) || to == S(RESUMING);
    case S(RUNNING):
        return to == S(STOP) || to == S(PRE_COPY);
    case S(STOP_COPY):
    case S(RESUMING):
        return to == S(STOP);
    case S(PRE_COPY):
        return to == S(RUNNING) || to == S(STOP_COPY);
    default:
        return false;
    }
}

static bool
saving(uint32_t st)
{
    return st == S(PRE_COPY) || st == S(STOP_COPY);
}

static bool
reachable(uint32_t st)
{
    return st == S(STOP) || st == S(RUNNING) || st == S(STOP_COPY) ||
           st == S(RESUMING) || st == S(PRE_COPY);
}

/*
 * The spec's path from @from to @to: the shortest over direct arcs with
 * no saving state inside it, and never STOP_COPY -> PRE_COPY.  Returns
 * the number of steps in @path, or -1 when the transition is refused.
 */
static int
spec_path(uint32_t from, uint32_t to, uint32_t *path)
{
    int back[NSTATES];
    uint32_t queue[NSTATES];
    size_t head = 0, tail = 0;
    uint32_t cur, n;
    int len = 0;

    if (from == S(STOP_COPY) && to == S(PRE_COPY)) {
        return -1;
    }
    if (from == to) {
        return 0;
    }
    for (n = 0; n < NSTATES; n++) {
        back[n] = -1;
    }
    back[from] = (int)from;
    queue[tail++] = from;
    while (head < tail) {
        cur = queue[head++];
        if (cur != from && saving(cur)) {
            continue; /* an end, never a step on the way */
        }
        for (n = 0; n < NSTATES; n++) {
            if (direct_arc(cur, n) && back[n] < 0) {
                back[n] = (int)cur;
                queue[tail++] = n;
            }
        }
    }
    if (back[to] < 0) {
        return -1;
    }
    for (cur = to; cur != from; cur = (uint32_t)back[cur]) {
        len++;
    }
    n = (uint32_t)len;
    for (cur = to; cur != from; cur = (uint32_t)back[cur]) {
        path[--n] = cur;
    }
    return len;
}

/* A few paths written out by hand, so the search itself is checked. */
static void
test_migr_spec_paths_known(void **state)
{
    uint32_t p[NSTATES];

    (void)state;
    assert_int_equal(spec_path(S(RUNNING), S(RESUMING), p), 2);
    assert_int_equal(p[0], S(STOP));
    assert_int_equal(p[1], S(RESUMING));
    assert_int_equal(spec_path(S(PRE_COPY), S(STOP), p), 2);
    assert_int_equal(p[0], S(RUNNING));
    assert_int_equal(spec_path(S(PRE_COPY), S(RESUMING), p), 3);
    assert_int_equal(p[0], S(RUNNING));
    assert_int_equal(p[1], S(STOP));
    assert_int_equal(spec_path(S(RESUMING), S(PRE_COPY), p), 3);
    assert_int_equal(p[2], S(PRE_COPY));
    assert_int_equal(spec_path(S(STOP_COPY), S(RUNNING), p), 2);
    assert_int_equal(spec_path(S(STOP), S(PRE_COPY), p), 2);
    assert_int_equal(spec_path(S(STOP_COPY), S(PRE_COPY), p), -1);
    assert_int_equal(spec_path(S(RUNNING), S(ERROR), p), -1);
    assert_int_equal(spec_path(S(RUNNING), S(RUNNING_P2P), p), -1);
    assert_int_equal(spec_path(S(RUNNING), S(PRE_COPY_P2P), p), -1);
}

/*
 * All 64 pairs.  Each reachable state is entered from RUNNING, then the
 * target is asked for: the callbacks must walk the spec's path and GET
 * must report the target, or the request fails with EINVAL and nothing
 * moves.  ERROR and the P2P states cannot be entered at all.
 */
static void
test_migr_transitions_all_pairs(void **state)
{
    mt_t *mt = mt_new(false, true);
    uint32_t from, to, p[NSTATES];
    int len, i, legal = 0, illegal = 0;

    (void)state;
    assert_int_equal(get_state(mt), S(RUNNING));
    for (from = 0; from < NSTATES; from++) {
        if (!reachable(from)) {
            assert_int_equal(set_state(mt, S(RUNNING)), 0);
            mt->nr_path = 0;
            assert_int_equal(set_state(mt, from), EINVAL);
            assert_int_equal(mt->nr_path, 0);
            assert_int_equal(get_state(mt), S(RUNNING));
            illegal += NSTATES;
            continue;
        }
        for (to = 0; to < NSTATES; to++) {
            assert_int_equal(set_state(mt, S(RUNNING)), 0);
            assert_int_equal(set_state(mt, from), 0);
            assert_int_equal(get_state(mt), from);
            mt->nr_path = 0;
            len = spec_path(from, to, p);
            if (len < 0) {
                assert_int_equal(set_state(mt, to), EINVAL);
                assert_int_equal(mt->nr_path, 0);
                assert_int_equal(get_state(mt), from);
                illegal++;
                continue;
            }
            assert_int_equal(set_state(mt, to), 0);
            assert_int_equal(mt->nr_path, (size_t)len);
            for (i = 0; i < len; i++) {
                assert_int_equal(mt->path[i], p[i]);
            }
            assert_int_equal(get_state(mt), to);
            /* the reply echoes the request */
            assert_int_equal(mt->fx.len, FHDR + 8);
            legal++;
        }
    }
    /* 5 reachable x 5 reachable, minus STOP_COPY -> PRE_COPY */
    assert_int_equal(legal, 24);
    assert_int_equal(illegal, 64 - 24);
    mt_free(mt);
}

/* Values outside the enum, and a state's own value (no callback). */
static void
test_migr_state_values(void **state)
{
    mt_t *mt = mt_new(false, true);

    (void)state;
    assert_int_equal(set_state(mt, NSTATES), EINVAL);
    assert_int_equal(set_state(mt, 0xabcd), EINVAL);
    assert_int_equal(set_state(mt, UINT32_MAX), EINVAL);
    assert_int_equal(set_state(mt, S(RUNNING)), 0);
    assert_int_equal(mt->nr_path, 0);
    assert_int_equal(get_state(mt), S(RUNNING));
    mt_free(mt);
}

/*
 * A callback failing on the second step of RUNNING -> STOP -> RESUMING
 * leaves the device where the first step took it, and the errno (even a
 * strange one, as libvfio-user's tests use) comes back; one failing
 * without errno gives EIO.
 */
static void
test_migr_transition_fails(void **state)
{
    mt_t *mt = mt_new(false, true);

    (void)state;
    mt->fail_at = 1;
    mt->fail_errno = 0xbeef;
    assert_int_equal(set_state(mt, S(RESUMING)), 0xbeef);
    assert_int_equal(mt->nr_path, 1);
    assert_int_equal(get_state(mt), S(STOP));
    mt->fail_at = 0;
    mt->fail_errno = 0;
    mt->nr_path = 0;
    assert_int_equal(set_state(mt, S(RUNNING)), EIO);
    assert_int_equal(get_state(mt), S(STOP));
    mt->fail_at = -1;
    assert_int_equal(set_state(mt, S(RUNNING)), 0);
    assert_int_equal(get_state(mt), S(RUNNING));
    mt_free(mt);
}

/* Reset brings any state back to RUNNING (the kernel's uAPI). */
static void
test_migr_reset_returns_running(void **state)
{
    mt_t *mt = mt_new(false, true);

    (void)state;
    assert_int_equal(set_state(mt, S(RESUMING)), 0);
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_DEVICE_RESET, NULL, 0), 0);
    assert_int_equal(mt->fx.nr_reset, 1);
    assert_int_equal(get_state(mt), S(RUNNING));
    assert_int_equal(set_state(mt, S(PRE_COPY)), 0);
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_DEVICE_RESET, NULL, 0), 0);
    assert_int_equal(get_state(mt), S(RUNNING));
    /* a stopped device does not take a reset (libvfio-user's gate) */
    assert_int_equal(set_state(mt, S(STOP)), 0);
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_DEVICE_RESET, NULL, 0), EINVAL);
    assert_int_equal(get_state(mt), S(STOP));
    mt_free(mt);
}

/* ------------------------------------------------------------------ */
/* DEVICE_FEATURE validation                                           */
/* ------------------------------------------------------------------ */

static void
test_migr_setup_callbacks(void **state)
{
    vfu_migration_callbacks_t cbs = mt_cbs;
    vfu_ctx_t *ctx;

    (void)state;
    ctx = vfu_create_ctx(VFU_TRANS_EXT_INPROC, NULL,
                         LIBVFIO_USER_FLAG_ATTACH_NB, NULL,
                         VFU_DEV_TYPE_PCI);
    assert_non_null(ctx);
    errno = 0;
    assert_int_equal(vfu_setup_device_migration_callbacks(NULL, &cbs), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_device_migration_callbacks(ctx, NULL), -1);
    cbs.version = 1;
    errno = 0;
    assert_int_equal(vfu_setup_device_migration_callbacks(ctx, &cbs), -1);
    assert_int_equal(errno, EINVAL);
    cbs = mt_cbs;
    cbs.read_data = NULL;
    assert_int_equal(vfu_setup_device_migration_callbacks(ctx, &cbs), -1);
    cbs = mt_cbs;
    assert_int_equal(vfu_setup_device_migration_callbacks(ctx, &cbs), 0);
    /* again: allowed, the state is kept */
    assert_int_equal(vfu_setup_device_migration_callbacks(ctx, &cbs), 0);
    vfu_destroy_ctx(ctx);
}

/* Without migration callbacks every feature and MIG_DATA_* is EINVAL. */
static void
test_migr_not_migratable(void **state)
{
    mt_t *mt = mt_new(true, false);
    uint8_t data[8] = {0};

    (void)state;
    assert_int_equal(feat(mt, FHDR + 8,
                          VFIO_DEVICE_FEATURE_GET |
                              VFIO_DEVICE_FEATURE_MIGRATION,
                          NULL, 0),
                     EINVAL);
    assert_int_equal(feat(mt, FHDR,
                          VFIO_DEVICE_FEATURE_PROBE |
                              VFIO_DEVICE_FEATURE_MIGRATION,
                          NULL, 0),
                     EINVAL);
    assert_int_equal(mig_read(mt, 8, 16), EINVAL);
    assert_int_equal(mig_write(mt, data, 8), EINVAL);
    mt_free(mt);
}

static void
test_migr_feature_get(void **state)
{
    mt_t *mt = mt_new(true, true);
    struct vfio_user_device_feature h;
    struct vfio_user_device_feature_migration m;

    (void)state;
    /* argsz and flags only: the data comes back, argsz says how much */
    assert_int_equal(feat(mt, 64,
                          VFIO_DEVICE_FEATURE_GET |
                              VFIO_DEVICE_FEATURE_MIGRATION,
                          NULL, 0),
                     0);
    assert_int_equal(mt->fx.len, FHDR + sizeof(m));
    memcpy(&h, mt->fx.body, sizeof(h));
    memcpy(&m, mt->fx.body + FHDR, sizeof(m));
    assert_int_equal(h.argsz, FHDR + sizeof(m));
    assert_int_equal(h.flags,
                     VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION);
    assert_int_equal(m.flags,
                     VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY);
    /* no room for the data */
    assert_int_equal(feat(mt, FHDR + sizeof(m) - 1,
                          VFIO_DEVICE_FEATURE_GET |
                              VFIO_DEVICE_FEATURE_MIGRATION,
                          NULL, 0),
                     EINVAL);
    assert_int_equal(feat(mt, FHDR,
                          VFIO_DEVICE_FEATURE_GET |
                              VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
                          NULL, 0),
                     EINVAL);
    assert_int_equal(get_state(mt), S(RUNNING));
    mt_free(mt);
}

static void
test_migr_feature_rejected(void **state)
{
    const uint32_t get = VFIO_DEVICE_FEATURE_GET;
    const uint32_t set = VFIO_DEVICE_FEATURE_SET;
    const uint32_t probe = VFIO_DEVICE_FEATURE_PROBE;
    mt_t *mt = mt_new(true, true);
    uint8_t data[64] = {0};
    struct vfio_user_device_feature_dma_logging_control ctl = {
        .page_size = PG, .num_ranges = 2};

    (void)state;
    /* SET MIG_DEVICE_STATE with no data, or half of it */
    assert_int_equal(feat(mt, FHDR + 8,
                          set | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, NULL, 0),
                     EINVAL);
    assert_int_equal(feat(mt, FHDR + 8,
                          set | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, data, 4),
                     EINVAL);
    /* DMA_LOGGING_START with no control, ranges beyond the body */
    assert_int_equal(feat(mt, FHDR + 16,
                          set | VFIO_DEVICE_FEATURE_DMA_LOGGING_START, NULL,
                          0),
                     EINVAL);
    assert_int_equal(feat(mt, FHDR + 16,
                          set | VFIO_DEVICE_FEATURE_DMA_LOGGING_START, data,
                          12),
                     EINVAL);
    assert_int_equal(feat(mt, FHDR + 32,
                          set | VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &ctl,
                          sizeof(ctl)),
                     EINVAL);
    /* REPORT with no range, or part of one */
    assert_int_equal(feat(mt, FHDR + 64,
                          get | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, NULL,
                          0),
                     EINVAL);
    assert_int_equal(feat(mt, FHDR + 64,
                          get | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, data,
                          16),
                     EINVAL);
    /* operations: none, GET and SET, unknown bits, not the feature's */
    assert_int_equal(feat(mt, FHDR + 8, VFIO_DEVICE_FEATURE_MIGRATION, NULL,
                          0),
                     EINVAL);
    assert_int_equal(feat(mt, FHDR + 8,
                          get | set | VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0),
                     EINVAL);
    assert_int_equal(feat(mt, FHDR + 8,
                          get | (1u << 19) | VFIO_DEVICE_FEATURE_MIGRATION,
                          NULL, 0),
                     EINVAL);
    assert_int_equal(feat(mt, FHDR + 8, set | VFIO_DEVICE_FEATURE_MIGRATION,
                          data, 8),
                     EINVAL);
    assert_int_equal(feat(mt, FHDR + 8,
                          get | VFIO_DEVICE_FEATURE_DMA_LOGGING_START, NULL,
                          0),
                     EINVAL);
    /* unknown features, PROBE included */
    assert_int_equal(feat(mt, FHDR + 8, get | 3, NULL, 0), EINVAL);
    assert_int_equal(feat(mt, FHDR, probe | 0, NULL, 0), EINVAL);
    assert_int_equal(feat(mt, FHDR, probe | 0xffff, NULL, 0), EINVAL);
    /* argsz below the body of a SET or PROBE (its reply is the echo) */
    assert_int_equal(feat(mt, FHDR + 7,
                          set | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, data, 8),
                     EINVAL);
    assert_int_equal(feat(mt, FHDR, probe | VFIO_DEVICE_FEATURE_MIGRATION,
                          data, 8),
                     EINVAL);
    assert_int_equal(feat(mt, 7, probe | VFIO_DEVICE_FEATURE_MIGRATION, NULL,
                          0),
                     EINVAL);
    /* nothing of that moved the device */
    assert_int_equal(get_state(mt), S(RUNNING));
    assert_int_equal(mt->nr_path, 0);
    assert_int_equal(dma_dirty_pgsize(mt->fx.ctx), 0);
    mt_free(mt);
}

static void
test_migr_feature_probe(void **state)
{
    static const struct {
        uint32_t feature, ops;
    } ok[] = {
        {VFIO_DEVICE_FEATURE_MIGRATION, 0},
        {VFIO_DEVICE_FEATURE_MIGRATION, VFIO_DEVICE_FEATURE_GET},
        {VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
         VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET},
        {VFIO_DEVICE_FEATURE_DMA_LOGGING_START, VFIO_DEVICE_FEATURE_SET},
        {VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, VFIO_DEVICE_FEATURE_SET},
        {VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, VFIO_DEVICE_FEATURE_GET},
    }, bad[] = {
        {VFIO_DEVICE_FEATURE_MIGRATION, VFIO_DEVICE_FEATURE_SET},
        {VFIO_DEVICE_FEATURE_DMA_LOGGING_START, VFIO_DEVICE_FEATURE_GET},
        {VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, VFIO_DEVICE_FEATURE_SET},
        {4, 0},
        {9, 0},
    };
    mt_t *mt = mt_new(true, true);
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint32_t flags = VFIO_DEVICE_FEATURE_PROBE | ok[i].ops | ok[i].feature;

        assert_int_equal(feat(mt, FHDR, flags, NULL, 0), 0);
        /* the reply is the request; nothing was done */
        assert_int_equal(mt->fx.len, FHDR);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t flags =
            VFIO_DEVICE_FEATURE_PROBE | bad[i].ops | bad[i].feature;

        assert_int_equal(feat(mt, FHDR, flags, NULL, 0), EINVAL);
    }
    assert_int_equal(mt->nr_path, 0);
    assert_int_equal(dma_dirty_pgsize(mt->fx.ctx), 0);
    mt_free(mt);
}

/* ------------------------------------------------------------------ */
/* Migration data                                                      */
/* ------------------------------------------------------------------ */

/* READ only in PRE_COPY and STOP_COPY, WRITE only in RESUMING. */
static void
test_migr_data_states(void **state)
{
    static const uint32_t states[] = {S(RUNNING), S(STOP), S(PRE_COPY),
                                      S(STOP_COPY), S(RESUMING)};
    mt_t *mt = mt_new(false, true);
    uint8_t data[4] = {1, 2, 3, 4};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        uint32_t st = states[i];
        bool rd = st == S(PRE_COPY) || st == S(STOP_COPY);

        assert_int_equal(set_state(mt, S(RUNNING)), 0);
        assert_int_equal(set_state(mt, st), 0);
        mt->nr_reads = mt->nr_writes = 0;
        assert_int_equal(mig_read(mt, 4, 12), rd ? 0 : EINVAL);
        assert_int_equal(mig_write(mt, data, 4),
                         st == S(RESUMING) ? 0 : EINVAL);
        /* a refused request never reaches the device */
        assert_int_equal(mt->nr_reads, rd ? 1 : 0);
        assert_int_equal(mt->nr_writes, st == S(RESUMING) ? 1 : 0);
    }
    mt_free(mt);
}

/*
 * The same 1000 bytes read in one go, then in 7-byte chunks: the stream
 * is the same, a short read says the end, then reads give 0.  Written
 * back in one chunk and in 1-byte chunks, the device gets it whole.
 */
static void
test_migr_data_chunks(void **state)
{
    mt_t *mt = mt_new_json(false, true,
                           "{\"capabilities\":{\"max_data_xfer_size\":1024}}");
    uint8_t got[1000];
    struct vfio_user_mig_data r;
    size_t i, at;

    (void)state;
    mt->out_len = sizeof(got);
    for (i = 0; i < mt->out_len; i++) {
        mt->out[i] = (uint8_t)(i * 7 + 3);
    }
    assert_int_equal(set_state(mt, S(STOP_COPY)), 0);

    /* one chunk: the reply is sized for what was asked (libvfio-user) */
    assert_int_equal(mig_read(mt, 1024, 8 + 1024), 0);
    memcpy(&r, mt->fx.body, sizeof(r));
    assert_int_equal(r.size, 1000);
    assert_int_equal(r.argsz, 8 + 1000);
    assert_int_equal(mt->fx.len, 8 + 1024);
    assert_memory_equal(mt->fx.body + 8, mt->out, 1000);
    assert_int_equal(mig_read(mt, 1024, 8 + 1024), 0);
    memcpy(&r, mt->fx.body, sizeof(r));
    assert_int_equal(r.size, 0);

    /* many chunks */
    mt->out_pos = 0;
    for (at = 0;;) {
        assert_int_equal(mig_read(mt, 7, 8 + 7), 0);
        memcpy(&r, mt->fx.body, sizeof(r));
        assert_true(r.size <= 7);
        memcpy(got + at, mt->fx.body + 8, r.size);
        at += r.size;
        if (r.size < 7) {
            break;
        }
    }
    assert_int_equal(at, 1000);
    assert_memory_equal(got, mt->out, 1000);

    /* and back in: whole, then byte by byte */
    assert_int_equal(set_state(mt, S(RESUMING)), 0);
    assert_int_equal(mig_write(mt, got, 1000), 0);
    for (i = 0; i < 1000; i++) {
        assert_int_equal(mig_write(mt, got + i, 1), 0);
    }
    assert_int_equal(mt->in_len, 2000);
    assert_memory_equal(mt->in, got, 1000);
    assert_memory_equal(mt->in + 1000, got, 1000);
    mt_free(mt);
}

static void
test_migr_data_rejected(void **state)
{
    mt_t *mt = mt_new_json(false, true,
                           "{\"capabilities\":{\"max_data_xfer_size\":64}}");
    struct vfio_user_mig_data w = {.argsz = 8 + 16, .size = 16};
    uint8_t data[128] = {0};

    (void)state;
    mt->out_len = 100;
    assert_int_equal(set_state(mt, S(PRE_COPY)), 0);
    /* over the transfer size, argsz too small for the data */
    assert_int_equal(mig_read(mt, 65, 8 + 65), EINVAL);
    assert_int_equal(mig_read(mt, 16, 8 + 15), EINVAL);
    /* a device giving more than asked, a failing device */
    mt->read_too_much = true;
    assert_int_equal(mig_read(mt, 16, 8 + 16), EINVAL);
    mt->read_too_much = false;
    mt->read_errno = 0xbeef;
    assert_int_equal(mig_read(mt, 16, 8 + 16), 0xbeef);
    mt->read_errno = 0;
    assert_int_equal(mig_read(mt, 16, 8 + 16), 0);

    assert_int_equal(set_state(mt, S(RESUMING)), 0);
    mt->nr_writes = 0;
    assert_int_equal(mig_write(mt, data, 65), EINVAL);
    /* data shorter than size says */
    memcpy(data, &w, sizeof(w));
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_MIG_DATA_WRITE, data, 8 + 8),
                     EINVAL);
    w.argsz = 8;
    memcpy(data, &w, sizeof(w));
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_MIG_DATA_WRITE, data, 8 + 16),
                     EINVAL);
    assert_int_equal(mt->nr_writes, 0);
    /* the device refuses corrupted data, or takes only part of it */
    mt->write_errno = EBADMSG;
    assert_int_equal(mig_write(mt, data, 16), EBADMSG);
    mt->write_errno = 0;
    mt->write_short = true;
    assert_int_equal(mig_write(mt, data, 16), EINVAL);
    mt->write_short = false;
    assert_int_equal(mig_write(mt, data, 16), 0);
    mt_free(mt);
}

/*
 * Stopped (STOP, STOP_COPY), the device takes region accesses (not in
 * STOP_COPY, as libvfio-user), DEVICE_FEATURE and MIG_DATA_READ only;
 * RESUMING takes everything, so the client can map memory then.
 */
static void
test_migr_stopped_commands(void **state)
{
    mt_t *mt = mt_new(true, true);
    struct vfio_user_region_access ra = {
        .offset = 0, .region = VFU_PCI_DEV_BAR0_REGION_IDX, .count = 4};
    struct vfio_user_device_info di = {.argsz = sizeof(di)};
    struct vfio_user_dma_map m = map_req(RW, 0x200000, PG, 0);
    struct vfio_user_dma_unmap um = {.argsz = sizeof(um), .addr = 0x200000,
                                     .size = PG};
    struct vfio_irq_set is = {.argsz = sizeof(is),
                              .flags = VFIO_IRQ_SET_DATA_NONE |
                                       VFIO_IRQ_SET_ACTION_TRIGGER,
                              .index = VFIO_PCI_INTX_IRQ_INDEX};

    (void)state;
    assert_int_equal(set_state(mt, S(STOP)), 0);
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_REGION_READ, &ra, sizeof(ra)),
                     0);
    assert_int_equal(mt->fx.body[sizeof(ra)], 0x5a);
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_DEVICE_GET_INFO, &di,
                           sizeof(di)),
                     EINVAL);
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_DMA_MAP, &m, sizeof(m)),
                     EINVAL);
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_DEVICE_SET_IRQS, &is,
                           sizeof(is)),
                     EINVAL);
    assert_int_equal(mig_read(mt, 4, 12), EINVAL);
    assert_int_equal(set_state(mt, S(STOP_COPY)), 0);
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_REGION_READ, &ra, sizeof(ra)),
                     EINVAL);
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_DMA_MAP, &m, sizeof(m)),
                     EINVAL);
    assert_int_equal(mig_read(mt, 4, 12), 0);
    assert_int_equal(mt->fx.nr_reg, 0);
    /* RESUMING: memory and interrupts can be set up */
    assert_int_equal(set_state(mt, S(RESUMING)), 0);
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_DMA_MAP, &m, sizeof(m)), 0);
    assert_int_equal(mt->fx.nr_reg, 1);
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_DEVICE_GET_INFO, &di,
                           sizeof(di)),
                     0);
    assert_int_equal(fx_rt(&mt->fx, VFIO_USER_DMA_UNMAP, &um, sizeof(um)),
                     0);
    mt_free(mt);
}

/* ------------------------------------------------------------------ */
/* DMA logging                                                         */
/* ------------------------------------------------------------------ */

static int
log_start(mt_t *mt, uint64_t pgsize, const uint64_t *ranges, uint32_t nr)
{
    struct vfio_user_device_feature_dma_logging_control ctl = {
        .page_size = pgsize, .num_ranges = nr};
    uint8_t data[sizeof(ctl) + 8 * 16];

    assert_true(nr <= 8);
    memcpy(data, &ctl, sizeof(ctl));
    if (nr > 0) {
        memcpy(data + sizeof(ctl), ranges, nr * 16u);
    }
    return feat(mt, FHDR + sizeof(ctl) + nr * 16u,
                VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
                data, sizeof(ctl) + nr * 16u);
}

static int
log_stop(mt_t *mt)
{
    return feat(mt, FHDR,
                VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
                NULL, 0);
}

/* REPORT over [@iova, +@len) at @pgsize with room for @bm_len bytes. */
static int
log_report(mt_t *mt, uint64_t iova, uint64_t len, uint64_t pgsize,
           uint32_t argsz)
{
    struct vfio_user_device_feature_dma_logging_report rep = {
        .iova = iova, .length = len, .page_size = pgsize};

    return feat(mt, argsz,
                VFIO_DEVICE_FEATURE_GET |
                    VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
                &rep, sizeof(rep));
}

#define REP_ARGSZ(bm) ((uint32_t)(FHDR + 24 + (bm)))

/* The 64-bit bitmap word @w of the last report. */
static uint64_t
rep_word(mt_t *mt, size_t w)
{
    uint64_t v;

    assert_true(mt->fx.len >= FHDR + 24 + (w + 1) * 8);
    memcpy(&v, mt->fx.body + FHDR + 24 + w * 8, 8);
    return v;
}

static void
test_migr_log_start_rules(void **state)
{
    mt_t *mt = mt_new(true, true);
    mt_t *nodma = mt_new(false, true);
    int fd = fx_memfd(16 * PG, 0);
    struct vfio_user_device_feature_dma_logging_control ctl;
    uint64_t r[8];

    (void)state;
    assert_int_equal(log_start(nodma, PG, NULL, 0), EINVAL);
    assert_int_equal(fx_map(&mt->fx, RW, 0x100000, 8 * PG, fd, 0), 0);
    assert_int_equal(fx_map(&mt->fx, RW, 0x108000, 8 * PG, fd, 8 * PG), 0);
    assert_int_equal(fx_map(&mt->fx, RW, 0x200000, PG, -1, 0), 0);
    /* page sizes: zero, not a power of two */
    assert_int_equal(log_start(mt, 0, NULL, 0), EINVAL);
    assert_int_equal(log_start(mt, 3 * PG, NULL, 0), EINVAL);
    /* ranges: empty, wrapping, overlapping, not mapped */
    r[0] = 0x100000, r[1] = 0;
    assert_int_equal(log_start(mt, PG, r, 1), EINVAL);
    r[0] = UINT64_MAX - PG + 1, r[1] = 2 * PG;
    assert_int_equal(log_start(mt, PG, r, 1), EINVAL);
    r[0] = 0x100000, r[1] = 4 * PG, r[2] = 0x103000, r[3] = PG;
    assert_int_equal(log_start(mt, PG, r, 2), EINVAL);
    r[0] = 0x101000, r[1] = PG, r[2] = 0x100000, r[3] = 2 * PG;
    assert_int_equal(log_start(mt, PG, r, 2), EINVAL); /* unsorted too */
    r[0] = 0x0ff000, r[1] = 2 * PG;
    assert_int_equal(log_start(mt, PG, r, 1), ENOENT);
    r[0] = 0x100000, r[1] = 0x101000;
    assert_int_equal(log_start(mt, PG, r, 1), ENOENT);
    assert_int_equal(dma_dirty_pgsize(mt->fx.ctx), 0);
    /* over two touching maps, plus the message region: fine */
    r[0] = 0x200000, r[1] = PG, r[2] = 0x100000, r[3] = 16 * PG;
    assert_int_equal(log_start(mt, PG, r, 2), 0);
    assert_int_equal(dma_dirty_pgsize(mt->fx.ctx), PG);
    /* again at the same size: idempotent; another size: refused */
    assert_int_equal(log_start(mt, PG, NULL, 0), 0);
    assert_int_equal(log_start(mt, 2 * PG, NULL, 0), EINVAL);
    assert_int_equal(log_start(mt, PG / 2, NULL, 0), EINVAL);
    assert_int_equal(log_stop(mt), 0);
    assert_int_equal(log_stop(mt), 0);
    assert_int_equal(dma_dirty_pgsize(mt->fx.ctx), 0);
    /*
     * A page below the negotiated one is raised to it, and the reply
     * says so (the spec: the page size is a hint).
     */
    assert_int_equal(log_start(mt, 512, NULL, 0), 0);
    assert_int_equal(dma_dirty_pgsize(mt->fx.ctx), PG);
    assert_int_equal(mt->fx.len, FHDR + sizeof(ctl));
    memcpy(&ctl, mt->fx.body + FHDR, sizeof(ctl));
    assert_int_equal(ctl.page_size, PG);
    assert_int_equal(log_stop(mt), 0);
    assert_int_equal(log_start(mt, 8 * PG, NULL, 0), 0);
    assert_int_equal(dma_dirty_pgsize(mt->fx.ctx), 8 * PG);
    /* the client leaving ends logging with its memory */
    vfu_ext_inproc_disconnect(mt->fx.ctx);
    assert_int_equal(vfu_run_ctx(mt->fx.ctx), -1);
    assert_int_equal(dma_dirty_pgsize(mt->fx.ctx), 0);
    mt_free(mt);
    mt_free(nodma);
    close(fd);
}

/*
 * Every way a device writes fd-backed memory lands in the log, exactly:
 * vfu_sgl_write direct and through DMA_WRITE, vfu_sgl_mark_dirty, a
 * mapped entry put back; a read-only entry or a read dirties nothing.
 */
static void
test_migr_log_bitmap_exact(void **state)
{
    mt_t *mt = mt_new(true, true);
    int fd = fx_memfd(64 * PG, 0);
    dma_sg_t *sg = sg_alloc(1);
    uint8_t data[3 * PG];
    struct iovec iov;
    const uint64_t base = FX_MEM_BASE; /* where the pump serves DMA */

    (void)state;
    memset(data, 0xa5, sizeof(data));
    assert_int_equal(fx_map(&mt->fx, RW, base, 64 * PG, fd, 0), 0);
    assert_int_equal(log_start(mt, PG, NULL, 0), 0);
    assert_int_equal(log_report(mt, base, 64 * PG, PG, REP_ARGSZ(8)), 0);
    assert_int_equal(rep_word(mt, 0), 0);

    /* pages 1-2: one direct write across the boundary */
    assert_int_equal(vfu_addr_to_sgl(mt->fx.ctx, (vfu_dma_addr_t)(base + PG +
                                                                  100),
                                     PG, sg, 1, PROT_WRITE),
                     1);
    assert_int_equal(vfu_sgl_write(mt->fx.ctx, sg, 1, data,
                                   VFU_SGL_DIRECT_ACCESS),
                     0);
    /* page 5: through a DMA_WRITE message (served by the pump) */
    assert_int_equal(vfu_addr_to_sgl(mt->fx.ctx, (vfu_dma_addr_t)(base +
                                                                  5 * PG),
                                     16, sg, 1, PROT_WRITE),
                     1);
    assert_int_equal(vfu_sgl_write(mt->fx.ctx, sg, 1, data, 0), 0);
    assert_int_equal(mt->fx.dma_writes, 1);
    /* page 9: mark_dirty; pages 20-22: a mapped entry put back */
    assert_int_equal(vfu_addr_to_sgl(mt->fx.ctx, (vfu_dma_addr_t)(base +
                                                                  9 * PG),
                                     1, sg, 1, PROT_WRITE),
                     1);
    vfu_sgl_mark_dirty(mt->fx.ctx, sg, 1);
    assert_int_equal(vfu_addr_to_sgl(mt->fx.ctx, (vfu_dma_addr_t)(base +
                                                                  20 * PG),
                                     3 * PG, sg, 1, PROT_READ | PROT_WRITE),
                     1);
    assert_int_equal(vfu_sgl_get(mt->fx.ctx, sg, &iov, 1, 0), 0);
    memset(iov.iov_base, 0x11, iov.iov_len);
    vfu_sgl_put(mt->fx.ctx, sg, &iov, 1);
    /* page 40: read-only, read, put: nothing */
    assert_int_equal(vfu_addr_to_sgl(mt->fx.ctx, (vfu_dma_addr_t)(base +
                                                                  40 * PG),
                                     PG, sg, 1, PROT_READ),
                     1);
    assert_int_equal(vfu_sgl_read(mt->fx.ctx, sg, 1, data,
                                  VFU_SGL_DIRECT_ACCESS),
                     0);
    vfu_sgl_mark_dirty(mt->fx.ctx, sg, 1);
    assert_int_equal(vfu_sgl_get(mt->fx.ctx, sg, &iov, 1, 0), 0);
    vfu_sgl_put(mt->fx.ctx, sg, &iov, 1);
    /* page 63: the last bit of the last word */
    assert_int_equal(vfu_addr_to_sgl(mt->fx.ctx, (vfu_dma_addr_t)(base +
                                                                  63 * PG +
                                                                  PG - 1),
                                     1, sg, 1, PROT_WRITE),
                     1);
    assert_int_equal(vfu_sgl_write(mt->fx.ctx, sg, 1, data,
                                   VFU_SGL_DIRECT_ACCESS),
                     0);

    assert_int_equal(log_report(mt, base, 64 * PG, PG, REP_ARGSZ(8)), 0);
    assert_int_equal(mt->fx.len, FHDR + 24 + 8);
    assert_int_equal(rep_word(mt, 0),
                     (1ull << 1) | (1ull << 2) | (1ull << 5) | (1ull << 9) |
                         (7ull << 20) | (1ull << 63));
    /* reading cleared it */
    assert_int_equal(log_report(mt, base, 64 * PG, PG, REP_ARGSZ(8)), 0);
    assert_int_equal(rep_word(mt, 0), 0);
    /* at 2-page granularity: pages 1-2 are bits 0 and 1 */
    assert_int_equal(vfu_addr_to_sgl(mt->fx.ctx, (vfu_dma_addr_t)(base + PG +
                                                                  100),
                                     PG, sg, 1, PROT_WRITE),
                     1);
    assert_int_equal(vfu_sgl_write(mt->fx.ctx, sg, 1, data,
                                   VFU_SGL_DIRECT_ACCESS),
                     0);
    assert_int_equal(log_report(mt, base, 64 * PG, 2 * PG, REP_ARGSZ(8)), 0);
    assert_int_equal(rep_word(mt, 0), 3);
    /* the data really is in guest memory */
    assert_int_equal(log_stop(mt), 0);
    free(sg);
    mt_free(mt);
    close(fd);
}

/*
 * Memory without an fd is written through DMA_WRITE messages the client
 * serves; the server has nothing to log it in, and REPORT refuses the
 * region (libvfio-user's EINVAL): the client tracks those writes.
 */
static void
test_migr_log_fdless(void **state)
{
    mt_t *mt = mt_new(true, true);
    dma_sg_t *sg = sg_alloc(1);
    uint8_t data[64];

    (void)state;
    memset(data, 0x3c, sizeof(data));
    assert_int_equal(fx_map(&mt->fx, RW, FX_MEM_BASE, 16 * PG, -1, 0), 0);
    assert_int_equal(log_start(mt, PG, NULL, 0), 0);
    assert_int_equal(vfu_addr_to_sgl(mt->fx.ctx,
                                     (vfu_dma_addr_t)(FX_MEM_BASE + 3 * PG),
                                     sizeof(data), sg, 1, PROT_WRITE),
                     1);
    assert_int_equal(vfu_sgl_write(mt->fx.ctx, sg, 1, data,
                                   VFU_SGL_DIRECT_ACCESS),
                     0);
    assert_int_equal(mt->fx.dma_writes, 1);
    assert_memory_equal(mt->fx.mem + 3 * PG, data, sizeof(data));
    assert_int_equal(log_report(mt, FX_MEM_BASE, 16 * PG, PG, REP_ARGSZ(8)),
                     EINVAL);
    free(sg);
    mt_free(mt);
}

static void
test_migr_log_report_rejected(void **state)
{
    mt_t *mt = mt_new_json(true, true,
                           "{\"capabilities\":{\"max_data_xfer_size\":4096}}");
    int fd = fx_memfd(16 * PG, 0);

    (void)state;
    assert_int_equal(fx_map(&mt->fx, RW, 0x100000, 16 * PG, fd, 0), 0);
    /* not logging */
    assert_int_equal(log_report(mt, 0x100000, 16 * PG, PG, REP_ARGSZ(8)),
                     EINVAL);
    assert_int_equal(log_start(mt, PG, NULL, 0), 0);
    assert_int_equal(log_report(mt, 0x100000, 16 * PG, PG, REP_ARGSZ(8)), 0);
    /* page sizes: zero, not a power of two, more than the range */
    assert_int_equal(log_report(mt, 0x100000, 16 * PG, 0, REP_ARGSZ(8)),
                     EINVAL);
    assert_int_equal(log_report(mt, 0x100000, 16 * PG, 3 * PG, REP_ARGSZ(8)),
                     EINVAL);
    assert_int_equal(log_report(mt, 0x100000, 16 * PG, 32 * PG, REP_ARGSZ(8)),
                     EINVAL);
    /* bitmap sizes that overflow or outgrow the transfer size */
    assert_int_equal(log_report(mt, 0, UINT64_MAX, 1, REP_ARGSZ(8)), EINVAL);
    assert_int_equal(log_report(mt, 0x100000, UINT64_MAX - 0x100000, 2,
                                REP_ARGSZ(8)),
                     EINVAL);
    assert_int_equal(log_report(mt, 0x100000, 16 * PG, 1, UINT32_MAX),
                     EINVAL);
    /* a range that wraps */
    assert_int_equal(log_report(mt, UINT64_MAX - PG + 1, 2 * PG, PG,
                                REP_ARGSZ(8)),
                     EINVAL);
    /* argsz without room for the bitmap */
    assert_int_equal(log_report(mt, 0x100000, 16 * PG, PG, REP_ARGSZ(7)),
                     EINVAL);
    /* outside the maps, not from a region's start, past its end */
    assert_int_equal(log_report(mt, 0x300000, PG, PG, REP_ARGSZ(8)), ENOENT);
    assert_int_equal(log_report(mt, 0x101000, PG, PG, REP_ARGSZ(8)), ENOTSUP);
    assert_int_equal(log_report(mt, 0x100000, 17 * PG, PG, REP_ARGSZ(8)),
                     ENOENT);
    /* from a region's start, shorter than it: fine */
    assert_int_equal(log_report(mt, 0x100000, 8 * PG, PG, REP_ARGSZ(8)), 0);
    assert_int_equal(log_stop(mt), 0);
    assert_int_equal(log_report(mt, 0x100000, 16 * PG, PG, REP_ARGSZ(8)),
                     EINVAL);
    /* the size arithmetic itself */
    assert_true(dma_bitmap_size(UINT64_MAX, 1) == (ssize_t)(1ull << 61));
    assert_int_equal(dma_bitmap_size(UINT64_MAX, 1ull << 63), 8);
    assert_int_equal(dma_bitmap_size(PG - 1, PG), -EINVAL);
    assert_int_equal(dma_bitmap_size(64 * (uint64_t)PG + 1, PG), 16);
    mt_free(mt);
    close(fd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_migr_spec_paths_known),
        T(test_migr_transitions_all_pairs),
        T(test_migr_state_values),
        T(test_migr_transition_fails),
        T(test_migr_reset_returns_running),
        T(test_migr_setup_callbacks),
        T(test_migr_not_migratable),
        T(test_migr_feature_get),
        T(test_migr_feature_rejected),
        T(test_migr_feature_probe),
        T(test_migr_data_states),
        T(test_migr_data_chunks),
        T(test_migr_data_rejected),
        T(test_migr_stopped_commands),
        T(test_migr_log_start_rules),
        T(test_migr_log_bitmap_exact),
        T(test_migr_log_fdless),
        T(test_migr_log_report_rejected),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
