/* vsock_unix.c: the Unix-socket side of ember's vsock: the uds_path listener, CONNECT lines, connecting to <uds_path>_<port>. */
#include "devices/virtio/vsock_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

/* Most connections accepted per listener event (the loop comes back if more wait). */
#define VSOCK_ACCEPT_BATCH 32

static int vsock_unix_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (!path[0] || strlen(path) >= sizeof(a->sun_path))
		return -ENAMETOOLONG;
	memcpy(a->sun_path, path, strlen(path) + 1);
	return 0;
}

#define VSOCK_ERR(...)                                                         \
	do {                                                                   \
		if (errlen)                                                    \
			snprintf(err, errlen, __VA_ARGS__);                    \
	} while (0)

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

int vsock_listen(const char *uds_path, int *listen_fd, char *err, size_t errlen)
{
	struct sockaddr_un a;
	struct stat st;
	int fd, r;

	*listen_fd = -1;
	if (errlen)
		err[0] = 0;
	if ((r = vsock_unix_addr(&a, uds_path ? uds_path : ""))) {
		VSOCK_ERR("vsock uds_path \"%s\": %s", uds_path ? uds_path : "", strerror(-r));
		return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		VSOCK_ERR("vsock socket for %s: %s", uds_path, strerror(-r));
		return r;
	}
	for (int tries = 0;; tries++) {
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			break;
		r = -errno;
		if (r != -EADDRINUSE || tries) {
			VSOCK_ERR("vsock cannot bind %s: %s", uds_path, strerror(-r));
			goto fail;
		}
		/* Something is there: replace only a socket nobody listens on. */
		if (lstat(uds_path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			VSOCK_ERR("vsock uds_path %s exists and is not a socket", uds_path);
			goto fail;
		}
		if (vsock_unix_live(&a)) {
			r = -EADDRINUSE;
			VSOCK_ERR("vsock uds_path %s is in use by a live listener", uds_path);
			goto fail;
		}
		if (unlink(uds_path) && errno != ENOENT) {
			r = -errno;
			VSOCK_ERR("vsock cannot remove stale socket %s: %s", uds_path, strerror(-r));
			goto fail;
		}
	}
	if (listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		VSOCK_ERR("vsock cannot listen on %s: %s", uds_path, strerror(-r));
		unlink(uds_path);
		goto fail;
	}
	*listen_fd = fd;
	return 0;
fail:
	close(fd);
	return r;
}

int vsock_unix_connect(const char *uds_path, uint32_t port)
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

ssize_t vsock_unix_send(int fd, const struct iovec *iov, int n)
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

/* Stop accepting until fds are released (EMFILE would make the listener fire forever). */
static void vsock_unix_pause(struct vsock_dev *d)
{
	if (d->listen_watched)
		evloop_del(d->loop, d->listen_fd);
	d->listen_watched = false;
	vsock_arm_timer(d);
}

void vsock_unix_accept(struct vsock_dev *d)
{
	for (int i = 0; i < VSOCK_ACCEPT_BATCH; i++) {
		struct vsock_conn *c;
		int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			metric_inc(M_vsock_muxer_event_fails);
			LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: accept on %s: %s", d->name, d->uds_path,
					strerror(errno));
			vsock_unix_pause(d);
			return;
		}
		if (d->nconns >= VSOCK_MAX_CONNS) {
			LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: %u connections, refusing a host program",
					d->name, d->nconns);
			close(fd);
			continue;
		}
		c = vsock_conn_new(d, fd, VSOCK_ST_HOST_LINE);
		if (!c) {
			close(fd);
			return;
		}
		vsock_conn_set_deadline(c, VSOCK_LINE_TIMEOUT_MS);
		vsock_conn_watch(c);
	}
}

/* A free host port from 2^30 up (Firecracker's range); ports of live connections are skipped. */
static uint32_t vsock_unix_alloc_port(struct vsock_dev *d)
{
	for (;;) {
		struct vsock_conn *c;

		d->last_host_port = vsock_port_next(d->last_host_port);
		for (c = d->all.head; c; c = c->link[VSOCK_L_ALL].next)
			if (c->hashed && c->host_port == d->last_host_port)
				break;
		if (!c)
			return d->last_host_port;
	}
}

/*
 * Read the CONNECT line without taking a byte past its '\n' (what follows
 * is data for the guest): peek, then consume up to the newline or, without
 * one, everything peeked (all of it belongs to the line).
 */
void vsock_unix_read_line(struct vsock_conn *c)
{
	struct vsock_dev *d = c->d;
	char buf[VSOCK_CONNECT_LINE_MAX];
	size_t room = sizeof(c->line) - c->line_len, take;
	uint32_t port;
	ssize_t n;
	int r;

	n = recv(c->fd, buf, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		vsock_conn_free(c);   /* gone before saying where to */
		return;
	}
	for (take = 0; take < (size_t)n && buf[take] != '\n'; take++)
		;
	take = take < (size_t)n ? take + 1 : (size_t)n;
	n = recv(c->fd, c->line + c->line_len, take, MSG_DONTWAIT);
	if (n != (ssize_t)take) {
		vsock_conn_free(c);
		return;
	}
	c->line_len = (uint8_t)(c->line_len + take);
	r = vsock_parse_connect(c->line, c->line_len, &port);
	if (r == 0)
		return;   /* more to come, within VSOCK_LINE_TIMEOUT_MS */
	if (r < 0) {
		LOG_RATELIMITED(LOG_LEVEL_INFO, "%s: malformed CONNECT line from a host program",
				d->name);
		vsock_conn_free(c);
		return;
	}
	/* Host-initiated: REQUEST to the guest from a fresh host port (5.10.6.5). */
	c->host_port = vsock_unix_alloc_port(d);
	c->guest_port = port;
	c->state = VSOCK_ST_LOCAL_INIT;
	c->deadline_ms = 0;
	vsock_hash_add(c);
	metric_inc(M_vsock_conns_added);
	vsock_conn_queue(c, VSOCK_P_REQUEST);
	vsock_conn_watch(c);   /* only a hangup until the guest answers */
}
