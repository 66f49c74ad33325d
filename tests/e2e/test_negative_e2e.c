/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_negative_e2e.c - malformed and hostile client messages against the
 * real socket server (the spawned gpio binary) and the in-process one.
 *
 * Every case sends something wrong and accepts exactly two outcomes: an
 * error reply carrying one of the expected errnos, or the server hanging
 * up.  After each case the server must still be alive, must serve a new
 * client (which reads the vendor id) and must hold no more fds than it did
 * before: a leaked eventfd shows up here.  In-process, the fd count of the
 * whole test process is checked around each test.
 */

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/testutil.h"

#include "devices.h"
#include "gpio/gpio.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/vmm.h"

/* long enough for the server to give up on a partial message (5 s) */
#define CLIENT_TIMEOUT_MS 15000

/* ------------------------------------------------------------------ */
/* Fixture                                                             */
/* ------------------------------------------------------------------ */

typedef struct fx {
    bool inproc;
    vfu_device_t dev;
    pid_t pid;
    char path[256];
    vmm_t *vmm;
    int server_fds; /* the server's open fds with one idle client */
} fx_t;

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int
count_proc_fds(pid_t pid)
{
    char dir[64];
    DIR *d;
    struct dirent *e;
    int n = 0;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    d = opendir(dir);
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n;
}

/*
 * Close the client.  In-process the device's loop is ours to run: one
 * vfu_run_ctx() lets the context notice the hang-up (ENOTCONN) and drop
 * the connection, as a socket server would on its own.
 */
static void
fx_drop_client(fx_t *fx)
{
    vmm_close(fx->vmm);
    fx->vmm = NULL;
    if (fx->inproc && fx->dev.ctx != NULL) {
        int rc = vfu_run_ctx(fx->dev.ctx);

        assert_int_equal(rc, -1);
        assert_int_equal(errno, ENOTCONN);
    }
}

static int
fx_connect(fx_t *fx)
{
    vmm_opts_t opts;
    int rc = -EINVAL;
    int i;

    memset(&opts, 0, sizeof(opts));
    opts.timeout_ms = CLIENT_TIMEOUT_MS;
    if (fx->inproc) {
        return vmm_attach_inproc(fx->dev.ctx, &opts, &fx->vmm);
    }
    for (i = 0; i < 200; i++) {
        rc = vmm_connect(fx->path, &opts, &fx->vmm);
        if (rc != -ECONNREFUSED && rc != -ENOENT) {
            break;
        }
        sleep_ms(10);
    }
    return rc;
}

/* See test_gpio_e2e.c: SIGTERM, and again through tu_kill() if missed. */
static int
stop_gpio(pid_t pid)
{
    int status;
    int i;

    if (pid <= 0) {
        return -1;
    }
    kill(pid, SIGTERM);
    for (i = 0; i < 200; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        }
        sleep_ms(10);
    }
    return tu_kill(pid);
}

static int
read_vendor(fx_t *fx, uint64_t *vid)
{
    return vmm_config_read(fx->vmm, PCI_VENDOR_ID, 2, vid);
}

static int
fx_setup(void **state, bool inproc)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    uint64_t vid = 0;
    int rc;

    tu_fd_setup(state);
    if (fx == NULL) {
        return -1;
    }
    fx->inproc = inproc;
    fx->pid = -1;
    if (inproc) {
        rc = vfu_device_open("gpio", VFU_TRANS_EXT_INPROC, NULL, 0, &fx->dev);
        if (rc < 0) {
            fprintf(stderr, "vfu_device_open: %s\n", strerror(-rc));
            free(fx);
            return -1;
        }
    } else {
        char bin[4096];
        char *argv[] = {bin, fx->path, NULL};

        snprintf(fx->path, sizeof(fx->path), "%s", tu_sock_path("neg"));
        snprintf(bin, sizeof(bin), "%s", tu_build_path("devices/gpio"));
        fx->pid = tu_spawn(argv, fx->path);
        if (fx->pid < 0) {
            fprintf(stderr, "cannot spawn %s\n", bin);
            free(fx);
            return -1;
        }
    }
    rc = fx_connect(fx);
    if (rc == 0) {
        rc = read_vendor(fx, &vid);
    }
    if (rc < 0 || vid != GPIO_VENDOR_ID) {
        fprintf(stderr, "first client: %s, vendor %#llx\n", strerror(-rc),
                (unsigned long long)vid);
        vmm_close(fx->vmm);
        if (inproc) {
            vfu_device_close(&fx->dev);
        } else {
            stop_gpio(fx->pid);
        }
        free(fx);
        return -1;
    }
    if (!inproc) {
        fx->server_fds = count_proc_fds(fx->pid);
    }
    *state = fx;
    return 0;
}

static int
fx_setup_inproc(void **state)
{
    return fx_setup(state, true);
}

static int
fx_setup_sock(void **state)
{
    return fx_setup(state, false);
}

static int
fx_teardown(void **state)
{
    fx_t *fx = *state;
    int status = 0;

    if (fx != NULL) {
        vmm_close(fx->vmm);
        if (fx->inproc) {
            vfu_device_close(&fx->dev);
        } else {
            status = stop_gpio(fx->pid);
            if (status != 0) {
                fprintf(stderr, "gpio exited with status %d\n", status);
            }
        }
        free(fx);
        *state = NULL;
    }
    if (tu_fd_teardown(state) < 0) {
        return -1;
    }
    return status == 0 ? 0 : -1;
}

/*
 * The check after every bad message: drop this client, then the server
 * (still running) serves a new one, with no fd left over from the last.
 */
static void
expect_server_ok(fx_t *fx, const char *what)
{
    uint64_t vid = 0;
    int status;
    int rc;

    fx_drop_client(fx);
    if (!fx->inproc && waitpid(fx->pid, &status, WNOHANG) == fx->pid) {
        fx->pid = -1;
        fail_msg("%s: the server died (status %#x)", what, status);
    }
    rc = fx_connect(fx);
    if (rc < 0) {
        fail_msg("%s: next client cannot connect: %s", what, strerror(-rc));
    }
    rc = read_vendor(fx, &vid);
    if (rc < 0 || vid != GPIO_VENDOR_ID) {
        fail_msg("%s: next client reads vendor %#llx (%s)", what,
                 (unsigned long long)vid, strerror(-rc));
    }
    if (!fx->inproc) {
        int n = count_proc_fds(fx->pid);

        if (n != fx->server_fds) {
            fail_msg("%s: server has %d fds open, %d before", what, n,
                     fx->server_fds);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Sending and judging                                                 */
/* ------------------------------------------------------------------ */

static bool
is_hangup(int rc)
{
    return rc == -ENOTCONN || rc == -ECONNRESET || rc == -EPIPE;
}

/*
 * Send header + @len bytes of @body, of which only the first @sent bytes
 * of the whole message go out; @msg_size and @flags go into the header
 * as given.  Returns vmm_send_bytes()'s result; *@id gets the msg id.
 */
static int
send_custom(fx_t *fx, uint16_t cmd, uint32_t msg_size, uint32_t flags,
            const void *body, size_t len, size_t sent, const int *fds,
            size_t nr_fds, uint16_t *id)
{
    uint8_t buf[256];
    struct vfio_user_header hdr;

    assert_true(len <= sizeof(buf) - sizeof(hdr));
    assert_true(sent <= sizeof(hdr) + len);
    memset(&hdr, 0, sizeof(hdr));
    hdr.msg_id = vmm_next_id(fx->vmm);
    hdr.cmd = cmd;
    hdr.msg_size = msg_size;
    hdr.flags = flags;
    memcpy(buf, &hdr, sizeof(hdr));
    if (len > 0) {
        memcpy(buf + sizeof(hdr), body, len);
    }
    if (id != NULL) {
        *id = hdr.msg_id;
    }
    return vmm_send_bytes(fx->vmm, buf, sent, fds, nr_fds);
}

/* A well-framed command with @body (which may be wrong in itself). */
static int
xchg(fx_t *fx, uint16_t cmd, const void *body, size_t len, const int *fds,
     size_t nr_fds, vmm_reply_t *reply, uint16_t *id)
{
    int rc;

    rc = send_custom(fx, cmd, (uint32_t)(sizeof(struct vfio_user_header) + len),
                     VFIO_USER_F_TYPE_COMMAND, body, len,
                     sizeof(struct vfio_user_header) + len, fds, nr_fds, id);
    if (rc < 0) {
        return rc;
    }
    return vmm_recv_any(fx->vmm, reply);
}

/*
 * Judge the outcome of a bad message: @rc/@reply from vmm_recv_any().
 * Accepts a hang-up, or an error reply (to @id, when @id >= 0) whose errno
 * is in @errs.  Returns true if the server hung up.
 */
static bool
check_refused(const char *what, int rc, vmm_reply_t *reply, int id,
              const int *errs, size_t nr_errs)
{
    size_t i;

    if (is_hangup(rc)) {
        return true;
    }
    if (rc < 0) {
        fail_msg("%s: neither a reply nor a hang-up: %s", what, strerror(-rc));
    }
    if ((reply->hdr.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_REPLY) {
        vmm_reply_free(reply);
        fail_msg("%s: the server sent a command, not a reply", what);
    }
    if (!(reply->hdr.flags & VFIO_USER_F_ERROR)) {
        vmm_reply_free(reply);
        fail_msg("%s: the server accepted it", what);
    }
    if (id >= 0 && reply->hdr.msg_id != (uint16_t)id) {
        fail_msg("%s: reply to id %u, sent %d", what, reply->hdr.msg_id, id);
    }
    if (reply->body_len != 0) {
        fail_msg("%s: error reply with a %zu-byte body", what, reply->body_len);
    }
    for (i = 0; i < nr_errs; i++) {
        if (reply->hdr.error_no == (uint32_t)errs[i]) {
            vmm_reply_free(reply);
            return false;
        }
    }
    fail_msg("%s: errno %u (%s), expected %d (%s)", what, reply->hdr.error_no,
             strerror((int)reply->hdr.error_no), errs[0], strerror(errs[0]));
    return false;
}

#define REFUSED(what, rc, reply, id, ...)                                      \
    do {                                                                       \
        const int errs_[] = {__VA_ARGS__};                                     \
        check_refused((what), (rc), (reply), (id), errs_,                      \
                      sizeof(errs_) / sizeof(errs_[0]));                       \
    } while (0)

/* One well-framed bad command, judged, then the server checked. */
#define BAD_CMD(fx, what, cmd, body, len, ...)                                 \
    do {                                                                       \
        vmm_reply_t r_;                                                        \
        uint16_t id_ = 0;                                                      \
        int rc_;                                                               \
        memset(&r_, 0, sizeof(r_));                                            \
        rc_ = xchg((fx), (cmd), (body), (len), NULL, 0, &r_, &id_);            \
        REFUSED((what), rc_, &r_, id_, __VA_ARGS__);                           \
        expect_server_ok((fx), (what));                                        \
    } while (0)

/* A REGION_READ/WRITE header (a macro: the struct has a flexible array). */
#define access_hdr(r_, o_, c_)                                                 \
    ((struct vfio_user_region_access){                                         \
        .offset = (o_), .region = (r_), .count = (c_)})

/* ------------------------------------------------------------------ */
/* Framing                                                             */
/* ------------------------------------------------------------------ */

static void
test_neg_short_header_then_close(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_region_access a = access_hdr(0, 0, 4);
    size_t n;

    /* 1, 8 and 15 bytes of a header, then the client goes away */
    for (n = 1; n < sizeof(struct vfio_user_header); n += 7) {
        int rc = send_custom(fx, VFIO_USER_REGION_READ, 32, 0, &a, sizeof(a), n,
                             NULL, 0, NULL);

        /* in-process a message is whole: the transport may refuse it */
        assert_true(rc == 0 || (fx->inproc && rc == -EINVAL));
        expect_server_ok(fx, "short header then close");
    }
}

static void
test_neg_short_body(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_region_access a = access_hdr(0, 0, 4);
    struct vfio_region_info ri = {.argsz = sizeof(ri)};
    struct vfio_user_dma_map dm;
    struct vfio_user_device_info di = {.argsz = sizeof(di)};

    memset(&dm, 0, sizeof(dm));
    BAD_CMD(fx, "REGION_READ, 8-byte body", VFIO_USER_REGION_READ, &a, 8,
            EINVAL);
    BAD_CMD(fx, "REGION_WRITE without data", VFIO_USER_REGION_WRITE, &a,
            sizeof(a), EINVAL);
    BAD_CMD(fx, "GET_REGION_INFO, 4-byte body",
            VFIO_USER_DEVICE_GET_REGION_INFO, &ri, 4, EINVAL);
    BAD_CMD(fx, "GET_INFO, no body", VFIO_USER_DEVICE_GET_INFO, NULL, 0,
            EINVAL);
    BAD_CMD(fx, "GET_INFO, 12-byte body", VFIO_USER_DEVICE_GET_INFO, &di, 12,
            EINVAL);
    BAD_CMD(fx, "DMA_MAP, 16-byte body", VFIO_USER_DMA_MAP, &dm, 16, EINVAL);
    BAD_CMD(fx, "SET_IRQS, no body", VFIO_USER_DEVICE_SET_IRQS, NULL, 0,
            EINVAL);
}

/* msg_size says more than arrives: the server must not wait forever. */
static void
test_neg_msg_size_larger_than_sent(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_region_access a = access_hdr(0, 0, 4);
    vmm_reply_t r;
    uint16_t id;
    int rc;

    memset(&r, 0, sizeof(r));
    rc = send_custom(fx, VFIO_USER_REGION_READ, 16 + sizeof(a) + 8, 0, &a,
                     sizeof(a), 16 + sizeof(a), NULL, 0, &id);
    assert_int_equal(rc, 0);
    rc = vmm_recv_any(fx->vmm, &r);
    REFUSED("msg_size 8 bytes more than sent", rc, &r, -1, EINVAL, ETIMEDOUT,
            EBADMSG, EPROTO);
    expect_server_ok(fx, "msg_size larger than sent");
}

/* msg_size far above any limit, nothing behind it. */
static void
test_neg_msg_size_huge(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_region_access a = access_hdr(0, 0, 4);
    static const uint32_t sizes[] = {0x7fffffffu, 0xffffffffu};
    size_t i;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        vmm_reply_t r;
        int rc;

        memset(&r, 0, sizeof(r));
        rc = send_custom(fx, VFIO_USER_REGION_READ, sizes[i], 0, &a, sizeof(a),
                         16 + sizeof(a), NULL, 0, NULL);
        assert_true(rc == 0 || (fx->inproc && rc == -EINVAL));
        if (rc == 0) {
            rc = vmm_recv_any(fx->vmm, &r);
            REFUSED("huge msg_size", rc, &r, -1, E2BIG, EINVAL, EMSGSIZE);
        }
        expect_server_ok(fx, "huge msg_size");
    }
}

/* msg_size says less than was sent, or less than a header. */
static void
test_neg_msg_size_smaller_than_sent(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_region_access a =
        access_hdr(VFU_PCI_DEV_CFG_REGION_IDX, 0, 4);
    static const uint32_t sizes[] = {16, 20, 0, 8, 15};
    size_t i;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        vmm_reply_t r;
        bool hung = false;
        int rc;

        memset(&r, 0, sizeof(r));
        rc = send_custom(fx, VFIO_USER_REGION_READ, sizes[i], 0, &a, sizeof(a),
                         16 + sizeof(a), NULL, 0, NULL);
        assert_true(rc == 0 || (fx->inproc && rc == -EINVAL));
        if (rc == 0) {
            rc = vmm_recv_any(fx->vmm, &r);
            hung = check_refused("msg_size smaller than sent", rc, &r, -1,
                                 (const int[]){EINVAL}, 1);
        }
        /*
         * Over a socket the rest of the bytes then read as a header of
         * garbage: refused or dropped too (a 16-byte tail is a zero
         * msg_size).
         */
        if (!hung && !fx->inproc && sizes[i] >= 16 &&
            16 + sizeof(a) - sizes[i] >= 16) {
            memset(&r, 0, sizeof(r));
            rc = vmm_recv_any(fx->vmm, &r);
            REFUSED("the tail of a short msg_size", rc, &r, -1, EINVAL);
        }
        expect_server_ok(fx, "msg_size smaller than sent");
    }
}

static void
test_neg_wrong_flags(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_region_access a =
        access_hdr(VFU_PCI_DEV_CFG_REGION_IDX, 0, 2);
    static const struct {
        uint32_t flags;
        const char *what;
    } bad[] = {
        {VFIO_USER_F_TYPE_REPLY, "reply type on a command"},
        {VFIO_USER_F_ERROR, "error bit on a command"},
        {VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, "error reply unasked"},
        {0x2, "type 2"},
        {0xf, "type 15"},
        {0x40, "unknown flag 0x40"},
        {0x80000000u, "unknown flag 0x80000000"},
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vmm_reply_t r;
        int rc;

        memset(&r, 0, sizeof(r));
        rc =
            send_custom(fx, VFIO_USER_REGION_READ, 16 + sizeof(a), bad[i].flags,
                        &a, sizeof(a), 16 + sizeof(a), NULL, 0, NULL);
        assert_int_equal(rc, 0);
        rc = vmm_recv_any(fx->vmm, &r);
        REFUSED(bad[i].what, rc, &r, -1, EINVAL);
        expect_server_ok(fx, bad[i].what);
    }
}

static void
test_neg_unknown_command(void **state)
{
    fx_t *fx = *state;
    static const uint16_t cmds[] = {0, 14, 19, 0x100, 0xffff};
    uint8_t body[16];
    char what[64];
    size_t i;

    memset(body, 0, sizeof(body));
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        snprintf(what, sizeof(what), "command %u", cmds[i]);
        BAD_CMD(fx, what, cmds[i], body, sizeof(body), ENOSYS, EINVAL);
        BAD_CMD(fx, what, cmds[i], NULL, 0, ENOSYS, EINVAL);
    }
    /* server-to-client commands coming from the client */
    BAD_CMD(fx, "DMA_READ from the client", VFIO_USER_DMA_READ, body,
            sizeof(body), EINVAL, ENOSYS);
    BAD_CMD(fx, "DMA_WRITE from the client", VFIO_USER_DMA_WRITE, body,
            sizeof(body), EINVAL, ENOSYS);
}

/* ------------------------------------------------------------------ */
/* Bad fields                                                          */
/* ------------------------------------------------------------------ */

static void
test_neg_bad_argsz(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_device_info di;
    struct vfio_region_info ri;
    struct vfio_irq_info ii;

    memset(&di, 0, sizeof(di));
    di.argsz = 8;
    BAD_CMD(fx, "GET_INFO argsz 8", VFIO_USER_DEVICE_GET_INFO, &di, sizeof(di),
            EINVAL);
    di.argsz = 0;
    BAD_CMD(fx, "GET_INFO argsz 0", VFIO_USER_DEVICE_GET_INFO, &di, sizeof(di),
            EINVAL);

    memset(&ri, 0, sizeof(ri));
    ri.argsz = 16;
    ri.index = VFU_PCI_DEV_BAR0_REGION_IDX;
    BAD_CMD(fx, "GET_REGION_INFO argsz 16", VFIO_USER_DEVICE_GET_REGION_INFO,
            &ri, sizeof(ri), EINVAL);
    ri.argsz = 0;
    BAD_CMD(fx, "GET_REGION_INFO argsz 0", VFIO_USER_DEVICE_GET_REGION_INFO,
            &ri, sizeof(ri), EINVAL);

    memset(&ii, 0, sizeof(ii));
    ii.argsz = 8;
    ii.index = VFIO_PCI_INTX_IRQ_INDEX;
    BAD_CMD(fx, "GET_IRQ_INFO argsz 8", VFIO_USER_DEVICE_GET_IRQ_INFO, &ii,
            sizeof(ii), EINVAL);
    ii.argsz = 0;
    BAD_CMD(fx, "GET_IRQ_INFO argsz 0", VFIO_USER_DEVICE_GET_IRQ_INFO, &ii,
            sizeof(ii), EINVAL);
}

/* A huge argsz is the client's buffer size: fine, but nothing huge back. */
static void
test_neg_huge_argsz(void **state)
{
    fx_t *fx = *state;
    struct vfio_region_info ri;
    vmm_reply_t r;
    int rc;

    memset(&ri, 0, sizeof(ri));
    memset(&r, 0, sizeof(r));
    ri.argsz = 0xffffffffu;
    ri.index = VFU_PCI_DEV_BAR0_REGION_IDX;
    rc = xchg(fx, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0,
              &r, NULL);
    if (rc == 0 && !(r.hdr.flags & VFIO_USER_F_ERROR)) {
        struct vfio_region_info out;

        assert_true(r.body_len >= sizeof(out));
        assert_true(r.body_len <= 4096);
        memcpy(&out, r.body, sizeof(out));
        assert_int_equal(out.size, GPIO_BAR0_SIZE);
        vmm_reply_free(&r);
    } else {
        REFUSED("GET_REGION_INFO argsz 0xffffffff", rc, &r, -1, EINVAL);
    }
    expect_server_ok(fx, "huge argsz");
}

static void
test_neg_region_index_out_of_range(void **state)
{
    fx_t *fx = *state;
    static const uint32_t idx[] = {VFU_PCI_DEV_NUM_REGIONS, 64, 0xffffffffu};
    struct vfio_region_info ri;
    struct vfio_irq_info ii;
    uint8_t wbuf[sizeof(struct vfio_user_region_access) + 4];
    size_t i;

    for (i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
        struct vfio_user_region_access a = access_hdr(idx[i], 0, 4);

        memset(&ri, 0, sizeof(ri));
        ri.argsz = sizeof(ri);
        ri.index = idx[i];
        BAD_CMD(fx, "GET_REGION_INFO index", VFIO_USER_DEVICE_GET_REGION_INFO,
                &ri, sizeof(ri), EINVAL);
        BAD_CMD(fx, "REGION_READ region", VFIO_USER_REGION_READ, &a, sizeof(a),
                EINVAL);
        memset(wbuf, 0, sizeof(wbuf));
        memcpy(wbuf, &a, sizeof(a));
        BAD_CMD(fx, "REGION_WRITE region", VFIO_USER_REGION_WRITE, wbuf,
                sizeof(wbuf), EINVAL);
    }
    /* a region index that exists but was never set up */
    {
        struct vfio_user_region_access a =
            access_hdr(VFU_PCI_DEV_BAR1_REGION_IDX, 0, 4);

        BAD_CMD(fx, "REGION_READ of an empty BAR", VFIO_USER_REGION_READ, &a,
                sizeof(a), EINVAL);
    }
    memset(&ii, 0, sizeof(ii));
    ii.argsz = sizeof(ii);
    ii.index = VFU_DEV_NUM_IRQS;
    BAD_CMD(fx, "GET_IRQ_INFO index 5", VFIO_USER_DEVICE_GET_IRQ_INFO, &ii,
            sizeof(ii), EINVAL);
    ii.index = 0xffffffffu;
    BAD_CMD(fx, "GET_IRQ_INFO index ~0", VFIO_USER_DEVICE_GET_IRQ_INFO, &ii,
            sizeof(ii), EINVAL);
}

static void
test_neg_offset_count_overflow(void **state)
{
    fx_t *fx = *state;
    static const struct {
        uint64_t offset;
        uint32_t count;
        const char *what;
    } bad[] = {
        {0xfffffffffffffffcull, 8, "offset+count wraps"},
        {0xffffffffffffffffull, 4, "offset ~0"},
        {0x8000000000000000ull, 4, "offset negative as loff_t"},
        {GPIO_BAR0_SIZE - 4, 8, "past the end of BAR0"},
        {GPIO_BAR0_SIZE, 4, "at the end of BAR0"},
        {0, GPIO_BAR0_SIZE + 1, "count above the BAR size"},
    };
    uint8_t wbuf[sizeof(struct vfio_user_region_access) + 8];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct vfio_user_region_access a = access_hdr(
            VFU_PCI_DEV_BAR0_REGION_IDX, bad[i].offset, bad[i].count);

        BAD_CMD(fx, bad[i].what, VFIO_USER_REGION_READ, &a, sizeof(a), EINVAL);
        if (bad[i].count <= 8) {
            memset(wbuf, 0x5a, sizeof(wbuf));
            memcpy(wbuf, &a, sizeof(a));
            BAD_CMD(fx, bad[i].what, VFIO_USER_REGION_WRITE, wbuf,
                    sizeof(a) + bad[i].count, EINVAL);
        }
    }
    /* a write whose count disagrees with the data it carries */
    {
        struct vfio_user_region_access a =
            access_hdr(VFU_PCI_DEV_BAR0_REGION_IDX, GPIO_REG_SCRATCH, 8);

        memset(wbuf, 0, sizeof(wbuf));
        memcpy(wbuf, &a, sizeof(a));
        BAD_CMD(fx, "REGION_WRITE count 8 with 4 bytes", VFIO_USER_REGION_WRITE,
                wbuf, sizeof(a) + 4, EINVAL);
        a.count = 2;
        memcpy(wbuf, &a, sizeof(a));
        BAD_CMD(fx, "REGION_WRITE count 2 with 8 bytes", VFIO_USER_REGION_WRITE,
                wbuf, sizeof(a) + 8, EINVAL);
    }
}

static void
test_neg_count_above_max(void **state)
{
    fx_t *fx = *state;
    const vmm_caps_t *caps = vmm_get_caps(fx->vmm);
    struct vfio_user_region_access a;

    assert_non_null(caps);
    assert_true(caps->max_data_xfer_size < 0xffffffffu);
    /* (caps dies with this client, which the first case replaces) */
    a = access_hdr(VFU_PCI_DEV_CFG_REGION_IDX, 0,
                   (uint32_t)caps->max_data_xfer_size + 1);
    BAD_CMD(fx, "REGION_READ count max+1", VFIO_USER_REGION_READ, &a, sizeof(a),
            EINVAL, E2BIG, EMSGSIZE);
    a.count = 0xffffffffu;
    BAD_CMD(fx, "REGION_READ count ~0", VFIO_USER_REGION_READ, &a, sizeof(a),
            EINVAL, E2BIG, EMSGSIZE);
}

/* ------------------------------------------------------------------ */
/* File descriptors                                                    */
/* ------------------------------------------------------------------ */

static int
make_eventfds(int *fds, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        fds[i] = eventfd(0, EFD_CLOEXEC);
        if (fds[i] < 0) {
            while (i > 0) {
                close(fds[--i]);
            }
            return -errno;
        }
    }
    return 0;
}

static void
close_fds(int *fds, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        close(fds[i]);
    }
}

/* SET_IRQS INTx trigger with one eventfd per @count; @nr_fds sent. */
static void
bad_set_irqs(fx_t *fx, const char *what, uint32_t count, size_t nr_fds)
{
    struct vfio_irq_set set = {
        .argsz = sizeof(set),
        .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
        .index = VFIO_PCI_INTX_IRQ_INDEX,
        .start = 0,
        .count = count,
    };
    int fds[256];
    vmm_reply_t r;
    uint16_t id;
    int rc;

    assert_true(nr_fds <= sizeof(fds) / sizeof(fds[0]));
    assert_int_equal(make_eventfds(fds, nr_fds), 0);
    memset(&r, 0, sizeof(r));
    rc = xchg(fx, VFIO_USER_DEVICE_SET_IRQS, &set, sizeof(set), fds, nr_fds, &r,
              &id);
    close_fds(fds, nr_fds);
    REFUSED(what, rc, &r, is_hangup(rc) ? -1 : id, EINVAL, E2BIG);
    expect_server_ok(fx, what);
}

static void
test_neg_too_many_fds(void **state)
{
    fx_t *fx = *state;
    const vmm_caps_t *caps = vmm_get_caps(fx->vmm);
    uint32_t max_fds;
    size_t n;

    assert_non_null(caps);
    max_fds = caps->max_msg_fds; /* caps dies with this client */
    /* SCM_RIGHTS carries at most 253 fds per message */
    n = (size_t)max_fds + 1;
    assert_true(n <= 253);
    bad_set_irqs(fx, "more fds than max_msg_fds", 1, n);
    /* within the limit, but more fds than vectors (INTx has one) */
    if (max_fds >= 2) {
        bad_set_irqs(fx, "two eventfds for one INTx vector", 1, 2);
    }
    bad_set_irqs(fx, "count 2 on INTx", 2, 2);
}

static void
test_neg_fds_on_fdless_command(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_device_info di = {.argsz = sizeof(di)};
    struct vfio_user_region_access a =
        access_hdr(VFU_PCI_DEV_CFG_REGION_IDX, 0, 2);
    int fds[2];
    vmm_reply_t r;
    int rc;

    assert_int_equal(make_eventfds(fds, 2), 0);
    memset(&r, 0, sizeof(r));
    rc = xchg(fx, VFIO_USER_DEVICE_GET_INFO, &di, sizeof(di), fds, 1, &r, NULL);
    REFUSED("GET_INFO with an fd", rc, &r, -1, EINVAL);
    expect_server_ok(fx, "GET_INFO with an fd");

    memset(&r, 0, sizeof(r));
    rc = xchg(fx, VFIO_USER_REGION_READ, &a, sizeof(a), fds, 2, &r, NULL);
    REFUSED("REGION_READ with two fds", rc, &r, -1, EINVAL);
    expect_server_ok(fx, "REGION_READ with two fds");

    memset(&r, 0, sizeof(r));
    rc = xchg(fx, VFIO_USER_DEVICE_RESET, NULL, 0, fds, 1, &r, NULL);
    REFUSED("DEVICE_RESET with an fd", rc, &r, -1, EINVAL);
    expect_server_ok(fx, "DEVICE_RESET with an fd");
    close_fds(fds, 2);
}

/* ------------------------------------------------------------------ */
/* Disconnects                                                         */
/* ------------------------------------------------------------------ */

static void
test_neg_disconnect_mid_message(void **state)
{
    fx_t *fx = *state;
    uint8_t wbuf[sizeof(struct vfio_user_region_access) + 64];
    struct vfio_user_region_access a =
        access_hdr(VFU_PCI_DEV_BAR0_REGION_IDX, 0, 64);
    static const size_t cut[] = {16, 20, 16 + sizeof(a), 16 + sizeof(a) + 63};
    int fd;
    size_t i;

    memset(wbuf, 0x33, sizeof(wbuf));
    memcpy(wbuf, &a, sizeof(a));
    for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        int rc = send_custom(fx, VFIO_USER_REGION_WRITE,
                             (uint32_t)(16 + sizeof(wbuf)), 0, wbuf,
                             sizeof(wbuf), cut[i], NULL, 0, NULL);

        assert_true(rc == 0 || (fx->inproc && rc == -EINVAL));
        expect_server_ok(fx, "disconnect in the middle of a message");
    }

    /* the same with an fd in flight */
    fd = eventfd(0, EFD_CLOEXEC);
    assert_true(fd >= 0);
    {
        struct vfio_irq_set set = {
            .argsz = sizeof(set),
            .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
            .index = VFIO_PCI_INTX_IRQ_INDEX,
            .count = 1,
        };
        int rc = send_custom(fx, VFIO_USER_DEVICE_SET_IRQS,
                             (uint32_t)(16 + sizeof(set)), 0, &set, sizeof(set),
                             16 + 8, &fd, 1, NULL);

        assert_true(rc == 0 || (fx->inproc && rc == -EINVAL));
    }
    close(fd);
    expect_server_ok(fx, "disconnect with an fd in flight");
}

/* A good SET_IRQS, then the client vanishes: its eventfd must go too. */
static void
test_neg_disconnect_holding_eventfd(void **state)
{
    fx_t *fx = *state;
    struct vfio_irq_set set = {
        .argsz = sizeof(set),
        .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
        .index = VFIO_PCI_INTX_IRQ_INDEX,
        .count = 1,
    };
    vmm_reply_t r;
    int fd = eventfd(0, EFD_CLOEXEC);
    int rc;

    assert_true(fd >= 0);
    memset(&r, 0, sizeof(r));
    rc = xchg(fx, VFIO_USER_DEVICE_SET_IRQS, &set, sizeof(set), &fd, 1, &r,
              NULL);
    close(fd);
    assert_int_equal(rc, 0);
    assert_int_equal(r.hdr.flags & VFIO_USER_F_ERROR, 0);
    vmm_reply_free(&r);
    expect_server_ok(fx, "client left with an eventfd set");
}

/* Many bad messages in a row on one connection, then a good one. */
static void
test_neg_errors_keep_connection(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_region_access a =
        access_hdr(VFU_PCI_DEV_BAR0_REGION_IDX, GPIO_BAR0_SIZE, 4);
    uint64_t v = 0;
    int i;

    for (i = 0; i < 50; i++) {
        vmm_reply_t r;
        uint16_t id;
        int rc;

        memset(&r, 0, sizeof(r));
        rc = xchg(fx, VFIO_USER_REGION_READ, &a, sizeof(a), NULL, 0, &r, &id);
        if (check_refused("repeated bad read", rc, &r, id,
                          (const int[]){EINVAL}, 1)) {
            break; /* a server may drop such a client; then stop here */
        }
    }
    if (i == 50) {
        /* it kept the connection: the same client still works */
        assert_int_equal(vmm_region_read_val(fx->vmm, 0, GPIO_REG_ID, 4, &v),
                         0);
        assert_int_equal(v, GPIO_ID_VALUE);
    }
    expect_server_ok(fx, "after repeated errors");
}

/* each test twice: in-process, then against the spawned gpio binary */
/* clang-format off */
#define BOTH(fn)                                                               \
    {#fn "_inproc", fn, fx_setup_inproc, fx_teardown, NULL},                   \
    {#fn "_sock", fn, fx_setup_sock, fx_teardown, NULL}
/* clang-format on */

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_neg_short_header_then_close),
        BOTH(test_neg_short_body),
        BOTH(test_neg_msg_size_larger_than_sent),
        BOTH(test_neg_msg_size_huge),
        BOTH(test_neg_msg_size_smaller_than_sent),
        BOTH(test_neg_wrong_flags),
        BOTH(test_neg_unknown_command),
        BOTH(test_neg_bad_argsz),
        BOTH(test_neg_huge_argsz),
        BOTH(test_neg_region_index_out_of_range),
        BOTH(test_neg_offset_count_overflow),
        BOTH(test_neg_count_above_max),
        BOTH(test_neg_too_many_fds),
        BOTH(test_neg_fds_on_fdless_command),
        BOTH(test_neg_disconnect_mid_message),
        BOTH(test_neg_disconnect_holding_eventfd),
        BOTH(test_neg_errors_keep_connection),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("negative_e2e", tests, NULL, NULL);
}
