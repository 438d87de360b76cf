/*
 * mps3/journal.h - the local journal of changes not yet in the bucket
 * (src/db/journal.c), and the rule for replaying it after a crash.
 *
 * The journal is CACHE/journal/log: one JSON line per record, appended.  A
 * change record says that a path should become a value ("want", null for
 * absent) and what the bucket held then ("base"); a content record holds a
 * small file's bytes, so they need not be fsync'd in the blob cache too.
 *
 * Threads: every function may be called from any thread; appends and syncs
 * from many at once (mps3_journal_sync() makes everything appended so far
 * durable with one fsync for all waiting callers).  The journal's lock is a
 * leaf: callers may hold their own locks (the daemon's tree lock) across
 * any call here, and nothing here calls out.
 *
 * Errors: 0 or a negative errno, with an mps3_error_set() detail naming the
 * file.  A failed append makes the journal *incomplete*: the error is
 * sticky, and every mps3_journal_sync() returns it until the journal is
 * whole again (mps3_journal_truncate(), or mps3_journal_compact() followed
 * by appending the current state of every pending path), so that nothing
 * is acknowledged while a record is missing.
 */
#ifndef MPS3_JOURNAL_H
#define MPS3_JOURNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct mps3_db;

struct mps3_journal {
	int fd;
	char *dir, *path, *cache_dir;
	pthread_mutex_t lock;
	uint64_t written, synced;	/* protected by lock */
	off_t size;			/* protected by lock */
	off_t compacted;		/* size after the last compaction; protected by lock */
	int err;			/* sticky failure of an append; protected by lock */
	uint64_t batch;			/* change records belong to this batch (0: none); protected by lock */
	json_t *holder;			/* the holder record, less the pid; protected by lock */
};

/*
 * Open and lock CACHE/journal/log: *old gets the change records of the
 * previous run (an array, new reference; empty if none), which stay in the
 * file until mps3_journal_truncate(); content records are put back into
 * CACHE/blobs where the cached copy is missing or damaged.  0, -EBUSY
 * (another process has it), or a negative errno with detail.  Call
 * mps3_journal_close() whatever it returns.  The -EBUSY detail names the
 * holder's pid when it recorded one.
 */
int mps3_journal_open(struct mps3_journal *j, const char *cache_dir, json_t **old);
void mps3_journal_close(struct mps3_journal *j);

/*
 * Who holds the lock (src/db/journal_holder.c): CACHE/journal/holder, a
 * JSON object (0600) with the holder's "pid", written when the journal is
 * opened.  mps3_journal_set_holder() adds the fields of about (borrowed) to
 * it and rewrites it with the caller's pid (call it again after a fork);
 * the daemon adds "url", "mountpoint" and "state" ("mounting",
 * "mounted", "unmounting" with "until", the time in ms since the epoch by
 * which it means to be done, "unmounted").  The record stays after the lock is
 * released: it is information, never a lock.  0 or -errno with detail.
 */
int mps3_journal_set_holder(struct mps3_journal *j, json_t *about);
/*
 * The holder record of cache_dir's journal (new reference), with "alive":
 * whether the process it names still runs.  Read it when the lock is
 * refused; the record of a process that released the lock is its last
 * word.  0, or -ENOENT (none, or not a record).
 */
int mps3_journal_holder(json_t **out, const char *cache_dir);
/*
 * Rename cache directory from to to, holding its journal's lock across the
 * rename.  0, -EBUSY (a process holds the journal), -ENOENT (no from), or
 * -errno with detail.
 */
int mps3_journal_rename_dir(const char *from, const char *to);

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
/*
 * Batches: change records appended between mps3_journal_batch(j, id,
 * "begin") and the batch's end carry its id.  At the next open, the change
 * records of a batch with no "commit" mark are left out of *old (the batch
 * is discarded, as if it never happened); mark "commit" before the batch
 * goes to the bucket, "abort" when it is thrown away.  0 or the append's
 * error.
 */
int mps3_journal_batch(struct mps3_journal *j, uint64_t id, const char *mark);
/* Make every record appended so far durable.  0, the sticky append error, or -errno. */
int mps3_journal_sync(struct mps3_journal *j);
/* The sticky append error (0 if the journal is complete). */
int mps3_journal_error(struct mps3_journal *j);
/* A record that could not even be made (err, -ENOMEM): the journal is incomplete, as after a failed append. */
void mps3_journal_missed(struct mps3_journal *j, int err);
/* Forget everything: all of it is in the bucket.  Clears the sticky error. */
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
 * afterwards too.  Clears the sticky error: the caller appends the current
 * state of every path of KEEP afterwards when the journal was incomplete.
 * 0 or -errno (the old journal stays in use).
 */
int mps3_journal_compact(struct mps3_journal *j, json_t *keep);

/* ---- replay ---------------------------------------------------------------- */

enum mps3_journal_action {
	MPS3_JOURNAL_LANDED,	/* the bucket holds the last wanted value: nothing to do */
	MPS3_JOURNAL_COMMIT,	/* nobody else wrote the path since: commit want again */
	MPS3_JOURNAL_CONFLICT,	/* another client wrote it since: theirs stays */
};

struct mps3_journal_item {
	char *path;
	json_t *want;			/* the last wanted value, NULL for absent */
	enum mps3_journal_action action;
	char *conflict_path;		/* CONFLICT of a file: where the local version goes; else NULL */
};

struct mps3_journal_plan {
	struct mps3_journal_item *v;	/* in path order */
	size_t n;
	size_t landed, commit, conflicts;
};

/* The bucket's current value of path (new reference or NULL). */
typedef json_t *(*mps3_journal_value_fn)(void *ctx, const char *path);

/*
 * What replaying records means now, per path: if the bucket holds the last
 * wanted value, the change LANDED; if it holds a value this client wrote or
 * based a change on, COMMIT; otherwise CONFLICT, and a file's local version
 * goes to PATH.conflict-<first 8 digits of session> instead of overwriting
 * the later write.  Pure.  0 or -ENOMEM.
 */
int mps3_journal_plan(struct mps3_journal_plan *out, json_t *records, mps3_journal_value_fn current,
		      void *ctx, const char *session);
/* The plan against the database's resolved state and session. */
int mps3_journal_recover(struct mps3_journal_plan *out, json_t *records, struct mps3_db *db);
void mps3_journal_plan_dispose(struct mps3_journal_plan *p);

#endif
