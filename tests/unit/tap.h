/*
 * tests/unit/tap.h - a minimal TAP producer for table-driven unit tests.
 * meson runs every unit test with protocol 'tap'.
 */
#ifndef MPS3_TAP_H
#define MPS3_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n;
static int tap_failed;

static inline void tap_plan(int n)
{
	printf("1..%d\n", n);
}

__attribute__((format(printf, 2, 3))) static inline int
tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

static inline void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* String equality with a diagnostic that shows both sides. */
#define tap_streq(got, want, ...)                                         \
	do {                                                              \
		const char *g_ = (got), *w_ = (want);                     \
		int ok_ = g_ && w_ && strcmp(g_, w_) == 0;                \
		if (!tap_ok(ok_, __VA_ARGS__)) {                          \
			tap_diag("got:  %s", g_ ? g_ : "(null)");         \
			tap_diag("want: %s", w_ ? w_ : "(null)");         \
		}                                                         \
	} while (0)

#define tap_inteq(got, want, ...)                                         \
	do {                                                              \
		long long g_ = (long long)(got), w_ = (long long)(want);  \
		if (!tap_ok(g_ == w_, __VA_ARGS__))                       \
			tap_diag("got %lld, want %lld", g_, w_);          \
	} while (0)

/* Call last: prints the plan and returns the exit status. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
