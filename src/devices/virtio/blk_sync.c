/* blk_sync.c: the synchronous block engine: preadv/pwritev/fdatasync on the calling thread. */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "devices/virtio/blk_engine.h"

/* Move @len bytes between the file and memory, finishing short transfers. */
static int blk_sync_rw(int fd, bool write, struct iovec *iov, int n, uint64_t pos, uint64_t len)
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

int blk_sync_run(int fd, enum blk_op op, struct iovec *iov, int niov, uint64_t pos,
		 uint64_t len)
{
	if (op == BLK_OP_FLUSH)
		return fdatasync(fd) == 0 ? 0 : -EIO;
	return blk_sync_rw(fd, op == BLK_OP_WRITE, iov, niov, pos, len);
}
