/* cgroup.c: create and join the VMM's cgroups: v1 (a hierarchy per controller) or v2 (the unified mount). */
#include "jail.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JAIL_CG_LINE_MAX 4096

/* <mount>/<parent components>/<id>, one path per level: lv[0] the mount, lv[n - 1] the leaf. */
struct jail_cg_tree {
	char (*lv)[PATH_MAX];
	unsigned n;
};

static int jail_cg_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int jail_cg_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Find in /proc/mounts the v1 hierarchy whose options name @controller, or
 * (@controller NULL) the cgroup2 mount. Copies the mount point and its
 * options. Returns 0, or -1 (errno ENOENT when there is none).
 */
static int jail_cg_find_mount(const char *controller, char *dir, size_t dirlen, char *opts,
			      size_t optslen)
{
	char *line = NULL;
	size_t cap = 0;
	int found = -1;
	FILE *f = fopen("/proc/mounts", "re");

	if (!f)
		return -1;
	while (found < 0 && getline(&line, &cap, f) > 0) {
		struct jail_mount m;

		if (jail_mount_parse(line, &m))
			continue;
		if (controller ? (strcmp(m.type, "cgroup") != 0 || !jail_has_word(m.opts, ',', controller))
			       : strcmp(m.type, "cgroup2") != 0)
			continue;
		if (jail_path(dir, dirlen, "%s", m.dir) == 0 &&
		    jail_path(opts, optslen, "%s", m.opts) == 0)
			found = 0;
	}
	free(line);
	fclose(f);
	if (found < 0)
		errno = ENOENT;
	return found;
}

/* Read a small cgroup file, trailing whitespace removed. Returns 0 or -1 with errno. */
static int jail_cg_read(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return 0;
}

/* cgroup files take one value per write(): value and newline go in one call. */
static int jail_cg_write(const char *path, const char *value)
{
	char buf[JAIL_CGROUP_VALUE_MAX + 2];
	int fd, n, e;

	n = snprintf(buf, sizeof(buf), "%s\n", value);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		errno = E2BIG;
		return -1;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, buf, (size_t)n) != n) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

static void jail_cg_tree_free(struct jail_cg_tree *t)
{
	free(t->lv);
	t->lv = NULL;
	t->n = 0;
}

static int jail_cg_tree_init(struct jail_cg_tree *t, const char *mount, const char *parent,
			     const char *id, char *err, size_t len)
{
	char rel[PATH_MAX];
	char *save = NULL, *comp;
	unsigned depth = 2;
	const char *p;

	for (p = parent; *p; p++)
		depth += *p == '/';
	t->n = 0;
	t->lv = calloc(depth + 1, sizeof(*t->lv));
	if (!t->lv)
		return jail_cg_err(err, len, "out of memory");
	if (jail_path(rel, sizeof(rel), "%s/%s", parent, id) ||
	    jail_path(t->lv[0], PATH_MAX, "%s", mount))
		goto too_long;
	t->n = 1;
	for (comp = strtok_r(rel, "/", &save); comp && t->n <= depth;
	     comp = strtok_r(NULL, "/", &save)) {
		if (jail_path(t->lv[t->n], PATH_MAX, "%s/%s", t->lv[t->n - 1], comp))
			goto too_long;
		t->n++;
	}
	return 0;
too_long:
	jail_cg_tree_free(t);
	return jail_cg_err(err, len, "cgroup path too long under %s", mount);
}

/* A v1 cpuset with empty cpus or mems takes no task: copy the parent's, as Firecracker. */
static int jail_cg_inherit(const char *from, const char *to, const char *file, char *err,
			   size_t len)
{
	char src[PATH_MAX], dst[PATH_MAX], val[JAIL_CG_LINE_MAX];

	if (jail_path(src, sizeof(src), "%s/%s", from, file) ||
	    jail_path(dst, sizeof(dst), "%s/%s", to, file))
		return jail_cg_err(err, len, "cgroup path too long");
	if (jail_cg_read(dst, val, sizeof(val)) < 0)
		return jail_cg_err(err, len, "read %s: %s", dst, strerror(errno));
	if (val[0])
		return 0;
	if (jail_cg_read(src, val, sizeof(val)) < 0)
		return jail_cg_err(err, len, "read %s: %s", src, strerror(errno));
	if (!val[0])
		return jail_cg_err(err, len, "cannot inherit %s: %s is empty", file, src);
	if (jail_cg_write(dst, val) < 0)
		return jail_cg_err(err, len, "write '%s' to %s: %s", val, dst, strerror(errno));
	return 0;
}

/* Create every level below the mount (existing ones are reused). */
static int jail_cg_mkdirs(const struct jail_cg_tree *t, int cpuset, char *err, size_t len)
{
	unsigned i;

	for (i = 1; i < t->n; i++) {
		if (mkdir(t->lv[i], 0755) < 0 && errno != EEXIST)
			return jail_cg_err(err, len, "mkdir %s: %s", t->lv[i], strerror(errno));
		if (cpuset && (jail_cg_inherit(t->lv[i - 1], t->lv[i], "cpuset.cpus", err, len) ||
			       jail_cg_inherit(t->lv[i - 1], t->lv[i], "cpuset.mems", err, len)))
			return -1;
	}
	return 0;
}

static int jail_cg_write_file(const char *dir, const char *file, const char *value, char *err,
			      size_t len)
{
	char path[PATH_MAX];

	if (jail_path(path, sizeof(path), "%s/%s", dir, file))
		return jail_cg_err(err, len, "cgroup path too long");
	if (jail_cg_write(path, value) < 0)
		return jail_cg_err(err, len, "write '%s' to %s: %s", value, path, strerror(errno));
	return 0;
}

static int jail_cg_v1(const struct jail_cfg *cfg, const char *parent, const char *pid, char *err,
		      size_t len)
{
	char (*leaf)[PATH_MAX] = calloc(cfg->n_cgroups, PATH_MAX);
	char mount[PATH_MAX], opts[JAIL_CG_LINE_MAX];
	unsigned i, j;
	int r = -1;

	if (!leaf)
		return jail_cg_err(err, len, "out of memory");
	for (i = 0; i < cfg->n_cgroups; i++) {
		const struct jail_cgroup *cg = &cfg->cgroups[i];
		struct jail_cg_tree t;
		int bad;

		if (jail_cg_find_mount(cg->controller, mount, sizeof(mount), opts, sizeof(opts))) {
			jail_cg_err(err, len, "no cgroup v1 hierarchy has controller '%s' (see /proc/mounts)",
				    cg->controller);
			goto out;
		}
		if (jail_cg_tree_init(&t, mount, parent, cfg->id, err, len))
			goto out;
		bad = jail_cg_mkdirs(&t, jail_has_word(opts, ',', "cpuset"), err, len);
		memcpy(leaf[i], t.lv[t.n - 1], PATH_MAX);
		jail_cg_tree_free(&t);
		if (bad)
			goto out;
	}
	/* Every value before any task moves: a cpuset, for one, must be set up to take a task. */
	for (i = 0; i < cfg->n_cgroups; i++) {
		if (jail_cg_write_file(leaf[i], cfg->cgroups[i].file, cfg->cgroups[i].value, err, len))
			goto out;
	}
	for (i = 0; i < cfg->n_cgroups; i++) {
		for (j = 0; j < i && strcmp(leaf[i], leaf[j]) != 0; j++)
			;
		if (j == i && jail_cg_write_file(leaf[i], "tasks", pid, err, len))
			goto out;
	}
	r = 0;
out:
	free(leaf);
	return r;
}

/* Enable @controller in cgroup.subtree_control from the mount down to the leaf's parent. */
static int jail_cg_enable(const struct jail_cg_tree *t, const char *controller, char *err,
			  size_t len)
{
	char path[PATH_MAX], cur[JAIL_CG_LINE_MAX], plus[JAIL_CGROUP_FILE_MAX + 1];
	unsigned i;

	snprintf(plus, sizeof(plus), "+%s", controller);
	for (i = 0; i + 1 < t->n; i++) {
		if (jail_path(path, sizeof(path), "%s/cgroup.subtree_control", t->lv[i]))
			return jail_cg_err(err, len, "cgroup path too long");
		if (jail_cg_read(path, cur, sizeof(cur)) < 0)
			return jail_cg_err(err, len, "read %s: %s", path, strerror(errno));
		if (jail_has_word(cur, ' ', controller))
			continue;
		if (jail_cg_write(path, plus) < 0)
			return jail_cg_err(err, len, "write '%s' to %s: %s%s", plus, path,
					   strerror(errno),
					   errno == EBUSY ? " (that cgroup has processes of its own)" : "");
	}
	return 0;
}

static int jail_cg_v2_join_parent(const char *mount, const char *parent, const char *pid,
				  char *err, size_t len)
{
	char dir[PATH_MAX];
	struct stat st;

	if (jail_path(dir, sizeof(dir), "%s/%s", mount, parent))
		return jail_cg_err(err, len, "cgroup path too long");
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;       /* as Firecracker: only an existing parent is joined */
	return jail_cg_write_file(dir, "cgroup.procs", pid, err, len);
}

static int jail_cg_v2(const struct jail_cfg *cfg, const char *parent, const char *pid, char *err,
		      size_t len)
{
	char mount[PATH_MAX], opts[JAIL_CG_LINE_MAX], path[PATH_MAX], avail[JAIL_CG_LINE_MAX];
	struct jail_cg_tree t;
	unsigned i;
	int r = -1;

	if (jail_cg_find_mount(NULL, mount, sizeof(mount), opts, sizeof(opts)))
		return jail_cg_err(err, len, "no cgroup2 mount in /proc/mounts");
	if (cfg->n_cgroups == 0)
		return cfg->parent_cgroup ? jail_cg_v2_join_parent(mount, parent, pid, err, len) : 0;
	if (jail_path(path, sizeof(path), "%s/cgroup.controllers", mount) ||
	    jail_cg_read(path, avail, sizeof(avail)) < 0)
		return jail_cg_err(err, len, "read %s/cgroup.controllers: %s", mount, strerror(errno));
	for (i = 0; i < cfg->n_cgroups; i++) {
		if (!jail_has_word(avail, ' ', cfg->cgroups[i].controller))
			return jail_cg_err(err, len,
					   "controller '%s' is not available in the cgroup v2 hierarchy at %s "
					   "(its cgroup.controllers: '%s'); a cgroup v1 hierarchy probably "
					   "holds it: use --cgroup-version 1 or give it to v2 on the host",
					   cfg->cgroups[i].controller, mount, avail);
	}
	if (jail_cg_tree_init(&t, mount, parent, cfg->id, err, len))
		return -1;
	if (jail_cg_mkdirs(&t, 0, err, len))
		goto out;
	for (i = 0; i < cfg->n_cgroups; i++) {
		if (jail_cg_enable(&t, cfg->cgroups[i].controller, err, len))
			goto out;
	}
	for (i = 0; i < cfg->n_cgroups; i++) {
		if (jail_cg_write_file(t.lv[t.n - 1], cfg->cgroups[i].file, cfg->cgroups[i].value,
				       err, len))
			goto out;
	}
	r = jail_cg_write_file(t.lv[t.n - 1], "cgroup.procs", pid, err, len);
out:
	jail_cg_tree_free(&t);
	return r;
}

int jail_cgroups_apply(const struct jail_cfg *cfg, const char *parent, pid_t pid,
		       char *err, size_t len)
{
	char num[24];

	snprintf(num, sizeof(num), "%d", (int)pid);
	if (cfg->cgroup_version == 2)
		return jail_cg_v2(cfg, parent, num, err, len);
	return cfg->n_cgroups ? jail_cg_v1(cfg, parent, num, err, len) : 0;
}
