/* cmdline.h: lookups in the kernel command line (space-separated key=value tokens). */
#ifndef GUEST_CMDLINE_H
#define GUEST_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Next whitespace-delimited token of cmd at or after *pos. Returns false at
 * the end; otherwise sets *tok, *len and advances *pos past the token.
 */
bool cmdline_token(const char *cmd, size_t *pos, const char **tok, size_t *len);

/*
 * Next token "key=value" at or after *pos (start with *pos = 0 to find the
 * first; call again for repeated keys). Sets *val and *len to the value.
 */
bool cmdline_next(const char *cmd, const char *key, size_t *pos, const char **val, size_t *len);

/* The first "key=value" token's value. */
bool cmdline_get(const char *cmd, const char *key, const char **val, size_t *len);

/* True if a token equals word exactly. */
bool cmdline_has_word(const char *cmd, const char *word);

/*
 * The first key=<number> (decimal, or hex with 0x, or hex always when hex).
 * Returns 1 and stores *out, 0 if the key is absent, -1 if malformed.
 */
int cmdline_get_u64(const char *cmd, const char *key, bool hex, uint64_t *out);

#endif
