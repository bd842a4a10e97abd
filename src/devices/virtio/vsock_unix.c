/* vsock_unix.c: the Unix-socket side of ember's vsock: the uds_path listener, CONNECT lines, connecting to <uds_path>_<port>. */
#include "devices/virtio/vsock_unix.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/virtio/vsock_proto.h"

static int vsock_unix_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (!path[0] || strlen(path) >= sizeof(a->sun_path))
		return -ENAMETOOLONG;
	memcpy(a->sun_path, path, strlen(path) + 1);
	return 0;
}

/* Is a listener alive at @a? A refused connection means a stale socket file. */
static bool vsock_unix_live(const struct sockaddr_un *a)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return true;   /* cannot tell: do not remove anything */
	live = connect(fd, (const struct sockaddr *)a, sizeof(*a)) == 0 || errno == EAGAIN;
	close(fd);
	return live;
}

int vsock_listen(const char *uds_path, int *listen_fd, struct err *e)
{
	struct sockaddr_un a;
	struct stat st;
	int fd, r;

	*listen_fd = -1;
	if (e)
		e->msg[0] = 0;
	if ((r = vsock_unix_addr(&a, uds_path ? uds_path : "")))
		return err_set(e, r, "vsock uds_path \"%s\": %s", uds_path ? uds_path : "",
			       strerror(-r));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		return err_set(e, r, "vsock socket for %s: %s", uds_path, strerror(-r));
	}
	for (int tries = 0;; tries++) {
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			break;
		r = -errno;
		if (r != -EADDRINUSE || tries) {
			err_set(e, r, "vsock cannot bind %s: %s", uds_path, strerror(-r));
			goto fail;
		}
		/* Something is there: replace only a socket nobody listens on. */
		if (lstat(uds_path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			err_set(e, r, "vsock uds_path %s exists and is not a socket", uds_path);
			goto fail;
		}
		if (vsock_unix_live(&a)) {
			r = -EADDRINUSE;
			err_set(e, r, "vsock uds_path %s is in use by a live listener", uds_path);
			goto fail;
		}
		if (unlink(uds_path) && errno != ENOENT) {
			r = -errno;
			err_set(e, r, "vsock cannot remove stale socket %s: %s", uds_path,
				strerror(-r));
			goto fail;
		}
	}
	if (listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		err_set(e, r, "vsock cannot listen on %s: %s", uds_path, strerror(-r));
		unlink(uds_path);
		goto fail;
	}
	*listen_fd = fd;
	return 0;
fail:
	close(fd);
	return r;
}

static int vsock_unix_connect(const char *uds_path, uint32_t port)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
	struct sockaddr_un a;
	int fd, r;

	snprintf(path, sizeof(path), "%s_%u", uds_path, port);
	if ((r = vsock_unix_addr(&a, path)))
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * A non-blocking connect to a Unix socket completes at once, or fails:
	 * ENOENT / ECONNREFUSED (nobody listens), EAGAIN (its backlog is full).
	 * Each is a refusal for the guest.
	 */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static ssize_t vsock_unix_send(int fd, const struct iovec *iov, int n)
{
	struct msghdr m;
	ssize_t r;

	memset(&m, 0, sizeof(m));
	m.msg_iov = (struct iovec *)iov;
	m.msg_iovlen = (size_t)n;
	/* MSG_NOSIGNAL: a host program that went away is an EPIPE, not a SIGPIPE. */
	do {
		r = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	return r;
}

static int vsock_unix_accept(int listen_fd)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/*
 * Peek, then consume up to the newline or, without one, everything peeked
 * (all of it belongs to the line).
 */
static int vsock_unix_read_line(int fd, char *line, uint8_t *len, uint32_t *port)
{
	char buf[VSOCK_CONNECT_LINE_MAX];
	size_t room = VSOCK_CONNECT_LINE_MAX - *len, take;
	ssize_t n;
	int r;

	n = recv(fd, buf, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -EPIPE;   /* gone before saying where to */
	for (take = 0; take < (size_t)n && buf[take] != '\n'; take++)
		;
	take = take < (size_t)n ? take + 1 : (size_t)n;
	n = recv(fd, line + *len, take, MSG_DONTWAIT);
	if (n != (ssize_t)take)
		return -EPIPE;
	*len = (uint8_t)(*len + take);
	r = vsock_parse_connect(line, *len, port);
	if (r < 0)
		return -EINVAL;
	return r ? 1 : 0;   /* 0: more to come */
}

const struct vsock_host_ops vsock_unix_ops = {
	.accept = vsock_unix_accept,
	.connect = vsock_unix_connect,
	.read_line = vsock_unix_read_line,
	.send = vsock_unix_send,
};
