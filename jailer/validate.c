/* validate.c: ember-jailer's pure helpers: command line, validators, /proc/mounts lines, the VMM's argv. */
#include "jail.h"

#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JAIL_UID_MAX      0xfffffffeULL   /* (uid_t)-1 means "unchanged" to setresuid() */
#define JAIL_REL_PATH_MAX 1024
#define JAIL_MAX_RLIMITS  16

static int jail_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int jail_is_ctrl(char c)
{
	return (unsigned char)c < 0x20 || c == 0x7f;
}

int jail_valid_id(const char *s)
{
	size_t n;

	if (!s)
		return 0;
	for (n = 0; s[n]; n++) {
		if (n >= JAIL_ID_MAX || (!jail_is_alnum(s[n]) && s[n] != '-'))
			return 0;
	}
	return n > 0;
}

int jail_parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;

	if (!s || !*s)
		return -1;
	for (i = 0; s[i]; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/*
 * Walk the '/'-separated components of @p; returns a reason if one is "."
 * or "..", or (for relative paths, where empty components would be odd
 * names) empty, or holds a control character.
 */
static const char *jail_check_components(const char *p, int allow_empty)
{
	const char *c = p;

	while (*c) {
		size_t n = strcspn(c, "/");
		size_t i;

		if (n == 0 && !allow_empty)
			return "empty path component";
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return "'.' and '..' components are not allowed";
		for (i = 0; i < n; i++) {
			if (jail_is_ctrl(c[i]))
				return "control character in path";
		}
		c += n;
		if (*c == '/')
			c++;
	}
	return NULL;
}

const char *jail_check_abs_path(const char *p)
{
	if (!p || !*p)
		return "empty path";
	if (p[0] != '/')
		return "not an absolute path";
	if (strlen(p) >= PATH_MAX)
		return "path too long";
	return jail_check_components(p + 1, 1);
}

const char *jail_check_rel_path(const char *p)
{
	size_t len;

	if (!p || !*p)
		return "empty path";
	if (p[0] == '/')
		return "must be a relative path";
	len = strlen(p);
	if (len >= JAIL_REL_PATH_MAX)
		return "path too long";
	if (p[len - 1] == '/')
		return "trailing '/'";
	return jail_check_components(p, 0);
}

const char *jail_check_name(const char *name)
{
	size_t i, n;

	if (!name || !*name)
		return "empty name";
	n = strlen(name);
	if (n > 255)
		return "name too long";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "'.' and '..' are not names";
	for (i = 0; i < n; i++) {
		if (name[i] == '/')
			return "'/' in name";
		if (jail_is_ctrl(name[i]))
			return "control character in name";
	}
	return NULL;
}

int jail_parse_cgroup(const char *arg, struct jail_cgroup *cg, const char **why)
{
	const char *eq = strchr(arg, '=');
	const char *dot;
	size_t flen, i;

	if (!eq) {
		*why = "expected FILE=VALUE, e.g. cpu.shares=512";
		return -1;
	}
	flen = (size_t)(eq - arg);
	if (flen == 0 || flen >= sizeof(cg->file)) {
		*why = "the file name is empty or too long";
		return -1;
	}
	for (i = 0; i < flen; i++) {
		if (!jail_is_alnum(arg[i]) && arg[i] != '_' && arg[i] != '.' && arg[i] != '-') {
			*why = "the file name may only hold [A-Za-z0-9_.-]";
			return -1;
		}
	}
	dot = memchr(arg, '.', flen);
	if (!dot || dot == arg || dot + 1 == eq) {
		*why = "the file name must be <controller>.<property>";
		return -1;
	}
	memcpy(cg->file, arg, flen);
	cg->file[flen] = '\0';
	memcpy(cg->controller, arg, (size_t)(dot - arg));
	cg->controller[dot - arg] = '\0';
	if (strcmp(cg->controller, "cgroup") == 0) {
		*why = "cgroup.* files are not a controller's settings";
		return -1;
	}
	cg->value = eq + 1;
	if (!*cg->value) {
		*why = "empty value";
		return -1;
	}
	if (strlen(cg->value) >= JAIL_CGROUP_VALUE_MAX || strchr(cg->value, '\n')) {
		*why = "the value is too long or holds a newline";
		return -1;
	}
	return 0;
}

int jail_parse_rlimit(const char *arg, struct jail_cfg *cfg, const char **why)
{
	const char *eq = strchr(arg, '=');
	unsigned long long v;
	size_t n;

	if (!eq) {
		*why = "expected fsize=N or no-file=N";
		return -1;
	}
	if (jail_parse_u64(eq + 1, ULLONG_MAX, &v)) {
		*why = "the limit must be a decimal number";
		return -1;
	}
	n = (size_t)(eq - arg);
	if (n == 5 && memcmp(arg, "fsize", 5) == 0) {
		cfg->has_fsize = true;
		cfg->fsize = v;
	} else if (n == 7 && memcmp(arg, "no-file", 7) == 0) {
		cfg->nofile = v;
	} else {
		*why = "unknown resource (known: fsize, no-file)";
		return -1;
	}
	return 0;
}

enum jail_opt {
	JOPT_ID, JOPT_EXEC, JOPT_UID, JOPT_GID, JOPT_BASE, JOPT_NETNS, JOPT_DAEMONIZE,
	JOPT_NEW_PID_NS, JOPT_CGROUP, JOPT_CGROUP_VERSION, JOPT_PARENT_CGROUP, JOPT_RLIMIT,
	JOPT_HELP, JOPT_VERSION, JOPT_COUNT
};

static const struct {
	const char *name;
	bool takes_value;
	bool repeatable;
} jail_opts[JOPT_COUNT] = {
	[JOPT_ID] = { "id", true, false },
	[JOPT_EXEC] = { "exec-file", true, false },
	[JOPT_UID] = { "uid", true, false },
	[JOPT_GID] = { "gid", true, false },
	[JOPT_BASE] = { "chroot-base-dir", true, false },
	[JOPT_NETNS] = { "netns", true, false },
	[JOPT_DAEMONIZE] = { "daemonize", false, false },
	[JOPT_NEW_PID_NS] = { "new-pid-ns", false, false },
	[JOPT_CGROUP] = { "cgroup", true, true },
	[JOPT_CGROUP_VERSION] = { "cgroup-version", true, false },
	[JOPT_PARENT_CGROUP] = { "parent-cgroup", true, false },
	[JOPT_RLIMIT] = { "resource-limit", true, true },
	[JOPT_HELP] = { "help", false, false },
	[JOPT_VERSION] = { "version", false, false },
};

/* What the first pass records: raw strings, checked in a fixed order afterwards. */
struct jail_raw {
	const char *val[JOPT_COUNT];
	bool seen[JOPT_COUNT];
	const char *cgroups[JAIL_MAX_CGROUPS];
	unsigned n_cgroups;
	const char *rlimits[JAIL_MAX_RLIMITS];
	unsigned n_rlimits;
};

static int jail_fail(char *msg, size_t len, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int jail_fail(char *msg, size_t len, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return code;
}

static int jail_find_opt(const char *name, size_t n)
{
	int i;

	for (i = 0; i < JOPT_COUNT; i++) {
		if (strlen(jail_opts[i].name) == n && memcmp(jail_opts[i].name, name, n) == 0)
			return i;
	}
	return -1;
}

/* First pass: which flags, which raw values; only usage errors are found here. */
static int jail_scan_args(int argc, char **argv, struct jail_cfg *cfg, struct jail_raw *raw,
			  char *msg, size_t len)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *val = NULL;
		int o;

		if (strcmp(a, "--") == 0) {
			cfg->extra = argv + i + 1;
			cfg->n_extra = argc - i - 1;
			break;
		}
		if (strncmp(a, "--", 2) != 0)
			return jail_fail(msg, len, JAIL_EXIT_USAGE, "unexpected argument '%s'", a);
		name = a + 2;
		eq = strchr(name, '=');
		o = jail_find_opt(name, eq ? (size_t)(eq - name) : strlen(name));
		if (o < 0)
			return jail_fail(msg, len, JAIL_EXIT_USAGE, "unknown flag '%s'", a);
		if (jail_opts[o].takes_value) {
			if (eq) {
				val = eq + 1;
			} else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
				val = argv[++i];
			} else {
				return jail_fail(msg, len, JAIL_EXIT_USAGE, "--%s needs a value",
						 jail_opts[o].name);
			}
		} else if (eq) {
			return jail_fail(msg, len, JAIL_EXIT_USAGE, "--%s takes no value",
					 jail_opts[o].name);
		}
		if (raw->seen[o] && !jail_opts[o].repeatable)
			return jail_fail(msg, len, JAIL_EXIT_USAGE, "--%s given more than once",
					 jail_opts[o].name);
		raw->seen[o] = true;
		raw->val[o] = val;
		if (o == JOPT_CGROUP) {
			if (raw->n_cgroups == JAIL_MAX_CGROUPS)
				return jail_fail(msg, len, JAIL_EXIT_USAGE, "more than %d --cgroup flags",
						 JAIL_MAX_CGROUPS);
			raw->cgroups[raw->n_cgroups++] = val;
		} else if (o == JOPT_RLIMIT) {
			if (raw->n_rlimits == JAIL_MAX_RLIMITS)
				return jail_fail(msg, len, JAIL_EXIT_USAGE,
						 "more than %d --resource-limit flags", JAIL_MAX_RLIMITS);
			raw->rlimits[raw->n_rlimits++] = val;
		}
	}
	return JAIL_EXIT_OK;
}

static int jail_check_ids(const struct jail_raw *raw, struct jail_cfg *cfg, char *msg, size_t len)
{
	unsigned long long v;

	if (jail_parse_u64(raw->val[JOPT_UID], JAIL_UID_MAX, &v))
		return jail_fail(msg, len, JAIL_EXIT_BAD_UID,
				 "invalid --uid '%s': a decimal number below 4294967295",
				 raw->val[JOPT_UID]);
	cfg->uid = (uid_t)v;
	if (jail_parse_u64(raw->val[JOPT_GID], JAIL_UID_MAX, &v))
		return jail_fail(msg, len, JAIL_EXIT_BAD_GID,
				 "invalid --gid '%s': a decimal number below 4294967295",
				 raw->val[JOPT_GID]);
	cfg->gid = (gid_t)v;
	return JAIL_EXIT_OK;
}

static int jail_check_cgroups(const struct jail_raw *raw, struct jail_cfg *cfg, char *msg,
			      size_t len)
{
	const char *why;
	unsigned i;

	if (raw->val[JOPT_CGROUP_VERSION]) {
		const char *v = raw->val[JOPT_CGROUP_VERSION];

		if (strcmp(v, "1") != 0 && strcmp(v, "2") != 0)
			return jail_fail(msg, len, JAIL_EXIT_BAD_CGROUP,
					 "invalid --cgroup-version '%s': 1 or 2", v);
		cfg->cgroup_version = v[0] - '0';
	}
	if (cfg->parent_cgroup && (why = jail_check_rel_path(cfg->parent_cgroup)))
		return jail_fail(msg, len, JAIL_EXIT_BAD_CGROUP, "invalid --parent-cgroup '%s': %s",
				 cfg->parent_cgroup, why);
	for (i = 0; i < raw->n_cgroups; i++) {
		if (jail_parse_cgroup(raw->cgroups[i], &cfg->cgroups[i], &why))
			return jail_fail(msg, len, JAIL_EXIT_BAD_CGROUP, "invalid --cgroup '%s': %s",
					 raw->cgroups[i], why);
	}
	cfg->n_cgroups = raw->n_cgroups;
	return JAIL_EXIT_OK;
}

int jail_parse_args(int argc, char **argv, struct jail_cfg *cfg, char *msg, size_t msglen)
{
	static const int required[] = { JOPT_ID, JOPT_EXEC, JOPT_UID, JOPT_GID };
	struct jail_raw raw;
	const char *why;
	unsigned i;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	memset(&raw, 0, sizeof(raw));
	cfg->chroot_base = JAIL_DEFAULT_BASE;
	cfg->cgroup_version = 1;
	cfg->nofile = JAIL_DEFAULT_NOFILE;
	msg[0] = '\0';
	if ((r = jail_scan_args(argc, argv, cfg, &raw, msg, msglen)))
		return r;
	if (raw.seen[JOPT_HELP] || raw.seen[JOPT_VERSION]) {
		cfg->help = raw.seen[JOPT_HELP];
		cfg->version = raw.seen[JOPT_VERSION];
		return JAIL_EXIT_OK;
	}
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!raw.seen[required[i]])
			return jail_fail(msg, msglen, JAIL_EXIT_MISSING, "--%s is required",
					 jail_opts[required[i]].name);
	}

	cfg->id = raw.val[JOPT_ID];
	if (!jail_valid_id(cfg->id))
		return jail_fail(msg, msglen, JAIL_EXIT_BAD_ID,
				 "invalid --id '%s': 1-%d characters of [A-Za-z0-9-]", cfg->id,
				 JAIL_ID_MAX);
	cfg->exec_file = raw.val[JOPT_EXEC];
	if ((why = jail_check_abs_path(cfg->exec_file)))
		return jail_fail(msg, msglen, JAIL_EXIT_BAD_EXEC_FILE, "invalid --exec-file '%s': %s",
				 cfg->exec_file, why);
	if ((r = jail_check_ids(&raw, cfg, msg, msglen)))
		return r;
	if (raw.val[JOPT_BASE])
		cfg->chroot_base = raw.val[JOPT_BASE];
	if ((why = jail_check_abs_path(cfg->chroot_base)))
		return jail_fail(msg, msglen, JAIL_EXIT_BAD_CHROOT_BASE,
				 "invalid --chroot-base-dir '%s': %s", cfg->chroot_base, why);
	cfg->netns = raw.val[JOPT_NETNS];
	if (cfg->netns && (why = jail_check_abs_path(cfg->netns)))
		return jail_fail(msg, msglen, JAIL_EXIT_BAD_NETNS, "invalid --netns '%s': %s",
				 cfg->netns, why);
	cfg->daemonize = raw.seen[JOPT_DAEMONIZE];
	cfg->new_pid_ns = raw.seen[JOPT_NEW_PID_NS];
	cfg->parent_cgroup = raw.val[JOPT_PARENT_CGROUP];
	if ((r = jail_check_cgroups(&raw, cfg, msg, msglen)))
		return r;
	for (i = 0; i < raw.n_rlimits; i++) {
		if (jail_parse_rlimit(raw.rlimits[i], cfg, &why))
			return jail_fail(msg, msglen, JAIL_EXIT_BAD_RLIMIT,
					 "invalid --resource-limit '%s': %s", raw.rlimits[i], why);
	}
	return JAIL_EXIT_OK;
}

int jail_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static int jail_is_odigit(char c)
{
	return c >= '0' && c <= '7';
}

/* The kernel escapes space, tab, newline and backslash in mount points as \ooo. */
static void jail_unescape(char *s)
{
	char *w = s;

	while (*s) {
		if (s[0] == '\\' && jail_is_odigit(s[1]) && jail_is_odigit(s[2]) &&
		    jail_is_odigit(s[3])) {
			*w++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
			s += 4;
		} else {
			*w++ = *s++;
		}
	}
	*w = '\0';
}

int jail_mount_parse(char *line, struct jail_mount *m)
{
	char *fields[4];
	char *save = NULL, *tok;
	int n = 0;

	for (tok = strtok_r(line, " \t\n", &save); tok && n < 4; tok = strtok_r(NULL, " \t\n", &save))
		fields[n++] = tok;
	if (n < 4)
		return -1;
	m->dev = fields[0];
	m->dir = fields[1];
	m->type = fields[2];
	m->opts = fields[3];
	jail_unescape(m->dir);
	return 0;
}

int jail_has_word(const char *list, char sep, const char *word)
{
	size_t wl = strlen(word);
	const char *p = list;

	if (!wl)
		return 0;
	while (*p) {
		const char *end = strchr(p, sep);
		size_t n = end ? (size_t)(end - p) : strlen(p);

		/* cgroup.controllers ends with a newline: not part of the last word. */
		while (n && (p[n - 1] == '\n' || p[n - 1] == ' '))
			n--;
		if (n == wl && memcmp(p, word, wl) == 0)
			return 1;
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

int jail_build_argv(const struct jail_cfg *cfg, const char *exec_path, const struct jail_times *t,
		    char nums[3][24], const char **argv, size_t max)
{
	size_t n = 0;
	int i;

	if (max < 10 + (size_t)cfg->n_extra)
		return -1;
	snprintf(nums[0], 24, "%llu", (unsigned long long)t->start_us);
	snprintf(nums[1], 24, "%llu", (unsigned long long)t->start_cpu_us);
	snprintf(nums[2], 24, "%llu", (unsigned long long)t->parent_cpu_us);
	argv[n++] = exec_path;
	argv[n++] = "--id";
	argv[n++] = cfg->id;
	argv[n++] = "--start-time-us";
	argv[n++] = nums[0];
	argv[n++] = "--start-time-cpu-us";
	argv[n++] = nums[1];
	argv[n++] = "--parent-cpu-time-us";
	argv[n++] = nums[2];
	for (i = 0; i < cfg->n_extra; i++)
		argv[n++] = cfg->extra[i];
	argv[n] = NULL;
	return (int)n;
}

int jail_elf_interp(const void *buf, size_t len, uint64_t *off, uint64_t *size)
{
	const unsigned char *b = buf;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	unsigned i;

	if (len < sizeof(eh))
		return -1;
	memcpy(&eh, b, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_phentsize != sizeof(ph))
		return -1;
	if (eh.e_phoff > len || eh.e_phnum > (len - eh.e_phoff) / sizeof(ph))
		return -1;
	for (i = 0; i < eh.e_phnum; i++) {
		memcpy(&ph, b + eh.e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP) {
			*off = ph.p_offset;
			*size = ph.p_filesz;
			return 1;
		}
	}
	return 0;
}
