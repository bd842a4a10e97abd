/* bootinfo.c: reads boot_params (Linux boot protocol) or hvm_start_info (PVH); "boot" and "initrd" probes. */
#include "bootinfo.h"
#include "cmdline.h"
#include "guest.h"
#include "lib.h"
#include "paging.h"
#include "probe.h"

/*
 * struct boot_params offsets, Documentation/arch/x86/zero-page.rst and
 * boot.rst ("THE REAL-MODE KERNEL HEADER"); the setup header starts at 0x1f1.
 */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES      0x1e8
#define BP_SETUP_SECTS       0x1f1
#define BP_BOOT_FLAG         0x1fe
#define BP_HEADER            0x202
#define BP_VERSION           0x206
#define BP_TYPE_OF_LOADER    0x210
#define BP_RAMDISK_IMAGE     0x218
#define BP_RAMDISK_SIZE      0x21c
#define BP_CMD_LINE_PTR      0x228
#define BP_XLOADFLAGS        0x236
#define BP_E820_TABLE        0x2d0
#define BP_E820_ENTRY_SIZE   20     /* packed: u64 addr, u64 size, u32 type */
#define BP_SIZE              4096

#define HDRS_MAGIC           0x53726448  /* "HdrS" */
#define XLF_KERNEL_64        0x0001

/* Xen public/arch-x86/hvm/start_info.h. */
#define PVH_MAGIC            0x336ec578
#define PVH_NR_MODULES       12
#define PVH_MODLIST_PADDR    16
#define PVH_CMDLINE_PADDR    24
#define PVH_MEMMAP_PADDR     40   /* version 1 */
#define PVH_MEMMAP_ENTRIES   48   /* version 1 */
#define PVH_SIZE             56
#define PVH_MEMMAP_ENTRY_SIZE 24  /* u64 addr, u64 size, u32 type, u32 reserved */
#define PVH_MODLIST_ENTRY_SIZE 32 /* u64 paddr, u64 size, u64 cmdline, u64 reserved */

/* Unaligned little-endian reads from guest-physical memory. */
static uint8_t bi_rd8(uint64_t a)
{
	return *(const volatile uint8_t *)(uintptr_t)a;
}

static uint16_t bi_rd16(uint64_t a)
{
	return (uint16_t)(bi_rd8(a) | bi_rd8(a + 1) << 8);
}

static uint32_t bi_rd32(uint64_t a)
{
	return bi_rd16(a) | (uint32_t)bi_rd16(a + 2) << 16;
}

static uint64_t bi_rd64(uint64_t a)
{
	return bi_rd32(a) | (uint64_t)bi_rd32(a + 4) << 32;
}

const char *bootinfo_entry_name(int entry)
{
	switch (entry) {
	case ENTRY_ELF:
		return "elf";
	case ENTRY_BZIMAGE:
		return "bzimage";
	case ENTRY_PVH:
		return "pvh";
	default:
		return "unknown";
	}
}

static void bi_add_region(struct boot_info *bi, uint64_t addr, uint64_t size, uint32_t type)
{
	if (bi->nmap < BI_MAP_MAX) {
		bi->map[bi->nmap].addr = addr;
		bi->map[bi->nmap].size = size;
		bi->map[bi->nmap].type = type;
		bi->nmap++;
	}
}

static void bi_read_boot_params(struct boot_info *bi, uint64_t bp)
{
	unsigned n;

	bi->bp_boot_flag = bi_rd16(bp + BP_BOOT_FLAG);
	bi->bp_header = bi_rd32(bp + BP_HEADER);
	bi->bp_version = bi_rd16(bp + BP_VERSION);
	bi->bp_loader = bi_rd8(bp + BP_TYPE_OF_LOADER);
	bi->bp_setup_sects = bi_rd8(bp + BP_SETUP_SECTS);
	bi->bp_xloadflags = bi_rd16(bp + BP_XLOADFLAGS);

	n = bi_rd8(bp + BP_E820_ENTRIES);
	bi->nmap_given = n;
	for (unsigned i = 0; i < n && i < BI_MAP_MAX; i++) {
		uint64_t e = bp + BP_E820_TABLE + (uint64_t)i * BP_E820_ENTRY_SIZE;

		bi_add_region(bi, bi_rd64(e), bi_rd64(e + 8), bi_rd32(e + 16));
	}
	/* ext_* hold bits 63:32 (boot.rst, "64-bit BOOT PROTOCOL" / zero-page.rst). */
	bi->cmdline_paddr = bi_rd32(bp + BP_CMD_LINE_PTR) |
			    (uint64_t)bi_rd32(bp + BP_EXT_CMD_LINE_PTR) << 32;
	bi->initrd_paddr = bi_rd32(bp + BP_RAMDISK_IMAGE) |
			   (uint64_t)bi_rd32(bp + BP_EXT_RAMDISK_IMAGE) << 32;
	bi->initrd_size = bi_rd32(bp + BP_RAMDISK_SIZE) |
			  (uint64_t)bi_rd32(bp + BP_EXT_RAMDISK_SIZE) << 32;
}

static void bi_read_start_info(struct boot_info *bi, uint64_t si)
{
	uint64_t memmap, modlist;
	uint32_t n;

	bi->pvh_magic = bi_rd32(si);
	bi->pvh_version = bi_rd32(si + 4);
	bi->pvh_nr_modules = bi_rd32(si + PVH_NR_MODULES);
	bi->cmdline_paddr = bi_rd64(si + PVH_CMDLINE_PADDR);
	if (bi->pvh_magic != PVH_MAGIC)
		return;
	if (bi->pvh_version >= 1) {
		memmap = bi_rd64(si + PVH_MEMMAP_PADDR);
		n = bi_rd32(si + PVH_MEMMAP_ENTRIES);
		bi->nmap_given = n;
		if (memmap && paging_is_mapped(memmap, (uint64_t)n * PVH_MEMMAP_ENTRY_SIZE)) {
			for (uint32_t i = 0; i < n && i < BI_MAP_MAX; i++) {
				uint64_t e = memmap + (uint64_t)i * PVH_MEMMAP_ENTRY_SIZE;

				bi_add_region(bi, bi_rd64(e), bi_rd64(e + 8), bi_rd32(e + 16));
			}
		}
	}
	/* The first module is the initrd, as Linux's PVH entry treats it. */
	modlist = bi_rd64(si + PVH_MODLIST_PADDR);
	if (bi->pvh_nr_modules && modlist && paging_is_mapped(modlist, PVH_MODLIST_ENTRY_SIZE)) {
		bi->initrd_paddr = bi_rd64(modlist);
		bi->initrd_size = bi_rd64(modlist + 8);
	}
}

void bootinfo_init(struct boot_info *bi, int entry, uint64_t info)
{
	bi->entry = entry;
	bi->info_paddr = info;
	if (entry == ENTRY_PVH) {
		bi->info_mapped = info && paging_is_mapped(info, PVH_SIZE);
		if (bi->info_mapped)
			bi_read_start_info(bi, info);
	} else {
		bi->info_mapped = info && paging_is_mapped(info, BP_SIZE);
		if (bi->info_mapped)
			bi_read_boot_params(bi, info);
	}
}

void bootinfo_load_cmdline(struct boot_info *bi)
{
	uint64_t p = bi->cmdline_paddr;
	uint64_t n = 0;

	/* Address 0 means "none" for both structures (start_info.h, boot.rst). */
	if (!p || !paging_is_mapped(p, 1))
		return;
	bi->cmdline_present = true;
	while (n < BI_CMDLINE_MAX && paging_is_mapped(p + n, 1)) {
		char c = (char)bi_rd8(p + n);

		if (!c) {
			bi->cmdline_nul = true;
			break;
		}
		bi->cmdline[n++] = c;
	}
	bi->cmdline[n] = '\0';
	bi->cmdline_len = n;
}

/*
 * "boot": the entry path is the expected one (expect_entry=elf|pvh|bzimage)
 * and the structure the VMM passed is sane. For boot_params (boot.rst):
 * boot_flag 0xAA55, header "HdrS", type_of_loader as expect_loader=<hex>
 * (default 0xff, "undefined", which Firecracker and ember write); for the
 * bzImage entry also the image's own setup header copied over (version
 * 0x020c, one setup sector, XLF_KERNEL_64), which boot.rst requires of a
 * loader. For PVH: magic 0x336ec578 and version >= 1 (the memory map).
 */
void bootinfo_probe(struct boot_info *bi, struct probe_result *r)
{
	const char *name = bootinfo_entry_name(bi->entry), *want;
	uint64_t loader = 0xff;
	size_t len;

	probe_note(r, "entry=%s info=0x%lx", name, bi->info_paddr);
	if (cmdline_get(bi->cmdline, "expect_entry", &want, &len) && !str_eq_n(want, len, name))
		probe_fail(r, "expected-entry=%.*s", (int)len, want);
	if (!bi->info_mapped) {
		probe_fail(r, "boot-info-not-mapped");
		return;
	}
	if (bi->entry == ENTRY_PVH) {
		probe_note(r, "magic=0x%08x version=%u modules=%u", bi->pvh_magic,
			   bi->pvh_version, bi->pvh_nr_modules);
		if (bi->pvh_magic != PVH_MAGIC)
			probe_fail(r, "bad-magic");
		if (bi->pvh_version < 1)
			probe_fail(r, "version<1-no-memmap");
		return;
	}
	probe_note(r, "boot_flag=0x%04x version=0x%04x loader=0x%02x", bi->bp_boot_flag,
		   bi->bp_version, bi->bp_loader);
	if (bi->bp_boot_flag != 0xaa55)
		probe_fail(r, "bad-boot_flag");
	if (bi->bp_header != HDRS_MAGIC)
		probe_fail(r, "bad-header=0x%08x", bi->bp_header);
	if (cmdline_get_u64(bi->cmdline, "expect_loader", true, &loader) < 0)
		probe_fail(r, "bad-expect_loader");
	if (bi->bp_loader != loader)
		probe_fail(r, "loader-want-0x%02lx", loader);
	if (bi->entry == ENTRY_BZIMAGE) {
		if (bi->bp_version != 0x020c || bi->bp_setup_sects != 1 ||
		    !(bi->bp_xloadflags & XLF_KERNEL_64))
			probe_fail(r, "setup-header-not-from-image(sects=%u,xloadflags=0x%x)",
				   bi->bp_setup_sects, bi->bp_xloadflags);
	}
}

/*
 * "initrd": an initrd was given (boot_params ramdisk_image/size with their
 * ext_ halves, or PVH module 0), lies in mapped memory, and its size and
 * CRC-32 equal initrd_size=<n> and initrd_crc32=<hex>, both required.
 */
void initrd_probe(struct boot_info *bi, struct probe_result *r)
{
	uint64_t size, crc_want;
	int hs, hc;
	uint32_t crc;

	hs = cmdline_get_u64(bi->cmdline, "initrd_size", false, &size);
	hc = cmdline_get_u64(bi->cmdline, "initrd_crc32", true, &crc_want);
	if (hs <= 0 || hc <= 0)
		probe_fail(r, "need-initrd_size=-and-initrd_crc32=");
	if (!bi->initrd_paddr || !bi->initrd_size) {
		probe_fail(r, "no-initrd");
		return;
	}
	probe_note(r, "at=0x%lx size=%lu", bi->initrd_paddr, bi->initrd_size);
	if (!paging_is_mapped(bi->initrd_paddr, bi->initrd_size)) {
		probe_fail(r, "not-mapped");
		return;
	}
	crc = crc32_update(0, (const void *)(uintptr_t)bi->initrd_paddr, bi->initrd_size);
	probe_note(r, "crc32=0x%08x", crc);
	if (hs > 0 && size != bi->initrd_size)
		probe_fail(r, "size-want-%lu", size);
	if (hc > 0 && crc != crc_want)
		probe_fail(r, "crc32-want-0x%08lx", crc_want);
}
