/* config.c: Firecracker configuration sections: parsing, validation and the device lists. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/json.h"
#include "config/sections.h"

/* Firecracker's texts for these errors (its api_server and vmm_config sources). */
#define CFG_MSG_ID_MISMATCH "The id from the path does not match the id from the body!"
#define CFG_MSG_ID_EMPTY    "The ID cannot be empty."
#define CFG_MSG_ID_INVALID                                                     \
	"API Resource IDs can only contain alphanumeric characters and "       \
	"underscores."
#define CFG_MSG_VCPUS                                                          \
	"The number of vCPUs must be greater than 0, less than 32 and must be " \
	"1 or an even number if SMT is enabled."
#define CFG_MSG_MEM                                                            \
	"The memory size (MiB) is either 0, or not a multiple of the "         \
	"configured page size."

#define CFG_NFIELDS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- ids, names, small validators ------------------------------------- */

static int cfg_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

int cfg_valid_id(const char *s)
{
	size_t n;

	if (!s)
		return 0;
	for (n = 0; s[n]; n++) {
		if (n >= CFG_ID_MAX || (!cfg_is_alnum(s[n]) && s[n] != '_'))
			return 0;
	}
	return n > 0;
}

int cfg_valid_vm_id(const char *s)
{
	size_t n;

	if (!s)
		return 0;
	for (n = 0; s[n]; n++) {
		if (n >= CFG_ID_MAX || (!cfg_is_alnum(s[n]) && s[n] != '-'))
			return 0;
	}
	return n > 0;
}

const char *log_level_name(enum log_level l)
{
	switch (l) {
	case LOG_LEVEL_OFF: return "Off";
	case LOG_LEVEL_ERROR: return "Error";
	case LOG_LEVEL_WARN: return "Warning";
	case LOG_LEVEL_INFO: return "Info";
	case LOG_LEVEL_DEBUG: return "Debug";
	case LOG_LEVEL_TRACE: return "Trace";
	}
	return "Info";
}

/*
 * cfg_path_id: check the id from the URL before the body, in Firecracker's
 * order (checked_id, then deserialisation, then the comparison).
 */
int cfg_path_id(const char *path_id, struct err *e)
{
	if (!path_id)
		return 0;
	if (!*path_id)
		return cfg_seterr(e, CFG_MSG_ID_EMPTY);
	if (!cfg_valid_id(path_id))
		return cfg_seterr(e, CFG_MSG_ID_INVALID);
	return 0;
}

/* cfg_id_at: the body id; equal to @path_id when one is given. */
int cfg_id_at(const struct cfgj *j, int i, const char *name,
		     const char *path_id, char *out)
{
	char *s;
	int r;

	r = cfgj_str(j, i, name, &s);
	if (r)
		return r;
	if (path_id && strcmp(s, path_id) != 0)
		r = cfg_seterr(j->e, CFG_MSG_ID_MISMATCH);
	else if (!cfg_valid_id(s))
		r = cfg_seterr(j->e,
			       "Invalid `%s`: use 1 to %d characters of [A-Za-z0-9_]",
			       name, CFG_ID_MAX);
	else
		memcpy(out, s, strlen(s) + 1);
	free(s);
	return r;
}

/* cfg_path_at: a host path: non-empty, shorter than @max with its NUL. */
int cfg_path_at(const struct cfgj *j, int i, const char *name,
		       size_t max, char **out)
{
	char *s;
	size_t n;
	int r;

	r = cfgj_str(j, i, name, &s);
	if (r)
		return r;
	n = strlen(s);
	if (n == 0 || n >= max) {
		free(s);
		if (n == 0)
			return cfg_seterr(j->e, "`%s` must not be empty", name);
		return cfg_seterr(j->e, "`%s` is too long (max %zu bytes)", name,
				  max - 1);
	}
	*out = s;
	return 0;
}

/*
 * cfg_enum_at: a string out of @names (exact match, as serde's derived enum
 * deserialisers do); its index in *@out.
 */
int cfg_enum_at(const struct cfgj *j, int i, const char *name,
		const char *const *names, int n, int *out)
{
	char buf[32], expect[160] = "";
	int k;

	if (cfgj_string(j, i, name))
		return -EINVAL;
	if (cfgj_str_buf(j, i, name, buf, sizeof(buf)) == 0) {
		for (k = 0; k < n; k++) {
			if (strcmp(buf, names[k]) == 0) {
				*out = k;
				return 0;
			}
		}
	}
	for (k = 0; k < n; k++) {
		size_t l = strlen(expect);

		snprintf(expect + l, sizeof(expect) - l, "%s`%s`", k ? ", " : "",
			 names[k]);
	}
	return cfg_seterr(j->e, "unknown variant for `%s`, expected one of %s",
			  name, expect);
}

/* ---- rate limiters ----------------------------------------------------- */

static int cfg_bucket_at(const struct cfgj *j, int i, const char *name,
			 struct token_bucket_cfg *b)
{
	static const char *const f[] = { "size", "one_time_burst", "refill_time" };
	int v[3];

	memset(b, 0, sizeof(*b));
	if (cfgj_fields(j, i, name, f, 3, v))
		return -EINVAL;
	if (v[0] < 0 || v[2] < 0)
		return cfg_seterr(j->e, "missing field `%s` in %s",
				  v[0] < 0 ? "size" : "refill_time", name);
	if (cfgj_u64(j, v[0], "size", UINT64_MAX, &b->size) ||
	    (v[1] >= 0 && cfgj_u64(j, v[1], "one_time_burst", UINT64_MAX,
				   &b->one_time_burst)) ||
	    cfgj_u64(j, v[2], "refill_time", UINT64_MAX, &b->refill_time_ms))
		return -EINVAL;
	b->present = true;
	return 0;
}

int cfg_rate_limiter_at(const struct cfgj *j, int i, const char *name,
			struct rate_limiter_cfg *rl)
{
	static const char *const f[] = { "bandwidth", "ops" };
	int v[2];

	memset(rl, 0, sizeof(*rl));
	if (cfgj_fields(j, i, name, f, 2, v))
		return -EINVAL;
	if (v[0] >= 0 && cfg_bucket_at(j, v[0], "bandwidth", &rl->bandwidth))
		return -EINVAL;
	if (v[1] >= 0 && cfg_bucket_at(j, v[1], "ops", &rl->ops))
		return -EINVAL;
	return 0;
}

/* ---- boot-source --------------------------------------------------------- */

void boot_source_free(struct boot_source_cfg *b)
{
	free(b->kernel_image_path);
	free(b->initrd_path);
	free(b->boot_args);
	memset(b, 0, sizeof(*b));
}

/*
 * cfg_boot_args_ok: linux-loader's Cmdline accepts printable ASCII only; the
 * VMM appends its own parameters, so only the user's part is bounded here.
 */
static int cfg_boot_args_ok(const char *s, struct err *e)
{
	size_t n;

	for (n = 0; s[n]; n++) {
		if (s[n] < 0x20 || s[n] > 0x7e)
			return cfg_seterr(e, "Invalid kernel command line: "
					     "`boot_args` must be printable ASCII");
	}
	if (n >= CFG_CMDLINE_MAX)
		return cfg_seterr(e, "Invalid kernel command line: `boot_args` is "
				     "too long (max %d bytes)", CFG_CMDLINE_MAX - 1);
	return 0;
}

int cfg_boot_source_at(const struct cfgj *j, int i, struct boot_source_cfg *b)
{
	static const char *const f[] = { "kernel_image_path", "initrd_path",
					 "boot_args" };
	int v[3];

	memset(b, 0, sizeof(*b));
	if (cfgj_fields(j, i, "boot-source", f, 3, v))
		return -EINVAL;
	if (v[0] < 0)
		return cfg_seterr(j->e, "missing field `kernel_image_path`");
	if (cfg_path_at(j, v[0], f[0], CFG_PATH_MAX, &b->kernel_image_path) ||
	    (v[1] >= 0 && cfg_path_at(j, v[1], f[1], CFG_PATH_MAX, &b->initrd_path)) ||
	    (v[2] >= 0 && cfgj_str(j, v[2], f[2], &b->boot_args)) ||
	    (b->boot_args && cfg_boot_args_ok(b->boot_args, j->e))) {
		boot_source_free(b);
		return -EINVAL;
	}
	return 0;
}

/* ---- machine-config ------------------------------------------------------ */

static const char *const cfg_machine_fields[] = {
	"vcpu_count", "mem_size_mib", "smt", "track_dirty_pages", "huge_pages",
	"cpu_template",
};

static const char *const cfg_huge_names[] = { "None", "2M" };

/* Firecracker's static templates: known, but not implemented by ember. */
static const char *const cfg_templates[] = { "None", "C3", "T2", "T2S",
					     "T2CL", "T2A", "V1N1" };

void cfg_machine_defaults(struct machine_cfg *m)
{
	memset(m, 0, sizeof(*m));
	m->vcpu_count = 1;
	m->mem_size_mib = 128;
	m->huge_pages = HUGE_PAGES_NONE;
}

/* cfg_machine_check: VmConfig::update's rules, plus ember's memory cap. */
static int cfg_machine_check(const struct machine_cfg *m, struct err *e)
{
	if (m->vcpu_count == 0 || m->vcpu_count > CFG_MAX_VCPUS ||
	    (m->smt && m->vcpu_count > 1 && (m->vcpu_count & 1)))
		return cfg_seterr(e, CFG_MSG_VCPUS);
	if (m->mem_size_mib == 0 ||
	    (m->huge_pages == HUGE_PAGES_2M && (m->mem_size_mib & 1)))
		return cfg_seterr(e, CFG_MSG_MEM);
	if (m->mem_size_mib > CFG_MAX_MEM_MIB)
		return cfg_seterr(e, "`mem_size_mib` is too large (max %u MiB)",
				  CFG_MAX_MEM_MIB);
	return 0;
}

/*
 * cfg_machine_at: apply the members present in the object at @i to @m (PUT
 * callers start from defaults and require the two sizes). *@nset counts the
 * members given, for PATCH's emptiness rule.
 */
int cfg_machine_at(const struct cfgj *j, int i, struct machine_cfg *m,
			  bool put, int *nset)
{
	int v[CFG_NFIELDS(cfg_machine_fields)], k, idx;
	uint64_t u;

	if (cfgj_fields(j, i, "machine-config", cfg_machine_fields,
			CFG_NFIELDS(cfg_machine_fields), v))
		return -EINVAL;
	if (put && (v[0] < 0 || v[1] < 0))
		return cfg_seterr(j->e, "missing field `%s`",
				  cfg_machine_fields[v[0] < 0 ? 0 : 1]);
	for (*nset = 0, k = 0; k < CFG_NFIELDS(cfg_machine_fields); k++)
		*nset += v[k] >= 0;
	if (v[0] >= 0) {
		if (cfgj_u64(j, v[0], "vcpu_count", UINT64_MAX, &u))
			return -EINVAL;
		if (u == 0 || u > CFG_MAX_VCPUS)
			return cfg_seterr(j->e, CFG_MSG_VCPUS);
		m->vcpu_count = (unsigned)u;
	}
	if (v[1] >= 0 && cfgj_u64(j, v[1], "mem_size_mib", UINT64_MAX,
				  &m->mem_size_mib))
		return -EINVAL;
	if (v[2] >= 0 && cfgj_bool(j, v[2], "smt", &m->smt))
		return -EINVAL;
	if (v[3] >= 0 && cfgj_bool(j, v[3], "track_dirty_pages",
				   &m->track_dirty_pages))
		return -EINVAL;
	if (v[4] >= 0) {
		if (cfg_enum_at(j, v[4], "huge_pages", cfg_huge_names, 2, &idx))
			return -EINVAL;
		m->huge_pages = idx ? HUGE_PAGES_2M : HUGE_PAGES_NONE;
	}
	if (v[5] >= 0) {
		if (cfg_enum_at(j, v[5], "cpu_template", cfg_templates,
				CFG_NFIELDS(cfg_templates), &idx))
			return -EINVAL;
		if (idx != 0)
			return cfg_seterr(j->e, "cpu_template `%s` is not supported "
						"by ember (only \"None\")",
					  cfg_templates[idx]);
		/* "None" means no template, as StaticCpuTemplate::None does. */
		m->cpu_template[0] = '\0';
	}
	return cfg_machine_check(m, j->e);
}

int cfg_machine_put_at(const struct cfgj *j, int i, struct machine_cfg *out)
{
	struct machine_cfg m;
	int nset;

	cfg_machine_defaults(&m);
	if (cfg_machine_at(j, i, &m, true, &nset))
		return -EINVAL;
	*out = m;
	return 0;
}

/* ---- drives -------------------------------------------------------------- */

void drive_free(struct drive_cfg *d)
{
	free(d->path_on_host);
	free(d->partuuid);
	memset(d, 0, sizeof(*d));
}

/*
 * cfg_partuuid_ok: the VMM puts it on the kernel command line
 * (root=PARTUUID=...), so only UUID characters are let through.
 */
static int cfg_partuuid_ok(const char *s, struct err *e)
{
	size_t n;

	for (n = 0; s[n]; n++) {
		if (!cfg_is_alnum(s[n]) && s[n] != '-')
			return cfg_seterr(e, "Invalid `partuuid`: use [0-9A-Za-z-]");
	}
	if (n == 0 || n > 64)
		return cfg_seterr(e, "Invalid `partuuid`: use 1 to 64 characters");
	return 0;
}

int cfg_drive_at(const struct cfgj *j, int i, const char *path_id,
		 struct drive_cfg *d)
{
	static const char *const f[] = {
		"drive_id", "partuuid", "is_root_device", "cache_type",
		"is_read_only", "path_on_host", "rate_limiter", "io_engine",
		"socket",
	};
	static const char *const caches[] = { "Unsafe", "Writeback" };
	static const char *const engines[] = { "Sync", "Async" };
	int v[CFG_NFIELDS(f)], idx;

	memset(d, 0, sizeof(*d));
	if (cfgj_fields(j, i, "drive", f, CFG_NFIELDS(f), v))
		return -EINVAL;
	if (v[0] < 0 || v[2] < 0)
		return cfg_seterr(j->e, "missing field `%s`", v[0] < 0 ? f[0] : f[2]);
	if (cfg_id_at(j, v[0], f[0], path_id, d->drive_id))
		goto fail;
	if (v[8] >= 0) {
		cfg_seterr(j->e, "vhost-user block devices (`socket`) are not "
				 "supported by ember");
		goto fail;
	}
	if (v[5] < 0) {
		cfg_seterr(j->e, "missing field `path_on_host`");
		goto fail;
	}
	if (cfgj_bool(j, v[2], f[2], &d->is_root_device) ||
	    cfg_path_at(j, v[5], f[5], CFG_PATH_MAX, &d->path_on_host) ||
	    (v[4] >= 0 && cfgj_bool(j, v[4], f[4], &d->is_read_only)) ||
	    (v[6] >= 0 && cfg_rate_limiter_at(j, v[6], f[6], &d->rate_limiter)))
		goto fail;
	if (v[1] >= 0 && (cfgj_str(j, v[1], f[1], &d->partuuid) ||
			  cfg_partuuid_ok(d->partuuid, j->e)))
		goto fail;
	if (v[3] >= 0) {
		if (cfg_enum_at(j, v[3], f[3], caches, 2, &idx))
			goto fail;
		d->cache_type = idx ? CACHE_WRITEBACK : CACHE_UNSAFE;
	}
	if (v[7] >= 0) {
		if (cfg_enum_at(j, v[7], f[7], engines, 2, &idx))
			goto fail;
		d->io_engine = idx ? IO_ENGINE_ASYNC : IO_ENGINE_SYNC;
	}
	return 0;
fail:
	drive_free(d);
	return -EINVAL;
}

int config_set_drive(struct vm_config *c, struct drive_cfg *d, struct err *e)
{
	struct drive_cfg tmp;
	unsigned pos, k;
	bool has_root = c->ndrives > 0 && c->drives[0].is_root_device;

	for (pos = 0; pos < c->ndrives; pos++) {
		if (strcmp(c->drives[pos].drive_id, d->drive_id) == 0)
			break;
	}
	/* BlockBuilder::insert: a second root fails unless it updates the first. */
	if (d->is_root_device && has_root && pos != 0)
		return cfg_seterr(e, "A root block device already exists!");
	if (pos == c->ndrives) {
		if (c->ndrives >= CFG_MAX_DRIVES)
			return cfg_seterr(e, "Too many drives (max %d)",
					  CFG_MAX_DRIVES);
		if (d->is_root_device) {
			for (k = c->ndrives; k > 0; k--)
				c->drives[k] = c->drives[k - 1];
			pos = 0;
		}
		c->ndrives++;
	} else {
		drive_free(&c->drives[pos]);
	}
	c->drives[pos] = *d;
	if (pos != 0 && d->is_root_device) {
		/* Keep the root device first, as Firecracker's swap does. */
		tmp = c->drives[0];
		c->drives[0] = c->drives[pos];
		c->drives[pos] = tmp;
	}
	memset(d, 0, sizeof(*d));
	return 0;
}

/* ---- network interfaces -------------------------------------------------- */

static int cfg_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* cfg_mac_parse: "xx:xx:xx:xx:xx:xx", two hex digits per byte (MacAddr). */
static int cfg_mac_parse(const char *s, uint8_t mac[6])
{
	int k, hi, lo;

	if (strlen(s) != 17)
		return -1;
	for (k = 0; k < 6; k++) {
		if (k < 5 && s[3 * k + 2] != ':')
			return -1;
		hi = cfg_hexval(s[3 * k]);
		lo = cfg_hexval(s[3 * k + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		mac[k] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* cfg_ifname_ok: the kernel's dev_valid_name() rules, checked early. */
int cfg_ifname_ok(const char *s, struct err *e)
{
	size_t n;

	for (n = 0; s[n]; n++) {
		if (s[n] <= 0x20 || s[n] >= 0x7f || s[n] == '/' || s[n] == ':')
			return cfg_seterr(e, "Invalid `host_dev_name`: no spaces, "
					     "'/', ':' or non-ASCII characters");
	}
	if (n == 0 || n >= CFG_IFNAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return cfg_seterr(e, "Invalid `host_dev_name`: use 1 to %d "
				     "characters", CFG_IFNAME_MAX - 1);
	return 0;
}

int cfg_net_at(const struct cfgj *j, int i, const char *path_id,
	       struct net_cfg *n)
{
	static const char *const f[] = { "iface_id", "host_dev_name", "guest_mac",
					 "mtu", "rx_rate_limiter",
					 "tx_rate_limiter" };
	char name[64], mac[32];
	int v[CFG_NFIELDS(f)];
	uint64_t mtu;

	memset(n, 0, sizeof(*n));
	if (cfgj_fields(j, i, "network interface", f, CFG_NFIELDS(f), v))
		return -EINVAL;
	if (v[0] < 0 || v[1] < 0)
		return cfg_seterr(j->e, "missing field `%s`", v[0] < 0 ? f[0] : f[1]);
	if (cfg_id_at(j, v[0], f[0], path_id, n->iface_id) ||
	    cfgj_str_buf(j, v[1], f[1], name, sizeof(name)) ||
	    cfg_ifname_ok(name, j->e))
		goto fail;
	memcpy(n->host_dev_name, name, strlen(name) + 1);
	if (v[2] >= 0) {
		if (cfgj_str_buf(j, v[2], f[2], mac, sizeof(mac)) ||
		    cfg_mac_parse(mac, n->guest_mac)) {
			cfg_seterr(j->e, "Invalid `guest_mac`: expected "
					 "\"xx:xx:xx:xx:xx:xx\" (hex)");
			goto fail;
		}
		n->has_guest_mac = true;
	}
	if (v[3] >= 0) {
		if (cfgj_u64(j, v[3], f[3], UINT64_MAX, &mtu))
			goto fail;
		if (mtu < 68 || mtu > 65535) {
			cfg_seterr(j->e, "`mtu` must be between 68 and 65535");
			goto fail;
		}
		n->mtu = (unsigned)mtu;
	}
	if ((v[4] >= 0 && cfg_rate_limiter_at(j, v[4], f[4], &n->rx_rate_limiter)) ||
	    (v[5] >= 0 && cfg_rate_limiter_at(j, v[5], f[5], &n->tx_rate_limiter)))
		goto fail;
	return 0;
fail:
	memset(n, 0, sizeof(*n));
	return -EINVAL;
}

int config_set_net(struct vm_config *c, struct net_cfg *n, struct err *e)
{
	const uint8_t *m = n->guest_mac;
	unsigned k, pos = c->nnets;

	for (k = 0; k < c->nnets; k++) {
		const struct net_cfg *o = &c->nets[k];

		if (strcmp(o->iface_id, n->iface_id) == 0) {
			pos = k;
			continue;
		}
		if (strcmp(o->host_dev_name, n->host_dev_name) == 0)
			return cfg_seterr(e, "The host device name %s is already "
					     "in use.", n->host_dev_name);
		if (o->has_guest_mac && n->has_guest_mac &&
		    memcmp(o->guest_mac, m, 6) == 0)
			return cfg_seterr(e, "The guest MAC address "
					     "%02x:%02x:%02x:%02x:%02x:%02x is "
					     "already in use.",
					  m[0], m[1], m[2], m[3], m[4], m[5]);
	}
	if (pos == c->nnets) {
		if (c->nnets >= CFG_MAX_NETS)
			return cfg_seterr(e, "Too many network interfaces (max %d)",
					  CFG_MAX_NETS);
		c->nnets++;
	}
	c->nets[pos] = *n;
	memset(n, 0, sizeof(*n));
	return 0;
}

/* ---- vsock, logger, metrics --------------------------------------------- */

void vsock_free(struct vsock_cfg *v)
{
	free(v->uds_path);
	memset(v, 0, sizeof(*v));
}

int cfg_vsock_at(const struct cfgj *j, int i, struct vsock_cfg *out)
{
	static const char *const f[] = { "vsock_id", "guest_cid", "uds_path" };
	int v[3];
	uint64_t cid;

	memset(out, 0, sizeof(*out));
	if (cfgj_fields(j, i, "vsock", f, 3, v))
		return -EINVAL;
	if (v[1] < 0 || v[2] < 0)
		return cfg_seterr(j->e, "missing field `%s`", v[1] < 0 ? f[1] : f[2]);
	/* vsock_id is deprecated and unused, but still an id. */
	if ((v[0] >= 0 && cfg_id_at(j, v[0], f[0], NULL, out->vsock_id)) ||
	    cfgj_u64(j, v[1], f[1], UINT32_MAX, &cid))
		goto fail;
	/* 0-2 are the hypervisor, local and host CIDs; -1U is VMADDR_CID_ANY. */
	if (cid < 3 || cid == UINT32_MAX) {
		cfg_seterr(j->e, "`guest_cid` must be between 3 and %u",
			   UINT32_MAX - 1);
		goto fail;
	}
	out->guest_cid = (uint32_t)cid;
	if (cfg_path_at(j, v[2], f[2], CFG_UDS_PATH_MAX, &out->uds_path))
		goto fail;
	out->present = true;
	return 0;
fail:
	vsock_free(out);
	return -EINVAL;
}

void logger_free(struct logger_cfg *l)
{
	free(l->log_path);
	free(l->module);
	memset(l, 0, sizeof(*l));
	l->level = LOG_LEVEL_INFO;
}

/* cfg_level_at: Firecracker parses the level case-insensitively ("warn" too). */
static int cfg_level_at(const struct cfgj *j, int i, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} levels[] = {
		{ "off", LOG_LEVEL_OFF },     { "error", LOG_LEVEL_ERROR },
		{ "warning", LOG_LEVEL_WARN }, { "warn", LOG_LEVEL_WARN },
		{ "info", LOG_LEVEL_INFO },   { "debug", LOG_LEVEL_DEBUG },
		{ "trace", LOG_LEVEL_TRACE },
	};
	char buf[16];
	size_t k;

	if (cfgj_string(j, i, "level"))
		return -EINVAL;
	if (cfgj_str_buf(j, i, "level", buf, sizeof(buf)) == 0) {
		for (k = 0; k < sizeof(levels) / sizeof(levels[0]); k++) {
			if (strcasecmp(buf, levels[k].name) == 0) {
				*out = levels[k].level;
				return 0;
			}
		}
	}
	return cfg_seterr(j->e, "unknown variant for `level`, expected one of "
				"`Error`, `Warning`, `Info`, `Debug`, `Trace`, "
				"`Off`");
}

int cfg_logger_at(const struct cfgj *j, int i, struct logger_cfg *l)
{
	static const char *const f[] = { "log_path", "level", "show_level",
					 "show_log_origin", "module" };
	int v[5];

	memset(l, 0, sizeof(*l));
	l->level = LOG_LEVEL_INFO;
	if (cfgj_fields(j, i, "logger", f, 5, v))
		return -EINVAL;
	if ((v[0] >= 0 && cfg_path_at(j, v[0], f[0], CFG_PATH_MAX, &l->log_path)) ||
	    (v[1] >= 0 && cfg_level_at(j, v[1], &l->level)) ||
	    (v[2] >= 0 && cfgj_bool(j, v[2], f[2], &l->show_level)) ||
	    (v[3] >= 0 && cfgj_bool(j, v[3], f[3], &l->show_log_origin)) ||
	    (v[4] >= 0 && cfg_path_at(j, v[4], f[4], 256, &l->module))) {
		logger_free(l);
		return -EINVAL;
	}
	l->present = true;
	return 0;
}

void metrics_free(struct metrics_cfg *m)
{
	free(m->metrics_path);
	memset(m, 0, sizeof(*m));
}

int cfg_metrics_at(const struct cfgj *j, int i, struct metrics_cfg *m)
{
	static const char *const f[] = { "metrics_path" };
	int v[1];

	memset(m, 0, sizeof(*m));
	if (cfgj_fields(j, i, "metrics", f, 1, v))
		return -EINVAL;
	if (v[0] < 0)
		return cfg_seterr(j->e, "missing field `metrics_path`");
	if (cfg_path_at(j, v[0], f[0], CFG_PATH_MAX, &m->metrics_path))
		return -EINVAL;
	m->present = true;
	return 0;
}

/* ---- serial ---------------------------------------------------------------- */

void serial_cfg_free(struct serial_cfg *s)
{
	free(s->serial_out_path);
	memset(s, 0, sizeof(*s));
}

int cfg_serial_at(const struct cfgj *j, int i, struct serial_cfg *s)
{
	static const char *const f[] = { "serial_out_path", "rate_limiter" };
	int v[2];

	memset(s, 0, sizeof(*s));
	if (cfgj_fields(j, i, "serial", f, 2, v))
		return -EINVAL;
	if ((v[0] >= 0 && cfg_path_at(j, v[0], f[0], CFG_PATH_MAX, &s->serial_out_path)) ||
	    (v[1] >= 0 && cfg_bucket_at(j, v[1], f[1], &s->rate_limiter))) {
		serial_cfg_free(s);
		return -EINVAL;
	}
	s->present = true;
	return 0;
}

/* ---- mmds-config ------------------------------------------------------------ */

bool cfg_mmds_serves(const struct mmds_cfg *m, const char *iface_id)
{
	for (unsigned k = 0; m->present && k < m->n_ifaces && k < CFG_MAX_NETS; k++)
		if (strcmp(m->ifaces[k], iface_id) == 0)
			return true;
	return false;
}

/* cfg_ipv4: a dotted quad, each part 0..255 in decimal without leading zeros. */
static int cfg_ipv4(const char *s, uint32_t *out)
{
	uint32_t ip = 0;

	for (int part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		if (part && *s++ != '.')
			return -EINVAL;
		while (*s >= '0' && *s <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(*s++ - '0');
			digits++;
		}
		if (digits == 0 || digits > 3 || v > 255 || (digits > 1 && s[-(int)digits] == '0'))
			return -EINVAL;
		ip = ip << 8 | v;
	}
	if (*s)
		return -EINVAL;
	*out = ip;
	return 0;
}

int cfg_mmds_at(const struct cfgj *j, int i, struct mmds_cfg *m)
{
	static const char *const f[] = { "version", "network_interfaces", "ipv4_address",
					 "imds_compat" };
	static const char *const versions[] = { "V1", "V2" };
	char ip[20];
	int v[4], n, k, ver = 0;

	memset(m, 0, sizeof(*m));
	m->ipv4 = CFG_MMDS_DEFAULT_IPV4;
	if (cfgj_fields(j, i, "mmds-config", f, 4, v))
		return -EINVAL;
	if (v[0] >= 0 && cfg_enum_at(j, v[0], f[0], versions, 2, &ver))
		return -EINVAL;
	m->v2 = ver == 1;
	if (v[1] < 0)
		return cfg_seterr(j->e, "missing field `network_interfaces`");
	if (cfgj_array(j, v[1], f[1], &n))
		return -EINVAL;
	if (n == 0)
		return cfg_seterr(j->e, "The list of network interface IDs that allow forwarding MMDS requests is empty.");
	if (n > CFG_MAX_NETS)
		return cfg_seterr(j->e, "`network_interfaces` names more than %d interfaces", CFG_MAX_NETS);
	for (k = 0, i = v[1] + 1; k < n; k++, i = cfgj_skip(j, i)) {
		if (cfgj_str_buf(j, i, f[1], m->ifaces[k], sizeof(m->ifaces[k])))
			return -EINVAL;
	}
	m->n_ifaces = (unsigned)n;
	if (v[2] >= 0) {
		if (cfgj_str_buf(j, v[2], f[2], ip, sizeof(ip)) || cfg_ipv4(ip, &m->ipv4)) {
			memset(m, 0, sizeof(*m));
			return cfg_seterr(j->e, "invalid `ipv4_address`: invalid IPv4 address syntax");
		}
		/* Firecracker's rule: 169.254.0.0/16 without its first and last /24. */
		if ((m->ipv4 >> 16) != 0xa9fe || ((m->ipv4 >> 8) & 0xff) == 0 ||
		    ((m->ipv4 >> 8) & 0xff) == 255) {
			memset(m, 0, sizeof(*m));
			return cfg_seterr(j->e, "The MMDS IPv4 address is not link local.");
		}
	}
	if (v[3] >= 0 && cfgj_bool(j, v[3], f[3], &m->imds_compat))
		return -EINVAL;
	m->present = true;
	return 0;
}
