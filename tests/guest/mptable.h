/* mptable.h: finding and parsing the Intel MP configuration table (MP spec 1.4). */
#ifndef GUEST_MPTABLE_H
#define GUEST_MPTABLE_H

#include <stdbool.h>
#include <stdint.h>

#define MP_MAX_CPUS 64
#define MP_ISA_IRQS 16

struct mp_cpu {
	uint8_t apic_id;
	uint8_t flags;  /* bit 0 enabled, bit 1 bootstrap processor */
};

struct mp_irq {
	bool present;
	uint8_t ioapic_id;
	uint8_t pin;
	uint16_t flags;  /* polarity and trigger, MP spec table 4-10 */
};

struct mp_info {
	uint64_t fp_addr;     /* floating pointer structure */
	uint64_t table_addr;  /* configuration table */
	uint8_t spec_rev;
	uint64_t lapic_addr;
	unsigned count_field; /* the header's entry count */
	unsigned nentries;    /* entries found within the table length */
	unsigned ncpus;       /* processor entries, enabled or not */
	unsigned nenabled;
	unsigned nbsp;
	struct mp_cpu cpus[MP_MAX_CPUS];
	bool has_ioapic;
	uint8_t ioapic_id;
	uint64_t ioapic_addr;
	struct mp_irq isa[MP_ISA_IRQS];  /* ISA IRQ -> IOAPIC pin, from I/O interrupt entries */
	const char *error;    /* NULL when the table parsed cleanly */
};

/*
 * Search for "_MP_" where MP spec 1.4 section 4 says (first KiB of the EBDA,
 * last KiB of base memory, the BIOS ROM 0xF0000-0xFFFFF) plus 0x9FC00 where
 * Firecracker and qboot put it, verify both checksums and the "PCMP"
 * signature, and parse the base table. Returns 0, or -1 with mi->error set.
 */
int mp_parse(struct mp_info *mi);

/* The IOAPIC pin and flags for ISA irq (identity with default flags if the table says nothing). */
struct mp_irq mp_isa_route(const struct mp_info *mi, unsigned irq);

#endif
