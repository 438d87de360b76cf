/*
 * fs/cache.c - the on-disk blob cache: CACHE/blobs/<sha256>, immutable and
 * so never revalidated, bounded by cache_size and by the free space of its
 * disk, with least-recently-used eviction.  Blobs that are pinned (content not yet uploaded) or open are
 * never evicted.  The index lives in memory and is rebuilt from the
 * directory at mount.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mps3/hash.h"
#include "mps3/log.h"
#include "cache.h"

struct cache_ent {
	char sha[MPS3_SHA256_HEX_LEN + 1];
	uint64_t size;
	unsigned pins;
	struct cache_ent *hnext;
	struct cache_ent *lprev, *lnext;	/* LRU list: head is the most recent */
};

static size_t bucket(struct cache *c, const char *sha)
{
	size_t h = 0;
	int i;

	/* The name is a hash already: its first bytes spread well. */
	for (i = 0; i < 16; i++)
		h = h * 16 + (size_t)(sha[i] <= '9' ? sha[i] - '0' : sha[i] - 'a' + 10);
	return h & (c->nbuckets - 1);
}

static struct cache_ent *find(struct cache *c, const char *sha)
{
	struct cache_ent *e = c->hash[bucket(c, sha)];

	for (; e; e = e->hnext)
		if (strcmp(e->sha, sha) == 0)
			return e;
	return NULL;
}

static void lru_unlink(struct cache *c, struct cache_ent *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		c->lru_head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		c->lru_tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void lru_front(struct cache *c, struct cache_ent *e)
{
	e->lprev = NULL;
	e->lnext = c->lru_head;
	if (c->lru_head)
		c->lru_head->lprev = e;
	c->lru_head = e;
	if (!c->lru_tail)
		c->lru_tail = e;
}

static int grow(struct cache *c)
{
	size_t nb = c->nbuckets * 2, i;
	struct cache_ent **h = calloc(nb, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (i = 0; i < c->nbuckets; i++) {
		struct cache_ent *e = c->hash[i], *next;

		for (; e; e = next) {
			size_t b;

			next = e->hnext;
			c->nbuckets = nb;
			b = bucket(c, e->sha);
			c->nbuckets = nb / 2;
			e->hnext = h[b];
			h[b] = e;
		}
	}
	free(c->hash);
	c->hash = h;
	c->nbuckets = nb;
	return 0;
}

/* Lock held.  Adds or refreshes an entry. */
static struct cache_ent *add(struct cache *c, const char *sha, uint64_t size)
{
	struct cache_ent *e = find(c, sha);
	size_t b;

	if (e) {
		lru_unlink(c, e);
		lru_front(c, e);
		return e;
	}
	if (c->count >= c->nbuckets && grow(c))
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	memcpy(e->sha, sha, sizeof(e->sha));
	e->size = size;
	b = bucket(c, sha);
	e->hnext = c->hash[b];
	c->hash[b] = e;
	lru_front(c, e);
	c->used += size;
	c->count++;
	return e;
}

static void drop(struct cache *c, struct cache_ent *e)
{
	struct cache_ent **pp = &c->hash[bucket(c, e->sha)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	}
	lru_unlink(c, e);
	c->used -= e->size;
	c->count--;
	free(e);
}

void mps3fs_cache_path(struct cache *c, const char *sha, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", c->dir, sha);
}

int mps3fs_cache_init(struct cache *c, const char *dir, uint64_t limit)
{
	struct dirent *de;
	DIR *d;

	memset(c, 0, sizeof(*c));
	c->dirfd = -1;
	pthread_mutex_init(&c->lock, NULL);
	c->limit = limit;
	c->nbuckets = 1024;
	c->hash = calloc(c->nbuckets, sizeof(*c->hash));
	c->dir = strdup(dir);
	if (!c->hash || !c->dir)
		return -ENOMEM;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	c->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = opendir(dir);
	if (!d)
		return -errno;
	/* Rebuild the index; oldest access first so they end at the LRU tail. */
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;

		if (!mps3_is_sha256_hex(de->d_name)) {
			/* Temporary files of snapshots a crash interrupted. */
			if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			add(c, de->d_name, (uint64_t)st.st_size);
	}
	closedir(d);
	/* No trim here: the caller pins what the journal still needs first. */
	return 0;
}

void mps3fs_cache_dispose(struct cache *c)
{
	while (c->lru_head)
		drop(c, c->lru_head);
	free(c->hash);
	free(c->dir);
	if (c->dirfd >= 0)
		close(c->dirfd);
	pthread_mutex_destroy(&c->lock);
	memset(c, 0, sizeof(*c));
	c->dirfd = -1;
}

int mps3fs_cache_open(struct cache *c, const char *sha)
{
	char path[4096];
	struct cache_ent *e;
	int fd;

	pthread_mutex_lock(&c->lock);
	e = find(c, sha);
	if (e) {
		lru_unlink(c, e);
		lru_front(c, e);
	}
	pthread_mutex_unlock(&c->lock);
	if (!e)
		return -ENOENT;
	mps3fs_cache_path(c, sha, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		/* Removed behind our back: forget it. */
		pthread_mutex_lock(&c->lock);
		e = find(c, sha);
		if (e && !e->pins)
			drop(c, e);
		pthread_mutex_unlock(&c->lock);
		return -err;
	}
	return fd;
}

int mps3fs_cache_has(struct cache *c, const char *sha)
{
	int has;

	pthread_mutex_lock(&c->lock);
	has = find(c, sha) != NULL;
	pthread_mutex_unlock(&c->lock);
	return has;
}

uint64_t mps3fs_cache_used(struct cache *c)
{
	uint64_t used;

	pthread_mutex_lock(&c->lock);
	used = c->used;
	pthread_mutex_unlock(&c->lock);
	return used;
}

uint64_t mps3fs_cache_size_of(struct cache *c, const char *sha)
{
	struct cache_ent *e;
	uint64_t size = 0;

	pthread_mutex_lock(&c->lock);
	e = find(c, sha);
	if (e)
		size = e->size;
	pthread_mutex_unlock(&c->lock);
	return size;
}

void mps3fs_cache_added(struct cache *c, const char *sha, uint64_t size, int pin)
{
	struct cache_ent *e;

	pthread_mutex_lock(&c->lock);
	e = add(c, sha, size);
	if (e && pin)
		e->pins++;
	pthread_mutex_unlock(&c->lock);
	mps3fs_cache_trim(c);
}

void mps3fs_cache_pin(struct cache *c, const char *sha)
{
	struct cache_ent *e;

	pthread_mutex_lock(&c->lock);
	e = find(c, sha);
	if (e)
		e->pins++;
	pthread_mutex_unlock(&c->lock);
}

void mps3fs_cache_unpin(struct cache *c, const char *sha)
{
	struct cache_ent *e;
	int trim = 0;

	pthread_mutex_lock(&c->lock);
	e = find(c, sha);
	if (e && e->pins)
		trim = --e->pins == 0;
	pthread_mutex_unlock(&c->lock);
	/* Uploaded at last: it may go now if the cache is over its size. */
	if (trim)
		mps3fs_cache_trim(c);
}

/* Lock held: evict from the LRU end, unpinned only, while used > target. */
static uint64_t evict(struct cache *c, uint64_t target)
{
	struct cache_ent *e, *prev;
	uint64_t freed = 0;

	for (e = c->lru_tail; e && c->used > target; e = prev) {
		char path[4096];

		prev = e->lprev;
		if (e->pins)
			continue;
		mps3fs_cache_path(c, e->sha, path, sizeof(path));
		/* Readers that have it open keep their fd; the name goes now. */
		if (unlink(path) < 0 && errno != ENOENT)
			continue;
		freed += e->size;
		drop(c, e);
	}
	return freed;
}

/*
 * What the cache may hold now: its limit less what downloads in progress
 * hold (the chunks they keep count against cache_size too), and no more
 * than leaves the disk a reserve (a tenth of it, at most 256 MiB) - the
 * cache shares its disk with staged writes and the journal, which must not fail for room.
 */
static uint64_t target(struct cache *c)
{
	struct statvfs sv;
	uint64_t avail, reserve, partial = __atomic_load_n(&c->partial, __ATOMIC_RELAXED);
	uint64_t limit = c->limit > partial ? c->limit - partial : 0, t = limit;

	if (c->dirfd < 0 || fstatvfs(c->dirfd, &sv) < 0 || sv.f_frsize == 0)
		return t;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	reserve = (uint64_t)sv.f_blocks * sv.f_frsize / 10;
	if (reserve > ((uint64_t)256 << 20))
		reserve = (uint64_t)256 << 20;
	if (avail < reserve)
		t = c->used > reserve - avail ? c->used - (reserve - avail) : 0;
	return t < limit ? t : limit;
}

void mps3fs_cache_trim(struct cache *c)
{
	pthread_mutex_lock(&c->lock);
	evict(c, target(c));
	pthread_mutex_unlock(&c->lock);
}

uint64_t mps3fs_cache_make_room(struct cache *c, uint64_t bytes)
{
	uint64_t freed;

	pthread_mutex_lock(&c->lock);
	freed = evict(c, c->used > bytes ? c->used - bytes : 0);
	pthread_mutex_unlock(&c->lock);
	return freed;
}
