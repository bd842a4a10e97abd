/* test_route.c: unit tests of api/route.c, the API's method and path router. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "http.h"
#include "ops.h"
#include "route.h"
#include "vmm/api.h"

static struct route rt;
static char msg[ROUTE_FAULT_MAX];
/* What ember serves: the endpoints of the VMM's action table (set in main). */
static uint64_t served_mask;

/* troute: route @path (a C string); bodies as Firecracker expects them by default. */
static int troute(enum http_method m, const char *path, int has_body)
{
	return route_match(m, path, strlen(path), has_body, served_mask, &rt);
}

/* troute_req: route a parsed request, as the server does. */
static int troute_req(const struct http_request *req)
{
	return route_match(req->method, req->path, req->path_len, req->body_len > 0, served_mask,
			   &rt);
}

/* troute_fault: the fault_message for the last route, for @method_name. */
static const char *troute_fault(const char *method_name)
{
	int n = route_fault_message(&rt, method_name, method_name ? strlen(method_name) : 0,
				    msg, sizeof(msg));

	return n < 0 ? "(error)" : msg;
}

static int troute_span_eq(const char *p, size_t n, const char *want)
{
	return p && strlen(want) == n && memcmp(p, want, n) == 0;
}

static const struct {
	enum http_method method;
	const char *path;
	enum route_endpoint endpoint;
	const char *id;
} served[] = {
	{ HTTP_METHOD_GET, "/", ROUTE_INSTANCE_INFO, NULL },
	{ HTTP_METHOD_GET, "/version", ROUTE_VERSION, NULL },
	{ HTTP_METHOD_GET, "/machine-config", ROUTE_MACHINE_CONFIG, NULL },
	{ HTTP_METHOD_PUT, "/machine-config", ROUTE_MACHINE_CONFIG, NULL },
	{ HTTP_METHOD_PATCH, "/machine-config", ROUTE_MACHINE_CONFIG, NULL },
	{ HTTP_METHOD_GET, "/vm/config", ROUTE_VM_CONFIG, NULL },
	{ HTTP_METHOD_PUT, "/boot-source", ROUTE_BOOT_SOURCE, NULL },
	{ HTTP_METHOD_PUT, "/drives/rootfs", ROUTE_DRIVE, "rootfs" },
	{ HTTP_METHOD_PATCH, "/drives/scratch_2", ROUTE_DRIVE, "scratch_2" },
	{ HTTP_METHOD_PUT, "/network-interfaces/eth0", ROUTE_NETWORK_INTERFACE, "eth0" },
	{ HTTP_METHOD_PATCH, "/network-interfaces/A_9", ROUTE_NETWORK_INTERFACE, "A_9" },
	{ HTTP_METHOD_PUT, "/vsock", ROUTE_VSOCK, NULL },
	{ HTTP_METHOD_PUT, "/actions", ROUTE_ACTIONS, NULL },
	{ HTTP_METHOD_PATCH, "/vm", ROUTE_VM, NULL },
	{ HTTP_METHOD_PUT, "/logger", ROUTE_LOGGER, NULL },
	{ HTTP_METHOD_PUT, "/metrics", ROUTE_METRICS, NULL },
	{ HTTP_METHOD_PUT, "/serial", ROUTE_SERIAL, NULL },
	{ HTTP_METHOD_PUT, "/snapshot/create", ROUTE_SNAPSHOT_CREATE, NULL },
	{ HTTP_METHOD_PUT, "/snapshot/load", ROUTE_SNAPSHOT_LOAD, NULL },
	{ HTTP_METHOD_GET, "/mmds", ROUTE_MMDS, NULL },
	{ HTTP_METHOD_PUT, "/mmds", ROUTE_MMDS, NULL },
	{ HTTP_METHOD_PATCH, "/mmds", ROUTE_MMDS, NULL },
	{ HTTP_METHOD_PUT, "/mmds/config", ROUTE_MMDS_CONFIG, NULL },
};

static void test_served_endpoints(void)
{
	for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++) {
		int body = served[i].method != HTTP_METHOD_GET;
		int rc = troute(served[i].method, served[i].path, body);

		if (rc != 0 || rt.error != ROUTE_OK || rt.endpoint != served[i].endpoint) {
			CHECK_FAIL_("%s: rc %d error %d endpoint %d", served[i].path, rc,
				    rt.error, rt.endpoint);
			continue;
		}
		if (served[i].id)
			CHECK(troute_span_eq(rt.id, rt.id_len, served[i].id));
		else
			CHECK(rt.id == NULL && rt.id_len == 0);
		CHECK(route_endpoint_served(served_mask, rt.endpoint));
	}
}

/* Firecracker's endpoints ember does not serve: known, and said so. */
static void test_unsupported_endpoints(void)
{
	static const struct {
		enum http_method method;
		const char *path;
		enum route_endpoint endpoint;
	} later[] = {
		{ HTTP_METHOD_GET, "/balloon", ROUTE_BALLOON },
		{ HTTP_METHOD_PUT, "/balloon", ROUTE_BALLOON },
		{ HTTP_METHOD_PATCH, "/balloon", ROUTE_BALLOON },
		{ HTTP_METHOD_GET, "/balloon/statistics", ROUTE_BALLOON_STATISTICS },
		{ HTTP_METHOD_PATCH, "/balloon/statistics", ROUTE_BALLOON_STATISTICS },
		{ HTTP_METHOD_PATCH, "/balloon/hinting/start", ROUTE_BALLOON_HINTING_START },
		{ HTTP_METHOD_GET, "/balloon/hinting/status", ROUTE_BALLOON_HINTING_STATUS },
		{ HTTP_METHOD_PATCH, "/balloon/hinting/stop", ROUTE_BALLOON_HINTING_STOP },
		{ HTTP_METHOD_PUT, "/cpu-config", ROUTE_CPU_CONFIG },
		{ HTTP_METHOD_PUT, "/pmem/pm0", ROUTE_PMEM },
		{ HTTP_METHOD_PATCH, "/pmem/pm0", ROUTE_PMEM },
		{ HTTP_METHOD_PUT, "/entropy", ROUTE_ENTROPY },
		{ HTTP_METHOD_GET, "/hotplug/memory", ROUTE_HOTPLUG_MEMORY },
		{ HTTP_METHOD_PUT, "/hotplug/memory", ROUTE_HOTPLUG_MEMORY },
		{ HTTP_METHOD_PATCH, "/hotplug/memory", ROUTE_HOTPLUG_MEMORY },
	};

	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
		int rc = troute(later[i].method, later[i].path, later[i].method != HTTP_METHOD_GET);

		if (rc != -ENOTSUP || rt.error != ROUTE_ERR_NOT_SUPPORTED ||
		    rt.endpoint != later[i].endpoint)
			CHECK_FAIL_("%s: rc %d error %d endpoint %d", later[i].path, rc,
				    rt.error, rt.endpoint);
		CHECK(!route_endpoint_served(served_mask, rt.endpoint));
	}
	troute(HTTP_METHOD_PUT, "/entropy", 1);
	CHECK_STR(troute_fault("PUT"), "PUT /entropy is not supported by ember.");
	troute(HTTP_METHOD_PUT, "/pmem/pm0", 1);
	CHECK_STR(troute_fault(NULL), "PUT /pmem/{id} is not supported by ember.");
	/* PATCH under /balloon may come without a body (hinting/start) */
	CHECK_EQ_I(troute(HTTP_METHOD_PATCH, "/balloon/hinting/start", 0), -ENOTSUP);
}

/* The method is not one the path allows: Firecracker's text, first segment quoted. */
static void test_invalid_method_and_path(void)
{
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/vm", 1), -ENOENT);
	CHECK_EQ_U(rt.error, ROUTE_ERR_METHOD_PATH);
	CHECK_EQ_U(rt.endpoint, ROUTE_NONE);
	CHECK_STR(troute_fault("PUT"), "Invalid request method and/or path: PUT vm.");
	CHECK_EQ_I(troute(HTTP_METHOD_GET, "/drives/rootfs", 0), -ENOENT);
	CHECK_STR(troute_fault("GET"), "Invalid request method and/or path: GET drives.");
	CHECK_EQ_I(troute(HTTP_METHOD_GET, "/drives", 0), -ENOENT);
	CHECK_STR(troute_fault("GET"), "Invalid request method and/or path: GET drives.");
	CHECK_EQ_I(troute(HTTP_METHOD_GET, "/actions", 0), -ENOENT);
	CHECK_EQ_I(troute(HTTP_METHOD_PATCH, "/boot-source", 1), -ENOENT);
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/version", 1), -ENOENT);
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/", 1), -ENOENT);
	CHECK_STR(troute_fault("PUT"), "Invalid request method and/or path: PUT .");
	CHECK_EQ_I(troute(HTTP_METHOD_GET, "/snapshot/create", 0), -ENOENT);
	CHECK_STR(troute_fault("GET"), "Invalid request method and/or path: GET snapshot.");
	/* other methods, with or without a body, quoted as received */
	CHECK_EQ_I(troute(HTTP_METHOD_OTHER, "/machine-config", 0), -ENOENT);
	CHECK_STR(troute_fault("DELETE"), "Invalid request method and/or path: DELETE machine-config.");
	CHECK_EQ_I(troute(HTTP_METHOD_OTHER, "/actions", 1), -ENOENT);
	CHECK_STR(troute_fault("POST"), "Invalid request method and/or path: POST actions.");
	/* an out-of-range method value is just another unknown method */
	CHECK_EQ_I(troute((enum http_method)77, "/version", 0), -ENOENT);
}

static void test_unknown_paths(void)
{
	static const char *const unknown[] = {
		"/foo", "/foo/bar", "/Version", "/version/x", "/vm/config/x", "/vm/foo",
		"/machine-config/x", "/drives/a/b", "/actions/", "/%76ersion", "/vm;x",
		"/.", "/..", "/balloon/x", "/balloon/hinting", "/mmds/x", "/hotplug",
		"/machine-config//", "//version", "/drives//a", "/vm//config",
	};

	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		int rc = troute(HTTP_METHOD_GET, unknown[i], 0);

		if (rc != -ENOENT || rt.error != ROUTE_ERR_METHOD_PATH)
			CHECK_FAIL_("%s: rc %d error %d", unknown[i], rc, rt.error);
	}
	troute(HTTP_METHOD_GET, "/foo/bar", 0);
	CHECK_STR(troute_fault("GET"), "Invalid request method and/or path: GET foo.");
	troute(HTTP_METHOD_GET, "//version", 0);
	CHECK_STR(troute_fault("GET"), "Invalid request method and/or path: GET .");
	/* not an absolute path at all (the parser never gives one) */
	CHECK_EQ_I(route_match(HTTP_METHOD_GET, "version", 7, false, served_mask, &rt), -ENOENT);
	CHECK_EQ_I(route_match(HTTP_METHOD_GET, "", 0, false, served_mask, &rt), -ENOENT);
	CHECK_EQ_I(route_match(HTTP_METHOD_GET, NULL, 0, false, served_mask, &rt), -ENOENT);
	CHECK_STR(troute_fault("GET"), "Invalid request method and/or path: GET .");
	CHECK_EQ_I(route_match(HTTP_METHOD_GET, "/", 1, false, served_mask, NULL), -EINVAL);
}

/* Body presence is checked first, for any path (Firecracker's order). */
static void test_body_rules(void)
{
	CHECK_EQ_I(troute(HTTP_METHOD_GET, "/machine-config", 1), -EINVAL);
	CHECK_EQ_U(rt.error, ROUTE_ERR_GET_BODY);
	CHECK_STR(troute_fault("GET"), "GET request cannot have a body.");
	CHECK_EQ_I(troute(HTTP_METHOD_GET, "/nowhere", 1), -EINVAL);
	CHECK_EQ_U(rt.error, ROUTE_ERR_GET_BODY);
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/boot-source", 0), -EINVAL);
	CHECK_STR(troute_fault("PUT"), "Empty PUT request.");
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/nowhere", 0), -EINVAL);
	CHECK_EQ_U(rt.error, ROUTE_ERR_EMPTY_PUT);
	CHECK_EQ_I(troute(HTTP_METHOD_PATCH, "/vm", 0), -EINVAL);
	CHECK_STR(troute_fault("PATCH"), "Empty PATCH request.");
	/* other methods are refused by path, not by body */
	CHECK_EQ_I(troute(HTTP_METHOD_OTHER, "/vm", 0), -ENOENT);
}

static void test_ids(void)
{
	char path[128];

	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/drives", 1), -EINVAL);
	CHECK_EQ_U(rt.error, ROUTE_ERR_EMPTY_ID);
	CHECK_EQ_U(rt.endpoint, ROUTE_DRIVE);
	CHECK_STR(troute_fault("PUT"), "The ID cannot be empty.");
	CHECK_EQ_I(troute(HTTP_METHOD_PATCH, "/network-interfaces/", 1), -EINVAL);
	CHECK_EQ_U(rt.error, ROUTE_ERR_EMPTY_ID);
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/drives/root-fs", 1), -EINVAL);
	CHECK_EQ_U(rt.error, ROUTE_ERR_INVALID_ID);
	CHECK_STR(troute_fault("PUT"),
		  "API Resource IDs can only contain alphanumeric characters and underscores.");
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/drives/%41", 1), -EINVAL);
	CHECK_EQ_U(rt.error, ROUTE_ERR_INVALID_ID);
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/drives/a.b", 1), -EINVAL);
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/drives/..", 1), -EINVAL);
	CHECK_EQ_U(rt.error, ROUTE_ERR_INVALID_ID);
	/* "/drives//" is an empty segment after the trim, refused like any other */
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/drives//", 1), -ENOENT);
	CHECK_STR(troute_fault("PUT"), "Invalid request method and/or path: PUT drives.");
	/* a trailing slash after the id is dropped, as Firecracker does */
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/drives/rootfs/", 1), 0);
	CHECK(troute_span_eq(rt.id, rt.id_len, "rootfs"));
	/* 64 characters are fine, 65 are not */
	strcpy(path, "/drives/");
	memset(path + 8, 'a', 64);
	path[72] = '\0';
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, path, 1), 0);
	CHECK_EQ_U(rt.id_len, 64);
	CHECK(rt.id == path + 8);
	strcat(path, "b");
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, path, 1), -EINVAL);
	CHECK_EQ_U(rt.error, ROUTE_ERR_ID_TOO_LONG);
	CHECK_STR(troute_fault("PUT"), "API Resource IDs can be at most 64 characters long.");
}

static void test_trailing_slash(void)
{
	CHECK_EQ_I(troute(HTTP_METHOD_GET, "/machine-config/", 0), 0);
	CHECK_EQ_U(rt.endpoint, ROUTE_MACHINE_CONFIG);
	CHECK_EQ_I(troute(HTTP_METHOD_GET, "/vm/config/", 0), 0);
	CHECK_EQ_U(rt.endpoint, ROUTE_VM_CONFIG);
	CHECK_EQ_I(troute(HTTP_METHOD_GET, "//", 0), 0);
	CHECK_EQ_U(rt.endpoint, ROUTE_INSTANCE_INFO);
	CHECK_EQ_I(troute(HTTP_METHOD_GET, "/version//", 0), -ENOENT);
}

static void test_snapshot_messages(void)
{
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/snapshot", 1), -EINVAL);
	CHECK_STR(troute_fault("PUT"), "Missing snapshot operation type.");
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/snapshot/", 1), -EINVAL);
	CHECK_EQ_U(rt.error, ROUTE_ERR_SNAPSHOT_TYPE);
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/snapshot/foo", 1), -ENOENT);
	CHECK_STR(troute_fault("PUT"), "Invalid request method and/or path: PUT /snapshot/foo.");
	CHECK_EQ_I(troute(HTTP_METHOD_PUT, "/snapshot/foo/bar", 1), -ENOENT);
	CHECK_STR(troute_fault("PUT"), "Invalid request method and/or path: PUT /snapshot/foo.");
}

static void test_fault_message_bounds(void)
{
	char small[64];
	int n;

	troute(HTTP_METHOD_PUT, "/vm", 1);
	n = route_fault_message(&rt, "PUT", 3, msg, sizeof(msg));
	CHECK_EQ_I(n, strlen("Invalid request method and/or path: PUT vm."));
	for (int cap = 0; cap <= n; cap++)
		CHECK_EQ_I(route_fault_message(&rt, "PUT", 3, small, cap), -ENOSPC);
	CHECK_EQ_I(route_fault_message(&rt, "PUT", 3, small, n + 1), n);
	CHECK_STR(small, msg);
	CHECK_EQ_I(route_fault_message(&rt, "PUT", 3, NULL, 0), -ENOSPC);
	CHECK_EQ_I(route_fault_message(NULL, "PUT", 3, msg, sizeof(msg)), -EINVAL);
	/* nothing to say about a routed request */
	troute(HTTP_METHOD_GET, "/version", 0);
	CHECK_EQ_I(route_fault_message(&rt, "GET", 3, msg, sizeof(msg)), -EINVAL);
	/* an unknown method needs its name */
	troute(HTTP_METHOD_OTHER, "/version", 0);
	CHECK_EQ_I(route_fault_message(&rt, NULL, 0, msg, sizeof(msg)), -EINVAL);
	CHECK_EQ_I(route_fault_message(&rt, "HEAD", HTTP_MAX_REQUEST_LINE + 1, msg, sizeof(msg)),
		   -ENOSPC);
}

static void test_endpoint_table(void)
{
	uint64_t want = 0;
	size_t nserved = sizeof(served) / sizeof(served[0]);

	/* ember serves exactly the endpoints and methods of served[]: the VMM's table says so */
	for (size_t i = 0; i < nserved; i++) {
		want |= ROUTE_BIT(served[i].endpoint);
		if (!api_table_find(&vmm_api_table, served[i].endpoint, served[i].method))
			CHECK_FAIL_("%s: no row in the VMM's table", served[i].path);
	}
	CHECK_EQ_U(vmm_api_table.n, nserved);
	CHECK_EQ_U(served_mask, want);
	for (int e = ROUTE_NONE + 1; e < ROUTE_ENDPOINT_COUNT; e++) {
		const char *t = route_endpoint_path((enum route_endpoint)e);

		if (t[0] != '/')
			CHECK_FAIL_("endpoint %d has no path template", e);
		CHECK_EQ_I(route_endpoint_served(served_mask, (enum route_endpoint)e),
			   (want & ROUTE_BIT(e)) != 0);
	}
	CHECK_STR(route_endpoint_path(ROUTE_DRIVE), "/drives/{drive_id}");
	CHECK_STR(route_endpoint_path(ROUTE_NONE), "");
	CHECK_STR(route_endpoint_path(ROUTE_ENDPOINT_COUNT), "");
	CHECK(!route_endpoint_served(served_mask, ROUTE_NONE));
	CHECK(!route_endpoint_served(served_mask, ROUTE_ENDPOINT_COUNT));
	CHECK(!route_endpoint_served(~(uint64_t)0, ROUTE_NONE));
	CHECK(!route_endpoint_served(~(uint64_t)0, ROUTE_ENDPOINT_COUNT));
}

/* The mask alone decides what is served; the paths, methods and their order stay Firecracker's. */
static void test_served_mask(void)
{
	CHECK_EQ_I(route_match(HTTP_METHOD_GET, "/version", 8, false, 0, &rt), -ENOTSUP);
	CHECK_EQ_U(rt.error, ROUTE_ERR_NOT_SUPPORTED);
	CHECK_STR(troute_fault("GET"), "GET /version is not supported by ember.");
	/* not served is said before the id is checked, as for Firecracker's other endpoints */
	CHECK_EQ_I(route_match(HTTP_METHOD_PUT, "/drives/a.b", 11, true, 0, &rt), -ENOTSUP);
	CHECK_EQ_U(rt.endpoint, ROUTE_DRIVE);
	/* a method the path does not allow stays Firecracker's error */
	CHECK_EQ_I(route_match(HTTP_METHOD_PUT, "/version", 8, true, 0, &rt), -ENOENT);
	CHECK_EQ_I(route_match(HTTP_METHOD_GET, "/balloon", 8, false, ROUTE_BIT(ROUTE_BALLOON),
			       &rt), 0);
	CHECK_EQ_U(rt.endpoint, ROUTE_BALLOON);
	CHECK_EQ_I(route_match(HTTP_METHOD_PUT, "/pmem/pm0", 9, true, ROUTE_BIT(ROUTE_PMEM), &rt),
		   0);
	CHECK(troute_span_eq(rt.id, rt.id_len, "pm0"));
}

/* From bytes to a route: what the server will do for each request. */
static void test_parse_then_route(void)
{
	const char *s = "PUT /drives/rootfs HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
			"DELETE /vm HTTP/1.1\r\n\r\n"
			"PUT /machine-config HTTP/1.1\r\n\r\n";
	struct http_request req;
	struct http_error err;
	size_t off = 0;
	int rc;

	rc = http_parse_request(s, strlen(s), HTTP_DEFAULT_MAX_BODY, &req, &err);
	CHECK(rc > 0);
	off += rc;
	CHECK_EQ_I(troute_req(&req), 0);
	CHECK(troute_span_eq(rt.id, rt.id_len, "rootfs"));

	rc = http_parse_request(s + off, strlen(s) - off, HTTP_DEFAULT_MAX_BODY, &req, &err);
	CHECK(rc > 0);
	off += rc;
	CHECK_EQ_I(troute_req(&req), -ENOENT);
	route_fault_message(&rt, req.method_name, req.method_len, msg, sizeof(msg));
	CHECK_STR(msg, "Invalid request method and/or path: DELETE vm.");

	rc = http_parse_request(s + off, strlen(s) - off, HTTP_DEFAULT_MAX_BODY, &req, &err);
	CHECK_EQ_I(rc, strlen(s) - off);
	CHECK_EQ_I(troute_req(&req), -EINVAL);
	route_fault_message(&rt, req.method_name, req.method_len, msg, sizeof(msg));
	CHECK_STR(msg, "Empty PUT request.");
}

int main(void)
{
	served_mask = api_table_served(&vmm_api_table);
	RUN(test_served_endpoints);
	RUN(test_unsupported_endpoints);
	RUN(test_invalid_method_and_path);
	RUN(test_unknown_paths);
	RUN(test_body_rules);
	RUN(test_ids);
	RUN(test_trailing_slash);
	RUN(test_snapshot_messages);
	RUN(test_fault_message_bounds);
	RUN(test_endpoint_table);
	RUN(test_served_mask);
	RUN(test_parse_then_route);
	return check_summary();
}
