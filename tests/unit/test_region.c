/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_region.c - regions, device/region info, IO fds, region access,
 * WRITE_MULTI, reset, and the DMA and migration API surface, driven
 * through the real server pipeline on the in-process transport.
 */

#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "common/testutil.h"

#include "proto/proto.h"
#include "server/private.h"
#include "vfio-user/libvfio-user.h"

#define BAR0 VFU_PCI_DEV_BAR0_REGION_IDX
#define BAR1 VFU_PCI_DEV_BAR1_REGION_IDX
#define BAR2 VFU_PCI_DEV_BAR2_REGION_IDX
#define BAR3 VFU_PCI_DEV_BAR3_REGION_IDX
#define BAR4 VFU_PCI_DEV_BAR4_REGION_IDX
#define BAR5 VFU_PCI_DEV_BAR5_REGION_IDX
#define ROM VFU_PCI_DEV_ROM_REGION_IDX
#define CFG VFU_PCI_DEV_CFG_REGION_IDX

#define BAR0_SIZE 0x10000u
#define BAR2_SIZE 0x8000u
#define MEM_RW (VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM)

/* ------------------------------------------------------------------ */
/* The test device                                                     */
/* ------------------------------------------------------------------ */

typedef struct tdev {
    uint8_t bar0[BAR0_SIZE];
    int bar2_fd;  /* memfd behind the mappable BAR2 */
    int cb_errno; /* the next BAR0 access fails with it */
    ssize_t cb_short; /* >= 0: the next BAR0 access returns this */
    int accesses;
    int resets;
    vfu_reset_type_t last_reset;
    int reset_errno;
} tdev_t;

static ssize_t
bar0_cb(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
    tdev_t *d = vfu_get_private(ctx);

    d->accesses++;
    if (d->cb_errno != 0) {
        errno = d->cb_errno;
        d->cb_errno = 0;
        return -1;
    }
    if (d->cb_short >= 0) {
        ssize_t n = d->cb_short;

        d->cb_short = -1;
        return n;
    }
    if (is_write) {
        memcpy(d->bar0 + offset, buf, count);
    } else {
        memcpy(buf, d->bar0 + offset, count);
    }
    return (ssize_t)count;
}

static int
reset_cb(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
    tdev_t *d = vfu_get_private(ctx);

    d->resets++;
    d->last_reset = type;
    if (d->reset_errno != 0) {
        errno = d->reset_errno;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Fixture and round trips through the in-process transport            */
/* ------------------------------------------------------------------ */

#define RT_BUF (PROTO_DEFAULT_MAX_DATA_XFER + PROTO_MSG_OVERHEAD)
#define RT_FDS 16

typedef struct fx {
    vfu_ctx_t *ctx;
    tdev_t dev;
    uint16_t id;
    uint8_t *buf; /* last reply, header included */
    struct vfio_user_header hdr;
    uint8_t *body;
    size_t len;
    int fds[RT_FDS];
    size_t nr_fds;
} fx_t;

static fx_t *
fx_new(void)
{
    fx_t *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    fx->buf = malloc(RT_BUF);
    assert_non_null(fx->buf);
    fx->dev.bar2_fd = -1;
    fx->dev.cb_short = -1;
    fx->ctx = vfu_create_ctx(VFU_TRANS_EXT_INPROC, NULL,
                             LIBVFIO_USER_FLAG_ATTACH_NB, &fx->dev,
                             VFU_DEV_TYPE_PCI);
    assert_non_null(fx->ctx);
    return fx;
}

static void
fx_close_fds(fx_t *fx)
{
    size_t i;

    for (i = 0; i < fx->nr_fds; i++) {
        close(fx->fds[i]);
    }
    fx->nr_fds = 0;
}

static void
fx_free(fx_t *fx)
{
    fx_close_fds(fx);
    vfu_destroy_ctx(fx->ctx);
    if (fx->dev.bar2_fd >= 0) {
        close(fx->dev.bar2_fd);
    }
    free(fx->buf);
    free(fx);
}

/* Pop the next reply into fx; returns its error_no (0 on success). */
static int
fx_pop(fx_t *fx, uint16_t cmd)
{
    ssize_t n;

    fx_close_fds(fx);
    fx->nr_fds = RT_FDS;
    n = vfu_ext_inproc_recv(fx->ctx, fx->buf, RT_BUF, fx->fds, &fx->nr_fds);
    assert_true(n >= (ssize_t)PROTO_HDR_SIZE);
    assert_true((size_t)n <= RT_BUF);
    memcpy(&fx->hdr, fx->buf, sizeof(fx->hdr));
    assert_int_equal(fx->hdr.msg_size, n);
    assert_int_equal(fx->hdr.msg_id, fx->id);
    assert_int_equal(fx->hdr.cmd, cmd);
    assert_int_equal(fx->hdr.flags & VFIO_USER_F_TYPE_MASK,
                     VFIO_USER_F_TYPE_REPLY);
    fx->body = fx->buf + PROTO_HDR_SIZE;
    fx->len = (size_t)n - PROTO_HDR_SIZE;
    if (fx->hdr.flags & VFIO_USER_F_ERROR) {
        assert_int_not_equal(fx->hdr.error_no, 0);
        return (int)fx->hdr.error_no;
    }
    return 0;
}

/*
 * Send one command (the fds are duplicated: the context owns what it is
 * given), let the server run, and pop the reply.  Returns its error_no.
 */
static int
rt_fds(fx_t *fx, uint16_t cmd, const void *body, size_t len, const int *fds,
       size_t nr_fds)
{
    struct vfio_user_header hdr;
    int dup_fds[RT_FDS];
    uint8_t *msg;
    size_t i;

    assert_true(nr_fds <= RT_FDS);
    for (i = 0; i < nr_fds; i++) {
        dup_fds[i] = dup(fds[i]);
        assert_true(dup_fds[i] >= 0);
    }
    msg = malloc(PROTO_HDR_SIZE + len + 1);
    assert_non_null(msg);
    proto_hdr_cmd(&hdr, ++fx->id, cmd, len, false);
    memcpy(msg, &hdr, sizeof(hdr));
    if (len > 0) {
        memcpy(msg + PROTO_HDR_SIZE, body, len);
    }
    assert_int_equal(vfu_ext_inproc_send(fx->ctx, msg, PROTO_HDR_SIZE + len,
                                         dup_fds, nr_fds),
                     0);
    free(msg);
    assert_true(vfu_run_ctx(fx->ctx) >= 0);
    return fx_pop(fx, cmd);
}

static int
rt(fx_t *fx, uint16_t cmd, const void *body, size_t len)
{
    return rt_fds(fx, cmd, body, len, NULL, 0);
}

/* Realize, connect and negotiate (max_msg_fds 16, write_multiple @wm). */
static void
fx_attach(fx_t *fx, bool wm)
{
    struct vfio_user_header hdr;
    struct vfio_user_version ver = {.major = 0, .minor = 2};
    char json[128];
    uint8_t msg[256];
    size_t len;

    snprintf(json, sizeof(json),
             "{\"capabilities\":{\"max_msg_fds\":16%s}}",
             wm ? ",\"write_multiple\":true" : "");
    len = sizeof(ver) + strlen(json) + 1;
    assert_int_equal(vfu_realize_ctx(fx->ctx), 0);
    assert_int_equal(vfu_ext_inproc_connect(fx->ctx, NULL, NULL), 0);
    proto_hdr_cmd(&hdr, ++fx->id, VFIO_USER_VERSION, len, false);
    memcpy(msg, &hdr, sizeof(hdr));
    memcpy(msg + sizeof(hdr), &ver, sizeof(ver));
    memcpy(msg + sizeof(hdr) + sizeof(ver), json, strlen(json) + 1);
    assert_int_equal(vfu_ext_inproc_send(fx->ctx, msg, sizeof(hdr) + len,
                                         NULL, 0),
                     0);
    assert_int_equal(vfu_attach_ctx(fx->ctx), 0);
    assert_int_equal(fx_pop(fx, VFIO_USER_VERSION), 0);
}

/* The usual device: BAR0 with a callback, mappable BAR2, reset callback. */
static void
fx_setup_device(fx_t *fx)
{
    struct iovec areas[2] = {
        {.iov_base = (void *)0x2000, .iov_len = 0x1000},
        {.iov_base = (void *)0x4000, .iov_len = 0x2000},
    };

    assert_int_equal(vfu_pci_init(fx->ctx, VFU_PCI_TYPE_CONVENTIONAL,
                                  PCI_HEADER_TYPE_NORMAL, 0),
                     0);
    vfu_pci_set_id(fx->ctx, 0x4e58, 0x1234, 0x4e58, 0x0001);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR0, BAR0_SIZE, bar0_cb,
                                      MEM_RW, NULL, 0, -1, 0),
                     0);
    fx->dev.bar2_fd = memfd_create("bar2", MFD_CLOEXEC);
    assert_true(fx->dev.bar2_fd >= 0);
    assert_int_equal(ftruncate(fx->dev.bar2_fd, 0x10000), 0);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, BAR2_SIZE, NULL, MEM_RW,
                                      areas, 2, fx->dev.bar2_fd, 0x8000),
                     0);
    assert_int_equal(vfu_setup_device_reset_cb(fx->ctx, reset_cb), 0);
}

static fx_t *
fx_ready(bool wm)
{
    fx_t *fx = fx_new();

    fx_setup_device(fx);
    fx_attach(fx, wm);
    return fx;
}

/* Region access messages. */
static int
region_write(fx_t *fx, uint32_t region, uint64_t off, const void *data,
             uint32_t count)
{
    struct vfio_user_region_access ra = {
        .offset = off, .region = region, .count = count};
    uint8_t *b = malloc(sizeof(ra) + count);
    int rc;

    assert_non_null(b);
    memcpy(b, &ra, sizeof(ra));
    if (count > 0) {
        memcpy(b + sizeof(ra), data, count);
    }
    rc = rt(fx, VFIO_USER_REGION_WRITE, b, sizeof(ra) + count);
    free(b);
    return rc;
}

static int
region_read(fx_t *fx, uint32_t region, uint64_t off, uint32_t count)
{
    struct vfio_user_region_access ra = {
        .offset = off, .region = region, .count = count};

    return rt(fx, VFIO_USER_REGION_READ, &ra, sizeof(ra));
}

static struct vfio_region_info
region_info_req(uint32_t index, uint32_t argsz)
{
    struct vfio_region_info ri = {.argsz = argsz, .index = index};

    return ri;
}

/* ------------------------------------------------------------------ */
/* vfu_setup_region                                                    */
/* ------------------------------------------------------------------ */

static void
test_setup_region_bad_index_and_flags(void **state)
{
    fx_t *fx = fx_new();

    (void)state;
    errno = 0;
    assert_int_equal(vfu_setup_region(fx->ctx, -1, 0x1000, bar0_cb, MEM_RW,
                                      NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_region(fx->ctx, VFU_PCI_DEV_NUM_REGIONS,
                                      0x1000, bar0_cb, MEM_RW, NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* unknown flag bit, and neither READ nor WRITE */
    assert_int_equal(vfu_setup_region(fx->ctx, BAR0, 0x1000, bar0_cb, 0x400,
                                      NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR0, 0x1000, bar0_cb,
                                      VFU_REGION_FLAG_MEM, NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* ALWAYS_CB needs a callback */
    assert_int_equal(vfu_setup_region(fx->ctx, CFG, 256, NULL,
                                      VFU_REGION_FLAG_RW |
                                          VFU_REGION_FLAG_ALWAYS_CB,
                                      NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    fx_free(fx);
}

static void
test_setup_region_bad_sizes(void **state)
{
    fx_t *fx = fx_new();

    (void)state;
    /* BARs: power of two, at least 16 (memory) or 4 (I/O) bytes */
    assert_int_equal(vfu_setup_region(fx->ctx, BAR0, 0x3000, bar0_cb, MEM_RW,
                                      NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR0, 8, bar0_cb, MEM_RW, NULL,
                                      0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR1, 2, bar0_cb,
                                      VFU_REGION_FLAG_RW, NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR1, 4, bar0_cb,
                                      VFU_REGION_FLAG_RW, NULL, 0, -1, 0),
                     0);
    /* the ROM is a BAR too */
    assert_int_equal(vfu_setup_region(fx->ctx, ROM, 0x1800, bar0_cb,
                                      VFU_REGION_FLAG_READ, NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* config space: 256 or 4096, read-write, not memory, not mappable */
    assert_int_equal(vfu_setup_region(fx->ctx, CFG, 512, NULL,
                                      VFU_REGION_FLAG_RW, NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_region(fx->ctx, CFG, 256, NULL, MEM_RW, NULL,
                                      0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_region(fx->ctx, CFG, 256, NULL,
                                      VFU_REGION_FLAG_READ, NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_region(fx->ctx, CFG, 4096, NULL,
                                      VFU_REGION_FLAG_RW, NULL, 0, -1, 0),
                     0);
    fx_free(fx);
}

static void
test_setup_region_64bit_pairs(void **state)
{
    const int f64 = MEM_RW | VFU_REGION_FLAG_64_BITS;
    fx_t *fx = fx_new();

    (void)state;
    /* odd BARs cannot be 64-bit */
    assert_int_equal(vfu_setup_region(fx->ctx, BAR1, 0x1000, bar0_cb, f64,
                                      NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* a 64-bit BAR0 takes BAR1 */
    assert_int_equal(vfu_setup_region(fx->ctx, BAR0, 0x1000, bar0_cb, f64,
                                      NULL, 0, -1, 0),
                     0);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR1, 0x1000, bar0_cb, MEM_RW,
                                      NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* a used BAR3 keeps BAR2 from being 64-bit */
    assert_int_equal(vfu_setup_region(fx->ctx, BAR3, 0x1000, bar0_cb, MEM_RW,
                                      NULL, 0, -1, 0),
                     0);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, 0x1000, bar0_cb, f64,
                                      NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* large 64-bit BARs are fine */
    assert_int_equal(vfu_setup_region(fx->ctx, BAR4, 0x200000000ull, bar0_cb,
                                      f64, NULL, 0, -1, 0),
                     0);
    fx_free(fx);
}

static void
test_setup_region_bad_mmap_areas(void **state)
{
    struct iovec areas[2] = {
        {.iov_base = (void *)0x2000, .iov_len = 0x1000},
        {.iov_base = (void *)0x4000, .iov_len = 0x2000},
    };
    struct iovec bad;
    fx_t *fx = fx_new();
    int fd = memfd_create("t", MFD_CLOEXEC);

    (void)state;
    assert_true(fd >= 0);
    /* areas and their count disagree; areas without an fd; bad fd */
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, 0x10000, NULL, MEM_RW,
                                      areas, 0, fd, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, 0x10000, NULL, MEM_RW,
                                      NULL, 1, fd, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, 0x10000, NULL, MEM_RW,
                                      areas, 2, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, 0x10000, NULL, MEM_RW,
                                      NULL, 0, -7, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* an area past the end of the region */
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, 0x4000, NULL, MEM_RW,
                                      areas, 2, fd, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* not page aligned: area start, area length, fd offset; empty area */
    bad = (struct iovec){.iov_base = (void *)0x100, .iov_len = 0x1000};
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, 0x10000, NULL, MEM_RW,
                                      &bad, 1, fd, 0),
                     -1);
    bad = (struct iovec){.iov_base = (void *)0x1000, .iov_len = 0x800};
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, 0x10000, NULL, MEM_RW,
                                      &bad, 1, fd, 0),
                     -1);
    bad = (struct iovec){.iov_base = (void *)0x1000, .iov_len = 0};
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, 0x10000, NULL, MEM_RW,
                                      &bad, 1, fd, 0),
                     -1);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, 0x10000, NULL, MEM_RW,
                                      areas, 2, fd, 0x123),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* an area whose end wraps around */
    bad = (struct iovec){.iov_base = (void *)(uintptr_t)-0x1000ull,
                         .iov_len = 0x2000};
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, 0x10000, NULL, MEM_RW,
                                      &bad, 1, fd, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* set twice: the second copy replaces the first (no leak) */
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, 0x10000, NULL, MEM_RW,
                                      areas, 2, fd, 0),
                     0);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR2, 0x10000, NULL, MEM_RW,
                                      areas, 1, fd, 0),
                     0);
    fx_free(fx);
    close(fd);
}

static void
test_setup_region_after_realize(void **state)
{
    fx_t *fx = fx_new();

    (void)state;
    /* allowed while no client is attached (libvfio-user allows it) */
    assert_int_equal(vfu_realize_ctx(fx->ctx), 0);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR0, 0x1000, bar0_cb, MEM_RW,
                                      NULL, 0, -1, 0),
                     0);
    assert_int_equal(vfu_realize_ctx(fx->ctx), 0);
    /* not under an attached client's feet */
    fx_attach(fx, false);
    assert_int_equal(vfu_setup_region(fx->ctx, BAR0, 0x2000, bar0_cb, MEM_RW,
                                      NULL, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EBUSY);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* DEVICE_GET_INFO / GET_REGION_INFO                                   */
/* ------------------------------------------------------------------ */

static void
test_get_info_replies(void **state)
{
    struct vfio_user_device_info in = {.argsz = 8}, out;
    fx_t *fx = fx_ready(false);

    (void)state;
    /* short body, argsz too small */
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_INFO, &in, 8), EINVAL);
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_INFO, &in, sizeof(in)),
                     EINVAL);
    /* a bigger argsz is fine, the reply says 16 */
    in.argsz = 32;
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_INFO, &in, sizeof(in)), 0);
    assert_int_equal(fx->len, sizeof(out));
    memcpy(&out, fx->body, sizeof(out));
    assert_int_equal(out.argsz, sizeof(out));
    assert_int_equal(out.flags,
                     VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
    assert_int_equal(out.num_regions, VFU_PCI_DEV_NUM_REGIONS);
    assert_int_equal(out.num_irqs, VFU_DEV_NUM_IRQS);
    assert_int_equal(fx->nr_fds, 0);
    fx_free(fx);
}

static void
test_region_info_errors(void **state)
{
    struct vfio_region_info ri = region_info_req(BAR0, 8);
    fx_t *fx = fx_ready(false);

    (void)state;
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, 8),
                     EINVAL);
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri)),
                     EINVAL);
    ri = region_info_req(VFU_PCI_DEV_NUM_REGIONS, sizeof(ri));
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri)),
                     EINVAL);
    fx_free(fx);
}

static void
test_region_info_plain_regions(void **state)
{
    struct vfio_region_info ri = region_info_req(BAR0, sizeof(ri) + 8), out;
    fx_t *fx = fx_ready(false);

    (void)state;
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri)),
                     0);
    assert_int_equal(fx->len, sizeof(out));
    memcpy(&out, fx->body, sizeof(out));
    assert_int_equal(out.argsz, sizeof(out));
    assert_int_equal(out.flags,
                     VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
    assert_int_equal(out.index, BAR0);
    assert_int_equal(out.cap_offset, 0);
    assert_int_equal(out.size, BAR0_SIZE);
    assert_int_equal(out.offset, 0);
    assert_int_equal(fx->nr_fds, 0);

    /* config space after vfu_pci_init(CONVENTIONAL) */
    ri = region_info_req(CFG, sizeof(ri));
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri)),
                     0);
    memcpy(&out, fx->body, sizeof(out));
    assert_int_equal(out.size, 256);
    assert_int_equal(out.flags,
                     VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);

    /* every index answers for itself */
    for (ri.index = 0; ri.index < VFU_PCI_DEV_NUM_REGIONS; ri.index++) {
        ri.argsz = sizeof(ri);
        assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_INFO, &ri,
                            sizeof(ri)),
                         0);
        memcpy(&out, fx->body, sizeof(out));
        assert_int_equal(out.index, ri.index);
    }

    /* a region nobody set up */
    ri = region_info_req(BAR5, sizeof(ri));
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri)),
                     0);
    memcpy(&out, fx->body, sizeof(out));
    assert_int_equal(out.size, 0);
    assert_int_equal(out.flags, 0);
    fx_free(fx);
}

static void
test_region_info_sparse_mmap(void **state)
{
    const size_t full = sizeof(struct vfio_region_info) +
                        sizeof(struct vfio_region_info_cap_sparse_mmap) +
                        2 * sizeof(struct vfio_region_sparse_mmap_area);
    struct vfio_region_info ri = region_info_req(BAR2, sizeof(ri)), out;
    struct vfio_region_info_cap_sparse_mmap cap;
    struct vfio_region_sparse_mmap_area area[2];
    struct stat a, b;
    fx_t *fx = fx_ready(false);

    (void)state;
    assert_int_equal(full, 80);
    /* argsz too small: the full argsz, no caps, no fd */
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri)),
                     0);
    assert_int_equal(fx->len, sizeof(out));
    memcpy(&out, fx->body, sizeof(out));
    assert_int_equal(out.argsz, full);
    assert_int_equal(out.flags, VFIO_REGION_INFO_FLAG_READ |
                                    VFIO_REGION_INFO_FLAG_WRITE |
                                    VFIO_REGION_INFO_FLAG_MMAP);
    assert_int_equal(out.cap_offset, 0);
    assert_int_equal(out.size, BAR2_SIZE);
    assert_int_equal(out.offset, 0x8000);
    assert_int_equal(fx->nr_fds, 0);

    /* enough room: the sparse mmap capability and the region fd */
    ri.argsz = full;
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri)),
                     0);
    assert_int_equal(fx->len, full);
    memcpy(&out, fx->body, sizeof(out));
    memcpy(&cap, fx->body + sizeof(out), sizeof(cap));
    memcpy(area, fx->body + sizeof(out) + sizeof(cap), sizeof(area));
    assert_int_equal(out.argsz, full);
    assert_true(out.flags & VFIO_REGION_INFO_FLAG_CAPS);
    assert_true(out.flags & VFIO_REGION_INFO_FLAG_MMAP);
    assert_int_equal(out.cap_offset, sizeof(out));
    assert_int_equal(cap.header.id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
    assert_int_equal(cap.header.version, 1);
    assert_int_equal(cap.header.next, 0);
    assert_int_equal(cap.nr_areas, 2);
    assert_int_equal(area[0].offset, 0x2000);
    assert_int_equal(area[0].size, 0x1000);
    assert_int_equal(area[1].offset, 0x4000);
    assert_int_equal(area[1].size, 0x2000);
    assert_int_equal(fx->nr_fds, 1);
    assert_int_equal(fstat(fx->fds[0], &a), 0);
    assert_int_equal(fstat(fx->dev.bar2_fd, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    assert_int_equal(a.st_dev, b.st_dev);
    fx_free(fx);
}

static void
test_region_info_whole_region_mappable(void **state)
{
    struct vfio_region_info ri = region_info_req(BAR4, 256), out;
    struct vfio_region_info_cap_sparse_mmap cap;
    struct vfio_region_sparse_mmap_area area;
    fx_t *fx = fx_new();
    int fd = memfd_create("bar4", MFD_CLOEXEC);

    (void)state;
    assert_true(fd >= 0);
    /* an fd and no areas: the whole region is one area */
    assert_int_equal(vfu_setup_region(fx->ctx, BAR4, 0x4000, NULL, MEM_RW,
                                      NULL, 0, fd, 0),
                     0);
    fx_attach(fx, false);
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri)),
                     0);
    memcpy(&out, fx->body, sizeof(out));
    memcpy(&cap, fx->body + sizeof(out), sizeof(cap));
    memcpy(&area, fx->body + sizeof(out) + sizeof(cap), sizeof(area));
    assert_int_equal(fx->len, out.argsz);
    assert_int_equal(cap.nr_areas, 1);
    assert_int_equal(area.offset, 0);
    assert_int_equal(area.size, 0x4000);
    assert_int_equal(fx->nr_fds, 1);
    fx_free(fx);
    close(fd);
}

/* ------------------------------------------------------------------ */
/* GET_REGION_IO_FDS                                                   */
/* ------------------------------------------------------------------ */

static vfio_user_region_io_fds_request_t
io_fds_req(uint32_t index, uint32_t argsz)
{
    vfio_user_region_io_fds_request_t r = {.argsz = argsz, .index = index};

    return r;
}

static void
test_io_fds_errors(void **state)
{
    vfio_user_region_io_fds_request_t r = io_fds_req(BAR0, 512);
    fx_t *fx = fx_ready(false);

    (void)state;
    r.flags = 1;
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &r, sizeof(r)),
                     EINVAL);
    r.flags = 0;
    r.count = 1;
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &r, sizeof(r)),
                     EINVAL);
    r = io_fds_req(BAR0, sizeof(r) - 1);
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &r, sizeof(r)),
                     EINVAL);
    r = io_fds_req(BAR0, PROTO_DEFAULT_MAX_DATA_XFER + PROTO_MSG_OVERHEAD);
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &r, sizeof(r)),
                     EINVAL);
    r = io_fds_req(512, 512);
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &r, sizeof(r)),
                     EINVAL);
    /* a region nobody set up */
    r = io_fds_req(BAR3, 512);
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &r, sizeof(r)),
                     EINVAL);
    fx_free(fx);
}

static void
test_io_fds_no_ioeventfds(void **state)
{
    vfio_user_region_io_fds_request_t r = io_fds_req(BAR0, 512);
    vfio_user_region_io_fds_reply_t out;
    fx_t *fx = fx_ready(false);

    (void)state;
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &r, sizeof(r)),
                     0);
    assert_int_equal(fx->len, sizeof(out));
    memcpy(&out, fx->body, sizeof(out));
    assert_int_equal(out.argsz, sizeof(out));
    assert_int_equal(out.flags, 0);
    assert_int_equal(out.index, BAR0);
    assert_int_equal(out.count, 0);
    assert_int_equal(fx->nr_fds, 0);
    fx_free(fx);
}

static void
test_create_ioeventfd_errors(void **state)
{
    fx_t *fx = fx_new();
    int efd = eventfd(0, EFD_CLOEXEC);

    (void)state;
    assert_true(efd >= 0);
    fx_setup_device(fx);
    assert_int_equal(vfu_create_ioeventfd(fx->ctx, VFU_PCI_DEV_NUM_REGIONS,
                                          efd, 0, 4, 0, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* past the end of the region, or wrapping */
    assert_int_equal(vfu_create_ioeventfd(fx->ctx, BAR0, efd,
                                          BAR0_SIZE - 4, 8, 0, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_create_ioeventfd(fx->ctx, BAR0, efd, SIZE_MAX - 2, 4,
                                          0, 0, -1, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* any width inside the region (libvfio-user's), only KVM's flags */
    assert_int_equal(vfu_create_ioeventfd(fx->ctx, BAR0, efd, 0, 3, 0, 0, -1,
                                          0),
                     0);
    assert_int_equal(vfu_create_ioeventfd(fx->ctx, BAR0, efd, 0, 16, 0, 0, -1,
                                          0),
                     0);
    assert_int_equal(vfu_create_ioeventfd(fx->ctx, BAR0, efd, 0, 4, 0x100, 0,
                                          -1, 0),
                     -1);
    assert_int_equal(vfu_create_ioeventfd(fx->ctx, BAR0, -5, 0, 4, 0, 0, -1,
                                          0),
                     -1);
    assert_int_equal(errno, EINVAL);
    fx_free(fx);
    close(efd);
}

static void
test_io_fds_lists_ioeventfds(void **state)
{
    const size_t entry = sizeof(struct vfio_user_sub_region_ioeventfd);
    vfio_user_region_io_fds_request_t r;
    vfio_user_region_io_fds_reply_t out;
    struct vfio_user_sub_region_ioeventfd sub[4];
    int efd1 = eventfd(0, EFD_CLOEXEC);
    int efd2 = eventfd(0, EFD_CLOEXEC);
    int shadow = memfd_create("shadow", MFD_CLOEXEC);
    uint64_t v = 5;
    fx_t *fx = fx_new();

    (void)state;
    assert_true(efd1 >= 0 && efd2 >= 0 && shadow >= 0);
    fx_setup_device(fx);
    /* created in this order; the reply lists the newest first */
    assert_int_equal(vfu_create_ioeventfd(fx->ctx, BAR0, efd1, 0x0, 4,
                                          KVM_IOEVENTFD_FLAG_DATAMATCH, 0x42,
                                          -1, 0),
                     0);
    assert_int_equal(vfu_create_ioeventfd(fx->ctx, BAR0, efd1, 0x8, 8, 0, 0,
                                          -1, 0),
                     0);
    assert_int_equal(vfu_create_ioeventfd(fx->ctx, BAR0, -1, 0x10, 4, 0, 0,
                                          -1, 0),
                     0);
    assert_int_equal(vfu_create_ioeventfd(fx->ctx, BAR0, efd2, 0x20, 4, 0, 0,
                                          shadow, 0x1000),
                     0);
    /* another region's ioeventfd is not listed for BAR0 */
    assert_int_equal(vfu_create_ioeventfd(fx->ctx, BAR2, efd2, 0x0, 4, 0, 0,
                                          -1, 0),
                     0);
    fx_attach(fx, false);

    /* argsz too small: count and the argsz needed, no entries, no fds */
    r = io_fds_req(BAR0, sizeof(out) + entry);
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &r, sizeof(r)),
                     0);
    assert_int_equal(fx->len, sizeof(out));
    memcpy(&out, fx->body, sizeof(out));
    assert_int_equal(out.count, 4);
    assert_int_equal(out.argsz, sizeof(out) + 4 * entry);
    assert_int_equal(fx->nr_fds, 0);

    r.argsz = out.argsz;
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &r, sizeof(r)),
                     0);
    assert_int_equal(fx->len, sizeof(out) + 4 * entry);
    memcpy(&out, fx->body, sizeof(out));
    memcpy(sub, fx->body + sizeof(out), sizeof(sub));
    assert_int_equal(out.count, 4);
    assert_int_equal(out.index, BAR0);
    /* efd2 and shadow (newest entry), then efd1 once for two entries */
    assert_int_equal(fx->nr_fds, 3);

    assert_int_equal(sub[0].gpa_offset, 0x20);
    assert_int_equal(sub[0].type, VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW);
    assert_int_equal(sub[0].fd_index, 0);
    assert_int_equal(sub[0].shadow_mem_fd_index, 1);
    assert_int_equal(sub[0].shadow_offset, 0x1000);
    assert_int_equal(sub[1].gpa_offset, 0x10);
    assert_int_equal(sub[1].fd_index, UINT32_MAX);
    assert_int_equal(sub[1].type, VFIO_USER_IO_FD_TYPE_IOEVENTFD);
    assert_int_equal(sub[2].gpa_offset, 0x8);
    assert_int_equal(sub[2].size, 8);
    assert_int_equal(sub[2].fd_index, 2);
    assert_int_equal(sub[3].gpa_offset, 0x0);
    assert_int_equal(sub[3].size, 4);
    assert_int_equal(sub[3].fd_index, 2);
    assert_int_equal(sub[3].flags, KVM_IOEVENTFD_FLAG_DATAMATCH);
    assert_int_equal(sub[3].datamatch, 0x42);

    /* what the client writes to the fd it got, the device reads */
    assert_int_equal(write(fx->fds[2], &v, sizeof(v)), sizeof(v));
    assert_int_equal(read(efd1, &v, sizeof(v)), sizeof(v));
    assert_int_equal(v, 5);

    fx_free(fx);
    /* the device's fds were never the context's to close */
    assert_int_equal(close(efd1), 0);
    assert_int_equal(close(efd2), 0);
    assert_int_equal(close(shadow), 0);
}

/* ------------------------------------------------------------------ */
/* REGION_READ / REGION_WRITE                                          */
/* ------------------------------------------------------------------ */

static void
test_region_rw_sizes(void **state)
{
    static const uint32_t sizes[] = {1, 2, 4, 8};
    uint8_t data[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    struct vfio_user_region_access ra;
    fx_t *fx = fx_ready(false);
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint64_t off = 0x100 + i * 0x10;

        data[0] = (uint8_t)i;
        assert_int_equal(region_write(fx, BAR0, off, data, sizes[i]), 0);
        assert_int_equal(fx->len, sizeof(ra));
        memcpy(&ra, fx->body, sizeof(ra));
        assert_int_equal(ra.offset, off);
        assert_int_equal(ra.region, BAR0);
        assert_int_equal(ra.count, sizes[i]);
        assert_memory_equal(fx->dev.bar0 + off, data, sizes[i]);

        assert_int_equal(region_read(fx, BAR0, off, sizes[i]), 0);
        assert_int_equal(fx->len, sizeof(ra) + sizes[i]);
        memcpy(&ra, fx->body, sizeof(ra));
        assert_int_equal(ra.count, sizes[i]);
        assert_memory_equal(fx->body + sizeof(ra), data, sizes[i]);
    }
    fx_free(fx);
}

static void
test_region_rw_large(void **state)
{
    uint8_t *data = malloc(BAR0_SIZE);
    fx_t *fx = fx_ready(false);
    size_t i;

    (void)state;
    assert_non_null(data);
    for (i = 0; i < BAR0_SIZE; i++) {
        data[i] = (uint8_t)(i * 7 + 3);
    }
    assert_int_equal(region_write(fx, BAR0, 0, data, BAR0_SIZE), 0);
    assert_memory_equal(fx->dev.bar0, data, BAR0_SIZE);
    memset(fx->dev.bar0, 0, 0x10);
    assert_int_equal(region_read(fx, BAR0, 0, BAR0_SIZE), 0);
    assert_int_equal(fx->len, sizeof(struct vfio_user_region_access) +
                                  BAR0_SIZE);
    assert_memory_equal(fx->body + sizeof(struct vfio_user_region_access) +
                            0x10,
                        data + 0x10, BAR0_SIZE - 0x10);
    fx_free(fx);
    free(data);
}

static void
test_region_rw_bounds(void **state)
{
    struct vfio_user_region_access ra = {.region = BAR0, .count = 4};
    uint32_t v = 0xdeadbeef;
    fx_t *fx = fx_ready(false);

    (void)state;
    /* the last bytes are fine, one past is not */
    assert_int_equal(region_write(fx, BAR0, BAR0_SIZE - 4, &v, 4), 0);
    assert_int_equal(region_write(fx, BAR0, BAR0_SIZE - 3, &v, 4), EINVAL);
    assert_int_equal(region_read(fx, BAR0, BAR0_SIZE, 1), EINVAL);
    /* offset + count overflows */
    assert_int_equal(region_read(fx, BAR0, UINT64_MAX, 4), EINVAL);
    assert_int_equal(region_read(fx, BAR0, UINT64_MAX - 1, 4), EINVAL);
    /* bad region index; a region that was not set up */
    assert_int_equal(region_read(fx, VFU_PCI_DEV_NUM_REGIONS, 0, 4), EINVAL);
    assert_int_equal(region_read(fx, 1000, 0, 4), EINVAL);
    assert_int_equal(region_read(fx, BAR5, 0, 4), EINVAL);
    /* more than the negotiated transfer size */
    assert_int_equal(region_read(fx, BAR0, 0, PROTO_DEFAULT_MAX_DATA_XFER + 1),
                     EINVAL);
    /* a write whose data does not match its count */
    assert_int_equal(rt(fx, VFIO_USER_REGION_WRITE, &ra, sizeof(ra)), EINVAL);
    /* a short body */
    assert_int_equal(rt(fx, VFIO_USER_REGION_WRITE, &ra, 8), EINVAL);
    assert_int_equal(fx->dev.accesses, 1);
    fx_free(fx);
}

static void
test_region_rw_zero_count(void **state)
{
    struct vfio_user_region_access ra;
    fx_t *fx = fx_ready(false);

    (void)state;
    assert_int_equal(region_read(fx, BAR0, 0, 0), 0);
    assert_int_equal(fx->len, sizeof(ra));
    memcpy(&ra, fx->body, sizeof(ra));
    assert_int_equal(ra.count, 0);
    assert_int_equal(region_write(fx, BAR0, 0x10, NULL, 0), 0);
    assert_int_equal(fx->dev.accesses, 0);
    fx_free(fx);
}

static void
test_region_rw_callback_errors(void **state)
{
    uint32_t v = 1;
    fx_t *fx = fx_ready(false);

    (void)state;
    /* -1 with errno: the client gets that errno */
    fx->dev.cb_errno = ENOSPC;
    assert_int_equal(region_write(fx, BAR0, 0, &v, 4), ENOSPC);
    fx->dev.cb_errno = EIO;
    assert_int_equal(region_read(fx, BAR0, 0, 4), EIO);
    /* a short access is EINVAL */
    fx->dev.cb_short = 2;
    assert_int_equal(region_read(fx, BAR0, 0, 4), EINVAL);
    fx->dev.cb_short = 8;
    assert_int_equal(region_write(fx, BAR0, 0, &v, 4), EINVAL);
    /* the next access works again */
    assert_int_equal(region_write(fx, BAR0, 0, &v, 4), 0);
    fx_free(fx);
}

static void
test_region_rw_no_callback_and_readonly(void **state)
{
    uint32_t v = 1;
    fx_t *fx = fx_new();

    (void)state;
    fx_setup_device(fx);
    /* libvfio-user lets a region have no callback; access is EINVAL */
    assert_int_equal(vfu_setup_region(fx->ctx, BAR1, 0x1000, NULL, MEM_RW,
                                      NULL, 0, -1, 0),
                     0);
    assert_int_equal(vfu_setup_region(fx->ctx, ROM, 0x1000, bar0_cb,
                                      VFU_REGION_FLAG_READ, NULL, 0, -1, 0),
                     0);
    fx_attach(fx, false);
    assert_int_equal(region_read(fx, BAR1, 0, 4), EINVAL);
    /* the mappable BAR2 has no callback either */
    assert_int_equal(region_write(fx, BAR2, 0, &v, 4), EINVAL);
    /* the ROM reads but does not take writes */
    assert_int_equal(region_read(fx, ROM, 0, 4), 0);
    assert_int_equal(region_write(fx, ROM, 0, &v, 4), EINVAL);
    assert_int_equal(fx->dev.accesses, 1);
    fx_free(fx);
}

static void
test_region_rw_config_space(void **state)
{
    struct vfio_user_region_access ra;
    uint16_t id;
    fx_t *fx = fx_ready(false);

    (void)state;
    assert_int_equal(region_read(fx, CFG, 0, 2), 0);
    memcpy(&ra, fx->body, sizeof(ra));
    assert_int_equal(ra.region, CFG);
    memcpy(&id, fx->body + sizeof(ra), sizeof(id));
    assert_int_equal(id, 0x4e58);
    assert_int_equal(region_read(fx, CFG, 255, 2), EINVAL);
    fx_free(fx);
}

static ssize_t
cfg_cb(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
    (void)ctx;
    (void)offset;
    if (!is_write) {
        memset(buf, 0xcc, count);
    }
    return (ssize_t)count;
}

static void
test_region_rw_config_always_cb(void **state)
{
    fx_t *fx = fx_new();
    uint8_t expect[2] = {0xcc, 0xcc};

    (void)state;
    assert_int_equal(vfu_setup_region(fx->ctx, CFG, PCI_CFG_SPACE_EXP_SIZE,
                                      cfg_cb,
                                      VFU_REGION_FLAG_RW |
                                          VFU_REGION_FLAG_ALWAYS_CB,
                                      NULL, 0, -1, 0),
                     0);
    fx_attach(fx, false);
    assert_int_equal(region_read(fx, CFG, 0, 2), 0);
    assert_memory_equal(fx->body + sizeof(struct vfio_user_region_access),
                        expect, 2);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* REGION_WRITE_MULTI                                                  */
/* ------------------------------------------------------------------ */

static size_t
multi(uint8_t *buf, const struct vfio_user_write_multi_data *wrs, uint64_t n)
{
    memcpy(buf, &n, sizeof(n));
    memcpy(buf + sizeof(n), wrs, n * sizeof(*wrs));
    return sizeof(n) + n * sizeof(*wrs);
}

static void
test_write_multi_not_negotiated(void **state)
{
    struct vfio_user_write_multi_data wr = {
        .offset = 0, .region = BAR0, .count = 1, .data = {0x5a}};
    uint8_t buf[64];
    fx_t *fx = fx_ready(false);

    (void)state;
    assert_int_equal(rt(fx, VFIO_USER_REGION_WRITE_MULTI, buf,
                        multi(buf, &wr, 1)),
                     EINVAL);
    assert_int_equal(fx->dev.bar0[0], 0);
    fx_free(fx);
}

static void
test_write_multi_applies_in_order(void **state)
{
    struct vfio_user_write_multi_data wrs[3] = {
        {.offset = 0x10, .region = BAR0, .count = 1, .data = {0x01}},
        {.offset = 0x20, .region = BAR0, .count = 8,
         .data = {1, 2, 3, 4, 5, 6, 7, 8}},
        /* overwrites the first */
        {.offset = 0x10, .region = BAR0, .count = 2, .data = {0xaa, 0xbb}},
    };
    uint8_t expect[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t buf[128];
    uint64_t done;
    fx_t *fx = fx_ready(true);

    (void)state;
    assert_int_equal(rt(fx, VFIO_USER_REGION_WRITE_MULTI, buf,
                        multi(buf, wrs, 3)),
                     0);
    assert_int_equal(fx->len, sizeof(done));
    memcpy(&done, fx->body, sizeof(done));
    assert_int_equal(done, 3);
    assert_int_equal(fx->dev.bar0[0x10], 0xaa);
    assert_int_equal(fx->dev.bar0[0x11], 0xbb);
    assert_memory_equal(fx->dev.bar0 + 0x20, expect, 8);
    fx_free(fx);
}

static void
test_write_multi_bad(void **state)
{
    struct vfio_user_write_multi_data wrs[3] = {
        {.offset = 0x10, .region = BAR0, .count = 1, .data = {0x01}},
        {.offset = BAR0_SIZE, .region = BAR0, .count = 4},
        {.offset = 0x30, .region = BAR0, .count = 1, .data = {0x03}},
    };
    uint8_t buf[128];
    size_t len;
    fx_t *fx = fx_ready(true);

    (void)state;
    /* the second write is out of bounds: the first happened, not the third */
    assert_int_equal(rt(fx, VFIO_USER_REGION_WRITE_MULTI, buf,
                        multi(buf, wrs, 3)),
                     EINVAL);
    assert_int_equal(fx->dev.bar0[0x10], 0x01);
    assert_int_equal(fx->dev.bar0[0x30], 0);
    /* a write of more than 8 bytes: nothing happens */
    wrs[1] = (struct vfio_user_write_multi_data){
        .offset = 0x40, .region = BAR0, .count = 9};
    wrs[0].data[0] = 0x77;
    assert_int_equal(rt(fx, VFIO_USER_REGION_WRITE_MULTI, buf,
                        multi(buf, wrs, 3)),
                     EINVAL);
    assert_int_equal(fx->dev.bar0[0x10], 0x01);
    /* wr_cnt disagrees with the body; no writes at all */
    len = multi(buf, wrs, 2);
    assert_int_equal(rt(fx, VFIO_USER_REGION_WRITE_MULTI, buf, len - 1),
                     EINVAL);
    assert_int_equal(rt(fx, VFIO_USER_REGION_WRITE_MULTI, buf, len + 24),
                     EINVAL);
    assert_int_equal(rt(fx, VFIO_USER_REGION_WRITE_MULTI, buf,
                        multi(buf, wrs, 0)),
                     EINVAL);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* DEVICE_RESET                                                        */
/* ------------------------------------------------------------------ */

static void
test_reset_calls_device(void **state)
{
    fx_t *fx = fx_ready(false);

    (void)state;
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_RESET, NULL, 0), 0);
    assert_int_equal(fx->len, 0);
    assert_int_equal(fx->dev.resets, 1);
    assert_int_equal(fx->dev.last_reset, VFU_RESET_DEVICE);
    fx->dev.reset_errno = EBUSY;
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_RESET, NULL, 0), EBUSY);
    assert_int_equal(fx->dev.resets, 2);
    fx->dev.reset_errno = 0;
    /* without a callback a reset just succeeds */
    assert_int_equal(vfu_setup_device_reset_cb(fx->ctx, NULL), 0);
    assert_int_equal(rt(fx, VFIO_USER_DEVICE_RESET, NULL, 0), 0);
    assert_int_equal(fx->dev.resets, 2);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* DMA API surface                                                     */
/* ------------------------------------------------------------------ */

static struct vfio_user_dma_map
dma_map_req(uint32_t flags, uint64_t addr, uint64_t size)
{
    struct vfio_user_dma_map m = {
        .argsz = sizeof(m), .flags = flags, .addr = addr, .size = size};

    return m;
}

static void
test_dma_map_validation(void **state)
{
    const uint32_t rw =
        VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE;
    struct vfio_user_dma_map m = dma_map_req(rw, 0x10000, 0x1000);
    int fd = memfd_create("guest", MFD_CLOEXEC);
    fx_t *fx = fx_new();

    (void)state;
    assert_true(fd >= 0);
    /* the file must hold the mapped range (an empty one is EINVAL) */
    assert_int_equal(ftruncate(fd, 0x1000), 0);
    fx_setup_device(fx);
    assert_int_equal(vfu_setup_device_dma(fx->ctx, 16, NULL, NULL), 0);
    fx_attach(fx, false);

    m.argsz = sizeof(m) - 1;
    assert_int_equal(rt(fx, VFIO_USER_DMA_MAP, &m, sizeof(m)), EINVAL);
    assert_int_equal(rt(fx, VFIO_USER_DMA_MAP, &m, 16), EINVAL);
    m = dma_map_req(rw | 0x100, 0x10000, 0x1000);
    assert_int_equal(rt(fx, VFIO_USER_DMA_MAP, &m, sizeof(m)), EINVAL);
    m = dma_map_req(rw | VFIO_USER_F_DMA_REGION_MMAP, 0x10000, 0x1000);
    assert_int_equal(rt(fx, VFIO_USER_DMA_MAP, &m, sizeof(m)), EINVAL);
    m = dma_map_req(rw | VFIO_USER_F_DMA_REGION_MMAP |
                        VFIO_USER_F_DMA_REGION_FILE_IO,
                    0x10000, 0x1000);
    assert_int_equal(rt_fds(fx, VFIO_USER_DMA_MAP, &m, sizeof(m), &fd, 1),
                     EINVAL);
    m = dma_map_req(rw, 0x10000, 0);
    assert_int_equal(rt(fx, VFIO_USER_DMA_MAP, &m, sizeof(m)), EINVAL);
    m = dma_map_req(rw, UINT64_MAX - 0xfff, 0x2000);
    assert_int_equal(rt(fx, VFIO_USER_DMA_MAP, &m, sizeof(m)), EINVAL);
    /* a valid map (test_dma.c covers mapping); a second one overlaps */
    m = dma_map_req(rw, 0x10000, 0x1000);
    assert_int_equal(rt_fds(fx, VFIO_USER_DMA_MAP, &m, sizeof(m), &fd, 1), 0);
    assert_int_equal(rt(fx, VFIO_USER_DMA_MAP, &m, sizeof(m)), EEXIST);
    fx_free(fx);
    close(fd);
}

static void
test_dma_map_without_dma(void **state)
{
    struct vfio_user_dma_map m = dma_map_req(VFIO_USER_F_DMA_REGION_READ,
                                             0x10000, 0x1000);
    struct vfio_user_dma_unmap u = {.argsz = sizeof(u), .addr = 0x10000,
                                    .size = 0x1000};
    int fd = memfd_create("guest", MFD_CLOEXEC);
    fx_t *fx = fx_ready(false);

    (void)state;
    assert_true(fd >= 0);
    /* libvfio-user ignores DMA_MAP/UNMAP when the device has no DMA */
    assert_int_equal(rt_fds(fx, VFIO_USER_DMA_MAP, &m, sizeof(m), &fd, 1), 0);
    assert_int_equal(fx->len, 0);
    assert_int_equal(rt(fx, VFIO_USER_DMA_UNMAP, &u, sizeof(u)), 0);
    assert_int_equal(fx->len, sizeof(u));
    assert_memory_equal(fx->body, &u, sizeof(u));
    /* malformed requests are still refused */
    m.flags = 0x100;
    assert_int_equal(rt(fx, VFIO_USER_DMA_MAP, &m, sizeof(m)), EINVAL);
    fx_free(fx);
    close(fd);
}

static void
test_dma_unmap_validation(void **state)
{
    struct vfio_user_dma_unmap u = {.argsz = sizeof(u), .addr = 0x10000,
                                    .size = 0x1000};
    fx_t *fx = fx_new();

    (void)state;
    fx_setup_device(fx);
    assert_int_equal(vfu_setup_device_dma(fx->ctx, 16, NULL, NULL), 0);
    fx_attach(fx, false);
    /* nothing is mapped */
    assert_int_equal(rt(fx, VFIO_USER_DMA_UNMAP, &u, sizeof(u)), ENOENT);
    u.argsz = sizeof(u) - 1;
    assert_int_equal(rt(fx, VFIO_USER_DMA_UNMAP, &u, sizeof(u)), EINVAL);
    u.argsz = sizeof(u);
    u.flags = 0x80;
    assert_int_equal(rt(fx, VFIO_USER_DMA_UNMAP, &u, sizeof(u)), EINVAL);
    u.flags = VFIO_DMA_UNMAP_FLAG_ALL;
    assert_int_equal(rt(fx, VFIO_USER_DMA_UNMAP, &u, sizeof(u)), EINVAL);
    u.addr = u.size = 0;
    assert_int_equal(rt(fx, VFIO_USER_DMA_UNMAP, &u, sizeof(u)), 0);
    assert_int_equal(fx->len, sizeof(u));
    assert_memory_equal(fx->body, &u, sizeof(u));
    /* the legacy dirty bitmap needs its struct */
    u.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
    assert_int_equal(rt(fx, VFIO_USER_DMA_UNMAP, &u, sizeof(u)), EINVAL);
    fx_free(fx);
}

static void
test_dma_api_without_mappings(void **state)
{
    fx_t *fx = fx_new();
    dma_sg_t *sg = calloc(2, dma_sg_size());
    struct iovec iov;
    char data[8];

    (void)state;
    assert_non_null(sg);
    assert_true(dma_sg_size() >= sizeof(uint64_t) * 3);
    /* no DMA set up */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x1000, 8, sg,
                                     1, PROT_READ),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_device_dma(fx->ctx, 0, NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_device_dma(fx->ctx,
                                          LIBVFIO_USER_MAX_DMA_REGIONS + 1,
                                          NULL, NULL),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_device_dma(fx->ctx, 8, NULL, NULL), 0);
    /* nothing is mapped: no address translates */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x1000, 8, sg,
                                     1, PROT_READ),
                     -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x1000, 8, sg,
                                     1, 0x80),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* and no sg entry is valid */
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, &iov, 1, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, &iov, 1, 1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_sgl_read(fx->ctx, sg, 2, data, 0), -1);
    assert_int_equal(errno, ENOTSUP);
    assert_int_equal(vfu_sgl_read(fx->ctx, sg, 1, data, 0x10), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_sgl_write(fx->ctx, sg, 1, data, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_false(vfu_sg_is_mappable(fx->ctx, sg));
    vfu_sgl_mark_dirty(fx->ctx, sg, 1);
    vfu_sgl_put(fx->ctx, sg, &iov, 1);
    /* not after realize */
    assert_int_equal(vfu_realize_ctx(fx->ctx), 0);
    assert_int_equal(vfu_setup_device_dma(fx->ctx, 8, NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    fx_free(fx);
    free(sg);
}

/* ------------------------------------------------------------------ */
/* Migration API surface                                               */
/* ------------------------------------------------------------------ */

static int
migr_transition(vfu_ctx_t *ctx, vfu_migr_state_t st)
{
    (void)ctx;
    (void)st;
    return 0;
}

static ssize_t
migr_read(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
    (void)ctx;
    (void)buf;
    (void)count;
    return 0;
}

static ssize_t
migr_write(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
    (void)ctx;
    (void)buf;
    return (ssize_t)count;
}

static const vfu_migration_callbacks_t migr_cbs = {
    .version = VFU_MIGR_CALLBACKS_VERS,
    .transition = migr_transition,
    .read_data = migr_read,
    .write_data = migr_write,
};

static void
test_migration_setup_errors(void **state)
{
    vfu_migration_callbacks_t cbs = migr_cbs;
    fx_t *fx = fx_new();

    (void)state;
    cbs.version = 1;
    assert_int_equal(vfu_setup_device_migration_callbacks(fx->ctx, &cbs), -1);
    assert_int_equal(errno, EINVAL);
    cbs = migr_cbs;
    cbs.read_data = NULL;
    assert_int_equal(vfu_setup_device_migration_callbacks(fx->ctx, &cbs), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_device_migration_callbacks(fx->ctx, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_setup_device_migration_callbacks(fx->ctx, &migr_cbs),
                     0);
    fx_free(fx);
}

static int
feature(fx_t *fx, uint32_t flags, uint32_t argsz, size_t extra)
{
    uint8_t buf[64] = {0};
    struct vfio_user_device_feature f = {.argsz = argsz, .flags = flags};

    memcpy(buf, &f, sizeof(f));
    return rt(fx, VFIO_USER_DEVICE_FEATURE, buf, sizeof(f) + extra);
}

static void
test_device_feature_replies(void **state)
{
    const uint32_t probe = VFIO_DEVICE_FEATURE_PROBE;
    const uint32_t get = VFIO_DEVICE_FEATURE_GET;
    const uint32_t set = VFIO_DEVICE_FEATURE_SET;
    struct vfio_user_mig_data md = {.argsz = 8 + 16, .size = 16};
    fx_t *fx = fx_ready(false);

    (void)state;
    /* not migratable: every feature and migration data is EINVAL */
    assert_int_equal(feature(fx, probe | VFIO_DEVICE_FEATURE_MIGRATION, 8, 0),
                     EINVAL);
    assert_int_equal(feature(fx, get | VFIO_DEVICE_FEATURE_MIGRATION, 16, 0),
                     EINVAL);
    assert_int_equal(rt(fx, VFIO_USER_MIG_DATA_READ, &md, sizeof(md)),
                     EINVAL);
    fx_free(fx);

    fx = fx_new();
    fx_setup_device(fx);
    assert_int_equal(vfu_setup_device_migration_callbacks(fx->ctx, &migr_cbs),
                     0);
    fx_attach(fx, false);
    /* unknown feature, probe included: EINVAL as in libvfio-user */
    assert_int_equal(feature(fx, probe | 42, 8, 0), EINVAL);
    assert_int_equal(feature(fx, get | 42, 64, 0), EINVAL);
    /* an operation the feature does not have */
    assert_int_equal(feature(fx, set | VFIO_DEVICE_FEATURE_MIGRATION, 8, 0),
                     EINVAL);
    /* GET with too small an argsz */
    assert_int_equal(feature(fx, get | VFIO_DEVICE_FEATURE_MIGRATION, 8, 0),
                     EINVAL);
    /* valid requests (the state machine: test_quiesce.c, libvfio-user's
     * test_migration.py) */
    assert_int_equal(feature(fx, probe | VFIO_DEVICE_FEATURE_MIGRATION, 8, 0),
                     0);
    assert_int_equal(fx->len, 8);
    assert_int_equal(feature(fx, get | VFIO_DEVICE_FEATURE_MIGRATION, 16, 0),
                     0);
    assert_int_equal(fx->len, 16);
    /* state 0 is ERROR, which no request may ask for */
    assert_int_equal(feature(fx, set | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
                             16, 8),
                     EINVAL);
    /* the device is RUNNING: no migration data moves (libvfio-user: EINVAL) */
    assert_int_equal(rt(fx, VFIO_USER_MIG_DATA_READ, &md, sizeof(md)),
                     EINVAL);
    fx_free(fx);
}


/* ------------------------------------------------------------------ */
/* Handlers on their own (what proto/ normally checks first)           */
/* ------------------------------------------------------------------ */

/* Call @fn directly with a copy of @body; the reply body is freed. */
static int
call(fx_t *fx, vfu_handler_fn *fn, uint16_t cmd, const void *body,
     size_t len)
{
    proto_msg_t msg = PROTO_MSG_INIT;
    vfu_reply_t reply = {0};
    int rc;

    proto_hdr_cmd(&msg.hdr, 1, cmd, len, false);
    if (len > 0) {
        msg.body = malloc(len);
        assert_non_null(msg.body);
        memcpy(msg.body, body, len);
    }
    msg.body_len = len;
    rc = fn(fx->ctx, &msg, &reply);
    if (rc < 0) {
        assert_null(reply.body);
    }
    free(reply.body);
    proto_msg_free(&msg);
    return rc;
}

static void
test_handlers_check_their_input(void **state)
{
    static vfu_handler_fn *const fns[] = {
        handle_device_get_info,     handle_device_get_region_info,
        handle_device_get_region_io_fds, handle_region_read,
        handle_region_write,        handle_region_write_multi,
        handle_dma_map,             handle_dma_unmap,
        handle_device_feature,      handle_mig_data_read,
        handle_mig_data_write,
    };
    uint8_t zero[64] = {0};
    struct vfio_user_region_access ra = {.region = BAR0, .count = 8};
    struct vfio_user_write_multi_data wr = {.region = BAR0, .count = 9};
    uint8_t buf[64];
    size_t i;
    fx_t *fx = fx_ready(true);

    (void)state;
    /* a body shorter than each command's struct */
    for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        assert_int_equal(call(fx, fns[i], 0, zero, 4), -EINVAL);
    }
    /* counts that do not match the data, or exceed the limits */
    assert_int_equal(call(fx, handle_region_write, VFIO_USER_REGION_WRITE,
                          &ra, sizeof(ra)),
                     -EINVAL);
    ra.count = PROTO_DEFAULT_MAX_DATA_XFER + 1;
    assert_int_equal(call(fx, handle_region_read, VFIO_USER_REGION_READ, &ra,
                          sizeof(ra)),
                     -EINVAL);
    assert_int_equal(call(fx, handle_region_write_multi,
                          VFIO_USER_REGION_WRITE_MULTI, buf,
                          multi(buf, &wr, 1)),
                     -EINVAL);
    /* a read that works returns its data */
    ra.count = 4;
    assert_int_equal(call(fx, handle_region_read, VFIO_USER_REGION_READ, &ra,
                          sizeof(ra)),
                     0);
    /* direct access goes through the same checks */
    assert_int_equal(region_access(fx->ctx, BAR0, (char *)buf, 8,
                                   BAR0_SIZE - 4, false),
                     -EINVAL);
    assert_int_equal(region_access(fx->ctx, 99, (char *)buf, 1, 0, false),
                     -EINVAL);
    assert_int_equal(region_access(fx->ctx, BAR0, (char *)buf, 8, 0, true), 8);
    fx_free(fx);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_fd_setup, tu_fd_teardown)
    const struct CMUnitTest tests[] = {
        T(test_setup_region_bad_index_and_flags),
        T(test_setup_region_bad_sizes),
        T(test_setup_region_64bit_pairs),
        T(test_setup_region_bad_mmap_areas),
        T(test_setup_region_after_realize),
        T(test_get_info_replies),
        T(test_region_info_errors),
        T(test_region_info_plain_regions),
        T(test_region_info_sparse_mmap),
        T(test_region_info_whole_region_mappable),
        T(test_io_fds_errors),
        T(test_io_fds_no_ioeventfds),
        T(test_create_ioeventfd_errors),
        T(test_io_fds_lists_ioeventfds),
        T(test_region_rw_sizes),
        T(test_region_rw_large),
        T(test_region_rw_bounds),
        T(test_region_rw_zero_count),
        T(test_region_rw_callback_errors),
        T(test_region_rw_no_callback_and_readonly),
        T(test_region_rw_config_space),
        T(test_region_rw_config_always_cb),
        T(test_write_multi_not_negotiated),
        T(test_write_multi_applies_in_order),
        T(test_write_multi_bad),
        T(test_reset_calls_device),
        T(test_dma_map_validation),
        T(test_dma_map_without_dma),
        T(test_dma_unmap_validation),
        T(test_dma_api_without_mappings),
        T(test_migration_setup_errors),
        T(test_device_feature_replies),
        T(test_handlers_check_their_input),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
