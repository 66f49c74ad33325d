/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devices.h - registry of the sample device models, so the harness, tools
 * and tests can instantiate one by name, in-process or on a socket.
 */
#ifndef VFU_DEVICES_H
#define VFU_DEVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "vfio-user/libvfio-user.h"

typedef struct vfu_device_model {
    const char *name;
    const char *description;
    /* Allocate the model's state (passed as the context's private data). */
    void *(*create)(void);
    /*
     * Describe the device on @ctx (created with the state above, not yet
     * realized): config space, regions, IRQs, callbacks.  Returns 0 or -1
     * with errno.
     */
    int (*setup)(vfu_ctx_t *ctx);
    /* Free the state; accepts NULL. */
    void (*destroy)(void *state);
} vfu_device_model_t;

/** vfu_device_find - the model called @name, or NULL. */
const vfu_device_model_t *
vfu_device_find(const char *name);

/** vfu_device_at - model @i in registration order, NULL past the end. */
const vfu_device_model_t *
vfu_device_at(size_t i);

/*
 * A device instance: its context and its model's state.
 */
typedef struct vfu_device {
    const vfu_device_model_t *model;
    vfu_ctx_t *ctx;
    void *state;
} vfu_device_t;

/**
 * vfu_device_open - create, set up and realize model @name on a context of
 * transport @trans (@path for sockets).  Returns 0 or a negative errno.
 */
int
vfu_device_open(const char *name, vfu_trans_t trans, const char *path,
                int flags, vfu_device_t *dev);

/** vfu_device_close - destroy the context, then the state; accepts zeroed. */
void
vfu_device_close(vfu_device_t *dev);

/**
 * vfu_device_serve - the standalone main loop of a device binary: attach,
 * run, re-attach on disconnect, until SIGINT/SIGTERM (or after one client
 * when @once).  The context must be non-blocking (LIBVFIO_USER_FLAG_ATTACH_NB):
 * waiting happens in ppoll() so a stop signal is never lost.  Returns 0 or
 * a negative errno.
 */
int
vfu_device_serve(vfu_device_t *dev, bool once);

/**
 * vfu_device_main - main() of a standalone device binary:
 * `NAME [-v] [-1] SOCKET_PATH` serves model @name on a UNIX socket until
 * SIGINT/SIGTERM (-1: after one client).  Returns the exit status.
 */
int
vfu_device_main(const char *name, int argc, char *argv[]);

/* Models (one line per device; registry.c lists them). */
extern const vfu_device_model_t vfu_device_gpio;
extern const vfu_device_model_t vfu_device_dmaengine;

#endif /* VFU_DEVICES_H */
