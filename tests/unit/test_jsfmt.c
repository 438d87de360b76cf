/*
 * test_jsfmt.c - the MPS3 JavaScript client's entry names and value
 * documents: times and counters against base 32 worked by hand, names the
 * client's regex takes and refuses, the freshness window at its edges, and
 * contents of every kind through encode and back, byte for byte.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/buf.h"
#include "mps3/jsfmt.h"
#include "tap.h"

static const struct {
	int64_t ms;
	const char *code;
} times[] = {
	{ 0, "3vvvvvvvv" },
	{ 1, "3vvvvvvvu" },
	{ 1764700000000, "2ckfqts7v" },
	{ MPS3_JS_TIME_MAX, "000000000" },
};

static const struct {
	const char *name;
	int ok;
	int64_t ms;
} names[] = {
	{ "manifest.json@2ckfqts7v_a1b_vv", 1, 1764700000000 },
	{ "manifest.json@3vvvvvvvu_0_00", 1, 1 },
	{ "db/m@2ckfqts7v_abcdefabcdef_vu", 1, 1764700000000 },
	/* parseInt stops at the first non-digit: "2ckfqts7vw" reads as 2ckfqts7v. */
	{ "m@2ckfqts7vw_a1b_vv", 1, 1764700000000 },
	{ "m@2ckfqts7v_a1b_v", 0, 0 },		/* C is two characters */
	{ "m@2ckfqts7v_a1b_vvv", 0, 0 },
	{ "m@2ckfqts7v__vv", 0, 0 },		/* no session */
	{ "m@_a1b_vv", 0, 0 },			/* no time */
	{ "m@wxyz_a1b_vv", 0, 0 },		/* NaN */
	{ "m@2CKFQTS7V_a1b_vv", 0, 0 },		/* upper case */
	{ "m2ckfqts7v_a1b_vv", 0, 0 },		/* no @ */
	{ "m@2ckfqts7v_a-b_vv", 0, 0 },
	{ "m@2ckfqts7v_a1b_-1", 0, 0 },		/* the client's counter past 1023 */
	{ "m@4000000000_a1b_vv", 0, 0 },	/* above 42 bits: a negative time */
	{ "manifest.json@01692992046294_ac", 0, 0 }, /* the client's older names */
	{ "", 0, 0 },
	{ "@", 0, 0 },
};

static const struct {
	const char *what;
	const char *content;
	size_t len;
	const char *doc;	/* NULL: the content itself */
} values[] = {
	{ "an object stays the document", "{\"a\": [1, 2]}\n", 14, NULL },
	{ "an array stays the document", "[true,null]", 11, NULL },
	{ "text is a JSON string", "hello\n", 6, "\"hello\\n\"" },
	{ "a number's text is a string", "42", 2, "\"42\"" },
	{ "a JSON string's text is a string", "\"x\"", 3, "\"\\\"x\\\"\"" },
	{ "an empty file is the empty string", "", 0, "\"\"" },
	{ "UTF-8 stays UTF-8", "\xc3\xa9t\xc3\xa9", 5, "\"\xc3\xa9t\xc3\xa9\"" },
	{ "a NUL in text is escaped", "a\0b", 3, "\"a\\u0000b\"" },
	{ "bytes that are not UTF-8 are binary", "\xff\xfe", 2, "{\"$binary\":\"//4=\"}" },
	{ "a document that reads as binary is itself binary", "{\"$binary\":\"aGk=\"}", 18,
	  "{\"$binary\":\"eyIkYmluYXJ5IjoiYUdrPSJ9\"}" },
	{ "a $binary beside another member is an object", "{\"$binary\":\"aGk=\",\"b\":1}", 24, NULL },
	{ "an object followed by text is text", "{} x", 4, "\"{} x\"" },
};

static const struct {
	const char *what;
	const char *doc;
	const char *content;	/* NULL: -EINVAL */
} decodes[] = {
	{ "the client's pretty string", "\"hi\"", "hi" },
	{ "a number reads as its text", "3.5", "3.5" },
	{ "null reads as its text", "null", "null" },
	{ "a pretty object reads as written", "{\n  \"a\": 1\n}", "{\n  \"a\": 1\n}" },
	{ "the binary form", "{\"$binary\": \"aGk=\"}", "hi" },
	{ "a $binary that is not a string is an object", "{\"$binary\":1}", "{\"$binary\":1}" },
	{ "not JSON", "{", NULL },
	{ "a binary form that is not base64", "{\"$binary\":\"a!\"}", NULL },
	{ "the client's empty body on M is no value", "", NULL },
};

/* Names of manifest m at t0 + d[i] (ms), in byte order, each last modified at t0 + lm[i]. */
static long plan(const int *d, const int *lm, const char *const *sess, size_t n, size_t *apply,
		 size_t *napply, char **nm)
{
	const int64_t t0 = 1764700000000;
	struct mps3_js_listed v[8];
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (mps3_js_entry_name(&nm[i], "m", t0 + d[i], sess[i], 0))
			return -100;
		v[i].name = nm[i];
		v[i].lastmod_ms = t0 + lm[i];
	}
	for (i = 1; i < n; i++) /* byte order, as listed */
		for (j = i; j > 0 && strcmp(v[j - 1].name, v[j].name) > 0; j--) {
			struct mps3_js_listed t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	for (i = 0; i < n; i++)
		nm[i] = (char *)v[i].name;
	return mps3_js_plan("m", v, n, apply, napply);
}

/* The times (d) of what plan() chose, as "newest:applied,applied,..." */
static const char *chosen(long newest, const size_t *apply, size_t napply, char **nm, size_t n)
{
	static char out[200];
	size_t i, len;
	int64_t ms;

	if (newest < 0) {
		snprintf(out, sizeof(out), "%ld", newest);
		for (i = 0; i < n; i++)
			free(nm[i]);
		return out;
	}
	mps3_js_entry_time(nm[newest], &ms);
	len = (size_t)snprintf(out, sizeof(out), "%lld %s:", (long long)(ms - 1764700000000),
			       strchr(nm[newest], '_') + 1);
	for (i = 0; i < napply && len < sizeof(out); i++) {
		mps3_js_entry_time(nm[apply[i]], &ms);
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%lld", i ? "," : "",
					(long long)(ms - 1764700000000));
	}
	for (i = 0; i < n; i++)
		free(nm[i]);
	return out;
}

int main(void)
{
	size_t i;

	tap_plan(4 + 17 + (int)(2 * (sizeof(times) / sizeof(times[0])) + sizeof(names) / sizeof(names[0]) + 10 +
		       2 * (sizeof(values) / sizeof(values[0])) + sizeof(decodes) / sizeof(decodes[0]) + 2));
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		char code[10];
		int64_t ms = -1;
		char *name = NULL;

		tap_ok(mps3_js_time_code(code, times[i].ms) == 0 && strcmp(code, times[i].code) == 0,
		       "time %lld is %s", (long long)times[i].ms, times[i].code);
		tap_ok(mps3_js_entry_name(&name, "m", times[i].ms, "s", 0) == 0 &&
			       mps3_js_entry_time(name, &ms) == 0 && ms == times[i].ms,
		       "time %lld survives a name", (long long)times[i].ms);
		free(name);
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int64_t ms = -1;
		int rc = mps3_js_entry_time(names[i].name, &ms);

		tap_ok(names[i].ok ? rc == 0 && ms == names[i].ms : rc == -EINVAL,
		       "\"%s\" %s", names[i].name, names[i].ok ? "is an entry" : "is not an entry");
	}
	{
		char *name = NULL;
		int64_t ms;

		tap_ok(mps3_js_entry_name(&name, "manifest.json", 1764700000000, "a1b", 0) == 0 &&
			       strcmp(name, "manifest.json@2ckfqts7v_a1b_vv") == 0,
		       "the first entry of a session counts vv");
		free(name);
		tap_ok(mps3_js_entry_name(&name, "m", 5, "a1b", 1) == 0 && strcmp(name + strlen(name) - 3, "_vu") == 0,
		       "the second counts vu");
		free(name);
		tap_ok(mps3_js_entry_name(&name, "m", 5, "a1b", 1023) == 0 && strcmp(name + strlen(name) - 3, "_00") == 0 &&
			       mps3_js_entry_time(name, &ms) == 0,
		       "the 1024th counts 00 and is still an entry");
		free(name);
		tap_ok(mps3_js_entry_name(&name, "m", 5, "a1b", 1024) == -ERANGE && !name,
		       "a 1025th is refused: a new session, not the client's wrap");
		tap_ok(mps3_js_entry_name(&name, "m", 5, "A1B", 0) == -EINVAL, "a session in upper case is refused");
		tap_ok(mps3_js_entry_name(&name, "m", 5, "", 0) == -EINVAL, "an empty session is refused");
		tap_ok(mps3_js_entry_name(&name, "m", -1, "a", 0) == -ERANGE &&
			       mps3_js_entry_name(&name, "m", MPS3_JS_TIME_MAX + 1, "a", 0) == -ERANGE,
		       "times outside 42 bits are refused");
		tap_ok(mps3_js_entry_fresh(10000, 10000 + 4999) && mps3_js_entry_fresh(10000, 10000 - 4999),
		       "4,999 ms either way is fresh");
		tap_ok(!mps3_js_entry_fresh(10000, 15000) && !mps3_js_entry_fresh(15000, 10000),
		       "5,000 ms either way is not");
		tap_ok(!mps3_js_entry_fresh(10000, 0), "no LastModified near the name is not fresh");
	}
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct mps3_buf doc = MPS3_BUF_INIT, back = MPS3_BUF_INIT;
		const char *want = values[i].doc ? values[i].doc : values[i].content;
		size_t want_len = values[i].doc ? strlen(values[i].doc) : values[i].len;
		int rc = mps3_js_value_encode(&doc, values[i].content, values[i].len);

		if (!tap_ok(rc == 0 && doc.len == want_len && memcmp(doc.data ? doc.data : "", want, want_len) == 0,
			    "encode: %s", values[i].what))
			tap_diag("got %d \"%.*s\"", rc, (int)doc.len, doc.data ? doc.data : "");
		rc = mps3_js_value_decode(&back, doc.data ? doc.data : "", doc.len);
		tap_ok(rc == 0 && back.len == values[i].len &&
			       memcmp(back.data ? back.data : "", values[i].content, values[i].len) == 0,
		       "and back: %s", values[i].what);
		mps3_buf_dispose(&doc);
		mps3_buf_dispose(&back);
	}
	for (i = 0; i < sizeof(decodes) / sizeof(decodes[0]); i++) {
		struct mps3_buf out = MPS3_BUF_INIT;
		int rc = mps3_js_value_decode(&out, decodes[i].doc, strlen(decodes[i].doc));

		tap_ok(decodes[i].content ? rc == 0 && out.len == strlen(decodes[i].content) &&
						  memcmp(out.data, decodes[i].content, out.len) == 0
					  : rc == -EINVAL,
		       "decode: %s", decodes[i].what);
		mps3_buf_dispose(&out);
	}
	{
		size_t n = MPS3_JS_VALUE_MAX + 1;
		char *big = calloc(1, n);
		struct mps3_buf out = MPS3_BUF_INIT, small;

		tap_ok(big && mps3_js_value_encode(&out, big, n) == -EFBIG && out.len == 0,
		       "a file above the size limit is EFBIG");
		free(big);
		mps3_buf_init(&small, 4);
		tap_ok(mps3_js_value_decode(&small, "\"hello\"", 7) == -EFBIG, "decode keeps the caller's limit");
		mps3_buf_dispose(&small);
	}
	{
		static const char *const s5[] = { "a", "b", "c", "d", "e", "f" };
		static const char *const same[] = { "aaa", "bbb", "ccc" };
		/* t0, four older, and a later one whose LastModified is 6 s off. */
		static const int d1[] = { 0, -1000, -4999, -5000, -6000, 500 };
		static const int lm1[] = { 0, -1000, -4999, -5000, -6000, 6500 };
		static const int d2[] = { 0, 0, -3000 }, lm2[] = { 0, 100, -3000 };
		static const int d3[] = { 0, -1000 }, lm3[] = { 5000, 9000 };
		size_t apply[8], napply;
		char *nm[8];
		long r;
		const char *got;

		r = plan(d1, lm1, s5, 6, apply, &napply, nm);
		got = chosen(r, apply, napply, nm, 6);
		if (!tap_ok(strcmp(got, "0 a_vv:-4999,-1000,0") == 0,
			    "the newest fresh entry is the base; those within 5 s replayed, oldest first"))
			tap_diag("got %s", got);
		r = plan(d2, lm2, same, 3, apply, &napply, nm);
		got = chosen(r, apply, napply, nm, 3);
		if (!tap_ok(strcmp(got, "0 aaa_vv:-3000,0,0") == 0, "two entries of the same time: both replayed"))
			tap_diag("got %s", got);
		r = plan(d3, lm3, s5, 2, apply, &napply, nm);
		got = chosen(r, apply, napply, nm, 2);
		tap_ok(strcmp(got, "-2") == 0, "no fresh entry: -ENOENT, the state stays");
		{
			struct mps3_js_listed v[] = { { "m@zz_a_vv", 0 }, { "m@not-an-entry", 0 } };

			tap_ok(mps3_js_plan("m", v, 2, apply, &napply) == -ENOENT && napply == 0,
			       "names that are no entries are never read");
		}
	}
	{
		static const struct {
			const char *doc;
			int ok;
		} docs[] = {
			{ "{\"files\":{},\"update\":{\"files\":{\"b/x\":null}}}", 1 },
			{ "{}", 1 },
			{ "[]", 0 },
			{ "{\"files\":\"x\"}", 0 },
			{ "{\"update\":{\"files\":[]}}", 0 },
			{ "{\"update\":7}", 0 },
			{ "{\"files\":{\"b/x\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}}", 0 },
			{ "{\"files\":{\"b/x\":[[[[[[[[[[[[[[1]]]]]]]]]]]]]]}}", 1 },
		};
		json_t *j;
		size_t k;

		for (k = 0; k < sizeof(docs) / sizeof(docs[0]); k++) {
			int rc = mps3_js_entry_parse(&j, docs[k].doc, strlen(docs[k].doc));

			tap_ok(docs[k].ok ? rc == 0 && j : rc == -EINVAL && !j, "entry %s %s", docs[k].doc,
			       docs[k].ok ? "is read" : "is refused");
			json_decref(j);
		}
	}
	{
		json_t *base = json_loads("{\"files\":{\"b/x\":{\"version\":\"1\",\"replication\":\"\"},"
					  "\"b/z\":{\"version\":\"9\"}},"
					  "\"update\":{\"files\":{\"b/x\":{\"version\":\"2\",\"replication\":\"\"}}}}",
					  0, NULL);
		json_t *older = json_loads("{\"files\":{},\"update\":{\"files\":{\"b/y\":{\"version\":\"3\"},"
					   "\"b/z\":null}}}", 0, NULL);
		json_t *noupd = json_loads("{\"files\":{\"b/q\":{\"version\":\"4\"}}}", 0, NULL);
		json_t *ups[3] = { older, noupd, base }, *files;
		const char *path;
		int err;

		files = mps3_js_resolve(base, ups, 3, &err);
		tap_ok(files && err == 0 && json_object_size(files) == 2 &&
			       strcmp(mps3_js_version(json_object_get(files, "b/x")), "2") == 0 &&
			       strcmp(mps3_js_version(json_object_get(files, "b/y")), "3") == 0,
		       "resolve: the base's files, then the updates in order, deletions included");
		json_decref(files);
		files = mps3_js_resolve(noupd, NULL, 0, &err);
		tap_ok(files && json_object_size(files) == 1, "resolve: a base alone is its files");
		json_decref(files);
		files = mps3_js_resolve(older, NULL, 0, &err);
		tap_ok(files && json_object_size(files) == 0, "resolve: an empty base is no files");
		json_decref(files);
		json_decref(base);
		json_decref(older);
		json_decref(noupd);
		tap_ok(mps3_js_key_path("b/app/d/x.txt", "b", "app", &path) == 0 && strcmp(path, "d/x.txt") == 0,
		       "a key under the prefix is a path");
		tap_ok(mps3_js_key_path("b/d/x", "b", "", &path) == 0 && strcmp(path, "d/x") == 0,
		       "with no prefix, everything of the bucket");
		tap_ok(mps3_js_key_path("c/app/x", "b", "app", &path) == -ENOENT &&
			       mps3_js_key_path("bb/app/x", "b", "app", &path) == -ENOENT &&
			       mps3_js_key_path("b/apps/x", "b", "app", &path) == -ENOENT &&
			       mps3_js_key_path("b", "b", "", &path) == -ENOENT,
		       "another bucket's keys and those outside the prefix are not ours");
		tap_ok(mps3_js_key_path("b/app/../x", "b", "app", &path) == -EINVAL &&
			       mps3_js_key_path("b/app/", "b", "app", &path) == -EINVAL &&
			       mps3_js_key_path("b/app//x", "b", "app", &path) == -EINVAL && !path,
		       "keys that are no paths are refused");
		{
			json_t *v1 = json_loads("{\"version\":\"0f1e\"}", 0, NULL);
			json_t *v2 = json_loads("{\"version\":5}", 0, NULL);
			json_t *v3 = json_loads("{\"version\":\"../x\"}", 0, NULL);
			json_t *v4 = json_loads("{\"version\":\"\"}", 0, NULL);

			tap_ok(mps3_js_version(v1) && strcmp(mps3_js_version(v1), "0f1e") == 0,
			       "a value's version");
			tap_ok(!mps3_js_version(v2) && !mps3_js_version(v3) && !mps3_js_version(v4) &&
				       !mps3_js_version(NULL),
			       "versions that name no object are none");
			json_decref(v1);
			json_decref(v2);
			json_decref(v3);
			json_decref(v4);
		}
	}
	return tap_failed ? 1 : 0;
}
