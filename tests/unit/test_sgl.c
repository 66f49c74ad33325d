/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_sgl.c - the scatter-gather API: vfu_addr_to_sgl() edge cases,
 * vfu_sgl_get/put on both kinds of region, vfu_sgl_read/write directly
 * and through DMA_READ/DMA_WRITE messages (chunked by the negotiated
 * transfer size), clients that answer wrongly, entries held across an
 * unmap, and, over real sockets with a raw client thread, server DMA and
 * client requests in flight together with and without the twin socket.
 */
#include "test_dma_util.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "server/dma.h"

#define PG 4096u

static void
test_sgl_addr_to_sgl_edges(void **state)
{
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(4);

    (void)state;
    /* no DMA set up, bad protection */
    assert_int_equal(vfu_addr_to_sgl(NULL, (vfu_dma_addr_t)0, 1, sg, 1,
                                     PROT_READ),
                     -1);
    assert_int_equal(errno, EINVAL);
    fx_attach(fx);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000, 8, sg,
                                     1, PROT_EXEC),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(fx_map(fx, RW, 0x10000, PG, -1, 0), 0);
    assert_int_equal(fx_map(fx, RW, 0x11000, PG, -1, 0), 0);
    assert_int_equal(fx_map(fx, RW, 0x12000, PG, -1, 0), 0);
    assert_int_equal(fx_map(fx, RW, 0x20000, PG, -1, 0), 0);
    /* nothing to translate */
    errno = EBADF;
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000, 0, sg,
                                     1, PROT_READ),
                     0);
    assert_int_equal(errno, 0);
    /* inside one region */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10ff8, 8, sg,
                                     1, PROT_READ),
                     1);
    assert_ptr_equal(sg->dma_addr, (void *)0x10000);
    assert_int_equal(sg->offset, 0xff8);
    assert_int_equal(sg->length, 8);
    assert_true(sg->region > 0);
    /* across three adjacent regions */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10800,
                                     2 * PG, sg, 4, PROT_READ | PROT_WRITE),
                     3);
    assert_int_equal(sg_at(sg, 0)->length, 0x800);
    assert_int_equal(sg_at(sg, 1)->length, PG);
    assert_int_equal(sg_at(sg, 2)->length, 0x800);
    assert_true(sg_at(sg, 2)->writeable);
    /* too few entries: -(n + 1), errno 0, nothing written past the end */
    memset(sg_at(sg, 1), 0x5a, dma_sg_size());
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10800,
                                     2 * PG, sg, 1, PROT_READ),
                     -4);
    assert_int_equal(errno, 0);
    assert_int_equal(*(uint8_t *)sg_at(sg, 1), 0x5a);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10800,
                                     2 * PG, NULL, 0, PROT_READ),
                     -4);
    /* a gap, the end of the mapped space, unmapped, wrapping */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x12800,
                                     2 * PG, sg, 4, PROT_READ),
                     -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x20800, PG, sg,
                                     4, PROT_READ),
                     -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x30000, 1, sg,
                                     4, PROT_READ),
                     -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x20800,
                                     SIZE_MAX, sg, 4, PROT_READ),
                     -1);
    assert_int_equal(errno, ENOENT);
    fx_free(fx);
    free(sg);
}

/* a region near the top of the address space: no wrapping */
static void
test_sgl_top_of_address_space(void **state)
{
    const uint64_t base = UINT64_MAX - 2 * (uint64_t)PG + 1;
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(2);

    (void)state;
    fx_attach(fx);
    /* proto's validator: a range must end below 2^64 */
    assert_int_equal(fx_map(fx, RW, base + PG, PG, -1, 0), EINVAL);
    assert_int_equal(fx_map(fx, RW, base, PG, -1, 0), 0);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx,
                                     (vfu_dma_addr_t)(base + PG - 8), 8, sg,
                                     2, PROT_READ),
                     1);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx,
                                     (vfu_dma_addr_t)(base + PG - 8), 9, sg,
                                     2, PROT_READ),
                     -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx,
                                     (vfu_dma_addr_t)(UINT64_MAX - 3), 8, sg,
                                     2, PROT_READ),
                     -1);
    assert_int_equal(errno, ENOENT);
    fx_free(fx);
    free(sg);
}

/* The permissions of the mapping holding @addr ("" if none). */
static void
map_perms(const void *addr, char perms[5])
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];

    assert_non_null(f);
    perms[0] = '\0';
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long lo, hi;
        char p[5];

        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 &&
            (uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
            memcpy(perms, p, 5);
            break;
        }
    }
    fclose(f);
}

static void
test_sgl_get_put(void **state)
{
    int fd = fx_memfd(4 * PG, 0x42);
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(3);
    struct iovec iov[3];

    (void)state;
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW, 0x10000, PG, fd, 0), 0);
    assert_int_equal(fx_map(fx, RW, 0x11000, PG, fd, PG), 0);
    assert_int_equal(fx_map(fx, RW, 0x12000, PG, -1, 0), 0);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000,
                                     2 * PG, sg, 3, PROT_READ),
                     2);
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, iov, 2, 0), 0);
    assert_int_equal(iov[0].iov_len, PG);
    assert_int_equal(iov[1].iov_len, PG);
    assert_int_equal(((uint8_t *)iov[1].iov_base)[PG - 1], 0x42);
    vfu_sgl_put(fx->ctx, sg, iov, 2);
    /* flags, a zero count, a message-only region (all or nothing) */
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, iov, 2, 1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, iov, 0, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x11000,
                                     2 * PG, sg, 3, PROT_READ),
                     2);
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, iov, 2, 0), -1);
    assert_int_equal(errno, EFAULT);
    /* an entry the device scribbled over, or never filled */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000, PG, sg,
                                     1, PROT_READ),
                     1);
    sg->length = PG + 1;
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, iov, 1, 0), -1);
    assert_int_equal(errno, EINVAL);
    memset(sg, 0, dma_sg_size());
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, iov, 1, 0), -1);
    assert_int_equal(errno, EINVAL);
    /* stale after an unmap */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000, PG, sg,
                                     1, PROT_READ),
                     1);
    assert_int_equal(fx_unmap(fx, 0x10000, PG, 0), 0);
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, iov, 1, 0), -1);
    assert_int_equal(errno, EINVAL);
    /* and a new region at the same place is not the old one */
    assert_int_equal(fx_map(fx, RW, 0x10000, PG, fd, 0), 0);
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, iov, 1, 0), -1);
    assert_int_equal(errno, EINVAL);
    vfu_sgl_put(fx->ctx, sg, iov, 1);
    fx_free(fx);
    close(fd);
    free(sg);
}

/*
 * Unmapping a region the device still holds entries of: the unregister
 * callback runs, the client's memory is released at once, the address
 * range stays reserved (a stale access faults) until the last put.
 */
static void
test_sgl_unmap_while_held(void **state)
{
    int maps0 = fx_count_maps();
    int fd = fx_memfd(2 * PG, 0x77);
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(2);
    struct iovec iov[2];
    char perms[5];
    void *va;

    (void)state;
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW, 0x10000, 2 * PG, fd, 0), 0);
    va = fx->reg[0].vaddr;
    map_perms(va, perms);
    assert_string_equal(perms, "rw-s");
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000, 8, sg,
                                     1, PROT_READ | PROT_WRITE),
                     1);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x11000, 8,
                                     sg_at(sg, 1), 1, PROT_READ),
                     1);
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, iov, 2, 0), 0);
    assert_int_equal(((uint8_t *)iov[0].iov_base)[0], 0x77);
    assert_int_equal(fx_unmap(fx, 0x10000, 2 * PG, 0), 0);
    assert_int_equal(fx->nr_unreg, 1);
    /* the client's memory is gone, the range is reserved, inaccessible */
    map_perms(va, perms);
    assert_string_equal(perms, "---p");
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, iov, 1, 0), -1);
    assert_int_equal(errno, EINVAL);
    vfu_sgl_put(fx->ctx, sg, iov, 1);
    map_perms(va, perms);
    assert_string_equal(perms, "---p");
    vfu_sgl_put(fx->ctx, sg_at(sg, 1), iov + 1, 1);
    map_perms(va, perms);
    assert_string_equal(perms, "");
    /* an extra put is harmless */
    vfu_sgl_put(fx->ctx, sg, iov, 1);

    /* held at destroy: released with the context */
    assert_int_equal(fx_map(fx, RW, 0x10000, 2 * PG, fd, 0), 0);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000, 8, sg,
                                     1, PROT_READ),
                     1);
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, iov, 1, 0), 0);
    vfu_ext_inproc_disconnect(fx->ctx);
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(fx->nr_unreg, 2);
    fx_free(fx);
    close(fd);
    free(sg);
    assert_int_equal(fx_count_maps(), maps0);
}

static void
test_sgl_rw_direct(void **state)
{
    int fd = fx_memfd(2 * PG, 0);
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(2);
    uint8_t out[100], in[100];
    uint8_t *p;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(out); i++) {
        out[i] = (uint8_t)(i + 1);
    }
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW | VFIO_USER_F_DMA_REGION_MMAP, 0x10000, PG,
                            fd, 0),
                     0);
    assert_int_equal(fx_map(fx, RW | VFIO_USER_F_DMA_REGION_FILE_IO, 0x20000,
                            PG, fd, PG),
                     0);
    p = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(p != MAP_FAILED);

    /* mmapped */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10010, 100,
                                     sg, 1, PROT_READ | PROT_WRITE),
                     1);
    assert_int_equal(vfu_sgl_write(fx->ctx, sg, 1, out,
                                   VFU_SGL_DIRECT_ACCESS),
                     0);
    assert_memory_equal(p + 0x10, out, sizeof(out));
    assert_int_equal(vfu_sgl_read(fx->ctx, sg, 1, in, VFU_SGL_DIRECT_ACCESS),
                     0);
    assert_memory_equal(in, out, sizeof(in));
    /* FILE_IO: pread/pwrite, not mappable */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x20020, 100,
                                     sg, 1, PROT_READ | PROT_WRITE),
                     1);
    assert_false(vfu_sg_is_mappable(fx->ctx, sg));
    assert_int_equal(vfu_sgl_write(fx->ctx, sg, 1, out,
                                   VFU_SGL_DIRECT_ACCESS),
                     0);
    assert_memory_equal(p + PG + 0x20, out, sizeof(out));
    memset(in, 0, sizeof(in));
    assert_int_equal(vfu_sgl_read(fx->ctx, sg, 1, in, VFU_SGL_DIRECT_ACCESS),
                     0);
    assert_memory_equal(in, out, sizeof(in));
    assert_int_equal(fx->dma_reads + fx->dma_writes, 0);

    /* argument checks, in libvfio-user's order */
    assert_int_equal(vfu_sgl_read(fx->ctx, sg, 1, in, 0x42), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_sgl_write(fx->ctx, sg, 2, out, 0), -1);
    assert_int_equal(errno, ENOTSUP);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000, 8, sg,
                                     1, PROT_READ),
                     1);
    assert_int_equal(vfu_sgl_write(fx->ctx, sg, 1, out,
                                   VFU_SGL_DIRECT_ACCESS),
                     -1);
    assert_int_equal(errno, EPERM);
    munmap(p, 2 * PG);
    fx_free(fx);
    close(fd);
    free(sg);
}

/* Message DMA, chunked by the negotiated max_data_xfer_size */
static void
test_sgl_rw_messages_chunked(void **state)
{
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(1);
    size_t len = 3 * 4096 + 123;
    uint8_t *out = malloc(len), *in = malloc(len);
    size_t i;

    (void)state;
    assert_non_null(out);
    assert_non_null(in);
    for (i = 0; i < len; i++) {
        out[i] = (uint8_t)(i * 13);
    }
    fx_attach_json(fx, "{\"capabilities\":{\"max_msg_fds\":8,"
                       "\"max_data_xfer_size\":4096}}");
    assert_int_equal(fx_map(fx, RW, FX_MEM_BASE, FX_MEM_SIZE, -1, 0), 0);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx,
                                     (vfu_dma_addr_t)(FX_MEM_BASE + 0x800),
                                     len, sg, 1, PROT_READ | PROT_WRITE),
                     1);
    /* DIRECT_ACCESS on a message region still goes through messages */
    assert_int_equal(vfu_sgl_write(fx->ctx, sg, 1, out,
                                   VFU_SGL_DIRECT_ACCESS),
                     0);
    assert_int_equal(fx->dma_writes, 4);
    assert_int_equal(fx->max_chunk, 4096);
    assert_memory_equal(fx->mem + 0x800, out, len);
    assert_int_equal(vfu_sgl_read(fx->ctx, sg, 1, in, 0), 0);
    assert_int_equal(fx->dma_reads, 4);
    assert_memory_equal(in, out, len);
    fx_free(fx);
    free(out);
    free(in);
    free(sg);
}

static void
test_sgl_rw_mapped_without_direct_uses_messages(void **state)
{
    int fd = fx_memfd(PG, 0x99);
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(1);
    uint8_t in[64];

    (void)state;
    fx_attach(fx);
    fx->mem[0x10] = 0x5e;
    assert_int_equal(fx_map(fx, RW, FX_MEM_BASE, PG, fd, 0), 0);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx,
                                     (vfu_dma_addr_t)(FX_MEM_BASE + 0x10), 64,
                                     sg, 1, PROT_READ),
                     1);
    assert_int_equal(vfu_sgl_read(fx->ctx, sg, 1, in, 0), 0);
    assert_int_equal(in[0], 0x5e);
    assert_int_equal(fx->dma_reads, 1);
    assert_int_equal(vfu_sgl_read(fx->ctx, sg, 1, in, VFU_SGL_DIRECT_ACCESS),
                     0);
    assert_int_equal(in[0], 0x99);
    assert_int_equal(fx->dma_reads, 1);
    fx_free(fx);
    close(fd);
    free(sg);
}

/* Clients that answer wrongly fail the operation; the server goes on */
static void
test_sgl_bad_replies(void **state)
{
    static const struct {
        enum fx_pump_mode mode;
        int err;
    } cases[] = {
        {PUMP_ERRNO, EIO},      {PUMP_BAD_ID, EINVAL},
        {PUMP_SHORT, EINVAL},   {PUMP_BAD_ADDR, EINVAL},
        {PUMP_SILENT, ETIMEDOUT},
    };
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(1);
    struct vfio_user_device_info info = {.argsz = sizeof(info)};
    uint8_t buf[64] = {0};
    size_t i;

    (void)state;
    fx_attach(fx);
    fx->pump_errno = EIO;
    assert_int_equal(fx_map(fx, RW, FX_MEM_BASE, PG, -1, 0), 0);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)FX_MEM_BASE, 64,
                                     sg, 1, PROT_READ | PROT_WRITE),
                     1);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fx->pump_mode = cases[i].mode;
        assert_int_equal(vfu_sgl_read(fx->ctx, sg, 1, buf, 0), -1);
        assert_int_equal(errno, cases[i].err);
        assert_int_equal(vfu_sgl_write(fx->ctx, sg, 1, buf, 0), -1);
        if (cases[i].mode != PUMP_SHORT) {
            assert_int_equal(errno, cases[i].err);
        }
        /* a stray late reply, if any, is dropped; the server serves on */
        fx->pump_mode = PUMP_OK;
        while (vfu_ext_inproc_pending(fx->ctx) > 0) {
            uint8_t junk[256];
            size_t nfds = 0;

            (void)vfu_ext_inproc_recv(fx->ctx, junk, sizeof(junk), NULL,
                                      &nfds);
        }
        assert_int_equal(fx_rt(fx, VFIO_USER_DEVICE_GET_INFO, &info,
                               sizeof(info)),
                         0);
        assert_int_equal(vfu_sgl_read(fx->ctx, sg, 1, buf, 0), 0);
    }
    fx_free(fx);
    free(sg);
}

/* ------------------------------------------------------------------ */
/* Over real sockets: server DMA while a client request is in flight   */
/* ------------------------------------------------------------------ */

struct sock_dev {
    vfu_ctx_t *ctx;
    char path[108];
    int dma_err; /* what the BAR callback's DMA gave */
};

/*
 * BAR0 write of 8 bytes: an IOVA.  The device reads 8 KiB there through
 * messages, adds one to every byte and writes it back.
 */
static ssize_t
bar0_cb(vfu_ctx_t *ctx, char *buf, size_t count, loff_t off, bool is_write)
{
    struct sock_dev *d = vfu_get_private(ctx);
    uint8_t data[8192];
    dma_sg_t *sg = calloc(1, dma_sg_size());
    uint64_t iova;
    size_t i;

    (void)off;
    if (!is_write || count != 8 || sg == NULL) {
        free(sg);
        memset(buf, 0, count);
        return (ssize_t)count;
    }
    memcpy(&iova, buf, 8);
    d->dma_err = 0;
    if (vfu_addr_to_sgl(ctx, (vfu_dma_addr_t)(uintptr_t)iova, sizeof(data), sg,
                        1, PROT_READ | PROT_WRITE) != 1 ||
        vfu_sgl_read(ctx, sg, 1, data, 0) < 0) {
        d->dma_err = errno;
    } else {
        for (i = 0; i < sizeof(data); i++) {
            data[i]++;
        }
        if (vfu_sgl_write(ctx, sg, 1, data, 0) < 0) {
            d->dma_err = errno;
        }
    }
    free(sg);
    return (ssize_t)count;
}

struct cl {
    const char *path;
    bool twin;
    int err;          /* 0, or the line that went wrong */
    int dma_on_main, dma_on_twin;
    uint16_t reply_order[2];
    int nr_replies;
    uint8_t mem[16384];
};

#define CL_CHECK(c, cond)                                                      \
    do {                                                                       \
        if (!(cond) && (c)->err == 0) {                                        \
            (c)->err = __LINE__;                                               \
        }                                                                      \
    } while (0)

static int
cl_send(int fd, uint16_t id, uint16_t cmd, const void *body, size_t len)
{
    struct vfio_user_header h;
    struct iovec iov = {.iov_base = (void *)body, .iov_len = len};

    proto_hdr_cmd(&h, id, cmd, len, false);
    return proto_io_send(fd, &h, &iov, len > 0, NULL, 0, -1);
}

/* Answer a DMA_READ/WRITE from @c->mem (IOVA 0x100000) on @fd. */
static void
cl_serve(struct cl *c, int fd, proto_msg_t *m)
{
    struct vfio_user_dma_region_access acc;
    struct vfio_user_header h;
    struct iovec iov[2];
    uint64_t off;

    CL_CHECK(c, m->body_len >= sizeof(acc));
    if (c->err != 0) {
        return;
    }
    memcpy(&acc, m->body, sizeof(acc));
    off = acc.addr - 0x100000;
    CL_CHECK(c, acc.count <= 4096 && off + acc.count <= sizeof(c->mem));
    if (c->err != 0) {
        return;
    }
    iov[0].iov_base = &acc;
    iov[0].iov_len = sizeof(acc);
    iov[1].iov_base = c->mem + off;
    iov[1].iov_len = (size_t)acc.count;
    if (m->hdr.cmd == VFIO_USER_DMA_WRITE) {
        memcpy(c->mem + off, m->body + sizeof(acc), (size_t)acc.count);
        proto_hdr_reply(&h, &m->hdr, sizeof(acc), 0);
        CL_CHECK(c, proto_io_send(fd, &h, iov, 1, NULL, 0, -1) == 0);
    } else {
        proto_hdr_reply(&h, &m->hdr, sizeof(acc) + acc.count, 0);
        CL_CHECK(c, proto_io_send(fd, &h, iov, 2, NULL, 0, -1) == 0);
    }
}

static void *
cl_thread(void *arg)
{
    struct cl *c = arg;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    char json[160];
    uint8_t vbody[200];
    struct vfio_user_version ver = {.major = 0, .minor = 2};
    struct vfio_user_dma_map map = map_req(RW, 0x100000, sizeof(c->mem), 0);
    uint8_t wr[sizeof(struct vfio_user_region_access) + 8];
    struct vfio_user_region_access ra = {.offset = 0, .region = 0,
                                         .count = 8};
    struct vfio_user_device_info info = {.argsz = sizeof(info)};
    uint64_t iova = 0x100000;
    proto_caps_t caps;
    proto_msg_t m = PROTO_MSG_INIT;
    int fd, twin = -1;
    size_t i;

    proto_caps_default(&caps);
    caps.max_msg_fds = 8;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", c->path);
    CL_CHECK(c, connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    snprintf(json, sizeof(json),
             "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":"
             "4096,\"twin_socket\":{\"supported\":%s}}}",
             c->twin ? "true" : "false");
    memcpy(vbody, &ver, sizeof(ver));
    memcpy(vbody + sizeof(ver), json, strlen(json) + 1);
    CL_CHECK(c, cl_send(fd, 1, VFIO_USER_VERSION, vbody,
                        sizeof(ver) + strlen(json) + 1) == 0);
    CL_CHECK(c, proto_io_recv(fd, &m, &caps, false, 5000) == 0);
    CL_CHECK(c, (m.hdr.flags & VFIO_USER_F_ERROR) == 0);
    if (c->twin) {
        CL_CHECK(c, m.nr_fds == 1);
        twin = proto_msg_take_fd(&m, 0);
    }
    proto_msg_free(&m);
    for (i = 0; i < sizeof(c->mem); i++) {
        c->mem[i] = (uint8_t)i;
    }
    CL_CHECK(c, cl_send(fd, 2, VFIO_USER_DMA_MAP, &map, sizeof(map)) == 0);
    CL_CHECK(c, proto_io_recv(fd, &m, &caps, false, 5000) == 0);
    CL_CHECK(c, m.hdr.msg_id == 2 && (m.hdr.flags & VFIO_USER_F_ERROR) == 0);
    proto_msg_free(&m);

    /* a request whose handling needs our DMA, and one more behind it */
    memcpy(wr, &ra, sizeof(ra));
    memcpy(wr + sizeof(ra), &iova, 8);
    CL_CHECK(c, cl_send(fd, 10, VFIO_USER_REGION_WRITE, wr, sizeof(wr)) == 0);
    CL_CHECK(c, cl_send(fd, 11, VFIO_USER_DEVICE_GET_INFO, &info,
                        sizeof(info)) == 0);
    while (c->err == 0 && c->nr_replies < 2) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
                              {.fd = twin, .events = POLLIN}};
        int j;

        CL_CHECK(c, poll(p, twin >= 0 ? 2 : 1, 5000) > 0);
        for (j = 0; j < 2 && c->err == 0; j++) {
            if (!(p[j].revents & POLLIN)) {
                continue;
            }
            CL_CHECK(c, proto_io_recv(p[j].fd, &m, &caps, false, 5000) == 0);
            if (c->err != 0) {
                break;
            }
            if ((m.hdr.flags & VFIO_USER_F_TYPE_MASK) ==
                VFIO_USER_F_TYPE_COMMAND) {
                if (j == 0) {
                    c->dma_on_main++;
                } else {
                    c->dma_on_twin++;
                }
                cl_serve(c, p[j].fd, &m);
            } else {
                CL_CHECK(c, j == 0);
                CL_CHECK(c, (m.hdr.flags & VFIO_USER_F_ERROR) == 0);
                c->reply_order[c->nr_replies++] = m.hdr.msg_id;
            }
            proto_msg_free(&m);
        }
    }
    close(fd);
    if (twin >= 0) {
        close(twin);
    }
    return NULL;
}

static void
run_socket_dma(bool twin)
{
    struct sock_dev d = {0};
    struct cl c;
    pthread_t th;
    size_t i;

    memset(&c, 0, sizeof(c));
    snprintf(d.path, sizeof(d.path), "%s", tu_sock_path("sgl"));
    d.ctx = vfu_create_ctx(VFU_TRANS_SOCK, d.path, 0, &d, VFU_DEV_TYPE_PCI);
    assert_non_null(d.ctx);
    assert_int_equal(vfu_setup_log(d.ctx, fx_log, LOG_DEBUG), 0);
    assert_int_equal(vfu_pci_init(d.ctx, VFU_PCI_TYPE_CONVENTIONAL,
                                  PCI_HEADER_TYPE_NORMAL, 0),
                     0);
    assert_int_equal(vfu_setup_region(d.ctx, VFU_PCI_DEV_BAR0_REGION_IDX,
                                      0x1000, bar0_cb, VFU_REGION_FLAG_RW,
                                      NULL, 0, -1, 0),
                     0);
    assert_int_equal(vfu_setup_device_dma(d.ctx, 8, NULL, NULL), 0);
    assert_int_equal(vfu_realize_ctx(d.ctx), 0);
    c.path = d.path;
    c.twin = twin;
    assert_int_equal(pthread_create(&th, NULL, cl_thread, &c), 0);
    assert_int_equal(vfu_attach_ctx(d.ctx), 0);
    errno = 0;
    assert_int_equal(vfu_run_ctx(d.ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(c.err, 0);
    assert_int_equal(d.dma_err, 0);
    /* 8 KiB read and written back in 4 KiB messages */
    if (twin) {
        assert_int_equal(c.dma_on_twin, 4);
        assert_int_equal(c.dma_on_main, 0);
    } else {
        assert_int_equal(c.dma_on_main, 4);
    }
    /* the request that needed DMA was answered first, then the next */
    assert_int_equal(c.nr_replies, 2);
    assert_int_equal(c.reply_order[0], 10);
    assert_int_equal(c.reply_order[1], 11);
    for (i = 0; i < 8192; i++) {
        assert_int_equal(c.mem[i], (uint8_t)(i + 1));
    }
    assert_int_equal(c.mem[8192], (uint8_t)8192);
    vfu_destroy_ctx(d.ctx);
}

static void
test_sgl_socket_twin_no_deadlock(void **state)
{
    (void)state;
    run_socket_dma(true);
}

static void
test_sgl_socket_shared_no_deadlock(void **state)
{
    (void)state;
    run_socket_dma(false);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sgl_addr_to_sgl_edges),
        T(test_sgl_top_of_address_space),
        T(test_sgl_get_put),
        T(test_sgl_unmap_while_held),
        T(test_sgl_rw_direct),
        T(test_sgl_rw_messages_chunked),
        T(test_sgl_rw_mapped_without_direct_uses_messages),
        T(test_sgl_bad_replies),
        T(test_sgl_socket_twin_no_deadlock),
        T(test_sgl_socket_shared_no_deadlock),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
