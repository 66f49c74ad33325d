/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vmm_mem.c - the fake VMM's guest memory: regions at guest addresses,
 * DMA_MAP/DMA_UNMAP, local access, and serving DMA_READ/DMA_WRITE.
 *
 * The regions live in one array sorted by address.  They never overlap,
 * so their ends are sorted too and one binary search finds the region
 * holding an address (or where a new one goes): lookups stay cheap with
 * thousands of regions.  An access may span regions that touch; any gap
 * is a fault.
 *
 * Errnos of a refused DMA_READ/DMA_WRITE (the contract in vmm.h):
 *   EINVAL  malformed (proto validation), or count above the negotiated
 *           max_data_xfer_size (QEMU answers E2BIG for the latter);
 *   EFAULT  some byte of the range is not mapped (QEMU: ENODEV, from its
 *           "decode error"; libvfio-user's sample client asserts);
 *   EACCES  mapped without the access the device asked for: DMA_READ
 *           needs VMM_MEM_READ, DMA_WRITE needs VMM_MEM_WRITE (QEMU:
 *           EPERM, from its "access error");
 *   ENOMEM  we could not allocate the reply;
 *   ENOSYS  an unknown command (from proto validation).
 * A count of 0 touches nothing and is answered with success wherever it
 * points.  The DMA_WRITE reply echoes the 16-byte address/count struct,
 * as libvfio-user's client does (QEMU sends a bare header; both parse).
 */

#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client/private.h"

/* vmm_mem_map() sends the VMM_MEM_* protection bits as they are */
_Static_assert(VMM_MEM_READ == VFIO_USER_F_DMA_REGION_READ &&
                   VMM_MEM_WRITE == VFIO_USER_F_DMA_REGION_WRITE,
               "VMM_MEM_* match the DMA_MAP flags");

/* ------------------------------------------------------------------ */
/* The region table                                                    */
/* ------------------------------------------------------------------ */

static uint64_t
region_end(const vmm_mem_region_t *r)
{
    return r->gpa + r->size; /* checked not to overflow at map time */
}

/*
 * The number of regions that end at or below @gpa: the index of the
 * region holding @gpa if there is one, else of the first region above it.
 */
static size_t
mem_lower(const vmm_t *vmm, uint64_t gpa)
{
    size_t lo = 0;
    size_t hi = vmm->nr_mem;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (region_end(&vmm->mem[mid]) <= gpa) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The region mapped exactly at [@gpa, +@size), or NULL. */
static vmm_mem_region_t *
mem_exact(vmm_t *vmm, uint64_t gpa, uint64_t size, size_t *idx)
{
    size_t i = mem_lower(vmm, gpa);

    if (i < vmm->nr_mem && vmm->mem[i].gpa == gpa &&
        vmm->mem[i].size == size) {
        *idx = i;
        return &vmm->mem[i];
    }
    return NULL;
}

static void
region_release(vmm_mem_region_t *r)
{
    if (r->base != NULL) {
        munmap(r->base, (size_t)r->size);
        r->base = NULL;
    }
    free(r->dirty);
    r->dirty = NULL;
}

static void
mem_remove(vmm_t *vmm, size_t i)
{
    region_release(&vmm->mem[i]);
    memmove(&vmm->mem[i], &vmm->mem[i + 1],
            (vmm->nr_mem - i - 1) * sizeof(vmm->mem[0]));
    vmm->nr_mem--;
}

static void
mem_free_all(vmm_t *vmm)
{
    size_t i;

    for (i = 0; i < vmm->nr_mem; i++) {
        region_release(&vmm->mem[i]);
    }
    vmm->nr_mem = 0;
}

void
vmm_mem_cleanup(vmm_t *vmm)
{
    mem_free_all(vmm);
    free(vmm->mem);
    vmm->mem = NULL;
    vmm->mem_cap = 0;
}

/* Room for one more region in the table. */
static int
mem_reserve(vmm_t *vmm)
{
    vmm_mem_region_t *grown;
    size_t cap;

    if (vmm->nr_mem >= VMM_MAX_MEM_REGIONS) {
        return -ENOMEM;
    }
    if (vmm->nr_mem < vmm->mem_cap) {
        return 0;
    }
    cap = vmm->mem_cap == 0 ? 16 : vmm->mem_cap * 2;
    if (cap > VMM_MAX_MEM_REGIONS) {
        cap = VMM_MAX_MEM_REGIONS;
    }
    grown = realloc(vmm->mem, cap * sizeof(*grown));
    if (grown == NULL) {
        return -ENOMEM;
    }
    vmm->mem = grown;
    vmm->mem_cap = cap;
    return 0;
}

/*
 * Walk [@gpa, +@len) region by region.  With @buf NULL only check that
 * every byte is mapped (-EFAULT) with the @need protection (-EACCES), the
 * first problem in address order winning; otherwise copy into (@to_guest
 * false) or out of @buf, or fill with @fill when @buf is NULL and
 * @do_fill.  Callers check before they copy, so a refused access changes
 * nothing.
 */
typedef struct mem_op {
    uint32_t need;
    void *buf;
    bool to_guest;
    bool do_fill;
    uint8_t fill;
} mem_op_t;

static int
mem_walk(vmm_t *vmm, uint64_t gpa, size_t len, const mem_op_t *op)
{
    uint64_t end;
    size_t done = 0;
    size_t i;

    if (len == 0) {
        return 0;
    }
    if (__builtin_add_overflow(gpa, (uint64_t)len, &end)) {
        return -EFAULT;
    }
    i = mem_lower(vmm, gpa);
    while (done < len) {
        const vmm_mem_region_t *r = i < vmm->nr_mem ? &vmm->mem[i] : NULL;
        uint64_t at = gpa + done;
        uint64_t off, n;

        if (r == NULL || r->gpa > at) {
            return -EFAULT;
        }
        if ((r->flags & op->need) != op->need) {
            return -EACCES;
        }
        off = at - r->gpa;
        n = r->size - off;
        if (n > len - done) {
            n = len - done;
        }
        if (op->buf != NULL) {
            uint8_t *mine = (uint8_t *)op->buf + done;

            if (op->to_guest) {
                memcpy(r->base + off, mine, (size_t)n);
                vmm_migr_note_write(vmm, r, off, n);
            } else {
                memcpy(mine, r->base + off, (size_t)n);
            }
        } else if (op->do_fill) {
            memset(r->base + off, op->fill, (size_t)n);
            vmm_migr_note_write(vmm, r, off, n);
        }
        done += (size_t)n;
        i++;
    }
    return 0;
}

/* Check, then do, @op on [@gpa, +@len). */
static int
mem_access(vmm_t *vmm, uint64_t gpa, size_t len, const mem_op_t *op)
{
    mem_op_t check = {.need = op->need};
    int rc = mem_walk(vmm, gpa, len, &check);

    if (rc < 0) {
        return rc;
    }
    return mem_walk(vmm, gpa, len, op);
}

/* The smallest negotiated page size: the DMA_MAP granularity. */
static uint64_t
min_page(const vmm_t *vmm)
{
    uint64_t pg = vmm->pub_caps.pgsizes;

    return pg != 0 ? pg & -pg : PROTO_DEFAULT_PGSIZES;
}

/* ------------------------------------------------------------------ */
/* DMA_MAP / DMA_UNMAP                                                 */
/* ------------------------------------------------------------------ */

/* Zeroed memory for a region: a memfd (*@fd) or private memory. */
static int
region_alloc(uint64_t size, bool nofd, uint8_t **base, int *fd)
{
    void *p;

    *base = NULL;
    *fd = -1;
    if (nofd) {
        p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            return -ENOMEM;
        }
        *base = p;
        return 0;
    }
    *fd = memfd_create("vmm-guest-mem", MFD_CLOEXEC);
    if (*fd < 0) {
        return -errno;
    }
    if (ftruncate(*fd, (off_t)size) < 0) {
        int err = errno == EFBIG ? -ENOMEM : -errno;

        close(*fd);
        *fd = -1;
        return err;
    }
    p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (p == MAP_FAILED) {
        close(*fd);
        *fd = -1;
        return -ENOMEM;
    }
    *base = p;
    return 0;
}

VMM_EXPORT int
vmm_mem_map(vmm_t *vmm, uint64_t gpa, uint64_t size, uint32_t flags)
{
    struct vfio_user_dma_map m = {.argsz = sizeof(m)};
    vmm_mem_region_t r = {.gpa = gpa, .size = size, .flags = flags};
    proto_msg_t reply;
    uint64_t pg, end;
    size_t i;
    int fd;
    int rc;

    if (vmm == NULL || (flags & ~(VMM_MEM_RW | VMM_MEM_NOFD)) != 0) {
        return -EINVAL;
    }
    pg = min_page(vmm);
    if (size == 0 || gpa % pg != 0 || size % pg != 0 ||
        __builtin_add_overflow(gpa, size, &end) || size > SIZE_MAX) {
        return -EINVAL;
    }
    if (!vmm->connected) {
        return -ENOTCONN;
    }
    i = mem_lower(vmm, gpa);
    if (i < vmm->nr_mem && vmm->mem[i].gpa < end) {
        return -EEXIST;
    }
    rc = mem_reserve(vmm);
    if (rc < 0) {
        return rc;
    }
    rc = region_alloc(size, (flags & VMM_MEM_NOFD) != 0, &r.base, &fd);
    if (rc < 0) {
        return rc;
    }

    /* the VMM_MEM_READ/WRITE bits are the wire's READ/WRITE bits */
    m.flags = flags & VMM_MEM_RW;
    m.offset = 0;
    m.addr = gpa;
    m.size = size;
    rc = vmm_request(vmm, VFIO_USER_DMA_MAP, &m, sizeof(m),
                     fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, &reply);
    if (fd >= 0) {
        close(fd); /* the server has its own copy; our mapping stays */
    }
    if (rc < 0) {
        region_release(&r);
        return rc;
    }
    vmm_msg_free(vmm, &reply);

    /* served commands never change the table, but look again anyway */
    i = mem_lower(vmm, gpa);
    memmove(&vmm->mem[i + 1], &vmm->mem[i],
            (vmm->nr_mem - i) * sizeof(vmm->mem[0]));
    vmm->mem[i] = r;
    vmm->nr_mem++;
    return 0;
}

/* One DMA_UNMAP; the reply's echo is checked by proto_check_reply(). */
static int
send_unmap(vmm_t *vmm, uint32_t flags, uint64_t gpa, uint64_t size)
{
    struct vfio_user_dma_unmap u = {
        .argsz = sizeof(u), .flags = flags, .addr = gpa, .size = size};
    proto_msg_t reply;
    int rc;

    rc = vmm_request(vmm, VFIO_USER_DMA_UNMAP, &u, sizeof(u), NULL, 0,
                     &reply);
    if (rc == 0) {
        vmm_msg_free(vmm, &reply);
    }
    return rc;
}

/*
 * The memory is freed only once the server said it let go: until then it
 * may still read or write it (the spec has it finish in-flight DMA before
 * it replies, and may send DMA_READ/WRITE for it meanwhile).
 */
VMM_EXPORT int
vmm_mem_unmap(vmm_t *vmm, uint64_t gpa, uint64_t size)
{
    size_t i;
    int rc;

    if (vmm == NULL) {
        return -EINVAL;
    }
    if (mem_exact(vmm, gpa, size, &i) == NULL) {
        return -ENOENT;
    }
    rc = send_unmap(vmm, 0, gpa, size);
    if (rc < 0) {
        return rc;
    }
    if (mem_exact(vmm, gpa, size, &i) != NULL) {
        mem_remove(vmm, i);
    }
    return 0;
}

VMM_EXPORT int
vmm_mem_unmap_all(vmm_t *vmm)
{
    int rc;

    if (vmm == NULL) {
        return -EINVAL;
    }
    rc = send_unmap(vmm, VFIO_DMA_UNMAP_FLAG_ALL, 0, 0);
    if (rc < 0) {
        return rc;
    }
    mem_free_all(vmm);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Local access                                                        */
/* ------------------------------------------------------------------ */

VMM_EXPORT int
vmm_mem_write(vmm_t *vmm, uint64_t gpa, const void *buf, size_t len)
{
    mem_op_t op = {.buf = (void *)buf, .to_guest = true};

    if (vmm == NULL || (len > 0 && buf == NULL)) {
        return -EINVAL;
    }
    return mem_access(vmm, gpa, len, &op);
}

VMM_EXPORT int
vmm_mem_read(vmm_t *vmm, uint64_t gpa, void *buf, size_t len)
{
    mem_op_t op = {.buf = buf};

    if (vmm == NULL || (len > 0 && buf == NULL)) {
        return -EINVAL;
    }
    return mem_access(vmm, gpa, len, &op);
}

VMM_EXPORT int
vmm_mem_fill(vmm_t *vmm, uint64_t gpa, uint8_t byte, size_t len)
{
    mem_op_t op = {.do_fill = true, .fill = byte};

    if (vmm == NULL) {
        return -EINVAL;
    }
    return mem_access(vmm, gpa, len, &op);
}

VMM_EXPORT void *
vmm_mem_ptr(vmm_t *vmm, uint64_t gpa, size_t len)
{
    const vmm_mem_region_t *r;
    size_t i;

    if (vmm == NULL) {
        return NULL;
    }
    i = mem_lower(vmm, gpa);
    if (i >= vmm->nr_mem) {
        return NULL;
    }
    r = &vmm->mem[i];
    if (r->gpa > gpa || !proto_range_ok(gpa - r->gpa, len, r->size)) {
        return NULL;
    }
    return r->base + (gpa - r->gpa);
}

VMM_EXPORT void
vmm_get_stats(const vmm_t *vmm, vmm_stats_t *stats)
{
    if (stats == NULL) {
        return;
    }
    if (vmm == NULL) {
        memset(stats, 0, sizeof(*stats));
        return;
    }
    *stats = vmm->stats;
}

/* ------------------------------------------------------------------ */
/* Serving DMA_READ / DMA_WRITE                                        */
/* ------------------------------------------------------------------ */

/*
 * Carry out a validated DMA_READ/DMA_WRITE.  On success *@out is the
 * reply body (malloc'ed) of *@out_len bytes.
 */
static int
serve_dma(vmm_t *vmm, const proto_msg_t *msg, uint8_t **out, size_t *out_len)
{
    bool write = msg->hdr.cmd == VFIO_USER_DMA_WRITE;
    struct vfio_user_dma_region_access da;
    mem_op_t op = {.need = write ? VMM_MEM_WRITE : VMM_MEM_READ};
    mem_op_t check = op;
    uint8_t *body;
    size_t len;
    int rc;

    memcpy(&da, msg->body, sizeof(da));
    /* proto checked our own limit; the server agreed to the smaller one */
    if (da.count > vmm->pub_caps.max_data_xfer_size) {
        return -EINVAL;
    }
    rc = mem_walk(vmm, da.addr, (size_t)da.count, &check);
    if (rc < 0) {
        return rc;
    }
    len = sizeof(da) + (write ? 0 : (size_t)da.count);
    body = malloc(len);
    if (body == NULL) {
        return -ENOMEM;
    }
    memcpy(body, &da, sizeof(da));
    if (write) {
        /* the validator made body_len exactly sizeof(da) + count */
        op.buf = msg->body + sizeof(da);
        op.to_guest = true;
        vmm->stats.dma_writes++;
        vmm->stats.dma_write_bytes += da.count;
    } else {
        op.buf = body + sizeof(da);
        vmm->stats.dma_reads++;
        vmm->stats.dma_read_bytes += da.count;
    }
    (void)mem_walk(vmm, da.addr, (size_t)da.count, &op);
    *out = body;
    *out_len = len;
    return 0;
}

static void
answer_free(vmm_dma_answer_t *a)
{
    size_t i;

    for (i = 0; i < a->nr_fds; i++) {
        close(a->fds[i]);
    }
    free(a->fds);
    free(a->body);
    memset(a, 0, sizeof(*a));
}

void
vmm_dma_answers_free(vmm_t *vmm)
{
    answer_free(&vmm->answer[0]);
    answer_free(&vmm->answer[1]);
}

VMM_EXPORT int
vmm_dma_answer(vmm_t *vmm, uint16_t cmd, uint32_t flags, uint32_t error_no,
               const void *body, size_t len, const int *fds, size_t nr_fds)
{
    vmm_dma_answer_t a = {.armed = true, .flags = flags,
                          .error_no = error_no};
    vmm_dma_answer_t *slot;

    if (vmm == NULL || (cmd != VFIO_USER_DMA_READ &&
                        cmd != VFIO_USER_DMA_WRITE) ||
        (body == NULL && len > 0) || (fds == NULL && nr_fds > 0) ||
        len > PROTO_MAX_DATA_XFER_CEIL ||
        nr_fds > vmm->pub_caps.max_msg_fds) {
        return -EINVAL;
    }
    a.body = malloc(len > 0 ? len : 1);
    a.fds = calloc(nr_fds > 0 ? nr_fds : 1, sizeof(*a.fds));
    if (a.body == NULL || a.fds == NULL) {
        answer_free(&a);
        return -ENOMEM;
    }
    if (len > 0) {
        memcpy(a.body, body, len);
    }
    a.len = len;
    for (; a.nr_fds < nr_fds; a.nr_fds++) {
        a.fds[a.nr_fds] = fcntl(fds[a.nr_fds], F_DUPFD_CLOEXEC, 0);
        if (a.fds[a.nr_fds] < 0) {
            int err = -errno;

            answer_free(&a);
            return err;
        }
    }
    slot = &vmm->answer[cmd == VFIO_USER_DMA_WRITE];
    answer_free(slot);
    *slot = a;
    return 0;
}

/* Send the answer set aside for @msg's command, whatever @msg asks. */
static void
send_answer(vmm_t *vmm, proto_msg_t *msg, enum vmm_chan chan)
{
    vmm_dma_answer_t *a = &vmm->answer[msg->hdr.cmd == VFIO_USER_DMA_WRITE];
    struct vfio_user_header rh;

    memset(&rh, 0, sizeof(rh));
    rh.msg_id = msg->hdr.msg_id;
    rh.cmd = msg->hdr.cmd;
    rh.msg_size = (uint32_t)(sizeof(rh) + a->len);
    rh.flags = a->flags;
    rh.error_no = a->error_no;
    vmm_log(vmm, LOG_INFO, "answering %s id %u with the bytes set aside",
            proto_cmd_name(msg->hdr.cmd), msg->hdr.msg_id);
    (void)vmm_send_reply(vmm, chan, &rh, a->body, a->len, a->fds, a->nr_fds);
    answer_free(a);
}

void
vmm_serve_cmd(vmm_t *vmm, proto_msg_t *msg, enum vmm_chan chan)
{
    struct vfio_user_header rh;
    uint8_t *body = NULL;
    size_t len = 0;
    int err;

    if ((msg->hdr.cmd == VFIO_USER_DMA_READ ||
         msg->hdr.cmd == VFIO_USER_DMA_WRITE) &&
        vmm->answer[msg->hdr.cmd == VFIO_USER_DMA_WRITE].armed) {
        send_answer(vmm, msg, chan);
        vmm_msg_free(vmm, msg);
        return;
    }
    err = proto_check_request(msg, &vmm->caps, PROTO_S2C);
    if (err == 0) {
        /* DMA_READ and DMA_WRITE are the only server-to-client commands */
        err = serve_dma(vmm, msg, &body, &len);
    }
    if (err < 0) {
        struct vfio_user_dma_region_access da = {0};

        if (msg->body_len >= sizeof(da)) {
            memcpy(&da, msg->body, sizeof(da));
        }
        vmm->stats.dma_errors++;
        vmm_log(vmm, LOG_WARNING,
                "refused server command %s id %u (addr %#llx count %llu): %s",
                proto_cmd_name(msg->hdr.cmd), msg->hdr.msg_id,
                (unsigned long long)da.addr, (unsigned long long)da.count,
                strerror(-err));
    }
    if (!(msg->hdr.flags & VFIO_USER_F_NO_REPLY)) {
        proto_hdr_reply(&rh, &msg->hdr, err < 0 ? 0 : len, err);
        (void)vmm_send_reply(vmm, chan, &rh, body, err < 0 ? 0 : len, NULL,
                             0);
    }
    free(body);
    vmm_msg_free(vmm, msg);
}
