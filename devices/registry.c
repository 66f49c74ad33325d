/* SPDX-License-Identifier: BSD-3-Clause */
/* registry.c - find sample device models by name and run them. */

#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "devices.h"

static const vfu_device_model_t *const models[] = {
    &vfu_device_gpio,
    &vfu_device_dmaengine,
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

/*
 * Wait until @fd is readable or a stop signal arrives.  The signals stay
 * blocked except inside ppoll(), so one that lands between the flag check
 * and the wait is not lost: ppoll returns EINTR at once.
 */
static int
wait_readable(int fd, const sigset_t *waitmask)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    if (stop_requested) {
        return -EINTR;
    }
    if (ppoll(&pfd, 1, NULL, waitmask) < 0) {
        return -errno;
    }
    return 0;
}

int
vfu_device_serve(vfu_device_t *dev, bool once)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigset_t stopmask, waitmask;
    int rc = 0;

    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&stopmask);
    sigaddset(&stopmask, SIGINT);
    sigaddset(&stopmask, SIGTERM);
    sigprocmask(SIG_BLOCK, &stopmask, &waitmask);
    sigdelset(&waitmask, SIGINT);
    sigdelset(&waitmask, SIGTERM);

    while (!stop_requested) {
        /* wait for a client */
        if (vfu_attach_ctx(dev->ctx) < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                rc = wait_readable(vfu_get_poll_fd(dev->ctx), &waitmask);
                if (rc < 0 && rc != -EINTR) {
                    break;
                }
                rc = 0;
                continue;
            }
            if (errno == EINVAL) {
                continue; /* negotiation failed; that client was dropped */
            }
            rc = -errno;
            break;
        }
        /* serve it until it leaves */
        while (!stop_requested) {
            int n = vfu_run_ctx(dev->ctx);

            if (n > 0 || (n < 0 && errno == EBUSY)) {
                continue;
            }
            if (n == 0 || errno == EAGAIN || errno == EINTR) {
                if (wait_readable(vfu_get_poll_fd(dev->ctx), &waitmask) ==
                    -EINTR) {
                    break;
                }
                continue;
            }
            /*
             * ENOTCONN, or any error the library met with this client: it
             * has dropped the connection; go back to accepting.
             */
            break;
        }
        if (once) {
            break;
        }
    }
    sigprocmask(SIG_UNBLOCK, &stopmask, NULL);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The standalone device binaries                                      */
/* ------------------------------------------------------------------ */

static const char *log_name = "device";

static void
log_stderr(vfu_ctx_t *ctx, int level, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "%s[%d]: <%d> %s\n", log_name, (int)getpid(), level, msg);
}

static void
usage(FILE *f, const char *prog, const char *name)
{
    fprintf(f,
            "usage: %s [-v] [-1] SOCKET_PATH\n"
            "       %s [-v] [-1] -s SOCKET_PATH\n"
            "Serve the %s sample device over vfio-user on a UNIX socket.\n"
            "  -v  debug log on stderr\n"
            "  -1  serve one client, then exit\n",
            prog, prog, name);
}

int
vfu_device_main(const char *name, int argc, char *argv[])
{
    const char *path = NULL;
    bool verbose = false;
    bool once = false;
    vfu_device_t dev;
    int opt;
    int rc;

    log_name = name;
    while ((opt = getopt(argc, argv, "v1s:h")) != -1) {
        switch (opt) {
        case 'v':
            verbose = true;
            break;
        case '1':
            once = true;
            break;
        case 's':
            path = optarg;
            break;
        case 'h':
            usage(stdout, argv[0], name);
            return 0;
        default:
            usage(stderr, argv[0], name);
            return 2;
        }
    }
    if (path == NULL && optind < argc) {
        path = argv[optind++];
    }
    if (path == NULL || optind != argc) {
        usage(stderr, argv[0], name);
        return 2;
    }

    rc = vfu_device_open(name, VFU_TRANS_SOCK, path,
                         LIBVFIO_USER_FLAG_ATTACH_NB, &dev);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot serve on %s: %s\n", name, path,
                strerror(-rc));
        return 1;
    }
    /* errors are always worth seeing; -v adds the per-message chatter */
    if (vfu_setup_log(dev.ctx, log_stderr, verbose ? LOG_DEBUG : LOG_ERR) < 0) {
        fprintf(stderr, "%s: cannot set up logging: %s\n", name,
                strerror(errno));
    }

    rc = vfu_device_serve(&dev, once);
    if (rc < 0) {
        fprintf(stderr, "%s: stopped: %s\n", name, strerror(-rc));
    }
    vfu_device_close(&dev);
    return rc < 0 ? 1 : 0;
}
