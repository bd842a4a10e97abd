/* mem.c: guest RAM mapping and bounds-checked guest-physical access. */
#include "kvm/mem.h"

#include <errno.h>
#include <stdlib.h>
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
	free(m->dirty);
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

int gmem_offset(const struct guest_mem *m, gpa_t gpa, uint64_t *off)
{
	uint64_t below = 0;

	for (unsigned i = 0; i < m->nregions; i++) {
		const struct gmem_region *r = &m->region[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size) {
			*off = below + (gpa - r->gpa);
			return 0;
		}
		below += r->size;
	}
	return -EFAULT;
}

size_t gmem_dirty_words(const struct guest_mem *m)
{
	uint64_t pages = (m->size + GMEM_PAGE - 1) / GMEM_PAGE;

	return (size_t)((pages + 63) / 64);
}

int gmem_track_dirty(struct guest_mem *m, bool on)
{
	if (!on) {
		free(m->dirty);
		m->dirty = NULL;
		return 0;
	}
	if (m->dirty)
		return 0;
	m->dirty = calloc(gmem_dirty_words(m) ? gmem_dirty_words(m) : 1, sizeof(uint64_t));
	return m->dirty ? 0 : -ENOMEM;
}

/* Mark the pages of RAM bytes [off, off + len), clipped to RAM. */
static void gmem_mark_offsets(const struct guest_mem *m, uint64_t off, uint64_t len)
{
	uint64_t first, last;

	if (!len || off >= m->size)
		return;
	if (len > m->size - off)
		len = m->size - off;
	first = off / GMEM_PAGE;
	last = (off + len - 1) / GMEM_PAGE;
	for (uint64_t pg = first; pg <= last; pg++) {
		uint64_t bit = 1ULL << (pg & 63), *w = &m->dirty[pg >> 6];

		/* Most marks hit a page already marked: a load spares the locked write. */
		if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & bit))
			__atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
	}
}

void gmem_mark_dirty(const struct guest_mem *m, gpa_t gpa, uint64_t len)
{
	uint64_t below = 0;

	if (!m->dirty || !len)
		return;
	/* Each region the range overlaps, clipped to it (a range may span the hole). */
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct gmem_region *r = &m->region[i];
		uint64_t lo = gpa > r->gpa ? gpa : r->gpa;
		uint64_t end = len > UINT64_MAX - gpa ? UINT64_MAX : gpa + len;
		uint64_t rend = r->gpa + r->size;

		if (end > rend)
			end = rend;
		if (lo < end)
			gmem_mark_offsets(m, below + (lo - r->gpa), end - lo);
		below += r->size;
	}
}

void gmem_mark_dirty_host(const struct guest_mem *m, const void *p, uint64_t len)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)m->base;

	if (!m->dirty || !len || a < b || a - b >= m->size)
		return;
	gmem_mark_offsets(m, a - b, len);
}

void gmem_dirty_take(struct guest_mem *m, uint64_t *out)
{
	size_t n = gmem_dirty_words(m);

	if (!m->dirty) {
		if (out)
			memset(out, 0, n * sizeof(*out));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t w = __atomic_exchange_n(&m->dirty[i], 0, __ATOMIC_ACQ_REL);

		if (out)
			out[i] = w;
	}
	__atomic_fetch_add(&m->dirty_gen, 1, __ATOMIC_RELEASE);
}

void gmem_dirty_merge(const struct guest_mem *m, const uint64_t *bits)
{
	if (!m->dirty)
		return;
	for (size_t i = 0, n = gmem_dirty_words(m); i < n; i++)
		if (bits[i])
			__atomic_fetch_or(&m->dirty[i], bits[i], __ATOMIC_RELAXED);
}

void gmem_dirty_or_log(const struct guest_mem *m, unsigned i, const uint64_t *log, uint64_t *bits)
{
	uint64_t first, pages;

	if (i >= m->nregions || gmem_offset(m, m->region[i].gpa, &first))
		return;
	first /= GMEM_PAGE;
	pages = m->region[i].size / GMEM_PAGE;
	for (uint64_t w = 0; w < (pages + 63) / 64; w++) {
		uint64_t v = log[w];

		while (v) {
			uint64_t j = w * 64 + (uint64_t)__builtin_ctzll(v), pg = first + j;

			v &= v - 1;
			if (j < pages)
				bits[pg >> 6] |= 1ULL << (pg & 63);
		}
	}
}
