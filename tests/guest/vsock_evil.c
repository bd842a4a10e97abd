/* vsock_evil.c: the vsock-evil check: malformed and out-of-protocol packets are dropped or reset, and the device keeps working. */
#include "bootinfo.h"
#include "cmdline.h"
#include "lib.h"
#include "probe.h"
#include "virtio.h"
#include "vsock.h"
#include "vsock_probe.h"

/* How long an answer to one bad packet may take. */
#define EVIL_WAIT_US 300000
/* Guest ports of the probe connections. */
#define EVIL_PORT0 40000

static uint8_t evil_data[64];

static void evil_poll(struct vs_dev *v, uint64_t us)
{
	uint64_t end = vs_now() + vs_ticks(us);

	while (vs_now() < end && !v->fatal)
		vs_poll(v);
}

/*
 * Send one bad packet from guest port EVIL_PORT0 + k to host port @to and
 * see what comes back: "dropped" (nothing), "rst", or something else. The
 * device must give the tx buffer back, never accept (RESPONSE), never need
 * a reset; @must_rst: only an RST will do.
 */
static void evil_one(struct vs_dev *v, struct probe_result *r, unsigned k, const char *name,
		     const struct vs_hdr *h, uint32_t hdrlen, uint32_t datalen, bool must_rst)
{
	struct vs_conn *p = vs_listen(v, EVIL_PORT0 + k);
	const char *what;

	if (!p) {
		probe_fail(r, "%s=no-slot", name);
		return;
	}
	p->state = VS_PROBE;
	p->rport = h->dst_port;
	if (!vs_send_raw(v, h, hdrlen, evil_data, datalen)) {
		probe_fail(r, "%s=tx-full", name);
		return;
	}
	evil_poll(v, EVIL_WAIT_US);
	what = p->nops == 0 ? "dropped" : p->last_op == VS_OP_RST ? "rst" :
	       p->last_op == VS_OP_RESPONSE ? "accepted" : "answered";
	if (vs_tx_inflight(v))
		probe_fail(r, "%s=tx-buffer-not-returned", name);
	else if (v->fatal || (virtio_status(v->vd) & VIRTIO_S_NEEDS_RESET))
		probe_fail(r, "%s=device-needs-reset", name);
	else if (p->nops && p->last_op != VS_OP_RST)
		probe_fail(r, "%s=%s-op%u", name, what, p->last_op);
	else if (must_rst && !p->nops)
		probe_fail(r, "%s=%s-want-rst", name, what);
	else
		probe_note(r, "%s=%s", name, what);
	p->state = VS_FREE;
}

/* Ignore the host's credit towards a host program that never reads: the device must reset. */
static void evil_credit(struct vs_dev *v, struct probe_result *r, uint32_t port, uint64_t tmo)
{
	struct vs_conn *c = vs_connect(v, port);
	uint64_t end = vs_now() + tmo;
	uint32_t alloc;

	if (!c) {
		probe_fail(r, "credit=no-slot");
		return;
	}
	/*
	 * Set before the RESPONSE is seen: 24 packets of 64 KiB regardless of
	 * credit, and no SHUTDOWN (shut_sent), so that an RST can only be the
	 * device refusing the data.
	 */
	c->ignore_credit = true;
	c->tx_want = 24 * VS_MAX_PKT;
	c->test_port = port;
	c->shut_sent = true;
	while (c->state == VS_CONNECTING && vs_now() < end && !v->fatal)
		vs_poll(v);
	alloc = c->peer_buf_alloc;   /* from the RESPONSE: later RSTs carry 0 */
	if (c->state != VS_OPEN && c->state != VS_RESET) {
		probe_fail(r, "credit=connect-%s", vs_verdict(c));
		return;
	}
	vsp_run(v, &c, 1, vs_ticks(10000000));
	if (c->state == VS_RESET && alloc && c->tx_sent > alloc)
		probe_note(r, "credit=rst,sent=%lu,buf_alloc=%u", c->tx_sent, alloc);
	else
		probe_fail(r, "credit=%s-after-%lu-bytes", vs_verdict(c) ? vs_verdict(c) : "no-rst",
			   c->tx_sent);
	/* Left to vs_release(): still open, it gets an RST, so the device drops it too. */
}

/*
 * "vsock-evil": against host port Q (vsock_connect_port): a header cut
 * short, len beyond the buffer, a wrong src_cid, a wrong dst_cid (dropped or
 * RST, never accepted), an unknown op, RW on no connection, a SEQPACKET
 * REQUEST (RST); with vsock_evil_port=E (a host program that never reads)
 * data beyond the host's credit (RST); then a normal connection to Q with
 * the first vsock_xfer transfer must work.
 */
void vsock_evil_probe(struct boot_info *bi, struct probe_result *r)
{
	const char *cmd = bi->cmdline, *err;
	struct vs_dev *v;
	uint64_t q = 0, e = 0, tmo = vsp_timeout(cmd, r), h2g = 4096, g2h = 4096;
	struct vs_conn *c;
	struct vs_hdr h;
	const char *val;
	size_t len;
	unsigned ok = 0, k = 0;

	if (cmdline_get_u64(cmd, "vsock_connect_port", false, &q) <= 0 || !q || q > 0xffffffffULL ||
	    cmdline_get_u64(cmd, "vsock_evil_port", false, &e) < 0 || e > 0xffffffffULL) {
		probe_fail(r, "need-vsock_connect_port");
		return;
	}
	if (cmdline_get(cmd, "vsock_xfer", &val, &len)) {
		size_t c1 = 0, c2;

		while (c1 < len && val[c1] != ':')
			c1++;
		for (c2 = c1; c2 < len && val[c2] != ','; c2++)
			;
		if (c1 >= len || str_parse_u64(val, c1, false, &h2g) ||
		    str_parse_u64(val + c1 + 1, c2 - c1 - 1, false, &g2h))
			probe_fail(r, "bad-vsock_xfer");
	}
	if ((v = vs_get(cmd, &err)) == 0) {
		probe_fail(r, "open=%s", err);
		return;
	}
	memset(evil_data, 0x5a, sizeof(evil_data));
#define EVIL_HDR(op_, kk)                                                              \
	do {                                                                           \
		memset(&h, 0, sizeof(h));                                              \
		h.src_cid = v->cid;                                                    \
		h.dst_cid = VS_HOST_CID;                                               \
		h.src_port = EVIL_PORT0 + (kk);                                        \
		h.dst_port = (uint32_t)q;                                              \
		h.type = VS_TYPE_STREAM;                                               \
		h.op = (op_);                                                          \
		h.buf_alloc = VS_BUF_ALLOC;                                            \
	} while (0)
	EVIL_HDR(VS_OP_REQUEST, k);
	evil_one(v, r, k++, "short-header", &h, VS_HDR_SIZE - 4, 0, false);
	EVIL_HDR(VS_OP_REQUEST, k);
	h.len = 4096;
	evil_one(v, r, k++, "len-beyond-buffer", &h, sizeof(h), 16, false);
	EVIL_HDR(VS_OP_REQUEST, k);
	h.src_cid = v->cid + 1;
	evil_one(v, r, k++, "wrong-src-cid", &h, sizeof(h), 0, false);
	EVIL_HDR(VS_OP_REQUEST, k);
	h.dst_cid = 99;
	evil_one(v, r, k++, "wrong-dst-cid", &h, sizeof(h), 0, false);
	EVIL_HDR(99, k);
	evil_one(v, r, k++, "unknown-op", &h, sizeof(h), 0, true);
	EVIL_HDR(VS_OP_RW, k);
	h.len = 16;
	evil_one(v, r, k++, "rw-no-connection", &h, sizeof(h), 16, true);
	EVIL_HDR(VS_OP_REQUEST, k);
	h.type = VS_TYPE_SEQPACKET;
	evil_one(v, r, k++, "seqpacket", &h, sizeof(h), 0, true);
#undef EVIL_HDR
	if (e)
		evil_credit(v, r, (uint32_t)e, tmo);
	else
		probe_note(r, "credit=skipped-no-vsock_evil_port");
	/* Afterwards a normal connection still works. */
	c = vs_connect(v, (uint32_t)q);
	if (!c) {
		probe_fail(r, "after=no-slot");
	} else {
		vs_transfer(c, (uint32_t)q, h2g, g2h);
		vsp_run(v, &c, 1, tmo);
		vsp_report("evil-after", c, r, &ok);
		probe_note(r, "after=%s", ok ? "ok" : "failed");
	}
	if (v->bad_pkts)
		probe_fail(r, "bad-packets-from-device=%u", v->bad_pkts);
	if (v->fatal)
		probe_fail(r, "device=%s", v->fatal);
	vs_release(v);
}
