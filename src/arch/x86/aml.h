/* aml.h: a small AML writer (ACPI 6.5 chapter 20) for the DSDT's device descriptions. */
#ifndef EMBER_ARCH_X86_AML_H
#define EMBER_ARCH_X86_AML_H

#include <stddef.h>
#include <stdint.h>

/*
 * An AML byte stream in a caller-provided buffer. Every call appends; none
 * allocates. Writing past @cap sets @overflow and stops writing: the caller
 * checks aml_len() (which is then negative) once at the end.
 *
 * Objects with a PkgLength (Scope, Device, Method, If, Package, Buffer) are
 * opened with *_begin(), which returns a mark, and closed with *_end(mark):
 * the PkgLength, whose size (1 to 4 bytes) depends on the content, is inserted
 * when the content is complete.
 */
struct aml {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int overflow;
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);

/* aml_len: bytes written, or -E2BIG if anything did not fit. */
int aml_len(const struct aml *a);

/*
 * aml_pkglen_encode: the PkgLength for @content bytes that follow it (the
 * encoded value counts its own bytes too) into @out. Returns its size, 1 to
 * 4, or 0 if @content is too large (more than 2^28 - 5).
 */
size_t aml_pkglen_encode(uint8_t out[4], size_t content);

/* aml_eisaid: the 32-bit compressed EISA id of "AAA####" (e.g. "PNP0501"), 0 if malformed. */
uint32_t aml_eisaid(const char *id);

/* Raw bytes. */
void aml_bytes(struct aml *a, const void *p, size_t n);

/*
 * aml_name: a NameString from dotted text: "_SB_", "\\_SB_", "_SB_.COM1",
 * "\\_SB_.V000". Each segment is 1 to 4 of [A-Z0-9_] (not starting with a
 * digit), padded with '_'. A malformed name sets @overflow.
 */
void aml_name(struct aml *a, const char *path);

/* Integers in their shortest form: ZeroOp, OneOp, BytePrefix ... QWordPrefix. */
void aml_int(struct aml *a, uint64_t v);

/* A String (StringPrefix, the bytes, NUL); the text must be ASCII 0x01-0x7f. */
void aml_string(struct aml *a, const char *s);

/* Name(path, ...): the caller writes the object next (aml_int, aml_string, ...). */
void aml_name_decl(struct aml *a, const char *path);

/* Scope(path) { ... } and Device(path) { ... }. */
size_t aml_scope_begin(struct aml *a, const char *path);
size_t aml_device_begin(struct aml *a, const char *path);
/* Method(path, nargs, NotSerialized) { ... }, @nargs 0..7. */
size_t aml_method_begin(struct aml *a, const char *path, unsigned nargs);
/* Return(...): the caller writes the operand next. */
void aml_return(struct aml *a);
/* If(predicate) { ... } without Else: the caller writes the predicate, then the body. */
size_t aml_if_begin(struct aml *a);
/* LEqual(x, y): the caller writes the two operands next. */
void aml_lequal(struct aml *a);
/* Arg0 ... Arg6 of the enclosing method; @n above 6 sets @overflow. */
void aml_arg(struct aml *a, unsigned n);
/* Notify(path, value): e.g. 0x80 to a device whose status or data changed. */
void aml_notify(struct aml *a, const char *path, uint64_t value);
/* Closes a Scope, Device, Method or If. */
void aml_end(struct aml *a, size_t mark);

/* Package(){ ... } of @count elements the caller writes (at most 255). */
size_t aml_package_begin(struct aml *a, unsigned count);
void aml_package_end(struct aml *a, size_t mark);

/*
 * ResourceTemplate(){ ... }: a Buffer of resource descriptors (ACPI 6.5
 * section 6.4), ended by aml_restemplate_end() with an EndTag (checksum 0).
 */
size_t aml_restemplate_begin(struct aml *a);
void aml_restemplate_end(struct aml *a, size_t mark);

/* IO(Decode16, @base, @base, 1, @len): I/O port descriptor (0x47). */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len);
/* IRQNoFlags(){@irq}: edge, active high, exclusive (0x22); @irq 0..15. */
void aml_res_irq_noflags(struct aml *a, unsigned irq);
/* IRQ(...){@irq} with the information byte @flags (0x23): bit 0 edge, 3 active low, 4 shared. */
void aml_res_irq(struct aml *a, unsigned irq, uint8_t flags);
/* Memory32Fixed(ReadWrite or ReadOnly, @base, @len) (0x86). */
void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len, int writable);
/* Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive){@gsi} (0x89). */
void aml_res_ext_irq_edge(struct aml *a, uint32_t gsi);

#endif
