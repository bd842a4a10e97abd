/* vsock_probe.c: the vsock-listen, vsock-connect and vsock-multi checks: checked streams both ways over virtio-vsock. */
#include "bootinfo.h"
#include "cmdline.h"
#include "fmt.h"
#include "lib.h"
#include "probe.h"
#include "vsock.h"
#include "vsock_probe.h"

#define VSP_MAX_XFERS 16

/* vsock_xfer=<h2g>:<g2h>,...: bytes host -> guest and guest -> host per connection. */
static int vsp_xfers(const char *cmd, uint64_t h2g[], uint64_t g2h[], struct probe_result *r)
{
	const char *val;
	size_t len, i = 0;
	int n = 0;

	if (!cmdline_get(cmd, "vsock_xfer", &val, &len)) {
		h2g[0] = g2h[0] = 4096;
		return 1;
	}
	while (i < len && n < VSP_MAX_XFERS) {
		size_t a = i, c, e;

		while (i < len && val[i] != ',')
			i++;
		e = i++;
		for (c = a; c < e && val[c] != ':'; c++)
			;
		if (c == e || str_parse_u64(val + a, c - a, false, &h2g[n]) ||
		    str_parse_u64(val + c + 1, e - c - 1, false, &g2h[n])) {
			probe_fail(r, "bad-vsock_xfer");
			return 0;
		}
		n++;
	}
	return n;
}

static uint32_t vsp_arg(const char *cmd, const char *key, uint64_t def, struct probe_result *r)
{
	uint64_t v = def;
	int got = cmdline_get_u64(cmd, key, false, &v);

	if (got < 0 || v > 0xffffffffULL) {
		probe_fail(r, "bad-%s", key);
		return (uint32_t)def;
	}
	return (uint32_t)v;
}

uint64_t vsp_timeout(const char *cmd, struct probe_result *r)
{
	return vs_ticks((uint64_t)vsp_arg(cmd, "vsock_timeout", 120, r) * 1000000);
}

bool vsp_run(struct vs_dev *v, struct vs_conn **c, unsigned n, uint64_t ticks)
{
	uint64_t end = vs_now() + ticks;

	for (;;) {
		bool all = true;

		vs_poll(v);
		for (unsigned i = 0; i < n; i++)
			all = all && vs_done(c[i]);
		if (all || v->fatal)
			return all;
		if (vs_now() > end)
			return false;
	}
}

static uint64_t vsp_rate(uint64_t bytes, uint64_t t0, uint64_t t1)
{
	uint64_t us = t1 > t0 ? vs_us(t1 - t0) : 0;

	return us ? bytes * 1000000 / us : 0;
}

void vsp_report(const char *check, struct vs_conn *c, struct probe_result *r, unsigned *ok)
{
	const char *why = vs_verdict(c);

	con_printf("VSOCK %s port=%u lport=%u rport=%u h2g=%lu g2h=%lu us=%lu h2g_Bps=%lu g2h_Bps=%lu %s\n",
		   check, c->test_port, c->lport, c->rport, c->rx_got, c->tx_sent,
		   c->t_end > c->t_open && c->t_open ? vs_us(c->t_end - c->t_open) : 0,
		   vsp_rate(c->rx_got, c->t_open, c->t_rx_done),
		   vsp_rate(c->tx_sent, c->t_open, c->t_tx_done), why ? why : "ok");
	if (why)
		probe_fail(r, "port%u=%s", c->test_port, why);
	else
		(*ok)++;
	if (c->rx_bad)
		probe_note(r, "port%u:first-bad-byte-at=%lu", c->test_port, c->rx_bad_at);
}

static void vsp_dev_notes(struct vs_dev *v, struct probe_result *r)
{
	if (v->fatal)
		probe_fail(r, "device=%s", v->fatal);
	if (v->bad_pkts)
		probe_fail(r, "bad-packets=%u", v->bad_pkts);
	if (v->strays)
		probe_note(r, "stray-packets=%u", v->strays);
}

/*
 * "vsock-listen": the guest listens on ports P..P+n-1 (vsock_listen_port=P,
 * one per vsock_xfer entry); a host program connects to each through
 * uds_path with "CONNECT <port>\n"; each connection carries its transfer
 * both ways, checked against the pattern, and ends with a clean close.
 * REQUESTs for other ports are refused with RST (counted).
 */
void vsock_listen_probe(struct boot_info *bi, struct probe_result *r)
{
	uint64_t h2g[VSP_MAX_XFERS], g2h[VSP_MAX_XFERS];
	struct vs_conn *c[VSP_MAX_XFERS];
	const char *cmd = bi->cmdline, *err;
	struct vs_dev *v;
	uint32_t port = vsp_arg(cmd, "vsock_listen_port", 0, r);
	int n = vsp_xfers(cmd, h2g, g2h, r);
	unsigned ok = 0;

	if (!port || !n) {
		probe_fail(r, "need-vsock_listen_port");
		return;
	}
	if ((v = vs_get(cmd, &err)) == 0) {
		probe_fail(r, "open=%s", err);
		return;
	}
	for (int i = 0; i < n; i++) {
		c[i] = vs_listen(v, port + (uint32_t)i);
		vs_transfer(c[i], port + (uint32_t)i, h2g[i], g2h[i]);
	}
	con_printf("VSOCK listen ready cid=%lu ports=%u-%u\n", v->cid, port, port + (uint32_t)n - 1);
	vsp_run(v, c, (unsigned)n, vsp_timeout(cmd, r));
	for (int i = 0; i < n; i++)
		vsp_report("listen", c[i], r, &ok);
	probe_note(r, "cid=%lu conns=%u/%d refused-requests=%u", v->cid, ok, n, v->requests_refused);
	vsp_dev_notes(v, r);
	vs_release(v);
}

/*
 * "vsock-connect": the guest connects to CID 2 port Q+i (vsock_connect_port=Q),
 * one connection after the other, each with its vsock_xfer transfer. With
 * vsock_refused_port=R first a connection to R, where nobody listens, must
 * be refused with RST.
 */
void vsock_connect_probe(struct boot_info *bi, struct probe_result *r)
{
	uint64_t h2g[VSP_MAX_XFERS], g2h[VSP_MAX_XFERS];
	const char *cmd = bi->cmdline, *err;
	struct vs_dev *v;
	uint32_t port = vsp_arg(cmd, "vsock_connect_port", 0, r);
	uint32_t refused = vsp_arg(cmd, "vsock_refused_port", 0, r);
	int n = vsp_xfers(cmd, h2g, g2h, r);
	uint64_t tmo = vsp_timeout(cmd, r);
	unsigned ok = 0;

	if (!port || !n) {
		probe_fail(r, "need-vsock_connect_port");
		return;
	}
	if ((v = vs_get(cmd, &err)) == 0) {
		probe_fail(r, "open=%s", err);
		return;
	}
	if (refused) {
		struct vs_conn *c = vs_connect(v, refused);

		if (!c || !vsp_run(v, &c, 1, tmo) || c->state != VS_REFUSED)
			probe_fail(r, "port%u-not-refused=%s", refused, c ? vs_verdict(c) : "no-slot");
		else
			probe_note(r, "port%u=rst", refused);
	}
	for (int i = 0; i < n && !v->fatal; i++) {
		struct vs_conn *c = vs_connect(v, port + (uint32_t)i);

		if (!c) {
			probe_fail(r, "no-slot");
			break;
		}
		vs_transfer(c, port + (uint32_t)i, h2g[i], g2h[i]);
		vsp_run(v, &c, 1, tmo);
		vsp_report("connect", c, r, &ok);
	}
	probe_note(r, "conns=%u/%d", ok, n);
	vsp_dev_notes(v, r);
	vs_release(v);
}

/*
 * "vsock-multi": vsock_conns=N (default 16, at most 24) connections each way
 * at once: the guest listens on P+1000+i and connects to Q+1000+i, every
 * connection moving vsock_multi_bytes (default 65536) both ways, checked.
 */
void vsock_multi_probe(struct boot_info *bi, struct probe_result *r)
{
	struct vs_conn *c[2 * 24];
	const char *cmd = bi->cmdline, *err;
	struct vs_dev *v;
	uint32_t lport = vsp_arg(cmd, "vsock_listen_port", 0, r);
	uint32_t cport = vsp_arg(cmd, "vsock_connect_port", 0, r);
	uint32_t n = vsp_arg(cmd, "vsock_conns", 16, r);
	uint32_t bytes = vsp_arg(cmd, "vsock_multi_bytes", 65536, r);
	unsigned ok = 0, m = 0;
	uint64_t t0;

	if (!lport || !cport || n == 0 || n > 24) {
		probe_fail(r, "need-vsock_listen_port-vsock_connect_port-and-1..24-vsock_conns");
		return;
	}
	if ((v = vs_get(cmd, &err)) == 0) {
		probe_fail(r, "open=%s", err);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		c[m] = vs_listen(v, lport + 1000 + i);
		vs_transfer(c[m++], lport + 1000 + i, bytes, bytes);
	}
	con_printf("VSOCK multi ready ports=%u-%u\n", lport + 1000, lport + 1000 + n - 1);
	t0 = vs_now();
	for (uint32_t i = 0; i < n; i++) {
		c[m] = vs_connect(v, cport + 1000 + i);
		if (!c[m]) {
			probe_fail(r, "no-slot-for-connect-%u", i);
			break;
		}
		vs_transfer(c[m++], cport + 1000 + i, bytes, bytes);
		vs_poll(v);
	}
	vsp_run(v, c, m, vsp_timeout(cmd, r));
	for (unsigned i = 0; i < m; i++)
		vsp_report("multi", c[i], r, &ok);
	probe_note(r, "conns=%u/%u bytes-each-way=%u us=%lu", ok, 2 * n, bytes, vs_us(vs_now() - t0));
	vsp_dev_notes(v, r);
	vs_release(v);
}
