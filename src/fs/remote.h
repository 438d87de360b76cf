/*
 * fs/remote.h - other clients' changes arriving from the database
 * (fs/remote.c): the database listener, called from the poller thread
 * with the database's deliver lock held.  Our own commits are ignored (the
 * tree has them); a path with local changes not yet committed keeps them
 * (they win when they land).  With notify=inotify the changes go to the
 * replay thread; otherwise they are applied to the tree directly and the
 * kernel's caches invalidated (notify=invalidate) or not (off).  The only
 * caller of fs/replay.c's queue.  It cannot fail: a change it has no memory
 * for reaches the tree at the next change of the path.
 */
#ifndef MPS3FS_REMOTE_H
#define MPS3FS_REMOTE_H

struct mps3_changes;

/* The database listener (mps3_db_set_listener); ctx is the struct mps3fs. */
void mps3fs_on_changes(void *ctx, const struct mps3_changes *changes, int local);

#endif
