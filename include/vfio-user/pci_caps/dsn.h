/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsn.h - PCI Express Device Serial Number extended capability.
 */
#ifndef VFU_PCI_CAPS_DSN_H
#define VFU_PCI_CAPS_DSN_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A 64-bit serial number (an EUI-64), lower dword first. */
struct dsncap {
    struct pcie_ext_cap_hdr hdr;
    uint32_t sn_lo;
    uint32_t sn_hi;
} __attribute__((packed));
_Static_assert(sizeof(struct dsncap) == PCI_EXT_CAP_DSN_SIZEOF,
               "struct dsncap size");

#ifdef __cplusplus
}
#endif

#endif /* VFU_PCI_CAPS_DSN_H */
