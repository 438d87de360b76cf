/*
 * test_xml.c - S3 listings with the keys that break naive parsers
 * (entities, CDATA, markup-like text, UTF-8, spaces, url encoding), paging
 * fields, malformed documents, error documents and multipart replies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/xml.h"
#include "tap.h"

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	     "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
#define ITEM(k) "<Contents><Key>" k "</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>" \
		"<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>" \
		"<StorageClass>STANDARD</StorageClass></Contents>"

static const struct {
	const char *name;
	const char *doc;
	int rc;
	size_t n;
	const char *keys[4];
	int truncated;
	const char *token;
} cases[] = {
	{ "plain", HEAD "<Name>b</Name><KeyCount>1</KeyCount><IsTruncated>false</IsTruncated>" ITEM("a/b.txt") "</ListBucketResult>",
	  0, 1, { "a/b.txt" }, 0, NULL },
	{ "entities and two spaces", HEAD ITEM("&amp;$@=;  :+,?") "</ListBucketResult>", 0, 1, { "&$@=;  :+,?" }, 0, NULL },
	{ "CDATA section", HEAD ITEM("<![CDATA[<![CDATA[...]]]]><![CDATA[>]]>") "</ListBucketResult>", 0, 1,
	  { "<![CDATA[...]]>" }, 0, NULL },
	{ "markup-looking text", HEAD ITEM("foo&lt;Contents&gt;") "</ListBucketResult>", 0, 1, { "foo<Contents>" }, 0, NULL },
	{ "unicode and spaces", HEAD ITEM("naïve/日本 語/🙂 x") "</ListBucketResult>", 0, 1, { "naïve/日本 語/🙂 x" }, 0, NULL },
	{ "numeric character references", HEAD ITEM("tab&#9;nl&#10;&#x41;") "</ListBucketResult>", 0, 1, { "tab\tnl\nA" }, 0, NULL },
	{ "url encoding-type", HEAD "<EncodingType>url</EncodingType>" ITEM("%26%24%40%3D%3B+%20%3A%2B%2C%3F") ITEM("na%C3%AFve%2F%E6%97%A5") "</ListBucketResult>",
	  0, 2, { "&$@=;  :+,?", "naïve/日" }, 0, NULL },
	{ "url encoding-type after the keys", HEAD ITEM("a%2Bb") "<EncodingType>url</EncodingType></ListBucketResult>", 0, 1, { "a+b" }, 0, NULL },
	{ "truncated V2 page", HEAD "<IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
	  ITEM("x") ITEM("y") "</ListBucketResult>", 0, 2, { "x", "y" }, 1, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=" },
	{ "truncated V1 page without NextMarker", HEAD "<IsTruncated>true</IsTruncated>" ITEM("x") ITEM("y") "</ListBucketResult>",
	  0, 2, { "x", "y" }, 1, "y" },
	{ "empty listing", HEAD "<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>", 0, 0, { NULL }, 0, NULL },
	{ "common prefixes ignored", HEAD ITEM("k") "<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes></ListBucketResult>", 0, 1, { "k" }, 0, NULL },
	{ "text split by a comment", HEAD ITEM("ab<!-- c -->cd") "</ListBucketResult>", 0, 1, { "abcd" }, 0, NULL },
	{ "unclosed tag", HEAD ITEM("x"), -EPROTO, 0, { NULL }, 0, NULL },
	{ "wrong root", "<ListAllMyBucketsResult></ListAllMyBucketsResult>", -EPROTO, 0, { NULL }, 0, NULL },
	{ "bad size", HEAD "<Contents><Key>x</Key><Size>12a</Size></Contents></ListBucketResult>", -EPROTO, 0, { NULL }, 0, NULL },
	{ "negative size", HEAD "<Contents><Key>x</Key><Size>-1</Size></Contents></ListBucketResult>", -EPROTO, 0, { NULL }, 0, NULL },
	{ "bad date", HEAD "<Contents><Key>x</Key><LastModified>yesterday</LastModified></Contents></ListBucketResult>", -EPROTO, 0, { NULL }, 0, NULL },
	{ "entry without key", HEAD "<Contents><Size>1</Size></Contents></ListBucketResult>", -EPROTO, 0, { NULL }, 0, NULL },
	{ "bad url escape", HEAD "<EncodingType>url</EncodingType>" ITEM("%zz") "</ListBucketResult>", -EPROTO, 0, { NULL }, 0, NULL },
	{ "truncated without a way to continue", HEAD "<IsTruncated>true</IsTruncated></ListBucketResult>", -EPROTO, 0, { NULL }, 0, NULL },
	{ "garbage", "\x01\x02 not xml", -EPROTO, 0, { NULL }, 0, NULL },
	{ "DOCTYPE refused", "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><ListBucketResult>" ITEM("&a;") "</ListBucketResult>",
	  -EPROTO, 0, { NULL }, 0, NULL },
};

static void test_listings(void)
{
	size_t i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mps3_listing l;
		int rc, ok;

		mps3_listing_init(&l);
		rc = mps3_xml_parse_listing(&l, cases[i].doc, strlen(cases[i].doc));
		ok = rc == cases[i].rc && l.n == cases[i].n && l.truncated == cases[i].truncated;
		for (j = 0; ok && j < l.n; j++)
			ok = strcmp(l.v[j].key, cases[i].keys[j]) == 0;
		if (ok && cases[i].token)
			ok = l.next_token && strcmp(l.next_token, cases[i].token) == 0;
		if (!tap_ok(ok, "listing: %s", cases[i].name)) {
			tap_diag("rc %d, %zu keys, truncated %d", rc, l.n, l.truncated);
			for (j = 0; j < l.n; j++)
				tap_diag("key[%zu] = \"%s\"", j, l.v[j].key);
		}
		mps3_listing_dispose(&l);
	}
	{
		struct mps3_listing l;
		const char *doc = HEAD ITEM("a") "</ListBucketResult>";

		mps3_listing_init(&l);
		mps3_xml_parse_listing(&l, doc, strlen(doc));
		tap_ok(l.n == 1 && l.v[0].info.size == 434234 && l.v[0].info.mtime_ms == 1255369830000 &&
			       strcmp(l.v[0].info.etag, "fba9dede5f27731c9771645a39863328") == 0,
		       "size, LastModified and unquoted ETag");
		mps3_listing_dispose(&l);
	}
	{
		/* A key longer than any S3 allows is refused, not buffered. */
		static char doc[20000];
		struct mps3_listing l;
		char *p = doc;

		p += sprintf(p, HEAD "<Contents><Key>");
		memset(p, 'k', 10000);
		p += 10000;
		sprintf(p, "</Key></Contents></ListBucketResult>");
		mps3_listing_init(&l);
		tap_inteq(mps3_xml_parse_listing(&l, doc, strlen(doc)), -EPROTO, "oversized key refused");
		mps3_listing_dispose(&l);
	}
}

static void test_others(void)
{
	const char *err = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
			  "<Message>The resource you requested does not exist</Message>"
			  "<Resource>/mybucket/myfoto.jpg</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>";
	const char *init = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			   "<Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId></InitiateMultipartUploadResult>";
	const char *done = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			   "<Location>http://b.s3.amazonaws.com/k</Location><Bucket>b</Bucket><Key>k</Key>"
			   "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>";
	const char *done_err = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n<Error><Code>InternalError</Code>"
			       "<Message>We encountered an internal error. Please try again.</Message>"
			       "<RequestId>656c76696e6727732072657175657374</RequestId></Error>";
	struct mps3_s3_error e;
	char etag[MPS3_ETAG_MAX];
	char *id = NULL;

	tap_ok(mps3_xml_parse_error(&e, err, strlen(err)) == 0 && strcmp(e.code, "NoSuchKey") == 0 &&
		       strcmp(e.message, "The resource you requested does not exist") == 0 &&
		       strcmp(e.request_id, "4442587FB7D0A2F9") == 0,
	       "error document");
	tap_inteq(mps3_xml_parse_error(&e, "<html>Bad Request</html>", 24), -EPROTO, "HTML instead of an error document");
	tap_ok(mps3_xml_parse_upload_id(&id, init, strlen(init)) == 0 && id &&
		       strcmp(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA") == 0,
	       "InitiateMultipartUploadResult");
	free(id);
	tap_ok(mps3_xml_parse_complete(etag, &e, done, strlen(done)) == 0 &&
		       strcmp(etag, "3858f62230ac3c915f300c664312c11f-9") == 0,
	       "CompleteMultipartUploadResult");
	tap_ok(mps3_xml_parse_complete(etag, &e, done_err, strlen(done_err)) == -EIO &&
		       strcmp(e.code, "InternalError") == 0,
	       "200 with an Error document is a failure");
}

int main(void)
{
	test_listings();
	test_others();
	return tap_done();
}
