/*
 * mps3/jsfmt.h - the objects of the MPS3 JavaScript client
 * (endpointservices/mps3), as docs/MPS3-JS-FORMAT.md describes them: the
 * names of its log entries and the documents it stores as values.  The
 * layout that mps3/jsdb.h reads and writes.
 *
 * An entry of manifest M is the object M@T_S_C: T is (2^42 - 1 - ms) in
 * lower-case base 32 padded to 9 digits (so names sort newest first), S the
 * writer's session, C (1023 - its counter) in base 32, 2 digits.  A reader
 * takes a listed name as an entry when it matches
 * /@([0-9a-z]+)_[0-9a-z]+_[0-9a-z]{2}$/ and its name time is less than
 * MPS3_JS_LAG_MS from its LastModified.
 *
 * Values are JSON documents.  A file's bytes map to a value so that what
 * the client reads is natural (a JSON object or array stays that document,
 * other UTF-8 text becomes a JSON string, anything else {"$binary":
 * "<base64>"}) and so that decoding what was encoded gives the same bytes.
 *
 * Pure and thread-safe.  Errors: negative errno with an mps3_error_set()
 * detail.
 */
#ifndef MPS3_JSFMT_H
#define MPS3_JSFMT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mps3/buf.h"

/* The client's window: entries within it of the newest are replayed. */
#define MPS3_JS_LAG_MS 5000
/* Its readers list from the name of now + this, so later names are unseen. */
#define MPS3_JS_LOOKAHEAD_MS 10000
/* Name times are 42 bits of milliseconds. */
#define MPS3_JS_TIME_MAX ((INT64_C(1) << 42) - 1)
/* A session's counter runs from 0 to this; the client's own goes past it. */
#define MPS3_JS_COUNTER_MAX 1023
/* The client keeps values in memory; larger files are refused (-EFBIG). */
#define MPS3_JS_VALUE_MAX ((size_t)16 << 20)

/* T for ms into out (9 digits and a NUL).  0, or -ERANGE outside [0, MPS3_JS_TIME_MAX]. */
int mps3_js_time_code(char out[10], int64_t ms);

/*
 * The name of an entry of manifest at ms, by session (1 to 32 characters of
 * [0-9a-z]) with its counter-th entry: malloc'd into *out.  0, -ERANGE (ms
 * or a counter above MPS3_JS_COUNTER_MAX: start a new session), -EINVAL (a
 * session the client's readers would not take), -ENOMEM.
 */
int mps3_js_entry_name(char **out, const char *manifest, int64_t ms,
		       const char *session, unsigned counter);

/*
 * Whether a listed name is an entry, as the client reads it: 0 with its
 * name time in *ms, or -EINVAL.  T reads as JavaScript's parseInt(T, 32)
 * does (its leading base-32 digits; w-z end it); a T above MPS3_JS_TIME_MAX
 * is refused, as its negative time could never be fresh.
 */
int mps3_js_entry_time(const char *name, int64_t *ms);

/* Whether an entry named at name_ms and last modified at lastmod_ms counts (1) or not (0). */
int mps3_js_entry_fresh(int64_t name_ms, int64_t lastmod_ms);

/* A name as a first page of the LIST of manifest "@" gives it. */
struct mps3_js_listed {
	const char *name;
	int64_t lastmod_ms;
};

/*
 * What the client reads of a first listing page v[0..n) (byte order, as
 * listed from the name of now + MPS3_JS_LOOKAHEAD_MS): the index of the
 * newest fresh entry, whose "files" is the base, and in apply[] (room for n)
 * the entries whose "update" it then merges, in that order (oldest first,
 * the newest last).  As the client does, by byte order of names: an entry is
 * replayed when its name sorts at or before that of (newest time - LAG)
 * with no suffix.  The newest's index, or -ENOENT when no name is a fresh
 * entry (the client then keeps the state it had).
 */
long mps3_js_plan(const char *manifest, const struct mps3_js_listed *v, size_t n,
		  size_t *apply, size_t *napply);

/* Entry documents nest at most this deep; deeper ones are refused. */
#define MPS3_JS_MAX_DEPTH 16

/*
 * An entry document, checked: an object nested at most MPS3_JS_MAX_DEPTH
 * deep whose "files" and "update" (and update's "files"), where present,
 * are objects.  New reference in *out; 0 or -EINVAL with a detail.
 */
int mps3_js_entry_parse(json_t **out, const char *doc, size_t n);

/*
 * The files map the client resolves: the base entry's document, then each
 * of the n others' "update" merged over it (RFC 7386) in order; its "files".
 * New reference ({} when there is none), or NULL with *err -ENOMEM/-E2BIG.
 */
json_t *mps3_js_resolve(json_t *base, json_t *const *updates, size_t n, int *err);

/*
 * Where a key of the files map ("BUCKET/KEY") lies for a database of
 * bucket and prefix ("" or "a/b"): 0 with *path pointing into key at the
 * file's path, -ENOENT when it belongs to another bucket or lies outside
 * the prefix, -EINVAL (with mps3_path_check's detail) when its rest is no
 * path mps3fs can show.
 */
int mps3_js_key_path(const char *key, const char *bucket, const char *prefix, const char **path);

/* A value of the files map's version (the suffix of its object), or NULL when it has none usable. */
const char *mps3_js_version(json_t *v);

/*
 * The value document for n bytes of content, appended to out: the bytes
 * themselves when they are a JSON object or array (unless it reads as the
 * binary form, which is then used for it), a JSON string when they are other
 * valid UTF-8, else {"$binary":"<base64>"}.  0, -EFBIG (above
 * MPS3_JS_VALUE_MAX), -ENOMEM.
 */
int mps3_js_value_encode(struct mps3_buf *out, const void *p, size_t n);

/*
 * The content a value document stands for, appended to out: a string's
 * characters (UTF-8), the bytes of the binary form, otherwise the document
 * as it is (objects, arrays, numbers, true, false, null).  0, -EINVAL (not
 * JSON, or a binary form that is not base64), -EFBIG (out's limit), -ENOMEM.
 */
int mps3_js_value_decode(struct mps3_buf *out, const char *doc, size_t n);

#endif
