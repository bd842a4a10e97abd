/* fuzz_blk.c: libFuzzer target: a hostile driver's virtio-blk requests, through both I/O engines. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/virtio/blk.h"
#include "fuzz_dev.h"

/*
 * Input:
 *   byte 0   the drive: bit 0 io_uring engine (else synchronous), bit 1
 *            read-only, bit 2 cache Writeback (flush offered)
 *   byte 1   the driver: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bits 2-5 log2
 *            of the queue size (mod 9), bit 6 interrupts suppressed
 *            (NO_INTERRUPT, or used_event behind)
 *   then requests, each:
 *     u8 ctl   bit 0 notify after it (the batch so far goes), bit 1 in an
 *              indirect table, bit 2 mangled (3 bytes follow the segments),
 *              bit 3 notify by a QueueNotify write (else the ioeventfd),
 *              bit 4 reset the device right after that notification
 *     u32 type, u64 sector        the request header (5.2.6)
 *     u8 nseg - 1, then per segment u8 flags, u16 length and, with flags
 *              bit 2, a raw u32 guest address; flags bit 0: device-writable,
 *              bit 1: the length is in 64-byte units
 *     mangle:  u8 what, u8 where, u32 xor       (a hostile driver's descriptors)
 * The fuzzer places every buffer in its own part of guest RAM (the first 16
 * readable bytes are the header, the rest a pattern; writable ones are
 * poisoned) and knows what each request must get: the status byte, the
 * used length, the data moved, the bytes left alone (5.2.6, with ember's
 * size_max 1 MiB and seg_max 254), and whether the queue breaks (2.7.4.2,
 * 2.7.5.3). Raw addresses and mangled descriptors make the batch hostile:
 * then only memory safety (ASan, and guard pages around guest RAM) and the
 * device's state are checked, and the device is reset afterwards.
 */
#define RAM_SIZE   (4u << 20)
#define DESC_GPA   0x0000u
#define AVAIL_GPA  0x1000u
#define USED_GPA   0x2000u
#define ITAB_GPA   0x3000u         /* indirect tables */
#define DATA_GPA   0x10000u        /* buffers */
#define DISK_SECT  (4096u + 8)
#define DISK_SIZE  (DISK_SECT * VBLK_SECTOR_SIZE)
#define NDEV       8
#define MAX_SEGS   256
#define POISON     0xa5
#define WAIT_MS    10000

#define T_IN       0
#define T_OUT      1
#define T_FLUSH    4
#define T_GET_ID   8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seg {
	gpa_t gpa;
	uint32_t len;
	bool w, raw;
};

/* One request as the fuzzer built it, and what the device must do with it. */
struct req {
	uint16_t head;
	uint8_t hdr[16];
	uint32_t type;
	uint64_t sector;
	uint64_t r, w;             /* readable, writable bytes */
	bool bad;                  /* breaks the queue (2.7.4.2, 2.7.5.3) */
	bool answered;             /* W > 0: it has a status byte */
	uint8_t status;
	uint32_t used;
	int op;                    /* VBLK_OP_* it moves data for, if it succeeds */
	uint64_t pos, dlen;
	bool seen;
	unsigned nseg;
	struct seg seg[MAX_SEGS];  /* last: a new request clears what is above */
};

static struct {
	int ready, aio_ok;
	struct kvm_vm vm;
	struct guest_mem mem;
	uint8_t *ram;
	struct evloop loop;
	struct bus bus;
	int disk;                      /* the memfd every drive shares */
	uint8_t pattern[DISK_SIZE];    /* the disk's contents at the start of each input */
	uint8_t scratch[RAM_SIZE], scratch2[RAM_SIZE];
	uint8_t gpat[RAM_SIZE];        /* what the driver's readable buffers hold, by address */
	uint8_t poison[RAM_SIZE];      /* what its writable ones hold */
	struct vblk *blk[NDEV];
} G;

/* The driver: its queue, the batch being built, what it negotiated. */
static struct {
	struct vblk *b;
	uint64_t base;
	uint8_t dcfg;
	bool event_idx, indirect, suppress, ro, flush;
	struct fz_q q;
	unsigned nreq;
	uint16_t next_desc;
	gpa_t next_itab, next_data;
	bool tainted;                  /* raw addresses or mangled: hostile */
	uint64_t dirty_lo, dirty_hi;   /* disk bytes to restore */
	struct req req[VIRTQ_MAX_SIZE];   /* last: each input clears what is above */
} S;


static const char *drive_id(unsigned i)
{
	/* GET_ID gives 20 bytes: the long id has no terminator there (5.2.6). */
	return (i ^ i >> 1) & 1 ? "a_drive_id_longer_than_20_bytes" : "vda";
}

static struct vblk *make_drive(unsigned i, bool aio)
{
	struct vblk *b = calloc(1, sizeof(*b));
	struct drive_cfg cfg;
	int fd = dup(G.disk), r;

	FUZZ_CHECK(b && fd >= 0);
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.drive_id, sizeof(cfg.drive_id), "%s", drive_id(i));
	cfg.is_read_only = i & 2;
	cfg.cache_type = i & 4 ? CACHE_WRITEBACK : CACHE_UNSAFE;
	cfg.io_engine = aio ? IO_ENGINE_ASYNC : IO_ENGINE_SYNC;
	r = vblk_init(b, &cfg, fd, DISK_SECT, &G.vm, &G.mem, &G.loop, FZ_BASE + i * 0x10000ULL, 5 + i);
	if (r) {
		/* Only io_uring may be missing here (an old or locked-down kernel). */
		FUZZ_CHECK(aio);
		vblk_destroy(b);
		free(b);
		return NULL;
	}
	FUZZ_CHECK(bus_add(&G.bus, FZ_BASE + i * 0x10000ULL, FZ_SLOT, &virtio_mmio_bus_ops, &b->t) == 0);
	return b;
}

static void setup(void)
{
	fz_fake_vm(&G.vm);
	G.ram = fz_ram_map(RAM_SIZE, &G.mem);
	FUZZ_CHECK(evloop_init(&G.loop) == 0);
	G.disk = memfd_create("fuzz-disk", MFD_CLOEXEC);
	FUZZ_CHECK(G.disk >= 0 && ftruncate(G.disk, DISK_SIZE) == 0);
	for (uint64_t i = 0; i < DISK_SIZE; i++)
		G.pattern[i] = (uint8_t)(i * 13 + (i >> 9));
	for (uint64_t i = 0; i < RAM_SIZE; i++)
		G.gpat[i] = (uint8_t)(i ^ (i >> 8) ^ 0x5a);
	memset(G.poison, POISON, sizeof(G.poison));
	FUZZ_CHECK(pwrite(G.disk, G.pattern, DISK_SIZE, 0) == DISK_SIZE);
	for (unsigned i = 0; i < NDEV; i += 2)
		G.blk[i] = make_drive(i, false);
	G.aio_ok = 1;
	for (unsigned i = 1; i < NDEV; i += 2) {
		G.blk[i] = make_drive(i, true);
		if (!G.blk[i]) {
			fprintf(stderr, "fuzz_blk: no io_uring here, the synchronous engine only\n");
			G.aio_ok = 0;
			break;
		}
	}
	G.ready = 1;
}

/* ---- the driver ---- */

/* Reset, negotiate, set queue 0 up, DRIVER_OK (3.1.1); the device must take it. */
static void bring_up(void)
{
	struct virtio_mmio *t = &S.b->t;
	uint64_t f = t->device_features & ~(1ULL << VIRTIO_F_EVENT_IDX | 1ULL << VIRTIO_F_INDIRECT_DESC);
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	if (S.event_idx)
		f |= 1ULL << VIRTIO_F_EVENT_IDX;
	if (S.indirect)
		f |= 1ULL << VIRTIO_F_INDIRECT_DESC;
	fz_w32(&G.bus, S.base, FZ_STATUS, 0);
	fz_w32(&G.bus, S.base, FZ_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	fz_w32(&G.bus, S.base, FZ_STATUS, st);
	fz_w32(&G.bus, S.base, FZ_DRIVER_FEATURES_SEL, 0);
	fz_w32(&G.bus, S.base, FZ_DRIVER_FEATURES, (uint32_t)f);
	fz_w32(&G.bus, S.base, FZ_DRIVER_FEATURES_SEL, 1);
	fz_w32(&G.bus, S.base, FZ_DRIVER_FEATURES, (uint32_t)(f >> 32));
	st |= VIRTIO_STATUS_FEATURES_OK;
	fz_w32(&G.bus, S.base, FZ_STATUS, st);
	FUZZ_CHECK(fz_r32(&G.bus, S.base, FZ_STATUS) == st);
	memset(G.ram, 0, ITAB_GPA);
	S.q.used_seen = S.q.avail_idx = 0;
	FUZZ_CHECK(fz_q_setup(&G.bus, S.base, 0, &S.q) == 1);
	st |= VIRTIO_STATUS_DRIVER_OK;
	fz_w32(&G.bus, S.base, FZ_STATUS, st);
	FUZZ_CHECK(fz_r32(&G.bus, S.base, FZ_STATUS) == st && t->active);
	(void)fz_irqs(t);
}

/* ---- what the device must do (5.2.6) ---- */

/* The data part [off, off + len) of one direction fits in seg_max pieces of at most size_max. */
static bool pieces_ok(const struct req *r, bool w, uint64_t off, uint64_t len)
{
	uint64_t at = 0;
	unsigned n = 0;

	for (unsigned i = 0; i < r->nseg; i++) {
		const struct seg *s = &r->seg[i];
		uint64_t lo, hi;

		if (s->w != w || !s->len)
			continue;
		lo = at > off ? at : off;
		hi = at + s->len < off + len ? at + s->len : off + len;
		at += s->len;
		if (lo >= hi)
			continue;
		if (++n > VBLK_SEG_MAX || hi - lo > VBLK_SIZE_MAX)
			return false;
	}
	return true;
}

static void expect(struct req *r)
{
	bool seen_w = false;
	unsigned n = 0;

	r->r = r->w = 0;
	for (unsigned i = 0; i < r->nseg; i++) {
		const struct seg *s = &r->seg[i];

		if (!s->w && seen_w)
			r->bad = true;          /* readable after writable */
		seen_w |= s->w;
		n += s->len > 0;
		if (s->w)
			r->w += s->len;
		else
			r->r += s->len;
	}
	if (n > VIRTQ_MAX_SEGS)
		r->bad = true;
	r->op = VBLK_OP_NONE;
	r->answered = r->w > 0;
	r->used = r->answered;
	r->status = VIRTIO_BLK_S_IOERR;
	if (!r->answered || r->r < VBLK_HDR_SIZE)
		return;
	switch (r->type) {
	case T_IN:
	case T_OUT: {
		bool in = r->type == T_IN;

		r->dlen = in ? r->w - 1 : r->r - VBLK_HDR_SIZE;
		r->pos = r->sector * VBLK_SECTOR_SIZE;
		if ((!in && S.ro) || r->dlen % VBLK_SECTOR_SIZE || r->sector > DISK_SECT ||
		    r->dlen / VBLK_SECTOR_SIZE > DISK_SECT - r->sector ||
		    !pieces_ok(r, in, in ? 0 : VBLK_HDR_SIZE, r->dlen))
			return;
		r->status = VIRTIO_BLK_S_OK;
		r->op = in ? VBLK_OP_READ : VBLK_OP_WRITE;
		r->used = in ? (uint32_t)r->w : 1;
		return;
	}
	case T_FLUSH:
		r->status = S.flush ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_UNSUPP;
		return;
	case T_GET_ID:
		r->status = VIRTIO_BLK_S_OK;
		r->used = 1 + (uint32_t)(r->w - 1 < VBLK_ID_BYTES ? r->w - 1 : VBLK_ID_BYTES);
		return;
	default:
		r->status = VIRTIO_BLK_S_UNSUPP;
		return;
	}
}

/* Bytes [off, off + len) of one direction of @r, as guest RAM holds them now. */
static void chain_bytes(const struct req *r, bool w, uint64_t off, uint64_t len, uint8_t *dst)
{
	uint64_t at = 0;

	for (unsigned i = 0; i < r->nseg && len; i++) {
		const struct seg *s = &r->seg[i];
		uint64_t k;

		if (s->w != w)
			continue;
		if (off >= at + s->len) {
			at += s->len;
			continue;
		}
		k = at + s->len - off < len ? at + s->len - off : len;
		memcpy(dst, G.ram + s->gpa + (off - at), k);
		dst += k;
		off += k;
		len -= k;
		at += s->len;
	}
}

/*
 * The readable segment @s, @at bytes into the readable part, as the fuzzer
 * writes it: the pattern, the first 16 bytes of the part the header.
 */
static void readable_seg(const struct req *r, const struct seg *s, uint64_t at, uint8_t *dst)
{
	memcpy(dst, G.gpat + s->gpa, s->len);
	if (at < sizeof(r->hdr))
		memcpy(dst, r->hdr + at, sizeof(r->hdr) - at < s->len ? sizeof(r->hdr) - at : s->len);
}

/* Everything about one request the device answered (not hostile). */
static void check_req(const struct req *r, uint32_t len, bool data)
{
	uint64_t rd = 0, from = 0;
	uint8_t *buf = G.scratch, *disk = G.scratch2;

	/* Never more than the chain's writable bytes, and exactly what was written. */
	FUZZ_CHECK(len <= r->w);
	FUZZ_CHECK(len == r->used);
	/* The driver's readable bytes are the device's to read only. */
	for (unsigned i = 0; i < r->nseg; i++) {
		const struct seg *s = &r->seg[i];

		if (s->w)
			continue;
		readable_seg(r, s, rd, buf);
		FUZZ_CHECK(memcmp(G.ram + s->gpa, buf, s->len) == 0);
		rd += s->len;
	}
	if (!r->answered)
		return;
	chain_bytes(r, true, r->w - 1, 1, buf);
	FUZZ_CHECK(buf[0] == r->status);
	if (r->type == T_GET_ID && r->r >= VBLK_HDR_SIZE) {
		char id[VBLK_ID_BYTES] = { 0 };

		strncpy(id, drive_id((unsigned)(S.dcfg & 7)), sizeof(id));
		from = len - 1;
		chain_bytes(r, true, 0, from, buf);
		FUZZ_CHECK(memcmp(buf, id, from) == 0);
	} else if (r->op == VBLK_OP_READ) {
		from = r->dlen;
		if (data) {
			chain_bytes(r, true, 0, r->dlen, buf);
			FUZZ_CHECK(pread(G.disk, disk, r->dlen, (off_t)r->pos) == (ssize_t)r->dlen);
			FUZZ_CHECK(memcmp(buf, disk, r->dlen) == 0);
		}
	} else if (r->op == VBLK_OP_WRITE && data) {
		chain_bytes(r, false, VBLK_HDR_SIZE, r->dlen, buf);
		FUZZ_CHECK(pread(G.disk, disk, r->dlen, (off_t)r->pos) == (ssize_t)r->dlen);
		FUZZ_CHECK(memcmp(buf, disk, r->dlen) == 0);
	}
	/* Writable bytes past what the answer covers stay as the driver left them. */
	chain_bytes(r, true, from, r->w - 1 - from, buf);
	FUZZ_CHECK(memcmp(buf, G.poison, r->w - 1 - from) == 0);
}

/* Two requests in the batch touch the same sectors and one writes: their order is the device's. */
static bool batch_conflicts(unsigned upto)
{
	for (unsigned i = 0; i < upto; i++) {
		const struct req *a = &S.req[i];

		if (a->op != VBLK_OP_WRITE || a->status != VIRTIO_BLK_S_OK)
			continue;
		for (unsigned j = 0; j < upto; j++) {
			const struct req *b = &S.req[j];

			if (j != i && b->op != VBLK_OP_NONE && b->status == VIRTIO_BLK_S_OK &&
			    a->pos < b->pos + b->dlen && b->pos < a->pos + a->dlen)
				return true;
		}
	}
	return false;
}

/* ---- a batch: notify, wait, check ---- */

static void batch_reset(void)
{
	S.nreq = 0;
	S.tainted = false;
	S.next_desc = 0;
	S.next_itab = ITAB_GPA;
	S.next_data = DATA_GPA;
}

/*
 * Wait until the device took every chain and gave each back, or the queue
 * broke. A hostile batch may keep the device busy (its buffers can feed
 * the rings): that one is only waited for a while.
 */
static void wait_done(const struct virtq *q)
{
	uint64_t t0 = fz_now_ms();

	for (;;) {
		fz_pump(&G.loop, 0);
		if (q->broken || (q->next_used == q->last_avail &&
				  (S.tainted || q->last_avail == S.q.avail_idx)))
			return;
		if (S.tainted && fz_now_ms() - t0 >= WAIT_MS / 4)
			return;
		/* Lost: a request the device took and never gave back hangs the guest. */
		FUZZ_CHECK(fz_now_ms() - t0 < WAIT_MS);
		fz_wait(&G.loop, 1);
	}
}

static void run_batch(uint8_t ctl)
{
	struct virtio_mmio *t = &S.b->t;
	const struct virtq *q = &t->q[0];
	uint16_t used0 = S.q.used_seen;
	unsigned first_bad = S.nreq, nused = 0;
	uint32_t id, len;
	uint64_t irqs;
	bool data;

	if (!S.nreq)
		return;
	for (unsigned i = 0; i < S.nreq; i++) {
		if (S.req[i].bad && first_bad == S.nreq)
			first_bad = i;
	}
	if (S.event_idx)
		fz_q_publish(&S.q, 0, S.suppress ? (uint16_t)(used0 - 1) : used0);
	else
		fz_q_publish(&S.q, S.suppress ? VIRTQ_AVAIL_F_NO_INTERRUPT : 0, 0);
	if (ctl & 8)
		fz_w32(&G.bus, S.base, FZ_QUEUE_NOTIFY, 0);
	else
		fz_kick(t, 0);
	if (ctl & 16) {
		/* A reset with requests in flight: afterwards the device leaves guest RAM alone. */
		fz_w32(&G.bus, S.base, FZ_STATUS, 0);
		FUZZ_CHECK(t->status == 0 && !q->ready);
		memcpy(G.scratch, G.ram, RAM_SIZE);
		fz_pump(&G.loop, 0);
		FUZZ_CHECK(memcmp(G.scratch, G.ram, RAM_SIZE) == 0);
		S.dirty_lo = 0;
		S.dirty_hi = DISK_SIZE;
		bring_up();
		batch_reset();
		return;
	}
	wait_done(q);
	irqs = fz_irqs(t);
	while (!S.tainted && fz_q_next_used(&S.q, &id, &len)) {
		struct req *r = NULL;

		nused++;
		for (unsigned i = 0; i < S.nreq && !r; i++)
			if (S.req[i].head == id && !S.req[i].seen)
				r = &S.req[i];
		/* Only chains that were made available, once each, before any bad one. */
		FUZZ_CHECK(r && (unsigned)(r - S.req) < first_bad);
		r->seen = true;
	}
	if (S.tainted) {
		/*
		 * A hostile batch (its buffers may overlap the rings, even the used
		 * ring): the device's state must still be one of the allowed ones.
		 */
		FUZZ_CHECK(!t->active || !q->broken);
		FUZZ_CHECK(!(t->status & VIRTIO_STATUS_NEEDS_RESET) || !t->active);
		S.dirty_lo = 0;
		S.dirty_hi = DISK_SIZE;
		bring_up();
		batch_reset();
		return;
	}
	/* The queue breaks exactly when a chain breaks the rules, and at that chain. */
	FUZZ_CHECK(q->broken == (first_bad < S.nreq));
	if (first_bad < S.nreq) {
		FUZZ_CHECK((t->status & VIRTIO_STATUS_NEEDS_RESET) && !t->active);
		FUZZ_CHECK(irqs && (t->interrupt_status & VIRTIO_INT_CONFIG));
		if (!S.b->aio)
			FUZZ_CHECK(nused == first_bad);
	} else {
		FUZZ_CHECK(!(t->status & VIRTIO_STATUS_NEEDS_RESET) && t->active);
		FUZZ_CHECK(nused == S.nreq);
		/* The driver asked to hear of used buffers (2.7.7.2): it does. */
		if (!S.suppress)
			FUZZ_CHECK(irqs && (t->interrupt_status & VIRTIO_INT_VRING));
	}
	data = !batch_conflicts(first_bad);
	S.q.used_seen = used0;
	while (fz_q_next_used(&S.q, &id, &len)) {
		for (unsigned i = 0; i < first_bad; i++) {
			if (S.req[i].head == id) {
				check_req(&S.req[i], len, data);
				break;
			}
		}
	}
	for (unsigned i = 0; i < first_bad; i++) {
		const struct req *r = &S.req[i];

		if (r->op == VBLK_OP_WRITE && r->status == VIRTIO_BLK_S_OK && r->dlen) {
			S.dirty_lo = r->pos < S.dirty_lo ? r->pos : S.dirty_lo;
			S.dirty_hi = r->pos + r->dlen > S.dirty_hi ? r->pos + r->dlen : S.dirty_hi;
		}
	}
	fz_w32(&G.bus, S.base, FZ_INTERRUPT_ACK, t->interrupt_status);
	if (first_bad < S.nreq)
		bring_up();
	batch_reset();
}

/* ---- building requests ---- */

static void mangle(struct req *r, struct fz_in *in, bool indirect, gpa_t table)
{
	uint8_t what = fz_u8(in), where = fz_u8(in);
	uint32_t x = fz_u32(in);
	gpa_t d = indirect ? (where & 0x80 ? DESC_GPA + 16u * r->head : table + 16u * (where % r->nseg))
			   : DESC_GPA + 16u * ((r->head + where % r->nseg) % S.q.num);
	uint8_t *p = G.ram + d;

	S.tainted = true;
	switch (what % 6) {
	case 0:   /* addr */
		for (unsigned i = 0; i < 4; i++)
			p[i] ^= (uint8_t)(x >> (8 * i));
		break;
	case 1:   /* len */
		for (unsigned i = 0; i < 4; i++)
			p[8 + i] ^= (uint8_t)(x >> (8 * i));
		break;
	case 2:   /* flags */
		p[12] ^= (uint8_t)x;
		p[13] ^= (uint8_t)(x >> 8);
		break;
	case 3:   /* next */
		p[14] ^= (uint8_t)x;
		p[15] ^= (uint8_t)(x >> 8);
		break;
	case 4:   /* the available ring entry */
		fz_put16(G.ram, S.q.avail + 4 + 2u * ((S.q.avail_idx - 1) % S.q.num),
			 (uint16_t)(r->head ^ x));
		break;
	default:  /* the available index runs ahead */
		S.q.avail_idx = (uint16_t)(S.q.avail_idx + x);
		break;
	}
}

/* Fill the buffers: readable ones with the header and the pattern, writable ones poisoned. */
static void fill(struct req *r)
{
	uint64_t rd = 0;

	for (unsigned i = 0; i < r->nseg; i++) {
		struct seg *s = &r->seg[i];

		if (s->w) {
			if (!s->raw)
				memcpy(G.ram + s->gpa, G.poison, s->len);
			continue;
		}
		if (!s->raw)
			readable_seg(r, s, rd, G.ram + s->gpa);
		rd += s->len;
	}
}

/* Read one request from the input and add it to the batch; false when the input is spent. */
static bool add_request(struct fz_in *in)
{
	uint8_t ctl = fz_u8(in);
	bool indirect = ctl & 2;
	struct req *r;
	uint64_t need = 0;
	unsigned ndesc;
	gpa_t table = 0;
	bool raw = false;

	if (!fz_more(in))
		return false;
	r = &S.req[S.nreq];
	memset(r, 0, offsetof(struct req, seg));
	r->type = fz_u32(in);
	r->sector = fz_u64(in);
	memcpy(r->hdr, &r->type, 4);
	memcpy(r->hdr + 8, &r->sector, 8);
	r->nseg = (unsigned)fz_u8(in) + 1;
	for (unsigned i = 0; i < r->nseg; i++) {
		struct seg *s = &r->seg[i];
		uint8_t f = fz_u8(in);

		s->w = f & 1;
		s->len = f & 2 ? fz_u16(in) * 64u : fz_u16(in);
		s->raw = f & 4;
		if (s->raw) {
			s->gpa = fz_u32(in);
			raw = true;
		} else {
			need += s->len;
		}
	}
	ndesc = indirect ? 1 : r->nseg;
	if (ndesc > S.q.num || need > RAM_SIZE - DATA_GPA)
		return true;   /* cannot be built: skipped */
	if (S.nreq == S.q.num || S.next_desc + ndesc > S.q.num ||
	    need > RAM_SIZE - S.next_data || (indirect && S.next_itab + 16u * r->nseg > DATA_GPA)) {
		/* No room left: the batch so far goes first. */
		struct req keep = *r;

		run_batch(0);
		r = &S.req[0];
		*r = keep;
	}
	S.tainted |= raw;
	for (unsigned i = 0; i < r->nseg; i++) {
		struct seg *s = &r->seg[i];

		if (!s->raw) {
			s->gpa = S.next_data;
			S.next_data += s->len;
		}
	}
	fill(r);
	r->head = S.next_desc;
	if (indirect) {
		table = S.next_itab;
		S.next_itab += 16u * r->nseg;
		fz_desc_at(G.ram, DESC_GPA + 16u * r->head, table, 16u * r->nseg,
			   VIRTQ_DESC_F_INDIRECT, 0);
		for (unsigned i = 0; i < r->nseg; i++)
			fz_desc_at(G.ram, table + 16u * i, r->seg[i].gpa, r->seg[i].len,
				   (uint16_t)((r->seg[i].w ? VIRTQ_DESC_F_WRITE : 0) |
					      (i + 1 < r->nseg ? VIRTQ_DESC_F_NEXT : 0)),
				   (uint16_t)(i + 1));
		if (!S.indirect)
			r->bad = true;   /* INDIRECT without VIRTIO_F_INDIRECT_DESC */
	} else {
		for (unsigned i = 0; i < r->nseg; i++)
			fz_desc_at(G.ram, DESC_GPA + 16u * (r->head + i), r->seg[i].gpa, r->seg[i].len,
				   (uint16_t)((r->seg[i].w ? VIRTQ_DESC_F_WRITE : 0) |
					      (i + 1 < r->nseg ? VIRTQ_DESC_F_NEXT : 0)),
				   (uint16_t)(r->head + i + 1));
	}
	S.next_desc = (uint16_t)(S.next_desc + ndesc);
	expect(r);
	fz_q_avail(&S.q, r->head);
	S.nreq++;
	if (ctl & 4)
		mangle(r, in, indirect, table);
	if ((ctl & 1) || !fz_more(in))
		run_batch(ctl);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t dev, drv;

	if (!G.ready)
		setup();
	if (size < 2)
		return 0;
	dev = fz_u8(&in);
	drv = fz_u8(&in);
	if (!G.aio_ok)
		dev &= ~1;
	fz_ram_clear(G.ram, RAM_SIZE);
	memset(&S, 0, offsetof(typeof(S), req));
	/* Drive i: bit 0 io_uring, bit 1 read-only, bit 2 flush (byte 0's bits, reordered). */
	S.dcfg = (uint8_t)((dev & 1) | (dev & 2) | (dev & 4));
	S.b = G.blk[S.dcfg];
	S.base = FZ_BASE + S.dcfg * 0x10000ULL;
	S.ro = dev & 2;
	S.flush = dev & 4;
	S.event_idx = drv & 1;
	S.indirect = drv & 2;
	S.suppress = drv & 64;
	S.q.ram = G.ram;
	S.q.desc = DESC_GPA;
	S.q.avail = AVAIL_GPA;
	S.q.used = USED_GPA;
	S.q.num = (uint16_t)(1u << (((drv >> 2) & 15) % 9));
	S.dirty_lo = DISK_SIZE;
	FUZZ_CHECK(!!S.b->aio == (dev & 1));
	bring_up();
	batch_reset();
	while (add_request(&in))
		;
	run_batch(0);
	fz_w32(&G.bus, S.base, FZ_STATUS, 0);
	fz_pump(&G.loop, 0);
	/* The next input starts from the same disk. */
	if (S.dirty_lo < S.dirty_hi)
		FUZZ_CHECK(pwrite(G.disk, G.pattern + S.dirty_lo, S.dirty_hi - S.dirty_lo,
				  (off_t)S.dirty_lo) == (ssize_t)(S.dirty_hi - S.dirty_lo));
	return 0;
}
