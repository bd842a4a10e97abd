/* virtq.h: split virtqueues (virtio 1.2 section 2.7), the device side shared by every ember virtio device. */
#ifndef EMBER_DEVICES_VIRTIO_VIRTQ_H
#define EMBER_DEVICES_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "kvm/mem.h"

/*
 * Threading: a struct virtq has no lock. Every call on one queue must be
 * serialized by its owner (the device's event thread, or the device lock when
 * the transport runs on a vCPU thread). The guest driver runs concurrently on
 * other CPUs; the memory ordering against it is handled here.
 */

/* Largest queue size ember offers (Firecracker's QueueNumMax). */
#define VIRTQ_MAX_SIZE 256

/*
 * Most segments in one chain (direct descriptors plus one indirect table),
 * and most entries in one indirect table. Section 2.7.4.1 lets the device
 * set a reasonable limit; Linux drivers stay far below it.
 */
#define VIRTQ_MAX_SEGS 256

/* Section 2.7.5.2: a chain is at most 2^32 bytes long in total. */
#define VIRTQ_MAX_CHAIN_BYTES (1ULL << 32)

/* Descriptor flags (section 2.7.5). */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

/* Available ring flags (2.7.7) and used ring flags (2.7.10). */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

/* One descriptor as laid out in guest memory (section 2.7.5), little endian. */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* One used ring element as laid out in guest memory (section 2.7.8). */
struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/*
 * One guest buffer of a chain, already translated and bounds-checked. The
 * bytes stay in guest memory that the driver may still change: copy a header
 * out (virtq_chain_read) before checking it, never check it in place.
 */
struct virtq_seg {
	void *ptr;        /* host address of the whole [ptr, ptr + len) */
	uint32_t len;     /* > 0: zero-length descriptors are dropped */
	bool writable;    /* device-writable (VIRTQ_DESC_F_WRITE) */
};

/*
 * A validated descriptor chain: the readable segments come first
 * (seg[0..nread)), the writable ones after (seg[nread..nseg)), as
 * section 2.7.4.2 requires of the driver and virtq_pop() checks.
 */
struct virtq_chain {
	uint16_t head;        /* descriptor index to hand back to virtq_push() */
	uint16_t nseg;        /* segments in seg[] */
	uint16_t nread;       /* how many of them are device-readable */
	uint64_t readable;    /* bytes in the readable segments */
	uint64_t writable;    /* bytes in the writable segments */
	struct virtq_seg seg[VIRTQ_MAX_SEGS];
};

struct virtq {
	/* Set once by the device with virtq_init(). */
	uint16_t max_num;     /* QueueNumMax, a power of 2 <= VIRTQ_MAX_SIZE */

	/* Written by the transport from the driver's configuration. */
	uint16_t num;         /* QueueNum: size chosen by the driver */
	gpa_t desc_gpa;       /* QueueDesc: descriptor table */
	gpa_t avail_gpa;      /* QueueDriver: available ring */
	gpa_t used_gpa;       /* QueueDevice: used ring */
	bool event_idx;       /* VIRTIO_F_EVENT_IDX (bit 29) negotiated */
	bool indirect_desc;   /* VIRTIO_F_INDIRECT_DESC (bit 28) negotiated */

	/* Set by virtq_validate(): the queue may be used. */
	bool ready;

	/* Device-side state. */
	uint16_t last_avail;  /* next available ring slot to consume */
	uint16_t next_used;   /* used->idx as last published */
	uint16_t signalled_used; /* next_used at the last should_notify */
	bool signalled_valid; /* signalled_used means something */
	bool notify_off;      /* device asked the driver not to notify */
	bool broken;          /* driver broke the rules: needs a reset */
	const char *error;    /* why the queue broke or validation failed */

	/* Host addresses of the three areas, cached by virtq_validate(). */
	struct virtq_desc *desc;
	uint16_t *avail;      /* flags, idx, ring[num], used_event */
	uint8_t *used;        /* flags, idx, ring[num] elems, avail_event */

	/*
	 * Dirty page tracking: guest RAM as virtq_validate() saw it (it never moves),
	 * whose bitmap (mem->dirty, NULL: off) gets every page the device may write:
	 * a chain's writable buffers when it is popped, the used ring fields as
	 * they are written. pop_gen[head]: mem->dirty_gen when chain head was
	 * popped; a chain held across a snapshot's reset is marked again at push.
	 */
	const struct guest_mem *mem;
	uint32_t pop_gen[VIRTQ_MAX_SIZE];
};

/*
 * virtq_init: zero @q and set the device's maximum queue size.
 * @max_num: QueueNumMax, a power of 2 in [1, VIRTQ_MAX_SIZE].
 * Returns 0, or -EINVAL for a bad @max_num. Device setup thread.
 */
int virtq_init(struct virtq *q, uint16_t max_num);

/*
 * virtq_reset: forget everything the driver configured (device reset,
 * section 2.4): num goes back to max_num, addresses and features to 0, the
 * queue is neither ready nor broken. Touches no guest memory. Owner thread.
 */
void virtq_reset(struct virtq *q);

/*
 * virtq_validate: called when the driver writes 1 to QueueReady. Checks that
 * num is a power of 2 no larger than max_num, that the areas are aligned
 * (section 2.7: descriptors 16, available ring 2, used ring 4) and lie wholly
 * inside guest RAM (event fields included), then caches their host addresses
 * and sets q->ready. @m: guest RAM, whose mapping never moves.
 * Returns 0, or -EINVAL with q->error set and q->ready false. Owner thread.
 */
int virtq_validate(struct virtq *q, const struct guest_mem *m);

/*
 * What a snapshot keeps of a queue: what the driver configured and how far
 * the device went (no host addresses: virtq_restore() derives them again).
 */
struct virtq_state {
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t num;
	uint16_t last_avail;
	uint16_t next_used;
	uint16_t signalled_used;
	uint8_t ready, event_idx, indirect_desc, signalled_valid, notify_off, broken;
	uint8_t pad[2];
};

/* virtq_save: fill @s from @q. Pure. */
void virtq_save(const struct virtq *q, struct virtq_state *s);

/*
 * virtq_restore: give @q (initialised with its max_num) the saved state @s
 * and, when it was ready, check its rings against @m again as QueueReady
 * does. 0, or -EINVAL (a size above max_num, a flag out of range, rings
 * outside guest RAM) leaving @q reset.
 */
int virtq_restore(struct virtq *q, const struct virtq_state *s, const struct guest_mem *m);

/*
 * virtq_pop: take the next available chain and validate it into @c.
 * Follows NEXT links and one level of indirect table (2.7.5.3); refuses
 * loops, out-of-range indices, buffers outside guest RAM, readable after
 * writable, nested or chained indirect tables, more than VIRTQ_MAX_SEGS
 * segments or VIRTQ_MAX_CHAIN_BYTES bytes. With EVENT_IDX and notifications
 * on, an empty ring publishes avail_event first and looks again, so a device
 * that pops until 0 never misses a driver notification.
 * Returns 1 with @c filled, 0 if the ring is empty or the queue not ready,
 * or -EINVAL if the driver broke the rules: then q->broken is set, q->error
 * says why, and every later pop returns -EINVAL until virtq_reset(); the
 * caller should set DEVICE_NEEDS_RESET. With dirty page tracking on, the
 * chain's writable buffers are marked dirty (gmem_mark_dirty()): a device
 * writes guest RAM only through the chains it popped and the used ring, and
 * between pop and push. Owner thread.
 */
int virtq_pop(struct virtq *q, const struct guest_mem *m,
	      struct virtq_chain *c);

/*
 * virtq_unpop: give back the chain the last virtq_pop() returned (the device
 * could not use it yet, e.g. no packet to receive). Owner thread.
 */
void virtq_unpop(struct virtq *q);

/*
 * virtq_push: return chain @head to the driver with @written bytes written
 * to its writable segments, and publish the new used->idx (release order,
 * section 2.7.8.2: the element before the index).
 * Returns 0, or -EINVAL if the queue is not ready, broken, or @head is out
 * of range (a device bug; nothing is written). With dirty page tracking on,
 * marks the used element and index, and (rare) the writable buffers again
 * when the bitmap was emptied since the chain was popped. Owner thread.
 */
int virtq_push(struct virtq *q, uint16_t head, uint32_t written);

/*
 * virtq_should_notify: after one or more pushes, whether to send the used
 * buffer notification (interrupt). Without EVENT_IDX: unless the driver set
 * VIRTQ_AVAIL_F_NO_INTERRUPT (2.7.7.2); with EVENT_IDX: if used->idx passed
 * used_event since the last call (2.7.7.2, vring_need_event). Returns false
 * if the queue is not ready. Owner thread.
 */
bool virtq_should_notify(struct virtq *q);

/*
 * virtq_set_notification: ask the driver to send (@enable) or not send
 * available buffer notifications (2.7.10.2): VIRTQ_USED_F_NO_NOTIFY without
 * EVENT_IDX, avail_event = last_avail with it. On enable, looks at the ring
 * again after a full barrier so that a buffer added meanwhile is not lost.
 * Returns true if buffers are available after enabling, false otherwise
 * (always false on disable or if the queue is not ready). Owner thread.
 */
bool virtq_set_notification(struct virtq *q, bool enable);

/*
 * virtq_chain_read: copy up to @len bytes from the readable segments of @c,
 * starting @off bytes into them, to @dst. Returns the bytes copied (less than
 * @len when the readable part is shorter). Any thread owning @c.
 */
size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst,
			size_t len);

/*
 * virtq_chain_write: copy up to @len bytes from @src to the writable segments
 * of @c, starting @off bytes into them. Returns the bytes copied (less than
 * @len when the writable part is shorter). Any thread owning @c.
 */
size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off,
			 const void *src, size_t len);

/*
 * virtq_chain_iov: iovecs for bytes [@off, @off + @len) of the chain's
 * readable (@writable false) or writable segments, at most @max of them, so
 * devices can hand guest buffers straight to readv/writev-style calls.
 * Returns the number filled (fewer bytes than @len when the chain is
 * shorter), or -E2BIG when more than @max iovecs would be needed. Pure.
 */
int virtq_chain_iov(const struct virtq_chain *c, bool writable, uint64_t off, uint64_t len,
		    struct iovec *iov, int max);

#endif
