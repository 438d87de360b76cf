/*
 * mps3/sigv4.h - AWS Signature Version 4 for S3 requests (header auth).
 *
 * Pure: no I/O, no clock.  The caller supplies every header it will send
 * and wants signed (at least host and x-amz-date, plus x-amz-content-sha256
 * and x-amz-security-token for S3), the query as raw name/value pairs and the
 * payload hash.  The signer builds the canonical request exactly as AWS
 * documents it for S3: the path is used as given (S3 neither normalises nor
 * double-encodes it), query pairs are encoded and sorted, header names are
 * lower-cased, values trimmed with inner runs of spaces folded, and sorted.
 * Verified in tests/unit against AWS's published examples.  Pure and
 * thread-safe.
 */
#ifndef MPS3_SIGV4_H
#define MPS3_SIGV4_H

#include <stddef.h>

#include "mps3/buf.h"
#include "mps3/hash.h" /* MPS3_EMPTY_SHA256, the payload hash of an empty body */

#define MPS3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

struct mps3_kv {
	const char *name;
	const char *value; /* NULL is treated as "" */
};

struct mps3_sigv4_input {
	const char *method;		/* "GET" */
	const char *path;		/* already URI-encoded, e.g. "/bucket/a%20b" */
	const struct mps3_kv *query;	/* raw, not encoded; may be NULL */
	size_t nquery;
	const struct mps3_kv *headers;	/* names in any case; must hold host and x-amz-date */
	size_t nheaders;
	const char *payload_hash;	/* lower-case hex or MPS3_UNSIGNED_PAYLOAD */
	const char *amz_date;		/* "YYYYMMDDTHHMMSSZ", equal to the x-amz-date header */
	const char *region;		/* "us-east-1" */
	const char *service;		/* "s3" */
	const char *access_key;
	const char *secret_key;		/* never copied into any output */
};

/* Caller allocates; mps3_sigv4_output_dispose() releases. */
struct mps3_sigv4_output {
	struct mps3_buf canonical_request;
	struct mps3_buf string_to_sign;
	struct mps3_buf authorization;	/* value of the Authorization header */
	struct mps3_buf query;		/* encoded, sorted query string to put in the URL ("" if none) */
	char signature[65];
};

void mps3_sigv4_output_init(struct mps3_sigv4_output *out);
void mps3_sigv4_output_dispose(struct mps3_sigv4_output *out);

/* 0, -EINVAL (missing field, malformed amz_date) or -ENOMEM. */
int mps3_sigv4_sign(struct mps3_sigv4_output *out, const struct mps3_sigv4_input *in);

#endif
