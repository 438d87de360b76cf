/*
 * fs/upload.h - the upload worker (fs/upload.c, waits in fs/upload_wait.c): it takes the paths marked
 * changed (fs/local.h) that are ready, uploads the blobs they name and
 * commits one log entry for all of them; and the waits of fsync(), close()
 * with -o sync, `mps3 sync` and unmount.
 *
 * A path the bucket cannot take - one the protocol forbids, content that
 * is missing or refused for good - is parked: it stays local, the rest keeps
 * uploading, one log line names it, /.mps3/status lists it, and a wait for
 * it ends with -EIO.  A change of the path unparks it.
 *
 * Threads: one worker plus short-lived blob upload threads.  The waits may
 * be called from any thread without the tree lock.  Errors: 0, -ETIMEDOUT,
 * -EIO (parked) or -EINTR.
 */
#ifndef MPS3FS_UPLOAD_H
#define MPS3FS_UPLOAD_H

#include <stdint.h>

#include <jansson.h>

struct mps3fs;
struct node;

int mps3fs_uploader_start(struct mps3fs *fs);
void mps3fs_uploader_stop(struct mps3fs *fs);

/* A mark: every change made so far has a generation no greater than it. */
uint64_t mps3fs_change_mark(struct mps3fs *fs);
/*
 * Wait (at most timeout_ms, -1 forever) until every change up to mark is
 * committed, but for files still being written (they commit at their close)
 * and parked paths (then -EIO once the others are in).
 */
int mps3fs_wait_mark(struct mps3fs *fs, uint64_t mark, int64_t timeout_ms);
/* The same for the changes of one node's path only (fsync of a file). */
int mps3fs_wait_node(struct mps3fs *fs, struct node *n, uint64_t mark, int64_t timeout_ms);
/* mps3fs_wait_mark() of everything so far. */
int mps3fs_wait_committed(struct mps3fs *fs, int64_t timeout_ms);

/*
 * Tree lock held: n is being closed (flush) with new content, and may stay
 * open for writing - a descriptor closed after dup2(), as every shell
 * redirection does before the command writes.  Its commit waits for the
 * last close, for at most MPS3FS_HOLD_MS (monotonic; a hold is never
 * renewed, so a writer that keeps flushing still publishes every second),
 * so that `echo x > f` is one change for everyone else, not an empty file
 * and then x.  Durability is not held: the change is in the journal
 * already.  A wait (fsync, sync, -o sync) voids every hold and waits for
 * held paths too; a rename carries a held node along at once.
 */
#define MPS3FS_HOLD_MS 1000
void mps3fs_hold(struct mps3fs *fs, struct node *n);
/* Tree lock held: n's last writer is gone; a hold on it ends now. */
void mps3fs_unhold(struct mps3fs *fs, struct node *n);

/* Tree lock held: wait for fs->tree_cond, at most ms. */
void mps3fs_timed_wait(struct mps3fs *fs, int64_t ms);
/* Tree lock held: whether path is parked at this generation (gen: its fs->dirty value). */
int mps3fs_stuck_at(struct mps3fs *fs, const char *path, json_t *gen);
/* Tree lock held: parked paths as {"path": "why"} (a new reference, for the status). */
json_t *mps3fs_stuck_paths(struct mps3fs *fs);

#endif
