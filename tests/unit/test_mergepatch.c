/*
 * test_mergepatch.c - RFC 7386: the section 1 and 3 documents and every
 * example of Appendix A, inputs left untouched and shared by reference, the
 * nesting limit, the mps3 files map, merge_diff round trips, and
 * merge_union of two diffs to one value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mps3/mergepatch.h"
#include "tap.h"

/* Written compactly; the RFC spreads some of these over several lines. */
static const struct {
	const char *what;
	const char *target, *patch, *result; /* result NULL: absent */
} rfc[] = {
	{ "section 1",
	  "{\"a\":\"b\",\"c\":{\"d\":\"e\",\"f\":\"g\"}}",
	  "{\"a\":\"z\",\"c\":{\"f\":null}}",
	  "{\"a\":\"z\",\"c\":{\"d\":\"e\"}}" },
	{ "section 3",
	  "{\"title\":\"Goodbye!\","
	  "\"author\":{\"givenName\":\"John\",\"familyName\":\"Doe\"},"
	  "\"tags\":[\"example\",\"sample\"],"
	  "\"content\":\"This will be unchanged\"}",
	  "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\","
	  "\"author\":{\"familyName\":null},\"tags\":[\"example\"]}",
	  "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},"
	  "\"tags\":[\"example\"],\"content\":\"This will be unchanged\","
	  "\"phoneNumber\":\"+01-123-456-7890\"}" },
	{ "A.1", "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "A.2", "{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}" },
	{ "A.3", "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
	{ "A.4", "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}" },
	{ "A.5", "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "A.6", "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
	{ "A.7", "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
	  "{\"a\":{\"b\":\"d\"}}" },
	{ "A.8", "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}" },
	{ "A.9", "[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]" },
	{ "A.10", "{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]" },
	{ "A.11", "{\"a\":\"foo\"}", "null", NULL },
	{ "A.12", "{\"a\":\"foo\"}", "\"bar\"", "\"bar\"" },
	{ "A.13", "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}" },
	{ "A.14", "[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}" },
	{ "A.15", "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}" },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* NULL stands for an absent value; a table typo must not pass as absent. */
static json_t *J(const char *s)
{
	json_error_t e;
	json_t *v;

	if (!s)
		return NULL;
	v = json_loads(s, JSON_DECODE_ANY, &e);
	if (!v) {
		fprintf(stderr, "bad test JSON %s: %s\n", s, e.text);
		exit(99);
	}
	return v;
}

static const char *show(const char *s)
{
	return s ? s : "absent";
}

static void diag_json(const char *label, json_t *v)
{
	char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	tap_diag("%s %s", label, s ? s : "absent");
	free(s);
}

/* Members of target the patch does not name must be the very same values. */
static int shares_untouched(json_t *target, json_t *patch, json_t *result)
{
	const char *name;
	json_t *v;

	if (!json_is_object(target) || !json_is_object(patch) || !json_is_object(result))
		return 1;
	json_object_foreach(target, name, v) {
		if (!json_object_get(patch, name) && json_object_get(result, name) != v)
			return 0;
	}
	return 1;
}

static void test_rfc(void)
{
	size_t i;

	for (i = 0; i < NELEM(rfc); i++) {
		json_t *t = J(rfc[i].target), *p = J(rfc[i].patch), *want = J(rfc[i].result);
		json_t *t0 = json_deep_copy(t), *p0 = json_deep_copy(p);
		json_t *got;
		int err = -1;
		int ok;

		got = mps3_merge_patch(t, p, &err);
		ok = err == 0 && (want ? got && json_equal(got, want) : !got);
		if (!tap_ok(ok, "RFC 7386 %s: %s + %s", rfc[i].what, rfc[i].target, rfc[i].patch)) {
			tap_diag("err %d", err);
			diag_json("got: ", got);
			diag_json("want:", want);
		}
		tap_ok(json_equal(t, t0) && json_equal(p, p0),
		       "RFC 7386 %s leaves target and patch unchanged", rfc[i].what);
		tap_ok(shares_untouched(t, p, got),
		       "RFC 7386 %s shares the members it does not patch", rfc[i].what);
		json_decref(got);
		json_decref(want);
		json_decref(p0);
		json_decref(t0);
		json_decref(p);
		json_decref(t);
	}
}

/* New objects along the changed path only; references taken and given back. */
static void test_sharing(void)
{
	json_t *t = J("{\"dir\":{\"keep\":{\"deep\":[1,2,3]},\"n\":1},\"list\":[4,5]}");
	json_t *p = J("{\"dir\":{\"n\":2},\"new\":[6]}");
	json_t *dir = json_object_get(t, "dir");
	json_t *keep = json_object_get(dir, "keep");
	json_t *list = json_object_get(t, "list");
	json_t *added = json_object_get(p, "new");
	size_t rc_dir = dir->refcount, rc_keep = keep->refcount;
	size_t rc_list = list->refcount, rc_added = added->refcount;
	json_t *r, *rdir;
	int err = -1;

	r = mps3_merge_patch(t, p, &err);
	rdir = json_object_get(r, "dir");
	tap_ok(err == 0 && r && r != t && rdir && rdir != dir,
	       "objects on the patched path are new");
	tap_ok(json_object_get(r, "list") == list && list->refcount == rc_list + 1,
	       "an untouched top-level member is shared, its refcount up by one");
	tap_ok(json_object_get(rdir, "keep") == keep && keep->refcount == rc_keep + 1,
	       "an untouched member below a patched object is shared too");
	tap_inteq(dir->refcount, rc_dir, "the replaced object gains no reference");
	tap_ok(json_object_get(r, "new") == added && added->refcount == rc_added + 1,
	       "a non-object patch value is shared, not copied");
	json_decref(r);
	tap_ok(list->refcount == rc_list && keep->refcount == rc_keep &&
	       added->refcount == rc_added, "dropping the result gives every reference back");
	json_decref(p);
	json_decref(t);
}

static void test_absent(void)
{
	json_t *p = J("{\"a\":{\"b\":null,\"c\":1}}");
	json_t *want = J("{\"a\":{\"c\":1}}");
	json_t *s = J("\"s\"");
	json_t *r;
	int err = -1;

	r = mps3_merge_patch(NULL, p, &err);
	tap_ok(err == 0 && r && json_equal(r, want),
	       "an object patch over an absent target starts from {}");
	json_decref(r);

	err = -1;
	r = mps3_merge_patch(NULL, json_null(), &err);
	tap_ok(err == 0 && !r, "a null patch over an absent target stays absent");
	json_decref(r);

	err = -1;
	r = mps3_merge_patch(NULL, s, &err);
	tap_ok(err == 0 && r == s, "a scalar patch over an absent target is the patch itself");
	json_decref(r);

	json_decref(s);
	json_decref(want);
	json_decref(p);
}

/* The use mps3 makes of it: a manifest maps paths to file entries. */
static void test_files(void)
{
	json_t *files = J("{\"a.txt\":{\"type\":\"f\",\"blob\":\"b1\",\"size\":3,\"mode\":420},"
			  "\"dir\":{\"type\":\"d\",\"mode\":493}}");
	json_t *chmod = J("{\"a.txt\":{\"mode\":384}}");
	json_t *chmod_want = J("{\"a.txt\":{\"type\":\"f\",\"blob\":\"b1\",\"size\":3,\"mode\":384},"
			       "\"dir\":{\"type\":\"d\",\"mode\":493}}");
	json_t *rename = J("{\"a.txt\":null,"
			   "\"b.txt\":{\"type\":\"f\",\"blob\":\"b1\",\"size\":3,\"mode\":420}}");
	json_t *rename_want = J("{\"b.txt\":{\"type\":\"f\",\"blob\":\"b1\",\"size\":3,\"mode\":420},"
				"\"dir\":{\"type\":\"d\",\"mode\":493}}");
	json_t *files0 = json_deep_copy(files);
	json_t *old = json_object_get(files, "a.txt");
	json_t *r, *d;
	int err = -1;

	r = mps3_merge_patch(files, chmod, &err);
	tap_ok(err == 0 && r && json_equal(r, chmod_want), "a chmod patch changes the mode only");
	tap_ok(r && json_object_get(json_object_get(r, "a.txt"), "blob") ==
			    json_object_get(old, "blob") &&
		       json_object_get(r, "dir") == json_object_get(files, "dir"),
	       "chmod shares the blob name and the other entries");
	json_decref(r);

	err = -1;
	r = mps3_merge_patch(files, rename, &err);
	tap_ok(err == 0 && r && json_equal(r, rename_want),
	       "deleting a.txt and adding b.txt in one patch renames");
	json_decref(r);
	tap_ok(json_equal(files, files0), "the files map is left as it was");

	err = -1;
	d = mps3_merge_diff(files, rename_want, &err);
	tap_ok(err == 0 && d && json_equal(d, rename), "merge_diff of a rename is the rename patch");
	json_decref(d);

	json_decref(files0);
	json_decref(rename_want);
	json_decref(rename);
	json_decref(chmod_want);
	json_decref(chmod);
	json_decref(files);
}

/* levels objects nested as {"k":{"k":...{"k":leaf}}}; leaf is taken over. */
static json_t *nest(int levels, json_t *leaf)
{
	json_t *v = leaf;
	json_t *o;
	int i;

	for (i = 0; i < levels; i++) {
		o = json_object();
		if (!o || json_object_set_new(o, "k", v)) {
			fprintf(stderr, "out of memory\n");
			exit(99);
		}
		v = o;
	}
	return v;
}

static void test_depth(void)
{
	json_t *ok64 = nest(64, json_integer(1));
	json_t *deep65 = nest(65, json_integer(1));
	json_t *in_array = nest(1, json_pack("[o]", nest(100, json_integer(1))));
	json_t *deep_target = nest(100, json_integer(1));
	json_t *small = J("{\"x\":1}");
	json_t *r;
	int err = -1;

	r = mps3_merge_patch(NULL, ok64, &err);
	tap_ok(err == 0 && r && json_equal(r, ok64), "a patch 64 objects deep is applied");
	json_decref(r);

	err = 0;
	r = mps3_merge_patch(NULL, deep65, &err);
	tap_ok(!r && err == -E2BIG, "a patch 65 objects deep is refused with -E2BIG");
	json_decref(r);

	err = 0;
	r = mps3_merge_patch(ok64, deep65, &err);
	tap_ok(!r && err == -E2BIG, "also over a deep target, without leaking the partial result");
	json_decref(r);

	err = -1;
	r = mps3_merge_patch(NULL, in_array, &err);
	tap_ok(err == 0 && r && json_equal(r, in_array),
	       "objects inside an array value do not count: arrays are not walked");
	json_decref(r);

	err = -1;
	r = mps3_merge_patch(deep_target, small, &err);
	tap_ok(err == 0 && r && json_object_get(r, "k") == json_object_get(deep_target, "k"),
	       "a deep target is no problem: it is shared, not walked");
	json_decref(r);

	err = -1;
	r = mps3_merge_diff(NULL, ok64, &err);
	tap_ok(err == 0 && r && json_equal(r, ok64), "merge_diff to a value 64 objects deep works");
	json_decref(r);

	err = 0;
	r = mps3_merge_diff(NULL, deep65, &err);
	tap_ok(!r && err == -E2BIG, "merge_diff refuses a patch merge_patch would refuse");
	json_decref(r);

	err = 0;
	r = mps3_merge_diff(ok64, deep65, &err);
	tap_ok(!r && err == -E2BIG, "also when the change is 65 objects down");
	json_decref(r);

	json_decref(small);
	json_decref(deep_target);
	json_decref(in_array);
	json_decref(deep65);
	json_decref(ok64);
}

static const struct {
	const char *a, *b, *patch; /* NULL: absent */
} diffs[] = {
	{ "{\"a\":1}", "{\"a\":2}", "{\"a\":2}" },
	{ "{\"a\":1,\"b\":2}", "{\"a\":1}", "{\"b\":null}" },
	{ "{\"a\":{\"x\":1,\"y\":2}}", "{\"a\":{\"x\":1,\"z\":3}}", "{\"a\":{\"y\":null,\"z\":3}}" },
	{ "{\"a\":{\"b\":{\"c\":1,\"d\":2}},\"e\":true}", "{\"a\":{\"b\":{\"c\":1,\"d\":3}},\"e\":true}",
	  "{\"a\":{\"b\":{\"d\":3}}}" },
	{ "{\"a\":[1]}", "{\"a\":{\"k\":[2]}}", "{\"a\":{\"k\":[2]}}" },
	{ "{\"a\":\"s\"}", "{\"a\":{\"k\":1}}", "{\"a\":{\"k\":1}}" },
	{ "{\"a\":{\"k\":1}}", "{\"a\":\"s\"}", "{\"a\":\"s\"}" },
	{ "{\"type\":\"f\",\"blob\":\"x\",\"xattr\":{\"user.a\":\"1\"}}", "{\"type\":\"d\"}",
	  "{\"type\":\"d\",\"blob\":null,\"xattr\":null}" },
	{ "{\"a\":[null]}", "{\"a\":[null,{\"n\":null}]}", "{\"a\":[null,{\"n\":null}]}" },
	{ "{\"x\":null,\"y\":1}", "{\"x\":null,\"y\":2}", "{\"y\":2}" },
	{ "{\"a\":null}", "{}", "{\"a\":null}" },
	{ "3", "{\"a\":1}", "{\"a\":1}" },
	{ "{\"a\":1}", "3", "3" },
	{ "null", "{\"a\":1}", "{\"a\":1}" },
	{ "[1,2]", "[1,2,3]", "[1,2,3]" },
	{ "{}", "{}", NULL },
	{ "{\"a\":[1,{\"b\":2}]}", "{\"a\":[1,{\"b\":2}]}", NULL },
	{ "null", "null", NULL },
	{ NULL, "{\"a\":{\"b\":1}}", "{\"a\":{\"b\":1}}" },
	{ NULL, "\"s\"", "\"s\"" },
	{ "{\"a\":1}", NULL, "null" },
	{ "null", NULL, "null" },
	{ NULL, NULL, NULL },
};

static void test_diff(void)
{
	size_t i;

	for (i = 0; i < NELEM(diffs); i++) {
		json_t *a = J(diffs[i].a), *b = J(diffs[i].b), *want = J(diffs[i].patch);
		json_t *a0 = json_deep_copy(a), *b0 = json_deep_copy(b);
		json_t *d, *back;
		int err = -1, err2 = -1;
		int ok;

		d = mps3_merge_diff(a, b, &err);
		ok = err == 0 && (want ? d && json_equal(d, want) : !d);
		if (!tap_ok(ok, "diff %s -> %s is %s", show(diffs[i].a), show(diffs[i].b),
			    show(diffs[i].patch))) {
			tap_diag("err %d", err);
			diag_json("got: ", d);
		}
		/* No patch at all means a stays as it is. */
		back = d ? mps3_merge_patch(a, d, &err2) : json_incref(a);
		if (!d)
			err2 = 0;
		tap_ok(err2 == 0 && (b ? back && json_equal(back, b) : !back),
		       "merge_patch(%s, diff) gives %s back", show(diffs[i].a), show(diffs[i].b));
		tap_ok((!a || json_equal(a, a0)) && (!b || json_equal(b, b0)),
		       "diff %s -> %s leaves both unchanged", show(diffs[i].a), show(diffs[i].b));
		json_decref(back);
		json_decref(d);
		json_decref(b0);
		json_decref(a0);
		json_decref(want);
		json_decref(b);
		json_decref(a);
	}
}

/* Merge patches read null as "delete", so b cannot carry one where it differs. */
static const struct {
	const char *a, *b;
} unrepresentable[] = {
	{ "{\"a\":1}", "{\"a\":null}" },
	{ "{}", "{\"a\":null}" },
	{ "{\"a\":1}", "{\"a\":1,\"b\":{\"c\":[1],\"d\":null}}" },
	{ NULL, "{\"a\":{\"b\":null}}" },
	{ "1", "{\"a\":{\"b\":null}}" },
	{ "{\"a\":1}", "null" },
	{ NULL, "null" },
};

static void test_diff_invalid(void)
{
	size_t i;

	for (i = 0; i < NELEM(unrepresentable); i++) {
		json_t *a = J(unrepresentable[i].a), *b = J(unrepresentable[i].b);
		json_t *d;
		int err = 0;

		d = mps3_merge_diff(a, b, &err);
		tap_ok(!d && err == -EINVAL, "diff %s -> %s is not representable: -EINVAL",
		       show(unrepresentable[i].a), unrepresentable[i].b);
		json_decref(d);
		json_decref(b);
		json_decref(a);
	}
}

static void test_diff_sharing(void)
{
	json_t *a = J("{\"a\":1}");
	json_t *b = J("{\"a\":1,\"b\":[1,2],\"c\":{\"d\":{\"e\":3}}}");
	json_t *arr = json_object_get(b, "b"), *obj = json_object_get(b, "c");
	size_t rc_arr = arr->refcount, rc_obj = obj->refcount;
	json_t *d;
	int err = -1;

	d = mps3_merge_diff(a, b, &err);
	tap_ok(err == 0 && d && json_object_get(d, "b") == arr && json_object_get(d, "c") == obj &&
		       arr->refcount == rc_arr + 1 && obj->refcount == rc_obj + 1,
	       "merge_diff shares b's new values by reference");
	tap_ok(d && !json_object_get(d, "a"), "and does not name the unchanged member");
	json_decref(d);
	tap_ok(arr->refcount == rc_arr && obj->refcount == rc_obj,
	       "dropping the diff gives the references back");
	json_decref(b);
	json_decref(a);
}

/* ---- merge_union: one patch from either of two targets --------------- */

static unsigned long long lcg = 88172645463325252ull;

static unsigned pick(unsigned n)
{
	lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)(lcg >> 33) % n;
}

/* A random value (NULL: absent): objects of a few members, one level nested, scalars, arrays. */
static json_t *random_value(int level)
{
	static const char *const keys[] = { "a", "b", "c", "d" };
	json_t *o;
	size_t i;

	if (level > 0 && pick(4) == 0)
		return pick(2) ? json_integer(pick(3)) : json_pack("[i]", (int)pick(3));
	if (level == 0 && pick(4) == 0)
		return NULL;
	o = json_object();
	for (i = 0; i < NELEM(keys); i++) {
		unsigned r = pick(4);

		if (r == 0)
			continue;
		json_object_set_new(o, keys[i], r == 1 && level < 2 ? random_value(level + 1) : json_integer(pick(3)));
	}
	/* A member that came out absent (NULL) was not set. */
	return o;
}

static int same(json_t *x, json_t *y)
{
	return x ? y && json_equal(x, y) : !y;
}

static void test_union(void)
{
	json_t *dir = J("{\"type\":\"d\",\"mode\":493}"), *p, *q, *u;
	int err = -1, i, bad = 0, changed = 0;

	/* Made, then removed, while the first commit's fate was unknown. */
	p = mps3_merge_diff(NULL, NULL, &err);
	q = mps3_merge_diff(dir, NULL, &err);
	u = mps3_merge_union(p, q, &err);
	tap_ok(err == 0 && !p && u && json_is_null(u),
	       "union of no change (from absent) and a removal (from a directory) removes");
	json_decref(u);
	json_decref(q);
	json_decref(dir);
	for (i = 0; i < 3000; i++) {
		json_t *a = random_value(0), *b = random_value(0), *want = random_value(0);
		json_t *a0 = a ? json_deep_copy(a) : NULL, *b0 = b ? json_deep_copy(b) : NULL;
		json_t *ra, *rb, *again;
		int e1 = 0, e2 = 0, e3 = 0, e4 = 0, e5 = 0;

		p = mps3_merge_diff(a, want, &e1);
		q = mps3_merge_diff(b, want, &e2);
		u = mps3_merge_union(p, q, &e3);
		ra = u ? mps3_merge_patch(a, u, &e4) : (a ? json_incref(a) : NULL);
		rb = u ? mps3_merge_patch(b, u, &e5) : (b ? json_incref(b) : NULL);
		if (e1 || e2 || e3 || e4 || e5 || !same(ra, want) || !same(rb, want)) {
			if (bad++ == 0) {
				diag_json("a: ", a);
				diag_json("b: ", b);
				diag_json("want: ", want);
				diag_json("union: ", u);
			}
		}
		again = mps3_merge_diff(a, want, &e1);
		if (!same(a, a0) || !same(b, b0) || !same(p, again))
			changed++;
		json_decref(again);
		json_decref(ra);
		json_decref(rb);
		json_decref(u);
		json_decref(q);
		json_decref(p);
		json_decref(a0);
		json_decref(b0);
		json_decref(want);
		json_decref(b);
		json_decref(a);
	}
	tap_ok(bad == 0, "3000 random pairs of targets: the union of their diffs gives the value from both (%d not)", bad);
	tap_ok(changed == 0, "and leaves targets and patches unchanged (%d changed)", changed);
}

int main(void)
{
	test_rfc();
	test_sharing();
	test_absent();
	test_files();
	test_depth();
	test_diff();
	test_diff_invalid();
	test_diff_sharing();
	test_union();
	return tap_done();
}
