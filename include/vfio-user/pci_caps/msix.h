/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * msix.h - MSI-X capability (PCI_CAP_ID_MSIX).
 */
#ifndef VFU_PCI_CAPS_MSIX_H
#define VFU_PCI_CAPS_MSIX_H

#include <linux/pci_regs.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Message control.  The guest writes fm and mxe; the rest is fixed. */
struct mxc {
    uint16_t ts : 11;      /* table size minus one */
    uint16_t reserved : 3; /* reads as zero */
    uint16_t fm : 1;       /* function mask */
    uint16_t mxe : 1;      /* MSI-X enable */
} __attribute__((packed));
_Static_assert(sizeof(struct mxc) == 2, "struct mxc size");

/* Where the vector table lives: a BAR index and an 8-byte aligned offset. */
struct mtab {
    uint32_t tbir : 3;
    uint32_t to : 29;
} __attribute__((packed));
_Static_assert(sizeof(struct mtab) == 4, "struct mtab size");

/* Where the pending bit array lives, encoded as for the table. */
struct mpba {
    uint32_t pbir : 3;
    uint32_t pbao : 29;
} __attribute__((packed));
_Static_assert(sizeof(struct mpba) == 4, "struct mpba size");

struct msixcap {
    struct cap_hdr hdr;
    struct mxc mxc;
    struct mtab mtab;
    struct mpba mpba;
} __attribute__((packed)) __attribute__((aligned(4)));
_Static_assert(sizeof(struct msixcap) == PCI_CAP_MSIX_SIZEOF,
               "struct msixcap size");
_Static_assert(offsetof(struct msixcap, mxc) == PCI_MSIX_FLAGS, "mxc offset");
_Static_assert(offsetof(struct msixcap, mtab) == PCI_MSIX_TABLE,
               "mtab offset");
_Static_assert(offsetof(struct msixcap, mpba) == PCI_MSIX_PBA, "mpba offset");

#ifdef __cplusplus
}
#endif

#endif /* VFU_PCI_CAPS_MSIX_H */
