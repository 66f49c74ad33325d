/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_server_core.c - the server core through its public API: context
 * lifecycle, logging, VERSION negotiation, the run loop, quiesce, and the
 * socket and pipe transports against a hand-made client that speaks raw
 * messages with the proto helpers (so it can also speak them wrong).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "common/testutil.h"
#include "proto/proto.h"
#include "vfio-user/libvfio-user.h"

/* How long a test waits for a message that must come (a hang guard). */
#define WAIT_MS 10000

/* QEMU 10.1's proposal (see shared/REFERENCES.md). */
static const char qemu_json[] =
    "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,"
    "\"pgsizes\":4096,\"max_dma_maps\":65535,\"write_multiple\":true,"
    "\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":268435456}}}";

/* ------------------------------------------------------------------ */
/* Device side: callbacks recording what the library did               */
/* ------------------------------------------------------------------ */

struct dev {
    int logs[LOG_DEBUG + 1];
    char last_log[2048];
    size_t last_log_len;
    int resets[VFU_RESET_PCI_FLR + 1];
    int quiesce_calls;
    int quiesce_errno; /* 0: quiesce at once, else fail with it */
    int traced_in;
    int traced_out;
    uint16_t last_traced_cmd;
    char path[128];
};

static void
log_cb(vfu_ctx_t *ctx, int level, const char *msg)
{
    struct dev *d = vfu_get_private(ctx);

    assert_true(level >= LOG_EMERG && level <= LOG_DEBUG);
    d->logs[level]++;
    d->last_log_len = strlen(msg);
    snprintf(d->last_log, sizeof(d->last_log), "%s", msg);
}

static int
reset_cb(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
    struct dev *d = vfu_get_private(ctx);

    d->resets[type]++;
    return 0;
}

static int
quiesce_cb(vfu_ctx_t *ctx)
{
    struct dev *d = vfu_get_private(ctx);

    d->quiesce_calls++;
    if (d->quiesce_errno != 0) {
        errno = d->quiesce_errno;
        return -1;
    }
    return 0;
}

static void
trace_cb(void *arg, bool outgoing, const struct vfio_user_header *hdr,
         const void *body, size_t len, size_t nr_fds)
{
    struct dev *d = arg;

    (void)nr_fds;
    assert_int_equal(hdr->msg_size, PROTO_HDR_SIZE + len);
    assert_true(len == 0 || body != NULL);
    if (outgoing) {
        d->traced_out++;
    } else {
        d->traced_in++;
    }
    d->last_traced_cmd = hdr->cmd;
}

static int
err_logs(const struct dev *d)
{
    return d->logs[LOG_ERR];
}

/* A realized context with every callback hooked to @d. */
static vfu_ctx_t *
dev_ctx(vfu_trans_t trans, int flags, struct dev *d)
{
    vfu_ctx_t *ctx;

    memset(d, 0, sizeof(*d));
    snprintf(d->path, sizeof(d->path), "%s", tu_sock_path("core"));
    ctx = vfu_create_ctx(trans, d->path, flags, d, VFU_DEV_TYPE_PCI);
    assert_non_null(ctx);
    assert_int_equal(vfu_setup_log(ctx, log_cb, LOG_DEBUG), 0);
    assert_int_equal(vfu_setup_device_reset_cb(ctx, reset_cb), 0);
    assert_int_equal(vfu_realize_ctx(ctx), 0);
    return ctx;
}

/* ------------------------------------------------------------------ */
/* Client side: raw messages over a socket                             */
/* ------------------------------------------------------------------ */

static int
cl_connect(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    return fd;
}

static void
cl_send(int fd, uint16_t id, uint16_t cmd, const void *body, size_t len,
        uint32_t extra_flags, const int *fds, size_t nr_fds)
{
    struct vfio_user_header h;
    struct iovec iov = {.iov_base = (void *)body, .iov_len = len};

    proto_hdr_cmd(&h, id, cmd, len, false);
    h.flags |= extra_flags;
    assert_int_equal(proto_io_send(fd, &h, &iov, len > 0 ? 1 : 0, fds, nr_fds,
                                   -1),
                     0);
}

static void
cl_send_raw(int fd, const void *buf, size_t len)
{
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

static void
cl_send_version(int fd, uint16_t id, uint16_t major, uint16_t minor,
                const char *json)
{
    size_t jlen = json != NULL ? strlen(json) + 1 : 0;
    uint8_t *body = calloc(1, sizeof(struct vfio_user_version) + jlen);
    struct vfio_user_version v = {.major = major, .minor = minor};

    assert_non_null(body);
    memcpy(body, &v, sizeof(v));
    if (jlen > 0) {
        memcpy(body + sizeof(v), json, jlen);
    }
    cl_send(fd, id, VFIO_USER_VERSION, body, sizeof(v) + jlen, 0, NULL, 0);
    free(body);
}

static bool
cl_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, timeout_ms) == 1;
}

/* Receive one message that must arrive; returns proto_io_recv's result. */
static int
cl_recv(int fd, proto_msg_t *msg)
{
    proto_caps_t caps;

    proto_caps_default(&caps);
    caps.max_msg_fds = 16;
    assert_true(cl_readable(fd, WAIT_MS));
    return proto_io_recv(fd, msg, &caps, false, WAIT_MS);
}

/* Expect an error reply to @id with errno @err. */
static void
cl_expect_error(int fd, uint16_t id, int err)
{
    proto_msg_t msg = PROTO_MSG_INIT;

    assert_int_equal(cl_recv(fd, &msg), 0);
    assert_int_equal(msg.hdr.msg_id, id);
    assert_int_equal(msg.hdr.flags & VFIO_USER_F_TYPE_MASK,
                     VFIO_USER_F_TYPE_REPLY);
    assert_true(msg.hdr.flags & VFIO_USER_F_ERROR);
    assert_int_equal(msg.hdr.error_no, err);
    assert_int_equal(msg.body_len, 0);
    proto_msg_free(&msg);
}

/* The server closed the connection: EOF, possibly after queued bytes. */
static void
cl_expect_eof(int fd)
{
    char buf[256];
    ssize_t n;

    assert_true(cl_readable(fd, WAIT_MS));
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
    }
    assert_int_equal(n, 0);
}

/* Parse a VERSION reply; returns its caps. */
static proto_caps_t
cl_expect_version(int fd, uint16_t id, uint16_t minor, size_t nr_fds)
{
    proto_msg_t msg = PROTO_MSG_INIT;
    struct vfio_user_version v;
    proto_caps_t caps;

    assert_int_equal(cl_recv(fd, &msg), 0);
    assert_int_equal(msg.hdr.msg_id, id);
    assert_int_equal(msg.hdr.cmd, VFIO_USER_VERSION);
    assert_int_equal(msg.hdr.flags, VFIO_USER_F_TYPE_REPLY);
    assert_true(msg.body_len > sizeof(v));
    memcpy(&v, msg.body, sizeof(v));
    assert_int_equal(v.major, 0);
    assert_int_equal(v.minor, minor);
    /* the JSON is NUL-terminated on the wire */
    assert_int_equal(msg.body[msg.body_len - 1], '\0');
    assert_int_equal(proto_caps_parse((const char *)msg.body + sizeof(v),
                                      msg.body_len - sizeof(v), &caps),
                     0);
    assert_int_equal(msg.nr_fds, nr_fds);
    proto_msg_free(&msg);
    return caps;
}

/* Connect and negotiate with QEMU's proposal; returns the client fd. */
static int
cl_attach(vfu_ctx_t *ctx, struct dev *d)
{
    int fd = cl_connect(d->path);

    cl_send_version(fd, 1, 0, 0, qemu_json);
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    (void)cl_expect_version(fd, 1, 0, 0);
    return fd;
}

static void
cl_get_info(int fd, uint16_t id)
{
    struct vfio_user_device_info info = {.argsz = sizeof(info)};

    cl_send(fd, id, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info), 0, NULL, 0);
}

static void
cl_expect_info(int fd, uint16_t id)
{
    proto_msg_t msg = PROTO_MSG_INIT;
    struct vfio_user_device_info info;

    assert_int_equal(cl_recv(fd, &msg), 0);
    assert_int_equal(msg.hdr.msg_id, id);
    assert_int_equal(msg.hdr.cmd, VFIO_USER_DEVICE_GET_INFO);
    assert_int_equal(msg.hdr.flags, VFIO_USER_F_TYPE_REPLY);
    assert_int_equal(msg.body_len, sizeof(info));
    memcpy(&info, msg.body, sizeof(info));
    assert_int_equal(info.num_regions, VFU_PCI_DEV_NUM_REGIONS);
    assert_int_equal(info.num_irqs, VFU_DEV_NUM_IRQS);
    proto_msg_free(&msg);
}

static bool
path_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

static void
test_create_bad_flags(void **state)
{
    const char *path = tu_sock_path("flags");

    (void)state;
    errno = 0;
    assert_null(
        vfu_create_ctx(VFU_TRANS_SOCK, path, 0x2, NULL, VFU_DEV_TYPE_PCI));
    assert_int_equal(errno, EINVAL);
    assert_false(path_exists(path));
}

static void
test_create_bad_trans(void **state)
{
    const char *path = tu_sock_path("trans");

    (void)state;
    errno = 0;
    assert_null(vfu_create_ctx(VFU_TRANS_MAX, path, 0, NULL, VFU_DEV_TYPE_PCI));
    assert_int_equal(errno, ENOTSUP);
    errno = 0;
    assert_null(
        vfu_create_ctx((vfu_trans_t)63, path, 0, NULL, VFU_DEV_TYPE_PCI));
    assert_int_equal(errno, ENOTSUP);
    assert_false(path_exists(path));
}

static void
test_create_bad_dev_type(void **state)
{
    const char *path = tu_sock_path("type");

    (void)state;
    errno = 0;
    assert_null(
        vfu_create_ctx(VFU_TRANS_SOCK, path, 0, NULL, (vfu_dev_type_t)1));
    assert_int_equal(errno, ENOTSUP);
    assert_false(path_exists(path));
}

static void
test_create_sock_null_path(void **state)
{
    (void)state;
    errno = 0;
    assert_null(
        vfu_create_ctx(VFU_TRANS_SOCK, NULL, 0, NULL, VFU_DEV_TYPE_PCI));
    assert_int_equal(errno, EINVAL);
}

static void
test_create_sock_path_in_use(void **state)
{
    char path[128];
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "%s", tu_sock_path("inuse"));
    fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    errno = 0;
    assert_null(
        vfu_create_ctx(VFU_TRANS_SOCK, path, 0, NULL, VFU_DEV_TYPE_PCI));
    assert_int_equal(errno, EADDRINUSE);
    /* someone else's file is never removed */
    assert_true(path_exists(path));
    unlink(path);
}

static void
test_create_sock_path_too_long(void **state)
{
    char path[200];

    (void)state;
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    errno = 0;
    assert_null(
        vfu_create_ctx(VFU_TRANS_SOCK, path, 0, NULL, VFU_DEV_TYPE_PCI));
    assert_int_equal(errno, ENAMETOOLONG);
}

static void
test_lifecycle_sock(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx;
    int pfd;

    (void)state;
    ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    /* bound and listening from vfu_create_ctx() on */
    assert_true(path_exists(d.path));
    assert_ptr_equal(vfu_get_private(ctx), &d);
    assert_int_equal(vfu_realize_ctx(ctx), 0); /* again: no-op */
    pfd = vfu_get_poll_fd(ctx);
    assert_true(pfd >= 0);
    vfu_destroy_ctx(ctx);
    assert_false(path_exists(d.path));
    /* no client ever came: nothing to reset */
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 0);
}

static void
test_lifecycle_pipe(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx;

    (void)state;
    ctx = dev_ctx(VFU_TRANS_PIPE, 0, &d);
    assert_int_equal(vfu_get_poll_fd(ctx), STDIN_FILENO);
    vfu_destroy_ctx(ctx);
}

static void
test_lifecycle_inproc(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx;

    (void)state;
    ctx = dev_ctx(VFU_TRANS_EXT_INPROC, 0, &d);
    assert_true(vfu_get_poll_fd(ctx) >= 0);
    assert_false(path_exists(d.path));
    vfu_destroy_ctx(ctx);
}

static void
test_destroy_null(void **state)
{
    (void)state;
    vfu_destroy_ctx(NULL);
    assert_null(vfu_get_private(NULL));
    errno = 0;
    assert_int_equal(vfu_run_ctx(NULL), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(vfu_attach_ctx(NULL), -1);
    assert_int_equal(errno, EINVAL);
}

static void
test_run_not_realized(void **state)
{
    vfu_ctx_t *ctx;

    (void)state;
    ctx = vfu_create_ctx(VFU_TRANS_EXT_INPROC, NULL, 0, NULL, VFU_DEV_TYPE_PCI);
    assert_non_null(ctx);
    errno = 0;
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, EINVAL);
    vfu_destroy_ctx(ctx);
}

static void
test_run_not_attached(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);

    (void)state;
    errno = 0;
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    vfu_destroy_ctx(ctx);
}

static void
test_limits(void **state)
{
    vfu_ext_limits_t l = {0};
    struct dev d;
    vfu_ctx_t *ctx;

    (void)state;
    ctx = vfu_create_ctx(VFU_TRANS_EXT_INPROC, NULL, 0, &d, VFU_DEV_TYPE_PCI);
    assert_non_null(ctx);
    l.max_msg_fds = PROTO_MAX_MSG_FDS_CEIL + 1;
    errno = 0;
    assert_int_equal(vfu_ext_set_limits(ctx, &l), -1);
    assert_int_equal(errno, EINVAL);
    l = (vfu_ext_limits_t){.max_data_xfer_size = (uint64_t)1 << 40};
    assert_int_equal(vfu_ext_set_limits(ctx, &l), -1);
    l = (vfu_ext_limits_t){.pgsizes = 512};
    assert_int_equal(vfu_ext_set_limits(ctx, &l), -1);
    l = (vfu_ext_limits_t){.max_msg_fds = 2, .timeout_ms = 100};
    assert_int_equal(vfu_ext_set_limits(ctx, &l), 0);
    assert_int_equal(vfu_ext_set_limits(ctx, NULL), -1);
    assert_int_equal(vfu_realize_ctx(ctx), 0);
    errno = 0;
    assert_int_equal(vfu_ext_set_limits(ctx, &l), -1);
    assert_int_equal(errno, EBUSY);
    vfu_destroy_ctx(ctx);
}

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */

static void
test_log_levels(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx;
    char big[4000];

    (void)state;
    memset(&d, 0, sizeof(d));
    ctx = vfu_create_ctx(VFU_TRANS_EXT_INPROC, NULL, 0, &d, VFU_DEV_TYPE_PCI);
    assert_non_null(ctx);

    /* no callback: nothing, and no crash */
    vfu_log(ctx, LOG_ERR, "dropped");

    errno = 0;
    assert_int_equal(vfu_setup_log(ctx, log_cb, LOG_DEBUG + 1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_log(ctx, log_cb, -1), -1);

    assert_int_equal(vfu_setup_log(ctx, log_cb, LOG_INFO), 0);
    vfu_log(ctx, LOG_DEBUG, "too verbose %d", 1);
    assert_int_equal(d.logs[LOG_DEBUG], 0);
    vfu_log(ctx, LOG_INFO, "value %d", 42);
    assert_int_equal(d.logs[LOG_INFO], 1);
    assert_string_equal(d.last_log, "value 42");
    vfu_log(ctx, LOG_ERR, "bad %s", "thing");
    assert_int_equal(d.logs[LOG_ERR], 1);

    /* errno survives logging */
    errno = EPERM;
    vfu_log(ctx, LOG_ERR, "x");
    assert_int_equal(errno, EPERM);

    /* long lines are truncated into the bounded buffer */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    vfu_log(ctx, LOG_ERR, "%s", big);
    assert_true(d.last_log_len > 0 && d.last_log_len < 1024);

    /* the default after setup with LOG_ERR: warnings are dropped */
    assert_int_equal(vfu_setup_log(ctx, log_cb, LOG_ERR), 0);
    vfu_log(ctx, LOG_WARNING, "w");
    assert_int_equal(d.logs[LOG_WARNING], 0);

    /* a NULL callback switches logging off */
    assert_int_equal(vfu_setup_log(ctx, NULL, LOG_DEBUG), 0);
    vfu_log(ctx, LOG_ERR, "off");
    assert_int_equal(d.logs[LOG_ERR], 3);
    vfu_destroy_ctx(ctx);
}

/* ------------------------------------------------------------------ */
/* Negotiation                                                         */
/* ------------------------------------------------------------------ */

static void
test_attach_blocking_qemu(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    proto_caps_t caps;
    int fd;

    (void)state;
    fd = cl_connect(d.path);
    cl_send_version(fd, 0x77, 0, 0, qemu_json);
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    caps = cl_expect_version(fd, 0x77, 0, 0);
    assert_int_equal(caps.max_msg_fds, 8);
    assert_int_equal(caps.max_data_xfer_size, 1u << 20);
    assert_int_equal(caps.pgsizes, 4096);
    /* asked for write_multiple: the answer says yes */
    assert_true(caps.has_write_multiple);
    assert_true(caps.write_multiple);
    assert_false(caps.has_twin_socket);
    /* the poll fd is the connection now, not the listener */
    assert_true(vfu_get_poll_fd(ctx) >= 0);

    /* already attached */
    errno = 0;
    assert_int_equal(vfu_attach_ctx(ctx), -1);
    assert_int_equal(errno, EINVAL);

    cl_get_info(fd, 2);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    errno = 0;
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    cl_expect_info(fd, 2);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_attach_minimal_version(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    proto_caps_t caps;
    int fd;

    (void)state;
    /* no JSON at all, and a minor above ours */
    fd = cl_connect(d.path);
    cl_send_version(fd, 3, 0, 0xffff, NULL);
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    caps = cl_expect_version(fd, 3, LIB_VFIO_USER_MINOR, 0);
    assert_false(caps.has_write_multiple);
    close(fd);
    vfu_destroy_ctx(ctx);
}

/* Each proposal must fail negotiation; the client is told and dropped. */
static void
test_attach_bad_proposals(void **state)
{
    static const struct {
        uint16_t major;
        const char *json;
    } bad[] = {
        {1, "{}"},
        {0, "{"},
        {0, "not json"},
        {0, "[1,2]"},
        {0, "{\"capabilities\":{\"max_msg_fds\":100000}}"},
        {0, "{\"capabilities\":{\"max_msg_fds\":-1}}"},
        {0, "{\"capabilities\":{\"max_msg_fds\":\"8\"}}"},
        {0, "{\"capabilities\":{\"max_data_xfer_size\":1099511627776}}"},
        {0, "{\"capabilities\":{\"max_data_xfer_size\":0}}"},
        {0, "{\"capabilities\":{\"pgsizes\":8192}}"}, /* none in common */
        {0, "{\"capabilities\":{\"twin_socket\":7}}"},
        {0, "{\"capabilities\":3}"},
    };
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    size_t i;
    int fd;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int errs = err_logs(&d);

        fd = cl_connect(d.path);
        cl_send_version(fd, (uint16_t)(10 + i), bad[i].major, 0, bad[i].json);
        errno = 0;
        assert_int_equal(vfu_attach_ctx(ctx), -1);
        assert_int_equal(errno, EINVAL);
        assert_true(err_logs(&d) > errs);
        cl_expect_error(fd, (uint16_t)(10 + i), EINVAL);
        cl_expect_eof(fd);
        close(fd);
    }
    /* the next client is still served */
    fd = cl_attach(ctx, &d);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_attach_not_version_first(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    int efd = eventfd(0, EFD_CLOEXEC);
    int before;
    int fd;

    (void)state;
    fd = cl_connect(d.path);
    cl_get_info(fd, 4);
    errno = 0;
    assert_int_equal(vfu_attach_ctx(ctx), -1);
    assert_int_equal(errno, EINVAL);
    cl_expect_error(fd, 4, EINVAL);
    cl_expect_eof(fd);
    close(fd);

    /* a VERSION carrying an fd is refused, and the fd is not kept */
    before = tu_count_fds();
    fd = cl_connect(d.path);
    {
        struct vfio_user_version v = {0, 0};

        cl_send(fd, 5, VFIO_USER_VERSION, &v, sizeof(v), 0, &efd, 1);
    }
    assert_int_equal(vfu_attach_ctx(ctx), -1);
    assert_int_equal(errno, EINVAL);
    cl_expect_error(fd, 5, EINVAL);
    close(fd);
    assert_int_equal(tu_count_fds(), before);
    close(efd);
    vfu_destroy_ctx(ctx);
}

static void
test_attach_client_leaves_before_version(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    int fd;

    (void)state;
    fd = cl_connect(d.path);
    close(fd);
    errno = 0;
    assert_int_equal(vfu_attach_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    fd = cl_attach(ctx, &d);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_attach_nb(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, LIBVFIO_USER_FLAG_ATTACH_NB, &d);
    int listen_fd;
    int fd;

    (void)state;
    listen_fd = vfu_get_poll_fd(ctx);
    errno = 0;
    assert_int_equal(vfu_attach_ctx(ctx), -1);
    assert_int_equal(errno, EAGAIN);

    /* connected but silent: still EAGAIN, now polling the connection */
    fd = cl_connect(d.path);
    assert_true(cl_readable(listen_fd, WAIT_MS));
    errno = 0;
    assert_int_equal(vfu_attach_ctx(ctx), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_not_equal(vfu_get_poll_fd(ctx), listen_fd);
    assert_false(cl_readable(vfu_get_poll_fd(ctx), 0));

    cl_send_version(fd, 9, 0, 1, qemu_json);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    (void)cl_expect_version(fd, 9, 1, 0);

    /* nothing to do yet */
    assert_int_equal(vfu_run_ctx(ctx), 0);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_attach_twin_socket(void **state)
{
    static const char json[] = "{\"capabilities\":{\"max_msg_fds\":4,"
                               "\"twin_socket\":{\"supported\":true}}}";
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    proto_msg_t msg = PROTO_MSG_INIT;
    proto_caps_t caps;
    struct stat st;
    int fd;

    (void)state;
    fd = cl_connect(d.path);
    cl_send_version(fd, 1, 0, 0, json);
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    assert_int_equal(cl_recv(fd, &msg), 0);
    assert_int_equal(msg.nr_fds, 1);
    assert_int_equal(fstat(msg.fds[0], &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(
        proto_caps_parse((const char *)msg.body + 4, msg.body_len - 4, &caps),
        0);
    assert_true(caps.has_twin_socket);
    assert_true(caps.twin_socket);
    assert_true(caps.has_twin_fd_index);
    assert_int_equal(caps.twin_fd_index, 0);
    proto_msg_free(&msg);
    close(fd);
    vfu_destroy_ctx(ctx);
}

/* A client that can receive no fd gets no twin socket. */
static void
test_attach_twin_socket_no_fds(void **state)
{
    static const char json[] = "{\"capabilities\":{\"max_msg_fds\":0,"
                               "\"twin_socket\":{\"supported\":true}}}";
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    proto_caps_t caps;
    int fd;

    (void)state;
    fd = cl_connect(d.path);
    cl_send_version(fd, 1, 0, 0, json);
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    caps = cl_expect_version(fd, 1, 0, 0);
    assert_true(caps.has_twin_socket);
    assert_false(caps.twin_socket);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_attach_limits_offered(void **state)
{
    vfu_ext_limits_t l = {.max_msg_fds = 2, .max_data_xfer_size = 65536};
    struct dev d;
    vfu_ctx_t *ctx;
    proto_caps_t caps;
    int fd;

    (void)state;
    memset(&d, 0, sizeof(d));
    snprintf(d.path, sizeof(d.path), "%s", tu_sock_path("limits"));
    ctx = vfu_create_ctx(VFU_TRANS_SOCK, d.path, 0, &d, VFU_DEV_TYPE_PCI);
    assert_non_null(ctx);
    assert_int_equal(vfu_ext_set_limits(ctx, &l), 0);
    assert_int_equal(vfu_realize_ctx(ctx), 0);
    fd = cl_connect(d.path);
    cl_send_version(fd, 1, 0, 0, qemu_json);
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    caps = cl_expect_version(fd, 1, 0, 0);
    assert_int_equal(caps.max_msg_fds, 2);
    assert_int_equal(caps.max_data_xfer_size, 65536);
    close(fd);
    vfu_destroy_ctx(ctx);
}

/* ------------------------------------------------------------------ */
/* The run loop                                                        */
/* ------------------------------------------------------------------ */

static void
test_run_reattach_after_disconnect(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    int fd;

    (void)state;
    fd = cl_attach(ctx, &d);
    close(fd);
    errno = 0;
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 1);
    /* again: still not connected, no second reset */
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 1);

    fd = cl_attach(ctx, &d);
    cl_get_info(fd, 3);
    shutdown(fd, SHUT_WR);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    cl_expect_info(fd, 3);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 2);
    close(fd);
    vfu_destroy_ctx(ctx);
    /* destroy after the client left: no further reset */
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 2);
}

static void
test_run_nb_counts(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, LIBVFIO_USER_FLAG_ATTACH_NB, &d);
    int fd;

    (void)state;
    fd = cl_connect(d.path);
    cl_send_version(fd, 1, 0, 0, qemu_json);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    (void)cl_expect_version(fd, 1, 0, 0);

    cl_get_info(fd, 2);
    cl_get_info(fd, 3);
    cl_send(fd, 4, 200, NULL, 0, 0, NULL, 0);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    assert_int_equal(vfu_run_ctx(ctx), 3);
    cl_expect_info(fd, 2);
    cl_expect_info(fd, 3);
    cl_expect_error(fd, 4, EINVAL);
    assert_int_equal(vfu_run_ctx(ctx), 0);

    /* destroying with the client attached resets like a lost connection */
    vfu_destroy_ctx(ctx);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 1);
    cl_expect_eof(fd);
    close(fd);
}

static void
test_run_tracer(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    int fd;

    (void)state;
    vfu_ext_set_tracer(ctx, trace_cb, &d);
    fd = cl_attach(ctx, &d);
    assert_int_equal(d.traced_in, 1);
    assert_int_equal(d.traced_out, 1);
    cl_get_info(fd, 2);
    shutdown(fd, SHUT_WR);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    cl_expect_info(fd, 2);
    assert_int_equal(d.traced_in, 2);
    assert_int_equal(d.traced_out, 2);
    assert_int_equal(d.last_traced_cmd, VFIO_USER_DEVICE_GET_INFO);
    vfu_ext_set_tracer(ctx, NULL, NULL);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* Repeat SIGALRM until stopped, so no wait can miss it. */
static void
alarm_start(struct sigaction *old)
{
    struct sigaction sa;
    struct itimerval it = {{0, 20000}, {0, 20000}};

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm; /* no SA_RESTART: syscalls see EINTR */
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, old), 0);
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void
alarm_stop(const struct sigaction *old)
{
    struct itimerval it = {{0, 0}, {0, 0}};

    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    assert_int_equal(sigaction(SIGALRM, old, NULL), 0);
}

static void
test_blocking_calls_see_eintr(void **state)
{
    struct sigaction old;
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    int fd;
    int rc;

    (void)state;
    alarm_start(&old);
    errno = 0;
    rc = vfu_attach_ctx(ctx);
    alarm_stop(&old);
    assert_int_equal(rc, -1);
    assert_int_equal(errno, EINTR);

    fd = cl_attach(ctx, &d);
    alarm_start(&old);
    errno = 0;
    rc = vfu_run_ctx(ctx);
    alarm_stop(&old);
    assert_int_equal(rc, -1);
    assert_int_equal(errno, EINTR);
    /* the client is still there and served */
    cl_get_info(fd, 2);
    shutdown(fd, SHUT_WR);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    cl_expect_info(fd, 2);
    close(fd);
    vfu_destroy_ctx(ctx);
}

/* ------------------------------------------------------------------ */
/* Hostile framing over the socket                                     */
/* ------------------------------------------------------------------ */

/* After @fd misbehaved, the server drops it and serves the next client. */
static void
expect_dropped(vfu_ctx_t *ctx, struct dev *d, int fd)
{
    int errs = err_logs(d);
    int resets = d->resets[VFU_RESET_LOST_CONN];
    int next;

    errno = 0;
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(d->resets[VFU_RESET_LOST_CONN], resets + 1);
    /* a rejected message always leaves a line in the log */
    assert_true(err_logs(d) > errs);
    cl_expect_eof(fd);
    close(fd);
    next = cl_attach(ctx, d);
    close(next);
    assert_int_equal(vfu_run_ctx(ctx), -1);
}

static void
test_framing_short_header_then_close(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    struct vfio_user_header h;
    int fd;

    (void)state;
    fd = cl_attach(ctx, &d);
    proto_hdr_cmd(&h, 2, VFIO_USER_DEVICE_GET_INFO, 16, false);
    cl_send_raw(fd, &h, 7);
    shutdown(fd, SHUT_WR);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_true(err_logs(&d) > 0);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 1);
    cl_expect_eof(fd);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_framing_size_larger_than_sent(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    uint8_t buf[16 + 10] = {0};
    struct vfio_user_header h;
    int fd;

    (void)state;
    fd = cl_attach(ctx, &d);
    proto_hdr_cmd(&h, 2, VFIO_USER_DEVICE_GET_INFO, 100, false);
    memcpy(buf, &h, sizeof(h));
    cl_send_raw(fd, buf, sizeof(buf));
    shutdown(fd, SHUT_WR);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_true(err_logs(&d) > 0);
    cl_expect_eof(fd);
    close(fd);
    vfu_destroy_ctx(ctx);
}

/* The rest of a message never comes: the timeout drops the client. */
static void
test_framing_stalled_message(void **state)
{
    vfu_ext_limits_t l = {.timeout_ms = 50};
    struct dev d;
    vfu_ctx_t *ctx;
    struct vfio_user_header h;
    int fd;

    (void)state;
    memset(&d, 0, sizeof(d));
    snprintf(d.path, sizeof(d.path), "%s", tu_sock_path("stall"));
    ctx = vfu_create_ctx(VFU_TRANS_SOCK, d.path, 0, &d, VFU_DEV_TYPE_PCI);
    assert_non_null(ctx);
    assert_int_equal(vfu_setup_log(ctx, log_cb, LOG_DEBUG), 0);
    assert_int_equal(vfu_setup_device_reset_cb(ctx, reset_cb), 0);
    assert_int_equal(vfu_ext_set_limits(ctx, &l), 0);
    assert_int_equal(vfu_realize_ctx(ctx), 0);
    fd = cl_attach(ctx, &d);
    proto_hdr_cmd(&h, 2, VFIO_USER_DEVICE_GET_INFO, 16, false);
    cl_send_raw(fd, &h, sizeof(h));
    errno = 0;
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 1);
    cl_expect_eof(fd);
    close(fd);
    vfu_destroy_ctx(ctx);
}

/*
 * A size below the header: answered with EINVAL as libvfio-user does (its
 * test_request_errors.py), and the stream goes on after the 16 bytes.
 */
static void
test_framing_size_below_header(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    struct vfio_user_header h;
    int fd;

    (void)state;
    fd = cl_attach(ctx, &d);
    proto_hdr_cmd(&h, 2, VFIO_USER_DEVICE_GET_INFO, 0, false);
    h.msg_size = 8;
    cl_send_raw(fd, &h, sizeof(h));
    cl_get_info(fd, 3);
    shutdown(fd, SHUT_WR);
    errno = 0;
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    cl_expect_error(fd, 2, EINVAL);
    cl_expect_info(fd, 3);
    cl_expect_eof(fd);
    close(fd);
    vfu_destroy_ctx(ctx);
}

/*
 * Too large: answered with EINVAL at once, without waiting for the body
 * (libvfio-user's test_too_large sends none), and the body is discarded
 * as it arrives, so the next message is read in step.
 */
static void
test_framing_size_too_large(void **state)
{
    const vfu_ext_limits_t lim = {.max_data_xfer_size = 4096};
    struct vfio_user_header h;
    uint8_t body[64 * 1024]; /* above the 24 KiB a WRITE_MULTI may take */
    vfu_ctx_t *ctx;
    struct dev d;
    int fd;

    (void)state;
    memset(&d, 0, sizeof(d));
    snprintf(d.path, sizeof(d.path), "%s", tu_sock_path("core"));
    ctx = vfu_create_ctx(VFU_TRANS_SOCK, d.path, LIBVFIO_USER_FLAG_ATTACH_NB,
                         &d, VFU_DEV_TYPE_PCI);
    assert_non_null(ctx);
    assert_int_equal(vfu_setup_log(ctx, log_cb, LOG_DEBUG), 0);
    assert_int_equal(vfu_setup_device_reset_cb(ctx, reset_cb), 0);
    assert_int_equal(vfu_ext_set_limits(ctx, &lim), 0);
    assert_int_equal(vfu_realize_ctx(ctx), 0);
    fd = cl_connect(d.path);
    cl_send_version(fd, 1, 0, 0, qemu_json);
    while (vfu_attach_ctx(ctx) < 0) {
        assert_int_equal(errno, EAGAIN);
    }
    (void)cl_expect_version(fd, 1, 0, 0);

    /* the header alone: the answer comes before any of the body */
    proto_hdr_cmd(&h, 2, VFIO_USER_REGION_WRITE, sizeof(body), false);
    cl_send_raw(fd, &h, sizeof(h));
    assert_int_equal(vfu_run_ctx(ctx), 1);
    cl_expect_error(fd, 2, EINVAL);
    /* half the body: still skipping, nothing to serve */
    memset(body, 0xee, sizeof(body));
    cl_send_raw(fd, body, sizeof(body) / 2);
    assert_int_equal(vfu_run_ctx(ctx), 0);
    /* the rest, then a real request: served in step */
    cl_send_raw(fd, body, sizeof(body) / 2);
    cl_get_info(fd, 3);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    assert_int_equal(vfu_run_ctx(ctx), 1);
    cl_expect_info(fd, 3);

    /* a size no peer can mean, then the connection closes */
    h.msg_size = UINT32_MAX;
    h.msg_id = 4;
    cl_send_raw(fd, &h, sizeof(h));
    shutdown(fd, SHUT_WR);
    /* answered, then the end of the stream is found while skipping */
    errno = 0;
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    cl_expect_error(fd, 4, EINVAL);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 1);
    cl_expect_eof(fd);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_framing_unknown_command(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    uint32_t junk = 0xdeadbeef;
    int fd;
    int errs;

    (void)state;
    fd = cl_attach(ctx, &d);
    errs = err_logs(&d);
    cl_send(fd, 2, 14, &junk, sizeof(junk), 0, NULL, 0); /* DIRTY_PAGES */
    cl_send(fd, 3, 0, &junk, sizeof(junk), 0, NULL, 0);
    cl_send(fd, 4, 0xffff, NULL, 0, 0, NULL, 0);
    /* a server-to-client command sent the wrong way */
    cl_send(fd, 5, VFIO_USER_DMA_READ, &junk, sizeof(junk), 0, NULL, 0);
    /* VERSION again after negotiation */
    cl_send_version(fd, 6, 0, 0, qemu_json);
    cl_get_info(fd, 7);
    shutdown(fd, SHUT_WR);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    cl_expect_error(fd, 2, EINVAL);
    cl_expect_error(fd, 3, EINVAL);
    cl_expect_error(fd, 4, EINVAL);
    cl_expect_error(fd, 5, EINVAL);
    cl_expect_error(fd, 6, EINVAL);
    cl_expect_info(fd, 7);
    /* one log line for each rejected message */
    assert_true(err_logs(&d) >= errs + 5);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_framing_reply_sent_to_server(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    struct vfio_user_device_info info = {.argsz = sizeof(info)};
    int fd;

    (void)state;
    fd = cl_attach(ctx, &d);
    cl_send(fd, 2, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info),
            VFIO_USER_F_TYPE_REPLY, NULL, 0);
    cl_get_info(fd, 3);
    shutdown(fd, SHUT_WR);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    cl_expect_error(fd, 2, EINVAL);
    cl_expect_info(fd, 3);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_framing_bad_flags(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    struct vfio_user_device_info info = {.argsz = sizeof(info)};
    int fd;

    (void)state;
    fd = cl_attach(ctx, &d);
    cl_send(fd, 2, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info), 0x4000, NULL,
            0);
    expect_dropped(ctx, &d, fd);
    vfu_destroy_ctx(ctx);
}

static void
test_framing_no_reply_flag(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    struct vfio_user_device_info info = {.argsz = sizeof(info)};
    int fd;

    (void)state;
    fd = cl_attach(ctx, &d);
    /* neither a good nor a bad command with NO_REPLY is answered */
    cl_send(fd, 2, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info),
            VFIO_USER_F_NO_REPLY, NULL, 0);
    cl_send(fd, 3, 99, NULL, 0, VFIO_USER_F_NO_REPLY, NULL, 0);
    cl_get_info(fd, 4);
    shutdown(fd, SHUT_WR);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    cl_expect_info(fd, 4);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_framing_too_many_fds(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    int efds[9];
    int before;
    size_t i;
    int fd;
    uint8_t body[64] = {0};

    (void)state;
    fd = cl_attach(ctx, &d);
    before = tu_count_fds();
    for (i = 0; i < 9; i++) {
        efds[i] = eventfd(0, EFD_CLOEXEC);
        assert_true(efds[i] >= 0);
    }
    /* our limit is 8 */
    cl_send(fd, 2, VFIO_USER_DEVICE_SET_IRQS, body, sizeof(body), 0, efds, 9);
    for (i = 0; i < 9; i++) {
        close(efds[i]);
    }
    expect_dropped(ctx, &d, fd);
    /* nothing the client sent is still open here; both ends are closed */
    assert_int_equal(tu_count_fds(), before - 2);
    vfu_destroy_ctx(ctx);
}

static void
test_framing_fds_on_fdless_command(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    struct vfio_user_device_info info = {.argsz = sizeof(info)};
    int efds[2];
    int before;
    int fd;

    (void)state;
    fd = cl_attach(ctx, &d);
    before = tu_count_fds();
    efds[0] = eventfd(0, EFD_CLOEXEC);
    efds[1] = eventfd(0, EFD_CLOEXEC);
    cl_send(fd, 2, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info), 0, efds, 2);
    cl_send(fd, 3, 77, NULL, 0, 0, efds, 1);
    close(efds[0]);
    close(efds[1]);
    cl_get_info(fd, 4);
    shutdown(fd, SHUT_WR);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    cl_expect_error(fd, 2, EINVAL);
    cl_expect_error(fd, 3, EINVAL);
    cl_expect_info(fd, 4);
    close(fd);
    /* the server closed the three fds it received, and the connection */
    assert_int_equal(tu_count_fds(), before - 2);
    vfu_destroy_ctx(ctx);
}

static void
test_framing_garbage_stream(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, 0, &d);
    uint8_t junk[300];
    size_t i;
    int fd;

    (void)state;
    fd = cl_attach(ctx, &d);
    for (i = 0; i < sizeof(junk); i++) {
        junk[i] = (uint8_t)(i * 37 + 11);
    }
    cl_send_raw(fd, junk, sizeof(junk));
    shutdown(fd, SHUT_WR);
    errno = 0;
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    cl_expect_eof(fd);
    close(fd);
    vfu_destroy_ctx(ctx);
}

/* ------------------------------------------------------------------ */
/* Quiesce                                                             */
/* ------------------------------------------------------------------ */

static vfu_ctx_t *
quiesce_ctx(struct dev *d, int *fd)
{
    vfu_ctx_t *ctx = dev_ctx(VFU_TRANS_SOCK, LIBVFIO_USER_FLAG_ATTACH_NB, d);

    vfu_setup_device_quiesce_cb(ctx, quiesce_cb);
    *fd = cl_connect(d->path);
    cl_send_version(*fd, 1, 0, 0, qemu_json);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    (void)cl_expect_version(*fd, 1, 0, 0);
    return ctx;
}

static void
cl_expect_ok(int fd, uint16_t id, uint16_t cmd)
{
    proto_msg_t msg = PROTO_MSG_INIT;

    assert_int_equal(cl_recv(fd, &msg), 0);
    assert_int_equal(msg.hdr.msg_id, id);
    assert_int_equal(msg.hdr.cmd, cmd);
    assert_int_equal(msg.hdr.flags, VFIO_USER_F_TYPE_REPLY);
    proto_msg_free(&msg);
}

static void
test_quiesce_immediate(void **state)
{
    struct dev d;
    int fd;
    vfu_ctx_t *ctx = quiesce_ctx(&d, &fd);

    (void)state;
    cl_send(fd, 2, VFIO_USER_DEVICE_RESET, NULL, 0, 0, NULL, 0);
    /* a command that needs no quiesce does not call it */
    cl_get_info(fd, 3);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    assert_int_equal(vfu_run_ctx(ctx), 2);
    assert_int_equal(d.quiesce_calls, 1);
    assert_int_equal(d.resets[VFU_RESET_DEVICE], 1);
    cl_expect_ok(fd, 2, VFIO_USER_DEVICE_RESET);
    cl_expect_info(fd, 3);
    errno = 0;
    assert_int_equal(vfu_device_quiesced(ctx, 0), -1);
    assert_int_equal(errno, EINVAL);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_quiesce_busy_then_done(void **state)
{
    struct dev d;
    int fd;
    vfu_ctx_t *ctx = quiesce_ctx(&d, &fd);

    (void)state;
    d.quiesce_errno = EBUSY;
    cl_send(fd, 2, VFIO_USER_DEVICE_RESET, NULL, 0, 0, NULL, 0);
    cl_get_info(fd, 3);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    errno = 0;
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(d.resets[VFU_RESET_DEVICE], 0);
    /* still busy until the device says so; nothing answered meanwhile */
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, EBUSY);
    assert_false(cl_readable(fd, 0));

    assert_int_equal(vfu_device_quiesced(ctx, 0), 0);
    assert_int_equal(d.resets[VFU_RESET_DEVICE], 1);
    cl_expect_ok(fd, 2, VFIO_USER_DEVICE_RESET);
    d.quiesce_errno = 0;
    assert_int_equal(vfu_run_ctx(ctx), 1);
    cl_expect_info(fd, 3);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_quiesce_busy_then_failed(void **state)
{
    struct dev d;
    int fd;
    vfu_ctx_t *ctx = quiesce_ctx(&d, &fd);

    (void)state;
    d.quiesce_errno = EBUSY;
    cl_send(fd, 2, VFIO_USER_DEVICE_RESET, NULL, 0, 0, NULL, 0);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(vfu_device_quiesced(ctx, EIO), 0);
    /* the request fails with the device's errno; it is never dropped */
    cl_expect_error(fd, 2, EIO);
    assert_int_equal(d.resets[VFU_RESET_DEVICE], 0);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_quiesce_error(void **state)
{
    struct dev d;
    int fd;
    vfu_ctx_t *ctx = quiesce_ctx(&d, &fd);

    (void)state;
    d.quiesce_errno = EPERM;
    cl_send(fd, 2, VFIO_USER_DEVICE_RESET, NULL, 0, 0, NULL, 0);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    assert_int_equal(vfu_run_ctx(ctx), 1);
    cl_expect_error(fd, 2, EPERM);
    assert_int_equal(d.resets[VFU_RESET_DEVICE], 0);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_quiesce_busy_on_lost_connection(void **state)
{
    struct dev d;
    int fd;
    vfu_ctx_t *ctx = quiesce_ctx(&d, &fd);

    (void)state;
    d.quiesce_errno = EBUSY;
    close(fd);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 0);
    /* no new client before the old one is cleaned up */
    errno = 0;
    assert_int_equal(vfu_attach_ctx(ctx), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(vfu_device_quiesced(ctx, 0), 0);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 1);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    vfu_destroy_ctx(ctx);
    assert_int_equal(d.resets[VFU_RESET_LOST_CONN], 1);
}

/* Expect any reply (success or error) to @id. */
static void
cl_expect_any_reply(int fd, uint16_t id)
{
    proto_msg_t msg = PROTO_MSG_INIT;

    assert_int_equal(cl_recv(fd, &msg), 0);
    assert_int_equal(msg.hdr.msg_id, id);
    assert_int_equal(msg.hdr.flags & VFIO_USER_F_TYPE_MASK,
                     VFIO_USER_F_TYPE_REPLY);
    proto_msg_free(&msg);
}

/* Which commands ask the device to quiesce first (libvfio-user's set). */
static void
test_quiesce_which_commands(void **state)
{
    struct vfio_user_dma_map map = {
        .argsz = sizeof(map),
        .flags = VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE,
        .addr = 0x100000,
        .size = 0x1000,
    };
    struct vfio_user_device_feature feat = {.argsz = 64};
    uint8_t fbody[sizeof(feat) + 8] = {0};
    struct dev d;
    int fd;
    vfu_ctx_t *ctx = quiesce_ctx(&d, &fd);

    (void)state;
    /* DMA_MAP without DMA set up: nothing to protect, no quiesce */
    cl_send(fd, 2, VFIO_USER_DMA_MAP, &map, sizeof(map), 0, NULL, 0);
    /* PROBE never quiesces; SET of the device state does */
    feat.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
                 VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
    memcpy(fbody, &feat, sizeof(feat));
    cl_send(fd, 3, VFIO_USER_DEVICE_FEATURE, fbody, sizeof(fbody), 0, NULL, 0);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    assert_int_equal(vfu_run_ctx(ctx), 2);
    cl_expect_any_reply(fd, 2);
    cl_expect_any_reply(fd, 3);
    assert_int_equal(d.quiesce_calls, 0);

    feat.flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
    memcpy(fbody, &feat, sizeof(feat));
    cl_send(fd, 4, VFIO_USER_DEVICE_FEATURE, fbody, sizeof(fbody), 0, NULL, 0);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    assert_int_equal(vfu_run_ctx(ctx), 1);
    cl_expect_any_reply(fd, 4);
    assert_int_equal(d.quiesce_calls, 1);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_quiesce_dma_map(void **state)
{
    struct vfio_user_dma_map map = {
        .argsz = sizeof(map),
        .flags = VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE,
        .addr = 0x100000,
        .size = 0x1000,
    };
    struct dev d;
    vfu_ctx_t *ctx;
    int fd;

    (void)state;
    memset(&d, 0, sizeof(d));
    snprintf(d.path, sizeof(d.path), "%s", tu_sock_path("qdma"));
    ctx = vfu_create_ctx(VFU_TRANS_SOCK, d.path, LIBVFIO_USER_FLAG_ATTACH_NB,
                         &d, VFU_DEV_TYPE_PCI);
    assert_non_null(ctx);
    assert_int_equal(vfu_setup_device_dma(ctx, 16, NULL, NULL), 0);
    vfu_setup_device_quiesce_cb(ctx, quiesce_cb);
    assert_int_equal(vfu_realize_ctx(ctx), 0);
    fd = cl_connect(d.path);
    cl_send_version(fd, 1, 0, 0, qemu_json);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    (void)cl_expect_version(fd, 1, 0, 0);

    cl_send(fd, 2, VFIO_USER_DMA_MAP, &map, sizeof(map), 0, NULL, 0);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    assert_int_equal(vfu_run_ctx(ctx), 1);
    cl_expect_any_reply(fd, 2);
    assert_int_equal(d.quiesce_calls, 1);
    close(fd);
    vfu_destroy_ctx(ctx);
}

/* A pending request is released (fds closed) by vfu_destroy_ctx(). */
static void
test_quiesce_pending_at_destroy(void **state)
{
    struct dev d;
    int fd;
    vfu_ctx_t *ctx = quiesce_ctx(&d, &fd);

    (void)state;
    d.quiesce_errno = EBUSY;
    cl_send(fd, 2, VFIO_USER_DEVICE_RESET, NULL, 0, 0, NULL, 0);
    assert_true(cl_readable(vfu_get_poll_fd(ctx), WAIT_MS));
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, EBUSY);
    vfu_destroy_ctx(ctx);
    cl_expect_eof(fd);
    close(fd);
}

/* ------------------------------------------------------------------ */
/* The pipe transport, in a child with its stdin/stdout redirected     */
/* ------------------------------------------------------------------ */

static int
pipe_child(int in_fd, int out_fd)
{
    vfu_ctx_t *ctx;
    int rc;

    if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0) {
        return 10;
    }
    close(in_fd);
    close(out_fd);
    ctx = vfu_create_ctx(VFU_TRANS_PIPE, NULL, 0, NULL, VFU_DEV_TYPE_PCI);
    if (ctx == NULL || vfu_realize_ctx(ctx) < 0) {
        return 11;
    }
    if (vfu_attach_ctx(ctx) < 0) {
        return 12;
    }
    rc = vfu_run_ctx(ctx);
    if (rc != -1 || errno != ENOTCONN) {
        return 13;
    }
    vfu_destroy_ctx(ctx);
    return 0;
}

static void
test_pipe_transport(void **state)
{
    int to_child[2];
    int from_child[2];
    int status;
    pid_t pid;

    (void)state;
    assert_int_equal(pipe2(to_child, O_CLOEXEC), 0);
    assert_int_equal(pipe2(from_child, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(to_child[1]);
        close(from_child[0]);
        _exit(pipe_child(to_child[0], from_child[1]));
    }
    close(to_child[0]);
    close(from_child[1]);

    cl_send_version(to_child[1], 1, 0, 0, qemu_json);
    (void)cl_expect_version(from_child[0], 1, 0, 0);
    cl_get_info(to_child[1], 2);
    cl_expect_info(from_child[0], 2);
    cl_send(to_child[1], 3, 42, NULL, 0, 0, NULL, 0);
    cl_expect_error(from_child[0], 3, EINVAL);
    close(to_child[1]);
    cl_expect_eof(from_child[0]);
    close(from_child[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_fd_setup, tu_fd_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_create_bad_flags),
        T(test_create_bad_trans),
        T(test_create_bad_dev_type),
        T(test_create_sock_null_path),
        T(test_create_sock_path_in_use),
        T(test_create_sock_path_too_long),
        T(test_lifecycle_sock),
        T(test_lifecycle_pipe),
        T(test_lifecycle_inproc),
        T(test_destroy_null),
        T(test_run_not_realized),
        T(test_run_not_attached),
        T(test_limits),
        T(test_log_levels),
        T(test_attach_blocking_qemu),
        T(test_attach_minimal_version),
        T(test_attach_bad_proposals),
        T(test_attach_not_version_first),
        T(test_attach_client_leaves_before_version),
        T(test_attach_nb),
        T(test_attach_twin_socket),
        T(test_attach_twin_socket_no_fds),
        T(test_attach_limits_offered),
        T(test_run_reattach_after_disconnect),
        T(test_run_nb_counts),
        T(test_run_tracer),
        T(test_blocking_calls_see_eintr),
        T(test_framing_short_header_then_close),
        T(test_framing_size_larger_than_sent),
        T(test_framing_stalled_message),
        T(test_framing_size_below_header),
        T(test_framing_size_too_large),
        T(test_framing_unknown_command),
        T(test_framing_reply_sent_to_server),
        T(test_framing_bad_flags),
        T(test_framing_no_reply_flag),
        T(test_framing_too_many_fds),
        T(test_framing_fds_on_fdless_command),
        T(test_framing_garbage_stream),
        T(test_quiesce_immediate),
        T(test_quiesce_busy_then_done),
        T(test_quiesce_busy_then_failed),
        T(test_quiesce_error),
        T(test_quiesce_busy_on_lost_connection),
        T(test_quiesce_pending_at_destroy),
        T(test_quiesce_which_commands),
        T(test_quiesce_dma_map),
        T(test_pipe_transport),
    };

    /* a client gone mid-reply must not kill the test with SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
