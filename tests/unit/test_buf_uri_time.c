/*
 * test_buf_uri_time.c - the small utilities everything stands on: bounded
 * buffers, RFC 3986 encoding as S3 wants it, and S3's three time formats.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/buf.h"
#include "mps3/timefmt.h"
#include "mps3/uri.h"
#include "tap.h"

static void test_buf(void)
{
	struct mps3_buf b;
	char *p;
	size_t n;

	mps3_buf_init(&b, 8);
	tap_streq(mps3_buf_cstr(&b), "", "empty buffer reads as \"\"");
	tap_inteq(mps3_buf_append(&b, "12345678", 8), 0, "append up to the limit");
	tap_inteq(mps3_buf_append(&b, "9", 1), -EFBIG, "one byte past the limit is -EFBIG");
	tap_streq(mps3_buf_cstr(&b), "12345678", "and nothing was appended");
	mps3_buf_reset(&b);
	tap_inteq(mps3_buf_printf(&b, "%d-%s", 42, "x"), 0, "printf");
	tap_streq(mps3_buf_cstr(&b), "42-x", "printf result");
	tap_inteq(mps3_buf_printf(&b, "%s", "too long!"), -EFBIG, "printf past the limit");
	p = mps3_buf_detach(&b, &n);
	tap_ok(p && strcmp(p, "42-x") == 0 && n == 4 && b.data == NULL && b.len == 0, "detach hands over the data");
	free(p);
	mps3_buf_init(&b, 0);
	tap_inteq(mps3_buf_reserve(&b, 0), 0, "reserve on an empty buffer");
	tap_streq(mps3_buf_cstr(&b), "", "leaves a terminated empty string");
	mps3_buf_dispose_secret(&b);
}

static void test_uri(void)
{
	static const struct {
		const char *in;
		int keep_slash;
		const char *out;
	} enc[] = {
		{ "abcXYZ019-_.~", 0, "abcXYZ019-_.~" },
		{ "a b", 0, "a%20b" },
		{ "a/b", 0, "a%2Fb" },
		{ "a/b", 1, "a/b" },
		{ "&$@=;:+,?", 1, "%26%24%40%3D%3B%3A%2B%2C%3F" },
		{ "ï", 0, "%C3%AF" },
		{ "", 0, "" },
	};
	struct mps3_buf b, d;
	char all[255];
	size_t i;
	int ok;

	for (i = 0; i < sizeof(enc) / sizeof(enc[0]); i++) {
		mps3_buf_init(&b, 0);
		mps3_uri_encode(&b, enc[i].in, strlen(enc[i].in), enc[i].keep_slash);
		tap_streq(mps3_buf_cstr(&b), enc[i].out, "encode \"%s\"%s", enc[i].in, enc[i].keep_slash ? " keeping /" : "");
		mps3_buf_dispose(&b);
	}
	for (i = 0; i < 255; i++)
		all[i] = (char)(i + 1);
	mps3_buf_init(&b, 0);
	mps3_buf_init(&d, 0);
	mps3_uri_encode(&b, all, sizeof(all), 0);
	ok = mps3_uri_decode(&d, b.data, b.len, 0) == 0 && d.len == sizeof(all) &&
	     memcmp(d.data, all, sizeof(all)) == 0;
	tap_ok(ok, "every byte 1..255 round trips through encode and decode");
	mps3_buf_dispose(&b);
	mps3_buf_dispose(&d);

	mps3_buf_init(&d, 0);
	tap_ok(mps3_uri_decode(&d, "a+b%2B", 6, 1) == 0 && strcmp(d.data, "a b+") == 0, "form decoding: + is a space, %%2B a plus");
	mps3_buf_reset(&d);
	tap_ok(mps3_uri_decode(&d, "a+b", 3, 0) == 0 && strcmp(d.data, "a+b") == 0, "path decoding keeps +");
	tap_inteq(mps3_uri_decode(&d, "%4", 2, 0), -EINVAL, "cut escape refused");
	tap_inteq(mps3_uri_decode(&d, "%zz", 3, 0), -EINVAL, "non-hex escape refused");
	tap_inteq(mps3_uri_decode(&d, "a%00b", 5, 0), -EINVAL, "escaped NUL refused");
	mps3_buf_dispose(&d);
}

static void test_time(void)
{
	static const struct {
		const char *s;
		int64_t ms;
	} iso[] = {
		{ "2009-10-12T17:50:30.000Z", 1255369830000 },
		{ "2009-10-12T17:50:30Z", 1255369830000 },
		{ "2009-10-12T17:50:30.5Z", 1255369830500 },
		{ "2009-10-12T17:50:30.123456789Z", 1255369830123 },
		{ "2009-10-12T19:50:30+02:00", 1255369830000 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2024-02-29T12:00:00Z", 1709208000000 },
		{ "2100-01-01T00:00:00Z", 4102444800000 },
	};
	static const char *const bad_iso[] = {
		"2009-10-12", "2009-13-12T00:00:00Z", "2009-02-30T00:00:00Z", "2009-10-12T24:00:00Z",
		"2009-10-12T17:50:30", "2009-10-12T17:50:30.Z", "x009-10-12T17:50:30Z", "2009-10-12T17:50:30Zjunk",
	};
	static const struct {
		const char *s;
		int64_t ms;
	} http[] = {
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777000 },
		{ "Sunday, 06-Nov-94 08:49:37 GMT", 784111777000 },
		{ "Sun Nov  6 08:49:37 1994", 784111777000 },
		{ "Fri, 24 May 2013 00:00:00 GMT", 1369353600000 },
	};
	char out[32];
	size_t i;
	int64_t v;
	int ok = 1;

	for (i = 0; i < sizeof(iso) / sizeof(iso[0]); i++) {
		v = -1;
		tap_ok(mps3_time_parse_iso8601(&v, iso[i].s, strlen(iso[i].s)) == 0 && v == iso[i].ms,
		       "ISO 8601 %s", iso[i].s);
	}
	for (i = 0; i < sizeof(bad_iso) / sizeof(bad_iso[0]); i++)
		tap_inteq(mps3_time_parse_iso8601(&v, bad_iso[i], strlen(bad_iso[i])), -EINVAL,
			  "ISO 8601 refused: %s", bad_iso[i]);
	for (i = 0; i < sizeof(http) / sizeof(http[0]); i++) {
		v = -1;
		tap_ok(mps3_time_parse_http(&v, http[i].s, strlen(http[i].s)) == 0 && v == http[i].ms,
		       "HTTP date %s", http[i].s);
	}
	tap_inteq(mps3_time_parse_http(&v, "Sun, 06 Nov 1994 08:49:37 PST", 29), -EINVAL, "HTTP date must be GMT");
	mps3_time_format_amz(out, 1369353600000);
	tap_streq(out, "20130524T000000Z", "SigV4 date");
	mps3_time_format_http(out, 784111777000);
	tap_streq(out, "Sun, 06 Nov 1994 08:49:37 GMT", "HTTP date format");
	/* Round trips over a spread of times, leap days and past 2038 included. */
	for (v = 0; v < 4102444800000 && ok; v += 86400000LL * 37 + 3601234) {
		int64_t back = -1;

		mps3_time_format_iso8601(out, v);
		if (mps3_time_parse_iso8601(&back, out, strlen(out)) || back != v)
			ok = 0;
		mps3_time_format_http(out, v);
		if (mps3_time_parse_http(&back, out, strlen(out)) || back != v / 1000 * 1000)
			ok = 0;
	}
	tap_ok(ok, "format/parse round trips 1970-2100 (ISO 8601 and HTTP)");
}

int main(void)
{
	test_buf();
	test_uri();
	test_time();
	return tap_done();
}
