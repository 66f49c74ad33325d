/* SPDX-License-Identifier: BSD-3-Clause */
/* dma.h - the DMA table and sgl types shared by dma.c, sgl.c and others. */
#ifndef VFU_SERVER_DMA_H
#define VFU_SERVER_DMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/private.h"

/*
 * One scatter-gather entry: a piece of guest memory inside one DMA region.
 * Devices treat it as opaque and size arrays with dma_sg_size().
 *
 * The layout of the fields libvfio-user's callers look at (dma_addr,
 * region, length, offset, writeable) and the size (40 bytes on 64-bit
 * hosts) are libvfio-user's, so code that peeks at them, such as its
 * Python tests, keeps working.  @region is never 0 for a valid entry; it
 * holds the region's id rather than a pointer, so an entry that outlives
 * its region is recognised as stale instead of being dereferenced.
 */
struct dma_sg {
    vfu_dma_addr_t dma_addr; /* IOVA where the region starts */
    int32_t region;          /* id of the region (> 0) */
    uint32_t slot;           /* where the region was in the table (hint) */
    uint64_t length;
    uint64_t offset;         /* of the entry within the region */
    bool writeable;
    bool mappable;           /* the region is mmapped here */
};

/* How the server reaches a region's memory. */
enum dma_mode {
    DMA_MODE_MSG,     /* no fd: DMA_READ / DMA_WRITE messages only */
    DMA_MODE_MMAP,    /* fd mmapped at DMA_MAP time */
    DMA_MODE_FILE_IO, /* fd kept for pread/pwrite (libvfio-user's FILE_IO) */
};

/* One mapped DMA region. */
struct dma_region {
    vfu_dma_info_t info; /* what the register/unregister callbacks see */
    uint64_t iova;
    uint64_t size;
    uint64_t last;       /* iova + size - 1 */
    uint64_t offset;     /* in the client's file */
    /*
     * MMAP: the bytes from the region's start that the client's file
     * holds (whole pages), normally all of it; the rest is private
     * anonymous memory (see region_check_fd()).
     */
    uint64_t backed;
    enum dma_mode mode;
    int fd;              /* FILE_IO only; MMAP closes it once mapped */
    int32_t id;
    uint32_t refs;       /* vfu_sgl_get() entries not yet put back */
    uint8_t *dirty;      /* dirty bitmap while logging (fd-backed only) */
    size_t dirty_len;    /* bytes of @dirty */
    struct dma_region *next; /* on the retired list */
};

/* The device's DMA state (ctx->dma), created by vfu_setup_device_dma(). */
struct vfu_dma {
    size_t max_regions;
    vfu_dma_register_cb_t *dma_register;
    vfu_dma_unregister_cb_t *dma_unregister;
    /* sorted by iova, never overlapping: binary search finds an address */
    struct dma_region **regions;
    size_t nr_regions;
    size_t cap_regions;
    int32_t next_id;
    size_t dirty_pgsize; /* 0: dirty logging off */
    /*
     * Regions unmapped while the device still held entries of them from
     * vfu_sgl_get(): their address range stays reserved (PROT_NONE, so a
     * stale access faults at once instead of touching whatever gets
     * mapped there next) until the last vfu_sgl_put().
     */
    struct dma_region *retired;
    size_t nr_retired;
};

/* Largest DMA region libvfio-user accepts on 64-bit hosts (8 TiB). */
#define DMA_MAX_REGION_SIZE (8ull << 40)

/* dma.c */

/**
 * dma_find - the region containing [@iova, +1) or NULL; sets *@slot to its
 * index (or to where a region starting at @iova would be inserted).
 */
struct dma_region *
dma_find(const struct vfu_dma *dma, uint64_t iova, size_t *slot);

/**
 * dma_sg_region - the mapped region an sg entry names, or NULL if the
 * entry is not valid (never filled, its region unmapped, or its range no
 * longer inside it).
 */
struct dma_region *
dma_sg_region(const vfu_ctx_t *ctx, const dma_sg_t *sg);

/** dma_mark_dirty - record a write to [@offset, +@len) of @r if logging. */
void
dma_mark_dirty(struct vfu_dma *dma, struct dma_region *r, uint64_t offset,
               uint64_t len);

/**
 * dma_put_ref - drop one vfu_sgl_get() reference on the region an entry
 * names, wherever it is (mapped or retired); releases a retired region's
 * reservation on the last one.  Returns false if nothing matched.
 */
bool
dma_put_ref(vfu_ctx_t *ctx, const dma_sg_t *sg);

/*
 * Dirty page logging, the hooks for migration (DMA_LOGGING_START/STOP/
 * REPORT) and for DMA_UNMAP's GET_DIRTY_BITMAP.  Only fd-backed regions
 * are logged, as in libvfio-user: message DMA goes through the client,
 * which sees every write itself.
 */

/**
 * dma_dirty_start - start logging at @pgsize (a power of two).  Returns 0
 * (also when already logging at @pgsize), -EINVAL (bad size, or logging
 * at another size), -ENOMEM.
 */
int
dma_dirty_start(vfu_ctx_t *ctx, size_t pgsize);

/** dma_dirty_stop - stop logging and drop every bitmap. */
void
dma_dirty_stop(vfu_ctx_t *ctx);

/** dma_dirty_pgsize - the logging page size, 0 when not logging. */
size_t
dma_dirty_pgsize(const vfu_ctx_t *ctx);

/**
 * dma_bitmap_size - bytes of a dirty bitmap covering @len bytes at @pgsize
 * (whole 64-bit words, as libvfio-user), or -EINVAL for a page size that
 * is not a power of two or larger than @len, or a size that overflows.
 */
ssize_t
dma_bitmap_size(uint64_t len, uint64_t pgsize);

/**
 * dma_range_mapped - whether every byte of [@iova, +@len) (@len > 0, no
 * wrap) lies in mapped regions, which may touch one another.
 */
bool
dma_range_mapped(const struct vfu_dma *dma, uint64_t iova, uint64_t len);

/**
 * dma_dirty_get - copy and clear the dirty bits of [@iova, +@len), which
 * must start where a region starts and lie inside it, at the client's
 * @pgsize (bits are repeated or or-ed together when it differs from the
 * logging size), into @bitmap of @size bytes, which must be exactly
 * dma_bitmap_size(@len, @pgsize).  Returns 0, -ENOENT (not inside one
 * region), -ENOTSUP (not from a region's start), -EINVAL (not logging,
 * bad page size or bitmap size, message region).
 */
int
dma_dirty_get(vfu_ctx_t *ctx, uint64_t iova, uint64_t len, uint64_t pgsize,
              uint8_t *bitmap, size_t size);

#endif /* VFU_SERVER_DMA_H */
