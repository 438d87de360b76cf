/*
 * test_xml.c - S3 listings with the keys that break naive parsers
 * (entities, CDATA, markup-looking text, UTF-8, spaces, url encoding in
 * both the AWS '+' and the Swift "%20" flavour), paging, malformed and
 * hostile documents, error documents and the multipart replies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/buf.h"
#include "mps3/timefmt.h"
#include "mps3/xml.h"
#include "tap.h"

#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define HEAD DECL "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
#define TAIL "</ListBucketResult>"
#define ITEM(k)                                                                             \
	"<Contents><Key>" k "</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"   \
	"<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"      \
	"<StorageClass>STANDARD</StorageClass></Contents>"
#define SIZED(k, size) "<Contents><Key>" k "</Key><Size>" size "</Size></Contents>"
#define URL "<EncodingType>url</EncodingType>"
#define V2 "<KeyCount>2</KeyCount>"
#define TRUNC "<IsTruncated>true</IsTruncated>"

struct lcase {
	const char *name;
	const char *doc;
	int rc;
	size_t n;
	const char *keys[4];
	int truncated;
	const char *token;
};

static const struct lcase cases[] = {
	/* What keys can hold. */
	{ "plain V2 page", HEAD "<Name>b</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>"
	  "<IsTruncated>false</IsTruncated>" ITEM("a/b.txt") TAIL, 0, 1, { "a/b.txt" }, 0, NULL },
	{ "entities, and two spaces kept", HEAD ITEM("&amp;$@=;  :+,?") TAIL, 0, 1, { "&$@=;  :+,?" }, 0, NULL },
	{ "every predefined entity", HEAD ITEM("a&amp;b&lt;c&gt;d&quot;e&apos;f") TAIL, 0, 1,
	  { "a&b<c>d\"e'f" }, 0, NULL },
	{ "CDATA section", HEAD ITEM("<![CDATA[a&b<c>]]>") TAIL, 0, 1, { "a&b<c>" }, 0, NULL },
	{ "CDATA holding a CDATA terminator", HEAD ITEM("<![CDATA[<![CDATA[...]]]]><![CDATA[>]]>") TAIL, 0, 1,
	  { "<![CDATA[...]]>" }, 0, NULL },
	{ "text mixed with CDATA", HEAD ITEM("x<![CDATA[&amp;]]>y&amp;") TAIL, 0, 1, { "x&amp;y&" }, 0, NULL },
	{ "markup-looking text", HEAD ITEM("foo&lt;Contents&gt;") TAIL, 0, 1, { "foo<Contents>" }, 0, NULL },
	{ "unicode and spaces", HEAD ITEM("na\xc3\xafve/\xe6\x97\xa5\xe6\x9c\xac \xe8\xaa\x9e/\xf0\x9f\x99\x82 x") TAIL,
	  0, 1, { "na\xc3\xafve/\xe6\x97\xa5\xe6\x9c\xac \xe8\xaa\x9e/\xf0\x9f\x99\x82 x" }, 0, NULL },
	{ "character references", HEAD ITEM("tab&#9;nl&#10;&#x41;&#x65E5;") TAIL, 0, 1,
	  { "tab\tnl\nA\xe6\x97\xa5" }, 0, NULL },
	{ "leading and trailing blanks kept", HEAD ITEM("  padded  ") TAIL, 0, 1, { "  padded  " }, 0, NULL },
	{ "line ends normalised as XML says", HEAD ITEM("a\nb\r\nc") TAIL, 0, 1, { "a\nb\nc" }, 0, NULL },
	{ "text split by a comment", HEAD ITEM("ab<!-- c -->cd") TAIL, 0, 1, { "abcd" }, 0, NULL },
	{ "keys in order, several", HEAD ITEM("a") ITEM("a/b") ITEM("b") TAIL, 0, 3, { "a", "a/b", "b" }, 0, NULL },

	/* encoding-type=url: AWS writes a space as '+', Swift as "%20"; '+' itself is "%2B". */
	{ "url: Swift-style %20", HEAD URL ITEM("%26%24%40%3D%3B%20%20%3A%2B%2C%3F") TAIL, 0, 1,
	  { "&$@=;  :+,?" }, 0, NULL },
	{ "url: AWS-style +", HEAD URL ITEM("%26%24%40%3D%3B++%3A%2B%2C%3F") TAIL, 0, 1, { "&$@=;  :+,?" }, 0, NULL },
	{ "url: %2B is a plus, + a space", HEAD URL ITEM("a%2Bb+c") TAIL, 0, 1, { "a+b c" }, 0, NULL },
	{ "url: UTF-8 and slashes", HEAD URL ITEM("na%C3%AFve%2F%E6%97%A5%E6%9C%AC") ITEM("a/b%2Fc") TAIL, 0, 2,
	  { "na\xc3\xafve/\xe6\x97\xa5\xe6\x9c\xac", "a/b/c" }, 0, NULL },
	{ "url: markup and control bytes", HEAD URL ITEM("foo%3CContents%3E%0A%09") TAIL, 0, 1,
	  { "foo<Contents>\n\t" }, 0, NULL },
	{ "url: lower-case escapes", HEAD URL ITEM("%c3%af") TAIL, 0, 1, { "\xc3\xaf" }, 0, NULL },
	{ "url: EncodingType after the keys, as V2 orders it", HEAD ITEM("a%2Bb") URL TAIL, 0, 1, { "a+b" }, 0, NULL },
	{ "no EncodingType: escapes are literal", HEAD ITEM("a%2Bb+c") TAIL, 0, 1, { "a%2Bb+c" }, 0, NULL },
	{ "empty EncodingType: escapes are literal", HEAD "<EncodingType></EncodingType>" ITEM("a%2B") TAIL, 0, 1,
	  { "a%2B" }, 0, NULL },

	/* Paging. */
	{ "truncated V2 page", HEAD TRUNC "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
	  V2 ITEM("x") ITEM("y") TAIL, 0, 2, { "x", "y" }, 1, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=" },
	{ "url: the continuation token is opaque, not decoded", HEAD TRUNC URL V2
	  "<NextContinuationToken>a%2Bb+c</NextContinuationToken>" ITEM("x") TAIL, 0, 1, { "x" }, 1, "a%2Bb+c" },
	{ "truncated V2 page, CommonPrefixes only", HEAD TRUNC "<KeyCount>1</KeyCount><NextContinuationToken>t</NextContinuationToken>"
	  "<CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes>" TAIL, 0, 0, { NULL }, 1, "t" },
	{ "truncated V1 page with NextMarker", HEAD TRUNC "<Marker></Marker><NextMarker>d/</NextMarker>" ITEM("x") TAIL,
	  0, 1, { "x" }, 1, "d/" },
	{ "url: V1 NextMarker decoded like keys", HEAD TRUNC URL "<NextMarker>x%2By+z</NextMarker>" ITEM("x") TAIL,
	  0, 1, { "x" }, 1, "x+y z" },
	{ "truncated V1 page without NextMarker goes on after the last key", HEAD TRUNC "<Marker></Marker>"
	  ITEM("x") ITEM("y y") TAIL, 0, 2, { "x", "y y" }, 1, "y y" },
	{ "url: ... the decoded last key", HEAD TRUNC URL ITEM("x") ITEM("y+%2By") TAIL, 0, 2, { "x", "y +y" }, 1, "y +y" },
	{ "not truncated: a stray token is dropped", HEAD "<IsTruncated>false</IsTruncated>"
	  "<NextContinuationToken>t</NextContinuationToken>" ITEM("x") TAIL, 0, 1, { "x" }, 0, NULL },
	{ "empty listing", HEAD "<Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>" TAIL,
	  0, 0, { NULL }, 0, NULL },
	{ "empty root element", DECL "<ListBucketResult/>", 0, 0, { NULL }, 0, NULL },

	/* What a reader must skip. */
	{ "CommonPrefixes, Owner and unknown fields ignored", HEAD "<Delimiter>/</Delimiter>"
	  "<Contents><Key>k</Key><Owner><ID>x</ID><DisplayName>Key</DisplayName></Owner><Size>1</Size>"
	  "<ChecksumAlgorithm>CRC32</ChecksumAlgorithm><RestoreStatus><IsRestoreInProgress>true</IsRestoreInProgress>"
	  "</RestoreStatus><Future><Key>nested</Key></Future></Contents>"
	  "<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>e/</Prefix></CommonPrefixes>"
	  "<Key>not an entry</Key>" TAIL, 0, 1, { "k" }, 0, NULL },
	{ "namespace prefix", DECL "<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	  "<s3:Contents><s3:Key>k</s3:Key><s3:Size>3</s3:Size></s3:Contents></s3:ListBucketResult>",
	  0, 1, { "k" }, 0, NULL },
	{ "no namespace, no declaration", "<ListBucketResult>" SIZED("k", "3") TAIL, 0, 1, { "k" }, 0, NULL },
	{ "whitespace before the declaration", " \r\n\t" HEAD ITEM("k") TAIL, 0, 1, { "k" }, 0, NULL },
	{ "pretty-printed", HEAD "\n  <Contents>\n    <Key>k</Key>\n    <Size>1</Size>\n  </Contents>\n" TAIL "\n",
	  0, 1, { "k" }, 0, NULL },
	{ "largest size", HEAD SIZED("k", "18446744073709551615") TAIL, 0, 1, { "k" }, 0, NULL },

	/* Malformed or hostile: refused, nothing added. */
	{ "unclosed tag", HEAD ITEM("x"), -EPROTO, 0, { NULL }, 0, NULL },
	{ "mismatched tag", HEAD "<Contents><Key>x</Size></Contents>" TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "raw markup in a key", HEAD ITEM("foo<Contents>") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "element inside a key", HEAD "<Contents><Key>a<b/>c</Key><Size>1</Size></Contents>" TAIL,
	  -EPROTO, 0, { NULL }, 0, NULL },
	{ "bare ampersand", HEAD ITEM("a&b") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "undefined entity", HEAD ITEM("&nbsp;") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "wrong root", DECL "<ListAllMyBucketsResult></ListAllMyBucketsResult>", -EPROTO, 0, { NULL }, 0, NULL },
	{ "an Error document", DECL "<Error><Code>AccessDenied</Code></Error>", -EPROTO, 0, { NULL }, 0, NULL },
	{ "junk after the root", HEAD ITEM("x") TAIL "<x/>", -EPROTO, 0, { NULL }, 0, NULL },
	{ "text after the root", HEAD ITEM("x") TAIL "x", -EPROTO, 0, { NULL }, 0, NULL },
	{ "bad size", HEAD SIZED("x", "12a") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "negative size", HEAD SIZED("x", "-1") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "size with a plus", HEAD SIZED("x", "+1") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "size with blanks", HEAD SIZED("x", " 1") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "empty size", HEAD SIZED("x", "") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "fractional size", HEAD SIZED("x", "1.0") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "size past 2^64", HEAD SIZED("x", "18446744073709551616") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "no size", HEAD "<Contents><Key>x</Key></Contents>" TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "bad date", HEAD "<Contents><Key>x</Key><Size>1</Size><LastModified>yesterday</LastModified></Contents>" TAIL,
	  -EPROTO, 0, { NULL }, 0, NULL },
	{ "no key", HEAD "<Contents><Size>1</Size></Contents>" TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "empty key", HEAD SIZED("", "1") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "two keys in one entry", HEAD "<Contents><Key>a</Key><Key>b</Key><Size>1</Size></Contents>" TAIL,
	  -EPROTO, 0, { NULL }, 0, NULL },
	{ "IsTruncated neither true nor false", HEAD "<IsTruncated>yes</IsTruncated>" TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "IsTruncated twice", HEAD "<IsTruncated>false</IsTruncated><IsTruncated>true</IsTruncated>" TAIL,
	  -EPROTO, 0, { NULL }, 0, NULL },
	{ "unknown EncodingType", HEAD "<EncodingType>base64</EncodingType>" ITEM("x") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "url: bad escape", HEAD URL ITEM("%zz") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "url: cut escape", HEAD URL ITEM("ab%4") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "url: escaped NUL", HEAD URL ITEM("a%00b") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "url: bad escape in the second key", HEAD URL ITEM("fine") ITEM("%G1") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "truncated V2 page without a token", HEAD TRUNC V2 ITEM("x") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "truncated page with nothing to continue after", HEAD TRUNC TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "ETag longer than any", HEAD "<Contents><Key>x</Key><Size>1</Size><ETag>&quot;"
	  "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "&quot;</ETag></Contents>" TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "DOCTYPE with an entity", DECL "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><ListBucketResult>" ITEM("&a;") TAIL,
	  -EPROTO, 0, { NULL }, 0, NULL },
	{ "DOCTYPE alone", DECL "<!DOCTYPE ListBucketResult><ListBucketResult>" ITEM("k") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "undeclared namespace prefix", DECL "<s3:ListBucketResult></s3:ListBucketResult>", -EPROTO, 0, { NULL }, 0, NULL },
	{ "garbage", "\x01\x02 not xml", -EPROTO, 0, { NULL }, 0, NULL },
	{ "HTML", "<html><body>502 Bad Gateway</body></html>", -EPROTO, 0, { NULL }, 0, NULL },
	{ "empty document", "", -EPROTO, 0, { NULL }, 0, NULL },
	{ "only whitespace", " \n ", -EPROTO, 0, { NULL }, 0, NULL },
	{ "only a declaration", DECL, -EPROTO, 0, { NULL }, 0, NULL },
	{ "invalid UTF-8", HEAD ITEM("\xc3\x28") TAIL, -EPROTO, 0, { NULL }, 0, NULL },
};

static void test_listing_cases(void)
{
	size_t i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct lcase *c = &cases[i];
		struct mps3_listing l;
		int rc, ok;

		mps3_listing_init(&l);
		rc = mps3_xml_parse_listing(&l, c->doc, strlen(c->doc));
		ok = rc == c->rc && l.n == c->n && l.truncated == c->truncated;
		for (j = 0; ok && j < l.n; j++)
			ok = strcmp(l.v[j].key, c->keys[j]) == 0;
		if (ok)
			ok = c->token ? l.next_token && strcmp(l.next_token, c->token) == 0 : l.next_token == NULL;
		if (!tap_ok(ok, "listing: %s", c->name)) {
			tap_diag("rc %d (want %d), %zu keys, truncated %d, token %s", rc, c->rc, l.n, l.truncated,
				 l.next_token ? l.next_token : "(none)");
			for (j = 0; j < l.n; j++)
				tap_diag("key[%zu] = \"%s\"", j, l.v[j].key);
		}
		mps3_listing_dispose(&l);
	}
}

static void test_listing_info(void)
{
	const char *doc = HEAD ITEM("a")
		"<Contents><Key>b</Key><Size>0</Size><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
		"<LastModified>2038-01-19T03:14:08.123Z</LastModified></Contents>"
		"<Contents><Key>c</Key><Size>18446744073709551615</Size><ETag>plain</ETag></Contents>" TAIL;
	struct mps3_listing l;

	mps3_listing_init(&l);
	tap_inteq(mps3_xml_parse_listing(&l, doc, strlen(doc)), 0, "listing with details parses");
	tap_ok(l.n == 3 && l.v[0].info.size == 434234 && l.v[0].info.mtime_ms == 1255369830000 &&
		       strcmp(l.v[0].info.etag, "fba9dede5f27731c9771645a39863328") == 0,
	       "size, LastModified and the &quot;-quoted ETag unquoted");
	tap_ok(l.n == 3 && l.v[1].info.size == 0 && l.v[1].info.mtime_ms == 2147483648123LL &&
		       strcmp(l.v[1].info.etag, "3858f62230ac3c915f300c664312c11f-9") == 0,
	       "a literally quoted multipart ETag, a date past 2038, size 0");
	tap_ok(l.n == 3 && l.v[2].info.size == UINT64_MAX && l.v[2].info.mtime_ms == 0 &&
		       strcmp(l.v[2].info.etag, "plain") == 0,
	       "an unquoted ETag kept, a missing LastModified is 0");
	mps3_listing_dispose(&l);
}

/* Pages append; a failed page leaves what earlier pages gave untouched. */
static void test_listing_append(void)
{
	const char *p1 = HEAD TRUNC V2 "<NextContinuationToken>t1</NextContinuationToken>" ITEM("a") ITEM("b") TAIL;
	const char *p2 = HEAD "<IsTruncated>false</IsTruncated>" V2 ITEM("c") TAIL;
	const char *bad = HEAD TRUNC V2 "<NextContinuationToken>t3</NextContinuationToken>" ITEM("d") SIZED("e", "x") TAIL;
	struct mps3_listing l;

	mps3_listing_init(&l);
	tap_inteq(mps3_xml_parse_listing(&l, p1, strlen(p1)), 0, "page 1");
	tap_ok(l.n == 2 && l.truncated && l.next_token && strcmp(l.next_token, "t1") == 0, "page 1 is truncated, token t1");
	tap_inteq(mps3_xml_parse_listing(&l, bad, strlen(bad)), -EPROTO, "a bad page");
	tap_ok(l.n == 2 && l.truncated && l.next_token && strcmp(l.next_token, "t1") == 0,
	       "leaves the listing as page 1 left it");
	tap_inteq(mps3_xml_parse_listing(&l, p2, strlen(p2)), 0, "page 2");
	tap_ok(l.n == 3 && strcmp(l.v[2].key, "c") == 0 && !l.truncated && l.next_token == NULL,
	       "page 2 appended, the listing is complete");
	mps3_listing_dispose(&l);
}

static char *repeat_doc(const char *head, size_t n, char fill, const char *tail)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *d = malloc(hl + n + tl + 1);

	if (!d)
		return NULL;
	memcpy(d, head, hl);
	memset(d + hl, fill, n);
	memcpy(d + hl + n, tail, tl + 1);
	return d;
}

/* Bounds: what S3 can send passes, what it cannot is refused, not buffered. */
static void test_listing_bounds(void)
{
	static const struct {
		const char *name, *head, *tail;
		size_t n;
		int rc;
	} b[] = {
		{ "a 4096-byte key", HEAD "<Contents><Key>", "</Key><Size>1</Size></Contents>" TAIL, 4096, 0 },
		{ "a 4097-byte key", HEAD "<Contents><Key>", "</Key><Size>1</Size></Contents>" TAIL, 4097, -EPROTO },
		{ "a 1 MiB key", HEAD "<Contents><Key>", "</Key><Size>1</Size></Contents>" TAIL, 1 << 20, -EPROTO },
		{ "a 5000-byte token", HEAD TRUNC "<NextContinuationToken>", "</NextContinuationToken>" ITEM("k") TAIL,
		  5000, -EPROTO },
		{ "a 1 MiB Size", HEAD "<Contents><Key>k</Key><Size>", "</Size></Contents>" TAIL, 1 << 20, -EPROTO },
		{ "1 MiB of an ignored field", HEAD "<Contents><Key>k</Key><Size>1</Size><Owner><DisplayName>",
		  "</DisplayName></Owner></Contents>" TAIL, 1 << 20, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		struct mps3_listing l;
		char *doc = repeat_doc(b[i].head, b[i].n, '7', b[i].tail);

		mps3_listing_init(&l);
		tap_inteq(doc ? mps3_xml_parse_listing(&l, doc, strlen(doc)) : -ENOMEM, b[i].rc, "bounds: %s", b[i].name);
		mps3_listing_dispose(&l);
		free(doc);
	}
	{
		/* Deep nesting of unknown elements: refused before expat's stack grows. */
		char doc[2048] = HEAD;
		struct mps3_listing l;
		int d;

		for (d = 0; d < 100; d++)
			strcat(doc, "<x>");
		for (d = 0; d < 100; d++)
			strcat(doc, "</x>");
		strcat(doc, TAIL);
		mps3_listing_init(&l);
		tap_inteq(mps3_xml_parse_listing(&l, doc, strlen(doc)), -EPROTO, "bounds: 100 nested elements");
		mps3_listing_dispose(&l);
	}
	{
		const char doc[] = HEAD ITEM("a\0b") TAIL;
		struct mps3_listing l;

		mps3_listing_init(&l);
		tap_inteq(mps3_xml_parse_listing(&l, doc, sizeof(doc) - 1), -EPROTO, "bounds: a NUL byte in the text");
		mps3_listing_dispose(&l);
	}
}

/* A full page of awkward keys: every one back, decoded, in order. */
static void test_listing_full_page(void)
{
	static const char *const sent[] = { " &amp; x", "<![CDATA[<&>]]>", "/\xe6\x97\xa5", "&#x20;" };
	static const char *const want[] = { " & x", "<&>", "/\xe6\x97\xa5", " " };
	struct mps3_buf doc = MPS3_BUF_INIT;
	struct mps3_listing l;
	char expect[64];
	int i, ok;

	mps3_buf_puts(&doc, HEAD "<KeyCount>1000</KeyCount><IsTruncated>true</IsTruncated>"
			    "<NextContinuationToken>next</NextContinuationToken>");
	for (i = 0; i < 1000; i++)
		mps3_buf_printf(&doc, "<Contents><Key>k%04d%s</Key><Size>%d</Size></Contents>", i, sent[i % 4], i);
	mps3_buf_puts(&doc, TAIL);
	mps3_listing_init(&l);
	tap_inteq(mps3_xml_parse_listing(&l, doc.data, doc.len), 0, "a 1000-key page parses");
	ok = l.n == 1000 && l.truncated && l.next_token && strcmp(l.next_token, "next") == 0;
	for (i = 0; ok && i < 1000; i++) {
		snprintf(expect, sizeof(expect), "k%04d%s", i, want[i % 4]);
		ok = strcmp(l.v[i].key, expect) == 0 && l.v[i].info.size == (uint64_t)i;
	}
	tap_ok(ok, "every key and size back, in order");
	mps3_listing_dispose(&l);
	mps3_buf_dispose(&doc);
}

static void test_error(void)
{
	const char *err = DECL "<Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist</Message>"
			  "<Resource>/mybucket/myfoto.jpg</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>";
	const char *no_code = DECL "<Error><Message>m</Message></Error>";
	const char *escaped = "<Error><Code>SignatureDoesNotMatch</Code><Message>a &amp; b &lt;c&gt;</Message>"
			      "<StringToSign>AWS4-HMAC-SHA256&#10;x</StringToSign><HostId>h</HostId></Error>";
	struct mps3_s3_error e;
	struct mps3_buf big = MPS3_BUF_INIT;
	int i;

	tap_inteq(mps3_xml_parse_error(&e, err, strlen(err)), 0, "error document");
	tap_streq(e.code, "NoSuchKey", "error code");
	tap_streq(e.message, "The resource you requested does not exist", "error message");
	tap_streq(e.request_id, "4442587FB7D0A2F9", "request id");
	tap_ok(mps3_xml_parse_error(&e, no_code, strlen(no_code)) == 0 && e.code[0] == '\0' &&
		       strcmp(e.message, "m") == 0 && e.request_id[0] == '\0',
	       "absent fields are empty");
	tap_ok(mps3_xml_parse_error(&e, escaped, strlen(escaped)) == 0 &&
		       strcmp(e.code, "SignatureDoesNotMatch") == 0 && strcmp(e.message, "a & b <c>") == 0,
	       "entities in an error message, other fields ignored");

	/* 254 ASCII bytes, then a two-byte character that does not fit in 255. */
	mps3_buf_puts(&big, "<Error><Code>C</Code><Message>");
	for (i = 0; i < 254; i++)
		mps3_buf_puts(&big, "a");
	mps3_buf_puts(&big, "\xc3\xa9</Message></Error>");
	tap_ok(mps3_xml_parse_error(&e, big.data, big.len) == 0 && strlen(e.message) == 254,
	       "a long message is clipped before a character, not inside it");
	mps3_buf_reset(&big);
	mps3_buf_puts(&big, "<Error><Code>");
	for (i = 0; i < 100000; i++)
		mps3_buf_puts(&big, "x");
	mps3_buf_puts(&big, "</Code></Error>");
	tap_ok(mps3_xml_parse_error(&e, big.data, big.len) == 0 && strlen(e.code) == sizeof(e.code) - 1,
	       "a 100000-byte code is clipped, not refused");
	mps3_buf_dispose(&big);

	tap_inteq(mps3_xml_parse_error(&e, "<html>Bad Request</html>", 24), -EPROTO, "HTML instead of an error document");
	tap_inteq(mps3_xml_parse_error(&e, "", 0), -EPROTO, "empty body");
	tap_inteq(mps3_xml_parse_error(&e, "<Error><Code>x</Code>", 21), -EPROTO, "cut-off error document");
	tap_ok(e.code[0] == '\0' && e.message[0] == '\0', "and a refused document leaves the fields empty");
}

static void test_upload_id(void)
{
	const char *init = DECL "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			   "<Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
			   "</InitiateMultipartUploadResult>";
	static const struct {
		const char *name, *doc;
	} bad[] = {
		{ "no UploadId", "<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>" },
		{ "empty UploadId", "<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>" },
		{ "two UploadIds", "<InitiateMultipartUploadResult><UploadId>a</UploadId><UploadId>b</UploadId>"
				   "</InitiateMultipartUploadResult>" },
		{ "wrong root", "<CompleteMultipartUploadResult><UploadId>a</UploadId></CompleteMultipartUploadResult>" },
		{ "an Error", "<Error><Code>AccessDenied</Code></Error>" },
		{ "cut off", "<InitiateMultipartUploadResult><UploadId>abc</UploadId>" },
	};
	char *id = NULL, *huge;
	size_t i;

	tap_inteq(mps3_xml_parse_upload_id(&id, init, strlen(init)), 0, "InitiateMultipartUploadResult");
	tap_streq(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA", "upload id");
	free(id);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		id = (char *)"stale";
		tap_ok(mps3_xml_parse_upload_id(&id, bad[i].doc, strlen(bad[i].doc)) == -EPROTO && id == NULL,
		       "upload id refused: %s", bad[i].name);
	}
	huge = repeat_doc("<InitiateMultipartUploadResult><UploadId>", 5000, 'u',
			  "</UploadId></InitiateMultipartUploadResult>");
	tap_ok(huge && mps3_xml_parse_upload_id(&id, huge, strlen(huge)) == -EPROTO && id == NULL,
	       "upload id refused: 5000 bytes long");
	free(huge);
}

static void test_complete(void)
{
	const char *done = DECL "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			   "<Location>http://b.s3.amazonaws.com/k</Location><Bucket>b</Bucket><Key>k</Key>"
			   "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>";
	/* While it assembles the parts S3 sends blanks to keep the connection open. */
	const char *padded = "\n \n \n \n" DECL "<CompleteMultipartUploadResult><ETag>&quot;abc-2&quot;</ETag>"
			     "<ChecksumCRC32>x</ChecksumCRC32></CompleteMultipartUploadResult>";
	const char *err200 = " \n \n" DECL "\n<Error><Code>InternalError</Code>"
			     "<Message>We encountered an internal error. Please try again.</Message>"
			     "<RequestId>656c76696e6727732072657175657374</RequestId>"
			     "<HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId></Error>";
	static const struct {
		const char *name, *doc;
	} bad[] = {
		{ "no ETag", "<CompleteMultipartUploadResult><Key>k</Key></CompleteMultipartUploadResult>" },
		{ "empty ETag", "<CompleteMultipartUploadResult><ETag>\"\"</ETag></CompleteMultipartUploadResult>" },
		{ "ETag too long", "<CompleteMultipartUploadResult><ETag>"
				   "01234567890123456789012345678901234567890123456789012345678901234567890123456789"
				   "</ETag></CompleteMultipartUploadResult>" },
		{ "cut off after the ETag", "<CompleteMultipartUploadResult><ETag>\"e\"</ETag>" },
		{ "cut-off Error", "<Error><Code>InternalError</Code>" },
		{ "wrong root", "<InitiateMultipartUploadResult><ETag>e</ETag></InitiateMultipartUploadResult>" },
		{ "garbage", "\xff\xfe" },
	};
	struct mps3_s3_error e;
	char etag[MPS3_ETAG_MAX];
	size_t i;

	tap_inteq(mps3_xml_parse_complete(etag, &e, done, strlen(done)), 0, "CompleteMultipartUploadResult");
	tap_streq(etag, "3858f62230ac3c915f300c664312c11f-9", "its ETag, unquoted");
	tap_inteq(mps3_xml_parse_complete(etag, &e, padded, strlen(padded)), 0, "a reply padded with blanks");
	tap_streq(etag, "abc-2", "its &quot;-quoted ETag, unquoted");
	tap_inteq(mps3_xml_parse_complete(etag, &e, err200, strlen(err200)), -EIO, "200 with an Error document is -EIO");
	tap_ok(strcmp(e.code, "InternalError") == 0 && strcmp(e.message, "We encountered an internal error. Please try again.") == 0 &&
		       strcmp(e.request_id, "656c76696e6727732072657175657374") == 0 && etag[0] == '\0',
	       "with the error filled in and no ETag");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(etag, "stale");
		strcpy(e.code, "stale");
		tap_ok(mps3_xml_parse_complete(etag, &e, bad[i].doc, strlen(bad[i].doc)) == -EPROTO &&
			       etag[0] == '\0' && e.code[0] == '\0',
		       "complete refused: %s", bad[i].name);
	}
}

/* STS's replies, shaped as AWS documents them for AssumeRole and AssumeRoleWithWebIdentity. */
static void test_sts(void)
{
	const char *assume = DECL "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
			     "<AssumeRoleResult><SourceIdentity>x</SourceIdentity><AssumedRoleUser><Arn>arn</Arn>"
			     "<AssumedRoleId>ARO:s</AssumedRoleId></AssumedRoleUser><Credentials>"
			     "<AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>wJalr/K7MDENG</SecretAccessKey>"
			     "<SessionToken>AQoDYXdzEPT//////////w==</SessionToken>"
			     "<Expiration>2019-11-09T13:34:41Z</Expiration></Credentials>"
			     "<PackedPolicySize>6</PackedPolicySize></AssumeRoleResult>"
			     "<ResponseMetadata><RequestId>c6104cbe</RequestId></ResponseMetadata></AssumeRoleResponse>";
	const char *web = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
			  "<SubjectFromWebIdentityToken>sub</SubjectFromWebIdentityToken><Credentials>"
			  "<SessionToken>T</SessionToken><SecretAccessKey>S</SecretAccessKey>"
			  "<Expiration>2014-10-24T23:00:23.000Z</Expiration><AccessKeyId>A</AccessKeyId>"
			  "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
	const char *err = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
			  "<Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message></Error>"
			  "<RequestId>r1</RequestId></ErrorResponse>";
	static const struct {
		const char *name, *doc;
	} bad[] = {
		{ "no token", "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>A</AccessKeyId>"
			      "<SecretAccessKey>S</SecretAccessKey><Expiration>2019-11-09T13:34:41Z</Expiration>"
			      "</Credentials></AssumeRoleResult></AssumeRoleResponse>" },
		{ "fields outside Credentials", "<AssumeRoleResponse><AssumeRoleResult><AccessKeyId>A</AccessKeyId>"
						"<SecretAccessKey>S</SecretAccessKey><SessionToken>T</SessionToken>"
						"<Expiration>2019-11-09T13:34:41Z</Expiration></AssumeRoleResult>"
						"</AssumeRoleResponse>" },
		{ "a bad Expiration", "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>A</AccessKeyId>"
				      "<SecretAccessKey>S</SecretAccessKey><SessionToken>T</SessionToken>"
				      "<Expiration>tomorrow</Expiration></Credentials></AssumeRoleResult>"
				      "</AssumeRoleResponse>" },
		{ "two AccessKeyIds", "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>A</AccessKeyId>"
				      "<AccessKeyId>B</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
				      "<SessionToken>T</SessionToken><Expiration>2019-11-09T13:34:41Z</Expiration>"
				      "</Credentials></AssumeRoleResult></AssumeRoleResponse>" },
		{ "an empty secret", "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>A</AccessKeyId>"
				     "<SecretAccessKey></SecretAccessKey><SessionToken>T</SessionToken>"
				     "<Expiration>2019-11-09T13:34:41Z</Expiration></Credentials></AssumeRoleResult>"
				     "</AssumeRoleResponse>" },
		{ "wrong root", "<ListBucketResult></ListBucketResult>" },
	};
	struct mps3_sts_credentials c;
	struct mps3_s3_error e;
	int64_t want;
	size_t i;

	tap_inteq(mps3_xml_parse_sts(&c, &e, assume, strlen(assume)), 0, "sts: AssumeRoleResponse");
	mps3_time_parse_iso8601(&want, "2019-11-09T13:34:41Z", 20);
	tap_ok(c.access_key && strcmp(c.access_key, "ASIAEXAMPLE") == 0 && strcmp(c.secret_key, "wJalr/K7MDENG") == 0 &&
		       strcmp(c.session_token, "AQoDYXdzEPT//////////w==") == 0 && c.expires_ms == want,
	       "sts: its four fields, other elements skipped");
	mps3_sts_credentials_dispose(&c);
	tap_inteq(mps3_xml_parse_sts(&c, &e, web, strlen(web)), 0, "sts: AssumeRoleWithWebIdentityResponse");
	tap_ok(c.access_key && strcmp(c.access_key, "A") == 0 && strcmp(c.session_token, "T") == 0,
	       "sts: fields in any order");
	mps3_sts_credentials_dispose(&c);
	tap_inteq(mps3_xml_parse_sts(&c, &e, err, strlen(err)), -EIO, "sts: an ErrorResponse is -EIO");
	tap_ok(strcmp(e.code, "AccessDenied") == 0 && strstr(e.message, "sts:AssumeRole") && !c.access_key,
	       "sts: with its code and message");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		tap_ok(mps3_xml_parse_sts(&c, &e, bad[i].doc, strlen(bad[i].doc)) == -EPROTO && !c.access_key &&
			       !c.secret_key,
		       "sts refused: %s", bad[i].name);
}

int main(void)
{
	test_listing_cases();
	test_listing_info();
	test_listing_append();
	test_listing_bounds();
	test_listing_full_page();
	test_error();
	test_upload_id();
	test_complete();
	test_sts();
	return tap_done();
}
