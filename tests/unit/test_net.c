/* test_net.c: virtio-net device tests: header validation, and the device driven through its MMIO registers with a socket pair as the tap. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "check.h"
#include "devices/virtio/net.h"
#include "metrics.h"

/* ---- vnet_tx_hdr_ok (pure) ---- */

static void hdr(uint8_t h[12], uint8_t flags, uint8_t gso, uint16_t gso_size, uint16_t cs,
		uint16_t co)
{
	memset(h, 0, 12);
	h[0] = flags;
	h[1] = gso;
	h[4] = (uint8_t)gso_size;
	h[5] = (uint8_t)(gso_size >> 8);
	h[6] = (uint8_t)cs;
	h[7] = (uint8_t)(cs >> 8);
	h[8] = (uint8_t)co;
	h[9] = (uint8_t)(co >> 8);
}

#define F(b) (1ULL << (b))

static void test_tx_hdr(void)
{
	uint8_t h[12];
	uint64_t all = F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
		       F(VIRTIO_NET_F_HOST_UFO);

	hdr(h, 0, 0, 0, 0, 0);
	CHECK(vnet_tx_hdr_ok(0, h, 60, 0));
	/* GSO only with its HOST_* feature and a gso_size. */
	hdr(h, 0, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 0, 0);
	CHECK(!vnet_tx_hdr_ok(0, h, 9000, 0));
	CHECK(vnet_tx_hdr_ok(all, h, 9000, 0));
	hdr(h, 0, VIRTIO_NET_HDR_GSO_TCPV4, 0, 0, 0);
	CHECK(!vnet_tx_hdr_ok(all, h, 9000, 0));
	hdr(h, 0, VIRTIO_NET_HDR_GSO_TCPV6, 1448, 0, 0);
	CHECK(!vnet_tx_hdr_ok(F(VIRTIO_NET_F_HOST_TSO4), h, 9000, 0));
	hdr(h, 0, VIRTIO_NET_HDR_GSO_UDP, 1400, 0, 0);
	CHECK(vnet_tx_hdr_ok(all, h, 9000, 0));
	/* Unknown types, ECN (HOST_ECN never offered), garbage. */
	hdr(h, 0, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 1448, 0, 0);
	CHECK(!vnet_tx_hdr_ok(all, h, 9000, 0));
	hdr(h, 0, 5, 1448, 0, 0);
	CHECK(!vnet_tx_hdr_ok(all, h, 9000, 0));
	hdr(h, 0, 0x33, 100, 0, 0);
	CHECK(!vnet_tx_hdr_ok(all, h, 9000, 0));
	/* NEEDS_CSUM: with CSUM, and the checksum field inside the frame. */
	hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 34, 6);
	CHECK(!vnet_tx_hdr_ok(0, h, 60, 0));
	CHECK(vnet_tx_hdr_ok(all, h, 60, 0));
	CHECK(vnet_tx_hdr_ok(all, h, 42, 0));
	CHECK(!vnet_tx_hdr_ok(all, h, 41, 0));
	hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0xffff, 0xffff);
	CHECK(!vnet_tx_hdr_ok(all, h, 65550, 0));
	/* MTU: only when negotiated, only without GSO, VLAN tag allowed. */
	hdr(h, 0, 0, 0, 0, 0);
	CHECK(vnet_tx_hdr_ok(F(VIRTIO_NET_F_MTU), h, 1400 + 18, 1400));
	CHECK(!vnet_tx_hdr_ok(F(VIRTIO_NET_F_MTU), h, 1400 + 19, 1400));
	CHECK(vnet_tx_hdr_ok(0, h, 1400 + 19, 1400));
	hdr(h, 0, VIRTIO_NET_HDR_GSO_TCPV4, 1348, 0, 0);
	CHECK(vnet_tx_hdr_ok(all | F(VIRTIO_NET_F_MTU), h, 9000, 1400));
}

/* ---- the device, driven through its registers ---- */

#define RAM_SIZE   (16u << 20)
#define BASE       0xd0000000ULL
#define QSIZE      16
#define RXQ_GPA    0x10000ULL      /* desc; avail at +0x1000, used at +0x2000 */
#define TXQ_GPA    0x20000ULL
#define BUF_GPA    0x100000ULL     /* receive buffers */
#define TXBUF_GPA  0x400000ULL

struct tq {
	gpa_t gpa;
	uint16_t next_desc, avail_idx, used_seen;
};

static struct {
	bool ok;                 /* KVM available */
	struct kvm_vm vm;
	struct guest_mem mem;
	struct evloop loop;
	struct vnet n;
	int peer;                /* the host end of the "tap" */
	struct tq rx, tx;
	unsigned ndev;
	unsigned mtu;            /* "mtu" of the next dev_up() */           /* devices made: each gets its own base (ioeventfds outlive their fds) */
} D;

static void reg_write(uint32_t off, uint32_t v)
{
	virtio_mmio_bus_ops.write(&D.n.t, off, (const uint8_t *)&v, 4);
}

static uint32_t reg_read(uint32_t off)
{
	uint32_t v;

	virtio_mmio_bus_ops.read(&D.n.t, off, (uint8_t *)&v, 4);
	return v;
}

static uint8_t *ram(gpa_t gpa)
{
	return gmem_ptr(&D.mem, gpa, 1);
}

/* Dispatch what the event loop would, until nothing is ready; returns the events handled. */
static unsigned pump(void)
{
	struct epoll_event ev[16];
	unsigned total = 0;

	for (int round = 0; round < 50; round++) {
		int k = epoll_wait(D.loop.epfd, ev, 16, 10);

		if (k <= 0)
			break;
		for (int i = 0; i < k; i++) {
			struct evloop_handler *h = &D.loop.h[ev[i].data.u32];

			if (h->used)
				h->fn(h->opaque, ev[i].events);
		}
		total += (unsigned)k;
	}
	return total;
}

static void tq_setup(unsigned idx, struct tq *q, gpa_t gpa)
{
	memset(q, 0, sizeof(*q));
	q->gpa = gpa;
	memset(ram(gpa), 0, 0x3000);
	reg_write(0x030, idx);
	reg_write(0x038, QSIZE);
	reg_write(0x080, (uint32_t)gpa);
	reg_write(0x084, 0);
	reg_write(0x090, (uint32_t)(gpa + 0x1000));
	reg_write(0x094, 0);
	reg_write(0x0a0, (uint32_t)(gpa + 0x2000));
	reg_write(0x0a4, 0);
	reg_write(0x044, 1);
}

/* Put a chain of @n buffers on @q (write: device-writable) and make it available. */
static uint16_t tq_add(struct tq *q, const gpa_t *addr, const uint32_t *len, unsigned n, bool write)
{
	uint16_t head = q->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((head + i) % QSIZE);
		struct virtq_desc desc = { addr[i], len[i],
					   (uint16_t)((write ? VIRTQ_DESC_F_WRITE : 0) |
						      (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
					   (uint16_t)((d + 1) % QSIZE) };

		memcpy(ram(q->gpa + 16u * d), &desc, sizeof(desc));
	}
	q->next_desc = (uint16_t)((head + n) % QSIZE);
	memcpy(ram(q->gpa + 0x1000 + 4 + 2u * (q->avail_idx % QSIZE)), &head, 2);
	q->avail_idx++;
	__atomic_store_n((uint16_t *)ram(q->gpa + 0x1000 + 2), q->avail_idx, __ATOMIC_RELEASE);
	return head;
}

/* The next used element: 1 with id/len, 0 if none. */
static int tq_used(struct tq *q, uint32_t *id, uint32_t *len)
{
	uint16_t idx = __atomic_load_n((uint16_t *)ram(q->gpa + 0x2000 + 2), __ATOMIC_ACQUIRE);
	struct virtq_used_elem e;

	if (idx == q->used_seen)
		return 0;
	memcpy(&e, ram(q->gpa + 0x2000 + 4 + 8u * (q->used_seen % QSIZE)), sizeof(e));
	q->used_seen++;
	*id = e.id;
	*len = e.len;
	return 1;
}

static void dev_down(void)
{
	vnet_destroy(&D.n);
	if (D.peer >= 0)
		close(D.peer);
	D.peer = -1;
	evloop_destroy(&D.loop);
}

/* A device on a fresh socket pair, driver features @feat, both queues ready, DRIVER_OK. */
static bool dev_up(uint64_t feat, bool mac)
{
	struct net_cfg cfg;
	int sv[2];

	if (!D.ok)
		return false;
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.iface_id, "eth0");
	strcpy(cfg.host_dev_name, "test");
	cfg.has_guest_mac = mac;
	cfg.mtu = D.mtu;
	memcpy(cfg.guest_mac, "\x06\x00\xac\x10\x00\x02", 6);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0 ||
	    evloop_init(&D.loop) < 0)
		return false;
	D.peer = sv[1];
	if (vnet_init(&D.n, &cfg, sv[0], &D.vm, &D.mem, &D.loop, BASE + 0x1000ULL * D.ndev++, 7) < 0)
		return false;
	reg_write(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	reg_write(0x024, 0);
	reg_write(0x020, (uint32_t)feat);
	reg_write(0x024, 1);
	reg_write(0x020, (uint32_t)(feat >> 32));
	reg_write(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	tq_setup(VNET_RXQ, &D.rx, RXQ_GPA);
	tq_setup(VNET_TXQ, &D.tx, TXQ_GPA);
	reg_write(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	pump();
	return (reg_read(0x070) & VIRTIO_STATUS_DRIVER_OK) && D.n.t.active;
}

#define V1 F(VIRTIO_F_VERSION_1)

static void test_config_space(void)
{
	uint8_t cfg[12];
	uint32_t f0, f1;

	if (!dev_up(V1, true)) {
		CHECK(D.ok);
		dev_down();
		return;
	}
	reg_write(0x014, 0);
	f0 = reg_read(0x010);
	reg_write(0x014, 1);
	f1 = reg_read(0x010);
	CHECK(f0 & (1u << VIRTIO_NET_F_MAC));
	CHECK(f0 & (1u << VIRTIO_NET_F_STATUS));
	CHECK(f0 & (1u << VIRTIO_NET_F_MRG_RXBUF));
	CHECK(!(f0 & (1u << VIRTIO_NET_F_MTU)));
	/* A socket takes no TUNSETOFFLOAD: no offloads offered. */
	CHECK(!(f0 & (1u << VIRTIO_NET_F_CSUM)));
	CHECK(f1 & 1);   /* VERSION_1 */
	for (unsigned i = 0; i < sizeof(cfg); i++)
		virtio_mmio_bus_ops.read(&D.n.t, 0x100 + i, cfg + i, 1);
	CHECK(memcmp(cfg, "\x06\x00\xac\x10\x00\x02", 6) == 0);
	CHECK_EQ_U(cfg[6] | cfg[7] << 8, VIRTIO_NET_S_LINK_UP);
	CHECK_EQ_U(cfg[8] | cfg[9] << 8, 1);
	dev_down();
}

/* A frame in three segments reaches the tap as one message, header first; the buffer comes back. */
static void test_tx_good(void)
{
	uint8_t frame[12 + 100], got[256];
	gpa_t a[3] = { TXBUF_GPA, TXBUF_GPA + 12, TXBUF_GPA + 50 };
	uint32_t l[3] = { 12, 38, 62 }, id, len;
	uint64_t pk = metric_get(M_net_tx_packets_count);
	ssize_t r;

	if (!dev_up(V1, true)) {
		CHECK(D.ok);
		dev_down();
		return;
	}
	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 7);
	memset(frame, 0, 12);
	memcpy(frame + 12 + 6, "\x06\x00\xac\x10\x00\x02", 6);
	memcpy(ram(TXBUF_GPA), frame, sizeof(frame));
	tq_add(&D.tx, a, l, 3, false);
	reg_write(0x050, VNET_TXQ);
	r = recv(D.peer, got, sizeof(got), 0);
	CHECK_EQ_I(r, (ssize_t)sizeof(frame));
	CHECK(r == (ssize_t)sizeof(frame) && memcmp(got, frame, sizeof(frame)) == 0);
	CHECK(tq_used(&D.tx, &id, &len) == 1 && id == 0 && len == 0);
	CHECK_EQ_U(metric_get(M_net_tx_packets_count) - pk, 1);
	dev_down();
}

/* Malformed chains: nothing reaches the tap, every buffer comes back, each is counted. */
static void test_tx_malformed(void)
{
	uint64_t bad0 = metric_get(M_net_tx_malformed_frames);
	uint8_t h[12], buf[64];
	uint32_t id, len, used = 0;
	gpa_t a[2];
	uint32_t l[2];

	if (!dev_up(V1, true)) {
		CHECK(D.ok);
		dev_down();
		return;
	}
	memset(ram(TXBUF_GPA), 0, 0x20000);
	a[0] = TXBUF_GPA;
	l[0] = 64;
	tq_add(&D.tx, a, l, 1, true);                 /* device-writable only */
	l[0] = 12;
	tq_add(&D.tx, a, l, 1, false);                /* header only */
	l[0] = 20;
	tq_add(&D.tx, a, l, 1, false);                /* shorter than an Ethernet header */
	a[1] = TXBUF_GPA + 0x1000;
	l[0] = 12;
	l[1] = VNET_MAX_FRAME + 1;
	tq_add(&D.tx, a, l, 2, false);                /* one byte too long */
	hdr(h, 0, 0x33, 100, 0, 0);
	memcpy(ram(TXBUF_GPA + 0x30000), h, 12);
	a[0] = TXBUF_GPA + 0x30000;
	l[0] = 100;
	tq_add(&D.tx, a, l, 1, false);                /* bogus gso_type */
	hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 20, 6);
	memcpy(ram(TXBUF_GPA + 0x31000), h, 12);
	a[0] = TXBUF_GPA + 0x31000;
	tq_add(&D.tx, a, l, 1, false);                /* NEEDS_CSUM without VIRTIO_NET_F_CSUM */
	reg_write(0x050, VNET_TXQ);
	CHECK(recv(D.peer, buf, sizeof(buf), 0) < 0 && errno == EAGAIN);
	while (tq_used(&D.tx, &id, &len) == 1)
		used += len == 0;
	CHECK_EQ_U(used, 6);
	CHECK_EQ_U(metric_get(M_net_tx_malformed_frames) - bad0, 6);
	CHECK(!(reg_read(0x070) & VIRTIO_STATUS_NEEDS_RESET));
	/* Then a buffer outside RAM breaks the queue: DEVICE_NEEDS_RESET. */
	a[0] = 0xffffffff0000ULL;
	l[0] = 64;
	tq_add(&D.tx, a, l, 1, false);
	reg_write(0x050, VNET_TXQ);
	CHECK(reg_read(0x070) & VIRTIO_STATUS_NEEDS_RESET);
	dev_down();
}

/* Post @n receive buffers of @size bytes each (one descriptor per chain). */
static void post_rx(unsigned n, uint32_t size, gpa_t at)
{
	for (unsigned i = 0; i < n; i++) {
		gpa_t a = at + (gpa_t)i * 0x10000;

		tq_add(&D.rx, &a, &size, 1, true);
	}
}

/* Send a frame of @len bytes after a header with flags @flags from the host end. */
static void host_send(uint32_t len, uint8_t flags, uint8_t seed)
{
	uint8_t f[12 + 2000];

	memset(f, 0, 12);
	f[0] = flags;
	for (uint32_t i = 0; i < len; i++)
		f[12 + i] = (uint8_t)(seed + i);
	CHECK(send(D.peer, f, 12 + len, 0) == (ssize_t)(12 + len));
}

static bool frame_ok(const uint8_t *p, uint32_t len, uint8_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seed + i))
			return false;
	return true;
}

static uint16_t num_buffers(gpa_t buf)
{
	return (uint16_t)(ram(buf)[10] | ram(buf)[11] << 8);
}

/* Without MRG_RXBUF: one chain per frame, num_buffers 1, flags cleared without GUEST_CSUM. */
static void test_rx_plain(void)
{
	uint32_t id, len;

	if (!dev_up(V1, false)) {
		CHECK(D.ok);
		dev_down();
		return;
	}
	post_rx(2, 2048, BUF_GPA);
	reg_write(0x050, VNET_RXQ);
	memset(ram(BUF_GPA), 0xee, 12);
	host_send(1514, 2 /* DATA_VALID */, 3);
	pump();
	CHECK(tq_used(&D.rx, &id, &len) == 1 && id == 0 && len == 12 + 1514);
	CHECK_EQ_U(num_buffers(BUF_GPA), 1);
	CHECK_EQ_U(ram(BUF_GPA)[0], 0);
	CHECK(frame_ok(ram(BUF_GPA + 12), 1514, 3));
	host_send(60, 0, 9);
	pump();
	CHECK(tq_used(&D.rx, &id, &len) == 1 && id == 1 && len == 72);
	CHECK(frame_ok(ram(BUF_GPA + 0x10000 + 12), 60, 9));
	dev_down();
}

/* Without MRG_RXBUF a frame longer than the buffer is dropped whole, never passed on cut short. */
static void test_rx_too_big(void)
{
	uint32_t id, len;
	uint64_t fails;

	if (!dev_up(V1, false)) {
		CHECK(D.ok);
		dev_down();
		return;
	}
	post_rx(1, 1000, BUF_GPA);
	reg_write(0x050, VNET_RXQ);
	fails = metric_get(M_net_rx_fails);
	host_send(1500, 0, 1);
	host_send(988, 0, 2);
	pump();
	CHECK_EQ_U(metric_get(M_net_rx_fails) - fails, 1);
	CHECK(tq_used(&D.rx, &id, &len) == 1 && id == 0 && len == 1000);
	CHECK(frame_ok(ram(BUF_GPA + 12), 988, 2));
	CHECK(tq_used(&D.rx, &id, &len) == 0);
	dev_down();
}

/* With MRG_RXBUF and 512-byte buffers a 1500-byte frame takes three, each but the last full. */
static void test_rx_merged(void)
{
	uint32_t id[3], len[3];
	uint8_t whole[1600];

	if (!dev_up(V1 | F(VIRTIO_NET_F_MRG_RXBUF), false)) {
		CHECK(D.ok);
		dev_down();
		return;
	}
	post_rx(8, 512, BUF_GPA);
	reg_write(0x050, VNET_RXQ);
	host_send(1500, 0, 5);
	pump();
	for (unsigned i = 0; i < 3; i++)
		CHECK(tq_used(&D.rx, &id[i], &len[i]) == 1 && id[i] == i);
	CHECK(len[0] == 512 && len[1] == 512 && len[2] == 12 + 1500 - 1024);
	CHECK_EQ_U(num_buffers(BUF_GPA), 3);
	memcpy(whole, ram(BUF_GPA + 12), 500);
	memcpy(whole + 500, ram(BUF_GPA + 0x10000), 512);
	memcpy(whole + 1012, ram(BUF_GPA + 0x20000), 488);
	CHECK(frame_ok(whole, 1500, 5));
	CHECK(tq_used(&D.rx, &id[0], &len[0]) == 0);
	dev_down();
}

/*
 * No buffers: a frame stays in the tap and the tap is not watched; buffers
 * bring it in. A tap event that finds no buffer is counted and lets the tap go.
 */
static void test_rx_no_buffers(void)
{
	struct pollfd p;
	uint64_t taps, nobuf;
	uint32_t id, len;

	if (!dev_up(V1, false)) {
		CHECK(D.ok);
		dev_down();
		return;
	}
	CHECK(!D.n.tap_watched);
	host_send(100, 0, 1);
	taps = metric_get(M_net_rx_tap_event_count);
	pump();
	/* Nobody reads, nobody busy-loops on the readable tap. */
	CHECK_EQ_U(metric_get(M_net_rx_tap_event_count) - taps, 0);
	p = (struct pollfd){ D.n.tap_fd, POLLIN, 0 };
	CHECK(poll(&p, 1, 0) == 1);
	post_rx(1, 2048, BUF_GPA);
	reg_write(0x050, VNET_RXQ);
	pump();
	CHECK(tq_used(&D.rx, &id, &len) == 1 && len == 112);
	CHECK(frame_ok(ram(BUF_GPA + 12), 100, 1));
	CHECK(!D.n.tap_watched);
	/* One buffer, an empty tap: watched. Two frames: the second finds no buffer. */
	post_rx(1, 2048, BUF_GPA + 0x10000);
	reg_write(0x050, VNET_RXQ);
	CHECK(D.n.tap_watched);
	host_send(100, 0, 2);
	host_send(100, 0, 3);
	taps = metric_get(M_net_rx_tap_event_count);
	nobuf = metric_get(M_net_no_rx_avail_buffer);
	pump();
	CHECK_EQ_U(metric_get(M_net_rx_tap_event_count) - taps, 1);
	CHECK_EQ_U(metric_get(M_net_no_rx_avail_buffer) - nobuf, 1);
	CHECK(!D.n.tap_watched);
	CHECK(tq_used(&D.rx, &id, &len) == 1 && len == 112);
	CHECK(frame_ok(ram(BUF_GPA + 0x10000 + 12), 100, 2));
	CHECK(tq_used(&D.rx, &id, &len) == 0);
	CHECK(poll(&p, 1, 0) == 1);
	post_rx(1, 2048, BUF_GPA + 0x20000);
	reg_write(0x050, VNET_RXQ);
	pump();
	CHECK(tq_used(&D.rx, &id, &len) == 1 && len == 112);
	CHECK(frame_ok(ram(BUF_GPA + 0x20000 + 12), 100, 3));
	dev_down();
}

/*
 * MRG_RXBUF with less room than a frame may need: the frame goes through the
 * bounce buffer, waits there until buffers come, is delivered once and only then counted.
 */
static void test_rx_pending(void)
{
	uint32_t id, len, got = 0;
	uint64_t pk;

	if (!dev_up(V1 | F(VIRTIO_NET_F_MRG_RXBUF), false)) {
		CHECK(D.ok);
		dev_down();
		return;
	}
	post_rx(2, 256, BUF_GPA);
	reg_write(0x050, VNET_RXQ);
	host_send(100, 0, 7);
	pump();
	CHECK(tq_used(&D.rx, &id, &len) == 1 && id == 0 && len == 112);
	CHECK(frame_ok(ram(BUF_GPA + 12), 100, 7));
	pk = metric_get(M_net_rx_packets_count);
	host_send(1000, 0, 8);     /* 1012 bytes: one 256-byte buffer left */
	pump();
	CHECK(tq_used(&D.rx, &id, &len) == 0);
	CHECK_EQ_U(D.n.pending_len, 1012);
	CHECK_EQ_U(metric_get(M_net_rx_packets_count) - pk, 0);
	CHECK(!D.n.tap_watched);
	post_rx(3, 256, BUF_GPA + 0x20000);
	reg_write(0x050, VNET_RXQ);
	pump();
	while (tq_used(&D.rx, &id, &len) == 1)
		got += len;
	CHECK_EQ_U(got, 1012);
	CHECK_EQ_U(num_buffers(BUF_GPA + 0x10000), 4);
	CHECK_EQ_U(metric_get(M_net_rx_packets_count) - pk, 1);
	CHECK_EQ_U(D.n.pending_len, 0);
	dev_down();
}

/* A device-readable receive buffer is handed back unused; the device keeps working. */
static void test_rx_readable_buffer(void)
{
	gpa_t a = BUF_GPA;
	uint32_t l = 2048, id, len;

	if (!dev_up(V1, false)) {
		CHECK(D.ok);
		dev_down();
		return;
	}
	tq_add(&D.rx, &a, &l, 1, false);
	post_rx(1, 2048, BUF_GPA + 0x10000);
	reg_write(0x050, VNET_RXQ);
	host_send(80, 0, 4);
	pump();
	CHECK(tq_used(&D.rx, &id, &len) == 1 && id == 0 && len == 0);
	CHECK(tq_used(&D.rx, &id, &len) == 1 && id == 1 && len == 92);
	CHECK(!(reg_read(0x070) & VIRTIO_STATUS_NEEDS_RESET));
	dev_down();
}

/* VIRTIO_NET_F_MTU: offered with "mtu", in config space, and longer frames are not passed on. */
static void test_rx_mtu(void)
{
	uint32_t id, len, f0;
	uint64_t fails;
	uint8_t cfg[2];

	D.mtu = 1400;
	if (!dev_up(V1 | F(VIRTIO_NET_F_MTU), false)) {
		CHECK(D.ok);
		D.mtu = 0;
		dev_down();
		return;
	}
	D.mtu = 0;
	reg_write(0x014, 0);
	f0 = reg_read(0x010);
	CHECK(f0 & (1u << VIRTIO_NET_F_MTU));
	virtio_mmio_bus_ops.read(&D.n.t, 0x100 + 10, cfg, 2);
	CHECK_EQ_U(cfg[0] | cfg[1] << 8, 1400);
	post_rx(2, 2048, BUF_GPA);
	reg_write(0x050, VNET_RXQ);
	fails = metric_get(M_net_rx_fails);
	host_send(1400 + 18 + 1, 0, 1);
	host_send(1400 + 18, 0, 2);
	pump();
	CHECK_EQ_U(metric_get(M_net_rx_fails) - fails, 1);
	CHECK(tq_used(&D.rx, &id, &len) == 1 && id == 0 && len == 12 + 1418);
	CHECK(frame_ok(ram(BUF_GPA + 12), 1418, 2));
	dev_down();
}

/* An ARP request from the guest's MAC for @ip into @f (after a zero virtio-net header). */
static void arp_request(uint8_t f[12 + 42], const uint8_t ip[4])
{
	static const uint8_t head[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					0x06, 0x00, 0xac, 0x10, 0x00, 0x02, 0x08, 0x06,
					0, 1, 0x08, 0x00, 6, 4, 0, 1,
					0x06, 0x00, 0xac, 0x10, 0x00, 0x02, 169, 254, 0, 2,
					0, 0, 0, 0, 0, 0 };

	memset(f, 0, 12);
	memcpy(f + 12, head, sizeof(head));
	memcpy(f + 12 + sizeof(head), ip, 4);
}

/*
 * MMDS on the interface: an ARP request for the MMDS address is answered into the
 * receive queue and never reaches the tap; one for another address goes to the tap.
 */
static void test_mmds_detour(void)
{
	static const uint8_t mmds_ip[4] = { 169, 254, 169, 254 }, other[4] = { 169, 254, 0, 1 };
	static const uint8_t mmds_mac[6] = MMDS_MAC_INIT;
	static struct mmds m;
	uint8_t f[12 + 42], got[256];
	gpa_t a = TXBUF_GPA;
	uint32_t l = sizeof(f), id, len;
	const uint8_t *r;

	if (!dev_up(V1, true)) {
		CHECK(D.ok);
		dev_down();
		return;
	}
	CHECK_EQ_I(mmds_init(&m, 1024), 0);
	CHECK_EQ_I(vnet_set_mmds(&D.n, &m, 0xa9fea9feu), 0);
	post_rx(1, 2048, BUF_GPA);
	reg_write(0x050, VNET_RXQ);
	arp_request(f, mmds_ip);
	memcpy(ram(TXBUF_GPA), f, sizeof(f));
	tq_add(&D.tx, &a, &l, 1, false);
	reg_write(0x050, VNET_TXQ);
	pump();
	CHECK(tq_used(&D.tx, &id, &len) == 1 && len == 0);
	CHECK(recv(D.peer, got, sizeof(got), MSG_DONTWAIT) < 0);
	CHECK(tq_used(&D.rx, &id, &len) == 1 && id == 0 && len == 12 + 42);
	r = ram(BUF_GPA + 12);
	CHECK_EQ_U(num_buffers(BUF_GPA), 1);
	CHECK(memcmp(r, "\x06\x00\xac\x10\x00\x02", 6) == 0);      /* to the guest */
	CHECK(memcmp(r + 6, mmds_mac, 6) == 0);
	CHECK(r[12] == 0x08 && r[13] == 0x06 && r[20] == 0 && r[21] == 2);   /* an ARP reply */
	CHECK(memcmp(r + 22, mmds_mac, 6) == 0 && memcmp(r + 28, mmds_ip, 4) == 0);
	/* Another address: the tap's, as before. */
	arp_request(f, other);
	memcpy(ram(TXBUF_GPA), f, sizeof(f));
	tq_add(&D.tx, &a, &l, 1, false);
	reg_write(0x050, VNET_TXQ);
	pump();
	CHECK_EQ_I(recv(D.peer, got, sizeof(got), MSG_DONTWAIT), (ssize_t)sizeof(f));
	CHECK(tq_used(&D.rx, &id, &len) == 0);
	dev_down();
	mmds_destroy(&m);
}

int main(void)
{
	struct err err;

	D.peer = -1;
	D.ok = kvm_vm_create(&D.vm, &LAYOUT_KVM_PAGES, &err) == 0 && gmem_init(&D.mem, RAM_SIZE, LAYOUT_RAM_HOLE) == 0;
	RUN(test_tx_hdr);
	if (!D.ok) {
		/* ember-test: needs-kvm (tests/run.sh runs this program where KVM works) */
		printf("FAIL test_net_device: no usable /dev/kvm (%s)\n", err.msg);
		return 1;
	}
	RUN(test_config_space);
	RUN(test_tx_good);
	RUN(test_tx_malformed);
	RUN(test_rx_plain);
	RUN(test_rx_too_big);
	RUN(test_rx_merged);
	RUN(test_rx_no_buffers);
	RUN(test_rx_pending);
	RUN(test_rx_readable_buffer);
	RUN(test_rx_mtu);
	RUN(test_mmds_detour);
	gmem_destroy(&D.mem);
	kvm_vm_destroy(&D.vm);
	return check_summary();
}
