/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dma.c - the DMA region table, DMA_MAP / DMA_UNMAP and dirty page
 * logging.  The scatter-gather API on top of the table is in sgl.c.
 *
 * The table is a sorted array of non-overlapping regions: an address is
 * found by binary search (O(log n) for any number of regions), and an sg
 * entry remembers the slot where its region was, so the common lookups of
 * the sgl API cost O(1).  Inserting or removing moves pointers behind the
 * slot, which is cheap next to the mmap/munmap and the message round trip
 * around it.
 *
 * Behaviour follows libvfio-user where the spec is silent; the differences
 * (EEXIST for overlapping maps, page rounding of unaligned file offsets,
 * files too short for the region, retired regions) are listed in
 * docs/compat.md.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/dma.h"
#include "server/private.h"

_Static_assert(sizeof(void *) != 8 || sizeof(struct dma_sg) == 40,
               "dma_sg_t keeps libvfio-user's size on 64-bit hosts");

/* The table grows by doubling from this many slots. */
#define DMA_TABLE_MIN 16

static size_t
host_page_size(void)
{
    long sz = sysconf(_SC_PAGESIZE);

    return sz > 0 ? (size_t)sz : 4096;
}

VFU_EXPORT size_t
dma_sg_size(void)
{
    return sizeof(dma_sg_t);
}

VFU_EXPORT int
vfu_setup_device_dma(vfu_ctx_t *vfu_ctx, size_t max_regions,
                     vfu_dma_register_cb_t *dma_register,
                     vfu_dma_unregister_cb_t *dma_unregister)
{
    struct vfu_dma *dma;

    if (vfu_ctx == NULL) {
        return vfu_err(-EINVAL);
    }
    if (vfu_ctx->realized) {
        vfu_log(vfu_ctx, LOG_ERR, "DMA set up after realize");
        return vfu_err(-EINVAL);
    }
    if (max_regions == 0 || max_regions > LIBVFIO_USER_MAX_DMA_REGIONS) {
        vfu_log(vfu_ctx, LOG_ERR, "bad number of DMA regions %zu",
                max_regions);
        return vfu_err(-EINVAL);
    }

    dma = vfu_ctx->dma;
    if (dma == NULL) {
        dma = calloc(1, sizeof(*dma));
        if (dma == NULL) {
            return vfu_err(-ENOMEM);
        }
        dma->next_id = 1;
        vfu_ctx->dma = dma;
    }
    dma->max_regions = max_regions;
    dma->dma_register = dma_register;
    dma->dma_unregister = dma_unregister;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

struct dma_region *
dma_find(const struct vfu_dma *dma, uint64_t iova, size_t *slot)
{
    size_t lo = 0, hi = dma->nr_regions;

    /* first region starting above @iova; the one before may contain it */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (dma->regions[mid]->iova <= iova) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo > 0 && dma->regions[lo - 1]->last >= iova) {
        if (slot != NULL) {
            *slot = lo - 1;
        }
        return dma->regions[lo - 1];
    }
    if (slot != NULL) {
        *slot = lo;
    }
    return NULL;
}

/* The entry's range lies inside @r (whatever the device did to it). */
static bool
sg_fits(const struct dma_region *r, const dma_sg_t *sg)
{
    return (uint64_t)(uintptr_t)sg->dma_addr == r->iova &&
           proto_range_ok(sg->offset, sg->length, r->size);
}

struct dma_region *
dma_sg_region(const vfu_ctx_t *ctx, const dma_sg_t *sg)
{
    const struct vfu_dma *dma;
    struct dma_region *r;

    if (ctx == NULL || ctx->dma == NULL || sg == NULL || sg->region <= 0) {
        return NULL;
    }
    dma = ctx->dma;
    if (sg->slot < dma->nr_regions &&
        dma->regions[sg->slot]->id == sg->region) {
        r = dma->regions[sg->slot];
    } else {
        r = dma_find(dma, (uint64_t)(uintptr_t)sg->dma_addr, NULL);
        if (r == NULL || r->id != sg->region) {
            return NULL;
        }
    }
    return sg_fits(r, sg) ? r : NULL;
}

static int
table_insert(struct vfu_dma *dma, size_t slot, struct dma_region *r)
{
    if (dma->nr_regions == dma->cap_regions) {
        size_t cap = dma->cap_regions != 0 ? dma->cap_regions * 2
                                           : DMA_TABLE_MIN;
        struct dma_region **n;

        if (cap > dma->max_regions) {
            cap = dma->max_regions;
        }
        if (cap <= dma->nr_regions) {
            return -ENOSPC;
        }
        n = realloc(dma->regions, cap * sizeof(*n));
        if (n == NULL) {
            return -ENOMEM;
        }
        dma->regions = n;
        dma->cap_regions = cap;
    }
    memmove(&dma->regions[slot + 1], &dma->regions[slot],
            (dma->nr_regions - slot) * sizeof(dma->regions[0]));
    dma->regions[slot] = r;
    dma->nr_regions++;
    return 0;
}

static void
table_remove(struct vfu_dma *dma, size_t slot)
{
    memmove(&dma->regions[slot], &dma->regions[slot + 1],
            (dma->nr_regions - slot - 1) * sizeof(dma->regions[0]));
    dma->nr_regions--;
}

/* Ids are positive and unique among live regions (they wrap at 2^31). */
static int32_t
next_id(struct vfu_dma *dma)
{
    int32_t id = dma->next_id;

    dma->next_id = id == INT32_MAX ? 1 : id + 1;
    return id;
}

/* ------------------------------------------------------------------ */
/* Dirty page logging                                                  */
/* ------------------------------------------------------------------ */

/*
 * Bytes of a dirty bitmap of @len bytes at @pgsize: whole 64-bit words,
 * as libvfio-user sizes them (and clients expect).  Computed without
 * overflow for any @len: a range of 2^64 - 1 one-byte pages needs more
 * bytes than a size_t holds, which is UINT64_MAX here.
 */
static uint64_t
bitmap_bytes(uint64_t len, uint64_t pgsize)
{
    uint64_t pages = len / pgsize + (len % pgsize != 0);
    uint64_t words = pages / 64 + (pages % 64 != 0);

    return words > SSIZE_MAX / 8 ? UINT64_MAX : words * 8;
}

ssize_t
dma_bitmap_size(uint64_t len, uint64_t pgsize)
{
    uint64_t bytes;

    if (pgsize == 0 || (pgsize & (pgsize - 1)) != 0 || len < pgsize) {
        return -EINVAL;
    }
    bytes = bitmap_bytes(len, pgsize);
    if (bytes > SSIZE_MAX) {
        return -EINVAL;
    }
    return (ssize_t)bytes;
}

bool
dma_range_mapped(const struct vfu_dma *dma, uint64_t iova, uint64_t len)
{
    while (len > 0) {
        const struct dma_region *r = dma_find(dma, iova, NULL);
        uint64_t left;

        if (r == NULL) {
            return false;
        }
        left = r->last - iova; /* bytes after @iova in @r, minus one */
        if (left >= len - 1) {
            return true;
        }
        len -= left + 1;
        iova = r->last + 1; /* no wrap: more bytes follow */
    }
    return true;
}

static int
region_dirty_start(struct dma_region *r, size_t pgsize)
{
    uint64_t bytes;

    if (r->mode == DMA_MODE_MSG) {
        return 0;
    }
    bytes = bitmap_bytes(r->size, pgsize);
    if (bytes > SIZE_MAX) {
        return -ENOMEM;
    }
    r->dirty_len = (size_t)bytes;
    r->dirty = calloc(1, r->dirty_len != 0 ? r->dirty_len : 1);
    if (r->dirty == NULL) {
        r->dirty_len = 0;
        return -ENOMEM;
    }
    return 0;
}

static void
region_dirty_stop(struct dma_region *r)
{
    free(r->dirty);
    r->dirty = NULL;
    r->dirty_len = 0;
}

void
dma_mark_dirty(struct vfu_dma *dma, struct dma_region *r, uint64_t offset,
               uint64_t len)
{
    uint64_t first, last, pg;

    if (dma->dirty_pgsize == 0 || r->dirty == NULL || len == 0) {
        return;
    }
    first = offset / dma->dirty_pgsize;
    last = (offset + len - 1) / dma->dirty_pgsize;
    for (pg = first; pg <= last && pg / 8 < r->dirty_len; pg++) {
        r->dirty[pg / 8] |= (uint8_t)(1u << (pg % 8));
    }
}

int
dma_dirty_start(vfu_ctx_t *ctx, size_t pgsize)
{
    struct vfu_dma *dma = ctx->dma;
    size_t i;

    if (dma == NULL || pgsize == 0 || (pgsize & (pgsize - 1)) != 0) {
        return -EINVAL;
    }
    if (dma->dirty_pgsize != 0) {
        return dma->dirty_pgsize == pgsize ? 0 : -EINVAL;
    }
    for (i = 0; i < dma->nr_regions; i++) {
        int rc = region_dirty_start(dma->regions[i], pgsize);

        if (rc < 0) {
            while (i-- > 0) {
                region_dirty_stop(dma->regions[i]);
            }
            return rc;
        }
    }
    dma->dirty_pgsize = pgsize;
    vfu_log(ctx, LOG_DEBUG, "dirty page logging started (%zu-byte pages)",
            pgsize);
    return 0;
}

void
dma_dirty_stop(vfu_ctx_t *ctx)
{
    struct vfu_dma *dma = ctx->dma;
    size_t i;

    if (dma == NULL || dma->dirty_pgsize == 0) {
        return;
    }
    for (i = 0; i < dma->nr_regions; i++) {
        region_dirty_stop(dma->regions[i]);
    }
    dma->dirty_pgsize = 0;
    vfu_log(ctx, LOG_DEBUG, "dirty page logging stopped");
}

size_t
dma_dirty_pgsize(const vfu_ctx_t *ctx)
{
    return ctx->dma != NULL ? ctx->dma->dirty_pgsize : 0;
}

static bool
bit_get(const uint8_t *bm, uint64_t bit)
{
    return (bm[bit / 8] >> (bit % 8)) & 1;
}

static void
bit_set(uint8_t *bm, uint64_t bit)
{
    bm[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

int
dma_dirty_get(vfu_ctx_t *ctx, uint64_t iova, uint64_t len, uint64_t pgsize,
              uint8_t *bitmap, size_t size)
{
    struct vfu_dma *dma = ctx->dma;
    struct dma_region *r;
    uint64_t npages, i, server_pages, seen = 0;

    if (dma == NULL) {
        return -EINVAL;
    }
    r = dma_find(dma, iova, NULL);
    if (r == NULL || len == 0 ||
        !proto_range_ok(iova - r->iova, len, r->size)) {
        return -ENOENT;
    }
    if (r->iova != iova) {
        /* as libvfio-user: ranges from the start of a region only */
        return -ENOTSUP;
    }
    if (dma->dirty_pgsize == 0) {
        vfu_log(ctx, LOG_ERR, "dirty page logging not enabled");
        return -EINVAL;
    }
    if (pgsize == 0 || (pgsize & (pgsize - 1)) != 0) {
        vfu_log(ctx, LOG_ERR, "bad dirty bitmap page size %#llx",
                (unsigned long long)pgsize);
        return -EINVAL;
    }
    if (dma_bitmap_size(len, pgsize) != (ssize_t)size) {
        vfu_log(ctx, LOG_ERR, "bad dirty bitmap size %zu for %#llx bytes at "
                "%#llx-byte pages", size, (unsigned long long)len,
                (unsigned long long)pgsize);
        return -EINVAL;
    }
    if (r->mode == DMA_MODE_MSG || r->dirty == NULL) {
        vfu_log(ctx, LOG_ERR, "region [%#llx, +%#llx) is not accessed "
                "directly", (unsigned long long)iova,
                (unsigned long long)len);
        return -EINVAL;
    }

    memset(bitmap, 0, size);
    server_pages = (uint64_t)r->dirty_len * 8;
    /*
     * Each client page is dirty when any logged page overlapping it is:
     * bits repeat when the client's pages are smaller and are or-ed
     * together when they are larger.  As libvfio-user, the whole bitmap
     * is filled, up to the words' end (so past @len, within the region).
     */
    npages = (uint64_t)size * 8;
    for (i = 0; i < npages; i++) {
        uint64_t start = i * pgsize;
        uint64_t end;
        uint64_t s;

        if (start >= r->size || start / pgsize != i) {
            break;
        }
        end = r->size - start < pgsize ? r->size - 1 : start + pgsize - 1;
        for (s = start / dma->dirty_pgsize;
             s <= end / dma->dirty_pgsize && s < server_pages; s++) {
            if (bit_get(r->dirty, s)) {
                bit_set(bitmap, i);
                break;
            }
        }
        seen = end / dma->dirty_pgsize + 1;
    }
    /* what was reported starts clean again */
    for (i = 0; i < seen && i < server_pages; i++) {
        r->dirty[i / 8] &= (uint8_t)~(1u << (i % 8));
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Mapping and unmapping                                               */
/* ------------------------------------------------------------------ */

/*
 * mmap the region's piece of @fd.  mmap needs a page-aligned file offset,
 * so the mapping starts at the page holding @offset and vaddr points into
 * it; the mapping is long enough to cover the whole region from there.
 */
static int
region_mmap(vfu_ctx_t *ctx, struct dma_region *r, int fd)
{
    size_t pgsz = r->info.page_size;
    uint64_t aligned = r->offset - r->offset % pgsz;
    uint64_t lead = r->offset - aligned;
    uint64_t len;
    void *base;

    if (__builtin_add_overflow(lead, r->size, &len) ||
        __builtin_add_overflow(len, pgsz - 1, &len) || len > SIZE_MAX ||
        aligned > (uint64_t)INT64_MAX) {
        return -EINVAL;
    }
    len -= len % pgsz;
    base = mmap(NULL, (size_t)len, (int)r->info.prot, MAP_SHARED, fd,
                (off_t)aligned);
    if (base == MAP_FAILED) {
        int err = errno;

        vfu_log_errno(ctx, err, "DMA region [%#llx, +%#llx): mmap of fd %d "
                      "at %#llx failed", (unsigned long long)r->iova,
                      (unsigned long long)r->size, fd,
                      (unsigned long long)aligned);
        return -err;
    }
    /* guest memory has no place in a core dump of the device */
    (void)madvise(base, (size_t)len, MADV_DONTDUMP);
    if (r->backed < r->size &&
        mmap((uint8_t *)base + lead + r->backed,
             (size_t)(len - lead - r->backed), (int)r->info.prot,
             MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
             0) == MAP_FAILED) {
        int err = errno;

        vfu_log_errno(ctx, err, "DMA region [%#llx, +%#llx): cannot back "
                      "the part past the end of the file",
                      (unsigned long long)r->iova,
                      (unsigned long long)r->size);
        munmap(base, (size_t)len);
        return -err;
    }
    r->info.mapping.iov_base = base;
    r->info.mapping.iov_len = (size_t)len;
    r->info.vaddr = (uint8_t *)base + lead;
    return 0;
}

/*
 * Give the mapping back.  A region the device still holds entries of is
 * replaced by an inaccessible reservation of the same range, so the
 * client's memory is released (the spec: no reference survives the unmap
 * reply) while a stale access faults predictably.
 */
static void
region_unmap(vfu_ctx_t *ctx, struct dma_region *r)
{
    void *base = r->info.mapping.iov_base;
    size_t len = r->info.mapping.iov_len;

    if (base == NULL) {
        return;
    }
    if (r->refs > 0) {
        void *p = mmap(base, len, PROT_NONE,
                       MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);

        if (p != MAP_FAILED) {
            return; /* the reservation goes at the last put */
        }
        vfu_log_errno(ctx, errno, "cannot reserve retired DMA mapping");
    }
    if (munmap(base, len) < 0) {
        vfu_log_errno(ctx, errno, "munmap of DMA mapping [%p, +%#zx)", base,
                      len);
    }
    r->info.mapping.iov_base = NULL;
    r->info.mapping.iov_len = 0;
}

static void
region_free(struct dma_region *r)
{
    if (r->fd >= 0) {
        close(r->fd);
    }
    region_dirty_stop(r);
    free(r);
}

/* Release a region that left the table (its callback has run). */
static void
region_retire(vfu_ctx_t *ctx, struct dma_region *r)
{
    struct vfu_dma *dma = ctx->dma;

    region_unmap(ctx, r);
    if (r->refs > 0 && r->info.mapping.iov_base != NULL) {
        vfu_log(ctx, LOG_WARNING,
                "DMA region [%#llx, +%#llx) unmapped with %u sg entries "
                "still held: the device must vfu_sgl_put() them",
                (unsigned long long)r->iova, (unsigned long long)r->size,
                r->refs);
        if (r->fd >= 0) {
            close(r->fd);
            r->fd = -1;
        }
        region_dirty_stop(r);
        r->next = dma->retired;
        dma->retired = r;
        dma->nr_retired++;
        return;
    }
    region_free(r);
}

bool
dma_put_ref(vfu_ctx_t *ctx, const dma_sg_t *sg)
{
    struct vfu_dma *dma = ctx->dma;
    struct dma_region *r = dma_sg_region(ctx, sg);
    struct dma_region **pp;

    if (r != NULL) {
        if (r->refs > 0) {
            r->refs--;
        }
        return true;
    }
    if (dma == NULL || sg == NULL) {
        return false;
    }
    for (pp = &dma->retired; *pp != NULL; pp = &(*pp)->next) {
        r = *pp;
        if (r->id != sg->region || !sg_fits(r, sg)) {
            continue;
        }
        if (r->refs > 0 && --r->refs == 0) {
            *pp = r->next;
            dma->nr_retired--;
            region_unmap(ctx, r);
            region_free(r);
        }
        return true;
    }
    return false;
}

/* Call the unregister callback, drop @slot from the table, release it. */
static void
remove_slot(vfu_ctx_t *ctx, size_t slot)
{
    struct vfu_dma *dma = ctx->dma;
    struct dma_region *r = dma->regions[slot];

    vfu_log(ctx, LOG_DEBUG, "DMA region [%#llx, +%#llx) removed",
            (unsigned long long)r->iova, (unsigned long long)r->size);
    /*
     * The region stays in the table while the device hears about it, so
     * the callback may still translate and access it (libvfio-user's
     * test_quiesce relies on that).
     */
    if (dma->dma_unregister != NULL) {
        bool was = ctx->in_dispatch;

        /* no vfu_run_ctx() from the callback: the table must not move */
        ctx->in_dispatch = true;
        dma->dma_unregister(ctx, &r->info);
        ctx->in_dispatch = was;
    }
    table_remove(dma, slot);
    region_retire(ctx, r);
}

void
dma_unmap_all(vfu_ctx_t *ctx)
{
    struct vfu_dma *dma;

    if (ctx == NULL || ctx->dma == NULL) {
        return;
    }
    dma = ctx->dma;
    /* from the top, so nothing moves */
    while (dma->nr_regions > 0) {
        remove_slot(ctx, dma->nr_regions - 1);
    }
}

void
dma_free(vfu_ctx_t *ctx)
{
    struct dma_region *r;

    if (ctx == NULL || ctx->dma == NULL) {
        return;
    }
    dma_unmap_all(ctx);
    /* the device is gone: its stale entries cannot be used any more */
    while ((r = ctx->dma->retired) != NULL) {
        ctx->dma->retired = r->next;
        r->refs = 0;
        region_unmap(ctx, r);
        region_free(r);
    }
    free(ctx->dma->regions);
    free(ctx->dma);
    ctx->dma = NULL;
}

size_t
dma_max_regions(const vfu_ctx_t *ctx)
{
    return ctx->dma != NULL ? ctx->dma->max_regions : 0;
}

/* The most regions the client may have mapped at once. */
static size_t
max_maps(const vfu_ctx_t *ctx)
{
    size_t max = ctx->dma->max_regions;

    if (ctx->caps.max_dma_maps != 0 && ctx->caps.max_dma_maps < max) {
        max = ctx->caps.max_dma_maps;
    }
    return max;
}

/*
 * Look at the client's file: its page size, as libvfio-user sees it, and
 * for a region to be mmapped from a regular file (memfds are) how much of
 * [offset, offset + size) the file holds.  Pages of a shared mapping past
 * the end of the file raise SIGBUS when touched, so a short file let the
 * client kill the device the first time it did DMA there.  The region is
 * still accepted (libvfio-user maps it, and its own tests map files
 * shorter than the region and use the pages past the end), but
 * region_mmap() puts private anonymous memory behind those pages: the
 * device reads zeros there and its writes stay in the server, which the
 * warning logged here says (docs/compat.md).  Other kinds of fd (character
 * devices and the like) have no meaningful st_size and are left to mmap.
 *
 * Residual risk: a hostile client can still shrink the file after the
 * map (ftruncate on its own fd, unless it sealed the memfd against
 * shrinking), and the device's next access to the lost pages faults.
 * Catching SIGBUS in a library is not an option; a client that does this
 * only ever crashes the device it drives itself.
 */
static int
region_check_fd(vfu_ctx_t *ctx, struct dma_region *r, int fd)
{
    struct stat st;
    uint64_t end, held;

    if (fstat(fd, &st) < 0) {
        int err = errno;

        vfu_log_errno(ctx, err, "DMA region [%#llx, +%#llx): fstat of fd %d",
                      (unsigned long long)r->iova,
                      (unsigned long long)r->size, fd);
        return -err;
    }
    r->info.page_size = host_page_size();
    if (st.st_blksize > 0 && (size_t)st.st_blksize > r->info.page_size &&
        ((size_t)st.st_blksize & ((size_t)st.st_blksize - 1)) == 0) {
        r->info.page_size = (size_t)st.st_blksize;
    }
    r->backed = r->size;
    if (__builtin_add_overflow(r->offset, r->size, &end)) {
        vfu_log(ctx, LOG_ERR, "DMA region [%#llx, +%#llx): file offset %#llx "
                "plus size overflows", (unsigned long long)r->iova,
                (unsigned long long)r->size, (unsigned long long)r->offset);
        return -EINVAL;
    }
    if (r->mode != DMA_MODE_MMAP || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        end <= (uint64_t)st.st_size) {
        /* FILE_IO reads past the end come back short: EIO, no signal */
        return 0;
    }
    /* the page holding the end of the file is readable whole */
    held = (uint64_t)st.st_size;
    if (held % r->info.page_size != 0) {
        held += r->info.page_size - held % r->info.page_size;
    }
    held = held > r->offset ? held - r->offset : 0;
    r->backed = held < r->size ? held : r->size;
    vfu_log(ctx, LOG_WARNING, "DMA region [%#llx, +%#llx): the %#llx-byte "
            "file ends inside it; past its first %#llx bytes the device "
            "reads zeros and its writes do not reach the client",
            (unsigned long long)r->iova,
            (unsigned long long)r->size, (unsigned long long)st.st_size,
            (unsigned long long)r->backed);
    return 0;
}

/*
 * Create and map the region described by @map (checked by the proto
 * validator and by handle_dma_map), taking @fd (-1 for none) whatever
 * happens.
 */
static int
region_create(vfu_ctx_t *ctx, const struct vfio_user_dma_map *map, int fd,
              struct dma_region **out)
{
    struct dma_region *r;
    int rc;

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return -ENOMEM;
    }
    r->iova = map->addr;
    r->size = map->size;
    r->backed = map->size;
    r->last = map->addr + map->size - 1;
    r->offset = map->offset;
    r->fd = -1;
    r->info.iova.iov_base = (void *)(uintptr_t)map->addr;
    r->info.iova.iov_len = (size_t)map->size;
    r->info.page_size = host_page_size();
    if (map->flags & VFIO_USER_F_DMA_REGION_READ) {
        r->info.prot |= PROT_READ;
    }
    if (map->flags & VFIO_USER_F_DMA_REGION_WRITE) {
        r->info.prot |= PROT_WRITE;
    }
    if (fd < 0) {
        r->mode = DMA_MODE_MSG;
    } else if (map->flags & VFIO_USER_F_DMA_REGION_FILE_IO) {
        r->mode = DMA_MODE_FILE_IO;
    } else {
        /* MMAP, or an fd with neither flag (what the spec describes) */
        r->mode = DMA_MODE_MMAP;
    }
    if (fd >= 0) {
        rc = region_check_fd(ctx, r, fd);
        if (rc == 0 && r->mode == DMA_MODE_MMAP) {
            rc = region_mmap(ctx, r, fd);
        }
        if (rc < 0 || r->mode == DMA_MODE_MMAP) {
            /* a mapping needs no fd: no fd per region piles up */
            close(fd);
        } else {
            r->fd = fd;
        }
        if (rc < 0) {
            free(r);
            return rc;
        }
    }
    if (ctx->dma->dirty_pgsize != 0) {
        rc = region_dirty_start(r, ctx->dma->dirty_pgsize);
        if (rc < 0) {
            region_unmap(ctx, r);
            region_free(r);
            return rc;
        }
    }
    *out = r;
    return 0;
}

/*
 * DMA_MAP.  The request passed proto's validator (argsz, known flags, MMAP
 * and FILE_IO exclusive and each with an fd, at most one fd, a non-empty
 * range that does not wrap).  Checks here, in libvfio-user's order: size
 * (ENOSPC), overlap (EEXIST, the spec's errno), the number of regions
 * (EINVAL, as libvfio-user), then the mapping itself.  A device that never
 * called vfu_setup_device_dma() gets success, as from libvfio-user (which
 * ignores DMA_MAP then); the fd is left to dispatch, which closes it.
 */
int
handle_dma_map(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    const uint32_t known =
        VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE |
        VFIO_USER_F_DMA_REGION_MMAP | VFIO_USER_F_DMA_REGION_FILE_IO;
    const uint32_t need_fd =
        VFIO_USER_F_DMA_REGION_MMAP | VFIO_USER_F_DMA_REGION_FILE_IO;
    struct vfio_user_dma_map map;
    struct dma_region *r;
    struct vfu_dma *dma = ctx->dma;
    size_t slot;
    uint64_t last;
    int fd = -1;
    int rc;

    (void)reply;
    if (msg->body_len < sizeof(map)) {
        return -EINVAL;
    }
    memcpy(&map, msg->body, sizeof(map));
    if (map.argsz < sizeof(map) || (map.flags & ~known) != 0 ||
        (map.flags & need_fd) == need_fd || msg->nr_fds > 1 ||
        ((map.flags & need_fd) != 0 && msg->nr_fds == 0)) {
        vfu_log(ctx, LOG_DEBUG, "DMA map: bad argsz %u, flags %#x or %zu fds",
                map.argsz, map.flags, msg->nr_fds);
        return -EINVAL;
    }
    if (map.size == 0 ||
        __builtin_add_overflow(map.addr, map.size - 1, &last)) {
        vfu_log(ctx, LOG_DEBUG, "DMA map: bad range %#llx+%#llx",
                (unsigned long long)map.addr, (unsigned long long)map.size);
        return -EINVAL;
    }
    if (map.size > DMA_MAX_REGION_SIZE || map.size > SIZE_MAX) {
        vfu_log(ctx, LOG_ERR, "DMA map: region of %#llx bytes is too large",
                (unsigned long long)map.size);
        return -ENOSPC;
    }
    if (dma == NULL) {
        vfu_log(ctx, LOG_DEBUG, "DMA map ignored: device has no DMA");
        return 0;
    }
    if (dma_find(dma, map.addr, &slot) != NULL ||
        (slot < dma->nr_regions && dma->regions[slot]->iova <= last)) {
        vfu_log(ctx, LOG_ERR, "DMA map [%#llx, +%#llx) overlaps a mapped "
                "region", (unsigned long long)map.addr,
                (unsigned long long)map.size);
        return -EEXIST;
    }
    if (dma->nr_regions >= max_maps(ctx)) {
        vfu_log(ctx, LOG_ERR, "DMA map: already %zu regions, the most allowed",
                dma->nr_regions);
        return -EINVAL;
    }
    if (msg->nr_fds == 1) {
        fd = proto_msg_take_fd(msg, 0);
        if (fd < 0) {
            return -EINVAL;
        }
    }
    rc = region_create(ctx, &map, fd, &r);
    if (rc < 0) {
        return rc;
    }
    r->id = next_id(dma);
    rc = table_insert(dma, slot, r);
    if (rc < 0) {
        region_unmap(ctx, r);
        region_free(r);
        return rc;
    }
    vfu_log(ctx, LOG_DEBUG, "DMA region [%#llx, +%#llx) added: %s, prot %#x, "
            "vaddr %p", (unsigned long long)map.addr,
            (unsigned long long)map.size,
            r->mode == DMA_MODE_MSG    ? "messages"
            : r->mode == DMA_MODE_MMAP ? "mapped"
                                       : "file I/O",
            r->info.prot, r->info.vaddr);
    if (dma->dma_register != NULL) {
        dma->dma_register(ctx, &r->info);
    }
    return 0;
}

/*
 * DMA_UNMAP: flags 0 (exactly one mapping), VFIO_DMA_UNMAP_FLAG_ALL
 * (address and size 0) or the legacy GET_DIRTY_BITMAP (a struct
 * vfio_user_bitmap after the request, whose bitmap the reply carries, so
 * argsz must cover it).  The reply echoes the request, as the spec says
 * (libvfio-user sends an empty reply when the device has no DMA; we echo
 * there too).
 */
int
handle_dma_unmap(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    struct vfio_user_dma_unmap um;
    struct vfio_user_bitmap bm = {0};
    size_t struct_size = sizeof(um);
    uint64_t min_argsz = sizeof(um);
    struct dma_region *r;
    size_t out_len, slot;
    uint8_t *out;
    int rc;

    if (msg->body_len < sizeof(um)) {
        return -EINVAL;
    }
    memcpy(&um, msg->body, sizeof(um));
    switch (um.flags) {
    case 0:
        break;
    case VFIO_DMA_UNMAP_FLAG_ALL:
        if (um.addr != 0 || um.size != 0) {
            vfu_log(ctx, LOG_DEBUG, "DMA unmap all: address and size must "
                    "be 0");
            return -EINVAL;
        }
        break;
    case VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP:
        struct_size += sizeof(bm);
        if (msg->body_len < struct_size) {
            return -EINVAL;
        }
        memcpy(&bm, msg->body + sizeof(um), sizeof(bm));
        if (__builtin_add_overflow((uint64_t)struct_size, bm.size,
                                   &min_argsz)) {
            return -EINVAL;
        }
        break;
    default:
        vfu_log(ctx, LOG_DEBUG, "DMA unmap: bad flags %#x", um.flags);
        return -EINVAL;
    }
    if (um.argsz < min_argsz ||
        um.argsz > ctx->limits.max_data_xfer_size) {
        vfu_log(ctx, LOG_DEBUG, "DMA unmap: bad argsz %u", um.argsz);
        return -EINVAL;
    }

    out_len = um.flags == VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP
                  ? struct_size + (size_t)bm.size
                  : sizeof(um);
    out = calloc(1, out_len);
    if (out == NULL) {
        return -ENOMEM;
    }
    memcpy(out, &um, sizeof(um));

    if (ctx->dma == NULL) {
        vfu_log(ctx, LOG_DEBUG, "DMA unmap ignored: device has no DMA");
        goto done;
    }
    if (um.flags == VFIO_DMA_UNMAP_FLAG_ALL) {
        dma_unmap_all(ctx);
        goto done;
    }
    if (um.flags == VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) {
        memcpy(out + sizeof(um), &bm, sizeof(bm));
        rc = dma_dirty_get(ctx, um.addr, um.size, bm.pgsize,
                           out + struct_size, (size_t)bm.size);
        if (rc < 0) {
            vfu_log_errno(ctx, rc, "DMA unmap: cannot get the dirty bitmap");
            free(out);
            return rc;
        }
    }
    r = dma_find(ctx->dma, um.addr, &slot);
    if (r == NULL || r->iova != um.addr || r->size != um.size) {
        vfu_log(ctx, LOG_DEBUG, "DMA unmap [%#llx, +%#llx): not mapped",
                (unsigned long long)um.addr, (unsigned long long)um.size);
        free(out);
        return -ENOENT;
    }
    remove_slot(ctx, slot);

done:
    reply->body = out;
    reply->body_len = out_len;
    return 0;
}

uint64_t
dma_state_sig(const vfu_ctx_t *ctx)
{
    const struct vfu_dma *dma = ctx->dma;
    uint64_t h = VFU_FNV_INIT, v[7];
    size_t i;

    if (dma == NULL) {
        return h;
    }
    v[0] = dma->nr_regions;
    v[1] = dma->dirty_pgsize;
    v[2] = dma->nr_retired;
    h = vfu_fnv(h, v, 3 * sizeof(v[0]));
    for (i = 0; i < dma->nr_regions; i++) {
        const struct dma_region *r = dma->regions[i];

        v[0] = r->iova;
        v[1] = r->size;
        v[2] = (uint64_t)r->mode;
        v[3] = (uint64_t)r->info.prot;
        v[4] = r->refs;
        v[5] = r->dirty != NULL;
        v[6] = r->info.vaddr != NULL;
        h = vfu_fnv(h, v, sizeof(v));
    }
    return h;
}
