/* api.c: the API request bodies: PUT sections, PATCH bodies, actions and VM state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/json.h"
#include "config/sections.h"

/* ---- API bodies ----------------------------------------------------------- */

/*
 * Every body parser has one shape: check the path id (if the route has one),
 * open the document, run a section parser on its root object, close. The
 * section parsers leave their output reset on failure.
 */
typedef int (*cfg_root_fn)(const struct cfgj *j, const char *path_id, void *out);

static int cfg_parse_root(const char *json, size_t len, const char *path_id, int has_id,
			  cfg_root_fn fn, void *out, struct err *e)
{
	struct cfgj j;
	int r = has_id ? cfg_path_id(path_id, e) : 0;

	memset(&j, 0, sizeof(j));
	if (r == 0)
		r = cfgj_open(&j, json, len, e);
	if (r == 0)
		r = fn(&j, path_id, out);
	cfgj_close(&j);
	return r;
}

static int cfg_root_boot_source(const struct cfgj *j, const char *id, void *out)
{
	(void)id;
	return cfg_boot_source_at(j, 0, out);
}

static int cfg_root_machine(const struct cfgj *j, const char *id, void *out)
{
	(void)id;
	return cfg_machine_put_at(j, 0, out);
}

static int cfg_root_drive(const struct cfgj *j, const char *id, void *out)
{
	return cfg_drive_at(j, 0, id, out);
}

static int cfg_root_net(const struct cfgj *j, const char *id, void *out)
{
	return cfg_net_at(j, 0, id, out);
}

static int cfg_root_vsock(const struct cfgj *j, const char *id, void *out)
{
	(void)id;
	return cfg_vsock_at(j, 0, out);
}

static int cfg_root_logger(const struct cfgj *j, const char *id, void *out)
{
	(void)id;
	return cfg_logger_at(j, 0, out);
}

static int cfg_root_serial(const struct cfgj *j, const char *id, void *out)
{
	(void)id;
	return cfg_serial_at(j, 0, out);
}

static int cfg_root_mmds(const struct cfgj *j, const char *id, void *out)
{
	(void)id;
	return cfg_mmds_at(j, 0, out);
}

static int cfg_root_metrics(const struct cfgj *j, const char *id, void *out)
{
	(void)id;
	return cfg_metrics_at(j, 0, out);
}

int cfg_parse_boot_source(struct boot_source_cfg *out, const char *json,
			  size_t len, struct err *e)
{
	memset(out, 0, sizeof(*out));
	return cfg_parse_root(json, len, NULL, 0, cfg_root_boot_source, out, e);
}

int cfg_parse_machine(struct machine_cfg *out, const char *json, size_t len,
		      struct err *e)
{
	cfg_machine_defaults(out);
	return cfg_parse_root(json, len, NULL, 0, cfg_root_machine, out, e);
}

struct cfg_machine_patch {
	struct machine_cfg m;
	int nset;
};

static int cfg_root_machine_patch(const struct cfgj *j, const char *id, void *out)
{
	struct cfg_machine_patch *p = out;

	(void)id;
	return cfg_machine_at(j, 0, &p->m, false, &p->nset);
}

int cfg_patch_machine(struct machine_cfg *inout, const char *json, size_t len,
		      struct err *e)
{
	struct cfg_machine_patch p = { *inout, 0 };
	int r = cfg_parse_root(json, len, NULL, 0, cfg_root_machine_patch, &p, e);

	if (r)
		return r;
	if (p.nset == 0)
		return cfg_seterr(e, "Empty PATCH request.");
	*inout = p.m;
	return 0;
}

int cfg_parse_drive(struct drive_cfg *out, const char *path_id,
		    const char *json, size_t len, struct err *e)
{
	memset(out, 0, sizeof(*out));
	return cfg_parse_root(json, len, path_id, 1, cfg_root_drive, out, e);
}

int cfg_parse_net(struct net_cfg *out, const char *path_id, const char *json,
		  size_t len, struct err *e)
{
	memset(out, 0, sizeof(*out));
	return cfg_parse_root(json, len, path_id, 1, cfg_root_net, out, e);
}

int cfg_parse_vsock(struct vsock_cfg *out, const char *json, size_t len,
		    struct err *e)
{
	memset(out, 0, sizeof(*out));
	return cfg_parse_root(json, len, NULL, 0, cfg_root_vsock, out, e);
}

int cfg_parse_logger(struct logger_cfg *out, const char *json, size_t len,
		     struct err *e)
{
	memset(out, 0, sizeof(*out));
	out->level = LOG_LEVEL_INFO;
	return cfg_parse_root(json, len, NULL, 0, cfg_root_logger, out, e);
}

int cfg_parse_serial(struct serial_cfg *out, const char *json, size_t len,
		     struct err *e)
{
	memset(out, 0, sizeof(*out));
	return cfg_parse_root(json, len, NULL, 0, cfg_root_serial, out, e);
}

int cfg_parse_metrics(struct metrics_cfg *out, const char *json, size_t len,
		      struct err *e)
{
	memset(out, 0, sizeof(*out));
	return cfg_parse_root(json, len, NULL, 0, cfg_root_metrics, out, e);
}

int cfg_parse_mmds_config(struct mmds_cfg *out, const char *json, size_t len,
			  struct err *e)
{
	memset(out, 0, sizeof(*out));
	return cfg_parse_root(json, len, NULL, 0, cfg_root_mmds, out, e);
}

/* ---- post-boot PATCH bodies ---------------------------------------------- */

void drive_patch_free(struct drive_patch *p)
{
	free(p->path_on_host);
	memset(p, 0, sizeof(*p));
}

static int cfg_drive_patch_at(const struct cfgj *j, int i, const char *path_id,
			      struct drive_patch *p)
{
	static const char *const f[] = { "drive_id", "path_on_host",
					 "rate_limiter" };
	int v[3];

	if (cfgj_fields(j, i, "drive", f, 3, v))
		return -EINVAL;
	if (v[0] < 0)
		return cfg_seterr(j->e, "missing field `drive_id`");
	if (cfg_id_at(j, v[0], f[0], path_id, p->drive_id))
		return -EINVAL;
	/* parse_patch_drive: an update needs something to update. */
	if (v[1] < 0 && v[2] < 0)
		return cfg_seterr(j->e, "Please specify at least one property to "
					"patch: path_on_host, rate_limiter.");
	if (v[1] >= 0) {
		if (cfg_path_at(j, v[1], f[1], CFG_PATH_MAX, &p->path_on_host))
			return -EINVAL;
		p->has_path_on_host = true;
	}
	if (v[2] >= 0) {
		if (cfg_rate_limiter_at(j, v[2], f[2], &p->rate_limiter))
			return -EINVAL;
		p->has_rate_limiter = true;
	}
	return 0;
}

static int cfg_root_drive_patch(const struct cfgj *j, const char *id, void *out)
{
	return cfg_drive_patch_at(j, 0, id, out);
}

int cfg_parse_drive_patch(struct drive_patch *out, const char *path_id,
			  const char *json, size_t len, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = cfg_parse_root(json, len, path_id, 1, cfg_root_drive_patch, out, e);
	if (r)
		drive_patch_free(out);
	return r;
}

static int cfg_net_patch_at(const struct cfgj *j, int i, const char *path_id,
			    struct net_patch *p)
{
	static const char *const f[] = { "iface_id", "rx_rate_limiter",
					 "tx_rate_limiter" };
	int v[3];

	if (cfgj_fields(j, i, "network interface", f, 3, v))
		return -EINVAL;
	if (v[0] < 0)
		return cfg_seterr(j->e, "missing field `iface_id`");
	if (cfg_id_at(j, v[0], f[0], path_id, p->iface_id))
		return -EINVAL;
	if (v[1] >= 0) {
		if (cfg_rate_limiter_at(j, v[1], f[1], &p->rx_rate_limiter))
			return -EINVAL;
		p->has_rx_rate_limiter = true;
	}
	if (v[2] >= 0) {
		if (cfg_rate_limiter_at(j, v[2], f[2], &p->tx_rate_limiter))
			return -EINVAL;
		p->has_tx_rate_limiter = true;
	}
	return 0;
}

static int cfg_root_net_patch(const struct cfgj *j, const char *id, void *out)
{
	return cfg_net_patch_at(j, 0, id, out);
}

int cfg_parse_net_patch(struct net_patch *out, const char *path_id,
			const char *json, size_t len, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = cfg_parse_root(json, len, path_id, 1, cfg_root_net_patch, out, e);
	if (r)
		memset(out, 0, sizeof(*out));
	return r;
}

/* ---- snapshots ------------------------------------------------------------ */

/* Firecracker's texts (api_server's request/snapshot.rs). */
#define CFG_MSG_MEM_BOTH                                                       \
	"too many fields: either `mem_backend` or `mem_file_path` exclusively " \
	"is required"
#define CFG_MSG_MEM_NONE                                                       \
	"missing field: either `mem_backend` or `mem_file_path` is required"

void snapshot_create_free(struct snapshot_create_cfg *c)
{
	free(c->snapshot_path);
	free(c->mem_file_path);
	memset(c, 0, sizeof(*c));
}

void snapshot_load_free(struct snapshot_load_cfg *c)
{
	free(c->snapshot_path);
	free(c->backend_path);
	free(c->vsock_uds_path);
	memset(c, 0, sizeof(*c));
}

/* Members in the order of Firecracker's structs, so that the same field is missed first. */
static int cfg_snapshot_create_at(const struct cfgj *j, int i,
				  struct snapshot_create_cfg *c)
{
	static const char *const f[] = { "snapshot_type", "snapshot_path",
					 "mem_file_path" };
	static const char *const types[] = { "Full", "Diff" };
	int v[3], idx, r;

	r = cfgj_fields(j, i, "snapshot create", f, 3, v);
	if (r == 0 && (v[1] < 0 || v[2] < 0))
		r = cfg_seterr(j->e, "missing field `%s`", v[1] < 0 ? f[1] : f[2]);
	if (r == 0 && v[0] >= 0) {
		r = cfg_enum_at(j, v[0], f[0], types, 2, &idx);
		if (r == 0)
			c->type = idx ? SNAPSHOT_DIFF : SNAPSHOT_FULL;
	}
	if (r == 0)
		r = cfg_path_at(j, v[1], f[1], CFG_PATH_MAX, &c->snapshot_path);
	if (r == 0)
		r = cfg_path_at(j, v[2], f[2], CFG_PATH_MAX, &c->mem_file_path);
	if (r)
		snapshot_create_free(c);
	return r;
}

static int cfg_root_snapshot_create(const struct cfgj *j, const char *id, void *out)
{
	(void)id;
	return cfg_snapshot_create_at(j, 0, out);
}

int cfg_parse_snapshot_create(struct snapshot_create_cfg *out, const char *json,
			      size_t len, struct err *e)
{
	memset(out, 0, sizeof(*out));
	return cfg_parse_root(json, len, NULL, 0, cfg_root_snapshot_create, out, e);
}

/* cfg_mem_backend_at: MemoryBackend, both members required. */
static int cfg_mem_backend_at(const struct cfgj *j, int i,
			      struct snapshot_load_cfg *c)
{
	static const char *const f[] = { "backend_path", "backend_type" };
	static const char *const types[] = { "File", "Uffd" };
	int v[2], idx, r;

	r = cfgj_fields(j, i, "mem_backend", f, 2, v);
	if (r == 0 && (v[0] < 0 || v[1] < 0))
		r = cfg_seterr(j->e, "missing field `%s` in mem_backend",
			       v[0] < 0 ? f[0] : f[1]);
	if (r == 0)
		r = cfg_enum_at(j, v[1], f[1], types, 2, &idx);
	if (r)
		return r;
	c->backend_type = idx ? MEM_BACKEND_UFFD : MEM_BACKEND_FILE;
	/* A Uffd backend is the socket of the page-fault handler. */
	return cfg_path_at(j, v[0], f[0], idx ? CFG_UDS_PATH_MAX : CFG_PATH_MAX,
			   &c->backend_path);
}

/* cfg_net_override_at: one NetworkOverride, unique by iface_id among the first @k. */
static int cfg_net_override_at(const struct cfgj *j, int i,
			       struct snapshot_load_cfg *c, unsigned k)
{
	static const char *const f[] = { "iface_id", "host_dev_name" };
	struct net_override *o = &c->net_overrides[k];
	char name[64];
	unsigned m;
	int v[2], r;

	r = cfgj_fields(j, i, "network override", f, 2, v);
	if (r == 0 && (v[0] < 0 || v[1] < 0))
		r = cfg_seterr(j->e, "missing field `%s`", v[0] < 0 ? f[0] : f[1]);
	if (r == 0)
		r = cfg_id_at(j, v[0], f[0], NULL, o->iface_id);
	if (r == 0)
		r = cfgj_str_buf(j, v[1], f[1], name, sizeof(name));
	if (r == 0)
		r = cfg_ifname_ok(name, j->e);
	if (r)
		return r;
	memcpy(o->host_dev_name, name, strlen(name) + 1);
	for (m = 0; m < k; m++) {
		if (strcmp(c->net_overrides[m].iface_id, o->iface_id) == 0)
			return cfg_seterr(j->e, "duplicate `iface_id` \"%s\"",
					  o->iface_id);
	}
	return 0;
}

static int cfg_net_overrides_at(const struct cfgj *j, int arr,
				struct snapshot_load_cfg *c)
{
	char where[40];
	int n, k, i, r;

	r = cfgj_array(j, arr, "network_overrides", &n);
	if (r)
		return r;
	if (n > CFG_MAX_NETS)
		return cfg_seterr(j->e, "Too many network overrides (max %d)",
				  CFG_MAX_NETS);
	for (k = 0, i = arr + 1; k < n; k++, i = cfgj_skip(j, i)) {
		r = cfg_net_override_at(j, i, c, (unsigned)k);
		if (r) {
			snprintf(where, sizeof(where), "network_overrides[%d]", k);
			cfg_err_prefix(j->e, where);
			return r;
		}
		c->n_net_overrides++;
	}
	return 0;
}

static int cfg_vsock_override_at(const struct cfgj *j, int i,
				 struct snapshot_load_cfg *c)
{
	static const char *const f[] = { "uds_path" };
	int v[1], r;

	r = cfgj_fields(j, i, "vsock_override", f, 1, v);
	if (r == 0 && v[0] < 0)
		r = cfg_seterr(j->e, "missing field `uds_path` in vsock_override");
	if (r == 0)
		r = cfg_path_at(j, v[0], f[0], CFG_UDS_PATH_MAX, &c->vsock_uds_path);
	return r;
}

/*
 * cfg_snapshot_load_at: LoadSnapshotConfig's members, then, as
 * parse_put_snapshot_load does once the body is deserialised, the choice of
 * exactly one memory source.
 */
static int cfg_snapshot_load_at(const struct cfgj *j, int i,
				struct snapshot_load_cfg *c)
{
	static const char *const f[] = {
		"snapshot_path", "mem_file_path", "mem_backend",
		"enable_diff_snapshots", "track_dirty_pages", "resume_vm",
		"network_overrides", "vsock_override", "clock_realtime",
	};
	char *mem_file = NULL;
	bool diff = false;
	int v[9], r;

	r = cfgj_fields(j, i, "snapshot load", f, 9, v);
	if (r == 0 && v[0] < 0)
		r = cfg_seterr(j->e, "missing field `snapshot_path`");
	if (r == 0)
		r = cfg_path_at(j, v[0], f[0], CFG_PATH_MAX, &c->snapshot_path);
	if (r == 0 && v[1] >= 0)
		r = cfg_path_at(j, v[1], f[1], CFG_PATH_MAX, &mem_file);
	if (r == 0 && v[2] >= 0)
		r = cfg_mem_backend_at(j, v[2], c);
	if (r == 0 && v[3] >= 0)
		r = cfgj_bool(j, v[3], f[3], &diff);
	if (r == 0 && v[4] >= 0)
		r = cfgj_bool(j, v[4], f[4], &c->track_dirty_pages);
	if (r == 0 && v[5] >= 0)
		r = cfgj_bool(j, v[5], f[5], &c->resume_vm);
	if (r == 0 && v[6] >= 0)
		r = cfg_net_overrides_at(j, v[6], c);
	if (r == 0 && v[7] >= 0)
		r = cfg_vsock_override_at(j, v[7], c);
	if (r == 0 && v[8] >= 0)
		r = cfgj_bool(j, v[8], f[8], &c->clock_realtime);
	/* kvmclock is restored as it was saved; advancing it is not offered. */
	if (r == 0 && c->clock_realtime)
		r = cfg_seterr(j->e, "`clock_realtime` is not supported by ember: the guest's clock "
			       "goes on from where the snapshot stopped it");
	if (r == 0 && v[1] >= 0 && v[2] >= 0)
		r = cfg_seterr(j->e, CFG_MSG_MEM_BOTH);
	if (r == 0 && v[1] < 0 && v[2] < 0)
		r = cfg_seterr(j->e, CFG_MSG_MEM_NONE);
	if (r) {
		free(mem_file);
		snapshot_load_free(c);
		return r;
	}
	if (mem_file) {
		/* parse_put_snapshot_load: the old field names a File backend. */
		c->backend_type = MEM_BACKEND_FILE;
		c->backend_path = mem_file;
	}
	c->track_dirty_pages = c->track_dirty_pages || diff;
	c->used_deprecated = v[1] >= 0 || diff;
	return 0;
}

static int cfg_root_snapshot_load(const struct cfgj *j, const char *id, void *out)
{
	(void)id;
	return cfg_snapshot_load_at(j, 0, out);
}

int cfg_parse_snapshot_load(struct snapshot_load_cfg *out, const char *json,
			    size_t len, struct err *e)
{
	memset(out, 0, sizeof(*out));
	return cfg_parse_root(json, len, NULL, 0, cfg_root_snapshot_load, out, e);
}

/* ---- actions and VM state ------------------------------------------------- */

/* cfg_parse_one_enum: a body whose only member is one required enum string. */
static int cfg_parse_one_enum(const char *json, size_t len, const char *what,
			      const char *field, const char *const *names,
			      int n, int *out, struct err *e)
{
	struct cfgj j;
	int r, v[1];

	r = cfgj_open(&j, json, len, e);
	if (r == 0)
		r = cfgj_fields(&j, 0, what, &field, 1, v);
	if (r == 0 && v[0] < 0)
		r = cfg_seterr(e, "missing field `%s`", field);
	if (r == 0)
		r = cfg_enum_at(&j, v[0], field, names, n, out);
	cfgj_close(&j);
	return r;
}

int cfg_parse_action(enum vm_action *out, const char *json, size_t len,
		     struct err *e)
{
	/* In enum vm_action order. */
	static const char *const names[] = { "InstanceStart", "SendCtrlAltDel",
					     "FlushMetrics" };
	int idx = 0, r;

	r = cfg_parse_one_enum(json, len, "action", "action_type", names, 3,
			       &idx, e);
	if (r == 0)
		*out = (enum vm_action)idx;
	return r;
}

int cfg_parse_vm_state(enum vm_state_req *out, const char *json, size_t len,
		       struct err *e)
{
	static const char *const names[] = { "Paused", "Resumed" };
	int idx = 0, r;

	r = cfg_parse_one_enum(json, len, "vm", "state", names, 2, &idx, e);
	if (r == 0)
		*out = (enum vm_state_req)idx;
	return r;
}
