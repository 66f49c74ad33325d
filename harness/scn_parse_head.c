/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scn_parse_head.c - the scenario header (target: device, connect, spawn;
 * negotiation and timeout options) and the discovery statements (info,
 * require), docs/scenarios.md 5.1 and 5.2.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scn_parse.h"
#include "proto/proto.h"

/* ------------------------------------------------------------------ */
/* Header: target and options                                          */
/* ------------------------------------------------------------------ */

static int
header_ok(scn_parser_t *p, const scn_tok_t *t)
{
    if (p->nest > 0) {
        return scn_perr(p, t, "'%s' cannot be inside a block", t->text);
    }
    if (p->seen_body) {
        return scn_perr(p, t, "'%s' must come before the first statement",
                        t->text);
    }
    return 0;
}

/* The source text of tokens [from, n) joined by single spaces. */
char *
scn_raw_text(scn_parser_t *p, const scn_cur_t *c, size_t from)
{
    size_t len = 0, i;
    char *s;

    for (i = from; i < c->n; i++) {
        len += c->t[i].src_end - c->t[i].src_start + 1;
    }
    s = malloc(len + 1);
    if (s == NULL) {
        return NULL;
    }
    len = 0;
    for (i = from; i < c->n; i++) {
        size_t n = c->t[i].src_end - c->t[i].src_start;

        if (len > 0) {
            s[len++] = ' ';
        }
        memcpy(s + len, p->src + c->t[i].src_start, n);
        len += n;
    }
    s[len] = '\0';
    return s;
}

int
scn_parse_target(scn_parser_t *p, scn_cur_t *c, const scn_tok_t *kw)
{
    scn_script_t *sc = p->script;
    const scn_tok_t *t;
    int rc = header_ok(p, kw);

    if (rc < 0) {
        return rc;
    }
    if (sc->target != SCN_TARGET_SCRIPT) {
        return scn_perr(p, kw, "only one target (device, connect or spawn)");
    }
    t = scn_peek(c);
    if (t == NULL) {
        return scn_expected(p, c, strcmp(kw->text, "device") == 0
                                      ? "a device name"
                                  : strcmp(kw->text, "connect") == 0
                                      ? "unix:PATH"
                                      : "a command");
    }
    if (strcmp(kw->text, "device") == 0) {
        sc->target = SCN_TARGET_DEVICE;
        c->i++;
        sc->target_arg = strdup(t->text);
    } else if (strcmp(kw->text, "connect") == 0) {
        if (strncmp(t->text, "unix:", 5) != 0 || t->len == 5) {
            return scn_perr(p, t, "expected unix:PATH");
        }
        sc->target = SCN_TARGET_SOCKET;
        c->i++;
        sc->target_arg = strdup(t->text + 5);
    } else {
        sc->target = SCN_TARGET_SPAWN;
        if (c->n - c->i == 1 && t->whole_quote) {
            sc->target_arg = strdup(t->text);
        } else {
            sc->target_arg = scn_raw_text(p, c, c->i);
        }
        c->i = c->n;
    }
    if (sc->target_arg == NULL) {
        return -ENOMEM;
    }
    sc->target_loc.file = p->file;
    sc->target_loc.line = kw->line;
    sc->target_loc.col = kw->col;
    return scn_end(p, c);
}

enum {
    OPT_VERSION,
    OPT_MAX_MSG_FDS,
    OPT_MAX_DATA_XFER,
    OPT_MAX_DMA_MAPS,
    OPT_PGSIZES,
    OPT_WRITE_MULTIPLE,
    OPT_TWIN_SOCKET,
    OPT_NEGOTIATE,
    OPT_TIMEOUT,
    OPT_CONNECT_TIMEOUT,
};

static const char *const option_names[] = {
    "version",        "max_msg_fds", "max_data_xfer_size", "max_dma_maps",
    "pgsizes",        "write_multiple", "twin_socket",     "negotiate",
    "timeout",        "connect_timeout", NULL};

static int
option_bool(scn_parser_t *p, const scn_tok_t *t, bool *out)
{
    if (t != NULL && strcmp(t->text, "on") == 0) {
        *out = true;
        return 0;
    }
    if (t != NULL && strcmp(t->text, "off") == 0) {
        *out = false;
        return 0;
    }
    return scn_perr(p, t, "expected on or off");
}

static int
option_version(scn_parser_t *p, const scn_tok_t *t, vmm_opts_t *o)
{
    const char *dot = strchr(t->text, '.');
    uint64_t major, minor;
    char msg[128];

    if (dot == NULL ||
        scn_parse_number(t->text, (size_t)(dot - t->text), &major, msg,
                         sizeof(msg)) < 0 ||
        scn_parse_number(dot + 1, strlen(dot + 1), &minor, msg,
                         sizeof(msg)) < 0 ||
        major > 0xffff || minor > 0xffff) {
        return scn_perr(p, t, "expected MAJOR.MINOR (e.g. 0.0)");
    }
    o->major = (uint16_t)major;
    o->minor = (uint16_t)minor;
    return 0;
}

static int
option_number(scn_parser_t *p, scn_cur_t *c, const scn_tok_t *t,
              uint64_t max, uint64_t *out)
{
    int rc = scn_p_const(p, c, out, "an option value");

    if (rc < 0) {
        return rc;
    }
    if (*out == 0 || *out > max) {
        return scn_perr(p, t, "option value must be 1..%llu",
                        (unsigned long long)max);
    }
    return 0;
}

int
scn_parse_option(scn_parser_t *p, scn_cur_t *c, const scn_tok_t *kw)
{
    scn_script_t *sc = p->script;
    vmm_opts_t *o = &sc->opts;
    const scn_tok_t *k = scn_peek(c), *v;
    char msg[160];
    uint64_t n;
    int key, rc = header_ok(p, kw);

    if (rc < 0) {
        return rc;
    }
    if (k == NULL) {
        return scn_expected(p, c, "an option name");
    }
    for (key = 0; option_names[key] != NULL; key++) {
        if (strcmp(option_names[key], k->text) == 0) {
            break;
        }
    }
    if (option_names[key] == NULL) {
        return scn_perr(p, k, "unknown option " TOKFMT, TOKARG(k));
    }
    if (p->options_set & (1u << key)) {
        return scn_perr(p, k, "option %s given twice", k->text);
    }
    p->options_set |= 1u << key;
    c->i++;
    v = scn_peek(c);
    if (v == NULL) {
        return scn_expected(p, c, "an option value");
    }
    switch (key) {
    case OPT_VERSION:
        c->i++;
        rc = option_version(p, v, o);
        break;
    case OPT_MAX_MSG_FDS:
        rc = option_number(p, c, v, PROTO_MAX_MSG_FDS_CEIL, &n);
        o->max_msg_fds = (uint32_t)n;
        break;
    case OPT_MAX_DATA_XFER:
        rc = option_number(p, c, v, PROTO_MAX_DATA_XFER_CEIL, &n);
        o->max_data_xfer_size = n;
        break;
    case OPT_MAX_DMA_MAPS:
        rc = option_number(p, c, v, PROTO_MAX_DMA_MAPS_CEIL, &n);
        o->max_dma_maps = (uint32_t)n;
        break;
    case OPT_PGSIZES:
        rc = option_number(p, c, v, UINT64_MAX, &n);
        if (rc == 0 && (n & 4095) != 0) {
            rc = scn_perr(p, v, "pgsizes must have no bit below 4K");
        }
        o->pgsizes = n;
        break;
    case OPT_WRITE_MULTIPLE:
        c->i++;
        rc = option_bool(p, v, &o->write_multiple);
        break;
    case OPT_TWIN_SOCKET:
        c->i++;
        rc = option_bool(p, v, &o->twin_socket);
        break;
    case OPT_NEGOTIATE: {
        bool on = true;

        c->i++;
        rc = option_bool(p, v, &on);
        o->no_negotiate = !on;
        break;
    }
    default:
        c->i++;
        rc = scn_parse_duration(v->text, &n, msg, sizeof(msg));
        if (rc < 0) {
            return scn_perr(p, v, "%s", msg);
        }
        if (key == OPT_TIMEOUT) {
            o->timeout_ms = n == 0 ? 1 : (int)n;
        } else {
            sc->connect_timeout_ms = n == 0 ? 1 : (int)n;
        }
        break;
    }
    return rc < 0 ? rc : scn_end(p, c);
}

/* ------------------------------------------------------------------ */
/* Discovery                                                           */
/* ------------------------------------------------------------------ */

int
scn_parse_info(scn_parser_t *p, scn_cur_t *c, scn_stmt_t *s, bool require)
{
    static const char *const objs[] = {
        [SCN_OBJ_DEVICE] = "device", [SCN_OBJ_REGION] = "region",
        [SCN_OBJ_IRQ] = "irq",       [SCN_OBJ_CAPS] = "caps",
        [SCN_OBJ_DMA] = "dma",       [SCN_OBJ_CAP] = "cap",
        [SCN_OBJ_EXTCAP] = "extcap", [SCN_OBJ_INPROC] = "inproc",
        [SCN_OBJ_SOCKET] = "socket", [SCN_OBJ_OWN_TARGET] = "own-target"};
    const scn_tok_t *ft;
    unsigned allowed;
    int obj, rc;

    for (obj = SCN_OBJ_DEVICE; obj <= SCN_OBJ_OWN_TARGET; obj++) {
        if (scn_accept(c, objs[obj]) != NULL) {
            break;
        }
    }
    if (obj > SCN_OBJ_OWN_TARGET) {
        /* the migration objects come last: not found is past them */
        obj = scn_accept(c, "mig") != NULL ? SCN_OBJ_MIG
            : scn_accept(c, "new-instance") != NULL ? SCN_OBJ_NEW_INSTANCE
                                                    : SCN_OBJ_NEW_INSTANCE + 1;
    }
    if (obj == SCN_OBJ_NEW_INSTANCE) {
        if (!require) {
            return scn_perr(p, &c->t[c->i - 1], "'new-instance' only after "
                                                "require");
        }
        s->obj = (uint16_t)obj;
        return scn_end(p, c);
    }
    if (obj <= SCN_OBJ_OWN_TARGET && !require && obj > SCN_OBJ_EXTCAP) {
        return scn_perr(p, &c->t[c->i - 1], "'%s' only after require",
                        objs[obj]);
    }
    if (obj > SCN_OBJ_MIG) {
        return scn_expected(p, c, require
                                      ? "device, region, irq, caps, dma, "
                                        "cap, extcap, mig, inproc, socket, "
                                        "own-target or new-instance"
                                      : "device, region, irq, caps, dma, "
                                        "cap, extcap or mig");
    }
    s->obj = (uint16_t)obj;
    if (obj >= SCN_OBJ_INPROC && obj <= SCN_OBJ_OWN_TARGET) {
        return scn_end(p, c);
    }
    if (obj == SCN_OBJ_REGION) {
        rc = scn_p_region(p, c, &s->sel);
    } else if (obj == SCN_OBJ_CAP || obj == SCN_OBJ_EXTCAP) {
        rc = scn_p_value(p, c, &s->sel, "a capability id");
    } else if (obj == SCN_OBJ_IRQ) {
        rc = scn_p_irq_index(p, c, &s->sel);
    } else {
        rc = 0;
    }
    if (rc < 0) {
        return rc;
    }
    ft = scn_peek(c);
    if (!require && obj != SCN_OBJ_DEVICE && obj != SCN_OBJ_CAPS &&
        obj != SCN_OBJ_DMA && obj != SCN_OBJ_MIG && ft != NULL &&
        !ft->quoted && strcmp(ft->text, "error") == 0) {
        s->field = UINT16_MAX;
        return scn_only_error(p, c, s);
    }
    if (ft == NULL || (rc = scn_field_lookup(obj, ft->text)) < 0) {
        return scn_expected(p, c, obj == SCN_OBJ_DEVICE ? "a field (flags, "
                                                         "num_regions, "
                                                         "num_irqs)"
                                  : obj == SCN_OBJ_REGION
                                      ? "a field (size, flags, offset, fd, "
                                        "areas, type, subtype)"
                                  : obj == SCN_OBJ_IRQ
                                      ? "a field (count, flags)"
                                  : obj == SCN_OBJ_MIG
                                      ? "a field (state, flags)"
                                  : obj >= SCN_OBJ_CAP
                                      ? "a field (offset)"
                                  : obj == SCN_OBJ_CAPS
                                      ? "a field (major, minor, "
                                        "max_msg_fds, max_data_xfer_size, "
                                        "max_dma_maps, pgsizes, "
                                        "write_multiple, twin_socket)"
                                      : "a field (reads, writes, "
                                        "read_bytes, write_bytes, errors)");
    }
    s->field = (uint16_t)rc;
    c->i++;
    allowed = SCN_CHK_CMP;
    if (!require) {
        allowed |= SCN_CHK_CAPTURE;
        if (obj == SCN_OBJ_REGION || obj == SCN_OBJ_IRQ ||
            obj >= SCN_OBJ_CAP) {
            allowed |= SCN_CHK_ERROR;
        }
    }
    rc = scn_p_checks(p, c, &s->chk, allowed);
    if (rc == 0 && require && s->chk.cmp == SCN_CMP_NONE) {
        return scn_expected(p, c, "a comparison (== V, >= V, ...)");
    }
    return rc;
}

