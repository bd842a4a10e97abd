/* response.h: the API's answers: Firecracker's fault_message, and JSON bodies. */
#ifndef EMBER_API_RESPONSE_H
#define EMBER_API_RESPONSE_H

#include <stddef.h>

#include "server.h"

/*
 * api_fault: set @resp to @status {"fault_message": @msg} (JSON-escaped), cut to fit. Pure.
 */
void api_fault(struct api_response *resp, int status, const char *msg);

/* api_json: set @resp to 200 with the JSON body @json (@len bytes). */
void api_json(struct api_response *resp, const char *json, size_t len);

#endif
