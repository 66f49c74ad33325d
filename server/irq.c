/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * irq.c - interrupts: vector counts, GET_IRQ_INFO, SET_IRQS and
 * vfu_irq_trigger().
 *
 * Each interrupt type (INTx, MSI, MSI-X, ERR, REQ) has its own array of
 * vectors.  A vector holds up to three eventfds the client gave with
 * SET_IRQS (all owned here, closed on tear-down, reset and destroy):
 *   efd         TRIGGER: written when the device raises the vector;
 *   mask_efd    MASK: written when the vector becomes masked;
 *   unmask_efd  UNMASK: written when the vector becomes unmasked.
 * A masked vector does not fire: a trigger while masked is remembered
 * (pending) and delivered when the vector is unmasked, as PCI does for
 * MSI-X.  The spec's "the server may mask/unmask an IRQ which will write 1
 * to the corresponding mask/unmask eventfd" is what mask_efd/unmask_efd do.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "server/irq.h"
#include "server/pci.h"
#include "server/private.h"

struct irq_vec {
    int efd;
    int mask_efd;
    int unmask_efd;
    bool masked;
    bool pending; /* triggered while masked */
};

struct vfu_irqs {
    uint32_t count[VFU_DEV_NUM_IRQS];
    struct irq_vec *vecs[VFU_DEV_NUM_IRQS];
    /* vectors of the type that have a trigger eventfd */
    uint32_t nr_efds[VFU_DEV_NUM_IRQS];
    vfu_dev_irq_state_cb_t *state_cb[VFU_DEV_NUM_IRQS];
};

static const char *const irq_names[VFU_DEV_NUM_IRQS] = {
    "INTx", "MSI", "MSI-X", "ERR", "REQ",
};

static const uint32_t irq_max[VFU_DEV_NUM_IRQS] = {
    IRQ_MAX_INTX, IRQ_MAX_MSI, IRQ_MAX_MSIX, 1, 1,
};

static void
close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
    }
    *fd = -1;
}

static struct irq_vec *
vecs_alloc(uint32_t count)
{
    struct irq_vec *vecs;
    uint32_t i;

    vecs = calloc(count, sizeof(*vecs));
    if (vecs == NULL) {
        return NULL;
    }
    for (i = 0; i < count; i++) {
        vecs[i].efd = vecs[i].mask_efd = vecs[i].unmask_efd = -1;
    }
    return vecs;
}

/* Close every fd of vectors [start, start + count) and forget their state. */
static void
vecs_reset(struct vfu_irqs *irqs, uint32_t type, uint32_t start,
           uint32_t count)
{
    uint32_t i;

    for (i = start; i < start + count; i++) {
        struct irq_vec *v = &irqs->vecs[type][i];

        if (v->efd >= 0) {
            irqs->nr_efds[type]--;
        }
        close_fd(&v->efd);
        close_fd(&v->mask_efd);
        close_fd(&v->unmask_efd);
        v->masked = false;
        v->pending = false;
    }
}

/*
 * The context's interrupt state, created on first use with the defaults
 * of libvfio-user's vfu_create_ctx(): one ERR and one REQ vector.
 */
static struct vfu_irqs *
irqs_get(vfu_ctx_t *ctx)
{
    struct vfu_irqs *irqs = ctx->irqs;
    uint32_t t;

    if (irqs != NULL) {
        return irqs;
    }
    irqs = calloc(1, sizeof(*irqs));
    if (irqs == NULL) {
        return NULL;
    }
    for (t = VFU_DEV_ERR_IRQ; t <= VFU_DEV_REQ_IRQ; t++) {
        irqs->vecs[t] = vecs_alloc(1);
        if (irqs->vecs[t] == NULL) {
            free(irqs->vecs[VFU_DEV_ERR_IRQ]);
            free(irqs);
            return NULL;
        }
        irqs->count[t] = 1;
    }
    ctx->irqs = irqs;
    return irqs;
}

uint32_t
irq_count(const vfu_ctx_t *ctx, enum vfu_dev_irq_type type)
{
    if (ctx == NULL || (unsigned)type >= VFU_DEV_NUM_IRQS) {
        return 0;
    }
    if (ctx->irqs == NULL) {
        return (type == VFU_DEV_ERR_IRQ || type == VFU_DEV_REQ_IRQ) ? 1 : 0;
    }
    return ctx->irqs->count[type];
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */
/* ------------------------------------------------------------------ */

/*
 * libvfio-user takes any count; we keep to what PCI can express (one INTx
 * pin, 32 MSI vectors, 2048 MSI-X entries, one ERR and one REQ), since
 * the client sizes its tables from GET_IRQ_INFO.
 */
VFU_EXPORT int
vfu_setup_device_nr_irqs(vfu_ctx_t *vfu_ctx, enum vfu_dev_irq_type type,
                         uint32_t count)
{
    struct vfu_irqs *irqs;
    struct irq_vec *vecs = NULL;

    if (vfu_ctx == NULL || (unsigned)type >= VFU_DEV_NUM_IRQS) {
        return vfu_err(-EINVAL);
    }
    if (vfu_ctx->realized) {
        vfu_log(vfu_ctx, LOG_ERR, "IRQs set up after realize");
        return vfu_err(-EINVAL);
    }
    if (count > irq_max[type]) {
        vfu_log(vfu_ctx, LOG_ERR, "%u %s vectors: at most %u", count,
                irq_names[type], irq_max[type]);
        return vfu_err(-EINVAL);
    }
    irqs = irqs_get(vfu_ctx);
    if (irqs == NULL) {
        return vfu_err(-ENOMEM);
    }
    if (count != 0) {
        vecs = vecs_alloc(count);
        if (vecs == NULL) {
            return vfu_err(-ENOMEM);
        }
    }
    if (irqs->vecs[type] != NULL) {
        vecs_reset(irqs, type, 0, irqs->count[type]);
        free(irqs->vecs[type]);
    }
    irqs->vecs[type] = vecs;
    irqs->count[type] = count;
    /*
     * The interrupt pin register says whether there is INTx.  This works
     * once vfu_pci_init() made the config space (the usual order);
     * vfu_realize_ctx() should repeat it for devices that set up IRQs
     * first.
     */
    if (type == VFU_DEV_INTX_IRQ) {
        pci_set_intx_pin(vfu_ctx, count != 0);
    }
    return 0;
}

VFU_EXPORT int
vfu_setup_irq_state_callback(vfu_ctx_t *vfu_ctx, enum vfu_dev_irq_type type,
                             vfu_dev_irq_state_cb_t *cb)
{
    struct vfu_irqs *irqs;

    if (vfu_ctx == NULL || (unsigned)type >= VFU_DEV_NUM_IRQS) {
        return vfu_err(-EINVAL);
    }
    irqs = irqs_get(vfu_ctx);
    if (irqs == NULL) {
        return vfu_err(-ENOMEM);
    }
    irqs->state_cb[type] = cb;
    return 0;
}

void
irq_disable_all(vfu_ctx_t *ctx)
{
    uint32_t t;

    if (ctx == NULL || ctx->irqs == NULL) {
        return;
    }
    for (t = 0; t < VFU_DEV_NUM_IRQS; t++) {
        if (ctx->irqs->vecs[t] != NULL) {
            vecs_reset(ctx->irqs, t, 0, ctx->irqs->count[t]);
        }
    }
}

void
irq_free(vfu_ctx_t *ctx)
{
    uint32_t t;

    if (ctx == NULL || ctx->irqs == NULL) {
        return;
    }
    irq_disable_all(ctx);
    for (t = 0; t < VFU_DEV_NUM_IRQS; t++) {
        free(ctx->irqs->vecs[t]);
    }
    free(ctx->irqs);
    ctx->irqs = NULL;
}

/* ------------------------------------------------------------------ */
/* Signalling                                                          */
/* ------------------------------------------------------------------ */

static int
signal_efd(int fd)
{
    uint64_t one = 1;
    ssize_t n;

    do {
        n = write(fd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    return n == (ssize_t)sizeof(one) ? 0 : -EIO;
}

/* Raise a vector, or remember it while the vector is masked. */
static int
vec_fire(struct irq_vec *v)
{
    if (v->efd < 0) {
        return 0;
    }
    if (v->masked) {
        v->pending = true;
        return 0;
    }
    return signal_efd(v->efd);
}

static int
vec_set_mask(struct irq_vec *v, bool mask)
{
    int rc = 0;

    if (v->masked == mask) {
        return 0;
    }
    v->masked = mask;
    if (mask && v->mask_efd >= 0) {
        rc = signal_efd(v->mask_efd);
    } else if (!mask && v->unmask_efd >= 0) {
        rc = signal_efd(v->unmask_efd);
    }
    if (!mask && v->pending) {
        int rc2;

        v->pending = false;
        rc2 = signal_efd(v->efd);
        if (rc == 0) {
            rc = rc2;
        }
    }
    return rc;
}

/*
 * Which of INTx, MSI and MSI-X the device signals: the one the client gave
 * eventfds to.  A client enables one at a time; should several have
 * eventfds, MSI-X wins over MSI over INTx, as in PCI.
 */
static int
active_type(const struct vfu_irqs *irqs)
{
    static const int order[] = {VFU_DEV_MSIX_IRQ, VFU_DEV_MSI_IRQ,
                                VFU_DEV_INTX_IRQ};
    size_t i;

    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (irqs->nr_efds[order[i]] != 0) {
            return order[i];
        }
    }
    return -1;
}

/*
 * As libvfio-user: EINVAL when @subindex is beyond every INTx/MSI/MSI-X
 * count, ENOENT when the client gave that vector no eventfd (including
 * when it enabled no interrupt at all).
 */
VFU_EXPORT int
vfu_irq_trigger(vfu_ctx_t *vfu_ctx, uint32_t subindex)
{
    const struct vfu_irqs *irqs;
    uint32_t max = 0;
    int type, t, rc;

    if (vfu_ctx == NULL) {
        return vfu_err(-EINVAL);
    }
    irqs = vfu_ctx->irqs;
    if (irqs != NULL) {
        for (t = VFU_DEV_INTX_IRQ; t <= VFU_DEV_MSIX_IRQ; t++) {
            if (irqs->count[t] > max) {
                max = irqs->count[t];
            }
        }
    }
    if (subindex >= max) {
        vfu_log(vfu_ctx, LOG_ERR, "bad IRQ %u, max %u", subindex, max);
        return vfu_err(-EINVAL);
    }
    type = active_type(irqs);
    if (type < 0 || subindex >= irqs->count[type] ||
        irqs->vecs[type][subindex].efd < 0) {
        vfu_log(vfu_ctx, LOG_DEBUG, "no eventfd for IRQ %u", subindex);
        return vfu_err(-ENOENT);
    }
    rc = vec_fire(&irqs->vecs[type][subindex]);
    if (rc < 0) {
        vfu_log(vfu_ctx, LOG_ERR, "%s %u: cannot signal: %s",
                irq_names[type], subindex, strerror(-rc));
        return vfu_err(rc);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* GET_IRQ_INFO                                                        */
/* ------------------------------------------------------------------ */

/*
 * Flags: EVENTFD alone for every type, exactly what libvfio-user reports
 * (its Python tests insist).  MASK/UNMASK are accepted all the same, as
 * libvfio-user accepts them; see docs/compat.md.
 */
int
handle_device_get_irq_info(vfu_ctx_t *ctx, proto_msg_t *msg,
                           vfu_reply_t *reply)
{
    struct vfio_irq_info in;
    struct vfio_irq_info *out;

    if (msg->body_len < sizeof(in)) {
        return -EINVAL;
    }
    memcpy(&in, msg->body, sizeof(in));
    if (in.argsz < sizeof(in)) {
        return -EINVAL;
    }
    if (in.index >= VFU_DEV_NUM_IRQS) {
        vfu_log(ctx, LOG_DEBUG, "irq info: bad index %u", in.index);
        return -EINVAL;
    }

    out = calloc(1, sizeof(*out));
    if (out == NULL) {
        return -ENOMEM;
    }
    out->argsz = sizeof(*out);
    out->flags = VFIO_IRQ_INFO_EVENTFD;
    out->index = in.index;
    out->count = irq_count(ctx, in.index);
    reply->body = out;
    reply->body_len = sizeof(*out);
    return 0;
}

/* ------------------------------------------------------------------ */
/* SET_IRQS                                                            */
/* ------------------------------------------------------------------ */

/* The checks libvfio-user makes, in its order; all failures are EINVAL. */
static int
check_set_irqs(vfu_ctx_t *ctx, const proto_msg_t *msg,
               const struct vfio_irq_set *is)
{
    uint32_t action = is->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
    uint32_t data = is->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
    uint32_t end;
    const char *why;

    if (is->argsz < sizeof(*is)) {
        why = "argsz";
    } else if ((is->flags & ~(VFIO_IRQ_SET_ACTION_TYPE_MASK |
                              VFIO_IRQ_SET_DATA_TYPE_MASK)) != 0) {
        why = "unknown flags";
    } else if (data == VFIO_IRQ_SET_DATA_BOOL &&
               msg->body_len - sizeof(*is) != is->count) {
        why = "bool count";
    } else if (is->index >= VFU_DEV_NUM_IRQS) {
        why = "index";
    } else if (action != VFIO_IRQ_SET_ACTION_MASK &&
               action != VFIO_IRQ_SET_ACTION_UNMASK &&
               action != VFIO_IRQ_SET_ACTION_TRIGGER) {
        why = "action";
    } else if (data != VFIO_IRQ_SET_DATA_NONE &&
               data != VFIO_IRQ_SET_DATA_BOOL &&
               data != VFIO_IRQ_SET_DATA_EVENTFD) {
        why = "data type";
    } else if (is->start >= irq_count(ctx, is->index) ||
               __builtin_add_overflow(is->start, is->count, &end) ||
               end > irq_count(ctx, is->index)) {
        why = "range";
    } else if (is->index >= VFU_DEV_ERR_IRQ &&
               (action != VFIO_IRQ_SET_ACTION_TRIGGER || is->count > 1)) {
        why = "ERR/REQ take one TRIGGER";
    } else if (is->count == 0 &&
               (is->start != 0 || action != VFIO_IRQ_SET_ACTION_TRIGGER ||
                data != VFIO_IRQ_SET_DATA_NONE)) {
        why = "count 0 is only TRIGGER|DATA_NONE from 0";
    } else if (msg->nr_fds != 0 && data != VFIO_IRQ_SET_DATA_EVENTFD) {
        why = "fds without DATA_EVENTFD";
    } else if (msg->nr_fds != 0 && msg->nr_fds != is->count) {
        why = "fd count";
    } else {
        return 0;
    }
    vfu_log(ctx, LOG_DEBUG, "bad SET_IRQS (%s): flags %#x index %u start %u "
            "count %u fds %zu", why, is->flags, is->index, is->start,
            is->count, msg->nr_fds);
    return -EINVAL;
}

/* Whether vector @i of the request (relative to start) is selected. */
static bool
selected(const struct vfio_irq_set *is, const uint8_t *bools, uint32_t i)
{
    if ((is->flags & VFIO_IRQ_SET_DATA_BOOL) == 0) {
        return true;
    }
    return bools[i] != 0;
}

/*
 * Attach (fds given) or detach (none given) the eventfds of the action's
 * kind for the range.  Replacing or detaching an eventfd closes the old
 * one; a vector losing its trigger eventfd forgets a pending trigger.
 */
static int
set_eventfds(vfu_ctx_t *ctx, proto_msg_t *msg, const struct vfio_irq_set *is)
{
    struct vfu_irqs *irqs = ctx->irqs;
    uint32_t action = is->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
    uint32_t i;

    for (i = 0; i < is->count; i++) {
        struct irq_vec *v = &irqs->vecs[is->index][is->start + i];
        int fd = -1;
        int *slot;

        if (msg->nr_fds != 0) {
            fd = proto_msg_take_fd(msg, i);
            if (fd < 0) {
                return fd;
            }
        }
        switch (action) {
        case VFIO_IRQ_SET_ACTION_TRIGGER:
            slot = &v->efd;
            if (*slot >= 0) {
                irqs->nr_efds[is->index]--;
            }
            if (fd >= 0) {
                irqs->nr_efds[is->index]++;
            }
            v->pending = false;
            break;
        case VFIO_IRQ_SET_ACTION_MASK:
            slot = &v->mask_efd;
            break;
        default:
            slot = &v->unmask_efd;
            break;
        }
        close_fd(slot);
        *slot = fd;
    }
    vfu_log(ctx, LOG_DEBUG, "%s [%u, %u): %s eventfds %s", irq_names[is->index],
            is->start, is->start + is->count,
            action == VFIO_IRQ_SET_ACTION_TRIGGER ? "trigger"
            : action == VFIO_IRQ_SET_ACTION_MASK  ? "mask"
                                                  : "unmask",
            msg->nr_fds != 0 ? "set" : "removed");
    return 0;
}

/*
 * MASK/UNMASK with DATA_NONE or DATA_BOOL: change the vectors' state, then
 * tell the device through its state callback, once per run of
 * consecutive selected vectors.
 */
static int
set_masks(vfu_ctx_t *ctx, const struct vfio_irq_set *is, const uint8_t *bools)
{
    struct vfu_irqs *irqs = ctx->irqs;
    bool mask = (is->flags & VFIO_IRQ_SET_ACTION_MASK) != 0;
    vfu_dev_irq_state_cb_t *cb = irqs->state_cb[is->index];
    uint32_t i, run = 0;
    int rc = 0;

    for (i = 0; i < is->count; i++) {
        if (selected(is, bools, i)) {
            int rc2 = vec_set_mask(&irqs->vecs[is->index][is->start + i],
                                   mask);

            if (rc == 0) {
                rc = rc2;
            }
            run++;
            continue;
        }
        if (run != 0 && cb != NULL) {
            cb(ctx, is->start + i - run, run, mask);
        }
        run = 0;
    }
    if (run != 0 && cb != NULL) {
        cb(ctx, is->start + is->count - run, run, mask);
    }
    return rc;
}

/* TRIGGER with DATA_NONE or DATA_BOOL: the client raises the vectors. */
static int
trigger(vfu_ctx_t *ctx, const struct vfio_irq_set *is, const uint8_t *bools)
{
    struct vfu_irqs *irqs = ctx->irqs;
    uint32_t i;

    for (i = 0; i < is->count; i++) {
        if (selected(is, bools, i)) {
            int rc = vec_fire(&irqs->vecs[is->index][is->start + i]);

            if (rc < 0) {
                vfu_log(ctx, LOG_DEBUG, "%s %u: cannot signal: %s",
                        irq_names[is->index], is->start + i, strerror(-rc));
                return rc;
            }
        }
    }
    return 0;
}

/*
 * SET_IRQS.  In vfio-user the eventfds travel as SCM_RIGHTS, one per
 * vector of [start, start + count); the data area carries nothing for
 * DATA_EVENTFD (bytes there are ignored) and a message without fds
 * detaches the range, which is how a client says "-1".  count 0 with
 * TRIGGER|DATA_NONE disables the whole index.
 */
int
handle_device_set_irqs(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply)
{
    struct vfio_irq_set is;
    const uint8_t *bools;
    uint32_t action, data;
    int rc;

    (void)reply;
    if (msg->body_len < sizeof(is)) {
        return -EINVAL;
    }
    memcpy(&is, msg->body, sizeof(is));
    rc = check_set_irqs(ctx, msg, &is);
    if (rc < 0) {
        return rc;
    }
    /* a count checked above is non-zero, so the state exists */
    if (irqs_get(ctx) == NULL) {
        return -ENOMEM;
    }
    bools = msg->body + sizeof(is);
    action = is.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
    data = is.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;

    if (data == VFIO_IRQ_SET_DATA_EVENTFD) {
        return set_eventfds(ctx, msg, &is);
    }
    if (action != VFIO_IRQ_SET_ACTION_TRIGGER) {
        return set_masks(ctx, &is, bools);
    }
    if (is.count == 0) {
        vfu_log(ctx, LOG_DEBUG, "%s: all vectors disabled",
                irq_names[is.index]);
        vecs_reset(ctx->irqs, is.index, 0, ctx->irqs->count[is.index]);
        return 0;
    }
    return trigger(ctx, &is, bools);
}

uint64_t
irq_state_sig(const vfu_ctx_t *ctx)
{
    const struct vfu_irqs *irqs = ctx->irqs;
    uint64_t h = VFU_FNV_INIT;
    uint8_t v[5];
    uint32_t t, i;

    if (irqs == NULL) {
        return h;
    }
    for (t = 0; t < VFU_DEV_NUM_IRQS; t++) {
        h = vfu_fnv(h, &irqs->count[t], sizeof(irqs->count[t]));
        h = vfu_fnv(h, &irqs->nr_efds[t], sizeof(irqs->nr_efds[t]));
        if (irqs->vecs[t] == NULL) {
            continue;
        }
        for (i = 0; i < irqs->count[t]; i++) {
            const struct irq_vec *vec = &irqs->vecs[t][i];

            v[0] = vec->efd >= 0;
            v[1] = vec->mask_efd >= 0;
            v[2] = vec->unmask_efd >= 0;
            v[3] = vec->masked;
            v[4] = vec->pending;
            h = vfu_fnv(h, v, sizeof(v));
        }
    }
    return h;
}
