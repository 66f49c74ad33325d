/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * proto.h - vfio-user message codec and validation, shared by the server,
 * the fake VMM client and the fuzzers.  Nothing else parses wire bytes.
 *
 * All functions return 0 (or a count) on success and a negative errno on
 * failure; they never abort on hostile input.
 */
#ifndef VFU_PROTO_H
#define VFU_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "vfio-user/vfio-user.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

#define PROTO_HDR_SIZE ((uint32_t)sizeof(struct vfio_user_header))

/* Defaults the spec gives when a capability is absent. */
#define PROTO_DEFAULT_MAX_MSG_FDS 1u
#define PROTO_DEFAULT_MAX_DATA_XFER (1u << 20)
#define PROTO_DEFAULT_MAX_DMA_MAPS 65535u
#define PROTO_DEFAULT_PGSIZES 4096u

/* Hard ceilings: values above are rejected in negotiation as absurd. */
#define PROTO_MAX_MSG_FDS_CEIL 1024u
#define PROTO_MAX_DATA_XFER_CEIL (64u << 20)
#define PROTO_MAX_DMA_MAPS_CEIL (1000u * 1000u)
/* Negotiation JSON larger than this (its NUL included) is rejected. */
#define PROTO_MAX_JSON 4096u
/*
 * Bytes a message may carry beyond the data transfer size (headers of the
 * command-specific structs, region info capabilities, IO fd arrays).
 */
#define PROTO_MSG_OVERHEAD 4096u
/*
 * Most writes one REGION_WRITE_MULTI may carry.  QEMU batches up to
 * VFIO_USER_MULTI_MAX (200); we accept more so a client may batch harder.
 */
#define PROTO_WRITE_MULTI_MAX 1024u

/*
 * Capabilities as one side of a connection advertises them in VERSION.
 * The validators and proto_io_recv() take the limits of the side that
 * receives the message (its own advertised values): the spec bounds a
 * transfer by the max_data_xfer_size "of the peer" that receives it.
 */
typedef struct proto_caps {
    uint32_t max_msg_fds;
    uint64_t max_data_xfer_size;
    uint32_t max_dma_maps;
    uint64_t pgsizes;
    bool twin_socket;
    bool write_multiple;
    /* keys seen in the JSON (so a reply can echo only what was asked) */
    bool has_twin_socket;
    bool has_write_multiple;
    bool has_migration; /* legacy "migration" object (QEMU), tolerated */
    /* "migration": {"pgsize": N} when present (0: absent) */
    uint64_t migration_pgsize;
    /* "twin_socket": {"fd_index": N} (only meaningful in a reply) */
    bool has_twin_fd_index;
    uint32_t twin_fd_index;
} proto_caps_t;

/** proto_caps_default - the spec's values for absent capabilities. */
void
proto_caps_default(proto_caps_t *caps);

/**
 * proto_msg_max_size - largest message (header included) allowed: the
 * header plus the largest of max_data_xfer_size + PROTO_MSG_OVERHEAD, a
 * REGION_WRITE_MULTI of PROTO_WRITE_MULTI_MAX writes, and a VERSION with
 * PROTO_MAX_JSON bytes of JSON (the last two matter only for a tiny
 * max_data_xfer_size).  A NULL @caps means the defaults; a transfer size
 * above PROTO_MAX_DATA_XFER_CEIL counts as the ceiling.
 */
uint64_t
proto_msg_max_size(const proto_caps_t *caps);

/**
 * proto_caps_parse - parse the VERSION JSON (@len bytes, NUL optional) into
 * @caps, which starts from the defaults.  Unknown keys are ignored; wrong
 * types, zero, negative or absurd values give -EINVAL.
 *
 * Details: @caps is reset to the defaults first and stays there on error.
 * Empty input, whitespace, or an object without "capabilities" give the
 * defaults.  The text must be one strict JSON object of at most
 * PROTO_MAX_JSON - 1 bytes with no NUL except an optional last byte.
 * max_msg_fds may be 0 (libvfio-user accepts it); the other limits must
 * be >= 1 and within the PROTO_*_CEIL values; pgsizes must have no bit
 * below 4 KiB (as QEMU requires) but need not have the 4 KiB bit.
 * "twin_socket" is the spec's {"supported": bool, "fd_index": N}, or a bare
 * boolean; "migration" is QEMU's/libvfio-user's legacy object, recorded
 * in has_migration and migration_pgsize.  Returns 0, -EINVAL or -ENOMEM.
 */
int
proto_caps_parse(const char *json, size_t len, proto_caps_t *caps);

/**
 * proto_caps_format - the JSON text for @caps (malloc'ed, NUL-terminated),
 * or NULL on allocation failure.  @with_twin/@with_wm add those keys.
 *
 * Keys, in this order, as libvfio-user answers plus ours: max_msg_fds,
 * max_data_xfer_size, max_dma_maps, pgsizes, "migration": {"pgsize"} when
 * has_migration (4096 if migration_pgsize is 0), "twin_socket":
 * {"supported", "fd_index" when has_twin_fd_index} with @with_twin, and
 * "write_multiple" with @with_wm.  QEMU rejects a reply whose max_dma_maps
 * exceeds 65535 or max_msg_fds exceeds 16; the caller picks the values.
 */
char *
proto_caps_format(const proto_caps_t *caps, bool with_twin, bool with_wm);

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

/*
 * One received message.  The body is malloc'ed and owned by the message.
 * Fds are owned by the message until taken with proto_msg_take_fd(), which
 * leaves -1 in the slot; proto_msg_free() closes (and reports) the rest.
 */
typedef struct proto_msg {
    struct vfio_user_header hdr;
    uint8_t *body;
    size_t body_len;
    int *fds;
    size_t nr_fds;
} proto_msg_t;

#define PROTO_MSG_INIT {.body = NULL, .fds = NULL}

/**
 * proto_msg_free - free the body, close untaken fds; returns how many.
 * Leaves @msg empty (safe to free again); NULL is accepted.
 */
size_t
proto_msg_free(proto_msg_t *msg);

/** proto_msg_take_fd - take ownership of fd @i (-EINVAL if none). */
int
proto_msg_take_fd(proto_msg_t *msg, size_t i);

/* ------------------------------------------------------------------ */
/* The command table                                                   */
/* ------------------------------------------------------------------ */

enum proto_dir {
    PROTO_C2S = 1, /* client -> server */
    PROTO_S2C = 2, /* server -> client */
};

struct proto_cmd;

/*
 * Validator of a request body: checks sizes, argsz, counts, offsets,
 * flags and fd counts against @caps.  Returns 0 or a negative errno.
 */
typedef int(proto_check_req_fn)(const proto_msg_t *msg,
                                const proto_caps_t *caps);
/*
 * Validator of a reply to @req (whose body it may look at): returns 0 or a
 * negative errno.  Called only for replies without the error flag.
 */
typedef int(proto_check_reply_fn)(const proto_msg_t *req,
                                  const proto_msg_t *reply,
                                  const proto_caps_t *caps);

typedef struct proto_cmd {
    uint16_t cmd;
    const char *name; /* "DMA_MAP" */
    enum proto_dir dir;
    uint32_t req_min;   /* minimum request body */
    uint32_t reply_min; /* minimum reply body (without error) */
    uint32_t max_fds;   /* fds a request may carry (UINT32_MAX: caps) */
    uint32_t reply_max_fds; /* fds a reply may carry (UINT32_MAX: caps) */
    proto_check_req_fn *check_req;
    proto_check_reply_fn *check_reply;
} proto_cmd_t;

/*
 * The 17 commands, once: XX(NAME, number).  Everything else (the table,
 * names, fuzz dictionaries) is generated from this list.
 */
#define PROTO_COMMANDS(XX)                                                     \
    XX(VERSION, 1)                                                             \
    XX(DMA_MAP, 2)                                                             \
    XX(DMA_UNMAP, 3)                                                           \
    XX(DEVICE_GET_INFO, 4)                                                     \
    XX(DEVICE_GET_REGION_INFO, 5)                                              \
    XX(DEVICE_GET_REGION_IO_FDS, 6)                                            \
    XX(DEVICE_GET_IRQ_INFO, 7)                                                 \
    XX(DEVICE_SET_IRQS, 8)                                                     \
    XX(REGION_READ, 9)                                                         \
    XX(REGION_WRITE, 10)                                                       \
    XX(DMA_READ, 11)                                                           \
    XX(DMA_WRITE, 12)                                                          \
    XX(DEVICE_RESET, 13)                                                       \
    XX(REGION_WRITE_MULTI, 15)                                                 \
    XX(DEVICE_FEATURE, 16)                                                     \
    XX(MIG_DATA_READ, 17)                                                      \
    XX(MIG_DATA_WRITE, 18)

#define PROTO_NR_COMMANDS 17

/** proto_cmd_lookup - the table entry for @cmd, or NULL if unknown. */
const proto_cmd_t *
proto_cmd_lookup(uint16_t cmd);

/** proto_cmd_at - entry @i (0..PROTO_NR_COMMANDS-1) for iteration. */
const proto_cmd_t *
proto_cmd_at(size_t i);

/** proto_cmd_name - "DMA_MAP", or "UNKNOWN" for an unknown number. */
const char *
proto_cmd_name(uint16_t cmd);

/* ------------------------------------------------------------------ */
/* Validation                                                          */
/* ------------------------------------------------------------------ */

/**
 * proto_check_header - check a received header on its own: type bits,
 * reserved flag bits, msg_size within [16, proto_msg_max_size()].
 * @want_reply: the caller expects a reply (else a command).
 * Returns 0, -EINVAL (malformed) or -E2BIG (too large).
 */
int
proto_check_header(const struct vfio_user_header *hdr, const proto_caps_t *caps,
                   bool want_reply);

/**
 * proto_check_request - full validation of a command message: known
 * command in the right direction, body at least req_min, fd count, and the
 * command's validator.  Returns 0 or a negative errno (-ENOSYS for an
 * unknown command).
 *
 * @dir is the direction the message travelled (a server checks what it
 * received with PROTO_C2S); a command of the other direction is -EINVAL.
 * The header is checked too (proto_check_header, so -E2BIG is possible),
 * and msg_size must equal 16 + body_len.
 */
int
proto_check_request(const proto_msg_t *msg, const proto_caps_t *caps,
                    enum proto_dir dir);

/**
 * proto_check_reply - validate @reply as the answer to @req: same id and
 * command, reply type, no fds unless allowed, body at least reply_min when
 * no error, and the command's reply validator.  On an error reply returns
 * -error_no (or -EIO if 0) so callers see the peer's errno.
 *
 * An error_no above 4095 is also reported as -EIO.  Fds a reply may carry:
 * VERSION and GET_REGION_INFO 1, GET_REGION_IO_FDS caps->max_msg_fds,
 * others none (an error reply's fds are left for proto_msg_free()).
 */
int
proto_check_reply(const proto_msg_t *req, const proto_msg_t *reply,
                  const proto_caps_t *caps);

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

/** proto_hdr_cmd - fill a command header for @body_len bytes of body. */
void
proto_hdr_cmd(struct vfio_user_header *hdr, uint16_t id, uint16_t cmd,
              size_t body_len, bool no_reply);

/**
 * proto_hdr_reply - fill the reply header to @req; @err != 0 is an error.
 * @err may be a positive or a negative errno; error_no gets it positive.
 * The spec wants error replies without a body: pass @body_len 0.
 */
void
proto_hdr_reply(struct vfio_user_header *hdr,
                const struct vfio_user_header *req, size_t body_len, int err);

/* ------------------------------------------------------------------ */
/* Stream I/O over a socket or pipe                                    */
/* ------------------------------------------------------------------ */

/**
 * proto_io_send - write one message (header + iovecs) with @fds attached
 * (SCM_RIGHTS, only on sockets).  Retries EINTR and partial writes.
 * Returns 0 or a negative errno (-EPIPE/-ECONNRESET when the peer left).
 *
 * Fds on a pipe are -EINVAL, a negative fd -EBADF.  The header is sent as
 * given, even if msg_size disagrees with the iovecs (tests and fuzzers
 * send malformed messages on purpose).  Never raises SIGPIPE.  The caller
 * keeps ownership of @fds.
 *
 * @timeout_ms bounds the time spent waiting for the peer to make room,
 * in all, for this message, whether or not @fd is O_NONBLOCK: a peer that
 * stops reading gets -ETIMEDOUT instead of blocking the caller forever.
 * Part of the message may be out by then, so the stream is unusable: drop
 * the connection.  @timeout_ms < 0 waits as long as it takes (a blocking
 * fd blocks in the kernel); 0 never waits.  Until the limit, a message is
 * never left half written.
 */
int
proto_io_send(int fd, const struct vfio_user_header *hdr,
              const struct iovec *iov, size_t iovcnt, const int *fds,
              size_t nr_fds, int timeout_ms);

/**
 * proto_io_recv - read one message into @msg.  If @nonblock is set and no
 * byte is available returns -EAGAIN; once the first byte arrived, waits at
 * most @timeout_ms for the rest (-ETIMEDOUT).  Returns -ENOTCONN when the
 * peer closed before a header, -ECONNRESET in the middle of a message,
 * -E2BIG when msg_size exceeds the caps (the message is drained), -EINVAL
 * for a malformed header, more fds than caps->max_msg_fds or truncated
 * control data.  On error @msg holds nothing.
 *
 * Without @nonblock the wait for the first byte has no limit (poll the fd
 * first to bound it) and a signal interrupting it returns -EINTR;
 * @timeout_ms < 0 means no limit for the rest either.
 * "Malformed" here is only what breaks framing or is never legal: msg_size
 * < 16 (stream unusable afterwards), unknown flag bits or type values
 * (drained, stream usable).  Whether a command or a reply was expected is
 * the caller's check (proto_check_header/request/reply).  Received fds are
 * close-on-exec; on every error all of them are closed.  After -ETIMEDOUT
 * or -ENOMEM the stream position is lost: drop the connection.
 */
int
proto_io_recv(int fd, proto_msg_t *msg, const proto_caps_t *caps,
              bool nonblock, int timeout_ms);

/**
 * proto_io_recv_keep - proto_io_recv() for a server that answers a header
 * it cannot take instead of dropping the peer (libvfio-user answers EINVAL
 * to those).  @max_size, when not 0, lowers the size limit below
 * proto_msg_max_size(@caps).  When msg_size is under 16 or over the limit
 * it returns
 * -EBADMSG with @msg->hdr holding the header (no body, no fds) and *@skip
 * set to the body bytes that follow on the stream, unread (0 for a size
 * under 16): discard them with proto_io_skip() before the next message.
 * In every other case it is proto_io_recv() and sets *@skip to 0.
 */
int
proto_io_recv_keep(int fd, proto_msg_t *msg, const proto_caps_t *caps,
                   bool nonblock, int timeout_ms, uint64_t max_size,
                   uint64_t *skip);

/**
 * proto_io_skip - discard up to *@skip bytes that can be read from @fd
 * without waiting, counting *@skip down.  Returns 0 once all are gone,
 * -EAGAIN when more are still to come, -ENOTCONN at end of stream, or
 * another negative errno.
 */
int
proto_io_skip(int fd, uint64_t *skip);

/**
 * proto_parse_buf - split @len bytes holding one whole message into @msg
 * (copying the body), checking msg_size == @len.  Fds are attached by the
 * caller.  Returns 0, -EINVAL or -ENOMEM.
 */
int
proto_parse_buf(const void *buf, size_t len, proto_msg_t *msg,
                const proto_caps_t *caps);

/* ------------------------------------------------------------------ */
/* Tracing                                                             */
/* ------------------------------------------------------------------ */

/**
 * proto_trace_format - one line (no newline) describing a message: who
 * sent it, id, command name, type, size, key fields decoded from the body
 * and the errno of an error reply.  Returns the snprintf length.
 *
 * Example: "client> #3 REGION_READ cmd size=32 region=7 off=0x0 count=4",
 * "server< #3 REGION_READ reply size=16 err=22(EINVAL)".  Reads at most
 * @body_len bytes of @body (NULL means none); @buf may be NULL with @size 0.
 */
int
proto_trace_format(char *buf, size_t size, const char *who,
                   const struct vfio_user_header *hdr, const void *body,
                   size_t body_len, size_t nr_fds);

/** proto_trace_enabled - whether VFU_TRACE is set in the environment. */
bool
proto_trace_enabled(void);

/* ------------------------------------------------------------------ */
/* Arithmetic helpers                                                  */
/* ------------------------------------------------------------------ */

/* true when [off, off+len) fits in [0, size) without overflow */
static inline bool
proto_range_ok(uint64_t off, uint64_t len, uint64_t size)
{
    uint64_t end;

    if (__builtin_add_overflow(off, len, &end)) {
        return false;
    }
    return end <= size;
}

#ifdef __cplusplus
}
#endif

#endif /* VFU_PROTO_H */
