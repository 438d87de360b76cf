/*
 * mps3/log.h - one logging sink for the library, the CLI and the daemon.
 *
 * Messages go to stderr (foreground) or syslog (daemonised), and to a log
 * file as well when one is open.  Every line is one event naming the path
 * or object it is about.  Secrets must never be passed to these functions:
 * callers format keys and signatures out.  Thread-safe; logging cannot fail
 * (a line that cannot be written is lost).
 */
#ifndef MPS3_LOG_H
#define MPS3_LOG_H

#include <stdarg.h>

enum mps3_log_level {
	MPS3_LOG_ERR = 3,
	MPS3_LOG_WARN = 4,
	MPS3_LOG_NOTICE = 5,
	MPS3_LOG_INFO = 6,
	MPS3_LOG_DEBUG = 7,
};

/* Messages above this level are dropped.  Default MPS3_LOG_NOTICE.  Any thread. */
void mps3_log_set_level(enum mps3_log_level level);
enum mps3_log_level mps3_log_get_level(void);

/*
 * Route messages to syslog(3) with the given ident instead of stderr.  Call
 * before threads start.  ident is borrowed and must outlive the process.
 */
void mps3_log_use_syslog(const char *ident);

/* Prefix for stderr lines ("mps3: ").  Borrowed.  Call before threads start. */
void mps3_log_set_prefix(const char *prefix);

/* "err", "warn", "notice", "info", "debug" (or "error", "warning") into *out: 0 or -EINVAL. */
int mps3_log_level_parse(enum mps3_log_level *out, const char *name);

/*
 * Also append every line, with its time and the process id, to the file at
 * path (absolute; created 0600).  Call before threads start.  0 or -errno
 * with detail.
 */
int mps3_log_to_file(const char *path);
/* Whether mps3_log_to_file() succeeded: lines go to a file. */
int mps3_log_has_file(void);
/*
 * Open the log file's path again, for logrotate: lines written after it
 * returns go to the file now at the path.  Async-signal-safe (a SIGHUP
 * handler may call it); a path that cannot be opened keeps the old file.
 */
void mps3_log_reopen(void);
/* Whether lines go to stderr (the default, unless syslog is in use).  Call before threads start. */
void mps3_log_set_stderr(int on);

/*
 * Count of MPS3_LOG_WARN and MPS3_LOG_ERR messages emitted so far; the daemon
 * reports it at exit and tests assert on stderr being warning-free.
 */
unsigned long mps3_log_warnings(void);

void mps3_log(enum mps3_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void mps3_logv(enum mps3_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define mps3_err(...) mps3_log(MPS3_LOG_ERR, __VA_ARGS__)
#define mps3_warn(...) mps3_log(MPS3_LOG_WARN, __VA_ARGS__)
#define mps3_notice(...) mps3_log(MPS3_LOG_NOTICE, __VA_ARGS__)
#define mps3_info(...) mps3_log(MPS3_LOG_INFO, __VA_ARGS__)
#define mps3_debug(...)                                                  \
	do {                                                             \
		if (mps3_log_get_level() >= MPS3_LOG_DEBUG)              \
			mps3_log(MPS3_LOG_DEBUG, __VA_ARGS__);           \
	} while (0)

#endif
