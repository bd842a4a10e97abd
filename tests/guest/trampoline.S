/* trampoline.S: real-mode AP startup code, copied to SMP_TRAMPOLINE_ADDR before the STARTUP IPIs. */
#include "guest.h"

/*
 * A STARTUP IPI with vector VV starts the AP in real mode at CS = VV00h,
 * IP = 0 (MP spec 1.4 B.4.2; SDM vol. 3A 9.4.4). This code is position
 * independent within its page: it addresses its data relative to CS. It loads
 * the guest's GDT, sets CR0.PE and far-jumps to ap_entry32 in the image, which
 * does the rest in 32-bit code shared with the PVH path's mode switch.
 *
 * It is data for the BSP (it lives in .rodata and is copied), never run in
 * place.
 */
	.section .rodata, "a"
	.code16
	.balign	16
	.globl	smp_tramp_start
smp_tramp_start:
	cli
	cld
	movw	%cs, %ax
	movw	%ax, %ds
	lgdtl	tramp_gdtr - smp_tramp_start
	movl	%cr0, %eax
	orl	$CR0_PE, %eax
	movl	%eax, %cr0
	/* 32-bit offset far jump: 66 EA imm32 sel16. */
	ljmpl	$SEL_CODE32, $ap_entry32

	.balign	8
tramp_gdtr:
	.word	GDT_SIZE - 1
	.long	gdt
	.globl	smp_tramp_end
smp_tramp_end:
	.code64
