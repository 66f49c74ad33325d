/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * region.c - device regions: vfu_setup_region(), ioeventfds, and the
 * GET_INFO, GET_REGION_INFO, GET_REGION_IO_FDS, REGION_READ/WRITE(_MULTI)
 * and DEVICE_RESET handlers.
 *
 * Ownership: the region fds and the ioeventfd (and shadow) fds handed to
 * vfu_setup_region() and vfu_create_ioeventfd() stay the device's, as in
 * libvfio-user: the context sends them to the client (borrowed) but never
 * closes them.  Only the copies of the mmap areas and the ioeventfd list
 * are the context's, freed by region_free_all().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <linux/vfio.h>

#include "server/migration.h"
#include "server/private.h"

/*
 * Most sparse mmap areas a region may have.  The REGION_INFO reply carries
 * 16 bytes per area; this keeps that reply well below PROTO_MSG_OVERHEAD.
 */
#define REGION_MAX_MMAP_AREAS 128u

/* Flags an ioeventfd offer may carry (DEASSIGN makes no sense in an offer). */
#define IOEVENTFD_FLAGS                                                        \
    (KVM_IOEVENTFD_FLAG_DATAMATCH | KVM_IOEVENTFD_FLAG_PIO |                   \
     KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY)

/* One ioeventfd offered with vfu_create_ioeventfd(); ctx->ioeventfds. */
struct vfu_ioeventfd {
    struct vfu_ioeventfd *next;
    uint32_t region;
    int fd; /* the device's, may be -1 */
    uint64_t gpa_offset;
    uint64_t size;
    uint32_t flags;
    uint64_t datamatch;
    int shadow_fd; /* the device's, or -1 */
    uint64_t shadow_offset;
};

static uint64_t
page_size(void)
{
    long pgsz = sysconf(_SC_PAGESIZE);

    return pgsz > 0 ? (uint64_t)pgsz : 4096u;
}

/* The largest data transfer this server accepts from a client. */
static uint64_t
max_xfer(const vfu_ctx_t *ctx)
{
    return ctx->limits.max_data_xfer_size != 0 ? ctx->limits.max_data_xfer_size
                                               : PROTO_DEFAULT_MAX_DATA_XFER;
}

static bool
is_bar(int idx)
{
    return idx >= VFU_PCI_DEV_BAR0_REGION_IDX &&
           idx <= VFU_PCI_DEV_BAR5_REGION_IDX;
}

static bool
is_pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */
/* ------------------------------------------------------------------ */

/*
 * Size and flag rules that depend on the kind of region.  BARs follow the
 * PCI rules libvfio-user enforces: a power of two (at least 16 bytes for
 * memory, 4 for I/O; 0 clears the BAR), and a 64-bit BAR takes the next
 * (odd) BAR as its upper half.  The ROM is a BAR too, so a power of two.
 * Config space is 256 or 4096 bytes, read-write, never memory or mappable.
 */
static int
check_region_kind(vfu_ctx_t *ctx, int idx, size_t size, int flags, int fd)
{
    if (is_bar(idx)) {
        if (size != 0) {
            size_t min = (flags & VFU_REGION_FLAG_MEM) ? 16 : 4;

            if (!is_pow2(size) || size < min) {
                vfu_log(ctx, LOG_ERR, "BAR%d: size %#zx is not a power of "
                        "two of at least %zu", idx, size, min);
                return -EINVAL;
            }
        }
        if (idx % 2 == 1) {
            const vfu_region_t *lower = &ctx->regions[idx - 1];

            if (flags & VFU_REGION_FLAG_64_BITS) {
                vfu_log(ctx, LOG_ERR, "BAR%d: only even BARs can be 64-bit",
                        idx);
                return -EINVAL;
            }
            if (size != 0 && lower->size != 0 &&
                (lower->flags & VFU_REGION_FLAG_64_BITS)) {
                vfu_log(ctx, LOG_ERR, "BAR%d: it is the upper half of the "
                        "64-bit BAR%d", idx, idx - 1);
                return -EINVAL;
            }
        } else if ((flags & VFU_REGION_FLAG_64_BITS) &&
                   ctx->regions[idx + 1].size != 0) {
            vfu_log(ctx, LOG_ERR, "BAR%d: cannot be 64-bit, BAR%d is in use",
                    idx, idx + 1);
            return -EINVAL;
        }
        return 0;
    }

    if (idx == VFU_PCI_DEV_ROM_REGION_IDX && size != 0 && !is_pow2(size)) {
        vfu_log(ctx, LOG_ERR, "ROM: size %#zx is not a power of two", size);
        return -EINVAL;
    }

    if (idx == VFU_PCI_DEV_CFG_REGION_IDX) {
        if (size != PCI_CFG_SPACE_SIZE && size != PCI_CFG_SPACE_EXP_SIZE) {
            vfu_log(ctx, LOG_ERR, "config space: bad size %#zx", size);
            return -EINVAL;
        }
        if ((flags & VFU_REGION_FLAG_RW) != VFU_REGION_FLAG_RW ||
            (flags & VFU_REGION_FLAG_MEM) || fd != -1) {
            vfu_log(ctx, LOG_ERR, "config space must be read-write, not "
                    "memory and not mappable");
            return -EINVAL;
        }
    }
    return 0;
}

/*
 * Mappable regions: the fd offset and every area must be page aligned and
 * inside the region, so the client can mmap() each area at
 * offset + area.offset.
 */
static int
check_mmap_areas(vfu_ctx_t *ctx, size_t size, const struct iovec *areas,
                 uint32_t nr, uint64_t offset)
{
    uint64_t pgsz = page_size();
    uint32_t i;

    if (offset % pgsz != 0) {
        vfu_log(ctx, LOG_ERR, "region offset %#llx is not page aligned",
                (unsigned long long)offset);
        return -EINVAL;
    }
    if (nr > REGION_MAX_MMAP_AREAS) {
        vfu_log(ctx, LOG_ERR, "too many mmap areas (%u > %u)", nr,
                REGION_MAX_MMAP_AREAS);
        return -EINVAL;
    }
    for (i = 0; i < nr; i++) {
        uint64_t base = (uint64_t)(uintptr_t)areas[i].iov_base;
        uint64_t len = areas[i].iov_len;

        if (len == 0 || base % pgsz != 0 || len % pgsz != 0 ||
            !proto_range_ok(base, len, size)) {
            vfu_log(ctx, LOG_ERR, "mmap area %u [%#llx, +%#llx) is empty, "
                    "not page aligned or outside the region (size %#zx)",
                    i, (unsigned long long)base, (unsigned long long)len,
                    size);
            return -EINVAL;
        }
    }
    return 0;
}

VFU_EXPORT int
vfu_setup_region(vfu_ctx_t *vfu_ctx, int region_idx, size_t size,
                 vfu_region_access_cb_t *access_cb, int flags,
                 struct iovec *mmap_areas, uint32_t nr_mmap_areas, int fd,
                 uint64_t offset)
{
    struct iovec whole = {.iov_base = NULL, .iov_len = size};
    struct iovec *copy = NULL;
    vfu_region_t *reg;
    int rc;

    if (vfu_ctx == NULL) {
        return vfu_err(-EINVAL);
    }
    /*
     * libvfio-user lets a device change its regions at any time (its
     * tests reuse a realized context); we allow it while no client is
     * attached, so nobody sees a region change under it.
     */
    if (vfu_ctx->attached) {
        vfu_log(vfu_ctx, LOG_ERR, "region %d: set up with a client attached",
                region_idx);
        return vfu_err(-EBUSY);
    }
    if (region_idx < 0 || region_idx >= VFU_PCI_DEV_NUM_REGIONS) {
        vfu_log(vfu_ctx, LOG_ERR, "bad region index %d", region_idx);
        return vfu_err(-EINVAL);
    }
    if ((flags & ~VFU_REGION_FLAG_MASK) != 0 ||
        (flags & VFU_REGION_FLAG_RW) == 0) {
        vfu_log(vfu_ctx, LOG_ERR, "region %d: bad flags %#x", region_idx,
                flags);
        return vfu_err(-EINVAL);
    }
    if ((flags & VFU_REGION_FLAG_ALWAYS_CB) && access_cb == NULL) {
        vfu_log(vfu_ctx, LOG_ERR, "region %d: ALWAYS_CB needs a callback",
                region_idx);
        return vfu_err(-EINVAL);
    }
    /* loff_t offsets handed to the callback must not go negative */
    if ((uint64_t)size > (uint64_t)INT64_MAX) {
        return vfu_err(-EINVAL);
    }
    if ((mmap_areas == NULL) != (nr_mmap_areas == 0) || fd < -1 ||
        (mmap_areas != NULL && fd == -1) || (fd != -1 && size == 0)) {
        vfu_log(vfu_ctx, LOG_ERR, "region %d: bad mmap arguments",
                region_idx);
        return vfu_err(-EINVAL);
    }

    rc = check_region_kind(vfu_ctx, region_idx, size, flags, fd);
    if (rc < 0) {
        return vfu_err(rc);
    }

    if (fd != -1) {
        /* an fd without areas makes the whole region mappable */
        if (mmap_areas == NULL) {
            mmap_areas = &whole;
            nr_mmap_areas = 1;
        }
        rc = check_mmap_areas(vfu_ctx, size, mmap_areas, nr_mmap_areas,
                              offset);
        if (rc < 0) {
            return vfu_err(rc);
        }
        copy = calloc(nr_mmap_areas, sizeof(*copy));
        if (copy == NULL) {
            return vfu_err(-ENOMEM);
        }
        memcpy(copy, mmap_areas, nr_mmap_areas * sizeof(*copy));
    } else {
        nr_mmap_areas = 0;
    }

    reg = &vfu_ctx->regions[region_idx];
    free(reg->mmap_areas);
    reg->size = size;
    reg->flags = flags;
    reg->cb = access_cb;
    reg->mmap_areas = copy;
    reg->nr_mmap_areas = nr_mmap_areas;
    reg->fd = fd;
    reg->offset = offset; /* reported as given, as libvfio-user does */
    return 0;
}

VFU_EXPORT int
vfu_create_ioeventfd(vfu_ctx_t *vfu_ctx, uint32_t region_idx, int fd,
                     size_t gpa_offset, uint32_t size, uint32_t flags,
                     uint64_t datamatch, int shadow_fd, size_t shadow_offset)
{
    struct vfu_ioeventfd *ioe;

    if (vfu_ctx == NULL) {
        return vfu_err(-EINVAL);
    }
    if (region_idx >= VFU_PCI_DEV_NUM_REGIONS || fd < -1 || shadow_fd < -1) {
        vfu_log(vfu_ctx, LOG_ERR, "ioeventfd: bad region %u or fd", region_idx);
        return vfu_err(-EINVAL);
    }
    /*
     * The width is passed on as given, as libvfio-user does (its tests
     * use 22 bytes): whether KVM can use it is the client's business.
     */
    if ((flags & ~IOEVENTFD_FLAGS) != 0) {
        vfu_log(vfu_ctx, LOG_ERR, "ioeventfd: bad size %u or flags %#x", size,
                flags);
        return vfu_err(-EINVAL);
    }
    if (!proto_range_ok(gpa_offset, size, vfu_ctx->regions[region_idx].size)) {
        vfu_log(vfu_ctx, LOG_ERR, "ioeventfd: [%#zx, +%u) outside region %u",
                gpa_offset, size, region_idx);
        return vfu_err(-EINVAL);
    }

    ioe = calloc(1, sizeof(*ioe));
    if (ioe == NULL) {
        return vfu_err(-ENOMEM);
    }
    ioe->region = region_idx;
    ioe->fd = fd;
    ioe->gpa_offset = gpa_offset;
    ioe->size = size;
    ioe->flags = flags;
    ioe->datamatch = datamatch;
    ioe->shadow_fd = shadow_fd;
    ioe->shadow_offset = shadow_offset;
    /* newest first, the order libvfio-user reports them in */
    ioe->next = vfu_ctx->ioeventfds;
    vfu_ctx->ioeventfds = ioe;
    return 0;
}

void
region_free_all(vfu_ctx_t *ctx)
{
    struct vfu_ioeventfd *ioe;
    size_t i;

    if (ctx == NULL) {
        return;
    }
    for (i = 0; i < VFU_PCI_DEV_NUM_REGIONS; i++) {
        free(ctx->regions[i].mmap_areas);
        ctx->regions[i].mmap_areas = NULL;
        ctx->regions[i].nr_mmap_areas = 0;
    }
    while ((ioe = ctx->ioeventfds) != NULL) {
        ctx->ioeventfds = ioe->next;
        free(ioe);
    }
}

/* ------------------------------------------------------------------ */
/* Region access                                                       */
/* ------------------------------------------------------------------ */

/* Everything about an access that can be checked before doing it. */
static int
check_access(vfu_ctx_t *ctx, uint32_t idx, size_t count, uint64_t offset,
             bool is_write)
{
    const vfu_region_t *reg;

    if (idx >= VFU_PCI_DEV_NUM_REGIONS) {
        vfu_log(ctx, LOG_DEBUG, "access to bad region %u", idx);
        return -EINVAL;
    }
    reg = &ctx->regions[idx];
    if (!proto_range_ok(offset, count, reg->size)) {
        vfu_log(ctx, LOG_DEBUG, "region %u: access [%#llx, +%#zx) out of "
                "bounds (size %#zx)", idx, (unsigned long long)offset, count,
                reg->size);
        return -EINVAL;
    }
    /* the client was told which directions the region allows */
    if (!(reg->flags &
          (is_write ? VFU_REGION_FLAG_WRITE : VFU_REGION_FLAG_READ))) {
        vfu_log(ctx, LOG_DEBUG, "region %u: %s not allowed", idx,
                is_write ? "write" : "read");
        return -EINVAL;
    }
    /* libvfio-user refuses region access while the state is being copied */
    if (count != 0 &&
        migr_device_state(ctx) == VFIO_USER_DEVICE_STATE_STOP_COPY) {
        vfu_log(ctx, LOG_DEBUG, "region %u: access in STOP_COPY", idx);
        return -EINVAL;
    }
    return 0;
}

ssize_t
region_access(vfu_ctx_t *ctx, uint32_t idx, char *buf, size_t count,
              uint64_t offset, bool is_write)
{
    const vfu_region_t *reg;
    ssize_t ret;
    int rc;

    rc = check_access(ctx, idx, count, offset, is_write);
    if (rc < 0) {
        return rc;
    }
    if (count == 0) {
        return 0;
    }
    reg = &ctx->regions[idx];

    /* config space is pci.c's, ALWAYS_CB included */
    if (idx == VFU_PCI_DEV_CFG_REGION_IDX) {
        ret = pci_config_access(ctx, buf, count, offset, is_write);
        if (ret < 0) {
            return ret;
        }
    } else {
        if (reg->cb == NULL) {
            vfu_log(ctx, LOG_DEBUG, "region %u has no access callback", idx);
            return -EINVAL;
        }
        errno = 0;
        ret = reg->cb(ctx, buf, count, (loff_t)offset, is_write);
        if (ret < 0) {
            int err = errno != 0 ? errno : EIO;

            vfu_log(ctx, LOG_DEBUG, "region %u: callback failed: %s", idx,
                    strerror(err));
            return -err;
        }
    }
    /* a partial access is an error: the reply cannot express it */
    if ((size_t)ret != count) {
        vfu_log(ctx, LOG_DEBUG, "region %u: %zd of %zu bytes accessed", idx,
                ret, count);
        return -EINVAL;
    }
    return ret;
}

int
handle_region_read(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    struct vfio_user_region_access ra;
    uint8_t *body;
    ssize_t ret;
    int rc;

    if (msg->body_len < sizeof(ra)) {
        return -EINVAL;
    }
    memcpy(&ra, msg->body, sizeof(ra));
    if (ra.count > max_xfer(ctx)) {
        vfu_log(ctx, LOG_DEBUG, "region read of %u bytes is too large",
                ra.count);
        return -EINVAL;
    }
    rc = check_access(ctx, ra.region, ra.count, ra.offset, false);
    if (rc < 0) {
        return rc;
    }

    body = calloc(1, sizeof(ra) + ra.count);
    if (body == NULL) {
        return -ENOMEM;
    }
    ret = region_access(ctx, ra.region, (char *)body + sizeof(ra), ra.count,
                        ra.offset, false);
    if (ret < 0) {
        free(body);
        return (int)ret;
    }
    memcpy(body, &ra, sizeof(ra));
    reply->body = body;
    reply->body_len = sizeof(ra) + ra.count;
    return 0;
}

int
handle_region_write(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    struct vfio_user_region_access ra;
    struct vfio_user_region_access *out;
    ssize_t ret;

    if (msg->body_len < sizeof(ra)) {
        return -EINVAL;
    }
    memcpy(&ra, msg->body, sizeof(ra));
    if (ra.count > max_xfer(ctx) || msg->body_len - sizeof(ra) != ra.count) {
        vfu_log(ctx, LOG_DEBUG, "region write: count %u, %zu data bytes",
                ra.count, msg->body_len - sizeof(ra));
        return -EINVAL;
    }

    ret = region_access(ctx, ra.region, (char *)msg->body + sizeof(ra),
                        ra.count, ra.offset, true);
    if (ret < 0) {
        return (int)ret;
    }
    out = malloc(sizeof(*out));
    if (out == NULL) {
        return -ENOMEM;
    }
    *out = ra;
    reply->body = out;
    reply->body_len = sizeof(*out);
    return 0;
}

/*
 * REGION_WRITE_MULTI is only allowed once "write_multiple" was negotiated
 * (the client proposes it, the server accepts it); before that it gets
 * EINVAL, which is also what libvfio-user (which has no such command)
 * answers.  The whole message is checked first so a malformed one changes
 * nothing; the writes then happen in order and the first failing one ends
 * the command with its errno (the writes before it have happened).
 */
int
handle_region_write_multi(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    struct vfio_user_write_multi_data wr;
    uint64_t wr_cnt, i;
    uint64_t *out;

    if (!ctx->caps.write_multiple) {
        vfu_log(ctx, LOG_DEBUG, "REGION_WRITE_MULTI without write_multiple");
        return -EINVAL;
    }
    if (msg->body_len < sizeof(wr_cnt)) {
        return -EINVAL;
    }
    memcpy(&wr_cnt, msg->body, sizeof(wr_cnt));
    if (wr_cnt == 0 ||
        wr_cnt > (msg->body_len - sizeof(wr_cnt)) / sizeof(wr) ||
        msg->body_len != sizeof(wr_cnt) + wr_cnt * sizeof(wr)) {
        vfu_log(ctx, LOG_DEBUG, "REGION_WRITE_MULTI: %llu writes in %zu "
                "bytes", (unsigned long long)wr_cnt, msg->body_len);
        return -EINVAL;
    }
    for (i = 0; i < wr_cnt; i++) {
        memcpy(&wr, msg->body + sizeof(wr_cnt) + i * sizeof(wr), sizeof(wr));
        if (wr.count > VFIO_USER_MULTI_DATA) {
            vfu_log(ctx, LOG_DEBUG, "REGION_WRITE_MULTI: write %llu has "
                    "%u bytes", (unsigned long long)i, wr.count);
            return -EINVAL;
        }
    }

    for (i = 0; i < wr_cnt; i++) {
        ssize_t ret;

        memcpy(&wr, msg->body + sizeof(wr_cnt) + i * sizeof(wr), sizeof(wr));
        ret = region_access(ctx, wr.region, (char *)wr.data, wr.count,
                            wr.offset, true);
        if (ret < 0) {
            vfu_log(ctx, LOG_DEBUG, "REGION_WRITE_MULTI: write %llu failed",
                    (unsigned long long)i);
            return (int)ret;
        }
    }

    out = malloc(sizeof(*out));
    if (out == NULL) {
        return -ENOMEM;
    }
    *out = wr_cnt;
    reply->body = out;
    reply->body_len = sizeof(*out);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Device information                                                  */
/* ------------------------------------------------------------------ */

int
handle_device_get_info(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    struct vfio_user_device_info in;
    struct vfio_user_device_info *out;

    if (msg->body_len < sizeof(in)) {
        return -EINVAL;
    }
    memcpy(&in, msg->body, sizeof(in));
    if (in.argsz < sizeof(*out)) {
        return -EINVAL;
    }

    out = calloc(1, sizeof(*out));
    if (out == NULL) {
        return -ENOMEM;
    }
    out->argsz = sizeof(*out);
    out->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
    out->num_regions = VFU_PCI_DEV_NUM_REGIONS;
    out->num_irqs = VFU_DEV_NUM_IRQS;
    (void)ctx;
    reply->body = out;
    reply->body_len = sizeof(*out);
    return 0;
}

/*
 * The reply is struct vfio_region_info, followed for a mappable region by
 * a VFIO_REGION_INFO_CAP_SPARSE_MMAP capability listing its areas, with
 * the region fd attached.  argsz always says the full size; when the
 * client's argsz is smaller only the bare struct goes back, without the
 * CAPS flag, the capability or the fd, so the client asks again (as
 * libvfio-user and the kernel do).  No region here is device-specific, so
 * VFIO_REGION_INFO_CAP_TYPE never applies.
 */
int
handle_device_get_region_info(vfu_ctx_t *ctx, proto_msg_t *msg,
                              vfu_reply_t *reply)
{
    struct vfio_region_info in;
    struct vfio_region_info *out;
    struct vfio_region_info_cap_sparse_mmap *sparse;
    const vfu_region_t *reg;
    size_t caps_size = 0;
    size_t full, len, i;

    if (msg->body_len < sizeof(in)) {
        return -EINVAL;
    }
    memcpy(&in, msg->body, sizeof(in));
    if (in.argsz < sizeof(in)) {
        return -EINVAL;
    }
    if (in.index >= VFU_PCI_DEV_NUM_REGIONS) {
        vfu_log(ctx, LOG_DEBUG, "region info: bad index %u", in.index);
        return -EINVAL;
    }
    reg = &ctx->regions[in.index];

    if (reg->size != 0 && reg->nr_mmap_areas != 0) {
        caps_size = sizeof(*sparse) +
                    reg->nr_mmap_areas * sizeof(sparse->areas[0]);
    }
    full = sizeof(*out) + caps_size;
    len = in.argsz >= full ? full : sizeof(*out);

    out = calloc(1, len);
    if (out == NULL) {
        return -ENOMEM;
    }
    out->argsz = (uint32_t)full;
    out->index = in.index;
    out->size = reg->size;
    out->offset = reg->offset;
    if (reg->flags & VFU_REGION_FLAG_READ) {
        out->flags |= VFIO_REGION_INFO_FLAG_READ;
    }
    if (reg->flags & VFU_REGION_FLAG_WRITE) {
        out->flags |= VFIO_REGION_INFO_FLAG_WRITE;
    }
    if (reg->fd != -1) {
        out->flags |= VFIO_REGION_INFO_FLAG_MMAP;
    }

    if (caps_size != 0 && len == full) {
        out->flags |= VFIO_REGION_INFO_FLAG_CAPS;
        out->cap_offset = sizeof(*out);
        sparse = (void *)(out + 1);
        sparse->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
        sparse->header.version = 1;
        sparse->header.next = 0;
        sparse->nr_areas = reg->nr_mmap_areas;
        for (i = 0; i < reg->nr_mmap_areas; i++) {
            sparse->areas[i].offset =
                (uint64_t)(uintptr_t)reg->mmap_areas[i].iov_base;
            sparse->areas[i].size = reg->mmap_areas[i].iov_len;
        }
        reply->fds = &reg->fd;
        reply->nr_fds = 1;
    }

    reply->body = out;
    reply->body_len = len;
    return 0;
}

/* Index of @fd in @fds (adding it if new); UINT32_MAX for fd -1. */
static uint32_t
fd_index(int *fds, size_t *nr, int fd)
{
    size_t i;

    if (fd == -1) {
        return UINT32_MAX;
    }
    for (i = 0; i < *nr; i++) {
        if (fds[i] == fd) {
            return (uint32_t)i;
        }
    }
    fds[*nr] = fd;
    return (uint32_t)(*nr)++;
}

/*
 * GET_REGION_IO_FDS: every ioeventfd of the region, newest first, with
 * the distinct fds attached (an fd shared by several entries is sent
 * once; an entry with fd -1 gets fd_index UINT32_MAX).  When the client's
 * argsz cannot hold them all, the reply carries the count and the argsz
 * needed but no entries and no fds, as in libvfio-user.
 *
 * The fd array lives in the same allocation as the reply body, after
 * body_len bytes: dispatch frees the body only after sending, which is
 * exactly as long as the borrowed reply->fds must stay valid.
 */
int
handle_device_get_region_io_fds(vfu_ctx_t *ctx, proto_msg_t *msg,
                                vfu_reply_t *reply)
{
    vfio_user_region_io_fds_request_t req;
    vfio_user_region_io_fds_reply_t *out;
    const struct vfu_ioeventfd *ioe;
    uint32_t nr_subs = 0, nr_shadow = 0;
    size_t full, body_len, nr_fds = 0;
    bool send_subs;
    int *fds;
    size_t i;

    if (msg->body_len < sizeof(req)) {
        return -EINVAL;
    }
    memcpy(&req, msg->body, sizeof(req));
    if (req.flags != 0 || req.count != 0) {
        vfu_log(ctx, LOG_DEBUG, "io fds: flags and count must be zero");
        return -EINVAL;
    }
    if (req.index >= VFU_PCI_DEV_NUM_REGIONS) {
        vfu_log(ctx, LOG_DEBUG, "io fds: bad region index %u", req.index);
        return -EINVAL;
    }
    /* a region nobody set up has no flags at all */
    if ((ctx->regions[req.index].flags & VFU_REGION_FLAG_MASK) == 0) {
        vfu_log(ctx, LOG_DEBUG, "io fds: region %u is not set up", req.index);
        return -EINVAL;
    }
    if (req.argsz < sizeof(*out) || req.argsz > max_xfer(ctx)) {
        vfu_log(ctx, LOG_DEBUG, "io fds: bad argsz %u", req.argsz);
        return -EINVAL;
    }

    for (ioe = ctx->ioeventfds; ioe != NULL; ioe = ioe->next) {
        if (ioe->region == req.index) {
            nr_subs++;
            nr_shadow += ioe->shadow_fd != -1;
        }
    }
    full = sizeof(*out) + (size_t)nr_subs * sizeof(out->sub_regions[0]);
    if (full > UINT32_MAX) {
        return -E2BIG;
    }
    send_subs = nr_subs != 0 && req.argsz >= full;
    body_len = send_subs ? full : sizeof(*out);

    /* body, then room for one fd per entry and per shadow fd */
    out = calloc(1, body_len + ((size_t)nr_subs + nr_shadow) * sizeof(int));
    if (out == NULL) {
        return -ENOMEM;
    }
    fds = (int *)((uint8_t *)out + body_len);
    out->argsz = (uint32_t)full;
    out->flags = 0;
    out->index = req.index;
    out->count = nr_subs;

    if (send_subs) {
        i = 0;
        for (ioe = ctx->ioeventfds; ioe != NULL; ioe = ioe->next) {
            struct vfio_user_sub_region_ioeventfd *sub;

            if (ioe->region != req.index) {
                continue;
            }
            sub = &out->sub_regions[i++].ioeventfd;
            sub->gpa_offset = ioe->gpa_offset;
            sub->size = ioe->size;
            sub->fd_index = fd_index(fds, &nr_fds, ioe->fd);
            sub->flags = ioe->flags;
            sub->datamatch = ioe->datamatch;
            if (ioe->shadow_fd == -1) {
                sub->type = VFIO_USER_IO_FD_TYPE_IOEVENTFD;
            } else {
                sub->type = VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW;
                sub->shadow_mem_fd_index =
                    fd_index(fds, &nr_fds, ioe->shadow_fd);
                sub->shadow_offset = ioe->shadow_offset;
            }
        }
        /* the client said how many fds one message may carry */
        if (ctx->caps.max_msg_fds != 0 && nr_fds > ctx->caps.max_msg_fds) {
            vfu_log(ctx, LOG_ERR, "io fds: region %u needs %zu fds, the "
                    "client takes %u", req.index, nr_fds,
                    ctx->caps.max_msg_fds);
            free(out);
            return -E2BIG;
        }
    }

    reply->body = out;
    reply->body_len = body_len;
    reply->fds = nr_fds != 0 ? fds : NULL;
    reply->nr_fds = nr_fds;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reset                                                               */
/* ------------------------------------------------------------------ */

int
handle_device_reset(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    (void)msg;
    (void)reply;

    vfu_log(ctx, LOG_INFO, "device reset by client");
    if (ctx->reset != NULL) {
        errno = 0;
        if (ctx->reset(ctx, VFU_RESET_DEVICE) < 0) {
            int err = errno != 0 ? errno : EIO;

            vfu_log(ctx, LOG_ERR, "device reset failed: %s", strerror(err));
            return -err;
        }
    }
    migr_reset(ctx);
    return 0;
}
