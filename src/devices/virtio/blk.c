/* blk.c: the virtio-blk device: decodes requests, runs them on an I/O engine (blk_engine.h) and
 * finishes them (status byte, metrics, used ring), on the event-loop thread. */
#include "devices/virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX  2
#define VIRTIO_BLK_F_RO       5
#define VIRTIO_BLK_F_FLUSH    9

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN     0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_T_FLUSH  4
#define VIRTIO_BLK_T_GET_ID 8

struct vblk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

int vblk_open_backing(const char *path, bool read_only, int *fd, uint64_t *nsectors)
{
	struct stat st;
	/* Non-blocking: a FIFO or a device that waits on open must not hang the VMM thread. */
	int f = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);

	if (f < 0)
		return -errno;
	errno = 0;
	if (fstat(f, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) ||
	    fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_NONBLOCK) < 0) {
		/* -ENODEV: neither a regular file nor a block device (a FIFO, a socket, ...). */
		int e = errno ? errno : S_ISDIR(st.st_mode) ? EISDIR : ENODEV;

		close(f);
		return -e;
	}
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(f, 0, SEEK_END);

		st.st_size = end > 0 ? end : 0;
	}
	*fd = f;
	*nsectors = (uint64_t)st.st_size / VBLK_SECTOR_SIZE;
	return 0;
}

/* The iovecs for a request's data, each segment within SIZE_MAX (5.2.4). */
static int vblk_iov(const struct virtq_chain *c, bool writable, uint64_t off, uint64_t len,
		    struct iovec *iov, int max)
{
	int n = virtq_chain_iov(c, writable, off, len, iov, max);
	uint64_t got = 0;

	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len > VBLK_SIZE_MAX)
			return -E2BIG;
		got += iov[i].iov_len;
	}
	return n < 0 ? n : got == len ? n : -EINVAL;
}

/* Validate the sector range of a data request. */
static int vblk_range_ok(const struct vblk *b, uint64_t sector, uint64_t len)
{
	uint64_t nsec = len / VBLK_SECTOR_SIZE;

	return len % VBLK_SECTOR_SIZE == 0 && sector <= b->nsectors && nsec <= b->nsectors - sector;
}

/* Bytes of the status byte's host address: the last writable byte of the chain. */
static uint8_t *vblk_status_ptr(const struct virtq_chain *c)
{
	const struct virtq_seg *last = &c->seg[c->nseg - 1];

	return (uint8_t *)last->ptr + last->len - 1;
}

/*
 * vblk_prepare: look at a request. Requests answered at once (GET_ID,
 * refusals) get io->op = VBLK_OP_NONE and their status; data and flush
 * requests get the I/O to run. *used counts bytes written to the driver.
 */
static uint8_t vblk_prepare(struct vblk *b, const struct virtq_chain *c, struct vblk_io *io,
			    uint32_t *used)
{
	struct vblk_hdr h;
	bool in;
	int n;

	io->op = VBLK_OP_NONE;
	*used = 0;
	/* Copy the header out of guest memory before looking at it. */
	if (virtq_chain_read(c, 0, &h, sizeof(h)) != sizeof(h)) {
		mdev_inc(&b->metrics, M_block_invalid_reqs_count);
		return VIRTIO_BLK_S_IOERR;
	}
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		in = h.type == VIRTIO_BLK_T_IN;
		io->len = in ? c->writable - 1 : c->readable - VBLK_HDR_SIZE;
		if (!in && b->read_only)
			return VIRTIO_BLK_S_IOERR;
		if (!vblk_range_ok(b, h.sector, io->len)) {
			LOG_RATELIMITED(LOG_LEVEL_DEBUG,
					"%s: request outside the disk (sector %llu, %llu bytes)", b->name,
					(unsigned long long)h.sector, (unsigned long long)io->len);
			return VIRTIO_BLK_S_IOERR;
		}
		n = vblk_iov(c, in, in ? 0 : VBLK_HDR_SIZE, io->len, io->iov, VBLK_SEG_MAX);
		if (n < 0)
			return VIRTIO_BLK_S_IOERR;
		io->niov = n;
		io->pos = h.sector * VBLK_SECTOR_SIZE;
		io->op = in ? VBLK_OP_READ : VBLK_OP_WRITE;
		if (in)
			*used = (uint32_t)io->len;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		if (!b->flush)
			return VIRTIO_BLK_S_UNSUPP;
		mdev_inc(&b->metrics, M_block_flush_count);
		io->op = VBLK_OP_FLUSH;
		io->len = 0;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID: {
		char id[VBLK_ID_BYTES] = { 0 };
		size_t len = c->writable - 1 < VBLK_ID_BYTES ? (size_t)c->writable - 1 : VBLK_ID_BYTES;

		/* The drive id, NUL-padded; a 20-byte id has no terminator (5.2.6). */
		memcpy(id, b->drive_id, strnlen(b->drive_id, sizeof(id)));
		*used = (uint32_t)virtq_chain_write(c, 0, id, len);
		return VIRTIO_BLK_S_OK;
	}
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* Count a finished I/O in the block metrics. */
static void vblk_account(struct vblk *b, const struct vblk_io *io, int ok)
{
	if (!ok) {
		mdev_inc(&b->metrics, M_block_execute_fails);
		return;
	}
	if (io->op == VBLK_OP_READ) {
		mdev_add(&b->metrics, M_block_read_bytes, io->len);
		mdev_inc(&b->metrics, M_block_read_count);
	} else if (io->op == VBLK_OP_WRITE) {
		mdev_add(&b->metrics, M_block_write_bytes, io->len);
		mdev_inc(&b->metrics, M_block_write_count);
	}
}

/* Serve one request synchronously; returns the bytes written to the driver's buffers. */
static uint32_t vblk_execute(struct vblk *b, const struct virtq_chain *c, struct vblk_io *io)
{
	uint32_t used;
	uint8_t status = vblk_prepare(b, c, io, &used);
	int ok = 1;

	if (io->op != VBLK_OP_NONE) {
		ok = blk_sync_run(b->fd, (enum blk_op)io->op, io->iov, io->niov, io->pos,
				  io->len) == 0;
		vblk_account(b, io, ok);
		if (!ok) {
			status = VIRTIO_BLK_S_IOERR;
			used = 0;
		}
	}
	*vblk_status_ptr(c) = status;
	return used + 1;
}

/*
 * Hand request @c to the io_uring engine: 0 when it runs there (vblk_finish answers it),
 * else the caller serves it synchronously: -EAGAIN answered at once (GET_ID, refusals),
 * -EBUSY no room.
 */
static int vblk_submit_async(struct vblk *b, const struct virtq_chain *c)
{
	struct vblk_req *r;
	uint8_t status;

	if (c->head >= VBLK_QUEUE_SIZE || b->req[c->head].busy)
		return -EBUSY;
	r = &b->req[c->head];
	status = vblk_prepare(b, c, &r->io, &r->used);
	if (r->io.op == VBLK_OP_NONE || status != VIRTIO_BLK_S_OK)
		return -EAGAIN;
	if (blk_aio_submit(b->aio, (enum blk_op)r->io.op, r->io.iov, r->io.niov, r->io.pos,
			   c->head))
		return -EBUSY;
	r->status = vblk_status_ptr(c);
	r->busy = true;
	return 0;
}

/* Start what vblk_submit_async queued. */
static void vblk_kick(struct vblk *b)
{
	if (blk_aio_kick(b->aio))
		mdev_inc(&b->metrics, M_block_event_fails);
}

/*
 * Finish the request completion @e names: count it and, if @push, write its status and give
 * its buffers back. Lock held.
 */
static void vblk_finish(struct vblk *b, const struct blk_completion *e, bool push)
{
	struct vblk_req *r;
	int ok;

	if (e->cookie >= VBLK_QUEUE_SIZE || !b->req[e->cookie].busy)
		return;
	r = &b->req[e->cookie];
	ok = r->io.op == VBLK_OP_FLUSH ? e->res == 0 : (uint64_t)e->res == r->io.len;
	vblk_account(b, &r->io, ok);
	r->busy = false;
	if (!push)
		return;
	*r->status = ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
	virtq_push(&b->t.q[0], (uint16_t)e->cookie, ok ? r->used + 1 : 1);
}

/* The io_uring engine finished requests: answer them (none while the device is reset). */
static void vblk_on_completion(void *opaque, uint32_t events)
{
	struct vblk *b = opaque;
	struct blk_completion e;
	uint64_t n;
	unsigned done = 0;

	(void)events;
	pthread_mutex_lock(&b->t.lock);
	if (read(blk_aio_fd(b->aio), &n, sizeof(n)) < 0 && errno != EAGAIN)
		mdev_inc(&b->metrics, M_block_event_fails);
	while (blk_aio_reap(b->aio, &e)) {
		vblk_finish(b, &e, b->t.active);
		done++;
	}
	if (done && b->t.active)
		virtio_mmio_signal_used(&b->t, 0);
	pthread_mutex_unlock(&b->t.lock);
}

/* Wait out the engine's requests in flight: counted, not answered. Lock held (or teardown). */
static void vblk_drain(struct vblk *b)
{
	struct blk_completion e;

	vblk_kick(b);
	while (blk_aio_wait(b->aio, &e))
		vblk_finish(b, &e, false);
}

/* Data bytes of a request, for the bandwidth bucket: reads and writes only (as Firecracker). */
static uint64_t vblk_req_bytes(const struct virtq_chain *c)
{
	uint32_t type;

	if (virtq_chain_read(c, 0, &type, sizeof(type)) != sizeof(type))
		return 0;
	if (type == VIRTIO_BLK_T_IN)
		return c->writable - 1;
	if (type == VIRTIO_BLK_T_OUT && c->readable >= VBLK_HDR_SIZE)
		return c->readable - VBLK_HDR_SIZE;
	return 0;
}

/* May request @c go ahead under the drive's limiter? If not, the timer is armed for when
 * it may, and the request stays on the ring. */
static bool vblk_admit(struct vblk *b, const struct virtq_chain *c)
{
	uint64_t now = rl_clock_ns(), bytes = vblk_req_bytes(c);
	int r;

	if (rl_consume(&b->rl, bytes, now))
		return true;
	mdev_inc(&b->metrics, M_block_rate_limiter_throttled_events);
	if ((r = rl_timer_arm(b->rl_fd, rl_wait_ns(&b->rl, bytes, now)))) {
		/* Without its timer the limiter could stall the queue for good: let it through. */
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: rate limiter timer: %s", b->name, strerror(-r));
		return true;
	}
	b->rl_waiting = true;
	return false;
}

static void vblk_notify(struct virtio_mmio *t, unsigned qi)
{
	struct vblk *b = t->dev;
	struct virtq *q = &t->q[qi];
	unsigned served = 0;
	int r;

	mdev_inc(&b->metrics, M_block_queue_event_count);
	if (b->rl_waiting)
		return;        /* the limiter's timer resumes the queue */
	for (unsigned taken = 0;; taken++) {
		if (taken == VIRTIO_QUEUE_BUDGET) {
			/* Budget spent: the rest waits behind the other events. */
			if (virtio_mmio_requeue(t, qi) == 0) {
				mdev_inc(&b->metrics, M_block_remaining_reqs_count);
				r = 1;
				break;
			}
		}
		if ((r = virtq_pop(q, t->mem, &b->chain)) != 1)
			break;
		struct virtq_chain *c = &b->chain;

		/* 5.2.6: the last writable byte is the status; without one nothing can be answered. */
		if (c->writable < 1) {
			mdev_inc(&b->metrics, M_block_invalid_reqs_count);
			LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: request without a status byte", b->name);
			virtq_push(q, c->head, 0);
			served++;
			continue;
		}
		if (rl_active(&b->rl) && !vblk_admit(b, c)) {
			virtq_unpop(q);
			r = 1;
			break;
		}
		if (b->aio && vblk_submit_async(b, c) == 0)
			continue;      /* completes on the event loop when the I/O is done */
		virtq_push(q, c->head, vblk_execute(b, c, &b->io));
		served++;
	}
	if (b->aio)
		vblk_kick(b);
	if (r < 0) {
		mdev_inc(&b->metrics, M_block_invalid_reqs_count);
		virtio_mmio_fail(t, q->error);
	}
	if (served)
		virtio_mmio_signal_used(t, qi);
	else if (r == 0 && !b->aio)
		mdev_inc(&b->metrics, M_block_no_avail_buffer);
}

static void vblk_config_read(struct virtio_mmio *t, uint64_t off, uint8_t *data, unsigned len)
{
	struct vblk *b = t->dev;
	uint8_t cfg[16];
	uint32_t size_max = VBLK_SIZE_MAX, seg_max = VBLK_SEG_MAX;

	/* struct virtio_blk_config: capacity, size_max, seg_max (5.2.4). */
	memcpy(cfg, &b->nsectors, 8);
	memcpy(cfg + 8, &size_max, 4);
	memcpy(cfg + 12, &seg_max, 4);
	(void)virtio_mmio_config_window(cfg, sizeof(cfg), off, data, len);
}

static int vblk_activate(struct virtio_mmio *t)
{
	(void)t;
	return 0;
}

/* A driver reset drops every request: wait for in-flight I/O so none completes into the new queue. */
static void vblk_reset(struct virtio_mmio *t)
{
	struct vblk *b = t->dev;

	if (b->aio)
		vblk_drain(b);
}

/* The limiter lets requests through again: serve what waits on the ring. */
static void vblk_on_limiter(void *opaque, uint32_t events)
{
	struct vblk *b = opaque;
	uint64_t ticks;

	(void)events;
	if (read(b->rl_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&b->t.lock);
	mdev_inc(&b->metrics, M_block_rate_limiter_event_count);
	b->rl_waiting = false;
	if (b->t.paused)
		b->t.held |= 1u;   /* served at resume */
	else if (b->t.active && b->t.q[0].ready && !b->t.q[0].broken)
		vblk_notify(&b->t, 0);
	pthread_mutex_unlock(&b->t.lock);
}

void vblk_set_limiter(struct vblk *b, const struct rate_limiter_cfg *c)
{
	pthread_mutex_lock(&b->t.lock);
	rl_update(&b->rl, c, rl_clock_ns());
	if (b->rl_waiting) {
		/* Waiting under the old buckets: look at the ring again under the new ones. */
		(void)rl_timer_arm(b->rl_fd, 0);
		b->rl_waiting = false;
		virtio_mmio_requeue(&b->t, 0);
	}
	pthread_mutex_unlock(&b->t.lock);
}

/* io_engine Async: the io_uring engine, its requests, its completions on the event loop. */
static int vblk_init_async(struct vblk *b, struct evloop *loop)
{
	int r;

	b->req = calloc(VBLK_QUEUE_SIZE, sizeof(*b->req));
	if (!b->req)
		return -ENOMEM;
	if ((r = blk_aio_init(&b->aio, b->fd, VBLK_QUEUE_SIZE)))
		return r;
	return evloop_add(loop, blk_aio_fd(b->aio), EPOLLIN, vblk_on_completion, b);
}

static const struct virtio_dev_ops vblk_ops = {
	.device_id = VIRTIO_ID_BLOCK,
	.config_read = vblk_config_read,
	.activate = vblk_activate,
	.reset = vblk_reset,
	.queue_notify = vblk_notify,
};

int vblk_init(struct vblk *b, const struct drive_cfg *cfg, int fd, uint64_t nsectors,
	      const struct kvm_vm *vm, const struct guest_mem *mem, struct evloop *loop,
	      uint64_t base, unsigned irq)
{
	uint64_t features = (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX);
	int r;

	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->rl_fd = -1;
	b->nsectors = nsectors;
	b->read_only = cfg->is_read_only;
	b->flush = cfg->cache_type == CACHE_WRITEBACK;
	snprintf(b->drive_id, sizeof(b->drive_id), "%s", cfg->drive_id);
	snprintf(b->name, sizeof(b->name), "block %s", cfg->drive_id);
	if ((r = metric_dev_register(&b->metrics, "block", cfg->drive_id, M_block_activate_fails,
				     M_block_write_count)))
		return r;
	if (b->read_only)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	if (b->flush)
		features |= 1ULL << VIRTIO_BLK_F_FLUSH;
	r = virtio_mmio_init(&b->t, &vblk_ops, b, b->name, vm, mem, loop, base, irq, 1,
			     VBLK_QUEUE_SIZE, features);
	/* Every drive has the limiter's timer: PATCH /drives may give it a limiter later. */
	rl_init(&b->rl, &cfg->rate_limiter, rl_clock_ns());
	if (r == 0) {
		b->rl_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (b->rl_fd < 0)
			r = -errno;
		else
			r = evloop_add(loop, b->rl_fd, EPOLLIN, vblk_on_limiter, b);
	}
	if (r == 0 && cfg->io_engine == IO_ENGINE_ASYNC)
		r = vblk_init_async(b, loop);
	return r;
}

int vblk_swap_backing(struct vblk *b, int fd, uint64_t nsectors)
{
	int old;

	pthread_mutex_lock(&b->t.lock);
	if (b->aio && blk_aio_swap_file(b->aio, fd)) {
		/* The engine keeps the old file: so does the device, and the new one is dropped. */
		pthread_mutex_unlock(&b->t.lock);
		close(fd);
		return -EIO;
	}
	old = b->fd;
	b->fd = fd;
	b->nsectors = nsectors;
	virtio_mmio_config_changed(&b->t);
	pthread_mutex_unlock(&b->t.lock);
	mdev_inc(&b->metrics, M_block_update_count);
	if (old >= 0)
		close(old);
	return 0;
}

void vblk_destroy(struct vblk *b)
{
	metric_dev_unregister(&b->metrics);
	if (b->aio) {
		vblk_drain(b);
		blk_aio_destroy(b->aio);
		b->aio = NULL;
	}
	free(b->req);
	b->req = NULL;
	virtio_mmio_destroy(&b->t);
	if (b->rl_fd > 0) {    /* 0: a zeroed object (fd 0 is never ours) */
		if (b->t.loop)
			(void)evloop_del(b->t.loop, b->rl_fd);
		close(b->rl_fd);
	}
	b->rl_fd = -1;
	if (b->fd > 0)
		close(b->fd);
	b->fd = -1;
}

/* ---- device table hooks ---- */

/* Hold new requests, then let the engine finish what it has and answer it. */
static void vblk_pause(void *dev)
{
	struct vblk *b = dev;
	struct blk_completion e;
	unsigned done = 0;

	virtio_mmio_pause(&b->t);
	if (!b->aio)
		return;
	pthread_mutex_lock(&b->t.lock);
	vblk_kick(b);
	while (blk_aio_wait(b->aio, &e)) {
		vblk_finish(b, &e, b->t.active);
		done++;
	}
	if (done && b->t.active)
		virtio_mmio_signal_used(&b->t, 0);
	pthread_mutex_unlock(&b->t.lock);
}

static void vblk_resume(void *dev)
{
	virtio_mmio_resume(&((struct vblk *)dev)->t);
}

static void vblk_save(void *dev, void *state)
{
	struct vblk *b = dev;
	struct vblk_state *st = state;

	virtio_mmio_save(&b->t, &st->t);
	st->nsectors = b->nsectors;
	st->read_only = b->read_only;
	st->flush = b->flush;
}

static int vblk_restore(void *dev, const void *state, struct err *e)
{
	struct vblk *b = dev;
	const struct vblk_state *st = state;

	/* The drive the guest knew: same size and access (a different file is the user's call). */
	if (st->nsectors != b->nsectors || st->read_only != b->read_only || st->flush != b->flush)
		return err_set(e, -EINVAL, "%s: saved with %llu sectors%s, now %llu%s", b->name,
			       (unsigned long long)st->nsectors, st->read_only ? " read-only" : "",
			       (unsigned long long)b->nsectors, b->read_only ? " read-only" : "");
	return virtio_mmio_restore(&b->t, &st->t, e);
}

static void vblk_dev_destroy(void *dev)
{
	vblk_destroy(dev);
}

const struct dev_ops vblk_dev_ops = {
	.kind = DEV_BLOCK,
	.name = "block",
	.state_size = sizeof(struct vblk_state),
	.pause = vblk_pause,
	.resume = vblk_resume,
	.save = vblk_save,
	.restore = vblk_restore,
	.destroy = vblk_dev_destroy,
};
