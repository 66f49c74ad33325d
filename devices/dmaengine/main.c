/* SPDX-License-Identifier: BSD-3-Clause */
/* main.c - run the dmaengine sample device standalone on a UNIX socket. */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "devices.h"

static void
log_stderr(vfu_ctx_t *ctx, int level, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "dmaengine[%d]: <%d> %s\n", (int)getpid(), level, msg);
}

static void
usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s [-v] [-1] SOCKET_PATH\n"
            "       %s [-v] [-1] -s SOCKET_PATH\n"
            "Serve the dmaengine sample device (a DMA accelerator) over\n"
            "vfio-user on a UNIX socket.\n"
            "  -v  debug log on stderr\n"
            "  -1  serve one client, then exit\n",
            prog, prog);
}

int
main(int argc, char *argv[])
{
    const char *path = NULL;
    bool verbose = false;
    bool once = false;
    vfu_device_t dev;
    int opt;
    int rc;

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
            usage(stdout, argv[0]);
            return 0;
        default:
            usage(stderr, argv[0]);
            return 2;
        }
    }
    if (path == NULL && optind < argc) {
        path = argv[optind++];
    }
    if (path == NULL || optind != argc) {
        usage(stderr, argv[0]);
        return 2;
    }

    rc = vfu_device_open("dmaengine", VFU_TRANS_SOCK, path,
                         LIBVFIO_USER_FLAG_ATTACH_NB, &dev);
    if (rc < 0) {
        fprintf(stderr, "dmaengine: cannot serve on %s: %s\n", path,
                strerror(-rc));
        return 1;
    }
    /* errors are always worth seeing; -v adds the per-message chatter */
    if (vfu_setup_log(dev.ctx, log_stderr, verbose ? LOG_DEBUG : LOG_ERR) < 0) {
        fprintf(stderr, "dmaengine: cannot set up logging: %s\n",
                strerror(errno));
    }

    rc = vfu_device_serve(&dev, once);
    if (rc < 0) {
        fprintf(stderr, "dmaengine: stopped: %s\n", strerror(-rc));
    }
    vfu_device_close(&dev);
    return rc < 0 ? 1 : 0;
}
