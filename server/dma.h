/* SPDX-License-Identifier: BSD-3-Clause */
/* dma.h - the DMA module's types shared with other server modules. */
#ifndef VFU_SERVER_DMA_H
#define VFU_SERVER_DMA_H

#include <stdbool.h>
#include <stdint.h>

#include "server/private.h"

/*
 * One scatter-gather entry: a piece of guest memory inside one DMA region.
 * Devices treat it as opaque and size arrays with dma_sg_size().
 */
struct dma_sg {
    vfu_dma_addr_t dma_addr; /* start of the DMA region (IOVA) */
    int32_t region;          /* index of the region in the DMA table */
    uint64_t offset;         /* of the entry within the region */
    uint64_t length;
    bool writeable;
    bool mappable;           /* the region is mmapped here (fd-backed) */
};

/* The device's DMA setup (ctx->dma), created by vfu_setup_device_dma(). */
struct vfu_dma {
    size_t max_regions;
    vfu_dma_register_cb_t *dma_register;
    vfu_dma_unregister_cb_t *dma_unregister;
    size_t nr_regions; /* always 0 until DMA_MAP is implemented */
};

#endif /* VFU_SERVER_DMA_H */
