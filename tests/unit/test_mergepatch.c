/*
 * test_mergepatch.c - RFC 7386: every example of Appendix A and the
 * section 3 document, inputs left untouched and shared, and merge_diff
 * round trips.
 */
#include <errno.h>
#include <stdlib.h>

#include "mps3/mergepatch.h"
#include "tap.h"

static const struct {
	const char *target, *patch, *result; /* result NULL: absent */
} rfc[] = {
	{ "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}" },
	{ "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
	{ "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}" },
	{ "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
	{ "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}" },
	{ "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}" },
	{ "[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]" },
	{ "{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]" },
	{ "{\"a\":\"foo\"}", "null", NULL },
	{ "{\"a\":\"foo\"}", "\"bar\"", "\"bar\"" },
	{ "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}" },
	{ "[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}" },
	{ "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}" },
	/* Section 3. */
	{ "{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\",\"familyName\":\"Doe\"},"
	  "\"tags\":[\"example\",\"sample\"],\"content\":\"This will be unchanged\"}",
	  "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\",\"author\":{\"familyName\":null},"
	  "\"tags\":[\"example\"]}",
	  "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},\"tags\":[\"example\"],"
	  "\"content\":\"This will be unchanged\",\"phoneNumber\":\"+01-123-456-7890\"}" },
};

static json_t *J(const char *s)
{
	return s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
}

static void test_rfc(void)
{
	size_t i;

	for (i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
		json_t *t = J(rfc[i].target), *p = J(rfc[i].patch), *want = J(rfc[i].result);
		json_t *t0 = json_deep_copy(t), *p0 = json_deep_copy(p), *got;
		int err = -1, ok;

		got = mps3_merge_patch(t, p, &err);
		ok = err == 0 && (want ? got && json_equal(got, want) : got == NULL);
		tap_ok(ok, "RFC 7386 example %zu: %s + %s", i + 1, rfc[i].target, rfc[i].patch);
		tap_ok(json_equal(t, t0) && json_equal(p, p0), "example %zu leaves target and patch unchanged", i + 1);
		json_decref(got);
		json_decref(t);
		json_decref(p);
		json_decref(t0);
		json_decref(p0);
		json_decref(want);
	}
}

static void test_sharing(void)
{
	json_t *t = J("{\"keep\":{\"deep\":[1,2,3]},\"change\":1}");
	json_t *p = J("{\"change\":2}");
	json_t *keep = json_object_get(t, "keep");
	size_t before = keep->refcount;
	int err;
	json_t *r = mps3_merge_patch(t, p, &err);

	tap_ok(r && json_object_get(r, "keep") == keep && keep->refcount == before + 1,
	       "unchanged members are shared by reference, not copied");
	json_decref(r);
	tap_inteq(keep->refcount, before, "and released with the result");
	json_decref(t);
	json_decref(p);

	{
		json_t *want = J("{\"a\":{\"c\":1}}");

		p = J("{\"a\":{\"b\":null,\"c\":1}}");
		r = mps3_merge_patch(NULL, p, &err);
		tap_ok(r && json_equal(r, want), "patch over an absent target starts from {}");
		json_decref(r);
		json_decref(p);
		json_decref(want);
	}
}

static void test_files(void)
{
	json_t *files = J("{\"a.txt\":{\"type\":\"f\",\"blob\":\"b1\",\"size\":3,\"mode\":420}}");
	json_t *chmod = J("{\"mode\":384}");
	json_t *want = J("{\"type\":\"f\",\"blob\":\"b1\",\"size\":3,\"mode\":384}");
	int err;
	json_t *r = mps3_merge_patch(json_object_get(files, "a.txt"), chmod, &err);

	tap_ok(r && json_equal(r, want), "a chmod patch changes the mode only");
	json_decref(r);
	json_decref(files);
	json_decref(chmod);
	json_decref(want);
}

static void test_depth(void)
{
	char deep[1024] = "", *p = deep;
	json_t *j, *r;
	int i, err = 0;

	for (i = 0; i < 100; i++)
		p += sprintf(p, "{\"a\":");
	p += sprintf(p, "1");
	for (i = 0; i < 100; i++)
		*p++ = '}';
	*p = '\0';
	j = json_loads(deep, 0, NULL);
	r = mps3_merge_patch(NULL, j, &err);
	tap_ok(!r && err == -E2BIG, "a patch nested 100 deep is refused with -E2BIG");
	json_decref(j);
}

static void test_diff(void)
{
	static const char *const pairs[][2] = {
		{ "{\"a\":1}", "{\"a\":2}" },
		{ "{\"a\":1,\"b\":2}", "{\"a\":1}" },
		{ "{\"a\":{\"x\":1,\"y\":2}}", "{\"a\":{\"x\":1,\"z\":3}}" },
		{ "{\"a\":[1]}", "{\"a\":{\"k\":[2]}}" },
		{ "{\"a\":\"s\"}", "{\"a\":{\"k\":1}}" },
		{ "{\"type\":\"f\",\"blob\":\"x\",\"xattr\":{\"user.a\":\"1\"}}", "{\"type\":\"d\"}" },
		{ "3", "{\"a\":1}" },
		{ "{}", "{}" },
		{ NULL, "{\"a\":{\"b\":1}}" },
		{ "{\"a\":1}", NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		json_t *a = J(pairs[i][0]), *b = J(pairs[i][1]), *d, *back;
		int err = 0, err2 = 0, ok;

		d = mps3_merge_diff(a, b, &err);
		if (err == 0 && !d) {
			ok = (!a && !b) || (a && b && json_equal(a, b));
		} else {
			back = mps3_merge_patch(a, d, &err2);
			ok = err == 0 && err2 == 0 && (b ? back && json_equal(back, b) : !back);
			json_decref(back);
		}
		tap_ok(ok, "diff round trip %s -> %s", pairs[i][0] ? pairs[i][0] : "absent",
		       pairs[i][1] ? pairs[i][1] : "absent");
		json_decref(d);
		json_decref(a);
		json_decref(b);
	}
	{
		json_t *a = J("{\"a\":1}"), *b = J("{\"a\":null}");
		int err = 0;
		json_t *d = mps3_merge_diff(a, b, &err);

		tap_ok(!d && err == -EINVAL, "a null member cannot be expressed: -EINVAL");
		json_decref(a);
		json_decref(b);
	}
}

int main(void)
{
	test_rfc();
	test_sharing();
	test_files();
	test_depth();
	test_diff();
	return tap_done();
}
