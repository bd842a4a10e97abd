/* vmm_api.h: the VMM side of the API: apply one parsed request and answer it. */
#ifndef EMBER_VMM_API_H
#define EMBER_VMM_API_H

#include "server.h"
#include "version.h"
#include "vmm.h"

/*
 * vmm_api_handle: apply @req to the struct vmm @opaque and fill @resp: 204,
 * 200 with JSON for GETs, or 400 {"fault_message"} with Firecracker's text.
 * Pre-boot requests after InstanceStart and post-boot requests before it are
 * refused without touching anything. VMM (event-loop) thread.
 */
void vmm_api_handle(void *opaque, struct api_request *req, struct api_response *resp);

#endif
