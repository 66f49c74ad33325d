/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaengine_exec.c - the dmaengine's execution unit: fetching descriptors
 * from the rings, moving and checking guest memory, CRC32C, completion
 * records.
 *
 * Guest memory is reached only through the public scatter-gather API:
 * vfu_addr_to_sgl() translates a guest range, then either vfu_sgl_get()
 * gives a local pointer (the region came with an fd and the device may use
 * mappings) or vfu_sgl_read()/vfu_sgl_write() move the bytes (DMA_READ /
 * DMA_WRITE messages for fd-less regions; with VFU_SGL_DIRECT_ACCESS a
 * plain copy for mapped ones).  dma_sg_t is opaque, so the device never
 * learns where one DMA region ends: it asks for one entry covering the
 * whole piece it wants and, if the piece spans regions, halves it until
 * it fits (a handful of table lookups, and only at region boundaries).
 *
 * Every operand is checked (vfu_addr_to_sgl over the whole range) before
 * the first byte moves, so a bad descriptor fails without side effects;
 * a failure in the middle of a move (the client answering a DMA message
 * with an error) is still reported, as DMA_IO or a fault.  Work is bounded:
 * one kick processes at most BUDGET (and ring size minus one) descriptors,
 * and a descriptor moves at most DMAE_CHUNK bytes per step through the
 * bounce buffers.
 */

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "dmaengine/dmaengine_priv.h"

/* ------------------------------------------------------------------ */
/* Guest memory                                                        */
/* ------------------------------------------------------------------ */

static bool
may_map(const dmae_t *d)
{
    return (d->r.ctrl & DMAE_CTRL_NO_DIRECT) == 0;
}

static int
sgl_flags(const dmae_t *d)
{
    return may_map(d) ? VFU_SGL_DIRECT_ACCESS : 0;
}

static vfu_dma_addr_t
to_dma_addr(uint64_t addr)
{
    return (vfu_dma_addr_t)(uintptr_t)addr;
}

/* Whether [@addr, +@len) can be a guest address range on this host. */
static bool
range_representable(uint64_t addr, uint64_t len)
{
    uint64_t last;

    if (len == 0 || __builtin_add_overflow(addr, len - 1, &last)) {
        return false;
    }
#if UINTPTR_MAX < UINT64_MAX
    if (last > UINTPTR_MAX) {
        return false;
    }
#endif
    return true;
}

/*
 * Whether the whole of [@addr, +@len) is mapped with @prot.  One entry is
 * enough to ask: a range that spans regions answers -(n + 1), which still
 * means it translates.
 */
static bool
range_ok(vfu_ctx_t *ctx, dmae_t *d, uint64_t addr, uint64_t len, int prot)
{
    int n;

    if (!range_representable(addr, len)) {
        return false;
    }
    n = vfu_addr_to_sgl(ctx, to_dma_addr(addr), len, dmae_sg(d, DMAE_SG_SRC),
                        1, prot);
    return n == 1 || n < -1;
}

/*
 * Translate the longest prefix of [@addr, +@len) that one sg entry
 * covers, trying @len, then halves of it (multiples of @unit).  Returns
 * the prefix length, or a negative errno (ENOENT, EACCES, EFAULT).
 */
static int64_t
map_piece(vfu_ctx_t *ctx, uint64_t addr, uint64_t len, uint64_t unit,
          int prot, dma_sg_t *sg)
{
    if (!range_representable(addr, len)) {
        return -EFAULT;
    }
    while (len >= unit && len > 0) {
        int n = vfu_addr_to_sgl(ctx, to_dma_addr(addr), len, sg, 1, prot);

        if (n == 1) {
            return (int64_t)len;
        }
        if (n >= -1) {
            return n == -1 && errno > 0 ? -errno : -EFAULT;
        }
        len = (len / 2) / unit * unit;
    }
    return -EFAULT;
}

/*
 * A piece of guest memory as the device touches it: a local pointer when
 * the region is mappable and mappings are allowed, else NULL (then the
 * bytes travel with vfu_sgl_read/vfu_sgl_write).
 */
typedef struct view {
    dma_sg_t *sg;
    struct iovec iov;
    void *ptr;
} view_t;

static void
view_open(vfu_ctx_t *ctx, const dmae_t *d, dma_sg_t *sg, view_t *v)
{
    v->sg = sg;
    v->ptr = NULL;
    if (!may_map(d) || !vfu_sg_is_mappable(ctx, sg)) {
        return;
    }
    if (vfu_sgl_get(ctx, sg, &v->iov, 1, 0) == 0) {
        v->ptr = v->iov.iov_base;
    }
}

static void
view_close(vfu_ctx_t *ctx, view_t *v)
{
    if (v->ptr != NULL) {
        /* also marks a written piece dirty for migration */
        vfu_sgl_put(ctx, v->sg, &v->iov, 1);
        v->ptr = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */
/* ------------------------------------------------------------------ */

/* What a descriptor did: a DMAE_ERR_* with its address, or its results. */
typedef struct outcome {
    uint32_t err;
    uint64_t addr;
    uint32_t result;
    uint64_t bytes;
    uint64_t detail;
} outcome_t;

static bool
fault(outcome_t *o, uint32_t err, uint64_t addr)
{
    o->err = err;
    o->addr = addr;
    return false;
}

/*
 * Translate the next piece of a one- or two-operand step: at most @want
 * bytes at @off, shortened to what both operands cover in one entry.
 */
static int64_t
map_step(vfu_ctx_t *ctx, dmae_t *d, const dmae_desc_t *desc, uint64_t off,
         uint64_t want, int src_prot, int dst_prot, outcome_t *o)
{
    uint64_t n = want;
    int64_t got;

    if (src_prot != 0) {
        got = map_piece(ctx, desc->src + off, n, 1, src_prot,
                        dmae_sg(d, DMAE_SG_SRC));
        if (got < 0) {
            fault(o, DMAE_ERR_SRC_FAULT, desc->src + off);
            return -1;
        }
        n = (uint64_t)got;
    }
    if (dst_prot != 0) {
        got = map_piece(ctx, desc->dst + off, n, 1, dst_prot,
                        dmae_sg(d, DMAE_SG_DST));
        if (got < 0) {
            fault(o, DMAE_ERR_DST_FAULT, desc->dst + off);
            return -1;
        }
        if ((uint64_t)got < n && src_prot != 0) {
            /* the source entry must cover exactly the shorter piece */
            n = (uint64_t)got;
            if (map_piece(ctx, desc->src + off, n, 1, src_prot,
                          dmae_sg(d, DMAE_SG_SRC)) != (int64_t)n) {
                fault(o, DMAE_ERR_SRC_FAULT, desc->src + off);
                return -1;
            }
        }
        n = (uint64_t)got;
    }
    return (int64_t)n;
}

static uint64_t
step_size(const dmae_desc_t *desc, uint64_t off)
{
    uint64_t left = desc->len - off;

    return left < DMAE_CHUNK ? left : DMAE_CHUNK;
}

static bool
op_copy(vfu_ctx_t *ctx, dmae_t *d, const dmae_desc_t *desc, outcome_t *o)
{
    uint64_t off = 0;

    while (off < desc->len) {
        int64_t n = map_step(ctx, d, desc, off, step_size(desc, off),
                             PROT_READ, PROT_WRITE, o);
        bool rd_ok = true, wr_ok = true;
        view_t s, t;

        if (n < 0) {
            return false;
        }
        view_open(ctx, d, dmae_sg(d, DMAE_SG_SRC), &s);
        view_open(ctx, d, dmae_sg(d, DMAE_SG_DST), &t);
        if (s.ptr != NULL && t.ptr != NULL) {
            memmove(t.ptr, s.ptr, (size_t)n);
        } else if (s.ptr != NULL) {
            wr_ok = vfu_sgl_write(ctx, t.sg, 1, s.ptr, sgl_flags(d)) == 0;
        } else if (t.ptr != NULL) {
            rd_ok = vfu_sgl_read(ctx, s.sg, 1, t.ptr, sgl_flags(d)) == 0;
        } else {
            rd_ok = vfu_sgl_read(ctx, s.sg, 1, d->bounce[0], sgl_flags(d)) ==
                    0;
            wr_ok = rd_ok && vfu_sgl_write(ctx, t.sg, 1, d->bounce[0],
                                           sgl_flags(d)) == 0;
        }
        view_close(ctx, &t);
        view_close(ctx, &s);
        if (!rd_ok) {
            return fault(o, DMAE_ERR_DMA_IO, desc->src + off);
        }
        if (!wr_ok) {
            return fault(o, DMAE_ERR_DMA_IO, desc->dst + off);
        }
        off += (uint64_t)n;
    }
    o->bytes = off;
    return true;
}

/* Fill @n bytes at @p with the pattern, starting at pattern byte @phase. */
static void
fill_pattern(uint8_t *p, size_t n, uint64_t pattern, unsigned int phase)
{
    size_t done = n < 64 ? n : 64;
    size_t i;

    for (i = 0; i < done; i++) {
        p[i] = (uint8_t)(pattern >> (8 * ((phase + i) & 7)));
    }
    /* double what is there: its length stays a multiple of the period */
    while (done < n) {
        size_t k = n - done < done ? n - done : done;

        memcpy(p + done, p, k);
        done += k;
    }
}

static bool
op_fill(vfu_ctx_t *ctx, dmae_t *d, const dmae_desc_t *desc, outcome_t *o)
{
    uint64_t off = 0;

    while (off < desc->len) {
        int64_t n = map_step(ctx, d, desc, off, step_size(desc, off), 0,
                             PROT_WRITE, o);
        unsigned int phase = (unsigned int)(off & 7);
        view_t t;
        int rc = 0;

        if (n < 0) {
            return false;
        }
        view_open(ctx, d, dmae_sg(d, DMAE_SG_DST), &t);
        if (t.ptr != NULL) {
            fill_pattern(t.ptr, (size_t)n, desc->pattern, phase);
        } else {
            fill_pattern(d->bounce[0], (size_t)n, desc->pattern, phase);
            rc = vfu_sgl_write(ctx, t.sg, 1, d->bounce[0], sgl_flags(d));
        }
        view_close(ctx, &t);
        if (rc < 0) {
            return fault(o, DMAE_ERR_DMA_IO, desc->dst + off);
        }
        off += (uint64_t)n;
    }
    o->bytes = off;
    return true;
}

static bool
op_crc32c(vfu_ctx_t *ctx, dmae_t *d, const dmae_desc_t *desc, outcome_t *o)
{
    uint32_t crc = (uint32_t)desc->pattern;
    uint64_t off = 0;

    while (off < desc->len) {
        int64_t n = map_step(ctx, d, desc, off, step_size(desc, off),
                             PROT_READ, 0, o);
        view_t s;
        int rc = 0;

        if (n < 0) {
            return false;
        }
        view_open(ctx, d, dmae_sg(d, DMAE_SG_SRC), &s);
        if (s.ptr != NULL) {
            crc = crc32c(d->crc_table, crc, s.ptr, (size_t)n);
        } else {
            rc = vfu_sgl_read(ctx, s.sg, 1, d->bounce[0], sgl_flags(d));
            if (rc == 0) {
                crc = crc32c(d->crc_table, crc, d->bounce[0], (size_t)n);
            }
        }
        view_close(ctx, &s);
        if (rc < 0) {
            return fault(o, DMAE_ERR_DMA_IO, desc->src + off);
        }
        off += (uint64_t)n;
    }
    o->result = crc;
    o->bytes = off;
    return true;
}

static bool
op_compare(vfu_ctx_t *ctx, dmae_t *d, const dmae_desc_t *desc, outcome_t *o)
{
    uint64_t off = 0;

    while (off < desc->len) {
        int64_t n = map_step(ctx, d, desc, off, step_size(desc, off),
                             PROT_READ, PROT_READ, o);
        const uint8_t *a, *b;
        uint64_t failed = 0; /* the operand a transfer failed for */
        bool ok = true;
        view_t s, t;

        if (n < 0) {
            return false;
        }
        view_open(ctx, d, dmae_sg(d, DMAE_SG_SRC), &s);
        view_open(ctx, d, dmae_sg(d, DMAE_SG_DST), &t);
        a = s.ptr;
        b = t.ptr;
        if (a == NULL) {
            ok = vfu_sgl_read(ctx, s.sg, 1, d->bounce[0], sgl_flags(d)) == 0;
            a = d->bounce[0];
            failed = desc->src + off;
        }
        if (ok && b == NULL) {
            ok = vfu_sgl_read(ctx, t.sg, 1, d->bounce[1], sgl_flags(d)) == 0;
            b = d->bounce[1];
            failed = desc->dst + off;
        }
        if (ok && memcmp(a, b, (size_t)n) != 0) {
            size_t i = 0;

            while (a[i] == b[i]) {
                i++;
            }
            o->result = 1;
            o->detail = off + i;
            o->bytes = off + i;
            view_close(ctx, &t);
            view_close(ctx, &s);
            return true;
        }
        view_close(ctx, &t);
        view_close(ctx, &s);
        if (!ok) {
            return fault(o, DMAE_ERR_DMA_IO, failed);
        }
        off += (uint64_t)n;
    }
    o->result = 0;
    o->bytes = off;
    return true;
}

/* ------------------------------------------------------------------ */
/* Descriptors                                                         */
/* ------------------------------------------------------------------ */

static void
desc_from_le(dmae_desc_t *desc, const uint8_t *raw)
{
    memcpy(desc, raw, sizeof(*desc));
    desc->rsvd0 = le16toh(desc->rsvd0);
    desc->len = le32toh(desc->len);
    desc->src = le64toh(desc->src);
    desc->dst = le64toh(desc->dst);
    desc->completion = le64toh(desc->completion);
    desc->pattern = le64toh(desc->pattern);
    desc->tag = le64toh(desc->tag);
}

/* Operand checks before anything moves; false with @o filled on error. */
static bool
desc_check(vfu_ctx_t *ctx, dmae_t *d, const dmae_desc_t *desc,
           uint64_t desc_addr, outcome_t *o)
{
    bool rd_src = false, wr_dst = false, rd_dst = false;

    if ((desc->flags & ~DMAE_DESC_F_MASK) != 0) {
        return fault(o, DMAE_ERR_BAD_FLAGS, desc_addr);
    }
    switch (desc->opcode) {
    case DMAE_OP_NOP:
        break;
    case DMAE_OP_COPY:
        rd_src = wr_dst = true;
        break;
    case DMAE_OP_FILL:
        wr_dst = true;
        break;
    case DMAE_OP_CRC32C:
        rd_src = true;
        break;
    case DMAE_OP_COMPARE:
        rd_src = rd_dst = true;
        break;
    default:
        return fault(o, DMAE_ERR_BAD_OPCODE, desc_addr);
    }
    if (desc->opcode != DMAE_OP_NOP &&
        (desc->len == 0 || desc->len > DMAE_MAX_LEN)) {
        return fault(o, DMAE_ERR_BAD_LEN, desc_addr);
    }
    if ((desc->flags & DMAE_DESC_F_COMPL) &&
        (desc->completion % DMAE_COMPL_ALIGN != 0 ||
         !range_ok(ctx, d, desc->completion, DMAE_COMPL_SIZE, PROT_WRITE))) {
        return fault(o, DMAE_ERR_COMPL_FAULT, desc->completion);
    }
    if (rd_src && !range_ok(ctx, d, desc->src, desc->len, PROT_READ)) {
        return fault(o, DMAE_ERR_SRC_FAULT, desc->src);
    }
    if ((wr_dst || rd_dst) &&
        !range_ok(ctx, d, desc->dst, desc->len,
                  wr_dst ? PROT_WRITE : PROT_READ)) {
        return fault(o, DMAE_ERR_DST_FAULT, desc->dst);
    }
    return true;
}

static bool
desc_run(vfu_ctx_t *ctx, dmae_t *d, const dmae_desc_t *desc, outcome_t *o)
{
    switch (desc->opcode) {
    case DMAE_OP_COPY:
        return op_copy(ctx, d, desc, o);
    case DMAE_OP_FILL:
        return op_fill(ctx, d, desc, o);
    case DMAE_OP_CRC32C:
        return op_crc32c(ctx, d, desc, o);
    case DMAE_OP_COMPARE:
        return op_compare(ctx, d, desc, o);
    default:
        return true; /* NOP */
    }
}

/* Write the completion record of @desc; 0 or a negative errno. */
static int
compl_write(vfu_ctx_t *ctx, dmae_t *d, const dmae_desc_t *desc,
            const outcome_t *o)
{
    dmae_compl_t rec;
    dma_sg_t *sg = dmae_sg(d, DMAE_SG_COMPL);

    rec.status = htole32(o->err == DMAE_ERR_NONE ? DMAE_CS_OK : DMAE_CS_ERROR);
    rec.result = htole32(o->err == DMAE_ERR_NONE ? o->result : o->err);
    rec.bytes = htole64(o->bytes);
    rec.tag = htole64(desc->tag);
    rec.detail = htole64(o->err == DMAE_ERR_NONE ? o->detail : o->addr);
    if (map_piece(ctx, desc->completion, sizeof(rec), sizeof(rec), PROT_WRITE,
                  sg) != (int64_t)sizeof(rec)) {
        return -EFAULT;
    }
    if (vfu_sgl_write(ctx, sg, 1, &rec, sgl_flags(d)) < 0) {
        return errno > 0 ? -errno : -EIO;
    }
    return 0;
}

/*
 * Execute the descriptor in ring slot @slot of queue @qi.  Returns true
 * when it completed; false when it failed and halted the queue.
 */
static bool
desc_exec(vfu_ctx_t *ctx, dmae_t *d, unsigned int qi, const uint8_t *raw,
          uint32_t slot)
{
    uint64_t desc_addr = d->q[qi].ring_base + (uint64_t)slot * DMAE_DESC_SIZE;
    dmae_desc_t desc;
    outcome_t o;

    memset(&o, 0, sizeof(o));
    desc_from_le(&desc, raw);
    if (desc_check(ctx, d, &desc, desc_addr, &o) &&
        desc_run(ctx, d, &desc, &o)) {
        if ((desc.flags & DMAE_DESC_F_COMPL) == 0 ||
            compl_write(ctx, d, &desc, &o) == 0) {
            return true;
        }
        o.err = DMAE_ERR_COMPL_FAULT;
        o.addr = desc.completion;
    } else if ((desc.flags & DMAE_DESC_F_COMPL) &&
               o.err != DMAE_ERR_BAD_FLAGS && o.err != DMAE_ERR_COMPL_FAULT &&
               desc.completion % DMAE_COMPL_ALIGN == 0) {
        /* tell the driver in the record too, when there is one to write */
        (void)compl_write(ctx, d, &desc, &o);
    }
    vfu_log(ctx, LOG_DEBUG,
            "dmaengine: queue %u slot %u: error %#x at %#llx (op %#x len %u)",
            qi, slot, o.err, (unsigned long long)o.addr, desc.opcode,
            desc.len);
    dmae_queue_fail(ctx, d, qi, o.err, slot, o.addr);
    return false;
}

/* ------------------------------------------------------------------ */
/* Rings                                                               */
/* ------------------------------------------------------------------ */

uint32_t
dmae_ring_check(vfu_ctx_t *ctx, dmae_t *d, const dmae_queue_t *q)
{
    uint32_t size = q->ring_size;

    if (size < DMAE_MIN_RING || size > DMAE_MAX_RING ||
        (size & (size - 1)) != 0) {
        return DMAE_ERR_RING_SIZE;
    }
    if (q->ring_base % DMAE_RING_ALIGN != 0) {
        return DMAE_ERR_RING_ALIGN;
    }
    if (!range_ok(ctx, d, q->ring_base, (uint64_t)size * DMAE_DESC_SIZE,
                  PROT_READ)) {
        return DMAE_ERR_RING_FAULT;
    }
    return DMAE_ERR_NONE;
}

/* Map the whole ring when it sits in one mappable region. */
void
dmae_ring_cache(vfu_ctx_t *ctx, dmae_t *d, dmae_queue_t *q)
{
    uint64_t len = (uint64_t)q->ring_size * DMAE_DESC_SIZE;

    if (q->ring_iov.iov_base != NULL || !may_map(d)) {
        return;
    }
    if (vfu_addr_to_sgl(ctx, to_dma_addr(q->ring_base), len, q->ring_sg, 1,
                        PROT_READ) != 1 ||
        !vfu_sg_is_mappable(ctx, q->ring_sg)) {
        return;
    }
    if (vfu_sgl_get(ctx, q->ring_sg, &q->ring_iov, 1, 0) < 0) {
        q->ring_iov.iov_base = NULL;
        return;
    }
    if (q->ring_iov.iov_base == NULL || q->ring_iov.iov_len < len) {
        dmae_ring_uncache(ctx, q);
    }
}

/*
 * Copy up to @n descriptors from slot @head into d->descs.  Returns how
 * many were fetched (0: the ring is not readable there).
 */
static uint32_t
ring_fetch(vfu_ctx_t *ctx, dmae_t *d, dmae_queue_t *q, uint32_t head,
           uint32_t n)
{
    uint64_t off = (uint64_t)head * DMAE_DESC_SIZE;
    int64_t got;

    if (q->ring_iov.iov_base != NULL) {
        memcpy(d->descs, (uint8_t *)q->ring_iov.iov_base + off,
               (size_t)n * DMAE_DESC_SIZE);
        return n;
    }
    got = map_piece(ctx, q->ring_base + off, (uint64_t)n * DMAE_DESC_SIZE,
                    DMAE_DESC_SIZE, PROT_READ, dmae_sg(d, DMAE_SG_RING));
    if (got <= 0) {
        return 0;
    }
    if (vfu_sgl_read(ctx, dmae_sg(d, DMAE_SG_RING), 1, d->descs,
                     sgl_flags(d)) < 0) {
        return 0;
    }
    return (uint32_t)(got / DMAE_DESC_SIZE);
}

static void
raise_queue(vfu_ctx_t *ctx, dmae_t *d, unsigned int qi)
{
    dmae_queue_t *q = &d->q[qi];

    q->intr_pending = 0;
    if (dmae_signal(ctx, d, qi, DMAE_INT_QUEUE(qi))) {
        q->irq_count++;
    }
}

static bool
queue_live(const dmae_t *d, const dmae_queue_t *q, uint32_t size)
{
    return (d->r.ctrl & DMAE_CTRL_ENABLE) && q->running && !q->halted &&
           q->ring_size == size && !dmae_frozen(d);
}

static void
queue_run(vfu_ctx_t *ctx, dmae_t *d, unsigned int qi)
{
    dmae_queue_t *q = &d->q[qi];
    uint32_t size = q->ring_size;
    uint32_t budget;

    if (!queue_live(d, q, size)) {
        return;
    }
    dmae_ring_cache(ctx, d, q);
    budget = size - 1;
    if (q->budget != 0 && q->budget < budget) {
        budget = q->budget; /* the rest stays in flight until a kick */
    }
    while (budget > 0 && queue_live(d, q, size) && q->head != q->tail) {
        uint32_t head = q->head;
        uint32_t n = (q->tail - head) & (size - 1);
        uint32_t got, i;

        if (n > size - head) {
            n = size - head; /* up to the end of the ring first */
        }
        if (n > DMAE_FETCH_BATCH) {
            n = DMAE_FETCH_BATCH;
        }
        if (n > budget) {
            n = budget;
        }
        got = ring_fetch(ctx, d, q, head, n);
        if (got == 0) {
            dmae_queue_fail(ctx, d, qi, DMAE_ERR_RING_FAULT, head,
                            q->ring_base + (uint64_t)head * DMAE_DESC_SIZE);
            break;
        }
        for (i = 0; i < got && queue_live(d, q, size); i++) {
            const uint8_t *raw = d->descs + (size_t)i * DMAE_DESC_SIZE;
            uint8_t flags = raw[offsetof(dmae_desc_t, flags)];
            uint32_t coalesce;

            if (!desc_exec(ctx, d, qi, raw, head + i)) {
                break;
            }
            q->head = (head + i + 1) & (size - 1);
            q->completed++;
            budget--;
            if ((flags & DMAE_DESC_F_INTR) == 0 ||
                (q->int_ctrl & DMAE_QINT_ENABLE) == 0) {
                continue;
            }
            q->intr_pending++;
            coalesce = DMAE_QINT_COALESCE_GET(q->int_ctrl);
            if (coalesce != 0 && q->intr_pending >= coalesce) {
                raise_queue(ctx, d, qi);
            }
        }
    }
    /* whatever completed and is still waiting gets its interrupt now */
    if (q->intr_pending != 0) {
        raise_queue(ctx, d, qi);
    }
}

void
dmae_queue_kick(vfu_ctx_t *ctx, dmae_t *d, unsigned int qi)
{
    if (qi >= DMAE_NR_QUEUES) {
        return;
    }
    d->deferred |= 1u << qi;
    /*
     * A kick while another runs (a client that talks to the device while
     * the device waits for a DMA reply) only marks the queue; the running
     * loop picks it up, so the descriptor buffer has one user.
     */
    if (d->busy) {
        return;
    }
    d->busy = true;
    while (d->deferred != 0) {
        unsigned int i = (unsigned int)__builtin_ctz(d->deferred);

        d->deferred &= ~(1u << i);
        queue_run(ctx, d, i);
    }
    d->busy = false;
}
