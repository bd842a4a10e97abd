/* net_ep.c: the guest's end of the link: ARP resolution and replies, ICMP echo and UDP echo exchanges with the gateway. */
#include "net_ip.h"
#include "io.h"
#include "lib.h"
#include "pit.h"

#define NET_TXBUF (NET_HDR_LEN + NET_MAX_FRAME)
/* Ethernet's minimum frame (without FCS): ARP frames are padded to it. */
#define NET_ETH_MIN 60

static uint8_t net_txbuf[NET_TXBUF] __attribute__((aligned(64)));
static uint8_t net_arpbuf[NET_HDR_LEN + NET_ETH_MIN] __attribute__((aligned(64)));
static const uint8_t net_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void net_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void net_put32(uint8_t *p, uint32_t v)
{
	net_put16(p, (uint16_t)(v >> 16));
	net_put16(p + 2, (uint16_t)v);
}

unsigned net_ep_payload_max(const struct net_ep *e, unsigned l4hdr)
{
	unsigned mtu = e->n->mtu < NET_MAX_FRAME - NET_ETH_HLEN - 4 ? e->n->mtu
			: NET_MAX_FRAME - NET_ETH_HLEN - 4;

	return mtu > NET_IP_HLEN + l4hdr ? mtu - NET_IP_HLEN - l4hdr : 0;
}

uint8_t *net_ep_txbuf(void)
{
	return net_txbuf;
}

void net_ep_init(struct net_ep *e, struct net *n, const struct net_ipcfg *ip)
{
	memset(e, 0, sizeof(*e));
	e->n = n;
	e->ip = *ip;
	e->ip_id = 1;
}

bool net_ep_tx_idle(struct net_ep *e)
{
	uint64_t t0 = pit_now_us();

	while (net_tx_reclaim(e->n)) {
		if (pit_now_us() - t0 > 1000000)
			return false;
		cpu_pause();
	}
	return true;
}

/* A zero virtio-net header (no offloads: 5.1.6.2 with flags and gso_type 0) and an Ethernet header. */
static uint8_t *net_eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memset(buf, 0, NET_HDR_LEN);
	memcpy(buf + NET_HDR_LEN, dst, 6);
	memcpy(buf + NET_HDR_LEN + 6, src, 6);
	net_put16(buf + NET_HDR_LEN + 12, type);
	return buf + NET_HDR_LEN + NET_ETH_HLEN;
}

static uint32_t net_arp(struct net_ep *e, uint8_t *buf, uint16_t op, const uint8_t *tha,
			uint32_t tip)
{
	uint8_t *a = net_eth(buf, op == ARP_REQUEST ? net_bcast : tha, e->n->mac, ETH_P_ARP);

	net_put16(a, 1);
	net_put16(a + 2, ETH_P_IP);
	a[4] = 6;
	a[5] = 4;
	net_put16(a + 6, op);
	memcpy(a + 8, e->n->mac, 6);
	net_put32(a + 14, e->ip.ip);
	if (op == ARP_REQUEST)
		memset(a + 18, 0, 6);
	else
		memcpy(a + 18, tha, 6);
	net_put32(a + 24, tip);
	memset(a + 28, 0, NET_ETH_MIN - NET_ETH_HLEN - 28);
	return NET_HDR_LEN + NET_ETH_MIN;
}

/* IPv4 header to the gateway (RFC 791: no options, DF, TTL 64); returns the L4 start. */
static uint8_t *net_ipv4(struct net_ep *e, uint8_t *buf, uint8_t proto, uint32_t l4len)
{
	uint8_t *ip = net_eth(buf, e->gw_mac, e->n->mac, ETH_P_IP);

	ip[0] = 0x45;
	ip[1] = 0;
	net_put16(ip + 2, (uint16_t)(NET_IP_HLEN + l4len));
	net_put16(ip + 4, e->ip_id++);
	net_put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = proto;
	net_put16(ip + 10, 0);
	net_put32(ip + 12, e->ip.ip);
	net_put32(ip + 16, e->ip.gw);
	net_put16(ip + 10, net_csum_fold(net_sum(0, ip, NET_IP_HLEN)));
	return ip + NET_IP_HLEN;
}

/* Queue @len bytes of @buf in @nseg (1-3) descriptors: whole; header + frame; header + two halves. */
static int net_send(struct net_ep *e, uint8_t *buf, uint32_t len, unsigned nseg)
{
	struct vq_seg s[3];
	uint32_t half = (len - NET_HDR_LEN) / 2;

	if (nseg <= 1) {
		s[0] = (struct vq_seg){ (uintptr_t)buf, len, false };
		nseg = 1;
	} else {
		s[0] = (struct vq_seg){ (uintptr_t)buf, NET_HDR_LEN, false };
		s[1] = (struct vq_seg){ (uintptr_t)buf + NET_HDR_LEN, len - NET_HDR_LEN, false };
		if (nseg >= 3 && half) {
			s[1].len = half;
			s[2] = (struct vq_seg){ (uintptr_t)buf + NET_HDR_LEN + half,
						len - NET_HDR_LEN - half, false };
			nseg = 3;
		} else {
			nseg = 2;
		}
	}
	return net_xmit(e->n, s, nseg);
}

/* Answer an ARP request for our address (RFC 826), from its own buffer. */
static void net_ep_arp_reply(struct net_ep *e, const struct net_pkt *p)
{
	static int head = -1;

	net_tx_reclaim(e->n);
	if (head >= 0 && e->n->txq.chain_len[head])
		return;  /* the last reply is still queued: the host asks again */
	head = net_send(e, net_arpbuf, net_arp(e, net_arpbuf, ARP_REPLY, p->arp_sha, p->arp_sip), 1);
	if (head >= 0)
		e->arp_answered++;
}

bool net_ep_wait(struct net_ep *e, uint64_t timeout_us, bool irq, net_match_fn match, void *ctx)
{
	uint64_t t0 = pit_now_us(), el;
	struct net_pkt p;
	const uint8_t *f;
	uint32_t len;
	int r;

	while ((el = pit_now_us() - t0) < timeout_us) {
		if (!net_wait_rx(e->n, timeout_us - el, irq)) {
			if (net_needs_reset(e->n))
				e->err = NET_E_RESET;
			return false;
		}
		r = net_recv(e->n, &f, &len, 0);
		if (r < 0)
			e->err = r;
		if (r <= 0)
			continue;
		if (net_parse(f, len, &p) != 0) {
			e->rx_bad++;
		} else if (p.type == ETH_P_ARP && p.arp_op == ARP_REQUEST && p.arp_tip == e->ip.ip) {
			net_ep_arp_reply(e, &p);
		} else if (match(e, &p, ctx)) {
			net_recv_done(e->n);
			return true;
		} else {
			e->rx_other++;
		}
		net_recv_done(e->n);
	}
	return false;
}

static bool net_match_arp(struct net_ep *e, const struct net_pkt *p, void *ctx)
{
	(void)ctx;
	if (p->type != ETH_P_ARP || p->arp_op != ARP_REPLY || p->arp_sip != e->ip.gw)
		return false;
	memcpy(e->gw_mac, p->arp_sha, 6);
	e->gw_known = true;
	return true;
}

bool net_ep_arp(struct net_ep *e, unsigned tries, uint64_t *us)
{
	for (unsigned i = 0; i < tries; i++) {
		uint64_t t0;

		if (!net_ep_tx_idle(e))
			return false;
		t0 = pit_now_us();
		if (net_send(e, net_txbuf, net_arp(e, net_txbuf, ARP_REQUEST, net_bcast, e->ip.gw), 2) < 0)
			return false;
		if (net_ep_wait(e, 500000, false, net_match_arp, 0)) {
			*us = pit_now_us() - t0;
			return true;
		}
		if (e->err == NET_E_RESET)
			return false;
	}
	return false;
}

/* What a reply must look like, and what came. */
struct net_echo {
	uint8_t proto;
	uint16_t a, b;         /* ICMP: id, seq; UDP: the server's port, ours */
	unsigned len, seed;
	bool data_ok;
	uint64_t t1;
};

static bool net_match_echo(struct net_ep *e, const struct net_pkt *p, void *ctx)
{
	struct net_echo *x = ctx;

	if (p->type != ETH_P_IP || p->proto != x->proto || p->ip_src != e->ip.gw ||
	    p->ip_dst != e->ip.ip)
		return false;
	if (x->proto == IP_P_ICMP &&
	    (p->icmp_type != ICMP_ECHO_REPLY || p->icmp_id != x->a || p->icmp_seq != x->b))
		return false;
	if (x->proto == IP_P_UDP && (p->sport != x->a || p->dport != x->b))
		return false;
	x->t1 = pit_now_us();
	x->data_ok = p->data_len == x->len;
	for (unsigned k = 0; x->data_ok && k < x->len; k++)
		x->data_ok = p->data[k] == net_pattern(x->seed, k);
	return true;
}

static int net_echo_wait(struct net_ep *e, struct net_echo *x, uint64_t t0, bool irq,
			 uint64_t timeout_us, uint64_t *rtt_us)
{
	if (!net_ep_wait(e, timeout_us, irq, net_match_echo, x))
		return 0;
	*rtt_us = x->t1 - t0;
	return x->data_ok ? 1 : -1;
}

uint32_t net_ep_build_ping(struct net_ep *e, uint8_t *buf, uint16_t id, uint16_t seq, unsigned len)
{
	uint8_t *icmp = net_ipv4(e, buf, IP_P_ICMP, NET_ICMP_HLEN + len);

	icmp[0] = ICMP_ECHO_REQUEST;
	icmp[1] = 0;
	net_put16(icmp + 2, 0);
	net_put16(icmp + 4, id);
	net_put16(icmp + 6, seq);
	for (unsigned k = 0; k < len; k++)
		icmp[NET_ICMP_HLEN + k] = net_pattern(seq, k);
	net_put16(icmp + 2, net_csum_fold(net_sum(0, icmp, NET_ICMP_HLEN + len)));
	return NET_TX_L3 + NET_IP_HLEN + NET_ICMP_HLEN + len;
}

int net_ep_ping(struct net_ep *e, uint16_t id, uint16_t seq, unsigned len, unsigned nseg,
		bool irq, uint64_t timeout_us, uint64_t *rtt_us)
{
	struct net_echo x = { IP_P_ICMP, id, seq, len, seq, false, 0 };
	uint32_t flen;
	uint64_t t0;

	if (len > net_ep_payload_max(e, NET_ICMP_HLEN) || !net_ep_tx_idle(e))
		return 0;
	flen = net_ep_build_ping(e, net_txbuf, id, seq, len);
	if (irq)
		net_irq_arm(e->n);
	t0 = pit_now_us();
	if (net_send(e, net_txbuf, flen, nseg) < 0)
		return 0;
	return net_echo_wait(e, &x, t0, irq, timeout_us, rtt_us);
}

uint32_t net_ep_build_udp(struct net_ep *e, uint8_t *buf, uint16_t sport, uint16_t dport,
			  unsigned len, unsigned seed)
{
	uint8_t *u = net_ipv4(e, buf, IP_P_UDP, NET_UDP_HLEN + len);
	uint32_t ulen = NET_UDP_HLEN + len, sum;

	net_put16(u, sport);
	net_put16(u + 2, dport);
	net_put16(u + 4, (uint16_t)ulen);
	net_put16(u + 6, 0);
	for (unsigned k = 0; k < len; k++)
		u[NET_UDP_HLEN + k] = net_pattern(seed, k);
	/* RFC 768: over the pseudo header too; a computed 0 is sent as 0xffff. */
	sum = (e->ip.ip >> 16) + (e->ip.ip & 0xffff) + (e->ip.gw >> 16) + (e->ip.gw & 0xffff) +
	      IP_P_UDP + ulen;
	if (e->n->csum) {
		/*
		 * 5.1.6.2: NEEDS_CSUM, the device (the host) sums from csum_start
		 * to the end into csum_start + csum_offset, which holds the
		 * pseudo-header sum, folded and not inverted.
		 */
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		net_put16(u + 6, (uint16_t)sum);
		buf[0] = NET_HDR_F_NEEDS_CSUM;
		buf[6] = NET_ETH_HLEN + NET_IP_HLEN;   /* csum_start, little endian */
		buf[8] = 6;                            /* csum_offset: the UDP checksum */
		e->n->tx_csum_partial++;
		return NET_TX_L3 + NET_IP_HLEN + ulen;
	}
	sum = net_csum_fold(net_sum(sum, u, ulen));
	net_put16(u + 6, sum ? (uint16_t)sum : 0xffff);
	return NET_TX_L3 + NET_IP_HLEN + ulen;
}

int net_ep_udp_echo(struct net_ep *e, uint16_t sport, uint16_t dport, unsigned len,
		    unsigned nseg, unsigned seed, uint64_t timeout_us, uint64_t *rtt_us)
{
	struct net_echo x = { IP_P_UDP, dport, sport, len, seed, false, 0 };
	uint32_t flen;
	uint64_t t0;

	if (len > net_ep_payload_max(e, NET_UDP_HLEN) || !net_ep_tx_idle(e))
		return 0;
	flen = net_ep_build_udp(e, net_txbuf, sport, dport, len, seed);
	t0 = pit_now_us();
	if (net_send(e, net_txbuf, flen, nseg) < 0)
		return 0;
	return net_echo_wait(e, &x, t0, false, timeout_us, rtt_us);
}
