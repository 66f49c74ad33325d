/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tran_inproc.c - the in-process transport (VFU_TRANS_EXT_INPROC): a fake
 * VMM in the same process and thread exchanges whole messages with the
 * context through two FIFO queues, with no socket in between.
 *
 * The client queues a request (vfu_ext_inproc_send), runs the server
 * (vfu_run_ctx, which never blocks here) and takes the reply
 * (vfu_ext_inproc_recv).  When the server needs the client's help in the
 * middle of a request (DMA_READ/WRITE), it calls the client's pump
 * callback until the reply shows up.  Message order is fully determined
 * by the calls, which makes runs reproducible.  The poll fd (an eventfd)
 * is readable while the server has work, from the first
 * vfu_get_poll_fd() on.
 */

#define _GNU_SOURCE /* F_DUPFD_CLOEXEC */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <unistd.h>

#include "private.h"

/* Queue bounds: a runaway peer gets ENOMEM instead of eating memory. */
#define INPROC_MAX_MSGS 1024u
#define INPROC_MAX_MSG_BYTES                                                   \
    ((size_t)PROTO_HDR_SIZE + PROTO_MAX_DATA_XFER_CEIL + PROTO_MSG_OVERHEAD)
#define INPROC_MAX_QUEUE_BYTES ((size_t)256 << 20)
/* Pump rounds recv_reply tries before giving up on a reply. */
#define INPROC_MAX_PUMPS 4096

/* One whole message as the peer wrote it, plus the fds that travel with it. */
struct inproc_msg {
    struct inproc_msg *next;
    int *fds;
    size_t nr_fds;
    size_t len;
    uint8_t data[];
};

struct inproc_queue {
    struct inproc_msg *head;
    struct inproc_msg *tail;
    size_t count;
    size_t bytes;
};

/*
 * The connection works like a socket pair: either end may go away first,
 * and what the server sent before it hung up can still be read.
 */
enum inproc_state {
    INPROC_IDLE,        /* no client */
    INPROC_OPEN,        /* connected */
    INPROC_CLIENT_GONE, /* client hung up; the server has not noticed yet */
    INPROC_SERVER_GONE, /* server dropped the client, who may drain replies */
};

struct tran_inproc {
    struct inproc_queue c2s;
    struct inproc_queue s2c;
    int efd; /* readable while c2s holds a message or the client left */
    bool efd_set;
    /*
     * Someone asked for the poll fd.  Until then nobody can be waiting on
     * it, so its level is not kept: two syscalls per message saved for
     * the in-process client, which runs the server itself.
     */
    bool efd_watched;
    enum inproc_state state;
    vfu_ext_inproc_pump_cb_t *pump;
    void *pump_arg;
};

static void
close_fds(int *fds, size_t nr_fds)
{
    size_t i;

    for (i = 0; fds != NULL && i < nr_fds; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
}

static void
msg_free(struct inproc_msg *m)
{
    if (m != NULL) {
        close_fds(m->fds, m->nr_fds);
        free(m->fds);
        free(m);
    }
}

static bool
queue_has_room(const struct inproc_queue *q, size_t len)
{
    return q->count < INPROC_MAX_MSGS &&
           len <= INPROC_MAX_QUEUE_BYTES - q->bytes;
}

static void
queue_push(struct inproc_queue *q, struct inproc_msg *m)
{
    m->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = m;
    } else {
        q->head = m;
    }
    q->tail = m;
    q->count++;
    q->bytes += m->len;
}

/* unlink @m, which follows @prev (NULL: @m is the head) */
static void
queue_unlink(struct inproc_queue *q, struct inproc_msg *prev,
             struct inproc_msg *m)
{
    if (prev == NULL) {
        q->head = m->next;
    } else {
        prev->next = m->next;
    }
    if (q->tail == m) {
        q->tail = prev;
    }
    m->next = NULL;
    q->count--;
    q->bytes -= m->len;
}

static struct inproc_msg *
queue_pop(struct inproc_queue *q)
{
    struct inproc_msg *m = q->head;

    if (m != NULL) {
        queue_unlink(q, NULL, m);
    }
    return m;
}

static void
queue_flush(struct inproc_queue *q)
{
    struct inproc_msg *m;

    while ((m = queue_pop(q)) != NULL) {
        msg_free(m);
    }
}

/* Keep the eventfd readable exactly while the server has something to do. */
static void
update_efd(struct tran_inproc *ti)
{
    bool want = ti->state == INPROC_CLIENT_GONE ||
                (ti->state == INPROC_OPEN && ti->c2s.count > 0);
    uint64_t v = 1;

    if (ti->efd < 0 || !ti->efd_watched || want == ti->efd_set) {
        return;
    }
    if (want) {
        if (write(ti->efd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
            ti->efd_set = true;
        }
    } else {
        if (read(ti->efd, &v, sizeof(v)) == (ssize_t)sizeof(v) ||
            errno == EAGAIN) {
            ti->efd_set = false;
        }
    }
}

static struct tran_inproc *
inproc_of(vfu_ctx_t *ctx)
{
    if (ctx == NULL || ctx->trans != VFU_TRANS_EXT_INPROC) {
        return NULL;
    }
    return ctx->tran_data;
}

/* Turn a queued message into a proto_msg_t; the fds move with it. */
static int
to_proto_msg(vfu_ctx_t *ctx, struct inproc_msg *m, proto_msg_t *msg)
{
    struct iovec iov;
    int rc;

    rc = proto_parse_buf(m->data, m->len, msg, &ctx->recv_caps);
    if (rc < 0) {
        vfu_log(ctx, LOG_ERR, "in-process message of %zu bytes is malformed",
                m->len);
        msg_free(m);
        return rc;
    }
    msg->fds = m->fds;
    msg->nr_fds = m->nr_fds;
    m->fds = NULL;
    m->nr_fds = 0;
    msg_free(m);
    iov.iov_base = msg->body;
    iov.iov_len = msg->body_len;
    vfu_trace_msg(ctx, false, &msg->hdr, &iov, 1, msg->nr_fds);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Transport operations (the server side)                              */
/* ------------------------------------------------------------------ */

static int
inproc_init(vfu_ctx_t *ctx)
{
    struct tran_inproc *ti = calloc(1, sizeof(*ti));

    if (ti == NULL) {
        return -ENOMEM;
    }
    ti->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ti->efd < 0) {
        int err = errno;

        free(ti);
        return -err;
    }
    ti->state = INPROC_IDLE;
    ctx->tran_data = ti;
    return 0;
}

static int
inproc_attach(vfu_ctx_t *ctx)
{
    struct tran_inproc *ti = ctx->tran_data;

    if (ti == NULL) {
        return -EINVAL;
    }
    /* nothing ever blocks here: no client yet is simply "try again" */
    if (ti->state != INPROC_OPEN && ti->state != INPROC_CLIENT_GONE) {
        return -EAGAIN;
    }
    return 0;
}

static int
inproc_get_poll_fd(vfu_ctx_t *ctx)
{
    struct tran_inproc *ti = ctx->tran_data;

    if (ti == NULL) {
        return -EINVAL;
    }
    ti->efd_watched = true;
    update_efd(ti); /* from now on its level is kept */
    return ti->efd;
}

static int
inproc_recv(vfu_ctx_t *ctx, proto_msg_t *msg, bool nonblock)
{
    struct tran_inproc *ti = ctx->tran_data;
    struct inproc_msg *m;
    int rc;

    (void)nonblock; /* the client runs in our thread: waiting would hang */
    if (ti == NULL || ti->state != INPROC_OPEN) {
        return -ENOTCONN;
    }
    m = queue_pop(&ti->c2s);
    if (m == NULL) {
        update_efd(ti);
        return -EAGAIN;
    }
    rc = to_proto_msg(ctx, m, msg);
    update_efd(ti);
    return rc;
}

/* Copy a message into the server-to-client queue, duplicating its fds. */
static int
queue_out(vfu_ctx_t *ctx, struct tran_inproc *ti,
          const struct vfio_user_header *hdr, const struct iovec *iov,
          size_t iovcnt, const int *fds, size_t nr_fds)
{
    struct inproc_msg *m;
    size_t len = sizeof(*hdr);
    size_t off;
    size_t i;

    if (ti->state != INPROC_OPEN) {
        return -ENOTCONN;
    }
    for (i = 0; i < iovcnt; i++) {
        if (__builtin_add_overflow(len, iov[i].iov_len, &len)) {
            return -E2BIG;
        }
    }
    if (len > INPROC_MAX_MSG_BYTES || nr_fds > PROTO_MAX_MSG_FDS_CEIL) {
        return -E2BIG;
    }
    if (!queue_has_room(&ti->s2c, len)) {
        vfu_log(ctx, LOG_ERR, "in-process client is not reading its replies");
        return -ENOBUFS;
    }
    m = calloc(1, sizeof(*m) + len);
    if (m == NULL) {
        return -ENOMEM;
    }
    m->len = len;
    memcpy(m->data, hdr, sizeof(*hdr));
    off = sizeof(*hdr);
    for (i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > 0) {
            memcpy(m->data + off, iov[i].iov_base, iov[i].iov_len);
            off += iov[i].iov_len;
        }
    }
    if (nr_fds > 0) {
        /* the caller keeps its fds, as with SCM_RIGHTS */
        m->fds = malloc(nr_fds * sizeof(int));
        if (m->fds == NULL) {
            free(m);
            return -ENOMEM;
        }
        for (i = 0; i < nr_fds; i++) {
            m->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
            if (m->fds[i] < 0) {
                int err = errno;

                m->nr_fds = i;
                msg_free(m);
                return -err;
            }
        }
        m->nr_fds = nr_fds;
    }
    vfu_trace_msg(ctx, true, hdr, iov, iovcnt, nr_fds);
    queue_push(&ti->s2c, m);
    return 0;
}

static int
inproc_send(vfu_ctx_t *ctx, const struct vfio_user_header *hdr,
            const struct iovec *iov, size_t iovcnt, const int *fds,
            size_t nr_fds)
{
    struct tran_inproc *ti = ctx->tran_data;

    if (ti == NULL) {
        return -ENOTCONN;
    }
    return queue_out(ctx, ti, hdr, iov, iovcnt, fds, nr_fds);
}

static int
inproc_send_cmd(vfu_ctx_t *ctx, const struct vfio_user_header *hdr,
                const struct iovec *iov, size_t iovcnt)
{
    return inproc_send(ctx, hdr, iov, iovcnt, NULL, 0);
}

/* Take the first reply in the client's queue, leaving its commands. */
static struct inproc_msg *
take_reply(struct tran_inproc *ti)
{
    struct inproc_msg *prev = NULL;
    struct inproc_msg *m;

    for (m = ti->c2s.head; m != NULL; prev = m, m = m->next) {
        struct vfio_user_header h;

        if (m->len < sizeof(h)) {
            continue;
        }
        memcpy(&h, m->data, sizeof(h));
        if ((h.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_REPLY) {
            queue_unlink(&ti->c2s, prev, m);
            return m;
        }
    }
    return NULL;
}

/*
 * The client answers DMA_READ/WRITE from its pump callback, in our thread.
 * Commands it queued earlier stay queued (served after this request), so
 * only a reply is taken.  No progress from the pump means no reply will
 * ever come: -ETIMEDOUT, as a socket peer that stays silent.
 */
static int
inproc_recv_reply(vfu_ctx_t *ctx, proto_msg_t *msg)
{
    struct tran_inproc *ti = ctx->tran_data;
    int i;

    if (ti == NULL) {
        return -ENOTCONN;
    }
    for (i = 0; i <= INPROC_MAX_PUMPS; i++) {
        struct inproc_msg *m;

        if (ti->state != INPROC_OPEN) {
            return -ENOTCONN;
        }
        m = take_reply(ti);
        if (m != NULL) {
            int rc = to_proto_msg(ctx, m, msg);

            update_efd(ti);
            return rc;
        }
        if (ti->pump == NULL || i == INPROC_MAX_PUMPS ||
            ti->pump(ti->pump_arg) < 0) {
            /* one last look: the pump may have queued it and then failed */
            m = ti->state == INPROC_OPEN ? take_reply(ti) : NULL;
            if (m != NULL) {
                int rc = to_proto_msg(ctx, m, msg);

                update_efd(ti);
                return rc;
            }
            update_efd(ti);
            return ti->state == INPROC_OPEN ? -ETIMEDOUT : -ENOTCONN;
        }
    }
    return -ETIMEDOUT;
}

static void
inproc_detach(vfu_ctx_t *ctx)
{
    struct tran_inproc *ti = ctx->tran_data;

    if (ti == NULL) {
        return;
    }
    queue_flush(&ti->c2s);
    ti->pump = NULL;
    ti->pump_arg = NULL;
    if (ti->state == INPROC_OPEN) {
        /* replies already queued stay readable, like a closed socket's */
        ti->state = INPROC_SERVER_GONE;
    } else if (ti->state == INPROC_CLIENT_GONE) {
        queue_flush(&ti->s2c);
        ti->state = INPROC_IDLE;
    }
    update_efd(ti);
}

static void
inproc_fini(vfu_ctx_t *ctx)
{
    struct tran_inproc *ti = ctx->tran_data;

    if (ti == NULL) {
        return;
    }
    queue_flush(&ti->c2s);
    queue_flush(&ti->s2c);
    if (ti->efd >= 0) {
        close(ti->efd);
    }
    free(ti);
    ctx->tran_data = NULL;
}

const struct tran_ops vfu_tran_inproc_ops = {
    .name = "inproc",
    .init = inproc_init,
    .attach = inproc_attach,
    .get_poll_fd = inproc_get_poll_fd,
    .recv = inproc_recv,
    .send = inproc_send,
    .recv_reply = inproc_recv_reply,
    .send_cmd = inproc_send_cmd,
    .twin_socket = NULL, /* replies are already found by type */
    .detach = inproc_detach,
    .fini = inproc_fini,
};

/* ------------------------------------------------------------------ */
/* The client side (public vfu_ext_inproc_* API)                       */
/* ------------------------------------------------------------------ */

VFU_EXPORT int
vfu_ext_inproc_connect(vfu_ctx_t *vfu_ctx, vfu_ext_inproc_pump_cb_t *pump,
                       void *pump_arg)
{
    struct tran_inproc *ti = inproc_of(vfu_ctx);

    if (ti == NULL) {
        return vfu_err(-EINVAL);
    }
    switch (ti->state) {
    case INPROC_OPEN:
        return vfu_err(-EISCONN);
    case INPROC_CLIENT_GONE:
        /*
         * The server has not noticed the last client leave yet (it would
         * in its next vfu_run_ctx()).  Both run in this thread, so do now
         * what that call would: clean up after the old client.  Only a
         * device still quiescing (EBUSY) keeps the old connection.
         */
        if (vfu_client_gone(vfu_ctx) == -EBUSY) {
            return vfu_err(-EISCONN);
        }
        break;
    case INPROC_SERVER_GONE:
    case INPROC_IDLE:
        break;
    }
    queue_flush(&ti->s2c); /* leftovers of an earlier connection */
    queue_flush(&ti->c2s);
    ti->state = INPROC_OPEN;
    ti->pump = pump;
    ti->pump_arg = pump_arg;
    update_efd(ti);
    return 0;
}

VFU_EXPORT void
vfu_ext_inproc_disconnect(vfu_ctx_t *vfu_ctx)
{
    struct tran_inproc *ti = inproc_of(vfu_ctx);

    if (ti == NULL) {
        return;
    }
    queue_flush(&ti->c2s);
    queue_flush(&ti->s2c);
    ti->pump = NULL;
    ti->pump_arg = NULL;
    if (ti->state == INPROC_OPEN) {
        ti->state = INPROC_CLIENT_GONE; /* the server's next recv: ENOTCONN */
    } else if (ti->state == INPROC_SERVER_GONE) {
        ti->state = INPROC_IDLE;
    }
    update_efd(ti);
}

VFU_EXPORT int
vfu_ext_inproc_send(vfu_ctx_t *vfu_ctx, const void *msg, size_t len,
                    const int *fds, size_t nr_fds)
{
    struct tran_inproc *ti = inproc_of(vfu_ctx);
    struct inproc_msg *m;
    int rc;

    if (ti == NULL || (nr_fds > 0 && fds == NULL)) {
        rc = -EINVAL;
        goto fail;
    }
    if (ti->state != INPROC_OPEN) {
        rc = -ENOTCONN;
        goto fail;
    }
    /*
     * Short or inconsistent messages are let through on purpose: the
     * server must cope with them as with bytes on a socket.
     */
    if (msg == NULL || len == 0 || len > INPROC_MAX_MSG_BYTES ||
        nr_fds > PROTO_MAX_MSG_FDS_CEIL) {
        rc = -EINVAL;
        goto fail;
    }
    if (!queue_has_room(&ti->c2s, len)) {
        rc = -ENOMEM;
        goto fail;
    }
    m = calloc(1, sizeof(*m) + len);
    if (m == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    memcpy(m->data, msg, len);
    m->len = len;
    if (nr_fds > 0) {
        m->fds = malloc(nr_fds * sizeof(int));
        if (m->fds == NULL) {
            free(m);
            rc = -ENOMEM;
            goto fail;
        }
        memcpy(m->fds, fds, nr_fds * sizeof(int));
        m->nr_fds = nr_fds;
    }
    queue_push(&ti->c2s, m);
    update_efd(ti);
    return 0;

fail:
    /* the fds are ours whatever happens, so a failure must not leak them */
    if (fds != NULL) {
        close_fds((int *)fds, nr_fds);
    }
    return vfu_err(rc);
}

VFU_EXPORT ssize_t
vfu_ext_inproc_recv(vfu_ctx_t *vfu_ctx, void *buf, size_t size, int *fds,
                    size_t *nr_fds)
{
    struct tran_inproc *ti = inproc_of(vfu_ctx);
    struct inproc_msg *m;
    size_t room = nr_fds != NULL ? *nr_fds : 0;
    size_t given = 0;
    size_t i;
    ssize_t len;

    if (nr_fds != NULL) {
        *nr_fds = 0;
    }
    if (ti == NULL || (buf == NULL && size > 0) || (fds == NULL && room > 0)) {
        return vfu_err(-EINVAL);
    }
    m = queue_pop(&ti->s2c);
    if (m == NULL) {
        return vfu_err(ti->state == INPROC_OPEN ? -EAGAIN : -ENOTCONN);
    }
    len = (ssize_t)m->len;
    if (m->len <= size) {
        memcpy(buf, m->data, m->len);
        for (i = 0; i < m->nr_fds; i++) {
            if (given < room) {
                fds[given++] = m->fds[i];
                m->fds[i] = -1;
            }
        }
    } else if (size > 0) {
        /* truncated: the caller sees the length and no fds */
        memcpy(buf, m->data, size);
    }
    if (nr_fds != NULL) {
        *nr_fds = given;
    }
    msg_free(m); /* closes whatever fds were not handed over */
    return len;
}

VFU_EXPORT size_t
vfu_ext_inproc_pending(vfu_ctx_t *vfu_ctx)
{
    struct tran_inproc *ti = inproc_of(vfu_ctx);

    if (ti == NULL || ti->s2c.head == NULL) {
        return 0;
    }
    return ti->s2c.head->len;
}
