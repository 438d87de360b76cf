/*
 * db/keys.c - encoding of log and checkpoint names (descending time so that
 * a listing returns the newest first) and the rules for file paths.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/keys.h"

static int format_time(char *out, int64_t t)
{
	if (t < 0 || t > MPS3_TIME_MAX)
		return -EINVAL;
	snprintf(out, MPS3_TIME_DIGITS + 1, "%016" PRId64, MPS3_TIME_MAX - t);
	return 0;
}

int mps3_logkey_format(char *out, const struct mps3_logkey *k)
{
	int rc;

	if (!mps3_session_valid(k->session))
		return -EINVAL;
	rc = format_time(out, k->t);
	if (rc)
		return rc;
	snprintf(out + MPS3_TIME_DIGITS, MPS3_LOGNAME_MAX - MPS3_TIME_DIGITS,
		 "_%s_%" PRIu64, k->session, k->seq);
	return 0;
}

int mps3_cpkey_format(char *out, const struct mps3_logkey *k)
{
	int rc;

	if (!mps3_session_valid(k->session))
		return -EINVAL;
	rc = format_time(out, k->t);
	if (rc)
		return rc;
	snprintf(out + MPS3_TIME_DIGITS, MPS3_LOGNAME_MAX - MPS3_TIME_DIGITS, "_%s",
		 k->session);
	return 0;
}

int mps3_logkey_parse_time(int64_t *out, const char *name)
{
	int64_t v = 0;
	int i;

	for (i = 0; i < MPS3_TIME_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -EINVAL;
		v = v * 10 + (name[i] - '0');
	}
	if (name[MPS3_TIME_DIGITS] != '_')
		return -EINVAL;
	*out = MPS3_TIME_MAX - v;
	return 0;
}

/* Shared by both parsers: "<T>_<S>" then either end or "_<C>". */
static int parse_common(struct mps3_logkey *out, const char *name, int want_seq)
{
	const char *p;
	uint64_t seq = 0;
	int rc;

	rc = mps3_logkey_parse_time(&out->t, name);
	if (rc)
		return rc;
	p = name + MPS3_TIME_DIGITS + 1;
	/* The name may end anywhere: measure before copying. */
	if (strnlen(p, MPS3_SESSION_LEN) < MPS3_SESSION_LEN)
		return -EINVAL;
	memcpy(out->session, p, MPS3_SESSION_LEN);
	out->session[MPS3_SESSION_LEN] = '\0';
	if (!mps3_session_valid(out->session))
		return -EINVAL;
	p += MPS3_SESSION_LEN;
	if (!want_seq) {
		out->seq = 0;
		return *p == '\0' ? 0 : -EINVAL;
	}
	if (*p++ != '_' || *p == '\0')
		return -EINVAL;
	/* Canonical decimal only, so one entry has exactly one name. */
	if (p[0] == '0' && p[1] != '\0')
		return -EINVAL;
	for (; *p; p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (*p < '0' || *p > '9' || seq > (UINT64_MAX - d) / 10)
			return -EINVAL;
		seq = seq * 10 + d;
	}
	out->seq = seq;
	return 0;
}

int mps3_logkey_parse(struct mps3_logkey *out, const char *name)
{
	return parse_common(out, name, 1);
}

int mps3_cpkey_parse(struct mps3_logkey *out, const char *name)
{
	return parse_common(out, name, 0);
}

int mps3_logkey_cmp(const struct mps3_logkey *a, const struct mps3_logkey *b)
{
	int c;

	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	c = strcmp(a->session, b->session);
	if (c)
		return c < 0 ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

int mps3_session_valid(const char *s)
{
	int i;

	for (i = 0; i < MPS3_SESSION_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[MPS3_SESSION_LEN] == '\0';
}

/* Strict UTF-8: S3 keys and JSON strings must be valid UTF-8. */
static int utf8_valid(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s++;
		unsigned need, min, cp;

		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			min = 0x80;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			min = 0x800;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			min = 0x10000;
			cp = c & 0x07;
		} else {
			return 0;
		}
		while (need--) {
			if ((*s & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (*s++ & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	}
	return 1;
}

int mps3_path_check(const char *path)
{
	const char *p = path, *seg;
	size_t len = strlen(path);

	if (len == 0)
		return mps3_error_set(-EINVAL, "empty path");
	if (len > MPS3_PATH_MAX)
		return mps3_error_set(-ENAMETOOLONG, "path of %zu bytes is longer than %d",
				      len, MPS3_PATH_MAX);
	if (!utf8_valid((const unsigned char *)path))
		return mps3_error_set(-EILSEQ, "path is not valid UTF-8 (S3 keys must be)");
	for (;;) {
		size_t n;

		seg = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - seg);
		if (n == 0)
			return mps3_error_set(-EINVAL,
					      "invalid path \"%s\": empty component (leading, trailing or double '/')",
					      path);
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return mps3_error_set(-EINVAL,
					      "invalid path \"%s\": '.' and '..' are not names",
					      path);
		if (n > MPS3_NAME_MAX)
			return mps3_error_set(-ENAMETOOLONG,
					      "invalid path \"%s\": a component is longer than %d bytes",
					      path, MPS3_NAME_MAX);
		if (seg == path && n == strlen(MPS3_CONTROL_DIR) &&
		    memcmp(seg, MPS3_CONTROL_DIR, n) == 0)
			return mps3_error_set(-EINVAL,
					      "invalid path \"%s\": %s is reserved for the control directory",
					      path, MPS3_CONTROL_DIR);
		if (*p == '\0')
			return 0;
		p++;
	}
}
