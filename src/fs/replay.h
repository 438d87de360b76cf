/*
 * fs/replay.h - remote changes as real inotify events (fs/replay.c).
 *
 * The kernel produces no inotify event for fuse_lowlevel_notify_inval_*,
 * only for operations that go through the VFS.  So with notify=inotify the
 * daemon replays each remote change through its own mount: a replay thread
 * creates, truncates, renames, removes and touches paths under the mount
 * point, and the FUSE handlers recognise its requests (by the caller's
 * thread id) and call the hooks below, which apply the remote value
 * recorded for the path instead of treating them as local writes: nothing
 * is uploaded.
 *
 * Threads and locks: mps3fs_replay_queue() is called from the listener
 * (fs/remote.c) and never blocks on the mount; the replay thread takes
 * batches in order and makes each syscall with no lock held.  The hooks
 * are called by FUSE workers with fs->tree_lock held, and return 0 or a
 * negative errno for the handler to reply with.
 */
#ifndef MPS3FS_REPLAY_H
#define MPS3FS_REPLAY_H

#include <sys/types.h>

#include <jansson.h>

struct mps3fs;
struct node;
struct mps3_changes;

int mps3fs_replay_start(struct mps3fs *fs);
void mps3fs_replay_stop(struct mps3fs *fs);
/* Plan and queue the replay of remote changes (no lock held). */
void mps3fs_replay_queue(struct mps3fs *fs, const struct mps3_changes *ch);
/* Nothing queued and nothing being replayed. */
int mps3fs_replay_idle(struct mps3fs *fs);

/* Whether the request of a caller with this thread id comes from the replay thread. */
int mps3fs_replay_is(struct mps3fs *fs, pid_t caller);

/* ---- hooks: tree lock held ------------------------------------------------ */

/* create(2) of a remote file at dir/name: a node with its remote entry, nothing to stage. */
int mps3fs_replay_create(struct mps3fs *fs, struct node *dir, const char *name, struct node **out);
/* mkdir(2)/symlink(2) of remote state: the remote value, or entry (consumed) without one. */
int mps3fs_replay_mknode(struct mps3fs *fs, struct node *dir, const char *name, json_t *entry,
			 struct node **out);
/* unlink(2)/rmdir(2) of a remote removal: the node goes, implicit parents as the keys say. */
int mps3fs_replay_remove(struct mps3fs *fs, struct node *dir, struct node *n);
/* rename(2) of a remote move: dst (may be NULL) is replaced, src takes the remote entry. */
int mps3fs_replay_rename(struct mps3fs *fs, struct node *sdir, struct node *src, struct node *ddir,
			 struct node *dst, const char *newname);
/* setattr of remote content or attributes: the node takes its remote entry whole. */
void mps3fs_replay_setattr(struct mps3fs *fs, struct node *n);

#endif
