/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pci_defs.h - layout of the PCI type 0 configuration header.
 *
 * Type and field names follow libvfio-user's pci_defs.h so that device
 * models written for it compile unchanged; the layouts themselves are fixed
 * by the PCI Local Bus specification.  Register offsets and bit values come
 * from <linux/pci_regs.h>.
 */
#ifndef VFU_PCI_DEFS_H
#define VFU_PCI_DEFS_H

#include <linux/pci_regs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The "locatable" field of a memory BAR (bits 2:1) holds the memory type
 * shifted down by one: these are the values to store in vfu_bar_t.mem.
 */
#define PCI_BASE_ADDRESS_MEM_TYPE_LOCATABLE_32                                 \
    (PCI_BASE_ADDRESS_MEM_TYPE_32 >> 1)
#define PCI_BASE_ADDRESS_MEM_TYPE_LOCATABLE_1M                                 \
    (PCI_BASE_ADDRESS_MEM_TYPE_1M >> 1)
#define PCI_BASE_ADDRESS_MEM_TYPE_LOCATABLE_64                                 \
    (PCI_BASE_ADDRESS_MEM_TYPE_64 >> 1)

/* Subsystem vendor and subsystem IDs (0x2c). */
typedef union {
    uint32_t raw;
    struct {
        uint16_t vid;
        uint16_t sid;
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_ss_t;
_Static_assert(sizeof(vfu_pci_hdr_ss_t) == 4, "vfu_pci_hdr_ss_t size");

/* Built-in self test register (0x0f); we never implement BIST. */
typedef union {
    uint8_t raw;
} __attribute__((packed)) vfu_pci_hdr_bist_t;
_Static_assert(sizeof(vfu_pci_hdr_bist_t) == 1, "vfu_pci_hdr_bist_t size");

/*
 * One base address register.  Bit 0 selects the decoder: 0 memory, 1 I/O.
 * The low bits are read-only type bits; the base address bits above the
 * BAR's size are what the guest programs.
 */
typedef union {
    uint32_t raw;
    union {
        struct {
            unsigned int region_type : 1;  /* 0: memory space */
            unsigned int locatable : 2;    /* 0: 32-bit, 2: 64-bit */
            unsigned int prefetchable : 1;
            unsigned int base_address : 28;
        } __attribute__((packed)) mem;
        struct {
            unsigned int region_type : 1;  /* 1: I/O space */
            unsigned int reserved : 1;
            unsigned int base_address : 30;
        } __attribute__((packed)) io;
    } __attribute__((packed));
} __attribute__((packed)) vfu_bar_t;
_Static_assert(sizeof(vfu_bar_t) == 4, "vfu_bar_t size");

/* Header type (0x0e): bit 7 is multi-function, bits 6:0 the layout. */
typedef union {
    uint8_t raw;
} __attribute__((packed)) vfu_pci_hdr_htype_t;
_Static_assert(sizeof(vfu_pci_hdr_htype_t) == 1, "vfu_pci_hdr_htype_t size");

/* Class code (0x09..0x0b), lowest byte first. */
typedef union {
    uint8_t raw[3];
    struct {
        uint8_t pi;  /* programming interface */
        uint8_t scc; /* sub class */
        uint8_t bcc; /* base class */
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_cc_t;
_Static_assert(sizeof(vfu_pci_hdr_cc_t) == 3, "vfu_pci_hdr_cc_t size");

/* Status register (0x06).  The error bits are write-one-to-clear. */
typedef union {
    uint16_t raw;
    struct {
        unsigned int res1 : 3;
        unsigned int is : 1;   /* INTx asserted */
        unsigned int cl : 1;   /* capabilities list present */
        unsigned int c66 : 1;  /* 66 MHz capable */
        unsigned int res2 : 1;
        unsigned int fbc : 1;  /* fast back-to-back capable */
        unsigned int dpd : 1;  /* master data parity error */
        unsigned int devt : 2; /* DEVSEL timing */
        unsigned int sta : 1;  /* signaled target abort */
        unsigned int rta : 1;  /* received target abort */
        unsigned int rma : 1;  /* received master abort */
        unsigned int sse : 1;  /* signaled system error */
        unsigned int dpe : 1;  /* detected parity error */
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_sts_t;
_Static_assert(sizeof(vfu_pci_hdr_sts_t) == 2, "vfu_pci_hdr_sts_t size");

/* Command register (0x04). */
typedef union {
    uint16_t raw;
    struct {
        uint8_t iose : 1; /* I/O space enable */
        uint8_t mse : 1;  /* memory space enable */
        uint8_t bme : 1;  /* bus master enable */
        uint8_t sce : 1;  /* special cycles */
        uint8_t mwie : 1; /* memory write and invalidate */
        uint8_t vga : 1;  /* VGA palette snoop */
        uint8_t pee : 1;  /* parity error response */
        uint8_t zero : 1;
        uint8_t see : 1;  /* SERR# enable */
        uint8_t fbe : 1;  /* fast back-to-back enable */
        uint8_t id : 1;   /* INTx disable */
        uint8_t res1 : 5;
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_cmd_t;
_Static_assert(sizeof(vfu_pci_hdr_cmd_t) == 2, "vfu_pci_hdr_cmd_t size");

/* Vendor and device IDs (0x00). */
typedef union {
    uint32_t raw;
    struct {
        uint16_t vid;
        uint16_t did;
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_id_t;
_Static_assert(sizeof(vfu_pci_hdr_id_t) == 4, "vfu_pci_hdr_id_t size");

/* Interrupt line (0x3c, scratch for the guest) and pin (0x3d, 1 = INTA). */
typedef union {
    uint16_t raw;
    struct {
        uint8_t iline;
        uint8_t ipin;
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_intr_t;
_Static_assert(sizeof(vfu_pci_hdr_intr_t) == 2, "vfu_pci_hdr_intr_t size");

/* The 64-byte type 0 header. */
typedef union {
    uint8_t raw[PCI_STD_HEADER_SIZEOF];
    struct {
        vfu_pci_hdr_id_t id;         /* 0x00 */
        vfu_pci_hdr_cmd_t cmd;       /* 0x04 */
        vfu_pci_hdr_sts_t sts;       /* 0x06 */
        uint8_t rid;                 /* 0x08 revision */
        vfu_pci_hdr_cc_t cc;         /* 0x09 */
        uint8_t cls;                 /* 0x0c cache line size */
        uint8_t mlt;                 /* 0x0d latency timer */
        vfu_pci_hdr_htype_t htype;   /* 0x0e */
        vfu_pci_hdr_bist_t bist;     /* 0x0f */
#define PCI_BARS_NR 6
        vfu_bar_t bars[PCI_BARS_NR]; /* 0x10 */
        uint32_t ccptr;              /* 0x28 CardBus CIS pointer */
        vfu_pci_hdr_ss_t ss;         /* 0x2c */
        uint32_t erom;               /* 0x30 expansion ROM BAR */
        uint8_t cap;                 /* 0x34 first capability */
        uint8_t res1[7];
        vfu_pci_hdr_intr_t intr;     /* 0x3c */
        uint8_t mgnt;                /* 0x3e min grant */
        uint8_t mlat;                /* 0x3f max latency */
    } __attribute__((packed));
} __attribute__((packed)) vfu_pci_hdr_t;
_Static_assert(sizeof(vfu_pci_hdr_t) == PCI_STD_HEADER_SIZEOF,
               "vfu_pci_hdr_t size");
_Static_assert(offsetof(vfu_pci_hdr_t, cmd) == PCI_COMMAND, "cmd offset");
_Static_assert(offsetof(vfu_pci_hdr_t, sts) == PCI_STATUS, "sts offset");
_Static_assert(offsetof(vfu_pci_hdr_t, rid) == PCI_REVISION_ID, "rid offset");
_Static_assert(offsetof(vfu_pci_hdr_t, cc) == PCI_CLASS_PROG, "cc offset");
_Static_assert(offsetof(vfu_pci_hdr_t, htype) == PCI_HEADER_TYPE,
               "htype offset");
_Static_assert(offsetof(vfu_pci_hdr_t, bars) == PCI_BASE_ADDRESS_0,
               "bars offset");
_Static_assert(offsetof(vfu_pci_hdr_t, ss) == PCI_SUBSYSTEM_VENDOR_ID,
               "ss offset");
_Static_assert(offsetof(vfu_pci_hdr_t, erom) == PCI_ROM_ADDRESS,
               "erom offset");
_Static_assert(offsetof(vfu_pci_hdr_t, cap) == PCI_CAPABILITY_LIST,
               "cap offset");
_Static_assert(offsetof(vfu_pci_hdr_t, intr) == PCI_INTERRUPT_LINE,
               "intr offset");
_Static_assert(offsetof(vfu_pci_hdr_t, mlat) == PCI_MAX_LAT, "mlat offset");

/*
 * Configuration space: the first 256 bytes, followed by the extended part
 * (another 3840 bytes) when the device has a 4 KiB config space.  Only the
 * library allocates it; get it with vfu_pci_get_config_space().
 */
typedef struct {
    union {
        uint8_t raw[PCI_CFG_SPACE_SIZE];
        vfu_pci_hdr_t hdr;
    } __attribute__((packed));
    uint8_t extended[];
} __attribute__((packed)) vfu_pci_config_space_t;
_Static_assert(sizeof(vfu_pci_config_space_t) == PCI_CFG_SPACE_SIZE,
               "vfu_pci_config_space_t size");

#ifdef __cplusplus
}
#endif

#endif /* VFU_PCI_DEFS_H */
