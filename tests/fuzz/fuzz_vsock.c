/* fuzz_vsock.c: libFuzzer target: a hostile driver's vsock packets against host programs on Unix sockets. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "devices/virtio/vsock_int.h"
#include "fuzz_dev.h"

/*
 * Input: byte 0 the driver's features (bit 0 EVENT_IDX, bit 1 INDIRECT_DESC),
 * then operations, an opcode byte (bits 0-2 the kind, bits 3-7 flags) and
 * its operands:
 *   0 tx       u8 shape, u16 op, u32 src_port, u32 dst_port, u32 len, u32 flags,
 *              u32 buf_alloc, u32 fwd_cnt, u16 payload bytes, u8 payload segments,
 *              then with shape bit 0: u64 src_cid, u64 dst_cid, u16 type;
 *              with shape bit 2: u8 header bytes (a short header)
 *              shape bit 1 splits the header, bit 3 appends a writable buffer,
 *              bit 4 puts a writable one first (the queue must break),
 *              bit 5 notifies with a QueueNotify write (else the ioeventfd)
 *   1 rx       u8 count, u32 size, u8 segments      buffers for the device
 *   2 connect  u32 port, u8 mode (0 a CONNECT line, 1 one without its newline,
 *              2 raw: u8 n and n bytes, up to the first newline)
 *   3 send     u16 n: a host program writes n bytes   (flags bits 3-5: which one)
 *   4 recv     a host program reads what is there      (flags bits 3-5: which one)
 *   5 close    (flags bits 3-5 which program, bit 6 shutdown(SHUT_WR) only)
 *   6 accept   the host listeners take the connections guests made
 *   7 event    flags bit 3: reset the device and bring it up again,
 *              bit 4: notify the event queue, bit 6: vsock_transport_reset()
 *              after u8 shape (bit 0: post an event buffer of (shape >> 1) % 8 + 1
 *              bytes first), else just run the event loop
 * The host side is real: ember's listener at uds_path, host programs that
 * connect to it, and listeners at uds_path_1024 and uds_path_1025 for
 * guest-initiated connections. Each byte a host program sends carries its
 * program and a counter, so that the stream a connection delivers to the
 * guest can be checked for loss, reordering and mixing.
 */
#define RAM_SIZE    (8u << 20)
#define QSZ_RX      256u
#define QSZ         64u
#define RXQ_GPA     0x00000u       /* desc, avail +0x1000, used +0x2000 */
#define TXQ_GPA     0x03000u
#define EVQ_GPA     0x06000u
#define TXBUF_GPA   0x10000u       /* the tx packet being sent */
#define TXEND       0x30000u
#define TXW_GPA     0x40000u       /* a writable buffer a hostile driver adds */
#define EVBUF_GPA   0x41000u       /* NEVBUF event buffers, 8 bytes apart */
#define NEVBUF      4u
#define RXBUF_GPA   0x100000u
#define RXSLOT      0x11000u       /* room for a header and 64 KiB */
#define NRXSLOT     64u
#define NHOST       8
#define GUEST_CID   3
#define PORT_A      1024u
#define MAX_KEYS    64
#define MAX_OPS     256
#define POISON      0xa5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
	int ready;
	struct kvm_vm vm;
	struct guest_mem mem;
	uint8_t *ram;
	struct bus bus;
	char dir[64], path[100];
	int plisten[2];                /* uds_path_1024, uds_path_1025 */
	uint8_t txcopy[TXEND];
	uint8_t poison[RXSLOT];
	uint8_t txpat[0x10000];        /* a tx packet's payload */
} G;

/* What the guest was told about one connection, and what it told. */
struct key {
	uint32_t hport, gport;
	bool has_pair;
	uint32_t buf_alloc, fwd_cnt;   /* the guest's latest credit */
	uint32_t rx_total;             /* payload received since the connection began */
	int tag;                       /* the host program whose bytes it carries, -1 none yet */
	uint8_t ctr;
	bool guest_req, shut_rcv, guest_rst;
};

static struct {
	struct evloop loop;
	struct vsock_dev d;
	bool event_idx, indirect;
	struct fz_q rx, tx, ev;
	bool ev_busy[NEVBUF];          /* event buffer i (descriptor i) is the device's */
	uint32_t ev_size[NEVBUF];
	bool rx_busy[NRXSLOT];
	uint32_t rx_size[NRXSLOT];
	int host[NHOST];
	uint8_t host_ctr[NHOST];
	bool raw_lines;
	uint32_t ports[32];
	unsigned nports;
	struct key key[MAX_KEYS];
	unsigned nkeys;
} S;

/* ---- the host side ---- */

static int unix_at(const char *path, bool listening)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	FUZZ_CHECK(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (listening) {
		unlink(path);
		FUZZ_CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 64) == 0);
	} else if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* At exit: the socket files and their directory. */
static void cleanup(void)
{
	char p[160];

	unlink(G.path);
	for (unsigned i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s_%u", G.path, PORT_A + i);
		unlink(p);
	}
	rmdir(G.dir);
}

static void setup(void)
{
	char p[160];

	fz_fake_vm(&G.vm);
	G.ram = fz_ram_map(RAM_SIZE, &G.mem);
	snprintf(G.dir, sizeof(G.dir), "/tmp/ember-fuzz-vsock-XXXXXX");
	FUZZ_CHECK(mkdtemp(G.dir) != NULL);
	snprintf(G.path, sizeof(G.path), "%s/v.sock", G.dir);
	for (unsigned i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s_%u", G.path, PORT_A + i);
		G.plisten[i] = unix_at(p, true);
	}
	FUZZ_CHECK(bus_add(&G.bus, FZ_BASE, FZ_SLOT, &virtio_mmio_bus_ops, &S.d.t) == 0);
	memset(G.poison, POISON, sizeof(G.poison));
	for (unsigned i = 0; i < sizeof(G.txpat); i++)
		G.txpat[i] = (uint8_t)(i * 7 + 1);
	atexit(cleanup);
	G.ready = 1;
}

static int free_host(void)
{
	for (int i = 0; i < NHOST; i++)
		if (S.host[i] < 0)
			return i;
	return -1;
}

static void host_close(int i)
{
	if (S.host[i] >= 0)
		close(S.host[i]);
	S.host[i] = -1;
}

/* A host program's bytes: 1, its number, a counter (see the top). */
static uint8_t host_byte(int i, uint8_t ctr)
{
	return (uint8_t)(0x80 | i << 4 | (ctr & 15));
}

/* ---- the guest's model of its connections ---- */

static struct key *key_of(uint32_t hport, uint32_t gport)
{
	struct key *k;

	for (unsigned i = 0; i < S.nkeys; i++)
		if (S.key[i].hport == hport && S.key[i].gport == gport)
			return &S.key[i];
	if (S.nkeys == MAX_KEYS)
		return NULL;
	k = &S.key[S.nkeys++];
	memset(k, 0, sizeof(*k));
	k->hport = hport;
	k->gport = gport;
	k->tag = -1;
	return k;
}

/* A new connection (the device's REQUEST or RESPONSE): its stream and shutdown start again. */
static void key_begin(struct key *k)
{
	k->rx_total = 0;
	k->tag = -1;
	k->ctr = 0;
	k->shut_rcv = k->guest_rst = false;
}

/* ---- the driver ---- */

static void bring_up(void)
{
	struct virtio_mmio *t = &S.d.t;
	uint64_t f = t->device_features & ~(1ULL << VIRTIO_F_EVENT_IDX | 1ULL << VIRTIO_F_INDIRECT_DESC);
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	struct fz_q *q[3] = { &S.rx, &S.tx, &S.ev };
	gpa_t at[3] = { RXQ_GPA, TXQ_GPA, EVQ_GPA };

	if (S.event_idx)
		f |= 1ULL << VIRTIO_F_EVENT_IDX;
	if (S.indirect)
		f |= 1ULL << VIRTIO_F_INDIRECT_DESC;
	fz_w32(&G.bus, FZ_BASE, FZ_STATUS, 0);
	fz_pump(&S.loop, 0);    /* the loop drops the old connections */
	fz_w32(&G.bus, FZ_BASE, FZ_STATUS, st);
	fz_w32(&G.bus, FZ_BASE, FZ_DRIVER_FEATURES_SEL, 0);
	fz_w32(&G.bus, FZ_BASE, FZ_DRIVER_FEATURES, (uint32_t)f);
	fz_w32(&G.bus, FZ_BASE, FZ_DRIVER_FEATURES_SEL, 1);
	fz_w32(&G.bus, FZ_BASE, FZ_DRIVER_FEATURES, (uint32_t)(f >> 32));
	st |= VIRTIO_STATUS_FEATURES_OK;
	fz_w32(&G.bus, FZ_BASE, FZ_STATUS, st);
	memset(G.ram, 0, TXBUF_GPA);
	for (unsigned i = 0; i < 3; i++) {
		memset(q[i], 0, sizeof(*q[i]));
		q[i]->ram = G.ram;
		q[i]->num = i == 0 ? QSZ_RX : QSZ;
		q[i]->desc = at[i];
		q[i]->avail = at[i] + 0x1000;
		q[i]->used = at[i] + 0x2000;
		FUZZ_CHECK(fz_q_setup(&G.bus, FZ_BASE, i, q[i]) == 1);
	}
	/* Event buffers: for vsock_transport_reset() only. */
	for (uint16_t i = 0; i < NEVBUF; i++) {
		memset(G.ram + EVBUF_GPA + 8u * i, POISON, 8);
		fz_desc_at(G.ram, EVQ_GPA + 16u * i, EVBUF_GPA + 8u * i, 8, VIRTQ_DESC_F_WRITE, 0);
		fz_q_avail(&S.ev, i);
		S.ev_busy[i] = true;
		S.ev_size[i] = 8;
	}
	fz_q_publish(&S.ev, 0, 0);
	st |= VIRTIO_STATUS_DRIVER_OK;
	fz_w32(&G.bus, FZ_BASE, FZ_STATUS, st);
	FUZZ_CHECK(fz_r32(&G.bus, FZ_BASE, FZ_STATUS) == st && t->active);
	memset(S.rx_busy, 0, sizeof(S.rx_busy));
	S.nkeys = 0;
}

/* ---- what comes back ---- */

/* One packet the device put in rx buffer @slot, @len bytes of it used. */
static void check_rx(unsigned slot, uint32_t len)
{
	const uint8_t *buf = G.ram + RXBUF_GPA + (gpa_t)slot * RXSLOT;
	struct vsock_hdr h;
	struct key *k;

	FUZZ_CHECK(len <= S.rx_size[slot]);
	/* Bytes past the packet stay as the driver left them (ember reads no more than it passes on). */
	FUZZ_CHECK(memcmp(buf + len, G.poison, S.rx_size[slot] - len) == 0);
	if (S.rx_size[slot] < VSOCK_HDR_SIZE) {
		FUZZ_CHECK(len == 0);   /* 5.10.6.4: too small for a header, given back empty */
		return;
	}
	FUZZ_CHECK(len >= VSOCK_HDR_SIZE);
	memcpy(&h, buf, sizeof(h));
	/* 5.10.6: from the host to this guest, a stream, a known op, the length it has. */
	FUZZ_CHECK(h.src_cid == VSOCK_HOST_CID && h.dst_cid == GUEST_CID && h.type == VSOCK_TYPE_STREAM);
	FUZZ_CHECK(h.op >= VSOCK_OP_REQUEST && h.op <= VSOCK_OP_CREDIT_REQUEST);
	FUZZ_CHECK(len == VSOCK_HDR_SIZE + h.len);
	FUZZ_CHECK((h.op == VSOCK_OP_RW) == (h.len > 0) && h.len <= VSOCK_MAX_PKT_PAYLOAD);
	FUZZ_CHECK(h.op == VSOCK_OP_SHUTDOWN ? h.flags && !(h.flags & ~3u) : h.flags == 0);
	if (h.op == VSOCK_OP_RST)
		FUZZ_CHECK(h.buf_alloc == 0 && h.fwd_cnt == 0);
	else
		FUZZ_CHECK(h.buf_alloc == VSOCK_BUF_ALLOC);
	k = key_of(h.src_port, h.dst_port);
	if (!k)
		return;
	switch (h.op) {
	case VSOCK_OP_REQUEST: {
		bool asked = S.raw_lines;

		/* Only for a host program's CONNECT, from a host port of Firecracker's range. */
		for (unsigned i = 0; i < S.nports && !asked; i++)
			asked = S.ports[i] == h.dst_port;
		FUZZ_CHECK(asked && h.src_port >= 1u << 30 && h.src_port < 1u << 31);
		key_begin(k);
		return;
	}
	case VSOCK_OP_RESPONSE:
		FUZZ_CHECK(k->guest_req);   /* only an answer to the guest's REQUEST */
		key_begin(k);
		return;
	case VSOCK_OP_RST:
		return;
	default:
		break;
	}
	/* After the guest's RST the connection is gone: nothing but RSTs. */
	FUZZ_CHECK(!k->guest_rst);
	if (h.op != VSOCK_OP_RW)
		return;
	/* 5.10.6.3: never more than the guest said it has room for. */
	k->rx_total += h.len;
	FUZZ_CHECK(k->has_pair && k->rx_total - k->fwd_cnt <= k->buf_alloc);
	/* 5.10.6.5: nothing after the guest said it receives no more. */
	FUZZ_CHECK(!k->shut_rcv);
	/* One host program's bytes, in order, none lost. */
	for (uint32_t i = 0; i < h.len; i++) {
		uint8_t b = buf[VSOCK_HDR_SIZE + i];

		if (k->tag < 0)
			k->tag = b >> 4 & 7;
		FUZZ_CHECK(b == host_byte(k->tag, k->ctr));
		k->ctr++;
	}
}

/* Everything the device gave back since the last look. */
static void collect(void)
{
	struct virtio_mmio *t = &S.d.t;
	uint32_t id, len;

	while (fz_q_next_used(&S.rx, &id, &len)) {
		unsigned slot = id / 4;

		/* Only buffers the driver gave and the device still held, once each. */
		FUZZ_CHECK(id % 4 == 0 && slot < NRXSLOT && S.rx_busy[slot]);
		S.rx_busy[slot] = false;
		check_rx(slot, len);
	}
	/* tx buffers come back unwritten (5.10.6.4), each once. */
	while (fz_q_next_used(&S.tx, &id, &len))
		FUZZ_CHECK(len == 0 && id < QSZ);
	/* Event buffers come back from vsock_transport_reset() only (op_transport_reset). */
	FUZZ_CHECK(fz_q_used_idx(&S.ev) == S.ev.used_seen);
	/* A driver that keeps the rules never sees the device fail. */
	FUZZ_CHECK(t->active && !(t->status & VIRTIO_STATUS_NEEDS_RESET));
	FUZZ_CHECK(t->q[VSOCK_RXQ].next_used == t->q[VSOCK_RXQ].last_avail);
	(void)fz_irqs(t);
}

/* ---- operations ---- */

static void notify(unsigned q, bool reg)
{
	if (reg)
		fz_w32(&G.bus, FZ_BASE, FZ_QUEUE_NOTIFY, q);
	else
		fz_kick(&S.d.t, q);
	fz_pump(&S.loop, 0);
}

static void op_tx(struct fz_in *in)
{
	struct virtio_mmio *t = &S.d.t;
	uint8_t shape = fz_u8(in);
	struct vsock_hdr h;
	struct { gpa_t a; uint32_t len; uint16_t fl; } seg[16];
	uint32_t pay, left, hlen = VSOCK_HDR_SIZE, ns = 0;
	uint16_t used0 = S.tx.used_seen;
	bool well_formed;

	memset(&h, 0, sizeof(h));
	h.src_cid = GUEST_CID;
	h.dst_cid = VSOCK_HOST_CID;
	h.type = VSOCK_TYPE_STREAM;
	h.op = fz_u16(in);
	h.src_port = fz_u32(in);
	h.dst_port = fz_u32(in);
	h.len = fz_u32(in);
	h.flags = fz_u32(in);
	h.buf_alloc = fz_u32(in);
	h.fwd_cnt = fz_u32(in);
	pay = fz_u16(in);
	left = fz_u8(in) % 8 + 1;
	if (shape & 1) {
		h.src_cid = fz_u64(in);
		h.dst_cid = fz_u64(in);
		h.type = fz_u16(in);
	}
	if (shape & 4)
		hlen = fz_u8(in) % VSOCK_HDR_SIZE;
	/* The packet as one run of guest RAM, the header then the payload, cut into buffers. */
	memcpy(G.ram + TXBUF_GPA, &h, hlen);
	memcpy(G.ram + TXBUF_GPA + hlen, G.txpat, pay);
	if (shape & 16)
		seg[ns++] = (typeof(seg[0])){ TXW_GPA, 16, VIRTQ_DESC_F_WRITE };
	if ((shape & 2) && hlen > 20) {
		seg[ns++] = (typeof(seg[0])){ TXBUF_GPA, 20, 0 };
		seg[ns++] = (typeof(seg[0])){ TXBUF_GPA + 20, hlen - 20, 0 };
	} else {
		seg[ns++] = (typeof(seg[0])){ TXBUF_GPA, hlen, 0 };
	}
	for (uint32_t at = 0, n; at < pay; at += n, left = left > 1 ? left - 1 : 1) {
		n = (pay - at + left - 1) / left;
		seg[ns++] = (typeof(seg[0])){ TXBUF_GPA + hlen + at, n, 0 };
	}
	if (shape & 8)
		seg[ns++] = (typeof(seg[0])){ TXW_GPA, 64, VIRTQ_DESC_F_WRITE };
	for (uint32_t i = 0; i < ns; i++)
		fz_desc_at(G.ram, TXQ_GPA + 16u * i, seg[i].a, seg[i].len,
			   (uint16_t)(seg[i].fl | (i + 1 < ns ? VIRTQ_DESC_F_NEXT : 0)), (uint16_t)(i + 1));
	memcpy(G.txcopy, G.ram, TXEND);
	fz_q_avail(&S.tx, 0);
	fz_q_publish(&S.tx, 0, S.tx.used_seen);
	notify(VSOCK_TXQ, shape & 32);
	/* The device read the packet and wrote nothing of it. */
	FUZZ_CHECK(memcmp(G.txcopy + TXBUF_GPA, G.ram + TXBUF_GPA, TXEND - TXBUF_GPA) == 0);
	FUZZ_CHECK(memcmp(G.txcopy + TXQ_GPA, G.ram + TXQ_GPA, 0x1000) == 0);
	if (shape & 16) {
		/* A device-writable buffer before a readable one (2.7.4.2): the device needs a reset. */
		FUZZ_CHECK(t->q[VSOCK_TXQ].broken && !t->active &&
			   (t->status & VIRTIO_STATUS_NEEDS_RESET));
		bring_up();
		return;
	}
	FUZZ_CHECK(t->active && t->q[VSOCK_TXQ].next_used == S.tx.avail_idx);
	FUZZ_CHECK((uint16_t)(fz_q_used_idx(&S.tx) - used0) == 1);
	/*
	 * What the guest said, for the checks of what comes back: the header is
	 * the first 44 readable bytes, payload included when the header is short.
	 */
	if (hlen + pay < VSOCK_HDR_SIZE)
		return;
	memcpy(&h, G.ram + TXBUF_GPA, sizeof(h));
	well_formed = h.len <= VSOCK_MAX_PKT_PAYLOAD && h.len <= hlen + pay - VSOCK_HDR_SIZE &&
		      h.src_cid == GUEST_CID && h.dst_cid == VSOCK_HOST_CID &&
		      h.type == VSOCK_TYPE_STREAM;
	if (well_formed) {
		struct key *k = key_of(h.dst_port, h.src_port);

		if (k && h.op == VSOCK_OP_RST) {
			k->guest_rst = true;
		} else if (k) {
			k->has_pair = true;
			k->buf_alloc = h.buf_alloc;
			k->fwd_cnt = h.fwd_cnt;
			k->guest_req |= h.op == VSOCK_OP_REQUEST;
			if (h.op == VSOCK_OP_SHUTDOWN && (h.flags & VSOCK_SHUTDOWN_RCV))
				k->shut_rcv = true;
		}
	}
}

static void op_rx(struct fz_in *in)
{
	unsigned n = fz_u8(in) % 8 + 1;
	uint32_t size = fz_u32(in) % (RXSLOT + 1);
	unsigned nseg = fz_u8(in) % 4 + 1;

	for (unsigned slot = 0; slot < NRXSLOT && n; slot++) {
		gpa_t g = RXBUF_GPA + (gpa_t)slot * RXSLOT;
		uint16_t d = (uint16_t)(4 * slot);
		uint32_t at = 0;

		if (S.rx_busy[slot])
			continue;
		memcpy(G.ram + g, G.poison, size);
		/* @size bytes in up to @nseg descriptors (zero-length ones dropped by the device). */
		for (unsigned i = 0; i < nseg; i++) {
			uint32_t k = i + 1 < nseg ? (size - at) / 2 : size - at;

			fz_desc_at(G.ram, RXQ_GPA + 16u * (d + i), g + at, k,
				   (uint16_t)(VIRTQ_DESC_F_WRITE | (i + 1 < nseg ? VIRTQ_DESC_F_NEXT : 0)),
				   (uint16_t)(d + i + 1));
			at += k;
		}
		S.rx_busy[slot] = true;
		S.rx_size[slot] = size;
		fz_q_avail(&S.rx, d);
		n--;
	}
	fz_q_publish(&S.rx, 0, S.rx.used_seen);
	notify(VSOCK_RXQ, false);
}

static void op_connect(struct fz_in *in)
{
	uint32_t port = fz_u32(in);
	uint8_t mode = fz_u8(in) % 3, raw[VSOCK_CONNECT_LINE_MAX + 8];
	int i = free_host();
	char line[32];
	size_t n;

	if (mode == 2) {
		n = fz_u8(in) % sizeof(raw);
		for (size_t k = 0; k < n; k++) {
			raw[k] = fz_u8(in);
			if (raw[k] == '\n') {
				n = k + 1;   /* what follows a line is data: not here */
				break;
			}
		}
		S.raw_lines = true;
	} else {
		n = (size_t)snprintf(line, sizeof(line), "CONNECT %u%s", port, mode ? "" : "\n");
		memcpy(raw, line, n);
		if (S.nports < 32)
			S.ports[S.nports++] = port;
		else
			S.raw_lines = true;
	}
	if (i < 0)
		return;
	S.host[i] = unix_at(G.path, false);
	S.host_ctr[i] = 0;
	if (S.host[i] >= 0 && n)
		FUZZ_CHECK(write(S.host[i], raw, n) == (ssize_t)n);
	fz_pump(&S.loop, 0);
}

static void op_send(struct fz_in *in, int i)
{
	uint8_t buf[4096];
	unsigned n = fz_u16(in) % sizeof(buf);
	ssize_t w;

	if (S.host[i] < 0)
		return;
	for (unsigned k = 0; k < n; k++)
		buf[k] = host_byte(i, (uint8_t)(S.host_ctr[i] + k));
	w = send(S.host[i], buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w > 0)
		S.host_ctr[i] = (uint8_t)(S.host_ctr[i] + w);
	fz_pump(&S.loop, 0);
}

static void op_recv(int i)
{
	uint8_t buf[65536];

	if (S.host[i] < 0)
		return;
	while (recv(S.host[i], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	fz_pump(&S.loop, 0);
}

static void op_accept(void)
{
	for (unsigned l = 0; l < 2; l++) {
		int fd, i;

		while ((fd = accept4(G.plisten[l], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
			i = free_host();
			if (i < 0) {
				close(fd);
				continue;
			}
			S.host[i] = fd;
			S.host_ctr[i] = 0;
		}
	}
	fz_pump(&S.loop, 0);
}

/*
 * The snapshot's transport reset: one TRANSPORT_RESET event in the first
 * event buffer that holds it (shorter ones come back empty), every
 * connection gone without an RST, the listener still there.
 */
static void op_transport_reset(struct fz_in *in)
{
	uint8_t shape = fz_u8(in), ev[8];
	uint32_t id, len;
	unsigned events = 0;
	int r;

	if (shape & 1) {
		for (uint16_t i = 0; i < NEVBUF; i++) {
			if (S.ev_busy[i])
				continue;
			S.ev_size[i] = (uint32_t)(shape >> 1) % 8 + 1;
			memset(G.ram + EVBUF_GPA + 8u * i, POISON, 8);
			fz_desc_at(G.ram, EVQ_GPA + 16u * i, EVBUF_GPA + 8u * i, S.ev_size[i],
				   VIRTQ_DESC_F_WRITE, 0);
			fz_q_avail(&S.ev, i);
			fz_q_publish(&S.ev, 0, S.ev.used_seen);
			S.ev_busy[i] = true;
			break;
		}
	}
	r = vsock_transport_reset(&S.d);
	FUZZ_CHECK(r == 0 || r == -ENOSPC);
	while (fz_q_next_used(&S.ev, &id, &len)) {
		const uint8_t *b = G.ram + EVBUF_GPA + 8u * id;

		/* Only buffers the device held, once each; nothing after the event. */
		FUZZ_CHECK(id < NEVBUF && S.ev_busy[id] && events == 0);
		S.ev_busy[id] = false;
		memset(ev, POISON, sizeof(ev));
		if (S.ev_size[id] >= 4) {
			/* 5.10.6.7: le32 id 0, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET. */
			FUZZ_CHECK(len == 4);
			memset(ev, 0, 4);
			events++;
		} else {
			FUZZ_CHECK(len == 0);
		}
		FUZZ_CHECK(memcmp(b, ev, 8) == 0);
	}
	FUZZ_CHECK(events == (r == 0 ? 1u : 0u));
	/* -ENOSPC: every buffer the driver gave was too short. */
	for (unsigned i = 0; i < NEVBUF && r; i++)
		FUZZ_CHECK(!S.ev_busy[i]);
	FUZZ_CHECK(S.d.nconns == 0 && S.d.all.head == NULL && S.d.ctrl.head == NULL &&
		   S.d.rst_len == 0);
	/* The guest drops its connections on the event; so does its model. */
	S.nkeys = 0;
	fz_pump(&S.loop, 0);
}

/* The end of an input: the device goes, then every host socket. */
static void teardown(void)
{
	int fd;

	vsock_destroy(&S.d);
	evloop_destroy(&S.loop);
	for (int i = 0; i < NHOST; i++)
		host_close(i);
	for (unsigned l = 0; l < 2; l++)
		while ((fd = accept4(G.plisten[l], NULL, NULL, SOCK_CLOEXEC)) >= 0)
			close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct vsock_cfg cfg;
	struct err err;
	unsigned ops = 0;
	uint8_t drv;
	int lfd;

	if (!G.ready)
		setup();
	if (size < 1)
		return 0;
	drv = fz_u8(&in);
	fz_ram_clear(G.ram, RAM_SIZE);
	memset(&S, 0, sizeof(S));
	for (int i = 0; i < NHOST; i++)
		S.host[i] = -1;
	S.event_idx = drv & 1;
	S.indirect = drv & 2;
	FUZZ_CHECK(evloop_init(&S.loop) == 0);
	unlink(G.path);
	FUZZ_CHECK(vsock_listen(G.path, &lfd, &err) == 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.guest_cid = GUEST_CID;
	cfg.uds_path = G.path;
	FUZZ_CHECK(vsock_init(&S.d, &cfg, lfd, &G.vm, &G.mem, &S.loop, FZ_BASE, 5) == 0);
	bring_up();
	while (fz_more(&in) && ops++ < MAX_OPS) {
		uint8_t op = fz_u8(&in);
		int host = op >> 3 & 7;

		switch (op & 7) {
		case 0:
			op_tx(&in);
			break;
		case 1:
			op_rx(&in);
			break;
		case 2:
			op_connect(&in);
			break;
		case 3:
			op_send(&in, host);
			break;
		case 4:
			op_recv(host);
			break;
		case 5:
			if (op & 64 && S.host[host] >= 0)
				shutdown(S.host[host], SHUT_WR);
			else
				host_close(host);
			fz_pump(&S.loop, 0);
			break;
		case 6:
			op_accept();
			break;
		default:
			if (op & 8)
				bring_up();
			else if (op & 16)
				notify(VSOCK_EVQ, op & 32);
			else if (op & 64)
				op_transport_reset(&in);
			else
				fz_pump(&S.loop, 0);
			break;
		}
		collect();
	}
	teardown();
	return 0;
}
