/* ops.h: the API's action table: for each endpoint and method served, its parser and its action. */
#ifndef EMBER_API_OPS_H
#define EMBER_API_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "route.h"

struct api_request;
struct api_response;
struct err;

/* Firecracker's refusals of an operation in the wrong phase. */
#define API_MSG_AFTER_START  "The requested operation is not supported after starting the microVM."
#define API_MSG_BEFORE_START "The requested operation is not supported before starting the microVM."

#define API_NO_METRIC (-1)

enum api_phase {
	API_PHASE_ANY = 0,
	API_PHASE_PRE_BOOT,   /* once the microVM started: refused, API_MSG_AFTER_START */
	API_PHASE_POST_BOOT,  /* before it started: refused, API_MSG_BEFORE_START */
};

/*
 * One (endpoint, method) the server serves. The server finds the row of a
 * routed request, then:
 *   API thread: calloc()s @arg_size bytes as req->arg (none when 0) and runs
 *     @parse(arg, id, body, len, e) on them: the path id ("" when the route
 *     has none) and the raw body. Non-zero refuses the request with 400 and
 *     e->msg; @metric_count and @metric_fails both count it. @parse is NULL
 *     exactly when @arg_size is 0.
 *   VMM thread (api_table_apply): @metric_count counts the request; a request
 *     outside @phase is refused with Firecracker's message; otherwise @apply
 *     runs. @apply may answer itself (resp->status set: api_json(),
 *     api_fault()); when it leaves resp->status 0 the answer is 204 if it
 *     returned 0, else 400 with e->msg. Non-zero means refused: nothing
 *     changed, @metric_fails counts it and a log line says why.
 *   API thread, after the answer: @free_arg(arg) (when set), then free(arg).
 * @metric_count and @metric_fails are enum metric_id values or API_NO_METRIC;
 * a fails counter comes with a count counter of the same group.
 */
struct api_op {
	enum route_endpoint endpoint;
	enum http_method method;
	enum api_phase phase;
	size_t arg_size;
	int (*parse)(void *arg, const char *id, const char *body, size_t len,
		     struct err *e);
	void (*free_arg)(void *arg);
	int (*apply)(void *opaque, struct api_request *req, struct api_response *resp,
		     struct err *e);
	int metric_count, metric_fails;
};

/*
 * A server's whole table: @n rows, at most one per (endpoint, method), and
 * @started(opaque), VMM thread: whether the microVM has started (the phases).
 */
struct api_table {
	const struct api_op *ops;
	size_t n;
	bool (*started)(void *opaque);
};

/* api_table_find: the row for (@ep, @m), NULL when the table has none. Pure. */
const struct api_op *api_table_find(const struct api_table *t, enum route_endpoint ep,
				    enum http_method m);

/* api_table_served: route_match()'s mask: ROUTE_BIT(e) for each endpoint with a row. Pure. */
uint64_t api_table_served(const struct api_table *t);

/*
 * api_request_parse: fill @out for the routed @rt of @http with its table row
 * @op: the path id, the raw body, and op->arg_size bytes calloc()ed and filled
 * by op->parse. Returns 0, or -EINVAL / -ENOMEM with the client's message in
 * @e (answered 400 fault_message); a refused body counts in op's count and
 * fails metrics, as in Firecracker. Either way, release @out with
 * api_request_free() once answered. API thread.
 */
int api_request_parse(struct api_request *out, const struct api_op *op, const struct route *rt,
		      const struct http_request *http, struct err *e);

/* api_request_free: op->free_arg and free() the parsed body; safe twice. API thread. */
void api_request_free(struct api_request *r);

/*
 * api_table_apply: run @req (req->op one of @t's rows, req->arg parsed) on
 * @opaque and fill @resp, as struct api_op says. VMM thread.
 */
void api_table_apply(const struct api_table *t, void *opaque, struct api_request *req,
		     struct api_response *resp);

#endif
