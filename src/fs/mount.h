/*
 * fs/mount.h - the daemon's life (fs/mount.c): resolve the database, build
 * the tree, recover the journal, mount, daemonise, serve until unmounted,
 * and drain what is pending within a bounded time.  Called once, from
 * main, before any other thread exists.  Errors are logged here, once; the
 * caller gets only the exit status.
 */
#ifndef MPS3FS_MOUNT_H
#define MPS3FS_MOUNT_H

struct fuse_args;
struct mps3fs_config;
struct mps3_store;

/* The store is borrowed.  Returns the process exit status. */
int mps3fs_run(const struct mps3fs_config *cfg, struct mps3_store *store, struct fuse_args *args,
	       int foreground);

#endif
