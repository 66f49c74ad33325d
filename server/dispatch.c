/* SPDX-License-Identifier: BSD-3-Clause */
/* dispatch.c - receive -> validate -> quiesce gate -> handler -> reply. */

#include <errno.h>
#include <linux/pci_regs.h>
#include <stdlib.h>
#include <syslog.h>

#include "migration.h"
#include "private.h"

/*
 * One handler per client-to-server command.  VERSION is absent on purpose:
 * it is only valid as the first message, which vfu_attach_ctx() consumes.
 */
static vfu_handler_fn *const handlers[VFIO_USER_MAX] = {
    [VFIO_USER_DMA_MAP] = handle_dma_map,
    [VFIO_USER_DMA_UNMAP] = handle_dma_unmap,
    [VFIO_USER_DEVICE_GET_INFO] = handle_device_get_info,
    [VFIO_USER_DEVICE_GET_REGION_INFO] = handle_device_get_region_info,
    [VFIO_USER_DEVICE_GET_REGION_IO_FDS] = handle_device_get_region_io_fds,
    [VFIO_USER_DEVICE_GET_IRQ_INFO] = handle_device_get_irq_info,
    [VFIO_USER_DEVICE_SET_IRQS] = handle_device_set_irqs,
    [VFIO_USER_REGION_READ] = handle_region_read,
    [VFIO_USER_REGION_WRITE] = handle_region_write,
    [VFIO_USER_DEVICE_RESET] = handle_device_reset,
    [VFIO_USER_REGION_WRITE_MULTI] = handle_region_write_multi,
    [VFIO_USER_DEVICE_FEATURE] = handle_device_feature,
    [VFIO_USER_MIG_DATA_READ] = handle_mig_data_read,
    [VFIO_USER_MIG_DATA_WRITE] = handle_mig_data_write,
};

static vfu_handler_fn *
handler_for(uint16_t cmd)
{
    return cmd < VFIO_USER_MAX ? handlers[cmd] : NULL;
}

static bool
is_disconnect(int rc)
{
    return rc == -ENOTCONN || rc == -ECONNRESET || rc == -EPIPE;
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */
/* ------------------------------------------------------------------ */

int
vfu_send_reply(vfu_ctx_t *ctx, const struct vfio_user_header *req, int err,
               const vfu_reply_t *reply)
{
    struct vfio_user_header hdr;
    struct iovec iov = {0};
    size_t iovcnt = 0;
    size_t body_len = 0;
    const int *fds = NULL;
    size_t nr_fds = 0;
    int rc;

    if (err == 0 && reply != NULL) {
        if (reply->nr_fds > ctx->caps.max_msg_fds) {
            /* the client said it cannot take that many: don't truncate */
            vfu_log(ctx, LOG_ERR,
                    "msg%#hx: reply to %s needs %zu fds, client takes %u",
                    req->msg_id, proto_cmd_name(req->cmd), reply->nr_fds,
                    ctx->caps.max_msg_fds);
            err = -EINVAL;
        } else if (reply->body_len > UINT32_MAX - PROTO_HDR_SIZE) {
            vfu_log(ctx, LOG_ERR, "msg%#hx: reply to %s too large (%zu)",
                    req->msg_id, proto_cmd_name(req->cmd), reply->body_len);
            err = -EINVAL;
        } else {
            body_len = reply->body_len;
            if (body_len > 0) {
                iov.iov_base = reply->body;
                iov.iov_len = body_len;
                iovcnt = 1;
            }
            fds = reply->fds;
            nr_fds = reply->nr_fds;
        }
    }
    if (err != 0) {
        /* the spec: an error reply is the header alone */
        body_len = 0;
        iovcnt = 0;
        fds = NULL;
        nr_fds = 0;
    }
    proto_hdr_reply(&hdr, req, body_len, err);
    rc = ctx->tran->send(ctx, &hdr, iovcnt > 0 ? &iov : NULL, iovcnt, fds,
                         nr_fds);
    if (err == 0 && (rc == -EINVAL || rc == -E2BIG || rc == -ENOBUFS)) {
        /*
         * Refused before a byte went out (fds over a pipe, a reply the
         * transport cannot hold): the client still gets an answer.
         */
        vfu_log_errno(ctx, rc, "msg%#hx: cannot send the %s reply", req->msg_id,
                      proto_cmd_name(req->cmd));
        proto_hdr_reply(&hdr, req, 0, rc);
        rc = ctx->tran->send(ctx, &hdr, NULL, 0, NULL, 0);
    }
    return rc;
}

/*
 * Reply (unless the client asked for none), release the request and its
 * untaken fds.  Returns 1, or what vfu_client_gone() says when the client
 * vanished while we answered.
 */
static int
finish(vfu_ctx_t *ctx, proto_msg_t *msg, int err, vfu_reply_t *reply)
{
    struct vfio_user_header req = msg->hdr;
    size_t closed;
    int rc = 0;

    if (!(req.flags & VFIO_USER_F_NO_REPLY)) {
        rc = vfu_send_reply(ctx, &req, err, reply);
    }
    if (reply != NULL) {
        free(reply->body);
        reply->body = NULL;
    }
    closed = proto_msg_free(msg);
    if (closed > 0) {
        vfu_log(ctx, LOG_DEBUG, "msg%#hx: closed %zu unused fd(s) sent with %s",
                req.msg_id, closed, proto_cmd_name(req.cmd));
    }
    if (is_disconnect(rc)) {
        vfu_log(ctx, LOG_INFO, "msg%#hx: client gone before the reply",
                req.msg_id);
        /*
         * The message was served: with the client's state cleaned up the
         * caller returns normally and its next call says ENOTCONN, as in
         * libvfio-user; only a quiesce still under way is reported now.
         */
        rc = vfu_client_gone(ctx);
        return rc == -EBUSY ? rc : 1;
    }
    if (rc < 0) {
        vfu_log_errno(ctx, rc, "msg%#hx: failed to reply to %s", req.msg_id,
                      proto_cmd_name(req.cmd));
    }
    return 1;
}

static int
reject(vfu_ctx_t *ctx, proto_msg_t *msg, int err)
{
    return finish(ctx, msg, err, NULL);
}

static int
run_handler(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_handler_fn *fn)
{
    vfu_reply_t reply = {0};
    int rc;

    ctx->in_dispatch = true;
    rc = fn(ctx, msg, &reply);
    ctx->in_dispatch = false;
    if (rc > 0) {
        rc = 0;
    }
    if (rc < 0) {
        vfu_log_errno(ctx, rc, "msg%#hx: %s failed", msg->hdr.msg_id,
                      proto_cmd_name(msg->hdr.cmd));
        /* a failing handler's partial reply is not sent */
        free(reply.body);
        reply = (vfu_reply_t){0};
    }
    return finish(ctx, msg, rc, &reply);
}

/* ------------------------------------------------------------------ */
/* The quiesce gate                                                    */
/* ------------------------------------------------------------------ */

/* A config write that touches the PCI Express Device Control (FLR). */
static bool
write_hits_devctl(vfu_ctx_t *ctx, const proto_msg_t *msg)
{
    const struct vfio_user_region_access *ra;
    size_t pos;
    uint64_t devctl;

    if (msg->body_len < sizeof(*ra)) {
        return false;
    }
    ra = (const struct vfio_user_region_access *)msg->body;
    if (ra->region != VFU_PCI_DEV_CFG_REGION_IDX || ra->count == 0) {
        return false;
    }
    pos = vfu_pci_find_capability(ctx, false, PCI_CAP_ID_EXP);
    if (pos == 0) {
        return false;
    }
    devctl = (uint64_t)pos + PCI_EXP_DEVCTL;
    /* [offset, offset + count) overlaps the 2-byte register */
    return ra->offset < devctl + 2 && devctl < ra->offset + ra->count;
}

/*
 * Commands during which the device must not touch guest memory, as in
 * libvfio-user: mapping changes, resets (including FLR through the PCIe
 * capability) and migration state changes.
 */
static bool
needs_quiesce(vfu_ctx_t *ctx, const proto_msg_t *msg)
{
    const struct vfio_user_device_feature *feat;

    if (ctx->quiesce == NULL) {
        return false;
    }
    switch (msg->hdr.cmd) {
    case VFIO_USER_DMA_MAP:
    case VFIO_USER_DMA_UNMAP:
        return ctx->dma != NULL;
    case VFIO_USER_DEVICE_RESET:
        return true;
    case VFIO_USER_REGION_WRITE:
        return write_hits_devctl(ctx, msg);
    case VFIO_USER_DEVICE_FEATURE:
        if (msg->body_len < sizeof(*feat)) {
            return false;
        }
        feat = (const struct vfio_user_device_feature *)msg->body;
        /*
         * libvfio-user's exact test: every SET, plus anything whose
         * feature number shares a bit with MIG_DEVICE_STATE (its GET,
         * and DMA_LOGGING_START/STOP, which change dirty tracking), but
         * never a PROBE.  Kept bit for bit so devices see the same calls.
         */
        return (feat->flags & (VFIO_DEVICE_FEATURE_SET |
                               VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE)) != 0 &&
               !(feat->flags & VFIO_DEVICE_FEATURE_PROBE);
    default:
        return false;
    }
}

/*
 * A stopped device (STOP, STOP_COPY) only answers what migration needs,
 * as libvfio-user: region accesses, DEVICE_FEATURE and MIG_DATA_READ.
 */
static bool
allowed_in_migr_state(const vfu_ctx_t *ctx, uint16_t cmd)
{
    uint32_t state;

    if (!migr_enabled(ctx)) {
        return true;
    }
    state = migr_device_state(ctx);
    if (state != VFIO_USER_DEVICE_STATE_STOP &&
        state != VFIO_USER_DEVICE_STATE_STOP_COPY) {
        return true;
    }
    return cmd == VFIO_USER_REGION_READ || cmd == VFIO_USER_REGION_WRITE ||
           cmd == VFIO_USER_DEVICE_FEATURE || cmd == VFIO_USER_MIG_DATA_READ;
}

/* ------------------------------------------------------------------ */
/* The pipeline                                                        */
/* ------------------------------------------------------------------ */

static int
serve(vfu_ctx_t *ctx, proto_msg_t *msg)
{
    const struct vfio_user_header *h = &msg->hdr;
    vfu_handler_fn *fn;
    int rc;

    rc = proto_check_header(h, &ctx->recv_caps, false);
    if (rc < 0) {
        vfu_log(ctx, LOG_ERR,
                "msg%#hx: bad header (cmd %u, size %u, flags %#x): rejected",
                h->msg_id, h->cmd, h->msg_size, h->flags);
        return reject(ctx, msg, -EINVAL);
    }
    rc = proto_check_request(msg, &ctx->recv_caps, PROTO_C2S);
    if (rc == -ENOSYS) {
        /* libvfio-user answers unknown commands with EINVAL */
        vfu_log(ctx, LOG_ERR, "msg%#hx: unknown command %u: rejected",
                h->msg_id, h->cmd);
        return reject(ctx, msg, -EINVAL);
    }
    if (rc < 0) {
        vfu_log_errno(
            ctx, rc, "msg%#hx: invalid %s request (%zu bytes, %zu fds)",
            h->msg_id, proto_cmd_name(h->cmd), msg->body_len, msg->nr_fds);
        return reject(ctx, msg, rc);
    }
    if (h->cmd == VFIO_USER_VERSION) {
        vfu_log(ctx, LOG_ERR, "msg%#hx: VERSION after negotiation: rejected",
                h->msg_id);
        return reject(ctx, msg, -EINVAL);
    }
    fn = handler_for(h->cmd);
    if (fn == NULL) {
        vfu_log(ctx, LOG_ERR, "msg%#hx: %s is not served: rejected", h->msg_id,
                proto_cmd_name(h->cmd));
        return reject(ctx, msg, -EINVAL);
    }
    if (!allowed_in_migr_state(ctx, h->cmd)) {
        vfu_log(ctx, LOG_ERR,
                "msg%#hx: %s not allowed while the device is stopped",
                h->msg_id, proto_cmd_name(h->cmd));
        return reject(ctx, msg, -EINVAL);
    }

    if (needs_quiesce(ctx, msg)) {
        errno = 0;
        rc = ctx->quiesce(ctx);
        if (rc < 0 && errno == EBUSY) {
            vfu_log(ctx, LOG_DEBUG,
                    "msg%#hx: %s waits for the device to quiesce", h->msg_id,
                    proto_cmd_name(h->cmd));
            ctx->pending = *msg;
            *msg = (proto_msg_t)PROTO_MSG_INIT;
            ctx->pending_kind = VFU_PENDING_MSG;
            ctx->quiesce_pending = true;
            return -EBUSY;
        }
        if (rc < 0) {
            int err = errno != 0 ? errno : EIO;

            vfu_log_errno(ctx, err, "msg%#hx: device failed to quiesce",
                          h->msg_id);
            return reject(ctx, msg, -err);
        }
        ctx->quiesced = true;
    }
    rc = run_handler(ctx, msg, fn);
    ctx->quiesced = false;
    return rc;
}

int
vfu_dispatch_one(vfu_ctx_t *ctx, bool nonblock)
{
    proto_msg_t msg = PROTO_MSG_INIT;
    int rc;

    rc = ctx->tran->recv(ctx, &msg, nonblock);
    if (rc == -EAGAIN || rc == -EWOULDBLOCK) {
        return 0;
    }
    if (rc == -EINTR) {
        return -EINTR;
    }
    if (rc == -ENOTCONN) {
        vfu_log(ctx, LOG_INFO, "client closed the connection");
        return vfu_client_gone(ctx);
    }
    if (rc == -EBADMSG) {
        /* its boundary is known: answer it and go on, as libvfio-user */
        vfu_log(ctx, LOG_ERR, "msg%#hx: bad message size %u: rejected",
                msg.hdr.msg_id, msg.hdr.msg_size);
        return reject(ctx, &msg, -EINVAL);
    }
    if (rc < 0) {
        /*
         * A truncated message, a size the header cannot back up, too many
         * fds: the stream can no longer be trusted to be in sync, so the
         * client is dropped rather than answered.
         */
        vfu_log_errno(ctx, rc, "dropping client: unusable message");
        return vfu_client_gone(ctx);
    }
    return serve(ctx, &msg);
}

int
vfu_dispatch_pending(vfu_ctx_t *ctx, proto_msg_t *msg, int quiesce_errno)
{
    vfu_handler_fn *fn;

    if (quiesce_errno != 0) {
        vfu_log_errno(ctx, quiesce_errno, "msg%#hx: device failed to quiesce",
                      msg->hdr.msg_id);
        return reject(ctx, msg, -quiesce_errno);
    }
    fn = handler_for(msg->hdr.cmd);
    if (fn == NULL) {
        return reject(ctx, msg, -EINVAL);
    }
    return run_handler(ctx, msg, fn);
}
