/* route.c: map an API request's method and path to a Firecracker endpoint (pure). */
#include "route.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ROUTE_GET   (1u << HTTP_METHOD_GET)
#define ROUTE_PUT   (1u << HTTP_METHOD_PUT)
#define ROUTE_PATCH (1u << HTTP_METHOD_PATCH)

/*
 * The routing table, from the Swagger file of Firecracker v1.16.1. A pattern
 * is the path without its leading '/'; a "*" segment is an id.
 */
static const struct route_entry {
	const char *pattern;
	unsigned methods;
	enum route_endpoint endpoint;
	const char *template;
} route_table[] = {
	{ "", ROUTE_GET, ROUTE_INSTANCE_INFO, "/" },
	{ "version", ROUTE_GET, ROUTE_VERSION, "/version" },
	{ "machine-config", ROUTE_GET | ROUTE_PUT | ROUTE_PATCH,
	  ROUTE_MACHINE_CONFIG, "/machine-config" },
	{ "vm/config", ROUTE_GET, ROUTE_VM_CONFIG, "/vm/config" },
	{ "boot-source", ROUTE_PUT, ROUTE_BOOT_SOURCE, "/boot-source" },
	{ "drives/*", ROUTE_PUT | ROUTE_PATCH, ROUTE_DRIVE, "/drives/{drive_id}" },
	{ "network-interfaces/*", ROUTE_PUT | ROUTE_PATCH,
	  ROUTE_NETWORK_INTERFACE, "/network-interfaces/{iface_id}" },
	{ "vsock", ROUTE_PUT, ROUTE_VSOCK, "/vsock" },
	{ "actions", ROUTE_PUT, ROUTE_ACTIONS, "/actions" },
	{ "vm", ROUTE_PATCH, ROUTE_VM, "/vm" },
	{ "logger", ROUTE_PUT, ROUTE_LOGGER, "/logger" },
	{ "metrics", ROUTE_PUT, ROUTE_METRICS, "/metrics" },
	{ "balloon", ROUTE_GET | ROUTE_PUT | ROUTE_PATCH, ROUTE_BALLOON, "/balloon" },
	{ "balloon/statistics", ROUTE_GET | ROUTE_PATCH, ROUTE_BALLOON_STATISTICS,
	  "/balloon/statistics" },
	{ "balloon/hinting/start", ROUTE_PATCH, ROUTE_BALLOON_HINTING_START,
	  "/balloon/hinting/start" },
	{ "balloon/hinting/status", ROUTE_GET, ROUTE_BALLOON_HINTING_STATUS,
	  "/balloon/hinting/status" },
	{ "balloon/hinting/stop", ROUTE_PATCH, ROUTE_BALLOON_HINTING_STOP,
	  "/balloon/hinting/stop" },
	{ "cpu-config", ROUTE_PUT, ROUTE_CPU_CONFIG, "/cpu-config" },
	{ "pmem/*", ROUTE_PUT | ROUTE_PATCH, ROUTE_PMEM, "/pmem/{id}" },
	{ "mmds", ROUTE_GET | ROUTE_PUT | ROUTE_PATCH, ROUTE_MMDS, "/mmds" },
	{ "mmds/config", ROUTE_PUT, ROUTE_MMDS_CONFIG, "/mmds/config" },
	{ "entropy", ROUTE_PUT, ROUTE_ENTROPY, "/entropy" },
	{ "serial", ROUTE_PUT, ROUTE_SERIAL, "/serial" },
	{ "hotplug/memory", ROUTE_GET | ROUTE_PUT | ROUTE_PATCH,
	  ROUTE_HOTPLUG_MEMORY, "/hotplug/memory" },
	{ "snapshot/create", ROUTE_PUT, ROUTE_SNAPSHOT_CREATE, "/snapshot/create" },
	{ "snapshot/load", ROUTE_PUT, ROUTE_SNAPSHOT_LOAD, "/snapshot/load" },
};

#define ROUTE_TABLE_LEN (sizeof(route_table) / sizeof(route_table[0]))

enum route_cmp_result { ROUTE_CMP_NO, ROUTE_CMP_MISSING_ID, ROUTE_CMP_FULL };

/* route_seg_end: end of the segment of p[0, n) that starts at @i. */
static size_t route_seg_end(const char *p, size_t n, size_t i)
{
	const char *slash = i < n ? memchr(p + i, '/', n - i) : NULL;

	return slash ? (size_t)(slash - p) : n;
}

/*
 * route_cmp: compare the normalized path p[0, n) with @pattern segment by
 * segment. FULL when equal ("*" taking any one segment, stored in *id),
 * MISSING_ID when the path is the pattern without its final id segment.
 */
static enum route_cmp_result route_cmp(const char *p, size_t n,
				       const char *pattern, const char **id,
				       size_t *id_len)
{
	size_t i = 0, plen = strlen(pattern), k = 0;

	for (;;) {
		size_t j = route_seg_end(p, n, i);
		size_t ke = route_seg_end(pattern, plen, k);

		if (ke - k == 1 && pattern[k] == '*') {
			*id = p + i;
			*id_len = j - i;
		} else if (j - i != ke - k || memcmp(p + i, pattern + k, j - i) != 0) {
			return ROUTE_CMP_NO;
		}
		if (j == n && ke == plen)
			return ROUTE_CMP_FULL;
		if (ke == plen)
			return ROUTE_CMP_NO;  /* the path has more segments */
		if (j == n)
			return strcmp(pattern + ke, "/*") == 0 ? ROUTE_CMP_MISSING_ID
							       : ROUTE_CMP_NO;
		i = j + 1;
		k = ke + 1;
	}
}

/* route_check_id: Firecracker's checked_id(), ASCII only, plus ember's length cap. */
static enum route_error route_check_id(const char *id, size_t len)
{
	if (len == 0)
		return ROUTE_ERR_EMPTY_ID;
	for (size_t i = 0; i < len; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return ROUTE_ERR_INVALID_ID;
	}
	return len > ROUTE_ID_MAX ? ROUTE_ERR_ID_TOO_LONG : ROUTE_OK;
}

static int route_result(struct route *out, enum route_error error)
{
	out->error = error;
	switch (error) {
	case ROUTE_OK:
		return 0;
	case ROUTE_ERR_NOT_SUPPORTED:
		return -ENOTSUP;
	case ROUTE_ERR_METHOD_PATH:
		return -ENOENT;
	default:
		return -EINVAL;
	}
}

/* route_has_empty_segment: "//", "/a//b" or "/a//" after the trailing-slash trim. */
static bool route_has_empty_segment(const char *p, size_t n)
{
	if (n == 0)
		return false;  /* "/" itself */
	if (p[0] == '/' || p[n - 1] == '/')
		return true;
	for (size_t i = 1; i < n; i++)
		if (p[i] == '/' && p[i - 1] == '/')
			return true;
	return false;
}

static bool route_seg_is(const char *p, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(p, want, len) == 0;
}

int route_match(enum http_method method, const char *path, size_t path_len,
		bool has_body, uint64_t served, struct route *out)
{
	const struct route_entry *e;
	const char *p;
	size_t n, first;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->method = method;
	if (!path || path_len == 0 || path[0] != '/') {
		out->echo = path ? path : "";
		out->echo_len = path ? path_len : 0;
		return route_result(out, ROUTE_ERR_METHOD_PATH);
	}
	p = path + 1;
	n = path_len - 1;
	if (n > 0 && p[n - 1] == '/')
		n--;  /* one trailing slash, as split_terminator('/') drops it */
	first = route_seg_end(p, n, 0);
	out->echo = p;
	out->echo_len = first;

	/* Firecracker checks the body against the method before the path. */
	if (method == HTTP_METHOD_GET && has_body)
		return route_result(out, ROUTE_ERR_GET_BODY);
	if (method == HTTP_METHOD_PUT && !has_body)
		return route_result(out, ROUTE_ERR_EMPTY_PUT);
	/* PATCH /balloon/hinting/start may come without a body. */
	if (method == HTTP_METHOD_PATCH && !has_body &&
	    !route_seg_is(p, first, "balloon"))
		return route_result(out, ROUTE_ERR_EMPTY_PATCH);

	/* Empty segments ("//", "/a//b", "/a//") route nowhere. */
	if (route_has_empty_segment(p, n))
		return route_result(out, ROUTE_ERR_METHOD_PATH);

	if (method == HTTP_METHOD_PUT && route_seg_is(p, first, "snapshot")) {
		/* Firecracker's own words for PUT /snapshot and PUT /snapshot/<op> */
		if (first == n)
			return route_result(out, ROUTE_ERR_SNAPSHOT_TYPE);
		out->echo = path;
		out->echo_len = 1 + route_seg_end(p, n, first + 1);
	}

	for (e = route_table; e < route_table + ROUTE_TABLE_LEN; e++) {
		const char *id = NULL;
		size_t id_len = 0;
		enum route_cmp_result c = route_cmp(p, n, e->pattern, &id, &id_len);
		bool allowed = method >= HTTP_METHOD_GET &&
			       method <= HTTP_METHOD_PATCH &&
			       (e->methods & (1u << method));

		if (c == ROUTE_CMP_NO)
			continue;
		if (!allowed)
			break;
		out->endpoint = e->endpoint;
		if (!route_endpoint_served(served, e->endpoint))
			return route_result(out, ROUTE_ERR_NOT_SUPPORTED);
		if (c == ROUTE_CMP_MISSING_ID)
			return route_result(out, ROUTE_ERR_EMPTY_ID);
		if (id) {
			enum route_error idr = route_check_id(id, id_len);

			if (idr != ROUTE_OK)
				return route_result(out, idr);
			out->id = id;
			out->id_len = id_len;
		}
		return route_result(out, ROUTE_OK);
	}
	out->endpoint = ROUTE_NONE;
	return route_result(out, ROUTE_ERR_METHOD_PATH);
}

static const char *route_method_name(enum http_method m)
{
	switch (m) {
	case HTTP_METHOD_GET:
		return "GET";
	case HTTP_METHOD_PUT:
		return "PUT";
	case HTTP_METHOD_PATCH:
		return "PATCH";
	default:
		return NULL;
	}
}

int route_fault_message(const struct route *r, const char *method_name,
			size_t method_len, char *out, size_t cap)
{
	const char *fixed = NULL;
	int n = 0;

	if (!r || (!out && cap))
		return -EINVAL;
	if (!method_name) {
		method_name = route_method_name(r->method);
		if (!method_name)
			return -EINVAL;
		method_len = strlen(method_name);
	}
	/* Both quoted pieces come from one request line, so this never trips. */
	if (method_len > HTTP_MAX_REQUEST_LINE || r->echo_len > HTTP_MAX_REQUEST_LINE)
		return -ENOSPC;

	switch (r->error) {
	case ROUTE_OK:
		return -EINVAL;
	case ROUTE_ERR_METHOD_PATH:
		n = snprintf(out, cap, "Invalid request method and/or path: %.*s %.*s.",
			     (int)method_len, method_name, (int)r->echo_len,
			     r->echo ? r->echo : "");
		break;
	case ROUTE_ERR_NOT_SUPPORTED:
		n = snprintf(out, cap, "%.*s %s is not supported by ember.",
			     (int)method_len, method_name,
			     route_endpoint_path(r->endpoint));
		break;
	case ROUTE_ERR_ID_TOO_LONG:
		n = snprintf(out, cap,
			     "API Resource IDs can be at most %d characters long.",
			     ROUTE_ID_MAX);
		break;
	case ROUTE_ERR_GET_BODY:
		fixed = "GET request cannot have a body.";
		break;
	case ROUTE_ERR_EMPTY_PUT:
		fixed = "Empty PUT request.";
		break;
	case ROUTE_ERR_EMPTY_PATCH:
		fixed = "Empty PATCH request.";
		break;
	case ROUTE_ERR_EMPTY_ID:
		fixed = "The ID cannot be empty.";
		break;
	case ROUTE_ERR_INVALID_ID:
		fixed = "API Resource IDs can only contain alphanumeric characters and underscores.";
		break;
	case ROUTE_ERR_SNAPSHOT_TYPE:
		fixed = "Missing snapshot operation type.";
		break;
	default:
		return -EINVAL;
	}
	if (fixed)
		n = snprintf(out, cap, "%s", fixed);
	if (n < 0)
		return -EINVAL;
	return (size_t)n < cap ? n : -ENOSPC;
}

const char *route_endpoint_path(enum route_endpoint e)
{
	for (size_t i = 0; i < ROUTE_TABLE_LEN; i++)
		if (route_table[i].endpoint == e)
			return route_table[i].template;
	return "";
}
