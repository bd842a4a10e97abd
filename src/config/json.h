/* json.h: strict JSON reading and writing helpers behind config.c (internal). */
#ifndef EMBER_CONFIG_JSON_H
#define EMBER_CONFIG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/*
 * Reading. cfgj_open() first checks the whole text against the JSON grammar
 * (RFC 8259: jsmn alone accepts missing commas and colons, trailing commas
 * and bad literals), including UTF-8 and escape validity and a nesting limit,
 * and only then tokenises it with jsmn. The accessors can therefore trust the
 * token tree. Every accessor names the field in its error message.
 */

#define CFGJ_MAX_DEPTH 32        /* the schema needs 5 */
#define CFGJ_MAX_LEN   (1u << 20) /* config files are a few KiB; API bodies <= 51200 */

struct cfgj {
	const char *js;
	size_t len;
	void *tok;               /* jsmntok_t[ntok], private to json.c */
	int ntok;
	struct err *e;
};

/* cfgj_open: validate and tokenise @json; the root must be an object. */
int cfgj_open(struct cfgj *j, const char *json, size_t len, struct err *e);

/* cfgj_close: free the tokens (safe on a zeroed or failed cfgj). */
void cfgj_close(struct cfgj *j);

/* cfgj_skip: index of the token after the value at @i and its children. */
int cfgj_skip(const struct cfgj *j, int i);

/* cfgj_is_null: 1 if token @i is the literal null. */
int cfgj_is_null(const struct cfgj *j, int i);

/*
 * cfgj_fields: match the members of the object at @obj against @names.
 * vals[k] receives the value token of names[k], or -1 when the member is
 * absent or null (null means "absent" for optional fields). Unknown and
 * duplicate members are refused. @what names the object in messages.
 */
int cfgj_fields(const struct cfgj *j, int obj, const char *what,
		const char *const *names, int nnames, int *vals);

/*
 * cfgj_object / cfgj_array: -EINVAL unless token @i has that type. An
 * array's elements start at @i + 1 and follow each other by cfgj_skip();
 * *@count receives their number.
 */
int cfgj_object(const struct cfgj *j, int i, const char *name);
int cfgj_array(const struct cfgj *j, int i, const char *name, int *count);

/* cfgj_string: -EINVAL unless token @i is a string. */
int cfgj_string(const struct cfgj *j, int i, const char *name);

/*
 * cfgj_kind / cfgj_size / cfgj_raw: generic access for documents of any
 * shape (the MMDS store): the type of token @i, the members of an object or
 * elements of an array, and the token's text as received (a string's without
 * its quotes, escapes undecoded; a number's exactly as written).
 */
enum cfgj_kind { CFGJ_OBJECT, CFGJ_ARRAY, CFGJ_STRING, CFGJ_NUMBER, CFGJ_TRUE, CFGJ_FALSE,
		 CFGJ_NULL };
enum cfgj_kind cfgj_kind(const struct cfgj *j, int i);
int cfgj_size(const struct cfgj *j, int i);
const char *cfgj_raw(const struct cfgj *j, int i, size_t *len);

/* cfgj_bool: true or false. */
int cfgj_bool(const struct cfgj *j, int i, const char *name, bool *out);

/* cfgj_u64: a non-negative integer (no fraction, exponent or sign), <= @max. */
int cfgj_u64(const struct cfgj *j, int i, const char *name, uint64_t max,
	     uint64_t *out);

/* cfgj_str: decode a string into a new heap buffer (no embedded NUL). */
int cfgj_str(const struct cfgj *j, int i, const char *name, char **out);

/* cfgj_str_buf: decode a string into @buf (@cap bytes with the NUL). */
int cfgj_str_buf(const struct cfgj *j, int i, const char *name, char *buf,
		 size_t cap);

/* cfg_seterr: format a message into @e (NULL-safe). Returns -EINVAL. */
int cfg_seterr(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* cfg_err_prefix: put "@prefix: " in front of the message in @e. */
void cfg_err_prefix(struct err *e, const char *prefix);

/*
 * Writing: append to a fixed buffer; once it is full the writer only counts,
 * and cfgw_finish() reports -ENOSPC. Strings are escaped per RFC 8259.
 */
struct cfgw {
	char *buf;
	size_t cap;
	size_t len;
	bool full;
};

void cfgw_init(struct cfgw *w, char *buf, size_t cap);
void cfgw_raw(struct cfgw *w, const char *s);
/* RFC 8259: the escape for byte @c, or NULL when @c stands for itself (control bytes and DEL
 * take the six-byte u00XX form, written into @esc). */
const char *json_escape(unsigned char c, char esc[7]);
void cfgw_str(struct cfgw *w, const char *s);    /* "..." or null if NULL */
void cfgw_u64(struct cfgw *w, uint64_t v);
void cfgw_bool(struct cfgw *w, bool v);
void cfgw_key(struct cfgw *w, bool *first, const char *key);
/* cfgw_finish: NUL-terminate; length written, or -ENOSPC. */
int cfgw_finish(struct cfgw *w);

#endif
