/*
 * util/log.c - the single log sink: stderr lines with a prefix, or syslog,
 * and a log file beside either.  The level and the warning counter are
 * atomics so any thread may log; a file line is one write(2) to an
 * O_APPEND descriptor, so threads (and logrotate's reopen, which swaps the
 * descriptor in place with dup3) never tear one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "mps3/buf.h"
#include "mps3/error.h"
#include "mps3/log.h"
#include "mps3/timefmt.h"

#define LOG_FILE_FLAGS (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY)

static int log_level = MPS3_LOG_NOTICE;
static int log_syslog;
static int log_stderr = 1;
static const char *log_prefix = "";
static unsigned long log_warnings;
static int log_fd = -1;		/* set before threads start; its file is swapped by mps3_log_reopen */
static char *log_path;		/* read-only once set */

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

int mps3_log_level_parse(enum mps3_log_level *out, const char *name)
{
	static const struct {
		const char *name;
		enum mps3_log_level level;
	} names[] = {
		{ "err", MPS3_LOG_ERR },   { "error", MPS3_LOG_ERR },	{ "warn", MPS3_LOG_WARN },
		{ "warning", MPS3_LOG_WARN }, { "notice", MPS3_LOG_NOTICE }, { "info", MPS3_LOG_INFO },
		{ "debug", MPS3_LOG_DEBUG },
	};
	size_t i;

	for (i = 0; name && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	return -EINVAL;
}

int mps3_log_to_file(const char *path)
{
	char *copy;
	int fd;

	if (!path || path[0] != '/')
		return mps3_error_set(-EINVAL, "%s: need an absolute path", path ? path : "");
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	fd = open(path, LOG_FILE_FLAGS, 0600);
	if (fd < 0) {
		int err = errno;

		free(copy);
		return mps3_error_set(-err, "cannot open %s: %s", path, strerror(err));
	}
	if (log_fd >= 0)
		close(log_fd);
	free(log_path);
	log_path = copy;
	log_fd = fd;
	return 0;
}

int mps3_log_has_file(void)
{
	return log_fd >= 0;
}

void mps3_log_reopen(void)
{
	int saved = errno, fd;

	if (log_fd < 0)
		return;
	fd = open(log_path, LOG_FILE_FLAGS, 0600);
	/* In place: a thread writing now writes to the old file or the new one, never to a closed descriptor. */
	if (fd >= 0 && fd != log_fd) {
		(void)dup3(fd, log_fd, O_CLOEXEC);
		close(fd);
	}
	errno = saved;
}

void mps3_log_set_stderr(int on)
{
	log_stderr = on;
}

static void file_line(const char *tag, const char *line)
{
	char buf[2200], when[25];
	struct timespec now;
	int n;

	clock_gettime(CLOCK_REALTIME, &now);
	mps3_time_format_iso8601(when, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	n = snprintf(buf, sizeof(buf), "%s [%ld] %s%s%s\n", when, (long)getpid(), log_prefix, tag, line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		n = (int)sizeof(buf) - 1;
		buf[n - 1] = '\n';
	}
	if (write(log_fd, buf, (size_t)n) < 0) {
		/* Lost: logging cannot fail, and there is nowhere to say so. */
	}
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
	if (level == MPS3_LOG_ERR)
		tag = "error: ";
	else if (level == MPS3_LOG_WARN)
		tag = "warning: ";
	else if (level == MPS3_LOG_DEBUG)
		tag = "debug: ";
	if (log_fd >= 0)
		file_line(tag, line);
	if (log_syslog)
		syslog((int)level, "%s", line);
	else if (log_stderr)
		fprintf(stderr, "%s%s%s\n", log_prefix, tag, line); /* one call per line: threads do not interleave */
	errno = saved;
}

void mps3_log(enum mps3_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mps3_logv(level, fmt, ap);
	va_end(ap);
}
