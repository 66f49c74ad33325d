/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_vmm_answer.c - vmm_dma_answer(): the reply set aside reaches the
 * server instead of guest memory (the device sees the failure), is used
 * once, carries its fds, and an unused one leaks nothing at vmm_close().
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dmaengine/dmaengine.h"
#include "test_vmm_util.h"

#define BAR0 VFU_PCI_DEV_BAR0_REGION_IDX
#define RING 0x100000ull
#define REC 0x101000ull

static uint32_t
rd32(vmm_t *vmm, uint64_t off)
{
    uint64_t v = 0;

    assert_int_equal(vmm_region_read_val(vmm, BAR0, off, 4, &v), 0);
    return (uint32_t)v;
}

static void
wr32(vmm_t *vmm, uint64_t off, uint32_t v)
{
    assert_int_equal(vmm_region_write_val(vmm, BAR0, off, 4, v), 0);
}

/* Queue 0 on a 2-entry ring in fd-less guest memory, one NOP queued. */
static void
queue_nop(vmm_t *vmm)
{
    uint32_t q = DMAE_QREG(0, 0);
    dmae_desc_t d;

    memset(&d, 0, sizeof(d));
    d.opcode = DMAE_OP_NOP;
    d.flags = DMAE_DESC_F_COMPL;
    d.completion = REC;
    assert_int_equal(vmm_mem_write(vmm, RING, &d, sizeof(d)), 0);
    wr32(vmm, q + DMAE_Q_CTRL, DMAE_QCTRL_RESET);
    wr32(vmm, q + DMAE_Q_RING_LO, (uint32_t)RING);
    wr32(vmm, q + DMAE_Q_RING_HI, 0);
    wr32(vmm, q + DMAE_Q_RING_SIZE, 2);
    wr32(vmm, q + DMAE_Q_CTRL, DMAE_QCTRL_ENABLE);
}

static void
check_answers(bool sock)
{
    uint32_t q = DMAE_QREG(0, 0);
    uint8_t few[8] = {0};
    tv_fx_t fx;
    int efd;

    assert_int_equal(tv_fx_open(&fx, "dmaengine", sock, NULL), 0);
    assert_int_equal(vmm_mem_map(fx.vmm, RING, 0x10000,
                                 VMM_MEM_READ | VMM_MEM_WRITE | VMM_MEM_NOFD),
                     0);
    wr32(fx.vmm, DMAE_REG_CTRL, DMAE_CTRL_ENABLE);

    /* an error reply to the ring fetch: the queue halts, RING_FAULT */
    queue_nop(fx.vmm);
    assert_int_equal(vmm_dma_answer(fx.vmm, VFIO_USER_DMA_READ,
                                    VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
                                    EIO, NULL, 0, NULL, 0),
                     0);
    wr32(fx.vmm, q + DMAE_Q_TAIL, 1);
    assert_int_equal(rd32(fx.vmm, q + DMAE_Q_ERROR), DMAE_ERR_RING_FAULT);

    /* a reply too short, with an fd it should not carry: the same */
    efd = eventfd(0, EFD_CLOEXEC);
    assert_true(efd >= 0);
    queue_nop(fx.vmm);
    assert_int_equal(vmm_dma_answer(fx.vmm, VFIO_USER_DMA_READ,
                                    VFIO_USER_F_TYPE_REPLY, 0, few,
                                    sizeof(few), &efd, 1),
                     0);
    close(efd); /* the client holds its own copy */
    wr32(fx.vmm, q + DMAE_Q_TAIL, 1);
    assert_int_equal(rd32(fx.vmm, q + DMAE_Q_ERROR), DMAE_ERR_RING_FAULT);

    /* used once: the next doorbell is served from guest memory */
    queue_nop(fx.vmm);
    wr32(fx.vmm, q + DMAE_Q_TAIL, 1);
    assert_int_equal(rd32(fx.vmm, q + DMAE_Q_ERROR), DMAE_ERR_NONE);
    assert_int_equal(rd32(fx.vmm, q + DMAE_Q_COMPLETED), 1);

    /* bad arguments */
    assert_int_equal(vmm_dma_answer(fx.vmm, VFIO_USER_REGION_READ, 1, 0, NULL,
                                    0, NULL, 0),
                     -EINVAL);
    assert_int_equal(vmm_dma_answer(fx.vmm, VFIO_USER_DMA_READ, 1, 0, NULL, 4,
                                    NULL, 0),
                     -EINVAL);
    assert_int_equal(vmm_dma_answer(NULL, VFIO_USER_DMA_READ, 1, 0, NULL, 0,
                                    NULL, 0),
                     -EINVAL);
    /* one left set aside, with an fd: closed with the client */
    efd = eventfd(0, EFD_CLOEXEC);
    assert_true(efd >= 0);
    assert_int_equal(vmm_dma_answer(fx.vmm, VFIO_USER_DMA_WRITE, 1, 0, NULL,
                                    0, &efd, 1),
                     0);
    close(efd);
    tv_fx_close(&fx);
}

static void
test_answer_inproc(void **state)
{
    (void)state;
    check_answers(false);
}

static void
test_answer_socket(void **state)
{
    (void)state;
    check_answers(true);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_answer_inproc, tu_fd_setup,
                                        tu_fd_teardown),
        cmocka_unit_test_setup_teardown(test_answer_socket, tu_fd_setup,
                                        tu_fd_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
