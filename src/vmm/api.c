/* api.c: the VMM's API table: each request ember serves, parsed and applied. */
#include "vmm/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "response.h"

/* ---- body parsers (API thread): the config model's, one per body type ---- */

static int vmm_api_parse_machine(void *arg, const char *id, const char *body, size_t len,
				 struct err *e)
{
	(void)id;
	return cfg_parse_machine(arg, body, len, e);
}

static int vmm_api_parse_boot_source(void *arg, const char *id, const char *body, size_t len,
				     struct err *e)
{
	(void)id;
	return cfg_parse_boot_source(arg, body, len, e);
}

static int vmm_api_parse_drive(void *arg, const char *id, const char *body, size_t len,
			       struct err *e)
{
	return cfg_parse_drive(arg, id, body, len, e);
}

static int vmm_api_parse_drive_patch(void *arg, const char *id, const char *body, size_t len,
				     struct err *e)
{
	return cfg_parse_drive_patch(arg, id, body, len, e);
}

static int vmm_api_parse_net(void *arg, const char *id, const char *body, size_t len,
			     struct err *e)
{
	return cfg_parse_net(arg, id, body, len, e);
}

static int vmm_api_parse_net_patch(void *arg, const char *id, const char *body, size_t len,
				   struct err *e)
{
	return cfg_parse_net_patch(arg, id, body, len, e);
}

static int vmm_api_parse_vsock(void *arg, const char *id, const char *body, size_t len,
			       struct err *e)
{
	(void)id;
	return cfg_parse_vsock(arg, body, len, e);
}

static int vmm_api_parse_action(void *arg, const char *id, const char *body, size_t len,
				struct err *e)
{
	(void)id;
	return cfg_parse_action(arg, body, len, e);
}

static int vmm_api_parse_vm_state(void *arg, const char *id, const char *body, size_t len,
				  struct err *e)
{
	(void)id;
	return cfg_parse_vm_state(arg, body, len, e);
}

static int vmm_api_parse_logger(void *arg, const char *id, const char *body, size_t len,
				struct err *e)
{
	(void)id;
	return cfg_parse_logger(arg, body, len, e);
}

static int vmm_api_parse_metrics(void *arg, const char *id, const char *body, size_t len,
				 struct err *e)
{
	(void)id;
	return cfg_parse_metrics(arg, body, len, e);
}

static int vmm_api_parse_serial(void *arg, const char *id, const char *body, size_t len,
				struct err *e)
{
	(void)id;
	return cfg_parse_serial(arg, body, len, e);
}

static int vmm_api_parse_snapshot_create(void *arg, const char *id, const char *body,
					 size_t len, struct err *e)
{
	(void)id;
	return cfg_parse_snapshot_create(arg, body, len, e);
}

static int vmm_api_parse_snapshot_load(void *arg, const char *id, const char *body, size_t len,
				       struct err *e)
{
	(void)id;
	return cfg_parse_snapshot_load(arg, body, len, e);
}

static int vmm_api_parse_mmds_config(void *arg, const char *id, const char *body, size_t len,
				     struct err *e)
{
	(void)id;
	return cfg_parse_mmds_config(arg, body, len, e);
}

static void vmm_api_free_boot_source(void *arg) { boot_source_free(arg); }
static void vmm_api_free_drive(void *arg) { drive_free(arg); }
static void vmm_api_free_drive_patch(void *arg) { drive_patch_free(arg); }
static void vmm_api_free_vsock(void *arg) { vsock_free(arg); }
static void vmm_api_free_logger(void *arg) { logger_free(arg); }
static void vmm_api_free_metrics(void *arg) { metrics_free(arg); }
static void vmm_api_free_serial(void *arg) { serial_cfg_free(arg); }
static void vmm_api_free_snapshot_create(void *arg) { snapshot_create_free(arg); }
static void vmm_api_free_snapshot_load(void *arg) { snapshot_load_free(arg); }

/* ---- actions (VMM thread) ------------------------------------------------- */

static int vmm_api_refuse(struct err *e, int err, const char *msg)
{
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	return err;
}

static const char *vmm_api_state_name(enum vmm_state s)
{
	switch (s) {
	case VMM_RUNNING: return "Running";
	case VMM_PAUSED: return "Paused";
	default: return "Not started";
	}
}

static int vmm_api_get_instance_info(void *opaque, struct api_request *req,
				     struct api_response *resp, struct err *e)
{
	struct vmm *v = opaque;
	char id[2 * CFG_ID_MAX + 8];
	char json[512];
	int n;

	(void)req;
	(void)e;
	http_json_escape(id, sizeof(id), v->instance_id);
	n = snprintf(json, sizeof(json),
		     "{\"id\":\"%s\",\"state\":\"%s\",\"vmm_version\":\"%s\",\"app_name\":\"ember\"}",
		     id, vmm_api_state_name(v->state), EMBER_VERSION);
	api_json(resp, json, (size_t)n);
	return 0;
}

static int vmm_api_get_version(void *opaque, struct api_request *req,
			       struct api_response *resp, struct err *e)
{
	char json[64];
	int n;

	(void)opaque;
	(void)req;
	(void)e;
	n = snprintf(json, sizeof(json), "{\"firecracker_version\":\"%s\",\"ember_version\":\"%s\"}",
		     EMBER_API_VERSION, EMBER_VERSION);
	api_json(resp, json, (size_t)n);
	return 0;
}

/*
 * vmm_api_answer_json: 200 with the @n bytes a *_to_json wrote into resp->body,
 * or 500 when they did not fit: ember's failure, not a refused request (0).
 */
static int vmm_api_answer_json(struct api_response *resp, int n)
{
	if (n < 0) {
		api_fault(resp, 500, "The configuration is too large to describe.");
		return 0;
	}
	resp->len = (size_t)n;
	resp->status = 200;
	return 0;
}

static int vmm_api_get_machine(void *opaque, struct api_request *req,
			       struct api_response *resp, struct err *e)
{
	struct vmm *v = opaque;

	(void)req;
	(void)e;
	return vmm_api_answer_json(resp, machine_to_json(&v->cfg.machine, resp->body,
							 sizeof(resp->body)));
}

static int vmm_api_get_vm_config(void *opaque, struct api_request *req,
				 struct api_response *resp, struct err *e)
{
	struct vmm *v = opaque;

	(void)req;
	(void)e;
	return vmm_api_answer_json(resp, config_to_json(&v->cfg, resp->body, sizeof(resp->body)));
}

/* vmm_api_set_machine: @m replaces the machine configuration if the whole still holds. */
static int vmm_api_set_machine(struct vmm *v, const struct machine_cfg *m, struct err *e)
{
	struct vm_config view = v->cfg;   /* a shallow view for config_check() */

	/* Rules that span sections (huge pages and an initrd) hold for the result. */
	view.machine = *m;
	if (config_check(&view, e))
		return -EINVAL;
	v->cfg.machine = *m;
	v->configured = 1;
	/* Map and register guest RAM now, not at InstanceStart. */
	vmm_prewarm(v, 1);
	return 0;
}

static int vmm_api_put_machine(void *opaque, struct api_request *req,
			       struct api_response *resp, struct err *e)
{
	(void)resp;
	return vmm_api_set_machine(opaque, req->arg, e);
}

/* PATCH /machine-config merges onto the current configuration: parsed here, once. */
static int vmm_api_patch_machine(void *opaque, struct api_request *req,
				 struct api_response *resp, struct err *e)
{
	struct vmm *v = opaque;
	struct machine_cfg m = v->cfg.machine;

	(void)resp;
	if (cfg_patch_machine(&m, req->body, req->body_len, e))
		return -EINVAL;
	return vmm_api_set_machine(v, &m, e);
}

static int vmm_api_put_boot_source(void *opaque, struct api_request *req,
				   struct api_response *resp, struct err *e)
{
	struct vmm *v = opaque;
	struct boot_source_cfg *b = req->arg;
	struct vm_config view = v->cfg;   /* a shallow view for config_check() */
	int r;

	(void)resp;
	view.boot_source = *b;
	view.has_boot_source = true;
	r = config_check(&view, e);
	if (r == 0)
		r = vmm_set_boot_source(v, b, e);
	return r;
}

static int vmm_api_put_drive(void *opaque, struct api_request *req,
			     struct api_response *resp, struct err *e)
{
	(void)resp;
	return vmm_set_drive(opaque, req->arg, e);
}

static int vmm_api_patch_drive(void *opaque, struct api_request *req,
			       struct api_response *resp, struct err *e)
{
	(void)resp;
	return vmm_patch_drive(opaque, req->arg, e) ? -EINVAL : 0;
}

static int vmm_api_put_net(void *opaque, struct api_request *req,
			   struct api_response *resp, struct err *e)
{
	(void)resp;
	return vmm_set_net(opaque, req->arg, e);
}

static int vmm_api_patch_net(void *opaque, struct api_request *req,
			     struct api_response *resp, struct err *e)
{
	(void)resp;
	return vmm_patch_net(opaque, req->arg, e) ? -EINVAL : 0;
}

static int vmm_api_put_vsock(void *opaque, struct api_request *req,
			     struct api_response *resp, struct err *e)
{
	(void)resp;
	return vmm_set_vsock(opaque, req->arg, e);
}

static int vmm_api_put_logger(void *opaque, struct api_request *req,
			      struct api_response *resp, struct err *e)
{
	(void)resp;
	return vmm_set_logger(opaque, req->arg, e);
}

static int vmm_api_put_metrics(void *opaque, struct api_request *req,
			       struct api_response *resp, struct err *e)
{
	(void)resp;
	return vmm_set_metrics(opaque, req->arg, e);
}

static int vmm_api_put_serial(void *opaque, struct api_request *req,
			      struct api_response *resp, struct err *e)
{
	(void)resp;
	return vmm_set_serial(opaque, req->arg, e);
}

/* PUT /actions: any phase as a whole; each action has its own rule. */
static int vmm_api_put_action(void *opaque, struct api_request *req,
			      struct api_response *resp, struct err *e)
{
	struct vmm *v = opaque;
	const enum vm_action *action = req->arg;

	(void)resp;
	switch (*action) {
	case VM_ACTION_INSTANCE_START:
		if (v->state != VMM_NOT_STARTED)
			return vmm_api_refuse(e, -EINVAL, API_MSG_AFTER_START);
		if (vmm_start(v, e))
			return -EINVAL;
		metric_set(M_latencies_us_vmm_start_us, v->first_insn_build_us);
		if (metrics_is_open())
			metrics_flush();
		return 0;
	case VM_ACTION_SEND_CTRL_ALT_DEL:
		if (v->state == VMM_NOT_STARTED)
			return vmm_api_refuse(e, -EINVAL, API_MSG_BEFORE_START);
		if (vmm_ctrl_alt_del(v))
			return vmm_api_refuse(e, -EBUSY,
				"Cannot send Ctrl+Alt+Del: the keyboard buffer is full.");
		return 0;
	case VM_ACTION_FLUSH_METRICS:
		if (!metrics_is_open())
			return vmm_api_refuse(e, -EINVAL, "The metrics system is not initialized.");
		if (metrics_flush())
			return vmm_api_refuse(e, -EIO, "Cannot write the metrics.");
		return 0;
	}
	return vmm_api_refuse(e, -EINVAL, "Invalid action.");
}

/* PATCH /vm (post-boot): pause or resume; the same state again is accepted. */
static int vmm_api_patch_vm(void *opaque, struct api_request *req,
			    struct api_response *resp, struct err *e)
{
	struct vmm *v = opaque;
	const enum vm_state_req *state = req->arg;
	uint64_t t0 = clock_now_us();

	(void)resp;
	(void)e;
	if (*state == VM_STATE_PAUSED) {
		if (v->state == VMM_RUNNING)
			vmm_pause(v);
		metric_set(M_latencies_us_pause_vm, clock_now_us() - t0);
	} else {
		if (v->state == VMM_PAUSED)
			vmm_resume(v);
		metric_set(M_latencies_us_resume_vm, clock_now_us() - t0);
	}
	LOG_INFO("The microVM is now %s", vmm_api_state_name(v->state));
	return 0;
}

static bool vmm_api_started(void *opaque)
{
	const struct vmm *v = opaque;

	return v->state != VMM_NOT_STARTED;
}

static int vmm_api_put_snapshot_create(void *opaque, struct api_request *req,
				       struct api_response *resp, struct err *e)
{
	uint64_t t0 = clock_now_us();
	int r;

	(void)resp;
	r = vmm_snapshot_create(opaque, req->arg, e);
	if (!r)
		metric_set(M_latencies_us_full_create_snapshot, clock_now_us() - t0);
	return r;
}

static int vmm_api_put_snapshot_load(void *opaque, struct api_request *req,
				     struct api_response *resp, struct err *e)
{
	uint64_t t0 = clock_now_us();
	int r;

	(void)resp;
	r = vmm_snapshot_load(opaque, req->arg, e);
	if (!r)
		metric_set(M_latencies_us_load_snapshot, clock_now_us() - t0);
	return r;
}

/*
 * PUT and PATCH /mmds: the body is the store's, applied whole or not at all;
 * a store over --mmds-size-limit is refused with 413, as Firecracker does.
 */
static int vmm_api_mmds_write(void *opaque, struct api_request *req, struct api_response *resp,
			      struct err *e, bool patch)
{
	struct vmm *v = opaque;
	int r;

	pthread_mutex_lock(&v->mmds.lock);
	r = patch ? mmds_store_patch(&v->mmds.store, req->body, req->body_len, e)
		  : mmds_store_put(&v->mmds.store, req->body, req->body_len, e);
	pthread_mutex_unlock(&v->mmds.lock);
	if (r == -EFBIG)
		api_fault(resp, 413, e->msg);
	return r;
}

static int vmm_api_put_mmds(void *opaque, struct api_request *req, struct api_response *resp,
			    struct err *e)
{
	return vmm_api_mmds_write(opaque, req, resp, e, false);
}

static int vmm_api_patch_mmds(void *opaque, struct api_request *req, struct api_response *resp,
			      struct err *e)
{
	return vmm_api_mmds_write(opaque, req, resp, e, true);
}

static int vmm_api_get_mmds(void *opaque, struct api_request *req, struct api_response *resp,
			    struct err *e)
{
	struct vmm *v = opaque;
	int n;

	(void)req;
	(void)e;
	pthread_mutex_lock(&v->mmds.lock);
	if (v->mmds.store.size < sizeof(resp->body)) {
		n = mmds_store_json(&v->mmds.store, resp->body, sizeof(resp->body));
	} else {
		/* A store up to --mmds-size-limit (64 MiB at most): its own block. */
		size_t cap = v->mmds.store.size + 1;

		resp->big = malloc(cap);
		n = resp->big ? mmds_store_json(&v->mmds.store, resp->big, cap) : -ENOMEM;
	}
	pthread_mutex_unlock(&v->mmds.lock);
	if (resp->big && n < 0) {
		free(resp->big);
		resp->big = NULL;
	}
	return vmm_api_answer_json(resp, n);
}

static int vmm_api_put_mmds_config(void *opaque, struct api_request *req,
				   struct api_response *resp, struct err *e)
{
	(void)resp;
	return vmm_set_mmds_config(opaque, req->arg, e);
}

/* ---- the table ------------------------------------------------------------ */

#define PRE  API_PHASE_PRE_BOOT
#define POST API_PHASE_POST_BOOT
#define ANY  API_PHASE_ANY
#define NONE API_NO_METRIC

/* Per row: endpoint, method, phase; body size, parser, free; action; count and fails metrics. */
static const struct api_op vmm_api_ops[] = {
	{ ROUTE_INSTANCE_INFO, HTTP_METHOD_GET, ANY,
	  0, NULL, NULL, vmm_api_get_instance_info,
	  M_get_api_requests_instance_info_count, NONE },
	{ ROUTE_VERSION, HTTP_METHOD_GET, ANY,
	  0, NULL, NULL, vmm_api_get_version,
	  M_get_api_requests_vmm_version_count, NONE },
	{ ROUTE_MACHINE_CONFIG, HTTP_METHOD_GET, ANY,
	  0, NULL, NULL, vmm_api_get_machine,
	  M_get_api_requests_machine_cfg_count, NONE },
	{ ROUTE_MACHINE_CONFIG, HTTP_METHOD_PUT, PRE,
	  sizeof(struct machine_cfg), vmm_api_parse_machine, NULL, vmm_api_put_machine,
	  M_put_api_requests_machine_cfg_count, M_put_api_requests_machine_cfg_fails },
	/* No parser: the body merges onto the configuration of the moment (its action). */
	{ ROUTE_MACHINE_CONFIG, HTTP_METHOD_PATCH, PRE,
	  0, NULL, NULL, vmm_api_patch_machine,
	  M_patch_api_requests_machine_cfg_count, M_patch_api_requests_machine_cfg_fails },
	{ ROUTE_VM_CONFIG, HTTP_METHOD_GET, ANY,
	  0, NULL, NULL, vmm_api_get_vm_config,
	  M_get_api_requests_vm_config_count, NONE },
	{ ROUTE_BOOT_SOURCE, HTTP_METHOD_PUT, PRE,
	  sizeof(struct boot_source_cfg), vmm_api_parse_boot_source, vmm_api_free_boot_source,
	  vmm_api_put_boot_source,
	  M_put_api_requests_boot_source_count, M_put_api_requests_boot_source_fails },
	{ ROUTE_DRIVE, HTTP_METHOD_PUT, PRE,
	  sizeof(struct drive_cfg), vmm_api_parse_drive, vmm_api_free_drive, vmm_api_put_drive,
	  M_put_api_requests_drive_count, M_put_api_requests_drive_fails },
	{ ROUTE_DRIVE, HTTP_METHOD_PATCH, POST,
	  sizeof(struct drive_patch), vmm_api_parse_drive_patch, vmm_api_free_drive_patch,
	  vmm_api_patch_drive,
	  M_patch_api_requests_drive_count, M_patch_api_requests_drive_fails },
	{ ROUTE_NETWORK_INTERFACE, HTTP_METHOD_PUT, PRE,
	  sizeof(struct net_cfg), vmm_api_parse_net, NULL, vmm_api_put_net,
	  M_put_api_requests_network_count, M_put_api_requests_network_fails },
	{ ROUTE_NETWORK_INTERFACE, HTTP_METHOD_PATCH, POST,
	  sizeof(struct net_patch), vmm_api_parse_net_patch, NULL, vmm_api_patch_net,
	  M_patch_api_requests_network_count, M_patch_api_requests_network_fails },
	{ ROUTE_VSOCK, HTTP_METHOD_PUT, PRE,
	  sizeof(struct vsock_cfg), vmm_api_parse_vsock, vmm_api_free_vsock, vmm_api_put_vsock,
	  M_put_api_requests_vsock_count, M_put_api_requests_vsock_fails },
	/* Each action has its own phase rule (vmm_api_put_action). */
	{ ROUTE_ACTIONS, HTTP_METHOD_PUT, ANY,
	  sizeof(enum vm_action), vmm_api_parse_action, NULL, vmm_api_put_action,
	  M_put_api_requests_actions_count, M_put_api_requests_actions_fails },
	{ ROUTE_VM, HTTP_METHOD_PATCH, POST,
	  sizeof(enum vm_state_req), vmm_api_parse_vm_state, NULL, vmm_api_patch_vm,
	  M_patch_api_requests_vm_count, M_patch_api_requests_vm_fails },
	{ ROUTE_LOGGER, HTTP_METHOD_PUT, PRE,
	  sizeof(struct logger_cfg), vmm_api_parse_logger, vmm_api_free_logger, vmm_api_put_logger,
	  M_put_api_requests_logger_count, M_put_api_requests_logger_fails },
	{ ROUTE_METRICS, HTTP_METHOD_PUT, PRE,
	  sizeof(struct metrics_cfg), vmm_api_parse_metrics, vmm_api_free_metrics,
	  vmm_api_put_metrics,
	  M_put_api_requests_metrics_count, M_put_api_requests_metrics_fails },
	/* Firecracker has no metrics for PUT /serial. */
	{ ROUTE_SERIAL, HTTP_METHOD_PUT, PRE,
	  sizeof(struct serial_cfg), vmm_api_parse_serial, vmm_api_free_serial, vmm_api_put_serial,
	  NONE, NONE },
	/* The store: any phase; the guest reads it through the interfaces mmds-config names. */
	{ ROUTE_MMDS, HTTP_METHOD_GET, ANY,
	  0, NULL, NULL, vmm_api_get_mmds,
	  M_get_api_requests_mmds_count, NONE },
	{ ROUTE_MMDS, HTTP_METHOD_PUT, ANY,
	  0, NULL, NULL, vmm_api_put_mmds,
	  M_put_api_requests_mmds_count, M_put_api_requests_mmds_fails },
	{ ROUTE_MMDS, HTTP_METHOD_PATCH, ANY,
	  0, NULL, NULL, vmm_api_patch_mmds,
	  M_patch_api_requests_mmds_count, M_patch_api_requests_mmds_fails },
	{ ROUTE_MMDS_CONFIG, HTTP_METHOD_PUT, PRE,
	  sizeof(struct mmds_cfg), vmm_api_parse_mmds_config, NULL, vmm_api_put_mmds_config,
	  M_put_api_requests_mmds_count, M_put_api_requests_mmds_fails },
	/* Paused only (the action checks); Firecracker counts only their latencies. */
	{ ROUTE_SNAPSHOT_CREATE, HTTP_METHOD_PUT, POST,
	  sizeof(struct snapshot_create_cfg), vmm_api_parse_snapshot_create,
	  vmm_api_free_snapshot_create, vmm_api_put_snapshot_create, NONE, NONE },
	/* Before anything is configured (the action checks). */
	{ ROUTE_SNAPSHOT_LOAD, HTTP_METHOD_PUT, PRE,
	  sizeof(struct snapshot_load_cfg), vmm_api_parse_snapshot_load,
	  vmm_api_free_snapshot_load, vmm_api_put_snapshot_load, NONE, NONE },
};

#undef PRE
#undef POST
#undef ANY
#undef NONE

const struct api_table vmm_api_table = {
	.ops = vmm_api_ops,
	.n = sizeof(vmm_api_ops) / sizeof(vmm_api_ops[0]),
	.started = vmm_api_started,
};
