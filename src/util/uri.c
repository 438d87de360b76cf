/*
 * util/uri.c - RFC 3986 percent-encoding the way S3 and SigV4 expect it.
 */
#include <errno.h>

#include "mps3/uri.h"

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	       c == '~';
}

int mps3_uri_encode(struct mps3_buf *out, const char *s, size_t n, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (unreserved(c) || (keep_slash && c == '/')) {
			rc = mps3_buf_append(out, &s[i], 1);
		} else {
			char esc[3] = { '%', hex[c >> 4], hex[c & 15] };

			rc = mps3_buf_append(out, esc, 3);
		}
		if (rc)
			return rc;
	}
	/* An empty input still leaves a valid, NUL-terminated buffer. */
	return mps3_buf_reserve(out, 0);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mps3_uri_decode(struct mps3_buf *out, const char *s, size_t n, int plus_is_space)
{
	size_t i;
	int rc;

	rc = mps3_buf_reserve(out, n);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -EINVAL;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		rc = mps3_buf_append(out, &c, 1);
		if (rc)
			return rc;
	}
	return 0;
}
