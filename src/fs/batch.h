/*
 * fs/batch.h - atomic batches (fs/batch.c): while a batch is open, every
 * change made on the mount is held back from the upload worker (journaled
 * as usual, marked as the batch's); its commit puts everything held, and
 * whatever else was pending, into one log entry, so that other mounts see
 * all of it or none of it; its abort puts the mount back as it was when
 * the batch began.  A daemon that crashes before the commit began discards
 * the batch at the next mount (mps3_journal_batch).  One batch at a time.
 *
 * Locks: the tree lock, taken inside; begin/commit/abort are called with
 * no lock held (commit waits for the upload).  Errors: 0 or a negative
 * errno: -EBUSY (another batch is open), -EINVAL (not the open batch),
 * -EFBIG (more than one log entry holds: the batch is aborted), or the
 * store's error.
 */
#ifndef MPS3FS_BATCH_H
#define MPS3FS_BATCH_H

#include <stdint.h>

#include <jansson.h>

struct mps3fs;

enum batch_state { BATCH_NONE, BATCH_OPEN, BATCH_COMMITTING };

int mps3fs_batch_begin(struct mps3fs *fs, uint64_t *id);
int mps3fs_batch_commit(struct mps3fs *fs, uint64_t id);
int mps3fs_batch_abort(struct mps3fs *fs, uint64_t id);
/* Tree lock held: whether a change of this generation is held back by an open batch. */
int mps3fs_batch_holds(struct mps3fs *fs, uint64_t gen);
/* Tree lock held: whether the next upload is a batch's commit (one entry, everything). */
int mps3fs_batch_committing(struct mps3fs *fs);
/* Tree lock held, by the upload worker: the commit is done with rc. */
void mps3fs_batch_done(struct mps3fs *fs, int rc);

#endif
