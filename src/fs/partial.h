/*
 * fs/partial.h - the downloads in progress of fs/fetch.c, shared by it and
 * fs/partial.c (their bookkeeping: lifetime, sharing and the room they
 * take).  Internal to those two files.  Every function here is called with
 * fetch->lock held.
 */
#ifndef MPS3FS_PARTIAL_H
#define MPS3FS_PARTIAL_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "mps3/chunks.h"
#include "mps3/hash.h"

struct mps3fs;

#define CHUNK MPS3_CHUNK_SIZE
#define READ_AHEAD 16		/* chunks queued ahead of a sequential reader */
#define WORKERS 4
#define RUN_MAX 8		/* chunks one ranged GET carries (32 MiB): fewer, larger requests */
#define QUEUE_MAX 64
#define IDLE_MAX 16		/* partials kept with no reader */
#define LIST_MAX (64u << 20)	/* largest chunk list read (a 4 TiB blob's) */
#define ORPHANS_MAX 256		/* partial files an earlier mount left that are kept */

/*
 * A chunk is missing, queued for a worker, being fetched or checked,
 * present and checked, known not to match its list, or kept on disk by an
 * earlier mount and not checked yet (it is, against the list, before its
 * first byte is read; a torn or stale one is fetched again).
 */
enum { C_MISSING = 0, C_FLIGHT = 1, C_PRESENT = 2, C_BAD = 3, C_QUEUED = 4, C_KEPT = 5 };

/*
 * What a partial is of: a blob, the size an entry claims for it, and the
 * chunk list it names.  Readers share a partial, and a verdict of corrupt
 * content, only when all three agree: a planted entry that names a real
 * blob with another size or list affects only its own readers.
 */
#define ID_MAX (2 * MPS3_SHA256_HEX_LEN + 24)
/* Its file in CACHE/partial: "<sha>-<size>-<list sha or empty>.<serial>", so a later mount knows what it is. */
#define FILE_MAX (ID_MAX + 12)
#define DIR_MAX 4096
#define PATH_BUF (DIR_MAX + FILE_MAX + 2)	/* "<dir>/<file>" */

struct partial {
	char sha[MPS3_SHA256_HEX_LEN + 1];
	char id[ID_MAX];		/* "<sha>:<size>:<list sha or empty>" */
	char file[FILE_MAX];	/* its name in CACHE/partial: one per partial */
	uint64_t size;
	unsigned nchunks, present, kept;	/* chunks C_PRESENT, C_KEPT */
	uint8_t *state;
	uint32_t *used;		/* per chunk: fetch->clock when last fetched or read */
	uint16_t *inuse;	/* per chunk: readers reading it without the lock */
	uint64_t resident;	/* bytes of present and kept chunks, counted in fetch->resident */
	struct mps3_chunks chunks;	/* n == 0: verified only as a whole */
	int fd;
	int err;		/* sticky failure: content does not match */
	int finishing;		/* every chunk in: being verified whole and moved, nothing punched */
	int done;		/* verified and moved into the cache */
	unsigned refs;
	struct partial *next;
};

/* A partial file an earlier mount left, not taken up yet. */
struct orphan {
	char id[ID_MAX];
	char file[FILE_MAX];
	uint64_t bytes;			/* allocated on disk */
	long long mtime;
	struct orphan *next;
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
	struct orphan *orphans;		/* protected by lock */
	unsigned norphans;		/* protected by lock */
	uint64_t resident;		/* bytes in partials not yet in the cache, and orphans; protected by lock */
	uint64_t budget;		/* how many may be; read-only after init */
	unsigned ahead;			/* read-ahead in chunks; read-only after init */
	unsigned run;			/* most chunks in one GET, <= ahead; read-only after init */
	uint32_t clock;			/* protected by lock */
	struct job queue[QUEUE_MAX];	/* protected by lock */
	unsigned qhead, qlen;		/* protected by lock */
	int stop;			/* protected by lock */
	pthread_t th[WORKERS];
	unsigned nth;
	char dir[DIR_MAX];
	struct mps3fs *fs;
};

/*
 * Mount: take stock of the partial files an earlier mount left (a clean
 * unmount keeps those with chunks; a crash leaves all), counted in the
 * room; what is not a partial file, or not one of a chunked blob, goes.
 */
void mps3fs_partial_scan(struct fetch *f);
/* Unmount: forget the orphans not taken up (their files stay for the next mount). */
void mps3fs_partial_orphans_free(struct fetch *f);
/*
 * Take p off the list and free it, and its file unless it became the blob
 * or, at unmount (f->stop), holds chunks a later mount may check and use.
 */
void mps3fs_partial_free(struct fetch *f, struct partial *p);
uint64_t mps3fs_partial_chunk_len(const struct partial *p, unsigned i);
/* Tell the blob cache how many bytes the partials hold now (they share cache_size). */
void mps3fs_partial_note(struct fetch *f);
/* Every chunk of p is missing again (content refused, or a failed finish). */
void mps3fs_partial_forget(struct fetch *f, struct partial *p);
/*
 * Bring the chunks present down to the budget, less want more bytes (a
 * full disk): orphans of an earlier mount first, then idle partials, then
 * old chunks punched out.  Returns the bytes freed.
 */
uint64_t mps3fs_partial_reclaim(struct fetch *f, uint64_t want);
/* A reference dropped: an unreferenced partial stays while it holds chunks worth keeping. */
void mps3fs_partial_unref(struct fetch *f, struct partial *p);
void mps3fs_partial_ref(struct fetch *f, struct partial *p);
/* What a partial of (sha, size, list) is called: "<sha>:<size>:<list sha or empty>". */
void mps3fs_partial_id(char out[ID_MAX], const char *sha, uint64_t size, const char *list);
/* The partial of id, a reference taken, or NULL. */
struct partial *mps3fs_partial_find(struct fetch *f, const char *id);
/*
 * The shared partial of id, found or new (a reference taken; NULL and *err
 * if it cannot be made).  A new one takes the chunk list (*list is left
 * empty then); the list a partial checks against never changes while
 * chunks are in flight.  A new one of a chunked blob takes up the orphan
 * of the same id, its chunks C_KEPT.
 */
struct partial *mps3fs_partial_get(struct fetch *f, const char *id, const char *sha, uint64_t size,
			    struct mps3_chunks *list, int *err);

#endif
