/* mem.h: guest RAM and the one checked way to reach it from ember. */
#ifndef EMBER_KVM_MEM_H
#define EMBER_KVM_MEM_H

#include <stdbool.h>
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
	/*
	 * Dirty page tracking (gmem_track_dirty()): one bit per GMEM_PAGE of RAM,
	 * indexed by RAM byte offset (the memory file's offset, not the guest-physical
	 * address), set by ember wherever it writes guest RAM after boot; NULL: off.
	 * dirty_gen counts the times gmem_dirty_take() emptied it.
	 */
	uint64_t *dirty;
	uint32_t dirty_gen;
};

/* The page size of dirty tracking and of snapshot memory files. */
#define GMEM_PAGE 4096ULL

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

/*
 * gmem_offset: the RAM byte offset of guest-physical @gpa (its byte in the
 * host mapping and in a snapshot's memory file): gpa itself below the hole,
 * gpa - (hole.end - hole.start) above it. 0, or -EFAULT outside RAM. Pure.
 */
int gmem_offset(const struct guest_mem *m, gpa_t gpa, uint64_t *off);

/* gmem_dirty_words: how many uint64_t words the dirty bitmap of @m has. Pure. */
size_t gmem_dirty_words(const struct guest_mem *m);

/*
 * gmem_track_dirty: turn ember's dirty bitmap on (allocated, all clear) or
 * off (freed). 0 or -ENOMEM. Owner (main or VMM) thread, no device running.
 */
int gmem_track_dirty(struct guest_mem *m, bool on);

/*
 * gmem_mark_dirty: mark every page [gpa, gpa + len) touches as written by
 * ember (bytes outside RAM are ignored; len 0 marks nothing). Atomic: any
 * thread. Nothing when tracking is off (one NULL test).
 */
void gmem_mark_dirty(const struct guest_mem *m, gpa_t gpa, uint64_t len);

/*
 * gmem_mark_dirty_host: the same for host range [p, p + len) inside @m's
 * mapping (what gmem_ptr() returned); bytes outside it are ignored. Any thread.
 */
void gmem_mark_dirty_host(const struct guest_mem *m, const void *p, uint64_t len);

/*
 * gmem_dirty_take: move the bitmap into @out (gmem_dirty_words() words; NULL:
 * drop it), leaving it clear, word by word atomically, and bump dirty_gen.
 * A page marked meanwhile is in @out or stays marked, never lost. Nothing
 * when tracking is off (@out then zeroed). VMM thread, devices paused.
 */
void gmem_dirty_take(struct guest_mem *m, uint64_t *out);

/*
 * gmem_dirty_or_log: OR KVM's dirty log @log of region @i (its slot: bit j is
 * the region's page j, at gpa region[i].gpa + j * GMEM_PAGE) into @bits, a
 * bitmap by RAM byte offset as gmem_dirty_take() fills: bit j lands on the
 * page of RAM offset gmem_offset(region[i].gpa) + j * GMEM_PAGE. Pure.
 */
void gmem_dirty_or_log(const struct guest_mem *m, unsigned i, const uint64_t *log, uint64_t *bits);

/* gmem_dirty_merge: OR @bits (as gmem_dirty_take() gave them) back into the bitmap. */
void gmem_dirty_merge(const struct guest_mem *m, const uint64_t *bits);

/* gmem_top_low: end of the RAM region that starts at 0 (for initrd placement). */
uint64_t gmem_top_low(const struct guest_mem *m);

#endif
