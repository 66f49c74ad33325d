/* SPDX-License-Identifier: BSD-3-Clause */
/* negotiate.c - the VERSION handshake: versions, capabilities, twin socket. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "private.h"

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* The page size a migration "pgsize" must match (libvfio-user's rule). */
static uint64_t
host_page_size(void)
{
    long sz = sysconf(_SC_PAGESIZE);

    return sz > 0 ? (uint64_t)sz : PROTO_DEFAULT_PGSIZES;
}

/*
 * Set up the twin socket if the client asked for one and can receive the
 * fd.  Failure is not fatal: the reply then says "supported": false and
 * server-initiated commands share the main socket.
 */
static bool
setup_twin_socket(vfu_ctx_t *ctx, const proto_caps_t *client)
{
    int fd;

    if (!client->twin_socket || client->max_msg_fds < 1 ||
        ctx->tran->twin_socket == NULL) {
        return false;
    }
    fd = ctx->tran->twin_socket(ctx);
    if (fd < 0) {
        vfu_log_errno(ctx, fd, "cannot set up the twin socket");
        return false;
    }
    ctx->twin_peer_fd = fd;
    return true;
}

/*
 * Check the client's VERSION and build our reply.  Limits are the smaller
 * of both sides' (each side's max_msg_fds and max_data_xfer_size bound
 * what the *other* may send it, so the minimum is safe for either
 * direction); recv_caps separately keeps our own limits for requests.
 */
int
vfu_negotiate(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    const struct vfio_user_version *cver;
    struct vfio_user_version sver;
    proto_caps_t client;
    proto_caps_t agreed;
    proto_caps_t ours;
    uint32_t our_dma_maps;
    size_t json_len;
    char *json;
    int rc;

    if ((msg->hdr.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND ||
        msg->hdr.cmd != VFIO_USER_VERSION) {
        vfu_log(ctx, LOG_ERR, "msg%#hx: expected VERSION, got %s (%u)",
                msg->hdr.msg_id, proto_cmd_name(msg->hdr.cmd), msg->hdr.cmd);
        return -EINVAL;
    }
    if (msg->nr_fds != 0) {
        vfu_log(ctx, LOG_ERR, "msg%#hx: VERSION sent with %zu fds",
                msg->hdr.msg_id, msg->nr_fds);
        return -EINVAL;
    }
    rc = proto_check_header(&msg->hdr, &ctx->recv_caps, false);
    if (rc == 0) {
        rc = proto_check_request(msg, &ctx->recv_caps, PROTO_C2S);
    }
    if (rc < 0 || msg->body_len < sizeof(*cver)) {
        vfu_log(ctx, LOG_ERR, "msg%#hx: malformed VERSION (%zu bytes)",
                msg->hdr.msg_id, msg->body_len);
        return -EINVAL;
    }
    cver = (const struct vfio_user_version *)msg->body;
    if (cver->major != LIB_VFIO_USER_MAJOR) {
        vfu_log(ctx, LOG_ERR, "unsupported client major %u (must be %u)",
                cver->major, LIB_VFIO_USER_MAJOR);
        return -EINVAL;
    }
    rc = proto_caps_parse((const char *)msg->body + sizeof(*cver),
                          msg->body_len - sizeof(*cver), &client);
    if (rc < 0) {
        /* client text stays out of the log: it may be anything */
        vfu_log(ctx, LOG_ERR, "failed to parse client capabilities JSON");
        return rc == -ENOMEM ? rc : -EINVAL;
    }
    if (ctx->migr != NULL && client.migration_pgsize != 0 &&
        client.migration_pgsize != host_page_size()) {
        vfu_log(ctx, LOG_ERR, "refusing client migration page size %#llx",
                (unsigned long long)client.migration_pgsize);
        return -EINVAL;
    }

    our_dma_maps = ctx->limits.max_dma_maps != 0 ? ctx->limits.max_dma_maps
                                                 : PROTO_DEFAULT_MAX_DMA_MAPS;
    /* no point offering more regions than the device takes */
    if (ctx->dma != NULL) {
        our_dma_maps = (uint32_t)min_u64(our_dma_maps, dma_max_regions(ctx));
    }
    agreed = client;
    agreed.max_msg_fds =
        (uint32_t)min_u64(client.max_msg_fds, ctx->limits.max_msg_fds);
    agreed.max_data_xfer_size =
        min_u64(client.max_data_xfer_size, ctx->limits.max_data_xfer_size);
    agreed.max_dma_maps = (uint32_t)min_u64(client.max_dma_maps, our_dma_maps);
    agreed.pgsizes = client.pgsizes & ctx->limits.pgsizes;
    if (agreed.pgsizes == 0) {
        vfu_log(ctx, LOG_ERR,
                "no common DMA page size (client %#llx, server %#llx)",
                (unsigned long long)client.pgsizes,
                (unsigned long long)ctx->limits.pgsizes);
        return -EINVAL;
    }
    agreed.write_multiple = client.has_write_multiple && client.write_multiple;
    agreed.has_twin_fd_index = false;
    agreed.twin_fd_index = 0;
    agreed.twin_socket = setup_twin_socket(ctx, &client);

    /* our reply: what we support, echoing only the optional keys asked */
    proto_caps_default(&ours);
    ours.max_msg_fds = ctx->limits.max_msg_fds;
    ours.max_data_xfer_size = ctx->limits.max_data_xfer_size;
    ours.max_dma_maps = our_dma_maps;
    ours.pgsizes = agreed.pgsizes;
    ours.write_multiple = true;
    ours.twin_socket = agreed.twin_socket;
    ours.has_twin_fd_index = agreed.twin_socket;
    ours.twin_fd_index = 0; /* the only fd the reply carries */
    if (ctx->migr != NULL) {
        ours.has_migration = true;
        ours.migration_pgsize = host_page_size();
    }

    json = proto_caps_format(&ours, client.has_twin_socket,
                             client.has_write_multiple);
    if (json == NULL) {
        return -ENOMEM;
    }
    json_len = strlen(json) + 1; /* the NUL travels too */
    reply->body = malloc(sizeof(sver) + json_len);
    if (reply->body == NULL) {
        free(json);
        return -ENOMEM;
    }
    memset(&sver, 0, sizeof(sver));
    sver.major = LIB_VFIO_USER_MAJOR;
    /* the spec: the reply's minor is at most the client's */
    sver.minor =
        cver->minor < LIB_VFIO_USER_MINOR ? cver->minor : LIB_VFIO_USER_MINOR;
    memcpy(reply->body, &sver, sizeof(sver));
    memcpy((uint8_t *)reply->body + sizeof(sver), json, json_len);
    reply->body_len = sizeof(sver) + json_len;
    free(json);
    if (agreed.twin_socket) {
        reply->fds = &ctx->twin_peer_fd;
        reply->nr_fds = 1;
    }

    ctx->caps = agreed;
    vfu_log(ctx, LOG_DEBUG,
            "negotiated v%u.%u: max_msg_fds %u, max_data_xfer_size %llu, "
            "max_dma_maps %u, pgsizes %#llx, write_multiple %d, twin %d",
            sver.major, sver.minor, agreed.max_msg_fds,
            (unsigned long long)agreed.max_data_xfer_size, agreed.max_dma_maps,
            (unsigned long long)agreed.pgsizes, agreed.write_multiple,
            agreed.twin_socket);
    return 0;
}
