/*
 * mps3/s3.h - an S3 client: SigV4-signed requests over libcurl.
 *
 * One struct mps3_s3 per bucket.  Any thread may call any operation at the
 * same time: each calling thread gets its own CURL handle (kept alive for
 * connection reuse) the first time it uses the client.  Requests are retried
 * with capped exponential backoff and full jitter on 5xx, 429, timeouts and
 * connection resets.  Each failure leaves one mps3_error_set() sentence that
 * names the operation, the key and the S3 error code; credentials never
 * appear in it.
 */
#ifndef MPS3_S3_H
#define MPS3_S3_H

#include <stdint.h>

#include "mps3/io.h"
#include "mps3/types.h"

enum mps3_addressing {
	MPS3_ADDR_AUTO = 0,	/* virtual-hosted on *.amazonaws.com, path-style elsewhere */
	MPS3_ADDR_PATH,
	MPS3_ADDR_VIRTUAL,
};

struct mps3_creds;

/* Everything needed to reach a bucket.  Strings are owned (mps3_s3_config_dispose). */
struct mps3_s3_config {
	char *endpoint;		/* "https://host[:port]"; NULL = AWS for region */
	char *region;		/* NULL = "us-east-1" */
	char *access_key;
	char *secret_key;	/* wiped on dispose */
	char *session_token;	/* wiped on dispose */
	struct mps3_creds *creds; /* keys that expire, asked before each request (then the three
				   * above are unused); a reference, dropped on dispose */
	char *ca_bundle;	/* NULL = system default */
	enum mps3_addressing addressing;
	int insecure;		/* 1 = do not verify TLS certificates (explicit opt-in) */
	int unsigned_payload;	/* 1 = sign UNSIGNED-PAYLOAD instead of hashing bodies (TLS only) */
	int max_attempts;	/* per request, >= 1; 0 = default (6) */
	long connect_timeout_ms;/* 0 = default (10000) */
	long stall_timeout_ms;	/* abort when no byte moves for this long; 0 = default (30000) */
	char *storage_class;	/* x-amz-storage-class of the objects written; NULL = the bucket's default */
	char *sse;		/* x-amz-server-side-encryption of the objects written: "AES256" or "aws:kms" */
	char *sse_kms_key_id;	/* with "aws:kms": the key; NULL = the account's default */
	char *sse_c_key;	/* SSE-C: the 256-bit key, base64 (every read and write); wiped on dispose */
	char *sse_c_key_md5;	/* its MD5, base64 */
	int requester_pays;	/* x-amz-request-payer: requester on every request */
	uint64_t multipart_threshold; /* bodies at least this big use multipart; 0 = 64 MiB */
	uint64_t part_size;	/* 0 = 16 MiB */
	unsigned part_parallel;	/* threads for parts; 0 = 4 */
	int verbose;		/* log each request at debug level (never headers) */
};

void mps3_s3_config_init(struct mps3_s3_config *cfg);
void mps3_s3_config_dispose(struct mps3_s3_config *cfg);
/* Deep copy.  0 or -ENOMEM. */
int mps3_s3_config_copy(struct mps3_s3_config *dst, const struct mps3_s3_config *src);

/*
 * Credentials that expire and are fetched again (src/s3/provider.c): a
 * credential_process, the container endpoint, EC2 instance metadata
 * (IMDSv2) or STS.  Thread-safe; reference-counted.
 */
struct mps3_creds_spec {
	char *command;		/* credential_process: run with /bin/sh -c, JSON on stdout */
	char *url;		/* the container endpoint (full URL) */
	char *auth_token;	/* its Authorization header value, or */
	char *auth_token_file;	/* a file holding it, read at each fetch */
	int imds;		/* EC2 instance metadata at endpoint */
	char *endpoint;		/* IMDS's base URL; STS's endpoint (NULL: the region's) */
	char *role_arn;		/* STS: the role to assume */
	char *session_name;	/* NULL: mps3-EPOCH */
	char *external_id;
	char *token_file;	/* AssumeRoleWithWebIdentity's token, read at each fetch */
	int duration_s;		/* AssumeRole's DurationSeconds; 0: STS's default */
	char *region;		/* STS's signing region (NULL: us-east-1) */
	char *access_key, *secret_key, *session_token; /* AssumeRole's keys when they do not expire */
	char *sso_cache_file;	/* IAM Identity Center: the token `aws sso login` cached, read at each fetch */
	char *sso_account_id, *sso_role_name; /* the role's keys are asked of the portal of region (or endpoint) */
	char *ca_bundle;
	int insecure;
	char *profile;		/* for messages */
};

/* The keys at one moment; strings malloc'd, secrets wiped on dispose. */
struct mps3_creds_value {
	char *access_key;
	char *secret_key;
	char *session_token;	/* or NULL */
	int64_t expires_ms;	/* wall clock; INT64_MAX: never */
};

/*
 * A source of the kind spec describes (command, url, token_file + role_arn,
 * role_arn + keys or source, sso_cache_file, or imds + endpoint); spec is copied, source (the
 * keys AssumeRole signs with) referenced.  Nothing is fetched yet.  0,
 * -EINVAL or -ENOMEM.
 */
int mps3_creds_new(struct mps3_creds **out, const struct mps3_creds_spec *spec, struct mps3_creds *source);
/*
 * The current keys, fetched first when there are none yet or they expire
 * within five minutes (or half their lifetime, if shorter).  A failed fetch
 * keeps keys that are still valid (with a warning) and is not repeated for
 * 5 s.  0, -EACCES (no valid keys: detail says why) or -ENOMEM.
 */
int mps3_creds_current(struct mps3_creds *c, struct mps3_creds_value *out);
void mps3_creds_value_dispose(struct mps3_creds_value *v);
struct mps3_creds *mps3_creds_ref(struct mps3_creds *c);
void mps3_creds_unref(struct mps3_creds *c);
/* "EC2 instance metadata", "credential_process of profile dev", ...  Borrowed. */
const char *mps3_creds_describe(const struct mps3_creds *c);
/* The instance's region from EC2 instance metadata at endpoint, into out.  0 or -errno. */
int mps3_imds_region(const char *endpoint, char *out, size_t cap);

struct mps3_creds_opts {
	const char *profile;	 /* NULL = $AWS_PROFILE, else "default" */
	const char *endpoint;	 /* overrides the environment and profile */
	const char *region;	 /* overrides */
	const char *passwd_file; /* s3fs-style "[bucket:]access:secret" lines, mode 0600 */
	const char *bucket;	 /* to pick a passwd_file line */
	const char *home;	 /* NULL = $HOME; for tests */
};

/*
 * Fill cfg from, in order of precedence: opts, the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,
 * AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_CA_BUNDLE,
 * AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), the passwd file, then the
 * profile in ~/.aws/credentials and ~/.aws/config.  cfg must be initialised.
 * 0, -ENOENT (no credentials anywhere: detail says where it looked),
 * -EACCES (passwd file readable by others), -EINVAL (malformed file).
 */
int mps3_creds_load(struct mps3_s3_config *cfg, const struct mps3_creds_opts *opts);

struct mps3_s3;

/* 0, -EINVAL (bad endpoint or bucket name), -ENOMEM.  cfg is copied. */
int mps3_s3_new(struct mps3_s3 **out, const char *bucket, const struct mps3_s3_config *cfg);
void mps3_s3_free(struct mps3_s3 *s3);

/* The clock fed by the Date header of every reply.  Borrowed. */
struct mps3_clock *mps3_s3_clock(struct mps3_s3 *s3);

/* Operations; semantics as the mps3_store_* functions of the same name. */
int mps3_s3_get(struct mps3_s3 *s3, const char *key, const struct mps3_get_opts *opts,
		struct mps3_sink *sink, struct mps3_objinfo *info);
int mps3_s3_put(struct mps3_s3 *s3, const char *key, const struct mps3_body *body,
		struct mps3_objinfo *info);
int mps3_s3_head(struct mps3_s3 *s3, const char *key, struct mps3_objinfo *info);
int mps3_s3_delete(struct mps3_s3 *s3, const char *key);
int mps3_s3_list(struct mps3_s3 *s3, const char *prefix, const char *start_after,
		 const char *token, unsigned max, struct mps3_listing *out);
/*
 * A deadline for every request from now on, as CLOCK_MONOTONIC ms (0 lifts
 * it): attempts, backoff and each transfer end by then, and a request
 * that cannot start before it fails with -ETIMEDOUT.  For a bounded
 * start-up (mount_timeout=).  Safe to call while requests run.
 */
void mps3_s3_set_deadline(struct mps3_s3 *s3, int64_t mono_ms);

/* PUT of the bucket itself; an existing bucket of ours is success. */
int mps3_s3_create_bucket(struct mps3_s3 *s3);

/* Request counters since creation (for benchmarks and status). */
struct mps3_s3_stats {
	uint64_t requests;	/* HTTP requests sent, retries included */
	uint64_t retries;
	uint64_t bytes_up;
	uint64_t bytes_down;
};
void mps3_s3_get_stats(struct mps3_s3 *s3, struct mps3_s3_stats *out);

/* curl_global_init; call once from main before any thread starts. */
int mps3_s3_global_init(void);
void mps3_s3_global_cleanup(void);

#endif
