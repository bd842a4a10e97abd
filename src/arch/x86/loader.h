/* loader.h: kernel (ELF vmlinux, PVH ELF, bzImage) and initrd loading, every field checked. */
#ifndef EMBER_ARCH_X86_LOADER_H
#define EMBER_ARCH_X86_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "kvm/mem.h"

/* An image to read: an open regular file (fd >= 0), or a buffer (fd < 0). */
struct img_src {
	int fd;
	const uint8_t *buf;
	uint64_t size;
};

/* img_from_fd: describe an open file; 0, or -errno (not a regular file: -EINVAL). */
int img_from_fd(struct img_src *s, int fd);

/* img_read: exactly @len bytes at @off; -EINVAL if outside the image, -EIO on a short read. */
int img_read(const struct img_src *s, uint64_t off, void *dst, size_t len);

enum boot_entry_kind {
	BOOT_ENTRY_LINUX64 = 0, /* 64-bit boot protocol: long mode, rsi = zero page */
	BOOT_ENTRY_PVH,         /* PVH: 32-bit protected mode, ebx = hvm_start_info */
};

#define LOADER_SETUP_HDR_MAX (0x2d0 - 0x1f1)

struct kernel_info {
	enum boot_entry_kind kind;
	int is_bzimage;
	uint64_t entry;           /* guest-physical entry point */
	uint64_t load_start;      /* lowest guest-physical byte the kernel uses */
	uint64_t load_end;        /* one past the highest */
	uint32_t initrd_addr_max; /* highest initrd byte the kernel accepts */
	uint8_t setup_header[LOADER_SETUP_HDR_MAX]; /* bzImage: header from 0x1f1 */
	size_t setup_header_len;
};

/*
 * loader_load_kernel: recognise and load a kernel image into guest RAM.
 * ELF64 x86-64 images are loaded by their PT_LOAD segments; if a PT_NOTE
 * carries XEN_ELFNOTE_PHYS32_ENTRY the PVH entry is used, otherwise e_entry
 * with the 64-bit boot protocol. bzImages (boot protocol >= 2.12 with
 * XLF_KERNEL_64) are loaded at 1 MiB (or pref_address if not relocatable),
 * entry at load + 0x200. Every offset, length and address is checked: a
 * truncated or hostile image fails with -EINVAL/-ENOEXEC/-ENOMEM and a
 * message in @e, and never writes outside guest RAM.
 */
int loader_load_kernel(const struct img_src *s, const struct guest_mem *m,
		       struct kernel_info *ki, struct err *e);

/*
 * loader_load_initrd: copy the initrd page-aligned to the top of the low RAM
 * region, below @ki->initrd_addr_max and above the kernel. On success sets
 * *@gpa and *@size and returns 0; otherwise -ENOMEM/-EIO with @e set.
 */
int loader_load_initrd(const struct img_src *s, const struct guest_mem *m,
		       const struct kernel_info *ki, uint64_t *gpa, uint64_t *size,
		       struct err *e);

#endif
