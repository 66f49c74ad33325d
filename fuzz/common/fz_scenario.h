/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fz_scenario.h - inputs of the protocol fuzz targets (fuzz_msg_*,
 * fuzz_stream) decoded into messages and printed as .vus scenarios that
 * rebuild the harness's setup and send the same bytes (vfu-crash2vus).
 */
#ifndef VFU_FUZZ_SCENARIO_H
#define VFU_FUZZ_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* fz_target_kind() for fuzz_stream; commands are 1..VFIO_USER_MAX-1. */
#define FZ_STREAM 0
#define FZ_NOT_PROTO (-1)

/* One message: for a command target its header flags, fd spec and body;
 * for fuzz_stream the whole message (header included) and its fd spec. */
typedef struct fz_msg {
    uint8_t flags;
    uint8_t fdspec; /* low 3 bits: fd count; bit 3: memfds, else eventfds */
    uint8_t *bytes; /* owned */
    size_t len;
} fz_msg_t;

/* Lines of the harness's setup a minimized scenario may go without. */
#define FZ_SETUP_FD_MAP (1u << 0)  /* the memfd region */
#define FZ_SETUP_MSG_MAP (1u << 1) /* the message-served region */
#define FZ_SETUP_MSIX (1u << 2)
#define FZ_SETUP_INTX (1u << 3)
#define FZ_SETUP_CTRL (1u << 4)    /* BAR0 CTRL = ENABLE | NO_DIRECT */
#define FZ_SETUP_ALL 0x1fu

typedef struct fz_input {
    int kind; /* FZ_STREAM or the command */
    fz_msg_t *msgs;
    size_t nr;
    uint32_t setup; /* FZ_SETUP_* printed; fz_input_decode() sets all */
} fz_input_t;

/**
 * fz_target_kind - the command of a "fuzz_msg_<command>" target name (or
 * of a path containing it), FZ_STREAM for fuzz_stream, else FZ_NOT_PROTO.
 */
int
fz_target_kind(const char *name);

/**
 * fz_input_decode - split @data as target @kind reads it into @in (which
 * must be zeroed).  Returns 0 or -ENOMEM.  The DMA_READ/DMA_WRITE
 * targets' input is the client's answer to a server DMA, printed as an
 * `answer` statement before the doorbell that starts the DMA.
 */
int
fz_input_decode(int kind, const uint8_t *data, size_t size, fz_input_t *in);

/** fz_input_free - free what fz_input_decode() allocated. */
void
fz_input_free(fz_input_t *in);

/**
 * fz_input_print - write the messages whose @keep entry is true (all if
 * @keep is NULL) as a .vus scenario for vfu-run: the harness's setup, then
 * each message with `send`, then the reads that make the server process
 * them.
 */
void
fz_input_print(const fz_input_t *in, const bool *keep, FILE *f);

#endif /* VFU_FUZZ_SCENARIO_H */
