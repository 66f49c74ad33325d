/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tran_pipe.c - the pipe transport: the client talks to the process's
 * stdin and stdout, as with libvfio-user's VFU_TRANS_PIPE (for tests that
 * spawn a device with its standard streams connected).  No fds pass.
 */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "private.h"

struct tran_pipe {
    struct tran_stream conn;
};

static int
pipe_init(vfu_ctx_t *ctx)
{
    struct tran_pipe *tp = calloc(1, sizeof(*tp));

    if (tp == NULL) {
        return -ENOMEM;
    }
    tran_stream_init(&tp->conn);
    ctx->tran_data = tp;
    return 0;
}

static int
pipe_attach(vfu_ctx_t *ctx)
{
    struct tran_pipe *tp = ctx->tran_data;

    if (tp == NULL) {
        return -EINVAL;
    }
    if (tp->conn.in_fd < 0) {
        /* the streams belong to the process: never closed by us */
        tp->conn.in_fd = STDIN_FILENO;
        tp->conn.out_fd = STDOUT_FILENO;
        tp->conn.owns_fds = false;
        tp->conn.can_pass_fds = false;
    }
    return 0;
}

static int
pipe_get_poll_fd(vfu_ctx_t *ctx)
{
    struct tran_pipe *tp = ctx->tran_data;

    if (tp == NULL) {
        return -EINVAL;
    }
    return tp->conn.in_fd >= 0 ? tp->conn.in_fd : STDIN_FILENO;
}

static int
pipe_recv(vfu_ctx_t *ctx, proto_msg_t *msg, bool nonblock)
{
    struct tran_pipe *tp = ctx->tran_data;

    return tp != NULL ? tran_stream_recv(ctx, &tp->conn, msg, nonblock)
                      : -ENOTCONN;
}

static int
pipe_send(vfu_ctx_t *ctx, const struct vfio_user_header *hdr,
          const struct iovec *iov, size_t iovcnt, const int *fds, size_t nr_fds)
{
    struct tran_pipe *tp = ctx->tran_data;

    return tp != NULL
               ? tran_stream_send(ctx, &tp->conn, hdr, iov, iovcnt, fds, nr_fds)
               : -ENOTCONN;
}

static int
pipe_recv_reply(vfu_ctx_t *ctx, proto_msg_t *msg)
{
    struct tran_pipe *tp = ctx->tran_data;

    return tp != NULL ? tran_stream_recv_reply(ctx, &tp->conn, msg) : -ENOTCONN;
}

static int
pipe_send_cmd(vfu_ctx_t *ctx, const struct vfio_user_header *hdr,
              const struct iovec *iov, size_t iovcnt)
{
    struct tran_pipe *tp = ctx->tran_data;

    return tp != NULL ? tran_stream_send_cmd(ctx, &tp->conn, hdr, iov, iovcnt)
                      : -ENOTCONN;
}

static void
pipe_detach(vfu_ctx_t *ctx)
{
    struct tran_pipe *tp = ctx->tran_data;

    if (tp != NULL) {
        tran_stream_close(ctx, &tp->conn);
    }
}

static void
pipe_fini(vfu_ctx_t *ctx)
{
    struct tran_pipe *tp = ctx->tran_data;

    if (tp == NULL) {
        return;
    }
    tran_stream_close(ctx, &tp->conn);
    free(tp);
    ctx->tran_data = NULL;
}

const struct tran_ops vfu_tran_pipe_ops = {
    .name = "pipe",
    .init = pipe_init,
    .attach = pipe_attach,
    .get_poll_fd = pipe_get_poll_fd,
    .recv = pipe_recv,
    .send = pipe_send,
    .recv_reply = pipe_recv_reply,
    .send_cmd = pipe_send_cmd,
    .twin_socket = NULL, /* a pipe cannot hand over a socket */
    .detach = pipe_detach,
    .fini = pipe_fini,
};
