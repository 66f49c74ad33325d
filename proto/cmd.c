/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cmd.c - the command table (generated from PROTO_COMMANDS) with one request
 * and one reply validator per command, and the header/request/reply checks
 * built on it.
 *
 * Every validator reads the body through memcpy into a local after checking
 * the length, so no field is ever read beyond body_len.  Where the spec is
 * loose, the checks accept what libvfio-user (server) and QEMU (client)
 * accept, and say so.
 */

#include <errno.h>
#include <string.h>

#include "proto/proto.h"

/* The header flag bits the spec defines; anything else is malformed. */
#define HDR_FLAGS_KNOWN                                                        \
    (VFIO_USER_F_TYPE_MASK | VFIO_USER_F_NO_REPLY | VFIO_USER_F_ERROR)

/* errno values above this in an error reply are nonsense: report EIO. */
#define MAX_PEER_ERRNO 4095u

/* The fd limit meaning "whatever the caps allow". */
#define FDS_CAPS UINT32_MAX

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/* copy the first @size bytes of @msg's body into @out, or -EINVAL */
static int
body_get(const proto_msg_t *msg, void *out, size_t size)
{
    if (msg->body_len < size || (size > 0 && msg->body == NULL)) {
        return -EINVAL;
    }
    memcpy(out, msg->body, size);
    return 0;
}

static bool
add_ok(uint64_t a, uint64_t b)
{
    uint64_t sum;

    return !__builtin_add_overflow(a, b, &sum);
}

static bool
is_pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

/* the largest body a message may have under @caps */
static uint64_t
max_body(const proto_caps_t *caps)
{
    return proto_msg_max_size(caps) - PROTO_HDR_SIZE;
}

/*
 * VERSION data: empty, or a JSON text whose only NUL is its last byte,
 * at most PROTO_MAX_JSON bytes with the NUL.
 */
static int
check_version_data(const proto_msg_t *msg)
{
    const uint8_t *data;
    size_t len;

    if (msg->body_len < sizeof(struct vfio_user_version)) {
        return -EINVAL;
    }
    len = msg->body_len - sizeof(struct vfio_user_version);
    if (len == 0) {
        return 0;
    }
    if (len > PROTO_MAX_JSON) {
        return -EINVAL;
    }
    data = msg->body + sizeof(struct vfio_user_version);
    if (memchr(data, '\0', len) != data + len - 1) {
        return -EINVAL;
    }
    return 0;
}

/* a reply that the spec says carries no payload */
static int
check_reply_empty(const proto_msg_t *req, const proto_msg_t *reply,
                  const proto_caps_t *caps)
{
    (void)req;
    (void)caps;
    return reply->body_len == 0 ? 0 : -EINVAL;
}

/* ------------------------------------------------------------------ */
/* VERSION                                                             */
/* ------------------------------------------------------------------ */

/*
 * Only the framing of the JSON is checked here; proto_caps_parse() reads
 * it, so the handler that needs the values parses it once.
 */
static int
check_req_VERSION(const proto_msg_t *msg, const proto_caps_t *caps)
{
    (void)caps;
    return check_version_data(msg);
}

static int
check_reply_VERSION(const proto_msg_t *req, const proto_msg_t *reply,
                    const proto_caps_t *caps)
{
    struct vfio_user_version rq, rp;
    int ret;

    (void)caps;
    ret = check_version_data(reply);
    if (ret < 0) {
        return ret;
    }
    if (body_get(req, &rq, sizeof(rq)) < 0) {
        return -EINVAL;
    }
    memcpy(&rp, reply->body, sizeof(rp));
    /* the spec: same major, minor no higher than proposed */
    if (rp.major != rq.major || rp.minor > rq.minor) {
        return -EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* DMA_MAP / DMA_UNMAP                                                 */
/* ------------------------------------------------------------------ */

/*
 * Flags: the spec names READ and WRITE; libvfio-user also takes MMAP and
 * FILE_IO (both need the fd, and not both at once), so we do too.
 * argsz >= the struct and trailing bytes are accepted as libvfio-user does.
 */
static int
check_req_DMA_MAP(const proto_msg_t *msg, const proto_caps_t *caps)
{
    const uint32_t known = VFIO_USER_F_DMA_REGION_READ |
                           VFIO_USER_F_DMA_REGION_WRITE |
                           VFIO_USER_F_DMA_REGION_MMAP |
                           VFIO_USER_F_DMA_REGION_FILE_IO;
    const uint32_t need_fd =
        VFIO_USER_F_DMA_REGION_MMAP | VFIO_USER_F_DMA_REGION_FILE_IO;
    struct vfio_user_dma_map m;

    (void)caps;
    if (body_get(msg, &m, sizeof(m)) < 0 || m.argsz < sizeof(m)) {
        return -EINVAL;
    }
    if ((m.flags & ~known) != 0 || (m.flags & need_fd) == need_fd) {
        return -EINVAL;
    }
    if ((m.flags & need_fd) != 0 && msg->nr_fds == 0) {
        return -EINVAL;
    }
    if (m.size == 0 || !add_ok(m.addr, m.size)) {
        return -EINVAL;
    }
    if (msg->nr_fds > 0 && !add_ok(m.offset, m.size)) {
        return -EINVAL;
    }
    return 0;
}

/*
 * Flags: 0, UNMAP_ALL (with addr and size 0), or the legacy
 * GET_DIRTY_BITMAP followed by a struct vfio_user_bitmap, whose bitmap the
 * reply carries, so argsz must leave room for it.  Combinations are
 * rejected, as by libvfio-user and the kernel.
 */
static int
check_req_DMA_UNMAP(const proto_msg_t *msg, const proto_caps_t *caps)
{
    struct vfio_user_dma_unmap u;
    struct vfio_user_bitmap bm;
    uint64_t need = sizeof(u);

    if (body_get(msg, &u, sizeof(u)) < 0) {
        return -EINVAL;
    }
    switch (u.flags) {
    case 0:
        if (!add_ok(u.addr, u.size)) {
            return -EINVAL;
        }
        break;
    case VFIO_DMA_UNMAP_FLAG_ALL:
        if (u.addr != 0 || u.size != 0) {
            return -EINVAL;
        }
        break;
    case VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP:
        if (msg->body_len < sizeof(u) + sizeof(bm) || !add_ok(u.addr, u.size)) {
            return -EINVAL;
        }
        memcpy(&bm, msg->body + sizeof(u), sizeof(bm));
        if (!is_pow2(bm.pgsize) || bm.size > caps->max_data_xfer_size ||
            __builtin_add_overflow(need, sizeof(bm) + 0ull, &need) ||
            __builtin_add_overflow(need, bm.size, &need)) {
            return -EINVAL;
        }
        break;
    default:
        return -EINVAL;
    }
    if (u.argsz < need || u.argsz > max_body(caps)) {
        return -EINVAL;
    }
    return 0;
}

/* the reply echoes the request's entry (and, legacy, the bitmap after it) */
static int
check_reply_DMA_UNMAP(const proto_msg_t *req, const proto_msg_t *reply,
                      const proto_caps_t *caps)
{
    struct vfio_user_dma_unmap rq, rp;
    struct vfio_user_bitmap bm;

    (void)caps;
    if (body_get(req, &rq, sizeof(rq)) < 0 ||
        body_get(reply, &rp, sizeof(rp)) < 0) {
        return -EINVAL;
    }
    if (rp.addr != rq.addr || rp.size != rq.size || rp.flags != rq.flags) {
        return -EINVAL;
    }
    if (rq.flags == VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) {
        if (req->body_len < sizeof(rq) + sizeof(bm)) {
            return -EINVAL;
        }
        memcpy(&bm, req->body + sizeof(rq), sizeof(bm));
        if (bm.size > UINT64_MAX - sizeof(rq) - sizeof(bm) ||
            reply->body_len != sizeof(rq) + sizeof(bm) + bm.size) {
            return -EINVAL;
        }
    } else if (reply->body_len != sizeof(rp)) {
        return -EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Device, region and IRQ information                                  */
/* ------------------------------------------------------------------ */

static int
check_req_DEVICE_GET_INFO(const proto_msg_t *msg, const proto_caps_t *caps)
{
    struct vfio_user_device_info in;

    (void)caps;
    if (body_get(msg, &in, sizeof(in)) < 0 || in.argsz < sizeof(in)) {
        return -EINVAL;
    }
    return 0;
}

static int
check_reply_DEVICE_GET_INFO(const proto_msg_t *req, const proto_msg_t *reply,
                            const proto_caps_t *caps)
{
    struct vfio_user_device_info rp;

    (void)req;
    (void)caps;
    if (body_get(reply, &rp, sizeof(rp)) < 0 || rp.argsz < sizeof(rp)) {
        return -EINVAL;
    }
    return 0;
}

static int
check_req_DEVICE_GET_REGION_INFO(const proto_msg_t *msg,
                                 const proto_caps_t *caps)
{
    struct vfio_region_info in;

    (void)caps;
    if (body_get(msg, &in, sizeof(in)) < 0 || in.argsz < sizeof(in)) {
        return -EINVAL;
    }
    return 0;
}

/*
 * The reply is at most what the client asked for (argsz), names the same
 * region, and when it claims capabilities their first header lies inside
 * the bytes actually sent.  Its argsz may exceed the body: that is how a
 * server asks for a bigger buffer.
 */
static int
check_reply_DEVICE_GET_REGION_INFO(const proto_msg_t *req,
                                   const proto_msg_t *reply,
                                   const proto_caps_t *caps)
{
    struct vfio_region_info rq, rp;

    (void)caps;
    if (body_get(req, &rq, sizeof(rq)) < 0 ||
        body_get(reply, &rp, sizeof(rp)) < 0) {
        return -EINVAL;
    }
    if (rp.index != rq.index || rp.argsz < sizeof(rp) ||
        reply->body_len > (rq.argsz > sizeof(rp) ? rq.argsz : sizeof(rp))) {
        return -EINVAL;
    }
    /*
     * CAPS with a reply argsz beyond what the request offered is the
     * kernel's way of asking for a bigger buffer: cap_offset may be 0 then, and nothing
     * of the chain is in this reply to check.
     */
    if ((rp.flags & VFIO_REGION_INFO_FLAG_CAPS) != 0 && rp.argsz <= rq.argsz) {
        if (rp.cap_offset < sizeof(rp) ||
            !proto_range_ok(rp.cap_offset, sizeof(struct vfio_info_cap_header),
                            reply->body_len)) {
            return -EINVAL;
        }
    }
    return 0;
}

/*
 * libvfio-user insists on flags and count being 0 in the request (the spec
 * says "all other fields must be zero") and bounds argsz.
 */
static int
check_req_DEVICE_GET_REGION_IO_FDS(const proto_msg_t *msg,
                                   const proto_caps_t *caps)
{
    vfio_user_region_io_fds_request_t in;

    if (body_get(msg, &in, sizeof(in)) < 0) {
        return -EINVAL;
    }
    if (in.argsz < sizeof(in) || in.argsz > max_body(caps) || in.flags != 0 ||
        in.count != 0) {
        return -EINVAL;
    }
    return 0;
}

/*
 * Entry size is deliberately not fixed (the spec: 40 bytes "not to be
 * relied on"; libvfio-user sends 48), so only the framing is checked: a
 * body past the fixed part holds exactly count equal-sized entries.
 */
static int
check_reply_DEVICE_GET_REGION_IO_FDS(const proto_msg_t *req,
                                     const proto_msg_t *reply,
                                     const proto_caps_t *caps)
{
    vfio_user_region_io_fds_request_t rq;
    vfio_user_region_io_fds_reply_t rp;
    size_t rest;

    (void)caps;
    if (body_get(req, &rq, sizeof(rq)) < 0 ||
        body_get(reply, &rp, sizeof(rp)) < 0) {
        return -EINVAL;
    }
    if (rp.index != rq.index || rp.flags != 0 || rp.argsz < sizeof(rp) ||
        reply->body_len > (rq.argsz > sizeof(rp) ? rq.argsz : sizeof(rp))) {
        return -EINVAL;
    }
    rest = reply->body_len - sizeof(rp);
    if (rest > 0) {
        if (rp.count == 0 || rest % rp.count != 0 ||
            rest / rp.count < sizeof(struct vfio_user_sub_region_ioregionfd)) {
            return -EINVAL;
        }
    }
    return 0;
}

static int
check_req_DEVICE_GET_IRQ_INFO(const proto_msg_t *msg, const proto_caps_t *caps)
{
    struct vfio_irq_info in;

    (void)caps;
    if (body_get(msg, &in, sizeof(in)) < 0 || in.argsz < sizeof(in)) {
        return -EINVAL;
    }
    return 0;
}

static int
check_reply_DEVICE_GET_IRQ_INFO(const proto_msg_t *req,
                                const proto_msg_t *reply,
                                const proto_caps_t *caps)
{
    struct vfio_irq_info rq, rp;

    (void)caps;
    if (body_get(req, &rq, sizeof(rq)) < 0 ||
        body_get(reply, &rp, sizeof(rp)) < 0) {
        return -EINVAL;
    }
    if (rp.index != rq.index || rp.argsz < sizeof(rp)) {
        return -EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* SET_IRQS                                                            */
/* ------------------------------------------------------------------ */

static bool
one_bit(uint32_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

/*
 * Exactly one action and one data type, no other flag bits, start+count
 * without overflow, count 0 only as "disable all" (start 0, DATA_NONE,
 * ACTION_TRIGGER, as libvfio-user requires).  Body per data type:
 * NONE: the struct alone; BOOL: one byte per vector; EVENTFD: the struct
 * alone, as QEMU sends it, or followed by count int32 slots in the
 * kernel's layout (ignored).  EVENTFD carries either no fd (de-assign, as
 * QEMU sends for a run of -1s) or exactly count fds; other types none.
 */
static int
check_req_DEVICE_SET_IRQS(const proto_msg_t *msg, const proto_caps_t *caps)
{
    const uint32_t known =
        VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK;
    struct vfio_irq_set s;
    uint32_t action, data, end;
    size_t hdr = sizeof(s);

    if (body_get(msg, &s, sizeof(s)) < 0 || s.argsz < sizeof(s)) {
        return -EINVAL;
    }
    action = s.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
    data = s.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
    if ((s.flags & ~known) != 0 || !one_bit(action) || !one_bit(data)) {
        return -EINVAL;
    }
    if (__builtin_add_overflow(s.start, s.count, &end)) {
        return -EINVAL;
    }
    if (s.count == 0 &&
        (s.start != 0 || data != VFIO_IRQ_SET_DATA_NONE ||
         action != VFIO_IRQ_SET_ACTION_TRIGGER)) {
        return -EINVAL;
    }
    switch (data) {
    case VFIO_IRQ_SET_DATA_NONE:
        if (msg->body_len != hdr || msg->nr_fds != 0) {
            return -EINVAL;
        }
        break;
    case VFIO_IRQ_SET_DATA_BOOL:
        if (msg->body_len - hdr != s.count || msg->nr_fds != 0) {
            return -EINVAL;
        }
        break;
    case VFIO_IRQ_SET_DATA_EVENTFD:
        if (msg->body_len != hdr &&
            msg->body_len - hdr != (uint64_t)s.count * sizeof(int32_t)) {
            return -EINVAL;
        }
        if (msg->nr_fds != 0 &&
            (msg->nr_fds != s.count || msg->nr_fds > caps->max_msg_fds)) {
            return -EINVAL;
        }
        break;
    default:
        return -EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* REGION_READ / REGION_WRITE                                          */
/* ------------------------------------------------------------------ */

static int
check_region_access(const proto_msg_t *msg, const proto_caps_t *caps,
                    bool write)
{
    struct vfio_user_region_access ra;

    if (body_get(msg, &ra, sizeof(ra)) < 0) {
        return -EINVAL;
    }
    if (ra.count > caps->max_data_xfer_size || !add_ok(ra.offset, ra.count)) {
        return -EINVAL;
    }
    if (msg->body_len != sizeof(ra) + (write ? (size_t)ra.count : 0)) {
        return -EINVAL;
    }
    return 0;
}

static int
check_req_REGION_READ(const proto_msg_t *msg, const proto_caps_t *caps)
{
    return check_region_access(msg, caps, false);
}

static int
check_req_REGION_WRITE(const proto_msg_t *msg, const proto_caps_t *caps)
{
    return check_region_access(msg, caps, true);
}

/*
 * The reply names the same offset, region and count (QEMU would take a
 * shorter read; we hold servers to the full count).  libvfio-user answers
 * a count-0 access with an empty body, which is accepted for count 0 only.
 */
static int
check_region_reply(const proto_msg_t *req, const proto_msg_t *reply,
                   bool write)
{
    struct vfio_user_region_access rq, rp;

    if (body_get(req, &rq, sizeof(rq)) < 0) {
        return -EINVAL;
    }
    if (rq.count == 0 && reply->body_len == 0) {
        return 0;
    }
    if (body_get(reply, &rp, sizeof(rp)) < 0) {
        return -EINVAL;
    }
    if (rp.offset != rq.offset || rp.region != rq.region ||
        rp.count != rq.count) {
        return -EINVAL;
    }
    if (reply->body_len != sizeof(rp) + (write ? 0 : (size_t)rp.count)) {
        return -EINVAL;
    }
    return 0;
}

static int
check_reply_REGION_READ(const proto_msg_t *req, const proto_msg_t *reply,
                        const proto_caps_t *caps)
{
    (void)caps;
    return check_region_reply(req, reply, false);
}

static int
check_reply_REGION_WRITE(const proto_msg_t *req, const proto_msg_t *reply,
                         const proto_caps_t *caps)
{
    (void)caps;
    return check_region_reply(req, reply, true);
}

/* ------------------------------------------------------------------ */
/* DMA_READ / DMA_WRITE (server -> client)                             */
/* ------------------------------------------------------------------ */

static int
check_dma_access(const proto_msg_t *msg, const proto_caps_t *caps, bool write)
{
    struct vfio_user_dma_region_access da;

    if (body_get(msg, &da, sizeof(da)) < 0) {
        return -EINVAL;
    }
    if (da.count > caps->max_data_xfer_size || !add_ok(da.addr, da.count)) {
        return -EINVAL;
    }
    if (msg->body_len != sizeof(da) + (write ? da.count : 0)) {
        return -EINVAL;
    }
    return 0;
}

static int
check_req_DMA_READ(const proto_msg_t *msg, const proto_caps_t *caps)
{
    return check_dma_access(msg, caps, false);
}

static int
check_req_DMA_WRITE(const proto_msg_t *msg, const proto_caps_t *caps)
{
    return check_dma_access(msg, caps, true);
}

/*
 * Same address and count (libvfio-user insists); DMA_READ's reply carries
 * the data, DMA_WRITE's only the 16-byte struct (the spec's 4-byte count
 * in that table is a typo: peers echo the request's struct).  QEMU answers
 * DMA_WRITE with a bare header, so an empty DMA_WRITE reply is accepted.
 */
static int
check_dma_reply(const proto_msg_t *req, const proto_msg_t *reply, bool write)
{
    struct vfio_user_dma_region_access rq, rp;

    if (write && reply->body_len == 0) {
        return 0;
    }
    if (body_get(req, &rq, sizeof(rq)) < 0 ||
        body_get(reply, &rp, sizeof(rp)) < 0) {
        return -EINVAL;
    }
    if (rp.addr != rq.addr || rp.count != rq.count) {
        return -EINVAL;
    }
    if (reply->body_len != sizeof(rp) + (write ? 0 : rp.count)) {
        return -EINVAL;
    }
    return 0;
}

static int
check_reply_DMA_READ(const proto_msg_t *req, const proto_msg_t *reply,
                     const proto_caps_t *caps)
{
    (void)caps;
    return check_dma_reply(req, reply, false);
}

static int
check_reply_DMA_WRITE(const proto_msg_t *req, const proto_msg_t *reply,
                      const proto_caps_t *caps)
{
    (void)caps;
    return check_dma_reply(req, reply, true);
}

/* ------------------------------------------------------------------ */
/* DEVICE_RESET                                                        */
/* ------------------------------------------------------------------ */

static int
check_req_DEVICE_RESET(const proto_msg_t *msg, const proto_caps_t *caps)
{
    (void)caps;
    return msg->body_len == 0 ? 0 : -EINVAL;
}

/* ------------------------------------------------------------------ */
/* REGION_WRITE_MULTI                                                  */
/* ------------------------------------------------------------------ */

static int
check_req_REGION_WRITE_MULTI(const proto_msg_t *msg, const proto_caps_t *caps)
{
    struct vfio_user_write_multi wm;
    struct vfio_user_write_multi_data wr;
    uint64_t i;

    (void)caps;
    if (body_get(msg, &wm, sizeof(wm)) < 0) {
        return -EINVAL;
    }
    if (wm.wr_cnt == 0 || wm.wr_cnt > PROTO_WRITE_MULTI_MAX ||
        msg->body_len != sizeof(wm) + wm.wr_cnt * sizeof(wr)) {
        return -EINVAL;
    }
    for (i = 0; i < wm.wr_cnt; i++) {
        memcpy(&wr, msg->body + sizeof(wm) + i * sizeof(wr), sizeof(wr));
        if (wr.count == 0 || wr.count > VFIO_USER_MULTI_DATA ||
            !add_ok(wr.offset, wr.count)) {
            return -EINVAL;
        }
    }
    return 0;
}

/* wr_cnt is "writes completed": never more than were sent */
static int
check_reply_REGION_WRITE_MULTI(const proto_msg_t *req,
                               const proto_msg_t *reply,
                               const proto_caps_t *caps)
{
    struct vfio_user_write_multi rq, rp;

    (void)caps;
    if (body_get(req, &rq, sizeof(rq)) < 0 ||
        body_get(reply, &rp, sizeof(rp)) < 0) {
        return -EINVAL;
    }
    if (reply->body_len != sizeof(rp) || rp.wr_cnt > rq.wr_cnt) {
        return -EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* DEVICE_FEATURE                                                      */
/* ------------------------------------------------------------------ */

#define FEATURE_OPS                                                            \
    (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET |                       \
     VFIO_DEVICE_FEATURE_PROBE)

/*
 * Payloads of the features the spec defines, where the request carries
 * one: MIG_DEVICE_STATE SET, DMA_LOGGING_START SET (ranges must fit the
 * body) and DMA_LOGGING_REPORT GET.  Unknown features pass: whether they
 * are supported is the handler's answer to give.
 */
static int
check_feature_data(const proto_msg_t *msg, uint32_t feature, uint32_t ops)
{
    const size_t base = sizeof(struct vfio_user_device_feature);
    const uint8_t *data = msg->body + base;
    size_t len = msg->body_len - base;

    if ((ops & VFIO_DEVICE_FEATURE_PROBE) != 0) {
        return 0; /* the spec: data is not used for probing */
    }
    switch (feature) {
    case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
        if (ops == VFIO_DEVICE_FEATURE_SET &&
            len < sizeof(struct vfio_user_device_feature_mig_state)) {
            return -EINVAL;
        }
        break;
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
        if (ops == VFIO_DEVICE_FEATURE_SET) {
            struct vfio_user_device_feature_dma_logging_control ctl;
            const size_t range =
                sizeof(struct vfio_user_device_feature_dma_logging_range);

            if (len < sizeof(ctl)) {
                return -EINVAL;
            }
            memcpy(&ctl, data, sizeof(ctl));
            if ((uint64_t)ctl.num_ranges * range > len - sizeof(ctl)) {
                return -EINVAL;
            }
        }
        break;
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
        if (ops == VFIO_DEVICE_FEATURE_GET) {
            struct vfio_user_device_feature_dma_logging_report rep;

            if (len < sizeof(rep)) {
                return -EINVAL;
            }
            memcpy(&rep, data, sizeof(rep));
            if (!is_pow2(rep.page_size) || !add_ok(rep.iova, rep.length)) {
                return -EINVAL;
            }
        }
        break;
    default:
        break;
    }
    return 0;
}

/*
 * Operations: GET and SET exclude each other except together with PROBE
 * (the kernel's and libvfio-user's rule); no unknown operation bits.
 * argsz is the reply room: SET and PROBE replies echo the request, so
 * argsz must cover the body.
 */
static int
check_req_DEVICE_FEATURE(const proto_msg_t *msg, const proto_caps_t *caps)
{
    struct vfio_user_device_feature f;
    uint32_t ops, feature;

    if (body_get(msg, &f, sizeof(f)) < 0 || f.argsz < sizeof(f) ||
        f.argsz > max_body(caps)) {
        return -EINVAL;
    }
    ops = f.flags & ~(uint32_t)VFIO_DEVICE_FEATURE_MASK;
    feature = f.flags & VFIO_DEVICE_FEATURE_MASK;
    if (ops == 0 || (ops & ~(uint32_t)FEATURE_OPS) != 0) {
        return -EINVAL;
    }
    if ((ops & VFIO_DEVICE_FEATURE_PROBE) == 0 &&
        ops != VFIO_DEVICE_FEATURE_GET && ops != VFIO_DEVICE_FEATURE_SET) {
        return -EINVAL;
    }
    if (ops != VFIO_DEVICE_FEATURE_GET && f.argsz < msg->body_len) {
        return -EINVAL;
    }
    return check_feature_data(msg, feature, ops);
}

/*
 * GET: the data grows the reply, within the argsz the client offered.
 * SET and PROBE: the spec says the payload is the request's, except that
 * DMA_LOGGING_START may report another page size, so only flags and
 * length are compared.
 */
static int
check_reply_DEVICE_FEATURE(const proto_msg_t *req, const proto_msg_t *reply,
                           const proto_caps_t *caps)
{
    struct vfio_user_device_feature rq, rp;
    uint32_t ops;

    (void)caps;
    if (body_get(req, &rq, sizeof(rq)) < 0 ||
        body_get(reply, &rp, sizeof(rp)) < 0) {
        return -EINVAL;
    }
    if (rp.flags != rq.flags) {
        return -EINVAL;
    }
    ops = rq.flags & ~(uint32_t)VFIO_DEVICE_FEATURE_MASK;
    if (ops == VFIO_DEVICE_FEATURE_GET) {
        if (reply->body_len > rq.argsz) {
            return -EINVAL;
        }
    } else if (reply->body_len != req->body_len) {
        return -EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* MIG_DATA_READ / MIG_DATA_WRITE                                      */
/* ------------------------------------------------------------------ */

/* argsz must hold the reply's struct plus size bytes (libvfio-user) */
static int
check_req_MIG_DATA_READ(const proto_msg_t *msg, const proto_caps_t *caps)
{
    struct vfio_user_mig_data m;

    if (body_get(msg, &m, sizeof(m)) < 0 || msg->body_len != sizeof(m)) {
        return -EINVAL;
    }
    if (m.size > caps->max_data_xfer_size ||
        m.argsz < (uint64_t)sizeof(m) + m.size) {
        return -EINVAL;
    }
    return 0;
}

/*
 * size may be short ("no more data"); libvfio-user sizes the body for the
 * requested amount and sets size to what it read, so the body lies
 * between 8 + size and 8 + the requested size.
 */
static int
check_reply_MIG_DATA_READ(const proto_msg_t *req, const proto_msg_t *reply,
                          const proto_caps_t *caps)
{
    struct vfio_user_mig_data rq, rp;

    (void)caps;
    if (body_get(req, &rq, sizeof(rq)) < 0 ||
        body_get(reply, &rp, sizeof(rp)) < 0) {
        return -EINVAL;
    }
    if (rp.size > rq.size ||
        reply->body_len < (uint64_t)sizeof(rp) + rp.size ||
        reply->body_len > (uint64_t)sizeof(rp) + rq.size) {
        return -EINVAL;
    }
    return 0;
}

static int
check_req_MIG_DATA_WRITE(const proto_msg_t *msg, const proto_caps_t *caps)
{
    struct vfio_user_mig_data m;

    if (body_get(msg, &m, sizeof(m)) < 0 || m.argsz < sizeof(m)) {
        return -EINVAL;
    }
    if (m.size > caps->max_data_xfer_size ||
        msg->body_len != (uint64_t)sizeof(m) + m.size) {
        return -EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

/* Commands with no reply payload share one reply validator. */
#define check_reply_DMA_MAP check_reply_empty
#define check_reply_DEVICE_SET_IRQS check_reply_empty
#define check_reply_DEVICE_RESET check_reply_empty
#define check_reply_MIG_DATA_WRITE check_reply_empty

/*
 * Per command: direction, request minimum body, reply minimum body,
 * request fds, reply fds.  Minimums are the fixed structs; validators
 * check the rest.  REGION_READ/WRITE replies may be empty for a count of 0
 * (libvfio-user), DMA_WRITE's always (QEMU), so their minimum is 0 and the
 * validator decides.
 */
#define SPEC_VERSION PROTO_C2S, 4, 4, 0, 1
#define SPEC_DMA_MAP PROTO_C2S, 32, 0, 1, 0
#define SPEC_DMA_UNMAP PROTO_C2S, 24, 24, 0, 0
#define SPEC_DEVICE_GET_INFO PROTO_C2S, 16, 16, 0, 0
#define SPEC_DEVICE_GET_REGION_INFO PROTO_C2S, 32, 32, 0, 1
#define SPEC_DEVICE_GET_REGION_IO_FDS PROTO_C2S, 16, 16, 0, FDS_CAPS
#define SPEC_DEVICE_GET_IRQ_INFO PROTO_C2S, 16, 16, 0, 0
#define SPEC_DEVICE_SET_IRQS PROTO_C2S, 20, 0, FDS_CAPS, 0
#define SPEC_REGION_READ PROTO_C2S, 16, 0, 0, 0
#define SPEC_REGION_WRITE PROTO_C2S, 16, 0, 0, 0
#define SPEC_DMA_READ PROTO_S2C, 16, 16, 0, 0
#define SPEC_DMA_WRITE PROTO_S2C, 16, 0, 0, 0
#define SPEC_DEVICE_RESET PROTO_C2S, 0, 0, 0, 0
#define SPEC_REGION_WRITE_MULTI PROTO_C2S, 8, 8, 0, 0
#define SPEC_DEVICE_FEATURE PROTO_C2S, 8, 8, 0, 0
#define SPEC_MIG_DATA_READ PROTO_C2S, 8, 8, 0, 0
#define SPEC_MIG_DATA_WRITE PROTO_C2S, 8, 0, 0, 0

#define MAKE_ENTRY_(num, nm, d, rq, rp, fds, rfds, creq, crep)                 \
    {.cmd = (num),                                                             \
     .name = (nm),                                                             \
     .dir = (d),                                                               \
     .req_min = (rq),                                                          \
     .reply_min = (rp),                                                        \
     .max_fds = (fds),                                                         \
     .reply_max_fds = (rfds),                                                  \
     .check_req = (creq),                                                      \
     .check_reply = (crep)},
#define MAKE_ENTRY(...) MAKE_ENTRY_(__VA_ARGS__)
#define TABLE_ENTRY(NAME, num)                                                 \
    MAKE_ENTRY(num, #NAME, SPEC_##NAME, check_req_##NAME, check_reply_##NAME)

static const proto_cmd_t cmd_table[] = {PROTO_COMMANDS(TABLE_ENTRY)};

/* The list and the wire header must agree on every number. */
#define CHECK_NUMBER(NAME, num)                                                \
    _Static_assert(VFIO_USER_##NAME == (num), #NAME " number");
PROTO_COMMANDS(CHECK_NUMBER)
_Static_assert(sizeof(cmd_table) / sizeof(cmd_table[0]) == PROTO_NR_COMMANDS,
               "PROTO_NR_COMMANDS matches PROTO_COMMANDS");

/* command number -> table index + 1 (0: unknown) */
enum {
#define INDEX_ENUM(NAME, num) IDX_##NAME,
    PROTO_COMMANDS(INDEX_ENUM)
#undef INDEX_ENUM
};
#define INDEX_ENTRY(NAME, num) [num] = IDX_##NAME + 1,
static const uint8_t cmd_index[VFIO_USER_MAX] = {PROTO_COMMANDS(INDEX_ENTRY)};

const proto_cmd_t *
proto_cmd_lookup(uint16_t cmd)
{
    if (cmd >= VFIO_USER_MAX || cmd_index[cmd] == 0) {
        return NULL;
    }
    return &cmd_table[cmd_index[cmd] - 1];
}

const proto_cmd_t *
proto_cmd_at(size_t i)
{
    if (i >= PROTO_NR_COMMANDS) {
        return NULL;
    }
    return &cmd_table[i];
}

const char *
proto_cmd_name(uint16_t cmd)
{
    const proto_cmd_t *c = proto_cmd_lookup(cmd);

    return c != NULL ? c->name : "UNKNOWN";
}

/* ------------------------------------------------------------------ */
/* Header, request and reply checks                                    */
/* ------------------------------------------------------------------ */

int
proto_check_header(const struct vfio_user_header *hdr, const proto_caps_t *caps,
                   bool want_reply)
{
    uint32_t type;

    if (hdr == NULL) {
        return -EINVAL;
    }
    type = hdr->flags & VFIO_USER_F_TYPE_MASK;
    if ((hdr->flags & ~(uint32_t)HDR_FLAGS_KNOWN) != 0) {
        return -EINVAL;
    }
    if (want_reply) {
        if (type != VFIO_USER_F_TYPE_REPLY ||
            (hdr->flags & VFIO_USER_F_NO_REPLY) != 0) {
            return -EINVAL;
        }
    } else if (type != VFIO_USER_F_TYPE_COMMAND ||
               (hdr->flags & VFIO_USER_F_ERROR) != 0) {
        return -EINVAL;
    }
    if (hdr->msg_size < PROTO_HDR_SIZE) {
        return -EINVAL;
    }
    if (hdr->msg_size > proto_msg_max_size(caps)) {
        return -E2BIG;
    }
    return 0;
}

/* the body and header agree, and the body is really there */
static int
check_framing(const proto_msg_t *msg)
{
    uint64_t want = PROTO_HDR_SIZE + (uint64_t)msg->body_len;

    if (msg->hdr.msg_size != want ||
        (msg->body_len > 0 && msg->body == NULL) ||
        (msg->nr_fds > 0 && msg->fds == NULL)) {
        return -EINVAL;
    }
    return 0;
}

static uint32_t
fd_limit(uint32_t entry, const proto_caps_t *caps)
{
    return entry == FDS_CAPS ? caps->max_msg_fds : entry;
}

int
proto_check_request(const proto_msg_t *msg, const proto_caps_t *caps,
                    enum proto_dir dir)
{
    const proto_cmd_t *c;
    int ret;

    if (msg == NULL || caps == NULL) {
        return -EINVAL;
    }
    ret = proto_check_header(&msg->hdr, caps, false);
    if (ret < 0) {
        return ret;
    }
    ret = check_framing(msg);
    if (ret < 0) {
        return ret;
    }
    c = proto_cmd_lookup(msg->hdr.cmd);
    if (c == NULL) {
        return -ENOSYS;
    }
    if (c->dir != dir || msg->body_len < c->req_min ||
        msg->nr_fds > fd_limit(c->max_fds, caps)) {
        return -EINVAL;
    }
    return c->check_req(msg, caps);
}

int
proto_check_reply(const proto_msg_t *req, const proto_msg_t *reply,
                  const proto_caps_t *caps)
{
    const proto_cmd_t *c;
    int ret;

    if (req == NULL || reply == NULL || caps == NULL) {
        return -EINVAL;
    }
    ret = proto_check_header(&reply->hdr, caps, true);
    if (ret < 0) {
        return ret;
    }
    ret = check_framing(reply);
    if (ret < 0) {
        return ret;
    }
    if (reply->hdr.msg_id != req->hdr.msg_id ||
        reply->hdr.cmd != req->hdr.cmd) {
        return -EINVAL;
    }
    c = proto_cmd_lookup(req->hdr.cmd);
    if (c == NULL) {
        return -ENOSYS;
    }
    if ((reply->hdr.flags & VFIO_USER_F_ERROR) != 0) {
        /* the peer's errno, unless it is none or nonsense */
        if (reply->hdr.error_no == 0 || reply->hdr.error_no > MAX_PEER_ERRNO) {
            return -EIO;
        }
        return -(int)reply->hdr.error_no;
    }
    if (reply->body_len < c->reply_min ||
        reply->nr_fds > fd_limit(c->reply_max_fds, caps)) {
        return -EINVAL;
    }
    if (req->body_len > 0 && req->body == NULL) {
        return -EINVAL;
    }
    return c->check_reply(req, reply, caps);
}
