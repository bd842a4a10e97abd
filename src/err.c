/* err.c: the error carrier's one formatting helper. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(struct err *e, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return rc;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return rc;
}
