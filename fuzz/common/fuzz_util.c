/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_util.c - shared harness for the protocol fuzz targets: a dmaengine
 * device on an in-process context, negotiated, with two DMA regions (one
 * memfd-backed, one served by messages) and eventfds on every IRQ.  Inputs
 * are pushed with vfu_ext_inproc_send() and served with vfu_run_ctx(); the
 * context is rebuilt only when an input broke the connection, so an input
 * costs a few copies, not a context.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/devices.h"
#include "devices/dmaengine/dmaengine.h"
#include "fuzz/common/fuzz_util.h"
#include "fuzz/common/fz_digest.h"
#include "proto/proto.h"
#include "server/migration.h"
#include "server/private.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/vfio-user.h"

#define FZ_BUF_SIZE (FZ_MAX_BODY + 4096u)

typedef struct fz_harness {
    vfu_device_t dev;
    bool up;        /* negotiated and populated */
    bool negotiated; /* VERSION done (the version target stops there) */
    uint16_t next_id;
    /* the state right after populate(), which every input must leave */
    vfu_state_sig_t sig0;     /* negotiated and populated */
    vfu_state_sig_t sig_open; /* no client */
    uint8_t *cfg0;
    size_t cfg_size;
    int memfd;      /* the fd-backed region's file (harness-owned dup) */
    size_t gmem_lo, gmem_hi; /* bytes of gmem the device wrote */
    /* the device's BAR0 callback, which bar0_spy() wraps */
    vfu_region_access_cb_t *bar0_cb;
    bool touched;   /* the input wrote a device register */
    uint64_t digest; /* the server's messages during the input */
    /* the fuzzed reply the pump hands the server, for DMA_READ/WRITE */
    uint16_t reply_cmd;
    const uint8_t *reply;
    size_t reply_len;
    bool reply_armed;
    uint8_t gmem[FZ_MSG_SIZE]; /* contents of the message-served region */
    uint8_t buf[FZ_BUF_SIZE];
    uint8_t rbuf[FZ_BUF_SIZE];
} fz_harness_t;

/* libFuzzer gives no context argument: the one harness of the process. */
static fz_harness_t *fz_h;
/* make_fds()'s memfd, whose pages settle() punches out */
static int fz_tmpl_memfd = -1;

static void
close_fds(int *fds, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
}

static int
new_memfd(void)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);

    if (fd >= 0 && ftruncate(fd, FZ_FD_SIZE) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Punch out the pages of a memfd something wrote: it reads zeros again. */
static bool
zero_memfd(int fd)
{
    struct stat st;

    return fd < 0 ||
           (fstat(fd, &st) == 0 &&
            (st.st_blocks == 0 ||
             fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                       FZ_FD_SIZE) == 0));
}

/*
 * Simulated fds: memfds (sized for a DMA map) or eventfds, duplicated
 * from one of each the process keeps (creating an fd costs several times
 * a dup, and nothing tells them apart: the server never reads a client's
 * eventfd, and the memfd's pages are punched out after any input that
 * could have written them, see settle()).
 */
static size_t
make_fds(uint8_t spec, int *fds)
{
    static int tmpl[2] = {-1, -1}; /* eventfd, memfd; the process's */
    size_t n = spec & 7u, i;
    int k = (spec & 8u) != 0;

    if (n > 0 && tmpl[k] < 0) {
        tmpl[k] = k ? new_memfd() : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (tmpl[k] < 0) {
            return 0;
        }
        if (k) {
            fz_tmpl_memfd = tmpl[k];
        }
    }
    for (i = 0; i < n; i++) {
        fds[i] = fcntl(tmpl[k], F_DUPFD_CLOEXEC, 0);
        if (fds[i] < 0) {
            close_fds(fds, i);
            return 0;
        }
    }
    return n;
}

/* Throw away everything the server queued for the client. */
static void
drain(fz_harness_t *h)
{
    int fds[FZ_MAX_FDS];
    size_t nr;

    for (;;) {
        nr = FZ_MAX_FDS;
        if (vfu_ext_inproc_recv(h->dev.ctx, h->rbuf, sizeof(h->rbuf), fds,
                                &nr) < 0) {
            return;
        }
        close_fds(fds, nr);
    }
}

/* Queue a command; the context owns @fds from here on. */
static int
send_msg(fz_harness_t *h, uint16_t cmd, uint32_t flags, const void *body,
         size_t len, const int *fds, size_t nr_fds)
{
    struct vfio_user_header hdr;

    if (len > sizeof(h->buf) - sizeof(hdr)) {
        close_fds((int *)fds, nr_fds);
        return -EINVAL;
    }
    proto_hdr_cmd(&hdr, h->next_id++, cmd, len, false);
    hdr.flags = flags;
    memcpy(h->buf, &hdr, sizeof(hdr));
    if (len > 0) {
        memcpy(h->buf + sizeof(hdr), body, len);
    }
    if (vfu_ext_inproc_send(h->dev.ctx, h->buf, sizeof(hdr) + len, fds,
                            nr_fds) != 0) {
        return -errno;
    }
    return 0;
}

/* Queue a DEVICE_FEATURE that moves the migration state to @state. */
static int
mig_state(fz_harness_t *h, uint32_t state)
{
    uint8_t body[sizeof(struct vfio_user_device_feature) +
                 sizeof(struct vfio_user_device_feature_mig_state)];
    struct vfio_user_device_feature f = {.argsz = sizeof(body)};
    struct vfio_user_device_feature_mig_state st = {.device_state = state};

    f.flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
    memcpy(body, &f, sizeof(f));
    memcpy(body + sizeof(f), &st, sizeof(st));
    return send_msg(h, VFIO_USER_DEVICE_FEATURE, 0, body, sizeof(body), NULL,
                    0);
}

/* Serve what is queued; false if the connection is gone. */
static bool
run(fz_harness_t *h)
{
    int rc = vfu_run_ctx(h->dev.ctx);

    drain(h);
    return rc >= 0 || (errno != ENOTCONN && errno != ECONNRESET);
}

static int
bar0_write(fz_harness_t *h, uint32_t off, uint32_t val)
{
    uint8_t body[sizeof(struct vfio_user_region_access) + 4];
    struct vfio_user_region_access *a = (void *)body;

    a->offset = off;
    a->region = VFU_PCI_DEV_BAR0_REGION_IDX;
    a->count = 4;
    memcpy(a->data, &val, 4);
    return send_msg(h, VFIO_USER_REGION_WRITE, 0, body, sizeof(body), NULL,
                    0);
}

/* The baseline's CTRL: enabled, every byte moved with DMA messages. */
static int
ctrl_write(fz_harness_t *h)
{
    return bar0_write(h, DMAE_REG_CTRL,
                      DMAE_CTRL_ENABLE | DMAE_CTRL_NO_DIRECT);
}

/* Zero what the device wrote into message-served guest memory. */
static void
gmem_clean(fz_harness_t *h)
{
    if (h->gmem_hi > h->gmem_lo) {
        memset(h->gmem + h->gmem_lo, 0, h->gmem_hi - h->gmem_lo);
    }
    h->gmem_lo = sizeof(h->gmem);
    h->gmem_hi = 0;
}

/* Answer the server's DMA_READ/DMA_WRITE from guest memory. */
static int
answer_dma(fz_harness_t *h, const struct vfio_user_header *req,
           const uint8_t *body, size_t len)
{
    struct vfio_user_dma_region_access acc;
    struct vfio_user_header rep;
    size_t off, data = 0;

    memset(&rep, 0, sizeof(rep));
    rep.msg_id = req->msg_id;
    rep.cmd = req->cmd;
    rep.flags = VFIO_USER_F_TYPE_REPLY;
    if (len < sizeof(acc)) {
        rep.flags |= VFIO_USER_F_ERROR;
        rep.error_no = EINVAL;
        goto send;
    }
    memcpy(&acc, body, sizeof(acc));
    if (acc.addr < FZ_MSG_IOVA || acc.count > FZ_MSG_SIZE ||
        acc.addr - FZ_MSG_IOVA > FZ_MSG_SIZE - acc.count ||
        acc.count > sizeof(h->buf) - sizeof(rep) - sizeof(acc)) {
        rep.flags |= VFIO_USER_F_ERROR;
        rep.error_no = EFAULT;
        goto send;
    }
    off = acc.addr - FZ_MSG_IOVA;
    memcpy(h->buf + sizeof(rep), &acc, sizeof(acc));
    if (req->cmd == VFIO_USER_DMA_READ) {
        memcpy(h->buf + sizeof(rep) + sizeof(acc), h->gmem + off, acc.count);
        data = acc.count;
    } else if (len - sizeof(acc) >= acc.count) {
        memcpy(h->gmem + off, body + sizeof(acc), acc.count);
        if (acc.count > 0) {
            h->gmem_lo = off < h->gmem_lo ? off : h->gmem_lo;
            h->gmem_hi = off + acc.count > h->gmem_hi ? off + acc.count
                                                      : h->gmem_hi;
        }
    }
    rep.msg_size = sizeof(rep) + sizeof(acc) + data;
    memcpy(h->buf, &rep, sizeof(rep));
    return vfu_ext_inproc_send(h->dev.ctx, h->buf, rep.msg_size, NULL, 0);
send:
    rep.msg_size = sizeof(rep);
    return vfu_ext_inproc_send(h->dev.ctx, &rep, sizeof(rep), NULL, 0);
}

/* The fuzzed reply: flags byte, fd spec, body, echoing the request's id. */
static int
answer_fuzzed(fz_harness_t *h, const struct vfio_user_header *req)
{
    struct vfio_user_header rep;
    int fds[FZ_MAX_FDS];
    size_t nr = 0, len = 0;
    const uint8_t *body = NULL;

    memset(&rep, 0, sizeof(rep));
    rep.msg_id = req->msg_id;
    rep.cmd = req->cmd;
    rep.flags = VFIO_USER_F_TYPE_REPLY;
    if (h->reply_len >= 1) {
        rep.flags = h->reply[0];
        if (rep.flags & VFIO_USER_F_ERROR) {
            rep.error_no = EIO;
        }
    }
    if (h->reply_len >= 2) {
        nr = make_fds(h->reply[1], fds);
        body = h->reply + 2;
        len = h->reply_len - 2;
    }
    rep.msg_size = sizeof(rep) + len;
    memcpy(h->buf, &rep, sizeof(rep));
    if (len > 0) {
        memcpy(h->buf + sizeof(rep), body, len);
    }
    return vfu_ext_inproc_send(h->dev.ctx, h->buf, sizeof(rep) + len, fds, nr);
}

/* The in-process client's pump: serve one server-initiated message. */
static int
pump(void *arg)
{
    fz_harness_t *h = arg;
    struct vfio_user_header req;
    int fds[FZ_MAX_FDS];
    size_t nr = FZ_MAX_FDS;
    ssize_t n;

    n = vfu_ext_inproc_recv(h->dev.ctx, h->rbuf, sizeof(h->rbuf), fds, &nr);
    if (n < 0) {
        return -errno;
    }
    close_fds(fds, nr);
    if ((size_t)n < sizeof(req) || (size_t)n > sizeof(h->rbuf)) {
        return 0; /* not a command we can answer; dropped */
    }
    memcpy(&req, h->rbuf, sizeof(req));
    if ((req.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND ||
        (req.cmd != VFIO_USER_DMA_READ && req.cmd != VFIO_USER_DMA_WRITE)) {
        return 0;
    }
    if (h->reply_armed && req.cmd == h->reply_cmd) {
        h->reply_armed = false;
        return answer_fuzzed(h, &req) == 0 ? 0 : -errno;
    }
    return answer_dma(h, &req, h->rbuf + sizeof(req),
                      (size_t)n - sizeof(req)) == 0 ? 0 : -errno;
}

static void
teardown(fz_harness_t *h)
{
    vfu_device_close(&h->dev);
    memset(&h->dev, 0, sizeof(h->dev));
    h->up = false;
    h->negotiated = false;
    if (h->memfd >= 0) {
        close(h->memfd);
        h->memfd = -1;
    }
    free(h->cfg0);
    h->cfg0 = NULL;
}

/* BAR0 writes go through here so settle() knows the device was written. */
static ssize_t
bar0_spy(vfu_ctx_t *ctx, char *buf, size_t count, loff_t off, bool is_write)
{
    if (is_write) {
        fz_h->touched = true;
    }
    return fz_h->bar0_cb(ctx, buf, count, off, is_write);
}

/* Remember the config space and state of a freshly opened context. */
static bool
snapshot(fz_harness_t *h)
{
    vfu_pci_config_space_t *cfg = vfu_pci_get_config_space(h->dev.ctx);

    if (cfg == NULL) {
        return false;
    }
    h->cfg_size = h->dev.ctx->regions[VFU_PCI_DEV_CFG_REGION_IDX].size;
    free(h->cfg0);
    h->cfg0 = malloc(h->cfg_size);
    if (h->cfg0 == NULL) {
        return false;
    }
    memcpy(h->cfg0, cfg, h->cfg_size);
    vfu_state_sig(h->dev.ctx, &h->sig_open);
    h->bar0_cb = h->dev.ctx->regions[VFU_PCI_DEV_BAR0_REGION_IDX].cb;
    if (h->bar0_cb == NULL) {
        return false;
    }
    h->dev.ctx->regions[VFU_PCI_DEV_BAR0_REGION_IDX].cb = bar0_spy;
    gmem_clean(h);
    return true;
}

/* write_multiple: without it every REGION_WRITE_MULTI is refused */
static const char fz_caps[] = "{\"capabilities\":{\"max_msg_fds\":8,"
                              "\"max_data_xfer_size\":1048576,"
                              "\"write_multiple\":true}}";

/* Connect and negotiate; with @body, the fuzzed VERSION body instead. */
static bool
negotiate(fz_harness_t *h, uint32_t flags, const uint8_t *body, size_t len,
          const int *fds, size_t nr)
{
    uint8_t v[sizeof(struct vfio_user_version) + sizeof(fz_caps)];
    struct vfio_user_version ver = {.major = 0, .minor = 1};

    if (body == NULL) {
        memcpy(v, &ver, sizeof(ver));
        memcpy(v + sizeof(ver), fz_caps, sizeof(fz_caps));
        body = v;
        len = sizeof(v);
    }
    if (vfu_ext_inproc_connect(h->dev.ctx, pump, h) != 0) {
        close_fds((int *)fds, nr);
        return false;
    }
    if (send_msg(h, VFIO_USER_VERSION, flags, body, len, fds, nr) != 0) {
        return false;
    }
    h->negotiated = vfu_attach_ctx(h->dev.ctx) == 0;
    drain(h);
    return h->negotiated;
}

static bool
populate_dma(fz_harness_t *h)
{
    struct vfio_user_dma_map map = {.argsz = sizeof(map)};
    int fd;

    map.flags = VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE;
    map.addr = FZ_FD_IOVA;
    map.size = FZ_FD_SIZE;
    if (h->memfd < 0 && (h->memfd = new_memfd()) < 0) {
        return false;
    }
    fd = fcntl(h->memfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0 ||
        send_msg(h, VFIO_USER_DMA_MAP, 0, &map, sizeof(map), &fd, 1) != 0) {
        return false;
    }
    map.addr = FZ_MSG_IOVA;
    map.size = FZ_MSG_SIZE;
    return send_msg(h, VFIO_USER_DMA_MAP, 0, &map, sizeof(map), NULL, 0) == 0;
}

static bool
populate_irqs(fz_harness_t *h)
{
    uint8_t irqs[sizeof(struct vfio_irq_set) + 5 * sizeof(int32_t)];
    struct vfio_irq_set *set = (void *)irqs;
    int fds[DMAE_MSIX_VECTORS];
    size_t n;

    memset(irqs, 0, sizeof(irqs));
    set->argsz = sizeof(*set);
    set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = VFU_DEV_MSIX_IRQ;
    set->start = 0;
    set->count = DMAE_MSIX_VECTORS;
    n = make_fds(DMAE_MSIX_VECTORS, fds);
    if (n != DMAE_MSIX_VECTORS ||
        send_msg(h, VFIO_USER_DEVICE_SET_IRQS, 0, set, sizeof(*set), fds,
                 n) != 0) {
        return false;
    }
    set->index = VFU_DEV_INTX_IRQ;
    set->count = 1;
    return make_fds(1, fds) == 1 &&
           send_msg(h, VFIO_USER_DEVICE_SET_IRQS, 0, set, sizeof(*set), fds,
                    1) == 0;
}

static bool
populate(fz_harness_t *h)
{
    /* the device moves every byte with DMA messages, so the pump sees them */
    return populate_dma(h) && populate_irqs(h) && ctrl_write(h) == 0 &&
           run(h);
}

/* The harness, negotiated (and populated unless @bare); NULL on failure. */
static fz_harness_t *
harness(bool bare)
{
    fz_harness_t *h = fz_h;

    if (h == NULL) {
        h = calloc(1, sizeof(*h));
        if (h == NULL) {
            abort();
        }
        h->memfd = -1;
        fz_h = h;
    }
    if (h->dev.ctx == NULL) {
        if (vfu_device_open("dmaengine", VFU_TRANS_EXT_INPROC, NULL,
                            LIBVFIO_USER_FLAG_ATTACH_NB, &h->dev) != 0 ||
            !snapshot(h)) {
            abort(); /* the harness itself must come up */
        }
#ifdef FZ_REPLAY
        /* only the replay checks it: hashing every byte costs libFuzzer */
        vfu_ext_set_tracer(h->dev.ctx, fz_digest_msg, &h->digest);
#endif
    }
    if (bare) {
        return h;
    }
    if (!h->up) {
        if (h->negotiated) {
            /* a version input left a bare connection: start over */
            teardown(h);
            return harness(bare);
        }
        if (!negotiate(h, 0, NULL, 0, NULL, 0) || !populate(h)) {
            abort(); /* a valid setup must be accepted */
        }
        vfu_state_sig(h->dev.ctx, &h->sig0);
        gmem_clean(h);
        h->up = true;
    }
    return h;
}

/*
 * A context with no client connected, for inputs that negotiate
 * themselves: the previous client is disconnected (cheap), and only a
 * context that refuses the next client is rebuilt.
 */
static fz_harness_t *
bare_connection(void)
{
    fz_harness_t *h = harness(true);
    vfu_state_sig_t sig;

    if (h->up || h->negotiated) {
        vfu_ext_inproc_disconnect(h->dev.ctx);
        (void)vfu_run_ctx(h->dev.ctx);
        drain(h);
        h->up = false;
        h->negotiated = false;
        /*
         * Losing the client unmaps, disables interrupts and resets the
         * device; what survives a connection (config space, migration
         * state) is put back, or the context rebuilt.
         */
        memcpy(vfu_pci_get_config_space(h->dev.ctx), h->cfg0, h->cfg_size);
        /*
         * Ids of the server's own commands count on across connections;
         * a stream that carries answers to them must meet the same ids
         * whatever ran before.  And guest memory the device wrote goes.
         */
        h->dev.ctx->next_msg_id = 0;
        gmem_clean(h);
        vfu_state_sig(h->dev.ctx, &sig);
        if (!zero_memfd(fz_tmpl_memfd) ||
            memcmp(&sig, &h->sig_open, sizeof(sig)) != 0) {
            teardown(h);
            h = harness(true);
        }
    }
    return h;
}

/* Ring queue 0's doorbell over one descriptor in message-served memory. */
static void
kick(fz_harness_t *h, const dmae_desc_t *desc)
{
    uint32_t q = DMAE_QREG(0, 0);

    memset(h->gmem, 0, FZ_COMPL_OFF + DMAE_COMPL_SIZE);
    memcpy(h->gmem + FZ_RING_OFF, desc, sizeof(*desc));
    /* a failed send only means the doorbell is not rung this time */
    (void)(bar0_write(h, q + DMAE_Q_CTRL, DMAE_QCTRL_RESET) != 0 ||
           bar0_write(h, q + DMAE_Q_RING_LO, FZ_MSG_IOVA + FZ_RING_OFF) != 0 ||
           bar0_write(h, q + DMAE_Q_RING_HI, 0) != 0 ||
           bar0_write(h, q + DMAE_Q_RING_SIZE, 2) != 0 ||
           bar0_write(h, q + DMAE_Q_CTRL, DMAE_QCTRL_ENABLE) != 0 ||
           bar0_write(h, q + DMAE_Q_TAIL, 1) != 0);
}

/*
 * Whether the input may have changed device state, which only a reset
 * puts back: it wrote a register (BAR0; config space is the server's),
 * or moved migration state or data.  A DEVICE_RESET input leaves the
 * device as reset (or untouched, if refused): only CTRL needs writing
 * again, which settle() does.  Nothing else
 * reaches the device's state from the baseline: no queue is enabled
 * there, so DMA_MAP/UNMAP and SET_IRQS only change the server's state,
 * which the state signature checks.
 */
static bool
touched_device(fz_harness_t *h, uint16_t cmd)
{
    switch (cmd) {
    case VFIO_USER_MIG_DATA_READ:
    case VFIO_USER_MIG_DATA_WRITE:
        return true;
    default:
        return h->touched ||
               migr_device_state(h->dev.ctx) !=
                   VFIO_USER_DEVICE_STATE_RUNNING;
    }
}

static bool
same_state(fz_harness_t *h, vfu_state_sig_t *sig)
{
    vfu_state_sig(h->dev.ctx, sig);
    return memcmp(sig, &h->sig0, sizeof(*sig)) == 0;
}

/*
 * Set up again what @sig shows an input changed: all mappings, or all
 * interrupts (every index torn down, then the baseline's eventfds).
 */
static bool
repopulate(fz_harness_t *h, const vfu_state_sig_t *sig)
{
    struct vfio_user_dma_unmap um = {.argsz = sizeof(um)};
    struct vfio_irq_set set = {.argsz = sizeof(set)};
    uint32_t t;

    if (sig->dma != h->sig0.dma) {
        um.flags = VFIO_DMA_UNMAP_FLAG_ALL;
        if (send_msg(h, VFIO_USER_DMA_UNMAP, 0, &um, sizeof(um), NULL,
                     0) != 0 ||
            !populate_dma(h)) {
            return false;
        }
    }
    if (sig->irq != h->sig0.irq) {
        set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
        for (t = 0; t < VFU_DEV_NUM_IRQS; t++) {
            set.index = t;
            if (send_msg(h, VFIO_USER_DEVICE_SET_IRQS, 0, &set, sizeof(set),
                         NULL, 0) != 0) {
                return false;
            }
        }
        if (!populate_irqs(h)) {
            return false;
        }
    }
    return run(h);
}

/*
 * Bring the context back to the state snapshot() saw, so no input leaves
 * anything for the next one (a crash reproduces from its input alone, and
 * vfu-crash2vus can replay it from a fresh device): the device is reset,
 * the guest memory it wrote zeroed, config space copied back (the server
 * keeps PCI state nowhere else), and mappings and interrupts are set up
 * again if the input changed them.  Whatever still differs costs a new
 * context.
 */
static void
settle(fz_harness_t *h, uint16_t cmd)
{
    vfu_pci_config_space_t *cfg = vfu_pci_get_config_space(h->dev.ctx);
    bool dev = touched_device(h, cmd);
    vfu_state_sig_t sig;

    /* config space: plain bytes, written by region writes and the device */
    if (cmd == VFIO_USER_REGION_WRITE || cmd == VFIO_USER_REGION_WRITE_MULTI ||
        dev) {
        if (cfg == NULL) {
            teardown(h);
            return;
        }
        memcpy(cfg, h->cfg0, h->cfg_size);
    }
    if (dev) {
        /*
         * A stopped device refuses DEVICE_RESET: back to RUNNING through
         * STOP first (a failed step leaves a state the check below sees)
         */
        if (migr_device_state(h->dev.ctx) != VFIO_USER_DEVICE_STATE_RUNNING &&
            (mig_state(h, VFIO_USER_DEVICE_STATE_STOP) != 0 ||
             mig_state(h, VFIO_USER_DEVICE_STATE_RUNNING) != 0)) {
            teardown(h);
            return;
        }
        if (send_msg(h, VFIO_USER_DEVICE_RESET, 0, NULL, 0, NULL, 0) != 0 ||
            ctrl_write(h) != 0 || !run(h)) {
            teardown(h);
            return;
        }
        gmem_clean(h);
        h->touched = false;
        /* pages the device touched in the memfds: punch them out (zeros) */
        if (!zero_memfd(h->memfd) || !zero_memfd(fz_tmpl_memfd)) {
            teardown(h);
            return;
        }
    }
    if (cmd == VFIO_USER_DEVICE_RESET && !dev &&
        (ctrl_write(h) != 0 || !run(h))) {
        teardown(h);
        return;
    }
    if (!same_state(h, &sig) &&
        (!repopulate(h, &sig) || !same_state(h, &sig))) {
        teardown(h);
    }
}

void
fz_msg_one(uint16_t cmd, const uint8_t *data, size_t size)
{
    fz_harness_t *h;
    int fds[FZ_MAX_FDS];
    size_t nr = 0;
    uint32_t flags = 0, mig;
    dmae_desc_t desc;

    if (size > FZ_MAX_BODY + 2) {
        return;
    }
    if (cmd == VFIO_USER_VERSION) {
        /* VERSION is only legal first: each input negotiates afresh */
        h = bare_connection();
        h->digest = FZ_DIGEST_INIT;
        if (size >= 2) {
            flags = data[0];
            nr = make_fds(data[1], fds);
        }
        (void)negotiate(h, flags, size >= 2 ? data + 2 : data + size,
                        size >= 2 ? size - 2 : 0, fds, nr);
        h->negotiated = true; /* the next input starts over */
        return;
    }
    h = harness(false);
    h->touched = false;
    h->digest = FZ_DIGEST_INIT;
    if (cmd == VFIO_USER_DMA_READ || cmd == VFIO_USER_DMA_WRITE) {
        memset(&desc, 0, sizeof(desc));
        desc.opcode = DMAE_OP_NOP;
        if (cmd == VFIO_USER_DMA_WRITE) {
            /* the completion record is the device's DMA_WRITE */
            desc.flags = DMAE_DESC_F_COMPL;
            desc.completion = FZ_MSG_IOVA + FZ_COMPL_OFF;
        }
        h->reply_cmd = cmd;
        h->reply = data;
        h->reply_len = size;
        h->reply_armed = true;
        kick(h, &desc);
        if (!run(h)) {
            teardown(h);
        }
        h->reply_armed = false;
        h->reply = NULL;
        h->reply_len = 0;
        if (h->up) {
            settle(h, cmd);
        }
        return;
    }
    /* migration data moves only in STOP_COPY (out) or RESUMING (in) */
    if (cmd == VFIO_USER_MIG_DATA_READ || cmd == VFIO_USER_MIG_DATA_WRITE) {
        mig = cmd == VFIO_USER_MIG_DATA_READ ?
                  VFIO_USER_DEVICE_STATE_STOP_COPY :
                  VFIO_USER_DEVICE_STATE_RESUMING;
        if (mig_state(h, VFIO_USER_DEVICE_STATE_STOP) != 0 ||
            mig_state(h, mig) != 0 || !run(h)) {
            teardown(h);
            return;
        }
    }
    if (size >= 2) {
        flags = data[0];
        nr = make_fds(data[1], fds);
        data += 2;
        size -= 2;
    } else {
        size = 0;
    }
    if (send_msg(h, cmd, flags, data, size, fds, nr) != 0 || !run(h)) {
        teardown(h);
        return;
    }
    settle(h, cmd);
}

void
fz_stream_one(const uint8_t *data, size_t size)
{
    fz_harness_t *h;
    int fds[FZ_MAX_FDS];
    size_t nr, len;
    bool ok = true;

    if (size > 4 * FZ_MAX_BODY) {
        return;
    }
    /* a fresh connection per input: the stream starts with VERSION */
    h = bare_connection();
    h->digest = FZ_DIGEST_INIT;
    if (vfu_ext_inproc_connect(h->dev.ctx, pump, h) != 0) {
        abort();
    }
    h->negotiated = true; /* whatever happens, rebuild for the next input */
    while (ok && size >= 3) {
        len = (size_t)data[0] | (size_t)data[1] << 8;
        nr = make_fds(data[2], fds);
        data += 3;
        size -= 3;
        if (len > size) {
            len = size;
        }
        if (vfu_ext_inproc_send(h->dev.ctx, data, len, fds, nr) != 0) {
            break;
        }
        data += len;
        size -= len;
    }
    if (vfu_attach_ctx(h->dev.ctx) == 0) {
        (void)vfu_run_ctx(h->dev.ctx);
    }
    drain(h);
}

uint64_t
fz_input_digest(void)
{
    return fz_h != NULL ? fz_h->digest : 0;
}
