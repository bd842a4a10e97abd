/* blk.c: virtio-blk requests over a split virtqueue, and the "blk" check of every block device found. */
#include "blk.h"
#include "bootinfo.h"
#include "cmdline.h"
#include "fmt.h"
#include "io.h"
#include "lib.h"
#include "pit.h"
#include "probe.h"

#define BLK_TIMEOUT_US 2000000
/* Sectors [0, BLK_PATTERN_READS) and the last are read and checked against the pattern. */
#define BLK_PATTERN_READS 9
/* The write test: one single-sector request, then three sectors in three segments. */
#define BLK_WRITE_SECTORS 4

/* Data buffers: 8 sectors each, page aligned (.noinit: filled before use). */
static uint8_t blk_buf[8 * BLK_SECTOR] __attribute__((section(".noinit"), aligned(4096)));
static uint8_t blk_buf2[8 * BLK_SECTOR] __attribute__((section(".noinit"), aligned(4096)));
static struct blk blk_dev;

void blk_name(unsigned n, char out[4])
{
	out[0] = 'v';
	out[1] = 'd';
	out[2] = (char)('a' + n % 26);
	out[3] = 0;
}

const char *blk_result_name(int st)
{
	switch (st) {
	case VIRTIO_BLK_S_OK:
		return "ok";
	case VIRTIO_BLK_S_IOERR:
		return "ioerr";
	case VIRTIO_BLK_S_UNSUPP:
		return "unsupp";
	case BLK_NO_STATUS:
		return "no-status";
	case BLK_E_TIMEOUT:
		return "timeout";
	case BLK_E_RESET:
		return "needs-reset";
	case BLK_E_QUEUE:
		return "queue-error";
	default:
		return "bad-status";
	}
}

const char *blk_open(struct blk *b, struct virtio_dev *d, bool event_idx)
{
	uint64_t want = 1ULL << VIRTIO_BLK_F_SIZE_MAX | 1ULL << VIRTIO_BLK_F_SEG_MAX |
			1ULL << VIRTIO_BLK_F_RO | 1ULL << VIRTIO_BLK_F_FLUSH;
	const char *err;

	if (event_idx)
		want |= 1ULL << VIRTIO_F_RING_EVENT_IDX;
	b->vd = d;
	b->irq_mode = false;
	b->irq_waits = b->irq_missing = b->irq_unasked = b->len_short = 0;
	if ((err = virtio_negotiate(d, want, &b->offered)) != 0)
		return err;
	/* 5.2.4: capacity always; size_max and seg_max only with their features. */
	b->capacity = virtio_config(d, 0, 8);
	b->size_max = virtio_has(d->features, VIRTIO_BLK_F_SIZE_MAX) ? (uint32_t)virtio_config(d, 8, 4) : 0;
	b->seg_max = virtio_has(d->features, VIRTIO_BLK_F_SEG_MAX) ? (uint32_t)virtio_config(d, 12, 4) : 0;
	b->ro = virtio_has(d->features, VIRTIO_BLK_F_RO);
	b->flush = virtio_has(d->features, VIRTIO_BLK_F_FLUSH);
	if ((err = vq_init(&b->q, d, 0, BLK_QUEUE_SIZE)) != 0) {
		virtio_fail(d);
		return err;
	}
	if (virtio_irq_setup(d) < 0) {
		virtio_fail(d);
		return "irq-beyond-ioapic";
	}
	virtio_driver_ok(d);
	return 0;
}

void blk_close(struct blk *b)
{
	virtio_irq_enable(b->vd, false);
	(void)virtio_reset(b->vd, 100000);
	(void)virtio_irq_ack(b->vd);
}

int blk_submit(struct blk *b, uint32_t type, uint64_t sector, const struct vq_seg *data, unsigned n)
{
	struct vq_seg segs[2 + 8];
	int head;

	if (n > 8)
		return BLK_E_QUEUE;
	/* 5.2.6: header, data, then the status byte the device writes last. */
	b->hdr.type = type;
	b->hdr.reserved = 0;
	b->hdr.sector = sector;
	b->status = 0xff;
	segs[0] = (struct vq_seg){ (uintptr_t)&b->hdr, sizeof(b->hdr), false };
	for (unsigned i = 0; i < n; i++)
		segs[1 + i] = data[i];
	segs[1 + n] = (struct vq_seg){ (uintptr_t)&b->status, 1, true };
	/* Ask for an interrupt only when we are going to wait for one (2.7.7). */
	vq_interrupts(&b->q, b->irq_mode);
	head = vq_add_chain(&b->q, segs, n + 2);
	return head < 0 ? BLK_E_QUEUE : head;
}

/* Bytes of the chain at head the device may write: its data buffers and the status. */
static uint32_t blk_writable(struct blk *b, int head)
{
	uint32_t n = 0;

	for (unsigned k = 0; k < b->q.chain_len[head]; k++) {
		const struct vq_desc *d = vq_chain_desc(&b->q, (unsigned)head, k);

		if (d->flags & VQ_DESC_F_WRITE)
			n += d->len;
	}
	return n;
}

int blk_wait(struct blk *b, int head, uint64_t timeout_us)
{
	struct virtio_dev *d = b->vd;
	unsigned irqs0 = d->irq_used;
	uint32_t want_len = blk_writable(b, head), len = 0;
	uint64_t t0;
	int got, st;

	if (b->irq_mode)
		virtio_irq_enable(d, true);
	vq_kick(&b->q);
	t0 = pit_now_us();
	if (b->irq_mode) {
		/*
		 * Interrupts on while polling: the nested KVM injects on the next
		 * exit, which the PIT reads give it (see idle.c). Stop on the
		 * interrupt, or on NEEDS_RESET, which comes with a config interrupt.
		 */
		cpu_sti();
		while (d->irq_used == irqs0 && !(virtio_status(d) & VIRTIO_S_NEEDS_RESET) &&
		       pit_now_us() - t0 < timeout_us)
			cpu_pause();
		cpu_cli();
		virtio_irq_enable(d, false);
		b->irq_waits++;
		if (d->irq_used == irqs0)
			b->irq_missing++;
	}
	while (!vq_has_used(&b->q)) {
		if (virtio_status(d) & VIRTIO_S_NEEDS_RESET)
			return BLK_E_RESET;
		if (pit_now_us() - t0 >= timeout_us)
			return BLK_E_TIMEOUT;
		cpu_pause();
	}
	/*
	 * Polling: whatever the device raised meanwhile is acknowledged here.
	 * A used-buffer interrupt despite the suppression is allowed (2.7.7.2
	 * "SHOULD NOT"), but counted.
	 */
	if (!b->irq_mode && (virtio_irq_ack(d) & VIRTIO_INT_USED_BUFFER))
		b->irq_unasked++;
	got = vq_poll_used(&b->q, &len);
	if (got != head)
		return BLK_E_QUEUE;
	b->used_len = len;
	st = *(volatile uint8_t *)&b->status;
	/*
	 * 2.7.8: len is the number of bytes written, so after a good request
	 * all the writable bytes. Counted, not failed: Linux ignores it.
	 */
	if (st == VIRTIO_BLK_S_OK && len < want_len)
		b->len_short++;
	return st == 0xff ? BLK_NO_STATUS : st;
}

int blk_request(struct blk *b, uint32_t type, uint64_t sector, const struct vq_seg *data, unsigned n)
{
	int head = blk_submit(b, type, sector, data, n);

	return head < 0 ? head : blk_wait(b, head, BLK_TIMEOUT_US);
}

bool blk_pattern_ok(const uint8_t *p, uint64_t sector)
{
	char want[32];
	size_t n = fmt_snprintf(want, sizeof(want), "EMBER-SECTOR %lu", sector);

	if (memcmp(p, want, n) != 0)
		return false;
	for (size_t i = n; i < BLK_SECTOR; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * The write pattern (the host checks it in the image afterwards): bytes 0-31
 * "EMBER-WRITE <sector>" padded with NULs, byte k (32-511) = (sector + k) & 0xff.
 */
static void blk_write_pattern(uint8_t *p, uint64_t sector)
{
	memset(p, 0, 32);
	fmt_snprintf((char *)p, 32, "EMBER-WRITE %lu", sector);
	for (unsigned k = 32; k < BLK_SECTOR; k++)
		p[k] = (uint8_t)(sector + k);
}

/* The value of key=<index>:<value> for this index, e.g. blk_id=0:rootdisk. */
static bool blk_arg_for(const char *cmd, const char *key, unsigned index, const char **val, size_t *len)
{
	size_t pos = 0;

	while (cmdline_next(cmd, key, &pos, val, len)) {
		size_t c = 0;
		uint64_t i;

		while (c < *len && (*val)[c] != ':')
			c++;
		if (c < *len && str_parse_u64(*val, c, false, &i) == 0 && i == index) {
			*val += c + 1;
			*len -= c + 1;
			return true;
		}
	}
	return false;
}

/* True if some key=<n> token names index; *any tells whether the key appears at all. */
static bool blk_listed(const char *cmd, const char *key, unsigned index, bool *any)
{
	size_t pos = 0, len;
	const char *val;
	bool hit = false;
	uint64_t i;

	*any = false;
	while (cmdline_next(cmd, key, &pos, &val, &len)) {
		*any = true;
		if (str_parse_u64(val, len, false, &i) == 0 && i == index)
			hit = true;
	}
	return hit;
}

/* The arguments of the blk check (README.md). */
struct blk_args {
	uint64_t expect;      /* blk_expect=, or ~0 */
	uint64_t write;       /* blk_write_sector=, or 0: no write test */
	bool pattern;         /* not blk_no_pattern */
	bool event_idx;       /* not blk_no_event_idx */
	int mode;             /* blk_mode=: 0 poll, 1 irq, 2 both (alternating) */
};

struct blk_ctx {
	struct blk *b;
	const char *name;
	struct probe_result *r;
	int mode;
	unsigned nreq;
	unsigned ok;          /* checks passed */
};

/* One request in the mode blk_mode asks for (both: poll, irq, poll, ...). */
static int blk_do(struct blk_ctx *c, uint32_t type, uint64_t sector, const struct vq_seg *data, unsigned n)
{
	c->b->irq_mode = c->mode == 1 || (c->mode == 2 && (c->nreq & 1));
	c->nreq++;
	return blk_request(c->b, type, sector, data, n);
}

/* Record check "what": pass when cond, else fail with the detail. */
static bool blk_expect(struct blk_ctx *c, bool cond, const char *what, int st)
{
	if (cond)
		c->ok++;
	else
		probe_fail(c->r, "%s:%s=%s", c->name, what, blk_result_name(st));
	return cond;
}

static void blk_check_reads(struct blk_ctx *c, const struct blk_args *a)
{
	struct blk *b = c->b;
	uint64_t last = b->capacity - 1;
	struct vq_seg s[3];
	int st;
	bool ok;

	/* One sector. */
	s[0] = (struct vq_seg){ (uintptr_t)blk_buf, BLK_SECTOR, true };
	st = blk_do(c, VIRTIO_BLK_T_IN, 0, s, 1);
	if (blk_expect(c, st == VIRTIO_BLK_S_OK, "read1", st) && a->pattern && !blk_pattern_ok(blk_buf, 0))
		probe_fail(c->r, "%s:read1-data", c->name);

	/*
	 * Sectors 1-8 in one request, three data descriptors placed out of
	 * order in memory: sector 1 at +7 sectors, 2-5 at +0, 6-8 at +4.
	 */
	if ((b->seg_max && b->seg_max < 3) || (b->size_max && b->size_max < 4 * BLK_SECTOR)) {
		probe_note(c->r, "%s:read8x3-skipped-seg_max=%u-size_max=%u", c->name, b->seg_max,
			   b->size_max);
	} else {
		s[0] = (struct vq_seg){ (uintptr_t)blk_buf + 7 * BLK_SECTOR, BLK_SECTOR, true };
		s[1] = (struct vq_seg){ (uintptr_t)blk_buf, 4 * BLK_SECTOR, true };
		s[2] = (struct vq_seg){ (uintptr_t)blk_buf + 4 * BLK_SECTOR, 3 * BLK_SECTOR, true };
		memset(blk_buf, 0xee, sizeof(blk_buf));
		st = blk_do(c, VIRTIO_BLK_T_IN, 1, s, 3);
		if (blk_expect(c, st == VIRTIO_BLK_S_OK, "read8x3", st) && a->pattern) {
			ok = blk_pattern_ok(blk_buf + 7 * BLK_SECTOR, 1);
			for (unsigned i = 0; i < 7; i++)
				ok = ok && blk_pattern_ok(blk_buf + i * BLK_SECTOR, 2 + i);
			if (!ok)
				probe_fail(c->r, "%s:read8x3-data", c->name);
		}
	}

	/* The last sector, then one past the end and one straddling it: IOERR (5.2.6.1). */
	s[0] = (struct vq_seg){ (uintptr_t)blk_buf, BLK_SECTOR, true };
	st = blk_do(c, VIRTIO_BLK_T_IN, last, s, 1);
	if (blk_expect(c, st == VIRTIO_BLK_S_OK, "read-last", st) && a->pattern &&
	    !blk_pattern_ok(blk_buf, last))
		probe_fail(c->r, "%s:read-last-data", c->name);
	st = blk_do(c, VIRTIO_BLK_T_IN, b->capacity, s, 1);
	blk_expect(c, st == VIRTIO_BLK_S_IOERR, "read-past-end", st);
	s[0].len = 2 * BLK_SECTOR;
	st = blk_do(c, VIRTIO_BLK_T_IN, last, s, 1);
	blk_expect(c, st == VIRTIO_BLK_S_IOERR, "read-across-end", st);
}

/* Write sectors w..w+3 (1 + 3 in three segments), flush, read them back in one request. */
static void blk_check_writes(struct blk_ctx *c, uint64_t w)
{
	struct blk *b = c->b;
	struct vq_seg s[3];
	int st;

	for (unsigned i = 0; i < BLK_WRITE_SECTORS; i++)
		blk_write_pattern(blk_buf + i * BLK_SECTOR, w + i);
	s[0] = (struct vq_seg){ (uintptr_t)blk_buf, BLK_SECTOR, false };
	st = blk_do(c, VIRTIO_BLK_T_OUT, w, s, 1);
	blk_expect(c, st == VIRTIO_BLK_S_OK, "write1", st);
	for (unsigned i = 0; i < 3; i++)
		s[i] = (struct vq_seg){ (uintptr_t)blk_buf + (1 + i) * BLK_SECTOR, BLK_SECTOR, false };
	st = blk_do(c, VIRTIO_BLK_T_OUT, w + 1, s, 3);
	blk_expect(c, st == VIRTIO_BLK_S_OK, "write3x3", st);
	if (b->flush) {
		st = blk_do(c, VIRTIO_BLK_T_FLUSH, 0, s, 0);
		blk_expect(c, st == VIRTIO_BLK_S_OK, "flush", st);
	}
	memset(blk_buf2, 0xee, BLK_WRITE_SECTORS * BLK_SECTOR);
	s[0] = (struct vq_seg){ (uintptr_t)blk_buf2, BLK_WRITE_SECTORS * BLK_SECTOR, true };
	st = blk_do(c, VIRTIO_BLK_T_IN, w, s, 1);
	if (blk_expect(c, st == VIRTIO_BLK_S_OK, "readback", st) &&
	    memcmp(blk_buf, blk_buf2, BLK_WRITE_SECTORS * BLK_SECTOR) != 0)
		probe_fail(c->r, "%s:readback-differs", c->name);
}

/* A read-only device: a write must fail with IOERR (5.2.6.2) and change nothing. */
static void blk_check_ro(struct blk_ctx *c, uint64_t w)
{
	struct vq_seg s = { (uintptr_t)blk_buf2, BLK_SECTOR, true };
	int st;

	st = blk_do(c, VIRTIO_BLK_T_IN, w, &s, 1);
	if (!blk_expect(c, st == VIRTIO_BLK_S_OK, "ro-read", st))
		return;
	blk_write_pattern(blk_buf, w);
	s = (struct vq_seg){ (uintptr_t)blk_buf, BLK_SECTOR, false };
	st = blk_do(c, VIRTIO_BLK_T_OUT, w, &s, 1);
	blk_expect(c, st == VIRTIO_BLK_S_IOERR, "ro-write", st);
	s = (struct vq_seg){ (uintptr_t)blk_buf, BLK_SECTOR, true };
	st = blk_do(c, VIRTIO_BLK_T_IN, w, &s, 1);
	if (blk_expect(c, st == VIRTIO_BLK_S_OK, "ro-reread", st) &&
	    memcmp(blk_buf, blk_buf2, BLK_SECTOR) != 0)
		probe_fail(c->r, "%s:ro-data-changed", c->name);
}

/* GET_ID (5.2.6): up to 20 bytes, NUL-padded when shorter. Printable copy in id. */
static void blk_check_id(struct blk_ctx *c, const char *cmd, unsigned index, char id[21])
{
	struct vq_seg s = { (uintptr_t)blk_buf, VIRTIO_BLK_ID_BYTES, true };
	const char *want;
	size_t wlen, n;
	int st;

	memset(blk_buf, 0, VIRTIO_BLK_ID_BYTES);
	st = blk_do(c, VIRTIO_BLK_T_GET_ID, 0, &s, 1);
	n = st == VIRTIO_BLK_S_OK ? str_nlen((const char *)blk_buf, VIRTIO_BLK_ID_BYTES) : 0;
	for (size_t i = 0; i < n; i++)
		id[i] = blk_buf[i] > 0x20 && blk_buf[i] < 0x7f ? (char)blk_buf[i] : '?';
	id[n] = 0;
	if (blk_arg_for(cmd, "blk_id", index, &want, &wlen)) {
		if (blk_expect(c, st == VIRTIO_BLK_S_OK, "get-id", st) && !str_eq_n(want, wlen, id))
			probe_fail(c->r, "%s:id=%s-want-%.*s", c->name, n ? id : "(empty)", (int)wlen, want);
	} else if (st != VIRTIO_BLK_S_UNSUPP) {
		blk_expect(c, st == VIRTIO_BLK_S_OK, "get-id", st);
	}
}

static void blk_check_dev(const char *cmd, struct virtio_dev *d, unsigned index,
			  const struct blk_args *a, struct probe_result *r)
{
	struct blk *b = &blk_dev;
	char name[4], id[21] = "";
	struct blk_ctx c = { b, name, r, a->mode, 0, 0 };
	const char *err, *val;
	uint64_t w = a->write;
	size_t len;
	bool any;

	blk_name(index, name);
	if ((err = blk_open(b, d, a->event_idx)) != 0) {
		probe_fail(r, "%s:%s", name, err);
		return;
	}
	con_printf("BLK %s base=0x%lx irq=%u pin=%d vendor=0x%x offered=0x%lx accepted=0x%lx "
		   "qsize=%u capacity=%lu size_max=%u seg_max=%u ro=%d flush=%d event_idx=%d\n",
		   name, d->base, d->irq, d->pin, d->vendor, b->offered, d->features, b->q.size,
		   b->capacity, b->size_max, b->seg_max, b->ro, b->flush, b->q.event_idx);

	if (blk_arg_for(cmd, "blk_capacity", index, &val, &len)) {
		uint64_t want;

		if (str_parse_u64(val, len, false, &want) != 0 || want != b->capacity)
			probe_fail(r, "%s:capacity=%lu-want-%.*s", name, b->capacity, (int)len, val);
	}
	if (blk_listed(cmd, "blk_ro", index, &any) != b->ro && any)
		probe_fail(r, "%s:ro=%d-unexpected", name, b->ro);
	if (b->capacity < BLK_PATTERN_READS + 1) {
		probe_fail(r, "%s:capacity-%lu-too-small", name, b->capacity);
		blk_close(b);
		return;
	}

	blk_check_id(&c, cmd, index, id);
	blk_check_reads(&c, a);
	if (b->ro) {
		/* Any sector will do; the host checks the image is unchanged. */
		blk_check_ro(&c, w && w < b->capacity ? w : 1);
	} else if (w) {
		if (w < BLK_PATTERN_READS || w + BLK_WRITE_SECTORS > b->capacity - 1)
			probe_fail(r, "%s:blk_write_sector-%lu-outside-[%u,%lu]", name, w,
				   BLK_PATTERN_READS, b->capacity - 1 - BLK_WRITE_SECTORS);
		else
			blk_check_writes(&c, w);
	}
	if (b->irq_missing)
		probe_fail(r, "%s:no-interrupt-for-%u/%u", name, b->irq_missing, b->irq_waits);
	if (b->q.bad_used)
		probe_fail(r, "%s:bad-used-id", name);
	probe_note(r, "%s:cap=%lu,id=%s,%s,checks=%u,irq=%u/%u", name, b->capacity, id[0] ? id : "-",
		   b->ro ? "ro" : "rw", c.ok, b->irq_waits - b->irq_missing, b->irq_waits);
	/* Allowed, but worth seeing: interrupts while suppressed, used len below what was written. */
	if (b->irq_unasked)
		probe_note(r, "%s:unasked-irqs=%u", name, b->irq_unasked);
	if (b->len_short)
		probe_note(r, "%s:used-len-short=%u", name, b->len_short);
	blk_close(b);
}

/*
 * "blk": every virtio-mmio device of the command line must be a usable
 * modern (version 2) device; each block device among them, in command-line
 * order (vda first), is checked: capacity, GET_ID, pattern reads (1 sector,
 * 8 sectors in 3 descriptors, the last sector), reads past the end fail,
 * writes + flush + read-back (blk_write_sector=), and on a read-only device
 * a write fails and changes nothing. See README.md for the arguments.
 */
void blk_probe(struct boot_info *bi, struct probe_result *r)
{
	static struct virtio_list l;
	const char *cmd = bi->cmdline, *mode;
	struct blk_args a = { ~0ULL, 0, true, true, 2 };
	unsigned nblk = 0;
	size_t len;

	if (cmdline_get_u64(cmd, "blk_expect", false, &a.expect) < 0)
		probe_fail(r, "bad-blk_expect");
	if (cmdline_get_u64(cmd, "blk_write_sector", false, &a.write) < 0)
		probe_fail(r, "bad-blk_write_sector");
	a.pattern = !cmdline_has_word(cmd, "blk_no_pattern");
	a.event_idx = !cmdline_has_word(cmd, "blk_no_event_idx");
	if (cmdline_get(cmd, "blk_mode", &mode, &len)) {
		if (str_eq_n(mode, len, "poll"))
			a.mode = 0;
		else if (str_eq_n(mode, len, "irq"))
			a.mode = 1;
		else if (!str_eq_n(mode, len, "both"))
			probe_fail(r, "bad-blk_mode");
	}

	virtio_discover(cmd, &l);
	if (l.error)
		probe_fail(r, "bad-virtio_mmio.device=%.*s", (int)l.error_len, l.error);
	for (unsigned i = 0; i < l.n; i++) {
		struct virtio_dev *d = &l.devs[i];
		const char *why = virtio_unusable(d);

		if (why && d->version != 2) {
			probe_fail(r, "virtio%u@0x%lx:%s", i, d->base, why);
			continue;
		}
		if (why || d->device_id != VIRTIO_ID_BLOCK)
			continue;
		blk_check_dev(cmd, d, nblk++, &a, r);
	}
	if (a.expect != ~0ULL && nblk != a.expect)
		probe_fail(r, "devices=%u-want-%lu", nblk, a.expect);
	else if (nblk == 0 && a.expect == ~0ULL)
		probe_fail(r, "no-block-device");
	else
		probe_note(r, "devices=%u", nblk);
}
