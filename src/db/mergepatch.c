/*
 * db/mergepatch.c - RFC 7386 JSON Merge Patch on jansson values: applying a
 * patch without touching the target (unchanged members are shared by
 * reference), and the inverse, the smallest patch from one value to another.
 */
#include <errno.h>

#include "mps3/mergepatch.h"

/*
 * Both directions recurse once per object level.  Patches are read from the
 * bucket, so the nesting is bounded to keep a hostile or corrupt log entry
 * from exhausting a FUSE worker's stack; real entries are two or three levels
 * deep.  The outermost patch object is level 1; a patch object at level
 * MAX_DEPTH + 1 is refused with -E2BIG (as the header documents).  Arrays
 * and scalars are copied whole, never walked, so they do not count.
 */
#define MAX_DEPTH 64

/*
 * *out = MergePatch(target, patch), a new reference or NULL for absent.
 * The result object is a shallow copy of target: json_copy() of an object
 * takes a reference to every member, so only the names the patch mentions
 * get new values and everything else stays shared with the target.
 */
static int apply(json_t **out, json_t *target, json_t *patch, int level)
{
	json_t *result = NULL;
	json_t *value, *member;
	const char *name;
	int rc = 0;

	*out = NULL;
	if (json_is_null(patch))
		return 0;
	if (!json_is_object(patch)) {
		*out = json_incref(patch);
		return 0;
	}
	if (level > MAX_DEPTH)
		return -E2BIG;

	if (json_is_object(target))
		result = json_copy(target);
	else
		result = json_object();
	if (!result)
		return -ENOMEM;

	json_object_foreach(patch, name, value) {
		if (json_is_null(value)) {
			/* Deleting a name the target lacks is not an error. */
			json_object_del(result, name);
			continue;
		}
		rc = apply(&member, json_object_get(result, name), value, level + 1);
		if (rc)
			goto fail;
		/* set_new drops member itself when it fails. */
		if (json_object_set_new(result, name, member)) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	*out = result;
	return 0;

fail:
	json_decref(result);
	return rc;
}

json_t *mps3_merge_patch(json_t *target, json_t *patch, int *err)
{
	json_t *out = NULL;

	*err = apply(&out, target, patch, 1);
	return out;
}

/*
 * Whether v, sent whole as a patch at the given level, would come back
 * unchanged.  An object patch is applied member by member, so a null member
 * would turn into a deletion (-EINVAL) and nesting is subject to the same
 * limit as apply() (-E2BIG).  Arrays are taken as they are, nulls included.
 */
static int check_whole(json_t *v, int level)
{
	json_t *member;
	const char *name;
	int rc;

	if (json_is_null(v))
		return -EINVAL;
	if (!json_is_object(v))
		return 0;
	if (level > MAX_DEPTH)
		return -E2BIG;
	json_object_foreach(v, name, member) {
		rc = check_whole(member, level + 1);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * *out = a patch p with MergePatch(a, p) == b, or NULL when a equals b.
 * Only when both sides are objects can the patch name single members; in
 * every other case b replaces a as a whole.  The patch shares b's values.
 */
static int diff(json_t **out, json_t *a, json_t *b, int level)
{
	json_t *patch = NULL;
	json_t *value, *member;
	const char *name;
	int rc = 0;

	*out = NULL;
	if (!b) {
		if (a)
			*out = json_null();
		return 0;
	}
	if (a && json_equal(a, b))
		return 0;
	if (!json_is_object(a) || !json_is_object(b)) {
		/* An object patch over a non-object starts from {}, so b works. */
		rc = check_whole(b, level);
		if (rc)
			return rc;
		*out = json_incref(b);
		return 0;
	}
	if (level > MAX_DEPTH)
		return -E2BIG;

	patch = json_object();
	if (!patch)
		return -ENOMEM;
	json_object_foreach(a, name, value) {
		if (json_object_get(b, name))
			continue;
		if (json_object_set_new(patch, name, json_null())) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	json_object_foreach(b, name, value) {
		rc = diff(&member, json_object_get(a, name), value, level + 1);
		if (rc)
			goto fail;
		if (!member)
			continue;
		if (json_object_set_new(patch, name, member)) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	*out = patch;
	return 0;

fail:
	json_decref(patch);
	return rc;
}

json_t *mps3_merge_diff(json_t *a, json_t *b, int *err)
{
	json_t *out = NULL;

	*err = diff(&out, a, b, 1);
	return out;
}

/*
 * *out = a patch that does what both p and q do: wherever one sets a member
 * the other does not mention, the union sets it too; objects both set are
 * united member by member.  p and q lead to the same value from different
 * targets, so where both set a member to something other than two objects,
 * they set it to the same thing.
 */
static int unite(json_t **out, json_t *p, json_t *q, int level)
{
	json_t *result, *mine, *v;
	const char *name;
	int rc;

	if (!p || !q || !json_is_object(p) || !json_is_object(q)) {
		*out = json_incref(p ? p : q);
		return 0;
	}
	if (level > MAX_DEPTH)
		return -E2BIG;
	result = json_copy(p);
	if (!result)
		return -ENOMEM;
	json_object_foreach(q, name, v) {
		mine = json_object_get(result, name);
		if (!mine) {
			rc = json_object_set(result, name, v) ? -ENOMEM : 0;
		} else if (json_is_object(mine) && json_is_object(v)) {
			json_t *u = NULL;

			rc = unite(&u, mine, v, level + 1);
			if (!rc && json_object_set_new(result, name, u))
				rc = -ENOMEM;
		} else {
			rc = 0;
		}
		if (rc) {
			json_decref(result);
			return rc;
		}
	}
	*out = result;
	return 0;
}

json_t *mps3_merge_union(json_t *p, json_t *q, int *err)
{
	json_t *out = NULL;

	*err = unite(&out, p, q, 1);
	return out;
}

int mps3_json_depth_within(json_t *v, int max)
{
	const char *k;
	json_t *m;
	size_t i;

	if (!json_is_object(v) && !json_is_array(v))
		return 1;
	if (max <= 0)
		return 0;
	if (json_is_object(v)) {
		json_object_foreach(v, k, m)
			if (!mps3_json_depth_within(m, max - 1))
				return 0;
	} else {
		json_array_foreach(v, i, m)
			if (!mps3_json_depth_within(m, max - 1))
				return 0;
	}
	return 1;
}
