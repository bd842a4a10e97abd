/* acpi.c: the ACPI 6.x tables a Linux guest needs to find its CPUs and interrupt controllers. */
#include "arch/x86/acpi.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"

#define ACPI_HDR_SIZE   36
#define XSDT_ENTRIES    2                   /* FADT, MADT */
#define XSDT_SIZE       (ACPI_HDR_SIZE + 8 * XSDT_ENTRIES)
#define FADT_SIZE       276                 /* ACPI 6.x FADT */
#define DSDT_SIZE       ACPI_HDR_SIZE       /* no AML: devices come from the command line */
#define MADT_FIXED      (ACPI_HDR_SIZE + 8)
#define MADT_LAPIC_SIZE 8
#define MADT_IOAPIC_SIZE 12
#define MADT_NMI_SIZE   6

/* FADT fields (ACPI 6.5, table 5.9). */
#define FADT_DSDT            40
#define FADT_IAPC_BOOT_ARCH  109
#define FADT_FLAGS           112
#define FADT_MINOR_VERSION   131
#define FADT_X_DSDT          140
#define FADT_HYPERVISOR_ID   268
#define IAPC_8042            (1u << 1)
#define IAPC_NO_VGA          (1u << 2)
#define IAPC_NO_CMOS_RTC     (1u << 5)
#define FADT_HW_REDUCED_ACPI (1u << 20)

/* MADT (ACPI 6.5, 5.2.12). */
#define MADT_PCAT_COMPAT     1u
#define MADT_TYPE_LAPIC      0
#define MADT_TYPE_IOAPIC     1
#define MADT_TYPE_LAPIC_NMI  4

static void acpi_put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void acpi_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void acpi_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint8_t acpi_checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return (uint8_t)(0x100 - s);
}

static size_t acpi_madt_size(unsigned ncpus)
{
	return MADT_FIXED + (size_t)ncpus * MADT_LAPIC_SIZE + MADT_IOAPIC_SIZE + MADT_NMI_SIZE;
}

static size_t acpi_align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

size_t acpi_tables_size(unsigned ncpus)
{
	return acpi_align8(XSDT_SIZE) + acpi_align8(FADT_SIZE) + acpi_align8(DSDT_SIZE) +
	       acpi_align8(acpi_madt_size(ncpus));
}

/* The common header (5.2.6); the checksum is filled in last. */
static void acpi_header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev)
{
	memset(t, 0, len);
	memcpy(t, sig, 4);
	acpi_put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "EMBER ", 6);
	memcpy(t + 16, "EMBERVM ", 8);
	acpi_put32(t + 24, 1);
	memcpy(t + 28, "EMBR", 4);
	acpi_put32(t + 32, 1);
}

static void acpi_seal(uint8_t *t)
{
	uint32_t len;

	memcpy(&len, t + 4, 4);
	t[9] = 0;
	t[9] = acpi_checksum(t, len);
}

int acpi_build(uint8_t *tables, size_t cap, uint64_t tables_gpa, uint8_t rsdp[36],
	       unsigned ncpus)
{
	size_t off_xsdt = 0, off_fadt = acpi_align8(XSDT_SIZE);
	size_t off_dsdt = off_fadt + acpi_align8(FADT_SIZE);
	size_t off_madt = off_dsdt + acpi_align8(DSDT_SIZE);
	size_t madt_len = acpi_madt_size(ncpus);
	uint8_t *x = tables + off_xsdt, *f = tables + off_fadt, *d = tables + off_dsdt;
	uint8_t *m = tables + off_madt, *p;

	if (ncpus == 0 || ncpus > LAYOUT_MAX_VCPUS || tables_gpa > UINT32_MAX)
		return -EINVAL;
	if (acpi_tables_size(ncpus) > cap)
		return -E2BIG;

	acpi_header(d, "DSDT", DSDT_SIZE, 2);
	acpi_seal(d);

	acpi_header(f, "FACP", FADT_SIZE, 6);
	acpi_put32(f + FADT_DSDT, (uint32_t)(tables_gpa + off_dsdt));
	acpi_put64(f + FADT_X_DSDT, tables_gpa + off_dsdt);
	acpi_put16(f + FADT_IAPC_BOOT_ARCH, IAPC_8042 | IAPC_NO_VGA | IAPC_NO_CMOS_RTC);
	acpi_put32(f + FADT_FLAGS, FADT_HW_REDUCED_ACPI);
	f[FADT_MINOR_VERSION] = 5;
	memcpy(f + FADT_HYPERVISOR_ID, "EMBERVMM", 8);
	acpi_seal(f);

	acpi_header(m, "APIC", (uint32_t)madt_len, 6);
	acpi_put32(m + ACPI_HDR_SIZE, (uint32_t)LAYOUT_LAPIC_START);
	acpi_put32(m + ACPI_HDR_SIZE + 4, MADT_PCAT_COMPAT);
	p = m + MADT_FIXED;
	for (unsigned i = 0; i < ncpus; i++, p += MADT_LAPIC_SIZE) {
		p[0] = MADT_TYPE_LAPIC;
		p[1] = MADT_LAPIC_SIZE;
		p[2] = (uint8_t)i;        /* ACPI processor UID */
		p[3] = (uint8_t)i;        /* APIC id */
		acpi_put32(p + 4, 1);     /* enabled */
	}
	p[0] = MADT_TYPE_IOAPIC;
	p[1] = MADT_IOAPIC_SIZE;
	p[2] = (uint8_t)(ncpus + 1);  /* same id as in the MP table */
	acpi_put32(p + 4, (uint32_t)LAYOUT_IOAPIC_START);
	acpi_put32(p + 8, 0);         /* GSI base */
	p += MADT_IOAPIC_SIZE;
	p[0] = MADT_TYPE_LAPIC_NMI;
	p[1] = MADT_NMI_SIZE;
	p[2] = 0xff;                  /* all processors */
	acpi_put16(p + 3, 0);
	p[5] = 1;                     /* LINT1 */
	acpi_seal(m);

	acpi_header(x, "XSDT", XSDT_SIZE, 1);
	acpi_put64(x + ACPI_HDR_SIZE, tables_gpa + off_fadt);
	acpi_put64(x + ACPI_HDR_SIZE + 8, tables_gpa + off_madt);
	acpi_seal(x);

	/* RSDP (5.2.5.3), revision 2: checksum over 20 bytes, extended over 36. */
	memset(rsdp, 0, 36);
	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, "EMBER ", 6);
	rsdp[15] = 2;
	acpi_put32(rsdp + 20, 36);
	acpi_put64(rsdp + 24, tables_gpa + off_xsdt);
	rsdp[8] = acpi_checksum(rsdp, 20);
	rsdp[32] = acpi_checksum(rsdp, 36);
	return (int)acpi_tables_size(ncpus);
}
