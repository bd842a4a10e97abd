/* virtio_queue.h: the driver side of a split virtqueue (virtio 1.2 2.7): descriptors, rings, free list, notify, poll. */
#ifndef GUEST_VIRTIO_QUEUE_H
#define GUEST_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

struct virtio_dev;

/* The largest queue this driver sets up (the spec allows 32768). */
#define VQ_MAX_SIZE 256

/* 2.7.5 descriptor flags. */
#define VQ_DESC_F_NEXT     1
#define VQ_DESC_F_WRITE    2  /* device-writable (else device-readable) */
#define VQ_DESC_F_INDIRECT 4

/* 2.7.6 / 2.7.8 ring flags (without VIRTIO_F_EVENT_IDX). */
#define VQ_AVAIL_F_NO_INTERRUPT 1
#define VQ_USED_F_NO_NOTIFY     1

/* 2.7.5: struct virtq_desc, 16 bytes, little-endian like the CPU. */
struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vq_used_elem {
	uint32_t id;
	uint32_t len;
};

/*
 * 2.7.6 and 2.7.8. The rings are laid out for VQ_MAX_SIZE; a smaller queue
 * uses their beginning, and the event words follow ring[size] (2.7.7, 2.7.10):
 * used_event is avail.ring[size], avail_event the first 16 bits of used.ring[size].
 */
struct vq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[VQ_MAX_SIZE + 1];
};

struct vq_used {
	uint16_t flags;
	uint16_t idx;
	struct vq_used_elem ring[VQ_MAX_SIZE + 1];
};

/* One buffer of a chain: device-readable, or device-writable when write. */
struct vq_seg {
	uint64_t addr;
	uint32_t len;
	bool write;
};

/*
 * A queue and its rings in one object (the guest is identity mapped, so
 * addresses are physical). Alignment per the 2.7 table: descriptors 16,
 * available ring 2, used ring 4.
 */
struct vq {
	struct virtio_dev *dev;
	unsigned index;
	uint16_t size;
	bool event_idx;        /* VIRTIO_F_EVENT_IDX negotiated */
	bool irq_on;           /* used-buffer interrupts asked for (vq_interrupts) */
	uint16_t free_head;
	uint16_t nfree;
	uint16_t avail_idx;    /* our copy of avail.idx */
	uint16_t kicked_idx;   /* avail.idx when the device was last considered for a notify */
	uint16_t last_used;    /* used ring entries consumed */
	unsigned kicks;        /* QueueNotify writes */
	unsigned kicks_saved;  /* notifications the device suppressed */
	unsigned bad_used;     /* used elements naming no chain in flight */
	uint16_t next[VQ_MAX_SIZE];      /* chain links and the free list: the driver's own copy */
	uint16_t chain_len[VQ_MAX_SIZE]; /* per head in flight: descriptors in the chain; 0 if free */
	struct vq_desc desc[VQ_MAX_SIZE] __attribute__((aligned(16)));
	struct vq_avail avail __attribute__((aligned(16)));
	struct vq_used used __attribute__((aligned(16)));
};

/*
 * Set up queue index of d (4.2.3.2): QueueSel, check QueueReady is 0, size =
 * the largest power of two <= min(size, QueueNumMax, VQ_MAX_SIZE), clear the
 * rings, write QueueNum and the three areas' addresses, QueueReady = 1.
 * Call between FEATURES_OK and DRIVER_OK. Returns NULL or what went wrong.
 * Interrupts start enabled (no suppression).
 */
const char *vq_init(struct vq *q, struct virtio_dev *d, unsigned index, unsigned size);

/*
 * Put the n buffers of segs on the queue as one chain and publish it in the
 * available ring (2.7.13 steps 1-5). Returns the head descriptor index, or
 * -1 if n is 0 or fewer than n descriptors are free. Call vq_kick() after
 * one or more of these.
 */
int vq_add_chain(struct vq *q, const struct vq_seg *segs, unsigned n);

/*
 * The k-th descriptor of the chain at head, as the device will read it
 * (blk-evil corrupts chains through this between vq_add_chain and vq_kick).
 */
struct vq_desc *vq_chain_desc(struct vq *q, unsigned head, unsigned k);

/*
 * Notify the device (QueueNotify) of new available buffers unless it asked
 * not to be (2.7.10: avail_event with EVENT_IDX, else VIRTQ_USED_F_NO_NOTIFY).
 */
void vq_kick(struct vq *q);

/* True if the device has used a buffer not yet taken by vq_poll_used(). */
bool vq_has_used(struct vq *q);

/*
 * Take the next used element (2.7.14): returns its head and stores the
 * written length in *len and frees the chain; -1 if there is none; -2 if the
 * device named a descriptor that heads no chain in flight (skipped, counted
 * in bad_used).
 */
int vq_poll_used(struct vq *q, uint32_t *len);

/*
 * Ask for used-buffer interrupts (on) or suppress them (2.7.7): with
 * EVENT_IDX through used_event, else VIRTQ_AVAIL_F_NO_INTERRUPT. Only a
 * hint: the device may interrupt anyway.
 */
void vq_interrupts(struct vq *q, bool on);

#endif
