/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_tran_inproc.c - the in-process transport: the vfu_ext_inproc_* client
 * API against a real context (connect, negotiate, serve, disconnect, fds,
 * bounds), and, white-box through the transport ops, how the server waits
 * for the reply to its own DMA_READ with the client's pump.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "common/testutil.h"
#include "proto/proto.h"
#include "server/private.h" /* white-box: tran->send_cmd / recv_reply */
#include "vfio-user/libvfio-user.h"

struct dev {
    int resets[VFU_RESET_PCI_FLR + 1];
    int errs;
};

static void
log_cb(vfu_ctx_t *ctx, int level, const char *msg)
{
    struct dev *d = vfu_get_private(ctx);

    (void)msg;
    if (level <= LOG_ERR) {
        d->errs++;
    }
}

static int
reset_cb(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
    struct dev *d = vfu_get_private(ctx);

    d->resets[type]++;
    return 0;
}

static vfu_ctx_t *
new_ctx(struct dev *d)
{
    vfu_ctx_t *ctx;

    memset(d, 0, sizeof(*d));
    ctx = vfu_create_ctx(VFU_TRANS_EXT_INPROC, NULL, 0, d, VFU_DEV_TYPE_PCI);
    assert_non_null(ctx);
    assert_int_equal(vfu_setup_log(ctx, log_cb, LOG_DEBUG), 0);
    assert_int_equal(vfu_setup_device_reset_cb(ctx, reset_cb), 0);
    assert_int_equal(vfu_realize_ctx(ctx), 0);
    return ctx;
}

static bool
readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, 0) == 1;
}

/* Queue a command with @len bytes of body; fds pass to the context. */
static int
send_cmd(vfu_ctx_t *ctx, uint16_t id, uint16_t cmd, const void *body,
         size_t len, const int *fds, size_t nr_fds)
{
    uint8_t buf[4096];
    struct vfio_user_header h;

    assert_true(len <= sizeof(buf) - sizeof(h));
    proto_hdr_cmd(&h, id, cmd, len, false);
    memcpy(buf, &h, sizeof(h));
    if (len > 0) {
        memcpy(buf + sizeof(h), body, len);
    }
    return vfu_ext_inproc_send(ctx, buf, sizeof(h) + len, fds, nr_fds);
}

static void
send_version(vfu_ctx_t *ctx, uint16_t id, const char *json)
{
    uint8_t body[512] = {0};
    size_t jlen = strlen(json) + 1;

    memcpy(body + sizeof(struct vfio_user_version), json, jlen);
    assert_int_equal(send_cmd(ctx, id, VFIO_USER_VERSION, body,
                              sizeof(struct vfio_user_version) + jlen, NULL, 0),
                     0);
}

static void
send_get_info(vfu_ctx_t *ctx, uint16_t id)
{
    struct vfio_user_device_info info = {.argsz = sizeof(info)};

    assert_int_equal(send_cmd(ctx, id, VFIO_USER_DEVICE_GET_INFO, &info,
                              sizeof(info), NULL, 0),
                     0);
}

/* Take the next reply; returns its header and fills @body (may be NULL). */
static struct vfio_user_header
take_reply(vfu_ctx_t *ctx, void *body, size_t size, size_t *body_len)
{
    uint8_t buf[8192];
    struct vfio_user_header h;
    size_t nr_fds = 0;
    ssize_t n;

    n = vfu_ext_inproc_recv(ctx, buf, sizeof(buf), NULL, &nr_fds);
    assert_true(n >= (ssize_t)sizeof(h));
    assert_true((size_t)n <= sizeof(buf));
    memcpy(&h, buf, sizeof(h));
    assert_int_equal(h.msg_size, (uint32_t)n);
    assert_int_equal(h.flags & VFIO_USER_F_TYPE_MASK, VFIO_USER_F_TYPE_REPLY);
    if (body != NULL) {
        assert_true((size_t)n - sizeof(h) <= size);
        memcpy(body, buf + sizeof(h), (size_t)n - sizeof(h));
    }
    if (body_len != NULL) {
        *body_len = (size_t)n - sizeof(h);
    }
    return h;
}

static void
expect_error(vfu_ctx_t *ctx, uint16_t id, int err)
{
    struct vfio_user_header h = take_reply(ctx, NULL, 0, NULL);

    assert_int_equal(h.msg_id, id);
    assert_true(h.flags & VFIO_USER_F_ERROR);
    assert_int_equal(h.error_no, err);
}

static void
expect_info(vfu_ctx_t *ctx, uint16_t id)
{
    struct vfio_user_device_info info;
    struct vfio_user_header h;
    size_t len;

    h = take_reply(ctx, &info, sizeof(info), &len);
    assert_int_equal(h.msg_id, id);
    assert_int_equal(h.flags, VFIO_USER_F_TYPE_REPLY);
    assert_int_equal(len, sizeof(info));
    assert_int_equal(info.num_regions, VFU_PCI_DEV_NUM_REGIONS);
}

static void
attach(vfu_ctx_t *ctx)
{
    struct vfio_user_header h;
    uint8_t body[1024];
    size_t len;

    assert_int_equal(vfu_ext_inproc_connect(ctx, NULL, NULL), 0);
    send_version(ctx, 1, "{\"capabilities\":{\"max_msg_fds\":8}}");
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    h = take_reply(ctx, body, sizeof(body), &len);
    assert_int_equal(h.cmd, VFIO_USER_VERSION);
    assert_int_equal(h.flags, VFIO_USER_F_TYPE_REPLY);
    assert_true(len > sizeof(struct vfio_user_version));
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */
/* ------------------------------------------------------------------ */

static void
test_inproc_round_trip(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d);
    int pfd = vfu_get_poll_fd(ctx);
    struct vfio_user_header h;
    uint8_t body[1024];
    proto_caps_t caps;
    size_t len;

    (void)state;
    assert_true(pfd >= 0);
    errno = 0;
    assert_int_equal(vfu_attach_ctx(ctx), -1);
    assert_int_equal(errno, EAGAIN);

    assert_int_equal(vfu_ext_inproc_connect(ctx, NULL, NULL), 0);
    errno = 0;
    assert_int_equal(vfu_ext_inproc_connect(ctx, NULL, NULL), -1);
    assert_int_equal(errno, EISCONN);
    /* connected, VERSION not queued yet: never blocks */
    assert_false(readable(pfd));
    assert_int_equal(vfu_attach_ctx(ctx), -1);
    assert_int_equal(errno, EAGAIN);

    send_version(ctx, 5, "{\"capabilities\":{\"write_multiple\":true}}");
    assert_true(readable(pfd));
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    assert_false(readable(pfd));
    assert_true(vfu_ext_inproc_pending(ctx) > sizeof(h));
    h = take_reply(ctx, body, sizeof(body), &len);
    assert_int_equal(h.msg_id, 5);
    assert_int_equal(h.cmd, VFIO_USER_VERSION);
    assert_int_equal(proto_caps_parse((const char *)body + 4, len - 4, &caps),
                     0);
    assert_true(caps.write_multiple);
    assert_int_equal(vfu_ext_inproc_pending(ctx), 0);

    send_get_info(ctx, 6);
    send_get_info(ctx, 7);
    assert_true(readable(pfd));
    assert_int_equal(vfu_run_ctx(ctx), 2);
    assert_false(readable(pfd));
    expect_info(ctx, 6);
    expect_info(ctx, 7);
    assert_int_equal(vfu_run_ctx(ctx), 0);
    errno = 0;
    assert_int_equal(vfu_ext_inproc_recv(ctx, body, sizeof(body), NULL, NULL),
                     -1);
    assert_int_equal(errno, EAGAIN);
    vfu_destroy_ctx(ctx);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 1);
}

static void
test_inproc_disconnect_and_reconnect(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d);
    uint8_t buf[64];

    (void)state;
    attach(ctx);
    send_get_info(ctx, 2);
    vfu_ext_inproc_disconnect(ctx);
    /* the server notices through its poll fd, like a socket hang-up */
    assert_true(readable(vfu_get_poll_fd(ctx)));
    errno = 0;
    assert_int_equal(vfu_ext_inproc_send(ctx, buf, 16, NULL, 0), -1);
    assert_int_equal(errno, ENOTCONN);
    errno = 0;
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 1);
    assert_false(readable(vfu_get_poll_fd(ctx)));
    assert_int_equal(vfu_ext_inproc_recv(ctx, buf, sizeof(buf), NULL, NULL),
                     -1);
    assert_int_equal(errno, ENOTCONN);

    attach(ctx);
    send_get_info(ctx, 3);
    assert_int_equal(vfu_run_ctx(ctx), 1);
    expect_info(ctx, 3);
    vfu_ext_inproc_disconnect(ctx);
    vfu_ext_inproc_disconnect(ctx); /* twice is harmless */

    /* reconnecting before the server ran cleans up the old client first */
    attach(ctx);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 2);
    vfu_destroy_ctx(ctx);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 3);
}

static void
test_inproc_bad_negotiation(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d);
    uint8_t buf[64];

    (void)state;
    assert_int_equal(vfu_ext_inproc_connect(ctx, NULL, NULL), 0);
    send_version(ctx, 4, "{\"capabilities\":{\"max_msg_fds\":true}}");
    errno = 0;
    assert_int_equal(vfu_attach_ctx(ctx), -1);
    assert_int_equal(errno, EINVAL);
    assert_true(d.errs > 0);
    /* the error reply is still readable after the server hung up */
    expect_error(ctx, 4, EINVAL);
    assert_int_equal(vfu_ext_inproc_recv(ctx, buf, sizeof(buf), NULL, NULL),
                     -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(vfu_ext_inproc_send(ctx, buf, 16, NULL, 0), -1);
    assert_int_equal(errno, ENOTCONN);
    /* the next client is served */
    attach(ctx);
    vfu_destroy_ctx(ctx);
}

static int
busy_quiesce(vfu_ctx_t *ctx)
{
    (void)ctx;
    errno = EBUSY;
    return -1;
}

/* Reconnecting waits for a device still quiescing after the last client. */
static void
test_inproc_reconnect_while_quiescing(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d);

    (void)state;
    vfu_setup_device_quiesce_cb(ctx, busy_quiesce);
    attach(ctx);
    vfu_ext_inproc_disconnect(ctx);
    errno = 0;
    assert_int_equal(vfu_ext_inproc_connect(ctx, NULL, NULL), -1);
    assert_int_equal(errno, EISCONN);
    assert_int_equal(vfu_ext_inproc_connect(ctx, NULL, NULL), -1);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 0);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(vfu_device_quiesced(ctx, 0), 0);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 1);
    vfu_setup_device_quiesce_cb(ctx, NULL);
    attach(ctx);
    send_get_info(ctx, 2);
    assert_int_equal(vfu_run_ctx(ctx), 1);
    expect_info(ctx, 2);
    vfu_destroy_ctx(ctx);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 2);
}

/* A client that leaves before its VERSION was read can come back. */
static void
test_inproc_leave_before_attach(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d);

    (void)state;
    assert_int_equal(vfu_ext_inproc_connect(ctx, NULL, NULL), 0);
    vfu_ext_inproc_disconnect(ctx);
    attach(ctx);
    vfu_destroy_ctx(ctx);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 1);
}

static void
test_inproc_fds_closed(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d);
    struct vfio_user_device_info info = {.argsz = sizeof(info)};
    int before;
    int fds[2];

    (void)state;
    attach(ctx);
    before = tu_count_fds();
    fds[0] = eventfd(0, EFD_CLOEXEC);
    fds[1] = eventfd(0, EFD_CLOEXEC);
    /* the context owns them from here on */
    assert_int_equal(send_cmd(ctx, 2, VFIO_USER_DEVICE_GET_INFO, &info,
                              sizeof(info), fds, 2),
                     0);
    assert_int_equal(vfu_run_ctx(ctx), 1);
    expect_error(ctx, 2, EINVAL);
    assert_int_equal(tu_count_fds(), before);

    /* queued but never served: freed with the context */
    fds[0] = eventfd(0, EFD_CLOEXEC);
    assert_int_equal(send_cmd(ctx, 3, 99, NULL, 0, fds, 1), 0);
    vfu_destroy_ctx(ctx);
}

static void
test_inproc_send_errors(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d);
    vfu_ctx_t *sock;
    uint8_t buf[32] = {0};
    int before = tu_count_fds();
    int fd;

    (void)state;
    /* every failure still takes (closes) the fds */
    fd = eventfd(0, EFD_CLOEXEC);
    errno = 0;
    assert_int_equal(vfu_ext_inproc_send(ctx, buf, 16, &fd, 1), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(tu_count_fds(), before);

    assert_int_equal(vfu_ext_inproc_connect(ctx, NULL, NULL), 0);
    fd = eventfd(0, EFD_CLOEXEC);
    assert_int_equal(vfu_ext_inproc_send(ctx, buf, 0, &fd, 1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(tu_count_fds(), before);
    assert_int_equal(vfu_ext_inproc_send(ctx, NULL, 16, NULL, 0), -1);
    assert_int_equal(errno, EINVAL);

    sock = vfu_create_ctx(VFU_TRANS_SOCK, tu_sock_path("notinproc"), 0, NULL,
                          VFU_DEV_TYPE_PCI);
    assert_non_null(sock);
    fd = eventfd(0, EFD_CLOEXEC);
    assert_int_equal(vfu_ext_inproc_send(sock, buf, 16, &fd, 1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_ext_inproc_connect(sock, NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_ext_inproc_recv(sock, buf, sizeof(buf), NULL, NULL),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_ext_inproc_pending(sock), 0);
    vfu_ext_inproc_disconnect(sock);
    vfu_destroy_ctx(sock);
    assert_int_equal(vfu_ext_inproc_connect(NULL, NULL, NULL), -1);
    assert_int_equal(tu_count_fds(), before);
    vfu_destroy_ctx(ctx);
}

static void
test_inproc_malformed_drops_client(void **state)
{
    static const size_t lens[] = {5, 16, 40};
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d);
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t buf[64];
        struct vfio_user_header h;

        attach(ctx);
        /* msg_size disagrees with the bytes queued (or no header at all) */
        proto_hdr_cmd(&h, 2, VFIO_USER_DEVICE_GET_INFO, 16, false);
        memset(buf, 0, sizeof(buf));
        memcpy(buf, &h, sizeof(h));
        assert_int_equal(vfu_ext_inproc_send(ctx, buf, lens[i], NULL, 0), 0);
        errno = 0;
        assert_int_equal(vfu_run_ctx(ctx), -1);
        assert_int_equal(errno, ENOTCONN);
        assert_int_equal(d.resets[VFU_RESET_LOST_CONN], (int)i + 1);
        vfu_ext_inproc_disconnect(ctx);
    }
    vfu_destroy_ctx(ctx);
}

static void
test_inproc_recv_truncated(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d);
    uint8_t small[8];
    size_t nr_fds = 4;
    int fds[4];

    (void)state;
    attach(ctx);
    send_get_info(ctx, 2);
    assert_int_equal(vfu_run_ctx(ctx), 1);
    assert_int_equal(vfu_ext_inproc_pending(ctx),
                     16 + sizeof(struct vfio_user_device_info));
    assert_int_equal(
        vfu_ext_inproc_recv(ctx, small, sizeof(small), fds, &nr_fds),
        16 + sizeof(struct vfio_user_device_info));
    assert_int_equal(nr_fds, 0);
    assert_int_equal(vfu_ext_inproc_pending(ctx), 0);
    vfu_destroy_ctx(ctx);
}

/* A reply carrying an fd (a mappable region) hands the client its own dup. */
static void
test_inproc_reply_fds(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx;
    uint8_t req[sizeof(struct vfio_region_info)];
    struct vfio_region_info ri = {0};
    uint8_t buf[1024];
    int memfd = memfd_create("bar0", MFD_CLOEXEC);
    size_t nr_fds = 2;
    int fds[2] = {-1, -1};
    struct stat st;
    int before;
    ssize_t n;

    (void)state;
    assert_true(memfd >= 0);
    assert_int_equal(ftruncate(memfd, 4096), 0);
    memset(&d, 0, sizeof(d));
    ctx = vfu_create_ctx(VFU_TRANS_EXT_INPROC, NULL, 0, &d, VFU_DEV_TYPE_PCI);
    assert_non_null(ctx);
    assert_int_equal(vfu_setup_region(ctx, VFU_PCI_DEV_BAR0_REGION_IDX, 4096,
                                      NULL,
                                      VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM,
                                      NULL, 0, memfd, 0),
                     0);
    assert_int_equal(vfu_realize_ctx(ctx), 0);
    attach(ctx);
    before = tu_count_fds();

    ri.argsz = sizeof(buf) - 16;
    ri.index = VFU_PCI_DEV_BAR0_REGION_IDX;
    memcpy(req, &ri, sizeof(ri));
    assert_int_equal(send_cmd(ctx, 2, VFIO_USER_DEVICE_GET_REGION_INFO, req,
                              sizeof(req), NULL, 0),
                     0);
    assert_int_equal(vfu_run_ctx(ctx), 1);
    n = vfu_ext_inproc_recv(ctx, buf, sizeof(buf), fds, &nr_fds);
    assert_true(n > 16);
    assert_int_equal(nr_fds, 1);
    assert_int_not_equal(fds[0], memfd);
    assert_int_equal(fstat(fds[0], &st), 0);
    assert_int_equal(st.st_size, 4096);
    close(fds[0]);
    assert_int_equal(tu_count_fds(), before);
    vfu_destroy_ctx(ctx);
    close(memfd);
}

static void
test_inproc_queue_bounded(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d);
    int i;
    int rc = 0;

    (void)state;
    attach(ctx);
    for (i = 0; i < 5000 && rc == 0; i++) {
        rc = send_cmd(ctx, (uint16_t)i, 99, NULL, 0, NULL, 0);
    }
    assert_int_equal(rc, -1);
    assert_int_equal(errno, ENOMEM);
    assert_true(i > 100);
    vfu_destroy_ctx(ctx);
}

/* VFU_TRACE=1 prints one line per message to stderr. */
static void
test_inproc_trace_env(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx;
    char buf[4096];
    int p[2];
    int saved;
    ssize_t n;

    (void)state;
    assert_int_equal(setenv("VFU_TRACE", "1", 1), 0);
    ctx = new_ctx(&d);
    assert_int_equal(unsetenv("VFU_TRACE"), 0);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(p[1], STDERR_FILENO) >= 0);
    attach(ctx);
    send_get_info(ctx, 2);
    assert_int_equal(vfu_run_ctx(ctx), 1);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    close(p[1]);
    n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "VERSION"));
    assert_non_null(strstr(buf, "DEVICE_GET_INFO"));
    /* one line per message: VERSION, its reply, GET_INFO, its reply */
    {
        int lines = 0;
        char *c;

        for (c = buf; *c != '\0'; c++) {
            lines += *c == '\n';
        }
        assert_int_equal(lines, 4);
    }
    expect_info(ctx, 2);
    vfu_destroy_ctx(ctx);
}

/* ------------------------------------------------------------------ */
/* White-box: a server-initiated command answered through the pump     */
/* ------------------------------------------------------------------ */

struct pump_state {
    vfu_ctx_t *ctx;
    int calls;
    int mode; /* 0: answer DMA_READ, 1: never answer, 2: disconnect */
};

static int
pump(void *arg)
{
    struct pump_state *ps = arg;
    uint8_t buf[256];
    struct vfio_user_header h;
    struct vfio_user_header rh;
    struct vfio_user_dma_region_access dra;
    uint8_t reply[sizeof(rh) + sizeof(dra) + 4];
    ssize_t n;

    ps->calls++;
    if (ps->mode == 1) {
        return -EAGAIN;
    }
    if (ps->mode == 2) {
        vfu_ext_inproc_disconnect(ps->ctx);
        return 0;
    }
    n = vfu_ext_inproc_recv(ps->ctx, buf, sizeof(buf), NULL, NULL);
    if (n < (ssize_t)(sizeof(h) + sizeof(dra))) {
        return -EAGAIN;
    }
    memcpy(&h, buf, sizeof(h));
    memcpy(&dra, buf + sizeof(h), sizeof(dra));
    assert_int_equal(h.cmd, VFIO_USER_DMA_READ);
    assert_int_equal(dra.count, 4);
    proto_hdr_reply(&rh, &h, sizeof(dra) + 4, 0);
    memcpy(reply, &rh, sizeof(rh));
    memcpy(reply + sizeof(rh), &dra, sizeof(dra));
    memcpy(reply + sizeof(rh) + sizeof(dra), "\x01\x02\x03\x04", 4);
    return vfu_ext_inproc_send(ps->ctx, reply, sizeof(reply), NULL, 0) == 0
               ? 0
               : -EIO;
}

static int
dma_read_cmd(vfu_ctx_t *ctx, uint16_t id)
{
    struct vfio_user_dma_region_access dra = {.addr = 0x1000, .count = 4};
    struct iovec iov = {.iov_base = &dra, .iov_len = sizeof(dra)};
    struct vfio_user_header h;

    proto_hdr_cmd(&h, id, VFIO_USER_DMA_READ, sizeof(dra), false);
    return ctx->tran->send_cmd(ctx, &h, &iov, 1);
}

static void
test_inproc_recv_reply_pumps(void **state)
{
    struct pump_state ps = {0};
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d);
    proto_msg_t msg = PROTO_MSG_INIT;

    (void)state;
    ps.ctx = ctx;
    assert_int_equal(vfu_ext_inproc_connect(ctx, pump, &ps), 0);
    send_version(ctx, 1, "{}");
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    (void)take_reply(ctx, NULL, 0, NULL);

    /* a command the client queued earlier stays queued behind the reply */
    send_get_info(ctx, 2);
    assert_int_equal(dma_read_cmd(ctx, 0x40), 0);
    assert_int_equal(ctx->tran->recv_reply(ctx, &msg), 0);
    assert_int_equal(ps.calls, 1);
    assert_int_equal(msg.hdr.msg_id, 0x40);
    assert_int_equal(msg.hdr.cmd, VFIO_USER_DMA_READ);
    assert_int_equal(msg.body_len,
                     sizeof(struct vfio_user_dma_region_access) + 4);
    assert_memory_equal(msg.body + sizeof(struct vfio_user_dma_region_access),
                        "\x01\x02\x03\x04", 4);
    proto_msg_free(&msg);
    assert_int_equal(vfu_run_ctx(ctx), 1);
    expect_info(ctx, 2);

    /* a pump that makes no progress: no reply will come */
    ps.mode = 1;
    assert_int_equal(dma_read_cmd(ctx, 0x41), 0);
    assert_int_equal(ctx->tran->recv_reply(ctx, &msg), -ETIMEDOUT);

    /* the client hangs up while the server waits */
    ps.mode = 2;
    assert_int_equal(ctx->tran->recv_reply(ctx, &msg), -ENOTCONN);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    vfu_destroy_ctx(ctx);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_fd_setup, tu_fd_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_inproc_round_trip),
        T(test_inproc_disconnect_and_reconnect),
        T(test_inproc_bad_negotiation),
        T(test_inproc_leave_before_attach),
        T(test_inproc_reconnect_while_quiescing),
        T(test_inproc_fds_closed),
        T(test_inproc_send_errors),
        T(test_inproc_malformed_drops_client),
        T(test_inproc_recv_truncated),
        T(test_inproc_reply_fds),
        T(test_inproc_queue_bounded),
        T(test_inproc_trace_env),
        T(test_inproc_recv_reply_pumps),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
