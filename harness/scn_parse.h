/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_parse.h - the parser's state and the argument helpers shared by
 * scn_parse.c, scn_parse_stmt.c and scn_parse_arg.c.
 */
#ifndef VFU_HARNESS_SCN_PARSE_H
#define VFU_HARNESS_SCN_PARSE_H

#include "harness/scn_private.h"

typedef struct scn_parser {
    scn_script_t *script;
    scn_vars_t vars;
    scn_diag_t *diag;
    unsigned flags;          /* SCN_PARSE_* */
    uint32_t file;           /* index of the file being parsed */
    const char *src;         /* its text */
    unsigned include_depth;
    unsigned nest;           /* open blocks */
    bool in_batch;
    bool seen_body;          /* a statement other than the header was seen */
    uint32_t options_set;    /* bit per option key */
    size_t total_read;       /* bytes of included files read so far */
} scn_parser_t;

/* Tokens of one statement and a cursor over them. */
typedef struct scn_cur {
    scn_tok_t *t;
    size_t n, i;
} scn_cur_t;

/* A token shown in a message, shortened. */
#define TOKFMT "'%.40s%s'"
#define TOKARG(t) (t)->text, (t)->len > 40 ? "..." : ""

/* Record an error at token @t (or at the line start when NULL). */
int
scn_perr(scn_parser_t *p, const scn_tok_t *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The next token if it is the unquoted keyword @kw (consumed), else NULL. */
const scn_tok_t *
scn_accept(scn_cur_t *c, const char *kw);

/* The next token without consuming it, or NULL at the end. */
const scn_tok_t *
scn_peek(const scn_cur_t *c);

/* Error "expected WHAT" at the next token (or the end of the line). */
int
scn_expected(scn_parser_t *p, const scn_cur_t *c, const char *what);

/* No tokens may remain. */
int
scn_end(scn_parser_t *p, const scn_cur_t *c);

/* A value token (expression) for @what. */
int
scn_p_value(scn_parser_t *p, scn_cur_t *c, scn_value_t *v, const char *what);

/* Like scn_p_value() but the value must be a constant. */
int
scn_p_const(scn_parser_t *p, scn_cur_t *c, uint64_t *v, const char *what);

/* A variable to define ("$name"). Returns its index or an error. */
int
scn_p_newvar(scn_parser_t *p, const scn_tok_t *t);

/* Region selector: config, bar0..bar5, rom, vga, region V. */
int
scn_p_region(scn_parser_t *p, scn_cur_t *c, scn_value_t *v);

/* IRQ index: intx, msi, msix, err, req, or a value. */
int
scn_p_irq_index(scn_parser_t *p, scn_cur_t *c, scn_value_t *v);

/* An errno set token. */
int
scn_p_errset(scn_parser_t *p, const scn_tok_t *t, scn_errset_t *e);

/* Is @t an item token (hex:, u32:, ... any:, or "...")? */
bool
scn_is_item(const scn_tok_t *t);

/* Is @t an fd token (fd:...)? */
bool
scn_is_fd(const scn_tok_t *t);

/*
 * Items (and with @fds, fd tokens too) until the first token that is
 * neither.  @allow_any permits any:N and a final "...".  @need_one
 * requires at least one item.
 */
int
scn_p_items(scn_parser_t *p, scn_cur_t *c, scn_bytes_t *b, bool allow_any,
            scn_stmt_t *fds, bool need_one);

/* Check-clause permissions for scn_p_checks(). */
#define SCN_CHK_CMP (1u << 0)   /* comparisons and mask */
#define SCN_CHK_CAPTURE (1u << 1)
#define SCN_CHK_ERROR (1u << 2)
#define SCN_CHK_BYTES (1u << 3) /* == / != take items (blob reads) */

/* Trailing check clauses (everything left on the line). */
int
scn_p_checks(scn_parser_t *p, scn_cur_t *c, scn_checks_t *chk,
             unsigned allowed);

/* Reply clause of raw/recv (everything left on the line). */
int
scn_p_reply(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s, bool for_recv);

/* ---- scn_parse_dev.c: shared statement helpers ---- */

/* "read32" -> 4 with @stem "read"; 0 when not that form. */
unsigned
scn_sized_op(const scn_tok_t *t, const char *stem);

/* A constant @v must fit in @width bytes. */
int
scn_check_fits(scn_parser_t *p, const scn_tok_t *t, const scn_value_t *v,
               unsigned width);

/* A value into s->a[@i] (and has_a). */
int
scn_value_at(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s, int i,
             const char *what);

/* Only an error clause may follow. */
int
scn_only_error(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s);

/* Statement parsers (the keyword is consumed, except for access). */
int
scn_parse_access(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s);
int
scn_parse_mem(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s);
int
scn_parse_irq(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s);
int
scn_parse_expect(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s);

/* ---- scn_parse_mig.c ---- */

/* migrate, snapshot, restore and dirty (@kw is consumed). */
int
scn_parse_mig(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s,
              const scn_tok_t *kw);

/* ---- scn_parse_head.c ---- */

/* The source text of tokens [from, n) joined by single spaces. */
char *
scn_raw_text(scn_parser_t *p, const scn_cur_t *c, size_t from);

int
scn_parse_target(scn_parser_t *p, scn_cur_t *c, const scn_tok_t *kw);
int
scn_parse_option(scn_parser_t *p, scn_cur_t *c, const scn_tok_t *kw);
int
scn_parse_info(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s, bool require);

/* ---- scn_parse_stmt.c ---- */

/*
 * Parse one statement from @c into @s (zeroed by the caller).  Returns 1
 * when @s opens a block whose body follows on the next lines, 0 for a
 * complete statement, 2 for a header statement recorded in the script
 * (nothing to add), or a negative errno.
 */
int
scn_parse_stmt(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s);

/* ---- scn_parse.c ---- */

/* Parse the one-line block body "STATEMENT }" of a repeat. */
int
scn_parse_inline_body(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s);

/* Parse @path (relative to the current file) as an include. */
int
scn_parse_include(scn_parser_t *p, const scn_tok_t *t, scn_stmt_t **stmts,
                  uint32_t *nr, uint32_t *cap);

#endif /* VFU_HARNESS_SCN_PARSE_H */
