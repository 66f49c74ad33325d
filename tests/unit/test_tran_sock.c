/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_tran_sock.c - white-box tests of the socket transport's path for
 * server-initiated commands (what DMA_READ/WRITE use): the reply on the
 * main socket with client commands racing it, the twin socket, timeouts.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "common/testutil.h"
#include "proto/proto.h"
#include "server/private.h" /* white-box: tran->send_cmd / recv_reply */
#include "vfio-user/libvfio-user.h"

#define WAIT_MS 10000

struct dev {
    char path[100]; /* fits sun_path */
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

static vfu_ctx_t *
new_ctx(struct dev *d, uint32_t timeout_ms)
{
    vfu_ext_limits_t l = {.timeout_ms = timeout_ms};
    vfu_ctx_t *ctx;

    memset(d, 0, sizeof(*d));
    snprintf(d->path, sizeof(d->path), "%s", tu_sock_path("sock"));
    ctx = vfu_create_ctx(VFU_TRANS_SOCK, d->path, 0, d, VFU_DEV_TYPE_PCI);
    assert_non_null(ctx);
    assert_int_equal(vfu_setup_log(ctx, log_cb, LOG_DEBUG), 0);
    assert_int_equal(vfu_ext_set_limits(ctx, &l), 0);
    assert_int_equal(vfu_realize_ctx(ctx), 0);
    return ctx;
}

static void
cl_send(int fd, const struct vfio_user_header *h, const void *body, size_t len)
{
    struct iovec iov = {.iov_base = (void *)body, .iov_len = len};

    assert_int_equal(proto_io_send(fd, h, &iov, len > 0 ? 1 : 0, NULL, 0, -1),
                     0);
}

static int
cl_recv(int fd, proto_msg_t *msg)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    proto_caps_t caps;

    proto_caps_default(&caps);
    caps.max_msg_fds = 8;
    assert_int_equal(poll(&p, 1, WAIT_MS), 1);
    return proto_io_recv(fd, msg, &caps, false, WAIT_MS);
}

/* Connect and negotiate with @json; returns the socket, *@twin its pair. */
static int
cl_attach(vfu_ctx_t *ctx, const struct dev *d, const char *json, int *twin)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct vfio_user_header h;
    proto_msg_t msg = PROTO_MSG_INIT;
    uint8_t body[256] = {0};
    size_t len = sizeof(struct vfio_user_version) + strlen(json) + 1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", d->path);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    memcpy(body + sizeof(struct vfio_user_version), json, strlen(json) + 1);
    proto_hdr_cmd(&h, 1, VFIO_USER_VERSION, len, false);
    cl_send(fd, &h, body, len);
    assert_int_equal(vfu_attach_ctx(ctx), 0);
    assert_int_equal(cl_recv(fd, &msg), 0);
    assert_int_equal(msg.hdr.flags, VFIO_USER_F_TYPE_REPLY);
    *twin = -1;
    if (msg.nr_fds > 0) {
        *twin = proto_msg_take_fd(&msg, 0);
    }
    proto_msg_free(&msg);
    return fd;
}

static int
server_dma_read(vfu_ctx_t *ctx, uint16_t id)
{
    struct vfio_user_dma_region_access dra = {.addr = 0x2000, .count = 8};
    struct iovec iov = {.iov_base = &dra, .iov_len = sizeof(dra)};
    struct vfio_user_header h;

    proto_hdr_cmd(&h, id, VFIO_USER_DMA_READ, sizeof(dra), false);
    return ctx->tran->send_cmd(ctx, &h, &iov, 1);
}

/* Read the server's DMA_READ from @fd and answer it with 8 bytes. */
static void
cl_answer_dma_read(int fd, uint16_t want_id)
{
    proto_msg_t req = PROTO_MSG_INIT;
    struct vfio_user_header h;
    uint8_t body[sizeof(struct vfio_user_dma_region_access) + 8];

    assert_int_equal(cl_recv(fd, &req), 0);
    assert_int_equal(req.hdr.cmd, VFIO_USER_DMA_READ);
    assert_int_equal(req.hdr.msg_id, want_id);
    assert_int_equal(req.body_len, sizeof(struct vfio_user_dma_region_access));
    memcpy(body, req.body, req.body_len);
    memset(body + req.body_len, 0xab, 8);
    proto_hdr_reply(&h, &req.hdr, sizeof(body), 0);
    cl_send(fd, &h, body, sizeof(body));
    proto_msg_free(&req);
}

static void
cl_get_info(int fd, uint16_t id)
{
    struct vfio_user_device_info info = {.argsz = sizeof(info)};
    struct vfio_user_header h;

    proto_hdr_cmd(&h, id, VFIO_USER_DEVICE_GET_INFO, sizeof(info), false);
    cl_send(fd, &h, &info, sizeof(info));
}

static void
cl_expect_reply(int fd, uint16_t id, bool error)
{
    proto_msg_t msg = PROTO_MSG_INIT;

    assert_int_equal(cl_recv(fd, &msg), 0);
    assert_int_equal(msg.hdr.msg_id, id);
    assert_int_equal((msg.hdr.flags & VFIO_USER_F_ERROR) != 0, error);
    proto_msg_free(&msg);
}

static void
test_sock_reply_after_racing_commands(void **state)
{
    proto_msg_t reply = PROTO_MSG_INIT;
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d, 0);
    int twin;
    int fd;

    (void)state;
    fd = cl_attach(ctx, &d, "{}", &twin);
    assert_int_equal(twin, -1);

    assert_int_equal(server_dma_read(ctx, 0x100), 0);
    /* the client's own commands cross the server's request on the wire */
    cl_get_info(fd, 2);
    cl_get_info(fd, 3);
    cl_answer_dma_read(fd, 0x100);
    assert_int_equal(ctx->tran->recv_reply(ctx, &reply), 0);
    assert_int_equal(reply.hdr.msg_id, 0x100);
    assert_int_equal(reply.body_len,
                     sizeof(struct vfio_user_dma_region_access) + 8);
    assert_int_equal(reply.body[reply.body_len - 1], 0xab);
    proto_msg_free(&reply);

    /* ...and are served afterwards, in order */
    shutdown(fd, SHUT_WR);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    cl_expect_reply(fd, 2, false);
    cl_expect_reply(fd, 3, false);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_sock_too_many_racing_commands(void **state)
{
    proto_msg_t reply = PROTO_MSG_INIT;
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d, 0);
    unsigned i;
    int twin;
    int fd;

    (void)state;
    fd = cl_attach(ctx, &d, "{}", &twin);
    assert_int_equal(server_dma_read(ctx, 0x100), 0);
    for (i = 0; i <= TRAN_BACKLOG_MAX; i++) {
        cl_get_info(fd, (uint16_t)(10 + i));
    }
    assert_int_equal(ctx->tran->recv_reply(ctx, &reply), -ENOBUFS);
    assert_true(d.errs > 0);
    close(fd);
    /* the parked commands are freed with the connection */
    vfu_destroy_ctx(ctx);
}

static void
test_sock_reply_timeout(void **state)
{
    proto_msg_t reply = PROTO_MSG_INIT;
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d, 50);
    int twin;
    int fd;

    (void)state;
    fd = cl_attach(ctx, &d, "{}", &twin);
    assert_int_equal(server_dma_read(ctx, 0x100), 0);
    assert_int_equal(ctx->tran->recv_reply(ctx, &reply), -ETIMEDOUT);
    close(fd);
    assert_int_equal(ctx->tran->recv_reply(ctx, &reply), -ENOTCONN);
    vfu_destroy_ctx(ctx);
}

/*
 * A client that stops reading must not hang the server: a DMA command or
 * a reply that finds no room within the context's timeout gives up with
 * ETIMEDOUT instead of blocking in the send.
 */
static void
test_sock_client_never_reads(void **state)
{
    const size_t len = 4u << 20; /* more than the socket buffers hold */
    struct vfio_user_dma_region_access dwa = {.addr = 0x2000, .count = len};
    struct vfio_user_header h, req;
    struct iovec iov[2];
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d, 100);
    uint8_t *data = calloc(1, len);
    int twin;
    int fd;

    (void)state;
    assert_non_null(data);
    fd = cl_attach(ctx, &d, "{}", &twin);
    iov[0] = (struct iovec){.iov_base = &dwa, .iov_len = sizeof(dwa)};
    iov[1] = (struct iovec){.iov_base = data, .iov_len = len};
    proto_hdr_cmd(&h, 0x300, VFIO_USER_DMA_WRITE, sizeof(dwa) + len, false);
    assert_int_equal(ctx->tran->send_cmd(ctx, &h, iov, 2), -ETIMEDOUT);
    proto_hdr_cmd(&req, 7, VFIO_USER_REGION_READ, 16, false);
    proto_hdr_reply(&h, &req, len, 0);
    assert_int_equal(ctx->tran->send(ctx, &h, &iov[1], 1, NULL, 0),
                     -ETIMEDOUT);
    close(fd);
    vfu_destroy_ctx(ctx);
    free(data);
}

static void
test_sock_twin_socket(void **state)
{
    proto_msg_t reply = PROTO_MSG_INIT;
    struct pollfd p;
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d, 0);
    struct vfio_user_header h;
    int twin;
    int fd;

    (void)state;
    fd = cl_attach(ctx, &d,
                   "{\"capabilities\":{\"twin_socket\":{\"supported\":true}}}",
                   &twin);
    assert_true(twin >= 0);

    assert_int_equal(server_dma_read(ctx, 0x200), 0);
    /* the request went to the twin socket, not the main one */
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
    cl_answer_dma_read(twin, 0x200);
    assert_int_equal(ctx->tran->recv_reply(ctx, &reply), 0);
    assert_int_equal(reply.hdr.msg_id, 0x200);
    proto_msg_free(&reply);

    /* a command on the twin socket is a protocol error */
    proto_hdr_cmd(&h, 9, VFIO_USER_DEVICE_RESET, 0, false);
    cl_send(twin, &h, NULL, 0);
    assert_int_equal(ctx->tran->recv_reply(ctx, &reply), -EPROTO);

    /* the main socket still works */
    cl_get_info(fd, 4);
    shutdown(fd, SHUT_WR);
    assert_int_equal(vfu_run_ctx(ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    cl_expect_reply(fd, 4, false);
    close(twin);
    close(fd);
    vfu_destroy_ctx(ctx);
}

static void
test_sock_send_after_detach(void **state)
{
    struct dev d;
    vfu_ctx_t *ctx = new_ctx(&d, 0);
    proto_msg_t msg = PROTO_MSG_INIT;

    (void)state;
    assert_int_equal(server_dma_read(ctx, 1), -ENOTCONN);
    assert_int_equal(ctx->tran->recv_reply(ctx, &msg), -ENOTCONN);
    assert_int_equal(ctx->tran->recv(ctx, &msg, true), -ENOTCONN);
    vfu_destroy_ctx(ctx);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_fd_setup, tu_fd_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sock_reply_after_racing_commands),
        T(test_sock_too_many_racing_commands),
        T(test_sock_reply_timeout),
        T(test_sock_client_never_reads),
        T(test_sock_twin_socket),
        T(test_sock_send_after_detach),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
