/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vmm.c - the fake VMM's setup: options, connecting (UNIX socket, given
 * fd, or in-process context), negotiation, and the raw-message API.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/private.h"
#include "vfio-user/libvfio-user.h"

/* ------------------------------------------------------------------ */
/* Setup                                                               */
/* ------------------------------------------------------------------ */

/*
 * Fill in the defaults and reject what no server could agree to, so that
 * a bad option is reported before anything goes on the wire.
 */
static int
opts_fill(vmm_opts_t *o, const vmm_opts_t *in)
{
    if (in != NULL) {
        *o = *in;
    } else {
        memset(o, 0, sizeof(*o));
    }
    if (o->max_msg_fds == 0) {
        o->max_msg_fds = VMM_DEFAULT_MAX_MSG_FDS;
    }
    if (o->max_data_xfer_size == 0) {
        o->max_data_xfer_size = VMM_DEFAULT_MAX_DATA_XFER;
    }
    if (o->max_dma_maps == 0) {
        o->max_dma_maps = VMM_DEFAULT_MAX_DMA_MAPS;
    }
    if (o->pgsizes == 0) {
        o->pgsizes = VMM_DEFAULT_PGSIZES;
    }
    if (o->timeout_ms == 0) {
        o->timeout_ms = VMM_DEFAULT_TIMEOUT_MS;
    }
    if (o->max_msg_fds > PROTO_MAX_MSG_FDS_CEIL ||
        o->max_data_xfer_size > PROTO_MAX_DATA_XFER_CEIL ||
        o->max_dma_maps > PROTO_MAX_DMA_MAPS_CEIL ||
        (o->pgsizes & (PROTO_DEFAULT_PGSIZES - 1)) != 0 || o->timeout_ms < 0) {
        return -EINVAL;
    }
    return 0;
}

static int
vmm_alloc(const vmm_opts_t *opts, vmm_t **out)
{
    vmm_t *vmm;
    int rc;

    *out = NULL;
    vmm = calloc(1, sizeof(*vmm));
    if (vmm == NULL) {
        return -ENOMEM;
    }
    vmm->fd = -1;
    vmm->twin_fd = -1;
    rc = opts_fill(&vmm->opts, opts);
    if (rc < 0) {
        free(vmm);
        return rc;
    }
    vmm_trace_init(vmm);

    /*
     * What we receive is bounded by what we proposed: the server may not
     * send more fds or data than we said we take.
     */
    proto_caps_default(&vmm->caps);
    vmm->caps.max_msg_fds = vmm->opts.max_msg_fds;
    vmm->caps.max_data_xfer_size = vmm->opts.max_data_xfer_size;
    vmm->caps.max_dma_maps = vmm->opts.max_dma_maps;
    vmm->caps.pgsizes = vmm->opts.pgsizes;

    /* Until a server answers (or with no_negotiate), our own proposal. */
    vmm->pub_caps.major = vmm->opts.major;
    vmm->pub_caps.minor = vmm->opts.minor;
    vmm->pub_caps.max_msg_fds = vmm->opts.max_msg_fds;
    vmm->pub_caps.max_data_xfer_size = vmm->opts.max_data_xfer_size;
    vmm->pub_caps.max_dma_maps = vmm->opts.max_dma_maps;
    vmm->pub_caps.pgsizes = vmm->opts.pgsizes;
    *out = vmm;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Negotiation                                                         */
/* ------------------------------------------------------------------ */

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/*
 * Twin-socket mode, as the spec has the client check the reply: not
 * supported (or not said) means one socket for everything; supported with
 * a valid fd_index naming a socket among the reply's fds means commands
 * from the server come on that socket; anything else is inconsistent and
 * ends the connection (-EPROTO).
 */
static int
take_twin_socket(vmm_t *vmm, const proto_caps_t *theirs, proto_msg_t *reply)
{
    struct stat st;
    int fd;

    if (!theirs->twin_socket) {
        vmm_log(vmm, LOG_INFO, "server declined twin-socket mode");
        return 0;
    }
    if (!theirs->has_twin_fd_index ||
        theirs->twin_fd_index >= reply->nr_fds ||
        reply->fds[theirs->twin_fd_index] < 0) {
        vmm_log(vmm, LOG_ERR, "twin socket enabled without a valid fd_index");
        return -EPROTO;
    }
    fd = proto_msg_take_fd(reply, theirs->twin_fd_index);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        vmm_log(vmm, LOG_ERR, "twin socket: fd_index names no socket");
        if (fd >= 0) {
            close(fd);
        }
        return -EPROTO;
    }
    vmm->twin_fd = fd;
    return 0;
}

static int
negotiate(vmm_t *vmm)
{
    struct vfio_user_version ver;
    proto_caps_t ours = vmm->caps;
    proto_caps_t theirs;
    proto_msg_t reply;
    uint8_t *body;
    size_t json_len;
    char *json;
    int rc;

    if (vmm->opts.twin_socket && vmm->ctx != NULL) {
        /* in-process, the server's commands never share a stream */
        vmm_log(vmm, LOG_ERR, "twin-socket mode needs a socket");
        return -ENOTSUP;
    }
    ours.write_multiple = vmm->opts.write_multiple;
    ours.twin_socket = vmm->opts.twin_socket;
    json = proto_caps_format(&ours, vmm->opts.twin_socket,
                             vmm->opts.write_multiple);
    if (json == NULL) {
        return -ENOMEM;
    }
    json_len = strlen(json) + 1;
    body = malloc(sizeof(ver) + json_len);
    if (body == NULL) {
        free(json);
        return -ENOMEM;
    }
    ver.major = vmm->opts.major;
    ver.minor = vmm->opts.minor;
    memcpy(body, &ver, sizeof(ver));
    memcpy(body + sizeof(ver), json, json_len);
    free(json);

    rc = vmm_request(vmm, VFIO_USER_VERSION, body, sizeof(ver) + json_len,
                     NULL, 0, &reply);
    free(body);
    if (rc < 0) {
        vmm_log(vmm, LOG_ERR, "negotiation failed: %s", strerror(-rc));
        return rc;
    }
    if (reply.body_len < sizeof(ver)) {
        rc = -EINVAL;
        goto out;
    }
    memcpy(&ver, reply.body, sizeof(ver));
    if (ver.major != vmm->opts.major) {
        vmm_log(vmm, LOG_ERR, "server answered version %u.%u to %u.%u",
                ver.major, ver.minor, vmm->opts.major, vmm->opts.minor);
        rc = -EPROTO;
        goto out;
    }
    if (ver.minor > vmm->opts.minor) {
        /* a spec violation some servers commit; harmless for us */
        vmm_log(vmm, LOG_WARNING, "server answered minor %u to %u",
                ver.minor, vmm->opts.minor);
    }
    rc = proto_caps_parse((const char *)reply.body + sizeof(ver),
                          reply.body_len - sizeof(ver), &theirs);
    if (rc < 0) {
        vmm_log(vmm, LOG_ERR, "bad capabilities in the VERSION reply");
        goto out;
    }
    if (theirs.twin_socket && !vmm->opts.twin_socket) {
        vmm_log(vmm, LOG_WARNING, "server enabled twin-socket unasked");
    } else if (vmm->opts.twin_socket) {
        rc = take_twin_socket(vmm, &theirs, &reply);
        if (rc < 0) {
            goto out;
        }
    }

    vmm->pub_caps.major = ver.major;
    vmm->pub_caps.minor = ver.minor;
    vmm->pub_caps.max_msg_fds =
        (uint32_t)min_u64(ours.max_msg_fds, theirs.max_msg_fds);
    vmm->pub_caps.max_data_xfer_size =
        min_u64(ours.max_data_xfer_size, theirs.max_data_xfer_size);
    vmm->pub_caps.max_dma_maps =
        (uint32_t)min_u64(ours.max_dma_maps, theirs.max_dma_maps);
    /* page sizes both support; if none, what the server can do */
    vmm->pub_caps.pgsizes = ours.pgsizes & theirs.pgsizes;
    if (vmm->pub_caps.pgsizes == 0) {
        vmm->pub_caps.pgsizes = theirs.pgsizes;
    }
    vmm->pub_caps.write_multiple =
        vmm->opts.write_multiple && theirs.write_multiple;
    vmm->pub_caps.twin_socket = vmm->twin_fd >= 0;
    vmm->caps.write_multiple = vmm->pub_caps.write_multiple;
    rc = 0;
out:
    vmm_msg_free(vmm, &reply);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Public API: connection                                              */
/* ------------------------------------------------------------------ */

VMM_EXPORT int
vmm_connect_fd(int fd, const vmm_opts_t *opts, vmm_t **out)
{
    vmm_t *vmm;
    int rc;

    if (out == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return -EINVAL;
    }
    *out = NULL;
    if (fd < 0) {
        return -EBADF;
    }
    rc = vmm_alloc(opts, &vmm);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    vmm->fd = fd;
    vmm->connected = true;
    if (!vmm->opts.no_negotiate) {
        rc = negotiate(vmm);
        if (rc < 0) {
            vmm_close(vmm);
            return rc;
        }
    }
    *out = vmm;
    return 0;
}

VMM_EXPORT int
vmm_connect(const char *path, const vmm_opts_t *opts, vmm_t **out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (out == NULL || path == NULL) {
        return -EINVAL;
    }
    *out = NULL;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = -errno;

        if (err == -EINTR) {
            continue;
        }
        close(fd);
        return err;
    }
    return vmm_connect_fd(fd, opts, out);
}

VMM_EXPORT int
vmm_attach_inproc(struct vfu_ctx *ctx, const vmm_opts_t *opts, vmm_t **out)
{
    vmm_t *vmm;
    int rc;

    if (out == NULL) {
        return -EINVAL;
    }
    *out = NULL;
    if (ctx == NULL) {
        return -EINVAL;
    }
    rc = vmm_alloc(opts, &vmm);
    if (rc < 0) {
        return rc;
    }
    if (vfu_ext_inproc_connect(ctx, vmm_inproc_pump, vmm) < 0) {
        rc = -errno;
        free(vmm);
        return rc;
    }
    vmm->ctx = ctx;
    vmm->connected = true;
    if (!vmm->opts.no_negotiate) {
        rc = negotiate(vmm);
        if (rc < 0) {
            vmm_close(vmm);
            return rc;
        }
    }
    *out = vmm;
    return 0;
}

VMM_EXPORT void
vmm_close(vmm_t *vmm)
{
    if (vmm == NULL) {
        return;
    }
    vmm_irq_cleanup(vmm);
    vmm_region_cleanup(vmm);
    vmm_conn_cleanup(vmm);
    if (vmm->ctx != NULL) {
        int saved = errno;

        vfu_ext_inproc_disconnect(vmm->ctx);
        /*
         * Over a socket the device's own loop would now see the hang-up;
         * in-process that loop is ours to run, once, so the device cleans
         * up (reset callback, eventfds) and can take the next client.
         */
        (void)vfu_run_ctx(vmm->ctx);
        errno = saved;
    }
    if (vmm->fd >= 0) {
        close(vmm->fd);
    }
    /* last: the server may have used guest memory until it let go */
    vmm_mem_cleanup(vmm);
    vmm_dump_close(vmm);
    vmm_dma_answers_free(vmm);
    free(vmm);
}

VMM_EXPORT const vmm_caps_t *
vmm_get_caps(const vmm_t *vmm)
{
    return vmm != NULL ? &vmm->pub_caps : NULL;
}

VMM_EXPORT bool
vmm_is_connected(const vmm_t *vmm)
{
    return vmm != NULL && vmm->connected;
}

VMM_EXPORT uint16_t
vmm_next_id(const vmm_t *vmm)
{
    return vmm != NULL ? vmm->next_id : 0;
}

/* ------------------------------------------------------------------ */
/* Public API: raw messages                                            */
/* ------------------------------------------------------------------ */

/* Move @msg into the caller's @out. */
static void
msg_to_reply(proto_msg_t *msg, vmm_reply_t *out)
{
    out->hdr = msg->hdr;
    out->body = msg->body;
    out->body_len = msg->body_len;
    out->fds = msg->fds;
    out->nr_fds = msg->nr_fds;
    *msg = (proto_msg_t)PROTO_MSG_INIT;
}

VMM_EXPORT void
vmm_reply_free(vmm_reply_t *reply)
{
    size_t i;

    if (reply == NULL) {
        return;
    }
    for (i = 0; reply->fds != NULL && i < reply->nr_fds; i++) {
        if (reply->fds[i] >= 0) {
            close(reply->fds[i]);
        }
    }
    free(reply->fds);
    free(reply->body);
    memset(reply, 0, sizeof(*reply));
}

VMM_EXPORT int
vmm_send_raw(vmm_t *vmm, uint16_t cmd, const void *payload, size_t len,
             const int *fds, size_t nr_fds, vmm_reply_t *reply)
{
    proto_msg_t req;
    proto_msg_t msg;
    int rc;

    if (reply != NULL) {
        memset(reply, 0, sizeof(*reply));
    }
    if (vmm == NULL || reply == NULL || (len > 0 && payload == NULL) ||
        (nr_fds > 0 && fds == NULL)) {
        return -EINVAL;
    }
    rc = vmm_send_cmd(vmm, cmd, payload, len, fds, nr_fds, &req);
    if (rc < 0) {
        return rc;
    }
    rc = vmm_wait_reply(vmm, &req, &msg, false);
    if (rc < 0) {
        return rc;
    }
    msg_to_reply(&msg, reply);
    return 0;
}

VMM_EXPORT int
vmm_send_bytes(vmm_t *vmm, const void *buf, size_t len, const int *fds,
               size_t nr_fds)
{
    if (vmm == NULL || (len > 0 && buf == NULL) ||
        (nr_fds > 0 && fds == NULL)) {
        return -EINVAL;
    }
    if (!vmm->connected) {
        return -ENOTCONN;
    }
    if (len >= sizeof(struct vfio_user_header)) {
        struct vfio_user_header hdr;

        memcpy(&hdr, buf, sizeof(hdr));
        vmm_trace_msg(vmm, true, &hdr, (const uint8_t *)buf + sizeof(hdr),
                      len - sizeof(hdr), nr_fds);
    } else {
        vmm_log(vmm, LOG_DEBUG, "sending %zu raw bytes", len);
    }
    return vmm_send_raw_bytes(vmm, buf, len, fds, nr_fds);
}

VMM_EXPORT int
vmm_recv_any(vmm_t *vmm, vmm_reply_t *out)
{
    int64_t deadline;
    proto_msg_t msg;
    int rc;

    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if (vmm == NULL || out == NULL) {
        return -EINVAL;
    }
    deadline = vmm_now_ms() + vmm->opts.timeout_ms;
    do {
        /* commands on the twin socket are served on the way */
        rc = vmm_recv_next(vmm, &msg, deadline);
    } while (rc == VMM_RECV_SERVED);
    if (rc == -EAGAIN) {
        /* in-process, nothing will ever come: that is the timeout */
        return -ETIMEDOUT;
    }
    if (rc < 0) {
        return rc;
    }
    msg_to_reply(&msg, out);
    return 0;
}
