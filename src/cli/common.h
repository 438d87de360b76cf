/*
 * cli/common.h - what the mps3 and mps3fs front ends share: durations,
 * store opening from a URL plus credential options.
 */
#ifndef MPS3_CLI_COMMON_H
#define MPS3_CLI_COMMON_H

#include <stdint.h>

#include "mps3/s3.h"
#include "mps3/store.h"

/*
 * At the start of main, before any thread: at most two malloc arenas,
 * unless the user chose (MALLOC_ARENA_MAX, or arena_max in GLIBC_TUNABLES).
 * glibc gives threads arenas of their own, up to eight per CPU, and what
 * is freed into one of them stays with the process: malloc_trim gives
 * back only the main arena's top.  A million paths removed by another
 * client left 82-90 MiB in the poller's and fetchers' arenas; with two,
 * 40 MiB (34 with one).  No difference measured in reads or small writes.
 */
void mps3_cli_malloc_arenas(void);

/* "100ms", "1s", "1.5s", "2m", "1h", "1d"; a bare number is seconds.  0 or -EINVAL. */
int mps3_cli_duration_ms(int64_t *out, const char *s);

/* "512M", "4G", "1.5GiB", "100000" (bytes; K, M, G, T are powers of 1024).  0 or -EINVAL. */
int mps3_cli_size(uint64_t *out, const char *s);

struct mps3_cli_store_opts {
	const char *profile;
	const char *endpoint;
	const char *region;
	const char *passwd_file;
	const char *ca_bundle;
	const char *addressing;		/* "path", "virtual", "auto" or NULL */
	int insecure;
	int max_attempts;		/* 0 = default */
	long connect_timeout_ms;	/* 0 = default (10 s) */
	long stall_timeout_ms;		/* 0 = default (30 s) */
	int verbose;
	const char *storage_class;	/* of the objects written, or NULL */
	const char *sse;		/* "AES256", "aws:kms", "C" (with sse_c_key_file) or NULL */
	const char *sse_kms_key_id;
	const char *sse_c_key_file;	/* 32 bytes, raw or base64, private to the user */
	int requester_pays;
	uint64_t part_size;		/* 0 = default */
	unsigned parallel;		/* 0 = default */
};

/*
 * Whether the S3 options make sense, before anything is asked of the store
 * (the SSE-C key file is read).  0, or -EINVAL with a sentence that names
 * the option as the caller spells it: "sse", "part_size"...
 */
int mps3_cli_check_store_opts(const struct mps3_cli_store_opts *o);

/*
 * Open the store a URL names, loading S3 credentials only for s3:// URLs.
 * 0 or a negative errno with detail.
 */
int mps3_cli_open_store(struct mps3_store **out, const char *url,
			const struct mps3_cli_store_opts *o);

/*
 * For format=mps3: the bucket name the files map's keys carry and the
 * prefix the URL gives (s3://BUCKET/PREFIX; file:///.../NAME is bucket NAME
 * with no prefix), bucket replaced by override when not NULL.  Both
 * malloc'd.  0, -EINVAL (a URL with neither), -ENOMEM.
 */
int mps3_cli_js_names(const char *url, const char *override, char **bucket, char **prefix);

#endif
