/* jail.h: ember-jailer's configuration, exit codes and the prototypes shared by its files. */
#ifndef EMBER_JAILER_JAIL_H
#define EMBER_JAILER_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JAIL_ID_MAX          64        /* as ember's --id and Firecracker's validator */
#define JAIL_MAX_CGROUPS     64
#define JAIL_CGROUP_FILE_MAX 128
#define JAIL_CGROUP_VALUE_MAX 4096
#define JAIL_DEFAULT_BASE    "/srv/jailer"
#define JAIL_DEFAULT_NOFILE  2048ULL   /* Firecracker's default RLIMIT_NOFILE */
#define JAIL_ROOT_DIR        "root"
#define JAIL_PID_SUFFIX      ".pid"

/*
 * Exit codes. The jailer's own codes stay below 64 so that they never collide
 * with the VMM's (0, 1, 128 + signal, 148-153), which the caller sees once the
 * jailer has exec'ed. Each step of the order of operations has its own code;
 * jailer/README.md carries the same table.
 */
enum jail_exit {
	JAIL_EXIT_OK = 0,
	JAIL_EXIT_USAGE = 2,            /* unknown flag, missing value, flag repeated */
	JAIL_EXIT_MISSING = 3,          /* a required flag is absent */
	JAIL_EXIT_BAD_ID = 10,
	JAIL_EXIT_BAD_EXEC_FILE = 11,
	JAIL_EXIT_BAD_UID = 12,
	JAIL_EXIT_BAD_GID = 13,
	JAIL_EXIT_BAD_CHROOT_BASE = 14,
	JAIL_EXIT_BAD_NETNS = 15,
	JAIL_EXIT_BAD_CGROUP = 16,      /* --cgroup, --cgroup-version, --parent-cgroup */
	JAIL_EXIT_BAD_RLIMIT = 17,
	JAIL_EXIT_SANITIZE = 20,        /* closing inherited fds, clearing env and signals */
	JAIL_EXIT_JAIL_DIR = 21,
	JAIL_EXIT_COPY_EXEC = 22,
	JAIL_EXIT_NETNS = 23,
	JAIL_EXIT_RLIMIT = 24,
	JAIL_EXIT_CGROUP = 25,
	JAIL_EXIT_PIVOT = 26,           /* mount namespace, pivot_root, chroot */
	JAIL_EXIT_DEVICES = 27,         /* jail folders and device nodes */
	JAIL_EXIT_DAEMONIZE = 28,
	JAIL_EXIT_PID_NS = 29,          /* new pid namespace and the pid file */
	JAIL_EXIT_PRIVS = 30,           /* groups, gid, uid, capabilities, no_new_privs */
	JAIL_EXIT_EXEC = 31,
};

/* One --cgroup FILE=VALUE: FILE copied out of argv, VALUE borrowed from it. */
struct jail_cgroup {
	char file[JAIL_CGROUP_FILE_MAX];        /* e.g. "cpu.shares" */
	char controller[JAIL_CGROUP_FILE_MAX];  /* the part of file before its first '.' */
	const char *value;
};

/* Everything the command line asked for; filled by jail_parse_args(), never by side effects. */
struct jail_cfg {
	const char *id;
	const char *exec_file;          /* absolute path as given */
	uid_t uid;
	gid_t gid;
	const char *chroot_base;
	const char *netns;              /* NULL: stay in the current network namespace */
	bool daemonize;
	bool new_pid_ns;
	int cgroup_version;             /* 1 or 2 */
	const char *parent_cgroup;      /* NULL: the exec file's name */
	struct jail_cgroup cgroups[JAIL_MAX_CGROUPS];
	unsigned n_cgroups;
	bool has_fsize;
	unsigned long long fsize;       /* RLIMIT_FSIZE, bytes */
	unsigned long long nofile;      /* RLIMIT_NOFILE */
	char **extra;                   /* arguments after "--", passed to the VMM */
	int n_extra;
	bool help, version;
};

/* The start-time flags the VMM receives (Firecracker's --start-time-us and friends). */
struct jail_times {
	uint64_t start_us;              /* CLOCK_MONOTONIC at the jailer's start */
	uint64_t start_cpu_us;          /* the exec'ing process's CPU clock at the jailer's start */
	uint64_t parent_cpu_us;         /* CPU time spent in processes that forked it (daemonize, pid ns) */
};

/* One /proc/mounts line split in place. */
struct jail_mount {
	char *dev, *dir, *type, *opts;
};

/* ---- validate.c: pure helpers (no system calls); unit-tested by tests/unit/test_jailer.c ---- */

/* jail_valid_id: 1 if @s is 1-64 characters of [A-Za-z0-9-], else 0. */
int jail_valid_id(const char *s);

/*
 * jail_parse_u64: parse a plain decimal number (digits only: no sign, no
 * space, no hex) no greater than @max into @out. Returns 0, or -1 if invalid.
 */
int jail_parse_u64(const char *s, unsigned long long max, unsigned long long *out);

/*
 * jail_check_abs_path: NULL if @p is an absolute path with no "." or ".."
 * component and shorter than PATH_MAX, else a static reason for the message.
 * Repeated slashes are accepted (they name no component).
 */
const char *jail_check_abs_path(const char *p);

/*
 * jail_check_rel_path: NULL if @p is a relative path (for --parent-cgroup)
 * whose components are non-empty, not "." or "..", free of control
 * characters, and which is shorter than 1024 bytes; else a static reason.
 */
const char *jail_check_rel_path(const char *p);

/*
 * jail_check_name: NULL if @name can be one path component (the exec file's
 * name): non-empty, at most 255 bytes, no '/', not "." or "..", no control
 * characters; else a static reason.
 */
const char *jail_check_name(const char *name);

/*
 * jail_parse_cgroup: parse "FILE=VALUE" into @cg. FILE is
 * <controller>.<property> of [A-Za-z0-9_.-], the controller non-empty and not
 * "cgroup" (cgroup.* files belong to every hierarchy: not a controller's
 * setting); VALUE is non-empty, at most 4095 bytes, without newline. @cg->value
 * points into @arg. Returns 0, or -1 with *@why set to a static reason.
 */
int jail_parse_cgroup(const char *arg, struct jail_cgroup *cg, const char **why);

/*
 * jail_parse_rlimit: apply "fsize=N" or "no-file=N" to @cfg. Returns 0, or
 * -1 with *@why set to a static reason.
 */
int jail_parse_rlimit(const char *arg, struct jail_cfg *cfg, const char **why);

/*
 * jail_parse_args: fill @cfg from the command line (argv[0] skipped). Flags
 * take their value as the next argument or after '='; "--" ends the flags and
 * the rest goes to the VMM. Every value is validated here, syntax only (no
 * file is looked at). Returns JAIL_EXIT_OK or the jail_exit code of the first
 * problem, with a message in @msg.
 */
int jail_parse_args(int argc, char **argv, struct jail_cfg *cfg, char *msg, size_t msglen);

/*
 * jail_path: snprintf into @buf. Returns 0, or -1 if the result would not fit
 * (a truncated path must never be used).
 */
int jail_path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * jail_mount_parse: split a /proc/mounts line in place into its first four
 * fields and decode the octal escapes (\040 etc.) of the mount point.
 * Returns 0, or -1 if the line has fewer than four fields.
 */
int jail_mount_parse(char *line, struct jail_mount *m);

/* jail_has_word: 1 if @word is one of the @sep-separated words of @list (exact match). */
int jail_has_word(const char *list, char sep, const char *word);

/*
 * jail_build_argv: the VMM's argv: "/<name>" (argv[0]), --id, the three
 * start-time flags, then the extra arguments, NULL-terminated, into @argv
 * (room for @max pointers). @nums holds the decimal strings. Returns the
 * number of arguments, or -1 if @max is too small.
 */
int jail_build_argv(const struct jail_cfg *cfg, const char *exec_path, const struct jail_times *t,
		    char nums[3][24], const char **argv, size_t max);

/*
 * jail_elf_interp: find the PT_INTERP program header of the ELF64 image whose
 * first @len bytes are @buf, so a missing loader in the jail can be named.
 * Returns 1 with the interpreter's file range in *@off / *@size, 0 if there
 * is none (a static binary), -1 if @buf is not a little-endian ELF64 header
 * or its program headers lie outside @buf.
 */
int jail_elf_interp(const void *buf, size_t len, uint64_t *off, uint64_t *size);

/* ---- fs.c: the jail's directories, files and root ---- */

/*
 * jail_open_dir_nofollow: open the existing absolute directory @path walking
 * it one component at a time from "/" with O_NOFOLLOW, so that no component
 * can be a symbolic link. Returns an O_CLOEXEC directory fd, or -1 with a
 * message naming the offending component in @err.
 */
int jail_open_dir_nofollow(const char *path, char *err, size_t len);

/*
 * jail_make_root: under the chroot base @base_fd, create (or reuse, if a real
 * directory) <exec_name>/<id> (root-owned, 0755) and <id>/root (0700, owned by
 * @uid:@gid), refusing symbolic links. Returns the jail root's fd, or -1 with
 * a message.
 */
int jail_make_root(int base_fd, const char *exec_name, const char *id, uid_t uid, gid_t gid,
		   char *err, size_t len);

/*
 * jail_copy_exec: copy the open file @src_fd to @root_fd/@name (created with
 * O_EXCL|O_NOFOLLOW, root-owned, mode 0755). Returns 0, or -1 with a message.
 */
int jail_copy_exec(int src_fd, int root_fd, const char *name, char *err, size_t len);

/*
 * jail_pivot: enter a new mount namespace, make every mount a slave, bind
 * the jail root @root_path (whose open fd is @root_fd, to check it is the
 * same directory) on itself, pivot_root into it, detach and remove the old
 * root, chroot("."). Returns 0, or -1 with a message naming the failed call.
 */
int jail_pivot(const char *root_path, int root_fd, char *err, size_t len);

/*
 * jail_make_devices: in the new root, own "/" and create /dev, /dev/net and
 * /run (0700), /dev/net/tun, /dev/kvm and /dev/urandom (0600), all owned by
 * @uid:@gid. Returns 0, or -1 with a message.
 */
int jail_make_devices(uid_t uid, gid_t gid, char *err, size_t len);

/*
 * jail_write_pid_file: write @pid to "/<exec_name>.pid" in the current root
 * (O_EXCL|O_NOFOLLOW). Returns 0, or -1 with a message.
 */
int jail_write_pid_file(const char *exec_name, pid_t pid, char *err, size_t len);

/* ---- cgroup.c ---- */

/*
 * jail_cgroups_apply: create <mount>/<parent>/<id> for every controller named
 * by @cfg's --cgroup flags (v1: one hierarchy per controller; v2: the
 * unified mount, with the controllers enabled in each ancestor's
 * cgroup.subtree_control), write the values, then move @pid into each. With
 * v2, no --cgroup and an explicit --parent-cgroup, joins that parent if it
 * exists (as Firecracker). Returns 0, or -1 with a message.
 */
int jail_cgroups_apply(const struct jail_cfg *cfg, const char *parent, pid_t pid,
		       char *err, size_t len);

/* ---- privs.c ---- */

/*
 * jail_drop_privileges: clear the capability bounding and ambient sets,
 * set the supplementary groups to none, then gid and uid (real, effective,
 * saved), clear every capability set, verify all of it, and set
 * no_new_privs. Returns 0, or -1 with a message; the caller must then exit.
 */
int jail_drop_privileges(uid_t uid, gid_t gid, char *err, size_t len);

#endif
