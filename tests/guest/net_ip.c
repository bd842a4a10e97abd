/* net_ip.c: the ip= argument, RFC 1071 checksums and parsing of Ethernet/ARP/IPv4/ICMP/UDP frames (pure). */
#include "net_ip.h"
#include "cmdline.h"
#include "fmt.h"
#include "lib.h"

/* Unaligned loads without memcpy (a byte loop here). */
typedef uint32_t net_u32u __attribute__((aligned(1), may_alias));

static uint16_t net_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t net_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* "a.b.c.d" exactly filling [s, s + n). */
static bool net_parse_quad(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;
	size_t i = 0;

	for (unsigned part = 0; part < 4; part++) {
		size_t start = i;
		uint64_t x;

		while (i < n && s[i] != '.')
			i++;
		if (i == start || i - start > 3 || str_parse_u64(s + start, i - start, false, &x) || x > 255)
			return false;
		v = v << 8 | (uint32_t)x;
		if (part < 3) {
			if (i >= n)
				return false;
			i++;
		}
	}
	*out = v;
	return i == n;
}

const char *net_parse_ipcfg(const char *cmd, struct net_ipcfg *c)
{
	const char *val, *f[4] = { 0 };
	size_t len, flen[4] = { 0 }, i = 0;

	if (!cmdline_get(cmd, "ip", &val, &len))
		return "no-ip=-argument";
	/* Fields 0-3: client, server, gateway, netmask. */
	for (unsigned k = 0; k < 4; k++) {
		size_t start = i;

		while (i < len && val[i] != ':')
			i++;
		f[k] = val + start;
		flen[k] = i - start;
		if (i < len)
			i++;
	}
	if (!net_parse_quad(f[0], flen[0], &c->ip))
		return "bad-ip=-client";
	if (!net_parse_quad(f[2], flen[2], &c->gw))
		return "bad-ip=-gateway";
	c->mask = 0xffffff00;
	if (flen[3] && !net_parse_quad(f[3], flen[3], &c->mask))
		return "bad-ip=-netmask";
	if ((c->ip & c->mask) != (c->gw & c->mask) || c->ip == c->gw)
		return "ip=-gateway-not-on-the-subnet";
	return 0;
}

void net_ip_str(uint32_t ip, char out[16])
{
	fmt_snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

uint32_t net_sum(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t s = 0;

	/*
	 * Little-endian 32-bit loads, two 16-bit words at a time: the ones'
	 * complement sum of byte-swapped words is the byte-swapped sum (RFC 1071
	 * 2(B)), so it is swapped once at the end.
	 */
	while (len >= 4) {
		s += *(const net_u32u *)b;
		b += 4;
		len -= 4;
	}
	if (len >= 2) {
		s += (uint32_t)(b[0] | b[1] << 8);
		b += 2;
		len -= 2;
	}
	if (len)
		s += b[0];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	s = ((s & 0xff) << 8) | (s >> 8);
	return sum + (uint32_t)s;
}

uint16_t net_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The IPv4 pseudo header of a UDP datagram (RFC 768). */
static uint32_t net_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}

static int net_parse_arp(const uint8_t *a, uint32_t len, struct net_pkt *p)
{
	/* RFC 826 for Ethernet and IPv4: htype 1, ptype 0x0800, hlen 6, plen 4. */
	if (len < 28 || net_be16(a) != 1 || net_be16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4)
		return -1;
	p->arp_op = net_be16(a + 6);
	p->arp_sha = a + 8;
	p->arp_sip = net_be32(a + 14);
	p->arp_tip = net_be32(a + 24);
	return 0;
}

static int net_parse_l4(const uint8_t *l4, uint32_t len, struct net_pkt *p)
{
	if (p->proto == IP_P_ICMP) {
		if (len < NET_ICMP_HLEN || net_csum_fold(net_sum(0, l4, len)) != 0)
			return -1;
		p->icmp_type = l4[0];
		p->icmp_id = net_be16(l4 + 4);
		p->icmp_seq = net_be16(l4 + 6);
		p->data = l4 + NET_ICMP_HLEN;
		p->data_len = len - NET_ICMP_HLEN;
	} else if (p->proto == IP_P_UDP) {
		uint32_t ulen;

		if (len < NET_UDP_HLEN)
			return -1;
		ulen = net_be16(l4 + 4);
		if (ulen < NET_UDP_HLEN || ulen > len)
			return -1;
		p->sport = net_be16(l4);
		p->dport = net_be16(l4 + 2);
		p->udp_csum_present = net_be16(l4 + 6) != 0;
		if (p->udp_csum_present &&
		    net_csum_fold(net_sum(net_pseudo(p->ip_src, p->ip_dst, IP_P_UDP, ulen), l4, ulen)) != 0)
			return -1;
		p->data = l4 + NET_UDP_HLEN;
		p->data_len = ulen - NET_UDP_HLEN;
	}
	return 0;
}

int net_parse(const uint8_t *f, uint32_t len, struct net_pkt *p)
{
	const uint8_t *ip;
	uint32_t ihl, tot;

	memset(p, 0, sizeof(*p));
	if (len < NET_ETH_HLEN)
		return -1;
	p->src_mac = f + 6;
	p->type = net_be16(f + 12);
	if (p->type == ETH_P_ARP)
		return net_parse_arp(f + NET_ETH_HLEN, len - NET_ETH_HLEN, p);
	if (p->type != ETH_P_IP)
		return 0;
	ip = f + NET_ETH_HLEN;
	len -= NET_ETH_HLEN;
	if (len < NET_IP_HLEN || (ip[0] >> 4) != 4)
		return -1;
	ihl = (ip[0] & 15) * 4u;
	tot = net_be16(ip + 2);
	/* Ethernet pads short frames: the IPv4 total length says where the packet ends. */
	if (ihl < NET_IP_HLEN || tot < ihl || tot > len || net_csum_fold(net_sum(0, ip, ihl)) != 0)
		return -1;
	p->proto = ip[9];
	p->ip_src = net_be32(ip + 12);
	p->ip_dst = net_be32(ip + 16);
	/* Fragments are not reassembled: only whole datagrams are looked into. */
	if ((net_be16(ip + 6) & 0x3fff) != 0)
		return 0;
	return net_parse_l4(ip + ihl, tot - ihl, p);
}
