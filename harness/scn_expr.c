/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_expr.c - numbers, durations, variables and expressions of the
 * scenario language (docs/scenarios.md, 2): parsing into a small RPN
 * program folded to a constant when it uses no variable, and evaluation.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scn_private.h"

static int
set_msg(char *msg, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
set_msg(char *msg, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int
digit_value(char c, unsigned base)
{
    int v = -1;

    if (c >= '0' && c <= '9') {
        v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
        v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
        v = c - 'A' + 10;
    }
    return v >= 0 && (unsigned)v < base ? v : -1;
}

int
scn_parse_number(const char *s, size_t len, uint64_t *out, char *msg,
                 size_t msg_size)
{
    static const char *const base_names[] = {[2] = "binary", [10] = "decimal",
                                             [16] = "hex"};
    unsigned base = 10;
    uint64_t v = 0, mul = 1;
    size_t i = 0, digits = 0;
    bool prev_digit = false;

    if (len == 0) {
        return set_msg(msg, msg_size, "expected a number");
    }
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    } else if (len > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
        base = 2;
        i = 2;
    }
    switch (s[len - 1]) {
    case 'K':
        mul = 1ull << 10;
        len--;
        break;
    case 'M':
        mul = 1ull << 20;
        len--;
        break;
    case 'G':
        mul = 1ull << 30;
        len--;
        break;
    default:
        break;
    }
    for (; i < len; i++) {
        int d;

        if (s[i] == '_') {
            if (!prev_digit || i + 1 >= len || s[i + 1] == '_') {
                return set_msg(msg, msg_size,
                               "'_' must stand between two digits in '%.*s'",
                               (int)(len > 64 ? 64 : len), s);
            }
            prev_digit = false;
            continue;
        }
        d = digit_value(s[i], base);
        if (d < 0) {
            char c = s[i];

            return set_msg(msg, msg_size, "bad digit '%c' in %s number '%.*s'",
                           c > 0x20 && c < 0x7f ? c : '?', base_names[base],
                           (int)(len > 64 ? 64 : len), s);
        }
        if (__builtin_mul_overflow(v, base, &v) ||
            __builtin_add_overflow(v, (uint64_t)d, &v)) {
            return set_msg(msg, msg_size, "number out of range: '%.*s'",
                           (int)(len > 64 ? 64 : len), s);
        }
        prev_digit = true;
        digits++;
    }
    if (digits == 0) {
        return set_msg(msg, msg_size, "expected a number, got '%.*s'",
                       (int)(len > 64 ? 64 : len), s);
    }
    if (__builtin_mul_overflow(v, mul, &v)) {
        return set_msg(msg, msg_size, "number out of range: '%.*s'",
                       (int)(len + 1 > 64 ? 64 : len + 1), s);
    }
    *out = v;
    return 0;
}

int
scn_parse_duration(const char *s, uint64_t *ms, char *msg, size_t msg_size)
{
    size_t len = strlen(s);
    uint64_t v, mul = 1;
    int rc;

    if (len > 2 && strcmp(s + len - 2, "ms") == 0) {
        len -= 2;
    } else if (len > 1 && s[len - 1] == 's') {
        len -= 1;
        mul = 1000;
    }
    rc = scn_parse_number(s, len, &v, msg, msg_size);
    if (rc < 0) {
        return set_msg(msg, msg_size,
                       "bad duration '%.64s' (write 250ms or 5s)", s);
    }
    if (v > SCN_MAX_DURATION_MS / mul) {
        return set_msg(msg, msg_size, "duration '%.64s' above 3600s", s);
    }
    *ms = v * mul;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Variables                                                           */
/* ------------------------------------------------------------------ */

static bool
name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

int
scn_var_index(scn_vars_t *vars, const char *name, size_t len, bool define)
{
    uint32_t i;

    if (len > 0 && name[0] == '$') {
        name++;
        len--;
    }
    if (len == 0 || len > SCN_MAX_VAR_NAME) {
        return -EINVAL;
    }
    for (i = 0; i < len; i++) {
        if (!name_char(name[i], i == 0)) {
            return -EINVAL;
        }
    }
    for (i = 0; i < *vars->nr; i++) {
        if (strlen(vars->names[i]) == len &&
            memcmp(vars->names[i], name, len) == 0) {
            if (define) {
                vars->defined[i] = true;
            }
            return vars->defined[i] ? (int)i : -ENOENT;
        }
    }
    if (!define) {
        return -ENOENT;
    }
    if (*vars->nr >= SCN_MAX_VARS) {
        return -ENOSPC;
    }
    vars->names[i] = strndup(name, len);
    if (vars->names[i] == NULL) {
        return -ENOMEM;
    }
    vars->defined[i] = true;
    (*vars->nr)++;
    return (int)i;
}

/* ------------------------------------------------------------------ */
/* Expressions: precedence climbing into RPN                           */
/* ------------------------------------------------------------------ */

typedef struct eparse {
    const char *s;
    size_t len, pos;
    scn_vars_t *vars;
    scn_enode_t out[SCN_MAX_EXPR];
    uint16_t nr;
    bool has_var;
    unsigned depth;
    char *msg;
    size_t msg_size;
} eparse_t;

static int
emit(eparse_t *p, uint8_t op, uint64_t v)
{
    if (p->nr >= SCN_MAX_EXPR) {
        return set_msg(p->msg, p->msg_size, "expression too long");
    }
    p->out[p->nr].op = op;
    p->out[p->nr].v = v;
    p->nr++;
    return 0;
}

static void
skip_space(eparse_t *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')) {
        p->pos++;
    }
}

static int parse_binary(eparse_t *p, int min_prec);

static int
parse_operand(eparse_t *p)
{
    size_t start;
    char c;
    int rc;

    skip_space(p);
    if (p->pos >= p->len) {
        return set_msg(p->msg, p->msg_size, "expected a value");
    }
    c = p->s[p->pos];
    if (c == '~' || c == '-') {
        if (++p->depth > SCN_MAX_EXPR) {
            return set_msg(p->msg, p->msg_size, "expression too deep");
        }
        p->pos++;
        rc = parse_operand(p);
        p->depth--;
        return rc < 0 ? rc : emit(p, c == '~' ? SCN_OP_NOT : SCN_OP_NEG, 0);
    }
    if (c == '(') {
        if (++p->depth > SCN_MAX_PARENS) {
            return set_msg(p->msg, p->msg_size, "parentheses nested too deep");
        }
        p->pos++;
        rc = parse_binary(p, 1);
        if (rc < 0) {
            return rc;
        }
        skip_space(p);
        if (p->pos >= p->len || p->s[p->pos] != ')') {
            return set_msg(p->msg, p->msg_size, "expected ')'");
        }
        p->pos++;
        p->depth--;
        return 0;
    }
    if (c == '$') {
        start = p->pos++;
        while (p->pos < p->len && name_char(p->s[p->pos], false)) {
            p->pos++;
        }
        rc = scn_var_index(p->vars, p->s + start, p->pos - start, false);
        if (rc == -ENOENT) {
            int n = (int)(p->pos - start);

            p->pos = start;
            return set_msg(p->msg, p->msg_size,
                           "variable %.*s used before it is set", n,
                           p->s + start);
        }
        if (rc < 0) {
            p->pos = start;
            return set_msg(p->msg, p->msg_size, "bad variable name");
        }
        p->has_var = true;
        return emit(p, SCN_OP_VAR, (uint64_t)rc);
    }
    if (c >= '0' && c <= '9') {
        uint64_t v;

        start = p->pos;
        while (p->pos < p->len &&
               (name_char(p->s[p->pos], false))) {
            p->pos++;
        }
        rc = scn_parse_number(p->s + start, p->pos - start, &v, p->msg,
                              p->msg_size);
        if (rc < 0) {
            p->pos = start;
            return rc;
        }
        return emit(p, SCN_OP_CONST, v);
    }
    if (c == ')') {
        return set_msg(p->msg, p->msg_size, "expected a value before ')'");
    }
    return set_msg(p->msg, p->msg_size, "unexpected '%c' in a value",
                   c > 0x20 && c < 0x7f ? c : '?');
}

/* The binary operator at p->pos: its op, precedence and length. */
static int
peek_binop(const eparse_t *p, uint8_t *op, size_t *len)
{
    char c = p->pos < p->len ? p->s[p->pos] : '\0';
    char d = p->pos + 1 < p->len ? p->s[p->pos + 1] : '\0';

    *len = 1;
    switch (c) {
    case '|':
        *op = SCN_OP_OR;
        return 1;
    case '^':
        *op = SCN_OP_XOR;
        return 2;
    case '&':
        *op = SCN_OP_AND;
        return 3;
    case '<':
    case '>':
        if (d != c) {
            return 0;
        }
        *len = 2;
        *op = c == '<' ? SCN_OP_SHL : SCN_OP_SHR;
        return 4;
    case '+':
        *op = SCN_OP_ADD;
        return 5;
    case '-':
        *op = SCN_OP_SUB;
        return 5;
    case '*':
        *op = SCN_OP_MUL;
        return 6;
    case '/':
        *op = SCN_OP_DIV;
        return 6;
    case '%':
        *op = SCN_OP_MOD;
        return 6;
    default:
        return 0;
    }
}

static int
parse_binary(eparse_t *p, int min_prec)
{
    int rc = parse_operand(p);

    while (rc == 0) {
        uint8_t op;
        size_t oplen;
        int prec;

        skip_space(p);
        prec = peek_binop(p, &op, &oplen);
        if (prec == 0 || prec < min_prec) {
            break;
        }
        p->pos += oplen;
        rc = parse_binary(p, prec + 1);
        if (rc == 0) {
            rc = emit(p, op, 0);
        }
    }
    return rc;
}

int
scn_expr_eval(const scn_value_t *v, const uint64_t *vars, uint64_t *out)
{
    uint64_t st[SCN_MAX_EXPR];
    size_t sp = 0;
    uint16_t i;

    if (v->nr == 0) {
        *out = v->k;
        return 0;
    }
    for (i = 0; i < v->nr; i++) {
        const scn_enode_t *n = &v->rpn[i];
        uint64_t a, b;

        if (n->op == SCN_OP_CONST || n->op == SCN_OP_VAR) {
            if (sp >= SCN_MAX_EXPR) {
                return -EDOM;
            }
            st[sp++] = n->op == SCN_OP_CONST ? n->v : vars[n->v];
            continue;
        }
        if (n->op == SCN_OP_NEG || n->op == SCN_OP_NOT) {
            if (sp < 1) {
                return -EDOM;
            }
            st[sp - 1] = n->op == SCN_OP_NEG ? 0 - st[sp - 1] : ~st[sp - 1];
            continue;
        }
        if (sp < 2) {
            return -EDOM;
        }
        b = st[--sp];
        a = st[sp - 1];
        switch (n->op) {
        case SCN_OP_MUL: a *= b; break;
        case SCN_OP_DIV:
        case SCN_OP_MOD:
            if (b == 0) {
                return -EDOM;
            }
            a = n->op == SCN_OP_DIV ? a / b : a % b;
            break;
        case SCN_OP_ADD: a += b; break;
        case SCN_OP_SUB: a -= b; break;
        case SCN_OP_SHL:
        case SCN_OP_SHR:
            if (b >= 64) {
                return -EDOM;
            }
            a = n->op == SCN_OP_SHL ? a << b : a >> b;
            break;
        case SCN_OP_AND: a &= b; break;
        case SCN_OP_XOR: a ^= b; break;
        case SCN_OP_OR: a |= b; break;
        default:
            return -EDOM;
        }
        st[sp - 1] = a;
    }
    if (sp != 1) {
        return -EDOM;
    }
    *out = st[0];
    return 0;
}

int
scn_expr_parse(const char *s, size_t len, scn_vars_t *vars, scn_value_t *v,
               char *msg, size_t msg_size, size_t *at)
{
    eparse_t *p;
    int rc;

    memset(v, 0, sizeof(*v));
    *at = 0;
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    p->s = s;
    p->len = len;
    p->vars = vars;
    p->msg = msg;
    p->msg_size = msg_size;
    rc = parse_binary(p, 1);
    if (rc == 0) {
        skip_space(p);
        if (p->pos < p->len) {
            rc = set_msg(msg, msg_size, "unexpected '%c' in a value",
                         p->s[p->pos] > 0x20 && p->s[p->pos] < 0x7f
                             ? p->s[p->pos] : '?');
        }
    }
    if (rc < 0) {
        *at = p->pos;
        free(p);
        return rc;
    }
    if (!p->has_var) {
        scn_value_t tmp = {.rpn = p->out, .nr = p->nr};

        if (scn_expr_eval(&tmp, NULL, &v->k) < 0) {
            free(p);
            return set_msg(msg, msg_size,
                           "division by zero or shift by 64 or more");
        }
    } else {
        v->rpn = malloc(p->nr * sizeof(*v->rpn));
        if (v->rpn == NULL) {
            free(p);
            return -ENOMEM;
        }
        memcpy(v->rpn, p->out, p->nr * sizeof(*v->rpn));
        v->nr = p->nr;
    }
    free(p);
    return 0;
}

void
scn_value_free(scn_value_t *v)
{
    free(v->rpn);
    v->rpn = NULL;
    v->nr = 0;
}
