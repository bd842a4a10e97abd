/* apic.c: local APIC, IOAPIC and 8259 PIC register access. */
#include "apic.h"
#include "guest.h"
#include "io.h"

/* Local APIC registers, offsets from LAPIC_BASE (SDM vol. 3A table 10-1). */
#define LAPIC_ID     0x020
#define LAPIC_TPR    0x080
#define LAPIC_EOI    0x0b0
#define LAPIC_SVR    0x0f0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LINT0  0x350
#define LAPIC_SVR_ENABLE 0x100
#define LAPIC_LVT_MASKED 0x10000
#define LAPIC_ICR_BUSY   0x1000

/* IOAPIC: index register at +0x00, data window at +0x10 (82093AA data sheet 3.0). */
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN    0x10
#define IOAPIC_VER    0x01
#define IOAPIC_REDTBL 0x10
#define IOAPIC_MASKED 0x10000
#define IOAPIC_LOW    0x2000
#define IOAPIC_LEVEL  0x8000

static uint32_t lapic_read(uint32_t reg)
{
	return io_read32(LAPIC_BASE + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	io_write32(LAPIC_BASE + reg, v);
}

void lapic_init(void)
{
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | VEC_SPURIOUS);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_LINT0, LAPIC_LVT_MASKED);
}

uint8_t lapic_id(void)
{
	return (uint8_t)(lapic_read(LAPIC_ID) >> 24);
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

int lapic_send_ipi(uint8_t dest, uint32_t icr_low)
{
	/* Writing the low half sends the IPI, so the destination goes first. */
	lapic_write(LAPIC_ICR_HI, (uint32_t)dest << 24);
	lapic_write(LAPIC_ICR_LO, icr_low);
	for (int i = 0; i < 10000; i++)
		if (!(lapic_read(LAPIC_ICR_LO) & LAPIC_ICR_BUSY))
			return 0;
	return -1;
}

static uint32_t ioapic_read(uint64_t base, uint32_t reg)
{
	io_write32(base + IOAPIC_REGSEL, reg);
	return io_read32(base + IOAPIC_WIN);
}

static void ioapic_write(uint64_t base, uint32_t reg, uint32_t v)
{
	io_write32(base + IOAPIC_REGSEL, reg);
	io_write32(base + IOAPIC_WIN, v);
}

unsigned ioapic_pins(uint64_t base)
{
	return ((ioapic_read(base, IOAPIC_VER) >> 16) & 0xff) + 1;
}

void ioapic_route(uint64_t base, unsigned pin, uint8_t vector, uint8_t dest, uint16_t mp_flags)
{
	uint32_t lo = vector;

	if ((mp_flags & MP_POL_MASK) == MP_POL_LOW)
		lo |= IOAPIC_LOW;
	if ((mp_flags & MP_TRIG_MASK) == MP_TRIG_LEVEL)
		lo |= IOAPIC_LEVEL;
	/* Mask while the two halves are inconsistent, write the destination, then unmask. */
	ioapic_write(base, IOAPIC_REDTBL + 2 * pin, IOAPIC_MASKED);
	ioapic_write(base, IOAPIC_REDTBL + 2 * pin + 1, (uint32_t)dest << 24);
	ioapic_write(base, IOAPIC_REDTBL + 2 * pin, lo);
}

void ioapic_mask(uint64_t base, unsigned pin)
{
	ioapic_write(base, IOAPIC_REDTBL + 2 * pin, IOAPIC_MASKED);
}

void pic_mask_all(void)
{
	/* OCW1 on the data ports of the master (0x21) and slave (0xa1) 8259A. */
	io_outb(0x21, 0xff);
	io_outb(0xa1, 0xff);
}
