/* net_ip.h: just enough Ethernet, ARP (RFC 826), IPv4, ICMP echo and UDP to talk to the host over the test guest's virtio-net driver. */
#ifndef GUEST_NET_IP_H
#define GUEST_NET_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

#define ETH_P_IP   0x0800
#define ETH_P_ARP  0x0806
#define IP_P_ICMP  1
#define IP_P_UDP   17
#define ARP_REQUEST 1
#define ARP_REPLY   2
#define ICMP_ECHO_REPLY   0
#define ICMP_ECHO_REQUEST 8

#define NET_IP_HLEN   20
#define NET_UDP_HLEN  8
#define NET_ICMP_HLEN 8
/* Offset of the IPv4 header in a transmit buffer: virtio-net header, then Ethernet. */
#define NET_TX_L3     (NET_HDR_LEN + NET_ETH_HLEN)

/* Addresses from Linux's ip=<client>:<server>:<gw>:<netmask>:... argument, host byte order. */
struct net_ipcfg {
	uint32_t ip, gw, mask;
};

/*
 * The first ip= token of @cmd (Documentation/admin-guide/nfs/nfsroot.rst):
 * client address (required), gateway (required: the host end of the tap),
 * netmask (default 255.255.255.0). Returns NULL or what is wrong.
 */
const char *net_parse_ipcfg(const char *cmd, struct net_ipcfg *c);

/* "a.b.c.d" into out[16]. */
void net_ip_str(uint32_t ip, char out[16]);

/*
 * RFC 1071 sum of @len bytes at @p as big-endian 16-bit words, not folded
 * and not inverted; @sum carries a previous part (even-length parts only).
 */
uint32_t net_sum(uint32_t sum, const void *p, size_t len);

/* Fold and invert a net_sum() into a checksum field value (host order). */
uint16_t net_csum_fold(uint32_t sum);

/* A parsed frame: only the fields the checks use. */
struct net_pkt {
	uint16_t type;              /* ethertype */
	const uint8_t *src_mac;
	/* ARP */
	uint16_t arp_op;
	const uint8_t *arp_sha;
	uint32_t arp_sip, arp_tip;
	/* IPv4 */
	uint8_t proto;
	uint32_t ip_src, ip_dst;
	/* ICMP echo */
	uint8_t icmp_type;
	uint16_t icmp_id, icmp_seq;
	/* UDP */
	uint16_t sport, dport;
	bool udp_csum_present;
	/* ICMP or UDP payload */
	const uint8_t *data;
	uint32_t data_len;
};

/*
 * Parse an Ethernet frame. Returns 0 when every header present is well
 * formed and its checksum right (IPv4 header, ICMP, UDP when not 0), else
 * -1. Unknown ethertypes and protocols parse as far as they are known.
 */
int net_parse(const uint8_t *f, uint32_t len, struct net_pkt *p);

/* One endpoint: our address and MAC, the gateway, and a transmit buffer. */
struct net_ep {
	struct net *n;
	struct net_ipcfg ip;
	uint8_t gw_mac[6];
	bool gw_known;
	uint16_t ip_id;
	unsigned arp_answered;      /* ARP requests for our address answered */
	unsigned rx_other;          /* frames that were not for us or not expected */
	unsigned rx_bad;            /* frames that failed net_parse */
	int err;                    /* NET_E_RESET / NET_E_QUEUE seen while receiving, or 0 */
};

/* Start an endpoint on an opened device. */
void net_ep_init(struct net_ep *e, struct net *n, const struct net_ipcfg *ip);

/* The largest ICMP or UDP payload (after an @l4hdr-byte header) the MTU (at most 1500) allows. */
unsigned net_ep_payload_max(const struct net_ep *e, unsigned l4hdr);

/* The transmit buffer (NET_HDR_LEN + 1514 bytes) the builders write into. */
uint8_t *net_ep_txbuf(void);

/*
 * Wait for the transmit buffer to come back from the device (it is rebuilt
 * for the next frame). False after 1 s.
 */
bool net_ep_tx_idle(struct net_ep *e);

/*
 * Resolve the gateway's MAC (ARP request, up to @tries times with 500 ms
 * waits). True when known; *us gets the time of the successful exchange.
 */
bool net_ep_arp(struct net_ep *e, unsigned tries, uint64_t *us);

/*
 * Send an ICMP echo request (@id, @seq, @len bytes of pattern) to the
 * gateway in @nseg (1-3) descriptors and wait up to @timeout_us for the
 * matching reply with the same data, polled or with @irq. 1 with *rtt_us,
 * 0 on timeout, -1 if a reply came with other data.
 */
int net_ep_ping(struct net_ep *e, uint16_t id, uint16_t seq, unsigned len, unsigned nseg,
		bool irq, uint64_t timeout_us, uint64_t *rtt_us);

/* Build an ICMP echo request (@len bytes of pattern seeded by @seq) to the gateway into @buf; the frame length. */
uint32_t net_ep_build_ping(struct net_ep *e, uint8_t *buf, uint16_t id, uint16_t seq, unsigned len);

/*
 * Build a UDP datagram of @len payload bytes (pattern seeded by @seed) from
 * @sport to gateway:@dport into the transmit buffer; returns the frame length
 * (virtio-net header included).
 */
uint32_t net_ep_build_udp(struct net_ep *e, uint8_t *buf, uint16_t sport, uint16_t dport,
			  unsigned len, unsigned seed);

/* Byte k of the UDP test payload seeded by @seed. */
static inline uint8_t net_pattern(unsigned seed, unsigned k)
{
	return (uint8_t)(seed * 13 + k * 7 + (k >> 8));
}

/*
 * Send a UDP datagram of @len bytes to gateway:@dport and wait up to
 * @timeout_us for it to come back from there with the same bytes. 1 with
 * *rtt_us, 0 on timeout, -1 if the echo differed.
 */
int net_ep_udp_echo(struct net_ep *e, uint16_t sport, uint16_t dport, unsigned len,
		    unsigned nseg, unsigned seed, uint64_t timeout_us, uint64_t *rtt_us);

/*
 * Receive until @match accepts a frame (returns true) or @timeout_us passes;
 * ARP requests for our address are answered on the way. Returns true on a
 * match.
 */
typedef bool (*net_match_fn)(struct net_ep *e, const struct net_pkt *p, void *ctx);
bool net_ep_wait(struct net_ep *e, uint64_t timeout_us, bool irq, net_match_fn match, void *ctx);

/* The arguments of the net and net-evil checks (README.md). */
struct net_args {
	unsigned dev;               /* net_dev=: index among the net devices */
	struct net_opts o;          /* net_no_mrg, net_no_event_idx, net_rxbuf=, net_rxbufs= */
	struct net_ipcfg ip;        /* ip= */
	unsigned pings;             /* net_pings= (5) */
	uint16_t udp_port;          /* net_udp_port=: the host's echo server, 0: none */
	unsigned burst_ms;          /* net_burst_ms= (500), 0: no burst */
	unsigned mtu;               /* net_mtu=: expected MTU, 0: not checked */
	unsigned hold_ms;           /* net_hold_ms=: stop receiving that long, then recover */
	bool verbose;               /* verbose: one NET PING line per ping */
	bool has_mac;               /* net_mac=: expected MAC */
	uint8_t mac[6];
};

/* Read the arguments from @cmd; NULL or what is wrong. */
const char *net_args_parse(const char *cmd, struct net_args *a);

/* net_open() @d as @a says and start endpoint @e on it; NULL or what went wrong. */
const char *net_start(struct net *n, struct virtio_dev *d, const struct net_args *a,
		      struct net_ep *e);

#endif
