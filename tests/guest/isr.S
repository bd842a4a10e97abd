/* isr.S: interrupt and exception entry stubs; they build a struct idt_frame and call idt_dispatch(). */
#include "guest.h"

/*
 * Vectors that push an error code (SDM vol. 3A 6.15): 8, 10-14, 17, 21, 29,
 * 30. For the others the stub pushes a 0 so every frame has the same layout.
 */
.macro STUB vec
	.balign	16
isr_\vec:
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$\vec
	jmp	isr_common
	.pushsection .rodata
	.quad	\vec, isr_\vec
	.popsection
.endm

	.pushsection .rodata
	.balign	8
	.globl	isr_table
isr_table:		/* pairs of (vector, stub address), ended by (0, 0) */
	.popsection

	.text
	.code64
	/* .altmacro makes %v pass the value of v, so the stubs get numbered names. */
	.altmacro
	.set	v, 0
	.rept	32
	STUB	%v
	.set	v, v + 1
	.endr
	.set	v, VEC_IRQ_BASE
	.rept	24
	STUB	%v
	.set	v, v + 1
	.endr
	STUB	VEC_SPURIOUS
	.noaltmacro

	.pushsection .rodata
	.quad	0, 0
	.popsection

isr_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	/* The CPU aligned RSP to 16 before the 7-word frame; 15 pushes keep it aligned. */
	movq	%rsp, %rdi
	cld
	call	idt_dispatch
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp		/* vector and error code */
	iretq
