/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_negotiate.c - the VERSION payload: validation and the capabilities
 * JSON parser.  A payload the parser accepts must survive a format/parse
 * round trip unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proto_msg_t msg = PROTO_MSG_INIT;
    proto_caps_t caps, again, defaults;
    const struct vfio_user_version *ver;
    char *json;

    if (size > PROTO_MAX_JSON + sizeof(*ver)) {
        return 0;
    }
    proto_caps_default(&defaults);
    proto_hdr_cmd(&msg.hdr, 1, VFIO_USER_VERSION, size, false);
    msg.body = (uint8_t *)data;
    msg.body_len = size;
    if (proto_check_request(&msg, &defaults, PROTO_C2S) != 0) {
        return 0;
    }
    ver = (const struct vfio_user_version *)data;
    if (proto_caps_parse((const char *)ver->data, size - sizeof(*ver),
                         &caps) != 0) {
        return 0;
    }
    json = proto_caps_format(&caps, caps.has_twin_socket,
                             caps.has_write_multiple);
    if (json == NULL) {
        return 0;
    }
    if (proto_caps_parse(json, strlen(json) + 1, &again) != 0 ||
        again.max_msg_fds != caps.max_msg_fds ||
        again.max_data_xfer_size != caps.max_data_xfer_size ||
        again.max_dma_maps != caps.max_dma_maps ||
        again.pgsizes != caps.pgsizes) {
        abort(); /* what we print, we must read back */
    }
    free(json);
    return 0;
}
