/*
 * s3/http.c - one S3 request: sign, send over this thread's CURL handle,
 * read the reply, map the outcome to an errno, retry what is transient.
 *
 * DESIGN.  Each thread that calls into a client gets a CURL easy handle of
 * its own on first use (pthread key), kept for connection reuse and freed at
 * thread exit or with the client.  Every attempt is signed afresh with the
 * store's clock (local time corrected by the Date of earlier replies), so a
 * client whose clock is far off recovers after one RequestTimeTooSkewed.
 * Retried: 5xx, 429, timeouts, resets, refused connections and truncated
 * bodies, with capped exponential backoff and full jitter.  A GET that had
 * already delivered bytes resumes with Range and If-Match instead of
 * starting over, so its sink never sees a byte twice.  HTTP status and
 * CURLcode become an errno here and nowhere else.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/log.h"
#include "mps3/rand.h"
#include "mps3/timefmt.h"
#include "mps3/uri.h"
#include "mps3/xml.h"
#include "internal.h"

struct handle {
	CURL *curl;
	struct mps3_s3 *owner;
	struct handle *prev, *next;	/* in owner->handles, protected by owner->lock */
};

/* State of one attempt, seen by the curl callbacks. */
struct xfer {
	struct s3_req *req;
	long status;			/* of the last status line */
	int64_t date_ms;
	struct mps3_objinfo info;
	uint64_t total;			/* from Content-Range */
	int have_total;
	uint64_t delivered;		/* body bytes given to the sink, all attempts */
	char resume_etag[MPS3_ETAG_MAX];/* ETag of the object a resumed GET continues */
	uint64_t sent;			/* upload position */
	int body_read;			/* body bytes went to curl in this attempt (even if
					   curl then said it could not connect: it may have
					   sent them on a reused connection first) */
	struct mps3_buf errbody;
	int sink_err;
	char request_id[128];
	char bucket_region[40];		/* x-amz-bucket-region of the reply */
	struct s3_where where;		/* of this attempt */
	int moved;			/* region switches, all attempts */
	int at_once;			/* try again without a pause */
	int unsent;			/* this attempt sent nothing (no keys to sign with) */
};

static void handle_release(struct handle *h)
{
	curl_easy_cleanup(h->curl);
	free(h);
}

static void tls_destructor(void *p)
{
	struct handle *h = p;
	struct mps3_s3 *s3 = h->owner;

	pthread_mutex_lock(&s3->lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		s3->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&s3->lock);
	handle_release(h);
}

int mps3_s3_tls_init(struct mps3_s3 *s3);
int mps3_s3_tls_init(struct mps3_s3 *s3)
{
	return pthread_key_create(&s3->tls, tls_destructor) ? -ENOMEM : 0;
}

void mps3_s3_tls_dispose(struct mps3_s3 *s3);
void mps3_s3_tls_dispose(struct mps3_s3 *s3)
{
	struct handle *h, *next;

	pthread_key_delete(s3->tls);
	for (h = s3->handles; h; h = next) {
		next = h->next;
		handle_release(h);
	}
	s3->handles = NULL;
}

static CURL *thread_handle(struct mps3_s3 *s3)
{
	struct handle *h = pthread_getspecific(s3->tls);

	if (h)
		return h->curl;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->curl = curl_easy_init();
	if (!h->curl) {
		free(h);
		return NULL;
	}
	h->owner = s3;
	pthread_mutex_lock(&s3->lock);
	h->next = s3->handles;
	if (h->next)
		h->next->prev = h;
	s3->handles = h;
	pthread_mutex_unlock(&s3->lock);
	pthread_setspecific(s3->tls, h);
	return h->curl;
}

static int64_t local_ms(struct mps3_s3 *s3)
{
	return mps3_clock_local_ms(&s3->clock);
}

static size_t trim_len(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return n;
}

static void copy_etag(char out[MPS3_ETAG_MAX], const char *v, size_t n)
{
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	if (n >= MPS3_ETAG_MAX)
		n = MPS3_ETAG_MAX - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ctx)
{
	struct xfer *x = ctx;
	size_t n = size * nitems, len = trim_len(line, n);
	const char *colon, *v;
	size_t vlen;

	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		const char *sp = memchr(line, ' ', len);

		/* A new status line (after 100 Continue): forget what came before. */
		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		memset(&x->info, 0, sizeof(x->info));
		x->have_total = 0;
		return n;
	}
	colon = memchr(line, ':', len);
	if (!colon)
		return n;
	v = colon + 1;
	while (v < line + len && (*v == ' ' || *v == '\t'))
		v++;
	vlen = (size_t)(line + len - v);
#define IS(name) ((size_t)(colon - line) == sizeof(name) - 1 && strncasecmp(line, name, sizeof(name) - 1) == 0)
	if (IS("etag")) {
		copy_etag(x->info.etag, v, vlen);
	} else if (IS("last-modified")) {
		(void)mps3_time_parse_http(&x->info.mtime_ms, v, vlen);
	} else if (IS("date")) {
		(void)mps3_time_parse_http(&x->date_ms, v, vlen);
	} else if (IS("content-length")) {
		x->info.size = strtoull(v, NULL, 10);
	} else if (IS("content-range")) {
		/* "bytes 0-9/1234" or "bytes * /1234": the total follows the slash. */
		const char *slash = memchr(v, '/', vlen);

		if (slash && slash[1] != '*') {
			x->total = strtoull(slash + 1, NULL, 10);
			x->have_total = 1;
		}
	} else if (IS("x-amz-bucket-region")) {
		size_t m = vlen < sizeof(x->bucket_region) - 1 ? vlen : sizeof(x->bucket_region) - 1;

		memcpy(x->bucket_region, v, m);
		x->bucket_region[m] = '\0';
	} else if (IS("x-amz-request-id")) {
		size_t m = vlen < sizeof(x->request_id) - 1 ? vlen : sizeof(x->request_id) - 1;

		memcpy(x->request_id, v, m);
		x->request_id[m] = '\0';
	}
#undef IS
	return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	size_t n = size * nmemb;
	int rc;

	if (x->status >= 200 && x->status < 300 && x->req->sink) {
		rc = x->req->sink->write(x->req->sink->ctx, p, n);
		if (rc) {
			x->sink_err = rc;
			return 0; /* CURLE_WRITE_ERROR ends the transfer */
		}
		x->delivered += n;
		mps3_io_note(0, n);
		return n;
	}
	/* Error documents: keep a bounded prefix, drop the rest. */
	if (x->errbody.len < S3_ERRBODY_LIMIT)
		(void)mps3_buf_append(&x->errbody, p,
				      n < S3_ERRBODY_LIMIT - x->errbody.len ? n : S3_ERRBODY_LIMIT - x->errbody.len);
	return n;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	const struct mps3_body *b = x->req->body;
	size_t want = size * nmemb;
	ssize_t got;

	if (x->sent >= b->len)
		return 0;
	if (want > b->len - x->sent)
		want = (size_t)(b->len - x->sent);
	if (b->data) {
		memcpy(p, (const char *)b->data + x->sent, want);
		got = (ssize_t)want;
	} else {
		do
			got = pread(b->fd, p, want, b->off + (off_t)x->sent);
		while (got < 0 && errno == EINTR);
		if (got <= 0)
			return CURL_READFUNC_ABORT;
	}
	x->sent += (uint64_t)got;
	x->body_read |= got > 0;
	mps3_io_note((uint64_t)got, 0);
	return (size_t)got;
}

static int on_seek(void *ctx, curl_off_t off, int origin)
{
	struct xfer *x = ctx;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->req->body->len)
		return CURL_SEEKFUNC_FAIL;
	x->sent = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

/* Hex SHA-256 of the body, or UNSIGNED-PAYLOAD where allowed. */
static int payload_hash(struct mps3_s3 *s3, const struct s3_req *req, char out[65])
{
	unsigned char md[MPS3_SHA256_LEN];
	int rc;

	if (!req->body || req->body->len == 0) {
		strcpy(out, MPS3_EMPTY_SHA256);
		return 0;
	}
	if (req->body->sha256_hex) {
		memcpy(out, req->body->sha256_hex, 65);
		return 0;
	}
	if (s3->cfg.unsigned_payload && strncmp(s3->cfg.endpoint ? s3->cfg.endpoint : "https:", "https:", 6) == 0) {
		strcpy(out, MPS3_UNSIGNED_PAYLOAD);
		return 0;
	}
	if (req->body->data) {
		mps3_sha256(md, req->body->data, (size_t)req->body->len);
	} else {
		rc = mps3_sha256_fd(md, req->body->fd, req->body->off, req->body->len);
		if (rc)
			return rc;
	}
	mps3_hex(out, md, sizeof(md));
	return 0;
}

enum outcome { DONE, RETRY, FAIL };

static const char *curl_what(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return "connection refused";
	case CURLE_OPERATION_TIMEDOUT:
		return "timed out";
	case CURLE_COULDNT_RESOLVE_HOST:
		return "cannot resolve host";
	case CURLE_GOT_NOTHING:
		return "server closed the connection without replying";
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		return "connection reset";
	case CURLE_PARTIAL_FILE:
		return "reply body cut short";
	default:
		return curl_easy_strerror(cc);
	}
}

static int curl_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return -ECONNRESET;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
		return -EPROTO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static int curl_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static int status_errno(long status, const char *code)
{
	if (status == 404)
		return -ENOENT;
	if (status == 403 || status == 401)
		return -EACCES;
	if (status == 412)
		return -ESTALE;
	if (status == 400 && strcmp(code, "EntityTooLarge") == 0)
		return -EFBIG;
	if (status == 501)
		return -EOPNOTSUPP;
	return -EIO;
}

/* Build "op key" for messages. */
static void what(char *out, size_t n, struct mps3_s3 *s3, const struct s3_req *req)
{
	if (req->key)
		snprintf(out, n, "%s %s", req->op, req->key);
	else
		snprintf(out, n, "%s s3://%s", req->op, s3->bucket);
}

/* The headers every attempt sends and signs (hdrs has S3_MAX_HEADERS + 6 + S3_OBJECT_HEADERS slots). */
static size_t request_headers(struct mps3_s3 *s3, const struct s3_req *req, const struct xfer *x,
			      const struct s3_keys *k, struct mps3_kv *hdrs, const char *amz_date, const char *phash,
			      char rangebuf[64], char ifmatch[MPS3_ETAG_MAX + 2])
{
	size_t nh = 0, i;

	hdrs[nh++] = (struct mps3_kv){ "host", x->where.host };
	hdrs[nh++] = (struct mps3_kv){ "x-amz-date", amz_date };
	hdrs[nh++] = (struct mps3_kv){ "x-amz-content-sha256", phash };
	if (k->session_token)
		hdrs[nh++] = (struct mps3_kv){ "x-amz-security-token", k->session_token };
	for (i = 0; i < req->nheaders; i++)
		hdrs[nh++] = req->headers[i];
	nh += mps3_s3_object_headers(s3, req, hdrs + nh);
	if (req->resumable && (x->delivered > 0 || req->range_off || req->range_len)) {
		uint64_t start = req->range_off + x->delivered;

		if (req->range_len)
			snprintf(rangebuf, 64, "bytes=%" PRIu64 "-%" PRIu64, start,
				 req->range_off + req->range_len - 1);
		else
			snprintf(rangebuf, 64, "bytes=%" PRIu64 "-", start);
		hdrs[nh++] = (struct mps3_kv){ "range", rangebuf };
		if (x->delivered > 0 && x->resume_etag[0]) {
			/* The rest must come from the same object we started reading. */
			snprintf(ifmatch, MPS3_ETAG_MAX + 2, "\"%s\"", x->resume_etag);
			hdrs[nh++] = (struct mps3_kv){ "if-match", ifmatch };
		}
	}
	return nh;
}

static int slist_add(struct curl_slist **list, const char *line)
{
	struct curl_slist *l = curl_slist_append(*list, line);

	if (!l)
		return -ENOMEM;
	*list = l;
	return 0;
}

/* Sign: the URL and the header lines (Authorization last) of this attempt.  0 or -errno. */
static int sign_request(const struct xfer *x, const struct s3_req *req, const struct s3_keys *k,
			const struct mps3_kv *hdrs, size_t nh, const char *amz_date, const char *phash,
			struct mps3_buf *url, struct curl_slist **list, const char *w)
{
	struct mps3_buf path = MPS3_BUF_INIT, line = MPS3_BUF_INIT;
	struct mps3_sigv4_output sig;
	struct mps3_sigv4_input in;
	size_t i;
	int rc;

	mps3_sigv4_output_init(&sig);
	rc = mps3_buf_puts(&path, x->where.path_prefix);
	if (!rc && req->key) {
		rc = mps3_buf_puts(&path, "/");
		if (!rc)
			rc = mps3_uri_encode(&path, req->key, strlen(req->key), 1);
	}
	if (!rc && path.len == 0)
		rc = mps3_buf_puts(&path, "/");
	if (rc)
		goto out;
	memset(&in, 0, sizeof(in));
	in.method = req->method;
	in.path = path.data;
	in.query = req->query;
	in.nquery = req->nquery;
	in.headers = hdrs;
	in.nheaders = nh;
	in.payload_hash = phash;
	in.amz_date = amz_date;
	in.region = x->where.region;
	in.service = "s3";
	in.access_key = k->access_key;
	in.secret_key = k->secret_key;
	rc = mps3_sigv4_sign(&sig, &in);
	if (rc) {
		rc = mps3_error_set(rc, "%s: cannot sign the request", w);
		goto out;
	}
	rc = mps3_buf_printf(url, "%s%s%s%s", x->where.base_url, path.data, sig.query.len ? "?" : "",
			     mps3_buf_cstr(&sig.query));
	for (i = 0; !rc && i < nh; i++) {
		/* A value with a line break would be a header of its own: never sent. */
		if (hdrs[i].value && strpbrk(hdrs[i].value, "\r\n")) {
			rc = mps3_error_set(-EINVAL, "%s: the %s header holds a line break", w, hdrs[i].name);
			break;
		}
		mps3_buf_reset(&line);
		rc = mps3_buf_printf(&line, "%s: %s", hdrs[i].name, hdrs[i].value ? hdrs[i].value : "");
		if (!rc)
			rc = slist_add(list, line.data);
	}
	if (!rc) {
		mps3_buf_reset(&line);
		rc = mps3_buf_printf(&line, "Authorization: %s", sig.authorization.data);
	}
	if (!rc)
		rc = slist_add(list, line.data);
	/* Small bodies go at once; large ones wait for 100 Continue so a refusal costs nothing. */
	if (!rc && !(req->body && req->body->len >= (1u << 20)))
		rc = slist_add(list, "Expect:");
out:
	/* The Authorization line held the signature: wipe it. */
	mps3_buf_dispose_secret(&line);
	mps3_buf_dispose(&path);
	mps3_sigv4_output_dispose(&sig);
	return rc;
}

static void setup_curl(CURL *c, struct mps3_s3 *s3, struct s3_req *req, struct xfer *x, const char *url,
		       struct curl_slist *list)
{
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s3->cfg.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (s3->cfg.stall_timeout_ms + 999) / 1000);
	{
		int64_t left = mps3_s3_time_left(s3);

		if (left != INT64_MAX)
			curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(left > 1 ? left : 1));
	}
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, s3->cfg.insecure ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, s3->cfg.insecure ? 0L : 2L);
	if (s3->cfg.ca_bundle)
		curl_easy_setopt(c, CURLOPT_CAINFO, s3->cfg.ca_bundle);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
	curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
	if (req->head) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (req->body) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, x);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body->len);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	}
}

/* What a non-2xx, non-304 status means: an error detail, and whether to try again. */
static enum outcome status_outcome(struct mps3_s3 *s3, struct s3_req *req, struct xfer *x, const char *w,
				   int *err, int *skewed)
{
	struct mps3_s3_error e;
	const char *code = "";

	memset(&e, 0, sizeof(e));
	if (x->errbody.len && mps3_xml_parse_error(&e, x->errbody.data, x->errbody.len) == 0)
		code = e.code;
	if (x->status == 403 && strcmp(code, "RequestTimeTooSkewed") == 0 && !*skewed) {
		/* The Date of this reply corrected the clock: try again at once. */
		*skewed = 1;
		*err = mps3_error_set(-EACCES, "%s: 403 RequestTimeTooSkewed: local clock is %+" PRId64 " ms off the store's",
				      w, -mps3_clock_offset(&s3->clock));
		return RETRY;
	}
	if ((x->status == 301 || x->status == 400 || x->status == 403) && x->bucket_region[0] &&
	    strcmp(x->bucket_region, x->where.region) != 0 && x->moved < 2) {
		/* The bucket is in another region: sign (and send) there, at once. */
		if (mps3_s3_switch_region(s3, x->bucket_region) == 0) {
			mps3_notice("s3://%s is in region %s, not %s: using it", s3->bucket, x->bucket_region,
				    x->where.region);
			x->moved++;
			x->at_once = 1;
			*err = mps3_error_set(-EACCES, "%s: %ld %s: the bucket is in region %s", w, x->status,
					      code[0] ? code : "PermanentRedirect", x->bucket_region);
			return RETRY;
		}
	}
	if (!code[0] && x->status == 404 && !req->key)
		code = "NoSuchBucket";
	if (!code[0])
		code = x->status == 404 ? "NotFound" : x->status == 403 ? "Forbidden" : "";
	*err = mps3_error_set(status_errno(x->status, code), "%s: %ld %s%s%s%s%s%s", w, x->status, code,
			      e.message[0] ? ": " : "", e.message, x->request_id[0] ? " [request id " : "",
			      x->request_id, x->request_id[0] ? "]" : "");
	/* 501 Not Implemented is an answer (a feature this server lacks), not a passing failure. */
	if ((x->status >= 500 && x->status != 501) || x->status == 429 ||
	    (x->status == 400 && strcmp(code, "RequestTimeout") == 0))
		return RETRY;
	return FAIL;
}

/* The outcome of a finished transfer. */
static enum outcome outcome_of(struct mps3_s3 *s3, struct s3_req *req, struct xfer *x, CURLcode cc,
			       const char *w, int *err, int *skewed)
{
	if (x->sink_err) {
		*err = x->sink_err;
		if (x->sink_err == -EFBIG)
			mps3_error_set(-EFBIG, "%s: object larger than the limit for it", w);
		return FAIL;
	}
	if (cc != CURLE_OK) {
		*err = mps3_error_set(curl_errno(cc), "%s: %s: %s", w, x->where.endpoint_name, curl_what(cc));
		return curl_retryable(cc) ? RETRY : FAIL;
	}
	req->status = x->status;
	memcpy(req->request_id, x->request_id, sizeof(req->request_id));
	if ((x->status >= 200 && x->status < 300) || (x->status == 416 && req->resumable)) {
		/* (416 of a resumed range starting at or past the end: an empty read.) */
		req->info = x->info;
		if (x->have_total)
			req->info.size = x->total;
		if (x->status != 416 && x->resume_etag[0])
			memcpy(req->info.etag, x->resume_etag, sizeof(req->info.etag));
		*err = 0;
		return DONE;
	}
	if (x->status == 304) {
		req->info = x->info;
		*err = MPS3_NOT_MODIFIED;
		return DONE;
	}
	return status_outcome(s3, req, x, w, err, skewed);
}

static enum outcome one_attempt(struct mps3_s3 *s3, struct s3_req *req, struct xfer *x,
				const char *phash, int *err, int *skewed)
{
	struct s3_keys k;
	struct mps3_kv hdrs[S3_MAX_HEADERS + 6 + S3_OBJECT_HEADERS];
	struct mps3_buf url = MPS3_BUF_INIT;
	struct curl_slist *list = NULL;
	char amz_date[17], rangebuf[64], ifmatch[MPS3_ETAG_MAX + 2], w[1200];
	int64_t sent, recv;
	enum outcome out = FAIL;
	size_t nh;
	CURLcode cc;
	CURL *c;

	mps3_buf_reset(&x->errbody);
	x->status = 0;
	x->date_ms = 0;
	x->sent = 0;
	x->sink_err = 0;
	x->request_id[0] = '\0';
	x->bucket_region[0] = '\0';
	memset(&x->info, 0, sizeof(x->info));
	mps3_s3_where(s3, &x->where);
	what(w, sizeof(w), s3, req);
	c = thread_handle(s3);
	if (!c) {
		*err = -ENOMEM;
		return FAIL;
	}
	*err = mps3_s3_keys_get(s3, &k, w);
	if (*err) { /* a credential source that did not answer: the retry loop asks again */
		x->unsent = 1;
		return *err == -ENOMEM ? FAIL : RETRY;
	}
	mps3_time_format_amz(amz_date, mps3_clock_now(&s3->clock));
	nh = request_headers(s3, req, x, &k, hdrs, amz_date, phash, rangebuf, ifmatch);
	*err = sign_request(x, req, &k, hdrs, nh, amz_date, phash, &url, &list, w);
	if (!*err) {
		setup_curl(c, s3, req, x, url.data, list);
		sent = local_ms(s3);
		__atomic_add_fetch(&s3->n_requests, 1, __ATOMIC_RELAXED);
		cc = curl_easy_perform(c);
		recv = local_ms(s3);
		/* The header list holds the signature: curl must not keep it past the slist. */
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
		if (req->body)
			__atomic_add_fetch(&s3->n_up, x->sent, __ATOMIC_RELAXED);
		if (x->date_ms)
			mps3_clock_observe(&s3->clock, sent, recv, x->date_ms, 1000);
		if (s3->cfg.verbose)
			mps3_debug("%s: %s -> %ld (curl %d) in %" PRId64 " ms", w, req->method, x->status,
				   (int)cc, recv - sent);
		out = outcome_of(s3, req, x, cc, w, err, skewed);
	}
	curl_slist_free_all(list);
	mps3_buf_dispose(&url);
	mps3_creds_value_dispose(&k.own);
	return out;
}

void mps3_s3_set_deadline(struct mps3_s3 *s3, int64_t mono_ms)
{
	__atomic_store_n(&s3->deadline_ms, mono_ms, __ATOMIC_RELAXED);
}

int64_t mps3_s3_time_left(struct mps3_s3 *s3)
{
	int64_t d = __atomic_load_n(&s3->deadline_ms, __ATOMIC_RELAXED);
	struct timespec ts;

	if (d == 0)
		return INT64_MAX;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return d - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void backoff(int attempt, int64_t left)
{
	/* Full jitter over min(5 s, 100 ms * 2^attempt), and never past the deadline. */
	uint64_t cap = 100ull << (attempt < 6 ? attempt : 6), r;
	struct timespec ts;

	if (cap > 5000)
		cap = 5000;
	r = mps3_random_below(cap + 1);
	if (left != INT64_MAX && (int64_t)r > left)
		r = left > 0 ? (uint64_t)left : 0;
	ts.tv_sec = (time_t)(r / 1000);
	ts.tv_nsec = (long)(r % 1000) * 1000000;
	nanosleep(&ts, NULL);
}

int mps3_s3_request(struct mps3_s3 *s3, struct s3_req *req)
{
	struct xfer x;
	char phash[65];
	int attempt, err = 0, skewed = 0, max = s3->cfg.max_attempts, sent = 0, reached;
	enum outcome o = FAIL;
	char last_cause[512] = "";

	memset(&x, 0, sizeof(x));
	x.req = req;
	mps3_buf_init(&x.errbody, S3_ERRBODY_LIMIT + 1);
	memset(&req->info, 0, sizeof(req->info));
	req->status = 0;
	err = payload_hash(s3, req, phash);
	if (err) {
		mps3_buf_dispose(&x.errbody);
		return mps3_error_set(err, "%s %s: cannot read the body to hash it", req->op,
				      req->key ? req->key : "");
	}
	for (attempt = 1;; attempt++) {
		if (mps3_s3_time_left(s3) <= 0) {
			err = mps3_error_set(-ETIMEDOUT, "%s %s: the deadline passed before attempt %d%s%s", req->op,
					     req->key ? req->key : "", attempt, attempt > 1 ? "; last: " : "",
					     attempt > 1 ? last_cause : "");
			break;
		}
		x.body_read = 0;
		x.unsent = 0;
		o = one_attempt(s3, req, &x, phash, &err, &skewed);
		/* Whether this attempt may have reached the store (then a PUT may have been done). */
		reached = !x.unsent && (o == DONE || x.body_read || (err != -ECONNREFUSED && err != -EHOSTUNREACH));
		sent |= reached;
		if (o != RETRY)
			break;
		snprintf(last_cause, sizeof(last_cause), "%s", mps3_error_last(err));
		/*
		 * A key written at most once is not written again after an attempt
		 * that may have stored it (no answer, or a 2xx cut short): a second
		 * copy would carry a later LastModified, and readers that saw the
		 * first would judge the key otherwise than readers that see the second.
		 */
		if (req->body && req->body->once && reached &&
		    (x.status == 0 || (x.status >= 200 && x.status < 300))) {
			err = mps3_error_set(-ECONNRESET, "%s (not retried: it may have been stored)", last_cause);
			break;
		}
		if (attempt >= max) {
			mps3_error_set(err, "%s (gave up after %d attempts)", last_cause, attempt);
			break;
		}
		/* A resumed GET continues the object it started, nothing else. */
		if (x.delivered > 0 && x.resume_etag[0] == '\0')
			memcpy(x.resume_etag, x.info.etag, sizeof(x.resume_etag));
		__atomic_add_fetch(&s3->n_retries, 1, __ATOMIC_RELAXED);
		mps3_info("retrying (%d/%d): %s", attempt + 1, max, mps3_error_last(err));
		if (x.at_once)
			x.at_once = 0;
		else if (!(skewed == 1 && attempt == 1))
			backoff(attempt, mps3_s3_time_left(s3));
	}
	if (sent && (err == -ECONNREFUSED || err == -EHOSTUNREACH)) {
		/* Only "nothing was sent" may say unreachable: an earlier attempt may have been done. */
		char why[600];

		snprintf(why, sizeof(why), "%s", mps3_error_last(err));
		err = mps3_error_set(-ECONNRESET, "%s", why);
	}
	__atomic_add_fetch(&s3->n_down, x.delivered, __ATOMIC_RELAXED);
	mps3_buf_dispose(&x.errbody);
	return err;
}
