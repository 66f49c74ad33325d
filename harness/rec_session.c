/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rec_session.c - one recorded session: negotiation into the scenario's
 * header, client commands into statements, and what happened while a
 * command was in flight (guest memory the device read or wrote, the
 * interrupts it raised) into the lines around its statement.
 *
 * Statements are kept in arrival order.  One is complete once its reply
 * (or the hangup, or a later reply that shows none will come) is in; it
 * is written out when the next client command arrives or the session
 * ends, so anything the device does after answering (an interrupt that
 * fires late, a DMA write on its own time) still lands right after it.
 *
 * Events are charged to the oldest command still waiting for its answer
 * (the server handles commands in order), else to the last completed
 * statement, else to a marker that only carries them.
 *
 * Interrupts: the recorder gives the server eventfds of its own in place
 * of the client's, passes every trigger on to the client's eventfd, and
 * so knows which statement raised which vector how often.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness/rec.h"

/* Bodies kept per message: a 1 MiB write plus its header, and room. */
#define KEEP_BODY (REC_MAX_ITEM_BYTES + 4096u)
/* Commands waiting for no reply that are kept open (see settle_quiet()). */
#define MAX_QUIET 64u

enum phase {
    PH_VERSION = 0,   /* waiting for the client's first message */
    PH_VERSION_REPLY, /* VERSION forwarded, waiting for the answer */
    PH_RUN,
};

/* A server command (DMA_READ / DMA_WRITE) waiting for the client. */
typedef struct srvcmd {
    bool used;
    uint16_t id;
    uint16_t cmd;
    uint64_t addr, count;
    uint8_t *data; /* DMA_WRITE: the bytes the device writes */
    size_t len;
} srvcmd_t;

struct rec_session {
    const rec_opts_t *opts;
    FILE *out;
    unsigned nr;
    char *target;

    enum phase phase;
    bool header_done;
    proto_msg_t version_req; /* kept until its answer */

    rec_ctx_t ctx;
    bool proposed_twin;

    rec_stmt_t **q; /* statements not yet written, in arrival order */
    size_t nr_q, cap_q;

    srvcmd_t srv[REC_MAX_SRV_PENDING];
    rec_irqtab_t irq;

    uint64_t kept;      /* body bytes held by the queue */
    size_t stmts;       /* statements written */
    uint64_t bytes_out; /* bytes written to the file */
    bool stopped;       /* a limit was hit: the proxy goes on alone */
    bool warned_srv;    /* the server-command table overflowed once */
};

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static void
out_stop(rec_session_t *s, const char *why)
{
    if (!s->stopped) {
        fprintf(s->out, "# vfu-record: recording stopped here: %s\n", why);
        fflush(s->out);
        s->stopped = true;
    }
}

static void
out_write(rec_session_t *s, const rec_buf_t *b)
{
    if (s->stopped || b->len == 0) {
        return;
    }
    if (s->bytes_out + b->len > REC_MAX_FILE) {
        out_stop(s, "the file reached its size limit");
        return;
    }
    fwrite(b->p, 1, b->len, s->out);
    fflush(s->out);
    s->bytes_out += b->len;
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */
/* ------------------------------------------------------------------ */

rec_session_t *
rec_session_new(const rec_opts_t *opts, FILE *out, unsigned nr,
                const char *target)
{
    rec_session_t *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->ctx.regions = calloc(REC_CACHE_REGIONS, sizeof(rec_rcache_t));
    s->target = strdup(target != NULL ? target : "");
    if (s->ctx.regions == NULL || s->target == NULL) {
        free(s->ctx.regions);
        free(s->target);
        free(s);
        return NULL;
    }
    s->opts = opts;
    s->out = out;
    s->nr = nr;
    rec_mem_init(&s->ctx.mem, opts->watch_bytes);
    proto_caps_default(&s->ctx.client_caps);
    proto_caps_default(&s->ctx.server_caps);
    s->ctx.xfer = PROTO_DEFAULT_MAX_DATA_XFER;
    s->ctx.pgsize = PROTO_DEFAULT_PGSIZES;
    s->ctx.max_fds = PROTO_DEFAULT_MAX_MSG_FDS;
    return s;
}

static void
stmt_drop(rec_session_t *s, rec_stmt_t *st)
{
    if (st != NULL) {
        rec_live_close(&s->ctx.mem, &st->live);
        rec_stmt_free(st);
    }
}

void
rec_session_free(rec_session_t *s)
{
    size_t i;

    if (s == NULL) {
        return;
    }
    for (i = 0; i < s->nr_q; i++) {
        stmt_drop(s, s->q[i]);
    }
    free(s->q);
    for (i = 0; i < REC_MAX_SRV_PENDING; i++) {
        free(s->srv[i].data);
    }
    rec_irqtab_free(&s->irq);
    proto_msg_free(&s->version_req);
    rec_mem_free(&s->ctx.mem);
    free(s->ctx.regions);
    free(s->target);
    free(s);
}

size_t
rec_session_statements(const rec_session_t *s)
{
    return s->stmts;
}

/* ------------------------------------------------------------------ */
/* Header                                                              */
/* ------------------------------------------------------------------ */

/* "version M.m: JSON" of a VERSION body, as one comment line */
static void
comment_version(rec_buf_t *b, const char *who, const proto_msg_t *m)
{
    struct vfio_user_version v;
    rec_buf_t line = {0};
    size_t json_len;

    if (m->body_len < sizeof(v)) {
        return;
    }
    memcpy(&v, m->body, sizeof(v));
    json_len = strnlen((const char *)m->body + sizeof(v),
                       m->body_len - sizeof(v));
    rec_buf_printf(&line, "%s version %u.%u: ", who, v.major, v.minor);
    rec_buf_put(&line, (const char *)m->body + sizeof(v), json_len);
    if (!line.full) {
        rec_buf_comment(b, line.p, line.len);
    }
    rec_buf_free(&line);
}

/*
 * The header: what was recorded when, the target, and the options that
 * make the replay's client propose what this client proposed (only those
 * that differ from the defaults of docs/scenarios.md 5.1).
 */
static void
header_write(rec_session_t *s, const proto_msg_t *reply, bool negotiate)
{
    const proto_caps_t *c = &s->ctx.client_caps;
    rec_buf_t b = {0};
    char when[64] = "?";
    struct tm tm;
    time_t t = time(NULL);
    char *target;

    if (s->header_done) {
        return;
    }
    s->header_done = true;
    if (gmtime_r(&t, &tm) != NULL) {
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    }
    rec_buf_printf(&b,
                   "# vfu-record session %u, recorded %s from unix:%s\n"
                   "# by vfu-record %s; replay with vfu-run FILE (or "
                   "--socket PATH / --spawn CMD for another server)\n",
                   s->nr, when, s->target, REC_VERSION);
    if (negotiate) {
        comment_version(&b, "client proposed", &s->version_req);
        if (reply != NULL) {
            comment_version(&b, "server answered", reply);
        }
    }
    target = malloc(strlen(s->target) + 6);
    if (target != NULL) {
        sprintf(target, "unix:%s", s->target);
        rec_buf_puts(&b, "connect ");
        rec_buf_token(&b, target);
        rec_buf_puts(&b, "\n");
        free(target);
    }
    if (!negotiate) {
        rec_buf_puts(&b, "option negotiate off\n");
    } else {
        struct vfio_user_version v;

        memcpy(&v, s->version_req.body, sizeof(v));
        if (v.major != 0 || v.minor != 0) {
            rec_buf_printf(&b, "option version %u.%u\n", v.major, v.minor);
        }
        if (c->max_msg_fds != 16) {
            rec_buf_printf(&b, "option max_msg_fds %u\n", c->max_msg_fds);
        }
        if (c->max_data_xfer_size != (1u << 20)) {
            rec_buf_puts(&b, "option max_data_xfer_size ");
            rec_buf_size(&b, c->max_data_xfer_size);
            rec_buf_puts(&b, "\n");
        }
        if (c->max_dma_maps != 65535) {
            rec_buf_printf(&b, "option max_dma_maps %u\n", c->max_dma_maps);
        }
        if (c->pgsizes != 4096) {
            rec_buf_printf(&b, "option pgsizes 0x%llx\n",
                           (unsigned long long)c->pgsizes);
        }
        if (c->write_multiple) {
            rec_buf_puts(&b, "option write_multiple on\n");
        }
        if (s->proposed_twin) {
            rec_buf_puts(&b, "option twin_socket on\n");
        }
    }
    rec_buf_puts(&b, "\n");
    out_write(s, &b);
    rec_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Statements: queue, capture, emission                                */
/* ------------------------------------------------------------------ */

/*
 * Keep a copy of @m without its fds (slots of -1 keep the count).  A body
 * longer than KEEP_BODY is cut there: the header still has the real size,
 * so such a message never passes for a well-formed one.
 */
static int
msg_copy(proto_msg_t *dst, const proto_msg_t *m)
{
    size_t keep = m->body_len < KEEP_BODY ? m->body_len : KEEP_BODY;

    memset(dst, 0, sizeof(*dst));
    dst->hdr = m->hdr;
    if (keep > 0) {
        dst->body = malloc(keep);
        if (dst->body == NULL) {
            return -ENOMEM;
        }
        memcpy(dst->body, m->body, keep);
        dst->body_len = keep;
    }
    if (m->nr_fds > 0) {
        size_t i;

        dst->fds = malloc(m->nr_fds * sizeof(int));
        if (dst->fds == NULL) {
            free(dst->body);
            memset(dst, 0, sizeof(*dst));
            return -ENOMEM;
        }
        for (i = 0; i < m->nr_fds; i++) {
            dst->fds[i] = -1;
        }
        dst->nr_fds = m->nr_fds;
    }
    return 0;
}

static int
q_push(rec_session_t *s, rec_stmt_t *st)
{
    if (s->kept + st->req.body_len > REC_MAX_KEPT) {
        return -ENOBUFS;
    }
    if (s->nr_q == s->cap_q) {
        size_t cap = s->cap_q == 0 ? 16 : s->cap_q * 2;
        rec_stmt_t **q;

        if (s->nr_q >= REC_MAX_PENDING) {
            return -ENOBUFS;
        }
        q = realloc(s->q, cap * sizeof(*q));
        if (q == NULL) {
            return -ENOMEM;
        }
        s->q = q;
        s->cap_q = cap;
    }
    s->q[s->nr_q++] = st;
    s->kept += st->req.body_len;
    return 0;
}

/*
 * Where an event goes: the oldest command still in flight, else the last
 * statement not yet written, else a marker (events before any command).
 */
static rec_stmt_t *
target(rec_session_t *s)
{
    rec_stmt_t *st;
    size_t i;

    for (i = 0; i < s->nr_q; i++) {
        if (s->q[i]->state == REC_PENDING) {
            return s->q[i];
        }
    }
    if (s->nr_q > 0) {
        return s->q[s->nr_q - 1];
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return NULL;
    }
    st->marker = true;
    st->state = REC_NOREPLY;
    if (q_push(s, st) < 0) {
        free(st);
        return NULL;
    }
    return st;
}

/*
 * Guest memory lines for @st: "mem write" (before) or "mem expect"
 * (after), at most opts->cap_bytes bytes per statement, each line at most
 * one byte list long.
 */
static void
capture(rec_session_t *s, rec_stmt_t *st, rec_buf_t *b, bool before,
        uint64_t gpa, const uint8_t *p, size_t len)
{
    uint64_t room = s->opts->cap_bytes > st->captured
                        ? s->opts->cap_bytes - st->captured
                        : 0;

    if (len > room) {
        st->skipped += len - room;
        len = (size_t)room;
    }
    st->captured += len;
    while (len > 0) {
        size_t n = len < REC_MAX_ITEM_BYTES ? len : REC_MAX_ITEM_BYTES;

        rec_buf_printf(b, "mem %s 0x%llx", before ? "write" : "expect",
                       (unsigned long long)gpa);
        rec_buf_hex(b, p, n);
        rec_buf_puts(b, "\n");
        gpa += n;
        p += n;
        len -= n;
    }
}

struct span_arg {
    rec_session_t *s;
    rec_stmt_t *st;
    bool before;
};

static void
span_cb(void *arg, uint64_t gpa, const uint8_t *bytes, size_t len)
{
    struct span_arg *a = arg;

    capture(a->s, a->st, a->before ? &a->st->pre : &a->st->post, a->before,
            gpa, bytes, len);
}

static void
add_written(rec_stmt_t *st, uint64_t gpa, uint64_t len)
{
    rec_range_t *w;
    size_t i;

    for (i = 0; i < st->nr_written; i++) {
        rec_range_t *r = &st->written[i];

        /* overlapping or touching ranges become one */
        if (gpa <= r->gpa + r->len && r->gpa <= gpa + len) {
            uint64_t end = gpa + len > r->gpa + r->len ? gpa + len
                                                       : r->gpa + r->len;

            r->gpa = gpa < r->gpa ? gpa : r->gpa;
            r->len = end - r->gpa;
            return;
        }
    }
    if (st->nr_written >= 4096) {
        return; /* bounded; the cap would leave the rest out anyway */
    }
    w = realloc(st->written, (st->nr_written + 1) * sizeof(*w));
    if (w == NULL) {
        return;
    }
    st->written = w;
    st->written[st->nr_written].gpa = gpa;
    st->written[st->nr_written].len = len;
    st->nr_written++;
}

/* Write @st out; @drop_text leaves out the statement (superseded). */
static void
emit(rec_session_t *s, rec_stmt_t *st, bool drop_text)
{
    rec_buf_t b = {0};
    size_t i;

    rec_buf_put(&b, st->pre.p != NULL ? st->pre.p : "", st->pre.len);
    if (!drop_text) {
        rec_buf_put(&b, st->text.p != NULL ? st->text.p : "", st->text.len);
    }
    rec_buf_put(&b, st->post.p != NULL ? st->post.p : "", st->post.len);
    /* fd-less memory the device wrote: its final contents */
    for (i = 0; i < st->nr_written; i++) {
        const rec_range_t *r = &st->written[i];
        uint8_t *tmp;

        if (r->len > REC_MAX_BUF || (tmp = malloc(r->len)) == NULL) {
            st->skipped += r->len;
            continue;
        }
        if (rec_mem_model_get(&s->ctx.mem, r->gpa, tmp, r->len)) {
            capture(s, st, &b, false, r->gpa, tmp, r->len);
        }
        free(tmp);
    }
    if (st->skipped > 0) {
        rec_buf_printf(&b,
                       "# vfu-record: %llu more bytes of guest memory not "
                       "recorded (cap %llu per statement)\n",
                       (unsigned long long)st->skipped,
                       (unsigned long long)s->opts->cap_bytes);
    }
    for (i = 0; i < st->nr_irqs; i++) {
        const rec_irqhit_t *h = &st->irqs[i];
        char idx[16];

        rec_irq_name(h->index, idx, sizeof(idx));
        if (h->async) {
            rec_buf_printf(&b, "expect irq %s %u\n", idx, h->vector);
        } else {
            rec_buf_printf(&b, "expect irq %s %u count %llu\n", idx,
                           h->vector, (unsigned long long)h->count);
        }
    }
    if (b.full) {
        rec_buf_free(&b);
        rec_buf_printf(&b, "# vfu-record: a statement too long to record "
                           "(over 8 MiB of text) was left out\n");
    }
    out_write(s, &b);
    rec_buf_free(&b);
    if (!st->marker && !drop_text && st->text.len > 0) {
        s->stmts++;
        if (s->stmts >= REC_MAX_STMTS) {
            out_stop(s, "the statement limit was reached");
        }
    }
}

/* a GET_REGION_INFO for @index, as the fake VMM sends it */
static bool
is_region_info(const proto_msg_t *m, uint32_t index)
{
    struct vfio_region_info r;

    if (m == NULL || m->hdr.cmd != VFIO_USER_DEVICE_GET_REGION_INFO ||
        m->body_len < sizeof(r)) {
        return false;
    }
    memcpy(&r, m->body, sizeof(r));
    return r.index == index;
}

/*
 * Write the completed statements at the front of the queue.  @next is
 * the command that made this happen (NULL at the end): a partial region
 * info answer followed by the same question again is the argsz dance,
 * and only the second answer is written.
 */
static void
emit_completed(rec_session_t *s, const proto_msg_t *next)
{
    size_t n = 0;

    if (!s->header_done) {
        return;
    }
    while (n < s->nr_q && s->q[n]->state != REC_PENDING) {
        rec_stmt_t *st = s->q[n];
        const proto_msg_t *after = n + 1 < s->nr_q ? &s->q[n + 1]->req : next;
        bool drop = st->partial_rinfo && is_region_info(after, st->rinfo_index);

        emit(s, st, drop);
        s->kept -= st->req.body_len + st->reply.body_len;
        stmt_drop(s, st);
        n++;
    }
    if (n > 0) {
        memmove(s->q, s->q + n, (s->nr_q - n) * sizeof(s->q[0]));
        s->nr_q -= n;
    }
}

/* ------------------------------------------------------------------ */
/* Interrupts                                                          */
/* ------------------------------------------------------------------ */

/* Take every pending trigger and charge it to @st. */
static void
irq_drain(rec_session_t *s, rec_stmt_t *st)
{
    size_t i;

    for (i = 0; i < s->irq.nr; i++) {
        uint64_t v = rec_irqfd_take(&s->irq.e[i]);

        if (v > 0 && st != NULL) {
            rec_stmt_add_hit(st, s->irq.e[i].index, s->irq.e[i].vector,
                             v, st->state != REC_PENDING);
        }
    }
}

size_t
rec_irq_count(const rec_session_t *s)
{
    return s->irq.nr;
}

size_t
rec_irq_pollfds(const rec_session_t *s, struct pollfd *p, size_t max)
{
    size_t i;

    for (i = 0; i < s->irq.nr && i < max; i++) {
        p[i].fd = s->irq.e[i].ours;
        p[i].events = POLLIN;
        p[i].revents = 0;
    }
    return i;
}

void
rec_on_irq(rec_session_t *s, int fd)
{
    size_t i;

    for (i = 0; i < s->irq.nr; i++) {
        if (s->irq.e[i].ours == fd) {
            uint64_t v = rec_irqfd_take(&s->irq.e[i]);
            rec_stmt_t *st;

            if (v > 0 && !s->stopped && (st = target(s)) != NULL) {
                rec_stmt_add_hit(st, s->irq.e[i].index, s->irq.e[i].vector,
                                 v, st->state != REC_PENDING);
            }
            return;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Commands and replies                                                */
/* ------------------------------------------------------------------ */

/* the statement is final: build its text, apply what it did */
static void
complete(rec_session_t *s, rec_stmt_t *st)
{
    rec_stmt_build(&s->ctx, st);
    rec_irq_settle(&s->irq, st);
}

static bool
expects_reply(const rec_stmt_t *st)
{
    return !st->bad_frame &&
           (st->req.hdr.flags & VFIO_USER_F_TYPE_MASK) ==
               VFIO_USER_F_TYPE_COMMAND &&
           !(st->req.hdr.flags & VFIO_USER_F_NO_REPLY);
}

static void
settle(rec_session_t *s, rec_stmt_t *st, const proto_msg_t *reply,
       enum rec_state state);

/*
 * Commands that wait for no reply (NO_REPLY, malformed) are settled when
 * a later command is answered.  A client that posts many in a row gives
 * no such moment; beyond MAX_QUIET of them the oldest count as done, so
 * the queue stays bounded.  Order is kept: settling stops at the first
 * command that still waits for its answer.
 */
static void
settle_quiet(rec_session_t *s)
{
    size_t i, pending = 0;

    for (i = 0; i < s->nr_q; i++) {
        pending += s->q[i]->state == REC_PENDING;
    }
    for (i = 0; i < s->nr_q && pending > MAX_QUIET; i++) {
        rec_stmt_t *st = s->q[i];

        if (st->state != REC_PENDING) {
            continue;
        }
        if (expects_reply(st)) {
            break;
        }
        settle(s, st, NULL, REC_NOREPLY);
        pending--;
    }
}

static void
command(rec_session_t *s, rec_msg_t *msg)
{
    struct span_arg sa;
    rec_stmt_t *st;
    size_t i;

    emit_completed(s, &msg->m);
    if (s->stopped) {
        return;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL || msg_copy(&st->req, &msg->m) < 0) {
        free(st);
        out_stop(s, "out of memory");
        return;
    }
    st->bad_frame = msg->bad_frame;
    st->wire_len = msg->bad_frame ? msg->m.hdr.msg_size
                                  : PROTO_HDR_SIZE + msg->m.body_len;
    if (msg->m.nr_fds > 0) {
        st->fdi = calloc(msg->m.nr_fds, sizeof(*st->fdi));
        if (st->fdi == NULL) {
            stmt_drop(s, st);
            out_stop(s, "out of memory");
            return;
        }
        for (i = 0; i < msg->m.nr_fds; i++) {
            rec_fd_classify(msg->m.fds[i], &st->fdi[i]);
        }
    }
    settle_quiet(s);
    if (q_push(s, st) < 0) {
        stmt_drop(s, st);
        out_stop(s, "too many commands (or bytes) in flight");
        return;
    }
    /* what the guest changed in fd-backed memory since the last look */
    sa.s = s;
    sa.st = st;
    sa.before = true;
    rec_mem_sync(&s->ctx.mem, span_cb, &sa);

    if (st->bad_frame) {
        return;
    }
    if (st->req.hdr.cmd == VFIO_USER_DMA_MAP && msg->m.nr_fds == 1 &&
        st->req.body_len >= sizeof(struct vfio_user_dma_map)) {
        struct vfio_user_dma_map m;

        memcpy(&m, st->req.body, sizeof(m));
        rec_live_open(&s->ctx.mem, msg->m.fds[0], m.offset, m.size,
                      &st->live);
    } else if (st->req.hdr.cmd == VFIO_USER_DEVICE_SET_IRQS &&
               s->opts->irq_proxy) {
        rec_irq_substitute(&s->irq, st, msg);
    }
}

static proto_msg_t *
copy_reply(const proto_msg_t *m, proto_msg_t *dst)
{
    return msg_copy(dst, m) == 0 ? dst : NULL;
}

/* Settle @st with @reply (NULL: @state without one). */
static void
settle(rec_session_t *s, rec_stmt_t *st, const proto_msg_t *reply,
       enum rec_state state)
{
    struct span_arg sa = {.s = s, .st = st, .before = false};

    irq_drain(s, st);
    if (reply != NULL && copy_reply(reply, &st->reply) != NULL) {
        s->kept += st->reply.body_len;
        st->state = REC_REPLIED;
    } else {
        st->state = reply != NULL ? REC_NOREPLY : state;
    }
    /* what the device wrote into fd-backed memory meanwhile */
    rec_mem_sync(&s->ctx.mem, span_cb, &sa);
    complete(s, st);
}

static void
note_msg(rec_session_t *s, const char *what, const rec_msg_t *msg)
{
    char line[256];
    rec_stmt_t *st;
    rec_buf_t b = {0};

    if (s->stopped || (st = target(s)) == NULL) {
        return;
    }
    proto_trace_format(line, sizeof(line), what, &msg->m.hdr, msg->m.body,
                       msg->m.body_len, msg->m.nr_fds);
    rec_buf_printf(&b, "vfu-record: %s", line);
    rec_buf_comment(&st->post, b.p != NULL ? b.p : "", b.len);
    rec_buf_free(&b);
}

void
rec_note(rec_session_t *s, const char *fmt, ...)
{
    char line[512];
    rec_stmt_t *st;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || s->stopped || (st = target(s)) == NULL) {
        return;
    }
    rec_buf_comment(&st->post, line, strnlen(line, sizeof(line)));
}

/* the server answered VERSION: the header, and maybe a twin socket */
static int
version_reply(rec_session_t *s, rec_msg_t *msg)
{
    const proto_msg_t *r = &msg->m;
    proto_caps_t *sc = &s->ctx.server_caps;
    const proto_caps_t *cc = &s->ctx.client_caps;
    rec_stmt_t *st;
    int twin = -1;

    s->phase = PH_RUN;
    if (!msg->bad_frame && !(r->hdr.flags & VFIO_USER_F_ERROR) &&
        proto_check_reply(&s->version_req, r, cc) == 0 &&
        proto_caps_parse((const char *)r->body + 4, r->body_len - 4, sc) ==
            0) {
        uint64_t pg = cc->pgsizes & sc->pgsizes;

        /* what the fake VMM works out from the same two texts */
        s->ctx.xfer = cc->max_data_xfer_size < sc->max_data_xfer_size
                          ? cc->max_data_xfer_size
                          : sc->max_data_xfer_size;
        s->ctx.max_fds = cc->max_msg_fds < sc->max_msg_fds ? cc->max_msg_fds
                                                           : sc->max_msg_fds;
        if (pg == 0) {
            pg = sc->pgsizes;
        }
        s->ctx.pgsize = pg & -pg;
        s->ctx.write_multiple = cc->write_multiple && sc->write_multiple;
        header_write(s, r, true);
        if (s->proposed_twin && sc->twin_socket && sc->has_twin_fd_index &&
            sc->twin_fd_index < r->nr_fds) {
            twin = (int)sc->twin_fd_index;
        }
        proto_msg_free(&s->version_req);
        return twin;
    }
    /* refused or garbled: replay the exchange itself, raw */
    header_write(s, NULL, false);
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        proto_msg_free(&s->version_req);
        return -1;
    }
    st->req = s->version_req;
    memset(&s->version_req, 0, sizeof(s->version_req));
    st->wire_len = PROTO_HDR_SIZE + st->req.body_len;
    if (q_push(s, st) < 0) {
        stmt_drop(s, st);
        return -1;
    }
    settle(s, st, r, REC_REPLIED);
    return -1;
}

static int
server_reply(rec_session_t *s, rec_msg_t *msg)
{
    uint16_t id = msg->m.hdr.msg_id;
    size_t i, j;

    if (s->phase == PH_VERSION_REPLY && id == s->version_req.hdr.msg_id) {
        return version_reply(s, msg);
    }
    for (i = 0; i < s->nr_q; i++) {
        rec_stmt_t *st = s->q[i];

        if (st->state != REC_PENDING || st->marker ||
            st->req.hdr.msg_id != id) {
            continue;
        }
        /* commands before it that wanted no answer will get none */
        for (j = 0; j < i; j++) {
            if (s->q[j]->state == REC_PENDING && !expects_reply(s->q[j])) {
                settle(s, s->q[j], NULL, REC_NOREPLY);
            }
        }
        settle(s, st, &msg->m, REC_REPLIED);
        return -1;
    }
    note_msg(s, "stray reply: server<", msg);
    return -1;
}

static void
server_command(rec_session_t *s, rec_msg_t *msg)
{
    struct vfio_user_dma_region_access a;
    srvcmd_t *c = NULL;
    size_t i;

    if ((msg->m.hdr.cmd != VFIO_USER_DMA_READ &&
         msg->m.hdr.cmd != VFIO_USER_DMA_WRITE) ||
        msg->m.body_len < sizeof(a)) {
        note_msg(s, "server>", msg);
        return;
    }
    memcpy(&a, msg->m.body, sizeof(a));
    for (i = 0; i < REC_MAX_SRV_PENDING; i++) {
        if (s->srv[i].used && s->srv[i].id == msg->m.hdr.msg_id) {
            c = &s->srv[i]; /* an id reused: the newer one counts */
            free(c->data);
            break;
        }
        if (c == NULL && !s->srv[i].used) {
            c = &s->srv[i];
        }
    }
    if (c == NULL) {
        if (!s->warned_srv) {
            rec_note(s, "vfu-record: too many server commands in flight; "
                        "some DMA is not recorded");
            s->warned_srv = true;
        }
        return;
    }
    memset(c, 0, sizeof(*c));
    c->used = true;
    c->id = msg->m.hdr.msg_id;
    c->cmd = msg->m.hdr.cmd;
    c->addr = a.addr;
    c->count = a.count;
    if (c->cmd == VFIO_USER_DMA_WRITE) {
        size_t n = msg->m.body_len - sizeof(a);

        if (n > a.count) {
            n = (size_t)a.count;
        }
        c->data = n > 0 ? malloc(n) : NULL;
        if (c->data != NULL) {
            memcpy(c->data, msg->m.body + sizeof(a), n);
            c->len = n;
        }
    }
}

/* the client answered a server command: true if it was one we track */
static bool
client_reply(rec_session_t *s, rec_msg_t *msg)
{
    const proto_msg_t *r = &msg->m;
    srvcmd_t *c = NULL;
    rec_stmt_t *st;
    size_t i;

    for (i = 0; i < REC_MAX_SRV_PENDING; i++) {
        if (s->srv[i].used && s->srv[i].id == r->hdr.msg_id &&
            s->srv[i].cmd == r->hdr.cmd) {
            c = &s->srv[i];
            break;
        }
    }
    if (c == NULL) {
        return false;
    }
    if (!(r->hdr.flags & VFIO_USER_F_ERROR) && !s->stopped &&
        (st = target(s)) != NULL) {
        if (c->cmd == VFIO_USER_DMA_READ &&
            r->body_len > sizeof(struct vfio_user_dma_region_access)) {
            const uint8_t *data =
                r->body + sizeof(struct vfio_user_dma_region_access);
            size_t n = r->body_len - sizeof(struct vfio_user_dma_region_access);
            bool changed = false;

            if (n > c->count) {
                n = (size_t)c->count;
            }
            /*
             * Bytes the guest put there that the replay must too; memory
             * whose contents are not tracked is written every time.
             */
            if (rec_mem_covered(&s->ctx.mem, c->addr, n)) {
                if (!rec_mem_tracked(&s->ctx.mem, c->addr, n)) {
                    changed = true;
                }
                rec_mem_model_set(&s->ctx.mem, c->addr, data, n,
                                  changed ? NULL : &changed);
                if (changed) {
                    capture(s, st, &st->pre, true, c->addr, data, n);
                }
            }
        } else if (c->cmd == VFIO_USER_DMA_WRITE && c->len > 0 &&
                   rec_mem_covered(&s->ctx.mem, c->addr, c->len)) {
            rec_mem_model_set(&s->ctx.mem, c->addr, c->data, c->len, NULL);
            add_written(st, c->addr, c->len);
        }
    }
    free(c->data);
    memset(c, 0, sizeof(*c));
    return true;
}

/* VERSION as the fake VMM sends it, with capabilities we can parse */
static bool
version_ok(rec_session_t *s, const rec_msg_t *msg)
{
    const proto_msg_t *m = &msg->m;
    proto_caps_t any;

    proto_caps_default(&any);
    if (msg->bad_frame || m->hdr.cmd != VFIO_USER_VERSION ||
        m->hdr.flags != 0 || m->hdr.error_no != 0 || m->nr_fds != 0 ||
        proto_check_request(m, &any, PROTO_C2S) < 0 ||
        proto_caps_parse((const char *)m->body + 4, m->body_len - 4,
                         &s->ctx.client_caps) < 0) {
        proto_caps_default(&s->ctx.client_caps);
        return false;
    }
    s->proposed_twin = s->ctx.client_caps.twin_socket;
    return msg_copy(&s->version_req, m) == 0;
}

void
rec_on_client(rec_session_t *s, rec_msg_t *msg, enum rec_chan chan)
{
    uint32_t type = msg->m.hdr.flags & VFIO_USER_F_TYPE_MASK;

    if (!msg->bad_frame && type == VFIO_USER_F_TYPE_REPLY &&
        client_reply(s, msg)) {
        return;
    }
    if (chan == REC_CHAN_TWIN) {
        note_msg(s, "client (twin socket)>", msg);
        return;
    }
    if (s->phase == PH_VERSION) {
        if (version_ok(s, msg)) {
            s->phase = PH_VERSION_REPLY;
            return;
        }
        header_write(s, NULL, false);
        s->phase = PH_RUN;
    }
    command(s, msg);
}

int
rec_on_server(rec_session_t *s, rec_msg_t *msg, enum rec_chan chan)
{
    uint32_t type = msg->m.hdr.flags & VFIO_USER_F_TYPE_MASK;

    (void)chan;
    if (msg->bad_frame) {
        note_msg(s, "malformed: server<", msg);
        return -1;
    }
    if (type == VFIO_USER_F_TYPE_REPLY) {
        return server_reply(s, msg);
    }
    server_command(s, msg);
    return -1;
}

/* ------------------------------------------------------------------ */
/* The end                                                             */
/* ------------------------------------------------------------------ */

void
rec_session_end(rec_session_t *s, enum rec_end why)
{
    static const char *const reasons[] = {
        [REC_END_CLIENT] = "the client closed the connection",
        [REC_END_SERVER] = "the server closed the connection",
        [REC_END_STOP] = "vfu-record was stopped",
        [REC_END_ERROR] = "vfu-record could not go on",
    };
    bool hung = false;
    rec_buf_t b = {0};
    size_t i;

    if (s->phase == PH_VERSION) {
        header_write(s, NULL, false);
    } else if (s->phase == PH_VERSION_REPLY) {
        rec_stmt_t *st = calloc(1, sizeof(*st));

        header_write(s, NULL, false);
        if (st != NULL) {
            st->req = s->version_req;
            memset(&s->version_req, 0, sizeof(s->version_req));
            st->wire_len = PROTO_HDR_SIZE + st->req.body_len;
            if (q_push(s, st) < 0) {
                stmt_drop(s, st);
            }
        }
    }
    s->phase = PH_RUN;
    irq_drain(s, s->nr_q > 0 ? target(s) : NULL);
    for (i = 0; i < s->nr_q; i++) {
        rec_stmt_t *st = s->q[i];

        if (st->state != REC_PENDING) {
            continue;
        }
        if (why == REC_END_SERVER && !hung) {
            /* the first command in flight is the one it hung up on */
            hung = true;
            settle(s, st, NULL, REC_HANGUP);
        } else if (why == REC_END_SERVER) {
            /* after a hangup the replay cannot send these: say so */
            rec_buf_free(&st->text);
            st->state = REC_NOREPLY;
            st->marker = true;
            rec_buf_comment(&st->post, "vfu-record: sent after the hangup",
                            strlen("vfu-record: sent after the hangup"));
        } else {
            settle(s, st, NULL, REC_LEFT);
        }
    }
    if (why == REC_END_SERVER && !hung && !s->stopped) {
        rec_stmt_t *st = target(s);

        /* the server left on its own after the last statement */
        if (st != NULL) {
            rec_buf_puts(&st->post, "recv hangup\n");
        }
    }
    emit_completed(s, NULL);
    if (!s->stopped) {
        rec_buf_printf(&b, "# vfu-record: end of session %u: %s\n", s->nr,
                       reasons[why]);
        out_write(s, &b);
    }
    rec_buf_free(&b);
}
