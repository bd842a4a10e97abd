/* mptable.h: the Intel MP table that tells the guest its CPUs and interrupt routing. */
#ifndef EMBER_ARCH_X86_MPTABLE_H
#define EMBER_ARCH_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

/* Bytes mptable_build() needs for @ncpus processors. */
size_t mptable_size(unsigned ncpus);

/*
 * mptable_build: write an MP floating pointer followed by an MP configuration
 * table (MP spec 1.4, chapter 4) for @ncpus CPUs (APIC ids 0..ncpus-1, CPU 0
 * the BSP), one ISA bus, the IOAPIC and its 24 pins, LINT0 = ExtINT and
 * LINT1 = NMI, into @buf (@cap bytes) that the guest will see at @gpa.
 * Returns the bytes written, or -E2BIG / -EINVAL.
 */
int mptable_build(uint8_t *buf, size_t cap, uint32_t gpa, unsigned ncpus);

#endif
