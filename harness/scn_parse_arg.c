/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_parse_arg.c - argument forms shared by the statements: values,
 * region and IRQ selectors, errno names and sets, byte items and fds,
 * check clauses and reply clauses (docs/scenarios.md, 2-4).
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scn_parse.h"
#include "vfio-user/libvfio-user.h"

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

#define SCN_ERRNOS(XX)                                                         \
    XX(EPERM) XX(ENOENT) XX(ESRCH) XX(EINTR) XX(EIO) XX(ENXIO) XX(E2BIG)       \
    XX(EBADF) XX(EAGAIN) XX(ENOMEM) XX(EACCES) XX(EFAULT) XX(EBUSY)            \
    XX(EEXIST) XX(ENODEV) XX(EINVAL) XX(ENFILE) XX(EMFILE) XX(ENOTTY)          \
    XX(EFBIG) XX(ENOSPC) XX(ESPIPE) XX(EROFS) XX(EPIPE) XX(EDOM) XX(ERANGE)    \
    XX(ENAMETOOLONG) XX(ENOLCK) XX(ENOSYS) XX(ENOTEMPTY) XX(ELOOP)             \
    XX(ENOMSG) XX(ENODATA) XX(EPROTO) XX(EBADMSG) XX(EOVERFLOW) XX(EILSEQ)     \
    XX(ENOTSOCK) XX(EMSGSIZE) XX(ENOTSUP) XX(ENOBUFS) XX(ENOTCONN)             \
    XX(ECONNRESET) XX(ETIMEDOUT) XX(EALREADY) XX(EINPROGRESS) XX(ESTALE)       \
    XX(EREMOTEIO) XX(ENOMEDIUM) XX(ECANCELED)

static const struct {
    const char *name;
    int value;
} errnos[] = {
#define XX(e) {#e, e},
    SCN_ERRNOS(XX)
#undef XX
    {"EOPNOTSUPP", EOPNOTSUPP},
};

int
scn_errno_lookup(const char *name, size_t len)
{
    size_t i, j;

    for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
        const char *n = errnos[i].name;

        if (strlen(n) != len) {
            continue;
        }
        for (j = 0; j < len; j++) {
            char c = name[j];

            if (c >= 'a' && c <= 'z') {
                c = (char)(c - 'a' + 'A');
            }
            if (c != n[j]) {
                break;
            }
        }
        if (j == len) {
            return errnos[i].value;
        }
    }
    return 0;
}

const char *
scn_errno_name(int err)
{
    size_t i;

    for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
        if (errnos[i].value == err) {
            return errnos[i].name;
        }
    }
    return NULL;
}

static const char *const device_fields[] = {"flags", "num_regions",
                                            "num_irqs", NULL};
static const char *const region_fields[] = {
    "size", "flags", "offset", "fd", "areas", "type", "subtype", NULL};
static const char *const irq_fields[] = {"count", "flags", NULL};
static const char *const caps_fields[] = {
    "major",        "minor",   "max_msg_fds",    "max_data_xfer_size",
    "max_dma_maps", "pgsizes", "write_multiple", "twin_socket",
    NULL};
static const char *const cap_fields[] = {"offset", NULL};
static const char *const dma_fields[] = {
    "reads", "writes", "read_bytes", "write_bytes", "errors", NULL};
static const char *const mig_fields[] = {"state", "flags", NULL};

static const char *const *
fields_of(int obj)
{
    switch (obj) {
    case SCN_OBJ_DEVICE:
        return device_fields;
    case SCN_OBJ_REGION:
        return region_fields;
    case SCN_OBJ_IRQ:
        return irq_fields;
    case SCN_OBJ_CAPS:
        return caps_fields;
    case SCN_OBJ_DMA:
        return dma_fields;
    case SCN_OBJ_MIG:
        return mig_fields;
    case SCN_OBJ_CAP:
    case SCN_OBJ_EXTCAP:
        return cap_fields;
    default:
        return NULL;
    }
}

int
scn_field_lookup(int obj, const char *name)
{
    const char *const *f = fields_of(obj);
    int i;

    for (i = 0; f != NULL && f[i] != NULL; i++) {
        if (strcmp(f[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

const char *
scn_field_name(int obj, int field)
{
    const char *const *f = fields_of(obj);
    int i;

    for (i = 0; f != NULL && f[i] != NULL; i++) {
        if (i == field) {
            return f[i];
        }
    }
    return "?";
}

/* ------------------------------------------------------------------ */
/* Cursor and errors                                                   */
/* ------------------------------------------------------------------ */

int
scn_perr(scn_parser_t *p, const scn_tok_t *t, const char *fmt, ...)
{
    scn_diag_t *d = p->diag;
    const scn_file_t *f = &p->script->files[p->file];
    char msg[sizeof(d->msg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (d == NULL) {
        return -EINVAL;
    }
    snprintf(d->file, sizeof(d->file), "%s", f->path);
    d->line = t != NULL ? t->line : 0;
    d->col = t != NULL ? t->col : 0;
    if (f->parent >= 0) {
        snprintf(d->msg, sizeof(d->msg), "%.380s (included from %.80s:%u)",
                 msg, p->script->files[f->parent].path, f->parent_line);
    } else {
        snprintf(d->msg, sizeof(d->msg), "%s", msg);
    }
    return -EINVAL;
}

const scn_tok_t *
scn_peek(const scn_cur_t *c)
{
    return c->i < c->n ? &c->t[c->i] : NULL;
}

const scn_tok_t *
scn_accept(scn_cur_t *c, const char *kw)
{
    const scn_tok_t *t = scn_peek(c);

    if (t != NULL && !t->quoted && strcmp(t->text, kw) == 0) {
        c->i++;
        return t;
    }
    return NULL;
}


int
scn_expected(scn_parser_t *p, const scn_cur_t *c, const char *what)
{
    const scn_tok_t *t = scn_peek(c);

    if (t == NULL) {
        const scn_tok_t *last = &c->t[c->n - 1];
        scn_tok_t end = *last;

        end.col = last->col + (unsigned)(last->src_end - last->src_start);
        return scn_perr(p, &end, "expected %s at the end of the line", what);
    }
    return scn_perr(p, t, "expected %s, got " TOKFMT, what, TOKARG(t));
}

int
scn_end(scn_parser_t *p, const scn_cur_t *c)
{
    const scn_tok_t *t = scn_peek(c);

    if (t != NULL) {
        return scn_perr(p, t, "unexpected " TOKFMT, TOKARG(t));
    }
    return 0;
}

/* True for tokens that end a value list: keywords of clauses. */
static bool
is_clause_word(const scn_tok_t *t)
{
    static const char *const words[] = {
        "==", "!=", "<", "<=", ">", ">=", "mask", "->", "error", "ok",
        "reply", "hangup", "count", "within", "{", "}", NULL};
    size_t i;

    if (t->quoted) {
        return false;
    }
    for (i = 0; words[i] != NULL; i++) {
        if (strcmp(t->text, words[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Parse the text of @t (or a part of it) as a value. */
static int
value_of(scn_parser_t *p, const scn_tok_t *t, const char *s, size_t len,
         scn_value_t *v, const char *what)
{
    char msg[256];
    size_t at = 0;
    int rc;

    if (len == 0) {
        return scn_perr(p, t, "expected %s", what);
    }
    rc = scn_expr_parse(s, len, &p->vars, v, msg, sizeof(msg), &at);
    if (rc == -EINVAL) {
        scn_tok_t where = *t;

        if (!t->quoted) {
            where.col += (unsigned)(s - t->text + at);
        }
        return scn_perr(p, &where, "%s: %s", what, msg);
    }
    return rc;
}

int
scn_p_value(scn_parser_t *p, scn_cur_t *c, scn_value_t *v, const char *what)
{
    const scn_tok_t *t = scn_peek(c);

    if (t == NULL || is_clause_word(t)) {
        return scn_expected(p, c, what);
    }
    c->i++;
    return value_of(p, t, t->text, t->len, v, what);
}

int
scn_p_const(scn_parser_t *p, scn_cur_t *c, uint64_t *out, const char *what)
{
    const scn_tok_t *t = scn_peek(c);
    scn_value_t v;
    int rc = scn_p_value(p, c, &v, what);

    if (rc < 0) {
        return rc;
    }
    if (v.nr != 0) {
        scn_value_free(&v);
        return scn_perr(p, t, "%s must be a constant", what);
    }
    *out = v.k;
    return 0;
}

int
scn_p_newvar(scn_parser_t *p, const scn_tok_t *t)
{
    int rc;

    if (t == NULL || t->quoted || t->text[0] != '$') {
        return scn_perr(p, t, "expected a variable ($name)");
    }
    rc = scn_var_index(&p->vars, t->text, t->len, true);
    if (rc == -EINVAL) {
        return scn_perr(p, t, "bad variable name " TOKFMT
                              " (letters, digits, _; at most 32)", TOKARG(t));
    }
    if (rc == -ENOSPC) {
        return scn_perr(p, t, "too many variables (at most %u)",
                        SCN_MAX_VARS);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Selectors                                                           */
/* ------------------------------------------------------------------ */

int
scn_p_region(scn_parser_t *p, scn_cur_t *c, scn_value_t *v)
{
    static const struct {
        const char *name;
        unsigned idx;
    } names[] = {
        {"bar0", VFU_PCI_DEV_BAR0_REGION_IDX},
        {"bar1", VFU_PCI_DEV_BAR1_REGION_IDX},
        {"bar2", VFU_PCI_DEV_BAR2_REGION_IDX},
        {"bar3", VFU_PCI_DEV_BAR3_REGION_IDX},
        {"bar4", VFU_PCI_DEV_BAR4_REGION_IDX},
        {"bar5", VFU_PCI_DEV_BAR5_REGION_IDX},
        {"rom", VFU_PCI_DEV_ROM_REGION_IDX},
        {"config", VFU_PCI_DEV_CFG_REGION_IDX},
        {"vga", VFU_PCI_DEV_VGA_REGION_IDX},
    };
    size_t i;

    memset(v, 0, sizeof(*v));
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (scn_accept(c, names[i].name) != NULL) {
            v->k = names[i].idx;
            return 0;
        }
    }
    if (scn_accept(c, "region") != NULL) {
        return scn_p_value(p, c, v, "a region index");
    }
    /* a bare index (info region 9): a statement never starts with one */
    if (scn_peek(c) != NULL && strchr("0123456789$(", scn_peek(c)->text[0]) &&
        scn_peek(c)->text[0] != '\0' && !scn_peek(c)->quoted) {
        return scn_p_value(p, c, v, "a region index");
    }
    return scn_expected(p, c, "a region (config, bar0..bar5, rom, vga, "
                              "region N)");
}

int
scn_p_irq_index(scn_parser_t *p, scn_cur_t *c, scn_value_t *v)
{
    static const char *const names[] = {"intx", "msi", "msix", "err", "req"};
    size_t i;

    memset(v, 0, sizeof(*v));
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (scn_accept(c, names[i]) != NULL) {
            v->k = i;
            return 0;
        }
    }
    return scn_p_value(p, c, v,
                       "an IRQ index (intx, msi, msix, err, req or N)");
}

int
scn_p_errset(scn_parser_t *p, const scn_tok_t *t, scn_errset_t *e)
{
    const char *s, *end;

    memset(e, 0, sizeof(*e));
    /* 'hangup' and 'ok' are clause words elsewhere but whole sets here */
    if (t == NULL || t->quoted ||
        (is_clause_word(t) && strcmp(t->text, "hangup") != 0 &&
         strcmp(t->text, "ok") != 0)) {
        return scn_perr(p, t, "expected an errno (EINVAL, EINVAL|ENOSPC, "
                              "any, hangup)");
    }
    e->present = true;
    for (s = t->text;; s = end + 1) {
        size_t len;
        int err = 0;

        end = strchr(s, '|');
        if (end == NULL) {
            end = s + strlen(s);
        }
        len = (size_t)(end - s);
        if (len == 0) {
            return scn_perr(p, t, "empty alternative in errno set " TOKFMT,
                            TOKARG(t));
        }
        if (len == 3 && memcmp(s, "any", 3) == 0) {
            e->any = true;
        } else if (len == 6 && memcmp(s, "hangup", 6) == 0) {
            e->hangup = true;
        } else if (len == 2 && memcmp(s, "ok", 2) == 0) {
            e->ok = true;
        } else {
            err = scn_errno_lookup(s, len);
            if (err == 0 && s[0] >= '0' && s[0] <= '9') {
                uint64_t v;
                char msg[128];

                if (scn_parse_number(s, len, &v, msg, sizeof(msg)) == 0 &&
                    v >= 1 && v <= 4095) {
                    err = (int)v;
                }
            }
            if (err == 0) {
                return scn_perr(p, t, "unknown errno '%.*s'",
                                (int)(len > 40 ? 40 : len), s);
            }
            if (e->nr >= SCN_MAX_ERRS) {
                return scn_perr(p, t, "too many errnos (at most %u)",
                                SCN_MAX_ERRS);
            }
            e->errs[e->nr++] = (uint16_t)err;
        }
        if (*end == '\0') {
            break;
        }
    }
    if (!e->any && !e->hangup && !e->ok && e->nr == 0) {
        return scn_perr(p, t, "expected an errno");
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Check and reply clauses                                             */
/* ------------------------------------------------------------------ */

static int
cmp_of(const scn_tok_t *t)
{
    static const char *const ops[] = {NULL, "==", "!=", "<", "<=", ">", ">="};
    int i;

    if (t == NULL || t->quoted) {
        return SCN_CMP_NONE;
    }
    for (i = SCN_CMP_EQ; i <= SCN_CMP_GE; i++) {
        if (strcmp(t->text, ops[i]) == 0) {
            return i;
        }
    }
    return SCN_CMP_NONE;
}

int
scn_p_checks(scn_parser_t *p, scn_cur_t *c, scn_checks_t *chk,
             unsigned allowed)
{
    const scn_tok_t *t, *capture = NULL, *first = scn_peek(c);
    int rc;

    chk->capture = -1;
    while ((t = scn_peek(c)) != NULL) {
        int cmp = cmp_of(t);

        if (cmp != SCN_CMP_NONE && (allowed & (SCN_CHK_CMP | SCN_CHK_BYTES))) {
            if (chk->cmp != SCN_CMP_NONE) {
                return scn_perr(p, t, "only one comparison per statement");
            }
            c->i++;
            chk->cmp = (uint8_t)cmp;
            if (allowed & SCN_CHK_BYTES) {
                if (cmp != SCN_CMP_EQ && cmp != SCN_CMP_NE) {
                    return scn_perr(p, t, "bytes compare only with == or !=");
                }
                rc = scn_p_items(p, c, &chk->rhs_bytes, true, NULL, true);
            } else {
                rc = scn_p_value(p, c, &chk->rhs, "a value to compare with");
            }
        } else if ((allowed & SCN_CHK_CMP) && scn_accept(c, "mask")) {
            if (chk->has_mask) {
                return scn_perr(p, t, "only one mask per statement");
            }
            chk->has_mask = true;
            rc = scn_p_value(p, c, &chk->mask, "a mask");
        } else if ((allowed & SCN_CHK_CAPTURE) && scn_accept(c, "->")) {
            if (capture != NULL) {
                return scn_perr(p, t, "only one capture per statement");
            }
            capture = scn_peek(c);
            if (capture == NULL) {
                return scn_expected(p, c, "a variable after '->'");
            }
            c->i++;
            rc = 0;
        } else if ((allowed & SCN_CHK_ERROR) && scn_accept(c, "error")) {
            if (chk->err.present) {
                return scn_perr(p, t, "only one error clause per statement");
            }
            if (scn_peek(c) == NULL) {
                return scn_expected(p, c, "an errno after 'error'");
            }
            rc = scn_p_errset(p, scn_peek(c), &chk->err);
            c->i++;
        } else {
            return scn_perr(p, t, "unexpected " TOKFMT, TOKARG(t));
        }
        if (rc < 0) {
            return rc;
        }
    }
    if (chk->has_mask && chk->cmp == SCN_CMP_NONE) {
        return scn_perr(p, first, "'mask' needs a comparison (== V mask M)");
    }
    if (chk->err.present && (chk->cmp != SCN_CMP_NONE || capture != NULL)) {
        return scn_perr(p, first, "'error' cannot be combined with a "
                                  "comparison or a capture");
    }
    if (capture != NULL) {
        rc = scn_p_newvar(p, capture);
        if (rc < 0) {
            return rc;
        }
        chk->capture = rc;
    }
    return 0;
}

int
scn_p_reply(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s, bool for_recv)
{
    const scn_tok_t *t = scn_peek(c);
    int rc;

    s->reply = for_recv ? SCN_REPLY_ANY : SCN_REPLY_OK;
    if (t == NULL) {
        return 0;
    }
    if (scn_accept(c, "ok")) {
        s->reply = SCN_REPLY_OK;
    } else if (scn_accept(c, "hangup")) {
        s->reply = SCN_REPLY_HANGUP;
    } else if (scn_accept(c, "error")) {
        s->reply = SCN_REPLY_ERROR;
        if (scn_peek(c) == NULL) {
            return scn_expected(p, c, "an errno after 'error'");
        }
        rc = scn_p_errset(p, scn_peek(c), &s->chk.err);
        if (rc < 0) {
            return rc;
        }
        c->i++;
    } else if (scn_accept(c, "reply")) {
        s->reply = SCN_REPLY_BYTES;
        rc = scn_p_items(p, c, &s->chk.rhs_bytes, true, NULL, false);
        if (rc < 0) {
            return rc;
        }
    } else {
        return scn_perr(p, t, "expected ok, error ERRNO, reply BYTES or "
                              "hangup, got " TOKFMT, TOKARG(t));
    }
    return scn_end(p, c);
}
