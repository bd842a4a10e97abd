/* acpi.h: hardware-reduced ACPI tables (RSDP, XSDT, FADT, DSDT, MADT) describing the CPUs. */
#ifndef EMBER_ARCH_X86_ACPI_H
#define EMBER_ARCH_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

/* Bytes acpi_build() needs for the tables other than the RSDP. */
size_t acpi_tables_size(unsigned ncpus);

/*
 * acpi_build: write XSDT, FADT, DSDT and MADT for @ncpus CPUs into @tables
 * (@cap bytes, seen by the guest at @tables_gpa, 8-byte aligned), and the
 * 36-byte ACPI 2.0 RSDP pointing at them into @rsdp. The FADT declares a
 * hardware-reduced platform with an i8042 and no VGA or CMOS; the MADT lists
 * one enabled local APIC per CPU, the IOAPIC with GSI base 0 and LINT1 = NMI.
 * Returns the table bytes written, or -E2BIG / -EINVAL.
 */
int acpi_build(uint8_t *tables, size_t cap, uint64_t tables_gpa, uint8_t rsdp[36],
	       unsigned ncpus);

#endif
