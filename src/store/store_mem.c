/*
 * store/store_mem.c - an in-memory bucket for unit tests: a sorted array of
 * objects under one mutex, with fault injection.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mps3/clock.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/sys/store_backend.h"

struct memobj {
	char *key;
	char *data;
	size_t len;
	struct mps3_objinfo info;
};

struct mem_store {
	struct mps3_store base;
	struct mps3_clock clock;
	pthread_mutex_t lock;
	struct memobj *v;	/* sorted by key; protected by lock */
	size_t n, cap;		/* protected by lock */
	int fail_err;		/* protected by lock */
	unsigned fail_n;	/* protected by lock */
	unsigned lose_n;	/* PUTs to store and then fail; protected by lock */
};

void mps3_etag_md5(char out[MPS3_ETAG_MAX], const void *p, size_t n)
{
	unsigned char md[16];

	mps3_md5(md, p, n);
	mps3_hex(out, md, sizeof(md));
}

void mps3_store_local_clock_tick(struct mps3_store *s)
{
	struct timespec ts;
	int64_t local = mps3_clock_local_ms(s->clock), real;

	clock_gettime(CLOCK_REALTIME, &ts);
	real = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	mps3_clock_observe(s->clock, local, local, real, 1);
}

static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t find(struct mem_store *m, const char *key, int *found)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->v[mid].key, key);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

/* Called with the lock held: consumes one injected fault. */
static int injected(struct mem_store *m, const char *op, const char *key)
{
	if (m->fail_n == 0)
		return 0;
	m->fail_n--;
	return mps3_error_set(m->fail_err, "%s %s: injected failure", op, key ? key : "");
}

static int mem_get(struct mps3_store *s, const char *key, const struct mps3_get_opts *opts,
		   struct mps3_sink *sink, struct mps3_objinfo *info)
{
	struct mem_store *m = (struct mem_store *)s;
	char *copy = NULL;
	size_t off, len;
	int found, rc;
	size_t i;

	mps3_store_local_clock_tick(s);
	pthread_mutex_lock(&m->lock);
	rc = injected(m, "GetObject", key);
	if (rc) {
		pthread_mutex_unlock(&m->lock);
		return rc;
	}
	i = find(m, key, &found);
	if (!found) {
		pthread_mutex_unlock(&m->lock);
		return mps3_error_set(-ENOENT, "GetObject %s: NoSuchKey", key);
	}
	if (info)
		*info = m->v[i].info;
	if (opts->if_none_match && strcmp(opts->if_none_match, m->v[i].info.etag) == 0) {
		pthread_mutex_unlock(&m->lock);
		return MPS3_NOT_MODIFIED;
	}
	off = opts->off < m->v[i].len ? (size_t)opts->off : m->v[i].len;
	len = m->v[i].len - off;
	if (opts->len && opts->len < len)
		len = (size_t)opts->len;
	/* Copy out so the sink runs without the lock. */
	copy = malloc(len ? len : 1);
	if (!copy) {
		pthread_mutex_unlock(&m->lock);
		return -ENOMEM;
	}
	memcpy(copy, m->v[i].data + off, len);
	pthread_mutex_unlock(&m->lock);
	rc = len ? sink->write(sink->ctx, copy, len) : 0;
	free(copy);
	return rc;
}

static int mem_put(struct mps3_store *s, const char *key, const struct mps3_body *body,
		   struct mps3_objinfo *info)
{
	struct mem_store *m = (struct mem_store *)s;
	struct mps3_buf b = MPS3_BUF_INIT;
	struct memobj o;
	int found, rc;
	size_t i;

	mps3_store_local_clock_tick(s);
	rc = mps3_body_read(body, &b);
	if (rc) {
		mps3_buf_dispose(&b);
		return mps3_error_set(rc, "PutObject %s: cannot read the body", key);
	}
	memset(&o, 0, sizeof(o));
	o.len = b.len;
	o.data = mps3_buf_detach(&b, NULL);
	o.key = strdup(key);
	if (!o.data || !o.key) {
		free(o.data);
		free(o.key);
		return -ENOMEM;
	}
	o.info.size = o.len;
	o.info.mtime_ms = real_ms();
	mps3_etag_md5(o.info.etag, o.data, o.len);

	pthread_mutex_lock(&m->lock);
	rc = injected(m, "PutObject", key);
	if (rc)
		goto unlock;
	i = find(m, key, &found);
	if (found) {
		free(m->v[i].key);
		free(m->v[i].data);
		m->v[i] = o;
	} else {
		if (m->n == m->cap) {
			size_t ncap = m->cap ? m->cap * 2 : 64;
			struct memobj *v = realloc(m->v, ncap * sizeof(*v));

			if (!v) {
				rc = -ENOMEM;
				goto unlock;
			}
			m->v = v;
			m->cap = ncap;
		}
		memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(*m->v));
		m->v[i] = o;
		m->n++;
	}
	if (info)
		*info = o.info;
	o.key = NULL;
	o.data = NULL;
	if (m->lose_n > 0) {
		m->lose_n--;
		rc = mps3_error_set(-ECONNRESET, "PutObject %s: stored, but the reply was lost (injected)", key);
	}
unlock:
	pthread_mutex_unlock(&m->lock);
	free(o.key);
	free(o.data);
	return rc;
}

static int mem_head(struct mps3_store *s, const char *key, struct mps3_objinfo *info)
{
	struct mem_store *m = (struct mem_store *)s;
	int found, rc;
	size_t i;

	mps3_store_local_clock_tick(s);
	pthread_mutex_lock(&m->lock);
	rc = injected(m, "HeadObject", key);
	if (!rc) {
		i = find(m, key, &found);
		if (!found)
			rc = mps3_error_set(-ENOENT, "HeadObject %s: NoSuchKey", key);
		else if (info)
			*info = m->v[i].info;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int mem_del(struct mps3_store *s, const char *key)
{
	struct mem_store *m = (struct mem_store *)s;
	int found, rc;
	size_t i;

	mps3_store_local_clock_tick(s);
	pthread_mutex_lock(&m->lock);
	rc = injected(m, "DeleteObject", key);
	if (!rc) {
		i = find(m, key, &found);
		if (found) {
			free(m->v[i].key);
			free(m->v[i].data);
			memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(*m->v));
			m->n--;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int mem_list(struct mps3_store *s, const char *prefix, const char *start_after,
		    const char *token, unsigned max, struct mps3_listing *out)
{
	struct mem_store *m = (struct mem_store *)s;
	const char *after = token ? token : start_after;
	size_t plen = strlen(prefix), i;
	int found, rc;

	mps3_store_local_clock_tick(s);
	pthread_mutex_lock(&m->lock);
	rc = injected(m, "ListObjectsV2", prefix);
	if (rc)
		goto unlock;
	i = find(m, after && strcmp(after, prefix) > 0 ? after : prefix, &found);
	if (found && after && strcmp(m->v[i].key, after) == 0)
		i++;
	for (; i < m->n; i++) {
		if (strncmp(m->v[i].key, prefix, plen) != 0)
			break;
		if (out->n == max) {
			out->truncated = 1;
			out->next_token = strdup(out->v[out->n - 1].key);
			if (!out->next_token)
				rc = -ENOMEM;
			break;
		}
		rc = mps3_listing_add(out, m->v[i].key, strlen(m->v[i].key), &m->v[i].info);
		if (rc)
			break;
	}
unlock:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static void mem_free(struct mps3_store *s)
{
	struct mem_store *m = (struct mem_store *)s;
	size_t i;

	for (i = 0; i < m->n; i++) {
		free(m->v[i].key);
		free(m->v[i].data);
	}
	free(m->v);
	pthread_mutex_destroy(&m->lock);
	mps3_clock_dispose(&m->clock);
	free(m->base.url);
	free(m);
}

static const struct mps3_store_ops mem_ops = {
	.scheme = "mem",
	.get = mem_get,
	.put = mem_put,
	.head = mem_head,
	.del = mem_del,
	.list = mem_list,
	.free = mem_free,
};

int mps3_store_mem_new(struct mps3_store **out)
{
	struct mem_store *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->base.ops = &mem_ops;
	m->base.url = strdup("mem://");
	if (!m->base.url) {
		free(m);
		return -ENOMEM;
	}
	mps3_clock_init(&m->clock);
	m->base.clock = &m->clock;
	pthread_mutex_init(&m->lock, NULL);
	*out = &m->base;
	return 0;
}

void mps3_store_mem_fail(struct mps3_store *s, int err, unsigned n)
{
	struct mem_store *m = (struct mem_store *)s;

	pthread_mutex_lock(&m->lock);
	m->fail_err = err;
	m->fail_n = n;
	pthread_mutex_unlock(&m->lock);
}

void mps3_store_mem_lose(struct mps3_store *s, unsigned n)
{
	struct mem_store *m = (struct mem_store *)s;

	pthread_mutex_lock(&m->lock);
	m->lose_n = n;
	pthread_mutex_unlock(&m->lock);
}
