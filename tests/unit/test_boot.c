/* test_boot.c: e820 map, zero page, PVH start info, page tables, GDT, command line, MP table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "check.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static uint64_t e820_total(const struct e820_entry *e, unsigned n, uint32_t type)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < n; i++)
		if (e[i].type == type)
			t += e[i].size;
	return t;
}

static void check_sorted(const struct e820_entry *e, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		CHECK(e[i - 1].addr + e[i - 1].size <= e[i].addr);
}

static void test_e820_128m(void)
{
	struct e820_entry e[8];
	unsigned n = boot_e820_build(128 * MIB, e);

	CHECK_EQ_U(n, 4);
	check_sorted(e, n);
	CHECK_EQ_U(e[0].addr, 0);
	CHECK_EQ_U(e[0].size, LAYOUT_EBDA_START);
	CHECK_EQ_U(e[0].type, E820_RAM);
	CHECK_EQ_U(e[1].addr, LAYOUT_EBDA_START);
	CHECK_EQ_U(e[1].addr + e[1].size, LAYOUT_RESERVED_END);
	CHECK_EQ_U(e[1].type, E820_RESERVED);
	CHECK_EQ_U(e[2].addr, LAYOUT_HIMEM_START);
	CHECK_EQ_U(e[2].addr + e[2].size, 128 * MIB);
	CHECK_EQ_U(e[3].addr, LAYOUT_MMIO_GAP_START);
	CHECK_EQ_U(e[3].type, E820_RESERVED);
	/* All RAM is reported except the BIOS hole between EBDA and 1 MiB. */
	CHECK_EQ_U(e820_total(e, n, E820_RAM), 128 * MIB - (LAYOUT_HIMEM_START - LAYOUT_EBDA_START));
}

static void test_e820_above_4g(void)
{
	struct e820_entry e[8];
	unsigned n = boot_e820_build(3584 * MIB, e);

	CHECK_EQ_U(n, 5);
	check_sorted(e, n);
	CHECK_EQ_U(e[2].addr + e[2].size, LAYOUT_MMIO_GAP_START);
	CHECK_EQ_U(e[4].addr, 4 * GIB);
	CHECK_EQ_U(e[4].size, 3584 * MIB - 3 * GIB);
	CHECK_EQ_U(e[4].type, E820_RAM);
	for (unsigned i = 0; i < n; i++)
		if (e[i].type == E820_RAM)
			CHECK(e[i].addr + e[i].size <= LAYOUT_MMIO_GAP_START ||
			      e[i].addr >= LAYOUT_MMIO_GAP_END);
}

static void test_e820_exactly_3g(void)
{
	struct e820_entry e[8];
	unsigned n = boot_e820_build(3 * GIB, e);

	CHECK_EQ_U(n, 4);
	CHECK_EQ_U(e[2].addr + e[2].size, 3 * GIB);
}

static void test_gmem_layout_and_ptr(void)
{
	static uint8_t ram[2 * 4096];
	struct guest_mem m;

	CHECK_EQ_I(gmem_init_from(&m, ram, sizeof(ram), LAYOUT_RAM_HOLE), 0);
	CHECK(gmem_ptr(&m, 0, sizeof(ram)) == ram);
	CHECK(gmem_ptr(&m, 4096, 4096) == ram + 4096);
	CHECK(gmem_ptr(&m, 4097, 4096) == NULL);
	CHECK(gmem_ptr(&m, UINT64_MAX, 2) == NULL);
	CHECK(gmem_ptr(&m, sizeof(ram), 0) == NULL);
	CHECK(gmem_ptr(&m, sizeof(ram) - 1, 0) == ram + sizeof(ram) - 1);
}

/* RAM from a memory file: private pages, the file never written, too small a file refused. */
static void test_gmem_file(void)
{
	char path[] = "/tmp/ember-test-gmem-XXXXXX";
	int fd = mkstemp(path);
	uint8_t page[4096], back[4096];
	struct guest_mem m;
	uint8_t *p;

	CHECK(fd >= 0);
	unlink(path);
	memset(page, 0x5a, sizeof(page));
	CHECK(pwrite(fd, page, sizeof(page), 4096) == (ssize_t)sizeof(page));
	CHECK_EQ_I(ftruncate(fd, 3 * 4096), 0);
	CHECK_EQ_I(gmem_init_file(&m, fd, 4 * 4096, LAYOUT_RAM_HOLE), -EINVAL);
	CHECK_EQ_I(gmem_init_file(&m, fd, 2 * 4096, LAYOUT_RAM_HOLE), 0);
	p = gmem_ptr(&m, 4096, 4096);
	CHECK(p && p[0] == 0x5a && p[4095] == 0x5a);
	p[0] = 0x11;                                /* the guest writes: its own copy */
	CHECK(pread(fd, back, sizeof(back), 4096) == (ssize_t)sizeof(back) && back[0] == 0x5a);
	CHECK(gmem_ptr(&m, 2 * 4096, 1) == NULL);
	gmem_destroy(&m);
	close(fd);
	CHECK_EQ_I(gmem_init_file(&m, 0 + 1000, 4096, LAYOUT_RAM_HOLE), -EINVAL); /* not open */
}

static void test_gmem_split_regions(void)
{
	struct gmem_region r[2];

	CHECK_EQ_U(gmem_layout(4 * GIB, LAYOUT_RAM_HOLE, r), 2);
	CHECK_EQ_U(r[0].size, 3 * GIB);
	CHECK_EQ_U(r[1].gpa, 4 * GIB);
	CHECK_EQ_U(r[1].size, 1 * GIB);
}

static void test_zero_page(void)
{
	static uint8_t bp[BP_SIZE];
	struct e820_entry e[8];
	struct boot_zero_page_args a = { 0 };

	a.cmdline_gpa = LAYOUT_CMDLINE_START;
	a.cmdline_size = 12;
	a.initrd_gpa = 0x7000000;
	a.initrd_size = 4096;
	a.e820 = e;
	a.e820_entries = boot_e820_build(128 * MIB, e);
	CHECK_EQ_I(boot_zero_page_build(bp, &a), 0);
	CHECK_EQ_U(bp[BP_BOOT_FLAG] | bp[BP_BOOT_FLAG + 1] << 8, 0xaa55);
	CHECK_EQ_U(le32_at(bp + BP_HEADER), BP_HDR_MAGIC);
	CHECK_EQ_U(bp[BP_TYPE_OF_LOADER], 0xff);
	CHECK_EQ_U(le32_at(bp + BP_CMD_LINE_PTR), LAYOUT_CMDLINE_START);
	CHECK_EQ_U(le32_at(bp + BP_CMDLINE_SIZE), 11);
	CHECK_EQ_U(le32_at(bp + BP_RAMDISK_IMAGE), 0x7000000);
	CHECK_EQ_U(le32_at(bp + BP_RAMDISK_SIZE), 4096);
	CHECK_EQ_U(bp[BP_E820_ENTRIES], a.e820_entries);
	for (unsigned i = 0; i < a.e820_entries; i++) {
		const uint8_t *t = bp + BP_E820_TABLE + 20 * i;

		CHECK_EQ_U(le64_at(t), e[i].addr);
		CHECK_EQ_U(le64_at(t + 8), e[i].size);
		CHECK_EQ_U(le32_at(t + 16), e[i].type);
	}
}

static void test_zero_page_keeps_setup_header(void)
{
	static uint8_t bp[BP_SIZE];
	uint8_t hdr[0x70];
	struct boot_zero_page_args a = { 0 };

	memset(hdr, 0x5a, sizeof(hdr));
	a.setup_header = hdr;
	a.setup_header_len = sizeof(hdr);
	CHECK_EQ_I(boot_zero_page_build(bp, &a), 0);
	/* Untouched header bytes come from the kernel; loader fields are ours. */
	CHECK_EQ_U(bp[BP_SETUP_SECTS], 0x5a);
	CHECK_EQ_U(bp[BP_VERSION], 0x5a);
	CHECK_EQ_U(bp[BP_TYPE_OF_LOADER], 0xff);
	a.setup_header_len = BP_E820_TABLE;   /* would overrun into the e820 table */
	CHECK_EQ_I(boot_zero_page_build(bp, &a), -EINVAL);
	a.setup_header_len = sizeof(hdr);
	a.e820_entries = E820_MAX_ENTRIES + 1;
	CHECK_EQ_I(boot_zero_page_build(bp, &a), -EINVAL);
}

static void test_pvh_start_info(void)
{
	struct guest_mem m;
	uint8_t *ram = calloc(1, 1 << 20);
	struct e820_entry e[8];
	struct boot_zero_page_args a = { 0 };

	gmem_init_from(&m, ram, 1 << 20, LAYOUT_RAM_HOLE);
	a.cmdline_gpa = LAYOUT_CMDLINE_START;
	a.initrd_gpa = 0x80000;
	a.initrd_size = 77;
	a.e820 = e;
	a.e820_entries = boot_e820_build(256 * MIB, e);
	CHECK_EQ_I(boot_pvh_write(&m, &a), 0);
	CHECK_EQ_U(le32_at(ram + LAYOUT_PVH_INFO_START), PVH_START_MAGIC);
	CHECK_EQ_U(le32_at(ram + LAYOUT_PVH_INFO_START + 4), 1);
	CHECK_EQ_U(le32_at(ram + LAYOUT_PVH_INFO_START + 12), 1);
	CHECK_EQ_U(le64_at(ram + LAYOUT_PVH_INFO_START + 16), LAYOUT_PVH_MODLIST_START);
	CHECK_EQ_U(le64_at(ram + LAYOUT_PVH_INFO_START + 24), LAYOUT_CMDLINE_START);
	CHECK_EQ_U(le64_at(ram + LAYOUT_PVH_INFO_START + 40), LAYOUT_PVH_MEMMAP_START);
	CHECK_EQ_U(le32_at(ram + LAYOUT_PVH_INFO_START + 48), a.e820_entries);
	CHECK_EQ_U(le64_at(ram + LAYOUT_PVH_MODLIST_START), 0x80000);
	CHECK_EQ_U(le64_at(ram + LAYOUT_PVH_MODLIST_START + 8), 77);
	CHECK_EQ_U(le64_at(ram + LAYOUT_PVH_MEMMAP_START + 24 * 2), LAYOUT_HIMEM_START);
	CHECK_EQ_U(le32_at(ram + LAYOUT_PVH_MEMMAP_START + 24 * 1 + 16), E820_RESERVED);
	/* The start info must not overlap the module list it points to. */
	CHECK(LAYOUT_PVH_INFO_START + PVH_INFO_SIZE <= LAYOUT_PVH_MODLIST_START);
	free(ram);
}

static void test_pagetables_and_gdt(void)
{
	struct guest_mem m;
	uint8_t *ram = calloc(1, 1 << 20);
	uint64_t gdt[4];

	gmem_init_from(&m, ram, 1 << 20, LAYOUT_RAM_HOLE);
	CHECK_EQ_I(boot_pagetables_write(&m), 0);
	CHECK_EQ_U(le64_at(ram + LAYOUT_PML4_START), LAYOUT_PDPTE_START | 3);
	CHECK_EQ_U(le64_at(ram + LAYOUT_PDPTE_START), LAYOUT_PDE_START | 3);
	CHECK_EQ_U(le64_at(ram + LAYOUT_PDE_START + 8 * 511), (511ULL << 21) | 0x83);
	CHECK_EQ_I(boot_gdt_write(&m, 1, gdt), 0);
	/* Known encodings: flat 64-bit code and flat data segments. */
	CHECK_EQ_U(gdt[1], 0x00af9b000000ffffULL);
	CHECK_EQ_U(gdt[2], 0x00cf93000000ffffULL);
	CHECK_EQ_U(le64_at(ram + LAYOUT_GDT_START + 8), gdt[1]);
	CHECK_EQ_I(boot_gdt_write(&m, 0, gdt), 0);
	CHECK_EQ_U(gdt[1], 0x00cf9b000000ffffULL);
	free(ram);
	/* Too little RAM for the structures: refused, not written. */
	static uint8_t small[0x8000];
	gmem_init_from(&m, small, sizeof(small), LAYOUT_RAM_HOLE);
	CHECK_EQ_I(boot_pagetables_write(&m), -EFAULT);
}

static void test_cmdline(void)
{
	char out[LAYOUT_CMDLINE_MAX];
	static char big[LAYOUT_CMDLINE_MAX + 10];

	CHECK_EQ_I(boot_cmdline_build(out, sizeof(out), "console=ttyS0", "pci=off"), 22);
	CHECK_STR(out, "console=ttyS0 pci=off");
	CHECK_EQ_I(boot_cmdline_build(out, sizeof(out), "", "pci=off"), 8);
	CHECK_STR(out, "pci=off");
	CHECK_EQ_I(boot_cmdline_build(out, sizeof(out), "a", NULL), 2);
	CHECK_STR(out, "a");
	memset(big, 'x', LAYOUT_CMDLINE_MAX - 1);
	big[LAYOUT_CMDLINE_MAX - 1] = '\0';
	/* 2047 characters fit exactly; one more does not. */
	CHECK_EQ_I(boot_cmdline_build(out, sizeof(out), big, NULL), LAYOUT_CMDLINE_MAX);
	CHECK_EQ_I(boot_cmdline_build(out, sizeof(out), big, "y"), -E2BIG);
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static void check_mptable(unsigned ncpus)
{
	uint8_t buf[1024];
	int n = mptable_build(buf, sizeof(buf), 0x9fc00, ncpus);
	const uint8_t *mpc = buf + 16, *p;
	unsigned cpus = 0, bsp = 0, ioapics = 0, intsrc = 0, entries;

	CHECK(n > 0);
	if (n <= 0)
		return;
	CHECK(memcmp(buf, "_MP_", 4) == 0);
	CHECK_EQ_U(le32_at(buf + 4), 0x9fc00 + 16);
	CHECK_EQ_U(sum8(buf, 16), 0);
	CHECK(memcmp(mpc, "PCMP", 4) == 0);
	CHECK_EQ_U(sum8(mpc, (size_t)(mpc[4] | mpc[5] << 8)), 0);
	CHECK_EQ_U(le32_at(mpc + 36), LAYOUT_LAPIC_START);
	entries = (unsigned)(mpc[34] | mpc[35] << 8);
	p = mpc + 44;
	for (unsigned i = 0; i < entries; i++) {
		if (p[0] == 0) {
			CHECK_EQ_U(p[1], cpus);
			cpus++;
			bsp += (p[3] & 2) ? 1 : 0;
			p += 20;
			continue;
		}
		if (p[0] == 2) {
			ioapics++;
			CHECK_EQ_U(le32_at(p + 4), LAYOUT_IOAPIC_START);
			CHECK(p[1] >= ncpus);   /* IOAPIC id clashes with no CPU */
		}
		intsrc += p[0] == 3;
		p += 8;
	}
	CHECK_EQ_U((size_t)(p - buf), (size_t)n);
	CHECK_EQ_U(cpus, ncpus);
	CHECK_EQ_U(bsp, 1);
	CHECK_EQ_U(ioapics, 1);
	CHECK_EQ_U(intsrc, LAYOUT_IOAPIC_PINS);
	/* It must fit in the reserved area below 640 KiB. */
	CHECK((size_t)n <= 1024);
}

static void test_mptable(void)
{
	check_mptable(1);
	check_mptable(2);
	check_mptable(4);
	check_mptable(LAYOUT_MAX_VCPUS);
	uint8_t buf[64];
	CHECK_EQ_I(mptable_build(buf, sizeof(buf), 0x9fc00, 1), -E2BIG);
	CHECK_EQ_I(mptable_build(buf, sizeof(buf), 0x9fc00, 0), -EINVAL);
	CHECK_EQ_I(mptable_build(buf, sizeof(buf), 0x9fc00, LAYOUT_MAX_VCPUS + 1), -EINVAL);
}

static const uint8_t *acpi_at(const uint8_t *tables, uint64_t base, uint64_t gpa)
{
	return tables + (gpa - base);
}

static void check_acpi(unsigned ncpus)
{
	static uint8_t tables[4096];
	uint8_t rsdp[36];
	const uint64_t base = 0x9fe00;
	const uint8_t *xsdt, *fadt, *madt, *dsdt, *p, *end;
	unsigned lapics = 0, ioapics = 0, nmis = 0;
	int n = acpi_build(tables, sizeof(tables), base, rsdp, ncpus, NULL, 0);

	CHECK(n > 0);
	if (n <= 0)
		return;
	CHECK(memcmp(rsdp, "RSD PTR ", 8) == 0);
	CHECK_EQ_U(sum8(rsdp, 20), 0);
	CHECK_EQ_U(sum8(rsdp, 36), 0);
	CHECK_EQ_U(rsdp[15], 2);
	xsdt = acpi_at(tables, base, le64_at(rsdp + 24));
	CHECK(memcmp(xsdt, "XSDT", 4) == 0);
	CHECK_EQ_U(sum8(xsdt, le32_at(xsdt + 4)), 0);
	CHECK_EQ_U(le32_at(xsdt + 4), 36 + 16);
	fadt = acpi_at(tables, base, le64_at(xsdt + 36));
	madt = acpi_at(tables, base, le64_at(xsdt + 44));
	CHECK(memcmp(fadt, "FACP", 4) == 0);
	CHECK_EQ_U(sum8(fadt, le32_at(fadt + 4)), 0);
	CHECK(le32_at(fadt + 112) & (1u << 20));          /* hardware-reduced */
	dsdt = acpi_at(tables, base, le64_at(fadt + 140));
	CHECK_EQ_U(le32_at(fadt + 40), le64_at(fadt + 140));
	CHECK(memcmp(dsdt, "DSDT", 4) == 0);
	CHECK_EQ_U(sum8(dsdt, le32_at(dsdt + 4)), 0);
	CHECK(memcmp(madt, "APIC", 4) == 0);
	CHECK_EQ_U(sum8(madt, le32_at(madt + 4)), 0);
	CHECK_EQ_U(le32_at(madt + 36), LAYOUT_LAPIC_START);
	end = madt + le32_at(madt + 4);
	CHECK(end <= tables + n);
	for (p = madt + 44; p < end && p[1]; p += p[1]) {
		if (p[0] == 0) {
			CHECK_EQ_U(p[3], lapics);
			CHECK_EQ_U(le32_at(p + 4) & 1, 1);
			lapics++;
		}
		if (p[0] == 1) {
			ioapics++;
			CHECK_EQ_U(le32_at(p + 4), LAYOUT_IOAPIC_START);
		}
		nmis += p[0] == 4;
	}
	CHECK(p == end);
	CHECK_EQ_U(lapics, ncpus);
	CHECK_EQ_U(ioapics, 1);
	CHECK_EQ_U(nmis, 1);
}

static void test_acpi(void)
{
	uint8_t rsdp[36], small[64];

	check_acpi(1);
	check_acpi(4);
	check_acpi(LAYOUT_MAX_VCPUS);
	CHECK_EQ_I(acpi_build(small, sizeof(small), 0x9fe00, rsdp, 1, NULL, 0), -E2BIG);
	CHECK_EQ_I(acpi_build(small, sizeof(small), 0x9fe00, rsdp, 0, NULL, 0), -EINVAL);
	/* Everything fits in the reserved area next to a full MP table. */
	CHECK(mptable_size(LAYOUT_MAX_VCPUS) + 16 +
	      acpi_tables_size(LAYOUT_MAX_VCPUS, ACPI_MAX_MMIO_DEVS) <=
	      LAYOUT_RESERVED_END - LAYOUT_MPTABLE_START);
}

int main(void)
{
	RUN(test_e820_128m);
	RUN(test_e820_above_4g);
	RUN(test_e820_exactly_3g);
	RUN(test_gmem_layout_and_ptr);
	RUN(test_gmem_split_regions);
	RUN(test_gmem_file);
	RUN(test_zero_page);
	RUN(test_zero_page_keeps_setup_header);
	RUN(test_pvh_start_info);
	RUN(test_pagetables_and_gdt);
	RUN(test_cmdline);
	RUN(test_mptable);
	RUN(test_acpi);
	return check_summary();
}
