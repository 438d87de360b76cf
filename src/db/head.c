/*
 * db/head.c - the content of head: a short chain of the newest commits,
 * each link naming its entry and the digest of the head it replaced
 * (mps3/head.h, docs/PROTOCOL.md "Head").  Strict and bounded: a head that
 * is anything else is no chain, and readers then LIST as they always did.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mps3/hash.h"
#include "mps3/head.h"

#define MAGIC "mps3-head 2\n"

void mps3_head_digest(char out[MPS3_HEAD_DIGEST_HEX + 1], const void *body, size_t len)
{
	char hex[MPS3_SHA256_HEX_LEN + 1];

	mps3_sha256_hex(hex, body, len);
	memcpy(out, hex, MPS3_HEAD_DIGEST_HEX);
	out[MPS3_HEAD_DIGEST_HEX] = '\0';
}

static int is_digest(const char *s, size_t n)
{
	size_t i;

	if (n != MPS3_HEAD_DIGEST_HEX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* name[0..n) into out if it is a log entry name; 0 or -EINVAL. */
static int take_name(char out[MPS3_LOGNAME_MAX], const char *name, size_t n)
{
	struct mps3_logkey k;

	if (n == 0 || n >= MPS3_LOGNAME_MAX || memchr(name, '\0', n))
		return -EINVAL;
	memcpy(out, name, n);
	out[n] = '\0';
	return mps3_logkey_parse(&k, out);
}

int mps3_head_parse(struct mps3_head *out, const char *body, size_t len)
{
	const char *p, *end = body + len;
	size_t ml = sizeof(MAGIC) - 1;
	unsigned i;

	memset(out, 0, sizeof(*out));
	if (!body || len > MPS3_HEAD_MAX)
		return -EINVAL;
	if (len < ml || memcmp(body, MAGIC, ml) != 0) {
		/* An older writer's: the one name (a final newline tolerated). */
		size_t n = len && body[len - 1] == '\n' ? len - 1 : len;

		if (take_name(out->name, body, n))
			return -EINVAL;
		out->v = 1;
		return 0;
	}
	for (p = body + ml; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
		struct mps3_head_link *l;

		if (!nl || out->n == MPS3_HEAD_LINKS)
			goto bad;
		sp = memchr(p, ' ', (size_t)(nl - p));
		if (!sp)
			goto bad;
		l = &out->link[out->n];
		if (take_name(l->name, p, (size_t)(sp - p)))
			goto bad;
		for (i = 0; i < out->n; i++)
			if (strcmp(out->link[i].name, l->name) == 0)
				goto bad; /* no honest writer names one commit twice */
		sp++;
		if (nl - sp == 1 && *sp == '-')
			l->prev[0] = '\0';
		else if (is_digest(sp, (size_t)(nl - sp)))
			memcpy(l->prev, sp, MPS3_HEAD_DIGEST_HEX); /* NUL from the memset */
		else
			goto bad;
		out->n++;
		p = nl + 1;
	}
	if (out->n == 0)
		goto bad;
	out->v = 2;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -EINVAL;
}

int mps3_head_names(const struct mps3_head *h, const char *name)
{
	unsigned i;

	for (i = 0; h->v == 2 && i < h->n; i++)
		if (strcmp(h->link[i].name, name) == 0)
			return 1;
	return 0;
}

static void add_link(struct mps3_head *out, const char *name, const char *prev)
{
	struct mps3_head_link *l;

	if (out->n == MPS3_HEAD_LINKS || mps3_head_names(out, name))
		return;
	l = &out->link[out->n++];
	snprintf(l->name, sizeof(l->name), "%s", name);
	snprintf(l->prev, sizeof(l->prev), "%s", prev ? prev : "");
}

void mps3_head_follow(struct mps3_head *out, const struct mps3_head *replaced, const char *prev,
		      const char *name, int64_t min_t, const char *const *again, unsigned nagain)
{
	unsigned i;
	int64_t t;

	memset(out, 0, sizeof(*out));
	out->v = 2;
	for (i = 0; i < nagain && out->n < MPS3_HEAD_LINKS - 1; i++)
		if (strcmp(again[i], name) != 0)
			add_link(out, again[i], NULL);
	add_link(out, name, prev);
	if (!replaced || replaced->v != 2)
		return;
	for (i = 0; i < replaced->n; i++)
		if (mps3_logkey_parse_time(&t, replaced->link[i].name) == 0 && t >= min_t)
			add_link(out, replaced->link[i].name, replaced->link[i].prev);
}

int mps3_head_format(char *out, size_t cap, const struct mps3_head *h)
{
	size_t len = 0;
	unsigned i;
	int n;

	n = snprintf(out, cap, "%s", MAGIC);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	len = (size_t)n;
	for (i = 0; i < h->n; i++) {
		n = snprintf(out + len, cap - len, "%s %s\n", h->link[i].name,
			     h->link[i].prev[0] ? h->link[i].prev : "-");
		if (n < 0 || (size_t)n >= cap - len)
			return -ENOSPC;
		len += (size_t)n;
	}
	return (int)len;
}

unsigned mps3_head_since(const struct mps3_head *h, const char *d)
{
	unsigned i;

	if (h->v != 2 || !d || !d[0])
		return 0;
	for (i = 0; i < h->n; i++)
		if (strcmp(h->link[i].prev, d) == 0)
			return i + 1;
	return 0;
}
