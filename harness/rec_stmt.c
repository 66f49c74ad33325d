/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rec_stmt.c - the text of one recorded statement: a client command and
 * the server's answer, in the language of docs/scenarios.md.
 *
 * The rule that decides between a typed statement (`bar0 read32 ...`,
 * `info ...`, `mem map ...`) and a raw one: a typed statement is written
 * only when the replay's client (the fake VMM behind vfu-run) would send
 * an equivalent message for it and take the recorded reply the same way.
 * Otherwise the request goes out as `raw CMD hex:...` with the reply as
 * its expectation, or, when its header is not a plain command (a reply
 * type, unknown flag bits, a bad size, NO_REPLY with no typed form), as
 * `send` with the header bytes as recorded followed by `recv`.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/rec.h"

/* What the server did with a command. */
enum outcome {
    OUT_OK,     /* a reply without error that the fake VMM would take */
    OUT_ERR,    /* an error reply */
    OUT_HANGUP, /* it closed the connection */
    OUT_NONE,   /* no reply (NO_REPLY, or the client left first) */
    OUT_BAD,    /* a reply the fake VMM would refuse: replay it raw */
};

/* Capability walks longer than this are loops (the fake VMM's bound). */
#define MAX_REGION_CAPS 64u

static bool
no_reply(const rec_stmt_t *st)
{
    return (st->req.hdr.flags & VFIO_USER_F_NO_REPLY) != 0;
}

static enum outcome
outcome(const rec_ctx_t *ctx, const rec_stmt_t *st, uint32_t *err)
{
    *err = 0;
    switch (st->state) {
    case REC_REPLIED:
        if (st->reply.hdr.cmd != st->req.hdr.cmd) {
            return OUT_BAD;
        }
        if (st->reply.hdr.flags & VFIO_USER_F_ERROR) {
            *err = st->reply.hdr.error_no;
            /* the fake VMM turns these into EIO; raw keeps the truth */
            return (*err == 0 || *err > 4095) ? OUT_BAD : OUT_ERR;
        }
        return proto_check_reply(&st->req, &st->reply, &ctx->client_caps) == 0
                   ? OUT_OK
                   : OUT_BAD;
    case REC_HANGUP:
        return OUT_HANGUP;
    default:
        return OUT_NONE;
    }
}

/*
 * Outcomes a typed statement without a value can stand for: success,
 * an errno, or no reply to a command that asked for none.
 */
static bool
plain_outcome(const rec_stmt_t *st, enum outcome out)
{
    return out == OUT_OK || out == OUT_ERR ||
           (out == OUT_NONE && no_reply(st));
}

/* end of a typed statement: " error NAME", or a NO_REPLY note */
static void
end_plain(rec_buf_t *b, enum outcome out, uint32_t err)
{
    if (out == OUT_ERR) {
        rec_buf_errno(b, err);
    }
    if (out == OUT_NONE) {
        rec_buf_puts(b, "  # sent with NO_REPLY");
    }
    rec_buf_puts(b, "\n");
}

static uint64_t
le_value(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

static bool
val_size(uint64_t n)
{
    return n == 1 || n == 2 || n == 4 || n == 8;
}

/* ------------------------------------------------------------------ */
/* Region access                                                       */
/* ------------------------------------------------------------------ */

static bool
build_read(rec_ctx_t *ctx, rec_stmt_t *st)
{
    struct vfio_user_region_access a, echo;
    rec_buf_t *b = &st->text;
    enum outcome out;
    const uint8_t *data;
    char sel[32];
    uint32_t err;

    if (st->req.body_len != sizeof(a)) {
        return false;
    }
    memcpy(&a, st->req.body, sizeof(a));
    /* the fake VMM sends nothing for 0 bytes and splits what is larger */
    if (a.count == 0 || a.count > ctx->xfer ||
        !proto_range_ok(a.offset, a.count, UINT64_MAX)) {
        return false;
    }
    out = outcome(ctx, st, &err);
    if (out == OUT_OK) {
        if (st->reply.body_len < sizeof(echo)) {
            return false;
        }
        memcpy(&echo, st->reply.body, sizeof(echo));
        if (st->reply.body_len != sizeof(echo) + a.count ||
            echo.offset != a.offset || echo.region != a.region ||
            echo.count != a.count) {
            return false;
        }
    } else if (out != OUT_ERR) {
        return false;
    }
    rec_sel_name(a.region, sel, sizeof(sel));
    if (val_size(a.count)) {
        rec_buf_printf(b, "%s read%u 0x%llx", sel, a.count * 8,
                       (unsigned long long)a.offset);
    } else {
        rec_buf_printf(b, "%s read 0x%llx %u", sel,
                       (unsigned long long)a.offset, a.count);
    }
    if (out != OUT_OK) {
        end_plain(b, out, err);
        return true;
    }
    data = st->reply.body + sizeof(echo);
    if (val_size(a.count)) {
        rec_buf_printf(b, " == 0x%0*llx\n", (int)a.count * 2,
                       (unsigned long long)le_value(data, a.count));
    } else if (a.count <= REC_MAX_ITEM_BYTES) {
        rec_buf_puts(b, " ==");
        rec_buf_hex(b, data, a.count);
        rec_buf_puts(b, "\n");
    } else {
        rec_buf_puts(b, "  # data over 1 MiB: not checked\n");
    }
    return true;
}

static bool
build_write(rec_ctx_t *ctx, rec_stmt_t *st)
{
    struct vfio_user_region_access a, echo;
    rec_buf_t *b = &st->text;
    enum outcome out;
    const uint8_t *data;
    char sel[32];
    uint32_t err;

    if (st->req.body_len < sizeof(a)) {
        return false;
    }
    memcpy(&a, st->req.body, sizeof(a));
    if (a.count == 0 || a.count > ctx->xfer || a.count > REC_MAX_ITEM_BYTES ||
        st->req.body_len != sizeof(a) + a.count ||
        !proto_range_ok(a.offset, a.count, UINT64_MAX)) {
        return false;
    }
    out = outcome(ctx, st, &err);
    if (out == OUT_OK) {
        if (st->reply.body_len < sizeof(echo)) {
            return false;
        }
        memcpy(&echo, st->reply.body, sizeof(echo));
        if (echo.offset != a.offset || echo.region != a.region ||
            echo.count != a.count) {
            return false;
        }
    } else if (!plain_outcome(st, out)) {
        return false;
    }
    rec_sel_name(a.region, sel, sizeof(sel));
    data = st->req.body + sizeof(a);
    if (val_size(a.count)) {
        rec_buf_printf(b, "%s write%u 0x%llx 0x%0*llx", sel, a.count * 8,
                       (unsigned long long)a.offset, (int)a.count * 2,
                       (unsigned long long)le_value(data, a.count));
    } else {
        rec_buf_printf(b, "%s write 0x%llx", sel,
                       (unsigned long long)a.offset);
        rec_buf_hex(b, data, a.count);
    }
    end_plain(b, out, err);
    return true;
}

static bool
build_write_multi(rec_ctx_t *ctx, rec_stmt_t *st)
{
    struct vfio_user_write_multi_data w;
    rec_buf_t *b = &st->text;
    enum outcome out;
    uint64_t n, done, i;
    uint32_t err;

    if (!ctx->write_multiple || st->req.body_len < sizeof(n)) {
        return false;
    }
    memcpy(&n, st->req.body, sizeof(n));
    if (n == 0 || n > PROTO_WRITE_MULTI_MAX ||
        st->req.body_len != sizeof(n) + n * sizeof(w)) {
        return false;
    }
    for (i = 0; i < n; i++) {
        memcpy(&w, st->req.body + sizeof(n) + i * sizeof(w), sizeof(w));
        if (w.count == 0 || w.count > VFIO_USER_MULTI_DATA ||
            !proto_range_ok(w.offset, w.count, UINT64_MAX)) {
            return false;
        }
    }
    /* a batch has no error clause: failures are replayed raw */
    out = outcome(ctx, st, &err);
    if (out == OUT_OK) {
        if (st->reply.body_len < sizeof(done)) {
            return false;
        }
        memcpy(&done, st->reply.body, sizeof(done));
        if (done != n) {
            return false;
        }
    } else if (!(out == OUT_NONE && no_reply(st))) {
        return false;
    }
    rec_buf_puts(b, out == OUT_NONE ? "batch {  # sent with NO_REPLY\n"
                                    : "batch {\n");
    for (i = 0; i < n; i++) {
        char sel[32];

        memcpy(&w, st->req.body + sizeof(n) + i * sizeof(w), sizeof(w));
        rec_sel_name(w.region, sel, sizeof(sel));
        if (val_size(w.count)) {
            rec_buf_printf(b, "    %s write%u 0x%llx 0x%0*llx\n", sel,
                           w.count * 8, (unsigned long long)w.offset,
                           (int)w.count * 2,
                           (unsigned long long)le_value(w.data, w.count));
        } else {
            rec_buf_printf(b, "    %s write 0x%llx", sel,
                           (unsigned long long)w.offset);
            rec_buf_hex(b, w.data, w.count);
            rec_buf_puts(b, "\n");
        }
    }
    rec_buf_puts(b, "}\n");
    return true;
}

/* ------------------------------------------------------------------ */
/* Discovery                                                           */
/* ------------------------------------------------------------------ */

static bool
build_device_info(rec_ctx_t *ctx, rec_stmt_t *st)
{
    struct vfio_user_device_info req, got;
    rec_buf_t *b = &st->text;
    enum outcome out;
    uint32_t err;

    if (st->req.body_len != sizeof(req)) {
        return false;
    }
    memcpy(&req, st->req.body, sizeof(req));
    if (req.argsz != sizeof(req) || req.flags != 0 || req.num_regions != 0 ||
        req.num_irqs != 0) {
        return false;
    }
    /*
     * Failures are replayed raw: vfu-run takes no error clause on 'info
     * device' (and a cached answer would make the replay succeed anyway).
     */
    out = outcome(ctx, st, &err);
    if (out != OUT_OK) {
        return false;
    }
    if (st->reply.body_len < sizeof(got)) {
        return false;
    }
    memcpy(&got, st->reply.body, sizeof(got));
    if (got.argsz < sizeof(got)) {
        return false;
    }
    if (ctx->dev_cached &&
        (got.flags != ctx->dev.flags ||
         got.num_regions != ctx->dev.num_regions ||
         got.num_irqs != ctx->dev.num_irqs)) {
        return false;
    }
    ctx->dev_cached = true;
    ctx->dev = got;
    rec_buf_printf(b,
                   "info device flags == 0x%x\n"
                   "info device num_regions == %u\n"
                   "info device num_irqs == %u\n",
                   got.flags, got.num_regions, got.num_irqs);
    return true;
}

/*
 * Decode a region info reply the way the fake VMM does (it is what the
 * replay will compare against): the capability chain is walked with the
 * same bounds, and a chain it would refuse makes the statement raw.
 */
static bool
decode_region(const proto_msg_t *reply, uint32_t index, rec_rcache_t *rc)
{
    struct vfio_region_info info;
    uint64_t off;
    unsigned hops = 0;
    bool sparse = false;

    memset(rc, 0, sizeof(*rc));
    if (reply->body_len < sizeof(info)) {
        return false;
    }
    memcpy(&info, reply->body, sizeof(info));
    if (info.index != index) {
        return false;
    }
    off = (info.flags & VFIO_REGION_INFO_FLAG_CAPS) ? info.cap_offset : 0;
    while (off != 0) {
        struct vfio_info_cap_header h;

        if (++hops > MAX_REGION_CAPS || off < sizeof(info) ||
            !proto_range_ok(off, sizeof(h), reply->body_len)) {
            return false;
        }
        memcpy(&h, reply->body + off, sizeof(h));
        if (h.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
            struct vfio_region_info_cap_sparse_mmap sp;
            uint64_t room;
            uint32_t i;

            if (sparse || !proto_range_ok(off, sizeof(sp), reply->body_len)) {
                return false;
            }
            memcpy(&sp, reply->body + off, sizeof(sp));
            room = (reply->body_len - off - sizeof(sp)) /
                   sizeof(struct vfio_region_sparse_mmap_area);
            if (sp.nr_areas > room) {
                return false;
            }
            for (i = 0; i < sp.nr_areas; i++) {
                struct vfio_region_sparse_mmap_area a;

                memcpy(&a, reply->body + off + sizeof(sp) + i * sizeof(a),
                       sizeof(a));
                if (!proto_range_ok(a.offset, a.size, info.size)) {
                    return false;
                }
            }
            sparse = sp.nr_areas > 0;
            rc->areas = sp.nr_areas;
        } else if (h.id == VFIO_REGION_INFO_CAP_TYPE) {
            struct vfio_region_info_cap_type t;

            if (!proto_range_ok(off, sizeof(t), reply->body_len)) {
                return false;
            }
            memcpy(&t, reply->body + off, sizeof(t));
            rc->has_type = true;
            rc->type = t.type;
            rc->subtype = t.subtype;
        }
        off = h.next;
    }
    if (!sparse && (info.flags & VFIO_REGION_INFO_FLAG_MMAP) && info.size > 0) {
        rc->areas = 1;
    }
    rc->info = info;
    rc->nr_fds = reply->nr_fds > 0 ? 1 : 0;
    rc->valid = true;
    return true;
}

/* what the replay's cache says differs from @got (known fields only) */
static bool
region_differs(const rec_rcache_t *c, const rec_rcache_t *got)
{
    if (!c->valid) {
        return false;
    }
    if (c->info.size != got->info.size) {
        return true;
    }
    if (!c->full || !got->full) {
        return false;
    }
    return c->info.flags != got->info.flags ||
           c->info.offset != got->info.offset || c->nr_fds != got->nr_fds ||
           c->areas != got->areas || c->has_type != got->has_type ||
           c->type != got->type || c->subtype != got->subtype;
}

static bool
build_region_info(rec_ctx_t *ctx, rec_stmt_t *st)
{
    struct vfio_region_info req;
    rec_buf_t *b = &st->text;
    rec_rcache_t got, *c;
    enum outcome out;
    char sel[32];
    uint32_t err;

    if (st->req.body_len < sizeof(req)) {
        return false;
    }
    memcpy(&req, st->req.body, sizeof(req));
    if (req.argsz < sizeof(req) || req.flags != 0 || req.cap_offset != 0 ||
        req.size != 0 || req.offset != 0 || req.index >= REC_CACHE_REGIONS) {
        return false;
    }
    c = &ctx->regions[req.index];
    rec_sel_name(req.index, sel, sizeof(sel));
    out = outcome(ctx, st, &err);
    /*
     * Some clients (libvfio-user's) send a whole argsz-sized buffer of
     * zeros; the fake VMM sends the 32-byte struct.  A server that took
     * the longer question answers the shorter one the same way; one that
     * refused it might not, so that case stays raw.
     */
    if (st->req.body_len > sizeof(req) &&
        (out != OUT_OK || !all_zero(st->req.body + sizeof(req),
                                    st->req.body_len - sizeof(req)))) {
        return false;
    }
    if (out == OUT_ERR) {
        if (c->valid) {
            return false;
        }
        rec_buf_printf(b, "info region %s", sel);
        end_plain(b, out, err);
        return true;
    }
    if (out != OUT_OK || !decode_region(&st->reply, req.index, &got)) {
        return false;
    }
    /*
     * A reply asking for more room (argsz above what was offered) is
     * incomplete: libvfio-user even leaves FLAG_CAPS clear in it.  Only
     * its size is certain; the replay's client asks again by itself.
     */
    if (got.info.argsz > req.argsz) {
        got.full = false;
        if (region_differs(c, &got)) {
            return false;
        }
        if (!c->valid) {
            *c = got;
        }
        st->partial_rinfo = true;
        st->rinfo_index = req.index;
        rec_buf_printf(b, "info region %s size == 0x%llx\n", sel,
                       (unsigned long long)got.info.size);
        return true;
    }
    got.full = true;
    if (region_differs(c, &got)) {
        return false;
    }
    *c = got;
    rec_buf_printf(b, "info region %s size == 0x%llx\n", sel,
                   (unsigned long long)got.info.size);
    rec_buf_printf(b, "info region %s flags == 0x%x\n", sel, got.info.flags);
    if (got.info.flags & VFIO_REGION_INFO_FLAG_MMAP) {
        rec_buf_printf(b, "info region %s offset == 0x%llx\n", sel,
                       (unsigned long long)got.info.offset);
        rec_buf_printf(b, "info region %s fd == %u\n", sel, got.nr_fds);
        rec_buf_printf(b, "info region %s areas == %u\n", sel, got.areas);
    }
    if (got.has_type) {
        rec_buf_printf(b, "info region %s type == %u\n", sel, got.type);
        rec_buf_printf(b, "info region %s subtype == %u\n", sel,
                       got.subtype);
    }
    return true;
}

static bool
build_irq_info(rec_ctx_t *ctx, rec_stmt_t *st)
{
    struct vfio_irq_info req, got;
    rec_buf_t *b = &st->text;
    enum outcome out;
    bool cacheable;
    char idx[16];
    uint32_t err;

    if (st->req.body_len != sizeof(req)) {
        return false;
    }
    memcpy(&req, st->req.body, sizeof(req));
    if (req.argsz != sizeof(req) || req.flags != 0 || req.count != 0) {
        return false;
    }
    cacheable = req.index < REC_CACHE_IRQS;
    rec_irq_name(req.index, idx, sizeof(idx));
    out = outcome(ctx, st, &err);
    if (out == OUT_ERR) {
        if (cacheable && ctx->irq_cached[req.index]) {
            return false;
        }
        rec_buf_printf(b, "info irq %s", idx);
        end_plain(b, out, err);
        return true;
    }
    if (out != OUT_OK) {
        return false;
    }
    if (st->reply.body_len < sizeof(got)) {
        return false;
    }
    memcpy(&got, st->reply.body, sizeof(got));
    if (got.index != req.index || got.argsz < sizeof(got)) {
        return false;
    }
    if (cacheable) {
        if (ctx->irq_cached[req.index] &&
            (ctx->irqs[req.index].count != got.count ||
             ctx->irqs[req.index].flags != got.flags)) {
            return false;
        }
        ctx->irq_cached[req.index] = true;
        ctx->irqs[req.index] = got;
    }
    rec_buf_printf(b,
                   "info irq %s count == %u\n"
                   "info irq %s flags == 0x%x\n",
                   idx, got.count, idx, got.flags);
    return true;
}

/* ------------------------------------------------------------------ */
/* Interrupts, memory, reset                                           */
/* ------------------------------------------------------------------ */

static void
put_range(rec_buf_t *b, uint32_t start, uint32_t count)
{
    if (count == 1) {
        rec_buf_printf(b, " %u", start);
    } else {
        rec_buf_printf(b, " %u-%u", start, start + count - 1);
    }
}

static bool
build_set_irqs(rec_ctx_t *ctx, rec_stmt_t *st)
{
    const uint32_t efd_trig =
        VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    const uint32_t none_trig =
        VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
    const uint32_t none_mask =
        VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK;
    const uint32_t none_unmask =
        VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK;
    struct vfio_irq_set s;
    rec_buf_t *b = &st->text;
    enum outcome out;
    uint32_t end;
    char idx[16];
    uint32_t err;

    if (st->req.body_len != sizeof(s)) {
        return false;
    }
    memcpy(&s, st->req.body, sizeof(s));
    /* the fake VMM keeps eventfds for 32 indexes of 2048 vectors */
    if (s.argsz != sizeof(s) || s.index >= REC_CACHE_IRQS ||
        __builtin_add_overflow(s.start, s.count, &end) || end > 2048) {
        return false;
    }
    out = outcome(ctx, st, &err);
    if (!plain_outcome(st, out)) {
        return false;
    }
    rec_irq_name(s.index, idx, sizeof(idx));
    if (s.flags == efd_trig && s.count > 0 && st->req.nr_fds == s.count) {
        rec_buf_printf(b, "irq %s enable", idx);
        put_range(b, s.start, s.count);
    } else if (s.flags == none_trig && s.start == 0 && s.count == 0 &&
               st->req.nr_fds == 0) {
        rec_buf_printf(b, "irq %s disable", idx);
    } else if ((s.flags == none_mask || s.flags == none_unmask) &&
               s.count > 0 && st->req.nr_fds == 0) {
        rec_buf_printf(b, "irq %s %s", idx,
                       s.flags == none_mask ? "mask" : "unmask");
        put_range(b, s.start, s.count);
    } else {
        return false;
    }
    end_plain(b, out, err);
    return true;
}

static bool
build_dma_map(rec_ctx_t *ctx, rec_stmt_t *st)
{
    static const char *const prot[] = {NULL, "ro", "wo", "rw"};
    struct vfio_user_dma_map m;
    rec_buf_t *b = &st->text;
    enum outcome out;
    uint64_t end;
    uint32_t err;
    int rc;

    if (st->req.body_len != sizeof(m) || st->req.nr_fds > 1) {
        return false;
    }
    memcpy(&m, st->req.body, sizeof(m));
    if (m.argsz != sizeof(m) || m.flags == 0 || m.flags > 3 || m.size == 0 ||
        ctx->pgsize == 0 || m.addr % ctx->pgsize != 0 ||
        m.size % ctx->pgsize != 0 ||
        __builtin_add_overflow(m.addr, m.size, &end)) {
        return false;
    }
    out = outcome(ctx, st, &err);
    if (!plain_outcome(st, out)) {
        return false;
    }
    /* over mapped memory the replay's client refuses by itself */
    if (rec_mem_overlaps(&ctx->mem, m.addr, m.size) &&
        !(out == OUT_ERR && err == EEXIST)) {
        return false;
    }
    rec_buf_printf(b, "mem map 0x%llx ", (unsigned long long)m.addr);
    rec_buf_size(b, m.size);
    rec_buf_printf(b, " %s%s", prot[m.flags],
                   st->req.nr_fds == 0 ? " nofd" : "");
    end_plain(b, out, err);
    if (out == OUT_OK || out == OUT_NONE) {
        rc = rec_mem_add(&ctx->mem, m.addr, m.size, m.flags,
                         st->req.nr_fds == 0, &st->live);
        if (rc < 0) {
            rec_buf_puts(b, "# vfu-record: this memory is not tracked\n");
        }
    }
    return true;
}

static bool
build_dma_unmap(rec_ctx_t *ctx, rec_stmt_t *st)
{
    struct vfio_user_dma_unmap u;
    rec_buf_t *b = &st->text;
    enum outcome out;
    long i = -1;
    uint32_t err;

    if (st->req.body_len != sizeof(u)) {
        return false;
    }
    memcpy(&u, st->req.body, sizeof(u));
    if (u.argsz != sizeof(u)) {
        return false;
    }
    out = outcome(ctx, st, &err);
    if (!plain_outcome(st, out)) {
        return false;
    }
    if (u.flags == VFIO_DMA_UNMAP_FLAG_ALL && u.addr == 0 && u.size == 0) {
        rec_buf_puts(b, "mem unmap all");
    } else if (u.flags == 0) {
        i = rec_mem_exact(&ctx->mem, u.addr, u.size);
        /* the replay's client refuses a range it did not map: ENOENT */
        if (i < 0 && !(out == OUT_ERR && err == ENOENT)) {
            return false;
        }
        rec_buf_printf(b, "mem unmap 0x%llx ", (unsigned long long)u.addr);
        rec_buf_size(b, u.size);
    } else {
        return false;
    }
    end_plain(b, out, err);
    if (out == OUT_OK || out == OUT_NONE) {
        if (u.flags == VFIO_DMA_UNMAP_FLAG_ALL) {
            rec_mem_clear(&ctx->mem);
        } else if (i >= 0) {
            rec_mem_remove(&ctx->mem, (size_t)i);
        }
    }
    return true;
}

static bool
build_reset(rec_ctx_t *ctx, rec_stmt_t *st)
{
    enum outcome out;
    uint32_t err;

    if (st->req.body_len != 0) {
        return false;
    }
    out = outcome(ctx, st, &err);
    if (!plain_outcome(st, out)) {
        return false;
    }
    rec_buf_puts(&st->text, "reset");
    end_plain(&st->text, out, err);
    return true;
}

/* ------------------------------------------------------------------ */
/* raw and send                                                        */
/* ------------------------------------------------------------------ */

static void
put_fds(rec_buf_t *b, const rec_stmt_t *st)
{
    size_t i = 0;

    while (i < st->req.nr_fds) {
        const rec_fdinfo_t *f = &st->fdi[i];
        size_t n = 1;

        while (i + n < st->req.nr_fds && st->fdi[i + n].kind == f->kind &&
               st->fdi[i + n].size == f->size) {
            n++;
        }
        if (f->kind == REC_FD_EVENTFD) {
            rec_buf_puts(b, " fd:eventfd");
        } else if (f->kind == REC_FD_MEMFD && f->size <= REC_MAX_MEMFD) {
            rec_buf_puts(b, " fd:memfd:");
            rec_buf_size(b, f->size);
        } else {
            rec_buf_puts(b, " fd:null");
        }
        if (n > 1) {
            rec_buf_printf(b, "*%zu", n);
        }
        i += n;
    }
}

/* the REPLY part of raw and recv; @st->state is REPLIED or HANGUP */
static void
put_reply(rec_buf_t *b, const rec_stmt_t *st)
{
    const proto_msg_t *r = &st->reply;

    if (st->state == REC_HANGUP) {
        rec_buf_puts(b, " hangup");
    } else if (r->hdr.flags & VFIO_USER_F_ERROR) {
        rec_buf_errno(b, r->hdr.error_no);
    } else if (r->body_len == 0) {
        rec_buf_puts(b, " ok");
    } else if (r->body_len <= REC_MAX_ITEM_BYTES) {
        rec_buf_puts(b, " reply");
        rec_buf_hex(b, r->body, r->body_len);
    } else {
        /* only a prefix fits in one byte list */
        rec_buf_puts(b, " reply");
        rec_buf_hex(b, r->body, REC_MAX_ITEM_BYTES);
        rec_buf_puts(b, " ...");
    }
}

static void
build_send(rec_stmt_t *st)
{
    rec_buf_t *b = &st->text;
    uint8_t *bytes;
    size_t len;

    if (st->wire_len > st->req.body_len + PROTO_HDR_SIZE ||
        st->req.body_len + PROTO_HDR_SIZE > REC_MAX_ITEM_BYTES) {
        rec_buf_printf(b,
                       "# vfu-record: a message of %llu bytes (cmd %u, id %u) "
                       "went by; too large to record\n",
                       (unsigned long long)st->wire_len, st->req.hdr.cmd,
                       st->req.hdr.msg_id);
        return;
    }
    len = PROTO_HDR_SIZE + st->req.body_len;
    bytes = malloc(len);
    if (bytes == NULL) {
        rec_buf_puts(b, "# vfu-record: out of memory here\n");
        return;
    }
    memcpy(bytes, &st->req.hdr, PROTO_HDR_SIZE);
    if (st->req.body_len > 0) {
        memcpy(bytes + PROTO_HDR_SIZE, st->req.body, st->req.body_len);
    }
    rec_buf_puts(b, "send");
    rec_buf_hex(b, bytes, len);
    put_fds(b, st);
    rec_buf_puts(b, "\n");
    free(bytes);
    if (st->state == REC_REPLIED || st->state == REC_HANGUP) {
        rec_buf_puts(b, "recv");
        put_reply(b, st);
        rec_buf_puts(b, "\n");
    }
}

static void
build_raw(rec_stmt_t *st)
{
    const proto_cmd_t *c = proto_cmd_lookup(st->req.hdr.cmd);
    rec_buf_t *b = &st->text;

    /* raw waits for a reply: without one, send says what went out */
    if ((st->state != REC_REPLIED && st->state != REC_HANGUP) ||
        st->req.body_len > REC_MAX_ITEM_BYTES) {
        build_send(st);
        return;
    }
    if (c != NULL) {
        rec_buf_printf(b, "raw %s", c->name);
    } else {
        rec_buf_printf(b, "raw %u", st->req.hdr.cmd);
    }
    if (st->req.body_len > 0) {
        rec_buf_hex(b, st->req.body, st->req.body_len);
    }
    put_fds(b, st);
    put_reply(b, st);
    rec_buf_puts(b, "\n");
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */
/* ------------------------------------------------------------------ */

/* a command header the fake VMM could have sent (NO_REPLY aside) */
static bool
plain_command(const struct vfio_user_header *h)
{
    return (h->flags & ~(uint32_t)VFIO_USER_F_NO_REPLY) == 0 &&
           h->error_no == 0;
}

static bool
build_typed(rec_ctx_t *ctx, rec_stmt_t *st)
{
    switch (st->req.hdr.cmd) {
    case VFIO_USER_REGION_READ:
        return build_read(ctx, st);
    case VFIO_USER_REGION_WRITE:
        return build_write(ctx, st);
    case VFIO_USER_REGION_WRITE_MULTI:
        return build_write_multi(ctx, st);
    case VFIO_USER_DEVICE_GET_INFO:
        return build_device_info(ctx, st);
    case VFIO_USER_DEVICE_GET_REGION_INFO:
        return build_region_info(ctx, st);
    case VFIO_USER_DEVICE_GET_IRQ_INFO:
        return build_irq_info(ctx, st);
    case VFIO_USER_DEVICE_SET_IRQS:
        return build_set_irqs(ctx, st);
    case VFIO_USER_DMA_MAP:
        return build_dma_map(ctx, st);
    case VFIO_USER_DMA_UNMAP:
        return build_dma_unmap(ctx, st);
    case VFIO_USER_DEVICE_RESET:
        return build_reset(ctx, st);
    default:
        return false;
    }
}

void
rec_stmt_build(rec_ctx_t *ctx, rec_stmt_t *st)
{
    if (st->marker) {
        return;
    }
    /*
     * A body too long to keep says so in build_send().  A hangup is
     * replayed raw ('raw ... hangup'): vfu-run does not take 'error
     * hangup' on typed statements yet, though docs/scenarios.md allows it.
     */
    if (st->bad_frame || !plain_command(&st->req.hdr) ||
        st->wire_len > PROTO_HDR_SIZE + st->req.body_len) {
        build_send(st);
    } else if (st->state == REC_HANGUP || !build_typed(ctx, st)) {
        /* a typed builder that gave up may have written a part */
        rec_buf_free(&st->text);
        build_raw(st);
    }
    /* a DMA_MAP view not taken by the model is not needed any more */
    rec_live_close(&ctx->mem, &st->live);
}

void
rec_stmt_free(rec_stmt_t *st)
{
    size_t i;

    if (st == NULL) {
        return;
    }
    proto_msg_free(&st->req);
    proto_msg_free(&st->reply);
    free(st->fdi);
    rec_buf_free(&st->pre);
    rec_buf_free(&st->text);
    rec_buf_free(&st->post);
    free(st->irqs);
    free(st->written);
    for (i = 0; i < st->nr_irq_fds; i++) {
        if (st->irq_ours != NULL && st->irq_ours[i] >= 0) {
            close(st->irq_ours[i]);
        }
        if (st->irq_client != NULL && st->irq_client[i] >= 0) {
            close(st->irq_client[i]);
        }
    }
    free(st->irq_ours);
    free(st->irq_client);
    free(st);
}
