/*
 * test_sigv4.c - AWS Signature Version 4 against AWS's published vectors:
 * the four examples of the S3 API Reference page "Signature Calculations for
 * the Authorization Header: Transferring Payload in a Single Chunk", and the
 * header-signing cases of the AWS SigV4 test suite (as shipped in
 * awslabs/aws-c-auth, tests/aws-signing-test-suite/v4) that need no path
 * normalisation.  Then properties no vector covers: session token, query
 * encoding, header folding, refusals, and that the secret never leaks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mps3/hash.h"
#include "mps3/sigv4.h"
#include "tap.h"

#define S3_AK "AKIAIOSFODNN7EXAMPLE"
#define S3_SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_DATE "20130524T000000Z"
#define S3_HOST "examplebucket.s3.amazonaws.com"
#define S3_STS(h) "AWS4-HMAC-SHA256\n" S3_DATE "\n20130524/us-east-1/s3/aws4_request\n" h
#define S3_AUTHZ(sh, sig) \
	"AWS4-HMAC-SHA256 Credential=" S3_AK "/20130524/us-east-1/s3/aws4_request,SignedHeaders=" sh ",Signature=" sig
#define S3_PUT_HASH "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"

#define SUITE_AK "AKIDEXAMPLE"
#define SUITE_SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"
#define SUITE_HOST "example.amazonaws.com"
#define SUITE_STS(h) "AWS4-HMAC-SHA256\n" SUITE_DATE "\n20150830/us-east-1/service/aws4_request\n" h
#define SUITE_AUTHZ(sh, sig) \
	"AWS4-HMAC-SHA256 Credential=" SUITE_AK "/20150830/us-east-1/service/aws4_request, SignedHeaders=" sh ", Signature=" sig
#define SUITE_FORM_HASH "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
#define SUITE_TOKEN                                                                                  \
	"AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSP" \
	"fIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT" \
	"7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlz" \
	"m8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
#define UNRESERVED "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

#define S3_EMPTY_CREQ_TAIL                                  \
	"host:" S3_HOST "\n"                                \
	"x-amz-content-sha256:" MPS3_EMPTY_SHA256 "\n"      \
	"x-amz-date:" S3_DATE "\n\n"                        \
	"host;x-amz-content-sha256;x-amz-date\n" MPS3_EMPTY_SHA256
#define SUITE_CREQ_TAIL \
	"host:" SUITE_HOST "\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" MPS3_EMPTY_SHA256

struct vector {
	const char *name;
	const char *method, *path;
	struct mps3_kv query[4];
	size_t nquery;
	struct mps3_kv headers[6];
	size_t nheaders;
	const char *payload_hash;
	const char *date, *region, *service, *ak, *sk;
	const char *canonical;		/* published canonical request, NULL if none */
	const char *sts;		/* published string to sign */
	const char *signature;
	const char *authorization;	/* published header value */
};

#define S3(...) S3_DATE, "us-east-1", "s3", S3_AK, S3_SK, __VA_ARGS__
#define SUITE(...) SUITE_DATE, "us-east-1", "service", SUITE_AK, SUITE_SK, __VA_ARGS__
#define H_S3_EMPTY { "Host", S3_HOST }, { "x-amz-date", S3_DATE }, { "x-amz-content-sha256", MPS3_EMPTY_SHA256 }
#define H_SUITE { "Host", SUITE_HOST }, { "X-Amz-Date", SUITE_DATE }

static const struct vector vectors[] = {
	/* S3 API Reference, sig-v4-header-based-auth: "Example: GET Object". */
	{ "S3 GET Object with Range", "GET", "/test.txt", { { 0 } }, 0,
	  { { "Host", S3_HOST }, { "Range", "bytes=0-9" },
	    { "x-amz-content-sha256", MPS3_EMPTY_SHA256 }, { "x-amz-date", S3_DATE } }, 4,
	  MPS3_EMPTY_SHA256, S3(
	  "GET\n/test.txt\n\nhost:" S3_HOST "\nrange:bytes=0-9\n"
	  "x-amz-content-sha256:" MPS3_EMPTY_SHA256 "\nx-amz-date:" S3_DATE "\n\n"
	  "host;range;x-amz-content-sha256;x-amz-date\n" MPS3_EMPTY_SHA256,
	  S3_STS("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"),
	  "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
	  S3_AUTHZ("host;range;x-amz-content-sha256;x-amz-date",
		   "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")) },
	/* "Example: PUT Object": key test$file.text, body "Welcome to Amazon S3.". */
	{ "S3 PUT Object", "PUT", "/test%24file.text", { { 0 } }, 0,
	  { { "Host", S3_HOST }, { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
	    { "x-amz-date", S3_DATE }, { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
	    { "x-amz-content-sha256", S3_PUT_HASH } }, 5,
	  S3_PUT_HASH, S3(
	  "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\nhost:" S3_HOST "\n"
	  "x-amz-content-sha256:" S3_PUT_HASH "\nx-amz-date:" S3_DATE "\n"
	  "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
	  "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n" S3_PUT_HASH,
	  S3_STS("9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"),
	  "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
	  S3_AUTHZ("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
		   "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")) },
	/* "Example: GET Bucket Lifecycle": a sub-resource without a value. */
	{ "S3 GET Bucket Lifecycle", "GET", "/", { { "lifecycle", NULL } }, 1,
	  { H_S3_EMPTY }, 3, MPS3_EMPTY_SHA256, S3(
	  "GET\n/\nlifecycle=\n" S3_EMPTY_CREQ_TAIL,
	  S3_STS("9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca"),
	  "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
	  S3_AUTHZ("host;x-amz-content-sha256;x-amz-date",
		   "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")) },
	/* "Example: Get Bucket (List Objects)", query given out of order on purpose. */
	{ "S3 GET Bucket ?max-keys=2&prefix=J", "GET", "/", { { "prefix", "J" }, { "max-keys", "2" } }, 2,
	  { H_S3_EMPTY }, 3, MPS3_EMPTY_SHA256, S3(
	  "GET\n/\nmax-keys=2&prefix=J\n" S3_EMPTY_CREQ_TAIL,
	  S3_STS("df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7"),
	  "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
	  S3_AUTHZ("host;x-amz-content-sha256;x-amz-date",
		   "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")) },

	/* The AWS SigV4 test suite (aws-c-auth v4/<name>/header-*.txt). */
	{ "suite get-vanilla", "GET", "/", { { 0 } }, 0, { H_SUITE }, 2, MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/\n\n" SUITE_CREQ_TAIL,
	  SUITE_STS("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
	  "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	  SUITE_AUTHZ("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")) },
	{ "suite get-vanilla-query-order-key-case", "GET", "/",
	  { { "Param2", "value2" }, { "Param1", "value1" } }, 2, { H_SUITE }, 2, MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/\nParam1=value1&Param2=value2\n" SUITE_CREQ_TAIL,
	  SUITE_STS("816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"),
	  "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
	  SUITE_AUTHZ("host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")) },
	{ "suite get-vanilla-query-unreserved", "GET", "/", { { UNRESERVED, UNRESERVED } }, 1,
	  { H_SUITE }, 2, MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/\n" UNRESERVED "=" UNRESERVED "\n" SUITE_CREQ_TAIL,
	  SUITE_STS("c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177"),
	  "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
	  SUITE_AUTHZ("host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197")) },
	{ "suite get-vanilla-empty-query-key", "GET", "/", { { "Param1", "value1" } }, 1,
	  { H_SUITE }, 2, MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/\nParam1=value1\n" SUITE_CREQ_TAIL,
	  SUITE_STS("1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab"),
	  "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
	  SUITE_AUTHZ("host;x-amz-date", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb")) },
	{ "suite get-vanilla-utf8-query", "GET", "/", { { "\xe1\x88\xb4", "bar" } }, 1,
	  { H_SUITE }, 2, MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/\n%E1%88%B4=bar\n" SUITE_CREQ_TAIL,
	  SUITE_STS("eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073"),
	  "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
	  SUITE_AUTHZ("host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04")) },
	{ "suite get-vanilla-query-order-encoded", "GET", "/",
	  { { "Param-3", "Value3" }, { "Param", "Value2" }, { "\xe1\x88\xb4", "Value1" } }, 3,
	  { H_SUITE }, 2, MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/\n%E1%88%B4=Value1&Param=Value2&Param-3=Value3\n" SUITE_CREQ_TAIL,
	  SUITE_STS("868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71"),
	  "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac",
	  SUITE_AUTHZ("host;x-amz-date", "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac")) },
	/* Paths below are given encoded, the way the S3 client hands them over. */
	{ "suite get-unreserved", "GET", "/" UNRESERVED, { { 0 } }, 0, { H_SUITE }, 2, MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/" UNRESERVED "\n\n" SUITE_CREQ_TAIL,
	  SUITE_STS("6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9"),
	  "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
	  SUITE_AUTHZ("host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f")) },
	{ "suite get-utf8", "GET", "/%E1%88%B4", { { 0 } }, 0, { H_SUITE }, 2, MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/%E1%88%B4\n\n" SUITE_CREQ_TAIL,
	  SUITE_STS("2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102"),
	  "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
	  SUITE_AUTHZ("host;x-amz-date", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85")) },
	{ "suite get-space-unnormalized", "GET", "/example%20space/", { { 0 } }, 0, { H_SUITE }, 2,
	  MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/example%20space/\n\n" SUITE_CREQ_TAIL,
	  SUITE_STS("63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86"),
	  "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
	  SUITE_AUTHZ("host;x-amz-date", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741")) },
	{ "suite post-vanilla", "POST", "/", { { 0 } }, 0, { H_SUITE }, 2, MPS3_EMPTY_SHA256, SUITE(
	  "POST\n/\n\n" SUITE_CREQ_TAIL,
	  SUITE_STS("553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87"),
	  "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
	  SUITE_AUTHZ("host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")) },
	{ "suite post-vanilla-query", "POST", "/", { { "Param1", "value1" } }, 1, { H_SUITE }, 2,
	  MPS3_EMPTY_SHA256, SUITE(
	  "POST\n/\nParam1=value1\n" SUITE_CREQ_TAIL,
	  SUITE_STS("9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd"),
	  "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
	  SUITE_AUTHZ("host;x-amz-date", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11")) },
	{ "suite post-header-key-sort", "POST", "/", { { 0 } }, 0,
	  { { "Host", SUITE_HOST }, { "My-Header1", "value1" }, { "X-Amz-Date", SUITE_DATE } }, 3,
	  MPS3_EMPTY_SHA256, SUITE(
	  "POST\n/\n\nhost:" SUITE_HOST "\nmy-header1:value1\nx-amz-date:" SUITE_DATE "\n\n"
	  "host;my-header1;x-amz-date\n" MPS3_EMPTY_SHA256,
	  SUITE_STS("9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65"),
	  "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
	  SUITE_AUTHZ("host;my-header1;x-amz-date", "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c")) },
	{ "suite post-header-value-case", "POST", "/", { { 0 } }, 0,
	  { { "Host", SUITE_HOST }, { "My-Header1", "VALUE1" }, { "X-Amz-Date", SUITE_DATE } }, 3,
	  MPS3_EMPTY_SHA256, SUITE(
	  "POST\n/\n\nhost:" SUITE_HOST "\nmy-header1:VALUE1\nx-amz-date:" SUITE_DATE "\n\n"
	  "host;my-header1;x-amz-date\n" MPS3_EMPTY_SHA256,
	  SUITE_STS("d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93"),
	  "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
	  SUITE_AUTHZ("host;my-header1;x-amz-date", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d")) },
	/* Body "Param1=value1", signed (the aws-c-auth edition adds x-amz-content-sha256). */
	{ "suite post-x-www-form-urlencoded", "POST", "/", { { 0 } }, 0,
	  { { "Content-Type", "application/x-www-form-urlencoded" }, { "Host", SUITE_HOST },
	    { "Content-Length", "13" }, { "X-Amz-Date", SUITE_DATE },
	    { "x-amz-content-sha256", SUITE_FORM_HASH } }, 5,
	  SUITE_FORM_HASH, SUITE(
	  "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded\n"
	  "host:" SUITE_HOST "\nx-amz-content-sha256:" SUITE_FORM_HASH "\nx-amz-date:" SUITE_DATE "\n\n"
	  "content-length;content-type;host;x-amz-content-sha256;x-amz-date\n" SUITE_FORM_HASH,
	  SUITE_STS("b1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb"),
	  "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
	  SUITE_AUTHZ("content-length;content-type;host;x-amz-content-sha256;x-amz-date",
		      "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b")) },
	/* The original 2015 edition of the same case (AWS General Reference suite). */
	{ "suite post-x-www-form-urlencoded (2015 edition)", "POST", "/", { { 0 } }, 0,
	  { { "Content-Type", "application/x-www-form-urlencoded" }, { "Host", SUITE_HOST },
	    { "X-Amz-Date", SUITE_DATE } }, 3,
	  SUITE_FORM_HASH, SUITE(
	  "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:" SUITE_HOST "\n"
	  "x-amz-date:" SUITE_DATE "\n\ncontent-type;host;x-amz-date\n" SUITE_FORM_HASH,
	  SUITE_STS("42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"),
	  "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
	  SUITE_AUTHZ("content-type;host;x-amz-date",
		      "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")) },
	{ "suite post-x-www-form-urlencoded-parameters", "POST", "/", { { 0 } }, 0,
	  { { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" }, { "Host", SUITE_HOST },
	    { "Content-Length", "13" }, { "X-Amz-Date", SUITE_DATE },
	    { "x-amz-content-sha256", SUITE_FORM_HASH } }, 5,
	  SUITE_FORM_HASH, SUITE(
	  "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\n"
	  "host:" SUITE_HOST "\nx-amz-content-sha256:" SUITE_FORM_HASH "\nx-amz-date:" SUITE_DATE "\n\n"
	  "content-length;content-type;host;x-amz-content-sha256;x-amz-date\n" SUITE_FORM_HASH,
	  SUITE_STS("a89f1a5b53e37702ee6363ce1da3ce8f54386f3c8f352ae652153c2982a0bc4d"),
	  "328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422",
	  SUITE_AUTHZ("content-length;content-type;host;x-amz-content-sha256;x-amz-date",
		      "328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422")) },
	{ "suite get-header-value-trim", "GET", "/", { { 0 } }, 0,
	  { { "Host", SUITE_HOST }, { "My-Header1", " value1" }, { "My-Header2", " \"a   b   c\"" },
	    { "X-Amz-Date", SUITE_DATE } }, 4,
	  MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/\n\nhost:" SUITE_HOST "\nmy-header1:value1\nmy-header2:\"a b c\"\n"
	  "x-amz-date:" SUITE_DATE "\n\nhost;my-header1;my-header2;x-amz-date\n" MPS3_EMPTY_SHA256,
	  SUITE_STS("a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7"),
	  "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
	  SUITE_AUTHZ("host;my-header1;my-header2;x-amz-date",
		      "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")) },
	{ "suite get-header-key-duplicate", "GET", "/", { { 0 } }, 0,
	  { { "Host", SUITE_HOST }, { "My-Header1", "value2" }, { "My-Header1", "value2" },
	    { "My-Header1", "value1" }, { "X-Amz-Date", SUITE_DATE } }, 5,
	  MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/\n\nhost:" SUITE_HOST "\nmy-header1:value2,value2,value1\n"
	  "x-amz-date:" SUITE_DATE "\n\nhost;my-header1;x-amz-date\n" MPS3_EMPTY_SHA256,
	  SUITE_STS("dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c"),
	  "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
	  SUITE_AUTHZ("host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea")) },
	{ "suite get-header-value-order", "GET", "/", { { 0 } }, 0,
	  { { "Host", SUITE_HOST }, { "My-Header1", "value4" }, { "My-Header1", "value1" },
	    { "My-Header1", "value3" }, { "My-Header1", "value2" }, { "X-Amz-Date", SUITE_DATE } }, 6,
	  MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/\n\nhost:" SUITE_HOST "\nmy-header1:value4,value1,value3,value2\n"
	  "x-amz-date:" SUITE_DATE "\n\nhost;my-header1;x-amz-date\n" MPS3_EMPTY_SHA256,
	  SUITE_STS("31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86"),
	  "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
	  SUITE_AUTHZ("host;my-header1;x-amz-date", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01")) },
	/* An obs-folded value: the line breaks fold like any other whitespace. */
	{ "suite get-header-value-multiline", "GET", "/", { { 0 } }, 0,
	  { { "Host", SUITE_HOST }, { "My-Header1", "value1\n  value2\n     value3" },
	    { "X-Amz-Date", SUITE_DATE } }, 3,
	  MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/\n\nhost:" SUITE_HOST "\nmy-header1:value1 value2 value3\n"
	  "x-amz-date:" SUITE_DATE "\n\nhost;my-header1;x-amz-date\n" MPS3_EMPTY_SHA256,
	  SUITE_STS("e99419459a677bc11de234014be3c4e72c1ea5b454ceb58b613061f5d7a162e8"),
	  "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd",
	  SUITE_AUTHZ("host;my-header1;x-amz-date", "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd")) },
	/* Session tokens: the caller adds x-amz-security-token like any header. */
	{ "suite get-vanilla-with-session-token", "GET", "/", { { 0 } }, 0,
	  { { "Host", SUITE_HOST },
	    { "X-Amz-Security-Token", "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267" },
	    { "X-Amz-Date", SUITE_DATE } }, 3,
	  MPS3_EMPTY_SHA256, SUITE(
	  "GET\n/\n\nhost:" SUITE_HOST "\nx-amz-date:" SUITE_DATE "\n"
	  "x-amz-security-token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n\n"
	  "host;x-amz-date;x-amz-security-token\n" MPS3_EMPTY_SHA256,
	  SUITE_STS("067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b"),
	  "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
	  SUITE_AUTHZ("host;x-amz-date;x-amz-security-token",
		      "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8")) },
	{ "suite post-sts-header-before", "POST", "/", { { 0 } }, 0,
	  { { "Host", SUITE_HOST }, { "X-Amz-Security-Token", SUITE_TOKEN }, { "X-Amz-Date", SUITE_DATE } }, 3,
	  MPS3_EMPTY_SHA256, SUITE(
	  "POST\n/\n\nhost:" SUITE_HOST "\nx-amz-date:" SUITE_DATE "\nx-amz-security-token:" SUITE_TOKEN "\n\n"
	  "host;x-amz-date;x-amz-security-token\n" MPS3_EMPTY_SHA256,
	  SUITE_STS("c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"),
	  "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
	  SUITE_AUTHZ("host;x-amz-date;x-amz-security-token",
		      "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead")) },
};

static void input_from(struct mps3_sigv4_input *in, const struct vector *v)
{
	memset(in, 0, sizeof(*in));
	in->method = v->method;
	in->path = v->path;
	in->query = v->query;
	in->nquery = v->nquery;
	in->headers = v->headers;
	in->nheaders = v->nheaders;
	in->payload_hash = v->payload_hash;
	in->amz_date = v->date;
	in->region = v->region;
	in->service = v->service;
	in->access_key = v->ak;
	in->secret_key = v->sk;
}

/*
 * The S3 page prints "a,b", the test suite "a, b"; S3 accepts both, so the
 * comparison ignores one space after each comma.
 */
static void compact(char *dst, size_t cap, const char *src)
{
	size_t o = 0;

	for (; *src && o + 1 < cap; src++) {
		if (*src == ' ' && o > 0 && dst[o - 1] == ',')
			continue;
		dst[o++] = *src;
	}
	dst[o] = '\0';
}

static int leaks(const struct mps3_sigv4_output *out, const char *secret)
{
	return strstr(mps3_buf_cstr(&out->canonical_request), secret) ||
	       strstr(mps3_buf_cstr(&out->string_to_sign), secret) ||
	       strstr(mps3_buf_cstr(&out->authorization), secret) ||
	       strstr(mps3_buf_cstr(&out->query), secret) || strstr(out->signature, secret);
}

/* The third line of the canonical request is the query string sent. */
static int query_line_is(const struct mps3_sigv4_output *out)
{
	const char *c = mps3_buf_cstr(&out->canonical_request);
	const char *l3 = strchr(c, '\n');
	size_t n;

	l3 = l3 ? strchr(l3 + 1, '\n') : NULL;
	if (!l3)
		return 0;
	l3++;
	n = strcspn(l3, "\n");
	return n == out->query.len && strncmp(l3, mps3_buf_cstr(&out->query), n) == 0;
}

static void test_vectors(void)
{
	size_t i;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		struct mps3_sigv4_input in;
		struct mps3_sigv4_output out;
		char got[1024], want[1024];

		input_from(&in, v);
		mps3_sigv4_output_init(&out);
		tap_inteq(mps3_sigv4_sign(&out, &in), 0, "%s: signs", v->name);
		tap_streq(mps3_buf_cstr(&out.canonical_request), v->canonical, "%s: canonical request", v->name);
		tap_streq(mps3_buf_cstr(&out.string_to_sign), v->sts, "%s: string to sign", v->name);
		tap_streq(out.signature, v->signature, "%s: signature", v->name);
		compact(got, sizeof(got), mps3_buf_cstr(&out.authorization));
		compact(want, sizeof(want), v->authorization);
		tap_streq(got, want, "%s: Authorization", v->name);
		tap_ok(query_line_is(&out), "%s: the query to send is the one signed", v->name);
		tap_ok(!leaks(&out, v->sk), "%s: the secret appears in no output", v->name);
		mps3_sigv4_output_dispose(&out);
	}
}

/* The payload hashes the vectors assume are those of their published bodies. */
static void test_payload_hashes(void)
{
	char hex[MPS3_SHA256_HEX_LEN + 1];

	mps3_sha256_hex(hex, "Welcome to Amazon S3.", 21);
	tap_streq(hex, S3_PUT_HASH, "S3 PUT Object body hash");
	mps3_sha256_hex(hex, "Param1=value1", 13);
	tap_streq(hex, SUITE_FORM_HASH, "suite form body hash");
	mps3_sha256_hex(hex, "", 0);
	tap_streq(hex, MPS3_EMPTY_SHA256, "MPS3_EMPTY_SHA256");
}

static void base_input(struct mps3_sigv4_input *in, const struct mps3_kv *h, size_t nh)
{
	memset(in, 0, sizeof(*in));
	in->method = "GET";
	in->path = "/bucket/k";
	in->headers = h;
	in->nheaders = nh;
	in->payload_hash = MPS3_UNSIGNED_PAYLOAD;
	in->amz_date = S3_DATE;
	in->region = "eu-west-1";
	in->service = "s3";
	in->access_key = S3_AK;
	in->secret_key = S3_SK;
}

static void test_session_token(void)
{
	struct mps3_kv with[] = { { "host", "h" }, { "x-amz-date", S3_DATE },
				  { "x-amz-content-sha256", MPS3_UNSIGNED_PAYLOAD },
				  { "x-amz-security-token", "FQoGZXIvYXdzE//token+/=" } };
	struct mps3_sigv4_input in;
	struct mps3_sigv4_output a, b;

	mps3_sigv4_output_init(&a);
	mps3_sigv4_output_init(&b);
	base_input(&in, with, 4);
	tap_inteq(mps3_sigv4_sign(&a, &in), 0, "S3 request with a session token signs");
	tap_ok(strstr(mps3_buf_cstr(&a.canonical_request),
		      "\nx-amz-security-token:FQoGZXIvYXdzE//token+/=\n\n") != NULL,
	       "the token is a canonical header, verbatim");
	tap_ok(strstr(mps3_buf_cstr(&a.authorization),
		      "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,") != NULL,
	       "the token is among the signed headers");
	tap_ok(strstr(mps3_buf_cstr(&a.canonical_request), "\nUNSIGNED-PAYLOAD") != NULL,
	       "UNSIGNED-PAYLOAD ends the canonical request");
	tap_ok(strstr(mps3_buf_cstr(&a.authorization), "Credential=" S3_AK "/20130524/eu-west-1/s3/aws4_request,") != NULL,
	       "the scope names date, region and service");
	base_input(&in, with, 3);
	tap_inteq(mps3_sigv4_sign(&b, &in), 0, "the same request without the token signs");
	tap_ok(strcmp(a.signature, b.signature) != 0, "and the token changes the signature");
	tap_ok(!leaks(&a, S3_SK) && !leaks(&b, S3_SK), "the secret appears in neither");
	mps3_sigv4_output_dispose(&a);
	mps3_sigv4_output_dispose(&b);
}

static void test_query_and_headers(void)
{
	struct mps3_kv h[] = { { "Host", "h" }, { "X-Amz-Date", " " S3_DATE "\t" },
			       { "X-Amz-Meta-A", "  two \t  words  " }, { "x-amz-meta-a", "second" },
			       { "x-amz-meta-empty", "   " }, { "x-amz-meta-null", NULL } };
	struct mps3_kv q[] = { { "b", "2" }, { "a", "x y/z+&=" }, { "a", "1" }, { "uploads", NULL },
			       { "empty", "" }, { "\xc3\xaf", "\xe6\x97\xa5" } };
	struct mps3_sigv4_input in;
	struct mps3_sigv4_output out;
	const char *c;

	mps3_sigv4_output_init(&out);
	base_input(&in, h, 6);
	in.query = q;
	in.nquery = 6;
	tap_inteq(mps3_sigv4_sign(&out, &in), 0, "odd query and headers sign");
	tap_streq(mps3_buf_cstr(&out.query), "%C3%AF=%E6%97%A5&a=1&a=x%20y%2Fz%2B%26%3D&b=2&empty=&uploads=",
		  "query encoded, sorted by encoded name then value, empty values as name=");
	tap_ok(query_line_is(&out), "the query to send is the one signed");
	c = mps3_buf_cstr(&out.canonical_request);
	tap_ok(strstr(c, "\nx-amz-meta-a:two words,second\n") != NULL,
	       "values trimmed, runs of blanks folded, repeated names joined in given order");
	tap_ok(strstr(c, "\nx-amz-meta-empty:\nx-amz-meta-null:\n") != NULL, "blank and NULL values sign as empty");
	tap_ok(strstr(c, "\nx-amz-date:" S3_DATE "\n") != NULL, "x-amz-date trimmed");

	in.path = "";
	tap_inteq(mps3_sigv4_sign(&out, &in), 0, "empty path signs");
	tap_ok(strncmp(mps3_buf_cstr(&out.canonical_request), "GET\n/\n", 6) == 0, "an empty path is /");
	in.path = NULL;
	tap_inteq(mps3_sigv4_sign(&out, &in), 0, "NULL path signs");
	tap_ok(strncmp(mps3_buf_cstr(&out.canonical_request), "GET\n/\n", 6) == 0, "a NULL path is /");
	in.nquery = 0;
	in.query = NULL;
	tap_inteq(mps3_sigv4_sign(&out, &in), 0, "no query signs");
	tap_ok(out.query.len == 0 && strncmp(mps3_buf_cstr(&out.canonical_request), "GET\n/\n\n", 7) == 0,
	       "no query is an empty line");
	mps3_sigv4_output_dispose(&out);
}

/* Reusing one output gives the same result, and a failure leaves it empty. */
static void test_reuse(void)
{
	struct mps3_sigv4_input in;
	struct mps3_sigv4_output out;
	char first[65];

	mps3_sigv4_output_init(&out);
	input_from(&in, &vectors[0]);
	mps3_sigv4_sign(&out, &in);
	memcpy(first, out.signature, sizeof(first));
	tap_inteq(mps3_sigv4_sign(&out, &in), 0, "signing again into a used output");
	tap_streq(out.signature, first, "gives the same signature");
	tap_streq(out.signature, vectors[0].signature, "the published one");
	in.amz_date = "20130524T000000";
	tap_inteq(mps3_sigv4_sign(&out, &in), -EINVAL, "a refused input");
	tap_ok(out.signature[0] == '\0' && out.authorization.len == 0 && out.canonical_request.len == 0 &&
		       out.string_to_sign.len == 0 && out.query.len == 0,
	       "leaves no stale signature behind");
	mps3_sigv4_output_dispose(&out);
}

static void test_refusals(void)
{
	static const char *const bad_dates[] = {
		"2013-05-24T00:00:00Z", "20130524T000000", "20130524X000000Z", "2013052AT000000Z",
		"20130524T00000Z0", "20130524t000000z", "",
	};
	struct mps3_kv ok_h[] = { { "host", "h" }, { "x-amz-date", S3_DATE } };
	struct mps3_kv no_host[] = { { "x-amz-date", S3_DATE }, { "x-amz-meta-a", "b" } };
	struct mps3_kv no_date[] = { { "host", "h" }, { "date", "Fri, 24 May 2013 00:00:00 GMT" } };
	struct mps3_kv other_date[] = { { "host", "h" }, { "x-amz-date", "20130525T000000Z" } };
	struct mps3_kv bad_name[] = { { "host", "h" }, { "x-amz-date", S3_DATE }, { "x amz", "v" } };
	struct mps3_kv colon_name[] = { { "host", "h" }, { "x-amz-date", S3_DATE }, { "x:y", "v" } };
	struct mps3_kv empty_name[] = { { "host", "h" }, { "x-amz-date", S3_DATE }, { "", "v" } };
	struct mps3_kv null_qname[] = { { NULL, "v" } };
	struct mps3_sigv4_input in;
	struct mps3_sigv4_output out;
	size_t i;

	mps3_sigv4_output_init(&out);
	for (i = 0; i < sizeof(bad_dates) / sizeof(bad_dates[0]); i++) {
		struct mps3_kv h[] = { { "host", "h" }, { "x-amz-date", bad_dates[i] } };

		base_input(&in, h, 2);
		in.amz_date = bad_dates[i];
		tap_inteq(mps3_sigv4_sign(&out, &in), -EINVAL, "malformed amz_date \"%s\" refused", bad_dates[i]);
	}
	base_input(&in, ok_h, 2);
	in.amz_date = NULL;
	tap_inteq(mps3_sigv4_sign(&out, &in), -EINVAL, "NULL amz_date refused");

#define REFUSE(what, stmt)                                                        \
	do {                                                                      \
		base_input(&in, ok_h, 2);                                         \
		stmt;                                                             \
		tap_inteq(mps3_sigv4_sign(&out, &in), -EINVAL, "refused: %s", what); \
	} while (0)
	REFUSE("no host header", (in.headers = no_host, in.nheaders = 2));
	REFUSE("no x-amz-date header", (in.headers = no_date, in.nheaders = 2));
	REFUSE("x-amz-date header differs from amz_date", (in.headers = other_date, in.nheaders = 2));
	REFUSE("header name with a space", (in.headers = bad_name, in.nheaders = 3));
	REFUSE("header name with a colon", (in.headers = colon_name, in.nheaders = 3));
	REFUSE("empty header name", (in.headers = empty_name, in.nheaders = 3));
	REFUSE("NULL headers", (in.headers = NULL));
	REFUSE("NULL query name", (in.query = null_qname, in.nquery = 1));
	REFUSE("query count without query", (in.nquery = 2));
	REFUSE("unencoded space in path", in.path = "/a b");
	REFUSE("unencoded UTF-8 in path", in.path = "/na\xc3\xafve");
	REFUSE("'?' in path", in.path = "/a?b");
	REFUSE("payload hash in upper case", in.payload_hash = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855");
	REFUSE("payload hash too short", in.payload_hash = "e3b0");
	REFUSE("NULL payload hash", in.payload_hash = NULL);
	REFUSE("NULL method", in.method = NULL);
	REFUSE("method with a space", in.method = "GET /");
	REFUSE("NULL region", in.region = NULL);
	REFUSE("region with a slash", in.region = "us/east");
	REFUSE("empty service", in.service = "");
	REFUSE("NULL access key", in.access_key = NULL);
	REFUSE("NULL secret", in.secret_key = NULL);
	REFUSE("empty secret", in.secret_key = "");
#undef REFUSE
	mps3_sigv4_output_dispose(&out);
}

/* A secret made of characters that would survive any encoding step. */
static void test_secret_never_copied(void)
{
	static const char secret[] = "SECRETsecret0123456789SECRET";
	struct mps3_kv h[] = { { "host", "h" }, { "x-amz-date", S3_DATE } };
	struct mps3_kv q[] = { { "prefix", "p" } };
	struct mps3_sigv4_input in;
	struct mps3_sigv4_output out;

	mps3_sigv4_output_init(&out);
	base_input(&in, h, 2);
	in.query = q;
	in.nquery = 1;
	in.secret_key = secret;
	tap_inteq(mps3_sigv4_sign(&out, &in), 0, "sign with a marker secret");
	tap_ok(!leaks(&out, secret) && !leaks(&out, "SECRETsecret") && !leaks(&out, "0123456789SECRET"),
	       "no output holds the secret or a piece of it");
	mps3_sigv4_output_dispose(&out);
}

int main(void)
{
	test_vectors();
	test_payload_hashes();
	test_session_token();
	test_query_and_headers();
	test_reuse();
	test_refusals();
	test_secret_never_copied();
	return tap_done();
}
