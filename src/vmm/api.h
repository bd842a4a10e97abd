/* api.h: the VMM side of the API: the action table the API server serves. */
#ifndef EMBER_VMM_API_H
#define EMBER_VMM_API_H

#include "ops.h"
#include "server.h"
#include "version.h"
#include "vmm/vmm.h"

/*
 * vmm_api_table: one row per endpoint and method ember serves (ops.h), applied
 * to the struct vmm given as the server's opaque: 204, 200 with JSON for GETs,
 * or 400 {"fault_message"} with Firecracker's text. Pre-boot requests after
 * InstanceStart and post-boot requests before it are refused without touching
 * anything. Its actions run on the VMM (event-loop) thread.
 */
extern const struct api_table vmm_api_table;

#endif
