/* fuzz_snapshot.c: arbitrary bytes as a snapshot state file. A refusal explains itself; a file
 * accepted lists records inside it, and writing those records again gives back the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct snap_reader r;
	struct snap_writer w;
	struct err e = { { 0 } };

	if (snap_parse(data, size, &r, &e)) {
		if (!memchr(e.msg, 0, sizeof(e.msg)) || !e.msg[0] || r.nrec)
			abort();
		return 0;
	}
	if (snap_writer_init(&w))
		return 0;
	for (uint32_t i = 0; i < r.nrec; i++) {
		const struct snap_rec *rec = &r.rec[i];

		if (rec->data < data || rec->data + rec->len > data + size)
			abort();
		/* Types a newer minor version adds cannot be written by this one: skip the check. */
		if (rec->type > SNAP_REC_TYPE_MAX) {
			snap_writer_free(&w);
			return 0;
		}
		if (snap_put(&w, rec->type, rec->kind, rec->index, rec->id, rec->data, rec->len))
			abort();
	}
	if (snap_finish(&w))
		abort();
	/* Canonical: the same bytes, but for the minor version a newer writer may have set. */
	if (w.len != size || memcmp(w.buf + 12, data + 12, size - 12) != 0 ||
	    memcmp(w.buf, data, 10) != 0)
		abort();
	snap_writer_free(&w);
	return 0;
}
