/* fuzz_mmio.c: libFuzzer target: a hostile driver's register accesses to a virtio-mmio block device. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/virtio/blk.h"
#include "fuzz_dev.h"

/*
 * Input: byte 0 picks the device (bit 0: a read-only drive without flush,
 * else a writable one with flush). Then operations, each an opcode byte
 * (bits 0-2 the kind, bits 3-4 the size of a read or write: 4, 1, 2, 8)
 * and its operands:
 *   0 write   u16 offset, u32 value    any offset in and past the 4 KiB slot
 *   1 read    u16 offset
 *   2 status  u8 value                 a 4-byte write to Status
 *   3 kick    -                        the queue's ioeventfd, then the event loop
 *   4 bring-up u8 features, u8 queue   reset, ACK, DRIVER, features, FEATURES_OK,
 *                                      queue 0 at the driver's layout, DRIVER_OK
 *   5 request u8 type, u8 sector, u8 sectors   one block request, made available
 *   6 poke    u16 address, u8 n, n bytes       guest RAM (rings, descriptors)
 *   7 ack     -                        read InterruptStatus, acknowledge it
 * Every operation goes through the MMIO bus as a vCPU's exit does; after
 * each, the transport's state is checked against the rules of virtio 1.2
 * 2.1 (status), 3.1.1 (initialization), 4.2.2 (registers) and 2.7 (queues).
 */
#define RAM_SIZE   (256u * 1024)
#define DISK_SECT  128u
#define DESC_GPA   0x0000u         /* the driver's layout for queue 0 */
#define AVAIL_GPA  0x1000u
#define USED_GPA   0x2000u
#define BUF_GPA    0x4000u
#define MAX_OPS    512
#define DEV_GAP    0x10000u        /* nothing on the bus right after a device */

#define ACK   VIRTIO_STATUS_ACKNOWLEDGE
#define DRV   VIRTIO_STATUS_DRIVER
#define FOK   VIRTIO_STATUS_FEATURES_OK
#define DOK   VIRTIO_STATUS_DRIVER_OK
#define NR    VIRTIO_STATUS_NEEDS_RESET

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
	int ready;
	struct kvm_vm vm;
	struct guest_mem mem;
	uint8_t *ram, *snap;
	struct evloop loop;
	struct bus bus;
	struct vblk blk[2];
} G;

/* What the fuzzer, as the driver, knows and expects. */
static struct {
	struct vblk *b;
	uint64_t base;
	unsigned activations;      /* since the last reset */
	uint16_t next_desc;
	struct fz_q q;
} S;

static void setup(void)
{
	struct drive_cfg cfg;

	fz_fake_vm(&G.vm);
	G.ram = fz_ram_map(RAM_SIZE, &G.mem);
	G.snap = malloc(RAM_SIZE);
	FUZZ_CHECK(G.snap && evloop_init(&G.loop) == 0);
	for (unsigned i = 0; i < 2; i++) {
		int fd = memfd_create("fuzz-disk", MFD_CLOEXEC);

		FUZZ_CHECK(fd >= 0 && ftruncate(fd, DISK_SECT * VBLK_SECTOR_SIZE) == 0);
		memset(&cfg, 0, sizeof(cfg));
		snprintf(cfg.drive_id, sizeof(cfg.drive_id), "disk%u", i);
		cfg.is_read_only = i == 1;
		cfg.cache_type = i == 0 ? CACHE_WRITEBACK : CACHE_UNSAFE;
		cfg.io_engine = IO_ENGINE_SYNC;
		FUZZ_CHECK(vblk_init(&G.blk[i], &cfg, fd, DISK_SECT, &G.vm, &G.mem, &G.loop,
				     FZ_BASE + i * DEV_GAP, 5 + i) == 0);
		FUZZ_CHECK(bus_add(&G.bus, FZ_BASE + i * DEV_GAP, FZ_SLOT, &virtio_mmio_bus_ops,
				   &G.blk[i].t) == 0);
	}
	G.ready = 1;
}

/* Features every block device offers, and the ones this one adds. */
static uint64_t expected_features(const struct vblk *b)
{
	uint64_t f = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_EVENT_IDX |
		     1ULL << VIRTIO_F_INDIRECT_DESC | 1ULL << 1 /* SIZE_MAX */ | 1ULL << 2 /* SEG_MAX */;

	return f | (b->read_only ? 1ULL << 5 /* RO */ : 1ULL << 9 /* FLUSH */);
}

static int features_ok(const struct virtio_mmio *t)
{
	return (t->driver_features >> VIRTIO_F_VERSION_1 & 1) &&
	       !(t->driver_features & ~t->device_features);
}

/* The queue's layout is one a device may use (2.7: sizes and alignment, all inside RAM). */
static int layout_ok(const struct virtq *q)
{
	uint64_t n = q->num;

	return n && !(n & (n - 1)) && n <= q->max_num && !(q->desc_gpa & 15) &&
	       !(q->avail_gpa & 1) && !(q->used_gpa & 3) && q->desc_gpa <= RAM_SIZE &&
	       16 * n <= RAM_SIZE - q->desc_gpa && q->avail_gpa <= RAM_SIZE &&
	       6 + 2 * n <= RAM_SIZE - q->avail_gpa && q->used_gpa <= RAM_SIZE &&
	       6 + 8 * n <= RAM_SIZE - q->used_gpa;
}

/* What holds after any operation. */
static void check_always(const struct virtio_mmio *t)
{
	const struct virtq *q = &t->q[0];
	uint32_t st = t->status;

	FUZZ_CHECK(fz_r32(&G.bus, S.base, FZ_STATUS) == st);
	FUZZ_CHECK(t->device_features == expected_features(S.b));
	/* No activation without FEATURES_OK, none while the device needs a reset. */
	if (t->active)
		FUZZ_CHECK((st & (FOK | DOK)) == (FOK | DOK) && !(st & NR));
	if ((st & DOK) && !(st & NR))
		FUZZ_CHECK(st & FOK);
	/* 3.1.1: FEATURES_OK only for VERSION_1 and nothing that was not offered. */
	if (st & FOK)
		FUZZ_CHECK(features_ok(t));
	FUZZ_CHECK(!(t->interrupt_status & ~(uint32_t)(VIRTIO_INT_VRING | VIRTIO_INT_CONFIG)));
	FUZZ_CHECK(S.activations <= 1);
	if (q->ready)
		FUZZ_CHECK(layout_ok(q) && q->desc == (void *)(G.ram + q->desc_gpa));
	FUZZ_CHECK(q->max_num == VBLK_QUEUE_SIZE);
}

/* The status register after the driver writes @v over @old (virtio 1.2 2.1.1, 2.1.2, 3.1.1). */
static void check_status_write(const struct virtio_mmio *t, uint32_t old, int old_active,
			       int features_valid, uint32_t v)
{
	uint32_t want, added = v & ~old;
	int activate = 0;

	if (v == 0) {
		/* A reset: nothing left of the driver's setup. */
		FUZZ_CHECK(t->status == 0 && !t->active && t->driver_features == 0);
		FUZZ_CHECK(t->interrupt_status == 0 && t->queue_sel == 0);
		FUZZ_CHECK(!t->q[0].ready && !t->q[0].broken && t->q[0].num == t->q[0].max_num);
		FUZZ_CHECK(t->q[0].desc_gpa == 0 && t->q[0].last_avail == 0 && t->q[0].next_used == 0);
		S.activations = 0;
		return;
	}
	if (old & ~v & ~(uint32_t)NR) {
		/* Only a reset takes bits back; trying leaves the device needing one. */
		FUZZ_CHECK(t->status == (old | NR) && !t->active);
		return;
	}
	want = (v & ~(uint32_t)NR) | (old & NR);
	if ((added & FOK) && !features_valid)
		want &= ~(uint32_t)FOK;
	if ((added & DOK) && !(old & NR)) {
		if (want & FOK)
			activate = 1;
		else
			want &= ~(uint32_t)DOK;
	}
	FUZZ_CHECK(t->status == want);
	if (activate) {
		FUZZ_CHECK(t->active);
		S.activations++;
	} else {
		FUZZ_CHECK(t->active == old_active);
	}
}

/* The config space of a block device: capacity, size_max, seg_max (5.2.4). */
static void check_config_read(uint64_t off, const uint8_t *got, unsigned len)
{
	uint8_t cfg[16] = { 0 }, zero[8] = { 0 };
	uint32_t size_max = VBLK_SIZE_MAX, seg_max = VBLK_SEG_MAX;
	uint64_t cap = DISK_SECT;

	memcpy(cfg, &cap, 8);
	memcpy(cfg + 8, &size_max, 4);
	memcpy(cfg + 12, &seg_max, 4);
	if (off < sizeof(cfg) && len <= sizeof(cfg) - off)
		FUZZ_CHECK(memcmp(got, cfg + off, len) == 0);
	else
		FUZZ_CHECK(memcmp(got, zero, len) == 0);
}

static void check_read(const struct virtio_mmio *t, uint64_t off, const uint8_t *got, unsigned len)
{
	uint32_t v = 0;

	if (off >= FZ_CONFIG) {
		check_config_read(off - FZ_CONFIG, got, len);
		return;
	}
	if (len != 4 || (off & 3)) {
		/* 4.2.2.2: registers take aligned 32-bit reads only; others read 0. */
		for (unsigned i = 0; i < len; i++)
			FUZZ_CHECK(got[i] == 0);
		return;
	}
	memcpy(&v, got, 4);
	switch (off) {
	case FZ_MAGIC:
		FUZZ_CHECK(v == 0x74726976);
		break;
	case FZ_VERSION:
		FUZZ_CHECK(v == 2);
		break;
	case FZ_DEVICE_ID:
		FUZZ_CHECK(v == VIRTIO_ID_BLOCK);
		break;
	case FZ_DEVICE_FEATURES:
		FUZZ_CHECK(v == (t->device_features_sel == 0 ? (uint32_t)t->device_features
				 : t->device_features_sel == 1 ? (uint32_t)(t->device_features >> 32) : 0));
		break;
	case FZ_QUEUE_NUM_MAX:
		FUZZ_CHECK(v == (t->queue_sel == 0 ? VBLK_QUEUE_SIZE : 0));
		break;
	case FZ_QUEUE_READY:
		FUZZ_CHECK(v == (t->queue_sel == 0 ? t->q[0].ready : 0));
		break;
	case FZ_INTERRUPT_STATUS:
		FUZZ_CHECK(v == t->interrupt_status);
		break;
	case FZ_STATUS:
		FUZZ_CHECK(v == t->status);
		break;
	default:
		break;
	}
}

/* A raw access: any offset, size 1, 2, 4 or 8; the bus claims it only inside the slot. */
static void op_access(struct virtio_mmio *t, struct fz_in *in, uint8_t op, int write)
{
	static const unsigned sizes[4] = { 4, 1, 2, 8 };
	unsigned len = sizes[(op >> 3) & 3];
	uint64_t off = fz_u16(in) % (FZ_SLOT + 16);
	uint32_t old = t->status, v;
	uint64_t feat = t->driver_features;
	struct virtq q0 = t->q[0];
	int old_active = t->active, valid = features_ok(t), r;
	uint8_t buf[8];

	if (!write) {
		r = bus_read(&G.bus, S.base + off, buf, len);
		FUZZ_CHECK((r == 0) == (off + len <= FZ_SLOT));
		if (r == 0)
			check_read(t, off, buf, len);
		else
			for (unsigned i = 0; i < len; i++)
				FUZZ_CHECK(buf[i] == 0xff);
		return;
	}
	v = fz_u32(in);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &v, 4);
	r = bus_write(&G.bus, S.base + off, buf, len);
	FUZZ_CHECK((r == 0) == (off + len <= FZ_SLOT));
	if (r || len != 4 || (off & 3) || off >= FZ_CONFIG) {
		/* Ignored: the driver's setup stays as it was (the block config space is read-only). */
		FUZZ_CHECK(t->status == old && t->driver_features == feat);
		FUZZ_CHECK(t->q[0].ready == q0.ready && t->q[0].desc_gpa == q0.desc_gpa);
		return;
	}
	switch (off) {
	case FZ_STATUS:
		check_status_write(t, old, old_active, valid, v);
		return;
	case FZ_DRIVER_FEATURES:
		if (old & FOK)
			FUZZ_CHECK(t->driver_features == feat);   /* 3.1.1: fixed after FEATURES_OK */
		break;
	case FZ_QUEUE_NUM:
	case FZ_QUEUE_DESC_LOW: case FZ_QUEUE_DESC_HIGH:
	case FZ_QUEUE_DRIVER_LOW: case FZ_QUEUE_DRIVER_HIGH:
	case FZ_QUEUE_DEVICE_LOW: case FZ_QUEUE_DEVICE_HIGH:
		/* 4.2.2.3: a ready queue's layout does not change. */
		if (q0.ready)
			FUZZ_CHECK(t->q[0].num == q0.num && t->q[0].desc_gpa == q0.desc_gpa &&
				   t->q[0].avail_gpa == q0.avail_gpa && t->q[0].used_gpa == q0.used_gpa);
		break;
	case FZ_QUEUE_READY:
		/* A layout the device cannot use is refused, and the device needs a reset. */
		if (t->queue_sel == 0 && v)
			FUZZ_CHECK(t->q[0].ready == layout_ok(&t->q[0]) &&
				   (t->q[0].ready || (t->status & NR)));
		if (t->queue_sel == 0 && !v)
			FUZZ_CHECK(!t->q[0].ready);
		break;
	default:
		break;
	}
	if (off != FZ_DRIVER_FEATURES)
		FUZZ_CHECK(t->driver_features == feat);
	/* Only the device adds NEEDS_RESET outside a status write, and only that bit. */
	FUZZ_CHECK((t->status & ~(uint32_t)NR) == (old & ~(uint32_t)NR));
	FUZZ_CHECK(t->active == (old_active && !(t->status & NR)));
}

/* The driver's bring-up (3.1.1) at the driver's layout; the features from @f. */
static void op_bring_up(struct virtio_mmio *t, struct fz_in *in)
{
	uint8_t f = fz_u8(in), qn = fz_u8(in);
	uint64_t want = t->device_features & ~(1ULL << VIRTIO_F_EVENT_IDX | 1ULL << VIRTIO_F_INDIRECT_DESC);
	uint32_t st;

	if (f & 1)
		want |= 1ULL << VIRTIO_F_EVENT_IDX;
	if (f & 2)
		want |= 1ULL << VIRTIO_F_INDIRECT_DESC;
	if (f & 4)
		want &= ~(1ULL << VIRTIO_F_VERSION_1);  /* a legacy driver: refused */
	if (f & 8)
		want |= 1ULL << 40;                      /* a feature never offered: refused */
	fz_w32(&G.bus, S.base, FZ_STATUS, 0);
	check_status_write(t, 1, 0, 0, 0);
	fz_w32(&G.bus, S.base, FZ_STATUS, ACK);
	fz_w32(&G.bus, S.base, FZ_STATUS, ACK | DRV);
	fz_w32(&G.bus, S.base, FZ_DRIVER_FEATURES_SEL, 0);
	fz_w32(&G.bus, S.base, FZ_DRIVER_FEATURES, (uint32_t)want);
	fz_w32(&G.bus, S.base, FZ_DRIVER_FEATURES_SEL, 1);
	fz_w32(&G.bus, S.base, FZ_DRIVER_FEATURES, (uint32_t)(want >> 32));
	fz_w32(&G.bus, S.base, FZ_STATUS, ACK | DRV | FOK);
	st = fz_r32(&G.bus, S.base, FZ_STATUS);
	/* 3.1.1 step 6: the driver re-reads FEATURES_OK; it is set only for acceptable features. */
	FUZZ_CHECK(!!(st & FOK) == !(f & 12));
	memset(&S.q, 0, sizeof(S.q));
	S.q.ram = G.ram;
	S.q.desc = DESC_GPA;
	S.q.avail = AVAIL_GPA;
	S.q.used = USED_GPA;
	S.q.num = (uint16_t)(1u << (qn % 9));
	S.next_desc = 0;
	FUZZ_CHECK(fz_q_setup(&G.bus, S.base, 0, &S.q) == 1);
	if (!(f & 16)) {
		fz_w32(&G.bus, S.base, FZ_STATUS, ACK | DRV | FOK | DOK);
		if (!(f & 12)) {
			FUZZ_CHECK(t->active);
			S.activations++;
		} else {
			FUZZ_CHECK(!t->active);
		}
	}
}

/* One request, header + data + status, at the driver's layout; made available, no notification. */
static void op_request(struct fz_in *in)
{
	static const uint32_t types[4] = { 0 /* IN */, 1 /* OUT */, 4 /* FLUSH */, 8 /* GET_ID */ };
	uint8_t ty = fz_u8(in), sector = fz_u8(in), nsec = fz_u8(in) % 8;
	uint32_t type = ty < 4 ? types[ty] : ty;
	uint16_t d = S.next_desc, n = S.q.num;
	gpa_t hdr = BUF_GPA + (gpa_t)(d % 48) * 0x1000;
	uint64_t sec = sector;

	if (!n || n < 3)
		return;
	memcpy(G.ram + hdr, &type, 4);
	memset(G.ram + hdr + 4, 0, 4);
	memcpy(G.ram + hdr + 8, &sec, 8);
	fz_desc_at(G.ram, DESC_GPA + 16u * d, hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)((d + 1) % n));
	fz_desc_at(G.ram, DESC_GPA + 16u * ((d + 1) % n), hdr + 16, nsec * 512u,
		   (uint16_t)(VIRTQ_DESC_F_NEXT | (type == 1 ? 0 : VIRTQ_DESC_F_WRITE)),
		   (uint16_t)((d + 2) % n));
	fz_desc_at(G.ram, DESC_GPA + 16u * ((d + 2) % n), hdr + 16 + 4096 - 1 - 16, 1,
		   VIRTQ_DESC_F_WRITE, 0);
	S.next_desc = (uint16_t)((d + 3) % n);
	fz_q_avail(&S.q, d);
	fz_q_publish(&S.q, 0, S.q.used_seen);
}

/*
 * A notification: with the device inactive or the queue not ready, guest
 * RAM stays as it was; otherwise every chain taken is given back (the
 * block device answers at once), or the device needs a reset.
 */
static void op_kick(struct virtio_mmio *t)
{
	const struct virtq *q = &t->q[0];
	int idle = !t->active || !q->ready || q->broken;
	uint32_t old = t->status;

	if (idle)
		memcpy(G.snap, G.ram, RAM_SIZE);
	fz_kick(t, 0);
	fz_pump(&G.loop, 0);
	if (idle) {
		FUZZ_CHECK(memcmp(G.snap, G.ram, RAM_SIZE) == 0);
		FUZZ_CHECK(t->status == old);
		return;
	}
	FUZZ_CHECK((t->status & ~(uint32_t)NR) == (old & ~(uint32_t)NR));
	if (!q->broken)
		FUZZ_CHECK(q->next_used == q->last_avail);   /* every chain taken came back */
	else
		FUZZ_CHECK((t->status & NR) && !t->active);
}

static void op_poke(struct fz_in *in)
{
	uint32_t at = fz_u16(in) % RAM_SIZE;
	uint8_t n = fz_u8(in) % 33;

	for (unsigned i = 0; i < n && at + i < RAM_SIZE; i++)
		G.ram[at + i] = fz_u8(in);
}

static void op_ack(struct virtio_mmio *t)
{
	uint32_t is = fz_r32(&G.bus, S.base, FZ_INTERRUPT_STATUS);

	fz_w32(&G.bus, S.base, FZ_INTERRUPT_ACK, is);
	FUZZ_CHECK(t->interrupt_status == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct virtio_mmio *t;
	unsigned ops = 0;

	if (!G.ready)
		setup();
	if (size < 1)
		return 0;
	fz_ram_clear(G.ram, RAM_SIZE);
	memset(&S, 0, sizeof(S));
	S.b = &G.blk[fz_u8(&in) & 1];
	S.base = FZ_BASE + (gpa_t)(S.b - G.blk) * DEV_GAP;
	t = &S.b->t;
	/* Each input starts from a reset device, as after a driver's reset. */
	fz_w32(&G.bus, S.base, FZ_STATUS, 0);
	check_status_write(t, 1, 0, 0, 0);
	(void)fz_irqs(t);
	while (fz_more(&in) && ops++ < MAX_OPS) {
		uint8_t op = fz_u8(&in);
		uint32_t old = t->status;
		uint64_t irqs;

		switch (op & 7) {
		case 0:
		case 1:
			op_access(t, &in, op, !(op & 7));
			break;
		case 2: {
			uint32_t v = fz_u8(&in), o = t->status;
			int a = t->active, valid = features_ok(t);

			fz_w32(&G.bus, S.base, FZ_STATUS, v);
			check_status_write(t, o, a, valid, v);
			break;
		}
		case 3:
			op_kick(t);
			break;
		case 4:
			op_bring_up(t, &in);
			break;
		case 5:
			op_request(&in);
			break;
		case 6:
			op_poke(&in);
			break;
		default:
			op_ack(t);
			break;
		}
		check_always(t);
		irqs = fz_irqs(t);
		/* An interrupt always says why (4.2.2: InterruptStatus). */
		if (irqs)
			FUZZ_CHECK(t->interrupt_status != 0);
		/* 4.2.2.1: a device that came to need a reset while DRIVER_OK tells the driver. */
		if ((t->status & NR) && !(old & NR) && (t->status & DOK))
			FUZZ_CHECK(irqs && (t->interrupt_status & VIRTIO_INT_CONFIG));
	}
	/* Leave no request behind for the next input. */
	fz_w32(&G.bus, S.base, FZ_STATUS, 0);
	(void)fz_irqs(t);
	return 0;
}
