/*
 * fs/replay_plan.h - which syscalls reproduce a batch of remote changes
 * on the mount (fs/replay_plan.c).  Pure: no tree, no locks, no FUSE; the
 * replay thread (fs/replay.c) carries the plan out.
 *
 * A rename is recognised as the same value gone from one path and come at
 * another; a directory rename as a whole subtree of those, renamed once at
 * its outermost directory.  Everything else is one operation per path.
 * Order: removals of paths that are made again as another kind, directories
 * made (shallow first), renames, creations and changes, then the other
 * removals (deep first).
 */
#ifndef MPS3FS_REPLAY_PLAN_H
#define MPS3FS_REPLAY_PLAN_H

#include <stddef.h>

#include <jansson.h>

#include "mps3/manifest.h"

enum rkind { R_MKDIR, R_RENAME, R_CREATE, R_SYMLINK, R_MKNOD, R_CONTENT, R_ATTR, R_DELETE, R_RMDIR };

struct rop {
	enum rkind kind;
	char *path;
	char *to;		/* renames */
	json_t *value;		/* remote value of path (of `to` for renames); NULL: implicit dir */
	int depth;
	int replace;		/* a removal of a path made again as something else */
	size_t index;		/* order of planning, for ties */
};

struct rbatch {
	struct rop *v;
	size_t n, cap;
	struct rbatch *next;	/* the replay queue's link */
};

/* The operations that replay ch, in order.  NULL on ENOMEM. */
struct rbatch *mps3fs_replay_plan(const struct mps3_changes *ch);
void mps3fs_rbatch_free(struct rbatch *b);

#endif
