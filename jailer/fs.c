/* fs.c: the jail on disk: symlink-proof directory walks, the VMM's copy, pivot_root, device nodes, pid file. */
#include "jail.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define JAIL_OLD_ROOT "old_root"

/* Firecracker's modes: the jail root and its folders are private to the VMM's uid. */
#define JAIL_DIR_MODE      0700
#define JAIL_PARENT_MODE   0755
#define JAIL_DEV_MODE      0600
#define JAIL_EXEC_MODE     0755

static int jail_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int jail_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Open directory @name under @dirfd without following a symbolic link. On
 * failure, lstat the name so the message says what is wrong with it: an
 * attacker's symlink must be named as such, not as a generic ELOOP.
 */
static int jail_openat_dir(int dirfd, const char *name, const char *shown, char *err, size_t len)
{
	struct stat st;
	int fd, e;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	e = errno;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode))
			return jail_err(err, len, "%s is a symbolic link: refused", shown);
		if (!S_ISDIR(st.st_mode))
			return jail_err(err, len, "%s is not a directory", shown);
	}
	return jail_err(err, len, "cannot open %s: %s", shown, strerror(e));
}

int jail_open_dir_nofollow(const char *path, char *err, size_t len)
{
	char buf[PATH_MAX], shown[PATH_MAX];
	char *save = NULL, *comp;
	int fd, next;

	if (jail_path(buf, sizeof(buf), "%s", path))
		return jail_err(err, len, "path too long");
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return jail_err(err, len, "cannot open /: %s", strerror(errno));
	shown[0] = '\0';
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		size_t n = strlen(shown);

		snprintf(shown + n, sizeof(shown) - n, "/%s", comp);
		next = jail_openat_dir(fd, comp, shown, err, len);
		close(fd);
		if (next < 0)
			return -1;
		fd = next;
	}
	return fd;
}

/*
 * mkdir @name under @dirfd (an existing real directory is reused), open it
 * without following symlinks, then give it @mode and @uid:@gid when @own.
 */
static int jail_mkdir_open(int dirfd, const char *name, const char *shown, mode_t mode, int own,
			   uid_t uid, gid_t gid, char *err, size_t len)
{
	int fd;

	if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
		return jail_err(err, len, "cannot create %s: %s", shown, strerror(errno));
	fd = jail_openat_dir(dirfd, name, shown, err, len);
	if (fd < 0)
		return -1;
	/* The umask may have narrowed mkdirat's mode; and a reused directory keeps its old one. */
	if (own && (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)) {
		jail_err(err, len, "cannot set owner and mode of %s: %s", shown, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int jail_make_root(int base_fd, const char *exec_name, const char *id, uid_t uid, gid_t gid,
		   char *err, size_t len)
{
	char shown[PATH_MAX];
	int exec_fd, id_fd, root_fd;

	snprintf(shown, sizeof(shown), "<base>/%s", exec_name);
	exec_fd = jail_mkdir_open(base_fd, exec_name, shown, JAIL_PARENT_MODE, 0, 0, 0, err, len);
	if (exec_fd < 0)
		return -1;
	snprintf(shown, sizeof(shown), "<base>/%s/%s", exec_name, id);
	id_fd = jail_mkdir_open(exec_fd, id, shown, JAIL_PARENT_MODE, 0, 0, 0, err, len);
	close(exec_fd);
	if (id_fd < 0)
		return -1;
	snprintf(shown, sizeof(shown), "<base>/%s/%s/" JAIL_ROOT_DIR, exec_name, id);
	root_fd = jail_mkdir_open(id_fd, JAIL_ROOT_DIR, shown, JAIL_DIR_MODE, 1, uid, gid, err, len);
	close(id_fd);
	return root_fd;
}

/* copy_file_range first (in-kernel, reflinks where the fs can); read/write if it cannot. */
static int jail_copy_data(int src, int dst, off_t size)
{
	char buf[64 * 1024];
	loff_t in = 0;
	ssize_t n;

	while (in < size) {
		n = copy_file_range(src, &in, dst, NULL, (size_t)(size - in), 0);
		if (n < 0 && in == 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
					 errno == EOPNOTSUPP))
			break;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;    /* the source shrank under us */
			return -1;
		}
	}
	while (in < size) {
		ssize_t w, off = 0;

		n = pread(src, buf, sizeof(buf), in);
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		while (off < n) {
			w = write(dst, buf + off, (size_t)(n - off));
			if (w < 0)
				return -1;
			off += w;
		}
		in += n;
	}
	return 0;
}

int jail_copy_exec(int src_fd, int root_fd, const char *name, char *err, size_t len)
{
	struct stat st;
	int fd, e;

	if (fstat(src_fd, &st) < 0)
		return jail_err(err, len, "fstat of the exec file: %s", strerror(errno));
	/*
	 * O_EXCL|O_NOFOLLOW: a jail reused after a VMM ran in it is owned by the
	 * VMM's uid, which could have planted a symlink here to make us write
	 * anywhere. Copy rather than hard-link, as Firecracker: VMMs then share
	 * no page-cache pages, and a link would let chmod/chown reach the original.
	 */
	fd = openat(root_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
	if (fd < 0)
		return jail_err(err, len, "cannot create <jail root>/%s: %s%s", name, strerror(errno),
				errno == EEXIST ? " (jail already used? ids must be unique)" : "");
	if (jail_copy_data(src_fd, fd, st.st_size) < 0 || fchmod(fd, JAIL_EXEC_MODE) < 0) {
		e = errno;
		close(fd);
		unlinkat(root_fd, name, 0);
		return jail_err(err, len, "cannot copy the exec file to <jail root>/%s: %s", name,
				strerror(e));
	}
	if (close(fd) < 0) {
		e = errno;
		unlinkat(root_fd, name, 0);
		return jail_err(err, len, "cannot write <jail root>/%s: %s", name, strerror(e));
	}
	return 0;
}

int jail_pivot(const char *root_path, int root_fd, char *err, size_t len)
{
	struct stat a, b;

	if (unshare(CLONE_NEWNS) < 0)
		return jail_err(err, len, "unshare(CLONE_NEWNS): %s", strerror(errno));
	/* Slave, not private: host unmounts still reach us, our mounts never reach the host. */
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return jail_err(err, len, "mount / MS_SLAVE|MS_REC: %s", strerror(errno));
	/* pivot_root needs the new root to be a mount point: bind the jail on itself. */
	if (mount(root_path, root_path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return jail_err(err, len, "bind mount %s: %s", root_path, strerror(errno));
	if (chdir(root_path) < 0)
		return jail_err(err, len, "chdir %s: %s", root_path, strerror(errno));
	/* The path was walked without symlinks; check it still names that directory. */
	if (stat(".", &a) < 0 || fstat(root_fd, &b) < 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino)
		return jail_err(err, len, "%s changed while the jail was being built", root_path);
	if (mkdir(JAIL_OLD_ROOT, 0700) < 0)
		return jail_err(err, len, "mkdir <jail root>/" JAIL_OLD_ROOT ": %s%s", strerror(errno),
				errno == EEXIST ? " (jail already used?)" : "");
	if (syscall(SYS_pivot_root, ".", JAIL_OLD_ROOT) < 0)
		return jail_err(err, len, "pivot_root: %s", strerror(errno));
	/* pivot_root does not promise where the cwd ends up. */
	if (chdir("/") < 0)
		return jail_err(err, len, "chdir / after pivot_root: %s", strerror(errno));
	if (umount2(JAIL_OLD_ROOT, MNT_DETACH) < 0)
		return jail_err(err, len, "umount2 " JAIL_OLD_ROOT ": %s", strerror(errno));
	if (rmdir(JAIL_OLD_ROOT) < 0)
		return jail_err(err, len, "rmdir " JAIL_OLD_ROOT ": %s", strerror(errno));
	if (chroot(".") < 0)
		return jail_err(err, len, "chroot(\".\"): %s", strerror(errno));
	return 0;
}

static int jail_mknod_owned(int dirfd, const char *name, const char *shown, unsigned maj,
			    unsigned min, uid_t uid, gid_t gid, char *err, size_t len)
{
	if (mknodat(dirfd, name, S_IFCHR | JAIL_DEV_MODE, makedev(maj, min)) < 0)
		return jail_err(err, len, "mknod %s (c %u:%u): %s%s", shown, maj, min,
				strerror(errno), errno == EEXIST ? " (jail already used?)" : "");
	/* Nothing else runs in the jail yet, so the name still is our node: set mode and owner. */
	if (fchmodat(dirfd, name, JAIL_DEV_MODE, 0) < 0 ||
	    fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return jail_err(err, len, "chmod/chown %s: %s", shown, strerror(errno));
	return 0;
}

int jail_make_devices(uid_t uid, gid_t gid, char *err, size_t len)
{
	int root = -1, dev = -1, net = -1, run = -1, r = -1;

	root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		jail_err(err, len, "open /: %s", strerror(errno));
		goto out;
	}
	if (fchown(root, uid, gid) < 0 || fchmod(root, JAIL_DIR_MODE) < 0) {
		jail_err(err, len, "chown/chmod /: %s", strerror(errno));
		goto out;
	}
	dev = jail_mkdir_open(root, "dev", "/dev", JAIL_DIR_MODE, 1, uid, gid, err, len);
	if (dev < 0)
		goto out;
	net = jail_mkdir_open(dev, "net", "/dev/net", JAIL_DIR_MODE, 1, uid, gid, err, len);
	if (net < 0)
		goto out;
	/* /run: where the VMM's API socket goes by convention. */
	run = jail_mkdir_open(root, "run", "/run", JAIL_DIR_MODE, 1, uid, gid, err, len);
	if (run < 0)
		goto out;
	if (jail_mknod_owned(net, "tun", "/dev/net/tun", 10, 200, uid, gid, err, len) ||
	    jail_mknod_owned(dev, "kvm", "/dev/kvm", 10, 232, uid, gid, err, len) ||
	    jail_mknod_owned(dev, "urandom", "/dev/urandom", 1, 9, uid, gid, err, len))
		goto out;
	r = 0;
out:
	if (run >= 0)
		close(run);
	if (net >= 0)
		close(net);
	if (dev >= 0)
		close(dev);
	if (root >= 0)
		close(root);
	return r;
}

int jail_write_pid_file(const char *exec_name, pid_t pid, char *err, size_t len)
{
	char path[PATH_MAX], num[24];
	int fd, n, e;

	if (jail_path(path, sizeof(path), "/%s" JAIL_PID_SUFFIX, exec_name))
		return jail_err(err, len, "pid file name too long");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return jail_err(err, len, "create %s: %s", path, strerror(errno));
	n = snprintf(num, sizeof(num), "%d", (int)pid);
	if (write(fd, num, (size_t)n) != n) {
		e = errno;
		close(fd);
		return jail_err(err, len, "write %s: %s", path, strerror(e));
	}
	if (close(fd) < 0)
		return jail_err(err, len, "close %s: %s", path, strerror(errno));
	return 0;
}
