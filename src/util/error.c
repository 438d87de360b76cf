/*
 * util/error.c - the thread-local detail string behind a negative errno.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mps3/error.h"

static __thread char err_text[1024];
static __thread int err_set;

int mps3_error_set(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_text, sizeof(err_text), fmt, ap);
	va_end(ap);
	err_set = 1;
	return err;
}

int mps3_error_wrap(int err, const char *fmt, ...)
{
	char head[512];
	char old[sizeof(err_text)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	if (err_set)
		snprintf(old, sizeof(old), "%s", err_text);
	else
		snprintf(old, sizeof(old), "%s", strerror(err < 0 ? -err : err));
	snprintf(err_text, sizeof(err_text), "%.400s: %.600s", head, old);
	err_set = 1;
	return err;
}

const char *mps3_error_last(int err)
{
	if (err_set)
		return err_text;
	snprintf(err_text, sizeof(err_text), "%s", strerror(err < 0 ? -err : err));
	return err_text;
}

void mps3_error_clear(void)
{
	err_set = 0;
	err_text[0] = '\0';
}
