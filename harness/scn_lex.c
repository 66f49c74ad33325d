/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_lex.c - split scenario text into logical lines of tokens: quotes,
 * parenthesized expressions, comments and backslash continuation, with
 * the place of every token for error messages (docs/scenarios.md, 1).
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scn_private.h"

void
scn_lex_init(scn_lexer_t *lx, const char *buf, size_t len)
{
    memset(lx, 0, sizeof(*lx));
    lx->buf = buf;
    lx->len = len;
    lx->line = 1;
}

void
scn_lex_fini(scn_lexer_t *lx)
{
    free(lx->text);
    free(lx->toks);
    lx->text = NULL;
    lx->toks = NULL;
}

/* Per-line scanning state. */
typedef struct lstate {
    size_t used;         /* bytes in lx->text */
    size_t nr;           /* tokens */
    bool in_tok;
    unsigned paren;
    size_t parts;        /* quoted or bare parts of the current token */
    bool only_quote;     /* the token so far is one quoted part */
    size_t logical_len;  /* bytes consumed for this logical line */
    char *msg;
    size_t msg_size;
    unsigned *eline, *ecol;
} lstate_t;

static int
lex_error(scn_lexer_t *lx, lstate_t *st, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
lex_error(scn_lexer_t *lx, lstate_t *st, size_t at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(st->msg, st->msg_size, fmt, ap);
    va_end(ap);
    *st->eline = lx->line;
    *st->ecol = (unsigned)(at >= lx->line_start ? at - lx->line_start + 1 : 1);
    return -EINVAL;
}

static int
text_put(scn_lexer_t *lx, lstate_t *st, char c)
{
    if (st->used + 1 >= lx->text_cap) {
        size_t cap = lx->text_cap ? lx->text_cap * 2 : 256;
        char *t;

        if (cap > SCN_MAX_LINE + SCN_MAX_TOKENS + 16) {
            return -E2BIG;
        }
        t = realloc(lx->text, cap);
        if (t == NULL) {
            return -ENOMEM;
        }
        lx->text = t;
        lx->text_cap = cap;
    }
    lx->text[st->used++] = c;
    return 0;
}

static int
tok_begin(scn_lexer_t *lx, lstate_t *st)
{
    scn_tok_t *t;

    if (st->in_tok) {
        return 0;
    }
    if (st->nr >= SCN_MAX_TOKENS) {
        return lex_error(lx, st, lx->pos, "too many tokens on one line");
    }
    if (st->nr >= lx->tok_cap) {
        size_t cap = lx->tok_cap ? lx->tok_cap * 2 : 16;
        scn_tok_t *n = realloc(lx->toks, cap * sizeof(*n));

        if (n == NULL) {
            return -ENOMEM;
        }
        lx->toks = n;
        lx->tok_cap = cap;
    }
    t = &lx->toks[st->nr];
    memset(t, 0, sizeof(*t));
    t->text = (const char *)(uintptr_t)st->used; /* an offset until done */
    t->line = lx->line;
    t->col = (unsigned)(lx->pos - lx->line_start + 1);
    t->src_start = lx->pos;
    st->in_tok = true;
    st->parts = 0;
    st->only_quote = false;
    return 0;
}

static int
tok_end(scn_lexer_t *lx, lstate_t *st)
{
    scn_tok_t *t;
    int rc;

    if (!st->in_tok) {
        return 0;
    }
    if (st->paren > 0) {
        return lex_error(lx, st, lx->pos, "unclosed parenthesis");
    }
    t = &lx->toks[st->nr];
    t->len = st->used - (size_t)(uintptr_t)t->text;
    t->src_end = lx->pos;
    t->whole_quote = st->only_quote && st->parts == 1;
    rc = text_put(lx, st, '\0');
    if (rc < 0) {
        return rc;
    }
    st->nr++;
    st->in_tok = false;
    return 0;
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* One escape after a backslash inside "...": appends the byte. */
static int
lex_escape(scn_lexer_t *lx, lstate_t *st)
{
    size_t at = lx->pos;
    char c = lx->pos + 1 < lx->len ? lx->buf[lx->pos + 1] : '\0';
    int hi, lo;

    lx->pos += 2;
    switch (c) {
    case '\\':
    case '"':
        return text_put(lx, st, c);
    case 'n':
        return text_put(lx, st, '\n');
    case 't':
        return text_put(lx, st, '\t');
    case 'r':
        return text_put(lx, st, '\r');
    case '0':
        return text_put(lx, st, '\0');
    case 'x':
        hi = lx->pos < lx->len ? hexval(lx->buf[lx->pos]) : -1;
        lo = lx->pos + 1 < lx->len ? hexval(lx->buf[lx->pos + 1]) : -1;
        if (hi < 0 || lo < 0) {
            return lex_error(lx, st, at, "\\x needs two hex digits");
        }
        lx->pos += 2;
        return text_put(lx, st, (char)(hi << 4 | lo));
    default:
        return lex_error(lx, st, at, "unknown escape '\\%c'",
                         c >= 0x20 && c < 0x7f ? c : '?');
    }
}

/* A quoted part starting at lx->pos. */
static int
lex_quote(scn_lexer_t *lx, lstate_t *st)
{
    size_t open = lx->pos;
    char q = lx->buf[lx->pos++];
    int rc;

    st->only_quote = st->parts == 0;
    st->parts++;
    lx->toks[st->nr].quoted = true;
    for (;;) {
        unsigned char c;

        if (lx->pos >= lx->len || lx->buf[lx->pos] == '\n') {
            return lex_error(lx, st, open, "unclosed quote");
        }
        c = (unsigned char)lx->buf[lx->pos];
        if (c == (unsigned char)q) {
            lx->pos++;
            return 0;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return lex_error(lx, st, lx->pos,
                             "control character 0x%02x in a string", c);
        }
        if (c == '\\' && q == '"') {
            rc = lex_escape(lx, st);
        } else {
            rc = text_put(lx, st, (char)c);
            lx->pos++;
        }
        if (rc < 0) {
            return rc;
        }
    }
}

/* Is there a line break right after the backslash at @pos? */
static size_t
continuation_len(const scn_lexer_t *lx, size_t pos)
{
    if (pos + 1 < lx->len && lx->buf[pos + 1] == '\n') {
        return 2;
    }
    if (pos + 2 < lx->len && lx->buf[pos + 1] == '\r' &&
        lx->buf[pos + 2] == '\n') {
        return 3;
    }
    return 0;
}

static void
newline(scn_lexer_t *lx)
{
    lx->line++;
    lx->line_start = lx->pos;
}

/* Scan one character (or construct) of the current logical line. */
static int
lex_char(scn_lexer_t *lx, lstate_t *st, bool *eol)
{
    unsigned char c = (unsigned char)lx->buf[lx->pos];
    size_t n;
    int rc;

    if (c == '\n' || (c == '\r' && lx->pos + 1 < lx->len &&
                      lx->buf[lx->pos + 1] == '\n')) {
        rc = tok_end(lx, st);
        lx->pos += c == '\r' ? 2 : 1;
        newline(lx);
        *eol = true;
        return rc;
    }
    if (c == '\\' && (n = continuation_len(lx, lx->pos)) > 0) {
        if (st->paren == 0) {
            rc = tok_end(lx, st);
            if (rc < 0) {
                return rc;
            }
        } else if ((rc = text_put(lx, st, ' ')) < 0) {
            return rc;
        }
        lx->pos += n;
        newline(lx);
        return 0;
    }
    if (c == ' ' || c == '\t') {
        if (st->in_tok && st->paren > 0) {
            lx->pos++;
            return text_put(lx, st, ' ');
        }
        rc = tok_end(lx, st);
        lx->pos++;
        return rc;
    }
    if (c == '#') {
        rc = tok_end(lx, st);
        while (lx->pos < lx->len && lx->buf[lx->pos] != '\n') {
            lx->pos++;
        }
        return rc;
    }
    if (c < 0x20 || c == 0x7f) {
        return lex_error(lx, st, lx->pos, "control character 0x%02x", c);
    }
    rc = tok_begin(lx, st);
    if (rc < 0) {
        return rc;
    }
    if (c == '\'' || c == '"') {
        return lex_quote(lx, st);
    }
    if (c == '(') {
        if (++st->paren > SCN_MAX_PARENS) {
            return lex_error(lx, st, lx->pos, "parentheses nested too deep");
        }
    } else if (c == ')') {
        if (st->paren == 0) {
            return lex_error(lx, st, lx->pos, "')' without '('");
        }
        st->paren--;
    }
    /* a bare character makes the token more than one quoted string */
    st->parts++;
    st->only_quote = false;
    lx->pos++;
    return text_put(lx, st, (char)c);
}

int
scn_lex_next(scn_lexer_t *lx, scn_tok_t **toks, size_t *nr, char *msg,
             size_t msg_size, unsigned *line, unsigned *col)
{
    lstate_t st;
    size_t i;
    int rc;

    memset(&st, 0, sizeof(st));
    st.msg = msg;
    st.msg_size = msg_size;
    st.eline = line;
    st.ecol = col;
    *toks = NULL;
    *nr = 0;

    while (lx->pos < lx->len) {
        size_t before = lx->pos;
        bool eol = false;

        rc = lex_char(lx, &st, &eol);
        if (rc == -E2BIG) {
            return lex_error(lx, &st, before, "line too long");
        }
        if (rc < 0) {
            return rc;
        }
        st.logical_len += lx->pos - before;
        if (st.logical_len > SCN_MAX_LINE) {
            return lex_error(lx, &st, before, "line too long");
        }
        if (eol) {
            if (st.nr > 0) {
                break;
            }
            st.used = 0;
            st.logical_len = 0;
        }
    }
    rc = tok_end(lx, &st);
    if (rc < 0) {
        return rc;
    }
    if (st.nr == 0) {
        return 0;
    }
    for (i = 0; i < st.nr; i++) {
        lx->toks[i].text = lx->text + (size_t)(uintptr_t)lx->toks[i].text;
    }
    *toks = lx->toks;
    *nr = st.nr;
    return 1;
}
