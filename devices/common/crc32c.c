/* SPDX-License-Identifier: BSD-3-Clause */
/* crc32c.c - table-driven CRC32C shared by the sample devices. */

#include "common/crc32c.h"

/* Reflected Castagnoli polynomial (0x1EDC6F41 bit-reversed). */
#define CRC32C_POLY 0x82f63b78u

void
crc32c_init(uint32_t table[256])
{
    uint32_t i;
    int bit;

    for (i = 0; i < 256; i++) {
        uint32_t c = i;

        for (bit = 0; bit < 8; bit++) {
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        }
        table[i] = c;
    }
}

uint32_t
crc32c(const uint32_t table[256], uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    /* the register runs inverted, so a seed of 0 is the standard start */
    uint32_t c = ~crc;

    while (len-- > 0) {
        c = table[(c ^ *p++) & 0xffu] ^ (c >> 8);
    }
    return ~c;
}
