/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vmm_access.c - the fake VMM's region access: reads and writes split by
 * the negotiated transfer size, fixed-size little-endian helpers, queued
 * writes (REGION_WRITE_MULTI when negotiated), and device reset.
 */

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/private.h"
#include "vfio-user/libvfio-user.h"

/* One REGION_READ or REGION_WRITE of @count bytes, reply checked. */
static int
access_chunk(vmm_t *vmm, uint32_t index, uint64_t offset, void *buf,
             uint32_t count, bool is_write)
{
    struct vfio_user_region_access hdr = {
        .offset = offset, .region = index, .count = count};
    struct vfio_user_region_access echo;
    size_t len = sizeof(hdr) + (is_write ? count : 0);
    proto_msg_t reply;
    uint8_t *req;
    int rc;

    req = malloc(len);
    if (req == NULL) {
        return -ENOMEM;
    }
    memcpy(req, &hdr, sizeof(hdr));
    if (is_write) {
        memcpy(req + sizeof(hdr), buf, count);
    }
    rc = vmm_request(vmm,
                     is_write ? VFIO_USER_REGION_WRITE : VFIO_USER_REGION_READ,
                     req, len, NULL, 0, &reply);
    free(req);
    if (rc < 0) {
        return rc;
    }
    rc = -EINVAL;
    if (reply.body_len >= sizeof(echo)) {
        memcpy(&echo, reply.body, sizeof(echo));
        if (echo.offset == offset && echo.region == index &&
            echo.count == count &&
            (is_write || reply.body_len - sizeof(echo) == count)) {
            rc = 0;
        }
    }
    if (rc == 0 && !is_write) {
        memcpy(buf, reply.body + sizeof(echo), count);
    } else if (rc < 0) {
        vmm_log(vmm, LOG_WARNING, "%s reply does not match the request",
                is_write ? "REGION_WRITE" : "REGION_READ");
    }
    vmm_msg_free(vmm, &reply);
    return rc;
}

static int
region_access(vmm_t *vmm, uint32_t index, uint64_t offset, void *buf,
              size_t len, bool is_write)
{
    uint64_t chunk;
    size_t done = 0;
    int rc;

    if (vmm == NULL || (len > 0 && buf == NULL) ||
        !proto_range_ok(offset, len, UINT64_MAX)) {
        return -EINVAL;
    }
    chunk = vmm->pub_caps.max_data_xfer_size;
    if (chunk == 0 || chunk > UINT32_MAX) {
        chunk = chunk == 0 ? 1 : UINT32_MAX;
    }
    while (done < len) {
        uint64_t n = len - done < chunk ? len - done : chunk;

        rc = access_chunk(vmm, index, offset + done, (uint8_t *)buf + done,
                          (uint32_t)n, is_write);
        if (rc < 0) {
            return rc;
        }
        done += n;
    }
    return 0;
}

VMM_EXPORT int
vmm_region_read(vmm_t *vmm, uint32_t index, uint64_t offset, void *buf,
                size_t len)
{
    return region_access(vmm, index, offset, buf, len, false);
}

VMM_EXPORT int
vmm_region_write(vmm_t *vmm, uint32_t index, uint64_t offset,
                 const void *buf, size_t len)
{
    /* the write path only reads from @buf */
    return region_access(vmm, index, offset, (void *)buf, len, true);
}

static bool
val_size_ok(size_t size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

VMM_EXPORT int
vmm_region_read_val(vmm_t *vmm, uint32_t index, uint64_t offset, size_t size,
                    uint64_t *val)
{
    uint64_t le = 0;
    int rc;

    if (val == NULL || !val_size_ok(size)) {
        return -EINVAL;
    }
    /* the low @size bytes of a little-endian u64 are the value's */
    rc = vmm_region_read(vmm, index, offset, &le, size);
    if (rc < 0) {
        return rc;
    }
    *val = le64toh(le);
    return 0;
}

VMM_EXPORT int
vmm_region_write_val(vmm_t *vmm, uint32_t index, uint64_t offset, size_t size,
                     uint64_t val)
{
    uint64_t le;

    if (!val_size_ok(size)) {
        return -EINVAL;
    }
    /* a value that does not fit is a caller's mistake, not a truncation */
    if (size < 8 && (val >> (size * 8)) != 0) {
        return -ERANGE;
    }
    le = htole64(val);
    return vmm_region_write(vmm, index, offset, &le, size);
}

VMM_EXPORT int
vmm_config_read(vmm_t *vmm, uint64_t offset, size_t size, uint64_t *val)
{
    return vmm_region_read_val(vmm, VFU_PCI_DEV_CFG_REGION_IDX, offset, size,
                               val);
}

VMM_EXPORT int
vmm_config_write(vmm_t *vmm, uint64_t offset, size_t size, uint64_t val)
{
    return vmm_region_write_val(vmm, VFU_PCI_DEV_CFG_REGION_IDX, offset, size,
                                val);
}

/* ------------------------------------------------------------------ */
/* Queued writes                                                       */
/* ------------------------------------------------------------------ */

VMM_EXPORT int
vmm_region_write_queue(vmm_t *vmm, uint32_t index, uint64_t offset,
                       const void *buf, size_t len)
{
    struct vfio_user_write_multi_data *w;

    if (vmm == NULL || buf == NULL || len == 0 ||
        len > VFIO_USER_MULTI_DATA ||
        !proto_range_ok(offset, len, UINT64_MAX)) {
        return -EINVAL;
    }
    if (!vmm->connected) {
        return -ENOTCONN;
    }
    w = &vmm->wq[vmm->wq_len++];
    memset(w, 0, sizeof(*w));
    w->offset = offset;
    w->region = index;
    w->count = (uint32_t)len;
    memcpy(w->data, buf, len);
    if (vmm->wq_len == VFIO_USER_MULTI_MAX) {
        return vmm_region_write_flush(vmm);
    }
    return 0;
}

/* One REGION_WRITE_MULTI carrying @n queued writes. */
static int
flush_multi(vmm_t *vmm, size_t n)
{
    struct vfio_user_write_multi head = {.wr_cnt = n};
    size_t len = sizeof(head) + n * sizeof(vmm->wq[0]);
    proto_msg_t reply;
    uint64_t done;
    uint8_t *body;
    int rc;

    body = malloc(len);
    if (body == NULL) {
        return -ENOMEM;
    }
    memcpy(body, &head, sizeof(head));
    memcpy(body + sizeof(head), vmm->wq, n * sizeof(vmm->wq[0]));
    rc = vmm_request(vmm, VFIO_USER_REGION_WRITE_MULTI, body, len, NULL, 0,
                     &reply);
    free(body);
    if (rc < 0) {
        return rc;
    }
    rc = -EINVAL;
    if (reply.body_len >= sizeof(done)) {
        memcpy(&done, reply.body, sizeof(done));
        rc = done == n ? 0 : -EIO;
        if (rc < 0) {
            vmm_log(vmm, LOG_WARNING, "server completed %llu of %zu writes",
                    (unsigned long long)done, n);
        }
    }
    vmm_msg_free(vmm, &reply);
    return rc;
}

VMM_EXPORT int
vmm_region_write_flush(vmm_t *vmm)
{
    size_t n;
    size_t i;
    int rc = 0;

    if (vmm == NULL) {
        return -EINVAL;
    }
    /* the queue is consumed whatever happens: a failed flush is reported */
    n = vmm->wq_len;
    vmm->wq_len = 0;
    if (n == 0) {
        return 0;
    }
    if (vmm->pub_caps.write_multiple) {
        return flush_multi(vmm, n);
    }
    for (i = 0; i < n && rc == 0; i++) {
        rc = access_chunk(vmm, vmm->wq[i].region, vmm->wq[i].offset,
                          vmm->wq[i].data, vmm->wq[i].count, true);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reset                                                               */
/* ------------------------------------------------------------------ */

VMM_EXPORT int
vmm_reset(vmm_t *vmm)
{
    proto_msg_t reply;
    int rc;

    if (vmm == NULL) {
        return -EINVAL;
    }
    rc = vmm_request(vmm, VFIO_USER_DEVICE_RESET, NULL, 0, NULL, 0, &reply);
    if (rc == 0) {
        vmm_msg_free(vmm, &reply);
    }
    return rc;
}
