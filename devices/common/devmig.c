/* SPDX-License-Identifier: BSD-3-Clause */
/* devmig.c - migration blobs of the sample devices (format in devmig.h). */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/devmig.h"

int
devmig_init(devmig_t *m, uint32_t magic, uint16_t version,
            size_t payload_size)
{
    memset(m, 0, sizeof(*m));
    if (payload_size == 0 || payload_size > DEVMIG_MAX_PAYLOAD) {
        return -EINVAL;
    }
    m->magic = magic;
    m->version = version;
    m->payload_size = payload_size;
    m->blob_size = DEVMIG_BLOB_SIZE(payload_size);
    crc32c_init(m->crc_table);
    m->out = malloc(2 * m->blob_size);
    m->in = malloc(m->blob_size);
    m->staged = malloc(payload_size);
    if (m->out == NULL || m->in == NULL || m->staged == NULL) {
        devmig_fini(m);
        return -ENOMEM;
    }
    return 0;
}

void
devmig_fini(devmig_t *m)
{
    if (m == NULL) {
        return;
    }
    free(m->out);
    free(m->in);
    free(m->staged);
    m->out = m->in = m->staged = NULL;
    m->out_len = m->out_off = m->out_first = m->in_len = 0;
    m->staged_ready = false;
}

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* ------------------------------------------------------------------ */
/* Source                                                              */
/* ------------------------------------------------------------------ */

int
devmig_emit(devmig_t *m, bool final, devmig_save_fn_t *save, void *arg)
{
    size_t keep = 0;
    uint8_t *b;

    /*
     * Whole blobs sit back to back from out_first, after the rest of an
     * older blob kept by the previous emit.  If the client stopped inside
     * a blob, its rest must come first or the destination would see a torn
     * blob; blobs it never started are superseded by the new one.
     */
    if (m->out_off < m->out_first) {
        keep = m->out_first - m->out_off;
    } else if ((m->out_off - m->out_first) % m->blob_size != 0) {
        keep = m->blob_size - (m->out_off - m->out_first) % m->blob_size;
    }
    memmove(m->out, m->out + m->out_off, keep);
    m->out_off = 0;
    m->out_first = keep;
    m->out_len = keep;
    b = m->out + keep;
    put32(b + DEVMIG_OFF_MAGIC, m->magic);
    put16(b + DEVMIG_OFF_VERSION, m->version);
    put16(b + DEVMIG_OFF_FLAGS, final ? DEVMIG_F_FINAL : 0);
    put32(b + DEVMIG_OFF_LENGTH, (uint32_t)m->blob_size);
    if (save(arg, b + DEVMIG_HDR_SIZE) != m->payload_size) {
        return -EIO; /* a layout bug: send nothing rather than garbage */
    }
    put32(b + m->blob_size - DEVMIG_CRC_SIZE,
          crc32c(m->crc_table, 0, b, m->blob_size - DEVMIG_CRC_SIZE));
    /* what is kept is less than one blob: both fit in 2 * blob_size */
    m->out_len = keep + m->blob_size;
    return 0;
}

size_t
devmig_read(devmig_t *m, void *buf, uint64_t count)
{
    size_t left = m->out_len - m->out_off;
    size_t n = count < left ? (size_t)count : left;

    if (n != 0) {
        memcpy(buf, m->out + m->out_off, n);
        m->out_off += n;
    }
    return n;
}

void
devmig_out_reset(devmig_t *m)
{
    m->out_len = m->out_off = m->out_first = 0;
}

/* ------------------------------------------------------------------ */
/* Destination                                                         */
/* ------------------------------------------------------------------ */

void
devmig_in_reset(devmig_t *m)
{
    m->in_len = 0;
    m->staged_ready = false;
    m->in_started = false;
    m->in_final = false;
    m->why = NULL;
}

/* Check the header fields whose bytes are in so far. */
static int
header_check(devmig_t *m)
{
    const uint8_t *h = m->in;

    if (m->in_len >= DEVMIG_OFF_MAGIC + 4 &&
        get32(h + DEVMIG_OFF_MAGIC) != m->magic) {
        m->why = "bad magic";
        return -EINVAL;
    }
    if (m->in_len >= DEVMIG_OFF_VERSION + 2 &&
        get16(h + DEVMIG_OFF_VERSION) != m->version) {
        m->why = "unsupported version";
        return -EINVAL;
    }
    if (m->in_len >= DEVMIG_OFF_FLAGS + 2 &&
        (get16(h + DEVMIG_OFF_FLAGS) & ~DEVMIG_F_FINAL) != 0) {
        m->why = "reserved flags set";
        return -EINVAL;
    }
    if (m->in_len >= DEVMIG_OFF_LENGTH + 4 &&
        get32(h + DEVMIG_OFF_LENGTH) != m->blob_size) {
        m->why = "wrong length";
        return -EINVAL;
    }
    return 0;
}

/* A whole blob is in: CRC, then the device's field checks. */
static int
blob_accept(devmig_t *m, devmig_check_fn_t *check, void *arg)
{
    size_t body = m->blob_size - DEVMIG_CRC_SIZE;
    const uint8_t *payload = m->in + DEVMIG_HDR_SIZE;

    if (crc32c(m->crc_table, 0, m->in, body) != get32(m->in + body)) {
        m->why = "CRC mismatch";
        return -EINVAL;
    }
    if (check(arg, payload) < 0) {
        m->why = "bad field";
        return -EINVAL;
    }
    if (get16(m->in + DEVMIG_OFF_FLAGS) & DEVMIG_F_FINAL) {
        memcpy(m->staged, payload, m->payload_size);
        m->staged_ready = true;
        m->in_final = true;
    } else {
        /*
         * A preview is checked like the real thing (a bad one means a bad
         * stream) but not applied: the final blob supersedes it.
         */
        m->in_final = false;
    }
    m->in_len = 0;
    return 0;
}

ssize_t
devmig_write(devmig_t *m, const void *buf, uint64_t count,
             devmig_check_fn_t *check, void *arg)
{
    const uint8_t *p = buf;
    uint64_t left = count;
    int rc;

    m->staged_ready = false;
    m->why = NULL;
    if (count > (uint64_t)SSIZE_MAX || (count != 0 && buf == NULL)) {
        m->why = "bad buffer";
        rc = -EINVAL;
        goto fail;
    }
    if (count != 0) {
        m->in_started = true;
    }
    while (left > 0) {
        size_t want = m->in_len < DEVMIG_HDR_SIZE
                          ? DEVMIG_HDR_SIZE - m->in_len
                          : m->blob_size - m->in_len;
        size_t n = left < want ? (size_t)left : want;
        bool in_header = m->in_len < DEVMIG_HDR_SIZE;

        memcpy(m->in + m->in_len, p, n);
        m->in_len += n;
        p += n;
        left -= n;
        if (in_header) {
            rc = header_check(m);
            if (rc < 0) {
                goto fail;
            }
        }
        if (m->in_len == m->blob_size) {
            rc = blob_accept(m, check, arg);
            if (rc < 0) {
                goto fail;
            }
        }
    }
    return (ssize_t)count;

fail:
    m->in_len = 0;
    m->staged_ready = false;
    m->in_final = false;
    return rc;
}

const uint8_t *
devmig_take_final(devmig_t *m)
{
    if (!m->staged_ready) {
        return NULL;
    }
    m->staged_ready = false;
    return m->staged;
}

bool
devmig_in_complete(const devmig_t *m)
{
    return m->in_len == 0 && (!m->in_started || m->in_final);
}

/* ------------------------------------------------------------------ */
/* Config space                                                        */
/* ------------------------------------------------------------------ */

/* Bytes that say what the device is, which the client cannot change. */
static const struct {
    uint16_t off, len;
} identity[] = {
    {PCI_VENDOR_ID, 4},          /* vendor and device IDs */
    {PCI_CLASS_REVISION, 4},     /* revision, class */
    {PCI_HEADER_TYPE, 1},
    {PCI_SUBSYSTEM_VENDOR_ID, 4},
    {PCI_CAPABILITY_LIST, 1},
    {PCI_INTERRUPT_PIN, 1},
};

/* Standard capabilities are dword aligned in [0x40, 0x100): 48 at most. */
#define MAX_CAP_HOPS 48

int
devmig_cfg_check(vfu_ctx_t *ctx, const uint8_t *saved, size_t size,
                 const char **why)
{
    const uint8_t *cur = (const uint8_t *)vfu_pci_get_config_space(ctx);
    size_t pos;
    size_t i;
    int hops;

    if (cur == NULL || size < PCI_CFG_SPACE_SIZE) {
        *why = "no config space";
        return -EINVAL;
    }
    for (i = 0; i < sizeof(identity) / sizeof(identity[0]); i++) {
        if (memcmp(cur + identity[i].off, saved + identity[i].off,
                   identity[i].len) != 0) {
            *why = "config space of another device";
            return -EINVAL;
        }
    }
    /* the same capabilities at the same places */
    pos = cur[PCI_CAPABILITY_LIST];
    for (hops = 0; pos != 0; hops++) {
        if (hops >= MAX_CAP_HOPS || pos < PCI_STD_HEADER_SIZEOF ||
            pos + 2 > PCI_CFG_SPACE_SIZE) {
            *why = "capability chain";
            return -EINVAL;
        }
        if (memcmp(cur + pos, saved + pos, 2) != 0) {
            *why = "other capabilities";
            return -EINVAL;
        }
        pos = cur[pos + PCI_CAP_LIST_NEXT];
    }
    return 0;
}

void
devmig_cfg_load(vfu_ctx_t *ctx, const uint8_t *saved, size_t size)
{
    uint8_t *cur = (uint8_t *)vfu_pci_get_config_space(ctx);

    if (cur != NULL) {
        memcpy(cur, saved, size);
    }
}

/* ------------------------------------------------------------------ */
/* Callback bodies shared by the devices                               */
/* ------------------------------------------------------------------ */

int
devmig_transition(devmig_t *m, vfu_ctx_t *ctx, const char *name,
                  vfu_migr_state_t *state, vfu_migr_state_t to,
                  devmig_save_fn_t *save, void *arg)
{
    int rc = 0;

    switch (to) {
    case VFU_MIGR_STATE_RUNNING:
        devmig_out_reset(m);
        break;
    case VFU_MIGR_STATE_PRE_COPY:
        rc = devmig_emit(m, false, save, arg);
        break;
    case VFU_MIGR_STATE_STOP_AND_COPY:
        rc = devmig_emit(m, true, save, arg);
        break;
    case VFU_MIGR_STATE_STOP:
        if (*state == VFU_MIGR_STATE_RESUME && !devmig_in_complete(m)) {
            vfu_log(ctx, LOG_ERR, "%s: migration data incomplete", name);
            rc = -EINVAL;
            break;
        }
        devmig_out_reset(m);
        break;
    case VFU_MIGR_STATE_RESUME:
        devmig_in_reset(m);
        break;
    default:
        rc = -EINVAL;
        break;
    }
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    vfu_log(ctx, LOG_DEBUG, "%s: migration state %d -> %d", name,
            (int)*state, (int)to);
    *state = to;
    return 0;
}

ssize_t
devmig_read_data(devmig_t *m, vfu_migr_state_t state, void *buf,
                 uint64_t count)
{
    if (state != VFU_MIGR_STATE_PRE_COPY &&
        state != VFU_MIGR_STATE_STOP_AND_COPY) {
        errno = EINVAL;
        return -1;
    }
    return (ssize_t)devmig_read(m, buf, count);
}

ssize_t
devmig_write_data(devmig_t *m, vfu_ctx_t *ctx, const char *name,
                  vfu_migr_state_t state, const void *buf, uint64_t count,
                  devmig_check_fn_t *check, void *arg, const uint8_t **final)
{
    ssize_t n;

    *final = NULL;
    if (state != VFU_MIGR_STATE_RESUME) {
        errno = EINVAL;
        return -1;
    }
    n = devmig_write(m, buf, count, check, arg);
    if (n < 0) {
        vfu_log(ctx, LOG_ERR, "%s: migration data refused: %s", name,
                m->why != NULL ? m->why : "?");
        errno = (int)-n;
        return -1;
    }
    *final = devmig_take_final(m);
    return n;
}
