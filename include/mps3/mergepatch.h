/*
 * mps3/mergepatch.h - JSON Merge Patch (RFC 7386) on jansson values.
 *
 * Functional: the target is never modified, so values shared between the
 * resolved manifest, its snapshots and other threads stay immutable.
 * Unchanged sub-values of the target are shared (reference counted), not
 * copied.
 */
#ifndef MPS3_MERGEPATCH_H
#define MPS3_MERGEPATCH_H

#include <jansson.h>

/*
 * The result of applying patch to target (target may be NULL, meaning
 * absent).  Returns a new reference, or NULL either when the result is
 * "absent" (a null patch) - then *err is 0 - or on failure: *err is
 * -ENOMEM, or -E2BIG for a patch nested 65 levels deep or more.  A C NULL
 * patch means absent too (not "no change").  Both arguments are borrowed.
 */
json_t *mps3_merge_patch(json_t *target, json_t *patch, int *err);

/*
 * A merge patch that turns a into b (either may be NULL for absent).  The
 * patch names only what changed; NULL with *err 0 when a equals b.  Because
 * merge patches cannot express a null value, b that is JSON null, or holds
 * a null member that would have to be sent, is -EINVAL; a patch nested
 * deeper than mps3_merge_patch() accepts is -E2BIG; -ENOMEM.  New reference.
 */
json_t *mps3_merge_diff(json_t *a, json_t *b, int *err);

/*
 * Given patches p and q (NULL: no change) that each lead to the same value,
 * from different targets, one patch that leads to it from either target.
 * New reference (NULL when both are NULL); *err -ENOMEM or -E2BIG.
 */
json_t *mps3_merge_union(json_t *p, json_t *q, int *err);

/*
 * Whether v nests at most max levels deep (objects and arrays count: {} is
 * 1 deep).  Recursion is bounded by max, so a hostile document cannot
 * exhaust the stack.
 */
int mps3_json_depth_within(json_t *v, int max);

#endif
