/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pci.c - PCI config space: setup API, type 0 header and BAR emulation, and
 * the dispatch of client config accesses to header, capabilities and the
 * device's callback.
 *
 * Where libvfio-user and the PCI spec disagree we follow the spec:
 *   - writes to read-only header registers and to config space that nobody
 *     emulates (no capability, no callback) are discarded, not refused;
 *   - status error bits are write-one-to-clear;
 *   - the upper half of a 64-bit BAR sizes correctly below 4 GiB;
 *   - the expansion ROM BAR sizes like any BAR, with its enable bit;
 *   - a BAR without a region reads as zero through config accesses.  The
 *     buffer itself keeps the I/O type bit on unused BARs, as libvfio-user
 *     sets it, so devices that print their own config space see the same
 *     bytes as with libvfio-user.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/pci.h"

/* ------------------------------------------------------------------ */
/* Setup API                                                           */
/* ------------------------------------------------------------------ */

static int
pci_alloc(vfu_ctx_t *ctx, vfu_pci_type_t type, size_t size)
{
    struct vfu_pci *pci;

    pci = calloc(1, sizeof(*pci));
    if (pci == NULL) {
        return -ENOMEM;
    }
    pci->cfg = calloc(1, size);
    if (pci->cfg == NULL) {
        free(pci);
        return -ENOMEM;
    }
    pci->type = type;
    pci->size = size;
    pci->cfg->hdr.htype.raw = PCI_HEADER_TYPE_NORMAL;
    ctx->pci = pci;
    return 0;
}

/*
 * The config region gets the config space's size unless the device already
 * described it with vfu_setup_region() (then its size, flags and callback
 * stand; accesses are bounded by the smaller of the two sizes).
 */
static void
pci_default_cfg_region(vfu_ctx_t *ctx, size_t size)
{
    vfu_region_t *reg = &ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX];

    if (reg->size == 0) {
        reg->size = size;
        reg->flags |= VFU_REGION_FLAG_RW;
    } else if (reg->size != size) {
        vfu_log(ctx, LOG_WARNING,
                "config region is %zu bytes, config space %zu: accesses "
                "are limited to the smaller",
                reg->size, size);
    }
}

VFU_EXPORT int
vfu_pci_init(vfu_ctx_t *vfu_ctx, vfu_pci_type_t pci_type, int hdr_type,
             int revision)
{
    size_t size;
    int ret;

    if (vfu_ctx == NULL) {
        return vfu_err(-EINVAL);
    }

    switch (pci_type) {
    case VFU_PCI_TYPE_CONVENTIONAL:
    case VFU_PCI_TYPE_PCI_X_1:
        size = PCI_CFG_SPACE_SIZE;
        break;
    case VFU_PCI_TYPE_PCI_X_2:
    case VFU_PCI_TYPE_EXPRESS:
        size = PCI_CFG_SPACE_EXP_SIZE;
        break;
    default:
        vfu_log(vfu_ctx, LOG_ERR, "bad PCI type %d", (int)pci_type);
        return vfu_err(-EINVAL);
    }

    /* Bridges (type 1) and CardBus (type 2) headers are not emulated. */
    if (hdr_type != PCI_HEADER_TYPE_NORMAL) {
        vfu_log(vfu_ctx, LOG_ERR, "unsupported PCI header type %d", hdr_type);
        return vfu_err(-EINVAL);
    }

    if (revision < 0 || revision > UINT8_MAX) {
        vfu_log(vfu_ctx, LOG_ERR, "bad revision %d", revision);
        return vfu_err(-EINVAL);
    }

    /* As libvfio-user: one config space per context, never replaced. */
    if (vfu_ctx->pci != NULL) {
        vfu_log(vfu_ctx, LOG_ERR, "PCI config space already set up");
        return vfu_err(-EEXIST);
    }

    ret = pci_alloc(vfu_ctx, pci_type, size);
    if (ret < 0) {
        return vfu_err(ret);
    }
    vfu_ctx->pci->cfg->hdr.rid = (uint8_t)revision;
    pci_default_cfg_region(vfu_ctx, size);
    return 0;
}

VFU_EXPORT void
vfu_pci_set_id(vfu_ctx_t *vfu_ctx, uint16_t vid, uint16_t did, uint16_t ssvid,
               uint16_t ssid)
{
    vfu_pci_hdr_t *hdr;

    if (vfu_ctx == NULL || vfu_ctx->pci == NULL) {
        vfu_log(vfu_ctx, LOG_ERR, "vfu_pci_set_id() before vfu_pci_init()");
        return;
    }
    hdr = &vfu_ctx->pci->cfg->hdr;
    hdr->id.vid = vid;
    hdr->id.did = did;
    hdr->ss.vid = ssvid;
    hdr->ss.sid = ssid;
}

VFU_EXPORT void
vfu_pci_set_class(vfu_ctx_t *vfu_ctx, uint8_t base, uint8_t sub, uint8_t pi)
{
    vfu_pci_hdr_t *hdr;

    if (vfu_ctx == NULL || vfu_ctx->pci == NULL) {
        vfu_log(vfu_ctx, LOG_ERR,
                "vfu_pci_set_class() before vfu_pci_init()");
        return;
    }
    hdr = &vfu_ctx->pci->cfg->hdr;
    hdr->cc.bcc = base;
    hdr->cc.scc = sub;
    hdr->cc.pi = pi;
}

VFU_EXPORT vfu_pci_config_space_t *
vfu_pci_get_config_space(vfu_ctx_t *vfu_ctx)
{
    if (vfu_ctx == NULL || vfu_ctx->pci == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return vfu_ctx->pci->cfg;
}

/* ------------------------------------------------------------------ */
/* BARs                                                                */
/* ------------------------------------------------------------------ */

static bool
bar_is_64(const vfu_ctx_t *ctx, int i)
{
    int flags = ctx->regions[i].flags;

    /* Only BAR0, 2 and 4 can start a pair; an I/O BAR cannot be 64-bit. */
    return i % 2 == 0 && i + 1 < PCI_BARS_NR &&
           (flags & VFU_REGION_FLAG_MEM) && (flags & VFU_REGION_FLAG_64_BITS);
}

/* The type bits a BAR carries in its low nibble. */
static uint32_t
bar_type_bits(const vfu_ctx_t *ctx, int i)
{
    int flags = ctx->regions[i].flags;
    uint32_t bits;

    if (!(flags & VFU_REGION_FLAG_MEM)) {
        return PCI_BASE_ADDRESS_SPACE_IO;
    }
    bits = PCI_BASE_ADDRESS_SPACE_MEMORY;
    if (bar_is_64(ctx, i)) {
        bits |= PCI_BASE_ADDRESS_MEM_TYPE_64;
    }
    if (flags & VFU_REGION_FLAG_PREFETCH) {
        bits |= PCI_BASE_ADDRESS_MEM_PREFETCH;
    }
    return bits;
}

/*
 * What BAR @i decodes: false if nothing (no region behind it).  Otherwise
 * *@addr_mask holds the bits the guest may program and *@type the fixed low
 * bits.  The upper half of a 64-bit pair takes the high 32 bits of the
 * pair's address mask, so a 1 MiB 64-bit BAR still reads back 0xffffffff
 * there after sizing, as hardware does.
 */
static bool
bar_decode(const vfu_ctx_t *ctx, int i, uint32_t *addr_mask, uint32_t *type)
{
    uint64_t size;
    uint64_t mask;

    if (i % 2 == 1 && bar_is_64(ctx, i - 1)) {
        size = ctx->regions[i - 1].size;
        if (size == 0) {
            return false;
        }
        *addr_mask = (uint32_t)(~(size - 1) >> 32);
        *type = 0;
        return true;
    }

    size = ctx->regions[i].size;
    if (size == 0) {
        return false;
    }
    mask = ~(size - 1);
    *type = bar_type_bits(ctx, i);
    if (*type & PCI_BASE_ADDRESS_SPACE_IO) {
        *addr_mask = (uint32_t)mask & (uint32_t)PCI_BASE_ADDRESS_IO_MASK;
    } else {
        *addr_mask = (uint32_t)mask & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;
    }
    return true;
}

static void
bar_write(vfu_ctx_t *ctx, int i, uint32_t v)
{
    uint8_t *reg = pci_cfg_bytes(ctx->pci) + PCI_BASE_ADDRESS_0 + 4 * i;
    uint32_t mask, type;

    if (!bar_decode(ctx, i, &mask, &type)) {
        vfu_log(ctx, LOG_DEBUG, "write %#x to unused BAR%d ignored", v, i);
        return;
    }
    pci_put32(reg, (v & mask) | type);
    vfu_log(ctx, LOG_DEBUG, "BAR%d = %#x", i, pci_get32(reg));
}

static void
rom_write(vfu_ctx_t *ctx, uint32_t v)
{
    uint64_t size = ctx->regions[VFU_PCI_DEV_ROM_REGION_IDX].size;
    uint32_t mask;

    if (size == 0) {
        vfu_log(ctx, LOG_DEBUG, "write %#x to absent ROM BAR ignored", v);
        return;
    }
    mask = (uint32_t)~(size - 1) & (uint32_t)PCI_ROM_ADDRESS_MASK;
    pci_put32(pci_cfg_bytes(ctx->pci) + PCI_ROM_ADDRESS,
              (v & mask) | (v & PCI_ROM_ADDRESS_ENABLE));
}

/* ------------------------------------------------------------------ */
/* Type 0 header                                                       */
/* ------------------------------------------------------------------ */

enum hdr_kind {
    HDR_RO,  /* writes discarded */
    HDR_RW,  /* plain byte register */
    HDR_CMD,
    HDR_STS,
    HDR_BAR,
    HDR_ROM,
};

struct hdr_reg {
    uint8_t off;
    uint8_t size;
    uint8_t kind;
};

static const struct hdr_reg hdr_regs[] = {
    { PCI_VENDOR_ID, 4, HDR_RO }, /* vendor and device IDs */
    { PCI_COMMAND, 2, HDR_CMD },
    { PCI_STATUS, 2, HDR_STS },
    { PCI_REVISION_ID, 1, HDR_RO },
    { PCI_CLASS_PROG, 3, HDR_RO },
    { PCI_CACHE_LINE_SIZE, 1, HDR_RW },
    { PCI_LATENCY_TIMER, 1, HDR_RW },
    { PCI_HEADER_TYPE, 1, HDR_RO },
    { PCI_BIST, 1, HDR_RO }, /* no self test */
    { PCI_BASE_ADDRESS_0, 4, HDR_BAR },
    { PCI_BASE_ADDRESS_1, 4, HDR_BAR },
    { PCI_BASE_ADDRESS_2, 4, HDR_BAR },
    { PCI_BASE_ADDRESS_3, 4, HDR_BAR },
    { PCI_BASE_ADDRESS_4, 4, HDR_BAR },
    { PCI_BASE_ADDRESS_5, 4, HDR_BAR },
    { PCI_CARDBUS_CIS, 4, HDR_RO },
    { PCI_SUBSYSTEM_VENDOR_ID, 4, HDR_RO },
    { PCI_ROM_ADDRESS, 4, HDR_ROM },
    { PCI_CAPABILITY_LIST, 8, HDR_RO }, /* and the reserved bytes */
    { PCI_INTERRUPT_LINE, 1, HDR_RW },
    { PCI_INTERRUPT_PIN, 1, HDR_RO },
    { PCI_MIN_GNT, 1, HDR_RO },
    { PCI_MAX_LAT, 1, HDR_RO },
};

#define CMD_WRITABLE                                                           \
    (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |               \
     PCI_COMMAND_INVALIDATE | PCI_COMMAND_PARITY | PCI_COMMAND_SERR |         \
     PCI_COMMAND_INTX_DISABLE)

#define STS_W1C                                                                \
    (PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |                        \
     PCI_STATUS_REC_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT |              \
     PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY)

static void
hdr_reg_write(vfu_ctx_t *ctx, const struct hdr_reg *r, uint32_t v)
{
    uint8_t *cfg = pci_cfg_bytes(ctx->pci);
    uint16_t old;

    switch (r->kind) {
    case HDR_RO:
        vfu_log(ctx, LOG_DEBUG, "write to read-only config %#x ignored",
                r->off);
        break;
    case HDR_RW:
        cfg[r->off] = (uint8_t)v;
        break;
    case HDR_CMD:
        old = pci_get16(cfg + PCI_COMMAND);
        pci_put16(cfg + PCI_COMMAND,
                  (uint16_t)((old & ~CMD_WRITABLE) | (v & CMD_WRITABLE)));
        if ((old ^ v) & CMD_WRITABLE) {
            vfu_log(ctx, LOG_DEBUG, "command %#x -> %#x", old,
                    pci_get16(cfg + PCI_COMMAND));
        }
        break;
    case HDR_STS:
        old = pci_get16(cfg + PCI_STATUS);
        pci_put16(cfg + PCI_STATUS, (uint16_t)(old & ~(v & STS_W1C)));
        break;
    case HDR_BAR:
        bar_write(ctx, (r->off - PCI_BASE_ADDRESS_0) / 4, v);
        break;
    case HDR_ROM:
        rom_write(ctx, v);
        break;
    }
}

/*
 * A write may cover several registers or only part of one (byte enables):
 * each register touched sees its current value with the written bytes laid
 * over it.
 */
static void
hdr_write(vfu_ctx_t *ctx, const char *buf, size_t count, size_t off)
{
    const uint8_t *cfg = pci_cfg_bytes(ctx->pci);
    size_t end = off + count;
    size_t i;

    for (i = 0; i < sizeof(hdr_regs) / sizeof(hdr_regs[0]); i++) {
        const struct hdr_reg *r = &hdr_regs[i];
        size_t r_end = (size_t)r->off + r->size;
        uint8_t bytes[8];
        size_t from, to;
        uint32_t v;

        if (r_end <= off || r->off >= end) {
            continue;
        }
        memcpy(bytes, cfg + r->off, r->size);
        from = off > r->off ? off : r->off;
        to = end < r_end ? end : r_end;
        memcpy(bytes + (from - r->off), buf + (from - off), to - from);
        switch (r->size) {
        case 1:
            v = bytes[0];
            break;
        case 2:
            v = pci_get16(bytes);
            break;
        default:
            v = pci_get32(bytes);
            break;
        }
        hdr_reg_write(ctx, r, v);
    }
}

/* Reads come from the buffer, except BARs with nothing behind them. */
static void
hdr_read(vfu_ctx_t *ctx, char *buf, size_t count, size_t off)
{
    size_t end = off + count;
    uint32_t mask, type;
    int i;

    memcpy(buf, pci_cfg_bytes(ctx->pci) + off, count);

    for (i = 0; i <= PCI_BARS_NR; i++) {
        size_t r_off, from, to;

        if (i < PCI_BARS_NR) {
            if (bar_decode(ctx, i, &mask, &type)) {
                continue;
            }
            r_off = PCI_BASE_ADDRESS_0 + 4 * (size_t)i;
        } else {
            if (ctx->regions[VFU_PCI_DEV_ROM_REGION_IDX].size != 0) {
                continue;
            }
            r_off = PCI_ROM_ADDRESS;
        }
        if (r_off + 4 <= off || r_off >= end) {
            continue;
        }
        from = off > r_off ? off : r_off;
        to = end < r_off + 4 ? end : r_off + 4;
        memset(buf + (from - off), 0, to - from);
    }
}

/* ------------------------------------------------------------------ */
/* Config accesses                                                     */
/* ------------------------------------------------------------------ */

ssize_t
pci_forward_to_cb(vfu_ctx_t *ctx, char *buf, size_t count, size_t offset,
                  bool is_write)
{
    vfu_region_access_cb_t *cb = ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX].cb;
    ssize_t ret;

    if (cb == NULL) {
        return -EINVAL;
    }
    errno = 0;
    ret = cb(ctx, buf, count, (loff_t)offset, is_write);
    if (ret < 0) {
        return errno > 0 ? -errno : -EIO;
    }
    /* A callback that makes no progress or claims too much is broken. */
    if (ret == 0 || (size_t)ret > count) {
        vfu_log(ctx, LOG_ERR,
                "config callback returned %zd for %zu bytes at %#zx", ret,
                count, offset);
        return -EIO;
    }
    return ret;
}

/* Config space nobody emulates: the device's callback, else the buffer. */
static ssize_t
gap_access(vfu_ctx_t *ctx, char *buf, size_t count, size_t off,
           bool is_write)
{
    if (ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX].cb != NULL) {
        return pci_forward_to_cb(ctx, buf, count, off, is_write);
    }
    if (is_write) {
        /* PCI: writes to reserved config registers complete as no-ops. */
        vfu_log(ctx, LOG_DEBUG,
                "write of %zu bytes at config %#zx discarded", count, off);
    } else {
        memcpy(buf, pci_cfg_bytes(ctx->pci) + off, count);
    }
    return (ssize_t)count;
}

ssize_t
pci_config_access(vfu_ctx_t *ctx, char *buf, size_t count, uint64_t offset,
                  bool is_write)
{
    const vfu_region_t *reg;
    struct vfu_pci *pci;
    uint64_t end;
    size_t limit, done;

    if (ctx == NULL || ctx->pci == NULL || (buf == NULL && count != 0)) {
        return -EINVAL;
    }
    pci = ctx->pci;
    reg = &ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX];

    limit = pci->size;
    if (reg->size != 0 && reg->size < limit) {
        limit = reg->size;
    }
    if (__builtin_add_overflow(offset, (uint64_t)count, &end) ||
        end > limit) {
        vfu_log(ctx, LOG_DEBUG, "config access %#llx+%zu beyond %zu bytes",
                (unsigned long long)offset, count, limit);
        return -EINVAL;
    }
    if (count == 0) {
        return 0;
    }

    if (reg->flags & VFU_REGION_FLAG_ALWAYS_CB) {
        return pci_forward_to_cb(ctx, buf, count, (size_t)offset, is_write);
    }

    done = 0;
    while (done < count) {
        size_t off = (size_t)offset + done;
        size_t len = count - done;
        struct pci_cap *cap;
        ssize_t ret;

        if (off < PCI_STD_HEADER_SIZEOF) {
            if (len > PCI_STD_HEADER_SIZEOF - off) {
                len = PCI_STD_HEADER_SIZEOF - off;
            }
            if (is_write) {
                hdr_write(ctx, buf + done, len, off);
            } else {
                hdr_read(ctx, buf + done, len, off);
            }
            ret = (ssize_t)len;
        } else {
            len = pci_cap_segment(pci, off, len, &cap);
            if (cap != NULL) {
                ret = pci_cap_access(ctx, cap, buf + done, len, off,
                                     is_write);
            } else {
                ret = gap_access(ctx, buf + done, len, off, is_write);
            }
        }
        if (ret < 0) {
            vfu_log(ctx, LOG_DEBUG, "config %s %#zx+%zu failed: %s",
                    is_write ? "write" : "read", off, len,
                    strerror((int)-ret));
            return ret;
        }
        done += (size_t)ret;
    }
    return (ssize_t)count;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

int
pci_realize(vfu_ctx_t *ctx)
{
    vfu_region_t *reg = &ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX];
    int i, ret;

    /*
     * No vfu_pci_init(): a zeroed conventional header as libvfio-user
     * gives, or 4 KiB if the device made the config region that big.
     */
    if (ctx->pci == NULL) {
        size_t size = reg->size != 0 ? reg->size : PCI_CFG_SPACE_SIZE;

        if (size != PCI_CFG_SPACE_SIZE && size != PCI_CFG_SPACE_EXP_SIZE) {
            vfu_log(ctx, LOG_ERR, "config region of %zu bytes", size);
            return -EINVAL;
        }
        ret = pci_alloc(ctx, size == PCI_CFG_SPACE_SIZE
                                 ? VFU_PCI_TYPE_CONVENTIONAL
                                 : VFU_PCI_TYPE_EXPRESS,
                        size);
        if (ret < 0) {
            return ret;
        }
        pci_default_cfg_region(ctx, size);
    }

    for (i = 0; i < PCI_BARS_NR; i++) {
        uint8_t *bar = pci_cfg_bytes(ctx->pci) + PCI_BASE_ADDRESS_0 + 4 * i;
        int flags = ctx->regions[i].flags;
        uint32_t clear;

        /* The upper half of a 64-bit pair has no type bits. */
        if (i % 2 == 1 && bar_is_64(ctx, i - 1)) {
            continue;
        }
        if ((flags & VFU_REGION_FLAG_64_BITS) && !bar_is_64(ctx, i)) {
            vfu_log(ctx, LOG_WARNING,
                    "BAR%d: 64-bit flag ignored (I/O BAR or BAR5)", i);
        }
        if ((flags & VFU_REGION_FLAG_PREFETCH) && !bar_is_64(ctx, i)) {
            vfu_log(ctx, LOG_WARNING, "BAR%d: prefetchable but not 64-bit",
                    i);
        }
        clear = (flags & VFU_REGION_FLAG_MEM) ? ~PCI_BASE_ADDRESS_MEM_MASK
                                              : ~PCI_BASE_ADDRESS_IO_MASK;
        pci_put32(bar, (pci_get32(bar) & ~clear) | bar_type_bits(ctx, i));
    }
    return 0;
}

void
pci_free(vfu_ctx_t *ctx)
{
    if (ctx == NULL || ctx->pci == NULL) {
        return;
    }
    free(ctx->pci->cfg);
    free(ctx->pci);
    ctx->pci = NULL;
}

void
pci_set_intx_pin(vfu_ctx_t *ctx, bool has_intx)
{
    if (ctx == NULL || ctx->pci == NULL || !has_intx) {
        return;
    }
    ctx->pci->cfg->hdr.intr.ipin = 1; /* INTA# */
}
