/*
 * test_keys.c - log/checkpoint name encoding (round trips, ordering, strict
 * parsing), entry documents and path rules.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/entry.h"
#include "mps3/hash.h"
#include "mps3/keys.h"
#include "mps3/mergepatch.h"
#include "tap.h"

static void test_roundtrip(void)
{
	static const int64_t times[] = { 0, 1, 999, 1700000000000, 1790000000123,
					 4102444800000, MPS3_TIME_MAX };
	static const uint64_t seqs[] = { 0, 1, 9, 10, 12345, UINT64_MAX };
	size_t i, j;

	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		for (j = 0; j < sizeof(seqs) / sizeof(seqs[0]); j++) {
			struct mps3_logkey k = { times[i], "0123456789abcdef", seqs[j] }, back;
			char name[MPS3_LOGNAME_MAX];
			int ok;

			ok = mps3_logkey_format(name, &k) == 0 && mps3_logkey_parse(&back, name) == 0 &&
			     back.t == k.t && back.seq == k.seq && strcmp(back.session, k.session) == 0;
			tap_ok(ok, "log name round trip t=%lld seq=%llu (%s)", (long long)times[i],
			       (unsigned long long)seqs[j], name);
		}
	}
	{
		struct mps3_logkey k = { 1790000000123, "fedcba9876543210", 0 }, back;
		char name[MPS3_LOGNAME_MAX];

		tap_ok(mps3_cpkey_format(name, &k) == 0 && mps3_cpkey_parse(&back, name) == 0 &&
			       back.t == k.t && strcmp(back.session, k.session) == 0,
		       "checkpoint name round trip (%s)", name);
		tap_ok(mps3_logkey_parse(&back, name) == -EINVAL, "a checkpoint name is not a log name");
	}
	{
		struct mps3_logkey k = { -1, "0123456789abcdef", 0 };
		char name[MPS3_LOGNAME_MAX];

		tap_inteq(mps3_logkey_format(name, &k), -EINVAL, "negative time refused");
		k.t = MPS3_TIME_MAX + 1;
		tap_inteq(mps3_logkey_format(name, &k), -EINVAL, "time past the encoding refused");
		k.t = 1;
		strcpy(k.session, "0123456789ABCDEF");
		tap_inteq(mps3_logkey_format(name, &k), -EINVAL, "upper-case session refused");
	}
}

/* Newer must sort first in byte order, for every pair in a spread of times. */
static void test_ordering(void)
{
	int64_t t[64];
	char names[64][MPS3_LOGNAME_MAX];
	size_t i, j;
	int ok = 1;

	srand(7);
	for (i = 0; i < 64; i++) {
		struct mps3_logkey k = { 0, "0123456789abcdef", (uint64_t)rand() };

		t[i] = (int64_t)rand() * 1000 + rand() % 1000 + (i % 3 ? 1700000000000 : 0);
		k.t = t[i];
		mps3_logkey_format(names[i], &k);
	}
	for (i = 0; i < 64; i++)
		for (j = 0; j < 64; j++)
			if (t[i] > t[j] && strcmp(names[i], names[j]) >= 0)
				ok = 0;
	tap_ok(ok, "byte order of names is newest first over 64x64 pairs");

	{
		struct mps3_logkey a = { 5, "0000000000000001", 9 }, b = { 5, "0000000000000002", 1 };
		struct mps3_logkey c = { 5, "0000000000000002", 2 }, d = { 6, "0000000000000000", 0 };

		tap_ok(mps3_logkey_cmp(&a, &b) < 0 && mps3_logkey_cmp(&b, &c) < 0 &&
			       mps3_logkey_cmp(&c, &d) < 0 && mps3_logkey_cmp(&d, &a) > 0 &&
			       mps3_logkey_cmp(&a, &a) == 0,
		       "replay order is time, then session, then counter");
	}
}

static void test_parse_strict(void)
{
	static const char *const bad[] = {
		"",
		"123",
		"999999999999999x_0123456789abcdef_1",
		"9999999999999999_0123456789abcdef",	/* no counter */
		"9999999999999999_0123456789abcdef_",
		"9999999999999999_0123456789abcdef_01",	/* non-canonical counter */
		"9999999999999999_0123456789abcde_1",	/* short session */
		"9999999999999999_0123456789abcdefg_1",
		"9999999999999999-0123456789abcdef_1",
		"9999999999999999_0123456789abcdef_1x",
		"9999999999999999_0123456789abcdef_99999999999999999999999",
		"+999999999999999_0123456789abcdef_1",
	};
	static const char *const cut[] = {
		"0000000000000000_",			/* found by tests/fuzz (keys) */
		"9998209999998876_0123",
		"9998209999998876_0123456789abcde",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mps3_logkey k;

		tap_inteq(mps3_logkey_parse(&k, bad[i]), -EINVAL, "malformed log name rejected: \"%s\"", bad[i]);
	}
	/* Names that end inside the session, in buffers of exactly their size (ASan sees an over-read). */
	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		size_t n = strlen(cut[i]) + 1;
		char *name = malloc(n);
		struct mps3_logkey k;

		memcpy(name, cut[i], n);
		tap_ok(mps3_logkey_parse(&k, name) == -EINVAL && mps3_cpkey_parse(&k, name) == -EINVAL,
		       "a name cut short in its session is rejected without reading past it: \"%s\"", cut[i]);
		free(name);
	}
}

static void test_paths(void)
{
	static const struct {
		const char *path;
		int rc;
	} cases[] = {
		{ "a", 0 },
		{ "a/b/c.txt", 0 },
		{ "&$@=;  :+,?", 0 },
		{ "dir with spaces/f%25+@&.txt", 0 },
		{ "naïve/日本語/🙂", 0 },
		{ ".hidden", 0 },
		{ "..x", 0 },
		{ "a/.mps3", 0 },
		{ "", -EINVAL },
		{ "/a", -EINVAL },
		{ "a/", -EINVAL },
		{ "a//b", -EINVAL },
		{ ".", -EINVAL },
		{ "a/../b", -EINVAL },
		{ "a/./b", -EINVAL },
		{ ".mps3", -EINVAL },
		{ ".mps3/status", -EINVAL },
		{ "bad\xff utf8", -EILSEQ },
		{ "overlong \xc0\xaf", -EILSEQ },
		{ "surrogate \xed\xa0\x80", -EILSEQ },
	};
	char longname[300], longpath[MPS3_PATH_MAX + 10];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		tap_inteq(mps3_path_check(cases[i].path), cases[i].rc, "path \"%s\"", cases[i].path);
	memset(longname, 'x', 255);
	longname[255] = '\0';
	tap_inteq(mps3_path_check(longname), 0, "255-byte name accepted");
	longname[255] = 'x';
	longname[256] = '\0';
	tap_inteq(mps3_path_check(longname), -ENAMETOOLONG, "256-byte name refused");
	memset(longpath, 'a', sizeof(longpath));
	for (i = 100; i < sizeof(longpath); i += 100)
		longpath[i] = '/';
	longpath[MPS3_PATH_MAX + 1] = '\0';
	tap_inteq(mps3_path_check(longpath), -ENAMETOOLONG, "path over MPS3_PATH_MAX refused");
}

static void test_entries(void)
{
	static const char *const valid[] = {
		"{\"type\":\"f\",\"blob\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"size\":0}",
		"{\"type\":\"d\",\"mode\":493}",
		"{\"type\":\"l\",\"target\":\"../x\"}",
		"{\"type\":\"f\",\"blob\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"size\":5,\"mode\":420,\"uid\":1000,\"gid\":1000,\"mtime\":1,\"xattr\":{\"user.a\":\"b\",\"user.bin\":{\"base64\":\"AA==\"}}}",
		/* special files (the fuzz target's property once forgot them: tests/fuzz/crashes/README) */
		"{\"type\":\"p\",\"mode\":420}", "{\"type\":\"s\"}", "{\"type\":\"c\",\"rdev\":259}",
		"{\"type\":\"b\",\"rdev\":2049}",
	};
	static const char *const absent[] = {
		"{\"mode\":384}", "{\"type\":\"x\"}", "{}", "[]", "3",
	};
	static const char *const invalid[] = {
		"{\"type\":\"f\",\"size\":1}",
		"{\"type\":\"f\",\"blob\":\"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\",\"size\":0}",
		"{\"type\":\"f\",\"blob\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"size\":-1}",
		"{\"type\":\"f\",\"blob\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"size\":\"1\"}",
		"{\"type\":\"d\",\"mode\":65536}",
		"{\"type\":\"d\",\"uid\":-3}",
		"{\"type\":\"l\"}",
		"{\"type\":\"l\",\"target\":\"\"}",
		"{\"type\":\"d\",\"xattr\":{\"user.a\":5}}",
	};
	size_t i;

	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		json_t *j = json_loads(valid[i], 0, NULL);
		struct mps3_entry e;
		json_t *patch = NULL, *again;
		int ok = mps3_entry_parse(&e, j) == 0;

		tap_ok(ok, "valid entry %zu parses", i);
		if (ok) {
			struct mps3_entry e2;

			patch = mps3_entry_to_patch(&e);
			again = patch ? json_deep_copy(patch) : NULL;
			tap_ok(again && mps3_entry_parse(&e2, again) == 0 && e2.type == e.type &&
				       e2.size == e.size && e2.mode == e.mode && e2.rdev == e.rdev,
			       "entry %zu survives to_patch and back", i);
			json_decref(again);
			json_decref(patch);
		}
		json_decref(j);
	}
	for (i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		json_t *j = json_loads(absent[i], JSON_DECODE_ANY, NULL);
		struct mps3_entry e;

		tap_inteq(mps3_entry_parse(&e, j), -ENOENT, "incomplete value means no file: %s", absent[i]);
		json_decref(j);
	}
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		json_t *j = json_loads(invalid[i], 0, NULL);
		struct mps3_entry e;

		tap_inteq(mps3_entry_parse(&e, j), -EINVAL, "malformed entry rejected: %s", invalid[i]);
		json_decref(j);
	}
}

static void test_documents(void)
{
	struct mps3_logkey k = { 1790000000000, "0123456789abcdef", 7 };
	char name[MPS3_LOGNAME_MAX];
	struct mps3_logentry le;
	json_t *files = json_loads("{\"a b\":{\"mode\":384},\"gone\":null}", 0, NULL);
	size_t len = 0;
	char *doc;

	mps3_logkey_format(name, &k);
	doc = mps3_logentry_dump(&k, files, &len);
	tap_ok(doc && mps3_logentry_parse(&le, name, doc, len) == 0 && json_equal(le.files, files),
	       "log entry document round trip");
	if (doc)
		json_decref(le.files);
	free(doc);

	/* Nesting: an entry with xattrs passes; one nested past MPS3_ENTRY_MAX_DEPTH is malformed. */
	{
		json_t *deep = json_string("x"), *f;
		int i;

		for (i = 0; i <= MPS3_ENTRY_MAX_DEPTH; i++)
			deep = json_pack("{s:o}", "d", deep);
		f = json_pack("{s:o}", "p", deep);
		doc = mps3_logentry_dump(&k, f, &len);
		tap_inteq(mps3_logentry_parse(&le, name, doc, len), -EINVAL,
			  "a log entry with a value nested past %d levels is malformed", MPS3_ENTRY_MAX_DEPTH);
		free(doc);
		tap_inteq(mps3_value_check("p", json_object_get(f, "p"), 1), -EINVAL, "and mps3_value_check says so");
		json_decref(f);
		f = json_loads("{\"p\":{\"type\":\"f\",\"xattr\":{\"user.a\":{\"base64\":\"AA==\"}}}}", 0, NULL);
		doc = mps3_logentry_dump(&k, f, &len);
		tap_ok(mps3_logentry_parse(&le, name, doc, len) == 0, "an entry with binary xattrs is not too deep");
		json_decref(le.files);
		free(doc);
		json_decref(f);
	}

	{
		static const struct {
			const char *doc;
			const char *why;
		} bad[] = {
			{ "{", "truncated JSON" },
			{ "[]", "not an object" },
			{ "{\"v\":2,\"t\":1790000000000,\"session\":\"0123456789abcdef\",\"seq\":7,\"files\":{}}", "unknown version" },
			{ "{\"v\":1,\"t\":1790000000001,\"session\":\"0123456789abcdef\",\"seq\":7,\"files\":{}}", "time differs from name" },
			{ "{\"v\":1,\"t\":1790000000000,\"session\":\"0123456789abcdee\",\"seq\":7,\"files\":{}}", "session differs from name" },
			{ "{\"v\":1,\"t\":1790000000000,\"session\":\"0123456789abcdef\",\"seq\":8,\"files\":{}}", "counter differs from name" },
			{ "{\"v\":1,\"t\":1790000000000,\"session\":\"0123456789abcdef\",\"seq\":7,\"files\":[]}", "files not an object" },
			{ "{\"v\":1,\"t\":1790000000000,\"session\":\"0123456789abcdef\",\"seq\":7,\"files\":{\"a\":3}}", "patch value of wrong type" },
			{ "{\"v\":1,\"t\":1790000000000,\"session\":\"0123456789abcdef\",\"seq\":7,\"files\":{\"../x\":null}}", "invalid path" },
			{ "{\"v\":1,\"t\":1790000000000,\"session\":\"0123456789abcdef\",\"seq\":7,\"seq\":7,\"files\":{}}", "duplicate member" },
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			tap_inteq(mps3_logentry_parse(&le, name, bad[i].doc, strlen(bad[i].doc)), -EINVAL,
				  "log entry rejected: %s", bad[i].why);
	}
	{
		struct mps3_checkpoint cp;
		char cpname[MPS3_LOGNAME_MAX];
		json_t *map = json_loads("{\"x\":{\"type\":\"d\"},\"ghost\":{\"mode\":1}}", 0, NULL);
		const char *cut = "{\"v\":1,\"t\":1790000000000,\"session\":\"0123456789abcdef\",\"files\":{\"x\":{\"ty";

		mps3_cpkey_format(cpname, &k);
		doc = mps3_checkpoint_dump(&k, map, NULL, &len);
		tap_ok(doc && mps3_checkpoint_parse(&cp, cpname, doc, len) == 0 && json_equal(cp.files, map),
		       "checkpoint round trip keeps incomplete values too");
		if (doc)
			json_decref(cp.files);
		free(doc);
		tap_inteq(mps3_checkpoint_parse(&cp, cpname, cut, strlen(cut)), -EINVAL,
			  "checkpoint cut short rejected");
		{
			struct mps3_logkey wk[2] = { { 0, "", 1 }, { 0, "", 2 } };
			struct mps3_cpwindow w, w2;
			static const char *const head = "{\"v\":1,\"t\":1790000000000,\"session\":\"0123456789abcdef\","
							"\"files\":{},\"window\":";
			const struct {
				const char *pre, *post;
				int cut;
			} bad[] = {
				{ "{\"from\":1790000000001,\"n\":0,\"sha256\":\"", "\"}}", 0 },
				{ "{\"from\":1789999990000,\"n\":-1,\"sha256\":\"", "\"}}", 0 },
				{ "{\"from\":1789999990000,\"n\":1,\"sha256\":\"", "\"}}", 1 },
				{ "[1789999990000,1,\"", "\"]}", 0 },
			};
			char hex[65], text[512];
			size_t i;

			wk[0].t = wk[1].t = k.t - 5;
			memcpy(wk[0].session, k.session, sizeof(k.session));
			memcpy(wk[1].session, k.session, sizeof(k.session));
			tap_ok(mps3_cpwindow_digest(&w, k.t - 10000, wk, 2) == 0 &&
				       mps3_cpwindow_digest(&w2, k.t - 10000, wk, 1) == 0 &&
				       memcmp(w.md, w2.md, sizeof(w.md)) != 0 && w.n == 2 && w2.n == 1,
			       "a checkpoint window's digest depends on every name in it");
			doc = mps3_checkpoint_dump(&k, map, &w, &len);
			tap_ok(doc && mps3_checkpoint_parse(&cp, cpname, doc, len) == 0 && cp.has_window &&
				       cp.window.from == w.from && cp.window.n == 2 &&
				       memcmp(cp.window.md, w.md, sizeof(w.md)) == 0 && json_equal(cp.files, map),
			       "checkpoint round trip keeps its window");
			if (doc)
				json_decref(cp.files);
			free(doc);
			mps3_hex(hex, w.md, sizeof(w.md));
			for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
				snprintf(text, sizeof(text), "%s%s%.*s%s", head, bad[i].pre, bad[i].cut ? 63 : 64, hex,
					 bad[i].post);
				tap_ok(mps3_checkpoint_parse(&cp, cpname, text, strlen(text)) == 0 && !cp.has_window,
				       "a malformed window (%zu) is left out, the checkpoint kept", i);
				if (cp.files)
					json_decref(cp.files);
			}
		}
		json_decref(map);
	}
	tap_ok(mps3_entry_fresh(10000, 12000, 3000) && mps3_entry_fresh(10000, 7000, 3000) &&
		       !mps3_entry_fresh(10000, 13001, 3000) && !mps3_entry_fresh(10000, 6999, 3000),
	       "stale rule is |t - LastModified| <= stale, both ways");
	json_decref(files);
}

/* Apply two writers' patches, each made against BASE, in order. */
static json_t *merge_two(const char *base, const char *want1, const char *want2)
{
	json_t *b = json_loads(base, JSON_DECODE_ANY, NULL), *w1 = json_loads(want1, JSON_DECODE_ANY, NULL);
	json_t *w2 = json_loads(want2, JSON_DECODE_ANY, NULL), *p1, *p2, *r1, *r;
	int err1 = 0, err2 = 0, err3 = 0, err4 = 0;

	/* Every case changes something for both writers: neither patch is NULL. */
	p1 = mps3_entry_patch(json_is_null(b) ? NULL : b, json_is_null(w1) ? NULL : w1, &err1);
	p2 = mps3_entry_patch(json_is_null(b) ? NULL : b, json_is_null(w2) ? NULL : w2, &err2);
	r1 = mps3_merge_patch(b, p1, &err3);
	r = mps3_merge_patch(r1, p2, &err4);
	json_decref(r1);
	json_decref(b);
	json_decref(p1);
	json_decref(p2);
	json_decref(w1);
	json_decref(w2);
	if (err1 || err2 || err3 || err4) {
		json_decref(r);
		return NULL;
	}
	return r;
}

static void test_entry_patch(void)
{
#define B1 "1111111111111111111111111111111111111111111111111111111111111111"
#define B2 "2222222222222222222222222222222222222222222222222222222222222222"
#define B3 "3333333333333333333333333333333333333333333333333333333333333333"
	static const struct {
		const char *base, *w1, *w2, *want, *what;
	} cases[] = {
		/* The chaos test's case: the second writer's content has the base's size. */
		{ "{\"type\":\"f\",\"blob\":\"" B1 "\",\"size\":26}",
		  "{\"type\":\"f\",\"blob\":\"" B2 "\",\"size\":27}",
		  "{\"type\":\"f\",\"blob\":\"" B3 "\",\"size\":26}",
		  "{\"type\":\"f\",\"blob\":\"" B3 "\",\"size\":26}",
		  "content of the later writer comes whole, never with the other's size" },
		{ "{\"type\":\"f\",\"blob\":\"" B1 "\",\"size\":1,\"mode\":420}",
		  "{\"type\":\"f\",\"blob\":\"" B1 "\",\"size\":1,\"mode\":384}",
		  "{\"type\":\"f\",\"blob\":\"" B2 "\",\"size\":5,\"mode\":420}",
		  "{\"type\":\"f\",\"blob\":\"" B2 "\",\"size\":5,\"mode\":384}",
		  "a chmod and a concurrent write both survive" },
		{ "{\"type\":\"l\",\"target\":\"a\"}",
		  "{\"type\":\"l\",\"target\":\"b\"}",
		  "{\"type\":\"f\",\"blob\":\"" B1 "\",\"size\":3}",
		  "{\"type\":\"f\",\"blob\":\"" B1 "\",\"size\":3}",
		  "a file replacing a link drops the other writer's target" },
		{ "null",
		  "{\"type\":\"l\",\"target\":\"b\"}",
		  "{\"type\":\"f\",\"blob\":\"" B1 "\",\"size\":3}",
		  "{\"type\":\"f\",\"blob\":\"" B1 "\",\"size\":3}",
		  "two creations: the later one whole" },
		{ "{\"type\":\"f\",\"blob\":\"" B1 "\",\"size\":1,\"xattr\":{\"user.a\":\"1\"}}",
		  "{\"type\":\"f\",\"blob\":\"" B1 "\",\"size\":1,\"xattr\":{\"user.a\":\"1\",\"user.b\":\"2\"}}",
		  "{\"type\":\"f\",\"blob\":\"" B2 "\",\"size\":2,\"xattr\":{\"user.a\":\"1\"}}",
		  "{\"type\":\"f\",\"blob\":\"" B2 "\",\"size\":2,\"xattr\":{\"user.a\":\"1\",\"user.b\":\"2\"}}",
		  "an xattr and a concurrent write both survive" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *got = merge_two(cases[i].base, cases[i].w1, cases[i].w2);
		json_t *want = json_loads(cases[i].want, 0, NULL);
		struct mps3_entry e;

		tap_ok(got && json_equal(got, want) && mps3_entry_parse(&e, got) == 0, "entry_patch: %s", cases[i].what);
		json_decref(got);
		json_decref(want);
	}
	{
		json_t *a = json_loads("{\"type\":\"f\",\"blob\":\"" B1 "\",\"size\":1}", 0, NULL);
		int err = -1;
		json_t *p = mps3_entry_patch(a, a, &err);

		tap_ok(!p && err == 0, "entry_patch: no change, no patch");
		{
			json_t *w = json_loads("{\"type\":\"l\",\"target\":\"f\"}", 0, NULL), *before = json_deep_copy(w);

			p = mps3_entry_patch(NULL, w, &err);
			tap_ok(p && err == 0 && json_equal(w, before) && json_is_null(json_object_get(p, "blob")),
			       "entry_patch: a creation's patch is a new value; the wanted one is left as it was");
			json_decref(p);
			json_decref(w);
			json_decref(before);
		}
		{
			json_t *w = json_loads("{\"type\":\"f\",\"blob\":\"" B2 "\",\"size\":4,\"target\":null}", 0, NULL);
			json_t *r;
			int e2 = 0;
			struct mps3_entry pe;

			p = mps3_entry_patch(a, w, &err);
			r = p ? mps3_merge_patch(a, p, &e2) : NULL;
			tap_ok(p && err == 0 && r && mps3_entry_parse(&pe, r) == 0 && pe.size == 4 &&
				       strcmp(pe.blob, B2) == 0 && !json_object_get(r, "target"),
			       "entry_patch: a value with a null member goes whole, not as an error");
			json_decref(r);
			json_decref(p);
			json_decref(w);
		}
		{
			/* Found by tests/fuzz (mergepatch): a whole entry's xattr must replace, not merge. */
			json_t *cur = json_loads("{\"type\":\"f\",\"blob\":\"" B1 "\",\"size\":1,\"xattr\":{\"user.a\":\"1\"}}", 0, NULL);
			json_t *w = json_loads("{\"type\":\"f\",\"blob\":\"" B1 "\",\"size\":1,\"uid\":null,\"xattr\":{\"user.b\":\"2\"}}", 0, NULL);
			json_t *r = NULL;
			int e2 = 0;

			p = mps3_entry_patch(cur, w, &err);
			r = p ? mps3_merge_patch(cur, p, &e2) : NULL;
			tap_ok(r && json_object_size(json_object_get(r, "xattr")) == 1 &&
				       json_object_get(json_object_get(r, "xattr"), "user.b"),
			       "entry_patch: a value sent whole replaces the xattrs (user.a goes)");
			json_decref(r);
			json_decref(p);
			json_decref(w);
			json_decref(cur);
		}
		{
			/* Found by tests/fuzz (mergepatch): an object content field replaces, not merges. */
			json_t *cur = json_loads("{\"size\":{\"\":\"\"}}", 0, NULL), *w = json_loads("{\"size\":{}}", 0, NULL);
			json_t *r = NULL;
			int e2 = 0;

			p = mps3_entry_patch(cur, w, &err);
			r = p ? mps3_merge_patch(cur, p, &e2) : NULL;
			tap_ok(r && json_equal(r, w), "entry_patch: content fields that are objects come out as wanted");
			json_decref(r);
			json_decref(p);
			json_decref(w);
			json_decref(cur);
		}
		p = mps3_entry_patch(a, NULL, &err);
		tap_ok(p && json_is_null(p) && err == 0, "entry_patch: removal is null");
		json_decref(p);
		json_decref(a);
	}
#undef B1
#undef B2
#undef B3
}

int main(void)
{
	test_roundtrip();
	test_ordering();
	test_parse_strict();
	test_paths();
	test_entries();
	test_documents();
	test_entry_patch();
	return tap_done();
}
