/* request.c: parse API bodies with the config model's parsers, on the API thread. */
#include "request.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

int api_request_parse(struct api_request *out, const struct route *rt,
		      const struct http_request *http, struct cfg_err *e)
{
	const char *b = http->body ? http->body : "";
	size_t n = http->body_len;
	char *id = out->id;
	int put = rt->method == HTTP_METHOD_PUT;

	memset(out, 0, sizeof(*out));
	out->endpoint = rt->endpoint;
	out->method = rt->method;
	out->body = b;
	out->body_len = n;
	snprintf(out->path, sizeof(out->path), "%.*s",
		 (int)(http->path_len < sizeof(out->path) ? http->path_len : sizeof(out->path) - 1),
		 http->path);
	if (rt->id) {
		if (rt->id_len > ROUTE_ID_MAX) {
			snprintf(e->msg, sizeof(e->msg), "The ID is too long.");
			return -EINVAL;
		}
		memcpy(id, rt->id, rt->id_len);
		id[rt->id_len] = '\0';
	}
	if (rt->method == HTTP_METHOD_GET)
		return 0;

	switch (rt->endpoint) {
	case ROUTE_BOOT_SOURCE:
		return cfg_parse_boot_source(&out->boot, b, n, e);
	case ROUTE_MACHINE_CONFIG:
		/* PATCH needs the current configuration: applied on the VMM thread. */
		return put ? cfg_parse_machine(&out->machine, b, n, e) : 0;
	case ROUTE_DRIVE:
		return put ? cfg_parse_drive(&out->drive, id, b, n, e)
			   : cfg_parse_drive_patch(&out->drive_patch, id, b, n, e);
	case ROUTE_NETWORK_INTERFACE:
		return put ? cfg_parse_net(&out->net, id, b, n, e)
			   : cfg_parse_net_patch(&out->net_patch, id, b, n, e);
	case ROUTE_VSOCK:
		return cfg_parse_vsock(&out->vsock, b, n, e);
	case ROUTE_ACTIONS:
		return cfg_parse_action(&out->action, b, n, e);
	case ROUTE_VM:
		return cfg_parse_vm_state(&out->vm_state, b, n, e);
	case ROUTE_LOGGER:
		return cfg_parse_logger(&out->logger, b, n, e);
	case ROUTE_METRICS:
		return cfg_parse_metrics(&out->metrics, b, n, e);
	case ROUTE_SERIAL:
		return cfg_parse_serial(&out->serial, b, n, e);
	default:
		return 0;
	}
}

void api_request_free(struct api_request *r)
{
	boot_source_free(&r->boot);
	drive_free(&r->drive);
	drive_patch_free(&r->drive_patch);
	vsock_free(&r->vsock);
	logger_free(&r->logger);
	metrics_free(&r->metrics);
	serial_cfg_free(&r->serial);
}

void api_fault(struct api_response *resp, int status, const char *msg)
{
	static const char pre[] = "{\"fault_message\":\"";
	size_t n = sizeof(pre) - 1, room = sizeof(resp->body) - n - 3;
	size_t need;

	memcpy(resp->body, pre, n);
	need = http_json_escape(resp->body + n, room, msg);
	n += need < room ? need : strlen(resp->body + n);
	memcpy(resp->body + n, "\"}", 3);
	resp->len = n + 2;
	resp->status = status;
}

void api_json(struct api_response *resp, const char *json, size_t len)
{
	if (len >= sizeof(resp->body)) {
		api_fault(resp, 500, "The response is too large.");
		return;
	}
	memcpy(resp->body, json, len);
	resp->body[len] = '\0';
	resp->len = len;
	resp->status = 200;
}

/* The metrics pair (count, fails) for a PUT or PATCH on @ep; -1 when none. */
int api_request_metric(enum route_endpoint ep, enum http_method m)
{
	if (m == HTTP_METHOD_PATCH) {
		switch (ep) {
		case ROUTE_DRIVE: return M_patch_api_requests_drive_count;
		case ROUTE_NETWORK_INTERFACE: return M_patch_api_requests_network_count;
		case ROUTE_MACHINE_CONFIG: return M_patch_api_requests_machine_cfg_count;
		case ROUTE_VM: return M_patch_api_requests_vm_count;
		default: return -1;
		}
	}
	switch (ep) {
	case ROUTE_ACTIONS: return M_put_api_requests_actions_count;
	case ROUTE_BOOT_SOURCE: return M_put_api_requests_boot_source_count;
	case ROUTE_DRIVE: return M_put_api_requests_drive_count;
	case ROUTE_LOGGER: return M_put_api_requests_logger_count;
	case ROUTE_MACHINE_CONFIG: return M_put_api_requests_machine_cfg_count;
	case ROUTE_METRICS: return M_put_api_requests_metrics_count;
	case ROUTE_NETWORK_INTERFACE: return M_put_api_requests_network_count;
	case ROUTE_VSOCK: return M_put_api_requests_vsock_count;
	default: return -1;
	}
}
