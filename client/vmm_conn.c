/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vmm_conn.c - the fake VMM's transports (UNIX socket, or an in-process
 * context run from here) and the one request/reply engine on top of both:
 * ids, matching, validation, serving server commands while waiting.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/private.h"
#include "vfio-user/libvfio-user.h"

/* Most fds one sendmsg() may carry on Linux (SCM_MAX_FD). */
#define VMM_SCM_MAX_FD 253u
/* In-process: server steps without a reply before the engine gives up. */
#define VMM_INPROC_MAX_STEPS 1024
/*
 * Socket: rounds of messages one vmm_serve_pending() call takes, so a
 * server that never stops talking cannot keep the caller forever.
 */
#define VMM_MAX_SERVE_ROUNDS 1024u

int64_t
vmm_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
vmm_mark_disconnected(vmm_t *vmm)
{
    if (vmm->connected) {
        vmm_log(vmm, LOG_INFO, "server hung up");
    }
    vmm->connected = false;
}

/* ------------------------------------------------------------------ */
/* Transport: receiving one message                                    */
/* ------------------------------------------------------------------ */

static void
log_closed_fds(vmm_t *vmm, const proto_msg_t *msg, size_t closed)
{
    if (closed > 0) {
        vmm_log(vmm, LOG_WARNING, "closed %zu unexpected fd(s) from %s id %u",
                closed, proto_cmd_name(msg->hdr.cmd), msg->hdr.msg_id);
    }
}

void
vmm_msg_free(vmm_t *vmm, proto_msg_t *msg)
{
    proto_msg_t copy = *msg;
    size_t closed = proto_msg_free(msg);

    log_closed_fds(vmm, &copy, closed);
}

/* poll() readiness bits of sock_wait() */
#define READY_MAIN 1
#define READY_TWIN 2
#define READY_EXTRA 4

/*
 * Socket: wait until @deadline (ms, monotonic) for the main socket, the
 * twin socket or @extra_fd to become readable.  Returns the READY_* bits,
 * 0 on timeout, or a negative errno.
 */
static int
sock_wait(vmm_t *vmm, int64_t deadline, int extra_fd)
{
    for (;;) {
        struct pollfd pfd[3];
        int bits[3];
        int64_t left = deadline - vmm_now_ms();
        nfds_t n = 0;
        int ready = 0;
        nfds_t i;
        int rc;

        if (vmm->twin_fd >= 0) {
            pfd[n] = (struct pollfd){.fd = vmm->twin_fd, .events = POLLIN};
            bits[n++] = READY_TWIN;
        }
        pfd[n] = (struct pollfd){.fd = vmm->fd, .events = POLLIN};
        bits[n++] = READY_MAIN;
        if (extra_fd >= 0) {
            pfd[n] = (struct pollfd){.fd = extra_fd, .events = POLLIN};
            bits[n++] = READY_EXTRA;
        }
        if (left < 0) {
            left = 0;
        }
        rc = poll(pfd, n, left > INT_MAX ? INT_MAX : (int)left);
        if (rc < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        for (i = 0; i < n; i++) {
            /* a hang-up or error is "readable": recv reports it */
            if (pfd[i].revents != 0) {
                ready |= bits[i];
            }
        }
        return ready;
    }
}

/* Socket: one message from @fd, which poll() found readable. */
static int
sock_recv_on(vmm_t *vmm, int fd, proto_msg_t *msg)
{
    int rc = proto_io_recv(fd, msg, &vmm->caps, true, vmm->opts.timeout_ms);

    if (rc == 0) {
        vmm_trace_msg(vmm, false, &msg->hdr, msg->body, msg->body_len,
                      msg->nr_fds);
    }
    return rc;
}

static void
twin_close(vmm_t *vmm)
{
    if (vmm->twin_fd >= 0) {
        close(vmm->twin_fd);
        vmm->twin_fd = -1;
    }
}

/*
 * Socket: take one message from the twin socket and serve it.  Only
 * server commands belong there: anything else is logged and dropped.
 * When the stream is unusable (hang-up, framing lost) the twin socket is
 * closed; the main socket decides whether the server is still there.
 * Returns 1 if a command was served, 0 otherwise.
 */
static int
twin_serve_one(vmm_t *vmm)
{
    proto_msg_t msg = PROTO_MSG_INIT;
    int rc = sock_recv_on(vmm, vmm->twin_fd, &msg);

    if (rc == -EAGAIN) {
        return 0;
    }
    if (rc == -E2BIG || rc == -EINVAL) {
        /* drained (or malformed but skipped): the stream is still in step */
        vmm_log(vmm, LOG_WARNING, "twin socket: dropped a message: %s",
                strerror(-rc));
        return 0;
    }
    if (rc < 0) {
        vmm_log(vmm, LOG_WARNING, "twin socket closed: %s", strerror(-rc));
        twin_close(vmm);
        return 0;
    }
    if (!vmm_is_command(&msg)) {
        vmm_log(vmm, LOG_WARNING, "twin socket: dropped %s id %u flags %#x",
                proto_cmd_name(msg.hdr.cmd), msg.hdr.msg_id, msg.hdr.flags);
        vmm_msg_free(vmm, &msg);
        return 0;
    }
    vmm_serve_cmd(vmm, &msg, VMM_CHAN_TWIN);
    return 1;
}

/*
 * Socket: one message from the main socket, waiting until @deadline and
 * serving the twin socket meanwhile (VMM_RECV_SERVED after each command
 * served there, so the caller sees the server is alive).
 */
static int
sock_recv(vmm_t *vmm, proto_msg_t *msg, int64_t deadline)
{
    for (;;) {
        int ready = sock_wait(vmm, deadline, -1);
        int rc;

        if (ready < 0) {
            return ready;
        }
        if (ready == 0) {
            return -ETIMEDOUT;
        }
        /* the twin first: the server may wait for that reply before ours */
        if ((ready & READY_TWIN) && twin_serve_one(vmm) > 0) {
            return VMM_RECV_SERVED;
        }
        if (!(ready & READY_MAIN)) {
            continue;
        }
        rc = sock_recv_on(vmm, vmm->fd, msg);
        if (rc != -EAGAIN) {
            return rc;
        }
    }
}

/*
 * In-process: take the next message the server queued.  -EAGAIN when the
 * queue is empty, -ENOTCONN when the server dropped us.
 */
static int
inproc_recv_one(vmm_t *vmm, proto_msg_t *msg)
{
    size_t len = vfu_ext_inproc_pending(vmm->ctx);
    size_t nr_fds = vmm->caps.max_msg_fds;
    int *fds = NULL;
    uint8_t *buf;
    ssize_t got;
    size_t i;
    int rc;

    if (len == 0 || len > proto_msg_max_size(&vmm->caps)) {
        size_t none = 0;

        /*
         * Nothing queued: the call tells EAGAIN from ENOTCONN.  Too big:
         * taking it with no room drops it and closes its fds, which is
         * what a socket does with an oversize message.
         */
        got = vfu_ext_inproc_recv(vmm->ctx, NULL, 0, NULL, &none);
        if (got < 0) {
            return errno == ENOTCONN ? -ENOTCONN : -EAGAIN;
        }
        vmm_log(vmm, LOG_WARNING, "dropped a %zd-byte message: too large",
                got);
        return -E2BIG;
    }
    buf = malloc(len);
    if (nr_fds > 0) {
        fds = calloc(nr_fds, sizeof(*fds));
    }
    if (buf == NULL || (nr_fds > 0 && fds == NULL)) {
        free(buf);
        free(fds);
        return -ENOMEM;
    }
    got = vfu_ext_inproc_recv(vmm->ctx, buf, len, fds, &nr_fds);
    if (got < 0) {
        rc = errno == ENOTCONN ? -ENOTCONN : -EAGAIN;
        free(buf);
        free(fds);
        return rc;
    }
    if (nr_fds > vmm->caps.max_msg_fds) {
        nr_fds = vmm->caps.max_msg_fds; /* a broken transport; be safe */
    }
    rc = (size_t)got == len ? proto_parse_buf(buf, len, msg, &vmm->caps)
                            : -EIO;
    free(buf);
    if (rc < 0) {
        for (i = 0; i < nr_fds; i++) {
            close(fds[i]);
        }
        free(fds);
        return rc;
    }
    if (nr_fds > 0) {
        msg->fds = fds;
        msg->nr_fds = nr_fds;
    } else {
        free(fds);
    }
    vmm_trace_msg(vmm, false, &msg->hdr, msg->body, msg->body_len, nr_fds);
    return 0;
}

/*
 * In-process: let the server run once.  Returns how many messages it
 * handled (0: none), or a negative errno.
 */
static int
inproc_step(vmm_t *vmm)
{
    int rc;

    if (!vmm->srv_attached) {
        if (vfu_attach_ctx(vmm->ctx) == 0) {
            vmm->srv_attached = true;
            return 1;
        }
        if (errno == EAGAIN) {
            return 0;
        }
        if (errno == EINVAL) {
            /* it refused the VERSION; its error reply may be queued */
            return 1;
        }
        return -errno;
    }
    rc = vfu_run_ctx(vmm->ctx);
    if (rc < 0) {
        return errno == ENOTCONN ? -ENOTCONN : -errno;
    }
    return rc;
}

static bool
stash_pop(vmm_t *vmm, proto_msg_t *msg)
{
    if (vmm->nr_stash == 0) {
        return false;
    }
    *msg = vmm->stash[vmm->stash_head];
    vmm->stash[vmm->stash_head] = (proto_msg_t)PROTO_MSG_INIT;
    vmm->stash_head = (vmm->stash_head + 1) % VMM_MAX_STASH;
    vmm->nr_stash--;
    return true;
}

static void
stash_push(vmm_t *vmm, proto_msg_t *msg)
{
    size_t tail;

    if (vmm->nr_stash == VMM_MAX_STASH) {
        vmm_log(vmm, LOG_WARNING, "dropped %s id %u: too many pending",
                proto_cmd_name(msg->hdr.cmd), msg->hdr.msg_id);
        vmm_msg_free(vmm, msg);
        return;
    }
    tail = (vmm->stash_head + vmm->nr_stash) % VMM_MAX_STASH;
    vmm->stash[tail] = *msg;
    vmm->nr_stash++;
    *msg = (proto_msg_t)PROTO_MSG_INIT;
}

/*
 * In-process: take the next queued message, running the server while the
 * queue is empty and the server makes progress.  Once it stops (handled
 * nothing, or failed), the queue gets one last look, since what it did
 * before failing may have queued a reply.
 */
static int
inproc_recv(vmm_t *vmm, proto_msg_t *msg)
{
    int steps = 0;
    int rc;

    for (;;) {
        rc = inproc_recv_one(vmm, msg);
        if (rc != -EAGAIN || vmm->in_pump) {
            return rc;
        }
        if (++steps > VMM_INPROC_MAX_STEPS) {
            return -EIO; /* a server that keeps busy but never answers */
        }
        rc = inproc_step(vmm);
        if (stash_pop(vmm, msg)) {
            return 0;
        }
        if (rc <= 0) {
            break;
        }
    }
    if (inproc_recv_one(vmm, msg) == 0) {
        return 0;
    }
    return rc == 0 ? -EAGAIN : rc;
}

int
vmm_recv_next(vmm_t *vmm, proto_msg_t *msg, int64_t deadline)
{
    int rc;

    *msg = (proto_msg_t)PROTO_MSG_INIT;
    if (stash_pop(vmm, msg)) {
        return 0;
    }
    if (!vmm->connected) {
        return -ENOTCONN;
    }
    rc = vmm->ctx == NULL ? sock_recv(vmm, msg, deadline)
                          : inproc_recv(vmm, msg);
    if (rc == -ENOTCONN || rc == -ECONNRESET) {
        vmm_mark_disconnected(vmm);
        return -ENOTCONN;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Transport: sending                                                  */
/* ------------------------------------------------------------------ */

/* Duplicates of @fds for a receiver that takes ownership. */
static int
dup_fds(const int *fds, size_t nr_fds, int **out)
{
    int *dups;
    size_t i;

    *out = NULL;
    if (nr_fds == 0) {
        return 0;
    }
    dups = calloc(nr_fds, sizeof(*dups));
    if (dups == NULL) {
        return -ENOMEM;
    }
    for (i = 0; i < nr_fds; i++) {
        dups[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
        if (dups[i] < 0) {
            int err = -errno;

            while (i-- > 0) {
                close(dups[i]);
            }
            free(dups);
            return err;
        }
    }
    *out = dups;
    return 0;
}

/* In-process: queue @len raw bytes; @fds stay the caller's. */
static int
inproc_send_buf(vmm_t *vmm, const void *buf, size_t len, const int *fds,
                size_t nr_fds)
{
    int *dups;
    int rc;

    rc = dup_fds(fds, nr_fds, &dups);
    if (rc < 0) {
        return rc;
    }
    /* the context owns the duplicates from here, even on failure */
    rc = vfu_ext_inproc_send(vmm->ctx, buf, len, dups, nr_fds) < 0 ? -errno
                                                                   : 0;
    free(dups);
    return rc;
}

/*
 * A send that ran out of time: the server stopped reading (it may be
 * flooding us with commands meanwhile).  Part of the message may be out,
 * so the stream is lost: the connection counts as broken, as after any
 * other fatal I/O error, and later calls say -ENOTCONN.
 */
static void
send_timed_out(vmm_t *vmm, const char *what)
{
    vmm_log(vmm, LOG_ERR, "%s: the server read nothing for %d ms, giving up",
            what, vmm->opts.timeout_ms);
    vmm->connected = false; /* not vmm_mark_disconnected(): no hang-up */
}

/* Send one message (header + @len bytes of @body); @fds are borrowed. */
static int
xport_send(vmm_t *vmm, const struct vfio_user_header *hdr, const void *body,
           size_t len, const int *fds, size_t nr_fds)
{
    int rc;

    if (!vmm->connected) {
        return -ENOTCONN;
    }
    vmm_trace_msg(vmm, true, hdr, body, len, nr_fds);
    if (vmm->ctx != NULL) {
        uint8_t *buf;

        if (len > SIZE_MAX - sizeof(*hdr)) {
            return -E2BIG;
        }
        buf = malloc(sizeof(*hdr) + len);
        if (buf == NULL) {
            return -ENOMEM;
        }
        memcpy(buf, hdr, sizeof(*hdr));
        if (len > 0) {
            memcpy(buf + sizeof(*hdr), body, len);
        }
        rc = inproc_send_buf(vmm, buf, sizeof(*hdr) + len, fds, nr_fds);
        free(buf);
    } else {
        struct iovec iov = {.iov_base = (void *)body, .iov_len = len};

        rc = proto_io_send(vmm->fd, hdr, &iov, len > 0 ? 1 : 0, fds, nr_fds,
                           vmm->opts.timeout_ms);
    }
    if (rc == -EPIPE || rc == -ECONNRESET || rc == -ENOTCONN) {
        vmm_mark_disconnected(vmm);
        return -ENOTCONN;
    }
    if (rc == -ETIMEDOUT) {
        send_timed_out(vmm, "main socket");
    }
    return rc;
}

/*
 * Socket: write @len arbitrary bytes, the fds with the first of them.
 * Like proto_io_send(), waits for room at most the reply timeout in all.
 */
static int
sock_send_bytes(vmm_t *vmm, const void *buf, size_t len, const int *fds,
                size_t nr_fds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * VMM_SCM_MAX_FD)];
        struct cmsghdr align;
    } ctl;
    int64_t deadline = vmm_now_ms() + vmm->opts.timeout_ms;
    size_t off = 0;

    if (nr_fds > VMM_SCM_MAX_FD || (nr_fds > 0 && len == 0)) {
        return -EINVAL;
    }
    while (off < len) {
        struct iovec iov = {.iov_base = (char *)buf + off,
                            .iov_len = len - off};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n;

        if (off == 0 && nr_fds > 0) {
            struct cmsghdr *c;

            memset(&ctl, 0, sizeof(ctl));
            mh.msg_control = ctl.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
            c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * nr_fds);
        }
        n = sendmsg(vmm->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            struct pollfd p = {.fd = vmm->fd, .events = POLLOUT};
            int64_t left = deadline - vmm_now_ms();

            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                return -errno;
            }
            if (left <= 0) {
                return -ETIMEDOUT;
            }
            if (poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left) < 0 &&
                errno != EINTR) {
                return -errno;
            }
            continue;
        }
        off += (size_t)n;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Server-initiated commands                                           */
/* ------------------------------------------------------------------ */

bool
vmm_is_command(const proto_msg_t *msg)
{
    return (msg->hdr.flags & VFIO_USER_F_TYPE_MASK) ==
           VFIO_USER_F_TYPE_COMMAND;
}

int
vmm_send_reply(vmm_t *vmm, enum vmm_chan chan,
               const struct vfio_user_header *hdr, const void *body,
               size_t len, const int *fds, size_t nr_fds)
{
    struct iovec iov = {.iov_base = (void *)body, .iov_len = len};
    int rc;

    if (chan == VMM_CHAN_MAIN) {
        return xport_send(vmm, hdr, body, len, fds, nr_fds);
    }
    if (vmm->twin_fd < 0) {
        return -ENOTCONN;
    }
    vmm_trace_msg(vmm, true, hdr, body, len, nr_fds);
    rc = proto_io_send(vmm->twin_fd, hdr, &iov, len > 0 ? 1 : 0, fds, nr_fds,
                       vmm->opts.timeout_ms);
    if (rc == -EPIPE || rc == -ECONNRESET || rc == -ENOTCONN) {
        vmm_log(vmm, LOG_WARNING, "twin socket closed: %s", strerror(-rc));
        twin_close(vmm);
        return -ENOTCONN;
    }
    if (rc == -ETIMEDOUT) {
        send_timed_out(vmm, "twin socket");
        twin_close(vmm);
    }
    return rc;
}

/*
 * Called by the in-process server while it waits for a reply to its own
 * command: serve whatever commands it queued, and set aside anything else
 * for the engine.  Never runs the server itself (it is on the stack).
 */
int
vmm_inproc_pump(void *arg)
{
    vmm_t *vmm = arg;
    bool was_in_pump = vmm->in_pump;
    int served = 0;

    vmm->in_pump = true;
    for (;;) {
        proto_msg_t msg = PROTO_MSG_INIT;
        int rc = inproc_recv_one(vmm, &msg);

        if (rc == -E2BIG) {
            continue;
        }
        if (rc < 0) {
            if (rc == -ENOTCONN) {
                vmm_mark_disconnected(vmm);
            }
            break;
        }
        if (vmm_is_command(&msg)) {
            vmm_serve_cmd(vmm, &msg, VMM_CHAN_MAIN);
            served++;
        } else {
            stash_push(vmm, &msg);
        }
    }
    vmm->in_pump = was_in_pump;
    return served > 0 ? 0 : -EAGAIN;
}

/* ------------------------------------------------------------------ */
/* The request/reply engine                                            */
/* ------------------------------------------------------------------ */

/*
 * Wait for the reply to @req.  Server commands that arrive meanwhile are
 * served; replies with other ids are logged and dropped.  With @validate
 * the reply goes through proto_check_reply().
 */
int
vmm_wait_reply(vmm_t *vmm, const proto_msg_t *req, proto_msg_t *reply,
           bool validate)
{
    int64_t deadline = vmm_now_ms() + vmm->opts.timeout_ms;

    *reply = (proto_msg_t)PROTO_MSG_INIT;
    for (;;) {
        proto_msg_t msg;
        int rc = vmm_recv_next(vmm, &msg, deadline);

        if (rc == -EAGAIN) {
            vmm_log(vmm, LOG_ERR, "server did not answer %s id %u",
                    proto_cmd_name(req->hdr.cmd), req->hdr.msg_id);
            return -EIO;
        }
        if (rc < 0) {
            return rc;
        }
        if (rc == VMM_RECV_SERVED || vmm_is_command(&msg)) {
            if (rc != VMM_RECV_SERVED) {
                vmm_serve_cmd(vmm, &msg, VMM_CHAN_MAIN);
            }
            /* the server is alive and talking: give the reply fresh time */
            deadline = vmm_now_ms() + vmm->opts.timeout_ms;
            continue;
        }
        if ((msg.hdr.flags & VFIO_USER_F_TYPE_MASK) !=
                VFIO_USER_F_TYPE_REPLY ||
            msg.hdr.msg_id != req->hdr.msg_id) {
            vmm_log(vmm, LOG_WARNING,
                    "dropped %s id %u flags %#x while waiting for id %u",
                    proto_cmd_name(msg.hdr.cmd), msg.hdr.msg_id,
                    msg.hdr.flags, req->hdr.msg_id);
            vmm_msg_free(vmm, &msg);
            continue;
        }
        if (validate) {
            rc = proto_check_reply(req, &msg, &vmm->caps);
            if (rc < 0) {
                if (!(msg.hdr.flags & VFIO_USER_F_ERROR)) {
                    vmm_log(vmm, LOG_WARNING, "invalid reply to %s id %u: %s",
                            proto_cmd_name(req->hdr.cmd), req->hdr.msg_id,
                            strerror(-rc));
                }
                vmm_msg_free(vmm, &msg);
                return rc;
            }
        }
        *reply = msg;
        return 0;
    }
}

/* Send a command built from @body; fills req->hdr with a fresh id. */
int
vmm_send_cmd(vmm_t *vmm, uint16_t cmd, const void *body, size_t len,
         const int *fds, size_t nr_fds, proto_msg_t *req)
{
    *req = (proto_msg_t)PROTO_MSG_INIT;
    if (!vmm->connected) {
        return -ENOTCONN;
    }
    if (len > UINT32_MAX - PROTO_HDR_SIZE) {
        return -E2BIG;
    }
    proto_hdr_cmd(&req->hdr, vmm->next_id++, cmd, len, false);
    /* the validators only read the request body */
    req->body = (uint8_t *)body;
    req->body_len = len;
    return xport_send(vmm, &req->hdr, body, len, fds, nr_fds);
}

int
vmm_request(vmm_t *vmm, uint16_t cmd, const void *body, size_t len,
            const int *fds, size_t nr_fds, proto_msg_t *reply)
{
    proto_msg_t req;
    int rc;

    *reply = (proto_msg_t)PROTO_MSG_INIT;
    if (nr_fds > vmm->pub_caps.max_msg_fds) {
        return -EINVAL;
    }
    rc = vmm_send_cmd(vmm, cmd, body, len, fds, nr_fds, &req);
    if (rc < 0) {
        return rc;
    }
    return vmm_wait_reply(vmm, &req, reply, true);
}

/* ------------------------------------------------------------------ */
/* Raw bytes and cleanup                                               */
/* ------------------------------------------------------------------ */

int
vmm_send_raw_bytes(vmm_t *vmm, const void *buf, size_t len, const int *fds,
                   size_t nr_fds)
{
    int rc;

    if (!vmm->connected) {
        return -ENOTCONN;
    }
    if (vmm->ctx != NULL) {
        rc = inproc_send_buf(vmm, buf, len, fds, nr_fds);
    } else {
        rc = sock_send_bytes(vmm, buf, len, fds, nr_fds);
    }
    if (rc == -EPIPE || rc == -ECONNRESET || rc == -ENOTCONN) {
        vmm_mark_disconnected(vmm);
        return -ENOTCONN;
    }
    if (rc == -ETIMEDOUT) {
        send_timed_out(vmm, "raw bytes");
    }
    return rc;
}

void
vmm_conn_cleanup(vmm_t *vmm)
{
    proto_msg_t msg;

    while (stash_pop(vmm, &msg)) {
        vmm_msg_free(vmm, &msg);
    }
    twin_close(vmm);
}

/* ------------------------------------------------------------------ */
/* Serving without waiting for a reply                                 */
/* ------------------------------------------------------------------ */

/* Serve @msg if it is a command; a reply nobody waits for is dropped. */
static int
serve_or_drop(vmm_t *vmm, proto_msg_t *msg)
{
    if (vmm_is_command(msg)) {
        vmm_serve_cmd(vmm, msg, VMM_CHAN_MAIN);
        return 1;
    }
    vmm_log(vmm, LOG_WARNING, "dropped %s id %u flags %#x: nobody waits",
            proto_cmd_name(msg->hdr.cmd), msg->hdr.msg_id, msg->hdr.flags);
    vmm_msg_free(vmm, msg);
    return 0;
}

/* In-process: run the server once, then serve what it queued. */
static int
inproc_serve_pending(vmm_t *vmm)
{
    int served = 0;
    int step;

    step = inproc_step(vmm);
    for (;;) {
        proto_msg_t msg = PROTO_MSG_INIT;
        int rc = stash_pop(vmm, &msg) ? 0 : inproc_recv_one(vmm, &msg);

        if (rc == -E2BIG) {
            continue;
        }
        if (rc < 0) {
            if (rc == -ENOTCONN) {
                step = rc;
            }
            break;
        }
        served += serve_or_drop(vmm, &msg);
    }
    if (step == -ENOTCONN) {
        vmm_mark_disconnected(vmm);
        return served > 0 ? served : -ENOTCONN;
    }
    return served;
}

/*
 * Socket: one message from the main socket, found readable.  Returns 1
 * if a command was served, 0 if not, -ENOTCONN when the server left.
 */
static int
main_serve_one(vmm_t *vmm)
{
    proto_msg_t msg = PROTO_MSG_INIT;
    int rc = sock_recv_on(vmm, vmm->fd, &msg);

    if (rc == 0) {
        return serve_or_drop(vmm, &msg);
    }
    if (rc == -EAGAIN) {
        return 0;
    }
    if (rc == -ENOTCONN || rc == -ECONNRESET || rc == -ETIMEDOUT ||
        rc == -ENOMEM) {
        /* after the last two the stream position is lost as well */
        vmm_mark_disconnected(vmm);
        return -ENOTCONN;
    }
    vmm_log(vmm, LOG_WARNING, "dropped a message: %s", strerror(-rc));
    return 0;
}

int
vmm_serve_pending(vmm_t *vmm, int64_t deadline, int extra_fd)
{
    unsigned rounds;
    int served = 0;
    int ready;

    if (!vmm->connected) {
        return -ENOTCONN;
    }
    if (vmm->ctx != NULL) {
        return inproc_serve_pending(vmm);
    }
    ready = sock_wait(vmm, deadline, extra_fd);
    for (rounds = 0; ready > 0 && rounds < VMM_MAX_SERVE_ROUNDS; rounds++) {
        int rc;

        if (ready & READY_TWIN) {
            served += twin_serve_one(vmm);
        }
        if (ready & READY_MAIN) {
            rc = main_serve_one(vmm);
            if (rc < 0) {
                return served > 0 ? served : rc;
            }
            served += rc;
        }
        if (!vmm->connected) {
            /* a reply could not be sent (the server stopped reading) */
            return served > 0 ? served : -ENOTCONN;
        }
        if (ready & READY_EXTRA) {
            break;
        }
        /* something came: take what else is there, without waiting */
        ready = sock_wait(vmm, 0, extra_fd);
    }
    if (ready < 0 && served == 0) {
        return ready;
    }
    return served;
}

VMM_EXPORT int
vmm_poll(vmm_t *vmm, int timeout_ms)
{
    if (vmm == NULL || timeout_ms < 0) {
        return -EINVAL;
    }
    return vmm_serve_pending(vmm, vmm_now_ms() + timeout_ms, -1);
}
