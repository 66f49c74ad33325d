/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_run.c - run a parsed scenario: statements in order against the fake
 * VMM, checks with exact failure reports (location, statement, expected
 * and actual in hex, the last wire messages), a ring of traced lines and
 * a digest of the message sequence.  Discovery, region access and
 * interrupts are in scn_run_dev.c; bytes, raw messages and guest memory
 * in scn_run_io.c.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/scn_run.h"
#include "proto/proto.h"

/* ------------------------------------------------------------------ */
/* Strings, notes and the wire ring                                    */
/* ------------------------------------------------------------------ */

void
scn_sbuf_vprintf(scn_sbuf_t *b, const char *fmt, va_list ap)
{
    va_list aq;
    int n;

    if (b->oom) {
        return;
    }
    va_copy(aq, ap);
    n = vsnprintf(b->s != NULL ? b->s + b->len : NULL,
                  b->s != NULL ? b->cap - b->len : 0, fmt, aq);
    va_end(aq);
    if (n < 0) {
        return;
    }
    if (b->s == NULL || b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *s;

        while (cap < b->len + (size_t)n + 1) {
            cap *= 2;
        }
        s = realloc(b->s, cap);
        if (s == NULL) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
        vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    }
    b->len += (size_t)n;
}

void
scn_sbuf_printf(scn_sbuf_t *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    scn_sbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

static void
ring_push(scn_runner_t *r, const char *line)
{
    unsigned slot = (r->ring_head + r->ring_nr) % SCN_RING;

    snprintf(r->ring[slot], SCN_RING_LINE, "%s", line);
    if (r->ring_nr < SCN_RING) {
        r->ring_nr++;
    } else {
        r->ring_head = (r->ring_head + 1) % SCN_RING;
    }
    if (r->opts->trace != NULL) {
        fprintf(r->opts->trace, "%s\n", line);
    }
}

void
scn_note(scn_runner_t *r, const char *fmt, ...)
{
    char line[SCN_RING_LINE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    ring_push(r, line);
}

/* The client's wire hook: ring, trace stream, count and digest. */
static void
on_wire(void *arg, bool outgoing, const struct vfio_user_header *hdr,
        const void *body, size_t len, size_t nr_fds)
{
    scn_runner_t *r = arg;
    char line[SCN_RING_LINE];
    const unsigned char *p;

    proto_trace_format(line, sizeof(line), outgoing ? "client>" : "client<",
                       hdr, body, len, nr_fds);
    r->res->msgs++;
    for (p = (const unsigned char *)line; *p != '\0'; p++) {
        r->res->digest = (r->res->digest ^ *p) * 0x100000001b3ull;
    }
    r->res->digest = (r->res->digest ^ '\n') * 0x100000001b3ull;
    ring_push(r, line);
}

static void
on_log(void *arg, int level, const char *msg)
{
    (void)level;
    scn_note(arg, "client: %s", msg);
}

void
scn_install_hooks(scn_runner_t *r)
{
    vmm_set_trace_hook(r->vmm, on_wire, r);
    vmm_set_log(r->vmm, on_log, r);
}

const char *
scn_errstr(int err, char *buf, size_t size)
{
    const char *name = scn_errno_name(err);

    if (name != NULL) {
        snprintf(buf, size, "%s (%d)", name, err);
    } else {
        snprintf(buf, size, "errno %d", err);
    }
    return buf;
}

void
scn_errset_str(const scn_errset_t *e, char *buf, size_t size)
{
    size_t used = 0;
    unsigned i;

    buf[0] = '\0';
    for (i = 0; i < e->nr && used < size; i++) {
        const char *n = scn_errno_name(e->errs[i]);

        if (n != NULL) {
            used += (size_t)snprintf(buf + used, size - used, "%s%s",
                                     used ? "|" : "", n);
        } else {
            used += (size_t)snprintf(buf + used, size - used, "%s%u",
                                     used ? "|" : "", e->errs[i]);
        }
    }
    if (e->any && used < size) {
        used += (size_t)snprintf(buf + used, size - used, "%sany",
                                 used ? "|" : "");
    }
    if (e->hangup && used < size) {
        used += (size_t)snprintf(buf + used, size - used, "%shangup",
                                 used ? "|" : "");
    }
    if (e->ok && used < size) {
        snprintf(buf + used, size - used, "%sok", used ? "|" : "");
    }
}

/* ------------------------------------------------------------------ */
/* Failures                                                            */
/* ------------------------------------------------------------------ */

static void
report_head(scn_runner_t *r, const scn_stmt_t *s)
{
    char loc[1024];

    scn_loc_format(r->sc, &s->loc, loc, sizeof(loc));
    scn_sbuf_printf(&r->msg, "%s: %s: ", loc, s->text != NULL ? s->text : "");
}

static void
report_tail(scn_runner_t *r, bool wire)
{
    unsigned i, n, hist = r->opts->history ? r->opts->history
                                           : SCN_DEFAULT_HISTORY;

    if (r->iter_depth > 0) {
        scn_sbuf_printf(&r->msg, " (iteration");
        for (i = 0; i < r->iter_depth; i++) {
            scn_sbuf_printf(&r->msg, "%s %u of %u", i ? "," : "",
                            r->iter[i] + 1, r->iter_n[i]);
        }
        scn_sbuf_printf(&r->msg, ")");
    }
    scn_sbuf_printf(&r->msg, "\n");
    if (wire && r->ring_nr > 0) {
        n = r->ring_nr < hist ? r->ring_nr : hist;
        scn_sbuf_printf(&r->msg, "  last messages:\n");
        for (i = r->ring_nr - n; i < r->ring_nr; i++) {
            scn_sbuf_printf(&r->msg, "    %s\n",
                            r->ring[(r->ring_head + i) % SCN_RING]);
        }
    }
    if (wire) {
        scn_target_stderr_tail(r, &r->msg);
    }
}

int
scn_fail(scn_runner_t *r, const scn_stmt_t *s, const char *fmt, ...)
{
    va_list ap;

    r->status = SCN_FAIL;
    report_head(r, s);
    va_start(ap, fmt);
    scn_sbuf_vprintf(&r->msg, fmt, ap);
    va_end(ap);
    report_tail(r, true);
    return SCN_STOP;
}

int
scn_skip(scn_runner_t *r, const scn_stmt_t *s, const char *fmt, ...)
{
    va_list ap;

    r->status = SCN_SKIP;
    report_head(r, s);
    scn_sbuf_printf(&r->msg, "requirement not met: ");
    va_start(ap, fmt);
    scn_sbuf_vprintf(&r->msg, fmt, ap);
    va_end(ap);
    report_tail(r, false);
    return SCN_STOP;
}

int
scn_fail_target(scn_runner_t *r, const char *fmt, ...)
{
    char loc[1024];
    va_list ap;

    r->status = SCN_FAIL;
    if (r->overridden || r->sc->target == SCN_TARGET_SCRIPT) {
        scn_sbuf_printf(&r->msg, "%s: ", r->sc->name);
    } else {
        scn_loc_format(r->sc, &r->sc->target_loc, loc, sizeof(loc));
        scn_sbuf_printf(&r->msg, "%s: ", loc);
    }
    va_start(ap, fmt);
    scn_sbuf_vprintf(&r->msg, fmt, ap);
    va_end(ap);
    report_tail(r, true);
    return SCN_STOP;
}

int
scn_eval(scn_runner_t *r, const scn_stmt_t *s, const scn_value_t *v,
         uint64_t *out)
{
    if (scn_expr_eval(v, r->vars, out) < 0) {
        return scn_fail(r, s, "division by zero or a shift by 64 or more "
                              "in a value");
    }
    return SCN_GO;
}

int
scn_check_rc(scn_runner_t *r, const scn_stmt_t *s, int rc)
{
    const scn_errset_t *e = &s->chk.err;
    char want[160], got[64];
    unsigned i;

    if (rc == -ENOTCONN && !vmm_is_connected(r->vmm) &&
        (!e->present || !e->hangup)) {
        return scn_fail(r, s, "not connected (the server hung up)");
    }
    if (!e->present) {
        if (rc < 0) {
            return scn_fail(r, s, "failed: %s, expected success",
                            scn_errstr(-rc, got, sizeof(got)));
        }
        return SCN_GO;
    }
    scn_errset_str(e, want, sizeof(want));
    if (rc >= 0) {
        return e->ok ? 2
                     : scn_fail(r, s, "expected error %s, but it succeeded",
                                want);
    }
    if (e->any || (e->hangup && rc == -ENOTCONN)) {
        return 2;
    }
    for (i = 0; i < e->nr; i++) {
        if (e->errs[i] == -rc) {
            return 2;
        }
    }
    return scn_fail(r, s, "expected error %s, got %s", want,
                    scn_errstr(-rc, got, sizeof(got)));
}

static bool
compare(int cmp, uint64_t a, uint64_t b)
{
    switch (cmp) {
    case SCN_CMP_EQ:
        return a == b;
    case SCN_CMP_NE:
        return a != b;
    case SCN_CMP_LT:
        return a < b;
    case SCN_CMP_LE:
        return a <= b;
    case SCN_CMP_GT:
        return a > b;
    case SCN_CMP_GE:
        return a >= b;
    default:
        return true;
    }
}

/* Compare, mask and capture; @skip turns a mismatch into a skip. */
int
scn_check_value_as(scn_runner_t *r, const scn_stmt_t *s, uint64_t actual,
               unsigned width, bool skip)
{
    static const char *const ops[] = {"", "==", "!=", "<", "<=", ">", ">="};
    const scn_checks_t *c = &s->chk;
    uint64_t want = 0, mask = ~0ull, seen;
    int digits = width > 0 ? (int)width * 2 : 1;
    char got[96];

    if (c->capture >= 0) {
        r->vars[c->capture] = actual;
    }
    if (c->cmp == SCN_CMP_NONE) {
        return SCN_GO;
    }
    if (scn_eval(r, s, &c->rhs, &want) != SCN_GO ||
        (c->has_mask && scn_eval(r, s, &c->mask, &mask) != SCN_GO)) {
        return SCN_STOP;
    }
    seen = actual & mask;
    if (compare(c->cmp, seen, want)) {
        return SCN_GO;
    }
    if (c->has_mask) {
        snprintf(got, sizeof(got), "0x%0*llx & 0x%0*llx = 0x%0*llx", digits,
                 (unsigned long long)actual, digits, (unsigned long long)mask,
                 digits, (unsigned long long)seen);
    } else {
        snprintf(got, sizeof(got), "0x%0*llx", digits,
                 (unsigned long long)actual);
    }
    if (skip) {
        return scn_skip(r, s, "got %s (needs %s 0x%0*llx)", got, ops[c->cmp],
                        digits, (unsigned long long)want);
    }
    if (c->cmp == SCN_CMP_EQ) {
        return scn_fail(r, s, "got %s (expected 0x%0*llx)", got, digits,
                        (unsigned long long)want);
    }
    return scn_fail(r, s, "got %s (expected %s 0x%0*llx)", got, ops[c->cmp],
                    digits, (unsigned long long)want);
}

int
scn_check_value(scn_runner_t *r, const scn_stmt_t *s, uint64_t actual,
                unsigned width)
{
    return scn_check_value_as(r, s, actual, width, false);
}

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

static int exec_list(scn_runner_t *r, const scn_stmt_t *list, uint32_t nr);

static int
exec_repeat(scn_runner_t *r, const scn_stmt_t *s)
{
    uint64_t n, i;
    int rc = SCN_GO;

    if (scn_eval(r, s, &s->a[0], &n) != SCN_GO) {
        return SCN_STOP;
    }
    if (n > SCN_MAX_REPEAT) {
        return scn_fail(r, s, "repeat count %llu above %u",
                        (unsigned long long)n, SCN_MAX_REPEAT);
    }
    if (r->iter_depth > SCN_MAX_NEST) {
        return scn_fail(r, s, "blocks nested too deep");
    }
    r->iter_n[r->iter_depth] = (uint32_t)n;
    r->iter_depth++;
    for (i = 0; i < n && rc == SCN_GO; i++) {
        r->iter[r->iter_depth - 1] = (uint32_t)i;
        if (s->var >= 0) {
            r->vars[s->var] = i;
        }
        rc = exec_list(r, s->body, s->nr_body);
    }
    r->iter_depth--;
    return rc;
}

static int
exec_batch(scn_runner_t *r, const scn_stmt_t *s)
{
    char err[64];
    int rc, frc;

    r->batching = true;
    rc = exec_list(r, s->body, s->nr_body);
    r->batching = false;
    frc = vmm_region_write_flush(r->vmm);
    if (rc == SCN_GO && frc < 0) {
        return scn_fail(r, s, "batched writes failed: %s",
                        scn_errstr(-frc, err, sizeof(err)));
    }
    return rc;
}

static int
exec_stmt(scn_runner_t *r, const scn_stmt_t *s)
{
    uint64_t v;
    char err[64];
    int rc;

    r->res->ops++;
    switch (s->kind) {
    case SCN_S_INFO:
    case SCN_S_REQUIRE:
        return scn_exec_info(r, s);
    case SCN_S_READ:
    case SCN_S_WRITE:
    case SCN_S_READ_BLOB:
    case SCN_S_WRITE_BLOB:
        return scn_exec_access(r, s);
    case SCN_S_BATCH:
        return exec_batch(r, s);
    case SCN_S_IRQ_ENABLE:
    case SCN_S_IRQ_DISABLE:
    case SCN_S_IRQ_MASK:
    case SCN_S_IRQ_UNMASK:
        return scn_exec_irq(r, s);
    case SCN_S_EXPECT_IRQ:
    case SCN_S_EXPECT_NO_IRQ:
        return scn_exec_expect_irq(r, s);
    case SCN_S_RESET:
        rc = scn_check_rc(r, s, vmm_reset(r->vmm));
        return rc == 2 ? SCN_GO : rc;
    case SCN_S_RECONNECT:
        r->dirty_pgsize = 0;
        return scn_target_reconnect(r, s);
    case SCN_S_MIGRATE:
    case SCN_S_SNAPSHOT:
    case SCN_S_RESTORE:
    case SCN_S_DIRTY_START:
    case SCN_S_DIRTY_STOP:
    case SCN_S_DIRTY_PAGES:
        return scn_exec_mig(r, s);
    case SCN_S_POLL:
        rc = vmm_poll(r->vmm, (int)s->a[0].k);
        if (rc < 0) {
            return scn_fail(r, s, "failed: %s",
                            scn_errstr(-rc, err, sizeof(err)));
        }
        return SCN_GO;
    case SCN_S_SET:
        if (scn_eval(r, s, &s->a[0], &v) != SCN_GO) {
            return SCN_STOP;
        }
        r->vars[s->var] = v;
        return SCN_GO;
    case SCN_S_CHECK:
        if (scn_eval(r, s, &s->a[0], &v) != SCN_GO) {
            return SCN_STOP;
        }
        return scn_check_value(r, s, v, 0);
    case SCN_S_ECHO:
        scn_note(r, "echo: %s", s->str);
        return SCN_GO;
    case SCN_S_RAW:
        return scn_exec_raw(r, s);
    case SCN_S_SEND:
        return scn_exec_send(r, s);
    case SCN_S_RECV:
        return scn_exec_recv(r, s);
    case SCN_S_ANSWER:
        return scn_exec_answer(r, s);
    case SCN_S_REPEAT:
        return exec_repeat(r, s);
    default:
        return scn_exec_mem(r, s);
    }
}

static int
exec_list(scn_runner_t *r, const scn_stmt_t *list, uint32_t nr)
{
    uint32_t i;

    for (i = 0; i < nr; i++) {
        int rc = exec_stmt(r, &list[i]);

        if (rc != SCN_GO) {
            return rc;
        }
    }
    return SCN_GO;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */
/* ------------------------------------------------------------------ */

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
scn_run(const scn_script_t *script, const scn_run_opts_t *opts,
        scn_result_t *res)
{
    static const scn_run_opts_t no_opts;
    scn_runner_t *r;
    double t0 = now_s();
    int rc;

    if (res != NULL) {
        memset(res, 0, sizeof(*res));
    }
    if (script == NULL || res == NULL) {
        return -EINVAL;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    r->sc = script;
    r->opts = opts != NULL ? opts : &no_opts;
    r->res = res;
    r->status = SCN_PASS;
    res->digest = 0xcbf29ce484222325ull;

    rc = scn_target_open(r);
    if (rc == SCN_GO) {
        scn_install_hooks(r);
        (void)exec_list(r, script->stmts, script->nr_stmts);
    }
    scn_target_close(r);

    res->status = r->status;
    res->seconds = now_s() - t0;
    if (r->status != SCN_PASS) {
        res->message = r->msg.oom ? strdup("out of memory") : r->msg.s;
        r->msg.s = NULL;
    }
    free(r->msg.s);
    free(r);
    if (res->status != SCN_PASS && res->message == NULL) {
        return -ENOMEM;
    }
    return 0;
}

int
scn_run_file(const char *path, const scn_run_opts_t *opts, scn_result_t *res)
{
    scn_script_t *sc = NULL;
    scn_diag_t diag;
    char buf[1200];
    int rc;

    if (res != NULL) {
        memset(res, 0, sizeof(*res));
    }
    if (path == NULL || res == NULL) {
        return -EINVAL;
    }
    rc = scn_parse_file(path, &sc, &diag);
    if (rc == -ENOMEM) {
        return rc;
    }
    if (rc < 0) {
        scn_diag_format(&diag, buf, sizeof(buf));
        res->status = SCN_FAIL;
        res->message = malloc(strlen(buf) + 2);
        if (res->message == NULL) {
            return -ENOMEM;
        }
        sprintf(res->message, "%s\n", buf);
        return 0;
    }
    rc = scn_run(sc, opts, res);
    scn_script_free(sc);
    return rc;
}

void
scn_result_free(scn_result_t *res)
{
    if (res == NULL) {
        return;
    }
    free(res->message);
    memset(res, 0, sizeof(*res));
}

