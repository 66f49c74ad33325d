/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * common.h - headers shared by every PCI and PCI Express capability.
 */
#ifndef VFU_PCI_CAPS_COMMON_H
#define VFU_PCI_CAPS_COMMON_H

#include <linux/pci_regs.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The two bytes that start every capability in the first 256 bytes. */
struct cap_hdr {
    uint8_t id;   /* PCI_CAP_ID_* */
    uint8_t next; /* offset of the next capability, 0 at the end */
} __attribute__((packed));
_Static_assert(sizeof(struct cap_hdr) == 2, "struct cap_hdr size");
_Static_assert(offsetof(struct cap_hdr, id) == PCI_CAP_LIST_ID, "id offset");
_Static_assert(offsetof(struct cap_hdr, next) == PCI_CAP_LIST_NEXT,
               "next offset");

/*
 * Vendor-specific capability (PCI_CAP_ID_VNDR).  @size counts the whole
 * capability, header included; the rest is the vendor's.
 */
struct vsc {
    struct cap_hdr hdr;
    uint8_t size;
    uint8_t data[];
} __attribute__((packed));
_Static_assert(sizeof(struct vsc) == 3, "struct vsc size");

/*
 * Header of a PCI Express extended capability (offset 0x100 and up): a
 * 16-bit ID, a 4-bit version and the 12-bit offset of the next one.
 */
struct pcie_ext_cap_hdr {
    uint32_t id : 16;
    uint32_t version : 4;
    uint32_t next : 12;
} __attribute__((packed));
_Static_assert(sizeof(struct pcie_ext_cap_hdr) == 4,
               "struct pcie_ext_cap_hdr size");

/*
 * Vendor-specific extended capability (PCI_EXT_CAP_ID_VNDR).  @len counts
 * the whole capability, both headers included.
 */
struct pcie_ext_cap_vsc_hdr {
    struct pcie_ext_cap_hdr hdr;
    uint32_t id : 16;  /* vendor's own ID for this capability */
    uint32_t rev : 4;
    uint32_t len : 12;
    uint8_t data[];
} __attribute__((packed));
_Static_assert(sizeof(struct pcie_ext_cap_vsc_hdr) == 8,
               "struct pcie_ext_cap_vsc_hdr size");

#ifdef __cplusplus
}
#endif

#endif /* VFU_PCI_CAPS_COMMON_H */
