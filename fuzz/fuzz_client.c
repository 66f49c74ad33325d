/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_client.c - the fake VMM against a hostile server.  The client sits
 * on one end of a non-blocking socketpair; the input scripts what the
 * "server" end says in answer to a fixed sequence of client calls:
 * negotiation, discovery, a DMA map, region accesses, DMA_READ/DMA_WRITE
 * commands to serve (vmm_poll), reset, unmap.  All bytes are written and
 * the server end shut before the first call, so nothing ever waits.
 *
 * Input: chunks of [u16 length LE][u8 control][bytes]; control bit 0
 * rewrites the chunk's first message id to the next request id (0, 1,
 * ...), so the fuzzer need not guess ids.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vfio-user/libvfio-user.h"
#include "vfio-user/vmm.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Discard what the client sent so far. */
static void
fzc_drain(int fd)
{
    uint8_t sink[4096];

    while (read(fd, sink, sizeof(sink)) > 0) {
    }
}

/*
 * Write every chunk now, then shut the write side: the client finds each
 * reply already there, and EOF instead of a wait once the script ends.
 * Ids are rewritten in order (0, 1, ...) over the chunks that ask for it,
 * which is the order of the client's requests.
 */
static void
fzc_script(int fd, const uint8_t *data, size_t size)
{
    uint16_t id = 0;
    uint8_t *buf;
    size_t len, off = 0;
    ssize_t n;

    buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        abort();
    }
    while (size >= 3) {
        len = (size_t)data[0] | (size_t)data[1] << 8;
        if (len > size - 3) {
            len = size - 3;
        }
        memcpy(buf + off, data + 3, len);
        if ((data[2] & 1) && len >= 2) {
            memcpy(buf + off, &id, 2);
            id++;
        }
        off += len;
        data += 3 + len;
        size -= 3 + len;
    }
    len = off;
    off = 0;
    while (off < len) {
        n = write(fd, buf + off, len - off);
        if (n <= 0) {
            break; /* socket buffer full: the rest is lost, as truncation */
        }
        off += (size_t)n;
    }
    free(buf);
    shutdown(fd, SHUT_WR);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmm_opts_t opts;
    vmm_t *vmm = NULL;
    struct vfio_user_device_info info;
    struct vfio_irq_info irq;
    const vmm_region_t *reg;
    uint8_t buf[64] = {0};
    int sv[2];

    if (size > 64 * 1024) {
        return 0;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
                   sv) != 0) {
        abort();
    }
    memset(&opts, 0, sizeof(opts));
    opts.timeout_ms = 1;
    opts.max_msg_fds = 8;
    opts.write_multiple = true;
    fzc_script(sv[1], data, size);
    if (vmm_connect_fd(sv[0], &opts, &vmm) != 0) {
        goto out;
    }
    fzc_drain(sv[1]);
    (void)vmm_device_info(vmm, &info);
    fzc_drain(sv[1]);
    (void)vmm_region_info(vmm, VFU_PCI_DEV_BAR0_REGION_IDX, &reg);
    fzc_drain(sv[1]);
    (void)vmm_irq_info(vmm, VFU_DEV_MSIX_IRQ, &irq);
    fzc_drain(sv[1]);
    (void)vmm_mem_map(vmm, 0x100000, 0x4000,
                      VFIO_USER_F_DMA_REGION_READ |
                          VFIO_USER_F_DMA_REGION_WRITE);
    fzc_drain(sv[1]);
    (void)vmm_region_read(vmm, VFU_PCI_DEV_BAR0_REGION_IDX, 0, buf, 8);
    fzc_drain(sv[1]);
    (void)vmm_poll(vmm, 0); /* serve the server's DMA_READ/DMA_WRITE */
    fzc_drain(sv[1]);
    (void)vmm_region_write(vmm, VFU_PCI_DEV_BAR0_REGION_IDX, 0, buf, 4);
    fzc_drain(sv[1]);
    (void)vmm_reset(vmm);
    fzc_drain(sv[1]);
    (void)vmm_mem_unmap_all(vmm);
out:
    vmm_close(vmm);
    close(sv[1]);
    return 0;
}
