/*
 * db/db.c - the database object: opening it (from a saved state or by
 * resolving the bucket), reads of the resolved map, the listener, and
 * blobs.  Writing is db/commit.c, reading the log db/fetch.c and
 * db/poll.c, the state file db/state.c, maintenance db/maint.c.
 *
 * DESIGN.  State lives in a manifest (db/manifest.c) guarded by `lock`.  No
 * lock is held across store I/O except `poll_lock`, which only serialises
 * pollers with each other.  Changes reach the listener in the order they were
 * applied: the thread that applies them takes `deliver` before `lock` and
 * keeps it while calling the listener.  Lock order: poll_lock, deliver, lock.
 *
 * Ordering.  An entry's time is max(store-now, newest seen + 1): whatever a
 * client has observed is ordered before what it writes next.  A writer
 * accepts its own entry only if it can prove every reader will find its
 * name time within `stale` of its LastModified; otherwise it commits the
 * patch again under a fresh name (the first copy, if readers do accept it,
 * replays harmlessly).  A poller lists the log back to its horizon (the time
 * of its previous LIST minus `lag`); because accepted entries become visible
 * within `stale` of their time and lag > stale, nothing it has not seen can
 * be older than the horizon.  docs/PROTOCOL.md has the full argument.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/jsfmt.h"
#include "mps3/hash.h"
#include "mps3/log.h"
#include "mps3/rand.h"
#include "mps3/history.h"
#include "internal.h"

void mps3_db_config_init(struct mps3_db_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->lag_ms = 10000;
	cfg->stale_ms = 3000;
	cfg->max_entry_bytes = 8u << 20;
	cfg->max_checkpoint_bytes = 1u << 30;
	cfg->fetch_parallel = 32;
	cfg->gc_grace_ms = 3600 * 1000;
	cfg->keep_checkpoints = 2;
	cfg->history_ms = 7 * 86400 * 1000LL;
	cfg->checkpoint_every = 256;
}

/*
 * A resolved value with a valid type but fields of the wrong type or range
 * is hidden (the path does not exist); say so, once per path and value.
 */
static void report_malformed(struct mps3_db *db, const char *path, json_t *v)
{
	struct mps3_entry e;
	json_t *seen;
	int rc, first;

	if (!v || (rc = mps3_entry_parse(&e, v)) != -EINVAL)
		return;
	pthread_mutex_lock(&db->lock);
	seen = json_object_get(db->reported, path);
	first = !seen || !json_equal(seen, v);
	if (first)
		json_object_set(db->reported, path, v);
	pthread_mutex_unlock(&db->lock);
	if (first)
		mps3_warn("%s: %s: malformed entry (%s); the path is hidden", mps3_store_url(db->store), path,
			  mps3_error_last(rc));
}

static int collect_malformed(const char *path, const struct mps3_packed *p, json_t *j, void *ctx)
{
	struct mps3_entry e;
	json_t *v;

	if (p ? mps3_packed_entry(&e, p) != -EINVAL : mps3_entry_parse(&e, j) != -EINVAL)
		return 0;
	v = p ? mps3_packed_to_json(p) : json_incref(j);
	return json_object_set_new(ctx, path, v) ? -ENOMEM : 0;
}

/* Every malformed value of the resolved map, reported once (at open). */
static void report_all_malformed(struct mps3_db *db)
{
	json_t *bad = json_object(), *v;
	const char *path;

	if (!bad)
		return;
	pthread_mutex_lock(&db->lock);
	mps3_manifest_foreach_raw(db->m, collect_malformed, bad); /* (out of memory: fewer reported) */
	pthread_mutex_unlock(&db->lock);
	json_object_foreach(bad, path, v)
		report_malformed(db, path, v);
	json_decref(bad);
}

void db_deliver(struct mps3_db *db, struct mps3_changes *changes, int local)
{
	size_t i;

	mps3_changes_compact(changes);
	for (i = 0; i < changes->n; i++)
		report_malformed(db, changes->v[i].path, changes->v[i].new);
	if (db->fn && changes->n)
		db->fn(db->fn_ctx, changes, local);
}

static int random_session(char out[MPS3_SESSION_LEN + 1])
{
	return mps3_random_hex(out, MPS3_SESSION_LEN / 2);
}

int mps3_db_open(struct mps3_db **out, struct mps3_store *store,
		 const struct mps3_db_config *cfg)
{
	struct mps3_db *db = calloc(1, sizeof(*db));
	int rc;

	*out = NULL;
	if (!db)
		return -ENOMEM;
	if (cfg)
		db->cfg = *cfg;
	else
		mps3_db_config_init(&db->cfg);
	if (db->cfg.lag_ms <= db->cfg.stale_ms)
		return mps3_error_set(-EINVAL, "lag (%" PRId64 " ms) must be larger than stale (%" PRId64 " ms)",
				      db->cfg.lag_ms, db->cfg.stale_ms);
	db->store = store;
	db->clock = mps3_store_clock(store);
	snprintf(db->log_prefix, sizeof(db->log_prefix), "log/");
	snprintf(db->cp_prefix, sizeof(db->cp_prefix), "checkpoint/");
	snprintf(db->head_key, sizeof(db->head_key), "head");
	if (db->cfg.branch) {
		/* A branch: its own log, checkpoints and head, beside the main line's, sharing blobs/. */
		rc = mps3_snapshot_name_check(db->cfg.branch);
		if (rc) {
			free(db);
			return mps3_error_set(-EINVAL, "branch: %s", mps3_error_last(rc));
		}
		snprintf(db->branch, sizeof(db->branch), "%s", db->cfg.branch);
		db->cfg.branch = db->branch;
		snprintf(db->log_prefix, sizeof(db->log_prefix), BRANCH_PREFIX "%s/log/", db->branch);
		snprintf(db->cp_prefix, sizeof(db->cp_prefix), BRANCH_PREFIX "%s/checkpoint/", db->branch);
		snprintf(db->head_key, sizeof(db->head_key), BRANCH_PREFIX "%s/head", db->branch);
	}
	db->exact_mtime = strcmp(mps3_store_scheme(store), "s3") != 0;
	pthread_mutex_init(&db->lock, NULL);
	pthread_mutex_init(&db->deliver, NULL);
	pthread_mutex_init(&db->poll_lock, NULL);
	pthread_mutex_init(&db->head_lock, NULL);
	db->list_due = INT64_MAX;
	db->m = mps3_manifest_new();
	if (db->m)
		mps3_manifest_keep_settled(db->m, db->cfg.lag_ms); /* for the window of a checkpoint */
	db->known = json_object();
	db->unsure = json_object();
	db->reported = json_object();
	if (!db->m || !db->known || !db->unsure || !db->reported) {
		rc = -ENOMEM;
		goto fail;
	}
	db->stats.newest = INT64_MIN;
	if (db->cfg.session) {
		if (!mps3_session_valid(db->cfg.session)) {
			rc = mps3_error_set(-EINVAL, "session id must be %d lower-case hex digits",
					    MPS3_SESSION_LEN);
			goto fail;
		}
		memcpy(db->session, db->cfg.session, sizeof(db->session));
	} else {
		rc = random_session(db->session);
		if (rc)
			goto fail;
	}
	db->cfg.session = NULL;
	if (db->cfg.js) {
		/* The client's layout: no state file, no checkpoints; its own resolution. */
		db->cfg.state_file = NULL;
		db->cfg.checkpoint_every = 0;
		rc = db_js_open(db, db->cfg.js);
		db->cfg.js = NULL; /* borrowed for the open only */
		if (rc)
			goto fail;
		*out = db;
		return 0;
	}
	if (db_load_state(db)) {
		/* Catch up from the saved state: usually one conditional GET. */
		db->stats.from_state = 1;
		rc = db_check_anchor(db);
		if (rc == -ENOENT) {
			db->stats.from_state = 0;
			mps3_notice("%s: the saved state is of another history of this bucket; resolving afresh",
				    mps3_store_url(store));
			rc = db_resolve(db, NULL);
		} else if (rc == 0) {
			if (db->cfg.list_at_open) {
				pthread_mutex_lock(&db->lock);
				db->head_etag[0] = '\0'; /* the poll LISTs */
				pthread_mutex_unlock(&db->lock);
			}
			rc = mps3_db_poll(db, NULL);
		}
		if (rc && db->cfg.allow_offline && rc != -EACCES && rc != -EINVAL && rc != -ENOMEM) {
			mps3_warn("%s: store unreachable (%s); starting from the saved state, offline",
				  mps3_store_url(store), mps3_error_last(rc));
			if (db->cfg.list_at_open) {
				db->need_list = 1;
				db->head_etag[0] = '\0'; /* the next poll LISTs */
			}
			rc = 0;
		}
	} else {
		rc = db_resolve(db, NULL);
	}
	if (rc)
		goto fail;
	report_all_malformed(db);
	/* A long log since the last checkpoint makes every open slow: shorten it. */
	if (db_maybe_checkpoint(db))
		mps3_notice("%s: could not write a checkpoint: %s", mps3_store_url(db->store),
			    mps3_error_last(-EIO));
	*out = db;
	return 0;
fail:
	mps3_db_free(db);
	return rc;
}

void mps3_db_free(struct mps3_db *db)
{
	unsigned i;

	if (!db)
		return;
	db_js_free(db);
	mps3_manifest_free(db->m);
	for (i = 0; i < KEPT_CP; i++)
		json_decref(db->kept[i].files);
	json_decref(db->known);
	json_decref(db->unsure);
	json_decref(db->reported);
	pthread_mutex_destroy(&db->lock);
	pthread_mutex_destroy(&db->deliver);
	pthread_mutex_destroy(&db->poll_lock);
	pthread_mutex_destroy(&db->head_lock);
	free(db);
}

int mps3_db_found(struct mps3_db *db)
{
	int found;

	if (db->js || db->branch[0])
		return 1;
	pthread_mutex_lock(&db->lock);
	found = db->head_etag[0] || db->stats.checkpoint[0] || db->anchor[0] || json_object_size(db->known) > 0 ||
		mps3_manifest_base_size(db->m) > 0 || mps3_manifest_window_len(db->m) > 0;
	pthread_mutex_unlock(&db->lock);
	return found;
}

uint64_t mps3_db_max_file(const struct mps3_db *db)
{
	return db->js ? MPS3_JS_VALUE_MAX : UINT64_MAX;
}

int mps3_db_files_only(const struct mps3_db *db)
{
	return db->js != NULL;
}

const char *mps3_db_session(const struct mps3_db *db)
{
	return db->session;
}

struct mps3_store *mps3_db_store(struct mps3_db *db)
{
	return db->store;
}

/* ---- reads ------------------------------------------------------------ */

int mps3_db_get(struct mps3_db *db, const char *path, json_t **out)
{
	json_t *v;
	int err;

	pthread_mutex_lock(&db->lock);
	v = mps3_manifest_get(db->m, path, &err);
	pthread_mutex_unlock(&db->lock);
	*out = v;
	return v ? 0 : err ? err : -ENOENT;
}

json_t *mps3_db_files(struct mps3_db *db)
{
	json_t *copy;

	pthread_mutex_lock(&db->lock);
	copy = mps3_manifest_files_copy(db->m);
	pthread_mutex_unlock(&db->lock);
	return copy;
}

int mps3_db_foreach(struct mps3_db *db, int (*fn)(const char *path, json_t *v, void *ctx), void *ctx)
{
	int rc;

	pthread_mutex_lock(&db->lock);
	rc = mps3_manifest_foreach(db->m, fn, ctx);
	pthread_mutex_unlock(&db->lock);
	return rc;
}

int mps3_db_foreach_raw(struct mps3_db *db, mps3_raw_fn fn, void *ctx)
{
	int rc;

	pthread_mutex_lock(&db->lock);
	rc = mps3_manifest_foreach_raw(db->m, fn, ctx);
	pthread_mutex_unlock(&db->lock);
	return rc;
}

int db_files_dump(struct mps3_db *db, struct mps3_buf *out)
{
	int rc;

	pthread_mutex_lock(&db->lock);
	rc = mps3_manifest_files_dump(db->m, out);
	pthread_mutex_unlock(&db->lock);
	return rc;
}

void mps3_db_set_listener(struct mps3_db *db, mps3_db_listener fn, void *ctx)
{
	pthread_mutex_lock(&db->deliver);
	db->fn = fn;
	db->fn_ctx = ctx;
	pthread_mutex_unlock(&db->deliver);
}

/* ---- blobs ------------------------------------------------------------- */

int mps3_db_blob_put(struct mps3_db *db, const struct mps3_body *body,
		     char hex[MPS3_SHA256_HEX_LEN + 1])
{
	char key[sizeof(BLOB_PREFIX) + MPS3_SHA256_HEX_LEN];
	struct mps3_body b = *body;
	int rc;

	if (db->js)
		return db_js_blob_put(db, body, hex);
	if (body->sha256_hex) {
		memcpy(hex, body->sha256_hex, MPS3_SHA256_HEX_LEN + 1);
	} else if (body->data) {
		mps3_sha256_hex(hex, body->data, (size_t)body->len);
	} else {
		unsigned char md[MPS3_SHA256_LEN];

		rc = mps3_sha256_fd(md, body->fd, body->off, body->len);
		if (rc)
			return mps3_error_set(rc, "cannot read the content to upload: %s", strerror(-rc));
		mps3_hex(hex, md, sizeof(md));
	}
	b.sha256_hex = hex;
	snprintf(key, sizeof(key), BLOB_PREFIX "%s", hex);
	/*
	 * Large blobs that are already there and fresh enough to outlive the
	 * GC grace period are not sent again; small ones are cheaper to PUT
	 * than to ask about.
	 */
	if (body->len >= (8u << 20)) {
		struct mps3_objinfo info;

		if (mps3_store_head(db->store, key, &info) == 0 && info.size == body->len &&
		    mps3_clock_now(db->clock) - info.mtime_ms < db->cfg.gc_grace_ms / 2)
			return 0;
		mps3_error_clear();
	}
	return mps3_store_put(db->store, key, &b, NULL);
}

int mps3_db_blob_head(struct mps3_db *db, const char *hex, struct mps3_objinfo *info)
{
	char key[sizeof(BLOB_PREFIX) + MPS3_SHA256_HEX_LEN];

	if (!mps3_is_sha256_hex(hex))
		return mps3_error_set(-EINVAL, "\"%s\" is not a blob name", hex);
	if (db->js)
		return db_js_blob_head(db, hex, info);
	snprintf(key, sizeof(key), BLOB_PREFIX "%s", hex);
	return mps3_store_head(db->store, key, info);
}

struct hash_sink {
	struct mps3_sink *inner;
	struct mps3_sha256 h;
};

static int hash_write(void *ctx, const void *p, size_t n)
{
	struct hash_sink *hs = ctx;

	mps3_sha256_update(&hs->h, p, n);
	return hs->inner->write(hs->inner->ctx, p, n);
}

int mps3_db_blob_get(struct mps3_db *db, const char *hex, const struct mps3_get_opts *opts,
		     struct mps3_sink *sink)
{
	char key[sizeof(BLOB_PREFIX) + MPS3_SHA256_HEX_LEN];
	struct hash_sink hs;
	struct mps3_sink s;
	unsigned char md[MPS3_SHA256_LEN];
	char got[MPS3_SHA256_HEX_LEN + 1];
	int whole = !opts || (opts->off == 0 && opts->len == 0 && !opts->if_none_match);
	struct mps3_get_opts all = { NULL, 0, 0, opts ? opts->size_hint : 0 };
	int rc;

	if (!mps3_is_sha256_hex(hex))
		return mps3_error_set(-EINVAL, "\"%s\" is not a blob name", hex);
	if (db->js)
		return db_js_blob_get(db, hex, opts, sink);
	snprintf(key, sizeof(key), BLOB_PREFIX "%s", hex);
	if (!whole)
		return mps3_store_get(db->store, key, opts, sink, NULL);
	hs.inner = sink;
	rc = mps3_sha256_init(&hs.h);
	if (rc)
		return rc;
	s.write = hash_write;
	s.ctx = &hs;
	rc = mps3_store_get(db->store, key, &all, &s, NULL);
	if (rc) {
		mps3_sha256_dispose(&hs.h);
		return rc;
	}
	mps3_sha256_final(&hs.h, md);
	mps3_hex(got, md, sizeof(md));
	if (strcmp(got, hex) != 0) {
		mps3_warn("%s: %s is corrupt: its content hashes to %s", mps3_store_url(db->store),
			  key, got);
		return mps3_error_set(-EBADMSG, "%s: content does not match its hash (corrupt object)",
				      key);
	}
	return 0;
}

void mps3_db_get_stats(struct mps3_db *db, struct mps3_db_stats *out)
{
	pthread_mutex_lock(&db->lock);
	*out = db->stats;
	out->horizon = mps3_manifest_horizon(db->m);
	out->window = mps3_manifest_window_len(db->m);
	out->paths = mps3_manifest_size(db->m);
	pthread_mutex_unlock(&db->lock);
	out->clock_offset_ms = mps3_clock_offset(db->clock);
	out->clock_uncertainty_ms = mps3_clock_uncertainty(db->clock);
}

