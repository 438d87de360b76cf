/*
 * test_sigv4.c - AWS Signature Version 4 against AWS's published examples:
 * the four S3 examples of "Signature Calculations for the Authorization
 * Header: Transferring Payload in a Single Chunk" (GET Object with Range,
 * PUT Object, GET Bucket Lifecycle, GET Bucket list) and cases of the
 * generic AWS SigV4 test suite.
 */
#include <string.h>

#include "mps3/sigv4.h"
#include "tap.h"

#define S3_AK "AKIAIOSFODNN7EXAMPLE"
#define S3_SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_DATE "20130524T000000Z"
#define S3_HOST "examplebucket.s3.amazonaws.com"

#define SUITE_AK "AKIDEXAMPLE"
#define SUITE_SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"

struct vector {
	const char *name;
	const char *method, *path;
	struct mps3_kv query[4];
	size_t nquery;
	struct mps3_kv headers[6];
	size_t nheaders;
	const char *payload_hash;
	const char *date, *region, *service, *ak, *sk;
	const char *canonical;		/* NULL: not checked */
	const char *signature;
};

static const struct vector vectors[] = {
	{
		"S3 GET Object with Range",
		"GET", "/test.txt", { { 0 } }, 0,
		{ { "Host", S3_HOST }, { "Range", "bytes=0-9" },
		  { "x-amz-content-sha256", MPS3_EMPTY_SHA256 }, { "x-amz-date", S3_DATE } }, 4,
		MPS3_EMPTY_SHA256, S3_DATE, "us-east-1", "s3", S3_AK, S3_SK,
		"GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
		"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
		"x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
	},
	{
		"S3 PUT Object",
		"PUT", "/test%24file.text", { { 0 } }, 0,
		{ { "Host", S3_HOST }, { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		  { "x-amz-date", S3_DATE }, { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
		  { "x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072" } }, 5,
		"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", S3_DATE, "us-east-1", "s3",
		S3_AK, S3_SK,
		"PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"
		"host:examplebucket.s3.amazonaws.com\n"
		"x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
		"x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
		"date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
		"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
	},
	{
		"S3 GET Bucket Lifecycle",
		"GET", "/", { { "lifecycle", "" } }, 1,
		{ { "Host", S3_HOST }, { "x-amz-date", S3_DATE },
		  { "x-amz-content-sha256", MPS3_EMPTY_SHA256 } }, 3,
		MPS3_EMPTY_SHA256, S3_DATE, "us-east-1", "s3", S3_AK, S3_SK,
		"GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n"
		"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
		"x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
	},
	{
		"S3 GET Bucket (list objects), query given out of order",
		"GET", "/", { { "prefix", "J" }, { "max-keys", "2" } }, 2,
		{ { "Host", S3_HOST }, { "x-amz-date", S3_DATE },
		  { "x-amz-content-sha256", MPS3_EMPTY_SHA256 } }, 3,
		MPS3_EMPTY_SHA256, S3_DATE, "us-east-1", "s3", S3_AK, S3_SK,
		"GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n"
		"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
		"x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
	},
	{
		"suite get-vanilla",
		"GET", "/", { { 0 } }, 0,
		{ { "Host", "example.amazonaws.com" }, { "X-Amz-Date", SUITE_DATE } }, 2,
		MPS3_EMPTY_SHA256, SUITE_DATE, "us-east-1", "service", SUITE_AK, SUITE_SK,
		"GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	},
};

static void run_vector(const struct vector *v)
{
	struct mps3_sigv4_input in;
	struct mps3_sigv4_output out;
	char want_auth[512];
	int rc;

	memset(&in, 0, sizeof(in));
	in.method = v->method;
	in.path = v->path;
	in.query = v->query;
	in.nquery = v->nquery;
	in.headers = v->headers;
	in.nheaders = v->nheaders;
	in.payload_hash = v->payload_hash;
	in.amz_date = v->date;
	in.region = v->region;
	in.service = v->service;
	in.access_key = v->ak;
	in.secret_key = v->sk;
	mps3_sigv4_output_init(&out);
	rc = mps3_sigv4_sign(&out, &in);
	tap_inteq(rc, 0, "%s: signs", v->name);
	if (v->canonical)
		tap_streq(mps3_buf_cstr(&out.canonical_request), v->canonical, "%s: canonical request", v->name);
	tap_streq(out.signature, v->signature, "%s: signature", v->name);
	tap_ok(strstr(mps3_buf_cstr(&out.authorization), v->sk) == NULL &&
		       strstr(mps3_buf_cstr(&out.canonical_request), v->sk) == NULL &&
		       strstr(mps3_buf_cstr(&out.string_to_sign), v->sk) == NULL,
	       "%s: the secret appears in no output", v->name);
	snprintf(want_auth, sizeof(want_auth), "Signature=%s", v->signature);
	tap_ok(strstr(mps3_buf_cstr(&out.authorization), want_auth) != NULL &&
		       strncmp(mps3_buf_cstr(&out.authorization), "AWS4-HMAC-SHA256 Credential=", 28) == 0,
	       "%s: Authorization header", v->name);
	mps3_sigv4_output_dispose(&out);
}

/* Properties that need no published vector. */
static void test_properties(void)
{
	struct mps3_kv h[] = { { "host", "h" }, { "x-amz-date", S3_DATE },
			       { "X-Amz-Meta-A", "  two   words  " }, { "x-amz-meta-a", "second" },
			       { "x-amz-security-token", "TOKEN" } };
	struct mps3_kv q[] = { { "b", "2" }, { "a", "x y/z" }, { "a", "1" }, { "uploads", NULL } };
	struct mps3_sigv4_input in;
	struct mps3_sigv4_output out;

	memset(&in, 0, sizeof(in));
	in.method = "GET";
	in.path = "/k";
	in.query = q;
	in.nquery = 4;
	in.headers = h;
	in.nheaders = 5;
	in.payload_hash = MPS3_UNSIGNED_PAYLOAD;
	in.amz_date = S3_DATE;
	in.region = "eu-west-1";
	in.service = "s3";
	in.access_key = S3_AK;
	in.secret_key = S3_SK;
	mps3_sigv4_output_init(&out);
	tap_inteq(mps3_sigv4_sign(&out, &in), 0, "sign with token, duplicate headers and odd query");
	tap_streq(mps3_buf_cstr(&out.query), "a=1&a=x%20y%2Fz&b=2&uploads=", "query encoded and sorted by name, then value");
	tap_ok(strstr(mps3_buf_cstr(&out.canonical_request), "x-amz-meta-a:two words,second\n") != NULL,
	       "header values trimmed, folded, duplicates joined in order");
	tap_ok(strstr(mps3_buf_cstr(&out.canonical_request), "x-amz-security-token:TOKEN\n") != NULL &&
		       strstr(mps3_buf_cstr(&out.authorization), "x-amz-meta-a;x-amz-security-token") != NULL,
	       "session token is signed");
	tap_ok(strstr(mps3_buf_cstr(&out.authorization), "/eu-west-1/s3/aws4_request") != NULL,
	       "scope names the region");
	tap_ok(strstr(mps3_buf_cstr(&out.canonical_request), "\nUNSIGNED-PAYLOAD") != NULL, "unsigned payload");
	in.amz_date = "2013-05-24T00:00:00Z";
	tap_inteq(mps3_sigv4_sign(&out, &in), -22, "malformed date refused");
	mps3_sigv4_output_dispose(&out);
}

int main(void)
{
	size_t i;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		run_vector(&vectors[i]);
	test_properties();
	return tap_done();
}
