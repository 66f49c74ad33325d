/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_util.h - shared harness for the protocol fuzz targets: one
 * negotiated in-process dmaengine context per process, reset cheaply
 * between inputs and re-created only when an input broke the connection.
 */
#ifndef VFU_FUZZ_UTIL_H
#define VFU_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The largest body a target hands the server; more only slows fuzzing. */
#define FZ_MAX_BODY (64u * 1024u)

/*
 * The setup every input meets (fz_scenario.c prints the same as .vus):
 * the dmaengine device, negotiated with these capabilities and
 * write_multiple, a memfd region and a message-served region, eventfds on
 * all MSI-X vectors and INTx,
 * and BAR0 CTRL = ENABLE | NO_DIRECT (the device moves every byte with
 * DMA messages).
 */
#define FZ_MAX_FDS 8u
#define FZ_MAX_XFER (1u << 20)
#define FZ_FD_IOVA 0x10000u
#define FZ_FD_SIZE 0x10000u
#define FZ_MSG_IOVA 0x100000u
#define FZ_MSG_SIZE 0x10000u
/* DMA_READ/DMA_WRITE inputs: queue 0's ring and completion record there */
#define FZ_RING_OFF 0u
#define FZ_COMPL_OFF 0x1000u

/*
 * fz_msg_one - run one input against command @cmd.  Input layout: flags
 * byte (the header's flags), simulated fd count (low 3 bits; bit 3 picks
 * memfds instead of eventfds), then the body.  For VFIO_USER_DMA_READ and
 * VFIO_USER_DMA_WRITE the input is the client's reply to a DMA the device
 * starts from a doorbell over one NOP descriptor (with a completion record
 * for DMA_WRITE): its flags byte (0: a plain reply), fd spec and body; an
 * error flag comes with EIO.
 */
void
fz_msg_one(uint16_t cmd, const uint8_t *data, size_t size);

/*
 * fz_stream_one - the input is a sequence of whole messages, each preceded
 * by a little-endian 16-bit length and a fd-count byte.
 */
void
fz_stream_one(const uint8_t *data, size_t size);

#endif /* VFU_FUZZ_UTIL_H */
