/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_dma.c - DMA_MAP / DMA_UNMAP and the region table: memfd-backed and
 * fd-less regions, protections, file offsets inside a page, rejected
 * maps, limits, ten thousand regions, dirty bitmaps, and that no fd or
 * mapping outlives its region.  Driven through the real server pipeline
 * on the in-process transport.
 */
#include "test_dma_util.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "server/dma.h"

#define PG 4096u

static void
test_dma_map_memfd_mapped(void **state)
{
    int maps0 = fx_count_maps();
    int fd = fx_memfd(4 * PG, 0xa5);
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(1);
    struct iovec iov;
    uint8_t *p;

    (void)state;
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW, 0x10000, 2 * PG, fd, PG), 0);
    assert_int_equal(fx->nr_reg, 1);
    assert_ptr_equal(fx->reg[0].iova.iov_base, (void *)0x10000);
    assert_int_equal(fx->reg[0].iova.iov_len, 2 * PG);
    assert_non_null(fx->reg[0].vaddr);
    assert_ptr_equal(fx->reg[0].mapping.iov_base, fx->reg[0].vaddr);
    assert_int_equal(fx->reg[0].mapping.iov_len, 2 * PG);
    assert_int_equal(fx->reg[0].page_size, PG);
    assert_int_equal(fx->reg[0].prot, PROT_READ | PROT_WRITE);
    assert_int_equal(((uint8_t *)fx->reg[0].vaddr)[0], 0xa5);

    /* the device writes through the mapping, the client's file sees it */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10010, 16, sg,
                                     1, PROT_READ | PROT_WRITE),
                     1);
    assert_true(vfu_sg_is_mappable(fx->ctx, sg));
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, &iov, 1, 0), 0);
    assert_ptr_equal(iov.iov_base, (uint8_t *)fx->reg[0].vaddr + 0x10);
    assert_int_equal(iov.iov_len, 16);
    memset(iov.iov_base, 0x3c, 16);
    vfu_sgl_put(fx->ctx, sg, &iov, 1);
    p = mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(p != MAP_FAILED);
    assert_int_equal(p[PG + 0x10], 0x3c);
    assert_int_equal(p[PG + 0x20], 0xa5);
    munmap(p, 4 * PG);

    /* unmap: the callback sees the same region, the mapping goes */
    assert_int_equal(fx_unmap(fx, 0x10000, 2 * PG, 0), 0);
    assert_int_equal(fx->len, sizeof(struct vfio_user_dma_unmap));
    assert_int_equal(fx->nr_unreg, 1);
    assert_ptr_equal(fx->unreg[0].vaddr, fx->reg[0].vaddr);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10010, 16, sg,
                                     1, PROT_READ),
                     -1);
    assert_int_equal(errno, ENOENT);
    fx_free(fx);
    close(fd);
    free(sg);
    assert_int_equal(fx_count_maps(), maps0);
}

static void
test_dma_map_fdless(void **state)
{
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(1);
    struct iovec iov;

    (void)state;
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW, 0x20000, PG, -1, 0), 0);
    assert_int_equal(fx->nr_reg, 1);
    assert_null(fx->reg[0].vaddr);
    assert_null(fx->reg[0].mapping.iov_base);
    assert_int_equal(fx->reg[0].mapping.iov_len, 0);
    assert_int_equal(fx->reg[0].page_size, PG);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x20000, PG, sg,
                                     1, PROT_READ),
                     1);
    assert_false(vfu_sg_is_mappable(fx->ctx, sg));
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, &iov, 1, 0), -1);
    assert_int_equal(errno, EFAULT);
    fx_free(fx);
    free(sg);
}

/* mmap needs a page-aligned file offset: vaddr points inside the page */
static void
test_dma_map_offset_within_page(void **state)
{
    int fd = memfd_create("guest", MFD_CLOEXEC);
    fx_t *fx = fx_new_dma(16, false);
    uint8_t pattern[3 * PG];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(pattern); i++) {
        pattern[i] = (uint8_t)(i * 7);
    }
    assert_int_equal(write(fd, pattern, sizeof(pattern)),
                     (ssize_t)sizeof(pattern));
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW, 0x40000, PG, fd, 0x1800), 0);
    assert_int_equal((uint8_t *)fx->reg[0].vaddr -
                         (uint8_t *)fx->reg[0].mapping.iov_base,
                     0x800);
    /* long enough for the whole region from the rounded-down offset */
    assert_int_equal(fx->reg[0].mapping.iov_len, 2 * PG);
    assert_memory_equal(fx->reg[0].vaddr, pattern + 0x1800, PG);
    fx_free(fx);
    close(fd);
}

static void
test_dma_map_protections(void **state)
{
    int fd = fx_memfd(PG, 0);
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(1);
    char path[64];
    int ro;

    (void)state;
    fx_attach(fx);
    assert_int_equal(fx_map(fx, VFIO_USER_F_DMA_REGION_READ, 0x10000, PG, fd,
                            0),
                     0);
    assert_int_equal(fx->reg[0].prot, PROT_READ);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000, 8, sg,
                                     1, PROT_READ),
                     1);
    assert_false(((dma_sg_t *)sg)->writeable);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000, 8, sg,
                                     1, PROT_WRITE),
                     -1);
    assert_int_equal(errno, EACCES);
    assert_int_equal(fx_map(fx, VFIO_USER_F_DMA_REGION_WRITE, 0x20000, PG, -1,
                            0),
                     0);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x20000, 8, sg,
                                     1, PROT_READ),
                     -1);
    assert_int_equal(errno, EACCES);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x20000, 8, sg,
                                     1, PROT_WRITE),
                     1);

    /* unknown flags, MMAP with FILE_IO, MMAP without an fd */
    assert_int_equal(fx_map(fx, RW | 0x100, 0x30000, PG, -1, 0), EINVAL);
    assert_int_equal(fx_map(fx,
                            RW | VFIO_USER_F_DMA_REGION_MMAP |
                                VFIO_USER_F_DMA_REGION_FILE_IO,
                            0x30000, PG, fd, 0),
                     EINVAL);
    assert_int_equal(fx_map(fx, RW | VFIO_USER_F_DMA_REGION_MMAP, 0x30000, PG,
                            -1, 0),
                     EINVAL);
    /* a writable mapping of a read-only file: mmap's EACCES, fd closed */
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ro = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(ro >= 0);
    assert_int_equal(fx_map(fx, RW, 0x30000, PG, ro, 0), EACCES);
    assert_int_equal(fx->nr_reg, 2);
    fx_free(fx);
    close(ro);
    close(fd);
    free(sg);
}

static void
test_dma_map_rejected(void **state)
{
    int fd = fx_memfd(PG, 0);
    fx_t *fx = fx_new_dma(16, false);
    struct vfio_user_dma_map m = map_req(RW, 0x50000, PG, 0);
    int fds[2] = {fd, fd};

    (void)state;
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW, 0x10000, 4 * PG, -1, 0), 0);
    /* the spec: mapping over an existing region is EEXIST */
    assert_int_equal(fx_map(fx, RW, 0x10000, 4 * PG, -1, 0), EEXIST);
    assert_int_equal(fx_map(fx, RW, 0x12000, PG, -1, 0), EEXIST);
    assert_int_equal(fx_map(fx, RW, 0xf000, 2 * PG, -1, 0), EEXIST);
    assert_int_equal(fx_map(fx, RW, 0x13fff, 2, -1, 0), EEXIST);
    assert_int_equal(fx_map(fx, RW, 0x8000, 0x10000, -1, 0), EEXIST);
    /* touching is fine */
    assert_int_equal(fx_map(fx, RW, 0x14000, PG, -1, 0), 0);
    assert_int_equal(fx_map(fx, RW, 0xf000, PG, -1, 0), 0);
    /* empty, wrapping, too large */
    assert_int_equal(fx_map(fx, RW, 0x60000, 0, -1, 0), EINVAL);
    assert_int_equal(fx_map(fx, RW, UINT64_MAX - PG + 1, 2 * PG, -1, 0),
                     EINVAL);
    assert_int_equal(fx_map(fx, RW, 0x1000000, DMA_MAX_REGION_SIZE + PG, -1,
                            0),
                     ENOSPC);
    /* two fds for one region */
    assert_int_equal(fx_rt_fds(fx, VFIO_USER_DMA_MAP, &m, sizeof(m), fds, 2),
                     EINVAL);
    /* a short request, a short argsz */
    assert_int_equal(fx_rt(fx, VFIO_USER_DMA_MAP, &m, sizeof(m) - 1), EINVAL);
    m.argsz = sizeof(m) - 1;
    assert_int_equal(fx_rt(fx, VFIO_USER_DMA_MAP, &m, sizeof(m)), EINVAL);
    assert_int_equal(fx->nr_reg, 3);
    fx_free(fx);
    close(fd);
}

/*
 * A regular file (a memfd here) shorter than its mmapped region: pages past
 * its end raise SIGBUS when touched, which a fuzzed DMA_MAP used to crash
 * the server with.  The map is accepted (libvfio-user's own tests map such
 * files and use the pages past the end) with anonymous memory behind the
 * missing pages: reads give zeros, writes stay in the server, the file is
 * not extended; an offset + size that wraps is refused.
 */
static void
test_dma_map_short_file_tail_anonymous(void **state)
{
    int maps0 = fx_count_maps();
    int fd = fx_memfd(PG, 0x5a);
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(1);
    struct iovec iov;
    struct stat st;
    uint8_t *p, b = 0;
    int fds1;

    (void)state;
    fx_attach(fx);
    fds1 = tu_count_fds();
    assert_int_equal(fx_map(fx, RW, 0x10000, 2 * PG, fd, UINT64_MAX - PG + 1),
                     EINVAL);
    assert_int_equal(fx->nr_reg, 0);
    assert_int_equal(tu_count_fds(), fds1);
    assert_int_equal(fx_count_maps(), maps0);

    /* a 4 KiB file as 64 KiB, straddling the end of the file */
    assert_int_equal(fx_map(fx, RW, 0x10000, 16 * PG, fd, 0), 0);
    assert_int_equal(fx->nr_reg, 1);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx,
                                     (vfu_dma_addr_t)(0x10000 + PG - 8),
                                     2 * PG, sg, 1, PROT_READ | PROT_WRITE),
                     1);
    assert_true(vfu_sg_is_mappable(fx->ctx, sg));
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, &iov, 1, 0), 0);
    p = iov.iov_base;
    assert_int_equal(p[0], 0x5a);           /* the file */
    assert_int_equal(p[7], 0x5a);
    assert_int_equal(p[8], 0);              /* past it: zeros, no SIGBUS */
    assert_int_equal(p[2 * PG - 1], 0);
    memset(p, 0xc3, 2 * PG);                /* and writable */
    vfu_sgl_put(fx->ctx, sg, &iov, 1);
    /* the file kept its size, and got the bytes that were its own */
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, PG);
    assert_int_equal(pread(fd, &b, 1, PG - 1), 1);
    assert_int_equal(b, 0xc3);

    /* a region wholly past the end of the file */
    assert_int_equal(fx_map(fx, RW, 0x40000, PG, fd, 2 * PG), 0);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x40000, 8, sg,
                                     1, PROT_READ | PROT_WRITE),
                     1);
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, &iov, 1, 0), 0);
    assert_int_equal(((uint8_t *)iov.iov_base)[0], 0);
    ((uint8_t *)iov.iov_base)[0] = 1;
    vfu_sgl_put(fx->ctx, sg, &iov, 1);
    fx_free(fx);
    close(fd);
    free(sg);
    assert_int_equal(fx_count_maps(), maps0);
}

/*
 * The size check is for mmapped regular files only: a character device
 * has no meaningful size, and FILE_IO regions read past the end get EIO
 * instead of a signal.
 */
static void
test_dma_map_short_file_other_fds_unchecked(void **state)
{
    int fd = fx_memfd(PG, 0);
    int zero = open("/dev/zero", O_RDWR | O_CLOEXEC);
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(1);
    uint8_t buf[16];

    (void)state;
    assert_true(zero >= 0);
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW, 0x10000, 16 * PG, zero, 0), 0);
    assert_non_null(fx->reg[0].vaddr);
    assert_int_equal(fx_map(fx, RW | VFIO_USER_F_DMA_REGION_FILE_IO, 0x40000,
                            16 * PG, fd, 0),
                     0);
    assert_int_equal(fx->nr_reg, 2);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x48000,
                                     sizeof(buf), sg, 1, PROT_READ),
                     1);
    assert_int_equal(vfu_sgl_read(fx->ctx, sg, 1, buf, VFU_SGL_DIRECT_ACCESS),
                     -1);
    assert_int_equal(errno, EIO);
    fx_free(fx);
    close(zero);
    close(fd);
    free(sg);
}

/* libvfio-user takes any alignment; so do we */
static void
test_dma_map_unaligned_accepted(void **state)
{
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(2);

    (void)state;
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW, 0x10001, 0x123, -1, 0), 0);
    assert_int_equal(fx_map(fx, RW, 0x10124, 0x10, -1, 0), 0);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10100, 0x30,
                                     sg, 2, PROT_READ),
                     2);
    assert_int_equal(sg_at(sg, 0)->offset, 0xff);
    assert_int_equal(sg_at(sg, 0)->length, 0x24);
    assert_int_equal(sg_at(sg, 1)->offset, 0);
    assert_int_equal(sg_at(sg, 1)->length, 0xc);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000, 2, sg,
                                     2, PROT_READ),
                     -1);
    assert_int_equal(errno, ENOENT);
    fx_free(fx);
    free(sg);
}

static void
test_dma_max_regions(void **state)
{
    fx_t *fx = fx_new_dma(4, false);
    uint64_t i;

    (void)state;
    fx_attach(fx);
    for (i = 0; i < 4; i++) {
        assert_int_equal(fx_map(fx, RW, (i + 1) * PG, PG, -1, 0), 0);
    }
    /* as libvfio-user: EINVAL past the device's limit */
    assert_int_equal(fx_map(fx, RW, 0x100000, PG, -1, 0), EINVAL);
    assert_int_equal(fx_unmap(fx, PG, PG, 0), 0);
    assert_int_equal(fx_map(fx, RW, 0x100000, PG, -1, 0), 0);
    fx_free(fx);

    /* the smaller of the device's limit and the client's max_dma_maps */
    fx = fx_new_dma(4, false);
    fx_attach_json(fx, "{\"capabilities\":{\"max_dma_maps\":2}}");
    assert_int_equal(fx_map(fx, RW, PG, PG, -1, 0), 0);
    assert_int_equal(fx_map(fx, RW, 2 * PG, PG, -1, 0), 0);
    assert_int_equal(fx_map(fx, RW, 3 * PG, PG, -1, 0), EINVAL);
    fx_free(fx);
}

/* Ten thousand regions with gaps, looked up in O(log n) */
static void
test_dma_many_regions(void **state)
{
    const uint64_t n = 10000;
    fx_t *fx = fx_new_dma(20000, false);
    dma_sg_t *sg = sg_alloc(4);
    uint64_t i;

    (void)state;
    fx_attach(fx);
    /* mapped from the top down, so every insert goes to the front */
    for (i = n; i-- > 0;) {
        assert_int_equal(fx_map(fx, RW, 0x100000 + i * 2 * PG, PG, -1, 0), 0);
    }
    for (i = 0; i < n; i += 7) {
        uint64_t a = 0x100000 + i * 2 * PG + (i % PG);

        assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)a, 1, sg, 1,
                                         PROT_READ),
                         1);
        assert_ptr_equal(sg->dma_addr, (void *)(uintptr_t)(a - i % PG));
        assert_int_equal(sg->offset, i % PG);
        /* the gap after each region is not mapped */
        assert_int_equal(vfu_addr_to_sgl(fx->ctx,
                                         (vfu_dma_addr_t)(uintptr_t)(
                                             0x100000 + i * 2 * PG + PG),
                                         1, sg, 1, PROT_READ),
                         -1);
        assert_int_equal(errno, ENOENT);
    }
    /* a range across a gap */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x100000,
                                     2 * PG, sg, 4, PROT_READ),
                     -1);
    /* fill a gap: now the range spans two regions */
    assert_int_equal(fx_map(fx, RW, 0x100000 + PG, PG, -1, 0), 0);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x100800,
                                     2 * PG, sg, 4, PROT_READ),
                     3);
    assert_int_equal(fx_unmap(fx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL), 0);
    assert_int_equal(fx->nr_unreg, n + 1);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x100000, 1, sg,
                                     1, PROT_READ),
                     -1);
    fx_free(fx);
    free(sg);
}

/* fd-backed regions keep no fd and leave no mapping behind */
static void
test_dma_many_fd_regions_no_leak(void **state)
{
    int maps0 = fx_count_maps();
    int fds0 = tu_count_fds();
    int fd = fx_memfd(64 * PG, 0x11);
    fx_t *fx = fx_new_dma(4096, false);
    int fds1, maps1;
    uint64_t i;

    (void)state;
    fx_attach(fx);
    fds1 = tu_count_fds();
    for (i = 0; i < 2000; i++) {
        assert_int_equal(fx_map(fx, RW, 0x1000000 + i * PG, PG, fd,
                                (i % 64) * PG),
                         0);
    }
    assert_int_equal(tu_count_fds(), fds1);
    maps1 = fx_count_maps();
    assert_true(maps1 > maps0);
    /* unmap half one by one, the rest at once */
    for (i = 0; i < 1000; i++) {
        assert_int_equal(fx_unmap(fx, 0x1000000 + i * 2 * PG, PG, 0), 0);
    }
    assert_int_equal(fx_unmap(fx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL), 0);
    assert_int_equal(fx->nr_unreg, 2000);
    fx_free(fx);
    close(fd);
    assert_int_equal(tu_count_fds(), fds0);
    assert_int_equal(fx_count_maps(), maps0);
}

static void
test_dma_unmap_rules(void **state)
{
    fx_t *fx = fx_new_dma(16, false);
    struct vfio_user_dma_unmap u;

    (void)state;
    fx_attach(fx);
    assert_int_equal(fx_unmap(fx, 0x10000, PG, 0), ENOENT);
    assert_int_equal(fx_map(fx, RW, 0x10000, 2 * PG, -1, 0), 0);
    /* the spec: address and size must match a mapping exactly */
    assert_int_equal(fx_unmap(fx, 0x10000, PG, 0), ENOENT);
    assert_int_equal(fx_unmap(fx, 0x11000, PG, 0), ENOENT);
    assert_int_equal(fx_unmap(fx, 0x10000, 4 * PG, 0), ENOENT);
    assert_int_equal(fx_unmap(fx, 0x10000, 2 * PG, 0x4), EINVAL);
    assert_int_equal(fx_unmap(fx, 0x10000, 2 * PG,
                              VFIO_DMA_UNMAP_FLAG_ALL |
                                  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP),
                     EINVAL);
    assert_int_equal(fx_unmap(fx, 0x10000, PG, VFIO_DMA_UNMAP_FLAG_ALL),
                     EINVAL);
    assert_int_equal(fx->nr_unreg, 0);
    /* argsz beyond our transfer limit */
    u = (struct vfio_user_dma_unmap){.argsz = (1u << 20) + 8,
                                     .addr = 0x10000, .size = 2 * PG};
    assert_int_equal(fx_rt(fx, VFIO_USER_DMA_UNMAP, &u, sizeof(u)), EINVAL);
    assert_int_equal(fx_unmap(fx, 0x10000, 2 * PG, 0), 0);
    /* the reply echoes the request */
    u = (struct vfio_user_dma_unmap){.argsz = sizeof(u), .addr = 0x10000,
                                     .size = 2 * PG};
    assert_memory_equal(fx->body, &u, sizeof(u));
    assert_int_equal(fx->nr_unreg, 1);
    /* unmap-all of nothing */
    assert_int_equal(fx_unmap(fx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL), 0);
    fx_free(fx);
}

/* DMA_UNMAP with GET_DIRTY_BITMAP, as libvfio-user answers it */
static int
unmap_dirty(fx_t *fx, uint64_t addr, uint64_t size, uint64_t pgsize,
            uint64_t bmsize)
{
    uint8_t req[sizeof(struct vfio_user_dma_unmap) +
                sizeof(struct vfio_user_bitmap)];
    struct vfio_user_dma_unmap u = {
        .argsz = (uint32_t)(sizeof(req) + bmsize),
        .flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
        .addr = addr,
        .size = size};
    struct vfio_user_bitmap bm = {.pgsize = pgsize, .size = bmsize};

    memcpy(req, &u, sizeof(u));
    memcpy(req + sizeof(u), &bm, sizeof(bm));
    return fx_rt(fx, VFIO_USER_DMA_UNMAP, req, sizeof(req));
}

static void
test_dma_dirty_bitmaps(void **state)
{
    int fd = fx_memfd(16 * PG, 0);
    fx_t *fx = fx_new_dma(16, false);
    dma_sg_t *sg = sg_alloc(1);
    uint8_t bm[8];
    uint8_t data[16] = {1};
    struct iovec iov;

    (void)state;
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW, 0x100000, 16 * PG, fd, 0), 0);
    assert_int_equal(fx_map(fx, RW, 0x200000, PG, -1, 0), 0);
    /* not logging */
    assert_int_equal(unmap_dirty(fx, 0x100000, 16 * PG, PG, 8), EINVAL);
    assert_int_equal(dma_dirty_start(fx->ctx, 3), -EINVAL);
    assert_int_equal(dma_dirty_start(fx->ctx, PG), 0);
    assert_int_equal(dma_dirty_start(fx->ctx, PG), 0);
    assert_int_equal(dma_dirty_start(fx->ctx, 2 * PG), -EINVAL);
    assert_int_equal(dma_dirty_pgsize(fx->ctx), PG);

    /* page 1 by a direct write, page 3 by mark_dirty, 5-6 by a put */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x101000, 16,
                                     sg, 1, PROT_READ | PROT_WRITE),
                     1);
    assert_int_equal(vfu_sgl_write(fx->ctx, sg, 1, data,
                                   VFU_SGL_DIRECT_ACCESS),
                     0);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x103ff0, 8, sg,
                                     1, PROT_READ | PROT_WRITE),
                     1);
    vfu_sgl_mark_dirty(fx->ctx, sg, 1);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x105ff0, 0x20,
                                     sg, 1, PROT_READ | PROT_WRITE),
                     1);
    assert_int_equal(vfu_sgl_get(fx->ctx, sg, &iov, 1, 0), 0);
    vfu_sgl_put(fx->ctx, sg, &iov, 1);
    /* a read-only entry dirties nothing */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10f000, 8, sg,
                                     1, PROT_READ),
                     1);
    vfu_sgl_mark_dirty(fx->ctx, sg, 1);

    /* bigger pages or-ed together, smaller ones repeated */
    assert_int_equal(dma_dirty_get(fx->ctx, 0x100000, 16 * PG, 2 * PG, bm, 8),
                     0);
    assert_int_equal(bm[0], 0x0f); /* 4 KiB pages 1, 3, 5, 6 in 8 KiB ones */
    /* ...were cleared by the report */
    assert_int_equal(dma_dirty_get(fx->ctx, 0x100000, 16 * PG, PG, bm, 8), 0);
    assert_int_equal(bm[0], 0);
    vfu_sgl_mark_dirty(fx->ctx, sg, 1); /* read-only: still nothing */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x101000, 16,
                                     sg, 1, PROT_WRITE),
                     1);
    vfu_sgl_mark_dirty(fx->ctx, sg, 1);
    assert_int_equal(dma_dirty_get(fx->ctx, 0x100000, 16 * PG, PG / 2, bm, 8),
                     0);
    assert_int_equal(bm[0], 0x0c);
    vfu_sgl_mark_dirty(fx->ctx, sg, 1);

    /*
     * Bad page size or bitmap size (whole 64-bit words, as libvfio-user),
     * pages larger than the range, not from a region's start, outside,
     * a message region.
     */
    assert_int_equal(unmap_dirty(fx, 0x100000, 16 * PG, 3, 8), EINVAL);
    assert_int_equal(unmap_dirty(fx, 0x100000, 16 * PG, PG, 2), EINVAL);
    assert_int_equal(unmap_dirty(fx, 0x100000, 16 * PG, 32 * PG, 8), EINVAL);
    assert_int_equal(unmap_dirty(fx, 0x101000, 8 * PG, PG, 8), ENOTSUP);
    assert_int_equal(unmap_dirty(fx, 0x300000, PG, PG, 8), ENOENT);
    assert_int_equal(unmap_dirty(fx, 0x200000, PG, PG, 8), EINVAL);
    /* from the start of a region: reported, but the unmap must be exact */
    assert_int_equal(unmap_dirty(fx, 0x100000, 8 * PG, PG, 8), ENOENT);
    vfu_sgl_mark_dirty(fx->ctx, sg, 1);
    assert_int_equal(fx->nr_unreg, 0);
    /* the real thing: the reply carries the bitmap, the region goes */
    assert_int_equal(unmap_dirty(fx, 0x100000, 16 * PG, PG, 8), 0);
    assert_int_equal(fx->len, sizeof(struct vfio_user_dma_unmap) +
                                  sizeof(struct vfio_user_bitmap) + 8);
    assert_int_equal(fx->body[fx->len - 8], 0x02);
    assert_int_equal(fx->body[fx->len - 7], 0x00);
    assert_int_equal(fx->nr_unreg, 1);
    /* a region mapped while logging is logged too */
    assert_int_equal(fx_map(fx, RW, 0x100000, 16 * PG, fd, 0), 0);
    assert_int_equal(dma_dirty_get(fx->ctx, 0x100000, 16 * PG, PG, bm, 8), 0);
    dma_dirty_stop(fx->ctx);
    assert_int_equal(dma_dirty_pgsize(fx->ctx), 0);
    assert_int_equal(dma_dirty_get(fx->ctx, 0x100000, 16 * PG, PG, bm, 8),
                     -EINVAL);
    assert_int_equal(dma_bitmap_size(16 * PG, PG), 8);
    assert_int_equal(dma_bitmap_size(65 * (uint64_t)PG, PG), 16);
    assert_int_equal(dma_bitmap_size(PG, 2 * PG), -EINVAL);
    fx_free(fx);
    close(fd);
    free(sg);
}

/* the client leaving unmaps everything, with the callbacks */
static void
test_dma_client_lost_unmaps(void **state)
{
    int maps0 = fx_count_maps();
    int fd = fx_memfd(4 * PG, 0);
    fx_t *fx = fx_new_dma(16, false);

    (void)state;
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW, 0x10000, 4 * PG, fd, 0), 0);
    assert_int_equal(fx_map(fx, RW, 0x20000, PG, -1, 0), 0);
    vfu_ext_inproc_disconnect(fx->ctx);
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(fx->nr_unreg, 2);
    assert_int_equal(fx->nr_reset, 1);
    fx_free(fx);
    close(fd);
    assert_int_equal(fx_count_maps(), maps0);
}

/* the negotiated max_dma_maps says what the device takes */
static void
test_dma_negotiated_limit(void **state)
{
    fx_t *fx = fx_new_dma(64, false);
    proto_caps_t caps;

    (void)state;
    fx_attach(fx);
    assert_int_equal(proto_caps_parse((const char *)fx->body + 4, fx->len - 4,
                                      &caps),
                     0);
    assert_int_equal(caps.max_dma_maps, 64);
    fx_free(fx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_dma_map_memfd_mapped),
        T(test_dma_map_fdless),
        T(test_dma_map_offset_within_page),
        T(test_dma_map_protections),
        T(test_dma_map_rejected),
        T(test_dma_map_short_file_tail_anonymous),
        T(test_dma_map_short_file_other_fds_unchecked),
        T(test_dma_map_unaligned_accepted),
        T(test_dma_max_regions),
        T(test_dma_many_regions),
        T(test_dma_many_fd_regions_no_leak),
        T(test_dma_unmap_rules),
        T(test_dma_dirty_bitmaps),
        T(test_dma_client_lost_unmaps),
        T(test_dma_negotiated_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
