/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rec_io.c - the recorder's message I/O: receive one message of any shape
 * with its fds, and forward it unchanged.
 *
 * Well-framed messages go through proto_io_recv() like everywhere else.
 * The proxy must also carry what proto_io_recv() refuses (a scenario has
 * to be able to reproduce bad input), so it first peeks at the header:
 * a size under 16 or over the limit, or unknown flag or type bits, take
 * a byte-level path that keeps the header as sent.  Nothing is parsed
 * beyond the 16-byte frame here; the session decides what a message
 * means.  Every buffer is bounded: a message over the limit is streamed
 * through in chunks and only its header is kept.
 */

#define _GNU_SOURCE /* MSG_CMSG_CLOEXEC, POLLRDHUP */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness/rec.h"

/* The kernel's SCM_RIGHTS limit per message. */
#define RAW_MAX_FDS 253
/* How long a partial header may sit before the byte path takes over. */
#define PEEK_WAIT_MS 50
/* Chunk of an oversized body streamed through. */
#define STREAM_CHUNK 65536u

/* Limits the proxy receives with: the protocol's ceilings. */
static void
proxy_caps(proto_caps_t *caps)
{
    proto_caps_default(caps);
    caps->max_msg_fds = PROTO_MAX_MSG_FDS_CEIL;
    caps->max_data_xfer_size = PROTO_MAX_DATA_XFER_CEIL;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ms left until @deadline, at least 0 (timeouts below 0 mean none) */
static int
left_ms(int64_t deadline)
{
    int64_t d = deadline - now_ms();

    if (d <= 0) {
        return 0;
    }
    return d > INT_MAX ? INT_MAX : (int)d;
}

/* what proto_io_recv() takes: the same checks as its own */
static bool
frame_ok(const struct vfio_user_header *hdr, uint64_t limit)
{
    const uint32_t known =
        VFIO_USER_F_TYPE_MASK | VFIO_USER_F_NO_REPLY | VFIO_USER_F_ERROR;
    uint32_t type = hdr->flags & VFIO_USER_F_TYPE_MASK;

    return hdr->msg_size >= PROTO_HDR_SIZE && hdr->msg_size <= limit &&
           (hdr->flags & ~known) == 0 &&
           (type == VFIO_USER_F_TYPE_COMMAND || type == VFIO_USER_F_TYPE_REPLY);
}

/*
 * Peek at the next header without taking it (fds stay queued: a peek
 * without a control buffer does not receive them).  Returns 0, -ENOTCONN
 * at end of stream, -EAGAIN when fewer than 16 bytes can be peeked for a
 * while (the byte path then reads the header itself), or another errno.
 */
static int
peek_header(int fd, struct vfio_user_header *hdr)
{
    int64_t deadline = now_ms() + PEEK_WAIT_MS;
    const struct timespec nap = {0, 1000 * 1000};

    for (;;) {
        ssize_t n = recv(fd, hdr, sizeof(*hdr), MSG_PEEK | MSG_DONTWAIT);

        if (n == (ssize_t)sizeof(*hdr)) {
            return 0;
        }
        if (n == 0) {
            return -ENOTCONN;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            return errno == ENOTSOCK ? -EAGAIN : -errno;
        }
        if (left_ms(deadline) == 0) {
            return -EAGAIN;
        }
        nanosleep(&nap, NULL);
    }
}

/* ------------------------------------------------------------------ */
/* The byte path                                                       */
/* ------------------------------------------------------------------ */

typedef struct rawrx {
    int fd;
    int fds[RAW_MAX_FDS];
    size_t nr_fds;
    bool started;
    int64_t deadline;
    int timeout_ms;
} rawrx_t;

static void
raw_collect(rawrx_t *rx, struct msghdr *mh)
{
    struct cmsghdr *c;

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
            if (rx->nr_fds < RAW_MAX_FDS) {
                rx->fds[rx->nr_fds++] = got;
            } else {
                close(got);
            }
        }
    }
}

/* read exactly @len bytes (or -ENOTCONN/-ECONNRESET/-ETIMEDOUT) */
static int
raw_read(rawrx_t *rx, void *buf, size_t len)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * RAW_MAX_FDS)];
    } ctl;
    uint8_t *p = buf;

    while (len > 0) {
        struct iovec v = {.iov_base = p, .iov_len = len};
        struct msghdr mh = {.msg_iov = &v, .msg_iovlen = 1};
        ssize_t n;

        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        n = recvmsg(rx->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == ENOTSOCK) {
            n = read(rx->fd, p, len);
        } else if (n >= 0) {
            raw_collect(rx, &mh);
        }
        if (n == 0) {
            return rx->started ? -ECONNRESET : -ENOTCONN;
        }
        if (n > 0) {
            if (!rx->started) {
                rx->started = true;
                rx->deadline = now_ms() + rx->timeout_ms;
            }
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return errno == ECONNRESET || errno == EPIPE ? -ECONNRESET
                                                         : -errno;
        }
        {
            struct pollfd pf = {.fd = rx->fd, .events = POLLIN};
            int wait = rx->started ? left_ms(rx->deadline) : rx->timeout_ms;
            int rc;

            if (rx->started && wait == 0) {
                return -ETIMEDOUT;
            }
            rc = poll(&pf, 1, wait);
            if (rc == 0) {
                return -ETIMEDOUT;
            }
            if (rc < 0 && errno != EINTR) {
                return -errno;
            }
        }
    }
    return 0;
}

static void
raw_close_fds(rawrx_t *rx)
{
    size_t i;

    for (i = 0; i < rx->nr_fds; i++) {
        close(rx->fds[i]);
    }
    rx->nr_fds = 0;
}

static int
raw_recv(int fd, rec_msg_t *msg, uint64_t limit, int timeout_ms)
{
    rawrx_t *rx;
    proto_msg_t *m = &msg->m;
    int rc;

    rx = calloc(1, sizeof(*rx));
    if (rx == NULL) {
        return -ENOMEM;
    }
    rx->fd = fd;
    rx->timeout_ms = timeout_ms;
    rc = raw_read(rx, &m->hdr, sizeof(m->hdr));
    if (rc < 0) {
        goto fail;
    }
    msg->bad_frame = !frame_ok(&m->hdr, limit);
    if (m->hdr.msg_size > limit) {
        msg->stream_left = m->hdr.msg_size - PROTO_HDR_SIZE;
    } else if (m->hdr.msg_size > PROTO_HDR_SIZE) {
        m->body_len = m->hdr.msg_size - PROTO_HDR_SIZE;
        m->body = malloc(m->body_len);
        if (m->body == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        rc = raw_read(rx, m->body, m->body_len);
        if (rc < 0) {
            goto fail;
        }
    }
    if (rx->nr_fds > 0) {
        m->fds = malloc(rx->nr_fds * sizeof(int));
        if (m->fds == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        memcpy(m->fds, rx->fds, rx->nr_fds * sizeof(int));
        m->nr_fds = rx->nr_fds;
    }
    free(rx);
    return 0;

fail:
    raw_close_fds(rx);
    free(rx);
    free(m->body);
    memset(msg, 0, sizeof(*msg));
    return rc;
}

/* ------------------------------------------------------------------ */
/* API                                                                 */
/* ------------------------------------------------------------------ */

int
rec_io_recv(int fd, rec_msg_t *msg, int timeout_ms)
{
    struct vfio_user_header hdr;
    proto_caps_t caps;
    uint64_t limit;
    int rc;

    memset(msg, 0, sizeof(*msg));
    proxy_caps(&caps);
    limit = proto_msg_max_size(&caps);
    rc = peek_header(fd, &hdr);
    if (rc == 0 && frame_ok(&hdr, limit)) {
        rc = proto_io_recv(fd, &msg->m, &caps, true, timeout_ms);
        return rc == -EAGAIN ? -ETIMEDOUT : rc;
    }
    if (rc < 0 && rc != -EAGAIN) {
        return rc;
    }
    return raw_recv(fd, msg, limit, timeout_ms);
}

/* write all of @len bytes, polling for room up to @timeout_ms each time */
static int
write_all(int fd, const uint8_t *p, size_t len, int timeout_ms)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && errno == ENOTSOCK) {
            n = write(fd, p, len);
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};

            if (poll(&pf, 1, timeout_ms) <= 0) {
                return -ETIMEDOUT;
            }
            continue;
        }
        return n < 0 ? -errno : -EIO;
    }
    return 0;
}

int
rec_io_forward(int to, int from, rec_msg_t *msg, int timeout_ms)
{
    struct iovec iov = {.iov_base = msg->m.body, .iov_len = msg->m.body_len};
    int fds[RAW_MAX_FDS];
    uint8_t *buf;
    size_t nr = 0;
    size_t i;
    int rc;

    /* slots the session emptied (fds it kept) are not sent */
    for (i = 0; i < msg->m.nr_fds && nr < RAW_MAX_FDS; i++) {
        if (msg->m.fds[i] >= 0) {
            fds[nr++] = msg->m.fds[i];
        }
    }
    rc = proto_io_send(to, &msg->m.hdr, msg->m.body_len > 0 ? &iov : NULL,
                       msg->m.body_len > 0 ? 1 : 0, fds, nr, timeout_ms);
    if (rc < 0) {
        return rc;
    }
    if (msg->stream_left == 0) {
        return 0;
    }
    buf = malloc(STREAM_CHUNK);
    if (buf == NULL) {
        return -ENOMEM;
    }
    while (msg->stream_left > 0 && rc == 0) {
        size_t want = msg->stream_left < STREAM_CHUNK
                          ? (size_t)msg->stream_left
                          : STREAM_CHUNK;
        ssize_t n = recv(from, buf, want, MSG_DONTWAIT);

        if (n < 0 && errno == ENOTSOCK) {
            n = read(from, buf, want);
        }
        if (n > 0) {
            rc = write_all(to, buf, (size_t)n, timeout_ms);
            msg->stream_left -= (uint64_t)n;
        } else if (n == 0) {
            rc = -ECONNRESET;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd pf = {.fd = from, .events = POLLIN};

            rc = poll(&pf, 1, timeout_ms) > 0 ? 0 : -ETIMEDOUT;
        } else if (errno != EINTR) {
            rc = -errno;
        }
    }
    free(buf);
    return rc;
}

void
rec_msg_free(rec_msg_t *msg)
{
    if (msg == NULL) {
        return;
    }
    proto_msg_free(&msg->m);
    memset(msg, 0, sizeof(*msg));
}

void
rec_fd_classify(int fd, rec_fdinfo_t *info)
{
    char path[64];
    char target[64];
    struct stat st;
    ssize_t n;

    info->kind = REC_FD_OTHER;
    info->size = 0;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, target, sizeof(target) - 1);
    if (n > 0) {
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[eventfd]") == 0) {
            info->kind = REC_FD_EVENTFD;
            return;
        }
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0) {
        info->kind = REC_FD_MEMFD;
        info->size = (uint64_t)st.st_size;
    }
}
