/* SPDX-License-Identifier: BSD-3-Clause */
/* migration.h - what other server modules may ask the migration module. */
#ifndef VFU_SERVER_MIGRATION_H
#define VFU_SERVER_MIGRATION_H

#include <stdbool.h>

#include "server/private.h"

/**
 * migr_device_state - the device's migration state as the client sees it
 * (enum vfio_user_device_mig_state); VFIO_USER_DEVICE_STATE_RUNNING when
 * the device is not migratable.
 */
uint32_t
migr_device_state(const vfu_ctx_t *ctx);

/**
 * migr_enabled - whether vfu_setup_device_migration_callbacks() succeeded.
 */
bool
migr_enabled(const vfu_ctx_t *ctx);

/**
 * migr_reset - after a successful DEVICE_RESET: the migration state is
 * RUNNING again.
 */
void
migr_reset(vfu_ctx_t *ctx);

#endif /* VFU_SERVER_MIGRATION_H */
