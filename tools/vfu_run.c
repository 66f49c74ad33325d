/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfu_run.c - vfu-run: run .vus scenarios (docs/scenarios.md) in-process
 * or against a server on a socket, report as text, TAP or JUnit XML, in
 * parallel processes with -j, ending with "N passed, M failed".
 */

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "devices/devices.h"
#include "vfio-user/scenario.h"

#define RUN_MAX_JOBS 64
#define RUN_DEFAULT_TIMEOUT_S 120

typedef struct run_opts {
    scn_run_opts_t scn;
    bool tap, quiet, trace, list;
    const char *junit;
    long jobs;
    long timeout_s;
} run_opts_t;

typedef struct run_state {
    const run_opts_t *o;
    char **files;
    size_t n;
    scn_result_t *res;
    bool *done;
    char **traces;        /* -j: each child's trace text */
    size_t next_report;
    scn_report_t *rep;
    bool progress;        /* a progress line on stderr */
    size_t finished;
} run_state_t;

/* ------------------------------------------------------------------ */
/* Reporting in file order                                             */
/* ------------------------------------------------------------------ */

static void
progress_clear(run_state_t *st)
{
    if (st->progress) {
        fputs("\r\033[K", stderr);
    }
}

static void
progress_show(run_state_t *st, const char *what)
{
    if (st->progress) {
        fprintf(stderr, "\r\033[K[%zu/%zu] %.60s", st->finished, st->n,
                what);
        fflush(stderr);
    }
}

static void
flush_reports(run_state_t *st)
{
    while (st->next_report < st->n && st->done[st->next_report]) {
        size_t i = st->next_report++;

        progress_clear(st);
        if (st->traces != NULL && st->traces[i] != NULL) {
            fputs(st->traces[i], stderr);
        }
        scn_report_add(st->rep, st->files[i], &st->res[i]);
    }
}

/* ------------------------------------------------------------------ */
/* Sequential, in this process                                         */
/* ------------------------------------------------------------------ */

static void
run_sequential(run_state_t *st)
{
    size_t i;

    for (i = 0; i < st->n; i++) {
        progress_show(st, st->files[i]);
        if (scn_run_file(st->files[i], &st->o->scn, &st->res[i]) < 0) {
            st->res[i].status = SCN_FAIL;
            st->res[i].message = strdup("vfu-run: out of memory\n");
        }
        st->done[i] = true;
        st->finished++;
        flush_reports(st);
    }
}

/* ------------------------------------------------------------------ */
/* Parallel: one child process per file                                */
/* ------------------------------------------------------------------ */

/* What a child sends back, followed by the message and the trace. */
typedef struct wire_result {
    int32_t status;
    uint64_t ops, msgs, digest;
    double seconds;
    uint32_t msg_len, trace_len;
} wire_result_t;

typedef struct child {
    pid_t pid;
    int fd;
    size_t index;
    char *buf;
    size_t len, cap;
    time_t start;
} child_t;

static void
write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

static void
child_main(const run_opts_t *o, const char *file, int fd)
{
    scn_run_opts_t so = o->scn;
    char *trace = NULL;
    size_t trace_len = 0;
    FILE *tf = NULL;
    scn_result_t res;
    wire_result_t w;

    if (o->trace) {
        tf = open_memstream(&trace, &trace_len);
        so.trace = tf;
    }
    if (scn_run_file(file, &so, &res) < 0) {
        res.status = SCN_FAIL;
        res.message = strdup("vfu-run: out of memory\n");
    }
    if (tf != NULL) {
        fclose(tf);
    }
    memset(&w, 0, sizeof(w));
    w.status = res.status;
    w.ops = res.ops;
    w.msgs = res.msgs;
    w.digest = res.digest;
    w.seconds = res.seconds;
    w.msg_len = res.message != NULL ? (uint32_t)strlen(res.message) : 0;
    w.trace_len = (uint32_t)trace_len;
    write_all(fd, &w, sizeof(w));
    write_all(fd, res.message, w.msg_len);
    write_all(fd, trace, w.trace_len);
    scn_result_free(&res);
    free(trace);
}

static int
child_start(run_state_t *st, child_t *c, size_t index)
{
    int p[2];

    if (pipe(p) < 0) {
        return -errno;
    }
    fflush(stdout);
    fflush(stderr);
    c->pid = fork();
    if (c->pid < 0) {
        close(p[0]);
        close(p[1]);
        return -errno;
    }
    if (c->pid == 0) {
        close(p[0]);
        child_main(st->o, st->files[index], p[1]);
        close(p[1]);
        _exit(0);
    }
    close(p[1]);
    c->fd = p[0];
    c->index = index;
    c->len = 0;
    c->start = time(NULL);
    return 0;
}

static void
child_finish(run_state_t *st, child_t *c, bool timed_out)
{
    scn_result_t *r = &st->res[c->index];
    wire_result_t w;
    char why[128];
    int status = 0;

    if (timed_out) {
        kill(c->pid, SIGKILL);
    }
    waitpid(c->pid, &status, 0);
    close(c->fd);
    c->fd = -1;
    memset(r, 0, sizeof(*r));
    if (!timed_out && c->len >= sizeof(w)) {
        memcpy(&w, c->buf, sizeof(w));
        if (sizeof(w) + (size_t)w.msg_len + w.trace_len <= c->len) {
            r->status = (scn_status_t)w.status;
            r->ops = w.ops;
            r->msgs = w.msgs;
            r->digest = w.digest;
            r->seconds = w.seconds;
            if (w.msg_len > 0) {
                r->message = strndup(c->buf + sizeof(w), w.msg_len);
            }
            if (w.trace_len > 0) {
                st->traces[c->index] =
                    strndup(c->buf + sizeof(w) + w.msg_len, w.trace_len);
            }
            goto done;
        }
    }
    r->status = SCN_FAIL;
    if (timed_out) {
        snprintf(why, sizeof(why), "%s: timed out after %ld s\n",
                 st->files[c->index], st->o->timeout_s);
    } else if (WIFSIGNALED(status)) {
        snprintf(why, sizeof(why), "%s: the runner crashed (signal %d)\n",
                 st->files[c->index], WTERMSIG(status));
    } else {
        snprintf(why, sizeof(why), "%s: the runner exited with status %d\n",
                 st->files[c->index],
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    r->message = strdup(why);
done:
    free(c->buf);
    c->buf = NULL;
    c->cap = 0;
    st->done[c->index] = true;
    st->finished++;
}

/* Read what a child wrote; true at EOF. */
static bool
child_read(child_t *c)
{
    for (;;) {
        ssize_t n;

        if (c->len == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 4096;
            char *b = cap <= (64u << 20) ? realloc(c->buf, cap) : NULL;

            if (b == NULL) {
                return true;
            }
            c->buf = b;
            c->cap = cap;
        }
        n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return true;
        }
        c->len += (size_t)n;
        if (n < 4096) {
            return false; /* more may come; poll again */
        }
    }
}

static int
run_parallel(run_state_t *st)
{
    child_t kids[RUN_MAX_JOBS];
    struct pollfd pfd[RUN_MAX_JOBS];
    size_t next = 0, running = 0, k;
    long jobs = st->o->jobs;

    memset(kids, 0, sizeof(kids));
    for (k = 0; k < RUN_MAX_JOBS; k++) {
        kids[k].fd = -1;
    }
    while (next < st->n || running > 0) {
        int rc;

        for (k = 0; k < (size_t)jobs && next < st->n; k++) {
            if (kids[k].fd < 0) {
                rc = child_start(st, &kids[k], next);
                if (rc < 0) {
                    fprintf(stderr, "vfu-run: cannot start a job: %s\n",
                            strerror(-rc));
                    return rc;
                }
                next++;
                running++;
            }
        }
        progress_show(st, st->files[next > 0 ? next - 1 : 0]);
        for (k = 0; k < (size_t)jobs; k++) {
            pfd[k].fd = kids[k].fd;
            pfd[k].events = POLLIN;
            pfd[k].revents = 0;
        }
        rc = poll(pfd, (nfds_t)jobs, 1000);
        if (rc < 0 && errno != EINTR) {
            return -errno;
        }
        for (k = 0; k < (size_t)jobs; k++) {
            bool timed_out;

            if (kids[k].fd < 0) {
                continue;
            }
            timed_out = time(NULL) - kids[k].start > st->o->timeout_s;
            if ((pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) &&
                child_read(&kids[k])) {
                child_finish(st, &kids[k], false);
                running--;
            } else if (timed_out) {
                child_finish(st, &kids[k], true);
                running--;
            }
        }
        flush_reports(st);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: vfu-run [options] FILE|DIR...\n"
            "Run vfio-user scenarios (.vus; see docs/scenarios.md).\n"
            "  --socket PATH     run against the server listening on PATH\n"
            "  --spawn CMD       run against CMD ({sock} {build} {dir})\n"
            "  --build-dir DIR   value of {build} (default $VFU_BUILD_DIR "
            "or build)\n"
            "  --tap             TAP version 13 output\n"
            "  --junit FILE      also write JUnit XML to FILE\n"
            "  --trace           print every wire message on stderr\n"
            "  -j N              run N files in parallel processes\n"
            "  --timeout SEC     per file with -j (default %d)\n"
            "  --list            list the scenarios and what they exercise\n"
            "  --list-devices    list the built-in devices\n"
            "  -q                only failures and the summary\n",
            RUN_DEFAULT_TIMEOUT_S);
}

static int
list_files(char **files, size_t n)
{
    int bad = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        scn_script_t *sc;
        scn_diag_t d;
        char msg[1200];

        if (scn_parse_file(files[i], &sc, &d) < 0) {
            scn_diag_format(&d, msg, sizeof(msg));
            printf("%-44s PARSE ERROR %s\n", files[i], msg);
            bad = 1;
            continue;
        }
        printf("%-44s %4zu  %s\n", files[i], scn_script_statements(sc),
               scn_script_summary(sc));
        scn_script_free(sc);
    }
    return bad;
}

static int
parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int
parse_args(int argc, char **argv, run_opts_t *o)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"spawn", required_argument, NULL, 'S'},
        {"build-dir", required_argument, NULL, 'b'},
        {"tap", no_argument, NULL, 't'},
        {"junit", required_argument, NULL, 'J'},
        {"trace", no_argument, NULL, 'T'},
        {"timeout", required_argument, NULL, 'o'},
        {"list", no_argument, NULL, 'l'},
        {"list-devices", no_argument, NULL, 'D'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "j:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->scn.target = SCN_TARGET_SOCKET;
            o->scn.target_arg = optarg;
            break;
        case 'S':
            o->scn.target = SCN_TARGET_SPAWN;
            o->scn.target_arg = optarg;
            break;
        case 'b':
            o->scn.build_dir = optarg;
            break;
        case 't':
            o->tap = true;
            break;
        case 'J':
            o->junit = optarg;
            break;
        case 'T':
            o->trace = true;
            break;
        case 'o':
            if (parse_long(optarg, 1, 86400, &o->timeout_s) < 0) {
                fprintf(stderr, "vfu-run: bad --timeout %s\n", optarg);
                return 2;
            }
            break;
        case 'j':
            if (parse_long(optarg, 1, RUN_MAX_JOBS, &o->jobs) < 0) {
                fprintf(stderr, "vfu-run: -j wants 1..%d\n", RUN_MAX_JOBS);
                return 2;
            }
            break;
        case 'l':
            o->list = true;
            break;
        case 'D':
            for (size_t i = 0; vfu_device_at(i) != NULL; i++) {
                printf("%-12s %s\n", vfu_device_at(i)->name,
                       vfu_device_at(i)->description);
            }
            return 0;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    return -1;
}

int
main(int argc, char **argv)
{
    run_opts_t o = {.jobs = 1, .timeout_s = RUN_DEFAULT_TIMEOUT_S};
    run_state_t st;
    char **files = NULL;
    size_t failed;
    int n, rc;

    rc = parse_args(argc, argv, &o);
    if (rc >= 0) {
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int i = optind; i < argc; i++) {
        if (access(argv[i], F_OK) < 0) {
            fprintf(stderr, "vfu-run: %s: %s\n", argv[i], strerror(errno));
            return 2;
        }
    }
    n = scn_collect((const char *const *)argv + optind,
                    (size_t)(argc - optind), &files);
    if (n < 0) {
        fprintf(stderr, "vfu-run: %s\n", strerror(-n));
        return 2;
    }
    if (n == 0) {
        fprintf(stderr, "vfu-run: no scenario (*.vus) found\n");
        scn_collect_free(files, 0);
        return 2;
    }
    if (o.list) {
        rc = list_files(files, (size_t)n);
        scn_collect_free(files, (size_t)n);
        return rc;
    }
    if (o.trace && o.jobs == 1) {
        o.scn.trace = stderr;
    }

    memset(&st, 0, sizeof(st));
    st.o = &o;
    st.files = files;
    st.n = (size_t)n;
    st.res = calloc(st.n, sizeof(*st.res));
    st.done = calloc(st.n, sizeof(*st.done));
    st.traces = calloc(st.n, sizeof(*st.traces));
    st.rep = scn_report_new(o.tap ? SCN_REPORT_TAP : SCN_REPORT_HUMAN, stdout,
                            st.n, o.quiet);
    st.progress = isatty(STDERR_FILENO) && !o.trace && st.n > 1;
    if (st.res == NULL || st.done == NULL || st.traces == NULL ||
        st.rep == NULL) {
        fprintf(stderr, "vfu-run: out of memory\n");
        return 2;
    }
    if (o.jobs > 1) {
        rc = run_parallel(&st);
    } else {
        run_sequential(&st);
        rc = 0;
    }
    progress_clear(&st);
    /* whatever could not run counts as failed */
    for (size_t i = 0; i < st.n; i++) {
        if (!st.done[i]) {
            st.res[i].status = SCN_FAIL;
            st.res[i].message = strdup("not run\n");
            st.done[i] = true;
        }
    }
    flush_reports(&st);
    failed = scn_report_end(st.rep);
    if (o.junit != NULL) {
        int jrc = scn_report_junit(o.junit, (const char *const *)files,
                                   st.res, st.n);

        if (jrc < 0) {
            fprintf(stderr, "vfu-run: cannot write %s: %s\n", o.junit,
                    strerror(-jrc));
            rc = jrc;
        }
    }
    for (size_t i = 0; i < st.n; i++) {
        scn_result_free(&st.res[i]);
        free(st.traces[i]);
    }
    free(st.res);
    free(st.done);
    free(st.traces);
    scn_collect_free(files, st.n);
    return failed > 0 || rc < 0 ? 1 : 0;
}
