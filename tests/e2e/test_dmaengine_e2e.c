/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_dmaengine_e2e.c - the dmaengine accelerator driven end to end the
 * way its driver would drive it: through the fake VMM, in-process and over
 * a UNIX socket to the real `dmaengine` binary, with fd-backed guest
 * memory (the device maps it) and fd-less memory (every byte travels in
 * DMA_READ / DMA_WRITE messages).  Results are checked byte for byte
 * against references computed here, CRC32C with its own bitwise
 * implementation and the RFC 3720 test vectors.
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/testutil.h"

#include "devices.h"
#include "dmaengine/dmaengine.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/vmm.h"

#define BAR0 VFU_PCI_DEV_BAR0_REGION_IDX
#define CFG VFU_PCI_DEV_CFG_REGION_IDX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX
#define INTX VFIO_PCI_INTX_IRQ_INDEX

/*
 * Guest memory.  The ring and record regions are followed by holes, data
 * regions A and B touch (so one buffer can span both), and the device may
 * only read the RO region.
 */
#define GPA_RING 0x00100000ull /* 1 MiB: 256 KiB of ring per queue */
#define SIZE_RING 0x00100000ull
#define RING_AREA 0x40000ull
#define GPA_COMPL 0x00300000ull /* 1 MiB of completion records */
#define SIZE_COMPL 0x00100000ull
#define NR_RECORDS (SIZE_COMPL / DMAE_COMPL_SIZE)
#define GPA_A 0x01000000ull /* 8 MiB */
#define SIZE_A (8ull << 20)
#define GPA_B (GPA_A + SIZE_A) /* 4 MiB, right after A */
#define SIZE_B (4ull << 20)
#define GPA_RO 0x03000000ull /* 64 KiB, device-readable only */
#define SIZE_RO 0x10000ull
#define GPA_RING2 0x04000000ull /* a ring region that tests unmap */
#define SIZE_RING2 0x10000ull
#define GPA_HOLE 0x05000000ull /* nothing is ever mapped here */

/* ------------------------------------------------------------------ */
/* Fixture: one device and one client                                  */
/* ------------------------------------------------------------------ */

typedef struct drv_q {
    uint64_t ring;
    uint32_t size;
    uint32_t tail; /* the next slot the driver fills */
} drv_q_t;

typedef struct fx {
    bool inproc;
    bool nofd;
    vfu_device_t dev; /* in-process device */
    pid_t pid;        /* the spawned dmaengine binary */
    char path[256];
    vmm_t *vmm;
    drv_q_t dq[DMAE_NR_QUEUES];
    uint64_t next_rec;
    uint32_t errors; /* expected ERR_COUNT */
} fx_t;

/*
 * In-process, the server's log is ours to read: a DMA region unmapped
 * while the device still holds vfu_sgl_get() entries of it is a device
 * bug (a missed vfu_sgl_put()), which the server reports as a warning.
 */
static unsigned int held_warnings;

static void
log_check(vfu_ctx_t *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= LOG_WARNING && strstr(msg, "still held") != NULL) {
        fprintf(stderr, "server: %s\n", msg);
        held_warnings++;
    }
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int
fx_connect(fx_t *fx)
{
    int rc = -EINVAL;
    int i;

    if (fx->inproc) {
        return vmm_attach_inproc(fx->dev.ctx, NULL, &fx->vmm);
    }
    for (i = 0; i < 200; i++) {
        rc = vmm_connect(fx->path, NULL, &fx->vmm);
        if (rc != -ECONNREFUSED && rc != -ENOENT) {
            break;
        }
        sleep_ms(10);
    }
    return rc;
}

/* Close the client; in-process, let the context notice (as gpio's test). */
static void
fx_drop_client(fx_t *fx)
{
    vmm_close(fx->vmm);
    fx->vmm = NULL;
    if (fx->inproc && fx->dev.ctx != NULL) {
        int rc = vfu_run_ctx(fx->dev.ctx);

        assert_int_equal(rc, -1);
        assert_int_equal(errno, ENOTCONN);
    }
}

static pid_t
spawn_dmaengine(const char *path, bool once)
{
    char bin[4096];
    char sock[256];
    char opt1[] = "-1";
    char *argv[] = {bin, sock, NULL, NULL};

    snprintf(bin, sizeof(bin), "%s", tu_build_path("devices/dmaengine"));
    snprintf(sock, sizeof(sock), "%s", path);
    if (once) {
        argv[1] = opt1;
        argv[2] = sock;
    }
    return tu_spawn(argv, path);
}

/* SIGTERM the server and reap it (signalling again if it lingers). */
static int
stop_dmaengine(pid_t pid)
{
    int status;
    int i;

    if (pid <= 0) {
        return -1;
    }
    kill(pid, SIGTERM);
    for (i = 0; i < 200; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        }
        sleep_ms(10);
    }
    return tu_kill(pid);
}

static int
fx_setup(void **state, bool inproc, bool nofd)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    int rc;

    tu_fd_setup(state);
    if (fx == NULL) {
        return -1;
    }
    fx->inproc = inproc;
    fx->nofd = nofd;
    fx->pid = -1;
    if (inproc) {
        rc = vfu_device_open("dmaengine", VFU_TRANS_EXT_INPROC, NULL, 0,
                             &fx->dev);
        if (rc < 0) {
            fprintf(stderr, "vfu_device_open: %s\n", strerror(-rc));
            free(fx);
            return -1;
        }
        held_warnings = 0;
        if (vfu_setup_log(fx->dev.ctx, log_check, LOG_WARNING) < 0) {
            vfu_device_close(&fx->dev);
            free(fx);
            return -1;
        }
    } else {
        snprintf(fx->path, sizeof(fx->path), "%s", tu_sock_path("dmae"));
        fx->pid = spawn_dmaengine(fx->path, false);
        if (fx->pid < 0) {
            fprintf(stderr, "cannot spawn %s\n",
                    tu_build_path("devices/dmaengine"));
            free(fx);
            return -1;
        }
    }
    rc = fx_connect(fx);
    if (rc < 0) {
        fprintf(stderr, "connect: %s\n", strerror(-rc));
        if (inproc) {
            vfu_device_close(&fx->dev);
        } else {
            stop_dmaengine(fx->pid);
        }
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int
fx_setup_inproc_fd(void **state)
{
    return fx_setup(state, true, false);
}

static int
fx_setup_inproc_nofd(void **state)
{
    return fx_setup(state, true, true);
}

static int
fx_setup_sock_fd(void **state)
{
    return fx_setup(state, false, false);
}

static int
fx_setup_sock_nofd(void **state)
{
    return fx_setup(state, false, true);
}

static int
fx_teardown(void **state)
{
    fx_t *fx = *state;
    int status = 0;

    if (fx != NULL) {
        vmm_close(fx->vmm);
        if (fx->inproc) {
            vfu_device_close(&fx->dev);
            if (held_warnings != 0) {
                fprintf(stderr, "sg entries still held at unmap\n");
                status = -1;
            }
        } else {
            status = stop_dmaengine(fx->pid);
            if (status != 0) {
                fprintf(stderr, "dmaengine exited with status %d\n", status);
            } else if (access(fx->path, F_OK) == 0) {
                fprintf(stderr, "dmaengine left %s behind\n", fx->path);
                status = -1;
            }
        }
        free(fx);
        *state = NULL;
    }
    if (tu_fd_teardown(state) < 0) {
        return -1;
    }
    return status == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Register and config access                                          */
/* ------------------------------------------------------------------ */

static uint64_t
bar_rd(fx_t *fx, uint64_t off, size_t size)
{
    uint64_t v = ~0ull;

    assert_int_equal(vmm_region_read_val(fx->vmm, BAR0, off, size, &v), 0);
    return v;
}

static void
bar_wr(fx_t *fx, uint64_t off, size_t size, uint64_t v)
{
    assert_int_equal(vmm_region_write_val(fx->vmm, BAR0, off, size, v), 0);
}

static uint64_t
cfg_rd(fx_t *fx, uint64_t off, size_t size)
{
    uint64_t v = ~0ull;

    assert_int_equal(vmm_config_read(fx->vmm, off, size, &v), 0);
    return v;
}

static void
cfg_wr(fx_t *fx, uint64_t off, size_t size, uint64_t v)
{
    assert_int_equal(vmm_config_write(fx->vmm, off, size, v), 0);
}

/* Macros, so that a failure names the test's own line. */
#define EXPECT_REG(fx, off, want)                                              \
    assert_int_equal(bar_rd((fx), (off), 4), (uint64_t)(want))
#define EXPECT_QREG(fx, q, r, want)                                            \
    EXPECT_REG((fx), DMAE_QREG((q), (r)), (want))
#define EXPECT_CFG(fx, off, size, want)                                        \
    assert_int_equal(cfg_rd((fx), (off), (size)), (uint64_t)(want))

/* Offset of capability @id in config space, 0 if absent. */
static uint64_t
find_cap(fx_t *fx, uint8_t id)
{
    uint64_t pos = cfg_rd(fx, PCI_CAPABILITY_LIST, 1);
    int hops = 0;

    while (pos != 0 && hops++ < 48) {
        if (cfg_rd(fx, pos + PCI_CAP_LIST_ID, 1) == id) {
            return pos;
        }
        pos = cfg_rd(fx, pos + PCI_CAP_LIST_NEXT, 1);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Guest memory and the driver                                         */
/* ------------------------------------------------------------------ */

/* Map the standard guest memory. */
static void
fx_map(fx_t *fx)
{
    uint32_t nofd = fx->nofd ? VMM_MEM_NOFD : 0;

    assert_int_equal(
        vmm_mem_map(fx->vmm, GPA_RING, SIZE_RING, VMM_MEM_RW | nofd), 0);
    assert_int_equal(
        vmm_mem_map(fx->vmm, GPA_COMPL, SIZE_COMPL, VMM_MEM_RW | nofd), 0);
    assert_int_equal(vmm_mem_map(fx->vmm, GPA_A, SIZE_A, VMM_MEM_RW | nofd),
                     0);
    assert_int_equal(vmm_mem_map(fx->vmm, GPA_B, SIZE_B, VMM_MEM_RW | nofd),
                     0);
    assert_int_equal(
        vmm_mem_map(fx->vmm, GPA_RO, SIZE_RO, VMM_MEM_READ | nofd), 0);
}

static void
fx_irq_enable(fx_t *fx, uint32_t index, uint32_t count)
{
    assert_int_equal(vmm_irq_enable(fx->vmm, index, 0, count), 0);
}

static void
msix_enable(fx_t *fx, bool enable)
{
    uint64_t cap = find_cap(fx, PCI_CAP_ID_MSIX);
    uint64_t flags;

    assert_int_not_equal(cap, 0);
    flags = cfg_rd(fx, cap + PCI_MSIX_FLAGS, 2);
    flags = enable ? flags | PCI_MSIX_FLAGS_ENABLE
                   : flags & ~(uint64_t)PCI_MSIX_FLAGS_ENABLE;
    cfg_wr(fx, cap + PCI_MSIX_FLAGS, 2, flags);
}

/* MSI-X on, one eventfd per vector. */
static void
fx_msix(fx_t *fx)
{
    msix_enable(fx, true);
    fx_irq_enable(fx, MSIX, DMAE_MSIX_VECTORS);
    EXPECT_REG(fx, DMAE_REG_INT_MODE, DMAE_INT_MODE_MSIX);
}

static uint64_t
irq_take(fx_t *fx, uint32_t index, uint32_t vector)
{
    uint64_t n = ~0ull;

    assert_int_equal(vmm_irq_count(fx->vmm, index, vector, true, &n), 0);
    return n;
}

static void
drv_enable(fx_t *fx)
{
    bar_wr(fx, DMAE_REG_CTRL, 4, DMAE_CTRL_ENABLE);
    EXPECT_REG(fx, DMAE_REG_CTRL, DMAE_CTRL_ENABLE);
}

/* Reset queue @q, point it at @ring of @size entries and start it. */
static void
q_start_at(fx_t *fx, unsigned int q, uint64_t ring, uint32_t size,
           uint32_t int_ctrl)
{
    bar_wr(fx, DMAE_QREG(q, DMAE_Q_CTRL), 4, DMAE_QCTRL_RESET);
    bar_wr(fx, DMAE_QREG(q, DMAE_Q_RING_LO), 8, ring);
    bar_wr(fx, DMAE_QREG(q, DMAE_Q_RING_SIZE), 4, size);
    bar_wr(fx, DMAE_QREG(q, DMAE_Q_INT_CTRL), 4, int_ctrl);
    bar_wr(fx, DMAE_QREG(q, DMAE_Q_CTRL), 4, DMAE_QCTRL_ENABLE);
    fx->dq[q].ring = ring;
    fx->dq[q].size = size;
    fx->dq[q].tail = 0;
}

static void
q_start(fx_t *fx, unsigned int q, uint32_t size, uint32_t int_ctrl)
{
    q_start_at(fx, q, GPA_RING + q * RING_AREA, size, int_ctrl);
    /* the ring is mapped (when it can be) at the first doorbell */
    EXPECT_QREG(fx, q, DMAE_Q_STATUS, DMAE_QSTATUS_RUNNING);
    EXPECT_QREG(fx, q, DMAE_Q_HEAD, 0);
    EXPECT_QREG(fx, q, DMAE_Q_TAIL, 0);
}

static dmae_desc_t
mkdesc(uint8_t op, uint8_t flags, uint32_t len, uint64_t src, uint64_t dst,
       uint64_t compl_addr, uint64_t pattern, uint64_t tag)
{
    dmae_desc_t d;

    memset(&d, 0, sizeof(d));
    d.opcode = op;
    d.flags = flags;
    d.len = htole32(len);
    d.src = htole64(src);
    d.dst = htole64(dst);
    d.completion = htole64(compl_addr);
    d.pattern = htole64(pattern);
    d.tag = htole64(tag);
    return d;
}

/* Write @d into the next free slot of queue @q (no doorbell yet). */
static uint32_t
q_put(fx_t *fx, unsigned int q, const dmae_desc_t *d)
{
    drv_q_t *dq = &fx->dq[q];
    uint32_t slot = dq->tail;

    assert_int_equal(vmm_mem_write(fx->vmm,
                                   dq->ring + (uint64_t)slot * DMAE_DESC_SIZE,
                                   d, sizeof(*d)),
                     0);
    dq->tail = (slot + 1) & (dq->size - 1);
    return slot;
}

static void
q_ring(fx_t *fx, unsigned int q)
{
    bar_wr(fx, DMAE_QREG(q, DMAE_Q_TAIL), 4, fx->dq[q].tail);
}

/* A fresh, zeroed completion record. */
static uint64_t
rec_alloc(fx_t *fx)
{
    uint64_t gpa = GPA_COMPL + (fx->next_rec++ % NR_RECORDS) * DMAE_COMPL_SIZE;

    assert_int_equal(vmm_mem_fill(fx->vmm, gpa, 0, DMAE_COMPL_SIZE), 0);
    return gpa;
}

static dmae_compl_t
rec_read(fx_t *fx, uint64_t gpa)
{
    dmae_compl_t r;

    assert_int_equal(vmm_mem_read(fx->vmm, gpa, &r, sizeof(r)), 0);
    r.status = le32toh(r.status);
    r.result = le32toh(r.result);
    r.bytes = le64toh(r.bytes);
    r.tag = le64toh(r.tag);
    r.detail = le64toh(r.detail);
    return r;
}

#define EXPECT_REC(fx, gpa, st, res, nbytes, tg, det)                          \
    do {                                                                       \
        dmae_compl_t r_ = rec_read((fx), (gpa));                               \
        assert_int_equal(r_.status, (st));                                     \
        assert_int_equal(r_.result, (res));                                    \
        assert_int_equal(r_.bytes, (nbytes));                                  \
        assert_int_equal(r_.tag, (tg));                                        \
        assert_int_equal(r_.detail, (det));                                    \
    } while (0)

/*
 * Run one descriptor on queue @q with a record; returns the record's
 * address after checking that the queue consumed it.
 */
static uint64_t
run1(fx_t *fx, unsigned int q, uint8_t op, uint32_t len, uint64_t src,
     uint64_t dst, uint64_t pattern, uint64_t tag)
{
    uint64_t rec = rec_alloc(fx);
    dmae_desc_t d =
        mkdesc(op, DMAE_DESC_F_COMPL, len, src, dst, rec, pattern, tag);
    uint32_t done = (uint32_t)bar_rd(fx, DMAE_QREG(q, DMAE_Q_COMPLETED), 4);

    q_put(fx, q, &d);
    q_ring(fx, q);
    assert_false(bar_rd(fx, DMAE_QREG(q, DMAE_Q_STATUS), 4) &
                 DMAE_QSTATUS_HALTED);
    EXPECT_QREG(fx, q, DMAE_Q_HEAD, fx->dq[q].tail);
    EXPECT_QREG(fx, q, DMAE_Q_COMPLETED, done + 1);
    return rec;
}

/* ------------------------------------------------------------------ */
/* References                                                          */
/* ------------------------------------------------------------------ */

/* CRC32C bit by bit: deliberately not the device's table method. */
static uint32_t
ref_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    int k;

    crc = ~crc;
    while (n-- > 0) {
        crc ^= *p++;
        for (k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

static uint8_t
pattern_byte(uint64_t pattern, uint64_t i)
{
    return (uint8_t)(pattern >> (8 * (i % 8)));
}

/* xorshift64*: deterministic test data */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static void
rnd_fill(uint64_t *s, uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        p[i] = (uint8_t)(rnd(s) >> 32);
    }
}

static void
mem_put_random(fx_t *fx, uint64_t gpa, size_t n, uint64_t seed, uint8_t *copy)
{
    uint8_t *buf = copy != NULL ? copy : malloc(n);

    assert_non_null(buf);
    rnd_fill(&seed, buf, n);
    assert_int_equal(vmm_mem_write(fx->vmm, gpa, buf, n), 0);
    if (copy == NULL) {
        free(buf);
    }
}

static uint8_t *
mem_get(fx_t *fx, uint64_t gpa, size_t n)
{
    uint8_t *buf = malloc(n != 0 ? n : 1);

    assert_non_null(buf);
    assert_int_equal(vmm_mem_read(fx->vmm, gpa, buf, n), 0);
    return buf;
}

/* ------------------------------------------------------------------ */
/* Discovery and config space                                          */
/* ------------------------------------------------------------------ */

static void
test_dmae_discovery(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_device_info info;
    struct vfio_irq_info irq;
    const vmm_region_t *r = NULL;
    uint32_t rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    uint32_t i;

    memset(&info, 0, sizeof(info));
    assert_int_equal(vmm_device_info(fx->vmm, &info), 0);
    assert_true(info.flags & VFIO_DEVICE_FLAGS_PCI);
    assert_true(info.flags & VFIO_DEVICE_FLAGS_RESET);
    assert_int_equal(info.num_regions, VFU_PCI_DEV_NUM_REGIONS);

    assert_int_equal(vmm_region_info(fx->vmm, BAR0, &r), 0);
    assert_int_equal(r->size, DMAE_BAR0_SIZE);
    assert_int_equal(r->flags & rw, rw);
    assert_false(r->flags & VFIO_REGION_INFO_FLAG_MMAP);
    assert_int_equal(vmm_region_info(fx->vmm, CFG, &r), 0);
    assert_int_equal(r->size, PCI_CFG_SPACE_EXP_SIZE);
    for (i = VFU_PCI_DEV_BAR1_REGION_IDX; i <= VFU_PCI_DEV_ROM_REGION_IDX;
         i++) {
        assert_int_equal(vmm_region_info(fx->vmm, i, &r), 0);
        assert_int_equal(r->size, 0);
    }

    memset(&irq, 0, sizeof(irq));
    assert_int_equal(vmm_irq_info(fx->vmm, INTX, &irq), 0);
    assert_int_equal(irq.count, 1);
    assert_int_equal(vmm_irq_info(fx->vmm, VFIO_PCI_MSI_IRQ_INDEX, &irq), 0);
    assert_int_equal(irq.count, 0);
    assert_int_equal(vmm_irq_info(fx->vmm, MSIX, &irq), 0);
    assert_int_equal(irq.count, DMAE_MSIX_VECTORS);
    assert_true(irq.flags & VFIO_IRQ_INFO_EVENTFD);
}

static void
test_dmae_config_space(void **state)
{
    fx_t *fx = *state;
    uint64_t pos = cfg_rd(fx, PCI_CAPABILITY_LIST, 1);
    uint64_t ids[3] = {0, 0, 0};
    uint64_t msix, exp;
    int n = 0;

    EXPECT_CFG(fx, PCI_VENDOR_ID, 2, DMAE_VENDOR_ID);
    EXPECT_CFG(fx, PCI_DEVICE_ID, 2, DMAE_DEVICE_ID);
    EXPECT_CFG(fx, PCI_REVISION_ID, 1, DMAE_REVISION);
    EXPECT_CFG(fx, PCI_CLASS_REVISION, 4,
               ((uint32_t)DMAE_CLASS_BASE << 24) |
                   ((uint32_t)DMAE_CLASS_SUB << 16) |
                   ((uint32_t)DMAE_CLASS_PI << 8) | DMAE_REVISION);
    EXPECT_CFG(fx, PCI_SUBSYSTEM_VENDOR_ID, 2, DMAE_SUBSYS_VENDOR_ID);
    EXPECT_CFG(fx, PCI_SUBSYSTEM_ID, 2, DMAE_SUBSYS_ID);
    EXPECT_CFG(fx, PCI_HEADER_TYPE, 1, PCI_HEADER_TYPE_NORMAL);
    EXPECT_CFG(fx, PCI_INTERRUPT_PIN, 1, 1);
    assert_true(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);

    /* PM, then MSI-X, then PCI Express, then the end of the list */
    while (pos != 0) {
        assert_true(n < 3);
        assert_int_equal(pos & 3, 0);
        assert_true(pos >= PCI_STD_HEADER_SIZEOF && pos < PCI_CFG_SPACE_SIZE);
        ids[n++] = cfg_rd(fx, pos, 1);
        pos = cfg_rd(fx, pos + PCI_CAP_LIST_NEXT, 1);
    }
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], PCI_CAP_ID_PM);
    assert_int_equal(ids[1], PCI_CAP_ID_MSIX);
    assert_int_equal(ids[2], PCI_CAP_ID_EXP);

    msix = find_cap(fx, PCI_CAP_ID_MSIX);
    EXPECT_CFG(fx, msix + PCI_MSIX_FLAGS, 2, DMAE_MSIX_VECTORS - 1);
    EXPECT_CFG(fx, msix + PCI_MSIX_TABLE, 4, DMAE_MSIX_TABLE | 0);
    EXPECT_CFG(fx, msix + PCI_MSIX_PBA, 4, DMAE_MSIX_PBA | 0);

    exp = find_cap(fx, PCI_CAP_ID_EXP);
    EXPECT_CFG(fx, exp + PCI_EXP_FLAGS, 2,
               2 | (PCI_EXP_TYPE_ENDPOINT << 4));
    assert_true(cfg_rd(fx, exp + PCI_EXP_DEVCAP, 4) & PCI_EXP_DEVCAP_FLR);

    /* BAR0 is 64-bit memory of 16 KiB; BAR1 holds its upper half */
    EXPECT_CFG(fx, PCI_BASE_ADDRESS_0, 4, PCI_BASE_ADDRESS_MEM_TYPE_64);
    cfg_wr(fx, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
    EXPECT_CFG(fx, PCI_BASE_ADDRESS_0, 4,
               (0xffffffffu & ~(DMAE_BAR0_SIZE - 1)) |
                   PCI_BASE_ADDRESS_MEM_TYPE_64);
    cfg_wr(fx, PCI_BASE_ADDRESS_1, 4, 0xffffffff);
    EXPECT_CFG(fx, PCI_BASE_ADDRESS_1, 4, 0xffffffff);
    cfg_wr(fx, PCI_BASE_ADDRESS_0, 4, 0xfe000000);
    cfg_wr(fx, PCI_BASE_ADDRESS_1, 4, 0x1);
    EXPECT_CFG(fx, PCI_BASE_ADDRESS_0, 4,
               0xfe000000u | PCI_BASE_ADDRESS_MEM_TYPE_64);
    EXPECT_CFG(fx, PCI_BASE_ADDRESS_1, 4, 1);
    EXPECT_REG(fx, DMAE_REG_ID, DMAE_ID_VALUE);
}

/* ------------------------------------------------------------------ */
/* Registers                                                           */
/* ------------------------------------------------------------------ */

static void
test_dmae_regs_identity(void **state)
{
    fx_t *fx = *state;
    uint8_t id[4];
    uint64_t v;
    unsigned int q;

    EXPECT_REG(fx, DMAE_REG_ID, DMAE_ID_VALUE);
    assert_int_equal(vmm_region_read(fx->vmm, BAR0, DMAE_REG_ID, id, 4), 0);
    assert_memory_equal(id, "DMAE", 4);
    EXPECT_REG(fx, DMAE_REG_VERSION, DMAE_VERSION_VALUE);
    EXPECT_REG(fx, DMAE_REG_CAPS, DMAE_CAPS_VALUE);
    assert_int_equal(DMAE_CAPS_QUEUES(DMAE_CAPS_VALUE), DMAE_NR_QUEUES);
    assert_int_equal(DMAE_CAPS_OPS(DMAE_CAPS_VALUE), 0x1f);
    assert_int_equal(1u << DMAE_CAPS_RING_SHIFT(DMAE_CAPS_VALUE),
                     DMAE_MAX_RING);
    EXPECT_REG(fx, DMAE_REG_MAX_LEN, DMAE_MAX_LEN);
    /* the reset state */
    EXPECT_REG(fx, DMAE_REG_CTRL, 0);
    EXPECT_REG(fx, DMAE_REG_STATUS, 0);
    EXPECT_REG(fx, DMAE_REG_ERR_CODE, 0);
    EXPECT_REG(fx, DMAE_REG_ERR_COUNT, 0);
    EXPECT_REG(fx, DMAE_REG_INT_STATUS, 0);
    EXPECT_REG(fx, DMAE_REG_INT_MODE, DMAE_INT_MODE_INTX);
    for (q = 0; q < DMAE_NR_QUEUES; q++) {
        EXPECT_QREG(fx, q, DMAE_Q_STATUS, 0);
        EXPECT_QREG(fx, q, DMAE_Q_RING_SIZE, 0);
    }
    /* read-only registers ignore writes */
    bar_wr(fx, DMAE_REG_ID, 4, 0x12345678);
    bar_wr(fx, DMAE_REG_CAPS, 4, 0);
    bar_wr(fx, DMAE_REG_STATUS, 4, 0xffffffff);
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_HEAD), 4, 7);
    EXPECT_REG(fx, DMAE_REG_ID, DMAE_ID_VALUE);
    EXPECT_REG(fx, DMAE_REG_CAPS, DMAE_CAPS_VALUE);
    EXPECT_REG(fx, DMAE_REG_STATUS, 0);
    EXPECT_QREG(fx, 1, DMAE_Q_HEAD, 0);
    /* wide and narrow accesses */
    v = bar_rd(fx, DMAE_REG_ID, 8);
    assert_int_equal(v, ((uint64_t)DMAE_VERSION_VALUE << 32) | DMAE_ID_VALUE);
    assert_int_equal(bar_rd(fx, DMAE_REG_ID + 1, 2), 0x414d);
    /* holes read zero; nothing beyond the BAR */
    EXPECT_REG(fx, 0x0ffc, 0);
    EXPECT_REG(fx, DMAE_QREG(DMAE_NR_QUEUES, 0), 0);
    EXPECT_REG(fx, DMAE_BAR0_SIZE - 4, 0);
    assert_int_equal(
        vmm_region_read_val(fx->vmm, BAR0, DMAE_BAR0_SIZE - 4, 8, &v),
        -EINVAL);
    assert_int_equal(vmm_region_write_val(fx->vmm, BAR0, DMAE_BAR0_SIZE, 4, 0),
                     -EINVAL);
    /* the MSI-X table is storage; the PBA is empty */
    bar_wr(fx, DMAE_MSIX_TABLE + 16, 8, 0xfee01000ull);
    bar_wr(fx, DMAE_MSIX_TABLE + 24, 4, 0x4021);
    assert_int_equal(bar_rd(fx, DMAE_MSIX_TABLE + 16, 8), 0xfee01000ull);
    EXPECT_REG(fx, DMAE_MSIX_TABLE + 24, 0x4021);
    assert_int_equal(bar_rd(fx, DMAE_MSIX_PBA, 8), 0);
}

static void
test_dmae_queue_config(void **state)
{
    fx_t *fx = *state;
    const uint64_t ring = GPA_RING + RING_AREA;

    fx_map(fx);
    /* 64-bit ring base by one 8-byte write, or two 4-byte ones */
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_RING_LO), 8, 0x123456789abcdef0ull);
    assert_int_equal(bar_rd(fx, DMAE_QREG(1, DMAE_Q_RING_LO), 8),
                     0x123456789abcdef0ull);
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_RING_HI), 4, 0);
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_RING_LO), 4, (uint32_t)ring);
    assert_int_equal(bar_rd(fx, DMAE_QREG(1, DMAE_Q_RING_LO), 8), ring);
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_RING_SIZE), 4, 32);
    EXPECT_QREG(fx, 1, DMAE_Q_RING_SIZE, 32);
    /* only the defined INT_CTRL bits stick */
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_INT_CTRL), 4, 0xffffffff);
    EXPECT_QREG(fx, 1, DMAE_Q_INT_CTRL,
                DMAE_QINT_ENABLE | DMAE_QINT_COALESCE(0xff));
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_INT_CTRL), 4, 0);
    /* a doorbell on a stopped queue is ignored */
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_TAIL), 4, 3);
    EXPECT_QREG(fx, 1, DMAE_Q_TAIL, 0);

    bar_wr(fx, DMAE_QREG(1, DMAE_Q_CTRL), 4, DMAE_QCTRL_ENABLE);
    EXPECT_QREG(fx, 1, DMAE_Q_CTRL, DMAE_QCTRL_ENABLE);
    assert_int_equal(bar_rd(fx, DMAE_QREG(1, DMAE_Q_STATUS), 4) &
                         DMAE_QSTATUS_RUNNING,
                     DMAE_QSTATUS_RUNNING);
    assert_int_equal(DMAE_STATUS_RUNNING(bar_rd(fx, DMAE_REG_STATUS, 4)),
                     1u << 1);
    /* ring registers are locked while the queue is enabled */
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_RING_LO), 8, GPA_RING);
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_RING_SIZE), 4, 64);
    assert_int_equal(bar_rd(fx, DMAE_QREG(1, DMAE_Q_RING_LO), 8), ring);
    EXPECT_QREG(fx, 1, DMAE_Q_RING_SIZE, 32);
    /* with the device disabled, a doorbell only moves TAIL */
    fx->dq[1] = (drv_q_t){.ring = ring, .size = 32, .tail = 0};
    {
        dmae_desc_t d = mkdesc(DMAE_OP_NOP, 0, 0, 0, 0, 0, 0, 1);

        q_put(fx, 1, &d);
        q_put(fx, 1, &d);
    }
    q_ring(fx, 1);
    EXPECT_QREG(fx, 1, DMAE_Q_TAIL, 2);
    EXPECT_QREG(fx, 1, DMAE_Q_HEAD, 0);
    /* enabling the device runs what is pending */
    drv_enable(fx);
    EXPECT_QREG(fx, 1, DMAE_Q_HEAD, 2);
    EXPECT_QREG(fx, 1, DMAE_Q_COMPLETED, 2);
    assert_int_equal(bar_rd(fx, DMAE_REG_STATUS, 4),
                     DMAE_STATUS_ENABLED | (1u << (8 + 1)));
    /* stopping keeps HEAD and TAIL readable; restarting begins at 0 */
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_CTRL), 4, 0);
    EXPECT_QREG(fx, 1, DMAE_Q_STATUS, 0);
    EXPECT_QREG(fx, 1, DMAE_Q_HEAD, 2);
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_TAIL), 4, 5);
    EXPECT_QREG(fx, 1, DMAE_Q_TAIL, 2);
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_CTRL), 4, DMAE_QCTRL_ENABLE);
    EXPECT_QREG(fx, 1, DMAE_Q_HEAD, 0);
    EXPECT_QREG(fx, 1, DMAE_Q_TAIL, 0);
    EXPECT_QREG(fx, 1, DMAE_Q_COMPLETED, 2);
    /* a queue reset returns every queue register to zero */
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_CTRL), 4, DMAE_QCTRL_RESET);
    EXPECT_QREG(fx, 1, DMAE_Q_CTRL, 0);
    EXPECT_QREG(fx, 1, DMAE_Q_STATUS, 0);
    EXPECT_QREG(fx, 1, DMAE_Q_COMPLETED, 0);
    EXPECT_QREG(fx, 1, DMAE_Q_RING_SIZE, 0);
    assert_int_equal(bar_rd(fx, DMAE_QREG(1, DMAE_Q_RING_LO), 8), 0);
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */
/* ------------------------------------------------------------------ */

static void
test_dmae_op_copy(void **state)
{
    fx_t *fx = *state;
    static const struct {
        uint64_t src, dst;
        uint32_t len;
    } cases[] = {
        {GPA_A, GPA_A + 0x100000, 1},
        {GPA_A + 1, GPA_A + 0x100003, 7},
        {GPA_A + 0x1000, GPA_A + 0x200000, 4096},
        {GPA_A + 0x2ff1, GPA_A + 0x300ff7, 65537},
        {GPA_A + 0x10, GPA_A + 0x400010, 300000},
        {GPA_RO + 5, GPA_A + 0x500000, 1000}, /* reading RO memory is fine */
    };
    size_t i;

    fx_map(fx);
    drv_enable(fx);
    q_start(fx, 0, 16, 0);
    mem_put_random(fx, GPA_A, 0x80000, 1, NULL);
    mem_put_random(fx, GPA_RO, SIZE_RO, 2, NULL);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *src, *dst, *after;
        uint64_t rec;

        /* the byte after the copy must not change */
        assert_int_equal(vmm_mem_fill(fx->vmm, cases[i].dst + cases[i].len,
                                      0xee, 1),
                         0);
        rec = run1(fx, 0, DMAE_OP_COPY, cases[i].len, cases[i].src,
                   cases[i].dst, 0, 100 + i);
        EXPECT_REC(fx, rec, DMAE_CS_OK, 0, cases[i].len, 100 + i, 0);
        src = mem_get(fx, cases[i].src, cases[i].len);
        dst = mem_get(fx, cases[i].dst, cases[i].len);
        after = mem_get(fx, cases[i].dst + cases[i].len, 1);
        assert_memory_equal(src, dst, cases[i].len);
        assert_int_equal(after[0], 0xee);
        free(src);
        free(dst);
        free(after);
    }
    EXPECT_QREG(fx, 0, DMAE_Q_COMPLETED, sizeof(cases) / sizeof(cases[0]));
    EXPECT_REG(fx, DMAE_REG_ERR_COUNT, 0);
}

static void
test_dmae_op_fill(void **state)
{
    fx_t *fx = *state;
    static const struct {
        uint64_t dst;
        uint32_t len;
        uint64_t pattern;
    } cases[] = {
        {GPA_A + 8, 1, 0xa5},
        {GPA_A + 3, 13, 0x0807060504030201ull},
        {GPA_A + 0x1001, 4096, 0xdeadbeefcafef00dull},
        {GPA_A + 0x20007, 200003, 0x0123456789abcdefull},
        {GPA_A + 0x100000, 64, 0},
    };
    size_t i, k;

    fx_map(fx);
    drv_enable(fx);
    q_start(fx, 2, 8, 0);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *got;
        uint64_t rec;

        assert_int_equal(
            vmm_mem_fill(fx->vmm, cases[i].dst - 1, 0x5a, cases[i].len + 2),
            0);
        rec = run1(fx, 2, DMAE_OP_FILL, cases[i].len, 0, cases[i].dst,
                   cases[i].pattern, i);
        EXPECT_REC(fx, rec, DMAE_CS_OK, 0, cases[i].len, i, 0);
        got = mem_get(fx, cases[i].dst - 1, cases[i].len + 2);
        assert_int_equal(got[0], 0x5a);
        for (k = 0; k < cases[i].len; k++) {
            if (got[k + 1] != pattern_byte(cases[i].pattern, k)) {
                fail_msg("fill %zu: byte %zu is %#x, want %#x", i, k,
                         got[k + 1], pattern_byte(cases[i].pattern, k));
            }
        }
        assert_int_equal(got[cases[i].len + 1], 0x5a);
        free(got);
    }
}

static void
test_dmae_op_crc32c(void **state)
{
    fx_t *fx = *state;
    uint8_t buf[32];
    uint8_t *big;
    uint64_t rec, s = 7;
    uint32_t want, part;
    size_t i;

    fx_map(fx);
    drv_enable(fx);
    q_start(fx, 3, 16, 0);

    /* the reference agrees with the published check value */
    assert_int_equal(ref_crc32c(0, (const uint8_t *)"123456789", 9),
                     0xe3069283u);

    /* RFC 3720 B.4 and the classic check value, through the device */
    assert_int_equal(vmm_mem_write(fx->vmm, GPA_A, "123456789", 9), 0);
    rec = run1(fx, 3, DMAE_OP_CRC32C, 9, GPA_A, 0, 0, 1);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0xe3069283u, 9, 1, 0);

    memset(buf, 0, sizeof(buf));
    assert_int_equal(vmm_mem_write(fx->vmm, GPA_A + 0x100, buf, 32), 0);
    rec = run1(fx, 3, DMAE_OP_CRC32C, 32, GPA_A + 0x100, 0, 0, 2);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0x8a9136aau, 32, 2, 0);

    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(vmm_mem_write(fx->vmm, GPA_A + 0x200, buf, 32), 0);
    rec = run1(fx, 3, DMAE_OP_CRC32C, 32, GPA_A + 0x200, 0, 0, 3);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0x62a8ab43u, 32, 3, 0);

    for (i = 0; i < 32; i++) {
        buf[i] = (uint8_t)i;
    }
    assert_int_equal(vmm_mem_write(fx->vmm, GPA_A + 0x301, buf, 32), 0);
    rec = run1(fx, 3, DMAE_OP_CRC32C, 32, GPA_A + 0x301, 0, 0, 4);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0x46dd794eu, 32, 4, 0);

    for (i = 0; i < 32; i++) {
        buf[i] = (uint8_t)(31 - i);
    }
    assert_int_equal(vmm_mem_write(fx->vmm, GPA_A + 0x400, buf, 32), 0);
    rec = run1(fx, 3, DMAE_OP_CRC32C, 32, GPA_A + 0x400, 0, 0, 5);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0x113fdb5cu, 32, 5, 0);

    /* a seed continues a CRC: "12345" then "6789" */
    rec = run1(fx, 3, DMAE_OP_CRC32C, 5, GPA_A, 0, 0, 6);
    part = rec_read(fx, rec).result;
    assert_int_equal(part, ref_crc32c(0, (const uint8_t *)"12345", 5));
    rec = run1(fx, 3, DMAE_OP_CRC32C, 4, GPA_A + 5, 0, part, 7);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0xe3069283u, 4, 7, 0);

    /* random buffers of awkward lengths and alignments */
    big = malloc(300000);
    assert_non_null(big);
    for (i = 0; i < 8; i++) {
        size_t len = 1 + (size_t)(rnd(&s) % 300000);
        uint64_t off = 0x100000 + (rnd(&s) % 4096);

        rnd_fill(&s, big, len);
        assert_int_equal(vmm_mem_write(fx->vmm, GPA_A + off, big, len), 0);
        want = ref_crc32c(0x1234u * (uint32_t)i, big, len);
        rec = run1(fx, 3, DMAE_OP_CRC32C, (uint32_t)len, GPA_A + off, 0,
                   0x1234u * (uint32_t)i, 10 + i);
        EXPECT_REC(fx, rec, DMAE_CS_OK, want, len, 10 + i, 0);
    }
    free(big);
}

static void
test_dmae_op_compare(void **state)
{
    fx_t *fx = *state;
    const uint32_t len = 100000;
    static const uint32_t diffs[] = {0, 1, 4095, 4096, 65535, 99999};
    uint8_t *buf = malloc(len);
    uint64_t rec;
    size_t i;

    assert_non_null(buf);
    fx_map(fx);
    drv_enable(fx);
    q_start(fx, 1, 4, 0);
    mem_put_random(fx, GPA_A, len, 11, buf);
    assert_int_equal(vmm_mem_write(fx->vmm, GPA_A + 0x200001, buf, len), 0);

    rec = run1(fx, 1, DMAE_OP_COMPARE, len, GPA_A, GPA_A + 0x200001, 0, 1);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, len, 1, 0);
    for (i = 0; i < sizeof(diffs) / sizeof(diffs[0]); i++) {
        uint8_t b = buf[diffs[i]] ^ 0x10;

        assert_int_equal(
            vmm_mem_write(fx->vmm, GPA_A + 0x200001 + diffs[i], &b, 1), 0);
        rec = run1(fx, 1, DMAE_OP_COMPARE, len, GPA_A, GPA_A + 0x200001, 0,
                   2 + i);
        EXPECT_REC(fx, rec, DMAE_CS_OK, 1, diffs[i], 2 + i, diffs[i]);
        assert_int_equal(vmm_mem_write(fx->vmm, GPA_A + 0x200001 + diffs[i],
                                       &buf[diffs[i]], 1),
                         0);
    }
    /* a difference past len is not seen; the device may read RO memory */
    rec = run1(fx, 1, DMAE_OP_COMPARE, 4095, GPA_A, GPA_A + 0x200001, 0, 50);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, 4095, 50, 0);
    assert_int_equal(vmm_mem_write(fx->vmm, GPA_RO, buf, 1000), 0);
    rec = run1(fx, 1, DMAE_OP_COMPARE, 1000, GPA_A, GPA_RO, 0, 51);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, 1000, 51, 0);
    free(buf);
}

static void
test_dmae_op_nop(void **state)
{
    fx_t *fx = *state;
    uint64_t rec;
    dmae_desc_t d;

    fx_map(fx);
    drv_enable(fx);
    q_start(fx, 0, 2, 0);
    /* NOP ignores its length and operands */
    rec = rec_alloc(fx);
    d = mkdesc(DMAE_OP_NOP, DMAE_DESC_F_COMPL, 0xffffffffu, GPA_HOLE,
               GPA_HOLE, rec, 0, 0xfeedfacecafebeefull);
    q_put(fx, 0, &d);
    q_ring(fx, 0);
    EXPECT_QREG(fx, 0, DMAE_Q_HEAD, 1);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, 0, 0xfeedfacecafebeefull, 0);
    /* without F_COMPL nothing is written */
    rec = rec_alloc(fx);
    d = mkdesc(DMAE_OP_NOP, 0, 0, 0, 0, rec, 0, 9);
    q_put(fx, 0, &d);
    q_ring(fx, 0);
    EXPECT_QREG(fx, 0, DMAE_Q_HEAD, 0);
    EXPECT_QREG(fx, 0, DMAE_Q_COMPLETED, 2);
    EXPECT_REC(fx, rec, DMAE_CS_NONE, 0, 0, 0, 0);
}

/* Descriptors bigger than the bounce buffers, spanning regions A and B. */
static void
test_dmae_large_chunked(void **state)
{
    fx_t *fx = *state;
    const uint32_t len = (3u << 20) + 123;
    const uint64_t src = GPA_B - (1u << 20) - 17; /* 1 MiB in A, rest in B */
    const uint64_t dst = GPA_A + 0x11;
    uint8_t *ref = malloc(len);
    uint8_t *got;
    uint64_t rec;
    uint32_t flen = (5u << 20) + 3;
    size_t k;

    assert_non_null(ref);
    fx_map(fx);
    drv_enable(fx);
    q_start(fx, 0, 8, 0);
    mem_put_random(fx, src, len, 99, ref);

    rec = run1(fx, 0, DMAE_OP_COPY, len, src, dst, 0, 1);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, len, 1, 0);
    got = mem_get(fx, dst, len);
    assert_memory_equal(got, ref, len);
    free(got);

    rec = run1(fx, 0, DMAE_OP_CRC32C, len, src, 0, 0, 2);
    EXPECT_REC(fx, rec, DMAE_CS_OK, ref_crc32c(0, ref, len), len, 2, 0);

    rec = run1(fx, 0, DMAE_OP_COMPARE, len, src, dst, 0, 3);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, len, 3, 0);
    ref[(2u << 20) + 5] ^= 1;
    assert_int_equal(
        vmm_mem_write(fx->vmm, dst + (2u << 20) + 5, &ref[(2u << 20) + 5], 1),
        0);
    rec = run1(fx, 0, DMAE_OP_COMPARE, len, src, dst, 0, 4);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 1, (2u << 20) + 5, 4, (2u << 20) + 5);
    free(ref);

    /* a fill across the A/B boundary at an odd phase */
    rec = run1(fx, 0, DMAE_OP_FILL, flen, 0, GPA_B - (3u << 20) + 1,
               0x1122334455667788ull, 5);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, flen, 5, 0);
    got = mem_get(fx, GPA_B - (3u << 20) + 1, flen);
    for (k = 0; k < flen; k++) {
        if (got[k] != pattern_byte(0x1122334455667788ull, k)) {
            fail_msg("fill byte %zu is %#x", k, got[k]);
        }
    }
    free(got);
}

/*
 * Thousands of random descriptors on all four queues (rings of 8 to 64
 * entries, so every ring wraps many times), each result checked against
 * a shadow copy of guest memory kept here.
 */
#define STRESS_WORK (512u * 1024u)
#define STRESS_DESCS 2400u

typedef struct expect {
    uint64_t rec;
    uint32_t status, result;
    uint64_t bytes, tag, detail;
} expect_t;

static void
pick_ranges(uint64_t *s, uint32_t len, uint32_t *src, uint32_t *dst)
{
    do {
        *src = (uint32_t)(rnd(s) % (STRESS_WORK - len + 1));
        *dst = (uint32_t)(rnd(s) % (STRESS_WORK - len + 1));
    } while (*src < *dst + len && *dst < *src + len);
}

/*
 * Queue one descriptor and apply it to @shadow, in submission order,
 * which is the order the device executes them in; @e gets its record.
 */
static void
stress_emit(fx_t *fx, unsigned int q, uint8_t op, uint32_t len, uint32_t src,
            uint32_t dst, uint64_t pattern, uint64_t tag, uint8_t *shadow,
            expect_t *e)
{
    dmae_desc_t d;
    uint32_t k;

    memset(e, 0, sizeof(*e));
    e->rec = rec_alloc(fx);
    e->status = DMAE_CS_OK;
    e->tag = tag;
    e->bytes = op == DMAE_OP_NOP ? 0 : len;
    switch (op) {
    case DMAE_OP_COPY:
        memcpy(shadow + dst, shadow + src, len);
        break;
    case DMAE_OP_FILL:
        for (k = 0; k < len; k++) {
            shadow[dst + k] = pattern_byte(pattern, k);
        }
        break;
    case DMAE_OP_CRC32C:
        e->result = ref_crc32c((uint32_t)pattern, shadow + src, len);
        break;
    case DMAE_OP_COMPARE:
        for (k = 0; k < len && shadow[src + k] == shadow[dst + k]; k++) {
        }
        if (k < len) {
            e->result = 1;
            e->detail = k;
            e->bytes = k;
        }
        break;
    default:
        break;
    }
    d = mkdesc(op, DMAE_DESC_F_COMPL, len, GPA_A + src, GPA_A + dst, e->rec,
               pattern, tag);
    q_put(fx, q, &d);
}

static void
test_dmae_stress_random(void **state)
{
    fx_t *fx = *state;
    static const uint32_t sizes[DMAE_NR_QUEUES] = {8, 16, 32, 64};
    uint8_t *shadow = malloc(STRESS_WORK);
    uint8_t *now = malloc(STRESS_WORK);
    expect_t ex[64];
    uint32_t done[DMAE_NR_QUEUES] = {0, 0, 0, 0};
    uint32_t submitted = 0, batches = 0;
    uint64_t s = 0x9e3779b97f4a7c15ull;
    unsigned int q;

    assert_non_null(shadow);
    assert_non_null(now);
    fx_map(fx);
    drv_enable(fx);
    for (q = 0; q < DMAE_NR_QUEUES; q++) {
        q_start(fx, q, sizes[q], 0);
    }
    mem_put_random(fx, GPA_A, STRESS_WORK, 5, shadow);

    while (submitted < STRESS_DESCS) {
        uint32_t n, i;

        q = (unsigned int)(rnd(&s) % DMAE_NR_QUEUES);
        n = 1 + (uint32_t)(rnd(&s) % (sizes[q] - 1));
        if (n > STRESS_DESCS - submitted) {
            n = STRESS_DESCS - submitted;
        }
        for (i = 0; i < n; i++) {
            uint32_t r = (uint32_t)rnd(&s);
            uint32_t len = 1 + (r % 8 == 0 ? (uint32_t)(rnd(&s) % 65536)
                                            : (uint32_t)(rnd(&s) % 4096));
            uint8_t op = (uint8_t)(1 + (r >> 8) % 4);
            uint64_t pattern = rnd(&s);
            uint32_t src, dst;

            if ((r >> 16) % 16 == 0) {
                op = DMAE_OP_NOP;
            }
            if (op == DMAE_OP_CRC32C) {
                pattern &= 0xffffffffu;
            }
            pick_ranges(&s, len, &src, &dst);
            if (op == DMAE_OP_COMPARE && (r >> 24) % 2 == 0 && i + 1 < n) {
                /* a copy first, so that equal compares happen too */
                stress_emit(fx, q, DMAE_OP_COPY, len, src, dst, 0,
                            ((uint64_t)q << 32) | submitted, shadow, &ex[i]);
                submitted++;
                i++;
            }
            stress_emit(fx, q, op, len, src, dst, pattern,
                        ((uint64_t)q << 32) | submitted, shadow, &ex[i]);
            submitted++;
        }
        q_ring(fx, q);
        done[q] += n;
        batches++;

        EXPECT_QREG(fx, q, DMAE_Q_HEAD, fx->dq[q].tail);
        EXPECT_QREG(fx, q, DMAE_Q_COMPLETED, done[q]);
        for (i = 0; i < n; i++) {
            EXPECT_REC(fx, ex[i].rec, ex[i].status, ex[i].result,
                       ex[i].bytes, ex[i].tag, ex[i].detail);
        }
        assert_int_equal(vmm_mem_read(fx->vmm, GPA_A, now, STRESS_WORK), 0);
        if (memcmp(now, shadow, STRESS_WORK) != 0) {
            for (i = 0; now[i] == shadow[i]; i++) {
            }
            fail_msg("batch %u (queue %u): guest memory differs at +%#x",
                     batches, q, i);
        }
    }
    EXPECT_REG(fx, DMAE_REG_ERR_COUNT, 0);
    EXPECT_REG(fx, DMAE_REG_STATUS,
               DMAE_STATUS_ENABLED | (((1u << DMAE_NR_QUEUES) - 1) << 8));
    free(shadow);
    free(now);
}

/* A 4-entry ring (3 usable slots) through a thousand descriptors. */
static void
test_dmae_ring_wrap(void **state)
{
    fx_t *fx = *state;
    uint32_t i, total = 0;
    uint64_t rec[3];

    fx_map(fx);
    drv_enable(fx);
    q_start(fx, 2, 4, 0);
    while (total < 1000) {
        uint32_t n = 1 + total % 3;

        for (i = 0; i < n; i++) {
            dmae_desc_t d;

            rec[i] = rec_alloc(fx);
            d = mkdesc(DMAE_OP_FILL, DMAE_DESC_F_COMPL, 16,
                       0, GPA_A + 16 * (total + i), rec[i], total + i,
                       total + i);
            q_put(fx, 2, &d);
        }
        q_ring(fx, 2);
        for (i = 0; i < n; i++) {
            EXPECT_REC(fx, rec[i], DMAE_CS_OK, 0, 16, total + i, 0);
        }
        total += n;
        EXPECT_QREG(fx, 2, DMAE_Q_HEAD, total % 4);
    }
    EXPECT_QREG(fx, 2, DMAE_Q_COMPLETED, total);
    for (i = 0; i < total; i += 97) {
        uint64_t v = 0;

        assert_int_equal(vmm_mem_read(fx->vmm, GPA_A + 16 * i, &v, 8), 0);
        assert_int_equal(v, i);
    }
}

/* A full ring is worked through by one doorbell, and no further. */
static void
test_dmae_full_ring(void **state)
{
    fx_t *fx = *state;
    const uint32_t size = 256;
    uint32_t i;

    fx_map(fx);
    drv_enable(fx);
    q_start(fx, 3, size, 0);
    /* first move HEAD off zero, then fill all size - 1 usable slots */
    for (i = 0; i < 100; i++) {
        dmae_desc_t d = mkdesc(DMAE_OP_NOP, 0, 0, 0, 0, 0, 0, i);

        q_put(fx, 3, &d);
    }
    q_ring(fx, 3);
    for (i = 0; i < size - 1; i++) {
        dmae_desc_t d = mkdesc(DMAE_OP_FILL, 0, 8, 0, GPA_A + 8 * i, 0,
                               0x0101010101010101ull * (i & 0xff), i);

        q_put(fx, 3, &d);
    }
    assert_int_equal(fx->dq[3].tail, (100 + size - 1) % size);
    q_ring(fx, 3);
    EXPECT_QREG(fx, 3, DMAE_Q_HEAD, fx->dq[3].tail);
    EXPECT_QREG(fx, 3, DMAE_Q_COMPLETED, 100 + size - 1);
    for (i = 0; i < size - 1; i++) {
        uint64_t v = 0;

        assert_int_equal(vmm_mem_read(fx->vmm, GPA_A + 8 * i, &v, 8), 0);
        assert_int_equal(v, 0x0101010101010101ull * (i & 0xff));
    }
    /* the same doorbell again: HEAD == TAIL, nothing to do */
    q_ring(fx, 3);
    EXPECT_QREG(fx, 3, DMAE_Q_COMPLETED, 100 + size - 1);
}

/* ------------------------------------------------------------------ */
/* Interrupts                                                          */
/* ------------------------------------------------------------------ */

/* Submit @n NOPs (F_INTR on those where @intr) to queue @q and ring. */
static void
submit_nops(fx_t *fx, unsigned int q, uint32_t n, bool intr)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        dmae_desc_t d = mkdesc(DMAE_OP_NOP, intr ? DMAE_DESC_F_INTR : 0, 0,
                               0, 0, 0, 0, i);

        q_put(fx, q, &d);
    }
    q_ring(fx, q);
}

static void
test_dmae_msix(void **state)
{
    fx_t *fx = *state;
    unsigned int q, v;

    fx_map(fx);
    fx_msix(fx);
    drv_enable(fx);
    /* one per doorbell, one each, one per 4, and interrupts disabled */
    q_start(fx, 0, 64, DMAE_QINT_ENABLE);
    q_start(fx, 1, 64, DMAE_QINT_ENABLE | DMAE_QINT_COALESCE(1));
    q_start(fx, 2, 64, DMAE_QINT_ENABLE | DMAE_QINT_COALESCE(4));
    q_start(fx, 3, 64, DMAE_QINT_COALESCE(1));

    for (q = 0; q < DMAE_NR_QUEUES; q++) {
        submit_nops(fx, q, 10, true);
    }
    assert_int_equal(irq_take(fx, MSIX, 0), 1);
    assert_int_equal(irq_take(fx, MSIX, 1), 10);
    assert_int_equal(irq_take(fx, MSIX, 2), 3); /* 4 + 4 + the last 2 */
    assert_int_equal(irq_take(fx, MSIX, 3), 0);
    assert_int_equal(irq_take(fx, MSIX, DMAE_ERR_VECTOR), 0);
    EXPECT_QREG(fx, 0, DMAE_Q_IRQ_COUNT, 1);
    EXPECT_QREG(fx, 1, DMAE_Q_IRQ_COUNT, 10);
    EXPECT_QREG(fx, 2, DMAE_Q_IRQ_COUNT, 3);
    EXPECT_QREG(fx, 3, DMAE_Q_IRQ_COUNT, 0);
    EXPECT_REG(fx, DMAE_REG_INT_STATUS, 0x7);
    /* write one to clear; INTx status stays off in MSI-X mode */
    bar_wr(fx, DMAE_REG_INT_STATUS, 4, 0x5);
    EXPECT_REG(fx, DMAE_REG_INT_STATUS, 0x2);
    bar_wr(fx, DMAE_REG_INT_STATUS, 4, 0xffffffff);
    EXPECT_REG(fx, DMAE_REG_INT_STATUS, 0);
    assert_false(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);

    /* descriptors that do not ask for an interrupt get none */
    submit_nops(fx, 1, 5, false);
    assert_int_equal(irq_take(fx, MSIX, 1), 0);
    /* a doorbell with nothing new signals nothing */
    q_ring(fx, 0);
    assert_int_equal(irq_take(fx, MSIX, 0), 0);
    /* a mix: only the ones asking count towards coalescing */
    submit_nops(fx, 2, 3, true);
    submit_nops(fx, 2, 3, false);
    assert_int_equal(irq_take(fx, MSIX, 2), 1);
    /* vectors masked by the client hold their trigger until unmasked */
    if (vmm_irq_mask(fx->vmm, MSIX, 1, 1, true) == 0) {
        submit_nops(fx, 1, 2, true);
        assert_int_equal(irq_take(fx, MSIX, 1), 0);
        assert_int_equal(vmm_irq_mask(fx->vmm, MSIX, 1, 1, false), 0);
        assert_int_equal(irq_take(fx, MSIX, 1), 1);
    }
    for (v = 0; v < DMAE_MSIX_VECTORS; v++) {
        assert_int_equal(irq_take(fx, MSIX, v), 0);
    }
    (void)vmm_irq_disable(fx->vmm, MSIX);
}

/* The function mask holds messages in the PBA until it is cleared. */
static void
test_dmae_msix_function_mask(void **state)
{
    fx_t *fx = *state;
    uint64_t cap;

    fx_map(fx);
    fx_msix(fx);
    drv_enable(fx);
    q_start(fx, 2, 16, DMAE_QINT_ENABLE);
    cap = find_cap(fx, PCI_CAP_ID_MSIX);
    cfg_wr(fx, cap + PCI_MSIX_FLAGS, 2,
           PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    submit_nops(fx, 2, 3, true);
    assert_int_equal(irq_take(fx, MSIX, 2), 0);
    assert_int_equal(bar_rd(fx, DMAE_MSIX_PBA, 8), 1u << 2);
    EXPECT_QREG(fx, 2, DMAE_Q_IRQ_COUNT, 0);
    cfg_wr(fx, cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
    /* the next register access sends it */
    assert_int_equal(bar_rd(fx, DMAE_MSIX_PBA, 8), 0);
    assert_int_equal(irq_take(fx, MSIX, 2), 1);
    EXPECT_QREG(fx, 2, DMAE_Q_IRQ_COUNT, 1);
    /* and unmasked, messages go out at once again */
    submit_nops(fx, 2, 1, true);
    assert_int_equal(irq_take(fx, MSIX, 2), 1);
    EXPECT_QREG(fx, 2, DMAE_Q_IRQ_COUNT, 2);
    (void)vmm_irq_disable(fx->vmm, MSIX);
}

/* Without MSI-X the device falls back to INTx. */
static void
test_dmae_intx_fallback(void **state)
{
    fx_t *fx = *state;
    uint64_t cmd;

    fx_map(fx);
    fx_irq_enable(fx, INTX, 1);
    EXPECT_REG(fx, DMAE_REG_INT_MODE, DMAE_INT_MODE_INTX);
    drv_enable(fx);
    q_start(fx, 0, 16, DMAE_QINT_ENABLE);
    q_start(fx, 3, 16, DMAE_QINT_ENABLE | DMAE_QINT_COALESCE(1));

    submit_nops(fx, 0, 4, true);
    assert_int_equal(irq_take(fx, INTX, 0), 1);
    EXPECT_REG(fx, DMAE_REG_INT_STATUS, DMAE_INT_QUEUE(0));
    assert_true(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    submit_nops(fx, 3, 2, true);
    assert_int_equal(irq_take(fx, INTX, 0), 2);
    EXPECT_REG(fx, DMAE_REG_INT_STATUS, DMAE_INT_QUEUE(0) | DMAE_INT_QUEUE(3));
    /* the driver acknowledges; the line goes down with the last bit */
    bar_wr(fx, DMAE_REG_INT_STATUS, 4, DMAE_INT_QUEUE(0));
    assert_true(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    bar_wr(fx, DMAE_REG_INT_STATUS, 4, DMAE_INT_QUEUE(3));
    assert_false(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);

    /* INTx disabled in COMMAND: status latches, no signal */
    cmd = cfg_rd(fx, PCI_COMMAND, 2);
    cfg_wr(fx, PCI_COMMAND, 2, cmd | PCI_COMMAND_INTX_DISABLE);
    EXPECT_REG(fx, DMAE_REG_INT_MODE, DMAE_INT_MODE_NONE);
    submit_nops(fx, 0, 1, true);
    assert_int_equal(irq_take(fx, INTX, 0), 0);
    EXPECT_REG(fx, DMAE_REG_INT_STATUS, DMAE_INT_QUEUE(0));
    EXPECT_QREG(fx, 0, DMAE_Q_IRQ_COUNT, 1);
    cfg_wr(fx, PCI_COMMAND, 2, cmd);
    submit_nops(fx, 0, 1, true);
    assert_int_equal(irq_take(fx, INTX, 0), 1);
    EXPECT_QREG(fx, 0, DMAE_Q_IRQ_COUNT, 2);

    /*
     * Enabling MSI-X takes over from INTx (a VMM drops the INTx eventfd
     * first, as QEMU does).  With no MSI-X eventfd the message reaches
     * nobody, but it is sent, and the INTx status bit stays clear.
     */
    bar_wr(fx, DMAE_REG_INT_STATUS, 4, 0xffffffff);
    assert_int_equal(vmm_irq_disable(fx->vmm, INTX), 0);
    msix_enable(fx, true);
    EXPECT_REG(fx, DMAE_REG_INT_MODE, DMAE_INT_MODE_MSIX);
    submit_nops(fx, 0, 1, true);
    EXPECT_QREG(fx, 0, DMAE_Q_IRQ_COUNT, 3);
    EXPECT_REG(fx, DMAE_REG_INT_STATUS, DMAE_INT_QUEUE(0));
    assert_false(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    msix_enable(fx, false);
    EXPECT_REG(fx, DMAE_REG_INT_MODE, DMAE_INT_MODE_INTX);
}

/* ------------------------------------------------------------------ */
/* Device errors                                                       */
/* ------------------------------------------------------------------ */

/*
 * Queue @q must be halted by @err at @slot with @addr, reported in every
 * register and by one error interrupt; then reset it and check it is
 * clean again.
 */
static void
expect_halt(fx_t *fx, unsigned int q, uint32_t err, uint32_t slot,
            uint64_t addr, int line)
{
    uint64_t status = bar_rd(fx, DMAE_REG_STATUS, 4);
    uint64_t code = bar_rd(fx, DMAE_REG_ERR_CODE, 4);

    fx->errors++;
    if (bar_rd(fx, DMAE_QREG(q, DMAE_Q_STATUS), 4) != DMAE_QSTATUS_HALTED ||
        bar_rd(fx, DMAE_QREG(q, DMAE_Q_ERROR), 4) != err ||
        DMAE_ERR_CODE_ERR(code) != err || DMAE_ERR_CODE_QUEUE(code) != q ||
        DMAE_ERR_CODE_SLOT(code) != slot ||
        bar_rd(fx, DMAE_REG_ERR_ADDR_LO, 8) != addr) {
        fail_msg("line %d: queue %u status %#llx error %#llx, ERR_CODE "
                 "%#llx ERR_ADDR %#llx; want error %#x slot %u addr %#llx",
                 line, q,
                 (unsigned long long)bar_rd(fx, DMAE_QREG(q, DMAE_Q_STATUS),
                                            4),
                 (unsigned long long)bar_rd(fx, DMAE_QREG(q, DMAE_Q_ERROR),
                                            4),
                 (unsigned long long)code,
                 (unsigned long long)bar_rd(fx, DMAE_REG_ERR_ADDR_LO, 8), err,
                 slot, (unsigned long long)addr);
    }
    assert_true(status & DMAE_STATUS_ERROR);
    assert_int_equal(DMAE_STATUS_HALTED(status), 1u << q);
    EXPECT_REG(fx, DMAE_REG_ERR_COUNT, fx->errors);
    assert_true(bar_rd(fx, DMAE_REG_INT_STATUS, 4) & DMAE_INT_ERROR);
    assert_int_equal(irq_take(fx, MSIX, DMAE_ERR_VECTOR), 1);

    /* stopping and starting it again is not enough */
    bar_wr(fx, DMAE_QREG(q, DMAE_Q_CTRL), 4, 0);
    bar_wr(fx, DMAE_QREG(q, DMAE_Q_CTRL), 4, DMAE_QCTRL_ENABLE);
    EXPECT_QREG(fx, q, DMAE_Q_STATUS, DMAE_QSTATUS_HALTED);
    EXPECT_QREG(fx, q, DMAE_Q_ERROR, err);

    /* recovery: reset the queue, acknowledge the error */
    bar_wr(fx, DMAE_QREG(q, DMAE_Q_CTRL), 4, DMAE_QCTRL_RESET);
    EXPECT_QREG(fx, q, DMAE_Q_STATUS, 0);
    EXPECT_QREG(fx, q, DMAE_Q_ERROR, 0);
    bar_wr(fx, DMAE_REG_ERR_CODE, 4, 0);
    EXPECT_REG(fx, DMAE_REG_ERR_CODE, 0);
    assert_int_equal(bar_rd(fx, DMAE_REG_ERR_ADDR_LO, 8), 0);
    bar_wr(fx, DMAE_REG_INT_STATUS, 4, DMAE_INT_ERROR);
    assert_false(bar_rd(fx, DMAE_REG_STATUS, 4) & DMAE_STATUS_ERROR);
}
#define EXPECT_HALT(fx, q, err, slot, addr)                                    \
    expect_halt((fx), (q), (err), (slot), (addr), __LINE__)

/* Enabling a queue with a bad ring halts it at once. */
static void
bad_ring(fx_t *fx, uint64_t base, uint32_t size, uint32_t err)
{
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_CTRL), 4, DMAE_QCTRL_RESET);
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_RING_LO), 8, base);
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_RING_SIZE), 4, size);
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_CTRL), 4, DMAE_QCTRL_ENABLE);
    /* doorbells are ignored while halted */
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_TAIL), 4, 1);
    EXPECT_QREG(fx, 1, DMAE_Q_TAIL, 0);
    EXPECT_HALT(fx, 1, err, 0, base);
}

/*
 * Two good descriptors, then @bad, then a good one: the first two
 * complete, the queue halts on @bad (slot 2), the last never runs - not
 * even after another doorbell.  @rec_err: whether @bad's record should
 * report the error.
 */
static void
bad_desc(fx_t *fx, dmae_desc_t bad, uint32_t err, uint64_t addr,
         bool rec_err)
{
    const unsigned int q = 2;
    uint64_t bad_rec = le64toh(bad.completion);
    uint64_t last_rec = rec_alloc(fx);
    dmae_desc_t good = mkdesc(DMAE_OP_FILL, 0, 64, 0, GPA_A + 0x7000, 0,
                              0x3333333333333333ull, 1);
    dmae_desc_t last = mkdesc(DMAE_OP_FILL, DMAE_DESC_F_COMPL, 64, 0,
                              GPA_A + 0x8000, last_rec, 0x77, 2);
    uint8_t probe[64], zero[64];

    memset(zero, 0, sizeof(zero));
    assert_int_equal(vmm_mem_fill(fx->vmm, GPA_A + 0x8000, 0, 64), 0);
    q_start(fx, q, 8, 0);
    q_put(fx, q, &good);
    q_put(fx, q, &good);
    q_put(fx, q, &bad);
    q_put(fx, q, &last);
    q_ring(fx, q);
    EXPECT_QREG(fx, q, DMAE_Q_COMPLETED, 2);
    EXPECT_QREG(fx, q, DMAE_Q_HEAD, 2);
    q_ring(fx, q);
    EXPECT_QREG(fx, q, DMAE_Q_HEAD, 2);
    assert_int_equal(vmm_mem_read(fx->vmm, GPA_A + 0x8000, probe, 64), 0);
    assert_memory_equal(probe, zero, 64);
    EXPECT_REC(fx, last_rec, DMAE_CS_NONE, 0, 0, 0, 0);
    if (rec_err) {
        EXPECT_REC(fx, bad_rec, DMAE_CS_ERROR, err, 0, le64toh(bad.tag),
                   addr);
    } else if (bad_rec >= GPA_COMPL && bad_rec < GPA_COMPL + SIZE_COMPL &&
               bad_rec % DMAE_COMPL_ALIGN == 0) {
        EXPECT_REC(fx, bad_rec, DMAE_CS_NONE, 0, 0, 0, 0);
    }
    EXPECT_HALT(fx, q, err, 2, addr);
}

static void
test_dmae_errors(void **state)
{
    fx_t *fx = *state;
    const uint64_t slot2 = GPA_RING + 2 * RING_AREA + 2 * DMAE_DESC_SIZE;
    uint64_t rec;
    uint8_t before[256], after[256];

    fx_map(fx);
    fx_msix(fx);
    drv_enable(fx);

    /* ring configuration */
    bad_ring(fx, GPA_RING, 0, DMAE_ERR_RING_SIZE);
    bad_ring(fx, GPA_RING, 1, DMAE_ERR_RING_SIZE);
    bad_ring(fx, GPA_RING, 3, DMAE_ERR_RING_SIZE);
    bad_ring(fx, GPA_RING, 2 * DMAE_MAX_RING, DMAE_ERR_RING_SIZE);
    bad_ring(fx, GPA_RING + 0x20, 16, DMAE_ERR_RING_ALIGN);
    bad_ring(fx, GPA_HOLE, 16, DMAE_ERR_RING_FAULT);
    /* the last 8 of 16 slots lie past the end of the ring region */
    bad_ring(fx, GPA_RING + SIZE_RING - 8 * DMAE_DESC_SIZE, 16,
             DMAE_ERR_RING_FAULT);
    /* the device only reads the ring: a read-only region is fine */
    q_start_at(fx, 1, GPA_RO, 16, 0);
    EXPECT_QREG(fx, 1, DMAE_Q_STATUS, DMAE_QSTATUS_RUNNING);
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_CTRL), 4, DMAE_QCTRL_RESET);

    /* a doorbell past the ring */
    q_start(fx, 0, 16, 0);
    bar_wr(fx, DMAE_QREG(0, DMAE_Q_TAIL), 4, 16);
    EXPECT_HALT(fx, 0, DMAE_ERR_BAD_TAIL, 0, 16);
    q_start(fx, 0, 16, 0);
    bar_wr(fx, DMAE_QREG(0, DMAE_Q_TAIL), 4, 0xffffffff);
    EXPECT_HALT(fx, 0, DMAE_ERR_BAD_TAIL, 0, 0xffffffff);

    /* descriptors the device cannot run */
    rec = rec_alloc(fx);
    bad_desc(fx,
             mkdesc(0x7f, DMAE_DESC_F_COMPL, 64, GPA_A, GPA_A + 64, rec, 0,
                    0x51),
             DMAE_ERR_BAD_OPCODE, slot2, true);
    rec = rec_alloc(fx);
    bad_desc(fx,
             mkdesc(DMAE_OP_COPY, DMAE_DESC_F_COMPL, 0, GPA_A, GPA_A + 64,
                    rec, 0, 0x52),
             DMAE_ERR_BAD_LEN, slot2, true);
    rec = rec_alloc(fx);
    bad_desc(fx,
             mkdesc(DMAE_OP_FILL, DMAE_DESC_F_COMPL, DMAE_MAX_LEN + 1, 0,
                    GPA_A, rec, 0, 0x53),
             DMAE_ERR_BAD_LEN, slot2, true);
    rec = rec_alloc(fx);
    bad_desc(fx,
             mkdesc(DMAE_OP_NOP, DMAE_DESC_F_COMPL | 0x80, 0, 0, 0, rec, 0,
                    0x54),
             DMAE_ERR_BAD_FLAGS, slot2, false);
    rec = rec_alloc(fx);
    bad_desc(fx,
             mkdesc(DMAE_OP_COPY, DMAE_DESC_F_COMPL, 64, GPA_HOLE, GPA_A,
                    rec, 0, 0x55),
             DMAE_ERR_SRC_FAULT, GPA_HOLE, true);
    /* a source that runs off the end of region B into the hole */
    assert_int_equal(vmm_mem_read(fx->vmm, GPA_A, before, sizeof(before)), 0);
    rec = rec_alloc(fx);
    bad_desc(fx,
             mkdesc(DMAE_OP_COPY, DMAE_DESC_F_COMPL, 200, GPA_B + SIZE_B - 100,
                    GPA_A, rec, 0, 0x56),
             DMAE_ERR_SRC_FAULT, GPA_B + SIZE_B - 100, true);
    assert_int_equal(vmm_mem_read(fx->vmm, GPA_A, after, sizeof(after)), 0);
    assert_memory_equal(before, after, sizeof(before)); /* nothing moved */
    rec = rec_alloc(fx);
    bad_desc(fx,
             mkdesc(DMAE_OP_CRC32C, DMAE_DESC_F_COMPL, 64, GPA_HOLE + 3, 0,
                    rec, 0, 0x57),
             DMAE_ERR_SRC_FAULT, GPA_HOLE + 3, true);
    rec = rec_alloc(fx);
    bad_desc(fx,
             mkdesc(DMAE_OP_COPY, DMAE_DESC_F_COMPL, 64, GPA_A, GPA_HOLE, rec,
                    0, 0x58),
             DMAE_ERR_DST_FAULT, GPA_HOLE, true);
    rec = rec_alloc(fx);
    bad_desc(fx,
             mkdesc(DMAE_OP_FILL, DMAE_DESC_F_COMPL, 64, 0, GPA_RO + 64, rec,
                    0, 0x59),
             DMAE_ERR_DST_FAULT, GPA_RO + 64, true);
    rec = rec_alloc(fx);
    bad_desc(fx,
             mkdesc(DMAE_OP_COMPARE, DMAE_DESC_F_COMPL, 64, GPA_A, GPA_HOLE,
                    rec, 0, 0x5a),
             DMAE_ERR_DST_FAULT, GPA_HOLE, true);
    /* records that cannot be written */
    bad_desc(fx,
             mkdesc(DMAE_OP_NOP, DMAE_DESC_F_COMPL, 0, 0, 0, GPA_COMPL + 8, 0,
                    0x5b),
             DMAE_ERR_COMPL_FAULT, GPA_COMPL + 8, false);
    bad_desc(fx,
             mkdesc(DMAE_OP_COPY, DMAE_DESC_F_COMPL, 64, GPA_A, GPA_A + 64,
                    GPA_HOLE, 0, 0x5c),
             DMAE_ERR_COMPL_FAULT, GPA_HOLE, false);
    bad_desc(fx,
             mkdesc(DMAE_OP_NOP, DMAE_DESC_F_COMPL, 0, 0, 0, GPA_RO, 0, 0x5d),
             DMAE_ERR_COMPL_FAULT, GPA_RO, false);

    /* after all that, every queue still works */
    q_start(fx, 2, 8, 0);
    rec = run1(fx, 2, DMAE_OP_FILL, 32, 0, GPA_A, 0x42, 0x60);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, 32, 0x60, 0);
    assert_int_equal(irq_take(fx, MSIX, DMAE_ERR_VECTOR), 0);
    (void)vmm_irq_disable(fx->vmm, MSIX);
}

/*
 * Over a socket with fd-less memory, play the VMM by hand: ring queue
 * @q's doorbell as a raw REGION_WRITE, then answer the device's DMA
 * messages until the doorbell's reply comes - from guest memory, except
 * DMA_READ number @fail_read and DMA_WRITE number @fail_write (1-based; 0:
 * none), which get error @err.
 */
static void
doorbell_by_hand(fx_t *fx, unsigned int q, unsigned int fail_read,
                 unsigned int fail_write, int err)
{
    struct vfio_user_header rq;
    struct vfio_user_region_access ra;
    uint32_t val = fx->dq[q].tail;
    uint8_t m[sizeof(rq) + sizeof(ra) + sizeof(val)];
    unsigned int reads = 0, writes = 0;
    uint16_t id = vmm_next_id(fx->vmm);

    memset(&rq, 0, sizeof(rq));
    rq.msg_id = id;
    rq.cmd = VFIO_USER_REGION_WRITE;
    rq.msg_size = sizeof(m);
    rq.flags = VFIO_USER_F_TYPE_COMMAND;
    ra.offset = DMAE_QREG(q, DMAE_Q_TAIL);
    ra.region = BAR0;
    ra.count = sizeof(val);
    memcpy(m, &rq, sizeof(rq));
    memcpy(m + sizeof(rq), &ra, sizeof(ra));
    memcpy(m + sizeof(rq) + sizeof(ra), &val, sizeof(val));
    assert_int_equal(vmm_send_bytes(fx->vmm, m, sizeof(m), NULL, 0), 0);
    for (;;) {
        struct vfio_user_dma_region_access acc;
        struct vfio_user_header *hdr;
        vmm_reply_t msg;
        bool fail, rd;
        size_t len;
        uint8_t *out;

        assert_int_equal(vmm_recv_any(fx->vmm, &msg), 0);
        if ((msg.hdr.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_REPLY) {
            assert_int_equal(msg.hdr.msg_id, id);
            assert_int_equal(msg.hdr.flags & VFIO_USER_F_ERROR, 0);
            vmm_reply_free(&msg);
            return;
        }
        rd = msg.hdr.cmd == VFIO_USER_DMA_READ;
        assert_true(rd || msg.hdr.cmd == VFIO_USER_DMA_WRITE);
        assert_true(msg.body_len >= sizeof(acc));
        memcpy(&acc, msg.body, sizeof(acc));
        assert_true(acc.count <= 4096);
        fail = rd ? ++reads == fail_read : ++writes == fail_write;
        len = sizeof(*hdr) + sizeof(acc) + (rd && !fail ? acc.count : 0);
        out = calloc(1, len);
        assert_non_null(out);
        hdr = (struct vfio_user_header *)out;
        hdr->msg_id = msg.hdr.msg_id;
        hdr->cmd = msg.hdr.cmd;
        hdr->msg_size = (uint32_t)len;
        hdr->flags = VFIO_USER_F_TYPE_REPLY | (fail ? VFIO_USER_F_ERROR : 0);
        hdr->error_no = fail ? (uint32_t)err : 0;
        memcpy(out + sizeof(*hdr), &acc, sizeof(acc));
        if (!fail && rd) {
            assert_int_equal(vmm_mem_read(fx->vmm, acc.addr,
                                          out + sizeof(*hdr) + sizeof(acc),
                                          acc.count),
                             0);
        } else if (!fail) {
            assert_int_equal(msg.body_len, sizeof(acc) + acc.count);
            assert_int_equal(vmm_mem_write(fx->vmm, acc.addr,
                                           msg.body + sizeof(acc), acc.count),
                             0);
        }
        assert_int_equal(vmm_send_bytes(fx->vmm, out, len, NULL, 0), 0);
        free(out);
        vmm_reply_free(&msg);
    }
}

/*
 * The VMM answers a DMA message with an error (the one device error a
 * well-behaved client cannot cause): the device halts the queue with
 * DMA_IO, or RING_FAULT / COMPL_FAULT for the ring and the record, and
 * carries on serving.
 */
static void
test_dmae_dma_io_errors(void **state)
{
    fx_t *fx = *state;
    const uint64_t src = GPA_A + 0x1000, dst = GPA_A + 0x20000;
    uint64_t rec;
    dmae_desc_t d;

    fx_map(fx);
    fx_msix(fx);
    drv_enable(fx);
    mem_put_random(fx, src, 4096, 77, NULL);

    /* reads: 1 the ring, 2 the source; the source fails */
    q_start(fx, 0, 8, 0);
    rec = rec_alloc(fx);
    d = mkdesc(DMAE_OP_COPY, DMAE_DESC_F_COMPL, 4096, src, dst, rec, 0, 1);
    q_put(fx, 0, &d);
    doorbell_by_hand(fx, 0, 2, 0, EIO);
    EXPECT_REC(fx, rec, DMAE_CS_ERROR, DMAE_ERR_DMA_IO, 0, 1, src);
    EXPECT_HALT(fx, 0, DMAE_ERR_DMA_IO, 0, src);

    /* writes: 1 the destination, which fails, 2 the error record */
    q_start(fx, 0, 8, 0);
    rec = rec_alloc(fx);
    d = mkdesc(DMAE_OP_COPY, DMAE_DESC_F_COMPL, 4096, src, dst, rec, 0, 2);
    q_put(fx, 0, &d);
    doorbell_by_hand(fx, 0, 0, 1, EACCES);
    EXPECT_REC(fx, rec, DMAE_CS_ERROR, DMAE_ERR_DMA_IO, 0, 2, dst);
    EXPECT_HALT(fx, 0, DMAE_ERR_DMA_IO, 0, dst);

    /* a COMPARE whose second operand fails */
    q_start(fx, 0, 8, 0);
    rec = rec_alloc(fx);
    d = mkdesc(DMAE_OP_COMPARE, DMAE_DESC_F_COMPL, 100, src, dst, rec, 0, 3);
    q_put(fx, 0, &d);
    doorbell_by_hand(fx, 0, 3, 0, EFAULT);
    EXPECT_REC(fx, rec, DMAE_CS_ERROR, DMAE_ERR_DMA_IO, 0, 3, dst);
    EXPECT_HALT(fx, 0, DMAE_ERR_DMA_IO, 0, dst);

    /* the fill succeeds, its record cannot be written */
    q_start(fx, 0, 8, 0);
    rec = rec_alloc(fx);
    d = mkdesc(DMAE_OP_FILL, DMAE_DESC_F_COMPL, 64, 0, dst, rec, 0xab, 4);
    q_put(fx, 0, &d);
    doorbell_by_hand(fx, 0, 0, 2, EIO);
    EXPECT_REC(fx, rec, DMAE_CS_NONE, 0, 0, 0, 0);
    EXPECT_HALT(fx, 0, DMAE_ERR_COMPL_FAULT, 0, rec);

    /* the ring itself cannot be read */
    q_start(fx, 0, 8, 0);
    d = mkdesc(DMAE_OP_NOP, 0, 0, 0, 0, 0, 0, 5);
    q_put(fx, 0, &d);
    doorbell_by_hand(fx, 0, 1, 0, EIO);
    EXPECT_HALT(fx, 0, DMAE_ERR_RING_FAULT, 0, GPA_RING);

    /* and with an honest VMM again, everything works */
    q_start(fx, 0, 8, 0);
    rec = run1(fx, 0, DMAE_OP_COPY, 4096, src, dst, 0, 6);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, 4096, 6, 0);
    (void)vmm_irq_disable(fx->vmm, MSIX);
}

/* The error interrupt falls back to INTx too. */
static void
test_dmae_error_intx(void **state)
{
    fx_t *fx = *state;

    fx_map(fx);
    fx_irq_enable(fx, INTX, 1);
    drv_enable(fx);
    q_start(fx, 0, 16, DMAE_QINT_ENABLE);
    bar_wr(fx, DMAE_QREG(0, DMAE_Q_TAIL), 4, 99);
    assert_int_equal(irq_take(fx, INTX, 0), 1);
    EXPECT_REG(fx, DMAE_REG_INT_STATUS, DMAE_INT_ERROR);
    EXPECT_QREG(fx, 0, DMAE_Q_ERROR, DMAE_ERR_BAD_TAIL);
    assert_true(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    bar_wr(fx, DMAE_REG_INT_STATUS, 4, DMAE_INT_ERROR);
    assert_false(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    (void)vmm_irq_disable(fx->vmm, INTX);
}

/*
 * The ring's region is unmapped under a running queue: the device drops
 * its mapping of it (the DMA unregister callback), and the next doorbell
 * halts the queue with RING_FAULT instead of touching freed memory.
 */
static void
test_dmae_ring_unmapped(void **state)
{
    fx_t *fx = *state;
    uint32_t nofd = fx->nofd ? VMM_MEM_NOFD : 0;
    uint64_t rec;

    fx_map(fx);
    fx_msix(fx);
    assert_int_equal(
        vmm_mem_map(fx->vmm, GPA_RING2, SIZE_RING2, VMM_MEM_RW | nofd), 0);
    drv_enable(fx);
    q_start_at(fx, 3, GPA_RING2, 64, 0);
    rec = run1(fx, 3, DMAE_OP_FILL, 8, 0, GPA_A, 1, 1);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, 8, 1, 0);
    /* fd-backed rings are read through a mapping, fd-less ones not */
    EXPECT_QREG(fx, 3, DMAE_Q_STATUS,
                DMAE_QSTATUS_RUNNING |
                    (fx->nofd ? 0 : DMAE_QSTATUS_RING_DIRECT));

    assert_int_equal(vmm_mem_unmap(fx->vmm, GPA_RING2, SIZE_RING2), 0);
    EXPECT_QREG(fx, 3, DMAE_Q_STATUS, DMAE_QSTATUS_RUNNING);
    bar_wr(fx, DMAE_QREG(3, DMAE_Q_TAIL), 4, 2);
    EXPECT_HALT(fx, 3, DMAE_ERR_RING_FAULT, 1,
                GPA_RING2 + 1 * DMAE_DESC_SIZE);
    EXPECT_QREG(fx, 3, DMAE_Q_COMPLETED, 0);

    /* new memory there, and the queue works again */
    assert_int_equal(
        vmm_mem_map(fx->vmm, GPA_RING2, SIZE_RING2, VMM_MEM_RW | nofd), 0);
    q_start_at(fx, 3, GPA_RING2, 64, 0);
    rec = run1(fx, 3, DMAE_OP_FILL, 8, 0, GPA_A, 2, 2);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, 8, 2, 0);
    /* data regions going away are faults, not crashes */
    assert_int_equal(vmm_mem_unmap(fx->vmm, GPA_B, SIZE_B), 0);
    bad_desc(fx,
             mkdesc(DMAE_OP_COPY, 0, 64, GPA_B, GPA_A, 0, 0, 3),
             DMAE_ERR_SRC_FAULT, GPA_B, false);
    (void)vmm_irq_disable(fx->vmm, MSIX);
}

/*
 * fd-backed memory is used through mappings unless the driver sets
 * NO_DIRECT; then it goes through DMA messages like fd-less memory.
 */
static void
test_dmae_direct_and_messages(void **state)
{
    fx_t *fx = *state;
    vmm_stats_t st0, st1, st2;
    uint8_t *src, *dst;
    uint64_t rec;

    fx_map(fx);
    drv_enable(fx);
    q_start(fx, 1, 16, 0);
    mem_put_random(fx, GPA_A, 0x30000, 3, NULL);
    vmm_get_stats(fx->vmm, &st0);
    rec = run1(fx, 1, DMAE_OP_COPY, 0x30000, GPA_A, GPA_A + 0x100000, 0, 1);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, 0x30000, 1, 0);
    vmm_get_stats(fx->vmm, &st1);
    if (fx->nofd) {
        assert_true(st1.dma_read_bytes - st0.dma_read_bytes >= 0x30000);
        assert_true(st1.dma_write_bytes - st0.dma_write_bytes >= 0x30000);
    } else {
        assert_int_equal(st1.dma_reads, st0.dma_reads);
        assert_int_equal(st1.dma_writes, st0.dma_writes);
        EXPECT_QREG(fx, 1, DMAE_Q_STATUS,
                    DMAE_QSTATUS_RUNNING | DMAE_QSTATUS_RING_DIRECT);
    }

    bar_wr(fx, DMAE_REG_CTRL, 4, DMAE_CTRL_ENABLE | DMAE_CTRL_NO_DIRECT);
    EXPECT_QREG(fx, 1, DMAE_Q_STATUS, DMAE_QSTATUS_RUNNING);
    rec = run1(fx, 1, DMAE_OP_COPY, 0x30000, GPA_A, GPA_A + 0x200000, 0, 2);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, 0x30000, 2, 0);
    vmm_get_stats(fx->vmm, &st2);
    /* every byte both ways, plus the descriptor and the record */
    assert_true(st2.dma_read_bytes - st1.dma_read_bytes >=
                0x30000 + DMAE_DESC_SIZE);
    assert_true(st2.dma_write_bytes - st1.dma_write_bytes >=
                0x30000 + DMAE_COMPL_SIZE);
    assert_int_equal(st2.dma_errors, st0.dma_errors);
    EXPECT_QREG(fx, 1, DMAE_Q_STATUS, DMAE_QSTATUS_RUNNING);
    src = mem_get(fx, GPA_A, 0x30000);
    dst = mem_get(fx, GPA_A + 0x200000, 0x30000);
    assert_memory_equal(src, dst, 0x30000);
    free(src);
    free(dst);
}

/* ------------------------------------------------------------------ */
/* Reset and reconnection                                              */
/* ------------------------------------------------------------------ */

static void
dirty_device(fx_t *fx)
{
    uint64_t rec;

    drv_enable(fx);
    q_start(fx, 0, 16, DMAE_QINT_ENABLE);
    q_start(fx, 1, 32, 0);
    rec = run1(fx, 0, DMAE_OP_FILL, 16, 0, GPA_A, 5, 1);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, 16, 1, 0);
    bar_wr(fx, DMAE_QREG(1, DMAE_Q_TAIL), 4, 77); /* BAD_TAIL */
    EXPECT_QREG(fx, 1, DMAE_Q_ERROR, DMAE_ERR_BAD_TAIL);
    bar_wr(fx, DMAE_MSIX_TABLE, 4, 0xfee00000);
    assert_int_not_equal(bar_rd(fx, DMAE_REG_ERR_CODE, 4), 0);
    assert_int_not_equal(bar_rd(fx, DMAE_REG_INT_STATUS, 4), 0);
}

static void
expect_reset_state(fx_t *fx)
{
    unsigned int q;

    EXPECT_REG(fx, DMAE_REG_ID, DMAE_ID_VALUE);
    EXPECT_REG(fx, DMAE_REG_CTRL, 0);
    EXPECT_REG(fx, DMAE_REG_STATUS, 0);
    EXPECT_REG(fx, DMAE_REG_ERR_CODE, 0);
    EXPECT_REG(fx, DMAE_REG_ERR_COUNT, 0);
    assert_int_equal(bar_rd(fx, DMAE_REG_ERR_ADDR_LO, 8), 0);
    EXPECT_REG(fx, DMAE_REG_INT_STATUS, 0);
    EXPECT_REG(fx, DMAE_MSIX_TABLE, 0);
    for (q = 0; q < DMAE_NR_QUEUES; q++) {
        uint32_t r;

        for (r = 0; r <= DMAE_Q_IRQ_COUNT; r += 4) {
            EXPECT_QREG(fx, q, r, 0);
        }
    }
    assert_false(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    fx->errors = 0;
}

static void
test_dmae_reset(void **state)
{
    fx_t *fx = *state;
    uint64_t exp, rec;

    fx_map(fx);
    /* DEVICE_RESET */
    dirty_device(fx);
    assert_int_equal(vmm_reset(fx->vmm), 0);
    expect_reset_state(fx);
    /* CTRL.RESET */
    dirty_device(fx);
    bar_wr(fx, DMAE_REG_CTRL, 4, DMAE_CTRL_ENABLE | DMAE_CTRL_RESET);
    expect_reset_state(fx);
    /* function level reset through the PCI Express capability */
    dirty_device(fx);
    exp = find_cap(fx, PCI_CAP_ID_EXP);
    cfg_wr(fx, exp + PCI_EXP_DEVCTL, 2,
           cfg_rd(fx, exp + PCI_EXP_DEVCTL, 2) | PCI_EXP_DEVCTL_BCR_FLR);
    expect_reset_state(fx);
    /* and the device works as before */
    drv_enable(fx);
    q_start(fx, 1, 16, 0);
    rec = run1(fx, 1, DMAE_OP_FILL, 8, 0, GPA_A, 0xab, 2);
    EXPECT_REC(fx, rec, DMAE_CS_OK, 0, 8, 2, 0);
}

/*
 * A client that leaves resets the device; the next one finds it as after
 * power-on, maps its own memory (the first client's mappings are gone)
 * and uses it.
 */
static void
test_dmae_second_client(void **state)
{
    fx_t *fx = *state;
    int i;

    fx_map(fx);
    for (i = 0; i < 2; i++) {
        uint64_t rec;
        uint64_t v = 0;

        dirty_device(fx);
        fx_drop_client(fx);
        assert_int_equal(fx_connect(fx), 0);
        fx->next_rec = 0;
        EXPECT_CFG(fx, PCI_VENDOR_ID, 2, DMAE_VENDOR_ID);
        expect_reset_state(fx);
        fx_map(fx);
        drv_enable(fx);
        q_start(fx, 3, 8, 0);
        rec = run1(fx, 3, DMAE_OP_FILL, 8, 0, GPA_A + 8, 0x77 + i, 3);
        EXPECT_REC(fx, rec, DMAE_CS_OK, 0, 8, 3, 0);
        assert_int_equal(vmm_mem_read(fx->vmm, GPA_A + 8, &v, 8), 0);
        assert_int_equal(v, 0x77 + (uint64_t)i);
    }
}

/* ------------------------------------------------------------------ */
/* The standalone binary                                               */
/* ------------------------------------------------------------------ */

/* `dmaengine -1 PATH` serves one client, exits 0 and removes its socket. */
static void
test_dmae_main_once(void **state)
{
    char path[256];
    fx_t fx;
    int status = -1;
    int i;

    (void)state;
    snprintf(path, sizeof(path), "%s", tu_sock_path("dmae-once"));
    memset(&fx, 0, sizeof(fx));
    snprintf(fx.path, sizeof(fx.path), "%s", path);
    fx.pid = spawn_dmaengine(path, true);
    assert_true(fx.pid > 0);
    assert_int_equal(fx_connect(&fx), 0);
    EXPECT_CFG(&fx, PCI_VENDOR_ID, 2, DMAE_VENDOR_ID);
    EXPECT_REG(&fx, DMAE_REG_ID, DMAE_ID_VALUE);
    vmm_close(fx.vmm);

    for (i = 0; i < 1000; i++) {
        if (waitpid(fx.pid, &status, WNOHANG) == fx.pid) {
            break;
        }
        sleep_ms(10);
    }
    if (i == 1000) {
        stop_dmaengine(fx.pid);
        fail_msg("dmaengine -1 did not exit after its client left");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(access(path, F_OK), -1);
}

static void
test_dmae_main_usage(void **state)
{
    char bin[4096];
    char bad[] = "-x";
    char *argv[] = {bin, bad, NULL};
    pid_t pid;
    int status = -1;

    (void)state;
    snprintf(bin, sizeof(bin), "%s", tu_build_path("devices/dmaengine"));
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);

        if (devnull >= 0) {
            dup2(devnull, STDERR_FILENO);
        }
        execv(bin, argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
}

/* The model is in the registry, under its name. */
static void
test_dmae_registry(void **state)
{
    const vfu_device_model_t *m = vfu_device_find("dmaengine");

    (void)state;
    assert_non_null(m);
    assert_string_equal(m->name, "dmaengine");
    assert_ptr_equal(m, &vfu_device_dmaengine);
}

/* each test four times: in-process or socket, memory with or without fd */
/* clang-format off */
#define ALL4(fn)                                                               \
    {#fn "_inproc_fd", fn, fx_setup_inproc_fd, fx_teardown, NULL},             \
    {#fn "_inproc_nofd", fn, fx_setup_inproc_nofd, fx_teardown, NULL},         \
    {#fn "_sock_fd", fn, fx_setup_sock_fd, fx_teardown, NULL},                 \
    {#fn "_sock_nofd", fn, fx_setup_sock_nofd, fx_teardown, NULL}
#define BOTH(fn)                                                               \
    {#fn "_inproc", fn, fx_setup_inproc_fd, fx_teardown, NULL},                \
    {#fn "_sock", fn, fx_setup_sock_fd, fx_teardown, NULL}
/* clang-format on */

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dmae_registry),
        BOTH(test_dmae_discovery),
        BOTH(test_dmae_config_space),
        BOTH(test_dmae_regs_identity),
        ALL4(test_dmae_queue_config),
        ALL4(test_dmae_op_copy),
        ALL4(test_dmae_op_fill),
        ALL4(test_dmae_op_crc32c),
        ALL4(test_dmae_op_compare),
        ALL4(test_dmae_op_nop),
        ALL4(test_dmae_large_chunked),
        ALL4(test_dmae_stress_random),
        ALL4(test_dmae_ring_wrap),
        ALL4(test_dmae_full_ring),
        ALL4(test_dmae_msix),
        ALL4(test_dmae_msix_function_mask),
        ALL4(test_dmae_intx_fallback),
        ALL4(test_dmae_errors),
        ALL4(test_dmae_error_intx),
        /* only over a socket can the test stand between device and VMM */
        {"test_dmae_dma_io_errors_sock_nofd", test_dmae_dma_io_errors,
         fx_setup_sock_nofd, fx_teardown, NULL},
        ALL4(test_dmae_ring_unmapped),
        ALL4(test_dmae_direct_and_messages),
        ALL4(test_dmae_reset),
        ALL4(test_dmae_second_client),
        cmocka_unit_test_setup_teardown(test_dmae_main_once, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_dmae_main_usage, tu_fd_setup,
                                        tu_fd_teardown),
    };

    /* a server that dies must not kill the test with SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("dmaengine_e2e", tests, NULL, NULL);
}
