/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * migration.c - migration v2: the device's callbacks, the state machine
 * (DEVICE_FEATURE MIG_DEVICE_STATE), MIG_DATA_READ / MIG_DATA_WRITE, and
 * the DMA logging features on top of dma.c's dirty bitmaps.
 *
 * Requests are validated as libvfio-user validates them and answered with
 * its errnos.  A SET of the device state walks the spec's shortest path
 * one allowed step at a time, calling the transition callback for each;
 * a failing step leaves the device in the last state it reached, and a
 * DEVICE_RESET brings it back to RUNNING (the kernel's uAPI).  Beyond
 * libvfio-user, DMA_LOGGING_START checks its ranges and takes its page
 * size as the hint the spec calls it (docs/compat.md has the list).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/dma.h"
#include "server/migration.h"
#include "server/private.h"

struct vfu_migr {
    vfu_migration_callbacks_t cbs;
    uint32_t state; /* enum vfio_user_device_mig_state */
};

/*
 * Migration data in either direction is bounded by the negotiated transfer
 * size (the smaller of both sides'), as libvfio-user bounds it by the
 * client's.
 */
static uint64_t
max_xfer(const vfu_ctx_t *ctx)
{
    return ctx->caps.max_data_xfer_size != 0 ? ctx->caps.max_data_xfer_size
                                             : PROTO_DEFAULT_MAX_DATA_XFER;
}

uint32_t
migr_device_state(const vfu_ctx_t *ctx)
{
    if (ctx == NULL || ctx->migr == NULL) {
        return VFIO_USER_DEVICE_STATE_RUNNING;
    }
    return ctx->migr->state;
}

bool
migr_enabled(const vfu_ctx_t *ctx)
{
    return ctx != NULL && ctx->migr != NULL;
}

VFU_EXPORT int
vfu_setup_device_migration_callbacks(
    vfu_ctx_t *vfu_ctx, const vfu_migration_callbacks_t *callbacks)
{
    struct vfu_migr *migr;

    if (vfu_ctx == NULL || callbacks == NULL) {
        return vfu_err(-EINVAL);
    }
    /*
     * Allowed at any time, as in libvfio-user (its tests make a device
     * migratable with a client attached): a device that becomes
     * migratable starts RUNNING, one that was keeps its state.
     */
    if (callbacks->version != VFU_MIGR_CALLBACKS_VERS) {
        vfu_log(vfu_ctx, LOG_ERR, "unsupported migration callbacks version %d",
                callbacks->version);
        return vfu_err(-EINVAL);
    }
    if (callbacks->transition == NULL || callbacks->read_data == NULL ||
        callbacks->write_data == NULL) {
        vfu_log(vfu_ctx, LOG_ERR, "every migration callback is required");
        return vfu_err(-EINVAL);
    }

    migr = vfu_ctx->migr;
    if (migr == NULL) {
        migr = calloc(1, sizeof(*migr));
        if (migr == NULL) {
            return vfu_err(-ENOMEM);
        }
        migr->state = VFIO_USER_DEVICE_STATE_RUNNING;
    }
    migr->cbs = *callbacks;
    vfu_ctx->migr = migr;
    return 0;
}

/*
 * DEVICE_RESET: the kernel's uAPI has a reset return the device to
 * RUNNING (the way out of ERROR, and how a RESUMING session is aborted).
 * The device's reset callback has reset the device itself; no transition
 * callback is made (libvfio-user keeps the state instead).
 */
void
migr_reset(vfu_ctx_t *ctx)
{
    if (ctx->migr != NULL &&
        ctx->migr->state != VFIO_USER_DEVICE_STATE_RUNNING) {
        vfu_log(ctx, LOG_DEBUG, "migration: state %u -> %u by reset",
                ctx->migr->state, VFIO_USER_DEVICE_STATE_RUNNING);
        ctx->migr->state = VFIO_USER_DEVICE_STATE_RUNNING;
    }
}

void
migr_free(vfu_ctx_t *ctx)
{
    if (ctx == NULL) {
        return;
    }
    free(ctx->migr);
    ctx->migr = NULL;
}

/* Operations (GET/SET/PROBE) libvfio-user allows on each feature. */
static uint32_t
feature_ops(uint32_t feature)
{
    switch (feature) {
    case VFIO_DEVICE_FEATURE_MIGRATION:
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
        return VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_PROBE;
    case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
        return VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET |
               VFIO_DEVICE_FEATURE_PROBE;
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
        return VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE;
    default:
        return 0;
    }
}

/*
 * Sizes: SET and PROBE replies echo the request, so argsz must cover the
 * body; a GET reply carries the feature's data after the header; a SET
 * must carry the data its feature needs.
 */
static bool
feature_sizes_ok(uint32_t feature, uint32_t ops,
                 const struct vfio_user_device_feature *req,
                 const uint8_t *body, size_t body_len)
{
    const size_t hdr = sizeof(*req);
    struct vfio_user_device_feature_dma_logging_control ctl;
    uint64_t need;

    if (ops & VFIO_DEVICE_FEATURE_PROBE) {
        return req->argsz >= body_len;
    }
    if (ops == VFIO_DEVICE_FEATURE_GET) {
        switch (feature) {
        case VFIO_DEVICE_FEATURE_MIGRATION:
            return req->argsz >=
                   hdr + sizeof(struct vfio_user_device_feature_migration);
        case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
            return req->argsz >=
                   hdr + sizeof(struct vfio_user_device_feature_mig_state);
        default: /* DMA_LOGGING_REPORT: the bitmap comes on top */
            need = hdr +
                   sizeof(struct vfio_user_device_feature_dma_logging_report);
            return body_len >= need && req->argsz >= need;
        }
    }
    /* SET */
    if (req->argsz < body_len) {
        return false;
    }
    switch (feature) {
    case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
        return body_len >=
               hdr + sizeof(struct vfio_user_device_feature_mig_state);
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
        if (body_len < hdr + sizeof(ctl)) {
            return false;
        }
        memcpy(&ctl, body + hdr, sizeof(ctl));
        need = hdr + sizeof(ctl) +
               (uint64_t)ctl.num_ranges * sizeof(ctl.ranges[0]);
        return body_len >= need;
    default: /* DMA_LOGGING_STOP has no data */
        return true;
    }
}

/* ------------------------------------------------------------------ */
/* The state machine                                                   */
/* ------------------------------------------------------------------ */

#define S(x) VFIO_USER_DEVICE_STATE_##x

/*
 * The spec's shortest paths: next[from][to] is the first step from @from
 * towards @to, ERROR where no path is allowed (to or from ERROR, the P2P
 * states, STOP_COPY to PRE_COPY).  Every step is a transition the spec
 * allows directly.
 */
static const uint8_t next_step[VFIO_USER_DEVICE_NUM_STATES]
                              [VFIO_USER_DEVICE_NUM_STATES] = {
    [S(STOP)] = {[S(STOP)] = S(STOP), [S(RUNNING)] = S(RUNNING),
                 [S(STOP_COPY)] = S(STOP_COPY), [S(RESUMING)] = S(RESUMING),
                 [S(PRE_COPY)] = S(RUNNING)},
    [S(RUNNING)] = {[S(STOP)] = S(STOP), [S(RUNNING)] = S(RUNNING),
                    [S(STOP_COPY)] = S(STOP), [S(RESUMING)] = S(STOP),
                    [S(PRE_COPY)] = S(PRE_COPY)},
    [S(STOP_COPY)] = {[S(STOP)] = S(STOP), [S(RUNNING)] = S(STOP),
                      [S(STOP_COPY)] = S(STOP_COPY),
                      [S(RESUMING)] = S(STOP)},
    [S(RESUMING)] = {[S(STOP)] = S(STOP), [S(RUNNING)] = S(STOP),
                     [S(STOP_COPY)] = S(STOP), [S(RESUMING)] = S(RESUMING),
                     [S(PRE_COPY)] = S(STOP)},
    [S(PRE_COPY)] = {[S(STOP)] = S(RUNNING), [S(RUNNING)] = S(RUNNING),
                     [S(STOP_COPY)] = S(STOP_COPY),
                     [S(RESUMING)] = S(RUNNING), [S(PRE_COPY)] = S(PRE_COPY)},
};

static vfu_migr_state_t
to_vfu_state(uint32_t state)
{
    switch (state) {
    case S(STOP):
        return VFU_MIGR_STATE_STOP;
    case S(STOP_COPY):
        return VFU_MIGR_STATE_STOP_AND_COPY;
    case S(RESUMING):
        return VFU_MIGR_STATE_RESUME;
    case S(PRE_COPY):
        return VFU_MIGR_STATE_PRE_COPY;
    default:
        return VFU_MIGR_STATE_RUNNING;
    }
}

static int
set_state(vfu_ctx_t *ctx, uint32_t target)
{
    struct vfu_migr *migr = ctx->migr;

    if (target >= VFIO_USER_DEVICE_NUM_STATES) {
        vfu_log(ctx, LOG_ERR, "migration: no state %u", target);
        return -EINVAL;
    }
    while (migr->state != target) {
        uint32_t step = next_step[migr->state][target];

        if (step == S(ERROR)) {
            vfu_log(ctx, LOG_ERR, "migration: no way from state %u to %u",
                    migr->state, target);
            return -EINVAL;
        }
        errno = 0;
        if (migr->cbs.transition(ctx, to_vfu_state(step)) < 0) {
            int err = errno != 0 ? errno : EIO;

            vfu_log_errno(ctx, err, "migration: transition to state %u "
                          "failed", step);
            return -err;
        }
        vfu_log(ctx, LOG_DEBUG, "migration: state %u -> %u", migr->state,
                step);
        migr->state = step;
    }
    return 0;
}

#undef S

/* GET: the feature's data after the request's header. */
static int
feature_get(vfu_ctx_t *ctx, const proto_msg_t *msg,
            const struct vfio_user_device_feature *req, uint32_t feature,
            vfu_reply_t *reply)
{
    const size_t hdr = sizeof(*req);
    struct vfio_user_device_feature_dma_logging_report rep;
    struct vfio_user_device_feature res = *req;
    ssize_t bm_len = 0;
    size_t len;
    uint8_t *out;
    int rc;

    switch (feature) {
    case VFIO_DEVICE_FEATURE_MIGRATION:
    case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
        len = hdr + 8;
        break;
    default: /* DMA_LOGGING_REPORT, sizes checked by feature_sizes_ok */
        memcpy(&rep, msg->body + hdr, sizeof(rep));
        bm_len = dma_bitmap_size(rep.length, rep.page_size);
        if (ctx->dma == NULL || bm_len < 0 ||
            (uint64_t)bm_len > ctx->limits.max_data_xfer_size) {
            vfu_log(ctx, LOG_ERR, "dirty report of %#llx bytes at %#llx-byte "
                    "pages refused", (unsigned long long)rep.length,
                    (unsigned long long)rep.page_size);
            return -EINVAL;
        }
        len = hdr + sizeof(rep) + (size_t)bm_len;
        break;
    }
    if (req->argsz < len) {
        vfu_log(ctx, LOG_DEBUG, "device feature %u: argsz %u < %zu", feature,
                req->argsz, len);
        return -EINVAL;
    }
    out = calloc(1, len);
    if (out == NULL) {
        return -ENOMEM;
    }
    res.argsz = (uint32_t)len;
    memcpy(out, &res, hdr);
    switch (feature) {
    case VFIO_DEVICE_FEATURE_MIGRATION: {
        struct vfio_user_device_feature_migration mig = {
            .flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY};

        memcpy(out + hdr, &mig, sizeof(mig));
        break;
    }
    case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE: {
        struct vfio_user_device_feature_mig_state st = {
            .device_state = ctx->migr->state};

        memcpy(out + hdr, &st, sizeof(st));
        break;
    }
    default:
        memcpy(out + hdr, &rep, sizeof(rep));
        rc = dma_dirty_get(ctx, rep.iova, rep.length, rep.page_size,
                           out + hdr + sizeof(rep), (size_t)bm_len);
        if (rc < 0) {
            free(out);
            return rc;
        }
        break;
    }
    reply->body = out;
    reply->body_len = len;
    return 0;
}

/* qsort: ranges by start address */
static int
range_cmp(const void *a, const void *b)
{
    const struct vfio_user_device_feature_dma_logging_range *x = a, *y = b;

    return x->iova < y->iova ? -1 : x->iova > y->iova;
}

/*
 * DMA_LOGGING_START's ranges: each non-empty, not wrapping, not
 * overlapping another (the kernel's rules), and inside mapped DMA regions
 * (a range over unmapped space names nothing the device could write).
 * Logging then covers all of guest memory, which the spec allows ("can
 * optimize its logging to cover only the IOVA range given").
 */
static int
check_log_ranges(vfu_ctx_t *ctx, const uint8_t *data, uint32_t nr)
{
    struct vfio_user_device_feature_dma_logging_range *rs;
    uint64_t last;
    uint32_t i;
    int rc = 0;

    if (nr == 0) {
        return 0;
    }
    rs = malloc((size_t)nr * sizeof(*rs)); /* bounded by the message */
    if (rs == NULL) {
        return -ENOMEM;
    }
    memcpy(rs, data, (size_t)nr * sizeof(*rs));
    for (i = 0; i < nr && rc == 0; i++) {
        if (rs[i].length == 0 ||
            __builtin_add_overflow(rs[i].iova, rs[i].length - 1, &last)) {
            vfu_log(ctx, LOG_ERR, "dirty logging: bad range %#llx+%#llx",
                    (unsigned long long)rs[i].iova,
                    (unsigned long long)rs[i].length);
            rc = -EINVAL;
        } else if (!dma_range_mapped(ctx->dma, rs[i].iova, rs[i].length)) {
            vfu_log(ctx, LOG_ERR, "dirty logging: range %#llx+%#llx is not "
                    "mapped", (unsigned long long)rs[i].iova,
                    (unsigned long long)rs[i].length);
            rc = -ENOENT;
        }
    }
    if (rc == 0) {
        qsort(rs, nr, sizeof(*rs), range_cmp);
        for (i = 1; i < nr; i++) {
            if (rs[i].iova - rs[i - 1].iova < rs[i - 1].length) {
                vfu_log(ctx, LOG_ERR, "dirty logging: ranges overlap at "
                        "%#llx", (unsigned long long)rs[i].iova);
                rc = -EINVAL;
                break;
            }
        }
    }
    free(rs);
    return rc;
}

/*
 * DMA_LOGGING_START.  The page size is a hint (the spec): one below the
 * smallest negotiated page size is raised to it, and the reply (@echo)
 * says which size was taken.  Once logging, only the page size in use is
 * accepted again (libvfio-user), so a second START is idempotent.
 */
static int
log_start(vfu_ctx_t *ctx, const proto_msg_t *msg, uint8_t *echo)
{
    const size_t hdr = sizeof(struct vfio_user_device_feature);
    struct vfio_user_device_feature_dma_logging_control ctl;
    uint64_t min_pg = ctx->caps.pgsizes & -ctx->caps.pgsizes;
    uint64_t pgsize;
    int rc;

    if (ctx->dma == NULL) {
        vfu_log(ctx, LOG_ERR, "dirty logging: the device does no DMA");
        return -EINVAL;
    }
    memcpy(&ctl, msg->body + hdr, sizeof(ctl));
    pgsize = ctl.page_size;
    if (pgsize == 0 || (pgsize & (pgsize - 1)) != 0 || pgsize > SIZE_MAX) {
        vfu_log(ctx, LOG_ERR, "dirty logging: bad page size %#llx",
                (unsigned long long)pgsize);
        return -EINVAL;
    }
    rc = check_log_ranges(ctx, msg->body + hdr + sizeof(ctl),
                          ctl.num_ranges);
    if (rc < 0) {
        return rc;
    }
    if (min_pg == 0) {
        min_pg = PROTO_DEFAULT_PGSIZES;
    }
    if (dma_dirty_pgsize(ctx) == 0 && pgsize < min_pg) {
        vfu_log(ctx, LOG_DEBUG, "dirty logging: page size %#llx raised to "
                "%#llx", (unsigned long long)pgsize,
                (unsigned long long)min_pg);
        pgsize = min_pg;
    }
    rc = dma_dirty_start(ctx, (size_t)pgsize);
    if (rc < 0) {
        vfu_log(ctx, LOG_ERR, "dirty logging: cannot log at %#llx-byte pages "
                "(logging at %#zx)", (unsigned long long)pgsize,
                dma_dirty_pgsize(ctx));
        return rc;
    }
    ctl.page_size = pgsize;
    memcpy(echo + hdr, &ctl, sizeof(ctl));
    return 0;
}

/* SET; @echo is the reply (a copy of the request) the handler may adjust. */
static int
feature_set(vfu_ctx_t *ctx, const proto_msg_t *msg, uint32_t feature,
            uint8_t *echo)
{
    const size_t hdr = sizeof(struct vfio_user_device_feature);
    struct vfio_user_device_feature_mig_state st;

    switch (feature) {
    case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
        memcpy(&st, msg->body + hdr, sizeof(st));
        return set_state(ctx, st.device_state);
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
        return log_start(ctx, msg, echo);
    default: /* DMA_LOGGING_STOP */
        if (ctx->dma == NULL) {
            return -EINVAL;
        }
        dma_dirty_stop(ctx);
        return 0;
    }
}

/*
 * Every feature needs a migratable device, so without migration callbacks
 * each request is EINVAL, as are unknown features (PROBE included),
 * operations a feature does not have, and requests naming no operation or
 * both GET and SET without PROBE.
 */
int
handle_device_feature(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    struct vfio_user_device_feature req;
    uint32_t feature, ops, allowed;
    uint8_t *echo;

    if (msg->body_len < sizeof(req)) {
        return -EINVAL;
    }
    memcpy(&req, msg->body, sizeof(req));
    feature = req.flags & VFIO_DEVICE_FEATURE_MASK;
    ops = req.flags & ~(uint32_t)VFIO_DEVICE_FEATURE_MASK;

    if (ctx->migr == NULL) {
        vfu_log(ctx, LOG_DEBUG, "device feature %u: not migratable", feature);
        return -EINVAL;
    }
    allowed = feature_ops(feature);
    if (allowed == 0 || (ops & ~allowed) != 0) {
        vfu_log(ctx, LOG_DEBUG, "device feature %u: operations %#x not "
                "supported", feature, ops);
        return -EINVAL;
    }
    if (ops != VFIO_DEVICE_FEATURE_GET && ops != VFIO_DEVICE_FEATURE_SET &&
        !(ops & VFIO_DEVICE_FEATURE_PROBE)) {
        vfu_log(ctx, LOG_DEBUG, "device feature %u: no single operation",
                feature);
        return -EINVAL;
    }
    if (!feature_sizes_ok(feature, ops, &req, msg->body, msg->body_len)) {
        vfu_log(ctx, LOG_DEBUG, "device feature %u: argsz %u or size %zu "
                "too small", feature, req.argsz, msg->body_len);
        return -EINVAL;
    }
    if (ops == VFIO_DEVICE_FEATURE_GET) {
        return feature_get(ctx, msg, &req, feature, reply);
    }
    /* SET and PROBE: the reply echoes the request */
    echo = malloc(msg->body_len);
    if (echo == NULL) {
        return -ENOMEM;
    }
    memcpy(echo, msg->body, msg->body_len);
    if (ops == VFIO_DEVICE_FEATURE_SET) {
        int rc = feature_set(ctx, msg, feature, echo);

        if (rc < 0) {
            free(echo);
            return rc;
        }
    }
    reply->body = echo;
    reply->body_len = msg->body_len;
    return 0;
}

/*
 * Common checks of MIG_DATA_READ/WRITE.  libvfio-user refuses both
 * without migration and outside the states that move data (PRE_COPY or
 * STOP_COPY to read, RESUMING to write).
 */
static int
check_mig_data(vfu_ctx_t *ctx, const proto_msg_t *msg, bool is_write,
               struct vfio_user_mig_data *req)
{
    uint64_t need;
    uint32_t state;

    if (msg->body_len < sizeof(*req)) {
        return -EINVAL;
    }
    memcpy(req, msg->body, sizeof(*req));
    if (ctx->migr == NULL) {
        vfu_log(ctx, LOG_DEBUG, "migration data: not migratable");
        return -EINVAL;
    }
    state = ctx->migr->state;
    if (is_write ? state != VFIO_USER_DEVICE_STATE_RESUMING
                 : (state != VFIO_USER_DEVICE_STATE_PRE_COPY &&
                    state != VFIO_USER_DEVICE_STATE_STOP_COPY)) {
        vfu_log(ctx, LOG_DEBUG, "migration data %s in state %u",
                is_write ? "write" : "read", state);
        return -EINVAL;
    }
    need = sizeof(*req) + (uint64_t)req->size;
    if (req->size > max_xfer(ctx) || req->argsz < need ||
        (is_write && msg->body_len < need)) {
        vfu_log(ctx, LOG_DEBUG, "migration data: size %u argsz %u body %zu",
                req->size, req->argsz, msg->body_len);
        return -EINVAL;
    }
    return 0;
}

/*
 * The reply is sized for what was asked, as libvfio-user's, with size and
 * argsz saying how much the device produced (0: no more data).
 */
int
handle_mig_data_read(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    struct vfio_user_mig_data req, res;
    uint8_t *out;
    ssize_t n;
    int rc;

    rc = check_mig_data(ctx, msg, false, &req);
    if (rc < 0) {
        return rc;
    }
    out = calloc(1, sizeof(res) + req.size);
    if (out == NULL) {
        return -ENOMEM;
    }
    errno = 0;
    n = ctx->migr->cbs.read_data(ctx, out + sizeof(res), req.size);
    if (n < 0 || (uint64_t)n > req.size) {
        int err = n < 0 && errno != 0 ? errno : EINVAL;

        vfu_log_errno(ctx, err, "migration: read_data callback");
        free(out);
        return -err;
    }
    res.size = (uint32_t)n;
    res.argsz = (uint32_t)(sizeof(res) + (size_t)n);
    memcpy(out, &res, sizeof(res));
    reply->body = out;
    reply->body_len = sizeof(res) + req.size;
    return 0;
}

/* The device must take all of it: a partial write is EINVAL. */
int
handle_mig_data_write(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    struct vfio_user_mig_data req;
    ssize_t n;
    int rc;

    (void)reply;
    rc = check_mig_data(ctx, msg, true, &req);
    if (rc < 0) {
        return rc;
    }
    errno = 0;
    n = ctx->migr->cbs.write_data(ctx, msg->body + sizeof(req), req.size);
    if (n < 0) {
        int err = errno != 0 ? errno : EIO;

        vfu_log_errno(ctx, err, "migration: write_data callback");
        return -err;
    }
    if ((uint64_t)n != req.size) {
        vfu_log(ctx, LOG_ERR, "migration: partial write of %zd of %u bytes",
                n, req.size);
        return -EINVAL;
    }
    return 0;
}
