/*
 * test_buf_uri_time.c - the small utilities everything stands on: bounded
 * buffers, percent-encoding as S3 and SigV4 want it, and S3's three time
 * notations, checked against tables and against the C library's gmtime.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mps3/buf.h"
#include "mps3/timefmt.h"
#include "mps3/uri.h"
#include "tap.h"

/* ---- buf ---- */

static void test_buf_limits(void)
{
	struct mps3_buf b;

	mps3_buf_init(&b, 8);
	tap_ok(b.data == NULL && b.len == 0, "a new buffer holds nothing");
	tap_streq(mps3_buf_cstr(&b), "", "and reads as \"\"");
	tap_inteq(mps3_buf_append(&b, "12345", 5), 0, "append within the limit");
	tap_inteq(mps3_buf_append(&b, "678", 3), 0, "append up to the limit exactly");
	tap_inteq(mps3_buf_append(&b, "9", 1), -EFBIG, "one byte past the limit is -EFBIG");
	tap_ok(b.len == 8 && strcmp(b.data, "12345678") == 0, "and appends nothing");
	tap_inteq(mps3_buf_append(&b, "", 0), 0, "appending nothing to a full buffer is fine");
	tap_inteq(mps3_buf_puts(&b, "x"), -EFBIG, "puts past the limit");
	tap_inteq(mps3_buf_reserve(&b, 1), -EFBIG, "reserve past the limit");
	tap_inteq(mps3_buf_append(&b, "x", SIZE_MAX), -EFBIG, "a SIZE_MAX append cannot wrap around");
	mps3_buf_reset(&b);
	tap_ok(b.len == 0 && strcmp(mps3_buf_cstr(&b), "") == 0, "reset empties");
	tap_inteq(mps3_buf_printf(&b, "%d-%s", 42, "x"), 0, "printf");
	tap_streq(mps3_buf_cstr(&b), "42-x", "printf result");
	tap_inteq(mps3_buf_printf(&b, "%s", "abcd"), 0, "printf up to the limit");
	tap_inteq(mps3_buf_printf(&b, "%c", 'z'), -EFBIG, "printf past the limit");
	tap_streq(mps3_buf_cstr(&b), "42-xabcd", "and appends nothing, not even a part");
	tap_inteq(mps3_buf_printf(&b, "%s", ""), 0, "printf of nothing into a full buffer");
	mps3_buf_dispose(&b);
	tap_ok(b.data == NULL && b.len == 0 && b.limit == 8, "dispose frees, the limit stays");

	mps3_buf_init(&b, 0);
	tap_inteq(mps3_buf_append(&b, "x", SIZE_MAX), -EFBIG, "without a limit a SIZE_MAX append is still refused");
	tap_inteq(mps3_buf_reserve(&b, 0), 0, "reserve(0) on an empty buffer");
	tap_ok(b.data != NULL && b.data[0] == '\0', "gives a terminated empty string");
	mps3_buf_dispose_secret(&b);
	tap_ok(b.data == NULL && b.len == 0, "dispose_secret frees");
}

static void test_buf_growth(void)
{
	static const char bin[] = { 'a', '\0', 'b' };
	struct mps3_buf b = MPS3_BUF_INIT;
	size_t i, n;
	char *p;
	int ok = 1;

	for (i = 0; i < 100000 && ok; i++)
		ok = mps3_buf_append(&b, &"0123456789"[i % 10], 1) == 0;
	for (i = 0; i < 100000 && ok; i++)
		ok = b.data[i] == "0123456789"[i % 10];
	tap_ok(ok && b.len == 100000 && b.data[b.len] == '\0' && b.cap > b.len,
	       "100000 one-byte appends: content intact, terminated");
	mps3_buf_reset(&b);
	tap_inteq(mps3_buf_append(&b, bin, 3), 0, "binary append");
	tap_ok(b.len == 3 && memcmp(b.data, bin, 3) == 0 && b.data[3] == '\0', "keeps the NUL inside, ends with one");
	mps3_buf_reset(&b);
	mps3_buf_printf(&b, "%s=%u", "k", 7u);
	p = mps3_buf_detach(&b, &n);
	tap_ok(p && strcmp(p, "k=7") == 0 && n == 3, "detach hands over the data and its length");
	tap_ok(b.data == NULL && b.len == 0 && b.cap == 0, "and leaves the buffer empty");
	free(p);
	tap_inteq(mps3_buf_puts(&b, "again"), 0, "a detached buffer can be used again");
	tap_streq(mps3_buf_cstr(&b), "again", "with fresh content");
	mps3_buf_dispose(&b);
	p = mps3_buf_detach(&b, &n);
	tap_ok(p && p[0] == '\0' && n == 0, "detaching an empty buffer gives \"\", never NULL");
	free(p);
	p = mps3_buf_detach(&b, NULL);
	tap_ok(p && p[0] == '\0', "detach without a length");
	free(p);
}

/* ---- uri ---- */

static int unreserved(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

static void test_uri_encode(void)
{
	static const struct {
		const char *in;
		int keep_slash;
		const char *out;
	} enc[] = {
		{ "abcXYZ019-_.~", 0, "abcXYZ019-_.~" },
		{ "a b", 0, "a%20b" },
		{ "a+b", 0, "a%2Bb" },
		{ "a/b", 0, "a%2Fb" },
		{ "a/b", 1, "a/b" },
		{ "&$@=;  :+,?", 1, "%26%24%40%3D%3B%20%20%3A%2B%2C%3F" },
		{ "%", 0, "%25" },
		{ "<>\"#{}|\\^`[]'!*()", 0, "%3C%3E%22%23%7B%7D%7C%5C%5E%60%5B%5D%27%21%2A%28%29" },
		{ "\xc3\xaf/\xe6\x97\xa5", 1, "%C3%AF/%E6%97%A5" },
		{ "\x01\x7f\xff", 0, "%01%7F%FF" },
		{ "", 0, "" },
	};
	struct mps3_buf b;
	size_t i;
	int c, ok = 1;

	for (i = 0; i < sizeof(enc) / sizeof(enc[0]); i++) {
		mps3_buf_init(&b, 0);
		tap_inteq(mps3_uri_encode(&b, enc[i].in, strlen(enc[i].in), enc[i].keep_slash), 0,
			  "encode \"%s\"%s", enc[i].in, enc[i].keep_slash ? " keeping /" : "");
		tap_streq(mps3_buf_cstr(&b), enc[i].out, "encoding of \"%s\"", enc[i].in);
		mps3_buf_dispose(&b);
	}
	/* Every byte on its own: unreserved passes, the rest is %XX in upper case. */
	for (c = 1; c < 256 && ok; c++) {
		char in = (char)c, want[4];
		int slash;

		for (slash = 0; slash < 2 && ok; slash++) {
			if (unreserved(c) || (slash && c == '/'))
				snprintf(want, sizeof(want), "%c", c);
			else
				snprintf(want, sizeof(want), "%%%02X", c);
			mps3_buf_init(&b, 0);
			ok = mps3_uri_encode(&b, &in, 1, slash) == 0 && strcmp(mps3_buf_cstr(&b), want) == 0;
			if (!ok)
				tap_diag("byte 0x%02x keep_slash %d: \"%s\", want \"%s\"", c, slash,
					 mps3_buf_cstr(&b), want);
			mps3_buf_dispose(&b);
		}
	}
	tap_ok(ok, "each byte 1..255 encodes as RFC 3986 and SigV4 say");

	mps3_buf_init(&b, 0);
	mps3_buf_puts(&b, "/bucket/");
	mps3_uri_encode(&b, "a b", 3, 1);
	tap_streq(mps3_buf_cstr(&b), "/bucket/a%20b", "encode appends to what is there");
	mps3_buf_dispose(&b);
	mps3_buf_init(&b, 5);
	tap_inteq(mps3_uri_encode(&b, "a b", 3, 0), 0, "encode fills a buffer to its limit");
	tap_inteq(mps3_uri_encode(&b, "c", 1, 0), -EFBIG, "and not past it");
	mps3_buf_dispose(&b);
	mps3_buf_init(&b, 0);
	tap_ok(mps3_uri_encode(&b, "a\0b", 3, 0) == 0 && strcmp(mps3_buf_cstr(&b), "a%00b") == 0,
	       "a NUL inside the input is encoded, n counts, not strlen");
	mps3_buf_dispose(&b);
}

static void test_uri_round_trip(void)
{
	struct mps3_buf e, d;
	char all[255];
	size_t i;
	int slash, plus, c, ok = 1;

	for (i = 0; i < sizeof(all); i++)
		all[i] = (char)(i + 1);
	/* Encode never writes '+', so both decoding modes give the bytes back. */
	for (slash = 0; slash < 2; slash++) {
		for (plus = 0; plus < 2; plus++) {
			mps3_buf_init(&e, 0);
			mps3_buf_init(&d, 0);
			ok = mps3_uri_encode(&e, all, sizeof(all), slash) == 0 &&
			     mps3_uri_decode(&d, e.data, e.len, plus) == 0 && d.len == sizeof(all) &&
			     memcmp(d.data, all, sizeof(all)) == 0 && d.data[d.len] == '\0';
			tap_ok(ok, "bytes 1..255 round trip (keep_slash %d, plus_is_space %d)", slash, plus);
			mps3_buf_dispose(&e);
			mps3_buf_dispose(&d);
		}
	}
	for (c = 1, ok = 1; c < 256 && ok; c++) {
		char in[3] = { 'x', (char)c, 'y' };

		mps3_buf_init(&e, 0);
		mps3_buf_init(&d, 0);
		ok = mps3_uri_encode(&e, in, 3, 0) == 0 && mps3_uri_decode(&d, e.data, e.len, 0) == 0 &&
		     d.len == 3 && memcmp(d.data, in, 3) == 0;
		mps3_buf_dispose(&e);
		mps3_buf_dispose(&d);
	}
	tap_ok(ok, "each byte 1..255 between others round trips");
}

static void test_uri_decode(void)
{
	static const struct {
		const char *in;
		int plus;
		const char *out;
	} good[] = {
		{ "a+b%2B", 1, "a b+" },
		{ "a+b%2B", 0, "a+b+" },
		{ "%41%62%63", 0, "Abc" },
		{ "%c3%af%C3%AF", 0, "\xc3\xaf\xc3\xaf" },
		{ "%25%32%35", 0, "%25" },
		{ "%2F/", 0, "//" },
		{ "plain", 1, "plain" },
		{ "", 0, "" },
	};
	static const char *const bad[] = { "%", "%4", "abc%", "ab%4", "%zz", "%g0", "%0g", "% 1", "%00", "a%00b", "%+1" };
	struct mps3_buf d;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		mps3_buf_init(&d, 0);
		tap_ok(mps3_uri_decode(&d, good[i].in, strlen(good[i].in), good[i].plus) == 0 &&
			       strcmp(mps3_buf_cstr(&d), good[i].out) == 0 && d.data != NULL,
		       "decode \"%s\"%s", good[i].in, good[i].plus ? " (+ is a space)" : "");
		mps3_buf_dispose(&d);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mps3_buf_init(&d, 0);
		tap_inteq(mps3_uri_decode(&d, bad[i], strlen(bad[i]), 1), -EINVAL, "decode refuses \"%s\"", bad[i]);
		mps3_buf_dispose(&d);
	}
	mps3_buf_init(&d, 0);
	tap_ok(mps3_uri_decode(&d, "%41xyz", 3, 0) == 0 && strcmp(d.data, "A") == 0, "decode reads n bytes only");
	mps3_buf_reset(&d);
	tap_inteq(mps3_uri_decode(&d, "%41", 2, 0), -EINVAL, "an escape cut by n is refused");
	mps3_buf_dispose(&d);
	mps3_buf_init(&d, 2);
	tap_inteq(mps3_uri_decode(&d, "abc", 3, 0), -EFBIG, "decode honours the buffer limit");
	mps3_buf_dispose(&d);
}

/* ---- time ---- */

static void test_iso8601(void)
{
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
		{ "2009-10-12T17:50:30.000Z", 1255369830000 },
		{ "2009-10-12T17:50:30Z", 1255369830000 },
		{ "2009-10-12T17:50:30.5Z", 1255369830500 },
		{ "2009-10-12T17:50:30.12Z", 1255369830120 },
		{ "2009-10-12T17:50:30.123456789Z", 1255369830123 },
		{ "2009-10-12T17:50:30.999999999Z", 1255369830999 },
		{ "2009-10-12t17:50:30z", 1255369830000 },
		{ "2009-10-12T19:50:30+02:00", 1255369830000 },
		{ "2009-10-12T19:50:30.250+02:00", 1255369830250 },
		{ "2009-10-12T12:20:30-05:30", 1255369830000 },
		{ "2009-10-12T17:50:30+00:00", 1255369830000 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2000-02-29T00:00:00Z", 951782400000 },
		{ "2024-02-29T12:00:00Z", 1709208000000 },
		{ "2400-02-29T12:00:00Z", 13574606400000 },
		{ "2038-01-19T03:14:08Z", 2147483648000 },
		{ "2106-02-07T06:28:16Z", 4294967296000 },
		{ "2100-03-01T00:00:00Z", 4107542400000 },
		{ "9999-12-31T23:59:59.999Z", 253402300799999 },
	};
	static const char *const bad[] = {
		"", "Z", "2009-10-12", "2009-10-12T17:50:30", "2009-10-12T17:50Z", "2009-10-12T17:50:30.Z",
		"2009-10-12T17:50:30.1234567890Z", "2009-13-12T00:00:00Z", "2009-00-12T00:00:00Z",
		"2009-10-00T00:00:00Z", "2009-04-31T00:00:00Z", "2009-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
		"1900-02-29T00:00:00Z", "2009-02-30T00:00:00Z", "2009-10-12T24:00:00Z", "2009-10-12T17:60:30Z",
		"2009-10-12T17:50:61Z", "1969-12-31T23:59:59Z", "x009-10-12T17:50:30Z", "2009/10/12T17:50:30Z",
		"2009-10-12T17:50:30Zjunk", " 2009-10-12T17:50:30Z", "2009-10-12T17:50:30+0200",
		"2009-10-12T17:50:30+02", "2009-10-12T17:50:30+24:00", "2009-10-12T17:50:30+02:60",
		"2009-1-12T17:50:30Z", "+2009-10-12T17:50:30Z",
	};
	size_t i;
	int64_t v;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		tap_ok(mps3_time_parse_iso8601(&v, good[i].s, strlen(good[i].s)) == 0 && v == good[i].ms,
		       "ISO 8601 %s", good[i].s);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		tap_ok(mps3_time_parse_iso8601(&v, bad[i], strlen(bad[i])) == -EINVAL && v == 42,
		       "ISO 8601 refused, output untouched: \"%s\"", bad[i]);
	}
	v = -1;
	tap_ok(mps3_time_parse_iso8601(&v, "2009-10-12T17:50:30Zjunk", 20) == 0 && v == 1255369830000,
	       "ISO 8601 reads n bytes only");
}

static void test_http_date(void)
{
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777000 },
		{ "Sunday, 06-Nov-94 08:49:37 GMT", 784111777000 },
		{ "Sun Nov  6 08:49:37 1994", 784111777000 },
		{ "Fri, 24 May 2013 00:00:00 GMT", 1369353600000 },
		{ "Tue, 29 Feb 2000 00:00:00 GMT", 951782400000 },
		{ "Tue, 19 Jan 2038 03:14:08 GMT", 2147483648000 },
		{ "Fri, 31 Dec 9999 23:59:59 GMT", 253402300799000 },
		{ "Thursday, 01-Jan-37 00:00:00 GMT", 2114380800000 },
		{ "Tue Feb 29 12:00:00 2000", 951825600000 },
	};
	static const char *const bad[] = {
		"", "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 GMT ",
		"Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 29 Feb 2009 00:00:00 GMT", "Sun, 32 Jan 2009 00:00:00 GMT",
		"Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1969 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 UTC",
		"Sun Nov  6 08:49:37", "1994-11-06T08:49:37Z",
		"Sun, 06 Nov 1994 08:49:37 GMT and a very long tail that no HTTP date has, ever",
	};
	size_t i;
	int64_t v;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		tap_ok(mps3_time_parse_http(&v, good[i].s, strlen(good[i].s)) == 0 && v == good[i].ms,
		       "HTTP date %s", good[i].s);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		tap_inteq(mps3_time_parse_http(&v, bad[i], strlen(bad[i])), -EINVAL, "HTTP date refused: \"%s\"", bad[i]);
}

static void test_formats(void)
{
	static const struct {
		int64_t ms;
		const char *amz, *iso, *http;
	} f[] = {
		{ 0, "19700101T000000Z", "1970-01-01T00:00:00.000Z", "Thu, 01 Jan 1970 00:00:00 GMT" },
		{ 1369353600000, "20130524T000000Z", "2013-05-24T00:00:00.000Z", "Fri, 24 May 2013 00:00:00 GMT" },
		{ 1440938160000, "20150830T123600Z", "2015-08-30T12:36:00.000Z", "Sun, 30 Aug 2015 12:36:00 GMT" },
		{ 951782400001, "20000229T000000Z", "2000-02-29T00:00:00.001Z", "Tue, 29 Feb 2000 00:00:00 GMT" },
		{ 2147483648999, "20380119T031408Z", "2038-01-19T03:14:08.999Z", "Tue, 19 Jan 2038 03:14:08 GMT" },
		{ 253402300799999, "99991231T235959Z", "9999-12-31T23:59:59.999Z", "Fri, 31 Dec 9999 23:59:59 GMT" },
	};
	char amz[17], iso[25], http[30];
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		mps3_time_format_amz(amz, f[i].ms);
		mps3_time_format_iso8601(iso, f[i].ms);
		mps3_time_format_http(http, f[i].ms);
		tap_ok(strcmp(amz, f[i].amz) == 0 && strcmp(iso, f[i].iso) == 0 && strcmp(http, f[i].http) == 0,
		       "format %lld: %s, %s, %s", (long long)f[i].ms, amz, iso, http);
	}
}

/* The C library's gmtime and strftime are an independent oracle. */
static int check_against_libc(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char want[64], secs[32], got[32];
	int64_t back = -1;

	if (!gmtime_r(&t, &tm))
		return 0;
	strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	mps3_time_format_http(got, ms);
	if (strcmp(got, want) != 0 || mps3_time_parse_http(&back, got, strlen(got)) || back != ms / 1000 * 1000)
		return 0;
	strftime(secs, sizeof(secs), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(want, sizeof(want), "%s.%03dZ", secs, (int)(ms % 1000));
	mps3_time_format_iso8601(got, ms);
	if (strcmp(got, want) != 0 || mps3_time_parse_iso8601(&back, got, strlen(got)) || back != ms)
		return 0;
	strftime(want, sizeof(want), "%Y%m%dT%H%M%SZ", &tm);
	mps3_time_format_amz(got, ms);
	return strcmp(got, want) == 0;
}

static void test_round_trips(void)
{
	static const int leap_years[] = { 1972, 1996, 2000, 2024, 2036, 2040, 2096, 2104, 2400, 2800, 9996 };
	int64_t v, day = 86400000;
	size_t i;
	int ok = 1;

	/* An odd step visits every hour, minute, weekday and month over time. */
	for (v = 0; v <= 253402300799999 && ok; v += 997 * 3600 * 1000LL + 61 * 1000 + 7)
		ok = check_against_libc(v);
	tap_ok(ok, "1970-9999 against gmtime: formats equal, parses back");
	if (!ok)
		tap_diag("first mismatch at %lld ms", (long long)v);
	for (v = 2147483647000 - 5 * day, ok = 1; v < 2147483647000 + 5 * day && ok; v += 3600 * 1000 + 1)
		ok = check_against_libc(v);
	tap_ok(ok, "around 2038-01-19 (2^31 seconds) hour by hour");
	for (v = 4294967296000 - 2 * day, ok = 1; v < 4294967296000 + 2 * day && ok; v += 60 * 1000 + 1)
		ok = check_against_libc(v);
	tap_ok(ok, "around 2106-02-07 (2^32 seconds) minute by minute");
	for (i = 0, ok = 1; i < sizeof(leap_years) / sizeof(leap_years[0]) && ok; i++) {
		char s[32];
		int64_t feb29 = -1, d;

		snprintf(s, sizeof(s), "%04d-02-29T00:00:00Z", leap_years[i]);
		ok = mps3_time_parse_iso8601(&feb29, s, strlen(s)) == 0;
		for (d = -2; d <= 2 && ok; d++)
			ok = check_against_libc(feb29 + d * day + 12 * 3600 * 1000 + 345);
	}
	tap_ok(ok, "leap days and their neighbours, 1972-9996");
}

/* Times a view is named by (/.mps3/at/TIME, --at TIME): absolute, epoch, relative; no overflow on any. */
static void test_points(void)
{
	const int64_t now = 1700000000000;
	static const char *const bad[] = { "", "-", "-5", "-5y", "@", "@x", "-106751991167d", "-9223372036854775807ms",
					   "-99999999999999999999s", "@99999999999999999999" };
	int64_t v = 0;
	size_t i;

	tap_ok(mps3_time_parse_point(&v, "-30s", now) == 0 && v == now - 30000, "-30s");
	tap_ok(mps3_time_parse_point(&v, "-1.5h", now) == 0 && v == now - 5400000, "-1.5h");
	tap_ok(mps3_time_parse_point(&v, "-2d", now) == 0 && v == now - 172800000, "-2d");
	tap_ok(mps3_time_parse_point(&v, "@1700000000.5", now) == 0 && v == 1700000000500, "@EPOCH.5");
	tap_ok(mps3_time_parse_point(&v, "2023-11-14T22:13:20Z", now) == 0 && v == now, "ISO 8601");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		tap_inteq(mps3_time_parse_point(&v, bad[i], now), -EINVAL, "time point refused: \"%s\"", bad[i]);
}

int main(void)
{
	test_buf_limits();
	test_buf_growth();
	test_uri_encode();
	test_uri_round_trip();
	test_uri_decode();
	test_iso8601();
	test_http_date();
	test_formats();
	test_round_trips();
	test_points();
	return tap_done();
}
