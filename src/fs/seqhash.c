/*
 * fs/seqhash.c - hashing a sequentially written staging file behind its
 * writes (fs/seqhash.h).  The thread starts once MPS3FS_SEQHASH_MIN bytes
 * are written, reads what was written back from the staging file (the
 * page cache) in pieces of up to 1 MiB, feeds the chunker and starts the
 * write-back of every whole 8 MiB hashed (sync_file_range: close() still
 * fdatasyncs, with little left to do).  Nothing it reads is trusted unless
 * the file was written only by appends from empty: the first write that is
 * not one, or a truncate, voids it, and a void hash is never used.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "mps3/chunks.h"
#include "mps3/io.h"
#include "seqhash.h"

#define PIECE ((size_t)1 << 20)
#define WRITEBACK ((uint64_t)8 << 20)

struct seqhash {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* written, hashed or state moved; with lock */
	int refs;			/* with lock */
	int fd;				/* a dup of the staging file's */
	uint64_t written;		/* bytes written from 0 without a gap; with lock */
	uint64_t hashed;		/* of those, fed to k; with lock */
	int is_void, stop, started;	/* with lock */
	int err;			/* the thread's read error; with lock */
	pthread_t th;
	struct mps3_chunker k;		/* the thread's until it ended, then finish's */
};

struct seqhash *mps3fs_seqhash_new(int fd)
{
	struct seqhash *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (h->fd < 0 || mps3_chunker_init(&h->k) != 0) {
		if (h->fd >= 0)
			close(h->fd);
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	h->refs = 1;
	return h;
}

struct seqhash *mps3fs_seqhash_get(struct seqhash *h)
{
	if (h) {
		pthread_mutex_lock(&h->lock);
		h->refs++;
		pthread_mutex_unlock(&h->lock);
	}
	return h;
}

/* With h->lock held: make it void and stop the thread (joined by whoever ends it). */
static void set_void(struct seqhash *h)
{
	h->is_void = 1;
	pthread_cond_broadcast(&h->cond);
}

static void *hasher(void *arg)
{
	struct seqhash *h = arg;
	uint64_t from, to, flushed = 0;
	char *buf = malloc(PIECE);
	int rc = buf ? 0 : -ENOMEM;

	pthread_setname_np(pthread_self(), "mps3-hash");
	pthread_mutex_lock(&h->lock);
	while (!rc) {
		while (!h->is_void && !h->stop && h->hashed >= h->written)
			pthread_cond_wait(&h->cond, &h->lock);
		if (h->is_void || h->hashed >= h->written)
			break; /* void, or stopped with everything hashed */
		from = h->hashed;
		to = h->written - from > PIECE ? from + PIECE : h->written;
		pthread_mutex_unlock(&h->lock);
		rc = mps3_pread_all(h->fd, buf, (size_t)(to - from), (off_t)from);
		if (!rc)
			rc = mps3_chunker_feed(&h->k, buf, (size_t)(to - from));
		/* Start the write-back of what is hashed: close()'s fdatasync then finds little to write. */
		if (!rc && to - flushed >= WRITEBACK) {
			(void)sync_file_range(h->fd, (off_t)flushed, (off_t)(to - flushed), SYNC_FILE_RANGE_WRITE);
			flushed = to;
		}
		pthread_mutex_lock(&h->lock);
		if (!rc)
			h->hashed = to;
		pthread_cond_broadcast(&h->cond);
	}
	if (rc) {
		h->err = rc;
		set_void(h);
	}
	pthread_mutex_unlock(&h->lock);
	free(buf);
	return NULL;
}

void mps3fs_seqhash_wrote(struct seqhash *h, uint64_t off, uint64_t len)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	if (h->is_void || h->stop) {
		/* nothing more to follow */
	} else if (off != h->written) {
		set_void(h); /* a hole, a write over written bytes, or one out of order */
	} else {
		h->written += len;
		if (!h->started && h->written >= MPS3FS_SEQHASH_MIN)
			h->started = pthread_create(&h->th, NULL, hasher, h) == 0;
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
}

void mps3fs_seqhash_void(struct seqhash *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	set_void(h);
	pthread_mutex_unlock(&h->lock);
}

/* End the thread (with h->lock held; returns with it held). */
static void stop_thread(struct seqhash *h)
{
	int started = h->started;

	h->stop = 1;
	h->started = 0;
	pthread_cond_broadcast(&h->cond);
	if (started) {
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->th, NULL);
		pthread_mutex_lock(&h->lock);
	}
}

int mps3fs_seqhash_finish(struct seqhash *h, uint64_t size, unsigned char whole[MPS3_SHA256_LEN],
			  struct mps3_buf *list)
{
	int rc, ran;

	if (!h)
		return -ESTALE;
	pthread_mutex_lock(&h->lock);
	ran = h->started;
	stop_thread(h);
	rc = h->err ? h->err : h->is_void || !ran || h->hashed != size || h->written != size ? -ESTALE : 0;
	h->is_void = 1;
	pthread_mutex_unlock(&h->lock);
	/* The thread has ended: the chunker is ours, and only the first finish finds a result. */
	return rc ? rc : mps3_chunker_finish(&h->k, whole, list);
}

void mps3fs_seqhash_put(struct seqhash *h)
{
	int last;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	last = --h->refs == 0;
	if (last) {
		set_void(h);
		stop_thread(h);
	}
	pthread_mutex_unlock(&h->lock);
	if (!last)
		return;
	mps3_chunker_dispose(&h->k);
	close(h->fd);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h);
}
