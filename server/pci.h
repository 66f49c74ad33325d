/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pci.h - PCI config space state shared by pci.c and pci_caps.c.
 *
 * The config space is a plain byte buffer of 256 or 4096 bytes that the
 * device may read and change directly (vfu_pci_get_config_space()).  What
 * the client sees goes through pci_config_access(), which emulates the type
 * 0 header and the capabilities added with vfu_pci_add_capability() and
 * hands everything else to the config region's callback.
 *
 * Other server modules may use the hooks at the end of this file.
 */
#ifndef VFU_SERVER_PCI_H
#define VFU_SERVER_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "server/private.h"

/* libvfio-user allows this many standard and this many extended caps. */
#define PCI_MAX_CAPS 128

struct pci_cap;

/*
 * Emulated write to the body of a capability (never its header): @rel is
 * the offset of @buf within the capability, the range lies inside it.
 * Returns @count or a negative errno; on error nothing was changed.
 */
typedef ssize_t(pci_cap_write_fn_t)(vfu_ctx_t *ctx, struct pci_cap *cap,
                                    const char *buf, size_t count,
                                    size_t rel);

struct pci_cap {
    const char *name;
    uint16_t id;
    bool extended;
    int flags;       /* VFU_CAP_FLAG_* */
    size_t off;      /* in config space */
    size_t size;     /* bytes, header included */
    size_t hdr_size; /* leading bytes the client may not write */
    size_t data_size; /* bytes taken from the device (MSI: its layout) */
    pci_cap_write_fn_t *write;
};

struct vfu_pci {
    vfu_pci_type_t type;
    size_t size;                 /* PCI_CFG_SPACE_SIZE or _EXP_SIZE */
    vfu_pci_config_space_t *cfg; /* @size bytes, owned */
    /* both lists in the order they are linked in config space */
    struct pci_cap caps[PCI_MAX_CAPS];
    size_t nr_caps;
    struct pci_cap ext_caps[PCI_MAX_CAPS];
    size_t nr_ext_caps;
    size_t exp_off; /* offset of the PCI Express capability, 0 if none */
};

static inline uint8_t *
pci_cfg_bytes(struct vfu_pci *pci)
{
    return (uint8_t *)pci->cfg;
}

/* Config space is little-endian whatever the host is. */
static inline uint16_t
pci_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
pci_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline void
pci_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
pci_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* pci.c */

/*
 * Pass an access to the config region's callback.  Returns the number of
 * bytes the callback handled (1..@count) or a negative errno; -EINVAL when
 * the device set no callback.
 */
ssize_t
pci_forward_to_cb(vfu_ctx_t *ctx, char *buf, size_t count, size_t offset,
                  bool is_write);

/* pci_caps.c */

/*
 * Find what lies at @off: sets *@cap to the capability containing it (or
 * NULL) and returns how many of the @len bytes from @off belong to that
 * same capability (or to the gap before the next one).
 */
size_t
pci_cap_segment(struct vfu_pci *pci, size_t off, size_t len,
                struct pci_cap **cap);

/*
 * Client access to [@off, @off + @count), which lies inside @cap.
 * Returns @count (or fewer for a short callback) or a negative errno.
 */
ssize_t
pci_cap_access(vfu_ctx_t *ctx, struct pci_cap *cap, char *buf, size_t count,
               size_t off, bool is_write);

/* ---- hooks for the other server modules ---- */

/*
 * pci_set_intx_pin - for irq.c: when the device declared INTx vectors, the
 * interrupt pin register reads INTA#.  Call after pci_realize(); a no-op
 * when @has_intx is false (the pin keeps what the device wrote there).
 */
void
pci_set_intx_pin(vfu_ctx_t *ctx, bool has_intx);

/*
 * pci_write_needs_quiesce - for dispatch.c: whether a client write of
 * @count bytes at @offset in config space reaches the PCI Express device
 * control register, whose FLR bit calls the reset callback (libvfio-user
 * quiesces the device before such a write).
 */
bool
pci_write_needs_quiesce(vfu_ctx_t *ctx, uint64_t offset, size_t count);

#endif /* VFU_SERVER_PCI_H */
