/* SPDX-License-Identifier: BSD-3-Clause */
/* msg.c - message ownership (body, fds), header filling and buffer parsing. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/proto.h"

size_t
proto_msg_free(proto_msg_t *msg)
{
    size_t closed = 0;
    size_t i;

    if (msg == NULL) {
        return 0;
    }
    for (i = 0; msg->fds != NULL && i < msg->nr_fds; i++) {
        if (msg->fds[i] >= 0) {
            /*
             * An fd nobody took is a peer sending more than the handler
             * wanted; closing it here keeps it from leaking, and the count
             * lets the caller log it.
             */
            close(msg->fds[i]);
            msg->fds[i] = -1;
            closed++;
        }
    }
    free(msg->fds);
    free(msg->body);
    msg->fds = NULL;
    msg->nr_fds = 0;
    msg->body = NULL;
    msg->body_len = 0;
    return closed;
}

int
proto_msg_take_fd(proto_msg_t *msg, size_t i)
{
    int fd;

    if (msg == NULL || msg->fds == NULL || i >= msg->nr_fds ||
        msg->fds[i] < 0) {
        return -EINVAL;
    }
    fd = msg->fds[i];
    msg->fds[i] = -1;
    return fd;
}

/* msg_size for @body_len bytes of body; saturates so a peer rejects it */
static uint32_t
msg_size_for(size_t body_len)
{
    if (body_len > UINT32_MAX - PROTO_HDR_SIZE) {
        return UINT32_MAX;
    }
    return PROTO_HDR_SIZE + (uint32_t)body_len;
}

void
proto_hdr_cmd(struct vfio_user_header *hdr, uint16_t id, uint16_t cmd,
              size_t body_len, bool no_reply)
{
    memset(hdr, 0, sizeof(*hdr));
    hdr->msg_id = id;
    hdr->cmd = cmd;
    hdr->msg_size = msg_size_for(body_len);
    hdr->flags = VFIO_USER_F_TYPE_COMMAND;
    if (no_reply) {
        hdr->flags |= VFIO_USER_F_NO_REPLY;
    }
}

void
proto_hdr_reply(struct vfio_user_header *hdr,
                const struct vfio_user_header *req, size_t body_len, int err)
{
    uint16_t id = req->msg_id;
    uint16_t cmd = req->cmd;

    memset(hdr, 0, sizeof(*hdr));
    hdr->msg_id = id;
    hdr->cmd = cmd;
    hdr->flags = VFIO_USER_F_TYPE_REPLY;
    if (err != 0) {
        /* callers hold errnos either way round; the wire wants positive */
        hdr->flags |= VFIO_USER_F_ERROR;
        hdr->error_no = err < 0 ? (uint32_t)-(int64_t)err : (uint32_t)err;
    }
    hdr->msg_size = msg_size_for(body_len);
}

int
proto_parse_buf(const void *buf, size_t len, proto_msg_t *msg,
                const proto_caps_t *caps)
{
    struct vfio_user_header hdr;
    size_t body_len;

    msg->body = NULL;
    msg->body_len = 0;
    msg->fds = NULL;
    msg->nr_fds = 0;
    memset(&msg->hdr, 0, sizeof(msg->hdr));

    if (buf == NULL || len < PROTO_HDR_SIZE) {
        return -EINVAL;
    }
    memcpy(&hdr, buf, sizeof(hdr));
    if (hdr.msg_size != len || hdr.msg_size < PROTO_HDR_SIZE) {
        return -EINVAL;
    }
    if (caps != NULL && hdr.msg_size > proto_msg_max_size(caps)) {
        return -EINVAL;
    }
    body_len = len - PROTO_HDR_SIZE;
    if (body_len > 0) {
        msg->body = malloc(body_len);
        if (msg->body == NULL) {
            return -ENOMEM;
        }
        memcpy(msg->body, (const uint8_t *)buf + PROTO_HDR_SIZE, body_len);
    }
    msg->hdr = hdr;
    msg->body_len = body_len;
    return 0;
}
