/*
 * mps3/history.h - time travel over a database's log: the files map as it
 * was at any time the bucket still keeps (docs/PROTOCOL.md, H1-H3), named
 * snapshots, the changes that touched a path, and restoring paths to what
 * they were.  History is never rewritten: a restore is one new log entry.
 *
 * Times are the store's, in milliseconds since the epoch, as log entries
 * carry them.  Thread safety as mps3/db.h: any thread, any time; results
 * are new references the caller owns.  Errors: 0 or a negative errno with
 * a detail (mps3/error.h); -ENOENT for a time older than the history the
 * bucket keeps, or a snapshot that does not exist.
 */
#ifndef MPS3_HISTORY_H
#define MPS3_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mps3/db.h"

/*
 * The files map as it was at time t: the newest valid checkpoint not
 * after t, and every accepted log entry from its window up to t, in order
 * (R1 applied to the log as it stood at t).  *files gets a new reference.
 * -ENOENT if t is older than the history kept (gc's record says from when),
 * -EINVAL if t is later than the store's now.
 */
int mps3_db_state_at(struct mps3_db *db, int64_t t, json_t **files);
/*
 * The checkpoints read for views of the past are kept (two, shared with
 * the views built from them) so that the next view from the same one does
 * not parse it again.  Let go of all but the newest: for when no view of
 * the past is left.  Any thread.
 */
void mps3_db_forget_past(struct mps3_db *db);

/* The time from which past states are complete (INT64_MIN: all of them). */
int mps3_db_history_start(struct mps3_db *db, int64_t *from);

/* ---- named snapshots: snapshot/<name>, every mount sees them, gc keeps what they name ---- */

#define MPS3_SNAPSHOT_NAME_MAX 128

/* Letters, digits, '.', '_', '-'; not starting with '.'; at most MPS3_SNAPSHOT_NAME_MAX bytes. */
int mps3_snapshot_name_check(const char *name);

/* Snapshot the state at t (0: the current state) as name.  -EEXIST if it exists. */
int mps3_db_snapshot_create(struct mps3_db *db, const char *name, int64_t t);
/* Its files map and time.  -ENOENT if there is none. */
int mps3_db_snapshot_get(struct mps3_db *db, const char *name, json_t **files, int64_t *t);
int mps3_db_snapshot_delete(struct mps3_db *db, const char *name);

struct mps3_snapshot_info {
	const char *name;
	int64_t t;			/* the time it shows */
	size_t paths;
	struct mps3_objinfo info;	/* of its object */
};
typedef int (*mps3_db_snapshot_fn)(void *ctx, const struct mps3_snapshot_info *s);
/* Every snapshot, by name; a callback's non-zero return stops the walk and is returned. */
int mps3_db_snapshot_list(struct mps3_db *db, mps3_db_snapshot_fn fn, void *ctx);

/* ---- what happened to a path ---------------------------------------------------- */

/* Kinds of change, as `mps3 log PATH` words them. */
enum mps3_op {
	MPS3_OP_PUT,		/* a file's content (or a file made) */
	MPS3_OP_RM,
	MPS3_OP_MV,		/* the same value gone from path, come at to */
	MPS3_OP_MKDIR,
	MPS3_OP_LINK,		/* a symbolic link made or retargeted */
	MPS3_OP_MKNOD,		/* a FIFO, socket or device */
	MPS3_OP_CHMOD,
	MPS3_OP_CHOWN,
	MPS3_OP_TOUCH,		/* times only */
	MPS3_OP_XATTR,
	MPS3_OP_TYPE,		/* another kind of thing at the path */
};
const char *mps3_op_name(enum mps3_op op);

/* One path changed by one log entry (all borrowed for the callback's duration). */
struct mps3_history_item {
	struct mps3_logkey key;		/* the entry */
	const char *name;		/* its object name under log/ */
	size_t entry_paths;		/* how many paths the entry changed in all */
	enum mps3_op op;
	const char *path;
	const char *to;			/* MPS3_OP_MV: where it went */
	json_t *old, *new;		/* values before and after (NULL: none) */
};
typedef int (*mps3_db_history_fn)(void *ctx, const struct mps3_history_item *it);

/*
 * Every change to prefix or anything under it ("" for everything) that the
 * bucket still holds, oldest first.  Renames within one entry are one
 * MPS3_OP_MV item at the source.  A callback's non-zero return stops the
 * walk and is returned.
 */
int mps3_db_history(struct mps3_db *db, const char *prefix, mps3_db_history_fn fn, void *ctx);

/* What changed from old to new, for one path (both may be NULL). */
enum mps3_op mps3_op_classify(json_t *old, json_t *new);

/*
 * Make paths (each a path or a directory, recursively) what they were at
 * time t, in one new log entry: what was there comes back, what was made
 * since goes.  *changed (may be NULL) gets the number of paths the entry
 * changes (0: they already were; nothing is committed).  key (may be NULL)
 * gets the entry's name.
 */
int mps3_db_restore(struct mps3_db *db, int64_t t, const char *const *paths, size_t n, size_t *changed,
		    struct mps3_logkey *key);

/*
 * The patch that turns files map cur into old at every path under one of
 * paths (borrowed inputs; a new reference, empty when nothing differs).
 * Pure; mps3_db_restore commits it.
 */
json_t *mps3_restore_patch(json_t *cur, json_t *old, const char *const *paths, size_t n);

/* ---- branches: branch/<name>/, a line of changes of its own over a base ---------- */

/*
 * Start branch name from the main line's state at t (0: now): its base
 * (branch/NAME/base, a checkpoint document) is that state; writes to it
 * (mps3_db_config.branch = name) go to its own log and leave the main line
 * alone.  -EEXIST if it exists.  db is the main line.
 */
int mps3_db_branch_create(struct mps3_db *db, const char *name, int64_t t);
int mps3_db_branch_delete(struct mps3_db *db, const char *name);

typedef int (*mps3_db_branch_fn)(void *ctx, const char *name, int64_t base_t);
int mps3_db_branch_list(struct mps3_db *db, mps3_db_branch_fn fn, void *ctx);

/*
 * What branch name changed since its base: a patch over the files map
 * (new reference; each path's value as the branch has it, or null).
 */
int mps3_db_branch_diff(struct mps3_db *db, const char *name, json_t **patch);
/* Branch name's files map as it is now (new reference); -ENOENT if there is no such branch. */
int mps3_db_branch_files(struct mps3_db *db, const char *name, json_t **files);

/*
 * Apply branch name's change to the main line as one log entry.  If the
 * main line changed since the base a path the branch changed too (to
 * something else), nothing is committed: -EEXIST, and *conflicts (may be
 * NULL) gets those paths (an array, new reference).  rebase: the branch's
 * base then moves to the main line as it is after the commit, so that the
 * branch goes on from there.  *changed: the paths committed.
 */
int mps3_db_branch_commit(struct mps3_db *db, const char *name, int rebase, json_t **conflicts, size_t *changed,
			  struct mps3_logkey *key);

#endif
