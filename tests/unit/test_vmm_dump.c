/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_vmm_dump.c - the fake VMM's corpus dumps (client/vmm_dump.c): what
 * a session sends and receives lands in the two files, in the fuzz_stream
 * and fuzz_client formats, bounded, and a directory that cannot be written
 * never costs the session anything.
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dmaengine/dmaengine.h"
#include "test_vmm_util.h"

#define BAR0 VFU_PCI_DEV_BAR0_REGION_IDX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX
#define MAX_SEEN 256
/* Mirrors of client/private.h: the formats are a contract with fuzz/. */
#define DUMP_MAX_FILE (1u << 20)
#define FD_MEMFD 8u

/* One message, as the wire hook saw it or as a dump file holds it. */
typedef struct seen {
    uint16_t cmd;
    uint32_t flags;
    uint32_t size;   /* header + body */
    uint8_t tag;     /* dump: fd spec (sent) or control (received) */
    size_t nr_fds;   /* hook only */
} seen_t;

typedef struct wire_log {
    seen_t out[MAX_SEEN], in[MAX_SEEN];
    size_t nr_out, nr_in;
} wire_log_t;

static void
wire_cb(void *arg, bool outgoing, const struct vfio_user_header *hdr,
        const void *body, size_t len, size_t nr_fds)
{
    wire_log_t *w = arg;
    seen_t *s;

    (void)body;
    if (outgoing ? w->nr_out == MAX_SEEN : w->nr_in == MAX_SEEN) {
        return;
    }
    s = outgoing ? &w->out[w->nr_out++] : &w->in[w->nr_in++];
    s->cmd = hdr->cmd;
    s->flags = hdr->flags;
    s->size = (uint32_t)(sizeof(*hdr) + len);
    s->nr_fds = nr_fds;
}

/* A fresh private directory for the dumps. */
static void
make_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/test_vmm_dump.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

/* Remove @dir and the files in it. */
static void
remove_dir(const char *dir)
{
    char path[512];
    struct dirent *e;
    DIR *d = opendir(dir);

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

/* The one file of @dir ending in @suffix (the test makes one session). */
static void
find_file(const char *dir, const char *suffix, char *out, size_t len)
{
    struct dirent *e;
    DIR *d = opendir(dir);
    int found = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);

        if (n > strlen(suffix) &&
            strcmp(e->d_name + n - strlen(suffix), suffix) == 0) {
            snprintf(out, len, "%s/%s", dir, e->d_name);
            found++;
        }
    }
    closedir(d);
    assert_int_equal(found, 1);
}

/*
 * Parse a dump file: records of [u16 LE length][tag][message].  Returns
 * the number of records; the file must end on a record boundary.
 */
static size_t
parse_dump(const char *path, seen_t *out, size_t max, size_t *file_size)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long len;
    size_t off = 0, n = 0;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    while (off < (size_t)len) {
        struct vfio_user_header h;
        size_t rec;

        assert_true(off + 3 <= (size_t)len);
        rec = (size_t)buf[off] | (size_t)buf[off + 1] << 8;
        assert_true(rec >= sizeof(h));
        assert_true(off + 3 + rec <= (size_t)len);
        memcpy(&h, buf + off + 3, sizeof(h));
        if (n < max) {
            out[n].cmd = h.cmd;
            out[n].flags = h.flags;
            out[n].size = (uint32_t)rec;
            out[n].tag = buf[off + 2];
        }
        n++;
        off += 3 + rec;
    }
    free(buf);
    *file_size = (size_t)len;
    return n;
}

/* The dump files hold what the hook saw, after the negotiation. */
static void
check_matches(const char *dir, const wire_log_t *w)
{
    static seen_t got[MAX_SEEN + 8];
    char path[512];
    size_t n, i, size;
    uint8_t spec;

    find_file(dir, ".sent", path, sizeof(path));
    n = parse_dump(path, got, MAX_SEEN + 8, &size);
    /* VERSION went out before the hook was installed */
    assert_int_equal(n, w->nr_out + 1);
    assert_int_equal(got[0].cmd, VFIO_USER_VERSION);
    for (i = 0; i < w->nr_out; i++) {
        assert_int_equal(got[i + 1].cmd, w->out[i].cmd);
        assert_int_equal(got[i + 1].flags, w->out[i].flags);
        assert_int_equal(got[i + 1].size, w->out[i].size);
        spec = (uint8_t)(w->out[i].nr_fds > 7 ? 7 : w->out[i].nr_fds);
        if (spec > 0 && w->out[i].cmd == VFIO_USER_DMA_MAP) {
            spec |= FD_MEMFD;
        }
        assert_int_equal(got[i + 1].tag, spec);
    }
    find_file(dir, ".recv", path, sizeof(path));
    n = parse_dump(path, got, MAX_SEEN + 8, &size);
    assert_int_equal(n, w->nr_in + 1);
    assert_int_equal(got[0].cmd, VFIO_USER_VERSION);
    for (i = 0; i < w->nr_in; i++) {
        assert_int_equal(got[i + 1].cmd, w->in[i].cmd);
        assert_int_equal(got[i + 1].flags, w->in[i].flags);
        assert_int_equal(got[i + 1].size, w->in[i].size);
        assert_int_equal(got[i + 1].tag, 0); /* ids left as received */
    }
}

/*
 * A session of every kind of message the dump must tell apart: plain
 * commands, eventfds (SET_IRQS), a memfd (DMA_MAP), and server commands
 * answered by the client (DMA_READ/DMA_WRITE replies).
 */
static void
run_session(vmm_t *vmm)
{
    struct vfio_user_device_info info;
    uint32_t q = DMAE_QREG(0, 0);
    uint8_t desc[DMAE_DESC_SIZE] = {0};
    uint64_t v;

    assert_int_equal(vmm_device_info(vmm, &info), 0);
    assert_int_equal(vmm_config_read(vmm, 0, 4, &v), 0);
    assert_int_equal(vmm_region_read_val(vmm, BAR0, DMAE_REG_ID, 4, &v), 0);
    assert_int_equal(v, DMAE_ID_VALUE);
    assert_int_equal(vmm_irq_enable(vmm, MSIX, 0, DMAE_MSIX_VECTORS), 0);
    assert_int_equal(vmm_mem_map(vmm, 0x100000, 0x10000, VMM_MEM_RW), 0);
    /* fd-less memory: the device reads its ring with DMA_READ messages */
    assert_int_equal(vmm_mem_map(vmm, 0x200000, 0x10000,
                                 VMM_MEM_RW | VMM_MEM_NOFD), 0);
    desc[0] = DMAE_OP_NOP;
    desc[1] = DMAE_DESC_F_COMPL;
    v = 0x201000;
    memcpy(desc + 24, &v, 8); /* completion record: a DMA_WRITE */
    assert_int_equal(vmm_mem_write(vmm, 0x200000, desc, sizeof(desc)), 0);
    assert_int_equal(vmm_region_write_val(vmm, BAR0, DMAE_REG_CTRL, 4,
                                          DMAE_CTRL_ENABLE), 0);
    assert_int_equal(vmm_region_write_val(vmm, BAR0, q + DMAE_Q_RING_LO, 4,
                                          0x200000), 0);
    assert_int_equal(vmm_region_write_val(vmm, BAR0, q + DMAE_Q_RING_SIZE,
                                          4, 2), 0);
    assert_int_equal(vmm_region_write_val(vmm, BAR0, q + DMAE_Q_CTRL, 4,
                                          DMAE_QCTRL_ENABLE), 0);
    assert_int_equal(vmm_region_write_val(vmm, BAR0, q + DMAE_Q_TAIL, 4, 1),
                     0);
    assert_int_equal(vmm_reset(vmm), 0);
    assert_int_equal(vmm_mem_unmap_all(vmm), 0);
}

static int
setup(void **state)
{
    return tu_fd_setup(state);
}

static int
teardown(void **state)
{
    return tu_fd_teardown(state);
}

/* Open dmaengine in-process with @opts and a hook recording into @w. */
static void
open_dev(vfu_device_t *dev, vmm_t **vmm, const vmm_opts_t *opts,
         wire_log_t *w)
{
    memset(dev, 0, sizeof(*dev));
    assert_int_equal(vfu_device_open("dmaengine", VFU_TRANS_EXT_INPROC, NULL,
                                     LIBVFIO_USER_FLAG_ATTACH_NB, dev),
                     0);
    assert_int_equal(vmm_attach_inproc(dev->ctx, opts, vmm), 0);
    if (w != NULL) {
        memset(w, 0, sizeof(*w));
        vmm_set_trace_hook(*vmm, wire_cb, w);
    }
}

static void
close_dev(vfu_device_t *dev, vmm_t *vmm)
{
    vmm_close(vmm);
    vfu_device_close(dev);
}

/* The option: both files hold the session, as the hook saw it. */
static void
test_dump_option_matches_wire(void **state)
{
    static wire_log_t w;
    char dir[64];
    vmm_opts_t opts = {.timeout_ms = 1000};
    vfu_device_t dev;
    vmm_t *vmm;
    size_t i, dma_replies = 0, fd_msgs = 0;

    (void)state;
    make_dir(dir, sizeof(dir));
    opts.dump_dir = dir;
    open_dev(&dev, &vmm, &opts, &w);
    run_session(vmm);
    close_dev(&dev, vmm);
    check_matches(dir, &w);
    /* the session had what the formats must distinguish */
    for (i = 0; i < w.nr_out; i++) {
        if ((w.out[i].flags & VFIO_USER_F_TYPE_MASK) ==
                VFIO_USER_F_TYPE_REPLY &&
            (w.out[i].cmd == VFIO_USER_DMA_READ ||
             w.out[i].cmd == VFIO_USER_DMA_WRITE)) {
            dma_replies++;
        }
        fd_msgs += w.out[i].nr_fds > 0;
    }
    assert_true(dma_replies >= 2);
    assert_int_equal(fd_msgs, 2); /* SET_IRQS, the memfd's DMA_MAP */
    remove_dir(dir);
}

/* VMM_DUMP_DIR does the same without the option. */
static void
test_dump_env_matches_wire(void **state)
{
    static wire_log_t w;
    char dir[64];
    const char *old = getenv("VMM_DUMP_DIR");
    char *saved = old != NULL ? strdup(old) : NULL;
    vfu_device_t dev;
    vmm_t *vmm;

    (void)state;
    make_dir(dir, sizeof(dir));
    assert_int_equal(setenv("VMM_DUMP_DIR", dir, 1), 0);
    open_dev(&dev, &vmm, NULL, &w);
    run_session(vmm);
    close_dev(&dev, vmm);
    if (saved != NULL) {
        setenv("VMM_DUMP_DIR", saved, 1);
    } else {
        unsetenv("VMM_DUMP_DIR");
    }
    free(saved);
    check_matches(dir, &w);
    remove_dir(dir);
}

/* The option wins over the variable. */
static void
test_dump_option_over_env(void **state)
{
    char dir[64], other[64], path[512];
    const char *old = getenv("VMM_DUMP_DIR");
    char *saved = old != NULL ? strdup(old) : NULL;
    vmm_opts_t opts = {.timeout_ms = 1000};
    vfu_device_t dev;
    vmm_t *vmm;
    DIR *d;
    struct dirent *e;
    int files = 0;

    (void)state;
    make_dir(dir, sizeof(dir));
    make_dir(other, sizeof(other));
    assert_int_equal(setenv("VMM_DUMP_DIR", other, 1), 0);
    opts.dump_dir = dir;
    open_dev(&dev, &vmm, &opts, NULL);
    run_session(vmm);
    close_dev(&dev, vmm);
    if (saved != NULL) {
        setenv("VMM_DUMP_DIR", saved, 1);
    } else {
        unsetenv("VMM_DUMP_DIR");
    }
    free(saved);
    find_file(dir, ".sent", path, sizeof(path));
    find_file(dir, ".recv", path, sizeof(path));
    d = opendir(other);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        files += e->d_name[0] != '.';
    }
    closedir(d);
    assert_int_equal(files, 0);
    remove_dir(dir);
    remove_dir(other);
}

/*
 * The bound: a message too big for a record is skipped, and the .sent
 * file stops short of 1 MiB while the .recv file goes on.
 */
static void
test_dump_bounded(void **state)
{
    static seen_t got[256];
    static uint8_t body[70000];
    char dir[64], path[512];
    vmm_opts_t opts = {.timeout_ms = 1000};
    struct vfio_user_region_access *a = (void *)body;
    vfu_device_t dev;
    vmm_reply_t r;
    vmm_t *vmm;
    size_t n, size, i, big = 0;
    const size_t chunk = 30000, rounds = 40;

    (void)state;
    make_dir(dir, sizeof(dir));
    opts.dump_dir = dir;
    open_dev(&dev, &vmm, &opts, NULL);
    /* out of range writes: refused with an error reply, connection kept */
    a->offset = 0;
    a->region = BAR0;
    a->count = (uint32_t)(sizeof(body) - sizeof(*a));
    assert_int_equal(vmm_send_raw(vmm, VFIO_USER_REGION_WRITE, body,
                                  sizeof(body), NULL, 0, &r), 0);
    vmm_reply_free(&r);
    a->count = (uint32_t)(chunk - sizeof(*a));
    for (i = 0; i < rounds; i++) {
        assert_int_equal(vmm_send_raw(vmm, VFIO_USER_REGION_WRITE, body,
                                      chunk, NULL, 0, &r), 0);
        assert_true(r.hdr.flags & VFIO_USER_F_ERROR);
        vmm_reply_free(&r);
    }
    assert_true(vmm_is_connected(vmm));
    close_dev(&dev, vmm);

    find_file(dir, ".sent", path, sizeof(path));
    n = parse_dump(path, got, 256, &size);
    for (i = 0; i < n && i < 256; i++) {
        big += got[i].size > chunk + 16;
    }
    assert_int_equal(big, 0); /* the 70000-byte write was skipped */
    assert_int_equal(got[0].cmd, VFIO_USER_VERSION);
    /* VERSION, then writes until the next one would pass 1 MiB */
    assert_true(n > 1 && n < 1 + rounds);
    assert_int_equal(size, 3 + got[0].size + (n - 1) * (3 + 16 + chunk));
    assert_true(size <= DUMP_MAX_FILE);
    assert_true(size + 3 + 16 + chunk > DUMP_MAX_FILE);
    find_file(dir, ".recv", path, sizeof(path));
    n = parse_dump(path, got, 256, &size);
    assert_int_equal(n, 1 + 1 + rounds); /* every reply */
    remove_dir(dir);
}

/* Count the lines of @text that contain @needle. */
static unsigned
count_lines(const char *text, const char *needle)
{
    unsigned n = 0;
    const char *p = text;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

/* A directory that cannot hold files: one log line, the session works. */
static void
test_dump_unwritable_dir_session_works(void **state)
{
    char file[] = "/tmp/test_vmm_dump.fileXXXXXX";
    char bad[64];
    char *text = NULL;
    size_t text_len = 0;
    vmm_opts_t opts = {.timeout_ms = 1000};
    vfu_device_t dev;
    vmm_t *vmm;
    int fd;

    (void)state;
    fd = mkstemp(file);
    assert_true(fd >= 0);
    close(fd);
    /* a "directory" below a regular file: ENOTDIR, even for root */
    snprintf(bad, sizeof(bad), "%s/dumps", file);
    opts.dump_dir = bad;
    /* without a log hook the client logs to the trace stream */
    opts.trace = open_memstream(&text, &text_len);
    assert_non_null(opts.trace);
    open_dev(&dev, &vmm, &opts, NULL);
    run_session(vmm);
    close_dev(&dev, vmm);
    fclose(opts.trace);
    assert_int_equal(count_lines(text, "dump:"), 1);
    assert_non_null(strstr(text, "dump: no files in"));
    free(text);
    unlink(file);
}

/* The directory vanishes mid-session: one log line, dumping stops. */
static void
test_dump_write_error_stops(void **state)
{
    char dir[64];
    char *text = NULL;
    size_t text_len = 0;
    vmm_opts_t opts = {.timeout_ms = 1000};
    vfu_device_t dev;
    vmm_t *vmm;
    struct stat st;

    (void)state;
    make_dir(dir, sizeof(dir));
    opts.dump_dir = dir;
    opts.trace = open_memstream(&text, &text_len);
    assert_non_null(opts.trace);
    open_dev(&dev, &vmm, &opts, NULL);
    remove_dir(dir);
    run_session(vmm);
    close_dev(&dev, vmm);
    fclose(opts.trace);
    assert_int_equal(count_lines(text, "dump:"), 1);
    assert_non_null(strstr(text, "dump: write failed"));
    /* nothing came back: the files were not created again */
    assert_int_equal(stat(dir, &st), -1);
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dump_option_matches_wire, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dump_env_matches_wire, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dump_option_over_env, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dump_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_dump_unwritable_dir_session_works, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_write_error_stops, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
