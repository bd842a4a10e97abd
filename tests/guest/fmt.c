/* fmt.c: printf-style formatting into a sink (console or buffer). */
#include "fmt.h"
#include "lib.h"
#include "uart.h"

#include <stdbool.h>
#include <stdint.h>

struct fmt_spec {
	bool left;
	bool zero;
	unsigned width;
	int prec;  /* -1: none; limits %s */
};

static size_t fmt_pad(fmt_sink_fn sink, void *ctx, char c, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		sink(ctx, c);
	return n;
}

static size_t fmt_str(fmt_sink_fn sink, void *ctx, const struct fmt_spec *sp,
		      const char *s, size_t len)
{
	size_t out = 0;
	unsigned pad = sp->width > len ? sp->width - (unsigned)len : 0;

	if (!sp->left)
		out += fmt_pad(sink, ctx, ' ', pad);
	for (size_t i = 0; i < len; i++)
		sink(ctx, s[i]);
	out += len;
	if (sp->left)
		out += fmt_pad(sink, ctx, ' ', pad);
	return out;
}

static size_t fmt_num(fmt_sink_fn sink, void *ctx, const struct fmt_spec *sp,
		      uint64_t v, bool neg, unsigned base, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	size_t n = 0, out = 0;
	unsigned len, pad;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	len = (unsigned)n + (neg ? 1 : 0);
	pad = sp->width > len ? sp->width - len : 0;
	if (!sp->left && !sp->zero)
		out += fmt_pad(sink, ctx, ' ', pad);
	if (neg) {
		sink(ctx, '-');
		out++;
	}
	if (!sp->left && sp->zero)
		out += fmt_pad(sink, ctx, '0', pad);
	while (n) {
		sink(ctx, tmp[--n]);
		out++;
	}
	if (sp->left)
		out += fmt_pad(sink, ctx, ' ', pad);
	return out;
}

size_t fmt_vformat(fmt_sink_fn sink, void *ctx, const char *fmt, va_list ap)
{
	size_t out = 0;

	for (const char *p = fmt; *p; p++) {
		struct fmt_spec sp = { false, false, 0, -1 };
		int lng = 0;

		if (*p != '%') {
			sink(ctx, *p);
			out++;
			continue;
		}
		p++;
		for (;; p++) {
			if (*p == '-')
				sp.left = true;
			else if (*p == '0')
				sp.zero = true;
			else
				break;
		}
		while (*p >= '0' && *p <= '9')
			sp.width = sp.width * 10 + (unsigned)(*p++ - '0');
		if (*p == '.') {
			p++;
			sp.prec = 0;
			if (*p == '*') {
				sp.prec = va_arg(ap, int);
				p++;
			}
			while (*p >= '0' && *p <= '9')
				sp.prec = sp.prec * 10 + (*p++ - '0');
		}
		while (*p == 'l' || *p == 'z') {
			lng++;
			p++;
		}
		switch (*p) {
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;

			out += fmt_num(sink, ctx, &sp, mag, v < 0, 10, false);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);

			out += fmt_num(sink, ctx, &sp, v, false, *p == 'u' ? 10 : 16, *p == 'X');
			break;
		}
		case 'p': {
			uint64_t v = (uintptr_t)va_arg(ap, void *);

			sink(ctx, '0');
			sink(ctx, 'x');
			out += 2 + fmt_num(sink, ctx, &sp, v, false, 16, false);
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);

			if (!s)
				s = "(null)";
			out += fmt_str(sink, ctx, &sp, s,
				       sp.prec >= 0 ? str_nlen(s, (size_t)sp.prec) : str_len(s));
			break;
		}
		case 'c': {
			char c = (char)va_arg(ap, int);

			out += fmt_str(sink, ctx, &sp, &c, 1);
			break;
		}
		case '\0':
			return out;
		default:
			sink(ctx, *p);
			out++;
			break;
		}
	}
	return out;
}

struct fmt_buf {
	char *buf;
	size_t size;
	size_t pos;
};

static void fmt_buf_sink(void *ctx, char c)
{
	struct fmt_buf *b = ctx;

	if (b->pos + 1 < b->size)
		b->buf[b->pos] = c;
	b->pos++;
}

size_t fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct fmt_buf b = { buf, size, 0 };
	size_t n = fmt_vformat(fmt_buf_sink, &b, fmt, ap);

	if (size)
		buf[b.pos < size ? b.pos : size - 1] = '\0';
	return n;
}

size_t fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = fmt_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

static void con_sink(void *ctx, char c)
{
	(void)ctx;
	uart_putc(c);
}

void con_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fmt_vformat(con_sink, NULL, fmt, ap);
	va_end(ap);
}

void con_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		uart_putc(s[i]);
}
