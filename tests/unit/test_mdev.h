/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_mdev.h - "mdev", a small migratable device for the migration tests
 * (test_vmm_migr.c, test_migrate_e2e.c).  It does DMA: the guest queues
 * descriptors (address, length) and the device completes them, writing a
 * pattern that depends only on the descriptor into guest memory through
 * an sgl (mapped and put back, written directly, or by DMA_WRITE for
 * memory without an fd) and folding the descriptor into its state.  The
 * final guest memory and state therefore do not depend on where or when
 * each descriptor completed, so a run with a migration in the middle must
 * end exactly like one without.
 *
 * In PRE_COPY it completes one descriptor per round of reads (DMA while
 * the VMM copies), so the migration driver sees both new device data and
 * dirty pages.  Queued descriptors travel in the migration data and
 * complete on the destination.
 *
 * BAR0 (8-byte registers):
 *   0x00 ADDR, 0x08 LEN     the next descriptor
 *   0x10 DOORBELL (w)       queue it
 *   0x18 STEP (w n)         complete up to n queued descriptors
 *   0x20 COMPLETED (r)      descriptors completed
 *   0x28 PENDING (r)        descriptors queued
 *   0x30 NEXT_ID (r)        id the next descriptor gets
 *   0x100-0x13f BUF         64 bytes of state, read/write
 * Interrupts: INTx, and MSI-X 0-3 (descriptor id % 4 on completion).
 *
 * Migration data: records of a 16-byte header (magic "MDV1", u16 version,
 * u16 type, u32 length, u32 FNV-1a of the payload) and a payload: type 1
 * is BUF (pre-copy), type 2 everything (stop-and-copy), which must come
 * last.  The data is checked when RESUMING ends; a wrong magic or version
 * is refused as soon as it is written.
 *
 * With MDEV_CLIENT defined (cmocka tests): a device with its client in
 * this thread, behind a server thread or in a forked process, and the
 * workload every migration test runs and compares with a reference.
 */
#ifndef TEST_MDEV_H
#define TEST_MDEV_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vfio-user/libvfio-user.h"

#ifdef MDEV_CLIENT
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/testutil.h"
#include "vfio-user/vmm.h"
#endif

#define MDEV_UNUSED __attribute__((unused))

#define MDEV_ADDR 0x00
#define MDEV_LEN 0x08
#define MDEV_DOORBELL 0x10
#define MDEV_STEP 0x18
#define MDEV_COMPLETED 0x20
#define MDEV_PENDING 0x28
#define MDEV_NEXT_ID 0x30
#define MDEV_BUF 0x100
#define MDEV_BUF_LEN 64u
#define MDEV_MAX_PENDING 64u
#define MDEV_MAX_DESC (64u * 1024)
#define MDEV_MAX_IN (1u << 20)
#define MDEV_MAGIC 0x3156444du /* "MDV1" */
#define MDEV_REC_PRE 1u
#define MDEV_REC_FINAL 2u
#define MDEV_HDR_LEN 16u
#define MDEV_NR_MSIX 4u

typedef struct mdev_desc {
    uint64_t addr, len, id;
} mdev_desc_t;

typedef struct mdev {
    vfu_ctx_t *ctx;
    /* device state (what migrates) */
    uint64_t completed, next_id;
    uint8_t buf[MDEV_BUF_LEN];
    mdev_desc_t pending[MDEV_MAX_PENDING];
    uint32_t nr_pending;
    uint64_t reg_addr, reg_len;
    /* migration */
    vfu_migr_state_t mstate;
    uint8_t *out; /* data being read out */
    size_t out_len, out_pos;
    uint8_t *in; /* data written while resuming */
    size_t in_len;
    uint16_t version;     /* of the records it writes and accepts */
    bool precopy_dma;     /* complete one descriptor per pre-copy round */
    /* what happened, for the tests */
    uint64_t precopy_steps, dma_errors, records_in;
} mdev_t;

static MDEV_UNUSED uint32_t
mdev_fnv(const uint8_t *p, size_t len)
{
    uint32_t h = 2166136261u;

    while (len-- > 0) {
        h = (h ^ *p++) * 16777619u;
    }
    return h;
}

static MDEV_UNUSED uint8_t
mdev_pattern(uint64_t id, uint64_t i)
{
    return (uint8_t)(id * 31 + i * 7 + 1);
}

static MDEV_UNUSED bool
mdev_running(const mdev_t *d)
{
    return d->mstate == VFU_MIGR_STATE_RUNNING ||
           d->mstate == VFU_MIGR_STATE_PRE_COPY;
}

/* Complete the oldest queued descriptor. */
static MDEV_UNUSED void
mdev_step(mdev_t *d)
{
    mdev_desc_t ds;
    dma_sg_t *sg;
    uint8_t *data;
    uint64_t i;
    struct iovec iov;

    if (d->nr_pending == 0) {
        return;
    }
    ds = d->pending[0];
    memmove(&d->pending[0], &d->pending[1],
            (d->nr_pending - 1) * sizeof(d->pending[0]));
    d->nr_pending--;
    sg = calloc(1, dma_sg_size());
    data = malloc(ds.len);
    if (sg == NULL || data == NULL) {
        d->dma_errors++;
        goto out;
    }
    for (i = 0; i < ds.len; i++) {
        data[i] = mdev_pattern(ds.id, i);
    }
    if (vfu_addr_to_sgl(d->ctx, (vfu_dma_addr_t)(uintptr_t)ds.addr,
                        (size_t)ds.len, sg, 1, PROT_READ | PROT_WRITE) != 1) {
        d->dma_errors++;
        goto out;
    }
    if (vfu_sg_is_mappable(d->ctx, sg) && ds.id % 2 == 0) {
        if (vfu_sgl_get(d->ctx, sg, &iov, 1, 0) < 0) {
            d->dma_errors++;
            goto out;
        }
        memcpy(iov.iov_base, data, (size_t)ds.len);
        vfu_sgl_put(d->ctx, sg, &iov, 1);
    } else if (vfu_sgl_write(d->ctx, sg, 1, data, VFU_SGL_DIRECT_ACCESS) <
               0) {
        d->dma_errors++;
        goto out;
    }
    (void)vfu_irq_trigger(d->ctx, (uint32_t)(ds.id % MDEV_NR_MSIX));
out:
    /* the work is done either way: the state moves the same */
    d->completed++;
    d->buf[ds.id % MDEV_BUF_LEN] ^= (uint8_t)(ds.id + 1);
    free(sg);
    free(data);
}

static MDEV_UNUSED ssize_t
mdev_bar0(vfu_ctx_t *ctx, char *buf, size_t count, loff_t off, bool is_write)
{
    mdev_t *d = vfu_get_private(ctx);
    uint64_t v = 0;

    if (off >= MDEV_BUF && off + count <= MDEV_BUF + MDEV_BUF_LEN) {
        if (is_write) {
            if (mdev_running(d)) {
                memcpy(d->buf + (off - MDEV_BUF), buf, count);
            }
        } else {
            memcpy(buf, d->buf + (off - MDEV_BUF), count);
        }
        return (ssize_t)count;
    }
    if (count != 8 || off % 8 != 0) {
        errno = EINVAL;
        return -1;
    }
    if (is_write) {
        memcpy(&v, buf, 8);
        if (!mdev_running(d)) {
            return 8; /* a stopped device changes nothing */
        }
        switch (off) {
        case MDEV_ADDR:
            d->reg_addr = v;
            break;
        case MDEV_LEN:
            d->reg_len = v;
            break;
        case MDEV_DOORBELL:
            if (d->nr_pending >= MDEV_MAX_PENDING || d->reg_len == 0 ||
                d->reg_len > MDEV_MAX_DESC) {
                errno = EINVAL;
                return -1;
            }
            d->pending[d->nr_pending++] =
                (mdev_desc_t){d->reg_addr, d->reg_len, d->next_id++};
            break;
        case MDEV_STEP:
            while (v-- > 0 && d->nr_pending > 0) {
                mdev_step(d);
            }
            break;
        default:
            errno = EINVAL;
            return -1;
        }
        return 8;
    }
    switch (off) {
    case MDEV_ADDR:
        v = d->reg_addr;
        break;
    case MDEV_LEN:
        v = d->reg_len;
        break;
    case MDEV_COMPLETED:
        v = d->completed;
        break;
    case MDEV_PENDING:
        v = d->nr_pending;
        break;
    case MDEV_NEXT_ID:
        v = d->next_id;
        break;
    default:
        v = 0;
        break;
    }
    memcpy(buf, &v, 8);
    return 8;
}

/* ---- migration data ---- */

/* Append a record of @type with @len bytes of @payload to d->out. */
static MDEV_UNUSED int
mdev_emit(mdev_t *d, uint16_t type, const uint8_t *payload, uint32_t len)
{
    uint8_t h[MDEV_HDR_LEN];
    uint32_t magic = MDEV_MAGIC, sum = mdev_fnv(payload, len);
    uint8_t *p = realloc(d->out, d->out_len + sizeof(h) + len);

    if (p == NULL) {
        return -1;
    }
    memcpy(h, &magic, 4);
    memcpy(h + 4, &d->version, 2);
    memcpy(h + 6, &type, 2);
    memcpy(h + 8, &len, 4);
    memcpy(h + 12, &sum, 4);
    memcpy(p + d->out_len, h, sizeof(h));
    memcpy(p + d->out_len + sizeof(h), payload, len);
    d->out = p;
    d->out_len += sizeof(h) + len;
    return 0;
}

static MDEV_UNUSED uint32_t
mdev_final_len(uint32_t nr_pending)
{
    return 8 + 8 + MDEV_BUF_LEN + 8 + nr_pending * 24u;
}

static MDEV_UNUSED int
mdev_emit_final(mdev_t *d)
{
    uint32_t len = mdev_final_len(d->nr_pending), pad = 0;
    uint8_t *p = malloc(len), *q = p;
    uint32_t i;
    int rc;

    if (p == NULL) {
        return -1;
    }
    memcpy(q, &d->completed, 8), q += 8;
    memcpy(q, &d->next_id, 8), q += 8;
    memcpy(q, d->buf, MDEV_BUF_LEN), q += MDEV_BUF_LEN;
    memcpy(q, &d->nr_pending, 4), q += 4;
    memcpy(q, &pad, 4), q += 4;
    for (i = 0; i < d->nr_pending; i++) {
        memcpy(q, &d->pending[i], 24), q += 24;
    }
    rc = mdev_emit(d, MDEV_REC_FINAL, p, len);
    free(p);
    return rc;
}

static MDEV_UNUSED void
mdev_out_reset(mdev_t *d)
{
    free(d->out);
    d->out = NULL;
    d->out_len = d->out_pos = 0;
}

/* Check and apply everything written while resuming. */
static MDEV_UNUSED int
mdev_load(mdev_t *d)
{
    mdev_t tmp = *d;
    size_t at = 0;
    bool final = false;

    while (at < d->in_len) {
        uint32_t magic, len, sum;
        uint16_t ver, type;
        const uint8_t *p;

        if (final || d->in_len - at < MDEV_HDR_LEN) {
            return -1; /* data after the last record, or truncated */
        }
        memcpy(&magic, d->in + at, 4);
        memcpy(&ver, d->in + at + 4, 2);
        memcpy(&type, d->in + at + 6, 2);
        memcpy(&len, d->in + at + 8, 4);
        memcpy(&sum, d->in + at + 12, 4);
        p = d->in + at + MDEV_HDR_LEN;
        if (magic != MDEV_MAGIC || ver != d->version ||
            len > d->in_len - at - MDEV_HDR_LEN || mdev_fnv(p, len) != sum) {
            return -1;
        }
        if (type == MDEV_REC_PRE) {
            if (len != MDEV_BUF_LEN) {
                return -1;
            }
            memcpy(tmp.buf, p, MDEV_BUF_LEN);
        } else if (type == MDEV_REC_FINAL) {
            uint32_t nr;

            if (len < mdev_final_len(0)) {
                return -1;
            }
            memcpy(&nr, p + 16 + MDEV_BUF_LEN, 4);
            if (nr > MDEV_MAX_PENDING || len != mdev_final_len(nr)) {
                return -1;
            }
            memcpy(&tmp.completed, p, 8);
            memcpy(&tmp.next_id, p + 8, 8);
            memcpy(tmp.buf, p + 16, MDEV_BUF_LEN);
            tmp.nr_pending = nr;
            memcpy(tmp.pending, p + 16 + MDEV_BUF_LEN + 8, (size_t)nr * 24);
            final = true;
        } else {
            return -1;
        }
        tmp.records_in++;
        at += MDEV_HDR_LEN + len;
    }
    if (!final) {
        return -1;
    }
    d->completed = tmp.completed;
    d->next_id = tmp.next_id;
    memcpy(d->buf, tmp.buf, MDEV_BUF_LEN);
    d->nr_pending = tmp.nr_pending;
    memcpy(d->pending, tmp.pending, sizeof(d->pending));
    d->records_in = tmp.records_in;
    return 0;
}

static MDEV_UNUSED int
mdev_transition(vfu_ctx_t *ctx, vfu_migr_state_t st)
{
    mdev_t *d = vfu_get_private(ctx);
    vfu_migr_state_t from = d->mstate;

    switch (st) {
    case VFU_MIGR_STATE_PRE_COPY:
        mdev_out_reset(d);
        if (mdev_emit(d, MDEV_REC_PRE, d->buf, MDEV_BUF_LEN) < 0) {
            errno = ENOMEM;
            return -1;
        }
        break;
    case VFU_MIGR_STATE_STOP_AND_COPY:
        if (from != VFU_MIGR_STATE_PRE_COPY) {
            mdev_out_reset(d);
        }
        if (mdev_emit_final(d) < 0) {
            errno = ENOMEM;
            return -1;
        }
        break;
    case VFU_MIGR_STATE_STOP:
        if (from == VFU_MIGR_STATE_RESUME) {
            int rc = mdev_load(d);

            free(d->in);
            d->in = NULL;
            d->in_len = 0;
            if (rc < 0) {
                errno = EINVAL;
                return -1;
            }
        }
        mdev_out_reset(d);
        break;
    case VFU_MIGR_STATE_RESUME:
        free(d->in);
        d->in = NULL;
        d->in_len = 0;
        break;
    case VFU_MIGR_STATE_RUNNING:
        mdev_out_reset(d);
        break;
    }
    d->mstate = st;
    return 0;
}

static MDEV_UNUSED ssize_t
mdev_read_data(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
    mdev_t *d = vfu_get_private(ctx);
    size_t n;

    if (d->out_pos == d->out_len && d->mstate == VFU_MIGR_STATE_PRE_COPY &&
        d->precopy_dma && d->nr_pending > 0) {
        /* DMA while the VMM copies; the new state goes out next */
        mdev_step(d);
        d->precopy_steps++;
        if (mdev_emit(d, MDEV_REC_PRE, d->buf, MDEV_BUF_LEN) < 0) {
            errno = ENOMEM;
            return -1;
        }
    }
    n = d->out_len - d->out_pos;
    if (n > count) {
        n = (size_t)count;
    }
    memcpy(buf, d->out + d->out_pos, n);
    d->out_pos += n;
    return (ssize_t)n;
}

static MDEV_UNUSED ssize_t
mdev_write_data(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
    mdev_t *d = vfu_get_private(ctx);
    uint8_t *p;

    if (count > MDEV_MAX_IN - d->in_len) {
        errno = ENOSPC;
        return -1;
    }
    p = realloc(d->in, d->in_len + (size_t)count + 1);
    if (p == NULL) {
        errno = ENOMEM;
        return -1;
    }
    d->in = p;
    memcpy(d->in + d->in_len, buf, (size_t)count);
    d->in_len += (size_t)count;
    /* a stream that does not start like ours is refused at once */
    if (d->in_len >= 6) {
        uint32_t magic;
        uint16_t ver;

        memcpy(&magic, d->in, 4);
        memcpy(&ver, d->in + 4, 2);
        if (magic != MDEV_MAGIC || ver != d->version) {
            errno = EINVAL;
            return -1;
        }
    }
    return (ssize_t)count;
}

static MDEV_UNUSED int
mdev_reset(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
    mdev_t *d = vfu_get_private(ctx);

    if (type == VFU_RESET_LOST_CONN) {
        return 0; /* the state stays for the next client (the spec) */
    }
    d->completed = d->next_id = 0;
    d->nr_pending = 0;
    memset(d->buf, 0, sizeof(d->buf));
    free(d->in);
    d->in = NULL;
    d->in_len = 0;
    mdev_out_reset(d);
    d->mstate = VFU_MIGR_STATE_RUNNING;
    return 0;
}

static MDEV_UNUSED void
mdev_dma_register(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
    (void)ctx;
    (void)info;
}

static MDEV_UNUSED void
mdev_dma_unregister(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
    (void)ctx;
    (void)info;
}

static MDEV_UNUSED void
mdev_log(vfu_ctx_t *ctx, int level, const char *msg)
{
    (void)ctx;
    if (getenv("MDEV_LOG") != NULL) {
        fprintf(stderr, "mdev[%d] %s\n", level, msg);
    }
}

/* A realized mdev on a new context; NULL on failure. */
static MDEV_UNUSED mdev_t *
mdev_create(vfu_trans_t trans, const char *path, int flags)
{
    static const vfu_migration_callbacks_t cbs = {
        .version = VFU_MIGR_CALLBACKS_VERS,
        .transition = mdev_transition,
        .read_data = mdev_read_data,
        .write_data = mdev_write_data,
    };
    mdev_t *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        return NULL;
    }
    d->version = 1;
    d->precopy_dma = true;
    d->mstate = VFU_MIGR_STATE_RUNNING;
    d->ctx = vfu_create_ctx(trans, path, flags, d, VFU_DEV_TYPE_PCI);
    if (d->ctx == NULL || vfu_setup_log(d->ctx, mdev_log, LOG_DEBUG) < 0 ||
        vfu_pci_init(d->ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL,
                     0) < 0 ||
        vfu_setup_region(d->ctx, VFU_PCI_DEV_BAR0_REGION_IDX, 4096, mdev_bar0,
                         VFU_REGION_FLAG_RW, NULL, 0, -1, 0) < 0 ||
        vfu_setup_device_nr_irqs(d->ctx, VFU_DEV_INTX_IRQ, 1) < 0 ||
        vfu_setup_device_nr_irqs(d->ctx, VFU_DEV_MSIX_IRQ, MDEV_NR_MSIX) < 0 ||
        vfu_setup_device_dma(d->ctx, 64, mdev_dma_register,
                             mdev_dma_unregister) < 0 ||
        vfu_setup_device_reset_cb(d->ctx, mdev_reset) < 0 ||
        vfu_setup_device_migration_callbacks(d->ctx, &cbs) < 0 ||
        vfu_realize_ctx(d->ctx) < 0) {
        vfu_destroy_ctx(d->ctx);
        free(d);
        return NULL;
    }
    return d;
}

static MDEV_UNUSED void
mdev_destroy(mdev_t *d)
{
    if (d == NULL) {
        return;
    }
    vfu_destroy_ctx(d->ctx);
    free(d->out);
    free(d->in);
    free(d);
}

/*
 * Serve one client on a socket context until it leaves (for a server
 * thread or a forked child).
 */
static MDEV_UNUSED void
mdev_serve(mdev_t *d)
{
    if (vfu_attach_ctx(d->ctx) < 0) {
        return;
    }
    for (;;) {
        if (vfu_run_ctx(d->ctx) < 0 && errno != EINTR && errno != EBUSY) {
            break;
        }
    }
}

/* ------------------------------------------------------------------ */
/* The client's side: a device and its client, and the workload        */
/* ------------------------------------------------------------------ */

#ifdef MDEV_CLIENT

#define PG 4096u
#define BAR0 VFU_PCI_DEV_BAR0_REGION_IDX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX

/* Commands the client sent, per command. */
typedef struct mdev_wire {
    unsigned out[VFIO_USER_MAX];
} mdev_wire_t;

static MDEV_UNUSED void
mdev_wire_cb(void *arg, bool outgoing, const struct vfio_user_header *hdr,
             const void *body, size_t len, size_t nr_fds)
{
    mdev_wire_t *w = arg;

    (void)body;
    (void)len;
    (void)nr_fds;
    if (outgoing && hdr->cmd < VFIO_USER_MAX) {
        w->out[hdr->cmd]++;
    }
}

/* Guest memory: fd-backed A, fd-less B (DMA_WRITE), read-only fd C. */
#define MEM_A 0x100000ull
#define MEM_A_SIZE (64u * PG)
#define MEM_B 0x400000ull
#define MEM_B_SIZE (16u * PG)
#define MEM_C 0x500000ull
#define MEM_C_SIZE (4u * PG)
#define NR_DESC 12u

enum mode { INPROC, THREAD, FORK };

typedef struct node {
    enum mode mode;
    mdev_t *d;   /* INPROC, THREAD (touch only after the join) */
    vmm_t *vmm;
    pthread_t thr;
    bool thr_running;
    pid_t pid;
    char path[128];
    mdev_wire_t wire;
} node_t;

static MDEV_UNUSED void *
serve_thread(void *arg)
{
    mdev_serve(arg);
    return NULL;
}

static MDEV_UNUSED void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static MDEV_UNUSED int
connect_retry(const char *path, const vmm_opts_t *opts, vmm_t **out)
{
    int rc = -ENOENT;
    int i;

    for (i = 0; i < 500; i++) {
        rc = vmm_connect(path, opts, out);
        if (rc != -ENOENT && rc != -ECONNREFUSED) {
            break;
        }
        sleep_ms(10);
    }
    return rc;
}

/*
 * A forked server must not keep the parent's connections to other
 * servers open: those would never see their client hang up.
 */
static MDEV_UNUSED void
close_inherited(void)
{
    struct rlimit rl;
    int fd;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > 65536) {
        rl.rlim_cur = 1024;
    }
    for (fd = 3; fd < (int)rl.rlim_cur; fd++) {
        close(fd);
    }
}

static MDEV_UNUSED void
node_open_opts(node_t *n, enum mode mode, const vmm_opts_t *opts,
               uint16_t version)
{
    memset(n, 0, sizeof(*n));
    n->mode = mode;
    if (mode == INPROC) {
        n->d = mdev_create(VFU_TRANS_EXT_INPROC, NULL,
                           LIBVFIO_USER_FLAG_ATTACH_NB);
        assert_non_null(n->d);
        n->d->version = version;
        assert_int_equal(vmm_attach_inproc(n->d->ctx, opts, &n->vmm), 0);
    } else {
        snprintf(n->path, sizeof(n->path), "%s", tu_sock_path("mig"));
        if (mode == THREAD) {
            n->d = mdev_create(VFU_TRANS_SOCK, n->path, 0);
            assert_non_null(n->d);
            n->d->version = version;
            assert_int_equal(pthread_create(&n->thr, NULL, serve_thread,
                                            n->d),
                             0);
            n->thr_running = true;
        } else {
            n->pid = fork();
            assert_true(n->pid >= 0);
            if (n->pid == 0) {
                mdev_t *d;

                close_inherited();
                d = mdev_create(VFU_TRANS_SOCK, n->path, 0);

                if (d == NULL) {
                    _exit(1);
                }
                d->version = version;
                mdev_serve(d);
                mdev_destroy(d);
                _exit(0);
            }
        }
        assert_int_equal(connect_retry(n->path, opts, &n->vmm), 0);
    }
    vmm_set_trace_hook(n->vmm, mdev_wire_cb, &n->wire);
}

static MDEV_UNUSED void
node_open(node_t *n, enum mode mode)
{
    node_open_opts(n, mode, NULL, 1);
}

static MDEV_UNUSED void
node_close(node_t *n)
{
    int status;

    vmm_close(n->vmm);
    n->vmm = NULL;
    if (n->thr_running) {
        pthread_join(n->thr, NULL);
        n->thr_running = false;
    }
    if (n->pid > 0) {
        assert_int_equal(waitpid(n->pid, &status, 0), n->pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        n->pid = 0;
    }
    if (n->path[0] != '\0') {
        unlink(n->path);
    }
    mdev_destroy(n->d);
    n->d = NULL;
}

/* ------------------------------------------------------------------ */
/* The workload                                                        */
/* ------------------------------------------------------------------ */

static MDEV_UNUSED uint64_t
reg_read(vmm_t *vmm, uint64_t off)
{
    uint64_t v = 0;

    assert_int_equal(vmm_region_read_val(vmm, BAR0, off, 8, &v), 0);
    return v;
}

static MDEV_UNUSED void
reg_write(vmm_t *vmm, uint64_t off, uint64_t v)
{
    assert_int_equal(vmm_region_write_val(vmm, BAR0, off, 8, v), 0);
}

/* Descriptor @i: in A or (every third) in B, never across a page run. */
static MDEV_UNUSED void
desc_at(uint32_t i, uint64_t *addr, uint64_t *len)
{
    if (i % 3 == 2) {
        *addr = MEM_B + (i % 4) * PG + 16 * i;
        *len = 200 + 50 * i;
    } else {
        *addr = MEM_A + ((i * 5) % 60) * PG + 64 * i;
        *len = 100 + 300 * i;
    }
}

/* Memory, a guest pattern, interrupts, and NR_DESC queued descriptors. */
static MDEV_UNUSED void
workload_setup(vmm_t *vmm)
{
    uint32_t i;

    assert_int_equal(vmm_mem_map(vmm, MEM_A, MEM_A_SIZE, VMM_MEM_RW), 0);
    assert_int_equal(vmm_mem_map(vmm, MEM_B, MEM_B_SIZE,
                                 VMM_MEM_RW | VMM_MEM_NOFD),
                     0);
    assert_int_equal(vmm_mem_map(vmm, MEM_C, MEM_C_SIZE, VMM_MEM_READ), 0);
    assert_int_equal(vmm_mem_fill(vmm, MEM_A + 40 * PG, 0x11, 3 * PG), 0);
    assert_int_equal(vmm_mem_fill(vmm, MEM_B + 10 * PG, 0x22, PG + 7), 0);
    assert_int_equal(vmm_mem_fill(vmm, MEM_C + PG, 0x33, 100), 0);
    assert_int_equal(vmm_irq_enable(vmm, MSIX, 0, MDEV_NR_MSIX), 0);
    assert_int_equal(vmm_irq_enable(vmm, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0);
    assert_int_equal(vmm_region_write(vmm, BAR0, MDEV_BUF, "guest", 5), 0);
    for (i = 0; i < NR_DESC; i++) {
        uint64_t addr, len;

        desc_at(i, &addr, &len);
        reg_write(vmm, MDEV_ADDR, addr);
        reg_write(vmm, MDEV_LEN, len);
        reg_write(vmm, MDEV_DOORBELL, 1);
    }
    assert_int_equal(reg_read(vmm, MDEV_PENDING), NR_DESC);
}

typedef struct devstate {
    uint64_t completed, pending, next_id;
    uint8_t buf[MDEV_BUF_LEN];
} devstate_t;

static MDEV_UNUSED void
dev_state(vmm_t *vmm, devstate_t *s)
{
    s->completed = reg_read(vmm, MDEV_COMPLETED);
    s->pending = reg_read(vmm, MDEV_PENDING);
    s->next_id = reg_read(vmm, MDEV_NEXT_ID);
    assert_int_equal(vmm_region_read(vmm, BAR0, MDEV_BUF, s->buf,
                                     sizeof(s->buf)),
                     0);
}

static MDEV_UNUSED void
assert_same_dev(vmm_t *a, vmm_t *b)
{
    devstate_t x, y;

    dev_state(a, &x);
    dev_state(b, &y);
    assert_int_equal(x.completed, y.completed);
    assert_int_equal(x.pending, y.pending);
    assert_int_equal(x.next_id, y.next_id);
    assert_memory_equal(x.buf, y.buf, sizeof(x.buf));
}

static MDEV_UNUSED void
assert_same_region(vmm_t *a, vmm_t *b, uint64_t gpa, size_t size)
{
    uint8_t *x = vmm_mem_ptr(a, gpa, size);
    uint8_t *y = vmm_mem_ptr(b, gpa, size);

    assert_non_null(x);
    assert_non_null(y);
    assert_memory_equal(x, y, size);
}

static MDEV_UNUSED void
assert_same_mem(vmm_t *a, vmm_t *b)
{
    assert_same_region(a, b, MEM_A, MEM_A_SIZE);
    assert_same_region(a, b, MEM_B, MEM_B_SIZE);
    assert_same_region(a, b, MEM_C, MEM_C_SIZE);
}

/* Triggers per MSI-X vector (taken with @take). */
static MDEV_UNUSED void
irq_counts(vmm_t *vmm, uint64_t *c, bool take)
{
    uint32_t v;

    for (v = 0; v < MDEV_NR_MSIX; v++) {
        assert_int_equal(vmm_irq_count(vmm, MSIX, v, take, &c[v]), 0);
    }
}

/* The reference: the same workload, no migration, run to the end. */
static MDEV_UNUSED void
reference(node_t *ref)
{
    node_open(ref, INPROC);
    workload_setup(ref->vmm);
    reg_write(ref->vmm, MDEV_STEP, NR_DESC);
    assert_int_equal(reg_read(ref->vmm, MDEV_COMPLETED), NR_DESC);
    assert_int_equal(ref->d->dma_errors, 0);
}

/* dst carries on to the end; it must match the reference. */
static MDEV_UNUSED void
finish_and_compare(node_t *dst, node_t *ref)
{
    uint64_t a[MDEV_NR_MSIX], b[MDEV_NR_MSIX];

    reg_write(dst->vmm, MDEV_STEP, NR_DESC);
    assert_int_equal(reg_read(dst->vmm, MDEV_PENDING), 0);
    assert_same_dev(dst->vmm, ref->vmm);
    assert_same_mem(dst->vmm, ref->vmm);
    irq_counts(dst->vmm, a, true);
    irq_counts(ref->vmm, b, false); /* the reference serves again */
    assert_memory_equal(a, b, sizeof(a));
}

#endif /* MDEV_CLIENT */

#endif /* TEST_MDEV_H */
