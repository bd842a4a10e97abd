/* blk.c: virtio-blk request handling with preadv/pwritev on the event-loop thread. */
#include "devices/virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VBLK_HDR_SIZE 16

struct vblk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

int vblk_open_backing(const char *path, bool read_only, int *fd, uint64_t *nsectors)
{
	struct stat st;
	int f = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);

	if (f < 0)
		return -errno;
	if (fstat(f, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
		int e = errno ? errno : EINVAL;

		close(f);
		return -(S_ISDIR(st.st_mode) ? EISDIR : e);
	}
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(f, 0, SEEK_END);

		st.st_size = end > 0 ? end : 0;
	}
	*fd = f;
	*nsectors = (uint64_t)st.st_size / VBLK_SECTOR_SIZE;
	return 0;
}

/* The iovecs covering bytes [off, off + len) of the readable or writable segments. */
static int vblk_iov(const struct virtq_chain *c, bool writable, uint64_t off, uint64_t len,
		    struct iovec *iov, int max)
{
	unsigned first = writable ? c->nread : 0, end = writable ? c->nseg : c->nread;
	int n = 0;

	for (unsigned i = first; i < end && len; i++) {
		const struct virtq_seg *s = &c->seg[i];
		uint64_t take;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		if (n == max || s->len - off > VBLK_SIZE_MAX)
			return -E2BIG;
		take = s->len - off < len ? s->len - off : len;
		iov[n].iov_base = (uint8_t *)s->ptr + off;
		iov[n].iov_len = (size_t)take;
		n++;
		len -= take;
		off = 0;
	}
	return len ? -EINVAL : n;
}

/* Move @len bytes between the file and guest memory, finishing short transfers. */
static int vblk_rw(int fd, bool write, struct iovec *iov, int n, uint64_t pos, uint64_t len)
{
	while (len) {
		ssize_t r = write ? pwritev(fd, iov, n, (off_t)pos) : preadv(fd, iov, n, (off_t)pos);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		pos += (uint64_t)r;
		len -= (uint64_t)r;
		/* Skip what was done. */
		while (n && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n && r) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* Validate the sector range of a data request. */
static int vblk_range_ok(const struct vblk *b, uint64_t sector, uint64_t len)
{
	uint64_t nsec = len / VBLK_SECTOR_SIZE;

	return len % VBLK_SECTOR_SIZE == 0 && sector <= b->nsectors && nsec <= b->nsectors - sector;
}

static uint8_t vblk_data(struct vblk *b, const struct virtq_chain *c, const struct vblk_hdr *h,
			 uint32_t *used)
{
	struct iovec iov[VBLK_SEG_MAX];
	bool in = h->type == VIRTIO_BLK_T_IN;
	uint64_t len = in ? c->writable - 1 : c->readable - VBLK_HDR_SIZE;
	int n;

	if (!in && b->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (!vblk_range_ok(b, h->sector, len)) {
		LOG_RATELIMITED(LOG_LEVEL_DEBUG, "%s: request outside the disk (sector %llu, %llu bytes)",
				b->name, (unsigned long long)h->sector, (unsigned long long)len);
		return VIRTIO_BLK_S_IOERR;
	}
	n = vblk_iov(c, in, in ? 0 : VBLK_HDR_SIZE, len, iov, VBLK_SEG_MAX);
	if (n < 0)
		return VIRTIO_BLK_S_IOERR;
	if (vblk_rw(b->fd, !in, iov, n, h->sector * VBLK_SECTOR_SIZE, len)) {
		metric_inc(M_block_execute_fails);
		return VIRTIO_BLK_S_IOERR;
	}
	if (in) {
		*used = (uint32_t)len;
		metric_add(M_block_read_bytes, len);
		metric_inc(M_block_read_count);
	} else {
		metric_add(M_block_write_bytes, len);
		metric_inc(M_block_write_count);
	}
	return VIRTIO_BLK_S_OK;
}

/* Serve one request; returns the bytes written to the driver's buffers. */
static uint32_t vblk_execute(struct vblk *b, const struct virtq_chain *c)
{
	struct vblk_hdr h;
	uint32_t used = 0;
	uint8_t status;

	/* 5.2.6: the last writable byte is the status; without one nothing can be answered. */
	if (c->writable < 1) {
		metric_inc(M_block_invalid_reqs_count);
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: request without a status byte", b->name);
		return 0;
	}
	/* Copy the header out of guest memory before looking at it. */
	if (virtq_chain_read(c, 0, &h, sizeof(h)) != sizeof(h)) {
		metric_inc(M_block_invalid_reqs_count);
		status = VIRTIO_BLK_S_IOERR;
		goto done;
	}
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		status = vblk_data(b, c, &h, &used);
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (!b->flush) {
			status = VIRTIO_BLK_S_UNSUPP;
			break;
		}
		metric_inc(M_block_flush_count);
		status = fdatasync(b->fd) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		char id[VBLK_ID_BYTES] = { 0 };
		size_t n = c->writable - 1 < VBLK_ID_BYTES ? (size_t)c->writable - 1 : VBLK_ID_BYTES;

		/* The drive id, NUL-padded; a 20-byte id has no terminator (5.2.6). */
		memcpy(id, b->drive_id, strnlen(b->drive_id, sizeof(id)));
		used = (uint32_t)virtq_chain_write(c, 0, id, n);
		status = VIRTIO_BLK_S_OK;
		break;
	}
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
done:
	virtq_chain_write(c, c->writable - 1, &status, 1);
	return used + 1;
}

static void vblk_notify(struct virtio_mmio *t, unsigned qi)
{
	struct vblk *b = t->dev;
	struct virtq *q = &t->q[qi];
	unsigned served = 0;
	int r;

	metric_inc(M_block_queue_event_count);
	while ((r = virtq_pop(q, t->mem, &b->chain)) == 1) {
		uint32_t used = vblk_execute(b, &b->chain);

		virtq_push(q, b->chain.head, used);
		served++;
	}
	if (r < 0) {
		metric_inc(M_block_invalid_reqs_count);
		virtio_mmio_fail(t, q->error);
	}
	if (served)
		virtio_mmio_signal_used(t, qi);
	else if (r == 0)
		metric_inc(M_block_no_avail_buffer);
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
	if (off < sizeof(cfg) && len <= sizeof(cfg) - off)
		memcpy(data, cfg + off, len);
}

static int vblk_activate(struct virtio_mmio *t)
{
	(void)t;
	return 0;
}

static const struct virtio_dev_ops vblk_ops = {
	.device_id = VIRTIO_ID_BLOCK,
	.config_read = vblk_config_read,
	.activate = vblk_activate,
	.queue_notify = vblk_notify,
};

int vblk_init(struct vblk *b, const struct drive_cfg *cfg, int fd, uint64_t nsectors,
	      const struct kvm_vm *vm, const struct guest_mem *mem, struct evloop *loop,
	      uint64_t base, unsigned irq)
{
	uint64_t features = (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX);

	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->nsectors = nsectors;
	b->read_only = cfg->is_read_only;
	b->flush = cfg->cache_type == CACHE_WRITEBACK;
	snprintf(b->drive_id, sizeof(b->drive_id), "%s", cfg->drive_id);
	snprintf(b->name, sizeof(b->name), "block %s", cfg->drive_id);
	if (b->read_only)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	if (b->flush)
		features |= 1ULL << VIRTIO_BLK_F_FLUSH;
	return virtio_mmio_init(&b->t, &vblk_ops, b, b->name, vm, mem, loop, base, irq, 1,
				VBLK_QUEUE_SIZE, features);
}

void vblk_swap_backing(struct vblk *b, int fd, uint64_t nsectors)
{
	int old;

	pthread_mutex_lock(&b->t.lock);
	old = b->fd;
	b->fd = fd;
	b->nsectors = nsectors;
	virtio_mmio_config_changed(&b->t);
	pthread_mutex_unlock(&b->t.lock);
	metric_inc(M_block_update_count);
	if (old >= 0)
		close(old);
}

void vblk_destroy(struct vblk *b)
{
	virtio_mmio_destroy(&b->t);
	if (b->fd > 0)
		close(b->fd);
	b->fd = -1;
}
