/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * replay_main.c - runs a fuzz target over files and directories without
 * libFuzzer, so a gcc build replays every corpus as an ordinary test.
 *
 * When the harness keeps state between inputs and says what each input
 * did (fz_input_digest(), fuzz/common/fz_digest.h), the inputs are then
 * run again in a shuffled order and each must produce the same messages
 * as the first time: state an input leaves behind for the next one shows
 * up as a mismatch.  FZ_ORDER_CHECK=0 skips that second pass.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz/common/fz_digest.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs above this are not seeds; refuse rather than allocate. */
#define REPLAY_MAX_INPUT (16u << 20)
/* Bounds on what one run holds in memory. */
#define REPLAY_MAX_FILES (1u << 20)
#define REPLAY_MAX_TOTAL (512ull << 20)
/* Mismatches reported by name before the rest are only counted. */
#define REPLAY_MAX_REPORTS 10u

typedef struct input {
    char *path;
    uint8_t *data;
    size_t len;
    uint64_t digest;
} input_t;

typedef struct inputs {
    input_t *v;
    size_t nr, cap;
    unsigned long long total;
} inputs_t;

static int
load_file(inputs_t *in, const char *path)
{
    FILE *f = fopen(path, "rb");
    input_t *e;
    long len;

    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        (unsigned long)len > REPLAY_MAX_INPUT || fseek(f, 0, SEEK_SET) != 0 ||
        in->nr >= REPLAY_MAX_FILES ||
        in->total + (unsigned long)len > REPLAY_MAX_TOTAL) {
        fprintf(stderr, "replay: %s: unreadable, too large, or too many "
                "inputs\n", path);
        fclose(f);
        return -1;
    }
    if (in->nr == in->cap) {
        size_t cap = in->cap != 0 ? 2 * in->cap : 64;
        input_t *v = realloc(in->v, cap * sizeof(*v));

        if (v == NULL) {
            fclose(f);
            return -1;
        }
        in->v = v;
        in->cap = cap;
    }
    e = &in->v[in->nr];
    e->len = (size_t)len;
    e->data = malloc(len > 0 ? (size_t)len : 1);
    e->path = strdup(path);
    e->digest = 0;
    if (e->data == NULL || e->path == NULL ||
        fread(e->data, 1, e->len, f) != e->len) {
        fprintf(stderr, "replay: %s: read failed\n", path);
        free(e->data);
        free(e->path);
        fclose(f);
        return -1;
    }
    fclose(f);
    in->nr++;
    in->total += (unsigned long)len;
    return 0;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file, or every file below a directory in name order. */
static int
load_path(inputs_t *in, const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t nr = 0, cap = 0, i;
    int rc = 0;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        return load_file(in, path);
    }
    d = opendir(path);
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char sub[4096];

        if (e->d_name[0] == '.') {
            continue;
        }
        if (nr == cap) {
            char **v;

            cap = cap != 0 ? 2 * cap : 64;
            v = realloc(names, cap * sizeof(*v));
            if (v == NULL) {
                rc = -1;
                break;
            }
            names = v;
        }
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        names[nr] = strdup(sub);
        if (names[nr] == NULL) {
            rc = -1;
            break;
        }
        nr++;
    }
    closedir(d);
    if (nr > 0) {
        qsort(names, nr, sizeof(*names), cmp_names);
    }
    for (i = 0; i < nr; i++) {
        if (rc == 0 && load_path(in, names[i]) != 0) {
            rc = -1;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

/* Run every input again in a shuffled order; returns the mismatches. */
static size_t
order_check(inputs_t *in)
{
    uint64_t x = 0x9e3779b97f4a7c15ull; /* fixed: a failure reproduces */
    size_t *perm = malloc((in->nr + 1) * sizeof(*perm));
    size_t i, j, tmp, bad = 0;

    if (perm == NULL) {
        return 1;
    }
    for (i = 0; i < in->nr; i++) {
        perm[i] = i;
    }
    for (i = in->nr; i > 1; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        j = (size_t)(x % i);
        tmp = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = tmp;
    }
    for (i = 0; i < in->nr; i++) {
        input_t *e = &in->v[perm[i]];

        LLVMFuzzerTestOneInput(e->data, e->len);
        if (fz_input_digest() != e->digest) {
            if (bad < REPLAY_MAX_REPORTS) {
                fprintf(stderr, "replay: %s: other messages when run after "
                        "%s than in the first pass\n", e->path,
                        i > 0 ? in->v[perm[i - 1]].path : "nothing");
            }
            bad++;
        }
    }
    free(perm);
    return bad;
}

int
main(int argc, char **argv)
{
    inputs_t in = { 0 };
    const char *env = getenv("FZ_ORDER_CHECK");
    size_t i, bad = 0;
    int rc = 0;
    bool check = fz_input_digest != NULL && !(env != NULL && env[0] == '0');

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < (size_t)argc; i++) {
        if (load_path(&in, argv[i]) != 0) {
            rc = 1;
        }
    }
    for (i = 0; i < in.nr; i++) {
        LLVMFuzzerTestOneInput(in.v[i].data, in.v[i].len);
        if (check) {
            in.v[i].digest = fz_input_digest();
        }
    }
    /* the empty input is always worth a run */
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    if (check) {
        bad = order_check(&in);
        if (bad > 0) {
            rc = 1;
        }
    }
    printf("replayed %zu inputs: %s", in.nr, rc == 0 ? "ok" : "errors");
    if (check) {
        printf("; again in a shuffled order: %zu mismatches", bad);
    }
    printf("\n");
    for (i = 0; i < in.nr; i++) {
        free(in.v[i].data);
        free(in.v[i].path);
    }
    free(in.v);
    return rc;
}
