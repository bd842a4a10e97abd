/* virtio_queue.c: split virtqueue driver side: setup over MMIO, chains, notification, used-ring polling. */
#include "virtio_queue.h"
#include "lib.h"
#include "virtio.h"

/*
 * Barriers (2.7.13, 2.7.14). x86 keeps stores in order and loads in order
 * (SDM vol. 3A 9.2.2), so the write and read barriers only stop the
 * compiler. A store followed by a load of another location may be reordered,
 * so publishing avail.idx and then reading the device's notification
 * suppression needs a full barrier: gcc emits "lock orq $0,(%rsp)" for it,
 * which the nested KVM's emulator runs (no mfence).
 */
#define vq_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#define vq_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define vq_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* Fields the device writes or reads concurrently: one volatile access each. */
#define VQ_RD(x)    (*(volatile __typeof__(x) *)&(x))
#define VQ_WR(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/* 2.7.7 and 2.7.10: the event words after each ring. */
static uint16_t *vq_used_event(struct vq *q)
{
	return &q->avail.ring[q->size];
}

static uint16_t *vq_avail_event(struct vq *q)
{
	return (uint16_t *)&q->used.ring[q->size];
}

/*
 * 2.7.7.2: with EVENT_IDX the device interrupts when used.idx moves past
 * used_event. On: the next element after those consumed. Off: last_used - 1,
 * which the device passed already; kept one behind as elements are consumed,
 * so it is never reached.
 */
static void vq_set_used_event(struct vq *q)
{
	VQ_WR(*vq_used_event(q), (uint16_t)(q->irq_on ? q->last_used : q->last_used - 1));
}

const char *vq_init(struct vq *q, struct virtio_dev *d, unsigned index, unsigned size)
{
	uint32_t max;
	uint64_t a;

	virtio_write(d, VIRTIO_MMIO_QUEUE_SEL, index);
	if (virtio_read(d, VIRTIO_MMIO_QUEUE_READY) != 0)
		return "queue-already-ready";
	max = virtio_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (max == 0)
		return "queue-unavailable";
	if (size > max)
		size = max;
	if (size > VQ_MAX_SIZE)
		size = VQ_MAX_SIZE;
	/* 2.7: the queue size of a split ring is a power of 2. */
	while (size & (size - 1))
		size &= size - 1;

	q->dev = d;
	q->index = index;
	q->size = (uint16_t)size;
	q->event_idx = virtio_has(d->features, VIRTIO_F_RING_EVENT_IDX);
	q->free_head = 0;
	q->nfree = q->size;
	q->avail_idx = q->kicked_idx = q->last_used = 0;
	q->kicks = q->kicks_saved = q->bad_used = 0;
	q->irq_on = true;
	for (unsigned i = 0; i < size; i++) {
		q->next[i] = (uint16_t)(i + 1);
		q->chain_len[i] = 0;
	}
	/* 4.2.3.2 step 4: the driver zeroes the queue memory. */
	memset(q->desc, 0, size * sizeof(q->desc[0]));
	memset(&q->avail, 0, 4 + 2 * (size + 1));
	memset(&q->used, 0, 4 + 8 * (size + 1));

	virtio_write(d, VIRTIO_MMIO_QUEUE_NUM, size);
	a = (uintptr_t)q->desc;
	virtio_write(d, VIRTIO_MMIO_QUEUE_DESC, (uint32_t)a);
	virtio_write(d, VIRTIO_MMIO_QUEUE_DESC + 4, (uint32_t)(a >> 32));
	a = (uintptr_t)&q->avail;
	virtio_write(d, VIRTIO_MMIO_QUEUE_DRIVER, (uint32_t)a);
	virtio_write(d, VIRTIO_MMIO_QUEUE_DRIVER + 4, (uint32_t)(a >> 32));
	a = (uintptr_t)&q->used;
	virtio_write(d, VIRTIO_MMIO_QUEUE_DEVICE, (uint32_t)a);
	virtio_write(d, VIRTIO_MMIO_QUEUE_DEVICE + 4, (uint32_t)(a >> 32));
	virtio_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	return 0;
}

int vq_add_chain(struct vq *q, const struct vq_seg *segs, unsigned n)
{
	uint16_t head = q->free_head, i = head;

	if (n == 0 || n > q->nfree)
		return -1;
	/* 2.7.13.1: fill free descriptors, linked by next, the last without NEXT. */
	for (unsigned k = 0; k < n; k++) {
		struct vq_desc *dd = &q->desc[i];

		dd->addr = segs[k].addr;
		dd->len = segs[k].len;
		dd->flags = (uint16_t)((segs[k].write ? VQ_DESC_F_WRITE : 0) |
				       (k + 1 < n ? VQ_DESC_F_NEXT : 0));
		dd->next = k + 1 < n ? q->next[i] : 0;
		if (k + 1 < n)
			i = q->next[i];
	}
	q->free_head = q->next[i];
	q->nfree = (uint16_t)(q->nfree - n);
	q->chain_len[head] = (uint16_t)n;
	/* 2.7.13.2: the head goes into the next ring slot; 2.7.13.3: barrier, then idx. */
	q->avail.ring[q->avail_idx % q->size] = head;
	q->avail_idx++;
	vq_wmb();
	VQ_WR(q->avail.idx, q->avail_idx);
	return head;
}

struct vq_desc *vq_chain_desc(struct vq *q, unsigned head, unsigned k)
{
	unsigned i = head % q->size;

	while (k-- && i < q->size)
		i = q->next[i];
	return &q->desc[i % q->size];
}

void vq_kick(struct vq *q)
{
	uint16_t old = q->kicked_idx, now = q->avail_idx;
	bool need;

	/* 2.7.13.4: idx must be visible before the suppression word is read. */
	vq_mb();
	if (q->event_idx) {
		/* 2.7.10: notify iff avail_event lies in [old, now), i.e. vring_need_event(). */
		uint16_t ev = VQ_RD(*vq_avail_event(q));

		need = (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
	} else {
		need = !(VQ_RD(q->used.flags) & VQ_USED_F_NO_NOTIFY);
	}
	q->kicked_idx = now;
	if (!need) {
		q->kicks_saved++;
		return;
	}
	q->kicks++;
	/* 4.2.3.3: without VIRTIO_F_NOTIFICATION_DATA the queue index is written. */
	virtio_write(q->dev, VIRTIO_MMIO_QUEUE_NOTIFY, q->index);
}

bool vq_has_used(struct vq *q)
{
	return VQ_RD(q->used.idx) != q->last_used;
}

int vq_poll_used(struct vq *q, uint32_t *len)
{
	struct vq_used_elem e;
	uint16_t i;

	if (!vq_has_used(q))
		return -1;
	/* 2.7.14: read idx, then (read barrier) the element it covers. */
	vq_rmb();
	e.id = VQ_RD(q->used.ring[q->last_used % q->size].id);
	e.len = VQ_RD(q->used.ring[q->last_used % q->size].len);
	q->last_used++;
	if (q->event_idx)
		vq_set_used_event(q);
	if (e.id >= q->size || q->chain_len[e.id] == 0) {
		q->bad_used++;
		return -2;
	}
	/* Give the chain back: walk our own links, never the device-visible ones. */
	i = (uint16_t)e.id;
	for (unsigned k = 1; k < q->chain_len[e.id]; k++)
		i = q->next[i];
	q->next[i] = q->free_head;
	q->free_head = (uint16_t)e.id;
	q->nfree = (uint16_t)(q->nfree + q->chain_len[e.id]);
	q->chain_len[e.id] = 0;
	*len = e.len;
	return (int)e.id;
}

void vq_interrupts(struct vq *q, bool on)
{
	q->irq_on = on;
	if (q->event_idx) {
		vq_set_used_event(q);
	} else {
		VQ_WR(q->avail.flags, on ? 0 : VQ_AVAIL_F_NO_INTERRUPT);
	}
	/* The new setting must be visible before the caller looks at used.idx again. */
	vq_mb();
}
