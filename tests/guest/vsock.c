/* vsock.c: virtio-vsock driver for the test guest: queues, packets, the stream connection state machine (5.10.6), credit. */
#include "vsock.h"
#include "fmt.h"
#include "io.h"
#include "lib.h"
#include "pit.h"

/*
 * Receive buffers: even ones are one descriptor (header and payload
 * together, as Linux posts them), odd ones two (header, then payload), as
 * older Linux drivers did: the device must handle both (5.10.6.4).
 */
static uint8_t vs_rxmem[VS_RXBUFS][VS_HDR_SIZE + VS_RXBUF_DATA]
	__attribute__((section(".noinit"), aligned(4096)));
static uint8_t vs_rxhdr[VS_RXBUFS][64] __attribute__((aligned(64)));
static struct vs_hdr vs_txhdr[VS_TX_SLOTS] __attribute__((aligned(64)));
static uint32_t vs_evbuf[4];
static uint8_t vs_blockmem[VS_BLOCK] __attribute__((section(".noinit"), aligned(4096)));
const uint8_t *vs_block = vs_blockmem;
static bool vs_block_ready;
static uint64_t vs_tsc_per_ms;

/* Tx packets that carry data leave this many header slots for control packets. */
#define VS_TX_RESERVE 8

static inline uint64_t vs_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

uint64_t vs_now(void)
{
	return vs_rdtsc();
}

uint64_t vs_us(uint64_t d)
{
	return vs_tsc_per_ms ? d / vs_tsc_per_ms * 1000 + d % vs_tsc_per_ms * 1000 / vs_tsc_per_ms : d;
}

uint64_t vs_ticks(uint64_t us)
{
	return us / 1000 * vs_tsc_per_ms + us % 1000 * vs_tsc_per_ms / 1000;
}

/* TSC ticks per ms from 20 ms of PIT (1 GHz assumed without a PIT). */
static void vs_calibrate(void)
{
	uint64_t t0, t1, c0, c1;

	if (vs_tsc_per_ms)
		return;
	if (!pit_available()) {
		vs_tsc_per_ms = 1000000;
		return;
	}
	t0 = pit_now_us();
	c0 = vs_rdtsc();
	do
		t1 = pit_now_us();
	while (t1 - t0 < 20000);
	c1 = vs_rdtsc();
	vs_tsc_per_ms = (c1 - c0) * 1000 / (t1 - t0);
	if (!vs_tsc_per_ms)
		vs_tsc_per_ms = 1;
}

/* splitmix64's output function: word k of the pattern block. */
static uint64_t vs_splitmix(uint64_t k)
{
	uint64_t z = (k + 1) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void vs_fill_block(void)
{
	uint64_t *w = (uint64_t *)vs_blockmem;

	if (vs_block_ready)
		return;
	for (uint64_t k = 0; k < VS_BLOCK / 8; k++)
		w[k] = vs_splitmix(k);
	vs_block_ready = true;
}

uint32_t vs_stream_start(uint32_t port, bool to_host)
{
	return ((port * 2 + (to_host ? 0 : 1)) * 4099u + 17) & (VS_BLOCK - 1);
}

/*
 * Whether n bytes at a and b are equal. One "repe cmpsq" does the words:
 * guest kernel code is emulated here (~1 us per instruction), and the
 * emulator runs the iterations of a string instruction without decoding
 * each again, which makes checking a 64 KiB packet take a fraction of the
 * time a loop of loads and compares does.
 */
static bool vs_same(const uint8_t *a, const uint8_t *b, uint32_t n)
{
	uint64_t words = n / 8;
	bool eq = true;

	if (words)
		__asm__ volatile("cld; repe cmpsq"
				 : "+S"(a), "+D"(b), "+c"(words), "=@ccz"(eq)
				 :
				 : "memory");
	for (uint32_t i = 0; eq && i < n % 8; i++)
		eq = a[i] == b[i];
	return eq;
}

unsigned vs_tx_inflight(const struct vs_dev *v)
{
	return VS_TX_SLOTS - v->ntx_free;
}

/* ---- queues ---- */

static void vs_post_rx(struct vs_dev *v, int b)
{
	struct vq_seg s[2];
	int head, n;

	if (b & 1) {
		s[0] = (struct vq_seg){ (uintptr_t)vs_rxhdr[b], VS_HDR_SIZE, true };
		s[1] = (struct vq_seg){ (uintptr_t)vs_rxmem[b], VS_RXBUF_DATA, true };
		n = 2;
	} else {
		s[0] = (struct vq_seg){ (uintptr_t)vs_rxmem[b], VS_HDR_SIZE + VS_RXBUF_DATA, true };
		n = 1;
	}
	head = vq_add_chain(&v->rxq, s, (unsigned)n);
	if (head < 0) {
		v->fatal = "rx-ring-full";
		return;
	}
	v->rx_buf_of[head] = (int16_t)b;
	v->rx_added = true;
}

bool vs_send_raw(struct vs_dev *v, const void *hdr, uint32_t hdrlen, const void *data,
		 uint32_t len)
{
	struct vq_seg s[2];
	unsigned slot;
	int head;

	if (!v->ntx_free || hdrlen > sizeof(vs_txhdr[0]))
		return false;
	slot = v->tx_free[--v->ntx_free];
	memcpy(&vs_txhdr[slot], hdr, hdrlen);
	s[0] = (struct vq_seg){ (uintptr_t)&vs_txhdr[slot], hdrlen, false };
	s[1] = (struct vq_seg){ (uintptr_t)data, len, false };
	head = vq_add_chain(&v->txq, s, len ? 2 : 1);
	if (head < 0) {
		v->tx_free[v->ntx_free++] = (uint16_t)slot;
		return false;
	}
	v->tx_slot_of[head] = (int16_t)slot;
	v->tx_added = true;
	v->tx_pkts++;
	return true;
}

void vs_hdr_for(struct vs_dev *v, struct vs_conn *c, struct vs_hdr *h, uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = v->cid;
	h->dst_cid = VS_HOST_CID;
	h->src_port = c->lport;
	h->dst_port = c->rport;
	h->type = VS_TYPE_STREAM;
	h->op = op;
	/* 5.10.6.3: every packet says how much room we have and what we consumed. */
	h->buf_alloc = VS_BUF_ALLOC;
	h->fwd_cnt = c->fwd_cnt;
}

static bool vs_send(struct vs_dev *v, struct vs_conn *c, uint16_t op, uint32_t flags,
		    const void *data, uint32_t len)
{
	struct vs_hdr h;

	vs_hdr_for(v, c, &h, op);
	h.flags = flags;
	h.len = len;
	if (!vs_send_raw(v, &h, sizeof(h), data, len))
		return false;
	c->fwd_sent = c->fwd_cnt;
	return true;
}

/* An RST for a packet that matches nothing of ours (5.10.6.5). */
static void vs_send_rst(struct vs_dev *v, uint32_t lport, uint32_t rport)
{
	struct vs_conn tmp;

	memset(&tmp, 0, sizeof(tmp));
	tmp.lport = lport;
	tmp.rport = rport;
	vs_send(v, &tmp, VS_OP_RST, 0, 0, 0);
}

/* ---- connections ---- */

static struct vs_conn *vs_slot(struct vs_dev *v)
{
	for (unsigned i = 0; i < VS_MAX_CONNS; i++)
		if (v->conns[i].state == VS_FREE) {
			memset(&v->conns[i], 0, sizeof(v->conns[i]));
			return &v->conns[i];
		}
	return 0;
}

static struct vs_conn *vs_find(struct vs_dev *v, uint32_t lport, uint32_t rport)
{
	for (unsigned i = 0; i < VS_MAX_CONNS; i++) {
		struct vs_conn *c = &v->conns[i];

		if (c->state != VS_FREE && c->state != VS_LISTEN && c->lport == lport &&
		    c->rport == rport)
			return c;
	}
	return 0;
}

struct vs_conn *vs_listen(struct vs_dev *v, uint32_t lport)
{
	struct vs_conn *c = vs_slot(v);

	if (c) {
		c->state = VS_LISTEN;
		c->lport = lport;
	}
	return c;
}

struct vs_conn *vs_connect(struct vs_dev *v, uint32_t rport)
{
	struct vs_conn *c = vs_slot(v);

	if (!c)
		return 0;
	c->lport = v->next_lport++;
	c->rport = rport;
	c->state = VS_CONNECTING;
	if (!vs_send(v, c, VS_OP_REQUEST, 0, 0, 0)) {
		c->state = VS_FREE;
		return 0;
	}
	return c;
}

void vs_transfer(struct vs_conn *c, uint32_t test_port, uint64_t rx_want, uint64_t tx_want)
{
	c->test_port = test_port;
	c->rx_want = rx_want;
	c->tx_want = tx_want;
	c->rx_start = vs_stream_start(test_port, false);
	c->tx_start = vs_stream_start(test_port, true);
	c->verify = true;
}

static bool vs_complete(const struct vs_conn *c)
{
	return c->rx_got == c->rx_want && c->tx_sent == c->tx_want &&
	       (c->peer_shut & VS_SHUT_SEND) && !c->rx_bad;
}

bool vs_done(const struct vs_conn *c)
{
	return c->err || c->state == VS_CLOSED || c->state == VS_RESET || c->state == VS_REFUSED;
}

const char *vs_verdict(const struct vs_conn *c)
{
	if (c->err)
		return c->err;
	if (c->rx_bad)
		return "data-differs";
	switch (c->state) {
	case VS_REFUSED:
		return "refused";
	case VS_RESET:
		return "reset";
	case VS_CLOSED:
		break;
	case VS_LISTEN:
		return "no-connection";
	case VS_CONNECTING:
		return "no-response";
	default:
		return "not-closed";
	}
	if (c->rx_got != c->rx_want)
		return "rx-short";
	if (c->tx_sent != c->tx_want)
		return "tx-short";
	return 0;
}

static void vs_end(struct vs_conn *c, enum vs_state st)
{
	c->state = st;
	c->t_end = vs_now();
}

/* RW payload: count, check against the pattern, give credit back when half is used. */
static void vs_rx_data(struct vs_dev *v, struct vs_conn *c, const uint8_t *p, uint32_t len)
{
	if (c->verify && !c->rx_bad && c->rx_got + len <= c->rx_want) {
		uint32_t pos = (uint32_t)((c->rx_start + c->rx_got) % VS_BLOCK);
		uint32_t first = len < VS_BLOCK - pos ? len : VS_BLOCK - pos;

		if (!vs_same(p, vs_block + pos, first) ||
		    (len > first && !vs_same(p + first, vs_block, len - first))) {
			uint32_t k = 0;

			/* Once per connection: the exact stream offset of the first bad byte. */
			while (k < len && p[k] == vs_block[(pos + k) % VS_BLOCK])
				k++;
			c->rx_bad = true;
			c->rx_bad_at = c->rx_got + k;
		}
	}
	c->rx_got += len;
	c->fwd_cnt += len;
	if (c->rx_got > c->rx_want)
		c->err = "more-data-than-sent";
	if (c->rx_got >= c->rx_want && !c->t_rx_done)
		c->t_rx_done = vs_now();
	if (c->fwd_cnt - c->fwd_sent >= VS_BUF_ALLOC / 2)
		vs_send(v, c, VS_OP_CREDIT_UPDATE, 0, 0, 0);
}

/* A packet for one of our connections (5.10.6.5 state machine). */
static void vs_conn_packet(struct vs_dev *v, struct vs_conn *c, const struct vs_hdr *h,
			   const uint8_t *data)
{
	if (c->state == VS_PROBE) {
		c->last_op = h->op;
		c->nops++;
		return;
	}
	if (c->state == VS_CLOSED || c->state == VS_RESET || c->state == VS_REFUSED)
		return;   /* late packets of a finished connection */
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->credit_asked = false;
	switch (h->op) {
	case VS_OP_RST:
		if (c->state == VS_CONNECTING)
			vs_end(c, VS_REFUSED);
		else if (c->state == VS_CLOSING || vs_complete(c))
			vs_end(c, VS_CLOSED);
		else
			vs_end(c, VS_RESET);
		return;
	case VS_OP_RESPONSE:
		if (c->state != VS_CONNECTING) {
			c->err = "unexpected-response";
			return;
		}
		c->state = VS_OPEN;
		c->t_open = vs_now();
		return;
	case VS_OP_SHUTDOWN:
		c->peer_shut |= h->flags & VS_SHUT_BOTH;
		if (c->peer_shut == VS_SHUT_BOTH) {
			/* The host is done both ways: answer with RST (5.10.6.5). */
			vs_send(v, c, VS_OP_RST, 0, 0, 0);
			vs_end(c, vs_complete(c) ? VS_CLOSED : VS_RESET);
		}
		return;
	case VS_OP_RW:
		if (c->state != VS_OPEN && c->state != VS_CLOSING) {
			c->err = "data-before-open";
			return;
		}
		if (c->peer_shut & VS_SHUT_SEND) {
			c->err = "data-after-shutdown";
			return;
		}
		vs_rx_data(v, c, data, h->len);
		return;
	case VS_OP_CREDIT_UPDATE:
		return;
	case VS_OP_CREDIT_REQUEST:
		vs_send(v, c, VS_OP_CREDIT_UPDATE, 0, 0, 0);
		return;
	case VS_OP_REQUEST:
	default:
		c->err = h->op == VS_OP_REQUEST ? "request-on-open-connection" : "unknown-op";
		return;
	}
}

/* One used rx buffer: header checks, then the connection it belongs to. */
static void vs_rx_packet(struct vs_dev *v, int b, uint32_t used)
{
	const uint8_t *data = b & 1 ? vs_rxmem[b] : vs_rxmem[b] + VS_HDR_SIZE;
	struct vs_conn *c;
	struct vs_hdr h;

	if (used < VS_HDR_SIZE) {
		v->bad_pkts++;
		return;
	}
	memcpy(&h, b & 1 ? vs_rxhdr[b] : vs_rxmem[b], sizeof(h));
	v->rx_pkts++;
	if (h.len > used - VS_HDR_SIZE || h.len > VS_RXBUF_DATA || h.src_cid != VS_HOST_CID ||
	    h.dst_cid != v->cid || h.type != VS_TYPE_STREAM) {
		v->bad_pkts++;
		return;
	}
	c = vs_find(v, h.dst_port, h.src_port);
	if (c) {
		vs_conn_packet(v, c, &h, data);
		return;
	}
	if (h.op == VS_OP_REQUEST) {
		/* A host program connects: accept on a listening slot (5.10.6.5). */
		for (unsigned i = 0; i < VS_MAX_CONNS; i++) {
			c = &v->conns[i];
			if (c->state == VS_LISTEN && c->lport == h.dst_port) {
				c->rport = h.src_port;
				c->state = VS_OPEN;
				c->peer_buf_alloc = h.buf_alloc;
				c->peer_fwd_cnt = h.fwd_cnt;
				c->t_open = vs_now();
				vs_send(v, c, VS_OP_RESPONSE, 0, 0, 0);
				return;
			}
		}
		v->requests_refused++;
	} else if (h.op != VS_OP_RST) {
		v->strays++;
	}
	if (h.op != VS_OP_RST)
		vs_send_rst(v, h.dst_port, h.src_port);
}

/* Let an open connection move: data within the host's credit, then its shutdowns. */
static void vs_progress(struct vs_dev *v, struct vs_conn *c)
{
	if (c->state != VS_OPEN)
		return;
	while (c->tx_sent < c->tx_want && v->ntx_free > VS_TX_RESERVE) {
		uint32_t credit = c->peer_buf_alloc - (c->tx_cnt - c->peer_fwd_cnt);
		uint32_t pos = (uint32_t)((c->tx_start + c->tx_sent) % VS_BLOCK), n;

		if (c->tx_cnt - c->peer_fwd_cnt >= c->peer_buf_alloc)
			credit = 0;
		if (c->ignore_credit)
			credit = VS_MAX_PKT;
		if (!credit) {
			/* 5.10.6.3: out of credit: ask once, wait for news. */
			if (!c->credit_asked && vs_send(v, c, VS_OP_CREDIT_REQUEST, 0, 0, 0))
				c->credit_asked = true;
			break;
		}
		n = VS_BLOCK - pos;
		if (n > VS_MAX_PKT)
			n = VS_MAX_PKT;
		if (n > credit)
			n = credit;
		if (n > c->tx_want - c->tx_sent)
			n = (uint32_t)(c->tx_want - c->tx_sent);
		if (!vs_send(v, c, VS_OP_RW, 0, vs_block + pos, n))
			break;
		c->tx_sent += n;
		c->tx_cnt += n;
		if (c->tx_sent == c->tx_want)
			c->t_tx_done = vs_now();
	}
	if (c->tx_sent == c->tx_want && !c->shut_sent && vs_send(v, c, VS_OP_SHUTDOWN, VS_SHUT_SEND, 0, 0))
		c->shut_sent = true;
	/* Both directions finished: close (RCV|SEND), the host answers with RST. */
	if (c->shut_sent && (c->peer_shut & VS_SHUT_SEND) && c->rx_got >= c->rx_want &&
	    vs_send(v, c, VS_OP_SHUTDOWN, VS_SHUT_BOTH, 0, 0))
		c->state = VS_CLOSING;
}

void vs_poll(struct vs_dev *v)
{
	static unsigned idle;
	uint32_t len;
	int head;
	bool busy = false;

	/* Tx buffers back first: each rx packet may need one for its answer. */
	while ((head = vq_poll_used(&v->txq, &len)) != -1) {
		if (head < 0 || v->tx_slot_of[head] < 0) {
			v->fatal = "tx-bad-used-id";
			return;
		}
		v->tx_free[v->ntx_free++] = (uint16_t)v->tx_slot_of[head];
		v->tx_slot_of[head] = -1;
		busy = true;
	}
	while (v->ntx_free >= 2 && (head = vq_poll_used(&v->rxq, &len)) != -1) {
		int b;

		if (head < 0 || v->rx_buf_of[head] < 0) {
			v->fatal = "rx-bad-used-id";
			return;
		}
		b = v->rx_buf_of[head];
		v->rx_buf_of[head] = -1;
		vs_rx_packet(v, b, len);
		vs_post_rx(v, b);
		busy = true;
	}
	for (unsigned i = 0; i < VS_MAX_CONNS; i++)
		vs_progress(v, &v->conns[i]);
	if (v->rx_added)
		vq_kick(&v->rxq);
	if (v->tx_added)
		vq_kick(&v->txq);
	v->rx_added = v->tx_added = false;
	/* Now and then (an MMIO read is an exit): has the device given up? */
	if (!busy && ++idle % 256 == 0 && (virtio_status(v->vd) & VIRTIO_S_NEEDS_RESET))
		v->fatal = "device-needs-reset";
}

const char *vs_open(struct vs_dev *v, const char *cmd)
{
	static struct virtio_list l;
	struct virtio_dev *d = 0;
	const char *err;

	virtio_discover(cmd, &l);
	for (unsigned i = 0; i < l.n && !d; i++)
		if (!virtio_unusable(&l.devs[i]) && l.devs[i].device_id == VIRTIO_ID_VSOCK)
			d = &l.devs[i];
	if (!d)
		return "no-vsock-device";
	memset(v, 0, sizeof(*v));
	v->vd = d;
	vs_fill_block();
	vs_calibrate();
	err = virtio_negotiate(d, 1ULL << VIRTIO_VSOCK_F_STREAM | 1ULL << VIRTIO_F_RING_EVENT_IDX,
			       &v->offered);
	if (err)
		return err;
	/* 5.10.3: a device offering SEQPACKET only would not do streams. */
	if (virtio_has(v->offered, VIRTIO_VSOCK_F_SEQPACKET) && !virtio_has(v->offered, VIRTIO_VSOCK_F_STREAM)) {
		virtio_fail(d);
		return "no-stream-feature";
	}
	/* 5.10.5: guest_cid first. */
	v->cid = virtio_config(d, 0, 8);
	if ((err = vq_init(&v->rxq, d, 0, VS_QUEUE_SIZE)) || (err = vq_init(&v->txq, d, 1, VS_QUEUE_SIZE)) ||
	    (err = vq_init(&v->evq, d, 2, 4))) {
		virtio_fail(d);
		return err;
	}
	vq_interrupts(&v->rxq, false);
	vq_interrupts(&v->txq, false);
	vq_interrupts(&v->evq, false);
	for (unsigned i = 0; i < VQ_MAX_SIZE; i++)
		v->rx_buf_of[i] = v->tx_slot_of[i] = -1;
	for (unsigned i = 0; i < VS_TX_SLOTS; i++)
		v->tx_free[v->ntx_free++] = (uint16_t)i;
	/* 5.10.5: event buffers, then rx buffers. */
	for (unsigned i = 0; i < 4; i++) {
		struct vq_seg s = { (uintptr_t)&vs_evbuf[i], sizeof(vs_evbuf[i]), true };

		vq_add_chain(&v->evq, &s, 1);
	}
	for (int b = 0; b < VS_RXBUFS; b++)
		vs_post_rx(v, b);
	v->next_lport = 49152;
	virtio_driver_ok(d);
	vq_kick(&v->evq);
	vq_kick(&v->rxq);
	v->rx_added = false;
	return v->fatal;
}

void vs_close(struct vs_dev *v)
{
	if (v->vd)
		(void)virtio_reset(v->vd, 100000);
	v->vd = 0;
}

struct vs_dev *vs_get(const char *cmd, const char **err)
{
	static struct vs_dev dev;

	*err = 0;
	if (dev.vd && dev.fatal)
		vs_close(&dev);
	if (!dev.vd && (*err = vs_open(&dev, cmd)) != 0) {
		vs_close(&dev);
		return 0;
	}
	dev.rx_pkts = dev.tx_pkts = dev.bad_pkts = dev.strays = dev.requests_refused = 0;
	return &dev;
}

void vs_release(struct vs_dev *v)
{
	uint64_t end = vs_now() + vs_ticks(1000000);

	for (unsigned i = 0; i < VS_MAX_CONNS; i++) {
		struct vs_conn *c = &v->conns[i];

		/* An abandoned connection is reset, as a closing application's socket would be. */
		if (c->state == VS_OPEN || c->state == VS_CONNECTING || c->state == VS_CLOSING)
			while (!vs_send(v, c, VS_OP_RST, 0, 0, 0) && !v->fatal && vs_now() < end)
				vs_poll(v);   /* wait for a free tx buffer */
		c->state = VS_FREE;
	}
	/* Let the device take what was queued (RSTs, last answers). */
	end = vs_now() + vs_ticks(50000);
	while (vs_now() < end && !v->fatal && (vs_tx_inflight(v) || v->tx_added))
		vs_poll(v);
}
