/*
 * fs/partial.c - the bookkeeping of downloads in progress (fs/partial.h):
 * partial files in CACHE/partial, shared by reference between readers and
 * workers, kept idle for a reader that comes back, and bounded in the room
 * they take.  Every function is called with fetch->lock held.
 *
 * A file's name says what it is a partial of, so the chunks a mount
 * fetched outlive it: kept at a clean unmount, left by a crash, and taken
 * up by the next mount's first reader of the same blob, size and chunk
 * list, each chunk checked against the list before it is read (a torn or
 * stale one is fetched again).  Until then they count against the room
 * like any other, and go first when room is needed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mps3/error.h"
#include "mps3/log.h"
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
	/* At unmount, chunks checked against a list are worth keeping for the next mount. */
	if (!p->done && !(f->stop && !p->err && p->chunks.n && p->present + p->kept > 0)) {
		char path[PATH_BUF];

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
	p->present = p->kept = 0;
	p->finishing = 0;
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
		/* One being finished is hashed whole and renamed without the lock: none of it goes. */
		if (!p->chunks.n || p->done || p->err || p->finishing || p->present + p->kept == 0)
			continue;
		for (i = 0; i < p->nchunks; i++) {
			uint32_t age = f->clock - p->used[i];

			/* Kept chunks were never used by this mount: they go first. */
			if ((p->state[i] == C_PRESENT || p->state[i] == C_KEPT) && !p->inuse[i] &&
			    (!best || age > best_age)) {
				best = p;
				best_age = age;
				*chunk = i;
			}
		}
	}
	return best;
}

/* Lock held: an orphan off the list, and its file removed if it is not taken up. */
static void orphan_drop(struct fetch *f, struct orphan *o, int unlink_it)
{
	struct orphan **op;

	for (op = &f->orphans; *op; op = &(*op)->next) {
		if (*op == o) {
			*op = o->next;
			break;
		}
	}
	f->resident -= o->bytes;
	f->norphans--;
	if (unlink_it) {
		char path[PATH_BUF];

		snprintf(path, sizeof(path), "%s/%s", f->dir, o->file);
		unlink(path);
	}
	free(o);
}

/*
 * Lock held: bring the chunks present down to the budget, less want more
 * bytes (a full disk): orphans of an earlier mount first, then idle
 * partials, then old chunks punched out.  Returns the bytes freed.
 */
uint64_t mps3fs_partial_reclaim(struct fetch *f, uint64_t want)
{
	uint64_t freed = 0, before;
	struct partial *p, *idle;
	struct orphan *o, *old;
	unsigned i;

	/* Unchecked leftovers make way before the cache's checked blobs do (cache lock: a leaf). */
	while (f->orphans && (f->resident > f->budget || freed < want ||
			      f->resident + mps3fs_cache_used(&f->fs->cache) > f->fs->cache.limit)) {
		for (old = o = f->orphans; o; o = o->next)
			if (o->mtime < old->mtime)
				old = o;
		freed += old->bytes;
		orphan_drop(f, old, 1);
	}
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
		if (p->state[i] == C_KEPT)
			p->kept--;
		else
			p->present--;
		p->state[i] = C_MISSING;
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
	if (p->done || p->err || (p->present + p->kept == 0 && !memchr(p->state, C_BAD, p->nchunks))) {
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

/* "<sha>:<size>:<list>" and a serial: the file's name, "<sha>-<size>-<list>.<serial>". */
static void file_name(char out[FILE_MAX], const char *id, unsigned serial)
{
	const char *size = strchr(id, ':'), *list = strrchr(id, ':');

	snprintf(out, FILE_MAX, "%.*s-%.*s-%s.%u", (int)(size - id), id, (int)(list - size - 1), size + 1, list + 1,
		 serial);
}

/*
 * A file name of ours, exactly as file_name() writes it, of a chunked
 * blob: its id and serial, or -1.
 */
static int parse_name(const char *name, char id[ID_MAX], unsigned *serial)
{
	char sha[MPS3_SHA256_HEX_LEN + 1], list[MPS3_SHA256_HEX_LEN + 1], again[FILE_MAX];
	unsigned long long size;

	if (strlen(name) >= FILE_MAX ||
	    sscanf(name, "%64[0-9a-f]-%llu-%64[0-9a-f].%u", sha, &size, list, serial) != 4 ||
	    !mps3_is_sha256_hex(sha) || !mps3_is_sha256_hex(list))
		return -1;
	mps3fs_partial_id(id, sha, size, list);
	file_name(again, id, *serial);
	return strcmp(again, name) == 0 ? 0 : -1;
}

/*
 * A file this daemon could have left: regular, of the size its name says,
 * ours, private, with no other name (the file is written, punched and at
 * last renamed into the cache: a link elsewhere would see all of that).
 */
static int ours(const struct stat *st, uint64_t size)
{
	return S_ISREG(st->st_mode) && (uint64_t)st->st_size == size && st->st_nlink == 1 && st->st_uid == geteuid() &&
	       (st->st_mode & 077) == 0;
}

/*
 * Lock held: the chunks of p its file holds, from an earlier mount, each
 * kept to be checked; alloc is the bytes the file has on disk.
 */
static void take_kept(struct fetch *f, struct partial *p, uint64_t alloc)
{
	off_t pos = 0, data, hole;
	uint64_t bytes = 0;
	unsigned i;

	while (pos < (off_t)p->size && (data = lseek(p->fd, pos, SEEK_DATA)) >= 0) {
		hole = lseek(p->fd, data, SEEK_HOLE);
		if (hole <= data)
			hole = (off_t)p->size; /* no holes known here: every chunk may be there */
		/* The chunks wholly in [data, hole). */
		for (i = (unsigned)(((uint64_t)data + CHUNK - 1) / CHUNK);
		     i < p->nchunks && (uint64_t)i * CHUNK + mps3fs_partial_chunk_len(p, i) <= (uint64_t)hole; i++) {
			p->state[i] = C_KEPT;
			p->kept++;
			bytes += mps3fs_partial_chunk_len(p, i);
		}
		pos = hole;
	}
	/*
	 * A file system that does not tell holes from data (SEEK_DATA says all
	 * of it is data): the chunks cannot be told apart, start over.
	 */
	if (bytes > alloc + CHUNK) {
		memset(p->state, C_MISSING, p->nchunks);
		p->kept = 0;
		bytes = 0;
		if (ftruncate(p->fd, 0) < 0 || ftruncate(p->fd, (off_t)p->size) < 0)
			mps3_info("cannot empty %s/%s: %s", f->dir, p->file, strerror(errno));
	}
	p->resident += bytes;
	f->resident += bytes;
	mps3fs_partial_note(f);
}

/* Lock held: p's file, the orphan of its id taken up if there is one (chunked blobs only), else new. */
static int partial_open(struct fetch *f, struct partial *p, int chunked)
{
	char path[PATH_BUF];
	struct orphan *o;
	struct stat st;
	int fd;

	for (o = chunked ? f->orphans : NULL; o; o = o->next) {
		if (strcmp(o->id, p->id) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", f->dir, o->file);
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd >= 0 && fstat(fd, &st) == 0 && ours(&st, p->size)) {
			p->fd = fd;
			snprintf(p->file, sizeof(p->file), "%s", o->file);
			orphan_drop(f, o, 0);
			take_kept(f, p, (uint64_t)st.st_blocks * 512);
			return 0;
		}
		if (fd >= 0)
			close(fd);
		orphan_drop(f, o, 1);
		break;
	}
	file_name(p->file, p->id, ++f->serial);
	snprintf(path, sizeof(path), "%s/%s", f->dir, p->file);
	p->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (p->fd < 0 || ftruncate(p->fd, (off_t)p->size) < 0) {
		int err = -errno;

		if (p->fd >= 0)
			close(p->fd);
		p->fd = -1;
		unlink(path);
		return err;
	}
	return 0;
}

static struct partial *partial_new(struct fetch *f, const char *id, const char *sha, uint64_t size, int chunked,
				   int *err)
{
	struct partial *p;

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
	p->size = size;
	p->nchunks = (unsigned)((size + CHUNK - 1) / CHUNK);
	p->state = calloc(p->nchunks ? p->nchunks : 1, 1);
	p->used = calloc(p->nchunks ? p->nchunks : 1, sizeof(*p->used));
	p->inuse = calloc(p->nchunks ? p->nchunks : 1, sizeof(*p->inuse));
	*err = !p->state || !p->used || !p->inuse ? -ENOMEM : partial_open(f, p, chunked);
	if (*err) {
		f->resident -= p->resident;
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
	p = partial_new(f, id, sha, size, list->n > 0, err);
	if (p && list->n) {
		p->chunks = *list;
		memset(list, 0, sizeof(*list));
	}
	return p;
}

/* Lock held: a file in CACHE/partial an earlier mount left, taken stock of (0), or not ours (-1). */
static int orphan_add(struct fetch *f, int dfd, const char *name)
{
	struct orphan *o, *dup;
	struct stat st;
	unsigned serial;
	uint64_t size;

	o = f->norphans < ORPHANS_MAX ? calloc(1, sizeof(*o)) : NULL;
	if (!o || parse_name(name, o->id, &serial) < 0 || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_blocks == 0) {
		free(o);
		return -1;
	}
	size = strtoull(strchr(o->id, ':') + 1, NULL, 10);
	if (!ours(&st, size)) {
		free(o);
		return -1;
	}
	snprintf(o->file, sizeof(o->file), "%s", name);
	o->bytes = (uint64_t)st.st_blocks * 512 < size ? (uint64_t)st.st_blocks * 512 : size;
	o->mtime = (long long)st.st_mtime;
	if (serial > f->serial)
		f->serial = serial;
	/* Two of one id (a crash between two downloads of it): the one with more stays. */
	for (dup = f->orphans; dup && strcmp(dup->id, o->id) != 0; dup = dup->next)
		;
	if (dup && dup->bytes >= o->bytes) {
		free(o);
		return -1;
	}
	if (dup)
		orphan_drop(f, dup, 1);
	o->next = f->orphans;
	f->orphans = o;
	f->norphans++;
	f->resident += o->bytes;
	return 0;
}

void mps3fs_partial_scan(struct fetch *f)
{
	DIR *d = opendir(f->dir);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    orphan_add(f, dirfd(d), de->d_name) < 0)
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
	mps3fs_partial_reclaim(f, 0);
}

void mps3fs_partial_orphans_free(struct fetch *f)
{
	while (f->orphans)
		orphan_drop(f, f->orphans, 0);
}
