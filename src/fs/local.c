/*
 * fs/local.c - local changes: a path marked changed (fs->dirty and a
 * journal record of what it holds now), the new entries and merge patches
 * of local operations, the journal's durability at close() and fsync()
 * (rewritten whole after an append that failed), and the replay of an
 * earlier run's journal.  The upload worker (fs/upload.c) takes it from
 * there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/log.h"
#include "mps3/mergepatch.h"
#include "fs.h"
#include "fetch.h"
#include "local.h"

/* Journal what path (node n, or none) holds now over base. */
static int journal_put(struct mps3fs *fs, const char *path, struct node *n, json_t *base)
{
	json_t *want = NULL;
	int rc = n ? mps3fs_node_entry(n, &want) : 0;

	if (rc) {
		mps3_journal_missed(&fs->journal, rc);
		return rc;
	}
	rc = mps3_journal_append(&fs->journal, path, want, base);
	json_decref(want);
	return rc;
}

void mps3fs_dirty(struct mps3fs *fs, const char *path)
{
	struct node *n;
	json_t *base = NULL;

	if (!*path)
		return;
	if (json_object_set_new(fs->dirty, path, json_integer((json_int_t)++fs->dirty_gen)) &&
	    !__atomic_exchange_n(&fs->dirty_lost, 1, __ATOMIC_SEQ_CST))
		/* Never uploaded, and compaction would drop its record: nothing is acknowledged from here on. */
		mps3_err("%s: out of memory recording a change to %s; no write is acknowledged until remounted",
			 fs->cfg.url, path);
	if (fs->journal_open) {
		n = mps3fs_lookup_path(fs, path);
		mps3_db_get(fs->db, path, &base);
		journal_put(fs, path, n, base);
		json_decref(base);
	}
	pthread_cond_broadcast(&fs->tree_cond);
}

static void dirty_node(struct node *n, void *ctx)
{
	struct mps3fs *fs = ctx;
	char *path = mps3fs_node_path(n);

	/* Moved: its held content goes with the move, in the same entry as the old name's removal. */
	mps3fs_hold_clear(&fs->tree, n);
	if (path)
		mps3fs_dirty(fs, path);
	free(path);
}

void mps3fs_dirty_subtree(struct mps3fs *fs, struct node *n)
{
	mps3fs_walk(n, dirty_node, fs);
}

static void collect_path(struct node *n, void *ctx)
{
	char *path = mps3fs_node_path(n);

	if (path)
		json_array_append_new(ctx, json_string(path));
	free(path);
}

json_t *mps3fs_subtree_paths(struct node *n)
{
	json_t *paths = json_array();

	if (paths)
		mps3fs_walk(n, collect_path, paths);
	return paths;
}

void mps3fs_dirty_paths(struct mps3fs *fs, json_t *paths)
{
	json_t *p;
	size_t i;

	json_array_foreach(paths, i, p)
		mps3fs_dirty(fs, json_string_value(p));
}

int mps3fs_is_dirty(struct mps3fs *fs, const char *path)
{
	return json_object_get(fs->dirty, path) != NULL;
}

/* A patch's nulls removed: what the path holds, as a value. */
static json_t *entry_value(json_t *patch)
{
	const char *k;
	json_t *v;
	void *tmp;

	if (patch)
		json_object_foreach_safe(patch, tmp, k, v)
			if (json_is_null(v))
				json_object_del(patch, k);
	return patch;
}

json_t *mps3fs_entry_new(struct mps3fs *fs, enum mps3_ftype type, mode_t mode, const uid_t *uid,
			 const gid_t *gid, const char *blob, uint64_t size, const char *target)
{
	struct mps3_entry e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	if (blob && type == MPS3_FILE)
		memcpy(e.blob, blob, sizeof(e.blob));
	e.size = size;
	e.mode = mode & 07777;
	e.uid = uid ? *uid : fs->cfg.uid;
	e.gid = gid ? *gid : fs->cfg.gid;
	e.mtime_ns = mps3fs_now_ns();
	e.target = target;
	return entry_value(mps3_entry_to_patch(&e));
}

int mps3fs_node_modify(struct mps3fs *fs, struct node *n, json_t *patch)
{
	json_t *base = NULL;
	json_t *next;
	char *path;
	int err = mps3fs_node_entry(n, &base);

	if (err)
		return err;
	if (!base)
		base = json_pack("{s:s}", "type", "d");
	if (!base)
		return -ENOMEM;
	next = mps3_merge_patch(base, patch, &err);
	json_decref(base);
	if (!next)
		return err ? err : -ENOMEM;
	mps3fs_node_set_entry(n, next);
	if (n->in_tree) {
		path = mps3fs_node_path(n);
		if (!path)
			return -ENOMEM;
		mps3fs_dirty(fs, path);
		free(path);
	}
	return 0;
}

void mps3fs_keep_parent(struct mps3fs *fs, struct node *dir)
{
	json_t *p;

	if (!dir || !dir->parent || dir->has_entry || dir->nchildren > 0)
		return;
	p = json_pack("{s:s,s:I}", "type", "d", "mtime", (json_int_t)mps3fs_now_ns());
	if (p)
		mps3fs_node_modify(fs, dir, p);
	json_decref(p);
}

/*
 * An append failed (a full disk, an I/O error): the journal misses a
 * record.  Rewrite it whole - the records of every pending path, then what
 * each holds now - so that it promises everything again.  Tree lock held.
 */
static int journal_repair(struct mps3fs *fs)
{
	const char *path;
	json_t *v;
	int rc;

	rc = mps3_journal_compact(&fs->journal, fs->dirty);
	json_object_foreach(fs->dirty, path, v) {
		struct node *n = mps3fs_lookup_path(fs, path);
		json_t *base = NULL;

		if (rc)
			break;
		mps3_db_get(fs->db, path, &base);
		rc = journal_put(fs, path, n, base);
		json_decref(base);
	}
	if (!rc)
		mps3_notice("%s: the journal is whole again (%zu pending paths recorded)", fs->cfg.url,
			    json_object_size(fs->dirty));
	return rc;
}

int mps3fs_journal_mend(struct mps3fs *fs)
{
	int rc = 0;

	if (!fs->journal_open || !mps3_journal_error(&fs->journal))
		return 0;
	/* Room first: content already in the bucket can go from the cache. */
	mps3fs_room(fs, (uint64_t)64 << 20);
	pthread_mutex_lock(&fs->tree_lock);
	if (mps3_journal_error(&fs->journal))
		rc = journal_repair(fs);
	pthread_mutex_unlock(&fs->tree_lock);
	return rc;
}

int mps3fs_durable(struct mps3fs *fs)
{
	int rc;

	if (__atomic_load_n(&fs->dirty_lost, __ATOMIC_SEQ_CST))
		return mps3_error_set(-EIO, "a change could not be recorded (out of memory)");
	if (!fs->journal_open)
		return 0;
	rc = mps3_journal_sync(&fs->journal);
	if (rc && mps3_journal_error(&fs->journal) && mps3fs_journal_mend(fs) == 0)
		rc = mps3_journal_sync(&fs->journal);
	return rc;
}

uint64_t mps3fs_pending_bytes(struct mps3fs *fs)
{
	uint64_t bytes = 0;
	const char *sha;
	json_t *v;

	json_object_foreach(fs->pinned, sha, v)
		bytes += mps3fs_cache_size_of(&fs->cache, sha);
	return bytes;
}

/* Tree lock held: one pin on a local blob until no pending change names it. */
static void pin_blob(struct mps3fs *fs, const char *sha)
{
	if (json_object_get(fs->pinned, sha))
		return;
	mps3fs_cache_pin(&fs->cache, sha);
	json_object_set_new(fs->pinned, sha, json_true());
}

/*
 * The journal of an earlier run: changes whose content and entry were
 * promised but maybe never reached the bucket (mps3_journal_recover()
 * judges each path).  Tree lock not held; called before the mount serves.
 */
int mps3fs_journal_recover(struct mps3fs *fs, json_t *records)
{
	struct mps3_journal_plan plan;
	size_t i;
	int rc;

	if (json_array_size(records) == 0)
		return 0;
	rc = mps3_journal_recover(&plan, records, fs->db);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->tree_lock);
	for (i = 0; i < plan.n; i++) {
		const struct mps3_journal_item *it = &plan.v[i];
		const char *target = it->path;
		struct mps3_entry e;

		if (it->action == MPS3_JOURNAL_LANDED)
			continue;
		if (it->want && mps3_entry_parse(&e, it->want) == 0 && e.type == MPS3_FILE) {
			if (!mps3fs_cache_has(&fs->cache, e.blob) ||
			    (e.chunks[0] && !mps3fs_cache_has(&fs->cache, e.chunks))) {
				mps3_err("%s: the content of %s (blob %s) is missing from %s; that change is lost",
					 fs->cfg.url, it->path, e.blob, fs->cache.dir);
				continue;
			}
			pin_blob(fs, e.blob);
			if (e.chunks[0])
				pin_blob(fs, e.chunks);
		}
		if (it->action == MPS3_JOURNAL_CONFLICT) {
			/* Settled: a later recovery must not make a second copy. */
			json_t *cur = NULL;

			mps3_db_get(fs->db, it->path, &cur);
			mps3_journal_append(&fs->journal, it->path, cur, cur);
			json_decref(cur);
			if (!it->conflict_path) {
				mps3_warn("%s: %s was changed by another client after a local change (%s) that had not been uploaded; keeping theirs",
					  fs->cfg.url, it->path, it->want ? "a new directory or link" : "a removal");
				continue;
			}
			mps3_warn("%s: %s was changed by another client after a local change that had not been uploaded; the local version is kept as %s",
				  fs->cfg.url, it->path, it->conflict_path);
			target = it->conflict_path;
		}
		mps3fs_tree_apply(fs, target, it->want, NULL);
		mps3fs_dirty(fs, target);
	}
	pthread_mutex_unlock(&fs->tree_lock);
	mps3_notice("%s: journal of the last run: %zu changes to upload again, %zu already in the bucket, %zu conflicts",
		    fs->cfg.url, plan.commit, plan.landed, plan.conflicts);
	mps3_journal_plan_dispose(&plan);
	return mps3_journal_sync(&fs->journal);
}

