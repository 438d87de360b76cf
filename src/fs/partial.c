/*
 * fs/partial.c - the bookkeeping of downloads in progress (fs/partial.h):
 * partial files in CACHE/partial, shared by reference between readers and
 * workers, kept idle for a reader that comes back, and bounded in the room
 * they take.  Every function is called with fetch->lock held.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mps3/error.h"
#include "fs.h"
#include "partial.h"

/* Lock held: take p off the list and free it (and its file unless it became the blob). */
void mps3fs_partial_free(struct fetch *f, struct partial *p)
{
	struct partial **pp;

	for (pp = &f->list; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	f->resident -= p->resident;
	mps3fs_partial_note(f);
	if (p->fd >= 0)
		close(p->fd);
	if (!p->done) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/%s", f->dir, p->file);
		unlink(path);
	}
	mps3_chunks_dispose(&p->chunks);
	free(p->state);
	free(p->used);
	free(p->inuse);
	free(p);
}

uint64_t mps3fs_partial_chunk_len(const struct partial *p, unsigned i)
{
	uint64_t off = (uint64_t)i * CHUNK;

	return off + CHUNK <= p->size ? CHUNK : p->size - off;
}

/* Lock held: every chunk of p is missing again (content refused, or a failed finish). */
void mps3fs_partial_forget(struct fetch *f, struct partial *p)
{
	memset(p->state, C_MISSING, p->nchunks);
	p->present = 0;
	f->resident -= p->resident;
	p->resident = 0;
	mps3fs_partial_note(f);
}

void mps3fs_partial_note(struct fetch *f)
{
	__atomic_store_n(&f->fs->cache.partial, f->resident, __ATOMIC_RELAXED);
}

/* Lock held: the least recently used present chunk no reader holds, of a chunked partial. */
static struct partial *oldest_chunk(struct fetch *f, unsigned *chunk)
{
	struct partial *p, *best = NULL;
	uint32_t best_age = 0;
	unsigned i;

	for (p = f->list; p; p = p->next) {
		if (!p->chunks.n || p->done || p->err || !p->present)
			continue;
		for (i = 0; i < p->nchunks; i++) {
			uint32_t age = f->clock - p->used[i];

			if (p->state[i] == C_PRESENT && !p->inuse[i] && (!best || age > best_age)) {
				best = p;
				best_age = age;
				*chunk = i;
			}
		}
	}
	return best;
}

/*
 * Lock held: bring the chunks present down to the budget, less want more
 * bytes (a full disk): idle partials first, then old chunks punched out.
 * Returns the bytes freed.
 */
uint64_t mps3fs_partial_reclaim(struct fetch *f, uint64_t want)
{
	uint64_t freed = 0, before;
	struct partial *p, *idle;
	unsigned i;

	while (f->resident > f->budget || freed < want) {
		idle = NULL;
		for (p = f->list; p; p = p->next)
			if (p->refs == 0)
				idle = p; /* newest first: the last is the oldest */
		if (!idle)
			break;
		before = f->resident;
		f->idle--;
		mps3fs_partial_free(f, idle);
		freed += before - f->resident;
	}
	while ((f->resident > f->budget || freed < want) && (p = oldest_chunk(f, &i)) != NULL) {
		if (fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)i * CHUNK,
			      (off_t)mps3fs_partial_chunk_len(p, i)) < 0)
			break; /* a file system that cannot: the budget is only a wish there */
		p->state[i] = C_MISSING;
		p->present--;
		p->resident -= mps3fs_partial_chunk_len(p, i);
		f->resident -= mps3fs_partial_chunk_len(p, i);
		freed += mps3fs_partial_chunk_len(p, i);
	}
	mps3fs_partial_note(f);
	return freed;
}

/* Lock held.  An unreferenced partial stays while it holds chunks worth keeping. */
void mps3fs_partial_unref(struct fetch *f, struct partial *p)
{
	struct partial *q, *oldest = NULL;

	if (--p->refs > 0)
		return;
	if (p->done || p->err || (p->present == 0 && !memchr(p->state, C_BAD, p->nchunks))) {
		mps3fs_partial_free(f, p);
		return;
	}
	f->idle++;
	if (f->idle <= IDLE_MAX)
		return;
	/* Newest first on the list: the last idle one is the oldest. */
	for (q = f->list; q; q = q->next)
		if (q->refs == 0)
			oldest = q;
	f->idle--;
	mps3fs_partial_free(f, oldest);
}

void mps3fs_partial_ref(struct fetch *f, struct partial *p)
{
	if (p->refs++ == 0)
		f->idle--;
}

void mps3fs_partial_id(char out[ID_MAX], const char *sha, uint64_t size, const char *list)
{
	snprintf(out, ID_MAX, "%s:%llu:%s", sha, (unsigned long long)size, list ? list : "");
}

static struct partial *partial_new(struct fetch *f, const char *id, const char *sha, uint64_t size, int *err)
{
	struct partial *p;
	char path[4200];

	/* An entry may claim any size; a chunk count must fit (4 MiB x 2^32 is 16 PiB). */
	if ((size + CHUNK - 1) / CHUNK > UINT32_MAX) {
		*err = mps3_error_set(-EFBIG, "blob %s: %llu bytes is more than can be fetched", sha,
				      (unsigned long long)size);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(p->sha, sha, sizeof(p->sha));
	snprintf(p->id, sizeof(p->id), "%s", id);
	snprintf(p->file, sizeof(p->file), "%s.%u", sha, ++f->serial);
	p->size = size;
	p->nchunks = (unsigned)((size + CHUNK - 1) / CHUNK);
	p->state = calloc(p->nchunks ? p->nchunks : 1, 1);
	p->used = calloc(p->nchunks ? p->nchunks : 1, sizeof(*p->used));
	p->inuse = calloc(p->nchunks ? p->nchunks : 1, sizeof(*p->inuse));
	snprintf(path, sizeof(path), "%s/%s", f->dir, p->file);
	p->fd = !p->state || !p->used || !p->inuse ? -1 : open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (p->fd < 0 || ftruncate(p->fd, (off_t)size) < 0) {
		*err = !p->state || !p->used || !p->inuse ? -ENOMEM : -errno;
		if (p->fd >= 0)
			close(p->fd);
		unlink(path);
		free(p->state);
		free(p->used);
		free(p->inuse);
		free(p);
		return NULL;
	}
	p->refs = 1;
	p->next = f->list;
	f->list = p;
	return p;
}

/* Lock held: the partial of id, a reference taken, or NULL. */
struct partial *mps3fs_partial_find(struct fetch *f, const char *id)
{
	struct partial *p;

	for (p = f->list; p; p = p->next)
		if (strcmp(p->id, id) == 0 && !p->err) {
			mps3fs_partial_ref(f, p);
			return p;
		}
	return NULL;
}

struct partial *mps3fs_partial_get(struct fetch *f, const char *id, const char *sha, uint64_t size,
				   struct mps3_chunks *list, int *err)
{
	struct partial *p = mps3fs_partial_find(f, id);

	if (p)
		return p;
	p = partial_new(f, id, sha, size, err);
	if (p && list->n) {
		p->chunks = *list;
		memset(list, 0, sizeof(*list));
	}
	return p;
}
