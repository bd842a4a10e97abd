/* blk_aio.c: virtio-blk's io_uring engine: requests complete out of order on the event loop. */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "devices/virtio/blk.h"
#include "log.h"
#include "metrics.h"

/* One in-flight request, indexed by its descriptor head (unique while in flight). */
struct vblk_aio_req {
	int busy;
	uint32_t used;
	uint8_t *status;            /* the chain's status byte, in guest RAM */
	struct vblk_io io;          /* the iovecs must outlive the submission */
};

struct vblk_aio {
	struct io_uring ring;
	int ring_ok;
	int efd;                    /* completions, registered with the ring */
	unsigned inflight;
	unsigned queued;            /* prepared, not yet submitted */
	struct vblk_aio_req req[VBLK_QUEUE_SIZE];
};

/* Finish one completion: write the status, give the buffer back. */
static void vblk_aio_complete(struct vblk *b, struct io_uring_cqe *cqe, int push)
{
	struct vblk_aio *a = b->aio;
	uint16_t head = (uint16_t)io_uring_cqe_get_data64(cqe);
	struct vblk_aio_req *r;
	int ok;

	if (head >= VBLK_QUEUE_SIZE || !a->req[head].busy)
		return;
	r = &a->req[head];
	ok = r->io.op == VBLK_OP_FLUSH ? cqe->res == 0 : (uint64_t)cqe->res == r->io.len;
	vblk_account(b, &r->io, ok);
	r->busy = 0;
	a->inflight--;
	if (!push)
		return;
	*r->status = ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
	virtq_push(&b->t.q[0], head, ok ? r->used + 1 : 1);
}

static void vblk_aio_on_completion(void *opaque, uint32_t events)
{
	struct vblk *b = opaque;
	struct vblk_aio *a;
	struct io_uring_cqe *cqe;
	uint64_t n;
	unsigned done = 0;

	(void)events;
	pthread_mutex_lock(&b->t.lock);
	a = b->aio;
	if (read(a->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		mdev_inc(&b->metrics, M_block_event_fails);
	while (io_uring_peek_cqe(&a->ring, &cqe) == 0) {
		vblk_aio_complete(b, cqe, b->t.active);
		io_uring_cqe_seen(&a->ring, cqe);
		done++;
	}
	if (done && b->t.active)
		virtio_mmio_signal_used(&b->t, 0);
	pthread_mutex_unlock(&b->t.lock);
}

/* io_uring_register(2) itself: Debian's liburing 2.3 does not export its wrappers of these two. */
static int vblk_aio_register(struct io_uring *ring, unsigned op, const void *arg, unsigned n)
{
	return syscall(__NR_io_uring_register, ring->ring_fd, op, arg, n) < 0 ? -errno : 0;
}

/* Lock the engine's disabled ring down (IORING_REGISTER_RESTRICTIONS), then enable it. */
int vblk_aio_restrict(struct io_uring *ring)
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

	if ((r = vblk_aio_register(ring, IORING_REGISTER_RESTRICTIONS, res,
				   sizeof(res) / sizeof(res[0]))))
		return r;
	return vblk_aio_register(ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

int vblk_aio_init(struct vblk *b, struct evloop *loop)
{
	struct vblk_aio *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	b->aio = a;
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0)
		return -errno;
	/*
	 * The ring starts disabled and is locked down before it is enabled: only
	 * the three operations the engine submits, only on the drive's
	 * registered file, and after that only that file can be replaced (PATCH
	 * /drives). A thread with io_uring_enter cannot use this ring to open,
	 * read or connect anything else, whatever its seccomp list allows.
	 */
	if ((r = io_uring_queue_init(VBLK_QUEUE_SIZE, &a->ring, IORING_SETUP_R_DISABLED)))
		return r;
	a->ring_ok = 1;
	if ((r = io_uring_register_eventfd(&a->ring, a->efd)) ||
	    (r = io_uring_register_files(&a->ring, &b->fd, 1)) ||
	    (r = vblk_aio_restrict(&a->ring)))
		return r;
	return evloop_add(loop, a->efd, EPOLLIN, vblk_aio_on_completion, b);
}

int vblk_aio_swap_file(struct vblk *b, int fd)
{
	/* In-flight requests keep the old file (a registered file holds its own reference). */
	return io_uring_register_files_update(&b->aio->ring, 0, &fd, 1) == 1 ? 0 : -EIO;
}

int vblk_aio_submit(struct vblk *b, const struct virtq_chain *c)
{
	struct vblk_aio *a = b->aio;
	struct vblk_aio_req *r;
	struct io_uring_sqe *sqe;
	uint8_t status;

	if (c->head >= VBLK_QUEUE_SIZE || a->req[c->head].busy)
		return -EBUSY;
	r = &a->req[c->head];
	status = vblk_prepare(b, c, &r->io, &r->used);
	if (r->io.op == VBLK_OP_NONE || status != VIRTIO_BLK_S_OK)
		return -EAGAIN;   /* answered at once: the caller does it synchronously */
	sqe = io_uring_get_sqe(&a->ring);
	if (!sqe)
		return -EBUSY;
	/* File 0 of the ring's registered files: the drive. */
	if (r->io.op == VBLK_OP_READ)
		io_uring_prep_readv(sqe, 0, r->io.iov, (unsigned)r->io.niov, r->io.pos);
	else if (r->io.op == VBLK_OP_WRITE)
		io_uring_prep_writev(sqe, 0, r->io.iov, (unsigned)r->io.niov, r->io.pos);
	else
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
	io_uring_sqe_set_data64(sqe, c->head);
	{
		const struct virtq_seg *last = &c->seg[c->nseg - 1];

		r->status = (uint8_t *)last->ptr + last->len - 1;
	}
	r->busy = 1;
	a->inflight++;
	a->queued++;
	return 0;
}

void vblk_aio_kick(struct vblk *b)
{
	struct vblk_aio *a = b->aio;

	if (a->queued && io_uring_submit(&a->ring) < 0)
		mdev_inc(&b->metrics, M_block_event_fails);
	a->queued = 0;
}

void vblk_aio_drain(struct vblk *b)
{
	struct vblk_aio *a = b->aio;
	struct io_uring_cqe *cqe;

	vblk_aio_kick(b);
	while (a->inflight && io_uring_wait_cqe(&a->ring, &cqe) == 0) {
		vblk_aio_complete(b, cqe, 0);
		io_uring_cqe_seen(&a->ring, cqe);
	}
}

void vblk_aio_destroy(struct vblk *b)
{
	struct vblk_aio *a = b->aio;

	if (a->ring_ok) {
		vblk_aio_drain(b);
		io_uring_queue_exit(&a->ring);
	}
	if (a->efd > 0)
		close(a->efd);
	free(a);
	b->aio = NULL;
}
