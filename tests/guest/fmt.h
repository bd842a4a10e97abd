/* fmt.h: a small printf-style formatter and the console that prints through COM1. */
#ifndef GUEST_FMT_H
#define GUEST_FMT_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Conversions: %d %i %u %x %X %p %s %c %%, flags '-' and '0', a width, a
 * precision (".N" or ".*", for %s only) and the length modifiers l, ll, z.
 * Anything else is printed literally.
 */
typedef void (*fmt_sink_fn)(void *ctx, char c);

/* Format into sink; returns the number of characters produced. */
size_t fmt_vformat(fmt_sink_fn sink, void *ctx, const char *fmt, va_list ap);

/* snprintf: always NUL-terminates when size > 0; returns the untruncated length. */
size_t fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
size_t fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* Print to the serial console (COM1). "\n" is sent as a bare line feed. */
void con_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void con_write(const char *s, size_t n);

#endif
