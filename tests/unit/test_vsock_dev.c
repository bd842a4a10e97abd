/* test_vsock_dev.c: ember's vsock device without KVM: a fake guest driver on fake RAM, real Unix sockets on the host side. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "check.h"
#include "devices/virtio/vsock_int.h"
#include "metrics.h"

#define RAM_SIZE   (16u << 20)
#define QSZ        64
#define RXBUF_SIZE (VSOCK_HDR_SIZE + 65536)
#define RXBUF(i)   (0x100000u + (uint64_t)(i) * 0x11000u)
#define TXBUF(i)   (0xa00000u + (uint64_t)(i) * 0x11000u)
#define GUEST_CID  3

static const uint64_t qgpa[3] = { 0x10000, 0x20000, 0x30000 };   /* desc; +0x2000 avail; +0x4000 used */

/* The fake guest and the device under test. */
struct tctx {
	uint8_t *ram;
	struct guest_mem mem;
	struct evloop loop;
	struct vsock_dev *d;
	char dir[64];
	char path[100];
	uint16_t avail[3], used_seen[3];
	unsigned tx_slot;
	uint32_t fwd_cnt;    /* the fake guest's, as it advertises */
};

static struct tctx T;

static void put16(uint64_t gpa, uint16_t v) { memcpy(T.ram + gpa, &v, 2); }
static uint16_t get16(uint64_t gpa) { uint16_t v; memcpy(&v, T.ram + gpa, 2); return v; }
static uint32_t get32(uint64_t gpa) { uint32_t v; memcpy(&v, T.ram + gpa, 4); return v; }

static void drv_desc(unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc dd = { addr, len, flags, next };

	memcpy(T.ram + qgpa[q] + 16u * i, &dd, sizeof(dd));
}

static void drv_avail(unsigned q, uint16_t head)
{
	put16(qgpa[q] + 0x2000 + 4 + 2u * (T.avail[q] % QSZ), head);
	T.avail[q]++;
	put16(qgpa[q] + 0x2000 + 2, T.avail[q]);
}

/* Run the loop's ready callbacks until nothing happens for @ms; returns the callbacks run. */
static int pump(int ms)
{
	int calls = 0;

	for (int rounds = 0; rounds < 10000; rounds++) {
		struct epoll_event ev[16];
		int n = epoll_wait(T.loop.epfd, ev, 16, ms);

		if (n <= 0)
			return calls;
		for (int i = 0; i < n; i++) {
			uint32_t slot = (uint32_t)ev[i].data.u64, gen = (uint32_t)(ev[i].data.u64 >> 32);

			if (slot < T.loop.cap && T.loop.h[slot].used && T.loop.h[slot].gen == gen) {
				T.loop.h[slot].fn(T.loop.h[slot].opaque, ev[i].events);
				calls++;
			}
		}
	}
	return calls;
}

static void notify(unsigned q)
{
	pthread_mutex_lock(&T.d->t.lock);
	vsock_queue_notify(&T.d->t, q);
	pthread_mutex_unlock(&T.d->t.lock);
}

/* Post rx buffer @i (one device-writable descriptor of @len bytes). */
static void rx_post(uint16_t i, uint32_t len)
{
	drv_desc(0, i, RXBUF(i), len, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(0, i);
}

static void rx_post_all(uint32_t len)
{
	for (uint16_t i = 0; i < QSZ; i++)
		rx_post(i, len);
	notify(VSOCK_RXQ);
}

/* Take the next used rx buffer: header and payload; repost it. 1, or 0 if none. */
static int rx_take(struct vsock_hdr *h, uint8_t *data, size_t cap, uint32_t *used_len)
{
	uint64_t used = qgpa[0] + 0x4000;
	uint16_t idx = get16(used + 2);
	uint32_t id, len;

	if (idx == T.used_seen[0])
		return 0;
	id = get32(used + 4 + 8u * (T.used_seen[0] % QSZ));
	len = get32(used + 8 + 8u * (T.used_seen[0] % QSZ));
	T.used_seen[0]++;
	memcpy(h, T.ram + RXBUF(id), sizeof(*h));
	if (data && len > VSOCK_HDR_SIZE)
		memcpy(data, T.ram + RXBUF(id) + VSOCK_HDR_SIZE,
		       len - VSOCK_HDR_SIZE < cap ? len - VSOCK_HDR_SIZE : cap);
	if (used_len)
		*used_len = len;
	rx_post((uint16_t)id, RXBUF_SIZE);
	return 1;
}

/* The next rx packet, pumping the loop a little first; op 0 if none came. */
static struct vsock_hdr rx_next(uint8_t *data, size_t cap)
{
	struct vsock_hdr h;

	memset(&h, 0, sizeof(h));
	for (int i = 0; i < 50; i++) {
		if (rx_take(&h, data, cap, NULL)) {
			notify(VSOCK_RXQ);
			return h;
		}
		pump(2);
	}
	memset(&h, 0, sizeof(h));
	return h;
}

static struct vsock_hdr mkhdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t len)
{
	struct vsock_hdr h;

	memset(&h, 0, sizeof(h));
	h.src_cid = GUEST_CID;
	h.dst_cid = VSOCK_HOST_CID;
	h.src_port = src_port;
	h.dst_port = dst_port;
	h.len = len;
	h.type = VSOCK_TYPE_STREAM;
	h.op = op;
	h.buf_alloc = 65536;
	h.fwd_cnt = T.fwd_cnt;
	return h;
}

/* Queue a tx packet (header descriptor, then a data descriptor if @len) of @buflen readable bytes. */
static void tx_raw(const void *hdr, uint32_t hdrlen, const void *data, uint32_t len)
{
	unsigned s = T.tx_slot++ % (QSZ / 2);
	uint16_t d0 = (uint16_t)(2 * s), d1 = (uint16_t)(2 * s + 1);

	memcpy(T.ram + TXBUF(s), hdr, hdrlen);
	if (len) {
		memcpy(T.ram + TXBUF(s) + 0x100, data, len);
		drv_desc(1, d0, TXBUF(s), hdrlen, VIRTQ_DESC_F_NEXT, d1);
		drv_desc(1, d1, TXBUF(s) + 0x100, len, 0, 0);
	} else {
		drv_desc(1, d0, TXBUF(s), hdrlen, 0, 0);
	}
	drv_avail(1, d0);
	notify(VSOCK_TXQ);
}

static void tx(struct vsock_hdr h, const void *data)
{
	tx_raw(&h, sizeof(h), data, h.len);
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

static int unix_listen_at(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Read up to @cap bytes within @ms; returns bytes, 0 on EOF (or a reset:
 * a Unix socket closed with unread input gives its peer ECONNRESET), -1 on
 * timeout or another error.
 */
static ssize_t read_wait(int fd, void *buf, size_t cap, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	for (int i = 0; i < ms; i++) {
		pump(0);
		if (poll(&p, 1, 1) == 1) {
			ssize_t n = read(fd, buf, cap);

			return n < 0 && errno == ECONNRESET ? 0 : n;
		}
	}
	return -1;
}

static void setup(void)
{
	struct vsock_cfg cfg;
	struct err err;
	int lfd;

	memset(&T, 0, sizeof(T));
	T.ram = aligned_alloc(4096, RAM_SIZE);
	memset(T.ram, 0, RAM_SIZE);
	gmem_init_from(&T.mem, T.ram, RAM_SIZE, LAYOUT_RAM_HOLE);
	evloop_init(&T.loop);
	snprintf(T.dir, sizeof(T.dir), "/tmp/vsock-test-XXXXXX");
	if (!mkdtemp(T.dir))
		abort();
	snprintf(T.path, sizeof(T.path), "%s/v.sock", T.dir);
	T.d = calloc(1, sizeof(*T.d));
	pthread_mutex_init(&T.d->t.lock, NULL);
	T.d->t.dev = T.d;
	T.d->t.name = "vsock";
	T.d->t.mem = &T.mem;
	T.d->t.nqueues = 3;
	T.d->t.irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	T.d->t.active = 1;
	for (unsigned q = 0; q < 3; q++) {
		virtq_init(&T.d->t.q[q], QSZ);
		T.d->t.q[q].desc_gpa = qgpa[q];
		T.d->t.q[q].avail_gpa = qgpa[q] + 0x2000;
		T.d->t.q[q].used_gpa = qgpa[q] + 0x4000;
		virtq_validate(&T.d->t.q[q], &T.mem);
	}
	if (vsock_listen(T.path, &lfd, &err))
		abort();
	memset(&cfg, 0, sizeof(cfg));
	cfg.guest_cid = GUEST_CID;
	cfg.uds_path = T.path;
	if (vsock_setup(T.d, &cfg, lfd, &T.loop))
		abort();
}

static void teardown(void)
{
	char p[200];

	close(T.d->t.irq_fd);
	T.d->t.irq_fd = -1;
	vsock_destroy(T.d);
	free(T.d);
	evloop_destroy(&T.loop);
	free(T.ram);
	for (int port = 0; port < 10000; port += 1) {
		snprintf(p, sizeof(p), "%s_%d", T.path, port);
		unlink(p);
	}
	unlink(T.path);
	rmdir(T.dir);
}

/* A host program connects with CONNECT @port; the guest answers; returns the host fd, the host port in *hp. */
static int host_connect(uint32_t port, uint32_t *hp, bool accept_it)
{
	char line[32], ok[32];
	struct vsock_hdr h;
	int fd = unix_connect(T.path);
	ssize_t n;

	if (fd < 0)
		return -1;
	snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (write(fd, line, strlen(line)) < 0)
		return -1;
	h = rx_next(NULL, 0);
	if (h.op != VSOCK_OP_REQUEST || h.dst_port != port || h.src_cid != VSOCK_HOST_CID ||
	    h.dst_cid != GUEST_CID || h.src_port < (1u << 30)) {
		CHECK_FAIL_("no REQUEST for port %u (op %u)", port, h.op);
		close(fd);
		return -1;
	}
	*hp = h.src_port;
	if (!accept_it)
		return fd;
	tx(mkhdr(VSOCK_OP_RESPONSE, port, h.src_port, 0), NULL);
	n = read_wait(fd, ok, sizeof(ok) - 1, 1000);
	snprintf(line, sizeof(line), "OK %u\n", h.src_port);
	if (n != (ssize_t)strlen(line) || memcmp(ok, line, (size_t)n) != 0) {
		CHECK_FAIL_("no OK line (%zd)", n);
		close(fd);
		return -1;
	}
	return fd;
}

/* A guest-initiated connection to <uds_path>_@port from guest port @gport with guest credit @alloc; the host end in *s. */
static struct vsock_conn *guest_connect(uint32_t port, uint32_t gport, uint32_t alloc, int *l, int *s)
{
	struct vsock_hdr h;
	char p[160];

	snprintf(p, sizeof(p), "%s_%u", T.path, port);
	*l = unix_listen_at(p);
	h = mkhdr(VSOCK_OP_REQUEST, gport, port, 0);
	h.buf_alloc = alloc;
	tx(h, NULL);
	h = rx_next(NULL, 0);
	if (h.op != VSOCK_OP_RESPONSE || h.dst_port != gport)
		CHECK_FAIL_("no RESPONSE for guest port %u", gport);
	*s = accept(*l, NULL, NULL);
	return vsock_lookup(T.d, port, gport);
}

/* A host program that stops reading holds up its own connection only; ember buffers within buf_alloc. */
static void test_slow_host_reader_isolated(void)
{
	static uint8_t blob[65536], got[65536];
	struct vsock_conn *a, *b;
	struct vsock_hdr h;
	int la, sa, lb, sb, small = 4096;
	size_t n = 0;

	setup();
	rx_post_all(RXBUF_SIZE);
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 31 + 7);
	a = guest_connect(5010, 2000, 65536, &la, &sa);
	b = guest_connect(5011, 2001, 65536, &lb, &sb);
	CHECK(a && b);
	setsockopt(a->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sa, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	/* Four packets to A, whose host end does not read: most of it waits in ember, bounded. */
	for (int i = 0; i < 4; i++)
		tx(mkhdr(VSOCK_OP_RW, 2000, 5010, sizeof(blob)), blob);
	CHECK(a->tx.len > 0 && a->tx.len <= VSOCK_BUF_ALLOC);
	CHECK(a->watch & EPOLLOUT);
	/* B is not held up. */
	tx(mkhdr(VSOCK_OP_RW, 2001, 5011, sizeof(blob)), blob);
	while (n < sizeof(got)) {
		ssize_t k = read_wait(sb, got + n, sizeof(got) - n, 1000);

		if (k <= 0)
			break;
		n += (size_t)k;
	}
	CHECK_EQ_U(n, sizeof(got));
	CHECK(memcmp(got, blob, sizeof(got)) == 0);
	/* A's reader wakes up: ember drains A and tells the guest about the room (CREDIT_UPDATE). */
	n = 0;
	while (n < 4 * sizeof(blob)) {
		ssize_t k = read_wait(sa, got, sizeof(got), 1000);

		if (k <= 0)
			break;
		n += (size_t)k;
	}
	CHECK_EQ_U(n, 4 * sizeof(blob));
	CHECK_EQ_U(a->tx.len, 0);
	CHECK_EQ_U(a->fwd_cnt, 4 * sizeof(blob));
	do
		h = rx_next(NULL, 0);
	while (h.op == VSOCK_OP_CREDIT_UPDATE && h.fwd_cnt != 4 * sizeof(blob));
	CHECK_EQ_U(h.op, VSOCK_OP_CREDIT_UPDATE);
	CHECK_EQ_U(h.dst_port, 2000);
	close(sa);
	close(sb);
	close(la);
	close(lb);
	teardown();
}

/* A guest that gives no credit on A: ember stops reading A's host socket (no busy loop); B flows. */
static void test_slow_guest_reader_isolated(void)
{
	static uint8_t blob[100000], got[100000];
	struct vsock_conn *a, *b;
	struct vsock_hdr h;
	uint32_t ga = 0, gb = 0;
	int la, sa, lb, sb, calls;

	setup();
	rx_post_all(RXBUF_SIZE);
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 17 + 3);
	a = guest_connect(5020, 2010, 1000, &la, &sa);
	b = guest_connect(5021, 2011, 1u << 20, &lb, &sb);
	CHECK(a && b);
	CHECK(write(sa, blob, sizeof(blob)) == (ssize_t)sizeof(blob));
	CHECK(write(sb, blob, sizeof(blob)) == (ssize_t)sizeof(blob));
	for (int i = 0; i < 200 && gb < sizeof(blob); i++) {
		if (!rx_take(&h, got + gb, sizeof(got) - gb, NULL)) {
			notify(VSOCK_RXQ);
			pump(2);
			continue;
		}
		if (h.op == VSOCK_OP_RW && h.dst_port == 2010)
			ga += h.len;
		else if (h.op == VSOCK_OP_RW && h.dst_port == 2011)
			gb += h.len;
	}
	CHECK_EQ_U(gb, sizeof(blob));
	CHECK(memcmp(got, blob, sizeof(blob)) == 0);
	CHECK_EQ_U(ga, 1000);
	CHECK(a->credit_wait);
	CHECK(!(a->watch & EPOLLIN));
	/* Nothing to do for ember now: the loop stays quiet although A's socket is readable. */
	calls = pump(20);
	CHECK(calls <= 2);
	/* The host closes A with data still unread; credit comes: the rest, then SHUTDOWN. */
	close(sa);
	calls = pump(20);
	CHECK(calls <= 2);
	T.fwd_cnt = 1000;
	h = mkhdr(VSOCK_OP_CREDIT_UPDATE, 2010, 5020, 0);
	h.buf_alloc = 1u << 20;
	tx(h, NULL);
	for (int i = 0; i < 200; i++) {
		h = rx_next(NULL, 0);
		if (h.op != VSOCK_OP_RW)
			break;
		ga += h.len;
	}
	CHECK_EQ_U(ga, sizeof(blob));
	CHECK_EQ_U(h.op, VSOCK_OP_SHUTDOWN);
	close(sb);
	close(la);
	close(lb);
	teardown();
}

static void test_config_space(void)
{
	uint8_t b[8] = { 0 };
	uint32_t lo;

	setup();
	vsock_config_read(&T.d->t, 0, b, 8);
	CHECK_EQ_U(b[0], GUEST_CID);
	vsock_config_read(&T.d->t, 0, (uint8_t *)&lo, 4);
	CHECK_EQ_U(lo, GUEST_CID);
	memset(b, 0xaa, sizeof(b));
	vsock_config_read(&T.d->t, 4, b, 4);
	CHECK_EQ_U(b[0], 0);
	teardown();
}

static void test_host_initiated(void)
{
	uint8_t buf[256];
	struct vsock_hdr h;
	uint32_t hp = 0;
	int fd;

	setup();
	rx_post_all(RXBUF_SIZE);
	fd = host_connect(1234, &hp, true);
	CHECK(fd >= 0);
	CHECK_EQ_U(T.d->nconns, 1);
	/* Host -> guest. */
	CHECK(write(fd, "hello", 5) == 5);
	h = rx_next(buf, sizeof(buf));
	CHECK_EQ_U(h.op, VSOCK_OP_RW);
	CHECK_EQ_U(h.len, 5);
	CHECK_EQ_U(h.src_port, hp);
	CHECK_EQ_U(h.dst_port, 1234);
	CHECK_EQ_U(h.buf_alloc, VSOCK_BUF_ALLOC);
	CHECK(memcmp(buf, "hello", 5) == 0);
	/* Guest -> host. */
	tx(mkhdr(VSOCK_OP_RW, 1234, hp, 6), "world!");
	CHECK_EQ_I(read_wait(fd, buf, sizeof(buf), 1000), 6);
	CHECK(memcmp(buf, "world!", 6) == 0);
	/* The host half-closes: the guest hears SHUTDOWN(SEND) and may still send. */
	shutdown(fd, SHUT_WR);
	h = rx_next(NULL, 0);
	CHECK_EQ_U(h.op, VSOCK_OP_SHUTDOWN);
	CHECK_EQ_U(h.flags, VSOCK_SHUTDOWN_SEND);
	tx(mkhdr(VSOCK_OP_RW, 1234, hp, 3), "abc");
	CHECK_EQ_I(read_wait(fd, buf, sizeof(buf), 1000), 3);
	/* The guest closes: ember passes the EOF on and answers with RST. */
	{
		struct vsock_hdr s = mkhdr(VSOCK_OP_SHUTDOWN, 1234, hp, 0);

		s.flags = VSOCK_SHUTDOWN_BOTH;
		tx(s, NULL);
	}
	h = rx_next(NULL, 0);
	CHECK_EQ_U(h.op, VSOCK_OP_RST);
	CHECK_EQ_I(read_wait(fd, buf, sizeof(buf), 1000), 0);
	CHECK_EQ_U(T.d->nconns, 0);
	close(fd);
	teardown();
}

static void test_host_connect_refused_by_guest(void)
{
	uint8_t b[8];
	uint32_t hp;
	int fd;

	setup();
	rx_post_all(RXBUF_SIZE);
	fd = host_connect(77, &hp, false);
	CHECK(fd >= 0);
	tx(mkhdr(VSOCK_OP_RST, 77, hp, 0), NULL);
	CHECK_EQ_I(read_wait(fd, b, sizeof(b), 1000), 0);
	CHECK_EQ_U(T.d->nconns, 0);
	close(fd);
	teardown();
}

static void test_bad_connect_lines(void)
{
	static const char *const bad[] = { "HELLO 5\n", "CONNECT five\n", "CONNECT 5 6\n",
					   "CONNECT 12345678901234567890123456789\n" };
	uint8_t b[8];

	setup();
	rx_post_all(RXBUF_SIZE);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = unix_connect(T.path);

		CHECK(write(fd, bad[i], strlen(bad[i])) > 0);
		if (read_wait(fd, b, sizeof(b), 1000) != 0)
			CHECK_FAIL_("\"%s\" not closed", bad[i]);
		close(fd);
	}
	pump(5);
	CHECK_EQ_U(T.d->nconns, 0);
	teardown();
}

static void test_connect_line_in_pieces_then_data(void)
{
	uint8_t buf[64];
	struct vsock_hdr h;
	int fd;

	setup();
	rx_post_all(RXBUF_SIZE);
	fd = unix_connect(T.path);
	CHECK(write(fd, "CONN", 4) == 4);
	pump(5);
	CHECK_EQ_U(T.d->nconns, 1);
	/* The rest of the line and data in one write: the data waits for the guest's answer. */
	CHECK(write(fd, "ECT 42\nearly", 12) == 12);
	h = rx_next(NULL, 0);
	CHECK_EQ_U(h.op, VSOCK_OP_REQUEST);
	CHECK_EQ_U(h.dst_port, 42);
	tx(mkhdr(VSOCK_OP_RESPONSE, 42, h.src_port, 0), NULL);
	CHECK(read_wait(fd, buf, sizeof(buf), 1000) > 0);
	h = rx_next(buf, sizeof(buf));
	CHECK_EQ_U(h.op, VSOCK_OP_RW);
	CHECK_EQ_U(h.len, 5);
	CHECK(memcmp(buf, "early", 5) == 0);
	close(fd);
	teardown();
}

static void test_connect_line_timeout(void)
{
	uint8_t b[8];
	int fd;

	setup();
	fd = unix_connect(T.path);
	pump(5);
	CHECK_EQ_U(T.d->nconns, 1);
	CHECK(T.d->all.head && T.d->all.head->deadline_ms);
	T.d->all.head->deadline_ms = 1;   /* as if VSOCK_LINE_TIMEOUT_MS had passed */
	vsock_on_timer(T.d, EPOLLIN);
	CHECK_EQ_I(read_wait(fd, b, sizeof(b), 1000), 0);
	CHECK_EQ_U(T.d->nconns, 0);
	close(fd);
	teardown();
}

/* A host program that hangs up before the guest answers its REQUEST is dropped, fd and all. */
static void test_host_gives_up_before_response(void)
{
	struct vsock_hdr h;
	int fd;

	setup();
	/* No rx buffers: the REQUEST cannot even be sent yet. */
	fd = unix_connect(T.path);
	CHECK(write(fd, "CONNECT 99\n", 11) == 11);
	pump(5);
	CHECK_EQ_U(T.d->nconns, 1);
	CHECK(T.d->all.head && T.d->all.head->state == VSOCK_ST_LOCAL_INIT);
	close(fd);
	pump(5);
	CHECK_EQ_U(T.d->nconns, 0);
	/* Once the REQUEST is out, the guest hears an RST instead. */
	rx_post_all(RXBUF_SIZE);
	fd = unix_connect(T.path);
	CHECK(write(fd, "CONNECT 98\n", 11) == 11);
	h = rx_next(NULL, 0);
	CHECK_EQ_U(h.op, VSOCK_OP_REQUEST);
	close(fd);
	h = rx_next(NULL, 0);
	CHECK_EQ_U(h.op, VSOCK_OP_RST);
	CHECK_EQ_U(h.dst_port, 98);
	CHECK_EQ_U(T.d->nconns, 0);
	teardown();
}

static void test_guest_initiated(void)
{
	char p[160];
	uint8_t buf[64];
	struct vsock_hdr h;
	int l, s;

	setup();
	rx_post_all(RXBUF_SIZE);
	snprintf(p, sizeof(p), "%s_5000", T.path);
	l = unix_listen_at(p);
	tx(mkhdr(VSOCK_OP_REQUEST, 1025, 5000, 0), NULL);
	h = rx_next(NULL, 0);
	CHECK_EQ_U(h.op, VSOCK_OP_RESPONSE);
	CHECK_EQ_U(h.src_port, 5000);
	CHECK_EQ_U(h.dst_port, 1025);
	s = accept(l, NULL, NULL);
	CHECK(s >= 0);
	CHECK(write(s, "ping", 4) == 4);
	h = rx_next(buf, sizeof(buf));
	CHECK_EQ_U(h.op, VSOCK_OP_RW);
	CHECK(h.len == 4 && memcmp(buf, "ping", 4) == 0);
	tx(mkhdr(VSOCK_OP_RW, 1025, 5000, 4), "pong");
	CHECK_EQ_I(read_wait(s, buf, sizeof(buf), 1000), 4);
	/* The host program closes entirely: SHUTDOWN with both flags, the guest answers RST. */
	close(s);
	h = rx_next(NULL, 0);
	CHECK_EQ_U(h.op, VSOCK_OP_SHUTDOWN);
	if (h.flags != VSOCK_SHUTDOWN_BOTH) {
		/* EOF may be seen before the hangup: then a second SHUTDOWN adds RCV. */
		CHECK_EQ_U(h.flags, VSOCK_SHUTDOWN_SEND);
		h = rx_next(NULL, 0);
		CHECK_EQ_U(h.op, VSOCK_OP_SHUTDOWN);
		CHECK_EQ_U(h.flags, VSOCK_SHUTDOWN_BOTH);
	}
	tx(mkhdr(VSOCK_OP_RST, 1025, 5000, 0), NULL);
	pump(5);
	CHECK_EQ_U(T.d->nconns, 0);
	close(l);
	teardown();
}

static void test_guest_connect_refused(void)
{
	struct vsock_hdr h;

	setup();
	rx_post_all(RXBUF_SIZE);
	tx(mkhdr(VSOCK_OP_REQUEST, 1025, 6000, 0), NULL);
	h = rx_next(NULL, 0);
	CHECK_EQ_U(h.op, VSOCK_OP_RST);
	CHECK_EQ_U(h.src_port, 6000);
	CHECK_EQ_U(h.dst_port, 1025);
	CHECK_EQ_U(T.d->nconns, 0);
	teardown();
}

/* Stray and malformed packets: dropped or answered with RST; the device keeps working. */
static void test_evil_packets(void)
{
	struct vsock_hdr h;
	char p[160];
	int l;

	setup();
	rx_post_all(RXBUF_SIZE);
	snprintf(p, sizeof(p), "%s_7000", T.path);
	l = unix_listen_at(p);
	/* Short header: dropped. */
	h = mkhdr(VSOCK_OP_REQUEST, 1, 7000, 0);
	tx_raw(&h, 40, NULL, 0);
	/* len beyond the buffer: dropped. */
	h = mkhdr(VSOCK_OP_REQUEST, 2, 7000, 4096);
	tx_raw(&h, sizeof(h), "xx", 2);
	/* Wrong CIDs: dropped. */
	h = mkhdr(VSOCK_OP_REQUEST, 3, 7000, 0);
	h.src_cid = 9;
	tx(h, NULL);
	h = mkhdr(VSOCK_OP_REQUEST, 4, 7000, 0);
	h.dst_cid = 7;
	tx(h, NULL);
	pump(5);
	CHECK(!rx_take(&h, NULL, 0, NULL));
	CHECK_EQ_U(T.d->nconns, 0);
	/* Unknown op, RW without a connection, a seqpacket REQUEST: RST each. */
	tx(mkhdr(99, 5, 7000, 0), NULL);
	tx(mkhdr(VSOCK_OP_RW, 6, 7000, 3), "abc");
	h = mkhdr(VSOCK_OP_REQUEST, 7, 7000, 0);
	h.type = VSOCK_TYPE_SEQPACKET;
	tx(h, NULL);
	for (uint32_t port = 5; port <= 7; port++) {
		h = rx_next(NULL, 0);
		CHECK_EQ_U(h.op, VSOCK_OP_RST);
		CHECK_EQ_U(h.dst_port, port);
	}
	/* An RST for nothing is not answered. */
	tx(mkhdr(VSOCK_OP_RST, 8, 7000, 0), NULL);
	pump(5);
	CHECK(!rx_take(&h, NULL, 0, NULL));
	/* Unknown op on an open connection: RST, connection gone. */
	tx(mkhdr(VSOCK_OP_REQUEST, 9, 7000, 0), NULL);
	h = rx_next(NULL, 0);
	CHECK_EQ_U(h.op, VSOCK_OP_RESPONSE);
	CHECK_EQ_U(T.d->nconns, 1);
	tx(mkhdr(42, 9, 7000, 0), NULL);
	h = rx_next(NULL, 0);
	CHECK_EQ_U(h.op, VSOCK_OP_RST);
	CHECK_EQ_U(T.d->nconns, 0);
	/* Still fine afterwards. */
	tx(mkhdr(VSOCK_OP_REQUEST, 10, 7000, 0), NULL);
	h = rx_next(NULL, 0);
	CHECK_EQ_U(h.op, VSOCK_OP_RESPONSE);
	CHECK(!(T.d->t.status & VIRTIO_STATUS_NEEDS_RESET));
	close(l);
	teardown();
}

/* Host -> guest never exceeds the guest's credit; CREDIT_REQUEST when it runs out. */
static void test_credit_to_guest(void)
{
	static uint8_t data[3000], got[3000];
	struct vsock_hdr h, r;
	uint32_t hp, total = 0;
	int fd;

	setup();
	rx_post_all(RXBUF_SIZE);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	fd = host_connect(55, &hp, false);
	r = mkhdr(VSOCK_OP_RESPONSE, 55, hp, 0);
	r.buf_alloc = 1000;
	tx(r, NULL);
	pump(5);
	CHECK(write(fd, data, sizeof(data)) == (ssize_t)sizeof(data));
	for (;;) {
		h = rx_next(got + total, sizeof(got) - total);
		if (h.op != VSOCK_OP_RW)
			break;
		total += h.len;
	}
	CHECK_EQ_U(total, 1000);
	CHECK_EQ_U(h.op, VSOCK_OP_CREDIT_REQUEST);
	/* The guest consumed it all: 1000 more may come. */
	T.fwd_cnt = 1000;
	r = mkhdr(VSOCK_OP_CREDIT_UPDATE, 55, hp, 0);
	r.buf_alloc = 1000;
	tx(r, NULL);
	for (;;) {
		h = rx_next(got + total, sizeof(got) - total);
		if (h.op != VSOCK_OP_RW)
			break;
		total += h.len;
	}
	CHECK_EQ_U(total, 2000);
	CHECK(memcmp(got, data, 2000) == 0);
	close(fd);
	teardown();
}

/* A host program that does not read: guest data is held up to buf_alloc, beyond that RST. */
static void test_credit_violation(void)
{
	static uint8_t blob[65536];
	struct vsock_hdr h;
	uint32_t hp, sent = 0;
	int fd, small = 4096;

	setup();
	rx_post_all(RXBUF_SIZE);
	fd = host_connect(66, &hp, true);
	setsockopt(T.d->all.head->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	for (int i = 0; i < 16 && T.d->nconns; i++) {
		tx(mkhdr(VSOCK_OP_RW, 66, hp, sizeof(blob)), blob);
		sent += sizeof(blob);
		if (T.d->nconns)
			CHECK(T.d->all.head->tx.len <= VSOCK_BUF_ALLOC);
	}
	CHECK(sent > VSOCK_BUF_ALLOC);
	CHECK_EQ_U(T.d->nconns, 0);
	do
		h = rx_next(NULL, 0);
	while (h.op == VSOCK_OP_CREDIT_UPDATE);
	CHECK_EQ_U(h.op, VSOCK_OP_RST);
	close(fd);
	teardown();
}

/* No rx buffers: a readable host socket waits without spinning; buffers make the data flow. */
static void test_rx_starvation(void)
{
	uint8_t buf[64];
	struct vsock_hdr h;
	char p[160];
	int l, s;

	setup();
	rx_post(0, RXBUF_SIZE);
	notify(VSOCK_RXQ);
	snprintf(p, sizeof(p), "%s_5001", T.path);
	l = unix_listen_at(p);
	tx(mkhdr(VSOCK_OP_REQUEST, 1030, 5001, 0), NULL);
	s = accept(l, NULL, NULL);
	CHECK(write(s, "data", 4) == 4);
	pump(10);
	/* The one buffer took the RESPONSE; the data waits, its socket not watched for input. */
	CHECK(T.d->wait.head != NULL);
	CHECK(!(T.d->all.head->watch & EPOLLIN));
	h = rx_next(NULL, 0);
	CHECK_EQ_U(h.op, VSOCK_OP_RESPONSE);
	h = rx_next(buf, sizeof(buf));
	CHECK_EQ_U(h.op, VSOCK_OP_RW);
	CHECK(h.len == 4 && memcmp(buf, "data", 4) == 0);
	CHECK(T.d->wait.head == NULL);
	close(s);
	close(l);
	teardown();
}

/* A driver reset drops every connection; their host sockets see EOF. */
static void test_reset_purges(void)
{
	uint8_t b[8];
	uint32_t hp;
	int fd;

	setup();
	rx_post_all(RXBUF_SIZE);
	fd = host_connect(88, &hp, true);
	pthread_mutex_lock(&T.d->t.lock);
	vsock_reset(&T.d->t);
	pthread_mutex_unlock(&T.d->t.lock);
	pump(5);
	CHECK_EQ_U(T.d->nconns, 0);
	CHECK_EQ_I(read_wait(fd, b, sizeof(b), 1000), 0);
	close(fd);
	teardown();
}

/* ---- the event queue: TRANSPORT_RESET (5.10.6.7) ---- */

#define EVBUF(i) (0xe00000u + (uint64_t)(i) * 0x100u)

/* Post event buffer @i: one device-writable descriptor of @len bytes, filled with 0xa5. */
static void ev_post(uint16_t i, uint32_t len)
{
	memset(T.ram + EVBUF(i), 0xa5, 16);
	drv_desc(2, i, EVBUF(i), len, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(2, i);
}

/* Used event buffers so far (the used ring's index). */
static uint16_t ev_used_idx(void)
{
	return get16(qgpa[2] + 0x4000 + 2);
}

/* Used element @n of the event queue. */
static void ev_used(unsigned n, uint32_t *id, uint32_t *len)
{
	*id = get32(qgpa[2] + 0x4000 + 4 + 8u * (n % QSZ));
	*len = get32(qgpa[2] + 0x4000 + 8 + 8u * (n % QSZ));
}

/* Interrupts raised since the last call (the irqfd's counter). */
static uint64_t irqs(void)
{
	uint64_t v = 0;

	if (read(T.d->t.irq_fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* A host-initiated and a guest-initiated connection; their host ends in fds[0..1], the listener in fds[2]. */
static void two_conns(int fds[3])
{
	uint32_t hp;
	int s;

	fds[0] = host_connect(88, &hp, true);
	CHECK(guest_connect(5030, 2030, 65536, &fds[2], &s) != NULL);
	fds[1] = s;
	CHECK(fds[0] >= 0 && fds[1] >= 0);
	CHECK_EQ_U(T.d->nconns, 2);
}

static void close_all(int fds[3])
{
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

/* The event goes out; connections go without a word on the rx queue; the listener stays. */
static void test_transport_reset_event(void)
{
	uint8_t b[8], zero[4] = { 0 }, poison[4] = { 0xa5, 0xa5, 0xa5, 0xa5 };
	struct vsock_hdr h;
	uint32_t id, len, hp;
	int fds[3], fd;

	setup();
	rx_post_all(RXBUF_SIZE);
	two_conns(fds);
	ev_post(0, 8);
	notify(VSOCK_EVQ);
	CHECK_EQ_U(ev_used_idx(), 0);   /* a notification alone sends nothing */
	(void)irqs();
	CHECK_EQ_I(vsock_transport_reset(T.d), 0);
	CHECK_EQ_U(ev_used_idx(), 1);
	ev_used(0, &id, &len);
	CHECK_EQ_U(id, 0);
	CHECK_EQ_U(len, 4);
	CHECK(memcmp(T.ram + EVBUF(0), zero, 4) == 0);        /* id 0: TRANSPORT_RESET */
	CHECK(memcmp(T.ram + EVBUF(0) + 4, poison, 4) == 0);  /* nothing past the event */
	CHECK(irqs() >= 1);
	CHECK(T.d->t.interrupt_status & VIRTIO_INT_VRING);
	CHECK_EQ_U(T.d->nconns, 0);
	CHECK(T.d->all.head == NULL && T.d->ctrl.head == NULL && T.d->wait.head == NULL);
	CHECK_EQ_I(read_wait(fds[0], b, sizeof(b), 1000), 0);
	CHECK_EQ_I(read_wait(fds[1], b, sizeof(b), 1000), 0);
	/* No RST for the purged connections: the event said it all. */
	pump(5);
	notify(VSOCK_RXQ);
	CHECK(!rx_take(&h, NULL, 0, NULL));
	CHECK(!(T.d->t.status & VIRTIO_STATUS_NEEDS_RESET));
	/* The listener still takes host programs. */
	fd = host_connect(89, &hp, true);
	CHECK(fd >= 0);
	CHECK_EQ_U(T.d->nconns, 1);
	close(fd);
	close_all(fds);
	teardown();
}

/* No event buffer: -ENOSPC, connections purged all the same, no interrupt. */
static void test_transport_reset_no_buffer(void)
{
	uint8_t b[8];
	int fds[3];

	setup();
	rx_post_all(RXBUF_SIZE);
	two_conns(fds);
	(void)irqs();
	CHECK_EQ_I(vsock_transport_reset(T.d), -ENOSPC);
	CHECK_EQ_U(ev_used_idx(), 0);
	CHECK_EQ_U(irqs(), 0);
	CHECK_EQ_U(T.d->nconns, 0);
	CHECK_EQ_I(read_wait(fds[0], b, sizeof(b), 1000), 0);
	CHECK_EQ_I(read_wait(fds[1], b, sizeof(b), 1000), 0);
	/* An event queue the driver never set up: the same. */
	T.d->t.q[VSOCK_EVQ].ready = false;
	CHECK_EQ_I(vsock_transport_reset(T.d), -ENOSPC);
	T.d->t.q[VSOCK_EVQ].ready = true;
	close_all(fds);
	teardown();
}

/* A device the driver has not brought up: -EINVAL, nothing touched. */
static void test_transport_reset_inactive(void)
{
	uint8_t b[8];
	int fds[3];

	setup();
	rx_post_all(RXBUF_SIZE);
	two_conns(fds);
	ev_post(0, 8);
	(void)irqs();
	T.d->t.active = 0;
	CHECK_EQ_I(vsock_transport_reset(T.d), -EINVAL);
	T.d->t.active = 1;
	CHECK_EQ_U(ev_used_idx(), 0);
	CHECK_EQ_U(irqs(), 0);
	CHECK_EQ_U(T.d->nconns, 2);
	CHECK_EQ_I(read_wait(fds[0], b, sizeof(b), 50), -1);
	CHECK_EQ_I(read_wait(fds[1], b, sizeof(b), 50), -1);
	/* The connections still carry data. */
	CHECK(write(fds[1], "x", 1) == 1);
	{
		struct vsock_hdr h = rx_next(b, sizeof(b));

		CHECK_EQ_U(h.op, VSOCK_OP_RW);
		CHECK_EQ_U(h.dst_port, 2030);
	}
	close_all(fds);
	teardown();
}

/* An event buffer shorter than the event goes back empty (counted); the next one takes it. */
static void test_transport_reset_short_buffer(void)
{
	uint8_t poison[4] = { 0xa5, 0xa5, 0xa5, 0xa5 }, zero[4] = { 0 };
	uint64_t fails = metric_get(M_vsock_ev_queue_event_fails);
	uint32_t id, len;

	setup();
	ev_post(0, 3);
	CHECK_EQ_I(vsock_transport_reset(T.d), -ENOSPC);
	CHECK_EQ_U(ev_used_idx(), 1);
	ev_used(0, &id, &len);
	CHECK_EQ_U(id, 0);
	CHECK_EQ_U(len, 0);
	CHECK(memcmp(T.ram + EVBUF(0), poison, 4) == 0);
	CHECK_EQ_U(metric_get(M_vsock_ev_queue_event_fails) - fails, 1);
	CHECK(!(T.d->t.status & VIRTIO_STATUS_NEEDS_RESET));
	/* A short buffer, then one that fits. */
	ev_post(1, 2);
	ev_post(2, 4);
	CHECK_EQ_I(vsock_transport_reset(T.d), 0);
	CHECK_EQ_U(ev_used_idx(), 3);
	ev_used(1, &id, &len);
	CHECK(id == 1 && len == 0);
	ev_used(2, &id, &len);
	CHECK(id == 2 && len == 4);
	CHECK(memcmp(T.ram + EVBUF(2), zero, 4) == 0);
	CHECK_EQ_U(metric_get(M_vsock_ev_queue_event_fails) - fails, 2);
	teardown();
}

/* At most VSOCK_MAX_CONNS connections: the next host program is closed at once. */
static void test_connection_limit(void)
{
	static int fds[VSOCK_MAX_CONNS + 1];
	uint8_t b[8];
	int n = 0;

	setup();
	for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
		fds[i] = unix_connect(T.path);
		if (i % 32 == 31)
			pump(1);
	}
	pump(5);
	CHECK_EQ_U(T.d->nconns, VSOCK_MAX_CONNS);
	fds[VSOCK_MAX_CONNS] = unix_connect(T.path);
	CHECK_EQ_I(read_wait(fds[VSOCK_MAX_CONNS], b, sizeof(b), 1000), 0);
	for (int i = 0; i <= VSOCK_MAX_CONNS; i++)
		if (fds[i] >= 0 && close(fds[i]) == 0)
			n++;
	CHECK_EQ_I(n, VSOCK_MAX_CONNS + 1);
	pump(20);
	CHECK_EQ_U(T.d->nconns, 0);
	teardown();
}

int main(void)
{
	RUN(test_config_space);
	RUN(test_host_initiated);
	RUN(test_host_connect_refused_by_guest);
	RUN(test_bad_connect_lines);
	RUN(test_connect_line_in_pieces_then_data);
	RUN(test_connect_line_timeout);
	RUN(test_host_gives_up_before_response);
	RUN(test_guest_initiated);
	RUN(test_guest_connect_refused);
	RUN(test_evil_packets);
	RUN(test_credit_to_guest);
	RUN(test_credit_violation);
	RUN(test_rx_starvation);
	RUN(test_slow_host_reader_isolated);
	RUN(test_slow_guest_reader_isolated);
	RUN(test_reset_purges);
	RUN(test_transport_reset_event);
	RUN(test_transport_reset_no_buffer);
	RUN(test_transport_reset_inactive);
	RUN(test_transport_reset_short_buffer);
	RUN(test_connection_limit);
	return check_summary();
}
