/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_vmm_mem.c - the fake VMM's guest memory: local access, DMA_MAP and
 * DMA_UNMAP (fd passing included), serving DMA_READ/DMA_WRITE to a
 * scripted server (good and hostile), the twin socket, vmm_poll(), and
 * end-to-end DMA through our own server in-process and over a socket.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vfio-user/pci_defs.h"
#include "test_vmm_util.h"

#define PG 4096u
#define MEMFD_TAG "memfd:vmm-guest-mem"

typedef struct vfio_user_dma_region_access dma_acc_t;

/*
 * A fake client with guest memory already mapped: each (gpa, size, flags)
 * triple gets a DMA_MAP reply pre-written.  The client's ids start at 0.
 */
typedef struct memfx {
    int sfd;
    vmm_t *vmm;
    tv_log_t log;
} memfx_t;

static void
memfx_open(memfx_t *m, const vmm_opts_t *opts)
{
    memset(m, 0, sizeof(*m));
    m->vmm = tv_fake_client(&m->sfd, opts, &m->log);
}

/* Map one region against the fake server, which says yes. */
static void
memfx_map(memfx_t *m, uint64_t gpa, uint64_t size, uint32_t flags)
{
    proto_msg_t sent[2];
    size_t n;

    tv_reply(m->sfd, vmm_next_id(m->vmm), VFIO_USER_DMA_MAP, NULL, 0);
    assert_int_equal(vmm_mem_map(m->vmm, gpa, size, flags), 0);
    n = tv_drain(m->sfd, sent, 2);
    assert_int_equal(n, 1);
    assert_int_equal(sent[0].hdr.cmd, VFIO_USER_DMA_MAP);
    tv_free_all(sent, n);
}

static void
memfx_close(memfx_t *m)
{
    vmm_close(m->vmm);
    close(m->sfd);
}

/* A DMA_WRITE command body: the access struct and @len bytes of @data. */
static size_t
dma_write_body(uint8_t *out, uint64_t addr, const void *data, size_t len)
{
    dma_acc_t a = {.addr = addr, .count = len};

    memcpy(out, &a, sizeof(a));
    memcpy(out + sizeof(a), data, len);
    return sizeof(a) + len;
}

static void
send_dma_read(int sfd, uint16_t id, uint64_t addr, uint64_t count)
{
    dma_acc_t a = {.addr = addr, .count = count};

    tv_cmd(sfd, id, VFIO_USER_DMA_READ, &a, sizeof(a));
}

/* Check a reply the client sent: @id, @cmd, error @err (0: success). */
static void
check_reply(const proto_msg_t *m, uint16_t id, uint16_t cmd, uint32_t err)
{
    assert_int_equal(m->hdr.msg_id, id);
    assert_int_equal(m->hdr.cmd, cmd);
    if (err != 0) {
        assert_int_equal(m->hdr.flags,
                         VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR);
        assert_int_equal(m->hdr.error_no, err);
        assert_int_equal(m->body_len, 0);
    } else {
        assert_int_equal(m->hdr.flags, VFIO_USER_F_TYPE_REPLY);
    }
}

/* ------------------------------------------------------------------ */
/* Local memory                                                        */
/* ------------------------------------------------------------------ */

static void
test_mem_local_spanning(void **state)
{
    uint8_t buf[3 * PG];
    uint8_t out[3 * PG];
    memfx_t m;
    uint8_t *p;
    size_t i;

    (void)state;
    memfx_open(&m, NULL);
    /* two touching regions (fd and no fd), then a gap, then a third */
    memfx_map(&m, 0x10000, 2 * PG, VMM_MEM_RW);
    memfx_map(&m, 0x12000, PG, VMM_MEM_RW | VMM_MEM_NOFD);
    memfx_map(&m, 0x20000, PG, VMM_MEM_READ);

    /* zeroed to begin with */
    assert_int_equal(vmm_mem_read(m.vmm, 0x10000, out, sizeof(out)), 0);
    for (i = 0; i < sizeof(out); i++) {
        assert_int_equal(out[i], 0);
    }
    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)(i * 7 + 1);
    }
    /* across the boundary of the first two */
    assert_int_equal(vmm_mem_write(m.vmm, 0x10000, buf, sizeof(buf)), 0);
    assert_int_equal(vmm_mem_read(m.vmm, 0x10000, out, sizeof(out)), 0);
    assert_memory_equal(buf, out, sizeof(buf));
    assert_int_equal(vmm_mem_read(m.vmm, 0x11ff0, out, 0x20), 0);
    assert_memory_equal(out, buf + 0x1ff0, 0x20);

    /* the pointer covers one region only */
    p = vmm_mem_ptr(m.vmm, 0x11000, PG);
    assert_non_null(p);
    assert_memory_equal(p, buf + PG, PG);
    assert_null(vmm_mem_ptr(m.vmm, 0x11000, PG + 1));
    assert_non_null(vmm_mem_ptr(m.vmm, 0x12000, PG));
    assert_null(vmm_mem_ptr(m.vmm, 0x13000, 1));
    assert_null(vmm_mem_ptr(m.vmm, 0xf000, 1));
    assert_null(vmm_mem_ptr(m.vmm, 0x20000, UINT64_MAX));

    /* fill, also across the boundary */
    assert_int_equal(vmm_mem_fill(m.vmm, 0x11800, 0xa5, PG), 0);
    assert_int_equal(vmm_mem_read(m.vmm, 0x11800, out, PG), 0);
    for (i = 0; i < PG; i++) {
        assert_int_equal(out[i], 0xa5);
    }
    assert_int_equal(out[0], 0xa5);
    assert_int_equal(vmm_mem_read(m.vmm, 0x117ff, out, 1), 0);
    assert_int_equal(out[0], buf[0x17ff]);

    /* the guest's CPU may write what the device may only read */
    assert_int_equal(vmm_mem_write(m.vmm, 0x20000, buf, 16), 0);

    /* anything that touches a gap is a fault, and changes nothing */
    memset(out, 0x11, sizeof(out));
    assert_int_equal(vmm_mem_write(m.vmm, 0x12800, out, PG), -EFAULT);
    assert_int_equal(vmm_mem_read(m.vmm, 0x12800, out, 0x800), 0);
    assert_memory_equal(out, buf + 0x2800, 0x800);
    assert_int_equal(vmm_mem_read(m.vmm, 0xffff, out, 2), -EFAULT);
    assert_int_equal(vmm_mem_fill(m.vmm, 0x20fff, 0, 2), -EFAULT);
    assert_int_equal(vmm_mem_read(m.vmm, UINT64_MAX, out, 2), -EFAULT);
    assert_int_equal(vmm_mem_read(m.vmm, 0x30000, out, 1), -EFAULT);
    assert_int_equal(vmm_mem_read(m.vmm, 0x10000, NULL, 1), -EINVAL);
    assert_int_equal(vmm_mem_read(m.vmm, 0x30000, NULL, 0), 0);
    assert_int_equal(vmm_mem_read(NULL, 0x10000, out, 1), -EINVAL);
    memfx_close(&m);
}

static void
test_mem_map_errors(void **state)
{
    vmm_opts_t opts = {.timeout_ms = 1000, .pgsizes = 0x10000 | 0x200000};
    proto_msg_t sent[4];
    uint8_t b;
    memfx_t m;
    size_t n;

    (void)state;
    memfx_open(&m, &opts);
    /* the smallest page is 64 KiB: 4 KiB alignment is not enough */
    assert_int_equal(vmm_mem_map(m.vmm, 0x1000, 0x10000, VMM_MEM_RW),
                     -EINVAL);
    assert_int_equal(vmm_mem_map(m.vmm, 0x10000, 0x1000, VMM_MEM_RW),
                     -EINVAL);
    assert_int_equal(vmm_mem_map(m.vmm, 0x10000, 0, VMM_MEM_RW), -EINVAL);
    assert_int_equal(vmm_mem_map(m.vmm, UINT64_MAX - 0xffff, 0x20000,
                                 VMM_MEM_RW),
                     -EINVAL);
    assert_int_equal(vmm_mem_map(m.vmm, 0x10000, 0x10000, 1u << 7),
                     -EINVAL);
    assert_int_equal(vmm_mem_map(NULL, 0x10000, 0x10000, VMM_MEM_RW),
                     -EINVAL);

    memfx_map(&m, 0x100000, 0x20000, VMM_MEM_RW | VMM_MEM_NOFD);
    /* the same, inside, across either end, around: all overlap */
    assert_int_equal(vmm_mem_map(m.vmm, 0x100000, 0x20000, VMM_MEM_RW),
                     -EEXIST);
    assert_int_equal(vmm_mem_map(m.vmm, 0x110000, 0x10000, VMM_MEM_RW),
                     -EEXIST);
    assert_int_equal(vmm_mem_map(m.vmm, 0xf0000, 0x20000, VMM_MEM_RW),
                     -EEXIST);
    assert_int_equal(vmm_mem_map(m.vmm, 0x110000, 0x20000, VMM_MEM_RW),
                     -EEXIST);
    assert_int_equal(vmm_mem_map(m.vmm, 0, 0x200000, VMM_MEM_RW), -EEXIST);
    /* nothing of that went on the wire */
    assert_int_equal(tv_drain(m.sfd, sent, 4), 0);

    /* the server refuses: its errno, and the memory is gone again */
    tv_error(m.sfd, vmm_next_id(m.vmm), VFIO_USER_DMA_MAP, ENOSPC);
    assert_int_equal(vmm_mem_map(m.vmm, 0x200000, 0x10000, VMM_MEM_RW),
                     -ENOSPC);
    assert_null(vmm_mem_ptr(m.vmm, 0x200000, 1));
    assert_int_equal(vmm_mem_read(m.vmm, 0x200000, &b, 1), -EFAULT);
    assert_int_equal(tv_count_maps(MEMFD_TAG), 0);
    n = tv_drain(m.sfd, sent, 4);
    assert_int_equal(n, 1);
    tv_free_all(sent, n);
    /* ...and the range is free for a later map */
    memfx_map(&m, 0x200000, 0x10000, VMM_MEM_RW);
    assert_int_equal(tv_count_maps(MEMFD_TAG), 1);

    /* a server that is gone */
    close(m.sfd);
    m.sfd = -1;
    assert_int_equal(vmm_mem_map(m.vmm, 0x400000, 0x10000, VMM_MEM_RW),
                     -ENOTCONN);
    assert_int_equal(vmm_mem_map(m.vmm, 0x400000, 0x10000, VMM_MEM_RW),
                     -ENOTCONN);
    vmm_close(m.vmm);
    assert_int_equal(tv_count_maps(MEMFD_TAG), 0);
}

static void
test_mem_unmap(void **state)
{
    struct vfio_user_dma_unmap u;
    proto_msg_t sent[4];
    uint8_t b = 0;
    memfx_t m;
    size_t n;

    (void)state;
    memfx_open(&m, NULL);
    memfx_map(&m, 0x10000, PG, VMM_MEM_RW);
    memfx_map(&m, 0x11000, PG, VMM_MEM_RW);
    memfx_map(&m, 0x40000, 4 * PG, VMM_MEM_READ | VMM_MEM_NOFD);
    assert_int_equal(tv_count_maps(MEMFD_TAG), 2);

    /* only an exact match is unmapped; nothing is sent otherwise */
    assert_int_equal(vmm_mem_unmap(m.vmm, 0x10000, 2 * PG), -ENOENT);
    assert_int_equal(vmm_mem_unmap(m.vmm, 0x41000, PG), -ENOENT);
    assert_int_equal(vmm_mem_unmap(m.vmm, 0x50000, PG), -ENOENT);
    assert_int_equal(tv_drain(m.sfd, sent, 4), 0);

    /* the server refuses: the memory stays */
    tv_error(m.sfd, vmm_next_id(m.vmm), VFIO_USER_DMA_UNMAP, EBUSY);
    assert_int_equal(vmm_mem_unmap(m.vmm, 0x11000, PG), -EBUSY);
    assert_non_null(vmm_mem_ptr(m.vmm, 0x11000, PG));
    n = tv_drain(m.sfd, sent, 4);
    assert_int_equal(n, 1);
    tv_free_all(sent, n);

    /* a reply that does not echo the request is refused too */
    u = (struct vfio_user_dma_unmap){.argsz = sizeof(u), .addr = 0x12000,
                                     .size = PG};
    tv_reply(m.sfd, vmm_next_id(m.vmm), VFIO_USER_DMA_UNMAP, &u, sizeof(u));
    assert_int_equal(vmm_mem_unmap(m.vmm, 0x11000, PG), -EINVAL);
    assert_non_null(vmm_mem_ptr(m.vmm, 0x11000, PG));
    n = tv_drain(m.sfd, sent, 4);
    tv_free_all(sent, n);

    u.addr = 0x11000;
    tv_reply(m.sfd, vmm_next_id(m.vmm), VFIO_USER_DMA_UNMAP, &u, sizeof(u));
    assert_int_equal(vmm_mem_unmap(m.vmm, 0x11000, PG), 0);
    assert_null(vmm_mem_ptr(m.vmm, 0x11000, 1));
    assert_non_null(vmm_mem_ptr(m.vmm, 0x10000, PG));
    assert_int_equal(tv_count_maps(MEMFD_TAG), 1);
    n = tv_drain(m.sfd, sent, 4);
    assert_int_equal(n, 1);
    assert_int_equal(sent[0].hdr.cmd, VFIO_USER_DMA_UNMAP);
    assert_int_equal(sent[0].body_len, sizeof(u));
    memcpy(&u, sent[0].body, sizeof(u));
    assert_int_equal(u.argsz, sizeof(u));
    assert_int_equal(u.flags, 0);
    assert_int_equal(u.addr, 0x11000);
    assert_int_equal(u.size, PG);
    tv_free_all(sent, n);

    /* everything at once: UNMAP_ALL with address and size 0 */
    u = (struct vfio_user_dma_unmap){.argsz = sizeof(u),
                                     .flags = VFIO_DMA_UNMAP_FLAG_ALL};
    tv_reply(m.sfd, vmm_next_id(m.vmm), VFIO_USER_DMA_UNMAP, &u, sizeof(u));
    assert_int_equal(vmm_mem_unmap_all(m.vmm), 0);
    n = tv_drain(m.sfd, sent, 4);
    assert_int_equal(n, 1);
    memcpy(&u, sent[0].body, sizeof(u));
    assert_int_equal(u.flags, VFIO_DMA_UNMAP_FLAG_ALL);
    assert_int_equal(u.addr, 0);
    assert_int_equal(u.size, 0);
    tv_free_all(sent, n);
    assert_int_equal(vmm_mem_read(m.vmm, 0x10000, &b, 1), -EFAULT);
    assert_int_equal(vmm_mem_read(m.vmm, 0x40000, &b, 1), -EFAULT);
    assert_int_equal(tv_count_maps(MEMFD_TAG), 0);
    /* and the space can be mapped again */
    memfx_map(&m, 0x10000, PG, VMM_MEM_RW);
    assert_int_equal(vmm_mem_unmap(NULL, 0, 0), -EINVAL);
    assert_int_equal(vmm_mem_unmap_all(NULL), -EINVAL);
    memfx_close(&m);
}

/*
 * The fd that comes with DMA_MAP is the guest memory itself: the server
 * maps it and both sides see the same bytes.
 */
static void
test_mem_map_passes_memfd(void **state)
{
    struct vfio_user_dma_map dm;
    proto_msg_t sent[4];
    memfx_t m;
    uint8_t *srv;
    uint8_t b;
    size_t n;

    (void)state;
    memfx_open(&m, NULL);
    assert_int_equal(vmm_mem_fill(m.vmm, 0x100000, 1, 1), -EFAULT);
    tv_reply(m.sfd, 0, VFIO_USER_DMA_MAP, NULL, 0);
    assert_int_equal(vmm_mem_map(m.vmm, 0x100000, 4 * PG, VMM_MEM_WRITE), 0);
    assert_int_equal(vmm_mem_fill(m.vmm, 0x101000, 0x5a, PG), 0);

    n = tv_drain(m.sfd, sent, 4);
    assert_int_equal(n, 1);
    assert_int_equal(sent[0].hdr.cmd, VFIO_USER_DMA_MAP);
    assert_int_equal(sent[0].body_len, sizeof(dm));
    memcpy(&dm, sent[0].body, sizeof(dm));
    assert_int_equal(dm.argsz, sizeof(dm));
    assert_int_equal(dm.flags, VFIO_USER_F_DMA_REGION_WRITE);
    assert_int_equal(dm.offset, 0);
    assert_int_equal(dm.addr, 0x100000);
    assert_int_equal(dm.size, 4 * PG);
    assert_int_equal(sent[0].nr_fds, 1);
    srv = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
               sent[0].fds[0], 0);
    assert_true(srv != MAP_FAILED);
    assert_int_equal(srv[0], 0);
    assert_int_equal(srv[PG], 0x5a);
    assert_int_equal(srv[2 * PG - 1], 0x5a);
    assert_int_equal(srv[2 * PG], 0);
    /* what the device writes, the guest sees */
    srv[3 * PG + 9] = 0x77;
    assert_int_equal(vmm_mem_read(m.vmm, 0x103009, &b, 1), 0);
    assert_int_equal(b, 0x77);
    tv_free_all(sent, n);

    /* without fd: flags READ|WRITE and no fd */
    tv_reply(m.sfd, 1, VFIO_USER_DMA_MAP, NULL, 0);
    assert_int_equal(vmm_mem_map(m.vmm, 0x200000, PG,
                                 VMM_MEM_RW | VMM_MEM_NOFD),
                     0);
    n = tv_drain(m.sfd, sent, 4);
    assert_int_equal(n, 1);
    memcpy(&dm, sent[0].body, sizeof(dm));
    assert_int_equal(dm.flags, VFIO_USER_F_DMA_REGION_READ |
                                   VFIO_USER_F_DMA_REGION_WRITE);
    assert_int_equal(sent[0].nr_fds, 0);
    tv_free_all(sent, n);

    /* the client kept no fd of its own: only the mappings */
    memfx_close(&m);
    /* the server's mapping outlives the client's */
    assert_int_equal(srv[PG], 0x5a);
    munmap(srv, 4 * PG);
    assert_int_equal(tv_count_maps(MEMFD_TAG), 0);
}

/* Thousands of regions, mapped out of order, found by binary search. */
static void
test_mem_many_regions(void **state)
{
    const unsigned nr = 3000;
    uint8_t *b;
    unsigned i, j;
    uint8_t v;
    memfx_t m;
    proto_msg_t sent[1];

    (void)state;
    memfx_open(&m, NULL);
    /* regions at even pages, visited in a scrambled order */
    for (j = 0; j < nr; j++) {
        uint64_t gpa;

        i = (j * 1237u) % nr;
        gpa = (uint64_t)i * 2 * PG;
        tv_reply(m.sfd, vmm_next_id(m.vmm), VFIO_USER_DMA_MAP, NULL, 0);
        assert_int_equal(
            vmm_mem_map(m.vmm, gpa, PG, VMM_MEM_RW | VMM_MEM_NOFD), 0);
        /* drain as we go: the socket buffer is not endless */
        assert_int_equal(tv_drain(m.sfd, sent, 1), 1);
        tv_free_all(sent, 1);
        assert_int_equal(vmm_mem_fill(m.vmm, gpa, (uint8_t)i, PG), 0);
    }
    for (i = 0; i < nr; i++) {
        b = vmm_mem_ptr(m.vmm, (uint64_t)i * 2 * PG + 100, 10);
        assert_non_null(b);
        assert_int_equal(b[0], (uint8_t)i);
        assert_null(vmm_mem_ptr(m.vmm, (uint64_t)(i * 2 + 1) * PG, 1));
    }
    assert_int_equal(vmm_mem_read(m.vmm, (uint64_t)nr * 2 * PG, &v, 1),
                     -EFAULT);
    /* and every other one goes again */
    for (i = 0; i < nr; i += 2) {
        struct vfio_user_dma_unmap u = {.argsz = sizeof(u),
                                        .addr = (uint64_t)i * 2 * PG,
                                        .size = PG};

        tv_reply(m.sfd, vmm_next_id(m.vmm), VFIO_USER_DMA_UNMAP, &u,
                 sizeof(u));
        assert_int_equal(vmm_mem_unmap(m.vmm, u.addr, PG), 0);
        assert_int_equal(tv_drain(m.sfd, sent, 1), 1);
        tv_free_all(sent, 1);
    }
    for (i = 0; i < nr; i++) {
        int rc = vmm_mem_read(m.vmm, (uint64_t)i * 2 * PG + PG - 1, &v, 1);

        assert_int_equal(rc, i % 2 == 0 ? -EFAULT : 0);
        if (rc == 0) {
            assert_int_equal(v, (uint8_t)i);
        }
    }
    memfx_close(&m);
}

/* ------------------------------------------------------------------ */
/* Serving DMA_READ / DMA_WRITE                                        */
/* ------------------------------------------------------------------ */

static void
test_mem_serve_read_write(void **state)
{
    static const uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t body[sizeof(dma_acc_t) + PG];
    proto_msg_t sent[8];
    vmm_stats_t st;
    dma_acc_t a;
    uint8_t out[8];
    memfx_t m;
    size_t n, len;

    (void)state;
    memfx_open(&m, NULL);
    memfx_map(&m, 0x10000, PG, VMM_MEM_RW | VMM_MEM_NOFD);
    memfx_map(&m, 0x11000, PG, VMM_MEM_RW);

    len = dma_write_body(body, 0x10ffc, data, sizeof(data));
    tv_cmd(m.sfd, 0x500, VFIO_USER_DMA_WRITE, body, len);
    send_dma_read(m.sfd, 0x501, 0x10ffc, 8);
    assert_int_equal(vmm_poll(m.vmm, 1000), 2);

    /* the write landed across both regions */
    assert_int_equal(vmm_mem_read(m.vmm, 0x10ffc, out, 8), 0);
    assert_memory_equal(out, data, 8);

    n = tv_drain(m.sfd, sent, 8);
    assert_int_equal(n, 2);
    /* DMA_WRITE: the access struct echoed, no data */
    check_reply(&sent[0], 0x500, VFIO_USER_DMA_WRITE, 0);
    assert_int_equal(sent[0].body_len, sizeof(a));
    memcpy(&a, sent[0].body, sizeof(a));
    assert_int_equal(a.addr, 0x10ffc);
    assert_int_equal(a.count, 8);
    /* DMA_READ: the struct and the data */
    check_reply(&sent[1], 0x501, VFIO_USER_DMA_READ, 0);
    assert_int_equal(sent[1].body_len, sizeof(a) + 8);
    memcpy(&a, sent[1].body, sizeof(a));
    assert_int_equal(a.addr, 0x10ffc);
    assert_int_equal(a.count, 8);
    assert_memory_equal(sent[1].body + sizeof(a), data, 8);
    tv_free_all(sent, n);

    vmm_get_stats(m.vmm, &st);
    assert_int_equal(st.dma_reads, 1);
    assert_int_equal(st.dma_writes, 1);
    assert_int_equal(st.dma_read_bytes, 8);
    assert_int_equal(st.dma_write_bytes, 8);
    assert_int_equal(st.dma_errors, 0);

    /* served while waiting for a reply, too, the reply still found */
    {
        struct vfio_user_device_info info = {.argsz = sizeof(info),
                                             .num_regions = 9};
        struct vfio_user_device_info got;
        uint16_t id = vmm_next_id(m.vmm);

        send_dma_read(m.sfd, 0x502, 0x11000, PG);
        tv_reply(m.sfd, id, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info));
        assert_int_equal(vmm_device_info(m.vmm, &got), 0);
        assert_int_equal(got.num_regions, 9);
        n = tv_drain(m.sfd, sent, 8);
        assert_int_equal(n, 2);
        assert_int_equal(sent[0].hdr.cmd, VFIO_USER_DEVICE_GET_INFO);
        check_reply(&sent[1], 0x502, VFIO_USER_DMA_READ, 0);
        assert_int_equal(sent[1].body_len, sizeof(a) + PG);
        assert_memory_equal(sent[1].body + sizeof(a), data + 4, 4);
        tv_free_all(sent, n);
    }

    /* a DMA_WRITE that wants no reply is carried out, and not answered */
    len = dma_write_body(body, 0x11800, data, 4);
    tv_send(m.sfd, 0x503, VFIO_USER_DMA_WRITE,
            VFIO_USER_F_TYPE_COMMAND | VFIO_USER_F_NO_REPLY, 0, body, len,
            NULL, 0);
    assert_int_equal(vmm_poll(m.vmm, 1000), 1);
    assert_int_equal(vmm_mem_read(m.vmm, 0x11800, out, 4), 0);
    assert_memory_equal(out, data, 4);
    assert_int_equal(tv_drain(m.sfd, sent, 8), 0);
    vmm_get_stats(m.vmm, &st);
    assert_int_equal(st.dma_reads, 2);
    assert_int_equal(st.dma_writes, 2);
    assert_int_equal(st.dma_read_bytes, 8 + PG);
    memfx_close(&m);
}

/* Every way a server's access can be wrong gets its errno, nothing else. */
static void
test_mem_serve_refused(void **state)
{
    static const uint8_t ones[16] = {1, 1, 1, 1, 1, 1, 1, 1,
                                     1, 1, 1, 1, 1, 1, 1, 1};
    vmm_opts_t opts = {.timeout_ms = 1000, .max_data_xfer_size = 2 * PG};
    uint8_t body[sizeof(dma_acc_t) + 16];
    struct {
        uint16_t cmd;
        uint32_t err;
    } want[] = {
        {VFIO_USER_DMA_READ, EFAULT},   /* nothing mapped there */
        {VFIO_USER_DMA_READ, EFAULT},   /* runs off the end */
        {VFIO_USER_DMA_WRITE, EFAULT},  /* across a gap */
        {VFIO_USER_DMA_WRITE, EACCES},  /* read-only for the device */
        {VFIO_USER_DMA_READ, EACCES},   /* write-only for the device */
        {VFIO_USER_DMA_READ, EACCES},   /* spans into write-only */
        {VFIO_USER_DMA_READ, EINVAL},   /* above max_data_xfer_size */
        {VFIO_USER_DMA_READ, EINVAL},   /* count near 2^64 */
        {VFIO_USER_DMA_READ, EINVAL},   /* address + count wraps */
        {VFIO_USER_DMA_READ, EINVAL},   /* truncated body */
        {VFIO_USER_DMA_WRITE, EINVAL},  /* fewer data bytes than count */
        {VFIO_USER_DMA_WRITE, EINVAL},  /* more data bytes than count */
        {VFIO_USER_DMA_READ, EINVAL},   /* carries an fd */
        {VFIO_USER_REGION_READ, EINVAL},/* a client's command */
        {0x77, ENOSYS},                 /* no such command */
        {VFIO_USER_DMA_READ, 0},        /* count 0: fine, anywhere */
        {VFIO_USER_DMA_WRITE, 0},       /* count 0 */
    };
    proto_msg_t sent[32];
    uint8_t snap[3 * PG], now[3 * PG];
    dma_acc_t a;
    vmm_stats_t st;
    tv_log_t *log;
    memfx_t m;
    size_t len, n, i;
    uint16_t id = 0x700;
    int efd = eventfd(0, EFD_CLOEXEC);

    (void)state;
    assert_true(efd >= 0);
    memfx_open(&m, &opts);
    log = &m.log;
    memfx_map(&m, 0x10000, PG, VMM_MEM_READ | VMM_MEM_NOFD);
    memfx_map(&m, 0x11000, PG, VMM_MEM_WRITE);
    memfx_map(&m, 0x13000, PG, VMM_MEM_RW);
    assert_int_equal(vmm_mem_fill(m.vmm, 0x10000, 0x33, PG), 0);
    assert_int_equal(vmm_mem_fill(m.vmm, 0x11000, 0x44, PG), 0);
    assert_int_equal(vmm_mem_fill(m.vmm, 0x13000, 0x55, PG), 0);
    assert_int_equal(vmm_mem_read(m.vmm, 0x10000, snap, 2 * PG), 0);
    assert_int_equal(vmm_mem_read(m.vmm, 0x13000, snap + 2 * PG, PG), 0);

    send_dma_read(m.sfd, id++, 0x50000, 4);
    send_dma_read(m.sfd, id++, 0x13ffe, 4);
    len = dma_write_body(body, 0x11ffe, ones, 4);
    tv_cmd(m.sfd, id++, VFIO_USER_DMA_WRITE, body, len);
    len = dma_write_body(body, 0x10000, ones, 16);
    tv_cmd(m.sfd, id++, VFIO_USER_DMA_WRITE, body, len);
    send_dma_read(m.sfd, id++, 0x11000, 4);
    send_dma_read(m.sfd, id++, 0x10ff0, 32);
    send_dma_read(m.sfd, id++, 0x13000, 2 * PG + 1);
    send_dma_read(m.sfd, id++, 0x13000, UINT64_MAX);
    send_dma_read(m.sfd, id++, UINT64_MAX - 1, 4);
    a = (dma_acc_t){.addr = 0x13000, .count = 4};
    tv_cmd(m.sfd, id++, VFIO_USER_DMA_READ, &a, 12);
    len = dma_write_body(body, 0x13000, ones, 16);
    ((dma_acc_t *)body)->count = 17;
    tv_cmd(m.sfd, id++, VFIO_USER_DMA_WRITE, body, len);
    ((dma_acc_t *)body)->count = 15;
    tv_cmd(m.sfd, id++, VFIO_USER_DMA_WRITE, body, len);
    tv_send(m.sfd, id++, VFIO_USER_DMA_READ, VFIO_USER_F_TYPE_COMMAND, 0, &a,
            sizeof(a), &efd, 1);
    {
        struct vfio_user_region_access ra = {.region = 0, .count = 4};

        tv_cmd(m.sfd, id++, VFIO_USER_REGION_READ, &ra, sizeof(ra));
    }
    tv_cmd(m.sfd, id++, 0x77, &a, sizeof(a));
    send_dma_read(m.sfd, id++, 0x99999000, 0);
    len = dma_write_body(body, 0x99999000, ones, 0);
    tv_cmd(m.sfd, id++, VFIO_USER_DMA_WRITE, body, len);

    assert_int_equal(vmm_poll(m.vmm, 1000), (int)(sizeof(want) /
                                                  sizeof(want[0])));
    n = tv_drain(m.sfd, sent, 32);
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (i = 0; i < n; i++) {
        check_reply(&sent[i], (uint16_t)(0x700 + i), want[i].cmd,
                    want[i].err);
    }
    /* the zero-count answers: the struct, no data */
    assert_int_equal(sent[n - 2].body_len, sizeof(a));
    assert_int_equal(sent[n - 1].body_len, sizeof(a));
    tv_free_all(sent, n);

    /* nothing changed, nothing leaked (the fd was closed: teardown) */
    assert_int_equal(vmm_mem_read(m.vmm, 0x10000, now, 2 * PG), 0);
    assert_int_equal(vmm_mem_read(m.vmm, 0x13000, now + 2 * PG, PG), 0);
    assert_memory_equal(snap, now, sizeof(snap));
    vmm_get_stats(m.vmm, &st);
    assert_int_equal(st.dma_errors, n - 2);
    assert_int_equal(st.dma_reads, 1);
    assert_int_equal(st.dma_writes, 1);
    assert_int_equal(st.dma_read_bytes, 0);
    assert_true(log->n >= n - 2);
    assert_true(vmm_is_connected(m.vmm));
    close(efd);
    memfx_close(&m);
}

/*
 * The transfer bound is the negotiated one: what the server agreed to,
 * even when we proposed more.
 */
static void
test_mem_serve_negotiated_limit(void **state)
{
    char json[] = "{\"capabilities\":{\"max_data_xfer_size\":4096}}";
    uint8_t vbody[sizeof(struct vfio_user_version) + sizeof(json)];
    struct vfio_user_version v = {0, 0};
    vmm_opts_t opts = {.timeout_ms = 1000};
    proto_msg_t sent[4];
    vmm_t *vmm;
    int sv[2];
    size_t n;

    (void)state;
    memcpy(vbody, &v, sizeof(v));
    memcpy(vbody + sizeof(v), json, sizeof(json));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    tv_reply(sv[1], 0, VFIO_USER_VERSION, vbody, sizeof(vbody));
    assert_int_equal(vmm_connect_fd(sv[0], &opts, &vmm), 0);
    assert_int_equal(vmm_get_caps(vmm)->max_data_xfer_size, 4096);
    tv_reply(sv[1], 1, VFIO_USER_DMA_MAP, NULL, 0);
    assert_int_equal(vmm_mem_map(vmm, 0, 4 * PG, VMM_MEM_RW), 0);
    send_dma_read(sv[1], 0x10, 0, PG);
    send_dma_read(sv[1], 0x11, 0, PG + 1);
    assert_int_equal(vmm_poll(vmm, 1000), 2);
    n = tv_drain(sv[1], sent, 4);
    assert_int_equal(n, 4);
    check_reply(&sent[2], 0x10, VFIO_USER_DMA_READ, 0);
    check_reply(&sent[3], 0x11, VFIO_USER_DMA_READ, EINVAL);
    tv_free_all(sent, n);
    vmm_close(vmm);
    close(sv[1]);
}

/* ------------------------------------------------------------------ */
/* vmm_poll                                                            */
/* ------------------------------------------------------------------ */

static void
test_mem_poll(void **state)
{
    struct vfio_user_device_info info = {.argsz = sizeof(info)};
    memfx_t m;

    (void)state;
    memfx_open(&m, NULL);
    /* nothing there */
    assert_int_equal(vmm_poll(m.vmm, 0), 0);
    assert_int_equal(vmm_poll(m.vmm, 10), 0);
    /* a reply nobody waits for: logged and dropped */
    tv_reply(m.sfd, 0x4444, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info));
    assert_int_equal(vmm_poll(m.vmm, 1000), 0);
    assert_int_equal(m.log.n, 1);
    assert_non_null(strstr(m.log.last, "dropped"));
    assert_int_equal(vmm_poll(m.vmm, 0), 0);
    assert_int_equal(vmm_poll(m.vmm, -1), -EINVAL);
    assert_int_equal(vmm_poll(NULL, 0), -EINVAL);
    /* a command, then the server hangs up: served, then the news */
    send_dma_read(m.sfd, 0x1, 0x1000, 4);
    close(m.sfd);
    assert_int_equal(vmm_poll(m.vmm, 1000), 1);
    assert_int_equal(vmm_poll(m.vmm, 1000), -ENOTCONN);
    assert_false(vmm_is_connected(m.vmm));
    vmm_close(m.vmm);
}

static void
test_mem_poll_inproc(void **state)
{
    tv_fx_t fx;

    (void)state;
    assert_int_equal(tv_fx_open(&fx, "gpio", false, NULL), 0);
    assert_int_equal(vmm_poll(fx.vmm, 0), 0);
    assert_int_equal(vmm_poll(fx.vmm, 100), 0);
    tv_fx_close(&fx);
}

/* ------------------------------------------------------------------ */
/* Twin socket                                                         */
/* ------------------------------------------------------------------ */

/*
 * A scripted VERSION reply carrying @json and, when @fd >= 0, that fd;
 * then connect.  Returns what vmm_connect_fd() returned.
 */
static int
twin_connect(int sv[2], const char *json, int fd, vmm_t **vmm,
             tv_log_t *log)
{
    uint8_t body[512];
    struct vfio_user_version v = {0, 0};
    vmm_opts_t opts = {.timeout_ms = 1000, .twin_socket = true};
    size_t len = strlen(json) + 1;

    (void)log;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    memcpy(body, &v, sizeof(v));
    memcpy(body + sizeof(v), json, len);
    tv_send(sv[1], 0, VFIO_USER_VERSION, VFIO_USER_F_TYPE_REPLY, 0, body,
            sizeof(v) + len, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
    return vmm_connect_fd(sv[0], &opts, vmm);
}

static void
test_twin_fake_serves_on_twin(void **state)
{
    static const uint8_t data[4] = {9, 8, 7, 6};
    struct vfio_user_device_info info = {.argsz = sizeof(info),
                                         .num_regions = 3};
    struct vfio_user_device_info got;
    uint8_t body[sizeof(dma_acc_t) + 4];
    proto_msg_t sent[4];
    proto_caps_t caps;
    dma_acc_t a;
    vmm_t *vmm;
    uint8_t out[4];
    int sv[2], tw[2];
    size_t n, len;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tw),
                     0);
    assert_int_equal(
        twin_connect(sv,
                     "{\"capabilities\":{\"max_msg_fds\":8,\"twin_socket\":"
                     "{\"supported\":true,\"fd_index\":0}}}",
                     tw[1], &vmm, NULL),
        0);
    close(tw[1]); /* the client has its own copy now */
    assert_true(vmm_get_caps(vmm)->twin_socket);
    /* what we proposed */
    n = tv_drain(sv[1], sent, 4);
    assert_int_equal(n, 1);
    assert_non_null(strstr((const char *)sent[0].body +
                               sizeof(struct vfio_user_version),
                           "\"twin_socket\""));
    assert_int_equal(proto_caps_parse((const char *)sent[0].body +
                                          sizeof(struct vfio_user_version),
                                      sent[0].body_len -
                                          sizeof(struct vfio_user_version),
                                      &caps),
                     0);
    assert_true(caps.twin_socket);
    tv_free_all(sent, n);

    tv_reply(sv[1], 1, VFIO_USER_DMA_MAP, NULL, 0);
    assert_int_equal(vmm_mem_map(vmm, 0x8000, PG, VMM_MEM_RW | VMM_MEM_NOFD),
                     0);
    n = tv_drain(sv[1], sent, 4);
    tv_free_all(sent, n);

    /* commands on the twin, served while we wait on the main socket */
    len = dma_write_body(body, 0x8010, data, 4);
    tv_cmd(tw[0], 0x30, VFIO_USER_DMA_WRITE, body, len);
    send_dma_read(tw[0], 0x31, 0x8010, 4);
    tv_reply(sv[1], 2, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info));
    assert_int_equal(vmm_device_info(vmm, &got), 0);
    assert_int_equal(got.num_regions, 3);
    assert_int_equal(vmm_mem_read(vmm, 0x8010, out, 4), 0);
    assert_memory_equal(out, data, 4);
    /* the answers went back on the twin, the request on the main */
    n = tv_drain(tw[0], sent, 4);
    assert_int_equal(n, 2);
    check_reply(&sent[0], 0x30, VFIO_USER_DMA_WRITE, 0);
    check_reply(&sent[1], 0x31, VFIO_USER_DMA_READ, 0);
    memcpy(&a, sent[1].body, sizeof(a));
    assert_int_equal(a.count, 4);
    assert_memory_equal(sent[1].body + sizeof(a), data, 4);
    tv_free_all(sent, n);
    n = tv_drain(sv[1], sent, 4);
    assert_int_equal(n, 1);
    assert_int_equal(sent[0].hdr.cmd, VFIO_USER_DEVICE_GET_INFO);
    tv_free_all(sent, n);

    /* vmm_poll watches the twin too; a reply there is dropped */
    send_dma_read(tw[0], 0x32, 0x9000, 4);
    tv_reply(tw[0], 0x33, VFIO_USER_DMA_READ, NULL, 0);
    assert_int_equal(vmm_poll(vmm, 1000), 1);
    assert_int_equal(vmm_poll(vmm, 100), 0);
    n = tv_drain(tw[0], sent, 4);
    assert_int_equal(n, 1);
    check_reply(&sent[0], 0x32, VFIO_USER_DMA_READ, EFAULT);
    tv_free_all(sent, n);

    /* the server closes the twin: the main socket goes on */
    close(tw[0]);
    assert_int_equal(vmm_poll(vmm, 100), 0);
    tv_reply(sv[1], 3, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info));
    /* device info is cached: a raw request shows the main socket works */
    {
        vmm_reply_t r;

        assert_int_equal(vmm_send_raw(vmm, VFIO_USER_DEVICE_GET_INFO, &info,
                                      sizeof(info), NULL, 0, &r),
                         0);
        assert_int_equal(r.hdr.msg_id, 3);
        vmm_reply_free(&r);
    }
    vmm_close(vmm);
    close(sv[1]);
}

/* A twin-socket answer the client must not accept, or may ignore. */
static void
test_twin_fake_bad_replies(void **state)
{
    vmm_t *vmm = (vmm_t *)1;
    int sv[2], tw[2];
    int efd = eventfd(0, EFD_CLOEXEC);

    (void)state;
    assert_true(efd >= 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tw),
                     0);
    /* supported, no fd_index: inconsistent */
    assert_int_equal(
        twin_connect(sv, "{\"capabilities\":{\"twin_socket\":"
                         "{\"supported\":true}}}",
                     tw[1], &vmm, NULL),
        -EPROTO);
    assert_null(vmm);
    close(sv[1]);
    /* an index past the fds */
    assert_int_equal(
        twin_connect(sv, "{\"capabilities\":{\"twin_socket\":"
                         "{\"supported\":true,\"fd_index\":1}}}",
                     tw[1], &vmm, NULL),
        -EPROTO);
    close(sv[1]);
    /* no fd at all */
    assert_int_equal(
        twin_connect(sv, "{\"capabilities\":{\"twin_socket\":"
                         "{\"supported\":true,\"fd_index\":0}}}",
                     -1, &vmm, NULL),
        -EPROTO);
    close(sv[1]);
    /* the fd is no socket */
    assert_int_equal(
        twin_connect(sv, "{\"capabilities\":{\"twin_socket\":"
                         "{\"supported\":true,\"fd_index\":0}}}",
                     efd, &vmm, NULL),
        -EPROTO);
    close(sv[1]);
    /* declined: one socket for everything (the stray fd is closed) */
    assert_int_equal(
        twin_connect(sv, "{\"capabilities\":{\"twin_socket\":"
                         "{\"supported\":false}}}",
                     tw[1], &vmm, NULL),
        0);
    assert_false(vmm_get_caps(vmm)->twin_socket);
    vmm_close(vmm);
    close(sv[1]);
    /* no twin_socket key at all */
    assert_int_equal(twin_connect(sv, "{}", -1, &vmm, NULL), 0);
    assert_false(vmm_get_caps(vmm)->twin_socket);
    vmm_close(vmm);
    close(sv[1]);
    close(tw[0]);
    close(tw[1]);
    close(efd);
}

/* Our own server sets up the twin socket when asked. */
static void
test_twin_real_server(void **state)
{
    vmm_opts_t opts = {.twin_socket = true};
    tv_fx_t fx;
    uint64_t v;

    (void)state;
    assert_int_equal(tv_fx_open(&fx, "gpio", true, &opts), 0);
    assert_true(vmm_get_caps(fx.vmm)->twin_socket);
    assert_int_equal(vmm_config_read(fx.vmm, 0, 2, &v), 0);
    assert_int_equal(v, 0x4e58);
    assert_int_equal(vmm_poll(fx.vmm, 0), 0);
    tv_fx_close(&fx);

    /* in-process there is no second stream to have */
    memset(&fx, 0, sizeof(fx));
    assert_int_equal(tv_fx_open(&fx, "gpio", false, &opts), -ENOTSUP);
    assert_null(fx.vmm);
    tv_fx_close(&fx);
}


/* ------------------------------------------------------------------ */
/* End to end: a device doing DMA through our server                   */
/* ------------------------------------------------------------------ */

/*
 * A tiny DMA device on BAR0: ADDR (0x00, u64), LEN (0x08, u32), CMD
 * (0x0c: 1 copies guest memory into the buffer with vfu_sgl_read, 2 the
 * buffer into guest memory with vfu_sgl_write; bit 8 asks for direct
 * access), STATUS (0x10: errno of the last command), the buffer at
 * 0x100.  It goes through the public server API only.
 */
#define DT_ADDR 0x00
#define DT_LEN 0x08
#define DT_CMD 0x0c
#define DT_STATUS 0x10
#define DT_BUF 0x100
#define DT_BUF_SIZE 0x100
#define DT_CMD_READ 1u
#define DT_CMD_WRITE 2u
#define DT_CMD_DIRECT 0x100u

typedef struct dmatest {
    uint8_t regs[DT_BUF + DT_BUF_SIZE];
} dmatest_t;

static uint32_t
dt_run(vfu_ctx_t *ctx, dmatest_t *d, uint32_t cmd)
{
    bool write = (cmd & 0xff) == DT_CMD_WRITE;
    int flags = (cmd & DT_CMD_DIRECT) ? VFU_SGL_DIRECT_ACCESS : 0;
    uint64_t addr;
    uint32_t len;
    dma_sg_t *sg;
    int n, rc;

    memcpy(&addr, d->regs + DT_ADDR, 8);
    memcpy(&len, d->regs + DT_LEN, 4);
    if (len > DT_BUF_SIZE) {
        return EINVAL;
    }
    sg = calloc(4, dma_sg_size());
    if (sg == NULL) {
        return ENOMEM;
    }
    n = vfu_addr_to_sgl(ctx, (vfu_dma_addr_t)(uintptr_t)addr, len, sg, 4,
                        write ? PROT_WRITE : PROT_READ);
    if (n < 0) {
        rc = n == -1 ? errno : E2BIG;
    } else if (write) {
        rc = vfu_sgl_write(ctx, sg, (size_t)n, d->regs + DT_BUF, flags) < 0
                 ? errno
                 : 0;
    } else {
        rc = vfu_sgl_read(ctx, sg, (size_t)n, d->regs + DT_BUF, flags) < 0
                 ? errno
                 : 0;
    }
    free(sg);
    return (uint32_t)rc;
}

static ssize_t
dt_bar0(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset,
        bool is_write)
{
    dmatest_t *d = vfu_get_private(ctx);

    if (offset < 0 || !proto_range_ok((uint64_t)offset, count,
                                      sizeof(d->regs))) {
        errno = EINVAL;
        return -1;
    }
    if (!is_write) {
        memcpy(buf, d->regs + offset, count);
        return (ssize_t)count;
    }
    memcpy(d->regs + offset, buf, count);
    if (offset == DT_CMD && count == 4) {
        uint32_t cmd, st;

        memcpy(&cmd, buf, 4);
        st = dt_run(ctx, d, cmd);
        memcpy(d->regs + DT_STATUS, &st, 4);
    }
    return (ssize_t)count;
}

/* The device on @fx (its context and state), then a client. */
static int
dt_open(tv_fx_t *fx, dmatest_t *d, bool sock, const vmm_opts_t *opts)
{
    vfu_ctx_t *ctx;

    memset(fx, 0, sizeof(*fx));
    memset(d, 0, sizeof(*d));
    fx->sock = sock;
    if (sock) {
        snprintf(fx->path, sizeof(fx->path), "%s", tu_sock_path("dt"));
    }
    ctx = vfu_create_ctx(sock ? VFU_TRANS_SOCK : VFU_TRANS_EXT_INPROC,
                         sock ? fx->path : NULL,
                         sock ? 0 : LIBVFIO_USER_FLAG_ATTACH_NB, d,
                         VFU_DEV_TYPE_PCI);
    if (ctx == NULL) {
        return -errno;
    }
    fx->dev.ctx = ctx;
    if (vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL,
                     0) < 0 ||
        vfu_setup_region(ctx, VFU_PCI_DEV_BAR0_REGION_IDX, 0x200, dt_bar0,
                         VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM, NULL, 0,
                         -1, 0) < 0 ||
        vfu_setup_device_dma(ctx, 64, NULL, NULL) < 0 ||
        vfu_realize_ctx(ctx) < 0) {
        return -errno;
    }
    return tv_fx_open_ctx(fx, sock, opts);
}

/* Program the device and run @cmd; returns its STATUS. */
static uint32_t
dt_cmd(tv_fx_t *fx, uint64_t addr, uint32_t len, uint32_t cmd)
{
    uint64_t st;

    assert_int_equal(vmm_region_write_val(fx->vmm, 0, DT_ADDR, 8, addr), 0);
    assert_int_equal(vmm_region_write_val(fx->vmm, 0, DT_LEN, 4, len), 0);
    assert_int_equal(vmm_region_write_val(fx->vmm, 0, DT_CMD, 4, cmd), 0);
    assert_int_equal(vmm_region_read_val(fx->vmm, 0, DT_STATUS, 4, &st), 0);
    return (uint32_t)st;
}

static void
dt_e2e(bool sock, const vmm_opts_t *opts)
{
    uint8_t pat[64], got[64];
    vmm_stats_t st;
    dmatest_t d;
    tv_fx_t fx;
    size_t i;

    assert_int_equal(dt_open(&fx, &d, sock, opts), 0);
    if (opts != NULL && opts->twin_socket) {
        assert_true(vmm_get_caps(fx.vmm)->twin_socket);
    }
    assert_int_equal(vmm_mem_map(fx.vmm, 0x100000, 2 * PG,
                                 VMM_MEM_RW | VMM_MEM_NOFD),
                     0);
    for (i = 0; i < sizeof(pat); i++) {
        pat[i] = (uint8_t)(0x40 + i);
    }
    assert_int_equal(vmm_mem_write(fx.vmm, 0x100ff0, pat, sizeof(pat)), 0);

    /* the device reads guest memory: a DMA_READ we serve */
    assert_int_equal(dt_cmd(&fx, 0x100ff0, 64, DT_CMD_READ), 0);
    assert_int_equal(vmm_region_read(fx.vmm, 0, DT_BUF, got, 64), 0);
    assert_memory_equal(got, pat, 64);
    vmm_get_stats(fx.vmm, &st);
    assert_int_equal(st.dma_reads, 1);
    assert_int_equal(st.dma_read_bytes, 64);

    /* and writes it: a DMA_WRITE */
    for (i = 0; i < sizeof(pat); i++) {
        pat[i] = (uint8_t)(0xc0 ^ i);
    }
    assert_int_equal(vmm_region_write(fx.vmm, 0, DT_BUF, pat, 64), 0);
    assert_int_equal(dt_cmd(&fx, 0x101000, 64, DT_CMD_WRITE), 0);
    assert_int_equal(vmm_mem_read(fx.vmm, 0x101000, got, 64), 0);
    assert_memory_equal(got, pat, 64);
    vmm_get_stats(fx.vmm, &st);
    assert_int_equal(st.dma_writes, 1);
    assert_int_equal(st.dma_write_bytes, 64);
    assert_int_equal(st.dma_errors, 0);

    /* fd-backed memory with direct access: no message at all */
    assert_int_equal(vmm_mem_map(fx.vmm, 0x200000, PG, VMM_MEM_RW), 0);
    assert_int_equal(dt_cmd(&fx, 0x200000, 64,
                            DT_CMD_WRITE | DT_CMD_DIRECT),
                     0);
    assert_int_equal(vmm_mem_read(fx.vmm, 0x200000, got, 64), 0);
    assert_memory_equal(got, pat, 64);
    vmm_get_stats(fx.vmm, &st);
    assert_int_equal(st.dma_writes, 1);

    /* gone again: the device cannot reach it */
    assert_int_equal(vmm_mem_unmap(fx.vmm, 0x100000, 2 * PG), 0);
    assert_int_not_equal(dt_cmd(&fx, 0x100ff0, 64, DT_CMD_READ), 0);
    assert_int_equal(vmm_mem_unmap_all(fx.vmm), 0);
    assert_int_not_equal(dt_cmd(&fx, 0x200000, 64, DT_CMD_READ), 0);
    vmm_get_stats(fx.vmm, &st);
    assert_int_equal(st.dma_reads, 1);
    assert_true(vmm_is_connected(fx.vmm));
    tv_fx_close(&fx);
}

static void
test_e2e_dma_inproc(void **state)
{
    (void)state;
    dt_e2e(false, NULL);
}

static void
test_e2e_dma_socket(void **state)
{
    (void)state;
    dt_e2e(true, NULL);
}

static void
test_e2e_dma_twin_socket(void **state)
{
    vmm_opts_t opts = {.twin_socket = true};

    (void)state;
    dt_e2e(true, &opts);
}

/* ------------------------------------------------------------------ */

#define PLAIN(fn)                                                              \
    cmocka_unit_test_setup_teardown(fn, tu_fd_setup, tu_fd_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        PLAIN(test_mem_local_spanning),
        PLAIN(test_mem_map_errors),
        PLAIN(test_mem_unmap),
        PLAIN(test_mem_map_passes_memfd),
        PLAIN(test_mem_many_regions),
        PLAIN(test_mem_serve_read_write),
        PLAIN(test_mem_serve_refused),
        PLAIN(test_mem_serve_negotiated_limit),
        PLAIN(test_mem_poll),
        PLAIN(test_mem_poll_inproc),
        PLAIN(test_twin_fake_serves_on_twin),
        PLAIN(test_twin_fake_bad_replies),
        PLAIN(test_twin_real_server),
        PLAIN(test_e2e_dma_inproc),
        PLAIN(test_e2e_dma_socket),
        PLAIN(test_e2e_dma_twin_socket),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
