/* ops.c: the API action table: lookup, the served mask, body parsing, the one dispatcher. */
#include "ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "metrics.h"
#include "response.h"
#include "server.h"

const struct api_op *api_table_find(const struct api_table *t, enum route_endpoint ep,
				    enum http_method m)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		if (t->ops[i].endpoint == ep && t->ops[i].method == m)
			return &t->ops[i];
	return NULL;
}

uint64_t api_table_served(const struct api_table *t)
{
	uint64_t served = 0;

	if (!t)
		return 0;
	for (size_t i = 0; i < t->n; i++) {
		enum route_endpoint e = t->ops[i].endpoint;

		if (e > ROUTE_NONE && e < ROUTE_ENDPOINT_COUNT)
			served |= ROUTE_BIT(e);
	}
	return served;
}

static void api_op_metric(int id)
{
	if (id >= 0 && id < M_COUNT)
		metric_inc((enum metric_id)id);
}

/* api_op_count_refusal: a request refused before it reached the VMM counts and fails. */
static void api_op_count_refusal(const struct api_op *op)
{
	if (!op)
		return;
	api_op_metric(op->metric_count);
	api_op_metric(op->metric_fails);
}

int api_request_parse(struct api_request *out, const struct api_op *op, const struct route *rt,
		      const struct http_request *http, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	out->endpoint = rt->endpoint;
	out->method = rt->method;
	out->op = op;
	out->body = http->body ? http->body : "";
	out->body_len = http->body_len;
	snprintf(out->path, sizeof(out->path), "%.*s",
		 (int)(http->path_len < sizeof(out->path) ? http->path_len : sizeof(out->path) - 1),
		 http->path);
	if (rt->id) {
		if (rt->id_len > ROUTE_ID_MAX) {
			snprintf(e->msg, sizeof(e->msg), "The ID is too long.");
			api_op_count_refusal(op);
			return -EINVAL;
		}
		memcpy(out->id, rt->id, rt->id_len);
		out->id[rt->id_len] = '\0';
	}
	if (!op->parse || op->arg_size == 0)
		return 0;
	out->arg = calloc(1, op->arg_size);
	if (!out->arg) {
		snprintf(e->msg, sizeof(e->msg), "Cannot allocate the request.");
		r = -ENOMEM;
	} else {
		r = op->parse(out->arg, out->id, out->body, out->body_len, e);
	}
	/* Refused bodies count as requests and failures, as in Firecracker. */
	if (r)
		api_op_count_refusal(op);
	return r ? (r < 0 ? r : -EINVAL) : 0;
}

void api_request_free(struct api_request *r)
{
	if (r->arg && r->op && r->op->free_arg)
		r->op->free_arg(r->arg);
	free(r->arg);
	r->arg = NULL;
}

/* api_op_phase_refusal: Firecracker's message when @op may not run now, else NULL. */
static const char *api_op_phase_refusal(const struct api_op *op, bool started)
{
	if (op->phase == API_PHASE_PRE_BOOT && started)
		return API_MSG_AFTER_START;
	if (op->phase == API_PHASE_POST_BOOT && !started)
		return API_MSG_BEFORE_START;
	return NULL;
}

void api_table_apply(const struct api_table *t, void *opaque, struct api_request *req,
		     struct api_response *resp)
{
	const struct api_op *op = req->op;
	struct err e = { { 0 } };
	const char *refusal;
	int r;

	resp->status = 0;
	resp->len = 0;
	if (!op || !op->apply) {
		api_fault(resp, 400, "Invalid request.");
		return;
	}
	api_op_metric(op->metric_count);
	refusal = api_op_phase_refusal(op, t->started ? t->started(opaque) : false);
	if (refusal) {
		snprintf(e.msg, sizeof(e.msg), "%s", refusal);
		r = -EINVAL;
	} else {
		r = op->apply(opaque, req, resp, &e);
	}
	if (resp->status == 0 && r == 0)
		resp->status = 204;
	else if (resp->status == 0)
		api_fault(resp, 400, e.msg);
	if (r == 0)
		return;
	api_op_metric(op->metric_fails);
	LOG_INFO("API request refused: %.*s", (int)resp->len, resp->body);
}
