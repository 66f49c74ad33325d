/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devfuzz.c - runs decoded operation sequences against a built-in device
 * through the fake VMM, in-process, and aborts when a cheap device
 * invariant breaks (sanitizers catch the rest).
 *
 * Two instances of the device (each with its own client) are opened once
 * per process: one is driven, the other waits to be the destination of a
 * migration op, after which the two swap roles.  Opening an instance per
 * input or per migration (context, device state, negotiation, discovery)
 * cost more than most inputs, and a dmaengine instance alone allocates two
 * 1 MiB bounce buffers.
 *
 * Every input starts from the same state, so a crash reproduces from the
 * input alone: after each input the instances it touched are brought back
 * to what they were right after opening (a step that fails aborts) -
 *   - migration: an instance a migration left stopped runs again;
 *   - interrupts: SET_IRQS disable of every index an IRQ op named (only
 *     those ops change the server's vectors; a migration enables on its
 *     destination only what its source had);
 *   - guest memory: DMA_UNMAP all, if any map op ran (nothing else maps);
 *   - config space: the bytes saved at open are copied back before and
 *     after the reset (DEVICE_RESET leaves config space to the server,
 *     which keeps it; the server derives nothing from it);
 *   - the device: DEVICE_RESET (registers, queues, migration phase), then
 *     BAR0's ID register must read its value.
 * What survives is meaningless to the device: message and DMA region id
 * counters (only compared, never interpreted), capacities of grown tables,
 * stale bytes in device scratch buffers that are written before they are
 * read (a fresh instance would hold uninitialised heap there), and the
 * client's discovery caches, filled at open so every input finds them
 * full.
 *
 * Both clients negotiate a max_data_xfer_size of DO_SLOT_SIZE instead of
 * 1 MiB.  No guest memory region is larger (vmm_mem_map sizes are at most
 * 16 pages), and a DMA transfer never spans regions, so every DMA message
 * is exactly what it was; but each MIG_DATA_READ used to ask for 1 MiB,
 * which the server zeroes and server, transport and client copy several
 * times per read, for a device state of a few KiB: 90% of a migration.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/devices.h"
#include "fuzz/common/fz_digest.h"
#include "fuzz/dev/devfuzz.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/vmm.h"

typedef struct do_inst {
    vfu_device_t dev;
    vmm_t *vmm;
} do_inst_t;

/* One per process (libFuzzer has no context to hang it on). */
typedef struct do_harness {
    const do_device_t *model;
    do_inst_t inst[2]; /* inst[cur] is driven, the other is the spare */
    unsigned int cur;
    uint8_t *cfg;      /* config space as after open and reset */
    size_t cfg_size;
    /* what the running input changed, for the cleanup */
    bool irq_used[DO_NR_IRQ_INDEXES];
    bool mem_used;
    bool migrated;     /* both instances may have changed */
    bool up;
    uint64_t digest;   /* the clients' messages during the input */
} do_harness_t;

static do_harness_t harness;

static void __attribute__((noreturn))
die(const do_harness_t *h, const char *what, int rc)
{
    fprintf(stderr, "fuzz_dev: %s %s: %s\n", h->model->name, what,
            strerror(rc < 0 ? -rc : rc));
    abort();
}

/*
 * Fill the client's discovery caches (region and IRQ info are fetched on
 * first use), so that the first input sends the same messages as later
 * ones.  An IRQ index the device refuses is not cached: it is asked again
 * every time, which is deterministic too.
 */
static int
warm_caches(const do_device_t *model, vmm_t *vmm)
{
    const vmm_region_t *r;
    struct vfio_irq_info irq;
    int rc;

    rc = vmm_region_info(vmm, VFU_PCI_DEV_CFG_REGION_IDX, &r);
    for (uint32_t i = 0; rc == 0 && i < model->nr_bars; i++) {
        rc = vmm_region_info(vmm, model->bars[i], &r);
    }
    for (uint32_t i = 0; rc == 0 && i < DO_NR_IRQ_INDEXES; i++) {
        (void)vmm_irq_info(vmm, i, &irq);
    }
    return rc;
}

static int
instance_open(const do_device_t *model, do_inst_t *in)
{
    vmm_opts_t opts = { .max_data_xfer_size = DO_SLOT_SIZE };
    int rc;

    memset(in, 0, sizeof(*in));
    rc = vfu_device_open(model->name, VFU_TRANS_EXT_INPROC, NULL, 0,
                         &in->dev);
    if (rc < 0) {
        return rc;
    }
    rc = vmm_attach_inproc(in->dev.ctx, &opts, &in->vmm);
    if (rc == 0) {
        rc = warm_caches(model, in->vmm);
    }
#ifdef FZ_REPLAY
    /* only the replay checks it: hashing every byte costs libFuzzer */
    if (rc == 0) {
        vmm_set_trace_hook(in->vmm, fz_digest_msg, &harness.digest);
    }
#endif
    if (rc < 0) {
        vmm_close(in->vmm);
        vfu_device_close(&in->dev);
        in->vmm = NULL;
    }
    return rc;
}

static void
cfg_restore(const do_harness_t *h, const do_inst_t *in)
{
    memcpy(vfu_pci_get_config_space(in->dev.ctx), h->cfg, h->cfg_size);
}

/*
 * A migration leaves its source stopped (and a failed one may leave its
 * destination anywhere): a stopped device refuses SET_IRQS, DMA_UNMAP and
 * DEVICE_RESET, so it is first made to run again, as a VMM reusing it
 * would.  A RESUMING one is left to DEVICE_RESET, which ends that session.
 */
static void
instance_run(const do_harness_t *h, const do_inst_t *in)
{
    uint32_t st;
    int rc = vmm_mig_get_state(in->vmm, &st);

    if (rc == 0 && st != VFIO_USER_DEVICE_STATE_RUNNING &&
        st != VFIO_USER_DEVICE_STATE_RESUMING) {
        rc = vmm_mig_set_state(in->vmm, VFIO_USER_DEVICE_STATE_RUNNING);
    }
    if (rc < 0) {
        die(h, "spare does not run again", rc);
    }
}

/* Indexes without vectors refuse SET_IRQS: nothing to disable there. */
static bool
irq_has_vectors(vmm_t *vmm, uint32_t index)
{
    struct vfio_irq_info info;

    return vmm_irq_info(vmm, index, &info) < 0 || info.count > 0;
}

/*
 * Undo what the input did to @in (see the top of the file); @all: as if
 * every IRQ index and memory had been used (startup).
 */
static void
instance_clean(const do_harness_t *h, const do_inst_t *in, bool all)
{
    uint64_t id = 0;
    int rc = 0;

    /* a cleanup that fails would leave state to the next input */
    for (uint32_t i = 0; i < DO_NR_IRQ_INDEXES; i++) {
        if (!all && !h->irq_used[i]) {
            continue;
        }
        rc = vmm_irq_disable(in->vmm, i);
        if (rc < 0 && irq_has_vectors(in->vmm, i)) {
            die(h, "cannot disable interrupts", rc);
        }
    }
    if (all || h->mem_used) {
        rc = vmm_mem_unmap_all(in->vmm);
        if (rc < 0) {
            die(h, "cannot unmap guest memory", rc);
        }
    }
    if (h->cfg != NULL) {
        cfg_restore(h, in);
    }
    rc = vmm_reset(in->vmm);
    if (h->cfg != NULL) {
        cfg_restore(h, in);
    }
    if (rc == 0) {
        rc = vmm_region_read_val(in->vmm, 0, h->model->id_off, 4, &id);
    }
    if (rc < 0 || !vmm_is_connected(in->vmm)) {
        die(h, "unusable after reset", rc < 0 ? rc : -ENOTCONN);
    }
    if (id != h->model->id_val) {
        fprintf(stderr, "fuzz_dev: id 0x%" PRIx64 " after reset\n", id);
        abort();
    }
}

/* Open both instances and save the config space every input starts with. */
static void
harness_up(do_harness_t *h, const do_device_t *model)
{
    const vmm_region_t *r;
    int rc;

    h->model = model;
    for (unsigned int i = 0; i < 2; i++) {
        rc = instance_open(model, &h->inst[i]);
        if (rc < 0) {
            die(h, "cannot open", rc);
        }
        instance_clean(h, &h->inst[i], true);
    }
    rc = vmm_region_info(h->inst[0].vmm, VFU_PCI_DEV_CFG_REGION_IDX, &r);
    if (rc < 0) {
        die(h, "config region", rc);
    }
    h->cfg_size = (size_t)r->size;
    h->cfg = malloc(h->cfg_size);
    if (h->cfg == NULL) {
        die(h, "config copy", -ENOMEM);
    }
    memcpy(h->cfg, vfu_pci_get_config_space(h->inst[0].dev.ctx),
           h->cfg_size);
    /* the spare must be the same device, or swapping them is not neutral */
    if (memcmp(h->cfg, vfu_pci_get_config_space(h->inst[1].dev.ctx),
               h->cfg_size) != 0) {
        die(h, "instances differ in config space", -EINVAL);
    }
    h->cur = 0;
    h->up = true;
}

/*
 * Migrate the driven instance into the spare (straight to STOP_COPY: the
 * stop-copy path is what a fuzzer reaches cheaply, and each pre-copy round
 * costs a dirty-log walk).  On success they swap roles.
 */
static int
migrate_spare(void *arg, vmm_t **vmm)
{
    do_harness_t *h = arg;
    vmm_migr_opts_t mopts = { .no_precopy = true };
    unsigned int spare = 1 - h->cur;
    int rc;

    rc = vmm_migrate(*vmm, h->inst[spare].vmm, &mopts, NULL);
    if (rc < 0) {
        return rc;
    }
    h->cur = spare;
    *vmm = h->inst[spare].vmm;
    return 0;
}

/* Note what @op may leave behind, before it runs. */
static void
note_op(do_harness_t *h, const do_op_t *op)
{
    switch (op->kind) {
    case DO_IRQ_ENABLE:
    case DO_IRQ_DISABLE:
    case DO_IRQ_MASK:
    case DO_IRQ_UNMASK:
        if (op->region < DO_NR_IRQ_INDEXES) {
            h->irq_used[op->region] = true;
        } else {
            die(h, "IRQ index out of the decoded range", -EINVAL);
        }
        break;
    case DO_MEM_MAP:
        h->mem_used = true;
        break;
    case DO_MIGRATE:
        h->migrated = true;
        break;
    default:
        break;
    }
}

void
do_fuzz_one(const do_device_t *model, const uint8_t *data, size_t size)
{
    do_harness_t *h = &harness;
    do_list_t list;
    vmm_t *vmm;
    int rc;

    memset(&list, 0, sizeof(list));
    if (!h->up) {
        harness_up(h, model);
    }
    h->digest = FZ_DIGEST_INIT;
    if (do_decode(model, data, size, &list) < 0) {
        do_list_free(&list);
        return;
    }
    vmm = h->inst[h->cur].vmm;
    for (size_t i = 0; i < list.nr; i++) {
        const do_op_t *op = &list.ops[i];

        note_op(h, op);
        rc = do_exec_one(&vmm, op, migrate_spare, h);
        if (!vmm_is_connected(vmm)) {
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
    instance_clean(h, &h->inst[h->cur], false);
    if (h->migrated) {
        instance_run(h, &h->inst[1 - h->cur]);
        instance_clean(h, &h->inst[1 - h->cur], false);
    }
    memset(h->irq_used, 0, sizeof(h->irq_used));
    h->mem_used = false;
    h->migrated = false;
}

uint64_t
fz_input_digest(void)
{
    return harness.digest;
}
