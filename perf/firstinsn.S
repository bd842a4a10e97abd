/*
 * firstinsn.S: the smallest PVH guest, to time a VMM's own start-up work. Its first
 * instruction writes 123 to the boot timer at 0xC0000000 (ember logs "Guest-boot-time",
 * the time since InstanceStart: InstanceStart to first guest instruction, plus one MMIO
 * exit). Then one byte on COM1 (an external harness timestamps it: exec to first guest
 * instruction, for ember and for QEMU alike), a write to port 0xf4 (QEMU's
 * isa-debug-exit, when present), the i8042 reset (ember exits 0), and a triple fault
 * (empty IDT + #DE: QEMU -no-reboot exits). PVH: 32-bit protected mode, paging off.
 */
	.section .text, "ax"
	.code32
	.globl	pvh_entry
pvh_entry:
	movb	$123, 0xC0000000	/* boot timer */
	movw	$0x3f8, %dx
	movb	$'!', %al
	outb	%al, %dx
	movb	$'\n', %al
	outb	%al, %dx
	movb	$0, %al
	outb	%al, $0xf4		/* QEMU isa-debug-exit */
	movb	$0xfe, %al
	outb	%al, $0x64		/* i8042 reset */
	lidt	idt0
	xorl	%ecx, %ecx
	divl	%ecx			/* #DE with an empty IDT: triple fault */
1:	hlt
	jmp	1b

	.balign	8
idt0:	.word	0
	.long	0

	.section .note.Xen, "a", @note
	.balign	4
	.long	4		/* namesz "Xen\0" */
	.long	4		/* descsz */
	.long	18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz	"Xen"
	.balign	4
	.long	pvh_entry
	.balign	4
