/* api.c: the API request bodies: PUT sections, PATCH bodies, actions and VM state. */
#include <errno.h>
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
