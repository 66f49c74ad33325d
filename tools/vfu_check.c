/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfu_check.c - vfu-check: a quick conformance pass over one vfio-user
 * server (a built-in sample device in-process, or any server on a socket):
 * negotiation, discovery, config space, BAR sizing, region access, error
 * handling and reset, printed as a table with a summary line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/devices.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/vmm.h"

typedef struct check_run {
    vmm_t *vmm;
    unsigned passed, failed;
    bool quiet;
} check_run_t;

static void
report(check_run_t *run, const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
report(check_run_t *run, const char *name, bool ok, const char *fmt, ...)
{
    char detail[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (ok) {
        run->passed++;
    } else {
        run->failed++;
    }
    if (!run->quiet || !ok) {
        printf("  %-4s  %-22s %s\n", ok ? "PASS" : "FAIL", name, detail);
    }
}

static void
check_negotiation(check_run_t *run)
{
    const vmm_caps_t *c = vmm_get_caps(run->vmm);

    report(run, "negotiate", c->max_data_xfer_size >= 4096 &&
                                 c->max_msg_fds >= 1 && c->pgsizes != 0,
           "version %u.%u, max_data_xfer_size %" PRIu64 ", max_msg_fds %u",
           c->major, c->minor, c->max_data_xfer_size, c->max_msg_fds);
}

static void
check_device_info(check_run_t *run, struct vfio_user_device_info *info)
{
    int rc = vmm_device_info(run->vmm, info);

    report(run, "device-info",
           rc == 0 && (info->flags & VFIO_DEVICE_FLAGS_PCI) &&
               info->num_regions >= VFU_PCI_DEV_NUM_REGIONS &&
               info->num_irqs >= VFU_DEV_NUM_IRQS,
           rc == 0 ? "flags 0x%x, %u regions, %u irq types" : "error %d",
           rc == 0 ? info->flags : (unsigned)-rc, info->num_regions,
           info->num_irqs);
}

static void
check_regions(check_run_t *run, const struct vfio_user_device_info *info)
{
    const vmm_region_t *r;
    unsigned present = 0, bad = 0;
    uint32_t i;

    for (i = 0; i < info->num_regions && i < 64; i++) {
        if (vmm_region_info(run->vmm, i, &r) != 0) {
            bad++;
            continue;
        }
        if (r->size > 0) {
            present++;
        }
        /* every mmap area must lie inside its region */
        for (uint32_t a = 0; a < r->nr_areas; a++) {
            if (r->areas[a].offset + r->areas[a].size > r->size) {
                bad++;
            }
        }
    }
    report(run, "region-info", bad == 0, "%u regions with a size, %u bad",
           present, bad);

    if (vmm_region_info(run->vmm, VFU_PCI_DEV_CFG_REGION_IDX, &r) == 0) {
        report(run, "config-region", r->size == 256 || r->size == 4096,
               "%" PRIu64 " bytes", r->size);
    } else {
        report(run, "config-region", false, "no config region");
    }
}

static void
check_irqs(check_run_t *run, const struct vfio_user_device_info *info)
{
    static const char *const names[] = {"INTx", "MSI", "MSI-X", "ERR", "REQ"};
    char detail[160] = "";
    size_t used = 0;
    unsigned bad = 0;
    uint32_t i;

    for (i = 0; i < info->num_irqs && i < 5; i++) {
        struct vfio_irq_info irq = {0};

        if (vmm_irq_info(run->vmm, i, &irq) != 0 || irq.index != i) {
            bad++;
            continue;
        }
        used += (size_t)snprintf(detail + used, sizeof(detail) - used,
                                 "%s%s %u", used ? ", " : "", names[i],
                                 irq.count);
        if (used >= sizeof(detail)) {
            used = sizeof(detail) - 1;
        }
    }
    report(run, "irq-info", bad == 0, "%s", detail);
}

static void
check_config(check_run_t *run)
{
    uint64_t vid = 0, did = 0, status = 0, ptr = 0;
    unsigned caps = 0;
    bool loop = false;
    int rc;

    rc = vmm_config_read(run->vmm, PCI_VENDOR_ID, 2, &vid);
    rc = rc ?: vmm_config_read(run->vmm, PCI_DEVICE_ID, 2, &did);
    report(run, "config-ids", rc == 0 && vid != 0xffff,
           "vendor %04" PRIx64 " device %04" PRIx64, vid, did);

    rc = vmm_config_read(run->vmm, PCI_STATUS, 2, &status);
    if (rc == 0 && (status & PCI_STATUS_CAP_LIST)) {
        rc = vmm_config_read(run->vmm, PCI_CAPABILITY_LIST, 1, &ptr);
        /* a list longer than 48 entries in 256 bytes must be a loop */
        while (rc == 0 && ptr != 0 && !loop) {
            uint64_t next;

            if (ptr < PCI_STD_HEADER_SIZEOF || ptr > 0xfc || (ptr & 3)) {
                rc = -EINVAL;
                break;
            }
            rc = vmm_config_read(run->vmm, ptr + 1, 1, &next);
            ptr = next;
            loop = ++caps > 48;
        }
    }
    report(run, "config-caps", rc == 0 && !loop, "%u capabilities%s", caps,
           rc != 0 ? ", malformed list" : "");
}

static void
check_bar_sizing(check_run_t *run)
{
    unsigned sized = 0, bad = 0;
    int bar;

    for (bar = 0; bar < PCI_BARS_NR; bar++) {
        const vmm_region_t *r;
        uint64_t off = PCI_BASE_ADDRESS_0 + 4 * bar, orig = 0, mask = 0;

        if (vmm_region_info(run->vmm, bar, &r) != 0 || r->size == 0 ||
            r->size > (1ull << 31)) {
            continue;
        }
        if (vmm_config_read(run->vmm, off, 4, &orig) != 0 ||
            vmm_config_write(run->vmm, off, 4, 0xffffffff) != 0 ||
            vmm_config_read(run->vmm, off, 4, &mask) != 0 ||
            vmm_config_write(run->vmm, off, 4, orig) != 0) {
            bad++;
            continue;
        }
        mask &= (orig & PCI_BASE_ADDRESS_SPACE_IO) ? PCI_BASE_ADDRESS_IO_MASK
                                                   : PCI_BASE_ADDRESS_MEM_MASK;
        /* the size the BAR reports must be the region's size */
        if (((~mask + 1) & 0xffffffffu) != r->size) {
            bad++;
        }
        sized++;
    }
    report(run, "bar-sizing", bad == 0, "%u BARs sized, %u wrong", sized, bad);
}

static void
check_access(check_run_t *run)
{
    unsigned ok = 0, bad = 0;
    int bar;

    for (bar = 0; bar < PCI_BARS_NR; bar++) {
        const vmm_region_t *r;
        uint64_t v;

        if (vmm_region_info(run->vmm, bar, &r) != 0 || r->size < 4 ||
            !(r->flags & VFIO_REGION_INFO_FLAG_READ)) {
            continue;
        }
        if (vmm_region_read_val(run->vmm, bar, 0, 4, &v) == 0) {
            ok++;
        } else {
            bad++;
        }
    }
    report(run, "bar-read", bad == 0, "%u BARs read", ok);
}

static void
check_errors(check_run_t *run, const struct vfio_user_device_info *info)
{
    const vmm_region_t *cfg;
    uint8_t buf[4];
    int rc1, rc2, rc3;
    vmm_reply_t reply = {0};

    rc1 = vmm_region_read(run->vmm, info->num_regions + 7, 0, buf, 4);
    rc2 = -EINVAL;
    if (vmm_region_info(run->vmm, VFU_PCI_DEV_CFG_REGION_IDX, &cfg) == 0) {
        rc2 = vmm_region_read(run->vmm, VFU_PCI_DEV_CFG_REGION_IDX,
                              cfg->size - 2, buf, 4);
    }
    rc3 = vmm_send_raw(run->vmm, 14, NULL, 0, NULL, 0, &reply);
    report(run, "errors",
           rc1 < 0 && rc2 < 0 && rc3 == 0 &&
               (reply.hdr.flags & VFIO_USER_F_ERROR) &&
               vmm_is_connected(run->vmm),
           "bad index: %s; past the end: %s; command 14: %s",
           strerror(-rc1), strerror(-rc2),
           rc3 == 0 ? strerror((int)reply.hdr.error_no) : strerror(-rc3));
    vmm_reply_free(&reply);
}

static void
check_reset(check_run_t *run, const struct vfio_user_device_info *info)
{
    uint64_t vid = 0;
    int rc;

    if (!(info->flags & VFIO_DEVICE_FLAGS_RESET)) {
        report(run, "reset", true, "not supported by the device");
        return;
    }
    rc = vmm_reset(run->vmm);
    rc = rc ?: vmm_config_read(run->vmm, PCI_VENDOR_ID, 2, &vid);
    report(run, "reset", rc == 0, rc == 0 ? "device answers after reset"
                                          : "error %d", -rc);
}

static int
run_checks(vmm_t *vmm, const char *what, bool quiet)
{
    check_run_t run = {.vmm = vmm, .quiet = quiet};
    struct vfio_user_device_info info = {0};

    printf("vfu-check: %s\n", what);
    check_negotiation(&run);
    check_device_info(&run, &info);
    check_regions(&run, &info);
    check_irqs(&run, &info);
    check_config(&run);
    check_bar_sizing(&run);
    check_access(&run);
    check_errors(&run, &info);
    check_reset(&run, &info);
    printf("%s: %u passed, %u failed\n", what, run.passed, run.failed);
    return run.failed == 0 ? 0 : 1;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: vfu-check [-q] SOCKET_PATH\n"
               "       vfu-check [-q] --device NAME   (built-in, in-process)\n"
               "       vfu-check --list\n");
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'},
        {"list", no_argument, NULL, 'l'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *device = NULL;
    bool quiet = false;
    vmm_t *vmm = NULL;
    char what[300];
    int c, rc;

    while ((c = getopt_long(argc, argv, "d:lqh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            device = optarg;
            break;
        case 'l':
            for (size_t i = 0; vfu_device_at(i) != NULL; i++) {
                printf("%-12s %s\n", vfu_device_at(i)->name,
                       vfu_device_at(i)->description);
            }
            return 0;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }

    if (device != NULL) {
        vfu_device_t dev;

        rc = vfu_device_open(device, VFU_TRANS_EXT_INPROC, NULL,
                             LIBVFIO_USER_FLAG_ATTACH_NB, &dev);
        if (rc < 0) {
            fprintf(stderr, "vfu-check: device %s: %s\n", device,
                    strerror(-rc));
            return 2;
        }
        rc = vmm_attach_inproc(dev.ctx, NULL, &vmm);
        if (rc < 0) {
            fprintf(stderr, "vfu-check: attach %s: %s\n", device,
                    strerror(-rc));
            vfu_device_close(&dev);
            return 2;
        }
        snprintf(what, sizeof(what), "%s (in-process)", device);
        rc = run_checks(vmm, what, quiet);
        vmm_close(vmm);
        vfu_device_close(&dev);
        return rc;
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    rc = vmm_connect(argv[optind], NULL, &vmm);
    if (rc < 0) {
        fprintf(stderr, "vfu-check: %s: %s\n", argv[optind], strerror(-rc));
        return 2;
    }
    snprintf(what, sizeof(what), "%s (socket)", argv[optind]);
    rc = run_checks(vmm, what, quiet);
    vmm_close(vmm);
    return rc;
}
