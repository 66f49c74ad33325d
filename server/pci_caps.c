/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pci_caps.c - PCI and PCI Express capability lists: adding and finding
 * capabilities, and emulating client accesses to them.
 *
 * Reads of a capability come from the config space buffer.  Writes:
 *   - VFU_CAP_FLAG_READONLY capabilities refuse them (EPERM);
 *   - VFU_CAP_FLAG_CALLBACK capabilities pass reads and writes to the config
 *     region's callback;
 *   - the capability header (ID and next pointer, plus the length of a
 *     vendor-specific one) is never writable (EPERM);
 *   - otherwise each kind keeps to its writable fields: PM control/status,
 *     MSI and MSI-X control and message registers, PCI Express control and
 *     status registers (FLR calls the reset callback); vendor-specific
 *     bodies take anything; the serial number is read-only.
 *
 * Differences from libvfio-user, on purpose:
 *   - an MSI capability takes 24 bytes of config space whatever its
 *     layout, as in libvfio-user (so placement matches), but only the
 *     layout's own bytes (10, 14, 20 or 24, after 64-bit addressing and
 *     per-vector masking) are read from the device and writable;
 *   - automatic placement goes after the capability that ends highest, so
 *     it never overlaps one placed explicitly;
 *   - standard capabilities stay in the first 256 bytes (an 8-bit next
 *     pointer cannot reach further) and must be dword aligned;
 *   - a capability may end exactly at the end of its space.
 */
#include <errno.h>
#include <string.h>

#include "server/pci.h"

#define CAP_ALIGN 4
#define EXT_HDR_NEXT_SHIFT 20
#define EXT_HDR_KEEP 0x000fffffu /* ID and version, without next */

#define MSI_SIZE_32 0x0a
#define MSI_SIZE_64 0x0e
#define MSI_SIZE_32_PVM 0x14
#define MSI_SIZE_64_PVM VFIO_USER_PCI_CAP_MSI_SIZEOF

static size_t
round_up4(size_t v)
{
    return (v + CAP_ALIGN - 1) & ~(size_t)(CAP_ALIGN - 1);
}

static uint8_t *
cap_ptr(vfu_ctx_t *ctx, const struct pci_cap *cap)
{
    return pci_cfg_bytes(ctx->pci) + cap->off;
}

/* ------------------------------------------------------------------ */
/* Register-level writes (PM, PCI Express)                             */
/* ------------------------------------------------------------------ */

enum reg_kind {
    REG_RO,      /* read-only: the write is refused */
    REG_PMCS,    /* PM control/status */
    REG_DEVCTL,  /* PCIe device control, FLR */
    REG_LNKCTL,  /* PCIe link control, retrain reads 0 */
    REG_CTRL,    /* plain read/write */
    REG_STATUS,  /* write one to clear */
    REG_IGNORED, /* reserved: accepted and discarded */
};

struct cap_reg {
    uint8_t off;
    uint8_t size;
    uint8_t kind;
};

static const struct cap_reg pm_regs[] = {
    { PCI_PM_PMC, 2, REG_RO },
    { PCI_PM_CTRL, 2, REG_PMCS },
    { PCI_PM_PPB_EXTENSIONS, 1, REG_RO },
    { PCI_PM_DATA_REGISTER, 1, REG_RO },
};

static const struct cap_reg px_regs[] = {
    { PCI_EXP_FLAGS, 2, REG_RO },
    { PCI_EXP_DEVCAP, 4, REG_RO },
    { PCI_EXP_DEVCTL, 2, REG_DEVCTL },
    { PCI_EXP_DEVSTA, 2, REG_STATUS },
    { PCI_EXP_LNKCAP, 4, REG_RO },
    { PCI_EXP_LNKCTL, 2, REG_LNKCTL },
    { PCI_EXP_LNKSTA, 2, REG_STATUS },
    { PCI_EXP_SLTCAP, 4, REG_RO },
    { PCI_EXP_SLTCTL, 2, REG_CTRL },
    { PCI_EXP_SLTSTA, 2, REG_STATUS },
    { PCI_EXP_RTCTL, 2, REG_CTRL },
    { PCI_EXP_RTCAP, 2, REG_RO },
    { PCI_EXP_RTSTA, 4, REG_STATUS },
    { PCI_EXP_DEVCAP2, 4, REG_RO },
    { PCI_EXP_DEVCTL2, 2, REG_CTRL },
    { PCI_EXP_DEVSTA2, 2, REG_STATUS },
    { PCI_EXP_LNKCAP2, 4, REG_RO },
    { PCI_EXP_LNKCTL2, 2, REG_CTRL },
    { PCI_EXP_LNKSTA2, 2, REG_STATUS },
    { PCI_EXP_SLTCAP2, 4, REG_RO },
    { PCI_EXP_SLTCTL2, 2, REG_IGNORED },
    { PCI_EXP_SLTSTA2, 2, REG_STATUS },
};

#define NREGS(a) (sizeof(a) / sizeof((a)[0]))

#define PMCS_WRITABLE                                                          \
    (PCI_PM_CTRL_STATE_MASK | PCI_PM_CTRL_PME_ENABLE |                        \
     PCI_PM_CTRL_DATA_SEL_MASK)

static uint32_t
reg_value(const struct cap_reg *r, const char *buf, size_t rel)
{
    const uint8_t *p = (const uint8_t *)buf + (r->off - rel);

    return r->size == 4 ? pci_get32(p) : r->size == 2 ? pci_get16(p) : p[0];
}

/*
 * As libvfio-user, a write must cover whole registers (EINVAL otherwise)
 * and may not touch read-only ones (@ro_err).  Nothing is changed unless
 * the whole write is acceptable.
 */
static int
regs_check(vfu_ctx_t *ctx, const struct pci_cap *cap,
           const struct cap_reg *regs, size_t nregs, const char *buf,
           size_t count, size_t rel, int ro_err)
{
    size_t end = rel + count;
    size_t covered = 0;
    size_t i;

    for (i = 0; i < nregs; i++) {
        const struct cap_reg *r = &regs[i];
        size_t r_end = (size_t)r->off + r->size;

        if (r_end <= rel || r->off >= end) {
            continue;
        }
        if (r->off < rel || r_end > end) {
            vfu_log(ctx, LOG_ERR, "%s: partial write of register %#x",
                    cap->name, r->off);
            return -EINVAL;
        }
        covered += r->size;
    }
    if (covered != count) {
        return -EINVAL; /* bytes past the last register */
    }
    for (i = 0; i < nregs; i++) {
        const struct cap_reg *r = &regs[i];

        if ((size_t)r->off + r->size <= rel || r->off >= end) {
            continue;
        }
        if (r->kind == REG_RO) {
            vfu_log(ctx, LOG_ERR, "%s: register %#x is read-only", cap->name,
                    r->off);
            return ro_err;
        }
        if (r->kind == REG_DEVCTL &&
            (reg_value(r, buf, rel) & PCI_EXP_DEVCTL_BCR_FLR) &&
            !(pci_get32(cap_ptr(ctx, cap) + PCI_EXP_DEVCAP) &
              PCI_EXP_DEVCAP_FLR)) {
            vfu_log(ctx, LOG_ERR, "FLR requested but not advertised");
            return -EINVAL;
        }
    }
    return 0;
}

/* Apply a checked write; returns true if it asked for an FLR. */
static bool
regs_apply(vfu_ctx_t *ctx, const struct pci_cap *cap,
           const struct cap_reg *regs, size_t nregs, const char *buf,
           size_t count, size_t rel)
{
    uint8_t *base = cap_ptr(ctx, cap);
    size_t end = rel + count;
    bool flr = false;
    size_t i;

    for (i = 0; i < nregs; i++) {
        const struct cap_reg *r = &regs[i];
        uint8_t *p = base + r->off;
        uint32_t v, old;

        if ((size_t)r->off + r->size <= rel || r->off >= end ||
            r->kind == REG_RO || r->kind == REG_IGNORED) {
            continue;
        }
        v = reg_value(r, buf, rel);
        old = r->size == 4 ? pci_get32(p) : pci_get16(p);
        switch (r->kind) {
        case REG_PMCS:
            /* PME status is write-one-to-clear, the rest as masked */
            v = (old & ~PMCS_WRITABLE & ~(v & PCI_PM_CTRL_PME_STATUS)) |
                (v & PMCS_WRITABLE);
            if ((old ^ v) & PCI_PM_CTRL_STATE_MASK) {
                vfu_log(ctx, LOG_DEBUG, "power state D%u",
                        v & PCI_PM_CTRL_STATE_MASK);
            }
            break;
        case REG_DEVCTL:
            flr = (v & PCI_EXP_DEVCTL_BCR_FLR) != 0;
            v &= ~(uint32_t)PCI_EXP_DEVCTL_BCR_FLR; /* always reads 0 */
            break;
        case REG_LNKCTL:
            v &= ~(uint32_t)PCI_EXP_LNKCTL_RL; /* always reads 0 */
            break;
        case REG_CTRL:
            break;
        case REG_STATUS:
            v = old & ~v;
            break;
        default:
            continue;
        }
        if (r->size == 4) {
            pci_put32(p, v);
        } else {
            pci_put16(p, (uint16_t)v);
        }
        if (old != v) {
            vfu_log(ctx, LOG_DEBUG, "%s: register %#x %#x -> %#x", cap->name,
                    r->off, old, v);
        }
    }
    return flr;
}

static ssize_t
cap_write_pm(vfu_ctx_t *ctx, struct pci_cap *cap, const char *buf,
             size_t count, size_t rel)
{
    int ret;

    ret = regs_check(ctx, cap, pm_regs, NREGS(pm_regs), buf, count, rel,
                     -ENOTSUP);
    if (ret < 0) {
        return ret;
    }
    regs_apply(ctx, cap, pm_regs, NREGS(pm_regs), buf, count, rel);
    return (ssize_t)count;
}

static ssize_t
cap_write_px(vfu_ctx_t *ctx, struct pci_cap *cap, const char *buf,
             size_t count, size_t rel)
{
    int ret;

    ret = regs_check(ctx, cap, px_regs, NREGS(px_regs), buf, count, rel,
                     -EINVAL);
    if (ret < 0) {
        return ret;
    }
    if (!regs_apply(ctx, cap, px_regs, NREGS(px_regs), buf, count, rel)) {
        return (ssize_t)count;
    }

    if (ctx->reset == NULL) {
        vfu_log(ctx, LOG_WARNING, "FLR requested, no reset callback");
        return (ssize_t)count;
    }
    vfu_log(ctx, LOG_DEBUG, "function level reset");
    errno = 0;
    if (ctx->reset(ctx, VFU_RESET_PCI_FLR) < 0) {
        ret = errno > 0 ? errno : EIO;
        vfu_log(ctx, LOG_ERR, "FLR reset callback failed: %s", strerror(ret));
        return -ret;
    }
    return (ssize_t)count;
}

/* ------------------------------------------------------------------ */
/* Field-level writes (MSI, MSI-X, vendor, DSN)                        */
/* ------------------------------------------------------------------ */

/*
 * MSI and MSI-X writes may start anywhere in the body (QEMU has been seen
 * writing two bytes at message control + 1): lay the write over a copy of
 * the capability and take the writable fields from it.
 */
static ssize_t
cap_write_msi(vfu_ctx_t *ctx, struct pci_cap *cap, const char *buf,
              size_t count, size_t rel)
{
    uint8_t tmp[VFIO_USER_PCI_CAP_MSI_SIZEOF];
    uint8_t *p = cap_ptr(ctx, cap);
    uint16_t old, new, mmc, mme;
    size_t data_off, mask_off;
    bool c64, pvm;

    memcpy(tmp, p, cap->size);
    memcpy(tmp + rel, buf, count);

    old = pci_get16(p + PCI_MSI_FLAGS);
    new = pci_get16(tmp + PCI_MSI_FLAGS);
    mmc = (old & PCI_MSI_FLAGS_QMASK) >> 1;
    mme = (new & PCI_MSI_FLAGS_QSIZE) >> 4;
    if (mme != ((old & PCI_MSI_FLAGS_QSIZE) >> 4)) {
        if (mme > 5) {
            vfu_log(ctx, LOG_ERR, "MSI: more than 32 vectors enabled");
            return -EINVAL;
        }
        if (mme > mmc) {
            vfu_log(ctx, LOG_ERR, "MSI: %u vectors enabled, %u capable",
                    1u << mme, 1u << mmc);
            return -EINVAL;
        }
    }

    /*
     * The layout is the one the capability was added with: the device may
     * have changed the flag bits in its buffer since, the size is fixed.
     */
    c64 = cap->data_size == MSI_SIZE_64 || cap->data_size == MSI_SIZE_64_PVM;
    pvm = cap->data_size == MSI_SIZE_32_PVM ||
          cap->data_size == MSI_SIZE_64_PVM;
    if (c64) {
        data_off = PCI_MSI_DATA_64;
        mask_off = PCI_MSI_MASK_64;
        pci_put32(p + PCI_MSI_ADDRESS_HI, pci_get32(tmp + PCI_MSI_ADDRESS_HI));
    } else {
        data_off = PCI_MSI_DATA_32;
        mask_off = PCI_MSI_MASK_32;
    }
    new = (uint16_t)((old & ~(PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE)) |
                     (new & (PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE)));
    pci_put16(p + PCI_MSI_FLAGS, new);
    pci_put32(p + PCI_MSI_ADDRESS_LO,
              pci_get32(tmp + PCI_MSI_ADDRESS_LO) & ~3u);
    pci_put16(p + data_off, pci_get16(tmp + data_off));
    if (pvm) {
        pci_put32(p + mask_off, pci_get32(tmp + mask_off));
    }
    if ((old ^ new) & PCI_MSI_FLAGS_ENABLE) {
        vfu_log(ctx, LOG_DEBUG, "MSI %s",
                (new & PCI_MSI_FLAGS_ENABLE) ? "enabled" : "disabled");
    }
    return (ssize_t)count;
}

static ssize_t
cap_write_msix(vfu_ctx_t *ctx, struct pci_cap *cap, const char *buf,
               size_t count, size_t rel)
{
    const uint16_t rw = PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL;
    uint8_t tmp[PCI_CAP_MSIX_SIZEOF];
    uint8_t *p = cap_ptr(ctx, cap);
    uint16_t old, new;

    memcpy(tmp, p, cap->size);
    memcpy(tmp + rel, buf, count);
    old = pci_get16(p + PCI_MSIX_FLAGS);
    new = (uint16_t)((old & ~rw) | (pci_get16(tmp + PCI_MSIX_FLAGS) & rw));
    pci_put16(p + PCI_MSIX_FLAGS, new);
    if (old != new) {
        vfu_log(ctx, LOG_DEBUG, "MSI-X %s%s",
                (new & PCI_MSIX_FLAGS_ENABLE) ? "enabled" : "disabled",
                (new & PCI_MSIX_FLAGS_MASKALL) ? ", all masked" : "");
    }
    return (ssize_t)count;
}

static ssize_t
cap_write_vendor(vfu_ctx_t *ctx, struct pci_cap *cap, const char *buf,
                 size_t count, size_t rel)
{
    memcpy(cap_ptr(ctx, cap) + rel, buf, count);
    return (ssize_t)count;
}

static ssize_t
cap_write_dsn(vfu_ctx_t *ctx, struct pci_cap *cap, const char *buf,
              size_t count, size_t rel)
{
    (void)buf;
    vfu_log(ctx, LOG_ERR, "%s is read-only (write %#zx+%zu)", cap->name, rel,
            count);
    return -EPERM;
}

/* ------------------------------------------------------------------ */
/* Client accesses                                                     */
/* ------------------------------------------------------------------ */

size_t
pci_cap_segment(struct vfu_pci *pci, size_t off, size_t len,
                struct pci_cap **capp)
{
    size_t next = off + len;
    size_t i;

    for (i = 0; i < pci->nr_caps + pci->nr_ext_caps; i++) {
        struct pci_cap *cap = i < pci->nr_caps
                                  ? &pci->caps[i]
                                  : &pci->ext_caps[i - pci->nr_caps];

        if (off >= cap->off && off - cap->off < cap->size) {
            size_t left = cap->size - (off - cap->off);

            *capp = cap;
            return len < left ? len : left;
        }
        if (cap->off > off && cap->off < next) {
            next = cap->off;
        }
    }
    *capp = NULL;
    return next - off;
}

ssize_t
pci_cap_access(vfu_ctx_t *ctx, struct pci_cap *cap, char *buf, size_t count,
               size_t off, bool is_write)
{
    size_t rel = off - cap->off;

    if (is_write && (cap->flags & VFU_CAP_FLAG_READONLY)) {
        vfu_log(ctx, LOG_ERR, "%s at %#zx is read-only", cap->name, cap->off);
        return -EPERM;
    }
    if (cap->flags & VFU_CAP_FLAG_CALLBACK) {
        return pci_forward_to_cb(ctx, buf, count, off, is_write);
    }
    if (!is_write) {
        memcpy(buf, cap_ptr(ctx, cap) + rel, count);
        return (ssize_t)count;
    }
    if (rel < cap->hdr_size) {
        vfu_log(ctx, LOG_ERR, "write to the header of %s at %#zx", cap->name,
                cap->off);
        return -EPERM;
    }
    return cap->write(ctx, cap, buf, count, rel);
}

bool
pci_write_needs_quiesce(vfu_ctx_t *ctx, uint64_t offset, size_t count)
{
    const struct pci_cap *cap = NULL;
    uint64_t reg, end;
    size_t i;

    if (ctx == NULL || ctx->pci == NULL || ctx->pci->exp_off == 0 ||
        (ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX].flags &
         VFU_REGION_FLAG_ALWAYS_CB) ||
        __builtin_add_overflow(offset, (uint64_t)count, &end)) {
        return false;
    }
    for (i = 0; i < ctx->pci->nr_caps; i++) {
        if (ctx->pci->caps[i].off == ctx->pci->exp_off) {
            cap = &ctx->pci->caps[i];
        }
    }
    if (cap == NULL ||
        (cap->flags & (VFU_CAP_FLAG_READONLY | VFU_CAP_FLAG_CALLBACK))) {
        return false;
    }
    reg = ctx->pci->exp_off + PCI_EXP_DEVCTL;
    return offset < reg + 2 && end > reg;
}

/* ------------------------------------------------------------------ */
/* Adding capabilities                                                 */
/* ------------------------------------------------------------------ */

static size_t
msi_size(uint16_t flags)
{
    bool c64 = flags & PCI_MSI_FLAGS_64BIT;

    if (flags & PCI_MSI_FLAGS_MASKBIT) {
        return c64 ? MSI_SIZE_64_PVM : MSI_SIZE_32_PVM;
    }
    return c64 ? MSI_SIZE_64 : MSI_SIZE_32;
}

/* Fill in everything about @cap that follows from @data. */
static int
cap_describe(vfu_ctx_t *ctx, const uint8_t *data, bool extended,
             struct pci_cap *cap)
{
    cap->extended = extended;
    if (extended) {
        cap->id = pci_get16(data);
        cap->hdr_size = sizeof(struct pcie_ext_cap_hdr);
        switch (cap->id) {
        case PCI_EXT_CAP_ID_DSN:
            cap->name = "Device Serial Number";
            cap->size = PCI_EXT_CAP_DSN_SIZEOF;
            cap->write = cap_write_dsn;
            break;
        case PCI_EXT_CAP_ID_VNDR:
            cap->name = "Vendor-Specific (extended)";
            cap->hdr_size = sizeof(struct pcie_ext_cap_vsc_hdr);
            cap->size = pci_get32(data + 4) >> 20;
            cap->write = cap_write_vendor;
            break;
        default:
            vfu_log(ctx, LOG_ERR, "unsupported extended capability %#x",
                    cap->id);
            return -ENOTSUP;
        }
    } else {
        cap->id = data[PCI_CAP_LIST_ID];
        cap->hdr_size = sizeof(struct cap_hdr);
        switch (cap->id) {
        case PCI_CAP_ID_PM:
            cap->name = "Power Management";
            cap->size = PCI_PM_SIZEOF;
            cap->write = cap_write_pm;
            break;
        case PCI_CAP_ID_MSI:
            cap->name = "MSI";
            cap->data_size = msi_size(pci_get16(data + PCI_MSI_FLAGS));
            cap->size = VFIO_USER_PCI_CAP_MSI_SIZEOF;
            cap->write = cap_write_msi;
            break;
        case PCI_CAP_ID_MSIX:
            cap->name = "MSI-X";
            cap->size = PCI_CAP_MSIX_SIZEOF;
            cap->write = cap_write_msix;
            break;
        case PCI_CAP_ID_EXP:
            cap->name = "PCI Express";
            cap->size = VFIO_USER_PCI_CAP_EXP_SIZEOF;
            cap->write = cap_write_px;
            break;
        case PCI_CAP_ID_VNDR:
            cap->name = "Vendor-Specific";
            cap->hdr_size = sizeof(struct vsc);
            cap->size = data[PCI_CAP_FLAGS];
            cap->write = cap_write_vendor;
            break;
        default:
            vfu_log(ctx, LOG_ERR, "unsupported capability %#x", cap->id);
            return -ENOTSUP;
        }
    }
    if (cap->data_size == 0 || cap->data_size > cap->size) {
        cap->data_size = cap->size;
    }
    if (cap->size < cap->hdr_size) {
        vfu_log(ctx, LOG_ERR, "%s: length %zu shorter than its header",
                cap->name, cap->size);
        return -EINVAL;
    }
    return 0;
}

/*
 * Pick the offset of @cap in [@lo, @hi): @pos if given (checked), else
 * after the capability that ends highest.
 */
static int
cap_place(vfu_ctx_t *ctx, struct pci_cap *cap, size_t pos, size_t lo,
          size_t hi, const struct pci_cap *others, size_t nr_others)
{
    size_t i;

    if (pos != 0) {
        if (pos % CAP_ALIGN != 0 || pos < lo || pos > hi ||
            cap->size > hi - pos) {
            vfu_log(ctx, LOG_ERR, "%s: bad offset %#zx", cap->name, pos);
            return -EINVAL;
        }
        for (i = 0; i < nr_others; i++) {
            if (pos < others[i].off + others[i].size &&
                others[i].off < pos + cap->size) {
                vfu_log(ctx, LOG_ERR, "%s at %#zx overlaps %s at %#zx",
                        cap->name, pos, others[i].name, others[i].off);
                return -EINVAL;
            }
        }
    } else {
        pos = lo;
        for (i = 0; i < nr_others; i++) {
            size_t end = round_up4(others[i].off + others[i].size);

            if (end > pos) {
                pos = end;
            }
        }
        if (pos > hi || cap->size > hi - pos) {
            vfu_log(ctx, LOG_ERR, "%s: no room for %zu bytes", cap->name,
                    cap->size);
            return -ENOSPC;
        }
    }
    cap->off = pos;
    return 0;
}

static int
add_standard(vfu_ctx_t *ctx, struct pci_cap *cap, size_t pos,
             const void *data)
{
    struct vfu_pci *pci = ctx->pci;
    uint8_t *cfg = pci_cfg_bytes(pci);
    uint16_t sts;
    int ret;

    if (pci->nr_caps == PCI_MAX_CAPS) {
        return -ENOSPC;
    }
    ret = cap_place(ctx, cap, pos, PCI_STD_HEADER_SIZEOF, PCI_CFG_SPACE_SIZE,
                    pci->caps, pci->nr_caps);
    if (ret < 0) {
        return ret;
    }

    memset(cfg + cap->off, 0, cap->size);
    memcpy(cfg + cap->off, data, cap->data_size);
    cfg[cap->off + PCI_CAP_LIST_NEXT] = 0;
    /* Appended to the list, which need not be sorted by offset. */
    if (pci->nr_caps == 0) {
        cfg[PCI_CAPABILITY_LIST] = (uint8_t)cap->off;
    } else {
        cfg[pci->caps[pci->nr_caps - 1].off + PCI_CAP_LIST_NEXT] =
            (uint8_t)cap->off;
    }
    sts = pci_get16(cfg + PCI_STATUS);
    pci_put16(cfg + PCI_STATUS, sts | PCI_STATUS_CAP_LIST);

    if (cap->id == PCI_CAP_ID_EXP) {
        pci->exp_off = cap->off;
    }
    pci->caps[pci->nr_caps++] = *cap;
    return 0;
}

static int
add_extended(vfu_ctx_t *ctx, struct pci_cap *cap, size_t pos,
             const void *data)
{
    struct vfu_pci *pci = ctx->pci;
    uint8_t *cfg = pci_cfg_bytes(pci);
    int ret;

    if (pci->nr_ext_caps == PCI_MAX_CAPS) {
        return -ENOSPC;
    }
    /* The extended list starts at 0x100, so the first one goes there. */
    if (pci->nr_ext_caps == 0 && pos != 0 && pos != PCI_CFG_SPACE_SIZE) {
        vfu_log(ctx, LOG_ERR, "first extended capability must be at %#x",
                PCI_CFG_SPACE_SIZE);
        return -EINVAL;
    }
    ret = cap_place(ctx, cap, pos, PCI_CFG_SPACE_SIZE, pci->size,
                    pci->ext_caps, pci->nr_ext_caps);
    if (ret < 0) {
        return ret;
    }

    memcpy(cfg + cap->off, data, cap->size);
    pci_put32(cfg + cap->off, pci_get32(cfg + cap->off) & EXT_HDR_KEEP);
    if (pci->nr_ext_caps > 0) {
        uint8_t *prev = cfg + pci->ext_caps[pci->nr_ext_caps - 1].off;

        pci_put32(prev, (pci_get32(prev) & EXT_HDR_KEEP) |
                            ((uint32_t)cap->off << EXT_HDR_NEXT_SHIFT));
    }
    pci->ext_caps[pci->nr_ext_caps++] = *cap;
    return 0;
}

VFU_EXPORT ssize_t
vfu_pci_add_capability(vfu_ctx_t *vfu_ctx, size_t pos, int flags, void *data)
{
    const int known = VFU_CAP_FLAG_EXTENDED | VFU_CAP_FLAG_CALLBACK |
                      VFU_CAP_FLAG_READONLY;
    bool extended = flags & VFU_CAP_FLAG_EXTENDED;
    struct pci_cap cap = { 0 };
    int ret;

    if (vfu_ctx == NULL || data == NULL) {
        return vfu_err(-EINVAL);
    }
    if (vfu_ctx->pci == NULL) {
        vfu_log(vfu_ctx, LOG_ERR, "capability added before vfu_pci_init()");
        return vfu_err(-EINVAL);
    }
    if (flags & ~known) {
        vfu_log(vfu_ctx, LOG_ERR, "bad capability flags %#x", flags);
        return vfu_err(-EINVAL);
    }
    if ((flags & VFU_CAP_FLAG_CALLBACK) &&
        vfu_ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX].cb == NULL) {
        vfu_log(vfu_ctx, LOG_ERR,
                "VFU_CAP_FLAG_CALLBACK without a config region callback");
        return vfu_err(-EINVAL);
    }
    if (extended && vfu_ctx->pci->size < PCI_CFG_SPACE_EXP_SIZE) {
        vfu_log(vfu_ctx, LOG_ERR,
                "extended capability needs 4 KiB config space");
        return vfu_err(-EINVAL);
    }

    ret = cap_describe(vfu_ctx, data, extended, &cap);
    if (ret < 0) {
        return vfu_err(ret);
    }
    cap.flags = flags;

    ret = extended ? add_extended(vfu_ctx, &cap, pos, data)
                   : add_standard(vfu_ctx, &cap, pos, data);
    if (ret < 0) {
        return vfu_err(ret);
    }
    vfu_log(vfu_ctx, LOG_DEBUG, "added %s capability at %#zx, %zu bytes",
            cap.name, cap.off, cap.size);
    return (ssize_t)cap.off;
}

/* ------------------------------------------------------------------ */
/* Finding capabilities                                                */
/* ------------------------------------------------------------------ */

/*
 * Both finders walk the lists in config space (the device may have edited
 * them) with every pointer checked and a bound on the steps, so a corrupt
 * list ends the walk with EINVAL instead of a loop.  A @pos that is in
 * range but not on the list gives ENOENT, as with libvfio-user.
 */
static size_t
find_next_std(struct vfu_pci *pci, size_t pos, int cap_id)
{
    const uint8_t *cfg = pci_cfg_bytes(pci);
    bool passed = pos == 0;
    size_t cur, steps;

    if (pos != 0 && (pos < PCI_STD_HEADER_SIZEOF ||
                     pos + PCI_CAP_LIST_NEXT >= PCI_CFG_SPACE_SIZE)) {
        errno = EINVAL;
        return 0;
    }
    cur = cfg[PCI_CAPABILITY_LIST] & ~3u;
    for (steps = 0; cur != 0; steps++) {
        if (cur < PCI_STD_HEADER_SIZEOF ||
            cur + PCI_CAP_LIST_NEXT >= PCI_CFG_SPACE_SIZE ||
            steps >= PCI_CFG_SPACE_SIZE / CAP_ALIGN) {
            errno = EINVAL;
            return 0;
        }
        if (passed && cfg[cur + PCI_CAP_LIST_ID] == cap_id) {
            return cur;
        }
        if (cur == pos) {
            passed = true;
        }
        cur = cfg[cur + PCI_CAP_LIST_NEXT] & ~3u;
    }
    errno = ENOENT;
    return 0;
}

static size_t
find_next_ext(struct vfu_pci *pci, size_t pos, int cap_id)
{
    const uint8_t *cfg = pci_cfg_bytes(pci);
    bool passed = pos == 0;
    size_t cur, steps;

    if (pos != 0 && (pos < PCI_CFG_SPACE_SIZE || pos >= pci->size ||
                     pci->size - pos < sizeof(struct pcie_ext_cap_hdr))) {
        errno = EINVAL;
        return 0;
    }
    if (pci->size < PCI_CFG_SPACE_EXP_SIZE ||
        pci_get32(cfg + PCI_CFG_SPACE_SIZE) == 0) {
        errno = ENOENT; /* no extended space, or an empty list */
        return 0;
    }
    cur = PCI_CFG_SPACE_SIZE;
    for (steps = 0; cur != 0; steps++) {
        uint32_t hdr;

        if (cur < PCI_CFG_SPACE_SIZE ||
            cur + sizeof(struct pcie_ext_cap_hdr) > pci->size ||
            steps >= pci->size / CAP_ALIGN) {
            errno = EINVAL;
            return 0;
        }
        hdr = pci_get32(cfg + cur);
        if (passed && (hdr & 0xffff) == (uint32_t)cap_id) {
            return cur;
        }
        if (cur == pos) {
            passed = true;
        }
        cur = (hdr >> EXT_HDR_NEXT_SHIFT) & ~3u;
    }
    errno = ENOENT;
    return 0;
}

VFU_EXPORT size_t
vfu_pci_find_next_capability(vfu_ctx_t *vfu_ctx, bool extended, size_t pos,
                             int cap_id)
{
    if (vfu_ctx == NULL || vfu_ctx->pci == NULL) {
        errno = EINVAL;
        return 0;
    }
    return extended ? find_next_ext(vfu_ctx->pci, pos, cap_id)
                    : find_next_std(vfu_ctx->pci, pos, cap_id);
}

VFU_EXPORT size_t
vfu_pci_find_capability(vfu_ctx_t *vfu_ctx, bool extended, int cap_id)
{
    return vfu_pci_find_next_capability(vfu_ctx, extended, 0, cap_id);
}
