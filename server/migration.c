/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * migration.c - migration v2 API surface: the device's callbacks, and the
 * DEVICE_FEATURE, MIG_DATA_READ and MIG_DATA_WRITE handlers.
 *
 * Scope today: requests are validated exactly as libvfio-user does and
 * answered with its errnos; the state machine itself (GET/SET of the
 * features, data transfer) is not implemented yet, so a valid feature
 * request gets ENOTSUP and the device stays RUNNING.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/migration.h"
#include "server/private.h"

struct vfu_migr {
    vfu_migration_callbacks_t cbs;
    uint32_t state; /* enum vfio_user_device_mig_state */
};

static uint64_t
max_xfer(const vfu_ctx_t *ctx)
{
    return ctx->limits.max_data_xfer_size != 0 ? ctx->limits.max_data_xfer_size
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
    if (vfu_ctx->realized) {
        vfu_log(vfu_ctx, LOG_ERR, "migration set up after realize");
        return vfu_err(-EINVAL);
    }
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
    }
    migr->cbs = *callbacks;
    migr->state = VFIO_USER_DEVICE_STATE_RUNNING;
    vfu_ctx->migr = migr;
    return 0;
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

    (void)reply;
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
    vfu_log(ctx, LOG_DEBUG, "device feature %u (%#x): not implemented yet",
            feature, ops);
    return -ENOTSUP;
}

/*
 * Common checks of MIG_DATA_READ/WRITE.  libvfio-user refuses both
 * without migration and outside the states that move data (PRE_COPY or
 * STOP_COPY to read, RESUMING to write); as the state machine cannot
 * leave RUNNING yet, a migratable device answers every one with EINVAL
 * from the state check, exactly what libvfio-user answers in RUNNING.
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

int
handle_mig_data_read(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    struct vfio_user_mig_data req;
    int rc;

    (void)reply;
    rc = check_mig_data(ctx, msg, false, &req);
    if (rc < 0) {
        return rc;
    }
    /* unreachable until the state machine exists (see above) */
    return -ENOTSUP;
}

int
handle_mig_data_write(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    struct vfio_user_mig_data req;
    int rc;

    (void)reply;
    rc = check_mig_data(ctx, msg, true, &req);
    if (rc < 0) {
        return rc;
    }
    /* unreachable until the state machine exists (see above) */
    return -ENOTSUP;
}
