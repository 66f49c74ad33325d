/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * private.h - internals of the server library shared by its modules.
 *
 * Module map (each owns its part of struct vfu_ctx):
 *   ctx.c        lifecycle, logging, realize, attach/run loop
 *   dispatch.c   receive -> validate -> quiesce gate -> handler -> reply
 *   negotiate.c  VERSION
 *   region.c     regions, GET_REGION_INFO/IO_FDS, REGION_READ/WRITE(_MULTI)
 *   pci.c        config space, BAR emulation      (ctx->pci)
 *   pci_caps.c   capability lists                 (ctx->pci)
 *   dma.c        DMA table, DMA_MAP/UNMAP, dirty  (ctx->dma)
 *   sgl.c        sgl API, DMA_READ/WRITE messages (ctx->dma)
 *   irq.c        GET_IRQ_INFO, SET_IRQS, triggers (ctx->irqs)
 *   migration.c  DEVICE_FEATURE, MIG_DATA_*       (ctx->migr)
 *   tran_*.c     transports behind struct tran_ops
 */
#ifndef VFU_SERVER_PRIVATE_H
#define VFU_SERVER_PRIVATE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"
#include "vfio-user/libvfio-user.h"

#define VFU_EXPORT __attribute__((visibility("default")))

/* Default limits offered by the server (libvfio-user offers the same). */
#define VFU_DEFAULT_MAX_MSG_FDS 8u
#define VFU_DEFAULT_TIMEOUT_MS 5000u

/* One region as described by vfu_setup_region(). */
typedef struct vfu_region {
    size_t size;
    int flags;
    vfu_region_access_cb_t *cb;
    struct iovec *mmap_areas; /* owned copy */
    uint32_t nr_mmap_areas;
    int fd; /* not owned (the device keeps it), -1 if none */
    uint64_t offset;
} vfu_region_t;

/*
 * Transport operations.  Every function returns 0 (or a count) or a
 * negative errno.  A transport moves whole messages; validation of what
 * they contain is dispatch.c's job.
 */
struct tran_ops {
    const char *name;
    /* at vfu_create_ctx() */
    int (*init)(vfu_ctx_t *ctx);
    /* at vfu_realize_ctx(): start listening */
    int (*realize)(vfu_ctx_t *ctx);
    /* accept a client (blocking per ctx flags); -EAGAIN when none yet */
    int (*attach)(vfu_ctx_t *ctx);
    int (*get_poll_fd)(vfu_ctx_t *ctx);
    /*
     * Receive one message.  @nonblock: -EAGAIN when nothing is there.
     * -ENOTCONN when the client has gone.
     */
    int (*recv)(vfu_ctx_t *ctx, proto_msg_t *msg, bool nonblock);
    /* Send one message; the fds stay owned by the caller. */
    int (*send)(vfu_ctx_t *ctx, const struct vfio_user_header *hdr,
                const struct iovec *iov, size_t iovcnt, const int *fds,
                size_t nr_fds);
    /*
     * Receive the reply to a server-initiated command (DMA_READ/WRITE);
     * on the twin socket when negotiated.  Waits up to the timeout.
     */
    int (*recv_reply)(vfu_ctx_t *ctx, proto_msg_t *msg);
    /* Send a server-initiated command (twin socket when negotiated). */
    int (*send_cmd)(vfu_ctx_t *ctx, const struct vfio_user_header *hdr,
                    const struct iovec *iov, size_t iovcnt);
    /*
     * Optional: create the twin socket pair (negotiate.c, when the client
     * asked for it).  Keeps the server end for send_cmd/recv_reply until
     * detach and returns the client's end (the caller sends and closes
     * it), or a negative errno.
     */
    int (*twin_socket)(vfu_ctx_t *ctx);
    /* Drop the client connection (keep listening). */
    void (*detach)(vfu_ctx_t *ctx);
    /* at vfu_destroy_ctx() */
    void (*fini)(vfu_ctx_t *ctx);
};

extern const struct tran_ops vfu_tran_sock_ops;
extern const struct tran_ops vfu_tran_pipe_ops;
extern const struct tran_ops vfu_tran_inproc_ops;

struct vfu_pci;
struct vfu_dma;
struct vfu_irqs;
struct vfu_migr;
struct vfu_ioeventfd;

/* What a quiesce left pending (vfu_device_quiesced() finishes it). */
enum vfu_pending_kind {
    VFU_PENDING_NONE,
    VFU_PENDING_MSG,       /* ctx->pending is a request to handle */
    VFU_PENDING_LOST_CONN, /* the client left; clean up its state */
};

struct vfu_ctx {
    vfu_trans_t trans;
    const struct tran_ops *tran;
    void *tran_data;
    char *path;
    int flags;
    void *pvt;
    vfu_dev_type_t dev_type;

    vfu_log_fn_t *log;
    int log_level;

    bool realized;
    bool attached;    /* a client has negotiated */
    vfu_ext_limits_t limits;
    proto_caps_t caps; /* negotiated with the current client */

    vfu_region_t regions[VFU_PCI_DEV_NUM_REGIONS];

    struct vfu_pci *pci;     /* pci.c, pci_caps.c */
    struct vfu_dma *dma;     /* dma.c */
    struct vfu_irqs *irqs;   /* irq.c */
    struct vfu_migr *migr;   /* migration.c */
    struct vfu_ioeventfd *ioeventfds; /* region.c, singly linked */

    vfu_reset_cb_t *reset;
    vfu_device_quiesce_cb_t *quiesce;
    bool quiesced;
    bool quiesce_pending; /* quiesce callback said EBUSY */
    proto_msg_t pending;  /* message waiting for the quiesce to finish */
    enum vfu_pending_kind pending_kind; /* what quiesce_pending waits for */
    /*
     * vfu_device_quiesced() is running the request it held: the device is
     * quiesced already, so losing the client then needs no new quiesce.
     */
    bool completing_quiesce;

    vfu_ext_trace_cb_t *trace_cb;
    void *trace_arg;
    bool trace_stderr; /* VFU_TRACE set */

    uint16_t next_msg_id; /* for server-initiated commands */

    /*
     * What we accept from the client: ctx->caps with our own max_msg_fds
     * and max_data_xfer_size (the spec's values are what the *sender* of
     * the JSON can receive, so the client's bound our replies and ours
     * its requests).  Every request is validated against this.
     */
    proto_caps_t recv_caps;
    bool in_dispatch; /* a handler is running: no re-entrant vfu_run_ctx */
    int twin_peer_fd; /* client end of the twin socket until it is sent */
};

/* ctx.c */
void
vfu_log_errno(vfu_ctx_t *ctx, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Report one message to the tracer hook and, with VFU_TRACE set, to
 * stderr.  The transports call it for everything they move.
 */
void
vfu_trace_msg(vfu_ctx_t *ctx, bool outgoing,
              const struct vfio_user_header *hdr, const struct iovec *iov,
              size_t iovcnt, size_t nr_fds);

/*
 * The largest request the server takes, header included: a REGION_WRITE
 * of max_data_xfer_size bytes (libvfio-user's limit), or the largest
 * VERSION or REGION_WRITE_MULTI when the transfer size is tiny.
 */
uint64_t
vfu_max_request(const vfu_ctx_t *ctx);

/*
 * The effective timeout (ms) for partial messages, DMA replies and sends
 * to a client that stops reading.
 */
uint32_t
vfu_timeout_ms(const vfu_ctx_t *ctx);

/*
 * The client went away: quiesce the device (a busy quiesce returns
 * -EBUSY and vfu_device_quiesced() finishes the job), then
 * vfu_client_lost().  Returns -ENOTCONN or -EBUSY.
 */
int
vfu_client_gone(vfu_ctx_t *ctx);

/* Set errno from a negative errno and return -1 (public API helpers). */
static inline int
vfu_err(int neg_errno)
{
    errno = -neg_errno;
    return -1;
}

/* pci.c */
/* Access to the config region; returns @count or a negative errno. */
ssize_t
pci_config_access(vfu_ctx_t *ctx, char *buf, size_t count, uint64_t offset,
                  bool is_write);
/* Called by vfu_realize_ctx(): default config space, BAR type bits. */
int
pci_realize(vfu_ctx_t *ctx);
/* Called by vfu_destroy_ctx(). */
void
pci_free(vfu_ctx_t *ctx);


/*
 * Command handlers.  dispatch.c calls them with a request that passed
 * proto_check_request() (so every size the table checks is safe to use)
 * and the quiesce gate.  A handler returns 0 and fills @reply, or a
 * negative errno that becomes the reply's error_no.  reply->body is
 * malloc'ed by the handler and freed by dispatch after sending; reply->fds
 * are borrowed (dispatch does not close them).  A handler that takes an fd
 * from @msg uses proto_msg_take_fd(); dispatch closes the rest.
 */
typedef struct vfu_reply {
    void *body;
    size_t body_len;
    const int *fds;
    size_t nr_fds;
} vfu_reply_t;

typedef int(vfu_handler_fn)(vfu_ctx_t *ctx, proto_msg_t *msg,
                            vfu_reply_t *reply);

/* negotiate.c: VERSION (called from vfu_attach_ctx, not the run loop) */
int
vfu_negotiate(vfu_ctx_t *ctx, proto_msg_t *msg, vfu_reply_t *reply);

/* region.c */
vfu_handler_fn handle_device_get_info;
vfu_handler_fn handle_device_get_region_info;
vfu_handler_fn handle_device_get_region_io_fds;
vfu_handler_fn handle_region_read;
vfu_handler_fn handle_region_write;
vfu_handler_fn handle_region_write_multi;
vfu_handler_fn handle_device_reset;
/* Access region @idx (bounds-checked); returns @count or a negative errno. */
ssize_t
region_access(vfu_ctx_t *ctx, uint32_t idx, char *buf, size_t count,
              uint64_t offset, bool is_write);
void
region_free_all(vfu_ctx_t *ctx);

/* dma.c */
vfu_handler_fn handle_dma_map;
vfu_handler_fn handle_dma_unmap;
void
dma_free(vfu_ctx_t *ctx);
/* drop every mapping (client gone) */
void
dma_unmap_all(vfu_ctx_t *ctx);
/* the device's region limit from vfu_setup_device_dma() (ctx->dma set) */
size_t
dma_max_regions(const vfu_ctx_t *ctx);

/* irq.c */
vfu_handler_fn handle_device_get_irq_info;
vfu_handler_fn handle_device_set_irqs;
void
irq_free(vfu_ctx_t *ctx);
/* close every eventfd the client gave (client gone or reset) */
void
irq_disable_all(vfu_ctx_t *ctx);

/* migration.c */
vfu_handler_fn handle_device_feature;
vfu_handler_fn handle_mig_data_read;
vfu_handler_fn handle_mig_data_write;
void
migr_free(vfu_ctx_t *ctx);

/*
 * ctx.c: the client is gone: unmap its DMA, call the reset callback with
 * VFU_RESET_LOST_CONN, close its eventfds and detach the transport, with
 * no quiesce round trip.  Safe to call again (only the first call after
 * an attach cleans up).
 */
void
vfu_client_lost(vfu_ctx_t *ctx);

/* dispatch.c */
/*
 * Transports return -EBADMSG from recv() for a message whose header is
 * unacceptable but whose boundary is known (msg_size under 16 or over the
 * limit): msg->hdr holds the header, nothing else; dispatch answers it
 * with EINVAL, as libvfio-user does, and goes on.
 */

/*
 * Receive and serve one message.  Returns 1 when a message was consumed,
 * 0 when none was available (@nonblock), or a negative errno: -ENOTCONN
 * (client gone, state cleaned up), -EBUSY (quiesce pending), -EINTR.
 */
int
vfu_dispatch_one(vfu_ctx_t *ctx, bool nonblock);

/*
 * Serve a message whose quiesce finished (vfu_device_quiesced()):
 * @quiesce_errno 0 runs the handler, else the request fails with it.
 */
int
vfu_dispatch_pending(vfu_ctx_t *ctx, proto_msg_t *msg, int quiesce_errno);

/* Send the reply to @req (error reply when @err != 0). */
int
vfu_send_reply(vfu_ctx_t *ctx, const struct vfio_user_header *req, int err,
               const vfu_reply_t *reply);

/* tran_sock.c: message streams over a socket or a pipe pair */
#define TRAN_BACKLOG_MAX 32u

/*
 * One connection over stream fds.  Commands that arrive while the server
 * waits for the reply to its own DMA_READ/WRITE wait in @backlog and are
 * served first by the next tran_stream_recv().
 */
struct tran_stream {
    int in_fd;  /* -1 when not connected */
    int out_fd;
    bool owns_fds; /* close in_fd/out_fd on tran_stream_close() */
    bool can_pass_fds;
    int cmd_fd; /* server end of the twin socket, -1 if none */
    proto_msg_t backlog[TRAN_BACKLOG_MAX];
    size_t bl_head;
    size_t bl_count;
    /* body bytes of a refused oversized message still to be discarded */
    uint64_t skip;
};

void
tran_stream_init(struct tran_stream *s);
void
tran_stream_close(vfu_ctx_t *ctx, struct tran_stream *s);
int
tran_stream_recv(vfu_ctx_t *ctx, struct tran_stream *s, proto_msg_t *msg,
                 bool nonblock);
int
tran_stream_send(vfu_ctx_t *ctx, struct tran_stream *s,
                 const struct vfio_user_header *hdr, const struct iovec *iov,
                 size_t iovcnt, const int *fds, size_t nr_fds);
int
tran_stream_send_cmd(vfu_ctx_t *ctx, struct tran_stream *s,
                     const struct vfio_user_header *hdr,
                     const struct iovec *iov, size_t iovcnt);
int
tran_stream_recv_reply(vfu_ctx_t *ctx, struct tran_stream *s,
                       proto_msg_t *msg);

/*
 * State signature (state.c): one FNV-1a digest per part of what a client
 * can change.  The fuzz harnesses compare it after each input with the
 * one of a freshly set-up context, so an input can never leave state
 * behind for the next one (a crash then reproduces from its input alone).
 * Ids, counters and fd numbers are left out: only what changes behaviour.
 * Config space is not in it: it is plain bytes (vfu_pci_get_config_space)
 * that a harness compares and restores itself.
 */
typedef struct vfu_state_sig {
    uint64_t dma;  /* mappings, their protection, dirty logging, retired */
    uint64_t irq;  /* per vector: eventfds present, masked, pending */
    uint64_t misc; /* migration state, quiesce, ioeventfds, attached */
} vfu_state_sig_t;

void
vfu_state_sig(const vfu_ctx_t *ctx, vfu_state_sig_t *sig);

/* Feed @len bytes to a running FNV-1a digest (start with VFU_FNV_INIT). */
#define VFU_FNV_INIT 0xcbf29ce484222325ull
uint64_t
vfu_fnv(uint64_t h, const void *data, size_t len);

/* Per-module parts of vfu_state_sig(). */
uint64_t
dma_state_sig(const vfu_ctx_t *ctx);
uint64_t
irq_state_sig(const vfu_ctx_t *ctx);

#endif /* VFU_SERVER_PRIVATE_H */
