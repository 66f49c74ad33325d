/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rec_proxy.c - the proxy of vfu-record: listen for a client, connect to
 * the server for it, and carry every message both ways (fds included)
 * while the session records it.  One session at a time: a second client
 * waits in the listen backlog until the first is done, and each session
 * goes to its own file.
 *
 * The loop is single-threaded around poll(): the client and server
 * sockets, the twin sockets when the server opened one, the eventfds the
 * recorder stands in for, and a signalfd for SIGINT/SIGTERM, which end
 * the current session cleanly (its file is complete) and then vfu-record.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness/rec.h"

/* Fixed poll slots: signal, server, server twin, client, client twin. */
#define FIXED_SLOTS 5

void
rec_opts_default(rec_opts_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->cap_bytes = REC_DEFAULT_CAP;
    opts->watch_bytes = REC_DEFAULT_WATCH;
    opts->irq_proxy = true;
    opts->timeout_ms = REC_DEFAULT_TIMEOUT_MS;
    opts->connect_timeout_ms = REC_DEFAULT_TIMEOUT_MS;
}

int
rec_out_name(const char *base, unsigned n, char *buf, size_t size)
{
    size_t len = strlen(base);
    int w;

    if (n <= 1) {
        w = snprintf(buf, size, "%s", base);
    } else if (len >= 4 && strcmp(base + len - 4, ".vus") == 0) {
        w = snprintf(buf, size, "%.*s-%u.vus", (int)(len - 4), base, n);
    } else {
        w = snprintf(buf, size, "%s-%u", base, n);
    }
    return (w < 0 || (size_t)w >= size) ? -ENAMETOOLONG : 0;
}

static void
logf_(const rec_opts_t *o, bool always, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
logf_(const rec_opts_t *o, bool always, const char *fmt, ...)
{
    FILE *f = o->log != NULL ? o->log : stderr;
    va_list ap;

    if (o->quiet && !always) {
        return;
    }
    fputs("vfu-record: ", f);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}

/* ------------------------------------------------------------------ */
/* Sockets                                                             */
/* ------------------------------------------------------------------ */

static int
unix_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        return -ENAMETOOLONG;
    }
    strcpy(sa->sun_path, path);
    return 0;
}

/*
 * A socket file left by a recorder that died is in the way of bind();
 * it is replaced.  Anything else at the path is left alone (EADDRINUSE).
 * The socket is bound under a temporary name and renamed into place once
 * it listens, so a client that waits for the path to appear never finds a
 * socket that refuses it (when the temporary name fits in sun_path).
 */
static int
listen_unix(const char *path)
{
    struct sockaddr_un sa, tmp;
    struct stat st;
    char tmp_path[sizeof(tmp.sun_path)];
    bool renamed;
    int fd, rc, n;

    rc = unix_addr(path, &sa);
    if (rc < 0) {
        return rc;
    }
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(path);
    }
    n = snprintf(tmp_path, sizeof(tmp_path), "%s.%d.tmp", path, (int)getpid());
    renamed = n > 0 && (size_t)n < sizeof(tmp_path) &&
              unix_addr(tmp_path, &tmp) == 0;
    if (renamed) {
        unlink(tmp_path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    if (bind(fd, (struct sockaddr *)(renamed ? &tmp : &sa), sizeof(sa)) < 0 ||
        listen(fd, 8) < 0 || (renamed && rename(tmp_path, path) < 0)) {
        rc = -errno;
        if (renamed) {
            unlink(tmp_path);
        }
        close(fd);
        return rc;
    }
    return fd;
}

/* Connect, retrying while the server is not there yet. */
static int
connect_unix(const char *path, int timeout_ms)
{
    const struct timespec nap = {0, 20 * 1000 * 1000};
    struct sockaddr_un sa;
    int waited = 0;
    int rc;

    rc = unix_addr(path, &sa);
    if (rc < 0) {
        return rc;
    }
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0) {
            return -errno;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            return fd;
        }
        rc = -errno;
        close(fd);
        if ((rc != -ENOENT && rc != -ECONNREFUSED && rc != -EAGAIN) ||
            waited >= timeout_ms) {
            return rc;
        }
        nanosleep(&nap, NULL);
        waited += 20;
    }
}

/* ------------------------------------------------------------------ */
/* One session                                                         */
/* ------------------------------------------------------------------ */

typedef struct conn {
    int cfd, sfd;     /* client and server */
    int ctwin, stwin; /* our end towards the client's twin, the server's */
} conn_t;

static void
conn_close(conn_t *c)
{
    int *fds[] = {&c->cfd, &c->sfd, &c->ctwin, &c->stwin};
    size_t i;

    for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
    }
}

/*
 * The server's VERSION reply carries its end of the twin socket: keep it,
 * and hand the client the end of a pair of our own instead, so the
 * server's commands on that channel pass through us too.
 */
static void
splice_twin(rec_session_t *s, conn_t *c, rec_msg_t *msg, int idx)
{
    int sp[2];
    int fd;

    if (c->stwin >= 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
        rec_note(s, "vfu-record: could not splice the twin socket; DMA on "
                    "it is not recorded");
        return;
    }
    fd = proto_msg_take_fd(&msg->m, (size_t)idx);
    if (fd < 0) {
        close(sp[0]);
        close(sp[1]);
        return;
    }
    c->stwin = fd;
    c->ctwin = sp[0];
    msg->m.fds[idx] = sp[1]; /* sent to the client, then closed here */
}

/*
 * Carry one message from @from to @to.  Returns 0, or how the session
 * ends: 1 the client side is gone, 2 the server side, 3 an error.
 */
enum { PUMP_OK = 0, PUMP_CLIENT_GONE, PUMP_SERVER_GONE, PUMP_ERROR };

static int
pump(const rec_opts_t *o, rec_session_t *s, conn_t *c, bool from_client,
     enum rec_chan chan)
{
    int from = from_client ? (chan == REC_CHAN_MAIN ? c->cfd : c->ctwin)
                           : (chan == REC_CHAN_MAIN ? c->sfd : c->stwin);
    int to = from_client ? (chan == REC_CHAN_MAIN ? c->sfd : c->stwin)
                         : (chan == REC_CHAN_MAIN ? c->cfd : c->ctwin);
    rec_msg_t msg;
    int rc;

    rc = rec_io_recv(from, &msg, o->timeout_ms);
    if (rc == -ENOTCONN || rc == -ECONNRESET) {
        return from_client ? PUMP_CLIENT_GONE : PUMP_SERVER_GONE;
    }
    if (rc < 0) {
        rec_note(s, "vfu-record: receiving from the %s failed: %s",
                 from_client ? "client" : "server", strerror(-rc));
        return PUMP_ERROR;
    }
    if (from_client) {
        rec_on_client(s, &msg, chan);
    } else {
        int twin = rec_on_server(s, &msg, chan);

        if (twin >= 0 && chan == REC_CHAN_MAIN) {
            splice_twin(s, c, &msg, twin);
        }
    }
    rc = rec_io_forward(to, from, &msg, o->timeout_ms);
    rec_msg_free(&msg);
    if (rc == -EPIPE || rc == -ECONNRESET || rc == -ENOTCONN) {
        return from_client ? PUMP_SERVER_GONE : PUMP_CLIENT_GONE;
    }
    if (rc < 0) {
        rec_note(s, "vfu-record: forwarding to the %s failed: %s",
                 from_client ? "server" : "client", strerror(-rc));
        return rc == -ECONNRESET ? PUMP_CLIENT_GONE : PUMP_ERROR;
    }
    return PUMP_OK;
}

static enum rec_end
pump_end(int rc)
{
    switch (rc) {
    case PUMP_CLIENT_GONE:
        return REC_END_CLIENT;
    case PUMP_SERVER_GONE:
        return REC_END_SERVER;
    default:
        return REC_END_ERROR;
    }
}

static bool
ready(const struct pollfd *p)
{
    return (p->revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

static enum rec_end
run_session(const rec_opts_t *o, rec_session_t *s, conn_t *c, int sig,
            struct pollfd *p)
{
    for (;;) {
        int slot_sfd, slot_stwin = -1, slot_cfd, slot_ctwin = -1;
        size_t n = 0, nirq, i;
        int rc;

        p[n].fd = sig;
        p[n++].events = POLLIN;
        slot_sfd = (int)n;
        p[n].fd = c->sfd;
        p[n++].events = POLLIN;
        if (c->stwin >= 0) {
            slot_stwin = (int)n;
            p[n].fd = c->stwin;
            p[n++].events = POLLIN;
        }
        slot_cfd = (int)n;
        p[n].fd = c->cfd;
        p[n++].events = POLLIN;
        if (c->ctwin >= 0) {
            slot_ctwin = (int)n;
            p[n].fd = c->ctwin;
            p[n++].events = POLLIN;
        }
        for (i = 0; i < n; i++) {
            p[i].revents = 0;
        }
        nirq = rec_irq_pollfds(s, p + n, REC_MAX_IRQ_FDS);

        rc = poll(p, n + nirq, -1);
        if (rc < 0) {
            if (errno == EINTR) {
                continue;
            }
            rec_note(s, "vfu-record: poll failed: %s", strerror(errno));
            return REC_END_ERROR;
        }
        if (ready(&p[0])) {
            struct signalfd_siginfo si;

            if (read(sig, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                return REC_END_STOP;
            }
        }
        /* the server first: its replies settle statements before the
         * client's next command opens a new one */
        if (ready(&p[slot_sfd]) &&
            (rc = pump(o, s, c, false, REC_CHAN_MAIN)) != PUMP_OK) {
            return pump_end(rc);
        }
        if (slot_stwin >= 0 && ready(&p[slot_stwin]) &&
            (rc = pump(o, s, c, false, REC_CHAN_TWIN)) != PUMP_OK) {
            return pump_end(rc);
        }
        for (i = 0; i < nirq; i++) {
            if (ready(&p[n + i])) {
                rec_on_irq(s, p[n + i].fd);
            }
        }
        if (ready(&p[slot_cfd]) &&
            (rc = pump(o, s, c, true, REC_CHAN_MAIN)) != PUMP_OK) {
            return pump_end(rc);
        }
        if (slot_ctwin >= 0 && ready(&p[slot_ctwin]) &&
            (rc = pump(o, s, c, true, REC_CHAN_TWIN)) != PUMP_OK) {
            return pump_end(rc);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Sessions, one after another                                         */
/* ------------------------------------------------------------------ */

static const char *
end_text(enum rec_end why)
{
    switch (why) {
    case REC_END_CLIENT:
        return "client left";
    case REC_END_SERVER:
        return "server left";
    case REC_END_STOP:
        return "stopped";
    default:
        return "error";
    }
}

/*
 * The server's path as the scenario's target: made absolute, so the
 * recording replays from any directory.
 */
static const char *
abs_path(const char *path, char *buf, size_t size)
{
    char cwd[4096];
    int n;

    if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL) {
        return path;
    }
    n = snprintf(buf, size, "%s/%s", cwd, path);
    return (n < 0 || (size_t)n >= size) ? path : buf;
}

/* Record one accepted client.  Returns the session's end or an errno. */
static int
record_one(const rec_opts_t *o, unsigned nr, int cfd, int sig,
           struct pollfd *p)
{
    conn_t c = {.cfd = cfd, .sfd = -1, .ctwin = -1, .stwin = -1};
    char target[4096];
    char name[4096];
    rec_session_t *s;
    enum rec_end why;
    FILE *f;
    int rc;

    c.sfd = connect_unix(o->connect_path, o->connect_timeout_ms);
    if (c.sfd < 0) {
        rc = c.sfd;
        logf_(o, true, "cannot connect to %s: %s", o->connect_path,
              strerror(-rc));
        conn_close(&c);
        return rc;
    }
    rc = rec_out_name(o->out_path, nr, name, sizeof(name));
    f = rc == 0 ? fopen(name, "w") : NULL;
    if (f == NULL) {
        rc = rc < 0 ? rc : -errno;
        logf_(o, true, "cannot write %s: %s", name, strerror(-rc));
        conn_close(&c);
        return rc;
    }
    s = rec_session_new(o, f, nr, abs_path(o->connect_path, target,
                                           sizeof(target)));
    if (s == NULL) {
        fclose(f);
        conn_close(&c);
        return -ENOMEM;
    }
    logf_(o, false, "session %u: client connected, recording to %s", nr,
          name);
    why = run_session(o, s, &c, sig, p);
    rec_session_end(s, why);
    logf_(o, false, "session %u: %s; wrote %s (%zu statements)", nr,
          end_text(why), name, rec_session_statements(s));
    /* the sockets go before the eventfds, so the server sees us leave */
    conn_close(&c);
    rec_session_free(s);
    if (fclose(f) != 0) {
        logf_(o, true, "writing %s failed: %s", name, strerror(errno));
        return -EIO;
    }
    return (int)why;
}

int
rec_serve(const rec_opts_t *o)
{
    struct pollfd *p = NULL;
    sigset_t mask, old;
    int lfd = -1, sig = -1;
    unsigned nr = 0;
    int rc = 0;

    if (o->listen_path == NULL || o->connect_path == NULL ||
        o->out_path == NULL) {
        return -EINVAL;
    }
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, &old) < 0) {
        return -errno;
    }
    sig = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    p = calloc(FIXED_SLOTS + REC_MAX_IRQ_FDS, sizeof(*p));
    if (sig < 0 || p == NULL) {
        rc = sig < 0 ? -errno : -ENOMEM;
        goto out;
    }
    lfd = listen_unix(o->listen_path);
    if (lfd < 0) {
        rc = lfd;
        logf_(o, true, "cannot listen on %s: %s", o->listen_path,
              strerror(-rc));
        goto out;
    }
    logf_(o, false, "listening on %s, server %s", o->listen_path,
          o->connect_path);

    for (;;) {
        struct pollfd w[2] = {{.fd = sig, .events = POLLIN},
                              {.fd = lfd, .events = POLLIN}};
        int cfd, end;

        if (poll(w, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            rc = -errno;
            break;
        }
        if (w[0].revents & POLLIN) {
            struct signalfd_siginfo si;

            /* taken, so it is not delivered when the mask comes back */
            if (read(sig, &si, sizeof(si)) < 0) {
                rc = 0;
            }
            break;
        }
        if (!(w[1].revents & POLLIN)) {
            continue;
        }
        cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            rc = -errno;
            break;
        }
        end = record_one(o, ++nr, cfd, sig, p);
        if (end < 0) {
            nr--; /* no file was written for it */
            if (o->once) {
                rc = end;
                break;
            }
            continue;
        }
        if (end == REC_END_STOP || o->once ||
            (o->max_sessions > 0 && nr >= o->max_sessions)) {
            break;
        }
    }

out:
    if (lfd >= 0) {
        close(lfd);
        unlink(o->listen_path);
    }
    if (sig >= 0) {
        close(sig);
    }
    free(p);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}
