/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gpio.c - a small GPIO controller on PCI, written against the public
 * server API only, as a device for libvfio-user would be.
 *
 * Identity (see gpio.h): vendor 0x4e58, device 0x0001, subsystem
 * 0x4e58/0x0001, revision 0x01, class 0x088000 (base system peripheral,
 * other).  Conventional PCI with a 256-byte config space: a GPIO block
 * needs neither extended config space nor an Express capability, and the
 * plain type 0 layout keeps INTx (pin INTA) the natural interrupt.
 *
 * Capabilities: power management (version 1.2, D0/D3hot only), then a
 * vendor-specific capability whose payload is the NUL-terminated text
 * GPIO_VSC_VERSION ("vfu-gpio 1.0"), read-only.
 *
 * BAR0 - 256 bytes, 32-bit non-prefetchable memory.  Every register is 32
 * bits wide.  Accesses of any size and alignment inside the BAR work: each
 * touched register sees a byte-masked read or write, so a 1-byte write to
 * OUT changes only that byte, and an 8-byte access at 0x10 covers OUT and
 * OUT_SET in address order.  Offsets without a register read as zero and
 * ignore writes; an access that does not fit in the BAR fails with EINVAL.
 *
 *   0x00 ID          RO   0x4f495047, the bytes "GPIO"
 *   0x04 VERSION     RO   0x00010000 (major 1, minor 0)
 *   0x08 PINS        RO   [7:0] output pins (32), [15:8] input pins (32)
 *   0x10 OUT         RW   the 32 output pins
 *   0x14 OUT_SET     WO   write 1 to set output pins; reads 0
 *   0x18 OUT_CLR     WO   write 1 to clear output pins; reads 0
 *   0x20 IN          RO   the 32 input pins:
 *                         IN = rol32(OUT, 16) ^ (COUNTER & 0xff)
 *                         (a crossed loopback: output pin n drives input
 *                         pin n+16 mod 32; the low byte of the counter is
 *                         mixed into input pins 7:0)
 *   0x24 COUNTER     RO   number of writes to OUT, OUT_SET and OUT_CLR,
 *                         one per register touched, even a write that
 *                         changes no pin
 *   0x30 IRQ_ENABLE  RW   one bit per input pin
 *   0x34 IRQ_STATUS  RW1C bit n set when input n changed while enabled
 *   0x38 IRQ_COUNT   RO   number of times the device signalled INTx
 *   0x40 SCRATCH     RW   no side effect
 *
 * Interrupts: one INTx vector.  After a write to an output register, every
 * enabled input pin whose value changed sets its IRQ_STATUS bit; if any
 * did, the device signals INTx with vfu_irq_trigger() (unless INTx is
 * disabled in the PCI command register), counts it in IRQ_COUNT and sets
 * the interrupt status bit of the PCI status register while IRQ_STATUS is
 * non-zero.  A client that set no eventfd simply misses the signal.
 *
 * BAR2 - 32 bytes of I/O space: byte n counts (modulo 256) the rising
 * edges of output pin n.  Readable at any size; writes preset counters.
 *
 * Reset (DEVICE_RESET, FLR or a lost client) returns every register and
 * counter to zero, so each new client sees the device as after power-on.
 *
 * Migration (version 2 callbacks): the registers, the edge counters and
 * the config space travel in one blob (gpio.h has its layout,
 * common/devmig.h its framing).  PRE_COPY sends a preview and keeps
 * running; STOP_AND_COPY sends the final state.  While stopped (STOP,
 * STOP_AND_COPY, RESUMING) register reads are answered and writes fail
 * with EBUSY, so the state that was sent is the state the device has.  A
 * received blob is checked completely (framing, CRC, config identity)
 * before it replaces anything; a bad one is refused with EINVAL.  A
 * DEVICE_RESET also ends any migration phase: the server is back in
 * RUNNING, and so is the device.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/devmig.h"
#include "devices.h"
#include "gpio/gpio.h"

/* The registers: what a reset clears and what migration carries. */
typedef struct gpio_regs {
    uint32_t out;
    uint32_t counter;
    uint32_t irq_enable;
    uint32_t irq_status;
    uint32_t irq_count;
    uint32_t scratch;
    uint8_t edges[GPIO_NR_PINS];
} gpio_regs_t;

typedef struct gpio {
    gpio_regs_t r;
    vfu_migr_state_t mig_state; /* as the last transition left it */
    devmig_t mig;
} gpio_t;

/* BAR2 is exactly the edge counters */
_Static_assert(GPIO_BAR2_SIZE == sizeof(((gpio_regs_t *)0)->edges),
               "BAR2 size");

static uint32_t
gpio_inputs(const gpio_t *g)
{
    uint32_t loop = (g->r.out << 16) | (g->r.out >> 16);

    return loop ^ (g->r.counter & 0xffu);
}

/* Keep the PCI status register's interrupt bit in step with IRQ_STATUS. */
static void
gpio_sync_intx_status(vfu_ctx_t *ctx, const gpio_t *g)
{
    vfu_pci_config_space_t *cfg = vfu_pci_get_config_space(ctx);

    if (cfg != NULL) {
        cfg->hdr.sts.is = g->r.irq_status != 0;
    }
}

static void
gpio_signal(vfu_ctx_t *ctx, gpio_t *g)
{
    vfu_pci_config_space_t *cfg = vfu_pci_get_config_space(ctx);

    gpio_sync_intx_status(ctx, g);
    if (cfg != NULL && cfg->hdr.cmd.id) {
        return; /* the guest disabled INTx: status only */
    }
    g->r.irq_count++;
    /*
     * ENOENT (no eventfd) and EINVAL (INTx not enabled by the client) are
     * normal for a client that does not care about interrupts.
     */
    if (vfu_irq_trigger(ctx, 0) < 0) {
        vfu_log(ctx, LOG_DEBUG, "gpio: INTx not delivered: %s",
                strerror(errno));
    }
}

static void
gpio_write_outputs(vfu_ctx_t *ctx, gpio_t *g, uint32_t out)
{
    uint32_t before = gpio_inputs(g);
    uint32_t rising = out & ~g->r.out;
    uint32_t changed;
    unsigned int pin;

    for (pin = 0; pin < GPIO_NR_PINS; pin++) {
        if (rising & (1u << pin)) {
            g->r.edges[pin]++;
        }
    }
    g->r.out = out;
    g->r.counter++;
    changed = (before ^ gpio_inputs(g)) & g->r.irq_enable;
    if (changed != 0) {
        g->r.irq_status |= changed;
        gpio_signal(ctx, g);
    }
}

static uint32_t
gpio_reg_read(const gpio_t *g, uint32_t reg)
{
    switch (reg) {
    case GPIO_REG_ID:
        return GPIO_ID_VALUE;
    case GPIO_REG_VERSION:
        return GPIO_VERSION_VALUE;
    case GPIO_REG_PINS:
        return GPIO_PINS_VALUE;
    case GPIO_REG_OUT:
        return g->r.out;
    case GPIO_REG_IN:
        return gpio_inputs(g);
    case GPIO_REG_COUNTER:
        return g->r.counter;
    case GPIO_REG_IRQ_ENABLE:
        return g->r.irq_enable;
    case GPIO_REG_IRQ_STATUS:
        return g->r.irq_status;
    case GPIO_REG_IRQ_COUNT:
        return g->r.irq_count;
    case GPIO_REG_SCRATCH:
        return g->r.scratch;
    default:
        return 0; /* OUT_SET, OUT_CLR and holes */
    }
}

/* @val holds the written bytes in place; @mask says which bytes these are. */
static void
gpio_reg_write(vfu_ctx_t *ctx, gpio_t *g, uint32_t reg, uint32_t val,
               uint32_t mask)
{
    switch (reg) {
    case GPIO_REG_OUT:
        gpio_write_outputs(ctx, g, (g->r.out & ~mask) | (val & mask));
        break;
    case GPIO_REG_OUT_SET:
        gpio_write_outputs(ctx, g, g->r.out | val);
        break;
    case GPIO_REG_OUT_CLR:
        gpio_write_outputs(ctx, g, g->r.out & ~val);
        break;
    case GPIO_REG_IRQ_ENABLE:
        g->r.irq_enable = (g->r.irq_enable & ~mask) | (val & mask);
        break;
    case GPIO_REG_IRQ_STATUS:
        g->r.irq_status &= ~val;
        gpio_sync_intx_status(ctx, g);
        break;
    case GPIO_REG_SCRATCH:
        g->r.scratch = (g->r.scratch & ~mask) | (val & mask);
        break;
    default:
        break; /* read-only registers and holes ignore writes */
    }
}

/*
 * Stopped for migration (STOP, STOP_COPY, RESUMING): the device state must
 * not change, so register writes are refused; reads are answered.
 */
static bool
gpio_frozen(const gpio_t *g)
{
    return g->mig_state == VFU_MIGR_STATE_STOP ||
           g->mig_state == VFU_MIGR_STATE_STOP_AND_COPY ||
           g->mig_state == VFU_MIGR_STATE_RESUME;
}

static bool
gpio_write_refused(vfu_ctx_t *ctx, const gpio_t *g, bool is_write)
{
    if (!is_write || !gpio_frozen(g)) {
        return false;
    }
    vfu_log(ctx, LOG_INFO, "gpio: register write while stopped: refused");
    errno = EBUSY;
    return true;
}

static bool
gpio_access_ok(size_t count, loff_t offset, size_t size)
{
    size_t end;

    return offset >= 0 &&
           !__builtin_add_overflow((size_t)offset, count, &end) && end <= size;
}

static ssize_t
gpio_bar0_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset,
                 bool is_write)
{
    gpio_t *g = vfu_get_private(ctx);
    size_t done = 0;

    if (g == NULL || buf == NULL ||
        !gpio_access_ok(count, offset, GPIO_BAR0_SIZE)) {
        errno = EINVAL;
        return -1;
    }
    if (gpio_write_refused(ctx, g, is_write)) {
        return -1;
    }
    /* Split the access at register boundaries; each piece is byte-masked. */
    while (done < count) {
        size_t pos = (size_t)offset + done;
        uint32_t reg = (uint32_t)(pos & ~(size_t)3);
        unsigned int first = pos & 3;
        size_t n = count - done < 4 - first ? count - done : 4 - first;
        uint32_t val = 0;
        uint32_t mask = 0;
        size_t i;

        if (is_write) {
            for (i = 0; i < n; i++) {
                unsigned int sh = 8 * (first + (unsigned int)i);

                val |= (uint32_t)(uint8_t)buf[done + i] << sh;
                mask |= 0xffu << sh;
            }
            gpio_reg_write(ctx, g, reg, val, mask);
        } else {
            val = gpio_reg_read(g, reg);
            for (i = 0; i < n; i++) {
                buf[done + i] = (char)(val >> (8 * (first + i)));
            }
        }
        done += n;
    }
    return (ssize_t)count;
}

static ssize_t
gpio_bar2_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset,
                 bool is_write)
{
    gpio_t *g = vfu_get_private(ctx);

    if (g == NULL || buf == NULL ||
        !gpio_access_ok(count, offset, GPIO_BAR2_SIZE)) {
        errno = EINVAL;
        return -1;
    }
    if (gpio_write_refused(ctx, g, is_write)) {
        return -1;
    }
    if (is_write) {
        memcpy(&g->r.edges[offset], buf, count);
    } else {
        memcpy(buf, &g->r.edges[offset], count);
    }
    return (ssize_t)count;
}

static int
gpio_reset(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
    gpio_t *g = vfu_get_private(ctx);

    if (g == NULL) {
        errno = EINVAL;
        return -1;
    }
    vfu_log(ctx, LOG_DEBUG, "gpio: reset (type %d)", (int)type);
    memset(&g->r, 0, sizeof(g->r));
    gpio_sync_intx_status(ctx, g);
    if (type == VFU_RESET_DEVICE) {
        /*
         * The server puts the migration state back to RUNNING after a
         * DEVICE_RESET (how a RESUMING session is abandoned), with no
         * transition call: follow it.
         */
        g->mig_state = VFU_MIGR_STATE_RUNNING;
        devmig_out_reset(&g->mig);
        devmig_in_reset(&g->mig);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Migration                                                           */
/* ------------------------------------------------------------------ */

static size_t
gpio_mig_save(void *arg, uint8_t *payload)
{
    vfu_ctx_t *ctx = arg;
    const gpio_t *g = vfu_get_private(ctx);
    const void *cfg = vfu_pci_get_config_space(ctx);
    uint8_t *p = payload;

    if (cfg == NULL) {
        return 0;
    }
    devmig_put32(&p, g->r.out);
    devmig_put32(&p, g->r.counter);
    devmig_put32(&p, g->r.irq_enable);
    devmig_put32(&p, g->r.irq_status);
    devmig_put32(&p, g->r.irq_count);
    devmig_put32(&p, g->r.scratch);
    devmig_put_bytes(&p, g->r.edges, sizeof(g->r.edges));
    devmig_put_bytes(&p, cfg, GPIO_MIG_CONFIG_SIZE);
    return (size_t)(p - payload);
}

/* Every register value is one the device can have: only config to check. */
static int
gpio_mig_check(void *arg, const uint8_t *payload)
{
    vfu_ctx_t *ctx = arg;
    const char *why = NULL;

    if (devmig_cfg_check(ctx, payload + GPIO_MIG_OFF_CONFIG,
                         GPIO_MIG_CONFIG_SIZE, &why) < 0) {
        vfu_log(ctx, LOG_ERR, "gpio: migration data: %s", why);
        return -EINVAL;
    }
    return 0;
}

static void
gpio_mig_load(vfu_ctx_t *ctx, gpio_t *g, const uint8_t *payload)
{
    const uint8_t *p = payload;

    g->r.out = devmig_get32(&p);
    g->r.counter = devmig_get32(&p);
    g->r.irq_enable = devmig_get32(&p);
    g->r.irq_status = devmig_get32(&p);
    g->r.irq_count = devmig_get32(&p);
    g->r.scratch = devmig_get32(&p);
    devmig_get_bytes(&p, g->r.edges, sizeof(g->r.edges));
    devmig_cfg_load(ctx, p, GPIO_MIG_CONFIG_SIZE);
    gpio_sync_intx_status(ctx, g);
    vfu_log(ctx, LOG_DEBUG, "gpio: state restored");
}

/*
 * PRE_COPY offers a preview of the state (the device keeps running, so it
 * may change); STOP_AND_COPY the final state.  Leaving RESUMING fails
 * while the data received is incomplete: half a blob, or no final blob
 * after some data, or a refused blob not followed by a good final one.
 */
static int
gpio_mig_transition(vfu_ctx_t *ctx, vfu_migr_state_t state)
{
    gpio_t *g = vfu_get_private(ctx);

    if (g == NULL) {
        errno = EINVAL;
        return -1;
    }
    return devmig_transition(&g->mig, ctx, "gpio", &g->mig_state,
                             state, gpio_mig_save, ctx);
}

static ssize_t
gpio_mig_read(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
    gpio_t *g = vfu_get_private(ctx);

    if (g == NULL) {
        errno = EINVAL;
        return -1;
    }
    return devmig_read_data(&g->mig, g->mig_state, buf, count);
}

static ssize_t
gpio_mig_write(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
    gpio_t *g = vfu_get_private(ctx);
    const uint8_t *final;
    ssize_t n;

    if (g == NULL) {
        errno = EINVAL;
        return -1;
    }
    n = devmig_write_data(&g->mig, ctx, "gpio", g->mig_state, buf,
                          count, gpio_mig_check, ctx, &final);
    if (final != NULL) {
        gpio_mig_load(ctx, g, final);
    }
    return n;
}

static const vfu_migration_callbacks_t gpio_mig_cbs = {
    .version = VFU_MIGR_CALLBACKS_VERS,
    .transition = gpio_mig_transition,
    .read_data = gpio_mig_read,
    .write_data = gpio_mig_write,
};

/* ------------------------------------------------------------------ */
/* Model                                                               */
/* ------------------------------------------------------------------ */

static void
gpio_destroy(void *state)
{
    gpio_t *g = state;

    if (g == NULL) {
        return;
    }
    devmig_fini(&g->mig);
    free(g);
}

static void *
gpio_create(void)
{
    gpio_t *g = calloc(1, sizeof(*g));

    if (g == NULL) {
        return NULL;
    }
    g->mig_state = VFU_MIGR_STATE_RUNNING;
    if (devmig_init(&g->mig, GPIO_MIG_MAGIC, GPIO_MIG_VERSION,
                    GPIO_MIG_PAYLOAD_SIZE) < 0) {
        gpio_destroy(g);
        return NULL;
    }
    return g;
}

static int
gpio_add_caps(vfu_ctx_t *ctx)
{
    struct pmcap pm;
    /* the capability header, its length byte, then the text and its NUL */
    uint8_t vsc_buf[sizeof(struct vsc) + sizeof(GPIO_VSC_VERSION)];
    struct vsc *vsc = (struct vsc *)vsc_buf;

    _Static_assert(sizeof(vsc_buf) <= 0xff, "vendor capability too long");

    memset(&pm, 0, sizeof(pm));
    pm.hdr.id = PCI_CAP_ID_PM;
    pm.pc.vs = 3;       /* PCI Power Management 1.2 */
    pm.pmcs.nsfrst = 1; /* D3hot -> D0 keeps the registers */
    if (vfu_pci_add_capability(ctx, 0, 0, &pm) < 0) {
        return -1;
    }

    memset(vsc_buf, 0, sizeof(vsc_buf));
    vsc->hdr.id = PCI_CAP_ID_VNDR;
    vsc->size = sizeof(vsc_buf);
    memcpy(vsc->data, GPIO_VSC_VERSION, sizeof(GPIO_VSC_VERSION));
    if (vfu_pci_add_capability(ctx, 0, VFU_CAP_FLAG_READONLY, vsc) < 0) {
        return -1;
    }
    return 0;
}

static int
gpio_setup(vfu_ctx_t *ctx)
{
    vfu_pci_config_space_t *cfg;

    if (vfu_get_private(ctx) == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL,
                     GPIO_REVISION) < 0) {
        return -1;
    }
    vfu_pci_set_id(ctx, GPIO_VENDOR_ID, GPIO_DEVICE_ID, GPIO_SUBSYS_VENDOR_ID,
                   GPIO_SUBSYS_ID);
    vfu_pci_set_class(ctx, GPIO_CLASS_BASE, GPIO_CLASS_SUB, GPIO_CLASS_PI);
    cfg = vfu_pci_get_config_space(ctx);
    if (cfg == NULL) {
        errno = EINVAL;
        return -1;
    }
    cfg->hdr.intr.ipin = 1; /* INTA# */

    if (gpio_add_caps(ctx) < 0) {
        return -1;
    }
    if (vfu_setup_region(
            ctx, VFU_PCI_DEV_BAR0_REGION_IDX, GPIO_BAR0_SIZE, gpio_bar0_access,
            VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM, NULL, 0, -1, 0) < 0) {
        return -1;
    }
    /* no VFU_REGION_FLAG_MEM: an I/O BAR */
    if (vfu_setup_region(ctx, VFU_PCI_DEV_BAR2_REGION_IDX, GPIO_BAR2_SIZE,
                         gpio_bar2_access, VFU_REGION_FLAG_RW, NULL, 0, -1,
                         0) < 0) {
        return -1;
    }
    if (vfu_setup_device_nr_irqs(ctx, VFU_DEV_INTX_IRQ, 1) < 0) {
        return -1;
    }
    if (vfu_setup_device_reset_cb(ctx, gpio_reset) < 0) {
        return -1;
    }
    if (vfu_setup_device_migration_callbacks(ctx, &gpio_mig_cbs) < 0) {
        return -1;
    }
    return 0;
}

const vfu_device_model_t vfu_device_gpio = {
    .name = "gpio",
    .description = "32-in/32-out GPIO block with INTx and an I/O BAR",
    .create = gpio_create,
    .setup = gpio_setup,
    .destroy = gpio_destroy,
};
