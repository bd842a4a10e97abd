/* acpi.h: hardware-reduced ACPI tables (RSDP, XSDT, FADT, DSDT, MADT): CPUs and devices. */
#ifndef EMBER_ARCH_X86_ACPI_H
#define EMBER_ARCH_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/layout.h"

/* At most this many virtio-mmio devices in the DSDT (one per free IOAPIC pin). */
#define ACPI_MAX_MMIO_DEVS LAYOUT_VIRTIO_MMIO_MAX

/* SLP_TYP of \_S5 (soft off) and the sleep control register's bits (ACPI 6.5, 4.8.3.7). */
#define ACPI_S5_SLP_TYP      5
#define ACPI_SLP_TYP_SHIFT   2
#define ACPI_SLP_TYP_MASK    0x1c
#define ACPI_SLP_EN          0x20

/* One virtio-mmio device as the DSDT describes it. */
struct acpi_mmio_dev {
	uint64_t base;   /* guest-physical, below 4 GiB */
	uint64_t size;
	uint32_t gsi;    /* IOAPIC pin, edge-triggered, active high */
};

/*
 * Bytes acpi_build() needs for the tables other than the RSDP, with @ndevs
 * virtio-mmio devices; 0 if @ndevs is more than ACPI_MAX_MMIO_DEVS.
 */
size_t acpi_tables_size(unsigned ncpus, unsigned ndevs);

/*
 * acpi_build: write XSDT, FADT, DSDT and MADT for @ncpus CPUs into @tables
 * (@cap bytes, seen by the guest at @tables_gpa, 8-byte aligned), and the
 * 36-byte ACPI 2.0 RSDP pointing at them into @rsdp. The FADT declares a
 * hardware-reduced platform with an i8042 and no VGA or CMOS, and its sleep
 * control and status registers at I/O port LAYOUT_ACPI_SLEEP_PORT. The DSDT
 * describes COM1, the i8042, the @ndevs virtio-mmio devices @devs (names V000,
 * V001, ..., _UID their index), the VM generation ID at LAYOUT_VMGENID_START
 * (VGEN) with its Generic Event Device on LAYOUT_GED_IRQ (GED_), and \_S5.
 * The MADT lists one enabled local APIC per CPU, the IOAPIC with GSI base 0
 * and LINT1 = NMI.
 * Returns the table bytes written, -E2BIG (too small, too many devices) or
 * -EINVAL.
 */
int acpi_build(uint8_t *tables, size_t cap, uint64_t tables_gpa, uint8_t rsdp[36],
	       unsigned ncpus, const struct acpi_mmio_dev *devs, unsigned ndevs);

#endif
