/*
 * store/file_keys.c - object names of the file:// store on disk (see
 * file_keys.h).
 */
#include <errno.h>
#include <string.h>

#include "mps3/error.h"
#include "file_keys.h"

static int safe_byte(unsigned char c, int first)
{
	if (c == '.')
		return !first;
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

int mps3_file_esc(char *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0, i;

	if (n == 0) {
		strcpy(out, "@");
		return 0;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 4 > NAME_MAX + 1)
			return -ENAMETOOLONG;
		if (safe_byte(c, i == 0)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mps3_file_unesc(char *out, const char *name)
{
	size_t o = 0;
	const char *p;

	if (strcmp(name, "@") == 0) {
		out[0] = '\0';
		return 0;
	}
	for (p = name; *p; p++) {
		if (*p == '%') {
			int hi = unhex(p[1]), lo = hi < 0 ? -1 : unhex(p[2]);

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			out[o++] = (char)(hi << 4 | lo);
			p += 2;
		} else if (safe_byte((unsigned char)*p, p == name)) {
			out[o++] = *p;
		} else {
			return -EINVAL;
		}
	}
	out[o] = '\0';
	return 0;
}

int mps3_file_key_names(const char *op, const char *key, char dir[NAME_MAX + 1],
		     char file[NAME_MAX + 1])
{
	const char *slash = strrchr(key, '/');
	size_t dlen = slash ? (size_t)(slash - key + 1) : 0;

	if (mps3_file_esc(dir, key, dlen) || mps3_file_esc(file, key + dlen, strlen(key + dlen)))
		return mps3_error_set(-ENAMETOOLONG,
				      "%s %s: key too long for a file:// store (names are limited to %d bytes once escaped)",
				      op, key, NAME_MAX);
	return 0;
}

