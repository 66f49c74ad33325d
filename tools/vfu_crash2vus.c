/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfu_crash2vus.c - turns an input of a fuzz target into a .vus scenario
 * and, with -m, minimizes it while vfu-run still crashes: a fuzz_dev_*
 * input becomes the same device operations (operations dropped, data
 * shrunk), a fuzz_msg_* or fuzz_stream input the harness's setup plus the
 * same message bytes (messages dropped, bodies cut, fds and flags
 * cleared, setup lines the crash does not need dropped).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The decoder is the fuzz targets' own (tools/CMakeLists.txt builds each
 * tools/ source on its own), so a scenario is exactly what the target ran.
 */
#include "fuzz/dev/devops.c"
#include "fuzz/common/fz_scenario.c"

#define MAX_INPUT (1u << 20)

typedef struct c2v {
    const do_device_t *dev; /* device targets */
    do_list_t *ops;
    int kind;               /* protocol targets: FZ_NOT_PROTO if a device */
    fz_input_t *in;
    bool *keep;             /* per op or per message */
    const char *vfu_run;
    bool any_failure;
    bool verbose;
    char tmp[64];
    unsigned runs;
} c2v_t;

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: vfu-crash2vus [options] INPUT\n"
            "Print an input of a fuzz target as a .vus scenario.\n"
            "  -t TARGET        the target it came from: fuzz_dev_gpio,\n"
            "                   fuzz_dev_dmaengine, fuzz_msg_<command> or\n"
            "                   fuzz_stream (default: guessed from INPUT's "
            "path)\n"
            "  -d DEVICE        gpio or dmaengine (same as -t "
            "fuzz_dev_DEVICE)\n"
            "  -o FILE          write the scenario to FILE (default stdout)\n"
            "  -m               minimize while vfu-run still crashes\n"
            "  -r PATH          the vfu-run to use (default: vfu-run next to "
            "this tool)\n"
            "  -f               any failing run counts as the crash, not "
            "only\n"
            "                   signals and sanitizer reports\n"
            "  -v               say what each minimizing step kept\n");
}

static int
read_input(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t got;

    if (f == NULL) {
        return -errno;
    }
    *buf = malloc(MAX_INPUT);
    if (*buf == NULL) {
        fclose(f);
        return -ENOMEM;
    }
    got = fread(*buf, 1, MAX_INPUT, f);
    fclose(f);
    *len = got;
    return 0;
}

/* The ops still kept, as a list do_print() takes (data stays shared). */
static void
view(const do_list_t *all, const bool *keep, do_list_t *out)
{
    out->nr = 0;
    for (size_t i = 0; i < all->nr; i++) {
        if (keep[i]) {
            out->ops[out->nr++] = all->ops[i];
        }
    }
}

/* Print what is kept of the input as a scenario; false if out of memory. */
static bool
print_kept(const c2v_t *c, FILE *f)
{
    do_list_t v;

    if (c->kind != FZ_NOT_PROTO) {
        fz_input_print(c->in, c->keep, f);
        return true;
    }
    v.ops = malloc((c->ops->nr + 1) * sizeof(*v.ops));
    if (v.ops == NULL) {
        return false;
    }
    view(c->ops, c->keep, &v);
    do_print(c->dev, &v, f);
    free(v.ops);
    return true;
}

static bool
text_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    bool found = false;

    if (f == NULL) {
        return false;
    }
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        found = strstr(line, needle) != NULL;
    }
    fclose(f);
    return found;
}

/* Runs vfu-run on what is kept: true when it crashed. */
static bool
crashes(c2v_t *c)
{
    char logpath[80];
    FILE *f;
    pid_t pid;
    int st;
    bool crashed, ok;

    f = fopen(c->tmp, "w");
    if (f == NULL) {
        return false;
    }
    ok = print_kept(c, f);
    fclose(f);
    if (!ok) {
        return false;
    }
    snprintf(logpath, sizeof(logpath), "%s.log", c->tmp);
    c->runs++;
    pid = fork();
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(c->vfu_run, c->vfu_run, c->tmp, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid) {
        return false;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        fprintf(stderr, "vfu-crash2vus: cannot run %s\n", c->vfu_run);
        exit(2);
    }
    crashed = WIFSIGNALED(st) || text_has(logpath, "Sanitizer") ||
              text_has(logpath, "runtime error:") ||
              (c->any_failure && WIFEXITED(st) && WEXITSTATUS(st) != 0);
    unlink(logpath);
    return crashed;
}

/* Delta debugging over ops or messages: drop chunks, halving their size. */
static void
minimize_units(c2v_t *c, size_t n)
{
    bool *keep = c->keep;

    for (size_t chunk = n / 2; chunk >= 1; chunk /= 2) {
        for (size_t i = 0; i < n; i += chunk) {
            bool saved[chunk];
            bool any = false;

            for (size_t j = 0; j < chunk && i + j < n; j++) {
                saved[j] = keep[i + j];
                any |= keep[i + j];
                keep[i + j] = false;
            }
            if (!any) {
                continue;
            }
            if (crashes(c)) {
                if (c->verbose) {
                    fprintf(stderr, "dropped %zu..%zu\n", i, i + chunk - 1);
                }
                continue;
            }
            for (size_t j = 0; j < chunk && i + j < n; j++) {
                keep[i + j] = saved[j];
            }
        }
    }
}

/* Drop the lines of the harness's setup the crash does not need. */
static void
minimize_setup(c2v_t *c)
{
    for (uint32_t bit = 1; bit & FZ_SETUP_ALL; bit <<= 1) {
        c->in->setup &= ~bit;
        if (!crashes(c)) {
            c->in->setup |= bit;
        }
    }
}

/* Bounds the runs spent cutting one body (each run is a vfu-run). */
#define C2V_MAX_CUT_RUNS 300u

/*
 * Cut bytes out of a command's body while it still crashes: chunks of
 * halving size, then clear its fds and flags.  A stream's messages carry
 * their headers, so only the fds are cleared there.
 */
static void
minimize_msgs(c2v_t *c)
{
    for (size_t i = 0; i < c->in->nr; i++) {
        fz_msg_t *m = &c->in->msgs[i];
        unsigned runs = 0;
        uint8_t spec, flags;

        if (!c->keep[i]) {
            continue;
        }
        for (size_t chunk = m->len / 2; chunk >= 1 && c->kind != FZ_STREAM &&
                                        runs < C2V_MAX_CUT_RUNS;
             chunk /= 2) {
            for (size_t off = 0; off < m->len && runs < C2V_MAX_CUT_RUNS;) {
                size_t cut = chunk < m->len - off ? chunk : m->len - off;
                uint8_t *saved = malloc(cut);

                if (saved == NULL) {
                    return;
                }
                memcpy(saved, m->bytes + off, cut);
                memmove(m->bytes + off, m->bytes + off + cut,
                        m->len - off - cut);
                m->len -= cut;
                runs++;
                if (!crashes(c)) {
                    memmove(m->bytes + off + cut, m->bytes + off,
                            m->len - off);
                    memcpy(m->bytes + off, saved, cut);
                    m->len += cut;
                    off += cut;
                }
                free(saved);
            }
        }
        spec = m->fdspec;
        flags = m->flags;
        if (spec != 0) {
            m->fdspec = 0;
            if (!crashes(c)) {
                m->fdspec = spec;
            }
        }
        if (flags != 0 && c->kind != FZ_STREAM) {
            m->flags = 0;
            if (!crashes(c)) {
                m->flags = flags;
            }
        }
    }
}

/* Shrink guest memory writes (halving) and zero written values. */
static void
minimize_data(c2v_t *c)
{
    do_list_t *all = c->ops;
    const bool *keep = c->keep;

    for (size_t i = 0; i < all->nr; i++) {
        do_op_t *op = &all->ops[i];

        if (!keep[i]) {
            continue;
        }
        if (op->kind == DO_MEM_WRITE) {
            while (op->size > 1) {
                uint32_t old = op->size;

                op->size /= 2;
                if (!crashes(c)) {
                    op->size = old;
                    break;
                }
            }
        } else if ((op->kind == DO_BAR_WRITE || op->kind == DO_CFG_WRITE) &&
                   op->val != 0) {
            uint64_t old = op->val;

            op->val = 0;
            if (!crashes(c)) {
                op->val = old;
            }
        }
    }
}

static char *
default_vfu_run(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');
    size_t dir = slash != NULL ? (size_t)(slash - argv0 + 1) : 0;
    char *p = malloc(dir + sizeof("vfu-run"));

    if (p != NULL) {
        memcpy(p, argv0, dir);
        memcpy(p + dir, "vfu-run", sizeof("vfu-run"));
    }
    return p;
}

/* -t or -d, else the input's path: which target, and for devices which. */
static int
pick_target(c2v_t *c, const char *target, const char *dname,
            const char *path)
{
    const char *name = target != NULL ? target : path;

    c->kind = FZ_NOT_PROTO;
    if (dname == NULL && name != NULL) {
        c->kind = fz_target_kind(name);
        if (c->kind != FZ_NOT_PROTO) {
            return 0;
        }
        if (target != NULL && strncmp(target, "fuzz_dev_", 9) != 0) {
            fprintf(stderr, "vfu-crash2vus: unknown target %s\n", target);
            return -1;
        }
        dname = strstr(name, "dmaengine") != NULL ? "dmaengine" : "gpio";
    }
    c->dev = do_device_by_name(dname);
    if (c->dev == NULL) {
        fprintf(stderr, "vfu-crash2vus: unknown device %s\n", dname);
        return -1;
    }
    return 0;
}

static int
decode(c2v_t *c, const uint8_t *buf, size_t len, size_t *units)
{
    int rc;

    if (c->kind == FZ_NOT_PROTO) {
        rc = do_decode(c->dev, buf, len, c->ops);
        *units = c->ops->nr;
        return rc;
    }
    rc = fz_input_decode(c->kind, buf, len, c->in);
    *units = c->in->nr;
    return rc;
}

int
main(int argc, char *argv[])
{
    c2v_t c = { 0 };
    const char *out = NULL, *dname = NULL, *target = NULL;
    char *run_default = NULL;
    bool minimize = false;
    do_list_t list = { 0 };
    fz_input_t in = { 0 };
    uint8_t *buf = NULL;
    size_t len = 0, units = 0;
    int opt, rc, status = 1;
    FILE *f;

    while ((opt = getopt(argc, argv, "t:d:o:mr:fvh")) != -1) {
        switch (opt) {
        case 't': target = optarg; break;
        case 'd': dname = optarg; break;
        case 'o': out = optarg; break;
        case 'm': minimize = true; break;
        case 'r': c.vfu_run = optarg; break;
        case 'f': c.any_failure = true; break;
        case 'v': c.verbose = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    c.ops = &list;
    c.in = &in;
    if (pick_target(&c, target, dname, argv[optind]) < 0) {
        return 2;
    }
    rc = read_input(argv[optind], &buf, &len);
    if (rc == 0) {
        rc = decode(&c, buf, len, &units);
    }
    if (rc < 0) {
        fprintf(stderr, "vfu-crash2vus: %s: %s\n", argv[optind],
                strerror(-rc));
        goto out;
    }
    c.keep = malloc(units + 1);
    if (c.keep == NULL) {
        goto out;
    }
    memset(c.keep, 1, units + 1);
    if (minimize) {
        int fd;

        if (c.vfu_run == NULL) {
            c.vfu_run = run_default = default_vfu_run(argv[0]);
        }
        snprintf(c.tmp, sizeof(c.tmp), "/tmp/vfu-crash2vus.XXXXXX");
        fd = mkstemp(c.tmp);
        if (fd < 0 || c.vfu_run == NULL) {
            perror("vfu-crash2vus: mkstemp");
            goto out;
        }
        close(fd);
        if (!crashes(&c)) {
            fprintf(stderr, "vfu-crash2vus: the scenario does not crash "
                    "vfu-run; printing it unminimized\n");
        } else {
            size_t after = 0;

            minimize_units(&c, units);
            if (c.kind == FZ_NOT_PROTO) {
                minimize_data(&c);
            } else {
                minimize_msgs(&c);
                minimize_setup(&c);
            }
            for (size_t i = 0; i < units; i++) {
                after += c.keep[i];
            }
            fprintf(stderr, "vfu-crash2vus: %zu %s -> %zu (%u runs)\n",
                    units, c.kind == FZ_NOT_PROTO ? "ops" : "messages",
                    after, c.runs);
        }
        unlink(c.tmp);
    }
    f = out != NULL ? fopen(out, "w") : stdout;
    if (f == NULL || !print_kept(&c, f)) {
        fprintf(stderr, "vfu-crash2vus: cannot write %s\n",
                out != NULL ? out : "stdout");
        if (f != NULL && f != stdout) {
            fclose(f);
        }
        goto out;
    }
    if (f != stdout && fclose(f) != 0) {
        perror("vfu-crash2vus: close");
        goto out;
    }
    status = 0;
out:
    free(c.keep);
    free(buf);
    free(run_default);
    do_list_free(&list);
    fz_input_free(&in);
    return status;
}
