/*
 * fs/fs.h - the mps3fs daemon's internal contract: the inode tree, the blob
 * cache, downloads, the upload queue and the FUSE operations.  Only src/fs/
 * includes fuse_lowlevel.h; everything above the FUSE layer here is plain
 * data and can be unit-tested without a mount.
 *
 * Lock order (never the other way): fs->tree_lock, then cache->lock, then
 * fetch locks.  No lock is held across store I/O or across a syscall into
 * the mount itself.
 */
#ifndef MPS3_FS_H
#define MPS3_FS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <jansson.h>

#include "mps3/db.h"
#include "mps3/entry.h"
#include "mps3/store.h"
#include "mps3/journal.h"

struct fuse_args;

#define MPS3FS_ROOT_INO 1
#define MPS3FS_CTL_INO 2		/* /.mps3 */
#define MPS3FS_STATUS_INO 3		/* /.mps3/status */
#define MPS3FS_FIRST_INO 16

/* ---- mount configuration ------------------------------------------------ */

struct mps3fs_config {
	const char *url;
	const char *mountpoint;
	const char *cache_dir;		/* private (0700) directory for blobs, staging, state */
	uint64_t cache_size;		/* bytes of blob cache before LRU eviction */
	int64_t poll_ms;
	int sync_close;			/* close() waits for the remote commit */
	int read_only;
	uid_t uid;			/* owner of entries that name none */
	gid_t gid;
	mode_t umask;
	int64_t drain_ms;		/* how long unmount waits for pending uploads */
	double timeout_s;		/* kernel attr/entry cache time */
	enum mps3fs_notify { NOTIFY_INOTIFY, NOTIFY_INVALIDATE, NOTIFY_OFF } notify;
	struct mps3_db_config db;
};

/* ---- inode tree ----------------------------------------------------------- */

struct stage;
struct notifier;
struct fetch;

/*
 * One file, directory or link.  A node is in the tree (parent != NULL, or
 * the root) or detached (unlinked or replaced while the kernel still knows
 * it); it is freed when the kernel forgets it and nothing has it open.
 * Every field is protected by fs->tree_lock.
 */
struct node {
	uint64_t ino;
	struct node *parent;
	char *name;
	struct node *hnext;		/* chain in the (parent, name) hash */
	struct node *inext;		/* chain in the ino hash */
	struct node *child, *prev, *next; /* children list of a directory (readdir order) */
	size_t nchildren;
	uint64_t nlookup;		/* kernel references */
	unsigned nopen;			/* open file handles */
	unsigned nwriters;		/* of which open for writing */
	char kept_blob[65];		/* content the kernel may still cache for this inode */
	json_t *entry;			/* explicit entry (NULL: implicit directory) */
	struct mps3_entry e;		/* entry parsed (borrows from it) */
	int is_dir;			/* shown as a directory (explicit, or has children) */
	int64_t ctime_ns;
	struct stage *stage;		/* local content being written, or NULL */
	uint64_t change_gen;		/* bumped at every local change of this node */
	int in_tree;
};

/* Local content of a file being written: a staging file, shared by every writer. */
struct stage {
	int fd;
	char path[512];
	uint64_t size;
	int dirty;			/* written since the last snapshot into the cache */
	uint64_t wgen;			/* bumped by every write or truncate */
	int64_t mtime_ns;		/* of the last write */
};

struct tree {
	struct node *root;
	struct node **byname;		/* hash of (parent ino, name) */
	size_t nbyname_buckets;
	struct node **byino;
	size_t nbyino_buckets;
	size_t nnodes;
	uint64_t next_ino;
};

/* ---- blob cache ------------------------------------------------------------ */

struct cache_ent;

struct cache {
	char *dir;			/* cache_dir/blobs */
	int dirfd;			/* for fsync of new names */
	uint64_t limit, used;		/* protected by lock */
	pthread_mutex_t lock;
	struct cache_ent **hash;	/* by sha; protected by lock */
	size_t nbuckets;
	struct cache_ent *lru_head, *lru_tail; /* protected by lock */
	size_t count;
};

int mps3fs_cache_init(struct cache *c, const char *dir, uint64_t limit);
void mps3fs_cache_dispose(struct cache *c);
/* Open the cached blob for reading; -ENOENT if not cached.  Counts as use. */
int mps3fs_cache_open(struct cache *c, const char *sha);
/* Path of a blob in the cache (which may not exist yet). */
void mps3fs_cache_path(struct cache *c, const char *sha, char *out, size_t n);
/* Record a blob just moved into the cache dir; pinned if pin. */
void mps3fs_cache_added(struct cache *c, const char *sha, uint64_t size, int pin);
void mps3fs_cache_pin(struct cache *c, const char *sha);
void mps3fs_cache_unpin(struct cache *c, const char *sha);
int mps3fs_cache_has(struct cache *c, const char *sha);
/* Size of a cached blob, 0 if not cached. */
uint64_t mps3fs_cache_size_of(struct cache *c, const char *sha);
/* Evict least recently used unpinned blobs until under the limit. */
void mps3fs_cache_trim(struct cache *c);

/* ---- the file system ---------------------------------------------------------- */

struct mps3fs {
	struct mps3fs_config cfg;
	struct mps3_store *store;
	struct mps3_db *db;
	struct cache cache;
	void *session;			/* struct fuse_session * */
	char *staging_dir;
	char *state_file;

	pthread_mutex_t tree_lock;
	pthread_cond_t tree_cond;	/* upload progress; with tree_lock */
	struct tree tree;		/* protected by tree_lock */
	json_t *dirty;			/* path -> generation, paths to sync; protected by tree_lock */
	json_t *pinned;			/* sha -> true: local blobs pinned until committed; tree_lock */
	uint64_t dirty_gen;		/* protected by tree_lock */
	uint64_t committed_gen;		/* every change up to here is committed; protected by tree_lock */
	uint64_t pending_bytes;		/* protected by tree_lock */
	int uploader_stop;		/* protected by tree_lock */
	int online;			/* protected by tree_lock */
	char last_error[512];		/* protected by tree_lock */
	int64_t last_commit_ms;		/* protected by tree_lock */
	uint64_t commits, commit_failures; /* protected by tree_lock */

	pthread_t uploader;
	int uploader_started;
	struct mps3_poller *poller;	/* set while mounted */

	struct fetch *fetch;		/* downloads in progress */
	struct notifier *notifier;	/* replay of remote changes (notify=inotify) */
	int replay_tid;			/* its thread id (atomic): its requests apply remote state */
	json_t *replay_expect;		/* path -> value the replay wants there; tree_lock */
	struct mps3_journal journal;	/* local changes not yet in the bucket */
	int journal_open;
	uid_t mount_uid;
	gid_t mount_gid;
};

/* tree.c */
int mps3fs_tree_init(struct mps3fs *fs);
void mps3fs_tree_dispose(struct mps3fs *fs);
struct node *mps3fs_node_get(struct mps3fs *fs, uint64_t ino);
struct node *mps3fs_child(struct mps3fs *fs, struct node *dir, const char *name);
/* Full path of a node in the tree ("" for the root).  malloc'd or NULL. */
char *mps3fs_node_path(struct node *n);
/* Node at path, or NULL. */
struct node *mps3fs_lookup_path(struct mps3fs *fs, const char *path);
void mps3fs_node_stat(struct mps3fs *fs, struct node *n, struct stat *st);
/* New node under dir with an entry (reference taken); NULL on ENOMEM. */
struct node *mps3fs_node_new(struct mps3fs *fs, struct node *dir, const char *name, json_t *entry);
/* Replace a node's entry (reference taken; NULL = none). */
void mps3fs_node_set_entry(struct node *n, json_t *entry);
/* Take a node out of the tree (it stays alive while referenced). */
void mps3fs_node_detach(struct mps3fs *fs, struct node *n);
/* Move n to dir/name (both must be free of a node of that name). */
int mps3fs_node_move(struct mps3fs *fs, struct node *n, struct node *dir, const char *name);
/* Free n if it is detached and unreferenced. */
void mps3fs_node_maybe_free(struct mps3fs *fs, struct node *n);
/* Remove implicit directories left without children, from n upwards. */
void mps3fs_prune_implicit(struct mps3fs *fs, struct node *n);
/* Call fn for every node under n (depth first, n included). */
void mps3fs_walk(struct node *n, void (*fn)(struct node *, void *), void *ctx);

/*
 * Apply a resolved value (may be NULL) at path to the tree: create nodes and
 * implicit parents, update, or remove.  Collects kernel invalidations in inv
 * (may be NULL).  Returns 1 if the tree changed.
 */
struct inval;
int mps3fs_tree_apply(struct mps3fs *fs, const char *path, json_t *value, struct inval *inv);

/* Kernel invalidations collected under the tree lock, sent after it. */
struct inval {
	struct inval_item {
		uint64_t parent;
		char *name;		/* NULL: invalidate the inode (ino) */
		uint64_t ino;
	} *v;
	size_t n, cap;
};
void mps3fs_inval_add(struct inval *iv, uint64_t parent, const char *name, uint64_t ino);
void mps3fs_inval_send(struct mps3fs *fs, struct inval *iv);
void mps3fs_inval_dispose(struct inval *iv);

/* upload.c */
/*
 * Mark a path as changed locally (tree lock held): queued for upload and
 * recorded in the journal (durable at the next mps3_journal_sync()).
 */
void mps3fs_dirty(struct mps3fs *fs, const char *path);
/* Mark every path of n's subtree (tree lock held). */
void mps3fs_dirty_subtree(struct mps3fs *fs, struct node *n);
int mps3fs_uploader_start(struct mps3fs *fs);
/* Wait until every change made so far is committed, or timeout_ms passes (-1 forever). */
int mps3fs_wait_committed(struct mps3fs *fs, int64_t timeout_ms);
/* The same in two steps: mark now, wait for everything up to the mark later. */
uint64_t mps3fs_change_mark(struct mps3fs *fs);
int mps3fs_wait_mark(struct mps3fs *fs, uint64_t mark, int64_t timeout_ms);
void mps3fs_uploader_stop(struct mps3fs *fs);

/* fetch.c: content of blobs not (yet) in the cache */
int mps3fs_fetch_init(struct mps3fs *fs);
void mps3fs_fetch_dispose(struct mps3fs *fs);
/*
 * Read size bytes at off of blob sha (of total size blob_size) into buf,
 * downloading only the chunks needed (plus read-ahead when seq is set).
 * Returns bytes read or a negative errno.
 */
ssize_t mps3fs_fetch_read(struct mps3fs *fs, const char *sha, uint64_t blob_size, char *buf,
			  size_t size, uint64_t off, int seq);
/* Download a whole blob into the cache (verified).  0 or a negative errno. */
int mps3fs_fetch_whole(struct mps3fs *fs, const char *sha, uint64_t blob_size);

/* ops.c */
struct fuse_lowlevel_ops;
extern const struct fuse_lowlevel_ops mps3fs_ops;
/* Remote changes from the database, applied to the tree (db listener). */
void mps3fs_on_changes(void *ctx, const struct mps3_changes *changes, int local);

/* notify.c */
int mps3fs_notify_start(struct mps3fs *fs);
void mps3fs_notify_stop(struct mps3fs *fs);
/* Plan and queue the replay of remote changes (no lock held). */
void mps3fs_notify_changes(struct mps3fs *fs, const struct mps3_changes *ch);
int mps3fs_notify_idle(struct mps3fs *fs);
/* Apply the database's values for path and everything under it (no lock held). */
void mps3fs_resync_subtree(struct mps3fs *fs, const char *path);

/* control.c */
/* The text of /.mps3/status (malloc'd). */
char *mps3fs_status_text(struct mps3fs *fs, size_t *len);

/* Replay the journal of an earlier run into the tree (before mounting). */
int mps3fs_journal_recover(struct mps3fs *fs, json_t *records);

/* mount.c */
/*
 * Resolve the database, mount it, serve until unmounted, drain uploads.
 * The store is borrowed.  Returns the process exit status.
 */
int mps3fs_run(const struct mps3fs_config *cfg, struct mps3_store *store, struct fuse_args *args,
	       int foreground);

int64_t mps3fs_now_ns(void);

#endif
