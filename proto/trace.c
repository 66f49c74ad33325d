/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * trace.c - one human-readable line per message for VFU_TRACE, e.g.
 *   client> #3 REGION_READ cmd size=32 region=7 off=0x0 count=4
 *   server< #3 REGION_READ reply size=20 err=0
 * Fields are decoded only from bytes the body really has.
 */

#define _GNU_SOURCE /* strerrorname_np */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

/* JSON shown in a VERSION line, at most. */
#define TRACE_JSON_MAX 256
/* Writes of a REGION_WRITE_MULTI listed one by one, at most. */
#define TRACE_MULTI_MAX 4

/* An snprintf that keeps appending and counts what would have been. */
struct out {
    char *buf;
    size_t size;
    size_t len; /* total length wanted so far */
};

static void out_printf(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
out_printf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    char *dst = NULL;
    size_t room = 0;
    int n;

    if (o->buf != NULL && o->len < o->size) {
        dst = o->buf + o->len;
        room = o->size - o->len;
    }
    va_start(ap, fmt);
    n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n > 0) {
        o->len += (size_t)n;
    }
}

/* @size bytes of @body at @off, if the body has them */
static bool
get(const void *body, size_t body_len, size_t off, void *out, size_t size)
{
    if (body == NULL || off > body_len || body_len - off < size) {
        return false;
    }
    memcpy(out, (const uint8_t *)body + off, size);
    return true;
}

static void
short_body(struct out *o, size_t body_len)
{
    out_printf(o, " (short body %zu)", body_len);
}

static const char *
errno_name(uint32_t e)
{
    const char *name = NULL;

#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
    if (e <= 4095) {
        name = strerrorname_np((int)e);
    }
#endif
    return name != NULL ? name : "?";
}

static void
trace_version(struct out *o, const uint8_t *body, size_t body_len)
{
    struct vfio_user_version v;
    size_t i;

    if (!get(body, body_len, 0, &v, sizeof(v))) {
        short_body(o, body_len);
        return;
    }
    out_printf(o, " version=%u.%u", v.major, v.minor);
    if (body_len == sizeof(v)) {
        return;
    }
    out_printf(o, " json=");
    /* printable bytes up to the NUL; the text comes from the peer */
    for (i = sizeof(v); i < body_len && i - sizeof(v) < TRACE_JSON_MAX; i++) {
        uint8_t c = body[i];

        if (c == '\0') {
            return;
        }
        out_printf(o, "%c", c >= 0x20 && c < 0x7f ? c : '.');
    }
    if (i < body_len && body[i] != '\0') {
        out_printf(o, "...");
    }
}

static void
trace_set_irqs(struct out *o, const void *body, size_t body_len)
{
    struct vfio_irq_set s;
    const char *action = "?";
    const char *data = "?";

    if (!get(body, body_len, 0, &s, sizeof(s))) {
        short_body(o, body_len);
        return;
    }
    switch (s.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) {
    case VFIO_IRQ_SET_ACTION_MASK:
        action = "mask";
        break;
    case VFIO_IRQ_SET_ACTION_UNMASK:
        action = "unmask";
        break;
    case VFIO_IRQ_SET_ACTION_TRIGGER:
        action = "trigger";
        break;
    }
    switch (s.flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
    case VFIO_IRQ_SET_DATA_NONE:
        data = "none";
        break;
    case VFIO_IRQ_SET_DATA_BOOL:
        data = "bool";
        break;
    case VFIO_IRQ_SET_DATA_EVENTFD:
        data = "eventfd";
        break;
    }
    out_printf(o, " index=%u start=%u count=%u flags=0x%x(%s,%s)", s.index,
               s.start, s.count, s.flags, action, data);
}

static void
trace_feature(struct out *o, const void *body, size_t body_len, bool reply)
{
    struct vfio_user_device_feature f;
    struct vfio_user_device_feature_mig_state st;
    uint32_t ops;

    if (!get(body, body_len, 0, &f, sizeof(f))) {
        short_body(o, body_len);
        return;
    }
    ops = f.flags & ~(uint32_t)VFIO_DEVICE_FEATURE_MASK;
    out_printf(o, " feature=%u ops=%s%s%s%s argsz=%u",
               f.flags & VFIO_DEVICE_FEATURE_MASK,
               (ops & VFIO_DEVICE_FEATURE_GET) ? "G" : "",
               (ops & VFIO_DEVICE_FEATURE_SET) ? "S" : "",
               (ops & VFIO_DEVICE_FEATURE_PROBE) ? "P" : "",
               (ops & ~(uint32_t)(VFIO_DEVICE_FEATURE_GET |
                                  VFIO_DEVICE_FEATURE_SET |
                                  VFIO_DEVICE_FEATURE_PROBE))
                   ? "?"
                   : "",
               f.argsz);
    if ((f.flags & VFIO_DEVICE_FEATURE_MASK) ==
            VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE &&
        (ops & VFIO_DEVICE_FEATURE_PROBE) == 0 &&
        ((ops & VFIO_DEVICE_FEATURE_SET) != 0 || reply) &&
        get(body, body_len, sizeof(f), &st, sizeof(st))) {
        out_printf(o, " state=%u", st.device_state);
    }
}

static void
trace_write_multi(struct out *o, const void *body, size_t body_len)
{
    struct vfio_user_write_multi wm;
    struct vfio_user_write_multi_data wr;
    uint64_t i;

    if (!get(body, body_len, 0, &wm, sizeof(wm))) {
        short_body(o, body_len);
        return;
    }
    out_printf(o, " wr_cnt=%llu", (unsigned long long)wm.wr_cnt);
    for (i = 0; i < wm.wr_cnt && i < TRACE_MULTI_MAX; i++) {
        if (!get(body, body_len, sizeof(wm) + i * sizeof(wr), &wr,
                 sizeof(wr))) {
            out_printf(o, " ...(short)");
            return;
        }
        out_printf(o, " [region=%u off=0x%llx count=%u]", wr.region,
                   (unsigned long long)wr.offset, wr.count);
    }
    if (wm.wr_cnt > TRACE_MULTI_MAX) {
        out_printf(o, " ...");
    }
}

/* the fields worth a glance, per command; @reply: a successful reply */
static void
trace_body(struct out *o, uint16_t cmd, const void *body, size_t body_len,
           bool reply)
{
    switch (cmd) {
    case VFIO_USER_VERSION:
        trace_version(o, body, body_len);
        break;
    case VFIO_USER_DMA_MAP: {
        struct vfio_user_dma_map m;

        if (reply) {
            break;
        }
        if (!get(body, body_len, 0, &m, sizeof(m))) {
            short_body(o, body_len);
            break;
        }
        out_printf(o, " addr=0x%llx size=0x%llx off=0x%llx flags=0x%x",
                   (unsigned long long)m.addr, (unsigned long long)m.size,
                   (unsigned long long)m.offset, m.flags);
        break;
    }
    case VFIO_USER_DMA_UNMAP: {
        struct vfio_user_dma_unmap u;

        if (!get(body, body_len, 0, &u, sizeof(u))) {
            short_body(o, body_len);
            break;
        }
        out_printf(o, " addr=0x%llx size=0x%llx flags=0x%x",
                   (unsigned long long)u.addr, (unsigned long long)u.size,
                   u.flags);
        break;
    }
    case VFIO_USER_DEVICE_GET_INFO: {
        struct vfio_user_device_info i;

        if (!get(body, body_len, 0, &i, sizeof(i))) {
            short_body(o, body_len);
        } else if (reply) {
            out_printf(o, " flags=0x%x regions=%u irqs=%u", i.flags,
                       i.num_regions, i.num_irqs);
        } else {
            out_printf(o, " argsz=%u", i.argsz);
        }
        break;
    }
    case VFIO_USER_DEVICE_GET_REGION_INFO: {
        struct vfio_region_info r;

        if (!get(body, body_len, 0, &r, sizeof(r))) {
            short_body(o, body_len);
        } else if (reply) {
            out_printf(o,
                       " index=%u flags=0x%x size=0x%llx off=0x%llx argsz=%u"
                       " cap_off=%u",
                       r.index, r.flags, (unsigned long long)r.size,
                       (unsigned long long)r.offset, r.argsz, r.cap_offset);
        } else {
            out_printf(o, " index=%u argsz=%u", r.index, r.argsz);
        }
        break;
    }
    case VFIO_USER_DEVICE_GET_REGION_IO_FDS: {
        vfio_user_region_io_fds_request_t r;

        if (!get(body, body_len, 0, &r, sizeof(r))) {
            short_body(o, body_len);
            break;
        }
        out_printf(o, " index=%u argsz=%u count=%u", r.index, r.argsz,
                   r.count);
        break;
    }
    case VFIO_USER_DEVICE_GET_IRQ_INFO: {
        struct vfio_irq_info i;

        if (!get(body, body_len, 0, &i, sizeof(i))) {
            short_body(o, body_len);
        } else if (reply) {
            out_printf(o, " index=%u flags=0x%x count=%u", i.index, i.flags,
                       i.count);
        } else {
            out_printf(o, " index=%u", i.index);
        }
        break;
    }
    case VFIO_USER_DEVICE_SET_IRQS:
        if (!reply) {
            trace_set_irqs(o, body, body_len);
        }
        break;
    case VFIO_USER_REGION_READ:
    case VFIO_USER_REGION_WRITE: {
        struct vfio_user_region_access ra;

        if (!get(body, body_len, 0, &ra, sizeof(ra))) {
            if (body_len > 0 || !reply) {
                short_body(o, body_len);
            }
            break;
        }
        out_printf(o, " region=%u off=0x%llx count=%u", ra.region,
                   (unsigned long long)ra.offset, ra.count);
        break;
    }
    case VFIO_USER_DMA_READ:
    case VFIO_USER_DMA_WRITE: {
        struct vfio_user_dma_region_access da;

        if (!get(body, body_len, 0, &da, sizeof(da))) {
            short_body(o, body_len);
            break;
        }
        out_printf(o, " addr=0x%llx count=%llu", (unsigned long long)da.addr,
                   (unsigned long long)da.count);
        break;
    }
    case VFIO_USER_REGION_WRITE_MULTI:
        trace_write_multi(o, body, body_len);
        break;
    case VFIO_USER_DEVICE_FEATURE:
        trace_feature(o, body, body_len, reply);
        break;
    case VFIO_USER_MIG_DATA_READ:
    case VFIO_USER_MIG_DATA_WRITE: {
        struct vfio_user_mig_data m;

        if (!get(body, body_len, 0, &m, sizeof(m))) {
            if (body_len > 0 || !reply) {
                short_body(o, body_len);
            }
            break;
        }
        out_printf(o, " argsz=%u size=%u", m.argsz, m.size);
        break;
    }
    default:
        break;
    }
}

int
proto_trace_format(char *buf, size_t size, const char *who,
                   const struct vfio_user_header *hdr, const void *body,
                   size_t body_len, size_t nr_fds)
{
    struct out o = {.buf = buf, .size = size, .len = 0};
    uint32_t type;
    bool reply;
    bool error;

    if (buf != NULL && size > 0) {
        buf[0] = '\0';
    }
    if (body == NULL) {
        body_len = 0;
    }
    if (hdr == NULL) {
        out_printf(&o, "%s (no header)", who != NULL ? who : "");
        return o.len > INT32_MAX ? INT32_MAX : (int)o.len;
    }
    type = hdr->flags & VFIO_USER_F_TYPE_MASK;
    reply = type == VFIO_USER_F_TYPE_REPLY;
    error = reply && (hdr->flags & VFIO_USER_F_ERROR) != 0;

    out_printf(&o, "%s #%u ", who != NULL ? who : "", hdr->msg_id);
    if (proto_cmd_lookup(hdr->cmd) != NULL) {
        out_printf(&o, "%s", proto_cmd_name(hdr->cmd));
    } else {
        out_printf(&o, "UNKNOWN(%u)", hdr->cmd);
    }
    if (type == VFIO_USER_F_TYPE_COMMAND) {
        out_printf(&o, " cmd");
    } else if (reply) {
        out_printf(&o, " reply");
    } else {
        out_printf(&o, " type=%u", type);
    }
    out_printf(&o, " size=%u", hdr->msg_size);
    if ((hdr->flags & VFIO_USER_F_NO_REPLY) != 0) {
        out_printf(&o, " noreply");
    }
    if (error) {
        out_printf(&o, " err=%u(%s)", hdr->error_no,
                   errno_name(hdr->error_no));
    } else {
        if (reply) {
            out_printf(&o, " err=0");
        }
        trace_body(&o, hdr->cmd, body, body_len, reply);
    }
    if (nr_fds > 0) {
        out_printf(&o, " fds=%zu", nr_fds);
    }
    return o.len > INT32_MAX ? INT32_MAX : (int)o.len;
}

bool
proto_trace_enabled(void)
{
    const char *v = getenv("VFU_TRACE");

    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}
