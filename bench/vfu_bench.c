/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfu_bench.c - vfu-bench: round-trip latency of small region accesses to
 * the gpio sample device, in-process versus over a UNIX socket.
 *
 * Each operation runs a warm-up, then its iterations in five equal batches
 * timed with CLOCK_MONOTONIC; the median batch gives ns/op, so one
 * scheduling hiccup does not skew the result.  The socket server is the
 * same gpio model served by vfu_device_serve() in a forked child.  A raw
 * socketpair ping-pong of the same message sizes is the baseline: what the
 * kernel alone costs per round trip on this machine.
 */

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_dma.h"
#include "bench/bench_scn.h"
#include "devices/devices.h"
#include "devices/gpio/gpio.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/vmm.h"

#define BENCH_DEFAULT_ITERS 20000L
#define BENCH_MAX_ITERS 100000000L
#define BENCH_BATCHES 5

typedef struct bench_opts {
    long iters;
    long warmup;
    bool json;
    bool dma; /* --dma: the dmaengine benchmarks (bench_dma.c) instead */
} bench_opts_t;

/* One timed operation: returns 0 or a negative errno. */
typedef int(bench_op_fn)(vmm_t *vmm);

typedef struct bench_op {
    const char *name; /* JSON key */
    const char *label;
    bench_op_fn *fn;
} bench_op_t;

static int
op_bar0_read1(vmm_t *vmm)
{
    uint8_t b = 0;
    int rc =
        vmm_region_read(vmm, VFU_PCI_DEV_BAR0_REGION_IDX, GPIO_REG_ID, &b, 1);

    return rc < 0 ? rc : (b == (GPIO_ID_VALUE & 0xff) ? 0 : -EIO);
}

static int
op_bar0_read4(vmm_t *vmm)
{
    uint64_t v = 0;
    int rc = vmm_region_read_val(vmm, VFU_PCI_DEV_BAR0_REGION_IDX, GPIO_REG_ID,
                                 4, &v);

    return rc < 0 ? rc : (v == GPIO_ID_VALUE ? 0 : -EIO);
}

static int
op_bar0_write4(vmm_t *vmm)
{
    return vmm_region_write_val(vmm, VFU_PCI_DEV_BAR0_REGION_IDX,
                                GPIO_REG_SCRATCH, 4, 0x5a5a5a5a);
}

static int
op_config_read4(vmm_t *vmm)
{
    uint64_t v = 0;
    int rc = vmm_config_read(vmm, PCI_VENDOR_ID, 4, &v);

    return rc < 0 ? rc : ((v & 0xffff) == GPIO_VENDOR_ID ? 0 : -EIO);
}

static const bench_op_t bench_ops[] = {
    {"bar0_read_1", "BAR0 read 1 byte", op_bar0_read1},
    {"bar0_read_4", "BAR0 read 4 bytes", op_bar0_read4},
    {"bar0_write_4", "BAR0 write 4 bytes", op_bar0_write4},
    {"config_read_4", "config read 4 bytes", op_config_read4},
};
#define BENCH_NR_OPS (sizeof(bench_ops) / sizeof(bench_ops[0]))

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Time @op on @vmm; *@ns_per_op gets the median batch. */
static int
bench_run(vmm_t *vmm, const bench_op_t *op, const bench_opts_t *o,
          double *ns_per_op)
{
    double batch_ns[BENCH_BATCHES];
    long per_batch = o->iters / BENCH_BATCHES;
    long i;
    int b;
    int rc;

    if (per_batch < 1) {
        per_batch = 1;
    }
    for (i = 0; i < o->warmup; i++) {
        rc = op->fn(vmm);
        if (rc < 0) {
            return rc;
        }
    }
    for (b = 0; b < BENCH_BATCHES; b++) {
        int64_t t0 = now_ns();

        for (i = 0; i < per_batch; i++) {
            rc = op->fn(vmm);
            if (rc < 0) {
                return rc;
            }
        }
        batch_ns[b] = (double)(now_ns() - t0) / (double)per_batch;
    }
    qsort(batch_ns, BENCH_BATCHES, sizeof(batch_ns[0]), cmp_double);
    *ns_per_op = batch_ns[BENCH_BATCHES / 2];
    return 0;
}

static int
bench_all(vmm_t *vmm, const bench_opts_t *o, double *results)
{
    size_t i;
    int rc;

    for (i = 0; i < BENCH_NR_OPS; i++) {
        rc = bench_run(vmm, &bench_ops[i], o, &results[i]);
        if (rc < 0) {
            fprintf(stderr, "vfu-bench: %s failed: %s\n", bench_ops[i].label,
                    strerror(-rc));
            return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* In-process                                                          */
/* ------------------------------------------------------------------ */

static int
bench_inproc(const bench_opts_t *o, double *results)
{
    vfu_device_t dev;
    vmm_t *vmm = NULL;
    int rc;

    rc = vfu_device_open("gpio", VFU_TRANS_EXT_INPROC, NULL, 0, &dev);
    if (rc < 0) {
        fprintf(stderr, "vfu-bench: in-process gpio: %s\n", strerror(-rc));
        return rc;
    }
    rc = vmm_attach_inproc(dev.ctx, NULL, &vmm);
    if (rc < 0) {
        fprintf(stderr, "vfu-bench: in-process attach: %s\n", strerror(-rc));
    } else {
        rc = bench_all(vmm, o, results);
    }
    vmm_close(vmm);
    vfu_device_close(&dev);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Over a UNIX socket, the server in a child process                   */
/* ------------------------------------------------------------------ */

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* The child: serve one client, then exit. */
static void
serve_child(const char *path)
{
    vfu_device_t dev;
    int rc = vfu_device_open("gpio", VFU_TRANS_SOCK, path,
                             LIBVFIO_USER_FLAG_ATTACH_NB, &dev);

    if (rc == 0) {
        rc = vfu_device_serve(&dev, true);
        vfu_device_close(&dev);
    }
    if (rc < 0) {
        fprintf(stderr, "vfu-bench: socket server: %s\n", strerror(-rc));
    }
    _exit(rc < 0 ? 1 : 0);
}

/* Reap @pid, asking it to stop if it has not after its client left. */
static int
reap_child(pid_t pid)
{
    int status = 0;
    int i;

    for (i = 0; i < 500; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
        }
        if (i % 100 == 99) {
            kill(pid, SIGTERM);
        }
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -ETIMEDOUT;
}

static int
bench_socket(const bench_opts_t *o, double *results)
{
    char dir[] = "/tmp/vfu-bench-XXXXXX";
    char path[sizeof(dir) + 16];
    vmm_t *vmm = NULL;
    pid_t pid;
    int rc = -ECONNREFUSED;
    int i;

    if (mkdtemp(dir) == NULL) {
        rc = -errno;
        fprintf(stderr, "vfu-bench: mkdtemp: %s\n", strerror(-rc));
        return rc;
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
        serve_child(path);
    }

    /* the socket appears, then listens; give the child up to 5 s */
    for (i = 0; i < 500; i++) {
        int status;

        rc = vmm_connect(path, NULL, &vmm);
        if (rc == 0 || (rc != -ENOENT && rc != -ECONNREFUSED)) {
            break;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            pid = -1;
            break;
        }
        sleep_ms(10);
    }
    if (rc < 0) {
        fprintf(stderr, "vfu-bench: connect %s: %s\n", path, strerror(-rc));
    } else {
        rc = bench_all(vmm, o, results);
    }
    vmm_close(vmm);
    if (pid > 0) {
        int crc = reap_child(pid);

        if (rc == 0 && crc < 0) {
            fprintf(stderr, "vfu-bench: socket server did not exit cleanly\n");
            rc = crc;
        }
    }
    unlink(path); /* normally gone already: the server removes it */
    rmdir(dir);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Baseline: the kernel's own cost of a round trip                      */
/* ------------------------------------------------------------------ */

/* Move all @len bytes; 0 or a negative errno (-EPIPE at end of file). */
static int
xfer_all(int fd, void *buf, size_t len, bool out)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = out ? write(fd, p, len) : read(fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            return -EPIPE;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * A socketpair ping-pong with a child process, the request and reply the
 * size of a 4-byte REGION_READ and its reply: what any UNIX-socket
 * transport pays before doing any work of its own.
 */
static int
bench_baseline(const bench_opts_t *o, double *ns_per_op)
{
    uint8_t req[sizeof(struct vfio_user_header) +
                sizeof(struct vfio_user_region_access)];
    uint8_t rep[sizeof(req) + 4];
    double batch_ns[BENCH_BATCHES];
    long per_batch =
        o->iters / BENCH_BATCHES > 0 ? o->iters / BENCH_BATCHES : 1;
    int sv[2];
    pid_t pid;
    int rc = 0;
    long i;
    int b;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return -errno;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        rc = -errno;
        close(sv[0]);
        close(sv[1]);
        return rc;
    }
    if (pid == 0) {
        close(sv[0]);
        memset(rep, 0, sizeof(rep));
        while (xfer_all(sv[1], req, sizeof(req), false) == 0 &&
               xfer_all(sv[1], rep, sizeof(rep), true) == 0) {
        }
        _exit(0);
    }
    close(sv[1]);
    memset(req, 0, sizeof(req));
    for (i = 0; i < o->warmup && rc == 0; i++) {
        rc = xfer_all(sv[0], req, sizeof(req), true);
        if (rc == 0) {
            rc = xfer_all(sv[0], rep, sizeof(rep), false);
        }
    }
    for (b = 0; b < BENCH_BATCHES && rc == 0; b++) {
        int64_t t0 = now_ns();

        for (i = 0; i < per_batch && rc == 0; i++) {
            rc = xfer_all(sv[0], req, sizeof(req), true);
            if (rc == 0) {
                rc = xfer_all(sv[0], rep, sizeof(rep), false);
            }
        }
        batch_ns[b] = (double)(now_ns() - t0) / (double)per_batch;
    }
    close(sv[0]); /* the child sees end of file and exits */
    waitpid(pid, NULL, 0);
    if (rc == 0) {
        qsort(batch_ns, BENCH_BATCHES, sizeof(batch_ns[0]), cmp_double);
        *ns_per_op = batch_ns[BENCH_BATCHES / 2];
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Report                                                              */
/* ------------------------------------------------------------------ */

static void
report_text(const bench_opts_t *o, const double *inproc, const double *sock,
            double baseline)
{
    size_t i;

    printf("vfu-bench: gpio device, %ld iterations per operation "
           "(%ld warm-up), median of %d batches\n",
           o->iters, o->warmup, BENCH_BATCHES);
    printf("%-22s %14s %14s %10s\n", "operation", "in-process", "socket",
           "socket/in");
    for (i = 0; i < BENCH_NR_OPS; i++) {
        printf("%-22s %11.0f ns %11.0f ns %9.1fx\n", bench_ops[i].label,
               inproc[i], sock[i], inproc[i] > 0 ? sock[i] / inproc[i] : 0.0);
    }
    printf("baseline: socketpair ping-pong of the same sizes, no vfio-user: "
           "%.0f ns (BAR0 read 4 bytes over the socket: %.2fx of it)\n",
           baseline, baseline > 0 ? sock[1] / baseline : 0.0);
}

static int
report_json(const bench_opts_t *o, const double *inproc, const double *sock,
            double baseline)
{
    json_object *root = json_object_new_object();
    json_object *ops = json_object_new_object();
    size_t i;

    if (root == NULL || ops == NULL) {
        json_object_put(root);
        json_object_put(ops);
        return -ENOMEM;
    }
    json_object_object_add(root, "device", json_object_new_string("gpio"));
    json_object_object_add(root, "iterations", json_object_new_int64(o->iters));
    json_object_object_add(root, "warmup", json_object_new_int64(o->warmup));
    json_object_object_add(root, "batches", json_object_new_int(BENCH_BATCHES));
    for (i = 0; i < BENCH_NR_OPS; i++) {
        json_object *r = json_object_new_object();

        if (r == NULL) {
            json_object_put(root);
            json_object_put(ops);
            return -ENOMEM;
        }
        json_object_object_add(r, "inproc_ns",
                               json_object_new_double(inproc[i]));
        json_object_object_add(r, "socket_ns", json_object_new_double(sock[i]));
        json_object_object_add(
            r, "ratio",
            json_object_new_double(inproc[i] > 0 ? sock[i] / inproc[i] : 0.0));
        json_object_object_add(ops, bench_ops[i].name, r);
    }
    json_object_object_add(root, "operations", ops);
    json_object_object_add(root, "baseline_socketpair_ns",
                           json_object_new_double(baseline));
    printf("%s\n",
           json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
    json_object_put(root);
    return 0;
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: vfu-bench [--iters N] [--warmup N] [--json] [--dma]\n"
            "Round-trip latency of small gpio region accesses, in-process\n"
            "versus over a UNIX socket.  Default: %ld iterations, warm-up\n"
            "a tenth of that.\n"
            "--dma: instead, DMA throughput (dmaengine COPY, by message and\n"
            "by mapping) and interrupt latency, in-process versus socket.\n",
            BENCH_DEFAULT_ITERS);
}

static int
parse_count(const char *s, long max, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int
main(int argc, char *argv[])
{
    static const struct option longopts[] = {
        {"iters", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'},
        {"json", no_argument, NULL, 'j'},
        {"dma", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bench_opts_t o = {.iters = BENCH_DEFAULT_ITERS, .warmup = -1};
    double inproc[BENCH_NR_OPS];
    double sock[BENCH_NR_OPS];
    double baseline = 0;
    int opt;
    int rc;

    while ((opt = getopt_long(argc, argv, "n:w:jdh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (parse_count(optarg, BENCH_MAX_ITERS, &o.iters) < 0 ||
                o.iters < 1) {
                fprintf(stderr, "vfu-bench: bad --iters %s\n", optarg);
                return 2;
            }
            break;
        case 'w':
            if (parse_count(optarg, BENCH_MAX_ITERS, &o.warmup) < 0) {
                fprintf(stderr, "vfu-bench: bad --warmup %s\n", optarg);
                return 2;
            }
            break;
        case 'j':
            o.json = true;
            break;
        case 'd':
            o.dma = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (o.warmup < 0) {
        o.warmup = o.iters / 10;
    }
    signal(SIGPIPE, SIG_IGN);

    if (o.dma) {
        bench_dma_opts_t d = {.iters = o.iters, .json = o.json};

        rc = bench_dma_main(&d);
        if (rc < 0) {
            fprintf(stderr, "vfu-bench: DMA benchmarks: %s\n", strerror(-rc));
        }
        return rc < 0 ? 1 : 0;
    }
    rc = bench_inproc(&o, inproc);
    if (rc == 0) {
        rc = bench_socket(&o, sock);
    }
    if (rc == 0) {
        rc = bench_baseline(&o, &baseline);
        if (rc < 0) {
            fprintf(stderr, "vfu-bench: baseline: %s\n", strerror(-rc));
        }
    }
    if (rc < 0) {
        return 1;
    }
    if (o.json) {
        rc = report_json(&o, inproc, sock, baseline);
        if (rc < 0) {
            fprintf(stderr, "vfu-bench: %s\n", strerror(-rc));
            return 1;
        }
    } else {
        report_text(&o, inproc, sock, baseline);
        (void)bench_scn_main(o.iters); /* scenario replay speed */
    }
    return 0;
}
