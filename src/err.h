/* err.h: ember's error carrier: the message a user or API client reads, beside a -errno. */
#ifndef EMBER_ERR_H
#define EMBER_ERR_H

#include <stdarg.h>

#define ERR_MSG_MAX 256

/*
 * One refusal, in words. Functions that can fail return 0 or a negative errno
 * and, when given a non-NULL carrier, say why in it: the API answers the text
 * as its fault_message, the config file and the jailer print it.
 */
struct err {
	char msg[ERR_MSG_MAX];
};

/* err_set: format @e's message (when @e is not NULL) and return @rc. Any thread. */
int err_set(struct err *e, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* err_vset: err_set() with a va_list, for helpers that add a fixed return code. */
int err_vset(struct err *e, int rc, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

#endif
