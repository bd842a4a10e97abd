/* blk.h: virtio-blk (virtio 1.2 section 5.2) backed by a host file. */
#ifndef EMBER_DEVICES_VIRTIO_BLK_H
#define EMBER_DEVICES_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "config/config.h"
#include "devices/rate_limiter.h"
#include "devices/virtio/blk_engine.h"
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

/* What a request needs of the backing file: nothing (answered at once) or an engine's op. */
enum vblk_op {
	VBLK_OP_NONE = 0,
	VBLK_OP_READ = BLK_OP_READ,
	VBLK_OP_WRITE = BLK_OP_WRITE,
	VBLK_OP_FLUSH = BLK_OP_FLUSH,
};

/* The I/O one request needs: a file range and the guest buffers for it. */
struct vblk_io {
	enum vblk_op op;
	uint64_t pos, len;
	int niov;
	struct iovec iov[VBLK_SEG_MAX];
};

/* A request on the io_uring engine, indexed by its descriptor head (unique while in flight). */
struct vblk_req {
	bool busy;
	uint32_t used;                   /* bytes the answer writes into the driver's buffers */
	uint8_t *status;                 /* the chain's status byte, in guest RAM */
	struct vblk_io io;               /* the iovecs must outlive the request */
};

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
	struct blk_aio *aio;             /* io_uring engine (io_engine Async), or NULL */
	struct vblk_req *req;            /* its requests, VBLK_QUEUE_SIZE of them (with aio) */
	struct rate_limiter rl;          /* the drive's rate_limiter (inactive: unlimited) */
	int rl_fd;                       /* timerfd: the limiter lets requests through again */
	bool rl_waiting;                 /* requests wait on the ring until rl_fd fires */
	struct metric_dev metrics;       /* "block_<drive_id>" */
};

/*
 * What the guest sees of a block device: the transport and the disk it was
 * told about (capacity, read-only, flush). Requests in flight are finished
 * by the pause hook before a save, so none is kept.
 */
struct vblk_state {
	struct virtio_mmio_state t;
	uint64_t nsectors;
	uint8_t read_only, flush;
	uint8_t pad[6];
};

/* The block device's row in the device table (state: struct vblk_state). */
extern const struct dev_ops vblk_dev_ops;

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

#endif
