/* net.c: virtio-net driver: negotiation, receive buffers (merged or not), transmit chains, polling and interrupts. */
#include "net.h"
#include "io.h"
#include "net_ip.h"
#include "lib.h"
#include "pit.h"

/* Longest frame put back together from merged buffers (no GSO is negotiated). */
#define NET_REASM_MAX 65562
/* How long the rest of a merged frame may lag behind its first buffer. */
#define NET_MERGE_WAIT_US 100000

static uint8_t net_rxmem[NET_RXBUFS_MAX][NET_RXBUF_MAX]
	__attribute__((section(".noinit"), aligned(4096)));
static uint8_t net_reasm[NET_REASM_MAX] __attribute__((section(".noinit"), aligned(64)));

static const uint8_t net_default_mac[6] = { 0x06, 0x00, 0xac, 0x10, 0x00, 0x02 };

void net_default_opts(struct net_opts *o)
{
	o->mrg = true;
	o->event_idx = true;
	o->rxbuf = NET_RXBUF_MAX;
	o->nrx = NET_RXBUFS_MAX;
}

void net_mac_str(const uint8_t mac[6], char out[18])
{
	static const char hex[] = "0123456789abcdef";

	for (unsigned i = 0; i < 6; i++) {
		out[3 * i] = hex[mac[i] >> 4];
		out[3 * i + 1] = hex[mac[i] & 15];
		out[3 * i + 2] = i < 5 ? ':' : 0;
	}
}

struct virtio_dev *net_find(struct virtio_list *l, const char *cmd, unsigned n)
{
	unsigned k = 0;

	virtio_discover(cmd, l);
	for (unsigned i = 0; i < l->n; i++)
		if (!virtio_unusable(&l->devs[i]) && l->devs[i].device_id == VIRTIO_ID_NET && k++ == n)
			return &l->devs[i];
	return 0;
}

bool net_needs_reset(struct net *n)
{
	return virtio_status(n->vd) & VIRTIO_S_NEEDS_RESET;
}

/* Post receive buffer b as a one-descriptor device-writable chain. */
static bool net_post(struct net *n, int b)
{
	struct vq_seg s = { (uintptr_t)net_rxmem[b], n->o.rxbuf, true };
	int head = vq_add_chain(&n->rxq, &s, 1);

	if (head < 0)
		return false;
	n->rx_buf_of[head] = (int16_t)b;
	return true;
}

const char *net_open(struct net *n, struct virtio_dev *d, const struct net_opts *o)
{
	uint64_t want = 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_MTU |
			1ULL << VIRTIO_NET_F_STATUS;
	const char *err;

	memset(n, 0, sizeof(*n));
	n->vd = d;
	n->o = *o;
	if (n->o.nrx > NET_RXBUFS_MAX)
		n->o.nrx = NET_RXBUFS_MAX;
	if (n->o.rxbuf > NET_RXBUF_MAX || n->o.rxbuf < NET_HDR_LEN + NET_ETH_HLEN || n->o.nrx == 0)
		return "bad-rx-buffer-size";
	if (o->mrg)
		want |= 1ULL << VIRTIO_NET_F_MRG_RXBUF;
	if (o->offload)
		want |= 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_GUEST_CSUM;
	if (o->event_idx)
		want |= 1ULL << VIRTIO_F_RING_EVENT_IDX;
	if ((err = virtio_negotiate(d, want, &n->offered)) != 0)
		return err;
	n->mrg = virtio_has(d->features, VIRTIO_NET_F_MRG_RXBUF);
	n->csum = virtio_has(d->features, VIRTIO_NET_F_CSUM) &&
		  virtio_has(d->features, VIRTIO_NET_F_GUEST_CSUM);
	/* 5.1.6.3.1: without merging, a buffer takes a whole 1514-byte frame and its header. */
	if (!n->mrg && n->o.rxbuf < NET_RXBUF_MIN_PLAIN) {
		virtio_fail(d);
		return "rxbuf-too-small-without-MRG_RXBUF";
	}
	n->mac_from_device = virtio_has(d->features, VIRTIO_NET_F_MAC);
	for (unsigned i = 0; i < 6; i++)
		n->mac[i] = n->mac_from_device ? (uint8_t)virtio_config(d, NET_CFG_MAC + i, 1)
					       : net_default_mac[i];
	n->has_mtu = virtio_has(d->features, VIRTIO_NET_F_MTU);
	n->mtu = n->has_mtu ? (uint16_t)virtio_config(d, NET_CFG_MTU, 2) : 1500;
	n->status = virtio_has(d->features, VIRTIO_NET_F_STATUS)
		    ? (uint16_t)virtio_config(d, NET_CFG_STATUS, 2) : VIRTIO_NET_S_LINK_UP;
	/* 5.1.2: receiveq1 is queue 0, transmitq1 queue 1. */
	if ((err = vq_init(&n->rxq, d, 0, NET_QUEUE_SIZE)) != 0 ||
	    (err = vq_init(&n->txq, d, 1, NET_QUEUE_SIZE)) != 0) {
		virtio_fail(d);
		return err;
	}
	for (unsigned i = 0; i < VQ_MAX_SIZE; i++)
		n->rx_buf_of[i] = -1;
	if (n->o.nrx > n->rxq.size)
		n->o.nrx = n->rxq.size;
	/* 5.1.5: fill the receive queue; notify only after DRIVER_OK (3.1.1). */
	for (unsigned b = 0; b < n->o.nrx; b++)
		net_post(n, (int)b);
	/* Polled by default: no used-buffer interrupts asked for. */
	vq_interrupts(&n->rxq, false);
	vq_interrupts(&n->txq, false);
	if (virtio_irq_setup(d) < 0) {
		virtio_fail(d);
		return "irq-beyond-ioapic";
	}
	virtio_driver_ok(d);
	vq_kick(&n->rxq);
	return 0;
}

void net_close(struct net *n)
{
	virtio_irq_enable(n->vd, false);
	(void)virtio_reset(n->vd, 100000);
	(void)virtio_irq_ack(n->vd);
}

unsigned net_tx_reclaim(struct net *n)
{
	uint32_t len;

	while (vq_poll_used(&n->txq, &len) != -1)
		;
	return (unsigned)(n->txq.size - n->txq.nfree);
}

int net_queue_tx(struct net *n, const struct vq_seg *segs, unsigned nseg)
{
	int head;

	net_tx_reclaim(n);
	head = vq_add_chain(&n->txq, segs, nseg);
	if (head >= 0)
		n->tx_frames++;
	return head;
}

void net_kick_tx(struct net *n)
{
	vq_kick(&n->txq);
}

int net_xmit(struct net *n, const struct vq_seg *segs, unsigned nseg)
{
	int head = net_queue_tx(n, segs, nseg);

	if (head >= 0)
		vq_kick(&n->txq);
	return head;
}

/* Hand back the buffers of a frame we will not look at, e.g. a malformed one. */
static int net_recv_drop(struct net *n, int err)
{
	net_recv_done(n);
	return err;
}

/* The next used receive element: its buffer index and length, or -1 / NET_E_QUEUE. */
static int net_next_buf(struct net *n, uint32_t *len)
{
	int head = vq_poll_used(&n->rxq, len), b;

	if (head == -1)
		return -1;
	if (head < 0 || n->rx_buf_of[head] < 0)
		return NET_E_QUEUE;
	b = n->rx_buf_of[head];
	n->rx_buf_of[head] = -1;
	n->cur_buf[n->cur_nbuf++] = b;
	if (*len > n->o.rxbuf)
		return NET_E_QUEUE;
	return b;
}

/* 5.1.6.4: num_buffers - 1 more used buffers, each but the last used up to its full length. */
static int net_merge(struct net *n, unsigned nb, uint32_t first_len, uint32_t *total)
{
	uint32_t off = first_len;
	uint64_t t0 = pit_now_us();

	memcpy(net_reasm, net_rxmem[n->cur_buf[0]] + NET_HDR_LEN, first_len);
	if (first_len + NET_HDR_LEN != n->o.rxbuf)
		return NET_E_QUEUE;
	for (unsigned i = 1; i < nb; i++) {
		uint32_t len;
		int b;

		while (!vq_has_used(&n->rxq)) {
			if (pit_now_us() - t0 > NET_MERGE_WAIT_US)
				return NET_E_QUEUE;
			cpu_pause();
		}
		b = net_next_buf(n, &len);
		if (b < 0 || off + len > NET_REASM_MAX || (i + 1 < nb && len != n->o.rxbuf))
			return NET_E_QUEUE;
		memcpy(net_reasm + off, net_rxmem[b], len);
		off += len;
	}
	*total = off;
	return 1;
}

/*
 * 5.1.6.4: with NEEDS_CSUM the checksum from csum_start to the end, stored at
 * csum_start + csum_offset (which holds the pseudo-header sum), is the
 * driver's to compute. False if the offsets are outside the frame.
 */
static bool net_complete_csum(uint8_t *f, uint32_t len, const struct net_hdr *h)
{
	uint32_t at = (uint32_t)h->csum_start + h->csum_offset;
	uint16_t c;

	if (h->csum_start >= len || at + 2 > len || !(h->flags & NET_HDR_F_NEEDS_CSUM))
		return false;
	c = net_csum_fold(net_sum(0, f + h->csum_start, len - h->csum_start));
	f[at] = (uint8_t)(c >> 8);
	f[at + 1] = (uint8_t)c;
	return true;
}

int net_recv(struct net *n, const uint8_t **frame, uint32_t *len, struct net_hdr *hdr)
{
	struct net_hdr h;
	uint32_t l;
	int b;
	unsigned nb;

	n->cur_nbuf = 0;
	b = net_next_buf(n, &l);
	if (b == -1)
		return NET_E_NONE;
	if (b < 0)
		return net_recv_drop(n, NET_E_QUEUE);
	if (l < NET_HDR_LEN) {
		n->rx_short++;
		return net_recv_drop(n, NET_E_QUEUE);
	}
	memcpy(&h, net_rxmem[b], sizeof(h));
	if (hdr)
		*hdr = h;
	nb = h.num_buffers;
	if (nb > n->numbuf_max)
		n->numbuf_max = nb;
	if (!n->mrg) {
		/* 5.1.6.4.1: 1 without MRG_RXBUF; counted, the frame is used anyway. */
		if (nb != 1)
			n->numbuf_not1++;
		nb = 1;
	}
	if (nb == 0 || nb > n->o.nrx)
		return net_recv_drop(n, NET_E_QUEUE);
	n->rx_frames++;
	if (nb == 1) {
		*frame = net_rxmem[b] + NET_HDR_LEN;
		*len = l - NET_HDR_LEN;
	} else {
		n->rx_merged++;
		if (net_merge(n, nb, l - NET_HDR_LEN, len) != 1)
			return net_recv_drop(n, NET_E_QUEUE);
		*frame = net_reasm;
	}
	if (h.flags & NET_HDR_F_NEEDS_CSUM) {
		/* Only with VIRTIO_NET_F_GUEST_CSUM (5.1.6.4.1 says flags are 0 otherwise). */
		if (!n->csum || !net_complete_csum((uint8_t *)(uintptr_t)*frame, *len, &h))
			return net_recv_drop(n, NET_E_QUEUE);
		n->rx_csum_partial++;
	}
	return 1;
}

void net_recv_done(struct net *n)
{
	for (unsigned i = 0; i < n->cur_nbuf; i++)
		net_post(n, n->cur_buf[i]);
	n->cur_nbuf = 0;
	vq_kick(&n->rxq);
}

void net_irq_arm(struct net *n)
{
	if (n->armed)
		return;
	vq_interrupts(&n->rxq, true);
	n->irq_base = n->vd->irq_used;
	n->armed = true;
	/*
	 * 2.7.7.2: the device interrupts when it moves used.idx past used_event;
	 * an element it published before that gets no interrupt of its own.
	 */
	n->armed_late = vq_has_used(&n->rxq);
	virtio_irq_enable(n->vd, true);
	/* See blk.c: interrupts on while polling the PIT, so KVM can inject. */
	cpu_sti();
}

bool net_wait_rx(struct net *n, uint64_t timeout_us, bool irq)
{
	struct virtio_dev *d = n->vd;
	uint64_t t0 = pit_now_us();
	unsigned spins = 0;
	bool armed;

	if (irq)
		net_irq_arm(n);
	armed = n->armed && !n->armed_late;
	if (n->armed && n->armed_late) {
		cpu_cli();
		virtio_irq_enable(d, false);
		vq_interrupts(&n->rxq, false);
		n->armed = false;
	}
	if (armed) {
		while (d->irq_used == n->irq_base && pit_now_us() - t0 < timeout_us &&
		       !((++spins & 15) == 0 && net_needs_reset(n)))
			cpu_pause();
		cpu_cli();
		virtio_irq_enable(d, false);
		vq_interrupts(&n->rxq, false);
		n->armed = false;
	}
	while (!vq_has_used(&n->rxq)) {
		if (pit_now_us() - t0 >= timeout_us)
			return false;
		if ((++spins & 15) == 0 && net_needs_reset(n))
			return false;
		cpu_pause();
	}
	if (armed) {
		n->irq_waits++;
		if (d->irq_used == n->irq_base)
			n->irq_missing++;
	} else {
		/* Whatever was raised while polling is acknowledged (InterruptStatus, 4.2.2). */
		(void)virtio_irq_ack(d);
	}
	return true;
}
