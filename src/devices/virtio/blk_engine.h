/* blk_engine.h: virtio-blk's I/O engines: they move data between one file and iovecs, and know
 * nothing of requests, virtqueues or metrics. The device (blk.c) decodes requests, runs them
 * on an engine and finishes them: status byte, metrics, used ring, interrupt. */
#ifndef EMBER_DEVICES_VIRTIO_BLK_ENGINE_H
#define EMBER_DEVICES_VIRTIO_BLK_ENGINE_H

#include <stdint.h>
#include <sys/uio.h>

/* What an engine does: read or write at a file offset, or flush the file's data. */
enum blk_op { BLK_OP_READ = 1, BLK_OP_WRITE, BLK_OP_FLUSH };

/*
 * The synchronous engine: preadv/pwritev until @len bytes at @pos have moved (short
 * transfers continue, advancing @iov in place), or fdatasync for BLK_OP_FLUSH (@iov, @niov,
 * @pos, @len unused). 0, or -EIO when the file failed or ended early. Any thread.
 */
int blk_sync_run(int fd, enum blk_op op, struct iovec *iov, int niov, uint64_t pos,
		 uint64_t len);

/*
 * The io_uring engine: requests run in the kernel and complete in any order. The ring is
 * locked down before it is enabled (blk_aio_restrict): READV, WRITEV and FSYNC on its one
 * registered file, whose slot only may be replaced afterwards.
 *
 * One caller at a time (the device holds its lock around every call). A request is a
 * cookie of the caller's choosing; its iovecs must stay valid until its completion is
 * reaped. Every submitted request gives exactly one completion, reaped once.
 */
struct blk_aio;

/* A finished request: the caller's cookie and the kernel's result (bytes moved, or -errno). */
struct blk_completion {
	uint64_t cookie;
	int32_t res;
};

/*
 * blk_aio_init: an engine of @entries slots on file @fd (registered with the ring: the
 * engine holds its own reference). *@ap is the engine, or NULL on failure. 0 or -errno
 * (no io_uring, or none with restrictions: the kernel is too old or forbids it). Main thread.
 */
int blk_aio_init(struct blk_aio **ap, int fd, unsigned entries);

/* blk_aio_fd: an eventfd, readable when completions wait. The caller reads it, then reaps. */
int blk_aio_fd(const struct blk_aio *a);

/*
 * blk_aio_submit: queue @op (see blk_sync_run) of request @cookie; blk_aio_kick starts it.
 * 0, or -EBUSY when the ring has no free slot (the caller may run it synchronously).
 */
int blk_aio_submit(struct blk_aio *a, enum blk_op op, const struct iovec *iov, int niov,
		   uint64_t pos, uint64_t cookie);

/* blk_aio_kick: hand what was queued to the kernel. 0 or -errno (it is dropped from the queue). */
int blk_aio_kick(struct blk_aio *a);

/* blk_aio_reap: take one completion without waiting. 1 with *@c filled, 0 when none waits. */
int blk_aio_reap(struct blk_aio *a, struct blk_completion *c);

/*
 * blk_aio_wait: take one completion, waiting for it. 1 with *@c filled, 0 when no request
 * is in flight (or the wait failed). Any thread: a driver reset drains the engine with it.
 */
int blk_aio_wait(struct blk_aio *a, struct blk_completion *c);

/*
 * blk_aio_swap_file: the registered file becomes @fd (PATCH /drives). Requests in flight
 * finish on the old one. 0, or -EIO (the old file stays).
 */
int blk_aio_swap_file(struct blk_aio *a, int fd);

/* blk_aio_destroy: wait out requests in flight (their completions are dropped), free @a. */
void blk_aio_destroy(struct blk_aio *a);

/* blk_aio_restrict: lock a disabled ring down as above, then enable it. 0 or -errno (tests too). */
struct io_uring;
int blk_aio_restrict(struct io_uring *ring);

#endif
