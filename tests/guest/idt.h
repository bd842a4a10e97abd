/* idt.h: the interrupt descriptor table, exception reports and IRQ handler registration. */
#ifndef GUEST_IDT_H
#define GUEST_IDT_H

#include <stdint.h>

/* What isr.S pushes: general registers, then vector, error code and the CPU's frame. */
struct idt_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

typedef void (*idt_handler_fn)(struct idt_frame *f);

/*
 * Fill the IDT with the stubs of isr.S and load it. Exceptions print
 * "EXCEPTION vector=<n> error=<e> rip=<a> cr2=<a>" and reset the machine.
 */
void idt_init(void);

/*
 * Call fn for vector vec (VEC_IRQ_BASE + IOAPIC pin); the dispatcher sends the
 * local APIC EOI afterwards. fn runs with interrupts off.
 */
void idt_set_handler(uint8_t vec, idt_handler_fn fn);

/* Called by isr.S only. */
void idt_dispatch(struct idt_frame *f);

/* Load an empty IDT and fault: a triple fault, i.e. a shutdown/reset. */
void idt_triple_fault(void) __attribute__((noreturn));

#endif
