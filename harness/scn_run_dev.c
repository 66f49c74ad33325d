/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_run_dev.c - running the statements that ask the device: discovery
 * (info, require, capability lookup), region access, and interrupts
 * (enable, mask, expect a trigger or none).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scn_run.h"

/* ------------------------------------------------------------------ */
/* Discovery                                                           */
/* ------------------------------------------------------------------ */

/*
 * Offset of capability @id in config space, walking the standard list
 * (from 0x34) or the extended one (from 0x100): 0 or -ENOENT when absent,
 * -ELOOP for a list that does not end, or a read error.
 */
static int
find_cap(vmm_t *vmm, bool ext, uint64_t id, uint64_t *out)
{
    uint64_t v = 0, pos;
    unsigned hops;
    int rc;

    if (!ext) {
        rc = vmm_config_read(vmm, 0x06, 2, &v);
        if (rc < 0 || !(v & 0x10)) {
            return rc < 0 ? rc : -ENOENT;
        }
        rc = vmm_config_read(vmm, 0x34, 1, &pos);
        for (hops = 0; rc == 0 && pos >= 0x40 && hops < 48; hops++) {
            pos &= 0xfc;
            rc = vmm_config_read(vmm, pos, 1, &v);
            if (rc == 0 && v == id) {
                *out = pos;
                return 0;
            }
            rc = rc ?: vmm_config_read(vmm, pos + 1, 1, &pos);
        }
        return rc < 0 ? rc : hops == 48 ? -ELOOP : -ENOENT;
    }
    for (pos = 0x100, hops = 0; pos >= 0x100 && hops < 960; hops++) {
        rc = vmm_config_read(vmm, pos, 4, &v);
        if (rc < 0 || v == 0 || v == 0xffffffff) {
            return -ENOENT; /* no extended space, or an empty list */
        }
        if ((v & 0xffff) == id) {
            *out = pos;
            return 0;
        }
        pos = (v >> 20) & 0xffc;
    }
    return hops == 960 ? -ELOOP : -ENOENT;
}

/* The value of an info/require field: 0 or -errno. */
static int
info_value(scn_runner_t *r, const scn_stmt_t *s, uint32_t idx, uint64_t *v)
{
    struct vfio_user_device_info dev;
    struct vfio_irq_info irq;
    const vmm_region_t *reg;
    const vmm_caps_t *caps;
    vmm_stats_t st;
    int rc;

    switch (s->obj) {
    case SCN_OBJ_DEVICE:
        rc = vmm_device_info(r->vmm, &dev);
        *v = s->field == 0 ? dev.flags
           : s->field == 1 ? dev.num_regions : dev.num_irqs;
        return rc;
    case SCN_OBJ_REGION:
        rc = vmm_region_info(r->vmm, idx, &reg);
        if (rc < 0 || s->field == UINT16_MAX) {
            return rc;
        }
        switch (s->field) {
        case 0: *v = reg->size; break;
        case 1: *v = reg->flags; break;
        case 2: *v = reg->offset; break;
        case 3: *v = reg->fd >= 0; break;
        case 4: *v = reg->nr_areas; break;
        case 5: *v = reg->has_type ? reg->type : 0; break;
        default: *v = reg->has_type ? reg->subtype : 0; break;
        }
        return 0;
    case SCN_OBJ_IRQ:
        rc = vmm_irq_info(r->vmm, idx, &irq);
        *v = s->field == 0 ? irq.count : irq.flags;
        return rc;
    case SCN_OBJ_CAPS:
        caps = vmm_get_caps(r->vmm);
        switch (s->field) {
        case 0: *v = caps->major; break;
        case 1: *v = caps->minor; break;
        case 2: *v = caps->max_msg_fds; break;
        case 3: *v = caps->max_data_xfer_size; break;
        case 4: *v = caps->max_dma_maps; break;
        case 5: *v = caps->pgsizes; break;
        case 6: *v = caps->write_multiple; break;
        default: *v = caps->twin_socket; break;
        }
        return 0;
    case SCN_OBJ_CAP:
    case SCN_OBJ_EXTCAP:
        return find_cap(r->vmm, s->obj == SCN_OBJ_EXTCAP, idx, v);
    case SCN_OBJ_DMA:
        vmm_get_stats(r->vmm, &st);
        switch (s->field) {
        case 0: *v = st.dma_reads; break;
        case 1: *v = st.dma_writes; break;
        case 2: *v = st.dma_read_bytes; break;
        case 3: *v = st.dma_write_bytes; break;
        default: *v = st.dma_errors; break;
        }
        return 0;
    case SCN_OBJ_MIG:
        if (s->field == 0) {
            uint32_t state = 0;

            rc = vmm_mig_get_state(r->vmm, &state);
            *v = state;
            return rc;
        }
        return vmm_mig_features(r->vmm, v);
    default:
        return -EINVAL;
    }
}

int
scn_exec_info(scn_runner_t *r, const scn_stmt_t *s)
{
    bool req = s->kind == SCN_S_REQUIRE;
    uint64_t idx = 0, v = 0;
    char err[64];
    int rc;

    if (s->obj == SCN_OBJ_INPROC || s->obj == SCN_OBJ_SOCKET) {
        bool inproc = r->kind == SCN_TARGET_DEVICE;

        if (inproc != (s->obj == SCN_OBJ_INPROC)) {
            return scn_skip(r, s, "the target is %s",
                            inproc ? "in-process" : "a socket");
        }
        return SCN_GO;
    }
    if (s->obj == SCN_OBJ_NEW_INSTANCE) {
        return r->kind == SCN_TARGET_DEVICE || r->kind == SCN_TARGET_SPAWN
                   ? SCN_GO
                   : scn_skip(r, s, "the target cannot be started again "
                                    "(a server on a socket)");
    }
    if (s->obj == SCN_OBJ_OWN_TARGET) {
        return r->overridden ? scn_skip(r, s, "the target was overridden")
                             : SCN_GO;
    }
    if ((s->obj == SCN_OBJ_REGION || s->obj == SCN_OBJ_IRQ ||
         s->obj == SCN_OBJ_CAP || s->obj == SCN_OBJ_EXTCAP) &&
        scn_eval(r, s, &s->sel, &idx) != SCN_GO) {
        return SCN_STOP;
    }
    if (s->obj == SCN_OBJ_CAP || s->obj == SCN_OBJ_EXTCAP) {
        rc = info_value(r, s, (uint32_t)(idx & 0xffff), &v);
        if (idx > 0xffff) {
            rc = -EINVAL;
        }
    } else if (idx > UINT32_MAX) {
        rc = -EINVAL;
    } else {
        rc = info_value(r, s, (uint32_t)idx, &v);
    }
    if (req) {
        if (rc < 0) {
            return scn_skip(r, s, "%s", scn_errstr(-rc, err, sizeof(err)));
        }
        return scn_check_value_as(r, s, v, 0, true);
    }
    rc = scn_check_rc(r, s, rc);
    if (rc != SCN_GO) {
        return rc == 2 ? SCN_GO : rc;
    }
    return scn_check_value(r, s, v, 0);
}

/* ------------------------------------------------------------------ */
/* Region access                                                       */
/* ------------------------------------------------------------------ */

static int
region_index(scn_runner_t *r, const scn_stmt_t *s, uint32_t *idx)
{
    uint64_t v;

    if (scn_eval(r, s, &s->sel, &v) != SCN_GO) {
        return SCN_STOP;
    }
    if (v > UINT32_MAX) {
        return scn_fail(r, s, "region index 0x%llx out of range",
                        (unsigned long long)v);
    }
    *idx = (uint32_t)v;
    return SCN_GO;
}

int
scn_exec_access(scn_runner_t *r, const scn_stmt_t *s)
{
    uint64_t off = 0, val = 0;
    uint8_t le[8];
    uint32_t idx = 0;
    int rc;

    if (region_index(r, s, &idx) != SCN_GO ||
        scn_eval(r, s, &s->a[0], &off) != SCN_GO ||
        (s->has_a[1] && scn_eval(r, s, &s->a[1], &val) != SCN_GO)) {
        return SCN_STOP;
    }
    switch (s->kind) {
    case SCN_S_READ:
        rc = scn_check_rc(r, s, vmm_region_read_val(r->vmm, idx, off,
                                                    s->width, &val));
        if (rc != SCN_GO) {
            return rc == 2 ? SCN_GO : rc;
        }
        return scn_check_value(r, s, val, s->width);
    case SCN_S_WRITE:
        if (s->width < 8 && (val >> (8 * s->width)) != 0) {
            return scn_fail(r, s, "value 0x%llx does not fit in %u bytes",
                            (unsigned long long)val, s->width);
        }
        for (unsigned i = 0; i < 8; i++) {
            le[i] = (uint8_t)(val >> (8 * i));
        }
        if (r->batching) {
            rc = vmm_region_write_queue(r->vmm, idx, off, le, s->width);
        } else {
            rc = vmm_region_write(r->vmm, idx, off, le, s->width);
        }
        rc = scn_check_rc(r, s, rc);
        return rc == 2 ? SCN_GO : rc;
    case SCN_S_READ_BLOB: {
        uint8_t *buf;

        if (val > SCN_MAX_BYTES) {
            return scn_fail(r, s, "length 0x%llx above 1 MiB",
                            (unsigned long long)val);
        }
        buf = malloc(val + 1);
        if (buf == NULL) {
            return scn_fail(r, s, "out of memory");
        }
        rc = scn_check_rc(r, s, vmm_region_read(r->vmm, idx, off, buf, val));
        if (rc == SCN_GO && s->chk.cmp != SCN_CMP_NONE) {
            rc = scn_bytes_compare(r, s, &s->chk.rhs_bytes, buf, val,
                                   s->chk.cmp == SCN_CMP_NE, "bytes");
        }
        free(buf);
        return rc == 2 ? SCN_GO : rc;
    }
    default: { /* SCN_S_WRITE_BLOB */
        uint8_t *buf;

        rc = scn_bytes_build(r, s, &s->bytes, &buf, NULL);
        if (rc != SCN_GO) {
            return rc;
        }
        if (r->batching) {
            rc = vmm_region_write_queue(r->vmm, idx, off, buf, s->bytes.len);
        } else {
            rc = vmm_region_write(r->vmm, idx, off, buf, s->bytes.len);
        }
        free(buf);
        rc = scn_check_rc(r, s, rc);
        return rc == 2 ? SCN_GO : rc;
    }
    }
}

/* ------------------------------------------------------------------ */
/* Interrupts                                                          */
/* ------------------------------------------------------------------ */

static const char *
irq_name(uint64_t idx)
{
    static const char *const names[] = {"intx", "msi", "msix", "err", "req"};

    return idx < 5 ? names[idx] : "irq";
}

static int
irq_count_of(scn_runner_t *r, const scn_stmt_t *s, uint32_t idx,
             uint32_t *count)
{
    struct vfio_irq_info info;
    char err[64];
    int rc = vmm_irq_info(r->vmm, idx, &info);

    if (rc < 0) {
        return scn_fail(r, s, "IRQ info: %s",
                        scn_errstr(-rc, err, sizeof(err)));
    }
    *count = info.count;
    return SCN_GO;
}

int
scn_exec_irq(scn_runner_t *r, const scn_stmt_t *s)
{
    uint64_t idx, start = 0, end = 0;
    uint32_t count = 0;
    int rc;

    if (scn_eval(r, s, &s->sel, &idx) != SCN_GO) {
        return SCN_STOP;
    }
    if (idx > UINT32_MAX) {
        return scn_fail(r, s, "IRQ index out of range");
    }
    if (s->kind == SCN_S_IRQ_DISABLE) {
        rc = scn_check_rc(r, s, vmm_irq_disable(r->vmm, (uint32_t)idx));
        return rc == 2 ? SCN_GO : rc;
    }
    if (!(s->flags & SCN_F_RANGE)) {
        if (irq_count_of(r, s, (uint32_t)idx, &count) != SCN_GO) {
            return SCN_STOP;
        }
        if (count == 0 && !s->chk.err.present) {
            return scn_fail(r, s, "%s has no vectors", irq_name(idx));
        }
    } else {
        if (scn_eval(r, s, &s->a[0], &start) != SCN_GO) {
            return SCN_STOP;
        }
        end = start;
        if (s->has_a[1] && scn_eval(r, s, &s->a[1], &end) != SCN_GO) {
            return SCN_STOP;
        }
        if (end < start || end - start >= UINT32_MAX || end > UINT32_MAX) {
            return scn_fail(r, s, "bad vector range %llu-%llu",
                            (unsigned long long)start,
                            (unsigned long long)end);
        }
        count = (uint32_t)(end - start + 1);
    }
    if (s->kind == SCN_S_IRQ_ENABLE) {
        rc = vmm_irq_enable(r->vmm, (uint32_t)idx, (uint32_t)start, count);
    } else {
        rc = vmm_irq_mask(r->vmm, (uint32_t)idx, (uint32_t)start, count,
                          s->kind == SCN_S_IRQ_MASK);
    }
    rc = scn_check_rc(r, s, rc);
    return rc == 2 ? SCN_GO : rc;
}

int
scn_exec_expect_irq(scn_runner_t *r, const scn_stmt_t *s)
{
    uint64_t idx, vec = 0, want = 1, n = 0;
    int timeout = r->vopts.timeout_ms ? r->vopts.timeout_ms
                                      : SCN_DEFAULT_TIMEOUT_MS;
    char err[64];
    int rc;

    if (scn_eval(r, s, &s->sel, &idx) != SCN_GO ||
        (s->has_a[0] && scn_eval(r, s, &s->a[0], &vec) != SCN_GO) ||
        ((s->flags & SCN_F_COUNT) &&
         scn_eval(r, s, &s->a[1], &want) != SCN_GO)) {
        return SCN_STOP;
    }
    if (idx > UINT32_MAX || vec > UINT32_MAX) {
        return scn_fail(r, s, "IRQ index or vector out of range");
    }
    if (s->flags & SCN_F_WITHIN) {
        timeout = (int)s->a[2].k;
    }
    if (s->kind == SCN_S_EXPECT_NO_IRQ) {
        uint32_t v, first = (uint32_t)vec, last = (uint32_t)vec;
        uint32_t count = 0;

        if (!(s->flags & SCN_F_VECTOR)) {
            if (irq_count_of(r, s, (uint32_t)idx, &count) != SCN_GO) {
                return SCN_STOP;
            }
            if (count == 0) {
                return SCN_GO;
            }
            first = 0;
            last = count - 1;
        }
        for (v = first; v <= last; v++) {
            rc = vmm_irq_count(r->vmm, (uint32_t)idx, v, false, &n);
            if (rc == -EINVAL && !(s->flags & SCN_F_VECTOR)) {
                continue; /* that vector is not enabled */
            }
            if (rc < 0) {
                return scn_fail(r, s, "cannot count triggers on %s vector "
                                      "%u: %s", irq_name(idx), v,
                                scn_errstr(-rc, err, sizeof(err)));
            }
            if (n > 0) {
                return scn_fail(r, s, "%llu trigger%s pending on %s vector "
                                      "%u, expected none",
                                (unsigned long long)n, n > 1 ? "s" : "",
                                irq_name(idx), v);
            }
        }
        return SCN_GO;
    }
    if (want > 0) {
        rc = vmm_irq_wait(r->vmm, (uint32_t)idx, (uint32_t)vec, timeout);
        if (rc == -ETIMEDOUT) {
            return scn_fail(r, s, "no trigger on %s vector %llu within %d ms",
                            irq_name(idx), (unsigned long long)vec, timeout);
        }
        if (rc < 0) {
            return scn_fail(r, s, "waiting for a trigger: %s",
                            scn_errstr(-rc, err, sizeof(err)));
        }
    }
    rc = vmm_irq_count(r->vmm, (uint32_t)idx, (uint32_t)vec, true, &n);
    if (rc < 0) {
        return scn_fail(r, s, "cannot count triggers: %s",
                        scn_errstr(-rc, err, sizeof(err)));
    }
    if ((s->flags & SCN_F_COUNT) && n != want) {
        return scn_fail(r, s, "expected %llu trigger%s on %s vector %llu, "
                              "got %llu", (unsigned long long)want,
                        want == 1 ? "" : "s", irq_name(idx),
                        (unsigned long long)vec, (unsigned long long)n);
    }
    return SCN_GO;
}

