/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scn_parse.c - the scenario parser: every statement form parses;
 * every syntax error names file:line:col with a clear message; includes,
 * limits, numbers and expressions; garbage and mutated input never crash.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/testutil.h"

#include "harness/scn_private.h"
#include "vfio-user/scenario.h"

static int
parse(const char *text, scn_script_t **sc, scn_diag_t *d)
{
    return scn_parse_buf("t.vus", text, strlen(text), SCN_PARSE_NO_INCLUDE,
                         sc, d);
}

/* ------------------------------------------------------------------ */
/* Every statement                                                     */
/* ------------------------------------------------------------------ */

static const char every_statement[] =
    "# exercises every statement form\n"
    "device gpio\n"
    "option version 0.0\n"
    "option max_msg_fds 8\n"
    "option max_data_xfer_size 64K\n"
    "option max_dma_maps 16\n"
    "option pgsizes 4K\n"
    "option write_multiple on\n"
    "option twin_socket off\n"
    "option negotiate on\n"
    "option timeout 2s\n"
    "option connect_timeout 500ms\n"
    "info device flags == 0x3 mask 0x3\n"
    "info device num_regions >= 9 -> $nr\n"
    "info region bar0 size == 256\n"
    "info region 9 error EINVAL\n"
    "info region region 7 flags != 0\n"
    "info irq intx count == 1\n"
    "info irq 7 error EINVAL|ENOENT\n"
    "info caps max_msg_fds <= 16\n"
    "info dma reads < 100\n"
    "info cap 0x01 offset > 0x3f -> $pm\n"
    "info extcap 1 error ENOENT\n"
    "require caps write_multiple == 1\n"
    "require inproc\n"
    "require socket\n"
    "require own-target\n"
    "require region bar2 size == 32\n"
    "config read8 0x00 == 0x58\n"
    "config read16 0 == 0x4e58 mask 0xffff -> $v\n"
    "config read32 ($pm + 2) != 0\n"
    "bar0 read64 0x0 error any\n"
    "bar0 write8 0x40 0xff\n"
    "bar0 write16 0x40 0xffff error EINVAL\n"
    "bar0 write32 0x40 $v\n"
    "bar0 write64 0x40 0xffffffffffffffff\n"
    "bar2 read 0 4 == hex:00_000000\n"
    "bar2 read 0 4 != u8:1 any:3\n"
    "rom write 0 hex:01 u16:2 str:'a b' zero:2 fill:2:0xff\n"
    "vga read 0 1 error EINVAL\n"
    "region 5 read32 0\n"
    "batch {\n"
    "  bar0 write32 0x40 1\n"
    "  bar0 write 0x44 hex:0102\n"
    "  repeat 2 { bar0 write8 0x40 2 }\n"
    "}\n"
    "mem map 0x100000 64K\n"
    "mem map 0x200000 4K ro nofd error EEXIST\n"
    "mem map 0x300000 4K wo\n"
    "mem unmap 0x300000 4K\n"
    "mem unmap all error any\n"
    "mem write 0x100000 u32:1 u64:$v\n"
    "mem fill 0x100000 4K 0xa5\n"
    "mem write32 0x100000 7\n"
    "mem expect 0x100000 u32:7 any:4 ...\n"
    "mem read16 0x100000 == 7 -> $m\n"
    "mem crc32c 0x100000 4K == 0x12345678\n"
    "mem crc32 0x100000 16 -> $crc\n"
    "irq intx enable\n"
    "irq msix enable 0-3\n"
    "irq msix enable $v error any\n"
    "irq intx mask 0\n"
    "irq intx unmask\n"
    "irq intx disable\n"
    "irq 2 disable error EINVAL\n"
    "expect irq intx 0\n"
    "expect irq msix 2 count 3 within 100ms\n"
    "expect no irq intx\n"
    "expect no irq msix 1\n"
    "reset\n"
    "reset error EPERM|ok\n"
    "reconnect\n"
    "poll\n"
    "poll 10ms\n"
    "set $x (1 + 2 * 3)\n"
    "check $x == 7\n"
    "check ($x << 4 | 1) > 0x70\n"
    "echo hello 'world'\n"
    "raw DEVICE_GET_INFO u32:16 zero:12 reply u32:16 any:12\n"
    "raw 14 error any\n"
    "raw DEVICE_SET_IRQS u32:24 u32:0x24 u32:0 u32:0 u32:1 fd:eventfd ok\n"
    "raw DMA_MAP u32:32 u32:3 u64:0 u64:0x1000 u64:4K fd:memfd:4K\n"
    "raw VERSION hex:00 error any|hangup\n"
    "raw DEVICE_RESET hangup\n"
    "send u16:1 u16:4 u32:32 u32:0 u32:0 u32:16 zero:12 fd:null*2\n"
    "recv\n"
    "recv ok\n"
    "recv reply u32:16 ...\n"
    "recv error EINVAL\n"
    "recv hangup\n"
    "repeat 3 as $i {\n"
    "    repeat $i { bar0 write32 0x40 $i }\n"
    "}\n"
    "repeat 0 {\n"
    "}\n"
    "migrate\n"
    "migrate precopy iters 4\n"
    "migrate noprecopy nodirty error ENOTSUP|ok\n"
    "snapshot s1\n"
    "snapshot '/tmp/a b' error any\n"
    "restore s1\n"
    "dirty start\n"
    "dirty start ($x * 4K) error EINVAL\n"
    "dirty pages 0 64K == 2\n"
    "dirty pages $x 4K error EINVAL\n"
    "dirty stop\n"
    "info mig state == 2\n"
    "info mig flags == 0x3 mask 0x3 -> $f\n"
    "info mig state error ENOTSUP\n"
    "require mig flags == 1 mask 1\n"
    "require new-instance\n";

static void
test_scn_parse_every_statement(void **state)
{
    scn_script_t *sc = NULL;
    scn_diag_t d;
    int rc;

    (void)state;
    rc = parse(every_statement, &sc, &d);
    if (rc != 0) {
        char msg[1200];

        scn_diag_format(&d, msg, sizeof(msg));
        fail_msg("%s", msg);
    }
    assert_non_null(sc);
    assert_string_equal(scn_script_summary(sc), "exercises every statement form");
    assert_string_equal(scn_script_name(sc), "t.vus");
    /* statements after the header, block contents included */
    assert_int_equal(scn_script_statements(sc), 98);
    assert_int_equal(sc->target, SCN_TARGET_DEVICE);
    assert_string_equal(sc->target_arg, "gpio");
    assert_int_equal(sc->opts.max_data_xfer_size, 64 * 1024);
    assert_true(sc->opts.write_multiple);
    assert_int_equal(sc->opts.timeout_ms, 2000);
    assert_int_equal(sc->connect_timeout_ms, 500);
    scn_script_free(sc);
}

static void
test_scn_parse_targets(void **state)
{
    scn_script_t *sc = NULL;
    scn_diag_t d;

    (void)state;
    assert_int_equal(parse("connect unix:/tmp/x.sock\n", &sc, &d), 0);
    assert_int_equal(sc->target, SCN_TARGET_SOCKET);
    assert_string_equal(sc->target_arg, "/tmp/x.sock");
    scn_script_free(sc);

    assert_int_equal(parse("spawn 'a {sock} b'\n", &sc, &d), 0);
    assert_int_equal(sc->target, SCN_TARGET_SPAWN);
    assert_string_equal(sc->target_arg, "a {sock} b");
    scn_script_free(sc);

    /* several tokens: the text as written, quotes kept for the shell */
    assert_int_equal(parse("spawn ./srv -s {sock} 'x y' # c\n", &sc, &d), 0);
    assert_string_equal(sc->target_arg, "./srv -s {sock} 'x y'");
    scn_script_free(sc);

    /* 'hangup' and 'ok' alone are errno sets after 'error' (a recorder
     * writes them); they used to be refused as clause words */
    assert_int_equal(parse("device gpio\nconfig read16 0 error hangup\n"
                           "reset error ok\n",
                           &sc, &d),
                     0);
    scn_script_free(sc);

    /* no target at all is fine for the parser (vfu-run --socket) */
    assert_int_equal(parse("reset\n", &sc, &d), 0);
    assert_int_equal(sc->target, SCN_TARGET_SCRIPT);
    scn_script_free(sc);

    /* empty file, comments only, continuation, CRLF */
    assert_int_equal(parse("", &sc, &d), 0);
    assert_int_equal(scn_script_statements(sc), 0);
    scn_script_free(sc);
    assert_int_equal(parse("# SPDX-License-Identifier: X\n# what\n\n", &sc,
                           &d), 0);
    assert_string_equal(scn_script_summary(sc), "what");
    scn_script_free(sc);
    assert_int_equal(parse("device gpio\r\nbar0 write 0 hex:01 \\\r\n"
                           "  hex:02\r\n", &sc, &d), 0);
    assert_int_equal(sc->stmts[0].bytes.len, 2);
    scn_script_free(sc);
}

/* ------------------------------------------------------------------ */
/* Syntax errors: file, line, column and message                       */
/* ------------------------------------------------------------------ */

typedef struct bad_case {
    const char *text;
    unsigned line, col;
    const char *msg; /* a substring of the message */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"frobnicate 1\n", 1, 1, "unknown statement 'frobnicate'"},
    {"device gpio\n\nbar0 red32 0\n", 3, 6, "expected read8/16/32/64"},
    {"bar0 read32\n", 1, 12, "expected an offset at the end of the line"},
    {"bar0 read32 0x1g\n", 1, 13, "bad digit 'g' in hex number"},
    {"bar0 read32 99999999999999999999\n", 1, 13, "number out of range"},
    {"bar0 read32 1__0\n", 1, 13, "'_' must stand between two digits"},
    {"bar0 read32 0 == \n", 1, 17, "expected a value to compare with"},
    {"bar0 read32 0 == 1 == 2\n", 1, 20, "only one comparison"},
    {"bar0 read32 0 mask 3\n", 1, 15, "'mask' needs a comparison"},
    {"bar0 read32 0 == 1 error EINVAL\n", 1, 15, "cannot be combined"},
    {"bar0 read32 0 error EWHAT\n", 1, 21, "unknown errno 'EWHAT'"},
    {"bar0 read32 0 error EINVAL|\n", 1, 21, "empty alternative"},
    {"bar0 read32 0 error\n", 1, 20, "expected an errno after 'error'"},
    {"bar0 read32 0 -> x\n", 1, 18, "expected a variable ($name)"},
    {"bar0 read32 0 -> $a -> $b\n", 1, 21, "only one capture"},
    {"bar0 read8 0 == 0x100\n", 1, 6, "does not fit in 1 byte"},
    {"bar0 write16 0 0x10000\n", 1, 16, "does not fit in 2 bytes"},
    {"bar0 write32 0 1 == 1\n", 1, 18, "unexpected '=='"},
    {"bar0 read 0 4 == hex:0102\n", 1, 13, "length 4 but 2 expected bytes"},
    {"bar0 read 0 2M\n", 1, 13, "length above 1 MiB"},
    {"bar0 read 0 4 < hex:00\n", 1, 15, "bytes compare only with == or !="},
    {"bar0 write 0\n", 1, 13, "expected bytes"},
    {"bar0 write 0 hex:012\n", 1, 14, "odd number of hex digits"},
    {"bar0 write 0 hex:01zz\n", 1, 20, "bad hex digit 'z'"},
    {"bar0 write 0 u8:256\n", 1, 14, "does not fit in 1 byte"},
    {"bar0 write 0 any:4\n", 1, 14, "any:N only in expected bytes"},
    {"bar0 write 0 zero:$x\n", 1, 19, "variable $x used before it is set"},
    {"set $n 4\nbar0 write 0 zero:$n\n", 2, 19, "must be a constant"},
    {"bar0 write 0 fill:4\n", 1, 14, "fill needs a count and a byte"},
    {"bar0 write 0 zero:2M\n", 1, 14, "byte count above 1 MiB"},
    {"bar0 read32 $nope\n", 1, 13, "variable $nope used before it is set"},
    {"bar0 read32 ($a + 1)\n", 1, 14, "variable $a used before"},
    {"bar0 read32 (1 +)\n", 1, 17, "expected a value"},
    {"bar0 read32 (1\n", 1, 15, "unclosed parenthesis"},
    {"bar0 read32 1)\n", 1, 14, "')' without '('"},
    {"bar0 read32 (1/0)\n", 1, 13, "division by zero"},
    {"bar0 read32 (1 << 64)\n", 1, 13, "shift by 64"},
    {"bar0 read32 1+\n", 1, 15, "expected a value"},
    {"bar0 read32 'abc\n", 1, 13, "unclosed quote"},
    {"echo \"a\\q\"\n", 1, 8, "unknown escape '\\q'"},
    {"echo \"\\x4\"\n", 1, 7, "\\x needs two hex digits"},
    {"bar0 read32 0\x01\n", 1, 14, "control character 0x01"},
    {"bar0 read32 0\n\x00\n", 2, 1, "control character 0x00"},
    {"config read32 0\ndevice gpio\n", 2, 1, "must come before the first"},
    {"device gpio\ndevice gpio\n", 2, 1, "only one target"},
    {"connect /tmp/x\n", 1, 9, "expected unix:PATH"},
    {"device\n", 1, 7, "expected a device name"},
    {"option timeout\n", 1, 15, "expected an option value"},
    {"option frob 1\n", 1, 8, "unknown option 'frob'"},
    {"option timeout 5x\n", 1, 16, "bad duration '5x'"},
    {"option timeout 2h\n", 1, 16, "bad duration"},
    {"option timeout 3601s\n", 1, 16, "above 3600s"},
    {"option write_multiple yes\n", 1, 23, "expected on or off"},
    {"option version 1\n", 1, 16, "expected MAJOR.MINOR"},
    {"option max_msg_fds 0\n", 1, 20, "must be 1..1024"},
    {"option pgsizes 512\n", 1, 16, "no bit below 4K"},
    {"option timeout 1s\noption timeout 2s\n", 2, 8, "given twice"},
    {"repeat 2 {\noption timeout 1s\n}\n", 2, 1, "cannot be inside a block"},
    {"repeat 2 {\nreset\n", 1, 1, "block not closed"},
    {"reset\n}\n", 2, 1, "'}' without an open block"},
    {"repeat 2 {\n} x\n", 2, 3, "'}' stands alone"},
    {"repeat 2\n", 1, 9, "expected '{' at the end of the line"},
    {"repeat 2 { reset\n", 1, 12, "a one-line repeat ends with '}'"},
    {"repeat 2 { }\n", 1, 12, "empty repeat body"},
    {"repeat 2000000 { reset }\n", 1, 8, "repeat count above 1000000"},
    {"repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { repeat 1 { "
     "repeat 1 { repeat 1 { repeat 1 { reset } } } } } } } } }\n",
     1, 0, "nested too deep"},
    {"batch {\nbar0 read32 0\n}\n", 2, 1, "a batch holds only region writes"},
    {"batch {\nbar0 write 0 zero:9\n}\n", 2, 1, "at most 8 bytes"},
    {"batch {\nbar0 write8 0 1 error any\n}\n", 2, 1, "no error clause"},
    {"batch { bar0 write8 0 1 }\n", 1, 9, "starts on the next line"},
    {"batch {\nbatch {\n}\n}\n", 2, 1, "batch inside a batch"},
    {"include x.inc\n", 1, 9, "include is disabled here"},
    {"include\n", 1, 1, "expected a path after include"},
    {"repeat 1 { include x }\n", 1, 12, "include must stand on its own"},
    {"migrate frob\n", 1, 9, "expected precopy, noprecopy, iters, nodirty"},
    {"migrate precopy noprecopy\n", 1, 17, "given twice"},
    {"migrate iters\n", 1, 14, "expected an iteration count"},
    {"migrate iters 0\n", 1, 15, "iters must be 1 to 1000"},
    {"migrate iters 1001\n", 1, 15, "iters must be 1 to 1000"},
    {"migrate iters 2 iters 3\n", 1, 17, "iters given twice"},
    {"migrate nodirty nodirty\n", 1, 17, "nodirty given twice"},
    {"migrate noprecopy iters 2\n", 1, 19, "iters makes no sense"},
    {"migrate error\n", 1, 14, "expected an errno after 'error'"},
    {"set $n 2\nmigrate iters $n\n", 2, 15, "must be a constant"},
    {"snapshot\n", 1, 9, "expected a snapshot file"},
    {"snapshot error EINVAL\n", 1, 10, "expected a snapshot file"},
    {"snapshot a/b\n", 1, 10, "a snapshot file is a file name"},
    {"restore ..\n", 1, 9, "a snapshot file is a file name"},
    {"restore a b\n", 1, 11, "unexpected 'b'"},
    {"dirty\n", 1, 6, "expected start, stop or pages"},
    {"dirty begin\n", 1, 7, "expected start, stop or pages"},
    {"dirty start 3000\n", 1, 13, "power of two"},
    {"dirty start 0\n", 1, 13, "power of two"},
    {"dirty stop now\n", 1, 12, "unexpected 'now'"},
    {"dirty pages 0\n", 1, 14, "expected a size"},
    {"dirty pages 0 4K =\n", 1, 18, "unexpected '='"},
    {"info mig frob\n", 1, 10, "a field (state, flags)"},
    {"info new-instance\n", 1, 6, "'new-instance' only after require"},
    {"require new-instance == 1\n", 1, 22, "unexpected '=='"},
    {"require frob\n", 1, 9, "own-target or new-instance"},
    {"info mig error EINVAL\n", 1, 10, "a field (state, flags)"},
    {"batch {\nmigrate\n}\n", 2, 1, "a batch holds only region writes"},
    {"info frob\n", 1, 6, "expected device, region, irq"},
    {"info device size\n", 1, 13, "a field (flags, num_regions, num_irqs)"},
    {"info region bar9 size\n", 1, 13, "expected a region"},
    {"info irq intx frob\n", 1, 15, "a field (count, flags)"},
    {"info device flags error EINVAL\n", 1, 19, "unexpected 'error'"},
    {"info inproc\n", 1, 6, "'inproc' only after require"},
    {"require caps max_msg_fds\n", 1, 25, "expected a comparison"},
    {"require caps max_msg_fds == 1 -> $x\n", 1, 31, "unexpected '->'"},
    {"mem map 0x1000\n", 1, 15, "expected a size"},
    {"mem map 0 4K rx\n", 1, 14, "unexpected 'rx'"},
    {"mem frob\n", 1, 5, "expected map, unmap"},
    {"mem fill 0 4 256\n", 1, 14, "does not fit in 1 byte"},
    {"irq intx frob\n", 1, 10, "expected enable, disable, mask or unmask"},
    {"irq intx enable 3-1\n", 1, 17, "ends before it starts"},
    {"irq intx disable 0\n", 1, 18, "unexpected '0'"},
    {"expect irq\n", 1, 11, "an IRQ index"},
    {"expect frob\n", 1, 8, "expected irq or no irq"},
    {"expect irq intx 0 within soon\n", 1, 26, "bad duration"},
    {"raw\n", 1, 4, "expected a command name or number"},
    {"raw FROB\n", 1, 5, "unknown command 'FROB'"},
    {"raw 70000\n", 1, 5, "command number above 65535"},
    {"raw 14 fd:socket\n", 1, 8, "unknown fd 'fd:socket'"},
    {"raw 14 fd:eventfd*0\n", 1, 8, "fd count must be 1..253"},
    {"raw 14 fd:eventfd*200 fd:null*100\n", 1, 23, "too many fds"},
    {"raw 14 fd:memfd:2G\n", 1, 8, "memfd size above 1 GiB"},
    {"raw 14 reply hex:00 ... hex:01\n", 1, 25, "'...' must come last"},
    {"raw 14 error\n", 1, 13, "expected an errno after 'error'"},
    {"raw 14 ok ok\n", 1, 11, "unexpected 'ok'"},
    {"raw 14 bogus\n", 1, 8, "expected ok, error ERRNO, reply BYTES or hangup"},
    {"send\n", 1, 5, "expected bytes"},
    {"send hex:00 ...\n", 1, 13, "'...' only ends an expected reply"},
    {"recv frob\n", 1, 6, "expected ok, error"},
    {"set x 1\n", 1, 5, "expected a variable ($name)"},
    {"set $1x 1\n", 1, 5, "bad variable name"},
    {"set $abcdefghijabcdefghijabcdefghijabc 1\n", 1, 5, "at most 32"},
    {"set $x\n", 1, 7, "expected a value"},
    {"check 1\n", 1, 8, "expected a comparison"},
    {"poll forever\n", 1, 6, "bad duration"},
    {"'quoted' 1\n", 1, 1, "expected a statement, got a string"},
    {"bar0 read32 0 == 1 mask 2 mask 3\n", 1, 27, "only one mask"},
};

static void
test_scn_parse_errors_name_place(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case_t *b = &bad_cases[i];
        scn_script_t *sc = (scn_script_t *)0x1;
        scn_diag_t d;
        char msg[1200];
        int rc;

        /* the NUL case must see the byte: give its real length */
        size_t len = strlen(b->text) + (strstr(b->msg, "0x00") ? 2 : 0);

        rc = scn_parse_buf("bad.vus", b->text, len, SCN_PARSE_NO_INCLUDE, &sc,
                           &d);
        scn_diag_format(&d, msg, sizeof(msg));
        if (rc != -EINVAL || sc != NULL) {
            fail_msg("case %zu (%s): rc %d, expected -EINVAL", i, b->text,
                     rc);
        }
        if (strcmp(d.file, "bad.vus") != 0 || d.line != b->line ||
            (b->col != 0 && d.col != b->col) ||
            strstr(d.msg, b->msg) == NULL) {
            fail_msg("case %zu: %s\n  got: %s\n  want: bad.vus:%u:%u: ... %s",
                     i, b->text, msg, b->line, b->col, b->msg);
        }
        /* the formatted form a user sees */
        assert_int_equal(strncmp(msg, "bad.vus:", 8), 0);
        assert_non_null(strstr(msg, ": error: "));
    }
}

/* ------------------------------------------------------------------ */
/* Includes                                                            */
/* ------------------------------------------------------------------ */

static char tmpdir[256];

static void
write_file(const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
tmp_setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_scn_parse.XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    return tu_fd_setup(state);
}

static int
tmp_teardown(void **state)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        return -1;
    }
    return tu_fd_teardown(state);
}

static void
test_scn_parse_include(void **state)
{
    scn_script_t *sc = NULL;
    scn_diag_t d;
    char path[512], msg[1200], loc[600];
    int rc;

    (void)state;
    write_file("lib.inc", "# fragment\nset $base 0x40\nbar0 write32 $base 1\n");
    snprintf(path, sizeof(path), "%s/sub", tmpdir);
    assert_int_equal(mkdir(path, 0700), 0);
    write_file("main.vus", "device gpio\ninclude lib.inc\n"
                           "bar0 read32 $base == 1\n");
    snprintf(path, sizeof(path), "%s/main.vus", tmpdir);
    rc = scn_parse_file(path, &sc, &d);
    scn_diag_format(&d, msg, sizeof(msg));
    assert_int_equal(rc, 0);
    assert_int_equal(scn_script_statements(sc), 3);
    /* the statement from the fragment knows where it came from */
    scn_loc_format(sc, &sc->stmts[1].loc, loc, sizeof(loc));
    assert_non_null(strstr(loc, "lib.inc:3 (included from "));
    assert_non_null(strstr(loc, "main.vus:2)"));
    scn_script_free(sc);

    /* an error inside an include names both places */
    write_file("bad.inc", "reset\nbar0 frob\n");
    write_file("b.vus", "device gpio\n\ninclude bad.inc\n");
    snprintf(path, sizeof(path), "%s/b.vus", tmpdir);
    assert_int_equal(scn_parse_file(path, &sc, &d), -EINVAL);
    assert_non_null(strstr(d.file, "bad.inc"));
    assert_int_equal(d.line, 2);
    assert_non_null(strstr(d.msg, "(included from "));
    assert_non_null(strstr(d.msg, "b.vus:3)"));

    /* a file including itself stops at the depth limit */
    write_file("self.vus", "reset\ninclude self.vus\n");
    snprintf(path, sizeof(path), "%s/self.vus", tmpdir);
    assert_int_equal(scn_parse_file(path, &sc, &d), -EINVAL);
    assert_non_null(strstr(d.msg, "include nested too deep"));

    /* missing file, directory, a block left open by an include */
    write_file("m.vus", "include nope.inc\n");
    snprintf(path, sizeof(path), "%s/m.vus", tmpdir);
    assert_int_equal(scn_parse_file(path, &sc, &d), -EINVAL);
    assert_non_null(strstr(d.msg, "cannot include"));
    assert_non_null(strstr(d.msg, "No such file"));
    write_file("dir.vus", "include sub\n");
    snprintf(path, sizeof(path), "%s/dir.vus", tmpdir);
    assert_int_equal(scn_parse_file(path, &sc, &d), -EINVAL);
    assert_non_null(strstr(d.msg, "is a directory"));
    write_file("open.inc", "repeat 2 {\n");
    write_file("o.vus", "include open.inc\n}\n");
    snprintf(path, sizeof(path), "%s/o.vus", tmpdir);
    assert_int_equal(scn_parse_file(path, &sc, &d), -EINVAL);
    assert_non_null(strstr(d.msg, "block not closed"));

    /* the top file itself */
    snprintf(path, sizeof(path), "%s/none.vus", tmpdir);
    assert_int_equal(scn_parse_file(path, &sc, &d), -ENOENT);
    assert_non_null(strstr(d.msg, "cannot read"));
    assert_int_equal(scn_parse_file(tmpdir, &sc, &d), -EISDIR);
}

/* ------------------------------------------------------------------ */
/* Numbers, durations, expressions                                     */
/* ------------------------------------------------------------------ */

static uint64_t
num(const char *s)
{
    char msg[128];
    uint64_t v = 0;

    assert_int_equal(scn_parse_number(s, strlen(s), &v, msg, sizeof(msg)),
                     0);
    return v;
}

static uint64_t
expr(const char *s)
{
    char *names[SCN_MAX_VARS] = {NULL};
    uint32_t nr = 0;
    scn_vars_t vars = {.names = names, .nr = &nr};
    uint64_t vals[SCN_MAX_VARS] = {0}, out = 0;
    scn_value_t v;
    char msg[128];
    size_t at;
    uint32_t i;
    int x = scn_var_index(&vars, "$x", 2, true);

    assert_int_equal(x, 0);
    vals[x] = 5;
    assert_int_equal(scn_expr_parse(s, strlen(s), &vars, &v, msg, sizeof(msg),
                                    &at),
                     0);
    assert_int_equal(scn_expr_eval(&v, vals, &out), 0);
    scn_value_free(&v);
    for (i = 0; i < nr; i++) {
        free(names[i]);
    }
    return out;
}

static void
test_scn_parse_numbers_and_expressions(void **state)
{
    char msg[128];
    uint64_t v;

    (void)state;
    assert_int_equal(num("0"), 0);
    assert_int_equal(num("010"), 10);
    assert_int_equal(num("0x1F"), 31);
    assert_int_equal(num("0XfF"), 255);
    assert_int_equal(num("0b101"), 5);
    assert_int_equal(num("1_000"), 1000);
    assert_int_equal(num("0xffff_ffff"), 0xffffffffu);
    assert_int_equal(num("4K"), 4096);
    assert_int_equal(num("0x10K"), 16 * 1024);
    assert_int_equal(num("1M"), 1 << 20);
    assert_true(num("2G") == 2ull << 30);
    assert_true(num("18446744073709551615") == UINT64_MAX);
    assert_int_equal(scn_parse_number("18446744073709551616", 20, &v, msg,
                                      sizeof(msg)), -EINVAL);
    assert_int_equal(scn_parse_number("16777216G", 9, &v, msg, sizeof(msg)),
                     0);
    assert_int_equal(scn_parse_number("17179869184G", 12, &v, msg,
                                      sizeof(msg)), -EINVAL);
    assert_int_equal(scn_parse_number("0x", 2, &v, msg, sizeof(msg)),
                     -EINVAL);
    assert_int_equal(scn_parse_number("K", 1, &v, msg, sizeof(msg)), -EINVAL);
    assert_int_equal(scn_parse_number("0b2", 3, &v, msg, sizeof(msg)),
                     -EINVAL);
    assert_int_equal(scn_parse_number("_1", 2, &v, msg, sizeof(msg)),
                     -EINVAL);

    assert_int_equal(scn_parse_duration("250ms", &v, msg, sizeof(msg)), 0);
    assert_int_equal(v, 250);
    assert_int_equal(scn_parse_duration("5s", &v, msg, sizeof(msg)), 0);
    assert_int_equal(v, 5000);
    assert_int_equal(scn_parse_duration("7", &v, msg, sizeof(msg)), 0);
    assert_int_equal(v, 7);
    assert_int_equal(scn_parse_duration("s", &v, msg, sizeof(msg)), -EINVAL);

    assert_int_equal(expr("1+2*3"), 7);
    assert_int_equal(expr("(1 + 2) * 3"), 9);
    assert_int_equal(expr("$x << 4 | 1"), 0x51);
    assert_int_equal(expr("1 | 2 ^ 3 & 4"), 1 | (2 ^ (3 & 4)));
    assert_int_equal(expr("10 - 3 - 2"), 5);
    assert_int_equal(expr("100 / 7 % 4"), 2);
    assert_true(expr("~0") == UINT64_MAX);
    assert_true(expr("-1") == UINT64_MAX);
    assert_true(expr("0 - $x") == (uint64_t)-5);
    assert_int_equal(expr("--$x"), 5);
    assert_int_equal(expr("$x * 4K"), 5 * 4096);
    assert_int_equal(expr("1 << 63 >> 63"), 1);
}

/* Run-time errors in expressions (division by a variable that is 0). */
static void
test_scn_parse_expr_runtime_errors(void **state)
{
    char *names[SCN_MAX_VARS] = {NULL};
    uint32_t nr = 0;
    scn_vars_t vars = {.names = names, .nr = &nr};
    uint64_t vals[SCN_MAX_VARS] = {0}, out;
    scn_value_t v;
    char msg[128];
    size_t at;

    (void)state;
    assert_int_equal(scn_var_index(&vars, "$z", 2, true), 0);
    assert_int_equal(scn_expr_parse("8 / $z", 6, &vars, &v, msg, sizeof(msg),
                                    &at), 0);
    assert_int_equal(scn_expr_eval(&v, vals, &out), -EDOM);
    scn_value_free(&v);
    assert_int_equal(scn_expr_parse("1 << $z", 7, &vars, &v, msg,
                                    sizeof(msg), &at), 0);
    vals[0] = 64;
    assert_int_equal(scn_expr_eval(&v, vals, &out), -EDOM);
    vals[0] = 63;
    assert_int_equal(scn_expr_eval(&v, vals, &out), 0);
    assert_true(out == 1ull << 63);
    scn_value_free(&v);
    free(names[0]);
}

/* ------------------------------------------------------------------ */
/* Limits and garbage                                                  */
/* ------------------------------------------------------------------ */

static void
test_scn_parse_limits(void **state)
{
    scn_script_t *sc = NULL;
    scn_diag_t d;
    size_t len = SCN_MAX_LINE + 64, i;
    char *big = malloc(len + 1);
    char text[64];

    (void)state;
    assert_non_null(big);
    /* a line longer than 4 MiB */
    memcpy(big, "echo ", 5);
    memset(big + 5, 'a', len - 5);
    big[len] = '\0';
    assert_int_equal(scn_parse_buf("big.vus", big, len, 0, &sc, &d), -EINVAL);
    assert_non_null(strstr(d.msg, "line too long"));
    /* too many tokens on a line */
    for (i = 0; i + 2 < 3 * (SCN_MAX_TOKENS + 10); i += 2) {
        big[i] = 'a';
        big[i + 1] = ' ';
    }
    big[i] = '\0';
    assert_int_equal(scn_parse_buf("tok.vus", big, i, 0, &sc, &d), -EINVAL);
    assert_non_null(strstr(d.msg, "too many tokens"));
    /* too many variables */
    big[0] = '\0';
    for (i = 0; i <= SCN_MAX_VARS; i++) {
        snprintf(text, sizeof(text), "set $v%zu 1\n", i);
        strcat(big, text);
    }
    assert_int_equal(scn_parse_buf("v.vus", big, strlen(big), 0, &sc, &d),
                     -EINVAL);
    assert_non_null(strstr(d.msg, "too many variables"));
    /* more than 1 MiB of bytes in one list */
    assert_int_equal(parse("send zero:1M zero:1\n", &sc, &d), -EINVAL);
    assert_non_null(strstr(d.msg, "longer than 1 MiB"));
    /* too big a buffer */
    assert_int_equal(scn_parse_buf("x", big, SCN_MAX_FILE + 1, 0, &sc, &d),
                     -EFBIG);
    free(big);
}

/* A small deterministic generator, so failures reproduce. */
static uint32_t
rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void
test_scn_parse_garbage_never_crashes(void **state)
{
    static const char alphabet[] =
        "abcdefxyz0123456789$()'\"\\#{}|-+*/%<>=~:_. \t\n\rKMG";
    static const char *const words[] = {
        "device ", "repeat ", "{", "}", "batch ", "raw ", "hex:", "u32:",
        "fill:", "any:", "...", "error ", "==", "mask ", "-> ", "$a ",
        "set ", "include ", "mem ", "map ", "irq ", "expect ", "\n",
        "bar0 ", "read32 ", "write ", "(", ")", "'", "\"", "\\\n", "#",
        "fd:eventfd*", "option ", "timeout ", "0x", "1", "K "};
    uint32_t seed = 0x12345678;
    char buf[512];
    int iter;

    (void)state;
    for (iter = 0; iter < 6000; iter++) {
        size_t len = rnd(&seed) % sizeof(buf), i;
        scn_script_t *sc = NULL;
        scn_diag_t d;
        int rc;

        if (iter % 3 == 0) {
            for (i = 0; i < len; i++) {
                buf[i] = (char)rnd(&seed);
            }
        } else if (iter % 3 == 1) {
            for (i = 0; i < len; i++) {
                buf[i] = alphabet[rnd(&seed) % (sizeof(alphabet) - 1)];
            }
        } else {
            size_t used = 0;

            while (used < len) {
                const char *w = words[rnd(&seed) % (sizeof(words) /
                                                     sizeof(words[0]))];
                size_t n = strlen(w);

                if (used + n > len) {
                    break;
                }
                memcpy(buf + used, w, n);
                used += n;
            }
            len = used;
        }
        rc = scn_parse_buf("fuzz.vus", buf, len, SCN_PARSE_NO_INCLUDE, &sc,
                           &d);
        assert_true(rc == 0 || rc == -EINVAL);
        if (rc == 0) {
            assert_non_null(sc);
            scn_script_free(sc);
        } else {
            assert_null(sc);
            assert_true(d.msg[0] != '\0');
        }
    }
}

/* Every prefix and single-byte mutation of a valid file parses or fails. */
static void
test_scn_parse_mutations_never_crash(void **state)
{
    size_t len = sizeof(every_statement) - 1, i;
    char *copy = malloc(len);
    uint32_t seed = 42;

    (void)state;
    assert_non_null(copy);
    for (i = 0; i < len; i += 3) {
        scn_script_t *sc = NULL;
        scn_diag_t d;
        int rc = scn_parse_buf("p.vus", every_statement, i,
                               SCN_PARSE_NO_INCLUDE, &sc, &d);

        assert_true(rc == 0 || rc == -EINVAL);
        scn_script_free(sc);
        memcpy(copy, every_statement, len);
        copy[rnd(&seed) % len] = (char)rnd(&seed);
        sc = NULL;
        rc = scn_parse_buf("m.vus", copy, len, SCN_PARSE_NO_INCLUDE, &sc, &d);
        assert_true(rc == 0 || rc == -EINVAL);
        scn_script_free(sc);
    }
    free(copy);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scn_parse_every_statement,
                                        tu_fd_setup, tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_scn_parse_targets, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_scn_parse_errors_name_place,
                                        tu_fd_setup, tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_scn_parse_include, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test(test_scn_parse_numbers_and_expressions),
        cmocka_unit_test(test_scn_parse_expr_runtime_errors),
        cmocka_unit_test_setup_teardown(test_scn_parse_limits, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_scn_parse_garbage_never_crashes,
                                        tu_fd_setup, tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_scn_parse_mutations_never_crash,
                                        tu_fd_setup, tu_fd_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
