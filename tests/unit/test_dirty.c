/* test_dirty.c: dirty page tracking: ember's bitmap, the hole split, KVM's log folded in, virtq's marks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "check.h"
#include "devices/virtio/virtq.h"
#include "kvm/mem.h"

#define GIB (1ULL << 30)
#define PG  GMEM_PAGE

static int bit(const uint64_t *bits, uint64_t page)
{
	return (int)(bits[page >> 6] >> (page & 63) & 1);
}

static unsigned count(const uint64_t *bits, size_t words)
{
	unsigned n = 0;

	for (size_t i = 0; i < words; i++)
		n += (unsigned)__builtin_popcountll(bits[i]);
	return n;
}

/* A 5 GiB guest described, never touched: [0, 3 GiB) and [4 GiB, 6 GiB). */
static void big_guest(struct guest_mem *m)
{
	CHECK_EQ_I(gmem_init_from(m, (void *)(uintptr_t)(1ULL << 40), 5 * GIB, LAYOUT_RAM_HOLE), 0);
	CHECK_EQ_U(m->nregions, 2);
}

static void test_off_by_default(void)
{
	static uint8_t ram[16 * 4096] __attribute__((aligned(4096)));
	struct guest_mem m;
	uint64_t bits[1] = { ~0ULL };

	CHECK_EQ_I(gmem_init_from(&m, ram, sizeof(ram), LAYOUT_RAM_HOLE), 0);
	CHECK(m.dirty == NULL);
	gmem_mark_dirty(&m, 0, 4096);        /* nothing to mark: no crash, no bitmap */
	gmem_mark_dirty_host(&m, ram, 4096);
	gmem_dirty_take(&m, bits);
	CHECK_EQ_U(bits[0], 0);
	gmem_destroy(&m);
}

static void test_mark_across_pages(void)
{
	static uint8_t ram[200 * 4096] __attribute__((aligned(4096)));
	struct guest_mem m;
	uint64_t bits[4];
	uint32_t gen;

	CHECK_EQ_I(gmem_init_from(&m, ram, sizeof(ram), LAYOUT_RAM_HOLE), 0);
	CHECK_EQ_U(gmem_dirty_words(&m), 4);
	CHECK_EQ_I(gmem_track_dirty(&m, true), 0);
	CHECK(m.dirty != NULL);
	gmem_mark_dirty(&m, PG - 1, 2);          /* the last byte of page 0, the first of 1 */
	gmem_mark_dirty(&m, 2 * PG, PG);          /* exactly page 2 */
	gmem_mark_dirty(&m, 10 * PG + 5, 0);      /* nothing */
	gmem_mark_dirty(&m, 63 * PG + 100, PG);   /* 63 and 64: across a bitmap word */
	gmem_mark_dirty(&m, 199 * PG + 1, 10 * PG); /* clipped at the end of RAM */
	gmem_mark_dirty(&m, 500 * PG, PG);        /* outside RAM: ignored */
	gmem_mark_dirty(&m, UINT64_MAX - 10, 100);  /* wraps: ignored */
	gmem_mark_dirty_host(&m, ram + 100 * PG + 4000, 200); /* 100 and 101 */
	gmem_mark_dirty_host(&m, ram + sizeof(ram), 10);      /* past the mapping */
	gen = m.dirty_gen;
	gmem_dirty_take(&m, bits);
	CHECK_EQ_U(m.dirty_gen, gen + 1);
	CHECK(bit(bits, 0) && bit(bits, 1) && bit(bits, 2) && !bit(bits, 3));
	CHECK(bit(bits, 63) && bit(bits, 64) && !bit(bits, 65));
	CHECK(bit(bits, 100) && bit(bits, 101) && bit(bits, 199));
	CHECK_EQ_U(count(bits, 4), 8);
	/* Taken means cleared; a failed snapshot merges them back. */
	CHECK_EQ_U(count(m.dirty, 4), 0);
	gmem_mark_dirty(&m, 5 * PG, 1);
	gmem_dirty_merge(&m, bits);
	CHECK_EQ_U(count(m.dirty, 4), 9);
	gmem_dirty_take(&m, NULL);
	CHECK_EQ_U(count(m.dirty, 4), 0);
	CHECK_EQ_I(gmem_track_dirty(&m, false), 0);
	CHECK(m.dirty == NULL);
	gmem_destroy(&m);
}

/* The pure gpa -> RAM offset translation, around the 32-bit MMIO hole. */
static void test_hole_offset(void)
{
	struct guest_mem m;
	uint64_t off = 0;

	big_guest(&m);
	CHECK_EQ_I(gmem_offset(&m, 0, &off), 0);
	CHECK_EQ_U(off, 0);
	CHECK_EQ_I(gmem_offset(&m, 3 * GIB - 1, &off), 0);
	CHECK_EQ_U(off, 3 * GIB - 1);
	CHECK_EQ_I(gmem_offset(&m, 3 * GIB, &off), -EFAULT);       /* the hole */
	CHECK_EQ_I(gmem_offset(&m, 4 * GIB - 1, &off), -EFAULT);
	CHECK_EQ_I(gmem_offset(&m, 4 * GIB, &off), 0);
	CHECK_EQ_U(off, 3 * GIB);
	CHECK_EQ_I(gmem_offset(&m, 6 * GIB - 1, &off), 0);
	CHECK_EQ_U(off, 5 * GIB - 1);
	CHECK_EQ_I(gmem_offset(&m, 6 * GIB, &off), -EFAULT);
	/* A small guest has no split: offset == gpa. */
	CHECK_EQ_I(gmem_init_from(&m, (void *)(uintptr_t)(1ULL << 40), GIB, LAYOUT_RAM_HOLE), 0);
	CHECK_EQ_I(gmem_offset(&m, GIB - 1, &off), 0);
	CHECK_EQ_U(off, GIB - 1);
	CHECK_EQ_I(gmem_offset(&m, GIB, &off), -EFAULT);
}

static void test_hole_marks_and_kvm_log(void)
{
	struct guest_mem m;
	uint64_t *bits, *log;
	size_t words;

	big_guest(&m);
	CHECK_EQ_I(gmem_track_dirty(&m, true), 0);
	words = gmem_dirty_words(&m);
	CHECK_EQ_U(words, 5 * GIB / PG / 64);
	bits = calloc(words, sizeof(*bits));
	log = calloc(3 * GIB / PG / 64, sizeof(*log));    /* slot 0's size, the larger */
	if (!bits || !log) {
		CHECK(!"out of memory");
		free(bits);
		free(log);
		return;
	}
	/* Above the hole, gpa 4 GiB + 1 page is RAM offset 3 GiB + 1 page. */
	gmem_mark_dirty(&m, 4 * GIB + PG, 1);
	/* A range over the hole marks the last page below it and the first above it. */
	gmem_mark_dirty(&m, 3 * GIB - PG, GIB + 2 * PG - 1);
	gmem_dirty_take(&m, bits);
	CHECK(bit(bits, 3 * GIB / PG + 1));
	CHECK(bit(bits, 3 * GIB / PG - 1) && bit(bits, 3 * GIB / PG));
	CHECK_EQ_U(count(bits, words), 3);
	/* KVM's log of slot 1 (gpa 4 GiB on): its bit j is RAM page 3 GiB / 4 KiB + j. */
	memset(bits, 0, words * sizeof(*bits));
	log[0] = 1ULL | 1ULL << 5;
	log[2 * GIB / PG / 64 - 1] = 1ULL << 63;  /* the slot's last page: RAM's last */
	gmem_dirty_or_log(&m, 1, log, bits);
	CHECK(bit(bits, 3 * GIB / PG) && bit(bits, 3 * GIB / PG + 5));
	CHECK(bit(bits, 5 * GIB / PG - 1));
	CHECK_EQ_U(count(bits, words), 3);
	/* Slot 0 starts at gpa 0: bit j is page j. */
	memset(bits, 0, words * sizeof(*bits));
	memset(log, 0, 3 * GIB / PG / 64 * sizeof(*log));
	log[0] = 1ULL << 7;
	log[1] = 1ULL;
	gmem_dirty_or_log(&m, 0, log, bits);
	CHECK(bit(bits, 7) && bit(bits, 64));
	CHECK_EQ_U(count(bits, words), 2);
	gmem_dirty_or_log(&m, 2, log, bits);    /* no such slot: nothing */
	CHECK_EQ_U(count(bits, words), 2);
	free(bits);
	free(log);
	gmem_destroy(&m);
}

/* A queue in 16 pages of RAM: descriptors 0x1000, avail 0x2000, used 0x3000. */
#define Q_DESC  0x1000
#define Q_AVAIL 0x2000
#define Q_USED  0x3000

static void q_desc(uint8_t *ram, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy(ram + Q_DESC + 16u * i, &d, sizeof(d));
}

static void q_avail(uint8_t *ram, uint16_t slot, uint16_t head, uint16_t idx)
{
	memcpy(ram + Q_AVAIL + 4 + 2u * slot, &head, 2);
	memcpy(ram + Q_AVAIL + 2, &idx, 2);
}

static void test_virtq_marks(void)
{
	static uint8_t ram[16 * 4096] __attribute__((aligned(4096)));
	static struct virtq q;
	static struct virtq_chain c;
	struct guest_mem m;
	uint64_t bits[1];

	memset(ram, 0, sizeof(ram));
	CHECK_EQ_I(gmem_init_from(&m, ram, sizeof(ram), LAYOUT_RAM_HOLE), 0);
	CHECK_EQ_I(gmem_track_dirty(&m, true), 0);
	CHECK_EQ_I(virtq_init(&q, 4), 0);
	q.desc_gpa = Q_DESC;
	q.avail_gpa = Q_AVAIL;
	q.used_gpa = Q_USED;
	CHECK_EQ_I(virtq_validate(&q, &m), 0);
	/* Chain 0: 100 readable bytes at page 5, 32 writable across pages 6 and 7. */
	q_desc(ram, 0, 5 * PG, 100, VIRTQ_DESC_F_NEXT, 1);
	q_desc(ram, 1, 7 * PG - 16, 32, VIRTQ_DESC_F_WRITE, 0);
	q_avail(ram, 0, 0, 1);
	CHECK_EQ_I(virtq_pop(&q, &m, &c), 1);
	CHECK_EQ_U(m.dirty[0], 1ULL << 6 | 1ULL << 7);     /* writable only; rings untouched */
	CHECK_EQ_I(virtq_push(&q, 0, 32), 0);
	CHECK_EQ_U(m.dirty[0], 1ULL << 3 | 1ULL << 6 | 1ULL << 7); /* + the used ring */
	gmem_dirty_take(&m, bits);
	/* Chain 1 (writable at page 9) popped, then a snapshot, then pushed: marked again. */
	q_desc(ram, 2, 9 * PG, 64, VIRTQ_DESC_F_WRITE, 0);
	q_avail(ram, 1, 2, 2);
	CHECK_EQ_I(virtq_pop(&q, &m, &c), 1);
	CHECK_EQ_U(m.dirty[0], 1ULL << 9);
	gmem_dirty_take(&m, bits);
	CHECK_EQ_U(m.dirty[0], 0);
	CHECK_EQ_I(virtq_push(&q, 2, 64), 0);
	CHECK_EQ_U(m.dirty[0], 1ULL << 3 | 1ULL << 9);
	CHECK(!q.broken);
	/* Without tracking, nothing is marked (and nothing breaks). */
	CHECK_EQ_I(gmem_track_dirty(&m, false), 0);
	q_avail(ram, 2, 0, 3);
	CHECK_EQ_I(virtq_pop(&q, &m, &c), 1);
	CHECK_EQ_I(virtq_push(&q, 0, 0), 0);
	gmem_destroy(&m);
}

int main(void)
{
	RUN(test_off_by_default);
	RUN(test_mark_across_pages);
	RUN(test_hole_offset);
	RUN(test_hole_marks_and_kvm_log);
	RUN(test_virtq_marks);
	return check_summary();
}
