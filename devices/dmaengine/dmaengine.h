/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaengine.h - identity, register map, descriptor and completion record
 * layouts of the dmaengine sample device (a DMA / data-transform
 * accelerator), for its driver-side users: tests, scenarios, benchmarks
 * and tools.  dmaengine.c documents the behaviour behind each register.
 *
 * Every register is 32 bits, little-endian.  64-bit values (ring base,
 * error address) are split in a LO/HI pair that an 8-byte access at LO
 * reads or writes at once.  Guest-memory structures (descriptors and
 * completion records) are little-endian too.
 */
#ifndef VFU_DEVICES_DMAENGINE_H
#define VFU_DEVICES_DMAENGINE_H

#include <stdint.h>

/* ---- PCI identity ---------------------------------------------------- */

/* 0x4e58 marks the vfu-harness sample devices (see gpio.h). */
#define DMAE_VENDOR_ID 0x4e58
#define DMAE_DEVICE_ID 0x0002
#define DMAE_SUBSYS_VENDOR_ID 0x4e58
#define DMAE_SUBSYS_ID 0x0002
#define DMAE_REVISION 0x01
/* Processing accelerator (0x12), sub class 0x00, programming interface 0. */
#define DMAE_CLASS_BASE 0x12
#define DMAE_CLASS_SUB 0x00
#define DMAE_CLASS_PI 0x00

/* ---- dimensions ------------------------------------------------------- */

#define DMAE_NR_QUEUES 4u
#define DMAE_DESC_SIZE 64u           /* bytes per ring entry */
#define DMAE_COMPL_SIZE 32u          /* bytes per completion record */
#define DMAE_RING_ALIGN 64u          /* ring base alignment */
#define DMAE_COMPL_ALIGN 32u         /* completion record alignment */
#define DMAE_MIN_RING 2u             /* entries; a power of two ... */
#define DMAE_MAX_RING_SHIFT 12u
#define DMAE_MAX_RING (1u << DMAE_MAX_RING_SHIFT) /* ... up to 4096 */
#define DMAE_MAX_LEN (16u << 20)     /* largest descriptor length, bytes */

/*
 * MSI-X: vector q (0..3) signals completions of queue q; the last vector
 * signals device errors.
 */
#define DMAE_ERR_VECTOR DMAE_NR_QUEUES
#define DMAE_MSIX_VECTORS (DMAE_NR_QUEUES + 1)

/* ---- BAR0: 16 KiB, 64-bit non-prefetchable memory ------------------- */

#define DMAE_BAR0_SIZE 0x4000u

/* Global registers. */
#define DMAE_REG_ID 0x000          /* RO   DMAE_ID_VALUE */
#define DMAE_REG_VERSION 0x004     /* RO   DMAE_VERSION_VALUE */
#define DMAE_REG_CAPS 0x008        /* RO   DMAE_CAPS_VALUE */
#define DMAE_REG_MAX_LEN 0x00c     /* RO   DMAE_MAX_LEN */
#define DMAE_REG_CTRL 0x010        /* RW   DMAE_CTRL_* */
#define DMAE_REG_STATUS 0x014      /* RO   DMAE_STATUS_* */
#define DMAE_REG_ERR_CODE 0x018    /* RO   last error; any write clears it */
#define DMAE_REG_ERR_COUNT 0x01c   /* RO   errors since reset */
#define DMAE_REG_ERR_ADDR_LO 0x020 /* RO   address of the last error */
#define DMAE_REG_ERR_ADDR_HI 0x024 /* RO */
#define DMAE_REG_INT_MODE 0x028    /* RO   DMAE_INT_MODE_* in effect */
#define DMAE_REG_INT_STATUS 0x02c  /* RW1C DMAE_INT_* cause bits */

#define DMAE_ID_VALUE 0x45414d44u      /* the bytes "DMAE" */
#define DMAE_VERSION_VALUE 0x00010000u /* major 1, minor 0 */

/* CAPS: [7:0] queues, [15:8] opcode n supported when bit n is set,
 * [23:16] log2 of the largest ring. */
#define DMAE_CAPS_QUEUES(c) ((c) & 0xffu)
#define DMAE_CAPS_OPS(c) (((c) >> 8) & 0xffu)
#define DMAE_CAPS_RING_SHIFT(c) (((c) >> 16) & 0xffu)
#define DMAE_CAPS_VALUE                                                        \
    (DMAE_NR_QUEUES | (0x1fu << 8) | (DMAE_MAX_RING_SHIFT << 16))

#define DMAE_CTRL_ENABLE (1u << 0)    /* process doorbells */
#define DMAE_CTRL_RESET (1u << 1)     /* write 1: device reset; reads 0 */
#define DMAE_CTRL_NO_DIRECT (1u << 2) /* never use mappings: DMA messages */
#define DMAE_CTRL_MASK (DMAE_CTRL_ENABLE | DMAE_CTRL_NO_DIRECT)

#define DMAE_STATUS_ENABLED (1u << 0)
#define DMAE_STATUS_ERROR (1u << 1) /* some queue is halted */
#define DMAE_STATUS_RUNNING(s) (((s) >> 8) & 0xffu) /* queue mask */
#define DMAE_STATUS_HALTED(s) (((s) >> 16) & 0xffu) /* queue mask */

/* ERR_CODE: [7:0] DMAE_ERR_*, [15:8] queue, [31:16] ring slot. */
#define DMAE_ERR_CODE_ERR(v) ((v) & 0xffu)
#define DMAE_ERR_CODE_QUEUE(v) (((v) >> 8) & 0xffu)
#define DMAE_ERR_CODE_SLOT(v) (((v) >> 16) & 0xffffu)

#define DMAE_INT_MODE_NONE 0u /* MSI-X off and INTx disabled in COMMAND */
#define DMAE_INT_MODE_INTX 1u
#define DMAE_INT_MODE_MSIX 2u

/* INT_STATUS: bit q for a completion interrupt of queue q, then errors. */
#define DMAE_INT_QUEUE(q) (1u << (q))
#define DMAE_INT_ERROR (1u << 31)

/* Queue q's registers: DMAE_QREG(q, DMAE_Q_*). */
#define DMAE_QUEUE_BASE 0x1000u
#define DMAE_QUEUE_STRIDE 0x100u
#define DMAE_QREG(q, r) (DMAE_QUEUE_BASE + (q) * DMAE_QUEUE_STRIDE + (r))
#define DMAE_Q_RING_LO 0x00   /* RW   ring base (guest address) */
#define DMAE_Q_RING_HI 0x04   /* RW */
#define DMAE_Q_RING_SIZE 0x08 /* RW   entries, power of two */
#define DMAE_Q_CTRL 0x0c      /* RW   DMAE_QCTRL_* */
#define DMAE_Q_HEAD 0x10      /* RO   next slot the device reads */
#define DMAE_Q_TAIL 0x14      /* RW   doorbell: next slot the driver fills */
#define DMAE_Q_STATUS 0x18    /* RO   DMAE_QSTATUS_* */
#define DMAE_Q_ERROR 0x1c     /* RO   DMAE_ERR_* that halted the queue */
#define DMAE_Q_INT_CTRL 0x20  /* RW   DMAE_QINT_* */
#define DMAE_Q_COMPLETED 0x24 /* RO   descriptors completed (wraps) */
#define DMAE_Q_IRQ_COUNT 0x28 /* RO   completion interrupts signalled */
#define DMAE_Q_BUDGET 0x2c    /* RW   most descriptors one kick executes */

#define DMAE_QCTRL_ENABLE (1u << 0)
#define DMAE_QCTRL_RESET (1u << 1) /* write 1: queue reset; reads 0 */

#define DMAE_QSTATUS_RUNNING (1u << 0)
#define DMAE_QSTATUS_HALTED (1u << 1)
#define DMAE_QSTATUS_RING_DIRECT (1u << 2) /* ring read through a mapping */

#define DMAE_QINT_ENABLE (1u << 0)
/* interrupt after this many completions that ask for one; 0: per doorbell */
#define DMAE_QINT_COALESCE(n) (((uint32_t)(n) & 0xffu) << 8)
#define DMAE_QINT_COALESCE_GET(v) (((v) >> 8) & 0xffu)

/*
 * BUDGET and descriptors in flight.  A kick is a write to TAIL (writing
 * the value it already has kicks without adding work) or CTRL.ENABLE going
 * from 0 to 1.  A kick executes descriptors from HEAD towards TAIL, at most
 * BUDGET of them (0: no limit but the usual ring size minus one), and
 * returns.  The descriptors it leaves between HEAD and TAIL are *in
 * flight*: handed to the device, not started; the next kick goes on with
 * them.  No descriptor is ever half executed between two messages, so
 * in-flight work is exactly the ring slots [HEAD, TAIL), and it migrates
 * as HEAD and TAIL: a kick on the destination completes it.  Doorbells
 * with CTRL.ENABLE clear leave descriptors in flight the same way.
 */
#define DMAE_QBUDGET_MASK 0x1fffu /* 0..4096 are meaningful */

/* MSI-X table (16 bytes per vector) and pending bit array, in BAR0. */
#define DMAE_MSIX_TABLE 0x2000u
#define DMAE_MSIX_PBA 0x3000u

/* ---- descriptors (64 bytes, in the ring) ----------------------------- */

typedef struct dmae_desc {
    uint8_t opcode; /* DMAE_OP_* */
    uint8_t flags;  /* DMAE_DESC_F_* */
    uint16_t rsvd0;
    uint32_t len;   /* bytes, 1..DMAE_MAX_LEN (ignored by NOP) */
    uint64_t src;   /* COPY, CRC32C, COMPARE */
    uint64_t dst;   /* COPY, FILL, COMPARE */
    uint64_t completion; /* record address (DMAE_DESC_F_COMPL) */
    uint64_t pattern; /* FILL: 8-byte pattern; CRC32C: seed (previous CRC) */
    uint64_t tag;   /* copied to the completion record */
    uint64_t rsvd1[2];
} __attribute__((packed)) dmae_desc_t;
_Static_assert(sizeof(dmae_desc_t) == DMAE_DESC_SIZE, "descriptor size");

#define DMAE_OP_NOP 0x00     /* nothing; completes */
#define DMAE_OP_COPY 0x01    /* src -> dst */
#define DMAE_OP_FILL 0x02    /* pattern -> dst, byte i = pattern >> 8*(i%8) */
#define DMAE_OP_CRC32C 0x03  /* CRC32C of src, continuing from seed */
#define DMAE_OP_COMPARE 0x04 /* src vs dst */

#define DMAE_DESC_F_COMPL (1u << 0) /* write a completion record */
#define DMAE_DESC_F_INTR (1u << 1)  /* ask for a completion interrupt */
#define DMAE_DESC_F_MASK (DMAE_DESC_F_COMPL | DMAE_DESC_F_INTR)

/* ---- completion records (32 bytes, written by the device) ----------- */

typedef struct dmae_compl {
    uint32_t status; /* DMAE_CS_* */
    uint32_t result; /* CRC32C value; COMPARE: 0 equal, 1 different;
                        DMAE_CS_ERROR: the DMAE_ERR_* code */
    uint64_t bytes;  /* bytes processed (COMPARE: bytes found equal) */
    uint64_t tag;    /* the descriptor's tag */
    uint64_t detail; /* COMPARE: offset of the first difference;
                        DMAE_CS_ERROR: the faulting address */
} __attribute__((packed)) dmae_compl_t;
_Static_assert(sizeof(dmae_compl_t) == DMAE_COMPL_SIZE, "record size");

#define DMAE_CS_NONE 0u /* never written by the device */
#define DMAE_CS_OK 1u
#define DMAE_CS_ERROR 2u

/* ---- error codes (ERR_CODE, Q_ERROR, error records) ----------------- */

#define DMAE_ERR_NONE 0x00
#define DMAE_ERR_RING_SIZE 0x01   /* not a power of two in [2, 4096] */
#define DMAE_ERR_RING_ALIGN 0x02  /* ring base not 64-byte aligned */
#define DMAE_ERR_RING_FAULT 0x03  /* ring not (or no longer) readable */
#define DMAE_ERR_BAD_TAIL 0x04    /* doorbell value >= ring size */
#define DMAE_ERR_BAD_OPCODE 0x05
#define DMAE_ERR_BAD_LEN 0x06     /* 0 or above DMAE_MAX_LEN */
#define DMAE_ERR_BAD_FLAGS 0x07   /* reserved descriptor flags set */
#define DMAE_ERR_SRC_FAULT 0x08   /* source not mapped or not readable */
#define DMAE_ERR_DST_FAULT 0x09   /* destination not mapped / writable */
#define DMAE_ERR_COMPL_FAULT 0x0a /* record misaligned or not writable */
#define DMAE_ERR_DMA_IO 0x0b      /* a transfer failed after translation */
#define DMAE_ERR_MAX DMAE_ERR_DMA_IO

/* ---- migration data -------------------------------------------------- */

/*
 * Blobs framed as devices/common/devmig.h describes, magic DMAE_MIG_MAGIC
 * (the bytes "DEMG"), layout version 1.  Payload, little-endian:
 *
 *   0x000  u32       CTRL (DMAE_CTRL_MASK bits only)
 *   0x004  u32       ERR_CODE (0, or error 1..DMAE_ERR_MAX, queue < 4,
 *                    slot < 4096)
 *   0x008  u32       ERR_COUNT
 *   0x00c  u64       ERR_ADDR (0 when ERR_CODE is 0)
 *   0x014  u32       INT_STATUS (queue bits and DMAE_INT_ERROR only)
 *   0x018  u32       MSI-X pending bits (vectors 0..4 only)
 *   0x01c  u8[80]    MSI-X table
 *   0x06c  4 x 52    queues 0..3, each:
 *          +0x00 u64 RING base
 *          +0x08 u32 RING_SIZE (as written)
 *          +0x0c u32 Q_CTRL (DMAE_QCTRL_ENABLE only)
 *          +0x10 u32 HEAD
 *          +0x14 u32 TAIL
 *          +0x18 u32 DMAE_MIG_Q_* state bits
 *          +0x1c u32 Q_ERROR (0..DMAE_ERR_MAX; non-zero iff halted)
 *          +0x20 u32 INT_CTRL (ENABLE and COALESCE bits only)
 *          +0x24 u32 COMPLETED
 *          +0x28 u32 IRQ_COUNT
 *          +0x2c u32 completions waiting for a coalesced interrupt
 *          +0x30 u32 BUDGET (DMAE_QBUDGET_MASK bits only)
 *   0x13c  u8[4096]  PCI config space (IDs and capabilities must match)
 *
 * A running queue must have a valid ring (power-of-two size in [2, 4096],
 * 64-byte aligned base, the ring within 64-bit space) and HEAD and TAIL
 * below its size; any queue has HEAD and TAIL below 4096.
 */
#define DMAE_MIG_MAGIC 0x474d4544u /* "DEMG" */
#define DMAE_MIG_VERSION 1u
#define DMAE_MIG_Q_RUNNING (1u << 0)
#define DMAE_MIG_Q_HALTED (1u << 1)
#define DMAE_MIG_Q_DIRECT (1u << 2) /* ring was mapped: map it again */
#define DMAE_MIG_OFF_CTRL 0x000u
#define DMAE_MIG_OFF_ERR_CODE 0x004u
#define DMAE_MIG_OFF_ERR_COUNT 0x008u
#define DMAE_MIG_OFF_ERR_ADDR 0x00cu
#define DMAE_MIG_OFF_INT_STATUS 0x014u
#define DMAE_MIG_OFF_MSIX_PENDING 0x018u
#define DMAE_MIG_OFF_MSIX_TABLE 0x01cu
#define DMAE_MIG_OFF_QUEUES 0x06cu
#define DMAE_MIG_QUEUE_SIZE 52u
#define DMAE_MIG_Q_OFF_RING 0x00u
#define DMAE_MIG_Q_OFF_RING_SIZE 0x08u
#define DMAE_MIG_Q_OFF_CTRL 0x0cu
#define DMAE_MIG_Q_OFF_HEAD 0x10u
#define DMAE_MIG_Q_OFF_TAIL 0x14u
#define DMAE_MIG_Q_OFF_STATE 0x18u
#define DMAE_MIG_Q_OFF_ERROR 0x1cu
#define DMAE_MIG_Q_OFF_INT_CTRL 0x20u
#define DMAE_MIG_Q_OFF_COMPLETED 0x24u
#define DMAE_MIG_Q_OFF_IRQ_COUNT 0x28u
#define DMAE_MIG_Q_OFF_INTR_PENDING 0x2cu
#define DMAE_MIG_Q_OFF_BUDGET 0x30u
#define DMAE_MIG_OFF_CONFIG                                                    \
    (DMAE_MIG_OFF_QUEUES + DMAE_NR_QUEUES * DMAE_MIG_QUEUE_SIZE)
#define DMAE_MIG_CONFIG_SIZE 4096u
#define DMAE_MIG_PAYLOAD_SIZE (DMAE_MIG_OFF_CONFIG + DMAE_MIG_CONFIG_SIZE)

#endif /* VFU_DEVICES_DMAENGINE_H */
