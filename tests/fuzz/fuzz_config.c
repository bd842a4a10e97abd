/* fuzz_config.c: libFuzzer target for the config parsers, with a serialise-and-reparse round trip. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The first byte picks the parser, counted from 'A' (the seeds' first bytes
 * are letters: 'A' the config file ... 'M' PATCH /vm, 'N' PUT /snapshot/create,
 * 'O' PUT /snapshot/load), the rest is the body. Whatever parses is
 * serialised and parsed again; the result must be the same configuration,
 * and the serialised text must be a fixed point. The snapshot bodies have no
 * serialisation: what they accept must keep the parser's promises, and a
 * refusal must say why.
 */

#define FUZZ_NPARSERS 15

#define FUZZ_PATH_ID "d1"

static void fuzz_die(const char *what, const char *json)
{
	fprintf(stderr, "fuzz_config: %s\n%s\n", what, json ? json : "");
	abort();
}

/* fuzz_to_json: serialise into a heap buffer grown until it fits. */
static char *fuzz_to_json(const struct vm_config *c, int *len)
{
	size_t cap = 256;
	char *buf = NULL;
	int n;

	for (;;) {
		free(buf);
		buf = malloc(cap);
		if (!buf)
			abort();
		n = config_to_json(c, buf, cap);
		if (n >= 0)
			break;
		if (n != -ENOSPC || cap > (64u << 20))
			fuzz_die("config_to_json failed", NULL);
		cap *= 2;
	}
	if ((size_t)n != strlen(buf))
		fuzz_die("config_to_json length mismatch", buf);
	*len = n;
	return buf;
}

/* fuzz_round_trip: @c must survive config_to_json -> config_parse_file. */
static void fuzz_round_trip(const struct vm_config *c)
{
	struct vm_config c2;
	struct err e;
	char *js, *js2;
	int n, n2;

	js = fuzz_to_json(c, &n);
	if (config_parse_file(&c2, js, (size_t)n, &e))
		fuzz_die(e.msg, js);
	if (!config_equal(c, &c2))
		fuzz_die("round trip changed the configuration", js);
	js2 = fuzz_to_json(&c2, &n2);
	if (n != n2 || strcmp(js, js2) != 0)
		fuzz_die("serialisation is not a fixed point", js2);
	config_free(&c2);
	free(js2);
	free(js);
}

/* fuzz_base: a configuration with a boot source, so that it serialises to a file. */
static void fuzz_base(struct vm_config *c)
{
	config_init(c);
	c->has_boot_source = true;
	c->boot_source.kernel_image_path = strdup("/k");
	if (!c->boot_source.kernel_image_path)
		abort();
}

static void fuzz_machine(const char *js, size_t n, int patch)
{
	struct vm_config c;
	struct err e;
	char out[512];
	struct machine_cfg m, m2;
	int len;

	config_init(&c);
	m = c.machine;
	if (patch ? cfg_patch_machine(&m, js, n, &e) : cfg_parse_machine(&m, js, n, &e))
		return;
	len = machine_to_json(&m, out, sizeof(out));
	if (len < 0)
		fuzz_die("machine_to_json failed", NULL);
	if (cfg_parse_machine(&m2, out, (size_t)len, &e) || !machine_equal(&m, &m2))
		fuzz_die("machine round trip", out);
	fuzz_base(&c);
	c.machine = m;
	fuzz_round_trip(&c);
	config_free(&c);
}

static void fuzz_devices(int which, const char *js, size_t n)
{
	struct vm_config c;
	struct err e;
	struct drive_cfg d;
	struct net_cfg nc;
	int r = -EINVAL;

	fuzz_base(&c);
	switch (which) {
	case 0:
		boot_source_free(&c.boot_source);
		r = cfg_parse_boot_source(&c.boot_source, js, n, &e);
		if (r)
			c.has_boot_source = false;
		break;
	case 1:
		/* Also exercise the list rules: insert twice, the second as an update. */
		r = cfg_parse_drive(&d, FUZZ_PATH_ID, js, n, &e);
		if (r == 0 && config_set_drive(&c, &d, &e) == 0) {
			r = cfg_parse_drive(&d, NULL, js, n, &e);
			if (r || config_set_drive(&c, &d, &e))
				fuzz_die("re-inserting a drive failed", js);
		}
		drive_free(&d);
		break;
	case 2:
		r = cfg_parse_net(&nc, NULL, js, n, &e);
		if (r == 0 && (config_set_net(&c, &nc, &e) ||
			       cfg_parse_net(&nc, c.nets[0].iface_id, js, n, &e) ||
			       config_set_net(&c, &nc, &e)))
			fuzz_die("inserting a net failed", js);
		break;
	case 3:
		r = cfg_parse_vsock(&c.vsock, js, n, &e);
		break;
	case 4:
		r = cfg_parse_logger(&c.logger, js, n, &e);
		break;
	case 5:
		r = cfg_parse_metrics(&c.metrics, js, n, &e);
		break;
	}
	/* Rules between sections (huge pages vs initrd) do not apply here. */
	if (r == 0 && c.has_boot_source)
		fuzz_round_trip(&c);
	config_free(&c);
}

static void fuzz_patches(int which, const char *js, size_t n)
{
	struct err e;
	struct drive_patch dp;
	struct net_patch np;
	enum vm_action a;
	enum vm_state_req s;

	switch (which) {
	case 0:
		if (cfg_parse_drive_patch(&dp, FUZZ_PATH_ID, js, n, &e) == 0 &&
		    strcmp(dp.drive_id, FUZZ_PATH_ID) != 0)
			fuzz_die("drive patch id", js);
		drive_patch_free(&dp);
		break;
	case 1:
		if (cfg_parse_net_patch(&np, NULL, js, n, &e) == 0 &&
		    !cfg_valid_id(np.iface_id))
			fuzz_die("net patch id", js);
		break;
	case 2:
		if (cfg_parse_action(&a, js, n, &e) == 0 && a > VM_ACTION_FLUSH_METRICS)
			fuzz_die("action", js);
		break;
	case 3:
		if (cfg_parse_vm_state(&s, js, n, &e) == 0 && s > VM_STATE_RESUMED)
			fuzz_die("vm state", js);
		break;
	}
}

/* fuzz_refused: a refusal must come with a message. */
static void fuzz_refused(const struct err *e)
{
	if (e->msg[0] == '\0')
		fuzz_die("refusal without a message", NULL);
}

/*
 * fuzz_snapshot: the body is not NUL-terminated, so failures print no text
 * (libFuzzer keeps the input).
 */
static void fuzz_snapshot(int load, const char *js, size_t n)
{
	struct snapshot_create_cfg sc;
	struct snapshot_load_cfg sl;
	struct err e;
	unsigned k, m;

	e.msg[0] = '\0';
	if (!load) {
		if (cfg_parse_snapshot_create(&sc, js, n, &e)) {
			fuzz_refused(&e);
			if (sc.snapshot_path || sc.mem_file_path)
				fuzz_die("refused snapshot create owns memory", NULL);
			return;
		}
		if (!sc.snapshot_path || !*sc.snapshot_path || !sc.mem_file_path ||
		    !*sc.mem_file_path || sc.type > SNAPSHOT_DIFF)
			fuzz_die("snapshot create", NULL);
		snapshot_create_free(&sc);
		return;
	}
	if (cfg_parse_snapshot_load(&sl, js, n, &e)) {
		fuzz_refused(&e);
		if (sl.snapshot_path || sl.backend_path || sl.vsock_uds_path ||
		    sl.n_net_overrides)
			fuzz_die("refused snapshot load owns memory", NULL);
		return;
	}
	if (!sl.snapshot_path || !*sl.snapshot_path || !sl.backend_path ||
	    !*sl.backend_path || sl.backend_type > MEM_BACKEND_UFFD ||
	    (sl.backend_type == MEM_BACKEND_UFFD &&
	     strlen(sl.backend_path) >= CFG_UDS_PATH_MAX) ||
	    (sl.vsock_uds_path && strlen(sl.vsock_uds_path) >= CFG_UDS_PATH_MAX) ||
	    sl.n_net_overrides > CFG_MAX_NETS)
		fuzz_die("snapshot load", NULL);
	for (k = 0; k < sl.n_net_overrides; k++) {
		if (!cfg_valid_id(sl.net_overrides[k].iface_id) ||
		    !sl.net_overrides[k].host_dev_name[0])
			fuzz_die("snapshot load override", NULL);
		for (m = 0; m < k; m++) {
			if (!strcmp(sl.net_overrides[m].iface_id,
				    sl.net_overrides[k].iface_id))
				fuzz_die("snapshot load duplicate override", NULL);
		}
	}
	snapshot_load_free(&sl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config c;
	struct err e;
	const char *js;
	size_t n;
	unsigned sel;
	char *copy;

	if (size < 1)
		return 0;
	/* A private copy, so that ASan catches any read past the body. */
	n = size - 1;
	copy = malloc(n ? n : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, n);
	js = copy;
	sel = (uint8_t)(data[0] - 'A') % FUZZ_NPARSERS;
	switch (sel) {
	case 0:
		if (config_parse_file(&c, js, n, &e) == 0) {
			fuzz_round_trip(&c);
			config_free(&c);
		}
		break;
	case 1:
		fuzz_machine(js, n, 0);
		break;
	case 2:
		fuzz_machine(js, n, 1);
		break;
	case 3: case 4: case 5: case 6: case 7: case 8:
		fuzz_devices((int)sel - 3, js, n);
		break;
	case 9: case 10: case 11: case 12:
		fuzz_patches((int)sel - 9, js, n);
		break;
	default:
		fuzz_snapshot((int)sel - 13, js, n);
		break;
	}
	free(copy);
	return 0;
}
