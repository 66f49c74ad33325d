/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_vmm.c - the fake VMM client: against the gpio sample device
 * in-process and over a UNIX socket (server in its own thread), against a
 * scripted hostile server on a socketpair, and the vfu-lspci tool.
 */

#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/testutil.h"

#include "devices.h"
#include "gpio/gpio.h"
#include "proto/proto.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/vmm.h"

#define BAR0 VFU_PCI_DEV_BAR0_REGION_IDX
#define BAR1 VFU_PCI_DEV_BAR1_REGION_IDX
#define BAR2 VFU_PCI_DEV_BAR2_REGION_IDX
#define CFG VFU_PCI_DEV_CFG_REGION_IDX

/* ------------------------------------------------------------------ */
/* Wire and log recorders                                              */
/* ------------------------------------------------------------------ */

typedef struct wire {
    unsigned out[VFIO_USER_MAX];
    unsigned in[VFIO_USER_MAX];
    unsigned total_out, total_in;
} wire_t;

static void
wire_cb(void *arg, bool outgoing, const struct vfio_user_header *hdr,
        const void *body, size_t len, size_t nr_fds)
{
    wire_t *w = arg;

    (void)body;
    (void)len;
    (void)nr_fds;
    if (outgoing) {
        w->total_out++;
        if (hdr->cmd < VFIO_USER_MAX) {
            w->out[hdr->cmd]++;
        }
    } else {
        w->total_in++;
        if (hdr->cmd < VFIO_USER_MAX) {
            w->in[hdr->cmd]++;
        }
    }
}

typedef struct logcap {
    unsigned n;
    char last[256];
} logcap_t;

static void
log_cb(void *arg, int level, const char *msg)
{
    logcap_t *l = arg;

    (void)level;
    l->n++;
    snprintf(l->last, sizeof(l->last), "%s", msg);
}

/* ------------------------------------------------------------------ */
/* Fixture: the gpio device with one client, in-process or on a socket */
/* ------------------------------------------------------------------ */

typedef struct fx {
    bool sock;
    vfu_device_t dev;
    pthread_t thread;
    bool thread_running;
    bool client_came; /* the server thread got past its accept */
    char path[128];
    vmm_t *vmm;
    wire_t wire;
    logcap_t log;
} fx_t;

/*
 * The server's thread: a context is single-threaded, so only this thread
 * touches it until it is joined.  Blocking attach and run: it ends when
 * the client goes away.
 */
static void *
server_main(void *arg)
{
    fx_t *fx = arg;

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

static int
fx_open(fx_t *fx, bool sock, const vmm_opts_t *opts)
{
    int rc;

    memset(fx, 0, sizeof(*fx));
    fx->sock = sock;
    if (!sock) {
        rc = vfu_device_open("gpio", VFU_TRANS_EXT_INPROC, NULL,
                             LIBVFIO_USER_FLAG_ATTACH_NB, &fx->dev);
        if (rc < 0) {
            return rc;
        }
        rc = vmm_attach_inproc(fx->dev.ctx, opts, &fx->vmm);
    } else {
        snprintf(fx->path, sizeof(fx->path), "%s", tu_sock_path("vmm"));
        rc = vfu_device_open("gpio", VFU_TRANS_SOCK, fx->path, 0, &fx->dev);
        if (rc < 0) {
            return rc;
        }
        if (pthread_create(&fx->thread, NULL, server_main, fx) != 0) {
            return -EAGAIN;
        }
        fx->thread_running = true;
        rc = vmm_connect(fx->path, opts, &fx->vmm);
        fx->client_came = rc != -ENOENT && rc != -ECONNREFUSED;
    }
    if (rc == 0) {
        vmm_set_trace_hook(fx->vmm, wire_cb, &fx->wire);
        vmm_set_log(fx->vmm, log_cb, &fx->log);
    }
    return rc;
}

static void
fx_close(fx_t *fx)
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

static int
setup_common(void **state, bool sock)
{
    fx_t *fx = calloc(1, sizeof(*fx));

    tu_fd_setup(state);
    if (fx == NULL || fx_open(fx, sock, NULL) < 0) {
        if (fx != NULL) {
            fx_close(fx);
        }
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int
setup_inproc(void **state)
{
    return setup_common(state, false);
}

static int
setup_sock(void **state)
{
    return setup_common(state, true);
}

static int
teardown(void **state)
{
    fx_t *fx = *state;

    fx_close(fx);
    free(fx);
    return tu_fd_teardown(state);
}

/* ------------------------------------------------------------------ */
/* Against the gpio device (each runs in-process and over a socket)    */
/* ------------------------------------------------------------------ */

static void
test_negotiate_defaults(void **state)
{
    fx_t *fx = *state;
    const vmm_caps_t *c = vmm_get_caps(fx->vmm);

    assert_non_null(c);
    assert_int_equal(c->major, 0);
    assert_int_equal(c->minor, 0);
    /* we propose 16, the server takes 8 */
    assert_int_equal(c->max_msg_fds, 8);
    assert_int_equal(c->max_data_xfer_size, 1u << 20);
    assert_int_equal(c->pgsizes, 4096);
    assert_false(c->write_multiple);
    assert_false(c->twin_socket);
    assert_true(vmm_is_connected(fx->vmm));
    assert_int_equal(vmm_next_id(fx->vmm), 1); /* VERSION took id 0 */
}

static void
test_device_info_cached(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_device_info info;

    assert_int_equal(vmm_device_info(fx->vmm, &info), 0);
    assert_int_equal(info.flags, VFIO_DEVICE_FLAGS_RESET |
                                     VFIO_DEVICE_FLAGS_PCI);
    assert_int_equal(info.num_regions, VFU_PCI_DEV_NUM_REGIONS);
    assert_int_equal(info.num_irqs, VFU_DEV_NUM_IRQS);
    memset(&info, 0, sizeof(info));
    assert_int_equal(vmm_device_info(fx->vmm, &info), 0);
    assert_int_equal(info.num_regions, VFU_PCI_DEV_NUM_REGIONS);
    /* one message each way, each seen once by the hook */
    assert_int_equal(fx->wire.out[VFIO_USER_DEVICE_GET_INFO], 1);
    assert_int_equal(fx->wire.in[VFIO_USER_DEVICE_GET_INFO], 1);
    assert_int_equal(fx->wire.total_out, 1);
    assert_int_equal(fx->wire.total_in, 1);
}

static void
test_region_info_gpio(void **state)
{
    fx_t *fx = *state;
    const vmm_region_t *r, *again;

    assert_int_equal(vmm_region_info(fx->vmm, BAR0, &r), 0);
    assert_int_equal(r->index, BAR0);
    assert_int_equal(r->size, GPIO_BAR0_SIZE);
    assert_int_equal(r->flags & (VFIO_REGION_INFO_FLAG_READ |
                                 VFIO_REGION_INFO_FLAG_WRITE |
                                 VFIO_REGION_INFO_FLAG_MMAP),
                     VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
    assert_int_equal(r->fd, -1);
    assert_int_equal(r->nr_areas, 0);
    assert_false(r->has_type);

    assert_int_equal(vmm_region_info(fx->vmm, BAR0, &again), 0);
    assert_ptr_equal(r, again);
    assert_int_equal(fx->wire.out[VFIO_USER_DEVICE_GET_REGION_INFO], 1);

    assert_int_equal(vmm_region_info(fx->vmm, BAR1, &r), 0);
    assert_int_equal(r->size, 0);
    assert_int_equal(vmm_region_info(fx->vmm, CFG, &r), 0);
    assert_int_equal(r->size, PCI_CFG_SPACE_SIZE);

    /* the server refuses an index it does not have; we refuse absurd ones */
    assert_int_equal(vmm_region_info(fx->vmm, 200, &r), -EINVAL);
    assert_null(r);
    assert_int_equal(vmm_region_info(fx->vmm, 1u << 20, &r), -EINVAL);
    assert_true(vmm_is_connected(fx->vmm));
}

static void
test_irq_info_gpio(void **state)
{
    fx_t *fx = *state;
    struct vfio_irq_info irq;

    assert_int_equal(vmm_irq_info(fx->vmm, VFIO_PCI_INTX_IRQ_INDEX, &irq), 0);
    assert_int_equal(irq.index, VFIO_PCI_INTX_IRQ_INDEX);
    assert_int_equal(irq.count, 1);
    assert_true(irq.flags & VFIO_IRQ_INFO_EVENTFD);
    assert_int_equal(vmm_irq_info(fx->vmm, VFIO_PCI_MSIX_IRQ_INDEX, &irq), 0);
    assert_int_equal(irq.count, 0);
    assert_int_equal(vmm_irq_info(fx->vmm, VFIO_PCI_INTX_IRQ_INDEX, &irq), 0);
    assert_int_equal(fx->wire.out[VFIO_USER_DEVICE_GET_IRQ_INFO], 2);
    assert_int_equal(vmm_irq_info(fx->vmm, 77, &irq), -EINVAL);
}

static void
test_config_read_ids(void **state)
{
    fx_t *fx = *state;
    uint64_t v;

    assert_int_equal(vmm_config_read(fx->vmm, PCI_VENDOR_ID, 2, &v), 0);
    assert_int_equal(v, GPIO_VENDOR_ID);
    assert_int_equal(vmm_config_read(fx->vmm, PCI_DEVICE_ID, 2, &v), 0);
    assert_int_equal(v, GPIO_DEVICE_ID);
    assert_int_equal(vmm_config_read(fx->vmm, PCI_VENDOR_ID, 4, &v), 0);
    assert_int_equal(v, GPIO_VENDOR_ID | (GPIO_DEVICE_ID << 16));
    assert_int_equal(vmm_config_read(fx->vmm, PCI_REVISION_ID, 1, &v), 0);
    assert_int_equal(v, GPIO_REVISION);
    assert_int_equal(vmm_config_read(fx->vmm, PCI_CLASS_DEVICE, 2, &v), 0);
    assert_int_equal(v, (GPIO_CLASS_BASE << 8) | GPIO_CLASS_SUB);
    assert_int_equal(vmm_config_read(fx->vmm, PCI_STATUS, 2, &v), 0);
    assert_true(v & PCI_STATUS_CAP_LIST);
    assert_int_equal(vmm_config_read(fx->vmm, 0, 3, &v), -EINVAL);
    /* past the end of config space: the server says no */
    assert_int_equal(vmm_config_read(fx->vmm, PCI_CFG_SPACE_SIZE, 4, &v),
                     -EINVAL);
}

static void
test_bar_read_write(void **state)
{
    fx_t *fx = *state;
    uint64_t v;
    uint8_t buf[8];

    assert_int_equal(vmm_region_read_val(fx->vmm, BAR0, GPIO_REG_ID, 4, &v),
                     0);
    assert_int_equal(v, GPIO_ID_VALUE);
    assert_int_equal(
        vmm_region_write_val(fx->vmm, BAR0, GPIO_REG_SCRATCH, 4, 0xa5a55a5a),
        0);
    assert_int_equal(
        vmm_region_read_val(fx->vmm, BAR0, GPIO_REG_SCRATCH, 4, &v), 0);
    assert_int_equal(v, 0xa5a55a5a);
    assert_int_equal(
        vmm_region_write_val(fx->vmm, BAR0, GPIO_REG_SCRATCH + 1, 1, 0x11), 0);
    assert_int_equal(
        vmm_region_read_val(fx->vmm, BAR0, GPIO_REG_SCRATCH, 4, &v), 0);
    assert_int_equal(v, 0xa5a5115a);
    /* the raw bytes are little-endian */
    assert_int_equal(vmm_region_read(fx->vmm, BAR0, GPIO_REG_SCRATCH, buf, 4),
                     0);
    assert_int_equal(buf[0], 0x5a);
    assert_int_equal(buf[3], 0xa5);

    assert_int_equal(vmm_region_write_val(fx->vmm, BAR0, 0, 1, 0x100),
                     -ERANGE);
    assert_int_equal(vmm_region_read_val(fx->vmm, BAR0, 0, 5, &v), -EINVAL);
    /* beyond the BAR: the device refuses */
    assert_int_equal(vmm_region_read(fx->vmm, BAR0, GPIO_BAR0_SIZE - 2, buf,
                                     4),
                     -EINVAL);
    assert_int_equal(vmm_region_read(fx->vmm, BAR0, UINT64_MAX, buf, 4),
                     -EINVAL);
    assert_int_equal(vmm_region_read(fx->vmm, BAR0, 0, buf, 0), 0);
    assert_true(vmm_is_connected(fx->vmm));
}

static void
test_write_queue_individual(void **state)
{
    fx_t *fx = *state;
    uint32_t one = 1, two = 2, s = 0x1234;
    uint64_t v;

    assert_int_equal(
        vmm_region_write_queue(fx->vmm, BAR0, GPIO_REG_OUT_SET, &one, 4), 0);
    assert_int_equal(
        vmm_region_write_queue(fx->vmm, BAR0, GPIO_REG_OUT_SET, &two, 4), 0);
    assert_int_equal(
        vmm_region_write_queue(fx->vmm, BAR0, GPIO_REG_SCRATCH, &s, 2), 0);
    /* nothing is sent before the flush */
    assert_int_equal(fx->wire.out[VFIO_USER_REGION_WRITE], 0);
    assert_int_equal(vmm_region_write_flush(fx->vmm), 0);
    assert_int_equal(fx->wire.out[VFIO_USER_REGION_WRITE], 3);
    assert_int_equal(fx->wire.out[VFIO_USER_REGION_WRITE_MULTI], 0);
    assert_int_equal(vmm_region_write_flush(fx->vmm), 0);
    assert_int_equal(fx->wire.out[VFIO_USER_REGION_WRITE], 3);

    assert_int_equal(vmm_region_read_val(fx->vmm, BAR0, GPIO_REG_OUT, 4, &v),
                     0);
    assert_int_equal(v, 3);
    assert_int_equal(
        vmm_region_read_val(fx->vmm, BAR0, GPIO_REG_COUNTER, 4, &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(
        vmm_region_read_val(fx->vmm, BAR0, GPIO_REG_SCRATCH, 4, &v), 0);
    assert_int_equal(v, 0x1234);

    assert_int_equal(vmm_region_write_queue(fx->vmm, BAR0, 0, &s, 9),
                     -EINVAL);
    assert_int_equal(vmm_region_write_queue(fx->vmm, BAR0, 0, &s, 0),
                     -EINVAL);
}

static void
test_reset_clears_device(void **state)
{
    fx_t *fx = *state;
    uint64_t v;

    assert_int_equal(
        vmm_region_write_val(fx->vmm, BAR0, GPIO_REG_SCRATCH, 4, 77), 0);
    assert_int_equal(vmm_reset(fx->vmm), 0);
    assert_int_equal(
        vmm_region_read_val(fx->vmm, BAR0, GPIO_REG_SCRATCH, 4, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(fx->wire.in[VFIO_USER_DEVICE_RESET], 1);
}

static void
test_raw_error_replies(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_region_access acc = {.offset = 0, .region = 99,
                                          .count = 4};
    vmm_reply_t reply;
    uint16_t id = vmm_next_id(fx->vmm);

    assert_int_equal(vmm_send_raw(fx->vmm, VFIO_USER_REGION_READ, &acc,
                                  sizeof(acc), NULL, 0, &reply),
                     0);
    assert_int_equal(reply.hdr.msg_id, id);
    assert_int_equal(reply.hdr.cmd, VFIO_USER_REGION_READ);
    assert_true(reply.hdr.flags & VFIO_USER_F_ERROR);
    assert_int_equal(reply.hdr.error_no, EINVAL);
    assert_int_equal(reply.body_len, 0);
    vmm_reply_free(&reply);
    assert_null(reply.body);

    /* a truncated REGION_READ body */
    assert_int_equal(vmm_send_raw(fx->vmm, VFIO_USER_REGION_READ, &acc, 8,
                                  NULL, 0, &reply),
                     0);
    assert_true(reply.hdr.flags & VFIO_USER_F_ERROR);
    assert_int_not_equal(reply.hdr.error_no, 0);
    vmm_reply_free(&reply);

    /* 14 was DIRTY_PAGES and is no command any more */
    assert_int_equal(vmm_send_raw(fx->vmm, 14, NULL, 0, NULL, 0, &reply), 0);
    assert_true(reply.hdr.flags & VFIO_USER_F_ERROR);
    vmm_reply_free(&reply);
    assert_int_equal(vmm_next_id(fx->vmm), (uint16_t)(id + 3));
    assert_true(vmm_is_connected(fx->vmm));
}

static void
test_send_bytes_recv_any(void **state)
{
    fx_t *fx = *state;
    struct {
        struct vfio_user_header hdr;
        struct vfio_user_device_info info;
    } __attribute__((packed)) m;
    struct vfio_user_device_info info;
    vmm_reply_t reply;

    memset(&m, 0, sizeof(m));
    proto_hdr_cmd(&m.hdr, 0x4242, VFIO_USER_DEVICE_GET_INFO, sizeof(m.info),
                  false);
    m.info.argsz = sizeof(m.info);
    assert_int_equal(vmm_send_bytes(fx->vmm, &m, sizeof(m), NULL, 0), 0);
    assert_int_equal(vmm_recv_any(fx->vmm, &reply), 0);
    assert_int_equal(reply.hdr.msg_id, 0x4242);
    assert_int_equal(reply.hdr.flags & VFIO_USER_F_TYPE_MASK,
                     VFIO_USER_F_TYPE_REPLY);
    assert_int_equal(reply.body_len, sizeof(info));
    memcpy(&info, reply.body, sizeof(info));
    assert_int_equal(info.num_regions, VFU_PCI_DEV_NUM_REGIONS);
    vmm_reply_free(&reply);
    if (!fx->sock) {
        /* in-process, "nothing more will come" is known at once */
        assert_int_equal(vmm_recv_any(fx->vmm, &reply), -ETIMEDOUT);
    }
}

/*
 * A header whose msg_size is smaller than the header: the server can no
 * longer trust the stream and drops us.
 */
static void
test_server_hangup(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_header h;
    uint64_t v;

    proto_hdr_cmd(&h, 0x99, VFIO_USER_DEVICE_GET_INFO, 0, false);
    h.msg_size = 8;
    assert_int_equal(vmm_send_bytes(fx->vmm, &h, sizeof(h), NULL, 0), 0);
    if (fx->sock) {
        /* over a socket the server answers EINVAL and goes on (as
         * libvfio-user; server helper, issue #3) */
        assert_int_equal(vmm_config_read(fx->vmm, PCI_VENDOR_ID, 2, &v), 0);
        return;
    }
    assert_int_equal(vmm_config_read(fx->vmm, PCI_VENDOR_ID, 2, &v),
                     -ENOTCONN);
    assert_false(vmm_is_connected(fx->vmm));
    assert_int_equal(vmm_config_read(fx->vmm, PCI_VENDOR_ID, 2, &v),
                     -ENOTCONN);
    assert_int_equal(vmm_reset(fx->vmm), -ENOTCONN);
}

static void
test_mmap_and_io_fds_gpio(void **state)
{
    fx_t *fx = *state;
    vmm_ioeventfd_t ents[4];
    void *p = (void *)1;

    /* nothing of the gpio device is mappable */
    assert_int_equal(vmm_region_mmap(fx->vmm, BAR0, 0, &p), -EINVAL);
    assert_null(p);
    assert_int_equal(vmm_region_io_fds(fx->vmm, BAR0, ents, 4), 0);
    assert_int_equal(vmm_region_io_fds(fx->vmm, BAR0, NULL, 0), 0);
    /* a region that does not exist */
    assert_int_equal(vmm_region_io_fds(fx->vmm, BAR1, ents, 4), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* In-process only: options                                            */
/* ------------------------------------------------------------------ */

static void
test_chunked_access(void **state)
{
    vmm_opts_t opts = {.max_data_xfer_size = 16};
    uint8_t cfg[PCI_CFG_SPACE_SIZE];
    uint8_t pat[GPIO_BAR2_SIZE], back[GPIO_BAR2_SIZE];
    fx_t fx;
    size_t i;

    (void)state;
    assert_int_equal(fx_open(&fx, false, &opts), 0);
    assert_int_equal(vmm_get_caps(fx.vmm)->max_data_xfer_size, 16);
    assert_int_equal(vmm_region_read(fx.vmm, CFG, 0, cfg, sizeof(cfg)), 0);
    assert_int_equal(fx.wire.out[VFIO_USER_REGION_READ],
                     sizeof(cfg) / 16);
    assert_int_equal(cfg[0] | (cfg[1] << 8), GPIO_VENDOR_ID);
    assert_int_equal(cfg[PCI_REVISION_ID], GPIO_REVISION);

    for (i = 0; i < sizeof(pat); i++) {
        pat[i] = (uint8_t)(i * 7 + 1);
    }
    /* 32 bytes at offset 1 would pass the end; 31 need two chunks */
    assert_int_equal(vmm_region_write(fx.vmm, BAR2, 1, pat, 31), 0);
    assert_int_equal(fx.wire.out[VFIO_USER_REGION_WRITE], 2);
    assert_int_equal(vmm_region_read(fx.vmm, BAR2, 1, back, 31), 0);
    assert_memory_equal(pat, back, 31);
    fx_close(&fx);
}

static void
test_write_queue_multi(void **state)
{
    vmm_opts_t opts = {.write_multiple = true};
    uint32_t bit;
    uint64_t v;
    fx_t fx;
    unsigned i;

    (void)state;
    assert_int_equal(fx_open(&fx, false, &opts), 0);
    assert_true(vmm_get_caps(fx.vmm)->write_multiple);
    for (i = 0; i < 4; i++) {
        bit = 1u << i;
        assert_int_equal(
            vmm_region_write_queue(fx.vmm, BAR0, GPIO_REG_OUT_SET, &bit, 4),
            0);
    }
    assert_int_equal(vmm_region_write_flush(fx.vmm), 0);
    assert_int_equal(fx.wire.out[VFIO_USER_REGION_WRITE_MULTI], 1);
    assert_int_equal(fx.wire.out[VFIO_USER_REGION_WRITE], 0);
    assert_int_equal(vmm_region_read_val(fx.vmm, BAR0, GPIO_REG_OUT, 4, &v),
                     0);
    assert_int_equal(v, 0xf);
    assert_int_equal(
        vmm_region_read_val(fx.vmm, BAR0, GPIO_REG_COUNTER, 4, &v), 0);
    assert_int_equal(v, 4);

    /* the 200th queued write sends the batch by itself */
    for (i = 0; i < VFIO_USER_MULTI_MAX; i++) {
        uint8_t b = (uint8_t)i;

        assert_int_equal(vmm_region_write_queue(fx.vmm, BAR0,
                                                GPIO_REG_SCRATCH, &b, 1),
                         0);
    }
    assert_int_equal(fx.wire.out[VFIO_USER_REGION_WRITE_MULTI], 2);
    assert_int_equal(vmm_region_write_flush(fx.vmm), 0);
    assert_int_equal(fx.wire.out[VFIO_USER_REGION_WRITE_MULTI], 2);
    assert_int_equal(
        vmm_region_read_val(fx.vmm, BAR0, GPIO_REG_SCRATCH, 1, &v), 0);
    assert_int_equal(v, VFIO_USER_MULTI_MAX - 1);
    fx_close(&fx);
}

static void
test_trace_stream(void **state)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    vmm_opts_t opts = {0};
    struct vfio_user_device_info info;
    fx_t fx;

    (void)state;
    assert_non_null(f);
    opts.trace = f;
    assert_int_equal(fx_open(&fx, false, &opts), 0);
    assert_int_equal(vmm_device_info(fx.vmm, &info), 0);
    fx_close(&fx);
    fclose(f);
    assert_non_null(text);
    assert_non_null(strstr(text, "client>"));
    assert_non_null(strstr(text, "client<"));
    assert_non_null(strstr(text, "VERSION"));
    assert_non_null(strstr(text, "DEVICE_GET_INFO"));
    free(text);
}

static void
test_no_negotiate_then_raw_version(void **state)
{
    vmm_opts_t opts = {.no_negotiate = true};
    static const char json[] = "{\"capabilities\":{\"max_msg_fds\":4}}";
    uint8_t body[4 + sizeof(json)] = {0};
    vmm_reply_t reply;
    uint64_t v;
    fx_t fx;

    (void)state;
    assert_int_equal(fx_open(&fx, false, &opts), 0);
    assert_int_equal(vmm_next_id(fx.vmm), 0);
    assert_int_equal(fx.wire.total_out, 0);
    memcpy(body + 4, json, sizeof(json));
    assert_int_equal(vmm_send_raw(fx.vmm, VFIO_USER_VERSION, body,
                                  sizeof(body), NULL, 0, &reply),
                     0);
    assert_false(reply.hdr.flags & VFIO_USER_F_ERROR);
    assert_true(reply.body_len > 4);
    vmm_reply_free(&reply);
    /* the server is attached now and serves the usual requests */
    assert_int_equal(vmm_config_read(fx.vmm, PCI_VENDOR_ID, 2, &v), 0);
    assert_int_equal(v, GPIO_VENDOR_ID);
    fx_close(&fx);
}

static void
test_bad_options(void **state)
{
    vmm_opts_t opts = {.max_msg_fds = 100000};
    vfu_device_t dev;
    vmm_t *vmm = (vmm_t *)1;
    uint64_t v;
    int sv[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    /* the fd is the client's even when connecting fails */
    assert_int_equal(vmm_connect_fd(sv[0], &opts, &vmm), -EINVAL);
    assert_null(vmm);
    close(sv[1]);

    opts = (vmm_opts_t){.twin_socket = true};
    assert_int_equal(vfu_device_open("gpio", VFU_TRANS_EXT_INPROC, NULL,
                                     LIBVFIO_USER_FLAG_ATTACH_NB, &dev),
                     0);
    assert_int_equal(vmm_attach_inproc(dev.ctx, &opts, &vmm), -ENOTSUP);
    assert_null(vmm);
    /* the failed client let go of the context: another may attach */
    assert_int_equal(vmm_attach_inproc(dev.ctx, NULL, &vmm), 0);
    vmm_close(vmm);
    vfu_device_close(&dev);

    /* the server refuses major 1: the error comes back, the context stays */
    opts = (vmm_opts_t){.major = 1};
    assert_int_equal(vfu_device_open("gpio", VFU_TRANS_EXT_INPROC, NULL,
                                     LIBVFIO_USER_FLAG_ATTACH_NB, &dev),
                     0);
    assert_int_equal(vmm_attach_inproc(dev.ctx, &opts, &vmm), -EINVAL);
    assert_null(vmm);
    assert_int_equal(vmm_attach_inproc(dev.ctx, NULL, &vmm), 0);
    assert_int_equal(vmm_config_read(vmm, PCI_VENDOR_ID, 2, &v), 0);
    assert_int_equal(v, GPIO_VENDOR_ID);
    vmm_close(vmm);
    vfu_device_close(&dev);

    assert_int_equal(vmm_connect("/nonexistent/dir/x.sock", NULL, &vmm),
                     -ENOENT);
    assert_int_equal(vmm_attach_inproc(NULL, NULL, &vmm), -EINVAL);
    vmm_close(NULL);
}

/* ------------------------------------------------------------------ */
/* A scripted server on a socketpair                                   */
/* ------------------------------------------------------------------ */

/*
 * Everything a fake server sends is written before the client asks: the
 * socket buffers it, and the client's ids are known in advance, so no
 * thread is needed and every run is the same.
 */
static void
fake_send(int sfd, uint16_t id, uint16_t cmd, uint32_t flags, uint32_t err,
          const void *body, size_t len, const int *fds, size_t nr_fds)
{
    struct vfio_user_header h = {.msg_id = id, .cmd = cmd,
                                 .msg_size = (uint32_t)(16 + len),
                                 .flags = flags, .error_no = err};
    struct iovec iov = {.iov_base = (void *)body, .iov_len = len};

    assert_int_equal(proto_io_send(sfd, &h, &iov, len > 0 ? 1 : 0, fds,
                                   nr_fds, -1),
                     0);
}

static void
fake_reply(int sfd, uint16_t id, uint16_t cmd, const void *body, size_t len)
{
    fake_send(sfd, id, cmd, VFIO_USER_F_TYPE_REPLY, 0, body, len, NULL, 0);
}

/* A client on a socketpair that skips negotiation; *@sfd is the server. */
static vmm_t *
fake_client(int *sfd, int timeout_ms, logcap_t *log)
{
    vmm_opts_t opts = {.no_negotiate = true, .timeout_ms = timeout_ms};
    vmm_t *vmm = NULL;
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    assert_int_equal(vmm_connect_fd(sv[0], &opts, &vmm), 0);
    vmm_set_log(vmm, log_cb, log);
    *sfd = sv[1];
    return vmm;
}

/* What the client sent: up to @max messages (free them). */
static size_t
fake_drain(int sfd, proto_msg_t *msgs, size_t max)
{
    proto_caps_t caps;
    size_t n = 0;

    proto_caps_default(&caps);
    caps.max_msg_fds = 16;
    while (n < max && proto_io_recv(sfd, &msgs[n], &caps, true, 100) == 0) {
        n++;
    }
    return n;
}

static const struct vfio_user_device_info good_info = {
    .argsz = sizeof(struct vfio_user_device_info),
    .flags = VFIO_DEVICE_FLAGS_PCI,
    .num_regions = 9,
    .num_irqs = 5,
};

static void
test_hostile_wrong_id_dropped(void **state)
{
    logcap_t log = {0};
    struct vfio_user_device_info info;
    int sfd;
    vmm_t *vmm = fake_client(&sfd, 1000, &log);

    (void)state;
    fake_reply(sfd, 7, VFIO_USER_DEVICE_GET_INFO, &good_info,
               sizeof(good_info));
    fake_reply(sfd, 0, VFIO_USER_DEVICE_GET_INFO, &good_info,
               sizeof(good_info));
    assert_int_equal(vmm_device_info(vmm, &info), 0);
    assert_int_equal(info.num_regions, 9);
    assert_int_equal(log.n, 1);
    assert_non_null(strstr(log.last, "dropped"));
    vmm_close(vmm);
    close(sfd);
}

static void
test_hostile_silent_times_out(void **state)
{
    logcap_t log = {0};
    struct vfio_user_device_info info;
    int sfd;
    vmm_t *vmm = fake_client(&sfd, 50, &log);

    (void)state;
    /* only a reply to somebody else: ours never comes */
    fake_reply(sfd, 9, VFIO_USER_DEVICE_GET_INFO, &good_info,
               sizeof(good_info));
    assert_int_equal(vmm_device_info(vmm, &info), -ETIMEDOUT);
    assert_true(vmm_is_connected(vmm));
    /* the late reply to the timed-out request is dropped by its id */
    fake_reply(sfd, 0, VFIO_USER_DEVICE_GET_INFO, &good_info,
               sizeof(good_info));
    fake_reply(sfd, 1, VFIO_USER_DEVICE_GET_INFO, &good_info,
               sizeof(good_info));
    assert_int_equal(vmm_device_info(vmm, &info), 0);
    assert_int_equal(log.n, 2);
    vmm_close(vmm);
    close(sfd);
}

static void
test_hostile_negotiation_timeout(void **state)
{
    vmm_opts_t opts = {.timeout_ms = 50};
    vmm_t *vmm = (vmm_t *)1;
    int sv[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    assert_int_equal(vmm_connect_fd(sv[0], &opts, &vmm), -ETIMEDOUT);
    assert_null(vmm);
    close(sv[1]);
}

static void
test_hostile_wrong_command(void **state)
{
    logcap_t log = {0};
    struct vfio_user_device_info info;
    int sfd;
    vmm_t *vmm = fake_client(&sfd, 1000, &log);

    (void)state;
    fake_reply(sfd, 0, VFIO_USER_DEVICE_GET_IRQ_INFO, &good_info,
               sizeof(good_info));
    assert_int_equal(vmm_device_info(vmm, &info), -EINVAL);
    /* short body */
    fake_reply(sfd, 1, VFIO_USER_DEVICE_GET_INFO, &good_info, 8);
    assert_int_equal(vmm_device_info(vmm, &info), -EINVAL);
    /* argsz smaller than the struct */
    {
        struct vfio_user_device_info bad = good_info;

        bad.argsz = 4;
        fake_reply(sfd, 2, VFIO_USER_DEVICE_GET_INFO, &bad, sizeof(bad));
        assert_int_equal(vmm_device_info(vmm, &info), -EINVAL);
    }
    /* nothing bad was cached: a good answer still goes through */
    fake_reply(sfd, 3, VFIO_USER_DEVICE_GET_INFO, &good_info,
               sizeof(good_info));
    assert_int_equal(vmm_device_info(vmm, &info), 0);
    assert_true(vmm_is_connected(vmm));
    vmm_close(vmm);
    close(sfd);
}

static void
test_hostile_error_replies(void **state)
{
    logcap_t log = {0};
    struct vfio_user_device_info info;
    int sfd;
    vmm_t *vmm = fake_client(&sfd, 1000, &log);

    (void)state;
    fake_send(sfd, 0, VFIO_USER_DEVICE_GET_INFO,
              VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, EPERM, NULL, 0,
              NULL, 0);
    assert_int_equal(vmm_device_info(vmm, &info), -EPERM);
    fake_send(sfd, 1, VFIO_USER_DEVICE_GET_INFO,
              VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, 0, NULL, 0, NULL,
              0);
    assert_int_equal(vmm_device_info(vmm, &info), -EIO);
    vmm_close(vmm);
    close(sfd);
}

static void
test_hostile_oversize_message(void **state)
{
    vmm_opts_t opts = {.no_negotiate = true, .timeout_ms = 1000,
                       .max_data_xfer_size = 4096};
    proto_caps_t caps;
    struct vfio_user_device_info info;
    uint32_t big;
    uint8_t *junk;
    vmm_t *vmm;
    int sv[2];

    (void)state;
    proto_caps_default(&caps);
    caps.max_data_xfer_size = 4096;
    big = (uint32_t)proto_msg_max_size(&caps) + 16;
    junk = calloc(1, big);
    assert_non_null(junk);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    assert_int_equal(vmm_connect_fd(sv[0], &opts, &vmm), 0);
    fake_reply(sv[1], 0, VFIO_USER_DEVICE_GET_INFO, junk, big - 16);
    fake_reply(sv[1], 1, VFIO_USER_DEVICE_GET_INFO, &good_info,
               sizeof(good_info));
    assert_int_equal(vmm_device_info(vmm, &info), -E2BIG);
    /* the big one was drained: the stream is still in step */
    assert_int_equal(vmm_device_info(vmm, &info), 0);
    free(junk);
    vmm_close(vmm);
    close(sv[1]);
}

static void
test_hostile_unexpected_fds(void **state)
{
    logcap_t log = {0};
    struct vfio_user_device_info info;
    int efd = eventfd(0, EFD_CLOEXEC);
    int sfd;
    vmm_t *vmm = fake_client(&sfd, 1000, &log);

    (void)state;
    assert_true(efd >= 0);
    fake_send(sfd, 0, VFIO_USER_DEVICE_GET_INFO, VFIO_USER_F_TYPE_REPLY, 0,
              &good_info, sizeof(good_info), &efd, 1);
    assert_int_equal(vmm_device_info(vmm, &info), -EINVAL);
    /* a dropped reply with an fd: closed too */
    fake_send(sfd, 5, VFIO_USER_DEVICE_GET_INFO, VFIO_USER_F_TYPE_REPLY, 0,
              &good_info, sizeof(good_info), &efd, 1);
    fake_reply(sfd, 1, VFIO_USER_DEVICE_GET_INFO, &good_info,
               sizeof(good_info));
    assert_int_equal(vmm_device_info(vmm, &info), 0);
    close(efd);
    vmm_close(vmm);
    close(sfd);
    /* tu_fd_teardown checks that the received copies were closed */
}

/* A REGION_READ reply: the access header, then @count data bytes. */
static size_t
read_reply(uint8_t *out, uint64_t offset, uint32_t count, const uint8_t *data,
           size_t len)
{
    struct vfio_user_region_access a = {.offset = offset, .count = count};

    memcpy(out, &a, sizeof(a));
    memcpy(out + sizeof(a), data, len);
    return sizeof(a) + len;
}

static void
test_hostile_region_read_echo(void **state)
{
    static const uint8_t data[4] = {1, 2, 3, 4};
    logcap_t log = {0};
    uint8_t r[sizeof(struct vfio_user_region_access) + 4];
    uint8_t buf[4];
    size_t n;
    int sfd;
    vmm_t *vmm = fake_client(&sfd, 1000, &log);

    (void)state;
    /* claims fewer bytes than asked */
    n = read_reply(r, 0x10, 3, data, 4);
    fake_reply(sfd, 0, VFIO_USER_REGION_READ, r, n);
    assert_int_equal(vmm_region_read(vmm, 0, 0x10, buf, 4), -EINVAL);
    /* another offset */
    n = read_reply(r, 0x20, 4, data, 4);
    fake_reply(sfd, 1, VFIO_USER_REGION_READ, r, n);
    assert_int_equal(vmm_region_read(vmm, 0, 0x10, buf, 4), -EINVAL);
    /* a byte short */
    n = read_reply(r, 0x10, 4, data, 3);
    fake_reply(sfd, 2, VFIO_USER_REGION_READ, r, n);
    assert_int_equal(vmm_region_read(vmm, 0, 0x10, buf, 4), -EINVAL);
    n = read_reply(r, 0x10, 4, data, 4);
    fake_reply(sfd, 3, VFIO_USER_REGION_READ, r, n);
    assert_int_equal(vmm_region_read(vmm, 0, 0x10, buf, 4), 0);
    assert_memory_equal(buf, data, 4);
    vmm_close(vmm);
    close(sfd);
}

/* The reply to region info #@id: @body of @len bytes, first asked small. */
static void
fake_region_info(int sfd, uint16_t id, const void *body, uint32_t len,
                 const int *fds, size_t nr_fds)
{
    struct vfio_region_info first;

    /* first answer: "I need @len bytes", no capabilities, no fd */
    memcpy(&first, body, sizeof(first));
    first.argsz = len;
    first.flags &= ~VFIO_REGION_INFO_FLAG_CAPS;
    first.cap_offset = 0;
    fake_reply(sfd, id, VFIO_USER_DEVICE_GET_REGION_INFO, &first,
               sizeof(first));
    fake_send(sfd, (uint16_t)(id + 1), VFIO_USER_DEVICE_GET_REGION_INFO,
              VFIO_USER_F_TYPE_REPLY, 0, body, len, fds, nr_fds);
}

/*
 * A region info body with capabilities, laid out at fixed offsets:
 * info (32), sparse mmap cap header + nr_areas (16), its areas (16 each),
 * then a type cap (16) when @with_type.
 */
typedef struct ri_buf {
    uint8_t b[256];
    uint32_t len;
} ri_buf_t;

static void
ri_build(ri_buf_t *rb, uint32_t flags, uint64_t size, uint32_t nr_areas,
         const struct vfio_region_sparse_mmap_area *areas, uint32_t n_given,
         uint32_t sparse_next, bool with_type)
{
    struct vfio_region_info info = {0};
    struct vfio_region_info_cap_sparse_mmap sp;
    struct vfio_region_info_cap_type type;
    uint32_t off = sizeof(info);

    memset(rb, 0, sizeof(*rb));
    memset(&sp, 0, sizeof(sp));
    sp.header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
    sp.header.version = 1;
    sp.nr_areas = nr_areas;
    off += sizeof(sp) + n_given * sizeof(areas[0]);
    sp.header.next = with_type ? off : sparse_next;
    memcpy(rb->b + sizeof(info), &sp, sizeof(sp));
    memcpy(rb->b + sizeof(info) + sizeof(sp), areas,
           n_given * sizeof(areas[0]));
    if (with_type) {
        memset(&type, 0, sizeof(type));
        type.header.id = VFIO_REGION_INFO_CAP_TYPE;
        type.header.version = 1;
        type.type = 3;
        type.subtype = 7;
        memcpy(rb->b + off, &type, sizeof(type));
        off += sizeof(type);
    }
    info.argsz = off;
    info.flags = flags | VFIO_REGION_INFO_FLAG_CAPS;
    info.cap_offset = sizeof(info);
    info.size = size;
    memcpy(rb->b, &info, sizeof(info));
    rb->len = off;
}

static void
test_fake_sparse_mmap(void **state)
{
    static const struct vfio_region_sparse_mmap_area areas[2] = {
        {.offset = 0, .size = 4096}, {.offset = 4096, .size = 4096}};
    ri_buf_t rb;
    logcap_t log = {0};
    const vmm_region_t *r;
    uint8_t page[8192];
    uint8_t *p, *q;
    int mfd = memfd_create("vmm-test", MFD_CLOEXEC);
    int sfd;
    vmm_t *vmm = fake_client(&sfd, 1000, &log);

    (void)state;
    assert_true(mfd >= 0);
    for (size_t i = 0; i < sizeof(page); i++) {
        page[i] = (uint8_t)(i >> 4);
    }
    assert_int_equal(pwrite(mfd, page, sizeof(page), 0), sizeof(page));

    ri_build(&rb,
             VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
                 VFIO_REGION_INFO_FLAG_MMAP,
             8192, 2, areas, 2, 0, true);
    /* the info names region 2 */
    rb.b[offsetof(struct vfio_region_info, index)] = 2;
    fake_region_info(sfd, 0, rb.b, rb.len, &mfd, 1);
    close(mfd);

    assert_int_equal(vmm_region_info(vmm, 2, &r), 0);
    assert_int_equal(r->size, 8192);
    assert_true(r->fd >= 0);
    assert_int_equal(r->nr_areas, 2);
    assert_int_equal(r->areas[1].offset, 4096);
    assert_int_equal(r->areas[1].size, 4096);
    assert_true(r->has_type);
    assert_int_equal(r->type, 3);
    assert_int_equal(r->subtype, 7);

    assert_int_equal(vmm_region_mmap(vmm, 2, 1, (void **)&p), 0);
    assert_memory_equal(p, page + 4096, 4096);
    assert_int_equal(vmm_region_mmap(vmm, 2, 1, (void **)&q), 0);
    assert_ptr_equal(p, q);
    assert_int_equal(vmm_region_mmap(vmm, 2, 2, (void **)&q), -EINVAL);
    /* unmapped and closed by vmm_close(): the fd teardown checks it */
    vmm_close(vmm);
    close(sfd);
}

static void
test_hostile_region_caps(void **state)
{
    struct vfio_region_sparse_mmap_area area = {.offset = 0, .size = 4096};
    struct vfio_region_info info;
    ri_buf_t rb;
    logcap_t log = {0};
    const vmm_region_t *r;
    int sfd;
    vmm_t *vmm = fake_client(&sfd, 1000, &log);

    (void)state;
    /* the sparse cap's next points at itself */
    ri_build(&rb, VFIO_REGION_INFO_FLAG_READ, 4096, 1, &area, 1,
             sizeof(struct vfio_region_info), false);
    fake_region_info(sfd, 0, rb.b, rb.len, NULL, 0);
    assert_int_equal(vmm_region_info(vmm, 0, &r), -EINVAL);

    /* more areas than bytes */
    ri_build(&rb, VFIO_REGION_INFO_FLAG_READ, 4096, 1000, &area, 1, 0,
             false);
    fake_region_info(sfd, 2, rb.b, rb.len, NULL, 0);
    assert_int_equal(vmm_region_info(vmm, 0, &r), -EINVAL);

    /* an area past the end of the region */
    area.offset = 4096;
    ri_build(&rb, VFIO_REGION_INFO_FLAG_READ, 4096, 1, &area, 1, 0, false);
    fake_region_info(sfd, 4, rb.b, rb.len, NULL, 0);
    assert_int_equal(vmm_region_info(vmm, 0, &r), -EINVAL);

    /* an absurd size request */
    memset(&info, 0, sizeof(info));
    info.argsz = 1u << 30;
    info.flags = VFIO_REGION_INFO_FLAG_READ;
    info.size = 4096;
    fake_reply(sfd, 6, VFIO_USER_DEVICE_GET_REGION_INFO, &info, sizeof(info));
    assert_int_equal(vmm_region_info(vmm, 0, &r), -E2BIG);

    /* the answer is about another region */
    info.argsz = sizeof(info);
    info.index = 3;
    fake_reply(sfd, 7, VFIO_USER_DEVICE_GET_REGION_INFO, &info, sizeof(info));
    assert_int_equal(vmm_region_info(vmm, 0, &r), -EINVAL);
    assert_true(vmm_is_connected(vmm));
    vmm_close(vmm);
    close(sfd);
}

static void
test_fake_server_command_refused(void **state)
{
    struct vfio_user_dma_region_access dr = {.addr = 0x1000, .count = 8};
    proto_msg_t sent[4];
    logcap_t log = {0};
    struct vfio_user_device_info info;
    size_t n, i;
    int sfd;
    vmm_t *vmm = fake_client(&sfd, 1000, &log);

    (void)state;
    /* a well-formed DMA_READ, a truncated one, then our reply */
    fake_send(sfd, 0x100, VFIO_USER_DMA_READ, VFIO_USER_F_TYPE_COMMAND, 0,
              &dr, sizeof(dr), NULL, 0);
    fake_send(sfd, 0x101, VFIO_USER_DMA_READ, VFIO_USER_F_TYPE_COMMAND, 0,
              &dr, 4, NULL, 0);
    fake_reply(sfd, 0, VFIO_USER_DEVICE_GET_INFO, &good_info,
               sizeof(good_info));
    assert_int_equal(vmm_device_info(vmm, &info), 0);

    n = fake_drain(sfd, sent, 4);
    assert_int_equal(n, 3);
    assert_int_equal(sent[0].hdr.cmd, VFIO_USER_DEVICE_GET_INFO);
    assert_int_equal(sent[1].hdr.msg_id, 0x100);
    assert_int_equal(sent[1].hdr.cmd, VFIO_USER_DMA_READ);
    assert_int_equal(sent[1].hdr.flags,
                     VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR);
    /* nothing is mapped at 0x1000 */
    assert_int_equal(sent[1].hdr.error_no, EFAULT);
    assert_int_equal(sent[2].hdr.msg_id, 0x101);
    assert_int_equal(sent[2].hdr.error_no, EINVAL);
    for (i = 0; i < n; i++) {
        proto_msg_free(&sent[i]);
    }
    vmm_close(vmm);
    close(sfd);
}

/*
 * A server that floods the client with DMA_READs and never reads the
 * replies used to block vmm_poll() forever in the reply's send
 * (fuzz_client).  The send now gives up after the client's timeout, says
 * so in the log, and the connection counts as broken.
 */
static void
test_hostile_server_never_reads(void **state)
{
    struct vfio_user_dma_region_access dr = {.addr = 0x100000,
                                             .count = 512 * 1024};
    logcap_t log = {0};
    int sfd;
    vmm_t *vmm = fake_client(&sfd, 100, &log);

    (void)state;
    fake_reply(sfd, 0, VFIO_USER_DMA_MAP, NULL, 0);
    assert_int_equal(vmm_mem_map(vmm, 0x100000, 1 << 20,
                                 VFIO_USER_F_DMA_REGION_READ |
                                     VFIO_USER_F_DMA_REGION_WRITE),
                     0);
    /* each reply is far larger than the socket buffers */
    fake_send(sfd, 0x200, VFIO_USER_DMA_READ, VFIO_USER_F_TYPE_COMMAND, 0,
              &dr, sizeof(dr), NULL, 0);
    fake_send(sfd, 0x201, VFIO_USER_DMA_READ, VFIO_USER_F_TYPE_COMMAND, 0,
              &dr, sizeof(dr), NULL, 0);
    assert_true(vmm_poll(vmm, 0) >= 0);
    assert_false(vmm_is_connected(vmm));
    assert_non_null(strstr(log.last, "read nothing"));
    assert_int_equal(vmm_poll(vmm, 0), -ENOTCONN);
    vmm_close(vmm);
    close(sfd);
}

static void
test_fake_io_fds_shared(void **state)
{
    struct vfio_region_info ri = {.argsz = sizeof(ri),
                                  .flags = VFIO_REGION_INFO_FLAG_READ |
                                           VFIO_REGION_INFO_FLAG_WRITE,
                                  .index = 0, .size = 0x1000};
    vfio_user_region_io_fds_reply_t head = {.argsz = 16 + 2 * 48,
                                            .count = 2};
    vfio_user_sub_region_ioeventfd_t sub[2];
    uint8_t io[16 + 2 * 48];
    vmm_ioeventfd_t ents[2];
    logcap_t log = {0};
    uint64_t one = 1, got;
    int efd = eventfd(0, EFD_CLOEXEC);
    int sfd;
    vmm_t *vmm = fake_client(&sfd, 1000, &log);

    (void)state;
    assert_true(efd >= 0);
    assert_int_equal(sizeof(head), 16);
    assert_int_equal(sizeof(sub[0]), 48);
    memset(sub, 0, sizeof(sub));
    sub[0].gpa_offset = 0x10;
    sub[0].size = 4;
    sub[0].datamatch = 0xabc;
    sub[0].flags = 1;
    sub[1].gpa_offset = 0x20;
    sub[1].size = 8;
    memcpy(io, &head, sizeof(head));
    memcpy(io + sizeof(head), sub, sizeof(sub));
    fake_reply(sfd, 0, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri));
    fake_send(sfd, 1, VFIO_USER_DEVICE_GET_REGION_IO_FDS,
              VFIO_USER_F_TYPE_REPLY, 0, io, sizeof(io), &efd, 1);

    assert_int_equal(vmm_region_io_fds(vmm, 0, ents, 2), 2);
    assert_int_equal(ents[0].offset, 0x10);
    assert_int_equal(ents[0].size, 4);
    assert_int_equal(ents[0].datamatch, 0xabc);
    assert_int_equal(ents[0].flags, 1);
    assert_int_equal(ents[1].offset, 0x20);
    assert_true(ents[0].fd >= 0 && ents[1].fd >= 0);
    assert_int_not_equal(ents[0].fd, ents[1].fd);
    /* both are the server's eventfd */
    assert_int_equal(write(ents[1].fd, &one, sizeof(one)), sizeof(one));
    assert_int_equal(read(efd, &got, sizeof(got)), sizeof(got));
    assert_int_equal(got, 1);
    close(ents[0].fd);
    close(ents[1].fd);

    /* an entry past the end of the region is refused, its fds closed */
    sub[1].gpa_offset = 0x1000;
    memcpy(io + sizeof(head), sub, sizeof(sub));
    fake_send(sfd, 2, VFIO_USER_DEVICE_GET_REGION_IO_FDS,
              VFIO_USER_F_TYPE_REPLY, 0, io, sizeof(io), &efd, 1);
    assert_int_equal(vmm_region_io_fds(vmm, 0, ents, 2), -EINVAL);
    close(efd);
    vmm_close(vmm);
    close(sfd);
}

static void
test_hostile_version_replies(void **state)
{
    static const char ok_json[] =
        "{\"capabilities\":{\"max_msg_fds\":2,\"max_data_xfer_size\":4096,"
        "\"pgsizes\":12288,\"write_multiple\":true}}";
    static const char bad_json[] = "{\"capabilities\":{\"max_msg_fds\":-1}}";
    uint8_t body[4 + sizeof(ok_json)] = {0};
    vmm_opts_t opts = {.timeout_ms = 1000, .write_multiple = true};
    const vmm_caps_t *c;
    vmm_t *vmm;
    int sv[2];

    (void)state;
    /* a good answer: limits are the smaller of both sides */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    memcpy(body + 4, ok_json, sizeof(ok_json));
    fake_reply(sv[1], 0, VFIO_USER_VERSION, body, sizeof(body));
    assert_int_equal(vmm_connect_fd(sv[0], &opts, &vmm), 0);
    c = vmm_get_caps(vmm);
    assert_int_equal(c->max_msg_fds, 2);
    assert_int_equal(c->max_data_xfer_size, 4096);
    assert_int_equal(c->pgsizes, 4096);
    assert_true(c->write_multiple);
    vmm_close(vmm);
    close(sv[1]);

    /* another major version */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    body[0] = 1;
    fake_reply(sv[1], 0, VFIO_USER_VERSION, body, sizeof(body));
    assert_int_equal(vmm_connect_fd(sv[0], &opts, &vmm), -EINVAL);
    close(sv[1]);

    /* JSON with a negative limit */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    memset(body, 0, sizeof(body));
    memcpy(body + 4, bad_json, sizeof(bad_json));
    fake_reply(sv[1], 0, VFIO_USER_VERSION, body, 4 + sizeof(bad_json));
    assert_int_equal(vmm_connect_fd(sv[0], &opts, &vmm), -EINVAL);
    close(sv[1]);

    /* the server hangs up instead of answering */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    close(sv[1]);
    assert_int_equal(vmm_connect_fd(sv[0], &opts, &vmm), -ENOTCONN);
}

static void
test_fake_hangup(void **state)
{
    logcap_t log = {0};
    struct vfio_user_device_info info;
    uint8_t buf[4];
    int sfd;
    vmm_t *vmm = fake_client(&sfd, 1000, &log);

    (void)state;
    /* half a header, then gone */
    assert_int_equal(write(sfd, "\0\0\4", 3), 3);
    close(sfd);
    assert_int_equal(vmm_device_info(vmm, &info), -ENOTCONN);
    assert_false(vmm_is_connected(vmm));
    assert_int_equal(vmm_region_read(vmm, 0, 0, buf, 4), -ENOTCONN);
    assert_int_equal(vmm_send_bytes(vmm, buf, 4, NULL, 0), -ENOTCONN);
    vmm_close(vmm);
}

/* ------------------------------------------------------------------ */
/* vfu-lspci                                                           */
/* ------------------------------------------------------------------ */

static void
test_lspci_gpio(void **state)
{
    char cmd[4200];
    char line[512];
    char expect[64];
    bool found_ids = false, found_vsc = false, found_bar0 = false;
    FILE *p;
    int status;

    (void)state;
    snprintf(cmd, sizeof(cmd), "%s --device gpio 2>&1",
             tu_build_path("bin/vfu-lspci"));
    snprintf(expect, sizeof(expect), "Vendor %04x Device %04x",
             GPIO_VENDOR_ID, GPIO_DEVICE_ID);
    p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof(line), p) != NULL) {
        found_ids |= strstr(line, expect) != NULL;
        found_vsc |= strstr(line, "Vendor Specific") != NULL;
        found_bar0 |= strstr(line, "BAR0: memory at") != NULL;
    }
    status = pclose(p);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(found_ids);
    assert_true(found_vsc);
    assert_true(found_bar0);
}

/*
 * A device of our own on a socket, served by a thread, for vfu-lspci runs:
 * @setup describes it on the context before it is realized.
 */
typedef struct lspci_srv {
    vfu_ctx_t *ctx;
    pthread_t thread;
    char path[128];
} lspci_srv_t;

static void *
lspci_srv_main(void *arg)
{
    lspci_srv_t *srv = arg;

    if (vfu_attach_ctx(srv->ctx) < 0) {
        return NULL;
    }
    for (;;) {
        if (vfu_run_ctx(srv->ctx) < 0 && errno != EINTR && errno != EBUSY) {
            break;
        }
    }
    return NULL;
}

/* Run vfu-lspci on @srv's socket; returns its output (free it). */
static char *
lspci_run(lspci_srv_t *srv, int (*setup)(vfu_ctx_t *), int *status)
{
    char cmd[4400];
    char *out = NULL;
    size_t size = 0;
    FILE *o = open_memstream(&out, &size);
    char line[512];
    vmm_opts_t dummy_opts = {.no_negotiate = true};
    vmm_t *dummy = NULL;
    FILE *p;

    assert_non_null(o);
    snprintf(srv->path, sizeof(srv->path), "%s", tu_sock_path("lspci"));
    srv->ctx = vfu_create_ctx(VFU_TRANS_SOCK, srv->path, 0, NULL,
                              VFU_DEV_TYPE_PCI);
    assert_non_null(srv->ctx);
    assert_int_equal(setup(srv->ctx), 0);
    assert_int_equal(vfu_realize_ctx(srv->ctx), 0);
    assert_int_equal(pthread_create(&srv->thread, NULL, lspci_srv_main, srv),
                     0);
    snprintf(cmd, sizeof(cmd), "%s -v %s 2>&1",
             tu_build_path("bin/vfu-lspci"), srv->path);
    p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof(line), p) != NULL) {
        fputs(line, o);
    }
    *status = pclose(p);
    fclose(o);
    /* if vfu-lspci never came, a client that comes and goes ends attach */
    vmm_connect(srv->path, &dummy_opts, &dummy);
    vmm_close(dummy);
    pthread_join(srv->thread, NULL);
    vfu_destroy_ctx(srv->ctx);
    if (getenv("VFU_TEST_VERBOSE") != NULL) {
        fputs(out, stderr);
    }
    return out;
}

static ssize_t
bar_cb(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
    (void)ctx;
    (void)offset;
    if (!is_write) {
        memset(buf, 0, count);
    }
    return (ssize_t)count;
}

static int
rich_setup(vfu_ctx_t *ctx)
{
    struct pmcap pm = {.hdr.id = PCI_CAP_ID_PM, .pc.vs = 3};
    struct msicap msi = {.hdr.id = PCI_CAP_ID_MSI,
                         .mc = {.mmc = 2, .c64 = 1, .pvm = 1}};
    struct msixcap msix = {.hdr.id = PCI_CAP_ID_MSIX,
                           .mxc.ts = 3,
                           .mtab = {.tbir = 0, .to = 0x1000 >> 3},
                           .mpba = {.pbir = 0, .pbao = 0x2000 >> 3}};
    struct pxcap px = {.hdr.id = PCI_CAP_ID_EXP,
                       .pxcaps = {.ver = 2, .dpt = PCI_EXP_TYPE_ENDPOINT}};
    struct dsncap dsn = {.hdr = {.id = PCI_EXT_CAP_ID_DSN, .version = 1},
                         .sn_lo = 0x89abcdef, .sn_hi = 0x01234567};
    uint8_t vsec[16] = {0};
    struct pcie_ext_cap_vsc_hdr vh = {
        .hdr = {.id = PCI_EXT_CAP_ID_VNDR, .version = 1},
        .id = 0xbeef, .rev = 2, .len = sizeof(vsec)};

    memcpy(vsec, &vh, sizeof(vh));
    if (vfu_pci_init(ctx, VFU_PCI_TYPE_EXPRESS, PCI_HEADER_TYPE_NORMAL, 2) <
        0) {
        return -1;
    }
    vfu_pci_set_id(ctx, 0x1af4, 0x10f1, 0x1af4, 0x0042);
    vfu_pci_set_class(ctx, 0x02, 0x00, 0x00);
    if (vfu_setup_region(ctx, BAR0, 0x4000, bar_cb,
                         VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM |
                             VFU_REGION_FLAG_64_BITS |
                             VFU_REGION_FLAG_PREFETCH,
                         NULL, 0, -1, 0) < 0 ||
        vfu_setup_device_nr_irqs(ctx, VFU_DEV_MSIX_IRQ, 4) < 0 ||
        vfu_pci_add_capability(ctx, 0, 0, &pm) < 0 ||
        vfu_pci_add_capability(ctx, 0, 0, &msi) < 0 ||
        vfu_pci_add_capability(ctx, 0, 0, &msix) < 0 ||
        vfu_pci_add_capability(ctx, 0, 0, &px) < 0 ||
        vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED, &dsn) < 0 ||
        vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED, vsec) < 0) {
        return -1;
    }
    return 0;
}

static void
test_lspci_socket_capabilities(void **state)
{
    lspci_srv_t srv;
    int status;
    char *out;

    (void)state;
    out = lspci_run(&srv, rich_setup, &status);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(out, "Vendor 1af4 Device 10f1"));
    assert_non_null(strstr(out, "Subsystem: vendor 1af4 device 0042"));
    assert_non_null(strstr(out, "Class 020000"));
    assert_non_null(strstr(out, "revision 02"));
    assert_non_null(strstr(out, "Config space (4096 bytes)"));
    assert_non_null(
        strstr(out, "BAR0: memory at 0 (64-bit, prefetchable) [size=0x4000]"));
    assert_non_null(strstr(out, "Power Management version 3"));
    assert_non_null(strstr(out, "MSI: Enable- Count=1/4 64bit+ Maskable+"));
    assert_non_null(strstr(out, "MSI-X: Enable- Mask- TabSize=4"));
    assert_non_null(strstr(out, "Vector table: BAR=0 offset=00001000"));
    assert_non_null(strstr(out, "PBA: BAR=0 offset=00002000"));
    assert_non_null(strstr(out, "Express (v2) Endpoint"));
    assert_non_null(
        strstr(out, "Device Serial Number 01-23-45-67-89-ab-cd-ef"));
    assert_non_null(strstr(out, "Vendor Specific: ID=beef Rev=2 Len=010"));
    assert_non_null(strstr(out, "  2 MSIX  count 4"));
    /* -v: the hex dump runs to the end of the 4 KiB */
    assert_non_null(strstr(out, "ff0: "));
    free(out);
}

/*
 * A config space served byte for byte by a callback, with loops in both
 * capability lists and a register that cannot be read.
 */
static uint8_t evil_cfg[PCI_CFG_SPACE_EXP_SIZE];

static ssize_t
evil_cfg_cb(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset,
            bool is_write)
{
    (void)ctx;
    if (offset < 0 || (size_t)offset > sizeof(evil_cfg) ||
        count > sizeof(evil_cfg) - (size_t)offset) {
        errno = EINVAL;
        return -1;
    }
    /* one register that always fails to read */
    if (!is_write && (size_t)offset <= 0xf0 && 0xf0 < offset + count) {
        errno = EIO;
        return -1;
    }
    if (!is_write) {
        memcpy(buf, evil_cfg + offset, count);
    }
    return (ssize_t)count;
}

static int
evil_setup(vfu_ctx_t *ctx)
{
    memset(evil_cfg, 0, sizeof(evil_cfg));
    evil_cfg[0] = 0x34;
    evil_cfg[1] = 0x12;
    evil_cfg[PCI_STATUS] = PCI_STATUS_CAP_LIST;
    evil_cfg[PCI_CAPABILITY_LIST] = 0x40;
    evil_cfg[0x40] = PCI_CAP_ID_MSI;
    evil_cfg[0x41] = 0x50;
    evil_cfg[0x50] = 0x42; /* an ID nobody knows */
    evil_cfg[0x51] = 0x40; /* back to the first: a loop */
    /* extended list: DSN at 0x100 pointing at itself */
    evil_cfg[0x100] = PCI_EXT_CAP_ID_DSN;
    evil_cfg[0x102] = 0x01 | (0x00 << 4);
    evil_cfg[0x103] = 0x10; /* next = 0x100 */
    if (vfu_pci_init(ctx, VFU_PCI_TYPE_EXPRESS, PCI_HEADER_TYPE_NORMAL, 0) <
        0) {
        return -1;
    }
    return vfu_setup_region(ctx, CFG, sizeof(evil_cfg), evil_cfg_cb,
                            VFU_REGION_FLAG_RW | VFU_REGION_FLAG_ALWAYS_CB,
                            NULL, 0, -1, 0);
}

static void
test_lspci_socket_hostile_config(void **state)
{
    lspci_srv_t srv;
    int status;
    char *out;

    (void)state;
    out = lspci_run(&srv, evil_setup, &status);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(out, "Vendor 1234"));
    assert_non_null(strstr(out, "[40] MSI"));
    assert_non_null(strstr(out, "[50] Capability ID 0x42"));
    assert_non_null(strstr(out, "loop in the capability list"));
    assert_non_null(strstr(out, "[100] Device Serial Number"));
    assert_non_null(strstr(out, "loop in the extended capability list"));
    assert_non_null(strstr(out, "(1 dword(s) unreadable: shown as ff)"));
    assert_non_null(strstr(out, "0f0: ff ff ff ff 00"));
    free(out);
}

static void
test_lspci_errors(void **state)
{
    char cmd[4200];
    int status;

    (void)state;
    snprintf(cmd, sizeof(cmd), "%s %s >/dev/null 2>&1",
             tu_build_path("bin/vfu-lspci"), "/nonexistent/vfu.sock");
    status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    snprintf(cmd, sizeof(cmd), "%s --device no-such-device >/dev/null 2>&1",
             tu_build_path("bin/vfu-lspci"));
    status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
}

/* ------------------------------------------------------------------ */

#define BOTH(fn)                                                               \
    cmocka_unit_test_setup_teardown(fn, setup_inproc, teardown),               \
        cmocka_unit_test_setup_teardown(fn, setup_sock, teardown)
#define PLAIN(fn)                                                              \
    cmocka_unit_test_setup_teardown(fn, tu_fd_setup, tu_fd_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_negotiate_defaults),
        BOTH(test_device_info_cached),
        BOTH(test_region_info_gpio),
        BOTH(test_irq_info_gpio),
        BOTH(test_config_read_ids),
        BOTH(test_bar_read_write),
        BOTH(test_write_queue_individual),
        BOTH(test_reset_clears_device),
        BOTH(test_raw_error_replies),
        BOTH(test_send_bytes_recv_any),
        BOTH(test_server_hangup),
        BOTH(test_mmap_and_io_fds_gpio),
        PLAIN(test_chunked_access),
        PLAIN(test_write_queue_multi),
        PLAIN(test_trace_stream),
        PLAIN(test_no_negotiate_then_raw_version),
        PLAIN(test_bad_options),
        PLAIN(test_hostile_wrong_id_dropped),
        PLAIN(test_hostile_silent_times_out),
        PLAIN(test_hostile_negotiation_timeout),
        PLAIN(test_hostile_wrong_command),
        PLAIN(test_hostile_error_replies),
        PLAIN(test_hostile_oversize_message),
        PLAIN(test_hostile_unexpected_fds),
        PLAIN(test_hostile_region_read_echo),
        PLAIN(test_fake_sparse_mmap),
        PLAIN(test_hostile_region_caps),
        PLAIN(test_fake_server_command_refused),
        PLAIN(test_hostile_server_never_reads),
        PLAIN(test_fake_io_fds_shared),
        PLAIN(test_hostile_version_replies),
        PLAIN(test_fake_hangup),
        PLAIN(test_lspci_gpio),
        PLAIN(test_lspci_errors),
        PLAIN(test_lspci_socket_capabilities),
        PLAIN(test_lspci_socket_hostile_config),
    };

    /* SIGPIPE is left at its default: a hung-up peer must not kill us */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
