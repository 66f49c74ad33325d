/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_parse_mig.c - the migration statements (docs/scenarios.md 5.10):
 * migrate, snapshot, restore and dirty.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scn_parse.h"

static int
parse_migrate(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    const scn_tok_t *t, *iters = NULL;
    bool mode = false;
    uint64_t n;
    int rc;

    s->kind = SCN_S_MIGRATE;
    for (;;) {
        t = scn_peek(c);
        if (t == NULL || t->quoted) {
            break;
        }
        if (strcmp(t->text, "precopy") == 0 ||
            strcmp(t->text, "noprecopy") == 0) {
            if (mode) {
                return scn_perr(p, t, "precopy/noprecopy given twice");
            }
            mode = true;
            if (t->text[0] == 'n') {
                s->flags |= SCN_F_NOPRECOPY;
            }
            c->i++;
        } else if (strcmp(t->text, "nodirty") == 0) {
            if (s->flags & SCN_F_NODIRTY) {
                return scn_perr(p, t, "nodirty given twice");
            }
            s->flags |= SCN_F_NODIRTY;
            c->i++;
        } else if (strcmp(t->text, "iters") == 0) {
            if (s->has_a[0]) {
                return scn_perr(p, t, "iters given twice");
            }
            iters = t;
            c->i++;
            t = scn_peek(c);
            rc = scn_p_const(p, c, &n, "an iteration count");
            if (rc < 0) {
                return rc;
            }
            if (n < 1 || n > SCN_MAX_MIG_ITERS) {
                return scn_perr(p, t, "iters must be 1 to %u",
                                SCN_MAX_MIG_ITERS);
            }
            s->a[0].k = n;
            s->has_a[0] = true;
        } else {
            break;
        }
    }
    if ((s->flags & SCN_F_NOPRECOPY) && s->has_a[0]) {
        return scn_perr(p, iters, "iters makes no sense with noprecopy");
    }
    t = scn_peek(c);
    if (t != NULL && (t->quoted || strcmp(t->text, "error") != 0)) {
        return scn_expected(p, c, "precopy, noprecopy, iters, nodirty or "
                                  "error");
    }
    return scn_only_error(p, c, s);
}

/* snapshot/restore PATH: a plain file name or an absolute path. */
static int
parse_snap(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s, bool restore)
{
    const scn_tok_t *t = scn_peek(c);

    s->kind = restore ? SCN_S_RESTORE : SCN_S_SNAPSHOT;
    if (t == NULL || (!t->quoted && strcmp(t->text, "error") == 0)) {
        return scn_expected(p, c, "a snapshot file");
    }
    if (t->len == 0 || t->len > 200 || memchr(t->text, '\0', t->len) ||
        (t->text[0] != '/' && strchr(t->text, '/') != NULL) ||
        strcmp(t->text, ".") == 0 || strcmp(t->text, "..") == 0) {
        return scn_perr(p, t, "a snapshot file is a file name (kept in the "
                              "run's temporary directory) or an absolute "
                              "path of at most 200 bytes");
    }
    s->str = strdup(t->text);
    if (s->str == NULL) {
        return -ENOMEM;
    }
    c->i++;
    return scn_only_error(p, c, s);
}

static int
parse_dirty(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    const scn_tok_t *t;
    int rc;

    if (scn_accept(c, "start")) {
        s->kind = SCN_S_DIRTY_START;
        t = scn_peek(c);
        if (t != NULL && (t->quoted || strcmp(t->text, "error") != 0)) {
            rc = scn_value_at(p, c, s, 0, "a page size");
            if (rc < 0) {
                return rc;
            }
            if (s->a[0].nr == 0 &&
                (s->a[0].k == 0 || (s->a[0].k & (s->a[0].k - 1)) != 0)) {
                return scn_perr(p, t, "the page size must be a power of "
                                      "two");
            }
        }
        return scn_only_error(p, c, s);
    }
    if (scn_accept(c, "stop")) {
        s->kind = SCN_S_DIRTY_STOP;
        return scn_only_error(p, c, s);
    }
    if (scn_accept(c, "pages")) {
        s->kind = SCN_S_DIRTY_PAGES;
        rc = scn_value_at(p, c, s, 0, "a guest address");
        if (rc == 0) {
            rc = scn_value_at(p, c, s, 1, "a size");
        }
        if (rc == 0) {
            rc = scn_p_checks(p, c, &s->chk,
                              SCN_CHK_CMP | SCN_CHK_CAPTURE | SCN_CHK_ERROR);
        }
        return rc;
    }
    return scn_expected(p, c, "start, stop or pages");
}

int
scn_parse_mig(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s,
              const scn_tok_t *kw)
{
    switch (kw->text[0]) {
    case 'm':
        return parse_migrate(p, c, s);
    case 's':
        return parse_snap(p, c, s, false);
    case 'r':
        return parse_snap(p, c, s, true);
    default:
        return parse_dirty(p, c, s);
    }
}
