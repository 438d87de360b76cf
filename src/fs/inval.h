/*
 * fs/inval.h - kernel cache invalidations (fs/inval.c): collected under
 * the tree lock while the tree changes, sent after it is released, because
 * a notification may wait for the kernel, which may wait for a request
 * that needs the tree lock.  Any thread but a FUSE worker may send.
 */
#ifndef MPS3FS_INVAL_H
#define MPS3FS_INVAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct mps3fs;

struct inval {
	struct inval_item {
		uint64_t parent;
		char *name;		/* NULL: invalidate the inode (ino) */
		uint64_t ino;
	} *v;
	size_t n, cap;
};

/* Remember one invalidation (iv may be NULL: nothing to do).  Out of memory drops it. */
void mps3fs_inval_add(struct inval *iv, uint64_t parent, const char *name, uint64_t ino);
/* Send them all (no lock held). */
void mps3fs_inval_send(struct mps3fs *fs, struct inval *iv);
/* Drop the pages the kernel keeps of one inode (no lock held). */
void mps3fs_inval_inode(struct mps3fs *fs, uint64_t ino);
void mps3fs_inval_dispose(struct inval *iv);

/*
 * Apply the remote value of path (NULL: absent) to the tree and tell the
 * kernel, without an inotify event; a path with local changes not yet
 * committed keeps them.  No lock held.
 */
void mps3fs_apply_direct(struct mps3fs *fs, const char *path, json_t *value);
/* The same for path and everything under it, with the database's values.  No lock held. */
void mps3fs_resync_subtree(struct mps3fs *fs, const char *path);

#endif
