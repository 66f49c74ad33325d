/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tran_sock.c - the UNIX socket transport, and the message-stream code it
 * shares with the pipe transport.
 */

#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "private.h"

/*
 * Pending connections the kernel queues while we serve one client: a
 * second VMM waits in the queue until the first one leaves.
 */
#define SOCK_LISTEN_BACKLOG 4

/* ------------------------------------------------------------------ */
/* Message streams (socket or pipe pair)                               */
/* ------------------------------------------------------------------ */

void
tran_stream_init(struct tran_stream *s)
{
    size_t i;

    s->in_fd = -1;
    s->out_fd = -1;
    s->owns_fds = false;
    s->can_pass_fds = false;
    s->cmd_fd = -1;
    for (i = 0; i < TRAN_BACKLOG_MAX; i++) {
        s->backlog[i] = (proto_msg_t)PROTO_MSG_INIT;
    }
    s->bl_head = 0;
    s->bl_count = 0;
    s->skip = 0;
}

void
tran_stream_close(vfu_ctx_t *ctx, struct tran_stream *s)
{
    while (s->bl_count > 0) {
        proto_msg_t *m = &s->backlog[s->bl_head];

        vfu_log(ctx, LOG_DEBUG, "msg%#hx: %s dropped with the connection",
                m->hdr.msg_id, proto_cmd_name(m->hdr.cmd));
        proto_msg_free(m);
        s->bl_head = (s->bl_head + 1) % TRAN_BACKLOG_MAX;
        s->bl_count--;
    }
    s->bl_head = 0;
    if (s->cmd_fd >= 0) {
        close(s->cmd_fd);
        s->cmd_fd = -1;
    }
    if (s->owns_fds) {
        if (s->in_fd >= 0) {
            close(s->in_fd);
        }
        if (s->out_fd >= 0 && s->out_fd != s->in_fd) {
            close(s->out_fd);
        }
    }
    s->in_fd = -1;
    s->out_fd = -1;
    s->owns_fds = false;
    s->skip = 0;
}

/*
 * Wait until @fd is readable (or hung up).  Unlike proto_io_recv's own
 * waiting this returns -EINTR, so a signal can stop a blocking
 * vfu_run_ctx() the way it stops libvfio-user's.
 */
static int
wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);

    if (n < 0) {
        return -errno;
    }
    if (n == 0) {
        return -ETIMEDOUT;
    }
    if (p.revents & POLLNVAL) {
        return -EBADF;
    }
    return 0;
}

static void
trace_in(vfu_ctx_t *ctx, const proto_msg_t *msg)
{
    struct iovec iov = {.iov_base = msg->body, .iov_len = msg->body_len};

    vfu_trace_msg(ctx, false, &msg->hdr, &iov, 1, msg->nr_fds);
}

int
tran_stream_recv(vfu_ctx_t *ctx, struct tran_stream *s, proto_msg_t *msg,
                 bool nonblock)
{
    int rc;

    if (s->in_fd < 0) {
        return -ENOTCONN;
    }
    if (s->bl_count > 0) {
        /* commands that arrived while we waited for a DMA reply go first */
        *msg = s->backlog[s->bl_head];
        s->backlog[s->bl_head] = (proto_msg_t)PROTO_MSG_INIT;
        s->bl_head = (s->bl_head + 1) % TRAN_BACKLOG_MAX;
        s->bl_count--;
        return 0;
    }
    /* the body of a message refused for its size goes first */
    while (s->skip > 0) {
        rc = proto_io_skip(s->in_fd, &s->skip);
        if (rc == -EAGAIN) {
            if (nonblock) {
                return -EAGAIN;
            }
            rc = wait_readable(s->in_fd, -1);
        }
        if (rc < 0 && rc != -EAGAIN) {
            return rc == -ECONNRESET ? -ENOTCONN : rc;
        }
    }
    /*
     * Blocking: wait inside the read itself (one system call per read when
     * messages keep coming); a signal comes back as -EINTR, so it can stop
     * a blocking vfu_run_ctx() the way it stops libvfio-user's.
     */
    rc = proto_io_recv_keep(s->in_fd, msg, &ctx->recv_caps, nonblock,
                            (int)vfu_timeout_ms(ctx), vfu_max_request(ctx),
                            &s->skip);
    if (rc == 0 || rc == -EBADMSG) {
        trace_in(ctx, msg);
    }
    return rc;
}

int
tran_stream_send(vfu_ctx_t *ctx, struct tran_stream *s,
                 const struct vfio_user_header *hdr, const struct iovec *iov,
                 size_t iovcnt, const int *fds, size_t nr_fds)
{
    if (s->out_fd < 0) {
        return -ENOTCONN;
    }
    if (nr_fds > 0 && !s->can_pass_fds) {
        vfu_log(ctx, LOG_ERR, "msg%#hx: %s: this transport cannot pass fds",
                hdr->msg_id, proto_cmd_name(hdr->cmd));
        return -EINVAL;
    }
    vfu_trace_msg(ctx, true, hdr, iov, iovcnt, nr_fds);
    /* a client that stops reading must not hang the device */
    return proto_io_send(s->out_fd, hdr, iov, iovcnt, fds, nr_fds,
                         (int)vfu_timeout_ms(ctx));
}

int
tran_stream_send_cmd(vfu_ctx_t *ctx, struct tran_stream *s,
                     const struct vfio_user_header *hdr,
                     const struct iovec *iov, size_t iovcnt)
{
    int fd = s->cmd_fd >= 0 ? s->cmd_fd : s->out_fd;

    if (s->out_fd < 0) {
        return -ENOTCONN;
    }
    vfu_trace_msg(ctx, true, hdr, iov, iovcnt, 0);
    return proto_io_send(fd, hdr, iov, iovcnt, NULL, 0,
                         (int)vfu_timeout_ms(ctx));
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Without a twin socket the client's commands and its reply to our
 * DMA_READ/WRITE share one stream: commands that come first are parked
 * in the backlog (and served in order afterwards) instead of being lost.
 */
int
tran_stream_recv_reply(vfu_ctx_t *ctx, struct tran_stream *s, proto_msg_t *msg)
{
    bool twin = s->cmd_fd >= 0;
    int fd = twin ? s->cmd_fd : s->in_fd;
    int64_t deadline;

    if (s->in_fd < 0) {
        return -ENOTCONN;
    }
    deadline = now_ms() + vfu_timeout_ms(ctx);
    for (;;) {
        int64_t left = deadline - now_ms();
        int rc;

        if (left <= 0) {
            return -ETIMEDOUT;
        }
        rc = wait_readable(fd, (int)left);
        if (rc == -EINTR) {
            continue;
        }
        if (rc < 0) {
            return rc;
        }
        rc = proto_io_recv(fd, msg, &ctx->recv_caps, true,
                           (int)vfu_timeout_ms(ctx));
        if (rc == -EAGAIN) {
            continue;
        }
        if (rc < 0) {
            return rc;
        }
        trace_in(ctx, msg);
        if ((msg->hdr.flags & VFIO_USER_F_TYPE_MASK) ==
            VFIO_USER_F_TYPE_REPLY) {
            return 0;
        }
        if (twin) {
            vfu_log(ctx, LOG_ERR, "msg%#hx: command %s on the twin socket",
                    msg->hdr.msg_id, proto_cmd_name(msg->hdr.cmd));
            proto_msg_free(msg);
            return -EPROTO;
        }
        if (s->bl_count == TRAN_BACKLOG_MAX) {
            vfu_log(ctx, LOG_ERR,
                    "msg%#hx: too many commands queued behind a DMA reply",
                    msg->hdr.msg_id);
            proto_msg_free(msg);
            return -ENOBUFS;
        }
        s->backlog[(s->bl_head + s->bl_count) % TRAN_BACKLOG_MAX] = *msg;
        *msg = (proto_msg_t)PROTO_MSG_INIT;
        s->bl_count++;
    }
}

/* ------------------------------------------------------------------ */
/* The socket transport                                                */
/* ------------------------------------------------------------------ */

struct tran_sock {
    int listen_fd;
    bool bound; /* we created ctx->path and remove it at fini */
    struct tran_stream conn;
};

static int
sock_init(vfu_ctx_t *ctx)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct tran_sock *ts;
    int type = SOCK_STREAM | SOCK_CLOEXEC;
    int rc;

    socklen_t addrlen = sizeof(addr);

    if (ctx->path == NULL) {
        return -EINVAL;
    }
    if (strlen(ctx->path) >= sizeof(addr.sun_path)) {
        return -ENAMETOOLONG;
    }
    memcpy(addr.sun_path, ctx->path, strlen(ctx->path) + 1);
    /*
     * An empty path (libvfio-user's samples/lspci.c uses one to build a
     * context it never attaches) gets an anonymous abstract address from
     * the kernel: nothing to create in the file system or remove later.
     */
    if (ctx->path[0] == '\0') {
        addrlen = sizeof(sa_family_t);
    }

    ts = calloc(1, sizeof(*ts));
    if (ts == NULL) {
        return -ENOMEM;
    }
    tran_stream_init(&ts->conn);
    if (ctx->flags & LIBVFIO_USER_FLAG_ATTACH_NB) {
        type |= SOCK_NONBLOCK; /* accept never blocks */
    }
    ts->listen_fd = socket(AF_UNIX, type, 0);
    if (ts->listen_fd < 0) {
        rc = -errno;
        goto fail;
    }
    /* like libvfio-user, never replace an existing file: EADDRINUSE */
    if (bind(ts->listen_fd, (struct sockaddr *)&addr, addrlen) < 0) {
        rc = -errno;
        goto fail;
    }
    ts->bound = ctx->path[0] != '\0';
    if (listen(ts->listen_fd, SOCK_LISTEN_BACKLOG) < 0) {
        rc = -errno;
        goto fail;
    }
    ctx->tran_data = ts;
    return 0;

fail:
    if (ts->bound) {
        unlink(ctx->path);
    }
    if (ts->listen_fd >= 0) {
        close(ts->listen_fd);
    }
    free(ts);
    return rc;
}

static int
sock_attach(vfu_ctx_t *ctx)
{
    struct tran_sock *ts = ctx->tran_data;
    int fd;

    if (ts == NULL) {
        return -EINVAL;
    }
    if (ts->conn.in_fd >= 0) {
        return 0; /* accepted earlier, still negotiating */
    }
    fd = accept4(ts->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        /* EINTR goes back to the caller: a device loop may want to stop */
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
    ts->conn.in_fd = fd;
    ts->conn.out_fd = fd;
    ts->conn.owns_fds = true;
    ts->conn.can_pass_fds = true;
    return 0;
}

static int
sock_get_poll_fd(vfu_ctx_t *ctx)
{
    struct tran_sock *ts = ctx->tran_data;

    if (ts == NULL) {
        return -EINVAL;
    }
    return ts->conn.in_fd >= 0 ? ts->conn.in_fd : ts->listen_fd;
}

static int
sock_recv(vfu_ctx_t *ctx, proto_msg_t *msg, bool nonblock)
{
    struct tran_sock *ts = ctx->tran_data;

    return ts != NULL ? tran_stream_recv(ctx, &ts->conn, msg, nonblock)
                      : -ENOTCONN;
}

static int
sock_send(vfu_ctx_t *ctx, const struct vfio_user_header *hdr,
          const struct iovec *iov, size_t iovcnt, const int *fds, size_t nr_fds)
{
    struct tran_sock *ts = ctx->tran_data;

    return ts != NULL
               ? tran_stream_send(ctx, &ts->conn, hdr, iov, iovcnt, fds, nr_fds)
               : -ENOTCONN;
}

static int
sock_recv_reply(vfu_ctx_t *ctx, proto_msg_t *msg)
{
    struct tran_sock *ts = ctx->tran_data;

    return ts != NULL ? tran_stream_recv_reply(ctx, &ts->conn, msg) : -ENOTCONN;
}

static int
sock_send_cmd(vfu_ctx_t *ctx, const struct vfio_user_header *hdr,
              const struct iovec *iov, size_t iovcnt)
{
    struct tran_sock *ts = ctx->tran_data;

    return ts != NULL ? tran_stream_send_cmd(ctx, &ts->conn, hdr, iov, iovcnt)
                      : -ENOTCONN;
}

static int
sock_twin_socket(vfu_ctx_t *ctx)
{
    struct tran_sock *ts = ctx->tran_data;
    int sv[2];

    if (ts == NULL || ts->conn.in_fd < 0) {
        return -ENOTCONN;
    }
    if (ts->conn.cmd_fd >= 0) {
        return -EEXIST;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return -errno;
    }
    ts->conn.cmd_fd = sv[0];
    return sv[1];
}

static void
sock_detach(vfu_ctx_t *ctx)
{
    struct tran_sock *ts = ctx->tran_data;

    if (ts != NULL) {
        tran_stream_close(ctx, &ts->conn);
    }
}

static void
sock_fini(vfu_ctx_t *ctx)
{
    struct tran_sock *ts = ctx->tran_data;

    if (ts == NULL) {
        return;
    }
    tran_stream_close(ctx, &ts->conn);
    if (ts->listen_fd >= 0) {
        close(ts->listen_fd);
    }
    if (ts->bound && ctx->path != NULL) {
        unlink(ctx->path);
    }
    free(ts);
    ctx->tran_data = NULL;
}

const struct tran_ops vfu_tran_sock_ops = {
    .name = "sock",
    .init = sock_init,
    .realize = NULL, /* bound and listening since vfu_create_ctx() */
    .attach = sock_attach,
    .get_poll_fd = sock_get_poll_fd,
    .recv = sock_recv,
    .send = sock_send,
    .recv_reply = sock_recv_reply,
    .send_cmd = sock_send_cmd,
    .twin_socket = sock_twin_socket,
    .detach = sock_detach,
    .fini = sock_fini,
};
