/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dma.c - DMA: vfu_setup_device_dma(), the scatter-gather API and the
 * DMA_MAP / DMA_UNMAP handlers.
 *
 * Scope today: the DMA table exists but stays empty.  DMA_MAP requests
 * are fully validated and then refused with ENOTSUP; everything else
 * answers what an empty table implies (nothing to unmap, no address
 * translates, no sg entry is valid).  The table, mappings, DMA_READ/WRITE
 * and dirty logging come with the DMA work.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "server/dma.h"
#include "server/private.h"

/* Largest DMA region libvfio-user accepts on 64-bit hosts (8 TiB). */
#define DMA_MAX_REGION_SIZE (8ull << 40)

static uint64_t
max_xfer(const vfu_ctx_t *ctx)
{
    return ctx->limits.max_data_xfer_size != 0 ? ctx->limits.max_data_xfer_size
                                               : PROTO_DEFAULT_MAX_DATA_XFER;
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
        vfu_ctx->dma = dma;
    }
    dma->max_regions = max_regions;
    dma->dma_register = dma_register;
    dma->dma_unregister = dma_unregister;
    return 0;
}

void
dma_unmap_all(vfu_ctx_t *ctx)
{
    /* nothing can be mapped yet, so there is nothing to unregister */
    if (ctx != NULL && ctx->dma != NULL) {
        ctx->dma->nr_regions = 0;
    }
}

void
dma_free(vfu_ctx_t *ctx)
{
    if (ctx == NULL) {
        return;
    }
    dma_unmap_all(ctx);
    free(ctx->dma);
    ctx->dma = NULL;
}

/* ------------------------------------------------------------------ */
/* Scatter-gather API                                                  */
/* ------------------------------------------------------------------ */

/* Whether @sg names a region of the table (never, while it is empty). */
static bool
sg_valid(const vfu_ctx_t *ctx, const dma_sg_t *sg)
{
    return ctx != NULL && ctx->dma != NULL && sg != NULL && sg->region >= 0 &&
           (size_t)sg->region < ctx->dma->nr_regions;
}

VFU_EXPORT int
vfu_addr_to_sgl(vfu_ctx_t *vfu_ctx, vfu_dma_addr_t dma_addr, size_t len,
                dma_sg_t *sgl, size_t max_nr_sgs, int prot)
{
    uint64_t last;

    if (vfu_ctx == NULL || vfu_ctx->dma == NULL ||
        (sgl == NULL && max_nr_sgs != 0) ||
        (prot & ~(PROT_READ | PROT_WRITE)) != 0) {
        return vfu_err(-EINVAL);
    }
    if (len == 0) {
        errno = 0;
        return 0;
    }
    if (__builtin_add_overflow((uint64_t)(uintptr_t)dma_addr, len - 1,
                               &last)) {
        return vfu_err(-ENOENT);
    }
    /* no region is mapped, so no address translates */
    vfu_log(vfu_ctx, LOG_DEBUG, "DMA address %p+%#zx is not mapped", dma_addr,
            len);
    return vfu_err(-ENOENT);
}

VFU_EXPORT int
vfu_sgl_get(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt,
            int flags)
{
    size_t i;

    if (vfu_ctx == NULL || sgl == NULL || iov == NULL || cnt == 0 ||
        flags != 0) {
        return vfu_err(-EINVAL);
    }
    for (i = 0; i < cnt; i++) {
        if (!sg_valid(vfu_ctx, &sgl[i])) {
            return vfu_err(-EINVAL);
        }
    }
    /* unreachable while the table is empty */
    return vfu_err(-EFAULT);
}

VFU_EXPORT void
vfu_sgl_mark_dirty(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, size_t cnt)
{
    size_t i;

    if (vfu_ctx == NULL || sgl == NULL) {
        return;
    }
    for (i = 0; i < cnt; i++) {
        if (!sg_valid(vfu_ctx, &sgl[i])) {
            vfu_log(vfu_ctx, LOG_DEBUG, "mark dirty: bad sg entry %zu", i);
            return;
        }
    }
}

VFU_EXPORT void
vfu_sgl_put(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt)
{
    (void)iov;
    /* a put marks written entries dirty, exactly as mark_dirty does */
    vfu_sgl_mark_dirty(vfu_ctx, sgl, cnt);
}

static int
sgl_rw(vfu_ctx_t *ctx, dma_sg_t *sg, size_t sg_cnt, void *data, int flags,
       bool is_write)
{
    if (ctx == NULL || (flags & ~VFU_SGL_DIRECT_ACCESS) != 0) {
        return vfu_err(-EINVAL);
    }
    /* libvfio-user moves one entry at a time */
    if (sg_cnt != 1) {
        return vfu_err(-ENOTSUP);
    }
    if (data == NULL || !sg_valid(ctx, sg)) {
        return vfu_err(-EINVAL);
    }
    if (is_write && !sg->writeable) {
        return vfu_err(-EPERM);
    }
    /* unreachable while the table is empty */
    return vfu_err(-ENOTSUP);
}

VFU_EXPORT int
vfu_sgl_read(vfu_ctx_t *vfu_ctx, dma_sg_t *sg, size_t sg_cnt, void *data,
             int flags)
{
    return sgl_rw(vfu_ctx, sg, sg_cnt, data, flags, false);
}

VFU_EXPORT int
vfu_sgl_write(vfu_ctx_t *vfu_ctx, dma_sg_t *sg, size_t sg_cnt, void *data,
              int flags)
{
    return sgl_rw(vfu_ctx, sg, sg_cnt, data, flags, true);
}

VFU_EXPORT bool
vfu_sg_is_mappable(vfu_ctx_t *vfu_ctx, dma_sg_t *sg)
{
    return sg_valid(vfu_ctx, sg) && sg->mappable;
}

/* ------------------------------------------------------------------ */
/* DMA_MAP / DMA_UNMAP                                                 */
/* ------------------------------------------------------------------ */

/*
 * DMA_MAP checks, as libvfio-user makes them: argsz, known flags (MMAP and
 * FILE_IO exclusive), at most one fd and one present when MMAP or FILE_IO
 * asks for it, a non-empty range that does not wrap and is not larger
 * than libvfio-user's limit.  A device that never called
 * vfu_setup_device_dma() gets success for a valid request, as from
 * libvfio-user (which ignores DMA_MAP then); the fd is left to dispatch,
 * which closes it.
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
    uint64_t last;

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
    if (map.size > DMA_MAX_REGION_SIZE) {
        return -ENOSPC;
    }
    if (ctx->dma == NULL) {
        vfu_log(ctx, LOG_DEBUG, "DMA map ignored: device has no DMA");
        return 0;
    }
    vfu_log(ctx, LOG_DEBUG, "DMA map [%#llx, +%#llx): not implemented yet",
            (unsigned long long)map.addr, (unsigned long long)map.size);
    return -ENOTSUP;
}

/*
 * DMA_UNMAP: flags 0 (one mapping), VFIO_DMA_UNMAP_FLAG_ALL (address and
 * size 0) or the legacy GET_DIRTY_BITMAP (a struct vfio_user_bitmap after
 * the request, argsz covering the bitmap).  The reply echoes the request,
 * as the spec says (libvfio-user sends an empty reply when the device has
 * no DMA; we echo there too).  With an empty table, UNMAP_ALL succeeds and
 * any single unmap finds nothing: ENOENT.
 */
int
handle_dma_unmap(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    struct vfio_user_dma_unmap um;
    struct vfio_user_bitmap bm;
    size_t struct_size = sizeof(um);
    uint64_t min_argsz = sizeof(um);
    void *out;

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
    if (um.argsz < min_argsz || um.argsz > max_xfer(ctx)) {
        vfu_log(ctx, LOG_DEBUG, "DMA unmap: bad argsz %u", um.argsz);
        return -EINVAL;
    }
    if (ctx->dma != NULL && um.flags != VFIO_DMA_UNMAP_FLAG_ALL) {
        vfu_log(ctx, LOG_DEBUG, "DMA unmap [%#llx, +%#llx): not mapped",
                (unsigned long long)um.addr, (unsigned long long)um.size);
        return -ENOENT;
    }

    out = malloc(sizeof(um));
    if (out == NULL) {
        return -ENOMEM;
    }
    memcpy(out, &um, sizeof(um));
    reply->body = out;
    reply->body_len = sizeof(um);
    return 0;
}
