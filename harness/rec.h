/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rec.h - vfu-record: a proxy between a vfio-user client and server that
 * writes the session it carries as a .vus scenario (docs/recorder.md),
 * in the language of docs/scenarios.md, so vfu-run can replay it.
 *
 * Module map:
 *   rec_proxy.c    listening, connecting, the event loop of one session,
 *                  twin-socket splicing, signals, output file names
 *   rec_io.c       receiving and forwarding one message of any shape
 *                  (malformed ones too), fd classification
 *   rec_session.c  negotiation, the statement queue, attribution of DMA
 *                  and interrupts to statements, emission, interrupts
 *   rec_stmt.c     the text of one statement from a command and its reply
 *   rec_irq.c      the eventfds standing in for the client's, triggers
 *   rec_mem.c      the guest memory model: mapped regions, shadows, diffs
 *   rec_text.c     text helpers: bounded buffers, hex items, names
 *
 * Internal functions return 0 (or a count) or a negative errno.
 */
#ifndef VFU_HARNESS_REC_H
#define VFU_HARNESS_REC_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/proto.h"

/* The tool's version, written into every recording (the project's). */
#define REC_VERSION "0.1.0"

/* ---- defaults and limits (docs/recorder.md, "Limits") ---- */

/* Guest-memory bytes captured (mem write + mem expect) per statement. */
#define REC_DEFAULT_CAP (1u << 20)
/* fd-backed guest memory whose contents are watched, in total. */
#define REC_DEFAULT_WATCH (64u << 20)
/* Waiting for the rest of a message once it started, and for --connect. */
#define REC_DEFAULT_TIMEOUT_MS 5000
/* Client commands in flight (sent, not yet answered) that are recorded. */
#define REC_MAX_PENDING 1024u
/* Message bytes kept for statements not yet written, in total. */
#define REC_MAX_KEPT (64u << 20)
/* Server commands (DMA_READ/WRITE) in flight that are tracked. */
#define REC_MAX_SRV_PENDING 256u
/* Interrupt vectors whose eventfds the recorder stands in for. */
#define REC_MAX_IRQ_FDS 4096u
/* Recording stops (the proxy goes on) beyond these, below the runner's. */
#define REC_MAX_FILE (15u << 20)
#define REC_MAX_STMTS 99000u
/* One byte list in a scenario (docs/scenarios.md section 7). */
#define REC_MAX_ITEM_BYTES (1u << 20)
/* Bytes of one text buffer (a statement with its memory lines). */
#define REC_MAX_BUF (8u << 20)
/* fd:memfd:SIZE is limited to 1 GiB by the language. */
#define REC_MAX_MEMFD (1ull << 30)

/* ---- public entry point (tools/vfu_record.c) ---- */

typedef struct rec_opts {
    const char *listen_path;  /* where clients connect */
    const char *connect_path; /* the real server */
    const char *out_path;     /* FILE.vus; later sessions FILE-2.vus... */
    bool once;                /* one session, then exit */
    unsigned max_sessions;    /* 0: until stopped */
    uint64_t cap_bytes;       /* guest memory captured per statement */
    uint64_t watch_bytes;     /* fd-backed memory watched in total */
    bool irq_proxy;           /* stand in for the client's eventfds */
    int timeout_ms;           /* rest of a message once started */
    int connect_timeout_ms;   /* waiting for the server's socket */
    bool quiet;               /* no progress lines */
    FILE *log;                /* progress and errors; NULL: stderr */
} rec_opts_t;

/** rec_opts_default - the defaults above, irq_proxy on, no paths. */
void
rec_opts_default(rec_opts_t *opts);

/**
 * rec_serve - listen on @opts->listen_path and record sessions until
 * SIGINT/SIGTERM, --once or max_sessions.  Returns 0, or a negative errno
 * when it could not listen (or, with --once, could not reach the server).
 */
int
rec_serve(const rec_opts_t *opts);

/**
 * rec_out_name - the file of session @n (1-based) for @base: @base for
 * the first, "a-2.vus" for the second of "a.vus" ("a-2" without a .vus
 * suffix).  Returns 0 or -ENAMETOOLONG.
 */
int
rec_out_name(const char *base, unsigned n, char *buf, size_t size);

/* ------------------------------------------------------------------ */
/* rec_text.c                                                          */
/* ------------------------------------------------------------------ */

/* A growing text buffer bounded by REC_MAX_BUF; @full once it gave up. */
typedef struct rec_buf {
    char *p;
    size_t len, cap;
    bool full;
} rec_buf_t;

void
rec_buf_free(rec_buf_t *b);
void
rec_buf_put(rec_buf_t *b, const char *s, size_t n);
void
rec_buf_puts(rec_buf_t *b, const char *s);
void
rec_buf_printf(rec_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* " hex:.." items for @n bytes, long lists over continuation lines */
void
rec_buf_hex(rec_buf_t *b, const uint8_t *p, size_t n);
/* "# TEXT\n" with control characters made visible */
void
rec_buf_comment(rec_buf_t *b, const char *text, size_t len);
/* " error NAME" ("any" for 0 or an errno out of 1..4095) */
void
rec_buf_errno(rec_buf_t *b, uint32_t err);
/* a size: 4K, 1M, 2G when exact, else 0x... */
void
rec_buf_size(rec_buf_t *b, uint64_t v);
/* a token that stands for @text exactly (quoted when it must be) */
void
rec_buf_token(rec_buf_t *b, const char *text);

/* "config", "bar0".."bar5", "rom", "vga" or "region N" */
void
rec_sel_name(uint32_t region, char *buf, size_t size);
/* "intx", "msi", "msix", "err", "req" or the number */
void
rec_irq_name(uint32_t index, char *buf, size_t size);
/* the scenario language's name for @err, NULL if it has none */
const char *
rec_errno_name(uint32_t err);

/* ------------------------------------------------------------------ */
/* rec_mem.c - guest memory model                                      */
/* ------------------------------------------------------------------ */

/*
 * One DMA_MAP'ed region.  @model is what the replay's guest memory holds
 * at this point of the scenario (zeros, then every mem write emitted and
 * every device write seen); @live, for fd-backed regions, is a read-only
 * view of the client's memory to compare with.
 */
typedef struct rec_mreg {
    uint64_t gpa, size;
    uint32_t prot; /* VFIO_USER_F_DMA_REGION_READ | _WRITE */
    bool nofd;
    uint8_t *model;      /* NULL: contents not tracked */
    const uint8_t *live; /* fd-backed and watched: the client's bytes */
    void *live_map;      /* the mapping behind @live */
    size_t live_map_len;
} rec_mreg_t;

typedef struct rec_mem {
    rec_mreg_t *r; /* sorted by gpa, never overlapping */
    size_t nr, cap;
    uint64_t watch_left; /* fd-backed bytes that may still be watched */
} rec_mem_t;

/* A read-only view of [@offset, +@size) of a client's memory fd. */
typedef struct rec_live {
    void *map;
    size_t map_len;
    const uint8_t *p;
    uint64_t budget; /* taken from rec_mem_t.watch_left */
} rec_live_t;

void
rec_mem_init(rec_mem_t *m, uint64_t watch_bytes);
void
rec_mem_free(rec_mem_t *m);

/*
 * rec_live_open - map @fd read-only if it holds [@offset, +@size) and the
 * watch budget allows; *@live stays empty otherwise (not an error).
 */
void
rec_live_open(rec_mem_t *m, int fd, uint64_t offset, uint64_t size,
              rec_live_t *live);
void
rec_live_close(rec_mem_t *m, rec_live_t *live);

/* Whether [@gpa, +@size) meets a mapped region. */
bool
rec_mem_overlaps(const rec_mem_t *m, uint64_t gpa, uint64_t size);

/* Whether every byte of [@gpa, +@len) lies in a mapped region. */
bool
rec_mem_covered(const rec_mem_t *m, uint64_t gpa, uint64_t len);

/* Whether every byte of [@gpa, +@len) is in the model. */
bool
rec_mem_tracked(const rec_mem_t *m, uint64_t gpa, uint64_t len);

/* Index of the region mapped exactly at [@gpa, +@size), or -1. */
long
rec_mem_exact(const rec_mem_t *m, uint64_t gpa, uint64_t size);

/* Add a region (taking @live, which may be empty); -ENOMEM/-EEXIST. */
int
rec_mem_add(rec_mem_t *m, uint64_t gpa, uint64_t size, uint32_t prot,
            bool nofd, rec_live_t *live);

void
rec_mem_remove(rec_mem_t *m, size_t i);
void
rec_mem_clear(rec_mem_t *m);

/*
 * rec_mem_model_set - store @len bytes at @gpa in the model (tracked
 * regions only; the range may span regions).  With @changed, first
 * reports whether any tracked byte differs.
 */
void
rec_mem_model_set(rec_mem_t *m, uint64_t gpa, const uint8_t *data,
                  size_t len, bool *changed);

/* Read model bytes; false if [@gpa, +@len) is not all tracked. */
bool
rec_mem_model_get(const rec_mem_t *m, uint64_t gpa, uint8_t *out,
                  size_t len);

/* Called with every run of live bytes that differs from the model. */
typedef void(rec_span_cb_t)(void *arg, uint64_t gpa, const uint8_t *bytes,
                            size_t len);

/*
 * rec_mem_sync - compare the live view of every watched fd-backed region
 * with the model, report the runs that differ (nearby runs merged) and
 * copy them into the model.
 */
void
rec_mem_sync(rec_mem_t *m, rec_span_cb_t *cb, void *arg);

/* ------------------------------------------------------------------ */
/* rec_io.c - one message of any shape                                 */
/* ------------------------------------------------------------------ */

/* What an fd attached to a message is, for fd: items. */
enum rec_fd_kind {
    REC_FD_OTHER = 0, /* replayed as fd:null */
    REC_FD_EVENTFD,
    REC_FD_MEMFD, /* a memfd or regular file: fd:memfd:SIZE */
};

typedef struct rec_fdinfo {
    uint8_t kind;
    uint64_t size;
} rec_fdinfo_t;

/*
 * A message as the proxy carries it.  @bad_frame: proto_io_recv() would
 * not take the header (size under 16 or over the limit, unknown flag or
 * type bits), so it was read byte by byte; @stream_left body bytes of an
 * oversized message are still on the wire and are streamed through by
 * rec_io_forward() without being kept.
 */
typedef struct rec_msg {
    proto_msg_t m;
    bool bad_frame;
    uint64_t stream_left;
} rec_msg_t;

/*
 * rec_io_recv - the next message from @fd (which poll() found readable).
 * Returns 0, -ENOTCONN at a clean end of stream, -ECONNRESET in the
 * middle of a message, -ETIMEDOUT when the rest did not come within
 * @timeout_ms, -ENOMEM.
 */
int
rec_io_recv(int fd, rec_msg_t *msg, int timeout_ms);

/*
 * rec_io_forward - send @msg (header as received, body, fds) to @to, then
 * stream @msg->stream_left bytes from @from to @to.  The fds stay @msg's.
 */
int
rec_io_forward(int to, int from, rec_msg_t *msg, int timeout_ms);

void
rec_msg_free(rec_msg_t *msg);

/* What @fd is (eventfd, memfd with its size, other). */
void
rec_fd_classify(int fd, rec_fdinfo_t *info);

/* ------------------------------------------------------------------ */
/* rec_stmt.c - statements                                             */
/* ------------------------------------------------------------------ */

enum rec_state {
    REC_PENDING = 0, /* sent to the server, no answer yet */
    REC_REPLIED,     /* @reply holds the answer */
    REC_NOREPLY,     /* no reply came and none will (NO_REPLY, or later
                        commands were answered first) */
    REC_HANGUP,      /* the server closed the connection instead */
    REC_LEFT,        /* the client left before an answer */
};

typedef struct rec_irqhit {
    uint32_t index, vector;
    uint64_t count;
    bool async; /* seen after the statement's reply */
} rec_irqhit_t;

typedef struct rec_range {
    uint64_t gpa, len;
} rec_range_t;

/*
 * One client message and what followed it.  Bodies are kept, fds are not
 * (their slots hold -1 so the validators still see the count).
 */
typedef struct rec_stmt {
    proto_msg_t req;
    rec_fdinfo_t *fdi;  /* kinds of the request's fds */
    bool bad_frame;     /* replayed with send (header as recorded) */
    uint64_t wire_len;  /* header + body on the wire */
    uint8_t state;      /* enum rec_state */
    proto_msg_t reply;  /* REC_REPLIED */
    bool marker;        /* no message: holds events before any statement */
    rec_buf_t pre;      /* mem write lines */
    rec_buf_t text;     /* the statement */
    rec_buf_t post;     /* mem expect lines */
    uint64_t captured;  /* guest-memory bytes in pre and post */
    uint64_t skipped;   /* bytes left out by the cap */
    rec_irqhit_t *irqs;
    size_t nr_irqs;
    rec_range_t *written; /* guest memory the device wrote with DMA_WRITE */
    size_t nr_written;
    bool partial_rinfo;   /* GET_REGION_INFO answered "need more room" */
    uint32_t rinfo_index;
    rec_live_t live;      /* DMA_MAP: view of the fd, until the reply */
    int *irq_ours;        /* SET_IRQS: our eventfds standing in */
    int *irq_client;      /* ... and the client's, kept until the reply */
    size_t nr_irq_fds;
} rec_stmt_t;

/* What the replay's client will have cached (docs/scenarios.md 5.2). */
#define REC_CACHE_REGIONS 1024u /* the fake VMM's VMM_MAX_REGIONS */
#define REC_CACHE_IRQS 32u      /* its VMM_MAX_IRQS */

typedef struct rec_rcache {
    bool valid, full; /* full: every field below is known */
    struct vfio_region_info info;
    uint32_t nr_fds, areas, type, subtype;
    bool has_type;
} rec_rcache_t;

/* The recording context rec_stmt.c builds text in. */
typedef struct rec_ctx {
    proto_caps_t client_caps; /* what the client proposed (it receives) */
    proto_caps_t server_caps; /* what the server answered (it receives) */
    uint64_t xfer;            /* negotiated max_data_xfer_size */
    uint64_t pgsize;          /* smallest negotiated page size */
    uint32_t max_fds;         /* negotiated max_msg_fds */
    bool write_multiple;      /* negotiated */
    rec_mem_t mem;
    bool dev_cached;
    struct vfio_user_device_info dev;
    rec_rcache_t *regions;    /* REC_CACHE_REGIONS entries */
    bool irq_cached[REC_CACHE_IRQS];
    struct vfio_irq_info irqs[REC_CACHE_IRQS];
} rec_ctx_t;

/*
 * rec_stmt_build - write @st's statement into @st->text (the request and
 * reply are final) and apply what it did to @ctx: mappings, discovery
 * caches.  Never fails: what it cannot express becomes raw or send, and
 * what it cannot record at all becomes a comment.
 */
void
rec_stmt_build(rec_ctx_t *ctx, rec_stmt_t *st);

/* Free everything @st holds (closing fds and views); NULL is fine. */
void
rec_stmt_free(rec_stmt_t *st);

/* ------------------------------------------------------------------ */
/* rec_irq.c - interrupts                                              */
/* ------------------------------------------------------------------ */

/* One vector whose eventfd the recorder stands in for. */
typedef struct rec_irqfd {
    uint32_t index, vector;
    int ours;   /* the server signals this one; the proxy polls it */
    int client; /* the client's, where each trigger is passed on */
} rec_irqfd_t;

typedef struct rec_irqtab {
    rec_irqfd_t *e;
    size_t nr;
} rec_irqtab_t;

void
rec_irqtab_free(rec_irqtab_t *t);

/* Read @e's pending triggers and pass them on; 0 when none. */
uint64_t
rec_irqfd_take(rec_irqfd_t *e);

/* Charge @count triggers of a vector to @st (@async: after its reply). */
void
rec_stmt_add_hit(rec_stmt_t *st, uint32_t index, uint32_t vector,
                 uint64_t count, bool async);

/*
 * rec_irq_substitute - in a SET_IRQS (TRIGGER, DATA_EVENTFD) about to be
 * forwarded, put fresh eventfds of ours in place of the client's, which
 * @st keeps until the reply.  On any failure @msg is left as it was.
 */
void
rec_irq_substitute(rec_irqtab_t *t, rec_stmt_t *st, rec_msg_t *msg);

/*
 * rec_irq_settle - after the reply to a SET_IRQS: on success our eventfds
 * take the vectors over (disabling drops them); on failure they close.
 */
void
rec_irq_settle(rec_irqtab_t *t, rec_stmt_t *st);

/* ------------------------------------------------------------------ */
/* rec_session.c                                                       */
/* ------------------------------------------------------------------ */

typedef struct rec_session rec_session_t;

enum rec_chan {
    REC_CHAN_MAIN = 0,
    REC_CHAN_TWIN = 1,
};

enum rec_end {
    REC_END_CLIENT = 0, /* the client closed its socket */
    REC_END_SERVER,     /* the server closed its socket */
    REC_END_STOP,       /* SIGINT/SIGTERM */
    REC_END_ERROR,      /* the proxy could not go on */
};

/*
 * rec_session_new - a session writing to @out (not owned), number @nr.
 * @target is the server's socket path for the header.  NULL on ENOMEM.
 */
rec_session_t *
rec_session_new(const rec_opts_t *opts, FILE *out, unsigned nr,
                const char *target);

/* Free the session: its eventfds, views and queued statements. */
void
rec_session_free(rec_session_t *s);

/*
 * rec_on_client - a message from the client on @chan, before it is
 * forwarded.  May replace eventfds in @msg with the recorder's own.
 */
void
rec_on_client(rec_session_t *s, rec_msg_t *msg, enum rec_chan chan);

/*
 * rec_on_server - a message from the server, before it is forwarded.
 * Returns the index of the twin-socket fd in a VERSION reply that
 * enabled twin-socket mode (the proxy splices it), else -1.
 */
int
rec_on_server(rec_session_t *s, rec_msg_t *msg, enum rec_chan chan);

/* The recorder's eventfds to poll (POLLIN); returns how many. */
size_t
rec_irq_pollfds(const rec_session_t *s, struct pollfd *p, size_t max);

/* Number of eventfds the recorder stands in for. */
size_t
rec_irq_count(const rec_session_t *s);

/* One of them is readable: pass the trigger on and record it. */
void
rec_on_irq(rec_session_t *s, int fd);

/* A forwarding error the proxy could not recover from, as a comment. */
void
rec_note(rec_session_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* End: settle what is pending and write everything out. */
void
rec_session_end(rec_session_t *s, enum rec_end why);

/* Statements written so far. */
size_t
rec_session_statements(const rec_session_t *s);

#endif /* VFU_HARNESS_REC_H */
