/* test_aml.c: the AML writer byte by byte, the DSDT and FADT ember writes, and iasl as referee. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"

#define TABLES_GPA 0x9fe00ULL

static uint8_t buf[8192];

/* Compare what @a holds with the expected bytes. */
#define CHECK_AML(a, ...)                                                              \
	do {                                                                           \
		static const uint8_t want_[] = { __VA_ARGS__ };                        \
		CHECK_EQ_I(aml_len(a), (int)sizeof(want_));                            \
		if (aml_len(a) == (int)sizeof(want_))                                  \
			CHECK(memcmp((a)->buf, want_, sizeof(want_)) == 0);            \
	} while (0)

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* The PkgLength decoder of ACPI 6.5 20.2.4, independent of the encoder. */
static size_t pkglen_decode(const uint8_t *p, size_t *nbytes)
{
	size_t n = (size_t)(p[0] >> 6) + 1, v;

	*nbytes = n;
	if (n == 1)
		return p[0] & 0x3f;
	v = p[0] & 0x0f;
	for (size_t i = 1; i < n; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	return v;
}

static void test_pkglen_boundaries(void)
{
	uint8_t b[4];
	size_t n;

	/* A PkgLength counts its own bytes: 62 bytes of content is 63, the 1-byte maximum. */
	CHECK_EQ_U(aml_pkglen_encode(b, 0), 1);
	CHECK_EQ_U(b[0], 0x01);
	CHECK_EQ_U(aml_pkglen_encode(b, 62), 1);
	CHECK_EQ_U(b[0], 0x3f);
	/* 63 bytes: 64 does not fit 6 bits, so two bytes, 65 in all. */
	CHECK_EQ_U(aml_pkglen_encode(b, 63), 2);
	CHECK_EQ_U(b[0], 0x41);
	CHECK_EQ_U(b[1], 0x04);
	/* 4095 is the 2-byte maximum (12 bits); 4096 needs three. */
	CHECK_EQ_U(aml_pkglen_encode(b, 4093), 2);
	CHECK_EQ_U(b[0], 0x4f);
	CHECK_EQ_U(b[1], 0xff);
	CHECK_EQ_U(aml_pkglen_encode(b, 4094), 3);
	CHECK_EQ_U(b[0], 0x81);
	CHECK_EQ_U(b[1], 0x00);
	CHECK_EQ_U(b[2], 0x01);
	/* 0xfffff is the 3-byte maximum (20 bits), then four bytes up to 2^28 - 1. */
	CHECK_EQ_U(aml_pkglen_encode(b, 0xffffc), 3);
	CHECK_EQ_U(b[0], 0x8f);
	CHECK_EQ_U(b[1], 0xff);
	CHECK_EQ_U(b[2], 0xff);
	CHECK_EQ_U(aml_pkglen_encode(b, 0xffffd), 4);
	CHECK_EQ_U(b[0], 0xc1);
	CHECK_EQ_U(b[1], 0x00);
	CHECK_EQ_U(b[2], 0x00);
	CHECK_EQ_U(b[3], 0x01);
	CHECK_EQ_U(aml_pkglen_encode(b, 0xffffffb), 4);
	CHECK_EQ_U(pkglen_decode(b, &n), 0xfffffff);
	CHECK_EQ_U(aml_pkglen_encode(b, 0xffffffc), 0);
	/* Every size up to 3-byte range decodes back to content + own size, shortest form. */
	for (size_t c = 0; c < 70000; c++) {
		size_t k = aml_pkglen_encode(b, c);

		if (pkglen_decode(b, &n) != c + k || n != k ||
		    (k > 1 && c + k - 1 < ((k == 2) ? 64u : (k == 3) ? 4096u : 0x100000u))) {
			CHECK_FAIL_("pkglen %zu encodes badly (%zu bytes)", c, k);
			break;
		}
	}
}

/* A Scope whose content crosses the 1-, 2- and 3-byte PkgLength sizes keeps its content intact. */
static void test_pkglen_in_scope(void)
{
	static const size_t sizes[] = { 57, 58, 4088, 4089 };
	static uint8_t big[8192];
	struct aml a;

	for (unsigned i = 0; i < 4; i++) {
		size_t content = 4 + sizes[i], n, mark;
		uint8_t fill[4096];

		memset(fill, 0xa5, sizeof(fill));
		aml_init(&a, big, sizeof(big));
		mark = aml_scope_begin(&a, "_SB_");
		aml_bytes(&a, fill, sizes[i]);
		aml_end(&a, mark);
		CHECK(aml_len(&a) > 0);
		CHECK_EQ_U(big[0], 0x10);
		CHECK_EQ_U(pkglen_decode(big + 1, &n), content + n);
		CHECK_EQ_U(n, content + 1 <= 63 ? 1 : content + 2 <= 4095 ? 2 : 3);
		CHECK(memcmp(big + 1 + n, "_SB_", 4) == 0);
		CHECK_EQ_U(big[1 + n + 4], 0xa5);
		CHECK_EQ_U(big[1 + n + 4 + sizes[i] - 1], 0xa5);
		CHECK_EQ_I(aml_len(&a), (int)(1 + n + content));
	}
}

static void test_integers(void)
{
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_int(&a, 0);
	aml_int(&a, 1);
	aml_int(&a, 2);
	aml_int(&a, 0xff);
	CHECK_AML(&a, 0x00, 0x01, 0x0a, 0x02, 0x0a, 0xff);
	aml_init(&a, buf, sizeof(buf));
	aml_int(&a, 0x100);
	aml_int(&a, 0xffff);
	CHECK_AML(&a, 0x0b, 0x00, 0x01, 0x0b, 0xff, 0xff);
	aml_init(&a, buf, sizeof(buf));
	aml_int(&a, 0x10000);
	aml_int(&a, 0xffffffff);
	CHECK_AML(&a, 0x0c, 0x00, 0x00, 0x01, 0x00, 0x0c, 0xff, 0xff, 0xff, 0xff);
	aml_init(&a, buf, sizeof(buf));
	aml_int(&a, 0x100000000ULL);
	aml_int(&a, 0x0123456789abcdefULL);
	CHECK_AML(&a, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
		  0x0e, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01);
}

static void test_eisaid_and_strings(void)
{
	struct aml a;

	CHECK_EQ_U(aml_eisaid("PNP0501"), 0x0105d041);
	CHECK_EQ_U(aml_eisaid("PNP0303"), 0x0303d041);
	CHECK_EQ_U(aml_eisaid("PNP0A03"), 0x030ad041);
	CHECK_EQ_U(aml_eisaid("pnp0501"), 0);
	CHECK_EQ_U(aml_eisaid("PNP050"), 0);
	CHECK_EQ_U(aml_eisaid("PNP05G1"), 0);
	aml_init(&a, buf, sizeof(buf));
	aml_int(&a, aml_eisaid("PNP0501"));
	CHECK_AML(&a, 0x0c, 0x41, 0xd0, 0x05, 0x01);
	aml_init(&a, buf, sizeof(buf));
	aml_string(&a, "LNRO0005");
	CHECK_AML(&a, 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00);
	aml_init(&a, buf, sizeof(buf));
	aml_string(&a, "");
	CHECK_AML(&a, 0x0d, 0x00);
	aml_init(&a, buf, sizeof(buf));
	aml_string(&a, "\xe9");
	CHECK_EQ_I(aml_len(&a), -E2BIG);
}

static void test_names(void)
{
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_name(&a, "_SB_");
	aml_name(&a, "S5");
	CHECK_AML(&a, '_', 'S', 'B', '_', 'S', '5', '_', '_');
	aml_init(&a, buf, sizeof(buf));
	aml_name(&a, "\\_SB_.COM1");
	CHECK_AML(&a, 0x5c, 0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1');
	aml_init(&a, buf, sizeof(buf));
	aml_name(&a, "\\_SB_.PCI0.S08");
	CHECK_AML(&a, 0x5c, 0x2f, 0x03, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'S', '0', '8', '_');
	aml_init(&a, buf, sizeof(buf));
	aml_name(&a, "^^V000");
	CHECK_AML(&a, 0x5e, 0x5e, 'V', '0', '0', '0');
	static const char *const bad[] = { "", "\\", "0ABC", "ABCDE", "abc", "A..B", "A.", "^\\A" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a, buf, sizeof(buf));
		aml_name(&a, bad[i]);
		if (aml_len(&a) != -E2BIG)
			CHECK_FAIL_("name \"%s\" accepted", bad[i]);
	}
}

static void test_named_objects(void)
{
	struct aml a;
	size_t d, m, p;

	/* Device(COM1) { Name(_UID, Zero) } */
	aml_init(&a, buf, sizeof(buf));
	d = aml_device_begin(&a, "COM1");
	aml_name_decl(&a, "_UID");
	aml_int(&a, 0);
	aml_end(&a, d);
	CHECK_AML(&a, 0x5b, 0x82, 0x0b, 'C', 'O', 'M', '1', 0x08, '_', 'U', 'I', 'D', 0x00);

	/* Scope(\_SB_) {} */
	aml_init(&a, buf, sizeof(buf));
	d = aml_scope_begin(&a, "\\_SB_");
	aml_end(&a, d);
	CHECK_AML(&a, 0x10, 0x06, 0x5c, '_', 'S', 'B', '_');

	/* Method(_STA, 0) { Return(0x0F) } */
	aml_init(&a, buf, sizeof(buf));
	m = aml_method_begin(&a, "_STA", 0);
	aml_return(&a);
	aml_int(&a, 0x0f);
	aml_end(&a, m);
	CHECK_AML(&a, 0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f);

	/* Name(\_S5_, Package(){5, 0}) */
	aml_init(&a, buf, sizeof(buf));
	aml_name_decl(&a, "\\_S5_");
	p = aml_package_begin(&a, 2);
	aml_int(&a, 5);
	aml_int(&a, 0);
	aml_package_end(&a, p);
	CHECK_AML(&a, 0x08, 0x5c, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0a, 0x05, 0x00);

	/*
	 * Method(_EVT, 1) { If (LEqual(Arg0, 3)) { Notify(\_SB_.VGEN, 0x80) } }:
	 * IfOp 0xA0 PkgLength Predicate TermList; LEqualOp 0x93 Operand Operand;
	 * Arg0Op 0x68; NotifyOp 0x86 SuperName TermArg (ACPI 6.5 20.2.5.3, 20.2.5.4,
	 * 20.2.6.1). The If holds 17 bytes (PkgLength 0x12), the method 24 (0x19).
	 */
	aml_init(&a, buf, sizeof(buf));
	m = aml_method_begin(&a, "_EVT", 1);
	p = aml_if_begin(&a);
	aml_lequal(&a);
	aml_arg(&a, 0);
	aml_int(&a, 3);
	aml_notify(&a, "\\_SB_.VGEN", 0x80);
	aml_end(&a, p);
	aml_end(&a, m);
	CHECK_AML(&a, 0x14, 0x19, '_', 'E', 'V', 'T', 0x01,
		  0xa0, 0x12, 0x93, 0x68, 0x0a, 0x03,
		  0x86, 0x5c, 0x2e, '_', 'S', 'B', '_', 'V', 'G', 'E', 'N', 0x0a, 0x80);
	/* Arg6 is the last argument; an empty If is its opcode and PkgLength 1. */
	aml_init(&a, buf, sizeof(buf));
	aml_arg(&a, 6);
	p = aml_if_begin(&a);
	aml_int(&a, 1);
	aml_end(&a, p);
	CHECK_AML(&a, 0x6e, 0xa0, 0x02, 0x01);
	aml_init(&a, buf, sizeof(buf));
	aml_arg(&a, 7);
	CHECK_EQ_I(aml_len(&a), -E2BIG);

	aml_init(&a, buf, sizeof(buf));
	aml_method_begin(&a, "_STA", 8);
	CHECK_EQ_I(aml_len(&a), -E2BIG);
	aml_init(&a, buf, sizeof(buf));
	aml_package_begin(&a, 256);
	CHECK_EQ_I(aml_len(&a), -E2BIG);
}

static void test_resource_descriptors(void)
{
	struct aml a;
	size_t r;

	aml_init(&a, buf, sizeof(buf));
	aml_res_io(&a, 0x3f8, 8);
	CHECK_AML(&a, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08);
	aml_init(&a, buf, sizeof(buf));
	aml_res_irq_noflags(&a, 4);
	aml_res_irq_noflags(&a, 1);
	CHECK_AML(&a, 0x22, 0x10, 0x00, 0x22, 0x02, 0x00);
	aml_init(&a, buf, sizeof(buf));
	aml_res_irq(&a, 12, 0x01);
	CHECK_AML(&a, 0x23, 0x00, 0x10, 0x01);
	aml_init(&a, buf, sizeof(buf));
	aml_res_irq_noflags(&a, 16);
	CHECK_EQ_I(aml_len(&a), -E2BIG);
	aml_init(&a, buf, sizeof(buf));
	aml_res_mem32_fixed(&a, 0xc0001000, 0x1000, 1);
	CHECK_AML(&a, 0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00, 0xc0, 0x00, 0x10, 0x00, 0x00);
	aml_init(&a, buf, sizeof(buf));
	aml_res_mem32_fixed(&a, 0xfed00000, 0x400, 0);
	CHECK_AML(&a, 0x86, 0x09, 0x00, 0x00, 0x00, 0x00, 0xd0, 0xfe, 0x00, 0x04, 0x00, 0x00);
	/* Consumer, edge, active high, exclusive, one interrupt. */
	aml_init(&a, buf, sizeof(buf));
	aml_res_ext_irq_edge(&a, 5);
	CHECK_AML(&a, 0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00);

	/* ResourceTemplate(){ IO(...) IRQNoFlags(){4} }: Buffer, PkgLength, size, bytes, EndTag. */
	aml_init(&a, buf, sizeof(buf));
	r = aml_restemplate_begin(&a);
	aml_res_io(&a, 0x3f8, 8);
	aml_res_irq_noflags(&a, 4);
	aml_restemplate_end(&a, r);
	CHECK_AML(&a, 0x11, 0x10, 0x0a, 0x0d,
		  0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
		  0x22, 0x10, 0x00,
		  0x79, 0x00);
	/* An empty template is the EndTag alone. */
	aml_init(&a, buf, sizeof(buf));
	r = aml_restemplate_begin(&a);
	aml_restemplate_end(&a, r);
	CHECK_AML(&a, 0x11, 0x05, 0x0a, 0x02, 0x79, 0x00);
}

static void test_overflow_is_sticky(void)
{
	uint8_t small[10];
	struct aml a;
	size_t d;

	aml_init(&a, small, sizeof(small));
	d = aml_device_begin(&a, "COM1");   /* 6 bytes */
	aml_name_decl(&a, "_UID");          /* 5 more: does not fit */
	aml_int(&a, 0);
	aml_end(&a, d);
	CHECK_EQ_I(aml_len(&a), -E2BIG);
	/* Exactly full is fine: the PkgLength byte makes 7 of 7. */
	aml_init(&a, small, 7);
	d = aml_device_begin(&a, "COM1");
	aml_end(&a, d);
	CHECK_EQ_I(aml_len(&a), 7);
	aml_init(&a, small, 6);
	d = aml_device_begin(&a, "COM1");
	aml_end(&a, d);
	CHECK_EQ_I(aml_len(&a), -E2BIG);
}

/* The three devices of a typical VM: a block device, a net device, vsock. */
static const struct acpi_mmio_dev three[3] = {
	{ LAYOUT_VIRTIO_MMIO_START, LAYOUT_VIRTIO_MMIO_SIZE, LAYOUT_VIRTIO_IRQ_BASE },
	{ LAYOUT_VIRTIO_MMIO_START + LAYOUT_VIRTIO_MMIO_SIZE, LAYOUT_VIRTIO_MMIO_SIZE,
	  LAYOUT_VIRTIO_IRQ_BASE + 1 },
	{ LAYOUT_VIRTIO_MMIO_START + 2 * LAYOUT_VIRTIO_MMIO_SIZE, LAYOUT_VIRTIO_MMIO_SIZE,
	  LAYOUT_VIRTIO_IRQ_BASE + 2 },
};

static struct acpi_mmio_dev slots[ACPI_MAX_MMIO_DEVS + 1];

static void fill_slots(void)
{
	for (unsigned i = 0; i <= ACPI_MAX_MMIO_DEVS; i++) {
		slots[i].base = LAYOUT_VIRTIO_MMIO_START + i * LAYOUT_VIRTIO_MMIO_SIZE;
		slots[i].size = LAYOUT_VIRTIO_MMIO_SIZE;
		slots[i].gsi = LAYOUT_VIRTIO_IRQ_BASE + i;
	}
}

struct tables {
	const uint8_t *xsdt, *fadt, *dsdt, *madt;
};

static int find_tables(const uint8_t *t, const uint8_t rsdp[36], struct tables *o)
{
	o->xsdt = t + (le64_at(rsdp + 24) - TABLES_GPA);
	o->fadt = t + (le64_at(o->xsdt + 36) - TABLES_GPA);
	o->madt = t + (le64_at(o->xsdt + 44) - TABLES_GPA);
	o->dsdt = t + (le64_at(o->fadt + 140) - TABLES_GPA);
	return memcmp(o->dsdt, "DSDT", 4) == 0 && memcmp(o->fadt, "FACP", 4) == 0;
}

static int contains(const uint8_t *p, size_t n, const void *needle, size_t k)
{
	return memmem(p, n, needle, k) != NULL;
}

static void test_dsdt_and_fadt(void)
{
	static uint8_t t[16384];
	static const uint8_t com1[] = { 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
					0x22, 0x10, 0x00, 0x79, 0x00 };
	static const uint8_t kbd[] = { 0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01,
				       0x47, 0x01, 0x64, 0x00, 0x64, 0x00, 0x01, 0x01,
				       0x22, 0x02, 0x00, 0x79, 0x00 };
	static const uint8_t v001[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x20, 0x00, 0xc0,
					0x00, 0x10, 0x00, 0x00,
					0x89, 0x06, 0x00, 0x03, 0x01, 0x06, 0x00, 0x00, 0x00,
					0x79, 0x00 };
	static const uint8_t s5[] = { 0x08, 0x5c, '_', 'S', '5', '_', 0x12, 0x05, 0x02,
				      0x0a, 0x05, 0x00 };
	static const uint8_t gas[] = { 0x01, 0x08, 0x00, 0x01, 0xc0, 0x03, 0, 0, 0, 0, 0, 0 };
	/* Name(ADDR, Package(){0xdfff0, 0}): the VM generation ID's address, low then high. */
	static const uint8_t addr[] = { 0x08, 'A', 'D', 'D', 'R', 0x12, 0x08, 0x02,
					0x0c, 0xf0, 0xff, 0x0d, 0x00, 0x00 };
	/* The GED's _CRS: Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive){3}. */
	static const uint8_t ged[] = { 0x89, 0x06, 0x00, 0x03, 0x01, 0x03, 0x00, 0x00, 0x00,
				       0x79, 0x00 };
	static const uint8_t notify[] = { 0x86, 0x5c, 0x2e, '_', 'S', 'B', '_', 'V', 'G', 'E', 'N',
					  0x0a, 0x80 };
	uint8_t rsdp[36];
	struct tables tb;
	size_t dlen;
	int n;

	n = acpi_build(t, sizeof(t), TABLES_GPA, rsdp, 2, three, 3);
	CHECK_EQ_I(n, (int)acpi_tables_size(2, 3));
	if (n <= 0 || !find_tables(t, rsdp, &tb)) {
		CHECK_FAIL_("tables not found");
		return;
	}
	dlen = le32_at(tb.dsdt + 4);
	CHECK(dlen > 36);
	CHECK_EQ_U(sum8(tb.dsdt, dlen), 0);
	CHECK_EQ_U(tb.dsdt[8], 2);   /* revision 2: 64-bit integers */
	CHECK(tb.dsdt + dlen <= tb.madt);
	CHECK_EQ_U(sum8(tb.madt, le32_at(tb.madt + 4)), 0);
	CHECK(contains(tb.dsdt, dlen, "\x0c\x41\xd0\x05\x01", 5));   /* EISAID PNP0501 */
	CHECK(contains(tb.dsdt, dlen, "\x0c\x41\xd0\x03\x03", 5));   /* EISAID PNP0303 */
	CHECK(contains(tb.dsdt, dlen, com1, sizeof(com1)));
	CHECK(contains(tb.dsdt, dlen, kbd, sizeof(kbd)));
	CHECK(contains(tb.dsdt, dlen, v001, sizeof(v001)));
	CHECK(contains(tb.dsdt, dlen, "V002", 4));
	CHECK(!contains(tb.dsdt, dlen, "V003", 4));
	CHECK(contains(tb.dsdt, dlen, s5, sizeof(s5)));
	CHECK_EQ_U(LAYOUT_VMGENID_START, 0xdfff0);
	CHECK_EQ_U(LAYOUT_VMGENID_START % 16, 0);
	CHECK(LAYOUT_VMGENID_START + LAYOUT_VMGENID_SIZE <= LAYOUT_RESERVED_END);
	CHECK(contains(tb.dsdt, dlen, "\x08_HID\x0d" "FCVMGID", 13));
	CHECK(contains(tb.dsdt, dlen, "\x08_CID\x0dVM_Gen_Counter", 20));
	CHECK(contains(tb.dsdt, dlen, addr, sizeof(addr)));
	CHECK(contains(tb.dsdt, dlen, "\x08_HID\x0d" "ACPI0013", 14));
	CHECK(contains(tb.dsdt, dlen, ged, sizeof(ged)));
	CHECK(contains(tb.dsdt, dlen, notify, sizeof(notify)));
	/* The GED's interrupt is free: neither a legacy device's nor a virtio slot's. */
	CHECK(LAYOUT_GED_IRQ != LAYOUT_COM1_IRQ && LAYOUT_GED_IRQ != LAYOUT_I8042_IRQ &&
	      LAYOUT_GED_IRQ != 0 && LAYOUT_GED_IRQ != 2 &&
	      (LAYOUT_GED_IRQ < LAYOUT_VIRTIO_IRQ_BASE ||
	       LAYOUT_GED_IRQ >= LAYOUT_VIRTIO_IRQ_BASE + LAYOUT_VIRTIO_MMIO_MAX));
	/* FADT: hardware-reduced, sleep control and status registers at the PM port. */
	CHECK_EQ_U(sum8(tb.fadt, le32_at(tb.fadt + 4)), 0);
	CHECK(le32_at(tb.fadt + 112) & (1u << 20));
	CHECK(memcmp(tb.fadt + 244, gas, sizeof(gas)) == 0);
	CHECK(memcmp(tb.fadt + 256, gas, sizeof(gas)) == 0);
	CHECK_EQ_U(LAYOUT_ACPI_SLEEP_PORT, 0x3c0);
}

static void test_device_limits(void)
{
	static uint8_t t[16384];
	uint8_t rsdp[36];
	size_t need = acpi_tables_size(LAYOUT_MAX_VCPUS, ACPI_MAX_MMIO_DEVS);
	struct acpi_mmio_dev bad = { 0xfffff000, 0x2000, 5 };

	fill_slots();
	CHECK(need > 0);
	CHECK_EQ_U(acpi_tables_size(1, ACPI_MAX_MMIO_DEVS + 1), 0);
	CHECK_EQ_I(acpi_build(t, sizeof(t), TABLES_GPA, rsdp, 1, slots, ACPI_MAX_MMIO_DEVS + 1),
		   -E2BIG);
	CHECK_EQ_I(acpi_build(t, need, TABLES_GPA, rsdp, LAYOUT_MAX_VCPUS, slots,
			      ACPI_MAX_MMIO_DEVS), (int)need);
	CHECK_EQ_I(acpi_build(t, need - 1, TABLES_GPA, rsdp, LAYOUT_MAX_VCPUS, slots,
			      ACPI_MAX_MMIO_DEVS), -E2BIG);
	CHECK_EQ_I(acpi_build(t, sizeof(t), TABLES_GPA, rsdp, 1, NULL, 1), -EINVAL);
	CHECK_EQ_I(acpi_build(t, sizeof(t), TABLES_GPA, rsdp, 1, &bad, 1), -EINVAL);
	/* More devices, more AML; all of it next to a full MP table in the reserved area. */
	CHECK(acpi_tables_size(1, 1) > acpi_tables_size(1, 0));
	CHECK(need <= 16384);
}

static void count_poweroff(void *opaque)
{
	(*(int *)opaque)++;
}

static void test_acpi_pm_poweroff(void)
{
	struct acpi_pm pm;
	int calls = 0;
	uint8_t v, r = 0xff;

	acpi_pm_init(&pm, count_poweroff, &calls);
	v = 0x80;                   /* WAK_STS clear, written before every sleep */
	acpi_pm_ops.write(&pm, 0, &v, 1);
	v = (1 << 2) | 0x20;        /* S1 */
	acpi_pm_ops.write(&pm, 0, &v, 1);
	v = 5 << 2;                 /* S5 without SLP_EN */
	acpi_pm_ops.write(&pm, 0, &v, 1);
	CHECK_EQ_I(calls, 0);
	CHECK_EQ_U(pm.ignored_writes, 3);
	v = (5 << 2) | 0x20;        /* what Linux writes for poweroff: 0x34 */
	CHECK_EQ_U(v, 0x34);
	acpi_pm_ops.write(&pm, 0, &v, 1);
	CHECK_EQ_I(calls, 1);
	acpi_pm_ops.read(&pm, 0, &r, 1);
	CHECK_EQ_U(r, 0);
}

/* ---- iasl, Debian's ACPICA disassembler and compiler, as referee ---- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (p = malloc((size_t)n + 1)) && fread(p, 1, (size_t)n, f) == (size_t)n) {
		p[n] = 0;
		*len = (size_t)n;
	} else {
		free(p);
		p = NULL;
	}
	fclose(f);
	return p;
}

static int spit(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -1;
	ok = fwrite(p, 1, n, f) == n;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

/*
 * Drop comments (// to end of line, and slash-star blocks, in which iasl names
 * what an EISA id means: EisaId ("PNP0501") then stands before a lone ")")
 * and fold whitespace to one space.
 */
static void normalize(char *s)
{
	char *o = s, *p = s;
	int space = 0;

	while (*p) {
		if (p[0] == '/' && p[1] == '/') {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		if (p[0] == '/' && p[1] == '*') {
			char *e = strstr(p + 2, "*/");

			p = e ? e + 2 : p + strlen(p);
			continue;
		}
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			space = 1;
			p++;
			continue;
		}
		if (space && o != s)
			*o++ = ' ';
		space = 0;
		*o++ = *p++;
	}
	*o = 0;
}

/* Run @cmd in @dir; its output goes to @dir/@log. Returns the exit status. */
static int run_in(const char *dir, const char *cmd, const char *log)
{
	char sh[1024];
	int r;

	snprintf(sh, sizeof(sh), "cd '%s' && %s >'%s' 2>&1", dir, cmd, log);
	r = system(sh);
	return r == -1 ? -1 : WEXITSTATUS(r);
}

/* $TMPDIR (or /tmp)/ember-aml.XXXXXX for mkdtemp. */
static void tmpdir_template(char *out, size_t n)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(out, n, "%s/ember-aml.XXXXXX", tmp && *tmp ? tmp : "/tmp");
}

static const char *dsl_wanted[] = {
	"DefinitionBlock (\"\", \"DSDT\", 2, \"EMBER \", \"EMBERVM \", 0x00000001) { Scope (\\_SB) {",
	"Device (COM1) { Name (_HID, EisaId (\"PNP0501\") ) Name (_UID, Zero) "
	"Name (_CRS, ResourceTemplate () { IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08, ) "
	"IRQNoFlags () {4} }) }",
	"Device (PS2) { Name (_HID, EisaId (\"PNP0303\") ) Name (_UID, Zero) "
	"Name (_CRS, ResourceTemplate () { IO (Decode16, 0x0060, 0x0060, 0x01, 0x01, ) "
	"IO (Decode16, 0x0064, 0x0064, 0x01, 0x01, ) IRQNoFlags () {1} }) }",
	"Device (V000) { Name (_HID, \"LNRO0005\") Name (_UID, Zero) Name (_CCA, One) "
	"Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xC0001000, 0x00001000, ) "
	"Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 0x00000005, } }) }",
	"Device (V001) { Name (_HID, \"LNRO0005\") Name (_UID, One) Name (_CCA, One) "
	"Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xC0002000, 0x00001000, ) "
	"Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 0x00000006, } }) }",
	"Device (V002) { Name (_HID, \"LNRO0005\") Name (_UID, 0x02) Name (_CCA, One) "
	"Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xC0003000, 0x00001000, ) "
	"Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 0x00000007, } }) }",
	"Device (VGEN) { Name (_HID, \"FCVMGID\") Name (_CID, \"VM_Gen_Counter\") "
	"Name (_DDN, \"VM_Gen_Counter\") Name (ADDR, Package (0x02) { 0x000DFFF0, Zero }) }",
	"Device (GED) { Name (_HID, \"ACPI0013\" ) Name (_UID, Zero) "
	"Name (_CRS, ResourceTemplate () { Interrupt (ResourceConsumer, Edge, ActiveHigh, "
	"Exclusive, ,, ) { 0x00000003, } }) Method (_EVT, 1, NotSerialized) { "
	"If ((Arg0 == 0x03)) { Notify (\\_SB.VGEN, 0x80) } } } }",
	"Name (\\_S5, Package (0x02) { 0x05, Zero })",
};

/*
 * iasl's compiler takes only PNP ("AAA####") or ACPI ("NNNN####") ids as a
 * _HID; Firecracker's VM generation ID has "FCVMGID" (Linux binds to its _CID),
 * so recompiling ignores that one error (6035) and nothing else.
 */
#define IASL_AGAIN "iasl -oa -vw 6035 -p again dsdt.dsl"

static const char *fadt_wanted[] = {
	"Hardware Reduced (V5) : 1",
	"[0F4h 0244 12] Sleep Control Register : [Generic Address Structure] "
	"[0F4h 0244 1] Space ID : 01 [SystemIO] [0F5h 0245 1] Bit Width : 08 "
	"[0F6h 0246 1] Bit Offset : 00 [0F7h 0247 1] Encoded Access Width : 01 [Byte Access:8] "
	"[0F8h 0248 8] Address : 00000000000003C0",
	"[100h 0256 12] Sleep Status Register : [Generic Address Structure] "
	"[100h 0256 1] Space ID : 01 [SystemIO] [101h 0257 1] Bit Width : 08 "
	"[102h 0258 1] Bit Offset : 00 [103h 0259 1] Encoded Access Width : 01 [Byte Access:8] "
	"[104h 0260 8] Address : 00000000000003C0",
};

static void check_dsl(const char *dir, const char *file, const char *const *want, unsigned n)
{
	char path[512];
	size_t len;
	char *s;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	s = slurp(path, &len);
	if (!s) {
		CHECK_FAIL_("iasl wrote no %s", path);
		return;
	}
	normalize(s);
	for (unsigned i = 0; i < n; i++)
		if (!strstr(s, want[i]))
			CHECK_FAIL_("%s lacks: %s", path, want[i]);
	free(s);
}

/* The log of an iasl run must name no error or warning. */
static void check_log(const char *dir, const char *log)
{
	char path[512];
	size_t len;
	char *s;

	snprintf(path, sizeof(path), "%s/%s", dir, log);
	s = slurp(path, &len);
	if (!s) {
		CHECK_FAIL_("no %s", path);
		return;
	}
	if (strstr(s, "Error ") || strstr(s, "Warning ") || strstr(s, "ACPI Error") ||
	    strstr(s, "ACPI Warning"))
		CHECK_FAIL_("iasl complained, see %s", path);
	free(s);
}

static void test_iasl_referee(void)
{
	static uint8_t t[16384];
	char tdir[512], path[600];
	uint8_t rsdp[36];
	struct tables tb;
	size_t dlen, alen;
	uint8_t *aml;
	int n;

	if (system("command -v iasl >/dev/null 2>&1") != 0) {
		CHECK_FAIL_("iasl not found: install the Debian package acpica-tools");
		return;
	}
	tmpdir_template(tdir, sizeof(tdir));
	if (!mkdtemp(tdir)) {
		CHECK_FAIL_("mkdtemp %s: %s", tdir, strerror(errno));
		return;
	}
	n = acpi_build(t, sizeof(t), TABLES_GPA, rsdp, 2, three, 3);
	if (n <= 0 || !find_tables(t, rsdp, &tb)) {
		CHECK_FAIL_("acpi_build: %d", n);
		return;
	}
	dlen = le32_at(tb.dsdt + 4);
	if (spit(tdir, "dsdt.dat", tb.dsdt, dlen) ||
	    spit(tdir, "facp.dat", tb.fadt, le32_at(tb.fadt + 4)) ||
	    spit(tdir, "apic.dat", tb.madt, le32_at(tb.madt + 4)) ||
	    spit(tdir, "xsdt.dat", tb.xsdt, le32_at(tb.xsdt + 4))) {
		CHECK_FAIL_("cannot write the tables to %s", tdir);
		return;
	}
	/* Disassemble each table; every one must decode without a complaint. */
	CHECK_EQ_I(run_in(tdir, "iasl -d dsdt.dat", "dsdt.log"), 0);
	CHECK_EQ_I(run_in(tdir, "iasl -d facp.dat", "facp.log"), 0);
	CHECK_EQ_I(run_in(tdir, "iasl -d apic.dat", "apic.log"), 0);
	CHECK_EQ_I(run_in(tdir, "iasl -d xsdt.dat", "xsdt.log"), 0);
	check_log(tdir, "dsdt.log");
	check_log(tdir, "facp.log");
	check_log(tdir, "apic.log");
	check_log(tdir, "xsdt.log");
	check_dsl(tdir, "dsdt.dsl", dsl_wanted, sizeof(dsl_wanted) / sizeof(dsl_wanted[0]));
	check_dsl(tdir, "facp.dsl", fadt_wanted, sizeof(fadt_wanted) / sizeof(fadt_wanted[0]));

	/*
	 * Compile the disassembly back without optimizations: 0 errors, 0
	 * warnings, and the same AML byte for byte (the header's compiler id aside).
	 */
	CHECK_EQ_I(run_in(tdir, IASL_AGAIN, "again.log"), 0);
	check_log(tdir, "again.log");
	snprintf(path, sizeof(path), "%s/again.aml", tdir);
	aml = (uint8_t *)slurp(path, &alen);
	CHECK(aml != NULL);
	if (aml) {
		CHECK_EQ_U(alen, dlen);
		if (alen == dlen && memcmp(aml + 36, tb.dsdt + 36, dlen - 36) != 0)
			CHECK_FAIL_("iasl's AML differs from ember's (%s)", tdir);
		free(aml);
	}
	if (!check_case_failed) {
		snprintf(path, sizeof(path), "rm -rf '%s'", tdir);
		if (system(path) != 0)
			printf("# could not remove %s\n", tdir);
	} else {
		printf("# iasl files kept in %s\n", tdir);
	}
}

/* The largest DSDT (every slot used) also decompiles cleanly. */
static void test_iasl_all_slots(void)
{
	static uint8_t t[16384];
	char tdir[512], cmd[600];
	static const char *want[] = {
		"Device (V018) { Name (_HID, \"LNRO0005\") Name (_UID, 0x12) Name (_CCA, One) "
		"Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xC0013000, 0x00001000, ) "
		"Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 0x00000017, } }) }",
	};
	uint8_t rsdp[36];
	struct tables tb;
	int n;

	if (system("command -v iasl >/dev/null 2>&1") != 0) {
		CHECK_FAIL_("iasl not found: install the Debian package acpica-tools");
		return;
	}
	fill_slots();
	tmpdir_template(tdir, sizeof(tdir));
	n = acpi_build(t, sizeof(t), TABLES_GPA, rsdp, 1, slots, ACPI_MAX_MMIO_DEVS);
	if (n <= 0 || !find_tables(t, rsdp, &tb) || !mkdtemp(tdir) ||
	    spit(tdir, "dsdt.dat", tb.dsdt, le32_at(tb.dsdt + 4))) {
		CHECK_FAIL_("cannot build or write the DSDT (%d)", n);
		return;
	}
	CHECK_EQ_I(run_in(tdir, "iasl -d dsdt.dat", "dsdt.log"), 0);
	check_log(tdir, "dsdt.log");
	check_dsl(tdir, "dsdt.dsl", want, 1);
	CHECK_EQ_I(run_in(tdir, IASL_AGAIN, "again.log"), 0);
	check_log(tdir, "again.log");
	if (!check_case_failed) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", tdir);
	}
}

int main(void)
{
	RUN(test_pkglen_boundaries);
	RUN(test_pkglen_in_scope);
	RUN(test_integers);
	RUN(test_eisaid_and_strings);
	RUN(test_names);
	RUN(test_named_objects);
	RUN(test_resource_descriptors);
	RUN(test_overflow_is_sticky);
	RUN(test_dsdt_and_fadt);
	RUN(test_device_limits);
	RUN(test_acpi_pm_poweroff);
	RUN(test_iasl_referee);
	RUN(test_iasl_all_slots);
	return check_summary();
}
