/* net_probe.c: the "net" check: ARP, ping and UDP echo with the host through the first virtio-net device, with timings. */
#include "net_ip.h"
#include "bootinfo.h"
#include "cmdline.h"
#include "fmt.h"
#include "io.h"
#include "lib.h"
#include "pit.h"
#include "probe.h"
#include "user.h"

#define NET_PING_TIMEOUT_US 5000000   /* a bound for a lost reply, not a speed check */
#define NET_UDP_TIMEOUT_US  5000000
#define NET_GUEST_PORT      40000
#define NET_BURST_PORT      40001
#define NET_BURST_BATCH     32
#define NET_BURST_LEN       64
#define NET_BURST_WAIT_MS   200

static struct net net_dev;
static struct net_ep net_ep;
static uint8_t net_burst_buf[NET_HDR_LEN + 128] __attribute__((aligned(64)));

/* Parse a MAC "xx:xx:xx:xx:xx:xx" exactly filling [s, s + n). */
static bool net_parse_mac(const char *s, size_t n, uint8_t mac[6])
{
	if (n != 17)
		return false;
	for (unsigned i = 0; i < 6; i++) {
		uint64_t v;

		if ((i < 5 && s[3 * i + 2] != ':') || str_parse_u64(s + 3 * i, 2, true, &v))
			return false;
		mac[i] = (uint8_t)v;
	}
	return true;
}

const char *net_args_parse(const char *cmd, struct net_args *a)
{
	uint64_t v = 0;
	const char *val;
	size_t len;

	memset(a, 0, sizeof(*a));
	net_default_opts(&a->o);
	a->pings = 5;
	a->burst_ms = 500;
	if (cmdline_get_u64(cmd, "net_dev", false, &v) < 0)
		return "bad-net_dev";
	a->dev = (unsigned)v;  /* 0 when absent */
	if (cmdline_get_u64(cmd, "net_pings", false, &v) > 0)
		a->pings = (unsigned)v;
	if (cmdline_get_u64(cmd, "net_udp_port", false, &v) > 0) {
		if (v == 0 || v > 65535)
			return "bad-net_udp_port";
		a->udp_port = (uint16_t)v;
	}
	if (cmdline_get_u64(cmd, "net_burst_ms", false, &v) > 0)
		a->burst_ms = (unsigned)v;
	if (cmdline_get_u64(cmd, "net_rxbuf", false, &v) > 0)
		a->o.rxbuf = (unsigned)v;
	if (cmdline_get_u64(cmd, "net_rxbufs", false, &v) > 0)
		a->o.nrx = (unsigned)v;
	if (cmdline_get_u64(cmd, "net_mtu", false, &v) > 0)
		a->mtu = (unsigned)v;
	if (cmdline_get_u64(cmd, "net_hold_ms", false, &v) > 0)
		a->hold_ms = (unsigned)v;
	if (cmdline_get(cmd, "net_mac", &val, &len)) {
		if (!net_parse_mac(val, len, a->mac))
			return "bad-net_mac";
		a->has_mac = true;
	}
	a->verbose = cmdline_has_word(cmd, "verbose");
	a->o.mrg = !cmdline_has_word(cmd, "net_no_mrg");
	a->o.offload = cmdline_has_word(cmd, "net_offload");
	a->o.event_idx = !cmdline_has_word(cmd, "net_no_event_idx");
	return net_parse_ipcfg(cmd, &a->ip);
}

const char *net_start(struct net *n, struct virtio_dev *d, const struct net_args *a,
		      struct net_ep *e)
{
	const char *err = net_open(n, d, &a->o);

	if (err)
		return err;
	net_ep_init(e, n, &a->ip);
	return 0;
}

/* The device's identity against the expectations; prints the NET line. */
static void net_check_identity(struct net *n, const struct net_args *a, struct probe_result *r)
{
	char mac[18];

	net_mac_str(n->mac, mac);
	con_printf("NET eth%u base=0x%lx irq=%u pin=%d offered=0x%lx accepted=0x%lx qsize=%u/%u mac=%s%s "
		   "mtu=%u status=%u mrg=%d event_idx=%d rxbuf=%ux%u\n",
		   a->dev, n->vd->base, n->vd->irq, n->vd->pin, n->offered, n->vd->features,
		   n->rxq.size, n->txq.size, mac, n->mac_from_device ? "" : "(default)", n->mtu,
		   n->status, n->mrg, n->rxq.event_idx, n->o.rxbuf, n->o.nrx);
	probe_note(r, "mac=%s", mac);
	if (a->has_mac && (!n->mac_from_device || memcmp(a->mac, n->mac, 6) != 0))
		probe_fail(r, "mac-not-as-expected%s", n->mac_from_device ? "" : "-no-VIRTIO_NET_F_MAC");
	if (a->mtu && (!n->has_mtu || n->mtu != a->mtu))
		probe_fail(r, "mtu=%u%s-want-%u", n->mtu, n->has_mtu ? "" : "-no-VIRTIO_NET_F_MTU", a->mtu);
	if (!(n->status & VIRTIO_NET_S_LINK_UP))
		probe_fail(r, "link-down");
}

/* net_pings echo requests of 56 bytes, alternately polled and interrupt-driven. */
static void net_check_ping(struct net_ep *e, const struct net_args *a, struct probe_result *r)
{
	uint64_t min = ~0ULL, max = 0, sum = 0, rtt;
	unsigned ok = 0, bad = 0;

	for (unsigned i = 0; i < a->pings; i++) {
		int st = net_ep_ping(e, 0x4242, (uint16_t)(i + 1), 56, 2, i & 1, NET_PING_TIMEOUT_US, &rtt);

		if (a->verbose)
			con_printf("NET PING seq=%u %s rtt_us=%lu %s\n", i + 1, st == 1 ? "ok" : "lost",
				   st == 1 ? rtt : 0, i & 1 ? "irq" : "poll");
		if (st < 0)
			bad++;
		if (st <= 0)
			continue;
		ok++;
		sum += rtt;
		min = rtt < min ? rtt : min;
		max = rtt > max ? rtt : max;
	}
	if (ok)
		probe_note(r, "ping=%u/%u rtt_us=%lu/%lu/%lu", ok, a->pings, min, sum / ok, max);
	else
		probe_note(r, "ping=0/%u", a->pings);
	if (ok != a->pings)
		probe_fail(r, "ping-lost=%u", a->pings - ok - bad);
	if (bad)
		probe_fail(r, "ping-reply-data-differs=%u", bad);
}

/* UDP echo of 1 byte up to what the MTU allows (1472 for 1500), in 1, 2 and 3 descriptors. */
static void net_check_udp(struct net_ep *e, const struct net_args *a, struct probe_result *r)
{
	unsigned max = net_ep_payload_max(e, NET_UDP_HLEN);
	unsigned sizes[] = { 1, 2, 3, 17, 64, 100, 256, 512, 1000, 1400, max - 1, max };
	unsigned n = sizeof(sizes) / sizeof(sizes[0]), ok = 0;
	uint64_t rtt, sum = 0, worst = 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned len = sizes[i] > max ? max : sizes[i];
		int st = net_ep_udp_echo(e, NET_GUEST_PORT, a->udp_port, len, 1 + i % 3, i, NET_UDP_TIMEOUT_US,
					 &rtt);

		if (st == 1) {
			ok++;
			sum += rtt;
			worst = rtt > worst ? rtt : worst;
		} else {
			probe_fail(r, "udp-%u=%s", len, st < 0 ? "data-differs" : "lost");
		}
	}
	probe_note(r, "udp=%u/%u max=%u", ok, n, max);
	if (ok)
		probe_note(r, "udp_rtt_us=%lu/%lu", sum / ok, worst);
}

/*
 * Throughput, in ring 3 (which the nested KVM runs natively, see user.h):
 * batches of NET_BURST_BATCH datagrams of NET_BURST_LEN bytes, one
 * notification per batch, then their echoes polled from the used ring, for
 * burst_ms. Nothing here may use port I/O: time is the TSC.
 */
struct net_burst {
	struct net_ep *e;
	struct vq_seg seg;
	uint64_t limit, wait;  /* TSC ticks: the whole burst, one batch's echoes */
	uint64_t sent, got, bad, other, ticks;
};

static bool net_burst_match(const struct net_ep *e, const struct net_pkt *p)
{
	return p->type == ETH_P_IP && p->proto == IP_P_UDP && p->ip_src == e->ip.gw &&
	       p->dport == NET_BURST_PORT;
}

static uint64_t net_burst_loop(void *arg)
{
	struct net_burst *b = arg;
	struct net *n = b->e->n;
	uint64_t t0 = user_rdtsc(), now = t0;

	while (now - t0 < b->limit) {
		uint64_t want, tb;

		net_tx_reclaim(n);
		if (n->txq.nfree < NET_BURST_BATCH)
			break;
		for (unsigned i = 0; i < NET_BURST_BATCH; i++)
			if (net_queue_tx(n, &b->seg, 1) >= 0)
				b->sent++;
		net_kick_tx(n);
		want = b->sent;
		tb = user_rdtsc();
		while (b->got < want && (now = user_rdtsc()) - tb < b->wait) {
			struct net_pkt p;
			const uint8_t *f;
			uint32_t len;

			if (!vq_has_used(&n->rxq)) {
				cpu_pause();
				continue;
			}
			if (net_recv(n, &f, &len, 0) != 1)
				continue;
			if (net_parse(f, len, &p) == 0 && net_burst_match(b->e, &p)) {
				b->got++;
				if (p.data_len != NET_BURST_LEN || p.data[0] != net_pattern(7, 0) ||
				    p.data[NET_BURST_LEN - 1] != net_pattern(7, NET_BURST_LEN - 1))
					b->bad++;
			} else {
				b->other++;
			}
			net_recv_done(n);
		}
		if (b->got < want)
			break;
	}
	b->ticks = now - t0;
	return 0;
}

/* TSC ticks per millisecond, against the PIT. */
static uint64_t net_tsc_per_ms(void)
{
	uint64_t p0 = pit_now_us(), c0 = user_rdtsc(), us;

	while ((us = pit_now_us() - p0) < 20000)
		cpu_pause();
	return (user_rdtsc() - c0) * 1000 / us;
}

static void net_check_burst(struct net_ep *e, const struct net_args *a, struct probe_result *r)
{
	struct net_burst b;
	uint64_t per_ms;

	/* Merged frames wait with the PIT; burst frames never need merging above 128 bytes. */
	if (e->n->mrg && e->n->o.rxbuf < 128) {
		probe_note(r, "burst=skipped-rxbuf<128");
		return;
	}
	if (!net_ep_tx_idle(e))
		return;
	memset(&b, 0, sizeof(b));
	b.e = e;
	b.seg = (struct vq_seg){ (uintptr_t)net_burst_buf,
				 net_ep_build_udp(e, net_burst_buf, NET_BURST_PORT, a->udp_port,
						  NET_BURST_LEN, 7), false };
	per_ms = net_tsc_per_ms();
	b.limit = per_ms * a->burst_ms;
	b.wait = per_ms * NET_BURST_WAIT_MS;
	user_init();
	user_call(net_burst_loop, &b);
	net_tx_reclaim(e->n);
	probe_note(r, "pps=%lu burst=%lu/%lu", b.ticks ? b.got * per_ms * 1000 / b.ticks : 0, b.got,
		   b.sent);
	/*
	 * The burst measures throughput through a host echo server that may drop
	 * datagrams when the host is busy (UDP); exact delivery is what the
	 * per-size echoes above check. Losing most of the burst is still a failure.
	 */
	if (b.got * 2 < b.sent)
		probe_fail(r, "burst-lost=%lu", b.sent - b.got);
	else if (b.got < b.sent)
		probe_note(r, "burst-lost=%lu", b.sent - b.got);
	if (b.bad)
		probe_fail(r, "burst-data-differs=%lu", b.bad);
	e->rx_other += (unsigned)b.other;
}

static bool net_match_none(struct net_ep *e, const struct net_pkt *p, void *ctx)
{
	(void)e;
	(void)p;
	(void)ctx;
	return false;
}

/*
 * Stop taking frames for hold_ms (the host floods us meanwhile: the device
 * must run out of buffers and wait, not spin), then drain what came and
 * ping: the device must resume when buffers return.
 */
static void net_check_hold(struct net_ep *e, const struct net_args *a, struct probe_result *r)
{
	uint64_t t0, rtt;
	unsigned before = e->n->rx_frames, drained;
	int st = 0;

	con_printf("NET HOLD %u ms\n", a->hold_ms);
	t0 = pit_now_us();
	while (pit_now_us() - t0 < a->hold_ms * 1000ULL)
		cpu_pause();
	(void)net_ep_wait(e, 300000, false, net_match_none, 0);
	drained = e->n->rx_frames - before;
	for (unsigned i = 0; i < 3 && st != 1; i++)
		st = net_ep_ping(e, 0x4244, (uint16_t)(200 + i), 56, 2, false, NET_PING_TIMEOUT_US, &rtt);
	probe_note(r, "held=%ums drained=%u", a->hold_ms, drained);
	if (st != 1)
		probe_fail(r, "no-ping-after-hold");
}

/* Device-side trouble seen on the way. */
static void net_check_health(struct net *n, struct net_ep *e, struct probe_result *r)
{
	if (e->err)
		probe_fail(r, "receive-error=%s", e->err == NET_E_RESET ? "needs-reset" : "bad-used");
	if (n->rxq.bad_used || n->txq.bad_used)
		probe_fail(r, "bad-used-id=%u/%u", n->rxq.bad_used, n->txq.bad_used);
	if (n->rx_short)
		probe_fail(r, "used-shorter-than-header=%u", n->rx_short);
	if (n->irq_missing)
		probe_fail(r, "no-interrupt-for=%u/%u", n->irq_missing, n->irq_waits);
	if (e->rx_bad)
		probe_fail(r, "bad-frames=%u", e->rx_bad);
	if (n->o.offload && !n->csum)
		probe_fail(r, "VIRTIO_NET_F_CSUM/GUEST_CSUM-not-offered");
	if (n->o.offload)
		probe_note(r, "csum_partial=tx%u/rx%u", n->tx_csum_partial, n->rx_csum_partial);
	if (n->mrg)
		probe_note(r, "merged=%u numbuf_max=%u", n->rx_merged, n->numbuf_max);
	else if (n->numbuf_not1)
		probe_note(r, "num_buffers-not-1=%u", n->numbuf_not1);
}

/*
 * "net": the first (net_dev=) virtio-net device: identity (MAC, MTU, link),
 * ARP for the gateway of ip=, pings, UDP echo up to the MTU with the host's
 * echo server (net_udp_port=), and a burst for packets per second.
 */
void net_probe(struct boot_info *bi, struct probe_result *r)
{
	static struct virtio_list l;
	struct net_args a;
	struct virtio_dev *d;
	const char *err;
	char gw[18];
	uint64_t us;

	if ((err = net_args_parse(bi->cmdline, &a)) != 0) {
		probe_fail(r, "%s", err);
		return;
	}
	d = net_find(&l, bi->cmdline, a.dev);
	if (!d) {
		probe_fail(r, "no-net-device-%u", a.dev);
		return;
	}
	if ((err = net_start(&net_dev, d, &a, &net_ep)) != 0) {
		probe_fail(r, "open-%s", err);
		return;
	}
	net_check_identity(&net_dev, &a, r);
	if (!net_ep_arp(&net_ep, 3, &us)) {
		probe_fail(r, "arp-no-reply");
	} else {
		net_mac_str(net_ep.gw_mac, gw);
		probe_note(r, "gw=%s arp_us=%lu", gw, us);
		net_check_ping(&net_ep, &a, r);
		if (net_dev.irq_waits)
			probe_note(r, "irq=%u/%u", net_dev.irq_waits - net_dev.irq_missing, net_dev.irq_waits);
		if (a.udp_port) {
			net_check_udp(&net_ep, &a, r);
			if (a.burst_ms)
				net_check_burst(&net_ep, &a, r);
		} else {
			probe_note(r, "udp=skipped");
		}
		if (a.hold_ms)
			net_check_hold(&net_ep, &a, r);
	}
	net_check_health(&net_dev, &net_ep, r);
	net_close(&net_dev);
}
