/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_vmm_migr.c - the fake VMM's migration API against "mdev"
 * (test_mdev.h), a device that does DMA while it migrates: device state
 * and data calls, DMA logging calls, vmm_migrate() between two contexts
 * in this thread, to a server thread and to a forked server process
 * (with and without pre-copy, dirty logging, in tiny chunks), failures
 * that must leave both sides usable, save/restore files, corrupted files
 * that must change nothing, and servers that answer nonsense.  The
 * yardstick is a run of the same workload without migration: guest
 * memory, device state and interrupts must end up identical.
 */
#define _GNU_SOURCE
#define MDEV_CLIENT
#include "test_vmm_util.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "test_mdev.h"

#define S(x) VFIO_USER_DEVICE_STATE_##x
#define FHDR sizeof(struct vfio_user_device_feature)

/* ------------------------------------------------------------------ */
/* The state and data calls                                            */
/* ------------------------------------------------------------------ */

static void
test_vmm_mig_state_calls(void **state)
{
    node_t n;
    uint64_t feat = 0;
    uint32_t st = 0;
    uint8_t buf[256];
    size_t got = 1;

    (void)state;
    node_open(&n, INPROC);
    assert_int_equal(vmm_mig_features(n.vmm, &feat), 0);
    assert_int_equal(feat, VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY);
    assert_int_equal(vmm_mig_get_state(n.vmm, &st), 0);
    assert_int_equal(st, S(RUNNING));
    assert_int_equal(vmm_mig_features(NULL, &feat), -EINVAL);
    assert_int_equal(vmm_mig_features(n.vmm, NULL), -EINVAL);
    assert_int_equal(vmm_mig_get_state(n.vmm, NULL), -EINVAL);
    /* the server refuses what the spec does not allow */
    assert_int_equal(vmm_mig_set_state(n.vmm, S(ERROR)), -EINVAL);
    assert_int_equal(vmm_mig_set_state(n.vmm, 8), -EINVAL);
    assert_int_equal(vmm_mig_read(n.vmm, buf, sizeof(buf), &got), -EINVAL);
    assert_int_equal(got, 0);
    assert_int_equal(vmm_mig_write(n.vmm, buf, 10), -EINVAL);
    /* multi-step arcs are the server's to walk */
    assert_int_equal(vmm_mig_set_state(n.vmm, S(STOP_COPY)), 0);
    assert_int_equal(vmm_mig_get_state(n.vmm, &st), 0);
    assert_int_equal(st, S(STOP_COPY));
    assert_int_equal(vmm_mig_set_state(n.vmm, S(PRE_COPY)), -EINVAL);
    assert_int_equal(vmm_mig_read(n.vmm, buf, 10, &got), 0);
    assert_int_equal(got, 10);
    assert_int_equal(vmm_mig_read(n.vmm, buf + 10, sizeof(buf) - 10, &got),
                     0);
    assert_int_equal(got, MDEV_HDR_LEN + mdev_final_len(0) - 10);
    assert_int_equal(vmm_mig_read(n.vmm, buf, sizeof(buf), &got), 0);
    assert_int_equal(got, 0);
    assert_int_equal(vmm_mig_read(n.vmm, NULL, 4, &got), -EINVAL);
    assert_int_equal(vmm_mig_read(n.vmm, buf, 4, NULL), -EINVAL);
    assert_int_equal(vmm_mig_set_state(n.vmm, S(RUNNING)), 0);
    node_close(&n);
}

/*
 * A small transfer size splits the data: 100 bytes in 16-byte chunks
 * are 7 MIG_DATA_WRITEs, and the stream arrives whole.
 */
static void
test_vmm_mig_data_chunks(void **state)
{
    vmm_opts_t o = {.max_data_xfer_size = 16};
    node_t src, dst;
    uint8_t data[512];
    size_t len = 0, got;

    (void)state;
    node_open_opts(&src, INPROC, &o, 1);
    node_open_opts(&dst, INPROC, &o, 1);
    assert_int_equal(vmm_mig_set_state(src.vmm, S(STOP_COPY)), 0);
    do {
        assert_int_equal(vmm_mig_read(src.vmm, data + len, sizeof(data) - len,
                                      &got),
                         0);
        assert_true(got <= 16);
        len += got;
    } while (got > 0);
    assert_int_equal(len, MDEV_HDR_LEN + mdev_final_len(0));
    /* full chunks, a short one, then one that says "no more" */
    assert_int_equal(src.wire.out[VFIO_USER_MIG_DATA_READ],
                     (len + 15) / 16 + 1);
    assert_int_equal(vmm_mig_set_state(dst.vmm, S(RESUMING)), 0);
    assert_int_equal(vmm_mig_write(dst.vmm, data, 100), 0);
    assert_int_equal(dst.wire.out[VFIO_USER_MIG_DATA_WRITE], 7);
    assert_int_equal(vmm_mig_write(dst.vmm, data + 100, len - 100), 0);
    assert_int_equal(vmm_mig_set_state(dst.vmm, S(RUNNING)), 0);
    assert_int_equal(dst.d->records_in, 1);
    assert_int_equal(vmm_mig_set_state(src.vmm, S(RUNNING)), 0);
    node_close(&src);
    node_close(&dst);
}

/* ------------------------------------------------------------------ */
/* DMA logging calls                                                   */
/* ------------------------------------------------------------------ */

static void
test_vmm_dirty_calls(void **state)
{
    vmm_range_t r = {MEM_A, MEM_A_SIZE};
    uint8_t bm[8], small[1];
    uint64_t w;
    node_t n;

    (void)state;
    node_open(&n, INPROC);
    assert_int_equal(vmm_mem_map(n.vmm, MEM_A, MEM_A_SIZE, VMM_MEM_RW), 0);
    assert_int_equal(vmm_mem_map(n.vmm, MEM_B, MEM_B_SIZE,
                                 VMM_MEM_RW | VMM_MEM_NOFD),
                     0);
    assert_int_equal(vmm_dirty_start(n.vmm, 3 * PG, NULL, 0), -EINVAL);
    assert_int_equal(vmm_dirty_start(n.vmm, PG, NULL, 1), -EINVAL);
    assert_int_equal(vmm_dirty_report(n.vmm, MEM_A, MEM_A_SIZE, PG, bm,
                                      sizeof(bm)),
                     -EINVAL); /* the server: not logging */
    /* below the negotiated page: the server logs at 4 KiB */
    assert_int_equal(vmm_dirty_start(n.vmm, 512, &r, 1), 0);
    /* descriptor 0 goes to A at page 0, 100 bytes: mapped and put */
    reg_write(n.vmm, MDEV_ADDR, MEM_A + 5 * PG - 10);
    reg_write(n.vmm, MDEV_LEN, 20);
    reg_write(n.vmm, MDEV_DOORBELL, 1);
    reg_write(n.vmm, MDEV_STEP, 1);
    assert_int_equal(vmm_dirty_report(n.vmm, MEM_A, MEM_A_SIZE, PG, bm,
                                      sizeof(bm)),
                     0);
    memcpy(&w, bm, 8);
    assert_int_equal(w, (1ull << 4) | (1ull << 5));
    assert_int_equal(vmm_dirty_report(n.vmm, MEM_A, MEM_A_SIZE, PG, bm,
                                      sizeof(bm)),
                     0);
    memcpy(&w, bm, 8);
    assert_int_equal(w, 0);
    /* 64 pages need 8 bytes of bitmap; bad page sizes */
    assert_int_equal(vmm_dirty_report(n.vmm, MEM_A, MEM_A_SIZE, PG, small,
                                      sizeof(small)),
                     -EINVAL);
    assert_int_equal(vmm_dirty_report(n.vmm, MEM_A, MEM_A_SIZE, 3, bm,
                                      sizeof(bm)),
                     -EINVAL);
    assert_int_equal(vmm_dirty_report(n.vmm, MEM_A, PG, 2 * PG, bm,
                                      sizeof(bm)),
                     -EINVAL);
    /* memory without an fd: the server cannot report it */
    assert_int_equal(vmm_dirty_report(n.vmm, MEM_B, MEM_B_SIZE, PG, bm,
                                      sizeof(bm)),
                     -EINVAL);
    assert_int_equal(vmm_dirty_stop(n.vmm), 0);
    assert_int_equal(vmm_dirty_report(n.vmm, MEM_A, MEM_A_SIZE, PG, bm,
                                      sizeof(bm)),
                     -EINVAL);
    node_close(&n);
}

/* ------------------------------------------------------------------ */
/* vmm_migrate()                                                       */
/* ------------------------------------------------------------------ */

typedef struct mig_case {
    const char *name;
    enum mode src, dst;
    vmm_migr_opts_t opts;
    uint32_t xfer; /* max_data_xfer_size, 0: default */
} mig_case_t;

/*
 * The workload with a migration in the middle: three descriptors done
 * on src, more during pre-copy, the rest queued in the migration data
 * and completed on dst.
 */
static void
run_case(const mig_case_t *c)
{
    vmm_opts_t o = {.max_data_xfer_size = c->xfer};
    vmm_migr_stats_t st;
    node_t src, dst, ref;
    uint32_t s;

    reference(&ref);
    node_open_opts(&src, c->src, &o, 1);
    node_open_opts(&dst, c->dst, &o, 1);
    workload_setup(src.vmm);
    reg_write(src.vmm, MDEV_STEP, 3);

    assert_int_equal(vmm_migrate(src.vmm, dst.vmm, &c->opts, &st), 0);
    assert_int_equal(vmm_mig_get_state(src.vmm, &s), 0);
    assert_int_equal(s, S(STOP));
    assert_int_equal(vmm_mig_get_state(dst.vmm, &s), 0);
    assert_int_equal(s, S(RUNNING));
    /* a stopped src still answers region reads: both agree */
    assert_same_dev(src.vmm, dst.vmm);
    assert_same_mem(src.vmm, dst.vmm);
    assert_true(st.stopcopy_bytes >= MDEV_HDR_LEN + mdev_final_len(0));
    assert_true(st.guest_bytes > 0);
    if (c->opts.no_precopy) {
        assert_int_equal(st.precopy_iters, 0);
        assert_int_equal(st.precopy_bytes, 0);
        assert_int_equal(reg_read(dst.vmm, MDEV_COMPLETED), 3);
    } else {
        assert_true(st.precopy_iters >= 1);
        assert_true(st.precopy_bytes >= MDEV_HDR_LEN + MDEV_BUF_LEN);
        assert_true(st.precopy_iters <= (c->opts.max_precopy_iters != 0
                                             ? c->opts.max_precopy_iters
                                             : 16));
        /*
         * The device did DMA during pre-copy (from the second round on),
         * which the logs caught.
         */
        if (c->opts.max_precopy_iters != 1) {
            assert_true(reg_read(dst.vmm, MDEV_COMPLETED) > 3);
            if (!c->opts.no_dirty_log) {
                assert_true(st.dirty_pages > 0);
            }
        }
    }
    if (c->src == INPROC) {
        assert_int_equal(src.d->dma_errors, 0);
        assert_int_equal(src.d->precopy_steps,
                         reg_read(dst.vmm, MDEV_COMPLETED) - 3);
    }
    finish_and_compare(&dst, &ref);
    if (c->dst == INPROC) {
        assert_int_equal(dst.d->dma_errors, 0);
    }
    node_close(&src);
    node_close(&dst);
    node_close(&ref);
}

static void
test_vmm_migrate_inproc(void **state)
{
    static const mig_case_t cases[] = {
        {"default", INPROC, INPROC, {0}, 0},
        {"no pre-copy", INPROC, INPROC, {.no_precopy = true}, 0},
        {"no dirty log", INPROC, INPROC, {.no_dirty_log = true}, 0},
        {"one round", INPROC, INPROC, {.max_precopy_iters = 1}, 0},
        {"tiny chunks", INPROC, INPROC, {0}, 32},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case: %s\n", cases[i].name);
        run_case(&cases[i]);
    }
}

static void
test_vmm_migrate_sockets(void **state)
{
    static const mig_case_t cases[] = {
        {"in-process to a server thread", INPROC, THREAD, {0}, 0},
        {"thread to thread", THREAD, THREAD, {0}, 0},
        {"thread to thread, small chunks", THREAD, THREAD, {0}, 64},
        {"to a forked server", INPROC, FORK, {0}, 0},
        {"fork to fork, no pre-copy", FORK, FORK, {.no_precopy = true}, 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case: %s\n", cases[i].name);
        run_case(&cases[i]);
    }
}

/* Nothing of dst's changed: RUNNING, no memory, no interrupts. */
static void
assert_dst_untouched(node_t *dst)
{
    uint64_t c;
    uint32_t s;

    assert_int_equal(vmm_mig_get_state(dst->vmm, &s), 0);
    assert_int_equal(s, S(RUNNING));
    assert_null(vmm_mem_ptr(dst->vmm, MEM_A, 1));
    assert_null(vmm_mem_ptr(dst->vmm, MEM_B, 1));
    assert_null(vmm_mem_ptr(dst->vmm, MEM_C, 1));
    assert_int_equal(vmm_irq_count(dst->vmm, MSIX, 0, false, &c), -EINVAL);
}

/* src runs on after a failed migration and ends like the reference. */
static void
assert_src_goes_on(node_t *src, node_t *ref)
{
    uint32_t s;

    assert_int_equal(vmm_mig_get_state(src->vmm, &s), 0);
    assert_int_equal(s, S(RUNNING));
    finish_and_compare(src, ref);
}

/*
 * dst speaks another version of the device's data: its write_data
 * refuses the first chunk.  src must run on, dst be as it was.
 */
static void
test_vmm_migrate_dst_refuses(void **state)
{
    node_t src, dst, ref;

    (void)state;
    reference(&ref);
    node_open(&src, INPROC);
    node_open_opts(&dst, INPROC, NULL, 2);
    workload_setup(src.vmm);
    assert_int_equal(vmm_migrate(src.vmm, dst.vmm, NULL, NULL), -EINVAL);
    assert_dst_untouched(&dst);
    assert_int_equal(dst.wire.out[VFIO_USER_DMA_MAP], 3);
    assert_int_equal(dst.wire.out[VFIO_USER_DMA_UNMAP], 3);
    assert_int_equal(dst.wire.out[VFIO_USER_DEVICE_RESET], 1);
    assert_src_goes_on(&src, &ref);
    /* and dst can still take a migration from a compatible device */
    dst.d->version = 1;
    node_close(&src);
    node_open(&src, INPROC);
    workload_setup(src.vmm);
    assert_int_equal(vmm_migrate(src.vmm, dst.vmm, NULL, NULL), 0);
    finish_and_compare(&dst, &ref);
    node_close(&src);
    node_close(&dst);
    node_close(&ref);
}

/* What vmm_migrate() refuses before anything moves. */
static void
test_vmm_migrate_refused(void **state)
{
    vmm_migr_stats_t st;
    node_t src, dst, ref;
    vfu_ctx_t *plain;
    vmm_t *pv = NULL;

    (void)state;
    reference(&ref);
    node_open(&src, INPROC);
    node_open(&dst, INPROC);
    workload_setup(src.vmm);
    assert_int_equal(vmm_migrate(NULL, dst.vmm, NULL, NULL), -EINVAL);
    assert_int_equal(vmm_migrate(src.vmm, NULL, NULL, &st), -EINVAL);
    assert_int_equal(vmm_migrate(src.vmm, src.vmm, NULL, NULL), -EINVAL);
    /* dst not RUNNING */
    assert_int_equal(vmm_mig_set_state(dst.vmm, S(STOP)), 0);
    assert_int_equal(vmm_migrate(src.vmm, dst.vmm, NULL, NULL), -EINVAL);
    assert_int_equal(vmm_mig_set_state(dst.vmm, S(RUNNING)), 0);
    /* dst already has memory where src's goes */
    assert_int_equal(vmm_mem_map(dst.vmm, MEM_B + PG, PG, VMM_MEM_RW), 0);
    assert_int_equal(vmm_migrate(src.vmm, dst.vmm, NULL, &st), -EEXIST);
    assert_int_equal(st.guest_bytes, 0);
    assert_null(vmm_mem_ptr(dst.vmm, MEM_A, 1));
    assert_non_null(vmm_mem_ptr(dst.vmm, MEM_B + PG, 1));
    assert_int_equal(vmm_mem_unmap(dst.vmm, MEM_B + PG, PG), 0);
    assert_dst_untouched(&dst);

    /* a device that is not migratable, either side */
    plain = vfu_create_ctx(VFU_TRANS_EXT_INPROC, NULL,
                           LIBVFIO_USER_FLAG_ATTACH_NB, NULL,
                           VFU_DEV_TYPE_PCI);
    assert_non_null(plain);
    assert_int_equal(vfu_pci_init(plain, VFU_PCI_TYPE_CONVENTIONAL,
                                  PCI_HEADER_TYPE_NORMAL, 0),
                     0);
    assert_int_equal(vfu_realize_ctx(plain), 0);
    assert_int_equal(vmm_attach_inproc(plain, NULL, &pv), 0);
    assert_int_equal(vmm_migrate(src.vmm, pv, NULL, NULL), -EINVAL);
    assert_int_equal(vmm_migrate(pv, dst.vmm, NULL, NULL), -EINVAL);
    vmm_close(pv);
    vfu_destroy_ctx(plain);
    assert_src_goes_on(&src, &ref);
    node_close(&src);
    node_close(&dst);
    node_close(&ref);
}

/* ------------------------------------------------------------------ */
/* Save and restore                                                    */
/* ------------------------------------------------------------------ */

/* CRC32C written out bit by bit, to check the file's own. */
static uint32_t
crc32c_ref(const uint8_t *p, size_t len)
{
    uint32_t c = ~0u;
    int k;

    while (len-- > 0) {
        c ^= *p++;
        for (k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
        }
    }
    return ~c;
}

static uint8_t *
file_read(const char *path, size_t *len)
{
    struct stat sb;
    uint8_t *p;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    p = malloc((size_t)sb.st_size + 1);
    assert_non_null(p);
    assert_int_equal(read(fd, p, (size_t)sb.st_size), sb.st_size);
    close(fd);
    *len = (size_t)sb.st_size;
    return p;
}

static void
file_write(const char *path, const uint8_t *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, len), (ssize_t)len);
    close(fd);
}

static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t
le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void
put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Offsets of the file's sections (header starts), up to @max. */
static size_t
sections(const uint8_t *f, size_t len, size_t *at, uint32_t *type,
         size_t max)
{
    size_t n = 0, pos = 24;

    while (pos + 20 <= len && n < max) {
        at[n] = pos;
        type[n] = le32(f + pos);
        pos += 16 + (size_t)le64(f + pos + 8) + 4;
        n++;
    }
    assert_int_equal(pos, len);
    return n;
}

/* Fix the CRC of the section at @at after a change inside it. */
static void
fix_crc(uint8_t *f, size_t at)
{
    size_t len = 16 + (size_t)le64(f + at + 8);

    put_le32(f + at + len, crc32c_ref(f + at, len));
}

static void
test_vmm_save_restore(void **state)
{
    char path[160];
    node_t src, dst, dst2, ref;
    uint64_t feat;
    uint32_t s;
    uint8_t *f;
    size_t len, at[16], n, i;
    uint32_t type[16];

    (void)state;
    snprintf(path, sizeof(path), "%s", tu_sock_path("snap"));
    reference(&ref);
    node_open(&src, INPROC);
    node_open(&dst, INPROC);
    node_open(&dst2, THREAD);
    workload_setup(src.vmm);
    reg_write(src.vmm, MDEV_STEP, 5);
    assert_int_equal(vmm_save(src.vmm, path), 0);
    assert_int_equal(vmm_mig_get_state(src.vmm, &s), 0);
    assert_int_equal(s, S(STOP));

    /* the format: magic, version, checksums that are CRC32C */
    assert_int_equal(crc32c_ref((const uint8_t *)"123456789", 9),
                     0xe3069283u);
    f = file_read(path, &len);
    assert_memory_equal(f, "VFUSNAP", 8);
    assert_int_equal(le32(f + 8), 1);
    assert_int_equal(le32(f + 20), crc32c_ref(f, 20));
    n = sections(f, len, at, type, 16);
    assert_int_equal(n, 5);
    assert_int_equal(type[0], 1);
    assert_int_equal(type[4], 3);
    for (i = 0; i < n; i++) {
        size_t sl = 16 + (size_t)le64(f + at[i] + 8);

        assert_int_equal(le32(f + at[i] + sl), crc32c_ref(f + at[i], sl));
    }
    /* the zero pages of the sparse memory are not stored */
    assert_true(len < MEM_A_SIZE / 2);
    free(f);

    assert_int_equal(vmm_restore(dst.vmm, path), 0);
    assert_same_dev(src.vmm, dst.vmm);
    assert_same_mem(src.vmm, dst.vmm);
    /* the same file starts another device, over a socket this time */
    assert_int_equal(vmm_restore(dst2.vmm, path), 0);
    finish_and_compare(&dst, &ref);
    finish_and_compare(&dst2, &ref);
    /* a stopped device can be saved as it is, and stays stopped */
    assert_int_equal(vmm_save(src.vmm, path), 0);
    assert_int_equal(vmm_mig_get_state(src.vmm, &s), 0);
    assert_int_equal(s, S(STOP));
    assert_int_equal(vmm_mig_features(src.vmm, &feat), 0);
    assert_int_equal(vmm_save(NULL, path), -EINVAL);
    assert_int_equal(vmm_restore(dst.vmm, NULL), -EINVAL);
    /* dst is running its own device now: refused, untouched */
    assert_int_equal(vmm_restore(dst.vmm, path), -EEXIST);
    assert_int_equal(vmm_restore(dst.vmm, "/nonexistent/snap"), -ENOENT);
    assert_int_equal(vmm_save(src.vmm, "/nonexistent/dir/snap"), -ENOENT);
    assert_int_equal(vmm_mig_get_state(src.vmm, &s), 0);
    assert_int_equal(s, S(STOP));
    unlink(path);
    node_close(&src);
    node_close(&dst);
    node_close(&dst2);
    node_close(&ref);
}

/*
 * One bad file: restoring it fails with @want (or @alt) and sends
 * nothing that changes the device.
 */
static void
try_bad_file(node_t *dst, const char *path, const uint8_t *f, size_t len,
             int want, int alt)
{
    mdev_wire_t before = dst->wire;
    int rc;

    file_write(path, f, len);
    rc = vmm_restore(dst->vmm, path);
    if (rc != want) {
        assert_int_equal(rc, alt);
    }
    assert_int_equal(dst->wire.out[VFIO_USER_DMA_MAP],
                     before.out[VFIO_USER_DMA_MAP]);
    assert_int_equal(dst->wire.out[VFIO_USER_DEVICE_SET_IRQS],
                     before.out[VFIO_USER_DEVICE_SET_IRQS]);
    assert_int_equal(dst->wire.out[VFIO_USER_MIG_DATA_WRITE],
                     before.out[VFIO_USER_MIG_DATA_WRITE]);
    assert_int_equal(dst->wire.out[VFIO_USER_DEVICE_FEATURE] -
                         before.out[VFIO_USER_DEVICE_FEATURE],
                     rc == -EINVAL || rc == -EBADMSG ? 0 : 2);
    assert_dst_untouched(dst);
}

static void
test_vmm_restore_corrupted(void **state)
{
    static const size_t cuts[] = {0, 1, 10, 23, 24, 30, 40};
    char path[160], bad[160];
    node_t src, dst;
    uint8_t *f, *g;
    size_t len, at[16], n, i;
    uint32_t type[16];

    (void)state;
    snprintf(path, sizeof(path), "%s", tu_sock_path("snap"));
    snprintf(bad, sizeof(bad), "%s", tu_sock_path("bad"));
    node_open(&src, INPROC);
    node_open(&dst, INPROC);
    workload_setup(src.vmm);
    reg_write(src.vmm, MDEV_STEP, 2);
    assert_int_equal(vmm_save(src.vmm, path), 0);
    f = file_read(path, &len);
    g = malloc(len + 16);
    assert_non_null(g);
    n = sections(f, len, at, type, 16);

    /* truncated anywhere */
    for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        try_bad_file(&dst, bad, f, cuts[i], -EINVAL, -EINVAL);
    }
    for (i = 0; i < n; i++) {
        try_bad_file(&dst, bad, f, at[i] + 10, -EINVAL, -EINVAL);
        try_bad_file(&dst, bad, f, at[i] + 20, -EINVAL, -EINVAL);
    }
    try_bad_file(&dst, bad, f, len / 2, -EINVAL, -EINVAL);
    try_bad_file(&dst, bad, f, len - 1, -EINVAL, -EINVAL);
    /* a byte more */
    memcpy(g, f, len);
    g[len] = 0;
    try_bad_file(&dst, bad, g, len + 1, -EINVAL, -EINVAL);
    /* bad magic; a header byte changed under its checksum */
    memcpy(g, f, len);
    g[0] ^= 1;
    try_bad_file(&dst, bad, g, len, -EINVAL, -EINVAL);
    memcpy(g, f, len);
    g[9] ^= 1;
    try_bad_file(&dst, bad, g, len, -EBADMSG, -EBADMSG);
    /* a version we do not know, checksum fixed */
    memcpy(g, f, len);
    put_le32(g + 8, 2);
    put_le32(g + 20, crc32c_ref(g, 20));
    try_bad_file(&dst, bad, g, len, -EINVAL, -EINVAL);
    /* one flipped bit in each section: header, payload, checksum */
    for (i = 0; i < n; i++) {
        size_t plen = (size_t)le64(f + at[i] + 8);
        size_t spots[3] = {at[i] + 1, at[i] + 16 + plen / 2,
                           at[i] + 16 + plen + 2};
        size_t k;

        for (k = 0; k < 3; k++) {
            memcpy(g, f, len);
            g[spots[k]] ^= 0x40;
            try_bad_file(&dst, bad, g, len, -EBADMSG, -EBADMSG);
        }
        /* a length that no longer fits: truncated, or a bad checksum */
        memcpy(g, f, len);
        g[at[i] + 8] ^= 0x10;
        try_bad_file(&dst, bad, g, len, -EINVAL, -EBADMSG);
    }
    /* checksummed but inconsistent: a memory run past its region */
    for (i = 0; i < n; i++) {
        if (type[i] == 2 && le32(f + at[i] + 16 + 20) > 0) {
            memcpy(g, f, len);
            g[at[i] + 16 + 24 + 8 + 7] = 0x7f; /* run length huge */
            fix_crc(g, at[i]);
            try_bad_file(&dst, bad, g, len, -EINVAL, -EINVAL);
            memcpy(g, f, len);
            g[at[i] + 16 + 16] = 0x80; /* unknown flag */
            fix_crc(g, at[i]);
            try_bad_file(&dst, bad, g, len, -EINVAL, -EINVAL);
            break;
        }
    }
    assert_true(i < n);
    /* an unknown section type; two device sections */
    memcpy(g, f, len);
    put_le32(g + at[n - 1], 9);
    fix_crc(g, at[n - 1]);
    try_bad_file(&dst, bad, g, len, -EINVAL, -EINVAL);
    memcpy(g, f, len);
    put_le32(g + at[1], 1);
    fix_crc(g, at[1]);
    try_bad_file(&dst, bad, g, len, -EINVAL, -EINVAL);

    /*
     * A well-formed file whose device data the device refuses when
     * RESUMING ends (a record checksum of its own): the restore fails
     * with the device's errno and is undone.
     */
    memcpy(g, f, len);
    g[at[0] + 16 + 13] ^= 0xff;
    fix_crc(g, at[0]);
    file_write(bad, g, len);
    assert_int_equal(vmm_restore(dst.vmm, bad), -EINVAL);
    assert_dst_untouched(&dst);
    assert_int_equal(dst.wire.out[VFIO_USER_DEVICE_RESET], 1);
    /* after all that, the good file still works */
    assert_int_equal(vmm_restore(dst.vmm, path), 0);
    assert_same_dev(src.vmm, dst.vmm);
    assert_same_mem(src.vmm, dst.vmm);
    free(f);
    free(g);
    unlink(path);
    unlink(bad);
    node_close(&src);
    node_close(&dst);
}

/* ------------------------------------------------------------------ */
/* A server that answers nonsense                                      */
/* ------------------------------------------------------------------ */

static void
feature_reply(int sfd, uint16_t id, uint32_t flags, const void *data,
              size_t len)
{
    uint8_t body[FHDR + 64];
    struct vfio_user_device_feature h = {.argsz = (uint32_t)(FHDR + len),
                                         .flags = flags};

    memcpy(body, &h, sizeof(h));
    if (len > 0) {
        memcpy(body + FHDR, data, len);
    }
    tv_reply(sfd, id, VFIO_USER_DEVICE_FEATURE, body, FHDR + len);
}

static void
test_vmm_migr_hostile_server(void **state)
{
    const uint32_t get = VFIO_DEVICE_FEATURE_GET;
    struct vfio_user_device_feature_mig_state st = {.device_state = 9};
    struct vfio_user_device_feature_dma_logging_report rep = {
        .iova = MEM_A, .length = 64 * PG, .page_size = PG};
    struct vfio_user_device_feature_dma_logging_control ctl = {
        .page_size = 3};
    struct vfio_user_mig_data md = {.argsz = 8 + 32, .size = 32};
    uint8_t body[FHDR + 64] = {0};
    uint8_t rbuf[sizeof(rep) + 8] = {0};
    uint8_t bm[8], buf[16];
    uint64_t feat;
    uint32_t s;
    size_t got;
    uint16_t id;
    vmm_t *vmm;
    proto_msg_t msgs[8];
    int sfd;

    (void)state;
    vmm = tv_fake_client(&sfd, NULL, NULL);
    id = vmm_next_id(vmm);
    /* a state outside the enum */
    feature_reply(sfd, id, get | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
                  sizeof(st));
    assert_int_equal(vmm_mig_get_state(vmm, &s), -EPROTO);
    /* a GET reply without the data */
    feature_reply(sfd, ++id, get | VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0);
    assert_int_equal(vmm_mig_features(vmm, &feat), -EPROTO);
    /* more data than asked for */
    memcpy(body, &md, sizeof(md));
    tv_reply(sfd, ++id, VFIO_USER_MIG_DATA_READ, body, 8 + 32);
    assert_int_equal(vmm_mig_read(vmm, buf, sizeof(buf), &got), -EINVAL);
    assert_int_equal(got, 0);
    /* a bitmap for another range, and one of the wrong size */
    rep.iova = MEM_B;
    memcpy(rbuf, &rep, sizeof(rep));
    feature_reply(sfd, ++id, get | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
                  rbuf, sizeof(rep) + 8);
    assert_int_equal(vmm_dirty_report(vmm, MEM_A, 64 * PG, PG, bm,
                                      sizeof(bm)),
                     -EPROTO);
    rep.iova = MEM_A;
    memcpy(rbuf, &rep, sizeof(rep));
    feature_reply(sfd, ++id, get | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
                  rbuf, sizeof(rep) + 4);
    assert_int_equal(vmm_dirty_report(vmm, MEM_A, 64 * PG, PG, bm,
                                      sizeof(bm)),
                     -EPROTO);
    /* logging "started" at a page size that is no power of two */
    feature_reply(sfd, ++id,
                  VFIO_DEVICE_FEATURE_SET |
                      VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
                  &ctl, sizeof(ctl));
    assert_int_equal(vmm_dirty_start(vmm, PG, NULL, 0), -EPROTO);
    assert_int_equal(tv_drain(sfd, msgs, 8), 6);
    tv_free_all(msgs, 6);
    vmm_close(vmm);
    close(sfd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_vmm_mig_state_calls, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_vmm_mig_data_chunks, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_vmm_dirty_calls, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_vmm_migrate_inproc, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_vmm_migrate_sockets, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_vmm_migrate_dst_refuses,
                                        tu_fd_setup, tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_vmm_migrate_refused, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_vmm_save_restore, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_vmm_restore_corrupted,
                                        tu_fd_setup, tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_vmm_migr_hostile_server,
                                        tu_fd_setup, tu_fd_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
