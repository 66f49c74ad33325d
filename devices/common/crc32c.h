/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * crc32c.h - CRC32C (Castagnoli, reflected, as iSCSI and ext4 use it) for
 * the sample devices: dmaengine's CRC32C operation and the integrity
 * check of every device's migration data.
 */
#ifndef VFU_DEVICES_COMMON_CRC32C_H
#define VFU_DEVICES_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/** crc32c_init - fill a byte-at-a-time lookup table for crc32c(). */
void
crc32c_init(uint32_t table[256]);

/**
 * crc32c - continue the CRC32C @crc (0 to start) over @len bytes at @buf.
 * One call over A then one over B equals one call over A||B, so a value
 * can be built piece by piece; crc32c(t, 0, "123456789", 9) is 0xe3069283.
 */
uint32_t
crc32c(const uint32_t table[256], uint32_t crc, const void *buf, size_t len);

#endif /* VFU_DEVICES_COMMON_CRC32C_H */
