/*
 * fuzz_mergepatch.c - JSON Merge Patch (RFC 7386) and the entry patches
 * built on it.
 *
 * The input is two JSON texts A and B, split at the first NUL byte, or if
 * there is none at the first newline; an empty (or all-blank) text is an
 * absent value, one that does not parse ends the run.
 *
 * Properties (mps3/mergepatch.h, mps3/entry.h):
 *  - mps3_merge_patch(A, B) equals a plain RFC 7386 implementation, fails
 *    only with -E2BIG and exactly when B nests 65 objects deep, and leaves
 *    A and B unchanged;
 *  - for (X, Y) in (A, R), (A, B), (B, A), with R the result above: when
 *    mps3_merge_diff(X, Y) succeeds, applying it to X gives Y again (NULL
 *    only when X equals Y); -EINVAL only when Y holds a null;
 *  - mps3_entry_patch(CUR, WANT) for (A, B), (B, A), (absent, B), (A,
 *    absent): leaves both unchanged, and a patch it returns without error
 *    turns CUR into a value whose content fields (type, blob, size, target)
 *    are WANT's (absent = null), or, if WANT is an entry, into the same
 *    entry (mps3_entry_parse, every field).
 */
#include <errno.h>

#include "fuzz.h"
#include "mps3/entry.h"
#include "mps3/mergepatch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	return 0;
}

/* 0 ok (*out may be NULL: absent), -1 not JSON. */
static int load(json_t **out, const uint8_t *p, size_t n)
{
	size_t i;

	*out = NULL;
	for (i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			break;
	if (i == n)
		return 0;
	*out = json_loadb((const char *)p, n, JSON_DECODE_ANY, NULL);
	return *out ? 0 : -1;
}

/* RFC 7386 section 2, literally, on deep copies. */
static json_t *ref_patch(json_t *target, json_t *patch)
{
	const char *name;
	json_t *result, *v;

	if (!json_is_object(patch))
		return json_is_null(patch) ? NULL : json_deep_copy(patch);
	result = json_is_object(target) ? json_deep_copy(target) : json_object();
	json_object_foreach(patch, name, v) {
		if (json_is_null(v))
			json_object_del(result, name);
		else
			json_object_set_new(result, name, ref_patch(json_object_get(result, name), v));
	}
	return result;
}

/* Deepest chain of objects nested in objects (arrays end a chain). */
static int obj_depth(json_t *v)
{
	const char *name;
	json_t *m;
	int d = 0, x;

	if (!json_is_object(v))
		return 0;
	json_object_foreach(v, name, m) {
		x = obj_depth(m);
		if (x > d)
			d = x;
	}
	return d + 1;
}

/* A null anywhere in an object (not inside an array): what a patch cannot send. */
static int has_null(json_t *v)
{
	const char *name;
	json_t *m;

	if (json_is_null(v))
		return 1;
	if (!json_is_object(v))
		return 0;
	json_object_foreach(v, name, m)
		if (has_null(m))
			return 1;
	return 0;
}

static json_t *copy(json_t *v)
{
	return v ? json_deep_copy(v) : NULL;
}

static void check_diff(json_t *x, json_t *y)
{
	json_t *x0 = copy(x), *y0 = copy(y), *d, *back;
	int err = 1, err2 = 1;

	d = mps3_merge_diff(x, y, &err);
	FUZZ_CHECK(err == 0 || err == -EINVAL || err == -E2BIG);
	FUZZ_CHECK(fuzz_same(x, x0) && fuzz_same(y, y0));
	if (err == -EINVAL)
		FUZZ_CHECK(has_null(y));
	if (err == -E2BIG)
		FUZZ_CHECK(obj_depth(y) > 64);
	if (err) {
		FUZZ_CHECK(d == NULL);
	} else if (!d) {
		FUZZ_CHECK(fuzz_same(x, y));
	} else {
		back = mps3_merge_patch(x, d, &err2);
		FUZZ_CHECK(err2 == 0);
		FUZZ_CHECK(fuzz_same(back, y));
		json_decref(back);
	}
	json_decref(d);
	json_decref(x0);
	json_decref(y0);
}

static void check_entry_patch(json_t *cur, json_t *want)
{
	static const char *const content[] = { "type", "blob", "size", "target" };
	json_t *cur0 = copy(cur), *want0 = copy(want), *p, *res;
	struct mps3_entry we, re;
	int err = 1, err2 = 0;
	size_t i;

	p = mps3_entry_patch(cur, want, &err);
	FUZZ_CHECK(err == 0 || err == -EINVAL || err == -E2BIG);
	/* "never change the caller's value" */
	FUZZ_CHECK(fuzz_same(cur, cur0) && fuzz_same(want, want0));
	if (err) {
		FUZZ_CHECK(p == NULL);
		goto out;
	}
	res = p ? mps3_merge_patch(cur, p, &err2) : json_incref(cur);
	FUZZ_CHECK(err2 == 0);
	if (!want) {
		FUZZ_CHECK(res == NULL);
	} else if (!json_is_object(want)) {
		FUZZ_CHECK(fuzz_same(res, want));
	} else if (mps3_entry_parse(&we, want) == 0) {
		/* Sent whole, an entry is normalised: compare what it means. */
		FUZZ_CHECK(mps3_entry_parse(&re, res) == 0);
		FUZZ_CHECK(re.type == we.type && re.size == we.size);
		FUZZ_CHECK(we.type != MPS3_FILE || strcmp(re.blob, we.blob) == 0);
		FUZZ_CHECK(we.type != MPS3_LINK || strcmp(re.target, we.target) == 0);
		FUZZ_CHECK(re.mode == we.mode && re.uid == we.uid && re.gid == we.gid &&
			   re.mtime_ns == we.mtime_ns);
		FUZZ_CHECK(fuzz_same(re.xattr, we.xattr) ||
			   (json_object_size(re.xattr) == 0 && json_object_size(we.xattr) == 0));
	} else {
		FUZZ_CHECK(json_is_object(res));
		for (i = 0; i < sizeof(content) / sizeof(content[0]); i++)
			FUZZ_CHECK(fuzz_same_member(json_object_get(res, content[i]),
						    json_object_get(want, content[i])));
	}
	json_decref(res);
	json_decref(p);
out:
	json_decref(cur0);
	json_decref(want0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep = memchr(data, '\0', size);
	json_t *a = NULL, *b = NULL, *a0, *b0, *r, *ref;
	size_t n;
	int err = 1;

	if (!sep)
		sep = memchr(data, '\n', size);
	if (!sep)
		return 0;
	n = (size_t)(sep - data);
	if (load(&a, data, n) || load(&b, sep + 1, size - n - 1))
		goto out;
	a0 = copy(a);
	b0 = copy(b);

	r = mps3_merge_patch(a, b, &err);
	FUZZ_CHECK(err == 0 || err == -E2BIG);
	FUZZ_CHECK((err == -E2BIG) == (obj_depth(b) > 64));
	FUZZ_CHECK(fuzz_same(a, a0) && fuzz_same(b, b0));
	if (err == 0) {
		ref = ref_patch(a, b);
		FUZZ_CHECK(fuzz_same(r, ref));
		json_decref(ref);
		check_diff(a, r);
	} else {
		FUZZ_CHECK(r == NULL);
	}
	check_diff(a, b);
	check_diff(b, a);

	check_entry_patch(a, b);
	check_entry_patch(b, a);
	check_entry_patch(NULL, b);
	check_entry_patch(a, NULL);

	json_decref(r);
	json_decref(a0);
	json_decref(b0);
out:
	json_decref(a);
	json_decref(b);
	return 0;
}
