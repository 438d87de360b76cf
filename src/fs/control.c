/*
 * fs/control.c - the control directory /.mps3: its inodes, the text of
 * /.mps3/status and the same as JSON in /.mps3/status.json (what the mount is connected to, whether the store
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
#include "mps3/json.h"
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

/* What /.mps3/status and /.mps3/status.json say, read under the locks at one moment. */
struct status {
	struct mps3_db_stats db;
	int64_t now, last_commit;
	size_t dirty;
	uint64_t commits, failures, hashed_ahead, nodes, cache_used, cache_limit, pending_bytes;
	int online;
	char err[512];
	json_t *stuck;			/* path: why */
};

static void status_get(struct mps3fs *fs, struct status *s)
{
	memset(s, 0, sizeof(*s));
	s->now = mps3_clock_now(mps3_store_clock(fs->store));
	mps3_db_get_stats(fs->db, &s->db);
	pthread_mutex_lock(&fs->tree_lock);
	s->dirty = json_object_size(fs->dirty);
	s->pending_bytes = mps3fs_pending_bytes(fs);
	s->stuck = mps3fs_stuck_paths(fs);
	s->online = fs->online && !(fs->poller && mps3_poller_failing(fs->poller));
	s->commits = fs->commits;
	s->failures = fs->commit_failures;
	s->hashed_ahead = fs->hashed_ahead;
	s->nodes = fs->tree.nnodes;
	s->last_commit = fs->last_commit_ms;
	snprintf(s->err, sizeof(s->err), "%s", fs->last_error);
	pthread_mutex_unlock(&fs->tree_lock);
	pthread_mutex_lock(&fs->cache.lock);
	s->cache_used = fs->cache.used;
	s->cache_limit = fs->cache.limit;
	pthread_mutex_unlock(&fs->cache.lock);
}

/* A JSON string of s; text that is not UTF-8 (a cut error line, a name from the bucket) escaped as ls -b does. */
static json_t *safe_string(const char *s)
{
	json_t *j = json_string(s);
	char *e;

	if (j)
		return j;
	e = mps3_escape(s);
	j = e ? json_string(e) : NULL;
	free(e);
	return j ? j : json_string("?");
}

/* One line for each branch open in the mount (fs/branches.h); into arr too, when given. */
static void branches_status(struct mps3fs *fs, struct mps3_buf *b, json_t *arr)
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
		if (arr) {
			json_array_append_new(arr, json_pack("{s:o, s:s, s:I, s:I, s:o}", "name",
							     safe_string(br->branch_name), "state",
							     online ? "online" : "offline", "pending_paths",
							     (json_int_t)dirty, "stuck_paths", (json_int_t)stuck,
							     "cache_dir", safe_string(br->cfg.cache_dir)));
			continue;
		}
		mps3_buf_printf(b, "branch %s: %s, %zu pending paths", br->branch_name, online ? "online" : "offline",
				dirty);
		if (stuck)
			mps3_buf_printf(b, ", %zu cannot upload", stuck);
		mps3_buf_printf(b, " (cache %s)\n", br->cfg.cache_dir);
	}
}

char *mps3fs_status_text(struct mps3fs *fs, size_t *len)
{
	struct status s;
	struct mps3_buf b;

	status_get(fs, &s);
	mps3_buf_init(&b, 0);
	mps3_buf_printf(&b, "url: %s\n", fs->cfg.url);
	mps3_buf_printf(&b, "session: %s\n", mps3_db_session(fs->db));
	mps3_buf_printf(&b, "state: %s\n", s.online ? "online" : "offline");
	mps3_buf_printf(&b, "pending paths: %zu\n", s.dirty);
	mps3_buf_printf(&b, "pending bytes: %" PRIu64 "\n", s.pending_bytes);
	mps3_buf_printf(&b, "commits: %" PRIu64 " (%" PRIu64 " failed attempts)\n", s.commits, s.failures);
	mps3_buf_printf(&b, "files hashed while written: %" PRIu64 "\n", s.hashed_ahead);
	when(&b, "last commit", s.last_commit, s.now);
	when(&b, "last poll", s.db.last_poll_ok, s.now);
	mps3_buf_printf(&b, "poll interval: %" PRId64 " ms\n", fs->cfg.poll_ms);
	mps3_buf_printf(&b, "clock offset: %+" PRId64 " ms (+/- %" PRId64 " ms)\n", s.db.clock_offset_ms,
			s.db.clock_uncertainty_ms);
	mps3_buf_printf(&b, "log window: %zu entries; %" PRIu64 " applied, %" PRIu64 " ignored\n",
			s.db.window, s.db.entries_applied, s.db.entries_ignored);
	mps3_buf_printf(&b, "checkpoint: %s\n", s.db.checkpoint[0] ? s.db.checkpoint : "none");
	mps3_buf_printf(&b, "keys: %zu; inodes: %" PRIu64 "\n", s.db.paths, s.nodes);
	mps3_buf_printf(&b, "cache: %" PRIu64 " of %" PRIu64 " bytes in %s\n", s.cache_used, s.cache_limit,
			fs->cfg.cache_dir);
	if (s.err[0])
		mps3_buf_printf(&b, "last error: %s\n", s.err);
	if (json_object_size(s.stuck)) {
		const char *path;
		json_t *why;

		mps3_buf_printf(&b, "cannot upload (%zu paths):\n", json_object_size(s.stuck));
		json_object_foreach(s.stuck, path, why) {
			char *p = mps3_escape(path);

			mps3_buf_printf(&b, "  %s: %s\n", p ? p : "?", json_string_value(why));
			free(p);
		}
	}
	json_decref(s.stuck);
	branches_status(fs, &b, NULL);
	return mps3_buf_detach(&b, len);
}

/* A time as ISO 8601 text, or null for never. */
static json_t *json_time(int64_t ms)
{
	char t[25];

	if (ms <= 0)
		return json_null();
	mps3_time_format_iso8601(t, ms);
	return json_string(t);
}

/* The same, as one JSON object (times ISO 8601 or null, sizes in bytes), for programs. */
char *mps3fs_status_json(struct mps3fs *fs, size_t *len)
{
	struct status s;
	json_t *o, *br = json_array();
	char *text = NULL;

	status_get(fs, &s);
	if (!s.stuck)
		s.stuck = json_object();
	if (!br || !s.stuck) {
		json_decref(br);
		json_decref(s.stuck);
		return NULL;
	}
	branches_status(fs, NULL, br);
	o = json_pack("{s:o, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:{s:I, s:I}, s:{s:I, s:I, s:I},"
		      " s:o, s:I, s:I, s:{s:I, s:I, s:o}, s:o, s:O, s:o}",
		      "url", safe_string(fs->cfg.url), "session", mps3_db_session(fs->db), "state",
		      s.online ? "online" : "offline",
		      "pending_paths", (json_int_t)s.dirty, "pending_bytes", (json_int_t)s.pending_bytes,
		      "commits", (json_int_t)s.commits, "failed_commit_attempts", (json_int_t)s.failures,
		      "hashed_while_written", (json_int_t)s.hashed_ahead,
		      "last_commit", json_time(s.last_commit), "last_poll", json_time(s.db.last_poll_ok),
		      "poll_interval_ms", (json_int_t)fs->cfg.poll_ms,
		      "clock", "offset_ms", (json_int_t)s.db.clock_offset_ms, "uncertainty_ms",
		      (json_int_t)s.db.clock_uncertainty_ms,
		      "log_window", "entries", (json_int_t)s.db.window, "applied", (json_int_t)s.db.entries_applied,
		      "ignored", (json_int_t)s.db.entries_ignored,
		      "checkpoint", s.db.checkpoint[0] ? safe_string(s.db.checkpoint) : json_null(),
		      "keys", (json_int_t)s.db.paths, "inodes", (json_int_t)s.nodes,
		      "cache", "used_bytes", (json_int_t)s.cache_used, "limit_bytes", (json_int_t)s.cache_limit, "dir",
		      safe_string(fs->cfg.cache_dir),
		      "last_error", s.err[0] ? safe_string(s.err) : json_null(), "cannot_upload", s.stuck,
		      "branches", br);
	if (o)
		text = mps3_json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(o);
	json_decref(s.stuck);
	if (text) { /* a line, like every file a shell reads */
		char *t = realloc(text, strlen(text) + 2);

		if (!t) {
			free(text);
			return NULL;
		}
		text = t;
		strcat(text, "\n");
		*len = strlen(text);
	}
	return text;
}

#define STATUS_NAME "status"
#define STATUS_JSON_NAME "status.json"
#define AT_NAME "at"
#define SNAPS_NAME "snapshots"
#define BATCH_NAME "batch"
#define BRANCHES_NAME "branches"
#define LISTED_INO(i) (((uint64_t)1 << 61) | (uint64_t)(i)) /* names listed, not looked up */

int mps3fs_ctl_owns(uint64_t ino)
{
	return (ino >= MPS3FS_CTL_INO && ino <= MPS3FS_STATUS_JSON_INO) || IS_VIEW_INO(ino);
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
	if (ino == MPS3FS_STATUS_INO || ino == MPS3FS_STATUS_JSON_INO) {
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
		else if (strcmp(name, STATUS_JSON_NAME) == 0)
			*ino = MPS3FS_STATUS_JSON_INO;
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
	if (ino == MPS3FS_STATUS_INO || ino == MPS3FS_STATUS_JSON_INO || ino == MPS3FS_BATCH_INO)
		return -ENOTDIR;
	rc = add(ctx, ".", ino, S_IFDIR);
	if (!rc)
		rc = add(ctx, "..", ino == MPS3FS_CTL_INO ? MPS3FS_ROOT_INO : MPS3FS_CTL_INO, S_IFDIR);
	if (!rc && ino == MPS3FS_CTL_INO) {
		rc = add(ctx, STATUS_NAME, MPS3FS_STATUS_INO, S_IFREG);
		if (!rc)
			rc = add(ctx, STATUS_JSON_NAME, MPS3FS_STATUS_JSON_INO, S_IFREG);
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
	if (ino != MPS3FS_STATUS_INO && ino != MPS3FS_STATUS_JSON_INO) {
		*err = IS_VIEW_INO(ino) ? -EINVAL : -EISDIR; /* view files open as content (ops_file.c) */
		return NULL;
	}
	if ((flags & O_ACCMODE) != O_RDONLY) {
		*err = -EACCES;
		return NULL;
	}
	text = ino == MPS3FS_STATUS_JSON_INO ? mps3fs_status_json(fs, len) : mps3fs_status_text(fs, len);
	if (!text)
		*err = -ENOMEM;
	return text;
}
