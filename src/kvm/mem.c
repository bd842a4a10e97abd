/* mem.c: guest RAM mapping and bounds-checked guest-physical access. */
#include "kvm/mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

unsigned gmem_layout(uint64_t size, struct gmem_hole hole, struct gmem_region out[2])
{
	memset(out, 0, 2 * sizeof(out[0]));
	out[0].gpa = 0;
	if (hole.end <= hole.start || size <= hole.start) {
		out[0].size = size;
		return 1;
	}
	out[0].size = hole.start;
	out[1].gpa = hole.end;
	out[1].size = size - hole.start;
	return 2;
}

static void gmem_fill(struct guest_mem *m, uint8_t *host, uint64_t size, struct gmem_hole hole)
{
	m->base = host;
	m->size = size;
	m->nregions = gmem_layout(size, hole, m->region);
	m->region[0].host = host;
	if (m->nregions == 2)
		m->region[1].host = host + m->region[0].size;
}

int gmem_init(struct guest_mem *m, uint64_t size, struct gmem_hole hole)
{
	void *p;

	memset(m, 0, sizeof(*m));
	if (size == 0 || size > (1ULL << 46))
		return -EINVAL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* Guest RAM is large and sparse: no core dumps, no fork copies. */
	(void)madvise(p, size, MADV_DONTDUMP);
	(void)madvise(p, size, MADV_DONTFORK);
	gmem_fill(m, p, size, hole);
	m->owned = 1;
	return 0;
}

int gmem_init_file(struct guest_mem *m, int fd, uint64_t size, struct gmem_hole hole)
{
	struct stat st;
	void *p;

	memset(m, 0, sizeof(*m));
	if (size == 0 || size > (1ULL << 46) || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < size)
		return -EINVAL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	(void)madvise(p, size, MADV_DONTDUMP);
	(void)madvise(p, size, MADV_DONTFORK);
	gmem_fill(m, p, size, hole);
	m->owned = 1;
	return 0;
}

int gmem_init_from(struct guest_mem *m, void *host, uint64_t size, struct gmem_hole hole)
{
	memset(m, 0, sizeof(*m));
	if (!host || size == 0)
		return -EINVAL;
	gmem_fill(m, host, size, hole);
	return 0;
}

void gmem_destroy(struct guest_mem *m)
{
	if (m->owned && m->base)
		munmap(m->base, m->size);
	memset(m, 0, sizeof(*m));
}

void *gmem_ptr(const struct guest_mem *m, gpa_t gpa, uint64_t len)
{
	gpa_t end;
	unsigned i;

	if (len == 0)
		len = 1;
	if (__builtin_add_overflow(gpa, len, &end))
		return NULL;
	for (i = 0; i < m->nregions; i++) {
		const struct gmem_region *r = &m->region[i];

		if (gpa >= r->gpa && end <= r->gpa + r->size)
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

int gmem_read(const struct guest_mem *m, gpa_t gpa, void *dst, size_t len)
{
	void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gmem_write(const struct guest_mem *m, gpa_t gpa, const void *src, size_t len)
{
	void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

uint64_t gmem_top_low(const struct guest_mem *m)
{
	return m->nregions ? m->region[0].size : 0;
}
