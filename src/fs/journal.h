/*
 * fs/journal.h - the local journal of changes not yet in the bucket
 * (fs/journal.c).  Appends may come from any thread; mps3_journal_sync()
 * makes everything appended so far durable (one fsync for all waiting
 * callers).  The lock is a leaf: taken under the tree lock, never the
 * other way.
 */
#ifndef MPS3_FS_JOURNAL_H
#define MPS3_FS_JOURNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct mps3_journal {
	int fd;
	char *dir, *path;
	pthread_mutex_t lock;
	uint64_t written, synced;	/* protected by lock */
	off_t size;			/* protected by lock */
	off_t compacted;		/* size after the last compaction; protected by lock */
};

/*
 * Open and lock CACHE/journal/log: *old gets the change records of the
 * previous run (an array, new reference; empty if none), which stay in the
 * file until mps3_journal_truncate(); content records are put back into
 * CACHE/blobs where the cached copy is missing or damaged.  0, -EBUSY (another process has it), or a
 * negative errno with detail.
 */
int mps3_journal_open(struct mps3_journal *j, const char *cache_dir, json_t **old);
void mps3_journal_close(struct mps3_journal *j);

/* Record that path should become want (NULL: absent); base is the bucket's value then. */
int mps3_journal_append(struct mps3_journal *j, const char *path, json_t *want, json_t *base);
/*
 * Record the content of blob SHA (small files): with it in the journal the
 * cached copy need not be fsync'd; mps3_journal_open() puts it back into
 * CACHE/blobs if a crash lost or damaged the cached copy.
 */
int mps3_journal_append_blob(struct mps3_journal *j, const char *sha, const void *data, size_t len);
/* Content up to this size goes into the journal rather than being fsync'd on its own. */
#define MPS3_JOURNAL_INLINE_MAX (64u << 10)
/* Make every record appended so far durable.  0 or -errno. */
int mps3_journal_sync(struct mps3_journal *j);
/* Forget everything: all of it is in the bucket. */
int mps3_journal_truncate(struct mps3_journal *j);
/*
 * Whether the journal has grown enough since it was last emptied or
 * compacted to be worth compacting (at least 4 MiB, and twice what the last
 * compaction left).
 */
int mps3_journal_should_compact(struct mps3_journal *j);
/*
 * Rewrite the journal keeping only the records of the paths that are keys
 * of KEEP (the others are in the bucket), atomically (a new file renamed
 * over the old one) and durably; records appended before are durable
 * afterwards too.  For a mount under steady writes, where the journal is
 * never empty at once.  0 or -errno (the old journal stays in use).
 */
int mps3_journal_compact(struct mps3_journal *j, json_t *keep);

/* The bucket's current value of path (new reference or NULL). */
typedef json_t *(*mps3_journal_value_fn)(void *ctx, const char *path);

/*
 * What replaying records means now: an array of {"path", "want", "action"}
 * with action "landed" (nothing to do), "commit" (commit want again) or
 * "conflict" (another client wrote the path since: keep theirs, and ours
 * under another name).  NULL on ENOMEM.
 */
json_t *mps3_journal_plan(json_t *records, mps3_journal_value_fn current, void *ctx);

#endif
