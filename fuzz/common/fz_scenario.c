/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fz_scenario.c - protocol fuzz inputs as .vus scenarios: the setup of
 * fuzz_util.c written as scenario statements, then the input's messages
 * sent byte for byte with `send`.  Read together with fz_msg_one() and
 * fz_stream_one(): what one decodes, the other prints.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/dmaengine/dmaengine.h"
#include "fuzz/common/fuzz_util.h"
#include "fuzz/common/fz_scenario.h"
#include "proto/proto.h"
#include "vfio-user/vfio-user.h"

/* Ids of the messages a scenario sends; the runner's own count from 0. */
#define FZ_SEND_ID 0x7000u

/* @cmd's name in lower case, as in target names; "" if it does not fit. */
static void
cmd_lower(int cmd, char *buf, size_t size)
{
    const char *n = proto_cmd_name((uint16_t)cmd);
    size_t i;

    if (strlen(n) >= size) {
        buf[0] = '\0';
        return;
    }
    for (i = 0; n[i] != '\0'; i++) {
        buf[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] - 'A' + 'a' : n[i]);
    }
    buf[i] = '\0';
}

int
fz_target_kind(const char *name)
{
    const char *p = strstr(name, "fuzz_msg_");
    char want[64];
    int cmd;

    if (strstr(name, "fuzz_stream") != NULL) {
        return FZ_STREAM;
    }
    if (p == NULL) {
        return FZ_NOT_PROTO;
    }
    p += strlen("fuzz_msg_");
    for (cmd = 1; cmd < VFIO_USER_MAX; cmd++) {
        size_t len;

        cmd_lower(cmd, want, sizeof(want));
        len = strlen(want);
        if (len == 0) {
            continue;
        }
        /* the name must end there: dma_read is not dma_read_x */
        if (strncmp(p, want, len) == 0 &&
            (p[len] == '\0' || p[len] == '/' || p[len] == '-' ||
             p[len] == '.')) {
            return cmd;
        }
    }
    return FZ_NOT_PROTO;
}

static int
push(fz_input_t *in, uint8_t flags, uint8_t fdspec, const uint8_t *bytes,
     size_t len)
{
    fz_msg_t *m = realloc(in->msgs, (in->nr + 1) * sizeof(*m));

    if (m == NULL) {
        return -ENOMEM;
    }
    in->msgs = m;
    m = &in->msgs[in->nr];
    m->flags = flags;
    m->fdspec = fdspec;
    m->len = len;
    m->bytes = malloc(len > 0 ? len : 1);
    if (m->bytes == NULL) {
        return -ENOMEM;
    }
    if (len > 0) {
        memcpy(m->bytes, bytes, len);
    }
    in->nr++;
    return 0;
}

int
fz_input_decode(int kind, const uint8_t *data, size_t size, fz_input_t *in)
{
    size_t len;
    int rc;

    in->kind = kind;
    in->setup = FZ_SETUP_ALL;
    if (kind == VFIO_USER_DMA_READ || kind == VFIO_USER_DMA_WRITE) {
        /* answer_fuzzed(): a plain reply without bytes, flags, or all */
        if (size < 2) {
            return push(in, size == 1 ? data[0] : VFIO_USER_F_TYPE_REPLY, 0,
                        NULL, 0);
        }
        return size > FZ_MAX_BODY + 2 ? 0 : push(in, data[0], data[1],
                                                   data + 2, size - 2);
    }
    if (kind != FZ_STREAM) {
        /* fz_msg_one(): flags byte, fd spec, body; shorter is no body */
        if (size > FZ_MAX_BODY + 2) {
            return 0; /* the target ignores it: nothing to send */
        }
        return size >= 2 ? push(in, data[0], data[1], data + 2, size - 2)
                         : push(in, 0, 0, NULL, 0);
    }
    /* fz_stream_one(): [u16 length][fd spec][bytes], length clipped */
    if (size > 4 * FZ_MAX_BODY) {
        return 0;
    }
    while (size >= 3) {
        len = (size_t)data[0] | (size_t)data[1] << 8;
        if (len > size - 3) {
            len = size - 3;
        }
        rc = push(in, 0, data[2], data + 3, len);
        if (rc < 0) {
            return rc;
        }
        data += 3 + len;
        size -= 3 + len;
    }
    return 0;
}

void
fz_input_free(fz_input_t *in)
{
    size_t i;

    for (i = 0; i < in->nr; i++) {
        free(in->msgs[i].bytes);
    }
    free(in->msgs);
    in->msgs = NULL;
    in->nr = 0;
}

static void
print_hex(FILE *f, const uint8_t *p, size_t len)
{
    size_t i;

    if (len == 0) {
        return;
    }
    fputs(" hex:", f);
    for (i = 0; i < len; i++) {
        fprintf(f, "%02x", p[i]);
    }
}

/* make_fds() of fuzz_util.c: memfds of FZ_FD_SIZE or eventfds */
static void
print_fds(FILE *f, uint8_t spec)
{
    unsigned int n = spec & 7u;

    if (n == 0) {
        return;
    }
    if (spec & 8u) {
        fprintf(f, " fd:memfd:%#x*%u", FZ_FD_SIZE, n);
    } else {
        fprintf(f, " fd:eventfd*%u", n);
    }
}

/* A migration state change as the harness sends it (DEVICE_FEATURE). */
static void
print_mig_state(FILE *f, uint32_t state, const char *name)
{
    fprintf(f, "raw DEVICE_FEATURE u32:%zu u32:%#x u32:%u error any|ok"
            "   # -> %s\n",
            sizeof(struct vfio_user_device_feature) +
                sizeof(struct vfio_user_device_feature_mig_state),
            VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
            state, name);
}

/*
 * kick() of fuzz_util.c: one NOP descriptor (with a completion record for
 * DMA_WRITE) in message-served memory, queue 0 set up on it, and the
 * input's bytes set aside as the answer to the DMA the doorbell starts.
 */
static void
print_dma_kick(const fz_input_t *in, const fz_msg_t *m, FILE *f)
{
    uint32_t q = DMAE_QREG(0, 0);
    dmae_desc_t desc;

    memset(&desc, 0, sizeof(desc));
    desc.opcode = DMAE_OP_NOP;
    if (in->kind == VFIO_USER_DMA_WRITE) {
        /* the completion record is the device's DMA_WRITE */
        desc.flags = DMAE_DESC_F_COMPL;
        desc.completion = FZ_MSG_IOVA + FZ_COMPL_OFF;
    }
    fprintf(f, "mem write %#x", FZ_MSG_IOVA + FZ_RING_OFF);
    print_hex(f, (const uint8_t *)&desc, sizeof(desc));
    fprintf(f, "\nbar0 write32 %#x %#x\n", q + DMAE_Q_CTRL, DMAE_QCTRL_RESET);
    fprintf(f, "bar0 write32 %#x %#x\n", q + DMAE_Q_RING_LO,
            FZ_MSG_IOVA + FZ_RING_OFF);
    fprintf(f, "bar0 write32 %#x 0\n", q + DMAE_Q_RING_HI);
    fprintf(f, "bar0 write32 %#x 2\n", q + DMAE_Q_RING_SIZE);
    fprintf(f, "bar0 write32 %#x %#x\n", q + DMAE_Q_CTRL, DMAE_QCTRL_ENABLE);
    fprintf(f, "answer %s flags %#x",
            in->kind == VFIO_USER_DMA_READ ? "DMA_READ" : "DMA_WRITE",
            (unsigned)m->flags);
    if (m->flags & VFIO_USER_F_ERROR) {
        fprintf(f, " errno %d", EIO);
    }
    print_hex(f, m->bytes, m->len);
    print_fds(f, m->fdspec);
    fprintf(f, "\nbar0 write32 %#x 1 error any|ok   # doorbell\n",
            q + DMAE_Q_TAIL);
}

void
fz_input_print(const fz_input_t *in, const bool *keep, FILE *f)
{
    uint16_t id = FZ_SEND_ID;
    bool bare = in->kind == FZ_STREAM || in->kind == VFIO_USER_VERSION;
    char name[40];
    size_t i;

    cmd_lower(in->kind, name, sizeof(name));
    fprintf(f, "# From an input of fuzz_%s%s (fuzz/common/fuzz_util.c):\n"
            "# the harness's setup, then the input's bytes as sent.\n",
            in->kind == FZ_STREAM ? "stream" : "msg_",
            in->kind == FZ_STREAM ? "" : name);
    fprintf(f, "device dmaengine\n");
    fprintf(f, "option max_msg_fds %u\n", FZ_MAX_FDS);
    fprintf(f, "option max_data_xfer_size %#x\n", FZ_MAX_XFER);
    if (!bare) {
        fprintf(f, "option write_multiple on\n");
    }
    if (bare) {
        /* the input negotiates itself, on a fresh connection */
        fprintf(f, "option negotiate off\n");
    } else {
        if (in->setup & FZ_SETUP_FD_MAP) {
            fprintf(f, "mem map %#x %#x rw\n", FZ_FD_IOVA, FZ_FD_SIZE);
        }
        if (in->setup & FZ_SETUP_MSG_MAP) {
            fprintf(f, "mem map %#x %#x rw nofd\n", FZ_MSG_IOVA,
                    FZ_MSG_SIZE);
        }
        if (in->setup & FZ_SETUP_MSIX) {
            fprintf(f, "irq msix enable 0-%u\n", DMAE_MSIX_VECTORS - 1);
        }
        if (in->setup & FZ_SETUP_INTX) {
            fprintf(f, "irq intx enable\n");
        }
        if (in->setup & FZ_SETUP_CTRL) {
            fprintf(f, "bar0 write32 %#x %#x\n", DMAE_REG_CTRL,
                    DMAE_CTRL_ENABLE | DMAE_CTRL_NO_DIRECT);
        }
    }
    if (in->kind == VFIO_USER_MIG_DATA_READ ||
        in->kind == VFIO_USER_MIG_DATA_WRITE) {
        /* migration data moves only in STOP_COPY (out) or RESUMING (in) */
        print_mig_state(f, VFIO_USER_DEVICE_STATE_STOP, "STOP");
        if (in->kind == VFIO_USER_MIG_DATA_READ) {
            print_mig_state(f, VFIO_USER_DEVICE_STATE_STOP_COPY,
                            "STOP_COPY");
        } else {
            print_mig_state(f, VFIO_USER_DEVICE_STATE_RESUMING,
                            "RESUMING");
        }
    }
    if (in->kind == VFIO_USER_DMA_READ || in->kind == VFIO_USER_DMA_WRITE) {
        if (in->nr == 1 && (keep == NULL || keep[0])) {
            print_dma_kick(in, &in->msgs[0], f);
        }
        return;
    }
    for (i = 0; i < in->nr; i++) {
        const fz_msg_t *m = &in->msgs[i];

        if (keep != NULL && !keep[i]) {
            continue;
        }
        if (in->kind == FZ_STREAM) {
            /* the whole message, header and all, as the input has it */
            fprintf(f, "send");
            print_hex(f, m->bytes, m->len);
            if (m->len == 0) {
                fprintf(f, " zero:0");
            }
        } else {
            fprintf(f, "send u16:%#x u16:%u u32:%zu u32:%#x u32:0",
                    (unsigned)id++, (unsigned)in->kind,
                    sizeof(struct vfio_user_header) + m->len,
                    (unsigned)m->flags);
            print_hex(f, m->bytes, m->len);
        }
        print_fds(f, m->fdspec);
        fputc('\n', f);
    }
    /*
     * Each `recv` runs the server (in-process) until it answers, serving
     * any DMA it starts; one fails where the input made the server hang
     * up or answer nothing, which is after the messages went in.
     */
    for (i = 0; i < in->nr; i++) {
        if (keep != NULL && !keep[i]) {
            continue;
        }
        /* a command sent with NO_REPLY gets none: just run the server */
        fprintf(f, in->kind != FZ_STREAM &&
                       (in->msgs[i].flags & VFIO_USER_F_NO_REPLY) != 0
                       ? "poll\n"
                       : "recv\n");
    }
}
