/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_scenario.c - the .vus scenario parser on arbitrary text: it must
 * accept or reject with a diagnostic, never crash, and a rejection must
 * name a place and a message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vfio-user/scenario.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scn_script_t *script = NULL;
    scn_diag_t diag;
    int rc;

    /* bigger inputs only slow the fuzzer down; the limits have tests */
    if (size > 64 * 1024) {
        return 0;
    }
    memset(&diag, 0, sizeof(diag));
    rc = scn_parse_buf("fuzz.vus", (const char *)data, size,
                       SCN_PARSE_NO_INCLUDE, &script, &diag);
    if (rc == 0) {
        if (script == NULL) {
            abort(); /* success must hand back a script */
        }
        scn_script_free(script);
    } else if (rc == -EINVAL && diag.msg[0] == '\0') {
        abort(); /* a syntax error without a message helps nobody */
    }
    return 0;
}
