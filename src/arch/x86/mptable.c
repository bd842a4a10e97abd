/* mptable.c: MP specification 1.4 floating pointer and configuration table. */
#include "arch/x86/mptable.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"

/* MP spec 1.4, tables 4-1 to 4-8: entry sizes and codes. */
#define MPF_SIZE        16
#define MPC_HDR_SIZE    44
#define MPC_CPU_SIZE    20
#define MPC_SMALL_SIZE  8      /* bus, IOAPIC, I/O and local interrupt entries */
#define MP_PROCESSOR    0
#define MP_BUS          1
#define MP_IOAPIC       2
#define MP_INTSRC       3
#define MP_LINTSRC      4
#define MP_INT          0
#define MP_NMI          1
#define MP_EXTINT       3
#define CPU_ENABLED     1
#define CPU_BOOTPROC    2
#define APIC_VERSION    0x14
#define IOAPIC_VERSION  0x11
#define CPU_STEPPING    0x600
#define CPU_FEATURES    0x201  /* FPU | APIC */

static void mpt_put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void mpt_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static uint8_t mpt_checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	while (n--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)(0x100 - sum);
}

size_t mptable_size(unsigned ncpus)
{
	return MPF_SIZE + MPC_HDR_SIZE + (size_t)ncpus * MPC_CPU_SIZE +
	       MPC_SMALL_SIZE * (2 + LAYOUT_IOAPIC_PINS + 2);
}

static uint8_t *mpt_small(uint8_t *p, uint8_t type, uint8_t b1, uint16_t w,
			  uint8_t b4, uint8_t b5, uint8_t b6, uint8_t b7)
{
	p[0] = type;
	p[1] = b1;
	mpt_put16(p + 2, w);
	p[4] = b4;
	p[5] = b5;
	p[6] = b6;
	p[7] = b7;
	return p + MPC_SMALL_SIZE;
}

int mptable_build(uint8_t *buf, size_t cap, uint32_t gpa, unsigned ncpus)
{
	size_t total = mptable_size(ncpus);
	uint8_t *mpc = buf + MPF_SIZE, *p;
	uint8_t ioapic_id = (uint8_t)(ncpus + 1);
	uint16_t entries = 0;

	if (ncpus == 0 || ncpus > LAYOUT_MAX_VCPUS)
		return -EINVAL;
	if (total > cap)
		return -E2BIG;
	memset(buf, 0, total);

	/* Floating pointer (4.1): points at the configuration table after it. */
	memcpy(buf, "_MP_", 4);
	mpt_put32(buf + 4, gpa + MPF_SIZE);
	buf[8] = 1;          /* length in 16-byte units */
	buf[9] = 4;          /* spec revision 1.4 */
	/* feature bytes 0: a configuration table is present, no IMCR. */
	buf[10] = mpt_checksum(buf, MPF_SIZE);

	p = mpc + MPC_HDR_SIZE;
	for (unsigned i = 0; i < ncpus; i++, entries++) {
		p[0] = MP_PROCESSOR;
		p[1] = (uint8_t)i;                /* local APIC id */
		p[2] = APIC_VERSION;
		p[3] = CPU_ENABLED | (i == 0 ? CPU_BOOTPROC : 0);
		mpt_put32(p + 4, CPU_STEPPING);
		mpt_put32(p + 8, CPU_FEATURES);
		p += MPC_CPU_SIZE;
	}
	p[0] = MP_BUS;
	p[1] = 0;
	memcpy(p + 2, "ISA   ", 6);
	p += MPC_SMALL_SIZE;
	entries++;
	p[0] = MP_IOAPIC;
	p[1] = ioapic_id;
	p[2] = IOAPIC_VERSION;
	p[3] = 1;            /* enabled */
	mpt_put32(p + 4, (uint32_t)LAYOUT_IOAPIC_START);
	p += MPC_SMALL_SIZE;
	entries++;
	/* Every ISA IRQ n arrives on IOAPIC pin n, conforming polarity/trigger. */
	for (unsigned irq = 0; irq < LAYOUT_IOAPIC_PINS; irq++, entries++)
		p = mpt_small(p, MP_INTSRC, MP_INT, 0, 0, (uint8_t)irq, ioapic_id,
			      (uint8_t)irq);
	p = mpt_small(p, MP_LINTSRC, MP_EXTINT, 0, 0, 0, 0, 0);
	p = mpt_small(p, MP_LINTSRC, MP_NMI, 0, 0, 0, 0xff, 1);
	entries += 2;

	/* Configuration table header (4.2). */
	memcpy(mpc, "PCMP", 4);
	mpt_put16(mpc + 4, (uint16_t)(p - mpc));
	mpc[6] = 4;
	memcpy(mpc + 8, "EMBER   ", 8);
	memcpy(mpc + 16, "MICROVM     ", 12);
	mpt_put16(mpc + 34, entries);
	mpt_put32(mpc + 36, (uint32_t)LAYOUT_LAPIC_START);
	mpc[7] = mpt_checksum(mpc, (size_t)(p - mpc));
	return (int)(p - buf);
}
