/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_quiesce.c - quiesce around DMA map/unmap and reset: the callbacks
 * run only once the device is quiesced, the EBUSY flow of vfu_run_ctx()
 * and vfu_device_quiesced(), failed quiesces, what a device may call from
 * its callbacks while quiesced, and a client that leaves while we answer.
 */
#include "test_dma_util.h"

#define PG 4096u

/* How many quiesce calls each DMA callback saw before it ran. */
static size_t quiesce_at_cb[8];
static size_t nr_cb;

static void
note_quiesce(fx_t *fx, vfu_dma_info_t *info)
{
    (void)info;
    if (nr_cb < 8) {
        quiesce_at_cb[nr_cb++] = fx->nr_quiesce;
    }
}

static void
test_quiesce_dma_callbacks_after_quiesce(void **state)
{
    fx_t *fx = fx_new_dma(16, true);

    (void)state;
    nr_cb = 0;
    fx->on_reg = note_quiesce;
    fx->on_unreg = note_quiesce;
    fx_attach(fx);
    assert_int_equal(fx->nr_quiesce, 0);
    assert_int_equal(fx_map(fx, RW, 0x10000, PG, -1, 0), 0);
    assert_int_equal(fx_unmap(fx, 0x10000, PG, 0), 0);
    assert_int_equal(fx_map(fx, RW, 0x10000, PG, -1, 0), 0);
    assert_int_equal(fx_unmap(fx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL), 0);
    assert_int_equal(nr_cb, 4);
    assert_int_equal(quiesce_at_cb[0], 1);
    assert_int_equal(quiesce_at_cb[1], 2);
    assert_int_equal(quiesce_at_cb[2], 3);
    assert_int_equal(quiesce_at_cb[3], 4);
    /* a refused map is quiesced for too: the device cannot tell */
    assert_int_equal(fx_map(fx, RW, 0x10000, 0, -1, 0), EINVAL);
    /* commands that change no mapping need no quiesce */
    {
        struct vfio_user_device_info info = {.argsz = sizeof(info)};

        assert_int_equal(fx_rt(fx, VFIO_USER_DEVICE_GET_INFO, &info,
                               sizeof(info)),
                         0);
    }
    assert_true(fx->nr_quiesce <= 5);
    fx_free(fx);
}

static void
test_quiesce_busy_map_then_done(void **state)
{
    fx_t *fx = fx_new_dma(16, true);
    dma_sg_t *sg = sg_alloc(1);
    struct vfio_user_dma_map m = map_req(RW, 0x10000, PG, 0);

    (void)state;
    fx_attach(fx);
    assert_int_equal(vfu_device_quiesced(fx->ctx, 0), -1);
    assert_int_equal(errno, EINVAL);
    fx->quiesce_ret = EBUSY;
    fx_send(fx, VFIO_USER_DMA_MAP, &m, sizeof(m), NULL, 0);
    errno = 0;
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(errno, EBUSY);
    /* still quiescing: nothing happens, nothing is answered */
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(fx->nr_quiesce, 1);
    assert_int_equal(fx->nr_reg, 0);
    assert_int_equal(vfu_ext_inproc_pending(fx->ctx), 0);
    /* the device may still translate while it quiesces */
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000, 8, sg,
                                     1, PROT_READ),
                     -1);
    assert_int_equal(errno, ENOENT);
    /* done: the map runs inside vfu_device_quiesced() */
    assert_int_equal(vfu_device_quiesced(fx->ctx, 0), 0);
    assert_int_equal(fx->nr_reg, 1);
    assert_int_equal(fx_pop(fx, VFIO_USER_DMA_MAP), 0);
    assert_int_equal(vfu_run_ctx(fx->ctx), 0);
    assert_int_equal(fx->nr_quiesce, 1);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000, 8, sg,
                                     1, PROT_READ),
                     1);
    /* a second vfu_device_quiesced() has nothing to finish */
    assert_int_equal(vfu_device_quiesced(fx->ctx, 0), -1);
    assert_int_equal(errno, EINVAL);
    fx_free(fx);
    free(sg);
}

static void
test_quiesce_busy_unmap_and_reset(void **state)
{
    fx_t *fx = fx_new_dma(16, true);
    struct vfio_user_dma_unmap u = {.argsz = sizeof(u), .addr = 0x10000,
                                    .size = PG};

    (void)state;
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW, 0x10000, PG, -1, 0), 0);
    fx->quiesce_ret = EBUSY;
    fx_send(fx, VFIO_USER_DMA_UNMAP, &u, sizeof(u), NULL, 0);
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(fx->nr_unreg, 0);
    assert_int_equal(vfu_device_quiesced(fx->ctx, 0), 0);
    assert_int_equal(fx->nr_unreg, 1);
    assert_int_equal(fx_pop(fx, VFIO_USER_DMA_UNMAP), 0);

    fx_send(fx, VFIO_USER_DEVICE_RESET, NULL, 0, NULL, 0);
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(fx->nr_reset, 0);
    assert_int_equal(vfu_device_quiesced(fx->ctx, 0), 0);
    assert_int_equal(fx->nr_reset, 1);
    assert_int_equal(fx_pop(fx, VFIO_USER_DEVICE_RESET), 0);
    assert_int_equal(fx->nr_quiesce, 3);
    fx_free(fx);
}

/* A failed quiesce fails the request with the device's errno */
static void
test_quiesce_failures(void **state)
{
    fx_t *fx = fx_new_dma(16, true);
    struct vfio_user_dma_map m = map_req(RW, 0x10000, PG, 0);
    dma_sg_t *sg = sg_alloc(1);

    (void)state;
    fx_attach(fx);
    fx->quiesce_ret = ENOTTY;
    assert_int_equal(fx_map(fx, RW, 0x10000, PG, -1, 0), ENOTTY);
    assert_int_equal(fx->nr_reg, 0);
    /* busy, then failed: answered with that errno (libvfio-user drops it) */
    fx->quiesce_ret = EBUSY;
    fx_send(fx, VFIO_USER_DMA_MAP, &m, sizeof(m), NULL, 0);
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(vfu_device_quiesced(fx->ctx, ENOTTY), 0);
    assert_int_equal(fx_pop(fx, VFIO_USER_DMA_MAP), ENOTTY);
    assert_int_equal(fx->nr_reg, 0);
    assert_int_equal(vfu_addr_to_sgl(fx->ctx, (vfu_dma_addr_t)0x10000, 8, sg,
                                     1, PROT_READ),
                     -1);
    assert_int_equal(errno, ENOENT);
    /* the next request is served normally */
    fx->quiesce_ret = 0;
    assert_int_equal(fx_map(fx, RW, 0x10000, PG, -1, 0), 0);
    fx_free(fx);
    free(sg);
}

/*
 * What a device may do from its callbacks while quiesced (libvfio-user's
 * test_allowed_funcs_in_quiesced_*): translate and map the region being
 * registered or unregistered, and any region from the reset callback.
 */
static int cb_fails;

static void
use_region(fx_t *fx, vfu_dma_info_t *info)
{
    dma_sg_t *sg = sg_alloc(1);
    struct iovec iov;

    if (vfu_addr_to_sgl(fx->ctx, info->iova.iov_base, 8, sg, 1,
                        PROT_READ | PROT_WRITE) != 1 ||
        vfu_sgl_get(fx->ctx, sg, &iov, 1, 0) != 0 || iov.iov_base == NULL ||
        iov.iov_len != 8) {
        cb_fails++;
    } else {
        *(uint8_t *)iov.iov_base += 1;
        vfu_sgl_put(fx->ctx, sg, &iov, 1);
    }
    free(sg);
}

static int
reset_uses_region(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
    fx_t *fx = vfu_get_private(ctx);
    vfu_dma_info_t info = {.iova = {.iov_base = (void *)0x10000,
                                    .iov_len = PG}};

    (void)type;
    fx->nr_reset++;
    use_region(fx, &info);
    return 0;
}

static void
test_quiesce_allowed_funcs_in_callbacks(void **state)
{
    int fd = fx_memfd(PG, 0);
    fx_t *fx = fx_new_dma(16, true);
    uint8_t *p;

    (void)state;
    cb_fails = 0;
    fx->on_reg = use_region;
    fx->on_unreg = use_region;
    assert_int_equal(vfu_setup_device_reset_cb(fx->ctx, reset_uses_region),
                     0);
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW, 0x10000, PG, fd, 0), 0);
    assert_int_equal(fx_rt(fx, VFIO_USER_DEVICE_RESET, NULL, 0), 0);
    assert_int_equal(fx_unmap(fx, 0x10000, PG, 0), 0);
    /* the busy flavour: the callbacks run inside vfu_device_quiesced() */
    fx->quiesce_ret = EBUSY;
    {
        struct vfio_user_dma_map m = map_req(RW, 0x10000, PG, 0);

        fx_send(fx, VFIO_USER_DMA_MAP, &m, sizeof(m), &fd, 1);
    }
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(vfu_device_quiesced(fx->ctx, 0), 0);
    assert_int_equal(fx_pop(fx, VFIO_USER_DMA_MAP), 0);
    assert_int_equal(cb_fails, 0);
    p = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(p != MAP_FAILED);
    assert_int_equal(p[0], 4); /* register, reset, unregister, register */
    munmap(p, PG);
    fx_free(fx);
    close(fd);
}

/* The client leaves while the device is still quiescing for its map */
static void
test_quiesce_client_lost_while_busy(void **state)
{
    fx_t *fx = fx_new_dma(16, true);
    struct vfio_user_dma_map m = map_req(RW, 0x10000, PG, 0);

    (void)state;
    fx_attach(fx);
    fx->quiesce_ret = EBUSY;
    fx_send(fx, VFIO_USER_DMA_MAP, &m, sizeof(m), NULL, 0);
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(errno, EBUSY);
    vfu_ext_inproc_disconnect(fx->ctx);
    assert_int_equal(fx->nr_reset, 0);
    /*
     * Done quiescing: the map runs, its reply finds nobody, and the
     * client's state is cleaned up without a second quiesce (the device
     * is quiesced already), as libvfio-user does.
     */
    assert_int_equal(vfu_device_quiesced(fx->ctx, 0), 0);
    assert_int_equal(fx->nr_reg, 1);
    assert_int_equal(fx->nr_unreg, 1);
    assert_int_equal(fx->nr_reset, 1);
    assert_int_equal(fx->nr_quiesce, 1);
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    fx_free(fx);
}

static void
disconnect_in_cb(fx_t *fx, vfu_dma_info_t *info)
{
    (void)info;
    vfu_ext_inproc_disconnect(fx->ctx);
}

static void
disconnect_then_busy(fx_t *fx, vfu_dma_info_t *info)
{
    (void)info;
    vfu_ext_inproc_disconnect(fx->ctx);
    fx->quiesce_ret = EBUSY;
}

/*
 * The reply fails because the client left during the map (libvfio-user's
 * test_dma_map_reply_fail): the device is quiesced again for the
 * clean-up, the call still reports the message served, the next one
 * ENOTCONN.
 */
static void
test_quiesce_reply_fails(void **state)
{
    fx_t *fx = fx_new_dma(16, true);
    struct vfio_user_dma_map m = map_req(RW, 0x10000, PG, 0);

    (void)state;
    fx->on_reg = disconnect_in_cb;
    fx_attach(fx);
    fx_send(fx, VFIO_USER_DMA_MAP, &m, sizeof(m), NULL, 0);
    assert_int_equal(vfu_run_ctx(fx->ctx), 1);
    assert_int_equal(fx->nr_quiesce, 2);
    assert_int_equal(fx->nr_reset, 1);
    assert_int_equal(fx->nr_unreg, 1);
    errno = 0;
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(fx->nr_reset, 1);

    /* the same when the clean-up's quiesce is busy: EBUSY, then done */
    fx_free(fx);
    fx = fx_new_dma(16, true);
    fx->on_reg = disconnect_then_busy;
    fx_attach(fx);
    fx_send(fx, VFIO_USER_DMA_MAP, &m, sizeof(m), NULL, 0);
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(fx->nr_quiesce, 2);
    assert_int_equal(fx->nr_reset, 0);
    assert_int_equal(vfu_device_quiesced(fx->ctx, 0), 0);
    assert_int_equal(fx->nr_reset, 1);
    assert_int_equal(fx->nr_unreg, 1);
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(fx->nr_quiesce, 2);
    fx_free(fx);
}

/* Migration state changes are quiesced for too, busy or not */
static size_t nr_trans;
static vfu_migr_state_t trans_to[8];
static size_t quiesce_at_trans[8];

static int
trans_cb(vfu_ctx_t *ctx, vfu_migr_state_t state)
{
    fx_t *fx = vfu_get_private(ctx);

    if (nr_trans < 8) {
        quiesce_at_trans[nr_trans] = fx->nr_quiesce;
        trans_to[nr_trans] = state;
    }
    nr_trans++;
    return 0;
}

static ssize_t
data_cb(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
    (void)ctx;
    (void)buf;
    (void)count;
    return 0;
}

static int
set_state(fx_t *fx, uint32_t state, bool send_only)
{
    uint8_t body[sizeof(struct vfio_user_device_feature) +
                 sizeof(struct vfio_user_device_feature_mig_state)];
    struct vfio_user_device_feature f = {
        .argsz = sizeof(body),
        .flags = VFIO_DEVICE_FEATURE_SET |
                 VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE};
    struct vfio_user_device_feature_mig_state st = {.device_state = state};

    memcpy(body, &f, sizeof(f));
    memcpy(body + sizeof(f), &st, sizeof(st));
    if (send_only) {
        fx_send(fx, VFIO_USER_DEVICE_FEATURE, body, sizeof(body), NULL, 0);
        return 0;
    }
    return fx_rt(fx, VFIO_USER_DEVICE_FEATURE, body, sizeof(body));
}

static void
test_quiesce_migration_transitions(void **state)
{
    const vfu_migration_callbacks_t cbs = {
        .version = VFU_MIGR_CALLBACKS_VERS,
        .transition = trans_cb,
        .read_data = data_cb,
        .write_data = data_cb};
    fx_t *fx = fx_new_dma(16, true);

    (void)state;
    nr_trans = 0;
    assert_int_equal(vfu_setup_device_migration_callbacks(fx->ctx, &cbs), 0);
    fx_attach(fx);
    /* RUNNING -> STOP_COPY goes through STOP: two steps, one quiesce */
    assert_int_equal(set_state(fx, VFIO_USER_DEVICE_STATE_STOP_COPY, false),
                     0);
    assert_int_equal(nr_trans, 2);
    assert_int_equal(trans_to[0], VFU_MIGR_STATE_STOP);
    assert_int_equal(trans_to[1], VFU_MIGR_STATE_STOP_AND_COPY);
    assert_int_equal(quiesce_at_trans[0], 1);
    assert_int_equal(quiesce_at_trans[1], 1);
    /* the spec forbids STOP_COPY -> PRE_COPY */
    assert_int_equal(set_state(fx, VFIO_USER_DEVICE_STATE_PRE_COPY, false),
                     EINVAL);
    assert_int_equal(nr_trans, 2);
    /* busy: the transition waits for vfu_device_quiesced() */
    fx->quiesce_ret = EBUSY;
    assert_int_equal(set_state(fx, VFIO_USER_DEVICE_STATE_RUNNING, true), 0);
    assert_int_equal(vfu_run_ctx(fx->ctx), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(nr_trans, 2);
    assert_int_equal(vfu_device_quiesced(fx->ctx, 0), 0);
    assert_int_equal(fx_pop(fx, VFIO_USER_DEVICE_FEATURE), 0);
    assert_int_equal(nr_trans, 4);
    assert_int_equal(trans_to[3], VFU_MIGR_STATE_RUNNING);
    fx_free(fx);
}

/* A device without a quiesce callback is never asked */
static void
test_quiesce_without_callback(void **state)
{
    fx_t *fx = fx_new_dma(16, false);

    (void)state;
    fx_attach(fx);
    assert_int_equal(fx_map(fx, RW, 0x10000, PG, -1, 0), 0);
    assert_int_equal(fx_rt(fx, VFIO_USER_DEVICE_RESET, NULL, 0), 0);
    assert_int_equal(vfu_device_quiesced(fx->ctx, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(fx->nr_quiesce, 0);
    fx_free(fx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_quiesce_dma_callbacks_after_quiesce),
        T(test_quiesce_busy_map_then_done),
        T(test_quiesce_busy_unmap_and_reset),
        T(test_quiesce_failures),
        T(test_quiesce_allowed_funcs_in_callbacks),
        T(test_quiesce_client_lost_while_busy),
        T(test_quiesce_reply_fails),
        T(test_quiesce_migration_transitions),
        T(test_quiesce_without_callback),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
