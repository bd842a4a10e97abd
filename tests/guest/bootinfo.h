/* bootinfo.h: what the VMM handed over (boot_params or hvm_start_info), normalised. */
#ifndef GUEST_BOOTINFO_H
#define GUEST_BOOTINFO_H

#include <stdbool.h>
#include <stdint.h>

/* boot_params holds at most 128 e820 entries (E820_MAX_ENTRIES_ZEROPAGE). */
#define BI_MAP_MAX     128
/* Firecracker's command-line area: 2048 bytes including the NUL. */
#define BI_CMDLINE_MAX 2048

/* e820 types (ACPI 6.x table 15-374; PVH's XEN_HVM_MEMMAP_TYPE_* match). */
#define E820_RAM      1
#define E820_RESERVED 2

struct bi_region {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

struct boot_info {
	int entry;            /* ENTRY_* */
	uint64_t info_paddr;  /* boot_params or hvm_start_info */
	bool info_mapped;     /* info_paddr could be read at all */

	/* boot_params setup header fields (ELF and bzImage entries). */
	uint16_t bp_boot_flag;
	uint32_t bp_header;
	uint16_t bp_version;
	uint8_t bp_loader;
	uint8_t bp_setup_sects;
	uint16_t bp_xloadflags;

	/* hvm_start_info fields (PVH entry). */
	uint32_t pvh_magic;
	uint32_t pvh_version;
	uint32_t pvh_nr_modules;

	/* Memory map as given, in the VMM's order; nmap_given may exceed BI_MAP_MAX. */
	struct bi_region map[BI_MAP_MAX];
	unsigned nmap;
	unsigned nmap_given;

	/* Command line: a copy, always NUL-terminated here. */
	uint64_t cmdline_paddr;
	bool cmdline_present;
	bool cmdline_nul;     /* the VMM's copy had a NUL within BI_CMDLINE_MAX */
	uint64_t cmdline_len;
	char cmdline[BI_CMDLINE_MAX + 1];

	uint64_t initrd_paddr;
	uint64_t initrd_size;
};

/*
 * Read the memory map and the command-line and initrd pointers for the given
 * entry kind from the structure at info. Only [0, 4 GiB) needs to be mapped.
 * bi must be zeroed by the caller.
 */
void bootinfo_init(struct boot_info *bi, int entry, uint64_t info);

/* Copy the command line into bi->cmdline; call once RAM above 4 GiB is mapped. */
void bootinfo_load_cmdline(struct boot_info *bi);

/* "elf", "pvh", "bzimage" or "unknown". */
const char *bootinfo_entry_name(int entry);

#endif
