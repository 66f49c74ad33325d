/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * io.c - one message at a time over a stream: UNIX sockets (with fds as
 * SCM_RIGHTS) or pipes.
 *
 * Receiving never leaks an fd: every read on a socket goes through recvmsg
 * with a control buffer, so fds a peer attaches anywhere in a message are
 * collected, and on any error all of them are closed before returning.
 */

#define _GNU_SOURCE /* IOV_MAX, MSG_CMSG_CLOEXEC */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"

/* Room for the header iovec in front of the caller's ones. */
#define SEND_IOV_MAX (IOV_MAX - 1)
/* Chunk used to discard the body of a rejected message. */
#define DRAIN_CHUNK 4096

/* ------------------------------------------------------------------ */
/* Sending                                                             */
/* ------------------------------------------------------------------ */

static int
wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int n;

    for (;;) {
        n = poll(&p, 1, timeout_ms);
        if (n > 0) {
            return 0;
        }
        if (n == 0) {
            return -ETIMEDOUT;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

static int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait until @fd takes more bytes.  With @timeout_ms >= 0 all the waits
 * of one message share that budget, counted from the first of them
 * (*@deadline, ms on the monotonic clock, is set then): a peer that stops
 * reading costs at most @timeout_ms, however the message is split.
 */
static int
send_wait(int fd, int timeout_ms, int64_t *deadline)
{
    int64_t left;

    if (timeout_ms < 0) {
        return wait_fd(fd, POLLOUT, -1);
    }
    if (*deadline < 0) {
        *deadline = mono_ms() + timeout_ms;
    }
    left = *deadline - mono_ms();
    if (left <= 0) {
        return -ETIMEDOUT;
    }
    return wait_fd(fd, POLLOUT, left > INT_MAX ? INT_MAX : (int)left);
}

/* The fd blocks on writes (no O_NONBLOCK on its open file). */
static bool
fd_blocks(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl >= 0 && (fl & O_NONBLOCK) == 0;
}

/*
 * writev() on a pipe whose reader left raises SIGPIPE, which would kill
 * the process hosting the server.  Pipes have no MSG_NOSIGNAL, so SIGPIPE
 * is blocked in this thread around the write and a SIGPIPE it raised is
 * consumed before the old mask returns; the caller just sees EPIPE.
 */
static ssize_t
pipe_writev(int fd, const struct iovec *iov, int cnt)
{
    static const struct timespec zero = {0, 0};
    sigset_t pipe_set, old_set, pending;
    bool was_pending;
    ssize_t n;
    int saved;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set) != 0) {
        return writev(fd, iov, cnt);
    }
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending = sigismember(&pending, SIGPIPE) == 1;

    n = writev(fd, iov, cnt);
    saved = errno;
    if (n < 0 && saved == EPIPE && !was_pending) {
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    errno = saved;
    return n;
}

/* drop @n written bytes from the front of @iov[0..*cnt) */
static void
iov_advance(struct iovec **iov, int *cnt, size_t n)
{
    while (*cnt > 0 && n >= (*iov)->iov_len) {
        n -= (*iov)->iov_len;
        (*iov)++;
        (*cnt)--;
    }
    if (*cnt > 0 && n > 0) {
        (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
        (*iov)->iov_len -= n;
    }
}

/*
 * The header does not have to agree with the iovecs: the harness and the
 * fuzzers send malformed messages on purpose.  Fds ride on the first
 * sendmsg only, so a partial write never duplicates them.
 *
 * With a timeout, nothing may block in the kernel: sockets are written
 * with MSG_DONTWAIT whatever their O_NONBLOCK, and a blocking pipe (which
 * has no per-call flag) is polled before each write and given at most
 * PIPE_BUF bytes, which a pipe with room takes without blocking.
 */
int
proto_io_send(int fd, const struct vfio_user_header *hdr,
              const struct iovec *iov, size_t iovcnt, const int *fds,
              size_t nr_fds, int timeout_ms)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * PROTO_MAX_MSG_FDS_CEIL)];
    } ctl;
    struct iovec small[8];
    struct iovec *vec;
    struct iovec *cur;
    bool sock;
    bool pipe_waits = false; /* a blocking pipe with a timeout */
    int64_t deadline = -1;   /* set by the first wait */
    int cnt;
    size_t i;
    int ret = 0;

    if (hdr == NULL || (iovcnt > 0 && iov == NULL) ||
        iovcnt > SEND_IOV_MAX || (nr_fds > 0 && fds == NULL) ||
        nr_fds > PROTO_MAX_MSG_FDS_CEIL) {
        return -EINVAL;
    }
    for (i = 0; i < nr_fds; i++) {
        if (fds[i] < 0) {
            return -EBADF;
        }
    }
    sock = true; /* until sendmsg() says ENOTSOCK: no fstat() per message */

    if (iovcnt + 1 <= sizeof(small) / sizeof(small[0])) {
        vec = small; /* the common case: no allocation per message */
    } else {
        vec = calloc(iovcnt + 1, sizeof(*vec));
        if (vec == NULL) {
            return -ENOMEM;
        }
    }
    vec[0].iov_base = (void *)hdr;
    vec[0].iov_len = sizeof(*hdr);
    for (i = 0; i < iovcnt; i++) {
        vec[i + 1] = iov[i];
    }
    cur = vec;
    cnt = (int)iovcnt + 1;
    iov_advance(&cur, &cnt, 0);

    while (cnt > 0) {
        ssize_t n;

        if (sock) {
            struct msghdr mh = {.msg_iov = cur, .msg_iovlen = (size_t)cnt};

            if (nr_fds > 0) {
                size_t len = sizeof(int) * nr_fds;
                struct cmsghdr *c;

                memset(&ctl, 0, CMSG_SPACE(len));
                mh.msg_control = ctl.buf;
                mh.msg_controllen = CMSG_SPACE(len);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(len);
                memcpy(CMSG_DATA(c), fds, len);
            }
            n = sendmsg(fd, &mh,
                        MSG_NOSIGNAL | (timeout_ms >= 0 ? MSG_DONTWAIT : 0));
        } else if (pipe_waits) {
            struct iovec one = *cur;

            if (wait_fd(fd, POLLOUT, 0) < 0) {
                ret = send_wait(fd, timeout_ms, &deadline);
                if (ret < 0) {
                    break;
                }
            }
            if (one.iov_len > PIPE_BUF) {
                one.iov_len = PIPE_BUF;
            }
            n = pipe_writev(fd, &one, 1);
        } else {
            n = pipe_writev(fd, cur, cnt);
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == ENOTSOCK && sock) {
                if (nr_fds > 0) {
                    ret = -EINVAL; /* a pipe cannot carry fds */
                    break;
                }
                sock = false;
                pipe_waits = timeout_ms >= 0 && fd_blocks(fd);
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* finish the message, never half, or give up in time */
                ret = send_wait(fd, timeout_ms, &deadline);
                if (ret < 0) {
                    break;
                }
                continue;
            }
            ret = -errno;
            break;
        }
        nr_fds = 0; /* delivered with the first byte */
        iov_advance(&cur, &cnt, (size_t)n);
    }
    if (vec != small) {
        free(vec);
    }
    return ret;
}

/* ------------------------------------------------------------------ */
/* Receiving                                                           */
/* ------------------------------------------------------------------ */

/* State of one receive: where the fds go and when time runs out. */
struct rx {
    int fd;
    bool sock;
    size_t fd_limit;    /* fds the message may carry */
    int *fds;           /* fd_limit slots, not initialised */
    size_t nr_fds;
    bool fd_error;      /* too many fds, or control data truncated */
    bool started;       /* the first byte arrived */
    bool nonblock;
    int timeout_ms;
    struct timespec deadline;
};

static void
rx_close_fds(struct rx *rx)
{
    size_t i;

    for (i = 0; i < rx->nr_fds; i++) {
        close(rx->fds[i]);
    }
    rx->nr_fds = 0;
}

/* keep the fds of every SCM_RIGHTS block, closing those beyond the limit */
static void
rx_collect(struct rx *rx, struct msghdr *mh)
{
    struct cmsghdr *c;

    if ((mh->msg_flags & MSG_CTRUNC) != 0) {
        rx->fd_error = true;
    }
    for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
        size_t n, i;

        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
            c->cmsg_len < CMSG_LEN(0)) {
            continue;
        }
        n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < n; i++) {
            int got;

            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(got));
            if (rx->nr_fds < rx->fd_limit) {
                rx->fds[rx->nr_fds++] = got;
            } else {
                close(got);
                rx->fd_error = true;
            }
        }
    }
}

static void
deadline_start(struct rx *rx)
{
    clock_gettime(CLOCK_MONOTONIC, &rx->deadline);
    if (rx->timeout_ms >= 0) {
        rx->deadline.tv_sec += rx->timeout_ms / 1000;
        rx->deadline.tv_nsec += (long)(rx->timeout_ms % 1000) * 1000000L;
        if (rx->deadline.tv_nsec >= 1000000000L) {
            rx->deadline.tv_sec++;
            rx->deadline.tv_nsec -= 1000000000L;
        }
    }
}

/* ms left before the deadline (-1: none; 0: expired) */
static int
deadline_left(const struct rx *rx)
{
    struct timespec now;
    int64_t ms;

    if (rx->timeout_ms < 0) {
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (int64_t)(rx->deadline.tv_sec - now.tv_sec) * 1000 +
         (rx->deadline.tv_nsec - now.tv_nsec) / 1000000;
    if (ms <= 0) {
        return 0;
    }
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/*
 * One read of up to @len bytes: > 0 bytes read, 0 at EOF, or a negative
 * errno (-EAGAIN only in non-blocking mode before the first byte).
 *
 * The read is tried first and poll() is asked only when it would block, so
 * the common case — a whole message already queued — costs one system
 * call per read.  Whether @fd is a socket is learnt from the first
 * recvmsg() (ENOTSOCK on a pipe) rather than asked of fstat() every time.
 */
static ssize_t
rx_read_some(struct rx *rx, void *buf, size_t len)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * PROTO_MAX_MSG_FDS_CEIL)];
    } ctl;
    bool waited = false;

    for (;;) {
        ssize_t n;
        int ret;

        /*
         * A blocking wait for the first byte of a message blocks in the
         * read itself; once a message has started, every wait is bounded
         * by the deadline, so reads do not block.
         */
        bool block = !rx->started && !rx->nonblock;

        if (rx->sock) {
            struct iovec v = {.iov_base = buf, .iov_len = len};
            struct msghdr mh = {.msg_iov = &v, .msg_iovlen = 1};
            size_t room = rx->fd_limit > 0 ? rx->fd_limit : 1;

            mh.msg_control = ctl.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * room);
            n = recvmsg(rx->fd, &mh,
                        (block ? 0 : MSG_DONTWAIT) | MSG_CMSG_CLOEXEC);
            if (n >= 0) {
                rx_collect(rx, &mh);
            } else if (errno == ENOTSOCK) {
                rx->sock = false;
                continue;
            }
        } else if (block || waited) {
            n = read(rx->fd, buf, len);
        } else {
            /* a pipe has no MSG_DONTWAIT: ask poll whether read would block */
            n = -1;
            errno = EAGAIN;
        }
        if (n >= 0) {
            if (n > 0 && !rx->started) {
                rx->started = true;
                deadline_start(rx);
            }
            return n;
        }
        if (errno == EINTR) {
            if (block) {
                return -EINTR; /* a signal may be meant to stop the caller */
            }
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return -errno;
        }
        if (!rx->started && rx->nonblock) {
            if (!rx->sock && !waited) {
                /* pipe: see whether anything is there right now */
                ret = wait_fd(rx->fd, POLLIN, 0);
                if (ret == 0) {
                    waited = true;
                    continue;
                }
                return ret == -ETIMEDOUT ? -EAGAIN : ret;
            }
            return -EAGAIN;
        }
        /* would block: wait (bounded once the message has started) */
        {
            int left = rx->started ? deadline_left(rx) : -1;

            if (left == 0) {
                return -ETIMEDOUT;
            }
            ret = wait_fd(rx->fd, POLLIN, left);
            if (ret < 0) {
                return ret;
            }
            waited = true;
        }
    }
}

/*
 * Read exactly @len bytes.  EOF before anything of the message (the
 * header's first byte) is -ENOTCONN, afterwards -ECONNRESET.
 */
static int
rx_read_full(struct rx *rx, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = rx_read_some(rx, p, len);

        if (n == 0 || n == -ECONNRESET || n == -EPIPE) {
            return rx->started ? -ECONNRESET : -ENOTCONN;
        }
        if (n < 0) {
            return (int)n;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* discard @len bytes so the stream stays in step after a rejection */
static int
rx_drain(struct rx *rx, uint64_t len)
{
    uint8_t junk[DRAIN_CHUNK];

    while (len > 0) {
        size_t chunk = len > sizeof(junk) ? sizeof(junk) : (size_t)len;
        int ret = rx_read_full(rx, junk, chunk);

        if (ret < 0) {
            return ret;
        }
        len -= chunk;
    }
    return 0;
}

/*
 * A header whose type or flag bits are nonsense still has a usable size,
 * so its body is drained and the stream stays usable; one with msg_size
 * under 16 has no recoverable boundary at all.
 */
static bool
header_flags_ok(const struct vfio_user_header *hdr)
{
    const uint32_t known =
        VFIO_USER_F_TYPE_MASK | VFIO_USER_F_NO_REPLY | VFIO_USER_F_ERROR;
    uint32_t type = hdr->flags & VFIO_USER_F_TYPE_MASK;

    return (hdr->flags & ~known) == 0 &&
           (type == VFIO_USER_F_TYPE_COMMAND || type == VFIO_USER_F_TYPE_REPLY);
}

/*
 * proto_io_recv() and proto_io_recv_keep(): with @skip, a header whose size
 * is unacceptable is handed back instead of drained (see proto.h).
 */
static int
recv_msg(int fd, proto_msg_t *msg, const proto_caps_t *caps, bool nonblock,
         int timeout_ms, uint64_t max_size, uint64_t *skip)
{
    struct vfio_user_header hdr;
    /*
     * The fd slots are left uninitialised: zeroing 4 KiB per message was
     * most of the CPU time of a small round trip.
     */
    int fdbuf[PROTO_MAX_MSG_FDS_CEIL];
    struct rx rxs = {.fds = fdbuf};
    struct rx *rx = &rxs;
    uint64_t body_len;
    int ret;

    if (msg == NULL) {
        return -EINVAL;
    }
    memset(msg, 0, sizeof(*msg));
    if (caps == NULL || fd < 0) {
        return -EINVAL;
    }
    rx->fd = fd;
    rx->sock = true; /* until recvmsg() says ENOTSOCK */
    rx->fd_limit = caps->max_msg_fds > PROTO_MAX_MSG_FDS_CEIL
                       ? PROTO_MAX_MSG_FDS_CEIL
                       : caps->max_msg_fds;
    rx->nonblock = nonblock;
    rx->timeout_ms = timeout_ms;

    ret = rx_read_full(rx, &hdr, sizeof(hdr));
    if (ret < 0) {
        goto fail;
    }
    if (max_size == 0 || max_size > proto_msg_max_size(caps)) {
        max_size = proto_msg_max_size(caps);
    }
    if (skip != NULL &&
        (hdr.msg_size < PROTO_HDR_SIZE || hdr.msg_size > max_size)) {
        rx_close_fds(rx);
        *skip = hdr.msg_size < PROTO_HDR_SIZE ? 0
                                              : hdr.msg_size - PROTO_HDR_SIZE;
        msg->hdr = hdr;
        return -EBADMSG;
    }
    if (hdr.msg_size < PROTO_HDR_SIZE) {
        ret = -EINVAL;
        goto fail;
    }
    body_len = hdr.msg_size - PROTO_HDR_SIZE;
    if (hdr.msg_size > proto_msg_max_size(caps)) {
        ret = rx_drain(rx, body_len);
        ret = ret < 0 ? ret : -E2BIG;
        goto fail;
    }
    if (!header_flags_ok(&hdr)) {
        ret = rx_drain(rx, body_len);
        ret = ret < 0 ? ret : -EINVAL;
        goto fail;
    }
    if (body_len > 0) {
        msg->body = malloc(body_len);
        if (msg->body == NULL) {
            ret = rx_drain(rx, body_len);
            ret = ret < 0 ? ret : -ENOMEM;
            goto fail;
        }
        ret = rx_read_full(rx, msg->body, body_len);
        if (ret < 0) {
            goto fail;
        }
    }
    if (rx->fd_error) {
        ret = -EINVAL;
        goto fail;
    }
    if (rx->nr_fds > 0) {
        msg->fds = malloc(rx->nr_fds * sizeof(int));
        if (msg->fds == NULL) {
            ret = -ENOMEM;
            goto fail;
        }
        memcpy(msg->fds, rx->fds, rx->nr_fds * sizeof(int));
        msg->nr_fds = rx->nr_fds;
    }
    msg->hdr = hdr;
    msg->body_len = body_len;
    return 0;

fail:
    rx_close_fds(rx);
    free(msg->body);
    memset(msg, 0, sizeof(*msg));
    return ret;
}

int
proto_io_recv(int fd, proto_msg_t *msg, const proto_caps_t *caps,
              bool nonblock, int timeout_ms)
{
    return recv_msg(fd, msg, caps, nonblock, timeout_ms, 0, NULL);
}

int
proto_io_recv_keep(int fd, proto_msg_t *msg, const proto_caps_t *caps,
                   bool nonblock, int timeout_ms, uint64_t max_size,
                   uint64_t *skip)
{
    if (skip == NULL) {
        return -EINVAL;
    }
    *skip = 0;
    return recv_msg(fd, msg, caps, nonblock, timeout_ms, max_size, skip);
}

int
proto_io_skip(int fd, uint64_t *skip)
{
    uint8_t junk[DRAIN_CHUNK];

    while (*skip > 0) {
        size_t chunk = *skip > sizeof(junk) ? sizeof(junk) : (size_t)*skip;
        ssize_t n = recv(fd, junk, chunk, MSG_DONTWAIT);

        if (n < 0 && errno == ENOTSOCK) {
            struct pollfd p = {.fd = fd, .events = POLLIN};

            if (poll(&p, 1, 0) <= 0) {
                return -EAGAIN;
            }
            n = read(fd, junk, chunk);
        }
        if (n == 0) {
            return -ENOTCONN;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
        *skip -= (uint64_t)n;
    }
    return 0;
}
