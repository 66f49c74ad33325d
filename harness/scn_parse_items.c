/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_parse_items.c - byte items (hex:, u32:, str:, zero:, fill:, any:)
 * and fd tokens (fd:eventfd, fd:memfd:SIZE, fd:null, *COUNT) of the
 * scenario language (docs/scenarios.md, 3).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scn_parse.h"

static const char *const item_prefixes[] = {
    "hex", "u8", "u16", "u32", "u64", "str", "zero", "fill", "any", NULL};

/* Length of the prefix before ':' when it is one of @list, else 0. */
static size_t
prefix_of(const scn_tok_t *t, const char *const *list)
{
    const char *colon = memchr(t->text, ':', t->len);
    size_t n, i;

    if (colon == NULL) {
        return 0;
    }
    n = (size_t)(colon - t->text);
    for (i = 0; list[i] != NULL; i++) {
        if (strlen(list[i]) == n && memcmp(list[i], t->text, n) == 0) {
            return n;
        }
    }
    return 0;
}

bool
scn_is_item(const scn_tok_t *t)
{
    if (t == NULL) {
        return false;
    }
    if (!t->quoted && strcmp(t->text, "...") == 0) {
        return true;
    }
    return prefix_of(t, item_prefixes) > 0;
}

bool
scn_is_fd(const scn_tok_t *t)
{
    return t != NULL && t->len > 3 && memcmp(t->text, "fd:", 3) == 0;
}

void
scn_bytes_fini(scn_bytes_t *b)
{
    uint32_t i;

    for (i = 0; i < b->nr; i++) {
        free(b->items[i].bytes);
        scn_value_free(&b->items[i].v);
    }
    free(b->items);
    memset(b, 0, sizeof(*b));
}

static int
hexval(char c)
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

static int
item_hex(scn_parser_t *p, const scn_tok_t *t, const char *s, size_t len,
         scn_item_t *it)
{
    size_t i, n = 0, digits = 0;
    int hi = -1;

    for (i = 0; i < len; i++) {
        if (s[i] != '_') {
            digits++;
        }
    }
    if (digits % 2 != 0) {
        return scn_perr(p, t, "odd number of hex digits in " TOKFMT,
                        TOKARG(t));
    }
    if (digits / 2 > SCN_MAX_BYTES) {
        return scn_perr(p, t, "byte list longer than 1 MiB");
    }
    it->kind = SCN_ITEM_BYTES;
    it->bytes = malloc(digits / 2 + 1);
    if (it->bytes == NULL) {
        return -ENOMEM;
    }
    for (i = 0; i < len; i++) {
        int v;

        if (s[i] == '_') {
            continue;
        }
        v = hexval(s[i]);
        if (v < 0) {
            scn_tok_t where = *t;

            if (!t->quoted) {
                where.col += (unsigned)(s - t->text + i);
            }
            return scn_perr(p, &where, "bad hex digit '%c'",
                            s[i] > 0x20 && s[i] < 0x7f ? s[i] : '?');
        }
        if (hi < 0) {
            hi = v;
        } else {
            it->bytes[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    it->len = (uint32_t)n;
    return 0;
}

/* A constant count N of zero:N, fill:N:B, any:N. */
static int
item_count(scn_parser_t *p, const scn_tok_t *t, const char *s, size_t len,
           uint32_t *out)
{
    scn_cur_t c;
    scn_tok_t sub = *t;
    uint64_t v;
    int rc;

    sub.text = s;
    sub.len = len;
    if (!t->quoted) {
        sub.col += (unsigned)(s - t->text);
    }
    /* scn_p_const() wants a NUL-terminated token: copy the part */
    sub.text = strndup(s, len);
    if (sub.text == NULL) {
        return -ENOMEM;
    }
    c.t = &sub;
    c.n = 1;
    c.i = 0;
    rc = scn_p_const(p, &c, &v, "a byte count");
    free((char *)sub.text);
    if (rc < 0) {
        return rc;
    }
    if (v > SCN_MAX_BYTES) {
        return scn_perr(p, t, "byte count above 1 MiB");
    }
    *out = (uint32_t)v;
    return 0;
}

/* A value of a u8..u64 item or the byte of fill:N:B. */
static int
item_value(scn_parser_t *p, const scn_tok_t *t, const char *s, size_t len,
           scn_value_t *v, unsigned width)
{
    scn_cur_t c;
    scn_tok_t sub = *t;
    int rc;

    if (!t->quoted) {
        sub.col += (unsigned)(s - t->text);
    }
    sub.text = strndup(s, len);
    if (sub.text == NULL) {
        return -ENOMEM;
    }
    sub.len = len;
    sub.quoted = false;
    c.t = &sub;
    c.n = 1;
    c.i = 0;
    rc = scn_p_value(p, &c, v, width == 1 ? "a byte value" : "a value");
    free((char *)sub.text);
    if (rc == 0 && v->nr == 0 && width < 8 && (v->k >> (8 * width)) != 0) {
        rc = scn_perr(p, t, "value 0x%llx does not fit in %u byte%s",
                      (unsigned long long)v->k, width, width > 1 ? "s" : "");
        scn_value_free(v);
    }
    return rc;
}

static int
parse_item(scn_parser_t *p, const scn_tok_t *t, bool allow_any,
           scn_item_t *it)
{
    size_t plen = prefix_of(t, item_prefixes);
    const char *arg = t->text + plen + 1;
    size_t alen = t->len - plen - 1;
    const char *colon;
    int rc;

    memset(it, 0, sizeof(*it));
    if (plen == 3 && memcmp(t->text, "hex", 3) == 0) {
        return item_hex(p, t, arg, alen, it);
    }
    if (t->text[0] == 'u') {
        unsigned width = (unsigned)strtoul(t->text + 1, NULL, 10) / 8;

        it->kind = SCN_ITEM_INT;
        it->width = (uint8_t)width;
        it->len = width;
        return item_value(p, t, arg, alen, &it->v, width);
    }
    if (plen == 3 && memcmp(t->text, "str", 3) == 0) {
        it->kind = SCN_ITEM_BYTES;
        it->len = (uint32_t)alen;
        it->bytes = malloc(alen + 1);
        if (it->bytes == NULL) {
            return -ENOMEM;
        }
        memcpy(it->bytes, arg, alen);
        return 0;
    }
    if (plen == 3 && memcmp(t->text, "any", 3) == 0) {
        if (!allow_any) {
            return scn_perr(p, t, "any:N only in expected bytes");
        }
        it->kind = SCN_ITEM_ANY;
        return item_count(p, t, arg, alen, &it->len);
    }
    if (plen == 4 && memcmp(t->text, "zero", 4) == 0) {
        rc = item_count(p, t, arg, alen, &it->len);
        if (rc < 0) {
            return rc;
        }
        it->kind = SCN_ITEM_BYTES;
        it->bytes = calloc(1, it->len + 1);
        return it->bytes == NULL ? -ENOMEM : 0;
    }
    /* fill:N:B */
    colon = memchr(arg, ':', alen);
    if (colon == NULL) {
        return scn_perr(p, t, "fill needs a count and a byte: fill:N:B");
    }
    rc = item_count(p, t, arg, (size_t)(colon - arg), &it->len);
    if (rc == 0) {
        rc = item_value(p, t, colon + 1, alen - (size_t)(colon - arg) - 1,
                        &it->v, 1);
    }
    if (rc < 0) {
        return rc;
    }
    if (it->v.nr > 0) {
        it->kind = SCN_ITEM_FILL;
        return 0;
    }
    it->kind = SCN_ITEM_BYTES;
    it->bytes = malloc(it->len + 1);
    if (it->bytes == NULL) {
        return -ENOMEM;
    }
    memset(it->bytes, (int)it->v.k, it->len);
    return 0;
}

static int
parse_fd(scn_parser_t *p, const scn_tok_t *t, scn_stmt_t *s)
{
    char buf[128];
    char *star, *arg;
    scn_fdspec_t spec = {.count = 1};
    scn_fdspec_t *n;
    char msg[160];

    if (t->len >= sizeof(buf)) {
        return scn_perr(p, t, "bad fd " TOKFMT, TOKARG(t));
    }
    memcpy(buf, t->text + 3, t->len - 2);
    star = strchr(buf, '*');
    if (star != NULL) {
        uint64_t cnt;

        *star = '\0';
        if (scn_parse_number(star + 1, strlen(star + 1), &cnt, msg,
                             sizeof(msg)) < 0 ||
            cnt < 1 || cnt > SCN_MAX_FDS) {
            return scn_perr(p, t, "fd count must be 1..%u", SCN_MAX_FDS);
        }
        spec.count = (uint32_t)cnt;
    }
    arg = strchr(buf, ':');
    if (arg != NULL) {
        *arg++ = '\0';
    }
    if (strcmp(buf, "eventfd") == 0 && arg == NULL) {
        spec.kind = SCN_FD_EVENTFD;
    } else if (strcmp(buf, "null") == 0 && arg == NULL) {
        spec.kind = SCN_FD_NULL;
    } else if (strcmp(buf, "memfd") == 0 && arg != NULL) {
        spec.kind = SCN_FD_MEMFD;
        if (scn_parse_number(arg, strlen(arg), &spec.size, msg,
                             sizeof(msg)) < 0) {
            return scn_perr(p, t, "memfd size: %s", msg);
        }
        if (spec.size > SCN_MAX_MEMFD) {
            return scn_perr(p, t, "memfd size above 1 GiB");
        }
    } else {
        return scn_perr(p, t, "unknown fd " TOKFMT " (fd:eventfd, "
                              "fd:memfd:SIZE, fd:null)", TOKARG(t));
    }
    if (s->nr_fds >= SCN_MAX_FDS) {
        return scn_perr(p, t, "too many fds (at most %u)", SCN_MAX_FDS);
    }
    {
        uint32_t total = 0, i;

        for (i = 0; i < s->nr_fds; i++) {
            total += s->fds[i].count;
        }
        if (total + spec.count > SCN_MAX_FDS) {
            return scn_perr(p, t, "too many fds (at most %u)", SCN_MAX_FDS);
        }
    }
    n = realloc(s->fds, (s->nr_fds + 1) * sizeof(*n));
    if (n == NULL) {
        return -ENOMEM;
    }
    s->fds = n;
    s->fds[s->nr_fds++] = spec;
    return 0;
}

int
scn_p_items(scn_parser_t *p, scn_cur_t *c, scn_bytes_t *b, bool allow_any,
            scn_stmt_t *fds, bool need_one)
{
    const scn_tok_t *t;
    uint32_t cap = b->nr;
    int rc;

    while ((t = scn_peek(c)) != NULL) {
        scn_item_t it;

        if (fds != NULL && scn_is_fd(t)) {
            c->i++;
            rc = parse_fd(p, t, fds);
            if (rc < 0) {
                return rc;
            }
            continue;
        }
        if (!scn_is_item(t)) {
            break;
        }
        c->i++;
        if (b->more) {
            return scn_perr(p, t, "'...' must come last");
        }
        if (!t->quoted && strcmp(t->text, "...") == 0) {
            if (!allow_any) {
                return scn_perr(p, t, "'...' only ends an expected reply");
            }
            b->more = true;
            continue;
        }
        if (b->nr >= SCN_MAX_ITEMS) {
            return scn_perr(p, t, "too many items (at most %u)",
                            SCN_MAX_ITEMS);
        }
        rc = parse_item(p, t, allow_any, &it);
        if (rc < 0) {
            free(it.bytes);
            scn_value_free(&it.v);
            return rc;
        }
        if (b->len + (uint64_t)it.len > SCN_MAX_BYTES) {
            free(it.bytes);
            scn_value_free(&it.v);
            return scn_perr(p, t, "byte list longer than 1 MiB");
        }
        if (b->nr == cap) {
            uint32_t ncap = cap ? cap * 2 : 4;
            scn_item_t *n = realloc(b->items, ncap * sizeof(*n));

            if (n == NULL) {
                free(it.bytes);
                scn_value_free(&it.v);
                return -ENOMEM;
            }
            b->items = n;
            cap = ncap;
        }
        b->items[b->nr++] = it;
        b->len += it.len;
        b->has_any |= it.kind == SCN_ITEM_ANY;
    }
    if (need_one && b->nr == 0 && !b->more) {
        return scn_expected(p, c, "bytes (hex:.., u32:V, str:'..', "
                                  "zero:N, fill:N:B)");
    }
    return 0;
}
