/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rec_irq.c - interrupts in the recorder: the eventfds it gives the server
 * in place of the client's, passing each trigger on, and the count of
 * triggers each statement saw.
 *
 * The server signals our eventfd; we read the count, add it to the
 * client's eventfd (so the client sees every trigger) and charge it to a
 * statement, which then gets `expect irq` lines.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "harness/rec.h"

static void
irqfd_close(rec_irqfd_t *e)
{
    close(e->ours);
    close(e->client);
}

void
rec_irqtab_free(rec_irqtab_t *t)
{
    size_t i;

    for (i = 0; i < t->nr; i++) {
        irqfd_close(&t->e[i]);
    }
    free(t->e);
    t->e = NULL;
    t->nr = 0;
}

uint64_t
rec_irqfd_take(rec_irqfd_t *e)
{
    uint64_t v = 0;
    ssize_t n;

    if (read(e->ours, &v, sizeof(v)) != (ssize_t)sizeof(v) || v == 0) {
        return 0;
    }
    /*
     * A client whose counter would overflow misses the trigger, as it
     * would without us (the write fails with EAGAIN); it is still
     * recorded, since the server did signal.
     */
    n = write(e->client, &v, sizeof(v));
    (void)n;
    return v;
}

void
rec_stmt_add_hit(rec_stmt_t *st, uint32_t index, uint32_t vector,
                 uint64_t count, bool async)
{
    rec_irqhit_t *h;
    size_t i;

    for (i = 0; i < st->nr_irqs; i++) {
        h = &st->irqs[i];
        if (h->index == index && h->vector == vector) {
            h->count += count;
            h->async |= async;
            return;
        }
    }
    if (st->nr_irqs >= REC_MAX_IRQ_FDS) {
        return;
    }
    h = realloc(st->irqs, (st->nr_irqs + 1) * sizeof(*h));
    if (h == NULL) {
        return;
    }
    st->irqs = h;
    h[st->nr_irqs].index = index;
    h[st->nr_irqs].vector = vector;
    h[st->nr_irqs].count = count;
    h[st->nr_irqs].async = async;
    st->nr_irqs++;
}

/* Forget vectors [@start, +@count) of @index (all of them with @all). */
static void
irq_remove(rec_irqtab_t *t, uint32_t index, uint32_t start, uint32_t count,
           bool all)
{
    size_t i = 0;

    while (i < t->nr) {
        rec_irqfd_t *e = &t->e[i];

        if (e->index == index &&
            (all || (e->vector >= start && e->vector - start < count))) {
            irqfd_close(e);
            t->e[i] = t->e[--t->nr];
        } else {
            i++;
        }
    }
}

void
rec_irq_settle(rec_irqtab_t *t, rec_stmt_t *st)
{
    struct vfio_irq_set set;
    bool ok = st->state == REC_NOREPLY ||
              (st->state == REC_REPLIED &&
               !(st->reply.hdr.flags & VFIO_USER_F_ERROR));
    size_t i;

    if (st->req.hdr.cmd != VFIO_USER_DEVICE_SET_IRQS || st->bad_frame ||
        st->req.body_len < sizeof(set)) {
        return;
    }
    memcpy(&set, st->req.body, sizeof(set));
    if (ok && (set.flags & VFIO_IRQ_SET_ACTION_TRIGGER)) {
        /* disabling the index, or taking vectors' eventfds away */
        if (set.count == 0 && (set.flags & VFIO_IRQ_SET_DATA_NONE)) {
            irq_remove(t, set.index, 0, 0, true);
        } else if ((set.flags & VFIO_IRQ_SET_DATA_EVENTFD) &&
                   st->req.nr_fds == 0) {
            irq_remove(t, set.index, set.start, set.count, false);
        }
    }
    if (!ok || st->nr_irq_fds == 0) {
        return; /* rec_stmt_free() closes what is left */
    }
    irq_remove(t, set.index, set.start, set.count, false);
    for (i = 0; i < st->nr_irq_fds; i++) {
        rec_irqfd_t *n;

        if (t->nr >= REC_MAX_IRQ_FDS) {
            break;
        }
        n = realloc(t->e, (t->nr + 1) * sizeof(*n));
        if (n == NULL) {
            break;
        }
        t->e = n;
        n[t->nr].index = set.index;
        n[t->nr].vector = set.start + (uint32_t)i;
        n[t->nr].ours = st->irq_ours[i];
        n[t->nr].client = st->irq_client[i];
        st->irq_ours[i] = st->irq_client[i] = -1;
        t->nr++;
    }
}

void
rec_irq_substitute(rec_irqtab_t *t, rec_stmt_t *st, rec_msg_t *msg)
{
    struct vfio_irq_set set;
    size_t n = msg->m.nr_fds;
    size_t i;

    if (n == 0 || st->bad_frame || st->req.body_len < sizeof(set)) {
        return;
    }
    memcpy(&set, st->req.body, sizeof(set));
    if (!(set.flags & VFIO_IRQ_SET_DATA_EVENTFD) ||
        !(set.flags & VFIO_IRQ_SET_ACTION_TRIGGER) || set.count != n ||
        t->nr + n > REC_MAX_IRQ_FDS) {
        return;
    }
    st->irq_ours = malloc(n * sizeof(int));
    st->irq_client = malloc(n * sizeof(int));
    if (st->irq_ours == NULL || st->irq_client == NULL) {
        goto undo;
    }
    for (i = 0; i < n; i++) {
        st->irq_ours[i] = st->irq_client[i] = -1;
    }
    st->nr_irq_fds = n;
    for (i = 0; i < n; i++) {
        int e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        int d = e >= 0 ? fcntl(e, F_DUPFD_CLOEXEC, 0) : -1;

        if (d < 0) {
            if (e >= 0) {
                close(e);
            }
            goto undo;
        }
        st->irq_ours[i] = e;
        st->irq_client[i] = msg->m.fds[i];
        msg->m.fds[i] = d; /* closed with the message once sent */
    }
    return;

undo:
    for (i = 0; i < st->nr_irq_fds; i++) {
        if (st->irq_client[i] >= 0) {
            close(msg->m.fds[i]);
            msg->m.fds[i] = st->irq_client[i];
        }
        if (st->irq_ours[i] >= 0) {
            close(st->irq_ours[i]);
        }
    }
    free(st->irq_ours);
    free(st->irq_client);
    st->irq_ours = st->irq_client = NULL;
    st->nr_irq_fds = 0;
}
