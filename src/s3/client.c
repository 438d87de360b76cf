/*
 * s3/client.c - the S3 operations on top of the request engine: object
 * GET/PUT/HEAD/DELETE, ListObjectsV2, bucket creation, and multipart upload
 * of large bodies with parts sent in parallel.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/log.h"
#include "mps3/xml.h"
#include "internal.h"

int mps3_s3_tls_init(struct mps3_s3 *s3);
void mps3_s3_tls_dispose(struct mps3_s3 *s3);

#define DEFAULT_ATTEMPTS 6
#define DEFAULT_CONNECT_MS 10000
#define DEFAULT_STALL_MS 30000
#define DEFAULT_MULTIPART (64ull << 20)
#define DEFAULT_PART (16ull << 20)
#define MIN_PART (5ull << 20)
#define MAX_PARTS 10000

void mps3_s3_config_init(struct mps3_s3_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

static void free_secret(char **p)
{
	if (*p) {
		OPENSSL_cleanse(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void mps3_s3_config_dispose(struct mps3_s3_config *cfg)
{
	free(cfg->endpoint);
	free(cfg->region);
	free(cfg->access_key);
	free_secret(&cfg->secret_key);
	free_secret(&cfg->session_token);
	mps3_creds_unref(cfg->creds);
	cfg->creds = NULL;
	free(cfg->ca_bundle);
	free(cfg->storage_class);
	free(cfg->sse);
	free(cfg->sse_kms_key_id);
	free_secret(&cfg->sse_c_key);
	free(cfg->sse_c_key_md5);
	memset(cfg, 0, sizeof(*cfg));
}

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

int mps3_s3_config_copy(struct mps3_s3_config *dst, const struct mps3_s3_config *src)
{
	int rc = 0;

	*dst = *src;
	rc |= dup_str(&dst->endpoint, src->endpoint);
	rc |= dup_str(&dst->region, src->region);
	rc |= dup_str(&dst->access_key, src->access_key);
	rc |= dup_str(&dst->secret_key, src->secret_key);
	rc |= dup_str(&dst->session_token, src->session_token);
	dst->creds = mps3_creds_ref(src->creds);
	rc |= dup_str(&dst->ca_bundle, src->ca_bundle);
	rc |= dup_str(&dst->storage_class, src->storage_class);
	rc |= dup_str(&dst->sse, src->sse);
	rc |= dup_str(&dst->sse_kms_key_id, src->sse_kms_key_id);
	rc |= dup_str(&dst->sse_c_key, src->sse_c_key);
	rc |= dup_str(&dst->sse_c_key_md5, src->sse_c_key_md5);
	if (rc) {
		mps3_s3_config_dispose(dst);
		return -ENOMEM;
	}
	return 0;
}

int mps3_s3_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

void mps3_s3_global_cleanup(void)
{
	curl_global_cleanup();
}

/* Defaults for what the configuration leaves unset.  0 or -ENOMEM. */
static int config_defaults(struct mps3_s3_config *c)
{
	if (!c->region && dup_str(&c->region, "us-east-1"))
		return -ENOMEM;
	/* It names the host on AWS (s3.REGION.amazonaws.com): only what a region name holds. */
	if (!*c->region || strlen(c->region) > 32 ||
	    strspn(c->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(c->region))
		return mps3_error_set(-EINVAL, "\"%.40s\" is not a region name", c->region);
	if (c->max_attempts <= 0)
		c->max_attempts = DEFAULT_ATTEMPTS;
	if (c->connect_timeout_ms <= 0)
		c->connect_timeout_ms = DEFAULT_CONNECT_MS;
	if (c->stall_timeout_ms <= 0)
		c->stall_timeout_ms = DEFAULT_STALL_MS;
	if (!c->multipart_threshold)
		c->multipart_threshold = DEFAULT_MULTIPART;
	if (!c->part_size)
		c->part_size = DEFAULT_PART;
	if (c->part_size < MIN_PART)
		c->part_size = MIN_PART;
	if (!c->part_parallel)
		c->part_parallel = 4;
	return 0;
}

int mps3_s3_new(struct mps3_s3 **out, const char *bucket, const struct mps3_s3_config *cfg)
{
	struct mps3_s3 *s3 = NULL;
	int dns_ok, rc;

	*out = NULL;
	if (!mps3_s3_bucket_valid(bucket, &dns_ok))
		return mps3_error_set(-EINVAL, "invalid bucket name \"%s\"", bucket);
	if ((!cfg->access_key || !cfg->secret_key) && !cfg->creds)
		return mps3_error_set(-EINVAL, "no S3 credentials");
	s3 = calloc(1, sizeof(*s3));
	if (!s3)
		return -ENOMEM;
	pthread_mutex_init(&s3->lock, NULL);
	mps3_clock_init(&s3->clock);
	rc = mps3_s3_config_copy(&s3->cfg, cfg);
	if (!rc)
		rc = mps3_s3_tls_init(s3);
	if (rc) {
		mps3_s3_config_dispose(&s3->cfg);
		mps3_clock_dispose(&s3->clock);
		pthread_mutex_destroy(&s3->lock);
		free(s3);
		return rc;
	}
	rc = config_defaults(&s3->cfg);
	if (!rc)
		rc = mps3_s3_set_addressing(s3, bucket, dns_ok);
	if (rc) {
		mps3_s3_free(s3);
		return rc;
	}
	*out = s3;
	return 0;
}

void mps3_s3_free(struct mps3_s3 *s3)
{
	if (!s3)
		return;
	mps3_s3_tls_dispose(s3);
	mps3_s3_config_dispose(&s3->cfg);
	mps3_clock_dispose(&s3->clock);
	pthread_mutex_destroy(&s3->lock);
	free(s3->bucket);
	free(s3->base_url);
	free(s3->host);
	free(s3->path_prefix);
	free(s3->endpoint_name);
	while (s3->nretired > 0)
		free(s3->retired[--s3->nretired]);
	free(s3->retired);
	free(s3);
}

struct mps3_clock *mps3_s3_clock(struct mps3_s3 *s3)
{
	return &s3->clock;
}

void mps3_s3_get_stats(struct mps3_s3 *s3, struct mps3_s3_stats *out)
{
	out->requests = __atomic_load_n(&s3->n_requests, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&s3->n_retries, __ATOMIC_RELAXED);
	out->bytes_up = __atomic_load_n(&s3->n_up, __ATOMIC_RELAXED);
	out->bytes_down = __atomic_load_n(&s3->n_down, __ATOMIC_RELAXED);
}

static void req_init(struct s3_req *r, const char *op, const char *method, const char *key)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->method = method;
	r->key = key;
}

/*
 * Parallel ranged GET of a large object.  part_parallel workers fetch
 * consecutive chunks into buffers, at most 2 x part_parallel ahead of what
 * the caller's thread has written to the sink, which it does in order.
 * Network and the sink's work (hashing, writing) overlap, and several
 * connections share the load.  All chunks must come from one object: their
 * ETags must agree.
 */
struct pchunk {
	struct mps3_buf buf;
	int ready;
	int rc;
	char errmsg[512];
	struct mps3_objinfo info;
};

struct pget {
	struct mps3_s3 *s3;
	const char *key;
	uint64_t off, end, chunk;
	unsigned n;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned next;		/* protected by lock */
	unsigned delivered;	/* protected by lock */
	unsigned window;
	int stop;		/* protected by lock */
	struct pchunk *c;	/* ready/rc/info protected by lock */
};

static void *pget_worker(void *arg)
{
	struct pget *g = arg;

	pthread_setname_np(pthread_self(), "mps3-get");
	for (;;) {
		struct mps3_sink sink;
		struct s3_req r;
		struct pchunk *c;
		unsigned i;
		int rc;

		pthread_mutex_lock(&g->lock);
		while (!g->stop && g->next < g->n && g->next - g->delivered >= g->window)
			pthread_cond_wait(&g->cond, &g->lock);
		if (g->stop || g->next >= g->n) {
			pthread_mutex_unlock(&g->lock);
			return NULL;
		}
		i = g->next++;
		pthread_mutex_unlock(&g->lock);

		c = &g->c[i];
		req_init(&r, "GetObject", "GET", g->key);
		mps3_sink_buf(&sink, &c->buf);
		r.sink = &sink;
		r.resumable = 1;
		r.range_off = g->off + (uint64_t)i * g->chunk;
		r.range_len = g->chunk < g->end - r.range_off ? g->chunk : g->end - r.range_off;
		rc = mps3_s3_request(g->s3, &r);
		if (rc == 0 && c->buf.len != r.range_len)
			rc = mps3_error_set(-EIO, "GetObject %s: range %" PRIu64 "+%" PRIu64 " came back with %zu bytes",
					    g->key, r.range_off, r.range_len, c->buf.len);
		pthread_mutex_lock(&g->lock);
		c->rc = rc;
		if (rc)
			snprintf(c->errmsg, sizeof(c->errmsg), "%s", mps3_error_last(rc));
		c->info = r.info;
		c->ready = 1;
		pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->lock);
	}
}

static int get_parallel(struct mps3_s3 *s3, const char *key, uint64_t off, uint64_t end,
			struct mps3_sink *sink, struct mps3_objinfo *info)
{
	struct pget g;
	pthread_t th[16];
	unsigned nth = s3->cfg.part_parallel < 16 ? s3->cfg.part_parallel : 16, started = 0, i;
	int rc = 0;

	memset(&g, 0, sizeof(g));
	g.s3 = s3;
	g.key = key;
	g.off = off;
	g.end = end;
	g.chunk = 8ull << 20;
	g.n = (unsigned)((end - off + g.chunk - 1) / g.chunk);
	g.window = 2 * nth;
	g.c = calloc(g.n, sizeof(*g.c));
	if (!g.c)
		return -ENOMEM;
	for (i = 0; i < g.n; i++)
		mps3_buf_init(&g.c[i].buf, (size_t)g.chunk);
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	for (i = 0; i < nth; i++)
		if (pthread_create(&th[i], NULL, pget_worker, &g) == 0)
			started++;
	if (started == 0) {
		rc = -EAGAIN;
		goto out;
	}
	for (i = 0; i < g.n && rc == 0; i++) {
		struct pchunk *c = &g.c[i];

		pthread_mutex_lock(&g.lock);
		while (!c->ready)
			pthread_cond_wait(&g.cond, &g.lock);
		pthread_mutex_unlock(&g.lock);
		if (c->rc) {
			rc = mps3_error_set(c->rc, "%s", c->errmsg);
			break;
		}
		if (i == 0) {
			if (info)
				*info = c->info;
		} else if (strcmp(c->info.etag, g.c[0].info.etag) != 0) {
			rc = mps3_error_set(-ESTALE, "GetObject %s: the object changed during the download", key);
			break;
		}
		rc = sink->write(sink->ctx, c->buf.data, c->buf.len);
		mps3_buf_dispose(&c->buf);
		pthread_mutex_lock(&g.lock);
		g.delivered++;
		pthread_cond_broadcast(&g.cond);
		pthread_mutex_unlock(&g.lock);
	}
out:
	pthread_mutex_lock(&g.lock);
	g.stop = 1;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < g.n; i++)
		mps3_buf_dispose(&g.c[i].buf);
	free(g.c);
	pthread_mutex_destroy(&g.lock);
	pthread_cond_destroy(&g.cond);
	return rc;
}

int mps3_s3_get(struct mps3_s3 *s3, const char *key, const struct mps3_get_opts *opts,
		struct mps3_sink *sink, struct mps3_objinfo *info)
{
	char inm[MPS3_ETAG_MAX + 2];
	struct s3_req r;
	int rc;

	if (!opts->if_none_match && opts->size_hint >= s3->cfg.multipart_threshold &&
	    opts->off < opts->size_hint) {
		uint64_t end = opts->len && opts->len < opts->size_hint - opts->off
				       ? opts->off + opts->len
				       : opts->size_hint;

		if (end - opts->off >= s3->cfg.multipart_threshold) {
			rc = get_parallel(s3, key, opts->off, end, sink, info);
			if (rc != -EAGAIN)
				return rc;
		}
	}
	req_init(&r, "GetObject", "GET", key);
	r.sink = sink;
	r.resumable = 1;
	r.range_off = opts->off;
	r.range_len = opts->len;
	if (opts->if_none_match) {
		snprintf(inm, sizeof(inm), "\"%s\"", opts->if_none_match);
		r.headers[r.nheaders++] = (struct mps3_kv){ "if-none-match", inm };
	}
	rc = mps3_s3_request(s3, &r);
	if (info && rc >= 0)
		*info = r.info;
	return rc;
}

static int put_single(struct mps3_s3 *s3, const char *key, const struct mps3_body *body,
		      struct mps3_objinfo *info)
{
	struct s3_req r;
	int rc;

	req_init(&r, "PutObject", "PUT", key);
	r.body = body;
	r.headers[r.nheaders++] = (struct mps3_kv){ "content-type", "application/octet-stream" };
	rc = mps3_s3_request(s3, &r);
	if (info && rc == 0) {
		*info = r.info;
		info->size = body->len;
	}
	return rc;
}

/*
 * Multipart upload.  Parts are claimed from a shared counter by
 * part_parallel threads, each with its own connection; the first failure
 * stops the others from claiming more.  Any failure aborts the upload so no
 * invisible parts are left behind to be billed.
 */
struct mp {
	struct mps3_s3 *s3;
	const char *key;
	const char *upload_id;
	const struct mps3_body *body;
	uint64_t part_size;
	unsigned nparts;
	pthread_mutex_t lock;
	unsigned next;		/* protected by lock */
	int err;		/* protected by lock */
	char errmsg[1024];	/* protected by lock */
	char (*etags)[MPS3_ETAG_MAX];
};

static void *mp_worker(void *arg)
{
	struct mp *m = arg;

	pthread_setname_np(pthread_self(), "mps3-part");
	for (;;) {
		struct mps3_body part;
		struct mps3_buf data = MPS3_BUF_INIT;
		char pnum[16], sha[65];
		unsigned char md[MPS3_SHA256_LEN];
		struct s3_req r;
		unsigned i;
		int rc;

		pthread_mutex_lock(&m->lock);
		if (m->err || m->next >= m->nparts) {
			pthread_mutex_unlock(&m->lock);
			break;
		}
		i = m->next++;
		pthread_mutex_unlock(&m->lock);

		memset(&part, 0, sizeof(part));
		part.len = (uint64_t)i * m->part_size + m->part_size <= m->body->len
				   ? m->part_size
				   : m->body->len - (uint64_t)i * m->part_size;
		if (m->body->data) {
			part.data = (const char *)m->body->data + (uint64_t)i * m->part_size;
			mps3_sha256(md, part.data, (size_t)part.len);
		} else {
			part.fd = m->body->fd;
			part.off = m->body->off + (off_t)((uint64_t)i * m->part_size);
			rc = mps3_sha256_fd(md, part.fd, part.off, part.len);
			if (rc) {
				rc = mps3_error_set(rc, "UploadPart %s: cannot read part %u", m->key, i + 1);
				goto failed;
			}
		}
		mps3_hex(sha, md, sizeof(md));
		part.sha256_hex = sha;
		snprintf(pnum, sizeof(pnum), "%u", i + 1);
		req_init(&r, "UploadPart", "PUT", m->key);
		r.body = &part;
		r.query[r.nquery++] = (struct mps3_kv){ "partNumber", pnum };
		r.query[r.nquery++] = (struct mps3_kv){ "uploadId", m->upload_id };
		rc = mps3_s3_request(m->s3, &r);
		mps3_buf_dispose(&data);
		if (rc == 0 && r.info.etag[0] == '\0')
			rc = mps3_error_set(-EPROTO, "UploadPart %s: part %u: reply without ETag", m->key, i + 1);
		if (rc == 0) {
			memcpy(m->etags[i], r.info.etag, MPS3_ETAG_MAX);
			continue;
		}
failed:
		pthread_mutex_lock(&m->lock);
		if (!m->err) {
			m->err = rc;
			snprintf(m->errmsg, sizeof(m->errmsg), "%s", mps3_error_last(rc));
		}
		pthread_mutex_unlock(&m->lock);
		break;
	}
	return NULL;
}

static void mp_abort(struct mps3_s3 *s3, const char *key, const char *upload_id)
{
	struct s3_req r;

	req_init(&r, "AbortMultipartUpload", "DELETE", key);
	r.query[r.nquery++] = (struct mps3_kv){ "uploadId", upload_id };
	if (mps3_s3_request(s3, &r) < 0)
		mps3_warn("%s", mps3_error_last(-EIO));
}

static int put_multipart(struct mps3_s3 *s3, const char *key, const struct mps3_body *body,
			 struct mps3_objinfo *info)
{
	struct mps3_buf xml, resp;
	struct mps3_sink sink;
	struct mps3_body xbody;
	struct mps3_s3_error serr;
	pthread_t *threads = NULL;
	char *upload_id = NULL;
	struct s3_req r;
	struct mp m;
	unsigned nthreads, i, started = 0;
	uint64_t part_size = s3->cfg.part_size;
	int rc;

	mps3_buf_init(&xml, 0);
	mps3_buf_init(&resp, S3_XML_LIMIT);
	memset(&m, 0, sizeof(m));
	pthread_mutex_init(&m.lock, NULL);
	/* S3 allows at most 10000 parts: grow the part size for huge bodies. */
	while ((body->len + part_size - 1) / part_size > MAX_PARTS)
		part_size *= 2;

	req_init(&r, "CreateMultipartUpload", "POST", key);
	r.query[r.nquery++] = (struct mps3_kv){ "uploads", "" };
	r.headers[r.nheaders++] = (struct mps3_kv){ "content-type", "application/octet-stream" };
	mps3_sink_buf(&sink, &resp);
	r.sink = &sink;
	rc = mps3_s3_request(s3, &r);
	if (rc)
		goto out;
	rc = mps3_xml_parse_upload_id(&upload_id, resp.data, resp.len);
	if (rc) {
		rc = mps3_error_set(rc, "CreateMultipartUpload %s: malformed reply", key);
		goto out;
	}

	m.s3 = s3;
	m.key = key;
	m.upload_id = upload_id;
	m.body = body;
	m.part_size = part_size;
	m.nparts = (unsigned)((body->len + part_size - 1) / part_size);
	m.etags = calloc(m.nparts, sizeof(*m.etags));
	nthreads = s3->cfg.part_parallel < m.nparts ? s3->cfg.part_parallel : m.nparts;
	threads = calloc(nthreads, sizeof(*threads));
	if (!m.etags || !threads) {
		rc = -ENOMEM;
		goto abort;
	}
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&threads[i], NULL, mp_worker, &m) != 0)
			break;
		started++;
	}
	if (started == 0)
		mp_worker(&m);
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	if (m.err) {
		rc = mps3_error_set(m.err, "%s", m.errmsg);
		goto abort;
	}

	rc = mps3_buf_puts(&xml, "<CompleteMultipartUpload>");
	for (i = 0; !rc && i < m.nparts; i++)
		rc = mps3_buf_printf(&xml, "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>",
				     i + 1, m.etags[i]);
	if (!rc)
		rc = mps3_buf_puts(&xml, "</CompleteMultipartUpload>");
	if (rc)
		goto abort;
	memset(&xbody, 0, sizeof(xbody));
	xbody.data = xml.data;
	xbody.len = xml.len;
	mps3_buf_reset(&resp);
	req_init(&r, "CompleteMultipartUpload", "POST", key);
	r.query[r.nquery++] = (struct mps3_kv){ "uploadId", upload_id };
	r.headers[r.nheaders++] = (struct mps3_kv){ "content-type", "application/xml" };
	r.body = &xbody;
	r.sink = &sink;
	rc = mps3_s3_request(s3, &r);
	if (rc)
		goto abort;
	memset(&serr, 0, sizeof(serr));
	if (info)
		memset(info, 0, sizeof(*info));
	rc = mps3_xml_parse_complete(info ? info->etag : r.info.etag, &serr, resp.data, resp.len);
	if (rc == -EIO) {
		rc = mps3_error_set(-EIO, "CompleteMultipartUpload %s: %s: %s", key, serr.code,
				    serr.message);
		goto abort;
	}
	if (rc) {
		rc = mps3_error_set(rc, "CompleteMultipartUpload %s: malformed reply", key);
		goto abort;
	}
	if (info)
		info->size = body->len;
	goto out;
abort:
	{
		char cause[1024];

		snprintf(cause, sizeof(cause), "%s", mps3_error_last(rc));
		mp_abort(s3, key, upload_id);
		mps3_error_set(rc, "%s", cause);
	}
out:
	free(threads);
	free(m.etags);
	free(upload_id);
	pthread_mutex_destroy(&m.lock);
	mps3_buf_dispose(&xml);
	mps3_buf_dispose(&resp);
	return rc;
}

int mps3_s3_put(struct mps3_s3 *s3, const char *key, const struct mps3_body *body,
		struct mps3_objinfo *info)
{
	if (body->len >= s3->cfg.multipart_threshold)
		return put_multipart(s3, key, body, info);
	return put_single(s3, key, body, info);
}

int mps3_s3_head(struct mps3_s3 *s3, const char *key, struct mps3_objinfo *info)
{
	struct s3_req r;
	int rc;

	req_init(&r, "HeadObject", "HEAD", key);
	r.head = 1;
	rc = mps3_s3_request(s3, &r);
	if (info && rc == 0)
		*info = r.info;
	return rc;
}

int mps3_s3_delete(struct mps3_s3 *s3, const char *key)
{
	struct s3_req r;
	int rc;

	req_init(&r, "DeleteObject", "DELETE", key);
	rc = mps3_s3_request(s3, &r);
	/* Deleting what is not there is success, as S3 itself answers 204. */
	return rc == -ENOENT ? 0 : rc;
}

int mps3_s3_list(struct mps3_s3 *s3, const char *prefix, const char *start_after,
		 const char *token, unsigned max, struct mps3_listing *out)
{
	struct mps3_buf resp;
	struct mps3_sink sink;
	struct s3_req r;
	char maxs[16];
	int rc;

	mps3_buf_init(&resp, S3_XML_LIMIT);
	snprintf(maxs, sizeof(maxs), "%u", max ? max : 1000);
	req_init(&r, "ListObjectsV2", "GET", NULL);
	r.query[r.nquery++] = (struct mps3_kv){ "list-type", "2" };
	r.query[r.nquery++] = (struct mps3_kv){ "prefix", prefix };
	r.query[r.nquery++] = (struct mps3_kv){ "encoding-type", "url" };
	r.query[r.nquery++] = (struct mps3_kv){ "max-keys", maxs };
	if (token)
		r.query[r.nquery++] = (struct mps3_kv){ "continuation-token", token };
	else if (start_after)
		r.query[r.nquery++] = (struct mps3_kv){ "start-after", start_after };
	mps3_sink_buf(&sink, &resp);
	r.sink = &sink;
	rc = mps3_s3_request(s3, &r);
	if (rc == 0) {
		rc = mps3_xml_parse_listing(out, resp.data, resp.len);
		if (rc)
			rc = mps3_error_set(rc, "ListObjectsV2 s3://%s/%s: malformed listing", s3->bucket,
					    prefix);
	}
	mps3_buf_dispose(&resp);
	return rc;
}

int mps3_s3_create_bucket(struct mps3_s3 *s3)
{
	struct mps3_buf xml = MPS3_BUF_INIT;
	struct mps3_body body;
	struct s3_where where;
	struct s3_req r;
	int rc;

	req_init(&r, "CreateBucket", "PUT", NULL);
	memset(&body, 0, sizeof(body));
	mps3_s3_where(s3, &where);
	if (strcmp(where.region, "us-east-1") != 0) {
		rc = mps3_buf_printf(&xml,
				     "<CreateBucketConfiguration><LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
				     where.region);
		if (rc)
			return rc;
		body.data = xml.data;
		body.len = xml.len;
		r.body = &body;
	}
	rc = mps3_s3_request(s3, &r);
	mps3_buf_dispose(&xml);
	if (rc && strstr(mps3_error_last(rc), "BucketAlreadyOwnedByYou"))
		rc = 0;
	return rc;
}
