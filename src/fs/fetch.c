/*
 * fs/fetch.c - content of blobs that are not in the cache yet, fetched in
 * 4 MiB chunks with ranged GETs into CACHE/partial/<sha256>: a read of 4 KiB
 * of a large file downloads one chunk, not the file.  Sequential readers get
 * read-ahead from a small pool of workers.  When every chunk of a blob is
 * there its SHA-256 is checked and it moves into the blob cache; a blob that
 * does not match is deleted and reads of it fail with EIO.
 *
 * DESIGN.  One `struct partial` per blob being fetched, shared by all
 * readers, reference counted, on a list under fetch->lock.  A chunk is
 * missing, in flight (one thread fetches it, others wait on the condition
 * variable) or present.  Workers take (partial, chunk) jobs from a bounded
 * queue.  No lock is held during a GET or a pwrite.
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
#include "mps3/hash.h"
#include "mps3/io.h"
#include "mps3/log.h"
#include "fetch.h"
#include "fs.h"

#define CHUNK ((uint64_t)4 << 20)
#define READ_AHEAD 8		/* chunks queued ahead of a sequential reader */
#define WORKERS 4
#define QUEUE_MAX 64

enum { C_MISSING = 0, C_FLIGHT = 1, C_PRESENT = 2 };

struct partial {
	char sha[MPS3_SHA256_HEX_LEN + 1];
	uint64_t size;
	unsigned nchunks, present;
	uint8_t *state;
	int fd;
	int err;		/* sticky failure: hash mismatch */
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
	struct partial *list;
	struct job queue[QUEUE_MAX];
	unsigned qhead, qlen;
	int stop;
	pthread_t th[WORKERS];
	unsigned nth;
	char dir[4096];
	struct mps3fs *fs;
};

static void partial_unref(struct fetch *f, struct partial *p)
{
	struct partial **pp;

	/* lock held */
	if (--p->refs > 0)
		return;
	for (pp = &f->list; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	if (p->fd >= 0)
		close(p->fd);
	if (!p->done) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/%s", f->dir, p->sha);
		unlink(path);
	}
	free(p->state);
	free(p);
}

static struct partial *partial_get(struct fetch *f, const char *sha, uint64_t size, int *err)
{
	struct partial *p;
	char path[4200];

	/* lock held */
	for (p = f->list; p; p = p->next) {
		if (strcmp(p->sha, sha) == 0) {
			p->refs++;
			return p;
		}
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(p->sha, sha, sizeof(p->sha));
	p->size = size;
	p->nchunks = (unsigned)((size + CHUNK - 1) / CHUNK);
	p->state = calloc(p->nchunks ? p->nchunks : 1, 1);
	snprintf(path, sizeof(path), "%s/%s", f->dir, sha);
	p->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (!p->state || p->fd < 0 || ftruncate(p->fd, (off_t)size) < 0) {
		*err = p->fd < 0 || !p->state ? (p->state ? -errno : -ENOMEM) : -errno;
		if (p->fd >= 0)
			close(p->fd);
		unlink(path);
		free(p->state);
		free(p);
		return NULL;
	}
	p->refs = 1;
	p->next = f->list;
	f->list = p;
	return p;
}

struct pw_sink {
	int fd;
	uint64_t off;
};

static int pw_write(void *ctx, const void *buf, size_t n)
{
	struct pw_sink *s = ctx;
	int rc = mps3_pwrite_all(s->fd, buf, n, (off_t)s->off);

	if (!rc)
		s->off += n;
	return rc;
}

/* Verify a complete partial and move it into the cache (no lock held). */
static void finish(struct fetch *f, struct partial *p)
{
	unsigned char md[MPS3_SHA256_LEN];
	char hex[MPS3_SHA256_HEX_LEN + 1], from[4200], to[4200];
	int rc = mps3_sha256_fd(md, p->fd, 0, p->size);

	if (rc == 0) {
		mps3_hex(hex, md, sizeof(md));
		if (strcmp(hex, p->sha) != 0) {
			mps3_warn("%s: blob %s is corrupt in the store (its content hashes to %s); reads of it fail",
				  f->fs->cfg.url, p->sha, hex);
			rc = -EBADMSG;
		}
	}
	snprintf(from, sizeof(from), "%s/%s", f->dir, p->sha);
	mps3fs_cache_path(&f->fs->cache, p->sha, to, sizeof(to));
	if (rc == 0 && rename(from, to) < 0)
		rc = -errno;
	pthread_mutex_lock(&f->lock);
	if (rc == 0) {
		p->done = 1;
	} else {
		p->err = rc;
		/* Refused at once from now on, without downloading or reporting it again. */
		if (rc == -EBADMSG)
			json_object_set_new(f->bad, p->sha, json_integer(mps3fs_now_ns() / 1000000));
		/* Start over next time rather than trust any of it. */
		memset(p->state, C_MISSING, p->nchunks);
		p->present = 0;
	}
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (rc == 0)
		mps3fs_cache_added(&f->fs->cache, p->sha, p->size, 0);
}

/* Fetch chunk i (state already set to in flight by the caller). */
static int fetch_chunk(struct fetch *f, struct partial *p, unsigned i)
{
	struct mps3_get_opts opts;
	struct pw_sink ps = { p->fd, (uint64_t)i * CHUNK };
	struct mps3_sink sink = { pw_write, &ps };
	uint64_t len = (uint64_t)i * CHUNK + CHUNK <= p->size ? CHUNK : p->size - (uint64_t)i * CHUNK;
	int rc, complete = 0;

	memset(&opts, 0, sizeof(opts));
	opts.off = (uint64_t)i * CHUNK;
	opts.len = len;
	rc = mps3_db_blob_get(f->fs->db, p->sha, &opts, &sink);
	if (rc == 0 && ps.off != opts.off + len)
		rc = mps3_error_set(-EIO, "blob %s: chunk %u is short", p->sha, i);
	pthread_mutex_lock(&f->lock);
	if (rc == 0) {
		p->state[i] = C_PRESENT;
		complete = ++p->present == p->nchunks;
	} else {
		p->state[i] = C_MISSING;
	}
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
	/* Leftovers of an earlier mount are not trusted: start over. */
	{
		DIR *d = opendir(f->dir);
		struct dirent *de;

		while (d && (de = readdir(d)) != NULL) {
			char path[4400];

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", f->dir, de->d_name);
			unlink(path);
		}
		if (d)
			closedir(d);
	}
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
		p->refs++;
		pthread_cond_signal(&f->work);
	}
}

ssize_t mps3fs_fetch_read(struct mps3fs *fs, const char *sha, uint64_t blob_size, char *buf,
			  size_t size, uint64_t off, int seq)
{
	struct fetch *f = fs->fetch;
	struct partial *p;
	unsigned first, last, i;
	ssize_t got = 0;
	int err = 0, fd = -1;

	if (off >= blob_size || size == 0)
		return 0;
	if (size > blob_size - off)
		size = (size_t)(blob_size - off);
	first = (unsigned)(off / CHUNK);
	last = (unsigned)((off + size - 1) / CHUNK);

	pthread_mutex_lock(&f->lock);
	{
		/* Known to be corrupt in the store: try again only after a while. */
		json_t *t = json_object_get(f->bad, sha);

		if (t && mps3fs_now_ns() / 1000000 - json_integer_value(t) < 60000) {
			pthread_mutex_unlock(&f->lock);
			return -EBADMSG;
		}
		if (t)
			json_object_del(f->bad, sha);
	}
	p = partial_get(f, sha, blob_size, &err);
	if (!p) {
		pthread_mutex_unlock(&f->lock);
		return err;
	}
	if (seq)
		queue_ahead(f, p, last + 1, last + 1 + READ_AHEAD);
	for (i = first; i <= last && !err; i++) {
		for (;;) {
			if (p->err) {
				err = p->err;
				break;
			}
			if (p->done || p->state[i] == C_PRESENT)
				break;
			if (p->state[i] == C_MISSING) {
				p->state[i] = C_FLIGHT;
				pthread_mutex_unlock(&f->lock);
				err = fetch_chunk(f, p, i);
				pthread_mutex_lock(&f->lock);
				if (err)
					break;
				continue;
			}
			pthread_cond_wait(&f->cond, &f->lock);
		}
	}
	if (!err && p->done) {
		/* Verified and in the cache by now: read it there. */
		pthread_mutex_unlock(&f->lock);
		fd = mps3fs_cache_open(&fs->cache, sha);
		pthread_mutex_lock(&f->lock);
	}
	if (!err) {
		int rfd = fd >= 0 ? fd : p->fd;

		while ((size_t)got < size) {
			ssize_t r = pread(rfd, buf + got, size - (size_t)got, (off_t)off + got);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				err = r < 0 ? -errno : -EIO;
				break;
			}
			got += r;
		}
	}
	partial_unref(f, p);
	pthread_mutex_unlock(&f->lock);
	if (fd >= 0)
		close(fd);
	return err ? err : got;
}

int mps3fs_fetch_whole(struct mps3fs *fs, const char *sha, uint64_t blob_size)
{
	char b;
	ssize_t r;

	if (blob_size == 0)
		return 0;
	/* Touching the last byte of every chunk fetches them all. */
	for (uint64_t off = 0; off < blob_size; off += CHUNK) {
		uint64_t at = off + CHUNK - 1 < blob_size ? off + CHUNK - 1 : blob_size - 1;

		r = mps3fs_fetch_read(fs, sha, blob_size, &b, 1, at, 1);
		if (r < 0)
			return (int)r;
	}
	return 0;
}
