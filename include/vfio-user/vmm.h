/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vmm.h - the fake VMM: a vfio-user client for tests.
 *
 * It connects to any vfio-user server over a UNIX socket, or to a server
 * context in the same process and thread (then, while it waits for a reply,
 * it runs the server's loop itself, so everything is deterministic).  It
 * negotiates, caches device, region and IRQ info, and reads and writes
 * regions of any size.  Every reply is validated: a hostile server makes a
 * call fail with a negative errno, never crash the client.
 *
 * All functions return 0 (or a count) on success and a negative errno on
 * failure.
 *
 * Corpus dumps: with vmm_opts_t.dump_dir, or else the environment variable
 * VMM_DUMP_DIR, naming a directory, each connection writes two files
 * there, vmm-PID-N.sent (every message it sends, in fuzz_stream's input
 * format) and vmm-PID-N.recv (every message it receives, in fuzz_client's
 * format), each bounded to 1 MiB.  fuzz/gen_corpus.py turns them into
 * seed corpora (docs/fuzzing.md).  A dump error is logged once and ends
 * dumping; the connection itself never fails for it.
 */
#ifndef VFU_VMM_H
#define VFU_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vfio-user.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmm vmm_t;
struct vfu_ctx;

/* What the client proposes in VERSION.  Zero fields take the defaults. */
typedef struct vmm_opts {
    uint16_t major, minor;        /* default 0.0, as QEMU sends */
    uint32_t max_msg_fds;         /* default 16 */
    uint64_t max_data_xfer_size;  /* default 1 MiB */
    uint32_t max_dma_maps;        /* default 65535 */
    uint64_t pgsizes;             /* default 4 KiB */
    bool write_multiple;          /* propose REGION_WRITE_MULTI */
    bool twin_socket;             /* propose a second socket (sockets
                                     only: -ENOTSUP in-process) */
    bool no_negotiate;            /* connect only; for protocol tests */
    int timeout_ms;               /* reply timeout over sockets, and the
                                     longest a send waits for the server
                                     to read; default 5000 */
    FILE *trace;                  /* one line per message; NULL: VFU_TRACE */
    const char *dump_dir;         /* corpus dumps (above), borrowed like
                                     trace; NULL: VMM_DUMP_DIR */
} vmm_opts_t;

/* Wire hook: every message the client sends or receives. */
typedef void(vmm_trace_cb_t)(void *arg, bool outgoing,
                             const struct vfio_user_header *hdr,
                             const void *body, size_t len, size_t nr_fds);

/**
 * vmm_connect - connect to the server listening on @path and negotiate.
 * Returns 0 and sets *@out, or a negative errno.
 */
int
vmm_connect(const char *path, const vmm_opts_t *opts, vmm_t **out);

/**
 * vmm_connect_fd - use an already connected socket (ownership passes to
 * the client, even on failure).
 */
int
vmm_connect_fd(int fd, const vmm_opts_t *opts, vmm_t **out);

/**
 * vmm_attach_inproc - attach to @ctx, created with VFU_TRANS_EXT_INPROC and
 * realized, in this process and thread; negotiates (running
 * vfu_attach_ctx() itself).  The context must outlive the client.
 */
int
vmm_attach_inproc(struct vfu_ctx *ctx, const vmm_opts_t *opts, vmm_t **out);

/** vmm_close - disconnect and free; accepts NULL. */
void
vmm_close(vmm_t *vmm);

/** vmm_set_trace_hook - install a wire hook (NULL removes it). */
void
vmm_set_trace_hook(vmm_t *vmm, vmm_trace_cb_t *cb, void *arg);

/*
 * Log hook: what the client noticed about the server's behaviour (a reply
 * dropped for its id, fds closed because a message should carry none, a
 * server command refused...).  @level is a syslog level, @msg has no
 * trailing newline.  Without a hook, lines go to the trace stream when
 * tracing is on, and nowhere otherwise.
 */
typedef void(vmm_log_cb_t)(void *arg, int level, const char *msg);

/** vmm_set_log - install a log hook (NULL removes it). */
void
vmm_set_log(vmm_t *vmm, vmm_log_cb_t *cb, void *arg);

/* Negotiated result. */
typedef struct vmm_caps {
    uint16_t major, minor;
    uint32_t max_msg_fds;
    uint64_t max_data_xfer_size;
    uint32_t max_dma_maps;
    uint64_t pgsizes;
    bool write_multiple;
    bool twin_socket;
} vmm_caps_t;

/** vmm_get_caps - the server's answer to our VERSION. */
const vmm_caps_t *
vmm_get_caps(const vmm_t *vmm);

/* ---- discovery (cached after the first call) ---- */

/** vmm_device_info - DEVICE_GET_INFO. */
int
vmm_device_info(vmm_t *vmm, struct vfio_user_device_info *info);

typedef struct vmm_mmap_area {
    uint64_t offset; /* within the region */
    uint64_t size;
} vmm_mmap_area_t;

typedef struct vmm_region {
    uint32_t index;
    uint32_t flags;   /* VFIO_REGION_INFO_FLAG_* */
    uint64_t size;
    uint64_t offset;  /* file offset for mmap */
    int fd;           /* owned by the client, -1 if none */
    uint32_t nr_areas;
    vmm_mmap_area_t *areas; /* sparse mmap areas (or the whole region) */
    bool has_type;
    uint32_t type, subtype; /* VFIO_REGION_INFO_CAP_TYPE */
} vmm_region_t;

/**
 * vmm_region_info - DEVICE_GET_REGION_INFO for @index, with capabilities
 * decoded; the result points into the client's cache (valid until close).
 */
int
vmm_region_info(vmm_t *vmm, uint32_t index, const vmm_region_t **out);

/** vmm_irq_info - DEVICE_GET_IRQ_INFO for @index. */
int
vmm_irq_info(vmm_t *vmm, uint32_t index, struct vfio_irq_info *info);

/* ---- region access ---- */

/**
 * vmm_region_read - read @len bytes at @offset of region @index, split in
 * chunks of the negotiated max_data_xfer_size.
 */
int
vmm_region_read(vmm_t *vmm, uint32_t index, uint64_t offset, void *buf,
                size_t len);

/** vmm_region_write - the write direction of vmm_region_read(). */
int
vmm_region_write(vmm_t *vmm, uint32_t index, uint64_t offset,
                 const void *buf, size_t len);

/**
 * vmm_region_write_queue - queue a write of at most 8 bytes; queued writes
 * go out as one REGION_WRITE_MULTI (when negotiated; else one by one) on
 * vmm_region_write_flush() or when 200 are queued.
 */
int
vmm_region_write_queue(vmm_t *vmm, uint32_t index, uint64_t offset,
                       const void *buf, size_t len);

/**
 * vmm_region_write_flush - send the queued writes.  The queue is emptied
 * even when sending fails (the error says so; which writes took effect
 * is then unknown).
 */
int
vmm_region_write_flush(vmm_t *vmm);

/*
 * Fixed-size helpers, little-endian values.  @size is 1, 2, 4 or 8
 * (-EINVAL otherwise); a value to write wider than @size gives -ERANGE.
 */
int
vmm_region_read_val(vmm_t *vmm, uint32_t index, uint64_t offset, size_t size,
                    uint64_t *val);
int
vmm_region_write_val(vmm_t *vmm, uint32_t index, uint64_t offset, size_t size,
                     uint64_t val);

/* Config space shorthands (region VFU_PCI_DEV_CFG_REGION_IDX, 7). */
int
vmm_config_read(vmm_t *vmm, uint64_t offset, size_t size, uint64_t *val);
int
vmm_config_write(vmm_t *vmm, uint64_t offset, size_t size, uint64_t val);

/**
 * vmm_region_mmap - map the mmappable area @area of region @index from the
 * fd the server gave; returns the address in *@addr.  Unmapped at close.
 */
int
vmm_region_mmap(vmm_t *vmm, uint32_t index, uint32_t area, void **addr);

/** vmm_reset - DEVICE_RESET. */
int
vmm_reset(vmm_t *vmm);

/* ---- io fds ---- */

typedef struct vmm_ioeventfd {
    uint64_t offset, size;
    uint32_t type, flags;
    uint64_t datamatch;
    int fd; /* owned by the caller of vmm_region_io_fds() */
} vmm_ioeventfd_t;

/**
 * vmm_region_io_fds - DEVICE_GET_REGION_IO_FDS for @index; fills up to
 * @max entries and returns the number the server has (which may be more).
 * The caller owns and must close the fds returned.
 */
int
vmm_region_io_fds(vmm_t *vmm, uint32_t index, vmm_ioeventfd_t *ents,
                  size_t max);

/* ---- guest memory and DMA (the VMM side of DMA_MAP / DMA_READ / ...) ---- */

/*
 * Guest memory is a set of non-overlapping regions at guest physical
 * addresses (gpa == IOVA: the fake VMM has no IOMMU translation).  Each is
 * backed by a memfd that is passed with DMA_MAP so the server can mmap it,
 * or, with VMM_MEM_NOFD, by private memory the server can reach only
 * through DMA_READ / DMA_WRITE messages, which the client serves whenever
 * it waits (in-process: from the server's pump; over a socket: while
 * waiting for a reply, on the twin socket when negotiated, or in
 * vmm_poll()).  Every server access is checked against the mapped ranges,
 * the region's protection and the negotiated max_data_xfer_size; a bad
 * one gets an error reply (EFAULT/EACCES/EINVAL), never a crash.
 */
#define VMM_MEM_READ (1u << 0)  /* the device may read it  */
#define VMM_MEM_WRITE (1u << 1) /* the device may write it */
#define VMM_MEM_RW (VMM_MEM_READ | VMM_MEM_WRITE)
#define VMM_MEM_NOFD (1u << 2)  /* no fd: DMA_READ/DMA_WRITE messages only */

/**
 * vmm_mem_map - allocate @size bytes of zeroed guest memory at @gpa and map
 * it into the device with DMA_MAP.  @gpa and @size must be page aligned
 * (the negotiated pgsizes) and must not overlap a mapped region.
 * Returns 0, -EINVAL, -EEXIST (overlap), -ENOMEM, or the server's errno
 * (the memory is freed again then).
 */
int
vmm_mem_map(vmm_t *vmm, uint64_t gpa, uint64_t size, uint32_t flags);

/**
 * vmm_mem_unmap - DMA_UNMAP exactly one region mapped by vmm_mem_map()
 * and free it.  -ENOENT when no region is mapped at [@gpa, +@size).
 */
int
vmm_mem_unmap(vmm_t *vmm, uint64_t gpa, uint64_t size);

/** vmm_mem_unmap_all - DMA_UNMAP with VFIO_DMA_UNMAP_FLAG_ALL; frees all. */
int
vmm_mem_unmap_all(vmm_t *vmm);

/*
 * Local access to guest memory (what the guest's CPU does; no message).
 * The whole range must lie in mapped regions (it may span several):
 * -EFAULT otherwise.
 */
int
vmm_mem_write(vmm_t *vmm, uint64_t gpa, const void *buf, size_t len);
int
vmm_mem_read(vmm_t *vmm, uint64_t gpa, void *buf, size_t len);
int
vmm_mem_fill(vmm_t *vmm, uint64_t gpa, uint8_t byte, size_t len);

/**
 * vmm_mem_ptr - a pointer to guest memory at @gpa valid for @len bytes
 * inside one region, or NULL.  Valid until that region is unmapped.
 */
void *
vmm_mem_ptr(vmm_t *vmm, uint64_t gpa, size_t len);

/* What the client has served, for tests and benchmarks. */
typedef struct vmm_stats {
    uint64_t dma_reads, dma_writes;         /* DMA_READ/DMA_WRITE served */
    uint64_t dma_read_bytes, dma_write_bytes;
    uint64_t dma_errors;                    /* answered with an error */
} vmm_stats_t;

void
vmm_get_stats(const vmm_t *vmm, vmm_stats_t *stats);

/**
 * vmm_poll - serve server-initiated messages for up to @timeout_ms (0: only
 * what is already there; in-process it runs the server's loop once).
 * Returns the number served, or a negative errno.
 */
int
vmm_poll(vmm_t *vmm, int timeout_ms);

/* ---- interrupts ---- */

/**
 * vmm_irq_enable - create one eventfd per vector and send SET_IRQS
 * (ACTION_TRIGGER | DATA_EVENTFD) for vectors [@start, +@count) of IRQ
 * index @index (VFIO_PCI_INTX_IRQ_INDEX ... VFIO_PCI_REQ_IRQ_INDEX).
 * Pending counts of those vectors restart at 0.
 */
int
vmm_irq_enable(vmm_t *vmm, uint32_t index, uint32_t start, uint32_t count);

/** vmm_irq_disable - SET_IRQS count 0 for @index; closes its eventfds. */
int
vmm_irq_disable(vmm_t *vmm, uint32_t index);

/** vmm_irq_mask - ACTION_MASK (or UNMASK when !@mask) with DATA_NONE. */
int
vmm_irq_mask(vmm_t *vmm, uint32_t index, uint32_t start, uint32_t count,
             bool mask);

/**
 * vmm_irq_count - triggers seen on a vector since it was enabled or last
 * taken: reads its eventfd (non-blocking) and adds to the running count.
 * With @take the count is returned and reset.  -EINVAL if not enabled.
 */
int
vmm_irq_count(vmm_t *vmm, uint32_t index, uint32_t vector, bool take,
              uint64_t *count);

/**
 * vmm_irq_wait - wait until the vector has at least one trigger pending
 * (serving server messages meanwhile), up to @timeout_ms: 0, or -ETIMEDOUT.
 */
int
vmm_irq_wait(vmm_t *vmm, uint32_t index, uint32_t vector, int timeout_ms);

/* ---- migration (VFIO migration v2 over DEVICE_FEATURE / MIG_DATA_*) ---- */

/*
 * A reply the spec does not allow (a state outside the enum, a GET without
 * its data, a bitmap for another range or of the wrong size, a page size
 * that is no power of two) makes these calls fail with -EPROTO; a server's
 * error reply gives its errno.
 */

/** vmm_mig_features - DEVICE_FEATURE(MIGRATION) GET: VFIO_MIGRATION_* flags. */
int
vmm_mig_features(vmm_t *vmm, uint64_t *flags);

/** vmm_mig_get_state - the device state (VFIO_USER_DEVICE_STATE_*). */
int
vmm_mig_get_state(vmm_t *vmm, uint32_t *state);

/**
 * vmm_mig_set_state - one DEVICE_FEATURE(MIG_DEVICE_STATE) SET: the server
 * walks the arc (or refuses it).  No intermediate states are added, and
 * any value is sent as it is (the server refuses what the spec does not
 * allow).
 */
int
vmm_mig_set_state(vmm_t *vmm, uint32_t state);

/**
 * vmm_mig_read - MIG_DATA_READ of up to @len bytes (at most the negotiated
 * max_data_xfer_size) into @buf; *@got is what the device gave (0: no
 * more data in this phase; less than asked may or may not be the end).
 */
int
vmm_mig_read(vmm_t *vmm, void *buf, size_t len, size_t *got);

/** vmm_mig_write - MIG_DATA_WRITE of @len bytes, split by the transfer size. */
int
vmm_mig_write(vmm_t *vmm, const void *buf, size_t len);

/*
 * Dirty page logging over the given guest ranges (NULL/0: all guest
 * memory).  @pgsize must be a power of two (-EINVAL); the server may log
 * at a larger one (ours raises it to the negotiated page size).  Only
 * memory the server maps (fd-backed) is logged: writes to VMM_MEM_NOFD
 * memory arrive as DMA_WRITE messages, which vmm_migrate() notes itself.
 */
typedef struct vmm_range {
    uint64_t gpa, size;
} vmm_range_t;

int
vmm_dirty_start(vmm_t *vmm, uint64_t pgsize, const vmm_range_t *ranges,
                size_t nr_ranges);
int
vmm_dirty_stop(vmm_t *vmm);

/**
 * vmm_dirty_report - DMA_LOGGING_REPORT for [@gpa, +@size): one bit per
 * @pgsize page in @bitmap (at least DIV_ROUND_UP(size/pgsize, 8) bytes,
 * @bitmap_size says how many); reading clears the device's log.  The
 * server sends whole 64-bit words (libvfio-user, and we, also report and
 * clear bits past @size inside the last word): the caller gets as many
 * bytes as @bitmap_size holds, the rest of @bitmap zeroed.
 */
int
vmm_dirty_report(vmm_t *vmm, uint64_t gpa, uint64_t size, uint64_t pgsize,
                 uint8_t *bitmap, size_t bitmap_size);

typedef struct vmm_migr_opts {
    uint32_t max_precopy_iters; /* bound on PRE_COPY rounds; default 16 */
    bool no_precopy;            /* go straight to STOP_COPY */
    bool no_dirty_log;          /* do not use DMA logging */
} vmm_migr_opts_t;

typedef struct vmm_migr_stats {
    uint32_t precopy_iters;
    uint64_t precopy_bytes, stopcopy_bytes; /* device data moved */
    uint64_t dirty_pages;                   /* pages reported dirty */
    uint64_t guest_bytes;                   /* guest memory carried */
} vmm_migr_stats_t;

/**
 * vmm_migrate - live-migrate the device behind @src to the (negotiated,
 * freshly attached) device behind @dst: dirty logging on, RUNNING ->
 * PRE_COPY (iterate while data or dirty pages remain, bounded) ->
 * STOP_COPY -> drain; @dst: RESUMING -> write the data -> STOP; guest
 * memory (every region @src mapped, with its contents and flags) is
 * recreated and mapped on @dst; interrupts enabled on @src are enabled on
 * @dst; then @dst -> RUNNING and @src left in STOP.  On failure @src is
 * returned to RUNNING when possible.  @opts and @stats may be NULL.
 *
 * Both devices must be RUNNING and report VFIO_MIGRATION_STOP_COPY
 * (-EINVAL, -ENOTSUP otherwise); @dst must not have memory where @src's
 * goes (-EEXIST; an identical region is reused).  Guest memory is copied
 * once, then pages written since are copied again after each PRE_COPY
 * round and after the device stopped: pages in the server's DMA log and
 * pages written by the DMA_WRITEs (and local writes) the client served.
 * Without DMA logging (opts, or a server that refuses it) everything is
 * copied again once the device stopped.  Trigger counts of @src's
 * vectors not yet taken move to the same vectors of @dst.  A failure
 * undoes what was done to @dst: a RESUMING @dst is reset (DEVICE_RESET
 * returns it to RUNNING), its new interrupts disabled and new memory
 * unmapped.  At most 256 MiB of device data (-E2BIG).
 */
int
vmm_migrate(vmm_t *src, vmm_t *dst, const vmm_migr_opts_t *opts,
            vmm_migr_stats_t *stats);

/**
 * vmm_save - stop the device (STOP_COPY), write its migration data and the
 * guest memory to @path (a versioned file with checksums), leave the
 * device in STOP.  vmm_restore - map the saved guest memory on @dst,
 * RESUMING, write the data, RUNNING.  A truncated or corrupted file gives
 * -EINVAL (-EBADMSG for a bad checksum) and changes nothing on @dst.
 *
 * The file format (little-endian, CRC32C per section) is described in
 * client/vmm_snap.c; only non-zero guest pages are stored.  vmm_save()
 * also takes a device already in STOP.  vmm_restore() wants @dst RUNNING
 * and without memory where the saved regions go (-EEXIST); if the device
 * refuses the data, what was done is undone as in vmm_migrate().
 */
int
vmm_save(vmm_t *src, const char *path);
int
vmm_restore(vmm_t *dst, const char *path);

/* ---- raw messages, for protocol and negative tests ---- */

typedef struct vmm_reply {
    struct vfio_user_header hdr;
    uint8_t *body; /* malloc'ed, free with vmm_reply_free() */
    size_t body_len;
    int *fds;
    size_t nr_fds;
} vmm_reply_t;

/*
 * vmm_reply_free - free the body and close the fds still >= 0 (set a slot
 * to -1 to keep that fd); accepts NULL and a zeroed reply.
 */
void
vmm_reply_free(vmm_reply_t *reply);

/**
 * vmm_dma_answer - answer the next @cmd (VFIO_USER_DMA_READ or
 * VFIO_USER_DMA_WRITE) the server sends with a reply of header flags
 * @flags and error @error_no, body @body/@len and fds @fds, echoing the
 * request's id, instead of serving it from guest memory (and whether it
 * asked for a reply or not): for testing how a device copes with a client
 * that answers its DMA wrongly.  The fds are duplicated (the caller keeps
 * its own); one answer per command is held, a new one replaces it, and it
 * is used once.  Returns 0, -EINVAL or -ENOMEM.
 */
int
vmm_dma_answer(vmm_t *vmm, uint16_t cmd, uint32_t flags, uint32_t error_no,
               const void *body, size_t len, const int *fds, size_t nr_fds);

/**
 * vmm_send_raw - send command @cmd with @payload and @fds (still owned by
 * the caller), wait for its reply and return it in @reply, unvalidated
 * beyond framing.  Returns 0 when a reply came (check reply->hdr for the
 * error flag), or a negative errno (-ENOTCONN when the server hung up).
 */
int
vmm_send_raw(vmm_t *vmm, uint16_t cmd, const void *payload, size_t len,
             const int *fds, size_t nr_fds, vmm_reply_t *reply);

/**
 * vmm_send_bytes - send @len arbitrary bytes (a header of your own making,
 * or a truncated message) with @fds; no reply is awaited.
 */
int
vmm_send_bytes(vmm_t *vmm, const void *buf, size_t len, const int *fds,
               size_t nr_fds);

/**
 * vmm_recv_any - receive the next message from the server (reply or
 * command), running the in-process server if needed.  -ETIMEDOUT after the
 * timeout, -ENOTCONN when the server hung up.
 */
int
vmm_recv_any(vmm_t *vmm, vmm_reply_t *msg);

/** vmm_is_connected - false once the server dropped the connection. */
bool
vmm_is_connected(const vmm_t *vmm);

/** vmm_next_id - the message id the next command will carry. */
uint16_t
vmm_next_id(const vmm_t *vmm);

#ifdef __cplusplus
}
#endif

#endif /* VFU_VMM_H */
