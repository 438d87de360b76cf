/*
 * fs/upload_wait.c - the waits for the upload worker (fs/upload.c): until
 * the changes up to a mark (of one path, or all) are committed, for
 * fsync(), close() with -o sync, `mps3 sync` and unmount; and the parked
 * paths for the status.
 */
#include <errno.h>
#include <time.h>

#include "fs.h"
#include "batch.h"
#include "stage.h"
#include "tree.h"
#include "upload.h"

/* Tree lock held: whether the path's content is still to be snapshotted at its writer's close. */
static int being_written(struct mps3fs *fs, const char *path)
{
	struct node *node = mps3fs_lookup_path(fs, path);

	return node && node->stage && node->stage->dirty;
}

uint64_t mps3fs_change_mark(struct mps3fs *fs)
{
	uint64_t g;

	pthread_mutex_lock(&fs->tree_lock);
	g = fs->dirty_gen;
	pthread_mutex_unlock(&fs->tree_lock);
	return g;
}

/*
 * Tree lock held: of the changes up to mark (of path only, if not NULL),
 * 1 while some are still to be committed, -EIO when only parked ones are
 * left, 0 when none is.
 */
static int pending(struct mps3fs *fs, const char *only, uint64_t mark)
{
	const char *path;
	json_t *v;
	int parked = 0;

	/* A batch's changes wait for its commit: durable in the journal is all fsync can promise until then. */
	if (only) {
		v = json_object_get(fs->dirty, only);
		if (!v || (uint64_t)json_integer_value(v) > mark ||
		    mps3fs_batch_holds(fs, (uint64_t)json_integer_value(v)))
			return 0;
		return mps3fs_stuck_at(fs, only, v) ? -EIO : 1;
	}
	json_object_foreach(fs->dirty, path, v) {
		if ((uint64_t)json_integer_value(v) > mark || being_written(fs, path) ||
		    mps3fs_batch_holds(fs, (uint64_t)json_integer_value(v)))
			continue;
		if (!mps3fs_stuck_at(fs, path, v))
			return 1;
		parked = 1;
	}
	return parked ? -EIO : 0;
}

static int wait_for(struct mps3fs *fs, struct node *n, uint64_t mark, int64_t timeout_ms)
{
	int64_t deadline = mps3fs_now_ns() / 1000000 + timeout_ms;
	int rc;

	pthread_mutex_lock(&fs->tree_lock);
	/* Asked for: what a close held back goes now. */
	if (n)
		mps3fs_hold_clear(&fs->tree, n);
	else
		fs->hold_epoch++;
	for (;;) {
		char *path = n ? mps3fs_node_path(n) : NULL;
		int64_t left = deadline - mps3fs_now_ns() / 1000000;

		rc = n && !n->in_tree ? 0 : pending(fs, path, mark);
		free(path);
		if (rc <= 0)
			break;
		if (timeout_ms >= 0 && left <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		pthread_cond_broadcast(&fs->tree_cond); /* wake the uploader */
		mps3fs_timed_wait(fs, timeout_ms < 0 || left > 1000 ? 1000 : left);
	}
	pthread_mutex_unlock(&fs->tree_lock);
	return rc;
}

int mps3fs_wait_mark(struct mps3fs *fs, uint64_t mark, int64_t timeout_ms)
{
	return wait_for(fs, NULL, mark, timeout_ms);
}

int mps3fs_wait_node(struct mps3fs *fs, struct node *n, uint64_t mark, int64_t timeout_ms)
{
	return wait_for(fs, n, mark, timeout_ms);
}

int mps3fs_wait_committed(struct mps3fs *fs, int64_t timeout_ms)
{
	return mps3fs_wait_mark(fs, mps3fs_change_mark(fs), timeout_ms);
}

json_t *mps3fs_stuck_paths(struct mps3fs *fs)
{
	json_t *out = json_object(), *v;
	const char *path;

	json_object_foreach(fs->stuck, path, v)
		if (mps3fs_stuck_at(fs, path, json_object_get(fs->dirty, path)))
			json_object_set(out, path, json_object_get(v, "why"));
	return out;
}
