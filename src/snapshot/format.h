/* format.h: ember's snapshot state file: a header and checksummed records, nothing in it trusted. */
#ifndef EMBER_SNAPSHOT_FORMAT_H
#define EMBER_SNAPSHOT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * Layout (little-endian, every record 8-byte aligned):
 *
 *   header   magic "EMBERSNP", u16 major, u16 minor, u32 record count,
 *            u64 body length, u64 CRC-64/XZ of the body                (32 bytes)
 *   body     records, each: u16 type, u16 kind, u32 index, u64 length,
 *            char id[SNAP_ID_MAX] (NUL-padded), then length bytes of data
 *            and zeros up to the next multiple of 8
 *
 * A reader refuses another major version (a minor one only adds record types
 * an older reader may skip), a body over SNAP_MAX_BODY, a CRC mismatch, a
 * record running past the body, an id without its NUL, padding that is not
 * zero, a duplicate record, or a record count that does not match. What a
 * record's data means is its owner's to check (devices, KVM state, config).
 */
#define SNAP_MAGIC         "EMBERSNP"
#define SNAP_VERSION_MAJOR 1
#define SNAP_VERSION_MINOR 0
#define SNAP_HEADER_SIZE   32
#define SNAP_REC_HDR_SIZE  80
#define SNAP_ID_MAX        64                 /* bytes of a record's id, its NUL included */
#define SNAP_MAX_BODY      (64u << 20)        /* device and CPU state: far below this */
#define SNAP_MAX_RECORDS   256

enum snap_rec_type {
	SNAP_REC_CONFIG = 1,   /* the microVM's configuration, as GET /vm/config shows it (JSON) */
	SNAP_REC_MEMORY,       /* guest RAM: size and how the memory file holds it */
	SNAP_REC_VM,           /* VM-wide KVM state (irqchip, PIT, clock) */
	SNAP_REC_VCPU,         /* one vCPU's KVM state, index = vCPU id */
	SNAP_REC_DEVICE,       /* one device's state struct, kind = enum dev_kind, id = its id */
	SNAP_REC_TYPE_MAX = SNAP_REC_DEVICE,
};

/* One record as the reader found it; data points into the parsed buffer. */
struct snap_rec {
	uint16_t type, kind;
	uint32_t index;
	char id[SNAP_ID_MAX];
	const uint8_t *data;
	uint64_t len;
};

/* A whole state file being written, in memory. */
struct snap_writer {
	uint8_t *buf;
	size_t len, cap;
	uint32_t nrec;
	int error;             /* first failure (-ENOMEM, -E2BIG, -EINVAL), sticky */
};

/* A parsed state file: its records in file order. */
struct snap_reader {
	uint16_t minor;
	uint32_t nrec;
	struct snap_rec rec[SNAP_MAX_RECORDS];
};

/* snap_crc64: CRC-64/XZ (ECMA-182 polynomial, reflected, inverted) of @n bytes. Pure. */
uint64_t snap_crc64(const void *p, size_t n);

/* snap_writer_init: an empty file with room for its header. 0 or -ENOMEM. */
int snap_writer_init(struct snap_writer *w);

/*
 * snap_put: append a record (@id may be NULL: empty). A failure is kept in
 * w->error and later calls do nothing; snap_finish() reports it. Returns it too.
 */
int snap_put(struct snap_writer *w, enum snap_rec_type type, uint16_t kind, uint32_t index,
	     const char *id, const void *data, uint64_t len);

/* snap_finish: write the header (count, length, CRC). 0 or the first error. */
int snap_finish(struct snap_writer *w);

/* snap_writer_free: release the buffer; safe twice. */
void snap_writer_free(struct snap_writer *w);

/*
 * snap_parse: check the state file @buf (@len bytes) as the comment above
 * says and list its records in @r (which points into @buf). 0, or -EINVAL
 * with @e saying what is wrong. Pure; any thread.
 */
int snap_parse(const uint8_t *buf, size_t len, struct snap_reader *r, struct err *e);

/* snap_find: the record of @type, @kind, @index and @id (NULL: any id), or NULL. */
const struct snap_rec *snap_find(const struct snap_reader *r, enum snap_rec_type type,
				 uint16_t kind, uint32_t index, const char *id);

#endif
