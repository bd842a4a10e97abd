/* test_vsock.c: unit tests of vsock's pure parts (the CONNECT line, the OK reply, credit arithmetic, the byte ring) and of vsock_listen(). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "devices/virtio/vsock.h"

static int parse(const char *s, uint32_t *port)
{
	*port = 0xdeadbeef;
	return vsock_parse_connect(s, strlen(s), port);
}

static void test_connect_good(void)
{
	uint32_t p;

	CHECK_EQ_I(parse("CONNECT 52\n", &p), 11);
	CHECK_EQ_U(p, 52);
	CHECK_EQ_I(parse("connect 0\n", &p), 10);
	CHECK_EQ_U(p, 0);
	CHECK_EQ_I(parse("Connect 4294967295\n", &p), 19);
	CHECK_EQ_U(p, 4294967295u);
	/* Whitespace as Firecracker's split_whitespace: leading, repeated, tabs, CRLF. */
	CHECK_EQ_I(parse("  CONNECT\t 7 \r\n", &p), 15);
	CHECK_EQ_U(p, 7);
	/* Only the line counts: bytes after the newline are data for the guest. */
	CHECK_EQ_I(parse("CONNECT 9\nhello", &p), 10);
	CHECK_EQ_U(p, 9);
}

static void test_connect_incomplete(void)
{
	uint32_t p;

	CHECK_EQ_I(parse("", &p), 0);
	CHECK_EQ_I(parse("CONN", &p), 0);
	CHECK_EQ_I(parse("CONNECT 12", &p), 0);
	CHECK_EQ_U(p, 0xdeadbeef);
	/* 31 bytes without a newline may still end well; 32 may not. */
	CHECK_EQ_I(parse("CONNECT                      123", &p), -EINVAL);
	CHECK_EQ_I(parse("CONNECT                      12", &p), 0);
}

static void test_connect_bad(void)
{
	static const char *const bad[] = {
		"\n", "CONNECT\n", "CONNECT \n", "CONNECTX 5\n", "CONNEC 5\n", "connect5\n",
		"CONNECT 5 6\n", "CONNECT -5\n", "CONNECT +5\n", "CONNECT 0x10\n", "CONNECT 5x\n",
		"CONNECT 4294967296\n", "CONNECT 99999999999999999999\n", "OK 5\n", "LISTEN 5\n",
		"CONNECT 1234567890123456789012345\n",
	};
	uint32_t p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &p) != -EINVAL)
			CHECK_FAIL_("accepted \"%s\"", bad[i]);
	}
	/* An embedded NUL is refused, not treated as the end. */
	CHECK_EQ_I(vsock_parse_connect("CONNECT\0 5\n", 11, &p), -EINVAL);
}

static void test_format_ok(void)
{
	char b[24];

	CHECK_EQ_U(vsock_format_ok(b, sizeof(b), 1073741824u), 14);
	CHECK_STR(b, "OK 1073741824\n");
	CHECK_EQ_U(vsock_format_ok(b, sizeof(b), 0), 5);
	CHECK_STR(b, "OK 0\n");
}

static void test_credit(void)
{
	/* 5.10.6.3: peer_free = buf_alloc - (tx_cnt - fwd_cnt). */
	CHECK_EQ_U(vsock_peer_free(65536, 0, 0), 65536);
	CHECK_EQ_U(vsock_peer_free(65536, 100, 1100), 64536);
	CHECK_EQ_U(vsock_peer_free(65536, 0, 65536), 0);
	/* Counters wrap at 2^32. */
	CHECK_EQ_U(vsock_peer_free(4096, 0xfffffff0u, 0x10u), 4096 - 0x20);
	/* The receiver shrank its buffer below what is in flight: no credit, not a huge one. */
	CHECK_EQ_U(vsock_peer_free(1000, 0, 5000), 0);
	/* A fwd_cnt ahead of what was sent is nonsense: no credit either. */
	CHECK_EQ_U(vsock_peer_free(1000, 10, 5), 0);
	CHECK_EQ_U(vsock_peer_free(0, 0, 0), 0);
}

static void test_credit_update_due(void)
{
	CHECK(!vsock_credit_update_due(0, 0, 262144));
	CHECK(!vsock_credit_update_due(65535, 0, 262144));
	CHECK(vsock_credit_update_due(65536, 0, 262144));
	CHECK(vsock_credit_update_due(0x10000u + 5, 5, 262144));
	CHECK(vsock_credit_update_due(0x8000u, 0xffff8000u, 262144));   /* wrapped */
	CHECK(!vsock_credit_update_due(7, 7, 0));
}

static void test_port_next(void)
{
	uint32_t p = (1u << 30) - 1;

	p = vsock_port_next(p);
	CHECK_EQ_U(p, 1u << 30);
	CHECK_EQ_U(vsock_port_next(p), (1u << 30) + 1);
	/* Round robin inside [2^30, 2^31). */
	CHECK_EQ_U(vsock_port_next(0x7fffffffu), 1u << 30);
	CHECK_EQ_U(vsock_port_next(0xffffffffu), 1u << 30);
}

static void test_ring(void)
{
	struct vsock_ring r;
	struct iovec iov[2];
	uint8_t in[100], out[100];
	size_t got = 0;
	int k;

	for (int i = 0; i < 100; i++)
		in[i] = (uint8_t)(i * 7 + 1);
	vsock_ring_init(&r, 64);
	CHECK(r.buf == NULL);
	CHECK_EQ_I(vsock_ring_data(&r, iov), 0);
	CHECK_EQ_I(vsock_ring_push(&r, in, 65), -ENOSPC);
	CHECK(r.buf == NULL);
	CHECK_EQ_I(vsock_ring_push(&r, in, 40), 0);
	CHECK_EQ_U(r.len, 40);
	CHECK_EQ_U(vsock_ring_room(&r), 24);
	vsock_ring_consume(&r, 30);
	/* Wraps: 10 held at 30..39, 50 more fill 40..63 and 0..25. */
	CHECK_EQ_I(vsock_ring_push(&r, in + 40, 50), 0);
	CHECK_EQ_I(vsock_ring_push(&r, in, 5), -ENOSPC);
	k = vsock_ring_data(&r, iov);
	CHECK_EQ_I(k, 2);
	for (int i = 0; i < k; i++) {
		memcpy(out + got, iov[i].iov_base, iov[i].iov_len);
		got += iov[i].iov_len;
	}
	CHECK_EQ_U(got, 60);
	CHECK(memcmp(out, in + 30, 60) == 0);
	vsock_ring_consume(&r, 60);
	CHECK_EQ_U(r.len, 0);
	CHECK_EQ_U(r.head, 0);
	/* Space in two runs after a wrap; commit what was written. */
	CHECK_EQ_I(vsock_ring_push(&r, in, 50), 0);
	vsock_ring_consume(&r, 50);
	CHECK_EQ_I(vsock_ring_push(&r, in, 20), 0);   /* head reset to 0 when emptied */
	vsock_ring_consume(&r, 10);
	k = vsock_ring_space(&r, iov);
	CHECK_EQ_I(k, 2);
	CHECK_EQ_U(iov[0].iov_len + iov[1].iov_len, 54);
	CHECK_EQ_U(iov[0].iov_len, 44);
	vsock_ring_commit(&r, 100);   /* clamped to the room */
	CHECK_EQ_U(r.len, 64);
	vsock_ring_free(&r);
	CHECK(r.buf == NULL);
	CHECK_EQ_U(r.len, 0);
}

static int unix_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* vsock_listen at PUT /vsock time: a stale socket file is replaced, a live listener or a file refused. */
static void test_listen_stale_and_live(void)
{
	char dir[] = "/tmp/vsock-listen-XXXXXX", path[64];
	struct err err;
	int a, b, fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/s", dir);
	CHECK_EQ_I(vsock_listen(path, &a, &err), 0);
	/* Live: refused. */
	CHECK_EQ_I(vsock_listen(path, &b, &err), -EADDRINUSE);
	CHECK(strstr(err.msg, "live") != NULL);
	/* Stale (listener gone, file left): replaced. */
	close(a);
	CHECK_EQ_I(vsock_listen(path, &b, &err), 0);
	fd = unix_connect(path);
	CHECK(fd >= 0);
	close(fd);
	close(b);
	unlink(path);
	/* Not a socket: refused, left alone. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CHECK(vsock_listen(path, &b, &err) < 0);
	CHECK(access(path, F_OK) == 0);
	unlink(path);
	CHECK_EQ_I(vsock_listen("", &b, &err), -ENAMETOOLONG);
	rmdir(dir);
}

int main(void)
{
	RUN(test_connect_good);
	RUN(test_connect_incomplete);
	RUN(test_connect_bad);
	RUN(test_format_ok);
	RUN(test_credit);
	RUN(test_credit_update_due);
	RUN(test_port_next);
	RUN(test_ring);
	RUN(test_listen_stale_and_live);
	return check_summary();
}
