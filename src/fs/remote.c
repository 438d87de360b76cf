/*
 * fs/remote.c - other clients' changes into the tree (see remote.h).
 */
#include "fs.h"
#include "inval.h"
#include "remote.h"
#include "replay.h"
#include "local.h"
#include "upload.h"

void mps3fs_on_changes(void *ctx, const struct mps3_changes *ch, int local)
{
	struct mps3fs *fs = ctx;
	struct mps3_changes mine;
	struct inval inv = { 0 };
	size_t i;

	if (local)
		return; /* our own commits: the tree has them already */
	mps3_changes_init(&mine);
	pthread_mutex_lock(&fs->tree_lock);
	for (i = 0; i < ch->n; i++) {
		/* A path with local changes not yet committed keeps them; they win when they land. */
		if (mps3fs_is_dirty(fs, ch->v[i].path))
			continue;
		if (fs->replayer)
			mps3_changes_add(&mine, ch->v[i].path, ch->v[i].old, ch->v[i].new);
		else
			mps3fs_tree_apply(fs, ch->v[i].path, ch->v[i].new, &inv);
	}
	pthread_mutex_unlock(&fs->tree_lock);
	if (fs->replayer)
		mps3fs_replay_queue(fs, &mine);
	else if (fs->cfg.notify != NOTIFY_OFF)
		mps3fs_inval_send(fs, &inv);
	mps3_changes_dispose(&mine);
	mps3fs_inval_dispose(&inv);
}
