/*
 * fs/inval.c - telling the kernel that the tree changed under it: entry
 * and inode invalidations collected under the tree lock and sent after it
 * is released, and remote values applied to the tree with invalidation
 * but without an inotify event (notify=invalidate, and the replay's
 * fallback).
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "inval.h"
#include "local.h"
#include "upload.h"

void mps3fs_inval_send(struct mps3fs *fs, struct inval *iv)
{
	struct fuse_session *se = fs->session;
	size_t i;

	if (!se)
		return;
	for (i = 0; i < iv->n; i++) {
		if (iv->v[i].name)
			fuse_lowlevel_notify_inval_entry(se, iv->v[i].parent, iv->v[i].name,
							 strlen(iv->v[i].name));
		else
			fuse_lowlevel_notify_inval_inode(se, iv->v[i].ino, 0, 0);
	}
}

void mps3fs_inval_inode(struct mps3fs *fs, uint64_t ino)
{
	if (ino && fs->session)
		fuse_lowlevel_notify_inval_inode(fs->session, ino, 0, 0);
}

void mps3fs_apply_direct(struct mps3fs *fs, const char *path, json_t *value)
{
	struct inval inv = { 0 };

	pthread_mutex_lock(&fs->tree_lock);
	/* A path with local changes not yet committed keeps them; they win when they land. */
	if (!mps3fs_is_dirty(fs, path))
		mps3fs_tree_apply(fs, path, value, &inv);
	pthread_mutex_unlock(&fs->tree_lock);
	mps3fs_inval_send(fs, &inv);
	mps3fs_inval_dispose(&inv);
}

struct resync {
	struct mps3fs *fs;
	const char *path;
	size_t n;
	struct inval inv;
};

static int resync_one(const char *k, json_t *v, void *ctx)
{
	struct resync *r = ctx;

	if ((strncmp(k, r->path, r->n) == 0 && (k[r->n] == '/' || k[r->n] == '\0')) && !mps3fs_is_dirty(r->fs, k))
		mps3fs_tree_apply(r->fs, k, v, &r->inv);
	return 0;
}

void mps3fs_resync_subtree(struct mps3fs *fs, const char *path)
{
	struct resync r = { fs, path, strlen(path), { 0 } };
	struct inval inv;

	/* tree_lock, then the database's lock inside mps3_db_foreach: the order of fs.h. */
	pthread_mutex_lock(&fs->tree_lock);
	mps3_db_foreach(fs->db, resync_one, &r);
	pthread_mutex_unlock(&fs->tree_lock);
	inv = r.inv;
	mps3fs_inval_send(fs, &inv);
	mps3fs_inval_dispose(&inv);
}
