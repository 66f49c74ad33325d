/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sgl.c - the scatter-gather API (vfu_addr_to_sgl, vfu_sgl_*) on top of
 * the DMA table in dma.c, and DMA_READ / DMA_WRITE messages for memory the
 * server cannot reach directly.
 *
 * Semantics are libvfio-user's: -(n + 1) from vfu_addr_to_sgl() when the
 * array is too small, EFAULT from vfu_sgl_get() for memory that is not
 * mapped here, one entry per vfu_sgl_read()/write() (ENOTSUP otherwise),
 * and messages unless the caller asks for VFU_SGL_DIRECT_ACCESS and the
 * region can be reached directly.  Where libvfio-user would dereference a
 * bad entry, the entry is checked and refused with EINVAL.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "server/dma.h"
#include "server/private.h"

/* ------------------------------------------------------------------ */
/* Translation                                                         */
/* ------------------------------------------------------------------ */

static int
sg_fill(vfu_ctx_t *ctx, dma_sg_t *sg, const struct dma_region *r, size_t slot,
        uint64_t addr, uint64_t len, int prot)
{
    if (((prot & PROT_WRITE) && !(r->info.prot & PROT_WRITE)) ||
        ((prot & PROT_READ) && !(r->info.prot & PROT_READ))) {
        vfu_log(ctx, LOG_DEBUG, "DMA region [%#llx, +%#llx) has protection "
                "%#x, %#x wanted", (unsigned long long)r->iova,
                (unsigned long long)r->size, r->info.prot, prot);
        return -EACCES;
    }
    if (sg != NULL) {
        sg->dma_addr = (vfu_dma_addr_t)(uintptr_t)r->iova;
        sg->region = r->id;
        sg->slot = (uint32_t)slot;
        sg->offset = addr - r->iova;
        sg->length = len;
        sg->writeable = (prot & PROT_WRITE) != 0;
        sg->mappable = r->mode == DMA_MODE_MMAP;
    }
    return 0;
}

VFU_EXPORT int
vfu_addr_to_sgl(vfu_ctx_t *vfu_ctx, vfu_dma_addr_t dma_addr, size_t len,
                dma_sg_t *sgl, size_t max_nr_sgs, int prot)
{
    const struct vfu_dma *dma;
    uint64_t addr = (uint64_t)(uintptr_t)dma_addr;
    uint64_t left = len;
    size_t slot;
    int cnt = 0;

    if (vfu_ctx == NULL || vfu_ctx->dma == NULL ||
        (sgl == NULL && max_nr_sgs != 0) ||
        (prot & ~(PROT_READ | PROT_WRITE)) != 0) {
        return vfu_err(-EINVAL);
    }
    dma = vfu_ctx->dma;
    if (max_nr_sgs > INT_MAX - 1) {
        max_nr_sgs = INT_MAX - 1;
    }
    if (left > 0 && dma_find(dma, addr, &slot) == NULL) {
        vfu_log(vfu_ctx, LOG_DEBUG, "DMA address %#llx is not mapped",
                (unsigned long long)addr);
        return vfu_err(-ENOENT);
    }
    /* walk the regions from the one holding @addr while they are adjacent */
    while (left > 0) {
        const struct dma_region *r;
        uint64_t piece;
        int rc;

        /* the first region holds @addr; each next one must follow on */
        if (cnt > 0 &&
            (slot >= dma->nr_regions || dma->regions[slot]->iova != addr)) {
            vfu_log(vfu_ctx, LOG_DEBUG, "DMA range %p+%#zx is not mapped "
                    "at %#llx", dma_addr, len, (unsigned long long)addr);
            return vfu_err(-ENOENT);
        }
        r = dma->regions[slot];
        piece = r->last - addr + 1;
        if (piece == 0 || piece > left) { /* 0: the region ends at 2^64 */
            piece = left;
        }
        if (cnt == INT_MAX - 1) {
            return vfu_err(-EINVAL);
        }
        rc = sg_fill(vfu_ctx, (size_t)cnt < max_nr_sgs ? &sgl[cnt] : NULL, r,
                     slot, addr, piece, prot);
        if (rc < 0) {
            return vfu_err(rc);
        }
        cnt++;
        left -= piece;
        addr += piece;
        slot++;
        if (left > 0 && addr == 0) {
            return vfu_err(-ENOENT); /* wrapped past the top */
        }
    }
    errno = 0;
    if ((size_t)cnt > max_nr_sgs) {
        return -cnt - 1;
    }
    return cnt;
}

VFU_EXPORT bool
vfu_sg_is_mappable(vfu_ctx_t *vfu_ctx, dma_sg_t *sg)
{
    const struct dma_region *r = dma_sg_region(vfu_ctx, sg);

    return r != NULL && r->mode == DMA_MODE_MMAP;
}

/* ------------------------------------------------------------------ */
/* Direct access                                                       */
/* ------------------------------------------------------------------ */

VFU_EXPORT int
vfu_sgl_get(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt,
            int flags)
{
    size_t i;

    if (vfu_ctx == NULL || sgl == NULL || iov == NULL || cnt == 0 ||
        flags != 0) {
        return vfu_err(-EINVAL);
    }
    /* all or nothing: check every entry before taking references */
    for (i = 0; i < cnt; i++) {
        const struct dma_region *r = dma_sg_region(vfu_ctx, &sgl[i]);

        if (r == NULL) {
            vfu_log(vfu_ctx, LOG_DEBUG, "sgl get: entry %zu is not valid", i);
            return vfu_err(-EINVAL);
        }
        if (r->mode != DMA_MODE_MMAP) {
            vfu_log(vfu_ctx, LOG_DEBUG, "sgl get: entry %zu is in a region "
                    "without a mapping", i);
            return vfu_err(-EFAULT);
        }
        if (r->refs == UINT32_MAX) {
            return vfu_err(-EOVERFLOW);
        }
    }
    for (i = 0; i < cnt; i++) {
        struct dma_region *r = dma_sg_region(vfu_ctx, &sgl[i]);

        r->refs++;
        iov[i].iov_base = (uint8_t *)r->info.vaddr + sgl[i].offset;
        iov[i].iov_len = (size_t)sgl[i].length;
    }
    return 0;
}

VFU_EXPORT void
vfu_sgl_mark_dirty(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, size_t cnt)
{
    size_t i;

    if (vfu_ctx == NULL || vfu_ctx->dma == NULL || sgl == NULL) {
        return;
    }
    for (i = 0; i < cnt; i++) {
        struct dma_region *r;

        if (!sgl[i].writeable) {
            continue;
        }
        r = dma_sg_region(vfu_ctx, &sgl[i]);
        if (r == NULL) {
            vfu_log(vfu_ctx, LOG_DEBUG, "mark dirty: entry %zu is not valid",
                    i);
            continue;
        }
        dma_mark_dirty(vfu_ctx->dma, r, sgl[i].offset, sgl[i].length);
    }
}

/*
 * A put marks written entries dirty, as libvfio-user's does, and gives
 * back the reference vfu_sgl_get() took (which lets a region unmapped in
 * the meantime release its reservation).
 */
VFU_EXPORT void
vfu_sgl_put(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt)
{
    size_t i;

    (void)iov;
    if (vfu_ctx == NULL || vfu_ctx->dma == NULL || sgl == NULL) {
        return;
    }
    vfu_sgl_mark_dirty(vfu_ctx, sgl, cnt);
    for (i = 0; i < cnt; i++) {
        if (!dma_put_ref(vfu_ctx, &sgl[i])) {
            vfu_log(vfu_ctx, LOG_DEBUG, "sgl put: entry %zu is not valid", i);
        }
    }
}

/* pread/pwrite all of it; a short transfer (past the file's end) is EIO */
static int
file_io(int fd, uint64_t off, void *data, uint64_t len, bool is_write)
{
    uint8_t *p = data;

    while (len > 0) {
        size_t chunk = len > SSIZE_MAX ? SSIZE_MAX : (size_t)len;
        ssize_t n;

        if (off > (uint64_t)INT64_MAX) {
            return -EINVAL;
        }
        n = is_write ? pwrite(fd, p, chunk, (off_t)off)
                     : pread(fd, p, chunk, (off_t)off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -EIO;
        }
        p += n;
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* DMA_READ / DMA_WRITE                                                */
/* ------------------------------------------------------------------ */

/*
 * One DMA_READ or DMA_WRITE round trip of @count bytes.  The transport
 * sends it on the twin socket when one was negotiated and collects the
 * reply there (or, on the main socket, parks commands that arrive first
 * for vfu_run_ctx() to serve afterwards), so a client request in flight
 * at the same time cannot deadlock with it.
 */
static int
dma_msg(vfu_ctx_t *ctx, uint64_t addr, uint64_t count, uint8_t *data,
        bool is_write)
{
    struct vfio_user_dma_region_access acc = {.addr = addr, .count = count};
    uint16_t cmd = is_write ? VFIO_USER_DMA_WRITE : VFIO_USER_DMA_READ;
    proto_msg_t req = PROTO_MSG_INIT;
    proto_msg_t reply = PROTO_MSG_INIT;
    struct iovec iov[2];
    int rc;

    iov[0].iov_base = &acc;
    iov[0].iov_len = sizeof(acc);
    iov[1].iov_base = data;
    iov[1].iov_len = (size_t)count;
    proto_hdr_cmd(&req.hdr, ctx->next_msg_id++, cmd,
                  sizeof(acc) + (is_write ? count : 0), false);
    rc = ctx->tran->send_cmd(ctx, &req.hdr, iov, is_write ? 2 : 1);
    if (rc < 0) {
        vfu_log_errno(ctx, rc, "msg%#hx: cannot send %s", req.hdr.msg_id,
                      proto_cmd_name(cmd));
        return rc == -EPIPE || rc == -ECONNRESET ? -ENOTCONN : rc;
    }
    rc = ctx->tran->recv_reply(ctx, &reply);
    if (rc < 0) {
        vfu_log_errno(ctx, rc, "msg%#hx: no reply to %s", req.hdr.msg_id,
                      proto_cmd_name(cmd));
        return rc == -ECONNRESET ? -ENOTCONN : rc;
    }
    /* the validator looks at the request's body: the struct is enough */
    req.body = (uint8_t *)&acc;
    req.body_len = sizeof(acc);
    req.hdr.msg_size = PROTO_HDR_SIZE + sizeof(acc);
    rc = proto_check_reply(&req, &reply, &ctx->recv_caps);
    if (rc < 0) {
        if ((reply.hdr.flags & VFIO_USER_F_ERROR) == 0 ||
            reply.hdr.msg_id != req.hdr.msg_id ||
            reply.hdr.cmd != req.hdr.cmd) {
            vfu_log(ctx, LOG_ERR, "msg%#hx: bad reply to %s (id %#hx, cmd "
                    "%u, %zu bytes)", req.hdr.msg_id, proto_cmd_name(cmd),
                    reply.hdr.msg_id, reply.hdr.cmd, reply.body_len);
            rc = -EINVAL;
        } else {
            vfu_log_errno(ctx, rc, "msg%#hx: client failed %s of %#llx+%#llx",
                          req.hdr.msg_id, proto_cmd_name(cmd),
                          (unsigned long long)addr,
                          (unsigned long long)count);
        }
    } else if (!is_write) {
        memcpy(data, reply.body + sizeof(acc), (size_t)count);
    }
    proto_msg_free(&reply);
    return rc;
}

static int
sgl_transfer_msg(vfu_ctx_t *ctx, uint64_t iova, uint64_t len, uint8_t *data,
                 bool is_write)
{
    uint64_t chunk_max = ctx->caps.max_data_xfer_size;

    if (!ctx->attached) {
        return -ENOTCONN;
    }
    if (chunk_max == 0) {
        chunk_max = PROTO_DEFAULT_MAX_DATA_XFER;
    }
    while (len > 0) {
        uint64_t chunk = len < chunk_max ? len : chunk_max;
        int rc = dma_msg(ctx, iova, chunk, data, is_write);

        if (rc < 0) {
            return rc;
        }
        iova += chunk;
        data += chunk;
        len -= chunk;
    }
    return 0;
}

static int
sgl_rw(vfu_ctx_t *ctx, dma_sg_t *sg, size_t sg_cnt, void *data, int flags,
       bool is_write)
{
    struct dma_region *r;
    uint8_t *target;
    int rc;

    if (ctx == NULL || (flags & ~VFU_SGL_DIRECT_ACCESS) != 0) {
        return vfu_err(-EINVAL);
    }
    /* libvfio-user moves one entry at a time */
    if (sg_cnt != 1) {
        return vfu_err(-ENOTSUP);
    }
    r = dma_sg_region(ctx, sg);
    if (r == NULL || (data == NULL && sg->length != 0)) {
        return vfu_err(-EINVAL);
    }
    if (is_write && !sg->writeable) {
        return vfu_err(-EPERM);
    }
    if (sg->length == 0) {
        return 0;
    }
    if (flags & VFU_SGL_DIRECT_ACCESS) {
        switch (r->mode) {
        case DMA_MODE_MMAP:
            target = (uint8_t *)r->info.vaddr + sg->offset;
            if (is_write) {
                dma_mark_dirty(ctx->dma, r, sg->offset, sg->length);
                memcpy(target, data, (size_t)sg->length);
            } else {
                memcpy(data, target, (size_t)sg->length);
            }
            return 0;
        case DMA_MODE_FILE_IO:
            if (is_write) {
                dma_mark_dirty(ctx->dma, r, sg->offset, sg->length);
            }
            rc = file_io(r->fd, r->offset + sg->offset, data, sg->length,
                         is_write);
            return rc < 0 ? vfu_err(rc) : 0;
        case DMA_MODE_MSG:
            break;
        }
    }
    rc = sgl_transfer_msg(ctx, r->iova + sg->offset, sg->length, data,
                          is_write);
    if (rc < 0) {
        return vfu_err(rc);
    }
    if (is_write) {
        /*
         * A DMA_WRITE to a region we also map still changed guest memory:
         * log it, so the report is complete whichever way the device
         * wrote (libvfio-user logs direct writes only).  The table did
         * not change meanwhile, but look the region up again anyway.
         */
        r = dma_sg_region(ctx, sg);
        if (r != NULL) {
            dma_mark_dirty(ctx->dma, r, sg->offset, sg->length);
        }
    }
    return 0;
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
