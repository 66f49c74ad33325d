/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_dev_migrate_e2e.c - migration of the sample devices (gpio and
 * dmaengine) through the fake VMM: live migration between two instances
 * in one process and between two spawned device binaries over UNIX
 * sockets, save and restore through a file, and the destination device
 * refusing corrupted data while keeping its state.
 *
 * dmaengine runs a workload twice: once on a reference device without
 * migration, once migrated half-way with descriptors in flight (queued
 * past HEAD, left there by the queue's BUDGET, and MSI-X messages held in
 * the PBA).  Guest memory, registers, config space and interrupt counts
 * must then be the same byte for byte.  Blobs are forged here with this
 * file's own bitwise CRC32C, from the layouts in the device headers.
 *
 * Until the client's migration driver is linked (vmm_migrate and friends
 * answer -ENOSYS), the tests that need it are skipped.
 */

#include <errno.h>
#include <endian.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/testutil.h"

#include "common/devmig.h"
#include "devices.h"
#include "dmaengine/dmaengine.h"
#include "gpio/gpio.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/vmm.h"

#define BAR0 VFU_PCI_DEV_BAR0_REGION_IDX
#define BAR2 VFU_PCI_DEV_BAR2_REGION_IDX
#define CFG VFU_PCI_DEV_CFG_REGION_IDX
#define INTX VFIO_PCI_INTX_IRQ_INDEX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX

#define ST_STOP VFIO_USER_DEVICE_STATE_STOP
#define ST_RUNNING VFIO_USER_DEVICE_STATE_RUNNING
#define ST_STOP_COPY VFIO_USER_DEVICE_STATE_STOP_COPY
#define ST_RESUMING VFIO_USER_DEVICE_STATE_RESUMING
#define ST_PRE_COPY VFIO_USER_DEVICE_STATE_PRE_COPY

#define GPIO_BLOB DEVMIG_BLOB_SIZE(GPIO_MIG_PAYLOAD_SIZE)
#define DMAE_BLOB DEVMIG_BLOB_SIZE(DMAE_MIG_PAYLOAD_SIZE)
/* room for every stream a device produces (a torn preview and a blob) */
#define STREAM_MAX (2 * DMAE_BLOB + 4096)

/*
 * The client's migration driver may not be there yet: skip (only) on
 * ENOSYS, otherwise the call must succeed.
 */
#define MIG_OK(expr)                                                           \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ == -ENOSYS) {                                                  \
            skip();                                                            \
        }                                                                      \
        assert_int_equal(rc_, 0);                                              \
    } while (0)

/* A call that must fail (with anything but ENOSYS). */
#define MIG_FAILS(expr)                                                        \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ == -ENOSYS) {                                                  \
            skip();                                                            \
        }                                                                      \
        assert_true(rc_ < 0);                                                  \
    } while (0)

/* ------------------------------------------------------------------ */
/* Nodes: a device (in-process or a spawned binary) and its client      */
/* ------------------------------------------------------------------ */

typedef struct node {
    bool open;
    bool inproc;
    vfu_device_t dev;
    pid_t pid;
    char path[256];
    vmm_t *vmm;
} node_t;

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void
dump_regions_cache(node_t *n)
{
    const uint32_t idx[] = {BAR0, BAR2, VFU_PCI_DEV_CFG_REGION_IDX};
    const vmm_region_t *r;
    size_t i;

    for (i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
        (void)vmm_region_info(n->vmm, idx[i], &r);
    }
}

static pid_t
spawn_device(const char *name, const char *path)
{
    char bin[4096];
    char sock[256];
    char rel[64];
    char *argv[] = {bin, sock, NULL};

    snprintf(rel, sizeof(rel), "devices/%s", name);
    snprintf(bin, sizeof(bin), "%s", tu_build_path(rel));
    snprintf(sock, sizeof(sock), "%s", path);
    return tu_spawn(argv, path);
}

/* SIGTERM the server and reap it, signalling again if it lingers. */
static int
stop_device(pid_t pid)
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
node_open(node_t *n, const char *name, bool inproc)
{
    int rc = -EINVAL;
    int i;

    memset(n, 0, sizeof(*n));
    n->inproc = inproc;
    n->pid = -1;
    if (inproc) {
        rc = vfu_device_open(name, VFU_TRANS_EXT_INPROC, NULL, 0, &n->dev);
        if (rc < 0) {
            fprintf(stderr, "vfu_device_open(%s): %s\n", name, strerror(-rc));
            return rc;
        }
        rc = vmm_attach_inproc(n->dev.ctx, NULL, &n->vmm);
        if (rc < 0) {
            vfu_device_close(&n->dev);
            return rc;
        }
        goto opened;
    }
    snprintf(n->path, sizeof(n->path), "%s", tu_sock_path(name));
    n->pid = spawn_device(name, n->path);
    if (n->pid < 0) {
        fprintf(stderr, "cannot spawn the %s binary\n", name);
        return -ECHILD;
    }
    for (i = 0; i < 200; i++) {
        rc = vmm_connect(n->path, NULL, &n->vmm);
        if (rc != -ECONNREFUSED && rc != -ENOENT) {
            break;
        }
        sleep_ms(10);
    }
    if (rc < 0) {
        fprintf(stderr, "connect %s: %s\n", n->path, strerror(-rc));
        stop_device(n->pid);
        return rc;
    }
opened:
    n->open = true;
    /*
     * A stopped device answers no DEVICE_GET_REGION_INFO: ask now, while
     * it runs, so that dumps taken later find the answers in the cache.
     */
    dump_regions_cache(n);
    return 0;
}

/* Close client and device; 0, or -1 when the device binary misbehaved. */
static int
node_close(node_t *n)
{
    int status = 0;

    if (!n->open) {
        return 0;
    }
    vmm_close(n->vmm);
    n->vmm = NULL;
    if (n->inproc) {
        vfu_device_close(&n->dev);
    } else {
        status = stop_device(n->pid);
        if (status != 0) {
            fprintf(stderr, "%s: device exited with status %d\n", n->path,
                    status);
        } else if (access(n->path, F_OK) == 0) {
            fprintf(stderr, "device left %s behind\n", n->path);
            status = -1;
        }
    }
    n->open = false;
    return status == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Fixture: three nodes of one device model                            */
/* ------------------------------------------------------------------ */

/* Workload driver state for dmaengine, which outlives a migration. */
typedef struct drv_q {
    uint64_t ring;
    uint32_t size;
    uint32_t tail;
} drv_q_t;

typedef struct drv {
    drv_q_t q[DMAE_NR_QUEUES];
    uint64_t next_rec;
} drv_t;

typedef struct fx {
    const char *name;
    bool inproc;
    bool nofd;
    node_t a, b, c; /* source, destination, reference or spare */
    char file[256]; /* save file, removed at teardown */
    drv_t drv_mig, drv_ref;
} fx_t;

static int
fx_setup(void **state, const char *name, bool inproc, bool nofd)
{
    fx_t *fx = calloc(1, sizeof(*fx));

    tu_fd_setup(state);
    if (fx == NULL) {
        return -1;
    }
    fx->name = name;
    fx->inproc = inproc;
    fx->nofd = nofd;
    if (node_open(&fx->a, name, inproc) < 0 ||
        node_open(&fx->b, name, inproc) < 0 ||
        node_open(&fx->c, name, inproc) < 0) {
        node_close(&fx->a);
        node_close(&fx->b);
        node_close(&fx->c);
        free(fx);
        return -1;
    }
    snprintf(fx->file, sizeof(fx->file), "%s", tu_sock_path("save"));
    *state = fx;
    return 0;
}

static int
fx_teardown(void **state)
{
    fx_t *fx = *state;
    int rc = 0;

    if (fx != NULL) {
        rc |= node_close(&fx->a);
        rc |= node_close(&fx->b);
        rc |= node_close(&fx->c);
        unlink(fx->file);
        free(fx);
        *state = NULL;
    }
    if (tu_fd_teardown(state) < 0) {
        return -1;
    }
    return rc == 0 ? 0 : -1;
}

static int
gpio_inproc(void **state)
{
    return fx_setup(state, "gpio", true, false);
}

static int
gpio_sock(void **state)
{
    return fx_setup(state, "gpio", false, false);
}

static int
dmae_inproc_fd(void **state)
{
    return fx_setup(state, "dmaengine", true, false);
}

static int
dmae_inproc_nofd(void **state)
{
    return fx_setup(state, "dmaengine", true, true);
}

static int
dmae_sock_fd(void **state)
{
    return fx_setup(state, "dmaengine", false, false);
}

static int
dmae_sock_nofd(void **state)
{
    return fx_setup(state, "dmaengine", false, true);
}

/* ------------------------------------------------------------------ */
/* Register access, dumps, blobs                                       */
/* ------------------------------------------------------------------ */

static uint32_t
rd32(node_t *n, uint32_t region, uint64_t off)
{
    uint64_t v = ~0ull;

    assert_int_equal(vmm_region_read_val(n->vmm, region, off, 4, &v), 0);
    return (uint32_t)v;
}

static void
wr32(node_t *n, uint32_t region, uint64_t off, uint32_t v)
{
    assert_int_equal(vmm_region_write_val(n->vmm, region, off, 4, v), 0);
}

static uint64_t
cfg_rd(node_t *n, uint64_t off, size_t size)
{
    uint64_t v = ~0ull;

    assert_int_equal(vmm_config_read(n->vmm, off, size, &v), 0);
    return v;
}

static void
cfg_wr(node_t *n, uint64_t off, size_t size, uint64_t v)
{
    assert_int_equal(vmm_config_write(n->vmm, off, size, v), 0);
}

/* Offset of capability @id in config space, 0 if absent. */
static uint64_t
find_cap(node_t *n, uint8_t id)
{
    uint64_t pos = cfg_rd(n, PCI_CAPABILITY_LIST, 1);
    int hops = 0;

    while (pos != 0 && hops++ < 48) {
        if (cfg_rd(n, pos + PCI_CAP_LIST_ID, 1) == id) {
            return pos;
        }
        pos = cfg_rd(n, pos + PCI_CAP_LIST_NEXT, 1);
    }
    return 0;
}

/* Everything the guest can see of a device without side effects. */
typedef struct dump {
    uint8_t bar0[DMAE_BAR0_SIZE];
    size_t bar0_len;
    uint8_t bar2[GPIO_BAR2_SIZE];
    size_t bar2_len;
    uint8_t cfg[PCI_CFG_SPACE_EXP_SIZE];
    size_t cfg_len;
} dump_t;

static size_t
region_size(node_t *n, uint32_t index)
{
    const vmm_region_t *r = NULL;

    assert_int_equal(vmm_region_info(n->vmm, index, &r), 0);
    return (size_t)r->size;
}

static void
dump_take(node_t *n, dump_t *d)
{
    memset(d, 0, sizeof(*d));
    d->bar0_len = region_size(n, BAR0);
    d->bar2_len = region_size(n, BAR2);
    d->cfg_len = region_size(n, CFG);
    assert_true(d->bar0_len <= sizeof(d->bar0));
    assert_true(d->bar2_len <= sizeof(d->bar2));
    assert_true(d->cfg_len <= sizeof(d->cfg));
    assert_int_equal(vmm_region_read(n->vmm, BAR0, 0, d->bar0, d->bar0_len),
                     0);
    if (d->bar2_len != 0) {
        assert_int_equal(
            vmm_region_read(n->vmm, BAR2, 0, d->bar2, d->bar2_len), 0);
    }
    assert_int_equal(vmm_region_read(n->vmm, CFG, 0, d->cfg, d->cfg_len), 0);
}

/* Byte comparison that names the first difference. */
static void
same_bytes(const char *what, const uint8_t *a, const uint8_t *b, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (a[i] != b[i]) {
            fail_msg("%s differs at %#zx: %#04x vs %#04x", what, i, a[i],
                     b[i]);
        }
    }
}

static void
dump_same(const dump_t *x, const dump_t *y)
{
    assert_int_equal(x->bar0_len, y->bar0_len);
    assert_int_equal(x->bar2_len, y->bar2_len);
    assert_int_equal(x->cfg_len, y->cfg_len);
    same_bytes("BAR0", x->bar0, y->bar0, x->bar0_len);
    same_bytes("BAR2", x->bar2, y->bar2, x->bar2_len);
    same_bytes("config space", x->cfg, y->cfg, x->cfg_len);
}

/* This file's own CRC32C, bit by bit (the device uses a table). */
static uint32_t
crc32c_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    int k;

    while (n-- > 0) {
        c ^= *p++;
        for (k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
        }
    }
    return ~c;
}

static uint32_t
le32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static void
le32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void
blob_fix_crc(uint8_t *blob, size_t len)
{
    le32_put(blob + len - DEVMIG_CRC_SIZE,
             crc32c_bitwise(blob, len - DEVMIG_CRC_SIZE));
}

/* A blob as the device should have framed it. */
static void
blob_expect(const uint8_t *blob, size_t len, uint32_t magic, bool final)
{
    assert_int_equal(le32_at(blob + DEVMIG_OFF_MAGIC), magic);
    assert_int_equal(blob[DEVMIG_OFF_VERSION] | (blob[5] << 8), 1);
    assert_int_equal(blob[DEVMIG_OFF_FLAGS] | (blob[7] << 8),
                     final ? DEVMIG_F_FINAL : 0);
    assert_int_equal(le32_at(blob + DEVMIG_OFF_LENGTH), len);
    assert_int_equal(le32_at(blob + len - DEVMIG_CRC_SIZE),
                     crc32c_bitwise(blob, len - DEVMIG_CRC_SIZE));
}

/* ------------------------------------------------------------------ */
/* Hand-driven migration                                               */
/* ------------------------------------------------------------------ */

static uint32_t
mig_state(node_t *n)
{
    uint32_t st = ~0u;

    MIG_OK(vmm_mig_get_state(n->vmm, &st));
    return st;
}

static void
mig_set(node_t *n, uint32_t st)
{
    MIG_OK(vmm_mig_set_state(n->vmm, st));
    assert_int_equal(mig_state(n), st);
}

/* Read the device's data in @chunk-byte pieces until it says no more. */
static size_t
mig_drain(node_t *n, uint8_t *buf, size_t cap, size_t chunk)
{
    size_t total = 0;

    for (;;) {
        size_t want = cap - total < chunk ? cap - total : chunk;
        size_t got = ~(size_t)0;

        if (want == 0) {
            fail_msg("the device gave more than %zu bytes", cap);
        }
        MIG_OK(vmm_mig_read(n->vmm, buf + total, want, &got));
        assert_true(got <= want);
        if (got == 0) {
            return total;
        }
        total += got;
    }
}

static void
mig_feed(node_t *n, const uint8_t *buf, size_t len, size_t chunk)
{
    size_t off;

    for (off = 0; off < len; off += chunk) {
        size_t k = len - off < chunk ? len - off : chunk;

        MIG_OK(vmm_mig_write(n->vmm, buf + off, k));
    }
}

/*
 * The final blob of a running device: STOP_COPY, drain, then back to
 * RUNNING (through STOP).  Returns its length.
 */
static size_t
final_blob(node_t *n, uint8_t *buf, size_t cap)
{
    size_t len;

    mig_set(n, ST_STOP_COPY);
    len = mig_drain(n, buf, cap, 4096);
    mig_set(n, ST_RUNNING);
    return len;
}

/*
 * Offer @blob to a device in RESUMING: it must be refused, change
 * nothing the guest can see, and leave the session unfinished.
 */
static void
expect_refused(node_t *n, const uint8_t *blob, size_t len, const dump_t *was)
{
    dump_t now;

    assert_int_equal(vmm_mig_write(n->vmm, blob, len), -EINVAL);
    assert_int_equal(mig_state(n), ST_RESUMING);
    dump_take(n, &now);
    dump_same(was, &now);
}

/* ------------------------------------------------------------------ */
/* gpio                                                                */
/* ------------------------------------------------------------------ */

/* Give every gpio register a value other than its reset value. */
static void
gpio_workload(node_t *n)
{
    uint64_t cmd;

    assert_int_equal(vmm_irq_enable(n->vmm, INTX, 0, 1), 0);
    cmd = cfg_rd(n, PCI_COMMAND, 2);
    cfg_wr(n, PCI_COMMAND, 2, cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
    wr32(n, BAR0, GPIO_REG_IRQ_ENABLE, 0x00ff00ffu);
    wr32(n, BAR0, GPIO_REG_OUT, 0x12345678u);
    wr32(n, BAR0, GPIO_REG_OUT_SET, 0x80000001u);
    wr32(n, BAR0, GPIO_REG_OUT_CLR, 0x00000070u);
    wr32(n, BAR0, GPIO_REG_SCRATCH, 0xdeadbeefu);
    assert_int_equal(vmm_region_write_val(n->vmm, BAR2, 5, 1, 0x42), 0);
    wr32(n, BAR0, GPIO_REG_IRQ_STATUS, 0x00000001u);
    assert_int_not_equal(rd32(n, BAR0, GPIO_REG_IRQ_COUNT), 0);
    assert_int_not_equal(rd32(n, BAR0, GPIO_REG_IRQ_STATUS), 0);
}

static void
test_gpio_live_migration(void **state)
{
    fx_t *fx = *state;
    node_t *src = &fx->a, *dst = &fx->b;
    dump_t before, after;
    uint32_t irqs, counter;
    uint64_t n = 0;

    gpio_workload(src);
    dump_take(src, &before);
    irqs = le32_at(before.bar0 + GPIO_REG_IRQ_COUNT);
    counter = le32_at(before.bar0 + GPIO_REG_COUNTER);

    MIG_OK(vmm_migrate(src->vmm, dst->vmm, NULL, NULL));
    assert_int_equal(mig_state(dst), ST_RUNNING);
    assert_int_equal(mig_state(src), ST_STOP);
    /* registers, pins, counters and config space came along */
    dump_take(dst, &after);
    dump_same(&before, &after);

    /* the stopped source answers reads and refuses writes */
    dump_take(src, &after);
    dump_same(&before, &after);
    assert_int_equal(
        vmm_region_write_val(src->vmm, BAR0, GPIO_REG_SCRATCH, 4, 1), -EBUSY);
    assert_int_equal(vmm_region_write_val(src->vmm, BAR2, 0, 1, 1), -EBUSY);
    assert_int_equal(rd32(src, BAR0, GPIO_REG_SCRATCH), 0xdeadbeefu);

    /* the destination goes on, and its interrupt reaches the VMM */
    assert_int_equal(vmm_irq_count(dst->vmm, INTX, 0, true, &n), 0);
    wr32(dst, BAR0, GPIO_REG_OUT, 0);
    assert_int_equal(vmm_irq_wait(dst->vmm, INTX, 0, 5000), 0);
    assert_int_equal(vmm_irq_count(dst->vmm, INTX, 0, true, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rd32(dst, BAR0, GPIO_REG_IRQ_COUNT), irqs + 1);
    assert_int_equal(rd32(dst, BAR0, GPIO_REG_COUNTER), counter + 1);
    assert_int_equal(rd32(dst, BAR0, GPIO_REG_OUT), 0);
}

/*
 * PRE_COPY sends a preview and the device keeps running; the STOP_COPY
 * blob is what counts.  A preview read in part is finished before the
 * final blob, one never started is dropped.
 */
static void
test_gpio_precopy_preview(void **state)
{
    fx_t *fx = *state;
    node_t *src = &fx->a, *dst = &fx->b, *other = &fx->c;
    uint8_t stream[4 * GPIO_BLOB];
    const size_t scratch = DEVMIG_HDR_SIZE + GPIO_MIG_OFF_SCRATCH;
    dump_t want, got;
    size_t len = 0;

    wr32(src, BAR0, GPIO_REG_SCRATCH, 1);
    mig_set(src, ST_PRE_COPY);
    MIG_OK(vmm_mig_read(src->vmm, stream, 5, &len));
    assert_int_equal(len, 5);
    /* still running: this write lands after the preview was taken */
    wr32(src, BAR0, GPIO_REG_SCRATCH, 2);
    mig_set(src, ST_STOP_COPY);
    len += mig_drain(src, stream + 5, sizeof(stream) - 5, 7);
    assert_int_equal(len, 2 * GPIO_BLOB);
    blob_expect(stream, GPIO_BLOB, GPIO_MIG_MAGIC, false);
    blob_expect(stream + GPIO_BLOB, GPIO_BLOB, GPIO_MIG_MAGIC, true);
    assert_int_equal(le32_at(stream + scratch), 1);
    assert_int_equal(le32_at(stream + GPIO_BLOB + scratch), 2);
    mig_set(src, ST_STOP);
    dump_take(src, &want);

    mig_set(dst, ST_RESUMING);
    mig_feed(dst, stream, len, 11);
    mig_set(dst, ST_RUNNING);
    dump_take(dst, &got);
    dump_same(&want, &got);
    assert_int_equal(rd32(dst, BAR0, GPIO_REG_SCRATCH), 2);

    /* a preview read whole, then PRE_COPY abandoned: the device runs on */
    mig_set(other, ST_PRE_COPY);
    len = mig_drain(other, stream, sizeof(stream), 64);
    assert_int_equal(len, GPIO_BLOB);
    blob_expect(stream, GPIO_BLOB, GPIO_MIG_MAGIC, false);
    mig_set(other, ST_RUNNING);
    wr32(other, BAR0, GPIO_REG_SCRATCH, 3);
    /* a preview never read is dropped: only the final blob follows */
    mig_set(other, ST_PRE_COPY);
    mig_set(other, ST_STOP_COPY);
    len = mig_drain(other, stream, sizeof(stream), GPIO_BLOB + 100);
    assert_int_equal(len, GPIO_BLOB);
    blob_expect(stream, GPIO_BLOB, GPIO_MIG_MAGIC, true);
    assert_int_equal(le32_at(stream + scratch), 3);
    mig_set(other, ST_RUNNING);
    assert_int_equal(rd32(other, BAR0, GPIO_REG_SCRATCH), 3);
}

/* A copy of @good with @len bytes at @off set from @val, CRC redone. */
static void
forge32(uint8_t *out, const uint8_t *good, size_t size, size_t off,
        uint32_t val)
{
    memcpy(out, good, size);
    le32_put(out + off, val);
    blob_fix_crc(out, size);
}

static void
test_gpio_corrupt_data(void **state)
{
    fx_t *fx = *state;
    node_t *src = &fx->a, *dst = &fx->b;
    uint8_t good[GPIO_BLOB + 64], bad[GPIO_BLOB + 64];
    const size_t cfg = DEVMIG_HDR_SIZE + GPIO_MIG_OFF_CONFIG;
    dump_t want, was, got;
    size_t len;

    gpio_workload(src);
    dump_take(src, &want);
    len = final_blob(src, good, sizeof(good));
    assert_int_equal(len, GPIO_BLOB);
    blob_expect(good, len, GPIO_MIG_MAGIC, true);

    wr32(dst, BAR0, GPIO_REG_SCRATCH, 0x5a5a5a5au);
    dump_take(dst, &was);
    mig_set(dst, ST_RESUMING);

    memset(bad, 0xa5, sizeof(bad));
    expect_refused(dst, bad, 64, &was); /* garbage */
    memcpy(bad, good, len);
    bad[DEVMIG_HDR_SIZE + GPIO_MIG_OFF_SCRATCH] ^= 0x10;
    expect_refused(dst, bad, len, &was); /* CRC */
    forge32(bad, good, len, DEVMIG_OFF_MAGIC, GPIO_MIG_MAGIC ^ 1);
    expect_refused(dst, bad, len, &was);
    forge32(bad, good, len, DEVMIG_OFF_MAGIC, DMAE_MIG_MAGIC);
    expect_refused(dst, bad, len, &was); /* another device's blob */
    forge32(bad, good, len, DEVMIG_OFF_VERSION, 2 | (DEVMIG_F_FINAL << 16));
    expect_refused(dst, bad, len, &was); /* a version from the future */
    forge32(bad, good, len, DEVMIG_OFF_VERSION, 1 | (0x8001u << 16));
    expect_refused(dst, bad, len, &was); /* reserved flag */
    forge32(bad, good, len, DEVMIG_OFF_LENGTH, (uint32_t)len + 4);
    expect_refused(dst, bad, len, &was);
    forge32(bad, good, len, cfg + PCI_VENDOR_ID, 0x00018086u);
    expect_refused(dst, bad, len, &was); /* config of another device */
    memcpy(bad, good, len);
    bad[cfg + PCI_CAPABILITY_LIST] ^= 0x04;
    blob_fix_crc(bad, len);
    expect_refused(dst, bad, len, &was); /* other capabilities */
    /* the header alone is refused as soon as it is wrong */
    memcpy(bad, good, 8);
    bad[DEVMIG_OFF_VERSION] = 9;
    expect_refused(dst, bad, 8, &was);

    /* nothing good came: leaving RESUMING fails, and it stays there */
    assert_int_equal(vmm_mig_set_state(dst->vmm, ST_STOP), -EINVAL);
    assert_int_equal(mig_state(dst), ST_RESUMING);
    /* a preview alone is not enough either */
    memcpy(bad, good, len);
    bad[DEVMIG_OFF_FLAGS] = 0;
    blob_fix_crc(bad, len);
    MIG_OK(vmm_mig_write(dst->vmm, bad, len));
    dump_take(dst, &got);
    dump_same(&was, &got);
    assert_int_equal(vmm_mig_set_state(dst->vmm, ST_STOP), -EINVAL);
    /* half a blob neither */
    MIG_OK(vmm_mig_write(dst->vmm, good, len / 2));
    assert_int_equal(vmm_mig_set_state(dst->vmm, ST_STOP), -EINVAL);
    assert_int_equal(mig_state(dst), ST_RESUMING);
    /* the rest of it completes the stream */
    MIG_OK(vmm_mig_write(dst->vmm, good + len / 2, len - len / 2));
    mig_set(dst, ST_RUNNING);
    dump_take(dst, &got);
    dump_same(&want, &got);
}

/* DEVICE_RESET abandons a RESUMING session; the device runs again. */
static void
test_gpio_reset_ends_resuming(void **state)
{
    fx_t *fx = *state;
    node_t *src = &fx->a, *dst = &fx->b;
    uint8_t good[GPIO_BLOB + 64];
    dump_t want, got;
    size_t len;

    gpio_workload(src);
    dump_take(src, &want);
    len = final_blob(src, good, sizeof(good));
    assert_int_equal(len, GPIO_BLOB);

    wr32(dst, BAR0, GPIO_REG_SCRATCH, 9);
    mig_set(dst, ST_RESUMING);
    MIG_OK(vmm_mig_write(dst->vmm, good, len / 2));
    assert_int_equal(vmm_reset(dst->vmm), 0);
    assert_int_equal(mig_state(dst), ST_RUNNING);
    assert_int_equal(rd32(dst, BAR0, GPIO_REG_SCRATCH), 0);
    wr32(dst, BAR0, GPIO_REG_SCRATCH, 10); /* not stopped any more */
    assert_int_equal(rd32(dst, BAR0, GPIO_REG_SCRATCH), 10);
    /* a new session starts from scratch, not from the half blob */
    mig_set(dst, ST_RESUMING);
    MIG_OK(vmm_mig_write(dst->vmm, good, len));
    mig_set(dst, ST_RUNNING);
    dump_take(dst, &got);
    dump_same(&want, &got);
}

/* Flip one byte of the file at @path, at @off from its start. */
static void
file_flip(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t b;

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static off_t
file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void
test_gpio_save_restore(void **state)
{
    fx_t *fx = *state;
    node_t *src = &fx->a, *dst = &fx->b, *other = &fx->c;
    dump_t want, was, got;
    off_t size;

    gpio_workload(src);
    dump_take(src, &want);
    MIG_OK(vmm_save(src->vmm, fx->file));
    assert_int_equal(mig_state(src), ST_STOP);
    size = file_size(fx->file);
    assert_true(size > (off_t)GPIO_BLOB);

    MIG_OK(vmm_restore(dst->vmm, fx->file));
    assert_int_equal(mig_state(dst), ST_RUNNING);
    dump_take(dst, &got);
    dump_same(&want, &got);
    /* interrupts, once the VMM gives the device an eventfd again */
    assert_int_equal(vmm_irq_enable(dst->vmm, INTX, 0, 1), 0);
    wr32(dst, BAR0, GPIO_REG_OUT, 0);
    assert_int_equal(vmm_irq_wait(dst->vmm, INTX, 0, 5000), 0);

    /* a corrupted or truncated file changes nothing */
    wr32(other, BAR0, GPIO_REG_SCRATCH, 77);
    dump_take(other, &was);
    file_flip(fx->file, size / 2);
    MIG_FAILS(vmm_restore(other->vmm, fx->file));
    assert_int_equal(mig_state(other), ST_RUNNING);
    dump_take(other, &got);
    dump_same(&was, &got);
    file_flip(fx->file, size / 2); /* good again */
    file_flip(fx->file, size - 1);
    MIG_FAILS(vmm_restore(other->vmm, fx->file));
    file_flip(fx->file, size - 1);
    assert_int_equal(truncate(fx->file, size - 9), 0);
    MIG_FAILS(vmm_restore(other->vmm, fx->file));
    assert_int_equal(mig_state(other), ST_RUNNING);
    dump_take(other, &got);
    dump_same(&was, &got);
    wr32(other, BAR0, GPIO_REG_SCRATCH, 78); /* and it still works */
}

/* ------------------------------------------------------------------ */
/* dmaengine: a workload with descriptors in flight                    */
/* ------------------------------------------------------------------ */

/* Guest memory: rings, completion records, and two touching buffers. */
#define GPA_RING 0x00100000ull /* 64 KiB of ring per queue */
#define SIZE_RING 0x00040000ull
#define RING_AREA 0x10000ull
#define GPA_COMPL 0x00200000ull
#define SIZE_COMPL 0x00010000ull
#define GPA_A 0x00400000ull
#define SIZE_A 0x00040000ull
#define GPA_B (GPA_A + SIZE_A)
#define SIZE_B 0x00040000ull

static const struct {
    const char *name;
    uint64_t gpa, size;
} dmae_mem[] = {
    {"ring memory", GPA_RING, SIZE_RING},
    {"records", GPA_COMPL, SIZE_COMPL},
    {"buffer A", GPA_A, SIZE_A},
    {"buffer B", GPA_B, SIZE_B},
};
#define NR_DMAE_MEM (sizeof(dmae_mem) / sizeof(dmae_mem[0]))

static void
dmae_map(node_t *n, bool nofd)
{
    uint32_t flags = VMM_MEM_RW | (nofd ? VMM_MEM_NOFD : 0);
    size_t i;

    for (i = 0; i < NR_DMAE_MEM; i++) {
        assert_int_equal(
            vmm_mem_map(n->vmm, dmae_mem[i].gpa, dmae_mem[i].size, flags), 0);
    }
}

static uint64_t
msix_flags_rd(node_t *n, uint64_t *cap)
{
    *cap = find_cap(n, PCI_CAP_ID_MSIX);
    assert_int_not_equal(*cap, 0);
    return cfg_rd(n, *cap + PCI_MSIX_FLAGS, 2);
}

static void
dmae_q_start(node_t *n, drv_t *drv, unsigned int q, uint32_t size,
             uint32_t int_ctrl, uint32_t budget)
{
    uint64_t ring = GPA_RING + q * RING_AREA;

    wr32(n, BAR0, DMAE_QREG(q, DMAE_Q_CTRL), DMAE_QCTRL_RESET);
    assert_int_equal(vmm_region_write_val(n->vmm, BAR0,
                                          DMAE_QREG(q, DMAE_Q_RING_LO), 8,
                                          ring),
                     0);
    wr32(n, BAR0, DMAE_QREG(q, DMAE_Q_RING_SIZE), size);
    wr32(n, BAR0, DMAE_QREG(q, DMAE_Q_INT_CTRL), int_ctrl);
    wr32(n, BAR0, DMAE_QREG(q, DMAE_Q_BUDGET), budget);
    wr32(n, BAR0, DMAE_QREG(q, DMAE_Q_CTRL), DMAE_QCTRL_ENABLE);
    assert_int_equal(rd32(n, BAR0, DMAE_QREG(q, DMAE_Q_STATUS)) &
                         DMAE_QSTATUS_RUNNING,
                     DMAE_QSTATUS_RUNNING);
    drv->q[q].ring = ring;
    drv->q[q].size = size;
    drv->q[q].tail = 0;
}

/* Queue a descriptor with a fresh completion record (no doorbell). */
static void
dmae_put(node_t *n, drv_t *drv, unsigned int q, uint8_t op, uint8_t flags,
         uint32_t len, uint64_t src, uint64_t dst, uint64_t pattern)
{
    drv_q_t *dq = &drv->q[q];
    uint64_t rec = GPA_COMPL + drv->next_rec * DMAE_COMPL_SIZE;
    dmae_desc_t d;

    assert_true(drv->next_rec < SIZE_COMPL / DMAE_COMPL_SIZE);
    memset(&d, 0, sizeof(d));
    d.opcode = op;
    d.flags = flags | DMAE_DESC_F_COMPL;
    d.len = htole32(len);
    d.src = htole64(src);
    d.dst = htole64(dst);
    d.completion = htole64(rec);
    d.pattern = htole64(pattern);
    d.tag = htole64(drv->next_rec + 1);
    drv->next_rec++;
    assert_int_equal(
        vmm_mem_write(n->vmm, dq->ring + (uint64_t)dq->tail * DMAE_DESC_SIZE,
                      &d, sizeof(d)),
        0);
    dq->tail = (dq->tail + 1) & (dq->size - 1);
}

static void
dmae_doorbell(node_t *n, drv_t *drv, unsigned int q)
{
    wr32(n, BAR0, DMAE_QREG(q, DMAE_Q_TAIL), drv->q[q].tail);
}

static uint32_t
dmae_head(node_t *n, unsigned int q)
{
    return rd32(n, BAR0, DMAE_QREG(q, DMAE_Q_HEAD));
}

/* Kick queue @q until it caught up with the driver's tail. */
static void
dmae_finish(node_t *n, drv_t *drv, unsigned int q)
{
    int i;

    for (i = 0; i < 64 && dmae_head(n, q) != drv->q[q].tail; i++) {
        dmae_doorbell(n, drv, q);
    }
    assert_int_equal(dmae_head(n, q), drv->q[q].tail);
}

/*
 * Before the migration: four queues with different budgets and interrupt
 * settings, a halted queue, descriptors left in flight on three queues,
 * and an MSI-X message held back by the function mask.
 */
static void
dmae_phase1(node_t *n, drv_t *drv, bool nofd)
{
    uint8_t *buf = malloc(SIZE_A);
    uint32_t x = 12345;
    uint64_t cap, flags;
    unsigned int i;

    assert_non_null(buf);
    memset(drv, 0, sizeof(*drv));
    dmae_map(n, nofd);
    for (i = 0; i < SIZE_A; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    assert_int_equal(vmm_mem_write(n->vmm, GPA_A, buf, SIZE_A), 0);
    free(buf);

    flags = msix_flags_rd(n, &cap);
    cfg_wr(n, cap + PCI_MSIX_FLAGS, 2, flags | PCI_MSIX_FLAGS_ENABLE);
    assert_int_equal(vmm_irq_enable(n->vmm, MSIX, 0, DMAE_MSIX_VECTORS), 0);
    wr32(n, BAR0, DMAE_REG_CTRL, DMAE_CTRL_ENABLE);
    dmae_q_start(n, drv, 0, 16, DMAE_QINT_ENABLE | DMAE_QINT_COALESCE(2), 3);
    dmae_q_start(n, drv, 1, 8, DMAE_QINT_ENABLE, 0);
    dmae_q_start(n, drv, 2, 64, DMAE_QINT_ENABLE, 5);
    dmae_q_start(n, drv, 3, 4, 0, 1);

    /* queue 0: ten mixed descriptors, three per kick */
    for (i = 0; i < 10; i++) {
        uint8_t f = DMAE_DESC_F_INTR;

        switch (i % 4) {
        case 0:
            dmae_put(n, drv, 0, DMAE_OP_COPY, f, 0x1800 + 8 * i,
                     GPA_A + i * 0x2000, GPA_B + i * 0x2000, 0);
            break;
        case 1:
            dmae_put(n, drv, 0, DMAE_OP_FILL, f, 0x1f0, 0,
                     GPA_B + 0x18000 + i * 0x200, 0xa5a5a5a5a5a5a500ull | i);
            break;
        case 2:
            dmae_put(n, drv, 0, DMAE_OP_CRC32C, f, 0x2345,
                     GPA_A + i * 0x1000, 0, i);
            break;
        default:
            dmae_put(n, drv, 0, DMAE_OP_COMPARE, f, 0x1000,
                     GPA_A + (i - 3) * 0x2000, GPA_B + (i - 3) * 0x2000, 0);
            break;
        }
    }
    dmae_doorbell(n, drv, 0);
    dmae_doorbell(n, drv, 0);
    assert_int_equal(dmae_head(n, 0), 6);

    /* queue 1: copies across the A/B boundary, then a bad opcode */
    for (i = 0; i < 4; i++) {
        dmae_put(n, drv, 1, DMAE_OP_COPY, DMAE_DESC_F_INTR, 0x1000,
                 GPA_B - 0x800 + i * 0x100, GPA_B + 0x20000 + i * 0x1000, 0);
    }
    dmae_put(n, drv, 1, 0x7f, 0, 16, 0, 0, 0);
    dmae_doorbell(n, drv, 1);
    assert_int_equal(dmae_head(n, 1), 4);
    assert_true(rd32(n, BAR0, DMAE_QREG(1, DMAE_Q_STATUS)) &
                DMAE_QSTATUS_HALTED);

    /* queue 2: twelve fills, five per kick */
    for (i = 0; i < 12; i++) {
        dmae_put(n, drv, 2, DMAE_OP_FILL, DMAE_DESC_F_INTR, 0x3f0, 0,
                 GPA_B + 0x30000 + i * 0x400, 0x0102030405060708ull * i);
    }
    dmae_doorbell(n, drv, 2);
    assert_int_equal(dmae_head(n, 2), 5);

    /* queue 3: three copies, one per kick, no interrupts */
    for (i = 0; i < 3; i++) {
        dmae_put(n, drv, 3, DMAE_OP_COPY, 0, 0x800, GPA_B + 0x30000 + i * 0x400,
                 GPA_A + 0x3f000 + i * 0x800, 0);
    }
    dmae_doorbell(n, drv, 3);
    assert_int_equal(dmae_head(n, 3), 1);

    /* acknowledge queue 1's completions only */
    wr32(n, BAR0, DMAE_REG_INT_STATUS, DMAE_INT_QUEUE(1));
    /* function mask on: queue 2's next interrupt waits in the PBA */
    cfg_wr(n, cap + PCI_MSIX_FLAGS, 2,
           flags | PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    dmae_doorbell(n, drv, 2);
    assert_int_equal(dmae_head(n, 2), 10);
    assert_int_equal(rd32(n, BAR0, DMAE_MSIX_PBA), 1u << 2);
}

/* After it: release the held message, finish, recover, add more work. */
static void
dmae_phase2(node_t *n, drv_t *drv)
{
    uint64_t cap, flags;
    unsigned int i;

    flags = msix_flags_rd(n, &cap);
    cfg_wr(n, cap + PCI_MSIX_FLAGS, 2,
           flags & ~(uint64_t)PCI_MSIX_FLAGS_MASKALL);
    assert_int_equal(rd32(n, BAR0, DMAE_MSIX_PBA), 0); /* sent by now */
    dmae_finish(n, drv, 0);
    dmae_finish(n, drv, 2);
    dmae_finish(n, drv, 3);
    /* queue 1 out of HALTED, with new work */
    dmae_q_start(n, drv, 1, 8, DMAE_QINT_ENABLE, 0);
    for (i = 0; i < 2; i++) {
        dmae_put(n, drv, 1, DMAE_OP_COPY, DMAE_DESC_F_INTR, 0x1000,
                 GPA_B + 0x20000 + i * 0x1000, GPA_A + 0x10000 + i * 0x1000,
                 0);
    }
    dmae_doorbell(n, drv, 1);
    /* and more on queue 0 */
    for (i = 0; i < 3; i++) {
        dmae_put(n, drv, 0, DMAE_OP_CRC32C, DMAE_DESC_F_INTR, 0x3000,
                 GPA_A + 0x10000, 0, 0x1234 + i);
    }
    dmae_finish(n, drv, 0);
    wr32(n, BAR0, DMAE_REG_INT_STATUS, 0xffffffffu);
}

/* The MSI-X counts the VMM saw on each vector since the last call. */
static void
irq_take(node_t *n, uint64_t counts[DMAE_MSIX_VECTORS])
{
    uint32_t v;

    for (v = 0; v < DMAE_MSIX_VECTORS; v++) {
        assert_int_equal(vmm_irq_count(n->vmm, MSIX, v, true, &counts[v]), 0);
    }
}

/* Guest memory, registers, config space: the same byte for byte. */
static void
dmae_compare(node_t *x, node_t *y)
{
    dump_t *dx = malloc(sizeof(*dx)), *dy = malloc(sizeof(*dy));
    size_t i;

    assert_non_null(dx);
    assert_non_null(dy);
    dump_take(x, dx);
    dump_take(y, dy);
    dump_same(dx, dy);
    free(dx);
    free(dy);
    for (i = 0; i < NR_DMAE_MEM; i++) {
        uint8_t *mx = malloc(dmae_mem[i].size);
        uint8_t *my = malloc(dmae_mem[i].size);

        assert_non_null(mx);
        assert_non_null(my);
        assert_int_equal(
            vmm_mem_read(x->vmm, dmae_mem[i].gpa, mx, dmae_mem[i].size), 0);
        assert_int_equal(
            vmm_mem_read(y->vmm, dmae_mem[i].gpa, my, dmae_mem[i].size), 0);
        same_bytes(dmae_mem[i].name, mx, my, dmae_mem[i].size);
        free(mx);
        free(my);
    }
}

/* Records of the descriptors in [HEAD, TAIL) of @q were never written. */
static void
expect_in_flight(node_t *n, const drv_t *drv, unsigned int q,
                 uint32_t pending)
{
    const drv_q_t *dq = &drv->q[q];
    uint32_t head = dmae_head(n, q);
    uint32_t i;

    assert_int_equal(rd32(n, BAR0, DMAE_QREG(q, DMAE_Q_TAIL)), dq->tail);
    assert_int_equal((dq->tail - head) & (dq->size - 1), pending);
    for (i = 0; i < pending; i++) {
        uint32_t slot = (head + i) & (dq->size - 1);
        dmae_desc_t d;
        uint32_t status = ~0u;

        assert_int_equal(vmm_mem_read(n->vmm,
                                      dq->ring + (uint64_t)slot *
                                                     DMAE_DESC_SIZE,
                                      &d, sizeof(d)),
                         0);
        assert_int_equal(vmm_mem_read(n->vmm, le64toh(d.completion), &status,
                                      sizeof(status)),
                         0);
        assert_int_equal(status, DMAE_CS_NONE);
    }
}

static void
expect_workload_in_flight(node_t *n, const drv_t *drv)
{
    expect_in_flight(n, drv, 0, 4);
    expect_in_flight(n, drv, 2, 2);
    expect_in_flight(n, drv, 3, 2);
    assert_int_equal(rd32(n, BAR0, DMAE_MSIX_PBA), 1u << 2);
}

/*
 * Run the workload on the reference and on @src; migrate @src to @dst
 * with @how (0: vmm_migrate with @opts, 1: save and restore); finish on
 * both and compare.
 */
static void
dmae_run_and_compare(fx_t *fx, node_t *src, node_t *dst, node_t *ref,
                     int how, const vmm_migr_opts_t *opts)
{
    uint64_t c_ref[DMAE_MSIX_VECTORS], c_mig[DMAE_MSIX_VECTORS];
    dump_t *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
    vmm_migr_stats_t stats;
    uint32_t v;

    assert_non_null(before);
    assert_non_null(after);
    dmae_phase1(ref, &fx->drv_ref, fx->nofd);
    dmae_phase1(src, &fx->drv_mig, fx->nofd);
    irq_take(ref, c_ref);
    irq_take(src, c_mig);
    for (v = 0; v < DMAE_MSIX_VECTORS; v++) {
        assert_int_equal(c_ref[v], c_mig[v]);
    }
    expect_workload_in_flight(src, &fx->drv_mig);
    dump_take(src, before);

    memset(&stats, 0, sizeof(stats));
    if (how == 0) {
        MIG_OK(vmm_migrate(src->vmm, dst->vmm, opts, &stats));
        assert_true(stats.stopcopy_bytes >= DMAE_BLOB);
    } else {
        MIG_OK(vmm_save(src->vmm, fx->file));
        MIG_OK(vmm_restore(dst->vmm, fx->file));
        /* the VMM wires its interrupts to the restored device */
        assert_int_equal(vmm_irq_enable(dst->vmm, MSIX, 0, DMAE_MSIX_VECTORS),
                         0);
    }
    assert_int_equal(mig_state(src), ST_STOP);
    assert_int_equal(mig_state(dst), ST_RUNNING);

    /* the same device, its work still in flight, nothing ran meanwhile */
    dump_take(dst, after);
    dump_same(before, after);
    expect_workload_in_flight(dst, &fx->drv_mig);
    irq_take(dst, c_mig);
    for (v = 0; v < DMAE_MSIX_VECTORS; v++) {
        assert_int_equal(c_mig[v], 0);
    }
    /* the stopped source does nothing either */
    assert_int_equal(vmm_region_write_val(src->vmm, BAR0,
                                          DMAE_QREG(0, DMAE_Q_TAIL), 4,
                                          fx->drv_mig.q[0].tail),
                     -EBUSY);
    expect_workload_in_flight(src, &fx->drv_mig);

    dmae_phase2(ref, &fx->drv_ref);
    dmae_phase2(dst, &fx->drv_mig);
    dmae_compare(ref, dst);
    irq_take(ref, c_ref);
    irq_take(dst, c_mig);
    for (v = 0; v < DMAE_MSIX_VECTORS; v++) {
        assert_int_equal(c_ref[v], c_mig[v]);
    }
    assert_true(c_mig[2] >= 1); /* the message held back at migration */
    free(before);
    free(after);
}

static void
test_dmae_live_migration(void **state)
{
    fx_t *fx = *state;

    dmae_run_and_compare(fx, &fx->a, &fx->b, &fx->c, 0, NULL);
}

static void
test_dmae_stop_copy_only(void **state)
{
    fx_t *fx = *state;
    const vmm_migr_opts_t opts = {.no_precopy = true, .no_dirty_log = true};

    dmae_run_and_compare(fx, &fx->a, &fx->b, &fx->c, 0, &opts);
}

static void
test_dmae_save_restore(void **state)
{
    fx_t *fx = *state;

    dmae_run_and_compare(fx, &fx->a, &fx->b, &fx->c, 1, NULL);
}

/* From an in-process device to the device binary on a socket. */
static int
dmae_mixed(void **state)
{
    fx_t *fx;

    if (fx_setup(state, "dmaengine", true, false) < 0) {
        return -1;
    }
    fx = *state;
    if (node_close(&fx->b) < 0 || node_open(&fx->b, "dmaengine", false) < 0) {
        fx_teardown(state);
        return -1;
    }
    return 0;
}

static void
test_dmae_inproc_to_socket(void **state)
{
    fx_t *fx = *state;

    assert_true(fx->a.inproc);
    assert_false(fx->b.inproc);
    dmae_run_and_compare(fx, &fx->a, &fx->b, &fx->c, 0, NULL);
}

static void
test_dmae_restore_corrupt_file(void **state)
{
    fx_t *fx = *state;
    node_t *src = &fx->a, *dst = &fx->b;
    dump_t *was = malloc(sizeof(*was)), *got = malloc(sizeof(*got));
    off_t at[4];
    off_t size;
    size_t i;

    assert_non_null(was);
    assert_non_null(got);
    dmae_phase1(src, &fx->drv_mig, fx->nofd);
    MIG_OK(vmm_save(src->vmm, fx->file));
    size = file_size(fx->file);
    at[0] = 0;
    at[1] = size / 3;
    at[2] = size / 2;
    at[3] = size - 1;
    wr32(dst, BAR0, DMAE_QREG(2, DMAE_Q_RING_SIZE), 32);
    dump_take(dst, was);
    for (i = 0; i < 4; i++) {
        file_flip(fx->file, at[i]);
        MIG_FAILS(vmm_restore(dst->vmm, fx->file));
        file_flip(fx->file, at[i]);
        assert_int_equal(mig_state(dst), ST_RUNNING);
        dump_take(dst, got);
        dump_same(was, got);
    }
    assert_int_equal(truncate(fx->file, size - 100), 0);
    MIG_FAILS(vmm_restore(dst->vmm, fx->file));
    assert_int_equal(mig_state(dst), ST_RUNNING);
    dump_take(dst, got);
    dump_same(was, got);
    free(was);
    free(got);
}

/* ------------------------------------------------------------------ */
/* dmaengine: the destination checks every field                       */
/* ------------------------------------------------------------------ */

#define QOFF(q, f)                                                             \
    (DEVMIG_HDR_SIZE + DMAE_MIG_OFF_QUEUES + (q) * DMAE_MIG_QUEUE_SIZE +       \
     DMAE_MIG_Q_OFF_##f)
#define GOFF(f) (DEVMIG_HDR_SIZE + DMAE_MIG_OFF_##f)

static void
test_dmae_corrupt_data(void **state)
{
    fx_t *fx = *state;
    node_t *src = &fx->a, *dst = &fx->b;
    static const struct {
        const char *what;
        size_t off;
        uint32_t val;
    } bad_fields[] = {
        {"CTRL reserved bit", GOFF(CTRL), DMAE_CTRL_ENABLE | 0x80},
        {"CTRL RESET", GOFF(CTRL), DMAE_CTRL_RESET},
        {"ERR_CODE unknown error", GOFF(ERR_CODE), 0x0c | (1u << 8)},
        {"ERR_CODE queue 4", GOFF(ERR_CODE), DMAE_ERR_BAD_OPCODE | (4u << 8)},
        {"ERR_CODE slot 4096", GOFF(ERR_CODE), 0x05 | (4096u << 16)},
        {"ERR_ADDR without ERR_CODE", GOFF(ERR_CODE), 0},
        {"INT_STATUS bit 8", GOFF(INT_STATUS), 1u << 8},
        {"MSI-X pending vector 5", GOFF(MSIX_PENDING), 1u << 5},
        {"ring size 12", QOFF(0, RING_SIZE), 12},
        {"ring size 8192", QOFF(0, RING_SIZE), 8192},
        {"ring size 1", QOFF(0, RING_SIZE), 1},
        {"HEAD at ring size", QOFF(0, HEAD), 16},
        {"TAIL past ring", QOFF(0, TAIL), 4095},
        {"ring base misaligned", QOFF(0, RING), GPA_RING + 8},
        {"unknown queue state bit", QOFF(0, STATE), DMAE_MIG_Q_RUNNING | 8},
        {"running and halted", QOFF(0, STATE),
         DMAE_MIG_Q_RUNNING | DMAE_MIG_Q_HALTED},
        {"running but disabled", QOFF(0, CTRL), 0},
        {"Q_CTRL RESET", QOFF(3, CTRL), DMAE_QCTRL_ENABLE | DMAE_QCTRL_RESET},
        {"halted without error", QOFF(1, ERROR), 0},
        {"unknown queue error", QOFF(1, ERROR), DMAE_ERR_MAX + 1},
        {"error on a good queue", QOFF(2, ERROR), DMAE_ERR_BAD_LEN},
        {"stopped ring mapped", QOFF(1, STATE),
         DMAE_MIG_Q_HALTED | DMAE_MIG_Q_DIRECT},
        {"stopped queue HEAD 4096", QOFF(1, HEAD), 4096},
        {"BUDGET 0x2000", QOFF(2, BUDGET), 0x2000},
        {"INT_CTRL reserved", QOFF(2, INT_CTRL), DMAE_QINT_ENABLE | 0x10000},
        {"pending completions", QOFF(3, INTR_PENDING), 4096},
        {"vendor ID", DEVMIG_HDR_SIZE + DMAE_MIG_OFF_CONFIG, 0x00018086},
    };
    uint8_t *good = malloc(STREAM_MAX), *bad = malloc(STREAM_MAX);
    dump_t *want = malloc(sizeof(*want)), *was = malloc(sizeof(*was));
    dump_t *got = malloc(sizeof(*got));
    size_t len, i;

    assert_non_null(good);
    assert_non_null(bad);
    assert_non_null(want);
    assert_non_null(was);
    assert_non_null(got);
    dmae_phase1(src, &fx->drv_mig, fx->nofd);
    len = final_blob(src, good, STREAM_MAX);
    assert_int_equal(len, DMAE_BLOB);
    blob_expect(good, len, DMAE_MIG_MAGIC, true);
    /* the fields the forgeries start from */
    assert_int_equal(le32_at(good + QOFF(0, RING_SIZE)), 16);
    assert_int_equal(le32_at(good + QOFF(0, HEAD)), 6);
    assert_int_equal(le32_at(good + QOFF(0, TAIL)), 10);
    assert_int_equal(le32_at(good + QOFF(0, BUDGET)), 3);
    assert_int_equal(le32_at(good + QOFF(1, STATE)), DMAE_MIG_Q_HALTED);
    assert_int_equal(le32_at(good + QOFF(1, ERROR)), DMAE_ERR_BAD_OPCODE);
    assert_int_equal(le32_at(good + GOFF(MSIX_PENDING)), 1u << 2);
    assert_int_not_equal(le32_at(good + GOFF(ERR_CODE)), 0);
    dump_take(src, want);

    /* the same guest memory, so the rings can be mapped as on the source */
    dmae_map(dst, fx->nofd);
    wr32(dst, BAR0, DMAE_QREG(3, DMAE_Q_INT_CTRL), DMAE_QINT_ENABLE);
    dump_take(dst, was);
    mig_set(dst, ST_RESUMING);
    for (i = 0; i < sizeof(bad_fields) / sizeof(bad_fields[0]); i++) {
        forge32(bad, good, len, bad_fields[i].off, bad_fields[i].val);
        if (memcmp(bad, good, len) == 0) {
            fail_msg("forgery '%s' changed nothing", bad_fields[i].what);
        }
        if (vmm_mig_write(dst->vmm, bad, len) != -EINVAL) {
            fail_msg("forgery '%s' was not refused", bad_fields[i].what);
        }
        dump_take(dst, got);
        dump_same(was, got);
    }
    /* a 64-bit ring base whose ring would wrap around */
    memcpy(bad, good, len);
    le32_put(bad + QOFF(0, RING), 0xffffffc0u);
    le32_put(bad + QOFF(0, RING) + 4, 0xffffffffu);
    blob_fix_crc(bad, len);
    expect_refused(dst, bad, len, was);
    /* one flipped bit anywhere: the CRC */
    for (i = 0; i < len; i += len / 7) {
        memcpy(bad, good, len);
        bad[i] ^= 0x01;
        expect_refused(dst, bad, len, was);
    }
    /* garbage, and a good blob followed by garbage in the same write */
    memset(bad, 0x3c, 256);
    expect_refused(dst, bad, 256, was);
    memcpy(bad, good, len);
    memset(bad + len, 0xff, 16);
    expect_refused(dst, bad, len + 16, was);
    assert_int_equal(vmm_mig_set_state(dst->vmm, ST_STOP), -EINVAL);
    assert_int_equal(mig_state(dst), ST_RESUMING);

    /* the good blob, in pieces that split every field */
    mig_feed(dst, good, len, 97);
    mig_set(dst, ST_RUNNING);
    dump_take(dst, got);
    dump_same(want, got);
    free(good);
    free(bad);
    free(want);
    free(was);
    free(got);
}

/* ------------------------------------------------------------------ */
/* dmaengine: stopped means stopped; BUDGET; partial reads              */
/* ------------------------------------------------------------------ */

static void
test_dmae_stopped_device(void **state)
{
    fx_t *fx = *state;
    node_t *n = &fx->a;
    drv_t *drv = &fx->drv_mig;
    uint64_t v = 0;
    unsigned int i;

    memset(drv, 0, sizeof(*drv));
    dmae_map(n, fx->nofd);
    wr32(n, BAR0, DMAE_REG_CTRL, DMAE_CTRL_ENABLE);
    dmae_q_start(n, drv, 0, 8, 0, 2);
    for (i = 0; i < 5; i++) {
        dmae_put(n, drv, 0, DMAE_OP_NOP, 0, 0, 0, 0, 0);
    }
    dmae_doorbell(n, drv, 0);
    assert_int_equal(dmae_head(n, 0), 2);

    /* STOP: registers read, writes refused, nothing runs */
    mig_set(n, ST_STOP);
    assert_int_equal(vmm_region_write_val(n->vmm, BAR0,
                                          DMAE_QREG(0, DMAE_Q_TAIL), 4,
                                          drv->q[0].tail),
                     -EBUSY);
    assert_int_equal(vmm_region_write_val(n->vmm, BAR0, DMAE_REG_CTRL, 4,
                                          DMAE_CTRL_RESET),
                     -EBUSY);
    assert_int_equal(rd32(n, BAR0, DMAE_REG_ID), DMAE_ID_VALUE);
    assert_int_equal(rd32(n, BAR0, DMAE_REG_CTRL), DMAE_CTRL_ENABLE);
    expect_in_flight(n, drv, 0, 3);
    /* STOP_COPY: the server refuses region access altogether */
    mig_set(n, ST_STOP_COPY);
    assert_int_equal(vmm_region_read_val(n->vmm, BAR0, DMAE_REG_ID, 4, &v),
                     -EINVAL);
    mig_set(n, ST_STOP);
    assert_int_equal(dmae_head(n, 0), 2);
    /* RUNNING again: kicks work */
    mig_set(n, ST_RUNNING);
    dmae_doorbell(n, drv, 0);
    assert_int_equal(dmae_head(n, 0), 4);
    dmae_doorbell(n, drv, 0);
    assert_int_equal(dmae_head(n, 0), 5);
    expect_in_flight(n, drv, 0, 0);
    /* PRE_COPY: the device keeps processing */
    for (i = 0; i < 3; i++) {
        dmae_put(n, drv, 0, DMAE_OP_NOP, 0, 0, 0, 0, 0);
    }
    mig_set(n, ST_PRE_COPY);
    dmae_doorbell(n, drv, 0);
    assert_int_equal(dmae_head(n, 0), 7);
    mig_set(n, ST_RUNNING);
    dmae_doorbell(n, drv, 0);
    assert_int_equal(dmae_head(n, 0), 0);
    assert_int_equal(rd32(n, BAR0, DMAE_QREG(0, DMAE_Q_COMPLETED)), 8);
}

/* BUDGET without migration: what "in flight" means for this device. */
static void
test_dmae_budget(void **state)
{
    fx_t *fx = *state;
    node_t *n = &fx->a;
    drv_t *drv = &fx->drv_mig;
    uint64_t cap, flags, cnt = 0;
    unsigned int i;

    memset(drv, 0, sizeof(*drv));
    dmae_map(n, fx->nofd);
    flags = msix_flags_rd(n, &cap);
    cfg_wr(n, cap + PCI_MSIX_FLAGS, 2, flags | PCI_MSIX_FLAGS_ENABLE);
    assert_int_equal(vmm_irq_enable(n->vmm, MSIX, 0, DMAE_MSIX_VECTORS), 0);
    wr32(n, BAR0, DMAE_REG_CTRL, DMAE_CTRL_ENABLE);
    dmae_q_start(n, drv, 0, 16, DMAE_QINT_ENABLE, 4);
    /* the register keeps 13 bits */
    wr32(n, BAR0, DMAE_QREG(0, DMAE_Q_BUDGET), 0xffffffffu);
    assert_int_equal(rd32(n, BAR0, DMAE_QREG(0, DMAE_Q_BUDGET)),
                     DMAE_QBUDGET_MASK);
    wr32(n, BAR0, DMAE_QREG(0, DMAE_Q_BUDGET), 4);
    assert_int_equal(rd32(n, BAR0, DMAE_QREG(0, DMAE_Q_BUDGET)), 4);

    for (i = 0; i < 10; i++) {
        dmae_put(n, drv, 0, DMAE_OP_FILL, DMAE_DESC_F_INTR, 64, 0,
                 GPA_A + i * 64, 0x1111111111111111ull * i);
    }
    dmae_doorbell(n, drv, 0);
    assert_int_equal(dmae_head(n, 0), 4);
    expect_in_flight(n, drv, 0, 6);
    /* the same TAIL again is a kick: four more, one interrupt each kick */
    dmae_doorbell(n, drv, 0);
    assert_int_equal(dmae_head(n, 0), 8);
    dmae_doorbell(n, drv, 0);
    assert_int_equal(dmae_head(n, 0), 10);
    assert_int_equal(rd32(n, BAR0, DMAE_QREG(0, DMAE_Q_COMPLETED)), 10);
    assert_int_equal(rd32(n, BAR0, DMAE_QREG(0, DMAE_Q_IRQ_COUNT)), 3);
    assert_int_equal(vmm_irq_count(n->vmm, MSIX, 0, true, &cnt), 0);
    assert_int_equal(cnt, 3);
    /* a kick with nothing in flight does nothing */
    dmae_doorbell(n, drv, 0);
    assert_int_equal(rd32(n, BAR0, DMAE_QREG(0, DMAE_Q_IRQ_COUNT)), 3);
    /* no budget: everything up to TAIL at once */
    wr32(n, BAR0, DMAE_QREG(0, DMAE_Q_BUDGET), 0);
    for (i = 0; i < 7; i++) {
        dmae_put(n, drv, 0, DMAE_OP_NOP, 0, 0, 0, 0, 0);
    }
    dmae_doorbell(n, drv, 0);
    assert_int_equal(dmae_head(n, 0), 1);
    expect_in_flight(n, drv, 0, 0);
    /* CTRL.ENABLE going 1 -> 0 -> 1 kicks too, with the budget */
    wr32(n, BAR0, DMAE_QREG(0, DMAE_Q_BUDGET), 2);
    wr32(n, BAR0, DMAE_REG_CTRL, 0);
    for (i = 0; i < 5; i++) {
        dmae_put(n, drv, 0, DMAE_OP_NOP, 0, 0, 0, 0, 0);
    }
    dmae_doorbell(n, drv, 0);
    expect_in_flight(n, drv, 0, 5);
    wr32(n, BAR0, DMAE_REG_CTRL, DMAE_CTRL_ENABLE);
    expect_in_flight(n, drv, 0, 3);
}

/*
 * The device's data read in odd pieces, with PRE_COPY left in the middle
 * of the preview, written back in other odd pieces.
 */
static void
test_dmae_partial_reads(void **state)
{
    fx_t *fx = *state;
    node_t *src = &fx->a, *dst = &fx->b;
    uint8_t *stream = malloc(STREAM_MAX);
    dump_t *want = malloc(sizeof(*want)), *got = malloc(sizeof(*got));
    size_t len = 0, got_n = 0;

    assert_non_null(stream);
    assert_non_null(want);
    assert_non_null(got);
    dmae_phase1(src, &fx->drv_mig, fx->nofd);
    mig_set(src, ST_PRE_COPY);
    while (len < 1000) {
        MIG_OK(vmm_mig_read(src->vmm, stream + len, 1, &got_n));
        assert_int_equal(got_n, 1);
        len++;
    }
    MIG_OK(vmm_mig_read(src->vmm, stream + len, 333, &got_n));
    assert_int_equal(got_n, 333);
    len += got_n;
    /* the guest goes on meanwhile: kick queue 3 once more */
    dmae_doorbell(src, &fx->drv_mig, 3);
    assert_int_equal(dmae_head(src, 3), 2);
    mig_set(src, ST_STOP_COPY);
    len += mig_drain(src, stream + len, STREAM_MAX - len, 4093);
    assert_int_equal(len, 2 * DMAE_BLOB);
    blob_expect(stream, DMAE_BLOB, DMAE_MIG_MAGIC, false);
    blob_expect(stream + DMAE_BLOB, DMAE_BLOB, DMAE_MIG_MAGIC, true);
    assert_int_equal(le32_at(stream + QOFF(3, HEAD)), 1);
    assert_int_equal(le32_at(stream + DMAE_BLOB + QOFF(3, HEAD)), 2);
    /* reads past the end keep saying "no more" */
    MIG_OK(vmm_mig_read(src->vmm, stream + len, 64, &got_n));
    assert_int_equal(got_n, 0);
    mig_set(src, ST_STOP);
    dump_take(src, want);

    dmae_map(dst, fx->nofd);
    mig_set(dst, ST_RESUMING);
    mig_feed(dst, stream, len, 61);
    mig_set(dst, ST_RUNNING);
    dump_take(dst, got);
    dump_same(want, got);
    assert_int_equal(dmae_head(dst, 3), 2);
    free(stream);
    free(want);
    free(got);
}

/* ------------------------------------------------------------------ */

#define T(fn, setup)                                                           \
    cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)
#define GPIO_BOTH(fn) T(fn, gpio_inproc), T(fn, gpio_sock)
#define DMAE_ALL(fn)                                                           \
    T(fn, dmae_inproc_fd), T(fn, dmae_inproc_nofd), T(fn, dmae_sock_fd),       \
        T(fn, dmae_sock_nofd)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        GPIO_BOTH(test_gpio_live_migration),
        GPIO_BOTH(test_gpio_precopy_preview),
        GPIO_BOTH(test_gpio_corrupt_data),
        GPIO_BOTH(test_gpio_save_restore),
        GPIO_BOTH(test_gpio_reset_ends_resuming),
        DMAE_ALL(test_dmae_budget),
        DMAE_ALL(test_dmae_stopped_device),
        DMAE_ALL(test_dmae_live_migration),
        DMAE_ALL(test_dmae_stop_copy_only),
        DMAE_ALL(test_dmae_save_restore),
        T(test_dmae_inproc_to_socket, dmae_mixed),
        DMAE_ALL(test_dmae_corrupt_data),
        T(test_dmae_restore_corrupt_file, dmae_inproc_fd),
        T(test_dmae_restore_corrupt_file, dmae_sock_nofd),
        DMAE_ALL(test_dmae_partial_reads),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
