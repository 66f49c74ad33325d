/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfu_record.c - vfu-record: sit between any vfio-user client and server
 * and write what they do as a .vus scenario that vfu-run replays
 * (docs/recorder.md).
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/rec.h"

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: vfu-record --listen PATH --connect PATH -o FILE.vus "
            "[options]\n"
            "Proxy a vfio-user session and record it as a scenario.\n"
            "  -l, --listen PATH         socket for the client (created)\n"
            "  -c, --connect PATH        socket of the server\n"
            "  -o, --output FILE         the scenario; session N>1 goes to "
            "FILE-N.vus\n"
            "  -1, --once                record one session, then exit\n"
            "  -n, --sessions N          stop after N sessions\n"
            "      --cap SIZE            guest memory captured per statement "
            "(1M)\n"
            "      --watch SIZE          fd-backed guest memory watched "
            "(64M)\n"
            "      --no-irq              pass eventfds through; no 'expect "
            "irq'\n"
            "      --timeout MS          rest of a message (5000)\n"
            "      --connect-timeout MS  waiting for the server's socket "
            "(5000)\n"
            "  -q, --quiet               no progress lines\n"
            "  -h, --help                this text\n"
            "      --version             the version\n"
            "SIZE takes K, M and G suffixes.  SIGINT/SIGTERM end the "
            "session cleanly.\n");
}

/* a decimal or 0x number with an optional K/M/G suffix */
static int
parse_size(const char *s, uint64_t max, uint64_t *out)
{
    unsigned long long v;
    char *end;
    int shift = 0;

    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *s == '-') {
        return -EINVAL;
    }
    if (*end == 'K') {
        shift = 10;
    } else if (*end == 'M') {
        shift = 20;
    } else if (*end == 'G') {
        shift = 30;
    } else if (*end != '\0') {
        return -EINVAL;
    }
    if (shift > 0 && end[1] != '\0') {
        return -EINVAL;
    }
    if (v > (max >> shift)) {
        return -ERANGE;
    }
    *out = (uint64_t)v << shift;
    return 0;
}

enum {
    OPT_CAP = 256,
    OPT_WATCH,
    OPT_NO_IRQ,
    OPT_TIMEOUT,
    OPT_CONNECT_TIMEOUT,
    OPT_VERSION,
};

int
main(int argc, char *argv[])
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"connect", required_argument, NULL, 'c'},
        {"output", required_argument, NULL, 'o'},
        {"once", no_argument, NULL, '1'},
        {"sessions", required_argument, NULL, 'n'},
        {"cap", required_argument, NULL, OPT_CAP},
        {"watch", required_argument, NULL, OPT_WATCH},
        {"no-irq", no_argument, NULL, OPT_NO_IRQ},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    rec_opts_t o;
    uint64_t v;
    int opt, rc;

    rec_opts_default(&o);
    while ((opt = getopt_long(argc, argv, "l:c:o:1n:qh", longopts, NULL)) !=
           -1) {
        switch (opt) {
        case 'l':
            o.listen_path = optarg;
            break;
        case 'c':
            o.connect_path = optarg;
            break;
        case 'o':
            o.out_path = optarg;
            break;
        case '1':
            o.once = true;
            break;
        case 'n':
            if (parse_size(optarg, UINT_MAX, &v) < 0 || v == 0) {
                fprintf(stderr, "vfu-record: bad --sessions '%s'\n", optarg);
                return 2;
            }
            o.max_sessions = (unsigned)v;
            break;
        case OPT_CAP:
        case OPT_WATCH:
            if (parse_size(optarg, UINT64_MAX >> 1, &v) < 0) {
                fprintf(stderr, "vfu-record: bad size '%s'\n", optarg);
                return 2;
            }
            if (opt == OPT_CAP) {
                o.cap_bytes = v;
            } else {
                o.watch_bytes = v;
            }
            break;
        case OPT_NO_IRQ:
            o.irq_proxy = false;
            break;
        case OPT_TIMEOUT:
        case OPT_CONNECT_TIMEOUT:
            if (parse_size(optarg, 3600u * 1000u, &v) < 0 || v == 0) {
                fprintf(stderr, "vfu-record: bad time '%s' (ms)\n", optarg);
                return 2;
            }
            if (opt == OPT_TIMEOUT) {
                o.timeout_ms = (int)v;
            } else {
                o.connect_timeout_ms = (int)v;
            }
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("vfu-record %s\n", REC_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || o.listen_path == NULL || o.connect_path == NULL ||
        o.out_path == NULL) {
        usage(stderr);
        return 2;
    }
    if (strcmp(o.listen_path, o.connect_path) == 0) {
        fprintf(stderr, "vfu-record: --listen and --connect are the same "
                        "socket\n");
        return 2;
    }
    rc = rec_serve(&o);
    if (rc < 0) {
        fprintf(stderr, "vfu-record: %s\n", strerror(-rc));
        return 1;
    }
    return 0;
}
