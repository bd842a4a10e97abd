/* aml.c: AML encodings (ACPI 6.5 section 20.2) and resource descriptors (section 6.4). */
#include "arch/x86/aml.h"

#include <errno.h>
#include <string.h>

/* Opcodes (20.3). */
#define AML_ZERO_OP          0x00
#define AML_ONE_OP           0x01
#define AML_NAME_OP          0x08
#define AML_BYTE_PREFIX      0x0a
#define AML_WORD_PREFIX      0x0b
#define AML_DWORD_PREFIX     0x0c
#define AML_STRING_PREFIX    0x0d
#define AML_QWORD_PREFIX     0x0e
#define AML_SCOPE_OP         0x10
#define AML_BUFFER_OP        0x11
#define AML_PACKAGE_OP       0x12
#define AML_METHOD_OP        0x14
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX    0x5b
#define AML_DEVICE_OP        0x82   /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR        0x5c
#define AML_PARENT_CHAR      0x5e
#define AML_ARG0_OP          0x68   /* Arg0 ... Arg6: 0x68 ... 0x6e */
#define AML_NOTIFY_OP        0x86
#define AML_LEQUAL_OP        0x93
#define AML_IF_OP            0xa0
#define AML_RETURN_OP        0xa4

/* Resource descriptor tags (6.4.2, 6.4.3). */
#define RES_IRQ_NOFLAGS      0x22   /* small item 0x04, length 2 */
#define RES_IRQ              0x23   /* small item 0x04, length 3 */
#define RES_IO               0x47   /* small item 0x08, length 7 */
#define RES_END_TAG          0x79   /* small item 0x0f, length 1 */
#define RES_MEM32_FIXED      0x86   /* large item 0x06 */
#define RES_EXT_IRQ          0x89   /* large item 0x09 */
#define EXT_IRQ_CONSUMER     (1u << 0)
#define EXT_IRQ_EDGE         (1u << 1)

#define AML_PKGLEN_MAX       ((1u << 28) - 1)
#define AML_NAME_MAX_SEGS    255

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	a->buf = buf;
	a->cap = cap;
	a->len = 0;
	a->overflow = 0;
}

int aml_len(const struct aml *a)
{
	if (a->overflow || a->len > (size_t)INT32_MAX)
		return -E2BIG;
	return (int)a->len;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = 1;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned n)
{
	uint8_t b[8];

	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, n);
}

/* Insert @n bytes at @at, moving what follows. */
static void aml_insert(struct aml *a, size_t at, const uint8_t *p, size_t n)
{
	if (a->overflow || at > a->len || n > a->cap - a->len) {
		a->overflow = 1;
		return;
	}
	memmove(a->buf + at + n, a->buf + at, a->len - at);
	memcpy(a->buf + at, p, n);
	a->len += n;
}

size_t aml_pkglen_encode(uint8_t out[4], size_t content)
{
	size_t total;

	if (content > AML_PKGLEN_MAX)
		return 0;
	if (content + 1 <= 0x3f) {
		out[0] = (uint8_t)(content + 1);
		return 1;
	}
	for (unsigned n = 2; n <= 4; n++) {
		/* Byte 0 holds 4 bits of the length, each further byte 8 more. */
		total = content + n;
		if (total >> (4 + 8 * (n - 1)))
			continue;
		out[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
		for (unsigned i = 1; i < n; i++)
			out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
		return n;
	}
	return 0;
}

/* Close what began at @mark: insert its PkgLength there. */
void aml_end(struct aml *a, size_t mark)
{
	uint8_t pl[4];
	size_t n;

	if (a->overflow || mark > a->len) {
		a->overflow = 1;
		return;
	}
	n = aml_pkglen_encode(pl, a->len - mark);
	if (!n) {
		a->overflow = 1;
		return;
	}
	aml_insert(a, mark, pl, n);
}

uint32_t aml_eisaid(const char *id)
{
	uint32_t v = 0;
	unsigned i;

	if (strlen(id) != 7)
		return 0;
	for (i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return 0;
		v = (v << 5) | (uint32_t)(id[i] - 'A' + 1);
	}
	for (; i < 7; i++) {
		char c = id[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return 0;
		v = (v << 4) | d;
	}
	/* The 31-bit value is stored most significant byte first. */
	return __builtin_bswap32(v);
}

static int aml_seg_char(char c, int first)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

void aml_name(struct aml *a, const char *path)
{
	const char *p = path, *s;
	uint8_t seg[4];
	unsigned nsegs = 1;

	while (*p == AML_ROOT_CHAR || *p == AML_PARENT_CHAR) {
		if (*p == AML_ROOT_CHAR && p != path) {
			a->overflow = 1;
			return;
		}
		aml_byte(a, (uint8_t)*p++);
	}
	for (s = p; *s; s++)
		nsegs += *s == '.';
	if (!*p || nsegs > AML_NAME_MAX_SEGS) {
		a->overflow = 1;
		return;
	}
	if (nsegs == 2)
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	else if (nsegs > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)nsegs);
	}
	while (nsegs--) {
		unsigned n = 0;

		memset(seg, '_', sizeof(seg));
		for (; *p && *p != '.'; p++, n++) {
			if (n == 4 || !aml_seg_char(*p, n == 0)) {
				a->overflow = 1;
				return;
			}
			seg[n] = (uint8_t)*p;
		}
		if (n == 0) {
			a->overflow = 1;
			return;
		}
		aml_bytes(a, seg, sizeof(seg));
		if (*p == '.')
			p++;
	}
}

void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, AML_ONE_OP);
	} else if (v <= UINT8_MAX) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= UINT16_MAX) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= UINT32_MAX) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p > 0x7f) {
			a->overflow = 1;
			return;
		}
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

void aml_name_decl(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME_OP);
	aml_name(a, path);
}

/* The opcode, then the mark where the PkgLength goes, then the name. */
static size_t aml_named_begin(struct aml *a, const uint8_t *op, size_t oplen, const char *path)
{
	size_t mark;

	aml_bytes(a, op, oplen);
	mark = a->len;
	aml_name(a, path);
	return mark;
}

size_t aml_scope_begin(struct aml *a, const char *path)
{
	static const uint8_t op[] = { AML_SCOPE_OP };

	return aml_named_begin(a, op, sizeof(op), path);
}

size_t aml_device_begin(struct aml *a, const char *path)
{
	static const uint8_t op[] = { AML_EXT_OP_PREFIX, AML_DEVICE_OP };

	return aml_named_begin(a, op, sizeof(op), path);
}

size_t aml_method_begin(struct aml *a, const char *path, unsigned nargs)
{
	static const uint8_t op[] = { AML_METHOD_OP };
	size_t mark = aml_named_begin(a, op, sizeof(op), path);

	if (nargs > 7)
		a->overflow = 1;
	aml_byte(a, (uint8_t)(nargs & 7));   /* NotSerialized, SyncLevel 0 */
	return mark;
}

void aml_return(struct aml *a)
{
	aml_byte(a, AML_RETURN_OP);
}

size_t aml_if_begin(struct aml *a)
{
	aml_byte(a, AML_IF_OP);
	return a->len;
}

void aml_lequal(struct aml *a)
{
	aml_byte(a, AML_LEQUAL_OP);
}

void aml_arg(struct aml *a, unsigned n)
{
	if (n > 6)
		a->overflow = 1;
	aml_byte(a, (uint8_t)(AML_ARG0_OP + (n > 6 ? 0 : n)));
}

void aml_notify(struct aml *a, const char *path, uint64_t value)
{
	aml_byte(a, AML_NOTIFY_OP);
	aml_name(a, path);
	aml_int(a, value);
}

size_t aml_package_begin(struct aml *a, unsigned count)
{
	size_t mark;

	aml_byte(a, AML_PACKAGE_OP);
	mark = a->len;
	if (count > UINT8_MAX)
		a->overflow = 1;
	aml_byte(a, (uint8_t)count);
	return mark;
}

void aml_package_end(struct aml *a, size_t mark)
{
	aml_end(a, mark);
}

size_t aml_restemplate_begin(struct aml *a)
{
	aml_byte(a, AML_BUFFER_OP);
	return a->len;
}

/* EndTag, then BufferSize (an integer) and the PkgLength in front of the bytes. */
void aml_restemplate_end(struct aml *a, size_t mark)
{
	uint8_t sz[9];
	struct aml t;

	aml_byte(a, RES_END_TAG);
	aml_byte(a, 0);   /* checksum 0: treated as valid (6.4.2.9) */
	if (a->overflow || mark > a->len) {
		a->overflow = 1;
		return;
	}
	aml_init(&t, sz, sizeof(sz));
	aml_int(&t, a->len - mark);
	aml_insert(a, mark, sz, t.len);
	aml_end(a, mark);
}

void aml_res_io(struct aml *a, uint16_t base, uint8_t len)
{
	aml_byte(a, RES_IO);
	aml_byte(a, 0x01);   /* decodes 16 address lines */
	aml_le(a, base, 2);  /* minimum base */
	aml_le(a, base, 2);  /* maximum base */
	aml_byte(a, 0x01);   /* alignment */
	aml_byte(a, len);
}

void aml_res_irq_noflags(struct aml *a, unsigned irq)
{
	if (irq > 15)
		a->overflow = 1;
	aml_byte(a, RES_IRQ_NOFLAGS);
	aml_le(a, 1u << (irq & 15), 2);
}

void aml_res_irq(struct aml *a, unsigned irq, uint8_t flags)
{
	if (irq > 15)
		a->overflow = 1;
	aml_byte(a, RES_IRQ);
	aml_le(a, 1u << (irq & 15), 2);
	aml_byte(a, flags);
}

void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len, int writable)
{
	aml_byte(a, RES_MEM32_FIXED);
	aml_le(a, 9, 2);     /* length of what follows */
	aml_byte(a, writable ? 0x01 : 0x00);
	aml_le(a, base, 4);
	aml_le(a, len, 4);
}

void aml_res_ext_irq_edge(struct aml *a, uint32_t gsi)
{
	aml_byte(a, RES_EXT_IRQ);
	aml_le(a, 6, 2);     /* flags, count, one 32-bit interrupt number */
	aml_byte(a, EXT_IRQ_CONSUMER | EXT_IRQ_EDGE);   /* active high, exclusive */
	aml_byte(a, 1);
	aml_le(a, gsi, 4);
}
