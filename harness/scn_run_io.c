/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_run_io.c - statements that move bytes: byte lists built and
 * compared, raw messages with fds, send/recv, and guest memory (map,
 * access, expectations, CRC-32C / CRC-32).
 */

#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness/scn_run.h"

/* ------------------------------------------------------------------ */
/* Byte lists                                                          */
/* ------------------------------------------------------------------ */

int
scn_bytes_build(scn_runner_t *r, const scn_stmt_t *s, const scn_bytes_t *b,
                uint8_t **out, uint8_t **care)
{
    uint8_t *buf, *mask = NULL;
    size_t pos = 0;
    uint32_t i;

    *out = NULL;
    if (care != NULL) {
        *care = NULL;
    }
    buf = malloc((size_t)b->len + 1);
    if (care != NULL && b->has_any) {
        mask = malloc((size_t)b->len + 1);
    }
    if (buf == NULL || (care != NULL && b->has_any && mask == NULL)) {
        free(buf);
        free(mask);
        return scn_fail(r, s, "out of memory");
    }
    for (i = 0; i < b->nr; i++) {
        const scn_item_t *it = &b->items[i];
        uint64_t v = 0;
        unsigned k;

        if ((it->kind == SCN_ITEM_INT || it->kind == SCN_ITEM_FILL) &&
            scn_eval(r, s, &it->v, &v) != SCN_GO) {
            free(buf);
            free(mask);
            return SCN_STOP;
        }
        switch (it->kind) {
        case SCN_ITEM_BYTES:
            memcpy(buf + pos, it->bytes, it->len);
            break;
        case SCN_ITEM_INT:
            if (it->width < 8 && (v >> (8 * it->width)) != 0) {
                free(buf);
                free(mask);
                return scn_fail(r, s, "value 0x%llx does not fit in u%u",
                                (unsigned long long)v, 8u * it->width);
            }
            for (k = 0; k < it->width; k++) {
                buf[pos + k] = (uint8_t)(v >> (8 * k));
            }
            break;
        case SCN_ITEM_FILL:
            if (v > 0xff) {
                free(buf);
                free(mask);
                return scn_fail(r, s, "fill byte 0x%llx above 0xff",
                                (unsigned long long)v);
            }
            memset(buf + pos, (int)v, it->len);
            break;
        default: /* SCN_ITEM_ANY */
            memset(buf + pos, 0, it->len);
            break;
        }
        if (mask != NULL) {
            memset(mask + pos, it->kind != SCN_ITEM_ANY, it->len);
        }
        pos += it->len;
    }
    *out = buf;
    if (care != NULL) {
        *care = mask;
    }
    return SCN_GO;
}

/* "00 11 22 ..": up to 16 bytes from @off; '..' for don't-care bytes. */
static void
hexdump(char *out, size_t size, const uint8_t *buf, const uint8_t *care,
        size_t len, size_t off)
{
    size_t used = 0, i;

    out[0] = '\0';
    for (i = off; i < len && i < off + 16 && used + 4 < size; i++) {
        if (care != NULL && !care[i]) {
            used += (size_t)snprintf(out + used, size - used, "%s..",
                                     i > off ? " " : "");
        } else {
            used += (size_t)snprintf(out + used, size - used, "%s%02x",
                                     i > off ? " " : "", buf[i]);
        }
    }
    if (i < len && used + 4 < size) {
        snprintf(out + used, size - used, " ..");
    }
}

int
scn_bytes_compare(scn_runner_t *r, const scn_stmt_t *s, const scn_bytes_t *b,
                  const uint8_t *actual, size_t len, bool negate,
                  const char *what)
{
    uint8_t *want, *care;
    char got_s[80], want_s[80];
    size_t i, n = b->len;
    bool same;
    int rc;

    rc = scn_bytes_build(r, s, b, &want, &care);
    if (rc != SCN_GO) {
        return rc;
    }
    same = len == n || (b->more && len > n);
    for (i = 0; same && i < n; i++) {
        if ((care == NULL || care[i]) && actual[i] != want[i]) {
            same = false;
            break;
        }
    }
    if (negate) {
        rc = same ? scn_fail(r, s, "%s equal the bytes they must differ "
                                   "from", what)
                  : SCN_GO;
    } else if (same) {
        rc = SCN_GO;
    } else if (i < n && i < len) {
        size_t from = i >= 4 ? i - 4 : 0;

        hexdump(got_s, sizeof(got_s), actual, NULL, len, from);
        hexdump(want_s, sizeof(want_s), want, care, n, from);
        rc = scn_fail(r, s, "%s differ at offset 0x%zx: got %s, expected %s "
                            "(from offset 0x%zx)", what, i, got_s, want_s,
                      from);
    } else {
        hexdump(got_s, sizeof(got_s), actual, NULL, len, n < len ? n : 0);
        rc = scn_fail(r, s, "%s: got %zu bytes, expected %s%zu%s%s", what,
                      len, b->more ? "at least " : "", n,
                      len > n ? "; extra: " : "", len > n ? got_s : "");
    }
    free(want);
    free(care);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Raw messages                                                        */
/* ------------------------------------------------------------------ */

static void
close_fds(int *fds, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    free(fds);
}

/* Create the fds of @s: SCN_GO with *@out (count in *@n), or SCN_STOP. */
static int
make_fds(scn_runner_t *r, const scn_stmt_t *s, int **out, size_t *n)
{
    size_t total = 0, k = 0;
    uint32_t i, j;
    char err[64];
    int *fds;

    *out = NULL;
    *n = 0;
    for (i = 0; i < s->nr_fds; i++) {
        total += s->fds[i].count;
    }
    if (total == 0) {
        return SCN_GO;
    }
    fds = malloc(total * sizeof(*fds));
    if (fds == NULL) {
        return scn_fail(r, s, "out of memory");
    }
    for (i = 0; i < s->nr_fds; i++) {
        for (j = 0; j < s->fds[i].count; j++) {
            int fd = -1;

            switch (s->fds[i].kind) {
            case SCN_FD_EVENTFD:
                fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                break;
            case SCN_FD_MEMFD:
                fd = memfd_create("vfu-run", MFD_CLOEXEC);
                if (fd >= 0 && ftruncate(fd, (off_t)s->fds[i].size) < 0) {
                    close(fd);
                    fd = -1;
                }
                break;
            default:
                fd = open("/dev/null", O_RDWR | O_CLOEXEC);
                break;
            }
            if (fd < 0) {
                int e = errno;

                close_fds(fds, k);
                return scn_fail(r, s, "cannot create an fd: %s",
                                scn_errstr(e, err, sizeof(err)));
            }
            fds[k++] = fd;
        }
    }
    *out = fds;
    *n = k;
    return SCN_GO;
}

/* What arrived, in words, for failure messages. */
static void
describe(int rc, const vmm_reply_t *m, char *buf, size_t size)
{
    char err[64];

    if (rc == -ENOTCONN) {
        snprintf(buf, size, "the server hung up");
    } else if (rc < 0) {
        snprintf(buf, size, "no message (%s)",
                 scn_errstr(-rc, err, sizeof(err)));
    } else if (m->hdr.flags & VFIO_USER_F_ERROR) {
        snprintf(buf, size, "an error reply %s",
                 scn_errstr((int)m->hdr.error_no, err, sizeof(err)));
    } else {
        snprintf(buf, size, "a %s of %zu bytes",
                 (m->hdr.flags & VFIO_USER_F_TYPE_MASK) ==
                         VFIO_USER_F_TYPE_REPLY
                     ? "reply"
                     : "command",
                 m->body_len);
    }
}

static int
check_reply(scn_runner_t *r, const scn_stmt_t *s, int rc, vmm_reply_t *m)
{
    const scn_errset_t *e = &s->chk.err;
    bool hung = rc == -ENOTCONN;
    bool is_err = rc == 0 && (m->hdr.flags & VFIO_USER_F_ERROR);
    char got[128], want[160];
    unsigned i;

    describe(rc, m, got, sizeof(got));
    switch (s->reply) {
    case SCN_REPLY_HANGUP:
        return hung ? SCN_GO
                    : scn_fail(r, s, "expected the server to hang up, got %s",
                               got);
    case SCN_REPLY_ERROR:
        if ((hung && e->hangup) || (rc == 0 && !is_err && e->ok)) {
            return SCN_GO;
        }
        if (is_err && m->body_len > 0) {
            return scn_fail(r, s, "the error reply carries %zu bytes after "
                                  "the header (the spec allows none)",
                            m->body_len);
        }
        if (is_err) {
            if (e->any) {
                return SCN_GO;
            }
            for (i = 0; i < e->nr; i++) {
                if (e->errs[i] == m->hdr.error_no) {
                    return SCN_GO;
                }
            }
        }
        scn_errset_str(e, want, sizeof(want));
        return scn_fail(r, s, "expected error %s, got %s", want, got);
    case SCN_REPLY_ANY:
        return rc == 0 ? SCN_GO : scn_fail(r, s, "got %s", got);
    case SCN_REPLY_OK:
        return rc == 0 && !is_err
                   ? SCN_GO
                   : scn_fail(r, s, "expected a reply without error, got %s",
                              got);
    default: /* SCN_REPLY_BYTES */
        if (rc != 0 || is_err) {
            return scn_fail(r, s, "expected a reply with data, got %s", got);
        }
        return scn_bytes_compare(r, s, &s->chk.rhs_bytes, m->body,
                                 m->body_len, false, "reply bytes");
    }
}

int
scn_exec_raw(scn_runner_t *r, const scn_stmt_t *s)
{
    vmm_reply_t reply;
    uint8_t *payload;
    size_t nr_fds;
    int *fds;
    int rc;

    memset(&reply, 0, sizeof(reply));
    if (scn_bytes_build(r, s, &s->bytes, &payload, NULL) != SCN_GO) {
        return SCN_STOP;
    }
    if (make_fds(r, s, &fds, &nr_fds) != SCN_GO) {
        free(payload);
        return SCN_STOP;
    }
    rc = vmm_send_raw(r->vmm, (uint16_t)s->cmd, payload, s->bytes.len, fds,
                      nr_fds, &reply);
    close_fds(fds, nr_fds);
    free(payload);
    rc = check_reply(r, s, rc, &reply);
    vmm_reply_free(&reply);
    return rc;
}

int
scn_exec_send(scn_runner_t *r, const scn_stmt_t *s)
{
    uint8_t *payload;
    size_t nr_fds;
    char err[64];
    int *fds;
    int rc;

    if (scn_bytes_build(r, s, &s->bytes, &payload, NULL) != SCN_GO) {
        return SCN_STOP;
    }
    if (make_fds(r, s, &fds, &nr_fds) != SCN_GO) {
        free(payload);
        return SCN_STOP;
    }
    rc = vmm_send_bytes(r->vmm, payload, s->bytes.len, fds, nr_fds);
    close_fds(fds, nr_fds);
    free(payload);
    if (rc == -ENOTCONN) {
        return scn_fail(r, s, "not connected (the server hung up)");
    }
    if (rc < 0) {
        return scn_fail(r, s, "failed: %s",
                        scn_errstr(-rc, err, sizeof(err)));
    }
    return SCN_GO;
}

int
scn_exec_answer(scn_runner_t *r, const scn_stmt_t *s)
{
    uint64_t flags = VFIO_USER_F_TYPE_REPLY, err_no = 0;
    uint8_t *payload;
    size_t nr_fds;
    char err[64];
    int *fds;
    int rc;

    if ((s->has_a[0] && scn_eval(r, s, &s->a[0], &flags) != SCN_GO) ||
        (s->has_a[1] && scn_eval(r, s, &s->a[1], &err_no) != SCN_GO)) {
        return SCN_STOP;
    }
    if (flags > UINT32_MAX || err_no > UINT32_MAX) {
        return scn_fail(r, s, "flags or errno above 32 bits");
    }
    if (scn_bytes_build(r, s, &s->bytes, &payload, NULL) != SCN_GO) {
        return SCN_STOP;
    }
    if (make_fds(r, s, &fds, &nr_fds) != SCN_GO) {
        free(payload);
        return SCN_STOP;
    }
    rc = vmm_dma_answer(r->vmm, (uint16_t)s->cmd, (uint32_t)flags,
                        (uint32_t)err_no, payload, s->bytes.len, fds, nr_fds);
    close_fds(fds, nr_fds);
    free(payload);
    if (rc < 0) {
        return scn_fail(r, s, "failed: %s",
                        scn_errstr(-rc, err, sizeof(err)));
    }
    return SCN_GO;
}

int
scn_exec_recv(scn_runner_t *r, const scn_stmt_t *s)
{
    vmm_reply_t msg;
    int rc;

    memset(&msg, 0, sizeof(msg));
    rc = vmm_recv_any(r->vmm, &msg);
    rc = check_reply(r, s, rc, &msg);
    vmm_reply_free(&msg);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Guest memory                                                        */
/* ------------------------------------------------------------------ */

/* CRC-32C (Castagnoli) or CRC-32 (IEEE), reflected, running value. */
static uint32_t
crc_update(const uint32_t *table, uint32_t crc, const uint8_t *p, size_t n)
{
    while (n-- > 0) {
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return crc;
}

static void
crc_table(uint32_t poly, uint32_t *table)
{
    uint32_t i, k, c;

    for (i = 0; i < 256; i++) {
        c = i;
        for (k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        }
        table[i] = c;
    }
}

static int
mem_crc(scn_runner_t *r, const scn_stmt_t *s, uint64_t gpa, uint64_t len)
{
    uint32_t table[256], crc = 0xffffffffu;
    uint8_t *buf;
    char err[64];
    int rc = 0;

    crc_table(s->kind == SCN_S_MEM_CRC32C ? 0x82f63b78u : 0xedb88320u,
              table);
    buf = malloc(65536);
    if (buf == NULL) {
        return scn_fail(r, s, "out of memory");
    }
    while (len > 0 && rc == 0) {
        size_t n = len > 65536 ? 65536 : (size_t)len;

        rc = vmm_mem_read(r->vmm, gpa, buf, n);
        crc = crc_update(table, crc, buf, n);
        gpa += n;
        len -= n;
    }
    free(buf);
    if (rc < 0) {
        return scn_fail(r, s, "failed: %s",
                        scn_errstr(-rc, err, sizeof(err)));
    }
    return scn_check_value(r, s, crc ^ 0xffffffffu, 4);
}

int
scn_exec_mem(scn_runner_t *r, const scn_stmt_t *s)
{
    uint64_t a = 0, b = 0, c = 0;
    uint8_t le[8], *buf;
    char err[64];
    unsigned i;
    int rc;

    if ((s->has_a[0] && scn_eval(r, s, &s->a[0], &a) != SCN_GO) ||
        (s->has_a[1] && scn_eval(r, s, &s->a[1], &b) != SCN_GO) ||
        (s->has_a[2] && scn_eval(r, s, &s->a[2], &c) != SCN_GO)) {
        return SCN_STOP;
    }
    switch (s->kind) {
    case SCN_S_MEM_MAP:
        rc = vmm_mem_map(r->vmm, a, b, s->flags);
        break;
    case SCN_S_MEM_UNMAP:
        rc = vmm_mem_unmap(r->vmm, a, b);
        break;
    case SCN_S_MEM_UNMAP_ALL:
        rc = vmm_mem_unmap_all(r->vmm);
        break;
    case SCN_S_MEM_WRITE:
        if (scn_bytes_build(r, s, &s->bytes, &buf, NULL) != SCN_GO) {
            return SCN_STOP;
        }
        rc = vmm_mem_write(r->vmm, a, buf, s->bytes.len);
        free(buf);
        break;
    case SCN_S_MEM_FILL:
        if (b > SIZE_MAX || c > 0xff) {
            return scn_fail(r, s, "bad length or byte");
        }
        rc = vmm_mem_fill(r->vmm, a, (uint8_t)c, (size_t)b);
        break;
    case SCN_S_MEM_WRITEN:
        if (s->width < 8 && (b >> (8 * s->width)) != 0) {
            return scn_fail(r, s, "value 0x%llx does not fit in %u bytes",
                            (unsigned long long)b, s->width);
        }
        for (i = 0; i < 8; i++) {
            le[i] = (uint8_t)(b >> (8 * i));
        }
        rc = vmm_mem_write(r->vmm, a, le, s->width);
        break;
    case SCN_S_MEM_READN:
        memset(le, 0, sizeof(le));
        rc = vmm_mem_read(r->vmm, a, le, s->width);
        if (rc < 0) {
            return scn_fail(r, s, "failed: %s",
                            scn_errstr(-rc, err, sizeof(err)));
        }
        for (b = 0, i = 0; i < s->width; i++) {
            b |= (uint64_t)le[i] << (8 * i);
        }
        return scn_check_value(r, s, b, s->width);
    case SCN_S_MEM_EXPECT:
        buf = malloc((size_t)s->chk.rhs_bytes.len + 1);
        if (buf == NULL) {
            return scn_fail(r, s, "out of memory");
        }
        rc = vmm_mem_read(r->vmm, a, buf, s->chk.rhs_bytes.len);
        if (rc == 0) {
            rc = scn_bytes_compare(r, s, &s->chk.rhs_bytes, buf,
                                   s->chk.rhs_bytes.len, false,
                                   "guest memory bytes");
            free(buf);
            return rc;
        }
        free(buf);
        break;
    default: /* crc32c, crc32 */
        return mem_crc(r, s, a, b);
    }
    rc = scn_check_rc(r, s, rc);
    return rc == 2 ? SCN_GO : rc;
}
