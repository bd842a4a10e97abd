/* vsock_unix.h: the host side of ember's vsock: Unix sockets with Firecracker's protocol, on plain fds. */
#ifndef EMBER_DEVICES_VIRTIO_VSOCK_UNIX_H
#define EMBER_DEVICES_VIRTIO_VSOCK_UNIX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct iovec;

/*
 * The bottom layer of the vsock device: it knows fds, paths and the
 * CONNECT line, never a connection or the device. Every socket it makes is
 * a non-blocking, close-on-exec Unix stream socket. Results come back as
 * return values; nothing is logged or counted here. Loop thread, except
 * vsock_listen().
 */

/*
 * vsock_listen: create the host listener of a vsock device at @uds_path
 * (PUT /vsock time): a socket bound and listening there. A socket file left
 * by a dead process (connecting to it is refused) is replaced; a live
 * listener, or a path that exists and is not a socket, is refused. Returns
 * 0 with *@listen_fd set, or -errno with a message in @e (may be NULL).
 * Any thread.
 */
int vsock_listen(const char *uds_path, int *listen_fd, struct err *e);

/* The host side as the device reaches it (vsock_dev.host). */
struct vsock_host_ops {
	/*
	 * accept: one host program from @listen_fd. Its fd, or -errno:
	 * -EAGAIN, -EINTR, -ECONNABORTED (nothing to take now), anything
	 * else a failure of the listener (-EMFILE: out of fds).
	 */
	int (*accept)(int listen_fd);
	/*
	 * connect: to "<@uds_path>_<@port>", where a host program listens for
	 * the guest's connections to @port. The fd, or -errno: -ENOENT,
	 * -ECONNREFUSED (nobody listens), -EAGAIN (its backlog is full),
	 * -ENAMETOOLONG; each a refusal for the guest.
	 */
	int (*connect)(const char *uds_path, uint32_t port);
	/*
	 * read_line: more of the "CONNECT <port>\n" line from @fd into @line
	 * (VSOCK_CONNECT_LINE_MAX bytes, the first *@len already read), never
	 * a byte past its '\n' (what follows is data for the guest). Returns
	 * 1 with *@port set once the line is whole, 0 while more is to come
	 * (nothing to read now, or no '\n' yet), -EPIPE if the socket closed
	 * or failed first, -EINVAL for a malformed line.
	 */
	int (*read_line)(int fd, char *line, uint8_t *len, uint32_t *port);
	/*
	 * send: as much of @iov (@n segments) as @fd takes now, without
	 * blocking and without SIGPIPE. Bytes sent, or -1 with errno set
	 * (EAGAIN: full; EPIPE: the host program went away).
	 */
	ssize_t (*send)(int fd, const struct iovec *iov, int n);
};

/* Unix sockets with Firecracker's protocol: what vsock_setup() installs. */
extern const struct vsock_host_ops vsock_unix_ops;

#endif
