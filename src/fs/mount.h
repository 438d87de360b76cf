/*
 * fs/mount.h - the daemon's life (fs/mount.c): resolve the database, build
 * the tree, recover the journal, mount, daemonise, serve until unmounted,
 * and drain what is pending within a bounded time.  mps3fs_run is called
 * once, from main, before any other thread exists; the instance steps are
 * also how fs/branches.c opens a branch in a running mount.  Errors are
 * logged here, once; mps3fs_run's caller gets only the exit status.
 */
#ifndef MPS3FS_MOUNT_H
#define MPS3FS_MOUNT_H

struct fuse_args;
struct mps3fs_config;
struct mps3_store;

struct mps3fs;

/* The store is borrowed.  Returns the process exit status. */
int mps3fs_run(const struct mps3fs_config *cfg, struct mps3_store *store, struct fuse_args *args,
	       int foreground);

/*
 * One instance (the main line, or a branch opened in a mount: fs/branches.h),
 * in four steps: new (a copy of cfg; main NULL for the main line), open (the
 * cache directory, the journal, the database and the tree; errors logged),
 * start (the threads: fetch, upload, replay, poller), stop (drain what is
 * pending within drain_ms, stop the threads) and free.  Set ino_base and
 * root_ino between new and open.
 */
struct mps3fs *mps3fs_instance_new(const struct mps3fs_config *cfg, struct mps3_store *store, struct mps3fs *main);
int mps3fs_instance_open(struct mps3fs *fs);
int mps3fs_instance_start(struct mps3fs *fs);
void mps3fs_instance_stop(struct mps3fs *fs);
void mps3fs_instance_free(struct mps3fs *fs);

#endif
