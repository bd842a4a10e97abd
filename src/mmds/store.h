/* store.h: the MMDS data store: a JSON tree set by PUT, merged by PATCH (RFC 7396), read by path. */
#ifndef EMBER_MMDS_STORE_H
#define EMBER_MMDS_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Firecracker's default --mmds-size-limit: the API's default payload limit. */
#define MMDS_DEFAULT_SIZE_LIMIT 51200

struct mmds_val;

/*
 * The store: @root is an object once a PUT initialised it (NULL before).
 * @limit bounds the length of the store serialized as compact JSON; @size is
 * that length now. Not locked: its owner (struct mmds) serialises callers.
 */
struct mmds_store {
	struct mmds_val *root;
	size_t limit;
	size_t size;
};

enum mmds_format { MMDS_FMT_IMDS = 0, MMDS_FMT_JSON };

/* mmds_store_init: an empty, uninitialised store bounded by @limit bytes. */
void mmds_store_init(struct mmds_store *s, size_t limit);

/* mmds_store_free: drop the contents; the store is uninitialised again. */
void mmds_store_free(struct mmds_store *s);

/*
 * mmds_store_put: the JSON object @json (@len bytes) replaces the contents.
 * mmds_store_patch: @json is an RFC 7396 merge patch applied to the contents
 * (members set to null are removed; objects merge; anything else replaces).
 * Both: 0; -EINVAL for a body that is not a JSON object (message in @e);
 * -EPERM for a PATCH before any PUT ("The MMDS data store is not
 * initialized."); -EFBIG when the result would exceed the limit ("The MMDS
 * patch request doesn't fit."); -ENOMEM. On any error the store is unchanged.
 */
int mmds_store_put(struct mmds_store *s, const char *json, size_t len, struct err *e);
int mmds_store_patch(struct mmds_store *s, const char *json, size_t len, struct err *e);

/*
 * mmds_store_json: the whole store as compact JSON ("{}" when uninitialised)
 * into @buf; its length, or -ENOSPC when it does not fit (@cap with the NUL).
 */
int mmds_store_json(const struct mmds_store *s, char *buf, size_t cap);

/*
 * mmds_store_get: the value at @path (@len bytes, "/a/b/0"; a JSON pointer
 * whose segments are object keys or array indexes, "~0" and "~1" escaped; one
 * trailing '/' ignored; "" or "/" is the root) as @fmt into @buf:
 *   MMDS_FMT_JSON: compact JSON;
 *   MMDS_FMT_IMDS: an object as its keys, sorted, one a line ("\n" between),
 *     keys of objects followed by '/'; a string as its raw text.
 * Returns the length written (not NUL-terminated), -ENOENT when no value is
 * there (or the store is uninitialised), -ENOTSUP for an IMDS value that is
 * neither an object nor a string, -ENOSPC when it does not fit @cap.
 */
int mmds_store_get(const struct mmds_store *s, const char *path, size_t len,
		   enum mmds_format fmt, char *buf, size_t cap);

#endif
