/* request.h: turn a routed HTTP request into an api_request (API thread, pure). */
#ifndef EMBER_API_REQUEST_H
#define EMBER_API_REQUEST_H

#include "config.h"
#include "http.h"
#include "route.h"
#include "server.h"

/*
 * api_request_parse: fill @out for the routed @rt of @http: the path id and
 * the body parsed by the matching cfg_parse_* function. Returns 0, or
 * -EINVAL with the client's message in @e (answered 400 fault_message).
 */
int api_request_parse(struct api_request *out, const struct route *rt,
		      const struct http_request *http, struct cfg_err *e);

/*
 * api_request_metric: the metrics id of the "<x>_count" counter for a PUT or
 * PATCH on @ep ("<x>_fails" is the next id), or -1 when there is none. Pure.
 */
int api_request_metric(enum route_endpoint ep, enum http_method m);

/* api_request_free: release what api_request_parse() allocated; safe twice. */
void api_request_free(struct api_request *r);

/*
 * api_fault: set @resp to 400 {"fault_message": @msg} (JSON-escaped). Pure.
 */
void api_fault(struct api_response *resp, int status, const char *msg);

/* api_json: set @resp to 200 with the JSON body @json (@len bytes). */
void api_json(struct api_response *resp, const char *json, size_t len);

#endif
