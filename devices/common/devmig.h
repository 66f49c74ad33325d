/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devmig.h - the migration data stream of the sample devices: blob
 * framing, partial reads on the source, validated and staged writes on
 * the destination, and the PCI config space the device carries along.
 * Each device's vfu_migration_callbacks_t are thin wrappers around it.
 *
 * A blob, every field little-endian:
 *
 *   0      u32  magic     the device's (GPIO_MIG_MAGIC, DMAE_MIG_MAGIC)
 *   4      u16  version   layout version of the payload
 *   6      u16  flags     DEVMIG_F_FINAL: the stop-and-copy state, the one
 *                         that counts; clear: a pre-copy preview of the
 *                         state, which may change afterwards.  Other bits
 *                         are reserved and must be 0
 *   8      u32  length    bytes in the whole blob, header and CRC included;
 *                         fixed by (magic, version)
 *   12     ...  payload   the device's fields at fixed offsets (the
 *                         device's header documents them)
 *   len-4  u32  crc       CRC32C of bytes [0, len - 4)
 *
 * The stream of one migration is the blobs the source produced, back to
 * back: a pre-copy blob for each PRE_COPY phase, then one final blob at
 * STOP_COPY.  A pre-copy blob that the client had read only part of when
 * the device entered STOP_COPY is finished first, so the stream is always
 * made of whole blobs; one it had not started is dropped.
 *
 * The destination takes the stream in pieces of any size.  Each header
 * field is checked as soon as its bytes are in, each whole blob against
 * its CRC and then field by field (the device's check callback), and a
 * final blob is handed to the device only when the write that completed
 * it was accepted entirely: a write that is refused changes nothing.
 */
#ifndef VFU_DEVICES_COMMON_DEVMIG_H
#define VFU_DEVICES_COMMON_DEVMIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vfio-user/libvfio-user.h"

#define DEVMIG_HDR_SIZE 12u
#define DEVMIG_CRC_SIZE 4u
#define DEVMIG_OFF_MAGIC 0u
#define DEVMIG_OFF_VERSION 4u
#define DEVMIG_OFF_FLAGS 6u
#define DEVMIG_OFF_LENGTH 8u
#define DEVMIG_F_FINAL (1u << 0)
/* Whole blob size for a payload of @p bytes. */
#define DEVMIG_BLOB_SIZE(p) (DEVMIG_HDR_SIZE + (p) + DEVMIG_CRC_SIZE)
/* No device state is larger than this. */
#define DEVMIG_MAX_PAYLOAD (1u << 20)

/*
 * Write the device's payload at @payload (exactly the payload size given
 * to devmig_init()); returns the bytes written, so the layout code and
 * the declared size are checked against each other.
 */
typedef size_t(devmig_save_fn_t)(void *arg, uint8_t *payload);

/*
 * Check a received payload field by field without changing the device:
 * 0, or -EINVAL (the callback logs which field and why).
 */
typedef int(devmig_check_fn_t)(void *arg, const uint8_t *payload);

typedef struct devmig {
    uint32_t magic;
    uint16_t version;
    size_t payload_size;
    size_t blob_size;
    uint32_t crc_table[256];
    /* source: the bytes not yet read, [out_off, out_len) of out */
    uint8_t *out; /* 2 * blob_size: a partial blob plus a new one */
    size_t out_len;
    size_t out_off;
    size_t out_first; /* where the first whole blob starts */
    /* destination: the blob being received, the final payload staged */
    uint8_t *in; /* blob_size */
    size_t in_len;
    uint8_t *staged; /* payload_size */
    bool staged_ready;
    bool in_started; /* bytes arrived in this RESUMING session */
    bool in_final;   /* the last whole blob was an accepted final one */
    const char *why; /* why the last write was refused */
} devmig_t;

/**
 * devmig_init - set up a stream for blobs of @magic / @version with a
 * @payload_size byte payload (1..DEVMIG_MAX_PAYLOAD).  Returns 0,
 * -EINVAL or -ENOMEM.
 */
int
devmig_init(devmig_t *m, uint32_t magic, uint16_t version,
            size_t payload_size);

/** devmig_fini - free the buffers; accepts a zeroed or finished stream. */
void
devmig_fini(devmig_t *m);

/* ---- source ---- */

/**
 * devmig_emit - queue a new blob (DEVMIG_F_FINAL when @final) with the
 * payload @save writes, after the unread rest of a partly read blob.
 * Returns 0, or -EIO when @save wrote another size than declared.
 */
int
devmig_emit(devmig_t *m, bool final, devmig_save_fn_t *save, void *arg);

/** devmig_read - copy up to @count queued bytes; 0 once all were read. */
size_t
devmig_read(devmig_t *m, void *buf, uint64_t count);

/** devmig_out_reset - forget what is queued (the phase ended). */
void
devmig_out_reset(devmig_t *m);

/* ---- destination ---- */

/** devmig_in_reset - start a RESUMING session: nothing received yet. */
void
devmig_in_reset(devmig_t *m);

/**
 * devmig_write - take @count bytes of the stream.  Every whole blob is
 * checked (header, CRC, then @check); the last accepted final payload
 * of this call is then available from devmig_take_final().  Returns
 * @count, or -EINVAL with m->why set: the partial blob is dropped, and
 * nothing from this call is staged.
 */
ssize_t
devmig_write(devmig_t *m, const void *buf, uint64_t count,
             devmig_check_fn_t *check, void *arg);

/**
 * devmig_take_final - the final payload the last devmig_write() accepted,
 * once; NULL when it accepted none.
 */
const uint8_t *
devmig_take_final(devmig_t *m);

/**
 * devmig_in_complete - whether the session may end: no blob is half
 * received and either nothing was sent or the last blob was an accepted
 * final one.
 */
bool
devmig_in_complete(const devmig_t *m);

/* ---- PCI config space ---- */

/*
 * The migration callbacks both sample devices need, around a stream @m and
 * the state the device's last transition left (*@state).  Each logs with
 * @name, sets errno and returns -1 on failure, as libvfio-user callbacks do.
 */

/**
 * devmig_transition - the stream side of a transition to @to: PRE_COPY
 * queues a preview blob, STOP_AND_COPY the final one (both made by @save),
 * RESUME starts receiving, RUNNING and STOP drop what is queued; leaving
 * RESUME with incomplete data fails (EINVAL).  On success *@state = @to.
 */
int
devmig_transition(devmig_t *m, vfu_ctx_t *ctx, const char *name,
                  vfu_migr_state_t *state, vfu_migr_state_t to,
                  devmig_save_fn_t *save, void *arg);

/** devmig_read_data - read_data: queued bytes, in PRE_COPY/STOP_AND_COPY only. */
ssize_t
devmig_read_data(devmig_t *m, vfu_migr_state_t state, void *buf,
                 uint64_t count);

/**
 * devmig_write_data - write_data, in RESUME only: takes @count bytes
 * (refused ones are logged with the reason); *@final is the final payload
 * to load when this write completed one, else NULL.
 */
ssize_t
devmig_write_data(devmig_t *m, vfu_ctx_t *ctx, const char *name,
                  vfu_migr_state_t state, const void *buf, uint64_t count,
                  devmig_check_fn_t *check, void *arg,
                  const uint8_t **final);

/**
 * devmig_cfg_check - whether @saved (@size bytes of config space) belongs
 * to a device like the one behind @ctx: same IDs, class, header type,
 * interrupt pin and capability chain.  Returns 0 or -EINVAL with *@why.
 */
int
devmig_cfg_check(vfu_ctx_t *ctx, const uint8_t *saved, size_t size,
                 const char **why);

/** devmig_cfg_load - overwrite the config space of @ctx with @saved. */
void
devmig_cfg_load(vfu_ctx_t *ctx, const uint8_t *saved, size_t size);

/* ---- little-endian fields, through a moving cursor ---- */

static inline void
devmig_put32(uint8_t **p, uint32_t v)
{
    (*p)[0] = (uint8_t)v;
    (*p)[1] = (uint8_t)(v >> 8);
    (*p)[2] = (uint8_t)(v >> 16);
    (*p)[3] = (uint8_t)(v >> 24);
    *p += 4;
}

static inline void
devmig_put64(uint8_t **p, uint64_t v)
{
    devmig_put32(p, (uint32_t)v);
    devmig_put32(p, (uint32_t)(v >> 32));
}

static inline void
devmig_put_bytes(uint8_t **p, const void *src, size_t n)
{
    const uint8_t *s = src;
    size_t i;

    for (i = 0; i < n; i++) {
        (*p)[i] = s[i];
    }
    *p += n;
}

static inline uint32_t
devmig_get32(const uint8_t **p)
{
    uint32_t v = (uint32_t)(*p)[0] | ((uint32_t)(*p)[1] << 8) |
                 ((uint32_t)(*p)[2] << 16) | ((uint32_t)(*p)[3] << 24);

    *p += 4;
    return v;
}

static inline uint64_t
devmig_get64(const uint8_t **p)
{
    uint64_t lo = devmig_get32(p);

    return lo | ((uint64_t)devmig_get32(p) << 32);
}

static inline void
devmig_get_bytes(const uint8_t **p, void *dst, size_t n)
{
    uint8_t *d = dst;
    size_t i;

    for (i = 0; i < n; i++) {
        d[i] = (*p)[i];
    }
    *p += n;
}

#endif /* VFU_DEVICES_COMMON_DEVMIG_H */
