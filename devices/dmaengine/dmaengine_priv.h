/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaengine_priv.h - the dmaengine model's state, shared by its register
 * side (dmaengine.c) and its execution side (dmaengine_exec.c).
 */
#ifndef VFU_DEVICES_DMAENGINE_PRIV_H
#define VFU_DEVICES_DMAENGINE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/crc32c.h"
#include "common/devmig.h"
#include "dmaengine/dmaengine.h"
#include "vfio-user/libvfio-user.h"

/*
 * Bounce buffers for guest memory the device cannot map (fd-less regions,
 * or CTRL.NO_DIRECT): a descriptor is moved in pieces of at most this
 * size, each one DMA_READ/DMA_WRITE exchange per direction.  1 MiB is the
 * default max_data_xfer_size, so a piece is one message when it can be.
 */
#define DMAE_CHUNK (1u << 20)
/* Descriptors fetched per guest read when the ring is not mapped. */
#define DMAE_FETCH_BATCH 64u
/* Scratch scatter-gather entries: ring batch, src, dst, record. */
enum { DMAE_SG_RING, DMAE_SG_SRC, DMAE_SG_DST, DMAE_SG_COMPL, DMAE_NR_SG };
/* Most DMA regions a client may map into the device. */
#define DMAE_MAX_DMA_REGIONS 256u

typedef struct dmae_queue {
    uint64_t ring_base;
    uint32_t ring_size;
    uint32_t ctrl; /* DMAE_QCTRL_ENABLE as written */
    uint32_t head;
    uint32_t tail;
    bool running;
    bool halted;
    uint32_t error;
    uint32_t int_ctrl;
    uint32_t completed;
    uint32_t irq_count;
    uint32_t intr_pending; /* completions waiting for a coalesced IRQ */
    uint32_t budget;       /* BUDGET: most descriptors per kick, 0: no limit */
    bool remap;            /* restored from a ring that was mapped */
    /*
     * The ring seen through a mapping (vfu_sgl_get) while it lies in one
     * mappable DMA region; iov_base is NULL when not cached.  Dropped when
     * that region is unmapped, the queue stops or the device resets.
     */
    dma_sg_t *ring_sg;
    struct iovec ring_iov;
} dmae_queue_t;

/* Everything a reset returns to zero. */
typedef struct dmae_regs {
    uint32_t ctrl;
    uint32_t err_code;
    uint32_t err_count;
    uint64_t err_addr;
    uint32_t int_status;
    uint32_t msix_pending; /* PBA: vectors held back by the function mask */
    uint8_t msix_table[DMAE_MSIX_VECTORS * 16];
} dmae_regs_t;

typedef struct dmae {
    dmae_regs_t r;
    dmae_queue_t q[DMAE_NR_QUEUES];
    size_t msix_cap; /* offset of the MSI-X capability in config space */
    uint32_t crc_table[256];
    dma_sg_t *sg; /* DMAE_NR_SG scratch entries */
    uint8_t *bounce[2];
    uint8_t descs[DMAE_FETCH_BATCH * DMAE_DESC_SIZE];
    bool busy;         /* a kick is running */
    uint32_t deferred; /* queues to run before the kick returns */
    vfu_migr_state_t mig_state; /* as the last transition left it */
    devmig_t mig;
} dmae_t;

/*
 * Stopped for migration (STOP, STOP_AND_COPY, RESUMING): nothing runs and
 * no register changes, so the state sent is the state the device has.
 */
static inline bool
dmae_frozen(const dmae_t *d)
{
    return d->mig_state == VFU_MIGR_STATE_STOP ||
           d->mig_state == VFU_MIGR_STATE_STOP_AND_COPY ||
           d->mig_state == VFU_MIGR_STATE_RESUME;
}

/* The scratch sg entry @i (dma_sg_t is opaque: sized at run time). */
dma_sg_t *
dmae_sg(dmae_t *d, unsigned int i);

/* ---- dmaengine.c: interrupts and errors, used while executing ---- */

/* Signal vector @vector (a queue, or DMAE_ERR_VECTOR) with cause @cause. */
bool
dmae_signal(vfu_ctx_t *ctx, dmae_t *d, uint32_t vector, uint32_t cause);

/*
 * Halt queue @qi with @err at ring slot @slot, record it in the global
 * error registers with @addr, and raise the error interrupt.
 */
void
dmae_queue_fail(vfu_ctx_t *ctx, dmae_t *d, unsigned int qi, uint32_t err,
                uint32_t slot, uint64_t addr);

/* Release the cached ring mapping of @q, if any. */
void
dmae_ring_uncache(vfu_ctx_t *ctx, dmae_queue_t *q);

/* ---- dmaengine_exec.c ---- */

/**
 * dmae_queue_kick - process queue @qi's descriptors from HEAD up to TAIL,
 * at most BUDGET (and ring size minus one) of them; stops (halting the
 * queue) at the first bad one.  Signals completion interrupts as the
 * queue asks.  Does nothing while the device is stopped for migration.
 */
void
dmae_queue_kick(vfu_ctx_t *ctx, dmae_t *d, unsigned int qi);

/**
 * dmae_ring_check - whether the ring of @q is fully mapped and readable:
 * 0, or a DMAE_ERR_* code.
 */
uint32_t
dmae_ring_check(vfu_ctx_t *ctx, dmae_t *d, const dmae_queue_t *q);

/**
 * dmae_ring_cache - map the ring of @q for direct reads when it lies in
 * one mappable region and mappings are allowed; otherwise leave it.
 */
void
dmae_ring_cache(vfu_ctx_t *ctx, dmae_t *d, dmae_queue_t *q);

#endif /* VFU_DEVICES_DMAENGINE_PRIV_H */
