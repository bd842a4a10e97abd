/* format.c: writing and checking ember's snapshot state file (format.h). */
#include "snapshot/format.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_CRC64_POLY 0xc96c5795d7870f42ULL   /* ECMA-182, reflected */

uint64_t snap_crc64(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t crc = ~0ULL;

	/* Bitwise: the state file is kilobytes, and this is obviously right. */
	for (size_t i = 0; i < n; i++) {
		crc ^= b[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (SNAP_CRC64_POLY & (0 - (crc & 1)));
	}
	return ~crc;
}

static void snap_le16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void snap_le32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void snap_le64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t snap_get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t snap_get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t snap_get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static uint64_t snap_pad8(uint64_t n)
{
	return (n + 7) & ~7ULL;
}

int snap_writer_init(struct snap_writer *w)
{
	memset(w, 0, sizeof(*w));
	w->cap = 64 * 1024;
	w->buf = calloc(1, w->cap);
	if (!w->buf)
		return w->error = -ENOMEM;
	w->len = SNAP_HEADER_SIZE;
	return 0;
}

static int snap_reserve(struct snap_writer *w, uint64_t more)
{
	uint8_t *nb;
	size_t cap = w->cap;

	if (more > SNAP_MAX_BODY || w->len - SNAP_HEADER_SIZE + more > SNAP_MAX_BODY)
		return -E2BIG;
	while (cap < w->len + more)
		cap *= 2;
	if (cap == w->cap)
		return 0;
	nb = realloc(w->buf, cap);
	if (!nb)
		return -ENOMEM;
	memset(nb + w->cap, 0, cap - w->cap);
	w->buf = nb;
	w->cap = cap;
	return 0;
}

int snap_put(struct snap_writer *w, enum snap_rec_type type, uint16_t kind, uint32_t index,
	     const char *id, const void *data, uint64_t len)
{
	uint64_t need = SNAP_REC_HDR_SIZE + snap_pad8(len);
	uint8_t *h;
	int r;

	if (w->error)
		return w->error;
	if (type < SNAP_REC_CONFIG || type > SNAP_REC_TYPE_MAX || w->nrec >= SNAP_MAX_RECORDS ||
	    (id && strlen(id) >= SNAP_ID_MAX) || (len && !data))
		return w->error = -EINVAL;
	if ((r = snap_reserve(w, need)))
		return w->error = r;
	h = w->buf + w->len;
	snap_le16(h, (uint16_t)type);
	snap_le16(h + 2, kind);
	snap_le32(h + 4, index);
	snap_le64(h + 8, len);
	memset(h + 16, 0, SNAP_ID_MAX);
	if (id)
		memcpy(h + 16, id, strlen(id));
	if (len)
		memcpy(h + SNAP_REC_HDR_SIZE, data, len);
	memset(h + SNAP_REC_HDR_SIZE + len, 0, snap_pad8(len) - len);
	w->len += need;
	w->nrec++;
	return 0;
}

int snap_finish(struct snap_writer *w)
{
	uint64_t body = w->len - SNAP_HEADER_SIZE;

	if (w->error)
		return w->error;
	memcpy(w->buf, SNAP_MAGIC, 8);
	snap_le16(w->buf + 8, SNAP_VERSION_MAJOR);
	snap_le16(w->buf + 10, SNAP_VERSION_MINOR);
	snap_le32(w->buf + 12, w->nrec);
	snap_le64(w->buf + 16, body);
	snap_le64(w->buf + 24, snap_crc64(w->buf + SNAP_HEADER_SIZE, body));
	return 0;
}

void snap_writer_free(struct snap_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

static int snap_bad(struct err *e, const char *why)
{
	return err_set(e, -EINVAL, "Invalid snapshot state file: %s.", why);
}

static int snap_same(const struct snap_rec *a, const struct snap_rec *b)
{
	return a->type == b->type && a->kind == b->kind && a->index == b->index &&
	       strcmp(a->id, b->id) == 0;
}

static int snap_parse_all(const uint8_t *buf, size_t len, struct snap_reader *r, struct err *e)
{
	uint64_t body, off = SNAP_HEADER_SIZE;
	uint32_t nrec;

	memset(r, 0, sizeof(*r));
	if (len < SNAP_HEADER_SIZE || memcmp(buf, SNAP_MAGIC, 8) != 0)
		return snap_bad(e, "not an ember snapshot (no EMBERSNP header)");
	if (snap_get16(buf + 8) != SNAP_VERSION_MAJOR)
		return err_set(e, -EINVAL, "Invalid snapshot state file: format version %u.%u, "
			       "this ember reads %u.x.", snap_get16(buf + 8), snap_get16(buf + 10),
			       SNAP_VERSION_MAJOR);
	nrec = snap_get32(buf + 12);
	body = snap_get64(buf + 16);
	if (body > SNAP_MAX_BODY || nrec > SNAP_MAX_RECORDS)
		return snap_bad(e, "larger than any snapshot ember writes");
	if (body != len - SNAP_HEADER_SIZE)
		return snap_bad(e, body > len - SNAP_HEADER_SIZE ? "truncated" : "trailing bytes");
	if (snap_crc64(buf + SNAP_HEADER_SIZE, body) != snap_get64(buf + 24))
		return snap_bad(e, "checksum mismatch (the file is damaged)");
	r->minor = snap_get16(buf + 10);
	while (off < len) {
		const uint8_t *h = buf + off;
		struct snap_rec *rec = &r->rec[r->nrec];
		uint64_t dlen, room;

		if (r->nrec >= nrec || len - off < SNAP_REC_HDR_SIZE)
			return snap_bad(e, "more records than its header counts");
		dlen = snap_get64(h + 8);
		room = len - off - SNAP_REC_HDR_SIZE;
		if (dlen > room || snap_pad8(dlen) > room)
			return snap_bad(e, "a record runs past the end");
		if (!memchr(h + 16, 0, SNAP_ID_MAX))
			return snap_bad(e, "a record id without its terminating NUL");
		for (uint64_t i = strnlen((const char *)h + 16, SNAP_ID_MAX); i < SNAP_ID_MAX; i++)
			if (h[16 + i])
				return snap_bad(e, "bytes after a record id's NUL");
		for (uint64_t i = dlen; i < snap_pad8(dlen); i++)
			if (h[SNAP_REC_HDR_SIZE + i])
				return snap_bad(e, "padding that is not zero");
		rec->type = snap_get16(h);
		rec->kind = snap_get16(h + 2);
		rec->index = snap_get32(h + 4);
		memcpy(rec->id, h + 16, SNAP_ID_MAX);
		rec->data = h + SNAP_REC_HDR_SIZE;
		rec->len = dlen;
		if (rec->type < SNAP_REC_CONFIG)
			return snap_bad(e, "a record of type 0");
		/* A newer minor version may add types: skipped, but still counted. */
		for (uint32_t i = 0; i < r->nrec; i++)
			if (snap_same(&r->rec[i], rec))
				return snap_bad(e, "the same record twice");
		r->nrec++;
		off += SNAP_REC_HDR_SIZE + snap_pad8(dlen);
	}
	if (r->nrec != nrec)
		return snap_bad(e, "fewer records than its header counts");
	return 0;
}

int snap_parse(const uint8_t *buf, size_t len, struct snap_reader *r, struct err *e)
{
	int rc = snap_parse_all(buf, len, r, e);

	if (rc)
		r->nrec = 0;   /* nothing listed from a refused file */
	return rc;
}

const struct snap_rec *snap_find(const struct snap_reader *r, enum snap_rec_type type,
				 uint16_t kind, uint32_t index, const char *id)
{
	for (uint32_t i = 0; i < r->nrec; i++) {
		const struct snap_rec *rec = &r->rec[i];

		if (rec->type == type && rec->kind == kind && rec->index == index &&
		    (!id || strcmp(rec->id, id) == 0))
			return rec;
	}
	return NULL;
}
