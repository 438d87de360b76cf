/*
 * mps3/types.h - plain data shared by the S3 client, the stores and the
 * database: what is known about one stored object, a page of a listing,
 * and how to ask for an object.
 */
#ifndef MPS3_TYPES_H
#define MPS3_TYPES_H

#include <stddef.h>
#include <stdint.h>

#define MPS3_ETAG_MAX 80

struct mps3_objinfo {
	uint64_t size;
	int64_t mtime_ms;	   /* LastModified, ms since the epoch on the store's clock; 0 unknown */
	char etag[MPS3_ETAG_MAX];  /* without the surrounding quotes; "" unknown */
};

struct mps3_list_entry {
	char *key;		   /* full object key, decoded; owned by the listing */
	struct mps3_objinfo info;
};

/* One page of a listing, in byte order of key.  Caller allocates. */
struct mps3_listing {
	struct mps3_list_entry *v;
	size_t n;
	size_t cap;
	int truncated;		   /* more keys follow */
	char *next_token;	   /* continuation token when truncated, else NULL */
};

/* How to fetch an object: conditionally, a range of it, or whole. */
struct mps3_get_opts {
	const char *if_none_match;	/* ETag; NULL for an unconditional GET */
	uint64_t off;			/* range start */
	uint64_t len;			/* range length; 0 = to the end */
	uint64_t size_hint;		/* object size if known, 0 if not: large objects are
					   then fetched as parallel ranges (S3 backend) */
};

/* A GET's result when if_none_match matched. */
#define MPS3_NOT_MODIFIED 1

void mps3_listing_init(struct mps3_listing *l);
/* Frees every key and the token; the listing may be reused after init. */
void mps3_listing_dispose(struct mps3_listing *l);
/* Appends a copy of key.  0 or -ENOMEM. */
int mps3_listing_add(struct mps3_listing *l, const char *key, size_t keylen,
		     const struct mps3_objinfo *info);

#endif
