/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devops.h - device operation sequences for the fuzz_dev_* targets: a
 * fuzzer input decoded into register, interrupt, reset, guest memory and
 * migration operations (QEMU generic-fuzz style), run through the fake VMM
 * or printed as a .vus scenario (vfu-crash2vus).
 */
#ifndef VFU_FUZZ_DEVOPS_H
#define VFU_FUZZ_DEVOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vfio-user/vmm.h"

/* Guest memory slots: DO_NR_SLOTS regions of up to DO_SLOT_SIZE bytes. */
#define DO_MEM_BASE 0x100000ull
#define DO_SLOT_SIZE 0x10000ull
#define DO_NR_SLOTS 4u
/* IRQ ops name indexes 0 .. DO_NR_IRQ_INDEXES - 1 (INTx ... REQ). */
#define DO_NR_IRQ_INDEXES 5u
/* Bounds that keep one input fast. */
#define DO_MAX_OPS 256u
#define DO_MAX_MEMW 4096u

enum do_kind {
    DO_CFG_READ,
    DO_CFG_WRITE,
    DO_BAR_READ,
    DO_BAR_WRITE,
    DO_IRQ_ENABLE,
    DO_IRQ_DISABLE,
    DO_IRQ_MASK,
    DO_IRQ_UNMASK,
    DO_RESET,
    DO_MEM_MAP,
    DO_MEM_UNMAP,
    DO_MEM_WRITE,
    DO_MIGRATE,
};

typedef struct do_op {
    enum do_kind kind;
    uint32_t region;  /* BAR index for BAR ops; IRQ index for IRQ ops */
    uint32_t size;    /* access width; IRQ count; MEM_WRITE length */
    uint64_t off;     /* offset; gpa for MEM ops; IRQ start */
    uint64_t val;     /* value written; mapping size for MEM_MAP */
    uint32_t prot;    /* VMM_MEM_* for MEM_MAP */
    bool must_work;   /* a failure breaks a device invariant */
    uint8_t *data;    /* MEM_WRITE bytes (owned by the op list) */
} do_op_t;

typedef struct do_list {
    do_op_t *ops;
    size_t nr, cap;
} do_list_t;

/* What a target knows about its device, for decoding. */
typedef struct do_device {
    const char *name;      /* vfu_device_find() name */
    uint32_t bars[2];      /* BAR indexes to drive */
    uint64_t bar_size[2];  /* and their sizes */
    uint32_t nr_bars;
    uint32_t id_off;       /* BAR0 register reading id_val after reset */
    uint32_t id_val;
    bool dma;              /* a dmaengine: queue setup and doorbells */
} do_device_t;

extern const do_device_t do_dev_gpio;
extern const do_device_t do_dev_dmaengine;

/** do_device_by_name - one of the above, or NULL. */
const do_device_t *
do_device_by_name(const char *name);

/**
 * do_decode - decode @data into @list (which must be zeroed).  Never fails
 * on any input; returns 0 or -ENOMEM.
 */
int
do_decode(const do_device_t *dev, const uint8_t *data, size_t size,
          do_list_t *list);

/** do_list_free - free the ops and their data; accepts a zeroed list. */
void
do_list_free(do_list_t *list);

/**
 * do_print - write @list as a .vus scenario for @dev.  Ops whose failure
 * is tolerated carry `error any|ok`; must_work ops carry no clause, so a
 * scenario run fails where the fuzzer would abort.
 */
void
do_print(const do_device_t *dev, const do_list_t *list, FILE *f);

/**
 * do_exec_one - run one op on *@vmm.  A migration replaces *@vmm (and the
 * device behind it) through @migrate.  Returns the op's result.
 */
typedef int(do_migrate_fn)(void *arg, vmm_t **vmm);
int
do_exec_one(vmm_t **vmm, const do_op_t *op, do_migrate_fn *migrate,
            void *arg);

#endif /* VFU_FUZZ_DEVOPS_H */
