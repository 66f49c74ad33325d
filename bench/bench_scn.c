/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_scn.c - vfu-bench: how fast the scenario runner replays a
 * scenario, in statements per second, in-process and over a UNIX socket.
 *
 * The scenario is generated: a repeat over a mix of what device scenarios
 * do (32-bit write, checked 32-bit read, byte write, byte-blob read with a
 * comparison, config read), so the figure includes parsing-free statement
 * dispatch, value checks, the fake VMM and the server.  The socket server
 * is the gpio model served by vfu_device_serve() in a forked child, as the
 * other socket benchmarks do.  The time counted is the runner's own
 * (connection and negotiation included, negligible at these sizes).
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_scn.h"
#include "devices/devices.h"
#include "vfio-user/scenario.h"

/* Statements per repeat iteration in the generated scenario. */
#define SCN_BENCH_BODY 5

static const char scn_bench_fmt[] =
    "# vfu-bench: scenario replay speed\n"
    "device gpio\n"
    "repeat %ld as $i {\n"
    "    bar0 write32 0x40 $i\n"
    "    bar0 read32 0x40 == $i\n"
    "    bar0 write8 0x40 0x5a\n"
    "    bar0 read 0x00 4 == str:GPIO\n"
    "    config read16 0x00 == 0x4e58\n"
    "}\n";

/* Run @sc with @opts; statements per second in *@rate. */
static int
replay(const scn_script_t *sc, const scn_run_opts_t *opts, double *rate,
       uint64_t *ops)
{
    scn_result_t res;
    int rc = scn_run(sc, opts, &res);

    if (rc < 0) {
        return rc;
    }
    if (res.status != SCN_PASS) {
        fprintf(stderr, "vfu-bench: scenario failed:\n%s",
                res.message != NULL ? res.message : "");
        scn_result_free(&res);
        return -EIO;
    }
    *ops = res.ops;
    *rate = res.seconds > 0 ? (double)res.ops / res.seconds : 0;
    scn_result_free(&res);
    return 0;
}

static void
serve_once(const char *path)
{
    vfu_device_t dev;
    int rc = vfu_device_open("gpio", VFU_TRANS_SOCK, path,
                             LIBVFIO_USER_FLAG_ATTACH_NB, &dev);

    if (rc == 0) {
        rc = vfu_device_serve(&dev, true);
        vfu_device_close(&dev);
    }
    _exit(rc < 0 ? 1 : 0);
}

static void
reap(pid_t pid)
{
    struct timespec ts = {0, 10 * 1000 * 1000};
    int status, i;

    for (i = 0; i < 300; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return;
        }
        if (i == 100) {
            kill(pid, SIGTERM);
        }
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

static int
replay_socket(const scn_script_t *sc, double *rate, uint64_t *ops)
{
    char dir[] = "/tmp/vfu-bench-scn-XXXXXX";
    char path[sizeof(dir) + 16];
    scn_run_opts_t o = {.target = SCN_TARGET_SOCKET, .target_arg = path};
    pid_t pid;
    int rc;

    if (mkdtemp(dir) == NULL) {
        return -errno;
    }
    snprintf(path, sizeof(path), "%s/gpio.sock", dir);
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        rc = -errno;
        rmdir(dir);
        return rc;
    }
    if (pid == 0) {
        serve_once(path);
    }
    rc = replay(sc, &o, rate, ops); /* the runner waits for the socket */
    reap(pid);
    unlink(path);
    rmdir(dir);
    return rc;
}

int
bench_scn_main(long ops)
{
    long iters = ops / SCN_BENCH_BODY;
    double in_rate = 0, sock_rate = 0;
    uint64_t in_ops = 0, sock_ops = 0;
    scn_script_t *sc = NULL;
    scn_diag_t diag;
    char text[sizeof(scn_bench_fmt) + 32];
    int rc;

    if (iters < 100) {
        iters = 100;
    }
    if (iters > 1000000) {
        iters = 1000000;
    }
    snprintf(text, sizeof(text), scn_bench_fmt, iters);
    rc = scn_parse_buf("bench.vus", text, strlen(text), SCN_PARSE_NO_INCLUDE,
                       &sc, &diag);
    if (rc == 0) {
        rc = replay(sc, NULL, &in_rate, &in_ops);
    }
    if (rc == 0) {
        rc = replay_socket(sc, &sock_rate, &sock_ops);
    }
    scn_script_free(sc);
    if (rc < 0) {
        fprintf(stderr, "vfu-bench: scenario replay: %s\n", strerror(-rc));
        return rc;
    }
    printf("scenario replay (gpio, %llu statements): in-process %.0f ops/s, "
           "socket %.0f ops/s (%.1fx)\n",
           (unsigned long long)in_ops, in_rate, sock_rate,
           sock_rate > 0 ? in_rate / sock_rate : 0.0);
    return 0;
}
