/*
 * store/store.c - URL parsing and the calls every backend shares: argument
 * checks and dispatch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mps3/error.h"
#include "mps3/s3.h"
#include "mps3/sys/store_backend.h"

static int url_error(const char *url)
{
	return mps3_error_set(-EINVAL,
			      "unsupported store URL \"%s\": use s3://BUCKET[/PREFIX] or file:///PATH",
			      url);
}

int mps3_store_open(struct mps3_store **out, const char *url,
		    const struct mps3_s3_config *cfg)
{
	*out = NULL;
	if (strncmp(url, "s3://", 5) == 0) {
		const char *b = url + 5, *slash = strchr(b, '/');
		char *bucket = NULL, *prefix = NULL;
		size_t plen;
		int rc;

		if (!cfg)
			return mps3_error_set(-EINVAL, "%s: no S3 configuration", url);
		bucket = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
		if (!bucket)
			return -ENOMEM;
		if (bucket[0] == '\0') {
			free(bucket);
			return url_error(url);
		}
		/* The prefix is a key prefix: no leading or trailing slash. */
		prefix = strdup(slash ? slash + 1 : "");
		if (!prefix) {
			free(bucket);
			return -ENOMEM;
		}
		plen = strlen(prefix);
		while (plen > 0 && prefix[plen - 1] == '/')
			prefix[--plen] = '\0';
		if (strstr(prefix, "//") || prefix[0] == '/') {
			free(bucket);
			free(prefix);
			return url_error(url);
		}
		rc = mps3_store_s3_new(out, bucket, prefix, cfg);
		free(bucket);
		free(prefix);
		return rc;
	}
	if (strncmp(url, "file://", 7) == 0) {
		const char *path = url + 7;

		if (path[0] != '/')
			return mps3_error_set(-EINVAL,
					      "store URL \"%s\": file:// needs an absolute path (file:///PATH)",
					      url);
		return mps3_store_file_new(out, path, 1);
	}
	if (strcmp(url, "mem://") == 0)
		return mps3_store_mem_new(out);
	return url_error(url);
}

void mps3_store_free(struct mps3_store *s)
{
	if (s)
		s->ops->free(s);
}

const char *mps3_store_url(const struct mps3_store *s)
{
	return s->url;
}

const char *mps3_store_scheme(const struct mps3_store *s)
{
	return s->ops->scheme;
}

struct mps3_clock *mps3_store_clock(struct mps3_store *s)
{
	return s->clock;
}

void mps3_store_set_deadline(struct mps3_store *s, int64_t mono_ms)
{
	if (s->ops->set_deadline)
		s->ops->set_deadline(s, mono_ms);
}

static int key_ok(const char *op, const char *key)
{
	if (!key || key[0] == '\0' || strlen(key) > 1024)
		return mps3_error_set(-EINVAL, "%s: invalid object key", op);
	return 0;
}

int mps3_store_get(struct mps3_store *s, const char *key,
		   const struct mps3_get_opts *opts, struct mps3_sink *sink,
		   struct mps3_objinfo *info)
{
	static const struct mps3_get_opts none = { NULL, 0, 0, 0 };
	int rc = key_ok("GetObject", key);

	if (rc)
		return rc;
	return s->ops->get(s, key, opts ? opts : &none, sink, info);
}

int mps3_store_get_buf(struct mps3_store *s, const char *key, struct mps3_buf *buf,
		       struct mps3_objinfo *info)
{
	struct mps3_sink sink;

	mps3_sink_buf(&sink, buf);
	return mps3_store_get(s, key, NULL, &sink, info);
}

int mps3_store_put(struct mps3_store *s, const char *key,
		   const struct mps3_body *body, struct mps3_objinfo *info)
{
	int rc = key_ok("PutObject", key);

	if (rc)
		return rc;
	return s->ops->put(s, key, body, info);
}

int mps3_store_head(struct mps3_store *s, const char *key, struct mps3_objinfo *info)
{
	int rc = key_ok("HeadObject", key);

	if (rc)
		return rc;
	return s->ops->head(s, key, info);
}

int mps3_store_delete(struct mps3_store *s, const char *key)
{
	int rc = key_ok("DeleteObject", key);

	if (rc)
		return rc;
	return s->ops->del(s, key);
}

int mps3_store_list(struct mps3_store *s, const char *prefix,
		    const char *start_after, const char *token, unsigned max,
		    struct mps3_listing *out)
{
	if (max == 0 || max > 1000)
		max = 1000;
	return s->ops->list(s, prefix ? prefix : "", start_after, token, max, out);
}
