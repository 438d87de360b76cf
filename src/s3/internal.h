/*
 * s3/internal.h - the request engine shared by the S3 operations: one
 * signed HTTP exchange, with retries, over the calling thread's CURL handle.
 */
#ifndef MPS3_S3_INTERNAL_H
#define MPS3_S3_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "mps3/buf.h"
#include "mps3/clock.h"
#include "mps3/s3.h"
#include "mps3/sigv4.h"
#include "mps3/io.h"
#include "mps3/types.h"

#define S3_MAX_QUERY 8
#define S3_MAX_HEADERS 8
/* Error and XML documents are small; anything bigger is not S3 talking. */
#define S3_XML_LIMIT (32u << 20)
#define S3_ERRBODY_LIMIT (64u << 10)

struct mps3_s3 {
	struct mps3_s3_config cfg;
	char *bucket;
	char *base_url;		/* "https://host:port" or "https://bucket.host" */
	char *host;		/* Host header value, signed */
	char *path_prefix;	/* "/bucket" for path-style, "" otherwise */
	char *endpoint_name;	/* host[:port] for messages */
	struct mps3_clock clock;
	pthread_key_t tls;	/* this thread's struct handle */
	pthread_mutex_t lock;
	struct handle *handles;	/* every live handle; protected by lock */
	uint64_t n_requests, n_retries, n_up, n_down; /* atomics */
	int64_t deadline_ms;	/* CLOCK_MONOTONIC, 0 = none; atomic */
	/*
	 * cfg.region, base_url, host, path_prefix and endpoint_name change when
	 * the bucket turns out to be in another region (protected by lock; read
	 * them with mps3_s3_where); the strings they replace are kept until free.
	 */
	char **retired;		/* protected by lock */
	size_t nretired;
};

/* S3's bucket naming rules, loosely; *dns_ok when it can be a host name too.  1 if valid. */
int mps3_s3_bucket_valid(const char *b, int *dns_ok);
/* base_url, host, path_prefix, endpoint_name and bucket from cfg.endpoint, .region, .addressing. */
int mps3_s3_set_addressing(struct mps3_s3 *s3, const char *bucket, int dns_ok);

/* Where one attempt goes: a consistent view of the fields above.  Borrowed until mps3_s3_free. */
struct s3_where {
	const char *region, *base_url, *host, *path_prefix, *endpoint_name;
};
void mps3_s3_where(struct mps3_s3 *s3, struct s3_where *w);
/*
 * Sign with region from now on (and, on AWS's own endpoint, send to that
 * region's): for a reply that names the bucket's region.  0, -EINVAL (not a
 * region name) or -ENOMEM.
 */
int mps3_s3_switch_region(struct mps3_s3 *s3, const char *region);

/* ms left before the client's deadline (INT64_MAX: none; <= 0: passed). */
int64_t mps3_s3_time_left(struct mps3_s3 *s3);

struct s3_req {
	/* in */
	const char *op;			/* "GetObject", for messages */
	const char *method;
	const char *key;		/* object key, or NULL for the bucket */
	struct mps3_kv query[S3_MAX_QUERY];
	size_t nquery;
	struct mps3_kv headers[S3_MAX_HEADERS]; /* sent and signed */
	size_t nheaders;
	const struct mps3_body *body;	/* upload, or NULL */
	struct mps3_sink *sink;		/* where a 2xx body goes, or NULL */
	int head;			/* HEAD: no body expected */
	int resumable;			/* a GET whose retries may continue with Range */
	uint64_t range_off, range_len;	/* for resumable GETs (len 0 = to the end) */
	/* out */
	long status;
	struct mps3_objinfo info;	/* from ETag, Last-Modified, Content-Length/Range */
	char request_id[128];
};

/* The keys one attempt signs with: the configured ones (borrowed), or a source's (in own). */
struct s3_keys {
	const char *access_key, *secret_key, *session_token;
	struct mps3_creds_value own;
};

/* 0, or -errno with detail naming w (the operation) when the source has no valid keys. */
int mps3_s3_keys_get(struct mps3_s3 *s3, struct s3_keys *k, const char *w);

/* The configured object headers for req, into h (room for S3_OBJECT_HEADERS); how many. */
#define S3_OBJECT_HEADERS 5
size_t mps3_s3_object_headers(struct mps3_s3 *s3, const struct s3_req *req, struct mps3_kv *h);

/* Run the request with retries.  0 (2xx), MPS3_NOT_MODIFIED (304) or a negative errno with detail. */
int mps3_s3_request(struct mps3_s3 *s3, struct s3_req *req);

#endif
