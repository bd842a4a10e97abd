/* boot.c: e820 map, zero page, PVH start info, page tables and GDT for x86-64 guests. */
#include "arch/x86/boot.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"

static void boot_put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void boot_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void boot_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static unsigned boot_e820_add(struct e820_entry *out, unsigned n, uint64_t addr,
			      uint64_t end, uint32_t type)
{
	if (end <= addr)
		return n;
	out[n].addr = addr;
	out[n].size = end - addr;
	out[n].type = type;
	return n + 1;
}

unsigned boot_e820_build(uint64_t mem_size, struct e820_entry *out)
{
	struct gmem_region r[2];
	unsigned nr = gmem_layout(mem_size, LAYOUT_RAM_HOLE, r), n = 0;
	uint64_t low_end = r[0].size;

	n = boot_e820_add(out, n, 0, low_end < LAYOUT_EBDA_START ? low_end : LAYOUT_EBDA_START,
			  E820_RAM);
	n = boot_e820_add(out, n, LAYOUT_EBDA_START, LAYOUT_RESERVED_END, E820_RESERVED);
	n = boot_e820_add(out, n, LAYOUT_HIMEM_START, low_end, E820_RAM);
	n = boot_e820_add(out, n, LAYOUT_MMIO_GAP_START, LAYOUT_MMIO_GAP_END, E820_RESERVED);
	if (nr == 2)
		n = boot_e820_add(out, n, r[1].gpa, r[1].gpa + r[1].size, E820_RAM);
	return n;
}

int boot_zero_page_build(uint8_t bp[BP_SIZE], const struct boot_zero_page_args *a)
{
	uint8_t *t;

	if (a->e820_entries > E820_MAX_ENTRIES || a->cmdline_gpa > UINT32_MAX ||
	    a->initrd_gpa > UINT32_MAX || a->initrd_size > UINT32_MAX)
		return -EINVAL;
	memset(bp, 0, BP_SIZE);
	/*
	 * boot.rst: a boot loader for a bzImage copies the kernel's setup
	 * header into the zero page, then fills in the loader fields.
	 */
	if (a->setup_header) {
		if (a->setup_header_len > BP_E820_TABLE - BP_HDR)
			return -EINVAL;
		memcpy(bp + BP_HDR, a->setup_header, a->setup_header_len);
	}
	boot_put16(bp + BP_BOOT_FLAG, BP_BOOT_FLAG_MAGIC);
	boot_put32(bp + BP_HEADER, BP_HDR_MAGIC);
	bp[BP_TYPE_OF_LOADER] = BP_LOADER_UNDEFINED;
	bp[BP_LOADFLAGS] |= BP_LOADED_HIGH;
	boot_put32(bp + BP_KERNEL_ALIGNMENT, 0x01000000);
	boot_put32(bp + BP_CMD_LINE_PTR, (uint32_t)a->cmdline_gpa);
	boot_put32(bp + BP_CMDLINE_SIZE, a->cmdline_size ? a->cmdline_size - 1 : 0);
	if (a->initrd_size) {
		boot_put32(bp + BP_RAMDISK_IMAGE, (uint32_t)a->initrd_gpa);
		boot_put32(bp + BP_RAMDISK_SIZE, (uint32_t)a->initrd_size);
	}
	boot_put64(bp + BP_ACPI_RSDP_ADDR, a->rsdp_gpa);
	bp[BP_E820_ENTRIES] = (uint8_t)a->e820_entries;
	t = bp + BP_E820_TABLE;
	for (unsigned i = 0; i < a->e820_entries; i++, t += 20) {
		boot_put64(t, a->e820[i].addr);
		boot_put64(t + 8, a->e820[i].size);
		boot_put32(t + 16, a->e820[i].type);
	}
	return 0;
}

int boot_pvh_write(const struct guest_mem *m, const struct boot_zero_page_args *a)
{
	uint8_t info[PVH_INFO_SIZE] = { 0 }, mod[PVH_MODLIST_SIZE] = { 0 };
	uint8_t ent[PVH_MEMMAP_SIZE];

	boot_put32(info + 0, PVH_START_MAGIC);
	boot_put32(info + 4, 1);                 /* version 1: has memmap */
	if (a->initrd_size) {
		boot_put32(info + 12, 1);        /* nr_modules */
		boot_put64(info + 16, LAYOUT_PVH_MODLIST_START);
		boot_put64(mod + 0, a->initrd_gpa);
		boot_put64(mod + 8, a->initrd_size);
		if (gmem_write(m, LAYOUT_PVH_MODLIST_START, mod, sizeof(mod)))
			return -EFAULT;
	}
	boot_put64(info + 24, a->cmdline_gpa);
	boot_put64(info + 32, a->rsdp_gpa);
	boot_put64(info + 40, LAYOUT_PVH_MEMMAP_START);
	boot_put32(info + 48, a->e820_entries);
	for (unsigned i = 0; i < a->e820_entries; i++) {
		memset(ent, 0, sizeof(ent));
		boot_put64(ent, a->e820[i].addr);
		boot_put64(ent + 8, a->e820[i].size);
		boot_put32(ent + 16, a->e820[i].type);
		if (gmem_write(m, LAYOUT_PVH_MEMMAP_START + (uint64_t)i * PVH_MEMMAP_SIZE,
			       ent, sizeof(ent)))
			return -EFAULT;
	}
	return gmem_write(m, LAYOUT_PVH_INFO_START, info, sizeof(info)) ? -EFAULT : 0;
}

int boot_pagetables_write(const struct guest_mem *m)
{
	uint64_t *pml4 = gmem_ptr(m, LAYOUT_PML4_START, 4096);
	uint64_t *pdpt = gmem_ptr(m, LAYOUT_PDPTE_START, 4096);
	uint64_t *pd = gmem_ptr(m, LAYOUT_PDE_START, 4096);

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	/* Present | writable; the PD maps 512 x 2 MiB pages (PS bit 7). */
	pml4[0] = LAYOUT_PDPTE_START | 0x03;
	pdpt[0] = LAYOUT_PDE_START | 0x03;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83;
	return 0;
}

uint64_t boot_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) |
	       ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) |
	       ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

int boot_gdt_write(const struct guest_mem *m, int long_mode, uint64_t gdt[4])
{
	uint64_t idt = 0;

	gdt[0] = 0;
	/* 0xa09b: 64-bit code (L); 0xc09b: 32-bit code (D/B); both 4 KiB granular. */
	gdt[BOOT_GDT_CODE] = boot_gdt_entry(long_mode ? 0xa09b : 0xc09b, 0, 0xfffff);
	gdt[BOOT_GDT_DATA] = boot_gdt_entry(0xc093, 0, 0xfffff);
	gdt[BOOT_GDT_TSS] = boot_gdt_entry(long_mode ? 0x808b : 0x008b, 0, 0xfffff);
	if (gmem_write(m, LAYOUT_GDT_START, gdt, 4 * sizeof(gdt[0])) ||
	    gmem_write(m, LAYOUT_IDT_START, &idt, sizeof(idt)))
		return -EFAULT;
	return 0;
}

int boot_cmdline_build(char *out, size_t cap, const char *boot_args, const char *extra)
{
	size_t a = strlen(boot_args), e = extra ? strlen(extra) : 0;
	size_t need = a + (e && a ? 1 : 0) + e + 1;

	if (cap > LAYOUT_CMDLINE_MAX)
		cap = LAYOUT_CMDLINE_MAX;
	if (need > cap)
		return -E2BIG;
	memcpy(out, boot_args, a);
	if (e) {
		if (a)
			out[a++] = ' ';
		memcpy(out + a, extra, e);
	}
	out[a + e] = '\0';
	return (int)need;
}
