/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libvfio-user.h - the vfu-harness server library API.
 *
 * A drop-in for libvfio-user's public header: the same vfu_* functions,
 * types, flags and errno behaviour, so a device model written for
 * libvfio-user compiles and links against vfu_server unchanged.  Functions
 * return -1 (or NULL) and set errno on failure unless documented otherwise.
 *
 * Our additions are grouped at the end under "vfu-harness extensions" and
 * all carry a vfu_ext_ / VFU_EXT_ prefix.
 */
#ifndef LIB_VFIO_USER_H
#define LIB_VFIO_USER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include "pci_caps/dsn.h"
#include "pci_caps/msi.h"
#include "pci_caps/msix.h"
#include "pci_caps/pm.h"
#include "pci_caps/px.h"
#include "pci_defs.h"
#include "vfio-user.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The protocol version this library speaks (as a server, it answers 0.2). */
#define LIB_VFIO_USER_MAJOR 0
#define LIB_VFIO_USER_MINOR 2

/* A guest (IOVA) address: never dereference it, translate it with an sgl. */
typedef void *vfu_dma_addr_t;

struct dma_sg;
typedef struct dma_sg dma_sg_t;

typedef struct vfu_ctx vfu_ctx_t;

/**
 * dma_sg_size - size in bytes of one dma_sg_t, so callers can allocate
 * arrays of the opaque type.
 */
size_t
dma_sg_size(void);

/* vfu_create_ctx() flag: vfu_attach_ctx() and vfu_run_ctx() do not block. */
#define LIBVFIO_USER_FLAG_ATTACH_NB (1 << 0)

typedef enum {
    VFU_TRANS_SOCK,
    /* stdin/stdout of the process (testing) */
    VFU_TRANS_PIPE,
    VFU_TRANS_MAX,
    /* extension: client in the same process and thread, see vfu_ext_inproc */
    VFU_TRANS_EXT_INPROC = 64,
} vfu_trans_t;

typedef enum {
    VFU_DEV_TYPE_PCI
} vfu_dev_type_t;

/**
 * vfu_create_ctx - create a device context.
 * @trans: VFU_TRANS_SOCK (listen on @path), VFU_TRANS_PIPE (stdin/stdout) or
 *         VFU_TRANS_EXT_INPROC (a fake VMM in the same process attaches).
 * @path: UNIX socket path for VFU_TRANS_SOCK; the context binds and
 *        listens on it here (EADDRINUSE if it exists) and removes it in
 *        vfu_destroy_ctx().
 * @flags: 0 or LIBVFIO_USER_FLAG_ATTACH_NB.
 * @pvt: private pointer returned by vfu_get_private().
 * @dev_type: VFU_DEV_TYPE_PCI.
 *
 * Returns: the context, or NULL with errno EINVAL (bad flags), ENOTSUP (bad
 * transport or device type) or ENOMEM.
 */
vfu_ctx_t *
vfu_create_ctx(vfu_trans_t trans, const char *path, int flags, void *pvt,
               vfu_dev_type_t dev_type);

/**
 * vfu_realize_ctx - finish setting the device up: fills in defaults for
 * regions that were not set up (config space) and allocates IRQ state.
 * No vfu_setup_* call is allowed after it.
 *
 * Returns: 0, or -1 with errno (EINVAL on inconsistent setup).
 */
int
vfu_realize_ctx(vfu_ctx_t *vfu_ctx);

/**
 * vfu_attach_ctx - wait for a client to connect and negotiate the version.
 *
 * With LIBVFIO_USER_FLAG_ATTACH_NB it returns -1/EAGAIN while no client is
 * there yet; call it again when vfu_get_poll_fd() is readable.
 *
 * Returns: 0 once a client is attached; -1 with errno EAGAIN (non-blocking,
 * nothing yet), EINVAL (negotiation failed; the client was dropped), or
 * another errno from the transport.
 */
int
vfu_attach_ctx(vfu_ctx_t *vfu_ctx);

/**
 * vfu_get_poll_fd - the fd to poll for readability: the listening socket
 * before vfu_attach_ctx() succeeds, the connection after.
 */
int
vfu_get_poll_fd(vfu_ctx_t *vfu_ctx);

/**
 * vfu_run_ctx - process client messages.
 *
 * Blocking mode: serves messages until the client goes away or an error.
 * Non-blocking mode: serves every message already available and returns.
 *
 * Returns: the number of messages handled (non-blocking), or -1 with errno
 * ENOTCONN (the client disconnected: call vfu_attach_ctx() to accept the
 * next one), EBUSY (the device quiesce callback returned busy; call again
 * after vfu_device_quiesced()), or another transport errno.
 */
int
vfu_run_ctx(vfu_ctx_t *vfu_ctx);

/**
 * vfu_destroy_ctx - disconnect the client, release every resource the
 * context owns and remove its socket.  Accepts NULL.
 */
void
vfu_destroy_ctx(vfu_ctx_t *vfu_ctx);

/** vfu_get_private - the @pvt pointer given to vfu_create_ctx(). */
void *
vfu_get_private(vfu_ctx_t *vfu_ctx);

/* Log callback: @level is a syslog level, @msg has no trailing newline. */
typedef void(vfu_log_fn_t)(vfu_ctx_t *vfu_ctx, int level, const char *msg);

/** vfu_log - log through the context's callback if @level is enabled. */
void
vfu_log(vfu_ctx_t *vfu_ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * vfu_setup_log - set the log callback and the most verbose level passed
 * to it (LOG_EMERG..LOG_DEBUG).
 *
 * Returns: 0, or -1 with errno EINVAL for a bad level.
 */
int
vfu_setup_log(vfu_ctx_t *vfu_ctx, vfu_log_fn_t *log, int level);

/*
 * Region access callback: copy @count bytes at @offset into (read) or from
 * (write) @buf.  Returns @count, or -1 with errno (sent to the client).
 */
typedef ssize_t(vfu_region_access_cb_t)(vfu_ctx_t *vfu_ctx, char *buf,
                                        size_t count, loff_t offset,
                                        bool is_write);

#define VFU_REGION_FLAG_READ (1 << 0)
#define VFU_REGION_FLAG_WRITE (1 << 1)
#define VFU_REGION_FLAG_RW (VFU_REGION_FLAG_READ | VFU_REGION_FLAG_WRITE)
/* If unset, a BAR is an I/O BAR. */
#define VFU_REGION_FLAG_MEM (1 << 2)
/* Config space: every access goes to the callback, none emulated. */
#define VFU_REGION_FLAG_ALWAYS_CB (1 << 3)
#define VFU_REGION_FLAG_64_BITS (1 << 4)
#define VFU_REGION_FLAG_PREFETCH (1 << 5)
#define VFU_REGION_FLAG_MASK                                                   \
    (VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM | VFU_REGION_FLAG_ALWAYS_CB |    \
     VFU_REGION_FLAG_64_BITS | VFU_REGION_FLAG_PREFETCH)

/**
 * vfu_setup_region - describe one region (BAR, ROM, config space, VGA or a
 * device-specific one).
 * @region_idx: VFU_PCI_DEV_*_REGION_IDX.
 * @size: bytes; a BAR's size must be a power of two, config space is 256 or
 *        4096 bytes.
 * @region_access: callback, may be NULL for a purely mmapped region.
 * @flags: VFU_REGION_FLAG_*.
 * @mmap_areas: parts of the region the client may mmap from @fd (sparse
 *              mmap); NULL with @fd >= 0 means the whole region.
 * @fd: file backing the region, or -1.  The library does not take
 *      ownership: the caller keeps it open while the context lives.
 * @offset: offset of the region in @fd.
 *
 * Returns: 0, or -1 with errno EINVAL (bad index, size, flags or areas) or
 * ENOMEM.
 */
int
vfu_setup_region(vfu_ctx_t *vfu_ctx, int region_idx, size_t size,
                 vfu_region_access_cb_t *region_access, int flags,
                 struct iovec *mmap_areas, uint32_t nr_mmap_areas, int fd,
                 uint64_t offset);

typedef enum vfu_reset_type {
    /* DEVICE_RESET from the client: back to a known initial state. */
    VFU_RESET_DEVICE,
    /* The client connection was lost; vfu_attach_ctx() accepts the next. */
    VFU_RESET_LOST_CONN,
    /* Function level reset started by the guest. */
    VFU_RESET_PCI_FLR
} vfu_reset_type_t;

/*
 * Quiesce callback: stop touching guest memory.  Return 0 when quiesced now,
 * or -1 with errno EBUSY and call vfu_device_quiesced() later.
 */
typedef int(vfu_device_quiesce_cb_t)(vfu_ctx_t *vfu_ctx);

/** vfu_setup_device_quiesce_cb - set the quiesce callback. */
void
vfu_setup_device_quiesce_cb(vfu_ctx_t *vfu_ctx,
                            vfu_device_quiesce_cb_t *quiesce_cb);

/**
 * vfu_device_quiesced - finish a quiesce the callback left pending with
 * EBUSY; @quiesce_errno is 0 on success.
 *
 * Returns: 0, or -1 with errno EINVAL when no quiesce was pending.
 */
int
vfu_device_quiesced(vfu_ctx_t *vfu_ctx, int quiesce_errno);

/* Reset callback; returns 0, or -1 with errno. */
typedef int(vfu_reset_cb_t)(vfu_ctx_t *vfu_ctx, vfu_reset_type_t type);

/** vfu_setup_device_reset_cb - set the reset callback. */
int
vfu_setup_device_reset_cb(vfu_ctx_t *vfu_ctx, vfu_reset_cb_t *reset);

/* One DMA region as seen by the device's register/unregister callbacks. */
typedef struct vfu_dma_info {
    struct iovec iova;    /* guest range */
    void *vaddr;          /* where it is mapped here, or NULL */
    struct iovec mapping; /* the whole mmap (page aligned), or NULL */
    size_t page_size;
    uint32_t prot; /* PROT_READ | PROT_WRITE */
} vfu_dma_info_t;

typedef void(vfu_dma_register_cb_t)(vfu_ctx_t *vfu_ctx, vfu_dma_info_t *info);
typedef void(vfu_dma_unregister_cb_t)(vfu_ctx_t *vfu_ctx,
                                      vfu_dma_info_t *info);

/**
 * vfu_setup_device_dma - enable DMA: the client may then map up to
 * @max_regions regions; the callbacks (may be NULL) see each map and unmap.
 *
 * Returns: 0, or -1 with errno EINVAL or ENOMEM.
 */
int
vfu_setup_device_dma(vfu_ctx_t *vfu_ctx, size_t max_regions,
                     vfu_dma_register_cb_t *dma_register,
                     vfu_dma_unregister_cb_t *dma_unregister);

/* The most regions vfu_setup_device_dma() accepts. */
#define LIBVFIO_USER_MAX_DMA_REGIONS (1000 * 1000)

enum vfu_dev_irq_type {
    VFU_DEV_INTX_IRQ,
    VFU_DEV_MSI_IRQ,
    VFU_DEV_MSIX_IRQ,
    VFU_DEV_ERR_IRQ,
    VFU_DEV_REQ_IRQ,
    VFU_DEV_NUM_IRQS
};

/**
 * vfu_setup_device_nr_irqs - declare @count vectors of @type.
 *
 * Returns: 0, or -1 with errno EINVAL.
 */
int
vfu_setup_device_nr_irqs(vfu_ctx_t *vfu_ctx, enum vfu_dev_irq_type type,
                         uint32_t count);

typedef void(vfu_dev_irq_state_cb_t)(vfu_ctx_t *vfu_ctx, uint32_t start,
                                     uint32_t count, bool mask);

/**
 * vfu_setup_irq_state_callback - called when the client masks or unmasks
 * vectors of @type.
 *
 * Returns: 0, or -1 with errno EINVAL.
 */
int
vfu_setup_irq_state_callback(vfu_ctx_t *vfu_ctx, enum vfu_dev_irq_type type,
                             vfu_dev_irq_state_cb_t *cb);

typedef enum {
    VFU_MIGR_STATE_STOP,
    VFU_MIGR_STATE_RUNNING,
    VFU_MIGR_STATE_STOP_AND_COPY,
    VFU_MIGR_STATE_PRE_COPY,
    VFU_MIGR_STATE_RESUME
} vfu_migr_state_t;

#define VFU_MIGR_CALLBACKS_VERS 2

/* Migration v2 callbacks; each returns -1 with errno on failure. */
typedef struct {
    int version; /* VFU_MIGR_CALLBACKS_VERS */
    /* Move the device to @state. */
    int (*transition)(vfu_ctx_t *vfu_ctx, vfu_migr_state_t state);
    /* Produce up to @count bytes of device state; 0 means no more. */
    ssize_t (*read_data)(vfu_ctx_t *vfu_ctx, void *buf, uint64_t count);
    /* Consume @count bytes of device state; must take all of it. */
    ssize_t (*write_data)(vfu_ctx_t *vfu_ctx, void *buf, uint64_t count);
} vfu_migration_callbacks_t;

/**
 * vfu_setup_device_migration_callbacks - make the device migratable.
 *
 * Returns: 0, or -1 with errno EINVAL (bad version or missing callback).
 */
int
vfu_setup_device_migration_callbacks(
    vfu_ctx_t *vfu_ctx, const vfu_migration_callbacks_t *callbacks);

/**
 * vfu_irq_trigger - raise vector @subindex of the enabled interrupt type
 * (signals the eventfd the client gave).
 *
 * Returns: 0, or -1 with errno EINVAL (@subindex beyond every INTx, MSI and
 * MSI-X vector count) or ENOENT (the vector has no eventfd).  A masked
 * vector does not fire; the trigger is delivered when it is unmasked.
 */
int
vfu_irq_trigger(vfu_ctx_t *vfu_ctx, uint32_t subindex);

/**
 * vfu_addr_to_sgl - translate the guest range [@dma_addr, +@len) into
 * scatter-gather entries, one per DMA region crossed.
 * @prot: PROT_READ and/or PROT_WRITE the caller needs.
 *
 * Returns: the number of entries used; -1 with errno ENOENT (not mapped),
 * EACCES (protection), or -(n + 1) with errno 0 when @max_nr_sgs is too small
 * and n entries would be needed.
 */
int
vfu_addr_to_sgl(vfu_ctx_t *vfu_ctx, vfu_dma_addr_t dma_addr, size_t len,
                dma_sg_t *sgl, size_t max_nr_sgs, int prot);

/**
 * vfu_sgl_get - map the entries into local addresses in @iov.  Only for
 * fd-backed regions.  @flags must be 0.
 *
 * Returns: 0, or -1 with errno EFAULT (not mappable) or EINVAL.
 */
int
vfu_sgl_get(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt,
            int flags);

/** vfu_sgl_mark_dirty - mark the entries dirty for dirty-page logging. */
void
vfu_sgl_mark_dirty(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, size_t cnt);

/** vfu_sgl_put - release entries obtained with vfu_sgl_get(). */
void
vfu_sgl_put(vfu_ctx_t *vfu_ctx, dma_sg_t *sgl, struct iovec *iov, size_t cnt);

/* vfu_sgl_read()/vfu_sgl_write() flag: use the mapping when possible. */
#define VFU_SGL_DIRECT_ACCESS (1)

/**
 * vfu_sgl_read - copy guest memory described by @sg into @data, through
 * DMA_READ messages to the client (or directly with VFU_SGL_DIRECT_ACCESS
 * when mapped).
 *
 * Returns: 0, or -1 with errno (ENOTSUP for more than one entry, or the
 * client's error).
 */
int
vfu_sgl_read(vfu_ctx_t *vfu_ctx, dma_sg_t *sg, size_t sg_cnt, void *data,
             int flags);

/** vfu_sgl_write - the write direction of vfu_sgl_read(). */
int
vfu_sgl_write(vfu_ctx_t *vfu_ctx, dma_sg_t *sg, size_t sg_cnt, void *data,
              int flags);

/* PCI region indexes. */
enum {
    VFU_PCI_DEV_BAR0_REGION_IDX,
    VFU_PCI_DEV_BAR1_REGION_IDX,
    VFU_PCI_DEV_BAR2_REGION_IDX,
    VFU_PCI_DEV_BAR3_REGION_IDX,
    VFU_PCI_DEV_BAR4_REGION_IDX,
    VFU_PCI_DEV_BAR5_REGION_IDX,
    VFU_PCI_DEV_ROM_REGION_IDX,
    VFU_PCI_DEV_CFG_REGION_IDX,
    VFU_PCI_DEV_VGA_REGION_IDX,
    VFU_PCI_DEV_NUM_REGIONS,
};

typedef enum {
    VFU_PCI_TYPE_CONVENTIONAL,
    VFU_PCI_TYPE_PCI_X_1,
    VFU_PCI_TYPE_PCI_X_2,
    VFU_PCI_TYPE_EXPRESS
} vfu_pci_type_t;

enum {
    VFU_GENERIC_DEV_MIGR_REGION_IDX,
    VFU_GENERIC_DEV_NUM_REGIONS
};

/**
 * vfu_pci_init - set up PCI config space of @pci_type (256 bytes for
 * conventional, 4 KiB for PCI-X 2 and Express).
 * @hdr_type: PCI_HEADER_TYPE_NORMAL (the only one supported).
 * @revision: revision ID.
 *
 * Returns: 0, or -1 with errno EINVAL (bad type or header), EEXIST (called
 * before) or ENOMEM.
 */
int
vfu_pci_init(vfu_ctx_t *vfu_ctx, vfu_pci_type_t pci_type, int hdr_type,
             int revision);

/** vfu_pci_set_id - vendor, device, subsystem vendor and subsystem IDs. */
void
vfu_pci_set_id(vfu_ctx_t *vfu_ctx, uint16_t vid, uint16_t did, uint16_t ssvid,
               uint16_t ssid);

/** vfu_pci_set_class - base class, sub class and programming interface. */
void
vfu_pci_set_class(vfu_ctx_t *vfu_ctx, uint8_t base, uint8_t sub, uint8_t pi);

/**
 * vfu_pci_get_config_space - the emulated config space, which the device
 * may read and change directly.
 */
vfu_pci_config_space_t *
vfu_pci_get_config_space(vfu_ctx_t *vfu_ctx);

#define VFU_CAP_FLAG_EXTENDED (1 << 0)
/* Accesses to the capability go to the config region's callback. */
#define VFU_CAP_FLAG_CALLBACK (1 << 1)
/* The client cannot write the capability. */
#define VFU_CAP_FLAG_READONLY (1 << 2)

/**
 * vfu_pci_add_capability - copy the capability at @data into config space
 * and link it into the (extended) capability list.
 * @pos: offset, or 0 to place it after the last one.
 * @flags: VFU_CAP_FLAG_*.
 * @data: starts with the capability header; its size follows from its ID
 *        (or its own length field for vendor-specific capabilities).
 *
 * Returns: the offset where it was placed, or -1 with errno EINVAL (bad
 * position, overlap, unknown ID), ENOSPC (no room) or ENOTSUP.
 */
ssize_t
vfu_pci_add_capability(vfu_ctx_t *vfu_ctx, size_t pos, int flags, void *data);

/**
 * vfu_pci_find_capability - offset of the first capability @cap_id, or 0
 * with errno ENOENT.
 */
size_t
vfu_pci_find_capability(vfu_ctx_t *vfu_ctx, bool extended, int cap_id);

/**
 * vfu_pci_find_next_capability - offset of the next capability @cap_id
 * after the one at @pos, or 0 with errno ENOENT (none, or @pos is not on
 * the list) or EINVAL (@pos outside config space, or a corrupted list).
 */
size_t
vfu_pci_find_next_capability(vfu_ctx_t *vfu_ctx, bool extended, size_t pos,
                             int cap_id);

/** vfu_sg_is_mappable - whether the entry lies in an fd-backed region. */
bool
vfu_sg_is_mappable(vfu_ctx_t *vfu_ctx, dma_sg_t *sg);

/**
 * vfu_create_ioeventfd - offer @fd to the client (GET_REGION_IO_FDS) for
 * writes of @size bytes at @gpa_offset in @region_idx.
 * @flags: KVM_IOEVENTFD_FLAG_DATAMATCH to match @datamatch.
 * @shadow_fd: -1, or a memory fd for shadow ioeventfds at @shadow_offset.
 *
 * Returns: 0, or -1 with errno EINVAL or ENOMEM.
 */
int
vfu_create_ioeventfd(vfu_ctx_t *vfu_ctx, uint32_t region_idx, int fd,
                     size_t gpa_offset, uint32_t size, uint32_t flags,
                     uint64_t datamatch, int shadow_fd, size_t shadow_offset);

/* ---------------------------------------------------------------------- */
/* vfu-harness extensions (not in libvfio-user)                            */
/* ---------------------------------------------------------------------- */

/*
 * Limits the server offers in its VERSION reply and enforces.  Zero fields
 * keep the defaults: max_msg_fds 8, max_data_xfer_size 1 MiB, max_dma_maps
 * from vfu_setup_device_dma(), pgsizes 4 KiB, timeout_ms 5000 (how long the
 * server waits for the rest of a partially received message, for a reply
 * to its own requests, or for a client that stops reading to take what the
 * server sends).
 */
typedef struct vfu_ext_limits {
    uint32_t max_msg_fds;
    uint64_t max_data_xfer_size;
    uint32_t max_dma_maps;
    uint64_t pgsizes;
    uint32_t timeout_ms;
} vfu_ext_limits_t;

/**
 * vfu_ext_set_limits - change the limits before vfu_realize_ctx().
 *
 * Returns: 0, or -1 with errno EINVAL (absurd value) or EBUSY (realized).
 */
int
vfu_ext_set_limits(vfu_ctx_t *vfu_ctx, const vfu_ext_limits_t *limits);

/*
 * Wire tracer: called for every message the server sends or receives
 * (@outgoing tells which), after validation of the header.  @hdr is followed
 * by @len bytes of body in @body.
 */
typedef void(vfu_ext_trace_cb_t)(void *arg, bool outgoing,
                                 const struct vfio_user_header *hdr,
                                 const void *body, size_t len, size_t nr_fds);

/** vfu_ext_set_tracer - install (or with NULL remove) the tracer hook. */
void
vfu_ext_set_tracer(vfu_ctx_t *vfu_ctx, vfu_ext_trace_cb_t *cb, void *arg);

/*
 * In-process transport (VFU_TRANS_EXT_INPROC).  The fake VMM in the same
 * process and thread exchanges whole messages with the context through two
 * queues; no socket is involved and the order of messages is deterministic.
 * Fds passed to vfu_ext_inproc_send() are owned by the context from then on;
 * fds returned by vfu_ext_inproc_recv() are owned by the caller.
 */

/*
 * Called by the context when it waits for a message from the client (a
 * reply to DMA_READ/DMA_WRITE): the client should serve its queue.
 * Returns 0 if it made progress, a negative errno otherwise.
 */
typedef int(vfu_ext_inproc_pump_cb_t)(void *arg);

/**
 * vfu_ext_inproc_connect - connect the in-process client.  A following
 * vfu_attach_ctx() negotiates once the client's VERSION is queued.
 *
 * Returns: 0, or -1 with errno EINVAL (not an in-process context) or
 * EISCONN (a client is already connected).
 */
int
vfu_ext_inproc_connect(vfu_ctx_t *vfu_ctx, vfu_ext_inproc_pump_cb_t *pump,
                       void *pump_arg);

/** vfu_ext_inproc_disconnect - the client goes away (as a socket close). */
void
vfu_ext_inproc_disconnect(vfu_ctx_t *vfu_ctx);

/**
 * vfu_ext_inproc_send - queue one message (@len bytes, header included) for
 * the server; the context takes ownership of @fds even on failure.
 *
 * Returns: 0, or -1 with errno ENOTCONN, EINVAL or ENOMEM.
 */
int
vfu_ext_inproc_send(vfu_ctx_t *vfu_ctx, const void *msg, size_t len,
                    const int *fds, size_t nr_fds);

/**
 * vfu_ext_inproc_recv - take the next message the server queued for the
 * client.  @buf receives up to @size bytes; @fds up to *@nr_fds fds, and
 * *@nr_fds is set to the number returned.
 *
 * Returns: the message length (which may exceed @size: the message is then
 * truncated and its fds closed), or -1 with errno EAGAIN (queue empty) or
 * ENOTCONN.
 */
ssize_t
vfu_ext_inproc_recv(vfu_ctx_t *vfu_ctx, void *buf, size_t size, int *fds,
                    size_t *nr_fds);

/** vfu_ext_inproc_pending - length of the next queued message, or 0. */
size_t
vfu_ext_inproc_pending(vfu_ctx_t *vfu_ctx);

#ifdef __cplusplus
}
#endif

#endif /* LIB_VFIO_USER_H */
