/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vmm_dump.c - corpus dumps: each connection writes what it sends as a
 * fuzz_stream input and what it receives as a fuzz_client input, so the
 * test and scenario runs seed the fuzzers (fuzz/gen_corpus.py).
 *
 * Dumping is a side line: nothing here may fail a session.  Files are
 * created on the first message, appended to with stdio, bounded, and the
 * first error (one log line) stops dumping for the connection.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/private.h"

/* Names tried per connection before giving up (see dump_open). */
#define VMM_DUMP_MAX_NAMES 65536u
/* Longest path of a dump file. */
#define VMM_DUMP_MAX_PATH 4096u

/* The directory to dump into, or NULL when dumping is off. */
static const char *
dump_dir(const vmm_t *vmm)
{
    const char *dir = vmm->opts.dump_dir;

    if (dir == NULL) {
        dir = getenv("VMM_DUMP_DIR");
    }
    return dir != NULL && dir[0] != '\0' ? dir : NULL;
}

static void
dump_stop(vmm_t *vmm)
{
    vmm_dump_t *d = &vmm->dump;

    free(d->sent_path);
    free(d->recv_path);
    d->sent_path = NULL;
    d->recv_path = NULL;
    d->state = VMM_DUMP_OFF;
}

/* Create @path, which must not exist; -EEXIST if it does. */
static int
create_new(const char *path)
{
    FILE *f = fopen(path, "wbx");

    if (f == NULL) {
        return errno != 0 ? -errno : -EIO;
    }
    if (fclose(f) != 0) {
        return errno != 0 ? -errno : -EIO;
    }
    return 0;
}

/*
 * Create the pair "vmm-PID-N.sent" / "vmm-PID-N.recv" with the first N
 * whose names are free.  Exclusive creation makes the names unique among
 * connections and processes without any shared counter; the probing is
 * linear, which stays cheap for the few hundred connections of a run.
 */
static int
dump_open(vmm_dump_t *d, const char *dir)
{
    char path[VMM_DUMP_MAX_PATH];
    unsigned n;
    int len, rc;

    for (n = 0; n < VMM_DUMP_MAX_NAMES; n++) {
        len = snprintf(path, sizeof(path), "%s/vmm-%ld-%u.sent", dir,
                       (long)getpid(), n);
        if (len < 0 || (size_t)len >= sizeof(path)) {
            return -ENAMETOOLONG;
        }
        errno = 0;
        rc = create_new(path);
        if (rc == -EEXIST) {
            continue;
        }
        if (rc < 0) {
            return rc;
        }
        d->sent_path = strdup(path);
        /* same length as the .sent name */
        memcpy(path + len - 4, "recv", 4);
        errno = 0;
        rc = d->sent_path != NULL ? create_new(path) : -ENOMEM;
        if (rc == 0) {
            d->recv_path = strdup(path);
            if (d->recv_path != NULL) {
                return 0;
            }
            rc = -ENOMEM;
            (void)unlink(path);
        }
        /* no pair under this name: the .sent goes again */
        memcpy(path + len - 4, "sent", 4);
        (void)unlink(path);
        free(d->sent_path);
        d->sent_path = NULL;
        if (rc != -EEXIST) {
            return rc;
        }
    }
    return -EEXIST;
}

/*
 * Append one record to *@path: a 16-bit little-endian length, one byte,
 * then the message (header and body).  A record that would take the file
 * past VMM_DUMP_MAX_FILE ends that file (the other one goes on).
 */
static int
dump_record(char **path, size_t *written, uint8_t tag,
            const struct vfio_user_header *hdr, const void *body, size_t len)
{
    uint8_t pre[3];
    size_t msg;
    FILE *f;
    int rc = 0;

    if (*path == NULL) {
        return 0; /* that file is full */
    }
    if (len > VMM_DUMP_MAX_MSG - sizeof(*hdr)) {
        return 0; /* too big for a 16-bit length: skipped */
    }
    msg = sizeof(*hdr) + len;
    if (*written + sizeof(pre) + msg > VMM_DUMP_MAX_FILE) {
        free(*path);
        *path = NULL;
        return 0;
    }
    pre[0] = (uint8_t)msg;
    pre[1] = (uint8_t)(msg >> 8);
    pre[2] = tag;
    errno = 0;
    f = fopen(*path, "ab");
    if (f == NULL) {
        return errno != 0 ? -errno : -EIO;
    }
    if (fwrite(pre, sizeof(pre), 1, f) != 1 ||
        fwrite(hdr, sizeof(*hdr), 1, f) != 1 ||
        (len > 0 && fwrite(body, len, 1, f) != 1)) {
        rc = errno != 0 ? -errno : -EIO;
    }
    if (fclose(f) != 0 && rc == 0) {
        rc = errno != 0 ? -errno : -EIO;
    }
    if (rc == 0) {
        *written += sizeof(pre) + msg;
    }
    return rc;
}

/* The fd spec byte of fuzz_stream: a count, and memfds for DMA_MAP. */
static uint8_t
fd_spec(const struct vfio_user_header *hdr, size_t nr_fds)
{
    uint8_t spec = nr_fds > VMM_DUMP_FD_COUNT ? VMM_DUMP_FD_COUNT
                                              : (uint8_t)nr_fds;

    if (spec > 0 && hdr->cmd == VFIO_USER_DMA_MAP) {
        spec |= VMM_DUMP_FD_MEMFD;
    }
    return spec;
}

void
vmm_dump_msg(vmm_t *vmm, bool outgoing, const struct vfio_user_header *hdr,
             const void *body, size_t len, size_t nr_fds)
{
    vmm_dump_t *d = &vmm->dump;
    const char *dir;
    int rc;

    if (d->state == VMM_DUMP_OFF) {
        return;
    }
    if (d->state == VMM_DUMP_UNSET) {
        dir = dump_dir(vmm);
        if (dir == NULL) {
            d->state = VMM_DUMP_OFF;
            return;
        }
        rc = dump_open(d, dir);
        if (rc < 0) {
            d->state = VMM_DUMP_OFF;
            vmm_log(vmm, LOG_WARNING, "dump: no files in %s: %s", dir,
                    strerror(-rc));
            return;
        }
        d->state = VMM_DUMP_ON;
    }
    if (outgoing) {
        rc = dump_record(&d->sent_path, &d->sent_len, fd_spec(hdr, nr_fds),
                         hdr, body, len);
    } else {
        /* control 0: ids as received (gen_corpus.py sets bit 0) */
        rc = dump_record(&d->recv_path, &d->recv_len, 0, hdr, body, len);
    }
    if (rc < 0) {
        vmm_log(vmm, LOG_WARNING, "dump: write failed, dumping stops: %s",
                strerror(-rc));
        dump_stop(vmm);
    }
}

void
vmm_dump_close(vmm_t *vmm)
{
    dump_stop(vmm);
}
