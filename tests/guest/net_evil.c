/* net_evil.c: the "net-evil" check: malformed transmit chains must be dropped or refused, never hang the device. */
#include "net_ip.h"
#include "bootinfo.h"
#include "cmdline.h"
#include "io.h"
#include "lib.h"
#include "pit.h"
#include "probe.h"

#define EVIL_TIMEOUT_US 1000000
/* An address no guest has RAM at (as in blk-evil). */
#define EVIL_ADDR  0xffffffff0000ULL
/* More than the 64 KiB + 14-byte frame plus header any device takes, in three descriptors. */
#define EVIL_HUGE  72000
#define EVIL_SEQ   0x7777

static uint8_t evil_huge[EVIL_HUGE] __attribute__((section(".noinit"), aligned(4096)));
static uint8_t evil_small[64] __attribute__((aligned(64)));
static struct net evil_net;
static struct net_ep evil_ep;

/*
 * The cases, each on a freshly initialised device:
 *   wronly    a transmit chain of one device-writable buffer (5.1.6.2: readable only)
 *   hdr-only  a 12-byte chain: the header and no frame
 *   huge      header + 71988 frame bytes in three descriptors (> 65550)
 *   oob       a buffer at 0xffffffff0000, outside guest RAM
 *   bad-gso   an ICMP echo request whose header has gso_type 0x33 and gso_size 100,
 *             no HOST_* offload negotiated (5.1.6.2.1)
 */
static const char *const evil_cases[] = { "wronly", "hdr-only", "huge", "oob", "bad-gso" };

/* Queue case @which; -1 if the queue refused it. */
static int evil_send(struct net_ep *e, unsigned which)
{
	struct vq_seg s[3];
	unsigned n = 1;

	switch (which) {
	case 0:
		s[0] = (struct vq_seg){ (uintptr_t)evil_small, sizeof(evil_small), true };
		break;
	case 1:
		memset(evil_small, 0, NET_HDR_LEN);
		s[0] = (struct vq_seg){ (uintptr_t)evil_small, NET_HDR_LEN, false };
		break;
	case 2:
		/* A harmless frame if it got out: to the gateway, local experimental ethertype. */
		memset(evil_huge, 0, NET_HDR_LEN + NET_ETH_HLEN);
		memcpy(evil_huge + NET_HDR_LEN, e->gw_mac, 6);
		memcpy(evil_huge + NET_HDR_LEN + 6, e->n->mac, 6);
		evil_huge[NET_HDR_LEN + 12] = 0x88;
		evil_huge[NET_HDR_LEN + 13] = 0xb5;
		s[0] = (struct vq_seg){ (uintptr_t)evil_huge, 24000, false };
		s[1] = (struct vq_seg){ (uintptr_t)evil_huge + 24000, 24000, false };
		s[2] = (struct vq_seg){ (uintptr_t)evil_huge + 48000, EVIL_HUGE - 48000, false };
		n = 3;
		break;
	case 3:
		s[0] = (struct vq_seg){ EVIL_ADDR, 64, false };
		break;
	default: {
		uint8_t *buf = net_ep_txbuf();
		uint32_t len;

		/* A good echo request with a spoilt header: gso_type and gso_size (5.1.6). */
		if (!net_ep_tx_idle(e))
			return -1;
		len = net_ep_build_ping(e, buf, 0x4242, EVIL_SEQ, 56);
		buf[1] = 0x33;
		buf[4] = 100;
		s[0] = (struct vq_seg){ (uintptr_t)buf, len, false };
		break;
	}
	}
	return net_xmit(e->n, s, n);
}

/* Wait until the device gave every transmit chain back, or set NEEDS_RESET. */
static const char *evil_outcome(struct net *n)
{
	uint64_t t0 = pit_now_us();

	for (;;) {
		if (net_needs_reset(n))
			return "needs-reset";
		if (net_tx_reclaim(n) == 0)
			return "used";
		if (pit_now_us() - t0 > EVIL_TIMEOUT_US)
			return 0;
		cpu_pause();
	}
}

/* A good ping through a working device: NULL, or why not. */
static const char *evil_ping(struct net_ep *e)
{
	uint64_t rtt;

	for (unsigned i = 0; i < 3; i++) {
		int st = net_ep_ping(e, 0x4243, (uint16_t)(100 + i), 56, 2, false, EVIL_TIMEOUT_US, &rtt);

		if (st == 1)
			return 0;
		if (st < 0)
			return "reply-differs";
		if (e->err == NET_E_RESET)
			return "needs-reset";
	}
	return "ping-lost";
}

static bool evil_open(struct virtio_dev *d, const struct net_args *a, const uint8_t gw[6],
		      const char *name, const char *stage, struct probe_result *r)
{
	const char *err = net_start(&evil_net, d, a, &evil_ep);

	if (err) {
		probe_fail(r, "%s=%s-open-%s", name, stage, err);
		return false;
	}
	memcpy(evil_ep.gw_mac, gw, 6);
	evil_ep.gw_known = true;
	return true;
}

static void evil_case(struct virtio_dev *d, const struct net_args *a, const uint8_t gw[6],
		      unsigned which, struct probe_result *r)
{
	const char *name = evil_cases[which], *what, *after;

	if (!evil_open(d, a, gw, name, "first", r))
		return;
	if (evil_send(&evil_ep, which) < 0) {
		probe_fail(r, "%s=queue-refused", name);
		net_close(&evil_net);
		return;
	}
	what = evil_outcome(&evil_net);
	if (!what) {
		probe_fail(r, "%s=no-answer-within-1s", name);
	} else if (what[0] == 'u') {
		/* The device says it is fine: it must then still carry a good frame. */
		after = evil_ping(&evil_ep);
		if (!after) {
			probe_note(r, "%s=used,then-ok", name);
			net_close(&evil_net);
			return;
		}
		probe_fail(r, "%s=used,then-%s-without-NEEDS_RESET", name, after);
	}
	/* Reset, set up again: a good ping must work (the device recovers). */
	net_close(&evil_net);
	if (!evil_open(d, a, gw, name, "again", r))
		return;
	after = evil_ping(&evil_ep);
	(after || !what ? probe_fail : probe_note)(r, "%s=%s,reset-then-%s", name,
						   what ? what : "hang", after ? after : "ok");
	net_close(&evil_net);
}

/*
 * "net-evil": on virtio-net device net_dev=<i> (default 0), resolve the
 * gateway of ip=, then run each case of evil_cases (minus net_evil_skip=
 * ones) on a fresh device: the device must give the chain back or set
 * DEVICE_NEEDS_RESET within 1 s, and a ping must work afterwards (after a
 * reset if it needed one).
 */
void net_evil_probe(struct boot_info *bi, struct probe_result *r)
{
	static struct virtio_list l;
	const char *cmd = bi->cmdline, *err;
	struct net_args a;
	struct virtio_dev *d;
	uint8_t gw[6] = { 0 };
	uint64_t us;

	if ((err = net_args_parse(cmd, &a)) != 0) {
		probe_fail(r, "%s", err);
		return;
	}
	d = net_find(&l, cmd, a.dev);
	if (!d) {
		probe_fail(r, "no-net-device-%u", a.dev);
		return;
	}
	if (!evil_open(d, &a, gw, "arp", "first", r))
		return;
	if (!net_ep_arp(&evil_ep, 3, &us)) {
		probe_fail(r, "arp-no-reply");
		net_close(&evil_net);
		return;
	}
	memcpy(gw, evil_ep.gw_mac, 6);
	net_close(&evil_net);
	for (unsigned c = 0; c < sizeof(evil_cases) / sizeof(evil_cases[0]); c++) {
		size_t pos = 0, len;
		const char *val;
		bool skip = false;

		while (cmdline_next(cmd, "net_evil_skip", &pos, &val, &len))
			skip = skip || str_eq_n(val, len, evil_cases[c]);
		if (skip)
			probe_note(r, "%s=skipped", evil_cases[c]);
		else
			evil_case(d, &a, gw, c, r);
	}
}
