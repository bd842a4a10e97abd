/* blk.h: a virtio-blk driver (virtio 1.2 5.2) on the virtio-mmio transport, one request in flight at a time. */
#ifndef GUEST_BLK_H
#define GUEST_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio.h"
#include "virtio_queue.h"

#define BLK_SECTOR 512

/* 5.2.3 feature bits. */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX  2
#define VIRTIO_BLK_F_RO       5
#define VIRTIO_BLK_F_FLUSH    9

/* 5.2.6 request types and status values. */
#define VIRTIO_BLK_T_IN     0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_T_FLUSH  4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20

/* blk_wait() results other than a status byte. */
#define BLK_NO_STATUS 0x1ff  /* used, but the status byte was never written */
#define BLK_E_TIMEOUT (-1)   /* nothing used, no NEEDS_RESET within the timeout */
#define BLK_E_RESET   (-2)   /* the device set DEVICE_NEEDS_RESET */
#define BLK_E_QUEUE   (-3)   /* queue full, or the device used a chain we never gave it */

/* The queue size asked for; the device may offer less. */
#define BLK_QUEUE_SIZE 32

/* 5.2.6: struct virtio_blk_req up to the data. */
struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk {
	struct virtio_dev *vd;
	uint64_t offered;        /* device features */
	uint64_t capacity;       /* 512-byte sectors (5.2.4) */
	uint32_t size_max;       /* 0 when VIRTIO_BLK_F_SIZE_MAX is not negotiated */
	uint32_t seg_max;        /* likewise for VIRTIO_BLK_F_SEG_MAX */
	bool ro;
	bool flush;
	bool irq_mode;           /* blk_wait(): take the interrupt, else poll the used ring */
	unsigned irq_waits;      /* requests completed in interrupt mode */
	unsigned irq_missing;    /* ... of which no used-buffer interrupt came for */
	unsigned irq_unasked;    /* used-buffer interrupts seen while polling (suppressed) */
	unsigned len_short;      /* used elements whose len is less than what was written */
	uint32_t used_len;       /* len of the last used element */
	struct blk_hdr hdr __attribute__((aligned(16)));
	uint8_t status;
	struct vq q;
};

/*
 * Bring d up as a block device (3.1.1): negotiate VERSION_1 plus SIZE_MAX,
 * SEG_MAX, RO, FLUSH and, when event_idx, RING_EVENT_IDX; set up queue 0;
 * read the configuration; route the interrupt (masked); DRIVER_OK.
 * Returns NULL or what went wrong.
 */
const char *blk_open(struct blk *b, struct virtio_dev *d, bool event_idx);

/*
 * Queue a request: header (device-readable), the n data buffers, the status
 * byte (device-writable, preset to 0xff). No notification yet. Returns the
 * chain head, or BLK_E_QUEUE.
 */
int blk_submit(struct blk *b, uint32_t type, uint64_t sector, const struct vq_seg *data, unsigned n);

/*
 * Notify the device and wait up to timeout_us for head to be used, polling
 * or (b->irq_mode) with interrupts enabled. Returns the status byte,
 * BLK_NO_STATUS or a BLK_E_* value.
 */
int blk_wait(struct blk *b, int head, uint64_t timeout_us);

/* blk_submit() + blk_wait() with the default timeout. */
int blk_request(struct blk *b, uint32_t type, uint64_t sector, const struct vq_seg *data, unsigned n);

/* Reset the device, mask its pin. */
void blk_close(struct blk *b);

/* Short text for a blk_wait() result: "ok", "ioerr", "unsupp", "timeout", ... */
const char *blk_result_name(int st);

/* "vda", "vdb", ... as Linux names the n-th virtio disk (n < 26). */
void blk_name(unsigned n, char out[4]);

/* True if the 512 bytes at p are "EMBER-SECTOR <sector>" followed by zeros. */
bool blk_pattern_ok(const uint8_t *p, uint64_t sector);

#endif
