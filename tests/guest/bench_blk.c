/*
 * bench_blk.c: the "blk-bench" probe: virtio-blk throughput from a ring-3 loop.
 *
 * Ring 0 (emulated here, slow) only sets the device up: features VERSION_1, SIZE_MAX,
 * SEG_MAX and EVENT_IDX, one queue of up to 256 entries, used-buffer interrupts suppressed.
 * Then ring 3 (native) keeps bench_qd requests in flight: it refills every completed slot
 * at once, notifies the device only when EVENT_IDX says it must (one QueueNotify covers
 * every request added since the device last looked), and polls the used ring; no
 * interrupts. The host times the run between the two lines
 *   BENCH start op=<read|write> pattern=<seq|rand> bs=<bytes> qd=<n> ios=<n> ...
 *   BENCH done ios=<n> bytes=<n> errors=<n> kicks=<n> kicks_saved=<n> tsc=<cycles>
 * (printed by ring 0 just before and after the ring-3 loop). Arguments:
 *   bench_op=read|write       (default read)
 *   bench_pattern=seq|rand    (default seq)
 *   bench_bs=<bytes>          request size, multiple of 512 (default 131072 seq, 4096 rand)
 *   bench_qd=<n>              requests in flight (default 32, capped by the queue)
 *   bench_mib=<n>             data moved in total (default 256)
 *   bench_dev=<i>             which block device, in command-line order (default 0)
 * Data buffers live at guest-physical 32 MiB upwards (at most 16 MiB): the guest needs at
 * least 64 MiB of RAM. Writes carry a pattern; reads are not checked (the blk probe does that).
 */
#include "blk.h"
#include "bootinfo.h"
#include "cmdline.h"
#include "fmt.h"
#include "io.h"
#include "lib.h"
#include "probe.h"
#include "user.h"
#include "virtio.h"
#include "virtio_queue.h"

#define BENCH_DATA_BASE  0x2000000ULL       /* 32 MiB */
#define BENCH_DATA_MAX   (16ULL << 20)
#define BENCH_SLOTS      VQ_MAX_SIZE
#define BENCH_MAX_SEGS   16
#define BENCH_SPIN_LIMIT (1ULL << 30)

struct bench_ctx {
	struct vq *q;
	uint32_t type;          /* VIRTIO_BLK_T_IN or _OUT */
	int rand;
	uint32_t bs, seg, nseg, qd;
	uint64_t total;         /* requests */
	uint64_t cap_units;     /* capacity in bs units */
	uint64_t rng;
	uint64_t submitted, done, errors, bad_used, stalled;
	uint16_t slot_of[VQ_MAX_SIZE];
};

/*
 * In .noinit, cleared by the probe itself: .bss is zeroed by (emulated) kernel code at every
 * boot of the test guest, and these are only needed when the benchmark runs.
 */
#define BENCH_NOINIT __attribute__((section(".noinit.bench")))
static struct vq bench_q BENCH_NOINIT;
static struct bench_ctx bench_c BENCH_NOINIT;
static struct blk_hdr bench_hdr[BENCH_SLOTS] __attribute__((aligned(16))) BENCH_NOINIT;
static uint8_t bench_status[BENCH_SLOTS] BENCH_NOINIT;
static struct virtio_list bench_list BENCH_NOINIT;

/* xorshift64*: a cheap uniform stream for the random pattern. */
static uint64_t bench_next_rand(struct bench_ctx *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545f4914f6cdd1dULL;
}

static void bench_submit(struct bench_ctx *c, unsigned s)
{
	struct vq_seg segs[BENCH_MAX_SEGS + 2];
	uint64_t unit = c->rand ? bench_next_rand(c) % c->cap_units : c->submitted % c->cap_units;
	uint64_t data = BENCH_DATA_BASE + (uint64_t)s * c->bs;
	int head;

	bench_hdr[s].type = c->type;
	bench_hdr[s].reserved = 0;
	bench_hdr[s].sector = unit * (c->bs / BLK_SECTOR);
	bench_status[s] = 0xff;
	segs[0] = (struct vq_seg){ (uintptr_t)&bench_hdr[s], sizeof(bench_hdr[s]), false };
	for (unsigned k = 0; k < c->nseg; k++)
		segs[1 + k] = (struct vq_seg){ data + (uint64_t)k * c->seg, c->seg,
					       c->type == VIRTIO_BLK_T_IN };
	segs[1 + c->nseg] = (struct vq_seg){ (uintptr_t)&bench_status[s], 1, true };
	head = vq_add_chain(c->q, segs, c->nseg + 2);
	if (head < 0) {
		c->errors++;
		return;
	}
	c->slot_of[head] = (uint16_t)s;
	c->submitted++;
}

/* Ring 3: keep qd requests in flight until total are done. Returns the requests done. */
static uint64_t bench_loop(void *arg)
{
	struct bench_ctx *c = arg;

	for (unsigned s = 0; s < c->qd && c->submitted < c->total; s++)
		bench_submit(c, s);
	vq_kick(c->q);
	while (c->done < c->total) {
		uint64_t spins = 0;
		uint32_t len;
		int head;

		while (!vq_has_used(c->q)) {
			if (++spins > BENCH_SPIN_LIMIT) {
				c->stalled = 1;
				return c->done;
			}
			cpu_pause();
		}
		while ((head = vq_poll_used(c->q, &len)) != -1) {
			unsigned s;

			if (head < 0) {
				c->bad_used++;
				continue;
			}
			s = c->slot_of[head];
			if (bench_status[s] != VIRTIO_BLK_S_OK)
				c->errors++;
			c->done++;
			if (c->submitted < c->total)
				bench_submit(c, s);
		}
		vq_kick(c->q);
	}
	return c->done;
}

/* Ring 3: give the write buffers a pattern (natively: ring 0 would take seconds). */
static uint64_t bench_fill(void *arg)
{
	struct bench_ctx *c = arg;
	uint64_t *p = (uint64_t *)(uintptr_t)BENCH_DATA_BASE;
	uint64_t n = (uint64_t)c->qd * c->bs / 8;

	for (uint64_t i = 0; i < n; i++)
		p[i] = i * 0x9e3779b97f4a7c15ULL;
	return 0;
}

static uint64_t bench_arg(const char *cmd, const char *key, uint64_t def)
{
	uint64_t v;

	return cmdline_get_u64(cmd, key, false, &v) == 1 ? v : def;
}

void blk_bench_probe(struct boot_info *bi, struct probe_result *r)
{
	const char *cmd = bi->cmdline, *err, *val;
	struct bench_ctx *c = &bench_c;
	struct virtio_dev *d = 0;
	uint64_t offered, cap, size_max, seg_max, mib, t0, t1;
	unsigned want_dev = (unsigned)bench_arg(cmd, "bench_dev", 0), nblk = 0;
	size_t len;

	memset(c, 0, sizeof(*c));
	memset(&bench_q, 0, sizeof(bench_q));
	memset(&bench_list, 0, sizeof(bench_list));
	c->type = VIRTIO_BLK_T_IN;
	if (cmdline_get(cmd, "bench_op", &val, &len) && str_eq_n(val, len, "write"))
		c->type = VIRTIO_BLK_T_OUT;
	if (cmdline_get(cmd, "bench_pattern", &val, &len) && str_eq_n(val, len, "rand"))
		c->rand = 1;
	c->bs = (uint32_t)bench_arg(cmd, "bench_bs", c->rand ? 4096 : 131072);
	c->qd = (uint32_t)bench_arg(cmd, "bench_qd", 32);
	mib = bench_arg(cmd, "bench_mib", 256);
	if (c->bs < BLK_SECTOR || c->bs % BLK_SECTOR || c->qd == 0) {
		probe_fail(r, "bad-arguments bs=%u qd=%u", c->bs, c->qd);
		return;
	}

	virtio_discover(cmd, &bench_list);
	for (unsigned i = 0; i < bench_list.n; i++) {
		struct virtio_dev *v = &bench_list.devs[i];

		if (virtio_unusable(v) || v->device_id != VIRTIO_ID_BLOCK)
			continue;
		if (nblk++ == want_dev) {
			d = v;
			break;
		}
	}
	if (!d) {
		probe_fail(r, "no-block-device-%u", want_dev);
		return;
	}
	err = virtio_negotiate(d, 1ULL << VIRTIO_BLK_F_SIZE_MAX | 1ULL << VIRTIO_BLK_F_SEG_MAX |
				  1ULL << VIRTIO_F_RING_EVENT_IDX, &offered);
	if (err) {
		probe_fail(r, "negotiate:%s", err);
		return;
	}
	cap = virtio_config(d, 0, 8);
	size_max = virtio_has(d->features, VIRTIO_BLK_F_SIZE_MAX) ? virtio_config(d, 8, 4) : 0;
	seg_max = virtio_has(d->features, VIRTIO_BLK_F_SEG_MAX) ? virtio_config(d, 12, 4) : 0;
	if ((err = vq_init(&bench_q, d, 0, VQ_MAX_SIZE)) != 0) {
		virtio_fail(d);
		probe_fail(r, "queue:%s", err);
		return;
	}
	virtio_driver_ok(d);
	c->q = &bench_q;
	vq_interrupts(c->q, false);

	/* Segments: at most size_max bytes each (a multiple of 512), at most seg_max of them. */
	c->seg = c->bs;
	if (size_max && c->seg > size_max)
		c->seg = (uint32_t)(size_max / BLK_SECTOR * BLK_SECTOR);
	while (c->bs % c->seg)
		c->seg -= BLK_SECTOR;
	c->nseg = c->bs / c->seg;
	if (c->nseg > BENCH_MAX_SEGS || (seg_max && c->nseg > seg_max)) {
		probe_fail(r, "request-too-large bs=%u size_max=%lu seg_max=%lu", c->bs, size_max, seg_max);
		virtio_reset(d, 100000);
		return;
	}
	if (c->qd > c->q->size / (c->nseg + 2))
		c->qd = c->q->size / (c->nseg + 2);
	if ((uint64_t)c->qd * c->bs > BENCH_DATA_MAX)
		c->qd = (uint32_t)(BENCH_DATA_MAX / c->bs);
	c->cap_units = cap / (c->bs / BLK_SECTOR);
	if (c->cap_units == 0 || c->qd == 0) {
		probe_fail(r, "disk-too-small capacity=%lu bs=%u", cap, c->bs);
		virtio_reset(d, 100000);
		return;
	}
	c->total = (mib << 20) / c->bs;
	c->rng = 0x853c49e6748fea9bULL;
	if (c->type == VIRTIO_BLK_T_OUT)
		user_call(bench_fill, c);

	con_printf("BENCH start op=%s pattern=%s bs=%u qd=%u ios=%lu seg=%u nseg=%u qsize=%u "
		   "capacity=%lu event_idx=%d\n", c->type == VIRTIO_BLK_T_OUT ? "write" : "read",
		   c->rand ? "rand" : "seq", c->bs, c->qd, c->total, c->seg, c->nseg, c->q->size, cap,
		   c->q->event_idx);
	t0 = user_rdtsc();
	user_call(bench_loop, c);
	t1 = user_rdtsc();
	con_printf("BENCH done ios=%lu bytes=%lu errors=%lu kicks=%u kicks_saved=%u tsc=%lu\n",
		   c->done, c->done * c->bs, c->errors + c->bad_used, c->q->kicks, c->q->kicks_saved,
		   t1 - t0);
	virtio_reset(d, 100000);
	if (c->stalled)
		probe_fail(r, "stalled done=%lu of %lu", c->done, c->total);
	if (c->errors || c->bad_used)
		probe_fail(r, "errors=%lu bad_used=%lu", c->errors, c->bad_used);
	probe_note(r, "ios=%lu bs=%u qd=%u kicks=%u", c->done, c->bs, c->qd, c->q->kicks);
}
