/* e820.c: memory-map checks (ordering, MMIO gap, size, Firecracker layout) and RAM access test. */
#include "e820.h"
#include "bootinfo.h"
#include "cmdline.h"
#include "lib.h"
#include "paging.h"
#include "probe.h"

#define MIB 0x100000UL
#define KIB 0x400UL

/* Firecracker's x86-64 layout (arch/x86_64/layout.rs; compat guide "Guest ABI"). */
#define FC_EBDA_START    0x9fc00ULL
#define FC_RESERVED_END  0xe0000ULL
#define FC_HIMEM_START   0x100000ULL

/* The image, stack and page tables: RAM we are running on (guest.ld). */
extern char guest_image_start[], guest_image_end[];

static bool e820_ram_unmapped;

int e820_map_ram(const struct boot_info *bi)
{
	for (unsigned i = 0; i < bi->nmap; i++) {
		const struct bi_region *m = &bi->map[i];
		uint64_t end = m->addr + m->size;

		if (m->type != E820_RAM || end <= E820_GAP_END || end < m->addr)
			continue;
		if (paging_map(m->addr < E820_GAP_END ? E820_GAP_END : m->addr,
			       end - (m->addr < E820_GAP_END ? E820_GAP_END : m->addr), false)) {
			e820_ram_unmapped = true;
			return -1;
		}
	}
	return 0;
}

bool e820_is_ram(const struct boot_info *bi, uint64_t addr, uint64_t len)
{
	for (unsigned i = 0; i < bi->nmap; i++) {
		const struct bi_region *m = &bi->map[i];

		if (m->type == E820_RAM && addr >= m->addr && addr + len >= addr &&
		    addr + len <= m->addr + m->size)
			return true;
	}
	return false;
}

/*
 * Write a pattern to every 8-byte word of [a, a + len), read it back and
 * restore the old value. Words inside our own image are only rewritten with
 * their own value: that still proves the memory writable without pulling the
 * stack or the code from under our feet. Returns the first bad address or 0.
 */
static uint64_t e820_touch(uint64_t a, uint64_t len)
{
	const uint64_t img0 = (uintptr_t)guest_image_start, img1 = (uintptr_t)guest_image_end;
	const uint64_t pat = 0xa5a55a5a0ff0f00fULL;

	for (uint64_t p = a; p + 8 <= a + len; p += 8) {
		volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)p;
		uint64_t old = *w;

		if (p + 8 > img0 && p < img1) {
			*w = old;
			continue;
		}
		*w = old ^ pat;
		if (*w != (old ^ pat))
			return p ? p : 1;
		*w = old;
	}
	return 0;
}

/*
 * e820_sanitize: what Linux's e820__update_table() does before using a map:
 * sort by address and drop empty entries. QEMU's PVH memory map needs it (it
 * lists reserved areas first and ends with an empty entry); ember's must not.
 * Returns the number of entries that were out of order or empty.
 */
static unsigned e820_sanitize(struct boot_info *bi)
{
	unsigned changed = 0, n = 0;

	for (unsigned i = 0; i < bi->nmap; i++) {
		if (!bi->map[i].size) {
			changed++;
			continue;
		}
		bi->map[n++] = bi->map[i];
	}
	bi->nmap = n;
	for (unsigned i = 1; i < n; i++) {
		struct bi_region m = bi->map[i];
		unsigned j = i;

		if (bi->map[j - 1].addr > m.addr)
			changed++;
		while (j > 0 && bi->map[j - 1].addr > m.addr) {
			bi->map[j] = bi->map[j - 1];
			j--;
		}
		bi->map[j] = m;
	}
	return changed;
}

/* Firecracker's exact map for expect_mem_mib=mib (0: sizes unknown). */
static void e820_check_firecracker(const struct boot_info *bi, uint64_t mib, struct probe_result *r)
{
	uint64_t mem = mib * MIB;
	uint64_t low_end = mem < E820_GAP_START ? mem : E820_GAP_START;
	bool low = false, rsv = false, him = false, high = false;
	unsigned ram = 0;

	for (unsigned i = 0; i < bi->nmap; i++) {
		const struct bi_region *m = &bi->map[i];
		uint64_t end = m->addr + m->size;

		if (m->type == E820_RESERVED && m->addr == FC_EBDA_START &&
		    end >= FC_RESERVED_END && end <= FC_HIMEM_START)
			rsv = true;
		if (m->type != E820_RAM)
			continue;
		ram++;
		if (m->addr == 0 && end == FC_EBDA_START)
			low = true;
		else if (m->addr == FC_HIMEM_START && (!mib || end == low_end))
			him = true;
		else if (m->addr == E820_GAP_END && (!mib || end == E820_GAP_END + mem - E820_GAP_START))
			high = true;
		else
			probe_fail(r, "fc-unexpected-ram=0x%lx+0x%lx", m->addr, m->size);
	}
	if (!low)
		probe_fail(r, "fc-no-ram[0,0x9fc00)");
	if (!rsv)
		probe_fail(r, "fc-no-reserved[0x9fc00,0xe0000)");
	if (!him)
		probe_fail(r, "fc-no-ram-from-1MiB");
	if (mib && (mem > E820_GAP_START) != high)
		probe_fail(r, "fc-high-ram-%s", high ? "unexpected" : "missing");
	probe_note(r, "layout=firecracker ram-entries=%u", ram);
}

/*
 * "e820": the map is sorted, non-overlapping and has no RAM in the 32-bit
 * MMIO gap; usable RAM adds up to expect_mem_mib=<N> (minus at most 1 MiB
 * for the legacy BIOS hole) with RAM above 4 GiB exactly when N > 3072; the
 * first and last 4 KiB of every RAM region really are read/write memory.
 * e820_layout=firecracker adds the exact Firecracker layout; e820_sanitize
 * sorts the map and drops empty entries first, as Linux would.
 */
void e820_probe(struct boot_info *bi, struct probe_result *r)
{
	uint64_t total = 0, mib = 0, prev_end = 0;
	bool high = false;
	unsigned tested = 0;
	const char *lay;
	size_t len;
	int hm;

	if (bi->nmap == 0) {
		probe_fail(r, "no-memory-map");
		return;
	}
	probe_note(r, "entries=%u", bi->nmap_given);
	if (bi->nmap_given > BI_MAP_MAX)
		probe_fail(r, "more-than-%u-entries", BI_MAP_MAX);
	if (cmdline_has_word(bi->cmdline, "e820_sanitize"))
		probe_note(r, "sanitized=%u", e820_sanitize(bi));
	for (unsigned i = 0; i < bi->nmap; i++) {
		const struct bi_region *m = &bi->map[i];
		uint64_t end = m->addr + m->size;

		if (m->size == 0 || end < m->addr)
			probe_fail(r, "bad-size[%u]", i);
		if (i > 0 && m->addr < prev_end)
			probe_fail(r, "unsorted-or-overlapping[%u]=0x%lx", i, m->addr);
		prev_end = end;
		if (m->type != E820_RAM)
			continue;
		total += m->size;
		if (end > E820_GAP_START && m->addr < E820_GAP_END)
			probe_fail(r, "ram-in-mmio-gap=0x%lx+0x%lx", m->addr, m->size);
		if (end > E820_GAP_END)
			high = true;
	}
	probe_note(r, "ram=%luKiB high=%s", total / KIB, high ? "yes" : "no");
	if (e820_ram_unmapped)
		probe_fail(r, "ram-beyond-%uGiB-unmappable", PAGING_MAX_GIB);

	/* Touch RAM only in a map that made sense so far. */
	for (unsigned i = 0; i < bi->nmap && !r->failed; i++) {
		const struct bi_region *m = &bi->map[i];
		uint64_t n = m->size < 4096 ? m->size : 4096, bad;

		if (m->type != E820_RAM)
			continue;
		if (!paging_is_mapped(m->addr, m->size)) {
			probe_fail(r, "ram-not-mapped=0x%lx", m->addr);
			continue;
		}
		bad = e820_touch(m->addr, n);
		if (!bad && m->size > 4096)
			bad = e820_touch(m->addr + m->size - n, n);
		if (bad)
			probe_fail(r, "ram-readback-failed-at=0x%lx", bad);
		tested++;
	}
	probe_note(r, "touched=%u", tested);

	hm = cmdline_get_u64(bi->cmdline, "expect_mem_mib", false, &mib);
	if (hm < 0)
		probe_fail(r, "bad-expect_mem_mib");
	if (hm > 0) {
		if (total > mib * MIB || total + MIB < mib * MIB)
			probe_fail(r, "ram-want-%luMiB", mib);
		if (high != (mib > 3072))
			probe_fail(r, "high-ram-%s", high ? "unexpected" : "missing");
	}

	if (cmdline_get(bi->cmdline, "e820_layout", &lay, &len)) {
		if (str_eq_n(lay, len, "firecracker"))
			e820_check_firecracker(bi, hm > 0 ? mib : 0, r);
		else
			probe_fail(r, "unknown-e820_layout=%.*s", (int)len, lay);
	}
}
