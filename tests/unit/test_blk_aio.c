/* test_blk_aio.c: the lockdown of virtio-blk's io_uring ring (blk_aio_restrict): only READV,
 * WRITEV and FSYNC on the registered drive file; no OPENAT, no other file, no new registrations. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "check.h"
#include "devices/virtio/blk_engine.h"

static struct io_uring ring;
static int drive, other;

/* Submit one SQE as prepared by @prep and return its result (cqe->res). */
static int one(void (*prep)(struct io_uring_sqe *))
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	struct io_uring_cqe *cqe;
	int res;

	prep(sqe);
	if (io_uring_submit(&ring) < 0 || io_uring_wait_cqe(&ring, &cqe))
		return -9999;
	res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	return res;
}

static char buf[16];
static struct iovec iov = { buf, sizeof(buf) };

static void prep_fixed_read(struct io_uring_sqe *s)
{
	io_uring_prep_readv(s, 0, &iov, 1, 0);
	io_uring_sqe_set_flags(s, IOSQE_FIXED_FILE);
}
static void prep_plain_read(struct io_uring_sqe *s) { io_uring_prep_readv(s, other, &iov, 1, 0); }
static void prep_fixed_fsync(struct io_uring_sqe *s)
{
	io_uring_prep_fsync(s, 0, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_flags(s, IOSQE_FIXED_FILE);
}
static void prep_openat(struct io_uring_sqe *s) { io_uring_prep_openat(s, AT_FDCWD, "/etc/hostname", O_RDONLY, 0); }
static void prep_openat_fixed(struct io_uring_sqe *s)
{
	io_uring_prep_openat(s, AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
	io_uring_sqe_set_flags(s, IOSQE_FIXED_FILE);
}
static void prep_read_op(struct io_uring_sqe *s)
{
	io_uring_prep_read(s, 0, buf, sizeof(buf), 0);
	io_uring_sqe_set_flags(s, IOSQE_FIXED_FILE);
}

static int file(const char *text)
{
	char p[] = "/tmp/ember-aio-XXXXXX";
	int fd = mkstemp(p);

	if (fd >= 0) {
		unlink(p);
		if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
			close(fd);
			fd = -1;
		}
	}
	return fd;
}

static void test_lockdown(void)
{
	int r, next;

	drive = file("drive-contents..");
	other = file("other-file......");
	CHECK(drive >= 0 && other >= 0);
	r = io_uring_queue_init(8, &ring, IORING_SETUP_R_DISABLED);
	if (r == -EINVAL || r == -ENOSYS || r == -EPERM) {
		printf("SKIP test_lockdown: this kernel has no io_uring restrictions (%s)\n", strerror(-r));
		return;
	}
	CHECK_EQ_I(r, 0);
	CHECK_EQ_I(io_uring_register_files(&ring, &drive, 1), 0);
	CHECK_EQ_I(blk_aio_restrict(&ring), 0);     /* and enables it */

	/* What the engine does works. */
	memset(buf, 0, sizeof(buf));
	CHECK_EQ_I(one(prep_fixed_read), 16);
	CHECK(memcmp(buf, "drive-contents..", 16) == 0);
	CHECK_EQ_I(one(prep_fixed_fsync), 0);
	/* Nothing else: another operation, an unregistered file, opening a file. */
	CHECK_EQ_I(one(prep_openat), -EACCES);
	CHECK_EQ_I(one(prep_openat_fixed), -EACCES);
	CHECK_EQ_I(one(prep_read_op), -EACCES);
	CHECK_EQ_I(one(prep_plain_read), -EACCES);
	/* A new file table cannot be registered; the drive's slot can be updated (PATCH /drives). */
	CHECK(io_uring_register_files(&ring, &other, 1) < 0);
	CHECK_EQ_I(io_uring_register_files_update(&ring, 0, &other, 1), 1);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ_I(one(prep_fixed_read), 16);
	CHECK(memcmp(buf, "other-file......", 16) == 0);
	next = io_uring_register_eventfd(&ring, drive);
	CHECK(next < 0);
	io_uring_queue_exit(&ring);
	close(drive);
	close(other);
}

int main(void)
{
	RUN(test_lockdown);
	return check_summary();
}
