/*
 * fs/fs.h - the mps3fs daemon's shared state and its rules.  Each module
 * of src/fs has a header of its own (tree, cache, fetch, stage, upload,
 * inval, replay, remote, control, ops, mount) that states its contract;
 * this one holds the struct they all see and the lock order.
 *
 * Only src/fs includes fuse_lowlevel.h, and of src/fs only the ops_*.c,
 * inval.c, replay.c and mount.c files; tree, cache, stage, upload and
 * replay_plan are plain C over the database.
 *
 * THREADS.  FUSE workers (fuse_session_loop_mt) run the ops_*.c handlers;
 * the poller (mps3/poller.h) delivers remote changes through the database
 * listener into fs/remote.c; the upload worker (fs/upload.c) commits local
 * changes; the replay thread (fs/replay.c) turns remote changes into
 * syscalls on the mount so that watchers get events; download workers
 * (fs/fetch.c) fetch content.
 *
 * LOCK ORDER (a thread holding one may take only those after it):
 *   db->poll_lock, db->deliver   (inside the database; the listener, and so
 *                                 fs/remote.c, runs with deliver held)
 *   fs->tree_lock
 *   db->lock, cache->lock, journal->lock   (leaves, never nested)
 * fetch->lock and the replay queue's lock are leaves taken with no other
 * lock held.  The branches' open lock (fs/branches.h) is taken with no
 * other lock held and held across the store I/O of opening a branch; each
 * branch's instance has locks of its own, in this order, never nested with
 * another instance's.  No lock is held across store I/O, and none across a syscall
 * into the mount itself (the replay thread makes those with no lock).
 *
 * ERRORS.  Functions return 0 or a negative errno; handlers reply with it.
 * The layer that decides what to do with a failure logs it, once.
 */
#ifndef MPS3FS_FS_H
#define MPS3FS_FS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "mps3/db.h"
#include "mps3/journal.h"
#include "mps3/store.h"
#include "cache.h"
#include "tree.h"

#define MPS3FS_ROOT_INO 1
#define MPS3FS_CTL_INO 2		/* /.mps3 */
#define MPS3FS_STATUS_INO 3		/* /.mps3/status */
#define MPS3FS_AT_INO 4			/* /.mps3/at: views of past times */
#define MPS3FS_SNAPS_INO 5		/* /.mps3/snapshots */
#define MPS3FS_BATCH_INO 6		/* /.mps3/batch: write begin, commit or abort (fs/batch.h) */
#define MPS3FS_BRANCHES_INO 7		/* /.mps3/branches: the branches (fs/branches.h) */
#define MPS3FS_STATUS_JSON_INO 8	/* /.mps3/status.json */
#define MPS3FS_FIRST_INO 16

/* The mount's configuration: set before mounting, read-only after. */
struct mps3fs_config {
	const char *url;
	const char *mountpoint;
	const char *cache_dir;		/* private (0700) directory for blobs, staging, state */
	uint64_t cache_size;		/* bytes of blob cache before LRU eviction */
	int64_t poll_ms;
	int sync_close;			/* close() waits for the remote commit */
	int read_only;
	uid_t uid;			/* owner shown (of every entry unless trust_owners) */
	gid_t gid;
	int trust_owners;		/* show the uid/gid an entry records */
	int force_uid, force_gid;	/* uid=, gid=: shown for every entry, trust_owners or not */
	int suid;			/* show set-id and sticky bits an entry records */
	mode_t umask;			/* default_umask=: the permissions of entries that record none */
	mode_t mask;			/* umask=: taken from every entry's permissions shown (0: none) */
	int64_t drain_ms;		/* how long unmount waits for pending uploads */
	int64_t mount_timeout_ms;	/* deadline of the store requests at mount; 0 = none */
	const char *validate;		/* program that accepts or refuses each local change (fs/hook.h) */
	int64_t validate_timeout_ms;
	double timeout_s;		/* kernel attr/entry cache time */
	/* The FUSE loop: -s; -o clone_fd, max_idle_threads= (0: 10), max_threads= (0: libfuse's). */
	int singlethread, clone_fd;
	unsigned max_idle_threads, max_threads;
	/* Called once the database is open, before mounting (the front end's progress line ends there). */
	void (*opened)(void *ctx);
	void *opened_ctx;
	enum mps3fs_notify { NOTIFY_INOTIFY, NOTIFY_INVALIDATE, NOTIFY_OFF } notify;
	struct mps3_db_config db;
};

struct fetch;
struct replayer;
struct views;
struct branch_set;
struct mps3_poller;

struct mps3fs {
	struct mps3fs_config cfg;	/* read-only after mount */
	/*
	 * A mount serves its main line and, below /.mps3/branches/, the branches
	 * opened in it (fs/branches.h): one struct mps3fs each, with a database,
	 * tree, journal and threads of its own.  Their inodes are disjoint: this
	 * instance's are ino_base | n.  All read-only after the instance opens.
	 */
	uint64_t ino_base;		/* 0 for the main line */
	uint64_t root_ino;		/* ino_base | MPS3FS_ROOT_INO */
	struct mps3fs *main;		/* the instance the session serves (itself for the main line) */
	struct branch_set *branches;	/* main line only: the branches opened (fs/branches.h); own lock */
	const char *branch_name;	/* a branch's instance: its name (NULL for the main line) */
	struct mps3_store *store;	/* borrowed; thread-safe */
	struct mps3_db *db;		/* thread-safe */
	struct cache cache;		/* own lock */
	void *session;			/* struct fuse_session *; set before the threads start */
	char *staging_dir;		/* read-only after mount */
	char *state_file;		/* read-only after mount */

	pthread_mutex_t tree_lock;
	pthread_cond_t tree_cond;	/* upload progress; with tree_lock */
	struct tree tree;		/* protected by tree_lock */
	json_t *dirty;			/* path -> generation, paths to sync; protected by tree_lock */
	json_t *stuck;			/* path -> {gen, why}: parked at that generation; tree_lock */
	json_t *pinned;			/* sha -> true: local blobs pinned until committed; tree_lock */
	json_t *sent;			/* sha -> mono ms its upload began (fs/upload.c); the uploader's only */
	uint64_t dirty_gen;		/* protected by tree_lock */
	int dirty_lost;			/* a change could not be marked dirty (ENOMEM): atomic, sticky */
	uint64_t hold_epoch;		/* bumped by a sync: node holds of before are void; tree_lock */
	int uploader_stop;		/* protected by tree_lock */
	int online;			/* protected by tree_lock */
	char last_error[512];		/* protected by tree_lock */
	int64_t last_commit_ms;		/* protected by tree_lock */
	uint64_t commits, commit_failures; /* protected by tree_lock */
	uint64_t hashed_ahead;		/* files whose hash was made while they were written; tree_lock */
	json_t *replay_expect;		/* path -> value the replay wants there; tree_lock */
	int batch_state;		/* enum batch_state (fs/batch.h); tree_lock */
	uint64_t batch_id, batch_gen;	/* the open batch, and dirty_gen when it began; tree_lock */
	json_t *batch_base;		/* path -> value pending when it began; tree_lock */
	int batch_rc;			/* how the last commit went; tree_lock */
	uint64_t batch_done;		/* commits done (the committer waits for it to move); tree_lock */

	pthread_t uploader;
	int uploader_started;		/* main thread only */
	struct mps3_poller *poller;	/* set while mounted; thread-safe */
	struct fetch *fetch;		/* downloads in progress; own lock */
	struct views *views;		/* past states as directories (fs/view.h); own lock */
	struct replayer *replayer;	/* replay of remote changes (notify=inotify); own lock */
	int replay_tid;			/* its thread id (atomic): its requests apply remote state */
	struct mps3_journal journal;	/* local changes not yet in the bucket; own lock */
	int journal_open;		/* read-only after mount */
};

int64_t mps3fs_now_ns(void);

#endif
