/*
 * util/buf.c - growable, size-limited, always NUL-terminated byte buffer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mps3/buf.h"

void mps3_buf_init(struct mps3_buf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit;
}

void mps3_buf_dispose(struct mps3_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void mps3_buf_dispose_secret(struct mps3_buf *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->cap);
	mps3_buf_dispose(b);
}

void mps3_buf_reset(struct mps3_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int mps3_buf_reserve(struct mps3_buf *b, size_t extra)
{
	size_t limit = b->limit ? b->limit : SIZE_MAX - 1;
	size_t need, ncap;
	char *p;

	if (extra > limit || b->len > limit - extra)
		return -EFBIG;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	p = realloc(b->data, ncap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = ncap;
	/* The contents stay a valid string even before the first append. */
	b->data[b->len] = '\0';
	return 0;
}

int mps3_buf_append(struct mps3_buf *b, const void *p, size_t n)
{
	int rc = mps3_buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int mps3_buf_puts(struct mps3_buf *b, const char *s)
{
	return mps3_buf_append(b, s, strlen(s));
}

int mps3_buf_vprintf(struct mps3_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, rc;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -EINVAL;
	rc = mps3_buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int mps3_buf_printf(struct mps3_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = mps3_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *mps3_buf_detach(struct mps3_buf *b, size_t *len_out)
{
	char *p = b->data;

	if (!p)
		p = calloc(1, 1);
	if (len_out)
		*len_out = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t need, i;
	unsigned cp, min;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1;
		min = 0x80;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		min = 0x800;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		min = 0x10000;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < need + 1)
		return 0;
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0; /* C1 controls count as bytes to escape */
	/* Marks that reorder or hide text: "x\u202egnp.exe" would show as "xexe.png". */
	if (cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff)
		return 0;
	return need + 1;
}

int mps3_buf_escape(struct mps3_buf *b, const char *str, size_t n)
{
	return mps3_buf_escape_flags(b, str, n, 1);
}

int mps3_buf_json_string(struct mps3_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	static const char short_from[] = "\"\\\b\f\n\r\t", short_to[] = "\"\\bfnrt";
	const char *run = s, *end = s + n, *k;
	int rc = mps3_buf_append(b, "\"", 1);

	for (; !rc && s < end; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
		size_t len = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		/* As jansson writes them: short escapes where JSON has one, else \u00XX in upper case. */
		k = memchr(short_from, c, sizeof(short_from) - 1);
		if (k)
			esc[1] = short_to[k - short_from];
		else
			len = sizeof(esc);
		rc = mps3_buf_append(b, run, (size_t)(s - run));
		if (!rc)
			rc = mps3_buf_append(b, esc, len);
		run = s + 1;
	}
	if (!rc)
		rc = mps3_buf_append(b, run, (size_t)(s - run));
	return rc ? rc : mps3_buf_append(b, "\"", 1);
}

int mps3_buf_escape_flags(struct mps3_buf *b, const char *str, size_t n, int backslash)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, k;
	int rc = 0;

	while (i < n && !rc) {
		unsigned char c = s[i];

		if (c == '\\' && backslash)
			rc = mps3_buf_puts(b, "\\\\");
		else if (c == '\n')
			rc = mps3_buf_puts(b, "\\n");
		else if (c == '\t')
			rc = mps3_buf_puts(b, "\\t");
		else if (c == '\r')
			rc = mps3_buf_puts(b, "\\r");
		else if (c < 0x20 || c == 0x7f || !(k = utf8_len(s + i, n - i)))
			rc = mps3_buf_printf(b, "\\%03o", c);
		else {
			rc = mps3_buf_append(b, s + i, k);
			i += k;
			continue;
		}
		i++;
	}
	return rc;
}

char *mps3_escape(const char *s)
{
	struct mps3_buf b;

	mps3_buf_init(&b, 0);
	if (mps3_buf_escape(&b, s, strlen(s)) || mps3_buf_reserve(&b, 0)) {
		mps3_buf_dispose(&b);
		return NULL;
	}
	return mps3_buf_detach(&b, NULL);
}
