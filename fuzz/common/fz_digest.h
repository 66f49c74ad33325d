/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fz_digest.h - what a harness's code under test said during one input,
 * as a digest of its wire messages (ids left out), for the determinism
 * check of replay_main.c: replayed alone or after any other inputs, an
 * input must produce the same messages, or a crash would need its
 * predecessors to reproduce.
 */
#ifndef VFU_FUZZ_DIGEST_H
#define VFU_FUZZ_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vfio-user/vfio-user.h"

#define FZ_DIGEST_INIT 0xcbf29ce484222325ull

/**
 * fz_input_digest - the digest of the last input; a harness that keeps
 * state between inputs defines it (replay_main.c checks it when present).
 */
uint64_t
fz_input_digest(void) __attribute__((weak));

static inline void
fz_digest_bytes(uint64_t *d, const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t i;

    for (i = 0; i < n; i++) {
        *d = (*d ^ b[i]) * 0x100000001b3ull;
    }
}

/* A wire tracer hook (vfu_ext_trace_cb_t, vmm_trace_cb_t): @arg the digest */
static inline void
fz_digest_msg(void *arg, bool outgoing, const struct vfio_user_header *hdr,
              const void *body, size_t len, size_t nr_fds)
{
    uint64_t *d = arg;
    uint8_t dir = outgoing;

    fz_digest_bytes(d, &dir, sizeof(dir));
    fz_digest_bytes(d, &hdr->cmd, sizeof(hdr->cmd));
    fz_digest_bytes(d, &hdr->msg_size, sizeof(hdr->msg_size));
    fz_digest_bytes(d, &hdr->flags, sizeof(hdr->flags));
    fz_digest_bytes(d, &hdr->error_no, sizeof(hdr->error_no));
    fz_digest_bytes(d, &nr_fds, sizeof(nr_fds));
    if (body != NULL) {
        fz_digest_bytes(d, body, len);
    }
}

#endif /* VFU_FUZZ_DIGEST_H */
