/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_stream.c - a sequence of whole messages (each a 16-bit length, a fd
 * count byte and the bytes, header included) on a fresh connection.
 */
#include "fuzz/common/fuzz_util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_stream_one(data, size);
    return 0;
}
