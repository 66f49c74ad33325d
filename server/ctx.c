/* SPDX-License-Identifier: BSD-3-Clause */
/* ctx.c - context lifecycle, logging, tracing, attach and the run loop. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "dma.h"
#include "irq.h"
#include "pci.h"
#include "private.h"

/* A log line longer than this is truncated, never overflowed. */
#define VFU_LOG_LINE 1024

/* Longest wire-trace line printed to stderr. */
#define VFU_TRACE_LINE 512

/* Upper bound of vfu_ext_limits_t.timeout_ms: one hour. */
#define VFU_MAX_TIMEOUT_MS (3600u * 1000u)

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */

static void log_va(vfu_ctx_t *ctx, int level, int err, const char *fmt,
                   va_list ap) __attribute__((format(printf, 4, 0)));

/*
 * Format into a bounded buffer and hand the line to the device.  errno is
 * preserved because callers log on error paths and then return -1/errno.
 */
static void
log_va(vfu_ctx_t *ctx, int level, int err, const char *fmt, va_list ap)
{
    char buf[VFU_LOG_LINE];
    int saved_errno = errno;
    int n;

    if (ctx == NULL || ctx->log == NULL || level > ctx->log_level ||
        fmt == NULL) {
        return;
    }
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    if (n < 0) {
        snprintf(buf, sizeof(buf), "(unformattable log message)");
        n = 0;
    }
    if (err != 0 && (size_t)n < sizeof(buf)) {
        snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s",
                 strerror(err < 0 ? -err : err));
    }
    ctx->log(ctx, level, buf);
    errno = saved_errno;
}

VFU_EXPORT void
vfu_log(vfu_ctx_t *vfu_ctx, int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_va(vfu_ctx, level, 0, fmt, ap);
    va_end(ap);
}

void
vfu_log_errno(vfu_ctx_t *ctx, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_va(ctx, LOG_ERR, err, fmt, ap);
    va_end(ap);
}

VFU_EXPORT int
vfu_setup_log(vfu_ctx_t *vfu_ctx, vfu_log_fn_t *log, int level)
{
    if (vfu_ctx == NULL || level < LOG_EMERG || level > LOG_DEBUG) {
        return vfu_err(-EINVAL);
    }
    vfu_ctx->log = log;
    vfu_ctx->log_level = level;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Wire tracing                                                        */
/* ------------------------------------------------------------------ */

void
vfu_trace_msg(vfu_ctx_t *ctx, bool outgoing, const struct vfio_user_header *hdr,
              const struct iovec *iov, size_t iovcnt, size_t nr_fds)
{
    const void *body = NULL;
    uint8_t *flat = NULL;
    size_t len = 0;
    size_t i;

    if (ctx == NULL || (ctx->trace_cb == NULL && !ctx->trace_stderr)) {
        return;
    }
    for (i = 0; i < iovcnt; i++) {
        if (__builtin_add_overflow(len, iov[i].iov_len, &len)) {
            return;
        }
    }
    if (iovcnt == 1) {
        body = iov[0].iov_base;
    } else if (len > 0) {
        /* the hook takes one buffer: flatten header-split bodies */
        size_t off = 0;

        flat = malloc(len);
        if (flat == NULL) {
            /* tracing is best effort: show the first piece only */
            body = iov[0].iov_base;
            len = iov[0].iov_len;
        } else {
            for (i = 0; i < iovcnt; i++) {
                if (iov[i].iov_len > 0) {
                    memcpy(flat + off, iov[i].iov_base, iov[i].iov_len);
                    off += iov[i].iov_len;
                }
            }
            body = flat;
        }
    }
    if (len == 0) {
        body = NULL;
    }

    if (ctx->trace_stderr) {
        char line[VFU_TRACE_LINE];

        proto_trace_format(line, sizeof(line), outgoing ? "server" : "client",
                           hdr, body, len, nr_fds);
        fprintf(stderr, "vfu: %s\n", line);
    }
    if (ctx->trace_cb != NULL) {
        ctx->trace_cb(ctx->trace_arg, outgoing, hdr, body, len, nr_fds);
    }
    free(flat);
}

VFU_EXPORT void
vfu_ext_set_tracer(vfu_ctx_t *vfu_ctx, vfu_ext_trace_cb_t *cb, void *arg)
{
    if (vfu_ctx == NULL) {
        return;
    }
    vfu_ctx->trace_cb = cb;
    vfu_ctx->trace_arg = cb != NULL ? arg : NULL;
}

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

/*
 * Caps describing what we accept from the client: the negotiated caps
 * (or the spec's defaults before negotiation) with our own fd and
 * transfer limits, which are what our VERSION reply promised.  Like
 * libvfio-user we accept transfers up to our own limit even when the
 * client announced a smaller one for what it receives.
 */
static void
update_recv_caps(vfu_ctx_t *ctx)
{
    ctx->recv_caps = ctx->caps;
    ctx->recv_caps.max_msg_fds = ctx->limits.max_msg_fds;
    ctx->recv_caps.max_data_xfer_size = ctx->limits.max_data_xfer_size;
}

/* Back to "no client": spec defaults for everything the client decides. */
static void
reset_caps(vfu_ctx_t *ctx)
{
    proto_caps_default(&ctx->caps);
    update_recv_caps(ctx);
}

uint64_t
vfu_max_request(const vfu_ctx_t *ctx)
{
    uint64_t body = sizeof(struct vfio_user_region_access) +
                    ctx->limits.max_data_xfer_size;
    uint64_t version = sizeof(struct vfio_user_version) + PROTO_MAX_JSON;
    uint64_t multi = sizeof(struct vfio_user_write_multi) +
                     (uint64_t)PROTO_WRITE_MULTI_MAX *
                         sizeof(struct vfio_user_write_multi_data);

    if (body < version) {
        body = version;
    }
    if (body < multi) {
        body = multi;
    }
    return PROTO_HDR_SIZE + body;
}

uint32_t
vfu_timeout_ms(const vfu_ctx_t *ctx)
{
    return ctx->limits.timeout_ms != 0 ? ctx->limits.timeout_ms
                                       : VFU_DEFAULT_TIMEOUT_MS;
}

static void
default_limits(vfu_ext_limits_t *l)
{
    l->max_msg_fds = VFU_DEFAULT_MAX_MSG_FDS;
    l->max_data_xfer_size = PROTO_DEFAULT_MAX_DATA_XFER;
    /* 0: whatever vfu_setup_device_dma() allows (dma.c enforces it) */
    l->max_dma_maps = 0;
    l->pgsizes = PROTO_DEFAULT_PGSIZES;
    l->timeout_ms = VFU_DEFAULT_TIMEOUT_MS;
}

VFU_EXPORT int
vfu_ext_set_limits(vfu_ctx_t *vfu_ctx, const vfu_ext_limits_t *limits)
{
    vfu_ext_limits_t l;

    if (vfu_ctx == NULL || limits == NULL) {
        return vfu_err(-EINVAL);
    }
    if (vfu_ctx->realized) {
        return vfu_err(-EBUSY);
    }
    default_limits(&l);
    if (limits->max_msg_fds != 0) {
        if (limits->max_msg_fds > PROTO_MAX_MSG_FDS_CEIL) {
            return vfu_err(-EINVAL);
        }
        l.max_msg_fds = limits->max_msg_fds;
    }
    if (limits->max_data_xfer_size != 0) {
        if (limits->max_data_xfer_size > PROTO_MAX_DATA_XFER_CEIL) {
            return vfu_err(-EINVAL);
        }
        l.max_data_xfer_size = limits->max_data_xfer_size;
    }
    if (limits->max_dma_maps != 0) {
        if (limits->max_dma_maps > PROTO_MAX_DMA_MAPS_CEIL) {
            return vfu_err(-EINVAL);
        }
        l.max_dma_maps = limits->max_dma_maps;
    }
    if (limits->pgsizes != 0) {
        /* a bitmap of page sizes, none below 4 KiB */
        if ((limits->pgsizes & (PROTO_DEFAULT_PGSIZES - 1)) != 0) {
            return vfu_err(-EINVAL);
        }
        l.pgsizes = limits->pgsizes;
    }
    if (limits->timeout_ms != 0) {
        if (limits->timeout_ms > VFU_MAX_TIMEOUT_MS) {
            return vfu_err(-EINVAL);
        }
        l.timeout_ms = limits->timeout_ms;
    }
    vfu_ctx->limits = l;
    update_recv_caps(vfu_ctx);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

VFU_EXPORT vfu_ctx_t *
vfu_create_ctx(vfu_trans_t trans, const char *path, int flags, void *pvt,
               vfu_dev_type_t dev_type)
{
    const struct tran_ops *ops;
    vfu_ctx_t *ctx;
    int err;
    size_t i;

    if ((flags & ~LIBVFIO_USER_FLAG_ATTACH_NB) != 0) {
        errno = EINVAL;
        return NULL;
    }
    switch (trans) {
    case VFU_TRANS_SOCK:
        ops = &vfu_tran_sock_ops;
        break;
    case VFU_TRANS_PIPE:
        ops = &vfu_tran_pipe_ops;
        break;
    case VFU_TRANS_EXT_INPROC:
        ops = &vfu_tran_inproc_ops;
        break;
    default:
        errno = ENOTSUP;
        return NULL;
    }
    if (dev_type != VFU_DEV_TYPE_PCI) {
        errno = ENOTSUP;
        return NULL;
    }
    if (trans == VFU_TRANS_SOCK && path == NULL) {
        errno = EINVAL;
        return NULL;
    }

    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return NULL;
    }
    ctx->trans = trans;
    ctx->tran = ops;
    ctx->flags = flags;
    ctx->pvt = pvt;
    ctx->dev_type = dev_type;
    ctx->log_level = LOG_ERR;
    ctx->trace_stderr = proto_trace_enabled();
    ctx->pending = (proto_msg_t)PROTO_MSG_INIT;
    ctx->pending_kind = VFU_PENDING_NONE;
    ctx->twin_peer_fd = -1;
    default_limits(&ctx->limits);
    reset_caps(ctx);
    for (i = 0; i < VFU_PCI_DEV_NUM_REGIONS; i++) {
        ctx->regions[i].fd = -1;
    }
    if (path != NULL) {
        ctx->path = strdup(path);
        if (ctx->path == NULL) {
            err = ENOMEM;
            goto fail;
        }
    }

    /* libvfio-user devices always have one ERR and one REQ interrupt */
    if (vfu_setup_device_nr_irqs(ctx, VFU_DEV_ERR_IRQ, 1) < 0 ||
        vfu_setup_device_nr_irqs(ctx, VFU_DEV_REQ_IRQ, 1) < 0) {
        err = errno != 0 ? errno : ENOMEM;
        goto fail;
    }

    if (ctx->tran->init != NULL) {
        int rc = ctx->tran->init(ctx);

        if (rc < 0) {
            err = -rc;
            goto fail;
        }
    }
    return ctx;

fail:
    vfu_destroy_ctx(ctx);
    errno = err;
    return NULL;
}

VFU_EXPORT int
vfu_realize_ctx(vfu_ctx_t *vfu_ctx)
{
    int rc;

    if (vfu_ctx == NULL) {
        return vfu_err(-EINVAL);
    }
    if (vfu_ctx->realized && vfu_ctx->attached) {
        return 0;
    }
    /* again after regions changed (see vfu_setup_region): redo the BARs */
    rc = pci_realize(vfu_ctx);
    if (rc < 0) {
        vfu_log_errno(vfu_ctx, rc, "failed to realize PCI device");
        return vfu_err(rc);
    }
    /* here, not in vfu_setup_device_nr_irqs: INTx may be declared first */
    pci_set_intx_pin(vfu_ctx, irq_count(vfu_ctx, VFU_DEV_INTX_IRQ) != 0);
    if (vfu_ctx->realized) {
        return 0;
    }
    if (vfu_ctx->tran->realize != NULL) {
        rc = vfu_ctx->tran->realize(vfu_ctx);
        if (rc < 0) {
            vfu_log_errno(vfu_ctx, rc, "transport %s failed to start",
                          vfu_ctx->tran->name);
            return vfu_err(rc);
        }
    }
    vfu_ctx->realized = true;
    return 0;
}

VFU_EXPORT void
vfu_destroy_ctx(vfu_ctx_t *vfu_ctx)
{
    if (vfu_ctx == NULL) {
        return;
    }
    if (vfu_ctx->pending_kind == VFU_PENDING_MSG) {
        proto_msg_free(&vfu_ctx->pending);
    }
    vfu_ctx->pending_kind = VFU_PENDING_NONE;
    vfu_ctx->quiesce_pending = false;
    /*
     * The device is going away: no quiesce round trip, but a client that
     * is still attached gets the same cleanup (and reset callback) as one
     * that disconnected.
     */
    vfu_client_lost(vfu_ctx);
    if (vfu_ctx->tran != NULL && vfu_ctx->tran->fini != NULL) {
        vfu_ctx->tran->fini(vfu_ctx);
    }
    region_free_all(vfu_ctx);
    pci_free(vfu_ctx);
    dma_free(vfu_ctx);
    irq_free(vfu_ctx);
    migr_free(vfu_ctx);
    free(vfu_ctx->path);
    free(vfu_ctx);
}

VFU_EXPORT void *
vfu_get_private(vfu_ctx_t *vfu_ctx)
{
    return vfu_ctx != NULL ? vfu_ctx->pvt : NULL;
}

VFU_EXPORT int
vfu_setup_device_reset_cb(vfu_ctx_t *vfu_ctx, vfu_reset_cb_t *reset)
{
    if (vfu_ctx == NULL) {
        return vfu_err(-EINVAL);
    }
    vfu_ctx->reset = reset;
    return 0;
}

VFU_EXPORT void
vfu_setup_device_quiesce_cb(vfu_ctx_t *vfu_ctx,
                            vfu_device_quiesce_cb_t *quiesce_cb)
{
    if (vfu_ctx == NULL) {
        return;
    }
    vfu_ctx->quiesce = quiesce_cb;
}

/* ------------------------------------------------------------------ */
/* Client connection                                                   */
/* ------------------------------------------------------------------ */

void
vfu_client_lost(vfu_ctx_t *ctx)
{
    bool was_attached = ctx->attached;

    ctx->attached = false;
    if (was_attached) {
        vfu_log(ctx, LOG_INFO, "client disconnected, cleaning up its state");
        /* the spec: unmap client memory, close its eventfds, keep the rest */
        if (ctx->dma != NULL) {
            dma_unmap_all(ctx);
            /* logging was about the client's memory, which is gone */
            dma_dirty_stop(ctx);
        }
        if (ctx->reset != NULL) {
            errno = 0;
            if (ctx->reset(ctx, VFU_RESET_LOST_CONN) < 0) {
                vfu_log_errno(ctx, errno != 0 ? errno : EIO,
                              "reset callback (lost connection)");
            }
        }
        if (ctx->irqs != NULL) {
            irq_disable_all(ctx);
        }
    }
    if (ctx->tran != NULL && ctx->tran->detach != NULL) {
        ctx->tran->detach(ctx);
    }
    reset_caps(ctx);
}

int
vfu_client_gone(vfu_ctx_t *ctx)
{
    if (ctx->pending_kind != VFU_PENDING_NONE) {
        /* the device is still quiescing: vfu_device_quiesced() goes on */
        return -EBUSY;
    }
    if (ctx->attached && ctx->quiesce != NULL && !ctx->completing_quiesce) {
        int rc;

        errno = 0;
        rc = ctx->quiesce(ctx);

        if (rc < 0 && errno == EBUSY) {
            vfu_log(ctx, LOG_DEBUG,
                    "client gone, device will quiesce asynchronously");
            ctx->pending_kind = VFU_PENDING_LOST_CONN;
            ctx->quiesce_pending = true;
            return -EBUSY;
        }
        if (rc < 0) {
            vfu_log_errno(ctx, errno != 0 ? errno : EIO,
                          "device failed to quiesce, cleaning up anyway");
        }
        ctx->quiesced = true;
    }
    vfu_client_lost(ctx);
    ctx->quiesced = false;
    return -ENOTCONN;
}

static void
close_twin_peer(vfu_ctx_t *ctx)
{
    if (ctx->twin_peer_fd >= 0) {
        close(ctx->twin_peer_fd);
        ctx->twin_peer_fd = -1;
    }
}

static bool
ctx_nonblocking(const vfu_ctx_t *ctx)
{
    return (ctx->flags & LIBVFIO_USER_FLAG_ATTACH_NB) != 0 ||
           ctx->trans == VFU_TRANS_EXT_INPROC;
}

VFU_EXPORT int
vfu_attach_ctx(vfu_ctx_t *vfu_ctx)
{
    proto_msg_t msg = PROTO_MSG_INIT;
    vfu_reply_t reply = {0};
    int rc;

    if (vfu_ctx == NULL) {
        return vfu_err(-EINVAL);
    }
    if (vfu_ctx->pending_kind != VFU_PENDING_NONE) {
        /* the previous client's cleanup waits for vfu_device_quiesced() */
        return vfu_err(-EBUSY);
    }
    if (vfu_ctx->attached) {
        vfu_log(vfu_ctx, LOG_ERR, "already attached to a client");
        return vfu_err(-EINVAL);
    }

    /* a connection accepted by an earlier call may still await VERSION */
    rc = vfu_ctx->tran->attach(vfu_ctx);
    if (rc < 0) {
        if (rc != -EAGAIN && rc != -EINTR) {
            vfu_log_errno(vfu_ctx, rc, "failed to accept a client");
        }
        return vfu_err(rc);
    }

    rc = vfu_ctx->tran->recv(vfu_ctx, &msg, ctx_nonblocking(vfu_ctx));
    if (rc == -EAGAIN || rc == -EINTR) {
        return vfu_err(rc);
    }
    if (rc < 0) {
        vfu_log_errno(vfu_ctx, rc, "failed to receive VERSION");
        vfu_ctx->tran->detach(vfu_ctx);
        reset_caps(vfu_ctx);
        return vfu_err(rc == -ENOTCONN || rc == -ECONNRESET ? -ENOTCONN
                                                            : -EINVAL);
    }

    rc = vfu_negotiate(vfu_ctx, &msg, &reply);
    if (rc < 0) {
        /* the client learns why; then it is dropped like libvfio-user does */
        (void)vfu_send_reply(vfu_ctx, &msg.hdr, rc, NULL);
        proto_msg_free(&msg);
        free(reply.body);
        close_twin_peer(vfu_ctx);
        vfu_ctx->tran->detach(vfu_ctx);
        reset_caps(vfu_ctx);
        return vfu_err(-EINVAL);
    }

    rc = vfu_send_reply(vfu_ctx, &msg.hdr, 0, &reply);
    proto_msg_free(&msg);
    free(reply.body);
    /* the client has its end of the twin socket now (or never will) */
    close_twin_peer(vfu_ctx);
    if (rc < 0) {
        vfu_log_errno(vfu_ctx, rc, "failed to send VERSION reply");
        vfu_ctx->tran->detach(vfu_ctx);
        reset_caps(vfu_ctx);
        return vfu_err(rc == -EPIPE || rc == -ECONNRESET ? -ENOTCONN : rc);
    }
    vfu_ctx->attached = true;
    update_recv_caps(vfu_ctx);
    vfu_log(vfu_ctx, LOG_INFO, "client attached");
    return 0;
}

VFU_EXPORT int
vfu_get_poll_fd(vfu_ctx_t *vfu_ctx)
{
    int fd;

    if (vfu_ctx == NULL) {
        return vfu_err(-EINVAL);
    }
    fd = vfu_ctx->tran->get_poll_fd(vfu_ctx);
    if (fd < 0) {
        return vfu_err(fd);
    }
    return fd;
}

VFU_EXPORT int
vfu_run_ctx(vfu_ctx_t *vfu_ctx)
{
    bool nonblock;
    int handled = 0;
    int last_errno = 0;
    int rc;

    if (vfu_ctx == NULL) {
        return vfu_err(-EINVAL);
    }
    if (!vfu_ctx->realized) {
        vfu_log(vfu_ctx, LOG_DEBUG, "device not realized");
        return vfu_err(-EINVAL);
    }
    if (vfu_ctx->in_dispatch) {
        /* e.g. a callback or an in-process pump calling back into us */
        vfu_log(vfu_ctx, LOG_ERR, "vfu_run_ctx called from a handler");
        return vfu_err(-EBUSY);
    }
    if (vfu_ctx->pending_kind != VFU_PENDING_NONE) {
        return vfu_err(-EBUSY);
    }
    if (!vfu_ctx->attached) {
        return vfu_err(-ENOTCONN);
    }

    nonblock = ctx_nonblocking(vfu_ctx);
    for (;;) {
        rc = vfu_dispatch_one(vfu_ctx, nonblock);
        if (rc < 0) {
            return vfu_err(rc);
        }
        if (rc == 0) {
            if (nonblock) {
                break;
            }
            continue;
        }
        /*
         * libvfio-user serves one message per non-blocking call, so the
         * caller sees errno as the device's callbacks left it; looking for
         * the next message must not change that.
         */
        last_errno = errno;
        if (handled < INT32_MAX) {
            handled++;
        }
        if (!vfu_ctx->attached) {
            /*
             * The client went away while we answered it (its state is
             * cleaned up): this call still served the message, as with
             * libvfio-user, and the next one says ENOTCONN.
             */
            break;
        }
    }
    if (handled > 0) {
        errno = last_errno;
    }
    return handled;
}

VFU_EXPORT int
vfu_device_quiesced(vfu_ctx_t *vfu_ctx, int quiesce_errno)
{
    enum vfu_pending_kind kind;
    proto_msg_t msg;

    if (vfu_ctx == NULL) {
        return vfu_err(-EINVAL);
    }
    if (vfu_ctx->quiesce == NULL || vfu_ctx->pending_kind == VFU_PENDING_NONE) {
        vfu_log(vfu_ctx, LOG_DEBUG, "vfu_device_quiesced: nothing pending");
        return vfu_err(-EINVAL);
    }
    if (quiesce_errno < 0) {
        quiesce_errno = -quiesce_errno;
    }
    vfu_log(vfu_ctx, LOG_DEBUG, "device quiesced (error %d)", quiesce_errno);

    kind = vfu_ctx->pending_kind;
    msg = vfu_ctx->pending;
    vfu_ctx->pending = (proto_msg_t)PROTO_MSG_INIT;
    vfu_ctx->pending_kind = VFU_PENDING_NONE;
    vfu_ctx->quiesce_pending = false;
    vfu_ctx->quiesced = true;

    switch (kind) {
    case VFU_PENDING_MSG:
        /*
         * libvfio-user drops the request without a reply when the quiesce
         * failed; the spec wants every command answered, so it fails with
         * the device's errno instead.
         */
        vfu_ctx->completing_quiesce = true;
        (void)vfu_dispatch_pending(vfu_ctx, &msg, quiesce_errno);
        vfu_ctx->completing_quiesce = false;
        break;
    case VFU_PENDING_LOST_CONN:
        vfu_client_lost(vfu_ctx);
        break;
    case VFU_PENDING_NONE:
        break;
    }
    vfu_ctx->quiesced = false;
    return 0;
}
