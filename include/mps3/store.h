/*
 * mps3/store.h - the bucket: one interface, three backends.
 *
 *   s3://bucket[/prefix]   any S3-compatible endpoint (src/store/store_s3.c)
 *   file:///path           a local directory that behaves like a bucket
 *   mem://                 in-memory, for unit tests
 *
 * A backend's implementation interface is in mps3/sys/store_backend.h.
 *
 * Keys are relative to the store's prefix.  Every backend lists in byte order
 * of key, puts atomically (a reader sees the old or the new object, never a
 * mix), and reports LastModified on its own clock.  Every function is safe to
 * call from any thread at the same time; the S3 backend keeps one connection
 * per calling thread.
 *
 * Errors: 0 or a negative errno, with an mps3_error_set() detail that names
 * the operation and the key.  The common codes: -ENOENT (no such key),
 * -EACCES (denied, bad credentials or signature), -ETIMEDOUT or
 * -ECONNRESET (store unreachable after retries), -ECONNREFUSED or
 * -EHOSTUNREACH (no attempt reached the store: nothing was done), -EIO
 * (store answered with an error), -EPROTO (malformed answer), -EFBIG
 * (object above the caller's limit).  A PUT that failed with any other
 * error may still have stored its object (a lost reply).
 */
#ifndef MPS3_STORE_H
#define MPS3_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mps3/buf.h"
#include "mps3/io.h"
#include "mps3/types.h"

struct mps3_store;
struct mps3_clock;

/*
 * Parse a URL (s3://, file://, mem://) and open the store.  s3 settings
 * (endpoint, region, credentials) come from cfg, see mps3/s3.h; cfg may be
 * NULL for the other schemes.  0, -EINVAL (bad URL, detail set), -ENOENT
 * (file:// directory missing), -ENOMEM.
 */
struct mps3_s3_config;
int mps3_store_open(struct mps3_store **out, const char *url,
		    const struct mps3_s3_config *cfg);
void mps3_store_free(struct mps3_store *s);

/* "s3://bucket/prefix" etc., for messages.  Borrowed. */
const char *mps3_store_url(const struct mps3_store *s);
/* "s3", "file" or "mem".  Static. */
const char *mps3_store_scheme(const struct mps3_store *s);

/*
 * The clock fed by every reply's Date (S3) or by the local clock (file, mem);
 * borrowed, lives as long as the store.
 */
struct mps3_clock *mps3_store_clock(struct mps3_store *s);

/*
 * No request ends after the CLOCK_MONOTONIC time mono_ms (0 lifts it):
 * retries, backoff and transfers are cut short and fail with -ETIMEDOUT.
 * For a bounded start-up; a no-op for local stores.
 */
void mps3_store_set_deadline(struct mps3_store *s, int64_t mono_ms);

/*
 * Download key (or a range of it) into sink.  info (may be NULL) gets size
 * (of the whole object), LastModified and ETag.  Returns 0,
 * MPS3_NOT_MODIFIED, -ENOENT, or another error above.  With a sink limit the
 * sink's -EFBIG comes back unchanged.
 */
int mps3_store_get(struct mps3_store *s, const char *key,
		   const struct mps3_get_opts *opts, struct mps3_sink *sink,
		   struct mps3_objinfo *info);

/* Convenience: the whole object into buf (which carries the size limit). */
int mps3_store_get_buf(struct mps3_store *s, const char *key, struct mps3_buf *buf,
		       struct mps3_objinfo *info);

/* Upload; info (may be NULL) gets the new ETag and LastModified if known. */
int mps3_store_put(struct mps3_store *s, const char *key,
		   const struct mps3_body *body, struct mps3_objinfo *info);

int mps3_store_head(struct mps3_store *s, const char *key, struct mps3_objinfo *info);

/* Deleting a missing key succeeds, as on S3. */
int mps3_store_delete(struct mps3_store *s, const char *key);

/*
 * One page of keys starting with prefix, after start_after (may be NULL) or
 * continuing from token (may be NULL), at most max keys (0 = backend
 * default, at most 1000).  Keys in the page are relative to the store prefix,
 * like every other key here.
 */
int mps3_store_list(struct mps3_store *s, const char *prefix,
		    const char *start_after, const char *token, unsigned max,
		    struct mps3_listing *out);

#endif
