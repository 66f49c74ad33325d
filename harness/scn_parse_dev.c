/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_parse_dev.c - statements that touch the device's side: region
 * access, guest memory and interrupts (docs/scenarios.md 5.3 to 5.5).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scn_parse.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* "read32" -> 4 with @stem "read"; 0 when not that form. */
unsigned
scn_sized_op(const scn_tok_t *t, const char *stem)
{
    size_t n = strlen(stem);

    if (t == NULL || t->quoted || strncmp(t->text, stem, n) != 0) {
        return 0;
    }
    if (strcmp(t->text + n, "8") == 0) {
        return 1;
    }
    if (strcmp(t->text + n, "16") == 0) {
        return 2;
    }
    if (strcmp(t->text + n, "32") == 0) {
        return 4;
    }
    if (strcmp(t->text + n, "64") == 0) {
        return 8;
    }
    return 0;
}

int
scn_check_fits(scn_parser_t *p, const scn_tok_t *t, const scn_value_t *v,
           unsigned width)
{
    if (v->nr == 0 && width < 8 && (v->k >> (8 * width)) != 0) {
        return scn_perr(p, t, "value 0x%llx does not fit in %u byte%s",
                        (unsigned long long)v->k, width,
                        width > 1 ? "s" : "");
    }
    return 0;
}

int
scn_value_at(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s, int i,
         const char *what)
{
    int rc = scn_p_value(p, c, &s->a[i], what);

    if (rc == 0) {
        s->has_a[i] = true;
    }
    return rc;
}

int
scn_only_error(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    return scn_p_checks(p, c, &s->chk, SCN_CHK_ERROR);
}

/* ------------------------------------------------------------------ */
/* Region access                                                       */
/* ------------------------------------------------------------------ */

int
scn_parse_access(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    const scn_tok_t *op, *vt;
    unsigned w;
    int rc = scn_p_region(p, c, &s->sel);

    if (rc < 0) {
        return rc;
    }
    op = scn_peek(c);
    if ((w = scn_sized_op(op, "read")) != 0) {
        c->i++;
        s->kind = SCN_S_READ;
        s->width = (uint8_t)w;
        rc = scn_value_at(p, c, s, 0, "an offset");
        if (rc == 0) {
            rc = scn_p_checks(p, c, &s->chk,
                              SCN_CHK_CMP | SCN_CHK_CAPTURE | SCN_CHK_ERROR);
        }
        if (rc == 0 && s->chk.cmp != SCN_CMP_NONE) {
            rc = scn_check_fits(p, op, &s->chk.rhs, w);
        }
        return rc;
    }
    if ((w = scn_sized_op(op, "write")) != 0) {
        c->i++;
        s->kind = SCN_S_WRITE;
        s->width = (uint8_t)w;
        rc = scn_value_at(p, c, s, 0, "an offset");
        vt = scn_peek(c);
        if (rc == 0) {
            rc = scn_value_at(p, c, s, 1, "a value to write");
        }
        if (rc == 0) {
            rc = scn_check_fits(p, vt, &s->a[1], w);
        }
        return rc < 0 ? rc : scn_only_error(p, c, s);
    }
    if (scn_accept(c, "read")) {
        s->kind = SCN_S_READ_BLOB;
        rc = scn_value_at(p, c, s, 0, "an offset");
        vt = scn_peek(c);
        if (rc == 0) {
            rc = scn_value_at(p, c, s, 1, "a length");
        }
        if (rc == 0) {
            rc = scn_p_checks(p, c, &s->chk, SCN_CHK_BYTES | SCN_CHK_ERROR);
        }
        if (rc == 0 && s->a[1].nr == 0 && s->a[1].k > SCN_MAX_BYTES) {
            rc = scn_perr(p, vt, "length above 1 MiB");
        }
        if (rc == 0 && s->a[1].nr == 0 && s->chk.cmp != SCN_CMP_NONE &&
            s->a[1].k != s->chk.rhs_bytes.len) {
            rc = scn_perr(p, vt, "length %llu but %u expected bytes",
                          (unsigned long long)s->a[1].k,
                          s->chk.rhs_bytes.len);
        }
        return rc;
    }
    if (scn_accept(c, "write")) {
        s->kind = SCN_S_WRITE_BLOB;
        rc = scn_value_at(p, c, s, 0, "an offset");
        if (rc == 0) {
            rc = scn_p_items(p, c, &s->bytes, false, NULL, true);
        }
        return rc < 0 ? rc : scn_only_error(p, c, s);
    }
    return scn_expected(p, c, "read8/16/32/64, write8/16/32/64, read or "
                              "write");
}

/* ------------------------------------------------------------------ */
/* Guest memory                                                        */
/* ------------------------------------------------------------------ */

static int
parse_mem_map(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    int rc;

    s->kind = SCN_S_MEM_MAP;
    s->flags = VMM_MEM_RW;
    rc = scn_value_at(p, c, s, 0, "a guest address");
    if (rc == 0) {
        rc = scn_value_at(p, c, s, 1, "a size");
    }
    if (rc < 0) {
        return rc;
    }
    if (scn_accept(c, "rw")) {
        s->flags = VMM_MEM_RW;
    } else if (scn_accept(c, "ro")) {
        s->flags = VMM_MEM_READ;
    } else if (scn_accept(c, "wo")) {
        s->flags = VMM_MEM_WRITE;
    }
    if (scn_accept(c, "nofd")) {
        s->flags |= VMM_MEM_NOFD;
    }
    return scn_only_error(p, c, s);
}

int
scn_parse_mem(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    const scn_tok_t *op = scn_peek(c), *vt;
    unsigned w;
    int rc;

    if (scn_accept(c, "map")) {
        return parse_mem_map(p, c, s);
    }
    if (scn_accept(c, "unmap")) {
        if (scn_accept(c, "all")) {
            s->kind = SCN_S_MEM_UNMAP_ALL;
            return scn_only_error(p, c, s);
        }
        s->kind = SCN_S_MEM_UNMAP;
        rc = scn_value_at(p, c, s, 0, "a guest address or all");
        if (rc == 0) {
            rc = scn_value_at(p, c, s, 1, "a size");
        }
        return rc < 0 ? rc : scn_only_error(p, c, s);
    }
    if (scn_accept(c, "write")) {
        s->kind = SCN_S_MEM_WRITE;
        rc = scn_value_at(p, c, s, 0, "a guest address");
        if (rc == 0) {
            rc = scn_p_items(p, c, &s->bytes, false, NULL, true);
        }
        return rc < 0 ? rc : scn_only_error(p, c, s);
    }
    if (scn_accept(c, "expect")) {
        s->kind = SCN_S_MEM_EXPECT;
        rc = scn_value_at(p, c, s, 0, "a guest address");
        if (rc == 0) {
            rc = scn_p_items(p, c, &s->chk.rhs_bytes, true, NULL, true);
        }
        return rc < 0 ? rc : scn_end(p, c);
    }
    if (scn_accept(c, "fill")) {
        s->kind = SCN_S_MEM_FILL;
        rc = scn_value_at(p, c, s, 0, "a guest address");
        if (rc == 0) {
            rc = scn_value_at(p, c, s, 1, "a length");
        }
        vt = scn_peek(c);
        if (rc == 0) {
            rc = scn_value_at(p, c, s, 2, "a byte value");
        }
        if (rc == 0) {
            rc = scn_check_fits(p, vt, &s->a[2], 1);
        }
        return rc < 0 ? rc : scn_only_error(p, c, s);
    }
    if (scn_accept(c, "crc32c") || scn_accept(c, "crc32")) {
        s->kind = strcmp(op->text, "crc32c") == 0 ? SCN_S_MEM_CRC32C
                                                  : SCN_S_MEM_CRC32;
        rc = scn_value_at(p, c, s, 0, "a guest address");
        if (rc == 0) {
            rc = scn_value_at(p, c, s, 1, "a length");
        }
        return rc < 0 ? rc
                      : scn_p_checks(p, c, &s->chk,
                                     SCN_CHK_CMP | SCN_CHK_CAPTURE);
    }
    if ((w = scn_sized_op(op, "read")) != 0) {
        c->i++;
        s->kind = SCN_S_MEM_READN;
        s->width = (uint8_t)w;
        rc = scn_value_at(p, c, s, 0, "a guest address");
        if (rc == 0) {
            rc = scn_p_checks(p, c, &s->chk, SCN_CHK_CMP | SCN_CHK_CAPTURE);
        }
        if (rc == 0 && s->chk.cmp != SCN_CMP_NONE) {
            rc = scn_check_fits(p, op, &s->chk.rhs, w);
        }
        return rc;
    }
    if ((w = scn_sized_op(op, "write")) != 0) {
        c->i++;
        s->kind = SCN_S_MEM_WRITEN;
        s->width = (uint8_t)w;
        rc = scn_value_at(p, c, s, 0, "a guest address");
        vt = scn_peek(c);
        if (rc == 0) {
            rc = scn_value_at(p, c, s, 1, "a value to write");
        }
        if (rc == 0) {
            rc = scn_check_fits(p, vt, &s->a[1], w);
        }
        return rc < 0 ? rc : scn_only_error(p, c, s);
    }
    return scn_expected(p, c, "map, unmap, write, fill, expect, readN, "
                              "writeN, crc32c or crc32");
}

/* ------------------------------------------------------------------ */
/* Interrupts                                                          */
/* ------------------------------------------------------------------ */

/* "A-B" with A and B plain numbers or variables. */
static bool
is_range(const scn_tok_t *t)
{
    const char *dash;
    size_t i;

    if (t == NULL || t->quoted || t->text[0] == '(' || t->text[0] == '-') {
        return false;
    }
    dash = strchr(t->text, '-');
    if (dash == NULL || dash[1] == '\0' || strchr(dash + 1, '-') != NULL) {
        return false;
    }
    for (i = 0; i < t->len; i++) {
        char ch = t->text[i];

        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
              (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == '$' ||
              ch == '-')) {
            return false;
        }
    }
    return true;
}

static int
parse_range(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    const scn_tok_t *t = scn_peek(c);
    scn_cur_t sub;
    scn_tok_t parts[2];
    char *copy;
    int rc;

    if (t == NULL || (!t->quoted && strcmp(t->text, "error") == 0)) {
        return 0; /* all vectors */
    }
    s->flags |= SCN_F_RANGE;
    if (!is_range(t)) {
        return scn_value_at(p, c, s, 0, "a vector or range A-B");
    }
    c->i++;
    copy = strdup(t->text);
    if (copy == NULL) {
        return -ENOMEM;
    }
    *strchr(copy, '-') = '\0';
    parts[0] = *t;
    parts[0].text = copy;
    parts[0].len = strlen(copy);
    parts[1] = *t;
    parts[1].text = copy + parts[0].len + 1;
    parts[1].len = strlen(parts[1].text);
    parts[1].col += (unsigned)parts[0].len + 1;
    sub.t = parts;
    sub.n = 2;
    sub.i = 0;
    rc = scn_value_at(p, &sub, s, 0, "the first vector");
    if (rc == 0) {
        rc = scn_value_at(p, &sub, s, 1, "the last vector");
    }
    if (rc == 0 && s->a[0].nr == 0 && s->a[1].nr == 0 &&
        s->a[1].k < s->a[0].k) {
        rc = scn_perr(p, t, "range %s ends before it starts", t->text);
    }
    free(copy);
    return rc;
}

int
scn_parse_irq(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    int rc = scn_p_irq_index(p, c, &s->sel);

    if (rc < 0) {
        return rc;
    }
    if (scn_accept(c, "enable")) {
        s->kind = SCN_S_IRQ_ENABLE;
    } else if (scn_accept(c, "disable")) {
        s->kind = SCN_S_IRQ_DISABLE;
        return scn_only_error(p, c, s);
    } else if (scn_accept(c, "mask")) {
        s->kind = SCN_S_IRQ_MASK;
    } else if (scn_accept(c, "unmask")) {
        s->kind = SCN_S_IRQ_UNMASK;
    } else {
        return scn_expected(p, c, "enable, disable, mask or unmask");
    }
    rc = parse_range(p, c, s);
    return rc < 0 ? rc : scn_only_error(p, c, s);
}

int
scn_parse_expect(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    bool none = scn_accept(c, "no") != NULL;
    const scn_tok_t *t;
    char msg[160];
    uint64_t ms;
    int rc;

    if (!scn_accept(c, "irq")) {
        return scn_expected(p, c, none ? "irq" : "irq or no irq");
    }
    rc = scn_p_irq_index(p, c, &s->sel);
    if (rc < 0) {
        return rc;
    }
    if (none) {
        s->kind = SCN_S_EXPECT_NO_IRQ;
        if (scn_peek(c) != NULL) {
            s->flags |= SCN_F_VECTOR;
            rc = scn_value_at(p, c, s, 0, "a vector");
        }
        return rc < 0 ? rc : scn_end(p, c);
    }
    s->kind = SCN_S_EXPECT_IRQ;
    rc = scn_value_at(p, c, s, 0, "a vector");
    if (rc == 0 && scn_accept(c, "count")) {
        s->flags |= SCN_F_COUNT;
        rc = scn_value_at(p, c, s, 1, "a trigger count");
    }
    if (rc == 0 && scn_accept(c, "within")) {
        t = scn_peek(c);
        if (t == NULL) {
            return scn_expected(p, c, "a duration");
        }
        c->i++;
        if (scn_parse_duration(t->text, &ms, msg, sizeof(msg)) < 0) {
            return scn_perr(p, t, "%s", msg);
        }
        s->flags |= SCN_F_WITHIN;
        s->a[2].k = ms;
        s->has_a[2] = true;
    }
    return rc < 0 ? rc : scn_end(p, c);
}

