/*
 * mps3/timefmt.h - the time formats S3 speaks: ISO 8601 in listings
 * (2009-10-12T17:50:30.000Z), IMF-fixdate in Date and Last-Modified headers
 * (Sun, 06 Nov 1994 08:49:37 GMT) and the SigV4 basic format
 * (20130524T000000Z).  All times are milliseconds since the epoch, UTC.
 * Pure and thread-safe.
 */
#ifndef MPS3_TIMEFMT_H
#define MPS3_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* 0 and *out set, or -EINVAL.  Accepts 0-9 fractional digits and 'Z' or +hh:mm. */
int mps3_time_parse_iso8601(int64_t *out, const char *s, size_t n);
/* IMF-fixdate, plus the obsolete RFC 850 and asctime forms.  0 or -EINVAL. */
int mps3_time_parse_http(int64_t *out, const char *s, size_t n);
/*
 * A point in time as a user gives it: "2026-11-30T12:00:00Z" (ISO 8601,
 * optional fraction), "@1790000000" (seconds since the epoch, optional
 * fraction) or relative to now_ms: "-30s", "-5m", "-2h", "-1d" (also "ms";
 * a fraction is allowed, "-1.5h").  0 and *out set, or -EINVAL.
 */
int mps3_time_parse_point(int64_t *out, const char *s, int64_t now_ms);
/* "20130524T000000Z"; out has room for 17 bytes. */
void mps3_time_format_amz(char out[17], int64_t ms);
/* "2013-05-24T00:00:00.000Z"; out has room for 25 bytes. */
void mps3_time_format_iso8601(char out[25], int64_t ms);
/* "Fri, 24 May 2013 00:00:00 GMT"; out has room for 30 bytes. */
void mps3_time_format_http(char out[30], int64_t ms);

#endif
