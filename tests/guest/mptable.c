/* mptable.c: MP floating pointer search and configuration table parsing. */
#include "mptable.h"
#include "lib.h"

/* MP spec 1.4 section 4.1 (floating pointer) and 4.2-4.3 (table and entries). */
#define MPF_SIZE        16
#define MPC_HDR_SIZE    44
#define MPC_CPU         0
#define MPC_BUS         1
#define MPC_IOAPIC      2
#define MPC_IOINT       3
#define MPC_LINT        4
#define MPC_CPU_SIZE    20
#define MPC_OTHER_SIZE  8
#define MPC_CPU_EN      0x01
#define MPC_CPU_BSP     0x02
#define MPC_IOAPIC_EN   0x01
#define MP_MAX_BUSES    256

/* BIOS data area words (IBM PC BIOS): EBDA segment at 0x40E, base memory KiB at 0x413. */
#define BDA_EBDA_SEG    0x40e
#define BDA_BASE_KIB    0x413
#define FC_MPTABLE      0x9fc00

static uint8_t mp_rd8(uint64_t a)
{
	return *(const volatile uint8_t *)(uintptr_t)a;
}

static uint16_t mp_rd16(uint64_t a)
{
	return (uint16_t)(mp_rd8(a) | mp_rd8(a + 1) << 8);
}

static uint32_t mp_rd32(uint64_t a)
{
	return mp_rd16(a) | (uint32_t)mp_rd16(a + 2) << 16;
}

static uint8_t mp_sum(uint64_t a, uint64_t n)
{
	uint8_t s = 0;

	for (uint64_t i = 0; i < n; i++)
		s = (uint8_t)(s + mp_rd8(a + i));
	return s;
}

/* A valid floating pointer in [a, a + len), 16-byte aligned; 0 if none. */
static uint64_t mp_scan(uint64_t a, uint64_t len)
{
	for (uint64_t p = a; p + MPF_SIZE <= a + len; p += 16) {
		if (mp_rd32(p) != 0x5f504d5f)  /* "_MP_" */
			continue;
		/* Length is in 16-byte units and is 1; the checksum covers all of it. */
		if (mp_rd8(p + 8) == 1 && mp_sum(p, MPF_SIZE) == 0)
			return p;
	}
	return 0;
}

static uint64_t mp_find(void)
{
	uint64_t ebda = (uint64_t)mp_rd16(BDA_EBDA_SEG) << 4;
	uint64_t base_kib = mp_rd16(BDA_BASE_KIB);
	uint64_t fp = 0;

	if (ebda >= 0x400 && ebda < 0xa0000)
		fp = mp_scan(ebda, 1024);
	if (!fp && base_kib >= 2 && base_kib <= 640)
		fp = mp_scan(base_kib * 1024 - 1024, 1024);
	if (!fp)
		fp = mp_scan(FC_MPTABLE, 1024);
	if (!fp)
		fp = mp_scan(0xf0000, 0x10000);
	return fp;
}

static void mp_entry(struct mp_info *mi, uint64_t e, uint8_t type, const uint8_t *isa_bus)
{
	switch (type) {
	case MPC_CPU: {
		uint8_t flags = mp_rd8(e + 3);

		if (mi->ncpus < MP_MAX_CPUS) {
			mi->cpus[mi->ncpus].apic_id = mp_rd8(e + 1);
			mi->cpus[mi->ncpus].flags = flags;
		}
		mi->ncpus++;
		if (flags & MPC_CPU_EN)
			mi->nenabled++;
		if ((flags & MPC_CPU_EN) && (flags & MPC_CPU_BSP))
			mi->nbsp++;
		break;
	}
	case MPC_IOAPIC:
		if ((mp_rd8(e + 3) & MPC_IOAPIC_EN) && !mi->has_ioapic) {
			mi->has_ioapic = true;
			mi->ioapic_id = mp_rd8(e + 1);
			mi->ioapic_addr = mp_rd32(e + 4);
		}
		break;
	case MPC_IOINT: {
		/* Interrupt type 0 (INT), source bus must be ISA (table 4-9, 4-10). */
		uint8_t itype = mp_rd8(e + 1), bus = mp_rd8(e + 4), irq = mp_rd8(e + 5);

		if (itype == 0 && isa_bus[bus] && irq < MP_ISA_IRQS) {
			mi->isa[irq].present = true;
			mi->isa[irq].flags = mp_rd16(e + 2);
			mi->isa[irq].ioapic_id = mp_rd8(e + 6);
			mi->isa[irq].pin = mp_rd8(e + 7);
		}
		break;
	}
	default:
		break;
	}
}

int mp_parse(struct mp_info *mi)
{
	static uint8_t isa_bus[MP_MAX_BUSES];
	uint64_t t, p, end, size;
	uint16_t len;

	memset(mi, 0, sizeof(*mi));
	memset(isa_bus, 0, sizeof(isa_bus));
	mi->fp_addr = mp_find();
	if (!mi->fp_addr) {
		mi->error = "no-_MP_-floating-pointer";
		return -1;
	}
	mi->spec_rev = mp_rd8(mi->fp_addr + 9);
	/* Feature byte 1 non-zero means a default configuration and no table (4.1). */
	if (mp_rd8(mi->fp_addr + 11) != 0) {
		mi->error = "default-configuration-no-table";
		return -1;
	}
	t = mp_rd32(mi->fp_addr + 4);
	mi->table_addr = t;
	if (!t || t + MPC_HDR_SIZE > 0x100000000ULL || mp_rd32(t) != 0x504d4350) {  /* "PCMP" */
		mi->error = "no-PCMP-table";
		return -1;
	}
	len = mp_rd16(t + 4);
	if (len < MPC_HDR_SIZE || mp_sum(t, len) != 0) {
		mi->error = "bad-table-checksum-or-length";
		return -1;
	}
	mi->count_field = mp_rd16(t + 34);
	mi->lapic_addr = mp_rd32(t + 36);
	end = t + len;
	/*
	 * Walk the entries by the table length, as Linux's smp_read_mpc() does
	 * (qboot leaves the entry count 0); the caller compares the count.
	 * Bus entries come before the entries that name them (4.3, ordering).
	 */
	for (p = t + MPC_HDR_SIZE; p < end; p += size) {
		uint8_t type = mp_rd8(p);

		size = type == MPC_CPU ? MPC_CPU_SIZE : MPC_OTHER_SIZE;
		if (type > MPC_LINT) {
			mi->error = "unknown-entry-type";
			return -1;
		}
		if (p + size > end) {
			mi->error = "entries-overrun-table";
			return -1;
		}
		if (type == MPC_BUS && mp_rd32(p + 2) == 0x20415349 &&  /* "ISA " */
		    mp_rd16(p + 6) == 0x2020)
			isa_bus[mp_rd8(p + 1)] = 1;
		mp_entry(mi, p, type, isa_bus);
		mi->nentries++;
	}
	return 0;
}

struct mp_irq mp_isa_route(const struct mp_info *mi, unsigned irq)
{
	struct mp_irq r = { true, mi->ioapic_id, (uint8_t)irq, 0 };

	if (irq < MP_ISA_IRQS && mi->isa[irq].present)
		return mi->isa[irq];
	return r;
}
