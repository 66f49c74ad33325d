/* SPDX-License-Identifier: BSD-3-Clause */
/* test_proto_util.h - message builders shared by the test_proto*.c tests. */
#ifndef TEST_PROTO_UTIL_H
#define TEST_PROTO_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "common/testutil.h"

/* a command message for @cmd carrying a copy of @len bytes of @body */
static inline proto_msg_t
tp_cmd(uint16_t cmd, const void *body, size_t len)
{
    proto_msg_t m = PROTO_MSG_INIT;

    proto_hdr_cmd(&m.hdr, 7, cmd, len, false);
    if (len > 0) {
        m.body = malloc(len);
        assert_non_null(m.body);
        memcpy(m.body, body, len);
    }
    m.body_len = len;
    return m;
}

/* the successful reply to @req carrying a copy of @body */
static inline proto_msg_t
tp_reply(const proto_msg_t *req, const void *body, size_t len)
{
    proto_msg_t m = tp_cmd(req->hdr.cmd, body, len);

    proto_hdr_reply(&m.hdr, &req->hdr, len, 0);
    return m;
}

/*
 * Pretend @msg carries @n fds.  Validators only count them; -1 slots keep
 * proto_msg_free() from closing anything real.
 */
static inline void
tp_fake_fds(proto_msg_t *msg, size_t n)
{
    size_t i;

    free(msg->fds);
    msg->fds = n > 0 ? malloc(n * sizeof(int)) : NULL;
    for (i = 0; i < n; i++) {
        msg->fds[i] = -1;
    }
    msg->nr_fds = n;
}

/* proto_check_request on a fresh message, freed before returning */
static inline int
tp_check(uint16_t cmd, const void *body, size_t len, size_t nr_fds,
         const proto_caps_t *caps)
{
    proto_msg_t m = tp_cmd(cmd, body, len);
    const proto_cmd_t *c = proto_cmd_lookup(cmd);
    int ret;

    tp_fake_fds(&m, nr_fds);
    ret = proto_check_request(&m, caps, c != NULL ? c->dir : PROTO_C2S);
    proto_msg_free(&m);
    return ret;
}

#endif
