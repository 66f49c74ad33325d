/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_target.c - the device a scenario talks to: a built-in model in this
 * process, a server on a UNIX socket, or a server spawned for the run in
 * its own process group (killed at the end, its stderr kept for failure
 * reports); fresh instances of the same target for migrate and restore.
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/scn_run.h"

#define SCN_KILL_GRACE_MS 2000
#define SCN_STDERR_TAIL 5

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */
/* Placeholders                                                        */
/* ------------------------------------------------------------------ */

/* @in with {sock}, {build} and {dir} replaced (malloc'ed). */
static char *
expand(scn_runner_t *r, const char *in)
{
    const char *build = r->opts->build_dir;
    char *copy = strdup(r->sc->name), *dir;
    scn_sbuf_t b = {0};
    const char *p;

    if (copy == NULL) {
        return NULL;
    }
    dir = dirname(copy);
    if (build == NULL) {
        build = getenv("VFU_BUILD_DIR");
    }
    if (build == NULL || build[0] == '\0') {
        build = "build";
    }
    for (p = in; *p != '\0'; p++) {
        if (strncmp(p, "{sock}", 6) == 0) {
            scn_sbuf_printf(&b, "%s", r->sock);
            p += 5;
        } else if (strncmp(p, "{build}", 7) == 0) {
            scn_sbuf_printf(&b, "%s", build);
            p += 6;
        } else if (strncmp(p, "{dir}", 5) == 0) {
            scn_sbuf_printf(&b, "%s", dir);
            p += 4;
        } else {
            scn_sbuf_printf(&b, "%c", *p);
        }
    }
    free(copy);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s != NULL ? b.s : strdup("");
}

/* Remove the run's private directory and what the run left in it. */
static void
remove_tmpdir(const char *path)
{
    char file[600];
    struct dirent *e;
    DIR *d = opendir(path);

    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                continue;
            }
            if (snprintf(file, sizeof(file), "%s/%s", path, e->d_name) <
                (int)sizeof(file)) {
                unlink(file);
            }
        }
        closedir(d);
    }
    rmdir(path);
}

/* ------------------------------------------------------------------ */
/* Spawned servers                                                     */
/* ------------------------------------------------------------------ */

void
scn_target_stderr_tail(scn_runner_t *r, scn_sbuf_t *b)
{
    char buf[2048];
    char *lines[SCN_STDERR_TAIL];
    size_t nl = 0, i;
    ssize_t n;
    off_t size;
    char *p;
    int fd;

    if (r->errlog[0] == '\0') {
        return;
    }
    fd = open(r->errlog, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    size = lseek(fd, 0, SEEK_END);
    if (size > (off_t)sizeof(buf) - 1) {
        lseek(fd, size - (off_t)sizeof(buf) + 1, SEEK_SET);
    } else {
        lseek(fd, 0, SEEK_SET);
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return;
    }
    buf[n] = '\0';
    /* keep the last lines: a rolling window of line starts */
    for (p = strtok(buf, "\n"); p != NULL; p = strtok(NULL, "\n")) {
        if (nl == SCN_STDERR_TAIL) {
            memmove(lines, lines + 1, sizeof(lines[0]) * (nl - 1));
            nl--;
        }
        lines[nl++] = p;
    }
    if (nl == 0) {
        return;
    }
    scn_sbuf_printf(b, "  server stderr:\n");
    for (i = 0; i < nl; i++) {
        scn_sbuf_printf(b, "    %s\n", lines[i]);
    }
}

int
scn_target_tmpdir(scn_runner_t *r)
{
    const char *tmp = getenv("TMPDIR");

    if (r->tmpdir[0] != '\0') {
        return 0;
    }
    if (tmp == NULL || tmp[0] == '\0') {
        tmp = "/tmp";
    }
    snprintf(r->tmpdir, sizeof(r->tmpdir), "%s/vfu-run-XXXXXX", tmp);
    if (mkdtemp(r->tmpdir) == NULL) {
        int e = errno;

        r->tmpdir[0] = '\0';
        return -e;
    }
    return 0;
}

static int
spawn_server(scn_runner_t *r, const char *cmdline)
{
    char *cmd;
    int errfd, nullfd, rc;
    pid_t pid;

    rc = scn_target_tmpdir(r);
    if (rc < 0) {
        return scn_fail_target(r, "cannot create a temporary directory: %s",
                               strerror(-rc));
    }
    /* every instance (migrate, restore) gets its own socket and log */
    if (r->gen == 0) {
        snprintf(r->sock, sizeof(r->sock), "%s/sock", r->tmpdir);
        snprintf(r->errlog, sizeof(r->errlog), "%s/stderr", r->tmpdir);
    } else {
        snprintf(r->sock, sizeof(r->sock), "%s/sock%u", r->tmpdir, r->gen);
        snprintf(r->errlog, sizeof(r->errlog), "%s/stderr%u", r->tmpdir,
                 r->gen);
    }
    if (strlen(r->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        return scn_fail_target(r, "socket path %s too long (set TMPDIR)",
                               r->sock);
    }
    cmd = expand(r, cmdline);
    if (cmd == NULL) {
        return scn_fail_target(r, "out of memory");
    }
    errfd = open(r->errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (errfd < 0 || nullfd < 0) {
        if (errfd >= 0) {
            close(errfd);
        }
        if (nullfd >= 0) {
            close(nullfd);
        }
        free(cmd);
        return scn_fail_target(r, "cannot open /dev/null or a log file");
    }
    pid = fork();
    if (pid == 0) {
        sigset_t none;

        setpgid(0, 0);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        dup2(nullfd, 0);
        dup2(errfd, 1);
        dup2(errfd, 2);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(errfd);
    close(nullfd);
    if (pid < 0) {
        int e = errno;

        free(cmd);
        return scn_fail_target(r, "cannot fork: %s", strerror(e));
    }
    setpgid(pid, pid); /* also here, so no kill can miss the group */
    r->pid = pid;
    scn_note(r, "spawned: %s", cmd);
    free(cmd);
    return SCN_GO;
}

static void
stop_pid(pid_t *pidp)
{
    pid_t pid = *pidp;
    int64_t deadline;
    int status;

    if (pid <= 0) {
        return;
    }
    kill(-pid, SIGTERM);
    deadline = now_ms() + SCN_KILL_GRACE_MS;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (now_ms() >= deadline) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        sleep_ms(1);
    }
    /* whatever the shell left behind in the group goes too */
    kill(-pid, SIGKILL);
    *pidp = 0;
}

static void
stop_server(scn_runner_t *r)
{
    stop_pid(&r->pid);
}

/* ------------------------------------------------------------------ */
/* Connecting                                                          */
/* ------------------------------------------------------------------ */

/*
 * Connect to r->sock, retrying while the socket is not there yet or
 * refuses, until the connect timeout (or the spawned server exits).
 */
static int
connect_socket(scn_runner_t *r, const scn_stmt_t *s)
{
    int64_t deadline = now_ms() + r->connect_timeout_ms;
    char err[64];
    int rc, status;

    for (;;) {
        rc = vmm_connect(r->sock, &r->vopts, &r->vmm);
        if (rc == 0) {
            return SCN_GO;
        }
        if (rc != -ENOENT && rc != -ECONNREFUSED) {
            break;
        }
        if (r->pid > 0 && waitpid(r->pid, &status, WNOHANG) == r->pid) {
            r->pid = 0;
            if (s != NULL) {
                return scn_fail(r, s, "the spawned server exited (status "
                                      "%d) before accepting",
                                WIFEXITED(status) ? WEXITSTATUS(status)
                                                  : 128 + WTERMSIG(status));
            }
            return scn_fail_target(r, "the spawned server exited (status %d) "
                                      "before serving %s",
                                   WIFEXITED(status) ? WEXITSTATUS(status)
                                                     : 128 + WTERMSIG(status),
                                   r->sock);
        }
        if (now_ms() >= deadline) {
            break;
        }
        sleep_ms(2);
    }
    if (s != NULL) {
        return scn_fail(r, s, "cannot connect to %s: %s", r->sock,
                        scn_errstr(-rc, err, sizeof(err)));
    }
    return scn_fail_target(r, "cannot connect to %s: %s", r->sock,
                           scn_errstr(-rc, err, sizeof(err)));
}

static int
open_inproc(scn_runner_t *r)
{
    char err[64];
    int rc;

    rc = vfu_device_open(r->arg, VFU_TRANS_EXT_INPROC, NULL,
                         LIBVFIO_USER_FLAG_ATTACH_NB, &r->dev);
    if (rc == -ENOENT) {
        scn_sbuf_t known = {0};
        size_t i;

        for (i = 0; vfu_device_at(i) != NULL; i++) {
            scn_sbuf_printf(&known, "%s%s", i ? ", " : "",
                            vfu_device_at(i)->name);
        }
        rc = scn_fail_target(r, "no built-in device '%s' (known: %s)", r->arg,
                             known.s != NULL ? known.s : "none");
        free(known.s);
        return rc;
    }
    if (rc < 0) {
        return scn_fail_target(r, "cannot create device '%s': %s", r->arg,
                               scn_errstr(-rc, err, sizeof(err)));
    }
    r->have_dev = true;
    rc = vmm_attach_inproc(r->dev.ctx, &r->vopts, &r->vmm);
    if (rc < 0) {
        return scn_fail_target(r, "cannot attach to device '%s': %s", r->arg,
                               scn_errstr(-rc, err, sizeof(err)));
    }
    return SCN_GO;
}

int
scn_target_open(scn_runner_t *r)
{
    const scn_script_t *sc = r->sc;
    char *path;

    r->vopts = sc->opts;
    r->connect_timeout_ms = sc->connect_timeout_ms > 0
                                ? sc->connect_timeout_ms
                                : SCN_DEFAULT_CONNECT_TIMEOUT_MS;
    r->kind = sc->target;
    r->arg = sc->target_arg != NULL ? strdup(sc->target_arg) : NULL;
    if (r->opts->target != SCN_TARGET_SCRIPT) {
        free(r->arg);
        r->kind = r->opts->target;
        r->arg = r->opts->target_arg != NULL ? strdup(r->opts->target_arg)
                                             : NULL;
        r->overridden = true;
    }
    if (r->kind == SCN_TARGET_SCRIPT) {
        return scn_fail_target(r, "no target: add 'device NAME', 'connect "
                                  "unix:PATH' or 'spawn CMD' (or run with "
                                  "--socket/--spawn)");
    }
    if (r->arg == NULL) {
        return scn_fail_target(r, "out of memory");
    }
    switch (r->kind) {
    case SCN_TARGET_DEVICE:
        return open_inproc(r);
    case SCN_TARGET_SOCKET:
        path = expand(r, r->arg);
        if (path == NULL) {
            return scn_fail_target(r, "out of memory");
        }
        snprintf(r->sock, sizeof(r->sock), "%s", path);
        free(path);
        return connect_socket(r, NULL);
    default:
        if (spawn_server(r, r->arg) != SCN_GO) {
            return SCN_STOP;
        }
        return connect_socket(r, NULL);
    }
}

int
scn_target_reconnect(scn_runner_t *r, const scn_stmt_t *s)
{
    char err[64];
    int rc;

    /* in-process, closing runs the device once so it sees the hang-up */
    vmm_close(r->vmm);
    r->vmm = NULL;
    if (r->kind == SCN_TARGET_DEVICE) {
        rc = vmm_attach_inproc(r->dev.ctx, &r->vopts, &r->vmm);
        if (rc < 0) {
            return scn_fail(r, s, "cannot attach again: %s",
                            scn_errstr(-rc, err, sizeof(err)));
        }
    } else if (connect_socket(r, s) != SCN_GO) {
        return SCN_STOP;
    }
    scn_install_hooks(r);
    return SCN_GO;
}

void
scn_target_close(scn_runner_t *r)
{
    vmm_close(r->vmm);
    r->vmm = NULL;
    if (r->have_dev) {
        vfu_device_close(&r->dev);
        r->have_dev = false;
    }
    stop_server(r);
    if (r->tmpdir[0] != '\0') {
        remove_tmpdir(r->tmpdir);
        r->tmpdir[0] = '\0';
    }
    free(r->arg);
    r->arg = NULL;
    r->dirty_pgsize = 0;
}

/* ------------------------------------------------------------------ */
/* Fresh instances (migrate, restore)                                  */
/* ------------------------------------------------------------------ */

int
scn_target_fresh(scn_runner_t *r, const scn_stmt_t *s, scn_inst_t *old)
{
    char err[64];
    int rc;

    if (r->kind != SCN_TARGET_DEVICE && r->kind != SCN_TARGET_SPAWN) {
        return scn_fail(r, s, "migrate and restore need a device or spawn "
                              "target (a server on --socket/connect cannot "
                              "be started again)");
    }
    if (r->gen >= 1000) {
        return scn_fail(r, s, "too many instances (1000)");
    }
    memset(old, 0, sizeof(*old));
    old->vmm = r->vmm;
    old->dev = r->dev;
    old->have_dev = r->have_dev;
    old->pid = r->pid;
    memcpy(old->sock, r->sock, sizeof(old->sock));
    memcpy(old->errlog, r->errlog, sizeof(old->errlog));
    r->vmm = NULL;
    memset(&r->dev, 0, sizeof(r->dev));
    r->have_dev = false;
    r->pid = 0;
    r->gen++;
    if (r->kind == SCN_TARGET_DEVICE) {
        rc = vfu_device_open(r->arg, VFU_TRANS_EXT_INPROC, NULL,
                             LIBVFIO_USER_FLAG_ATTACH_NB, &r->dev);
        if (rc == 0) {
            r->have_dev = true;
            rc = vmm_attach_inproc(r->dev.ctx, &r->vopts, &r->vmm);
        }
        if (rc < 0) {
            scn_target_back(r, old);
            return scn_fail(r, s, "cannot create a new instance of '%s': %s",
                            r->arg, scn_errstr(-rc, err, sizeof(err)));
        }
    } else if (spawn_server(r, r->arg) != SCN_GO ||
               connect_socket(r, s) != SCN_GO) {
        scn_target_back(r, old);
        return SCN_STOP;
    }
    scn_install_hooks(r);
    return SCN_GO;
}

void
scn_target_drop(scn_runner_t *r, scn_inst_t *i)
{
    (void)r;
    vmm_close(i->vmm);
    i->vmm = NULL;
    if (i->have_dev) {
        vfu_device_close(&i->dev);
        i->have_dev = false;
    }
    stop_pid(&i->pid);
}

void
scn_target_back(scn_runner_t *r, scn_inst_t *old)
{
    scn_inst_t cur = {0};

    cur.vmm = r->vmm;
    cur.dev = r->dev;
    cur.have_dev = r->have_dev;
    cur.pid = r->pid;
    scn_target_drop(r, &cur);
    r->vmm = old->vmm;
    r->dev = old->dev;
    r->have_dev = old->have_dev;
    r->pid = old->pid;
    memcpy(r->sock, old->sock, sizeof(r->sock));
    memcpy(r->errlog, old->errlog, sizeof(r->errlog));
    memset(old, 0, sizeof(*old));
}
