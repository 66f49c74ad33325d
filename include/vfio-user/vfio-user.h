/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user.h - wire format of the vfio-user protocol (spec version 0.9.2).
 *
 * Every structure here is packed and little-endian, exactly as it travels on
 * the socket.  Names follow the ones device code written for libvfio-user
 * already uses, so either header can be included.
 */
#ifndef VFIO_USER_H
#define VFIO_USER_H

#include <inttypes.h>
#include <linux/vfio.h>
#include <linux/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Default for the "max_data_xfer_size" capability when the peer omits it. */
#define VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE (1024 * 1024)

/*
 * Command numbers.  14 was DIRTY_PAGES in early drafts and is not used.
 */
enum vfio_user_command {
    VFIO_USER_VERSION = 1,
    VFIO_USER_DMA_MAP = 2,
    VFIO_USER_DMA_UNMAP = 3,
    VFIO_USER_DEVICE_GET_INFO = 4,
    VFIO_USER_DEVICE_GET_REGION_INFO = 5,
    VFIO_USER_DEVICE_GET_REGION_IO_FDS = 6,
    VFIO_USER_DEVICE_GET_IRQ_INFO = 7,
    VFIO_USER_DEVICE_SET_IRQS = 8,
    VFIO_USER_REGION_READ = 9,
    VFIO_USER_REGION_WRITE = 10,
    VFIO_USER_DMA_READ = 11,
    VFIO_USER_DMA_WRITE = 12,
    VFIO_USER_DEVICE_RESET = 13,
    VFIO_USER_REGION_WRITE_MULTI = 15,
    VFIO_USER_DEVICE_FEATURE = 16,
    VFIO_USER_MIG_DATA_READ = 17,
    VFIO_USER_MIG_DATA_WRITE = 18,
    VFIO_USER_MAX,
};

enum vfio_user_message_type {
    VFIO_USER_MESSAGE_COMMAND = 0,
    VFIO_USER_MESSAGE_REPLY = 1,
};

#define VFIO_USER_FLAGS_NO_REPLY (0x1)

/* The 16-byte header in front of every message, command or reply. */
struct vfio_user_header {
    uint16_t msg_id;
    uint16_t cmd;
    uint32_t msg_size; /* header included */
    uint32_t flags;
#define VFIO_USER_F_TYPE_MASK (0xf)
#define VFIO_USER_F_TYPE_COMMAND (0x0)
#define VFIO_USER_F_TYPE_REPLY (0x1)
#define VFIO_USER_F_NO_REPLY (0x10)
#define VFIO_USER_F_ERROR (0x20)
    uint32_t error_no;
} __attribute__((packed));

/* VFIO_USER_VERSION: version followed by a NUL-terminated JSON object. */
struct vfio_user_version {
    uint16_t major;
    uint16_t minor;
    uint8_t data[];
} __attribute__((packed));

/* VFIO_USER_DEVICE_GET_INFO, request and reply. */
struct vfio_user_device_info {
    uint32_t argsz;
    uint32_t flags; /* VFIO_DEVICE_FLAGS_* */
    uint32_t num_regions;
    uint32_t num_irqs;
} __attribute__((packed));

/* Dirty bitmap as carried by the legacy DMA_UNMAP (after struct vfio_bitmap). */
struct vfio_user_bitmap {
    uint64_t pgsize;
    uint64_t size;
    char data[];
} __attribute__((packed));

/* VFIO_USER_DMA_MAP request (after struct vfio_iommu_type1_dma_map). */
struct vfio_user_dma_map {
    uint32_t argsz;
#define VFIO_USER_F_DMA_REGION_READ (1 << 0)
#define VFIO_USER_F_DMA_REGION_WRITE (1 << 1)
#define VFIO_USER_F_DMA_REGION_MMAP (1 << 2)
#define VFIO_USER_F_DMA_REGION_FILE_IO (1 << 3)
    uint32_t flags;
    uint64_t offset;
    uint64_t addr;
    uint64_t size;
} __attribute__((packed));

/* VFIO_USER_DMA_UNMAP request and reply. */
struct vfio_user_dma_unmap {
    uint32_t argsz;
#ifndef VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP
#define VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP (1 << 0)
#endif
#ifndef VFIO_DMA_UNMAP_FLAG_ALL
#define VFIO_DMA_UNMAP_FLAG_ALL (1 << 1)
#endif
    uint32_t flags;
    uint64_t addr;
    uint64_t size;
    struct vfio_user_bitmap bitmap[];
};

/* VFIO_USER_REGION_READ / REGION_WRITE, request and reply. */
struct vfio_user_region_access {
    uint64_t offset;
    uint32_t region;
    uint32_t count;
    uint8_t data[];
} __attribute__((packed));

/* VFIO_USER_DMA_READ / DMA_WRITE (server -> client), request and reply. */
struct vfio_user_dma_region_access {
    uint64_t addr;
    uint64_t count;
    uint8_t data[];
} __attribute__((packed));

/* VFIO_USER_DEVICE_GET_IRQ_INFO carries struct vfio_irq_info. */
struct vfio_user_irq_info {
    uint32_t subindex;
} __attribute__((packed));

/* VFIO_USER_DEVICE_GET_REGION_IO_FDS request. */
typedef struct vfio_user_region_io_fds_request {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t count;
} __attribute__((packed)) vfio_user_region_io_fds_request_t;

#define VFIO_USER_IO_FD_TYPE_IOEVENTFD 0
#define VFIO_USER_IO_FD_TYPE_IOREGIONFD 1
#define VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW 2

typedef struct vfio_user_sub_region_ioeventfd {
    uint64_t gpa_offset;
    uint64_t size;
    uint32_t fd_index;
    uint32_t type;
    uint32_t flags;
    uint32_t shadow_mem_fd_index;
    uint64_t shadow_offset;
    uint64_t datamatch;
} __attribute__((packed)) vfio_user_sub_region_ioeventfd_t;

typedef struct vfio_user_sub_region_ioregionfd {
    uint64_t offset;
    uint64_t size;
    uint32_t fd_index;
    uint32_t type;
    uint32_t flags;
    uint32_t padding;
    uint64_t user_data;
} __attribute__((packed)) vfio_user_sub_region_ioregionfd_t;

/* VFIO_USER_DEVICE_GET_REGION_IO_FDS reply. */
typedef struct vfio_user_region_io_fds_reply {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t count;
    union sub_region {
        struct vfio_user_sub_region_ioeventfd ioeventfd;
        struct vfio_user_sub_region_ioregionfd ioregionfd;
    } sub_regions[];
} __attribute__((packed)) vfio_user_region_io_fds_reply_t;

/* VFIO_USER_REGION_WRITE_MULTI: one coalesced write of at most 8 bytes. */
#define VFIO_USER_MULTI_DATA 8
#define VFIO_USER_MULTI_MAX 200 /* what QEMU batches; we accept more */
struct vfio_user_write_multi_data {
    uint64_t offset;
    uint32_t region;
    uint32_t count;
    uint8_t data[VFIO_USER_MULTI_DATA];
} __attribute__((packed));

struct vfio_user_write_multi {
    uint64_t wr_cnt;
    struct vfio_user_write_multi_data wrs[];
} __attribute__((packed));

/* DEVICE_FEATURE: DMA logging payloads (after the kernel's structures). */
struct vfio_user_device_feature_dma_logging_range {
    uint64_t iova;
    uint64_t length;
} __attribute__((packed));

struct vfio_user_device_feature_dma_logging_control {
    uint64_t page_size;
    uint32_t num_ranges;
    uint32_t reserved;
    struct vfio_user_device_feature_dma_logging_range ranges[];
} __attribute__((packed));

struct vfio_user_device_feature_dma_logging_report {
    uint64_t iova;
    uint64_t length;
    uint64_t page_size;
    uint8_t bitmap[];
} __attribute__((packed));

#ifndef VFIO_DEVICE_FEATURE_DMA_LOGGING_START
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_START 6
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP 7
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT 8
#endif

/* VFIO_USER_DEVICE_FEATURE request and reply (after struct vfio_device_feature). */
struct vfio_user_device_feature {
    uint32_t argsz;
    uint32_t flags;
#ifndef VFIO_DEVICE_FEATURE_MASK
#define VFIO_DEVICE_FEATURE_MASK (0xffff)
#define VFIO_DEVICE_FEATURE_GET (1 << 16)
#define VFIO_DEVICE_FEATURE_SET (1 << 17)
#define VFIO_DEVICE_FEATURE_PROBE (1 << 18)
#endif
    uint8_t data[];
} __attribute__((packed));

struct vfio_user_device_feature_migration {
    uint64_t flags;
#ifndef VFIO_REGION_TYPE_MIGRATION_DEPRECATED
#define VFIO_MIGRATION_STOP_COPY (1 << 0)
#define VFIO_MIGRATION_P2P (1 << 1)
#endif
#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY (1 << 2)
#endif
} __attribute__((packed));
#ifndef VFIO_REGION_TYPE_MIGRATION_DEPRECATED
#define VFIO_DEVICE_FEATURE_MIGRATION 1
#endif

struct vfio_user_device_feature_mig_state {
    uint32_t device_state;
    uint32_t data_fd;
} __attribute__((packed));
#ifndef VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
#define VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE 2
#endif

/* After enum vfio_device_mig_state. */
enum vfio_user_device_mig_state {
    VFIO_USER_DEVICE_STATE_ERROR = 0,
    VFIO_USER_DEVICE_STATE_STOP = 1,
    VFIO_USER_DEVICE_STATE_RUNNING = 2,
    VFIO_USER_DEVICE_STATE_STOP_COPY = 3,
    VFIO_USER_DEVICE_STATE_RESUMING = 4,
    VFIO_USER_DEVICE_STATE_RUNNING_P2P = 5,
    VFIO_USER_DEVICE_STATE_PRE_COPY = 6,
    VFIO_USER_DEVICE_STATE_PRE_COPY_P2P = 7,
    VFIO_USER_DEVICE_NUM_STATES = 8,
};

/* VFIO_USER_MIG_DATA_READ / MIG_DATA_WRITE, request and reply. */
struct vfio_user_mig_data {
    uint32_t argsz;
    uint32_t size;
    uint8_t data[];
} __attribute__((packed));

_Static_assert(sizeof(struct vfio_user_header) == 16, "header size");
_Static_assert(sizeof(struct vfio_user_dma_map) == 32, "dma_map size");
_Static_assert(sizeof(struct vfio_user_dma_unmap) == 24, "dma_unmap size");
_Static_assert(sizeof(struct vfio_user_region_access) == 16, "access size");
_Static_assert(sizeof(struct vfio_user_write_multi_data) == 24, "wr size");
_Static_assert(sizeof(struct vfio_user_sub_region_ioeventfd) == 48, "ioeventfd");
_Static_assert(sizeof(struct vfio_user_device_feature_migration) == 8, "mig");
_Static_assert(sizeof(struct vfio_user_device_feature_mig_state) == 8, "state");

#ifdef __cplusplus
}
#endif

#endif /* VFIO_USER_H */
