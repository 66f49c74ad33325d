/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scenario.h - the scenario runner: parse .vus files (docs/scenarios.md is
 * the language reference), run them against a device through the fake
 * VMM (in-process, on a socket, or a spawned server), and report the
 * results as text, TAP or JUnit XML.
 *
 * All functions return 0 (or a count) on success and a negative errno on
 * failure.  A scenario that fails is not an error of the API: scn_run()
 * returns 0 and the result says SCN_FAIL.
 */
#ifndef VFU_SCENARIO_H
#define VFU_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct scn_script scn_script_t;

/* Where and why parsing failed. */
typedef struct scn_diag {
    char file[512];
    unsigned line, col; /* 1-based; 0 when not about a place in a file */
    char msg[512];      /* includes "(included from F:L)" when relevant */
} scn_diag_t;

/* scn_parse_buf() flags */
#define SCN_PARSE_NO_INCLUDE (1u << 0) /* refuse include (fuzzing) */

/**
 * scn_parse_file - read and parse the scenario at @path, with its
 * includes.  Returns 0 and sets *@out (free with scn_script_free()), or:
 * -EINVAL for a syntax error, -ENOENT/-EACCES/-EISDIR/-EFBIG... when a file
 * cannot be read, -ENOMEM.  On error @diag (if not NULL) says where and
 * what; scn_diag_format() prints it as "FILE:LINE:COL: error: MSG".
 */
int
scn_parse_file(const char *path, scn_script_t **out, scn_diag_t *diag);

/**
 * scn_parse_buf - parse @len bytes of @text (need not be NUL-terminated)
 * as if read from a file called @name (includes are relative to its
 * directory).  Never crashes on garbage; bounded in time and memory.
 * Same returns as scn_parse_file().
 */
int
scn_parse_buf(const char *name, const char *text, size_t len, unsigned flags,
              scn_script_t **out, scn_diag_t *diag);

/** scn_script_free - free a parsed scenario; accepts NULL. */
void
scn_script_free(scn_script_t *script);

/** scn_script_name - the path the scenario was parsed from. */
const char *
scn_script_name(const scn_script_t *script);

/**
 * scn_script_summary - the text of the file's first comment line (what
 * the scenario exercises), "" when it has none.
 */
const char *
scn_script_summary(const scn_script_t *script);

/** scn_script_statements - statements parsed (includes counted). */
size_t
scn_script_statements(const scn_script_t *script);

/** scn_diag_format - "FILE:LINE:COL: error: MSG" into @buf. */
int
scn_diag_format(const scn_diag_t *diag, char *buf, size_t size);

/* ---- running ---- */

typedef enum scn_status {
    SCN_PASS = 0,
    SCN_FAIL = 1,
    SCN_SKIP = 2, /* a 'require' did not hold */
} scn_status_t;

typedef enum scn_target_kind {
    SCN_TARGET_SCRIPT = 0, /* the scenario's own target statement */
    SCN_TARGET_DEVICE,     /* built-in model @target_arg, in-process */
    SCN_TARGET_SOCKET,     /* server listening on @target_arg */
    SCN_TARGET_SPAWN,      /* command @target_arg ({sock} etc. replaced) */
} scn_target_kind_t;

typedef struct scn_run_opts {
    scn_target_kind_t target; /* override of the scenario's target */
    const char *target_arg;
    const char *build_dir;    /* {build}; NULL: $VFU_BUILD_DIR or "build" */
    FILE *trace;              /* every wire message and echo; NULL: none */
    unsigned history;         /* messages shown in a failure; 0: 8 */
} scn_run_opts_t;

typedef struct scn_result {
    scn_status_t status;
    char *message;  /* failure or skip report (may span lines); NULL: pass */
    uint64_t ops;   /* statements executed, repeats counted */
    uint64_t msgs;  /* wire messages sent and received by the client */
    /*
     * FNV-1a over the traced message lines: two runs that exchanged the
     * same messages in the same order have the same digest.
     */
    uint64_t digest;
    double seconds; /* wall time of the run, connection included */
} scn_result_t;

/**
 * scn_run - run @script.  Returns 0 with the outcome in @res (free with
 * scn_result_free()), or -EINVAL / -ENOMEM when it could not be run at
 * all.  @opts may be NULL.  Runs in the calling thread; a spawned server
 * is always killed before returning.
 */
int
scn_run(const scn_script_t *script, const scn_run_opts_t *opts,
        scn_result_t *res);

/**
 * scn_run_file - parse and run @path.  A file that does not parse gives
 * SCN_FAIL with the diagnostic as the message (and returns 0).
 */
int
scn_run_file(const char *path, const scn_run_opts_t *opts, scn_result_t *res);

/** scn_result_free - free the message; leaves @res zeroed. */
void
scn_result_free(scn_result_t *res);

/* ---- collecting files ---- */

/**
 * scn_collect - expand @paths (files, and directories searched
 * recursively for *.vus, sorted) into a malloc'ed array of malloc'ed
 * paths in *@files.  Returns the count, -ENOENT when a path does not
 * exist, -ENOMEM.  Free with scn_collect_free().
 */
int
scn_collect(const char *const *paths, size_t nr_paths, char ***files);

void
scn_collect_free(char **files, size_t n);

/* ---- reporting ---- */

typedef enum scn_report_kind {
    SCN_REPORT_HUMAN = 0, /* PASS/FAIL lines and failure details */
    SCN_REPORT_TAP,       /* TAP version 13 */
} scn_report_kind_t;

typedef struct scn_report scn_report_t;

/**
 * scn_report_new - a reporter writing to @out for @total scenarios;
 * @quiet shows only failures (human) and the summary.
 */
scn_report_t *
scn_report_new(scn_report_kind_t kind, FILE *out, size_t total, bool quiet);

/** scn_report_add - report one scenario's result, in order. */
void
scn_report_add(scn_report_t *rep, const char *file, const scn_result_t *res);

/**
 * scn_report_end - print the summary, ending with "N passed, M failed";
 * returns the number failed.  Frees @rep.
 */
size_t
scn_report_end(scn_report_t *rep);

/**
 * scn_report_junit - write JUnit XML for @n results to @path (one
 * testsuite per directory).  Returns 0 or a negative errno.
 */
int
scn_report_junit(const char *path, const char *const *files,
                 const scn_result_t *results, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* VFU_SCENARIO_H */
