/* SPDX-License-Identifier: BSD-3-Clause */
/* testutil.c - helpers shared by the cmocka tests. */

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

int
tu_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static int fds_before;

int
tu_fd_setup(void **state)
{
    (void)state;
    fds_before = tu_count_fds();
    return 0;
}

int
tu_fd_teardown(void **state)
{
    int now = tu_count_fds();

    (void)state;
    if (now != fds_before) {
        fprintf(stderr, "fd leak: %d open before the test, %d after\n",
                fds_before, now);
        return -1;
    }
    return 0;
}

const char *
tu_sock_path(const char *tag)
{
    static char dir[64];
    static char path[128];
    static unsigned seq;

    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "/tmp/vfu-test-XXXXXX");
        if (mkdtemp(dir) == NULL) {
            return NULL;
        }
    }
    snprintf(path, sizeof(path), "%s/%s-%u.sock", dir, tag, seq++);
    return path;
}

const char *
tu_build_path(const char *rel)
{
    static char path[4096];
    const char *b = getenv("VFU_BUILD_DIR");

    snprintf(path, sizeof(path), "%s/%s", b != NULL ? b : ".", rel);
    return path;
}

pid_t
tu_spawn(char *const argv[], const char *wait_path)
{
    struct timespec ts = {0, 10 * 1000 * 1000};
    pid_t pid = fork();
    int i;

    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    if (wait_path == NULL) {
        return pid;
    }
    for (i = 0; i < 1000; i++) {
        struct stat st;
        int status;

        if (stat(wait_path, &st) == 0) {
            return pid;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return -1;
        }
        nanosleep(&ts, NULL);
    }
    tu_kill(pid);
    return -1;
}

int
tu_kill(pid_t pid)
{
    int status;

    if (pid <= 0) {
        return -1;
    }
    kill(pid, SIGTERM);
    if (waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
