/*
 * util/log.c - the single log sink: stderr lines with a prefix, or syslog.
 * The level and the warning counter are atomics so any thread may log.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "mps3/buf.h"
#include "mps3/log.h"

static int log_level = MPS3_LOG_NOTICE;
static int log_syslog;
static const char *log_prefix = "";
static unsigned long log_warnings;

void mps3_log_set_level(enum mps3_log_level level)
{
	__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

enum mps3_log_level mps3_log_get_level(void)
{
	return (enum mps3_log_level)__atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void mps3_log_use_syslog(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = 1;
}

void mps3_log_set_prefix(const char *prefix)
{
	log_prefix = prefix ? prefix : "";
}

unsigned long mps3_log_warnings(void)
{
	return __atomic_load_n(&log_warnings, __ATOMIC_RELAXED);
}

/* Control characters and bytes that are not UTF-8 of a formatted line escaped, in place. */
static void sanitize(char *line, size_t size)
{
	struct mps3_buf b;
	size_t i;

	for (i = 0; line[i]; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
			break;
	if (!line[i])
		return;
	mps3_buf_init(&b, 0);
	if (mps3_buf_escape_flags(&b, line, strlen(line), 0) == 0 && b.data)
		snprintf(line, size, "%s", b.data);
	mps3_buf_dispose(&b);
}

void mps3_logv(enum mps3_log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	const char *tag = "";
	int saved = errno;

	if ((int)level > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
		return;
	if (level <= MPS3_LOG_WARN)
		__atomic_add_fetch(&log_warnings, 1, __ATOMIC_RELAXED);

	vsnprintf(line, sizeof(line), fmt, ap);
	/* One event, one line: a name with a newline or escape sequences cannot forge others. */
	sanitize(line, sizeof(line));
	if (log_syslog) {
		syslog((int)level, "%s", line);
	} else {
		if (level == MPS3_LOG_ERR)
			tag = "error: ";
		else if (level == MPS3_LOG_WARN)
			tag = "warning: ";
		else if (level == MPS3_LOG_DEBUG)
			tag = "debug: ";
		/* One fprintf per line so concurrent threads do not interleave. */
		fprintf(stderr, "%s%s%s\n", log_prefix, tag, line);
	}
	errno = saved;
}

void mps3_log(enum mps3_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mps3_logv(level, fmt, ap);
	va_end(ap);
}
