/*
 * fs/fetch.c - content of blobs that are not in the cache yet, fetched in
 * 4 MiB chunks with ranged GETs into CACHE/partial/<sha256>: a read of 4 KiB
 * of a large file downloads one chunk, not the file.  Sequential readers get
 * read-ahead from a small pool of workers.  No byte reaches a reader before
 * it is verified: each chunk against the blob's chunk list (mps3/chunks.h)
 * when its entry names one, else the whole blob against its name before
 * the first byte is served.  A verified whole blob moves into the blob
 * cache; content that does not match is reported once, and reads of it
 * fail with EIO.
 *
 * DESIGN.  One `struct partial` per blob being fetched, shared by all
 * readers, reference counted, on a list under fetch->lock; a partial with
 * chunks present outlives its last reader (up to IDLE_MAX of them), so a
 * reader that comes back does not download them again.  A chunk is
 * missing, in flight (one thread fetches it, others wait on the condition
 * variable) or present.  Workers take (partial, chunk) jobs from a bounded
 * queue.  No lock is held during a GET or a pwrite.
 *
 * ROOM.  The chunks present in partials are bounded (fetch->budget: half
 * the cache size, at least 6 chunks): past it, idle partials go first,
 * then the least recently used chunks that no reader is reading have
 * their range punched out of the file (they are fetched again if read
 * again).  So a file of any size streams through a small cache, and a
 * full disk (ENOSPC) makes room and tries once more.  Blobs without a
 * chunk list must be whole to be checked, and are never punched.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mps3/chunks.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/io.h"
#include "mps3/log.h"
#include "fetch.h"
#include "fs.h"

#define CHUNK MPS3_CHUNK_SIZE
#define READ_AHEAD 8		/* chunks queued ahead of a sequential reader */
#define WORKERS 4
#define QUEUE_MAX 64
#define IDLE_MAX 16		/* partials kept with no reader */
#define LIST_MAX (64u << 20)	/* largest chunk list read (a 4 TiB blob's) */

/* A chunk is missing, being fetched, present and checked, or known not to match its list. */
enum { C_MISSING = 0, C_FLIGHT = 1, C_PRESENT = 2, C_BAD = 3 };

/*
 * What a partial is of: a blob, the size an entry claims for it, and the
 * chunk list it names.  Readers share a partial, and a verdict of corrupt
 * content, only when all three agree: a planted entry that names a real
 * blob with another size or list affects only its own readers.
 */
#define ID_MAX (2 * MPS3_SHA256_HEX_LEN + 24)

struct partial {
	char sha[MPS3_SHA256_HEX_LEN + 1];
	char id[ID_MAX];		/* "<sha>:<size>:<list sha or empty>" */
	char file[MPS3_SHA256_HEX_LEN + 24];	/* its name in CACHE/partial: one per partial */
	uint64_t size;
	unsigned nchunks, present;
	uint8_t *state;
	uint32_t *used;		/* per chunk: fetch->clock when last fetched or read */
	uint16_t *inuse;	/* per chunk: readers reading it without the lock */
	uint64_t resident;	/* bytes of present chunks, counted in fetch->resident */
	struct mps3_chunks chunks;	/* n == 0: verified only as a whole */
	int fd;
	int err;		/* sticky failure: content does not match */
	int done;		/* verified and moved into the cache */
	unsigned refs;
	struct partial *next;
};

struct job {
	struct partial *p;
	unsigned chunk;
};

struct fetch {
	json_t *bad;			/* sha -> ms of a failed verification; protected by lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* chunk state changes */
	pthread_cond_t work;		/* jobs queued or stop */
	struct partial *list;		/* protected by lock */
	unsigned idle;			/* partials with no reference; protected by lock */
	unsigned serial;		/* names partial files; protected by lock */
	uint64_t resident;		/* bytes present in partials not yet in the cache; protected by lock */
	uint64_t budget;		/* how many may be; read-only after init */
	unsigned ahead;			/* read-ahead in chunks; read-only after init */
	uint32_t clock;			/* protected by lock */
	struct job queue[QUEUE_MAX];	/* protected by lock */
	unsigned qhead, qlen;		/* protected by lock */
	int stop;			/* protected by lock */
	pthread_t th[WORKERS];
	unsigned nth;
	char dir[4096];
	struct mps3fs *fs;
};

/* Lock held: take p off the list and free it (and its file unless it became the blob). */
static void partial_free(struct fetch *f, struct partial *p)
{
	struct partial **pp;

	for (pp = &f->list; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	f->resident -= p->resident;
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

static uint64_t chunk_len(const struct partial *p, unsigned i)
{
	uint64_t off = (uint64_t)i * CHUNK;

	return off + CHUNK <= p->size ? CHUNK : p->size - off;
}

/* Lock held: every chunk of p is missing again (content refused, or a failed finish). */
static void forget_chunks(struct fetch *f, struct partial *p)
{
	memset(p->state, C_MISSING, p->nchunks);
	p->present = 0;
	f->resident -= p->resident;
	p->resident = 0;
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
static uint64_t reclaim(struct fetch *f, uint64_t want)
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
		partial_free(f, idle);
		freed += before - f->resident;
	}
	while ((f->resident > f->budget || freed < want) && (p = oldest_chunk(f, &i)) != NULL) {
		if (fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)i * CHUNK,
			      (off_t)chunk_len(p, i)) < 0)
			break; /* a file system that cannot: the budget is only a wish there */
		p->state[i] = C_MISSING;
		p->present--;
		p->resident -= chunk_len(p, i);
		f->resident -= chunk_len(p, i);
		freed += chunk_len(p, i);
	}
	return freed;
}

/* Lock held.  An unreferenced partial stays while it holds chunks worth keeping. */
static void partial_unref(struct fetch *f, struct partial *p)
{
	struct partial *q, *oldest = NULL;

	if (--p->refs > 0)
		return;
	if (p->done || p->err || (p->present == 0 && !memchr(p->state, C_BAD, p->nchunks))) {
		partial_free(f, p);
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
	partial_free(f, oldest);
}

static void partial_ref(struct fetch *f, struct partial *p)
{
	if (p->refs++ == 0)
		f->idle--;
}

static void make_id(char out[ID_MAX], const char *sha, uint64_t size, const char *list)
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

/*
 * The blob's chunk list, read whole and verified (no lock held).  It is
 * small, and the same for every reader: kept in the blob cache.
 */
static int load_chunks(struct mps3fs *fs, const char *list_sha, uint64_t size, struct mps3_chunks *out)
{
	struct mps3_buf buf;
	struct mps3_sink sink;
	int fd, rc;

	mps3_buf_init(&buf, LIST_MAX);
	fd = mps3fs_cache_open(&fs->cache, list_sha);
	if (fd >= 0) {
		struct stat st;

		rc = fstat(fd, &st) < 0 ? -errno : mps3_buf_reserve(&buf, (size_t)st.st_size);
		if (!rc)
			rc = mps3_pread_all(fd, buf.data, (size_t)st.st_size, 0);
		if (!rc)
			buf.len = (size_t)st.st_size;
		close(fd);
	} else {
		mps3_sink_buf(&sink, &buf);
		rc = mps3_db_blob_get(fs->db, list_sha, NULL, &sink);
	}
	if (!rc) {
		rc = mps3_chunks_parse(out, buf.data ? buf.data : "", buf.len, size);
		if (rc == -EINVAL)
			rc = mps3_error_set(-EBADMSG, "chunk list %s does not describe %llu bytes", list_sha,
					    (unsigned long long)size);
	}
	/* Ranges are fetched in chunks of our size: a list of other chunks cannot check them; the whole is. */
	if (!rc && (out->chunk != CHUNK || out->n != (size + CHUNK - 1) / CHUNK))
		mps3_chunks_dispose(out);
	mps3_buf_dispose(&buf);
	return rc;
}

/*
 * Lock held: the shared partial of blob sha, found or new (a reference
 * taken).  A new one takes the chunk list (*list is left empty then); the
 * list a partial checks against never changes while chunks are in flight.
 */
/* Lock held: the partial of id, a reference taken, or NULL. */
static struct partial *partial_find(struct fetch *f, const char *id)
{
	struct partial *p;

	for (p = f->list; p; p = p->next)
		if (strcmp(p->id, id) == 0 && !p->err) {
			partial_ref(f, p);
			return p;
		}
	return NULL;
}

static struct partial *partial_get(struct fetch *f, const char *id, const char *sha, uint64_t size,
				   struct mps3_chunks *list, int *err)
{
	struct partial *p = partial_find(f, id);

	if (p)
		return p;
	p = partial_new(f, id, sha, size, err);
	if (p && list->n) {
		p->chunks = *list;
		memset(list, 0, sizeof(*list));
	}
	return p;
}

/* A sink that hashes what it writes at consecutive offsets of a file. */
struct pw_sink {
	int fd;
	uint64_t off;
	struct mps3_sha256 h;
};

static int pw_write(void *ctx, const void *buf, size_t n)
{
	struct pw_sink *s = ctx;
	int rc = mps3_pwrite_all(s->fd, buf, n, (off_t)s->off);

	if (!rc) {
		mps3_sha256_update(&s->h, buf, n);
		s->off += n;
	}
	return rc;
}

/* Report corrupt content once and refuse it for a while (lock held). */
static void mark_bad(struct fetch *f, struct partial *p, const char *what)
{
	if (!json_object_get(f->bad, p->id))
		mps3_warn("%s: blob %s is corrupt in the store (%s); reads of it fail", f->fs->cfg.url, p->sha, what);
	json_object_set_new(f->bad, p->id, json_integer(mps3fs_now_ns() / 1000000));
	p->err = -EBADMSG;
	forget_chunks(f, p);
	pthread_cond_broadcast(&f->cond);
}

/* Verify a complete partial and move it into the cache (no lock held). */
static void finish(struct fetch *f, struct partial *p)
{
	unsigned char md[MPS3_SHA256_LEN];
	char hex[MPS3_SHA256_HEX_LEN + 1], from[4200], to[4200], why[128] = "";
	int rc = mps3_sha256_fd(md, p->fd, 0, p->size);

	if (rc == 0) {
		mps3_hex(hex, md, sizeof(md));
		if (strcmp(hex, p->sha) != 0) {
			snprintf(why, sizeof(why), "its content hashes to %s", hex);
			rc = -EBADMSG;
		}
	}
	snprintf(from, sizeof(from), "%s/%s", f->dir, p->file);
	mps3fs_cache_path(&f->fs->cache, p->sha, to, sizeof(to));
	if (rc == 0 && rename(from, to) < 0)
		rc = -errno;
	pthread_mutex_lock(&f->lock);
	if (rc == 0) {
		p->done = 1;
		f->resident -= p->resident; /* the cache's now */
		p->resident = 0;
		pthread_cond_broadcast(&f->cond);
	} else if (rc == -EBADMSG) {
		mark_bad(f, p, why);
	} else {
		/* Start over next time rather than trust any of it. */
		p->err = rc;
		forget_chunks(f, p);
		pthread_cond_broadcast(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	if (rc == 0)
		mps3fs_cache_added(&f->fs->cache, p->sha, p->size, 0);
}

/* Fetch chunk i (state already set to in flight by the caller), and check it against the list. */
static int fetch_chunk(struct fetch *f, struct partial *p, unsigned i)
{
	struct mps3_get_opts opts;
	struct pw_sink ps = { p->fd, (uint64_t)i * CHUNK, { NULL } };
	struct mps3_sink sink = { pw_write, &ps };
	uint64_t len = (uint64_t)i * CHUNK + CHUNK <= p->size ? CHUNK : p->size - (uint64_t)i * CHUNK;
	unsigned char md[MPS3_SHA256_LEN];
	int rc, complete = 0, bad = 0;

	memset(&opts, 0, sizeof(opts));
	opts.off = (uint64_t)i * CHUNK;
	opts.len = len;
	rc = mps3_sha256_init(&ps.h);
	if (!rc)
		rc = mps3_db_blob_get(f->fs->db, p->sha, &opts, &sink);
	if (rc == -ENOSPC && mps3fs_room(f->fs, 2 * CHUNK) > 0) {
		/* A full disk: room made, once more from the chunk's start. */
		mps3_sha256_final(&ps.h, md);
		ps.off = opts.off;
		rc = mps3_sha256_init(&ps.h);
		if (!rc)
			rc = mps3_db_blob_get(f->fs->db, p->sha, &opts, &sink);
	}
	if (rc == 0 && ps.off != opts.off + len)
		rc = mps3_error_set(-EIO, "blob %s: chunk %u is short", p->sha, i);
	if (ps.h.ctx)
		mps3_sha256_final(&ps.h, md);
	pthread_mutex_lock(&f->lock);
	/* The list was set when the partial was made, before any chunk. */
	bad = rc == 0 && p->chunks.n && memcmp(md, p->chunks.md[i], sizeof(md)) != 0;
	if (bad) {
		/* Like a bad sector: that range fails, the checked ones still read. */
		if (!json_object_get(f->bad, p->id))
			mps3_warn("%s: blob %s is corrupt in the store (chunk %u does not match its chunk list); reads of that range fail",
				  f->fs->cfg.url, p->sha, i);
		json_object_set_new(f->bad, p->id, json_integer(0));
		p->state[i] = C_BAD;
		rc = -EBADMSG;
	} else if (rc == 0 && !p->err) {
		p->state[i] = C_PRESENT;
		p->used[i] = ++f->clock;
		p->resident += len;
		f->resident += len;
		complete = ++p->present == p->nchunks;
	} else {
		p->state[i] = C_MISSING;
	}
	if (!complete && f->resident > f->budget)
		reclaim(f, 0);
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (complete)
		finish(f, p);
	return rc;
}

static void *worker(void *arg)
{
	struct fetch *f = arg;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct job j;

		while (!f->stop && f->qlen == 0)
			pthread_cond_wait(&f->work, &f->lock);
		if (f->stop)
			break;
		j = f->queue[f->qhead];
		f->qhead = (f->qhead + 1) % QUEUE_MAX;
		f->qlen--;
		if (j.p->state[j.chunk] != C_MISSING || j.p->err) {
			partial_unref(f, j.p);
			continue;
		}
		j.p->state[j.chunk] = C_FLIGHT;
		pthread_mutex_unlock(&f->lock);
		if (fetch_chunk(f, j.p, j.chunk))
			mps3_info("read-ahead of blob %s failed: %s", j.p->sha, mps3_error_last(-EIO));
		pthread_mutex_lock(&f->lock);
		partial_unref(f, j.p);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* Leftovers of an earlier mount are not trusted: start over. */
static void clear_partials(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
}

int mps3fs_fetch_init(struct mps3fs *fs)
{
	struct fetch *f = calloc(1, sizeof(*f));
	unsigned i;

	if (!f)
		return -ENOMEM;
	f->fs = fs;
	snprintf(f->dir, sizeof(f->dir), "%s/partial", fs->cfg.cache_dir);
	if (mkdir(f->dir, 0700) < 0 && errno != EEXIST) {
		free(f);
		return -errno;
	}
	clear_partials(f->dir);
	f->budget = fs->cache.limit / 2 > 6 * (uint64_t)CHUNK ? fs->cache.limit / 2 : 6 * (uint64_t)CHUNK;
	f->ahead = f->budget / CHUNK / 2 < READ_AHEAD ? (unsigned)(f->budget / CHUNK / 2) : READ_AHEAD;
	f->bad = json_object();
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	pthread_cond_init(&f->work, NULL);
	for (i = 0; i < WORKERS; i++)
		if (pthread_create(&f->th[f->nth], NULL, worker, f) == 0)
			f->nth++;
	fs->fetch = f;
	return 0;
}

void mps3fs_fetch_dispose(struct mps3fs *fs)
{
	struct fetch *f = fs->fetch;
	unsigned i;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = 1;
	pthread_cond_broadcast(&f->work);
	pthread_mutex_unlock(&f->lock);
	for (i = 0; i < f->nth; i++)
		pthread_join(f->th[i], NULL);
	pthread_mutex_lock(&f->lock);
	while (f->qlen) {
		partial_unref(f, f->queue[f->qhead].p);
		f->qhead = (f->qhead + 1) % QUEUE_MAX;
		f->qlen--;
	}
	while (f->list)
		partial_free(f, f->list);
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	pthread_cond_destroy(&f->work);
	json_decref(f->bad);
	free(f);
	fs->fetch = NULL;
}

/* Queue read-ahead of chunks [from, to) (lock held). */
static void queue_ahead(struct fetch *f, struct partial *p, unsigned from, unsigned to)
{
	unsigned i;

	for (i = from; i < to && i < p->nchunks && f->qlen < QUEUE_MAX; i++) {
		if (p->state[i] != C_MISSING)
			continue;
		f->queue[(f->qhead + f->qlen) % QUEUE_MAX] = (struct job){ p, i };
		f->qlen++;
		partial_ref(f, p);
		pthread_cond_signal(&f->work);
	}
}

/* Lock held: make chunk i present (fetching it here if nobody else does).  0 or -errno. */
static int need_chunk(struct fetch *f, struct partial *p, unsigned i)
{
	int err;

	for (;;) {
		if (p->err)
			return p->err;
		if (p->done || p->state[i] == C_PRESENT)
			return 0;
		if (p->state[i] == C_BAD)
			return -EBADMSG;
		if (p->state[i] == C_MISSING) {
			p->state[i] = C_FLIGHT;
			pthread_mutex_unlock(&f->lock);
			err = fetch_chunk(f, p, i);
			pthread_mutex_lock(&f->lock);
			if (err)
				return err;
			continue;
		}
		pthread_cond_wait(&f->cond, &f->lock);
	}
}

/* Lock held: the reader is done with chunks [first, last). */
static void release_chunks(struct partial *p, unsigned first, unsigned last)
{
	unsigned i;

	for (i = first; i < last; i++)
		p->inuse[i]--;
}

/*
 * Lock held: what the reader may have.  With a chunk list, the chunks it
 * reads, each held (inuse) against reclaim until release_chunks; without
 * one, the whole blob, verified, before any byte.
 */
static int make_readable(struct fetch *f, struct partial *p, unsigned first, unsigned last, int seq)
{
	unsigned i;
	int err = 0;

	if (!p->chunks.n) {
		/* Everything, in parallel: the reader's chunks here, the rest by the workers. */
		queue_ahead(f, p, 0, p->nchunks);
		for (i = 0; i < p->nchunks && !err; i++)
			err = need_chunk(f, p, i);
		while (!err && !p->done && !p->err)
			pthread_cond_wait(&f->cond, &f->lock);
		return err ? err : p->err;
	}
	if (seq)
		queue_ahead(f, p, last + 1, last + 1 + f->ahead);
	for (i = first; i <= last; i++) {
		err = need_chunk(f, p, i);
		if (err) {
			release_chunks(p, first, i);
			return err;
		}
		p->inuse[i]++;
		p->used[i] = ++f->clock;
	}
	return 0;
}

/* Known to be corrupt in the store: refused at once for a minute, then tried again (lock held). */
static int known_bad(struct fetch *f, const char *id)
{
	json_t *t = json_object_get(f->bad, id);

	/* 0: only a chunk was bad (reported; the rest reads). */
	if (!t || json_integer_value(t) == 0)
		return 0;
	if (mps3fs_now_ns() / 1000000 - json_integer_value(t) < 60000)
		return 1;
	json_object_del(f->bad, id);
	return 0;
}

ssize_t mps3fs_fetch_read(struct mps3fs *fs, const char *sha, uint64_t blob_size, const char *chunks,
			  char *buf, size_t size, uint64_t off, int seq, int *whole_fd)
{
	struct fetch *f = fs->fetch;
	struct mps3_chunks list = { 0 };
	struct partial *p;
	char id[ID_MAX];
	unsigned first, last;
	int err = 0, err0, fd = -1, done;

	if (off >= blob_size || size == 0)
		return 0;
	if (size > blob_size - off)
		size = (size_t)(blob_size - off);
	first = (unsigned)(off / CHUNK);
	last = (unsigned)((off + size - 1) / CHUNK);
	make_id(id, sha, blob_size, chunks);
	pthread_mutex_lock(&f->lock);
	err = known_bad(f, id) ? -EBADMSG : 0;
	/* A download of it in progress has its chunk list: every read after the first is served from there. */
	p = err ? NULL : partial_find(f, id);
	pthread_mutex_unlock(&f->lock);
	if (err)
		return err;
	/* Else the chunk list first, outside the lock (a GET of its own). */
	if (!p && chunks && chunks[0] && !mps3fs_cache_has(&fs->cache, sha)) {
		err = load_chunks(fs, chunks, blob_size, &list);
		if (err == -EBADMSG) {
			pthread_mutex_lock(&f->lock);
			if (!json_object_get(f->bad, id))
				mps3_warn("%s: %s; reads of blob %s fail", fs->cfg.url, mps3_error_last(err), sha);
			json_object_set_new(f->bad, id, json_integer(mps3fs_now_ns() / 1000000));
			pthread_mutex_unlock(&f->lock);
		}
		if (err)
			return err;
	}
	pthread_mutex_lock(&f->lock);
	if (!p)
		p = partial_get(f, id, sha, blob_size, &list, &err);
	if (p)
		err = make_readable(f, p, first, last, seq);
	err0 = err;
	done = p && p->done;
	pthread_mutex_unlock(&f->lock);
	/* The chunks read are present and stay so: read them without the lock (a reference is held). */
	if (!err && done)
		fd = mps3fs_cache_open(&fs->cache, sha); /* verified and in the cache by now: read it there */
	if (!err)
		err = mps3_pread_all(fd >= 0 ? fd : p->fd, buf, size, (off_t)off);
	/* Whole and verified: the reader keeps it, even if the cache has no room for it. */
	if (!err && done && whole_fd && *whole_fd < 0) {
		*whole_fd = fd >= 0 ? fd : fcntl(p->fd, F_DUPFD_CLOEXEC, 0);
		fd = -1;
	}
	pthread_mutex_lock(&f->lock);
	if (p && p->chunks.n && !err0)
		release_chunks(p, first, last + 1);
	if (p)
		partial_unref(f, p);
	pthread_mutex_unlock(&f->lock);
	mps3_chunks_dispose(&list);
	if (fd >= 0)
		close(fd);
	return err ? err : (ssize_t)size;
}

int mps3fs_fetch_copy(struct mps3fs *fs, const char *sha, uint64_t blob_size, const char *chunks, int fd)
{
	size_t cap = CHUNK;
	char *buf = malloc(cap);
	uint64_t off = 0;
	off_t in, out;
	int whole = -1, rc = buf ? 0 : -ENOMEM;

	/* Chunk by chunk, each checked, through the partial; once it is whole, from there at once. */
	while (!rc && off < blob_size && whole < 0) {
		ssize_t r = mps3fs_fetch_read(fs, sha, blob_size, chunks, buf, cap, off, 1, &whole);

		rc = r < 0 ? (int)r : r == 0 ? -EIO : mps3_pwrite_all(fd, buf, (size_t)r, (off_t)off);
		if (rc == -ENOSPC && mps3fs_room(fs, (uint64_t)r) > 0)
			rc = mps3_pwrite_all(fd, buf, (size_t)r, (off_t)off);
		if (r > 0)
			off += (uint64_t)r;
	}
	if (!rc && whole >= 0 && off < blob_size) {
		in = out = (off_t)off;
		rc = mps3_copy_all(whole, &in, fd, &out, blob_size - off);
	}
	if (whole >= 0)
		close(whole);
	free(buf);
	return rc;
}

uint64_t mps3fs_room(struct mps3fs *fs, uint64_t bytes)
{
	struct fetch *f = fs->fetch;
	uint64_t freed = mps3fs_cache_make_room(&fs->cache, bytes);

	if (f && freed < bytes) {
		pthread_mutex_lock(&f->lock);
		freed += reclaim(f, bytes - freed);
		pthread_mutex_unlock(&f->lock);
	}
	return freed;
}
