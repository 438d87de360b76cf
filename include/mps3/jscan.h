/*
 * mps3/jscan.h - a JSON object document read without building its biggest
 * member (db/jscan.c).
 *
 * A checkpoint or a saved state is one object whose "files" (or "base")
 * member holds the whole map: as a jansson tree that is a kilobyte or more
 * per entry, for a moment, before the map is packed.  mps3_jscan() reads
 * the same text and hands each member of that one object to a callback as
 * a small value of its own, so the tree is never whole.
 *
 * It accepts exactly what json_loadb(doc, len, JSON_REJECT_DUPLICATES)
 * accepts (readers must agree on which documents are valid), with one
 * duty left to the callback: it must refuse (return -EINVAL) a key it was
 * given before, since the scanner does not keep the keys it passed on.
 */
#ifndef MPS3_JSCAN_H
#define MPS3_JSCAN_H

#include <stddef.h>

#include <jansson.h>

struct mps3_packed;

/* Called for each member of the big object in document order; v is borrowed for the call. */
typedef int (*mps3_jscan_fn)(const char *key, json_t *v, void *ctx);
/* The same for a member that is an ordinary entry written compactly (mps3_packed_from_text). */
typedef int (*mps3_jscan_packed_fn)(const char *key, const struct mps3_packed *p, void *ctx);

/*
 * Parse doc[0..len).  *out (new reference) is the document as
 * json_loadb() gives it, except that when it is an object whose member
 * named big is an object too, that member's members went to fn instead
 * and *out holds big as an empty object.  A document that is not an
 * object is returned whole, for the caller to refuse.
 *
 * 0, -EINVAL (not valid JSON, or a key given twice, or fn's -EINVAL; with
 * a detail), -ENOMEM, or what else fn returned (non-zero stops the scan).
 * *out is NULL on any error; fn may have been called before it.
 */
int mps3_jscan(const char *doc, size_t len, const char *big, mps3_jscan_fn fn, void *ctx, json_t **out);
/*
 * The same, with the members mps3_packed_from_text() takes given to pfn
 * as that record, never built as JSON (pfn NULL: every member to fn).
 * What pfn gets is what mps3_packed_from_json() makes of the member's
 * JSON, so a caller that packs what fn gets ends with the same map.
 */
int mps3_jscan_packed(const char *doc, size_t len, const char *big, mps3_jscan_fn fn, mps3_jscan_packed_fn pfn,
		      void *ctx, json_t **out);

#endif
