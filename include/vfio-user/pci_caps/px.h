/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * px.h - PCI Express capability (PCI_CAP_ID_EXP).
 *
 * Registers the library does not interpret are plain "stuff" fields of the
 * right width; the device fills them in as it needs.
 */
#ifndef VFU_PCI_CAPS_PX_H
#define VFU_PCI_CAPS_PX_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PCI Express capabilities register. */
struct pxcaps {
    uint16_t ver : 4;  /* capability version (2 today) */
    uint16_t dpt : 4;  /* device/port type, PCI_EXP_TYPE_* */
    uint16_t si : 1;   /* slot implemented */
    uint16_t imn : 5;  /* interrupt message number */
    uint16_t res1 : 2;
} __attribute__((packed));
_Static_assert(sizeof(struct pxcaps) == 2, "struct pxcaps size");

/* Device capabilities. */
struct pxdcap {
    uint32_t mps : 3;   /* max payload size supported */
    uint32_t pfs : 2;   /* phantom functions */
    uint32_t etfs : 1;  /* extended tag field */
    uint32_t l0sl : 3;  /* acceptable L0s latency */
    uint32_t l1l : 3;   /* acceptable L1 latency */
    uint32_t res1 : 3;
    uint32_t rer : 1;   /* role-based error reporting */
    uint32_t res2 : 2;
    uint32_t csplv : 8; /* captured slot power limit value */
    uint32_t cspls : 2; /* ... and scale */
    uint32_t flrc : 1;  /* function level reset capable */
    uint32_t res3 : 3;
} __attribute__((packed));
_Static_assert(sizeof(struct pxdcap) == 4, "struct pxdcap size");

/* Device control; writing iflr starts a function level reset. */
union pxdc {
    uint16_t raw;
    struct {
        uint16_t cere : 1;  /* correctable error reporting */
        uint16_t nfere : 1; /* non-fatal error reporting */
        uint16_t fere : 1;  /* fatal error reporting */
        uint16_t urre : 1;  /* unsupported request reporting */
        uint16_t ero : 1;   /* relaxed ordering */
        uint16_t mps : 3;   /* max payload size */
        uint16_t ete : 1;   /* extended tags */
        uint16_t pfe : 1;   /* phantom functions */
        uint16_t appme : 1; /* aux power PM */
        uint16_t ens : 1;   /* no snoop */
        uint16_t mrrs : 3;  /* max read request size */
        uint16_t iflr : 1;  /* initiate FLR */
    } __attribute__((packed));
} __attribute__((packed));
_Static_assert(sizeof(union pxdc) == 2, "union pxdc size");

/* Device status. */
struct pxds {
    uint16_t stuff : 16;
} __attribute__((packed));
_Static_assert(sizeof(struct pxds) == 2, "struct pxds size");

/* Link capabilities. */
struct pxlcap {
    uint32_t stuff : 32;
} __attribute__((packed));
_Static_assert(sizeof(struct pxlcap) == 4, "struct pxlcap size");

/* Link control. */
union pxlc {
    uint16_t raw;
    struct {
        uint16_t aspmc : 2;     /* active state power management */
        uint16_t rsvdp1 : 1;
        uint16_t rcb : 1;       /* read completion boundary */
        uint16_t ld : 1;        /* link disable */
        uint16_t rl : 1;        /* retrain link */
        uint16_t ccc : 1;       /* common clock configuration */
        uint16_t es : 1;        /* extended synch */
        uint16_t clkreq_en : 1; /* clock power management */
        uint16_t hawd : 1;      /* autonomous width disable */
        uint16_t lbmie : 1;     /* bandwidth management interrupt */
        uint16_t labie : 1;     /* autonomous bandwidth interrupt */
        uint16_t rsvdp2 : 4;
    };
} __attribute__((packed));
_Static_assert(sizeof(union pxlc) == 2, "union pxlc size");

/* Link status. */
struct pxls {
    uint16_t stuff : 16;
} __attribute__((packed));
_Static_assert(sizeof(struct pxls) == 2, "struct pxls size");

/* Slot capabilities. */
struct pxscap {
    uint32_t stuff : 32;
} __attribute__((packed));
_Static_assert(sizeof(struct pxscap) == 4, "struct pxscap size");

/* Slot control. */
struct pxsc {
    uint16_t stuff : 16;
} __attribute__((packed));
_Static_assert(sizeof(struct pxsc) == 2, "struct pxsc size");

/* Slot status. */
struct pxss {
    uint16_t stuff : 16;
} __attribute__((packed));
_Static_assert(sizeof(struct pxss) == 2, "struct pxss size");

/* Root control. */
struct pxrc {
    uint16_t stuff : 16;
} __attribute__((packed));
_Static_assert(sizeof(struct pxrc) == 2, "struct pxrc size");

/* Root capabilities. */
struct pxrcap {
    uint16_t stuff : 16;
} __attribute__((packed));
_Static_assert(sizeof(struct pxrcap) == 2, "struct pxrcap size");

/* Root status. */
struct pxrs {
    uint32_t stuff : 32;
} __attribute__((packed));
_Static_assert(sizeof(struct pxrs) == 4, "struct pxrs size");

/*
 * Device capabilities 2.  The fields gather several revisions of the
 * PCI Express spec (ln, for one, is undefined in recent ones).
 */
struct pxdcap2 {
    uint32_t ctrs : 4;   /* completion timeout ranges */
    uint32_t ctds : 1;   /* completion timeout disable */
    uint32_t arifs : 1;  /* ARI forwarding */
    uint32_t aors : 1;   /* AtomicOp routing */
    uint32_t aocs32 : 1; /* 32-bit AtomicOp completer */
    uint32_t aocs64 : 1; /* 64-bit AtomicOp completer */
    uint32_t ccs128 : 1; /* 128-bit CAS completer */
    uint32_t nprpr : 1;  /* no RO-enabled PR-PR passing */
    uint32_t ltrs : 1;   /* latency tolerance reporting */
    uint32_t tphcs : 2;  /* TPH completer */
    uint32_t ln : 2;     /* LN system CLS */
    uint32_t tcs : 1;    /* 10-bit tag completer */
    uint32_t trs : 1;    /* 10-bit tag requester */
    uint32_t obffs : 2;  /* OBFF */
    uint32_t effs : 1;   /* extended fmt field */
    uint32_t eetps : 1;  /* end-end TLP prefix */
    uint32_t meetp : 2;  /* max end-end TLP prefixes */
    uint32_t eprs : 2;   /* emergency power reduction */
    uint32_t eprir : 1;  /* ... initialization required */
    uint32_t res1 : 1;
    uint32_t dmwcs : 1;  /* DMWr completer */
    uint32_t dmwls : 2;  /* DMWr lengths */
    uint32_t frss : 1;   /* FRS */
} __attribute__((packed));
_Static_assert(sizeof(struct pxdcap2) == 4, "struct pxdcap2 size");

/* Device control 2. */
union pxdc2 {
    uint16_t raw;
    struct {
        uint32_t comp_timeout : 4;
        uint32_t comp_timout_dis : 1; /* sic: the name devices use */
        uint32_t ari : 1;
        uint32_t atomic_req : 1;
        uint32_t atomic_egress_block : 1;
        uint32_t ido_req_en : 1;
        uint32_t ido_cmp_en : 1;
        uint32_t ltr_en : 1;
        uint32_t obff_en : 2;
        uint32_t end_end_tlp_prefix_block : 1;
    } __attribute__((packed));
} __attribute__((packed));
_Static_assert(sizeof(union pxdc2) == 2, "union pxdc2 size");

/* Device status 2. */
struct pxds2 {
    uint16_t stuff : 16;
} __attribute__((packed));
_Static_assert(sizeof(struct pxds2) == 2, "struct pxds2 size");

/* Link capabilities 2. */
struct pxlcap2 {
    uint32_t stuff : 32;
} __attribute__((packed));
_Static_assert(sizeof(struct pxlcap2) == 4, "struct pxlcap2 size");

/* Link control 2. */
struct pxlc2 {
    uint16_t stuff : 16;
} __attribute__((packed));
_Static_assert(sizeof(struct pxlc2) == 2, "struct pxlc2 size");

/* Link status 2. */
struct pxls2 {
    uint16_t stuff : 16;
} __attribute__((packed));
_Static_assert(sizeof(struct pxls2) == 2, "struct pxls2 size");

/* Slot capabilities 2. */
struct pxscap2 {
    uint32_t stuff : 32;
} __attribute__((packed));
_Static_assert(sizeof(struct pxscap2) == 4, "struct pxscap2 size");

/* Slot control 2. */
struct pxsc2 {
    uint16_t stuff : 16;
} __attribute__((packed));
_Static_assert(sizeof(struct pxsc2) == 2, "struct pxsc2 size");

/* Slot status 2. */
struct pxss2 {
    uint16_t stuff : 16;
} __attribute__((packed));
_Static_assert(sizeof(struct pxss2) == 2, "struct pxss2 size");

/*
 * Size of a version 2 PCI Express capability with every register present
 * (up to and including slot status 2).  Do not use the kernel's
 * PCI_CAP_EXP_ENDPOINT_SIZEOF_V2: older kernels gave it a different value.
 */
#define VFIO_USER_PCI_CAP_EXP_SIZEOF (0x3c)

/*
 * The whole capability.  Which registers mean something depends on the
 * device/port type; endpoints simply leave the root and slot ones zero.
 */
struct pxcap {
    struct cap_hdr hdr;
    struct pxcaps pxcaps;   /* 0x02 */
    struct pxdcap pxdcap;   /* 0x04 */
    union pxdc pxdc;        /* 0x08 */
    struct pxds pxds;       /* 0x0a */
    struct pxlcap pxlcap;   /* 0x0c */
    union pxlc pxlc;        /* 0x10 */
    struct pxls pxls;       /* 0x12 */
    struct pxscap pxscap;   /* 0x14 */
    struct pxsc pxsc;       /* 0x18 */
    struct pxss pxss;       /* 0x1a */
    struct pxrc pxrc;       /* 0x1c */
    struct pxrcap pxrcap;   /* 0x1e */
    struct pxrs pxrs;       /* 0x20 */
    struct pxdcap2 pxdcap2; /* 0x24 */
    union pxdc2 pxdc2;      /* 0x28 */
    struct pxds2 pxds2;     /* 0x2a */
    struct pxlcap2 pxlcap2; /* 0x2c */
    struct pxlc2 pxlc2;     /* 0x30 */
    struct pxls2 pxls2;     /* 0x32 */
    struct pxscap2 pxscap2; /* 0x34 */
    struct pxsc2 pxsc2;     /* 0x38 */
    struct pxss2 pxss2;     /* 0x3a */
} __attribute__((packed));
_Static_assert(sizeof(struct pxcap) == VFIO_USER_PCI_CAP_EXP_SIZEOF,
               "struct pxcap size");
_Static_assert(offsetof(struct pxcap, pxdc) == PCI_EXP_DEVCTL,
               "pxdc offset");
_Static_assert(offsetof(struct pxcap, pxlc) == PCI_EXP_LNKCTL,
               "pxlc offset");
_Static_assert(offsetof(struct pxcap, pxrc) == PCI_EXP_RTCTL, "pxrc offset");
_Static_assert(offsetof(struct pxcap, pxdcap2) == PCI_EXP_DEVCAP2,
               "pxdcap2 offset");
_Static_assert(offsetof(struct pxcap, pxdc2) == PCI_EXP_DEVCTL2,
               "pxdc2 offset");
_Static_assert(offsetof(struct pxcap, pxss2) == PCI_EXP_SLTSTA2,
               "pxss2 offset");

#ifdef __cplusplus
}
#endif

#endif /* VFU_PCI_CAPS_PX_H */
