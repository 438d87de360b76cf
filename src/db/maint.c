/*
 * db/maint.c - maintenance: writing a checkpoint (C1), listing the log for
 * `mps3 log` and garbage collection (G1); the consistency check is fsck.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/log.h"
#include "mps3/history.h"
#include "internal.h"
#include "refs.h"

int mps3_db_checkpoint(struct mps3_db *db, struct mps3_logkey *keyout)
{
	char name[MPS3_LOGNAME_MAX], objkey[PREFIX_MAX + MPS3_LOGNAME_MAX];
	struct mps3_logkey key;
	struct mps3_cpwindow w;
	struct mps3_body body;
	struct mps3_buf doc;
	int rc = DB_JS_NO_CHECKPOINT(db), has_window;

	if (rc)
		return rc;
	/*
	 * The map goes straight from its compact form into the document's
	 * text (a JSON copy of it would be a kilobyte an entry, under the
	 * lock); a document larger than readers take is not written at all.
	 */
	mps3_buf_init(&doc, db->cfg.max_checkpoint_bytes);
	pthread_mutex_lock(&db->lock);
	key.t = mps3_manifest_horizon(db->m);
	rc = key.t < 0 ? 0 : mps3_buf_append(&doc, MPS3_CHECKPOINT_OPEN, strlen(MPS3_CHECKPOINT_OPEN));
	if (!rc && key.t >= 0)
		rc = mps3_manifest_base_dump(db->m, &doc);
	/* The entries of its last lag it holds, so that readers who list the same need not replay them. */
	has_window = key.t >= 0 && mps3_manifest_settled_window(db->m, key.t - db->cfg.lag_ms, &w) == 0;
	/* Reset whatever happens: a map too big to checkpoint is not rebuilt on every poll. */
	db->settled_since_cp = 0;
	pthread_mutex_unlock(&db->lock);
	memcpy(key.session, db->session, sizeof(key.session));
	key.seq = 0;
	if (!rc && key.t < 0)
		rc = mps3_error_set(-EAGAIN, "nothing is settled yet to checkpoint");
	if (!rc)
		rc = mps3_cpkey_format(name, &key);
	if (!rc)
		rc = mps3_checkpoint_close(&doc, &key, has_window ? &w : NULL);
	if (rc == -EFBIG)
		rc = mps3_error_set(-EFBIG, "a checkpoint of this map would be more than the %zu bytes readers take",
				    db->cfg.max_checkpoint_bytes);
	if (rc) {
		mps3_buf_dispose(&doc);
		return rc;
	}
	snprintf(objkey, sizeof(objkey), "%s%s", db->cp_prefix, name);
	memset(&body, 0, sizeof(body));
	body.data = doc.data;
	body.len = doc.len;
	rc = mps3_store_put(db->store, objkey, &body, NULL);
	mps3_buf_dispose(&doc);
	if (body.len >= (1u << 20))
		mps3_manifest_trim(); /* the text was the database's size */
	if (rc == 0) {
		mps3_info("%s: wrote %s", mps3_store_url(db->store), objkey);
		if (keyout)
			*keyout = key;
	}
	return rc;
}

/* What `mps3 log` says of one listed entry, given what its GET gave (q, NULL if not fetched). */
static const char *log_status(struct mps3_db *db, struct mps3_log_item *it, const struct pending *q)
{
	if (mps3_logkey_parse(&it->key, it->name))
		return "malformed";
	if (it->key.t > db_future_limit(db))
		return "future";
	if (it->info.size > db->cfg.max_entry_bytes)
		return "too-large";
	it->files = q->rc ? NULL : q->entry.files;
	if (!mps3_entry_fresh(it->key.t, it->info.mtime_ms, db->cfg.stale_ms))
		return "stale";
	if (q->rc)
		return q->rc == -EINVAL ? "malformed" : "unreadable";
	return "ok";
}

/* Report one batch of listed entries, fetched in parallel, in listing order. */
static int log_batch(struct mps3_db *db, struct mps3_listing *batch, mps3_db_log_fn fn, void *ctx)
{
	struct pending_list sub = { 0 };
	size_t i, j;
	int rc = 0;

	for (i = 0; rc == 0 && i < batch->n; i++) {
		struct mps3_logkey k;

		if (mps3_logkey_parse(&k, batch->v[i].key + strlen(db->log_prefix)) == 0 &&
		    batch->v[i].info.size <= db->cfg.max_entry_bytes)
			rc = db_pending_add(&sub, batch->v[i].key + strlen(db->log_prefix), &batch->v[i].info);
	}
	if (rc == 0)
		db_fetch_all(db, &sub);
	for (i = 0, j = 0; rc == 0 && i < batch->n; i++) {
		struct mps3_log_item it;
		const struct pending *q = NULL;
		struct mps3_logkey k;

		memset(&it, 0, sizeof(it));
		it.name = batch->v[i].key + strlen(db->log_prefix);
		it.info = batch->v[i].info;
		if (mps3_logkey_parse(&k, it.name) == 0 && it.info.size <= db->cfg.max_entry_bytes) {
			q = &sub.v[j++];
			if (q->rc == -ENOENT)
				continue; /* collected since the LIST */
		}
		it.status = log_status(db, &it, q);
		rc = fn(ctx, &it);
	}
	db_pending_dispose(&sub);
	return rc;
}

int mps3_db_log(struct mps3_db *db, unsigned limit, mps3_db_log_fn fn, void *ctx)
{
	const struct mps3_list_entry *e;
	struct mps3_listing batch;
	struct db_pages it;
	unsigned listed = 0;
	int rc, more;

	db_pages_init(&it, db, db->log_prefix, NULL);
	mps3_listing_init(&batch);
	do {
		more = 0;
		rc = 0;
		while ((!limit || listed < limit) && batch.n < 1000 && (rc = db_page_next(&it, &e)) == 1) {
			rc = mps3_listing_add(&batch, e->key, strlen(e->key), &e->info);
			if (rc)
				break;
			listed++;
			more = 1;
		}
		if (rc < 0)
			break;
		rc = log_batch(db, &batch, fn, ctx);
		mps3_listing_dispose(&batch);
		mps3_listing_init(&batch);
	} while (!rc && more && (!limit || listed < limit));
	mps3_listing_dispose(&batch);
	db_pages_dispose(&it);
	return rc < 0 ? rc : 0;
}

struct cp_item {
	const char *key;
	const struct mps3_objinfo *info;
	int valid;			/* 1: read and kept; 2: kept unread, inside the history window */
	struct mps3_checkpoint cp;
};

/* One collection: what it found, what it keeps, what it reports. */
struct gc_run {
	struct mps3_db *db;
	int dry_run;
	int64_t now, grace;
	int64_t window;			/* states from here on stay whole (H3) */
	int64_t cutoff;			/* log entries older than this are not needed */
	int64_t from;			/* the oldest kept checkpoint's time: states from here on are whole */
	struct mps3_listing cps;
	struct cp_item *items;		/* one per checkpoint listed */
	unsigned valid;
	struct db_refs refs;		/* blobs something kept names */
	struct mps3_gc_report *out;
};

static int gc_delete(struct mps3_db *db, const char *key, int dry_run)
{
	int rc;

	if (dry_run)
		return 0;
	rc = mps3_store_delete(db->store, key);
	if (rc)
		mps3_warn("gc: %s", mps3_error_last(rc));
	return rc;
}

/* Delete an unneeded object once it is past the grace period; counts it. */
static void gc_drop(struct gc_run *g, const char *key, const struct mps3_objinfo *info, unsigned *deleted)
{
	if (g->now - info->mtime_ms < g->grace) {
		g->out->skipped_young++;
		return;
	}
	if (gc_delete(g->db, key, g->dry_run) == 0) {
		(*deleted)++;
		g->out->bytes_deleted += info->size;
	}
}

static void gc_items_free(struct gc_run *g)
{
	size_t i;

	if (g->items)
		for (i = 0; i < g->cps.n; i++)
			json_decref(g->items[i].cp.files);
	free(g->items);
	g->items = NULL;
}

/* A checkpoint's members: to a base that refuses a path twice, and their blobs to the set. */
struct gc_sink {
	struct mps3_base *seen;
	struct db_refs *refs;
};

static int sink_value(const char *path, json_t *v, void *ctx)
{
	struct gc_sink *s = ctx;

	if (s->refs)
		db_refs_add_value(s->refs, v);
	return mps3_base_add_fn(path, v, s->seen);
}

static int sink_packed(const char *path, const struct mps3_packed *p, void *ctx)
{
	struct gc_sink *s = ctx;

	if (s->refs)
		db_refs_add_packed(s->refs, p);
	return mps3_base_add_packed_fn(path, p, s->seen);
}

/*
 * A checkpoint's document read as a mount reads it (the same verdict: a
 * path twice is refused by the base), never its map as JSON; its blobs
 * go to refs (NULL: nowhere) as it goes, so one found broken has given
 * some (kept a while longer, which is only safe).  What
 * mps3_checkpoint_parse returns, with cp->files NULL.
 */
int db_scan_checkpoint(struct mps3_checkpoint *cp, const char *name, struct mps3_buf *buf, struct db_refs *refs)
{
	struct gc_sink sink = { mps3_base_new(), refs };
	int rc;

	if (!sink.seen)
		return mps3_error_set(-ENOMEM, "out of memory");
	rc = mps3_checkpoint_scan(cp, name, mps3_buf_cstr(buf), buf->len, sink_value, sink_packed, &sink);
	mps3_base_free(sink.seen);
	return rc;
}

/* Read one listed checkpoint; 1 if it is valid (its blobs are kept), 0 if not, or the store's error. */
static int gc_read_one(struct gc_run *g, struct cp_item *it)
{
	struct mps3_db *db = g->db;
	const char *name = it->key + strlen(db->cp_prefix);
	struct mps3_buf buf;
	int rc, prc, valid = 0;

	if (it->info->size > db->cfg.max_checkpoint_bytes)
		return 0;
	mps3_buf_init(&buf, db->cfg.max_checkpoint_bytes);
	rc = mps3_store_get_buf(db->store, it->key, &buf, NULL);
	/* One from the future is no checkpoint: keeping it would collect the whole log. */
	if (rc == 0) {
		prc = db_scan_checkpoint(&it->cp, name, &buf, &g->refs);
		if (prc == -ENOMEM)
			rc = prc;
		valid = prc == 0 && it->cp.key.t <= db_future_limit(db);
	}
	mps3_buf_dispose(&buf);
	return rc && rc != -ENOENT ? rc : valid;
}

/*
 * The checkpoints kept: the newest keep_checkpoints valid ones, every one
 * inside the history window, and the newest valid one at or before its
 * start (every state in the window is built from it, H1).  The log is kept
 * from the oldest of those read, less lag.
 */
static int gc_read_checkpoints(struct gc_run *g)
{
	struct mps3_db *db = g->db;
	/* Inside the window, one checkpoint per 64th of it is enough to bound what a view replays. */
	int64_t spacing = db->cfg.history_ms / 64, last_kept = INT64_MAX;
	size_t i;
	int rc = db_list_all(db, db->cp_prefix, &g->cps), base_found = 0;

	if (rc)
		return rc;
	g->items = calloc(g->cps.n ? g->cps.n : 1, sizeof(*g->items));
	if (!g->items)
		return -ENOMEM;
	for (i = 0; i < g->cps.n; i++) { /* newest first */
		struct cp_item *it = &g->items[i];
		struct mps3_logkey k;
		int in_window;

		it->key = g->cps.v[i].key;
		it->info = &g->cps.v[i].info;
		if (mps3_cpkey_parse(&k, it->key + strlen(db->cp_prefix)) || k.t > db_future_limit(db))
			continue;
		in_window = k.t > g->window;
		if (g->valid >= db->cfg.keep_checkpoints && (in_window || base_found)) {
			if (in_window && last_kept - k.t >= spacing) {
				it->valid = 2; /* its states are also the base's plus the kept log */
				last_kept = k.t;
			}
			continue;
		}
		rc = gc_read_one(g, it);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			it->valid = in_window ? 2 : 0;
			continue;
		}
		it->valid = 1;
		g->valid++;
		last_kept = k.t;
		base_found |= !in_window;
		if (it->cp.key.t - db->cfg.lag_ms < g->cutoff) {
			g->cutoff = it->cp.key.t - db->cfg.lag_ms;
			g->from = it->cp.key.t;
		}
	}
	/* No checkpoint as old as the window: every entry in it is needed from the start of the log. */
	if (!base_found && g->window > INT64_MIN && g->valid > 0 && g->cutoff > g->window) {
		g->cutoff = INT64_MIN;
		g->from = INT64_MIN;
	}
	return 0;
}

/*
 * Before any log entry goes: record from when past states stay whole, so
 * that no reader builds one from a log with entries missing (H2).
 */
static int gc_record_history(struct gc_run *g)
{
	struct mps3_body body;
	int64_t have;
	char doc[96];
	int rc;

	if (g->dry_run || g->from == INT64_MIN)
		return 0;
	rc = mps3_db_history_start(g->db, &have);
	if (rc || (have != INT64_MIN && have >= g->from))
		return rc;
	snprintf(doc, sizeof(doc), "{\"v\":1,\"from\":%" PRId64 "}", g->from);
	memset(&body, 0, sizeof(body));
	body.data = doc;
	body.len = strlen(doc);
	return mps3_store_put(g->db->store, HISTORY_KEY, &body, NULL);
}

/* Blobs a snapshot names are kept, however old (H2). */
static int gc_snapshots(struct gc_run *g)
{
	struct mps3_listing snaps;
	size_t i;
	int rc;

	mps3_listing_init(&snaps);
	rc = db_list_all(g->db, SNAP_PREFIX, &snaps);
	for (i = 0; rc == 0 && i < snaps.n; i++) {
		const char *name = snaps.v[i].key + strlen(SNAP_PREFIX);
		json_t *files;

		if (mps3_snapshot_name_check(name)) {
			mps3_error_clear();
			continue;
		}
		rc = mps3_db_snapshot_get(g->db, name, &files, NULL);
		if (rc == 0)
			db_refs_add_files(&g->refs, files);
		json_decref(files);
		if (rc == -EINVAL || rc == -ENOENT)
			rc = 0; /* broken or gone: names nothing we can trust; warned by the reader */
	}
	mps3_listing_dispose(&snaps);
	return rc;
}

/* Checkpoints: keep the retained ones, drop older or broken ones past the grace period. */
static void gc_checkpoints(struct gc_run *g)
{
	size_t i;

	for (i = 0; i < g->cps.n; i++) {
		struct mps3_logkey k;

		if (g->items[i].valid || mps3_cpkey_parse(&k, g->items[i].key + strlen(g->db->cp_prefix)))
			g->out->checkpoints_kept += g->items[i].valid != 0; /* a name not ours is never deleted */
		else if (g->valid > 0)
			gc_drop(g, g->items[i].key, g->items[i].info, &g->out->checkpoints_deleted);
	}
}

/* Log entries older than the oldest retained checkpoint's window; the rest name blobs to keep. */
static int gc_log(struct gc_run *g)
{
	struct mps3_db *db = g->db;
	struct mps3_listing logs;
	struct pending_list kept = { 0 };
	size_t i;
	int rc;

	mps3_listing_init(&logs);
	rc = db_list_all(db, db->log_prefix, &logs);
	for (i = 0; rc == 0 && i < logs.n; i++) {
		const char *name = logs.v[i].key + strlen(db->log_prefix);
		struct mps3_logkey k;

		if (mps3_logkey_parse(&k, name))
			continue; /* not ours to judge */
		if (k.t < g->cutoff) {
			gc_drop(g, logs.v[i].key, &logs.v[i].info, &g->out->entries_deleted);
			continue;
		}
		g->out->entries_kept++;
		if (logs.v[i].info.size <= db->cfg.max_entry_bytes)
			rc = db_pending_add(&kept, name, &logs.v[i].info);
	}
	if (rc == 0)
		db_fetch_all(db, &kept);
	for (i = 0; rc == 0 && i < kept.n; i++) {
		if (kept.v[i].rc == 0)
			db_refs_add_files(&g->refs, kept.v[i].entry.files);
		else if (kept.v[i].rc != -EINVAL && kept.v[i].rc != -ENOENT)
			rc = mps3_error_set(kept.v[i].rc, "gc: cannot read log/%s (%s); not deleting blobs",
					    kept.v[i].name, kept.v[i].err);
	}
	db_pending_dispose(&kept);
	mps3_listing_dispose(&logs);
	return rc;
}

static int ref_raw(const char *path, const struct mps3_packed *p, json_t *j, void *refs)
{
	return p ? db_refs_packed_fn(path, p, refs) : db_refs_value_fn(path, j, refs);
}

/* Blobs: referenced by a kept checkpoint, a kept entry, or the state we hold. */
static int gc_blobs(struct gc_run *g)
{
	struct mps3_listing blobs;
	size_t i;
	int rc = mps3_db_foreach_raw(g->db, ref_raw, &g->refs);

	if (!rc)
		rc = db_refs_err(&g->refs);
	if (rc)
		return mps3_error_set(rc, "gc: out of memory gathering the blobs in use; no blob deleted");
	mps3_listing_init(&blobs);
	rc = db_list_all(g->db, BLOB_PREFIX, &blobs);
	for (i = 0; rc == 0 && i < blobs.n; i++) {
		const char *hex = blobs.v[i].key + strlen(BLOB_PREFIX);

		/* Not a name of ours (G1: malformed names are never deleted). */
		if (!mps3_is_sha256_hex(hex))
			continue;
		if (db_refs_has_hex(&g->refs, hex))
			g->out->blobs_kept++;
		else
			gc_drop(g, blobs.v[i].key, &blobs.v[i].info, &g->out->blobs_deleted);
	}
	mps3_listing_dispose(&blobs);
	return rc;
}

int mps3_db_gc(struct mps3_db *db, int dry_run, struct mps3_gc_report *out)
{
	struct gc_run g;
	int rc;

	memset(out, 0, sizeof(*out));
	if (db->branch[0])
		return mps3_error_set(-EINVAL, "gc runs on the main line (it keeps what branch %s needs)", db->branch);
	memset(&g, 0, sizeof(g));
	g.db = db;
	g.dry_run = dry_run;
	g.now = mps3_clock_now(db->clock);
	g.grace = db->cfg.gc_grace_ms;
	g.window = db->cfg.history_ms > 0 ? g.now - db->cfg.history_ms : INT64_MAX;
	g.cutoff = INT64_MAX;
	g.from = INT64_MIN;
	g.out = out;
	db_refs_init(&g.refs);
	mps3_listing_init(&g.cps);
	rc = gc_read_checkpoints(&g);
	if (rc == 0 && g.valid == 0 && !dry_run) {
		/* Nothing to keep the history short with: write a checkpoint first. */
		gc_items_free(&g);
		mps3_listing_dispose(&g.cps);
		mps3_listing_init(&g.cps);
		rc = mps3_db_checkpoint(db, NULL);
		if (rc == -EFBIG) {
			/* Too big for readers: collect as without a checkpoint (the whole log is kept). */
			mps3_warn("%s: %s", mps3_store_url(db->store), mps3_error_last(rc));
			rc = 0;
		} else if (rc == 0) {
			rc = gc_read_checkpoints(&g);
		}
	}
	if (g.valid == 0) {
		g.cutoff = INT64_MIN; /* no checkpoint: every log entry is needed */
		g.from = INT64_MIN;
	}
	if (rc == 0)
		rc = gc_record_history(&g);
	if (rc == 0)
		gc_checkpoints(&g);
	if (rc == 0)
		rc = gc_log(&g);
	if (rc == 0)
		rc = gc_snapshots(&g);
	if (rc == 0)
		rc = db_branch_blobs(db, &g.refs);
	if (rc == 0)
		rc = gc_blobs(&g);
	gc_items_free(&g);
	mps3_listing_dispose(&g.cps);
	db_refs_dispose(&g.refs);
	return rc;
}
