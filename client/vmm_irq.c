/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vmm_irq.c - the fake VMM's interrupts: eventfds per vector, SET_IRQS,
 * masking, counting and waiting for triggers.
 *
 * Each enabled vector has one eventfd of ours (non-blocking); a duplicate
 * travels to the server with SET_IRQS and the server writes to it when the
 * device raises the vector.  Reading the eventfd returns and clears the
 * number of triggers since the last read; we add it to a running count so
 * a test can ask "how many since I last took them" without losing any.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "client/private.h"

static void
index_close(vmm_irq_index_t *x)
{
    uint32_t i;

    for (i = 0; i < x->nr; i++) {
        if (x->vecs[i].efd >= 0) {
            close(x->vecs[i].efd);
        }
    }
    free(x->vecs);
    x->vecs = NULL;
    x->nr = 0;
}

void
vmm_irq_cleanup(vmm_t *vmm)
{
    uint32_t i;

    for (i = 0; i < VMM_MAX_IRQS; i++) {
        index_close(&vmm->irq[i]);
    }
}

/*
 * Check [@start, +@count) against the vectors the device has for @index
 * (DEVICE_GET_IRQ_INFO, cached), so a bad range is refused before it goes
 * on the wire.
 */
static int
check_range(vmm_t *vmm, uint32_t index, uint32_t start, uint32_t count)
{
    struct vfio_irq_info info;
    uint32_t end;
    int rc;

    if (vmm == NULL || index >= VMM_MAX_IRQS || count == 0 ||
        __builtin_add_overflow(start, count, &end)) {
        return -EINVAL;
    }
    rc = vmm_irq_info(vmm, index, &info);
    if (rc < 0) {
        return rc;
    }
    return end <= info.count ? 0 : -EINVAL;
}

/* One SET_IRQS with @nr_fds fds (borrowed). */
static int
send_set_irqs(vmm_t *vmm, uint32_t index, uint32_t flags, uint32_t start,
              uint32_t count, const int *fds, size_t nr_fds)
{
    struct vfio_irq_set s = {.argsz = sizeof(s),
                             .flags = flags,
                             .index = index,
                             .start = start,
                             .count = count};
    proto_msg_t reply;
    int rc;

    rc = vmm_request(vmm, VFIO_USER_DEVICE_SET_IRQS, &s, sizeof(s), fds,
                     nr_fds, &reply);
    if (rc == 0) {
        vmm_msg_free(vmm, &reply);
    }
    return rc;
}

/* Make room for vectors [0, @end) of @x. */
static int
index_grow(vmm_irq_index_t *x, uint32_t end)
{
    vmm_irq_vec_t *v;
    uint32_t i;

    if (end <= x->nr) {
        return 0;
    }
    v = realloc(x->vecs, end * sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    for (i = x->nr; i < end; i++) {
        v[i].efd = -1;
        v[i].count = 0;
    }
    x->vecs = v;
    x->nr = end;
    return 0;
}

/*
 * SET_IRQS carries one fd per vector, and a message at most the
 * negotiated max_msg_fds: a longer range goes out in several messages.
 * If one fails, the vectors of the messages before it stay enabled (the
 * server took them) and the error is returned.
 */
VMM_EXPORT int
vmm_irq_enable(vmm_t *vmm, uint32_t index, uint32_t start, uint32_t count)
{
    const uint32_t flags =
        VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    vmm_irq_index_t *x;
    uint32_t per_msg;
    uint32_t off;
    uint32_t i;
    int *efds;
    int rc;

    rc = check_range(vmm, index, start, count);
    if (rc < 0) {
        return rc;
    }
    if (start + count > VMM_MAX_IRQ_VECTORS) {
        return -EINVAL;
    }
    per_msg = vmm->pub_caps.max_msg_fds;
    if (per_msg == 0) {
        return -ENOTSUP; /* the server takes no fds at all */
    }
    x = &vmm->irq[index];
    rc = index_grow(x, start + count);
    if (rc < 0) {
        return rc;
    }
    efds = malloc(count * sizeof(*efds));
    if (efds == NULL) {
        return -ENOMEM;
    }
    for (i = 0; i < count; i++) {
        efds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (efds[i] < 0) {
            rc = -errno;
            while (i-- > 0) {
                close(efds[i]);
            }
            free(efds);
            return rc;
        }
    }
    for (off = 0; off < count; off += per_msg) {
        uint32_t n = count - off < per_msg ? count - off : per_msg;

        rc = send_set_irqs(vmm, index, flags, start + off, n, efds + off, n);
        if (rc < 0) {
            break;
        }
        for (i = off; i < off + n; i++) {
            vmm_irq_vec_t *v = &x->vecs[start + i];

            if (v->efd >= 0) {
                close(v->efd);
            }
            v->efd = efds[i];
            v->count = 0;
            efds[i] = -1;
        }
    }
    for (i = 0; i < count; i++) {
        if (efds[i] >= 0) {
            close(efds[i]);
        }
    }
    free(efds);
    return rc;
}

/*
 * The eventfds are closed whatever the server answers: the caller asked
 * to stop listening, and a server that refused still holds only its own
 * copies.
 */
VMM_EXPORT int
vmm_irq_disable(vmm_t *vmm, uint32_t index)
{
    int rc;

    if (vmm == NULL || index >= VMM_MAX_IRQS) {
        return -EINVAL;
    }
    rc = send_set_irqs(vmm, index,
                       VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                       0, 0, NULL, 0);
    index_close(&vmm->irq[index]);
    return rc;
}

VMM_EXPORT int
vmm_irq_mask(vmm_t *vmm, uint32_t index, uint32_t start, uint32_t count,
             bool mask)
{
    uint32_t action =
        mask ? VFIO_IRQ_SET_ACTION_MASK : VFIO_IRQ_SET_ACTION_UNMASK;
    int rc;

    rc = check_range(vmm, index, start, count);
    if (rc < 0) {
        return rc;
    }
    return send_set_irqs(vmm, index, VFIO_IRQ_SET_DATA_NONE | action, start,
                         count, NULL, 0);
}

/* The enabled vector, or NULL. */
static vmm_irq_vec_t *
vec_get(vmm_t *vmm, uint32_t index, uint32_t vector)
{
    vmm_irq_index_t *x;

    if (vmm == NULL || index >= VMM_MAX_IRQS) {
        return NULL;
    }
    x = &vmm->irq[index];
    if (vector >= x->nr || x->vecs[vector].efd < 0) {
        return NULL;
    }
    return &x->vecs[vector];
}

/* Add what the eventfd counted since the last read (non-blocking). */
static int
vec_drain(vmm_irq_vec_t *v)
{
    uint64_t val;
    ssize_t n;

    do {
        n = read(v->efd, &val, sizeof(val));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return errno == EAGAIN ? 0 : -errno;
    }
    if (n != (ssize_t)sizeof(val)) {
        return -EIO;
    }
    v->count = v->count > UINT64_MAX - val ? UINT64_MAX : v->count + val;
    return 0;
}

VMM_EXPORT int
vmm_irq_count(vmm_t *vmm, uint32_t index, uint32_t vector, bool take,
              uint64_t *count)
{
    vmm_irq_vec_t *v = vec_get(vmm, index, vector);
    int rc;

    if (count != NULL) {
        *count = 0;
    }
    if (v == NULL || count == NULL) {
        return -EINVAL;
    }
    rc = vec_drain(v);
    if (rc < 0) {
        return rc;
    }
    *count = v->count;
    if (take) {
        v->count = 0;
    }
    return 0;
}

/*
 * Over a socket the server runs elsewhere: wait on the eventfd and the
 * sockets together, serving what the server sends meanwhile (it may need
 * a DMA answered before it raises the interrupt).  In-process the device
 * raises interrupts synchronously from the server's loop, so one run of
 * that loop is all the waiting there is.
 */
VMM_EXPORT int
vmm_irq_wait(vmm_t *vmm, uint32_t index, uint32_t vector, int timeout_ms)
{
    int64_t deadline;
    bool last = false;
    int rc;

    if (vec_get(vmm, index, vector) == NULL || timeout_ms < 0) {
        return -EINVAL;
    }
    deadline = vmm_now_ms() + timeout_ms;
    for (;;) {
        /* looked up again: the table may have moved while serving */
        vmm_irq_vec_t *v = vec_get(vmm, index, vector);
        int served;

        if (v == NULL) {
            return -EINVAL;
        }
        rc = vec_drain(v);
        if (rc < 0) {
            return rc;
        }
        if (v->count > 0) {
            return 0;
        }
        if (last) {
            return -ETIMEDOUT;
        }
        served = vmm_serve_pending(vmm, deadline, vmm->ctx != NULL ? -1
                                                                   : v->efd);
        if (served < 0) {
            /* a server that raised the vector and then left: still seen */
            v = vec_get(vmm, index, vector);
            if (v != NULL && vec_drain(v) == 0 && v->count > 0) {
                return 0;
            }
            return served;
        }
        if (vmm->ctx != NULL || vmm_now_ms() >= deadline) {
            last = true;
        }
    }
}
