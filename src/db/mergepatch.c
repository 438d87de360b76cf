/*
 * db/mergepatch.c - RFC 7386 JSON Merge Patch, applied without touching the
 * target (unchanged sub-values are shared by reference), and its inverse:
 * the smallest merge patch between two values.
 */
#include <errno.h>

#include "mps3/mergepatch.h"

/* Deeper documents are refused rather than risking the stack. */
#define MAX_DEPTH 64

static json_t *patch_rec(json_t *target, json_t *patch, int depth, int *err)
{
	const char *name;
	json_t *result, *v;

	if (json_is_null(patch))
		return NULL;
	if (!json_is_object(patch))
		return json_incref(patch);
	if (depth > MAX_DEPTH) {
		*err = -E2BIG;
		return NULL;
	}
	/* A shallow copy shares every member; only the patched ones are replaced. */
	result = json_is_object(target) ? json_copy(target) : json_object();
	if (!result) {
		*err = -ENOMEM;
		return NULL;
	}
	json_object_foreach(patch, name, v) {
		json_t *next;

		if (json_is_null(v)) {
			json_object_del(result, name);
			continue;
		}
		next = patch_rec(json_object_get(result, name), v, depth + 1, err);
		if (*err || !next || json_object_set_new(result, name, next)) {
			if (!*err)
				*err = -ENOMEM;
			json_decref(result);
			return NULL;
		}
	}
	return result;
}

json_t *mps3_merge_patch(json_t *target, json_t *patch, int *err)
{
	*err = 0;
	return patch_rec(target, patch, 0, err);
}

/* 1 if v holds a null member anywhere (merge patches cannot set one). */
static int has_null_member(json_t *v, int depth)
{
	const char *name;
	json_t *m;

	if (!json_is_object(v))
		return 0;
	if (depth > MAX_DEPTH)
		return 1;
	json_object_foreach(v, name, m)
		if (json_is_null(m) || has_null_member(m, depth + 1))
			return 1;
	return 0;
}

static json_t *diff_rec(json_t *a, json_t *b, int depth, int *err)
{
	const char *name;
	json_t *patch, *v;

	if (!b)
		return json_null();
	if (a && json_equal(a, b))
		return NULL;
	if (!json_is_object(b) || !json_is_object(a)) {
		if (has_null_member(b, depth)) {
			*err = -EINVAL;
			return NULL;
		}
		/* An object patch over a non-object starts from {}: b itself works. */
		return json_incref(b);
	}
	if (depth > MAX_DEPTH) {
		*err = -E2BIG;
		return NULL;
	}
	patch = json_object();
	if (!patch) {
		*err = -ENOMEM;
		return NULL;
	}
	json_object_foreach(a, name, v) {
		if (!json_object_get(b, name) && json_object_set_new(patch, name, json_null()))
			goto nomem;
	}
	json_object_foreach(b, name, v) {
		json_t *d;

		if (json_is_null(v)) {
			*err = -EINVAL;
			json_decref(patch);
			return NULL;
		}
		d = diff_rec(json_object_get(a, name), v, depth + 1, err);
		if (*err) {
			json_decref(patch);
			return NULL;
		}
		if (d && json_object_set_new(patch, name, d))
			goto nomem;
	}
	return patch;
nomem:
	*err = -ENOMEM;
	json_decref(patch);
	return NULL;
}

json_t *mps3_merge_diff(json_t *a, json_t *b, int *err)
{
	*err = 0;
	if (!a && !b)
		return NULL;
	return diff_rec(a, b, 0, err);
}
