/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_run.h - the runner's state and the helpers shared by scn_run.c,
 * scn_run_io.c and scn_target.c.
 */
#ifndef VFU_HARNESS_SCN_RUN_H
#define VFU_HARNESS_SCN_RUN_H

#include <stdarg.h>
#include <sys/types.h>

#include "devices/devices.h"
#include "harness/scn_private.h"

/* Wire lines kept for failure reports. */
#define SCN_RING 32u
#define SCN_RING_LINE 240u
#define SCN_DEFAULT_HISTORY 8u
#define SCN_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define SCN_DEFAULT_TIMEOUT_MS 5000

/* A statement's outcome: go on, or stop the scenario (failed or skipped). */
#define SCN_GO 0
#define SCN_STOP 1

/* A growing string. */
typedef struct scn_sbuf {
    char *s;
    size_t len, cap;
    bool oom;
} scn_sbuf_t;

void
scn_sbuf_printf(scn_sbuf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void
scn_sbuf_vprintf(scn_sbuf_t *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

typedef struct scn_runner {
    const scn_script_t *sc;
    const scn_run_opts_t *opts;
    scn_result_t *res;

    /* target */
    scn_target_kind_t kind;
    char *arg;             /* device name, socket path or command */
    bool overridden;       /* --socket / --spawn */
    vfu_device_t dev;      /* in-process */
    bool have_dev;
    pid_t pid;             /* spawned server, 0 if none */
    char tmpdir[256];      /* spawn: private directory, "" if none */
    char sock[300];        /* socket path (connect, spawn) */
    char errlog[300];      /* spawn: the server's stderr */
    vmm_t *vmm;
    vmm_opts_t vopts;
    int connect_timeout_ms;
    unsigned gen;          /* instances opened so far minus one */
    uint64_t dirty_pgsize; /* dirty start's page size, 0 when not logging */

    /* execution */
    uint64_t vars[SCN_MAX_VARS];
    uint32_t iter[SCN_MAX_NEST + 1], iter_n[SCN_MAX_NEST + 1];
    unsigned iter_depth;
    bool batching;
    scn_sbuf_t msg;        /* failure or skip report */
    scn_status_t status;

    /* wire lines */
    char ring[SCN_RING][SCN_RING_LINE];
    unsigned ring_head, ring_nr;
} scn_runner_t;

/* ---- scn_run.c ---- */

/*
 * Record that @s failed (or with @skip, that a requirement did not hold):
 * location, the statement, the detail, the last wire lines.  Returns
 * SCN_STOP.
 */
int
scn_fail(scn_runner_t *r, const scn_stmt_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int
scn_skip(scn_runner_t *r, const scn_stmt_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A failure before any statement (connecting): location of the target. */
int
scn_fail_target(scn_runner_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Evaluate a value; a bad one (division by zero) fails @s. */
int
scn_eval(scn_runner_t *r, const scn_stmt_t *s, const scn_value_t *v,
         uint64_t *out);

/*
 * The outcome @rc (0 or -errno) of an operation against the statement's
 * error clause: SCN_GO to go on with value checks, SCN_STOP on failure,
 * 2 when the expected error happened (nothing more to check).
 */
int
scn_check_rc(scn_runner_t *r, const scn_stmt_t *s, int rc);

/* Apply comparison, mask and capture to @actual (@width bytes, 0: any). */
int
scn_check_value(scn_runner_t *r, const scn_stmt_t *s, uint64_t actual,
                unsigned width);

/* scn_check_value() that, with @skip, reports a mismatch as a skip. */
int
scn_check_value_as(scn_runner_t *r, const scn_stmt_t *s, uint64_t actual,
                   unsigned width, bool skip);

/* "EINVAL (22)" */
const char *
scn_errstr(int err, char *buf, size_t size);

/* Install the wire and log hooks on r->vmm. */
void
scn_install_hooks(scn_runner_t *r);

/* "EINVAL|ENOSPC|hangup" */
void
scn_errset_str(const scn_errset_t *e, char *buf, size_t size);

/* Add a line to the ring and the trace stream. */
void
scn_note(scn_runner_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- scn_run_dev.c ---- */

int
scn_exec_info(scn_runner_t *r, const scn_stmt_t *s);

int
scn_exec_access(scn_runner_t *r, const scn_stmt_t *s);

int
scn_exec_irq(scn_runner_t *r, const scn_stmt_t *s);

int
scn_exec_expect_irq(scn_runner_t *r, const scn_stmt_t *s);

/* ---- scn_run_io.c ---- */

/*
 * Build the bytes of @b: *@out (malloc'ed, @b->len bytes) and, when @b
 * has any:N items, *@care (1 for bytes to compare; else NULL).
 */
int
scn_bytes_build(scn_runner_t *r, const scn_stmt_t *s, const scn_bytes_t *b,
                uint8_t **out, uint8_t **care);

/*
 * Compare @len actual bytes with expected @b; @more allows extra bytes.
 * Returns SCN_GO or fails @s with the first difference (@what names it).
 */
int
scn_bytes_compare(scn_runner_t *r, const scn_stmt_t *s, const scn_bytes_t *b,
                  const uint8_t *actual, size_t len, bool negate,
                  const char *what);

int
scn_exec_raw(scn_runner_t *r, const scn_stmt_t *s);

int
scn_exec_send(scn_runner_t *r, const scn_stmt_t *s);

int
scn_exec_recv(scn_runner_t *r, const scn_stmt_t *s);

/* answer: set a reply aside for the server's next DMA_READ/DMA_WRITE. */
int
scn_exec_answer(scn_runner_t *r, const scn_stmt_t *s);

int
scn_exec_mem(scn_runner_t *r, const scn_stmt_t *s);

/* ---- scn_run_mig.c ---- */

/* migrate, snapshot, restore, dirty */
int
scn_exec_mig(scn_runner_t *r, const scn_stmt_t *s);

/* ---- scn_target.c ---- */

/* One instance of the target, set aside while a fresh one is opened. */
typedef struct scn_inst {
    vmm_t *vmm;
    vfu_device_t dev;
    bool have_dev;
    pid_t pid;
    char sock[300];
    char errlog[300];
} scn_inst_t;

/*
 * Move the current instance into @old and open a fresh one of the same
 * target (a device: a new instance of the model; spawn: the command again
 * with a new {sock}) as the current.  SCN_GO, or SCN_STOP with @s failed
 * and the old instance current again.
 */
int
scn_target_fresh(scn_runner_t *r, const scn_stmt_t *s, scn_inst_t *old);

/* Close the instance @i (connection, device, spawned server). */
void
scn_target_drop(scn_runner_t *r, scn_inst_t *i);

/* Close the current instance and make @old current again. */
void
scn_target_back(scn_runner_t *r, scn_inst_t *old);

/*
 * The run's private temporary directory, created when first needed:
 * 0, or a negative errno.
 */
int
scn_target_tmpdir(scn_runner_t *r);

/* Open the target and connect; SCN_GO, or SCN_STOP with the failure. */
int
scn_target_open(scn_runner_t *r);

/* Close the connection and reconnect to the same server. */
int
scn_target_reconnect(scn_runner_t *r, const scn_stmt_t *s);

/* Disconnect, stop a spawned server, free the device; always safe. */
void
scn_target_close(scn_runner_t *r);

/* Append the last lines of a spawned server's stderr to @b. */
void
scn_target_stderr_tail(scn_runner_t *r, scn_sbuf_t *b);

#endif /* VFU_HARNESS_SCN_RUN_H */
