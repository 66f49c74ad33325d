/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_proto.c - the command table, header checks, every request and reply
 * validator with good and bad input, message helpers and parse_buf.
 */

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "test_proto_util.h"

static proto_caps_t caps;

static int
setup(void **state)
{
    proto_caps_default(&caps);
    return tu_fd_setup(state);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, tu_fd_teardown)

/* ------------------------------------------------------------------ */
/* Table                                                               */
/* ------------------------------------------------------------------ */

static void
test_cmd_table_complete(void **state)
{
    static const uint16_t nums[] = {1, 2, 3, 4, 5, 6, 7, 8, 9,
                                    10, 11, 12, 13, 15, 16, 17, 18};
    size_t i, j;

    (void)state;
    assert_int_equal(PROTO_NR_COMMANDS, 17);
    for (i = 0; i < PROTO_NR_COMMANDS; i++) {
        const proto_cmd_t *c = proto_cmd_at(i);

        assert_non_null(c);
        assert_int_equal(c->cmd, nums[i]);
        assert_ptr_equal(proto_cmd_lookup(c->cmd), c);
        assert_non_null(c->name);
        assert_true(strlen(c->name) > 0);
        assert_string_equal(proto_cmd_name(c->cmd), c->name);
        assert_non_null(c->check_req);
        assert_non_null(c->check_reply);
        for (j = 0; j < i; j++) {
            assert_int_not_equal(proto_cmd_at(j)->cmd, c->cmd);
            assert_string_not_equal(proto_cmd_at(j)->name, c->name);
        }
    }
    assert_null(proto_cmd_at(PROTO_NR_COMMANDS));
}

static void
test_cmd_lookup_unknown(void **state)
{
    (void)state;
    assert_null(proto_cmd_lookup(0));
    assert_null(proto_cmd_lookup(14));
    assert_null(proto_cmd_lookup(19));
    assert_null(proto_cmd_lookup(UINT16_MAX));
    assert_string_equal(proto_cmd_name(14), "UNKNOWN");
    assert_string_equal(proto_cmd_name(VFIO_USER_DMA_MAP), "DMA_MAP");
    assert_string_equal(proto_cmd_name(VFIO_USER_MIG_DATA_WRITE),
                        "MIG_DATA_WRITE");
}

static void
test_cmd_table_directions_and_fds(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < PROTO_NR_COMMANDS; i++) {
        const proto_cmd_t *c = proto_cmd_at(i);
        bool s2c =
            c->cmd == VFIO_USER_DMA_READ || c->cmd == VFIO_USER_DMA_WRITE;

        assert_int_equal(c->dir, s2c ? PROTO_S2C : PROTO_C2S);
        if (c->cmd == VFIO_USER_DMA_MAP) {
            assert_int_equal(c->max_fds, 1);
        } else if (c->cmd == VFIO_USER_DEVICE_SET_IRQS) {
            assert_int_equal(c->max_fds, UINT32_MAX);
        } else {
            assert_int_equal(c->max_fds, 0);
        }
        /* libvfio-user rejects an empty body for all but DEVICE_RESET */
        if (c->cmd == VFIO_USER_DEVICE_RESET) {
            assert_int_equal(c->req_min, 0);
        } else {
            assert_true(c->req_min > 0);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Header                                                              */
/* ------------------------------------------------------------------ */

static void
test_header_command_ok(void **state)
{
    struct vfio_user_header h;

    (void)state;
    proto_hdr_cmd(&h, 1, VFIO_USER_REGION_READ, 16, false);
    assert_int_equal(proto_check_header(&h, &caps, false), 0);
    proto_hdr_cmd(&h, 1, VFIO_USER_REGION_READ, 16, true);
    assert_int_equal(h.flags, VFIO_USER_F_NO_REPLY);
    assert_int_equal(proto_check_header(&h, &caps, false), 0);
}

static void
test_header_wrong_type(void **state)
{
    struct vfio_user_header h;

    (void)state;
    proto_hdr_cmd(&h, 1, VFIO_USER_REGION_READ, 16, false);
    assert_int_equal(proto_check_header(&h, &caps, true), -EINVAL);
    h.flags = 2; /* neither command nor reply */
    assert_int_equal(proto_check_header(&h, &caps, false), -EINVAL);
    assert_int_equal(proto_check_header(&h, &caps, true), -EINVAL);
}

static void
test_header_unknown_flags(void **state)
{
    struct vfio_user_header h;

    (void)state;
    proto_hdr_cmd(&h, 1, VFIO_USER_REGION_READ, 16, false);
    h.flags |= 0x40;
    assert_int_equal(proto_check_header(&h, &caps, false), -EINVAL);
    h.flags = 0x80000000u;
    assert_int_equal(proto_check_header(&h, &caps, false), -EINVAL);
}

static void
test_header_noreply_and_error_placement(void **state)
{
    struct vfio_user_header req, h;

    (void)state;
    proto_hdr_cmd(&req, 1, VFIO_USER_REGION_READ, 16, false);
    proto_hdr_reply(&h, &req, 0, -EINVAL);
    assert_int_equal(h.flags, VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR);
    assert_int_equal(h.error_no, EINVAL);
    assert_int_equal(proto_check_header(&h, &caps, true), 0);
    /* ERROR on a command */
    req.flags |= VFIO_USER_F_ERROR;
    assert_int_equal(proto_check_header(&req, &caps, false), -EINVAL);
    /* NO_REPLY on a reply */
    h.flags |= VFIO_USER_F_NO_REPLY;
    assert_int_equal(proto_check_header(&h, &caps, true), -EINVAL);
}

static void
test_header_sizes(void **state)
{
    struct vfio_user_header h;
    uint64_t max = proto_msg_max_size(&caps);

    (void)state;
    proto_hdr_cmd(&h, 1, VFIO_USER_DEVICE_RESET, 0, false);
    assert_int_equal(h.msg_size, 16);
    assert_int_equal(proto_check_header(&h, &caps, false), 0);
    h.msg_size = 15;
    assert_int_equal(proto_check_header(&h, &caps, false), -EINVAL);
    h.msg_size = 0;
    assert_int_equal(proto_check_header(&h, &caps, false), -EINVAL);
    h.msg_size = (uint32_t)max;
    assert_int_equal(proto_check_header(&h, &caps, false), 0);
    h.msg_size = (uint32_t)max + 1;
    assert_int_equal(proto_check_header(&h, &caps, false), -E2BIG);
    h.msg_size = UINT32_MAX;
    assert_int_equal(proto_check_header(&h, &caps, false), -E2BIG);
    assert_int_equal(proto_check_header(NULL, &caps, false), -EINVAL);
}

static void
test_msg_max_size_choice(void **state)
{
    proto_caps_t small;

    (void)state;
    assert_int_equal(proto_msg_max_size(&caps),
                     16 + PROTO_DEFAULT_MAX_DATA_XFER + PROTO_MSG_OVERHEAD);
    /* a tiny transfer size still leaves room for a full WRITE_MULTI */
    proto_caps_default(&small);
    small.max_data_xfer_size = 1;
    assert_true(proto_msg_max_size(&small) >=
                16 + 8 + (uint64_t)PROTO_WRITE_MULTI_MAX * 24);
    assert_true(proto_msg_max_size(&small) >= 16 + 4 + PROTO_MAX_JSON);
    /* a forged huge value is clamped, never wraps */
    small.max_data_xfer_size = UINT64_MAX;
    assert_int_equal(proto_msg_max_size(&small),
                     16 + PROTO_MAX_DATA_XFER_CEIL + PROTO_MSG_OVERHEAD);
}

static void
test_hdr_reply_positive_errno(void **state)
{
    struct vfio_user_header req, h;

    (void)state;
    proto_hdr_cmd(&req, 0x1234, VFIO_USER_DMA_MAP, 32, false);
    proto_hdr_reply(&h, &req, 0, ENOENT);
    assert_int_equal(h.msg_id, 0x1234);
    assert_int_equal(h.cmd, VFIO_USER_DMA_MAP);
    assert_int_equal(h.error_no, ENOENT);
    proto_hdr_reply(&h, &req, 8, 0);
    assert_int_equal(h.flags, VFIO_USER_F_TYPE_REPLY);
    assert_int_equal(h.msg_size, 24);
    assert_int_equal(h.error_no, 0);
}

/* ------------------------------------------------------------------ */
/* Generic request checks                                              */
/* ------------------------------------------------------------------ */

static void
test_request_unknown_command(void **state)
{
    uint8_t b[16] = {0};

    (void)state;
    assert_int_equal(tp_check(14, b, sizeof(b), 0, &caps), -ENOSYS);
    assert_int_equal(tp_check(99, b, sizeof(b), 0, &caps), -ENOSYS);
}

static void
test_request_wrong_direction(void **state)
{
    struct vfio_user_dma_region_access da = {.addr = 0x1000, .count = 4};
    proto_msg_t m = tp_cmd(VFIO_USER_DMA_READ, &da, sizeof(da));

    (void)state;
    assert_int_equal(proto_check_request(&m, &caps, PROTO_S2C), 0);
    assert_int_equal(proto_check_request(&m, &caps, PROTO_C2S), -EINVAL);
    proto_msg_free(&m);
}

static void
test_request_empty_body_rejected(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < PROTO_NR_COMMANDS; i++) {
        const proto_cmd_t *c = proto_cmd_at(i);
        int ret = tp_check(c->cmd, NULL, 0, 0, &caps);

        if (c->cmd == VFIO_USER_DEVICE_RESET) {
            assert_int_equal(ret, 0);
        } else {
            assert_int_equal(ret, -EINVAL);
        }
    }
}

static void
test_request_size_mismatch(void **state)
{
    proto_msg_t m = tp_cmd(VFIO_USER_DEVICE_RESET, NULL, 0);

    (void)state;
    m.hdr.msg_size = 20; /* claims a body it does not have */
    assert_int_equal(proto_check_request(&m, &caps, PROTO_C2S), -EINVAL);
    m.hdr.msg_size = 16;
    m.hdr.flags = VFIO_USER_F_TYPE_REPLY;
    assert_int_equal(proto_check_request(&m, &caps, PROTO_C2S), -EINVAL);
    proto_msg_free(&m);
}

static void
test_request_too_many_fds(void **state)
{
    struct vfio_user_region_access ra = {.offset = 0, .region = 0, .count = 4};

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_REGION_READ, &ra, sizeof(ra), 0, &caps),
                     0);
    assert_int_equal(tp_check(VFIO_USER_REGION_READ, &ra, sizeof(ra), 1, &caps),
                     -EINVAL);
}

/* ------------------------------------------------------------------ */
/* VERSION                                                             */
/* ------------------------------------------------------------------ */

static void
test_version_req_good(void **state)
{
    uint8_t b[64] = {0};
    const char *json = "{\"capabilities\":{}}";

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_VERSION, b, 4, 0, &caps), 0);
    memcpy(b + 4, json, strlen(json) + 1);
    assert_int_equal(
        tp_check(VFIO_USER_VERSION, b, 4 + strlen(json) + 1, 0, &caps), 0);
}

static void
test_version_req_bad(void **state)
{
    uint8_t big[4 + PROTO_MAX_JSON + 1];
    uint8_t b[64] = {0};

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_VERSION, b, 3, 0, &caps), -EINVAL);
    /* JSON without its NUL */
    memcpy(b + 4, "{}", 2);
    assert_int_equal(tp_check(VFIO_USER_VERSION, b, 6, 0, &caps), -EINVAL);
    /* a NUL in the middle */
    memcpy(b + 4, "{}\0{}", 6);
    assert_int_equal(tp_check(VFIO_USER_VERSION, b, 10, 0, &caps), -EINVAL);
    /* too long */
    memset(big, ' ', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(tp_check(VFIO_USER_VERSION, big, sizeof(big), 0, &caps),
                     -EINVAL);
    assert_int_equal(
        tp_check(VFIO_USER_VERSION, big, sizeof(big) - 1, 0, &caps), -EINVAL);
    big[sizeof(big) - 2] = '\0';
    assert_int_equal(
        tp_check(VFIO_USER_VERSION, big, sizeof(big) - 1, 0, &caps), 0);
    /* fds */
    assert_int_equal(tp_check(VFIO_USER_VERSION, b, 4, 1, &caps), -EINVAL);
}

static void
test_version_reply(void **state)
{
    struct vfio_user_version v = {.major = 0, .minor = 2};
    uint8_t rb[32] = {0};
    proto_msg_t req = tp_cmd(VFIO_USER_VERSION, &v, sizeof(v));
    proto_msg_t rep;

    (void)state;
    memcpy(rb + 4, "{}", 3);
    rep = tp_reply(&req, rb, 7);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    tp_fake_fds(&rep, 1); /* twin socket */
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    tp_fake_fds(&rep, 2);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);

    /* higher minor, other major */
    rb[2] = 3;
    rep = tp_reply(&req, rb, 4);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    rb[2] = 1;
    rb[0] = 1;
    rep = tp_reply(&req, rb, 4);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    /* unterminated JSON */
    rb[0] = 0;
    rep = tp_reply(&req, rb, 6);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

/* ------------------------------------------------------------------ */
/* Reply generics                                                      */
/* ------------------------------------------------------------------ */

static void
test_reply_error_returns_peer_errno(void **state)
{
    proto_msg_t req = tp_cmd(VFIO_USER_DEVICE_RESET, NULL, 0);
    proto_msg_t rep = tp_cmd(VFIO_USER_DEVICE_RESET, NULL, 0);

    (void)state;
    proto_hdr_reply(&rep.hdr, &req.hdr, 0, EBUSY);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EBUSY);
    rep.hdr.error_no = 0;
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EIO);
    rep.hdr.error_no = 100000;
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EIO);
    proto_msg_free(&req);
    proto_msg_free(&rep);
}

static void
test_reply_mismatched_id_or_cmd(void **state)
{
    proto_msg_t req = tp_cmd(VFIO_USER_DEVICE_RESET, NULL, 0);
    proto_msg_t rep = tp_reply(&req, NULL, 0);

    (void)state;
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    rep.hdr.msg_id++;
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    rep.hdr.msg_id--;
    rep.hdr.cmd = VFIO_USER_DMA_MAP;
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    rep.hdr.cmd = VFIO_USER_DEVICE_RESET;
    rep.hdr.flags = VFIO_USER_F_TYPE_COMMAND;
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&req);
    proto_msg_free(&rep);
}

static void
test_reply_unexpected_fds_or_body(void **state)
{
    proto_msg_t req = tp_cmd(VFIO_USER_DEVICE_RESET, NULL, 0);
    uint8_t junk[4] = {0};
    proto_msg_t rep = tp_reply(&req, NULL, 0);

    (void)state;
    tp_fake_fds(&rep, 1);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    rep = tp_reply(&req, junk, sizeof(junk));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

/* ------------------------------------------------------------------ */
/* DMA_MAP / DMA_UNMAP                                                 */
/* ------------------------------------------------------------------ */

static struct vfio_user_dma_map
good_map(void)
{
    struct vfio_user_dma_map m = {
        .argsz = sizeof(m),
        .flags = VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE,
        .offset = 0,
        .addr = 0x100000,
        .size = 0x10000,
    };
    return m;
}

static void
test_dma_map_good(void **state)
{
    struct vfio_user_dma_map m = good_map();

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_DMA_MAP, &m, sizeof(m), 0, &caps), 0);
    assert_int_equal(tp_check(VFIO_USER_DMA_MAP, &m, sizeof(m), 1, &caps), 0);
    m.flags |= VFIO_USER_F_DMA_REGION_MMAP;
    assert_int_equal(tp_check(VFIO_USER_DMA_MAP, &m, sizeof(m), 1, &caps), 0);
}

static void
test_dma_map_bad_argsz(void **state)
{
    struct vfio_user_dma_map m = good_map();

    (void)state;
    m.argsz = sizeof(m) - 1;
    assert_int_equal(tp_check(VFIO_USER_DMA_MAP, &m, sizeof(m), 0, &caps),
                     -EINVAL);
    m = good_map();
    assert_int_equal(tp_check(VFIO_USER_DMA_MAP, &m, sizeof(m) - 1, 0, &caps),
                     -EINVAL);
}

static void
test_dma_map_bad_flags(void **state)
{
    struct vfio_user_dma_map m = good_map();

    (void)state;
    m.flags |= 1u << 4;
    assert_int_equal(tp_check(VFIO_USER_DMA_MAP, &m, sizeof(m), 1, &caps),
                     -EINVAL);
    m = good_map();
    m.flags |= VFIO_USER_F_DMA_REGION_MMAP; /* needs an fd */
    assert_int_equal(tp_check(VFIO_USER_DMA_MAP, &m, sizeof(m), 0, &caps),
                     -EINVAL);
    m.flags |= VFIO_USER_F_DMA_REGION_FILE_IO; /* not both */
    assert_int_equal(tp_check(VFIO_USER_DMA_MAP, &m, sizeof(m), 1, &caps),
                     -EINVAL);
}

static void
test_dma_map_overflow(void **state)
{
    struct vfio_user_dma_map m = good_map();

    (void)state;
    m.addr = UINT64_MAX - 0xfff;
    assert_int_equal(tp_check(VFIO_USER_DMA_MAP, &m, sizeof(m), 0, &caps),
                     -EINVAL);
    m = good_map();
    m.offset = UINT64_MAX;
    assert_int_equal(tp_check(VFIO_USER_DMA_MAP, &m, sizeof(m), 1, &caps),
                     -EINVAL);
    m = good_map();
    m.size = 0;
    assert_int_equal(tp_check(VFIO_USER_DMA_MAP, &m, sizeof(m), 0, &caps),
                     -EINVAL);
}

static void
test_dma_map_two_fds(void **state)
{
    struct vfio_user_dma_map m = good_map();

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_DMA_MAP, &m, sizeof(m), 2, &caps),
                     -EINVAL);
}

static void
test_dma_unmap_good(void **state)
{
    struct vfio_user_dma_unmap u = {
        .argsz = sizeof(u), .flags = 0, .addr = 0x1000, .size = 0x1000};
    proto_msg_t req, rep;

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &u, sizeof(u), 0, &caps), 0);
    u.flags = VFIO_DMA_UNMAP_FLAG_ALL;
    u.addr = 0;
    u.size = 0;
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &u, sizeof(u), 0, &caps), 0);
    req = tp_cmd(VFIO_USER_DMA_UNMAP, &u, sizeof(u));
    rep = tp_reply(&req, &u, sizeof(u));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    u.addr = 0x2000; /* not an echo */
    rep = tp_reply(&req, &u, sizeof(u));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    rep = tp_reply(&req, NULL, 0);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

static void
test_dma_unmap_bad_argsz(void **state)
{
    struct vfio_user_dma_unmap u = {
        .argsz = sizeof(u) - 1, .flags = 0, .addr = 0x1000, .size = 0x1000};

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &u, sizeof(u), 0, &caps),
                     -EINVAL);
    u.argsz = UINT32_MAX;
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &u, sizeof(u), 0, &caps),
                     -EINVAL);
    u.argsz = sizeof(u);
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &u, sizeof(u) - 8, 0, &caps),
                     -EINVAL);
}

static void
test_dma_unmap_bad_flags(void **state)
{
    struct vfio_user_dma_unmap u = {.argsz = sizeof(u),
                                    .flags = VFIO_DMA_UNMAP_FLAG_ALL,
                                    .addr = 0x1000,
                                    .size = 0};

    (void)state;
    /* UNMAP_ALL with an address */
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &u, sizeof(u), 0, &caps),
                     -EINVAL);
    u.addr = 0;
    u.size = 1;
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &u, sizeof(u), 0, &caps),
                     -EINVAL);
    u.size = 0;
    u.flags = VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &u, sizeof(u), 0, &caps),
                     -EINVAL);
    u.flags = 1u << 5;
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &u, sizeof(u), 0, &caps),
                     -EINVAL);
}

static void
test_dma_unmap_overflow(void **state)
{
    struct vfio_user_dma_unmap u = {
        .argsz = sizeof(u), .flags = 0, .addr = UINT64_MAX, .size = 2};

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &u, sizeof(u), 0, &caps),
                     -EINVAL);
}

static void
test_dma_unmap_dirty_bitmap(void **state)
{
    struct {
        struct vfio_user_dma_unmap u;
        struct vfio_user_bitmap bm;
    } __attribute__((packed)) b = {
        .u = {.argsz = 24 + 16 + 8,
              .flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
              .addr = 0x10000,
              .size = 0x40000},
        .bm = {.pgsize = 4096, .size = 8},
    };
    uint8_t rb[24 + 16 + 8] = {0};
    proto_msg_t req, rep;

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &b, sizeof(b), 0, &caps), 0);
    req = tp_cmd(VFIO_USER_DMA_UNMAP, &b, sizeof(b));
    memcpy(rb, &b, sizeof(b));
    rep = tp_reply(&req, rb, sizeof(rb));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    rep = tp_reply(&req, rb, sizeof(rb) - 1);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);

    /* argsz without room for the bitmap */
    b.u.argsz = 24 + 16;
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &b, sizeof(b), 0, &caps),
                     -EINVAL);
    /* bitmap struct missing */
    b.u.argsz = 48;
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &b, 24, 0, &caps), -EINVAL);
    /* page size not a power of two */
    b.bm.pgsize = 4095;
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &b, sizeof(b), 0, &caps),
                     -EINVAL);
    /* a bitmap larger than any transfer */
    b.bm.pgsize = 4096;
    b.bm.size = UINT64_MAX - 8;
    assert_int_equal(tp_check(VFIO_USER_DMA_UNMAP, &b, sizeof(b), 0, &caps),
                     -EINVAL);
}

static void
test_dma_map_reply_empty(void **state)
{
    struct vfio_user_dma_map m = good_map();
    proto_msg_t req = tp_cmd(VFIO_USER_DMA_MAP, &m, sizeof(m));
    proto_msg_t rep = tp_reply(&req, NULL, 0);

    (void)state;
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    rep = tp_reply(&req, &m, sizeof(m));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

/* ------------------------------------------------------------------ */
/* Info commands                                                       */
/* ------------------------------------------------------------------ */

static void
test_device_get_info(void **state)
{
    struct vfio_user_device_info in = {.argsz = 16};
    struct vfio_user_device_info out = {
        .argsz = 16, .flags = 3, .num_regions = 9, .num_irqs = 5};
    proto_msg_t req, rep;

    (void)state;
    assert_int_equal(
        tp_check(VFIO_USER_DEVICE_GET_INFO, &in, sizeof(in), 0, &caps), 0);
    in.argsz = 15;
    assert_int_equal(
        tp_check(VFIO_USER_DEVICE_GET_INFO, &in, sizeof(in), 0, &caps),
        -EINVAL);
    assert_int_equal(
        tp_check(VFIO_USER_DEVICE_GET_INFO, &in, sizeof(in) - 4, 0, &caps),
        -EINVAL);
    in.argsz = 16;
    req = tp_cmd(VFIO_USER_DEVICE_GET_INFO, &in, sizeof(in));
    rep = tp_reply(&req, &out, sizeof(out));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    rep = tp_reply(&req, &out, 12);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

static void
test_region_info_request(void **state)
{
    struct vfio_region_info ri = {.argsz = sizeof(ri), .index = 2};

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_DEVICE_GET_REGION_INFO, &ri,
                              sizeof(ri), 0, &caps),
                     0);
    ri.argsz = 16;
    assert_int_equal(tp_check(VFIO_USER_DEVICE_GET_REGION_INFO, &ri,
                              sizeof(ri), 0, &caps),
                     -EINVAL);
    ri.argsz = sizeof(ri);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_GET_REGION_INFO, &ri, 16, 0,
                              &caps),
                     -EINVAL);
}

static void
test_region_info_reply(void **state)
{
    struct vfio_region_info ri = {.argsz = 64, .index = 2};
    uint8_t rb[64] = {0};
    struct vfio_region_info out = {.argsz = 64,
                                   .flags = VFIO_REGION_INFO_FLAG_CAPS,
                                   .index = 2,
                                   .cap_offset = 32,
                                   .size = 0x1000};
    proto_msg_t req = tp_cmd(VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri));
    proto_msg_t rep;

    (void)state;
    memcpy(rb, &out, sizeof(out));
    rep = tp_reply(&req, rb, sizeof(rb));
    tp_fake_fds(&rep, 1);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    tp_fake_fds(&rep, 2);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    /* caps claimed but the body stops before their header */
    rep = tp_reply(&req, rb, 36);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    /* cap_offset inside the fixed struct */
    out.cap_offset = 8;
    memcpy(rb, &out, sizeof(out));
    rep = tp_reply(&req, rb, sizeof(rb));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    /* another region */
    out.cap_offset = 32;
    out.index = 3;
    memcpy(rb, &out, sizeof(out));
    rep = tp_reply(&req, rb, sizeof(rb));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);

    /* more than argsz asked for; argsz above the body is legal */
    ri.argsz = 32;
    req = tp_cmd(VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri));
    out.index = 2;
    out.flags = 0;
    memcpy(rb, &out, sizeof(out));
    rep = tp_reply(&req, rb, sizeof(rb));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    rep = tp_reply(&req, rb, 32);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

static void
test_region_io_fds(void **state)
{
    vfio_user_region_io_fds_request_t in = {.argsz = 16 + 96, .index = 1};
    uint8_t rb[16 + 96] = {0};
    vfio_user_region_io_fds_reply_t out = {.argsz = 16 + 96, .index = 1,
                                           .count = 2};
    proto_msg_t req, rep;

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_DEVICE_GET_REGION_IO_FDS, &in,
                              sizeof(in), 0, &caps),
                     0);
    in.flags = 1;
    assert_int_equal(tp_check(VFIO_USER_DEVICE_GET_REGION_IO_FDS, &in,
                              sizeof(in), 0, &caps),
                     -EINVAL);
    in.flags = 0;
    in.count = 1;
    assert_int_equal(tp_check(VFIO_USER_DEVICE_GET_REGION_IO_FDS, &in,
                              sizeof(in), 0, &caps),
                     -EINVAL);
    in.count = 0;
    in.argsz = 8;
    assert_int_equal(tp_check(VFIO_USER_DEVICE_GET_REGION_IO_FDS, &in,
                              sizeof(in), 0, &caps),
                     -EINVAL);
    in.argsz = 16 + 96;

    req = tp_cmd(VFIO_USER_DEVICE_GET_REGION_IO_FDS, &in, sizeof(in));
    memcpy(rb, &out, sizeof(out));
    rep = tp_reply(&req, rb, sizeof(rb));
    tp_fake_fds(&rep, 1);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    tp_fake_fds(&rep, caps.max_msg_fds + 1);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    /* entries that do not divide evenly */
    rep = tp_reply(&req, rb, sizeof(rb) - 1);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    /* entries smaller than any sub-region struct */
    rep = tp_reply(&req, rb, 16 + 48);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    /* only the fixed part: argsz tells the needed size */
    rep = tp_reply(&req, rb, 16);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

static void
test_irq_info(void **state)
{
    struct vfio_irq_info in = {.argsz = sizeof(in), .index = 4};
    struct vfio_irq_info out = {.argsz = sizeof(out), .flags = 1, .index = 4,
                                .count = 8};
    proto_msg_t req, rep;

    (void)state;
    assert_int_equal(
        tp_check(VFIO_USER_DEVICE_GET_IRQ_INFO, &in, sizeof(in), 0, &caps), 0);
    in.argsz = 4;
    assert_int_equal(
        tp_check(VFIO_USER_DEVICE_GET_IRQ_INFO, &in, sizeof(in), 0, &caps),
        -EINVAL);
    in.argsz = sizeof(in);
    req = tp_cmd(VFIO_USER_DEVICE_GET_IRQ_INFO, &in, sizeof(in));
    rep = tp_reply(&req, &out, sizeof(out));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    out.index = 3;
    rep = tp_reply(&req, &out, sizeof(out));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

/* ------------------------------------------------------------------ */
/* SET_IRQS                                                            */
/* ------------------------------------------------------------------ */

struct irqs_msg {
    struct vfio_irq_set s;
    uint8_t data[16];
} __attribute__((packed));

static struct irqs_msg
irqs(uint32_t flags, uint32_t start, uint32_t count)
{
    struct irqs_msg m;

    memset(&m, 0, sizeof(m));
    m.s.argsz = sizeof(m.s);
    m.s.flags = flags;
    m.s.index = VFIO_PCI_MSIX_IRQ_INDEX;
    m.s.start = start;
    m.s.count = count;
    return m;
}

#define EVT_TRIG (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER)
#define NONE_TRIG (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER)
#define BOOL_MASK (VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK)

static void
test_set_irqs_good(void **state)
{
    struct irqs_msg m = irqs(EVT_TRIG, 0, 4);
    proto_caps_t many = caps;

    (void)state;
    many.max_msg_fds = 8;
    /* as QEMU sends it: the struct, count fds or none at all */
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 4, &many), 0);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 0, &many), 0);
    /* the kernel's layout with int32 slots */
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 36, 4, &many), 0);
    m = irqs(NONE_TRIG, 0, 0); /* disable all */
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 0, &caps), 0);
    m = irqs(BOOL_MASK, 2, 3);
    m.s.argsz = 23;
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 23, 0, &caps), 0);
}

static void
test_set_irqs_bad_flags(void **state)
{
    struct irqs_msg m = irqs(VFIO_IRQ_SET_DATA_NONE, 0, 1); /* no action */

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 0, &caps),
                     -EINVAL);
    m = irqs(VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1); /* no data type */
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 0, &caps),
                     -EINVAL);
    m = irqs(NONE_TRIG | VFIO_IRQ_SET_ACTION_MASK, 0, 1);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 0, &caps),
                     -EINVAL);
    m = irqs(NONE_TRIG | VFIO_IRQ_SET_DATA_BOOL, 0, 1);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 0, &caps),
                     -EINVAL);
    m = irqs(NONE_TRIG | (1u << 6), 0, 1);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 0, &caps),
                     -EINVAL);
}

static void
test_set_irqs_bad_counts(void **state)
{
    struct irqs_msg m = irqs(NONE_TRIG, UINT32_MAX, 2);
    proto_caps_t many = caps;

    (void)state;
    many.max_msg_fds = 8;
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 0, &caps),
                     -EINVAL);
    /* count 0 only as "disable all" */
    m = irqs(NONE_TRIG, 1, 0);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 0, &caps),
                     -EINVAL);
    m = irqs(EVT_TRIG, 0, 0);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 0, &caps),
                     -EINVAL);
    /* fds that do not match count */
    m = irqs(EVT_TRIG, 0, 4);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 3, &many),
                     -EINVAL);
    /* more than the negotiated fds */
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 4, &caps),
                     -EINVAL);
    /* fds with a non-eventfd data type */
    m = irqs(NONE_TRIG, 0, 1);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 1, &caps),
                     -EINVAL);
    /* argsz below the struct */
    m.s.argsz = 19;
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 20, 0, &caps),
                     -EINVAL);
}

static void
test_set_irqs_bad_body(void **state)
{
    struct irqs_msg m = irqs(BOOL_MASK, 0, 3);

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 22, 0, &caps),
                     -EINVAL);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 24, 0, &caps),
                     -EINVAL);
    m = irqs(NONE_TRIG, 0, 1);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 21, 0, &caps),
                     -EINVAL);
    m = irqs(EVT_TRIG, 0, 1);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 22, 1, &caps),
                     -EINVAL);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_SET_IRQS, &m, 19, 0, &caps),
                     -EINVAL);
}

/* ------------------------------------------------------------------ */
/* REGION_READ / REGION_WRITE                                          */
/* ------------------------------------------------------------------ */

struct access_msg {
    struct vfio_user_region_access ra;
    uint8_t data[8];
} __attribute__((packed));

static void
test_region_read_request(void **state)
{
    struct vfio_user_region_access ra = {.offset = 0x10, .region = 7,
                                         .count = 4};

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_REGION_READ, &ra, 16, 0, &caps), 0);
    assert_int_equal(tp_check(VFIO_USER_REGION_READ, &ra, 15, 0, &caps),
                     -EINVAL);
    ra.count = (uint32_t)caps.max_data_xfer_size;
    assert_int_equal(tp_check(VFIO_USER_REGION_READ, &ra, 16, 0, &caps), 0);
    ra.count++;
    assert_int_equal(tp_check(VFIO_USER_REGION_READ, &ra, 16, 0, &caps),
                     -EINVAL);
    ra.count = 4;
    ra.offset = UINT64_MAX - 2;
    assert_int_equal(tp_check(VFIO_USER_REGION_READ, &ra, 16, 0, &caps),
                     -EINVAL);
}

static void
test_region_read_extra_body(void **state)
{
    struct access_msg m = {.ra = {.offset = 0, .region = 0, .count = 4}};

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_REGION_READ, &m, 20, 0, &caps),
                     -EINVAL);
}

static void
test_region_write_request(void **state)
{
    struct access_msg m = {.ra = {.offset = 0x8, .region = 0, .count = 4}};

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE, &m, 20, 0, &caps), 0);
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE, &m, 19, 0, &caps),
                     -EINVAL);
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE, &m, 24, 0, &caps),
                     -EINVAL);
    m.ra.count = UINT32_MAX;
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE, &m, 24, 0, &caps),
                     -EINVAL);
    m.ra.count = 0;
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE, &m, 16, 0, &caps), 0);
}

static void
test_region_read_reply(void **state)
{
    struct vfio_user_region_access ra = {.offset = 0x10, .region = 7,
                                         .count = 4};
    struct access_msg out = {.ra = ra, .data = {1, 2, 3, 4}};
    proto_msg_t req = tp_cmd(VFIO_USER_REGION_READ, &ra, sizeof(ra));
    proto_msg_t rep;

    (void)state;
    rep = tp_reply(&req, &out, 20);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    rep = tp_reply(&req, &out, 19);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    rep = tp_reply(&req, &out, 24);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    out.ra.region = 6;
    rep = tp_reply(&req, &out, 20);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    out.ra.region = 7;
    out.ra.offset = 0x14;
    rep = tp_reply(&req, &out, 20);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    out.ra.offset = 0x10;
    out.ra.count = 3;
    rep = tp_reply(&req, &out, 19);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    rep = tp_reply(&req, NULL, 0);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

static void
test_region_access_count0_empty_reply(void **state)
{
    struct vfio_user_region_access ra = {.offset = 0, .region = 0, .count = 0};
    proto_msg_t req = tp_cmd(VFIO_USER_REGION_READ, &ra, sizeof(ra));
    proto_msg_t rep = tp_reply(&req, NULL, 0);

    (void)state;
    /* libvfio-user answers count 0 with an empty body */
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    rep = tp_reply(&req, &ra, sizeof(ra));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

static void
test_region_write_reply(void **state)
{
    struct access_msg m = {.ra = {.offset = 0x8, .region = 1, .count = 4}};
    proto_msg_t req = tp_cmd(VFIO_USER_REGION_WRITE, &m, 20);
    proto_msg_t rep;

    (void)state;
    rep = tp_reply(&req, &m.ra, 16);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    rep = tp_reply(&req, &m, 20);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    m.ra.count = 2;
    rep = tp_reply(&req, &m.ra, 16);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

/* ------------------------------------------------------------------ */
/* DMA_READ / DMA_WRITE                                                */
/* ------------------------------------------------------------------ */

struct dma_msg {
    struct vfio_user_dma_region_access da;
    uint8_t data[8];
} __attribute__((packed));

static void
test_dma_read_request(void **state)
{
    struct dma_msg m = {.da = {.addr = 0x1000, .count = 8}};

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_DMA_READ, &m, 16, 0, &caps), 0);
    assert_int_equal(tp_check(VFIO_USER_DMA_READ, &m, 24, 0, &caps), -EINVAL);
    m.da.addr = UINT64_MAX - 4;
    assert_int_equal(tp_check(VFIO_USER_DMA_READ, &m, 16, 0, &caps), -EINVAL);
    m.da.addr = 0;
    m.da.count = caps.max_data_xfer_size + 1;
    assert_int_equal(tp_check(VFIO_USER_DMA_READ, &m, 16, 0, &caps), -EINVAL);
}

static void
test_dma_write_request(void **state)
{
    struct dma_msg m = {.da = {.addr = 0x1000, .count = 8}};

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_DMA_WRITE, &m, 24, 0, &caps), 0);
    assert_int_equal(tp_check(VFIO_USER_DMA_WRITE, &m, 16, 0, &caps), -EINVAL);
    assert_int_equal(tp_check(VFIO_USER_DMA_WRITE, &m, 23, 0, &caps), -EINVAL);
    m.da.count = UINT64_MAX;
    assert_int_equal(tp_check(VFIO_USER_DMA_WRITE, &m, 24, 0, &caps), -EINVAL);
}

static void
test_dma_read_write_replies(void **state)
{
    struct dma_msg m = {.da = {.addr = 0x1000, .count = 8}};
    proto_msg_t req = tp_cmd(VFIO_USER_DMA_READ, &m, 16);
    proto_msg_t rep;

    (void)state;
    rep = tp_reply(&req, &m, 24);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    rep = tp_reply(&req, &m, 16);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);

    req = tp_cmd(VFIO_USER_DMA_WRITE, &m, 24);
    rep = tp_reply(&req, &m, 16);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    rep = tp_reply(&req, NULL, 0); /* QEMU: header only */
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    rep = tp_reply(&req, &m, 24);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    m.da.addr = 0x2000;
    rep = tp_reply(&req, &m, 16);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

/* ------------------------------------------------------------------ */
/* DEVICE_RESET, REGION_WRITE_MULTI                                    */
/* ------------------------------------------------------------------ */

static void
test_device_reset_body(void **state)
{
    uint8_t b[4] = {0};

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_DEVICE_RESET, NULL, 0, 0, &caps), 0);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_RESET, b, 4, 0, &caps), -EINVAL);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_RESET, NULL, 0, 1, &caps),
                     -EINVAL);
}

static uint8_t *
multi(uint64_t n, size_t *len)
{
    struct vfio_user_write_multi wm = {.wr_cnt = n};
    uint8_t *b;
    uint64_t i;

    *len = sizeof(wm) + n * sizeof(struct vfio_user_write_multi_data);
    b = calloc(1, *len);
    assert_non_null(b);
    memcpy(b, &wm, sizeof(wm));
    for (i = 0; i < n; i++) {
        struct vfio_user_write_multi_data wr = {
            .offset = i * 4, .region = 0, .count = 4};

        memcpy(b + sizeof(wm) + i * sizeof(wr), &wr, sizeof(wr));
    }
    return b;
}

static void
test_write_multi_good(void **state)
{
    size_t len;
    uint8_t *b = multi(3, &len);
    uint8_t *big;

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE_MULTI, b, len, 0, &caps),
                     0);
    free(b);
    big = multi(PROTO_WRITE_MULTI_MAX, &len);
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE_MULTI, big, len, 0, &caps),
                     0);
    free(big);
}

static void
test_write_multi_bad(void **state)
{
    struct vfio_user_write_multi_data wr;
    size_t len;
    uint8_t *b = multi(3, &len);
    uint64_t n;

    (void)state;
    /* body shorter or longer than wr_cnt says */
    assert_int_equal(
        tp_check(VFIO_USER_REGION_WRITE_MULTI, b, len - 1, 0, &caps), -EINVAL);
    n = 4;
    memcpy(b, &n, sizeof(n));
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE_MULTI, b, len, 0, &caps),
                     -EINVAL);
    n = 0;
    memcpy(b, &n, sizeof(n));
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE_MULTI, b, 8, 0, &caps),
                     -EINVAL);
    /* a huge wr_cnt must not wrap the size computation */
    n = UINT64_MAX / 24 + 1;
    memcpy(b, &n, sizeof(n));
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE_MULTI, b, len, 0, &caps),
                     -EINVAL);
    n = 3;
    memcpy(b, &n, sizeof(n));
    /* an entry with count 0, 9, or overflowing offset */
    memcpy(&wr, b + 8 + 24, sizeof(wr));
    wr.count = 0;
    memcpy(b + 8 + 24, &wr, sizeof(wr));
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE_MULTI, b, len, 0, &caps),
                     -EINVAL);
    wr.count = 9;
    memcpy(b + 8 + 24, &wr, sizeof(wr));
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE_MULTI, b, len, 0, &caps),
                     -EINVAL);
    wr.count = 8;
    wr.offset = UINT64_MAX - 3;
    memcpy(b + 8 + 24, &wr, sizeof(wr));
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE_MULTI, b, len, 0, &caps),
                     -EINVAL);
    free(b);
    b = multi(PROTO_WRITE_MULTI_MAX + 1, &len);
    assert_int_equal(tp_check(VFIO_USER_REGION_WRITE_MULTI, b, len, 0, &caps),
                     -EINVAL);
    free(b);
}

static void
test_write_multi_reply(void **state)
{
    size_t len;
    uint8_t *b = multi(3, &len);
    proto_msg_t req = tp_cmd(VFIO_USER_REGION_WRITE_MULTI, b, len);
    struct vfio_user_write_multi out = {.wr_cnt = 3};
    proto_msg_t rep;

    (void)state;
    rep = tp_reply(&req, &out, sizeof(out));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    out.wr_cnt = 4;
    rep = tp_reply(&req, &out, sizeof(out));
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);
    free(b);
}

/* ------------------------------------------------------------------ */
/* DEVICE_FEATURE                                                      */
/* ------------------------------------------------------------------ */

struct feature_msg {
    struct vfio_user_device_feature f;
    uint8_t data[40];
} __attribute__((packed));

static struct feature_msg
feature(uint32_t argsz, uint32_t flags)
{
    struct feature_msg m;

    memset(&m, 0, sizeof(m));
    m.f.argsz = argsz;
    m.f.flags = flags;
    return m;
}

static void
test_device_feature_ops(void **state)
{
    const uint32_t G = VFIO_DEVICE_FEATURE_GET;
    const uint32_t S = VFIO_DEVICE_FEATURE_SET;
    const uint32_t P = VFIO_DEVICE_FEATURE_PROBE;
    const uint32_t mig = VFIO_DEVICE_FEATURE_MIGRATION;
    struct feature_msg m;

    (void)state;
    m = feature(16, G | mig);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 8, 0, &caps), 0);
    m = feature(8, P | mig);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 8, 0, &caps), 0);
    m = feature(8, P | G | S | mig);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 8, 0, &caps), 0);
    m = feature(8, G | S | mig); /* GET and SET without PROBE */
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 8, 0, &caps),
                     -EINVAL);
    m = feature(8, mig); /* no operation */
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 8, 0, &caps),
                     -EINVAL);
    m = feature(8, G | (1u << 19) | mig); /* unknown operation bit */
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 8, 0, &caps),
                     -EINVAL);
    m = feature(4, G | mig); /* argsz below the struct */
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 8, 0, &caps),
                     -EINVAL);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 7, 0, &caps),
                     -EINVAL);
}

static void
test_device_feature_set_data(void **state)
{
    const uint32_t S = VFIO_DEVICE_FEATURE_SET;
    struct feature_msg m;
    struct vfio_user_device_feature_dma_logging_control ctl = {
        .page_size = 4096, .num_ranges = 1};

    (void)state;
    m = feature(16, S | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 16, 0, &caps), 0);
    /* state missing */
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 12, 0, &caps),
                     -EINVAL);
    /* argsz below the echoed reply */
    m.f.argsz = 12;
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 16, 0, &caps),
                     -EINVAL);

    m = feature(40, S | VFIO_DEVICE_FEATURE_DMA_LOGGING_START);
    memcpy(m.data, &ctl, sizeof(ctl));
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 40, 0, &caps), 0);
    ctl.num_ranges = 2; /* ranges beyond the body */
    memcpy(m.data, &ctl, sizeof(ctl));
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 40, 0, &caps),
                     -EINVAL);
    ctl.num_ranges = UINT32_MAX;
    memcpy(m.data, &ctl, sizeof(ctl));
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 40, 0, &caps),
                     -EINVAL);
}

static void
test_device_feature_report(void **state)
{
    const uint32_t G = VFIO_DEVICE_FEATURE_GET;
    struct vfio_user_device_feature_dma_logging_report rep = {
        .iova = 0x10000, .length = 0x10000, .page_size = 4096};
    struct feature_msg m =
        feature(40, G | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT);

    (void)state;
    memcpy(m.data, &rep, sizeof(rep));
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 32, 0, &caps), 0);
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 31, 0, &caps),
                     -EINVAL);
    rep.page_size = 3000;
    memcpy(m.data, &rep, sizeof(rep));
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 32, 0, &caps),
                     -EINVAL);
    rep.page_size = 4096;
    rep.iova = UINT64_MAX;
    memcpy(m.data, &rep, sizeof(rep));
    assert_int_equal(tp_check(VFIO_USER_DEVICE_FEATURE, &m, 32, 0, &caps),
                     -EINVAL);
}

static void
test_device_feature_reply(void **state)
{
    struct feature_msg m =
        feature(16, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION);
    proto_msg_t req = tp_cmd(VFIO_USER_DEVICE_FEATURE, &m, 8);
    proto_msg_t rep;

    (void)state;
    rep = tp_reply(&req, &m, 16);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    rep = tp_reply(&req, &m, 24); /* beyond argsz */
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    m.f.flags ^= 1;
    rep = tp_reply(&req, &m, 16);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);

    m = feature(16, VFIO_DEVICE_FEATURE_SET |
                        VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE);
    req = tp_cmd(VFIO_USER_DEVICE_FEATURE, &m, 16);
    rep = tp_reply(&req, &m, 16);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    rep = tp_reply(&req, &m, 8); /* SET echoes the whole request */
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

/* ------------------------------------------------------------------ */
/* MIG_DATA_READ / MIG_DATA_WRITE                                      */
/* ------------------------------------------------------------------ */

struct mig_msg {
    struct vfio_user_mig_data m;
    uint8_t data[16];
} __attribute__((packed));

static void
test_mig_data_read_request(void **state)
{
    struct mig_msg m = {.m = {.argsz = 8 + 16, .size = 16}};

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_MIG_DATA_READ, &m, 8, 0, &caps), 0);
    assert_int_equal(tp_check(VFIO_USER_MIG_DATA_READ, &m, 12, 0, &caps),
                     -EINVAL);
    m.m.argsz = 8 + 15;
    assert_int_equal(tp_check(VFIO_USER_MIG_DATA_READ, &m, 8, 0, &caps),
                     -EINVAL);
    m.m.size = (uint32_t)caps.max_data_xfer_size + 1;
    m.m.argsz = UINT32_MAX;
    assert_int_equal(tp_check(VFIO_USER_MIG_DATA_READ, &m, 8, 0, &caps),
                     -EINVAL);
}

static void
test_mig_data_read_reply(void **state)
{
    struct mig_msg m = {.m = {.argsz = 8 + 16, .size = 16}};
    proto_msg_t req = tp_cmd(VFIO_USER_MIG_DATA_READ, &m, 8);
    proto_msg_t rep;

    (void)state;
    rep = tp_reply(&req, &m, 24);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    /* a short read, sized exactly or padded to the request as libvfio-user */
    m.m.size = 4;
    rep = tp_reply(&req, &m, 12);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    rep = tp_reply(&req, &m, 24);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    rep = tp_reply(&req, &m, 11);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    m.m.size = 17; /* more than asked */
    rep = tp_reply(&req, &m, 8 + 16);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), -EINVAL);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

static void
test_mig_data_write(void **state)
{
    struct mig_msg m = {.m = {.argsz = 8, .size = 16}};
    proto_msg_t req, rep;

    (void)state;
    assert_int_equal(tp_check(VFIO_USER_MIG_DATA_WRITE, &m, 24, 0, &caps), 0);
    assert_int_equal(tp_check(VFIO_USER_MIG_DATA_WRITE, &m, 23, 0, &caps),
                     -EINVAL);
    m.m.argsz = 7;
    assert_int_equal(tp_check(VFIO_USER_MIG_DATA_WRITE, &m, 24, 0, &caps),
                     -EINVAL);
    m.m.argsz = 8;
    m.m.size = UINT32_MAX;
    assert_int_equal(tp_check(VFIO_USER_MIG_DATA_WRITE, &m, 24, 0, &caps),
                     -EINVAL);
    m.m.size = 16;
    req = tp_cmd(VFIO_USER_MIG_DATA_WRITE, &m, 24);
    rep = tp_reply(&req, NULL, 0);
    assert_int_equal(proto_check_reply(&req, &rep, &caps), 0);
    proto_msg_free(&rep);
    proto_msg_free(&req);
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

static void
test_msg_take_fd(void **state)
{
    proto_msg_t m = tp_cmd(VFIO_USER_DEVICE_RESET, NULL, 0);
    int fd;

    (void)state;
    tp_fake_fds(&m, 2);
    m.fds[1] = dup(0);
    assert_true(m.fds[1] >= 0);
    assert_int_equal(proto_msg_take_fd(&m, 0), -EINVAL); /* slot is -1 */
    assert_int_equal(proto_msg_take_fd(&m, 2), -EINVAL);
    fd = proto_msg_take_fd(&m, 1);
    assert_true(fd >= 0);
    assert_int_equal(m.fds[1], -1);
    assert_int_equal(proto_msg_take_fd(&m, 1), -EINVAL);
    assert_int_equal(proto_msg_free(&m), 0);
    close(fd);
}

static void
test_msg_free_closes_untaken(void **state)
{
    proto_msg_t m = tp_cmd(VFIO_USER_DEVICE_RESET, NULL, 0);
    int before = tu_count_fds();

    (void)state;
    tp_fake_fds(&m, 3);
    m.fds[0] = dup(0);
    m.fds[2] = dup(0);
    assert_int_equal(tu_count_fds(), before + 2);
    assert_int_equal(proto_msg_free(&m), 2);
    assert_int_equal(tu_count_fds(), before);
    assert_null(m.fds);
    assert_int_equal(m.nr_fds, 0);
    assert_int_equal(proto_msg_free(&m), 0); /* twice is harmless */
    assert_int_equal(proto_msg_free(NULL), 0);
}

static void
test_parse_buf(void **state)
{
    uint8_t buf[16 + 16];
    struct vfio_user_region_access ra = {.offset = 4, .region = 1, .count = 4};
    struct vfio_user_header h;
    proto_msg_t m;

    (void)state;
    proto_hdr_cmd(&h, 5, VFIO_USER_REGION_READ, sizeof(ra), false);
    memcpy(buf, &h, sizeof(h));
    memcpy(buf + 16, &ra, sizeof(ra));
    assert_int_equal(proto_parse_buf(buf, sizeof(buf), &m, &caps), 0);
    assert_int_equal(m.hdr.msg_id, 5);
    assert_int_equal(m.body_len, 16);
    assert_memory_equal(m.body, &ra, 16);
    assert_int_equal(proto_check_request(&m, &caps, PROTO_C2S), 0);
    proto_msg_free(&m);

    assert_int_equal(proto_parse_buf(buf, sizeof(buf) - 1, &m, &caps),
                     -EINVAL);
    assert_null(m.body);
    assert_int_equal(proto_parse_buf(buf, 15, &m, &caps), -EINVAL);
    assert_int_equal(proto_parse_buf(NULL, 0, &m, &caps), -EINVAL);
    h.msg_size = 8;
    memcpy(buf, &h, sizeof(h));
    assert_int_equal(proto_parse_buf(buf, 8, &m, &caps), -EINVAL);
    /* header only */
    proto_hdr_cmd(&h, 5, VFIO_USER_DEVICE_RESET, 0, false);
    assert_int_equal(proto_parse_buf(&h, sizeof(h), &m, &caps), 0);
    assert_null(m.body);
    assert_int_equal(m.body_len, 0);
    proto_msg_free(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_cmd_table_complete),
        T(test_cmd_lookup_unknown),
        T(test_cmd_table_directions_and_fds),
        T(test_header_command_ok),
        T(test_header_wrong_type),
        T(test_header_unknown_flags),
        T(test_header_noreply_and_error_placement),
        T(test_header_sizes),
        T(test_msg_max_size_choice),
        T(test_hdr_reply_positive_errno),
        T(test_request_unknown_command),
        T(test_request_wrong_direction),
        T(test_request_empty_body_rejected),
        T(test_request_size_mismatch),
        T(test_request_too_many_fds),
        T(test_version_req_good),
        T(test_version_req_bad),
        T(test_version_reply),
        T(test_reply_error_returns_peer_errno),
        T(test_reply_mismatched_id_or_cmd),
        T(test_reply_unexpected_fds_or_body),
        T(test_dma_map_good),
        T(test_dma_map_bad_argsz),
        T(test_dma_map_bad_flags),
        T(test_dma_map_overflow),
        T(test_dma_map_two_fds),
        T(test_dma_map_reply_empty),
        T(test_dma_unmap_good),
        T(test_dma_unmap_bad_argsz),
        T(test_dma_unmap_bad_flags),
        T(test_dma_unmap_overflow),
        T(test_dma_unmap_dirty_bitmap),
        T(test_device_get_info),
        T(test_region_info_request),
        T(test_region_info_reply),
        T(test_region_io_fds),
        T(test_irq_info),
        T(test_set_irqs_good),
        T(test_set_irqs_bad_flags),
        T(test_set_irqs_bad_counts),
        T(test_set_irqs_bad_body),
        T(test_region_read_request),
        T(test_region_read_extra_body),
        T(test_region_write_request),
        T(test_region_read_reply),
        T(test_region_access_count0_empty_reply),
        T(test_region_write_reply),
        T(test_dma_read_request),
        T(test_dma_write_request),
        T(test_dma_read_write_replies),
        T(test_device_reset_body),
        T(test_write_multi_good),
        T(test_write_multi_bad),
        T(test_write_multi_reply),
        T(test_device_feature_ops),
        T(test_device_feature_set_data),
        T(test_device_feature_report),
        T(test_device_feature_reply),
        T(test_mig_data_read_request),
        T(test_mig_data_read_reply),
        T(test_mig_data_write),
        T(test_msg_take_fd),
        T(test_msg_free_closes_untaken),
        T(test_parse_buf),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
