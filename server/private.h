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
 *   dma.c        DMA_MAP/UNMAP, sgl API           (ctx->dma)
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

    vfu_ext_trace_cb_t *trace_cb;
    void *trace_arg;
    bool trace_stderr; /* VFU_TRACE set */

    uint16_t next_msg_id; /* for server-initiated commands */
};

/* ctx.c */
void
vfu_log_errno(vfu_ctx_t *ctx, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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

/* ctx.c: called by dispatch when the client goes away */
void
vfu_client_lost(vfu_ctx_t *ctx);

#endif /* VFU_SERVER_PRIVATE_H */
