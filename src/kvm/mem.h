/* mem.h: guest RAM and the one checked way to reach it from ember. */
#ifndef EMBER_KVM_MEM_H
#define EMBER_KVM_MEM_H

#include <stddef.h>
#include <stdint.h>

/* A guest-physical address: never a host pointer. */
typedef uint64_t gpa_t;

/* One contiguous run of guest RAM backed by host memory. */
struct gmem_region {
	gpa_t gpa;
	uint64_t size;
	uint8_t *host;
};

/*
 * Guest RAM: one host mapping split into at most two guest-physical regions,
 * [0, min(size, hole.start)) and, for larger guests, [hole.end, hole.end + rest),
 * so that RAM never overlaps the hole the caller names (on x86 the 32-bit MMIO
 * gap, [3 GiB, 4 GiB): arch/x86/layout.h's LAYOUT_RAM_HOLE).
 */
struct guest_mem {
	uint8_t *base;      /* host mapping of all guest RAM, or NULL */
	uint64_t size;      /* bytes of guest RAM */
	int owned;          /* base was mmap()ed by gmem_init() */
	unsigned nregions;  /* 1 or 2 */
	struct gmem_region region[2];
};

/*
 * A guest-physical range RAM must leave free (on x86, the 32-bit MMIO gap the
 * architecture's layout names); start == end means none.
 */
struct gmem_hole {
	gpa_t start;
	gpa_t end;
};

/*
 * gmem_layout: split @size bytes of RAM around @hole (pure): RAM fills
 * [0, hole.start) and goes on from hole.end. Fills out[0..n) with host == NULL
 * and returns n (1 or 2).
 */
unsigned gmem_layout(uint64_t size, struct gmem_hole hole, struct gmem_region out[2]);

/*
 * gmem_init: map @size bytes (laid out around @hole) of private, anonymous, MAP_NORESERVE guest RAM.
 * Returns 0 or -errno; @m is zeroed first, so gmem_destroy() is always safe.
 */
int gmem_init(struct guest_mem *m, uint64_t size, struct gmem_hole hole);

/*
 * gmem_init_file: guest RAM of @size bytes (laid out around @hole) mapped
 * private from the first @size bytes of file @fd: pages come in from the page
 * cache as the guest touches them, and what the guest writes stays its own
 * (copy-on-write), so many VMs share one file's unmodified pages. The file
 * must hold @size bytes. Returns 0, -EINVAL (too small, not a regular file)
 * or -errno; @m is zeroed first. @fd may be closed afterwards.
 */
int gmem_init_file(struct guest_mem *m, int fd, uint64_t size, struct gmem_hole hole);

/*
 * gmem_init_from: describe caller-owned host memory @host of @size bytes as
 * guest RAM (unit tests and fuzzers). Returns 0 or -EINVAL.
 */
int gmem_init_from(struct guest_mem *m, void *host, uint64_t size, struct gmem_hole hole);

/* gmem_destroy: unmap what gmem_init() mapped; safe on a zeroed object. */
void gmem_destroy(struct guest_mem *m);

/*
 * gmem_ptr: the host address of guest range [gpa, gpa + len), or NULL when
 * any byte of it is outside guest RAM or the range wraps. The range must lie
 * inside one region. len == 0 is treated as len == 1. Any thread.
 */
void *gmem_ptr(const struct guest_mem *m, gpa_t gpa, uint64_t len);

/* gmem_read / gmem_write: copy through gmem_ptr(); 0 or -EFAULT. */
int gmem_read(const struct guest_mem *m, gpa_t gpa, void *dst, size_t len);
int gmem_write(const struct guest_mem *m, gpa_t gpa, const void *src, size_t len);

/* gmem_top_low: end of the RAM region that starts at 0 (for initrd placement). */
uint64_t gmem_top_low(const struct guest_mem *m);

#endif
