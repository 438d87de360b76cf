/*
 * fs/branches.h - the branches inside a mount (fs/branches.c).
 * MNT/.mps3/branches/NAME/ is branch NAME (mps3/history.h): writable,
 * watched and journaled as if it were mounted with -o branch=NAME, served
 * by this mount.  Each branch opened has an instance of its own (a struct
 * mps3fs with its database, tree, journal, blob cache and threads: see
 * fs/mount.h), opened at its first lookup and kept until unmount, with its
 * cache directory at CACHE_DIR/branches/NAME.
 *
 * Inodes say whose they are: a branch's are BRANCH_INO_FLAG | k << 40 | n
 * (k = 1.. its slot), the main line's and the views' (fs/view.h) have no
 * such bit, and mps3fs_route() finds the instance of any inode without a
 * lock (a slot, once filled, stays filled until the session ends).  A
 * rename between instances is EXDEV (mv copies).
 *
 * At mount, every branch whose journal still holds changes is opened in the
 * background, so that they reach the bucket even if nobody looks at it.
 *
 * Threads: FUSE workers open branches, one at a time (the open lock is held
 * across the store I/O of opening one, and no other lock is held with it).
 * Errors: 0 or a negative errno.
 */
#ifndef MPS3FS_BRANCHES_H
#define MPS3FS_BRANCHES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct mps3fs;

#define BRANCH_INO_FLAG ((uint64_t)1 << 60)
#define BRANCH_INO_SHIFT 40
#define MPS3FS_MAX_BRANCHES 256		/* open in one mount at a time */

/* The set, and the background opening of branches with pending journals (main line only). */
int mps3fs_branches_init(struct mps3fs *fs);
/* Every branch's threads stopped, what each has pending drained within drain_ms or left in its journal. */
void mps3fs_branches_stop(struct mps3fs *fs);
void mps3fs_branches_free(struct mps3fs *fs);

/* The instance inode ino belongs to: fs itself unless ino is a branch's. */
struct mps3fs *mps3fs_route(struct mps3fs *fs, uint64_t ino);

/*
 * The root of branch name, opened if needed: its inode and attributes, one
 * lookup taken.  -ENOENT (no such branch), -EMFILE (too many open), or the
 * store's error.
 */
int mps3fs_branch_open_root(struct mps3fs *fs, const char *name, uint64_t *ino, struct stat *st);

/* The i-th branch open (i from 0), or NULL past the last. */
struct mps3fs *mps3fs_branch_at(struct mps3fs *fs, size_t i);

#endif
