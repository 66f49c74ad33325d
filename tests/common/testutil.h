/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * testutil.h - helpers shared by the cmocka tests: fd leak checks, temp
 * socket paths, waiting on child processes.
 */
#ifndef VFU_TESTUTIL_H
#define VFU_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/types.h>

/** tu_count_fds - number of open fds of this process. */
int
tu_count_fds(void);

/*
 * cmocka setup/teardown pair that fails a test which leaves an fd open:
 * use as cmocka_unit_test_setup_teardown(fn, tu_fd_setup, tu_fd_teardown).
 */
int
tu_fd_setup(void **state);
int
tu_fd_teardown(void **state);

/** tu_sock_path - a fresh socket path under a private temp dir. */
const char *
tu_sock_path(const char *tag);

/** tu_build_path - "$VFU_BUILD_DIR/@rel" (static buffer). */
const char *
tu_build_path(const char *rel);

/**
 * tu_spawn - start @argv[0] with arguments; waits until @wait_path exists
 * (when not NULL) for up to 10 s.  Returns the pid, or -1.
 */
pid_t
tu_spawn(char *const argv[], const char *wait_path);

/** tu_kill - SIGTERM, then wait; returns the exit status or -1. */
int
tu_kill(pid_t pid);

#endif
