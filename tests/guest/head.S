/* head.S: entry points (64-bit ELF, bzImage, PVH, AP), GDT, mode switches, boot stack. */
#include "guest.h"

/*
 * Enter long mode from 32-bit protected mode with paging off. %eax holds the
 * PML4 address. Intel SDM vol. 3A 9.8.5 "Initializing IA-32e Mode": PAE on,
 * CR3 loaded, EFER.LME set, then paging on; the far jump that follows loads a
 * 64-bit code segment.
 */
.macro LONG_MODE_ON
	movl	%eax, %cr3
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$(CR0_PG | CR0_PE), %eax
	movl	%eax, %cr0
.endm

/*
 * .head is linked first, at GUEST_LOAD_ADDR. A bzImage's protected-mode
 * payload starts here; boot.rst puts its 64-bit entry at offset 0x200.
 */
	.section .head, "ax"
	.code32
	.globl	startup_32
startup_32:
	/* The 32-bit boot protocol (code32_start) is not supported: stop. */
	cli
1:	hlt
	jmp	1b

	.org	GUEST_BZ_ENTRY_OFF
	.code64
	.globl	entry_bzimage64
entry_bzimage64:
	movl	$ENTRY_BZIMAGE, %edi
	jmp	entry64_common

	.text
/*
 * ELF e_entry: Linux 64-bit boot protocol (boot.rst). Long mode, paging on
 * with the first GiB identity mapped by the VMM, %rsi = boot_params,
 * interrupts off. Nothing else about the VMM's GDT or stack is assumed.
 */
	.code64
	.globl	entry_elf64
entry_elf64:
	movl	$ENTRY_ELF, %edi
entry64_common:
	cli
	cld
	movl	%edi, %r12d		/* entry kind */
	movq	%rsi, %r13		/* boot_params */
	lgdt	gdt_desc(%rip)
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	leaq	boot_stack_top(%rip), %rsp
	/* Reload CS with our own 64-bit selector through a far return. */
	pushq	$SEL_CODE64
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:	/* .bss is not part of the file; VMMs need not zero it, so we do. */
	leaq	guest_bss_start(%rip), %rdi
	leaq	guest_bss_end(%rip), %rcx
	subq	%rdi, %rcx
	shrq	$3, %rcx
	xorl	%eax, %eax
	rep stosq
	movl	%r12d, %edi
	movq	%r13, %rsi
	call	guest_main
2:	cli
	hlt
	jmp	2b

/*
 * PVH entry (XEN_ELFNOTE_PHYS32_ENTRY): 32-bit protected mode, paging off,
 * %ebx = hvm_start_info, CS/DS flat but with unspecified selectors and no
 * GDT we may rely on (Xen docs/misc/pvh.pandoc). Build a bootstrap identity
 * map of the first GiB with 2 MiB pages and enter long mode.
 */
	/* 32-bit code lives in its own section so disassemblers can be told its mode. */
	.section .text32, "ax"
	.code32
	.globl	pvh_entry32
pvh_entry32:
	cli
	cld
	movl	%ebx, %ebp
	lgdt	gdt_desc
	ljmp	$SEL_CODE32, $1f
1:	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	movl	$boot_stack_top, %esp
	movl	$guest_bss_start, %edi
	movl	$guest_bss_end, %ecx
	subl	%edi, %ecx
	shrl	$2, %ecx
	xorl	%eax, %eax
	rep stosl
	/* PD: 512 entries of 2 MiB, present + writable + PS (SDM 4.5, table 4-18). */
	movl	$boot_pd, %edi
	movl	$0x83, %eax
	movl	$512, %ecx
2:	movl	%eax, (%edi)
	addl	$0x200000, %eax
	addl	$8, %edi
	decl	%ecx
	jnz	2b
	movl	$(boot_pd + 3), boot_pdpt
	movl	$(boot_pdpt + 3), boot_pml4
	movl	$boot_pml4, %eax
	LONG_MODE_ON
	ljmp	$SEL_CODE64, $pvh_entry64

	.text
	.code64
pvh_entry64:
	movl	$ENTRY_PVH, %edi
	movl	%ebp, %esi
	call	guest_main
3:	cli
	hlt
	jmp	3b

/*
 * Application processors arrive here from the real-mode trampoline
 * (trampoline.S) in 32-bit protected mode with our GDT loaded. They switch to
 * long mode on the page tables the BSP built (smp_ap_cr3), record their APIC
 * ID, count themselves and halt for good.
 */
	.section .text32, "ax"
	.code32
	.globl	ap_entry32
ap_entry32:
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	smp_ap_cr3, %eax
	LONG_MODE_ON
	ljmp	$SEL_CODE64, $ap_entry64

	.text
	.code64
ap_entry64:
	/* xAPIC ID register, bits 31:24 (SDM vol. 3A 10.4.6). */
	movl	$(LAPIC_BASE + 0x20), %edx
	movl	(%rdx), %eax
	shrl	$24, %eax
	leaq	smp_ap_seen(%rip), %rdx
	/* Mark before counting: the BSP reads the marks once the count is reached. */
	lock incb (%rdx,%rax)
	lock incl smp_ap_count(%rip)
4:	cli
	hlt
	jmp	4b

	.data
	.balign	16
	.globl	gdt
gdt:
	.quad	0			/* null */
	.quad	0x00af9a000000ffff	/* 0x08: code, 64-bit (L=1) */
	.quad	0x00cf92000000ffff	/* 0x10: data, flat 4 GiB */
	.quad	0x00cf9a000000ffff	/* 0x18: code, 32-bit flat */
gdt_end:
	.if gdt_end - gdt - GDT_SIZE
	.error "GDT_SIZE does not match the GDT"
	.endif
	.globl	gdt_desc
gdt_desc:
	.word	GDT_SIZE - 1
	.quad	gdt

	.bss
	.balign	4096
boot_pml4:
	.skip	4096
boot_pdpt:
	.skip	4096
boot_pd:
	.skip	4096

	/* The stack is not zeroed at entry: it lives in .noinit. */
	.section .noinit, "aw", @nobits
	.balign	16
boot_stack:
	.skip	GUEST_STACK_SIZE
	.globl	boot_stack_top
boot_stack_top:
