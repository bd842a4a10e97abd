/* config.h: the microVM configuration model and its Firecracker JSON mapping. */
#ifndef EMBER_CONFIG_H
#define EMBER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "log_level.h"

/*
 * One model serves both the config file (--config-file) and the API bodies:
 * every section is parsed by the same cfg_parse_* function in both cases.
 * Parsing is pure (no syscalls, no file access): opening the files a section
 * names is the VMM's job, done when the section is accepted.
 *
 * Strings that name host files are heap-allocated (free with the matching
 * *_free or config_free); ids are fixed arrays.
 */

#define CFG_ID_MAX         64   /* drive_id, iface_id, vsock_id: [A-Za-z0-9_]{1,64} */
#define CFG_MAX_DRIVES     16
#define CFG_MAX_NETS       8
#define CFG_MAX_VCPUS      32
#define CFG_IFNAME_MAX     16   /* IFNAMSIZ, including the NUL */
#define CFG_CMDLINE_MAX    2048 /* LAYOUT_CMDLINE_MAX */
#define CFG_MAX_MEM_MIB    (1024u * 1024u) /* 1 TiB: far above serverless sizes,
					       and mem_size_mib << 20 cannot overflow */
#define CFG_PATH_MAX       4096 /* PATH_MAX: host paths, including the NUL */
#define CFG_UDS_PATH_MAX   108  /* sizeof(sun_path): vsock uds_path, with the NUL */

/* Firecracker's default kernel command line, used when boot_args is absent. */
#define CFG_DEFAULT_BOOT_ARGS                                                  \
	"reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux "   \
	"i8042.dumbkbd swiotlb=noforce"

struct boot_source_cfg {
	char *kernel_image_path; /* required */
	char *initrd_path;       /* NULL: none */
	char *boot_args;         /* NULL: CFG_DEFAULT_BOOT_ARGS */
};

enum huge_pages { HUGE_PAGES_NONE = 0, HUGE_PAGES_2M };

struct machine_cfg {
	unsigned vcpu_count;     /* 1..32, default 1 */
	uint64_t mem_size_mib;   /* >= 1, default 128 */
	bool smt;                /* default false */
	bool track_dirty_pages;  /* default false */
	enum huge_pages huge_pages;
	char cpu_template[32];   /* "" when none; accepted values: "None", "" */
};

/* A token bucket: {"size", "one_time_burst", "refill_time"} (0 = unset). */
struct token_bucket_cfg {
	bool present;
	uint64_t size;
	uint64_t one_time_burst;
	uint64_t refill_time_ms;
};

struct rate_limiter_cfg {
	struct token_bucket_cfg bandwidth;
	struct token_bucket_cfg ops;
};

enum cache_type { CACHE_UNSAFE = 0, CACHE_WRITEBACK };
enum io_engine { IO_ENGINE_SYNC = 0, IO_ENGINE_ASYNC };

struct drive_cfg {
	char drive_id[CFG_ID_MAX + 1];
	bool is_root_device;
	char *path_on_host;      /* required for a block drive */
	bool is_read_only;
	char *partuuid;          /* NULL: none */
	enum cache_type cache_type;
	enum io_engine io_engine;
	struct rate_limiter_cfg rate_limiter;
};

struct net_cfg {
	char iface_id[CFG_ID_MAX + 1];
	char host_dev_name[CFG_IFNAME_MAX];
	bool has_guest_mac;
	uint8_t guest_mac[6];
	unsigned mtu;            /* 0: unset */
	struct rate_limiter_cfg rx_rate_limiter;
	struct rate_limiter_cfg tx_rate_limiter;
};

struct vsock_cfg {
	bool present;
	uint32_t guest_cid;      /* >= 3 */
	char *uds_path;          /* required */
	char vsock_id[CFG_ID_MAX + 1];
};

struct logger_cfg {
	bool present;
	char *log_path;          /* NULL: stdout */
	enum log_level level;    /* default Info */
	bool show_level;
	bool show_log_origin;
	char *module;            /* NULL: all */
};

struct metrics_cfg {
	bool present;
	char *metrics_path;      /* required */
};

/*
 * "serial" (PUT /serial): the guest's console output goes to serial_out_path (a file, opened
 * for appending and created if missing, or a FIFO) instead of ember's stdout; rate_limiter
 * bounds its bytes (what exceeds it is dropped and counted). Both optional.
 */
struct serial_cfg {
	bool present;
	char *serial_out_path;   /* NULL: stdout */
	struct token_bucket_cfg rate_limiter;
};

/*
 * "mmds-config" (PUT /mmds/config): which interfaces detour MMDS traffic
 * ("network_interfaces", required, non-empty, each an interface configured
 * before), "version" ("V1" default, "V2"), "ipv4_address" (link-local
 * 169.254.[1-254].x, default 169.254.169.254) and "imds_compat" (IMDS text
 * answers whatever the Accept header).
 */
#define CFG_MMDS_DEFAULT_IPV4 0xa9fea9feu   /* 169.254.169.254, host byte order */

struct mmds_cfg {
	bool present;
	bool v2;
	uint32_t ipv4;           /* host byte order */
	bool imds_compat;
	unsigned n_ifaces;
	char ifaces[CFG_MAX_NETS][CFG_ID_MAX + 1];
};

/* cfg_mmds_serves: whether @m detours the interface @iface_id. */
bool cfg_mmds_serves(const struct mmds_cfg *m, const char *iface_id);

struct vm_config {
	bool has_boot_source;
	struct boot_source_cfg boot_source;
	struct machine_cfg machine;
	unsigned ndrives;        /* root drive, if any, is drives[0] */
	struct drive_cfg drives[CFG_MAX_DRIVES];
	unsigned nnets;
	struct net_cfg nets[CFG_MAX_NETS];
	struct vsock_cfg vsock;
	struct logger_cfg logger;
	struct metrics_cfg metrics;
	struct serial_cfg serial;
	struct mmds_cfg mmds;
};

/* config_init: defaults (1 vCPU, 128 MiB, nothing attached). */
void config_init(struct vm_config *c);

/* config_free: release every heap string; leaves @c as after config_init(). */
void config_free(struct vm_config *c);

/*
 * config_parse_file: parse a whole Firecracker config file (@json, @len bytes)
 * into @c (initialised here). Top-level keys: "boot-source" (required),
 * "machine-config", "drives", "network-interfaces", "vsock", "logger",
 * "metrics", "serial", "mmds-config"; null values accepted; unknown keys refused. Firecracker sections
 * ember lacks ("balloon", "cpu-config", "entropy",
 * "memory-hotplug", "pmem") are refused unless null or an empty list.
 * Sections apply in Firecracker's order (drives through config_set_drive, so
 * the root drive ends up first) and config_check() runs last. Messages name
 * the section ("drives[1]: missing field `drive_id`"). Returns 0, or
 * -EINVAL with @e set (and @c freed).
 */
int config_parse_file(struct vm_config *c, const char *json, size_t len,
		      struct err *e);

/*
 * Section bodies, each from a JSON object (@json, @len). They fill @out from
 * defaults (PUT semantics) and return 0, or -EINVAL (-ENOMEM when memory
 * runs out) with @e set and @out left freed. @path_id, where given (API path), must equal the id in the body.
 *
 * "Freed" means reset to the section's defaults, owning nothing: to keep the
 * previous value of a section when a PUT fails, parse into a temporary and
 * copy on success. A NULL @path_id means "no URL id" (config file); an empty
 * one is refused as Firecracker does ("The ID cannot be empty.").
 */
int cfg_parse_boot_source(struct boot_source_cfg *out, const char *json,
			  size_t len, struct err *e);
int cfg_parse_machine(struct machine_cfg *out, const char *json, size_t len,
		      struct err *e);
int cfg_parse_drive(struct drive_cfg *out, const char *path_id,
		    const char *json, size_t len, struct err *e);
int cfg_parse_net(struct net_cfg *out, const char *path_id, const char *json,
		  size_t len, struct err *e);
int cfg_parse_vsock(struct vsock_cfg *out, const char *json, size_t len,
		    struct err *e);
int cfg_parse_logger(struct logger_cfg *out, const char *json, size_t len,
		     struct err *e);
int cfg_parse_serial(struct serial_cfg *out, const char *json, size_t len,
		     struct err *e);
int cfg_parse_metrics(struct metrics_cfg *out, const char *json, size_t len,
		      struct err *e);
int cfg_parse_mmds_config(struct mmds_cfg *out, const char *json, size_t len,
			  struct err *e);

/*
 * PATCH bodies: change only the fields present. cfg_patch_machine applies to
 * @inout, validates the result as a whole and leaves @inout unchanged on
 * failure; an empty body is refused ("Empty PATCH request."). The post-boot
 * drive and net PATCH bodies are parsed by cfg_parse_drive_patch and
 * cfg_parse_net_patch below.
 */
int cfg_patch_machine(struct machine_cfg *inout, const char *json, size_t len,
		      struct err *e);

/*
 * PATCH /drives/{id} (post-boot): "drive_id" (required, equal to @path_id),
 * "path_on_host" (swap the backing file), "rate_limiter". At least one of the
 * last two is required. In a patched rate limiter a bucket that is absent
 * stays as it is, and a bucket present with size 0 or refill_time 0 turns
 * that limit off (Firecracker's BucketUpdate semantics).
 */
struct drive_patch {
	char drive_id[CFG_ID_MAX + 1];
	bool has_path_on_host;
	char *path_on_host;      /* heap; free with drive_patch_free */
	bool has_rate_limiter;
	struct rate_limiter_cfg rate_limiter;
};

/* PATCH /network-interfaces/{id} (post-boot): "iface_id" and rate limiters. */
struct net_patch {
	char iface_id[CFG_ID_MAX + 1];
	bool has_rx_rate_limiter;
	struct rate_limiter_cfg rx_rate_limiter;
	bool has_tx_rate_limiter;
	struct rate_limiter_cfg tx_rate_limiter;
};

/* As the cfg_parse_* functions: 0, or -EINVAL with @e set and @out freed. */
int cfg_parse_drive_patch(struct drive_patch *out, const char *path_id,
			  const char *json, size_t len, struct err *e);
int cfg_parse_net_patch(struct net_patch *out, const char *path_id,
			const char *json, size_t len, struct err *e);
void drive_patch_free(struct drive_patch *p);

/* PUT /actions: {"action_type": "InstanceStart" | "SendCtrlAltDel" | "FlushMetrics"}. */
enum vm_action {
	VM_ACTION_INSTANCE_START = 0,
	VM_ACTION_SEND_CTRL_ALT_DEL,
	VM_ACTION_FLUSH_METRICS,
};
int cfg_parse_action(enum vm_action *out, const char *json, size_t len,
		     struct err *e);

/* PATCH /vm: {"state": "Paused" | "Resumed"}. */
enum vm_state_req {
	VM_STATE_PAUSED = 0,
	VM_STATE_RESUMED,
};
int cfg_parse_vm_state(enum vm_state_req *out, const char *json, size_t len,
		       struct err *e);

/*
 * PUT /snapshot/create (Firecracker's SnapshotCreateParams):
 * "snapshot_path" and "mem_file_path" (required host paths), "snapshot_type"
 * ("Full" | "Diff", default Full). Unknown members are refused, the removed
 * "version" among them.
 */
enum snapshot_type { SNAPSHOT_FULL = 0, SNAPSHOT_DIFF };

struct snapshot_create_cfg {
	enum snapshot_type type;
	char *snapshot_path;     /* heap; free with snapshot_create_free */
	char *mem_file_path;     /* heap */
};

/*
 * PUT /snapshot/load (SnapshotLoadParams): "snapshot_path" (required) and
 * exactly one memory source: "mem_backend" {"backend_type": "File" | "Uffd",
 * "backend_path"} or the deprecated "mem_file_path", which reads as a File
 * backend. Both given: "too many fields: either `mem_backend` or
 * `mem_file_path` exclusively is required"; neither: "missing field: either
 * `mem_backend` or `mem_file_path` is required" (Firecracker's texts). The
 * deprecated "enable_diff_snapshots" is ORed into track_dirty_pages.
 * "network_overrides" (at most CFG_MAX_NETS, iface ids unique) retarget
 * interfaces to other taps; "vsock_override" {"uds_path"} moves the vsock
 * socket; "clock_realtime" (x86_64) is only recorded: whether it is honoured
 * is the VMM's call. A Uffd backend_path is a socket, so it is bounded by
 * CFG_UDS_PATH_MAX; a File one by CFG_PATH_MAX. Which interfaces exist is
 * checked by the VMM against the snapshot, not here.
 */
enum mem_backend_type { MEM_BACKEND_FILE = 0, MEM_BACKEND_UFFD };

struct net_override {
	char iface_id[CFG_ID_MAX + 1];
	char host_dev_name[CFG_IFNAME_MAX];
};

struct snapshot_load_cfg {
	char *snapshot_path;     /* heap; free with snapshot_load_free */
	enum mem_backend_type backend_type;
	char *backend_path;      /* heap; mem_file_path lands here as File */
	bool track_dirty_pages;  /* track_dirty_pages || enable_diff_snapshots */
	bool resume_vm;
	bool clock_realtime;
	bool used_deprecated;    /* mem_file_path or enable_diff_snapshots given
				    (Firecracker then answers with a Deprecation header) */
	unsigned n_net_overrides;
	struct net_override net_overrides[CFG_MAX_NETS];
	char *vsock_uds_path;    /* heap; vsock_override.uds_path, NULL: none */
};

/* As the cfg_parse_* functions: 0, or -EINVAL (-ENOMEM) with @e set and @out freed. */
int cfg_parse_snapshot_create(struct snapshot_create_cfg *out, const char *json,
			      size_t len, struct err *e);
int cfg_parse_snapshot_load(struct snapshot_load_cfg *out, const char *json,
			    size_t len, struct err *e);
void snapshot_create_free(struct snapshot_create_cfg *c);
void snapshot_load_free(struct snapshot_load_cfg *c);

void boot_source_free(struct boot_source_cfg *b);
void drive_free(struct drive_cfg *d);
void vsock_free(struct vsock_cfg *v);
void logger_free(struct logger_cfg *l);
void metrics_free(struct metrics_cfg *m);
void serial_cfg_free(struct serial_cfg *s);

/*
 * config_set_drive: insert @d, or replace the drive with the same id (the
 * caller's @d is moved into @c and zeroed). At most one root device; the root
 * drive is kept first. Returns 0 or -EINVAL with @e set (then @d untouched).
 */
int config_set_drive(struct vm_config *c, struct drive_cfg *d, struct err *e);

/* config_set_net: as config_set_drive; iface ids, tap names and MACs unique. */
int config_set_net(struct vm_config *c, struct net_cfg *n, struct err *e);

/* cfg_valid_id: 1 if @s is a valid drive/iface/vsock id ([A-Za-z0-9_]{1,64}). */
int cfg_valid_id(const char *s);

/* cfg_valid_vm_id: 1 if @s is a valid --id ([A-Za-z0-9-]{1,64}). */
int cfg_valid_vm_id(const char *s);

/*
 * config_to_json / machine_to_json: the configuration as GET /vm/config and
 * GET /machine-config return it, keyed as in the config file. Return the
 * length written (excluding the NUL) or -ENOSPC if @cap is too small.
 *
 * Compact JSON in Firecracker's member order, with its nulls for unset
 * optional values ("partuuid": null, "rate_limiter": null, "socket": null);
 * cpu_template is omitted when none, and mtu when unset. Sections ember lacks
 * are null, and so is "boot-source" until one is set. Unlike Firecracker,
 * "logger" and "metrics" are reported once set, so that the output is a
 * config file that config_parse_file() reads back to an equal configuration.
 */
int config_to_json(const struct vm_config *c, char *buf, size_t cap);

/*
 * config_to_file_json: config_to_json() plus ember's own "serial" section when
 * PUT /serial set one (not in Firecracker's FullVmConfiguration, so not in GET
 * /vm/config): the whole configuration as a config file, as a snapshot saves it.
 */
int config_to_file_json(const struct vm_config *c, char *buf, size_t cap);
int machine_to_json(const struct machine_cfg *m, char *buf, size_t cap);

/* log_level_name: "Error", "Warning", "Info", "Debug", "Trace" or "Off". */
const char *log_level_name(enum log_level l);

/*
 * config_check: rules spanning sections, for the VMM to run before boot and
 * whenever machine-config or boot-source change (config_parse_file runs it):
 * huge pages cannot back a guest with an initrd (as in Firecracker); the
 * interfaces mmds-config names exist.
 * Returns 0 or -EINVAL with @e set.
 */
int config_check(const struct vm_config *c, struct err *e);

/* config_equal / machine_equal: 1 if both describe the same configuration. */
int config_equal(const struct vm_config *a, const struct vm_config *b);
int machine_equal(const struct machine_cfg *a, const struct machine_cfg *b);

#endif
