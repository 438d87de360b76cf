/*
 * fs/cache.h - the on-disk blob cache (fs/cache.c): CACHE/blobs/<sha256>,
 * immutable and so never revalidated, bounded by cache_size with
 * least-recently-used eviction.  Pinned blobs (content not yet uploaded)
 * are never evicted.
 *
 * Lock: cache->lock, a leaf below fs->tree_lock (callers may hold the tree
 * lock; nothing here takes another lock).  Every function may be called
 * from any thread.  Errors: 0 or a negative errno.
 */
#ifndef MPS3FS_CACHE_H
#define MPS3FS_CACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct cache_ent;

struct cache {
	char *dir;			/* cache_dir/blobs; read-only after init */
	int dirfd;			/* for fsync of new names; read-only after init */
	uint64_t limit, used;		/* protected by lock */
	uint64_t partial;		/* bytes of downloads in progress (fs/fetch.c), sharing limit; atomic */
	pthread_mutex_t lock;
	struct cache_ent **hash;	/* by sha; protected by lock */
	size_t nbuckets;		/* protected by lock */
	struct cache_ent *lru_head, *lru_tail; /* protected by lock */
	size_t count;			/* protected by lock */
};

/* Create dir (0700) and index what it holds.  0 or -errno. */
int mps3fs_cache_init(struct cache *c, const char *dir, uint64_t limit);
void mps3fs_cache_dispose(struct cache *c);
/* Open the cached blob for reading; -ENOENT if not cached.  Counts as use. */
int mps3fs_cache_open(struct cache *c, const char *sha);
/* Path of a blob in the cache (which may not exist yet). */
void mps3fs_cache_path(struct cache *c, const char *sha, char *out, size_t n);
/* Record a blob just moved into the cache dir; pinned if pin. */
void mps3fs_cache_added(struct cache *c, const char *sha, uint64_t size, int pin);
void mps3fs_cache_pin(struct cache *c, const char *sha);
void mps3fs_cache_unpin(struct cache *c, const char *sha);
int mps3fs_cache_has(struct cache *c, const char *sha);
/* Bytes of blobs in the cache now. */
uint64_t mps3fs_cache_used(struct cache *c);
/* Size of a cached blob, 0 if not cached. */
uint64_t mps3fs_cache_size_of(struct cache *c, const char *sha);
/* Evict least recently used unpinned blobs until under the limit, and leaving the disk a reserve. */
void mps3fs_cache_trim(struct cache *c);
/*
 * Evict least recently used unpinned blobs until bytes are freed (the disk
 * is full: what is in the bucket already can be fetched again).  Returns
 * the bytes freed.
 */
uint64_t mps3fs_cache_make_room(struct cache *c, uint64_t bytes);

#endif
