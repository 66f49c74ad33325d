/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devfuzz.c - runs decoded operation sequences against a built-in device
 * through the fake VMM, in-process, and aborts when a cheap device
 * invariant breaks (sanitizers catch the rest).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/devices.h"
#include "fuzz/dev/devfuzz.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/vmm.h"

/* One instance per process (libFuzzer has no context to hang it on). */
typedef struct do_harness {
    const do_device_t *model;
    vfu_device_t dev;
    vmm_t *vmm;
    bool up;
} do_harness_t;

static do_harness_t harness;

static int
instance_open(const do_device_t *model, vfu_device_t *dev, vmm_t **vmm)
{
    int rc = vfu_device_open(model->name, VFU_TRANS_EXT_INPROC, NULL, 0, dev);

    if (rc < 0) {
        return rc;
    }
    rc = vmm_attach_inproc(dev->ctx, NULL, vmm);
    if (rc < 0) {
        vfu_device_close(dev);
    }
    return rc;
}

/* A fresh instance, migrated into; on success it replaces the old one. */
static int
migrate_fresh(void *arg, vmm_t **vmm)
{
    do_harness_t *h = arg;
    vfu_device_t dev2;
    vmm_migr_opts_t mopts = { .no_precopy = true };
    vmm_t *vmm2 = NULL;
    int rc = instance_open(h->model, &dev2, &vmm2);

    if (rc < 0) {
        fprintf(stderr, "fuzz_dev: second instance: %s\n", strerror(-rc));
        abort();
    }
    /* no pre-copy rounds: the stop-copy path is what a fuzzer can reach
     * cheaply, and each round costs a full dirty-log walk */
    rc = vmm_migrate(*vmm, vmm2, &mopts, NULL);
    if (rc < 0) {
        vmm_close(vmm2);
        vfu_device_close(&dev2);
        return rc;
    }
    vmm_close(*vmm);
    vfu_device_close(&h->dev);
    h->dev = dev2;
    h->vmm = vmm2;
    *vmm = vmm2;
    return 0;
}

/* What the next input must find: no memory, no IRQs, a reset device. */
static void
harness_clean(do_harness_t *h)
{
    uint64_t id = 0;
    int rc;

    for (uint32_t i = 0; i < 5; i++) {
        (void)vmm_irq_disable(h->vmm, i);
    }
    (void)vmm_mem_unmap_all(h->vmm);
    rc = vmm_reset(h->vmm);
    if (rc == 0) {
        rc = vmm_region_read_val(h->vmm, 0, h->model->id_off, 4, &id);
    }
    if (rc < 0 || !vmm_is_connected(h->vmm)) {
        fprintf(stderr, "fuzz_dev: device unusable after reset: %s\n",
                strerror(rc < 0 ? -rc : ENOTCONN));
        abort();
    }
    if (id != h->model->id_val) {
        fprintf(stderr, "fuzz_dev: id 0x%" PRIx64 " after reset\n", id);
        abort();
    }
}

void
do_fuzz_one(const do_device_t *model, const uint8_t *data, size_t size)
{
    do_harness_t *h = &harness;
    do_list_t list;
    int rc;

    memset(&list, 0, sizeof(list));
    if (!h->up) {
        h->model = model;
        rc = instance_open(model, &h->dev, &h->vmm);
        if (rc < 0) {
            fprintf(stderr, "fuzz_dev: cannot open %s: %s\n", model->name,
                    strerror(-rc));
            abort();
        }
        h->up = true;
    }
    if (do_decode(model, data, size, &list) < 0) {
        do_list_free(&list);
        return;
    }
    for (size_t i = 0; i < list.nr; i++) {
        const do_op_t *op = &list.ops[i];

        rc = do_exec_one(&h->vmm, op, migrate_fresh, h);
        if (!vmm_is_connected(h->vmm)) {
            fprintf(stderr, "fuzz_dev: op %zu (kind %d) lost the device\n",
                    i, (int)op->kind);
            abort();
        }
        if (rc < 0 && op->must_work) {
            fprintf(stderr, "fuzz_dev: op %zu (kind %d, region %" PRIu32
                    " off 0x%" PRIx64 " size %" PRIu32 ") failed: %s\n",
                    i, (int)op->kind, op->region, op->off, op->size,
                    strerror(-rc));
            abort();
        }
    }
    do_list_free(&list);
    harness_clean(h);
}
