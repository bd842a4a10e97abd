/* test_virtq.c: unit tests of the split virtqueue against a fake guest RAM and a tiny in-test driver. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch/x86/layout.h"
#include "check.h"
#include "devices/virtio/virtq.h"
#include "kvm/mem.h"

#define RAM_SIZE  (1u << 20)
#define DESC_GPA  0x1000u
#define AVAIL_GPA 0x3000u
#define USED_GPA  0x4000u
#define TABLE_GPA 0x8000u   /* indirect tables */
#define BUF_GPA   0x10000u  /* data buffers */

/* The fake guest: RAM, the queue under test and the driver's avail idx. */
struct tdrv {
	uint8_t *ram;
	struct guest_mem m;
	struct virtq q;
	struct virtq_chain c;
	uint16_t avail_idx;
};

static struct tdrv T;

static void le16_put(uint64_t gpa, uint16_t v)
{
	memcpy(T.ram + gpa, &v, 2);
}

static uint16_t le16_get(uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, T.ram + gpa, 2);
	return v;
}

static uint32_t le32_get(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, T.ram + gpa, 4);
	return v;
}

/* Set up RAM and a ready queue of @num entries starting at index @start. */
static int drv_setup(uint16_t num, bool event_idx, bool indirect,
		     uint16_t start)
{
	free(T.ram);
	memset(&T, 0, sizeof(T));
	T.ram = aligned_alloc(4096, RAM_SIZE);
	if (!T.ram)
		return -ENOMEM;
	memset(T.ram, 0, RAM_SIZE);
	if (gmem_init_from(&T.m, T.ram, RAM_SIZE, LAYOUT_RAM_HOLE) < 0)
		return -EINVAL;
	if (virtq_init(&T.q, VIRTQ_MAX_SIZE) < 0)
		return -EINVAL;
	T.q.num = num;
	T.q.desc_gpa = DESC_GPA;
	T.q.avail_gpa = AVAIL_GPA;
	T.q.used_gpa = USED_GPA;
	T.q.event_idx = event_idx;
	T.q.indirect_desc = indirect;
	/* As if the device had already consumed @start chains. */
	T.q.last_avail = start;
	T.q.next_used = start;
	T.avail_idx = start;
	le16_put(AVAIL_GPA + 2, start);
	le16_put(USED_GPA + 2, start);
	return virtq_validate(&T.q, &T.m);
}

/* Write descriptor @idx of the table at @table_gpa. */
static void drv_desc_at(uint64_t table_gpa, uint16_t idx, uint64_t addr,
			uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy(T.ram + table_gpa + 16u * idx, &d, sizeof(d));
}

static void drv_desc(uint16_t idx, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	drv_desc_at(DESC_GPA, idx, addr, len, flags, next);
}

/* Make chain @head available and publish the new avail idx. */
static void drv_add(uint16_t head)
{
	le16_put(AVAIL_GPA + 4 + 2u * (T.avail_idx % T.q.num), head);
	T.avail_idx++;
	le16_put(AVAIL_GPA + 2, T.avail_idx);
}

static void drv_set_used_event(uint16_t v)
{
	le16_put(AVAIL_GPA + 4 + 2u * T.q.num, v);
}

static uint16_t drv_avail_event(void)
{
	return le16_get(USED_GPA + 4 + 8u * T.q.num);
}

/* Expect the next pop to refuse the chain for @why, and stay broken. */
static void expect_refused(const char *why)
{
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), -EINVAL);
	CHECK(T.q.broken);
	CHECK_STR(T.q.error, why);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), -EINVAL);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), -EINVAL);
}

static void test_init_rejects_bad_max(void)
{
	struct virtq q;

	CHECK_EQ_I(virtq_init(&q, 0), -EINVAL);
	CHECK_EQ_I(virtq_init(&q, 100), -EINVAL);
	CHECK_EQ_I(virtq_init(&q, 512), -EINVAL);
	CHECK_EQ_I(virtq_init(&q, 256), 0);
	CHECK_EQ_U(q.num, 256);
	CHECK_EQ_U(q.max_num, 256);
}

static void test_simple_chain(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(3, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 7);
	drv_desc(7, BUF_GPA + 0x100, 32, VIRTQ_DESC_F_WRITE, 0);
	drv_add(3);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	CHECK_EQ_U(T.c.head, 3);
	CHECK_EQ_U(T.c.nseg, 2);
	CHECK_EQ_U(T.c.nread, 1);
	CHECK_EQ_U(T.c.readable, 16);
	CHECK_EQ_U(T.c.writable, 32);
	CHECK(T.c.seg[0].ptr == T.ram + BUF_GPA);
	CHECK(!T.c.seg[0].writable);
	CHECK(T.c.seg[1].ptr == T.ram + BUF_GPA + 0x100);
	CHECK(T.c.seg[1].writable);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 0);
	CHECK(!T.q.broken);
}

static void test_long_chain(void)
{
	uint16_t i;

	/* All 16 descriptors of a 16-entry queue: the longest legal chain. */
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	for (i = 0; i < 16; i++)
		drv_desc(i, BUF_GPA + 0x100u * i, 10 + i,
			 (i < 15 ? VIRTQ_DESC_F_NEXT : 0) |
				 (i >= 8 ? VIRTQ_DESC_F_WRITE : 0),
			 i + 1);
	drv_add(0);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	CHECK_EQ_U(T.c.nseg, 16);
	CHECK_EQ_U(T.c.nread, 8);
	CHECK_EQ_U(T.c.readable, 8 * 10 + (0 + 7) * 8 / 2);
	CHECK_EQ_U(T.c.writable, 8 * 10 + (8 + 15) * 8 / 2);
	CHECK(T.c.seg[15].ptr == T.ram + BUF_GPA + 0xf00);
}

static void test_indirect_chain(void)
{
	CHECK_EQ_I(drv_setup(8, false, true, 0), 0);
	/* A direct readable descriptor, then the indirect one (2.7.5.3.2). */
	drv_desc(2, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 5);
	/* The WRITE flag on the indirect descriptor itself is ignored. */
	drv_desc(5, TABLE_GPA, 3 * 16,
		 VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	drv_desc_at(TABLE_GPA, 0, BUF_GPA + 0x100, 8, VIRTQ_DESC_F_NEXT, 2);
	drv_desc_at(TABLE_GPA, 2, BUF_GPA + 0x200, 16,
		    VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	drv_desc_at(TABLE_GPA, 1, BUF_GPA + 0x300, 1, VIRTQ_DESC_F_WRITE, 0);
	drv_add(2);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	CHECK_EQ_U(T.c.head, 2);
	CHECK_EQ_U(T.c.nseg, 4);
	CHECK_EQ_U(T.c.nread, 2);
	CHECK_EQ_U(T.c.readable, 12);
	CHECK_EQ_U(T.c.writable, 17);
	CHECK(T.c.seg[1].ptr == T.ram + BUF_GPA + 0x100);
	CHECK(T.c.seg[3].ptr == T.ram + BUF_GPA + 0x300);
	CHECK(T.c.seg[3].writable);
}

static void test_wraparound(void)
{
	uint16_t i, expect_used;

	/* Indices start 3 below 2^16 and wrap while chains are in flight. */
	CHECK_EQ_I(drv_setup(4, false, false, 65533), 0);
	expect_used = 65533;
	for (i = 0; i < 12; i++) {
		uint16_t head = i % 4;

		drv_desc(head, BUF_GPA + 0x10u * i, 8, VIRTQ_DESC_F_WRITE, 0);
		drv_add(head);
		CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
		CHECK_EQ_U(T.c.head, head);
		CHECK(T.c.seg[0].ptr == T.ram + BUF_GPA + 0x10u * i);
		CHECK_EQ_I(virtq_push(&T.q, head, i), 0);
		/* The element lands in slot used_idx % num, then idx moves. */
		CHECK_EQ_U(le32_get(USED_GPA + 4 + 8u * (expect_used % 4)), head);
		CHECK_EQ_U(le32_get(USED_GPA + 8 + 8u * (expect_used % 4)), i);
		expect_used++;
		CHECK_EQ_U(le16_get(USED_GPA + 2), expect_used);
	}
	CHECK_EQ_U(T.q.last_avail, 9);
	CHECK_EQ_U(T.q.next_used, 9);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 0);
}

static void test_full_ring_across_wrap(void)
{
	uint16_t i;

	/* A full ring (num pending) is legal even when idx wraps past 0. */
	CHECK_EQ_I(drv_setup(8, false, false, 65530), 0);
	for (i = 0; i < 8; i++) {
		drv_desc(i, BUF_GPA, 1, 0, 0);
		drv_add(i);
	}
	for (i = 0; i < 8; i++) {
		CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
		CHECK_EQ_U(T.c.head, i);
	}
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 0);
}

static void test_loop_two(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	drv_add(0);
	expect_refused("descriptor chain loops or is longer than its table");
}

static void test_self_loop(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(4, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 4);
	drv_add(4);
	expect_refused("descriptor chain loops or is longer than its table");
}

static void test_chain_longer_than_queue(void)
{
	uint16_t i;

	/* Every descriptor once, then back to the head: num + 1 visits. */
	CHECK_EQ_I(drv_setup(4, false, false, 0), 0);
	for (i = 0; i < 4; i++)
		drv_desc(i, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, (i + 1) % 4);
	drv_add(0);
	expect_refused("descriptor chain loops or is longer than its table");
}

static void test_next_out_of_range(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 16);
	drv_add(0);
	expect_refused("descriptor next index out of range");
}

static void test_head_out_of_range(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_add(16);
	expect_refused("available ring entry out of range");
}

static void test_addr_outside_ram(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(0, RAM_SIZE + 0x1000, 8, 0, 0);
	drv_add(0);
	expect_refused("descriptor buffer outside guest RAM");
}

static void test_addr_len_overflow(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(0, 0xfffffffffffffff0ULL, 0x20, 0, 0);
	drv_add(0);
	expect_refused("descriptor buffer outside guest RAM");
}

static void test_len_crosses_ram_end(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(0, RAM_SIZE - 8, 16, 0, 0);
	drv_add(0);
	expect_refused("descriptor buffer outside guest RAM");
	/* The same buffer one byte shorter ends exactly at the end: fine. */
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(0, RAM_SIZE - 8, 8, 0, 0);
	drv_add(0);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
}

static void test_readable_after_writable(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(1, BUF_GPA, 8, 0, 0);
	drv_add(0);
	expect_refused("device-readable descriptor after a device-writable one");
}

static void test_zero_length_dropped(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	/* No bytes, no access: even an address outside RAM is harmless. */
	drv_desc(0, 0xffffffffffffffffULL, 0, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(1, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	drv_add(0);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	CHECK_EQ_U(T.c.nseg, 1);
	CHECK_EQ_U(T.c.nread, 0);
	CHECK_EQ_U(T.c.writable, 8);
}

static void test_indirect_not_negotiated(void)
{
	CHECK_EQ_I(drv_setup(8, false, false, 0), 0);
	drv_desc(0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	drv_desc_at(TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	drv_add(0);
	expect_refused("indirect descriptor without VIRTIO_F_INDIRECT_DESC");
}

static void test_indirect_nested(void)
{
	CHECK_EQ_I(drv_setup(8, false, true, 0), 0);
	drv_desc(0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	drv_desc_at(TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	drv_desc_at(TABLE_GPA, 1, TABLE_GPA + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	drv_desc_at(TABLE_GPA + 0x100, 0, BUF_GPA, 8, 0, 0);
	drv_add(0);
	expect_refused("nested indirect descriptor");
}

static void test_indirect_with_next(void)
{
	CHECK_EQ_I(drv_setup(8, false, true, 0), 0);
	drv_desc(0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(1, BUF_GPA, 8, 0, 0);
	drv_desc_at(TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	drv_add(0);
	expect_refused("indirect descriptor also has NEXT");
}

/* One indirect descriptor of table length @len at @addr, entry 0 valid. */
static void indirect_table_case(uint64_t addr, uint32_t len, const char *why)
{
	CHECK_EQ_I(drv_setup(8, false, true, 0), 0);
	drv_desc(0, addr, len, VIRTQ_DESC_F_INDIRECT, 0);
	drv_desc_at(TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	drv_add(0);
	expect_refused(why);
}

static void test_indirect_len_misaligned(void)
{
	indirect_table_case(TABLE_GPA, 24, "indirect table length not a non-zero multiple of 16");
}

static void test_indirect_empty(void)
{
	indirect_table_case(TABLE_GPA, 0, "indirect table length not a non-zero multiple of 16");
}

static void test_indirect_outside_ram(void)
{
	indirect_table_case(RAM_SIZE - 16, 32,
			    "indirect table outside guest RAM");
}

static void test_indirect_too_many_entries(void)
{
	indirect_table_case(TABLE_GPA, (VIRTQ_MAX_SEGS + 1) * 16,
			    "indirect table has too many entries");
}

static void test_indirect_next_out_of_range(void)
{
	CHECK_EQ_I(drv_setup(8, false, true, 0), 0);
	drv_desc(0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	/* Index 2 is valid in the queue's table but not in this 2-entry one. */
	drv_desc_at(TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
	drv_add(0);
	expect_refused("descriptor next index out of range");
}

static void test_indirect_loop(void)
{
	CHECK_EQ_I(drv_setup(8, false, true, 0), 0);
	drv_desc(0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	drv_desc_at(TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	drv_desc_at(TABLE_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	drv_add(0);
	expect_refused("descriptor chain loops or is longer than its table");
}

static void test_too_many_segments(void)
{
	/* A guard after the chain catches a write past seg[VIRTQ_MAX_SEGS]. */
	static struct {
		struct virtq_chain c;
		uint8_t guard[64];
	} g;
	uint8_t ff[sizeof(g.guard)];
	uint16_t i;

	/* A full indirect table after one direct descriptor: 257 segments. */
	CHECK_EQ_I(drv_setup(8, false, true, 0), 0);
	drv_desc(0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(1, TABLE_GPA, VIRTQ_MAX_SEGS * 16, VIRTQ_DESC_F_INDIRECT, 0);
	for (i = 0; i < VIRTQ_MAX_SEGS; i++)
		drv_desc_at(TABLE_GPA, i, BUF_GPA, 8,
			    i + 1 < VIRTQ_MAX_SEGS ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	drv_add(0);
	memset(g.guard, 0xff, sizeof(g.guard));
	memset(ff, 0xff, sizeof(ff));
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &g.c), -EINVAL);
	CHECK_STR(T.q.error, "descriptor chain has too many segments");
	CHECK(memcmp(g.guard, ff, sizeof(ff)) == 0);
	/* Without the direct descriptor, 256 segments are accepted. */
	CHECK_EQ_I(drv_setup(8, false, true, 0), 0);
	drv_desc(1, TABLE_GPA, VIRTQ_MAX_SEGS * 16, VIRTQ_DESC_F_INDIRECT, 0);
	for (i = 0; i < VIRTQ_MAX_SEGS; i++)
		drv_desc_at(TABLE_GPA, i, BUF_GPA, 8,
			    i + 1 < VIRTQ_MAX_SEGS ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	drv_add(1);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	CHECK_EQ_U(T.c.nseg, VIRTQ_MAX_SEGS);
	CHECK_EQ_U(T.c.readable, VIRTQ_MAX_SEGS * 8);
}

static void test_chain_over_4gib(void)
{
	struct guest_mem big;
	struct virtq q;
	struct virtq_chain *c = &T.c;
	struct virtq_desc d[3] = {
		{ 0, 0xc0000000u, VIRTQ_DESC_F_NEXT, 1 },
		{ 0x100000000ULL, 0x40000000u, VIRTQ_DESC_F_NEXT, 2 },
		{ 0x100000000ULL, 1, 0, 0 },
	};
	uint16_t one = 1, zero = 0;

	/* 5 GiB of sparse RAM: 3 GiB low, 2 GiB above 4 GiB; few pages touched. */
	CHECK_EQ_I(gmem_init(&big, 5ULL << 30, LAYOUT_RAM_HOLE), 0);
	if (!big.base)
		return;
	CHECK_EQ_I(virtq_init(&q, 8), 0);
	q.desc_gpa = DESC_GPA;
	q.avail_gpa = AVAIL_GPA;
	q.used_gpa = USED_GPA;
	CHECK_EQ_I(virtq_validate(&q, &big), 0);
	/* Exactly 2^32 bytes (3 GiB + 1 GiB) is the most a chain may hold. */
	d[1].flags = 0;
	CHECK_EQ_I(gmem_write(&big, DESC_GPA, d, sizeof(d)), 0);
	CHECK_EQ_I(gmem_write(&big, AVAIL_GPA + 4, &zero, 2), 0);
	CHECK_EQ_I(gmem_write(&big, AVAIL_GPA + 2, &one, 2), 0);
	CHECK_EQ_I(virtq_pop(&q, &big, c), 1);
	CHECK_EQ_U(c->readable, 1ULL << 32);
	/* One byte more is refused. */
	d[1].flags = VIRTQ_DESC_F_NEXT;
	CHECK_EQ_I(gmem_write(&big, DESC_GPA, d, sizeof(d)), 0);
	CHECK_EQ_I(gmem_write(&big, AVAIL_GPA + 6, &zero, 2), 0);
	one = 2;
	CHECK_EQ_I(gmem_write(&big, AVAIL_GPA + 2, &one, 2), 0);
	CHECK_EQ_I(virtq_pop(&q, &big, c), -EINVAL);
	CHECK_STR(q.error, "descriptor chain longer than 2^32 bytes");
	gmem_destroy(&big);
}

static void test_avail_idx_too_far(void)
{
	CHECK_EQ_I(drv_setup(8, false, false, 65534), 0);
	drv_desc(0, BUF_GPA, 8, 0, 0);
	/* num + 1 chains ahead of last_avail, across the wrap. */
	le16_put(AVAIL_GPA + 2, (uint16_t)(65534 + 9));
	expect_refused("available index moved more than the queue size");
}

static void test_broken_until_reset(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	drv_add(0);
	expect_refused("descriptor chain loops or is longer than its table");
	/* Fixing the descriptor does not unbreak the queue... */
	drv_desc(0, BUF_GPA, 8, 0, 0);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), -EINVAL);
	/* ...a reset and a new setup by the driver do. */
	virtq_reset(&T.q);
	CHECK(!T.q.broken);
	CHECK(!T.q.ready);
	CHECK_EQ_U(T.q.num, VIRTQ_MAX_SIZE);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 0);
	T.q.num = 16;
	T.q.desc_gpa = DESC_GPA;
	T.q.avail_gpa = AVAIL_GPA;
	T.q.used_gpa = USED_GPA;
	CHECK_EQ_I(virtq_validate(&T.q, &T.m), 0);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
}

/* Validate with the given areas; expect -EINVAL and a not-ready queue. */
static void validate_refused(uint16_t num, uint64_t desc, uint64_t avail,
			     uint64_t used, const char *why)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	T.q.num = num;
	T.q.desc_gpa = desc;
	T.q.avail_gpa = avail;
	T.q.used_gpa = used;
	CHECK_EQ_I(virtq_validate(&T.q, &T.m), -EINVAL);
	CHECK(!T.q.ready);
	CHECK_STR(T.q.error, why);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 0);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), -EINVAL);
}

static void test_validate_misaligned(void)
{
	validate_refused(16, DESC_GPA + 8, AVAIL_GPA, USED_GPA,
			 "descriptor table not 16-byte aligned");
	validate_refused(16, DESC_GPA, AVAIL_GPA + 1, USED_GPA,
			 "available ring not 2-byte aligned");
	validate_refused(16, DESC_GPA, AVAIL_GPA, USED_GPA + 2,
			 "used ring not 4-byte aligned");
}

static void test_validate_outside_ram(void)
{
	/* Each area one entry (or one event field) past the end of RAM. */
	validate_refused(16, RAM_SIZE - 16 * 15, AVAIL_GPA, USED_GPA,
			 "descriptor table outside guest RAM");
	validate_refused(16, DESC_GPA, RAM_SIZE - (4 + 2 * 16), USED_GPA,
			 "available ring outside guest RAM");
	validate_refused(16, DESC_GPA, AVAIL_GPA, RAM_SIZE - (4 + 8 * 16),
			 "used ring outside guest RAM");
	validate_refused(16, 0xfffffffffffffff0ULL, AVAIL_GPA, USED_GPA,
			 "descriptor table outside guest RAM");
	/* Each area ending at the end of RAM passes (overlap is not checked). */
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	T.q.desc_gpa = RAM_SIZE - 16 * 16;
	T.q.avail_gpa = RAM_SIZE - (6 + 2 * 16);
	T.q.used_gpa = RAM_SIZE - (6 + 8 * 16) - 2;
	CHECK_EQ_I(virtq_validate(&T.q, &T.m), 0);
	CHECK(T.q.ready);
}

static void test_validate_bad_size(void)
{
	validate_refused(0, DESC_GPA, AVAIL_GPA, USED_GPA,
			 "queue size is not a power of 2 up to QueueNumMax");
	validate_refused(12, DESC_GPA, AVAIL_GPA, USED_GPA,
			 "queue size is not a power of 2 up to QueueNumMax");
	validate_refused(512, DESC_GPA, AVAIL_GPA, USED_GPA,
			 "queue size is not a power of 2 up to QueueNumMax");
}

static void test_push_used(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(9, BUF_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	drv_add(9);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	CHECK_EQ_U(le16_get(USED_GPA + 2), 0);
	CHECK_EQ_I(virtq_push(&T.q, T.c.head, 12), 0);
	CHECK_EQ_U(le16_get(USED_GPA + 2), 1);
	CHECK_EQ_U(le32_get(USED_GPA + 4), 9);
	CHECK_EQ_U(le32_get(USED_GPA + 8), 12);
	/* A head outside the table is a device bug: refused, nothing written. */
	CHECK_EQ_I(virtq_push(&T.q, 16, 1), -EINVAL);
	CHECK_EQ_U(le16_get(USED_GPA + 2), 1);
	CHECK(!T.q.broken);
}

static void test_unpop(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(5, BUF_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	drv_add(5);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	virtq_unpop(&T.q);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	CHECK_EQ_U(T.c.head, 5);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 0);
}

static void test_notify_flags(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(0, BUF_GPA, 8, 0, 0);
	drv_add(0);
	drv_add(0);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);
	CHECK(virtq_should_notify(&T.q));
	/* 2.7.7.2: flags == 1 means no notification. */
	le16_put(AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);
	CHECK(!virtq_should_notify(&T.q));
	/* used_event is ignored without EVENT_IDX. */
	le16_put(AVAIL_GPA, 0);
	drv_set_used_event(100);
	CHECK(virtq_should_notify(&T.q));
}

static void test_notify_event_idx(void)
{
	CHECK_EQ_I(drv_setup(16, true, false, 0), 0);
	/* First call after reset notifies (nothing known), then no news. */
	CHECK(virtq_should_notify(&T.q));
	CHECK(!virtq_should_notify(&T.q));
	CHECK_EQ_I(drv_setup(16, true, false, 0), 0);
	drv_desc(0, BUF_GPA, 8, 0, 0);
	/* The lower bit of flags is ignored with EVENT_IDX (2.7.7.2). */
	le16_put(AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	drv_set_used_event(0);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);     /* used idx 1 */
	CHECK(virtq_should_notify(&T.q));
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);     /* 2: event 0 passed */
	CHECK(!virtq_should_notify(&T.q));
	drv_set_used_event(3);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);     /* 3 */
	CHECK(!virtq_should_notify(&T.q));
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);     /* 4: entry 3 written */
	CHECK(virtq_should_notify(&T.q));
	/* A batch jumping over used_event still notifies once. */
	drv_set_used_event(5);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);     /* 7 */
	CHECK(virtq_should_notify(&T.q));
	CHECK(!virtq_should_notify(&T.q));         /* nothing new */
}

static void test_notify_event_idx_wrap(void)
{
	CHECK_EQ_I(drv_setup(16, true, false, 65534), 0);
	drv_set_used_event(65533);
	/* First call after reset always notifies: nothing known yet. */
	CHECK(virtq_should_notify(&T.q));
	drv_set_used_event(65535);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);     /* 65535 */
	CHECK(!virtq_should_notify(&T.q));
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);     /* 0: entry 65535 */
	CHECK(virtq_should_notify(&T.q));
	drv_set_used_event(1);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);     /* 1 */
	CHECK(!virtq_should_notify(&T.q));
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);     /* 2: entry 1 */
	CHECK(virtq_should_notify(&T.q));
	/* A batch across the wrap: event 65535 lies in (65534, 1]. */
	CHECK_EQ_I(drv_setup(16, true, false, 65533), 0);
	CHECK(virtq_should_notify(&T.q));
	drv_set_used_event(65535);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);
	CHECK_EQ_I(virtq_push(&T.q, 0, 0), 0);     /* 1 */
	CHECK(virtq_should_notify(&T.q));
}

static void test_driver_notify_flags(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(0, BUF_GPA, 8, 0, 0);
	CHECK(!virtq_set_notification(&T.q, false));
	CHECK_EQ_U(le16_get(USED_GPA), VIRTQ_USED_F_NO_NOTIFY);
	CHECK(!virtq_set_notification(&T.q, true));
	CHECK_EQ_U(le16_get(USED_GPA), 0);
	/* A chain added while suppressed is reported on re-enable. */
	CHECK(!virtq_set_notification(&T.q, false));
	drv_add(0);
	CHECK(virtq_set_notification(&T.q, true));
	CHECK_EQ_U(le16_get(USED_GPA), 0);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	CHECK(!virtq_set_notification(&T.q, true));
}

static void test_driver_notify_event_idx(void)
{
	CHECK_EQ_I(drv_setup(16, true, false, 65535), 0);
	drv_desc(0, BUF_GPA, 8, 0, 0);
	le16_put(USED_GPA + 4 + 8 * 16, 1234);
	drv_add(0);
	drv_add(0);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	/* Found empty: avail_event = last_avail (1), across the wrap. */
	CHECK_EQ_U(drv_avail_event(), 1234);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 0);
	CHECK_EQ_U(drv_avail_event(), 1);
	/* While suppressed an empty pop leaves avail_event alone... */
	CHECK(!virtq_set_notification(&T.q, false));
	drv_add(0);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 0);
	CHECK_EQ_U(drv_avail_event(), 1);
	/* ...and flags stay 0 with EVENT_IDX (2.7.10.2). */
	CHECK_EQ_U(le16_get(USED_GPA), 0);
	/* Re-enable publishes last_avail and re-checks the ring. */
	CHECK(!virtq_set_notification(&T.q, true));
	CHECK_EQ_U(drv_avail_event(), 2);
	drv_add(0);
	CHECK(!virtq_set_notification(&T.q, false));
	CHECK(virtq_set_notification(&T.q, true));
}

static void test_chain_read_write(void)
{
	uint8_t buf[32], want[32];
	unsigned i;

	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	for (i = 0; i < 16; i++)
		T.ram[BUF_GPA + i] = (uint8_t)(0xa0 + i);
	/* Readable: [0,3) [3,8) [8,16) of BUF; writable: 4 + 6 bytes. */
	drv_desc(0, BUF_GPA, 3, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(1, BUF_GPA + 3, 5, VIRTQ_DESC_F_NEXT, 2);
	drv_desc(2, BUF_GPA + 8, 8, VIRTQ_DESC_F_NEXT, 3);
	drv_desc(3, BUF_GPA + 0x100, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 4);
	drv_desc(4, BUF_GPA + 0x200, 6, VIRTQ_DESC_F_WRITE, 0);
	drv_add(0);
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ_U(virtq_chain_read(&T.c, 2, buf, 7), 7);
	for (i = 0; i < 7; i++)
		want[i] = (uint8_t)(0xa2 + i);
	CHECK(memcmp(buf, want, 7) == 0);
	/* Short read at the end, nothing past it. */
	CHECK_EQ_U(virtq_chain_read(&T.c, 10, buf, sizeof(buf)), 6);
	CHECK_EQ_U(buf[5], 0xaf);
	CHECK_EQ_U(virtq_chain_read(&T.c, 16, buf, 4), 0);
	CHECK_EQ_U(virtq_chain_read(&T.c, ~0ULL, buf, 4), 0);
	/* Writes cross from the first writable segment into the second. */
	for (i = 0; i < 8; i++)
		want[i] = (uint8_t)(0x10 + i);
	CHECK_EQ_U(virtq_chain_write(&T.c, 1, want, 5), 5);
	CHECK(memcmp(T.ram + BUF_GPA + 0x101, want, 3) == 0);
	CHECK(memcmp(T.ram + BUF_GPA + 0x200, want + 3, 2) == 0);
	CHECK_EQ_U(T.ram[BUF_GPA + 0x100], 0);
	CHECK_EQ_U(virtq_chain_write(&T.c, 8, want, 8), 2);
	/* Readable memory is never written. */
	CHECK_EQ_U(T.ram[BUF_GPA], 0xa0);
}

static void test_pop_not_ready(void)
{
	CHECK_EQ_I(drv_setup(16, false, false, 0), 0);
	drv_desc(0, BUF_GPA, 8, 0, 0);
	drv_add(0);
	T.q.ready = false;
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 0);
	CHECK(!virtq_should_notify(&T.q));
	CHECK(!virtq_set_notification(&T.q, true));
	T.q.ready = true;
	CHECK_EQ_I(virtq_pop(&T.q, &T.m, &T.c), 1);
}

/*
 * A driver thread and a device thread on different CPUs. The driver kicks
 * only when avail_event asks for it (vring_need_event); the device sleeps on
 * the kick after an empty pop. A lost notification is a 2 s timeout.
 */
#define RACE_CHAINS 200000u

static sem_t race_kick;
static int race_stop;

/* vring_need_event() as the driver computes it (2.7.10). */
static bool race_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

static void *race_driver(void *arg)
{
	uint16_t *aidx = (uint16_t *)(void *)(T.ram + AVAIL_GPA + 2);
	uint16_t *uidx = (uint16_t *)(void *)(T.ram + USED_GPA + 2);
	uint16_t *aevent = (uint16_t *)(void *)(T.ram + USED_GPA + 4 + 8 * 16);
	uint32_t k;

	(void)arg;
	for (k = 0; k < RACE_CHAINS; k++) {
		uint16_t old = (uint16_t)k;

		/* Wait for a free slot: at most 16 chains in flight. */
		while ((uint16_t)(old - __atomic_load_n(uidx, __ATOMIC_ACQUIRE)) >= 16) {
			if (__atomic_load_n(&race_stop, __ATOMIC_ACQUIRE))
				return NULL;
			sched_yield();
		}
		le16_put(AVAIL_GPA + 4 + 2u * (k % 16), (uint16_t)(k % 16));
		__atomic_store_n(aidx, (uint16_t)(old + 1), __ATOMIC_RELEASE);
		/* 2.7.13.4.1: the idx store before reading avail_event. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (race_need_event(__atomic_load_n(aevent, __ATOMIC_RELAXED),
				    (uint16_t)(old + 1), old))
			sem_post(&race_kick);
	}
	return NULL;
}

static void test_no_lost_driver_notification(void)
{
	struct timespec ts;
	pthread_t thr;
	uint32_t done = 0;
	uint16_t i;
	int r;

	CHECK_EQ_I(drv_setup(16, true, false, 0), 0);
	for (i = 0; i < 16; i++)
		drv_desc(i, BUF_GPA, 8, 0, 0);
	race_stop = 0;
	CHECK_EQ_I(sem_init(&race_kick, 0, 0), 0);
	CHECK_EQ_I(pthread_create(&thr, NULL, race_driver, NULL), 0);
	while (done < RACE_CHAINS) {
		while ((r = virtq_pop(&T.q, &T.m, &T.c)) == 1) {
			CHECK_EQ_I(virtq_push(&T.q, T.c.head, 0), 0);
			done++;
		}
		CHECK_EQ_I(r, 0);
		if (r < 0 || done == RACE_CHAINS)
			break;
		/* Empty: sleep until kicked; 2 s without a kick = lost. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 2;
		while ((r = sem_timedwait(&race_kick, &ts)) < 0 && errno == EINTR)
			;
		if (r < 0)
			break;
	}
	CHECK_EQ_U(done, RACE_CHAINS);
	__atomic_store_n(&race_stop, 1, __ATOMIC_RELEASE);
	pthread_join(thr, NULL);
	sem_destroy(&race_kick);
}

int main(void)
{
	RUN(test_init_rejects_bad_max);
	RUN(test_simple_chain);
	RUN(test_long_chain);
	RUN(test_indirect_chain);
	RUN(test_wraparound);
	RUN(test_full_ring_across_wrap);
	RUN(test_loop_two);
	RUN(test_self_loop);
	RUN(test_chain_longer_than_queue);
	RUN(test_next_out_of_range);
	RUN(test_head_out_of_range);
	RUN(test_addr_outside_ram);
	RUN(test_addr_len_overflow);
	RUN(test_len_crosses_ram_end);
	RUN(test_readable_after_writable);
	RUN(test_zero_length_dropped);
	RUN(test_indirect_not_negotiated);
	RUN(test_indirect_nested);
	RUN(test_indirect_with_next);
	RUN(test_indirect_len_misaligned);
	RUN(test_indirect_empty);
	RUN(test_indirect_outside_ram);
	RUN(test_indirect_too_many_entries);
	RUN(test_indirect_next_out_of_range);
	RUN(test_indirect_loop);
	RUN(test_too_many_segments);
	RUN(test_chain_over_4gib);
	RUN(test_avail_idx_too_far);
	RUN(test_broken_until_reset);
	RUN(test_validate_misaligned);
	RUN(test_validate_outside_ram);
	RUN(test_validate_bad_size);
	RUN(test_push_used);
	RUN(test_unpop);
	RUN(test_notify_flags);
	RUN(test_notify_event_idx);
	RUN(test_notify_event_idx_wrap);
	RUN(test_driver_notify_flags);
	RUN(test_driver_notify_event_idx);
	RUN(test_chain_read_write);
	RUN(test_pop_not_ready);
	RUN(test_no_lost_driver_notification);
	free(T.ram);
	return check_summary();
}
