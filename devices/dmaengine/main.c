/* SPDX-License-Identifier: BSD-3-Clause */
/* main.c - run the dmaengine sample device standalone on a UNIX socket. */

#include "devices.h"

int
main(int argc, char *argv[])
{
    return vfu_device_main("dmaengine", argc, argv);
}
