/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_parse_stmt.c - one scenario statement from its tokens: dispatch on
 * the keyword; raw messages, variables, flow and the other statements
 * (docs/scenarios.md 5.6 to 5.9); the header and the device statements
 * are in scn_parse_head.c and scn_parse_dev.c.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scn_parse.h"
#include "proto/proto.h"

/* ------------------------------------------------------------------ */
/* Raw messages, flow and the rest                                     */
/* ------------------------------------------------------------------ */

static int
parse_raw(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    const scn_tok_t *t = scn_peek(c);
    size_t i;
    int rc;

    s->kind = SCN_S_RAW;
    if (t == NULL) {
        return scn_expected(p, c, "a command name or number");
    }
    for (i = 0; i < PROTO_NR_COMMANDS; i++) {
        const proto_cmd_t *cmd = proto_cmd_at(i);

        if (cmd != NULL && strcmp(cmd->name, t->text) == 0) {
            s->cmd = cmd->cmd;
            break;
        }
    }
    if (i == PROTO_NR_COMMANDS) {
        uint64_t v;

        if (t->text[0] < '0' || t->text[0] > '9') {
            return scn_perr(p, t, "unknown command " TOKFMT
                                  " (VERSION, DMA_MAP, ... or a number)",
                            TOKARG(t));
        }
        rc = scn_p_const(p, c, &v, "a command number");
        if (rc < 0) {
            return rc;
        }
        if (v > 0xffff) {
            return scn_perr(p, t, "command number above 65535");
        }
        s->cmd = (uint32_t)v;
    } else {
        c->i++;
    }
    rc = scn_p_items(p, c, &s->bytes, false, s, false);
    return rc < 0 ? rc : scn_p_reply(p, c, s, false);
}

/* answer DMA_READ|DMA_WRITE [flags V] [errno V] [ITEMS...] [FDS...] */
static int
parse_answer(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    const scn_tok_t *t = scn_peek(c);
    int rc;

    s->kind = SCN_S_ANSWER;
    if (t != NULL && strcmp(t->text, "DMA_READ") == 0) {
        s->cmd = VFIO_USER_DMA_READ;
    } else if (t != NULL && strcmp(t->text, "DMA_WRITE") == 0) {
        s->cmd = VFIO_USER_DMA_WRITE;
    } else {
        return scn_expected(p, c, "DMA_READ or DMA_WRITE");
    }
    c->i++;
    while ((t = scn_peek(c)) != NULL && !t->quoted) {
        int i;

        if (strcmp(t->text, "flags") == 0) {
            i = 0;
        } else if (strcmp(t->text, "errno") == 0) {
            i = 1;
        } else {
            break;
        }
        if (s->has_a[i]) {
            return scn_perr(p, t, TOKFMT " given twice", TOKARG(t));
        }
        c->i++;
        rc = scn_value_at(p, c, s, i, i == 0 ? "the header flags"
                                              : "an errno number");
        if (rc < 0) {
            return rc;
        }
    }
    rc = scn_p_items(p, c, &s->bytes, false, s, false);
    return rc < 0 ? rc : scn_end(p, c);
}

static int
parse_repeat(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    const scn_tok_t *t = scn_peek(c);
    int rc;

    s->kind = SCN_S_REPEAT;
    s->var = -1;
    rc = scn_value_at(p, c, s, 0, "a repeat count");
    if (rc < 0) {
        return rc;
    }
    if (s->a[0].nr == 0 && s->a[0].k > SCN_MAX_REPEAT) {
        return scn_perr(p, t, "repeat count above %u", SCN_MAX_REPEAT);
    }
    if (scn_accept(c, "as")) {
        rc = scn_p_newvar(p, scn_peek(c));
        if (rc < 0) {
            return rc;
        }
        s->var = rc;
        c->i++;
    }
    if (!scn_accept(c, "{")) {
        return scn_expected(p, c, "'{'");
    }
    if (scn_peek(c) == NULL) {
        return 1;
    }
    return scn_parse_inline_body(p, c, s);
}

static int
parse_misc(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s,
           const scn_tok_t *kw)
{
    const char *k = kw->text;
    char msg[160];
    uint64_t ms;
    int rc;

    if (strcmp(k, "reset") == 0) {
        s->kind = SCN_S_RESET;
        return scn_only_error(p, c, s);
    }
    if (strcmp(k, "reconnect") == 0) {
        s->kind = SCN_S_RECONNECT;
        return scn_end(p, c);
    }
    if (strcmp(k, "poll") == 0) {
        const scn_tok_t *t = scn_peek(c);

        s->kind = SCN_S_POLL;
        if (t != NULL) {
            c->i++;
            if (scn_parse_duration(t->text, &ms, msg, sizeof(msg)) < 0) {
                return scn_perr(p, t, "%s", msg);
            }
            s->a[0].k = ms;
        }
        return scn_end(p, c);
    }
    if (strcmp(k, "set") == 0) {
        const scn_tok_t *var = scn_peek(c);

        s->kind = SCN_S_SET;
        if (var == NULL) {
            return scn_expected(p, c, "a variable");
        }
        c->i++;
        rc = scn_value_at(p, c, s, 0, "a value");
        if (rc == 0) {
            rc = scn_p_newvar(p, var);
            s->var = rc;
        }
        return rc < 0 ? rc : scn_end(p, c);
    }
    if (strcmp(k, "check") == 0) {
        s->kind = SCN_S_CHECK;
        rc = scn_value_at(p, c, s, 0, "a value");
        if (rc == 0) {
            rc = scn_p_checks(p, c, &s->chk, SCN_CHK_CMP | SCN_CHK_CAPTURE);
        }
        if (rc == 0 && s->chk.cmp == SCN_CMP_NONE) {
            rc = scn_expected(p, c, "a comparison");
        }
        return rc;
    }
    if (strcmp(k, "echo") == 0) {
        size_t len = 0, i;

        s->kind = SCN_S_ECHO;
        for (i = c->i; i < c->n; i++) {
            len += c->t[i].len + 1;
        }
        s->str = calloc(1, len + 1);
        if (s->str == NULL) {
            return -ENOMEM;
        }
        for (i = c->i; i < c->n; i++) {
            if (i > c->i) {
                strcat(s->str, " ");
            }
            strcat(s->str, c->t[i].text);
        }
        c->i = c->n;
        return 0;
    }
    if (strcmp(k, "send") == 0) {
        s->kind = SCN_S_SEND;
        rc = scn_p_items(p, c, &s->bytes, false, s, true);
        return rc < 0 ? rc : scn_end(p, c);
    }
    if (strcmp(k, "recv") == 0) {
        s->kind = SCN_S_RECV;
        return scn_p_reply(p, c, s, true);
    }
    if (strcmp(k, "migrate") == 0 || strcmp(k, "snapshot") == 0 ||
        strcmp(k, "restore") == 0 || strcmp(k, "dirty") == 0) {
        return scn_parse_mig(p, c, s, kw);
    }
    if (strcmp(k, "include") == 0) {
        return scn_perr(p, kw, "include must stand on its own line");
    }
    if (strcmp(k, "}") == 0) {
        return scn_perr(p, kw, "'}' without an open block");
    }
    return scn_perr(p, kw, "unknown statement " TOKFMT, TOKARG(kw));
}

static bool
is_region_word(const scn_tok_t *t)
{
    static const char *const words[] = {"config", "bar0", "bar1", "bar2",
                                        "bar3",   "bar4", "bar5", "rom",
                                        "vga",    "region", NULL};
    size_t i;

    for (i = 0; words[i] != NULL; i++) {
        if (strcmp(t->text, words[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The statement as written, for failure messages (at most 160 bytes). */
static char *
stmt_text(scn_parser_t *p, const scn_cur_t *c)
{
    char *s = scn_raw_text(p, c, 0);

    if (s != NULL && strlen(s) > 160) {
        memcpy(s + 157, "...", 4);
    }
    return s;
}

int
scn_parse_stmt(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    const scn_tok_t *kw = scn_peek(c);
    const char *k;

    s->var = -1;
    s->chk.capture = -1;
    s->loc.file = p->file;
    s->loc.line = kw->line;
    s->loc.col = kw->col;
    if (kw->quoted) {
        return scn_perr(p, kw, "expected a statement, got a string");
    }
    k = kw->text;
    if (strcmp(k, "device") == 0 || strcmp(k, "connect") == 0 ||
        strcmp(k, "spawn") == 0) {
        c->i++;
        return scn_parse_target(p, c, kw) < 0 ? -EINVAL : 2;
    }
    if (strcmp(k, "option") == 0) {
        c->i++;
        return scn_parse_option(p, c, kw) < 0 ? -EINVAL : 2;
    }
    p->seen_body = true;
    s->text = stmt_text(p, c);
    if (s->text == NULL) {
        return -ENOMEM;
    }
    if (is_region_word(kw)) {
        return scn_parse_access(p, c, s);
    }
    c->i++;
    if (strcmp(k, "info") == 0 || strcmp(k, "require") == 0) {
        s->kind = k[0] == 'i' ? SCN_S_INFO : SCN_S_REQUIRE;
        return scn_parse_info(p, c, s, k[0] == 'r');
    }
    if (strcmp(k, "batch") == 0) {
        s->kind = SCN_S_BATCH;
        if (!scn_accept(c, "{")) {
            return scn_expected(p, c, "'{'");
        }
        if (scn_peek(c) != NULL) {
            return scn_perr(p, scn_peek(c), "the batch body starts on the "
                                            "next line");
        }
        if (p->in_batch) {
            return scn_perr(p, kw, "batch inside a batch");
        }
        return 1;
    }
    if (strcmp(k, "mem") == 0) {
        return scn_parse_mem(p, c, s);
    }
    if (strcmp(k, "irq") == 0) {
        return scn_parse_irq(p, c, s);
    }
    if (strcmp(k, "expect") == 0) {
        return scn_parse_expect(p, c, s);
    }
    if (strcmp(k, "raw") == 0) {
        return parse_raw(p, c, s);
    }
    if (strcmp(k, "answer") == 0) {
        return parse_answer(p, c, s);
    }
    if (strcmp(k, "repeat") == 0) {
        return parse_repeat(p, c, s);
    }
    return parse_misc(p, c, s, kw);
}

