/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_proto_io.c - proto_io_send/recv over real socketpairs and pipes:
 * fd passing, fd limits (and that rejected fds are closed), EOF at every
 * point, oversize drain, non-blocking reads, timeouts, big messages.
 */

#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_proto_util.h"

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_fd_setup, tu_fd_teardown)
#define TIMEOUT_MS 5000

static void
sp(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
}

static void
close2(int sv[2])
{
    close(sv[0]);
    close(sv[1]);
}

/* send a REGION_WRITE of @count bytes of pattern on @fd, within @timeout_ms */
static int
send_write_timed(int fd, uint16_t id, uint32_t count, const int *fds,
                 size_t nfds, int timeout_ms)
{
    struct vfio_user_region_access ra = {.offset = 0x10, .region = 2,
                                         .count = count};
    struct vfio_user_header h;
    struct iovec iov[2];
    uint8_t *data = malloc(count > 0 ? count : 1);
    uint32_t i;
    int ret;

    assert_non_null(data);
    for (i = 0; i < count; i++) {
        data[i] = (uint8_t)(i * 7 + 1);
    }
    proto_hdr_cmd(&h, id, VFIO_USER_REGION_WRITE, sizeof(ra) + count, false);
    iov[0].iov_base = &ra;
    iov[0].iov_len = sizeof(ra);
    iov[1].iov_base = data;
    iov[1].iov_len = count;
    ret = proto_io_send(fd, &h, iov, 2, fds, nfds, timeout_ms);
    free(data);
    return ret;
}

/* the same, waiting as long as it takes */
static int
send_write(int fd, uint16_t id, uint32_t count, const int *fds, size_t nfds)
{
    return send_write_timed(fd, id, count, fds, nfds, -1);
}

static void
assert_write_msg(const proto_msg_t *m, uint16_t id, uint32_t count)
{
    struct vfio_user_region_access ra;
    uint32_t i;

    assert_int_equal(m->hdr.msg_id, id);
    assert_int_equal(m->hdr.cmd, VFIO_USER_REGION_WRITE);
    assert_int_equal(m->body_len, sizeof(ra) + count);
    memcpy(&ra, m->body, sizeof(ra));
    assert_int_equal(ra.count, count);
    for (i = 0; i < count; i++) {
        assert_int_equal(m->body[sizeof(ra) + i], (uint8_t)(i * 7 + 1));
    }
}

/* raw bytes on the wire, for malformed input */
static void
raw(int fd, const void *buf, size_t len)
{
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

/* ------------------------------------------------------------------ */

static void
test_io_roundtrip_socket(void **state)
{
    proto_caps_t caps;
    proto_msg_t m;
    int sv[2];

    (void)state;
    proto_caps_default(&caps);
    sp(sv);
    assert_int_equal(send_write(sv[0], 42, 100, NULL, 0), 0);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS), 0);
    assert_write_msg(&m, 42, 100);
    assert_int_equal(m.nr_fds, 0);
    assert_int_equal(proto_check_request(&m, &caps, PROTO_C2S), 0);
    proto_msg_free(&m);
    close2(sv);
}

static void
test_io_fds_passed(void **state)
{
    proto_caps_t caps;
    proto_msg_t m;
    int sv[2], fds[2];
    uint64_t v = 0;
    int efd, mfd;
    char *p;

    (void)state;
    proto_caps_default(&caps);
    caps.max_msg_fds = 4;
    sp(sv);
    fds[0] = memfd_create("test", MFD_CLOEXEC);
    fds[1] = eventfd(0, EFD_CLOEXEC);
    assert_true(fds[0] >= 0 && fds[1] >= 0);
    assert_int_equal(ftruncate(fds[0], 4096), 0);
    assert_int_equal(send_write(sv[0], 1, 4, fds, 2), 0);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS), 0);
    assert_int_equal(m.nr_fds, 2);
    assert_write_msg(&m, 1, 4);

    /* the received fds are the same objects, and close-on-exec */
    mfd = proto_msg_take_fd(&m, 0);
    efd = proto_msg_take_fd(&m, 1);
    assert_true(mfd >= 0 && efd >= 0);
    assert_true(fcntl(mfd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(efd, F_GETFD) & FD_CLOEXEC);
    p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    assert_true(p != MAP_FAILED);
    p[0] = 'x';
    assert_int_equal(pread(fds[0], &v, 1, 0), 1);
    assert_int_equal((char)v, 'x');
    munmap(p, 4096);
    assert_int_equal(eventfd_write(efd, 5), 0);
    assert_int_equal(eventfd_read(fds[1], &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(proto_msg_free(&m), 0);
    close(mfd);
    close(efd);
    close(fds[0]);
    close(fds[1]);
    close2(sv);
}

static void
test_io_untaken_fds_closed_by_free(void **state)
{
    proto_caps_t caps;
    proto_msg_t m;
    int sv[2], efd, before;

    (void)state;
    proto_caps_default(&caps);
    sp(sv);
    efd = eventfd(0, EFD_CLOEXEC);
    assert_int_equal(send_write(sv[0], 1, 0, &efd, 1), 0);
    before = tu_count_fds();
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS), 0);
    assert_int_equal(tu_count_fds(), before + 1);
    assert_int_equal(proto_msg_free(&m), 1);
    assert_int_equal(tu_count_fds(), before);
    close(efd);
    close2(sv);
}

static void
test_io_too_many_fds_rejected_and_closed(void **state)
{
    proto_caps_t caps;
    proto_msg_t m;
    int sv[2], fds[3], i, before;

    (void)state;
    proto_caps_default(&caps); /* max_msg_fds 1 */
    sp(sv);
    for (i = 0; i < 3; i++) {
        fds[i] = eventfd(0, EFD_CLOEXEC);
        assert_true(fds[i] >= 0);
    }
    assert_int_equal(send_write(sv[0], 1, 8, fds, 3), 0);
    assert_int_equal(send_write(sv[0], 2, 8, NULL, 0), 0);
    before = tu_count_fds();
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS),
                     -EINVAL);
    assert_null(m.body);
    assert_null(m.fds);
    assert_int_equal(tu_count_fds(), before); /* nothing leaked */
    /* the body was drained: the next message is intact */
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS), 0);
    assert_write_msg(&m, 2, 8);
    proto_msg_free(&m);

    /* max_msg_fds 0: any fd is too many */
    caps.max_msg_fds = 0;
    assert_int_equal(send_write(sv[0], 3, 0, fds, 1), 0);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS),
                     -EINVAL);
    assert_int_equal(tu_count_fds(), before);
    for (i = 0; i < 3; i++) {
        close(fds[i]);
    }
    close2(sv);
}

/* send @len bytes of @buf with @fd attached, as one sendmsg */
static void
send_with_fd(int sock, const void *buf, size_t len, int fd)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr mh = {.msg_iov = &v, .msg_iovlen = 1};
    struct cmsghdr *c;

    memset(&ctl, 0, sizeof(ctl));
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);
    c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)len);
}

static void
test_io_fd_on_later_chunk(void **state)
{
    struct vfio_user_header h;
    proto_caps_t caps;
    proto_msg_t m;
    uint8_t body[20] = {0};
    int sv[2], e1, e2, before;

    (void)state;
    proto_caps_default(&caps);
    sp(sv);
    e1 = eventfd(0, EFD_CLOEXEC);
    e2 = eventfd(0, EFD_CLOEXEC);
    /* a peer may attach the fd to the body instead of the header */
    proto_hdr_cmd(&h, 1, VFIO_USER_REGION_WRITE, sizeof(body), false);
    raw(sv[0], &h, sizeof(h));
    send_with_fd(sv[0], body, sizeof(body), e1);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS), 0);
    assert_int_equal(m.nr_fds, 1);
    assert_int_equal(proto_msg_free(&m), 1);

    /* one fd on the header and one on the body: two, over the limit */
    before = tu_count_fds();
    send_with_fd(sv[0], &h, sizeof(h), e1);
    send_with_fd(sv[0], body, sizeof(body), e2);
    assert_int_equal(send_write(sv[0], 2, 4, NULL, 0), 0);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS),
                     -EINVAL);
    assert_int_equal(tu_count_fds(), before);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS), 0);
    assert_write_msg(&m, 2, 4);
    proto_msg_free(&m);
    close(e1);
    close(e2);
    close2(sv);
}

static void
test_io_eof_before_message(void **state)
{
    proto_caps_t caps;
    proto_msg_t m;
    int sv[2];

    (void)state;
    proto_caps_default(&caps);
    sp(sv);
    close(sv[0]);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS),
                     -ENOTCONN);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, true, TIMEOUT_MS),
                     -ENOTCONN);
    close(sv[1]);
}

static void
test_io_eof_mid_header(void **state)
{
    struct vfio_user_header h;
    proto_caps_t caps;
    proto_msg_t m;
    int sv[2];

    (void)state;
    proto_caps_default(&caps);
    sp(sv);
    proto_hdr_cmd(&h, 1, VFIO_USER_DEVICE_RESET, 0, false);
    raw(sv[0], &h, 10);
    close(sv[0]);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS),
                     -ECONNRESET);
    close(sv[1]);
}

static void
test_io_eof_mid_body_closes_fds(void **state)
{
    struct vfio_user_header h;
    proto_caps_t caps;
    proto_msg_t m;
    struct iovec iov;
    uint8_t body[8] = {0};
    int sv[2], efd, before;

    (void)state;
    proto_caps_default(&caps);
    sp(sv);
    efd = eventfd(0, EFD_CLOEXEC);
    /* claims 64 bytes of body, sends 8 and an fd, then hangs up */
    proto_hdr_cmd(&h, 1, VFIO_USER_REGION_WRITE, 64, false);
    iov.iov_base = body;
    iov.iov_len = sizeof(body);
    assert_int_equal(proto_io_send(sv[0], &h, &iov, 1, &efd, 1, -1), 0);
    close(sv[0]);
    before = tu_count_fds();
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS),
                     -ECONNRESET);
    assert_int_equal(tu_count_fds(), before);
    close(efd);
    close(sv[1]);
}

static void
test_io_oversize_drained(void **state)
{
    struct vfio_user_header h;
    proto_caps_t caps;
    proto_msg_t m;
    struct iovec iov;
    uint8_t *junk;
    size_t len;
    int sv[2];

    (void)state;
    proto_caps_default(&caps);
    caps.max_data_xfer_size = 4096; /* max message ~40 KiB */
    len = proto_msg_max_size(&caps) + 1 - 16;
    junk = calloc(1, len);
    assert_non_null(junk);
    sp(sv);
    /* ~24 KiB: fits the socket buffer, so no writer thread is needed */
    proto_hdr_cmd(&h, 1, VFIO_USER_REGION_WRITE, len, false);
    iov.iov_base = junk;
    iov.iov_len = len;
    assert_int_equal(proto_io_send(sv[0], &h, &iov, 1, NULL, 0, -1), 0);
    assert_int_equal(send_write(sv[0], 2, 4, NULL, 0), 0);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS),
                     -E2BIG);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS), 0);
    assert_write_msg(&m, 2, 4);
    proto_msg_free(&m);
    free(junk);
    close2(sv);
}

static void
test_io_bad_header(void **state)
{
    struct vfio_user_header h;
    proto_caps_t caps;
    proto_msg_t m;
    uint8_t body[4] = {1, 2, 3, 4};
    int sv[2];

    (void)state;
    proto_caps_default(&caps);
    sp(sv);
    /* unknown flag bits: drained, so the stream stays in step */
    proto_hdr_cmd(&h, 1, VFIO_USER_REGION_WRITE, sizeof(body), false);
    h.flags |= 0x100;
    raw(sv[0], &h, sizeof(h));
    raw(sv[0], body, sizeof(body));
    assert_int_equal(send_write(sv[0], 2, 4, NULL, 0), 0);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS),
                     -EINVAL);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS), 0);
    assert_write_msg(&m, 2, 4);
    proto_msg_free(&m);
    /* msg_size below the header */
    h.flags = 0;
    h.msg_size = 4;
    raw(sv[0], &h, sizeof(h));
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS),
                     -EINVAL);
    close2(sv);
}

static void
test_io_nonblock_eagain(void **state)
{
    proto_caps_t caps;
    proto_msg_t m;
    int sv[2], pfd[2];

    (void)state;
    proto_caps_default(&caps);
    sp(sv);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, true, TIMEOUT_MS),
                     -EAGAIN);
    assert_int_equal(send_write(sv[0], 5, 4, NULL, 0), 0);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, true, TIMEOUT_MS), 0);
    assert_write_msg(&m, 5, 4);
    proto_msg_free(&m);
    close2(sv);

    assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    assert_int_equal(proto_io_recv(pfd[0], &m, &caps, true, TIMEOUT_MS),
                     -EAGAIN);
    close2(pfd);
}

static void
test_io_timeout_mid_message(void **state)
{
    struct vfio_user_header h;
    proto_caps_t caps;
    proto_msg_t m;
    int sv[2];

    (void)state;
    proto_caps_default(&caps);
    sp(sv);
    proto_hdr_cmd(&h, 1, VFIO_USER_REGION_WRITE, 20, false);
    raw(sv[0], &h, sizeof(h)); /* the body never comes */
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, 20), -ETIMEDOUT);
    assert_null(m.body);
    close2(sv);
}

static void
test_io_pipe(void **state)
{
    proto_caps_t caps;
    proto_msg_t m;
    int pfd[2], efd;

    (void)state;
    proto_caps_default(&caps);
    assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    assert_int_equal(send_write(pfd[1], 9, 33, NULL, 0), 0);
    assert_int_equal(proto_io_recv(pfd[0], &m, &caps, false, TIMEOUT_MS), 0);
    assert_write_msg(&m, 9, 33);
    proto_msg_free(&m);
    /* a pipe cannot carry fds */
    efd = eventfd(0, EFD_CLOEXEC);
    assert_int_equal(send_write(pfd[1], 9, 0, &efd, 1), -EINVAL);
    close(efd);
    close(pfd[1]);
    assert_int_equal(proto_io_recv(pfd[0], &m, &caps, false, TIMEOUT_MS),
                     -ENOTCONN);
    close(pfd[0]);
}

static void
test_io_send_peer_gone(void **state)
{
    int sv[2], pfd[2];

    (void)state;
    sp(sv);
    close(sv[1]);
    assert_int_equal(send_write(sv[0], 1, 4, NULL, 0), -EPIPE);
    close(sv[0]);
    /* a pipe without reader: EPIPE, and no SIGPIPE kills us */
    assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    close(pfd[0]);
    assert_int_equal(send_write(pfd[1], 1, 4, NULL, 0), -EPIPE);
    assert_int_equal(send_write(pfd[1], 1, 4, NULL, 0), -EPIPE);
    close(pfd[1]);
}

static void
test_io_send_bad_args(void **state)
{
    struct vfio_user_header h;
    int sv[2], bad = -1;

    (void)state;
    sp(sv);
    proto_hdr_cmd(&h, 1, VFIO_USER_DEVICE_RESET, 0, false);
    assert_int_equal(proto_io_send(sv[0], NULL, NULL, 0, NULL, 0, -1), -EINVAL);
    assert_int_equal(proto_io_send(sv[0], &h, NULL, 1, NULL, 0, -1), -EINVAL);
    assert_int_equal(proto_io_send(sv[0], &h, NULL, 0, NULL, 1, -1), -EINVAL);
    assert_int_equal(proto_io_send(sv[0], &h, NULL, 0, &bad, 1, -1), -EBADF);
    assert_int_equal(proto_io_send(sv[0], &h, NULL, 0, NULL, 0, -1), 0);
    close2(sv);
}

/* a writer on its own thread: a 1 MiB message does not fit the buffers */
struct big_writer {
    int fd;
    uint32_t count;
    int ret;
};

static void *
big_writer_main(void *arg)
{
    struct big_writer *w = arg;

    w->ret = send_write(w->fd, 77, w->count, NULL, 0);
    return NULL;
}

static void
test_io_big_message_partial_io(void **state)
{
    struct big_writer w;
    proto_caps_t caps;
    proto_msg_t m;
    pthread_t t;
    int sv[2];

    (void)state;
    proto_caps_default(&caps);
    sp(sv);
    w.fd = sv[0];
    w.count = (uint32_t)caps.max_data_xfer_size;
    w.ret = -1;
    assert_int_equal(pthread_create(&t, NULL, big_writer_main, &w), 0);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS), 0);
    pthread_join(t, NULL);
    assert_int_equal(w.ret, 0);
    assert_write_msg(&m, 77, w.count);
    assert_int_equal(proto_check_request(&m, &caps, PROTO_C2S), 0);
    proto_msg_free(&m);
    close2(sv);
}

static void
test_io_nonblocking_fd_blocking_call(void **state)
{
    struct big_writer w;
    proto_caps_t caps;
    proto_msg_t m;
    pthread_t t;
    int sv[2];

    (void)state;
    proto_caps_default(&caps);
    sp(sv);
    /* O_NONBLOCK fds on both ends: send and recv still move whole messages */
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    w.fd = sv[0];
    w.count = 512 * 1024;
    w.ret = -1;
    assert_int_equal(pthread_create(&t, NULL, big_writer_main, &w), 0);
    assert_int_equal(proto_io_recv(sv[1], &m, &caps, false, TIMEOUT_MS), 0);
    pthread_join(t, NULL);
    assert_int_equal(w.ret, 0);
    assert_write_msg(&m, 77, w.count);
    proto_msg_free(&m);
    close2(sv);
}

/* Larger than any socket or pipe buffer: a peer that never reads stops it. */
#define STUCK_COUNT (4u << 20)
#define SEND_TIMEOUT_MS 100

/*
 * A peer that never reads (a server flooding the client with commands
 * while ignoring its replies did that) used to block the sender forever;
 * with a timeout the send gives up, on blocking and O_NONBLOCK sockets
 * and pipes alike.
 */
static void
test_io_send_peer_never_reads_times_out(void **state)
{
    int sv[2], pfd[2];
    int nonblock;

    (void)state;
    for (nonblock = 0; nonblock < 2; nonblock++) {
        sp(sv);
        if (nonblock) {
            assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
        }
        assert_int_equal(send_write_timed(sv[0], 1, STUCK_COUNT, NULL, 0,
                                          SEND_TIMEOUT_MS),
                         -ETIMEDOUT);
        close2(sv);

        assert_int_equal(pipe2(pfd, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0)),
                         0);
        assert_int_equal(send_write_timed(pfd[1], 1, STUCK_COUNT, NULL, 0,
                                          SEND_TIMEOUT_MS),
                         -ETIMEDOUT);
        close2(pfd);
    }
    /* 0 never waits: a full socket fails at once */
    sp(sv);
    assert_int_equal(send_write_timed(sv[0], 1, STUCK_COUNT, NULL, 0, 0),
                     -ETIMEDOUT);
    close2(sv);
}

/* a writer with a timeout, for a reader that does read */
static void *
timed_writer_main(void *arg)
{
    struct big_writer *w = arg;

    w->ret = send_write_timed(w->fd, 78, w->count, NULL, 0, TIMEOUT_MS);
    return NULL;
}

/*
 * With a timeout, a message larger than the buffers still arrives whole
 * when the peer reads: over a socket (MSG_DONTWAIT and waits) and over a
 * blocking pipe (written at most PIPE_BUF bytes at a time).
 */
static void
test_io_send_timeout_reader_gets_whole_message(void **state)
{
    struct big_writer w;
    proto_caps_t caps;
    proto_msg_t m;
    pthread_t t;
    int fds[2];
    int pipe_too;

    (void)state;
    proto_caps_default(&caps);
    for (pipe_too = 0; pipe_too < 2; pipe_too++) {
        if (pipe_too) {
            assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        } else {
            sp(fds);
        }
        w.fd = fds[1];
        w.count = (uint32_t)caps.max_data_xfer_size;
        w.ret = -1;
        assert_int_equal(pthread_create(&t, NULL, timed_writer_main, &w), 0);
        assert_int_equal(proto_io_recv(fds[0], &m, &caps, false, TIMEOUT_MS),
                         0);
        pthread_join(t, NULL);
        assert_int_equal(w.ret, 0);
        assert_write_msg(&m, 78, w.count);
        proto_msg_free(&m);
        close2(fds);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_io_roundtrip_socket),
        T(test_io_fds_passed),
        T(test_io_untaken_fds_closed_by_free),
        T(test_io_too_many_fds_rejected_and_closed),
        T(test_io_fd_on_later_chunk),
        T(test_io_eof_before_message),
        T(test_io_eof_mid_header),
        T(test_io_eof_mid_body_closes_fds),
        T(test_io_oversize_drained),
        T(test_io_bad_header),
        T(test_io_nonblock_eagain),
        T(test_io_timeout_mid_message),
        T(test_io_pipe),
        T(test_io_send_peer_gone),
        T(test_io_send_bad_args),
        T(test_io_big_message_partial_io),
        T(test_io_nonblocking_fd_blocking_call),
        T(test_io_send_peer_never_reads_times_out),
        T(test_io_send_timeout_reader_gets_whole_message),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
