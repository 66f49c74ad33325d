/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_pci.c - unit tests for PCI config space emulation and capabilities
 * (server/pci.c, server/pci_caps.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/testutil.h"
#include "server/pci.h"
#include "server/private.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/*
 * Contexts come from the public API with the in-process transport, so no
 * socket is involved; the client side is exercised by the e2e tests, here
 * config accesses go straight to pci_config_access() as region.c sends
 * them.
 */
static vfu_ctx_t *
ctx_new(void)
{
    vfu_ctx_t *ctx = vfu_create_ctx(VFU_TRANS_EXT_INPROC, NULL, 0, NULL,
                                    VFU_DEV_TYPE_PCI);

    assert_non_null(ctx);
    return ctx;
}

static void
ctx_free(vfu_ctx_t *ctx)
{
    vfu_destroy_ctx(ctx);
}

static void
set_region(vfu_ctx_t *ctx, int idx, size_t size, int flags,
           vfu_region_access_cb_t *cb)
{
    assert_int_equal(vfu_setup_region(ctx, idx, size, cb, flags, NULL, 0, -1,
                                      0),
                     0);
}

static void
realize(vfu_ctx_t *ctx)
{
    assert_int_equal(vfu_realize_ctx(ctx), 0);
}

static vfu_ctx_t *
express_ctx(void)
{
    vfu_ctx_t *ctx = ctx_new();

    assert_int_equal(vfu_pci_init(ctx, VFU_PCI_TYPE_EXPRESS,
                                  PCI_HEADER_TYPE_NORMAL, 0),
                     0);
    return ctx;
}

static vfu_ctx_t *
conventional_ctx(void)
{
    vfu_ctx_t *ctx = ctx_new();

    assert_int_equal(vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL,
                                  PCI_HEADER_TYPE_NORMAL, 0),
                     0);
    return ctx;
}

static uint32_t
cfg_read(vfu_ctx_t *ctx, uint64_t off, size_t size)
{
    uint8_t b[4] = { 0 };

    assert_true(size <= 4);
    assert_int_equal(pci_config_access(ctx, (char *)b, size, off, false),
                     (ssize_t)size);
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
           ((uint32_t)b[3] << 24);
}

static ssize_t
cfg_write(vfu_ctx_t *ctx, uint64_t off, size_t size, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 24) };

    assert_true(size <= 4);
    return pci_config_access(ctx, (char *)b, size, off, true);
}

static uint8_t *
cfg_bytes(vfu_ctx_t *ctx)
{
    return (uint8_t *)vfu_pci_get_config_space(ctx);
}

/* Config region callback: serves a 4 KiB scratch buffer and counts calls. */
static uint8_t cb_space[PCI_CFG_SPACE_EXP_SIZE];
static unsigned int cb_calls;
static size_t cb_last_off, cb_last_count;
static int cb_fail_errno;
static ssize_t cb_bogus_ret; /* when > 0, returned instead of count - 1 */

static ssize_t
cfg_cb(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
    (void)ctx;
    cb_calls++;
    cb_last_off = (size_t)offset;
    cb_last_count = count;
    if (cb_fail_errno != 0) {
        errno = cb_fail_errno;
        return -1;
    }
    if (cb_bogus_ret != 0) {
        return cb_bogus_ret - 1;
    }
    if (is_write) {
        memcpy(cb_space + offset, buf, count);
    } else {
        memcpy(buf, cb_space + offset, count);
    }
    return (ssize_t)count;
}

static void
cb_reset(void)
{
    memset(cb_space, 0xcc, sizeof(cb_space));
    cb_calls = 0;
    cb_last_off = cb_last_count = 0;
    cb_fail_errno = 0;
    cb_bogus_ret = 0;
}

static unsigned int reset_calls;
static vfu_reset_type_t reset_type;

static int
reset_cb(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
    (void)ctx;
    reset_calls++;
    reset_type = type;
    return 0;
}

/* ------------------------------------------------------------------ */
/* vfu_pci_init and friends                                            */
/* ------------------------------------------------------------------ */

static void
test_pci_init_sizes_per_type(void **state)
{
    static const struct {
        vfu_pci_type_t type;
        size_t size;
    } cases[] = {
        { VFU_PCI_TYPE_CONVENTIONAL, PCI_CFG_SPACE_SIZE },
        { VFU_PCI_TYPE_PCI_X_1, PCI_CFG_SPACE_SIZE },
        { VFU_PCI_TYPE_PCI_X_2, PCI_CFG_SPACE_EXP_SIZE },
        { VFU_PCI_TYPE_EXPRESS, PCI_CFG_SPACE_EXP_SIZE },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vfu_ctx_t *ctx = ctx_new();
        const vfu_region_t *reg = &ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX];

        assert_int_equal(vfu_pci_init(ctx, cases[i].type,
                                      PCI_HEADER_TYPE_NORMAL, 3),
                         0);
        assert_int_equal(reg->size, cases[i].size);
        assert_int_equal(reg->flags, VFU_REGION_FLAG_RW);
        assert_non_null(vfu_pci_get_config_space(ctx));
        assert_int_equal(vfu_pci_get_config_space(ctx)->hdr.rid, 3);
        /* the last byte is reachable, one more is not */
        cfg_read(ctx, cases[i].size - 1, 1);
        assert_int_equal(cfg_write(ctx, cases[i].size, 1, 0), -EINVAL);
        ctx_free(ctx);
    }
}

static void
test_pci_init_bad_args(void **state)
{
    vfu_ctx_t *ctx = ctx_new();

    (void)state;
    errno = 0;
    assert_int_equal(vfu_pci_init(ctx, (vfu_pci_type_t)7,
                                  PCI_HEADER_TYPE_NORMAL, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(vfu_pci_init(ctx, VFU_PCI_TYPE_EXPRESS,
                                  PCI_HEADER_TYPE_BRIDGE, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(vfu_pci_init(ctx, VFU_PCI_TYPE_EXPRESS,
                                  PCI_HEADER_TYPE_NORMAL, 256),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_null(vfu_pci_get_config_space(ctx));

    assert_int_equal(vfu_pci_init(ctx, VFU_PCI_TYPE_EXPRESS,
                                  PCI_HEADER_TYPE_NORMAL, 0),
                     0);
    errno = 0;
    assert_int_equal(vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL,
                                  PCI_HEADER_TYPE_NORMAL, 0),
                     -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX].size,
                     PCI_CFG_SPACE_EXP_SIZE);
    ctx_free(ctx);
}

static void
test_pci_init_keeps_device_cfg_region(void **state)
{
    vfu_ctx_t *ctx = ctx_new();
    const int flags = VFU_REGION_FLAG_RW | VFU_REGION_FLAG_ALWAYS_CB;

    (void)state;
    set_region(ctx, VFU_PCI_DEV_CFG_REGION_IDX, PCI_CFG_SPACE_SIZE, flags,
               cfg_cb);
    assert_int_equal(vfu_pci_init(ctx, VFU_PCI_TYPE_EXPRESS,
                                  PCI_HEADER_TYPE_NORMAL, 0),
                     0);
    assert_int_equal(ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX].size,
                     PCI_CFG_SPACE_SIZE);
    assert_int_equal(ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX].flags, flags);
    /* bounded by the smaller of region and config space */
    cb_reset();
    assert_int_equal(cfg_write(ctx, PCI_CFG_SPACE_SIZE, 4, 0), -EINVAL);
    assert_int_equal(cb_calls, 0);
    ctx_free(ctx);
}

static void
test_pci_set_id_class_read_only(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();

    (void)state;
    vfu_pci_set_id(ctx, 0x4e58, 0x0001, 0x1af4, 0x1100);
    vfu_pci_set_class(ctx, 0x02, 0x80, 0x01);
    assert_int_equal(cfg_read(ctx, PCI_VENDOR_ID, 4), 0x00014e58);
    assert_int_equal(cfg_read(ctx, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4);
    assert_int_equal(cfg_read(ctx, PCI_REVISION_ID, 4), 0x02800100);

    /* read-only registers: the write completes, nothing changes */
    assert_int_equal(cfg_write(ctx, PCI_VENDOR_ID, 4, 0xdeadbeef), 4);
    assert_int_equal(cfg_write(ctx, PCI_DEVICE_ID, 2, 0xbeef), 2);
    assert_int_equal(cfg_write(ctx, PCI_SUBSYSTEM_ID, 2, 0xbeef), 2);
    assert_int_equal(cfg_write(ctx, PCI_CLASS_DEVICE, 2, 0xffff), 2);
    assert_int_equal(cfg_write(ctx, PCI_HEADER_TYPE, 1, 0x81), 1);
    assert_int_equal(cfg_read(ctx, PCI_VENDOR_ID, 4), 0x00014e58);
    assert_int_equal(cfg_read(ctx, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4);
    assert_int_equal(cfg_read(ctx, PCI_REVISION_ID, 4), 0x02800100);
    assert_int_equal(cfg_read(ctx, PCI_HEADER_TYPE, 1), 0);
    ctx_free(ctx);
}

static void
test_pci_set_before_init_ignored(void **state)
{
    vfu_ctx_t *ctx = ctx_new();

    (void)state;
    vfu_pci_set_id(ctx, 1, 2, 3, 4);
    vfu_pci_set_class(ctx, 1, 2, 3);
    assert_null(ctx->pci);
    assert_null(vfu_pci_get_config_space(NULL));
    ctx_free(ctx);
}

/* ------------------------------------------------------------------ */
/* Header registers                                                    */
/* ------------------------------------------------------------------ */

static void
test_pci_command_writable_bits(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();

    (void)state;
    assert_int_equal(cfg_write(ctx, PCI_COMMAND, 2, 0xffff), 2);
    assert_int_equal(cfg_read(ctx, PCI_COMMAND, 2),
                     PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                         PCI_COMMAND_INVALIDATE | PCI_COMMAND_PARITY |
                         PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
    /* a byte write to the high half keeps the low half */
    assert_int_equal(cfg_write(ctx, PCI_COMMAND + 1, 1, 0), 1);
    assert_int_equal(cfg_read(ctx, PCI_COMMAND, 2),
                     PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                         PCI_COMMAND_INVALIDATE | PCI_COMMAND_PARITY);
    assert_int_equal(cfg_write(ctx, PCI_COMMAND, 2, 0), 2);
    assert_int_equal(cfg_read(ctx, PCI_COMMAND, 2), 0);
    ctx_free(ctx);
}

static void
test_pci_status_write_one_to_clear(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    vfu_pci_hdr_t *hdr = &vfu_pci_get_config_space(ctx)->hdr;
    struct pmcap pm = { .hdr.id = PCI_CAP_ID_PM };

    (void)state;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &pm), 0x40);
    hdr->sts.raw |= PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_DETECTED_PARITY;

    assert_int_equal(cfg_write(ctx, PCI_STATUS, 2, 0), 2);
    assert_int_equal(cfg_read(ctx, PCI_STATUS, 2),
                     PCI_STATUS_CAP_LIST | PCI_STATUS_REC_MASTER_ABORT |
                         PCI_STATUS_DETECTED_PARITY);
    assert_int_equal(cfg_write(ctx, PCI_STATUS, 2,
                               PCI_STATUS_REC_MASTER_ABORT |
                                   PCI_STATUS_CAP_LIST),
                     2);
    assert_int_equal(cfg_read(ctx, PCI_STATUS, 2),
                     PCI_STATUS_CAP_LIST | PCI_STATUS_DETECTED_PARITY);
    ctx_free(ctx);
}

static void
test_pci_header_write_spanning_registers(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    uint8_t in[8] = { 0x10, 0x20, 0x80, 0x40, 0xaa, 0xbb, 0xcc, 0xdd };
    uint8_t out[8];

    (void)state;
    /* cache line, latency, header type (RO), BIST (RO), BAR0 (unused) */
    assert_int_equal(pci_config_access(ctx, (char *)in, sizeof(in),
                                       PCI_CACHE_LINE_SIZE, true),
                     8);
    assert_int_equal(pci_config_access(ctx, (char *)out, sizeof(out),
                                       PCI_CACHE_LINE_SIZE, false),
                     8);
    assert_int_equal(out[0], 0x10);
    assert_int_equal(out[1], 0x20);
    assert_int_equal(out[2], 0);
    assert_int_equal(out[3], 0);
    assert_int_equal(cfg_read(ctx, PCI_BASE_ADDRESS_0, 4), 0);

    /* interrupt line is writable, pin is not */
    assert_int_equal(cfg_write(ctx, PCI_INTERRUPT_LINE, 2, 0x010b), 2);
    assert_int_equal(cfg_read(ctx, PCI_INTERRUPT_LINE, 2), 0x000b);
    ctx_free(ctx);
}

/* ------------------------------------------------------------------ */
/* BARs                                                                */
/* ------------------------------------------------------------------ */

static uint32_t
size_bar(vfu_ctx_t *ctx, unsigned int off)
{
    assert_int_equal(cfg_write(ctx, off, 4, 0xffffffff), 4);
    return cfg_read(ctx, off, 4);
}

static void
test_pci_bar_sizing_32bit_mem(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();

    (void)state;
    set_region(ctx, 0, 0x1000, VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM,
               NULL);
    set_region(ctx, 1, 0x100000,
               VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM |
                   VFU_REGION_FLAG_PREFETCH,
               NULL);
    realize(ctx);
    assert_int_equal(cfg_read(ctx, PCI_BASE_ADDRESS_0, 4), 0);
    assert_int_equal(cfg_read(ctx, PCI_BASE_ADDRESS_1, 4),
                     PCI_BASE_ADDRESS_MEM_PREFETCH);

    assert_int_equal(size_bar(ctx, PCI_BASE_ADDRESS_0), 0xfffff000);
    assert_int_equal(size_bar(ctx, PCI_BASE_ADDRESS_1), 0xfff00008);

    /* programming an address keeps the type bits and drops low bits */
    assert_int_equal(cfg_write(ctx, PCI_BASE_ADDRESS_0, 4, 0xfebf1234), 4);
    assert_int_equal(cfg_read(ctx, PCI_BASE_ADDRESS_0, 4), 0xfebf1000);
    /* two 16-bit halves make one address */
    assert_int_equal(cfg_write(ctx, PCI_BASE_ADDRESS_0, 2, 0x0000), 2);
    assert_int_equal(cfg_write(ctx, PCI_BASE_ADDRESS_0 + 2, 2, 0xe000), 2);
    assert_int_equal(cfg_read(ctx, PCI_BASE_ADDRESS_0, 4), 0xe0000000);
    ctx_free(ctx);
}

static void
test_pci_bar_sizing_io(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();

    (void)state;
    set_region(ctx, 2, 0x100, VFU_REGION_FLAG_RW, NULL);
    realize(ctx);
    assert_int_equal(cfg_read(ctx, PCI_BASE_ADDRESS_2, 4),
                     PCI_BASE_ADDRESS_SPACE_IO);
    assert_int_equal(size_bar(ctx, PCI_BASE_ADDRESS_2), 0xffffff01);
    assert_int_equal(cfg_write(ctx, PCI_BASE_ADDRESS_2, 4, 0xc0fe), 4);
    assert_int_equal(cfg_read(ctx, PCI_BASE_ADDRESS_2, 4), 0xc001);
    ctx_free(ctx);
}

static void
test_pci_bar_sizing_64bit_pair(void **state)
{
    vfu_ctx_t *ctx = express_ctx();
    const int f64 = VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM |
                    VFU_REGION_FLAG_64_BITS;
    uint64_t lo, hi;

    (void)state;
    set_region(ctx, 0, 0x100000, f64, NULL);                       /* 1 MiB */
    set_region(ctx, 2, 0x200000000ull, f64 | VFU_REGION_FLAG_PREFETCH,
               NULL);                                              /* 8 GiB */
    realize(ctx);

    assert_int_equal(cfg_read(ctx, PCI_BASE_ADDRESS_0, 4),
                     PCI_BASE_ADDRESS_MEM_TYPE_64);
    assert_int_equal(cfg_read(ctx, PCI_BASE_ADDRESS_1, 4), 0);

    /* below 4 GiB the upper half is all address bits */
    lo = size_bar(ctx, PCI_BASE_ADDRESS_0);
    hi = size_bar(ctx, PCI_BASE_ADDRESS_1);
    assert_int_equal(lo, 0xfff00004);
    assert_int_equal(hi, 0xffffffff);
    assert_int_equal(~((hi << 32) | (lo & ~0xfull)) + 1, 0x100000);

    lo = size_bar(ctx, PCI_BASE_ADDRESS_2);
    hi = size_bar(ctx, PCI_BASE_ADDRESS_3);
    assert_int_equal(lo, 0x0000000c);
    assert_int_equal(hi, 0xfffffffe);
    assert_int_equal(~((hi << 32) | (lo & ~0xfull)) + 1, 0x200000000ull);

    /* an address above 4 GiB */
    assert_int_equal(cfg_write(ctx, PCI_BASE_ADDRESS_3, 4, 0x12345678), 4);
    assert_int_equal(cfg_read(ctx, PCI_BASE_ADDRESS_3, 4), 0x12345678);
    ctx_free(ctx);
}

static void
test_pci_bar_unused_reads_zero(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    int i;

    (void)state;
    realize(ctx);
    for (i = 0; i < PCI_BARS_NR; i++) {
        /* the buffer keeps libvfio-user's I/O bit, the client sees 0 */
        assert_int_equal(vfu_pci_get_config_space(ctx)->hdr.bars[i].raw,
                         PCI_BASE_ADDRESS_SPACE_IO);
        assert_int_equal(size_bar(ctx, PCI_BASE_ADDRESS_0 + 4 * i), 0);
    }
    assert_int_equal(size_bar(ctx, PCI_ROM_ADDRESS), 0);
    ctx_free(ctx);
}

static void
test_pci_rom_bar_sizing(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();

    (void)state;
    set_region(ctx, VFU_PCI_DEV_ROM_REGION_IDX, 0x10000,
               VFU_REGION_FLAG_READ, NULL);
    realize(ctx);
    assert_int_equal(size_bar(ctx, PCI_ROM_ADDRESS), 0xffff0001);
    assert_int_equal(cfg_write(ctx, PCI_ROM_ADDRESS, 4,
                               (uint32_t)PCI_ROM_ADDRESS_MASK),
                     4);
    assert_int_equal(cfg_read(ctx, PCI_ROM_ADDRESS, 4), 0xffff0000);
    assert_int_equal(cfg_write(ctx, PCI_ROM_ADDRESS, 4, 0xfeb00001), 4);
    assert_int_equal(cfg_read(ctx, PCI_ROM_ADDRESS, 4), 0xfeb00001);
    ctx_free(ctx);
}

/* ------------------------------------------------------------------ */
/* Realize                                                             */
/* ------------------------------------------------------------------ */

static void
test_pci_realize_default_config(void **state)
{
    vfu_ctx_t *ctx = ctx_new();
    const vfu_region_t *reg = &ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX];

    (void)state;
    set_region(ctx, 4, 0x4000,
               VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM |
                   VFU_REGION_FLAG_64_BITS,
               NULL);
    realize(ctx);
    assert_non_null(vfu_pci_get_config_space(ctx));
    assert_int_equal(reg->size, PCI_CFG_SPACE_SIZE);
    assert_int_equal(reg->flags, VFU_REGION_FLAG_RW);
    assert_int_equal(vfu_pci_get_config_space(ctx)->hdr.bars[4].raw,
                     PCI_BASE_ADDRESS_MEM_TYPE_64);
    /* the upper half of the pair gets no type bits */
    assert_int_equal(vfu_pci_get_config_space(ctx)->hdr.bars[5].raw, 0);

    pci_set_intx_pin(ctx, false);
    assert_int_equal(cfg_read(ctx, PCI_INTERRUPT_PIN, 1), 0);
    pci_set_intx_pin(ctx, true);
    assert_int_equal(cfg_read(ctx, PCI_INTERRUPT_PIN, 1), 1);
    ctx_free(ctx);
}

static void
test_pci_realize_device_sized_cfg_region(void **state)
{
    vfu_ctx_t *ctx = ctx_new();
    struct dsncap dsn = { .hdr.id = PCI_EXT_CAP_ID_DSN };

    (void)state;
    set_region(ctx, VFU_PCI_DEV_CFG_REGION_IDX, PCI_CFG_SPACE_EXP_SIZE,
               VFU_REGION_FLAG_RW, NULL);
    realize(ctx);
    assert_int_equal(ctx->pci->size, PCI_CFG_SPACE_EXP_SIZE);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED,
                                            &dsn),
                     PCI_CFG_SPACE_SIZE);
    ctx_free(ctx);

    /* region.c refuses such a size; pci_realize() checks it anyway */
    ctx = ctx_new();
    errno = 0;
    assert_int_equal(vfu_setup_region(ctx, VFU_PCI_DEV_CFG_REGION_IDX, 0x200,
                                      NULL, VFU_REGION_FLAG_RW, NULL, 0, -1,
                                      0),
                     -1);
    assert_int_equal(errno, EINVAL);
    ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX].size = 0x200;
    assert_int_equal(pci_realize(ctx), -EINVAL);
    ctx_free(ctx);
}

/* ------------------------------------------------------------------ */
/* The libvfio-user lspci sample                                       */
/* ------------------------------------------------------------------ */

/*
 * libvfio-user's samples/lspci.c builds this device and pipes its config
 * space to `lspci -vv -F`; test/lspci.expected.out.* hold the decoded
 * result.  These are the bytes behind that output (checked once against
 * lspci 3.9): every run not listed is zero.
 */
static const struct {
    uint16_t off;
    uint8_t len;
    uint8_t bytes[16];
} lspci_expected[] = {
    /* status: capability list */
    { 0x06, 1, { 0x10 } },
    /* six unused BARs with the I/O type bit, as libvfio-user leaves them */
    { 0x10, 16, { 0x01, 0, 0, 0, 0x01, 0, 0, 0, 0x01, 0, 0, 0, 0x01 } },
    { 0x20, 5, { 0x01, 0, 0, 0, 0x01 } },
    /* capability pointer */
    { 0x34, 1, { 0x40 } },
    /* PM at 0x40 -> 0x48, NoSoftRst+ */
    { 0x40, 5, { 0x01, 0x48, 0x00, 0x00, 0x08 } },
    /* vendor-specific at 0x48 -> 0x58, 16 bytes, "abcdefgh" */
    { 0x48, 11, { 0x09, 0x58, 0x10, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h' } },
    /* PCI Express v0 endpoint at 0x58, end of list, FLR capable */
    { 0x58, 8, { 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10 } },
    /* DSN at 0x100 -> 0x10c, ca-fe-ba-be-de-ad-be-ef */
    { 0x100, 12,
      { 0x03, 0x00, 0xc0, 0x10, 0xef, 0xbe, 0xad, 0xde, 0xbe, 0xba, 0xfe,
        0xca } },
    /* vendor-specific extended at 0x10c -> 0x400: ID 1, rev 1, len 0x15 */
    { 0x10c, 8, { 0x0b, 0x00, 0x00, 0x40, 0x01, 0x00, 0x51, 0x01 } },
    /* vendor-specific extended at 0x400, end: ID 2, rev 2, len 0x15 */
    { 0x400, 8, { 0x0b, 0x00, 0x00, 0x00, 0x02, 0x00, 0x52, 0x01 } },
};

static void
test_pci_lspci_sample_layout(void **state)
{
    uint8_t vsc_buf[sizeof(struct vsc) + 0xd];
    uint8_t evsc_buf[sizeof(struct pcie_ext_cap_vsc_hdr) + 0xd];
    struct vsc *vsc = (struct vsc *)vsc_buf;
    struct pcie_ext_cap_vsc_hdr *evsc = (void *)evsc_buf;
    struct dsncap dsn = { .hdr.id = PCI_EXT_CAP_ID_DSN,
                          .sn_lo = 0xdeadbeef,
                          .sn_hi = 0xcafebabe };
    struct pmcap pm = { .hdr.id = PCI_CAP_ID_PM, .pmcs.nsfrst = 0x1 };
    struct pxcap px = { .hdr.id = PCI_CAP_ID_EXP, .pxdcap = { .flrc = 0x1 } };
    uint8_t expected[PCI_CFG_SPACE_EXP_SIZE] = { 0 };
    uint8_t seen[PCI_CFG_SPACE_EXP_SIZE];
    vfu_ctx_t *ctx = express_ctx();
    size_t i;

    (void)state;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &pm), 0x40);

    memset(vsc_buf, 0, sizeof(vsc_buf));
    vsc->hdr.id = PCI_CAP_ID_VNDR;
    vsc->size = 0x10;
    memcpy(vsc->data, "abcdefgh", 8);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, vsc), 0x48);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &px), 0x58);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED,
                                            &dsn),
                     0x100);

    memset(evsc_buf, 0, sizeof(evsc_buf));
    evsc->hdr.id = PCI_EXT_CAP_ID_VNDR;
    evsc->id = 1;
    evsc->rev = 1;
    evsc->len = sizeof(evsc_buf);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED,
                                            evsc),
                     0x10c);
    evsc->id = 2;
    evsc->rev = 2;
    assert_int_equal(vfu_pci_add_capability(ctx, 0x400,
                                            VFU_CAP_FLAG_EXTENDED, evsc),
                     0x400);
    realize(ctx);

    for (i = 0; i < sizeof(lspci_expected) / sizeof(lspci_expected[0]); i++) {
        memcpy(expected + lspci_expected[i].off, lspci_expected[i].bytes,
               lspci_expected[i].len);
    }
    assert_memory_equal(cfg_bytes(ctx), expected, sizeof(expected));

    /* the client sees the same bytes, except that unused BARs read 0 */
    assert_int_equal(pci_config_access(ctx, (char *)seen, sizeof(seen), 0,
                                       false),
                     sizeof(seen));
    memset(expected + PCI_BASE_ADDRESS_0, 0, 4 * PCI_BARS_NR);
    assert_memory_equal(seen, expected, sizeof(expected));
    ctx_free(ctx);
}

/* ------------------------------------------------------------------ */
/* Adding capabilities                                                 */
/* ------------------------------------------------------------------ */

static void
test_pci_cap_auto_placement_and_list(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    uint8_t vsc[6] = { PCI_CAP_ID_VNDR, 0xee, sizeof(vsc), 'a', 'b', 'c' };
    struct pmcap pm = { .hdr.id = PCI_CAP_ID_PM, .hdr.next = 0x99 };
    struct msixcap msix = { .hdr.id = PCI_CAP_ID_MSIX };
    uint8_t *cfg = cfg_bytes(ctx);

    (void)state;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &pm), 0x40);
    assert_int_equal(cfg[PCI_CAPABILITY_LIST], 0x40);
    assert_true(cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST);
    /* the caller's next pointer is not trusted */
    assert_int_equal(cfg[0x41], 0);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, vsc), 0x48);
    /* six bytes, so the next one is rounded up to a dword */
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, vsc), 0x50);
    assert_int_equal(vfu_pci_add_capability(ctx, 0x80, 0, &msix), 0x80);
    /* automatic placement goes after the highest one */
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, vsc), 0x8c);
    /* explicit placement into the gap is linked at the tail */
    assert_int_equal(vfu_pci_add_capability(ctx, 0x60, 0, &pm), 0x60);

    assert_int_equal(cfg[0x41], 0x48);
    assert_int_equal(cfg[0x49], 0x50);
    assert_int_equal(cfg[0x51], 0x80);
    assert_int_equal(cfg[0x81], 0x8c);
    assert_int_equal(cfg[0x8d], 0x60);
    assert_int_equal(cfg[0x61], 0);
    assert_memory_equal(cfg + 0x8e, "\x06" "abc", 4);
    ctx_free(ctx);
}

static void
test_pci_cap_msi_sizes(void **state)
{
    static const struct {
        uint16_t flags;
        size_t size;
    } cases[] = {
        { 0, 0x0a },
        { PCI_MSI_FLAGS_64BIT, 0x0e },
        { PCI_MSI_FLAGS_MASKBIT, 0x14 },
        { PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT, 0x18 },
    };
    uint8_t vsc[4] = { PCI_CAP_ID_VNDR, 0, 4, 0 };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vfu_ctx_t *ctx = conventional_ctx();
        uint8_t msi[VFIO_USER_PCI_CAP_MSI_SIZEOF];

        memset(msi, 0x5a, sizeof(msi));
        msi[0] = PCI_CAP_ID_MSI;
        msi[PCI_MSI_FLAGS] = (uint8_t)cases[i].flags;
        msi[PCI_MSI_FLAGS + 1] = (uint8_t)(cases[i].flags >> 8);
        assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, msi), 0x40);
        /* 24 bytes of config space whatever the layout, as libvfio-user */
        assert_int_equal(ctx->pci->caps[0].size,
                         VFIO_USER_PCI_CAP_MSI_SIZEOF);
        assert_int_equal(ctx->pci->caps[0].data_size, cases[i].size);
        /* only the layout's own bytes were copied */
        assert_int_equal(cfg_bytes(ctx)[0x40 + cases[i].size - 1], 0x5a);
        assert_int_equal(cfg_bytes(ctx)[0x40 + cases[i].size], 0);
        assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, vsc),
                         0x40 + VFIO_USER_PCI_CAP_MSI_SIZEOF);
        ctx_free(ctx);
    }
}

static void
test_pci_cap_sizes_by_id(void **state)
{
    vfu_ctx_t *ctx = express_ctx();
    struct pxcap px = { .hdr.id = PCI_CAP_ID_EXP };
    struct msixcap msix = { .hdr.id = PCI_CAP_ID_MSIX };
    struct pmcap pm = { .hdr.id = PCI_CAP_ID_PM };

    (void)state;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &px), 0x40);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &msix), 0x7c);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &pm), 0x88);
    assert_int_equal(ctx->pci->exp_off, 0x40);
    ctx_free(ctx);
}

static void
test_pci_cap_bad_position(void **state)
{
    vfu_ctx_t *ctx = express_ctx();
    struct pmcap pm = { .hdr.id = PCI_CAP_ID_PM };
    size_t bad[] = { 0x3c, 0x42, 0xfc, 0x100, 0x200, SIZE_MAX - 3 };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errno = 0;
        assert_int_equal(vfu_pci_add_capability(ctx, bad[i], 0, &pm), -1);
        assert_int_equal(errno, EINVAL);
    }
    /* a capability may end exactly at the end of the standard space */
    assert_int_equal(vfu_pci_add_capability(ctx, 0xf8, 0, &pm), 0xf8);
    assert_int_equal(vfu_pci_add_capability(ctx, 0x80, 0, &pm), 0x80);
    /* overlapping an existing one, from either side */
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0x84, 0, &pm), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0x7c, 0, &pm), -1);
    assert_int_equal(errno, EINVAL);
    /* adjacent is fine */
    assert_int_equal(vfu_pci_add_capability(ctx, 0x78, 0, &pm), 0x78);
    /* nothing fits after 0xf8 + 8 */
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &pm), -1);
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(ctx->pci->nr_caps, 3);
    ctx_free(ctx);
}

static void
test_pci_cap_bad_args(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    struct pmcap pm = { .hdr.id = PCI_CAP_ID_PM };
    uint8_t unknown[8] = { 0x81 };
    uint8_t short_vsc[4] = { PCI_CAP_ID_VNDR, 0, 2, 0 };
    vfu_ctx_t *bare = ctx_new();

    (void)state;
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 999, &pm), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, unknown), -1);
    assert_int_equal(errno, ENOTSUP);
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, short_vsc), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, NULL), -1);
    assert_int_equal(errno, EINVAL);
    /* a callback capability needs a config region callback */
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_CALLBACK,
                                            &pm),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* no config space yet */
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(bare, 0, 0, &pm), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(ctx->pci->nr_caps, 0);
    assert_int_equal(cfg_bytes(ctx)[PCI_CAPABILITY_LIST], 0);
    ctx_free(bare);
    ctx_free(ctx);
}

static void
test_pci_ext_cap_on_conventional_rejected(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    struct dsncap dsn = { .hdr.id = PCI_EXT_CAP_ID_DSN };

    (void)state;
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED,
                                            &dsn),
                     -1);
    assert_int_equal(errno, EINVAL);
    /* nor can the client reach past 256 bytes */
    assert_int_equal(cfg_write(ctx, PCI_CFG_SPACE_SIZE, 4, 0), -EINVAL);
    ctx_free(ctx);
}

static void
test_pci_ext_cap_placement(void **state)
{
    vfu_ctx_t *ctx = express_ctx();
    struct dsncap dsn = { .hdr.id = PCI_EXT_CAP_ID_DSN, .hdr.next = 0xfff };
    uint8_t unknown[8] = { 0x99, 0x00 };
    uint8_t bad_len[8] = { PCI_EXT_CAP_ID_VNDR, 0, 0, 0, 0, 0, 0x40, 0 };

    (void)state;
    /* the first one must be at 0x100 */
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0x200,
                                            VFU_CAP_FLAG_EXTENDED, &dsn),
                     -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED,
                                            unknown),
                     -1);
    assert_int_equal(errno, ENOTSUP);
    /* vendor-specific length 4 is shorter than its 8-byte header */
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED,
                                            bad_len),
                     -1);
    assert_int_equal(errno, EINVAL);

    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED,
                                            &dsn),
                     0x100);
    assert_int_equal(pci_get32(cfg_bytes(ctx) + 0x100), PCI_EXT_CAP_ID_DSN);
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0x108,
                                            VFU_CAP_FLAG_EXTENDED, &dsn),
                     -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, PCI_CFG_SPACE_EXP_SIZE - 8,
                                            VFU_CAP_FLAG_EXTENDED, &dsn),
                     -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(vfu_pci_add_capability(ctx, PCI_CFG_SPACE_EXP_SIZE - 12,
                                            VFU_CAP_FLAG_EXTENDED, &dsn),
                     PCI_CFG_SPACE_EXP_SIZE - 12);
    assert_int_equal(pci_get32(cfg_bytes(ctx) + 0x100) >> 20,
                     PCI_CFG_SPACE_EXP_SIZE - 12);
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED,
                                            &dsn),
                     -1);
    assert_int_equal(errno, ENOSPC);
    ctx_free(ctx);
}

static void
test_pci_cap_count_limits(void **state)
{
    vfu_ctx_t *ctx = express_ctx();
    struct dsncap dsn = { .hdr.id = PCI_EXT_CAP_ID_DSN };
    uint8_t vsc[4] = { PCI_CAP_ID_VNDR, 0, 4, 0 };
    int i;

    (void)state;
    /* 128 extended capabilities, then ENOSPC although room is left */
    for (i = 0; i < PCI_MAX_CAPS; i++) {
        assert_int_equal(vfu_pci_add_capability(ctx, 0,
                                                VFU_CAP_FLAG_EXTENDED, &dsn),
                         0x100 + 12 * i);
    }
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED,
                                            &dsn),
                     -1);
    assert_int_equal(errno, ENOSPC);

    /* standard space fills up at 48 four-byte capabilities */
    for (i = 0; i < 48; i++) {
        assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, vsc), 0x40 + 4 * i);
    }
    errno = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, vsc), -1);
    assert_int_equal(errno, ENOSPC);
    ctx_free(ctx);
}

/* ------------------------------------------------------------------ */
/* Finding capabilities                                                */
/* ------------------------------------------------------------------ */

static void
test_pci_find_capability(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    uint8_t vsc[6] = { PCI_CAP_ID_VNDR, 0, sizeof(vsc), 'x', 'y', 'z' };
    struct pmcap pm = { .hdr.id = PCI_CAP_ID_PM };

    (void)state;
    errno = 0;
    assert_int_equal(vfu_pci_find_capability(ctx, false, PCI_CAP_ID_PM), 0);
    assert_int_equal(errno, ENOENT);

    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &pm), 0x40);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, vsc), 0x48);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, vsc), 0x50);
    assert_int_equal(vfu_pci_add_capability(ctx, 0xa0, 0, vsc), 0xa0);

    assert_int_equal(vfu_pci_find_capability(ctx, false, PCI_CAP_ID_PM), 0x40);
    assert_int_equal(vfu_pci_find_capability(ctx, false, PCI_CAP_ID_VNDR),
                     0x48);
    assert_int_equal(vfu_pci_find_next_capability(ctx, false, 0x48,
                                                  PCI_CAP_ID_VNDR),
                     0x50);
    assert_int_equal(vfu_pci_find_next_capability(ctx, false, 0x50,
                                                  PCI_CAP_ID_VNDR),
                     0xa0);
    errno = 0;
    assert_int_equal(vfu_pci_find_next_capability(ctx, false, 0xa0,
                                                  PCI_CAP_ID_VNDR),
                     0);
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_int_equal(vfu_pci_find_next_capability(ctx, false, 0x40,
                                                  PCI_CAP_ID_PM),
                     0);
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_int_equal(vfu_pci_find_capability(ctx, false, PCI_CAP_ID_MSI), 0);
    assert_int_equal(errno, ENOENT);

    /* in range but not a capability: nothing follows it */
    errno = 0;
    assert_int_equal(vfu_pci_find_next_capability(ctx, false, 0x49,
                                                  PCI_CAP_ID_VNDR),
                     0);
    assert_int_equal(errno, ENOENT);
    /* out of range */
    errno = 0;
    assert_int_equal(vfu_pci_find_next_capability(ctx, false, 0xff,
                                                  PCI_CAP_ID_PM),
                     0);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(vfu_pci_find_next_capability(ctx, false, 8192,
                                                  PCI_CAP_ID_PM),
                     0);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(vfu_pci_find_next_capability(ctx, false, 0x10,
                                                  PCI_CAP_ID_PM),
                     0);
    assert_int_equal(errno, EINVAL);
    /* extended on a 256-byte space: nothing there */
    errno = 0;
    assert_int_equal(vfu_pci_find_capability(ctx, true, PCI_EXT_CAP_ID_DSN),
                     0);
    assert_int_equal(errno, ENOENT);
    ctx_free(ctx);
}

static void
test_pci_find_capability_corrupt_list(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    struct pmcap pm = { .hdr.id = PCI_CAP_ID_PM };

    (void)state;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &pm), 0x40);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &pm), 0x48);
    /* the device points the last one back at the first: a loop */
    cfg_bytes(ctx)[0x49] = 0x40;
    errno = 0;
    assert_int_equal(vfu_pci_find_capability(ctx, false, PCI_CAP_ID_MSI), 0);
    assert_int_equal(errno, EINVAL);
    /* or into the header */
    cfg_bytes(ctx)[0x49] = 0x08;
    errno = 0;
    assert_int_equal(vfu_pci_find_capability(ctx, false, PCI_CAP_ID_MSI), 0);
    assert_int_equal(errno, EINVAL);
    ctx_free(ctx);
}

static void
test_pci_find_ext_capability(void **state)
{
    vfu_ctx_t *ctx = express_ctx();
    struct dsncap dsn = { .hdr.id = PCI_EXT_CAP_ID_DSN };
    uint8_t evsc[12] = { PCI_EXT_CAP_ID_VNDR, 0, 0, 0, 0x1a, 0, 0xc0, 0 };

    (void)state;
    errno = 0;
    assert_int_equal(vfu_pci_find_capability(ctx, true, PCI_EXT_CAP_ID_DSN),
                     0);
    assert_int_equal(errno, ENOENT);

    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED,
                                            &dsn),
                     0x100);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED,
                                            evsc),
                     0x10c);
    assert_int_equal(vfu_pci_add_capability(ctx, 0x200,
                                            VFU_CAP_FLAG_EXTENDED, evsc),
                     0x200);

    assert_int_equal(vfu_pci_find_capability(ctx, true, PCI_EXT_CAP_ID_DSN),
                     0x100);
    assert_int_equal(vfu_pci_find_capability(ctx, true, PCI_EXT_CAP_ID_VNDR),
                     0x10c);
    assert_int_equal(vfu_pci_find_next_capability(ctx, true, 0x10c,
                                                  PCI_EXT_CAP_ID_VNDR),
                     0x200);
    errno = 0;
    assert_int_equal(vfu_pci_find_next_capability(ctx, true, 0x200,
                                                  PCI_EXT_CAP_ID_VNDR),
                     0);
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_int_equal(vfu_pci_find_next_capability(ctx, true, 0x10d,
                                                  PCI_EXT_CAP_ID_DSN),
                     0);
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_int_equal(vfu_pci_find_next_capability(ctx, true, 4095,
                                                  PCI_EXT_CAP_ID_DSN),
                     0);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(vfu_pci_find_next_capability(ctx, true, 0x80,
                                                  PCI_EXT_CAP_ID_DSN),
                     0);
    assert_int_equal(errno, EINVAL);
    ctx_free(ctx);
}

/* ------------------------------------------------------------------ */
/* Access bounds and dispatch                                          */
/* ------------------------------------------------------------------ */

static void
test_pci_access_out_of_range(void **state)
{
    vfu_ctx_t *ctx = express_ctx();
    char buf[16] = { 0 };

    (void)state;
    assert_int_equal(pci_config_access(ctx, buf, 8, UINT64_MAX, false),
                     -EINVAL);
    assert_int_equal(pci_config_access(ctx, buf, 8, UINT64_MAX - 4, true),
                     -EINVAL);
    assert_int_equal(pci_config_access(ctx, buf, SIZE_MAX, 8, false),
                     -EINVAL);
    assert_int_equal(pci_config_access(ctx, buf, 16, 4090, false), -EINVAL);
    assert_int_equal(pci_config_access(ctx, buf, 1, 4096, false), -EINVAL);
    assert_int_equal(pci_config_access(ctx, buf, 0, 4097, false), -EINVAL);
    assert_int_equal(pci_config_access(ctx, buf, 6, 4090, false), 6);
    assert_int_equal(pci_config_access(ctx, buf, 0, 0, false), 0);
    assert_int_equal(pci_config_access(NULL, buf, 4, 0, false), -EINVAL);
    ctx_free(ctx);

    ctx = ctx_new(); /* never initialized nor realized */
    assert_int_equal(pci_config_access(ctx, buf, 4, 0, false), -EINVAL);
    ctx_free(ctx);
}

static void
test_pci_access_whole_space(void **state)
{
    vfu_ctx_t *ctx = express_ctx();
    struct pmcap pm = { .hdr.id = PCI_CAP_ID_PM };
    static uint8_t buf[PCI_CFG_SPACE_EXP_SIZE];

    (void)state;
    vfu_pci_set_id(ctx, 0x1234, 0x5678, 0, 0);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &pm), 0x40);
    realize(ctx);
    /* one read across header, capability and plain space */
    assert_int_equal(pci_config_access(ctx, (char *)buf, sizeof(buf), 0,
                                       false),
                     sizeof(buf));
    assert_int_equal(pci_get32(buf), 0x56781234);
    assert_int_equal(buf[0x40], PCI_CAP_ID_PM);
    /* one write of zeros across everything: refused at the PM header */
    memset(buf, 0, sizeof(buf));
    assert_int_equal(pci_config_access(ctx, (char *)buf, sizeof(buf), 0,
                                       true),
                     -EPERM);
    /* the header part before it was applied, the IDs kept */
    assert_int_equal(cfg_read(ctx, PCI_VENDOR_ID, 4), 0x56781234);
    ctx_free(ctx);
}

static void
test_pci_callback_gap_forwarding(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    struct pmcap pm = { .hdr.id = PCI_CAP_ID_PM };
    uint8_t buf[0x20];

    (void)state;
    cb_reset();
    set_region(ctx, VFU_PCI_DEV_CFG_REGION_IDX, PCI_CFG_SPACE_SIZE,
               VFU_REGION_FLAG_RW, cfg_cb);
    assert_int_equal(vfu_pci_add_capability(ctx, 0x50, 0, &pm), 0x50);

    /* 0x40..0x50 is the device's, 0x50..0x58 is ours, 0x58.. the device's */
    assert_int_equal(pci_config_access(ctx, (char *)buf, sizeof(buf), 0x40,
                                       false),
                     sizeof(buf));
    assert_int_equal(cb_calls, 2);
    assert_int_equal(buf[0], 0xcc);
    assert_int_equal(buf[0x10], PCI_CAP_ID_PM);
    assert_int_equal(buf[0x18], 0xcc);
    assert_int_equal(cb_last_off, 0x58);
    assert_int_equal(cb_last_count, 8);

    /* the header never reaches the callback */
    cb_calls = 0;
    cfg_read(ctx, PCI_VENDOR_ID, 4);
    assert_int_equal(cb_calls, 0);

    assert_int_equal(cfg_write(ctx, 0xf0, 4, 0x11223344), 4);
    assert_int_equal(pci_get32(cb_space + 0xf0), 0x11223344);

    /* a failing callback's errno comes back */
    cb_fail_errno = EIO;
    assert_int_equal(cfg_write(ctx, 0xf0, 4, 0), -EIO);
    cb_fail_errno = ENOSPC;
    assert_int_equal(pci_config_access(ctx, (char *)buf, 4, 0x80, false),
                     -ENOSPC);

    /* a callback that does nothing, or claims too much, is an error */
    cb_fail_errno = 0;
    cb_bogus_ret = 1; /* returns 0 */
    assert_int_equal(pci_config_access(ctx, (char *)buf, 4, 0x80, false),
                     -EIO);
    cb_bogus_ret = 6; /* returns 5 for 4 bytes */
    assert_int_equal(pci_config_access(ctx, (char *)buf, 4, 0x80, false),
                     -EIO);
    /* a short one is called again for the rest */
    cb_calls = 0;
    cb_bogus_ret = 3; /* returns 2 */
    assert_int_equal(pci_config_access(ctx, (char *)buf, 4, 0x80, false),
                     4);
    assert_int_equal(cb_calls, 2);
    assert_int_equal(cb_last_off, 0x82);
    ctx_free(ctx);
}

static void
test_pci_gap_without_callback(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();

    (void)state;
    cfg_bytes(ctx)[0xe0] = 0x5a; /* the device's own register */
    assert_int_equal(cfg_read(ctx, 0xe0, 1), 0x5a);
    /* no callback: the write is discarded, as for reserved registers */
    assert_int_equal(cfg_write(ctx, 0xe0, 4, 0xffffffff), 4);
    assert_int_equal(cfg_read(ctx, 0xe0, 4), 0x5a);
    ctx_free(ctx);
}

static void
test_pci_always_cb(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();

    (void)state;
    cb_reset();
    set_region(ctx, VFU_PCI_DEV_CFG_REGION_IDX, PCI_CFG_SPACE_SIZE,
               VFU_REGION_FLAG_RW | VFU_REGION_FLAG_ALWAYS_CB, cfg_cb);
    vfu_pci_set_id(ctx, 0x1111, 0x2222, 0, 0);
    assert_int_equal(cfg_read(ctx, PCI_VENDOR_ID, 2), 0xcccc);
    assert_int_equal(cfg_write(ctx, PCI_VENDOR_ID, 4, 0x12345678), 4);
    assert_int_equal(pci_get32(cb_space), 0x12345678);
    assert_int_equal(cb_calls, 2);
    assert_int_equal(cfg_write(ctx, PCI_CFG_SPACE_SIZE - 2, 4, 0), -EINVAL);
    assert_int_equal(cb_calls, 2);
    ctx_free(ctx);
}

/* ------------------------------------------------------------------ */
/* Capability writes                                                   */
/* ------------------------------------------------------------------ */

static void
test_pci_cap_flags_readonly_and_callback(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    uint8_t vsc[8] = { PCI_CAP_ID_VNDR, 0, 8, 'a', 'b', 'c', 'd', 'e' };

    (void)state;
    cb_reset();
    set_region(ctx, VFU_PCI_DEV_CFG_REGION_IDX, PCI_CFG_SPACE_SIZE,
               VFU_REGION_FLAG_RW, cfg_cb);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_READONLY,
                                            vsc),
                     0x40);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_CALLBACK,
                                            vsc),
                     0x48);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, vsc), 0x50);

    assert_int_equal(cfg_write(ctx, 0x43, 1, 'z'), -EPERM);
    assert_int_equal(cfg_read(ctx, 0x43, 1), 'a');

    cb_space[0x4b] = 'q';
    assert_int_equal(cfg_read(ctx, 0x4b, 1), 'q');
    assert_int_equal(cfg_write(ctx, 0x4b, 1, 'r'), 1);
    assert_int_equal(cb_space[0x4b], 'r');
    assert_int_equal(cfg_bytes(ctx)[0x4b], 'a');

    /* plain vendor capability: body writable, header not */
    assert_int_equal(cfg_write(ctx, 0x53, 4, 0x34333231), 4);
    assert_memory_equal(cfg_bytes(ctx) + 0x53, "1234", 4);
    assert_int_equal(cfg_write(ctx, 0x50, 1, PCI_CAP_ID_VNDR), -EPERM);
    assert_int_equal(cfg_write(ctx, 0x52, 1, 0x20), -EPERM);
    assert_int_equal(cfg_read(ctx, 0x52, 1), 8);
    ctx_free(ctx);
}

static void
test_pci_cap_pm_writes(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    struct pmcap pm = { .hdr.id = PCI_CAP_ID_PM, .pmcs.nsfrst = 1 };
    const size_t o = 0x40;

    (void)state;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &pm), o);
    assert_int_equal(cfg_write(ctx, o + 3, 2, 0x0201), -EINVAL);
    assert_int_equal(cfg_write(ctx, o + 2, 1, 0x01), -EINVAL);
    assert_int_equal(cfg_write(ctx, o + 2, 2, 0x0201), -ENOTSUP);
    assert_int_equal(cfg_write(ctx, o + 5, 2, 0x0201), -EINVAL);
    assert_int_equal(cfg_write(ctx, o + 4, 1, 0x01), -EINVAL);
    assert_int_equal(cfg_write(ctx, o + 6, 1, 0x01), -ENOTSUP);
    assert_int_equal(cfg_write(ctx, o + 7, 1, 0x01), -ENOTSUP);

    /* D3hot, PME enable; No_Soft_Reset (read-only) stays */
    assert_int_equal(cfg_write(ctx, o + PCI_PM_CTRL, 2,
                               PCI_PM_CTRL_PME_ENABLE | 3),
                     2);
    assert_int_equal(cfg_read(ctx, o + PCI_PM_CTRL, 2),
                     PCI_PM_CTRL_PME_ENABLE | PCI_PM_CTRL_NO_SOFT_RESET | 3);
    /* PME status is write-one-to-clear */
    cfg_bytes(ctx)[o + PCI_PM_CTRL + 1] |= PCI_PM_CTRL_PME_STATUS >> 8;
    assert_int_equal(cfg_write(ctx, o + PCI_PM_CTRL, 2, 0), 2);
    assert_int_equal(cfg_read(ctx, o + PCI_PM_CTRL, 2),
                     PCI_PM_CTRL_NO_SOFT_RESET | PCI_PM_CTRL_PME_STATUS);
    assert_int_equal(cfg_write(ctx, o + PCI_PM_CTRL, 2,
                               PCI_PM_CTRL_PME_STATUS),
                     2);
    assert_int_equal(cfg_read(ctx, o + PCI_PM_CTRL, 2),
                     PCI_PM_CTRL_NO_SOFT_RESET);
    ctx_free(ctx);
}

static void
test_pci_cap_msi_writes(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    uint8_t msi[VFIO_USER_PCI_CAP_MSI_SIZEOF] = { PCI_CAP_ID_MSI };
    uint8_t zeros[22] = { 0 };
    const size_t o = 0x40;

    (void)state;
    /* 16 vectors capable, 64-bit, per-vector masking */
    pci_put16(msi + PCI_MSI_FLAGS, (4 << 1) | PCI_MSI_FLAGS_64BIT |
                                       PCI_MSI_FLAGS_MASKBIT);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, msi), o);

    assert_int_equal(cfg_write(ctx, o + PCI_MSI_FLAGS, 2, 0xffff), -EINVAL);
    assert_int_equal(cfg_write(ctx, o + PCI_MSI_FLAGS, 2, 5 << 4), -EINVAL);
    assert_int_equal(cfg_read(ctx, o + PCI_MSI_FLAGS, 2),
                     (4 << 1) | PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);
    assert_int_equal(cfg_write(ctx, o + PCI_MSI_FLAGS, 2,
                               PCI_MSI_FLAGS_ENABLE | (4 << 4)),
                     2);
    assert_int_equal(cfg_read(ctx, o + PCI_MSI_FLAGS, 2),
                     PCI_MSI_FLAGS_ENABLE | (4 << 4) | (4 << 1) |
                         PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);

    assert_int_equal(cfg_write(ctx, o + PCI_MSI_ADDRESS_LO, 4, 0xfee00003),
                     4);
    assert_int_equal(cfg_write(ctx, o + PCI_MSI_ADDRESS_HI, 4, 0x1), 4);
    assert_int_equal(cfg_write(ctx, o + PCI_MSI_DATA_64, 2, 0x4041), 2);
    assert_int_equal(cfg_write(ctx, o + PCI_MSI_MASK_64, 4, 0xa5), 4);
    assert_int_equal(cfg_write(ctx, o + PCI_MSI_PENDING_64, 4, 0xff), 4);
    assert_int_equal(cfg_read(ctx, o + PCI_MSI_ADDRESS_LO, 4), 0xfee00000);
    assert_int_equal(cfg_read(ctx, o + PCI_MSI_ADDRESS_HI, 4), 1);
    assert_int_equal(cfg_read(ctx, o + PCI_MSI_DATA_64, 2), 0x4041);
    assert_int_equal(cfg_read(ctx, o + PCI_MSI_MASK_64, 4), 0xa5);
    assert_int_equal(cfg_read(ctx, o + PCI_MSI_PENDING_64, 4), 0);

    /* clear everything in one write: capability bits stay */
    assert_int_equal(pci_config_access(ctx, (char *)zeros, sizeof(zeros),
                                       o + PCI_MSI_FLAGS, true),
                     sizeof(zeros));
    assert_int_equal(cfg_read(ctx, o + PCI_MSI_FLAGS, 2),
                     (4 << 1) | PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);
    assert_int_equal(cfg_read(ctx, o + PCI_MSI_ADDRESS_LO, 4), 0);
    ctx_free(ctx);
}

static void
test_pci_cap_msi_32bit_layout(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    uint8_t msi[VFIO_USER_PCI_CAP_MSI_SIZEOF] = { PCI_CAP_ID_MSI };
    const size_t o = 0x40;

    (void)state;
    pci_put16(msi + PCI_MSI_FLAGS, 0); /* one vector, 32-bit, no masking */
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, msi), o);
    assert_int_equal(cfg_write(ctx, o + PCI_MSI_DATA_32, 2, 0x1234), 2);
    assert_int_equal(cfg_read(ctx, o + PCI_MSI_DATA_32, 2), 0x1234);
    assert_int_equal(cfg_write(ctx, o + PCI_MSI_FLAGS, 2, 1 << 4), -EINVAL);
    /* past the 10-byte capability is plain config space */
    assert_int_equal(cfg_write(ctx, o + 0x0a, 2, 0xffff), 2);
    assert_int_equal(cfg_read(ctx, o + 0x0a, 2), 0);
    ctx_free(ctx);
}

/*
 * Regression: the MSI write handler took its layout from the flag bits in
 * the buffer, which the device may change after adding the capability, and
 * wrote past the capability (past the end of a 256-byte space at 0xf4).
 */
static void
test_pci_cap_msi_layout_fixed_at_add(void **state)
{
    uint8_t msi[VFIO_USER_PCI_CAP_MSI_SIZEOF] = { PCI_CAP_ID_MSI };
    uint8_t sentinel[0x10];
    size_t o, i;

    (void)state;
    memset(sentinel, 0x77, sizeof(sentinel));
    /*
     * The bytes after the 10-byte layout must survive, at 0x40 and at the
     * last place a (24-byte, as libvfio-user) MSI capability fits.
     */
    for (o = 0x40; o != 0; o = o == 0x40 ? 0xe8 : 0) {
        vfu_ctx_t *ctx = conventional_ctx();
        uint8_t *cfg = cfg_bytes(ctx);
        size_t tail = PCI_CFG_SPACE_SIZE - (o + 0x0a);

        assert_int_equal(vfu_pci_add_capability(ctx, o, 0, msi), o);
        memcpy(cfg + o + 0x0a, sentinel, tail < 0x10 ? tail : 0x10);
        cfg[o + PCI_MSI_FLAGS] |= PCI_MSI_FLAGS_64BIT;
        cfg[o + PCI_MSI_FLAGS + 1] |= PCI_MSI_FLAGS_MASKBIT >> 8;
        for (i = PCI_MSI_FLAGS; i < 0x0a; i += 2) {
            assert_int_equal(cfg_write(ctx, o + i, 2, 0xab00), 2);
        }
        assert_int_equal(cfg_read(ctx, o + PCI_MSI_DATA_32, 2), 0xab00);
        assert_memory_equal(cfg + o + 0x0a, sentinel,
                            tail < 0x10 ? tail : 0x10);
        ctx_free(ctx);
    }
}

static void
test_pci_cap_msix_writes(void **state)
{
    vfu_ctx_t *ctx = conventional_ctx();
    struct msixcap msix = { .hdr.id = PCI_CAP_ID_MSIX,
                            .mxc.ts = 7,
                            .mtab.tbir = 2,
                            .mpba.pbir = 2,
                            .mpba.pbao = 0x100 };
    const uint16_t both = PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL;
    const size_t o = 0x40;

    (void)state;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &msix), o);
    assert_int_equal(cfg_write(ctx, o + PCI_MSIX_FLAGS, 2, 0xffff), 2);
    assert_int_equal(cfg_read(ctx, o + PCI_MSIX_FLAGS, 2), both | 7);
    assert_int_equal(cfg_write(ctx, o + PCI_MSIX_FLAGS, 2, 0), 2);
    assert_int_equal(cfg_read(ctx, o + PCI_MSIX_FLAGS, 2), 7);
    /* two bytes at message control + 1, as some QEMU versions write */
    assert_int_equal(cfg_write(ctx, o + PCI_MSIX_FLAGS + 1, 2,
                               0xff00 | (both >> 8)),
                     2);
    assert_int_equal(cfg_read(ctx, o + PCI_MSIX_FLAGS, 2), both | 7);
    /* table and PBA locations are read-only */
    assert_int_equal(cfg_read(ctx, o + PCI_MSIX_TABLE, 4), 2);
    assert_int_equal(cfg_write(ctx, o + PCI_MSIX_TABLE, 4, 0), 4);
    assert_int_equal(cfg_read(ctx, o + PCI_MSIX_TABLE, 4), 2);
    assert_int_equal(cfg_read(ctx, o + PCI_MSIX_PBA, 4), 0x802);
    ctx_free(ctx);
}

static void
test_pci_cap_px_flr(void **state)
{
    vfu_ctx_t *ctx = express_ctx();
    struct pxcap px = { .hdr.id = PCI_CAP_ID_EXP, .pxdcap.flrc = 1 };
    const size_t o = 0x40;
    const size_t devctl = o + PCI_EXP_DEVCTL;

    (void)state;
    reset_calls = 0;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &px), o);
    assert_int_equal(vfu_setup_device_reset_cb(ctx, reset_cb), 0);

    assert_true(pci_write_needs_quiesce(ctx, devctl, 2));
    assert_true(pci_write_needs_quiesce(ctx, o, 0x10));
    assert_false(pci_write_needs_quiesce(ctx, devctl + 2, 2));
    assert_false(pci_write_needs_quiesce(ctx, UINT64_MAX, 2));

    assert_int_equal(cfg_write(ctx, devctl, 2,
                               PCI_EXP_DEVCTL_BCR_FLR |
                                   PCI_EXP_DEVCTL_RELAX_EN),
                     2);
    assert_int_equal(reset_calls, 1);
    assert_int_equal(reset_type, VFU_RESET_PCI_FLR);
    /* the FLR bit always reads 0, the rest is kept */
    assert_int_equal(cfg_read(ctx, devctl, 2), PCI_EXP_DEVCTL_RELAX_EN);

    /* partial or misaligned accesses around device control */
    assert_int_equal(cfg_write(ctx, devctl - 1, 1, 0), -EINVAL);
    assert_int_equal(cfg_write(ctx, devctl - 1, 3, 0), -EINVAL);
    assert_int_equal(cfg_write(ctx, devctl + 1, 1, 0), -EINVAL);
    assert_int_equal(cfg_write(ctx, devctl + 1, 3, 0), -EINVAL);
    /* read-only capability registers */
    assert_int_equal(cfg_write(ctx, o + PCI_EXP_DEVCAP, 4, 0), -EINVAL);
    assert_int_equal(reset_calls, 1);

    /* device control 2 and link control 2 are plain read/write */
    assert_int_equal(cfg_write(ctx, o + PCI_EXP_DEVCTL2, 2, 0xadde), 2);
    assert_int_equal(cfg_read(ctx, o + PCI_EXP_DEVCTL2, 2), 0xadde);
    assert_int_equal(cfg_write(ctx, o + PCI_EXP_LNKCTL2, 2, 0xefbe), 2);
    assert_int_equal(cfg_read(ctx, o + PCI_EXP_LNKCTL2, 2), 0xefbe);
    /* device status is write-one-to-clear; control + status in one go */
    cfg_bytes(ctx)[o + PCI_EXP_DEVSTA] = PCI_EXP_DEVSTA_CED |
                                          PCI_EXP_DEVSTA_URD;
    assert_int_equal(cfg_write(ctx, devctl, 4, PCI_EXP_DEVSTA_CED << 16), 4);
    assert_int_equal(cfg_read(ctx, o + PCI_EXP_DEVSTA, 2),
                     PCI_EXP_DEVSTA_URD);
    assert_int_equal(cfg_read(ctx, devctl, 2), 0);
    ctx_free(ctx);
}

static void
test_pci_cap_px_flr_not_capable(void **state)
{
    vfu_ctx_t *ctx = express_ctx();
    struct pxcap px = { .hdr.id = PCI_CAP_ID_EXP };
    const size_t devctl = 0x40 + PCI_EXP_DEVCTL;

    (void)state;
    reset_calls = 0;
    assert_int_equal(vfu_setup_device_reset_cb(ctx, reset_cb), 0);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, 0, &px), 0x40);
    assert_int_equal(cfg_write(ctx, devctl, 2,
                               PCI_EXP_DEVCTL_BCR_FLR |
                                   PCI_EXP_DEVCTL_RELAX_EN),
                     -EINVAL);
    assert_int_equal(reset_calls, 0);
    /* refused as a whole */
    assert_int_equal(cfg_read(ctx, devctl, 2), 0);
    ctx_free(ctx);
}

static void
test_pci_ext_cap_writes(void **state)
{
    vfu_ctx_t *ctx = express_ctx();
    struct dsncap dsn = { .hdr.id = PCI_EXT_CAP_ID_DSN, .sn_lo = 4,
                          .sn_hi = 8 };
    uint8_t evsc[13] = { PCI_EXT_CAP_ID_VNDR, 0, 0, 0, 0x1a, 0, 0xd0, 0,
                         'a', 'b', 'c', 'd', 'e' };

    (void)state;
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED,
                                            &dsn),
                     0x100);
    assert_int_equal(vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_EXTENDED,
                                            evsc),
                     0x10c);
    assert_int_equal(cfg_write(ctx, 0x100, 1, 1), -EPERM);
    assert_int_equal(cfg_write(ctx, 0x104, 4, 1), -EPERM);
    assert_int_equal(cfg_read(ctx, 0x104, 4), 4);
    assert_int_equal(cfg_write(ctx, 0x10c + 4, 1, 1), -EPERM);
    assert_int_equal(cfg_write(ctx, 0x10c + 8, 2, 0x5a5a), 2);
    assert_memory_equal(cfg_bytes(ctx) + 0x10c + 8, "ZZcde", 5);
    ctx_free(ctx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_fd_setup, tu_fd_teardown)
        T(test_pci_init_sizes_per_type),
        T(test_pci_init_bad_args),
        T(test_pci_init_keeps_device_cfg_region),
        T(test_pci_set_id_class_read_only),
        T(test_pci_set_before_init_ignored),
        T(test_pci_command_writable_bits),
        T(test_pci_status_write_one_to_clear),
        T(test_pci_header_write_spanning_registers),
        T(test_pci_bar_sizing_32bit_mem),
        T(test_pci_bar_sizing_io),
        T(test_pci_bar_sizing_64bit_pair),
        T(test_pci_bar_unused_reads_zero),
        T(test_pci_rom_bar_sizing),
        T(test_pci_realize_default_config),
        T(test_pci_realize_device_sized_cfg_region),
        T(test_pci_lspci_sample_layout),
        T(test_pci_cap_auto_placement_and_list),
        T(test_pci_cap_msi_sizes),
        T(test_pci_cap_sizes_by_id),
        T(test_pci_cap_bad_position),
        T(test_pci_cap_bad_args),
        T(test_pci_ext_cap_on_conventional_rejected),
        T(test_pci_ext_cap_placement),
        T(test_pci_cap_count_limits),
        T(test_pci_find_capability),
        T(test_pci_find_capability_corrupt_list),
        T(test_pci_find_ext_capability),
        T(test_pci_access_out_of_range),
        T(test_pci_access_whole_space),
        T(test_pci_callback_gap_forwarding),
        T(test_pci_gap_without_callback),
        T(test_pci_always_cb),
        T(test_pci_cap_flags_readonly_and_callback),
        T(test_pci_cap_pm_writes),
        T(test_pci_cap_msi_writes),
        T(test_pci_cap_msi_32bit_layout),
        T(test_pci_cap_msi_layout_fixed_at_add),
        T(test_pci_cap_msix_writes),
        T(test_pci_cap_px_flr),
        T(test_pci_cap_px_flr_not_capable),
        T(test_pci_ext_cap_writes),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
