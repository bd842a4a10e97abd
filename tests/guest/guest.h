/* guest.h: constants shared by the test guest's assembly and C code (selectors, vectors, addresses). */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

/*
 * How the guest was entered. The assembly entry stubs pass one of these to
 * guest_main() so the "boot" probe can compare it with expect_entry=.
 */
#define ENTRY_ELF     1  /* ELF e_entry, 64-bit boot protocol, rsi = boot_params */
#define ENTRY_BZIMAGE 2  /* bzImage payload offset 0x200, 64-bit boot protocol */
#define ENTRY_PVH     3  /* XEN_ELFNOTE_PHYS32_ENTRY, 32-bit, ebx = hvm_start_info */

/* The guest's own GDT (head.S). Room is left for user segments and a TSS. */
#define SEL_CODE64 0x08
#define SEL_DATA   0x10
#define SEL_CODE32 0x18
#define GDT_SIZE   32    /* bytes: four descriptors */

/* Where the image is linked and loaded: boot.rst's pref_address / code32_start. */
#define GUEST_LOAD_ADDR    0x100000
/* 64-bit entry of a bzImage payload: boot.rst "64-bit BOOT PROTOCOL", offset 0x200. */
#define GUEST_BZ_ENTRY_OFF 0x200

#define GUEST_STACK_SIZE 16384

/*
 * AP trampoline page: 4 KiB aligned, below 1 MiB, clear of what VMMs use
 * (0x500-0xbfff boot structures, 0x20000 command line). The STARTUP IPI vector
 * is the page number (MP spec 1.4 B.4.2).
 */
#define SMP_TRAMPOLINE_ADDR 0x30000

/* Interrupt vectors: exceptions 0-31, then one vector per IOAPIC pin. */
#define VEC_IRQ_BASE  0x30
#define VEC_SPURIOUS  0xff

/* Control register and MSR bits used by the mode switches. */
#define CR0_PE     0x00000001
#define CR0_PG     0x80000000
#define CR4_PAE    0x00000020
#define MSR_EFER   0xc0000080
#define EFER_LME   0x00000100

#define LAPIC_BASE 0xfee00000

#endif
