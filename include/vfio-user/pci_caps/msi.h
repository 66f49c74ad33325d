/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * msi.h - MSI capability (PCI_CAP_ID_MSI).
 */
#ifndef VFU_PCI_CAPS_MSI_H
#define VFU_PCI_CAPS_MSI_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Message control.  The guest writes msie and mme; the rest is fixed. */
struct mc {
    unsigned int msie : 1; /* MSI enable */
    unsigned int mmc : 3;  /* log2 of the vectors the function asks for */
    unsigned int mme : 3;  /* log2 of the vectors the guest granted */
    unsigned int c64 : 1;  /* 64-bit message address capable */
    unsigned int pvm : 1;  /* per-vector masking capable */
    unsigned int res1 : 7; /* extended message data: not supported */
} __attribute__((packed));
_Static_assert(sizeof(struct mc) == 2, "struct mc size");

/* Message address; the two low bits always read as zero. */
struct ma {
    unsigned int res1 : 2;
    unsigned int addr : 30;
} __attribute__((packed));
_Static_assert(sizeof(struct ma) == 4, "struct ma size");

/*
 * Size of the largest layout (64-bit address and per-vector masking).  A
 * capability without those features is shorter; the library works out the
 * size from mc.c64 and mc.pvm.
 */
#define VFIO_USER_PCI_CAP_MSI_SIZEOF (0x18)

struct msicap {
    struct cap_hdr hdr;
    struct mc mc;
    struct ma ma;
    uint32_t mua;     /* upper address (64-bit layout) */
    uint16_t md;      /* message data */
    uint16_t padding; /* extended message data: not supported */
    uint32_t mmask;   /* mask bits (per-vector masking) */
    uint32_t mpend;   /* pending bits, read-only for the guest */
} __attribute__((packed));
_Static_assert(sizeof(struct msicap) == VFIO_USER_PCI_CAP_MSI_SIZEOF,
               "struct msicap size");
_Static_assert(offsetof(struct msicap, mc) == PCI_MSI_FLAGS, "mc offset");
_Static_assert(offsetof(struct msicap, ma) == PCI_MSI_ADDRESS_LO,
               "ma offset");
_Static_assert(offsetof(struct msicap, mua) == PCI_MSI_ADDRESS_HI,
               "mua offset");
_Static_assert(offsetof(struct msicap, md) == PCI_MSI_DATA_64, "md offset");
_Static_assert(offsetof(struct msicap, mmask) == PCI_MSI_MASK_64,
               "mmask offset");
_Static_assert(offsetof(struct msicap, mpend) == PCI_MSI_PENDING_64,
               "mpend offset");

#ifdef __cplusplus
}
#endif

#endif /* VFU_PCI_CAPS_MSI_H */
