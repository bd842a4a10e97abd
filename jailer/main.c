/* main.c: ember-jailer: record the command line, then build the jail in Firecracker's fixed order and exec the VMM. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "jail.h"
#include "version.h"

#define JAIL_ERR_MAX 1024

/* What validation found on disk, kept for the steps that follow. */
struct jail_state {
	struct jail_cfg cfg;
	struct jail_times times;
	uint64_t own_start_cpu_us;      /* this process's CPU clock at "its" start (0 after a fork) */
	char exec_real[PATH_MAX];       /* the exec file, symlinks resolved */
	const char *exec_name;          /* its last component: <exec_file_name> */
	const char *parent_cgroup;
	char root_path[PATH_MAX];       /* <chroot_base>/<exec_file_name>/<id>/root */
	char exec_in_jail[PATH_MAX];    /* "/<exec_file_name>" */
	char interp[256];               /* its ELF interpreter, "" when statically linked */
	int exec_fd, base_fd, root_fd, devnull_fd;
};

/* End the jailer: one message naming the step, and that step's exit code. */
static noreturn void jail_die(int code, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static noreturn void jail_die(int code, const char *step, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ember-jailer: %s: ", step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static void jail_usage(FILE *f)
{
	fprintf(f,
		"usage: ember-jailer --id ID --exec-file PATH --uid UID --gid GID [options] [-- VMM args]\n"
		"  --id ID                    1-64 characters of [A-Za-z0-9-]\n"
		"  --exec-file PATH           the VMM binary (absolute path), copied into the jail\n"
		"  --uid UID, --gid GID       numeric ids the VMM runs as\n"
		"  --chroot-base-dir DIR      default " JAIL_DEFAULT_BASE "; jail root is\n"
		"                             DIR/<exec file name>/<id>/root\n"
		"  --netns PATH               network namespace to join (e.g. /var/run/netns/NAME)\n"
		"  --daemonize                setsid() and stdio to /dev/null\n"
		"  --new-pid-ns               run the VMM as pid 1 of a new pid namespace\n"
		"  --cgroup FILE=VALUE        e.g. cpu.shares=512 (repeatable)\n"
		"  --cgroup-version 1|2       default 1\n"
		"  --parent-cgroup PATH       default the exec file name\n"
		"  --resource-limit fsize=N|no-file=N   (repeatable; default no-file=2048)\n"
		"  --version, --help\n");
}

/*
 * Step 1: nothing of the caller's may reach the VMM: no fd beyond stdio, no
 * environment variable, no blocked or ignored signal (SIG_IGN and the mask
 * survive exec, and an ignored SIGTERM would never reach ember's signalfd).
 */
static void jail_sanitize(void)
{
	struct sigaction sa;
	sigset_t none;
	int sig;

	if (close_range(3, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);
		int fd;

		if (errno != ENOSYS || max < 0)
			jail_die(JAIL_EXIT_SANITIZE, "close inherited fds", "close_range: %s",
				 strerror(errno));
		for (fd = 3; fd < max; fd++)
			close(fd);
	}
	if (clearenv() != 0)
		jail_die(JAIL_EXIT_SANITIZE, "clear the environment", "clearenv failed");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);      /* glibc's reserved signals say EINVAL: fine */
	}
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		jail_die(JAIL_EXIT_SANITIZE, "reset the signal mask", "%s", strerror(errno));
}

/* Remember the exec file's ELF loader: if exec fails for lack of it, the message can say so. */
static void jail_read_interp(struct jail_state *st)
{
	unsigned char hdr[4096];
	uint64_t off, size;
	ssize_t n = pread(st->exec_fd, hdr, sizeof(hdr), 0);

	st->interp[0] = '\0';
	if (n <= 0 || jail_elf_interp(hdr, (size_t)n, &off, &size) != 1 || size == 0 ||
	    size >= sizeof(st->interp))
		return;
	n = pread(st->exec_fd, st->interp, (size_t)size, (off_t)off);
	st->interp[n > 0 ? (size_t)n - 1 : 0] = '\0';      /* p_filesz counts the NUL */
}

/* Step 2, the part that looks at files: exec file, chroot base, netns; nothing is changed yet. */
static void jail_validate_files(struct jail_state *st)
{
	const struct jail_cfg *cfg = &st->cfg;
	char err[JAIL_ERR_MAX];
	struct statvfs vfs;
	struct stat sb;
	const char *why;

	if (!realpath(cfg->exec_file, st->exec_real))
		jail_die(JAIL_EXIT_BAD_EXEC_FILE, "validate --exec-file", "%s: %s", cfg->exec_file,
			 strerror(errno));
	/* Not opened unless regular: opening a FIFO would block, a device could act. */
	if (stat(st->exec_real, &sb) == 0 && !S_ISREG(sb.st_mode))
		jail_die(JAIL_EXIT_BAD_EXEC_FILE, "validate --exec-file", "%s is not a regular file",
			 st->exec_real);
	/* Kept open: what is copied is what was checked, whatever happens to the path. */
	st->exec_fd = open(st->exec_real, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (st->exec_fd < 0 || fstat(st->exec_fd, &sb) < 0)
		jail_die(JAIL_EXIT_BAD_EXEC_FILE, "validate --exec-file", "%s: %s", st->exec_real,
			 strerror(errno));
	if (!S_ISREG(sb.st_mode))
		jail_die(JAIL_EXIT_BAD_EXEC_FILE, "validate --exec-file", "%s is not a regular file",
			 st->exec_real);
	jail_read_interp(st);
	st->exec_name = strrchr(st->exec_real, '/') + 1;
	if ((why = jail_check_name(st->exec_name)))
		jail_die(JAIL_EXIT_BAD_EXEC_FILE, "validate --exec-file", "file name '%s': %s",
			 st->exec_name, why);
	st->parent_cgroup = cfg->parent_cgroup ? cfg->parent_cgroup : st->exec_name;

	st->base_fd = jail_open_dir_nofollow(cfg->chroot_base, err, sizeof(err));
	if (st->base_fd < 0)
		jail_die(JAIL_EXIT_BAD_CHROOT_BASE, "validate --chroot-base-dir", "%s", err);
	/* The jail is a bind mount of the base: its nodev or noexec would break /dev/kvm or exec. */
	if (fstatvfs(st->base_fd, &vfs) < 0)
		jail_die(JAIL_EXIT_BAD_CHROOT_BASE, "validate --chroot-base-dir", "statvfs %s: %s",
			 cfg->chroot_base, strerror(errno));
	if (vfs.f_flag & (ST_NODEV | ST_NOEXEC))
		jail_die(JAIL_EXIT_BAD_CHROOT_BASE, "validate --chroot-base-dir",
			 "%s is on a %s filesystem: the jail needs device nodes and exec", cfg->chroot_base,
			 (vfs.f_flag & ST_NODEV) ? "nodev" : "noexec");
	if (jail_path(st->root_path, sizeof(st->root_path), "%s/%s/%s/" JAIL_ROOT_DIR,
		      cfg->chroot_base, st->exec_name, cfg->id) ||
	    jail_path(st->exec_in_jail, sizeof(st->exec_in_jail), "/%s", st->exec_name))
		jail_die(JAIL_EXIT_BAD_CHROOT_BASE, "validate --chroot-base-dir", "path too long");

	if (cfg->netns && stat(cfg->netns, &sb) < 0)
		jail_die(JAIL_EXIT_BAD_NETNS, "validate --netns", "%s: %s", cfg->netns,
			 strerror(errno));
}

static void jail_join_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		jail_die(JAIL_EXIT_NETNS, "join the network namespace", "open %s: %s", path,
			 strerror(errno));
	if (setns(fd, CLONE_NEWNET) < 0)
		jail_die(JAIL_EXIT_NETNS, "join the network namespace", "setns %s: %s", path,
			 strerror(errno));
	close(fd);
}

static void jail_set_rlimits(const struct jail_cfg *cfg)
{
	struct rlimit rl;

	if (cfg->has_fsize) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)cfg->fsize;
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			jail_die(JAIL_EXIT_RLIMIT, "set resource limits", "RLIMIT_FSIZE %llu: %s",
				 cfg->fsize, strerror(errno));
	}
	rl.rlim_cur = rl.rlim_max = (rlim_t)cfg->nofile;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		jail_die(JAIL_EXIT_RLIMIT, "set resource limits", "RLIMIT_NOFILE %llu: %s%s",
			 cfg->nofile, strerror(errno),
			 errno == EPERM ? " (above the hard limit without CAP_SYS_RESOURCE)" : "");
}

/* fork(); the parent's CPU time so far is handed down as --parent-cpu-time-us. */
static pid_t jail_fork(struct jail_state *st)
{
	uint64_t cpu = clock_cpu_us();
	pid_t pid = fork();

	if (pid == 0) {
		st->times.parent_cpu_us += cpu - st->own_start_cpu_us;
		st->own_start_cpu_us = 0;       /* a child's CPU clock starts at zero */
	}
	return pid;
}

/*
 * Firecracker's double fork: setsid() needs a process that leads no group,
 * and the second child, not a session leader, can never regain a terminal.
 */
static void jail_daemonize(struct jail_state *st)
{
	pid_t pid = jail_fork(st);

	if (pid < 0)
		jail_die(JAIL_EXIT_DAEMONIZE, "daemonize", "fork: %s", strerror(errno));
	if (pid > 0)
		exit(JAIL_EXIT_OK);
	if (setsid() < 0)
		jail_die(JAIL_EXIT_DAEMONIZE, "daemonize", "setsid: %s", strerror(errno));
	pid = jail_fork(st);
	if (pid < 0)
		jail_die(JAIL_EXIT_DAEMONIZE, "daemonize", "fork: %s", strerror(errno));
	if (pid > 0)
		exit(JAIL_EXIT_OK);
	if (dup2(st->devnull_fd, STDIN_FILENO) < 0 || dup2(st->devnull_fd, STDOUT_FILENO) < 0 ||
	    dup2(st->devnull_fd, STDERR_FILENO) < 0)
		jail_die(JAIL_EXIT_DAEMONIZE, "daemonize", "dup2 /dev/null: %s", strerror(errno));
	close(st->devnull_fd);
	st->devnull_fd = -1;
}

/*
 * The VMM's pid goes to /<exec_file_name>.pid in the jail. With --new-pid-ns
 * the VMM is the first child in a new pid namespace (its pid 1); the parent
 * records the child's host pid and exits 0, as Firecracker's jailer does.
 */
static void jail_pid_ns_and_file(struct jail_state *st)
{
	char err[JAIL_ERR_MAX];
	pid_t pid;

	if (!st->cfg.new_pid_ns) {
		if (jail_write_pid_file(st->exec_name, getpid(), err, sizeof(err)))
			jail_die(JAIL_EXIT_PID_NS, "write the pid file", "%s", err);
		return;
	}
	if (unshare(CLONE_NEWPID) < 0)
		jail_die(JAIL_EXIT_PID_NS, "new pid namespace", "unshare(CLONE_NEWPID): %s",
			 strerror(errno));
	pid = jail_fork(st);
	if (pid < 0)
		jail_die(JAIL_EXIT_PID_NS, "new pid namespace", "fork: %s", strerror(errno));
	if (pid == 0)
		return;
	if (jail_write_pid_file(st->exec_name, pid, err, sizeof(err))) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		jail_die(JAIL_EXIT_PID_NS, "write the pid file", "%s", err);
	}
	exit(JAIL_EXIT_OK);
}

static noreturn void jail_exec(struct jail_state *st)
{
	size_t max = 10 + (size_t)st->cfg.n_extra;
	const char **argv = calloc(max, sizeof(*argv));
	char nums[3][24];
	char *envp[] = { NULL };

	st->times.start_cpu_us = st->own_start_cpu_us;
	if (!argv || jail_build_argv(&st->cfg, st->exec_in_jail, &st->times, nums, argv, max) < 0)
		jail_die(JAIL_EXIT_EXEC, "exec the VMM", "cannot build the VMM's arguments");
	execve(st->exec_in_jail, (char *const *)argv, envp);
	if (errno == ENOENT && st->interp[0])
		jail_die(JAIL_EXIT_EXEC, "exec the VMM",
			 "execve %s: %s: it is dynamically linked and its loader %s is not in the jail "
			 "(link the VMM statically, as Firecracker's jailer requires)",
			 st->exec_in_jail, strerror(ENOENT), st->interp);
	jail_die(JAIL_EXIT_EXEC, "exec the VMM", "execve %s: %s", st->exec_in_jail, strerror(errno));
}

int main(int argc, char **argv)
{
	struct jail_state st;
	char err[JAIL_ERR_MAX];
	int code;

	memset(&st, 0, sizeof(st));
	st.times.start_us = clock_now_us();
	st.own_start_cpu_us = clock_cpu_us();
	st.exec_fd = st.base_fd = st.root_fd = st.devnull_fd = -1;

	jail_sanitize();
	code = jail_parse_args(argc, argv, &st.cfg, err, sizeof(err));
	if (code != JAIL_EXIT_OK) {
		fprintf(stderr, "ember-jailer: %s\n", err);
		if (code == JAIL_EXIT_USAGE || code == JAIL_EXIT_MISSING)
			jail_usage(stderr);
		return code;
	}
	if (st.cfg.help || st.cfg.version) {
		if (st.cfg.help)
			jail_usage(stdout);
		else
			printf("ember-jailer v%s\n", EMBER_VERSION);
		return JAIL_EXIT_OK;
	}
	jail_validate_files(&st);

	st.root_fd = jail_make_root(st.base_fd, st.exec_name, st.cfg.id, st.cfg.uid, st.cfg.gid,
				   err, sizeof(err));
	if (st.root_fd < 0)
		jail_die(JAIL_EXIT_JAIL_DIR, "create the jail directory", "%s", err);
	close(st.base_fd);
	if (jail_copy_exec(st.exec_fd, st.root_fd, st.exec_name, err, sizeof(err)))
		jail_die(JAIL_EXIT_COPY_EXEC, "copy the exec file", "%s", err);
	close(st.exec_fd);
	if (st.cfg.netns)
		jail_join_netns(st.cfg.netns);
	jail_set_rlimits(&st.cfg);
	/* cgroupfs is out of reach once chrooted, so before the pivot (as Firecracker). */
	if (jail_cgroups_apply(&st.cfg, st.parent_cgroup, getpid(), err, sizeof(err)))
		jail_die(JAIL_EXIT_CGROUP, "create and join the cgroup", "%s", err);
	if (st.cfg.daemonize) {
		/* The jail has no /dev/null: open the host's while we still can. */
		st.devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (st.devnull_fd < 0)
			jail_die(JAIL_EXIT_DAEMONIZE, "daemonize", "open /dev/null: %s",
				 strerror(errno));
	}
	if (jail_pivot(st.root_path, st.root_fd, err, sizeof(err)))
		jail_die(JAIL_EXIT_PIVOT, "enter the jail", "%s", err);
	/* An fd on a directory outside the new root would be a way back out. */
	close(st.root_fd);
	if (jail_make_devices(st.cfg.uid, st.cfg.gid, err, sizeof(err)))
		jail_die(JAIL_EXIT_DEVICES, "create the jail's devices", "%s", err);
	/* Firecracker's order: daemonize, then the pid namespace, so the VMM ends up its pid 1. */
	if (st.cfg.daemonize)
		jail_daemonize(&st);
	jail_pid_ns_and_file(&st);
	if (jail_drop_privileges(st.cfg.uid, st.cfg.gid, err, sizeof(err)))
		jail_die(JAIL_EXIT_PRIVS, "drop privileges", "%s", err);
	jail_exec(&st);
}
