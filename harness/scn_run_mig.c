/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_run_mig.c - running the migration statements (docs/scenarios.md
 * 5.10): live migration and snapshot/restore into a fresh instance of the
 * target, and dirty-page log expectations.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scn_run.h"
#include "vfio-user/vfio-user.h"

#define SCN_DIRTY_DEFAULT_PGSIZE 4096u

static int
fail_rc(scn_runner_t *r, const scn_stmt_t *s, const char *what, int rc)
{
    char err[64];

    return scn_fail(r, s, "%s failed: %s", what,
                    scn_errstr(-rc, err, sizeof(err)));
}

static int
exec_migrate(scn_runner_t *r, const scn_stmt_t *s)
{
    vmm_migr_opts_t mo = {0};
    vmm_migr_stats_t st = {0};
    scn_inst_t old;
    int rc;

    mo.no_precopy = (s->flags & SCN_F_NOPRECOPY) != 0;
    mo.no_dirty_log = (s->flags & SCN_F_NODIRTY) != 0;
    if (s->has_a[0]) {
        mo.max_precopy_iters = (uint32_t)s->a[0].k;
    }
    if (scn_target_fresh(r, s, &old) != SCN_GO) {
        return SCN_STOP;
    }
    rc = vmm_migrate(old.vmm, r->vmm, &mo, &st);
    if (rc < 0) {
        /* vmm_migrate() put the source back to RUNNING when it could */
        scn_target_back(r, &old);
        rc = scn_check_rc(r, s, rc);
        return rc == 2 ? SCN_GO : rc;
    }
    scn_target_drop(r, &old);
    /* the new instance logs nothing until told to */
    r->dirty_pgsize = 0;
    scn_note(r, "migrated: %u pre-copy rounds, %llu+%llu bytes of device "
                "data, %llu dirty pages, %llu bytes of guest memory",
             st.precopy_iters, (unsigned long long)st.precopy_bytes,
             (unsigned long long)st.stopcopy_bytes,
             (unsigned long long)st.dirty_pages,
             (unsigned long long)st.guest_bytes);
    rc = scn_check_rc(r, s, 0);
    return rc == 2 ? SCN_GO : rc;
}

/* The snapshot file's path: a plain name lives in the run's directory. */
static int
snap_path(scn_runner_t *r, const scn_stmt_t *s, char *buf, size_t size)
{
    int rc;

    if (s->str[0] == '/') {
        snprintf(buf, size, "%s", s->str);
        return SCN_GO;
    }
    rc = scn_target_tmpdir(r);
    if (rc < 0) {
        return fail_rc(r, s, "creating the temporary directory", rc);
    }
    snprintf(buf, size, "%s/snap-%s", r->tmpdir, s->str);
    return SCN_GO;
}

static int
exec_snapshot(scn_runner_t *r, const scn_stmt_t *s)
{
    char path[600];
    int rc;

    if (snap_path(r, s, path, sizeof(path)) != SCN_GO) {
        return SCN_STOP;
    }
    rc = vmm_save(r->vmm, path);
    if (rc == 0) {
        /* the device stopped to be saved; it runs on afterwards */
        rc = vmm_mig_set_state(r->vmm, VFIO_USER_DEVICE_STATE_RUNNING);
        if (rc < 0) {
            return fail_rc(r, s, "resuming the device after the snapshot",
                           rc);
        }
        r->dirty_pgsize = 0; /* STOP_COPY ended any dirty logging */
    }
    rc = scn_check_rc(r, s, rc);
    return rc == 2 ? SCN_GO : rc;
}

static int
exec_restore(scn_runner_t *r, const scn_stmt_t *s)
{
    scn_inst_t old;
    char path[600];
    int rc;

    if (snap_path(r, s, path, sizeof(path)) != SCN_GO ||
        scn_target_fresh(r, s, &old) != SCN_GO) {
        return SCN_STOP;
    }
    rc = vmm_restore(r->vmm, path);
    if (rc < 0) {
        scn_target_back(r, &old);
    } else {
        scn_target_drop(r, &old);
        r->dirty_pgsize = 0;
    }
    rc = scn_check_rc(r, s, rc);
    return rc == 2 ? SCN_GO : rc;
}

static unsigned
popcount8(uint8_t b)
{
    unsigned n = 0;

    for (; b != 0; b &= (uint8_t)(b - 1)) {
        n++;
    }
    return n;
}

static int
exec_dirty_pages(scn_runner_t *r, const scn_stmt_t *s)
{
    uint64_t gpa, size, pages, count = 0, i;
    size_t bsize;
    uint8_t *bitmap;
    int rc;

    if (scn_eval(r, s, &s->a[0], &gpa) != SCN_GO ||
        scn_eval(r, s, &s->a[1], &size) != SCN_GO) {
        return SCN_STOP;
    }
    if (r->dirty_pgsize == 0) {
        if (!s->chk.err.present) {
            return scn_fail(r, s, "dirty logging is not on (dirty start)");
        }
        rc = scn_check_rc(r, s, -EINVAL);
        return rc == 2 ? SCN_GO : rc;
    }
    if (size == 0 || size % r->dirty_pgsize != 0 ||
        gpa % r->dirty_pgsize != 0) {
        return scn_fail(r, s, "GPA and SIZE must be multiples of the dirty "
                              "page size 0x%llx (SIZE not 0)",
                        (unsigned long long)r->dirty_pgsize);
    }
    pages = size / r->dirty_pgsize;
    if (pages > SCN_MAX_DIRTY_PAGES) {
        return scn_fail(r, s, "more than %llu pages in one range",
                        (unsigned long long)SCN_MAX_DIRTY_PAGES);
    }
    /* whole 64-bit words, as the server sends them */
    bsize = (size_t)((pages + 63) / 64 * 8);
    bitmap = calloc(1, bsize);
    if (bitmap == NULL) {
        return scn_fail(r, s, "out of memory");
    }
    rc = vmm_dirty_report(r->vmm, gpa, size, r->dirty_pgsize, bitmap, bsize);
    if (rc == 0) {
        for (i = 0; i < pages / 8; i++) {
            count += popcount8(bitmap[i]);
        }
        if (pages % 8 != 0) {
            count += popcount8((uint8_t)(bitmap[pages / 8] &
                                         ((1u << (pages % 8)) - 1)));
        }
    }
    free(bitmap);
    rc = scn_check_rc(r, s, rc);
    if (rc != SCN_GO) {
        return rc == 2 ? SCN_GO : rc;
    }
    return scn_check_value(r, s, count, 0);
}

int
scn_exec_mig(scn_runner_t *r, const scn_stmt_t *s)
{
    uint64_t pgsize = SCN_DIRTY_DEFAULT_PGSIZE;
    int rc;

    switch (s->kind) {
    case SCN_S_MIGRATE:
        return exec_migrate(r, s);
    case SCN_S_SNAPSHOT:
        return exec_snapshot(r, s);
    case SCN_S_RESTORE:
        return exec_restore(r, s);
    case SCN_S_DIRTY_START:
        if (s->has_a[0] && scn_eval(r, s, &s->a[0], &pgsize) != SCN_GO) {
            return SCN_STOP;
        }
        if (pgsize == 0 || (pgsize & (pgsize - 1)) != 0) {
            return scn_fail(r, s, "page size 0x%llx is not a power of two",
                            (unsigned long long)pgsize);
        }
        rc = vmm_dirty_start(r->vmm, pgsize, NULL, 0);
        if (rc == 0) {
            r->dirty_pgsize = pgsize;
        }
        rc = scn_check_rc(r, s, rc);
        return rc == 2 ? SCN_GO : rc;
    case SCN_S_DIRTY_STOP:
        rc = vmm_dirty_stop(r->vmm);
        if (rc == 0) {
            r->dirty_pgsize = 0;
        }
        rc = scn_check_rc(r, s, rc);
        return rc == 2 ? SCN_GO : rc;
    default:
        return exec_dirty_pages(r, s);
    }
}
