/*
 * test_jscan.c - the streaming reader of checkpoints and saved states
 * (mps3/jscan.h) against jansson reading the same text whole: the same
 * verdict on every document, the same document when accepted.  Readers
 * must agree on which checkpoints are valid, so a document one of them
 * takes and another refuses would split the database.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/buf.h"
#include "mps3/entry.h"
#include "mps3/error.h"
#include "mps3/jscan.h"
#include "mps3/manifest.h"
#include "tap.h"

static int collect(const char *key, json_t *v, void *ctx)
{
	if (json_object_get(ctx, key))
		return -EINVAL;
	return json_object_set(ctx, key, v) ? -ENOMEM : 0;
}

/* 1 when mps3_jscan and json_loadb agree on doc; *accepted says what they said. */
static int agree(const char *doc, size_t len, int *accepted)
{
	json_t *ref = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL), *big = json_object(), *got = NULL;
	int rc = mps3_jscan(doc, len, "files", collect, big, &got), same;

	*accepted = rc == 0;
	same = (rc == 0) == (ref != NULL) && (rc == 0 || got == NULL);
	if (same && rc == 0) {
		json_t *f = json_object_get(got, "files");

		if (json_is_object(f) && json_object_size(f) == 0)
			json_object_set(got, "files", big);
		same = json_equal(ref, got);
	}
	json_decref(ref);
	json_decref(got);
	json_decref(big);
	return same;
}

static void test_table(void)
{
	static const struct {
		const char *doc;
		int ok;
	} docs[] = {
		{ "{}", 1 },
		{ " \t\r\n{ } \n", 1 },
		{ "{\"files\":{}}", 1 },
		{ "{\"files\":{\"a\":{\"x\":1},\"b\":[1,2,{\"c\":null}]},\"t\":5,\"v\":1}", 1 },
		{ "{\"t\":5,\"files\":{\"a\":1},\"v\":1}", 1 },
		{ "{\"files\":3}", 1 },
		{ "{\"files\":\"x\"}", 1 },
		{ "{\"files\":[{\"a\":1}]}", 1 },
		{ "{\"files\":{\"a\":\"}\\\"{\",\"b\\\\\":\"\\\\\"}}", 1 },
		{ "{\"files\":{\"caf\xc3\xa9\":1,\"\\u00e9t\\u00e9\":2,\"\\ud83d\\ude00\":3}}", 1 },
		{ "{\"files\":{\"a\\/b\":1,\"tab\\there\":2}}", 1 },
		{ "{\"files\":{\"a\":1,\"b\":2}}", 1 },
		{ "{\"a\":-1.5e3,\"b\":true,\"c\":false,\"d\":null,\"e\":[],\"f\":{}}", 1 },
		/* the shape an entry has, read without jansson's lexer, and its near misses */
		{ "{\"files\":{\"a\":{\"m\":420,\"n\":-7,\"z\":0,\"y\":-0,\"s\":\"x y\",\"b\":true,\"c\":false,"
		  "\"d\":null,\"e\":\"\"}}}", 1 },
		{ "{\"files\":{\"a\":{\"big\":999999999999999999,\"neg\":-999999999999999999}}}", 1 },
		{ "{\"files\":{\"a\":{\"big\":9223372036854775807,\"neg\":-9223372036854775808}}}", 1 },
		{ "{\"files\":{\"a\":{\"r\":1.5,\"e\":1e3,\"E\":-2E-2}}}", 1 },
		{ "{\"files\":{\"a\":{\"s\":\"\\u00e9\",\"t\":\"caf\xc3\xa9\",\"u\":\"\x7f\"}}}", 1 },
		{ "{\"files\":{\"a\":{\"k\":1 },\"b\":{ \"k\":1},\"c\":{\"k\" :1},\"d\":{\"k\": 1}}}", 1 },
		{ "{\"files\":{\"a\":{\"xattr\":{\"user.a\":\"eA==\"},\"k\":[1,2]}}}", 1 },
		{ "{\"files\":{\"a\":{\"a-key-longer-than-sixty-four-bytes-is-taken-by-jansson-instead-xxxxxx\":1}}}", 1 },
		{ "{\"files\":{\"a\":{\"\":1}}}", 1 },
		{ "{\"files\":{\"a\":{\"m\":420,\"m\":421}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\":0420}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\":-}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\":--1}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\":9223372036854775808}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\":-9223372036854775809}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\":18446744073709551616}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\":99999999999999999999}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\":1765000000000000001,\"n\":-1765000000000000001}}}", 1 },
		{ "{\"files\":{\"a\":{\"m\":1.}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\":truex}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\":True}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\":nul}}}", 0 },
		{ "{\"files\":{\"a\":{m:1}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\"}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\":1,}}}", 0 },
		{ "{\"files\":{\"a\":{,\"m\":1}}}", 0 },
		{ "{\"files\":{\"a\":{\"m\":1\"n\":2}}}", 0 },
		{ "{\"files\":{\"a\":{\"s\":\"a\tb\"}}}", 0 },
		{ "{\"files\":{\"a\":{\"s\":\"\\x\"}}}", 0 },
		{ "{\"files\":{\"a\":{\"s\":\"\xc3\"}}}", 0 },
		{ "[1,2]", 1 },
		{ "  [ ]  ", 1 },
		/* refused by both */
		{ "", 0 },
		{ "   ", 0 },
		{ "3", 0 },
		{ "\"files\"", 0 },
		{ "{", 0 },
		{ "{\"files\":{", 0 },
		{ "{\"files\":{\"a\":1", 0 },
		{ "{\"files\":{\"a\":1}", 0 },
		{ "{\"files\":{\"a\":1},}", 0 },
		{ "{\"files\":{\"a\":1,}}", 0 },
		{ "{\"files\":{,}}", 0 },
		{ "{\"files\":{\"a\"}}", 0 },
		{ "{\"files\":{\"a\":}}", 0 },
		{ "{\"files\":{\"a\" 1}}", 0 },
		{ "{\"files\":{a:1}}", 0 },
		{ "{\"files\":{\"a\":1 \"b\":2}}", 0 },
		{ "{\"files\":{\"a\":1,\"a\":2}}", 0 },
		{ "{\"files\":{},\"files\":{}}", 0 },
		{ "{\"files\":3,\"files\":{}}", 0 },
		{ "{\"t\":1,\"t\":2}", 0 },
		{ "{\"files\":{\"a\":{\"x\":1,\"x\":2}}}", 0 },
		{ "{\"files\":{\"a\":[1}]}}", 0 },
		{ "{\"files\":{\"a\":{\"x\":1]}}", 0 },
		{ "{\"files\":{\"a\":tru}}", 0 },
		{ "{\"files\":{\"a\":1.}}", 0 },
		{ "{\"files\":{\"a\":01}}", 0 },
		{ "{\"files\":{\"a\":99999999999999999999}}", 0 },
		{ "{\"files\":{\"a\":\"x}}", 0 },
		{ "{\"files\":{\"a\\\":1}}", 0 },
		{ "{\"files\":{\"a\\q\":1}}", 0 },
		{ "{\"files\":{\"\\u0000\":1}}", 0 },
		{ "{\"files\":{\"a\":\"\\u0000\"}}", 0 },
		{ "{\"files\":{\"\\ud800\":1}}", 0 },
		{ "{\"files\":{\"\xff\":1}}", 0 },
		{ "{\"files\":{\"a\":\"\xc3\"}}", 0 },
		{ "{\"files\":{\"a\tb\":1}}", 0 },
		{ "{\"files\":{\"a\":1}}x", 0 },
		{ "{\"files\":{\"a\":1}}{}", 0 },
		{ "{} []", 0 },
		{ "\xef\xbb\xbf{}", 0 },
		{ "{\"files\":{\"a\":1}\xc2\xa0}", 0 },
		{ "{\"files\":{\"a\":1}\f}", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		int accepted = -1;

		char shown[120];
		size_t j;

		/* The document in the test's name, bytes other than printable ASCII as '.': TAP names are one line. */
		for (j = 0; j + 1 < sizeof(shown) && docs[i].doc[j]; j++) {
			unsigned char c = (unsigned char)docs[i].doc[j];

			shown[j] = c < 0x20 || c > 0x7e ? '.' : (char)c;
		}
		shown[j] = '\0';
		tap_ok(agree(docs[i].doc, strlen(docs[i].doc), &accepted) && accepted == docs[i].ok,
		       "document %zu (%s) read as jansson reads it: %s", i, shown, docs[i].ok ? "accepted" : "refused");
	}
	{
		static const char nul[] = "{\"files\":{\"a\":1}\0}";
		static const char nul2[] = "{\"files\":{\"a\":\"b\0c\"}}";
		int accepted = -1;

		tap_ok(agree(nul, sizeof(nul) - 1, &accepted) && !accepted, "a NUL byte between members is refused");
		tap_ok(agree(nul2, sizeof(nul2) - 1, &accepted) && !accepted, "a NUL byte in a value is refused");
		{
			/* jansson skips one NUL right after a number or a literal, not after a string or a space. */
			static const struct {
				const char *doc;
				size_t len;
				int ok;
			} quirk[] = {
				{ "{\"t\":1\0,\"a\":2}", 14, 1 },
				{ "{\"t\":true\0}", 11, 1 },
				{ "{\"files\":{\"a\":-1.5\0,\"b\":null\0}}", 31, 1 },
				{ "{\"files\":{\"a\":1\0\0}}", 19, 0 },
				{ "{\"t\":\"x\"\0}", 10, 0 },
				{ "{\"t\":1 \0}", 9, 0 },
			};
			for (i = 0; i < sizeof(quirk) / sizeof(quirk[0]); i++)
				tap_ok(agree(quirk[i].doc, quirk[i].len, &accepted) && accepted == quirk[i].ok,
				       "NUL after a value (%zu): %s as jansson does", i,
				       quirk[i].ok ? "skipped" : "refused");
		}
	}
}

/* {"files":{"a":<n arrays around inner>}} and its twin at the top level. */
static char *nested(int n, const char *inner, int in_files)
{
	size_t len = 2 * (size_t)n + strlen(inner) + 32;
	char *s = malloc(len), *p = s;
	int i;

	p += sprintf(p, in_files ? "{\"files\":{\"a\":" : "{\"x\":");
	for (i = 0; i < n; i++)
		*p++ = '[';
	p += sprintf(p, "%s", inner);
	for (i = 0; i < n; i++)
		*p++ = ']';
	p += sprintf(p, in_files ? "}}" : "}");
	return s;
}

static void test_depth(void)
{
	static const char *const inner[] = { "", "1", "\"s\"", "{}", "{\"k\":2}", "[]" };
	int n, in_files, verdicts[2] = { 0, 0 };
	size_t i;

	/* jansson's limit is JSON_PARSER_MAX_DEPTH values deep, counted from the document. */
	for (in_files = 0; in_files < 2; in_files++)
		for (i = 0; i < sizeof(inner) / sizeof(inner[0]); i++)
			for (n = JSON_PARSER_MAX_DEPTH - 5; n <= JSON_PARSER_MAX_DEPTH + 1; n++) {
				char *doc = nested(n, inner[i], in_files);
				int accepted = -1;

				if (!agree(doc, strlen(doc), &accepted))
					tap_ok(0, "depth %d around %s (in files: %d): jscan and jansson disagree", n,
					       inner[i], in_files);
				verdicts[accepted]++;
				free(doc);
			}
	tap_ok(verdicts[0] > 0 && verdicts[1] > 0,
	       "documents at jansson's depth limit are taken or refused as jansson does (%d taken, %d refused)",
	       verdicts[1], verdicts[0]);
}

/* What a mount adds a checkpoint's members to its base with. */
#define ADD_FNS mps3_base_add_fn, mps3_base_add_packed_fn

static void test_checkpoint_into_base(void)
{
	static const char doc[] =
		"{\"files\":{\"a\":{\"blob\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
		"\"mode\":420,\"mtime\":1,\"size\":0,\"type\":\"f\"},\"d\":{\"type\":\"d\",\"mode\":493,\"mtime\":2},"
		"\"x\":{\"type\":\"d\",\"mode\":493,\"mtime\":2,\"odd\":[1,{\"z\":true}]}},"
		"\"session\":\"0123456789abcdef\",\"t\":1790000000000,\"v\":1}";
	static const char name[] = "9998209999999999_0123456789abcdef";
	struct mps3_checkpoint cp, cp2;
	struct mps3_manifest *m = mps3_manifest_new();
	struct mps3_base *b = mps3_base_new();
	json_t *files;
	int rc;

	rc = mps3_checkpoint_parse(&cp, name, doc, sizeof(doc) - 1);
	tap_inteq(rc, 0, "the checkpoint parses as JSON");
	if (rc)
		tap_diag("%s", mps3_error_last(rc));
	rc = mps3_checkpoint_scan(&cp2, name, doc, sizeof(doc) - 1, ADD_FNS, b);
	tap_ok(rc == 0 && cp2.files == NULL && mps3_base_size(b) == 3 && cp2.key.t == cp.key.t,
	       "the same checkpoint scanned into a base: three paths, no JSON map");
	rc = mps3_manifest_reset_base(m, b, 5, NULL);
	files = mps3_manifest_files_copy(m);
	tap_ok(rc == 0 && mps3_base_size(b) == 0 && json_equal(files, cp.files),
	       "a manifest reset from the base holds what the JSON map holds");
	json_decref(files);
	json_decref(cp.files);
	{
		/* The name says another time: refused, though the members were scanned first. */
		static const char other[] = "9998209999999998_0123456789abcdef";

		rc = mps3_checkpoint_scan(&cp2, other, doc, sizeof(doc) - 1, ADD_FNS, b);
		tap_inteq(rc, -EINVAL, "a checkpoint whose time is not its name's is refused after its members");
	}
	{
		static const char dup[] = "{\"files\":{\"a\":{\"type\":\"d\"},\"a\":{\"type\":\"d\"}},"
					  "\"session\":\"0123456789abcdef\",\"t\":1790000000000,\"v\":1}";
		struct mps3_base *b2 = mps3_base_new();

		rc = mps3_checkpoint_scan(&cp2, name, dup, sizeof(dup) - 1, ADD_FNS, b2);
		tap_inteq(rc, -EINVAL, "a path given twice is refused by the base");
		mps3_base_free(b2);
	}
	{
		/* A document that ends after a member's colon: refused, nothing read past it. */
		static const char cut[] = { '{', '"', 'f', 'i', 'l', 'e', 's', '"', ':', '{', '"', 'a', '"', ':' };
		struct mps3_base *b2 = mps3_base_new();
		json_t *top = NULL;

		rc = mps3_jscan_packed(cut, sizeof(cut), "files", ADD_FNS, b2, &top);
		tap_ok(rc == -EINVAL && !top, "a document cut after a colon is refused (no byte past it read)");
		mps3_base_free(b2);
	}
	{
		/* The same path once packed and once as JSON, either way round. */
		static const char *const dups[] = {
			"{\"files\":{\"a\":{\"type\":\"d\"},\"a\":{\"type\":\"d\",\"x\":1}},"
			"\"session\":\"0123456789abcdef\",\"t\":1790000000000,\"v\":1}",
			"{\"files\":{\"a\":{\"type\": \"d\"},\"a\":{\"type\":\"d\"}},"
			"\"session\":\"0123456789abcdef\",\"t\":1790000000000,\"v\":1}",
		};
		size_t i;

		for (i = 0; i < 2; i++) {
			struct mps3_base *b2 = mps3_base_new();

			rc = mps3_checkpoint_scan(&cp2, name, dups[i], strlen(dups[i]), ADD_FNS, b2);
			tap_inteq(rc, -EINVAL, "a path given packed and as JSON is refused (%s first)",
				  i ? "JSON" : "packed");
			mps3_base_free(b2);
		}
	}
	{
		static const char badval[] = "{\"files\":{\"a\":{\"type\":\"d\"},\"/etc\":{\"type\":\"d\"}},"
					     "\"session\":\"0123456789abcdef\",\"t\":1790000000000,\"v\":1}";
		struct mps3_base *b2 = mps3_base_new();

		rc = mps3_checkpoint_scan(&cp2, name, badval, sizeof(badval) - 1, ADD_FNS, b2);
		tap_ok(rc == -EINVAL && mps3_checkpoint_parse(&cp, name, badval, sizeof(badval) - 1) == -EINVAL,
		       "a bad path refuses the checkpoint both ways");
		mps3_base_free(b2);
	}
	{
		/* Written back as text around the map's own dump: the same checkpoint to its readers. */
		struct mps3_cpwindow w = { 1789999990000, 2, { 1, 2, 3 } };
		struct mps3_logkey k;
		struct mps3_buf out;
		json_t *again = mps3_manifest_files_copy(m);
		char *ref;
		size_t n;

		mps3_buf_init(&out, 0);
		rc = mps3_cpkey_parse(&k, name);
		if (!rc)
			rc = mps3_buf_append(&out, MPS3_CHECKPOINT_OPEN, strlen(MPS3_CHECKPOINT_OPEN));
		if (!rc)
			rc = mps3_manifest_base_dump(m, &out);
		if (!rc)
			rc = mps3_checkpoint_close(&out, &k, &w);
		memset(&cp, 0, sizeof(cp));
		tap_ok(rc == 0 && mps3_checkpoint_parse(&cp, name, out.data, out.len) == 0 &&
			       json_equal(cp.files, again) && cp.has_window && cp.window.from == w.from &&
			       cp.window.n == w.n && memcmp(cp.window.md, w.md, sizeof(w.md)) == 0,
		       "a checkpoint assembled around the map's text reads back as the map, its time and window");
		json_decref(cp.files);
		mps3_buf_reset(&out);
		/* With an empty map, byte for byte what the JSON writer makes. */
		json_decref(again);
		again = json_object();
		ref = mps3_checkpoint_dump(&k, again, &w, &n);
		rc = mps3_buf_append(&out, MPS3_CHECKPOINT_OPEN "{}", strlen(MPS3_CHECKPOINT_OPEN) + 2);
		if (!rc)
			rc = mps3_checkpoint_close(&out, &k, &w);
		tap_ok(rc == 0 && ref && out.len == n && memcmp(out.data, ref, n) == 0,
		       "the header around the map is the JSON writer's, byte for byte");
		free(ref);
		json_decref(again);
		mps3_buf_dispose(&out);
		mps3_buf_init(&out, 40);
		rc = mps3_buf_append(&out, MPS3_CHECKPOINT_OPEN, strlen(MPS3_CHECKPOINT_OPEN));
		if (!rc)
			rc = mps3_manifest_base_dump(m, &out);
		tap_inteq(rc, -EFBIG, "a map larger than the limit is refused, not cut");
		mps3_buf_dispose(&out);
	}
	mps3_base_free(b);
	mps3_manifest_free(m);
}

int main(void)
{
	test_table();
	test_depth();
	test_checkpoint_into_base();
	return tap_done();
}
