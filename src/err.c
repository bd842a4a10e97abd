/* err.c: the error carrier's one formatting helper. */
#include "err.h"

#include <stdio.h>

int err_vset(struct err *e, int rc, const char *fmt, va_list ap)
{
	if (e)
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return rc;
}

int err_set(struct err *e, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = err_vset(e, rc, fmt, ap);
	va_end(ap);
	return rc;
}
