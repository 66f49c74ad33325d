/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_dma.c - vfu-bench --dma: how fast guest memory moves through the
 * server's DMA paths, measured with the dmaengine sample device as its
 * driver would use it.
 *
 * Throughput: COPY descriptors of 4 KiB, 64 KiB and 1 MiB, eight per
 * doorbell, between two guest regions that are either fd-less (every byte
 * crosses in DMA_READ / DMA_WRITE messages, one message per descriptor and
 * direction up to max_data_xfer_size) or memfd-backed (the device maps
 * them and copies with memcpy).  Each case runs for a fixed time; MB/s is
 * 10^6 bytes copied per second, checked through the last descriptor's
 * completion record of every doorbell.
 *
 * Interrupt latency: a NOP asking for an interrupt, MSI-X vector 0.  The
 * doorbell goes out as a REGION_WRITE with the no-reply flag, so the time
 * measured is doorbell sent -> eventfd readable, not the reply's round
 * trip; a doorbell without interrupt, with its reply, is the reference.
 * Median of five batches, as the gpio benchmarks.
 *
 * Both run in-process (client and device in one thread) and over a UNIX
 * socket to the device served by vfu_device_serve() in a forked child.
 */

#include <endian.h>
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_dma.h"
#include "devices/devices.h"
#include "devices/dmaengine/dmaengine.h"
#include "vfio-user/libvfio-user.h"
#include "vfio-user/vmm.h"

#define BAR0 VFU_PCI_DEV_BAR0_REGION_IDX

/* Guest memory of the benchmark. */
#define GPA_RING 0x00100000ull /* queue q's ring at + q * 4 KiB */
#define SIZE_RING 0x00010000ull
#define GPA_REC 0x00200000ull
#define SIZE_REC 0x00001000ull
#define GPA_SRC 0x01000000ull
#define GPA_DST 0x02000000ull
#define SIZE_DATA (8ull << 20)

#define RING_ENTRIES 64u
#define COPY_BATCH 8u         /* descriptors per doorbell */
#define CASE_MS 150           /* time per throughput case */
#define LAT_BATCHES 5
#define LAT_MAX_ITERS 10000L
#define IRQ_TIMEOUT_MS 2000

static const uint32_t copy_sizes[] = {4u << 10, 64u << 10, 1u << 20};
#define NR_SIZES (sizeof(copy_sizes) / sizeof(copy_sizes[0]))

enum { MEM_NOFD, MEM_MEMFD, NR_MEMS };
static const char *const mem_label[NR_MEMS] = {"message (fd-less)",
                                               "mapping (memfd)"};
static const char *const mem_key[NR_MEMS] = {"message", "mapping"};

enum { LAT_DOORBELL, LAT_IRQ, NR_LATS };
static const char *const lat_label[NR_LATS] = {
    "doorbell write, no interrupt", "doorbell -> eventfd (no reply)"};
static const char *const lat_key[NR_LATS] = {"doorbell_ns", "irq_ns"};

/* Results of one transport. */
typedef struct dma_results {
    double mbps[NR_MEMS][NR_SIZES];
    double lat_ns[NR_LATS];
} dma_results_t;

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* ------------------------------------------------------------------ */
/* A device session: in-process, or a forked socket server              */
/* ------------------------------------------------------------------ */

typedef struct dma_sess {
    bool inproc;
    vfu_device_t dev;
    pid_t pid;
    char dir[32];
    char path[64];
    vmm_t *vmm;
} dma_sess_t;

static void
serve_child(const char *path)
{
    vfu_device_t dev;
    int rc = vfu_device_open("dmaengine", VFU_TRANS_SOCK, path,
                             LIBVFIO_USER_FLAG_ATTACH_NB, &dev);

    if (rc == 0) {
        rc = vfu_device_serve(&dev, true);
        vfu_device_close(&dev);
    }
    if (rc < 0) {
        fprintf(stderr, "vfu-bench: dmaengine server: %s\n", strerror(-rc));
    }
    _exit(rc < 0 ? 1 : 0);
}

static int
sess_open(dma_sess_t *s, bool inproc)
{
    int rc = -ECONNREFUSED;
    int i;

    memset(s, 0, sizeof(*s));
    s->inproc = inproc;
    s->pid = -1;
    if (inproc) {
        rc = vfu_device_open("dmaengine", VFU_TRANS_EXT_INPROC, NULL, 0,
                             &s->dev);
        if (rc == 0) {
            rc = vmm_attach_inproc(s->dev.ctx, NULL, &s->vmm);
        }
        return rc;
    }
    snprintf(s->dir, sizeof(s->dir), "/tmp/vfu-bench-XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        s->dir[0] = '\0';
        return -errno;
    }
    snprintf(s->path, sizeof(s->path), "%s/dmae.sock", s->dir);
    fflush(NULL);
    s->pid = fork();
    if (s->pid < 0) {
        return -errno;
    }
    if (s->pid == 0) {
        serve_child(s->path);
    }
    for (i = 0; i < 500; i++) {
        int status;

        rc = vmm_connect(s->path, NULL, &s->vmm);
        if (rc == 0 || (rc != -ENOENT && rc != -ECONNREFUSED)) {
            break;
        }
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = -1;
            break;
        }
        sleep_ms(10);
    }
    return rc;
}

/* Close the client; the socket server exits after its one client. */
static int
sess_close(dma_sess_t *s)
{
    int rc = 0;
    int status = 0;
    int i;

    vmm_close(s->vmm);
    s->vmm = NULL;
    if (s->inproc) {
        vfu_device_close(&s->dev);
        return 0;
    }
    if (s->pid > 0) {
        for (i = 0; i < 500; i++) {
            if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
                break;
            }
            if (i % 100 == 99) {
                kill(s->pid, SIGTERM);
            }
            sleep_ms(10);
        }
        if (i == 500) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            rc = -ETIMEDOUT;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            rc = -EIO;
        }
    }
    if (s->path[0] != '\0') {
        unlink(s->path);
    }
    if (s->dir[0] != '\0') {
        rmdir(s->dir);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Driving the device                                                  */
/* ------------------------------------------------------------------ */

static int
reg_wr(vmm_t *vmm, uint32_t off, uint32_t v)
{
    return vmm_region_write_val(vmm, BAR0, off, 4, v);
}

static int
reg_rd(vmm_t *vmm, uint32_t off, uint32_t *v)
{
    uint64_t x = 0;
    int rc = vmm_region_read_val(vmm, BAR0, off, 4, &x);

    *v = (uint32_t)x;
    return rc;
}

static int
queue_start(vmm_t *vmm, unsigned int q, uint32_t int_ctrl)
{
    int rc = reg_wr(vmm, DMAE_QREG(q, DMAE_Q_CTRL), DMAE_QCTRL_RESET);

    if (rc == 0) {
        rc = vmm_region_write_val(vmm, BAR0, DMAE_QREG(q, DMAE_Q_RING_LO), 8,
                                  GPA_RING + q * 0x1000ull);
    }
    if (rc == 0) {
        rc = reg_wr(vmm, DMAE_QREG(q, DMAE_Q_RING_SIZE), RING_ENTRIES);
    }
    if (rc == 0) {
        rc = reg_wr(vmm, DMAE_QREG(q, DMAE_Q_INT_CTRL), int_ctrl);
    }
    if (rc == 0) {
        rc = reg_wr(vmm, DMAE_QREG(q, DMAE_Q_CTRL), DMAE_QCTRL_ENABLE);
    }
    return rc;
}

/* Map the benchmark's guest memory (@nofd: without fds) and start. */
static int
mem_setup(vmm_t *vmm, bool nofd)
{
    uint32_t f = VMM_MEM_RW | (nofd ? VMM_MEM_NOFD : 0);
    int rc = vmm_mem_map(vmm, GPA_RING, SIZE_RING, f);

    if (rc == 0) {
        rc = vmm_mem_map(vmm, GPA_REC, SIZE_REC, f);
    }
    if (rc == 0) {
        rc = vmm_mem_map(vmm, GPA_SRC, SIZE_DATA, f);
    }
    if (rc == 0) {
        rc = vmm_mem_map(vmm, GPA_DST, SIZE_DATA, f);
    }
    if (rc == 0) {
        /* something other than zeroes to copy */
        rc = vmm_mem_fill(vmm, GPA_SRC, 0x5a, SIZE_DATA);
    }
    if (rc == 0) {
        rc = reg_wr(vmm, DMAE_REG_CTRL, DMAE_CTRL_ENABLE);
    }
    return rc;
}

static dmae_desc_t
mkdesc(uint8_t op, uint8_t flags, uint32_t len, uint64_t src, uint64_t dst,
       uint64_t rec)
{
    dmae_desc_t d;

    memset(&d, 0, sizeof(d));
    d.opcode = op;
    d.flags = flags;
    d.len = htole32(len);
    d.src = htole64(src);
    d.dst = htole64(dst);
    d.completion = htole64(rec);
    return d;
}

/*
 * COPY @len-byte descriptors on queue 0 for at least CASE_MS; *@mbps gets
 * the rate.  The last descriptor of each doorbell carries a record, which
 * must say OK.
 */
static int
run_copy(vmm_t *vmm, uint32_t len, double *mbps)
{
    uint64_t bytes = 0, k = 0;
    uint32_t tail = 0;
    int64_t t0 = 0;
    long doorbells;
    int rc = queue_start(vmm, 0, 0);

    for (doorbells = -1; rc == 0; doorbells++) {
        dmae_compl_t rec;
        uint32_t i;

        if (doorbells == 0) {
            t0 = now_ns(); /* after one warm-up doorbell */
            bytes = 0;
        } else if (doorbells >= 3 && now_ns() - t0 >= CASE_MS * 1000000LL) {
            break;
        }
        for (i = 0; i < COPY_BATCH && rc == 0; i++, k++) {
            uint64_t off = (k * len) % SIZE_DATA;
            bool last = i == COPY_BATCH - 1;
            dmae_desc_t d = mkdesc(DMAE_OP_COPY, last ? DMAE_DESC_F_COMPL : 0,
                                   len, GPA_SRC + off, GPA_DST + off, GPA_REC);

            rc = vmm_mem_write(vmm, GPA_RING + tail * DMAE_DESC_SIZE, &d,
                               sizeof(d));
            tail = (tail + 1) % RING_ENTRIES;
        }
        if (rc == 0) {
            rc = vmm_mem_fill(vmm, GPA_REC, 0, sizeof(rec));
        }
        if (rc == 0) {
            rc = reg_wr(vmm, DMAE_QREG(0, DMAE_Q_TAIL), tail);
        }
        if (rc == 0) {
            rc = vmm_mem_read(vmm, GPA_REC, &rec, sizeof(rec));
        }
        if (rc == 0 && le32toh(rec.status) != DMAE_CS_OK) {
            fprintf(stderr, "vfu-bench: COPY of %u bytes: record status %u "
                    "result %#x\n", len, le32toh(rec.status),
                    le32toh(rec.result));
            rc = -EIO;
        }
        bytes += (uint64_t)len * COPY_BATCH;
    }
    if (rc == 0) {
        *mbps = (double)bytes / ((double)(now_ns() - t0) / 1e9) / 1e6;
    }
    return rc;
}

static uint64_t
find_msix(vmm_t *vmm)
{
    uint64_t pos = 0, id = 0;
    int hops = 0;

    if (vmm_config_read(vmm, PCI_CAPABILITY_LIST, 1, &pos) < 0) {
        return 0;
    }
    while (pos != 0 && hops++ < 48) {
        if (vmm_config_read(vmm, pos, 1, &id) < 0) {
            return 0;
        }
        if (id == PCI_CAP_ID_MSIX) {
            return pos;
        }
        if (vmm_config_read(vmm, pos + PCI_CAP_LIST_NEXT, 1, &pos) < 0) {
            return 0;
        }
    }
    return 0;
}

/* Fill queue @q's whole ring with NOPs (@flags) and start it. */
static int
nop_ring(vmm_t *vmm, unsigned int q, uint8_t flags, uint32_t int_ctrl)
{
    uint32_t i;
    int rc = queue_start(vmm, q, int_ctrl);

    for (i = 0; i < RING_ENTRIES && rc == 0; i++) {
        dmae_desc_t d = mkdesc(DMAE_OP_NOP, flags, 0, 0, 0, 0);

        rc = vmm_mem_write(vmm, GPA_RING + q * 0x1000ull + i * DMAE_DESC_SIZE,
                           &d, sizeof(d));
    }
    return rc;
}

/* One doorbell of queue 0 as a REGION_WRITE that wants no reply. */
static int
doorbell_noreply(vmm_t *vmm, uint32_t tail)
{
    struct vfio_user_header hdr;
    struct vfio_user_region_access acc;
    uint32_t val = htole32(tail);
    uint8_t m[sizeof(hdr) + sizeof(acc) + sizeof(val)];

    memset(&hdr, 0, sizeof(hdr));
    hdr.msg_id = htole16(0xd0e1);
    hdr.cmd = htole16(VFIO_USER_REGION_WRITE);
    hdr.msg_size = htole32(sizeof(m));
    hdr.flags = htole32(VFIO_USER_F_TYPE_COMMAND | VFIO_USER_F_NO_REPLY);
    acc.offset = htole64(DMAE_QREG(0, DMAE_Q_TAIL));
    acc.region = htole32(BAR0);
    acc.count = htole32(sizeof(val));
    memcpy(m, &hdr, sizeof(hdr));
    memcpy(m + sizeof(hdr), &acc, sizeof(acc));
    memcpy(m + sizeof(hdr) + sizeof(acc), &val, sizeof(val));
    return vmm_send_bytes(vmm, m, sizeof(m), NULL, 0);
}

/*
 * Interrupt latency on memfd memory: queue 0 rings NOPs with F_INTR
 * (MSI-X vector 0), queue 1 NOPs without.  Median of LAT_BATCHES batches.
 */
static int
run_latency(vmm_t *vmm, long iters, double *lat)
{
    double batch_ns[NR_LATS][LAT_BATCHES];
    long per_batch = iters / LAT_BATCHES > 0 ? iters / LAT_BATCHES : 1;
    uint32_t tail[2] = {0, 0};
    uint64_t cap = find_msix(vmm);
    uint64_t flags = 0, n;
    uint32_t done;
    int rc = cap != 0 ? 0 : -ENOENT;
    int b, m;
    long i;

    if (rc == 0) {
        rc = vmm_config_read(vmm, cap + PCI_MSIX_FLAGS, 2, &flags);
    }
    if (rc == 0) {
        rc = vmm_config_write(vmm, cap + PCI_MSIX_FLAGS, 2,
                              flags | PCI_MSIX_FLAGS_ENABLE);
    }
    if (rc == 0) {
        rc = vmm_irq_enable(vmm, VFIO_PCI_MSIX_IRQ_INDEX, 0,
                            DMAE_MSIX_VECTORS);
    }
    if (rc == 0) {
        rc = nop_ring(vmm, 0, DMAE_DESC_F_INTR, DMAE_QINT_ENABLE);
    }
    if (rc == 0) {
        rc = nop_ring(vmm, 1, 0, 0);
    }
    for (b = -1; b < LAT_BATCHES && rc == 0; b++) {
        for (m = 0; m < NR_LATS && rc == 0; m++) {
            /* batch -1 is the warm-up */
            long count = b < 0 ? per_batch / 10 + 1 : per_batch;
            int64_t t0 = now_ns();

            for (i = 0; i < count && rc == 0; i++) {
                if (m == LAT_DOORBELL) {
                    tail[1] = (tail[1] + 1) % RING_ENTRIES;
                    rc = reg_wr(vmm, DMAE_QREG(1, DMAE_Q_TAIL), tail[1]);
                    continue;
                }
                tail[0] = (tail[0] + 1) % RING_ENTRIES;
                rc = doorbell_noreply(vmm, tail[0]);
                if (rc == 0) {
                    rc = vmm_irq_wait(vmm, VFIO_PCI_MSIX_IRQ_INDEX, 0,
                                      IRQ_TIMEOUT_MS);
                }
                if (rc == 0) {
                    rc = vmm_irq_count(vmm, VFIO_PCI_MSIX_IRQ_INDEX, 0, true,
                                       &n);
                }
                if (rc == 0 && n != 1) {
                    rc = -EIO;
                }
            }
            if (b >= 0) {
                batch_ns[m][b] = (double)(now_ns() - t0) / (double)count;
            }
        }
    }
    /* every doorbell ran and signalled, and nothing went wrong */
    if (rc == 0) {
        rc = reg_rd(vmm, DMAE_REG_ERR_COUNT, &done);
        if (rc == 0 && done != 0) {
            rc = -EIO;
        }
    }
    if (rc == 0) {
        rc = reg_rd(vmm, DMAE_QREG(0, DMAE_Q_IRQ_COUNT), &done);
        if (rc == 0 && done != (uint32_t)((per_batch / 10 + 1) +
                                          per_batch * LAT_BATCHES)) {
            fprintf(stderr, "vfu-bench: %u interrupts signalled\n", done);
            rc = -EIO;
        }
    }
    for (m = 0; m < NR_LATS && rc == 0; m++) {
        qsort(batch_ns[m], LAT_BATCHES, sizeof(double), cmp_double);
        lat[m] = batch_ns[m][LAT_BATCHES / 2];
    }
    (void)vmm_irq_disable(vmm, VFIO_PCI_MSIX_IRQ_INDEX);
    return rc;
}

/* Everything on one transport. */
static int
bench_transport(bool inproc, long iters, dma_results_t *res)
{
    const char *where = inproc ? "in-process" : "socket";
    dma_sess_t s;
    int mem, crc;
    size_t i;
    int rc;

    for (mem = 0; mem < NR_MEMS; mem++) {
        rc = sess_open(&s, inproc);
        if (rc == 0) {
            rc = mem_setup(s.vmm, mem == MEM_NOFD);
        }
        for (i = 0; i < NR_SIZES && rc == 0; i++) {
            rc = run_copy(s.vmm, copy_sizes[i], &res->mbps[mem][i]);
        }
        if (rc == 0 && mem == MEM_MEMFD) {
            rc = run_latency(s.vmm, iters, res->lat_ns);
        }
        if (rc < 0) {
            fprintf(stderr, "vfu-bench: dmaengine %s, %s: %s\n", where,
                    mem_label[mem], strerror(-rc));
        }
        crc = sess_close(&s);
        if (rc == 0 && crc < 0) {
            fprintf(stderr, "vfu-bench: dmaengine server did not exit "
                    "cleanly\n");
            rc = crc;
        }
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Report                                                              */
/* ------------------------------------------------------------------ */

static double
ratio(double a, double b)
{
    return b > 0 ? a / b : 0.0;
}

static void
size_label(uint32_t len, char *buf, size_t size)
{
    if (len >= (1u << 20)) {
        snprintf(buf, size, "%u MiB", len >> 20);
    } else {
        snprintf(buf, size, "%u KiB", len >> 10);
    }
}

static void
report_text(const dma_results_t *in, const dma_results_t *so, long iters)
{
    char sz[16];
    size_t i;
    int mem, m;

    printf("vfu-bench --dma: dmaengine COPY throughput, %u descriptors per "
           "doorbell, %d ms per case (MB/s = 10^6 bytes/s)\n",
           COPY_BATCH, CASE_MS);
    printf("%-19s %-8s %14s %14s %10s\n", "memory", "chunk", "in-process",
           "socket", "socket/in");
    for (mem = 0; mem < NR_MEMS; mem++) {
        for (i = 0; i < NR_SIZES; i++) {
            size_label(copy_sizes[i], sz, sizeof(sz));
            printf("%-19s %-8s %9.0f MB/s %9.0f MB/s %9.2fx\n",
                   mem_label[mem], sz, in->mbps[mem][i], so->mbps[mem][i],
                   ratio(so->mbps[mem][i], in->mbps[mem][i]));
        }
    }
    printf("mapping/message:");
    for (i = 0; i < NR_SIZES; i++) {
        size_label(copy_sizes[i], sz, sizeof(sz));
        printf("%s %s %.1fx in-process, %.1fx socket", i == 0 ? "" : ";", sz,
               ratio(in->mbps[MEM_MEMFD][i], in->mbps[MEM_NOFD][i]),
               ratio(so->mbps[MEM_MEMFD][i], so->mbps[MEM_NOFD][i]));
    }
    printf("\n\ninterrupt latency: NOP with F_INTR, MSI-X vector 0, memfd "
           "ring, %ld samples each, median of %d batches\n",
           iters, LAT_BATCHES);
    printf("%-32s %12s %12s %10s\n", "operation", "in-process", "socket",
           "socket/in");
    for (m = 0; m < NR_LATS; m++) {
        printf("%-32s %9.0f ns %9.0f ns %9.2fx\n", lat_label[m], in->lat_ns[m],
               so->lat_ns[m], ratio(so->lat_ns[m], in->lat_ns[m]));
    }
}

static int
report_json(const dma_results_t *in, const dma_results_t *so, long iters)
{
    json_object *root = json_object_new_object();
    json_object *tp = json_object_new_array();
    json_object *lat = json_object_new_object();
    size_t i;
    int mem, m;

    if (root == NULL || tp == NULL || lat == NULL) {
        json_object_put(root);
        json_object_put(tp);
        json_object_put(lat);
        return -ENOMEM;
    }
    json_object_object_add(root, "device", json_object_new_string("dmaengine"));
    json_object_object_add(root, "descriptors_per_doorbell",
                           json_object_new_int(COPY_BATCH));
    json_object_object_add(root, "ms_per_case", json_object_new_int(CASE_MS));
    for (mem = 0; mem < NR_MEMS; mem++) {
        for (i = 0; i < NR_SIZES; i++) {
            json_object *r = json_object_new_object();

            if (r == NULL) {
                continue;
            }
            json_object_object_add(r, "memory",
                                   json_object_new_string(mem_key[mem]));
            json_object_object_add(r, "chunk_bytes",
                                   json_object_new_int64(copy_sizes[i]));
            json_object_object_add(r, "inproc_mbps",
                                   json_object_new_double(in->mbps[mem][i]));
            json_object_object_add(r, "socket_mbps",
                                   json_object_new_double(so->mbps[mem][i]));
            json_object_array_add(tp, r);
        }
    }
    json_object_object_add(root, "copy_throughput", tp);
    json_object_object_add(lat, "samples", json_object_new_int64(iters));
    for (m = 0; m < NR_LATS; m++) {
        json_object *r = json_object_new_object();

        if (r == NULL) {
            continue;
        }
        json_object_object_add(r, "inproc",
                               json_object_new_double(in->lat_ns[m]));
        json_object_object_add(r, "socket",
                               json_object_new_double(so->lat_ns[m]));
        json_object_object_add(lat, lat_key[m], r);
    }
    json_object_object_add(root, "interrupt_latency", lat);
    printf("%s\n",
           json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
    json_object_put(root);
    return 0;
}

int
bench_dma_main(const bench_dma_opts_t *o)
{
    dma_results_t in, so;
    long iters = o->iters;
    int rc;

    if (iters < LAT_BATCHES) {
        iters = LAT_BATCHES;
    }
    if (iters > LAT_MAX_ITERS) {
        iters = LAT_MAX_ITERS;
    }
    memset(&in, 0, sizeof(in));
    memset(&so, 0, sizeof(so));
    rc = bench_transport(true, iters, &in);
    if (rc == 0) {
        rc = bench_transport(false, iters, &so);
    }
    if (rc < 0) {
        return rc;
    }
    if (o->json) {
        return report_json(&in, &so, iters);
    }
    report_text(&in, &so, iters);
    return 0;
}
