/* lib.h: the freestanding guest's small libc: memory, strings, number parsing, CRC32. */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The compiler may emit calls to these four, so they keep their libc names. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* Length of s, at most max (strnlen). */
size_t str_nlen(const char *s, size_t max);

/* Length of a NUL-terminated string. */
size_t str_len(const char *s);

/* True if the n bytes at a and the NUL-terminated b are equal and b has length n. */
bool str_eq_n(const char *a, size_t n, const char *b);

/*
 * Parse an unsigned number: "0x" prefix for hex, else decimal; or hex only
 * when hex is true (a "0x" prefix is still accepted). The whole of [s, s+n)
 * must be digits. Returns 0 and stores *out, or -1 on an empty, malformed or
 * overflowing number.
 */
int str_parse_u64(const char *s, size_t n, bool hex, uint64_t *out);

/*
 * CRC-32 as zlib computes it (reflected polynomial 0xEDB88320, initial and
 * final XOR 0xFFFFFFFF). Pass 0 as crc for the first chunk, then the
 * previous result to continue.
 */
uint32_t crc32_update(uint32_t crc, const void *buf, size_t len);

#endif
