/*
 * s3/sigv4.c - AWS Signature Version 4 with the Authorization header: the
 * canonical request, the string to sign, the derived signing key and the
 * header value, as AWS specifies them for S3 (no path normalisation).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "mps3/hash.h"
#include "mps3/sigv4.h"
#include "mps3/uri.h"

#define ALGORITHM "AWS4-HMAC-SHA256"

struct query_pair {
	char *name;	/* encoded */
	char *value;	/* encoded */
};

struct header {
	char *name;		/* lower-cased copy */
	const char *value;	/* borrowed from the input */
	size_t pos;		/* input position: repeated names keep their order */
};

void mps3_sigv4_output_init(struct mps3_sigv4_output *out)
{
	mps3_buf_init(&out->canonical_request, 0);
	mps3_buf_init(&out->string_to_sign, 0);
	mps3_buf_init(&out->authorization, 0);
	mps3_buf_init(&out->query, 0);
	out->signature[0] = '\0';
}

/*
 * Everything is wiped, not only the Authorization value: the canonical
 * request carries x-amz-security-token, itself a credential.
 */
void mps3_sigv4_output_dispose(struct mps3_sigv4_output *out)
{
	mps3_buf_dispose_secret(&out->canonical_request);
	mps3_buf_dispose_secret(&out->string_to_sign);
	mps3_buf_dispose_secret(&out->authorization);
	mps3_buf_dispose_secret(&out->query);
	OPENSSL_cleanse(out->signature, sizeof(out->signature));
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int amz_date_valid(const char *d)
{
	size_t i;

	if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
		return 0;
	for (i = 0; i < 15; i++)
		if (i != 8 && !is_digit(d[i]))
			return 0;
	return 1;
}

/* RFC 9110 token characters: anything else cannot be a header name. */
static int token_valid(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit((char)c))
			continue;
		if (!strchr("!#$%&'*+-.^_`|~", c))
			return 0;
	}
	return 1;
}

/*
 * The path arrives encoded, so a raw space, control byte, non-ASCII byte, '?'
 * or '#' means the caller forgot to encode it; signing it would only produce
 * a signature S3 rejects.
 */
static int path_valid(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#')
			return 0;
	}
	return 1;
}

/* Fields that end up between the '/' of the credential scope. */
static int scope_part_valid(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || c == '/' || c == ',')
			return 0;
	}
	return 1;
}

static int payload_hash_valid(const char *s)
{
	return s && (mps3_is_sha256_hex(s) || strcmp(s, MPS3_UNSIGNED_PAYLOAD) == 0);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Compares a header value with s after trimming its surrounding whitespace. */
static int trimmed_equal(const char *value, const char *s)
{
	size_t n;

	if (!value)
		return 0;
	while (is_space(*value))
		value++;
	n = strlen(value);
	while (n > 0 && is_space(value[n - 1]))
		n--;
	return n == strlen(s) && memcmp(value, s, n) == 0;
}

static int input_valid(const struct mps3_sigv4_input *in)
{
	int have_host = 0, have_date = 0;
	size_t i;

	if (!token_valid(in->method) || (in->path && !path_valid(in->path)) ||
	    !payload_hash_valid(in->payload_hash) || !amz_date_valid(in->amz_date) ||
	    !scope_part_valid(in->region) || !scope_part_valid(in->service) ||
	    !scope_part_valid(in->access_key) || !in->secret_key || !*in->secret_key)
		return 0;
	if ((in->nquery && !in->query) || !in->headers)
		return 0;
	for (i = 0; i < in->nquery; i++)
		if (!in->query[i].name)
			return 0;
	for (i = 0; i < in->nheaders; i++) {
		const char *name = in->headers[i].name;

		if (!token_valid(name))
			return 0;
		if (strcasecmp(name, "host") == 0) {
			have_host = 1;
		} else if (strcasecmp(name, "x-amz-date") == 0) {
			/* The date signed in the scope must be the one sent. */
			if (!trimmed_equal(in->headers[i].value, in->amz_date))
				return 0;
			have_date = 1;
		}
	}
	return have_host && have_date;
}

static int encode_dup(char **out, const char *s)
{
	struct mps3_buf b = MPS3_BUF_INIT;
	int rc;

	*out = NULL;
	if (!s)
		s = "";
	rc = mps3_uri_encode(&b, s, strlen(s), 0);
	if (rc) {
		mps3_buf_dispose(&b);
		return rc;
	}
	*out = mps3_buf_detach(&b, NULL);
	return *out ? 0 : -ENOMEM;
}

static int cmp_query(const void *a, const void *b)
{
	const struct query_pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

/* Sorting after encoding, as AWS does, so "%E1..." sorts before "Param". */
static int build_query(struct mps3_buf *out, const struct mps3_kv *kv, size_t n)
{
	struct query_pair *q = NULL;
	size_t i;
	int rc = 0;

	if (n == 0)
		return mps3_buf_reserve(out, 0);
	q = calloc(n, sizeof(*q));
	if (!q)
		return -ENOMEM;
	for (i = 0; i < n && rc == 0; i++) {
		rc = encode_dup(&q[i].name, kv[i].name);
		if (rc == 0)
			rc = encode_dup(&q[i].value, kv[i].value);
	}
	if (rc)
		goto out;
	qsort(q, n, sizeof(*q), cmp_query);
	for (i = 0; i < n && rc == 0; i++)
		rc = mps3_buf_printf(out, "%s%s=%s", i ? "&" : "", q[i].name, q[i].value);
out:
	for (i = 0; i < n; i++) {
		free(q[i].name);
		free(q[i].value);
	}
	free(q);
	return rc;
}

static int cmp_header(const void *a, const void *b)
{
	const struct header *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static char *lower_dup(const char *s)
{
	char *d = strdup(s);
	char *p;

	for (p = d; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

/* Trimmed, with every inner run of whitespace (folded lines too) one space. */
static int append_folded(struct mps3_buf *b, const char *v)
{
	int pending = 0, rc = 0;

	while (is_space(*v))
		v++;
	while (*v && rc == 0) {
		size_t n = 0;

		if (is_space(*v)) {
			pending = 1;
			v++;
			continue;
		}
		while (v[n] && !is_space(v[n]))
			n++;
		if (pending)
			rc = mps3_buf_append(b, " ", 1);
		if (rc == 0)
			rc = mps3_buf_append(b, v, n);
		pending = 0;
		v += n;
	}
	return rc;
}

/* Appends the header lines and the blank line; fills signed_headers. */
static int build_headers(struct mps3_buf *creq, struct mps3_buf *signed_headers,
			 const struct mps3_kv *kv, size_t n)
{
	struct header *h = NULL;
	size_t i;
	int rc = 0;

	h = calloc(n, sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		h[i].name = lower_dup(kv[i].name);
		h[i].value = kv[i].value ? kv[i].value : "";
		h[i].pos = i;
		if (!h[i].name) {
			rc = -ENOMEM;
			goto out;
		}
	}
	qsort(h, n, sizeof(*h), cmp_header);
	for (i = 0; i < n && rc == 0; i++) {
		/* A repeated name is one line, its values joined in the order given. */
		if (i > 0 && strcmp(h[i - 1].name, h[i].name) == 0) {
			rc = mps3_buf_append(creq, ",", 1);
		} else {
			rc = mps3_buf_printf(creq, "%s%s:", i ? "\n" : "", h[i].name);
			if (rc == 0)
				rc = mps3_buf_printf(signed_headers, "%s%s", i ? ";" : "", h[i].name);
		}
		if (rc == 0)
			rc = append_folded(creq, h[i].value);
	}
	if (rc == 0)
		rc = mps3_buf_append(creq, "\n\n", 2);
out:
	for (i = 0; i < n; i++)
		free(h[i].name);
	free(h);
	return rc;
}

/*
 * kSecret = "AWS4" + secret; kDate, kRegion, kService, kSigning by HMAC
 * chain; signature = HMAC(kSigning, string to sign).  Every intermediate key
 * is wiped; the secret's copy is reserved in one piece so no realloc leaves
 * a stray copy behind.
 */
static int compute_signature(char out[MPS3_SHA256_HEX_LEN + 1], const struct mps3_sigv4_input *in,
			     const struct mps3_buf *sts)
{
	struct mps3_buf secret = MPS3_BUF_INIT;
	unsigned char k1[MPS3_SHA256_LEN], k2[MPS3_SHA256_LEN];
	size_t slen = strlen(in->secret_key);
	int rc;

	rc = mps3_buf_reserve(&secret, 4 + slen);
	if (rc == 0)
		rc = mps3_buf_append(&secret, "AWS4", 4);
	if (rc == 0)
		rc = mps3_buf_append(&secret, in->secret_key, slen);
	if (rc)
		goto out;
	mps3_hmac_sha256(k1, secret.data, secret.len, in->amz_date, 8);
	mps3_hmac_sha256(k2, k1, sizeof(k1), in->region, strlen(in->region));
	mps3_hmac_sha256(k1, k2, sizeof(k2), in->service, strlen(in->service));
	mps3_hmac_sha256(k2, k1, sizeof(k1), "aws4_request", 12);
	mps3_hmac_sha256(k1, k2, sizeof(k2), sts->data, sts->len);
	mps3_hex(out, k1, sizeof(k1));
out:
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	mps3_buf_dispose_secret(&secret);
	return rc;
}

int mps3_sigv4_sign(struct mps3_sigv4_output *out, const struct mps3_sigv4_input *in)
{
	struct mps3_buf signed_headers = MPS3_BUF_INIT, scope = MPS3_BUF_INIT;
	char creq_hash[MPS3_SHA256_HEX_LEN + 1];
	int rc;

	/* A reused output starts empty, so a failure never leaves an old signature. */
	mps3_sigv4_output_dispose(out);
	if (!input_valid(in))
		return -EINVAL;

	rc = build_query(&out->query, in->query, in->nquery);
	if (rc)
		goto out;
	rc = mps3_buf_printf(&out->canonical_request, "%s\n%s\n%s\n", in->method,
			     in->path && *in->path ? in->path : "/", mps3_buf_cstr(&out->query));
	if (rc)
		goto out;
	rc = build_headers(&out->canonical_request, &signed_headers, in->headers, in->nheaders);
	if (rc)
		goto out;
	rc = mps3_buf_printf(&out->canonical_request, "%s\n%s", mps3_buf_cstr(&signed_headers),
			     in->payload_hash);
	if (rc)
		goto out;

	rc = mps3_buf_printf(&scope, "%.8s/%s/%s/aws4_request", in->amz_date, in->region, in->service);
	if (rc)
		goto out;
	mps3_sha256_hex(creq_hash, out->canonical_request.data, out->canonical_request.len);
	rc = mps3_buf_printf(&out->string_to_sign, ALGORITHM "\n%s\n%s\n%s", in->amz_date,
			     scope.data, creq_hash);
	if (rc)
		goto out;

	rc = compute_signature(out->signature, in, &out->string_to_sign);
	if (rc)
		goto out;
	rc = mps3_buf_printf(&out->authorization,
			     ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
			     in->access_key, scope.data, signed_headers.data, out->signature);
out:
	if (rc)
		mps3_sigv4_output_dispose(out);
	mps3_buf_dispose(&scope);
	mps3_buf_dispose(&signed_headers);
	return rc;
}
