/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_vmm_util.h - fixtures shared by the fake VMM's tests
 * (test_vmm_mem.c, test_vmm_irq.c): the gpio device with one client
 * in-process or over a socket, a scripted fake server on a socketpair,
 * and wire/log recorders.
 */
#ifndef TEST_VMM_UTIL_H
#define TEST_VMM_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/testutil.h"

#include "devices.h"
#include "proto/proto.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/vmm.h"

#define TV_UNUSED __attribute__((unused))

/* ------------------------------------------------------------------ */
/* Wire and log recorders                                              */
/* ------------------------------------------------------------------ */

typedef struct tv_wire {
    unsigned out[VFIO_USER_MAX];
    unsigned in[VFIO_USER_MAX];
    size_t out_fds[VFIO_USER_MAX]; /* fds sent with each command */
} tv_wire_t;

static TV_UNUSED void
tv_wire_cb(void *arg, bool outgoing, const struct vfio_user_header *hdr,
           const void *body, size_t len, size_t nr_fds)
{
    tv_wire_t *w = arg;

    (void)body;
    (void)len;
    if (hdr->cmd >= VFIO_USER_MAX) {
        return;
    }
    if (outgoing) {
        w->out[hdr->cmd]++;
        w->out_fds[hdr->cmd] += nr_fds;
    } else {
        w->in[hdr->cmd]++;
    }
}

typedef struct tv_log {
    unsigned n;
    char last[256];
} tv_log_t;

static TV_UNUSED void
tv_log_cb(void *arg, int level, const char *msg)
{
    tv_log_t *l = arg;

    (void)level;
    l->n++;
    snprintf(l->last, sizeof(l->last), "%s", msg);
}

/* ------------------------------------------------------------------ */
/* A device with one client, in-process or on a socket                 */
/* ------------------------------------------------------------------ */

typedef struct tv_fx {
    bool sock;
    vfu_device_t dev;
    pthread_t thread;
    bool thread_running;
    bool client_came;
    char path[128];
    vmm_t *vmm;
    tv_wire_t wire;
    tv_log_t log;
} tv_fx_t;

/*
 * The server's thread: a context is single-threaded, so only this thread
 * touches it until it is joined.  It ends when the client goes away.
 */
static TV_UNUSED void *
tv_server_main(void *arg)
{
    tv_fx_t *fx = arg;

    if (vfu_attach_ctx(fx->dev.ctx) < 0) {
        return NULL;
    }
    for (;;) {
        if (vfu_run_ctx(fx->dev.ctx) < 0 && errno != EINTR &&
            errno != EBUSY) {
            break;
        }
    }
    return NULL;
}

/*
 * Connect a client to fx->dev, already opened by the caller (with
 * fx->path and fx->sock set for a socket).
 */
static TV_UNUSED int
tv_fx_open_ctx(tv_fx_t *fx, bool sock, const vmm_opts_t *opts)
{
    int rc;

    if (!sock) {
        rc = vmm_attach_inproc(fx->dev.ctx, opts, &fx->vmm);
    } else {
        if (pthread_create(&fx->thread, NULL, tv_server_main, fx) != 0) {
            return -EAGAIN;
        }
        fx->thread_running = true;
        rc = vmm_connect(fx->path, opts, &fx->vmm);
        fx->client_came = rc != -ENOENT && rc != -ECONNREFUSED;
    }
    if (rc == 0) {
        vmm_set_trace_hook(fx->vmm, tv_wire_cb, &fx->wire);
        vmm_set_log(fx->vmm, tv_log_cb, &fx->log);
    }
    return rc;
}

/* Open the registry's @device and connect a client to it. */
static TV_UNUSED int
tv_fx_open(tv_fx_t *fx, const char *device, bool sock, const vmm_opts_t *opts)
{
    int rc;

    memset(fx, 0, sizeof(*fx));
    fx->sock = sock;
    if (!sock) {
        rc = vfu_device_open(device, VFU_TRANS_EXT_INPROC, NULL,
                             LIBVFIO_USER_FLAG_ATTACH_NB, &fx->dev);
    } else {
        snprintf(fx->path, sizeof(fx->path), "%s", tu_sock_path("vmm"));
        rc = vfu_device_open(device, VFU_TRANS_SOCK, fx->path, 0, &fx->dev);
    }
    if (rc < 0) {
        return rc;
    }
    return tv_fx_open_ctx(fx, sock, opts);
}

static TV_UNUSED void
tv_fx_close(tv_fx_t *fx)
{
    vmm_close(fx->vmm);
    fx->vmm = NULL;
    if (fx->thread_running) {
        if (!fx->client_came) {
            /* a client that comes and goes unblocks the server's attach */
            vmm_t *v = NULL;
            vmm_opts_t o = {.no_negotiate = true};

            vmm_connect(fx->path, &o, &v);
            vmm_close(v);
        }
        pthread_join(fx->thread, NULL);
        fx->thread_running = false;
    }
    vfu_device_close(&fx->dev);
}

/* ------------------------------------------------------------------ */
/* A scripted server on a socketpair                                   */
/* ------------------------------------------------------------------ */

/*
 * Everything a fake server sends is written before the client asks: the
 * socket buffers it, and the client's ids are known in advance, so no
 * thread is needed and every run is the same.
 */
static TV_UNUSED void
tv_send(int sfd, uint16_t id, uint16_t cmd, uint32_t flags, uint32_t err,
        const void *body, size_t len, const int *fds, size_t nr_fds)
{
    struct vfio_user_header h = {.msg_id = id,
                                 .cmd = cmd,
                                 .msg_size = (uint32_t)(16 + len),
                                 .flags = flags,
                                 .error_no = err};
    struct iovec iov = {.iov_base = (void *)body, .iov_len = len};

    assert_int_equal(
        proto_io_send(sfd, &h, &iov, len > 0 ? 1 : 0, fds, nr_fds, -1), 0);
}

static TV_UNUSED void
tv_reply(int sfd, uint16_t id, uint16_t cmd, const void *body, size_t len)
{
    tv_send(sfd, id, cmd, VFIO_USER_F_TYPE_REPLY, 0, body, len, NULL, 0);
}

static TV_UNUSED void
tv_error(int sfd, uint16_t id, uint16_t cmd, uint32_t err)
{
    tv_send(sfd, id, cmd, VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, err,
            NULL, 0, NULL, 0);
}

static TV_UNUSED void
tv_cmd(int sfd, uint16_t id, uint16_t cmd, const void *body, size_t len)
{
    tv_send(sfd, id, cmd, VFIO_USER_F_TYPE_COMMAND, 0, body, len, NULL, 0);
}

/*
 * A client on a socketpair that skips negotiation (so its caps are its
 * own proposal); *@sfd is the server's end.
 */
static TV_UNUSED vmm_t *
tv_fake_client(int *sfd, const vmm_opts_t *in, tv_log_t *log)
{
    vmm_opts_t opts = {.timeout_ms = 1000};
    vmm_t *vmm = NULL;
    int sv[2];

    if (in != NULL) {
        opts = *in;
    }
    opts.no_negotiate = true;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    assert_int_equal(vmm_connect_fd(sv[0], &opts, &vmm), 0);
    if (log != NULL) {
        vmm_set_log(vmm, tv_log_cb, log);
    }
    *sfd = sv[1];
    return vmm;
}

/* What the client sent: up to @max messages (free them). */
static TV_UNUSED size_t
tv_drain(int sfd, proto_msg_t *msgs, size_t max)
{
    proto_caps_t caps;
    size_t n = 0;

    proto_caps_default(&caps);
    caps.max_msg_fds = 16;
    caps.max_data_xfer_size = PROTO_MAX_DATA_XFER_CEIL;
    while (n < max && proto_io_recv(sfd, &msgs[n], &caps, true, 100) == 0) {
        n++;
    }
    return n;
}

static TV_UNUSED void
tv_free_all(proto_msg_t *msgs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        proto_msg_free(&msgs[i]);
    }
}

/* Number of mappings of this process whose line in /proc/self/maps has @s. */
static TV_UNUSED int
tv_count_maps(const char *s)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char line[512];
    int n = 0;

    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, s) != NULL) {
            n++;
        }
    }
    fclose(f);
    return n;
}

#endif /* TEST_VMM_UTIL_H */
