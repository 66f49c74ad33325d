/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devfuzz.h - the libFuzzer entry shared by the fuzz_dev_* targets: one
 * in-process device and fake VMM per process, reset between inputs.
 */
#ifndef VFU_FUZZ_DEVFUZZ_H
#define VFU_FUZZ_DEVFUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz/dev/devops.h"

/** do_fuzz_one - decode @data into ops and run them on @dev's device. */
void
do_fuzz_one(const do_device_t *dev, const uint8_t *data, size_t size);

#endif /* VFU_FUZZ_DEVFUZZ_H */
