/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * replay_main.c - runs a fuzz target over files and directories without
 * libFuzzer, so a gcc build replays every corpus as an ordinary test.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs above this are not seeds; refuse rather than allocate. */
#define REPLAY_MAX_INPUT (16u << 20)

static int
replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long len;

    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        (unsigned long)len > REPLAY_MAX_INPUT || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "replay: %s: unreadable or too large\n", path);
        fclose(f);
        return -1;
    }
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "replay: %s: read failed\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    free(buf);
    return 0;
}

static int
replay_path(const char *path, unsigned *count)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return replay_file(path);
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
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (replay_path(sub, count) != 0) {
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

int
main(int argc, char **argv)
{
    unsigned count = 0;
    int i, rc = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        if (replay_path(argv[i], &count) != 0) {
            rc = 1;
        }
    }
    /* the empty input is always worth a run */
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    printf("replayed %u inputs: %s\n", count, rc == 0 ? "ok" : "errors");
    return rc;
}
