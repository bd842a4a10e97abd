/* test_api_dispatch.c: unit tests of the API's action table (api/ops.c) and of the VMM's rows. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "check.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "response.h"
#include "route.h"
#include "server.h"
#include "vmm/api.h"

static const struct {
	const char *group, *name;
} metric_names[] = {
#define T_METRIC_NAME(g, n, s) { #g, #n },
	METRICS_LIST(T_METRIC_NAME)
#undef T_METRIC_NAME
};

static struct api_request req;
static struct api_response resp;
static struct vmm vmm;                 /* never started: only its state is read */
static uint64_t before[M_COUNT];

static const char *tmethod_name(enum http_method m)
{
	switch (m) {
	case HTTP_METHOD_GET: return "GET";
	case HTTP_METHOD_PUT: return "PUT";
	case HTTP_METHOD_PATCH: return "PATCH";
	default: return "?";
	}
}

/* tpath: @e's template with each {id} as "t_1". */
static const char *tpath(enum route_endpoint e, char *buf, size_t cap)
{
	const char *t = route_endpoint_path(e);
	size_t n = 0;

	while (*t && n + 4 < cap) {
		if (*t == '{') {
			memcpy(buf + n, "t_1", 3);
			n += 3;
			while (*t && *t != '}')
				t++;
			if (*t)
				t++;
		} else {
			buf[n++] = *t++;
		}
	}
	buf[n] = '\0';
	return buf;
}

static void tsnap(void)
{
	for (int i = 0; i < M_COUNT; i++)
		before[i] = metric_get((enum metric_id)i);
}

/* tmoved: how many counters moved since tsnap(); @a and @b (or -1) by exactly one each. */
static int tmoved(int a, int b)
{
	int moved = 0;

	for (int i = 0; i < M_COUNT; i++) {
		uint64_t d = metric_get((enum metric_id)i) - before[i];

		if (d == 0)
			continue;
		moved++;
		if ((i != a && i != b) || d != 1)
			return -1;
	}
	return moved;
}

/*
 * tserve: what the server does with one request, against @t: route, find the
 * row, parse on "the API thread", apply on "the VMM thread". Returns the
 * answer's status; resp holds the answer.
 */
static int tserve(const struct api_table *t, void *opaque, const char *method,
		  const char *path, const char *body)
{
	char raw[4096];
	struct http_request hr;
	struct http_error he;
	struct err e = { { 0 } };
	struct route rt;
	const struct api_op *op;
	size_t blen = body ? strlen(body) : 0;
	int n = snprintf(raw, sizeof(raw), "%s %s HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s",
			 method, path, blen, body ? body : "");

	memset(&resp, 0, sizeof(resp));
	if (n < 0 || (size_t)n >= sizeof(raw) ||
	    http_parse_request(raw, (size_t)n, HTTP_DEFAULT_MAX_BODY, &hr, &he) != n)
		return -1;
	if (route_match(hr.method, hr.path, hr.path_len, hr.body_len > 0, api_table_served(t),
			&rt))
		return -2;
	op = api_table_find(t, rt.endpoint, rt.method);
	if (!op)
		return -3;
	if (api_request_parse(&req, op, &rt, &hr, &e) < 0) {
		api_fault(&resp, 400, e.msg);
	} else {
		api_table_apply(t, opaque, &req, &resp);
	}
	api_request_free(&req);
	api_request_free(&req);  /* safe twice */
	return resp.status;
}

/* tfault_is: the answer is 400 {"fault_message": @msg}. */
static int tfault_is(const char *msg)
{
	char want[512];

	snprintf(want, sizeof(want), "{\"fault_message\":\"%s\"}", msg);
	return resp.status == 400 && resp.len == strlen(want) && memcmp(resp.body, want, resp.len) == 0;
}

/* Every row is routable, alone for its (endpoint, method), and consistent. */
static void test_rows(void)
{
	const struct api_table *t = &vmm_api_table;
	uint64_t served = api_table_served(t);

	CHECK(t->n > 0 && t->started != NULL);
	for (size_t i = 0; i < t->n; i++) {
		const struct api_op *op = &t->ops[i];
		char path[128];
		int rc;

		tpath(op->endpoint, path, sizeof(path));
		rc = route_match(op->method, path, strlen(path), op->method != HTTP_METHOD_GET,
				 served, &(struct route){ 0 });
		if (rc != 0)
			CHECK_FAIL_("%s %s: route_match %d", tmethod_name(op->method), path, rc);
		if (api_table_find(t, op->endpoint, op->method) != op)
			CHECK_FAIL_("%s %s: not the only row", tmethod_name(op->method), path);
		if (!op->apply)
			CHECK_FAIL_("%s %s: no apply", tmethod_name(op->method), path);
		if ((op->parse != NULL) != (op->arg_size > 0) || (op->free_arg && !op->parse))
			CHECK_FAIL_("%s %s: parse, arg_size and free_arg disagree",
				    tmethod_name(op->method), path);
		if (op->method == HTTP_METHOD_GET && (op->phase != API_PHASE_ANY || op->parse))
			CHECK_FAIL_("GET %s: a GET has no body and no phase", path);
	}
	/* A served endpoint has a row for every method Firecracker allows on it. */
	for (int e = ROUTE_NONE + 1; e < ROUTE_ENDPOINT_COUNT; e++) {
		if (!route_endpoint_served(served, (enum route_endpoint)e))
			continue;
		for (int m = HTTP_METHOD_GET; m <= HTTP_METHOD_PATCH; m++) {
			char path[128];
			struct route rt;

			tpath((enum route_endpoint)e, path, sizeof(path));
			if (route_match((enum http_method)m, path, strlen(path), m != HTTP_METHOD_GET,
					served, &rt) == 0 &&
			    !api_table_find(t, (enum route_endpoint)e, (enum http_method)m))
				CHECK_FAIL_("%s %s: allowed and served, but no row",
					    tmethod_name((enum http_method)m), path);
		}
	}
	CHECK(api_table_find(t, ROUTE_BALLOON, HTTP_METHOD_GET) == NULL);
	CHECK(api_table_find(NULL, ROUTE_VERSION, HTTP_METHOD_GET) == NULL);
	CHECK_EQ_U(api_table_served(NULL), 0);
}

static int tends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Metrics: a <method>_api_requests <x>_count, and its <x>_fails for PUT and PATCH. */
static void test_metric_pairs(void)
{
	const struct api_table *t = &vmm_api_table;

	CHECK_EQ_U(sizeof(metric_names) / sizeof(metric_names[0]), M_COUNT);
	for (size_t i = 0; i < t->n; i++) {
		const struct api_op *op = &t->ops[i];
		const char *path = route_endpoint_path(op->endpoint), *group, *cn, *fn;
		char want_group[32];

		if ((op->endpoint == ROUTE_SERIAL || op->endpoint == ROUTE_SNAPSHOT_CREATE ||
		     op->endpoint == ROUTE_SNAPSHOT_LOAD) && op->method == HTTP_METHOD_PUT) {
			/* Firecracker counts no requests of PUT /serial and /snapshot/{create,load} */
			CHECK(op->metric_count == API_NO_METRIC && op->metric_fails == API_NO_METRIC);
			continue;
		}
		if (op->metric_count < 0 || op->metric_count >= M_COUNT) {
			CHECK_FAIL_("%s %s: no count metric", tmethod_name(op->method), path);
			continue;
		}
		group = metric_names[op->metric_count].group;
		cn = metric_names[op->metric_count].name;
		snprintf(want_group, sizeof(want_group), "%s_api_requests",
			 op->method == HTTP_METHOD_GET ? "get" :
			 op->method == HTTP_METHOD_PUT ? "put" : "patch");
		if (strcmp(group, want_group) != 0 || !tends_with(cn, "_count"))
			CHECK_FAIL_("%s %s: count is %s.%s", tmethod_name(op->method), path, group, cn);
		if (op->method == HTTP_METHOD_GET) {
			if (op->metric_fails != API_NO_METRIC)
				CHECK_FAIL_("GET %s: GETs have no fails metric", path);
			continue;
		}
		if (op->metric_fails < 0 || op->metric_fails >= M_COUNT) {
			CHECK_FAIL_("%s %s: no fails metric", tmethod_name(op->method), path);
			continue;
		}
		fn = metric_names[op->metric_fails].name;
		if (strcmp(metric_names[op->metric_fails].group, group) != 0 ||
		    !tends_with(fn, "_fails") || strlen(fn) != strlen(cn) ||
		    strncmp(fn, cn, strlen(cn) - strlen("_count")) != 0)
			CHECK_FAIL_("%s %s: %s.%s does not go with %s.%s", tmethod_name(op->method),
				    path, metric_names[op->metric_fails].group, fn, group, cn);
	}
}

/* Out of phase: refused with Firecracker's words; count and fails move, nothing else. */
static void test_phase_refusals(void)
{
	vmm.state = VMM_RUNNING;
	tsnap();
	CHECK_EQ_I(tserve(&vmm_api_table, &vmm, "PUT", "/boot-source",
			  "{\"kernel_image_path\": \"/nonexistent/vmlinux\"}"), 400);
	CHECK(tfault_is(API_MSG_AFTER_START));
	CHECK_EQ_I(tmoved(M_put_api_requests_boot_source_count,
			  M_put_api_requests_boot_source_fails), 2);

	tsnap();
	CHECK_EQ_I(tserve(&vmm_api_table, &vmm, "PATCH", "/machine-config", "{\"vcpu_count\": 2}"),
		   400);
	CHECK(tfault_is(API_MSG_AFTER_START));
	CHECK_EQ_I(tmoved(M_patch_api_requests_machine_cfg_count,
			  M_patch_api_requests_machine_cfg_fails), 2);

	/* PUT /serial has no metrics: refused all the same */
	tsnap();
	CHECK_EQ_I(tserve(&vmm_api_table, &vmm, "PUT", "/serial",
			  "{\"serial_out_path\": \"/nonexistent/out\"}"), 400);
	CHECK(tfault_is(API_MSG_AFTER_START));
	CHECK_EQ_I(tmoved(-1, -1), 0);

	/* InstanceStart again: PUT /actions keeps its own rule */
	tsnap();
	CHECK_EQ_I(tserve(&vmm_api_table, &vmm, "PUT", "/actions",
			  "{\"action_type\": \"InstanceStart\"}"), 400);
	CHECK(tfault_is(API_MSG_AFTER_START));
	CHECK_EQ_I(tmoved(M_put_api_requests_actions_count, M_put_api_requests_actions_fails), 2);

	vmm.state = VMM_NOT_STARTED;
	tsnap();
	CHECK_EQ_I(tserve(&vmm_api_table, &vmm, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 400);
	CHECK(tfault_is(API_MSG_BEFORE_START));
	CHECK_EQ_I(tmoved(M_patch_api_requests_vm_count, M_patch_api_requests_vm_fails), 2);

	tsnap();
	CHECK_EQ_I(tserve(&vmm_api_table, &vmm, "PATCH", "/drives/rootfs",
			  "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/nonexistent\"}"), 400);
	CHECK(tfault_is(API_MSG_BEFORE_START));
	CHECK_EQ_I(tmoved(M_patch_api_requests_drive_count, M_patch_api_requests_drive_fails), 2);

	tsnap();
	CHECK_EQ_I(tserve(&vmm_api_table, &vmm, "PUT", "/actions",
			  "{\"action_type\": \"SendCtrlAltDel\"}"), 400);
	CHECK(tfault_is(API_MSG_BEFORE_START));
	CHECK_EQ_I(tmoved(M_put_api_requests_actions_count, M_put_api_requests_actions_fails), 2);
}

/* A body the parser refuses never reaches the VMM, and counts as a request and a failure. */
static void test_parse_refusals(void)
{
	vmm.state = VMM_NOT_STARTED;
	tsnap();
	CHECK_EQ_I(tserve(&vmm_api_table, &vmm, "PUT", "/drives/rootfs", "{\"drive_id\": 1}"), 400);
	CHECK(resp.len > 0 && !tfault_is(API_MSG_AFTER_START));
	CHECK_EQ_I(tmoved(M_put_api_requests_drive_count, M_put_api_requests_drive_fails), 2);

	tsnap();
	CHECK_EQ_I(tserve(&vmm_api_table, &vmm, "PUT", "/actions", "{\"action_type\": \"Reboot\"}"),
		   400);
	CHECK_EQ_I(tmoved(M_put_api_requests_actions_count, M_put_api_requests_actions_fails), 2);

	/* the path id must match the body's */
	tsnap();
	CHECK_EQ_I(tserve(&vmm_api_table, &vmm, "PUT", "/network-interfaces/eth0",
			  "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap0\"}"), 400);
	CHECK_EQ_I(tmoved(M_put_api_requests_network_count, M_put_api_requests_network_fails), 2);

	/* parsed before the phase is known: the parser's message, even after start */
	vmm.state = VMM_RUNNING;
	tsnap();
	CHECK_EQ_I(tserve(&vmm_api_table, &vmm, "PUT", "/logger", "[]"), 400);
	CHECK(!tfault_is(API_MSG_AFTER_START));
	CHECK_EQ_I(tmoved(M_put_api_requests_logger_count, M_put_api_requests_logger_fails), 2);
	vmm.state = VMM_NOT_STARTED;
}

/* A GET counts its request, nothing else, in either phase. */
static void test_get_counts(void)
{
	static const char ver[] = "{\"firecracker_version\":\"";

	for (int started = 0; started < 2; started++) {
		vmm.state = started ? VMM_RUNNING : VMM_NOT_STARTED;
		tsnap();
		CHECK_EQ_I(tserve(&vmm_api_table, &vmm, "GET", "/version", NULL), 200);
		CHECK(resp.len > sizeof(ver) && memcmp(resp.body, ver, sizeof(ver) - 1) == 0);
		CHECK_EQ_I(tmoved(M_get_api_requests_vmm_version_count, -1), 1);

		tsnap();
		CHECK_EQ_I(tserve(&vmm_api_table, &vmm, "GET", "/machine-config", NULL), 200);
		CHECK_EQ_I(tmoved(M_get_api_requests_machine_cfg_count, -1), 1);
	}
	vmm.state = VMM_NOT_STARTED;
}

/* ---- the dispatcher's contract, on a stub table ------------------------------ */

struct tstub {
	bool started;
	int applied;
	int refuse;           /* apply returns this */
	int answer;           /* apply sets this status itself (0: leaves it) */
	int parsed_value;     /* what the last apply saw in its arg */
};

static bool tstub_started(void *opaque)
{
	return ((struct tstub *)opaque)->started;
}

static int tstub_parse(void *arg, const char *id, const char *body, size_t len,
		       struct err *e)
{
	int *v = arg;

	if (strcmp(id, "t_1") != 0 || len == 0 || body[0] != '7') {
		snprintf(e->msg, sizeof(e->msg), "stub: bad body");
		return -EINVAL;
	}
	*v = 7;
	return 0;
}

static int tstub_apply(void *opaque, struct api_request *r, struct api_response *a,
		       struct err *e)
{
	struct tstub *st = opaque;

	st->applied++;
	st->parsed_value = r->arg ? *(int *)r->arg : -1;
	if (st->answer)
		api_fault(a, st->answer, "stub: answered");
	if (st->refuse)
		snprintf(e->msg, sizeof(e->msg), "stub: refused");
	return st->refuse;
}

static const struct api_op tstub_ops[] = {
	{ ROUTE_DRIVE, HTTP_METHOD_PUT, API_PHASE_PRE_BOOT,
	  sizeof(int), tstub_parse, NULL, tstub_apply,
	  M_put_api_requests_drive_count, M_put_api_requests_drive_fails },
	{ ROUTE_BALLOON, HTTP_METHOD_GET, API_PHASE_POST_BOOT,
	  0, NULL, NULL, tstub_apply, API_NO_METRIC, API_NO_METRIC },
};

static const struct api_table tstub_table = { tstub_ops, 2, tstub_started };

static void test_dispatcher(void)
{
	struct tstub st = { 0 };

	/* only what the table holds is served */
	CHECK_EQ_U(api_table_served(&tstub_table), ROUTE_BIT(ROUTE_DRIVE) | ROUTE_BIT(ROUTE_BALLOON));
	CHECK_EQ_I(tserve(&tstub_table, &st, "GET", "/version", NULL), -2);

	/* accepted, no answer of its own: 204, the parsed arg reached apply */
	tsnap();
	CHECK_EQ_I(tserve(&tstub_table, &st, "PUT", "/drives/t_1", "7"), 204);
	CHECK_EQ_I(st.applied, 1);
	CHECK_EQ_I(st.parsed_value, 7);
	CHECK_EQ_U(resp.len, 0);
	CHECK_EQ_I(tmoved(M_put_api_requests_drive_count, -1), 1);

	/* refused: 400 with its message, fails counted */
	st.refuse = -EINVAL;
	tsnap();
	CHECK_EQ_I(tserve(&tstub_table, &st, "PUT", "/drives/t_1", "7"), 400);
	CHECK(tfault_is("stub: refused"));
	CHECK_EQ_I(tmoved(M_put_api_requests_drive_count, M_put_api_requests_drive_fails), 2);

	/* refused with an answer of its own: kept */
	st.answer = 409;
	CHECK_EQ_I(tserve(&tstub_table, &st, "PUT", "/drives/t_1", "7"), 409);
	CHECK(memmem(resp.body, resp.len, "stub: answered", 14) != NULL);
	st.refuse = 0;
	st.answer = 0;

	/* a parse failure never reaches apply */
	st.applied = 0;
	tsnap();
	CHECK_EQ_I(tserve(&tstub_table, &st, "PUT", "/drives/t_1", "8"), 400);
	CHECK(tfault_is("stub: bad body"));
	CHECK_EQ_I(st.applied, 0);
	CHECK_EQ_I(tmoved(M_put_api_requests_drive_count, M_put_api_requests_drive_fails), 2);

	/* phases: refused without running apply */
	st.started = true;
	CHECK_EQ_I(tserve(&tstub_table, &st, "PUT", "/drives/t_1", "7"), 400);
	CHECK(tfault_is(API_MSG_AFTER_START));
	CHECK_EQ_I(st.applied, 0);
	CHECK_EQ_I(tserve(&tstub_table, &st, "GET", "/balloon", NULL), 204);
	CHECK_EQ_I(st.applied, 1);
	CHECK_EQ_I(st.parsed_value, -1);
	st.started = false;
	tsnap();
	CHECK_EQ_I(tserve(&tstub_table, &st, "GET", "/balloon", NULL), 400);
	CHECK(tfault_is(API_MSG_BEFORE_START));
	CHECK_EQ_I(st.applied, 1);
	CHECK_EQ_I(tmoved(-1, -1), 0);

	/* a request without a row is answered, not applied */
	memset(&req, 0, sizeof(req));
	api_table_apply(&tstub_table, &st, &req, &resp);
	CHECK_EQ_I(resp.status, 400);
	CHECK_EQ_I(st.applied, 1);
}

int main(void)
{
	log_set_level(LOG_LEVEL_ERROR);  /* no refusal lines among the results */
	vmm.instance_id = "test";
	RUN(test_rows);
	RUN(test_metric_pairs);
	RUN(test_phase_refusals);
	RUN(test_parse_refusals);
	RUN(test_get_counts);
	RUN(test_dispatcher);
	return check_summary();
}
