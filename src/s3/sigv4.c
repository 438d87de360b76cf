/*
 * s3/sigv4.c - AWS Signature Version 4: canonical request, string to sign,
 * signing key and Authorization header, exactly as AWS specifies for S3.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mps3/hash.h"
#include "mps3/sigv4.h"
#include "mps3/uri.h"

void mps3_sigv4_output_init(struct mps3_sigv4_output *out)
{
	mps3_buf_init(&out->canonical_request, 0);
	mps3_buf_init(&out->string_to_sign, 0);
	mps3_buf_init(&out->authorization, 0);
	mps3_buf_init(&out->query, 0);
	out->signature[0] = '\0';
}

void mps3_sigv4_output_dispose(struct mps3_sigv4_output *out)
{
	mps3_buf_dispose(&out->canonical_request);
	mps3_buf_dispose(&out->string_to_sign);
	mps3_buf_dispose(&out->authorization);
	mps3_buf_dispose(&out->query);
	OPENSSL_cleanse(out->signature, sizeof(out->signature));
}

static int amz_date_valid(const char *d)
{
	int i;

	if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
		return 0;
	for (i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)d[i]))
			return 0;
	return 1;
}

struct pair {
	char *name;	/* encoded (query) or lower-cased (headers) */
	char *value;	/* encoded (query) or trimmed (headers) */
	size_t order;	/* input position, to keep duplicate headers in order */
};

static int cmp_query(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static int cmp_header(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void pairs_free(struct pair *p, size_t n)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

static char *encode(const char *s)
{
	struct mps3_buf b = MPS3_BUF_INIT;

	if (mps3_uri_encode(&b, s ? s : "", s ? strlen(s) : 0, 0)) {
		mps3_buf_dispose(&b);
		return NULL;
	}
	return mps3_buf_detach(&b, NULL);
}

/* Header value as signed: trimmed, inner runs of whitespace folded to one space. */
static char *trim_fold(const char *s)
{
	size_t n = s ? strlen(s) : 0, o = 0, i;
	char *out = malloc(n + 1);
	int space = 0;

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			space = o > 0;
			continue;
		}
		if (space)
			out[o++] = ' ';
		space = 0;
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
}

static char *lower(const char *s)
{
	char *out = strdup(s ? s : "");
	char *p;

	for (p = out; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

int mps3_sigv4_sign(struct mps3_sigv4_output *out, const struct mps3_sigv4_input *in)
{
	struct pair *q = NULL, *h = NULL;
	struct mps3_buf signed_headers = MPS3_BUF_INIT;
	unsigned char k1[MPS3_SHA256_LEN], k2[MPS3_SHA256_LEN], sig[MPS3_SHA256_LEN];
	char date[9], hash[MPS3_SHA256_HEX_LEN + 1];
	struct mps3_buf secret = MPS3_BUF_INIT;
	size_t i;
	int rc = -ENOMEM;

	if (!in->method || !in->headers || !in->payload_hash || !in->region || !in->service ||
	    !in->access_key || !in->secret_key || !amz_date_valid(in->amz_date))
		return -EINVAL;
	mps3_buf_reset(&out->canonical_request);
	mps3_buf_reset(&out->string_to_sign);
	mps3_buf_reset(&out->authorization);
	mps3_buf_reset(&out->query);

	q = calloc(in->nquery + 1, sizeof(*q));
	h = calloc(in->nheaders + 1, sizeof(*h));
	if (!q || !h)
		goto out;
	for (i = 0; i < in->nquery; i++) {
		q[i].name = encode(in->query[i].name);
		q[i].value = encode(in->query[i].value);
		if (!q[i].name || !q[i].value)
			goto out;
	}
	for (i = 0; i < in->nheaders; i++) {
		h[i].name = lower(in->headers[i].name);
		h[i].value = trim_fold(in->headers[i].value);
		h[i].order = i;
		if (!h[i].name || !h[i].value)
			goto out;
	}
	qsort(q, in->nquery, sizeof(*q), cmp_query);
	qsort(h, in->nheaders, sizeof(*h), cmp_header);

	for (i = 0; i < in->nquery; i++)
		if (mps3_buf_printf(&out->query, "%s%s=%s", i ? "&" : "", q[i].name, q[i].value))
			goto out;
	if (mps3_buf_reserve(&out->query, 0))
		goto out;

	/* Canonical request. */
	if (mps3_buf_printf(&out->canonical_request, "%s\n%s\n%s\n", in->method,
			    in->path && *in->path ? in->path : "/", mps3_buf_cstr(&out->query)))
		goto out;
	for (i = 0; i < in->nheaders; i++) {
		int first = i == 0 || strcmp(h[i - 1].name, h[i].name) != 0;
		int last = i + 1 == in->nheaders || strcmp(h[i + 1].name, h[i].name) != 0;

		/* Repeated names become one line, values joined by commas. */
		if (first && (mps3_buf_printf(&out->canonical_request, "%s:", h[i].name) ||
			      mps3_buf_printf(&signed_headers, "%s%s", signed_headers.len ? ";" : "", h[i].name)))
			goto out;
		if (mps3_buf_printf(&out->canonical_request, "%s%s%s", first ? "" : ",", h[i].value,
				    last ? "\n" : ""))
			goto out;
	}
	if (mps3_buf_printf(&out->canonical_request, "\n%s\n%s", mps3_buf_cstr(&signed_headers),
			    in->payload_hash))
		goto out;

	/* String to sign. */
	memcpy(date, in->amz_date, 8);
	date[8] = '\0';
	mps3_sha256_hex(hash, out->canonical_request.data, out->canonical_request.len);
	if (mps3_buf_printf(&out->string_to_sign, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
			    in->amz_date, date, in->region, in->service, hash))
		goto out;

	/* Signing key: HMAC chain from "AWS4" + secret. */
	if (mps3_buf_printf(&secret, "AWS4%s", in->secret_key))
		goto out;
	mps3_hmac_sha256(k1, secret.data, secret.len, date, strlen(date));
	mps3_hmac_sha256(k2, k1, sizeof(k1), in->region, strlen(in->region));
	mps3_hmac_sha256(k1, k2, sizeof(k2), in->service, strlen(in->service));
	mps3_hmac_sha256(k2, k1, sizeof(k1), "aws4_request", 12);
	mps3_hmac_sha256(sig, k2, sizeof(k2), out->string_to_sign.data, out->string_to_sign.len);
	mps3_hex(out->signature, sig, sizeof(sig));
	if (mps3_buf_printf(&out->authorization,
			    "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
			    in->access_key, date, in->region, in->service,
			    mps3_buf_cstr(&signed_headers), out->signature))
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	OPENSSL_cleanse(sig, sizeof(sig));
	mps3_buf_dispose_secret(&secret);
	mps3_buf_dispose(&signed_headers);
	pairs_free(q, in->nquery);
	pairs_free(h, in->nheaders);
	return rc;
}
