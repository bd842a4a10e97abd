/* fuzz_net.c: libFuzzer target: a hostile driver's virtio-net buffers, a socket pair standing in for the tap. */
#include <linux/if_tun.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "devices/virtio/net.h"
#include "fuzz_dev.h"

/*
 * The tap is one end of a SOCK_SEQPACKET socket pair (a message per frame,
 * as a tap reads and writes them); the fuzzer holds the other end. A tap fd
 * whose TUNSETOFFLOAD is answered 0 stands for a tap that takes every
 * offload, so that the checksum and segmentation features are offered too.
 *
 * Input:
 *   byte 0   the interface: bit 0 the tap takes offloads, bit 1 guest_mac,
 *            bit 2 mtu 1400
 *   byte 1   the driver takes, of what is offered: bit 0 EVENT_IDX, bit 2
 *            MRG_RXBUF, bit 3 CSUM, bit 4 GUEST_CSUM, bit 5 HOST_TSO4/6 and
 *            HOST_UFO, bit 6 GUEST_TSO4/6 and GUEST_UFO, bit 7 MTU
 *   then operations, an opcode byte (bits 0-1 the kind, bits 2-7 flags):
 *     0 tx frame  12 bytes of virtio-net header, u32 frame length, u8 segments;
 *                 flags: bit 2 the header in its own buffer, bit 3 a writable
 *                 buffer at the end (malformed), bit 4 notify now (else it
 *                 waits for the next), bit 5 by a QueueNotify write
 *     1 rx buffers u8 count, u32 size, u8 segments; flag bit 2: a readable
 *                 buffer first (refused)
 *     2 host frame u8 flags, u8 gso_type, u32 length: the tap has a frame
 *     3 event     flag bit 2: reset and bring up again; bit 3: a config space
 *                 access (u8 offset, u8 size code, with bit 4 a write of a
 *                 u64 value); else run the event loop
 * What reaches the tap must be exactly the well-formed frames (5.1.6.2), in
 * order, with the header's unknown flags cleared; what reaches the guest
 * must be the host's frames, in order, whole, none too short or over the
 * MTU, with num_buffers right and every buffer but a frame's last filled
 * (5.1.6.3, 5.1.6.4). Buffers come back once each, tx buffers unwritten.
 */
#define RAM_SIZE    (8u << 20)
#define QSZ         VNET_QUEUE_SIZE
#define RXQ_GPA     0x00000u       /* desc, avail +0x1000, used +0x2000 */
#define TXQ_GPA     0x03000u
#define TXBUF_GPA   0x10000u       /* tx frames of a batch */
#define TXEND       0x300000u
#define TXW_GPA     0x300000u      /* the writable buffer of a malformed frame */
#define RXBUF_GPA   0x310000u
#define RXSLOT      0x11000u
#define NRXSLOT     64u
#define FAKE_TAP_FD 900            /* the fd whose TUNSETOFFLOAD succeeds */
#define MTU         1400u          /* the interface's mtu, with byte 0 bit 2 */
#define MAX_FRAMES  256
#define MAX_OPS     256
#define POISON      0xa5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A tx frame as the driver queued it. */
struct txf {
	gpa_t gpa;                 /* header then frame, one run of RAM */
	uint32_t len;              /* frame bytes after the header */
	bool ok;                   /* the device must pass it on */
};

static struct {
	int ready;
	struct kvm_vm vm;
	struct guest_mem mem;
	uint8_t *ram;
	struct bus bus;
	uint8_t poison[RXSLOT];
	uint8_t frame[VNET_MAX_BUF + 64];
	uint8_t txcopy[TXEND];
	uint8_t txpat[TXEND];          /* tx frames, by guest address */
	uint8_t hpat[VNET_MAX_BUF];    /* host frames after their number (2 bytes) */
} G;

static struct {
	struct evloop loop;
	struct vnet n;
	int peer;
	uint8_t dcfg;
	uint64_t feat;                 /* what the driver took */
	int sndbuf;                    /* room in the tap for frames the fuzzer has not read */
	struct fz_q rx, tx;
	/* tx batch */
	struct txf txf[MAX_FRAMES];
	unsigned ntx;
	uint16_t next_desc;
	gpa_t next_buf;
	uint64_t pending_bytes;
	/* rx */
	bool rx_busy[NRXSLOT], rx_bad[NRXSLOT];
	uint32_t rx_cap[NRXSLOT];
	uint32_t host_sent;            /* frames the host sent, numbered from 0 */
	uint32_t host_len[MAX_FRAMES * 4];
	uint8_t host_hdr[MAX_FRAMES * 4][2];
	int64_t last_rx;               /* the number of the last frame the guest got */
	uint8_t mac[6];                /* the MAC the config space must show */
} S;

static void setup(void)
{
	fz_fake_vm(&G.vm);
	fz_fake_ioctl(FAKE_TAP_FD, TUNSETOFFLOAD);
	G.ram = fz_ram_map(RAM_SIZE, &G.mem);
	FUZZ_CHECK(bus_add(&G.bus, FZ_BASE, FZ_SLOT, &virtio_mmio_bus_ops, &S.n.t) == 0);
	memset(G.poison, POISON, sizeof(G.poison));
	for (uint32_t i = 0; i < TXEND; i++)
		G.txpat[i] = (uint8_t)(i ^ i >> 9 ^ 0x3c);
	for (uint32_t i = 0; i < VNET_MAX_BUF; i++)
		G.hpat[i] = (uint8_t)(i * 7 + 3);
	G.ready = 1;
}

static bool has(uint64_t f, unsigned bit)
{
	return f >> bit & 1;
}

/* ---- the driver ---- */

static void bring_up(uint8_t want)
{
	struct virtio_mmio *t = &S.n.t;
	uint64_t off = t->device_features, f = 1ULL << VIRTIO_F_VERSION_1;
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	if (want & 1)
		f |= 1ULL << VIRTIO_F_EVENT_IDX;
	if (want & 4)
		f |= 1ULL << VIRTIO_NET_F_MRG_RXBUF;
	if (want & 8)
		f |= 1ULL << VIRTIO_NET_F_CSUM;
	if (want & 16)
		f |= 1ULL << VIRTIO_NET_F_GUEST_CSUM;
	if (want & 32)
		f |= 1ULL << VIRTIO_NET_F_HOST_TSO4 | 1ULL << VIRTIO_NET_F_HOST_TSO6 |
		     1ULL << VIRTIO_NET_F_HOST_UFO;
	if (want & 64)
		f |= 1ULL << VIRTIO_NET_F_GUEST_TSO4 | 1ULL << VIRTIO_NET_F_GUEST_TSO6 |
		     1ULL << VIRTIO_NET_F_GUEST_UFO;
	if (want & 128)
		f |= 1ULL << VIRTIO_NET_F_MTU;
	f |= 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS;
	/* 5.1.3.1: TSO/UFO only with their CSUM, as a driver negotiates them. */
	if (!has(f, VIRTIO_NET_F_CSUM))
		f &= ~(1ULL << VIRTIO_NET_F_HOST_TSO4 | 1ULL << VIRTIO_NET_F_HOST_TSO6 | 1ULL << VIRTIO_NET_F_HOST_UFO);
	if (!has(f, VIRTIO_NET_F_GUEST_CSUM))
		f &= ~(1ULL << VIRTIO_NET_F_GUEST_TSO4 | 1ULL << VIRTIO_NET_F_GUEST_TSO6 | 1ULL << VIRTIO_NET_F_GUEST_UFO);
	f &= off;
	S.feat = f;
	fz_w32(&G.bus, FZ_BASE, FZ_STATUS, 0);
	fz_w32(&G.bus, FZ_BASE, FZ_STATUS, st);
	fz_w32(&G.bus, FZ_BASE, FZ_DRIVER_FEATURES_SEL, 0);
	fz_w32(&G.bus, FZ_BASE, FZ_DRIVER_FEATURES, (uint32_t)f);
	fz_w32(&G.bus, FZ_BASE, FZ_DRIVER_FEATURES_SEL, 1);
	fz_w32(&G.bus, FZ_BASE, FZ_DRIVER_FEATURES, (uint32_t)(f >> 32));
	st |= VIRTIO_STATUS_FEATURES_OK;
	fz_w32(&G.bus, FZ_BASE, FZ_STATUS, st);
	memset(G.ram, 0, TXBUF_GPA);
	memset(&S.rx, 0, sizeof(S.rx));
	memset(&S.tx, 0, sizeof(S.tx));
	S.rx = (struct fz_q){ G.ram, RXQ_GPA, RXQ_GPA + 0x1000, RXQ_GPA + 0x2000, QSZ, 0, 0 };
	S.tx = (struct fz_q){ G.ram, TXQ_GPA, TXQ_GPA + 0x1000, TXQ_GPA + 0x2000, QSZ, 0, 0 };
	FUZZ_CHECK(fz_q_setup(&G.bus, FZ_BASE, VNET_RXQ, &S.rx) == 1);
	FUZZ_CHECK(fz_q_setup(&G.bus, FZ_BASE, VNET_TXQ, &S.tx) == 1);
	st |= VIRTIO_STATUS_DRIVER_OK;
	fz_w32(&G.bus, FZ_BASE, FZ_STATUS, st);
	FUZZ_CHECK(fz_r32(&G.bus, FZ_BASE, FZ_STATUS) == st && t->active);
	fz_pump(&S.loop, 0);
	memset(S.rx_busy, 0, sizeof(S.rx_busy));
	S.ntx = 0;
	S.next_desc = 0;
	S.next_buf = TXBUF_GPA;
	S.pending_bytes = 0;
}

/* ---- tx (5.1.6.2) ---- */

/* The rules of 5.1.6.2.1 for a frame of @len bytes after header @h, as the driver negotiated. */
static bool tx_hdr_ok(const uint8_t *h, uint64_t len)
{
	uint8_t gso = h[1];
	uint16_t gso_size = (uint16_t)(h[4] | h[5] << 8);
	uint32_t cs_end = (uint32_t)(h[6] | h[7] << 8) + (uint32_t)(h[8] | h[9] << 8) + 2;

	if (gso == VIRTIO_NET_HDR_GSO_TCPV4 && (!has(S.feat, VIRTIO_NET_F_HOST_TSO4) || !gso_size))
		return false;
	if (gso == VIRTIO_NET_HDR_GSO_TCPV6 && (!has(S.feat, VIRTIO_NET_F_HOST_TSO6) || !gso_size))
		return false;
	if (gso == VIRTIO_NET_HDR_GSO_UDP && (!has(S.feat, VIRTIO_NET_F_HOST_UFO) || !gso_size))
		return false;
	if (gso != VIRTIO_NET_HDR_GSO_NONE && gso != VIRTIO_NET_HDR_GSO_TCPV4 &&
	    gso != VIRTIO_NET_HDR_GSO_TCPV6 && gso != VIRTIO_NET_HDR_GSO_UDP)
		return false;   /* unknown, or ECN (HOST_ECN is not offered) */
	if ((h[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM) && (!has(S.feat, VIRTIO_NET_F_CSUM) || cs_end > len))
		return false;
	if (gso == VIRTIO_NET_HDR_GSO_NONE && has(S.feat, VIRTIO_NET_F_MTU) &&
	    len > MTU + VNET_ETH_HLEN + 4)
		return false;
	return true;
}

/* Notify the tx queue; the tap must then hold exactly the well-formed frames, in order. */
static void tx_flush(bool reg)
{
	struct virtio_mmio *t = &S.n.t;
	uint16_t used0 = S.tx.used_seen;
	uint32_t id, len;
	ssize_t got;

	if (!S.ntx)
		return;
	memcpy(G.txcopy + TXBUF_GPA, G.ram + TXBUF_GPA, S.next_buf - TXBUF_GPA);
	fz_q_publish(&S.tx, 0, used0);
	if (reg)
		fz_w32(&G.bus, FZ_BASE, FZ_QUEUE_NOTIFY, VNET_TXQ);
	else
		fz_kick(t, VNET_TXQ);
	fz_pump(&S.loop, 0);
	FUZZ_CHECK(t->active && !t->q[VNET_TXQ].broken);
	/* Every buffer back, nothing written into it (5.1.6.2). */
	FUZZ_CHECK((uint16_t)(fz_q_used_idx(&S.tx) - used0) == S.ntx);
	while (fz_q_next_used(&S.tx, &id, &len))
		FUZZ_CHECK(len == 0 && id < QSZ);
	FUZZ_CHECK(memcmp(G.txcopy + TXBUF_GPA, G.ram + TXBUF_GPA, S.next_buf - TXBUF_GPA) == 0);
	for (unsigned i = 0; i < S.ntx; i++) {
		const struct txf *f = &S.txf[i];
		uint8_t h[VNET_HDR_SIZE];

		if (!f->ok)
			continue;
		got = recv(S.peer, G.frame, sizeof(G.frame), MSG_DONTWAIT);
		FUZZ_CHECK(got == (ssize_t)(VNET_HDR_SIZE + f->len));
		/* The header as the driver wrote it, flags it did not know cleared (5.1.6.2.2). */
		memcpy(h, G.ram + f->gpa, sizeof(h));
		h[0] &= VIRTIO_NET_HDR_F_NEEDS_CSUM;
		FUZZ_CHECK(memcmp(G.frame, h, sizeof(h)) == 0);
		FUZZ_CHECK(memcmp(G.frame + VNET_HDR_SIZE, G.ram + f->gpa + VNET_HDR_SIZE, f->len) == 0);
	}
	/* And nothing else: a malformed frame never reaches the tap. */
	FUZZ_CHECK(recv(S.peer, G.frame, sizeof(G.frame), MSG_DONTWAIT) < 0);
	S.ntx = 0;
	S.next_desc = 0;
	S.next_buf = TXBUF_GPA;
	S.pending_bytes = 0;
}

static void op_tx(struct fz_in *in, uint8_t op)
{
	uint8_t hdr[VNET_HDR_SIZE];
	uint32_t len, nseg;
	struct { gpa_t a; uint32_t len; uint16_t fl; } seg[12];
	unsigned ns = 0, left;
	uint32_t total;
	struct txf *f;
	gpa_t g;

	for (unsigned i = 0; i < sizeof(hdr); i++)
		hdr[i] = fz_u8(in);
	len = fz_u32(in) % (VNET_MAX_FRAME + 2);
	nseg = fz_u8(in) % 8 + 1;
	/* Room in the ring, in RAM and in the tap's buffer, or the batch so far goes first. */
	if (S.ntx == MAX_FRAMES || S.next_desc + 11 > QSZ || S.next_buf + VNET_HDR_SIZE + len > TXEND ||
	    S.pending_bytes + VNET_HDR_SIZE + len + 1024 > (uint64_t)S.sndbuf / 2)
		tx_flush(false);
	f = &S.txf[S.ntx++];
	g = S.next_buf;
	f->gpa = g;
	f->len = len;
	memcpy(G.ram + g, hdr, sizeof(hdr));
	memcpy(G.ram + g + VNET_HDR_SIZE, G.txpat + g + VNET_HDR_SIZE, len);
	S.next_buf += VNET_HDR_SIZE + len;
	/* The header alone or with the frame's start, the rest cut into @nseg buffers. */
	total = VNET_HDR_SIZE + len;
	if (op & 4) {
		seg[ns++] = (typeof(seg[0])){ g, VNET_HDR_SIZE, 0 };
		g += VNET_HDR_SIZE;
		total = len;
	}
	left = nseg;
	for (uint32_t at = 0, n; at < total; at += n, left = left > 1 ? left - 1 : 1) {
		n = (total - at + left - 1) / left;
		seg[ns++] = (typeof(seg[0])){ g + at, n, 0 };
	}
	if (op & 8)
		seg[ns++] = (typeof(seg[0])){ TXW_GPA, 64, VIRTQ_DESC_F_WRITE };
	for (unsigned i = 0; i < ns; i++)
		fz_desc_at(G.ram, TXQ_GPA + 16u * (S.next_desc + i), seg[i].a, seg[i].len,
			   (uint16_t)(seg[i].fl | (i + 1 < ns ? VIRTQ_DESC_F_NEXT : 0)),
			   (uint16_t)(S.next_desc + i + 1));
	fz_q_avail(&S.tx, S.next_desc);
	S.next_desc = (uint16_t)(S.next_desc + ns);
	/* Device-readable only, 12 + 14 to 12 + 65550 bytes, a header that keeps the rules. */
	f->ok = !(op & 8) && f->len >= VNET_ETH_HLEN && f->len <= VNET_MAX_FRAME &&
		tx_hdr_ok(hdr, f->len);
	if (f->ok)
		S.pending_bytes += VNET_HDR_SIZE + f->len + 1024;
	if (op & 16)
		tx_flush(op & 32);
}

/* ---- rx (5.1.6.3, 5.1.6.4) ---- */

static void op_rx(struct fz_in *in, uint8_t op)
{
	unsigned n = fz_u8(in) % 16 + 1;
	uint32_t size = fz_u32(in) % (RXSLOT + 1);
	unsigned nseg = fz_u8(in) % 3 + 1;
	uint32_t min = has(S.feat, VIRTIO_NET_F_MRG_RXBUF) ? VNET_HDR_SIZE : VNET_HDR_SIZE + VNET_ETH_HLEN;

	for (unsigned slot = 0; slot < NRXSLOT && n; slot++) {
		gpa_t g = RXBUF_GPA + (gpa_t)slot * RXSLOT;
		uint16_t d = (uint16_t)(4 * slot), k = 0;
		uint32_t at = 0;

		if (S.rx_busy[slot])
			continue;
		memcpy(G.ram + g, G.poison, size);
		if (op & 4)
			fz_desc_at(G.ram, RXQ_GPA + 16u * (d + k++), TXW_GPA, 16, VIRTQ_DESC_F_NEXT,
				   (uint16_t)(d + 1));
		for (unsigned i = 0; i < nseg; i++, k++) {
			uint32_t part = i + 1 < nseg ? (size - at) / 2 : size - at;

			fz_desc_at(G.ram, RXQ_GPA + 16u * (d + k), g + at, part,
				   (uint16_t)(VIRTQ_DESC_F_WRITE | (i + 1 < nseg ? VIRTQ_DESC_F_NEXT : 0)),
				   (uint16_t)(d + k + 1));
			at += part;
		}
		S.rx_busy[slot] = true;
		S.rx_cap[slot] = size;
		/* 5.1.6.3.1: device-writable only, room for the header (and an Ethernet one without merging). */
		S.rx_bad[slot] = (op & 4) || size < min;
		fz_q_avail(&S.rx, d);
		n--;
	}
	fz_q_publish(&S.rx, 0, S.rx.used_seen);
	fz_kick(&S.n.t, VNET_RXQ);
	fz_pump(&S.loop, 0);
}

static void op_host(struct fz_in *in)
{
	uint8_t flags = fz_u8(in), gso = fz_u8(in);
	uint32_t len = fz_u32(in) % (VNET_MAX_FRAME + 2), idx = S.host_sent;

	if (idx == sizeof(S.host_len) / sizeof(S.host_len[0]))
		return;
	memset(G.frame, 0, VNET_HDR_SIZE);
	G.frame[0] = flags;
	G.frame[1] = gso;
	/* Its number, then the pattern. */
	memcpy(G.frame + VNET_HDR_SIZE, G.hpat, len);
	if (len >= 2) {
		G.frame[VNET_HDR_SIZE] = (uint8_t)idx;
		G.frame[VNET_HDR_SIZE + 1] = (uint8_t)(idx >> 8);
	}
	/* A tap full of frames nobody reads takes no more: that one never was. */
	if (send(S.peer, G.frame, VNET_HDR_SIZE + len, MSG_DONTWAIT) != (ssize_t)(VNET_HDR_SIZE + len))
		return;
	S.host_len[idx] = len;
	S.host_hdr[idx][0] = flags;
	S.host_hdr[idx][1] = gso;
	S.host_sent++;
	fz_pump(&S.loop, 0);
}

/* Bytes [off, off + n) of the frame that arrived in rx slots @slots[0..k), @lens used of each. */
static void rx_gather(const unsigned *slots, const uint32_t *lens, unsigned k, uint8_t *dst)
{
	for (unsigned i = 0; i < k; i++) {
		memcpy(dst, G.ram + RXBUF_GPA + (gpa_t)slots[i] * RXSLOT, lens[i]);
		dst += lens[i];
	}
}

/* One frame the device delivered into rx slots @slots[0..k). */
static void check_frame(const unsigned *slots, const uint32_t *lens, unsigned k)
{
	uint32_t total = 0, flen, idx;
	uint8_t *b = G.frame;
	uint16_t nb;

	for (unsigned i = 0; i < k; i++) {
		/* Every buffer but the last used up to its full length (5.1.6.4). */
		if (i + 1 < k)
			FUZZ_CHECK(lens[i] == S.rx_cap[slots[i]]);
		total += lens[i];
	}
	FUZZ_CHECK(total <= VNET_MAX_BUF && total >= VNET_HDR_SIZE);
	rx_gather(slots, lens, k, b);
	memcpy(&nb, b + 10, 2);
	FUZZ_CHECK(nb == k);
	flen = total - VNET_HDR_SIZE;
	/* Never a frame cut short or too short for an Ethernet header, nothing over the MTU. */
	FUZZ_CHECK(flen >= VNET_ETH_HLEN);
	idx = (uint32_t)(b[VNET_HDR_SIZE] | b[VNET_HDR_SIZE + 1] << 8);
	FUZZ_CHECK(idx < S.host_sent && (int64_t)idx > S.last_rx);
	S.last_rx = idx;
	FUZZ_CHECK(flen == S.host_len[idx]);
	FUZZ_CHECK(memcmp(b + VNET_HDR_SIZE + 2, G.hpat + 2, flen - 2) == 0);
	FUZZ_CHECK(b[0] == (has(S.feat, VIRTIO_NET_F_GUEST_CSUM) ? S.host_hdr[idx][0] : 0));
	FUZZ_CHECK(b[1] == S.host_hdr[idx][1]);
	for (unsigned i = 2; i < 10; i++)
		FUZZ_CHECK(b[i] == 0);
	if (has(S.feat, VIRTIO_NET_F_MTU) && (b[1] & 0x7f) == VIRTIO_NET_HDR_GSO_NONE)
		FUZZ_CHECK(flen <= MTU + VNET_ETH_HLEN + 4);
	/*
	 * Bytes past a buffer's used length are not checked: frames are read
	 * straight into the buffers, and one dropped there (too long) leaves
	 * its bytes, as 2.7.8.2 allows (the device MAY write more than len).
	 */
}

/* The rx buffers the device gave back: refused ones empty, the rest whole frames. */
static void collect(void)
{
	struct virtio_mmio *t = &S.n.t;
	unsigned slots[VNET_RX_IOV_MAX];
	uint32_t lens[VNET_RX_IOV_MAX], id, len;
	unsigned k = 0, want = 0;

	while (fz_q_next_used(&S.rx, &id, &len)) {
		unsigned slot = id / 4;
		uint16_t nb;

		FUZZ_CHECK(id % 4 == 0 && slot < NRXSLOT && S.rx_busy[slot]);
		FUZZ_CHECK(len <= S.rx_cap[slot]);
		S.rx_busy[slot] = false;
		if (S.rx_bad[slot]) {
			FUZZ_CHECK(len == 0 && k == 0);
			continue;
		}
		FUZZ_CHECK(len > 0);
		if (k == 0) {
			/* A frame's first buffer says how many it took. */
			FUZZ_CHECK(len >= VNET_HDR_SIZE);
			memcpy(&nb, G.ram + RXBUF_GPA + (gpa_t)slot * RXSLOT + 10, 2);
			want = has(S.feat, VIRTIO_NET_F_MRG_RXBUF) ? nb : 1;
			FUZZ_CHECK(want >= 1 && want <= NRXSLOT);
		}
		slots[k] = slot;
		lens[k] = len;
		if (++k == want) {
			check_frame(slots, lens, k);
			k = 0;
		}
	}
	/* A frame's buffers are given back together. */
	FUZZ_CHECK(k == 0);
	FUZZ_CHECK(t->active && !(t->status & VIRTIO_STATUS_NEEDS_RESET));
	(void)fz_irqs(t);
}

/*
 * The config space (5.1.4): mac, status LINK_UP, one queue pair, mtu; the
 * driver may write the MAC only. An access not wholly inside reads zeros.
 */
static void op_config(struct fz_in *in, uint8_t op)
{
	static const unsigned sizes[4] = { 1, 2, 4, 8 };
	unsigned off = fz_u8(in) % 16, len = sizes[fz_u8(in) & 3];
	uint8_t cfg[12], got[8] = { 0 };
	uint16_t mtu = S.dcfg & 4 ? MTU : 0;
	uint64_t v;

	if (op & 16) {
		v = fz_u64(in);
		FUZZ_CHECK(bus_write(&G.bus, FZ_BASE + FZ_CONFIG + off, (const uint8_t *)&v, len) == 0);
		if (off + len <= 6)
			memcpy(S.mac + off, &v, len);
	}
	memcpy(cfg, S.mac, 6);
	memcpy(cfg + 6, "\x01\x00\x01\x00", 4);
	memcpy(cfg + 10, &mtu, 2);
	FUZZ_CHECK(bus_read(&G.bus, FZ_BASE + FZ_CONFIG + off, got, len) == 0);
	if (off + len <= sizeof(cfg))
		FUZZ_CHECK(memcmp(got, cfg + off, len) == 0);
	else
		FUZZ_CHECK(!memcmp(got, "\0\0\0\0\0\0\0\0", len));
}

/* Start an input: a fresh interface on a fresh socket pair. */
static void dev_up(uint8_t dcfg)
{
	struct net_cfg cfg;
	int sv[2], tap, big = 32 << 20;
	socklen_t sl = sizeof(S.sndbuf);

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.iface_id, sizeof(cfg.iface_id), "eth0");
	snprintf(cfg.host_dev_name, sizeof(cfg.host_dev_name), "fuzz");
	cfg.has_guest_mac = dcfg & 2;
	memcpy(cfg.guest_mac, "\x06\x00\xac\x10\x00\x02", 6);
	if (cfg.has_guest_mac)
		memcpy(S.mac, cfg.guest_mac, 6);
	cfg.mtu = dcfg & 4 ? MTU : 0;
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	/* Room for every frame of a batch, whoever runs the fuzzer. */
	for (int i = 0; i < 2; i++)
		if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)))
			(void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	FUZZ_CHECK(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &S.sndbuf, &sl) == 0);
	tap = sv[0];
	if (dcfg & 1) {
		FUZZ_CHECK(dup3(sv[0], FAKE_TAP_FD, O_CLOEXEC) == FAKE_TAP_FD);
		close(sv[0]);
		tap = FAKE_TAP_FD;
	}
	S.peer = sv[1];
	FUZZ_CHECK(evloop_init(&S.loop) == 0);
	FUZZ_CHECK(vnet_init(&S.n, &cfg, tap, &G.vm, &G.mem, &S.loop, FZ_BASE, 5) == 0);
	/* The offloads are offered exactly when the tap takes them. */
	FUZZ_CHECK(has(S.n.t.device_features, VIRTIO_NET_F_CSUM) == !!(dcfg & 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	unsigned ops = 0;
	uint8_t drv;

	if (!G.ready)
		setup();
	if (size < 2)
		return 0;
	fz_ram_clear(G.ram, RAM_SIZE);
	memset(&S, 0, sizeof(S));
	S.dcfg = fz_u8(&in) & 7;
	drv = fz_u8(&in);
	S.last_rx = -1;
	dev_up(S.dcfg);
	bring_up(drv);
	while (fz_more(&in) && ops++ < MAX_OPS) {
		uint8_t op = fz_u8(&in);

		switch (op & 3) {
		case 0:
			op_tx(&in, op);
			break;
		case 1:
			op_rx(&in, op);
			break;
		case 2:
			op_host(&in);
			break;
		default:
			if (op & 4) {
				tx_flush(false);
				bring_up(drv);
			} else if (op & 8) {
				op_config(&in, op);
			} else {
				fz_pump(&S.loop, 0);
			}
			break;
		}
		collect();
	}
	tx_flush(false);
	collect();
	vnet_destroy(&S.n);
	close(S.peer);
	evloop_destroy(&S.loop);
	return 0;
}
