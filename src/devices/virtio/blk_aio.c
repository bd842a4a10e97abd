/* blk_aio.c: the io_uring block engine: one file's reads, writes and flushes, done in any order. */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "devices/virtio/blk_engine.h"

struct blk_aio {
	struct io_uring ring;
	int ring_ok;
	int efd;                    /* completions, registered with the ring */
	unsigned inflight;          /* submitted, completion not yet reaped */
	unsigned queued;            /* submitted, not yet kicked */
};

/* io_uring_register(2) itself: Debian's liburing 2.3 does not export its wrappers of these two. */
static int blk_aio_register(struct io_uring *ring, unsigned op, const void *arg, unsigned n)
{
	return syscall(__NR_io_uring_register, ring->ring_fd, op, arg, n) < 0 ? -errno : 0;
}

int blk_aio_restrict(struct io_uring *ring)
{
	static const struct io_uring_restriction res[] = {
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READV },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_WRITEV },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_FSYNC },
		{ .opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = IOSQE_FIXED_FILE },
		{ .opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED, .sqe_flags = IOSQE_FIXED_FILE },
		{ .opcode = IORING_RESTRICTION_REGISTER_OP, .register_op = IORING_REGISTER_FILES_UPDATE },
	};
	int r;

	if ((r = blk_aio_register(ring, IORING_REGISTER_RESTRICTIONS, res,
				  sizeof(res) / sizeof(res[0]))))
		return r;
	return blk_aio_register(ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

int blk_aio_init(struct blk_aio **ap, int fd, unsigned entries)
{
	struct blk_aio *a = calloc(1, sizeof(*a));
	int r;

	*ap = NULL;
	if (!a)
		return -ENOMEM;
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0) {
		r = -errno;
		goto fail;
	}
	/*
	 * The ring starts disabled and is locked down before it is enabled: only
	 * the three operations the engine submits, only on the drive's
	 * registered file, and after that only that file can be replaced (PATCH
	 * /drives). A thread with io_uring_enter cannot use this ring to open,
	 * read or connect anything else, whatever its seccomp list allows.
	 */
	if ((r = io_uring_queue_init(entries, &a->ring, IORING_SETUP_R_DISABLED)))
		goto fail;
	a->ring_ok = 1;
	if ((r = io_uring_register_eventfd(&a->ring, a->efd)) ||
	    (r = io_uring_register_files(&a->ring, &fd, 1)) ||
	    (r = blk_aio_restrict(&a->ring)))
		goto fail;
	*ap = a;
	return 0;
fail:
	blk_aio_destroy(a);
	return r;
}

int blk_aio_fd(const struct blk_aio *a)
{
	return a->efd;
}

int blk_aio_swap_file(struct blk_aio *a, int fd)
{
	/* In-flight requests keep the old file (a registered file holds its own reference). */
	return io_uring_register_files_update(&a->ring, 0, &fd, 1) == 1 ? 0 : -EIO;
}

int blk_aio_submit(struct blk_aio *a, enum blk_op op, const struct iovec *iov, int niov,
		   uint64_t pos, uint64_t cookie)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);

	if (!sqe)
		return -EBUSY;
	/* File 0 of the ring's registered files: the drive. */
	if (op == BLK_OP_READ)
		io_uring_prep_readv(sqe, 0, iov, (unsigned)niov, pos);
	else if (op == BLK_OP_WRITE)
		io_uring_prep_writev(sqe, 0, iov, (unsigned)niov, pos);
	else
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
	io_uring_sqe_set_data64(sqe, cookie);
	a->inflight++;
	a->queued++;
	return 0;
}

int blk_aio_kick(struct blk_aio *a)
{
	int r = 0;

	if (a->queued && (r = io_uring_submit(&a->ring)) > 0)
		r = 0;
	a->queued = 0;
	return r;
}

/* Hand a completion over and give its ring slot back. */
static void blk_aio_take(struct blk_aio *a, struct io_uring_cqe *cqe, struct blk_completion *c)
{
	c->cookie = io_uring_cqe_get_data64(cqe);
	c->res = cqe->res;
	io_uring_cqe_seen(&a->ring, cqe);
	if (a->inflight)
		a->inflight--;
}

int blk_aio_reap(struct blk_aio *a, struct blk_completion *c)
{
	struct io_uring_cqe *cqe;

	if (io_uring_peek_cqe(&a->ring, &cqe))
		return 0;
	blk_aio_take(a, cqe, c);
	return 1;
}

int blk_aio_wait(struct blk_aio *a, struct blk_completion *c)
{
	struct io_uring_cqe *cqe;

	if (!a->inflight || io_uring_wait_cqe(&a->ring, &cqe))
		return 0;
	blk_aio_take(a, cqe, c);
	return 1;
}

void blk_aio_destroy(struct blk_aio *a)
{
	struct blk_completion c;

	if (!a)
		return;
	if (a->ring_ok) {
		(void)blk_aio_kick(a);
		while (blk_aio_wait(a, &c))
			;
		io_uring_queue_exit(&a->ring);
	}
	if (a->efd > 0)
		close(a->efd);
	free(a);
}
