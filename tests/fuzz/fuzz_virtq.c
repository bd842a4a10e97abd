/* fuzz_virtq.c: libFuzzer target: hostile guest memory under the split virtqueue device side. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "devices/virtio/virtq.h"
#include "kvm/mem.h"

/*
 * Input layout:
 *   byte 0     bits 0-3: log2 of the queue size (mod 9: 1..256)
 *              bit 4: EVENT_IDX, bit 5: INDIRECT_DESC,
 *              bit 6: misplace one ring (validation refusals),
 *              bit 7: toggle driver notifications between pops
 *   bytes 1-2  starting last_avail / next_used (wrap-around)
 *   byte 3     offset for chain reads, how often to unpop
 *   byte 4..   guest RAM image from GPA 0: the descriptor table at 0, the
 *              available ring right after it, the used ring after that;
 *              the rest is room for indirect tables and buffers.
 * The fake RAM is FUZZ_VIRTQ_RAM bytes; the fuzzer has to find addresses
 * in it, which the comparisons in gmem_ptr() guide it towards.
 */
#define FUZZ_VIRTQ_RAM   (64u * 1024)
#define FUZZ_VIRTQ_HDR   4u

#define FUZZ_VIRTQ_CHECK(cond)                                                 \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t fuzz_virtq_ram[FUZZ_VIRTQ_RAM] __attribute__((aligned(4096)));
static uint8_t fuzz_virtq_scratch[FUZZ_VIRTQ_RAM];
static struct virtq_chain fuzz_virtq_chain;

/* Every segment inside the fake RAM, readable ones first, sums right. */
static void fuzz_virtq_check_chain(const struct virtq *q,
				   const struct virtq_chain *c)
{
	const uint8_t *lo = fuzz_virtq_ram, *hi = lo + FUZZ_VIRTQ_RAM;
	uint64_t rd = 0, wr = 0;
	unsigned i;

	FUZZ_VIRTQ_CHECK(c->head < q->num);
	FUZZ_VIRTQ_CHECK(c->nseg <= VIRTQ_MAX_SEGS);
	FUZZ_VIRTQ_CHECK(c->nread <= c->nseg);
	for (i = 0; i < c->nseg; i++) {
		const struct virtq_seg *s = &c->seg[i];
		const uint8_t *p = s->ptr;

		FUZZ_VIRTQ_CHECK(s->len > 0);
		FUZZ_VIRTQ_CHECK(p >= lo && p < hi);
		FUZZ_VIRTQ_CHECK(s->len <= (size_t)(hi - p));
		FUZZ_VIRTQ_CHECK(s->writable == (i >= c->nread));
		if (s->writable)
			wr += s->len;
		else
			rd += s->len;
	}
	FUZZ_VIRTQ_CHECK(rd == c->readable && wr == c->writable);
	FUZZ_VIRTQ_CHECK(rd + wr <= VIRTQ_MAX_CHAIN_BYTES);
}

/* Copy out and in through the helpers, as a device would. */
static uint32_t fuzz_virtq_use_chain(const struct virtq_chain *c, uint8_t off)
{
	size_t want, got, len = sizeof(fuzz_virtq_scratch);

	want = c->readable > off ? c->readable - off : 0;
	if (want > len)
		want = len;
	got = virtq_chain_read(c, off, fuzz_virtq_scratch, len);
	FUZZ_VIRTQ_CHECK(got == want);
	want = c->writable > len ? len : c->writable;
	memset(fuzz_virtq_scratch, 0x5a, want);
	got = virtq_chain_write(c, 0, fuzz_virtq_scratch, len);
	FUZZ_VIRTQ_CHECK(got == want);
	return (uint32_t)got;
}

/* Place the rings; bit 6 moves one of them somewhere invalid. */
static void fuzz_virtq_layout(struct virtq *q, uint8_t cfg, uint16_t start)
{
	uint64_t avail = 16u * q->num;
	uint64_t used = (avail + 6 + 2u * q->num + 3) & ~3ULL;

	q->desc_gpa = 0;
	q->avail_gpa = avail;
	q->used_gpa = used;
	if (!(cfg & 0x40))
		return;
	switch (start % 8) {
	case 0:
		q->desc_gpa += 8;
		break;
	case 1:
		q->avail_gpa += 1;
		break;
	case 2:
		q->used_gpa += 2;
		break;
	case 3:
		q->desc_gpa = FUZZ_VIRTQ_RAM - 16u * q->num + 16;
		break;
	case 4:
		q->avail_gpa = FUZZ_VIRTQ_RAM - 2u * q->num - 4;
		break;
	case 5:
		q->used_gpa = FUZZ_VIRTQ_RAM - 8u * q->num - 4;
		break;
	case 6:
		q->num = (uint16_t)(q->num * 2 + 1);
		break;
	default:
		q->num = VIRTQ_MAX_SIZE * 2;
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtq_chain *c = &fuzz_virtq_chain;
	struct guest_mem m;
	struct virtq q;
	uint16_t start;
	unsigned i, limit;
	uint8_t cfg, ops;
	int r;

	if (size < FUZZ_VIRTQ_HDR)
		return 0;
	cfg = data[0];
	start = (uint16_t)(data[1] | data[2] << 8);
	ops = data[3];
	memset(fuzz_virtq_ram, 0, sizeof(fuzz_virtq_ram));
	size -= FUZZ_VIRTQ_HDR;
	memcpy(fuzz_virtq_ram, data + FUZZ_VIRTQ_HDR,
	       size < FUZZ_VIRTQ_RAM ? size : FUZZ_VIRTQ_RAM);
	FUZZ_VIRTQ_CHECK(gmem_init_from(&m, fuzz_virtq_ram, FUZZ_VIRTQ_RAM, LAYOUT_RAM_HOLE) == 0);
	/* Dirty page tracking on for some inputs, its bitmap emptied now and then (a snapshot). */
	FUZZ_VIRTQ_CHECK(gmem_track_dirty(&m, start & 0x4000) == 0);
	FUZZ_VIRTQ_CHECK(virtq_init(&q, VIRTQ_MAX_SIZE) == 0);
	q.num = (uint16_t)(1u << ((cfg & 0x0f) % 9));
	q.event_idx = cfg & 0x10;
	q.indirect_desc = cfg & 0x20;
	fuzz_virtq_layout(&q, cfg, start);
	q.last_avail = start;
	q.next_used = start;
	if (virtq_validate(&q, &m) < 0) {
		FUZZ_VIRTQ_CHECK(!q.ready && q.error);
		FUZZ_VIRTQ_CHECK(virtq_pop(&q, &m, c) == 0);
		FUZZ_VIRTQ_CHECK(virtq_push(&q, 0, 0) == -EINVAL);
		gmem_destroy(&m);
		return 0;
	}
	FUZZ_VIRTQ_CHECK(!(cfg & 0x40));
	/* Writes into guest RAM may move avail idx: bound the work. */
	limit = 4u * q.num + 8;
	for (i = 0; i < limit; i++) {
		if ((cfg & 0x80) && (i & 1))
			(void)virtq_set_notification(&q, i & 2);
		r = virtq_pop(&q, &m, c);
		if (r == 0)
			break;
		if (r < 0) {
			FUZZ_VIRTQ_CHECK(r == -EINVAL && q.broken && q.error);
			FUZZ_VIRTQ_CHECK(virtq_pop(&q, &m, c) == -EINVAL);
			FUZZ_VIRTQ_CHECK(virtq_push(&q, 0, 0) == -EINVAL);
			break;
		}
		FUZZ_VIRTQ_CHECK(r == 1);
		fuzz_virtq_check_chain(&q, c);
		if (i % 3 == 1)
			gmem_dirty_take(&m, NULL);
		if ((ops & 0xf0) && i % (ops >> 4) == 0) {
			/* Give it back and take it again, as a device short of data. */
			virtq_unpop(&q);
			continue;
		}
		FUZZ_VIRTQ_CHECK(virtq_push(&q, c->head,
					    fuzz_virtq_use_chain(c, ops & 0x0f)) == 0);
		(void)virtq_should_notify(&q);
	}
	(void)virtq_set_notification(&q, true);
	virtq_reset(&q);
	FUZZ_VIRTQ_CHECK(!q.broken && !q.ready);
	FUZZ_VIRTQ_CHECK(virtq_pop(&q, &m, c) == 0);
	gmem_destroy(&m);
	return 0;
}
