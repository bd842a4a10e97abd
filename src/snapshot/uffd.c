/* uffd.c: the Uffd memory backend's side in ember: a userfaultfd over guest RAM, sent to its handler (uffd.h). */
#include "snapshot/uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define UFFD_SEND_WAIT_MS 1000   /* the rest of a message the socket took only in part */

int uffd_mappings_json(const struct guest_mem *m, char *buf, size_t len)
{
	uint64_t offset = 0;
	size_t n = 0;
	int w;

	if (len == 0)
		return -E2BIG;
	buf[0] = 0;
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct gmem_region *r = &m->region[i];

		w = snprintf(buf + n, len - n,
			     "%s{\"base_host_virt_addr\":%llu,\"size\":%llu,\"offset\":%llu,"
			     "\"page_size\":%llu,\"page_size_kib\":%llu}",
			     i ? "," : "[", (unsigned long long)(uintptr_t)r->host,
			     (unsigned long long)r->size, (unsigned long long)offset,
			     UFFD_PAGE_SIZE, UFFD_PAGE_SIZE);
		if (w < 0 || (size_t)w >= len - n)
			return -E2BIG;
		n += (size_t)w;
		offset += r->size;
	}
	w = snprintf(buf + n, len - n, "%s]", m->nregions ? "" : "[");
	if (w < 0 || (size_t)w >= len - n)
		return -E2BIG;
	return (int)(n + (size_t)w);
}

/*
 * A userfaultfd: the system call (root, CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1),
 * else /dev/userfaultfd (Linux 6.1+, its file mode decides). Returns the fd or -errno of the
 * system call, the more telling of the two.
 */
static int uffd_create(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int err = errno, dev;

	if (fd >= 0)
		return fd;
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -err;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	close(dev);
	return fd >= 0 ? fd : -err;
}

/* The API handshake, then every region registered for missing-page faults. */
static int uffd_register_all(int fd, const struct guest_mem *m, struct err *e)
{
	struct uffdio_api api = { .api = UFFD_API };

	if (ioctl(fd, UFFDIO_API, &api))
		return err_set(e, -errno, "The userfaultfd API handshake failed: %s", strerror(errno));
	for (unsigned i = 0; i < m->nregions; i++) {
		struct uffdio_register reg = {
			.range = { .start = (uintptr_t)m->region[i].host, .len = m->region[i].size },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};

		if (ioctl(fd, UFFDIO_REGISTER, &reg))
			return err_set(e, -errno, "Cannot register guest memory with the userfaultfd: "
				       "%s", strerror(errno));
		if (!(reg.ioctls & (1ULL << _UFFDIO_COPY)))
			return err_set(e, -EOPNOTSUPP, "The userfaultfd cannot fill guest memory "
				       "(no UFFDIO_COPY)");
	}
	return 0;
}

/* Connected, without waiting: a handler that is not accepting is an answer too. */
static int uffd_connect(const char *path, struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, -ENAMETOOLONG, "The Uffd backend_path %s is too long for a socket",
			       path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return err_set(e, -errno, "Cannot create a socket: %s", strerror(errno));
	if (connect(s, (const struct sockaddr *)&sa, sizeof(sa))) {
		int r = -errno;

		close(s);
		return err_set(e, r, "No page-fault handler accepts connections on %s: %s", path,
			       r == -EAGAIN ? "its backlog is full" : strerror(-r));
	}
	return s;
}

/* The message with @fd on its first byte; what the socket takes only in part, within a bound. */
static int uffd_send(int s, const char *msg, size_t len, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;

	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	do
		n = sendmsg(s, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	while (n >= 0 && (size_t)n < len) {
		struct pollfd p = { .fd = s, .events = POLLOUT };
		ssize_t k;

		msg += n;
		len -= (size_t)n;
		if (poll(&p, 1, UFFD_SEND_WAIT_MS) <= 0)
			return -ETIMEDOUT;
		k = send(s, msg, len, MSG_NOSIGNAL);
		if (k < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		n = k < 0 ? 0 : k;
	}
	return n < 0 ? -errno : 0;
}

int uffd_handoff(const struct guest_mem *m, const char *path, struct err *e)
{
	char msg[512];
	int fd, s = -1, len, r;

	len = uffd_mappings_json(m, msg, sizeof(msg));
	if (len < 0)
		return err_set(e, len, "Too many guest memory regions for the page-fault handler");
	fd = uffd_create();
	if (fd < 0)
		return err_set(e, fd, "userfaultfd is not available to ember: %s (it needs root, "
			       "CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1 or access to "
			       "/dev/userfaultfd)", strerror(-fd));
	if ((r = uffd_register_all(fd, m, e)))
		goto out;
	if ((s = uffd_connect(path, e)) < 0) {
		r = s;
		goto out;
	}
	if ((r = uffd_send(s, msg, (size_t)len, fd)))
		err_set(e, r, "Cannot send guest memory to the page-fault handler on %s: %s", path,
			r == -ETIMEDOUT ? "it does not read" : strerror(-r));
out:
	if (s >= 0)
		close(s);
	/* The handler's copy is the only one (uffd.h); on failure this unregisters RAM again. */
	close(fd);
	return r;
}
