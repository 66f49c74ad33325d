/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_private.h - internals of the scenario harness shared by its modules:
 * the parsed form of a scenario (statements, values, byte lists, checks)
 * and the helpers the parser and the runner both use.
 *
 * Module map:
 *   scn_lex.c         lines and tokens (quotes, parentheses, continuation)
 *   scn_expr.c        numbers, durations, expressions (parse and evaluate)
 *   scn_parse.c       files, includes, blocks, script lifetime
 *   scn_parse_stmt.c  one statement from its tokens: dispatch, raw, flow
 *   scn_parse_head.c  target and options; info and require
 *   scn_parse_dev.c   region access, guest memory, interrupts
 *   scn_parse_arg.c   shared argument forms: values, selectors, errnos,
 *                     checks and replies
 *   scn_parse_items.c byte items and fds
 *   scn_parse_mig.c   migrate, snapshot, restore, dirty
 *   scn_run.c         running a script: dispatch, checks, failure reports
 *   scn_run_dev.c     discovery, region access, interrupts
 *   scn_run_io.c      statements that move bytes: raw, send, recv, mem
 *   scn_run_mig.c     migration statements
 *   scn_target.c      opening the target: in-process, socket, spawn;
 *                     fresh instances for migrate and restore
 *   scn_report.c      human, TAP and JUnit XML reporters; file collection
 */
#ifndef VFU_HARNESS_SCN_PRIVATE_H
#define VFU_HARNESS_SCN_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vfio-user/scenario.h"
#include "vfio-user/vmm.h"

/* ---- limits (docs/scenarios.md section 7) ---- */
#define SCN_MAX_FILE (16u << 20)
#define SCN_MAX_LINE (4u << 20)
#define SCN_MAX_TOKENS 8192u
#define SCN_MAX_STMTS 100000u
#define SCN_MAX_ITEMS 4096u
#define SCN_MAX_BYTES (1u << 20)
#define SCN_MAX_FDS 253u
#define SCN_MAX_REPEAT 1000000u
#define SCN_MAX_NEST 8u
#define SCN_MAX_INCLUDE 8u
#define SCN_MAX_VARS 256u
#define SCN_MAX_VAR_NAME 32u
#define SCN_MAX_EXPR 64u
#define SCN_MAX_PARENS 16u
#define SCN_MAX_ERRS 16u
#define SCN_MAX_DURATION_MS 3600000u
#define SCN_MAX_MEMFD (1ull << 30)
#define SCN_MAX_MIG_ITERS 1000u
#define SCN_MAX_DIRTY_PAGES (1ull << 24) /* per dirty pages range */

/* ---- tokens ---- */

typedef struct scn_tok {
    const char *text; /* unquoted text, NUL-terminated */
    size_t len;
    unsigned line, col;
    size_t src_start, src_end; /* byte offsets of the token in the file */
    bool quoted;               /* had a quoted part */
    bool whole_quote;          /* was exactly one quoted string */
} scn_tok_t;

/* ---- values: constant or a small RPN program over variables ---- */

enum scn_op {
    SCN_OP_CONST = 1,
    SCN_OP_VAR,
    SCN_OP_NEG,
    SCN_OP_NOT,
    SCN_OP_MUL,
    SCN_OP_DIV,
    SCN_OP_MOD,
    SCN_OP_ADD,
    SCN_OP_SUB,
    SCN_OP_SHL,
    SCN_OP_SHR,
    SCN_OP_AND,
    SCN_OP_XOR,
    SCN_OP_OR,
};

typedef struct scn_enode {
    uint8_t op;
    uint64_t v; /* constant, or variable index */
} scn_enode_t;

typedef struct scn_value {
    uint64_t k;        /* the value when nr == 0 */
    scn_enode_t *rpn;  /* NULL for constants */
    uint16_t nr;
} scn_value_t;

/* ---- byte lists ---- */

enum scn_item_kind {
    SCN_ITEM_BYTES = 1, /* hex:, str:, zero:, fill: with a constant byte */
    SCN_ITEM_INT,       /* u8..u64 with a value */
    SCN_ITEM_FILL,      /* fill:N:B with a variable byte */
    SCN_ITEM_ANY,       /* any:N */
};

typedef struct scn_item {
    uint8_t kind;
    uint8_t width;   /* SCN_ITEM_INT */
    uint32_t len;    /* bytes this item stands for */
    uint8_t *bytes;  /* SCN_ITEM_BYTES */
    scn_value_t v;   /* SCN_ITEM_INT, SCN_ITEM_FILL */
} scn_item_t;

typedef struct scn_bytes {
    scn_item_t *items;
    uint32_t nr;
    uint32_t len;    /* total bytes */
    bool has_any;
    bool more;       /* a trailing '...' (reply prefix) */
} scn_bytes_t;

/* ---- fds ---- */

enum scn_fd_kind {
    SCN_FD_EVENTFD = 1,
    SCN_FD_MEMFD,
    SCN_FD_NULL,
};

typedef struct scn_fdspec {
    uint8_t kind;
    uint64_t size;  /* memfd */
    uint32_t count;
} scn_fdspec_t;

/* ---- errno sets and checks ---- */

typedef struct scn_errset {
    bool present;
    bool any;
    bool hangup;
    bool ok;          /* success is accepted too */
    uint8_t nr;
    uint16_t errs[SCN_MAX_ERRS];
} scn_errset_t;

enum scn_cmp {
    SCN_CMP_NONE = 0,
    SCN_CMP_EQ,
    SCN_CMP_NE,
    SCN_CMP_LT,
    SCN_CMP_LE,
    SCN_CMP_GT,
    SCN_CMP_GE,
};

typedef struct scn_checks {
    uint8_t cmp;
    scn_value_t rhs;
    bool has_mask;
    scn_value_t mask;
    int capture;        /* variable index, -1 none */
    scn_errset_t err;
    scn_bytes_t rhs_bytes; /* blob reads and mem expect */
} scn_checks_t;

enum scn_reply_kind {
    SCN_REPLY_OK = 0,
    SCN_REPLY_ANY,      /* recv without a clause */
    SCN_REPLY_ERROR,
    SCN_REPLY_BYTES,
    SCN_REPLY_HANGUP,
};

/* ---- statements ---- */

enum scn_kind {
    SCN_S_INFO = 1,
    SCN_S_REQUIRE,
    SCN_S_READ,        /* SEL readN */
    SCN_S_WRITE,       /* SEL writeN */
    SCN_S_READ_BLOB,
    SCN_S_WRITE_BLOB,
    SCN_S_BATCH,
    SCN_S_MEM_MAP,
    SCN_S_MEM_UNMAP,
    SCN_S_MEM_UNMAP_ALL,
    SCN_S_MEM_WRITE,
    SCN_S_MEM_FILL,
    SCN_S_MEM_WRITEN,
    SCN_S_MEM_EXPECT,
    SCN_S_MEM_READN,
    SCN_S_MEM_CRC32C,
    SCN_S_MEM_CRC32,
    SCN_S_IRQ_ENABLE,
    SCN_S_IRQ_DISABLE,
    SCN_S_IRQ_MASK,
    SCN_S_IRQ_UNMASK,
    SCN_S_EXPECT_IRQ,
    SCN_S_EXPECT_NO_IRQ,
    SCN_S_RESET,
    SCN_S_RECONNECT,
    SCN_S_POLL,
    SCN_S_SET,
    SCN_S_CHECK,
    SCN_S_ECHO,
    SCN_S_RAW,
    SCN_S_SEND,
    SCN_S_RECV,
    SCN_S_ANSWER,
    SCN_S_REPEAT,
    SCN_S_MIGRATE,
    SCN_S_SNAPSHOT,
    SCN_S_RESTORE,
    SCN_S_DIRTY_START,
    SCN_S_DIRTY_STOP,
    SCN_S_DIRTY_PAGES,
};

/* info/require objects */
enum scn_obj {
    SCN_OBJ_DEVICE = 1,
    SCN_OBJ_REGION,
    SCN_OBJ_IRQ,
    SCN_OBJ_CAPS,
    SCN_OBJ_DMA,
    SCN_OBJ_CAP,       /* standard PCI capability, by id */
    SCN_OBJ_EXTCAP,    /* PCIe extended capability, by id */
    SCN_OBJ_INPROC,
    SCN_OBJ_SOCKET,
    SCN_OBJ_OWN_TARGET,
    SCN_OBJ_MIG,       /* migration state and features */
    SCN_OBJ_NEW_INSTANCE, /* require: migrate/restore can open another */
};

typedef struct scn_loc {
    uint32_t file; /* index in the script's file table */
    uint32_t line, col;
} scn_loc_t;

typedef struct scn_stmt scn_stmt_t;

struct scn_stmt {
    uint16_t kind;
    uint16_t obj;      /* info/require object */
    uint16_t field;    /* info/require field (index in a field table) */
    uint8_t width;     /* access width in bytes */
    uint8_t flags;     /* mem map: VMM_MEM_*; irq range given */
    scn_loc_t loc;
    char *text;        /* the statement as written, for messages */
    scn_value_t sel;   /* region or IRQ index */
    scn_value_t a[3];  /* offsets, lengths, values, vector ranges */
    bool has_a[3];
    scn_bytes_t bytes; /* payload */
    scn_fdspec_t *fds;
    uint32_t nr_fds;
    uint32_t cmd;      /* raw command number */
    scn_checks_t chk;
    uint8_t reply;     /* enum scn_reply_kind */
    int var;           /* set / repeat 'as' variable, -1 none */
    char *str;         /* echo text */
    scn_stmt_t *body;  /* repeat / batch */
    uint32_t nr_body;
};

/* stmt flags */
#define SCN_F_RANGE (1u << 0)  /* irq: a vector range was given */
#define SCN_F_COUNT (1u << 1)  /* expect irq: count given */
#define SCN_F_WITHIN (1u << 2) /* expect irq: within given */
#define SCN_F_VECTOR (1u << 3) /* expect no irq: a vector given */
#define SCN_F_NOPRECOPY (1u << 4) /* migrate noprecopy */
#define SCN_F_NODIRTY (1u << 5)   /* migrate nodirty */

typedef struct scn_file {
    char *path;
    int parent;           /* including file index, -1 for the top */
    uint32_t parent_line;
} scn_file_t;

struct scn_script {
    char *name;
    char *summary;
    scn_file_t *files;
    uint32_t nr_files;
    char *var_names[SCN_MAX_VARS];
    uint32_t nr_vars;

    /* header */
    scn_target_kind_t target;  /* SCN_TARGET_SCRIPT: none given */
    char *target_arg;
    scn_loc_t target_loc;
    vmm_opts_t opts;
    int connect_timeout_ms;

    scn_stmt_t *stmts;
    uint32_t nr_stmts;
    size_t total_stmts;
};

/* ---- scn_lex.c ---- */

typedef struct scn_lexer {
    const char *buf;
    size_t len, pos;
    unsigned line;       /* physical line of pos, 1-based */
    size_t line_start;   /* offset of that line */
    char *text;          /* token texts of the current logical line */
    size_t text_cap;
    scn_tok_t *toks;
    size_t tok_cap;
} scn_lexer_t;

void
scn_lex_init(scn_lexer_t *lx, const char *buf, size_t len);

void
scn_lex_fini(scn_lexer_t *lx);

/*
 * Next logical line with at least one token: 1 and *@toks / *@nr (valid
 * until the next call), 0 at the end, or -EINVAL with @msg and the place
 * in *@line / *@col, -ENOMEM.
 */
int
scn_lex_next(scn_lexer_t *lx, scn_tok_t **toks, size_t *nr, char *msg,
             size_t msg_size, unsigned *line, unsigned *col);

/* ---- scn_expr.c ---- */

/*
 * Variable table used while parsing: name lookup, and whether a variable
 * was set by a statement before the current one.
 */
typedef struct scn_vars {
    char **names;    /* the script's var_names */
    uint32_t *nr;
    bool defined[SCN_MAX_VARS];
} scn_vars_t;

/* Parse an unsigned number (base prefixes, '_', K/M/G). 0 or -EINVAL. */
int
scn_parse_number(const char *s, size_t len, uint64_t *out, char *msg,
                 size_t msg_size);

/* Parse a duration ("250ms", "5s", bare ms) into milliseconds. */
int
scn_parse_duration(const char *s, uint64_t *ms, char *msg, size_t msg_size);

/*
 * Compile the expression @s into @v (folded to a constant when it uses no
 * variable).  Variables must be defined in @vars.  -EINVAL with @msg and
 * the 0-based column of the problem in *@at, or -ENOMEM.
 */
int
scn_expr_parse(const char *s, size_t len, scn_vars_t *vars, scn_value_t *v,
               char *msg, size_t msg_size, size_t *at);

/* Evaluate @v with @vars: 0, or -EDOM (division by zero, bad shift). */
int
scn_expr_eval(const scn_value_t *v, const uint64_t *vars, uint64_t *out);

/* Look a variable up ("$name" or "name"); defines it when @define. */
int
scn_var_index(scn_vars_t *vars, const char *name, size_t len, bool define);

void
scn_value_free(scn_value_t *v);

/* ---- scn_parse_arg.c ---- */

/* errno name -> number (0 if unknown); number -> name (NULL if none). */
int
scn_errno_lookup(const char *name, size_t len);
const char *
scn_errno_name(int err);

/* Names of info/require fields per object; -1 when unknown. */
int
scn_field_lookup(int obj, const char *name);
const char *
scn_field_name(int obj, int field);

/* ---- scn_parse.c ---- */

void
scn_stmt_fini(scn_stmt_t *s);

void
scn_bytes_fini(scn_bytes_t *b);

/* the location chain "F:L (included from G:M)" */
int
scn_loc_format(const scn_script_t *script, const scn_loc_t *loc, char *buf,
               size_t size);

#endif /* VFU_HARNESS_SCN_PRIVATE_H */
