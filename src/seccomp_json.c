/* seccomp_json.c: Firecracker's JSON seccomp filter format, compiled at start with libseccomp. */
#include "seccomp_json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/json.h"

#define SJ_MAX_FILE (1024 * 1024)
#define SJ_MAX_ARGS 6

/* Whether token @t is a string, without leaving an error behind when it is not. */
static int sj_is_string(const struct cfgj *j, int t)
{
	struct err saved = *j->e;
	int is = cfgj_string(j, t, "") == 0;

	*j->e = saved;
	return is;
}

/* An action: a string, or {"errno": N} / {"trace": N}. Returns 0 or -EINVAL. */
static int sj_action(const struct cfgj *j, int t, const char *what, uint32_t *act)
{
	static const char *const keys[] = { "errno", "trace" };
	static const struct {
		const char *name;
		uint32_t act;
	} simple[] = {
		{ "allow", SCMP_ACT_ALLOW }, { "trap", SCMP_ACT_TRAP },
		{ "kill_thread", SCMP_ACT_KILL_THREAD }, { "kill_process", SCMP_ACT_KILL_PROCESS },
		{ "log", SCMP_ACT_LOG },
	};
	char name[32];
	int v[2];
	uint64_t n;

	if (sj_is_string(j, t)) {
		if (cfgj_str_buf(j, t, what, name, sizeof(name)))
			return -EINVAL;
		for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
			if (strcmp(name, simple[i].name) == 0) {
				*act = simple[i].act;
				return 0;
			}
		}
		return cfg_seterr(j->e, "%s: unknown action \"%s\"", what, name);
	}
	if (cfgj_object(j, t, what) || cfgj_fields(j, t, what, keys, 2, v))
		return -EINVAL;
	if ((v[0] < 0) == (v[1] < 0))
		return cfg_seterr(j->e, "%s: give one of errno or trace", what);
	if (cfgj_u64(j, v[0] >= 0 ? v[0] : v[1], what, 0xffff, &n))
		return -EINVAL;
	*act = v[0] >= 0 ? SCMP_ACT_ERRNO((uint16_t)n) : SCMP_ACT_TRACE((uint16_t)n);
	return 0;
}

/* One argument condition. */
static int sj_cond(const struct cfgj *j, int t, struct scmp_arg_cmp *c)
{
	static const char *const keys[] = { "index", "type", "op", "val", "comment" };
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = {
		{ "eq", SCMP_CMP_EQ }, { "ne", SCMP_CMP_NE }, { "lt", SCMP_CMP_LT },
		{ "le", SCMP_CMP_LE }, { "gt", SCMP_CMP_GT }, { "ge", SCMP_CMP_GE },
	};
	static const char *const mkeys[] = { "masked_eq" };
	int v[5], m[1];
	uint64_t index, val, mask = 0;
	char type[8], op[16];
	int found = 0;

	if (cfgj_object(j, t, "args[]") || cfgj_fields(j, t, "args[]", keys, 5, v))
		return -EINVAL;
	if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
		return cfg_seterr(j->e, "args[]: index, type, op and val are required");
	if (cfgj_u64(j, v[0], "index", 5, &index) || cfgj_u64(j, v[3], "val", UINT64_MAX, &val) ||
	    cfgj_str_buf(j, v[1], "type", type, sizeof(type)))
		return -EINVAL;
	if (strcmp(type, "dword") && strcmp(type, "qword"))
		return cfg_seterr(j->e, "args[]: type must be dword or qword");
	if (strcmp(type, "dword") == 0 && val > UINT32_MAX)
		return cfg_seterr(j->e, "args[]: val does not fit a dword");
	c->arg = (unsigned)index;
	if (sj_is_string(j, v[2])) {
		if (cfgj_str_buf(j, v[2], "op", op, sizeof(op)))
			return -EINVAL;
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			if (strcmp(op, ops[i].name) == 0) {
				c->op = ops[i].op;
				found = 1;
			}
		}
		if (!found)
			return cfg_seterr(j->e, "args[]: unknown op \"%s\"", op);
		c->datum_a = val;
		c->datum_b = 0;
		return 0;
	}
	if (cfgj_object(j, v[2], "op") || cfgj_fields(j, v[2], "op", mkeys, 1, m) || m[0] < 0 ||
	    cfgj_u64(j, m[0], "masked_eq", UINT64_MAX, &mask))
		return -EINVAL;
	c->op = SCMP_CMP_MASKED_EQ;
	c->datum_a = mask;
	c->datum_b = val;
	return 0;
}

/* One {"syscall": ..., "args": [...]} rule. */
static int sj_rule(const struct cfgj *j, int t, scmp_filter_ctx ctx, uint32_t act)
{
	static const char *const keys[] = { "syscall", "args", "comment" };
	struct scmp_arg_cmp conds[SJ_MAX_ARGS];
	char name[64];
	int v[3], nr, n = 0, count, k, r;

	if (cfgj_object(j, t, "filter[]") || cfgj_fields(j, t, "filter[]", keys, 3, v))
		return -EINVAL;
	if (v[0] < 0 || cfgj_str_buf(j, v[0], "syscall", name, sizeof(name)))
		return cfg_seterr(j->e, "filter[]: syscall is required");
	nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return cfg_seterr(j->e, "filter[]: unknown system call \"%s\"", name);
	if (v[1] >= 0) {
		if (cfgj_array(j, v[1], "args", &count))
			return -EINVAL;
		if (count > SJ_MAX_ARGS)
			return cfg_seterr(j->e, "%s: at most %d conditions", name, SJ_MAX_ARGS);
		for (k = v[1] + 1; n < count; k = cfgj_skip(j, k))
			if (sj_cond(j, k, &conds[n++]))
				return -EINVAL;
	}
	r = seccomp_rule_add_array(ctx, act, nr, (unsigned)n, conds);
	if (r)
		return cfg_seterr(j->e, "%s: libseccomp refused the rule: %s", name, strerror(-r));
	return 0;
}

static int sj_kind(const struct cfgj *j, int t, const char *kind, scmp_filter_ctx *out)
{
	static const char *const keys[] = { "default_action", "filter_action", "filter" };
	uint32_t def, act;
	int v[3], count, k, i;

	if (cfgj_object(j, t, kind) || cfgj_fields(j, t, kind, keys, 3, v))
		return -EINVAL;
	if (v[0] < 0 || v[1] < 0 || v[2] < 0)
		return cfg_seterr(j->e, "%s: default_action, filter_action and filter are required", kind);
	if (sj_action(j, v[0], "default_action", &def) || sj_action(j, v[1], "filter_action", &act) ||
	    cfgj_array(j, v[2], "filter", &count))
		return -EINVAL;
	*out = seccomp_init(def);
	if (!*out)
		return cfg_seterr(j->e, "%s: libseccomp refused the default action", kind);
	for (i = 0, k = v[2] + 1; i < count; i++, k = cfgj_skip(j, k)) {
		if (sj_rule(j, k, *out, act)) {
			cfg_err_prefix(j->e, kind);
			return -EINVAL;
		}
	}
	return 0;
}

int seccomp_json_parse(const char *json, size_t len, scmp_filter_ctx out[SECCOMP_KINDS],
		       struct err *err)
{
	static const char *const kinds[SECCOMP_KINDS] = { "vmm", "api", "vcpu" };
	struct err e = { { 0 } };
	struct cfgj j;
	int v[SECCOMP_KINDS], r = -EINVAL;

	memset(out, 0, SECCOMP_KINDS * sizeof(out[0]));
	if (cfgj_open(&j, json, len, &e))
		goto fail;
	if (cfgj_object(&j, 0, "policy") || cfgj_fields(&j, 0, "policy", kinds, SECCOMP_KINDS, v))
		goto done;
	r = 0;
	for (int i = 0; i < SECCOMP_KINDS && !r; i++) {
		if (v[i] < 0)
			r = cfg_seterr(&e, "the policy has no \"%s\" filter", kinds[i]);
		else
			r = sj_kind(&j, v[i], kinds[i], &out[i]);
	}
done:
	cfgj_close(&j);
fail:
	if (r || e.msg[0]) {
		for (int i = 0; i < SECCOMP_KINDS; i++)
			if (out[i])
				seccomp_release(out[i]);
		memset(out, 0, SECCOMP_KINDS * sizeof(out[0]));
		return err_set(err, -EINVAL, "seccomp filter: %s", e.msg[0] ? e.msg : "invalid");
	}
	return 0;
}

int seccomp_json_load(const char *path, scmp_filter_ctx out[SECCOMP_KINDS], struct err *e)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0) {
		int en = errno;

		return err_set(e, -en, "cannot open seccomp filter %s: %s", path, strerror(en));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SJ_MAX_FILE) {
		close(fd);
		return err_set(e, -EINVAL, "seccomp filter %s is not a regular file under 1 MiB",
			       path);
	}
	buf = malloc((size_t)st.st_size + 1);
	n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return err_set(e, -EIO, "cannot read seccomp filter %s", path);
	}
	r = seccomp_json_parse(buf, (size_t)n, out, e);
	free(buf);
	return r;
}
