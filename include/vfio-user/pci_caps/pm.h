/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pm.h - power management capability (PCI_CAP_ID_PM).
 */
#ifndef VFU_PCI_CAPS_PM_H
#define VFU_PCI_CAPS_PM_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Power management capabilities (read-only for the guest). */
struct pc {
    uint16_t vs : 3;   /* spec version */
    uint16_t pmec : 1; /* PME clock */
    uint16_t res : 1;
    uint16_t dsi : 1;  /* device specific initialization */
    uint16_t auxc : 3; /* aux current */
    uint16_t d1s : 1;  /* D1 supported */
    uint16_t d2s : 1;  /* D2 supported */
    uint16_t psup : 5; /* PME# support per state */
} __attribute__((packed));
_Static_assert(sizeof(struct pc) == 2, "struct pc size");

/* Power management control/status. */
struct pmcs {
    union {
        uint16_t raw;
        struct {
            uint16_t ps : 2;     /* power state, D0..D3hot */
            uint16_t res1 : 1;
            uint16_t nsfrst : 1; /* no soft reset on D3hot -> D0 */
            uint16_t res2 : 4;
            uint16_t pmee : 1;   /* PME enable */
            uint16_t dse : 4;    /* data select */
            uint16_t dsc : 2;    /* data scale */
            uint16_t pmes : 1;   /* PME status, write one to clear */
        };
    };
} __attribute__((packed));
_Static_assert(sizeof(struct pmcs) == 2, "struct pmcs size");

struct pmcap {
    struct cap_hdr hdr;
    struct pc pc;
    struct pmcs pmcs;
    uint8_t pmcsr_bse; /* bridge extensions */
    uint8_t data;
} __attribute__((packed));
_Static_assert(sizeof(struct pmcap) == PCI_PM_SIZEOF, "struct pmcap size");
_Static_assert(offsetof(struct pmcap, pc) == PCI_PM_PMC, "pc offset");
_Static_assert(offsetof(struct pmcap, pmcs) == PCI_PM_CTRL, "pmcs offset");

#ifdef __cplusplus
}
#endif

#endif /* VFU_PCI_CAPS_PM_H */
