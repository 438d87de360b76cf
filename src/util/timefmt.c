/*
 * util/timefmt.c - parse and format the three time notations of S3.
 * Pure arithmetic on the proleptic Gregorian calendar: no locale, no TZ.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mps3/timefmt.h"

/* Days from 1970-01-01 to y-m-d (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int valid_fields(int y, int mo, int d, int h, int mi, int s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	/* Without the leap check 2009-02-29 silently became March 1st. */
	return y >= 1970 && y <= 9999 && mo >= 1 && mo <= 12 && d >= 1 &&
	       d <= mdays[mo - 1] && (mo != 2 || d <= 28 || leap) && h >= 0 &&
	       h <= 23 && mi >= 0 && mi <= 59 && s >= 0 && s <= 60;
}

static int64_t to_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
	int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);

	return ((days * 86400 + h * 3600 + mi * 60 + s) * 1000) + ms;
}

/* Reads exactly n digits at *p; -1 if any is not a digit. */
static int digits(const char **p, const char *end, int n)
{
	int v = 0;

	if (end - *p < n)
		return -1;
	while (n--) {
		char c = *(*p)++;

		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	return v;
}

static int expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return -1;
	(*p)++;
	return 0;
}

int mps3_time_parse_iso8601(int64_t *out, const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	int y, mo, d, h, mi, sec, ms = 0, off = 0;

	y = digits(&p, end, 4);
	if (y < 0 || expect(&p, end, '-'))
		return -EINVAL;
	mo = digits(&p, end, 2);
	if (mo < 0 || expect(&p, end, '-'))
		return -EINVAL;
	d = digits(&p, end, 2);
	if (d < 0 || p >= end || (*p != 'T' && *p != 't' && *p != ' '))
		return -EINVAL;
	p++;
	h = digits(&p, end, 2);
	if (h < 0 || expect(&p, end, ':'))
		return -EINVAL;
	mi = digits(&p, end, 2);
	if (mi < 0 || expect(&p, end, ':'))
		return -EINVAL;
	sec = digits(&p, end, 2);
	if (sec < 0)
		return -EINVAL;
	if (p < end && *p == '.') {
		int scale = 100, nd = 0;

		p++;
		while (p < end && *p >= '0' && *p <= '9') {
			ms += (*p - '0') * scale;
			scale /= 10;
			p++;
			nd++;
		}
		if (nd == 0 || nd > 9)
			return -EINVAL;
	}
	if (p < end && (*p == 'Z' || *p == 'z')) {
		p++;
	} else if (p < end && (*p == '+' || *p == '-')) {
		int sign = *p == '-' ? -1 : 1, oh, om;

		p++;
		oh = digits(&p, end, 2);
		if (oh < 0 || expect(&p, end, ':'))
			return -EINVAL;
		om = digits(&p, end, 2);
		if (om < 0 || oh > 23 || om > 59)
			return -EINVAL;
		off = sign * (oh * 60 + om);
	} else {
		return -EINVAL;
	}
	if (p != end || !valid_fields(y, mo, d, h, mi, sec))
		return -EINVAL;
	*out = to_ms(y, mo, d, h, mi, sec, ms) - (int64_t)off * 60000;
	return 0;
}

static const char *const month_names[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
static const char *const day_names[] = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" };

static int month_index(const char *m)
{
	int i;

	for (i = 0; i < 12; i++)
		if (strncasecmp(m, month_names[i], 3) == 0)
			return i + 1;
	return -1;
}

int mps3_time_parse_http(int64_t *out, const char *s, size_t n)
{
	char buf[64], mon[4] = "", wd[16] = "", tz[8] = "";
	int y, d, h, mi, sec, mo, consumed = 0;

	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';

	/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
	if (sscanf(buf, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", wd, &d, mon, &y, &h,
		   &mi, &sec, tz, &consumed) == 8 &&
	    (size_t)consumed == n && strcmp(tz, "GMT") == 0)
		goto have;
	/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
	consumed = 0;
	if (sscanf(buf, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d %3s%n", wd, &d, mon,
		   &y, &h, &mi, &sec, tz, &consumed) == 8 &&
	    (size_t)consumed == n && strcmp(tz, "GMT") == 0) {
		y += y < 70 ? 2000 : 1900;
		goto have;
	}
	/* asctime: Sun Nov  6 08:49:37 1994 */
	consumed = 0;
	if (sscanf(buf, "%3s %3s %2d %2d:%2d:%2d %4d%n", wd, mon, &d, &h, &mi, &sec,
		   &y, &consumed) == 7 &&
	    (size_t)consumed == n)
		goto have;
	return -EINVAL;
have:
	mo = month_index(mon);
	if (mo < 0 || !valid_fields(y, mo, d, h, mi, sec))
		return -EINVAL;
	*out = to_ms(y, mo, d, h, mi, sec, 0);
	return 0;
}

static void split(int64_t ms, int *y, unsigned *mo, unsigned *d, int *h, int *mi,
		  int *s, int *frac, int *wday)
{
	int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
	int64_t rem = secs - days * 86400;

	*frac = (int)(ms - secs * 1000);
	civil_from_days(days, y, mo, d);
	*h = (int)(rem / 3600);
	*mi = (int)(rem % 3600 / 60);
	*s = (int)(rem % 60);
	*wday = (int)(((days % 7) + 7) % 7);
}

/* "123", "1.5": a non-negative decimal into *v (as milli-units); the end in *end. */
static int decimal_milli(const char *s, int64_t *v, const char **end)
{
	int64_t whole = 0, frac = 0, scale = 1000;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > INT64_MAX / 10 / 1000 - 1)
			return -EINVAL;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++)
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
	}
	*v = whole * 1000 + frac;
	*end = p;
	return 0;
}

int mps3_time_parse_point(int64_t *out, const char *s, int64_t now_ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 } };
	const char *end;
	int64_t v;
	size_t i;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '@') {
		if (decimal_milli(s + 1, &v, &end) || *end)
			return -EINVAL;
		*out = v;
		return 0;
	}
	if (s[0] == '-') {
		if (decimal_milli(s + 1, &v, &end))
			return -EINVAL;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			if (strcmp(end, units[i].unit) == 0) {
				if (v > INT64_MAX / units[i].ms) /* v is in thousandths */
					return -EINVAL;
				*out = now_ms - v * units[i].ms / 1000;
				return 0;
			}
		}
		return -EINVAL;
	}
	return mps3_time_parse_iso8601(out, s, strlen(s));
}

void mps3_time_format_amz(char out[17], int64_t ms)
{
	int y, h, mi, s, frac, wd;
	unsigned mo, d;

	split(ms, &y, &mo, &d, &h, &mi, &s, &frac, &wd);
	char tmp[64];

	snprintf(tmp, sizeof(tmp), "%04d%02u%02uT%02d%02d%02dZ", y, mo, d, h, mi, s);
	memcpy(out, tmp, 16);
	out[16] = '\0';
}

void mps3_time_format_iso8601(char out[25], int64_t ms)
{
	int y, h, mi, s, frac, wd;
	unsigned mo, d;

	split(ms, &y, &mo, &d, &h, &mi, &s, &frac, &wd);
	char tmp[64];

	snprintf(tmp, sizeof(tmp), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, s, frac);
	memcpy(out, tmp, 24);
	out[24] = '\0';
}

void mps3_time_format_http(char out[30], int64_t ms)
{
	int y, h, mi, s, frac, wd;
	unsigned mo, d;

	split(ms, &y, &mo, &d, &h, &mi, &s, &frac, &wd);
	char tmp[64];

	snprintf(tmp, sizeof(tmp), "%s, %02u %s %04d %02d:%02d:%02d GMT", day_names[wd], d,
		 month_names[(mo - 1) % 12], y, h, mi, s);
	memcpy(out, tmp, 29);
	out[29] = '\0';
}
