/*
 * uffd_handler.c: an example page-fault handler for PUT /snapshot/load with the Uffd memory
 * backend (src/snapshot/uffd.h has the handshake, Firecracker's).
 *
 *   uffd-handler SOCKET MEMFILE [--prefault]
 *
 * Listens on the Unix socket SOCKET (created; a stale one is replaced), prints "READY" when
 * it accepts, takes one connection: the VMM's JSON list of guest memory regions with the
 * userfaultfd attached. MEMFILE is the memory file of the snapshot (PUT /snapshot/create's
 * mem_file_path). Then:
 *   --prefault  every region is filled up front (UFFDIO_COPY of the file's data in large
 *               chunks, UFFDIO_ZEROPAGE over its holes), as REAP does;
 *   always      missing-page faults are served one page at a time from the file.
 * Exits 0 when the VMM process is gone or on SIGTERM, printing what it served; 1 on a bad
 * handshake or a userfaultfd error, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define PAGE         4096ULL
#define MAX_REGIONS  8
#define MSG_MAX      4096            /* the handshake is a few hundred bytes */
#define CHUNK        (2ULL << 20)    /* prefault: bytes per UFFDIO_COPY */
#define RECV_WAIT_S  5               /* for the message once connected */

struct region {
	uint64_t base, size, offset, page_size;
};

static struct region regions[MAX_REGIONS];
static unsigned nregions;
static const uint8_t *file;          /* MEMFILE, mapped read-only */
static uint64_t file_size;
static int uffd = -1;
static volatile sig_atomic_t stop;
static unsigned long long faults, copied, zeroed;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "uffd-handler: %s\n", what);
	exit(1);
}

/* ---- the handshake: a strict reader for exactly the JSON the VMM sends ------------------ */

static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* An unsigned decimal integer that fits 64 bits; NULL if there is none. */
static const char *num(const char *p, uint64_t *out)
{
	uint64_t v = 0;

	if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
		return NULL;
	for (; *p >= '0' && *p <= '9'; p++)
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return NULL;
	*out = v;
	return p;
}

/* One region object: known keys (each once) with integer values; others must be integers too. */
static const char *region(const char *p, struct region *r)
{
	static const char *const keys[] = { "base_host_virt_addr", "size", "offset", "page_size",
					     "page_size_kib" };
	uint64_t v[5], other;
	unsigned seen = 0;

	if (*p++ != '{')
		return NULL;
	for (p = ws(p); *p != '}';) {
		const char *k = p + 1, *end;
		unsigned i;

		if (*p != '"' || !(end = strchr(k, '"')))
			return NULL;
		for (i = 0; i < 5; i++)
			if ((size_t)(end - k) == strlen(keys[i]) && !memcmp(k, keys[i], (size_t)(end - k)))
				break;
		p = ws(end + 1);
		if (*p++ != ':')
			return NULL;
		if (i < 5 && (seen & (1u << i)))
			return NULL;
		if (!(p = num(ws(p), i < 5 ? &v[i] : &other)))
			return NULL;
		if (i < 5)
			seen |= 1u << i;
		p = ws(p);
		if (*p == ',')
			p = ws(p + 1);
		else if (*p != '}')
			return NULL;
	}
	if ((seen & 7) != 7 || !(seen & (1u << 3 | 1u << 4)))
		return NULL;
	r->base = v[0];
	r->size = v[1];
	r->offset = v[2];
	r->page_size = seen & (1u << 3) ? v[3] : v[4];
	return p + 1;
}

/* The whole list, then what it says checked against the file. 0, or -1 with @why set. */
static int parse(const char *p, const char **why)
{
	*why = "malformed JSON";
	p = ws(p);
	if (*p++ != '[')
		return -1;
	for (p = ws(p); *p != ']';) {
		struct region *r = &regions[nregions];
		uint64_t end;

		if (nregions == MAX_REGIONS) {
			*why = "too many regions";
			return -1;
		}
		if (!(p = region(p, r)))
			return -1;
		nregions++;
		*why = "a region is empty, unaligned, not 4 KiB pages or past the memory file";
		if (r->page_size != PAGE || !r->size || (r->base | r->size | r->offset) % PAGE ||
		    __builtin_add_overflow(r->offset, r->size, &end) || end > file_size ||
		    r->base + r->size < r->base)
			return -1;
		*why = "malformed JSON";
		p = ws(p);
		if (*p == ',')
			p = ws(p + 1);
		else if (*p != ']')
			return -1;
	}
	if (*ws(p + 1) != 0 || nregions == 0)
		return -1;
	return 0;
}

/* ---- filling guest memory -------------------------------------------------------------- */

/* UFFDIO_COPY of [dst, dst + len) from the file at @off; pages already there are skipped. */
static int fill(uint64_t dst, uint64_t off, uint64_t len)
{
	while (len) {
		struct uffdio_copy c = { .dst = dst, .src = (uintptr_t)(file + off), .len = len };

		if (ioctl(uffd, UFFDIO_COPY, &c) == 0) {
			copied += len;
			return 0;
		}
		/* A partial copy says how far it got (EAGAIN: the mappings moved under it). */
		if (c.copy > 0) {
			copied += (uint64_t)c.copy;
			dst += (uint64_t)c.copy;
			off += (uint64_t)c.copy;
			len -= (uint64_t)c.copy;
			continue;
		}
		if (errno == EAGAIN)
			continue;
		if (errno != EEXIST)
			return -errno;
		/* Some page in the range is there already: wake its waiters, go on page by page. */
		if (len == PAGE) {
			struct uffdio_range w = { .start = dst, .len = PAGE };

			(void)ioctl(uffd, UFFDIO_WAKE, &w);
			return 0;
		}
		for (uint64_t o = 0; o < len; o += PAGE) {
			int r = fill(dst + o, off + o, PAGE);

			if (r)
				return r;
		}
		return 0;
	}
	return 0;
}

/* UFFDIO_ZEROPAGE of [dst, dst + len): the shared zero page until the guest writes. */
static int zero(uint64_t dst, uint64_t len)
{
	while (len) {
		struct uffdio_zeropage z = { .range = { .start = dst, .len = len } };

		if (ioctl(uffd, UFFDIO_ZEROPAGE, &z) == 0) {
			zeroed += len;
			return 0;
		}
		if (z.zeropage > 0) {
			zeroed += (uint64_t)z.zeropage;
			dst += (uint64_t)z.zeropage;
			len -= (uint64_t)z.zeropage;
			continue;
		}
		if (errno == EAGAIN)
			continue;
		if (errno != EEXIST)
			return -errno;
		/* Some page in the range is there already: go on page by page, skipping those. */
		if (len == PAGE)
			return 0;
		for (uint64_t o = 0; o < len; o += PAGE) {
			int r = zero(dst + o, PAGE);

			if (r)
				return r;
		}
		return 0;
	}
	return 0;
}

/* Every region up front: the file's data copied in CHUNK pieces, its holes zero-mapped. */
static int prefault(int fd)
{
	for (unsigned i = 0; i < nregions; i++) {
		const struct region *r = &regions[i];
		uint64_t pos = r->offset, end = r->offset + r->size;

		while (pos < end) {
			off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
			uint64_t data = d < 0 || (uint64_t)d > end ? end : (uint64_t)d, h, n;
			off_t hole;
			int rc;

			data &= ~(PAGE - 1);
			if (data > pos && (rc = zero(r->base + (pos - r->offset), data - pos)))
				return rc;
			if (data >= end)
				break;
			hole = lseek(fd, (off_t)data, SEEK_HOLE);
			h = hole < 0 || (uint64_t)hole > end ? end : ((uint64_t)hole + PAGE - 1) & ~(PAGE - 1);
			for (pos = data; pos < h; pos += n) {
				n = h - pos < CHUNK ? h - pos : CHUNK;
				if ((rc = fill(r->base + (pos - r->offset), pos, n)))
					return rc;
			}
		}
	}
	return 0;
}

/* One missing-page fault: its page from the file. */
static int serve(uint64_t addr)
{
	uint64_t page = addr & ~(PAGE - 1);

	for (unsigned i = 0; i < nregions; i++) {
		const struct region *r = &regions[i];

		if (page >= r->base && page - r->base < r->size) {
			faults++;
			return fill(page, r->offset + (page - r->base), PAGE);
		}
	}
	return -EFAULT;
}

/* ---- the connection -------------------------------------------------------------------- */

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	if (strlen(path) >= sizeof(sa.sun_path))
		die("socket path too long");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		die("socket failed");
	(void)unlink(path);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 1))
		die("cannot listen on the socket");
	return s;
}

/* The message (up to its closing bracket, or EOF) and the one fd it carries. */
static int receive(int c, char *buf, size_t len, int *fd)
{
	struct timeval tv = { .tv_sec = RECV_WAIT_S };
	size_t n = 0;

	*fd = -1;
	(void)setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (n < len - 1 && !memchr(buf, ']', n)) {
		char cbuf[CMSG_SPACE(4 * sizeof(int))];
		struct iovec iov = { .iov_base = buf + n, .iov_len = len - 1 - n };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		ssize_t k = recvmsg(c, &mh, MSG_CMSG_CLOEXEC);

		if (k < 0 && errno == EINTR && !stop)
			continue;
		if (k <= 0)
			break;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int f;

				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (*fd < 0)
					*fd = f;
				else
					close(f);   /* one is all the VMM sends */
			}
		}
		n += (size_t)k;
	}
	buf[n] = 0;
	return *fd >= 0 && n > 0 ? 0 : -1;
}

/* An fd that becomes readable when process @pid ends (-1: none, then kill(pid, 0) is polled). */
static int pid_watch(int c, pid_t *pid)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);

	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &l))
		die("cannot learn the VMM's pid");
	*pid = cr.pid;
	return (int)syscall(SYS_pidfd_open, cr.pid, 0);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };
	struct stat st;
	const char *why;
	char msg[MSG_MAX];
	int prefill = argc == 4 && !strcmp(argv[3], "--prefault");
	int fd, ls, c, pidfd;
	pid_t pid;

	if (argc != 3 && !prefill) {
		fprintf(stderr, "usage: uffd-handler SOCKET MEMFILE [--prefault]\n");
		return 2;
	}
	/* No SA_RESTART: SIGTERM ends a wait in accept() or poll() with EINTR. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0)
		die("cannot open the memory file (a regular, non-empty file)");
	file_size = (uint64_t)st.st_size;
	file = mmap(NULL, file_size, PROT_READ, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
	if (file == MAP_FAILED)
		die("cannot map the memory file");

	ls = listen_on(argv[1]);
	printf("READY\n");
	fflush(stdout);
	do
		c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	while (c < 0 && errno == EINTR && !stop);
	if (c < 0 && stop)
		return 0;
	if (c < 0)
		die("accept failed");
	close(ls);
	(void)unlink(argv[1]);
	if (receive(c, msg, sizeof(msg), &uffd))
		die("no handshake (a message with a userfaultfd) from the VMM");
	if (parse(msg, &why))
		die(why);
	pidfd = pid_watch(c, &pid);
	close(c);
	printf("uffd-handler: %u region(s) for pid %d%s\n", nregions, (int)pid,
	       prefill ? ", prefaulting" : "");
	fflush(stdout);
	if (prefill && prefault(fd))
		die("prefault: UFFDIO_COPY failed");

	while (!stop) {
		struct pollfd p[2] = { { .fd = uffd, .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
		struct uffd_msg m[16];
		ssize_t n;
		int rc = poll(p, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 500);

		if (rc < 0 && errno != EINTR)
			die("poll failed");
		if ((pidfd >= 0 && p[1].revents) || (pidfd < 0 && kill(pid, 0) && errno == ESRCH))
			break;   /* the VMM is gone: so is its memory */
		if (rc <= 0 || !(p[0].revents & POLLIN))
			continue;
		n = read(uffd, m, sizeof(m));
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			die("reading the userfaultfd failed");
		}
		for (size_t i = 0; i < (size_t)n / sizeof(m[0]); i++) {
			/* Only faults were asked for; any other event is not ours to act on. */
			if (m[i].event == UFFD_EVENT_PAGEFAULT && serve(m[i].arg.pagefault.address))
				die("a fault outside the regions, or UFFDIO_COPY failed");
		}
	}
	printf("uffd-handler: %llu faults served, %llu KiB copied, %llu KiB zero-mapped\n",
	       faults, copied >> 10, zeroed >> 10);
	return 0;
}
