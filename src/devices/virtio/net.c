/* net.c: virtio-net over a tap: frames go between guest buffers and the tap with readv/writev, no copies. */
#include "devices/virtio/net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

/* Offsets in struct virtio_net_hdr (5.1.6). */
#define HDR_FLAGS        0
#define HDR_GSO_TYPE     1
#define HDR_GSO_SIZE     4
#define HDR_CSUM_START   6
#define HDR_CSUM_OFFSET  8
#define HDR_NUM_BUFFERS  10

/* struct virtio_net_config up to mtu (5.1.4): mac, status, max_virtqueue_pairs, mtu. */
#define VNET_CFG_SIZE    12

/* 802.1Q tag: a tagged frame may be this much longer than MTU + Ethernet header. */
#define VNET_VLAN_HLEN   4
#define VNET_DEFAULT_MTU 1500

static uint16_t vnet_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static bool vnet_has(uint64_t features, unsigned bit)
{
	return (features >> bit) & 1;
}

bool vnet_tx_hdr_ok(uint64_t features, const uint8_t hdr[VNET_HDR_SIZE], uint64_t frame_len,
		    unsigned mtu)
{
	uint8_t gso = hdr[HDR_GSO_TYPE];
	unsigned need;

	/* 5.1.6.2.1: a gso_type only with the matching HOST_* feature; no ECN (HOST_ECN not offered). */
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		need = 0;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		need = VIRTIO_NET_F_HOST_TSO4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		need = VIRTIO_NET_F_HOST_TSO6;
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		need = VIRTIO_NET_F_HOST_UFO;
		break;
	default:
		return false;
	}
	if (need && (!vnet_has(features, need) || vnet_le16(hdr + HDR_GSO_SIZE) == 0))
		return false;
	if (hdr[HDR_FLAGS] & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		uint32_t end = (uint32_t)vnet_le16(hdr + HDR_CSUM_START) +
			       vnet_le16(hdr + HDR_CSUM_OFFSET) + 2;

		if (!vnet_has(features, VIRTIO_NET_F_CSUM) || end > frame_len)
			return false;
	}
	/* 5.1.6.2.1: with VIRTIO_NET_F_MTU, no non-GSO frame beyond mtu plus the link header. */
	if (!need && mtu && vnet_has(features, VIRTIO_NET_F_MTU) &&
	    frame_len > (uint64_t)mtu + VNET_ETH_HLEN + VNET_VLAN_HLEN)
		return false;
	return true;
}

/* Copy @len bytes of @src to byte @off of the buffers @iov[0..@n). */
static void vnet_iov_put(const struct iovec *iov, unsigned n, size_t off, const void *src,
			 size_t len)
{
	const uint8_t *s = src;

	for (unsigned i = 0; i < n && len; i++) {
		size_t take;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		take = iov[i].iov_len - off < len ? iov[i].iov_len - off : len;
		memcpy((uint8_t *)iov[i].iov_base + off, s, take);
		s += take;
		len -= take;
		off = 0;
	}
}

/* ---- tap watching (event-loop thread) ---- */

static void vnet_on_tap(void *opaque, uint32_t events);

static void vnet_tap_watch(struct vnet *n, bool on)
{
	int r;

	if (on && (n->tap_broken || n->tap_fd < 0))
		on = false;
	if (on == n->tap_watched)
		return;
	if (on) {
		r = evloop_add(n->t.loop, n->tap_fd, EPOLLIN, vnet_on_tap, n);
		if (r) {
			mdev_inc(&n->metrics, M_net_event_fails);
			LOG_RATELIMITED(LOG_LEVEL_ERROR, "%s: cannot watch the tap: %s", n->name,
					strerror(-r));
			return;
		}
	} else {
		evloop_del(n->t.loop, n->tap_fd);
	}
	n->tap_watched = on;
}

/* Run the queue's handler again soon, as if the driver had notified it. */
static void vnet_requeue(struct vnet *n, unsigned q)
{
	if (virtio_mmio_requeue(&n->t, q) < 0)
		mdev_inc(&n->metrics, M_net_event_fails);
}

/*
 * Apply the offloads the driver negotiated to the tap (event-loop thread, so
 * that vCPU threads need no tap ioctls). False if the device failed.
 */
static bool vnet_apply_offloads(struct vnet *n)
{
	int r;

	if (n->offl_applied == n->offl_want)
		return true;
	if ((r = tap_set_offloads(n->tap_fd, n->offl_want))) {
		mdev_inc(&n->metrics, M_net_activate_fails);
		LOG_ERROR("%s: TUNSETOFFLOAD 0x%x: %s", n->name, n->offl_want, strerror(-r));
		virtio_mmio_fail(&n->t, "the tap refused the negotiated offloads");
		return false;
	}
	n->offl_applied = n->offl_want;
	return true;
}

/* ---- rate limiters ---- */

/* Queue @q's limiter says wait @ns: arm its timer. False if the timer cannot be armed (the
 * traffic then goes on: a limiter without its timer would stop the queue for good). */
static bool vnet_rl_wait(struct vnet *n, unsigned q, uint64_t ns)
{
	int r = rl_timer_arm(n->rl_fd[q], ns);

	mdev_inc(&n->metrics,
		 q == VNET_RXQ ? M_net_rx_rate_limiter_throttled : M_net_tx_rate_limiter_throttled);
	if (r) {
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: rate limiter timer: %s", n->name, strerror(-r));
		return false;
	}
	n->rl_waiting[q] = true;
	return true;
}

/* May the tap be read now? If not, the receive limiter's timer is armed. */
static bool vnet_rx_allowed(struct vnet *n)
{
	struct rate_limiter *rl = &n->rl[VNET_RXQ];
	uint64_t now;

	if (!rl_active(rl))
		return true;
	now = rl_clock_ns();
	return rl_ready(rl, now) || !vnet_rl_wait(n, VNET_RXQ, rl_wait_ns(rl, 1, now));
}

/* ---- receive (5.1.6.3, 5.1.6.4) ---- */

enum vnet_fill { FILL_OK, FILL_EMPTY, FILL_FULL, FILL_BROKEN };

/* Forget every held receive buffer (device reset: they belong to the old queue). */
static void vnet_rx_forget(struct vnet *n)
{
	n->rx_nchains = 0;
	n->rx_niov = 0;
	n->rx_cap = 0;
	if (n->pending_len) {
		mdev_inc(&n->metrics, M_net_rx_fails);
		n->pending_len = 0;
	}
}

/* Hand a buffer the device cannot use back unused (it is not ours to keep). */
static void vnet_rx_refuse(struct vnet *n, const char *why)
{
	struct virtq *q = &n->t.q[VNET_RXQ];

	mdev_inc(&n->metrics, M_net_rx_fails);
	LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: receive buffer refused: %s", n->name, why);
	virtq_push(q, n->chain.head, 0);
	virtio_mmio_signal_used(&n->t, VNET_RXQ);
}

/*
 * Take chains from the receive queue until the held buffers have @want bytes
 * (without MRG_RXBUF: one chain). While the device holds buffers it asks the
 * driver not to notify (2.7.10); when the ring runs dry it asks again.
 */
static enum vnet_fill vnet_rx_fill(struct vnet *n, uint64_t want)
{
	struct virtq *q = &n->t.q[VNET_RXQ];
	struct virtq_chain *c = &n->chain;
	uint32_t min = n->mrg ? VNET_HDR_SIZE : VNET_HDR_SIZE + VNET_ETH_HLEN;
	unsigned pops = 0;
	int r;

	while (n->mrg ? n->rx_cap < want : n->rx_nchains == 0) {
		if (n->rx_nchains >= VNET_QUEUE_SIZE || n->rx_nchains >= q->num)
			return FILL_FULL;
		/* A driver refilling bad buffers as fast as they are refused gets a turn limit. */
		if (pops++ > q->num)
			return FILL_EMPTY;
		r = virtq_pop(q, n->t.mem, c);
		if (r < 0) {
			mdev_inc(&n->metrics, M_net_event_fails);
			virtio_mmio_fail(&n->t, q->error);
			return FILL_BROKEN;
		}
		if (r == 0) {
			/* Empty: ask for a notification, then look once more (2.7.10). */
			if (virtq_set_notification(q, true))
				continue;
			return FILL_EMPTY;
		}
		if (!q->notify_off)
			virtq_set_notification(q, false);
		/* 5.1.6.3.1: receive buffers are device-writable and hold at least the header. */
		if (c->nread) {
			vnet_rx_refuse(n, "device-readable descriptor on the receive queue");
			continue;
		}
		if (c->writable < min || c->writable > UINT32_MAX) {
			vnet_rx_refuse(n, "buffer too small for a header");
			continue;
		}
		if (n->rx_niov + c->nseg > VNET_RX_IOV_MAX) {
			virtq_unpop(q);
			return FILL_FULL;
		}
		for (unsigned i = 0; i < c->nseg; i++)
			n->rx_iov[n->rx_niov + i] = (struct iovec){ c->seg[i].ptr, c->seg[i].len };
		n->rx_chain[n->rx_nchains++] = (struct vnet_rx_chain){ c->head, c->nseg,
									(uint32_t)c->writable };
		n->rx_niov += c->nseg;
		n->rx_cap += c->writable;
	}
	return FILL_OK;
}

/*
 * A frame of @len bytes (header included) is in the held buffers: fix the
 * header, give the chains it filled to the driver, drop them from the list.
 */
static void vnet_rx_finish(struct vnet *n, uint32_t len)
{
	struct virtq *q = &n->t.q[VNET_RXQ];
	uint32_t left = len;
	unsigned k = 0, niov = 0;
	uint8_t nb[2];

	if (rl_active(&n->rl[VNET_RXQ]))
		rl_charge(&n->rl[VNET_RXQ], len - VNET_HDR_SIZE, rl_clock_ns());
	/* 5.1.6.4: every buffer but the last is used up to its full length. */
	while (left && k < n->rx_nchains) {
		uint32_t take = n->rx_chain[k].cap < left ? n->rx_chain[k].cap : left;

		left -= take;
		niov += n->rx_chain[k].nseg;
		k++;
	}
	/* 5.1.6.4.1: num_buffers (1 without MRG_RXBUF); flags 0 unless GUEST_CSUM. */
	nb[0] = (uint8_t)k;
	nb[1] = (uint8_t)(k >> 8);
	vnet_iov_put(n->rx_iov, n->rx_chain[0].nseg, HDR_NUM_BUFFERS, nb, 2);
	if (!n->guest_csum) {
		uint8_t zero = 0;

		vnet_iov_put(n->rx_iov, n->rx_chain[0].nseg, HDR_FLAGS, &zero, 1);
	}
	/* The header is written before the used index is published (release in virtq_push). */
	left = len;
	for (unsigned i = 0; i < k; i++) {
		uint32_t take = n->rx_chain[i].cap < left ? n->rx_chain[i].cap : left;

		virtq_push(q, n->rx_chain[i].head, take);
		left -= take;
	}
	n->rx_nchains -= k;
	n->rx_niov -= niov;
	memmove(n->rx_chain, n->rx_chain + k, n->rx_nchains * sizeof(n->rx_chain[0]));
	memmove(n->rx_iov, n->rx_iov + niov, n->rx_niov * sizeof(n->rx_iov[0]));
	n->rx_cap = 0;
	for (unsigned i = 0; i < n->rx_nchains; i++)
		n->rx_cap += n->rx_chain[i].cap;
	mdev_add(&n->metrics, M_net_rx_bytes_count, len);
	mdev_inc(&n->metrics, M_net_rx_packets_count);
	mdev_inc(&n->metrics, M_net_rx_count);
}

/* Whether a received frame of @len bytes (header included) may go to the driver (5.1.6.4.1). */
static bool vnet_rx_frame_ok(struct vnet *n, uint64_t len, uint8_t gso_type)
{
	if (len < VNET_HDR_SIZE + VNET_ETH_HLEN || len > VNET_MAX_BUF)
		return false;
	/* With VIRTIO_NET_F_MTU nothing longer than mtu + link header unless GSO. */
	if (n->mtu_negotiated && (gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_NONE &&
	    len > VNET_HDR_SIZE + VNET_ETH_HLEN + VNET_VLAN_HLEN + (uint64_t)n->mtu) {
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: dropped a %llu-byte frame: longer than the MTU %u",
				n->name, (unsigned long long)(len - VNET_HDR_SIZE), n->mtu);
		return false;
	}
	return true;
}

/* Byte @off of what the held buffers (the first chain) received. */
static uint8_t vnet_rx_byte(const struct vnet *n, size_t off)
{
	for (unsigned i = 0; i < n->rx_chain[0].nseg; i++) {
		if (off < n->rx_iov[i].iov_len)
			return ((const uint8_t *)n->rx_iov[i].iov_base)[off];
		off -= n->rx_iov[i].iov_len;
	}
	return 0;
}

/* The pending frame: 1 delivered or dropped, 0 still waiting for buffers. */
static int vnet_rx_pending(struct vnet *n, enum vnet_fill fill)
{
	if (n->rx_cap >= n->pending_len) {
		vnet_iov_put(n->rx_iov, n->rx_niov, 0, n->bounce, n->pending_len);
		vnet_rx_finish(n, n->pending_len);
		n->pending_len = 0;
		return 1;
	}
	/* Every buffer the queue can hold is ours and it still does not fit. */
	if (fill == FILL_FULL || n->rx_niov >= n->t.q[VNET_RXQ].num) {
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: dropped a %u-byte frame: larger than the whole receive queue",
				n->name, n->pending_len);
		mdev_inc(&n->metrics, M_net_rx_fails);
		n->pending_len = 0;
		return 1;
	}
	return 0;
}

/* A tap read failed with @e: 0 to stop reading for now. */
static int vnet_rx_read_error(struct vnet *n, int e)
{
	if (e == EAGAIN || e == EWOULDBLOCK)
		return 0;
	if (e == EINTR)
		return 1;
	mdev_inc(&n->metrics, M_net_tap_read_fails);
	mdev_inc(&n->metrics, M_net_rx_fails);
	LOG_ERROR("%s: reading the tap failed, receiving stops: %s", n->name, strerror(e));
	n->tap_broken = true;
	return 0;
}

/* Copy the first @len bytes the held buffers received to @dst. */
static void vnet_rx_copy_out(const struct vnet *n, uint8_t *dst, size_t len)
{
	for (unsigned i = 0; i < n->rx_niov && len; i++) {
		size_t take = n->rx_iov[i].iov_len < len ? n->rx_iov[i].iov_len : len;

		memcpy(dst, n->rx_iov[i].iov_base, take);
		dst += take;
		len -= take;
	}
}

/*
 * Read one frame from the tap straight into the held buffers (the first
 * chain without MRG_RXBUF, all of them with it). Returns 2 if a frame was
 * delivered, 1 if one was dropped or kept pending, 0 when the tap is empty.
 */
static int vnet_rx_read(struct vnet *n)
{
	unsigned niov = n->mrg ? n->rx_niov : n->rx_chain[0].nseg;
	uint64_t cap = n->mrg ? n->rx_cap : n->rx_chain[0].cap;
	struct iovec saved = n->rx_iov[niov];
	ssize_t got;

	/*
	 * The tap cuts a frame short to the room it is given and reports only
	 * what it copied: the bounce buffer, one iovec more, catches the rest,
	 * so that a frame is never passed on cut short. (rx_iov has a spare
	 * entry at the end; an entry borrowed from the next chain is put back.)
	 */
	n->rx_iov[niov] = (struct iovec){ n->bounce, VNET_MAX_BUF };
	got = readv(n->tap_fd, n->rx_iov, (int)niov + 1);
	n->rx_iov[niov] = saved;
	if (got < 0)
		return vnet_rx_read_error(n, errno);
	if ((uint64_t)got > cap) {
		if (!n->mrg || got > VNET_MAX_BUF) {
			/* 5.1.6.3.1: without merging, one buffer must hold the frame. */
			LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: dropped a %zd-byte frame: the receive buffer holds %llu",
					n->name, got, (unsigned long long)cap);
			mdev_inc(&n->metrics, M_net_rx_fails);
			return 1;
		}
		/* More than the held buffers: keep it whole, pending until buffers come. */
		memmove(n->bounce + cap, n->bounce, (size_t)((uint64_t)got - cap));
		vnet_rx_copy_out(n, n->bounce, (size_t)cap);
		if (!vnet_rx_frame_ok(n, (uint64_t)got, n->bounce[HDR_GSO_TYPE])) {
			mdev_inc(&n->metrics, M_net_rx_fails);
			return 1;
		}
		n->pending_len = (uint32_t)got;
		return 1;
	}
	if (!vnet_rx_frame_ok(n, (uint64_t)got, vnet_rx_byte(n, HDR_GSO_TYPE))) {
		mdev_inc(&n->metrics, M_net_rx_fails);
		return 1;
	}
	vnet_rx_finish(n, (uint32_t)got);
	return 2;
}

/*
 * Give the guest the MMDS stack's next frame: true if delivered. Without
 * merged buffers it must fit the first chain; with them, the chains held.
 */
static bool vnet_rx_mmds(struct vnet *n, enum vnet_fill fill)
{
	uint64_t cap = n->mrg ? n->rx_cap : n->rx_chain[0].cap;
	uint8_t *b = n->bounce;
	size_t len;

	if (n->mrg && cap < VNET_HDR_SIZE + MMDS_FRAME_MAX && fill != FILL_FULL &&
	    vnet_rx_fill(n, VNET_HDR_SIZE + MMDS_FRAME_MAX) == FILL_OK)
		cap = n->rx_cap;
	memset(b, 0, VNET_HDR_SIZE);
	len = mmds_stack_pop(n->mmds, b + VNET_HDR_SIZE, MMDS_FRAME_MAX);
	if (len == 0 || VNET_HDR_SIZE + len > cap) {
		mdev_inc(&n->metrics, M_net_rx_fails);
		return false;
	}
	len += VNET_HDR_SIZE;
	vnet_iov_put(n->rx_iov, n->mrg ? n->rx_niov : n->rx_chain[0].nseg, 0, b, len);
	vnet_rx_finish(n, (uint32_t)len);
	return true;
}

/*
 * Move frames from the tap to the guest until the tap is empty, the guest has
 * no buffers, or the budget is spent; watch the tap only while buffers are
 * there (no busy loop). @tap_event: the tap said it is readable.
 */
static void vnet_rx_run(struct vnet *n, bool tap_event)
{
	struct virtq *q = &n->t.q[VNET_RXQ];
	bool delivered = false, watch = false;
	enum vnet_fill fill;
	int r;

	if (n->t.paused || (n->t.active && !vnet_apply_offloads(n)) || n->rl_waiting[VNET_RXQ]) {
		vnet_tap_watch(n, false);
		return;
	}
	for (unsigned budget = VNET_BUDGET; budget; budget--) {
		bool mmds = n->mmds && mmds_stack_pending(n->mmds) && !n->pending_len;

		if (!n->t.active || !q->ready || q->broken || (n->tap_broken && !mmds))
			break;
		fill = vnet_rx_fill(n, n->pending_len > n->rx_need ? n->pending_len : n->rx_need);
		if (fill == FILL_BROKEN)
			break;
		if (!vnet_rx_allowed(n)) {
			watch = false;   /* the limiter's timer looks again */
			break;
		}
		if (n->pending_len) {
			r = vnet_rx_pending(n, fill);
			if (r == 0)
				break;
			delivered = true;
			continue;
		}
		if (n->rx_nchains == 0) {
			if (tap_event)
				mdev_inc(&n->metrics, M_net_no_rx_avail_buffer);
			break;
		}
		if (mmds) {
			if (vnet_rx_mmds(n, fill))
				delivered = true;
			continue;
		}
		if (n->tap_broken)
			break;
		r = vnet_rx_read(n);
		if (r == 2)
			delivered = true;
		if (r == 0) {
			watch = true;
			break;
		}
		watch = budget == 1;
	}
	if (delivered)
		virtio_mmio_signal_used(&n->t, VNET_RXQ);
	vnet_tap_watch(n, watch);
}

static void vnet_on_tap(void *opaque, uint32_t events)
{
	struct vnet *n = opaque;

	(void)events;
	pthread_mutex_lock(&n->t.lock);
	mdev_inc(&n->metrics, M_net_rx_tap_event_count);
	vnet_rx_run(n, true);
	pthread_mutex_unlock(&n->t.lock);
}

/* ---- transmit (5.1.6.2) ---- */

/* Whether the MMDS stack took the frame of @c (@frame_len bytes after the header). */
static bool vnet_tx_mmds(struct vnet *n, const struct virtq_chain *c, uint64_t frame_len)
{
	uint8_t head[MMDS_PEEK];
	uint64_t got = virtq_chain_read(c, VNET_HDR_SIZE, head, sizeof(head));

	if (!mmds_stack_wants(n->mmds, head, (size_t)got))
		return false;
	/* Copied out first: the guest may change its buffers while the stack reads. */
	got = virtq_chain_read(c, VNET_HDR_SIZE, n->mmds_buf, (size_t)frame_len);
	return mmds_stack_input(n->mmds, n->mmds_buf, (size_t)got);
}

/* Send one chain's frame to the tap; false if it was malformed. */
static bool vnet_tx_frame(struct vnet *n, const struct virtq_chain *c)
{
	uint8_t hdr[VNET_HDR_SIZE], src[6];
	uint64_t frame_len;
	unsigned niov = 1;
	uint64_t off = VNET_HDR_SIZE;
	ssize_t w;

	/* Device-readable only, a header and an Ethernet header at least, 64 KiB at most. */
	if (c->nseg != c->nread || c->readable < VNET_HDR_SIZE + VNET_ETH_HLEN ||
	    c->readable > VNET_MAX_BUF)
		return false;
	frame_len = c->readable - VNET_HDR_SIZE;
	/* Checked and sent from our own copy: the driver may change its copy meanwhile. */
	virtq_chain_read(c, 0, hdr, sizeof(hdr));
	if (!vnet_tx_hdr_ok(n->t.driver_features, hdr, frame_len, n->mtu))
		return false;
	if (n->mmds && vnet_tx_mmds(n, c, frame_len))
		return true;
	/* 5.1.6.2.2: flag bits the device does not know are ignored, not passed on. */
	hdr[HDR_FLAGS] &= VIRTIO_NET_HDR_F_NEEDS_CSUM;
	if (n->has_mac && virtq_chain_read(c, VNET_HDR_SIZE + 6, src, 6) == 6 &&
	    memcmp(src, n->mac, 6) != 0)
		mdev_inc(&n->metrics, M_net_tx_spoofed_mac_count);
	n->tx_iov[0] = (struct iovec){ hdr, sizeof(hdr) };
	for (unsigned i = 0; i < c->nread; i++) {
		const struct virtq_seg *s = &c->seg[i];

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n->tx_iov[niov++] = (struct iovec){ (uint8_t *)s->ptr + off, s->len - off };
		off = 0;
	}
	do
		w = writev(n->tap_fd, n->tx_iov, (int)niov);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)c->readable) {
		mdev_inc(&n->metrics, M_net_tx_fails);
		mdev_inc(&n->metrics, M_net_tap_write_fails);
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: writing a %llu-byte frame to the tap failed: %s",
				n->name, (unsigned long long)frame_len,
				w < 0 ? strerror(errno) : "short write");
		return true;
	}
	mdev_add(&n->metrics, M_net_tx_bytes_count, c->readable);
	mdev_inc(&n->metrics, M_net_tx_packets_count);
	mdev_inc(&n->metrics, M_net_tx_count);
	return true;
}

static void vnet_tx_run(struct vnet *n)
{
	struct virtq *q = &n->t.q[VNET_TXQ];
	struct rate_limiter *rl = &n->rl[VNET_TXQ];
	unsigned done = 0;
	bool held = false;
	int r = 0;

	if (n->rl_waiting[VNET_TXQ])
		return;        /* the limiter's timer resumes the queue */
	while (done < VNET_BUDGET && (r = virtq_pop(q, n->t.mem, &n->chain)) == 1) {
		if (rl_active(rl)) {
			uint64_t now = rl_clock_ns(), len = n->chain.readable;
			uint64_t bytes = len > VNET_HDR_SIZE ? len - VNET_HDR_SIZE : 0;

			if (!rl_consume(rl, bytes, now) &&
			    vnet_rl_wait(n, VNET_TXQ, rl_wait_ns(rl, bytes, now))) {
				virtq_unpop(q);
				held = true;
				break;
			}
		}
		if (!vnet_tx_frame(n, &n->chain)) {
			mdev_inc(&n->metrics, M_net_tx_malformed_frames);
			LOG_RATELIMITED(LOG_LEVEL_WARN,
					"%s: dropped a malformed frame (%u segments, %llu readable and %llu writable bytes)",
					n->name, n->chain.nseg, (unsigned long long)n->chain.readable,
					(unsigned long long)n->chain.writable);
		}
		/* The buffer goes back either way, nothing written (5.1.6.2). */
		virtq_push(q, n->chain.head, 0);
		done++;
	}
	if (held) {
		/* frames wait on the ring for the limiter's timer */
	} else if (r < 0) {
		mdev_inc(&n->metrics, M_net_tx_malformed_frames);
		virtio_mmio_fail(&n->t, q->error);
	} else if (r == 1) {
		/* Budget spent with frames left: come back after the other devices. */
		mdev_inc(&n->metrics, M_net_tx_remaining_reqs_count);
		vnet_requeue(n, VNET_TXQ);
	}
	if (done)
		virtio_mmio_signal_used(&n->t, VNET_TXQ);
	else if (r == 0)
		mdev_inc(&n->metrics, M_net_no_tx_avail_buffer);
	/*
	 * MMDS answers go to the guest next, from the event-loop thread (this may be a vCPU
	 * thread, whose seccomp filter has no tap reads).
	 */
	if (n->mmds && mmds_stack_pending(n->mmds))
		vnet_requeue(n, VNET_RXQ);
}

/* A limiter lets traffic through again: serve what waits (the ring, or the tap). */
static void vnet_on_limiter(struct vnet *n, unsigned q)
{
	uint64_t ticks;

	if (read(n->rl_fd[q], &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&n->t.lock);
	mdev_inc(&n->metrics,
		 q == VNET_RXQ ? M_net_rx_event_rate_limiter_count : M_net_tx_rate_limiter_event_count);
	n->rl_waiting[q] = false;
	if (n->t.paused)
		n->t.held |= 1u << q;   /* served at resume */
	else if (q == VNET_RXQ)
		vnet_rx_run(n, false);
	else if (n->t.active && n->t.q[q].ready && !n->t.q[q].broken)
		vnet_tx_run(n);
	pthread_mutex_unlock(&n->t.lock);
}

static void vnet_on_rx_limiter(void *opaque, uint32_t events)
{
	(void)events;
	vnet_on_limiter(opaque, VNET_RXQ);
}

static void vnet_on_tx_limiter(void *opaque, uint32_t events)
{
	(void)events;
	vnet_on_limiter(opaque, VNET_TXQ);
}

void vnet_set_limiters(struct vnet *n, const struct rate_limiter_cfg *rx,
		       const struct rate_limiter_cfg *tx)
{
	const struct rate_limiter_cfg *c[VNET_NUM_QUEUES] = { [VNET_RXQ] = rx, [VNET_TXQ] = tx };

	pthread_mutex_lock(&n->t.lock);
	for (unsigned q = 0; q < VNET_NUM_QUEUES; q++) {
		if (!c[q])
			continue;
		rl_update(&n->rl[q], c[q], rl_clock_ns());
		if (n->rl_waiting[q]) {
			/* Waiting under the old buckets: look again under the new ones. */
			(void)rl_timer_arm(n->rl_fd[q], 0);
			n->rl_waiting[q] = false;
			vnet_requeue(n, q);
		}
	}
	pthread_mutex_unlock(&n->t.lock);
}

/* ---- transport callbacks ---- */

static void vnet_notify(struct virtio_mmio *t, unsigned q)
{
	struct vnet *n = t->dev;

	if (q == VNET_RXQ) {
		mdev_inc(&n->metrics, M_net_rx_queue_event_count);
		vnet_rx_run(n, false);
	} else if (q == VNET_TXQ) {
		mdev_inc(&n->metrics, M_net_tx_queue_event_count);
		vnet_tx_run(n);
	}
}

static void vnet_config(const struct vnet *n, uint8_t cfg[VNET_CFG_SIZE])
{
	uint16_t status = VIRTIO_NET_S_LINK_UP, pairs = 1, mtu = n->mtu;

	memcpy(cfg, n->mac, 6);
	memcpy(cfg + 6, &status, 2);
	memcpy(cfg + 8, &pairs, 2);
	memcpy(cfg + 10, &mtu, 2);
}

static void vnet_config_read(struct virtio_mmio *t, uint64_t off, uint8_t *data, unsigned len)
{
	struct vnet *n = t->dev;
	uint8_t cfg[VNET_CFG_SIZE];

	vnet_config(n, cfg);
	if (virtio_mmio_config_window(cfg, sizeof(cfg), off, data, len))
		mdev_inc(&n->metrics, M_net_cfg_fails);
}

/* Only the MAC may be written, as legacy drivers do (Firecracker allows it too). */
static void vnet_config_write(struct virtio_mmio *t, uint64_t off, const uint8_t *data,
			      unsigned len)
{
	struct vnet *n = t->dev;

	if (off >= 6 || len > 6 - off) {
		mdev_inc(&n->metrics, M_net_cfg_fails);
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: write to read-only config space at 0x%llx",
				n->name, (unsigned long long)off);
		return;
	}
	memcpy(n->mac + off, data, len);
	mdev_inc(&n->metrics, M_net_mac_address_updates);
}

static int vnet_activate(struct virtio_mmio *t)
{
	struct vnet *n = t->dev;
	uint64_t f = t->driver_features;
	unsigned offl = 0, mtu = n->mtu ? n->mtu : VNET_DEFAULT_MTU;

	n->mrg = vnet_has(f, VIRTIO_NET_F_MRG_RXBUF);
	n->mtu_negotiated = n->mtu && vnet_has(f, VIRTIO_NET_F_MTU);
	n->guest_csum = vnet_has(f, VIRTIO_NET_F_GUEST_CSUM);
	/* What the tap may hand us is what the driver said it can take (5.1.6.4, tuntap.rst). */
	if (n->guest_csum) {
		offl = TAP_F_CSUM;
		if (vnet_has(f, VIRTIO_NET_F_GUEST_TSO4))
			offl |= TAP_F_TSO4;
		if (vnet_has(f, VIRTIO_NET_F_GUEST_TSO6))
			offl |= TAP_F_TSO6;
		if (vnet_has(f, VIRTIO_NET_F_GUEST_UFO))
			offl |= TAP_F_UFO;
		offl &= n->tap_offloads;
	}
	n->offl_want = offl;
	/* 5.1.6.3.1: the buffer sizes the driver was told to give. */
	n->rx_need = offl & (TAP_F_TSO4 | TAP_F_TSO6 | TAP_F_UFO) ? VNET_MAX_BUF
		     : VNET_HDR_SIZE + VNET_ETH_HLEN + VNET_VLAN_HLEN + mtu;
	vnet_rx_forget(n);
	/* Start receiving on the event-loop thread: buffers may be there already. */
	vnet_requeue(n, VNET_RXQ);
	return 0;
}

static void vnet_reset(struct virtio_mmio *t)
{
	/* The tap stays watched until its next event sees the device inactive. */
	vnet_rx_forget(t->dev);
}

static const struct virtio_dev_ops vnet_ops = {
	.device_id = VIRTIO_ID_NET,
	.config_read = vnet_config_read,
	.config_write = vnet_config_write,
	.activate = vnet_activate,
	.reset = vnet_reset,
	.queue_notify = vnet_notify,
};

int vnet_init(struct vnet *n, const struct net_cfg *cfg, int tap_fd, const struct kvm_vm *vm,
	      const struct guest_mem *mem, struct evloop *loop, uint64_t base, unsigned irq)
{
	uint64_t features = (1ULL << VIRTIO_NET_F_STATUS) | (1ULL << VIRTIO_NET_F_MRG_RXBUF);
	int r;

	memset(n, 0, sizeof(*n));
	n->tap_fd = tap_fd;
	n->rl_fd[VNET_RXQ] = n->rl_fd[VNET_TXQ] = -1;
	snprintf(n->iface_id, sizeof(n->iface_id), "%s", cfg->iface_id);
	snprintf(n->name, sizeof(n->name), "net %s", cfg->iface_id);
	if ((r = metric_dev_register(&n->metrics, "net", cfg->iface_id, M_net_activate_fails,
				     M_net_tx_remaining_reqs_count)))
		return r;
	if (cfg->mtu > UINT16_MAX || (cfg->mtu && cfg->mtu < 68))
		return -EINVAL;
	n->mtu = (uint16_t)cfg->mtu;
	n->has_mac = cfg->has_guest_mac;
	if (n->has_mac) {
		memcpy(n->mac, cfg->guest_mac, 6);
		features |= 1ULL << VIRTIO_NET_F_MAC;
	}
	if (n->mtu)
		features |= 1ULL << VIRTIO_NET_F_MTU;
	/* Offloads only as far as the tap takes them (5.1.3.1 dependencies: *_TSO and *_UFO need CSUM). */
	n->tap_offloads = tap_probe_offloads(tap_fd);
	if (n->tap_offloads & TAP_F_CSUM) {
		features |= 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_GUEST_CSUM;
		if (n->tap_offloads & TAP_F_TSO4)
			features |= 1ULL << VIRTIO_NET_F_GUEST_TSO4 | 1ULL << VIRTIO_NET_F_HOST_TSO4;
		if (n->tap_offloads & TAP_F_TSO6)
			features |= 1ULL << VIRTIO_NET_F_GUEST_TSO6 | 1ULL << VIRTIO_NET_F_HOST_TSO6;
		if (n->tap_offloads & TAP_F_UFO)
			features |= 1ULL << VIRTIO_NET_F_GUEST_UFO | 1ULL << VIRTIO_NET_F_HOST_UFO;
	}
	n->bounce = malloc(VNET_MAX_BUF);
	if (!n->bounce)
		return -ENOMEM;
	r = virtio_mmio_init(&n->t, &vnet_ops, n, n->name, vm, mem, loop, base, irq,
			     VNET_NUM_QUEUES, VNET_QUEUE_SIZE, features);
	/* Both limiters have their timer: PATCH may give the interface limits later. */
	rl_init(&n->rl[VNET_RXQ], &cfg->rx_rate_limiter, rl_clock_ns());
	rl_init(&n->rl[VNET_TXQ], &cfg->tx_rate_limiter, rl_clock_ns());
	for (unsigned q = 0; q < VNET_NUM_QUEUES && r == 0; q++) {
		n->rl_fd[q] = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (n->rl_fd[q] < 0)
			r = -errno;
		else
			r = evloop_add(loop, n->rl_fd[q], EPOLLIN,
				       q == VNET_RXQ ? vnet_on_rx_limiter : vnet_on_tx_limiter, n);
	}
	return r;
}

static uint64_t vnet_now_ms(void)
{
	return clock_now_us() / 1000;
}

int vnet_set_mmds(struct vnet *n, struct mmds *m, uint32_t ip)
{
	n->mmds = calloc(1, sizeof(*n->mmds));
	n->mmds_buf = malloc(VNET_MAX_FRAME);
	if (!n->mmds || !n->mmds_buf)
		return -ENOMEM;
	return mmds_stack_init(n->mmds, m, ip, vnet_now_ms);
}

void vnet_destroy(struct vnet *n)
{
	metric_dev_unregister(&n->metrics);
	if (n->tap_watched)
		evloop_del(n->t.loop, n->tap_fd);
	n->tap_watched = false;
	for (unsigned q = 0; q < VNET_NUM_QUEUES; q++) {
		if (n->rl_fd[q] <= 0)   /* 0: a zeroed object (fd 0 is never ours) */
			continue;
		if (n->t.loop)
			(void)evloop_del(n->t.loop, n->rl_fd[q]);
		close(n->rl_fd[q]);
		n->rl_fd[q] = -1;
	}
	virtio_mmio_destroy(&n->t);
	/* fd 0 is never a tap here: a zeroed object must not close stdin. */
	if (n->tap_fd > 0)
		close(n->tap_fd);
	n->tap_fd = -1;
	free(n->bounce);
	n->bounce = NULL;
	if (n->mmds)
		mmds_stack_destroy(n->mmds);
	free(n->mmds);
	free(n->mmds_buf);
	n->mmds = NULL;
	n->mmds_buf = NULL;
}

/* ---- device table hooks ---- */

static void vnet_pause(void *dev)
{
	struct vnet *n = dev;

	virtio_mmio_pause(&n->t);
	pthread_mutex_lock(&n->t.lock);
	vnet_tap_watch(n, false);
	pthread_mutex_unlock(&n->t.lock);
}

static void vnet_resume(void *dev)
{
	struct vnet *n = dev;

	virtio_mmio_resume(&n->t);
	vnet_requeue(n, VNET_RXQ);
}

static void vnet_save(void *dev, void *state)
{
	struct vnet *n = dev;
	struct vnet_state *st = state;

	virtio_mmio_save(&n->t, &st->t);
	pthread_mutex_lock(&n->t.lock);
	/*
	 * Receive buffers held but not used go back to the driver's ring: they are
	 * the last ones taken, in order, so the device takes them again after a
	 * restore. A frame waiting in the bounce buffer is lost, as on a wire.
	 */
	st->t.q[VNET_RXQ].last_avail = (uint16_t)(st->t.q[VNET_RXQ].last_avail - n->rx_nchains);
	memcpy(st->mac, n->mac, sizeof(st->mac));
	st->has_mac = n->has_mac;
	pthread_mutex_unlock(&n->t.lock);
}

static int vnet_restore(void *dev, const void *state, struct err *e)
{
	struct vnet *n = dev;
	const struct vnet_state *st = state;

	if (st->has_mac > 1)
		return err_set(e, -EINVAL, "%s: a flag out of range", n->name);
	pthread_mutex_lock(&n->t.lock);
	memcpy(n->mac, st->mac, sizeof(n->mac));
	n->has_mac = st->has_mac;
	vnet_rx_forget(n);     /* buffers this device held are not the saved ring's */
	pthread_mutex_unlock(&n->t.lock);
	return virtio_mmio_restore(&n->t, &st->t, e);
}

static void vnet_dev_destroy(void *dev)
{
	vnet_destroy(dev);
}

const struct dev_ops vnet_dev_ops = {
	.kind = DEV_NET,
	.name = "net",
	.state_size = sizeof(struct vnet_state),
	.pause = vnet_pause,
	.resume = vnet_resume,
	.save = vnet_save,
	.restore = vnet_restore,
	.destroy = vnet_dev_destroy,
};
