/*
 * store/store_s3.c - the store interface over an S3 bucket: adds the
 * database prefix to every key and strips it from listings.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/s3.h"
#include "mps3/sys/store_backend.h"

struct s3_store {
	struct mps3_store base;
	struct mps3_s3 *s3;
	char *prefix;		/* "" or "some/prefix/" */
};

/* prefix + key into a malloc'd string. */
static char *full(struct s3_store *st, const char *key)
{
	char *k = NULL;

	if (asprintf(&k, "%s%s", st->prefix, key) < 0)
		return NULL;
	return k;
}

static int s3s_get(struct mps3_store *s, const char *key, const struct mps3_get_opts *opts,
		   struct mps3_sink *sink, struct mps3_objinfo *info)
{
	struct s3_store *st = (struct s3_store *)s;
	char *k = full(st, key);
	int rc;

	if (!k)
		return -ENOMEM;
	rc = mps3_s3_get(st->s3, k, opts, sink, info);
	free(k);
	return rc;
}

static int s3s_put(struct mps3_store *s, const char *key, const struct mps3_body *body,
		   struct mps3_objinfo *info)
{
	struct s3_store *st = (struct s3_store *)s;
	char *k = full(st, key);
	int rc;

	if (!k)
		return -ENOMEM;
	rc = mps3_s3_put(st->s3, k, body, info);
	free(k);
	return rc;
}

static int s3s_head(struct mps3_store *s, const char *key, struct mps3_objinfo *info)
{
	struct s3_store *st = (struct s3_store *)s;
	char *k = full(st, key);
	int rc;

	if (!k)
		return -ENOMEM;
	rc = mps3_s3_head(st->s3, k, info);
	free(k);
	return rc;
}

static int s3s_del(struct mps3_store *s, const char *key)
{
	struct s3_store *st = (struct s3_store *)s;
	char *k = full(st, key);
	int rc;

	if (!k)
		return -ENOMEM;
	rc = mps3_s3_delete(st->s3, k);
	free(k);
	return rc;
}

static int s3s_list(struct mps3_store *s, const char *prefix, const char *start_after,
		    const char *token, unsigned max, struct mps3_listing *out)
{
	struct s3_store *st = (struct s3_store *)s;
	size_t plen = strlen(st->prefix), i, j = 0, first = out->n;
	char *p = full(st, prefix), *after = start_after ? full(st, start_after) : NULL;
	int rc;

	if (!p || (start_after && !after)) {
		rc = -ENOMEM;
		goto out;
	}
	rc = mps3_s3_list(st->s3, p, after, token, max, out);
	if (rc)
		goto out;
	/* Keys come back whole; hand out the part after our prefix. */
	for (i = first, j = first; i < out->n; i++) {
		if (strncmp(out->v[i].key, st->prefix, plen) != 0) {
			free(out->v[i].key);
			continue;
		}
		memmove(out->v[i].key, out->v[i].key + plen, strlen(out->v[i].key) - plen + 1);
		out->v[j++] = out->v[i];
	}
	out->n = j;
out:
	free(p);
	free(after);
	return rc;
}

static void s3s_free(struct mps3_store *s)
{
	struct s3_store *st = (struct s3_store *)s;

	mps3_s3_free(st->s3);
	free(st->prefix);
	free(st->base.url);
	free(st);
}

static void s3s_set_deadline(struct mps3_store *s, int64_t mono_ms)
{
	mps3_s3_set_deadline(((struct s3_store *)s)->s3, mono_ms);
}

static const struct mps3_store_ops s3_ops = {
	.scheme = "s3",
	.get = s3s_get,
	.put = s3s_put,
	.head = s3s_head,
	.del = s3s_del,
	.list = s3s_list,
	.free = s3s_free,
	.set_deadline = s3s_set_deadline,
};

int mps3_store_s3_new(struct mps3_store **out, const char *bucket, const char *prefix,
		      const struct mps3_s3_config *cfg)
{
	struct s3_store *st = calloc(1, sizeof(*st));
	int rc;

	*out = NULL;
	if (!st)
		return -ENOMEM;
	st->base.ops = &s3_ops;
	rc = mps3_s3_new(&st->s3, bucket, cfg);
	if (rc) {
		free(st);
		return rc;
	}
	st->base.clock = mps3_s3_clock(st->s3);
	if (asprintf(&st->prefix, "%s%s", prefix, prefix[0] ? "/" : "") < 0 ||
	    asprintf(&st->base.url, "s3://%s%s%s", bucket, prefix[0] ? "/" : "", prefix) < 0) {
		st->prefix = NULL;
		st->base.url = NULL;
		s3s_free(&st->base);
		return -ENOMEM;
	}
	*out = &st->base;
	return 0;
}
