/* SPDX-License-Identifier: BSD-3-Clause */
/* registry.c - find sample device models by name and run them. */

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "devices.h"

static const vfu_device_model_t *const models[] = {
    &vfu_device_gpio,
};

const vfu_device_model_t *
vfu_device_find(const char *name)
{
    size_t i;

    if (name == NULL) {
        return NULL;
    }
    for (i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
        if (strcmp(models[i]->name, name) == 0) {
            return models[i];
        }
    }
    return NULL;
}

const vfu_device_model_t *
vfu_device_at(size_t i)
{
    return i < sizeof(models) / sizeof(models[0]) ? models[i] : NULL;
}

int
vfu_device_open(const char *name, vfu_trans_t trans, const char *path,
                int flags, vfu_device_t *dev)
{
    const vfu_device_model_t *model = vfu_device_find(name);
    int err;

    memset(dev, 0, sizeof(*dev));
    if (model == NULL) {
        return -ENOENT;
    }
    dev->model = model;
    dev->state = model->create();
    if (dev->state == NULL) {
        return -ENOMEM;
    }
    dev->ctx = vfu_create_ctx(trans, path, flags, dev->state,
                              VFU_DEV_TYPE_PCI);
    if (dev->ctx == NULL) {
        err = -errno;
        goto fail;
    }
    if (model->setup(dev->ctx) < 0 || vfu_realize_ctx(dev->ctx) < 0) {
        err = -errno;
        goto fail;
    }
    return 0;

fail:
    vfu_device_close(dev);
    return err < 0 ? err : -EIO;
}

void
vfu_device_close(vfu_device_t *dev)
{
    if (dev == NULL) {
        return;
    }
    vfu_destroy_ctx(dev->ctx);
    dev->ctx = NULL;
    if (dev->model != NULL && dev->state != NULL) {
        dev->model->destroy(dev->state);
    }
    dev->state = NULL;
}

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int
vfu_device_serve(vfu_device_t *dev, bool once)
{
    struct sigaction sa = {.sa_handler = on_signal};

    /* no SA_RESTART: a signal must interrupt the blocking accept/recv */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    while (!stop_requested) {
        if (vfu_attach_ctx(dev->ctx) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            if (errno == EINVAL) {
                /* negotiation failed: that client is gone, wait for next */
                continue;
            }
            return -errno;
        }
        while (!stop_requested) {
            if (vfu_run_ctx(dev->ctx) < 0) {
                if (errno == EINTR || errno == EBUSY) {
                    continue;
                }
                if (errno == ENOTCONN) {
                    break;
                }
                return -errno;
            }
        }
        if (once) {
            break;
        }
    }
    return 0;
}
