/*
 * mps3/sys/store_backend.h - what a store backend implements (like
 * libgit2's git2/sys/odb_backend.h): the operations table, the fields every
 * backend embeds first, the constructors mps3_store_open() dispatches to,
 * and helpers the local backends share.  Users of a store need only
 * mps3/store.h.
 *
 * A backend's operations are called with arguments already checked by
 * src/store/store.c (a key is non-empty and at most 1024 bytes, opts is
 * never NULL, max is 1..1000); they must be safe to call from any thread at
 * the same time and follow the error conventions of mps3/store.h.
 */
#ifndef MPS3_SYS_STORE_BACKEND_H
#define MPS3_SYS_STORE_BACKEND_H

#include "mps3/store.h"

struct mps3_store_ops {
	const char *scheme;
	int (*get)(struct mps3_store *s, const char *key, const struct mps3_get_opts *opts,
		   struct mps3_sink *sink, struct mps3_objinfo *info);
	int (*put)(struct mps3_store *s, const char *key, const struct mps3_body *body,
		   struct mps3_objinfo *info);
	int (*head)(struct mps3_store *s, const char *key, struct mps3_objinfo *info);
	int (*del)(struct mps3_store *s, const char *key);
	int (*list)(struct mps3_store *s, const char *prefix, const char *start_after,
		    const char *token, unsigned max, struct mps3_listing *out);
	void (*free)(struct mps3_store *s);
	/* Optional (NULL: requests are local and never wait). */
	void (*set_deadline)(struct mps3_store *s, int64_t mono_ms);
};

/* Fields every backend embeds first; set by its constructor, read-only after. */
struct mps3_store {
	const struct mps3_store_ops *ops;
	char *url;
	struct mps3_clock *clock;
};

/* Backend constructors, used by mps3_store_open(). */
int mps3_store_mem_new(struct mps3_store **out);
int mps3_store_file_new(struct mps3_store **out, const char *dir, int create);
int mps3_store_s3_new(struct mps3_store **out, const char *bucket, const char *prefix,
		      const struct mps3_s3_config *cfg);

/*
 * Fault injection of the mem backend, for unit tests of the layers above:
 * the next n calls of any operation fail with err.
 */
void mps3_store_mem_fail(struct mps3_store *s, int err, unsigned n);
/* The next n PUTs store their object, then fail with -ECONNRESET (a lost reply). */
void mps3_store_mem_lose(struct mps3_store *s, unsigned n);

/* Hex MD5 of p, as S3 reports for a single-part object. */
void mps3_etag_md5(char out[MPS3_ETAG_MAX], const void *p, size_t n);

/* A local backend's clock is the true clock, exact to the millisecond: observe it. */
void mps3_store_local_clock_tick(struct mps3_store *s);

#endif
