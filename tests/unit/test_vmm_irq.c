/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_vmm_irq.c - the fake VMM's interrupts: enabling, counting, waiting,
 * masking and disabling INTx of the gpio device in-process and over a
 * socket, SET_IRQS split by max_msg_fds against a scripted server, and
 * eventfd leak checks.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gpio/gpio.h"
#include "test_vmm_util.h"

#define BAR0 VFU_PCI_DEV_BAR0_REGION_IDX
#define INTX VFIO_PCI_INTX_IRQ_INDEX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX
/* input pin 16 follows output pin 0 (the gpio's crossed loopback) */
#define PIN16 (1u << 16)

static int
setup_common(void **state, bool sock)
{
    tv_fx_t *fx = calloc(1, sizeof(*fx));

    tu_fd_setup(state);
    if (fx == NULL || tv_fx_open(fx, "gpio", sock, NULL) < 0) {
        if (fx != NULL) {
            tv_fx_close(fx);
        }
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int
setup_inproc(void **state)
{
    return setup_common(state, false);
}

static int
setup_sock(void **state)
{
    return setup_common(state, true);
}

static int
teardown(void **state)
{
    tv_fx_t *fx = *state;

    tv_fx_close(fx);
    free(fx);
    return tu_fd_teardown(state);
}

/* Toggle output pin 0, which raises INTx when input pin 16 is enabled. */
static void
toggle_pin0(tv_fx_t *fx)
{
    uint64_t out;

    assert_int_equal(vmm_region_read_val(fx->vmm, BAR0, GPIO_REG_OUT, 4, &out),
                     0);
    assert_int_equal(
        vmm_region_write_val(fx->vmm, BAR0, GPIO_REG_OUT, 4, out ^ 1), 0);
}

static uint64_t
device_irq_count(tv_fx_t *fx)
{
    uint64_t v;

    assert_int_equal(
        vmm_region_read_val(fx->vmm, BAR0, GPIO_REG_IRQ_COUNT, 4, &v), 0);
    return v;
}

/* ------------------------------------------------------------------ */
/* Against the gpio device                                             */
/* ------------------------------------------------------------------ */

static void
test_irq_enable_count_wait(void **state)
{
    tv_fx_t *fx = *state;
    int fds = tu_count_fds();
    uint64_t n;

    assert_int_equal(vmm_irq_enable(fx->vmm, INTX, 0, 1), 0);
    /* our eventfd, and the copy the server (same process) holds */
    assert_int_equal(tu_count_fds(), fds + 2);
    assert_int_equal(fx->wire.out[VFIO_USER_DEVICE_SET_IRQS], 1);
    assert_int_equal(fx->wire.out_fds[VFIO_USER_DEVICE_SET_IRQS], 1);

    /* nothing yet */
    assert_int_equal(vmm_irq_count(fx->vmm, INTX, 0, false, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(vmm_irq_wait(fx->vmm, INTX, 0, 0), -ETIMEDOUT);
    /* an enabled pin's change raises INTx */
    assert_int_equal(
        vmm_region_write_val(fx->vmm, BAR0, GPIO_REG_IRQ_ENABLE, 4, PIN16),
        0);
    toggle_pin0(fx);
    assert_int_equal(vmm_irq_wait(fx->vmm, INTX, 0, 5000), 0);
    toggle_pin0(fx);
    toggle_pin0(fx);
    /* the server raised it before it replied: all three are there */
    assert_int_equal(vmm_irq_count(fx->vmm, INTX, 0, false, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(device_irq_count(fx), 3);
    /* taken: back to zero, and wait has nothing to find */
    assert_int_equal(vmm_irq_count(fx->vmm, INTX, 0, true, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(vmm_irq_count(fx->vmm, INTX, 0, true, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(vmm_irq_wait(fx->vmm, INTX, 0, 10), -ETIMEDOUT);
    /* a write that changes no enabled pin raises nothing */
    assert_int_equal(
        vmm_region_write_val(fx->vmm, BAR0, GPIO_REG_SCRATCH, 4, 1), 0);
    assert_int_equal(vmm_irq_count(fx->vmm, INTX, 0, false, &n), 0);
    assert_int_equal(n, 0);
}

static void
test_irq_reenable_restarts(void **state)
{
    tv_fx_t *fx = *state;
    int fds;
    uint64_t n;

    assert_int_equal(vmm_irq_enable(fx->vmm, INTX, 0, 1), 0);
    fds = tu_count_fds();
    assert_int_equal(
        vmm_region_write_val(fx->vmm, BAR0, GPIO_REG_IRQ_ENABLE, 4, PIN16),
        0);
    toggle_pin0(fx);
    assert_int_equal(vmm_irq_enable(fx->vmm, INTX, 0, 1), 0);
    /* the old eventfd was replaced, not added to (on both sides) */
    assert_int_equal(tu_count_fds(), fds);
    assert_int_equal(vmm_irq_count(fx->vmm, INTX, 0, false, &n), 0);
    assert_int_equal(n, 0);
    toggle_pin0(fx);
    assert_int_equal(vmm_irq_count(fx->vmm, INTX, 0, false, &n), 0);
    assert_int_equal(n, 1);
}

static void
test_irq_mask_unmask(void **state)
{
    tv_fx_t *fx = *state;
    uint64_t n;

    /* our server masks INTx though it says only EVENTFD, as libvfio-user */
    assert_int_equal(vmm_irq_enable(fx->vmm, INTX, 0, 1), 0);
    assert_int_equal(
        vmm_region_write_val(fx->vmm, BAR0, GPIO_REG_IRQ_ENABLE, 4, PIN16),
        0);
    assert_int_equal(vmm_irq_mask(fx->vmm, INTX, 0, 1, true), 0);
    toggle_pin0(fx);
    /* masked: the device raised it, we saw nothing */
    assert_int_equal(device_irq_count(fx), 1);
    assert_int_equal(vmm_irq_wait(fx->vmm, INTX, 0, 10), -ETIMEDOUT);
    assert_int_equal(vmm_irq_count(fx->vmm, INTX, 0, false, &n), 0);
    assert_int_equal(n, 0);
    /* unmasked: the pending one comes through */
    assert_int_equal(vmm_irq_mask(fx->vmm, INTX, 0, 1, false), 0);
    assert_int_equal(vmm_irq_wait(fx->vmm, INTX, 0, 5000), 0);
    assert_int_equal(vmm_irq_count(fx->vmm, INTX, 0, true, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(fx->wire.out[VFIO_USER_DEVICE_SET_IRQS], 3);
    /* outside the index's vectors: refused before the wire */
    assert_int_equal(vmm_irq_mask(fx->vmm, INTX, 0, 2, true), -EINVAL);
    assert_int_equal(vmm_irq_mask(fx->vmm, INTX, 1, 1, true), -EINVAL);
    assert_int_equal(vmm_irq_mask(fx->vmm, INTX, 0, 0, true), -EINVAL);
    assert_int_equal(fx->wire.out[VFIO_USER_DEVICE_SET_IRQS], 3);
}

static void
test_irq_disable(void **state)
{
    tv_fx_t *fx = *state;
    int fds = tu_count_fds();
    uint64_t n;

    assert_int_equal(vmm_irq_enable(fx->vmm, INTX, 0, 1), 0);
    assert_int_equal(
        vmm_region_write_val(fx->vmm, BAR0, GPIO_REG_IRQ_ENABLE, 4, PIN16),
        0);
    assert_int_equal(vmm_irq_disable(fx->vmm, INTX), 0);
    /* our eventfd is closed, and the server's copy */
    assert_int_equal(tu_count_fds(), fds);
    assert_int_equal(vmm_irq_count(fx->vmm, INTX, 0, false, &n), -EINVAL);
    assert_int_equal(vmm_irq_wait(fx->vmm, INTX, 0, 0), -EINVAL);
    /* the device still raises it; nobody listens, nothing breaks */
    toggle_pin0(fx);
    assert_int_equal(device_irq_count(fx), 1);
    /* disabling what is disabled is fine */
    assert_int_equal(vmm_irq_disable(fx->vmm, INTX), 0);
    assert_int_equal(fx->wire.out[VFIO_USER_DEVICE_SET_IRQS], 3);
    assert_int_equal(fx->wire.out_fds[VFIO_USER_DEVICE_SET_IRQS], 1);
    /* and it can be enabled again */
    assert_int_equal(vmm_irq_enable(fx->vmm, INTX, 0, 1), 0);
    toggle_pin0(fx);
    assert_int_equal(vmm_irq_wait(fx->vmm, INTX, 0, 5000), 0);
}

static void
test_irq_bad_args(void **state)
{
    tv_fx_t *fx = *state;
    uint64_t n = 7;

    /* the gpio has one INTx vector and no MSI-X */
    assert_int_equal(vmm_irq_enable(fx->vmm, INTX, 0, 2), -EINVAL);
    assert_int_equal(vmm_irq_enable(fx->vmm, INTX, 1, 1), -EINVAL);
    assert_int_equal(vmm_irq_enable(fx->vmm, INTX, 0, 0), -EINVAL);
    assert_int_equal(vmm_irq_enable(fx->vmm, INTX, UINT32_MAX, 2), -EINVAL);
    assert_int_equal(vmm_irq_enable(fx->vmm, MSIX, 0, 1), -EINVAL);
    assert_int_equal(vmm_irq_enable(fx->vmm, 99, 0, 1), -EINVAL);
    assert_int_equal(vmm_irq_enable(NULL, INTX, 0, 1), -EINVAL);
    assert_int_equal(vmm_irq_disable(fx->vmm, 99), -EINVAL);
    assert_int_equal(vmm_irq_disable(NULL, INTX), -EINVAL);
    assert_int_equal(vmm_irq_mask(fx->vmm, 99, 0, 1, true), -EINVAL);
    assert_int_equal(fx->wire.out[VFIO_USER_DEVICE_SET_IRQS], 0);
    /* nothing enabled: nothing to count or wait for */
    assert_int_equal(vmm_irq_count(fx->vmm, INTX, 0, false, &n), -EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(vmm_irq_count(fx->vmm, INTX, 0, false, NULL), -EINVAL);
    assert_int_equal(vmm_irq_count(fx->vmm, 99, 0, false, &n), -EINVAL);
    assert_int_equal(vmm_irq_wait(fx->vmm, INTX, 0, 0), -EINVAL);
    assert_int_equal(vmm_irq_enable(fx->vmm, INTX, 0, 1), 0);
    assert_int_equal(vmm_irq_count(fx->vmm, INTX, 1, false, &n), -EINVAL);
    assert_int_equal(vmm_irq_wait(fx->vmm, INTX, 0, -1), -EINVAL);
}

/* vmm_close() closes what is still enabled (teardown counts the fds). */
static void
test_irq_close_releases(void **state)
{
    tv_fx_t *fx = *state;

    assert_int_equal(vmm_irq_enable(fx->vmm, INTX, 0, 1), 0);
    /* every device has one ERR and one REQ vector */
    assert_int_equal(vmm_irq_enable(fx->vmm, VFIO_PCI_ERR_IRQ_INDEX, 0, 1),
                     0);
    assert_int_equal(vmm_irq_enable(fx->vmm, VFIO_PCI_REQ_IRQ_INDEX, 0, 1),
                     0);
    vmm_close(fx->vmm);
    fx->vmm = NULL;
}

/* ------------------------------------------------------------------ */
/* Against a scripted server                                           */
/* ------------------------------------------------------------------ */

static void
irq_info_reply(int sfd, uint16_t id, uint32_t index, uint32_t count)
{
    struct vfio_irq_info info = {.argsz = sizeof(info),
                                 .flags = VFIO_IRQ_INFO_EVENTFD,
                                 .index = index,
                                 .count = count};

    tv_reply(sfd, id, VFIO_USER_DEVICE_GET_IRQ_INFO, &info, sizeof(info));
}

/* One SET_IRQS per max_msg_fds vectors, each with its own fds. */
static void
test_irq_split_by_max_msg_fds(void **state)
{
    vmm_opts_t opts = {.timeout_ms = 1000, .max_msg_fds = 16};
    static const uint32_t want_start[] = {4, 20, 36};
    static const uint32_t want_count[] = {16, 16, 8};
    proto_msg_t sent[8];
    uint64_t n;
    size_t i, got;
    int sfd;
    vmm_t *vmm = tv_fake_client(&sfd, &opts, NULL);

    (void)state;
    irq_info_reply(sfd, 0, MSIX, 64);
    tv_reply(sfd, 1, VFIO_USER_DEVICE_SET_IRQS, NULL, 0);
    tv_reply(sfd, 2, VFIO_USER_DEVICE_SET_IRQS, NULL, 0);
    tv_reply(sfd, 3, VFIO_USER_DEVICE_SET_IRQS, NULL, 0);
    assert_int_equal(vmm_irq_enable(vmm, MSIX, 4, 40), 0);
    got = tv_drain(sfd, sent, 8);
    assert_int_equal(got, 4);
    assert_int_equal(sent[0].hdr.cmd, VFIO_USER_DEVICE_GET_IRQ_INFO);
    for (i = 0; i < 3; i++) {
        struct vfio_irq_set s;
        uint64_t one = 1;
        size_t k;

        assert_int_equal(sent[i + 1].hdr.cmd, VFIO_USER_DEVICE_SET_IRQS);
        assert_int_equal(sent[i + 1].body_len, sizeof(s));
        memcpy(&s, sent[i + 1].body, sizeof(s));
        assert_int_equal(s.argsz, sizeof(s));
        assert_int_equal(s.flags, VFIO_IRQ_SET_DATA_EVENTFD |
                                      VFIO_IRQ_SET_ACTION_TRIGGER);
        assert_int_equal(s.index, MSIX);
        assert_int_equal(s.start, want_start[i]);
        assert_int_equal(s.count, want_count[i]);
        assert_int_equal(sent[i + 1].nr_fds, want_count[i]);
        /* the fds are the vectors' eventfds: signal every other one */
        for (k = 0; k < sent[i + 1].nr_fds; k += 2) {
            assert_int_equal(write(sent[i + 1].fds[k], &one, sizeof(one)),
                             sizeof(one));
        }
    }
    for (i = 4; i < 44; i++) {
        assert_int_equal(vmm_irq_count(vmm, MSIX, (uint32_t)i, false, &n), 0);
        assert_int_equal(n, i % 2 == 0 ? 1 : 0);
    }
    assert_int_equal(vmm_irq_count(vmm, MSIX, 3, false, &n), -EINVAL);
    assert_int_equal(vmm_irq_count(vmm, MSIX, 44, false, &n), -EINVAL);
    tv_free_all(sent, got);

    /* the index's count is checked before anything is sent */
    assert_int_equal(vmm_irq_enable(vmm, MSIX, 60, 5), -EINVAL);
    assert_int_equal(tv_drain(sfd, sent, 8), 0);
    vmm_close(vmm);
    close(sfd);
}

/* A later message of a split enable fails: the earlier vectors stay. */
static void
test_irq_enable_partial_failure(void **state)
{
    vmm_opts_t opts = {.timeout_ms = 1000, .max_msg_fds = 2};
    proto_msg_t sent[8];
    uint64_t n;
    size_t got;
    int sfd;
    int fds = tu_count_fds();
    vmm_t *vmm = tv_fake_client(&sfd, &opts, NULL);

    (void)state;
    irq_info_reply(sfd, 0, MSIX, 8);
    tv_reply(sfd, 1, VFIO_USER_DEVICE_SET_IRQS, NULL, 0);
    tv_error(sfd, 2, VFIO_USER_DEVICE_SET_IRQS, EINVAL);
    assert_int_equal(vmm_irq_enable(vmm, MSIX, 0, 6), -EINVAL);
    got = tv_drain(sfd, sent, 8);
    /* the third message never went out */
    assert_int_equal(got, 3);
    tv_free_all(sent, got);
    assert_int_equal(vmm_irq_count(vmm, MSIX, 0, false, &n), 0);
    assert_int_equal(vmm_irq_count(vmm, MSIX, 1, false, &n), 0);
    assert_int_equal(vmm_irq_count(vmm, MSIX, 2, false, &n), -EINVAL);
    assert_int_equal(vmm_irq_count(vmm, MSIX, 5, false, &n), -EINVAL);
    /* two eventfds kept, the four others closed */
    assert_int_equal(tu_count_fds(), fds + 2 + 2);

    /* disable: SET_IRQS TRIGGER|DATA_NONE, start 0, count 0; all closed */
    tv_reply(sfd, 3, VFIO_USER_DEVICE_SET_IRQS, NULL, 0);
    assert_int_equal(vmm_irq_disable(vmm, MSIX), 0);
    assert_int_equal(tu_count_fds(), fds + 2);
    got = tv_drain(sfd, sent, 8);
    assert_int_equal(got, 1);
    {
        struct vfio_irq_set s;

        memcpy(&s, sent[0].body, sizeof(s));
        assert_int_equal(s.flags, VFIO_IRQ_SET_DATA_NONE |
                                      VFIO_IRQ_SET_ACTION_TRIGGER);
        assert_int_equal(s.index, MSIX);
        assert_int_equal(s.start, 0);
        assert_int_equal(s.count, 0);
        assert_int_equal(sent[0].nr_fds, 0);
    }
    tv_free_all(sent, got);

    /* mask and unmask: DATA_NONE, the range, no fds */
    tv_reply(sfd, 4, VFIO_USER_DEVICE_SET_IRQS, NULL, 0);
    tv_error(sfd, 5, VFIO_USER_DEVICE_SET_IRQS, ENOTSUP);
    assert_int_equal(vmm_irq_mask(vmm, MSIX, 3, 2, true), 0);
    assert_int_equal(vmm_irq_mask(vmm, MSIX, 3, 2, false), -ENOTSUP);
    got = tv_drain(sfd, sent, 8);
    assert_int_equal(got, 2);
    {
        struct vfio_irq_set s;

        memcpy(&s, sent[0].body, sizeof(s));
        assert_int_equal(s.flags,
                         VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK);
        assert_int_equal(s.start, 3);
        assert_int_equal(s.count, 2);
        memcpy(&s, sent[1].body, sizeof(s));
        assert_int_equal(s.flags,
                         VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK);
    }
    tv_free_all(sent, got);
    vmm_close(vmm);
    close(sfd);
}

/* A server whose IRQ info claims absurd vector counts. */
static void
test_irq_hostile_counts(void **state)
{
    proto_msg_t sent[4];
    size_t got;
    int sfd;
    vmm_t *vmm = tv_fake_client(&sfd, NULL, NULL);

    (void)state;
    irq_info_reply(sfd, 0, MSIX, UINT32_MAX);
    /* more vectors than any PCI function has: refused locally */
    assert_int_equal(vmm_irq_enable(vmm, MSIX, 4000, 1), -EINVAL);
    assert_int_equal(vmm_irq_enable(vmm, MSIX, 0, 100000), -EINVAL);
    got = tv_drain(sfd, sent, 4);
    assert_int_equal(got, 1); /* the IRQ info request only */
    tv_free_all(sent, got);
    vmm_close(vmm);
    close(sfd);
}

/*
 * Waiting serves the server: a DMA_WRITE that comes while we wait is
 * answered, and the wait ends on the eventfd.
 */
static void
test_irq_wait_serves_server(void **state)
{
    uint8_t body[sizeof(struct vfio_user_dma_region_access) + 4];
    struct vfio_user_dma_region_access a = {.addr = 0x1000, .count = 4};
    static const uint8_t data[4] = {0xde, 0xad, 0xbe, 0xef};
    proto_msg_t sent[4];
    uint8_t out[4];
    uint64_t one = 1;
    uint64_t n;
    size_t got;
    int efd;
    int sfd;
    vmm_t *vmm = tv_fake_client(&sfd, NULL, NULL);

    (void)state;
    tv_reply(sfd, 0, VFIO_USER_DMA_MAP, NULL, 0);
    assert_int_equal(vmm_mem_map(vmm, 0x1000, 0x1000, VMM_MEM_RW), 0);
    irq_info_reply(sfd, 1, INTX, 1);
    tv_reply(sfd, 2, VFIO_USER_DEVICE_SET_IRQS, NULL, 0);
    assert_int_equal(vmm_irq_enable(vmm, INTX, 0, 1), 0);
    got = tv_drain(sfd, sent, 4);
    assert_int_equal(got, 3);
    efd = proto_msg_take_fd(&sent[2], 0);
    assert_true(efd >= 0);
    tv_free_all(sent, got);

    memcpy(body, &a, sizeof(a));
    memcpy(body + sizeof(a), data, 4);
    tv_cmd(sfd, 0x66, VFIO_USER_DMA_WRITE, body, sizeof(body));
    assert_int_equal(vmm_irq_wait(vmm, INTX, 0, 50), -ETIMEDOUT);
    assert_int_equal(vmm_mem_read(vmm, 0x1000, out, 4), 0);
    assert_memory_equal(out, data, 4);
    got = tv_drain(sfd, sent, 4);
    assert_int_equal(got, 1);
    assert_int_equal(sent[0].hdr.msg_id, 0x66);
    tv_free_all(sent, got);

    /* the "server" raises the vector: the wait ends at once */
    assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
    assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
    assert_int_equal(vmm_irq_wait(vmm, INTX, 0, 5000), 0);
    assert_int_equal(vmm_irq_count(vmm, INTX, 0, true, &n), 0);
    assert_int_equal(n, 2);

    /* a server that hangs up ends the wait too */
    close(sfd);
    assert_int_equal(vmm_irq_wait(vmm, INTX, 0, 5000), -ENOTCONN);
    close(efd);
    vmm_close(vmm);
}

/* ------------------------------------------------------------------ */

#define BOTH(fn)                                                               \
    cmocka_unit_test_setup_teardown(fn, setup_inproc, teardown),               \
        cmocka_unit_test_setup_teardown(fn, setup_sock, teardown)
#define PLAIN(fn)                                                              \
    cmocka_unit_test_setup_teardown(fn, tu_fd_setup, tu_fd_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_irq_enable_count_wait),
        BOTH(test_irq_reenable_restarts),
        BOTH(test_irq_mask_unmask),
        BOTH(test_irq_disable),
        BOTH(test_irq_bad_args),
        BOTH(test_irq_close_releases),
        PLAIN(test_irq_split_by_max_msg_fds),
        PLAIN(test_irq_enable_partial_failure),
        PLAIN(test_irq_hostile_counts),
        PLAIN(test_irq_wait_serves_server),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
