/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rec_text.c - text helpers of the recorder: bounded growing buffers, byte
 * lists as hex items split over continuation lines, region and IRQ
 * selector names, errno names, quoting.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/rec.h"

/* Bytes per hex item; long blobs use longer items (4096 items at most). */
#define HEX_ITEM_BYTES 32u
#define HEX_MAX_ITEMS 4000u
/* Continuation lines of a byte list are indented this much. */
#define HEX_INDENT "    "

/* ------------------------------------------------------------------ */
/* Buffers                                                             */
/* ------------------------------------------------------------------ */

void
rec_buf_free(rec_buf_t *b)
{
    if (b == NULL) {
        return;
    }
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->full = false;
}

/* Room for @n more bytes and a NUL; false (and @full) past the bound. */
static bool
buf_room(rec_buf_t *b, size_t n)
{
    size_t want;
    char *p;

    if (b->full) {
        return false;
    }
    if (__builtin_add_overflow(b->len, n + 1, &want) || want > REC_MAX_BUF) {
        b->full = true;
        return false;
    }
    if (want <= b->cap) {
        return true;
    }
    if (want < 256) {
        want = 256;
    }
    if (want < b->cap * 2 && b->cap * 2 <= REC_MAX_BUF) {
        want = b->cap * 2;
    }
    p = realloc(b->p, want);
    if (p == NULL) {
        b->full = true;
        return false;
    }
    b->p = p;
    b->cap = want;
    return true;
}

void
rec_buf_put(rec_buf_t *b, const char *s, size_t n)
{
    if (n == 0 || !buf_room(b, n)) {
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
rec_buf_puts(rec_buf_t *b, const char *s)
{
    rec_buf_put(b, s, strlen(s));
}

void
rec_buf_printf(rec_buf_t *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n < sizeof(small)) {
        rec_buf_put(b, small, (size_t)n);
        return;
    }
    if (!buf_room(b, (size_t)n)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/*
 * Bytes as hex items.  A short list stays on the statement's line; a
 * longer one puts one item per continuation line, which keeps diffs of
 * recordings readable.  Items grow for very long lists so a list never
 * has more than HEX_MAX_ITEMS of them (the language allows 4096).
 */
void
rec_buf_hex(rec_buf_t *b, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t per = HEX_ITEM_BYTES;
    size_t done = 0;

    if (n / per >= HEX_MAX_ITEMS) {
        per = n / HEX_MAX_ITEMS + 1;
    }
    if (n == 0) {
        rec_buf_puts(b, " hex:");
        return;
    }
    while (done < n) {
        size_t k = n - done < per ? n - done : per;
        size_t i;

        if (done > 0) {
            rec_buf_puts(b, " \\\n" HEX_INDENT);
        } else {
            rec_buf_puts(b, " ");
        }
        if (!buf_room(b, 4 + 2 * k)) {
            return;
        }
        memcpy(b->p + b->len, "hex:", 4);
        b->len += 4;
        for (i = 0; i < k; i++) {
            b->p[b->len++] = digits[p[done + i] >> 4];
            b->p[b->len++] = digits[p[done + i] & 0xf];
        }
        b->p[b->len] = '\0';
        done += k;
    }
}

void
rec_buf_comment(rec_buf_t *b, const char *text, size_t len)
{
    size_t i;

    rec_buf_puts(b, "# ");
    if (!buf_room(b, len + 1)) {
        return;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        /* a comment is one line of printable text (section 1) */
        b->p[b->len++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    b->p[b->len++] = '\n';
    b->p[b->len] = '\0';
}

void
rec_buf_size(rec_buf_t *b, uint64_t v)
{
    if (v != 0 && v % (1ull << 30) == 0) {
        rec_buf_printf(b, "%lluG", (unsigned long long)(v >> 30));
    } else if (v != 0 && v % (1ull << 20) == 0) {
        rec_buf_printf(b, "%lluM", (unsigned long long)(v >> 20));
    } else if (v != 0 && v % 1024 == 0) {
        rec_buf_printf(b, "%lluK", (unsigned long long)(v >> 10));
    } else {
        rec_buf_printf(b, "0x%llx", (unsigned long long)v);
    }
}

/* Characters that end a bare token or give it another meaning. */
static bool
bare_ok(const char *s)
{
    size_t i;

    if (*s == '\0' || strcmp(s, "{") == 0 || strcmp(s, "}") == 0) {
        return false;
    }
    for (i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c == 0x7f || strchr("#'\"()\\", c) != NULL) {
            return false;
        }
    }
    return true;
}

void
rec_buf_token(rec_buf_t *b, const char *text)
{
    size_t i;

    if (bare_ok(text)) {
        rec_buf_puts(b, text);
        return;
    }
    if (strchr(text, '\'') == NULL) {
        bool printable = true;

        for (i = 0; text[i] != '\0'; i++) {
            unsigned char c = (unsigned char)text[i];

            if (c < 0x20 || c == 0x7f) {
                printable = false;
            }
        }
        if (printable) {
            rec_buf_printf(b, "'%s'", text);
            return;
        }
    }
    /* double quotes: the only form with escapes */
    rec_buf_puts(b, "\"");
    for (i = 0; text[i] != '\0'; i++) {
        unsigned char c = (unsigned char)text[i];

        if (c == '"' || c == '\\') {
            rec_buf_printf(b, "\\%c", c);
        } else if (c < 0x20 || c == 0x7f) {
            rec_buf_printf(b, "\\x%02x", c);
        } else {
            rec_buf_put(b, (const char *)&c, 1);
        }
    }
    rec_buf_puts(b, "\"");
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

void
rec_sel_name(uint32_t region, char *buf, size_t size)
{
    if (region <= 5) {
        snprintf(buf, size, "bar%u", region);
    } else if (region == 6) {
        snprintf(buf, size, "rom");
    } else if (region == 7) {
        snprintf(buf, size, "config");
    } else if (region == 8) {
        snprintf(buf, size, "vga");
    } else {
        snprintf(buf, size, "region %u", region);
    }
}

void
rec_irq_name(uint32_t index, char *buf, size_t size)
{
    static const char *const names[] = {"intx", "msi", "msix", "err", "req"};

    if (index < sizeof(names) / sizeof(names[0])) {
        snprintf(buf, size, "%s", names[index]);
    } else {
        snprintf(buf, size, "%u", index);
    }
}

/*
 * The errno names of docs/scenarios.md 2.5.  Where two names share a
 * number (ENOTSUP and EOPNOTSUPP on Linux) the first listed is written.
 */
#define REC_ERRNOS(XX)                                                         \
    XX(EPERM) XX(ENOENT) XX(ESRCH) XX(EINTR) XX(EIO) XX(ENXIO) XX(E2BIG)       \
    XX(EBADF) XX(EAGAIN) XX(ENOMEM) XX(EACCES) XX(EFAULT) XX(EBUSY)            \
    XX(EEXIST) XX(ENODEV) XX(EINVAL) XX(ENFILE) XX(EMFILE) XX(ENOTTY)          \
    XX(EFBIG) XX(ENOSPC) XX(ESPIPE) XX(EROFS) XX(EPIPE) XX(EDOM) XX(ERANGE)    \
    XX(ENAMETOOLONG) XX(ENOLCK) XX(ENOSYS) XX(ENOTEMPTY) XX(ELOOP)             \
    XX(ENOMSG) XX(ENODATA) XX(EPROTO) XX(EBADMSG) XX(EOVERFLOW) XX(EILSEQ)     \
    XX(ENOTSOCK) XX(EMSGSIZE) XX(ENOTSUP) XX(EOPNOTSUPP) XX(ENOBUFS)           \
    XX(ENOTCONN) XX(ECONNRESET) XX(ETIMEDOUT) XX(EALREADY) XX(EINPROGRESS)     \
    XX(ESTALE) XX(EREMOTEIO) XX(ENOMEDIUM) XX(ECANCELED)

const char *
rec_errno_name(uint32_t err)
{
    static const struct {
        int no;
        const char *name;
    } table[] = {
#define XX(e) {e, #e},
        REC_ERRNOS(XX)
#undef XX
    };
    size_t i;

    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if ((uint32_t)table[i].no == err) {
            return table[i].name;
        }
    }
    return NULL;
}

void
rec_buf_errno(rec_buf_t *b, uint32_t err)
{
    const char *name = rec_errno_name(err);

    if (name != NULL) {
        rec_buf_printf(b, " error %s", name);
    } else if (err >= 1 && err <= 4095) {
        rec_buf_printf(b, " error %u", err);
    } else {
        /* the client sees EIO for these; "any" says what was recorded */
        rec_buf_puts(b, " error any");
    }
}
