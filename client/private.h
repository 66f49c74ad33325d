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
 *   vmm_mem.c     guest memory, DMA_MAP/DMA_UNMAP, serving DMA_READ/WRITE,
 *                 vmm_poll()
 *   vmm_irq.c     interrupts: eventfds, SET_IRQS, counting and waiting
 *   vmm_migr.c    migration: device state and data, dirty page logging,
 *                 vmm_migrate(), save/restore files
 *   vmm_trace.c   wire tracer and log sink
 *   vmm_dump.c    corpus dumps of every message (VMM_DUMP_DIR)
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
/* Guest memory regions the client keeps track of (the spec's ceiling). */
#define VMM_MAX_MEM_REGIONS PROTO_MAX_DMA_MAPS_CEIL
/* Vectors of one IRQ index the client keeps eventfds for (MSI-X: 2048). */
#define VMM_MAX_IRQ_VECTORS 2048u

/* Where a server message came from, and where its reply goes. */
enum vmm_chan {
    VMM_CHAN_MAIN = 0, /* the socket (or the in-process queue) */
    VMM_CHAN_TWIN = 1, /* the twin socket, when negotiated */
};

/* vmm_recv_next(): a server command on the twin socket was served. */
#define VMM_RECV_SERVED 1

/*
 * One guest memory region made by vmm_mem_map().  The memfd, if any, is
 * closed once DMA_MAP has carried it: the mapping keeps the memory.
 */
typedef struct vmm_mem_region {
    uint64_t gpa;
    uint64_t size;
    uint32_t flags; /* VMM_MEM_* */
    uint8_t *base;  /* our mapping of all @size bytes */
    /*
     * While the migration driver tracks writes (vmm->track_pgsize != 0):
     * one bit per page written by a served DMA_WRITE or a local write,
     * owned; NULL otherwise.
     */
    uint8_t *dirty;
} vmm_mem_region_t;

/* The eventfds of one IRQ index, created by vmm_irq_enable(). */
typedef struct vmm_irq_vec {
    int efd;         /* owned; -1 when the vector is not enabled */
    uint64_t count;  /* triggers read from efd and not yet taken */
} vmm_irq_vec_t;

typedef struct vmm_irq_index {
    vmm_irq_vec_t *vecs; /* nr entries */
    uint32_t nr;
} vmm_irq_index_t;

/*
 * Corpus dumps (vmm_dump.c).  A file stops growing at VMM_DUMP_MAX_FILE
 * bytes; messages longer than a 16-bit record length are skipped.
 */
#define VMM_DUMP_MAX_FILE ((size_t)1 << 20)
#define VMM_DUMP_MAX_MSG 65535u
/* fuzz_stream's fd spec byte: a count (at most 7), and memfd or eventfd */
#define VMM_DUMP_FD_COUNT 7u
#define VMM_DUMP_FD_MEMFD 8u

enum vmm_dump_state {
    VMM_DUMP_UNSET = 0, /* decided on the first message */
    VMM_DUMP_ON,
    VMM_DUMP_OFF,       /* not asked for, or stopped by an error */
};

typedef struct vmm_dump {
    enum vmm_dump_state state;
    /*
     * The files, owned paths (NULL once full).  Each record opens and
     * closes its file, so a dump holds no fd between messages: tests
     * that count the client's fds see none.
     */
    char *sent_path; /* fuzz_stream records */
    char *recv_path; /* fuzz_client chunks */
    size_t sent_len, recv_len;
} vmm_dump_t;

/* A reply vmm_dma_answer() set aside for the server's next DMA command. */
typedef struct vmm_dma_answer {
    bool armed;
    uint32_t flags, error_no;
    uint8_t *body; /* owned */
    size_t len;
    int *fds;      /* owned dups, closed once sent */
    size_t nr_fds;
} vmm_dma_answer_t;

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
    int twin_fd;           /* owned; twin socket, -1 if not negotiated */
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
    vmm_dump_t dump;
    vmm_dma_answer_t answer[2]; /* DMA_READ, DMA_WRITE */

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

    /* guest memory: sorted by gpa, never overlapping */
    vmm_mem_region_t *mem;
    size_t nr_mem, mem_cap;
    vmm_stats_t stats;

    /* interrupts */
    vmm_irq_index_t irq[VMM_MAX_IRQS];

    /* migration (vmm_migr.c): page size of write tracking, 0 when off */
    uint64_t track_pgsize;
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
 * -ENOTCONN.  Commands arriving on the twin socket meanwhile are served
 * here; then it returns VMM_RECV_SERVED with nothing in @msg, so that a
 * caller waiting for a reply can give the server fresh time.
 */
int
vmm_recv_next(vmm_t *vmm, proto_msg_t *msg, int64_t deadline);

/*
 * vmm_send_reply - send a reply (header + @len bytes of @body, and
 * @nr_fds of @fds, which stay the caller's) on channel @chan.  Traced.
 */
int
vmm_send_reply(vmm_t *vmm, enum vmm_chan chan,
               const struct vfio_user_header *hdr, const void *body,
               size_t len, const int *fds, size_t nr_fds);

/* Whether @msg is a command (not a reply). */
bool
vmm_is_command(const proto_msg_t *msg);

/*
 * vmm_serve_pending - serve server commands (replies nobody waits for are
 * logged and dropped).  Socket: waits until @deadline for the main or twin
 * socket, or @extra_fd (-1: none), to become readable, then serves all
 * that is there without waiting again; returns early when @extra_fd is
 * readable.  In-process: runs the server once and serves its queue.
 * Returns the number of commands served (0 on timeout) or a negative
 * errno (-ENOTCONN once the server is gone and nothing was served).
 */
int
vmm_serve_pending(vmm_t *vmm, int64_t deadline, int extra_fd);

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

/* ---- vmm_mem.c ---- */

/*
 * vmm_serve_cmd - answer a command the server sent on @chan (DMA_READ,
 * DMA_WRITE; anything else is refused after validation).  Consumes @msg.
 */
void
vmm_serve_cmd(vmm_t *vmm, proto_msg_t *msg, enum vmm_chan chan);

/* Free all guest memory (no message: the connection is going away). */
void
vmm_mem_cleanup(vmm_t *vmm);

/* ---- vmm_irq.c ---- */

/* Close every eventfd (no message). */
void
vmm_irq_cleanup(vmm_t *vmm);

/* ---- vmm_region.c, vmm_access.c ---- */

/* Release the discovery cache, mappings and the write queue. */
void
vmm_region_cleanup(vmm_t *vmm);

/* ---- vmm_migr.c (shared with vmm_snap.c) ---- */

/* Most migration data held for one device (vmm_migrate, save, restore). */
#define VMM_MIG_MAX_DATA ((size_t)256 << 20)

/* A growing byte buffer, bounded by VMM_MIG_MAX_DATA. */
typedef struct vmm_buf {
    uint8_t *data;
    size_t len, cap;
} vmm_buf_t;

void
vmm_buf_free(vmm_buf_t *b);
int
vmm_buf_reserve(vmm_buf_t *b, size_t n);

/* The smallest negotiated page size (guest memory granularity). */
uint64_t
vmm_migr_page(const vmm_t *vmm);

/*
 * vmm_migr_read_data - MIG_DATA_READ into @b until the device gives
 * nothing (@drain) or gives less than asked; adds the bytes to *@moved.
 */
int
vmm_migr_read_data(vmm_t *vmm, vmm_buf_t *b, bool drain, uint64_t *moved);

/*
 * vmm_migr_check - the device is migratable (STOP_COPY; -ENOTSUP) and in
 * @want_state (-EINVAL otherwise).
 */
int
vmm_migr_check(vmm_t *vmm, uint32_t want_state);

/* Best effort: the device back to RUNNING (reset when RESUMING). */
void
vmm_migr_back_to_running(vmm_t *vmm);

/* RESUMING, MIG_DATA_WRITE of @data, RUNNING. */
int
vmm_migr_resume(vmm_t *dst, const uint8_t *data, size_t len);

/* The guest memory region mapped exactly at [@gpa, +@size), or NULL. */
const vmm_mem_region_t *
vmm_migr_region(const vmm_t *vmm, uint64_t gpa, uint64_t size);

/* Whether @len bytes at @p are all zero. */
bool
vmm_migr_page_zero(const uint8_t *p, size_t len);

/*
 * vmm_migr_note_write - guest memory [@off, +@len) of @r was written (a
 * served DMA_WRITE or a local write): mark its pages while tracking.
 */
void
vmm_migr_note_write(const vmm_t *vmm, const vmm_mem_region_t *r,
                    uint64_t off, uint64_t len);

/* ---- vmm_trace.c ---- */

/* Set vmm->trace from the options and the environment. */
void
vmm_trace_init(vmm_t *vmm);

/* Trace one message to the stream and the hook. */
void
vmm_trace_msg(vmm_t *vmm, bool outgoing, const struct vfio_user_header *hdr,
              const void *body, size_t len, size_t nr_fds);

/* Drop the answers vmm_dma_answer() still holds (vmm_close). */
void
vmm_dma_answers_free(vmm_t *vmm);

/* ---- vmm_dump.c ---- */

/*
 * vmm_dump_msg - append one message to the connection's corpus dump
 * (sent: fuzz_stream format; received: fuzz_client format).  The files
 * are created on the first call when opts.dump_dir or VMM_DUMP_DIR names
 * a directory.  Never fails: an error is logged once and ends dumping.
 */
void
vmm_dump_msg(vmm_t *vmm, bool outgoing, const struct vfio_user_header *hdr,
             const void *body, size_t len, size_t nr_fds);

/* Close the dump files (vmm_close). */
void
vmm_dump_close(vmm_t *vmm);

/* Log a line through the hook (or the trace stream). */
void
vmm_log(vmm_t *vmm, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* VFU_CLIENT_PRIVATE_H */
