/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_record.c - vfu-record end to end: the fake VMM talks to a real
 * device binary through the recorder; the scenario it writes must say
 * what happened, parse, and replay green with vfu-run against a fresh
 * device; replaying it through a second recorder must record the same
 * statements again (the recording is a fixed point of record -> replay).
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/testutil.h"

#include "dmaengine/dmaengine.h"
#include "gpio/gpio.h"
#include "harness/rec.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/scenario.h"
#include "vfio-user/vmm.h"

#define BAR0 VFU_PCI_DEV_BAR0_REGION_IDX
#define CFG VFU_PCI_DEV_CFG_REGION_IDX
#define INTX VFIO_PCI_INTX_IRQ_INDEX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX

/* ------------------------------------------------------------------ */
/* Processes and files                                                 */
/* ------------------------------------------------------------------ */

typedef struct fx {
    char dir[64];
    char srv_sock[128];
    char rec_sock[128];
    char out[128];
    pid_t srv, rec;
} fx_t;

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static char *
build_path(const char *rel)
{
    char *p = strdup(tu_build_path(rel));

    assert_non_null(p);
    return p;
}

static bool
have(const char *rel)
{
    char *p = build_path(rel);
    bool ok = access(p, X_OK) == 0;

    free(p);
    return ok;
}

/* Wait for @pid to exit by itself (10 s at most); its exit status. */
static int
wait_exit(pid_t pid)
{
    int status;
    int i;

    for (i = 0; i < 1000; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        }
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static int
fx_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/vfu-rec-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->srv_sock, sizeof(fx->srv_sock), "%s/dev.sock", fx->dir);
    snprintf(fx->rec_sock, sizeof(fx->rec_sock), "%s/rec.sock", fx->dir);
    snprintf(fx->out, sizeof(fx->out), "%s/session.vus", fx->dir);
    fx->srv = fx->rec = -1;
    *state = fx;
    return tu_fd_setup(state);
}

static int
fx_teardown(void **state)
{
    fx_t *fx = *state;
    char cmd[128];

    if (fx->rec > 0) {
        tu_kill(fx->rec);
    }
    if (fx->srv > 0) {
        tu_kill(fx->srv);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", fx->dir);
    }
    free(fx);
    return tu_fd_teardown(state);
}

/* Start device binary @dev on @sock. */
static pid_t
start_device(const char *dev, const char *sock)
{
    char rel[64];
    char *bin;
    pid_t pid;

    snprintf(rel, sizeof(rel), "devices/%s", dev);
    bin = build_path(rel);
    {
        char *path = strdup(sock);
        char *argv[] = {bin, path, NULL};

        assert_non_null(path);
        pid = tu_spawn(argv, sock);
        free(path);
    }
    free(bin);
    assert_true(pid > 0);
    return pid;
}

/*
 * Start vfu-record between @listen and @connect writing @out, with one
 * @extra option (NULL: none); --once unless @extra sets --sessions.
 */
static pid_t
start_recorder(const char *listen, const char *connect, const char *out,
               const char *extra)
{
    char a_q[] = "-q", a_l[] = "--listen", a_c[] = "--connect";
    char a_o[] = "-o", a_once[] = "--once";
    char *bin = build_path("bin/vfu-record");
    char *more = strdup(extra != NULL ? extra : a_once);
    char *l = strdup(listen), *c = strdup(connect), *o = strdup(out);
    char *argv[] = {bin, a_q, a_l, l, a_c, c, a_o, o, more, a_once, NULL};
    pid_t pid;

    assert_true(more != NULL && l != NULL && c != NULL && o != NULL);
    if (strncmp(more, "--sessions", 10) == 0) {
        argv[9] = NULL;
    }
    pid = tu_spawn(argv, listen);
    free(bin);
    free(more);
    free(l);
    free(c);
    free(o);
    assert_true(pid > 0);
    return pid;
}

/* A device and a recorder in front of it; skips if the tools are missing. */
static void
fx_start(fx_t *fx, const char *dev, const char *extra)
{
    char rel[64];

    snprintf(rel, sizeof(rel), "devices/%s", dev);
    if (!have("bin/vfu-record") || !have(rel)) {
        fprintf(stderr, "vfu-record or %s not built: skipped\n", rel);
        skip();
    }
    fx->srv = start_device(dev, fx->srv_sock);
    fx->rec = start_recorder(fx->rec_sock, fx->srv_sock, fx->out, extra);
}

/* Connect through the recorder (retrying while it cannot accept yet). */
static vmm_t *
fx_connect(fx_t *fx, const vmm_opts_t *opts)
{
    vmm_t *vmm = NULL;
    int rc = -ECONNREFUSED;
    int i;

    for (i = 0; i < 500 && rc == -ECONNREFUSED; i++) {
        rc = vmm_connect(fx->rec_sock, opts, &vmm);
        if (rc == -ECONNREFUSED) {
            sleep_ms(10);
        }
    }
    assert_int_equal(rc, 0);
    return vmm;
}

/* After the client left: the recorder (--once) ends and writes. */
static void
fx_finish(fx_t *fx)
{
    assert_int_equal(wait_exit(fx->rec), 0);
    fx->rec = -1;
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

#define EXPECT_LINE(text, line)                                                \
    do {                                                                       \
        if (strstr((text), (line)) == NULL) {                                  \
            fprintf(stderr, "missing line: %s\n--- recording ---\n%s",         \
                    (line), (text));                                           \
            fail();                                                            \
        }                                                                      \
    } while (0)

/* The runner's own parser must take the recording as it is. */
static void
expect_parses(const char *path, const char *text)
{
    scn_script_t *script = NULL;
    scn_diag_t diag;
    int rc;

    rc = scn_parse_buf(path, text, strlen(text), 0, &script, &diag);
    if (rc != 0) {
        char msg[1200];

        scn_diag_format(&diag, msg, sizeof(msg));
        fprintf(stderr, "%s\n--- recording ---\n%s", msg, text);
    }
    assert_int_equal(rc, 0);
    scn_script_free(script);
}

/*
 * Run vfu-run on @file with @target_opt/@target (--spawn CMD or --socket
 * PATH); returns its exit status, printing its output when it failed.
 */
static int
run_replay(const fx_t *fx, const char *file, const char *target_opt,
           const char *target)
{
    char *bin = build_path("bin/vfu-run");
    char log[160];
    pid_t pid;
    int status;

    snprintf(log, sizeof(log), "%s/vfu-run.log", fx->dir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(bin, bin, "-q", target_opt, target, file, (char *)NULL);
        _exit(127);
    }
    free(bin);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (status != 0) {
        char *text = slurp(log);
        char *rec = slurp(file);

        fprintf(stderr, "vfu-run %s %s %s: exit %d\n%s--- scenario ---\n%s",
                target_opt, target, file, status, text, rec);
        free(text);
        free(rec);
    }
    return status;
}

/* Replay @file against a fresh @dev spawned by vfu-run. */
static void
expect_replays(const fx_t *fx, const char *file, const char *dev)
{
    char cmd[512];
    char rel[64];
    char *bin;

    if (!have("bin/vfu-run")) {
        fprintf(stderr, "vfu-run not built: replay not checked\n");
        return;
    }
    snprintf(rel, sizeof(rel), "devices/%s", dev);
    bin = build_path(rel);
    snprintf(cmd, sizeof(cmd), "%s {sock}", bin);
    free(bin);
    assert_int_equal(run_replay(fx, file, "--spawn", cmd), 0);
}

/* The statements of a recording: no comments, header or blank lines. */
static char *
statements(const char *text)
{
    size_t len = strlen(text);
    char *out = calloc(1, len + 1);
    const char *p = text;
    size_t n = 0;

    assert_non_null(out);
    while (*p != '\0') {
        const char *e = strchr(p, '\n');
        size_t l = e != NULL ? (size_t)(e - p) + 1 : strlen(p);

        if (*p != '#' && *p != '\n' && strncmp(p, "connect ", 8) != 0) {
            memcpy(out + n, p, l);
            n += l;
        }
        p += l;
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* A gpio session                                                      */
/* ------------------------------------------------------------------ */

static uint64_t
rd(vmm_t *vmm, uint32_t region, uint64_t off, size_t size)
{
    uint64_t v = ~0ull;

    assert_int_equal(vmm_region_read_val(vmm, region, off, size, &v), 0);
    return v;
}

static void
wr(vmm_t *vmm, uint32_t region, uint64_t off, size_t size, uint64_t v)
{
    assert_int_equal(vmm_region_write_val(vmm, region, off, size, v), 0);
}

/*
 * What a driver does first and then some: discovery, config space with
 * BAR sizing, registers, an interrupt, a batch of writes, an odd-sized
 * read, an access that fails, reset.
 */
static void
gpio_session(vmm_t *vmm)
{
    struct vfio_user_device_info info;
    struct vfio_irq_info irq;
    const vmm_region_t *r;
    uint8_t three[3];
    uint64_t v = 0;
    uint32_t one;

    assert_int_equal(vmm_device_info(vmm, &info), 0);
    assert_int_equal(vmm_region_info(vmm, BAR0, &r), 0);
    assert_int_equal(vmm_region_info(vmm, CFG, &r), 0);
    assert_int_equal(vmm_irq_info(vmm, INTX, &irq), 0);

    assert_int_equal(rd(vmm, CFG, 0x00, 2), GPIO_VENDOR_ID);
    wr(vmm, CFG, 0x10, 4, 0xffffffff);
    assert_int_equal(rd(vmm, CFG, 0x10, 4) & ~0xfull,
                     ~(uint64_t)(GPIO_BAR0_SIZE - 1) & 0xfffffff0ull);
    wr(vmm, CFG, 0x10, 4, 0xfe000000);

    assert_int_equal(rd(vmm, BAR0, GPIO_REG_ID, 4), GPIO_ID_VALUE);
    wr(vmm, BAR0, GPIO_REG_SCRATCH, 4, 0x12345678);
    assert_int_equal(rd(vmm, BAR0, GPIO_REG_SCRATCH, 4), 0x12345678);

    /* output pin 0 drives input 16: an INTx */
    assert_int_equal(vmm_irq_enable(vmm, INTX, 0, 1), 0);
    wr(vmm, BAR0, GPIO_REG_IRQ_ENABLE, 4, 1u << 16);
    wr(vmm, BAR0, GPIO_REG_OUT_SET, 4, 1);
    assert_int_equal(vmm_irq_wait(vmm, INTX, 0, 5000), 0);
    assert_int_equal(vmm_irq_count(vmm, INTX, 0, true, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(rd(vmm, BAR0, GPIO_REG_IRQ_STATUS, 4), 1u << 16);

    /* three writes in one REGION_WRITE_MULTI */
    one = 0xa5;
    assert_int_equal(vmm_region_write_queue(vmm, BAR0, GPIO_REG_SCRATCH,
                                            &one, 4),
                     0);
    assert_int_equal(vmm_region_write_queue(vmm, BAR0, GPIO_REG_OUT_CLR,
                                            &(uint32_t){1}, 4),
                     0);
    assert_int_equal(vmm_region_write_queue(vmm, BAR0, GPIO_REG_IRQ_STATUS,
                                            &(uint32_t){1u << 16}, 4),
                     0);
    assert_int_equal(vmm_region_write_flush(vmm), 0);

    assert_int_equal(vmm_region_read(vmm, BAR0, GPIO_REG_SCRATCH, three, 3),
                     0);
    assert_int_equal(three[0], 0xa5);
    assert_int_equal(vmm_region_read_val(vmm, BAR0, GPIO_BAR0_SIZE, 4, &v),
                     -EINVAL);

    assert_int_equal(vmm_reset(vmm), 0);
    assert_int_equal(rd(vmm, BAR0, GPIO_REG_SCRATCH, 4), 0);
}

static void
test_record_gpio_session(void **state)
{
    fx_t *fx = *state;
    vmm_opts_t opts = {.write_multiple = true};
    vmm_t *vmm;
    char *text;

    fx_start(fx, "gpio", NULL);
    vmm = fx_connect(fx, &opts);
    gpio_session(vmm);
    vmm_close(vmm);
    fx_finish(fx);

    text = slurp(fx->out);
    EXPECT_LINE(text, "# vfu-record session 1, recorded ");
    EXPECT_LINE(text, "\nconnect unix:");
    EXPECT_LINE(text, "\noption write_multiple on\n");
    EXPECT_LINE(text, "\ninfo device flags == 0x3\n");
    EXPECT_LINE(text, "\ninfo device num_regions == 9\n");
    EXPECT_LINE(text, "\ninfo region bar0 size == 0x100\n");
    EXPECT_LINE(text, "\ninfo region config size == 0x100\n");
    EXPECT_LINE(text, "\ninfo irq intx count == 1\n");
    EXPECT_LINE(text, "\nconfig read16 0x0 == 0x4e58\n");
    EXPECT_LINE(text, "\nconfig write32 0x10 0xffffffff\n");
    EXPECT_LINE(text, "\nconfig read32 0x10 == 0xffffff00\n");
    EXPECT_LINE(text, "\nbar0 read32 0x0 == 0x4f495047\n");
    EXPECT_LINE(text, "\nbar0 write32 0x40 0x12345678\n");
    EXPECT_LINE(text, "\nirq intx enable 0\n");
    EXPECT_LINE(text, "\nbar0 write32 0x14 0x00000001\n"
                      "expect irq intx 0 count 1\n");
    EXPECT_LINE(text, "\nbatch {\n    bar0 write32 0x40 0x000000a5\n"
                      "    bar0 write32 0x18 0x00000001\n"
                      "    bar0 write32 0x34 0x00010000\n}\n");
    EXPECT_LINE(text, "\nbar0 read 0x40 3 == hex:a50000\n");
    EXPECT_LINE(text, "\nbar0 read32 0x100 error EINVAL\n");
    EXPECT_LINE(text, "\nreset\nbar0 read32 0x40 == 0x00000000\n");
    EXPECT_LINE(text, "# vfu-record: end of session 1: the client closed");
    /* the fake VMM's discovery is one question per region here */
    assert_null(strstr(text, "raw "));
    expect_parses(fx->out, text);
    expect_replays(fx, fx->out, "gpio");
    free(text);
}

/*
 * Replay the recording of @fx through a second recorder in front of a
 * fresh @dev: the second recording must have the same statements, so
 * nothing was lost or invented on the way.
 */
static void
expect_fixed_point(fx_t *fx, const char *dev)
{
    char srv2[160], rec2[160], out2[160];
    char *a, *b, *sa, *sb;
    pid_t dev2, r2;

    snprintf(srv2, sizeof(srv2), "%s/dev2.sock", fx->dir);
    snprintf(rec2, sizeof(rec2), "%s/rec2.sock", fx->dir);
    snprintf(out2, sizeof(out2), "%s/replayed.vus", fx->dir);
    dev2 = start_device(dev, srv2);
    r2 = start_recorder(rec2, srv2, out2, NULL);
    assert_int_equal(run_replay(fx, fx->out, "--socket", rec2), 0);
    assert_int_equal(wait_exit(r2), 0);
    tu_kill(dev2);

    a = slurp(fx->out);
    b = slurp(out2);
    sa = statements(a);
    sb = statements(b);
    if (strcmp(sa, sb) != 0) {
        fprintf(stderr, "--- recorded ---\n%s--- replayed ---\n%s", a, b);
    }
    assert_string_equal(sa, sb);
    free(a);
    free(b);
    free(sa);
    free(sb);
}

static void
test_record_replay_round_trip(void **state)
{
    fx_t *fx = *state;
    vmm_opts_t opts = {.write_multiple = true};
    vmm_t *vmm;

    fx_start(fx, "gpio", NULL);
    if (!have("bin/vfu-run")) {
        fprintf(stderr, "vfu-run not built: skipped\n");
        skip();
    }
    vmm = fx_connect(fx, &opts);
    gpio_session(vmm);
    vmm_close(vmm);
    fx_finish(fx);
    expect_fixed_point(fx, "gpio");
}

/* ------------------------------------------------------------------ */
/* Malformed messages                                                  */
/* ------------------------------------------------------------------ */

/*
 * What a protocol test sends: a short REGION_READ body, an unknown
 * command, a write with NO_REPLY, a header with a reserved flag bit (the
 * server hangs up).  Each must come out as raw/send so the replay sends
 * the same bad bytes.
 */
static void
test_record_raw_malformed(void **state)
{
    fx_t *fx = *state;
    vmm_reply_t reply = {0};
    struct vfio_user_header h;
    struct vfio_user_region_access a = {.offset = GPIO_REG_SCRATCH,
                                        .region = BAR0, .count = 4};
    uint8_t wbuf[sizeof(a) + 4];
    uint32_t four = 0;
    vmm_t *vmm;
    char *text;

    fx_start(fx, "gpio", NULL);
    vmm = fx_connect(fx, NULL);

    assert_int_equal(vmm_send_raw(vmm, VFIO_USER_REGION_READ, &four, 4, NULL,
                                  0, &reply),
                     0);
    assert_true(reply.hdr.flags & VFIO_USER_F_ERROR);
    assert_int_equal(reply.hdr.error_no, EINVAL);
    vmm_reply_free(&reply);

    assert_int_equal(vmm_send_raw(vmm, 99, "abc", 3, NULL, 0, &reply), 0);
    assert_true(reply.hdr.flags & VFIO_USER_F_ERROR);
    vmm_reply_free(&reply);

    /* a posted write, then a read that shows it landed */
    memcpy(wbuf, &a, sizeof(a));
    memcpy(wbuf + sizeof(a), "\x01\x02\x03\x04", 4);
    proto_hdr_cmd(&h, 0x700, VFIO_USER_REGION_WRITE, sizeof(wbuf), true);
    {
        uint8_t msg[sizeof(h) + sizeof(wbuf)];

        memcpy(msg, &h, sizeof(h));
        memcpy(msg + sizeof(h), wbuf, sizeof(wbuf));
        assert_int_equal(vmm_send_bytes(vmm, msg, sizeof(msg), NULL, 0), 0);
    }
    assert_int_equal(rd(vmm, BAR0, GPIO_REG_SCRATCH, 4), 0x04030201);

    /* a reserved flag bit: unusable, the server drops us */
    proto_hdr_cmd(&h, 0x701, VFIO_USER_REGION_READ, sizeof(a), false);
    h.flags |= 0x40;
    {
        uint8_t msg[sizeof(h) + sizeof(a)];

        memcpy(msg, &h, sizeof(h));
        memcpy(msg + sizeof(h), &a, sizeof(a));
        assert_int_equal(vmm_send_bytes(vmm, msg, sizeof(msg), NULL, 0), 0);
    }
    assert_int_equal(vmm_recv_any(vmm, &reply), -ENOTCONN);
    vmm_reply_free(&reply);
    vmm_close(vmm);
    fx_finish(fx);

    text = slurp(fx->out);
    EXPECT_LINE(text, "\nraw REGION_READ hex:00000000 error EINVAL\n");
    EXPECT_LINE(text, "\nraw 99 hex:616263 error EINVAL\n");
    EXPECT_LINE(text, "\nbar0 write32 0x40 0x04030201  # sent with NO_REPLY\n"
                      "bar0 read32 0x40 == 0x04030201\n");
    EXPECT_LINE(text, "\nsend hex:0107090020000000400000000000000040000000"
                      "000000000000000004000000\n");
    EXPECT_LINE(text, "\nrecv hangup\n");
    EXPECT_LINE(text, "end of session 1: the server closed the connection");
    expect_parses(fx->out, text);
    expect_replays(fx, fx->out, "gpio");
    free(text);
}

/* A header whose size is under 16: the proxy passes the 16 bytes on. */
static void
test_record_short_header(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_header h;
    vmm_reply_t reply = {0};
    vmm_t *vmm;
    char *text;

    fx_start(fx, "gpio", NULL);
    vmm = fx_connect(fx, NULL);
    assert_int_equal(rd(vmm, CFG, 0, 2), GPIO_VENDOR_ID);
    proto_hdr_cmd(&h, 0x42, VFIO_USER_DEVICE_GET_INFO, 0, false);
    h.msg_size = 8;
    assert_int_equal(vmm_send_bytes(vmm, &h, sizeof(h), NULL, 0), 0);
    /* whatever the server answers, it ends with the connection */
    while (vmm_recv_any(vmm, &reply) == 0) {
        vmm_reply_free(&reply);
    }
    vmm_close(vmm);
    fx_finish(fx);

    text = slurp(fx->out);
    EXPECT_LINE(text, "\nsend hex:42000400080000000000000000000000\n");
    expect_parses(fx->out, text);
    expect_replays(fx, fx->out, "gpio");
    free(text);
}

/* ------------------------------------------------------------------ */
/* Sessions, signals                                                   */
/* ------------------------------------------------------------------ */

static void
test_record_sessions_numbered(void **state)
{
    fx_t *fx = *state;
    char second[160];
    char *text;
    vmm_t *vmm;
    int i;

    fx_start(fx, "gpio", "--sessions=2");
    for (i = 0; i < 2; i++) {
        vmm = fx_connect(fx, NULL);
        assert_int_equal(rd(vmm, BAR0, GPIO_REG_ID, 4), GPIO_ID_VALUE);
        vmm_close(vmm);
    }
    fx_finish(fx);
    snprintf(second, sizeof(second), "%s/session-2.vus", fx->dir);
    text = slurp(fx->out);
    EXPECT_LINE(text, "# vfu-record session 1,");
    EXPECT_LINE(text, "\nbar0 read32 0x0 == 0x4f495047\n");
    free(text);
    text = slurp(second);
    EXPECT_LINE(text, "# vfu-record session 2,");
    EXPECT_LINE(text, "\nbar0 read32 0x0 == 0x4f495047\n");
    expect_parses(second, text);
    free(text);
}

/* SIGTERM in the middle of a session: the file is complete, exit 0. */
static void
test_record_stopped_mid_session(void **state)
{
    fx_t *fx = *state;
    vmm_t *vmm;
    char *text;

    fx_start(fx, "gpio", NULL);
    vmm = fx_connect(fx, NULL);
    wr(vmm, BAR0, GPIO_REG_SCRATCH, 4, 7);
    assert_int_equal(rd(vmm, BAR0, GPIO_REG_SCRATCH, 4), 7);
    assert_int_equal(kill(fx->rec, SIGTERM), 0);
    fx_finish(fx);
    vmm_close(vmm);

    text = slurp(fx->out);
    EXPECT_LINE(text, "\nbar0 write32 0x40 0x00000007\n"
                      "bar0 read32 0x40 == 0x00000007\n");
    EXPECT_LINE(text, "end of session 1: vfu-record was stopped");
    expect_parses(fx->out, text);
    free(text);
}

/* A VERSION the server refuses: no negotiation, the exchange raw. */
static void
test_record_version_refused(void **state)
{
    fx_t *fx = *state;
    vmm_opts_t opts = {.major = 1};
    vmm_t *vmm = NULL;
    char *text;

    fx_start(fx, "gpio", NULL);
    assert_true(vmm_connect(fx->rec_sock, &opts, &vmm) < 0);
    assert_null(vmm);
    fx_finish(fx);

    text = slurp(fx->out);
    EXPECT_LINE(text, "\noption negotiate off\n");
    EXPECT_LINE(text, "\nraw VERSION hex:01000000");
    EXPECT_LINE(text, " error EINVAL\n");
    expect_parses(fx->out, text);
    expect_replays(fx, fx->out, "gpio");
    free(text);
}

/* --no-irq: the client's eventfds go through, no expect irq lines. */
static void
test_record_no_irq(void **state)
{
    fx_t *fx = *state;
    uint64_t v = 0;
    vmm_t *vmm;
    char *text;

    fx_start(fx, "gpio", "--no-irq");
    vmm = fx_connect(fx, NULL);
    assert_int_equal(vmm_irq_enable(vmm, INTX, 0, 1), 0);
    wr(vmm, BAR0, GPIO_REG_IRQ_ENABLE, 4, 1u << 16);
    wr(vmm, BAR0, GPIO_REG_OUT_SET, 4, 1);
    assert_int_equal(vmm_irq_wait(vmm, INTX, 0, 5000), 0);
    assert_int_equal(vmm_irq_count(vmm, INTX, 0, true, &v), 0);
    assert_int_equal(v, 1);
    vmm_close(vmm);
    fx_finish(fx);

    text = slurp(fx->out);
    EXPECT_LINE(text, "\nirq intx enable 0\n");
    assert_null(strstr(text, "expect irq"));
    expect_parses(fx->out, text);
    expect_replays(fx, fx->out, "gpio");
    free(text);
}

/* ------------------------------------------------------------------ */
/* DMA: the dmaengine device copying between guest buffers            */
/* ------------------------------------------------------------------ */

#define GPA_RING 0x100000ull
#define GPA_COMPL 0x200000ull
#define GPA_SRC 0x300000ull
#define GPA_DST 0x400000ull
#define DMA_LEN 256u

/* the MSI-X capability, found the way a driver walks the list */
static uint64_t
find_msix(vmm_t *vmm)
{
    uint64_t pos = rd(vmm, CFG, PCI_CAPABILITY_LIST, 1);
    int hops = 0;

    while (pos != 0 && hops++ < 48) {
        if (rd(vmm, CFG, pos, 1) == PCI_CAP_ID_MSIX) {
            return pos;
        }
        pos = rd(vmm, CFG, pos + 1, 1);
    }
    return 0;
}

/*
 * Map guest memory, put a COPY descriptor and its source in it, ring the
 * doorbell: the device reads the ring and the source and writes the copy
 * and the completion record, then signals MSI-X vector 0.
 */
static bool
dma_session(vmm_t *vmm, uint32_t nofd)
{
    uint8_t src[DMA_LEN], dst[DMA_LEN];
    dmae_desc_t d;
    dmae_compl_t c;
    uint64_t msix, flags, n = 0;
    unsigned i;

    assert_int_equal(rd(vmm, BAR0, DMAE_REG_ID, 4), DMAE_ID_VALUE);
    assert_int_equal(vmm_mem_map(vmm, GPA_RING, 64 << 10, VMM_MEM_RW | nofd),
                     0);
    assert_int_equal(vmm_mem_map(vmm, GPA_COMPL, 4 << 10, VMM_MEM_RW | nofd),
                     0);
    assert_int_equal(vmm_mem_map(vmm, GPA_SRC, 64 << 10, VMM_MEM_READ | nofd),
                     0);
    assert_int_equal(vmm_mem_map(vmm, GPA_DST, 64 << 10, VMM_MEM_RW | nofd),
                     0);
    msix = find_msix(vmm);
    assert_int_not_equal(msix, 0);
    flags = rd(vmm, CFG, msix + PCI_MSIX_FLAGS, 2);
    wr(vmm, CFG, msix + PCI_MSIX_FLAGS, 2, flags | PCI_MSIX_FLAGS_ENABLE);
    assert_int_equal(vmm_irq_enable(vmm, MSIX, 0, DMAE_MSIX_VECTORS), 0);

    wr(vmm, BAR0, DMAE_REG_CTRL, 4, DMAE_CTRL_ENABLE);
    wr(vmm, BAR0, DMAE_QREG(0, DMAE_Q_RING_LO), 8, GPA_RING);
    wr(vmm, BAR0, DMAE_QREG(0, DMAE_Q_RING_SIZE), 4, 16);
    wr(vmm, BAR0, DMAE_QREG(0, DMAE_Q_INT_CTRL), 4, DMAE_QINT_ENABLE);
    wr(vmm, BAR0, DMAE_QREG(0, DMAE_Q_CTRL), 4, DMAE_QCTRL_ENABLE);

    for (i = 0; i < DMA_LEN; i++) {
        src[i] = (uint8_t)(i * 7 + 3);
    }
    assert_int_equal(vmm_mem_write(vmm, GPA_SRC, src, sizeof(src)), 0);
    memset(&d, 0, sizeof(d));
    d.opcode = DMAE_OP_COPY;
    d.flags = DMAE_DESC_F_COMPL | DMAE_DESC_F_INTR;
    d.len = htole32(DMA_LEN);
    d.src = htole64(GPA_SRC);
    d.dst = htole64(GPA_DST + 0x10);
    d.completion = htole64(GPA_COMPL);
    d.tag = htole64(0x7a67);
    assert_int_equal(vmm_mem_write(vmm, GPA_RING, &d, sizeof(d)), 0);
    wr(vmm, BAR0, DMAE_QREG(0, DMAE_Q_TAIL), 4, 1);

    assert_int_equal(vmm_mem_read(vmm, GPA_COMPL, &c, sizeof(c)), 0);
    if (le32toh(c.status) != DMAE_CS_OK) {
        return false; /* DMA does not work yet in this tree */
    }
    assert_int_equal(le64toh(c.tag), 0x7a67);
    assert_int_equal(vmm_mem_read(vmm, GPA_DST + 0x10, dst, sizeof(dst)), 0);
    assert_memory_equal(dst, src, sizeof(src));
    assert_int_equal(vmm_irq_count(vmm, MSIX, 0, true, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rd(vmm, BAR0, DMAE_QREG(0, DMAE_Q_COMPLETED), 4), 1);
    assert_int_equal(vmm_mem_unmap(vmm, GPA_DST, 64 << 10), 0);
    return true;
}

static void
dma_case(fx_t *fx, uint32_t nofd, bool twin)
{
    vmm_opts_t opts = {.twin_socket = twin};
    char line[160];
    vmm_t *vmm;
    char *text;
    bool ok;

    fx_start(fx, "dmaengine", NULL);
    vmm = fx_connect(fx, &opts);
    ok = dma_session(vmm, nofd);
    vmm_close(vmm);
    fx_finish(fx);
    if (!ok) {
        fprintf(stderr, "dmaengine did not complete the copy: skipped\n");
        skip();
    }

    text = slurp(fx->out);
    if (getenv("VFU_TEST_SHOW") != NULL) {
        fprintf(stderr, "%s", text);
    }
    if (twin) {
        EXPECT_LINE(text, "\noption twin_socket on\n");
    }
    snprintf(line, sizeof(line), "\nmem map 0x300000 64K ro%s\n",
             nofd ? " nofd" : "");
    EXPECT_LINE(text, line);
    /* the descriptor and the source went in before the doorbell... */
    EXPECT_LINE(text, "\nmem write 0x100000 hex:01030000000100000000300000"
                      "000000");
    EXPECT_LINE(text, "\nmem write 0x300000 hex:030a11181f262d343b4249");
    EXPECT_LINE(text, "\nbar0 write32 0x1014 0x00000001\n");
    /* ... the copy and the record came out of it, and the interrupt */
    EXPECT_LINE(text, "\nmem expect 0x400010 hex:030a11181f262d343b4249");
    EXPECT_LINE(text, "\nmem expect 0x200000 hex:01000000");
    EXPECT_LINE(text, "\nexpect irq msix 0 count 1\n");
    EXPECT_LINE(text, "\nmem unmap 0x400000 64K\n");
    expect_parses(fx->out, text);
    expect_replays(fx, fx->out, "dmaengine");
    free(text);
}

/* Record DMA, replay it through a second recorder: the same statements. */
static void
dma_round_trip(fx_t *fx, uint32_t nofd)
{
    vmm_t *vmm;
    bool ok;

    fx_start(fx, "dmaengine", NULL);
    if (!have("bin/vfu-run")) {
        fprintf(stderr, "vfu-run not built: skipped\n");
        skip();
    }
    vmm = fx_connect(fx, NULL);
    ok = dma_session(vmm, nofd);
    vmm_close(vmm);
    fx_finish(fx);
    if (!ok) {
        fprintf(stderr, "dmaengine did not complete the copy: skipped\n");
        skip();
    }
    expect_fixed_point(fx, "dmaengine");
}

static void
test_record_dma_round_trip_fd_backed(void **state)
{
    dma_round_trip(*state, 0);
}

static void
test_record_dma_round_trip_nofd(void **state)
{
    dma_round_trip(*state, VMM_MEM_NOFD);
}

static void
test_record_dma_fd_backed(void **state)
{
    dma_case(*state, 0, false);
}

static void
test_record_dma_nofd(void **state)
{
    dma_case(*state, VMM_MEM_NOFD, false);
}

static void
test_record_dma_nofd_twin_socket(void **state)
{
    dma_case(*state, VMM_MEM_NOFD, true);
}

/* ------------------------------------------------------------------ */
/* Text helpers                                                        */
/* ------------------------------------------------------------------ */

/* 1 MiB in one byte list stays within 4096 items and parses. */
static void
test_rec_text_hex_bounded(void **state)
{
    const size_t n = 1u << 20;
    uint8_t *data = malloc(n);
    rec_buf_t b = {0};
    size_t items = 0;
    const char *p;
    scn_script_t *script = NULL;
    scn_diag_t diag;

    (void)state;
    assert_non_null(data);
    memset(data, 0x5a, n);
    rec_buf_puts(&b, "device gpio\nmem map 0x0 1M nofd\nmem write 0x0");
    rec_buf_hex(&b, data, n);
    rec_buf_puts(&b, "\n");
    assert_false(b.full);
    for (p = b.p; (p = strstr(p, "hex:")) != NULL; p += 4) {
        items++;
    }
    assert_true(items > 1 && items <= 4096);
    assert_int_equal(scn_parse_buf("big.vus", b.p, b.len, 0, &script, &diag),
                     0);
    scn_script_free(script);
    rec_buf_free(&b);
    free(data);
}

static void
test_rec_text_names(void **state)
{
    char buf[64];
    rec_buf_t b = {0};

    (void)state;
    rec_sel_name(7, buf, sizeof(buf));
    assert_string_equal(buf, "config");
    rec_sel_name(12, buf, sizeof(buf));
    assert_string_equal(buf, "region 12");
    rec_irq_name(2, buf, sizeof(buf));
    assert_string_equal(buf, "msix");
    assert_string_equal(rec_errno_name(EOPNOTSUPP), "ENOTSUP");
    assert_null(rec_errno_name(EDEADLK));
    rec_buf_errno(&b, EDEADLK);
    rec_buf_errno(&b, 0);
    rec_buf_size(&b, 64 << 10);
    rec_buf_puts(&b, " ");
    rec_buf_token(&b, "unix:/a b");
    assert_string_equal(b.p, " error 35 error any64K 'unix:/a b'");
    rec_buf_free(&b);

    assert_int_equal(rec_out_name("x/s.vus", 1, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "x/s.vus");
    assert_int_equal(rec_out_name("x/s.vus", 3, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "x/s-3.vus");
    assert_int_equal(rec_out_name("x/s", 2, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "x/s-2");
    assert_int_equal(rec_out_name("x/s.vus", 2, buf, 4), -ENAMETOOLONG);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rec_text_hex_bounded,
                                        tu_fd_setup, tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_rec_text_names, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_record_gpio_session, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_record_replay_round_trip,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_record_raw_malformed, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_record_short_header, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_record_sessions_numbered,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_record_stopped_mid_session,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_record_version_refused,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_record_no_irq, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_record_dma_fd_backed, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_record_dma_nofd, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_record_dma_nofd_twin_socket,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_record_dma_round_trip_fd_backed,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_record_dma_round_trip_nofd,
                                        fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
