/*
 * fs/local.h - local changes (fs/local.c): marking a path changed, the
 * entries and patches of local operations, durability in the journal, and
 * the replay of an earlier run's journal.
 *
 * Locks: functions marked "tree lock held" are called with fs->tree_lock
 * held and do no I/O but journal appends (a local file; the journal's lock
 * is a leaf).  Errors: 0 or a negative errno with an mps3_error_set()
 * detail.
 */
#ifndef MPS3FS_LOCAL_H
#define MPS3FS_LOCAL_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "mps3/entry.h"

struct mps3fs;
struct node;

/*
 * Tree lock held: mark a path as changed locally, after the tree changed:
 * queued for upload and recorded in the journal with the value the path
 * holds now (durable at the next mps3fs_durable()).  An append that fails
 * leaves the journal incomplete; mps3fs_durable() reports it.
 */
void mps3fs_dirty(struct mps3fs *fs, const char *path);
/* Tree lock held: mark every path of n's subtree. */
void mps3fs_dirty_subtree(struct mps3fs *fs, struct node *n);
/*
 * Tree lock held: the paths of n's subtree now (a JSON array, new
 * reference), to mark once a move or removal has happened: the journal
 * must record what the old paths hold after it, not before.
 */
json_t *mps3fs_subtree_paths(struct node *n);
void mps3fs_dirty_paths(struct mps3fs *fs, json_t *paths);
/* Tree lock held: the bytes of local content not in the bucket yet (pinned in the cache). */
uint64_t mps3fs_pending_bytes(struct mps3fs *fs);
/* Tree lock held: whether path has local changes not yet committed. */
int mps3fs_is_dirty(struct mps3fs *fs, const char *path);

/* A new entry value for a path (the uploader turns it into a replacing patch).  NULL on ENOMEM. */
json_t *mps3fs_entry_new(struct mps3fs *fs, enum mps3_ftype type, mode_t mode, const uid_t *uid,
			 const gid_t *gid, const char *blob, uint64_t size, const char *target);
/*
 * Tree lock held: the node's entry with a merge patch applied (a new
 * object, never a change in place: the uploader and the database share the
 * old one); implicit directories become explicit.  Marks the path dirty.
 */
int mps3fs_node_modify(struct mps3fs *fs, struct node *n, json_t *patch);
/*
 * Tree lock held: a directory that exists only because of keys under it
 * would vanish with its last child; make it explicit instead, as a local
 * file system would keep it.
 */
void mps3fs_keep_parent(struct mps3fs *fs, struct node *dir);

/*
 * Every local change so far durable in the journal (one fsync for all
 * callers).  If an append failed, the journal is rewritten whole first;
 * the error comes back while that is impossible (ENOSPC, EIO).
 */
int mps3fs_durable(struct mps3fs *fs);
/*
 * If an append failed, make room on the disk and rewrite the journal
 * whole, so that appends work again.  Takes the tree lock.  0 (whole, or
 * no journal) or the error that keeps it from being whole.
 */
int mps3fs_journal_mend(struct mps3fs *fs);

/* Replay the journal of an earlier run into the tree (before mounting). */
int mps3fs_journal_recover(struct mps3fs *fs, json_t *records);

#endif
