/*
 * fs/batch.c - atomic batches (see batch.h).
 *
 * The batch's changes are those whose generation in fs->dirty is later
 * than fs->batch_gen, the generation when it began.  At its beginning the
 * values of the paths still pending are kept (fs->batch_base), so that an
 * abort gives back what the mount acknowledged before the batch, not the
 * bucket's older value.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mps3/error.h"
#include "mps3/log.h"
#include "fs.h"
#include "batch.h"
#include "inval.h"
#include "local.h"
#include "stage.h"
#include "tree.h"

int mps3fs_batch_holds(struct mps3fs *fs, uint64_t gen)
{
	return fs->batch_state == BATCH_OPEN && gen > fs->batch_gen;
}

int mps3fs_batch_committing(struct mps3fs *fs)
{
	return fs->batch_state == BATCH_COMMITTING;
}

void mps3fs_batch_done(struct mps3fs *fs, int rc)
{
	fs->batch_state = BATCH_NONE;
	fs->batch_rc = rc;
	fs->batch_done++;
	pthread_cond_broadcast(&fs->tree_cond);
}

int mps3fs_batch_begin(struct mps3fs *fs, uint64_t *id)
{
	struct timespec ts;
	const char *path;
	json_t *v;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&fs->tree_lock);
	if (fs->batch_state != BATCH_NONE) {
		pthread_mutex_unlock(&fs->tree_lock);
		return -EBUSY;
	}
	*id = (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
	json_decref(fs->batch_base);
	fs->batch_base = json_object();
	if (!fs->batch_base)
		rc = -ENOMEM;
	/* What is pending now was acknowledged before the batch: an abort keeps it. */
	json_object_foreach(fs->dirty, path, v) {
		struct node *n = mps3fs_lookup_path(fs, path);
		json_t *cur = NULL;

		if (!rc && n)
			rc = mps3fs_node_entry(n, &cur);
		if (!rc)
			rc = json_object_set_new(fs->batch_base, path, cur ? cur : json_null()) ? -ENOMEM : 0;
	}
	if (!rc && fs->journal_open)
		rc = mps3_journal_batch(&fs->journal, *id, "begin");
	if (!rc) {
		fs->batch_state = BATCH_OPEN;
		fs->batch_id = *id;
		fs->batch_gen = fs->dirty_gen;
	}
	pthread_mutex_unlock(&fs->tree_lock);
	if (!rc)
		rc = mps3fs_durable(fs);
	return rc;
}

/* Tree lock held: the mount as it was when the batch began (its changes thrown away). */
static int revert(struct mps3fs *fs, struct inval *inv)
{
	json_t *held = json_object(), *v;
	const char *path;
	void *tmp;
	int rc = held ? 0 : -ENOMEM;

	json_object_foreach(fs->dirty, path, v)
		if (!rc && (uint64_t)json_integer_value(v) > fs->batch_gen)
			rc = json_object_set_new(held, path, json_true()) ? -ENOMEM : 0;
	json_object_foreach_safe(held, tmp, path, v) {
		json_t *before = json_object_get(fs->batch_base, path), *cur = NULL;
		struct node *n = mps3fs_lookup_path(fs, path);

		(void)v;
		if (n && n->stage && n->nwriters == 0) {
			struct stage *st = n->stage;

			n->stage = NULL;
			mps3fs_stage_free(st);
		}
		json_object_del(fs->dirty, path);
		json_object_del(fs->stuck, path);
		if (before) {
			/* Pending before the batch: that value again, still to upload. */
			mps3fs_tree_apply(fs, path, json_is_null(before) ? NULL : before, inv);
			mps3fs_dirty(fs, path);
		} else {
			mps3_db_get(fs->db, path, &cur);
			mps3fs_tree_apply(fs, path, cur, inv);
			json_decref(cur);
		}
	}
	json_decref(held);
	return rc;
}

int mps3fs_batch_abort(struct mps3fs *fs, uint64_t id)
{
	struct inval inv = { 0 };
	int rc;

	pthread_mutex_lock(&fs->tree_lock);
	if (fs->batch_state != BATCH_OPEN || fs->batch_id != id) {
		pthread_mutex_unlock(&fs->tree_lock);
		return -EINVAL;
	}
	/* Marked first: the records that follow (the values given back) are nobody's batch. */
	rc = fs->journal_open ? mps3_journal_batch(&fs->journal, id, "abort") : 0;
	fs->batch_state = BATCH_NONE;
	if (!rc)
		rc = revert(fs, &inv);
	if (fs->journal_open)
		mps3_journal_compact(&fs->journal, fs->dirty);
	json_decref(fs->batch_base);
	fs->batch_base = NULL;
	pthread_cond_broadcast(&fs->tree_cond);
	pthread_mutex_unlock(&fs->tree_lock);
	mps3fs_inval_send(fs, &inv);
	mps3fs_inval_dispose(&inv);
	if (!rc)
		rc = mps3fs_durable(fs);
	mps3_notice("%s: batch aborted; its changes are thrown away", fs->cfg.url);
	return rc;
}

int mps3fs_batch_commit(struct mps3fs *fs, uint64_t id)
{
	uint64_t done;
	int rc;

	pthread_mutex_lock(&fs->tree_lock);
	if (fs->batch_state != BATCH_OPEN || fs->batch_id != id) {
		pthread_mutex_unlock(&fs->tree_lock);
		return -EINVAL;
	}
	/* Marked before it goes to the bucket: after a crash from here on, the next mount commits it. */
	rc = fs->journal_open ? mps3_journal_batch(&fs->journal, id, "commit") : 0;
	pthread_mutex_unlock(&fs->tree_lock);
	if (!rc)
		rc = mps3fs_durable(fs);
	pthread_mutex_lock(&fs->tree_lock);
	if (rc) {
		pthread_mutex_unlock(&fs->tree_lock);
		return rc;
	}
	done = fs->batch_done;
	fs->batch_state = BATCH_COMMITTING;
	pthread_cond_broadcast(&fs->tree_cond);
	while (fs->batch_done == done && !fs->uploader_stop)
		pthread_cond_wait(&fs->tree_cond, &fs->tree_lock);
	rc = fs->batch_done == done ? -EIO : fs->batch_rc;
	if (rc == -EFBIG) {
		/* All or nothing: it could not be one entry, so nothing. */
		pthread_mutex_unlock(&fs->tree_lock);
		mps3fs_batch_abort(fs, id);
		return mps3_error_set(-EFBIG, "the batch is more than one log entry holds; it was aborted");
	}
	json_decref(fs->batch_base);
	fs->batch_base = NULL;
	pthread_mutex_unlock(&fs->tree_lock);
	return rc;
}
