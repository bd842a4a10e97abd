/* stack.c: the MMDS network stack: ARP replies and a small TCP server carrying HTTP/1.1. */
#include "mmds/stack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define ETH_HLEN      14
#define ETH_P_IP      0x0800
#define ETH_P_ARP     0x0806
#define ARP_LEN       28
#define IP_HLEN       20
#define IPPROTO_TCP_  6
#define TCP_HLEN      20

/* The net device hands mmds_stack_wants() MMDS_PEEK bytes: enough for either kind of frame. */
_Static_assert(MMDS_PEEK >= ETH_HLEN + ARP_LEN && MMDS_PEEK >= ETH_HLEN + IP_HLEN, "MMDS_PEEK too small");

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* Count in the stack's own stats and in the process's "mmds" metrics (Firecracker's group). */
#define STAT(s, name, n)                                                \
	do {                                                            \
		(s)->stats.name += (n);                                 \
		metric_add(M_mmds_##name, (n));                         \
	} while (0)

enum mmds_tcp_state { CONN_FREE = 0, CONN_SYN_RCVD, CONN_OPEN };

struct mmds_conn {
	enum mmds_tcp_state state;
	uint8_t peer_mac[6];
	uint32_t peer_ip;
	uint16_t peer_port;
	uint16_t peer_win;              /* bytes the guest can take beyond snd_una */
	uint16_t peer_mss;
	uint32_t iss;
	uint32_t rcv_nxt;               /* next sequence number expected from the guest */
	uint32_t snd_una, snd_nxt;      /* oldest unacknowledged, next to send */
	uint32_t tx_seq;                /* sequence number of tx[0] */
	bool fin_rcvd;                  /* the guest closed its side */
	bool closing;                   /* after the answer, a FIN */
	bool fin_sent;
	unsigned dupacks;
	uint64_t last_ms;               /* for eviction */
	char *tx;                       /* the answer being sent, tx_len bytes */
	size_t tx_len;
	size_t rx_len;
	char rx[MMDS_HTTP_MAX + 1];     /* request bytes received in order */
};

/* ---- bytes ---- */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)(v >> 16)); wr16(p + 2, (uint16_t)v); }

/* Sequence-number comparisons (RFC 9293 section 3.4), modulo 2^32. */
static bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += rd16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* ---- the output queue ---- */

static bool outq_full(const struct mmds_stack *s)
{
	return s->out_count >= MMDS_OUTQ;
}

/* outq_slot: the buffer of the next frame, or NULL when the queue is full (counted). */
static uint8_t *outq_slot(struct mmds_stack *s)
{
	if (outq_full(s)) {
		STAT(s, tx_errors, 1);
		return NULL;
	}
	return s->outq[(s->out_head + s->out_count) % MMDS_OUTQ];
}

static void outq_commit(struct mmds_stack *s, size_t len)
{
	s->outq_len[(s->out_head + s->out_count) % MMDS_OUTQ] = (uint16_t)len;
	s->out_count++;
	STAT(s, tx_frames, 1);
	STAT(s, tx_count, 1);
	STAT(s, tx_bytes, len);
}

/* ---- ARP ---- */

static void arp_reply(struct mmds_stack *s, const uint8_t *f)
{
	const uint8_t *a = f + ETH_HLEN;
	uint8_t *o = outq_slot(s), *r;

	if (!o)
		return;
	memcpy(o, a + 8, 6);                 /* to the asker */
	memcpy(o + 6, s->mac, 6);
	wr16(o + 12, ETH_P_ARP);
	r = o + ETH_HLEN;
	wr16(r, 1);                          /* Ethernet */
	wr16(r + 2, ETH_P_IP);
	r[4] = 6;
	r[5] = 4;
	wr16(r + 6, 2);                      /* reply */
	memcpy(r + 8, s->mac, 6);
	wr32(r + 14, s->ip);
	memcpy(r + 18, a + 8, 10);           /* the asker's MAC and address */
	outq_commit(s, ETH_HLEN + ARP_LEN);
}

/* ---- TCP segments out ---- */

/*
 * tcp_send: one segment to @c's peer: @flags, sequence @seq, @n bytes of
 * @data; with SYN, an MSS option. False when the queue is full.
 */
static bool tcp_send(struct mmds_stack *s, const struct mmds_conn *c, uint8_t flags, uint32_t seq,
		     const char *data, size_t n)
{
	size_t opt = flags & TCP_SYN ? 4 : 0, tlen = TCP_HLEN + opt + n;
	uint8_t *o = outq_slot(s), *ip, *t;
	size_t win = MMDS_HTTP_MAX - c->rx_len;
	uint32_t sum;

	if (!o)
		return false;
	memcpy(o, c->peer_mac, 6);
	memcpy(o + 6, s->mac, 6);
	wr16(o + 12, ETH_P_IP);
	ip = o + ETH_HLEN;
	ip[0] = 0x45;
	ip[1] = 0;
	wr16(ip + 2, (uint16_t)(IP_HLEN + tlen));
	wr16(ip + 4, s->ip_id++);
	wr16(ip + 6, 0x4000);                /* don't fragment */
	ip[8] = 64;
	ip[9] = IPPROTO_TCP_;
	wr16(ip + 10, 0);
	wr32(ip + 12, s->ip);
	wr32(ip + 16, c->peer_ip);
	wr16(ip + 10, csum_fold(csum_add(0, ip, IP_HLEN)));
	t = ip + IP_HLEN;
	wr16(t, MMDS_PORT);
	wr16(t + 2, c->peer_port);
	wr32(t + 4, seq);
	wr32(t + 8, flags & TCP_ACK ? c->rcv_nxt : 0);
	t[12] = (uint8_t)(((TCP_HLEN + opt) / 4) << 4);
	t[13] = flags;
	wr16(t + 14, (uint16_t)win);
	wr16(t + 16, 0);
	wr16(t + 18, 0);
	if (opt) {
		t[20] = 2;                   /* MSS */
		t[21] = 4;
		wr16(t + 22, MMDS_MSS);
	}
	if (n)
		memcpy(t + TCP_HLEN + opt, data, n);
	/* The pseudo-header: addresses, protocol, TCP length. */
	sum = csum_add(0, ip + 12, 8) + IPPROTO_TCP_ + (uint32_t)tlen;
	wr16(t + 16, csum_fold(csum_add(sum, t, tlen)));
	outq_commit(s, ETH_HLEN + IP_HLEN + tlen);
	return true;
}

/* tcp_reset: answer a segment that belongs to no connection (RFC 9293 3.10.7.1). */
static void tcp_reset(struct mmds_stack *s, const uint8_t *mac, uint32_t ip, uint16_t port,
		      uint8_t flags, uint32_t seq, uint32_t ack, uint32_t seg_len)
{
	struct mmds_conn c;

	if (flags & TCP_RST)
		return;
	memset(&c, 0, sizeof(c));
	memcpy(c.peer_mac, mac, 6);
	c.peer_ip = ip;
	c.peer_port = port;
	c.rx_len = MMDS_HTTP_MAX;            /* window 0 */
	if (flags & TCP_ACK) {
		tcp_send(s, &c, TCP_RST, ack, NULL, 0);
	} else {
		c.rcv_nxt = seq + seg_len + !!(flags & TCP_SYN) + !!(flags & TCP_FIN);
		tcp_send(s, &c, TCP_RST | TCP_ACK, 0, NULL, 0);
	}
}

/* ---- connections ---- */

static void conn_free(struct mmds_stack *s, struct mmds_conn *c)
{
	free(c->tx);
	memset(c, 0, sizeof(*c));
	STAT(s, connections_destroyed, 1);
}

/* conn_abort: a RST to the peer, and the connection is gone. */
static void conn_abort(struct mmds_stack *s, struct mmds_conn *c)
{
	tcp_send(s, c, TCP_RST | TCP_ACK, c->snd_nxt, NULL, 0);
	conn_free(s, c);
}

static struct mmds_conn *conn_find(struct mmds_stack *s, uint32_t ip, uint16_t port)
{
	for (unsigned i = 0; i < MMDS_CONNS; i++) {
		struct mmds_conn *c = &s->conns[i];

		if (c->state != CONN_FREE && c->peer_ip == ip && c->peer_port == port)
			return c;
	}
	return NULL;
}

/* conn_new: a free slot, else the least recently used connection's (reset first). */
static struct mmds_conn *conn_new(struct mmds_stack *s)
{
	struct mmds_conn *old = &s->conns[0];

	for (unsigned i = 0; i < MMDS_CONNS; i++) {
		struct mmds_conn *c = &s->conns[i];

		if (c->state == CONN_FREE)
			return c;
		if (c->last_ms < old->last_ms)
			old = c;
	}
	conn_abort(s, old);
	return old;
}

/*
 * conn_push: send what the window allows of the answer (a FIN after its last
 * byte when closing); with @ack, a bare ACK when nothing else goes out.
 */
static void conn_push(struct mmds_stack *s, struct mmds_conn *c, bool ack)
{
	uint32_t end = c->tx_seq + (uint32_t)c->tx_len;

	if (c->state != CONN_OPEN) {
		if (ack)
			tcp_send(s, c, TCP_ACK, c->snd_nxt, NULL, 0);
		return;
	}
	while (c->tx && seq_lt(c->snd_nxt, end) && !outq_full(s)) {
		uint32_t inflight = c->snd_nxt - c->snd_una, n = end - c->snd_nxt;
		uint32_t mss = c->peer_mss < MMDS_MSS ? c->peer_mss : MMDS_MSS;
		uint8_t flags = TCP_ACK;

		if (inflight >= c->peer_win)
			break;
		if (n > mss)
			n = mss;
		if (n > c->peer_win - inflight)
			n = c->peer_win - inflight;
		if (c->snd_nxt + n == end) {
			flags |= TCP_PSH;
			if (c->closing)
				flags |= TCP_FIN;
		}
		if (!tcp_send(s, c, flags, c->snd_nxt, c->tx + (c->snd_nxt - c->tx_seq), n))
			break;
		c->snd_nxt += n;
		if (flags & TCP_FIN) {
			c->fin_sent = true;
			c->snd_nxt++;
		}
		ack = false;
	}
	/* Closing with nothing (more) to send: a FIN of its own. */
	if (c->closing && !c->fin_sent && !c->tx && !outq_full(s)) {
		if (tcp_send(s, c, TCP_FIN | TCP_ACK, c->snd_nxt, NULL, 0)) {
			c->fin_sent = true;
			c->snd_nxt++;
			ack = false;
		}
	}
	if (ack)
		tcp_send(s, c, TCP_ACK, c->snd_nxt, NULL, 0);
}

/* conn_serve: answer the request waiting in rx, if whole and no answer is on its way. */
static void conn_serve(struct mmds_stack *s, struct mmds_conn *c)
{
	struct mmds_http_req rq;
	const char *why;
	size_t len = 0;
	char *out;
	int n;

	if (c->tx || c->closing)
		return;
	n = mmds_http_parse(c->rx, c->rx_len, &rq, &why);
	if (n == 0) {
		/* Incomplete: if the guest has closed its side, nothing more comes. */
		if (c->fin_rcvd)
			c->closing = true;
		return;
	}
	if (n < 0) {
		out = mmds_refuse(why, &len);
		c->closing = true;
		c->rx_len = 0;
		STAT(s, rx_accepted_unusual, 1);
	} else {
		out = mmds_answer(s->mmds, &rq, s->now_ms(), &len);
		memmove(c->rx, c->rx + n, c->rx_len - (size_t)n);
		c->rx_len -= (size_t)n;
		if (!rq.keep_alive || c->fin_rcvd)
			c->closing = true;
	}
	if (!out) {
		c->closing = true;
		return;
	}
	c->tx = out;
	c->tx_len = len;
	c->tx_seq = c->snd_nxt;
}

/* conn_acked: the guest acknowledged up to @ack. */
static void conn_acked(struct mmds_conn *c, uint32_t ack)
{
	if (c->tx && seq_le(c->tx_seq + (uint32_t)c->tx_len, ack)) {
		free(c->tx);
		c->tx = NULL;
		c->tx_len = 0;
	}
	c->snd_una = ack;
	c->dupacks = 0;
}

static void tcp_input(struct mmds_stack *s, const uint8_t *f, const uint8_t *ip, size_t ip_len,
		      size_t ihl)
{
	const uint8_t *t = ip + ihl;
	size_t tcp_len = ip_len - ihl, doff, plen;
	uint32_t peer_ip = rd32(ip + 12), seq, ack;
	uint16_t sport, dport, win;
	struct mmds_conn *c;
	const uint8_t *payload;
	uint8_t flags;

	if (tcp_len < TCP_HLEN) {
		STAT(s, rx_accepted_err, 1);
		return;
	}
	doff = (size_t)(t[12] >> 4) * 4;
	if (doff < TCP_HLEN || doff > tcp_len) {
		STAT(s, rx_accepted_err, 1);
		return;
	}
	sport = rd16(t);
	dport = rd16(t + 2);
	seq = rd32(t + 4);
	ack = rd32(t + 8);
	flags = t[13];
	win = rd16(t + 14);
	payload = t + doff;
	plen = tcp_len - doff;
	STAT(s, rx_accepted, 1);

	c = conn_find(s, peer_ip, sport);
	if (dport != MMDS_PORT || (!c && !(flags & TCP_SYN)) ||
	    (!c && (flags & (TCP_ACK | TCP_RST | TCP_FIN)))) {
		STAT(s, rx_accepted_unusual, 1);
		tcp_reset(s, f + 6, peer_ip, sport, flags, seq, ack, (uint32_t)plen);
		return;
	}
	if (!c) {
		/* A SYN: a new connection, its options read for the MSS only. */
		uint16_t mss = 536;

		for (size_t i = TCP_HLEN; i < doff;) {
			uint8_t kind = t[i];

			if (kind == 0)
				break;
			if (kind == 1) {
				i++;
				continue;
			}
			if (i + 1 >= doff || t[i + 1] < 2 || i + t[i + 1] > doff)
				break;
			if (kind == 2 && t[i + 1] == 4)
				mss = rd16(t + i + 2);
			i += t[i + 1];
		}
		c = conn_new(s);
		memset(c, 0, sizeof(*c));
		c->state = CONN_SYN_RCVD;
		memcpy(c->peer_mac, f + 6, 6);
		c->peer_ip = peer_ip;
		c->peer_port = sport;
		c->peer_mss = mss < 64 ? 64 : mss;
		c->peer_win = win;
		c->iss = s->next_iss;
		s->next_iss += 0x10000 + (uint32_t)(s->now_ms() & 0xffff);
		c->rcv_nxt = seq + 1;
		c->snd_una = c->iss;
		c->snd_nxt = c->iss + 1;
		c->last_ms = s->now_ms();
		STAT(s, connections_created, 1);
		tcp_send(s, c, TCP_SYN | TCP_ACK, c->iss, NULL, 0);
		return;
	}
	c->last_ms = s->now_ms();
	if (flags & TCP_RST) {
		/* Only one in the window counts (RFC 5961 would ask for less; this guest is local). */
		if (seq_le(c->rcv_nxt, seq) && seq_lt(seq, c->rcv_nxt + MMDS_HTTP_MAX + 1))
			conn_free(s, c);
		return;
	}
	if (flags & TCP_SYN) {
		if (c->state == CONN_SYN_RCVD && seq + 1 == c->rcv_nxt) {
			tcp_send(s, c, TCP_SYN | TCP_ACK, c->iss, NULL, 0);   /* our SYN-ACK was lost */
		} else {
			STAT(s, rx_accepted_unusual, 1);
			conn_abort(s, c);
		}
		return;
	}
	if (!(flags & TCP_ACK))
		return;                      /* every segment after the SYN carries an ACK */
	if (seq_lt(c->snd_nxt, ack)) {
		/* Acknowledges what was never sent. */
		STAT(s, rx_accepted_unusual, 1);
		tcp_send(s, c, TCP_ACK, c->snd_nxt, NULL, 0);
		return;
	}
	if (c->state == CONN_SYN_RCVD) {
		if (ack != c->iss + 1) {
			conn_abort(s, c);
			return;
		}
		c->state = CONN_OPEN;
		c->snd_una = ack;
	}
	c->peer_win = win;
	if (seq_lt(c->snd_una, ack)) {
		conn_acked(c, ack);
	} else if (ack == c->snd_una && c->snd_nxt != c->snd_una && plen == 0 &&
		   !(flags & TCP_FIN) && ++c->dupacks >= 2) {
		/* The guest keeps asking for the same byte: send again from there. */
		c->snd_nxt = c->snd_una;
		c->fin_sent = false;
		c->dupacks = 0;
	}
	/* Our FIN acknowledged and theirs received: done. */
	if (c->fin_sent && c->snd_una == c->snd_nxt && c->fin_rcvd) {
		conn_free(s, c);
		return;
	}
	if (plen || (flags & TCP_FIN)) {
		bool in_order = seq == c->rcv_nxt && !c->fin_rcvd;

		if (in_order) {
			size_t room = MMDS_HTTP_MAX - c->rx_len, take = plen < room ? plen : room;

			memcpy(c->rx + c->rx_len, payload, take);
			c->rx_len += take;
			c->rcv_nxt += (uint32_t)take;
			if ((flags & TCP_FIN) && take == plen) {
				c->rcv_nxt++;
				c->fin_rcvd = true;
			}
			if (take < plen)
				STAT(s, rx_accepted_unusual, 1);
		} else {
			/* Out of order or again: our ACK says what we expect; resend what is unacked. */
			c->snd_nxt = c->snd_una;
			c->fin_sent = false;
		}
		conn_serve(s, c);
		if (c->fin_sent && c->snd_una == c->snd_nxt && c->fin_rcvd) {
			tcp_send(s, c, TCP_ACK, c->snd_nxt, NULL, 0);
			conn_free(s, c);
			return;
		}
		conn_push(s, c, true);
		return;
	}
	/* A bare ACK: the window may have opened, or the answer was taken whole. */
	conn_serve(s, c);
	conn_push(s, c, false);
}

/* ---- frames in ---- */

/* frame_kind: 1 an ARP request for us, 2 IPv4 TCP to us, 0 not ours. */
static int frame_kind(const struct mmds_stack *s, const uint8_t *f, size_t len)
{
	uint16_t type;

	if (len < ETH_HLEN)
		return 0;
	type = rd16(f + 12);
	if (type == ETH_P_ARP && len >= ETH_HLEN + ARP_LEN) {
		const uint8_t *a = f + ETH_HLEN;

		return rd16(a) == 1 && rd16(a + 2) == ETH_P_IP && a[4] == 6 && a[5] == 4 &&
		       rd16(a + 6) == 1 && rd32(a + 24) == s->ip ? 1 : 0;
	}
	if (type == ETH_P_IP && len >= ETH_HLEN + IP_HLEN) {
		const uint8_t *ip = f + ETH_HLEN;

		return (ip[0] >> 4) == 4 && ip[9] == IPPROTO_TCP_ && rd32(ip + 16) == s->ip ? 2 : 0;
	}
	return 0;
}

bool mmds_stack_wants(const struct mmds_stack *s, const uint8_t *head, size_t len)
{
	return frame_kind(s, head, len) != 0;
}

bool mmds_stack_input(struct mmds_stack *s, const uint8_t *f, size_t len)
{
	const uint8_t *ip;
	size_t ihl, ip_len;
	int kind = frame_kind(s, f, len);

	if (!kind)
		return false;
	STAT(s, rx_count, 1);
	if (kind == 1) {
		STAT(s, rx_accepted, 1);
		arp_reply(s, f);
		return true;
	}
	ip = f + ETH_HLEN;
	ihl = (size_t)(ip[0] & 15) * 4;
	ip_len = rd16(ip + 2);
	/* A sane header; a frame may be padded past the packet, never cut short. */
	if (ihl < IP_HLEN || ip_len < ihl || ip_len > len - ETH_HLEN) {
		STAT(s, rx_bad_eth, 1);
		return true;
	}
	/* Fragments are not reassembled: a guest's HTTP request never needs them. */
	if ((rd16(ip + 6) & 0x3fff) != 0) {
		STAT(s, rx_accepted_unusual, 1);
		return true;
	}
	tcp_input(s, f, ip, ip_len, ihl);
	return true;
}

size_t mmds_stack_pop(struct mmds_stack *s, uint8_t *buf, size_t cap)
{
	size_t n;

	if (!s->out_count)
		return 0;
	n = s->outq_len[s->out_head];
	if (n > cap)
		n = 0;               /* a caller's mistake: the frame is dropped, not cut */
	else
		memcpy(buf, s->outq[s->out_head], n);
	s->out_head = (s->out_head + 1) % MMDS_OUTQ;
	s->out_count--;
	/* Room again: answers that waited for it go on. */
	for (unsigned i = 0; i < MMDS_CONNS && !outq_full(s); i++)
		if (s->conns[i].state == CONN_OPEN && s->conns[i].tx)
			conn_push(s, &s->conns[i], false);
	return n;
}

int mmds_stack_init(struct mmds_stack *s, struct mmds *m, uint32_t ip, uint64_t (*now_ms)(void))
{
	static const uint8_t mac[6] = MMDS_MAC_INIT;

	memset(s, 0, sizeof(*s));
	s->mmds = m;
	s->ip = ip;
	s->now_ms = now_ms;
	memcpy(s->mac, mac, 6);
	s->next_iss = 0x4d4d4453u ^ (uint32_t)now_ms();
	s->conns = calloc(MMDS_CONNS, sizeof(*s->conns));
	s->outq = calloc(MMDS_OUTQ, sizeof(*s->outq));
	if (!s->conns || !s->outq)
		return -ENOMEM;
	return 0;
}

void mmds_stack_destroy(struct mmds_stack *s)
{
	for (unsigned i = 0; s->conns && i < MMDS_CONNS; i++)
		free(s->conns[i].tx);
	free(s->conns);
	free(s->outq);
	s->conns = NULL;
	s->outq = NULL;
	s->out_count = 0;
}
