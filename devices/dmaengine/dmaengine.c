/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaengine.c - a DMA / data-transform accelerator on PCI Express, written
 * against the public server API only, the way a device for libvfio-user
 * would be.  The kind of device people validate without a VM: descriptor
 * rings in guest memory, doorbells, completion records, MSI-X per queue.
 *
 * Identity (dmaengine.h): vendor 0x4e58, device 0x0002, subsystem
 * 0x4e58/0x0002, revision 0x01, class 0x120000 (processing accelerator).
 * PCI Express endpoint with a 4 KiB config space; capabilities: power
 * management 1.2 (D0/D3hot), MSI-X (5 vectors, table and PBA in BAR0),
 * PCI Express v2 endpoint advertising function level reset (an FLR runs
 * the reset callback).  INTA# for drivers that do not enable MSI-X.
 *
 * BAR0 - 16 KiB, 64-bit non-prefetchable memory.  32-bit registers; any
 * access size and alignment inside the BAR works (each register touched
 * sees a byte-masked read or write; 64-bit pairs are LO then HI).  Holes
 * read zero and ignore writes; an access past the BAR fails with EINVAL.
 *
 *   Global
 *   0x000 ID          RO   0x45414d44, the bytes "DMAE"
 *   0x004 VERSION     RO   0x00010000
 *   0x008 CAPS        RO   [7:0] queues (4), [15:8] opcodes supported
 *                          (bit n = opcode n: 0x1f), [23:16] log2 of the
 *                          largest ring (12: 4096 entries)
 *   0x00c MAX_LEN     RO   largest descriptor length (16 MiB)
 *   0x010 CTRL        RW   bit 0 ENABLE: doorbells are processed (while
 *                          clear they only move TAIL; setting it processes
 *                          what is pending on every running queue);
 *                          bit 1 RESET: write 1 for a device reset, reads 0;
 *                          bit 2 NO_DIRECT: never use mappings of guest
 *                          memory, move everything with DMA messages
 *   0x014 STATUS      RO   bit 0 ENABLED, bit 1 ERROR (a queue is halted),
 *                          [15:8] running queues, [23:16] halted queues
 *   0x018 ERR_CODE    RO   the last error: [7:0] DMAE_ERR_*, [15:8] queue,
 *                          [31:16] ring slot; a write clears it and ERR_ADDR
 *   0x01c ERR_COUNT   RO   errors since reset
 *   0x020 ERR_ADDR    RO   (LO, HI at 0x024) the address of the last
 *                          error: the operand, the record, the ring slot,
 *                          the ring base, or the bad TAIL value
 *   0x028 INT_MODE    RO   how the device interrupts now: 2 MSI-X (the
 *                          MSI-X enable bit in config space), else 1 INTx,
 *                          or 0 when the COMMAND register disables INTx
 *   0x02c INT_STATUS  RW1C bit q: queue q signalled completions; bit 31:
 *                          an error.  In INTx mode the PCI status register's
 *                          interrupt bit follows "INT_STATUS != 0".
 *
 *   Queue q (0..3) at 0x1000 + 0x100 * q
 *   +0x00 RING_LO     RW   ring base, 64-byte aligned (HI at +0x04);
 *   +0x08 RING_SIZE   RW   entries, a power of two in [2, 4096]; both are
 *                          ignored while the queue is enabled
 *   +0x0c CTRL        RW   bit 0 ENABLE: 0->1 checks the ring (size,
 *                          alignment, mapped readable) and starts the queue
 *                          with HEAD = TAIL = 0, or halts it with an error;
 *                          1->0 stops it (HEAD and TAIL stay readable);
 *                          a halted queue stays halted either way;
 *                          bit 1 RESET: write 1 to return the queue to its
 *                          reset state (the way out of HALTED); reads 0
 *   +0x10 HEAD        RO   next slot the device reads
 *   +0x14 TAIL        RW   doorbell: the slot after the last one filled.
 *                          A value >= RING_SIZE halts the queue; writes
 *                          while the queue is stopped or halted are ignored
 *   +0x18 STATUS      RO   bit 0 RUNNING, bit 1 HALTED, bit 2 RING_DIRECT
 *                          (the ring is read through a local mapping)
 *   +0x1c ERROR       RO   the DMAE_ERR_* that halted the queue
 *   +0x20 INT_CTRL    RW   bit 0 ENABLE; [15:8] coalescing count N: an
 *                          interrupt after every N completions that ask for
 *                          one (DMAE_DESC_F_INTR); 0 means one per doorbell.
 *                          Completions still waiting when the doorbell's
 *                          work ends get their interrupt then.
 *   +0x24 COMPLETED   RO   descriptors completed (wraps at 2^32)
 *   +0x28 IRQ_COUNT   RO   completion interrupts the queue signalled
 *   +0x2c BUDGET      RW   [12:0] most descriptors one kick executes;
 *                          0: no limit (ring size minus one)
 *
 *   0x2000 MSI-X table (5 x 16 bytes), plain storage: masking a vector is
 *          done with SET_IRQS, which the server implements, as QEMU does.
 *   0x3000 MSI-X PBA, RO: vectors held back by the function mask.
 *
 * Processing is synchronous: a kick (a write to TAIL, even of the value it
 * has, or CTRL.ENABLE going 0 -> 1) returns once the descriptors it runs
 * have been executed, their completion records written and interrupts
 * signalled.  It runs the descriptors from HEAD towards TAIL, at most
 * BUDGET of them (and never more than ring size minus one); the rest stay
 * in flight in [HEAD, TAIL) until the next kick.  So a descriptor is
 * either not started or done whenever a message can arrive: in-flight
 * work is HEAD and TAIL, which is what migration carries (dmaengine.h).
 * Descriptor, record and error semantics are in dmaengine.h and
 * dmaengine_exec.c.  A descriptor that cannot run (bad flags, opcode or
 * length; an operand or record not mapped with the right protection; a
 * failed transfer) halts its queue at that slot: HEAD stays on it, Q_ERROR,
 * ERR_CODE and ERR_ADDR say what and where, an error record is written
 * when the descriptor asked for a record and its address is good, and the
 * error vector (MSI-X vector 4, or INTx) fires.  The queue does nothing
 * more until it is reset (queue RESET, device RESET, DEVICE_RESET, FLR).
 *
 * Interrupts: MSI-X vector q for queue q and vector 4 for errors when the
 * driver enabled MSI-X in config space (the function mask holds messages
 * back in the PBA until the next register access after it is cleared);
 * otherwise INTx, signalled once per interrupt event unless the COMMAND
 * register disables INTx.  vfu_irq_trigger() finds no eventfd when the
 * client set none; the device then simply has nobody to tell.
 *
 * DMA: up to 256 regions, fd-backed or not.  The device keeps one thing
 * across doorbells: each running queue's ring, mapped with vfu_sgl_get()
 * when it lies in one mappable region.  The DMA unregister callback drops
 * that mapping before the region goes away.  Quiesce has nothing to wait
 * for (returns 0): between messages no descriptor is half done (those in
 * flight have not started and touch no memory).  Reset (any type) returns
 * every register to zero and drops the ring mappings; the config space is
 * the server's to reset.  Bus-master enable is not checked: DMA happens
 * whenever the driver rings a doorbell.
 *
 * Migration (version 2 callbacks): every register, the MSI-X table and
 * PBA, each queue's ring, HEAD, TAIL and counters, and the config space
 * travel in one blob (layout in dmaengine.h, framing in common/devmig.h).
 * PRE_COPY sends a preview and keeps processing; STOP_AND_COPY sends the
 * final state.  While stopped (STOP, STOP_AND_COPY, RESUMING) nothing is
 * processed and nothing changes: BAR0 reads are answered, writes fail
 * with EBUSY, held-back MSI-X messages stay held.  A received blob is
 * checked completely (framing, CRC, every field's range and the rings'
 * consistency, config identity) before it replaces the device state; a bad
 * one is refused with EINVAL and changes nothing.  Descriptors in flight
 * on the source are in flight on the destination, and its next kick
 * completes them; a ring the source had mapped is mapped again.  A
 * DEVICE_RESET also ends any migration phase: the server is back in
 * RUNNING, and so is the device.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices.h"
#include "dmaengine/dmaengine_priv.h"

dma_sg_t *
dmae_sg(dmae_t *d, unsigned int i)
{
    return (dma_sg_t *)((uint8_t *)d->sg + (size_t)i * dma_sg_size());
}

/* ------------------------------------------------------------------ */
/* Interrupts                                                          */
/* ------------------------------------------------------------------ */

static uint16_t
msix_flags(vfu_ctx_t *ctx, const dmae_t *d)
{
    vfu_pci_config_space_t *cfg = vfu_pci_get_config_space(ctx);
    const uint8_t *p;

    if (cfg == NULL || d->msix_cap == 0) {
        return 0;
    }
    p = cfg->raw + d->msix_cap + PCI_MSIX_FLAGS;
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
int_mode(vfu_ctx_t *ctx, const dmae_t *d)
{
    vfu_pci_config_space_t *cfg = vfu_pci_get_config_space(ctx);

    if (msix_flags(ctx, d) & PCI_MSIX_FLAGS_ENABLE) {
        return DMAE_INT_MODE_MSIX;
    }
    if (cfg != NULL && cfg->hdr.cmd.id) {
        return DMAE_INT_MODE_NONE;
    }
    return DMAE_INT_MODE_INTX;
}

/* The PCI status register's interrupt bit: INTx pending. */
static void
sync_intx_status(vfu_ctx_t *ctx, const dmae_t *d)
{
    vfu_pci_config_space_t *cfg = vfu_pci_get_config_space(ctx);

    if (cfg != NULL) {
        cfg->hdr.sts.is = d->r.int_status != 0 &&
                          int_mode(ctx, d) != DMAE_INT_MODE_MSIX;
    }
}

static void
trigger(vfu_ctx_t *ctx, uint32_t vector)
{
    /* ENOENT: the client gave no eventfd for it, which is its choice */
    if (vfu_irq_trigger(ctx, vector) < 0) {
        vfu_log(ctx, LOG_DEBUG, "dmaengine: vector %u not delivered: %s",
                vector, strerror(errno));
    }
}

/* Send the messages the function mask held back, once it is clear. */
static void
msix_flush(vfu_ctx_t *ctx, dmae_t *d)
{
    uint16_t flags;
    uint32_t v;

    if (d->r.msix_pending == 0) {
        return;
    }
    flags = msix_flags(ctx, d);
    if (!(flags & PCI_MSIX_FLAGS_ENABLE) || (flags & PCI_MSIX_FLAGS_MASKALL)) {
        return;
    }
    for (v = 0; v < DMAE_MSIX_VECTORS; v++) {
        if (d->r.msix_pending & (1u << v)) {
            d->r.msix_pending &= ~(1u << v);
            trigger(ctx, v);
            if (v < DMAE_NR_QUEUES) {
                d->q[v].irq_count++; /* counted when it is really sent */
            }
        }
    }
}

bool
dmae_signal(vfu_ctx_t *ctx, dmae_t *d, uint32_t vector, uint32_t cause)
{
    uint32_t mode = int_mode(ctx, d);

    d->r.int_status |= cause;
    sync_intx_status(ctx, d);
    switch (mode) {
    case DMAE_INT_MODE_MSIX:
        if (msix_flags(ctx, d) & PCI_MSIX_FLAGS_MASKALL) {
            d->r.msix_pending |= 1u << vector;
            return false;
        }
        msix_flush(ctx, d);
        trigger(ctx, vector);
        return true;
    case DMAE_INT_MODE_INTX:
        trigger(ctx, 0);
        return true;
    default:
        return false; /* INTx disabled: the status bits latch, no signal */
    }
}

/* ------------------------------------------------------------------ */
/* Queues and errors                                                   */
/* ------------------------------------------------------------------ */

void
dmae_ring_uncache(vfu_ctx_t *ctx, dmae_queue_t *q)
{
    if (q->ring_iov.iov_base != NULL) {
        vfu_sgl_put(ctx, q->ring_sg, &q->ring_iov, 1);
    }
    memset(&q->ring_iov, 0, sizeof(q->ring_iov));
}

void
dmae_queue_fail(vfu_ctx_t *ctx, dmae_t *d, unsigned int qi, uint32_t err,
                uint32_t slot, uint64_t addr)
{
    dmae_queue_t *q = &d->q[qi];

    q->halted = true;
    q->running = false;
    q->error = err;
    dmae_ring_uncache(ctx, q);
    d->r.err_code = (err & 0xffu) | (qi << 8) | ((slot & 0xffffu) << 16);
    d->r.err_addr = addr;
    d->r.err_count++;
    vfu_log(ctx, LOG_INFO, "dmaengine: queue %u halted: error %#x at %#llx",
            qi, err, (unsigned long long)addr);
    dmae_signal(ctx, d, DMAE_ERR_VECTOR, DMAE_INT_ERROR);
}

static void
queue_reset(vfu_ctx_t *ctx, dmae_queue_t *q)
{
    dma_sg_t *sg = q->ring_sg;

    dmae_ring_uncache(ctx, q);
    memset(q, 0, sizeof(*q));
    q->ring_sg = sg;
}

static void
device_reset(vfu_ctx_t *ctx, dmae_t *d)
{
    unsigned int i;

    for (i = 0; i < DMAE_NR_QUEUES; i++) {
        queue_reset(ctx, &d->q[i]);
    }
    memset(&d->r, 0, sizeof(d->r));
    d->deferred = 0;
    sync_intx_status(ctx, d);
}

static void
queue_enable(vfu_ctx_t *ctx, dmae_t *d, unsigned int qi)
{
    dmae_queue_t *q = &d->q[qi];
    uint32_t err;

    q->head = q->tail = 0;
    q->intr_pending = 0;
    err = dmae_ring_check(ctx, d, q);
    if (err != DMAE_ERR_NONE) {
        dmae_queue_fail(ctx, d, qi, err, 0, q->ring_base);
        return;
    }
    q->running = true;
}

static uint32_t
queue_status(const dmae_queue_t *q)
{
    return (q->running ? DMAE_QSTATUS_RUNNING : 0) |
           (q->halted ? DMAE_QSTATUS_HALTED : 0) |
           (q->ring_iov.iov_base != NULL ? DMAE_QSTATUS_RING_DIRECT : 0);
}

static uint32_t
queue_read(const dmae_queue_t *q, uint32_t reg)
{
    switch (reg) {
    case DMAE_Q_RING_LO:
        return (uint32_t)q->ring_base;
    case DMAE_Q_RING_HI:
        return (uint32_t)(q->ring_base >> 32);
    case DMAE_Q_RING_SIZE:
        return q->ring_size;
    case DMAE_Q_CTRL:
        return q->ctrl;
    case DMAE_Q_HEAD:
        return q->head;
    case DMAE_Q_TAIL:
        return q->tail;
    case DMAE_Q_STATUS:
        return queue_status(q);
    case DMAE_Q_ERROR:
        return q->error;
    case DMAE_Q_INT_CTRL:
        return q->int_ctrl;
    case DMAE_Q_COMPLETED:
        return q->completed;
    case DMAE_Q_IRQ_COUNT:
        return q->irq_count;
    case DMAE_Q_BUDGET:
        return q->budget;
    default:
        return 0;
    }
}

static uint32_t
merge(uint32_t old, uint32_t val, uint32_t mask)
{
    return (old & ~mask) | (val & mask);
}

static void
queue_doorbell(vfu_ctx_t *ctx, dmae_t *d, unsigned int qi, uint32_t tail)
{
    dmae_queue_t *q = &d->q[qi];

    if (!q->running || q->halted) {
        return; /* a stopped queue has no doorbell */
    }
    if (tail >= q->ring_size) {
        dmae_queue_fail(ctx, d, qi, DMAE_ERR_BAD_TAIL, q->head, tail);
        return;
    }
    q->tail = tail;
    if (d->r.ctrl & DMAE_CTRL_ENABLE) {
        dmae_queue_kick(ctx, d, qi);
    }
}

static void
queue_write(vfu_ctx_t *ctx, dmae_t *d, unsigned int qi, uint32_t reg,
            uint32_t val, uint32_t mask)
{
    dmae_queue_t *q = &d->q[qi];
    bool configurable = !(q->ctrl & DMAE_QCTRL_ENABLE);
    uint32_t ctrl;

    switch (reg) {
    case DMAE_Q_RING_LO:
        if (configurable) {
            q->ring_base = (q->ring_base & ~0xffffffffull) |
                           merge((uint32_t)q->ring_base, val, mask);
        }
        break;
    case DMAE_Q_RING_HI:
        if (configurable) {
            q->ring_base =
                (q->ring_base & 0xffffffffull) |
                ((uint64_t)merge((uint32_t)(q->ring_base >> 32), val, mask)
                 << 32);
        }
        break;
    case DMAE_Q_RING_SIZE:
        if (configurable) {
            q->ring_size = merge(q->ring_size, val, mask);
        }
        break;
    case DMAE_Q_CTRL:
        if (val & mask & DMAE_QCTRL_RESET) {
            queue_reset(ctx, q);
            break;
        }
        ctrl = merge(q->ctrl, val, mask) & DMAE_QCTRL_ENABLE;
        if (ctrl && !q->ctrl) {
            q->ctrl = ctrl;
            if (!q->halted) { /* only RESET takes a queue out of HALTED */
                queue_enable(ctx, d, qi);
            }
        } else if (!ctrl && q->ctrl) {
            q->ctrl = 0;
            q->running = false;
            dmae_ring_uncache(ctx, q);
        }
        break;
    case DMAE_Q_TAIL:
        queue_doorbell(ctx, d, qi, merge(q->tail, val, mask));
        break;
    case DMAE_Q_INT_CTRL:
        q->int_ctrl = merge(q->int_ctrl, val, mask) &
                      (DMAE_QINT_ENABLE | DMAE_QINT_COALESCE(0xff));
        break;
    case DMAE_Q_BUDGET:
        q->budget = merge(q->budget, val, mask) & DMAE_QBUDGET_MASK;
        break;
    default:
        break; /* read-only registers and holes */
    }
}

/* ------------------------------------------------------------------ */
/* Global registers                                                    */
/* ------------------------------------------------------------------ */

static uint32_t
dev_status(const dmae_t *d)
{
    uint32_t s = (d->r.ctrl & DMAE_CTRL_ENABLE) ? DMAE_STATUS_ENABLED : 0;
    unsigned int i;

    for (i = 0; i < DMAE_NR_QUEUES; i++) {
        if (d->q[i].running) {
            s |= 1u << (8 + i);
        }
        if (d->q[i].halted) {
            s |= DMAE_STATUS_ERROR | (1u << (16 + i));
        }
    }
    return s;
}

static uint32_t
global_read(vfu_ctx_t *ctx, const dmae_t *d, uint32_t reg)
{
    switch (reg) {
    case DMAE_REG_ID:
        return DMAE_ID_VALUE;
    case DMAE_REG_VERSION:
        return DMAE_VERSION_VALUE;
    case DMAE_REG_CAPS:
        return DMAE_CAPS_VALUE;
    case DMAE_REG_MAX_LEN:
        return DMAE_MAX_LEN;
    case DMAE_REG_CTRL:
        return d->r.ctrl;
    case DMAE_REG_STATUS:
        return dev_status(d);
    case DMAE_REG_ERR_CODE:
        return d->r.err_code;
    case DMAE_REG_ERR_COUNT:
        return d->r.err_count;
    case DMAE_REG_ERR_ADDR_LO:
        return (uint32_t)d->r.err_addr;
    case DMAE_REG_ERR_ADDR_HI:
        return (uint32_t)(d->r.err_addr >> 32);
    case DMAE_REG_INT_MODE:
        return int_mode(ctx, d);
    case DMAE_REG_INT_STATUS:
        return d->r.int_status;
    default:
        return 0;
    }
}

static void
global_write(vfu_ctx_t *ctx, dmae_t *d, uint32_t reg, uint32_t val,
             uint32_t mask)
{
    uint32_t old = d->r.ctrl;
    unsigned int i;

    switch (reg) {
    case DMAE_REG_CTRL:
        if (val & mask & DMAE_CTRL_RESET) {
            vfu_log(ctx, LOG_DEBUG, "dmaengine: software reset");
            device_reset(ctx, d);
            break;
        }
        d->r.ctrl = merge(old, val, mask) & DMAE_CTRL_MASK;
        if ((d->r.ctrl & DMAE_CTRL_NO_DIRECT) && !(old & DMAE_CTRL_NO_DIRECT)) {
            for (i = 0; i < DMAE_NR_QUEUES; i++) {
                dmae_ring_uncache(ctx, &d->q[i]);
            }
        }
        if ((d->r.ctrl & DMAE_CTRL_ENABLE) && !(old & DMAE_CTRL_ENABLE)) {
            for (i = 0; i < DMAE_NR_QUEUES; i++) {
                dmae_queue_kick(ctx, d, i);
            }
        }
        break;
    case DMAE_REG_ERR_CODE:
        d->r.err_code = 0;
        d->r.err_addr = 0;
        break;
    case DMAE_REG_INT_STATUS:
        d->r.int_status &= ~(val & mask);
        sync_intx_status(ctx, d);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ */
/* BAR0                                                                */
/* ------------------------------------------------------------------ */

/* Queue @*qi's register @*reg at BAR offset @off, if it is one. */
static bool
queue_reg(uint32_t off, unsigned int *qi, uint32_t *reg)
{
    if (off < DMAE_QUEUE_BASE ||
        off >= DMAE_QUEUE_BASE + DMAE_NR_QUEUES * DMAE_QUEUE_STRIDE) {
        return false;
    }
    *qi = (off - DMAE_QUEUE_BASE) / DMAE_QUEUE_STRIDE;
    *reg = (off - DMAE_QUEUE_BASE) % DMAE_QUEUE_STRIDE;
    return true;
}

static uint32_t
bytes_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint32_t
reg_read(vfu_ctx_t *ctx, const dmae_t *d, uint32_t off)
{
    unsigned int qi;
    uint32_t reg;

    if (off < DMAE_QUEUE_BASE) {
        return global_read(ctx, d, off);
    }
    if (queue_reg(off, &qi, &reg)) {
        return queue_read(&d->q[qi], reg);
    }
    if (off >= DMAE_MSIX_TABLE &&
        off < DMAE_MSIX_TABLE + sizeof(d->r.msix_table)) {
        return bytes_get32(&d->r.msix_table[off - DMAE_MSIX_TABLE]);
    }
    if (off == DMAE_MSIX_PBA) {
        return d->r.msix_pending;
    }
    return 0;
}

static void
reg_write(vfu_ctx_t *ctx, dmae_t *d, uint32_t off, uint32_t val,
          uint32_t mask)
{
    unsigned int qi;
    uint32_t reg;

    if (off < DMAE_QUEUE_BASE) {
        global_write(ctx, d, off, val, mask);
    } else if (queue_reg(off, &qi, &reg)) {
        queue_write(ctx, d, qi, reg, val, mask);
    } else if (off >= DMAE_MSIX_TABLE &&
               off < DMAE_MSIX_TABLE + sizeof(d->r.msix_table)) {
        uint8_t *p = &d->r.msix_table[off - DMAE_MSIX_TABLE];
        unsigned int i;

        for (i = 0; i < 4; i++) {
            if (mask & (0xffu << (8 * i))) {
                p[i] = (uint8_t)(val >> (8 * i));
            }
        }
    }
}

static ssize_t
dmae_bar0_access(vfu_ctx_t *ctx, char *buf, size_t count, loff_t offset,
                 bool is_write)
{
    dmae_t *d = vfu_get_private(ctx);
    size_t done = 0;
    size_t end;

    if (d == NULL || buf == NULL || offset < 0 ||
        __builtin_add_overflow((size_t)offset, count, &end) ||
        end > DMAE_BAR0_SIZE) {
        errno = EINVAL;
        return -1;
    }
    if (dmae_frozen(d)) {
        if (is_write) {
            vfu_log(ctx, LOG_INFO,
                    "dmaengine: register write while stopped: refused");
            errno = EBUSY;
            return -1;
        }
    } else {
        msix_flush(ctx, d);
    }
    /* split at register boundaries; each piece is byte-masked */
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
            reg_write(ctx, d, reg, val, mask);
        } else {
            val = reg_read(ctx, d, reg);
            for (i = 0; i < n; i++) {
                buf[done + i] = (char)(val >> (8 * (first + i)));
            }
        }
        done += n;
    }
    return (ssize_t)count;
}

/* ------------------------------------------------------------------ */
/* Callbacks                                                           */
/* ------------------------------------------------------------------ */

static int
dmae_reset_cb(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
    dmae_t *d = vfu_get_private(ctx);

    if (d == NULL) {
        errno = EINVAL;
        return -1;
    }
    vfu_log(ctx, LOG_DEBUG, "dmaengine: reset (type %d)", (int)type);
    device_reset(ctx, d);
    if (type == VFU_RESET_DEVICE) {
        /*
         * The server puts the migration state back to RUNNING after a
         * DEVICE_RESET (how a RESUMING session is abandoned), with no
         * transition call: follow it.
         */
        d->mig_state = VFU_MIGR_STATE_RUNNING;
        devmig_out_reset(&d->mig);
        devmig_in_reset(&d->mig);
    }
    return 0;
}

/*
 * Processing finishes inside the kick: descriptors in flight have not
 * started, so there is nothing to wait for.
 */
static int
dmae_quiesce_cb(vfu_ctx_t *ctx)
{
    (void)ctx;
    return 0;
}

static void
dmae_dma_register_cb(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
    vfu_log(ctx, LOG_DEBUG, "dmaengine: DMA region [%#llx, +%#zx) %s",
            (unsigned long long)(uintptr_t)info->iova.iov_base,
            info->iova.iov_len, info->vaddr != NULL ? "mapped" : "fd-less");
}

/* Drop every ring mapping that overlaps the region going away. */
static void
dmae_dma_unregister_cb(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
    dmae_t *d = vfu_get_private(ctx);
    uint64_t lo = (uint64_t)(uintptr_t)info->iova.iov_base;
    uint64_t len = info->iova.iov_len;
    unsigned int i;

    if (d == NULL) {
        return;
    }
    for (i = 0; i < DMAE_NR_QUEUES; i++) {
        dmae_queue_t *q = &d->q[i];
        uint64_t qlen = (uint64_t)q->ring_size * DMAE_DESC_SIZE;

        if (q->ring_iov.iov_base == NULL) {
            continue;
        }
        /* half-open ranges [lo, lo + len) and [base, base + qlen) */
        if (q->ring_base - lo < len || lo - q->ring_base < qlen) {
            vfu_log(ctx, LOG_DEBUG,
                    "dmaengine: queue %u ring unmapped from under it", i);
            dmae_ring_uncache(ctx, q);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Migration                                                           */
/* ------------------------------------------------------------------ */

/* The device state as a blob carries it, decoded and not yet applied. */
typedef struct dmae_image {
    dmae_regs_t r;
    dmae_queue_t q[DMAE_NR_QUEUES]; /* ring_sg and ring_iov unused */
    uint32_t qstate[DMAE_NR_QUEUES]; /* DMAE_MIG_Q_* */
    const uint8_t *cfg;
} dmae_image_t;

static uint32_t
mig_qstate(const dmae_queue_t *q)
{
    return (q->running ? DMAE_MIG_Q_RUNNING : 0) |
           (q->halted ? DMAE_MIG_Q_HALTED : 0) |
           (q->ring_iov.iov_base != NULL || q->remap ? DMAE_MIG_Q_DIRECT : 0);
}

static size_t
dmae_mig_save(void *arg, uint8_t *payload)
{
    vfu_ctx_t *ctx = arg;
    const dmae_t *d = vfu_get_private(ctx);
    const void *cfg = vfu_pci_get_config_space(ctx);
    uint8_t *p = payload;
    unsigned int i;

    if (cfg == NULL) {
        return 0;
    }
    devmig_put32(&p, d->r.ctrl);
    devmig_put32(&p, d->r.err_code);
    devmig_put32(&p, d->r.err_count);
    devmig_put64(&p, d->r.err_addr);
    devmig_put32(&p, d->r.int_status);
    devmig_put32(&p, d->r.msix_pending);
    devmig_put_bytes(&p, d->r.msix_table, sizeof(d->r.msix_table));
    for (i = 0; i < DMAE_NR_QUEUES; i++) {
        const dmae_queue_t *q = &d->q[i];

        devmig_put64(&p, q->ring_base);
        devmig_put32(&p, q->ring_size);
        devmig_put32(&p, q->ctrl);
        devmig_put32(&p, q->head);
        devmig_put32(&p, q->tail);
        devmig_put32(&p, mig_qstate(q));
        devmig_put32(&p, q->error);
        devmig_put32(&p, q->int_ctrl);
        devmig_put32(&p, q->completed);
        devmig_put32(&p, q->irq_count);
        devmig_put32(&p, q->intr_pending);
        devmig_put32(&p, q->budget);
    }
    devmig_put_bytes(&p, cfg, DMAE_MIG_CONFIG_SIZE);
    return (size_t)(p - payload);
}

static void
mig_decode(const uint8_t *payload, dmae_image_t *img)
{
    const uint8_t *p = payload;
    unsigned int i;

    memset(img, 0, sizeof(*img));
    img->r.ctrl = devmig_get32(&p);
    img->r.err_code = devmig_get32(&p);
    img->r.err_count = devmig_get32(&p);
    img->r.err_addr = devmig_get64(&p);
    img->r.int_status = devmig_get32(&p);
    img->r.msix_pending = devmig_get32(&p);
    devmig_get_bytes(&p, img->r.msix_table, sizeof(img->r.msix_table));
    for (i = 0; i < DMAE_NR_QUEUES; i++) {
        dmae_queue_t *q = &img->q[i];

        q->ring_base = devmig_get64(&p);
        q->ring_size = devmig_get32(&p);
        q->ctrl = devmig_get32(&p);
        q->head = devmig_get32(&p);
        q->tail = devmig_get32(&p);
        img->qstate[i] = devmig_get32(&p);
        q->error = devmig_get32(&p);
        q->int_ctrl = devmig_get32(&p);
        q->completed = devmig_get32(&p);
        q->irq_count = devmig_get32(&p);
        q->intr_pending = devmig_get32(&p);
        q->budget = devmig_get32(&p);
        q->running = (img->qstate[i] & DMAE_MIG_Q_RUNNING) != 0;
        q->halted = (img->qstate[i] & DMAE_MIG_Q_HALTED) != 0;
    }
    img->cfg = p;
}

/* Why queue @q of an image is not a state the device can be in, or NULL. */
static const char *
mig_queue_bad(const dmae_image_t *img, unsigned int i)
{
    const dmae_queue_t *q = &img->q[i];
    uint32_t size = q->ring_size;
    uint64_t last;

    if (img->qstate[i] & ~(uint32_t)(DMAE_MIG_Q_RUNNING | DMAE_MIG_Q_HALTED |
                                     DMAE_MIG_Q_DIRECT)) {
        return "unknown queue state bits";
    }
    if (q->ctrl & ~DMAE_QCTRL_ENABLE) {
        return "Q_CTRL";
    }
    if (q->int_ctrl & ~(DMAE_QINT_ENABLE | DMAE_QINT_COALESCE(0xff))) {
        return "INT_CTRL";
    }
    if (q->budget & ~DMAE_QBUDGET_MASK) {
        return "BUDGET";
    }
    if (q->error > DMAE_ERR_MAX || (q->error != 0) != q->halted) {
        return "Q_ERROR";
    }
    if (q->head >= DMAE_MAX_RING || q->tail >= DMAE_MAX_RING ||
        q->intr_pending >= DMAE_MAX_RING) {
        return "HEAD, TAIL or pending completions";
    }
    if (!q->running) {
        /* stopped: the ring registers are the guest's to set at will */
        return (img->qstate[i] & DMAE_MIG_Q_DIRECT) ? "mapped stopped ring"
                                                    : NULL;
    }
    if (q->halted || !(q->ctrl & DMAE_QCTRL_ENABLE)) {
        return "running queue halted or disabled";
    }
    if (size < DMAE_MIN_RING || size > DMAE_MAX_RING ||
        (size & (size - 1)) != 0) {
        return "ring size";
    }
    if (q->ring_base % DMAE_RING_ALIGN != 0 ||
        __builtin_add_overflow(q->ring_base,
                               (uint64_t)size * DMAE_DESC_SIZE - 1, &last)) {
        return "ring base";
    }
    if (q->head >= size || q->tail >= size) {
        return "HEAD or TAIL beyond the ring";
    }
    if ((img->qstate[i] & DMAE_MIG_Q_DIRECT) &&
        (img->r.ctrl & DMAE_CTRL_NO_DIRECT)) {
        return "ring mapped under NO_DIRECT";
    }
    return NULL;
}

static int
dmae_mig_check(void *arg, const uint8_t *payload)
{
    vfu_ctx_t *ctx = arg;
    dmae_image_t img;
    const char *why = NULL;
    uint32_t err, all_q = 0;
    unsigned int i;

    mig_decode(payload, &img);
    for (i = 0; i < DMAE_NR_QUEUES; i++) {
        all_q |= DMAE_INT_QUEUE(i);
    }
    err = DMAE_ERR_CODE_ERR(img.r.err_code);
    if (img.r.ctrl & ~DMAE_CTRL_MASK) {
        why = "CTRL";
    } else if (img.r.err_code != 0 &&
               (err == DMAE_ERR_NONE || err > DMAE_ERR_MAX ||
                DMAE_ERR_CODE_QUEUE(img.r.err_code) >= DMAE_NR_QUEUES ||
                DMAE_ERR_CODE_SLOT(img.r.err_code) >= DMAE_MAX_RING)) {
        why = "ERR_CODE";
    } else if (img.r.err_code == 0 && img.r.err_addr != 0) {
        why = "ERR_ADDR without ERR_CODE";
    } else if (img.r.int_status & ~(all_q | DMAE_INT_ERROR)) {
        why = "INT_STATUS";
    } else if (img.r.msix_pending >> DMAE_MSIX_VECTORS) {
        why = "MSI-X pending bits";
    }
    for (i = 0; why == NULL && i < DMAE_NR_QUEUES; i++) {
        why = mig_queue_bad(&img, i);
        if (why != NULL) {
            vfu_log(ctx, LOG_ERR, "dmaengine: migration data: queue %u: %s",
                    i, why);
            return -EINVAL;
        }
    }
    if (why == NULL &&
        devmig_cfg_check(ctx, img.cfg, DMAE_MIG_CONFIG_SIZE, &why) == 0) {
        return 0;
    }
    vfu_log(ctx, LOG_ERR, "dmaengine: migration data: %s", why);
    return -EINVAL;
}

/* Map again the rings the source had mapped, where this side can. */
static void
mig_remap_rings(vfu_ctx_t *ctx, dmae_t *d)
{
    unsigned int i;

    for (i = 0; i < DMAE_NR_QUEUES; i++) {
        dmae_queue_t *q = &d->q[i];

        if (q->remap && q->running && q->ring_iov.iov_base == NULL) {
            dmae_ring_cache(ctx, d, q);
        }
        if (q->ring_iov.iov_base != NULL) {
            q->remap = false;
        }
    }
}

/* Replace the device state with a checked payload. */
static void
dmae_mig_load(vfu_ctx_t *ctx, dmae_t *d, const uint8_t *payload)
{
    dmae_image_t img;
    unsigned int i;

    mig_decode(payload, &img);
    for (i = 0; i < DMAE_NR_QUEUES; i++) {
        dmae_queue_t *q = &d->q[i];
        dma_sg_t *sg = q->ring_sg;

        dmae_ring_uncache(ctx, q);
        *q = img.q[i];
        q->ring_sg = sg;
        memset(&q->ring_iov, 0, sizeof(q->ring_iov));
        q->remap = (img.qstate[i] & DMAE_MIG_Q_DIRECT) != 0;
    }
    d->r = img.r;
    d->deferred = 0;
    devmig_cfg_load(ctx, img.cfg, DMAE_MIG_CONFIG_SIZE);
    sync_intx_status(ctx, d);
    /* guest memory may not be mapped yet: tried again on RUNNING */
    mig_remap_rings(ctx, d);
    vfu_log(ctx, LOG_DEBUG, "dmaengine: state restored");
}

/*
 * PRE_COPY offers a preview (the device keeps running); STOP_AND_COPY the
 * final state.  Leaving RESUMING fails while the data received is
 * incomplete: half a blob, no final blob after some data, or a refused
 * blob not followed by a good final one.
 */
static int
dmae_mig_transition(vfu_ctx_t *ctx, vfu_migr_state_t state)
{
    dmae_t *d = vfu_get_private(ctx);
    unsigned int i;

    if (d == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (state == VFU_MIGR_STATE_RUNNING) {
        mig_remap_rings(ctx, d);
        for (i = 0; i < DMAE_NR_QUEUES; i++) {
            d->q[i].remap = false; /* what could be mapped now is */
        }
    }
    return devmig_transition(&d->mig, ctx, "dmaengine", &d->mig_state,
                             state, dmae_mig_save, ctx);
}

static ssize_t
dmae_mig_read(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
    dmae_t *d = vfu_get_private(ctx);

    if (d == NULL) {
        errno = EINVAL;
        return -1;
    }
    return devmig_read_data(&d->mig, d->mig_state, buf, count);
}

static ssize_t
dmae_mig_write(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
    dmae_t *d = vfu_get_private(ctx);
    const uint8_t *final;
    ssize_t n;

    if (d == NULL) {
        errno = EINVAL;
        return -1;
    }
    n = devmig_write_data(&d->mig, ctx, "dmaengine", d->mig_state, buf,
                          count, dmae_mig_check, ctx, &final);
    if (final != NULL) {
        dmae_mig_load(ctx, d, final);
    }
    return n;
}

static const vfu_migration_callbacks_t dmae_mig_cbs = {
    .version = VFU_MIGR_CALLBACKS_VERS,
    .transition = dmae_mig_transition,
    .read_data = dmae_mig_read,
    .write_data = dmae_mig_write,
};

/* ------------------------------------------------------------------ */
/* Model                                                               */
/* ------------------------------------------------------------------ */

static void
dmae_destroy(void *state)
{
    dmae_t *d = state;

    if (d == NULL) {
        return;
    }
    /* the context is gone by now: its mappings went with it */
    devmig_fini(&d->mig);
    free(d->bounce[0]);
    free(d->bounce[1]);
    free(d->sg);
    free(d);
}

static void *
dmae_create(void)
{
    dmae_t *d = calloc(1, sizeof(*d));
    unsigned int i;

    if (d == NULL) {
        return NULL;
    }
    d->sg = calloc(DMAE_NR_SG + DMAE_NR_QUEUES, dma_sg_size());
    d->bounce[0] = malloc(DMAE_CHUNK);
    d->bounce[1] = malloc(DMAE_CHUNK);
    d->mig_state = VFU_MIGR_STATE_RUNNING;
    if (d->sg == NULL || d->bounce[0] == NULL || d->bounce[1] == NULL ||
        devmig_init(&d->mig, DMAE_MIG_MAGIC, DMAE_MIG_VERSION,
                    DMAE_MIG_PAYLOAD_SIZE) < 0) {
        dmae_destroy(d);
        return NULL;
    }
    for (i = 0; i < DMAE_NR_QUEUES; i++) {
        d->q[i].ring_sg = dmae_sg(d, DMAE_NR_SG + i);
    }
    crc32c_init(d->crc_table);
    return d;
}

static int
dmae_add_caps(vfu_ctx_t *ctx, dmae_t *d)
{
    struct pmcap pm;
    struct msixcap msix;
    struct pxcap px;
    ssize_t pos;

    memset(&pm, 0, sizeof(pm));
    pm.hdr.id = PCI_CAP_ID_PM;
    pm.pc.vs = 3;       /* PCI Power Management 1.2 */
    pm.pmcs.nsfrst = 1; /* D3hot -> D0 keeps the registers */
    if (vfu_pci_add_capability(ctx, 0, 0, &pm) < 0) {
        return -1;
    }

    memset(&msix, 0, sizeof(msix));
    msix.hdr.id = PCI_CAP_ID_MSIX;
    msix.mxc.ts = DMAE_MSIX_VECTORS - 1;
    msix.mtab.tbir = 0;
    msix.mtab.to = DMAE_MSIX_TABLE >> 3;
    msix.mpba.pbir = 0;
    msix.mpba.pbao = DMAE_MSIX_PBA >> 3;
    pos = vfu_pci_add_capability(ctx, 0, 0, &msix);
    if (pos < 0) {
        return -1;
    }
    d->msix_cap = (size_t)pos;

    memset(&px, 0, sizeof(px));
    px.hdr.id = PCI_CAP_ID_EXP;
    px.pxcaps.ver = 2;
    px.pxcaps.dpt = PCI_EXP_TYPE_ENDPOINT;
    px.pxdcap.mps = 1;  /* 256-byte payloads */
    px.pxdcap.flrc = 1; /* FLR runs the reset callback */
    px.pxdc.mps = 0;
    px.pxdc.mrrs = 2; /* 512-byte read requests */
    if (vfu_pci_add_capability(ctx, 0, 0, &px) < 0) {
        return -1;
    }
    return 0;
}

static int
dmae_setup(vfu_ctx_t *ctx)
{
    dmae_t *d = vfu_get_private(ctx);
    vfu_pci_config_space_t *cfg;

    if (d == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (vfu_pci_init(ctx, VFU_PCI_TYPE_EXPRESS, PCI_HEADER_TYPE_NORMAL,
                     DMAE_REVISION) < 0) {
        return -1;
    }
    vfu_pci_set_id(ctx, DMAE_VENDOR_ID, DMAE_DEVICE_ID, DMAE_SUBSYS_VENDOR_ID,
                   DMAE_SUBSYS_ID);
    vfu_pci_set_class(ctx, DMAE_CLASS_BASE, DMAE_CLASS_SUB, DMAE_CLASS_PI);
    cfg = vfu_pci_get_config_space(ctx);
    if (cfg == NULL) {
        errno = EINVAL;
        return -1;
    }
    cfg->hdr.intr.ipin = 1; /* INTA# */
    if (dmae_add_caps(ctx, d) < 0) {
        return -1;
    }
    if (vfu_setup_region(ctx, VFU_PCI_DEV_BAR0_REGION_IDX, DMAE_BAR0_SIZE,
                         dmae_bar0_access,
                         VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM |
                             VFU_REGION_FLAG_64_BITS,
                         NULL, 0, -1, 0) < 0) {
        return -1;
    }
    if (vfu_setup_device_nr_irqs(ctx, VFU_DEV_INTX_IRQ, 1) < 0 ||
        vfu_setup_device_nr_irqs(ctx, VFU_DEV_MSIX_IRQ, DMAE_MSIX_VECTORS) <
            0) {
        return -1;
    }
    if (vfu_setup_device_dma(ctx, DMAE_MAX_DMA_REGIONS, dmae_dma_register_cb,
                             dmae_dma_unregister_cb) < 0) {
        return -1;
    }
    if (vfu_setup_device_reset_cb(ctx, dmae_reset_cb) < 0) {
        return -1;
    }
    vfu_setup_device_quiesce_cb(ctx, dmae_quiesce_cb);
    if (vfu_setup_device_migration_callbacks(ctx, &dmae_mig_cbs) < 0) {
        return -1;
    }
    return 0;
}

const vfu_device_model_t vfu_device_dmaengine = {
    .name = "dmaengine",
    .description = "DMA accelerator: 4 descriptor rings, copy/fill/crc32c/"
                   "compare, MSI-X",
    .create = dmae_create,
    .setup = dmae_setup,
    .destroy = dmae_destroy,
};
