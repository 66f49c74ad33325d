/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * state.c - a digest of the state a client can change, for harnesses that
 * must know an input left nothing behind (see vfu_state_sig in private.h).
 */
#include <string.h>

#include "server/migration.h"
#include "server/private.h"

uint64_t
vfu_fnv(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void
vfu_state_sig(const vfu_ctx_t *ctx, vfu_state_sig_t *sig)
{
    uint8_t misc[8];
    uint32_t mig = migr_device_state(ctx);

    memset(sig, 0, sizeof(*sig));
    sig->dma = dma_state_sig(ctx);
    sig->irq = irq_state_sig(ctx);
    misc[0] = ctx->attached;
    misc[1] = ctx->quiesced;
    misc[2] = ctx->quiesce_pending;
    misc[3] = (uint8_t)ctx->pending_kind;
    memcpy(misc + 4, &mig, sizeof(mig));
    sig->misc = vfu_fnv(VFU_FNV_INIT, misc, sizeof(misc));
}
