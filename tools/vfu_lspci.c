/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfu_lspci.c - vfu-lspci: connect to a vfio-user server (or open a
 * built-in sample device in-process), negotiate, and print what it offers:
 * capabilities, device info, regions, IRQs and a decoded config space.
 *
 * It is meant to work against servers we did not write, so everything the
 * server says is treated as data to show, never as something to trust:
 * regions of size 0, missing or looping capability lists and odd values
 * are printed as such.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/devices.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/vmm.h"

/* Regions and IRQ indexes shown at most, whatever the server claims. */
#define LSPCI_MAX_REGIONS 64u
#define LSPCI_MAX_IRQS 32u

typedef struct lspci {
    vmm_t *vmm;
    bool verbose;
    int status;        /* exit status: 1 once something failed */
    uint8_t cfg[4096]; /* config space; unread bytes stay 0xff */
    size_t cfg_len;    /* bytes of config space the device has (read) */
    uint64_t bar_size[PCI_BARS_NR]; /* from region info, 0 if unknown */
} lspci_t;

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: vfu-lspci [-v] SOCKET_PATH\n"
            "       vfu-lspci [-v] --device NAME\n"
            "  -v             also dump config space in hex\n"
            "  --device NAME  open built-in sample device NAME in-process\n"
            "built-in devices:");
    for (size_t i = 0; vfu_device_at(i) != NULL; i++) {
        fprintf(f, " %s", vfu_device_at(i)->name);
    }
    fprintf(f, "\n");
}

static void
on_log(void *arg, int level, const char *msg)
{
    bool verbose = *(bool *)arg;

    if (level <= LOG_WARNING || verbose) {
        fprintf(stderr, "vfu-lspci: client: %s\n", msg);
    }
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

static const char *
region_name(uint32_t i, char *buf, size_t size)
{
    static const char *const names[] = {"BAR0", "BAR1", "BAR2", "BAR3",
                                        "BAR4", "BAR5", "ROM",  "CONFIG",
                                        "VGA"};

    if (i < sizeof(names) / sizeof(names[0])) {
        return names[i];
    }
    snprintf(buf, size, "REGION%" PRIu32, i);
    return buf;
}

static const char *
irq_name(uint32_t i, char *buf, size_t size)
{
    static const char *const names[] = {"INTX", "MSI", "MSIX", "ERR", "REQ"};

    if (i < sizeof(names) / sizeof(names[0])) {
        return names[i];
    }
    snprintf(buf, size, "IRQ%" PRIu32, i);
    return buf;
}

static const char *
cap_name(uint8_t id)
{
    switch (id) {
    case PCI_CAP_ID_PM: return "Power Management";
    case PCI_CAP_ID_AGP: return "AGP";
    case PCI_CAP_ID_VPD: return "Vital Product Data";
    case PCI_CAP_ID_SLOTID: return "Slot ID";
    case PCI_CAP_ID_MSI: return "MSI";
    case PCI_CAP_ID_CHSWP: return "CompactPCI hot swap";
    case PCI_CAP_ID_PCIX: return "PCI-X";
    case PCI_CAP_ID_HT: return "HyperTransport";
    case PCI_CAP_ID_VNDR: return "Vendor Specific";
    case PCI_CAP_ID_DBG: return "Debug port";
    case PCI_CAP_ID_CCRC: return "CompactPCI central resource control";
    case PCI_CAP_ID_SHPC: return "Hot-plug";
    case PCI_CAP_ID_SSVID: return "Bridge subsystem vendor";
    case PCI_CAP_ID_AGP3: return "AGP 8x";
    case PCI_CAP_ID_SECDEV: return "Secure device";
    case PCI_CAP_ID_EXP: return "Express";
    case PCI_CAP_ID_MSIX: return "MSI-X";
    case PCI_CAP_ID_SATA: return "SATA";
    case PCI_CAP_ID_AF: return "Advanced features";
    default: return NULL;
    }
}

static const char *
ext_cap_name(uint16_t id)
{
    switch (id) {
    case PCI_EXT_CAP_ID_ERR: return "Advanced Error Reporting";
    case PCI_EXT_CAP_ID_VC: return "Virtual Channel";
    case PCI_EXT_CAP_ID_DSN: return "Device Serial Number";
    case PCI_EXT_CAP_ID_PWR: return "Power Budgeting";
    case PCI_EXT_CAP_ID_VNDR: return "Vendor Specific";
    case PCI_EXT_CAP_ID_ACS: return "Access Control Services";
    case PCI_EXT_CAP_ID_ARI: return "Alternative Routing-ID";
    case PCI_EXT_CAP_ID_ATS: return "Address Translation Service";
    case PCI_EXT_CAP_ID_SRIOV: return "SR-IOV";
    case PCI_EXT_CAP_ID_REBAR: return "Resizable BAR";
    case PCI_EXT_CAP_ID_LTR: return "Latency Tolerance Reporting";
    case PCI_EXT_CAP_ID_SECPCI: return "Secondary PCI Express";
    case PCI_EXT_CAP_ID_PASID: return "PASID";
    case PCI_EXT_CAP_ID_L1SS: return "L1 PM Substates";
    case PCI_EXT_CAP_ID_PTM: return "Precision Time Measurement";
    case PCI_EXT_CAP_ID_DVSEC: return "Designated Vendor-Specific";
    default: return NULL;
    }
}

static const char *
exp_type_name(unsigned t)
{
    switch (t) {
    case PCI_EXP_TYPE_ENDPOINT: return "Endpoint";
    case PCI_EXP_TYPE_LEG_END: return "Legacy Endpoint";
    case PCI_EXP_TYPE_ROOT_PORT: return "Root Port";
    case PCI_EXP_TYPE_UPSTREAM: return "Upstream Port";
    case PCI_EXP_TYPE_DOWNSTREAM: return "Downstream Port";
    case PCI_EXP_TYPE_PCI_BRIDGE: return "PCIe to PCI/PCI-X Bridge";
    case PCI_EXP_TYPE_PCIE_BRIDGE: return "PCI/PCI-X to PCIe Bridge";
    case PCI_EXP_TYPE_RC_END: return "Root Complex Integrated Endpoint";
    case PCI_EXP_TYPE_RC_EC: return "Root Complex Event Collector";
    default: return "Unknown type";
    }
}

/* "+" or "-" after a flag name, as lspci writes them. */
static char
pm(bool b)
{
    return b ? '+' : '-';
}

/* ------------------------------------------------------------------ */
/* Negotiation, device, regions, IRQs                                  */
/* ------------------------------------------------------------------ */

static void
print_caps(lspci_t *l)
{
    const vmm_caps_t *c = vmm_get_caps(l->vmm);

    printf("Negotiated: version %u.%u, max_msg_fds %" PRIu32
           ", max_data_xfer_size %" PRIu64 ", max_dma_maps %" PRIu32
           ", pgsizes %#" PRIx64 ", write_multiple %s, twin_socket %s\n",
           c->major, c->minor, c->max_msg_fds, c->max_data_xfer_size,
           c->max_dma_maps, c->pgsizes, c->write_multiple ? "yes" : "no",
           c->twin_socket ? "yes" : "no");
}

/* Device info; on failure fall back to the PCI layout. */
static void
print_device(lspci_t *l, uint32_t *nr_regions, uint32_t *nr_irqs)
{
    struct vfio_user_device_info info;
    int rc = vmm_device_info(l->vmm, &info);

    if (rc < 0) {
        printf("Device: info failed: %s\n", strerror(-rc));
        l->status = 1;
        *nr_regions = VFU_PCI_DEV_NUM_REGIONS;
        *nr_irqs = VFU_DEV_NUM_IRQS;
        return;
    }
    printf("Device: flags %#" PRIx32 "%s%s, %" PRIu32 " regions, %" PRIu32
           " IRQ types\n",
           info.flags, info.flags & VFIO_DEVICE_FLAGS_RESET ? " RESET" : "",
           info.flags & VFIO_DEVICE_FLAGS_PCI ? " PCI" : "", info.num_regions,
           info.num_irqs);
    *nr_regions = info.num_regions;
    *nr_irqs = info.num_irqs;
    if (*nr_regions > LSPCI_MAX_REGIONS) {
        printf("  (showing the first %u regions)\n", LSPCI_MAX_REGIONS);
        *nr_regions = LSPCI_MAX_REGIONS;
    }
    if (*nr_irqs > LSPCI_MAX_IRQS) {
        printf("  (showing the first %u IRQ types)\n", LSPCI_MAX_IRQS);
        *nr_irqs = LSPCI_MAX_IRQS;
    }
}

static void
print_regions(lspci_t *l, uint32_t nr)
{
    char nbuf[32];

    printf("Regions:\n");
    for (uint32_t i = 0; i < nr; i++) {
        const vmm_region_t *r;
        int rc = vmm_region_info(l->vmm, i, &r);

        if (rc < 0) {
            printf("  %2" PRIu32 " %-7s info failed: %s\n", i,
                   region_name(i, nbuf, sizeof(nbuf)), strerror(-rc));
            l->status = 1;
            continue;
        }
        printf("  %2" PRIu32 " %-7s size %#-10" PRIx64 " flags %c%c%c%s"
               " offset %#" PRIx64 " fd %s\n",
               i, region_name(i, nbuf, sizeof(nbuf)), r->size,
               r->flags & VFIO_REGION_INFO_FLAG_READ ? 'R' : '-',
               r->flags & VFIO_REGION_INFO_FLAG_WRITE ? 'W' : '-',
               r->flags & VFIO_REGION_INFO_FLAG_MMAP ? 'M' : '-',
               r->flags & VFIO_REGION_INFO_FLAG_CAPS ? " CAPS" : "",
               r->offset, r->fd >= 0 ? "yes" : "no");
        if (i < PCI_BARS_NR) {
            l->bar_size[i] = r->size;
        }
        if (r->has_type) {
            printf("             type %#" PRIx32 " subtype %#" PRIx32 "\n",
                   r->type, r->subtype);
        }
        for (uint32_t a = 0; a < r->nr_areas; a++) {
            printf("             mmap area %" PRIu32 ": offset %#" PRIx64
                   " size %#" PRIx64 "\n",
                   a, r->areas[a].offset, r->areas[a].size);
        }
    }
}

static void
print_irqs(lspci_t *l, uint32_t nr)
{
    char nbuf[32];

    printf("IRQs:\n");
    for (uint32_t i = 0; i < nr; i++) {
        struct vfio_irq_info irq;
        int rc = vmm_irq_info(l->vmm, i, &irq);

        if (rc < 0) {
            printf("  %2" PRIu32 " %-5s info failed: %s\n", i,
                   irq_name(i, nbuf, sizeof(nbuf)), strerror(-rc));
            l->status = 1;
            continue;
        }
        printf("  %2" PRIu32 " %-5s count %-5" PRIu32 " flags %#" PRIx32
               "%s%s%s%s\n",
               i, irq_name(i, nbuf, sizeof(nbuf)), irq.count, irq.flags,
               irq.flags & VFIO_IRQ_INFO_EVENTFD ? " EVENTFD" : "",
               irq.flags & VFIO_IRQ_INFO_MASKABLE ? " MASKABLE" : "",
               irq.flags & VFIO_IRQ_INFO_AUTOMASKED ? " AUTOMASKED" : "",
               irq.flags & VFIO_IRQ_INFO_NORESIZE ? " NORESIZE" : "");
    }
}

/* ------------------------------------------------------------------ */
/* Config space                                                        */
/* ------------------------------------------------------------------ */

/* Little-endian fields; bytes past what was read read as all ones. */
static uint32_t
cfg_get(const lspci_t *l, size_t off, size_t n)
{
    uint32_t v = 0;

    for (size_t i = 0; i < n; i++) {
        uint8_t b = off + i < sizeof(l->cfg) ? l->cfg[off + i] : 0xff;

        v |= (uint32_t)b << (8 * i);
    }
    return v;
}

static uint8_t
cfg8(const lspci_t *l, size_t off)
{
    return (uint8_t)cfg_get(l, off, 1);
}

static uint16_t
cfg16(const lspci_t *l, size_t off)
{
    return (uint16_t)cfg_get(l, off, 2);
}

static uint32_t
cfg32(const lspci_t *l, size_t off)
{
    return cfg_get(l, off, 4);
}

/* Whether [off, off+n) lies in the config space read. */
static bool
cfg_has(const lspci_t *l, size_t off, size_t n)
{
    return off <= l->cfg_len && n <= l->cfg_len - off;
}

/*
 * Read the config space: in one go, or if the server refuses that, one
 * dword at a time so that one bad register does not hide the rest.
 */
static int
read_config(lspci_t *l)
{
    const vmm_region_t *r;
    size_t len;
    int rc;

    memset(l->cfg, 0xff, sizeof(l->cfg));
    rc = vmm_region_info(l->vmm, VFU_PCI_DEV_CFG_REGION_IDX, &r);
    if (rc < 0) {
        printf("Config space: region info failed: %s\n", strerror(-rc));
        return rc;
    }
    if (r->size == 0) {
        printf("Config space: none (region size 0)\n");
        return -ENOENT;
    }
    len = r->size >= sizeof(l->cfg) ? sizeof(l->cfg)
          : r->size >= PCI_CFG_SPACE_SIZE ? PCI_CFG_SPACE_SIZE
                                          : (size_t)r->size;
    printf("Config space (%zu bytes):\n", len);
    rc = vmm_region_read(l->vmm, VFU_PCI_DEV_CFG_REGION_IDX, 0, l->cfg, len);
    if (rc < 0) {
        size_t bad = 0;

        for (size_t off = 0; off < len; off += 4) {
            size_t n = len - off < 4 ? len - off : 4;

            if (vmm_region_read(l->vmm, VFU_PCI_DEV_CFG_REGION_IDX, off,
                                l->cfg + off, n) < 0) {
                memset(l->cfg + off, 0xff, n);
                bad++;
            }
            if (!vmm_is_connected(l->vmm)) {
                return -ENOTCONN;
            }
        }
        if (bad > 0) {
            printf("  (%zu dword(s) unreadable: shown as ff)\n", bad);
        }
    }
    l->cfg_len = len;
    return 0;
}

static void
print_header(lspci_t *l)
{
    uint16_t cmd = cfg16(l, PCI_COMMAND);
    uint16_t sts = cfg16(l, PCI_STATUS);
    uint8_t htype = cfg8(l, PCI_HEADER_TYPE);
    uint8_t pin = cfg8(l, PCI_INTERRUPT_PIN);

    printf("  Vendor %04x Device %04x\n", cfg16(l, PCI_VENDOR_ID),
           cfg16(l, PCI_DEVICE_ID));
    printf("  Subsystem: vendor %04x device %04x\n",
           cfg16(l, PCI_SUBSYSTEM_VENDOR_ID), cfg16(l, PCI_SUBSYSTEM_ID));
    printf("  Class %02x%02x%02x (base %02x sub %02x prog-if %02x), "
           "revision %02x\n",
           cfg8(l, PCI_CLASS_DEVICE + 1), cfg8(l, PCI_CLASS_DEVICE),
           cfg8(l, PCI_CLASS_PROG), cfg8(l, PCI_CLASS_DEVICE + 1),
           cfg8(l, PCI_CLASS_DEVICE), cfg8(l, PCI_CLASS_PROG),
           cfg8(l, PCI_REVISION_ID));
    printf("  Header type %02x (%s%s)\n", htype,
           (htype & 0x7f) == PCI_HEADER_TYPE_NORMAL ? "normal"
           : (htype & 0x7f) == PCI_HEADER_TYPE_BRIDGE ? "bridge"
           : (htype & 0x7f) == PCI_HEADER_TYPE_CARDBUS ? "cardbus"
                                                       : "unknown",
           htype & 0x80 ? ", multi-function" : "");
    printf("  Command %04x: I/O%c Mem%c BusMaster%c SERR%c DisINTx%c\n", cmd,
           pm(cmd & PCI_COMMAND_IO), pm(cmd & PCI_COMMAND_MEMORY),
           pm(cmd & PCI_COMMAND_MASTER), pm(cmd & PCI_COMMAND_SERR),
           pm(cmd & PCI_COMMAND_INTX_DISABLE));
    printf("  Status %04x: Cap%c INTx%c 66MHz%c\n", sts,
           pm(sts & PCI_STATUS_CAP_LIST), pm(sts & PCI_STATUS_INTERRUPT),
           pm(sts & PCI_STATUS_66MHZ));
    if (pin >= 1 && pin <= 4) {
        printf("  Interrupt: pin %c, line %u\n", 'A' + pin - 1,
               cfg8(l, PCI_INTERRUPT_LINE));
    } else {
        printf("  Interrupt: pin %u (none), line %u\n", pin,
               cfg8(l, PCI_INTERRUPT_LINE));
    }
}

static void
print_bars(lspci_t *l)
{
    if ((cfg8(l, PCI_HEADER_TYPE) & 0x7f) != PCI_HEADER_TYPE_NORMAL) {
        printf("  (not a type 0 header: BARs not decoded)\n");
        return;
    }
    for (unsigned i = 0; i < PCI_BARS_NR; i++) {
        size_t off = PCI_BASE_ADDRESS_0 + 4 * i;
        uint32_t lo = cfg32(l, off);

        /*
         * A zero BAR is a 32-bit memory BAR at 0 or no BAR at all; the
         * region size tells which (libvfio-user leaves 1, "I/O", in BARs
         * it does not use).
         */
        if (l->bar_size[i] == 0) {
            if (lo == 0) {
                printf("  BAR%u: unused\n", i);
            } else {
                printf("  BAR%u: unused (reads %08" PRIx32 ")\n", i, lo);
            }
            continue;
        }
        if (lo & PCI_BASE_ADDRESS_SPACE_IO) {
            printf("  BAR%u: I/O at %#" PRIx32 " [size=%#" PRIx64 "]\n", i,
                   (uint32_t)(lo & PCI_BASE_ADDRESS_IO_MASK), l->bar_size[i]);
            continue;
        }
        if ((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
                PCI_BASE_ADDRESS_MEM_TYPE_64 &&
            i + 1 < PCI_BARS_NR) {
            uint64_t addr = ((uint64_t)cfg32(l, off + 4) << 32) |
                            (lo & PCI_BASE_ADDRESS_MEM_MASK);

            printf("  BAR%u: memory at %#" PRIx64 " (64-bit, %sprefetchable)"
                   " [size=%#" PRIx64 "]\n",
                   i, addr, lo & PCI_BASE_ADDRESS_MEM_PREFETCH ? "" : "non-",
                   l->bar_size[i]);
            i++; /* the upper half lives in the next BAR */
            printf("  BAR%u: upper half of BAR%u\n", i, i - 1);
            continue;
        }
        printf("  BAR%u: memory at %#" PRIx32 " (%s, %sprefetchable)"
               " [size=%#" PRIx64 "]\n",
               i,
               (uint32_t)(lo & PCI_BASE_ADDRESS_MEM_MASK),
               (lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
                       PCI_BASE_ADDRESS_MEM_TYPE_64
                   ? "64-bit, no upper half"
               : (lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
                       PCI_BASE_ADDRESS_MEM_TYPE_1M
                   ? "below 1M"
                   : "32-bit",
               lo & PCI_BASE_ADDRESS_MEM_PREFETCH ? "" : "non-",
               l->bar_size[i]);
    }
    if (cfg32(l, PCI_ROM_ADDRESS) != 0) {
        printf("  Expansion ROM at %#" PRIx32 " [%s]\n",
               (uint32_t)(cfg32(l, PCI_ROM_ADDRESS) & PCI_ROM_ADDRESS_MASK),
               cfg32(l, PCI_ROM_ADDRESS) & PCI_ROM_ADDRESS_ENABLE ? "enabled"
                                                                  : "disabled");
    }
}

/* Decode one standard capability at @off (its header is in range). */
static void
print_cap(lspci_t *l, size_t off, uint8_t id)
{
    const char *name = cap_name(id);
    uint16_t ctl;

    printf("    [%02zx] ", off);
    switch (id) {
    case PCI_CAP_ID_PM:
        if (!cfg_has(l, off, PCI_PM_SIZEOF)) {
            break;
        }
        ctl = cfg16(l, off + PCI_PM_PMC);
        printf("%s version %u: D1%c D2%c, state D%u\n", name,
               ctl & PCI_PM_CAP_VER_MASK, pm(ctl & PCI_PM_CAP_D1),
               pm(ctl & PCI_PM_CAP_D2),
               cfg16(l, off + PCI_PM_CTRL) & PCI_PM_CTRL_STATE_MASK);
        return;
    case PCI_CAP_ID_MSI:
        if (!cfg_has(l, off, PCI_MSI_FLAGS + 2)) {
            break;
        }
        ctl = cfg16(l, off + PCI_MSI_FLAGS);
        printf("%s: Enable%c Count=%u/%u 64bit%c Maskable%c\n", name,
               pm(ctl & PCI_MSI_FLAGS_ENABLE),
               1u << ((ctl & PCI_MSI_FLAGS_QSIZE) >> 4),
               1u << ((ctl & PCI_MSI_FLAGS_QMASK) >> 1),
               pm(ctl & PCI_MSI_FLAGS_64BIT),
               pm(ctl & PCI_MSI_FLAGS_MASKBIT));
        return;
    case PCI_CAP_ID_MSIX: {
        uint32_t tab, pba;

        if (!cfg_has(l, off, PCI_CAP_MSIX_SIZEOF)) {
            break;
        }
        ctl = cfg16(l, off + PCI_MSIX_FLAGS);
        tab = cfg32(l, off + PCI_MSIX_TABLE);
        pba = cfg32(l, off + PCI_MSIX_PBA);
        printf("%s: Enable%c Mask%c TabSize=%u\n", name,
               pm(ctl & PCI_MSIX_FLAGS_ENABLE),
               pm(ctl & PCI_MSIX_FLAGS_MASKALL),
               (ctl & PCI_MSIX_FLAGS_QSIZE) + 1);
        printf("           Vector table: BAR=%u offset=%08x\n",
               tab & PCI_MSIX_TABLE_BIR, tab & PCI_MSIX_TABLE_OFFSET);
        printf("           PBA: BAR=%u offset=%08x\n",
               pba & PCI_MSIX_PBA_BIR, pba & PCI_MSIX_PBA_OFFSET);
        return;
    }
    case PCI_CAP_ID_EXP:
        if (!cfg_has(l, off, PCI_EXP_FLAGS + 2)) {
            break;
        }
        ctl = cfg16(l, off + PCI_EXP_FLAGS);
        printf("%s (v%u) %s\n", name, ctl & PCI_EXP_FLAGS_VERS,
               exp_type_name((ctl & PCI_EXP_FLAGS_TYPE) >> 4));
        return;
    case PCI_CAP_ID_VNDR:
        if (!cfg_has(l, off, 3)) {
            break;
        }
        printf("%s: Len=%02x\n", name, cfg8(l, off + PCI_CAP_FLAGS));
        return;
    default:
        if (name != NULL) {
            printf("%s (ID %#04x)\n", name, id);
        } else {
            printf("Capability ID %#04x\n", id);
        }
        return;
    }
    printf("%s: truncated\n", name);
}

/*
 * The standard list: pointers are dword aligned, live in 0x40..0xff, and
 * each offset is visited once, so a malicious list ends.
 */
static void
print_caps_list(lspci_t *l)
{
    bool seen[PCI_CFG_SPACE_SIZE / 4] = {false};
    size_t off;

    if (!(cfg16(l, PCI_STATUS) & PCI_STATUS_CAP_LIST)) {
        printf("  Capabilities: none\n");
        return;
    }
    printf("  Capabilities:\n");
    off = cfg8(l, PCI_CAPABILITY_LIST) & ~3u;
    while (off != 0) {
        if (off < PCI_STD_HEADER_SIZEOF || !cfg_has(l, off, 2) ||
            off >= PCI_CFG_SPACE_SIZE) {
            printf("    [%02zx] pointer out of range\n", off);
            return;
        }
        if (seen[off / 4]) {
            printf("    [%02zx] loop in the capability list\n", off);
            return;
        }
        seen[off / 4] = true;
        print_cap(l, off, cfg8(l, off + PCI_CAP_LIST_ID));
        off = cfg8(l, off + PCI_CAP_LIST_NEXT) & ~3u;
    }
}

static void
print_ext_cap(lspci_t *l, size_t off, uint32_t hdr)
{
    uint16_t id = (uint16_t)PCI_EXT_CAP_ID(hdr);
    const char *name = ext_cap_name(id);

    printf("    [%03zx] ", off);
    switch (id) {
    case PCI_EXT_CAP_ID_DSN:
        if (!cfg_has(l, off, PCI_EXT_CAP_DSN_SIZEOF)) {
            break;
        }
        {
            uint64_t sn = ((uint64_t)cfg32(l, off + 8) << 32) |
                          cfg32(l, off + 4);

            printf("%s ", name);
            for (int b = 7; b >= 0; b--) {
                printf("%02x%s", (unsigned)(sn >> (8 * b)) & 0xff,
                       b > 0 ? "-" : "\n");
            }
        }
        return;
    case PCI_EXT_CAP_ID_VNDR:
        if (!cfg_has(l, off, 8)) {
            break;
        }
        {
            uint32_t v = cfg32(l, off + PCI_VNDR_HEADER);

            printf("%s: ID=%04x Rev=%u Len=%03x\n", name,
                   PCI_VNDR_HEADER_ID(v), PCI_VNDR_HEADER_REV(v),
                   PCI_VNDR_HEADER_LEN(v));
        }
        return;
    default:
        if (name != NULL) {
            printf("%s (ID %#06x) v%u\n", name, id, PCI_EXT_CAP_VER(hdr));
        } else {
            printf("Extended capability ID %#06x v%u\n", id,
                   PCI_EXT_CAP_VER(hdr));
        }
        return;
    }
    printf("%s: truncated\n", name);
}

static void
print_ext_caps_list(lspci_t *l)
{
    bool seen[PCI_CFG_SPACE_EXP_SIZE / 4] = {false};
    size_t off = PCI_CFG_SPACE_SIZE;
    uint32_t hdr;

    if (l->cfg_len <= PCI_CFG_SPACE_SIZE) {
        return;
    }
    hdr = cfg32(l, off);
    if (hdr == 0 || hdr == 0xffffffff) {
        printf("  Extended capabilities: none\n");
        return;
    }
    printf("  Extended capabilities:\n");
    for (;;) {
        if (seen[off / 4]) {
            printf("    [%03zx] loop in the extended capability list\n", off);
            return;
        }
        seen[off / 4] = true;
        print_ext_cap(l, off, hdr);
        off = PCI_EXT_CAP_NEXT(hdr);
        if (off == 0) {
            return;
        }
        if (off < PCI_CFG_SPACE_SIZE || !cfg_has(l, off, 4)) {
            printf("    [%03zx] pointer out of range\n", off);
            return;
        }
        hdr = cfg32(l, off);
    }
}

static void
hex_dump(lspci_t *l)
{
    for (size_t off = 0; off < l->cfg_len; off += 16) {
        printf("%03zx:", off);
        for (size_t i = 0; i < 16 && off + i < l->cfg_len; i++) {
            printf(" %02x", l->cfg[off + i]);
        }
        printf("\n");
    }
}

static void
print_config(lspci_t *l)
{
    if (read_config(l) < 0) {
        l->status = 1;
        return;
    }
    if (l->cfg_len < PCI_STD_HEADER_SIZEOF) {
        printf("  (shorter than a PCI header)\n");
    } else {
        print_header(l);
        print_bars(l);
        print_caps_list(l);
        print_ext_caps_list(l);
    }
    if (l->verbose) {
        hex_dump(l);
    }
}

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

/* Stop at the first sign of a hang-up rather than print a wall of errors. */
static bool
still_there(lspci_t *l)
{
    if (vmm_is_connected(l->vmm)) {
        return true;
    }
    fprintf(stderr, "vfu-lspci: the server hung up\n");
    l->status = 1;
    return false;
}

static void
run(lspci_t *l)
{
    uint32_t nr_regions, nr_irqs;

    print_caps(l);
    print_device(l, &nr_regions, &nr_irqs);
    if (!still_there(l)) {
        return;
    }
    print_regions(l, nr_regions);
    if (!still_there(l)) {
        return;
    }
    print_irqs(l, nr_irqs);
    if (!still_there(l)) {
        return;
    }
    print_config(l);
    still_there(l);
}

int
main(int argc, char *argv[])
{
    static const struct option longopts[] = {
        {"device", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static lspci_t l; /* 4 KiB of config space: keep it off the stack */
    vfu_device_t dev = {0};
    const char *device = NULL;
    const char *what;
    int opt;
    int rc;

    while ((opt = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'v':
            l.verbose = true;
            break;
        case 'd':
            device = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if ((device == NULL) == (optind >= argc) || optind + 1 < argc) {
        usage(stderr);
        return 2;
    }

    if (device != NULL) {
        what = device;
        rc = vfu_device_open(device, VFU_TRANS_EXT_INPROC, NULL,
                             LIBVFIO_USER_FLAG_ATTACH_NB, &dev);
        if (rc < 0) {
            fprintf(stderr, "vfu-lspci: cannot open device %s: %s\n", device,
                    rc == -ENOENT ? "no such built-in device"
                                  : strerror(-rc));
            if (rc == -ENOENT) {
                usage(stderr);
            }
            return 1;
        }
        rc = vmm_attach_inproc(dev.ctx, NULL, &l.vmm);
    } else {
        what = argv[optind];
        rc = vmm_connect(what, NULL, &l.vmm);
    }
    if (rc < 0) {
        fprintf(stderr, "vfu-lspci: cannot connect to %s or negotiate: %s\n",
                what, strerror(-rc));
        vfu_device_close(&dev);
        return 1;
    }
    vmm_set_log(l.vmm, on_log, &l.verbose);
    printf("Target: %s %s\n", device != NULL ? "built-in device" : "socket",
           what);
    run(&l);
    vmm_close(l.vmm);
    vfu_device_close(&dev);
    return l.status;
}
