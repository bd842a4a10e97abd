/* route.h: map an API request's method and path to a Firecracker endpoint (pure). */
#ifndef EMBER_API_ROUTE_H
#define EMBER_API_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

#define ROUTE_ID_MAX 64  /* longest {drive_id} / {iface_id} ember accepts */

/* A buffer this large always holds route_fault_message()'s text and its NUL. */
#define ROUTE_FAULT_MAX (2 * HTTP_MAX_REQUEST_LINE + 128)

/*
 * Firecracker's endpoints (Swagger v1.16.1), one value per path template.
 * Which of them a server serves is its business (route_match()'s @served).
 */
enum route_endpoint {
	ROUTE_NONE = 0,
	ROUTE_INSTANCE_INFO,       /* GET /                                  */
	ROUTE_VERSION,             /* GET /version                           */
	ROUTE_MACHINE_CONFIG,      /* GET PUT PATCH /machine-config          */
	ROUTE_VM_CONFIG,           /* GET /vm/config                         */
	ROUTE_BOOT_SOURCE,         /* PUT /boot-source                       */
	ROUTE_DRIVE,               /* PUT PATCH /drives/{drive_id}           */
	ROUTE_NETWORK_INTERFACE,   /* PUT PATCH /network-interfaces/{iface_id} */
	ROUTE_VSOCK,               /* PUT /vsock                             */
	ROUTE_ACTIONS,             /* PUT /actions                           */
	ROUTE_VM,                  /* PATCH /vm                              */
	ROUTE_LOGGER,              /* PUT /logger                            */
	ROUTE_METRICS,             /* PUT /metrics                           */
	ROUTE_SERIAL,              /* PUT /serial                            */
	ROUTE_BALLOON,             /* GET PUT PATCH /balloon                 */
	ROUTE_BALLOON_STATISTICS,  /* GET PATCH /balloon/statistics          */
	ROUTE_BALLOON_HINTING_START,  /* PATCH /balloon/hinting/start        */
	ROUTE_BALLOON_HINTING_STATUS, /* GET /balloon/hinting/status         */
	ROUTE_BALLOON_HINTING_STOP,   /* PATCH /balloon/hinting/stop         */
	ROUTE_CPU_CONFIG,          /* PUT /cpu-config                        */
	ROUTE_PMEM,                /* PUT PATCH /pmem/{id}                   */
	ROUTE_MMDS,                /* GET PUT PATCH /mmds                    */
	ROUTE_MMDS_CONFIG,         /* PUT /mmds/config                       */
	ROUTE_ENTROPY,             /* PUT /entropy                           */
	ROUTE_HOTPLUG_MEMORY,      /* GET PUT PATCH /hotplug/memory          */
	ROUTE_SNAPSHOT_CREATE,     /* PUT /snapshot/create                   */
	ROUTE_SNAPSHOT_LOAD,       /* PUT /snapshot/load                     */
	ROUTE_ENDPOINT_COUNT,
};

/* A set of endpoints: bit ROUTE_BIT(e) for each enum route_endpoint e. */
#define ROUTE_BIT(e) (UINT64_C(1) << (e))
_Static_assert(ROUTE_ENDPOINT_COUNT <= 64, "route endpoint sets are a uint64_t");

/* Why a request was not routed; route_fault_message() gives Firecracker's text. */
enum route_error {
	ROUTE_OK = 0,
	ROUTE_ERR_METHOD_PATH,    /* "Invalid request method and/or path: PUT vm." */
	ROUTE_ERR_GET_BODY,       /* "GET request cannot have a body."             */
	ROUTE_ERR_EMPTY_PUT,      /* "Empty PUT request."                          */
	ROUTE_ERR_EMPTY_PATCH,    /* "Empty PATCH request."                        */
	ROUTE_ERR_EMPTY_ID,       /* "The ID cannot be empty."                     */
	ROUTE_ERR_INVALID_ID,     /* "API Resource IDs can only contain ..."       */
	ROUTE_ERR_ID_TOO_LONG,    /* ember: ids are at most ROUTE_ID_MAX chars     */
	ROUTE_ERR_SNAPSHOT_TYPE,  /* "Missing snapshot operation type."            */
	ROUTE_ERR_NOT_SUPPORTED,  /* an endpoint not in route_match()'s @served  */
};

struct route {
	enum route_error error;
	enum route_endpoint endpoint; /* for ROUTE_OK, the id errors, NOT_SUPPORTED */
	enum http_method method;
	const char *id;               /* {drive_id}/{iface_id} segment, into the path */
	size_t id_len;
	const char *echo;             /* ROUTE_ERR_METHOD_PATH: the path text quoted */
	size_t echo_len;
};

/*
 * route_match: route one request.
 *   @method:   as parsed (HTTP_METHOD_OTHER for any other method)
 *   @path:     the absolute path, query removed, @path_len bytes (not NUL-ended)
 *   @has_body: the request has a non-empty body (Content-Length > 0)
 *   @served:   the endpoints the caller serves (ROUTE_BIT()s; the server's
 *              come from its action table, api_table_served())
 *   @out:      filled in every case; out->id and out->echo point into @path
 * Returns 0 when routed to an endpoint in @served, -ENOTSUP for an endpoint
 * it knows but is not served, -ENOENT for an unknown path or a method the
 * endpoint does not allow, -EINVAL for a body or id error (and bad arguments).
 *
 * Follows Firecracker's api_server/src/parsed_request.rs, in its order:
 *   1. GET with a body, PUT without one, PATCH without one (except under
 *      /balloon) are refused for any path, with Firecracker's messages;
 *   2. one trailing '/' is ignored ("/machine-config/" is "/machine-config",
 *      "/drives/" is "/drives" with an empty id), as Firecracker's
 *      split_terminator('/') does;
 *   3. the path must then equal a template segment by segment: unlike
 *      Firecracker, extra segments ("/vm/config/x") and empty ones ("//vm",
 *      "/drives//a") are refused rather than ignored;
 *   4. ids are 1..ROUTE_ID_MAX of [A-Za-z0-9_], checked as the segment was
 *      received (no percent-decoding: "%41" is an invalid id);
 *   5. the echo for an invalid method/path is, as in Firecracker, the first
 *      path segment ("PUT vm."), or "/snapshot/<op>" for PUT /snapshot/<op>.
 * An endpoint not in @served is refused (ROUTE_ERR_NOT_SUPPORTED) once its
 * path and method match, before any id check.
 * Pure; any thread.
 */
int route_match(enum http_method method, const char *path, size_t path_len,
		bool has_body, uint64_t served, struct route *out);

/*
 * route_fault_message: the fault_message text for a refused route, as plain
 * text (JSON-escape it with http_json_escape()).
 *   @method_name: the method as received (http_request.method_name); may be
 *                 NULL for GET/PUT/PATCH
 * Returns its length (NUL-terminated in @out), -ENOSPC when it does not fit
 * (ROUTE_FAULT_MAX always fits a request within http.h's limits), -EINVAL for
 * a route without error. Pure; any thread.
 */
int route_fault_message(const struct route *r, const char *method_name,
			size_t method_len, char *out, size_t cap);

/* route_endpoint_path: the Swagger path template ("/drives/{drive_id}"), "" for none. */
const char *route_endpoint_path(enum route_endpoint e);

/* route_endpoint_served: whether @e is in @served (never ROUTE_NONE or out of range). Pure. */
static inline bool route_endpoint_served(uint64_t served, enum route_endpoint e)
{
	return e > ROUTE_NONE && e < ROUTE_ENDPOINT_COUNT && (served & ROUTE_BIT(e));
}

#endif
