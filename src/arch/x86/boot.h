/* boot.h: x86-64 boot structures ember writes into guest RAM (pure builders). */
#ifndef EMBER_ARCH_X86_BOOT_H
#define EMBER_ARCH_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/mem.h"

/* e820 types (ACPI spec, table 15-312). */
#define E820_RAM      1
#define E820_RESERVED 2

#define E820_MAX_ENTRIES 128   /* boot_params.e820_table capacity */

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/*
 * boot_e820_build: the e820 map for @mem_size bytes of RAM, as Firecracker
 * lays it out: RAM [0, EBDA), reserved [EBDA, 0xe0000), RAM from 1 MiB to the
 * MMIO gap, the gap reserved, RAM from 4 GiB for the rest. Fills @out (at
 * least 8 entries) and returns the number of entries.
 */
unsigned boot_e820_build(uint64_t mem_size, struct e820_entry *out);

/* Offsets into struct boot_params (Documentation/arch/x86/zero-page.rst). */
#define BP_ACPI_RSDP_ADDR    0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES      0x1e8
#define BP_HDR               0x1f1   /* struct setup_header starts here */
#define BP_SETUP_SECTS       0x1f1
#define BP_SYSSIZE           0x1f4
#define BP_BOOT_FLAG         0x1fe
#define BP_JUMP              0x200
#define BP_HEADER            0x202
#define BP_VERSION           0x206
#define BP_TYPE_OF_LOADER    0x210
#define BP_LOADFLAGS         0x211
#define BP_CODE32_START      0x214
#define BP_RAMDISK_IMAGE     0x218
#define BP_RAMDISK_SIZE      0x21c
#define BP_HEAP_END_PTR      0x224
#define BP_CMD_LINE_PTR      0x228
#define BP_INITRD_ADDR_MAX   0x22c
#define BP_KERNEL_ALIGNMENT  0x230
#define BP_RELOCATABLE       0x234
#define BP_XLOADFLAGS        0x236
#define BP_CMDLINE_SIZE      0x238
#define BP_PAYLOAD_OFFSET    0x248
#define BP_PAYLOAD_LENGTH    0x24c
#define BP_PREF_ADDRESS      0x258
#define BP_INIT_SIZE         0x260
#define BP_E820_TABLE        0x2d0
#define BP_SIZE              4096

#define BP_HDR_MAGIC         0x53726448u  /* "HdrS" */
#define BP_BOOT_FLAG_MAGIC   0xaa55
#define BP_LOADER_UNDEFINED  0xff
#define BP_LOADED_HIGH       0x01
#define BP_CAN_USE_HEAP      0x80
#define BP_XLF_KERNEL_64     0x01

/* Everything the zero page needs from the rest of the boot. */
struct boot_zero_page_args {
	const uint8_t *setup_header; /* bzImage's header bytes from 0x1f1, or NULL */
	size_t setup_header_len;
	uint64_t cmdline_gpa;
	uint32_t cmdline_size;       /* bytes including NUL */
	uint64_t initrd_gpa;         /* 0: none */
	uint64_t initrd_size;
	const struct e820_entry *e820;
	unsigned e820_entries;
	uint64_t rsdp_gpa;           /* ACPI RSDP, 0: none */
};

/*
 * boot_zero_page_build: fill the 4 KiB @bp as Linux's 64-bit boot protocol
 * expects (boot.rst "64-bit boot protocol"). Returns 0 or -EINVAL.
 */
int boot_zero_page_build(uint8_t bp[BP_SIZE], const struct boot_zero_page_args *a);

/* PVH (xen/include/public/arch-x86/hvm/start_info.h). */
#define PVH_START_MAGIC 0x336ec578u
#define PVH_INFO_SIZE    56
#define PVH_MODLIST_SIZE 32
#define PVH_MEMMAP_SIZE  24

/*
 * boot_pvh_write: write hvm_start_info (version 1), one module (the initrd,
 * if any) and the memory map at their layout.h addresses. Returns 0 or
 * -EFAULT if guest RAM cannot hold them.
 */
int boot_pvh_write(const struct guest_mem *m, const struct boot_zero_page_args *a);

/* boot_pagetables_write: identity map of the first 1 GiB with 2 MiB pages. */
int boot_pagetables_write(const struct guest_mem *m);

/* A GDT entry from flags/access (packed as 0xFFAA), base and limit. */
uint64_t boot_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);

/* GDT slots ember uses: null, code, data, TSS. */
#define BOOT_GDT_CODE 1
#define BOOT_GDT_DATA 2
#define BOOT_GDT_TSS  3

/*
 * boot_gdt_write: the 4-entry GDT for long mode (@long_mode) or 32-bit flat
 * protected mode (PVH), and an empty IDT. Also returns the entries in @gdt.
 */
int boot_gdt_write(const struct guest_mem *m, int long_mode, uint64_t gdt[4]);

/*
 * boot_cmdline_build: "<boot_args>[ <extra>]" into @out (@cap bytes, at most
 * LAYOUT_CMDLINE_MAX). Returns the length with the NUL, or -E2BIG.
 */
int boot_cmdline_build(char *out, size_t cap, const char *boot_args, const char *extra);

#endif
