/* sections.h: section parsers over a tokenised document, shared by the files of src/config/ (internal). */
#ifndef EMBER_CONFIG_SECTIONS_H
#define EMBER_CONFIG_SECTIONS_H

#include "config/config.h"
#include "config/json.h"

/*
 * Each cfg_*_at parses the object at token @i of @j into its output, which
 * it first resets; on failure the output owns nothing and j->e says why.
 * All return 0 or -EINVAL.
 */
int cfg_boot_source_at(const struct cfgj *j, int i, struct boot_source_cfg *b);
int cfg_machine_put_at(const struct cfgj *j, int i, struct machine_cfg *out);
int cfg_drive_at(const struct cfgj *j, int i, const char *path_id,
		 struct drive_cfg *d);
int cfg_net_at(const struct cfgj *j, int i, const char *path_id,
	       struct net_cfg *n);
int cfg_vsock_at(const struct cfgj *j, int i, struct vsock_cfg *out);
int cfg_logger_at(const struct cfgj *j, int i, struct logger_cfg *l);
int cfg_metrics_at(const struct cfgj *j, int i, struct metrics_cfg *m);
int cfg_mmds_at(const struct cfgj *j, int i, struct mmds_cfg *m);
int cfg_serial_at(const struct cfgj *j, int i, struct serial_cfg *s);
int cfg_rate_limiter_at(const struct cfgj *j, int i, const char *name,
			struct rate_limiter_cfg *rl);

/*
 * cfg_machine_at: apply the members present in the object at @i to @m and
 * validate the result; @put requires vcpu_count and mem_size_mib. *@nset
 * receives the number of members given (PATCH refuses none).
 */
int cfg_machine_at(const struct cfgj *j, int i, struct machine_cfg *m,
		   bool put, int *nset);

/* cfg_machine_defaults: 1 vCPU, 128 MiB, everything else off. */
void cfg_machine_defaults(struct machine_cfg *m);

/* cfg_path_id: check an id from the URL (NULL: none); Firecracker's texts. */
int cfg_path_id(const char *path_id, struct err *e);

/* cfg_id_at: a body id, valid and equal to @path_id if given, into @out. */
int cfg_id_at(const struct cfgj *j, int i, const char *name,
	      const char *path_id, char *out);

/* cfg_path_at: a non-empty heap string shorter than @max (with the NUL). */
int cfg_path_at(const struct cfgj *j, int i, const char *name, size_t max,
		char **out);

/* cfg_ifname_ok: a tap name (host_dev_name) the kernel would take, < IFNAMSIZ. */
int cfg_ifname_ok(const char *s, struct err *e);

/* cfg_enum_at: a string equal to one of @names; its index in *@out. */
int cfg_enum_at(const struct cfgj *j, int i, const char *name,
		const char *const *names, int n, int *out);

#endif
