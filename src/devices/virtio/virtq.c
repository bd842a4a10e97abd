/* virtq.c: split virtqueue device side: ring validation, chain walking, used ring and notification suppression. */
#include "devices/virtio/virtq.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

/*
 * Memory ordering against the driver (sections 2.7.13 and 2.7.14):
 * - the driver writes descriptors and ring entries, then avail->idx; we load
 *   avail->idx with acquire so the entries we read after it are current;
 * - we write used elements, then used->idx with release so the driver sees
 *   the element before the index;
 * - publishing an index and then reading the other side's suppression field
 *   (used idx then used_event/flags; avail_event then avail idx) is a store
 *   followed by a load, which needs a full barrier on every architecture.
 * Ring fields are naturally aligned (checked by virtq_validate), so they are
 * read and written with single atomic accesses: no torn or repeated reads.
 */

/* Offsets into the available ring (section 2.7.6), in uint16_t units. */
#define VIRTQ_AVAIL_FLAGS 0
#define VIRTQ_AVAIL_IDX   1
#define VIRTQ_AVAIL_RING  2

/* Offsets into the used ring (section 2.7.8), in bytes. */
#define VIRTQ_USED_FLAGS 0
#define VIRTQ_USED_IDX   2
#define VIRTQ_USED_RING  4

static int virtq_fail(struct virtq *q, const char *why)
{
	q->broken = true;
	q->error = why;
	return -EINVAL;
}

static bool virtq_is_pow2(uint32_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

int virtq_init(struct virtq *q, uint16_t max_num)
{
	memset(q, 0, sizeof(*q));
	if (!virtq_is_pow2(max_num) || max_num > VIRTQ_MAX_SIZE)
		return -EINVAL;
	q->max_num = max_num;
	q->num = max_num;
	return 0;
}

void virtq_reset(struct virtq *q)
{
	uint16_t max_num = q->max_num;

	/* Like Firecracker, a driver that never writes QueueNum gets the max. */
	memset(q, 0, sizeof(*q));
	q->max_num = max_num;
	q->num = max_num;
}

void virtq_save(const struct virtq *q, struct virtq_state *s)
{
	memset(s, 0, sizeof(*s));
	s->desc_gpa = q->desc_gpa;
	s->avail_gpa = q->avail_gpa;
	s->used_gpa = q->used_gpa;
	s->num = q->num;
	s->last_avail = q->last_avail;
	s->next_used = q->next_used;
	s->signalled_used = q->signalled_used;
	s->ready = q->ready;
	s->event_idx = q->event_idx;
	s->indirect_desc = q->indirect_desc;
	s->signalled_valid = q->signalled_valid;
	s->notify_off = q->notify_off;
	s->broken = q->broken;
}

int virtq_restore(struct virtq *q, const struct virtq_state *s, const struct guest_mem *m)
{
	virtq_reset(q);
	if (s->num > q->max_num || s->ready > 1 || s->event_idx > 1 || s->indirect_desc > 1 ||
	    s->signalled_valid > 1 || s->notify_off > 1 || s->broken > 1)
		return -EINVAL;
	q->num = s->num;
	q->desc_gpa = s->desc_gpa;
	q->avail_gpa = s->avail_gpa;
	q->used_gpa = s->used_gpa;
	q->event_idx = s->event_idx;
	q->indirect_desc = s->indirect_desc;
	if (s->ready && virtq_validate(q, m)) {
		virtq_reset(q);
		return -EINVAL;
	}
	q->last_avail = s->last_avail;
	q->next_used = s->next_used;
	q->signalled_used = s->signalled_used;
	q->signalled_valid = s->signalled_valid;
	q->notify_off = s->notify_off;
	q->broken = s->broken;
	if (q->broken)
		q->error = "broken before the snapshot";
	return 0;
}

/* Sizes of the three areas, event fields included (section 2.7 table). */
static uint64_t virtq_desc_size(uint16_t num)
{
	return 16ULL * num;
}

static uint64_t virtq_avail_size(uint16_t num)
{
	return 6ULL + 2ULL * num;
}

static uint64_t virtq_used_size(uint16_t num)
{
	return 6ULL + 8ULL * num;
}

static int virtq_invalid(struct virtq *q, const char *why)
{
	q->error = why;
	return -EINVAL;
}

int virtq_validate(struct virtq *q, const struct guest_mem *m)
{
	void *d, *a, *u;

	q->ready = false;
	q->desc = NULL;
	q->avail = NULL;
	q->used = NULL;
	if (!virtq_is_pow2(q->num) || q->num > q->max_num)
		return virtq_invalid(q, "queue size is not a power of 2 up to QueueNumMax");
	/* Section 2.7.1: alignment of the first byte of each part. */
	if (q->desc_gpa & 15)
		return virtq_invalid(q, "descriptor table not 16-byte aligned");
	if (q->avail_gpa & 1)
		return virtq_invalid(q, "available ring not 2-byte aligned");
	if (q->used_gpa & 3)
		return virtq_invalid(q, "used ring not 4-byte aligned");
	d = gmem_ptr(m, q->desc_gpa, virtq_desc_size(q->num));
	if (!d)
		return virtq_invalid(q, "descriptor table outside guest RAM");
	a = gmem_ptr(m, q->avail_gpa, virtq_avail_size(q->num));
	if (!a)
		return virtq_invalid(q, "available ring outside guest RAM");
	u = gmem_ptr(m, q->used_gpa, virtq_used_size(q->num));
	if (!u)
		return virtq_invalid(q, "used ring outside guest RAM");
	/*
	 * Guest RAM is page-aligned in ember, but a test may wrap any buffer:
	 * the atomic accesses below need the host side aligned too.
	 */
	if (((uintptr_t)d & 15) || ((uintptr_t)a & 1) || ((uintptr_t)u & 3))
		return virtq_invalid(q, "guest RAM mapping misaligned");
	q->desc = d;
	q->avail = a;
	q->used = u;
	q->mem = m;
	q->error = NULL;
	q->ready = true;
	return 0;
}

/* Ring field accessors: little endian (section 1.4), single accesses. */
static uint16_t virtq_avail_field(const struct virtq *q, uint32_t i)
{
	return le16toh(__atomic_load_n(&q->avail[i], __ATOMIC_RELAXED));
}

static uint16_t *virtq_used16(const struct virtq *q, uint32_t off)
{
	return (uint16_t *)(void *)(q->used + off);
}

/* Acquire: ring entries and descriptors are read after the index. */
static uint16_t virtq_avail_idx(const struct virtq *q)
{
	return le16toh(__atomic_load_n(&q->avail[VIRTQ_AVAIL_IDX],
				       __ATOMIC_ACQUIRE));
}

/* Dirty page tracking: the page(s) of host range [p, p + len) in the queue's RAM. */
static void virtq_mark(const struct virtq *q, const void *p, uint64_t len)
{
	if (q->mem && q->mem->dirty)
		gmem_mark_dirty_host(q->mem, p, len);
}

/* avail_event sits after the used ring elements (section 2.7.8). */
static void virtq_write_avail_event(struct virtq *q, uint16_t v)
{
	uint16_t *p = virtq_used16(q, VIRTQ_USED_RING + 8U * q->num);

	__atomic_store_n(p, htole16(v), __ATOMIC_RELAXED);
	virtq_mark(q, p, sizeof(*p));
}

/*
 * Copy one descriptor out of guest memory. @src may be unaligned (indirect
 * tables have no alignment rule), hence memcpy. The compiler barrier makes
 * every later check use this one snapshot: the compiler may not re-read
 * guest memory the driver can change between the check and the use.
 */
static void virtq_read_desc(const uint8_t *src, struct virtq_desc *d)
{
	memcpy(d, src, sizeof(*d));
	asm volatile("" ::: "memory");
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

/* Append one buffer descriptor (not an indirect one) to @c. */
static int virtq_add_seg(struct virtq *q, const struct guest_mem *m,
			 struct virtq_chain *c, const struct virtq_desc *d,
			 bool *seen_write)
{
	bool w = d->flags & VIRTQ_DESC_F_WRITE;
	struct virtq_seg *s;
	void *p;

	/* Section 2.7.4.2: device-writable elements after readable ones. */
	if (!w && *seen_write)
		return virtq_fail(q, "device-readable descriptor after a device-writable one");
	if (w)
		*seen_write = true;
	/*
	 * Zero-length descriptors are not forbidden by the spec; they carry
	 * no bytes, so they are dropped rather than mapped.
	 */
	if (d->len == 0)
		return 0;
	if (c->nseg >= VIRTQ_MAX_SEGS)
		return virtq_fail(q, "descriptor chain has too many segments");
	/* gmem_ptr refuses ranges leaving RAM and addr + len wrapping 2^64. */
	p = gmem_ptr(m, d->addr, d->len);
	if (!p)
		return virtq_fail(q, "descriptor buffer outside guest RAM");
	/* Section 2.7.5.2: at most 2^32 bytes in total (no overflow: u32 adds). */
	if (c->readable + c->writable + d->len > VIRTQ_MAX_CHAIN_BYTES)
		return virtq_fail(q, "descriptor chain longer than 2^32 bytes");
	s = &c->seg[c->nseg++];
	s->ptr = p;
	s->len = d->len;
	s->writable = w;
	if (w) {
		c->writable += d->len;
	} else {
		c->readable += d->len;
		c->nread++;
	}
	return 0;
}

/*
 * Switch the walk to the indirect table @d describes (section 2.7.5.3).
 * On success *table, *size and *budget describe the table.
 */
static int virtq_enter_indirect(struct virtq *q, const struct guest_mem *m,
				const struct virtq_desc *d,
				const uint8_t **table, uint32_t *size,
				uint32_t *budget)
{
	uint32_t n;
	const uint8_t *t;

	if (!q->indirect_desc)
		return virtq_fail(q, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
	/* 2.7.5.3.1: INDIRECT and NEXT are exclusive. */
	if (d->flags & VIRTQ_DESC_F_NEXT)
		return virtq_fail(q, "indirect descriptor also has NEXT");
	if (d->len == 0 || d->len % sizeof(struct virtq_desc))
		return virtq_fail(q, "indirect table length not a non-zero multiple of 16");
	n = d->len / sizeof(struct virtq_desc);
	if (n > VIRTQ_MAX_SEGS)
		return virtq_fail(q, "indirect table has too many entries");
	t = gmem_ptr(m, d->addr, d->len);
	if (!t)
		return virtq_fail(q, "indirect table outside guest RAM");
	/* 2.7.5.3.2: the WRITE flag of the INDIRECT descriptor is ignored. */
	*table = t;
	*size = n;
	*budget = n;
	return 0;
}

/*
 * Walk the chain starting at @head into @c. Zero or more direct
 * descriptors may be followed by one INDIRECT descriptor (2.7.5.3.2), whose
 * table is walked from entry 0 and ends the chain. A loop is caught by the
 * budget: no table can hold a longer loop-free chain than its size.
 */
static int virtq_walk(struct virtq *q, const struct guest_mem *m,
		      uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = (const uint8_t *)q->desc;
	uint32_t size = q->num, budget = q->num, idx = head;
	bool indirect = false, seen_write = false;
	struct virtq_desc d;
	int r;

	for (;;) {
		if (budget == 0)
			return virtq_fail(q, "descriptor chain loops or is longer than its table");
		budget--;
		virtq_read_desc(table + idx * sizeof(d), &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (indirect)
				return virtq_fail(q, "nested indirect descriptor");
			r = virtq_enter_indirect(q, m, &d, &table, &size,
						 &budget);
			if (r < 0)
				return r;
			indirect = true;
			idx = 0;
			continue;
		}
		r = virtq_add_seg(q, m, c, &d, &seen_write);
		if (r < 0)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= size)
			return virtq_fail(q, "descriptor next index out of range");
		idx = d.next;
	}
}

/* How many chains the driver has made available, or -EINVAL. */
static int virtq_pending(struct virtq *q)
{
	uint16_t n = (uint16_t)(virtq_avail_idx(q) - q->last_avail);

	/* The ring holds num entries: idx can never run further ahead. */
	if (n > q->num)
		return virtq_fail(q, "available index moved more than the queue size");
	return n;
}

int virtq_pop(struct virtq *q, const struct guest_mem *m,
	      struct virtq_chain *c)
{
	uint16_t head;
	int n, r;

	c->nseg = 0;
	c->nread = 0;
	c->readable = 0;
	c->writable = 0;
	if (q->broken)
		return -EINVAL;
	if (!q->ready)
		return 0;
	n = virtq_pending(q);
	if (n == 0 && q->event_idx && !q->notify_off) {
		/*
		 * Section 2.7.10: ask for a notification when the driver adds
		 * the next chain, then look again: it may have added one
		 * before it could see our avail_event.
		 */
		virtq_write_avail_event(q, q->last_avail);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		n = virtq_pending(q);
	}
	if (n <= 0)
		return n;
	head = virtq_avail_field(q, VIRTQ_AVAIL_RING +
					 (q->last_avail & (q->num - 1U)));
	if (head >= q->num)
		return virtq_fail(q, "available ring entry out of range");
	c->head = head;
	r = virtq_walk(q, m, head, c);
	if (r < 0)
		return r;
	q->last_avail++;
	if (m->dirty) {
		/* The device may write any writable byte: marked before it can. */
		for (unsigned i = c->nread; i < c->nseg; i++)
			gmem_mark_dirty_host(m, c->seg[i].ptr, c->seg[i].len);
		q->pop_gen[head] = __atomic_load_n(&m->dirty_gen, __ATOMIC_ACQUIRE);
	}
	return 1;
}

/*
 * Chain @head was popped before the bitmap was last emptied (a snapshot) and
 * is pushed after it: what the device wrote since is marked again by walking
 * the chain once more. The driver may not change a chain the device holds
 * (2.7.13); if it did and the walk fails, all of RAM is marked, the queue is
 * not broken by this second look.
 */
static void virtq_remark(struct virtq *q, uint16_t head)
{
	const struct guest_mem *m = q->mem;
	struct virtq_chain c = { 0 };
	const char *error = q->error;
	bool broken = q->broken;

	if (virtq_walk(q, m, head, &c) < 0) {
		gmem_mark_dirty_host(m, m->base, m->size);
	} else {
		for (unsigned i = c.nread; i < c.nseg; i++)
			gmem_mark_dirty_host(m, c.seg[i].ptr, c.seg[i].len);
	}
	q->error = error;
	q->broken = broken;
}

void virtq_unpop(struct virtq *q)
{
	q->last_avail--;
}

int virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	struct virtq_used_elem *e;

	if (!q->ready || q->broken || head >= q->num)
		return -EINVAL;
	/* Before the used index: from then on the driver may reuse the descriptors. */
	if (q->mem && q->mem->dirty &&
	    q->pop_gen[head] != __atomic_load_n(&q->mem->dirty_gen, __ATOMIC_ACQUIRE))
		virtq_remark(q, head);
	e = (struct virtq_used_elem *)(void *)(q->used + VIRTQ_USED_RING +
					       8U * (q->next_used & (q->num - 1U)));
	__atomic_store_n(&e->id, htole32((uint32_t)head), __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, htole32(written), __ATOMIC_RELAXED);
	q->next_used++;
	/* Section 2.7.8.2: len (and id) before used idx. */
	__atomic_store_n(virtq_used16(q, VIRTQ_USED_IDX), htole16(q->next_used),
			 __ATOMIC_RELEASE);
	if (q->mem && q->mem->dirty) {
		virtq_mark(q, e, sizeof(*e));
		virtq_mark(q, virtq_used16(q, VIRTQ_USED_IDX), sizeof(uint16_t));
	}
	return 0;
}

/* The vring_need_event() test of section 2.7.7.2 / virtio_ring.h. */
static bool virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_should_notify(struct virtq *q)
{
	uint16_t old_idx, event;
	bool valid;

	if (!q->ready)
		return false;
	/* Order the used idx store before reading flags / used_event. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	old_idx = q->signalled_used;
	valid = q->signalled_valid;
	q->signalled_used = q->next_used;
	q->signalled_valid = true;
	if (!q->event_idx)
		return !(virtq_avail_field(q, VIRTQ_AVAIL_FLAGS) &
			 VIRTQ_AVAIL_F_NO_INTERRUPT);
	/* First call since reset: we do not know what was signalled. */
	if (!valid)
		return true;
	event = virtq_avail_field(q, VIRTQ_AVAIL_RING + q->num);
	return virtq_need_event(event, q->next_used, old_idx);
}

bool virtq_set_notification(struct virtq *q, bool enable)
{
	if (!q->ready || q->broken)
		return false;
	q->notify_off = !enable;
	if (q->event_idx) {
		/*
		 * 2.7.10.2: flags stay 0. Disabling just stops moving
		 * avail_event; at most one more notification arrives.
		 */
		if (enable)
			virtq_write_avail_event(q, q->last_avail);
	} else {
		__atomic_store_n(virtq_used16(q, VIRTQ_USED_FLAGS),
				 htole16(enable ? 0 : VIRTQ_USED_F_NO_NOTIFY),
				 __ATOMIC_RELAXED);
		virtq_mark(q, virtq_used16(q, VIRTQ_USED_FLAGS), sizeof(uint16_t));
	}
	if (!enable)
		return false;
	/* Publish the store before looking at avail idx (see top of file). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_avail_idx(q) != q->last_avail;
}

/* Copy between @buf and segments [first, end) of @c from byte @off on. */
static size_t virtq_chain_copy(const struct virtq_chain *c, unsigned first,
			       unsigned end, uint64_t off, uint8_t *buf,
			       size_t len, bool to_guest)
{
	size_t done = 0, n;
	unsigned i;

	for (i = first; i < end && done < len; i++) {
		const struct virtq_seg *s = &c->seg[i];

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off;
		if (n > len - done)
			n = len - done;
		if (to_guest)
			memcpy((uint8_t *)s->ptr + off, buf + done, n);
		else
			memcpy(buf + done, (const uint8_t *)s->ptr + off, n);
		done += n;
		off = 0;
	}
	return done;
}

/* The segment range [*first, *end) of one direction, clamped for safety. */
static void virtq_chain_range(const struct virtq_chain *c, bool writable,
			      unsigned *first, unsigned *end)
{
	unsigned nseg = c->nseg <= VIRTQ_MAX_SEGS ? c->nseg : VIRTQ_MAX_SEGS;
	unsigned nread = c->nread <= nseg ? c->nread : nseg;

	*first = writable ? nread : 0;
	*end = writable ? nseg : nread;
}

size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst,
			size_t len)
{
	unsigned first, end;

	virtq_chain_range(c, false, &first, &end);
	return virtq_chain_copy(c, first, end, off, dst, len, false);
}

size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off,
			 const void *src, size_t len)
{
	unsigned first, end;

	virtq_chain_range(c, true, &first, &end);
	/* virtq_chain_copy only reads @src when copying to the guest. */
	return virtq_chain_copy(c, first, end, off, (uint8_t *)(uintptr_t)src,
				len, true);
}

int virtq_chain_iov(const struct virtq_chain *c, bool writable, uint64_t off, uint64_t len,
		    struct iovec *iov, int max)
{
	unsigned first = writable ? c->nread : 0, end = writable ? c->nseg : c->nread;
	int n = 0;

	for (unsigned i = first; i < end && len; i++) {
		const struct virtq_seg *s = &c->seg[i];
		uint64_t take;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		if (n == max)
			return -E2BIG;
		take = s->len - off < len ? s->len - off : len;
		iov[n].iov_base = (uint8_t *)s->ptr + off;
		iov[n].iov_len = (size_t)take;
		n++;
		len -= take;
		off = 0;
	}
	return n;
}
