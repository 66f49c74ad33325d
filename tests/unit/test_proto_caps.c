/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_proto_caps.c - VERSION capabilities JSON (defaults, what QEMU and
 * libvfio-user send, malformed input, format/parse round trip) and the
 * trace line formatter.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_proto_util.h"

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_fd_setup, tu_fd_teardown)

static int
parse(const char *json, proto_caps_t *caps)
{
    return proto_caps_parse(json, strlen(json) + 1, caps);
}

static void
assert_defaults(const proto_caps_t *c)
{
    assert_int_equal(c->max_msg_fds, 1);
    assert_int_equal(c->max_data_xfer_size, 1u << 20);
    assert_int_equal(c->max_dma_maps, 65535);
    assert_int_equal(c->pgsizes, 4096);
    assert_false(c->twin_socket);
    assert_false(c->write_multiple);
    assert_false(c->has_twin_socket);
    assert_false(c->has_write_multiple);
    assert_false(c->has_migration);
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

static void
test_caps_default_values(void **state)
{
    proto_caps_t c;

    (void)state;
    memset(&c, 0xa5, sizeof(c));
    proto_caps_default(&c);
    assert_defaults(&c);
}

static void
test_caps_parse_empty_gives_defaults(void **state)
{
    proto_caps_t c;

    (void)state;
    assert_int_equal(proto_caps_parse(NULL, 0, &c), 0);
    assert_defaults(&c);
    assert_int_equal(proto_caps_parse("", 1, &c), 0);
    assert_defaults(&c);
    assert_int_equal(parse("{}", &c), 0);
    assert_defaults(&c);
    assert_int_equal(parse("  { \"other\": 1 }\n", &c), 0);
    assert_defaults(&c);
    assert_int_equal(parse("{\"capabilities\":{}}", &c), 0);
    assert_defaults(&c);
}

static void
test_caps_parse_qemu_proposal(void **state)
{
    const char *qemu =
        "{\"capabilities\":{\"max_msg_fds\":16,"
        "\"max_data_xfer_size\":1048576,\"pgsizes\":4096,"
        "\"max_dma_maps\":65535,"
        "\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":134217728},"
        "\"write_multiple\":true}}";
    proto_caps_t c;

    (void)state;
    assert_int_equal(parse(qemu, &c), 0);
    assert_int_equal(c.max_msg_fds, 16);
    assert_int_equal(c.max_data_xfer_size, 1048576);
    assert_int_equal(c.pgsizes, 4096);
    assert_int_equal(c.max_dma_maps, 65535);
    assert_true(c.has_migration);
    assert_int_equal(c.migration_pgsize, 4096);
    assert_true(c.has_write_multiple);
    assert_true(c.write_multiple);
    assert_false(c.has_twin_socket);
}

static void
test_caps_parse_libvfio_user_reply(void **state)
{
    const char *lvu = "{\"capabilities\":{\"max_msg_fds\":8,"
                      "\"max_data_xfer_size\":1048576,"
                      "\"migration\":{\"pgsize\":4096},"
                      "\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}";
    proto_caps_t c;

    (void)state;
    assert_int_equal(parse(lvu, &c), 0);
    assert_int_equal(c.max_msg_fds, 8);
    assert_true(c.has_twin_socket);
    assert_true(c.twin_socket);
    assert_true(c.has_twin_fd_index);
    assert_int_equal(c.twin_fd_index, 0);
    assert_int_equal(c.max_dma_maps, 65535); /* absent: default */
}

static void
test_caps_parse_unknown_keys_ignored(void **state)
{
    proto_caps_t c;

    (void)state;
    assert_int_equal(parse("{\"capabilities\":{\"future\":[1,2,{}],"
                           "\"max_msg_fds\":4,\"x\":\"y\"},\"extra\":null}",
                           &c),
                     0);
    assert_int_equal(c.max_msg_fds, 4);
}

static void
test_caps_parse_twin_socket_forms(void **state)
{
    proto_caps_t c;

    (void)state;
    assert_int_equal(parse("{\"capabilities\":{\"twin_socket\":true}}", &c),
                     0);
    assert_true(c.has_twin_socket && c.twin_socket);
    assert_false(c.has_twin_fd_index);
    assert_int_equal(
        parse("{\"capabilities\":{\"twin_socket\":{\"supported\":false}}}",
              &c),
        0);
    assert_true(c.has_twin_socket);
    assert_false(c.twin_socket);
    assert_int_equal(
        parse("{\"capabilities\":{\"twin_socket\":{\"supported\":1}}}", &c),
        -EINVAL);
    assert_int_equal(
        parse("{\"capabilities\":{\"twin_socket\":{\"fd_index\":-1}}}", &c),
        -EINVAL);
    assert_int_equal(parse("{\"capabilities\":{\"twin_socket\":\"yes\"}}", &c),
                     -EINVAL);
}

static void
test_caps_parse_wrong_types(void **state)
{
    static const char *bad[] = {
        "{\"capabilities\":{\"max_msg_fds\":\"8\"}}",
        "{\"capabilities\":{\"max_msg_fds\":8.0}}",
        "{\"capabilities\":{\"max_msg_fds\":true}}",
        "{\"capabilities\":{\"max_data_xfer_size\":null}}",
        "{\"capabilities\":{\"max_dma_maps\":[1]}}",
        "{\"capabilities\":{\"pgsizes\":{}}}",
        "{\"capabilities\":{\"write_multiple\":1}}",
        "{\"capabilities\":{\"write_multiple\":\"true\"}}",
        "{\"capabilities\":{\"migration\":4096}}",
        "{\"capabilities\":{\"migration\":{\"pgsize\":\"4096\"}}}",
        "{\"capabilities\":{\"migration\":{\"max_bitmap_size\":1.5}}}",
        "{\"capabilities\":[]}",
        "{\"capabilities\":1}",
        "[]",
        "42",
        "\"capabilities\"",
    };
    proto_caps_t c;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&c, 0x5a, sizeof(c));
        assert_int_equal(parse(bad[i], &c), -EINVAL);
        /* a failed parse leaves the defaults, never half a result */
        assert_defaults(&c);
    }
}

static void
test_caps_parse_bad_values(void **state)
{
    static const char *bad[] = {
        "{\"capabilities\":{\"max_msg_fds\":-1}}",
        "{\"capabilities\":{\"max_msg_fds\":1025}}",
        "{\"capabilities\":{\"max_msg_fds\":4294967297}}",
        "{\"capabilities\":{\"max_data_xfer_size\":0}}",
        "{\"capabilities\":{\"max_data_xfer_size\":-4096}}",
        "{\"capabilities\":{\"max_data_xfer_size\":67108865}}",
        "{\"capabilities\":{\"max_data_xfer_size\":18446744073709551615}}",
        "{\"capabilities\":{\"max_dma_maps\":0}}",
        "{\"capabilities\":{\"max_dma_maps\":1000001}}",
        "{\"capabilities\":{\"pgsizes\":0}}",
        "{\"capabilities\":{\"pgsizes\":4097}}",
        "{\"capabilities\":{\"pgsizes\":512}}",
        "{\"capabilities\":{\"pgsizes\":-4096}}",
        "{\"capabilities\":{\"migration\":{\"pgsize\":0}}}",
        "{\"capabilities\":{\"migration\":{\"pgsize\":3000}}}",
    };
    proto_caps_t c;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], &c), -EINVAL);
    }
}

static void
test_caps_parse_limits_accepted(void **state)
{
    proto_caps_t c;

    (void)state;
    assert_int_equal(parse("{\"capabilities\":{\"max_msg_fds\":0,"
                           "\"max_data_xfer_size\":67108864,"
                           "\"max_dma_maps\":1000000,"
                           "\"pgsizes\":18446744073709547520}}",
                           &c),
                     0);
    assert_int_equal(c.max_msg_fds, 0);
    assert_int_equal(c.max_data_xfer_size, 64u << 20);
    assert_int_equal(c.max_dma_maps, 1000000);
    assert_true(c.pgsizes == 0xfffffffffffff000ull);
    /* 64 KiB pages only */
    assert_int_equal(parse("{\"capabilities\":{\"pgsizes\":65536}}", &c), 0);
    assert_int_equal(c.pgsizes, 65536);
}

static void
test_caps_parse_malformed_text(void **state)
{
    static const char *bad[] = {
        "{",
        "{\"capabilities\":",
        "{} {}",
        "{}x",
        "{\"a\":1,}",
        "nope",
    };
    char big[PROTO_MAX_JSON + 16];
    proto_caps_t c;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], &c), -EINVAL);
    }
    /* NUL optional at the end; elsewhere it is garbage */
    assert_int_equal(proto_caps_parse("{}", 2, &c), 0);
    assert_int_equal(proto_caps_parse("{}\0{}", 6, &c), -EINVAL);
    assert_int_equal(proto_caps_parse("\0{}", 4, &c), -EINVAL);
    /* a prefix of a valid text is not valid */
    assert_int_equal(proto_caps_parse("{\"capabilities\":{}}", 10, &c),
                     -EINVAL);
    /* too long, even if well formed */
    memset(big, ' ', sizeof(big));
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(proto_caps_parse(big, sizeof(big), &c), -EINVAL);
    /* the limit counts the NUL: 4095 bytes of text fit, 4096 do not */
    big[PROTO_MAX_JSON - 2] = '}';
    big[PROTO_MAX_JSON - 1] = '\0';
    assert_int_equal(proto_caps_parse(big, PROTO_MAX_JSON, &c), 0);
    assert_int_equal(proto_caps_parse(big, PROTO_MAX_JSON - 1, &c), 0);
    big[PROTO_MAX_JSON - 1] = ' ';
    big[PROTO_MAX_JSON] = '\0';
    assert_int_equal(proto_caps_parse(big, PROTO_MAX_JSON + 1, &c), -EINVAL);
}

static void
test_caps_parse_deep_nesting(void **state)
{
    char deep[256];
    proto_caps_t c;
    size_t i, n = 100;

    (void)state;
    /* {"capabilities":{"x":[[[[...]]]]}} nested past the depth limit */
    strcpy(deep, "{\"capabilities\":{\"x\":");
    for (i = 0; i < n; i++) {
        strcat(deep, "[");
    }
    for (i = 0; i < n; i++) {
        strcat(deep, "]");
    }
    strcat(deep, "}}");
    assert_int_equal(parse(deep, &c), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Formatting                                                          */
/* ------------------------------------------------------------------ */

static void
test_caps_format_like_libvfio_user(void **state)
{
    proto_caps_t c;
    char *s;

    (void)state;
    proto_caps_default(&c);
    c.max_msg_fds = 8;
    s = proto_caps_format(&c, false, false);
    assert_non_null(s);
    assert_string_equal(s, "{\"capabilities\":{\"max_msg_fds\":8,"
                           "\"max_data_xfer_size\":1048576,"
                           "\"max_dma_maps\":65535,\"pgsizes\":4096}}");
    free(s);

    c.has_migration = true;
    c.twin_socket = true;
    c.has_twin_fd_index = true;
    c.twin_fd_index = 0;
    c.write_multiple = true;
    s = proto_caps_format(&c, true, true);
    assert_non_null(s);
    assert_string_equal(s, "{\"capabilities\":{\"max_msg_fds\":8,"
                           "\"max_data_xfer_size\":1048576,"
                           "\"max_dma_maps\":65535,\"pgsizes\":4096,"
                           "\"migration\":{\"pgsize\":4096},"
                           "\"twin_socket\":{\"supported\":true,"
                           "\"fd_index\":0},"
                           "\"write_multiple\":true}}");
    free(s);
}

static void
test_caps_format_parse_round_trip(void **state)
{
    proto_caps_t in, out;
    char *s;

    (void)state;
    proto_caps_default(&in);
    in.max_msg_fds = 253;
    in.max_data_xfer_size = 64u << 20;
    in.max_dma_maps = 12;
    in.pgsizes = 0xfffffffffffff000ull; /* above INT64_MAX */
    in.has_migration = true;
    in.migration_pgsize = 65536;
    in.twin_socket = true;
    in.has_twin_fd_index = true;
    in.twin_fd_index = 3;
    in.write_multiple = true;
    s = proto_caps_format(&in, true, true);
    assert_non_null(s);
    assert_int_equal(parse(s, &out), 0);
    free(s);
    assert_int_equal(out.max_msg_fds, in.max_msg_fds);
    assert_int_equal(out.max_data_xfer_size, in.max_data_xfer_size);
    assert_int_equal(out.max_dma_maps, in.max_dma_maps);
    assert_true(out.pgsizes == in.pgsizes);
    assert_true(out.has_migration);
    assert_int_equal(out.migration_pgsize, 65536);
    assert_true(out.has_twin_socket && out.twin_socket);
    assert_true(out.has_twin_fd_index);
    assert_int_equal(out.twin_fd_index, 3);
    assert_true(out.has_write_multiple && out.write_multiple);

    /* without the optional keys, the parsed side does not see them */
    s = proto_caps_format(&in, false, false);
    assert_non_null(s);
    assert_int_equal(parse(s, &out), 0);
    free(s);
    assert_false(out.has_twin_socket);
    assert_false(out.has_write_multiple);
}

/* ------------------------------------------------------------------ */
/* Trace                                                               */
/* ------------------------------------------------------------------ */

static void
test_trace_region_read(void **state)
{
    struct vfio_user_region_access ra = {.offset = 0, .region = 7, .count = 4};
    struct vfio_user_header h, r;
    char line[256];
    int n;

    (void)state;
    proto_hdr_cmd(&h, 3, VFIO_USER_REGION_READ, sizeof(ra), false);
    n = proto_trace_format(line, sizeof(line), "client>", &h, &ra, sizeof(ra),
                           0);
    assert_string_equal(line,
                        "client> #3 REGION_READ cmd size=32 region=7 off=0x0 "
                        "count=4");
    assert_int_equal(n, (int)strlen(line));

    proto_hdr_reply(&r, &h, 0, EINVAL);
    proto_trace_format(line, sizeof(line), "server<", &r, NULL, 0, 0);
    assert_string_equal(line, "server< #3 REGION_READ reply size=16 "
                              "err=22(EINVAL)");
}

static void
test_trace_decodes_fields(void **state)
{
    struct vfio_user_header h;
    char line[512];
    struct vfio_user_dma_map m = {.argsz = 32, .flags = 3, .offset = 0x2000,
                                  .addr = 0x100000, .size = 0x1000};
    struct vfio_irq_set s = {.argsz = 20,
                             .flags = VFIO_IRQ_SET_DATA_EVENTFD |
                                      VFIO_IRQ_SET_ACTION_TRIGGER,
                             .index = 4, .start = 0, .count = 2};
    uint8_t v[4 + 20] = {0, 0, 2, 0};

    (void)state;
    proto_hdr_cmd(&h, 1, VFIO_USER_DMA_MAP, sizeof(m), false);
    proto_trace_format(line, sizeof(line), "c>", &h, &m, sizeof(m), 1);
    assert_non_null(strstr(line, "addr=0x100000 size=0x1000 off=0x2000"));
    assert_non_null(strstr(line, "fds=1"));

    proto_hdr_cmd(&h, 2, VFIO_USER_DEVICE_SET_IRQS, sizeof(s), true);
    proto_trace_format(line, sizeof(line), "c>", &h, &s, sizeof(s), 2);
    assert_non_null(strstr(line, "noreply"));
    assert_non_null(strstr(line, "index=4 start=0 count=2"));
    assert_non_null(strstr(line, "trigger,eventfd"));

    {
        struct {
            struct vfio_user_device_feature f;
            struct vfio_user_device_feature_mig_state st;
        } __attribute__((packed)) f = {
            .f = {.argsz = 16,
                  .flags = VFIO_DEVICE_FEATURE_SET |
                           VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE},
            .st = {.device_state = VFIO_USER_DEVICE_STATE_STOP_COPY},
        };
        struct {
            struct vfio_user_write_multi wm;
            struct vfio_user_write_multi_data wr[5];
        } __attribute__((packed)) w = {.wm = {.wr_cnt = 5}};

        proto_hdr_cmd(&h, 4, VFIO_USER_DEVICE_FEATURE, sizeof(f), false);
        proto_trace_format(line, sizeof(line), "c>", &h, &f, sizeof(f), 0);
        assert_non_null(strstr(line, "feature=2 ops=S argsz=16 state=3"));
        w.wr[1].region = 2;
        w.wr[1].offset = 0x40;
        w.wr[1].count = 4;
        proto_hdr_cmd(&h, 5, VFIO_USER_REGION_WRITE_MULTI, sizeof(w), true);
        proto_trace_format(line, sizeof(line), "c>", &h, &w, sizeof(w), 0);
        assert_non_null(strstr(line, "wr_cnt=5 [region=0 off=0x0 count=0] "
                                     "[region=2 off=0x40 count=4]"));
        assert_non_null(strstr(line, "] ..."));
    }

    memcpy(v + 4, "{\"a\":\n1}", 9);
    proto_hdr_cmd(&h, 0, VFIO_USER_VERSION, sizeof(v), false);
    proto_trace_format(line, sizeof(line), "c>", &h, v, sizeof(v), 0);
    assert_non_null(strstr(line, "version=0.2 json={\"a\":.1}"));
}

static void
test_trace_short_bodies_never_overrun(void **state)
{
    struct vfio_user_header h;
    char line[256];
    uint8_t *body;
    size_t i, len;

    (void)state;
    /*
     * Every command with every truncated body length, each body in its own
     * exact-size allocation so ASan/valgrind catch a read past its end.
     */
    for (i = 0; i < PROTO_NR_COMMANDS; i++) {
        const proto_cmd_t *c = proto_cmd_at(i);

        for (len = 0; len <= 48; len++) {
            body = len > 0 ? malloc(len) : NULL;
            if (len > 0) {
                assert_non_null(body);
                memset(body, 0xff, len);
            }
            proto_hdr_cmd(&h, 9, c->cmd, len, false);
            assert_true(proto_trace_format(line, sizeof(line), "x", &h, body,
                                           len, 0) > 0);
            assert_true(strlen(line) < sizeof(line));
            h.flags = VFIO_USER_F_TYPE_REPLY;
            assert_true(proto_trace_format(line, sizeof(line), "x", &h, body,
                                           len, 0) > 0);
            free(body);
        }
    }
}

static void
test_trace_truncated_buffer(void **state)
{
    struct vfio_user_region_access ra = {.offset = 0, .region = 7, .count = 4};
    struct vfio_user_header h;
    char full[256];
    char small[16];
    int n, m;

    (void)state;
    proto_hdr_cmd(&h, 3, VFIO_USER_REGION_READ, sizeof(ra), false);
    n = proto_trace_format(full, sizeof(full), "client>", &h, &ra, sizeof(ra),
                           0);
    memset(small, 'Z', sizeof(small));
    m = proto_trace_format(small, sizeof(small), "client>", &h, &ra,
                           sizeof(ra), 0);
    assert_int_equal(m, n); /* snprintf semantics: the full length */
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, full, sizeof(small) - 1);
    assert_int_equal(proto_trace_format(NULL, 0, "client>", &h, &ra,
                                        sizeof(ra), 0),
                     n);
}

static void
test_trace_unknown_and_odd(void **state)
{
    struct vfio_user_header h;
    char line[256];
    uint8_t body[4] = {0};

    (void)state;
    proto_hdr_cmd(&h, 1, 99, 0, false);
    proto_trace_format(line, sizeof(line), "s<", &h, NULL, 0, 0);
    assert_non_null(strstr(line, "UNKNOWN(99)"));
    h.flags = 7;
    proto_trace_format(line, sizeof(line), "s<", &h, body, sizeof(body), 0);
    assert_non_null(strstr(line, "type=7"));
    /* a body pointer of NULL with a length is treated as empty */
    proto_hdr_cmd(&h, 1, VFIO_USER_REGION_READ, 16, false);
    proto_trace_format(line, sizeof(line), "s<", &h, NULL, 16, 0);
    assert_non_null(strstr(line, "short body 0"));
}

static void
test_trace_enabled_env(void **state)
{
    (void)state;
    unsetenv("VFU_TRACE");
    assert_false(proto_trace_enabled());
    setenv("VFU_TRACE", "", 1);
    assert_false(proto_trace_enabled());
    setenv("VFU_TRACE", "0", 1);
    assert_false(proto_trace_enabled());
    setenv("VFU_TRACE", "1", 1);
    assert_true(proto_trace_enabled());
    setenv("VFU_TRACE", "all", 1);
    assert_true(proto_trace_enabled());
    unsetenv("VFU_TRACE");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_caps_default_values),
        T(test_caps_parse_empty_gives_defaults),
        T(test_caps_parse_qemu_proposal),
        T(test_caps_parse_libvfio_user_reply),
        T(test_caps_parse_unknown_keys_ignored),
        T(test_caps_parse_twin_socket_forms),
        T(test_caps_parse_wrong_types),
        T(test_caps_parse_bad_values),
        T(test_caps_parse_limits_accepted),
        T(test_caps_parse_malformed_text),
        T(test_caps_parse_deep_nesting),
        T(test_caps_format_like_libvfio_user),
        T(test_caps_format_parse_round_trip),
        T(test_trace_region_read),
        T(test_trace_decodes_fields),
        T(test_trace_short_bodies_never_overrun),
        T(test_trace_truncated_buffer),
        T(test_trace_unknown_and_odd),
        T(test_trace_enabled_env),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
