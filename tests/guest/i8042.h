/* i8042.h: the PS/2 controller: keyboard bytes on IRQ 1, Ctrl-Alt-Del detection, and reset. */
#ifndef GUEST_I8042_H
#define GUEST_I8042_H

#include <stdbool.h>
#include <stdint.h>

struct idt_frame;

/* Read and discard whatever sits in the output buffer. */
void i8042_drain(void);

/* IRQ 1 handler: consume keyboard bytes and track Ctrl, Alt and Del. */
void i8042_irq(struct idt_frame *f);

/* 0 until Ctrl-Alt-Del arrived; then the scan code set it came in (1 or 2). */
unsigned i8042_ctrl_alt_del(void);

/* Number of keyboard bytes received. */
unsigned i8042_bytes(void);

/*
 * Reset the machine: pulse the reset line through the i8042 (command 0xFE
 * to port 0x64, which ember and QEMU's i8042 implement), wait ~100 ms, and
 * triple-fault if still running.
 */
void i8042_reset_machine(void) __attribute__((noreturn));

#endif
