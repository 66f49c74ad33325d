/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_irq.c - interrupt setup, GET_IRQ_INFO, every SET_IRQS action and
 * data type, and vfu_irq_trigger(), driven through the real server
 * pipeline on the in-process transport with real eventfds.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/testutil.h"

#include "proto/proto.h"
#include "server/private.h"
#include "vfio-user/libvfio-user.h"

#define INTX VFU_DEV_INTX_IRQ
#define MSI VFU_DEV_MSI_IRQ
#define MSIX VFU_DEV_MSIX_IRQ
#define ERR VFU_DEV_ERR_IRQ
#define REQ VFU_DEV_REQ_IRQ

#define TRIG VFIO_IRQ_SET_ACTION_TRIGGER
#define MASK VFIO_IRQ_SET_ACTION_MASK
#define UNMASK VFIO_IRQ_SET_ACTION_UNMASK
#define NONE VFIO_IRQ_SET_DATA_NONE
#define BOOL VFIO_IRQ_SET_DATA_BOOL
#define EFD VFIO_IRQ_SET_DATA_EVENTFD

/* ------------------------------------------------------------------ */
/* Fixture and round trips through the in-process transport            */
/* ------------------------------------------------------------------ */

#define RT_BUF 4096
#define RT_FDS 16
#define MAX_CALLS 16

/* One call of the device's IRQ state callback. */
typedef struct state_call {
    uint32_t start;
    uint32_t count;
    bool mask;
} state_call_t;

typedef struct fx {
    vfu_ctx_t *ctx;
    uint16_t id;
    uint8_t buf[RT_BUF];
    struct vfio_user_header hdr;
    uint8_t *body;
    size_t len;
    state_call_t calls[MAX_CALLS];
    size_t nr_calls;
} fx_t;

static void
state_cb(vfu_ctx_t *ctx, uint32_t start, uint32_t count, bool mask)
{
    fx_t *fx = vfu_get_private(ctx);

    assert_true(fx->nr_calls < MAX_CALLS);
    fx->calls[fx->nr_calls++] = (state_call_t){start, count, mask};
}

static fx_t *
fx_new(void)
{
    fx_t *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    fx->ctx = vfu_create_ctx(VFU_TRANS_EXT_INPROC, NULL,
                             LIBVFIO_USER_FLAG_ATTACH_NB, fx,
                             VFU_DEV_TYPE_PCI);
    assert_non_null(fx->ctx);
    assert_int_equal(vfu_pci_init(fx->ctx, VFU_PCI_TYPE_CONVENTIONAL,
                                  PCI_HEADER_TYPE_NORMAL, 0),
                     0);
    return fx;
}

static void
fx_free(fx_t *fx)
{
    vfu_destroy_ctx(fx->ctx);
    free(fx);
}

/* Pop the next reply (it carries no fds here); returns its error_no. */
static int
fx_pop(fx_t *fx, uint16_t cmd)
{
    size_t nr_fds = 0;
    ssize_t n;

    n = vfu_ext_inproc_recv(fx->ctx, fx->buf, sizeof(fx->buf), NULL, &nr_fds);
    assert_true(n >= (ssize_t)PROTO_HDR_SIZE);
    assert_true((size_t)n <= sizeof(fx->buf));
    assert_int_equal(nr_fds, 0);
    memcpy(&fx->hdr, fx->buf, sizeof(fx->hdr));
    assert_int_equal(fx->hdr.msg_id, fx->id);
    assert_int_equal(fx->hdr.cmd, cmd);
    fx->body = fx->buf + PROTO_HDR_SIZE;
    fx->len = (size_t)n - PROTO_HDR_SIZE;
    return (fx->hdr.flags & VFIO_USER_F_ERROR) ? (int)fx->hdr.error_no : 0;
}

static int
rt_fds(fx_t *fx, uint16_t cmd, const void *body, size_t len, const int *fds,
       size_t nr_fds)
{
    struct vfio_user_header hdr;
    uint8_t msg[RT_BUF];
    int dup_fds[RT_FDS];
    size_t i;

    assert_true(PROTO_HDR_SIZE + len <= sizeof(msg));
    assert_true(nr_fds <= RT_FDS);
    for (i = 0; i < nr_fds; i++) {
        dup_fds[i] = dup(fds[i]);
        assert_true(dup_fds[i] >= 0);
    }
    proto_hdr_cmd(&hdr, ++fx->id, cmd, len, false);
    memcpy(msg, &hdr, sizeof(hdr));
    if (len > 0) {
        memcpy(msg + PROTO_HDR_SIZE, body, len);
    }
    assert_int_equal(vfu_ext_inproc_send(fx->ctx, msg, PROTO_HDR_SIZE + len,
                                         dup_fds, nr_fds),
                     0);
    assert_true(vfu_run_ctx(fx->ctx) >= 0);
    return fx_pop(fx, cmd);
}

static int
rt(fx_t *fx, uint16_t cmd, const void *body, size_t len)
{
    return rt_fds(fx, cmd, body, len, NULL, 0);
}

static void
fx_attach(fx_t *fx)
{
    static const char json[] = "{\"capabilities\":{\"max_msg_fds\":16}}";
    struct vfio_user_version ver = {.major = 0, .minor = 2};
    struct vfio_user_header hdr;
    uint8_t msg[256];
    size_t len = sizeof(ver) + sizeof(json);

    assert_int_equal(vfu_realize_ctx(fx->ctx), 0);
    assert_int_equal(vfu_ext_inproc_connect(fx->ctx, NULL, NULL), 0);
    proto_hdr_cmd(&hdr, ++fx->id, VFIO_USER_VERSION, len, false);
    memcpy(msg, &hdr, sizeof(hdr));
    memcpy(msg + sizeof(hdr), &ver, sizeof(ver));
    memcpy(msg + sizeof(hdr) + sizeof(ver), json, sizeof(json));
    assert_int_equal(vfu_ext_inproc_send(fx->ctx, msg, sizeof(hdr) + len,
                                         NULL, 0),
                     0);
    assert_int_equal(vfu_attach_ctx(fx->ctx), 0);
    assert_int_equal(fx_pop(fx, VFIO_USER_VERSION), 0);
}

/* A device with 1 INTx, 4 MSI and 16 MSI-X vectors, attached. */
static fx_t *
fx_ready(void)
{
    fx_t *fx = fx_new();

    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, INTX, 1), 0);
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, MSI, 4), 0);
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, MSIX, 16), 0);
    assert_int_equal(vfu_setup_irq_state_callback(fx->ctx, MSIX, state_cb), 0);
    fx_attach(fx);
    return fx;
}

/* SET_IRQS with @nbools bool bytes and @nr_fds eventfds. */
static int
set_irqs(fx_t *fx, uint32_t flags, uint32_t index, uint32_t start,
         uint32_t count, const uint8_t *bools, size_t nbools, const int *fds,
         size_t nr_fds)
{
    struct vfio_irq_set is = {.argsz = (uint32_t)(sizeof(is) + nbools),
                              .flags = flags,
                              .index = index,
                              .start = start,
                              .count = count};
    uint8_t buf[sizeof(is) + 64];

    assert_true(nbools <= 64);
    memcpy(buf, &is, sizeof(is));
    if (nbools > 0) {
        memcpy(buf + sizeof(is), bools, nbools);
    }
    return rt_fds(fx, VFIO_USER_DEVICE_SET_IRQS, buf, sizeof(is) + nbools,
                  fds, nr_fds);
}

static int
set_simple(fx_t *fx, uint32_t flags, uint32_t index, uint32_t start,
           uint32_t count)
{
    return set_irqs(fx, flags, index, start, count, NULL, 0, NULL, 0);
}

static int
new_efd(unsigned int initval)
{
    int fd = eventfd(initval, EFD_NONBLOCK | EFD_CLOEXEC);

    assert_true(fd >= 0);
    return fd;
}

/* The eventfd's counter (reading resets it); 0 when nothing was written. */
static uint64_t
efd_count(int fd)
{
    uint64_t v = 0;
    ssize_t n = read(fd, &v, sizeof(v));

    if (n < 0) {
        assert_int_equal(errno, EAGAIN);
        return 0;
    }
    assert_int_equal(n, sizeof(v));
    return v;
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */
/* ------------------------------------------------------------------ */

static void
test_setup_nr_irqs_limits(void **state)
{
    fx_t *fx = fx_new();

    (void)state;
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, VFU_DEV_NUM_IRQS, 1),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, INTX, 2), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, MSI, 33), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, MSIX, 2049), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, ERR, 2), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, REQ, 2), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_irq_state_callback(fx->ctx, VFU_DEV_NUM_IRQS,
                                                  state_cb),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, INTX, 1), 0);
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, MSI, 32), 0);
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, MSIX, 2048), 0);
    /* set again: the new count replaces the old */
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, MSIX, 4), 0);
    assert_int_equal(vfu_realize_ctx(fx->ctx), 0);
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, MSIX, 8), -1);
    assert_int_equal(errno, EINVAL);
    fx_free(fx);
}

static int
irq_info(fx_t *fx, uint32_t index, uint32_t argsz, struct vfio_irq_info *out)
{
    struct vfio_irq_info in = {.argsz = argsz, .index = index};
    int rc = rt(fx, VFIO_USER_DEVICE_GET_IRQ_INFO, &in, sizeof(in));

    if (rc == 0) {
        assert_int_equal(fx->len, sizeof(*out));
        memcpy(out, fx->body, sizeof(*out));
    }
    return rc;
}

static void
test_irq_info_replies(void **state)
{
    /* libvfio-user reports EVENTFD alone, MASK/UNMASK work all the same */
    const uint32_t maskable = VFIO_IRQ_INFO_EVENTFD;
    struct vfio_irq_info out;
    fx_t *fx = fx_ready();

    (void)state;
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_IRQ_INFO, &out, 8), EINVAL);
    assert_int_equal(irq_info(fx, MSIX, 8, &out), EINVAL);
    assert_int_equal(irq_info(fx, VFU_DEV_NUM_IRQS, sizeof(out), &out),
                     EINVAL);

    assert_int_equal(irq_info(fx, INTX, sizeof(out) + 16, &out), 0);
    assert_int_equal(out.argsz, sizeof(out));
    assert_int_equal(out.index, INTX);
    assert_int_equal(out.count, 1);
    assert_int_equal(out.flags, maskable);
    assert_int_equal(irq_info(fx, MSI, sizeof(out), &out), 0);
    assert_int_equal(out.count, 4);
    assert_int_equal(out.flags, maskable);
    assert_int_equal(irq_info(fx, MSIX, sizeof(out), &out), 0);
    assert_int_equal(out.count, 16);
    assert_int_equal(out.flags, maskable);
    /* one ERR and one REQ by default, trigger only */
    assert_int_equal(irq_info(fx, ERR, sizeof(out), &out), 0);
    assert_int_equal(out.count, 1);
    assert_int_equal(out.flags, VFIO_IRQ_INFO_EVENTFD);
    assert_int_equal(irq_info(fx, REQ, sizeof(out), &out), 0);
    assert_int_equal(out.count, 1);
    assert_int_equal(out.flags, VFIO_IRQ_INFO_EVENTFD);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* SET_IRQS validation                                                 */
/* ------------------------------------------------------------------ */

static void
test_set_irqs_bad_requests(void **state)
{
    struct vfio_irq_set is = {.argsz = 3, .flags = TRIG | NONE, .index = REQ};
    uint8_t two[2] = {1, 1};
    uint8_t three[3] = {0};
    int efd = new_efd(0);
    fx_t *fx = fx_ready();

    (void)state;
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_SET_IRQS, &is, 8), EINVAL);
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_SET_IRQS, &is, sizeof(is)),
                     EINVAL);
    assert_int_equal(set_simple(fx, TRIG | NONE, VFU_DEV_NUM_IRQS, 0, 0),
                     EINVAL);
    /* one action and one data type, nothing else */
    assert_int_equal(set_simple(fx, MASK | UNMASK | NONE, MSIX, 0, 1), EINVAL);
    assert_int_equal(set_simple(fx, MASK | NONE | BOOL, MSIX, 0, 1), EINVAL);
    assert_int_equal(set_simple(fx, NONE, MSIX, 0, 1), EINVAL);
    assert_int_equal(set_simple(fx, TRIG, MSIX, 0, 1), EINVAL);
    assert_int_equal(set_simple(fx, TRIG | NONE | 0x100, MSIX, 0, 1), EINVAL);
    /* ranges */
    assert_int_equal(set_simple(fx, MASK | NONE, MSIX, 15, 2), EINVAL);
    assert_int_equal(set_simple(fx, MASK | NONE, MSIX, 17, 1), EINVAL);
    assert_int_equal(set_simple(fx, TRIG | EFD, MSIX, 3, 0xffffffff), EINVAL);
    assert_int_equal(set_simple(fx, TRIG | NONE, MSI, 4, 1), EINVAL);
    assert_int_equal(set_simple(fx, TRIG | NONE, INTX, 0, 2), EINVAL);
    /* ERR and REQ: one vector, TRIGGER only */
    assert_int_equal(set_simple(fx, MASK | NONE, ERR, 0, 1), EINVAL);
    assert_int_equal(set_simple(fx, UNMASK | NONE, REQ, 0, 1), EINVAL);
    assert_int_equal(set_simple(fx, TRIG | NONE, ERR, 0, 2), EINVAL);
    /* count 0 is only TRIGGER|DATA_NONE from 0 */
    assert_int_equal(set_simple(fx, TRIG | NONE, MSIX, 1, 0), EINVAL);
    assert_int_equal(set_simple(fx, MASK | NONE, MSIX, 0, 0), EINVAL);
    assert_int_equal(set_simple(fx, TRIG | BOOL, MSIX, 0, 0), EINVAL);
    /* fds only with DATA_EVENTFD, and one per vector */
    assert_int_equal(set_irqs(fx, TRIG | BOOL, MSIX, 0, 1, two, 1, &efd, 1),
                     EINVAL);
    assert_int_equal(set_irqs(fx, TRIG | NONE, MSIX, 0, 1, NULL, 0, &efd, 1),
                     EINVAL);
    assert_int_equal(set_irqs(fx, TRIG | EFD, MSIX, 0, 2, NULL, 0, &efd, 1),
                     EINVAL);
    /* one bool per vector */
    assert_int_equal(set_irqs(fx, TRIG | BOOL, MSIX, 0, 2, two, 1, NULL, 0),
                     EINVAL);
    assert_int_equal(set_irqs(fx, TRIG | BOOL, MSIX, 0, 2, three, 3, NULL, 0),
                     EINVAL);
    /* nothing of the above reached the eventfd or the device */
    assert_int_equal(efd_count(efd), 0);
    assert_int_equal(fx->nr_calls, 0);
    fx_free(fx);
    close(efd);
}

/* ------------------------------------------------------------------ */
/* TRIGGER                                                             */
/* ------------------------------------------------------------------ */

static void
test_set_irqs_eventfd_and_trigger(void **state)
{
    int fds[2] = {new_efd(0), new_efd(0)};
    int other = new_efd(0);
    fx_t *fx = fx_ready();

    (void)state;
    /* no eventfd yet: ENOENT; beyond every count: EINVAL */
    assert_int_equal(vfu_irq_trigger(fx->ctx, 2), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 16), -1);
    assert_int_equal(errno, EINVAL);

    assert_int_equal(set_irqs(fx, TRIG | EFD, MSIX, 2, 2, NULL, 0, fds, 2), 0);
    assert_int_equal(fx->len, 0);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 2), 0);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 3), 0);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 3), 0);
    assert_int_equal(efd_count(fds[0]), 1);
    assert_int_equal(efd_count(fds[1]), 2);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 0), -1);
    assert_int_equal(errno, ENOENT);

    /* a new eventfd replaces (and closes) the old one */
    assert_int_equal(set_irqs(fx, TRIG | EFD, MSIX, 2, 1, NULL, 0, &other, 1),
                     0);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 2), 0);
    assert_int_equal(efd_count(other), 1);
    assert_int_equal(efd_count(fds[0]), 0);
    fx_free(fx);
    close(fds[0]);
    close(fds[1]);
    close(other);
}

static void
test_set_irqs_client_triggers(void **state)
{
    int fds[2] = {new_efd(4), new_efd(8)};
    uint8_t bools[2] = {0, 1};
    fx_t *fx = fx_ready();

    (void)state;
    assert_int_equal(set_irqs(fx, TRIG | EFD, MSIX, 0, 2, NULL, 0, fds, 2), 0);
    /* DATA_NONE: every vector of the range */
    assert_int_equal(set_simple(fx, TRIG | NONE, MSIX, 1, 1), 0);
    assert_int_equal(efd_count(fds[0]), 4);
    assert_int_equal(efd_count(fds[1]), 9);
    /* DATA_BOOL: the vectors whose bool is set */
    assert_int_equal(set_irqs(fx, TRIG | BOOL, MSIX, 0, 2, bools, 2, NULL, 0),
                     0);
    assert_int_equal(efd_count(fds[0]), 0);
    assert_int_equal(efd_count(fds[1]), 1);
    bools[0] = 1;
    assert_int_equal(set_irqs(fx, TRIG | BOOL, MSIX, 0, 2, bools, 2, NULL, 0),
                     0);
    assert_int_equal(efd_count(fds[0]), 1);
    assert_int_equal(efd_count(fds[1]), 1);
    /* vectors without an eventfd are skipped quietly */
    assert_int_equal(set_simple(fx, TRIG | NONE, MSIX, 0, 16), 0);
    assert_int_equal(efd_count(fds[0]), 1);
    fx_free(fx);
    close(fds[0]);
    close(fds[1]);
}

static void
test_set_irqs_teardown(void **state)
{
    int fds[3] = {new_efd(0), new_efd(0), new_efd(0)};
    int before;
    fx_t *fx = fx_ready();

    (void)state;
    before = tu_count_fds();
    assert_int_equal(set_irqs(fx, TRIG | EFD, MSIX, 0, 3, NULL, 0, fds, 3), 0);
    /* the context holds its own three copies */
    assert_int_equal(tu_count_fds(), before + 3);

    /* DATA_EVENTFD without fds detaches the range ("-1" in vfio-user) */
    assert_int_equal(set_simple(fx, TRIG | EFD, MSIX, 1, 1), 0);
    assert_int_equal(tu_count_fds(), before + 2);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 1), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 2), 0);
    assert_int_equal(efd_count(fds[2]), 1);

    /* count 0 with TRIGGER|DATA_NONE disables the whole index */
    assert_int_equal(set_simple(fx, TRIG | NONE, MSIX, 0, 0), 0);
    assert_int_equal(tu_count_fds(), before);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 0), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 2), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(efd_count(fds[0]), 0);
    fx_free(fx);
    close(fds[0]);
    close(fds[1]);
    close(fds[2]);
}

static void
test_irq_trigger_follows_enabled_type(void **state)
{
    int intx = new_efd(0), msix = new_efd(0), msi = new_efd(0);
    fx_t *fx = fx_ready();

    (void)state;
    assert_int_equal(set_irqs(fx, TRIG | EFD, INTX, 0, 1, NULL, 0, &intx, 1),
                     0);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 0), 0);
    assert_int_equal(efd_count(intx), 1);
    /* vector 5 exists for MSI-X only, which is not enabled */
    assert_int_equal(vfu_irq_trigger(fx->ctx, 5), -1);
    assert_int_equal(errno, ENOENT);

    /* MSI-X enabled: it wins, as in PCI */
    assert_int_equal(set_irqs(fx, TRIG | EFD, MSIX, 0, 1, NULL, 0, &msix, 1),
                     0);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 0), 0);
    assert_int_equal(efd_count(msix), 1);
    assert_int_equal(efd_count(intx), 0);

    /* MSI-X off, MSI on */
    assert_int_equal(set_simple(fx, TRIG | NONE, MSIX, 0, 0), 0);
    assert_int_equal(set_simple(fx, TRIG | NONE, INTX, 0, 0), 0);
    assert_int_equal(set_irqs(fx, TRIG | EFD, MSI, 0, 1, NULL, 0, &msi, 1), 0);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 0), 0);
    assert_int_equal(efd_count(msi), 1);
    assert_int_equal(efd_count(msix), 0);
    assert_int_equal(efd_count(intx), 0);
    fx_free(fx);
    close(intx);
    close(msix);
    close(msi);
}

static void
test_set_irqs_err_and_req(void **state)
{
    int err = new_efd(0), req = new_efd(0);
    fx_t *fx = fx_ready();

    (void)state;
    assert_int_equal(set_irqs(fx, TRIG | EFD, ERR, 0, 1, NULL, 0, &err, 1), 0);
    assert_int_equal(set_irqs(fx, TRIG | EFD, REQ, 0, 1, NULL, 0, &req, 1), 0);
    assert_int_equal(set_simple(fx, TRIG | NONE, REQ, 0, 1), 0);
    assert_int_equal(efd_count(req), 1);
    assert_int_equal(efd_count(err), 0);
    /* vfu_irq_trigger() is for INTx/MSI/MSI-X only */
    assert_int_equal(vfu_irq_trigger(fx->ctx, 0), -1);
    assert_int_equal(errno, ENOENT);
    /* disabling REQ drops its eventfd */
    assert_int_equal(set_simple(fx, TRIG | NONE, REQ, 0, 0), 0);
    assert_int_equal(set_simple(fx, TRIG | NONE, REQ, 0, 1), 0);
    assert_int_equal(efd_count(req), 0);
    fx_free(fx);
    close(err);
    close(req);
}

static void
test_irq_trigger_without_irqs(void **state)
{
    fx_t *fx = fx_new();

    (void)state;
    fx_attach(fx);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_irq_trigger(NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* MASK / UNMASK                                                       */
/* ------------------------------------------------------------------ */

static void
test_set_irqs_mask_holds_interrupts(void **state)
{
    int efd = new_efd(0);
    fx_t *fx = fx_ready();

    (void)state;
    assert_int_equal(set_irqs(fx, TRIG | EFD, MSIX, 0, 1, NULL, 0, &efd, 1),
                     0);
    assert_int_equal(set_simple(fx, MASK | NONE, MSIX, 0, 1), 0);
    assert_int_equal(fx->nr_calls, 1);
    assert_int_equal(fx->calls[0].start, 0);
    assert_int_equal(fx->calls[0].count, 1);
    assert_true(fx->calls[0].mask);

    /* masked: the device's and the client's triggers do not fire */
    assert_int_equal(vfu_irq_trigger(fx->ctx, 0), 0);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 0), 0);
    assert_int_equal(set_simple(fx, TRIG | NONE, MSIX, 0, 1), 0);
    assert_int_equal(efd_count(efd), 0);

    /* unmasked: the pending interrupt is delivered, once */
    assert_int_equal(set_simple(fx, UNMASK | NONE, MSIX, 0, 1), 0);
    assert_int_equal(fx->nr_calls, 2);
    assert_false(fx->calls[1].mask);
    assert_int_equal(efd_count(efd), 1);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 0), 0);
    assert_int_equal(efd_count(efd), 1);

    /* unmasking with nothing pending fires nothing */
    assert_int_equal(set_simple(fx, MASK | NONE, MSIX, 0, 1), 0);
    assert_int_equal(set_simple(fx, UNMASK | NONE, MSIX, 0, 1), 0);
    assert_int_equal(efd_count(efd), 0);
    fx_free(fx);
    close(efd);
}

static void
test_set_irqs_mask_bool_runs(void **state)
{
    uint8_t bools[5] = {1, 0, 1, 1, 0};
    int fds[2] = {new_efd(0), new_efd(0)};
    fx_t *fx = fx_ready();

    (void)state;
    assert_int_equal(set_irqs(fx, TRIG | EFD, MSIX, 4, 2, NULL, 0, fds, 2), 0);
    /* vectors 4, 6 and 7 masked: the device hears of [4,5) and [6,8) */
    assert_int_equal(set_irqs(fx, MASK | BOOL, MSIX, 4, 5, bools, 5, NULL, 0),
                     0);
    assert_int_equal(fx->nr_calls, 2);
    assert_int_equal(fx->calls[0].start, 4);
    assert_int_equal(fx->calls[0].count, 1);
    assert_int_equal(fx->calls[1].start, 6);
    assert_int_equal(fx->calls[1].count, 2);
    assert_true(fx->calls[0].mask && fx->calls[1].mask);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 4), 0);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 5), 0);
    assert_int_equal(efd_count(fds[0]), 0);
    assert_int_equal(efd_count(fds[1]), 1);
    /* all-zero bools: nothing changes, the device is not called */
    memset(bools, 0, sizeof(bools));
    assert_int_equal(set_irqs(fx, UNMASK | BOOL, MSIX, 4, 5, bools, 5, NULL,
                              0),
                     0);
    assert_int_equal(fx->nr_calls, 2);
    assert_int_equal(efd_count(fds[0]), 0);
    bools[0] = 1;
    assert_int_equal(set_irqs(fx, UNMASK | BOOL, MSIX, 4, 1, bools, 1, NULL,
                              0),
                     0);
    assert_int_equal(fx->nr_calls, 3);
    assert_false(fx->calls[2].mask);
    assert_int_equal(efd_count(fds[0]), 1);
    fx_free(fx);
    close(fds[0]);
    close(fds[1]);
}

static void
test_set_irqs_mask_eventfds(void **state)
{
    int trig = new_efd(0), m = new_efd(0), u = new_efd(0);
    fx_t *fx = fx_ready();

    (void)state;
    assert_int_equal(set_irqs(fx, TRIG | EFD, MSIX, 1, 1, NULL, 0, &trig, 1),
                     0);
    assert_int_equal(set_irqs(fx, MASK | EFD, MSIX, 1, 1, NULL, 0, &m, 1), 0);
    assert_int_equal(set_irqs(fx, UNMASK | EFD, MSIX, 1, 1, NULL, 0, &u, 1),
                     0);
    /* registering them is not a mask or unmask */
    assert_int_equal(fx->nr_calls, 0);
    assert_int_equal(efd_count(m) + efd_count(u), 0);

    assert_int_equal(set_simple(fx, MASK | NONE, MSIX, 1, 1), 0);
    assert_int_equal(efd_count(m), 1);
    assert_int_equal(efd_count(u), 0);
    /* masking a masked vector changes nothing */
    assert_int_equal(set_simple(fx, MASK | NONE, MSIX, 1, 1), 0);
    assert_int_equal(efd_count(m), 0);
    assert_int_equal(set_simple(fx, UNMASK | NONE, MSIX, 1, 1), 0);
    assert_int_equal(efd_count(u), 1);
    assert_int_equal(efd_count(trig), 0);

    /* detached: no more notifications */
    assert_int_equal(set_simple(fx, MASK | EFD, MSIX, 1, 1), 0);
    assert_int_equal(set_simple(fx, MASK | NONE, MSIX, 1, 1), 0);
    assert_int_equal(efd_count(m), 0);
    fx_free(fx);
    close(trig);
    close(m);
    close(u);
}

/* ------------------------------------------------------------------ */
/* Client loss, INTx pin                                               */
/* ------------------------------------------------------------------ */

static void
test_irq_client_loss_closes_eventfds(void **state)
{
    int fds[2] = {new_efd(0), new_efd(0)};
    int before;
    fx_t *fx = fx_ready();

    (void)state;
    before = tu_count_fds();
    assert_int_equal(set_irqs(fx, TRIG | EFD, MSIX, 0, 2, NULL, 0, fds, 2), 0);
    assert_int_equal(set_simple(fx, MASK | NONE, MSIX, 0, 1), 0);
    assert_int_equal(tu_count_fds(), before + 2);
    vfu_ext_inproc_disconnect(fx->ctx);
    (void)vfu_run_ctx(fx->ctx);
    assert_int_equal(tu_count_fds(), before);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 0), -1);
    assert_int_equal(errno, ENOENT);

    /* the next client starts from scratch: unmasked */
    fx->id = 0;
    fx_attach(fx);
    assert_int_equal(set_irqs(fx, TRIG | EFD, MSIX, 0, 1, NULL, 0, fds, 1), 0);
    assert_int_equal(vfu_irq_trigger(fx->ctx, 0), 0);
    assert_int_equal(efd_count(fds[0]), 1);
    fx_free(fx);
    close(fds[0]);
    close(fds[1]);
}

static uint8_t
read_cfg8(fx_t *fx, uint64_t off)
{
    struct vfio_user_region_access ra = {
        .offset = off, .region = VFU_PCI_DEV_CFG_REGION_IDX, .count = 1};

    assert_int_equal(rt(fx, VFIO_USER_REGION_READ, &ra, sizeof(ra)), 0);
    assert_int_equal(fx->len, sizeof(ra) + 1);
    return fx->body[sizeof(ra)];
}

static void
test_intx_sets_interrupt_pin(void **state)
{
    fx_t *fx = fx_ready();

    (void)state;
    assert_int_equal(read_cfg8(fx, PCI_INTERRUPT_PIN), 1);
    fx_free(fx);

    fx = fx_new();
    assert_int_equal(vfu_setup_device_nr_irqs(fx->ctx, MSIX, 4), 0);
    fx_attach(fx);
    assert_int_equal(read_cfg8(fx, PCI_INTERRUPT_PIN), 0);
    fx_free(fx);
}


/* ------------------------------------------------------------------ */
/* Handlers on their own (what proto/ normally checks first)           */
/* ------------------------------------------------------------------ */

static int
call_set_irqs(fx_t *fx, const struct vfio_irq_set *is, size_t extra,
              size_t nr_fds)
{
    proto_msg_t msg = PROTO_MSG_INIT;
    vfu_reply_t reply = {0};
    size_t i;
    int rc;

    msg.body_len = sizeof(*is) + extra;
    msg.body = calloc(1, msg.body_len);
    assert_non_null(msg.body);
    memcpy(msg.body, is, sizeof(*is));
    if (nr_fds > 0) {
        msg.fds = malloc(nr_fds * sizeof(int));
        assert_non_null(msg.fds);
        for (i = 0; i < nr_fds; i++) {
            msg.fds[i] = new_efd(0);
        }
        msg.nr_fds = nr_fds;
    }
    proto_hdr_cmd(&msg.hdr, 1, VFIO_USER_DEVICE_SET_IRQS, msg.body_len, false);
    rc = handle_device_set_irqs(fx->ctx, &msg, &reply);
    assert_null(reply.body);
    proto_msg_free(&msg);
    return rc;
}

static void
test_handlers_check_their_input(void **state)
{
    struct vfio_irq_set is = {
        .argsz = sizeof(is), .flags = TRIG | BOOL, .index = MSIX, .count = 2};
    proto_msg_t msg = PROTO_MSG_INIT;
    vfu_reply_t reply = {0};
    fx_t *fx = fx_ready();

    (void)state;
    /* one bool byte for two vectors */
    assert_int_equal(call_set_irqs(fx, &is, 1, 0), -EINVAL);
    /* unknown flag bits */
    is.flags = TRIG | NONE | 0x1000;
    assert_int_equal(call_set_irqs(fx, &is, 0, 0), -EINVAL);
    /* fds without DATA_EVENTFD; the wrong number of fds */
    is.flags = TRIG | NONE;
    assert_int_equal(call_set_irqs(fx, &is, 0, 2), -EINVAL);
    is.flags = TRIG | EFD;
    assert_int_equal(call_set_irqs(fx, &is, 0, 1), -EINVAL);
    /* the right number: both fds are taken (none left to close) */
    assert_int_equal(call_set_irqs(fx, &is, 0, 2), 0);
    /* argsz smaller than the struct */
    is.argsz = 4;
    assert_int_equal(call_set_irqs(fx, &is, 0, 0), -EINVAL);
    /* short bodies */
    msg.body = calloc(1, 8);
    assert_non_null(msg.body);
    msg.body_len = 8;
    assert_int_equal(handle_device_set_irqs(fx->ctx, &msg, &reply), -EINVAL);
    assert_int_equal(handle_device_get_irq_info(fx->ctx, &msg, &reply),
                     -EINVAL);
    assert_null(reply.body);
    proto_msg_free(&msg);
    fx_free(fx);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_fd_setup, tu_fd_teardown)
    const struct CMUnitTest tests[] = {
        T(test_setup_nr_irqs_limits),
        T(test_irq_info_replies),
        T(test_set_irqs_bad_requests),
        T(test_set_irqs_eventfd_and_trigger),
        T(test_set_irqs_client_triggers),
        T(test_set_irqs_teardown),
        T(test_irq_trigger_follows_enabled_type),
        T(test_set_irqs_err_and_req),
        T(test_irq_trigger_without_irqs),
        T(test_set_irqs_mask_holds_interrupts),
        T(test_set_irqs_mask_bool_runs),
        T(test_set_irqs_mask_eventfds),
        T(test_irq_client_loss_closes_eventfds),
        T(test_intx_sets_interrupt_pin),
        T(test_handlers_check_their_input),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
