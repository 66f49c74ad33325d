/* SPDX-License-Identifier: BSD-3-Clause */
/* vmm_trace.c - the client's wire tracer and log sink. */

#include <stdarg.h>
#include <stdio.h>

#include "client/private.h"

void
vmm_trace_init(vmm_t *vmm)
{
    if (vmm->opts.trace != NULL) {
        vmm->trace = vmm->opts.trace;
    } else if (proto_trace_enabled()) {
        vmm->trace = stderr;
    } else {
        vmm->trace = NULL;
    }
}

void
vmm_trace_msg(vmm_t *vmm, bool outgoing, const struct vfio_user_header *hdr,
              const void *body, size_t len, size_t nr_fds)
{
    char line[512];

    if (vmm->trace != NULL) {
        proto_trace_format(line, sizeof(line),
                           outgoing ? "client>" : "client<", hdr, body, len,
                           nr_fds);
        fprintf(vmm->trace, "%s\n", line);
        fflush(vmm->trace);
    }
    if (vmm->hook != NULL) {
        vmm->hook(vmm->hook_arg, outgoing, hdr, body, len, nr_fds);
    }
    vmm_dump_msg(vmm, outgoing, hdr, body, len, nr_fds);
}

void
vmm_log(vmm_t *vmm, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (vmm->log == NULL && vmm->trace == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (vmm->log != NULL) {
        vmm->log(vmm->log_arg, level, line);
    } else {
        fprintf(vmm->trace, "client: %s\n", line);
        fflush(vmm->trace);
    }
}

VMM_EXPORT void
vmm_set_trace_hook(vmm_t *vmm, vmm_trace_cb_t *cb, void *arg)
{
    if (vmm == NULL) {
        return;
    }
    vmm->hook = cb;
    vmm->hook_arg = cb != NULL ? arg : NULL;
}

VMM_EXPORT void
vmm_set_log(vmm_t *vmm, vmm_log_cb_t *cb, void *arg)
{
    if (vmm == NULL) {
        return;
    }
    vmm->log = cb;
    vmm->log_arg = cb != NULL ? arg : NULL;
}
