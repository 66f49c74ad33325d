/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * private.h - internals of the fake VMM client shared by its modules.
 *
 * Module map:
 *   vmm.c         options, connecting, negotiation, raw-message API
 *   vmm_conn.c    transports (socket, in-process) and the one request/reply
 *                 engine on top of both
 *   vmm_region.c  device/region/IRQ discovery (cached), IO fds, mmap
 *   vmm_access.c  region reads/writes in chunks, queued writes, reset
 *   vmm_trace.c   wire tracer and log sink
 */
#ifndef VFU_CLIENT_PRIVATE_H
#define VFU_CLIENT_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <syslog.h>

#include "proto/proto.h"
#include "vfio-user/vmm.h"

#define VMM_EXPORT __attribute__((visibility("default")))

/* Defaults of what the client proposes (QEMU's values). */
#define VMM_DEFAULT_MAX_MSG_FDS 16u
#define VMM_DEFAULT_MAX_DATA_XFER (1u << 20)
#define VMM_DEFAULT_MAX_DMA_MAPS 65535u
#define VMM_DEFAULT_PGSIZES 4096u
#define VMM_DEFAULT_TIMEOUT_MS 5000

/* Region indexes the client caches; a larger index is refused locally. */
#define VMM_MAX_REGIONS 1024u
/* IRQ indexes the client caches (VFIO has 5 for PCI). */
#define VMM_MAX_IRQS 32u
/* Largest region info (with capabilities) the client asks for. */
#define VMM_MAX_REGION_INFO (64u * 1024u)
/* Largest IO fd reply the client asks for. */
#define VMM_MAX_IO_FDS_REPLY (64u * 1024u)
/* Messages the in-process pump may set aside while the server waits. */
#define VMM_MAX_STASH 64u

/* One mapping made by vmm_region_mmap(). */
typedef struct vmm_mapping {
    uint32_t region;
    uint32_t area;
    void *addr;
    size_t len;
} vmm_mapping_t;

struct vmm {
    /* transport: a socket, or an in-process context */
    int fd;                /* owned; -1 in-process */
    struct vfu_ctx *ctx;   /* not owned; NULL over a socket */
    bool connected;        /* false once the server hung up */
    bool srv_attached;     /* in-process: vfu_attach_ctx() succeeded */
    bool in_pump;          /* in-process: inside the server's pump call */

    vmm_opts_t opts;       /* what we proposed, defaults filled in */
    proto_caps_t caps;     /* limits used to receive and validate */
    vmm_caps_t pub_caps;   /* negotiated result, vmm_get_caps() */
    uint16_t next_id;

    /* tracer and log sink */
    FILE *trace;           /* not owned; stderr when VFU_TRACE is set */
    vmm_trace_cb_t *hook;
    void *hook_arg;
    vmm_log_cb_t *log;
    void *log_arg;

    /*
     * Messages the in-process pump received while the server waited for
     * its own reply: replies (and anything that is not a command the pump
     * serves) wait here for the engine.
     */
    proto_msg_t stash[VMM_MAX_STASH];
    size_t stash_head, nr_stash;

    /* discovery cache */
    bool have_dev_info;
    struct vfio_user_device_info dev_info;
    /*
     * One pointer per index (NULL until fetched): callers keep pointers to
     * the entries, so they never move while the array grows.
     */
    vmm_region_t **regions;
    uint32_t nr_region_slots;
    bool irq_valid[VMM_MAX_IRQS];
    struct vfio_irq_info irqs[VMM_MAX_IRQS];

    /* mappings made by vmm_region_mmap(), unmapped at close */
    vmm_mapping_t *maps;
    size_t nr_maps;

    /* vmm_region_write_queue() */
    struct vfio_user_write_multi_data wq[VFIO_USER_MULTI_MAX];
    size_t wq_len;
};

/* ---- vmm_conn.c: transports and the request/reply engine ---- */

/* Monotonic clock in milliseconds, for deadlines. */
int64_t
vmm_now_ms(void);

/* The server is gone: every later call fails with -ENOTCONN. */
void
vmm_mark_disconnected(vmm_t *vmm);

/*
 * vmm_recv_next - the next message from the server: set aside by the
 * in-process pump, queued in-process (running the server while it makes
 * progress), or from the socket until @deadline.  Traced.  -EAGAIN
 * in-process when the server has nothing more to say, -ETIMEDOUT,
 * -ENOTCONN.
 */
int
vmm_recv_next(vmm_t *vmm, proto_msg_t *msg, int64_t deadline);

/*
 * vmm_send_cmd - send command @cmd with a fresh id; @req gets the header
 * and borrows @body (for validating the reply).  @fds are borrowed.
 */
int
vmm_send_cmd(vmm_t *vmm, uint16_t cmd, const void *body, size_t len,
             const int *fds, size_t nr_fds, proto_msg_t *req);

/*
 * vmm_wait_reply - wait for the reply to @req, serving server commands
 * and dropping replies with other ids meanwhile; with @validate it goes
 * through proto_check_reply() (an error reply gives -error_no).
 */
int
vmm_wait_reply(vmm_t *vmm, const proto_msg_t *req, proto_msg_t *reply,
               bool validate);

/*
 * vmm_request - vmm_send_cmd() + vmm_wait_reply() with validation: on
 * success *@reply holds the reply (free it with vmm_msg_free()); on
 * failure it holds nothing.
 */
int
vmm_request(vmm_t *vmm, uint16_t cmd, const void *body, size_t len,
            const int *fds, size_t nr_fds, proto_msg_t *reply);

/* Send @len arbitrary bytes (with @fds, borrowed); no reply awaited. */
int
vmm_send_raw_bytes(vmm_t *vmm, const void *buf, size_t len, const int *fds,
                   size_t nr_fds);

/* The in-process pump (vfu_ext_inproc_pump_cb_t), @arg is the vmm_t. */
int
vmm_inproc_pump(void *arg);

/* Free a received message, logging the fds nobody took. */
void
vmm_msg_free(vmm_t *vmm, proto_msg_t *msg);

/* Free what the engine holds (messages set aside by the pump). */
void
vmm_conn_cleanup(vmm_t *vmm);

/* ---- vmm_region.c, vmm_access.c ---- */

/* Release the discovery cache, mappings and the write queue. */
void
vmm_region_cleanup(vmm_t *vmm);

/* ---- vmm_trace.c ---- */

/* Set vmm->trace from the options and the environment. */
void
vmm_trace_init(vmm_t *vmm);

/* Trace one message to the stream and the hook. */
void
vmm_trace_msg(vmm_t *vmm, bool outgoing, const struct vfio_user_header *hdr,
              const void *body, size_t len, size_t nr_fds);

/* Log a line through the hook (or the trace stream). */
void
vmm_log(vmm_t *vmm, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* VFU_CLIENT_PRIVATE_H */
