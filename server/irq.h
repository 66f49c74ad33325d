/* SPDX-License-Identifier: BSD-3-Clause */
/* irq.h - what other server modules may ask the interrupt module. */
#ifndef VFU_SERVER_IRQ_H
#define VFU_SERVER_IRQ_H

#include "server/private.h"

/* Vector limits vfu_setup_device_nr_irqs() enforces (PCI's own). */
#define IRQ_MAX_INTX 1u
#define IRQ_MAX_MSI 32u
#define IRQ_MAX_MSIX 2048u

/**
 * irq_count - the number of vectors of @type the device declared (ERR and
 * REQ default to 1, as in libvfio-user); 0 for a bad type.  pci.c uses it
 * for the interrupt pin (INTx) at realize.
 */
uint32_t
irq_count(const vfu_ctx_t *ctx, enum vfu_dev_irq_type type);

#endif /* VFU_SERVER_IRQ_H */
