/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_parse.c - scenario files: reading (bounded), logical lines into
 * statements, blocks ({ ... }), includes, the script's lifetime and the
 * formatting of locations and diagnostics.
 */

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/scn_parse.h"

/* Bytes read across one file and all its includes. */
#define SCN_MAX_TOTAL_READ (64u << 20)

/* Where statements are appended. */
typedef struct sink {
    scn_stmt_t **stmts;
    uint32_t *nr;
    uint32_t cap;
} sink_t;

static int parse_text(scn_parser_t *p, const char *buf, size_t len,
                      sink_t *top);

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */
/* ------------------------------------------------------------------ */

void
scn_stmt_fini(scn_stmt_t *s)
{
    uint32_t i;

    free(s->text);
    free(s->str);
    free(s->fds);
    scn_value_free(&s->sel);
    for (i = 0; i < 3; i++) {
        scn_value_free(&s->a[i]);
    }
    scn_bytes_fini(&s->bytes);
    scn_value_free(&s->chk.rhs);
    scn_value_free(&s->chk.mask);
    scn_bytes_fini(&s->chk.rhs_bytes);
    for (i = 0; i < s->nr_body; i++) {
        scn_stmt_fini(&s->body[i]);
    }
    free(s->body);
    memset(s, 0, sizeof(*s));
}

void
scn_script_free(scn_script_t *sc)
{
    uint32_t i;

    if (sc == NULL) {
        return;
    }
    for (i = 0; i < sc->nr_stmts; i++) {
        scn_stmt_fini(&sc->stmts[i]);
    }
    free(sc->stmts);
    for (i = 0; i < sc->nr_files; i++) {
        free(sc->files[i].path);
    }
    free(sc->files);
    for (i = 0; i < sc->nr_vars; i++) {
        free(sc->var_names[i]);
    }
    free(sc->target_arg);
    free(sc->name);
    free(sc->summary);
    free(sc);
}

const char *
scn_script_name(const scn_script_t *sc)
{
    return sc != NULL ? sc->name : NULL;
}

const char *
scn_script_summary(const scn_script_t *sc)
{
    return sc != NULL && sc->summary != NULL ? sc->summary : "";
}

size_t
scn_script_statements(const scn_script_t *sc)
{
    return sc != NULL ? sc->total_stmts : 0;
}

int
scn_loc_format(const scn_script_t *sc, const scn_loc_t *loc, char *buf,
               size_t size)
{
    const scn_file_t *f;
    size_t used;
    int depth = 0;

    if (loc->file >= sc->nr_files) {
        return snprintf(buf, size, "?:%u", loc->line);
    }
    f = &sc->files[loc->file];
    used = (size_t)snprintf(buf, size, "%s:%u", f->path, loc->line);
    while (f->parent >= 0 && depth++ < (int)SCN_MAX_INCLUDE + 1) {
        const scn_file_t *up = &sc->files[f->parent];

        if (used < size) {
            used += (size_t)snprintf(buf + used, size - used,
                                     " (included from %s:%u)", up->path,
                                     f->parent_line);
        }
        f = up;
    }
    return (int)used;
}

int
scn_diag_format(const scn_diag_t *d, char *buf, size_t size)
{
    if (d->line == 0) {
        return snprintf(buf, size, "%s: error: %s", d->file, d->msg);
    }
    return snprintf(buf, size, "%s:%u:%u: error: %s", d->file, d->line,
                    d->col, d->msg);
}

/* ------------------------------------------------------------------ */
/* Statements into sinks                                               */
/* ------------------------------------------------------------------ */

static int
sink_add(scn_parser_t *p, sink_t *k, scn_stmt_t *s, const scn_tok_t *t)
{
    if (p->script->total_stmts >= SCN_MAX_STMTS) {
        return scn_perr(p, t, "too many statements (at most %u)",
                        SCN_MAX_STMTS);
    }
    if (*k->nr == k->cap) {
        uint32_t cap = k->cap ? k->cap * 2 : 8;
        scn_stmt_t *n = realloc(*k->stmts, cap * sizeof(*n));

        if (n == NULL) {
            return -ENOMEM;
        }
        *k->stmts = n;
        k->cap = cap;
    }
    (*k->stmts)[(*k->nr)++] = *s;
    p->script->total_stmts++;
    memset(s, 0, sizeof(*s));
    return 0;
}

/* What a batch may hold: region writes of at most 8 bytes, repeats. */
static int
batch_check(scn_parser_t *p, const scn_stmt_t *s, const scn_tok_t *t)
{
    uint32_t i;

    if (s->kind == SCN_S_REPEAT) {
        for (i = 0; i < s->nr_body; i++) {
            if (batch_check(p, &s->body[i], t) < 0) {
                return -EINVAL;
            }
        }
        return 0;
    }
    if ((s->kind != SCN_S_WRITE && s->kind != SCN_S_WRITE_BLOB) ||
        (s->kind == SCN_S_WRITE_BLOB && s->bytes.len > 8)) {
        return scn_perr(p, t, "a batch holds only region writes of at most "
                              "8 bytes");
    }
    if (s->chk.err.present) {
        return scn_perr(p, t, "no error clause inside a batch");
    }
    return 0;
}

int
scn_parse_inline_body(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s)
{
    const scn_tok_t *last = &c->t[c->n - 1];
    scn_cur_t sub;
    scn_stmt_t inner;
    sink_t k = {.stmts = &s->body, .nr = &s->nr_body};
    int rc;

    if (last->quoted || strcmp(last->text, "}") != 0) {
        return scn_perr(p, last, "a one-line repeat ends with '}'");
    }
    if (c->i + 1 >= c->n) {
        return scn_perr(p, last, "empty repeat body");
    }
    if (p->nest >= SCN_MAX_NEST) {
        return scn_perr(p, last, "blocks nested too deep (at most %u)",
                        SCN_MAX_NEST);
    }
    sub.t = c->t;
    sub.i = c->i;
    sub.n = c->n - 1;
    c->i = c->n;
    memset(&inner, 0, sizeof(inner));
    p->nest++;
    rc = scn_parse_stmt(p, &sub, &inner);
    p->nest--;
    if (rc == 1) {
        rc = scn_perr(p, &sub.t[sub.i > 0 ? sub.i - 1 : 0],
                      "a one-line repeat cannot open a block");
    }
    if (rc == 0 && p->in_batch) {
        rc = batch_check(p, &inner, &c->t[0]);
    }
    if (rc == 0) {
        rc = sink_add(p, &k, &inner, &c->t[0]);
    }
    scn_stmt_fini(&inner);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

static int
add_file(scn_script_t *sc, const char *path, int parent, uint32_t line)
{
    scn_file_t *n = realloc(sc->files, (sc->nr_files + 1) * sizeof(*n));

    if (n == NULL) {
        return -ENOMEM;
    }
    sc->files = n;
    n[sc->nr_files].path = strdup(path);
    if (n[sc->nr_files].path == NULL) {
        return -ENOMEM;
    }
    n[sc->nr_files].parent = parent;
    n[sc->nr_files].parent_line = line;
    return (int)sc->nr_files++;
}

/* Read a regular file of at most SCN_MAX_FILE bytes. */
static int
read_file(const char *path, char **out, size_t *len)
{
    struct stat st;
    size_t got = 0;
    char *buf;
    int fd, err;

    *out = NULL;
    /* O_NONBLOCK: a FIFO must not hang the parser before fstat says so */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, &st) < 0) {
        err = -errno;
        close(fd);
        return err;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return -EISDIR;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    if (st.st_size > (off_t)SCN_MAX_FILE) {
        close(fd);
        return -EFBIG;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break; /* the file shrank: parse what is there */
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

static const char *
file_error(int err)
{
    switch (err) {
    case -EISDIR:
        return "is a directory";
    case -EINVAL:
        return "not a regular file";
    case -EFBIG:
        return "larger than 16 MiB";
    default:
        return strerror(-err);
    }
}

int
scn_parse_include(scn_parser_t *p, const scn_tok_t *t, scn_stmt_t **stmts,
                  uint32_t *nr, uint32_t *cap)
{
    const char *cur = p->script->files[p->file].path;
    sink_t k = {.stmts = stmts, .nr = nr, .cap = *cap};
    uint32_t saved_file = p->file;
    const char *saved_src = p->src;
    char *dir, *path;
    size_t len = 0;
    char *buf;
    int rc, idx;

    if (p->flags & SCN_PARSE_NO_INCLUDE) {
        return scn_perr(p, t, "include is disabled here");
    }
    if (p->include_depth >= SCN_MAX_INCLUDE) {
        return scn_perr(p, t, "include nested too deep (at most %u)",
                        SCN_MAX_INCLUDE);
    }
    if (t->text[0] == '/') {
        path = strdup(t->text);
    } else {
        char *copy = strdup(cur);

        if (copy == NULL) {
            return -ENOMEM;
        }
        dir = dirname(copy);
        path = malloc(strlen(dir) + t->len + 2);
        if (path != NULL) {
            sprintf(path, "%s/%s", dir, t->text);
        }
        free(copy);
    }
    if (path == NULL) {
        return -ENOMEM;
    }
    rc = read_file(path, &buf, &len);
    if (rc < 0) {
        rc = scn_perr(p, t, "cannot include %s: %s", path, file_error(rc));
        free(path);
        return rc;
    }
    p->total_read += len;
    if (p->total_read > SCN_MAX_TOTAL_READ) {
        free(buf);
        rc = scn_perr(p, t, "includes read more than 64 MiB in all");
        free(path);
        return rc;
    }
    idx = add_file(p->script, path, (int)p->file, t->line);
    free(path);
    if (idx < 0) {
        free(buf);
        return idx;
    }
    p->file = (uint32_t)idx;
    p->src = buf;
    p->include_depth++;
    rc = parse_text(p, buf, len, &k);
    p->include_depth--;
    p->file = saved_file;
    p->src = saved_src;
    *cap = k.cap;
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Lines and blocks                                                    */
/* ------------------------------------------------------------------ */

typedef struct frame {
    sink_t sink;
    scn_tok_t open; /* the opening statement's first token */
    bool batch;
} frame_t;

static int
close_block(scn_parser_t *p, frame_t *stack, unsigned *depth, scn_cur_t *c)
{
    if (*depth == 0) {
        return scn_perr(p, &c->t[0], "'}' without an open block");
    }
    if (c->n > 1) {
        return scn_perr(p, &c->t[1], "'}' stands alone on its line");
    }
    (*depth)--;
    p->nest--;
    if (stack[*depth].batch) {
        p->in_batch = false;
    }
    return 0;
}

static int
parse_line(scn_parser_t *p, scn_cur_t *c, frame_t *stack, unsigned *depth,
           sink_t *top)
{
    sink_t *k = *depth > 0 ? &stack[*depth - 1].sink : top;
    const scn_tok_t *kw = &c->t[0];
    scn_stmt_t s;
    int rc;

    if (!kw->quoted && strcmp(kw->text, "}") == 0) {
        return close_block(p, stack, depth, c);
    }
    if (!kw->quoted && strcmp(kw->text, "include") == 0) {
        if (c->n != 2) {
            return c->n < 2 ? scn_perr(p, kw, "expected a path after "
                                              "include")
                            : scn_perr(p, &c->t[2], "unexpected " TOKFMT,
                                       TOKARG(&c->t[2]));
        }
        if (p->in_batch) {
            return scn_perr(p, kw, "no include inside a batch");
        }
        return scn_parse_include(p, &c->t[1], k->stmts, k->nr, &k->cap);
    }
    memset(&s, 0, sizeof(s));
    rc = scn_parse_stmt(p, c, &s);
    if (rc == 2) {
        scn_stmt_fini(&s);
        return 0;
    }
    if (rc >= 0 && p->in_batch) {
        rc = batch_check(p, &s, kw) < 0 ? -EINVAL : rc;
    }
    if (rc == 1 && p->nest >= SCN_MAX_NEST) {
        rc = scn_perr(p, kw, "blocks nested too deep (at most %u)",
                      SCN_MAX_NEST);
    }
    if (rc < 0) {
        scn_stmt_fini(&s);
        return rc;
    }
    if (sink_add(p, k, &s, kw) < 0) {
        scn_stmt_fini(&s);
        return -EINVAL;
    }
    if (rc == 1) {
        scn_stmt_t *owner = &(*k->stmts)[*k->nr - 1];
        frame_t *f = &stack[(*depth)++];

        f->sink.stmts = &owner->body;
        f->sink.nr = &owner->nr_body;
        f->sink.cap = 0;
        f->open = *kw;
        f->batch = owner->kind == SCN_S_BATCH;
        p->nest++;
        if (f->batch) {
            p->in_batch = true;
        }
    }
    return 0;
}

static int
parse_text(scn_parser_t *p, const char *buf, size_t len, sink_t *top)
{
    frame_t stack[SCN_MAX_NEST + 1];
    unsigned depth = 0;
    scn_lexer_t lx;
    scn_tok_t *toks;
    size_t nr;
    int rc;

    scn_lex_init(&lx, buf, len);
    for (;;) {
        char msg[256];
        unsigned line = 0, col = 0;
        scn_cur_t c;

        rc = scn_lex_next(&lx, &toks, &nr, msg, sizeof(msg), &line, &col);
        if (rc == -EINVAL) {
            scn_tok_t where = {.line = line, .col = col};

            rc = scn_perr(p, &where, "%s", msg);
        }
        if (rc <= 0) {
            break;
        }
        c.t = toks;
        c.n = nr;
        c.i = 0;
        rc = parse_line(p, &c, stack, &depth, top);
        if (rc < 0) {
            break;
        }
    }
    scn_lex_fini(&lx);
    if (rc == 0 && depth > 0) {
        rc = scn_perr(p, &stack[depth - 1].open,
                      "block not closed: '}' missing before the end of the "
                      "file");
    }
    /* blocks left open by an error still count for the nesting depth */
    p->nest -= depth;
    if (depth > 0 && stack[0].batch) {
        p->in_batch = false;
    }
    return rc < 0 ? rc : 0;
}

/* The first comment line (skipping an SPDX line), for --list. */
static char *
first_comment(const char *buf, size_t len)
{
    size_t pos = 0;

    while (pos < len) {
        size_t end = pos, s;

        while (end < len && buf[end] != '\n') {
            end++;
        }
        s = pos;
        while (s < end && (buf[s] == ' ' || buf[s] == '\t')) {
            s++;
        }
        if (s < end && buf[s] != '#') {
            break; /* a statement comes first */
        }
        if (s < end) {
            size_t e = end;

            s++;
            while (s < e && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '#')) {
                s++;
            }
            while (e > s && (buf[e - 1] == ' ' || buf[e - 1] == '\r' ||
                             buf[e - 1] == '\t')) {
                e--;
            }
            /* the buffer is not NUL-terminated: compare within the line */
            if (e > s && (e - s < 5 || memcmp(buf + s, "SPDX-", 5) != 0)) {
                return strndup(buf + s, e - s > 200 ? 200 : e - s);
            }
        }
        pos = end + 1;
    }
    return strdup("");
}

int
scn_parse_buf(const char *name, const char *text, size_t len, unsigned flags,
              scn_script_t **out, scn_diag_t *diag)
{
    scn_script_t *sc;
    scn_parser_t p;
    sink_t top;
    int rc;

    if (out == NULL || (text == NULL && len > 0)) {
        return -EINVAL;
    }
    *out = NULL;
    if (diag != NULL) {
        memset(diag, 0, sizeof(*diag));
        snprintf(diag->file, sizeof(diag->file), "%s",
                 name != NULL ? name : "<text>");
    }
    if (len > SCN_MAX_FILE) {
        if (diag != NULL) {
            snprintf(diag->msg, sizeof(diag->msg), "larger than 16 MiB");
        }
        return -EFBIG;
    }
    sc = calloc(1, sizeof(*sc));
    if (sc == NULL) {
        return -ENOMEM;
    }
    sc->name = strdup(name != NULL ? name : "<text>");
    sc->summary = first_comment(text != NULL ? text : "", len);
    if (sc->name == NULL || sc->summary == NULL ||
        add_file(sc, sc->name, -1, 0) < 0) {
        scn_script_free(sc);
        return -ENOMEM;
    }
    memset(&p, 0, sizeof(p));
    p.script = sc;
    p.vars.names = sc->var_names;
    p.vars.nr = &sc->nr_vars;
    p.diag = diag;
    p.flags = flags;
    p.src = text != NULL ? text : "";
    top.stmts = &sc->stmts;
    top.nr = &sc->nr_stmts;
    top.cap = 0;
    rc = parse_text(&p, p.src, len, &top);
    if (rc < 0) {
        scn_script_free(sc);
        return rc;
    }
    *out = sc;
    return 0;
}

int
scn_parse_file(const char *path, scn_script_t **out, scn_diag_t *diag)
{
    char *buf;
    size_t len = 0;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (path == NULL || out == NULL) {
        return -EINVAL;
    }
    rc = read_file(path, &buf, &len);
    if (rc < 0) {
        if (diag != NULL) {
            memset(diag, 0, sizeof(*diag));
            snprintf(diag->file, sizeof(diag->file), "%s", path);
            snprintf(diag->msg, sizeof(diag->msg), "cannot read: %s",
                     file_error(rc));
        }
        return rc;
    }
    rc = scn_parse_buf(path, buf, len, 0, out, diag);
    free(buf);
    return rc;
}
