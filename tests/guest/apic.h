/* apic.h: local APIC (xAPIC MMIO), IOAPIC and legacy 8259 PIC masking. */
#ifndef GUEST_APIC_H
#define GUEST_APIC_H

#include <stdbool.h>
#include <stdint.h>

#define IOAPIC_DEFAULT_BASE 0xfec00000ULL

/* ICR delivery modes (SDM vol. 3A 10.6.1). */
#define ICR_INIT     0x00000500
#define ICR_STARTUP  0x00000600
#define ICR_LEVEL    0x00008000
#define ICR_ASSERT   0x00004000

/* MP spec 1.4 table 4-10 interrupt flags: polarity bits 1:0, trigger bits 3:2. */
#define MP_POL_MASK     0x3
#define MP_POL_LOW      0x3
#define MP_TRIG_MASK    0xc
#define MP_TRIG_LEVEL   0xc

/* Software-enable the local APIC, accept all priorities, mask LINT0 (the PIC's ExtINT). */
void lapic_init(void);

/* This CPU's local APIC ID (ID register bits 31:24). */
uint8_t lapic_id(void);

/* End of interrupt. */
void lapic_eoi(void);

/*
 * Send an IPI: icr_low (vector, delivery mode, level) to the APIC with ID
 * dest; waits for the delivery status to clear. Returns 0, or -1 if it
 * never does.
 */
int lapic_send_ipi(uint8_t dest, uint32_t icr_low);

/* Number of redirection entries of the IOAPIC at base (IOAPICVER bits 23:16, plus 1). */
unsigned ioapic_pins(uint64_t base);

/*
 * Route IOAPIC pin to vector on the APIC dest, fixed delivery, physical
 * destination; polarity and trigger from MP-style flags (0: ISA defaults,
 * active high, edge). Unmasked.
 */
void ioapic_route(uint64_t base, unsigned pin, uint8_t vector, uint8_t dest, uint16_t mp_flags);

/* Mask pin. */
void ioapic_mask(uint64_t base, unsigned pin);

/* Mask every line of both 8259 PICs (OCW1), so only the IOAPIC delivers. */
void pic_mask_all(void);

#endif
