/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_migrate_e2e.c - migration between server processes: "mdev"
 * (tests/unit/test_mdev.h) hopping through three forked servers with
 * DMA in flight at every hop, a snapshot saved by one process and
 * restored by another, and the sample device binaries migrated from one
 * process of theirs to another.  Guest memory, device state and
 * interrupts must end up exactly as in a run without migration.
 */
#define _GNU_SOURCE
#define MDEV_CLIENT
#include "unit/test_mdev.h"

#define S(x) VFIO_USER_DEVICE_STATE_##x

/*
 * A -> B -> C, each in its own process: two descriptors done on A, more
 * during A's pre-copy, one on B, the rest on C (B -> C in small chunks
 * and without DMA logging, so both ways of carrying memory are used).
 */
static void
test_e2e_migrate_chain(void **state)
{
    vmm_opts_t small = {.max_data_xfer_size = 256};
    vmm_migr_opts_t nolog = {.no_dirty_log = true};
    vmm_migr_stats_t st;
    node_t a, b, c, ref;
    uint32_t s;

    (void)state;
    reference(&ref);
    node_open(&a, FORK);
    workload_setup(a.vmm);
    reg_write(a.vmm, MDEV_STEP, 2);
    node_open_opts(&b, FORK, &small, 1);
    assert_int_equal(vmm_migrate(a.vmm, b.vmm, NULL, &st), 0);
    assert_true(st.precopy_iters > 1);
    assert_true(st.dirty_pages > 0);
    assert_same_dev(a.vmm, b.vmm);
    assert_same_mem(a.vmm, b.vmm);
    node_close(&a); /* its process ends with its client */

    reg_write(b.vmm, MDEV_STEP, 1);
    node_open(&c, FORK);
    assert_int_equal(vmm_migrate(b.vmm, c.vmm, &nolog, &st), 0);
    assert_int_equal(st.dirty_pages, 0);
    assert_int_equal(vmm_mig_get_state(b.vmm, &s), 0);
    assert_int_equal(s, S(STOP));
    assert_same_dev(b.vmm, c.vmm);
    node_close(&b);
    finish_and_compare(&c, &ref);
    node_close(&c);
    node_close(&ref);
}

/* Saved by one process, restored by another started afterwards. */
static void
test_e2e_snapshot_between_processes(void **state)
{
    char path[160];
    node_t a, b, ref;
    devstate_t before, after;

    (void)state;
    snprintf(path, sizeof(path), "%s", tu_sock_path("snap"));
    reference(&ref);
    node_open(&a, FORK);
    workload_setup(a.vmm);
    reg_write(a.vmm, MDEV_STEP, 4);
    assert_int_equal(vmm_save(a.vmm, path), 0);
    dev_state(a.vmm, &before);
    node_close(&a);

    node_open(&b, FORK);
    assert_int_equal(vmm_restore(b.vmm, path), 0);
    dev_state(b.vmm, &after);
    assert_int_equal(after.completed, 4);
    assert_int_equal(after.completed, before.completed);
    assert_int_equal(after.pending, before.pending);
    assert_memory_equal(after.buf, before.buf, sizeof(after.buf));
    finish_and_compare(&b, &ref);
    node_close(&b);
    node_close(&ref);
    unlink(path);
}

/* ------------------------------------------------------------------ */
/* The sample device binaries                                          */
/* ------------------------------------------------------------------ */

static pid_t
spawn_device(const char *name, const char *path)
{
    char bin[4096];
    char sock[256];
    char *argv[] = {bin, sock, NULL};

    snprintf(bin, sizeof(bin), "%s", tu_build_path("devices/"));
    strncat(bin, name, sizeof(bin) - strlen(bin) - 1);
    snprintf(sock, sizeof(sock), "%s", path);
    return tu_spawn(argv, path);
}

/*
 * Each sample device that says it is migratable moves from one process
 * of its binary to another: the destination runs, with the source's
 * config space.  (The devices' own tests check their state in depth.)
 */
static void
test_e2e_sample_devices(void **state)
{
    static const char *const names[] = {"gpio", "dmaengine"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char p1[128], p2[128];
        vmm_t *src = NULL, *dst = NULL;
        uint8_t c1[256], c2[256];
        uint64_t feat;
        pid_t a, b;
        uint32_t s;
        int rc;

        snprintf(p1, sizeof(p1), "%s", tu_sock_path(names[i]));
        snprintf(p2, sizeof(p2), "%s", tu_sock_path(names[i]));
        a = spawn_device(names[i], p1);
        b = spawn_device(names[i], p2);
        assert_true(a > 0);
        assert_true(b > 0);
        assert_int_equal(connect_retry(p1, NULL, &src), 0);
        assert_int_equal(connect_retry(p2, NULL, &dst), 0);
        rc = vmm_mig_features(src, &feat);
        if (rc < 0) {
            print_message("%s: not migratable (%s), skipped\n", names[i],
                          strerror(-rc));
        } else {
            assert_int_equal(vmm_mem_map(src, 0x100000, 16 * PG, VMM_MEM_RW),
                             0);
            assert_int_equal(vmm_mem_fill(src, 0x100000, 0x6b, 16 * PG), 0);
            assert_int_equal(vmm_migrate(src, dst, NULL, NULL), 0);
            assert_int_equal(vmm_mig_get_state(dst, &s), 0);
            assert_int_equal(s, S(RUNNING));
            assert_int_equal(vmm_region_read(src, VFU_PCI_DEV_CFG_REGION_IDX,
                                             0, c1, sizeof(c1)),
                             0);
            assert_int_equal(vmm_region_read(dst, VFU_PCI_DEV_CFG_REGION_IDX,
                                             0, c2, sizeof(c2)),
                             0);
            assert_memory_equal(c1, c2, sizeof(c1));
            assert_memory_equal(vmm_mem_ptr(src, 0x100000, 16 * PG),
                                vmm_mem_ptr(dst, 0x100000, 16 * PG),
                                16 * PG);
        }
        vmm_close(src);
        vmm_close(dst);
        assert_true(tu_kill(a) >= 0);
        assert_true(tu_kill(b) >= 0);
        unlink(p1);
        unlink(p2);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_e2e_migrate_chain, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_e2e_snapshot_between_processes,
                                        tu_fd_setup, tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_e2e_sample_devices, tu_fd_setup,
                                        tu_fd_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
