/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vmm_region.c - the fake VMM's discovery: device, region (with its
 * capability chain) and IRQ info, cached; IO fds; mmap of region areas.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client/private.h"
#include "vfio-user/libvfio-user.h"

/* Capabilities one region info may chain before we call it a loop. */
#define VMM_MAX_REGION_CAPS 64u

/* ------------------------------------------------------------------ */
/* Cache                                                               */
/* ------------------------------------------------------------------ */

static void
region_free(vmm_region_t *r)
{
    if (r == NULL) {
        return;
    }
    if (r->fd >= 0) {
        close(r->fd);
    }
    free(r->areas);
    free(r);
}

void
vmm_region_cleanup(vmm_t *vmm)
{
    size_t i;

    for (i = 0; i < vmm->nr_maps; i++) {
        munmap(vmm->maps[i].addr, vmm->maps[i].len);
    }
    free(vmm->maps);
    vmm->maps = NULL;
    vmm->nr_maps = 0;
    for (i = 0; i < vmm->nr_region_slots; i++) {
        region_free(vmm->regions[i]);
    }
    free(vmm->regions);
    vmm->regions = NULL;
    vmm->nr_region_slots = 0;
    vmm->wq_len = 0;
}

/* The largest reply body we may ask a server for. */
static uint64_t
max_reply_body(const vmm_t *vmm, uint64_t cap)
{
    uint64_t m = proto_msg_max_size(&vmm->caps) - PROTO_HDR_SIZE;

    return m < cap ? m : cap;
}

/* ------------------------------------------------------------------ */
/* Device and IRQ info                                                 */
/* ------------------------------------------------------------------ */

VMM_EXPORT int
vmm_device_info(vmm_t *vmm, struct vfio_user_device_info *info)
{
    struct vfio_user_device_info req = {.argsz = sizeof(req)};
    proto_msg_t reply;
    int rc;

    if (vmm == NULL || info == NULL) {
        return -EINVAL;
    }
    if (vmm->have_dev_info) {
        *info = vmm->dev_info;
        return 0;
    }
    rc = vmm_request(vmm, VFIO_USER_DEVICE_GET_INFO, &req, sizeof(req), NULL,
                     0, &reply);
    if (rc < 0) {
        return rc;
    }
    if (reply.body_len < sizeof(*info)) {
        rc = -EINVAL;
    } else {
        memcpy(&vmm->dev_info, reply.body, sizeof(*info));
        if (vmm->dev_info.argsz < sizeof(*info)) {
            rc = -EINVAL;
        } else {
            vmm->have_dev_info = true;
            *info = vmm->dev_info;
        }
    }
    vmm_msg_free(vmm, &reply);
    return rc;
}

VMM_EXPORT int
vmm_irq_info(vmm_t *vmm, uint32_t index, struct vfio_irq_info *info)
{
    struct vfio_irq_info req = {.argsz = sizeof(req), .index = index};
    struct vfio_irq_info got;
    proto_msg_t reply;
    int rc;

    if (vmm == NULL || info == NULL) {
        return -EINVAL;
    }
    if (index < VMM_MAX_IRQS && vmm->irq_valid[index]) {
        *info = vmm->irqs[index];
        return 0;
    }
    rc = vmm_request(vmm, VFIO_USER_DEVICE_GET_IRQ_INFO, &req, sizeof(req),
                     NULL, 0, &reply);
    if (rc < 0) {
        return rc;
    }
    rc = -EINVAL;
    if (reply.body_len >= sizeof(got)) {
        memcpy(&got, reply.body, sizeof(got));
        if (got.index == index && got.argsz >= sizeof(got)) {
            rc = 0;
        }
    }
    if (rc == 0) {
        *info = got;
        if (index < VMM_MAX_IRQS) {
            vmm->irqs[index] = got;
            vmm->irq_valid[index] = true;
        }
    } else {
        vmm_log(vmm, LOG_WARNING, "inconsistent IRQ info for index %u",
                index);
    }
    vmm_msg_free(vmm, &reply);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Region info                                                         */
/* ------------------------------------------------------------------ */

/* Decode a sparse mmap capability at @off (its header already checked). */
static int
decode_sparse(const proto_msg_t *reply, uint64_t off, vmm_region_t *r)
{
    struct vfio_region_info_cap_sparse_mmap sp;
    uint64_t room;
    uint32_t i;

    if (r->areas != NULL || !proto_range_ok(off, sizeof(sp), reply->body_len)) {
        return -EINVAL;
    }
    memcpy(&sp, reply->body + off, sizeof(sp));
    room = (reply->body_len - off - sizeof(sp)) /
           sizeof(struct vfio_region_sparse_mmap_area);
    if (sp.nr_areas > room) {
        return -EINVAL;
    }
    if (sp.nr_areas == 0) {
        return 0;
    }
    r->areas = calloc(sp.nr_areas, sizeof(*r->areas));
    if (r->areas == NULL) {
        return -ENOMEM;
    }
    for (i = 0; i < sp.nr_areas; i++) {
        struct vfio_region_sparse_mmap_area a;

        memcpy(&a, reply->body + off + sizeof(sp) + i * sizeof(a), sizeof(a));
        /* an area outside the region would have us map the wrong thing */
        if (!proto_range_ok(a.offset, a.size, r->size)) {
            return -EINVAL;
        }
        r->areas[i].offset = a.offset;
        r->areas[i].size = a.size;
    }
    r->nr_areas = sp.nr_areas;
    return 0;
}

/*
 * Walk the capability chain of a region info reply.  Offsets are relative
 * to the start of the body; every hop is bounds-checked and the number of
 * hops is bounded, so a loop in the chain ends in -EINVAL.  Returns 1 if a
 * sparse mmap capability was found, 0 if not, or a negative errno.
 */
static int
decode_region_caps(vmm_t *vmm, const proto_msg_t *reply, uint32_t first,
                   vmm_region_t *r)
{
    uint64_t off = first;
    unsigned hops = 0;
    bool have_sparse = false;
    int rc;

    while (off != 0) {
        struct vfio_info_cap_header h;

        if (++hops > VMM_MAX_REGION_CAPS ||
            off < sizeof(struct vfio_region_info) ||
            !proto_range_ok(off, sizeof(h), reply->body_len)) {
            vmm_log(vmm, LOG_WARNING,
                    "region %u: bad capability chain at %#llx", r->index,
                    (unsigned long long)off);
            return -EINVAL;
        }
        memcpy(&h, reply->body + off, sizeof(h));
        switch (h.id) {
        case VFIO_REGION_INFO_CAP_SPARSE_MMAP:
            rc = decode_sparse(reply, off, r);
            if (rc < 0) {
                vmm_log(vmm, LOG_WARNING, "region %u: bad sparse mmap cap",
                        r->index);
                return rc;
            }
            have_sparse = true;
            break;
        case VFIO_REGION_INFO_CAP_TYPE: {
            struct vfio_region_info_cap_type t;

            if (!proto_range_ok(off, sizeof(t), reply->body_len)) {
                return -EINVAL;
            }
            memcpy(&t, reply->body + off, sizeof(t));
            r->has_type = true;
            r->type = t.type;
            r->subtype = t.subtype;
            break;
        }
        default:
            vmm_log(vmm, LOG_DEBUG, "region %u: skipped capability %u",
                    r->index, h.id);
            break;
        }
        off = h.next;
    }
    return have_sparse ? 1 : 0;
}

/* Turn a validated reply into @r (which takes the region's fd). */
static int
decode_region_info(vmm_t *vmm, uint32_t index, proto_msg_t *reply,
                   vmm_region_t *r)
{
    struct vfio_region_info info;
    int sparse = 0;
    int fd;

    if (reply->body_len < sizeof(info)) {
        return -EINVAL;
    }
    memcpy(&info, reply->body, sizeof(info));
    if (info.index != index) {
        vmm_log(vmm, LOG_WARNING, "region info for %u answered for %u",
                index, info.index);
        return -EINVAL;
    }
    r->index = index;
    r->flags = info.flags;
    r->size = info.size;
    r->offset = info.offset;
    if ((info.flags & VFIO_REGION_INFO_FLAG_CAPS) && info.cap_offset != 0) {
        sparse = decode_region_caps(vmm, reply, info.cap_offset, r);
        if (sparse < 0) {
            return sparse;
        }
    }
    if (sparse == 0 && (info.flags & VFIO_REGION_INFO_FLAG_MMAP) &&
        info.size > 0) {
        r->areas = calloc(1, sizeof(*r->areas));
        if (r->areas == NULL) {
            return -ENOMEM;
        }
        r->areas[0].size = info.size;
        r->nr_areas = 1;
    }
    if (reply->nr_fds > 0) {
        fd = proto_msg_take_fd(reply, 0);
        r->fd = fd >= 0 ? fd : -1;
    }
    return 0;
}

/*
 * DEVICE_GET_REGION_INFO with the argsz dance: ask for the fixed struct,
 * and if the server needs more room (for capabilities) ask once again
 * with that much.  libvfio-user leaves VFIO_REGION_INFO_FLAG_CAPS clear
 * until the capabilities fit, so the larger argsz alone is the signal.
 */
static int
fetch_region_info(vmm_t *vmm, uint32_t index, vmm_region_t *r)
{
    uint64_t limit = max_reply_body(vmm, VMM_MAX_REGION_INFO);
    uint32_t argsz = sizeof(struct vfio_region_info);
    proto_msg_t reply;
    int attempt;
    int rc;

    for (attempt = 0;; attempt++) {
        struct vfio_region_info req = {.argsz = argsz, .index = index};
        struct vfio_region_info got;

        rc = vmm_request(vmm, VFIO_USER_DEVICE_GET_REGION_INFO, &req,
                         sizeof(req), NULL, 0, &reply);
        if (rc < 0) {
            return rc;
        }
        if (reply.body_len < sizeof(got)) {
            vmm_msg_free(vmm, &reply);
            return -EINVAL;
        }
        memcpy(&got, reply.body, sizeof(got));
        if (attempt > 0 || got.argsz <= argsz) {
            break;
        }
        if (got.argsz > limit) {
            vmm_log(vmm, LOG_WARNING, "region %u: info of %u bytes refused",
                    index, got.argsz);
            vmm_msg_free(vmm, &reply);
            return -E2BIG;
        }
        argsz = got.argsz;
        vmm_msg_free(vmm, &reply);
    }
    rc = decode_region_info(vmm, index, &reply, r);
    vmm_msg_free(vmm, &reply);
    return rc;
}

VMM_EXPORT int
vmm_region_info(vmm_t *vmm, uint32_t index, const vmm_region_t **out)
{
    vmm_region_t *r;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (vmm == NULL || out == NULL || index >= VMM_MAX_REGIONS) {
        return -EINVAL;
    }
    if (index < vmm->nr_region_slots && vmm->regions[index] != NULL) {
        *out = vmm->regions[index];
        return 0;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    r->fd = -1;
    rc = fetch_region_info(vmm, index, r);
    if (rc < 0) {
        region_free(r);
        return rc;
    }
    if (index >= vmm->nr_region_slots) {
        vmm_region_t **slots;
        uint32_t n = index + 1;

        slots = realloc(vmm->regions, n * sizeof(*slots));
        if (slots == NULL) {
            region_free(r);
            return -ENOMEM;
        }
        memset(slots + vmm->nr_region_slots, 0,
               (n - vmm->nr_region_slots) * sizeof(*slots));
        vmm->regions = slots;
        vmm->nr_region_slots = n;
    }
    vmm->regions[index] = r;
    *out = r;
    return 0;
}

/* ------------------------------------------------------------------ */
/* mmap                                                                */
/* ------------------------------------------------------------------ */

VMM_EXPORT int
vmm_region_mmap(vmm_t *vmm, uint32_t index, uint32_t area, void **addr)
{
    const vmm_region_t *r;
    const vmm_mmap_area_t *a;
    vmm_mapping_t *maps;
    uint64_t off;
    long pg = sysconf(_SC_PAGESIZE);
    int prot = 0;
    void *p;
    size_t i;
    int rc;

    if (addr != NULL) {
        *addr = NULL;
    }
    if (vmm == NULL || addr == NULL) {
        return -EINVAL;
    }
    for (i = 0; i < vmm->nr_maps; i++) {
        if (vmm->maps[i].region == index && vmm->maps[i].area == area) {
            *addr = vmm->maps[i].addr;
            return 0;
        }
    }
    rc = vmm_region_info(vmm, index, &r);
    if (rc < 0) {
        return rc;
    }
    if (!(r->flags & VFIO_REGION_INFO_FLAG_MMAP) || area >= r->nr_areas) {
        return -EINVAL;
    }
    if (r->fd < 0) {
        return -EBADF;
    }
    a = &r->areas[area];
    if (a->size == 0 || a->size > SIZE_MAX ||
        __builtin_add_overflow(r->offset, a->offset, &off) ||
        off > (uint64_t)INT64_MAX || pg <= 0 || off % (uint64_t)pg != 0) {
        return -EINVAL;
    }
    if (r->flags & VFIO_REGION_INFO_FLAG_READ) {
        prot |= PROT_READ;
    }
    if (r->flags & VFIO_REGION_INFO_FLAG_WRITE) {
        prot |= PROT_WRITE;
    }
    maps = realloc(vmm->maps, (vmm->nr_maps + 1) * sizeof(*maps));
    if (maps == NULL) {
        return -ENOMEM;
    }
    vmm->maps = maps;
    p = mmap(NULL, (size_t)a->size, prot, MAP_SHARED, r->fd, (off_t)off);
    if (p == MAP_FAILED) {
        return -errno;
    }
    maps[vmm->nr_maps].region = index;
    maps[vmm->nr_maps].area = area;
    maps[vmm->nr_maps].addr = p;
    maps[vmm->nr_maps].len = (size_t)a->size;
    vmm->nr_maps++;
    *addr = p;
    return 0;
}

/* ------------------------------------------------------------------ */
/* IO fds                                                              */
/* ------------------------------------------------------------------ */

/*
 * Fill @e from sub-region @i (of @esize bytes) of a reply known to hold
 * it.  The spec's entries are 40 bytes with datamatch at 32; libvfio-user
 * sends 48-byte ones with shadow fields at 28..39 and datamatch at 40.
 * ioregionfd entries keep user_data at 32 either way.
 */
static int
io_fd_entry(const proto_msg_t *reply, size_t i, size_t esize,
            vmm_ioeventfd_t *e, const vmm_region_t *r)
{
    const uint8_t *p = reply->body + sizeof(vfio_user_region_io_fds_reply_t) +
                       i * esize;
    uint64_t offset, size, data;
    uint32_t fd_index, type, flags;

    memcpy(&offset, p, 8);
    memcpy(&size, p + 8, 8);
    memcpy(&fd_index, p + 16, 4);
    memcpy(&type, p + 20, 4);
    memcpy(&flags, p + 24, 4);
    if (type != VFIO_USER_IO_FD_TYPE_IOREGIONFD &&
        esize >= sizeof(vfio_user_sub_region_ioeventfd_t)) {
        memcpy(&data, p + offsetof(vfio_user_sub_region_ioeventfd_t,
                                   datamatch), 8);
    } else {
        memcpy(&data, p + 32, 8);
    }
    /* the spec leaves it to the client to check the server's values */
    if (fd_index >= reply->nr_fds || reply->fds[fd_index] < 0 ||
        !proto_range_ok(offset, size, r->size)) {
        return -EINVAL;
    }
    e->offset = offset;
    e->size = size;
    e->type = type;
    e->flags = flags;
    e->datamatch = data;
    /*
     * Sub-regions may share an fd; each entry gets its own so the caller
     * closes every entry's fd without double closes.
     */
    e->fd = fcntl(reply->fds[fd_index], F_DUPFD_CLOEXEC, 0);
    return e->fd < 0 ? -errno : 0;
}

VMM_EXPORT int
vmm_region_io_fds(vmm_t *vmm, uint32_t index, vmm_ioeventfd_t *ents,
                  size_t max)
{
    const size_t ent = sizeof(vfio_user_sub_region_ioeventfd_t);
    const size_t head = sizeof(vfio_user_region_io_fds_reply_t);
    uint64_t limit;
    uint64_t want;
    vfio_user_region_io_fds_reply_t got;
    const vmm_region_t *r;
    proto_msg_t reply;
    size_t esize;
    size_t n = 0;
    size_t i;
    int attempt;
    int rc;

    if (vmm == NULL || (max > 0 && ents == NULL)) {
        return -EINVAL;
    }
    rc = vmm_region_info(vmm, index, &r);
    if (rc < 0) {
        return rc;
    }
    limit = max_reply_body(vmm, VMM_MAX_IO_FDS_REPLY);
    want = max < (limit - head) / ent ? max : (limit - head) / ent;
    for (attempt = 0;; attempt++) {
        vfio_user_region_io_fds_request_t req = {
            .argsz = (uint32_t)(head + want * ent), .index = index};

        rc = vmm_request(vmm, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &req,
                         sizeof(req), NULL, 0, &reply);
        if (rc < 0) {
            return rc;
        }
        if (reply.body_len < head) {
            vmm_msg_free(vmm, &reply);
            return -EINVAL;
        }
        memcpy(&got, reply.body, head);
        if (got.index != index) {
            vmm_msg_free(vmm, &reply);
            return -EINVAL;
        }
        /* the server sends the array only when all of it fits */
        if (got.count == 0 || max == 0 || reply.body_len > head) {
            break;
        }
        if (attempt > 0 || got.count <= want ||
            (uint64_t)got.count > (limit - head) / ent) {
            /* not sent though asked for, or too many: nothing to fill */
            vmm_msg_free(vmm, &reply);
            return (int)(got.count > INT32_MAX ? INT32_MAX : got.count);
        }
        want = got.count;
        vmm_msg_free(vmm, &reply);
    }
    if (got.count > 0 && max > 0) {
        /* proto_check_reply(): count equal entries of at least 40 bytes */
        esize = (reply.body_len - head) / got.count;
        if (esize < 40) {
            vmm_msg_free(vmm, &reply);
            return -EINVAL;
        }
        n = got.count < max ? got.count : max;
        for (i = 0; i < n; i++) {
            rc = io_fd_entry(&reply, i, esize, &ents[i], r);
            if (rc < 0) {
                while (i-- > 0) {
                    close(ents[i].fd);
                    ents[i].fd = -1;
                }
                vmm_log(vmm, LOG_WARNING, "region %u: bad IO fd entry",
                        index);
                vmm_msg_free(vmm, &reply);
                return rc;
            }
        }
        /* the originals were handed out as duplicates: not unexpected */
        for (i = 0; i < reply.nr_fds; i++) {
            if (reply.fds[i] >= 0) {
                close(reply.fds[i]);
                reply.fds[i] = -1;
            }
        }
    }
    vmm_msg_free(vmm, &reply);
    return (int)(got.count > INT32_MAX ? INT32_MAX : got.count);
}
