/* vmm_api.c: apply API requests to the VMM, on the VMM thread, with Firecracker's answers. */
#include "vmm_api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "request.h"

#define MSG_AFTER_START  "The requested operation is not supported after starting the microVM."
#define MSG_BEFORE_START "The requested operation is not supported before starting the microVM."

static const char *vmm_api_state_name(enum vmm_state s)
{
	switch (s) {
	case VMM_RUNNING: return "Running";
	case VMM_PAUSED: return "Paused";
	default: return "Not started";
	}
}

static void vmm_api_instance_info(struct vmm *v, struct api_response *resp)
{
	char id[2 * CFG_ID_MAX + 8];
	char json[512];
	int n;

	http_json_escape(id, sizeof(id), v->instance_id);
	n = snprintf(json, sizeof(json),
		     "{\"id\":\"%s\",\"state\":\"%s\",\"vmm_version\":\"%s\",\"app_name\":\"ember\"}",
		     id, vmm_api_state_name(v->state), EMBER_VERSION);
	api_json(resp, json, (size_t)n);
}

static void vmm_api_get(struct vmm *v, const struct api_request *req, struct api_response *resp)
{
	char json[64];
	int n;

	switch (req->endpoint) {
	case ROUTE_INSTANCE_INFO:
		metric_inc(M_get_api_requests_instance_info_count);
		vmm_api_instance_info(v, resp);
		return;
	case ROUTE_VERSION:
		metric_inc(M_get_api_requests_vmm_version_count);
		n = snprintf(json, sizeof(json), "{\"firecracker_version\":\"%s\",\"ember_version\":\"%s\"}",
			     EMBER_API_VERSION, EMBER_VERSION);
		api_json(resp, json, (size_t)n);
		return;
	case ROUTE_MACHINE_CONFIG:
		metric_inc(M_get_api_requests_machine_cfg_count);
		n = machine_to_json(&v->cfg.machine, resp->body, sizeof(resp->body));
		break;
	case ROUTE_VM_CONFIG:
		metric_inc(M_get_api_requests_vm_config_count);
		n = config_to_json(&v->cfg, resp->body, sizeof(resp->body));
		break;
	default:
		api_fault(resp, 400, "Invalid request.");
		return;
	}
	if (n < 0) {
		api_fault(resp, 500, "The configuration is too large to describe.");
		return;
	}
	resp->len = (size_t)n;
	resp->status = 200;
}

static int vmm_api_action(struct vmm *v, struct api_request *req, struct api_response *resp)
{
	struct cfg_err e = { { 0 } };

	switch (req->action) {
	case VM_ACTION_INSTANCE_START:
		if (v->state != VMM_NOT_STARTED) {
			api_fault(resp, 400, MSG_AFTER_START);
			return -EINVAL;
		}
		if (vmm_start(v, &e)) {
			api_fault(resp, 400, e.msg);
			return -EINVAL;
		}
		metric_set(M_latencies_us_vmm_start_us, v->first_insn_build_us);
		if (metrics_is_open())
			metrics_flush();
		return 0;
	case VM_ACTION_SEND_CTRL_ALT_DEL:
		if (v->state == VMM_NOT_STARTED) {
			api_fault(resp, 400, MSG_BEFORE_START);
			return -EINVAL;
		}
		if (vmm_ctrl_alt_del(v)) {
			api_fault(resp, 400, "Cannot send Ctrl+Alt+Del: the keyboard buffer is full.");
			return -EBUSY;
		}
		return 0;
	case VM_ACTION_FLUSH_METRICS:
		if (!metrics_is_open()) {
			api_fault(resp, 400, "The metrics system is not initialized.");
			return -EINVAL;
		}
		if (metrics_flush()) {
			api_fault(resp, 400, "Cannot write the metrics.");
			return -EIO;
		}
		return 0;
	}
	api_fault(resp, 400, "Invalid action.");
	return -EINVAL;
}

static int vmm_api_vm_state(struct vmm *v, struct api_request *req, struct api_response *resp)
{
	uint64_t t0 = boottimer_now_us();

	if (v->state == VMM_NOT_STARTED) {
		api_fault(resp, 400, MSG_BEFORE_START);
		return -EINVAL;
	}
	if (req->vm_state == VM_STATE_PAUSED) {
		if (v->state == VMM_RUNNING)
			vmm_pause(v);
		metric_set(M_latencies_us_pause_vm, boottimer_now_us() - t0);
	} else {
		if (v->state == VMM_PAUSED)
			vmm_resume(v);
		metric_set(M_latencies_us_resume_vm, boottimer_now_us() - t0);
	}
	LOG_INFO("The microVM is now %s", vmm_api_state_name(v->state));
	return 0;
}

/* Post-boot device updates (PATCH /drives, /network-interfaces). */
static int vmm_api_patch_device(struct vmm *v, struct api_request *req, struct api_response *resp)
{
	struct cfg_err e = { { 0 } };

	if (v->state == VMM_NOT_STARTED) {
		api_fault(resp, 400, MSG_BEFORE_START);
		return -EINVAL;
	}
	if (req->endpoint == ROUTE_NETWORK_INTERFACE ? vmm_patch_net(v, &req->net_patch, &e)
						     : vmm_patch_drive(v, &req->drive_patch, &e)) {
		api_fault(resp, 400, e.msg);
		return -EINVAL;
	}
	return 0;
}

/* Pre-boot configuration (PUT, and PATCH /machine-config). */
static int vmm_api_configure(struct vmm *v, struct api_request *req, struct api_response *resp)
{
	struct cfg_err e = { { 0 } };
	struct machine_cfg m;
	static struct vm_config tmp;   /* a shallow view for config_check(), VMM thread only */
	int r;

	if (v->state != VMM_NOT_STARTED) {
		api_fault(resp, 400, MSG_AFTER_START);
		return -EINVAL;
	}
	switch (req->endpoint) {
	case ROUTE_MACHINE_CONFIG:
		m = v->cfg.machine;
		if (req->method == HTTP_METHOD_PUT)
			m = req->machine;
		else if (cfg_patch_machine(&m, req->body, req->body_len, &e)) {
			api_fault(resp, 400, e.msg);
			return -EINVAL;
		}
		/* Rules that span sections (huge pages and an initrd) hold for the result. */
		tmp = v->cfg;
		tmp.machine = m;
		if (config_check(&tmp, &e)) {
			api_fault(resp, 400, e.msg);
			return -EINVAL;
		}
		v->cfg.machine = m;
		/* Map and register guest RAM now, not at InstanceStart. */
		vmm_prewarm(v, 1);
		return 0;
	case ROUTE_BOOT_SOURCE:
		tmp = v->cfg;
		tmp.boot_source = req->boot;
		tmp.has_boot_source = true;
		r = config_check(&tmp, &e);
		if (r == 0)
			r = vmm_set_boot_source(v, &req->boot, &e);
		break;
	case ROUTE_DRIVE:
		r = vmm_set_drive(v, &req->drive, &e);
		break;
	case ROUTE_NETWORK_INTERFACE:
		r = vmm_set_net(v, &req->net, &e);
		break;
	case ROUTE_VSOCK:
		r = vmm_set_vsock(v, &req->vsock, &e);
		break;
	case ROUTE_LOGGER:
		r = vmm_set_logger(v, &req->logger, &e);
		break;
	case ROUTE_METRICS:
		r = vmm_set_metrics(v, &req->metrics, &e);
		break;
	case ROUTE_SERIAL:
		r = vmm_set_serial(v, &req->serial, &e);
		break;
	default:
		api_fault(resp, 400, "Invalid request.");
		return -EINVAL;
	}
	if (r)
		api_fault(resp, 400, e.msg);
	return r;
}

void vmm_api_handle(void *opaque, struct api_request *req, struct api_response *resp)
{
	struct vmm *v = opaque;
	int metric = api_request_metric(req->endpoint, req->method), r;

	resp->status = 204;
	resp->len = 0;
	if (req->method == HTTP_METHOD_GET) {
		vmm_api_get(v, req, resp);
		return;
	}
	if (metric >= 0)
		metric_inc((enum metric_id)metric);
	if (req->endpoint == ROUTE_ACTIONS)
		r = vmm_api_action(v, req, resp);
	else if (req->endpoint == ROUTE_VM)
		r = vmm_api_vm_state(v, req, resp);
	else if (req->method == HTTP_METHOD_PATCH && (req->endpoint == ROUTE_DRIVE ||
						      req->endpoint == ROUTE_NETWORK_INTERFACE))
		r = vmm_api_patch_device(v, req, resp);
	else {
		r = vmm_api_configure(v, req, resp);
	}
	/* Each *_fails counter directly follows its *_count counter. */
	if (r && metric >= 0)
		metric_inc((enum metric_id)(metric + 1));
	if (r)
		LOG_INFO("API request refused: %.*s", (int)resp->len, resp->body);
}
