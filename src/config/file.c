/* file.c: the whole configuration: the --config-file document, GET /vm/config output, comparison. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/json.h"
#include "config/sections.h"

void config_init(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	cfg_machine_defaults(&c->machine);
	c->logger.level = LOG_LEVEL_INFO;
}

void config_free(struct vm_config *c)
{
	unsigned k;

	boot_source_free(&c->boot_source);
	for (k = 0; k < c->ndrives && k < CFG_MAX_DRIVES; k++)
		drive_free(&c->drives[k]);
	vsock_free(&c->vsock);
	logger_free(&c->logger);
	metrics_free(&c->metrics);
	serial_cfg_free(&c->serial);
	config_init(c);
}

int config_check(const struct vm_config *c, struct err *e)
{
	if (c->machine.huge_pages != HUGE_PAGES_NONE && c->has_boot_source &&
	    c->boot_source.initrd_path)
		return cfg_seterr(e, "Firecracker's huge pages support is "
				     "incompatible with initrds.");
	for (unsigned k = 0; c->mmds.present && k < c->mmds.n_ifaces; k++) {
		unsigned i;

		for (i = 0; i < c->nnets && strcmp(c->nets[i].iface_id, c->mmds.ifaces[k]); i++)
			;
		if (i == c->nnets)
			return cfg_seterr(e, "The list of network interface IDs provided contains "
					     "at least one ID that does not correspond to any "
					     "existing network interface.");
	}
	return 0;
}

/* ---- the config file ------------------------------------------------------ */

enum {
	CFG_TOP_BOOT, CFG_TOP_MACHINE, CFG_TOP_DRIVES, CFG_TOP_NETS,
	CFG_TOP_VSOCK, CFG_TOP_LOGGER, CFG_TOP_METRICS, CFG_TOP_SERIAL,
	CFG_TOP_MMDS, CFG_TOP_FIRST_UNSUPPORTED,
};

static const char *const cfg_top_fields[] = {
	"boot-source", "machine-config", "drives", "network-interfaces",
	"vsock", "logger", "metrics", "serial", "mmds-config",
	/* Firecracker sections ember does not implement (yet). */
	"balloon", "cpu-config", "entropy",
	"memory-hotplug", "pmem",
};

#define CFG_NTOP ((int)(sizeof(cfg_top_fields) / sizeof(cfg_top_fields[0])))

/*
 * cfg_file_unsupported: sections ember lacks are refused rather than
 * ignored (a VM silently missing its balloon or MMDS is worse than one that
 * does not start); null or an empty list configures nothing and passes.
 */
static int cfg_file_unsupported(const struct cfgj *j, const int *v)
{
	int k, n;

	for (k = CFG_TOP_FIRST_UNSUPPORTED; k < CFG_NTOP; k++) {
		if (v[k] < 0)
			continue;
		if (cfgj_array(j, v[k], cfg_top_fields[k], &n) == 0 && n == 0)
			continue;
		return cfg_seterr(j->e, "`%s` is not supported by ember",
				  cfg_top_fields[k]);
	}
	return 0;
}

static int cfg_file_drives(const struct cfgj *j, int arr, struct vm_config *c)
{
	struct drive_cfg d;
	char where[32];
	int n, k, i;

	if (cfgj_array(j, arr, "drives", &n))
		return -EINVAL;
	for (k = 0, i = arr + 1; k < n; k++, i = cfgj_skip(j, i)) {
		snprintf(where, sizeof(where), "drives[%d]", k);
		if (cfg_drive_at(j, i, NULL, &d)) {
			cfg_err_prefix(j->e, where);
			return -EINVAL;
		}
		if (config_set_drive(c, &d, j->e)) {
			drive_free(&d);
			cfg_err_prefix(j->e, where);
			return -EINVAL;
		}
	}
	return 0;
}

static int cfg_file_nets(const struct cfgj *j, int arr, struct vm_config *c)
{
	struct net_cfg nc;
	char where[40];
	int n, k, i;

	if (cfgj_array(j, arr, "network-interfaces", &n))
		return -EINVAL;
	for (k = 0, i = arr + 1; k < n; k++, i = cfgj_skip(j, i)) {
		snprintf(where, sizeof(where), "network-interfaces[%d]", k);
		if (cfg_net_at(j, i, NULL, &nc) || config_set_net(c, &nc, j->e)) {
			cfg_err_prefix(j->e, where);
			return -EINVAL;
		}
	}
	return 0;
}

/* cfg_file_at: the sections in VmResources::from_json's order. */
static int cfg_file_at(const struct cfgj *j, struct vm_config *c)
{
	int v[CFG_NTOP], k;

	if (cfgj_fields(j, 0, "the configuration file", cfg_top_fields,
			CFG_NTOP, v) ||
	    cfg_file_unsupported(j, v))
		return -EINVAL;
	if (v[CFG_TOP_BOOT] < 0)
		return cfg_seterr(j->e, "missing field `boot-source`");
	k = CFG_TOP_LOGGER;
	if (v[k] >= 0 && cfg_logger_at(j, v[k], &c->logger))
		goto prefixed;
	k = CFG_TOP_METRICS;
	if (v[k] >= 0 && cfg_metrics_at(j, v[k], &c->metrics))
		goto prefixed;
	k = CFG_TOP_MACHINE;
	if (v[k] >= 0 && cfg_machine_put_at(j, v[k], &c->machine))
		goto prefixed;
	k = CFG_TOP_BOOT;
	if (cfg_boot_source_at(j, v[k], &c->boot_source))
		goto prefixed;
	c->has_boot_source = true;
	if ((v[CFG_TOP_DRIVES] >= 0 && cfg_file_drives(j, v[CFG_TOP_DRIVES], c)) ||
	    (v[CFG_TOP_NETS] >= 0 && cfg_file_nets(j, v[CFG_TOP_NETS], c)))
		return -EINVAL;
	k = CFG_TOP_VSOCK;
	if (v[k] >= 0 && cfg_vsock_at(j, v[k], &c->vsock))
		goto prefixed;
	k = CFG_TOP_SERIAL;
	if (v[k] >= 0 && cfg_serial_at(j, v[k], &c->serial))
		goto prefixed;
	k = CFG_TOP_MMDS;
	if (v[k] >= 0 && cfg_mmds_at(j, v[k], &c->mmds))
		goto prefixed;
	return config_check(c, j->e);
prefixed:
	cfg_err_prefix(j->e, cfg_top_fields[k]);
	return -EINVAL;
}

int config_parse_file(struct vm_config *c, const char *json, size_t len,
		      struct err *e)
{
	struct cfgj j;
	int r;

	config_init(c);
	r = cfgj_open(&j, json, len, e);
	if (r == 0)
		r = cfg_file_at(&j, c);
	cfgj_close(&j);
	if (r)
		config_free(c);
	return r;
}

/* ---- output ---------------------------------------------------------------- */

static void cfg_json_bucket(struct cfgw *w, const struct token_bucket_cfg *b)
{
	bool first = true;

	if (!b->present) {
		cfgw_raw(w, "null");
		return;
	}
	cfgw_raw(w, "{");
	cfgw_key(w, &first, "size");
	cfgw_u64(w, b->size);
	/* 0 is "no burst": Firecracker reports an unset Option as null. */
	cfgw_key(w, &first, "one_time_burst");
	if (b->one_time_burst)
		cfgw_u64(w, b->one_time_burst);
	else
		cfgw_raw(w, "null");
	cfgw_key(w, &first, "refill_time");
	cfgw_u64(w, b->refill_time_ms);
	cfgw_raw(w, "}");
}

static void cfg_json_rate_limiter(struct cfgw *w, const struct rate_limiter_cfg *rl)
{
	bool first = true;

	/* RateLimiterConfig::into_option: no bucket at all reads as null. */
	if (!rl->bandwidth.present && !rl->ops.present) {
		cfgw_raw(w, "null");
		return;
	}
	cfgw_raw(w, "{");
	cfgw_key(w, &first, "bandwidth");
	cfg_json_bucket(w, &rl->bandwidth);
	cfgw_key(w, &first, "ops");
	cfg_json_bucket(w, &rl->ops);
	cfgw_raw(w, "}");
}

static void cfg_json_machine(struct cfgw *w, const struct machine_cfg *m)
{
	bool first = true;

	cfgw_raw(w, "{");
	cfgw_key(w, &first, "vcpu_count");
	cfgw_u64(w, m->vcpu_count);
	cfgw_key(w, &first, "mem_size_mib");
	cfgw_u64(w, m->mem_size_mib);
	cfgw_key(w, &first, "smt");
	cfgw_bool(w, m->smt);
	if (m->cpu_template[0]) {
		/* skip_serializing_if = "Option::is_none" in Firecracker. */
		cfgw_key(w, &first, "cpu_template");
		cfgw_str(w, m->cpu_template);
	}
	cfgw_key(w, &first, "track_dirty_pages");
	cfgw_bool(w, m->track_dirty_pages);
	cfgw_key(w, &first, "huge_pages");
	cfgw_str(w, m->huge_pages == HUGE_PAGES_2M ? "2M" : "None");
	cfgw_raw(w, "}");
}

static void cfg_json_drive(struct cfgw *w, const struct drive_cfg *d)
{
	bool first = true;

	cfgw_raw(w, "{");
	cfgw_key(w, &first, "drive_id");
	cfgw_str(w, d->drive_id);
	cfgw_key(w, &first, "partuuid");
	cfgw_str(w, d->partuuid);
	cfgw_key(w, &first, "is_root_device");
	cfgw_bool(w, d->is_root_device);
	cfgw_key(w, &first, "cache_type");
	cfgw_str(w, d->cache_type == CACHE_WRITEBACK ? "Writeback" : "Unsafe");
	cfgw_key(w, &first, "is_read_only");
	cfgw_bool(w, d->is_read_only);
	cfgw_key(w, &first, "path_on_host");
	cfgw_str(w, d->path_on_host);
	cfgw_key(w, &first, "rate_limiter");
	cfg_json_rate_limiter(w, &d->rate_limiter);
	cfgw_key(w, &first, "io_engine");
	cfgw_str(w, d->io_engine == IO_ENGINE_ASYNC ? "Async" : "Sync");
	cfgw_key(w, &first, "socket");
	cfgw_raw(w, "null");
	cfgw_raw(w, "}");
}

static void cfg_json_net(struct cfgw *w, const struct net_cfg *n)
{
	bool first = true;
	char mac[18];

	cfgw_raw(w, "{");
	cfgw_key(w, &first, "iface_id");
	cfgw_str(w, n->iface_id);
	cfgw_key(w, &first, "host_dev_name");
	cfgw_str(w, n->host_dev_name);
	cfgw_key(w, &first, "guest_mac");
	if (n->has_guest_mac) {
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
			 n->guest_mac[0], n->guest_mac[1], n->guest_mac[2],
			 n->guest_mac[3], n->guest_mac[4], n->guest_mac[5]);
		cfgw_str(w, mac);
	} else {
		cfgw_raw(w, "null");
	}
	if (n->mtu) {
		cfgw_key(w, &first, "mtu");
		cfgw_u64(w, n->mtu);
	}
	cfgw_key(w, &first, "rx_rate_limiter");
	cfg_json_rate_limiter(w, &n->rx_rate_limiter);
	cfgw_key(w, &first, "tx_rate_limiter");
	cfg_json_rate_limiter(w, &n->tx_rate_limiter);
	cfgw_raw(w, "}");
}

static void cfg_json_mmds(struct cfgw *w, const struct mmds_cfg *m)
{
	bool first = true;
	char ip[16];

	if (!m->present) {
		cfgw_raw(w, "null");
		return;
	}
	cfgw_raw(w, "{");
	/* Firecracker's MmdsConfig member order. */
	cfgw_key(w, &first, "version");
	cfgw_str(w, m->v2 ? "V2" : "V1");
	cfgw_key(w, &first, "imds_compat");
	cfgw_bool(w, m->imds_compat);
	cfgw_key(w, &first, "network_interfaces");
	cfgw_raw(w, "[");
	for (unsigned k = 0; k < m->n_ifaces && k < CFG_MAX_NETS; k++) {
		if (k)
			cfgw_raw(w, ",");
		cfgw_str(w, m->ifaces[k]);
	}
	cfgw_raw(w, "]");
	cfgw_key(w, &first, "ipv4_address");
	snprintf(ip, sizeof(ip), "%u.%u.%u.%u", m->ipv4 >> 24, (m->ipv4 >> 16) & 255,
		 (m->ipv4 >> 8) & 255, m->ipv4 & 255);
	cfgw_str(w, ip);
	cfgw_raw(w, "}");
}

static void cfg_json_vsock(struct cfgw *w, const struct vsock_cfg *v)
{
	bool first = true;

	if (!v->present) {
		cfgw_raw(w, "null");
		return;
	}
	cfgw_raw(w, "{");
	if (v->vsock_id[0]) {
		cfgw_key(w, &first, "vsock_id");
		cfgw_str(w, v->vsock_id);
	}
	cfgw_key(w, &first, "guest_cid");
	cfgw_u64(w, v->guest_cid);
	cfgw_key(w, &first, "uds_path");
	cfgw_str(w, v->uds_path);
	cfgw_raw(w, "}");
}

static void cfg_json_logger(struct cfgw *w, const struct logger_cfg *l)
{
	bool first = true;

	if (!l->present) {
		cfgw_raw(w, "null");
		return;
	}
	cfgw_raw(w, "{");
	cfgw_key(w, &first, "log_path");
	cfgw_str(w, l->log_path);
	cfgw_key(w, &first, "level");
	cfgw_str(w, log_level_name(l->level));
	cfgw_key(w, &first, "show_level");
	cfgw_bool(w, l->show_level);
	cfgw_key(w, &first, "show_log_origin");
	cfgw_bool(w, l->show_log_origin);
	cfgw_key(w, &first, "module");
	cfgw_str(w, l->module);
	cfgw_raw(w, "}");
}

static void cfg_json_boot(struct cfgw *w, const struct vm_config *c)
{
	const struct boot_source_cfg *b = &c->boot_source;
	bool first = true;

	if (!c->has_boot_source) {
		cfgw_raw(w, "null");
		return;
	}
	cfgw_raw(w, "{");
	cfgw_key(w, &first, "kernel_image_path");
	cfgw_str(w, b->kernel_image_path);
	cfgw_key(w, &first, "initrd_path");
	cfgw_str(w, b->initrd_path);
	cfgw_key(w, &first, "boot_args");
	cfgw_str(w, b->boot_args);
	cfgw_raw(w, "}");
}

static int cfg_to_json(const struct vm_config *c, char *buf, size_t cap, bool serial)
{
	struct cfgw w;
	bool first = true;
	unsigned k;

	/* VmmConfig's member order; the sections ember lacks read as null. */
	cfgw_init(&w, buf, cap);
	cfgw_raw(&w, "{");
	cfgw_key(&w, &first, "balloon");
	cfgw_raw(&w, "null");
	cfgw_key(&w, &first, "drives");
	cfgw_raw(&w, "[");
	for (k = 0; k < c->ndrives && k < CFG_MAX_DRIVES; k++) {
		if (k)
			cfgw_raw(&w, ",");
		cfg_json_drive(&w, &c->drives[k]);
	}
	cfgw_raw(&w, "]");
	cfgw_key(&w, &first, "boot-source");
	cfg_json_boot(&w, c);
	cfgw_key(&w, &first, "cpu-config");
	cfgw_raw(&w, "null");
	cfgw_key(&w, &first, "logger");
	cfg_json_logger(&w, &c->logger);
	cfgw_key(&w, &first, "machine-config");
	cfg_json_machine(&w, &c->machine);
	cfgw_key(&w, &first, "metrics");
	if (c->metrics.present) {
		cfgw_raw(&w, "{\"metrics_path\":");
		cfgw_str(&w, c->metrics.metrics_path);
		cfgw_raw(&w, "}");
	} else {
		cfgw_raw(&w, "null");
	}
	cfgw_key(&w, &first, "mmds-config");
	cfg_json_mmds(&w, &c->mmds);
	cfgw_key(&w, &first, "network-interfaces");
	cfgw_raw(&w, "[");
	for (k = 0; k < c->nnets && k < CFG_MAX_NETS; k++) {
		if (k)
			cfgw_raw(&w, ",");
		cfg_json_net(&w, &c->nets[k]);
	}
	cfgw_raw(&w, "]");
	cfgw_key(&w, &first, "vsock");
	cfg_json_vsock(&w, &c->vsock);
	cfgw_key(&w, &first, "entropy");
	cfgw_raw(&w, "null");
	if (serial && c->serial.present) {
		bool sf = true;

		cfgw_key(&w, &first, "serial");
		cfgw_raw(&w, "{");
		cfgw_key(&w, &sf, "serial_out_path");
		if (c->serial.serial_out_path)
			cfgw_str(&w, c->serial.serial_out_path);
		else
			cfgw_raw(&w, "null");
		cfgw_key(&w, &sf, "rate_limiter");
		cfg_json_bucket(&w, &c->serial.rate_limiter);
		cfgw_raw(&w, "}");
	}
	cfgw_raw(&w, "}");
	return cfgw_finish(&w);
}

int config_to_json(const struct vm_config *c, char *buf, size_t cap)
{
	return cfg_to_json(c, buf, cap, false);
}

int config_to_file_json(const struct vm_config *c, char *buf, size_t cap)
{
	return cfg_to_json(c, buf, cap, true);
}

int machine_to_json(const struct machine_cfg *m, char *buf, size_t cap)
{
	struct cfgw w;

	cfgw_init(&w, buf, cap);
	cfg_json_machine(&w, m);
	return cfgw_finish(&w);
}

/* ---- comparison ------------------------------------------------------------ */

static int cfg_str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static int cfg_bucket_eq(const struct token_bucket_cfg *a,
			 const struct token_bucket_cfg *b)
{
	if (a->present != b->present)
		return 0;
	return !a->present || (a->size == b->size &&
			       a->one_time_burst == b->one_time_burst &&
			       a->refill_time_ms == b->refill_time_ms);
}

static int cfg_rl_eq(const struct rate_limiter_cfg *a,
		     const struct rate_limiter_cfg *b)
{
	return cfg_bucket_eq(&a->bandwidth, &b->bandwidth) &&
	       cfg_bucket_eq(&a->ops, &b->ops);
}

int machine_equal(const struct machine_cfg *a, const struct machine_cfg *b)
{
	return a->vcpu_count == b->vcpu_count &&
	       a->mem_size_mib == b->mem_size_mib && a->smt == b->smt &&
	       a->track_dirty_pages == b->track_dirty_pages &&
	       a->huge_pages == b->huge_pages &&
	       strncmp(a->cpu_template, b->cpu_template,
		       sizeof(a->cpu_template)) == 0;
}

static int cfg_drive_eq(const struct drive_cfg *a, const struct drive_cfg *b)
{
	return strcmp(a->drive_id, b->drive_id) == 0 &&
	       a->is_root_device == b->is_root_device &&
	       cfg_str_eq(a->path_on_host, b->path_on_host) &&
	       a->is_read_only == b->is_read_only &&
	       cfg_str_eq(a->partuuid, b->partuuid) &&
	       a->cache_type == b->cache_type && a->io_engine == b->io_engine &&
	       cfg_rl_eq(&a->rate_limiter, &b->rate_limiter);
}

static int cfg_net_eq(const struct net_cfg *a, const struct net_cfg *b)
{
	return strcmp(a->iface_id, b->iface_id) == 0 &&
	       strcmp(a->host_dev_name, b->host_dev_name) == 0 &&
	       a->has_guest_mac == b->has_guest_mac &&
	       (!a->has_guest_mac || memcmp(a->guest_mac, b->guest_mac, 6) == 0) &&
	       a->mtu == b->mtu &&
	       cfg_rl_eq(&a->rx_rate_limiter, &b->rx_rate_limiter) &&
	       cfg_rl_eq(&a->tx_rate_limiter, &b->tx_rate_limiter);
}

static int cfg_sections_eq(const struct vm_config *a, const struct vm_config *b)
{
	const struct vsock_cfg *va = &a->vsock, *vb = &b->vsock;
	const struct logger_cfg *la = &a->logger, *lb = &b->logger;

	if (va->present != vb->present ||
	    (va->present && (va->guest_cid != vb->guest_cid ||
			     !cfg_str_eq(va->uds_path, vb->uds_path) ||
			     strcmp(va->vsock_id, vb->vsock_id) != 0)))
		return 0;
	if (la->present != lb->present ||
	    (la->present && (!cfg_str_eq(la->log_path, lb->log_path) ||
			     la->level != lb->level ||
			     la->show_level != lb->show_level ||
			     la->show_log_origin != lb->show_log_origin ||
			     !cfg_str_eq(la->module, lb->module))))
		return 0;
	if (memcmp(&a->mmds, &b->mmds, sizeof(a->mmds)) != 0)
		return 0;
	return a->metrics.present == b->metrics.present &&
	       (!a->metrics.present ||
		cfg_str_eq(a->metrics.metrics_path, b->metrics.metrics_path));
}

int config_equal(const struct vm_config *a, const struct vm_config *b)
{
	unsigned k;

	if (a->has_boot_source != b->has_boot_source ||
	    (a->has_boot_source &&
	     (!cfg_str_eq(a->boot_source.kernel_image_path,
			  b->boot_source.kernel_image_path) ||
	      !cfg_str_eq(a->boot_source.initrd_path, b->boot_source.initrd_path) ||
	      !cfg_str_eq(a->boot_source.boot_args, b->boot_source.boot_args))))
		return 0;
	if (!machine_equal(&a->machine, &b->machine) ||
	    a->ndrives != b->ndrives || a->nnets != b->nnets ||
	    a->ndrives > CFG_MAX_DRIVES || a->nnets > CFG_MAX_NETS)
		return 0;
	for (k = 0; k < a->ndrives; k++) {
		if (!cfg_drive_eq(&a->drives[k], &b->drives[k]))
			return 0;
	}
	for (k = 0; k < a->nnets; k++) {
		if (!cfg_net_eq(&a->nets[k], &b->nets[k]))
			return 0;
	}
	return cfg_sections_eq(a, b);
}
