/*
 * snap_merge.c: ember-snap-merge BASE DIFF: a Diff snapshot's memory file onto its base's.
 *
 * A Diff snapshot's memory file (PUT /snapshot/create, snapshot_type Diff) is as long as
 * guest RAM and holds only the pages dirtied since the previous snapshot, at their
 * offsets; the rest are holes. Every allocated extent of DIFF (SEEK_DATA / SEEK_HOLE) is
 * copied onto BASE at the same offset: BASE then holds the guest's memory as the Diff
 * snapshot saw it, and the Diff's state file loads with it. BASE is changed in place
 * (merge onto a copy to keep it); the two files must be of one length. Exit 0 and one
 * line saying what was copied, or 1 and why not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MERGE_CHUNK (1u << 20)

static int merge_fail(const char *what, const char *path)
{
	fprintf(stderr, "ember-snap-merge: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

/* Copy [off, end) of @dfd onto @bfd at the same offsets; 0 or -errno. */
static int merge_extent(int dfd, int bfd, uint64_t off, uint64_t end, uint8_t *buf)
{
	while (off < end) {
		size_t want = end - off < MERGE_CHUNK ? (size_t)(end - off) : MERGE_CHUNK;
		ssize_t n = pread(dfd, buf, want, (off_t)off), w;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		for (ssize_t done = 0; done < n; done += w) {
			w = pwrite(bfd, buf + done, (size_t)(n - done), (off_t)off + done);
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0)
				return w < 0 ? -errno : -EIO;
		}
		off += (uint64_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t copied = 0, extents = 0;
	struct stat bs, ds;
	uint8_t *buf;
	off_t off = 0;
	int bfd, dfd, r = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: ember-snap-merge BASE DIFF\n"
			"  copy the pages a Diff snapshot's memory file DIFF holds onto BASE, the\n"
			"  memory file of the snapshot it was taken after (changed in place)\n");
		return 2;
	}
	if ((bfd = open(argv[1], O_RDWR | O_CLOEXEC)) < 0)
		return merge_fail("cannot open", argv[1]);
	if ((dfd = open(argv[2], O_RDONLY | O_CLOEXEC)) < 0)
		return merge_fail("cannot open", argv[2]);
	if (fstat(bfd, &bs) || fstat(dfd, &ds))
		return merge_fail("cannot stat", argv[1]);
	if (!S_ISREG(bs.st_mode) || !S_ISREG(ds.st_mode)) {
		fprintf(stderr, "ember-snap-merge: BASE and DIFF must be regular files\n");
		return 1;
	}
	if (bs.st_size != ds.st_size) {
		fprintf(stderr, "ember-snap-merge: %s is %lld bytes, %s %lld: not memory files of "
			"one microVM\n", argv[1], (long long)bs.st_size, argv[2],
			(long long)ds.st_size);
		return 1;
	}
	if (bs.st_dev == ds.st_dev && bs.st_ino == ds.st_ino) {
		fprintf(stderr, "ember-snap-merge: BASE and DIFF are the same file\n");
		return 1;
	}
	if (!(buf = malloc(MERGE_CHUNK))) {
		fprintf(stderr, "ember-snap-merge: out of memory\n");
		return 1;
	}
	while (off < ds.st_size) {
		off_t data = lseek(dfd, off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0 || (hole = lseek(dfd, data, SEEK_HOLE)) < 0) {
			r = merge_fail("cannot find the data extents of", argv[2]);
			goto out;
		}
		/* A file system that reports no holes would copy the base's pages over with zeros. */
		if (data == 0 && hole == ds.st_size && (uint64_t)ds.st_blocks * 512 < (uint64_t)ds.st_size) {
			fprintf(stderr, "ember-snap-merge: the file system of %s does not report its "
				"holes: cannot tell the Diff's pages from the rest\n", argv[2]);
			r = 1;
			goto out;
		}
		if ((r = merge_extent(dfd, bfd, (uint64_t)data, (uint64_t)hole, buf))) {
			errno = -r;
			r = merge_fail("cannot copy onto", argv[1]);
			goto out;
		}
		copied += (uint64_t)(hole - data);
		extents++;
		off = hole;
	}
	if (fsync(bfd)) {
		r = merge_fail("cannot sync", argv[1]);
		goto out;
	}
	printf("ember-snap-merge: copied %llu bytes (%llu KiB) in %llu extents of %s onto %s "
	       "(%lld bytes long)\n", (unsigned long long)copied, (unsigned long long)(copied >> 10),
	       (unsigned long long)extents, argv[2], argv[1], (long long)bs.st_size);
out:
	free(buf);
	close(bfd);
	close(dfd);
	return r;
}
