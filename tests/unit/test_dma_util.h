/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_dma_util.h - the fixture test_dma.c, test_sgl.c and test_quiesce.c
 * share: a device with DMA on the in-process transport, raw requests built
 * with proto helpers, and a client pump that serves DMA_READ/DMA_WRITE
 * from a local buffer (optionally misbehaving on purpose).
 */
#ifndef VFU_TEST_DMA_UTIL_H
#define VFU_TEST_DMA_UTIL_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/testutil.h"

#include "proto/proto.h"
#include "vfio-user/libvfio-user.h"

/* the helpers: not every test file uses all of them */
#define FX_FN static __attribute__((unused))

#define RW (VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE)
#define FX_BUF (1u << 17)
#define FX_MAX_CB 64
/* guest memory the pump serves: IOVA [FX_MEM_BASE, +FX_MEM_SIZE) */
#define FX_MEM_BASE 0x100000ull
#define FX_MEM_SIZE (256u * 1024)

/* How the pump answers DMA_READ/DMA_WRITE. */
enum fx_pump_mode {
    PUMP_OK,
    PUMP_ERRNO,     /* an error reply with fx->pump_errno */
    PUMP_BAD_ID,    /* the reply carries another message id */
    PUMP_SHORT,     /* the reply carries fewer bytes than asked */
    PUMP_BAD_ADDR,  /* the reply names another address */
    PUMP_SILENT,    /* no reply at all */
};

typedef struct fx {
    vfu_ctx_t *ctx;
    uint16_t id;
    uint8_t *buf; /* FX_BUF bytes: the last reply */
    struct vfio_user_header hdr;
    uint8_t *body;
    size_t len;
    /* callbacks seen */
    vfu_dma_info_t reg[FX_MAX_CB];
    size_t nr_reg;
    vfu_dma_info_t unreg[FX_MAX_CB];
    size_t nr_unreg;
    size_t nr_quiesce;
    int quiesce_ret; /* 0, or an errno the quiesce callback fails with */
    size_t nr_reset;
    void (*on_unreg)(struct fx *fx, vfu_dma_info_t *info);
    void (*on_reg)(struct fx *fx, vfu_dma_info_t *info);
    /* the pump */
    enum fx_pump_mode pump_mode;
    int pump_errno;
    uint8_t *mem; /* FX_MEM_SIZE bytes of "guest memory" */
    size_t dma_reads, dma_writes, max_chunk;
} fx_t;

FX_FN void
fx_log(vfu_ctx_t *ctx, int level, const char *msg)
{
    (void)ctx;
    if (getenv("FX_LOG") != NULL) {
        fprintf(stderr, "[%d] %s\n", level, msg);
    }
}

FX_FN void
fx_dma_register(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
    fx_t *fx = vfu_get_private(ctx);

    if (fx->nr_reg < FX_MAX_CB) {
        fx->reg[fx->nr_reg] = *info;
    }
    fx->nr_reg++;
    if (fx->on_reg != NULL) {
        fx->on_reg(fx, info);
    }
}

FX_FN void
fx_dma_unregister(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
    fx_t *fx = vfu_get_private(ctx);

    if (fx->nr_unreg < FX_MAX_CB) {
        fx->unreg[fx->nr_unreg] = *info;
    }
    fx->nr_unreg++;
    if (fx->on_unreg != NULL) {
        fx->on_unreg(fx, info);
    }
}

FX_FN int
fx_quiesce(vfu_ctx_t *ctx)
{
    fx_t *fx = vfu_get_private(ctx);

    fx->nr_quiesce++;
    if (fx->quiesce_ret != 0) {
        errno = fx->quiesce_ret;
        return -1;
    }
    return 0;
}

FX_FN int
fx_reset(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
    fx_t *fx = vfu_get_private(ctx);

    (void)type;
    fx->nr_reset++;
    return 0;
}

/* Serve one DMA_READ/DMA_WRITE the server queued; 0 or -EAGAIN. */
FX_FN int
fx_serve_one(fx_t *fx)
{
    uint8_t *in = malloc(FX_BUF);
    struct vfio_user_header h, rh;
    struct vfio_user_dma_region_access acc;
    uint8_t *out;
    size_t out_len = 0;
    ssize_t n;
    size_t nfds = 0;

    assert_non_null(in);
    n = vfu_ext_inproc_recv(fx->ctx, in, FX_BUF, NULL, &nfds);
    if (n < 0) {
        free(in);
        return -errno;
    }
    assert_true((size_t)n >= sizeof(h) + sizeof(acc));
    memcpy(&h, in, sizeof(h));
    memcpy(&acc, in + sizeof(h), sizeof(acc));
    assert_true(h.cmd == VFIO_USER_DMA_READ || h.cmd == VFIO_USER_DMA_WRITE);
    assert_true(acc.addr >= FX_MEM_BASE &&
                acc.addr + acc.count <= FX_MEM_BASE + FX_MEM_SIZE);
    if (acc.count > fx->max_chunk) {
        fx->max_chunk = acc.count;
    }
    out = calloc(1, sizeof(rh) + sizeof(acc) + acc.count);
    assert_non_null(out);
    if (h.cmd == VFIO_USER_DMA_READ) {
        fx->dma_reads++;
        memcpy(out + sizeof(rh), &acc, sizeof(acc));
        memcpy(out + sizeof(rh) + sizeof(acc),
               fx->mem + (acc.addr - FX_MEM_BASE), acc.count);
        out_len = sizeof(acc) + acc.count;
    } else {
        fx->dma_writes++;
        assert_int_equal((size_t)n, sizeof(h) + sizeof(acc) + acc.count);
        memcpy(fx->mem + (acc.addr - FX_MEM_BASE), in + sizeof(h) + sizeof(acc),
               acc.count);
        memcpy(out + sizeof(rh), &acc, sizeof(acc));
        out_len = sizeof(acc);
    }
    switch (fx->pump_mode) {
    case PUMP_SILENT:
        free(in);
        free(out);
        return 0;
    case PUMP_ERRNO:
        out_len = 0;
        break;
    case PUMP_SHORT:
        if (out_len > sizeof(acc)) {
            out_len--;
        } else {
            out_len = 8;
        }
        break;
    case PUMP_BAD_ADDR:
        acc.addr++;
        memcpy(out + sizeof(rh), &acc, sizeof(acc));
        break;
    default:
        break;
    }
    proto_hdr_reply(&rh, &h, out_len,
                    fx->pump_mode == PUMP_ERRNO ? fx->pump_errno : 0);
    if (fx->pump_mode == PUMP_BAD_ID) {
        rh.msg_id++;
    }
    memcpy(out, &rh, sizeof(rh));
    assert_int_equal(vfu_ext_inproc_send(fx->ctx, out, sizeof(rh) + out_len,
                                         NULL, 0),
                     0);
    free(in);
    free(out);
    return 0;
}

FX_FN int
fx_pump(void *arg)
{
    fx_t *fx = arg;

    return fx_serve_one(fx);
}

/* A device with DMA (@max_regions) and every callback hooked to @fx. */
FX_FN fx_t *
fx_new_dma(size_t max_regions, bool quiesce)
{
    fx_t *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    fx->buf = malloc(FX_BUF);
    fx->mem = calloc(1, FX_MEM_SIZE);
    assert_non_null(fx->buf);
    assert_non_null(fx->mem);
    fx->ctx = vfu_create_ctx(VFU_TRANS_EXT_INPROC, NULL,
                             LIBVFIO_USER_FLAG_ATTACH_NB, fx,
                             VFU_DEV_TYPE_PCI);
    assert_non_null(fx->ctx);
    assert_int_equal(vfu_setup_log(fx->ctx, fx_log, LOG_DEBUG), 0);
    assert_int_equal(vfu_pci_init(fx->ctx, VFU_PCI_TYPE_CONVENTIONAL,
                                  PCI_HEADER_TYPE_NORMAL, 0),
                     0);
    assert_int_equal(vfu_setup_device_dma(fx->ctx, max_regions,
                                          fx_dma_register, fx_dma_unregister),
                     0);
    assert_int_equal(vfu_setup_device_reset_cb(fx->ctx, fx_reset), 0);
    if (quiesce) {
        vfu_setup_device_quiesce_cb(fx->ctx, fx_quiesce);
    }
    return fx;
}

FX_FN void
fx_free(fx_t *fx)
{
    vfu_destroy_ctx(fx->ctx);
    free(fx->buf);
    free(fx->mem);
    free(fx);
}

/* Pop the reply to the last request; returns its error_no. */
FX_FN int
fx_pop(fx_t *fx, uint16_t cmd)
{
    size_t nr_fds = 0;
    ssize_t n;

    n = vfu_ext_inproc_recv(fx->ctx, fx->buf, FX_BUF, NULL, &nr_fds);
    assert_true(n >= (ssize_t)PROTO_HDR_SIZE);
    assert_true((size_t)n <= FX_BUF);
    memcpy(&fx->hdr, fx->buf, sizeof(fx->hdr));
    assert_int_equal(fx->hdr.msg_id, fx->id);
    assert_int_equal(fx->hdr.cmd, cmd);
    fx->body = fx->buf + PROTO_HDR_SIZE;
    fx->len = (size_t)n - PROTO_HDR_SIZE;
    return (fx->hdr.flags & VFIO_USER_F_ERROR) ? (int)fx->hdr.error_no : 0;
}

/* Queue a request (fds are duplicated: the caller keeps its own). */
FX_FN void
fx_send(fx_t *fx, uint16_t cmd, const void *body, size_t len, const int *fds,
        size_t nr_fds)
{
    struct vfio_user_header hdr;
    uint8_t *msg = malloc(PROTO_HDR_SIZE + len);
    int dup_fds[4];
    size_t i;

    assert_non_null(msg);
    assert_true(nr_fds <= 4);
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
    free(msg);
}

FX_FN int
fx_rt_fds(fx_t *fx, uint16_t cmd, const void *body, size_t len,
          const int *fds, size_t nr_fds)
{
    fx_send(fx, cmd, body, len, fds, nr_fds);
    assert_true(vfu_run_ctx(fx->ctx) >= 0);
    return fx_pop(fx, cmd);
}

FX_FN int
fx_rt(fx_t *fx, uint16_t cmd, const void *body, size_t len)
{
    return fx_rt_fds(fx, cmd, body, len, NULL, 0);
}

/* Realize, connect (with the pump) and negotiate with @json's caps. */
FX_FN void
fx_attach_json(fx_t *fx, const char *json)
{
    struct vfio_user_version ver = {.major = 0, .minor = 2};
    size_t jlen = strlen(json) + 1;
    uint8_t body[512];

    assert_true(sizeof(ver) + jlen <= sizeof(body));
    assert_int_equal(vfu_realize_ctx(fx->ctx), 0);
    assert_int_equal(vfu_ext_inproc_connect(fx->ctx, fx_pump, fx), 0);
    memcpy(body, &ver, sizeof(ver));
    memcpy(body + sizeof(ver), json, jlen);
    fx_send(fx, VFIO_USER_VERSION, body, sizeof(ver) + jlen, NULL, 0);
    assert_int_equal(vfu_attach_ctx(fx->ctx), 0);
    assert_int_equal(fx_pop(fx, VFIO_USER_VERSION), 0);
}

FX_FN void
fx_attach(fx_t *fx)
{
    fx_attach_json(fx, "{\"capabilities\":{\"max_msg_fds\":8}}");
}

FX_FN struct vfio_user_dma_map
map_req(uint32_t flags, uint64_t addr, uint64_t size, uint64_t offset)
{
    struct vfio_user_dma_map m = {.argsz = sizeof(m), .flags = flags,
                                  .offset = offset, .addr = addr,
                                  .size = size};
    return m;
}

/* DMA_MAP [@addr, +@size) with @fd (-1: none); returns the errno. */
FX_FN int
fx_map(fx_t *fx, uint32_t flags, uint64_t addr, uint64_t size, int fd,
       uint64_t offset)
{
    struct vfio_user_dma_map m = map_req(flags, addr, size, offset);

    return fx_rt_fds(fx, VFIO_USER_DMA_MAP, &m, sizeof(m), &fd, fd >= 0);
}

FX_FN int
fx_unmap(fx_t *fx, uint64_t addr, uint64_t size, uint32_t flags)
{
    struct vfio_user_dma_unmap u = {.argsz = sizeof(u), .flags = flags,
                                    .addr = addr, .size = size};

    return fx_rt(fx, VFIO_USER_DMA_UNMAP, &u, sizeof(u));
}

/* A memfd of @size bytes filled with @byte. */
FX_FN int
fx_memfd(size_t size, uint8_t byte)
{
    int fd = memfd_create("guest", MFD_CLOEXEC);
    uint8_t *p;

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(p != MAP_FAILED);
    memset(p, byte, size);
    munmap(p, size);
    return fd;
}

/*
 * Mappings of the tests' guest memfds in /proc/self/maps: mappings must
 * not leak either.  (Counting every line would also count what the
 * allocator or a sanitizer maps meanwhile.)
 */
FX_FN int
fx_count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        n += strstr(line, "/memfd:guest") != NULL;
    }
    fclose(f);
    return n;
}

FX_FN dma_sg_t *
sg_alloc(size_t n)
{
    dma_sg_t *sg = calloc(n, dma_sg_size());

    assert_non_null(sg);
    return sg;
}

FX_FN dma_sg_t *
sg_at(dma_sg_t *sg, size_t i)
{
    return (dma_sg_t *)((uint8_t *)sg + i * dma_sg_size());
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_fd_setup, tu_fd_teardown)

#endif /* VFU_TEST_DMA_UTIL_H */
