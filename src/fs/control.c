/*
 * fs/control.c - the control directory /.mps3: its inodes, the text of
 * /.mps3/status (what the mount is connected to, whether the store
 * answers, what is waiting to be uploaded, and when the last poll and
 * commit happened), and the doors to past states, /.mps3/at/TIME and
 * /.mps3/snapshots/NAME (fs/view.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mps3/buf.h"
#include "mps3/clock.h"
#include "mps3/error.h"
#include "mps3/history.h"
#include "mps3/log.h"
#include "mps3/poller.h"
#include "mps3/timefmt.h"
#include "branches.h"
#include "control.h"
#include "fs.h"
#include "local.h"
#include "upload.h"
#include "view.h"

static void when(struct mps3_buf *b, const char *label, int64_t ms, int64_t now)
{
	char t[25];

	if (ms <= 0) {
		mps3_buf_printf(b, "%s: never\n", label);
		return;
	}
	mps3_time_format_iso8601(t, ms);
	mps3_buf_printf(b, "%s: %s (%.1f s ago)\n", label, t, (double)(now - ms) / 1000.0);
}

/* One line for each branch open in the mount (fs/branches.h). */
static void branches_status(struct mps3fs *fs, struct mps3_buf *b)
{
	struct mps3fs *br;
	size_t i, dirty, stuck;
	int online;

	for (i = 0; (br = mps3fs_branch_at(fs, i)) != NULL; i++) {
		pthread_mutex_lock(&br->tree_lock);
		dirty = json_object_size(br->dirty);
		stuck = json_object_size(br->stuck);
		online = br->online && !(br->poller && mps3_poller_failing(br->poller));
		pthread_mutex_unlock(&br->tree_lock);
		mps3_buf_printf(b, "branch %s: %s, %zu pending paths", br->branch_name, online ? "online" : "offline",
				dirty);
		if (stuck)
			mps3_buf_printf(b, ", %zu cannot upload", stuck);
		mps3_buf_printf(b, " (cache %s)\n", br->cfg.cache_dir);
	}
}

char *mps3fs_status_text(struct mps3fs *fs, size_t *len)
{
	struct mps3_db_stats st;
	struct mps3_buf b;
	int64_t now = mps3_clock_now(mps3_store_clock(fs->store));
	size_t dirty;
	uint64_t commits, failures, nodes, cache_used, cache_limit, pending_bytes;
	int online;
	char err[512];
	int64_t last_commit;
	json_t *stuck;

	mps3_db_get_stats(fs->db, &st);
	pthread_mutex_lock(&fs->tree_lock);
	dirty = json_object_size(fs->dirty);
	pending_bytes = mps3fs_pending_bytes(fs);
	stuck = mps3fs_stuck_paths(fs);
	online = fs->online;
	commits = fs->commits;
	failures = fs->commit_failures;
	nodes = fs->tree.nnodes;
	last_commit = fs->last_commit_ms;
	snprintf(err, sizeof(err), "%s", fs->last_error);
	pthread_mutex_unlock(&fs->tree_lock);
	pthread_mutex_lock(&fs->cache.lock);
	cache_used = fs->cache.used;
	cache_limit = fs->cache.limit;
	pthread_mutex_unlock(&fs->cache.lock);

	mps3_buf_init(&b, 0);
	mps3_buf_printf(&b, "url: %s\n", fs->cfg.url);
	mps3_buf_printf(&b, "session: %s\n", mps3_db_session(fs->db));
	mps3_buf_printf(&b, "state: %s\n",
			online && !(fs->poller && mps3_poller_failing(fs->poller)) ? "online" : "offline");
	mps3_buf_printf(&b, "pending paths: %zu\n", dirty);
	mps3_buf_printf(&b, "pending bytes: %" PRIu64 "\n", pending_bytes);
	mps3_buf_printf(&b, "commits: %" PRIu64 " (%" PRIu64 " failed attempts)\n", commits, failures);
	when(&b, "last commit", last_commit, now);
	when(&b, "last poll", st.last_poll_ok, now);
	mps3_buf_printf(&b, "poll interval: %" PRId64 " ms\n", fs->cfg.poll_ms);
	mps3_buf_printf(&b, "clock offset: %+" PRId64 " ms (+/- %" PRId64 " ms)\n", st.clock_offset_ms,
			st.clock_uncertainty_ms);
	mps3_buf_printf(&b, "log window: %zu entries; %" PRIu64 " applied, %" PRIu64 " ignored\n",
			st.window, st.entries_applied, st.entries_ignored);
	mps3_buf_printf(&b, "checkpoint: %s\n", st.checkpoint[0] ? st.checkpoint : "none");
	mps3_buf_printf(&b, "keys: %zu; inodes: %" PRIu64 "\n", st.paths, nodes);
	mps3_buf_printf(&b, "cache: %" PRIu64 " of %" PRIu64 " bytes in %s\n", cache_used, cache_limit,
			fs->cfg.cache_dir);
	if (err[0])
		mps3_buf_printf(&b, "last error: %s\n", err);
	if (json_object_size(stuck)) {
		const char *path;
		json_t *why;

		mps3_buf_printf(&b, "cannot upload (%zu paths):\n", json_object_size(stuck));
		json_object_foreach(stuck, path, why) {
			char *p = mps3_escape(path);

			mps3_buf_printf(&b, "  %s: %s\n", p ? p : "?", json_string_value(why));
			free(p);
		}
	}
	json_decref(stuck);
	branches_status(fs, &b);
	return mps3_buf_detach(&b, len);
}

#define STATUS_NAME "status"
#define AT_NAME "at"
#define SNAPS_NAME "snapshots"
#define BATCH_NAME "batch"
#define BRANCHES_NAME "branches"
#define LISTED_INO(i) (((uint64_t)1 << 61) | (uint64_t)(i)) /* names listed, not looked up */

int mps3fs_ctl_owns(uint64_t ino)
{
	return (ino >= MPS3FS_CTL_INO && ino <= MPS3FS_BRANCHES_INO) || IS_VIEW_INO(ino);
}

int mps3fs_ctl_stat(struct mps3fs *fs, uint64_t ino, struct stat *st)
{
	if (IS_VIEW_INO(ino))
		return mps3fs_view_stat(fs, ino, st);
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = fs->cfg.uid;
	st->st_gid = fs->cfg.gid;
	st->st_nlink = 1;
	if (ino == MPS3FS_STATUS_INO) {
		st->st_mode = S_IFREG | 0444;
		st->st_size = 4096;
	} else if (ino == MPS3FS_BATCH_INO) {
		st->st_mode = S_IFREG | 0200; /* for the mount's owner, who may hold back every change */
	} else {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	}
	st->st_mtim.tv_sec = time(NULL);
	st->st_ctim = st->st_atim = st->st_mtim;
	return 0;
}

int mps3fs_ctl_lookup(struct mps3fs *fs, uint64_t parent, const char *name, uint64_t *ino, struct stat *st,
		      int *err)
{
	*ino = 0;
	if (parent == MPS3FS_ROOT_INO && strcmp(name, MPS3FS_CTL_NAME) == 0) {
		*ino = MPS3FS_CTL_INO;
	} else if (parent == MPS3FS_CTL_INO) {
		if (strcmp(name, STATUS_NAME) == 0)
			*ino = MPS3FS_STATUS_INO;
		else if (strcmp(name, AT_NAME) == 0)
			*ino = MPS3FS_AT_INO;
		else if (strcmp(name, SNAPS_NAME) == 0)
			*ino = MPS3FS_SNAPS_INO;
		else if (strcmp(name, BATCH_NAME) == 0)
			*ino = MPS3FS_BATCH_INO;
		else if (strcmp(name, BRANCHES_NAME) == 0)
			*ino = MPS3FS_BRANCHES_INO;
	} else if (parent == MPS3FS_AT_INO || parent == MPS3FS_SNAPS_INO) {
		*err = mps3fs_view_open_root(fs, parent == MPS3FS_AT_INO ? VIEW_AT : VIEW_SNAPSHOT, name, ino, st);
		return 1;
	} else if (parent == MPS3FS_BRANCHES_INO) {
		*err = mps3fs_branch_open_root(fs, name, ino, st);
		return 1;
	} else if (IS_VIEW_INO(parent)) {
		*err = mps3fs_view_lookup(fs, parent, name, ino, st);
		return 1;
	} else {
		return 0;
	}
	*err = *ino ? mps3fs_ctl_stat(fs, *ino, st) : -ENOENT;
	return 1;
}

struct snap_add {
	int (*add)(void *ctx, const char *name, uint64_t ino, mode_t type);
	void *ctx;
	int times;			/* list their times (/.mps3/at), else their names */
	unsigned i;
};

static int add_snapshot(void *ctx, const struct mps3_snapshot_info *s)
{
	struct snap_add *a = ctx;
	char when[25];

	mps3_time_format_iso8601(when, s->t);
	return a->add(a->ctx, a->times ? when : s->name, LISTED_INO(++a->i), S_IFDIR);
}

static int add_branch(void *ctx, const char *name, int64_t t)
{
	struct snap_add *a = ctx;

	(void)t;
	return a->add(a->ctx, name, LISTED_INO(++a->i), S_IFDIR);
}

int mps3fs_ctl_list(struct mps3fs *fs, uint64_t ino,
		    int (*add)(void *ctx, const char *name, uint64_t ino, mode_t type), void *ctx)
{
	struct snap_add sa = { add, ctx, ino == MPS3FS_AT_INO, 0 };
	int rc;

	if (IS_VIEW_INO(ino))
		return mps3fs_view_list(fs, ino, add, ctx);
	if (ino == MPS3FS_STATUS_INO || ino == MPS3FS_BATCH_INO)
		return -ENOTDIR;
	rc = add(ctx, ".", ino, S_IFDIR);
	if (!rc)
		rc = add(ctx, "..", ino == MPS3FS_CTL_INO ? MPS3FS_ROOT_INO : MPS3FS_CTL_INO, S_IFDIR);
	if (!rc && ino == MPS3FS_CTL_INO) {
		rc = add(ctx, STATUS_NAME, MPS3FS_STATUS_INO, S_IFREG);
		if (!rc)
			rc = add(ctx, AT_NAME, MPS3FS_AT_INO, S_IFDIR);
		if (!rc)
			rc = add(ctx, SNAPS_NAME, MPS3FS_SNAPS_INO, S_IFDIR);
		if (!rc)
			rc = add(ctx, BATCH_NAME, MPS3FS_BATCH_INO, S_IFREG);
		if (!rc)
			rc = add(ctx, BRANCHES_NAME, MPS3FS_BRANCHES_INO, S_IFDIR);
		return rc;
	}
	if (!rc && ino == MPS3FS_BRANCHES_INO) {
		rc = mps3_db_branch_list(fs->db, add_branch, &sa);
		if (rc < 0 && rc != -ENOMEM) {
			mps3_warn("%s: cannot list the branches: %s", fs->cfg.url, mps3_error_last(rc));
			rc = -EIO;
		}
		return rc;
	}
	/* Past times are looked up by name, not listed: /.mps3/at lists the named snapshots' times. */
	if (!rc) {
		rc = mps3_db_snapshot_list(fs->db, add_snapshot, &sa);
		if (rc < 0 && rc != -ENOMEM) {
			mps3_warn("%s: cannot list the snapshots: %s", fs->cfg.url, mps3_error_last(rc));
			rc = -EIO;
		}
	}
	return rc;
}

char *mps3fs_ctl_open(struct mps3fs *fs, uint64_t ino, int flags, size_t *len, int *err)
{
	char *text;

	*err = 0;
	if (ino != MPS3FS_STATUS_INO) {
		*err = IS_VIEW_INO(ino) ? -EINVAL : -EISDIR; /* view files open as content (ops_file.c) */
		return NULL;
	}
	if ((flags & O_ACCMODE) != O_RDONLY) {
		*err = -EACCES;
		return NULL;
	}
	text = mps3fs_status_text(fs, len);
	if (!text)
		*err = -ENOMEM;
	return text;
}
