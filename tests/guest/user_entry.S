/* user_entry.S: enter ring 3 through iretq, come back through "int $0x80" (see user.h). */
#include "guest.h"

#define SEL_USER_DATA 0x20
#define SEL_USER_CODE 0x28

	.text
	.code64
/*
 * uint64_t user_enter(uint64_t (*fn)(void *), void *arg, uint64_t user_rsp)
 * Saves the callee-saved registers and %rsp, then iretq to user_tramp at CPL 3.
 */
	.globl	user_enter
user_enter:
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, user_kernel_rsp(%rip)
	movq	%rdi, %rax		/* fn */
	movq	%rsi, %rdi		/* arg: first argument in ring 3 */
	movq	%rax, %rsi		/* fn for the trampoline */
	pushq	$(SEL_USER_DATA | 3)	/* SS */
	pushq	%rdx			/* RSP */
	pushq	$0x2			/* RFLAGS: IF = 0, IOPL = 0 */
	pushq	$(SEL_USER_CODE | 3)	/* CS */
	leaq	user_tramp(%rip), %rax
	pushq	%rax			/* RIP */
	iretq

/* Ring 3: call fn(arg), then return to ring 0 with the result in %rax. */
user_tramp:
	call	*%rsi
	.globl	user_tramp_int
user_tramp_int:
	int	$0x80
1:	jmp	1b

/*
 * The DPL-3 interrupt gate of vector 0x80 (interrupts off on entry), on the TSS's RSP0
 * stack: note the frame's RIP, drop the frame, restore the kernel stack and registers,
 * return %rax to the caller of user_enter. user_call() also points #UD here while ring 3
 * runs: the nested KVM on the build machines turns "int $0x80" from ring 3 into #UD at the
 * int instruction (no error code either way, so the frame starts with RIP).
 */
	.globl	user_return_gate
user_return_gate:
	movq	(%rsp), %rcx
	movq	%rcx, user_return_rip(%rip)
	movl	$SEL_DATA, %ecx
	movl	%ecx, %ss
	movl	%ecx, %ds
	movl	%ecx, %es
	movq	user_kernel_rsp(%rip), %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	ret

	.bss
	.balign	8
user_kernel_rsp:
	.skip	8
	.globl	user_return_rip
user_return_rip:
	.skip	8
