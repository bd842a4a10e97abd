/* blk.h: virtio-blk (virtio 1.2 section 5.2) backed by a host file. */
#ifndef EMBER_DEVICES_VIRTIO_BLK_H
#define EMBER_DEVICES_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "config.h"
#include "devices/rate_limiter.h"
#include "devices/virtio/mmio.h"
#include "metrics.h"

#define VIRTIO_ID_BLOCK       2
#define VBLK_QUEUE_SIZE       256
#define VBLK_SEG_MAX          (VBLK_QUEUE_SIZE - 2)   /* header and status take two */
#define VBLK_SIZE_MAX         (1u << 20)              /* bytes per data segment */
#define VBLK_SECTOR_SIZE      512
#define VBLK_ID_BYTES         20

#define VBLK_HDR_SIZE         16

/* Status values (5.2.6). */
#define VIRTIO_BLK_S_OK       0
#define VIRTIO_BLK_S_IOERR    1
#define VIRTIO_BLK_S_UNSUPP   2

enum vblk_op { VBLK_OP_NONE = 0, VBLK_OP_READ, VBLK_OP_WRITE, VBLK_OP_FLUSH };

/* The I/O one request needs: a file range and the guest buffers for it. */
struct vblk_io {
	enum vblk_op op;
	uint64_t pos, len;
	int niov;
	struct iovec iov[VBLK_SEG_MAX];
};

struct vblk_aio;

struct vblk {
	struct virtio_mmio t;            /* first: the transport's dev points back here */
	char drive_id[CFG_ID_MAX + 1];
	char name[CFG_ID_MAX + 16];
	int fd;                          /* backing file, -1 when none */
	uint64_t nsectors;
	bool read_only;
	bool flush;                      /* VIRTIO_BLK_F_FLUSH offered (cache_type Writeback) */
	struct virtq_chain chain;        /* scratch for the chain being served */
	struct vblk_io io;               /* scratch for synchronous I/O */
	struct vblk_aio *aio;            /* io_uring engine (io_engine Async), or NULL */
	struct rate_limiter rl;          /* the drive's rate_limiter (inactive: unlimited) */
	int rl_fd;                       /* timerfd: the limiter lets requests through again */
	bool rl_waiting;                 /* requests wait on the ring until rl_fd fires */
	struct metric_dev metrics;       /* "block_<drive_id>" */
};

/*
 * vblk_open_backing: open @path for a drive (read-only if @read_only) and
 * return the fd and its capacity in sectors. 0 or -errno. Any thread.
 */
int vblk_open_backing(const char *path, bool read_only, int *fd, uint64_t *nsectors);

/*
 * vblk_init: a block device for @cfg on backing @fd (taken over) at @base,
 * @irq. Returns 0 or -errno; vblk_destroy() is safe afterwards. Main thread.
 */
int vblk_init(struct vblk *b, const struct drive_cfg *cfg, int fd, uint64_t nsectors,
	      const struct kvm_vm *vm, const struct guest_mem *mem, struct evloop *loop,
	      uint64_t base, unsigned irq);

/*
 * vblk_swap_backing: replace the backing file with @fd (taken over) of
 * @nsectors, then tell the driver the configuration changed. VMM thread.
 * 0, or -EIO if the io_uring engine cannot take the new file (@fd closed,
 * the old backing file stays).
 */
int vblk_swap_backing(struct vblk *b, int fd, uint64_t nsectors);

/*
 * vblk_set_limiter: PATCH /drives' rate_limiter: the buckets @c names replace the drive's
 * (a new, full bucket; size 0 removes it), the others keep their state. VMM thread.
 */
void vblk_set_limiter(struct vblk *b, const struct rate_limiter_cfg *c);

void vblk_destroy(struct vblk *b);

/*
 * vblk_prepare: decode the request in chain @c: answered at once (returns
 * the status, io->op = VBLK_OP_NONE) or I/O to run (io filled, returns OK).
 * *@used: bytes the answer writes into the driver's buffers. Lock held.
 */
uint8_t vblk_prepare(struct vblk *b, const struct virtq_chain *c, struct vblk_io *io,
		     uint32_t *used);

/* vblk_account: count a finished I/O in the block metrics. */
void vblk_account(struct vblk *b, const struct vblk_io *io, int ok);

/* io_uring engine (blk_aio.c). All with the transport lock held, event-loop thread unless noted. */
int vblk_aio_init(struct vblk *b, struct evloop *loop);       /* main thread */
int vblk_aio_submit(struct vblk *b, const struct virtq_chain *c); /* 0 queued, else serve sync */
void vblk_aio_kick(struct vblk *b);                           /* submit what was queued */
void vblk_aio_drain(struct vblk *b);                          /* any thread: wait out in-flight I/O */
void vblk_aio_destroy(struct vblk *b);
int vblk_aio_swap_file(struct vblk *b, int fd);                /* PATCH /drives: 0 or -errno */
struct io_uring;
int vblk_aio_restrict(struct io_uring *ring);                 /* lock down, enable (tests too) */

#endif
