/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_dev_gpio.c - operation sequences (register, IRQ, reset, guest
 * memory, doorbell, migration) against the built-in gpio device; see
 * fuzz/dev/devops.c for the input format and docs/fuzzing.md.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz/dev/devfuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    do_fuzz_one(&do_dev_gpio, data, size);
    return 0;
}
