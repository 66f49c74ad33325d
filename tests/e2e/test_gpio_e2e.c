/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_gpio_e2e.c - the gpio sample device driven end to end through the
 * fake VMM, in-process and over a UNIX socket to the real `gpio` binary.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/testutil.h"

#include "devices.h"
#include "gpio/gpio.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/vmm.h"

#define BAR0 VFU_PCI_DEV_BAR0_REGION_IDX
#define BAR2 VFU_PCI_DEV_BAR2_REGION_IDX
#define CFG VFU_PCI_DEV_CFG_REGION_IDX

/* ------------------------------------------------------------------ */
/* Fixture: one device and one client, in-process or over a socket     */
/* ------------------------------------------------------------------ */

typedef struct fx {
    bool inproc;
    vfu_device_t dev; /* in-process device */
    pid_t pid;        /* the spawned gpio binary */
    char path[256];
    vmm_t *vmm;
} fx_t;

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Connect a new client; the socket may exist a moment before it listens. */
/*
 * Close the client.  In-process the device's loop is ours to run: one
 * vfu_run_ctx() lets the context notice the hang-up (ENOTCONN) and drop
 * the connection, as a socket server would on its own.
 */
static void
fx_drop_client(fx_t *fx)
{
    vmm_close(fx->vmm);
    fx->vmm = NULL;
    if (fx->inproc && fx->dev.ctx != NULL) {
        int rc = vfu_run_ctx(fx->dev.ctx);

        assert_int_equal(rc, -1);
        assert_int_equal(errno, ENOTCONN);
    }
}

static int
fx_connect(fx_t *fx)
{
    int rc = -EINVAL;
    int i;

    if (fx->inproc) {
        return vmm_attach_inproc(fx->dev.ctx, NULL, &fx->vmm);
    }
    for (i = 0; i < 200; i++) {
        rc = vmm_connect(fx->path, NULL, &fx->vmm);
        if (rc != -ECONNREFUSED && rc != -ENOENT) {
            break;
        }
        sleep_ms(10);
    }
    return rc;
}

static pid_t
spawn_gpio(const char *path, bool once)
{
    char bin[4096];
    char sock[256];
    char opt1[] = "-1";
    char *argv[] = {bin, sock, NULL, NULL};

    snprintf(bin, sizeof(bin), "%s", tu_build_path("devices/gpio"));
    snprintf(sock, sizeof(sock), "%s", path);
    if (once) {
        argv[1] = opt1;
        argv[2] = sock;
    }
    return tu_spawn(argv, path);
}

/*
 * SIGTERM the server and reap it.  A signal that lands just before the
 * server blocks in accept() can go unnoticed, so if it has not exited after
 * a while, tu_kill() signals it again (and waits).
 */
static int
stop_gpio(pid_t pid)
{
    int status;
    int i;

    if (pid <= 0) {
        return -1;
    }
    kill(pid, SIGTERM);
    for (i = 0; i < 200; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        }
        sleep_ms(10);
    }
    return tu_kill(pid);
}

static int
fx_setup(void **state, bool inproc)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    int rc;

    tu_fd_setup(state);
    if (fx == NULL) {
        return -1;
    }
    fx->inproc = inproc;
    fx->pid = -1;
    if (inproc) {
        rc = vfu_device_open("gpio", VFU_TRANS_EXT_INPROC, NULL, 0, &fx->dev);
        if (rc < 0) {
            fprintf(stderr, "vfu_device_open: %s\n", strerror(-rc));
            free(fx);
            return -1;
        }
    } else {
        snprintf(fx->path, sizeof(fx->path), "%s", tu_sock_path("gpio"));
        fx->pid = spawn_gpio(fx->path, false);
        if (fx->pid < 0) {
            fprintf(stderr, "cannot spawn %s\n", tu_build_path("devices/gpio"));
            free(fx);
            return -1;
        }
    }
    rc = fx_connect(fx);
    if (rc < 0) {
        fprintf(stderr, "connect: %s\n", strerror(-rc));
        if (inproc) {
            vfu_device_close(&fx->dev);
        } else {
            stop_gpio(fx->pid);
        }
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int
fx_setup_inproc(void **state)
{
    return fx_setup(state, true);
}

static int
fx_setup_sock(void **state)
{
    return fx_setup(state, false);
}

static int
fx_teardown(void **state)
{
    fx_t *fx = *state;
    int status = 0;

    if (fx != NULL) {
        vmm_close(fx->vmm);
        if (fx->inproc) {
            vfu_device_close(&fx->dev);
        } else {
            /* SIGTERM must end the server cleanly and remove its socket */
            status = stop_gpio(fx->pid);
            if (status != 0) {
                fprintf(stderr, "gpio exited with status %d\n", status);
            } else if (access(fx->path, F_OK) == 0) {
                fprintf(stderr, "gpio left %s behind\n", fx->path);
                status = -1;
            }
        }
        free(fx);
        *state = NULL;
    }
    if (tu_fd_teardown(state) < 0) {
        return -1;
    }
    return status == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Access helpers: macros, so a failure names the test's own line       */
/* ------------------------------------------------------------------ */

#define EXPECT_RD(fx, region, off, size, want)                                 \
    do {                                                                       \
        uint64_t v_ = ~0ull;                                                   \
        assert_int_equal(                                                      \
            vmm_region_read_val((fx)->vmm, (region), (off), (size), &v_), 0);  \
        assert_int_equal(v_, (uint64_t)(want));                                \
    } while (0)

#define WR(fx, region, off, size, val)                                         \
    assert_int_equal(                                                          \
        vmm_region_write_val((fx)->vmm, (region), (off), (size), (val)), 0)

#define EXPECT_CFG(fx, off, size, want)                                        \
    do {                                                                       \
        uint64_t v_ = ~0ull;                                                   \
        assert_int_equal(vmm_config_read((fx)->vmm, (off), (size), &v_), 0);   \
        assert_int_equal(v_, (uint64_t)(want));                                \
    } while (0)

#define CFG_WR(fx, off, size, val)                                             \
    assert_int_equal(vmm_config_write((fx)->vmm, (off), (size), (val)), 0)

static uint64_t
cfg_rd(fx_t *fx, uint64_t off, size_t size)
{
    uint64_t v = 0;

    assert_int_equal(vmm_config_read(fx->vmm, off, size, &v), 0);
    return v;
}

/* IN as documented in gpio.c: crossed loopback xor the counter's low byte */
static uint32_t
expected_in(uint32_t out, uint32_t counter)
{
    return ((out << 16) | (out >> 16)) ^ (counter & 0xff);
}

/* ------------------------------------------------------------------ */
/* Discovery                                                           */
/* ------------------------------------------------------------------ */

static void
test_gpio_device_info(void **state)
{
    fx_t *fx = *state;
    struct vfio_user_device_info info;

    memset(&info, 0, sizeof(info));
    assert_int_equal(vmm_device_info(fx->vmm, &info), 0);
    assert_true(info.flags & VFIO_DEVICE_FLAGS_PCI);
    assert_true(info.flags & VFIO_DEVICE_FLAGS_RESET);
    assert_int_equal(info.num_regions, VFU_PCI_DEV_NUM_REGIONS);
    assert_int_equal(info.num_irqs, VFU_DEV_NUM_IRQS);
}

static void
test_gpio_region_info(void **state)
{
    fx_t *fx = *state;
    const vmm_region_t *r = NULL;
    uint32_t rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    uint32_t i;

    assert_int_equal(vmm_region_info(fx->vmm, BAR0, &r), 0);
    assert_int_equal(r->index, BAR0);
    assert_int_equal(r->size, GPIO_BAR0_SIZE);
    assert_int_equal(r->flags & rw, rw);
    assert_false(r->flags & VFIO_REGION_INFO_FLAG_MMAP);
    assert_int_equal(r->fd, -1);

    assert_int_equal(vmm_region_info(fx->vmm, BAR2, &r), 0);
    assert_int_equal(r->size, GPIO_BAR2_SIZE);
    assert_int_equal(r->flags & rw, rw);
    assert_false(r->flags & VFIO_REGION_INFO_FLAG_MMAP);

    assert_int_equal(vmm_region_info(fx->vmm, CFG, &r), 0);
    assert_int_equal(r->size, PCI_CFG_SPACE_SIZE);
    assert_int_equal(r->flags & rw, rw);

    /* the BARs and ROM the device did not set up are empty */
    for (i = VFU_PCI_DEV_BAR1_REGION_IDX; i <= VFU_PCI_DEV_ROM_REGION_IDX;
         i++) {
        if (i == BAR2) {
            continue;
        }
        assert_int_equal(vmm_region_info(fx->vmm, i, &r), 0);
        assert_int_equal(r->size, 0);
    }
}

static void
test_gpio_irq_info(void **state)
{
    fx_t *fx = *state;
    struct vfio_irq_info info;

    memset(&info, 0, sizeof(info));
    assert_int_equal(vmm_irq_info(fx->vmm, VFIO_PCI_INTX_IRQ_INDEX, &info), 0);
    assert_int_equal(info.index, VFIO_PCI_INTX_IRQ_INDEX);
    assert_int_equal(info.count, 1);
    assert_true(info.flags & VFIO_IRQ_INFO_EVENTFD);

    memset(&info, 0, sizeof(info));
    assert_int_equal(vmm_irq_info(fx->vmm, VFIO_PCI_MSI_IRQ_INDEX, &info), 0);
    assert_int_equal(info.count, 0);
    memset(&info, 0, sizeof(info));
    assert_int_equal(vmm_irq_info(fx->vmm, VFIO_PCI_MSIX_IRQ_INDEX, &info), 0);
    assert_int_equal(info.count, 0);
}

/* ------------------------------------------------------------------ */
/* Config space                                                        */
/* ------------------------------------------------------------------ */

static void
test_gpio_config_ids(void **state)
{
    fx_t *fx = *state;

    EXPECT_CFG(fx, PCI_VENDOR_ID, 2, GPIO_VENDOR_ID);
    EXPECT_CFG(fx, PCI_DEVICE_ID, 2, GPIO_DEVICE_ID);
    EXPECT_CFG(fx, PCI_VENDOR_ID, 4,
               GPIO_VENDOR_ID | ((uint32_t)GPIO_DEVICE_ID << 16));
    EXPECT_CFG(fx, PCI_REVISION_ID, 1, GPIO_REVISION);
    EXPECT_CFG(fx, PCI_CLASS_PROG, 1, GPIO_CLASS_PI);
    EXPECT_CFG(fx, PCI_CLASS_DEVICE, 2,
               ((uint32_t)GPIO_CLASS_BASE << 8) | GPIO_CLASS_SUB);
    EXPECT_CFG(fx, PCI_HEADER_TYPE, 1, PCI_HEADER_TYPE_NORMAL);
    EXPECT_CFG(fx, PCI_SUBSYSTEM_VENDOR_ID, 2, GPIO_SUBSYS_VENDOR_ID);
    EXPECT_CFG(fx, PCI_SUBSYSTEM_ID, 2, GPIO_SUBSYS_ID);
    EXPECT_CFG(fx, PCI_INTERRUPT_PIN, 1, 1);
    /* BAR type bits before any sizing: 32-bit memory, then I/O */
    EXPECT_CFG(fx, PCI_BASE_ADDRESS_0, 4, 0);
    EXPECT_CFG(fx, PCI_BASE_ADDRESS_2, 4, PCI_BASE_ADDRESS_SPACE_IO);
    assert_true(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
}

static void
test_gpio_config_caps(void **state)
{
    fx_t *fx = *state;
    char text[sizeof(GPIO_VSC_VERSION)];
    uint64_t pos = cfg_rd(fx, PCI_CAPABILITY_LIST, 1);
    uint64_t pm = 0, vsc = 0;
    unsigned int hops = 0;
    size_t i;

    /* walk the list: PM first, then the vendor capability, then the end */
    while (pos != 0) {
        uint64_t id;

        assert_true(pos >= PCI_STD_HEADER_SIZEOF);
        assert_true(pos < PCI_CFG_SPACE_SIZE);
        assert_int_equal(pos & 3, 0);
        assert_true(++hops <= 2);
        id = cfg_rd(fx, pos + PCI_CAP_LIST_ID, 1);
        if (id == PCI_CAP_ID_PM) {
            assert_int_equal(vsc, 0);
            pm = pos;
        } else if (id == PCI_CAP_ID_VNDR) {
            assert_int_not_equal(pm, 0);
            vsc = pos;
        } else {
            fail_msg("unexpected capability %#llx at %#llx",
                     (unsigned long long)id, (unsigned long long)pos);
        }
        pos = cfg_rd(fx, pos + PCI_CAP_LIST_NEXT, 1);
    }
    assert_int_not_equal(pm, 0);
    assert_int_not_equal(vsc, 0);

    /* PM 1.2, device in D0 */
    assert_int_equal(cfg_rd(fx, pm + PCI_PM_PMC, 2) & PCI_PM_CAP_VER_MASK, 3);
    assert_int_equal(cfg_rd(fx, pm + PCI_PM_CTRL, 2) & PCI_PM_CTRL_STATE_MASK,
                     0);

    /* vendor capability: its length byte, then the version text */
    EXPECT_CFG(fx, vsc + 2, 1, 3 + sizeof(GPIO_VSC_VERSION));
    for (i = 0; i < sizeof(text); i++) {
        text[i] = (char)cfg_rd(fx, vsc + 3 + i, 1);
    }
    assert_memory_equal(text, GPIO_VSC_VERSION, sizeof(GPIO_VSC_VERSION));

    /* read-only: a write does not change the text */
    (void)vmm_config_write(fx->vmm, vsc + 3, 1, 'X');
    EXPECT_CFG(fx, vsc + 3, 1, GPIO_VSC_VERSION[0]);
}

static void
test_gpio_config_bar_sizing(void **state)
{
    fx_t *fx = *state;

    /* all ones, then read back the size mask and the type bits */
    CFG_WR(fx, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
    EXPECT_CFG(fx, PCI_BASE_ADDRESS_0, 4, 0xffffff00);
    CFG_WR(fx, PCI_BASE_ADDRESS_2, 4, 0xffffffff);
    EXPECT_CFG(fx, PCI_BASE_ADDRESS_2, 4, 0xffffffe1);
    /* unimplemented BARs stay zero */
    CFG_WR(fx, PCI_BASE_ADDRESS_1, 4, 0xffffffff);
    EXPECT_CFG(fx, PCI_BASE_ADDRESS_1, 4, 0);
    CFG_WR(fx, PCI_BASE_ADDRESS_5, 4, 0xffffffff);
    EXPECT_CFG(fx, PCI_BASE_ADDRESS_5, 4, 0);

    /* program addresses: the low bits are dropped, the type bits kept */
    CFG_WR(fx, PCI_BASE_ADDRESS_0, 4, 0xfebf1234);
    EXPECT_CFG(fx, PCI_BASE_ADDRESS_0, 4, 0xfebf1200);
    CFG_WR(fx, PCI_BASE_ADDRESS_2, 4, 0x0000c05f);
    EXPECT_CFG(fx, PCI_BASE_ADDRESS_2, 4, 0x0000c041);

    /* enable decoding; the device keeps answering */
    CFG_WR(fx, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    EXPECT_CFG(fx, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    EXPECT_RD(fx, BAR0, GPIO_REG_ID, 4, GPIO_ID_VALUE);
}

/* ------------------------------------------------------------------ */
/* BAR0 register semantics                                             */
/* ------------------------------------------------------------------ */

static void
test_gpio_regs_identity(void **state)
{
    fx_t *fx = *state;
    uint8_t id[4];

    EXPECT_RD(fx, BAR0, GPIO_REG_ID, 4, GPIO_ID_VALUE);
    EXPECT_RD(fx, BAR0, GPIO_REG_VERSION, 4, GPIO_VERSION_VALUE);
    EXPECT_RD(fx, BAR0, GPIO_REG_PINS, 4, GPIO_PINS_VALUE);
    assert_int_equal(vmm_region_read(fx->vmm, BAR0, GPIO_REG_ID, id, 4), 0);
    assert_memory_equal(id, "GPIO", 4);
    /* read-only: writes are ignored */
    WR(fx, BAR0, GPIO_REG_ID, 4, 0x12345678);
    WR(fx, BAR0, GPIO_REG_IN, 4, 0xffffffff);
    EXPECT_RD(fx, BAR0, GPIO_REG_ID, 4, GPIO_ID_VALUE);
    EXPECT_RD(fx, BAR0, GPIO_REG_IN, 4, 0);
    /* holes read zero */
    EXPECT_RD(fx, BAR0, 0x0c, 4, 0);
    EXPECT_RD(fx, BAR0, 0xfc, 4, 0);
}

static void
test_gpio_regs_outputs(void **state)
{
    fx_t *fx = *state;

    EXPECT_RD(fx, BAR0, GPIO_REG_OUT, 4, 0);
    EXPECT_RD(fx, BAR0, GPIO_REG_COUNTER, 4, 0);

    WR(fx, BAR0, GPIO_REG_OUT, 4, 0x000000f0);
    EXPECT_RD(fx, BAR0, GPIO_REG_OUT, 4, 0x000000f0);
    WR(fx, BAR0, GPIO_REG_OUT_SET, 4, 0x80000001);
    EXPECT_RD(fx, BAR0, GPIO_REG_OUT, 4, 0x800000f1);
    WR(fx, BAR0, GPIO_REG_OUT_CLR, 4, 0x00000030);
    EXPECT_RD(fx, BAR0, GPIO_REG_OUT, 4, 0x800000c1);
    /* set and clear read as zero */
    EXPECT_RD(fx, BAR0, GPIO_REG_OUT_SET, 4, 0);
    EXPECT_RD(fx, BAR0, GPIO_REG_OUT_CLR, 4, 0);
    /* a write that changes nothing still counts */
    WR(fx, BAR0, GPIO_REG_OUT_SET, 4, 0);
    EXPECT_RD(fx, BAR0, GPIO_REG_OUT, 4, 0x800000c1);
    EXPECT_RD(fx, BAR0, GPIO_REG_COUNTER, 4, 4);
    EXPECT_RD(fx, BAR0, GPIO_REG_IN, 4, expected_in(0x800000c1, 4));
}

static void
test_gpio_regs_widths(void **state)
{
    fx_t *fx = *state;
    uint8_t buf[GPIO_BAR0_SIZE];

    /* a byte write changes that byte only */
    WR(fx, BAR0, GPIO_REG_SCRATCH, 4, 0x11223344);
    WR(fx, BAR0, GPIO_REG_SCRATCH + 2, 1, 0xaa);
    EXPECT_RD(fx, BAR0, GPIO_REG_SCRATCH, 4, 0x11aa3344);
    EXPECT_RD(fx, BAR0, GPIO_REG_SCRATCH + 1, 1, 0x33);
    EXPECT_RD(fx, BAR0, GPIO_REG_SCRATCH + 1, 2, 0xaa33);
    /* unaligned 2-byte write across the middle */
    WR(fx, BAR0, GPIO_REG_SCRATCH + 1, 2, 0xbeef);
    EXPECT_RD(fx, BAR0, GPIO_REG_SCRATCH, 4, 0x11beef44);

    /* one 8-byte write at OUT covers OUT, then OUT_SET */
    WR(fx, BAR0, GPIO_REG_OUT, 8, 0x0000010000000010ull);
    EXPECT_RD(fx, BAR0, GPIO_REG_OUT, 4, 0x00000110);
    EXPECT_RD(fx, BAR0, GPIO_REG_COUNTER, 4, 2);
    /* an 8-byte read spans two registers */
    EXPECT_RD(fx, BAR0, GPIO_REG_ID, 8,
              ((uint64_t)GPIO_VERSION_VALUE << 32) | GPIO_ID_VALUE);
    /* a byte write to OUT keeps the other bytes and counts once */
    WR(fx, BAR0, GPIO_REG_OUT + 3, 1, 0x7f);
    EXPECT_RD(fx, BAR0, GPIO_REG_OUT, 4, 0x7f000110);
    EXPECT_RD(fx, BAR0, GPIO_REG_COUNTER, 4, 3);

    /* the whole BAR in one read */
    memset(buf, 0xa5, sizeof(buf));
    assert_int_equal(vmm_region_read(fx->vmm, BAR0, 0, buf, sizeof(buf)), 0);
    assert_int_equal(buf[GPIO_REG_ID], 'G');
    assert_int_equal(buf[GPIO_REG_SCRATCH + 1], 0xef);
    assert_int_equal(buf[GPIO_REG_OUT + 3], 0x7f);
    assert_int_equal(buf[0x80], 0);
}

static void
test_gpio_regs_bounds(void **state)
{
    fx_t *fx = *state;
    uint64_t v;
    uint8_t buf[16];

    /* reaching past the end of a BAR is refused, and nothing breaks */
    assert_int_equal(
        vmm_region_read_val(fx->vmm, BAR0, GPIO_BAR0_SIZE - 4, 8, &v), -EINVAL);
    assert_int_equal(vmm_region_read_val(fx->vmm, BAR0, GPIO_BAR0_SIZE, 1, &v),
                     -EINVAL);
    assert_int_equal(
        vmm_region_write_val(fx->vmm, BAR2, GPIO_BAR2_SIZE - 2, 4, 0), -EINVAL);
    assert_int_equal(vmm_region_read(fx->vmm, BAR2, 24, buf, sizeof(buf)),
                     -EINVAL);
    /* a region the device has not got */
    assert_int_equal(
        vmm_region_read_val(fx->vmm, VFU_PCI_DEV_BAR1_REGION_IDX, 0, 4, &v),
        -EINVAL);
    EXPECT_RD(fx, BAR0, GPIO_BAR0_SIZE - 8, 8, 0);
    EXPECT_RD(fx, BAR0, GPIO_REG_ID, 4, GPIO_ID_VALUE);
}

static void
test_gpio_regs_inputs(void **state)
{
    fx_t *fx = *state;
    uint32_t out = 0, counter = 0;
    int i;

    EXPECT_RD(fx, BAR0, GPIO_REG_IN, 4, 0);
    /* a walk of patterns through every way to change the outputs */
    for (i = 0; i < 40; i++) {
        uint32_t v = 0x9e3779b9u * (uint32_t)(i + 1);

        switch (i % 3) {
        case 0:
            WR(fx, BAR0, GPIO_REG_OUT, 4, v);
            out = v;
            break;
        case 1:
            WR(fx, BAR0, GPIO_REG_OUT_SET, 4, v);
            out |= v;
            break;
        default:
            WR(fx, BAR0, GPIO_REG_OUT_CLR, 4, v);
            out &= ~v;
            break;
        }
        counter++;
        EXPECT_RD(fx, BAR0, GPIO_REG_OUT, 4, out);
        EXPECT_RD(fx, BAR0, GPIO_REG_COUNTER, 4, counter);
        EXPECT_RD(fx, BAR0, GPIO_REG_IN, 4, expected_in(out, counter));
    }
    /* pin 0 loops back to input 16 */
    WR(fx, BAR0, GPIO_REG_OUT, 4, 1);
    counter++;
    EXPECT_RD(fx, BAR0, GPIO_REG_IN + 2, 1, 1);
    EXPECT_RD(fx, BAR0, GPIO_REG_IN, 1, counter & 0xff);
}

static void
test_gpio_regs_scratch(void **state)
{
    fx_t *fx = *state;

    EXPECT_RD(fx, BAR0, GPIO_REG_SCRATCH, 4, 0);
    WR(fx, BAR0, GPIO_REG_SCRATCH, 4, 0xcafef00d);
    EXPECT_RD(fx, BAR0, GPIO_REG_SCRATCH, 4, 0xcafef00d);
    /* no side effect on the pins */
    EXPECT_RD(fx, BAR0, GPIO_REG_OUT, 4, 0);
    EXPECT_RD(fx, BAR0, GPIO_REG_COUNTER, 4, 0);
}

static void
test_gpio_io_bar_edge_counters(void **state)
{
    fx_t *fx = *state;
    int i;

    EXPECT_RD(fx, BAR2, 0, 8, 0);
    /* three rising edges on pin 0, one on pin 9, none on pin 31 */
    for (i = 0; i < 3; i++) {
        WR(fx, BAR0, GPIO_REG_OUT_SET, 4, 0x00000201);
        WR(fx, BAR0, GPIO_REG_OUT_CLR, 4, 0x00000001);
    }
    EXPECT_RD(fx, BAR2, 0, 1, 3);
    EXPECT_RD(fx, BAR2, 9, 1, 1);
    EXPECT_RD(fx, BAR2, 8, 2, 0x0100);
    EXPECT_RD(fx, BAR2, 31, 1, 0);
    /* presetting a counter by writing it */
    WR(fx, BAR2, 4, 4, 0x04030201);
    EXPECT_RD(fx, BAR2, 4, 4, 0x04030201);
    EXPECT_RD(fx, BAR2, 0, 8, 0x0403020100000003ull);
    WR(fx, BAR0, GPIO_REG_OUT_SET, 4, 0x00000010);
    EXPECT_RD(fx, BAR2, 4, 1, 2);
}

/* ------------------------------------------------------------------ */
/* Interrupts                                                          */
/* ------------------------------------------------------------------ */

/* DEVICE_SET_IRQS: route INTx to @efd (the client keeps its copy). */
static void
set_intx_eventfd(fx_t *fx, int efd)
{
    struct vfio_irq_set set = {
        .argsz = sizeof(set),
        .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
        .index = VFIO_PCI_INTX_IRQ_INDEX,
        .start = 0,
        .count = 1,
    };
    vmm_reply_t reply;

    memset(&reply, 0, sizeof(reply));
    assert_int_equal(vmm_send_raw(fx->vmm, VFIO_USER_DEVICE_SET_IRQS, &set,
                                  sizeof(set), &efd, 1, &reply),
                     0);
    assert_int_equal(reply.hdr.flags & VFIO_USER_F_ERROR, 0);
    vmm_reply_free(&reply);
}

static uint64_t
eventfd_take(int efd)
{
    uint64_t n = 0;

    if (read(efd, &n, sizeof(n)) != (ssize_t)sizeof(n)) {
        assert_int_equal(errno, EAGAIN);
        return 0;
    }
    return n;
}

static void
test_gpio_irq_status_and_delivery(void **state)
{
    fx_t *fx = *state;
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    uint64_t cmd;

    assert_true(efd >= 0);
    set_intx_eventfd(fx, efd);

    /* input 16 follows output 0 */
    WR(fx, BAR0, GPIO_REG_IRQ_ENABLE, 4, 0x00010000);
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_ENABLE, 4, 0x00010000);
    WR(fx, BAR0, GPIO_REG_OUT_SET, 4, 1); /* IN 0 -> 0x00010001 */
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_STATUS, 4, 0x00010000);
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_COUNT, 4, 1);
    assert_int_equal(eventfd_take(efd), 1);
    assert_true(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);

    /* write one to clear */
    WR(fx, BAR0, GPIO_REG_IRQ_STATUS, 4, 0x00010000);
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_STATUS, 4, 0);
    assert_false(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);

    /* only disabled inputs change (the counter bits): nothing */
    WR(fx, BAR0, GPIO_REG_OUT_SET, 4, 1); /* IN -> 0x00010002 */
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_STATUS, 4, 0);
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_COUNT, 4, 1);
    assert_int_equal(eventfd_take(efd), 0);

    /* two enabled inputs change in one write: one interrupt */
    WR(fx, BAR0, GPIO_REG_IRQ_ENABLE, 4, 0x00010003);
    WR(fx, BAR0, GPIO_REG_OUT_CLR, 4, 1); /* IN -> 0x00000003 */
    EXPECT_RD(fx, BAR0, GPIO_REG_IN, 4, 0x00000003);
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_STATUS, 4, 0x00010001);
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_COUNT, 4, 2);
    assert_int_equal(eventfd_take(efd), 1);
    /* clearing one bit leaves the other */
    WR(fx, BAR0, GPIO_REG_IRQ_STATUS, 2, 0x0001);
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_STATUS, 4, 0x00010000);
    WR(fx, BAR0, GPIO_REG_IRQ_STATUS, 4, 0xffffffff);
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_STATUS, 4, 0);

    /* INTx disabled in the command register: status latches, no signal */
    cmd = cfg_rd(fx, PCI_COMMAND, 2);
    CFG_WR(fx, PCI_COMMAND, 2, cmd | PCI_COMMAND_INTX_DISABLE);
    WR(fx, BAR0, GPIO_REG_OUT_SET, 4, 1); /* IN -> 0x00010004 */
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_STATUS, 4, 0x00010003);
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_COUNT, 4, 2);
    assert_int_equal(eventfd_take(efd), 0);
    CFG_WR(fx, PCI_COMMAND, 2, cmd);
    WR(fx, BAR0, GPIO_REG_OUT_CLR, 4, 1); /* IN -> 0x00000005 */
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_COUNT, 4, 3);
    assert_int_equal(eventfd_take(efd), 1);

    close(efd);
}

static void
test_gpio_irq_without_eventfd(void **state)
{
    fx_t *fx = *state;

    /* the device signals even if the client never set an eventfd */
    WR(fx, BAR0, GPIO_REG_IRQ_ENABLE, 4, 0xffffffff);
    WR(fx, BAR0, GPIO_REG_OUT, 4, 0x00ff00ff);
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_STATUS, 4, expected_in(0x00ff00ff, 1));
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_COUNT, 4, 1);
    EXPECT_RD(fx, BAR0, GPIO_REG_ID, 4, GPIO_ID_VALUE);
}

/* ------------------------------------------------------------------ */
/* Reset and reconnection                                              */
/* ------------------------------------------------------------------ */

static void
test_gpio_reset_restores_state(void **state)
{
    fx_t *fx = *state;

    WR(fx, BAR0, GPIO_REG_IRQ_ENABLE, 4, 0xffffffff);
    WR(fx, BAR0, GPIO_REG_OUT, 4, 0xdeadbeef);
    WR(fx, BAR0, GPIO_REG_SCRATCH, 4, 0x5a5a5a5a);
    WR(fx, BAR2, 28, 4, 0x01020304);
    EXPECT_RD(fx, BAR0, GPIO_REG_OUT, 4, 0xdeadbeef);
    assert_int_not_equal(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);

    assert_int_equal(vmm_reset(fx->vmm), 0);

    EXPECT_RD(fx, BAR0, GPIO_REG_ID, 4, GPIO_ID_VALUE);
    EXPECT_RD(fx, BAR0, GPIO_REG_OUT, 4, 0);
    EXPECT_RD(fx, BAR0, GPIO_REG_IN, 4, 0);
    EXPECT_RD(fx, BAR0, GPIO_REG_COUNTER, 4, 0);
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_ENABLE, 4, 0);
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_STATUS, 4, 0);
    EXPECT_RD(fx, BAR0, GPIO_REG_IRQ_COUNT, 4, 0);
    EXPECT_RD(fx, BAR0, GPIO_REG_SCRATCH, 4, 0);
    EXPECT_RD(fx, BAR2, 0, 8, 0);
    EXPECT_RD(fx, BAR2, 24, 8, 0);
    assert_int_equal(cfg_rd(fx, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
    EXPECT_CFG(fx, PCI_VENDOR_ID, 2, GPIO_VENDOR_ID);

    /* and it works as before */
    WR(fx, BAR0, GPIO_REG_OUT_SET, 4, 0x3);
    EXPECT_RD(fx, BAR0, GPIO_REG_IN, 4, expected_in(0x3, 1));
}

static void
test_gpio_second_client(void **state)
{
    fx_t *fx = *state;
    int i;

    WR(fx, BAR0, GPIO_REG_SCRATCH, 4, 0x1234);
    EXPECT_RD(fx, BAR0, GPIO_REG_SCRATCH, 4, 0x1234);
    for (i = 0; i < 3; i++) {
        fx_drop_client(fx);
        assert_int_equal(fx_connect(fx), 0);
        EXPECT_CFG(fx, PCI_VENDOR_ID, 2, GPIO_VENDOR_ID);
        EXPECT_RD(fx, BAR0, GPIO_REG_ID, 4, GPIO_ID_VALUE);
        WR(fx, BAR0, GPIO_REG_SCRATCH, 4, 0x1000 + (uint32_t)i);
        EXPECT_RD(fx, BAR0, GPIO_REG_SCRATCH, 4, 0x1000 + (uint32_t)i);
    }
}

/* ------------------------------------------------------------------ */
/* The standalone binary                                               */
/* ------------------------------------------------------------------ */

/* `gpio -1 PATH` serves one client, exits 0 and removes its socket. */
static void
test_gpio_main_once(void **state)
{
    const char *p = tu_sock_path("gpio-once");
    char path[256];
    fx_t fx;
    int status = -1;
    int i;

    (void)state;
    snprintf(path, sizeof(path), "%s", p);
    memset(&fx, 0, sizeof(fx));
    snprintf(fx.path, sizeof(fx.path), "%s", path);
    fx.pid = spawn_gpio(path, true);
    assert_true(fx.pid > 0);
    assert_int_equal(fx_connect(&fx), 0);
    EXPECT_CFG(&fx, PCI_VENDOR_ID, 2, GPIO_VENDOR_ID);
    vmm_close(fx.vmm);

    for (i = 0; i < 1000; i++) {
        if (waitpid(fx.pid, &status, WNOHANG) == fx.pid) {
            break;
        }
        sleep_ms(10);
    }
    if (i == 1000) {
        stop_gpio(fx.pid);
        fail_msg("gpio -1 did not exit after its client left");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(access(path, F_OK), -1);
}

/* Bad usage is refused before anything is created. */
static void
test_gpio_main_usage(void **state)
{
    char bin[4096];
    char bad[] = "-x";
    char *argv[] = {bin, bad, NULL};
    pid_t pid;
    int status = -1;

    (void)state;
    snprintf(bin, sizeof(bin), "%s", tu_build_path("devices/gpio"));
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);

        if (devnull >= 0) {
            dup2(devnull, STDERR_FILENO);
        }
        execv(bin, argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
}

/* each test twice: in-process, then against the spawned gpio binary */
/* clang-format off */
#define BOTH(fn)                                                               \
    {#fn "_inproc", fn, fx_setup_inproc, fx_teardown, NULL},                   \
    {#fn "_sock", fn, fx_setup_sock, fx_teardown, NULL}
/* clang-format on */

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_gpio_device_info),
        BOTH(test_gpio_region_info),
        BOTH(test_gpio_irq_info),
        BOTH(test_gpio_config_ids),
        BOTH(test_gpio_config_caps),
        BOTH(test_gpio_config_bar_sizing),
        BOTH(test_gpio_regs_identity),
        BOTH(test_gpio_regs_outputs),
        BOTH(test_gpio_regs_widths),
        BOTH(test_gpio_regs_bounds),
        BOTH(test_gpio_regs_inputs),
        BOTH(test_gpio_regs_scratch),
        BOTH(test_gpio_io_bar_edge_counters),
        BOTH(test_gpio_irq_status_and_delivery),
        BOTH(test_gpio_irq_without_eventfd),
        BOTH(test_gpio_reset_restores_state),
        BOTH(test_gpio_second_client),
        cmocka_unit_test_setup_teardown(test_gpio_main_once, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_gpio_main_usage, tu_fd_setup,
                                        tu_fd_teardown),
    };

    /* a server that dies must not kill the test with SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("gpio_e2e", tests, NULL, NULL);
}
