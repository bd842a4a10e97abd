/* pvhnote.S: the PVH ELF note, linked only into guest-pvh.elf. */

/*
 * XEN_ELFNOTE_PHYS32_ENTRY (18, xen/include/public/elfnote.h): name "Xen",
 * a 4-byte descriptor holding the physical address of the 32-bit PVH entry.
 * Loaders (QEMU, Firecracker's linux-loader) find it through a PT_NOTE
 * segment and then prefer it over e_entry. Layout as Linux emits it:
 * 4-byte aligned fields.
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

	.section .note.Xen, "a", @note
	.balign	4
	.long	2f - 1f			/* namesz */
	.long	4f - 3f			/* descsz */
	.long	XEN_ELFNOTE_PHYS32_ENTRY
1:	.asciz	"Xen"
2:	.balign	4
3:	.long	pvh_entry32
4:	.balign	4
