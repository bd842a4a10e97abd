/* blk_evil.c: the "blk-evil" check: malformed descriptor chains must be refused by the device, never hang it. */
#include "blk.h"
#include "bootinfo.h"
#include "cmdline.h"
#include "lib.h"
#include "probe.h"

/* How long a malformed request may take before it counts as a hang. */
#define EVIL_TIMEOUT_US 1000000
/* An address no guest has RAM at (a 48-bit physical address, 256 TiB - 64 KiB). */
#define EVIL_ADDR 0xffffffff0000ULL
#define EVIL_LEN  0xfffffff0u

static uint8_t evil_buf[BLK_SECTOR] __attribute__((aligned(4096)));
static struct blk evil_blk;

/*
 * The cases, each a read of sector 0 (header, one data buffer, status:
 * descriptors 0, 1, 2 of the chain) made invalid after vq_add_chain():
 *   loop       data -> status -> data: a cycle (2.7.5.3.1: no loops)
 *   hdr-oob    the header at an address outside guest RAM
 *   huge-len   the data buffer 0xfffffff0 bytes long
 *   ro-status  the status descriptor device-readable (2.7.4.2: writable after readable only)
 *   next-oob   the header's next >= queue size (2.7.5.2)
 */
static const char *const evil_cases[] = { "loop", "hdr-oob", "huge-len", "ro-status", "next-oob" };

static void evil_corrupt(struct vq *q, unsigned head, unsigned which)
{
	struct vq_desc *hdr = vq_chain_desc(q, head, 0);
	struct vq_desc *data = vq_chain_desc(q, head, 1);
	struct vq_desc *st = vq_chain_desc(q, head, 2);

	switch (which) {
	case 0:
		st->flags |= VQ_DESC_F_NEXT;
		st->next = (uint16_t)(data - q->desc);
		break;
	case 1:
		hdr->addr = EVIL_ADDR;
		break;
	case 2:
		data->len = EVIL_LEN;
		break;
	case 3:
		st->flags &= (uint16_t)~VQ_DESC_F_WRITE;
		break;
	default:
		hdr->next = q->size;
		break;
	}
}

/* A good read of sector 0 on the open device: NULL, or why it failed. */
static const char *evil_good_read(struct blk *b, bool pattern)
{
	struct vq_seg s = { (uintptr_t)evil_buf, BLK_SECTOR, true };
	int st;

	memset(evil_buf, 0xee, sizeof(evil_buf));
	st = blk_request(b, VIRTIO_BLK_T_IN, 0, &s, 1);
	if (st != VIRTIO_BLK_S_OK)
		return blk_result_name(st);
	return pattern && !blk_pattern_ok(evil_buf, 0) ? "bad-data" : 0;
}

/* Run case which on a freshly initialised device; note "<case>=<outcome>,<then>". */
static void evil_case(struct blk *b, struct virtio_dev *d, unsigned which, bool pattern,
		      struct probe_result *r)
{
	const char *name = evil_cases[which], *err, *what, *after;
	struct vq_seg s = { (uintptr_t)evil_buf, BLK_SECTOR, true };
	int head, st;
	bool bad;

	if ((err = blk_open(b, d, true)) != 0) {
		probe_fail(r, "%s=open-%s", name, err);
		return;
	}
	head = blk_submit(b, VIRTIO_BLK_T_IN, 0, &s, 1);
	if (head < 0) {
		probe_fail(r, "%s=queue-full", name);
		return;
	}
	evil_corrupt(&b->q, (unsigned)head, which);
	st = blk_wait(b, head, EVIL_TIMEOUT_US);
	what = blk_result_name(st);
	/*
	 * Accepted: DEVICE_NEEDS_RESET, or the chain used with an error status
	 * or none written. Not: OK (the device took a broken chain for a good
	 * one), a status written into a device-readable byte, or a hang.
	 */
	bad = st == VIRTIO_BLK_S_OK || st == BLK_E_TIMEOUT || st == BLK_E_QUEUE;
	if (which == 3 && st >= 0 && st != BLK_NO_STATUS) {
		bad = true;
		what = "wrote-readable-status";
	}
	if (st != BLK_E_RESET && st != BLK_E_TIMEOUT && st != BLK_E_QUEUE) {
		/* The device says it is fine: it must then still serve a good request. */
		after = evil_good_read(b, pattern);
		if (!after) {
			(bad ? probe_fail : probe_note)(r, "%s=%s,then-ok", name, what);
			blk_close(b);
			return;
		}
		bad = true;
		probe_fail(r, "%s=%s,then-%s-without-NEEDS_RESET", name, what, after);
	}
	/* Reset and set up again; a good read must work (the device recovers). */
	blk_close(b);
	if ((err = blk_open(b, d, true)) != 0) {
		probe_fail(r, "%s=%s,reinit-%s", name, what, err);
		return;
	}
	after = evil_good_read(b, pattern);
	(bad || after ? probe_fail : probe_note)(r, "%s=%s,reset-then-%s", name, what,
						 after ? after : "ok");
	blk_close(b);
}

/*
 * "blk-evil": on block device blk_evil_dev=<i> (default 0, i.e. vda) run
 * each case of evil_cases (minus blk_evil_skip=<case> ones) on a fresh
 * device, then check a good read. PASS when every case was refused and the
 * device served the good read (after a reset if it needed one).
 */
void blk_evil_probe(struct boot_info *bi, struct probe_result *r)
{
	static struct virtio_list l;
	const char *cmd = bi->cmdline;
	struct virtio_dev *d = 0;
	uint64_t want = 0;
	unsigned nblk = 0;
	bool pattern = !cmdline_has_word(cmd, "blk_no_pattern");

	if (cmdline_get_u64(cmd, "blk_evil_dev", false, &want) < 0)
		probe_fail(r, "bad-blk_evil_dev");
	virtio_discover(cmd, &l);
	for (unsigned i = 0; i < l.n && !d; i++)
		if (!virtio_unusable(&l.devs[i]) && l.devs[i].device_id == VIRTIO_ID_BLOCK &&
		    nblk++ == want)
			d = &l.devs[i];
	if (!d) {
		probe_fail(r, "no-block-device-%lu", want);
		return;
	}
	probe_note(r, "dev=0x%lx", d->base);
	for (unsigned c = 0; c < sizeof(evil_cases) / sizeof(evil_cases[0]); c++) {
		size_t pos = 0, len;
		const char *val;
		bool skip = false;

		while (cmdline_next(cmd, "blk_evil_skip", &pos, &val, &len))
			skip = skip || str_eq_n(val, len, evil_cases[c]);
		if (skip)
			probe_note(r, "%s=skipped", evil_cases[c]);
		else
			evil_case(&evil_blk, d, c, pattern, r);
	}
}
