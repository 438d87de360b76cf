/*
 * fs/inval.h - telling the kernel (fs/inval.c): the invalidations the tree
 * collected (struct inval, fs/tree.h), sent once the tree lock is
 * released, and remote values applied with invalidation but without an
 * inotify event.  Any thread but a FUSE worker may call these.
 */
#ifndef MPS3FS_INVAL_H
#define MPS3FS_INVAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct mps3fs;
struct inval;

/* Send the invalidations collected (no lock held). */
void mps3fs_inval_send(struct mps3fs *fs, struct inval *iv);
/* Drop the pages the kernel keeps of one inode (no lock held). */
void mps3fs_inval_inode(struct mps3fs *fs, uint64_t ino);

/*
 * Apply the remote value of path (NULL: absent) to the tree and tell the
 * kernel, without an inotify event; a path with local changes not yet
 * committed keeps them.  No lock held.
 */
void mps3fs_apply_direct(struct mps3fs *fs, const char *path, json_t *value);
/* The same for path and everything under it, with the database's values.  No lock held. */
void mps3fs_resync_subtree(struct mps3fs *fs, const char *path);

#endif
