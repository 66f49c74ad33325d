/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfu_crash2vus.c - turns an input of a fuzz_dev_* target into a .vus
 * scenario (the same operations, through vfu-run) and, with -m, minimizes
 * it: drops operations and shrinks data while vfu-run still crashes.
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

#define MAX_INPUT (1u << 20)

typedef struct c2v {
    const do_device_t *dev;
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
            "Print a fuzz_dev_* input as a .vus scenario.\n"
            "  -d DEVICE        gpio or dmaengine (default: guessed from "
            "INPUT's name)\n"
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

/* Runs vfu-run on the kept ops: true when it crashed. */
static bool
crashes(c2v_t *c, const do_list_t *all, const bool *keep)
{
    char logpath[80];
    do_list_t v;
    FILE *f;
    pid_t pid;
    int st;
    bool crashed;

    v.ops = malloc((all->nr + 1) * sizeof(*v.ops));
    if (v.ops == NULL) {
        return false;
    }
    view(all, keep, &v);
    f = fopen(c->tmp, "w");
    if (f == NULL) {
        free(v.ops);
        return false;
    }
    do_print(c->dev, &v, f);
    fclose(f);
    free(v.ops);
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

/* Delta debugging over the op list: drop chunks, halving their size. */
static void
minimize_ops(c2v_t *c, const do_list_t *all, bool *keep)
{
    for (size_t chunk = all->nr / 2; chunk >= 1; chunk /= 2) {
        for (size_t i = 0; i < all->nr; i += chunk) {
            bool saved[chunk];
            bool any = false;

            for (size_t j = 0; j < chunk && i + j < all->nr; j++) {
                saved[j] = keep[i + j];
                any |= keep[i + j];
                keep[i + j] = false;
            }
            if (!any) {
                continue;
            }
            if (crashes(c, all, keep)) {
                if (c->verbose) {
                    fprintf(stderr, "dropped ops %zu..%zu\n", i,
                            i + chunk - 1);
                }
                continue;
            }
            for (size_t j = 0; j < chunk && i + j < all->nr; j++) {
                keep[i + j] = saved[j];
            }
        }
    }
}

/* Shrink guest memory writes (halving) and zero written values. */
static void
minimize_data(c2v_t *c, do_list_t *all, const bool *keep)
{
    for (size_t i = 0; i < all->nr; i++) {
        do_op_t *op = &all->ops[i];

        if (!keep[i]) {
            continue;
        }
        if (op->kind == DO_MEM_WRITE) {
            while (op->size > 1) {
                uint32_t old = op->size;

                op->size /= 2;
                if (!crashes(c, all, keep)) {
                    op->size = old;
                    break;
                }
            }
        } else if ((op->kind == DO_BAR_WRITE || op->kind == DO_CFG_WRITE) &&
                   op->val != 0) {
            uint64_t old = op->val;

            op->val = 0;
            if (!crashes(c, all, keep)) {
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

int
main(int argc, char *argv[])
{
    c2v_t c = { 0 };
    const char *out = NULL, *dname = NULL;
    char *run_default = NULL;
    bool minimize = false;
    do_list_t list = { 0 };
    bool *keep = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int opt, rc, status = 1;

    while ((opt = getopt(argc, argv, "d:o:mr:fvh")) != -1) {
        switch (opt) {
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
    if (dname == NULL) {
        dname = strstr(argv[optind], "dmaengine") != NULL ? "dmaengine"
                                                           : "gpio";
    }
    c.dev = do_device_by_name(dname);
    if (c.dev == NULL) {
        fprintf(stderr, "vfu-crash2vus: unknown device %s\n", dname);
        return 2;
    }
    rc = read_input(argv[optind], &buf, &len);
    if (rc < 0 || do_decode(c.dev, buf, len, &list) < 0) {
        fprintf(stderr, "vfu-crash2vus: %s: %s\n", argv[optind],
                strerror(rc < 0 ? -rc : ENOMEM));
        goto out;
    }
    keep = malloc(list.nr + 1);
    if (keep == NULL) {
        goto out;
    }
    memset(keep, 1, list.nr + 1);
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
        if (!crashes(&c, &list, keep)) {
            fprintf(stderr, "vfu-crash2vus: the scenario does not crash "
                    "vfu-run; printing it unminimized\n");
        } else {
            size_t before = list.nr, after = 0;

            minimize_ops(&c, &list, keep);
            minimize_data(&c, &list, keep);
            for (size_t i = 0; i < list.nr; i++) {
                after += keep[i];
            }
            fprintf(stderr, "vfu-crash2vus: %zu ops -> %zu (%u runs)\n",
                    before, after, c.runs);
        }
        unlink(c.tmp);
    }
    {
        do_list_t v = { .ops = malloc((list.nr + 1) * sizeof(*v.ops)) };
        FILE *f = out != NULL ? fopen(out, "w") : stdout;

        if (v.ops == NULL || f == NULL) {
            fprintf(stderr, "vfu-crash2vus: cannot write %s\n",
                    out != NULL ? out : "stdout");
            free(v.ops);
            goto out;
        }
        view(&list, keep, &v);
        do_print(c.dev, &v, f);
        free(v.ops);
        if (f != stdout) {
            fclose(f);
        }
    }
    status = 0;
out:
    free(keep);
    free(buf);
    free(run_default);
    do_list_free(&list);
    return status;
}
