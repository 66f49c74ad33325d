/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_msg_mig_data_read.c - one MIG_DATA_READ message
 * (flags byte, fd count, body) against a negotiated dmaengine
 * context; see fuzz/common/fuzz_util.c.
 */
#include "fuzz/common/fuzz_util.h"
#include "vfio-user/vfio-user.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_msg_one(VFIO_USER_MIG_DATA_READ, data, size);
    return 0;
}
