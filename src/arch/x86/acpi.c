/* acpi.c: the ACPI 6.x tables that tell a Linux guest its CPUs, interrupt controllers, devices. */
#include "arch/x86/acpi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/aml.h"
#include "arch/x86/layout.h"

#define ACPI_HDR_SIZE   36
#define XSDT_ENTRIES    2                   /* FADT, MADT */
#define XSDT_SIZE       (ACPI_HDR_SIZE + 8 * XSDT_ENTRIES)
#define FADT_SIZE       276                 /* ACPI 6.x FADT */
#define DSDT_AML_MAX    4096                /* AML for ACPI_MAX_MMIO_DEVS devices fits */
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
#define FADT_SLEEP_CONTROL   244
#define FADT_SLEEP_STATUS    256
#define FADT_HYPERVISOR_ID   268
#define IAPC_8042            (1u << 1)
#define IAPC_NO_VGA          (1u << 2)
#define IAPC_NO_CMOS_RTC     (1u << 5)
#define FADT_HW_REDUCED_ACPI (1u << 20)

/* Generic Address Structure (5.2.3.2). */
#define GAS_SPACE_IO         1
#define GAS_ACCESS_BYTE      1

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

/*
 * The VM generation ID (Microsoft's "Virtual Machine Generation ID" paper, as
 * Firecracker describes it): VGEN names the 16 bytes at LAYOUT_VMGENID_START
 * in ADDR (low, high dword); Linux's vmgenid driver binds to the _CID (which
 * ACPICA upper-cases to VM_GEN_COUNTER) and reads the ID when notified. The
 * Generic Event Device (ACPI0013) takes edge interrupt LAYOUT_GED_IRQ and its
 * _EVT sends that notification (0x80).
 */
static void acpi_vmgenid_aml(struct aml *a)
{
	size_t dev, crs, pkg, m, i;

	dev = aml_device_begin(a, "VGEN");
	aml_name_decl(a, "_HID");
	aml_string(a, "FCVMGID");
	aml_name_decl(a, "_CID");
	aml_string(a, "VM_Gen_Counter");
	aml_name_decl(a, "_DDN");
	aml_string(a, "VM_Gen_Counter");
	aml_name_decl(a, "ADDR");
	pkg = aml_package_begin(a, 2);
	aml_int(a, LAYOUT_VMGENID_START & 0xffffffffu);
	aml_int(a, LAYOUT_VMGENID_START >> 32);
	aml_package_end(a, pkg);
	aml_end(a, dev);

	dev = aml_device_begin(a, "GED_");
	aml_name_decl(a, "_HID");
	aml_string(a, "ACPI0013");
	aml_name_decl(a, "_UID");
	aml_int(a, 0);
	aml_name_decl(a, "_CRS");
	crs = aml_restemplate_begin(a);
	aml_res_ext_irq_edge(a, LAYOUT_GED_IRQ);
	aml_restemplate_end(a, crs);
	/* Linux's GED calls _EVT with the GSI that fired. */
	m = aml_method_begin(a, "_EVT", 1);
	i = aml_if_begin(a);
	aml_lequal(a);
	aml_arg(a, 0);
	aml_int(a, LAYOUT_GED_IRQ);
	aml_notify(a, "\\_SB_.VGEN", 0x80);
	aml_end(a, i);
	aml_end(a, m);
	aml_end(a, dev);
}

/*
 * The DSDT's AML: \_SB_ with COM1, the i8042, one device per virtio-mmio
 * slot, the VM generation ID and its event device, then \_S5. Legacy IRQs
 * are described because a hardware-reduced platform has no 8259: without
 * _CRS Linux does not know that ISA IRQs 1 and 4 are edge-triggered, active
 * high. Returns the AML length or -E2BIG.
 */
static int acpi_dsdt_aml(uint8_t *buf, size_t cap, const struct acpi_mmio_dev *devs,
			 unsigned ndevs)
{
	struct aml a;
	size_t sb, dev, crs, pkg;
	char name[16];

	if (ndevs > ACPI_MAX_MMIO_DEVS)
		return -E2BIG;
	aml_init(&a, buf, cap);
	sb = aml_scope_begin(&a, "\\_SB_");

	dev = aml_device_begin(&a, "COM1");
	aml_name_decl(&a, "_HID");
	aml_int(&a, aml_eisaid("PNP0501"));
	aml_name_decl(&a, "_UID");
	aml_int(&a, 0);
	aml_name_decl(&a, "_CRS");
	crs = aml_restemplate_begin(&a);
	aml_res_io(&a, LAYOUT_COM1_PORT, 8);
	aml_res_irq_noflags(&a, LAYOUT_COM1_IRQ);
	aml_restemplate_end(&a, crs);
	aml_end(&a, dev);

	dev = aml_device_begin(&a, "PS2_");
	aml_name_decl(&a, "_HID");
	aml_int(&a, aml_eisaid("PNP0303"));
	aml_name_decl(&a, "_UID");
	aml_int(&a, 0);
	aml_name_decl(&a, "_CRS");
	crs = aml_restemplate_begin(&a);
	aml_res_io(&a, LAYOUT_I8042_DATA_PORT, 1);
	aml_res_io(&a, LAYOUT_I8042_CMD_PORT, 1);
	aml_res_irq_noflags(&a, LAYOUT_I8042_IRQ);
	aml_restemplate_end(&a, crs);
	aml_end(&a, dev);

	for (unsigned i = 0; i < ndevs; i++) {
		const struct acpi_mmio_dev *m = &devs[i];

		if (m->base > UINT32_MAX || m->size > UINT32_MAX - m->base ||
		    m->gsi >= LAYOUT_IOAPIC_PINS)
			return -EINVAL;
		snprintf(name, sizeof(name), "V%03u", i);
		dev = aml_device_begin(&a, name);
		aml_name_decl(&a, "_HID");
		aml_string(&a, "LNRO0005");
		aml_name_decl(&a, "_UID");
		aml_int(&a, i);
		aml_name_decl(&a, "_CCA");
		aml_int(&a, 1);   /* DMA is cache-coherent */
		aml_name_decl(&a, "_CRS");
		crs = aml_restemplate_begin(&a);
		aml_res_mem32_fixed(&a, (uint32_t)m->base, (uint32_t)m->size, 1);
		aml_res_ext_irq_edge(&a, m->gsi);
		aml_restemplate_end(&a, crs);
		aml_end(&a, dev);
	}
	acpi_vmgenid_aml(&a);
	aml_end(&a, sb);

	/* Soft off: Linux writes SLP_TYP 5 | SLP_EN to the FADT's sleep control register. */
	aml_name_decl(&a, "\\_S5_");
	pkg = aml_package_begin(&a, 2);
	aml_int(&a, ACPI_S5_SLP_TYP);
	aml_int(&a, 0);
	aml_package_end(&a, pkg);
	return aml_len(&a);
}

size_t acpi_tables_size(unsigned ncpus, unsigned ndevs)
{
	static const struct acpi_mmio_dev any[ACPI_MAX_MMIO_DEVS];
	uint8_t aml[DSDT_AML_MAX];
	int n;

	/* The AML's size depends on the number of devices only, not on their values. */
	if (ndevs > ACPI_MAX_MMIO_DEVS)
		return 0;
	n = acpi_dsdt_aml(aml, sizeof(aml), any, ndevs);
	if (n < 0)
		return 0;
	return acpi_align8(XSDT_SIZE) + acpi_align8(FADT_SIZE) +
	       acpi_align8(ACPI_HDR_SIZE + (size_t)n) + acpi_align8(acpi_madt_size(ncpus));
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

/* A byte-wide SystemIO register at @port (Generic Address Structure, 12 bytes). */
static void acpi_gas_io8(uint8_t *g, uint16_t port)
{
	g[0] = GAS_SPACE_IO;
	g[1] = 8;                 /* register bit width */
	g[2] = 0;                 /* bit offset */
	g[3] = GAS_ACCESS_BYTE;
	acpi_put64(g + 4, port);
}

int acpi_build(uint8_t *tables, size_t cap, uint64_t tables_gpa, uint8_t rsdp[36],
	       unsigned ncpus, const struct acpi_mmio_dev *devs, unsigned ndevs)
{
	size_t off_xsdt = 0, off_fadt = acpi_align8(XSDT_SIZE);
	size_t off_dsdt = off_fadt + acpi_align8(FADT_SIZE);
	size_t off_madt, dsdt_len, total;
	size_t madt_len = acpi_madt_size(ncpus);
	uint8_t *x = tables + off_xsdt, *f = tables + off_fadt, *d = tables + off_dsdt;
	uint8_t *m, *p;
	int n;

	if (ncpus == 0 || ncpus > LAYOUT_MAX_VCPUS || tables_gpa > UINT32_MAX ||
	    (ndevs && !devs))
		return -EINVAL;
	if (ndevs > ACPI_MAX_MMIO_DEVS)
		return -E2BIG;
	total = acpi_tables_size(ncpus, ndevs);
	if (total == 0 || total > cap)
		return -E2BIG;

	/* The AML goes first, right after the header; the header is written over it last. */
	n = acpi_dsdt_aml(d + ACPI_HDR_SIZE, cap - off_dsdt - ACPI_HDR_SIZE, devs, ndevs);
	if (n < 0)
		return n;
	dsdt_len = ACPI_HDR_SIZE + (size_t)n;
	off_madt = off_dsdt + acpi_align8(dsdt_len);
	if (off_madt + acpi_align8(madt_len) != total)
		return -EINVAL;   /* acpi_tables_size() and the AML disagree: a bug */
	m = tables + off_madt;
	/* acpi_header() clears what it covers: only the header here, then the real length. */
	acpi_header(d, "DSDT", ACPI_HDR_SIZE, 2);
	acpi_put32(d + 4, (uint32_t)dsdt_len);
	acpi_seal(d);
	memset(d + dsdt_len, 0, off_madt - off_dsdt - dsdt_len);

	acpi_header(f, "FACP", FADT_SIZE, 6);
	acpi_put32(f + FADT_DSDT, (uint32_t)(tables_gpa + off_dsdt));
	acpi_put64(f + FADT_X_DSDT, tables_gpa + off_dsdt);
	acpi_put16(f + FADT_IAPC_BOOT_ARCH, IAPC_8042 | IAPC_NO_VGA | IAPC_NO_CMOS_RTC);
	acpi_put32(f + FADT_FLAGS, FADT_HW_REDUCED_ACPI);
	acpi_gas_io8(f + FADT_SLEEP_CONTROL, LAYOUT_ACPI_SLEEP_PORT);
	acpi_gas_io8(f + FADT_SLEEP_STATUS, LAYOUT_ACPI_SLEEP_PORT);
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
	return (int)total;
}
