/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_report.c - scenario results as text for people, TAP version 13 and
 * JUnit XML for CI; and finding the scenario files under directories.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "harness/scn_private.h"

#define SCN_MAX_FILES 100000u
#define SCN_MAX_DIR_DEPTH 16u

/* ------------------------------------------------------------------ */
/* Collecting files                                                    */
/* ------------------------------------------------------------------ */

typedef struct flist {
    char **v;
    size_t n, cap;
} flist_t;

static int
flist_add(flist_t *l, const char *path)
{
    if (l->n >= SCN_MAX_FILES) {
        return -E2BIG;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        char **n = realloc(l->v, cap * sizeof(*n));

        if (n == NULL) {
            return -ENOMEM;
        }
        l->v = n;
        l->cap = cap;
    }
    l->v[l->n] = strdup(path);
    if (l->v[l->n] == NULL) {
        return -ENOMEM;
    }
    l->n++;
    return 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
is_scenario(const char *name)
{
    size_t n = strlen(name);

    return n > 4 && strcmp(name + n - 4, ".vus") == 0 && name[0] != '.';
}

static int
walk(flist_t *l, const char *dir, unsigned depth)
{
    struct dirent *e;
    DIR *d;
    int rc = 0;

    if (depth > SCN_MAX_DIR_DEPTH) {
        return 0;
    }
    d = opendir(dir);
    if (d == NULL) {
        return -errno;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        struct stat st;
        char *path;

        if (e->d_name[0] == '.') {
            continue;
        }
        path = malloc(strlen(dir) + strlen(e->d_name) + 2);
        if (path == NULL) {
            rc = -ENOMEM;
            break;
        }
        sprintf(path, "%s%s%s", dir,
                dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name);
        if (stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                rc = walk(l, path, depth + 1);
            } else if (S_ISREG(st.st_mode) && is_scenario(e->d_name)) {
                rc = flist_add(l, path);
            }
        }
        free(path);
    }
    closedir(d);
    return rc;
}

int
scn_collect(const char *const *paths, size_t nr_paths, char ***files)
{
    flist_t l = {0};
    size_t i;
    int rc = 0;

    *files = NULL;
    for (i = 0; i < nr_paths && rc == 0; i++) {
        struct stat st;
        size_t first = l.n;

        if (stat(paths[i], &st) < 0) {
            rc = -errno;
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(&l, paths[i], 0);
            if (rc == 0) {
                qsort(l.v + first, l.n - first, sizeof(*l.v), cmp_str);
            }
        } else {
            rc = flist_add(&l, paths[i]);
        }
    }
    if (rc < 0) {
        scn_collect_free(l.v, l.n);
        return rc;
    }
    *files = l.v;
    return (int)l.n;
}

void
scn_collect_free(char **files, size_t n)
{
    size_t i;

    for (i = 0; files != NULL && i < n; i++) {
        free(files[i]);
    }
    free(files);
}

/* ------------------------------------------------------------------ */
/* Text and TAP                                                        */
/* ------------------------------------------------------------------ */

struct scn_report {
    scn_report_kind_t kind;
    FILE *out;
    size_t total, index;
    size_t passed, failed, skipped;
    bool quiet;
};

scn_report_t *
scn_report_new(scn_report_kind_t kind, FILE *out, size_t total, bool quiet)
{
    scn_report_t *rep = calloc(1, sizeof(*rep));

    if (rep == NULL) {
        return NULL;
    }
    rep->kind = kind;
    rep->out = out;
    rep->total = total;
    rep->quiet = quiet;
    if (kind == SCN_REPORT_TAP) {
        fprintf(out, "TAP version 13\n1..%zu\n", total);
    }
    return rep;
}

/* Print @msg with every line prefixed by @indent. */
static void
print_indented(FILE *out, const char *msg, const char *indent)
{
    const char *p = msg;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);

        fprintf(out, "%s%.*s\n", indent, (int)n, p);
        p += n + (nl != NULL);
    }
}

static void
first_line(const char *msg, char *buf, size_t size)
{
    const char *nl = msg != NULL ? strchr(msg, '\n') : NULL;
    size_t n = msg == NULL ? 0 : nl != NULL ? (size_t)(nl - msg) : strlen(msg);

    snprintf(buf, size, "%.*s", (int)n, msg != NULL ? msg : "");
}

void
scn_report_add(scn_report_t *rep, const char *file, const scn_result_t *res)
{
    char line[512];

    rep->index++;
    switch (res->status) {
    case SCN_PASS:
        rep->passed++;
        break;
    case SCN_SKIP:
        rep->skipped++;
        break;
    default:
        rep->failed++;
        break;
    }
    first_line(res->message, line, sizeof(line));
    if (rep->kind == SCN_REPORT_TAP) {
        if (res->status == SCN_PASS) {
            fprintf(rep->out, "ok %zu - %s\n", rep->index, file);
        } else if (res->status == SCN_SKIP) {
            /* a '#' in the reason would end the directive early */
            for (char *p = line; *p != '\0'; p++) {
                *p = *p == '#' ? '_' : *p;
            }
            fprintf(rep->out, "ok %zu - %s # SKIP %s\n", rep->index, file,
                    line);
        } else {
            fprintf(rep->out, "not ok %zu - %s\n  ---\n  message: |\n",
                    rep->index, file);
            print_indented(rep->out, res->message != NULL ? res->message : "",
                           "    ");
            fprintf(rep->out, "  ...\n");
        }
        fflush(rep->out);
        return;
    }
    if (res->status == SCN_PASS) {
        if (!rep->quiet) {
            fprintf(rep->out, "PASS  %s (%llu ops, %.1f ms)\n", file,
                    (unsigned long long)res->ops, res->seconds * 1e3);
        }
    } else if (res->status == SCN_SKIP) {
        if (!rep->quiet) {
            fprintf(rep->out, "SKIP  %s: %s\n", file, line);
        }
    } else {
        fprintf(rep->out, "FAIL  %s\n", file);
        print_indented(rep->out, res->message != NULL ? res->message : "",
                       "  ");
    }
    fflush(rep->out);
}

size_t
scn_report_end(scn_report_t *rep)
{
    size_t failed;

    if (rep == NULL) {
        return 0;
    }
    failed = rep->failed;
    if (rep->kind == SCN_REPORT_TAP) {
        if (rep->skipped > 0) {
            fprintf(rep->out, "# %zu skipped\n", rep->skipped);
        }
        fprintf(rep->out, "# %zu passed, %zu failed\n", rep->passed,
                rep->failed);
    } else {
        if (rep->skipped > 0) {
            fprintf(rep->out, "%zu skipped\n", rep->skipped);
        }
        fprintf(rep->out, "%zu passed, %zu failed\n", rep->passed,
                rep->failed);
    }
    fflush(rep->out);
    free(rep);
    return failed;
}

/* ------------------------------------------------------------------ */
/* JUnit XML                                                           */
/* ------------------------------------------------------------------ */

/* XML text: escapes, and no control characters XML 1.0 forbids. */
static void
xml_text(FILE *f, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        switch (c) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                fputc('?', f);
            } else {
                fputc(c, f);
            }
        }
    }
}

/* The directory part of @file into @buf ("." when none). */
static void
dir_of(const char *file, char *buf, size_t size)
{
    const char *slash = strrchr(file, '/');

    if (slash == NULL) {
        snprintf(buf, size, ".");
    } else {
        snprintf(buf, size, "%.*s", (int)(slash - file), file);
    }
}

static void
junit_case(FILE *f, const char *file, const scn_result_t *r, const char *dir)
{
    const char *base = strrchr(file, '/');
    char cls[512], line[512];
    size_t i, n;

    base = base != NULL ? base + 1 : file;
    n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".vus") == 0) {
        n -= 4;
    }
    snprintf(cls, sizeof(cls), "%s", dir);
    for (i = 0; cls[i] != '\0'; i++) {
        cls[i] = cls[i] == '/' ? '.' : cls[i];
    }
    fputs("    <testcase classname=\"", f);
    xml_text(f, cls);
    fputs("\" name=\"", f);
    {
        char name[512];

        snprintf(name, sizeof(name), "%.*s", (int)n, base);
        xml_text(f, name);
    }
    fputs("\" file=\"", f);
    xml_text(f, file);
    fprintf(f, "\" time=\"%.6f\"", r->seconds);
    if (r->status == SCN_PASS) {
        fputs("/>\n", f);
        return;
    }
    fputs(">\n", f);
    first_line(r->message, line, sizeof(line));
    if (r->status == SCN_SKIP) {
        fputs("      <skipped message=\"", f);
        xml_text(f, line);
        fputs("\"/>\n", f);
    } else {
        fputs("      <failure type=\"failure\" message=\"", f);
        xml_text(f, line);
        fputs("\">", f);
        xml_text(f, r->message);
        fputs("</failure>\n", f);
    }
    fputs("    </testcase>\n", f);
}

int
scn_report_junit(const char *path, const char *const *files,
                 const scn_result_t *results, size_t n)
{
    size_t i, j, fails = 0, skips = 0;
    double total = 0;
    char stamp[64];
    time_t now = time(NULL);
    struct tm tm;
    FILE *f;

    f = fopen(path, "w");
    if (f == NULL) {
        return -errno;
    }
    for (i = 0; i < n; i++) {
        fails += results[i].status == SCN_FAIL;
        skips += results[i].status == SCN_SKIP;
        total += results[i].seconds;
    }
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<testsuites name=\"vfu-run\" tests=\"%zu\" failures=\"%zu\" "
               "errors=\"0\" skipped=\"%zu\" time=\"%.6f\">\n",
            n, fails, skips, total);
    /* one testsuite per directory, in order of first appearance */
    for (i = 0; i < n; i++) {
        char dir[512], other[512];
        size_t tests = 0, sf = 0, ss = 0;
        double t = 0;
        bool seen = false;

        dir_of(files[i], dir, sizeof(dir));
        for (j = 0; j < i && !seen; j++) {
            dir_of(files[j], other, sizeof(other));
            seen = strcmp(dir, other) == 0;
        }
        if (seen) {
            continue;
        }
        for (j = i; j < n; j++) {
            dir_of(files[j], other, sizeof(other));
            if (strcmp(dir, other) == 0) {
                tests++;
                sf += results[j].status == SCN_FAIL;
                ss += results[j].status == SCN_SKIP;
                t += results[j].seconds;
            }
        }
        fputs("  <testsuite name=\"", f);
        xml_text(f, dir);
        fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
                   "skipped=\"%zu\" time=\"%.6f\" timestamp=\"%s\">\n",
                tests, sf, ss, t, stamp);
        for (j = i; j < n; j++) {
            dir_of(files[j], other, sizeof(other));
            if (strcmp(dir, other) == 0) {
                junit_case(f, files[j], &results[j], dir);
            }
        }
        fputs("  </testsuite>\n", f);
    }
    fputs("</testsuites>\n", f);
    if (fclose(f) != 0) {
        return -errno;
    }
    return 0;
}
