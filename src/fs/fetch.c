/*
 * fs/fetch.c - content of blobs that are not in the cache yet, fetched in
 * 4 MiB chunks with ranged GETs into a file in CACHE/partial: a read of 4 KiB
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
 * reader that comes back does not download them again, and once it is
 * whole in the cache the next read goes there.  A chunk is missing,
 * queued, in flight (one thread fetches it, others wait on the condition
 * variable) or present.  Read-ahead queues (partial, chunk) jobs on a
 * bounded queue a run of RUN_MAX chunks at a time, and a worker takes a
 * run in one ranged GET, each chunk checked and readable as soon as its
 * bytes are in: fewer requests (each costs the server a lookup) with no
 * longer wait.  A reader that needs a queued chunk fetches it itself.  No
 * lock is held during a GET or a pwrite.
 *
 * ROOM.  Every chunk fetched is kept while it fits: the chunks present
 * in partials and the cached blobs share cache_size (the cache counts the
 * partials' bytes, cache->partial, and evicts its least recently used
 * blobs to make way), so a file that fits in the cache is downloaded at
 * most once however it is read.  The chunks alone are bounded too
 * (fetch->budget: the cache size, at least 6 chunks): past it, idle
 * partials go first, then the least recently used chunks that no reader
 * is reading have their range punched out of the file (they are fetched
 * again if read again).  So a file of any size streams through a small cache, and a
 * full disk (ENOSPC) makes room and tries once more.  Blobs without a
 * chunk list must be whole to be checked, and are never punched.
 *
 * KEPT.  The chunks of a chunked blob outlive the mount (fs/partial.c):
 * the next mount's first reader of it takes up the file, its chunks
 * C_KEPT, and each is checked against the list (check_kept) before the
 * reader gets a byte of it; one that does not match is fetched again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
#include "partial.h"

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

/* Report corrupt content once and refuse it for a while (lock held). */
static void mark_bad(struct fetch *f, struct partial *p, const char *what)
{
	if (!json_object_get(f->bad, p->id))
		mps3_warn("%s: blob %s is corrupt in the store (%s); reads of it fail", f->fs->cfg.url, p->sha, what);
	json_object_set_new(f->bad, p->id, json_integer(mps3fs_now_ns() / 1000000));
	p->err = -EBADMSG;
	mps3fs_partial_forget(f, p);
	pthread_cond_broadcast(&f->cond);
}

/* Verify a complete partial and move it into the cache (no lock held). */
static void finish(struct fetch *f, struct partial *p)
{
	unsigned char md[MPS3_SHA256_LEN];
	char hex[MPS3_SHA256_HEX_LEN + 1], from[PATH_BUF], to[4200], why[128] = "";
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
		mps3fs_partial_note(f);
		pthread_cond_broadcast(&f->cond);
	} else if (rc == -EBADMSG) {
		mark_bad(f, p, why);
	} else {
		/* Start over next time rather than trust any of it. */
		p->err = rc;
		mps3fs_partial_forget(f, p);
		pthread_cond_broadcast(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	if (rc == 0)
		mps3fs_cache_added(&f->fs->cache, p->sha, p->size, 0);
}

/*
 * A sink for a run of chunks [i, end) fetched in one GET: it writes them
 * at their offsets, and as each chunk is complete, checks it and makes it
 * readable, so a reader waits for its own chunk, not for the run.
 */
struct run_sink {
	struct fetch *f;
	struct partial *p;
	unsigned i, end;	/* the chunk being written; one past the run */
	uint64_t off;		/* next byte's offset in the blob */
	struct mps3_sha256 h;	/* of chunk i so far (ctx NULL: not started) */
	int complete;		/* the last chunk missing came in: finish the partial */
};

/* Chunk s->i is complete (md its hash) or failed (rc): record it (no lock held). */
static void chunk_done(struct run_sink *s, const unsigned char *md, int rc)
{
	struct fetch *f = s->f;
	struct partial *p = s->p;
	unsigned i = s->i;
	uint64_t len = mps3fs_partial_chunk_len(p, i);

	pthread_mutex_lock(&f->lock);
	if (rc == 0 && p->chunks.n && memcmp(md, p->chunks.md[i], MPS3_SHA256_LEN) != 0) {
		/* Like a bad sector: that range fails, the checked ones still read. */
		if (!json_object_get(f->bad, p->id))
			mps3_warn("%s: blob %s is corrupt in the store (chunk %u does not match its chunk list); reads of that range fail",
				  f->fs->cfg.url, p->sha, i);
		json_object_set_new(f->bad, p->id, json_integer(0));
		p->state[i] = C_BAD;
	} else if (rc == 0 && !p->err) {
		p->state[i] = C_PRESENT;
		p->used[i] = ++f->clock;
		p->resident += len;
		f->resident += len;
		s->complete = p->finishing = ++p->present == p->nchunks;
	} else {
		p->state[i] = C_MISSING;
	}
	if (!s->complete && (f->resident > f->budget || f->orphans))
		mps3fs_partial_reclaim(f, 0);
	mps3fs_partial_note(f);
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	/* The chunks share cache_size with the cached blobs: older blobs make way (no lock held). */
	if (rc == 0)
		mps3fs_cache_trim(&f->fs->cache);
}

static int run_write(void *ctx, const void *buf, size_t n)
{
	struct run_sink *s = ctx;
	const char *b = buf;
	unsigned char md[MPS3_SHA256_LEN];
	int rc = 0;

	while (n > 0 && !rc) {
		uint64_t left = (uint64_t)s->i * CHUNK + mps3fs_partial_chunk_len(s->p, s->i) - s->off;
		size_t m = n < left ? n : (size_t)left;

		if (s->i >= s->end)
			return mps3_error_set(-EIO, "blob %s: more bytes than were asked for", s->p->sha);
		if (!s->h.ctx)
			rc = mps3_sha256_init(&s->h);
		if (!rc)
			rc = mps3_pwrite_all(s->p->fd, b, m, (off_t)s->off);
		if (rc)
			break;
		mps3_sha256_update(&s->h, b, m);
		s->off += m;
		b += m;
		n -= m;
		if (m == left) {
			mps3_sha256_final(&s->h, md);
			chunk_done(s, md, 0);
			s->i++;
		}
	}
	return rc;
}

/*
 * Fetch chunks [i, i + n) (set to in flight by the caller) in one ranged
 * GET, each checked against the list as it completes.  A failure leaves
 * the chunks not yet complete missing again; a full disk makes room and
 * tries once more from the chunk it stopped in.  0 or -errno.
 */
static int fetch_run(struct fetch *f, struct partial *p, unsigned i, unsigned n)
{
	struct run_sink s = { f, p, i, i + n, (uint64_t)i * CHUNK, { NULL }, 0 };
	struct mps3_sink sink = { run_write, &s };
	struct mps3_get_opts opts;
	int rc, again = 1;

	for (;;) {
		memset(&opts, 0, sizeof(opts));
		opts.off = (uint64_t)s.i * CHUNK;
		opts.len = (uint64_t)(s.end - 1) * CHUNK + mps3fs_partial_chunk_len(p, s.end - 1) - opts.off;
		s.off = opts.off;
		rc = mps3_db_blob_get(f->fs->db, p->sha, &opts, &sink);
		mps3_sha256_dispose(&s.h); /* a chunk cut short: fetched again from its start */
		if (rc == 0 && s.i < s.end)
			rc = mps3_error_set(-EIO, "blob %s: chunk %u is short", p->sha, s.i);
		if (rc != -ENOSPC || !again || mps3fs_room(f->fs, 2 * CHUNK) == 0)
			break;
		again = 0;
	}
	for (; s.i < s.end; s.i++)
		chunk_done(&s, NULL, rc ? rc : -EIO);
	if (s.complete)
		finish(f, p);
	return rc;
}

/*
 * Lock held: take the first job, and the queued chunks of the same
 * partial that follow it up to a run boundary (they were queued in
 * order), as one run set in flight.  Its length, 0 for a stale job.
 */
static unsigned take_run(struct fetch *f, struct job *j)
{
	unsigned n = 0;

	*j = f->queue[f->qhead];
	do {
		struct job *k = &f->queue[f->qhead];

		f->qhead = (f->qhead + 1) % QUEUE_MAX;
		f->qlen--;
		if (k->p->state[k->chunk] != C_QUEUED || k->p->err) {
			/* Read by a reader meanwhile, or given up on. */
			if (n == 0)
				return 0;
			mps3fs_partial_unref(f, k->p);
			break;
		}
		k->p->state[k->chunk] = C_FLIGHT;
		if (n++ > 0)
			mps3fs_partial_unref(f, k->p); /* one reference holds the run */
	} while (n < f->run && (j->chunk + n) % f->run != 0 && f->qlen > 0 &&
		 f->queue[f->qhead].p == j->p && f->queue[f->qhead].chunk == j->chunk + n);
	return n;
}

static void *worker(void *arg)
{
	struct fetch *f = arg;

	pthread_setname_np(pthread_self(), "mps3-fetch");
	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct job j;
		unsigned n;

		while (!f->stop && f->qlen == 0)
			pthread_cond_wait(&f->work, &f->lock);
		if (f->stop)
			break;
		n = take_run(f, &j);
		if (n > 0) {
			pthread_mutex_unlock(&f->lock);
			if (fetch_run(f, j.p, j.chunk, n))
				mps3_info("read-ahead of blob %s failed: %s", j.p->sha, mps3_error_last(-EIO));
			pthread_mutex_lock(&f->lock);
		}
		mps3fs_partial_unref(f, j.p);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
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
	f->budget = fs->cache.limit > 6 * (uint64_t)CHUNK ? fs->cache.limit : 6 * (uint64_t)CHUNK;
	f->ahead = f->budget / CHUNK / 2 < READ_AHEAD ? (unsigned)(f->budget / CHUNK / 2) : READ_AHEAD;
	f->run = f->ahead < RUN_MAX ? f->ahead : RUN_MAX;
	f->bad = json_object();
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	pthread_cond_init(&f->work, NULL);
	/* What an earlier mount fetched stays usable, each chunk checked before it is read. */
	pthread_mutex_lock(&f->lock);
	mps3fs_partial_scan(f);
	pthread_mutex_unlock(&f->lock);
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
		mps3fs_partial_unref(f, f->queue[f->qhead].p);
		f->qhead = (f->qhead + 1) % QUEUE_MAX;
		f->qlen--;
	}
	while (f->list)
		mps3fs_partial_free(f, f->list);
	mps3fs_partial_orphans_free(f);
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	pthread_cond_destroy(&f->work);
	json_decref(f->bad);
	free(f);
	fs->fetch = NULL;
}

/* Queue read-ahead of the missing chunks of [from, to) (lock held). */
static void queue_ahead(struct fetch *f, struct partial *p, unsigned from, unsigned to)
{
	unsigned i;

	for (i = from; i < to && i < p->nchunks && f->qlen < QUEUE_MAX; i++) {
		if (p->state[i] != C_MISSING)
			continue;
		p->state[i] = C_QUEUED;
		f->queue[(f->qhead + f->qlen) % QUEUE_MAX] = (struct job){ p, i };
		f->qlen++;
		mps3fs_partial_ref(f, p);
		pthread_cond_signal(&f->work);
	}
}

/*
 * Lock held, dropped and taken again: check chunk i (set in flight by the
 * caller), kept by an earlier mount, against the list.  Present if it
 * matches, else missing (fetched again).
 */
static void check_kept(struct fetch *f, struct partial *p, unsigned i)
{
	uint64_t len = mps3fs_partial_chunk_len(p, i);
	unsigned char md[MPS3_SHA256_LEN];
	int ok, complete = 0;

	pthread_mutex_unlock(&f->lock);
	ok = mps3_sha256_fd(md, p->fd, (off_t)i * CHUNK, len) == 0 &&
	     memcmp(md, p->chunks.md[i], MPS3_SHA256_LEN) == 0;
	/* Not left on disk uncounted: its room is given back (it is fetched again if it can be). */
	if (!ok)
		fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)i * CHUNK, (off_t)len);
	pthread_mutex_lock(&f->lock);
	if (p->err) {
		/* Given up on meanwhile: every chunk is missing and counted off already. */
		pthread_cond_broadcast(&f->cond);
		return;
	}
	p->kept--;
	if (ok) {
		p->state[i] = C_PRESENT;
		p->used[i] = ++f->clock;
		complete = p->finishing = ++p->present == p->nchunks;
	} else {
		p->state[i] = C_MISSING;
		p->resident -= len;
		f->resident -= len;
		mps3fs_partial_note(f);
	}
	pthread_cond_broadcast(&f->cond);
	if (complete) {
		pthread_mutex_unlock(&f->lock);
		finish(f, p);
		pthread_mutex_lock(&f->lock);
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
		if (p->state[i] == C_KEPT) {
			p->state[i] = C_FLIGHT;
			check_kept(f, p, i);
			continue;
		}
		if (p->state[i] == C_MISSING || p->state[i] == C_QUEUED) {
			/* Queued, not taken yet: the reader is first (the job finds it taken). */
			p->state[i] = C_FLIGHT;
			pthread_mutex_unlock(&f->lock);
			err = fetch_run(f, p, i, 1);
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
	if (seq) {
		/* To a run boundary: the window grows a whole run at a time, one GET each. */
		unsigned end = last + 1 + f->ahead;

		queue_ahead(f, p, last + 1, end + (f->run - end % f->run) % f->run);
	}
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

/* The verified blob in the cache, if it is there and of the size the entry claims: an fd, or -1. */
static int cached(struct mps3fs *fs, const char *sha, uint64_t size)
{
	int fd = mps3fs_cache_open(&fs->cache, sha);
	struct stat st;

	if (fd >= 0 && (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* A read of a whole blob's fd, which the reader keeps if it has none yet (else it is closed). */
static ssize_t read_whole(int fd, char *buf, size_t size, uint64_t off, int *whole_fd)
{
	int err = mps3_pread_all(fd, buf, size, (off_t)off);

	if (!err && whole_fd && *whole_fd < 0)
		*whole_fd = fd;
	else
		close(fd);
	return err ? err : (ssize_t)size;
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
	mps3fs_partial_id(id, sha, blob_size, chunks);
	pthread_mutex_lock(&f->lock);
	err = known_bad(f, id) ? -EBADMSG : 0;
	/* A download of it in progress has its chunk list: every read after the first is served from there. */
	p = err ? NULL : mps3fs_partial_find(f, id);
	pthread_mutex_unlock(&f->lock);
	if (err)
		return err;
	/* Whole in the cache by now (a download that finished between two reads): read it there. */
	if (!p && (fd = cached(fs, sha, blob_size)) >= 0)
		return read_whole(fd, buf, size, off, whole_fd);
	/* Else the chunk list first, outside the lock (a GET of its own). */
	if (!p && chunks && chunks[0]) {
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
		p = mps3fs_partial_get(f, id, sha, blob_size, &list, &err);
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
		mps3fs_partial_unref(f, p);
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
		freed += mps3fs_partial_reclaim(f, bytes - freed);
		pthread_mutex_unlock(&f->lock);
	}
	return freed;
}
