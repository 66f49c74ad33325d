/* SPDX-License-Identifier: BSD-3-Clause */
/* caps.c - the VERSION capabilities JSON: defaults, parsing and formatting. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "proto/proto.h"

/* Nesting deeper than this is no capability object we know. */
#define CAPS_JSON_DEPTH 16

void
proto_caps_default(proto_caps_t *caps)
{
    memset(caps, 0, sizeof(*caps));
    caps->max_msg_fds = PROTO_DEFAULT_MAX_MSG_FDS;
    caps->max_data_xfer_size = PROTO_DEFAULT_MAX_DATA_XFER;
    caps->max_dma_maps = PROTO_DEFAULT_MAX_DMA_MAPS;
    caps->pgsizes = PROTO_DEFAULT_PGSIZES;
}

/*
 * The largest message either side accepts: the header plus the biggest of
 * (a) a data transfer of max_data_xfer_size with PROTO_MSG_OVERHEAD bytes of
 * command structs, region caps or IO fd arrays around it, (b) a
 * REGION_WRITE_MULTI of PROTO_WRITE_MULTI_MAX writes, and (c) a VERSION with
 * PROTO_MAX_JSON bytes of JSON.  (b) and (c) matter only when a peer
 * negotiated a tiny max_data_xfer_size; they keep those messages legal.
 */
uint64_t
proto_msg_max_size(const proto_caps_t *caps)
{
    uint64_t xfer = PROTO_DEFAULT_MAX_DATA_XFER;
    uint64_t body;
    uint64_t wm = sizeof(struct vfio_user_write_multi) +
                  (uint64_t)PROTO_WRITE_MULTI_MAX *
                      sizeof(struct vfio_user_write_multi_data);
    uint64_t ver = sizeof(struct vfio_user_version) + PROTO_MAX_JSON;

    if (caps != NULL) {
        xfer = caps->max_data_xfer_size;
    }
    /* a caps struct never parsed (or forged) must not make this wrap */
    if (xfer > PROTO_MAX_DATA_XFER_CEIL) {
        xfer = PROTO_MAX_DATA_XFER_CEIL;
    }
    body = xfer + PROTO_MSG_OVERHEAD;
    if (body < wm) {
        body = wm;
    }
    if (body < ver) {
        body = ver;
    }
    return PROTO_HDR_SIZE + body;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

/*
 * A JSON integer in [lo, hi].  Doubles, strings, booleans and values out
 * of range (negative ones included) are -EINVAL.
 */
static int
get_uint(struct json_object *jo, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t v;

    if (!json_object_is_type(jo, json_type_int)) {
        return -EINVAL;
    }
    if (json_object_get_int64(jo) < 0) {
        return -EINVAL;
    }
    errno = 0;
    v = json_object_get_uint64(jo);
    if (errno != 0 || v < lo || v > hi) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static bool
is_pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

/*
 * QEMU sends {"pgsize": N, "max_bitmap_size": N}; libvfio-user only
 * "pgsize".  Neither affects how messages are checked, so the object is
 * recorded and its pgsize kept for the reply; bad types are still errors.
 */
static int
parse_migration(struct json_object *jo, proto_caps_t *caps)
{
    struct json_object *v;
    uint64_t n;

    if (!json_object_is_type(jo, json_type_object)) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(jo, "pgsize", &v)) {
        if (get_uint(v, 1, UINT64_MAX, &n) < 0 || !is_pow2(n)) {
            return -EINVAL;
        }
        caps->migration_pgsize = n;
    }
    if (json_object_object_get_ex(jo, "max_bitmap_size", &v)) {
        if (get_uint(v, 1, UINT64_MAX, &n) < 0) {
            return -EINVAL;
        }
    }
    caps->has_migration = true;
    return 0;
}

/*
 * The spec's form is an object {"supported": bool, "fd_index": N}; a bare
 * boolean is tolerated as shorthand for "supported".
 */
static int
parse_twin_socket(struct json_object *jo, proto_caps_t *caps)
{
    struct json_object *v;
    uint64_t n;

    caps->has_twin_socket = true;
    if (json_object_is_type(jo, json_type_boolean)) {
        caps->twin_socket = json_object_get_boolean(jo);
        return 0;
    }
    if (!json_object_is_type(jo, json_type_object)) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(jo, "supported", &v)) {
        if (!json_object_is_type(v, json_type_boolean)) {
            return -EINVAL;
        }
        caps->twin_socket = json_object_get_boolean(v);
    }
    if (json_object_object_get_ex(jo, "fd_index", &v)) {
        if (get_uint(v, 0, PROTO_MAX_MSG_FDS_CEIL - 1, &n) < 0) {
            return -EINVAL;
        }
        caps->has_twin_fd_index = true;
        caps->twin_fd_index = (uint32_t)n;
    }
    return 0;
}

static int
parse_caps_object(struct json_object *jc, proto_caps_t *caps)
{
    struct json_object *v;
    uint64_t n;

    if (!json_object_is_type(jc, json_type_object)) {
        return -EINVAL;
    }
    /*
     * max_msg_fds may be 0: a peer that cannot receive fds says so, and
     * libvfio-user accepts it.  The others are limits a 0 would make
     * every transfer or mapping illegal, so 0 is malformed.
     */
    if (json_object_object_get_ex(jc, "max_msg_fds", &v)) {
        if (get_uint(v, 0, PROTO_MAX_MSG_FDS_CEIL, &n) < 0) {
            return -EINVAL;
        }
        caps->max_msg_fds = (uint32_t)n;
    }
    if (json_object_object_get_ex(jc, "max_data_xfer_size", &v)) {
        if (get_uint(v, 1, PROTO_MAX_DATA_XFER_CEIL, &n) < 0) {
            return -EINVAL;
        }
        caps->max_data_xfer_size = n;
    }
    if (json_object_object_get_ex(jc, "max_dma_maps", &v)) {
        if (get_uint(v, 1, PROTO_MAX_DMA_MAPS_CEIL, &n) < 0) {
            return -EINVAL;
        }
        caps->max_dma_maps = (uint32_t)n;
    }
    if (json_object_object_get_ex(jc, "pgsizes", &v)) {
        /*
         * A bitmap of page sizes: no page is smaller than 4 KiB, so bits
         * below 4096 are garbage.  The 4 KiB bit itself is not required: a
         * 64 KiB-page host may offer only that.
         */
        if (get_uint(v, 1, UINT64_MAX, &n) < 0 ||
            (n & (PROTO_DEFAULT_PGSIZES - 1)) != 0) {
            return -EINVAL;
        }
        caps->pgsizes = n;
    }
    if (json_object_object_get_ex(jc, "twin_socket", &v)) {
        if (parse_twin_socket(v, caps) < 0) {
            return -EINVAL;
        }
    }
    if (json_object_object_get_ex(jc, "write_multiple", &v)) {
        if (!json_object_is_type(v, json_type_boolean)) {
            return -EINVAL;
        }
        caps->has_write_multiple = true;
        caps->write_multiple = json_object_get_boolean(v);
    }
    if (json_object_object_get_ex(jc, "migration", &v)) {
        if (parse_migration(v, caps) < 0) {
            return -EINVAL;
        }
    }
    return 0;
}

/* true when @s[0..len) is nothing but JSON whitespace */
static bool
all_space(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
            return false;
        }
    }
    return true;
}

int
proto_caps_parse(const char *json, size_t len, proto_caps_t *caps)
{
    struct json_tokener *tok;
    struct json_object *top;
    struct json_object *jc;
    proto_caps_t tmp;
    size_t end;
    int ret = -EINVAL;

    proto_caps_default(caps);
    if (len == 0) {
        return 0;
    }
    if (json == NULL) {
        return -EINVAL;
    }
    /* one terminating NUL is allowed; any other NUL is garbage */
    if (json[len - 1] == '\0') {
        len--;
    }
    if (len >= PROTO_MAX_JSON || memchr(json, '\0', len) != NULL) {
        return -EINVAL;
    }
    if (all_space(json, len)) {
        return 0;
    }

    tok = json_tokener_new_ex(CAPS_JSON_DEPTH);
    if (tok == NULL) {
        return -ENOMEM;
    }
    /* strict: no trailing commas or other leniencies a peer could rely on */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    top = json_tokener_parse_ex(tok, json, (int)len);
    if (top == NULL) {
        /* incomplete input ends in json_tokener_continue: also malformed */
        json_tokener_free(tok);
        return -EINVAL;
    }
    end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);

    if (end > len || !all_space(json + end, len - end) ||
        !json_object_is_type(top, json_type_object)) {
        goto out;
    }

    /* fill a copy so a failure leaves @caps at the defaults */
    proto_caps_default(&tmp);
    if (json_object_object_get_ex(top, "capabilities", &jc)) {
        if (parse_caps_object(jc, &tmp) < 0) {
            goto out;
        }
    }
    *caps = tmp;
    ret = 0;
out:
    json_object_put(top);
    return ret;
}

/* ------------------------------------------------------------------ */
/* Formatting                                                          */
/* ------------------------------------------------------------------ */

/* add @val under @key, dropping @val if that fails; 0 or -1 */
static int
add(struct json_object *obj, const char *key, struct json_object *val)
{
    if (val == NULL) {
        return -1;
    }
    if (json_object_object_add(obj, key, val) != 0) {
        json_object_put(val);
        return -1;
    }
    return 0;
}

static struct json_object *
new_uint(uint64_t v)
{
    if (v <= INT64_MAX) {
        return json_object_new_int64((int64_t)v);
    }
    return json_object_new_uint64(v);
}

/*
 * libvfio-user answers with max_msg_fds, max_data_xfer_size, "migration"
 * (when it has migration) and "twin_socket" (when it set one up); we add
 * max_dma_maps and pgsizes, which QEMU reads, and write_multiple on
 * request.  Key order is fixed so the text is reproducible in traces.
 */
char *
proto_caps_format(const proto_caps_t *caps, bool with_twin, bool with_wm)
{
    struct json_object *top = NULL;
    struct json_object *jc = NULL;
    struct json_object *sub = NULL;
    char *out = NULL;
    const char *text;

    top = json_object_new_object();
    jc = json_object_new_object();
    if (top == NULL || jc == NULL) {
        goto out;
    }
    if (add(jc, "max_msg_fds", new_uint(caps->max_msg_fds)) < 0 ||
        add(jc, "max_data_xfer_size", new_uint(caps->max_data_xfer_size)) <
            0 ||
        add(jc, "max_dma_maps", new_uint(caps->max_dma_maps)) < 0 ||
        add(jc, "pgsizes", new_uint(caps->pgsizes)) < 0) {
        goto out;
    }
    if (caps->has_migration) {
        uint64_t pgsize = caps->migration_pgsize != 0 ? caps->migration_pgsize
                                                      : PROTO_DEFAULT_PGSIZES;

        sub = json_object_new_object();
        if (sub == NULL || add(sub, "pgsize", new_uint(pgsize)) < 0) {
            goto out;
        }
        if (add(jc, "migration", sub) < 0) {
            sub = NULL;
            goto out;
        }
        sub = NULL;
    }
    if (with_twin) {
        sub = json_object_new_object();
        if (sub == NULL ||
            add(sub, "supported", json_object_new_boolean(caps->twin_socket)) <
                0) {
            goto out;
        }
        if (caps->has_twin_fd_index &&
            add(sub, "fd_index", new_uint(caps->twin_fd_index)) < 0) {
            goto out;
        }
        if (add(jc, "twin_socket", sub) < 0) {
            sub = NULL;
            goto out;
        }
        sub = NULL;
    }
    if (with_wm && add(jc, "write_multiple",
                       json_object_new_boolean(caps->write_multiple)) < 0) {
        goto out;
    }
    if (add(top, "capabilities", jc) < 0) {
        jc = NULL;
        goto out;
    }
    jc = NULL;
    text = json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN);
    if (text != NULL) {
        out = strdup(text);
    }
out:
    json_object_put(sub);
    json_object_put(jc);
    json_object_put(top);
    return out;
}
