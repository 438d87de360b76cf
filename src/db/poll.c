/*
 * db/poll.c - resolving the log (R1: newest valid checkpoint, then every
 * entry after it), settling the window up to the horizon (R3), and the
 * poll: a conditional GET of head, and a LIST plus GETs only when it moved
 * (P1, P2).  Changes reach the listener in the order they were applied.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/log.h"
#include "internal.h"

/* Fold the window up to the new horizon (lock held). */
int db_settle(struct mps3_db *db, int64_t list_time)
{
	size_t before = mps3_manifest_window_len(db->m);
	int rc = mps3_manifest_settle(db->m, list_time - db->cfg.lag_ms);

	if (rc)
		return rc;
	db->settled_since_cp += (unsigned)(before - mps3_manifest_window_len(db->m));
	db->last_list = list_time;
	db->need_list = 0;
	db_known_prune(db);
	return 0;
}

/* Call the listener with changes, in order (deliver held by the caller). */

/* ---- checkpoints ----------------------------------------------------- */

/* The full key of the newest name a checkpoint may have now (see db_future_limit). */
void db_future_cpkey(struct mps3_db *db, char out[PREFIX_MAX + MPS3_LOGNAME_MAX])
{
	struct mps3_logkey k = { 0, "0000000000000000", 0 };
	char name[MPS3_LOGNAME_MAX];

	k.t = db_future_limit(db);
	if (k.t > MPS3_TIME_MAX)
		k.t = MPS3_TIME_MAX;
	/* Names sort newest first: starting after the limit's name skips every later one. */
	if (mps3_cpkey_format(name, &k))
		name[0] = '\0';
	else
		name[MPS3_TIME_DIGITS] = '\0';
	snprintf(out, PREFIX_MAX + MPS3_LOGNAME_MAX, "%s%s", db->cp_prefix, name);
}

/* The kept map of checkpoint name into cp (files a new reference); 1 if it was kept. */
static int kept_get(struct mps3_db *db, const char *name, struct mps3_checkpoint *cp)
{
	unsigned i;

	cp->files = NULL;
	pthread_mutex_lock(&db->lock);
	for (i = 0; i < KEPT_CP && !cp->files; i++)
		if (db->kept[i].files && strcmp(db->kept[i].name, name) == 0) {
			cp->files = json_incref(db->kept[i].files);
			cp->has_window = db->kept[i].has_window;
			cp->window = db->kept[i].window;
			db->kept[i].used = ++db->kept_clock;
		}
	pthread_mutex_unlock(&db->lock);
	return cp->files != NULL;
}

/* Keep a checkpoint just read, in place of the least recently used. */
static void kept_put(struct mps3_db *db, const char *name, const struct mps3_checkpoint *cp)
{
	struct kept_cp *k;
	json_t *old;
	unsigned i;

	if (strlen(name) >= sizeof(k->name))
		return;
	pthread_mutex_lock(&db->lock);
	k = &db->kept[0];
	for (i = 1; i < KEPT_CP; i++)
		if (!db->kept[i].files || (k->files && db->kept[i].used < k->used))
			k = &db->kept[i];
	old = k->files;
	k->files = json_incref(cp->files);
	k->t = cp->key.t;
	k->has_window = cp->has_window;
	k->window = cp->window;
	k->used = ++db->kept_clock;
	snprintf(k->name, sizeof(k->name), "%s", name);
	pthread_mutex_unlock(&db->lock);
	json_decref(old); /* a big map: freed outside the lock */
}

/*
 * The checkpoint just resolved from is in the manifest now, held compactly:
 * its JSON map (the size of the database many times over) is not kept too.
 * A view of it reads it again.
 */
static void kept_drop(struct mps3_db *db, const char *name)
{
	json_t *drop = NULL;
	unsigned i;

	pthread_mutex_lock(&db->lock);
	for (i = 0; i < KEPT_CP; i++)
		if (db->kept[i].files && strcmp(db->kept[i].name, name) == 0) {
			drop = db->kept[i].files;
			db->kept[i].files = NULL;
		}
	pthread_mutex_unlock(&db->lock);
	json_decref(drop);
}

void mps3_db_forget_past(struct mps3_db *db)
{
	json_t *drop[KEPT_CP] = { NULL };
	unsigned i, newest = 0;

	pthread_mutex_lock(&db->lock);
	for (i = 1; i < KEPT_CP; i++)
		if (db->kept[i].files && (!db->kept[newest].files || db->kept[i].t > db->kept[newest].t))
			newest = i;
	for (i = 0; i < KEPT_CP; i++)
		if (i != newest) {
			drop[i] = db->kept[i].files;
			db->kept[i].files = NULL;
		}
	pthread_mutex_unlock(&db->lock);
	for (i = 0; i < KEPT_CP; i++)
		json_decref(drop[i]);
}

int db_read_checkpoint(struct mps3_db *db, const struct mps3_list_entry *e, struct mps3_checkpoint *cp)
{
	const char *name = e->key + strlen(db->cp_prefix);
	struct mps3_buf buf;
	int rc;

	if (mps3_cpkey_parse(&cp->key, name)) {
		mps3_warn("%s: ignoring %s: not a checkpoint name", mps3_store_url(db->store), e->key);
		return 1;
	}
	if (cp->key.t > db_future_limit(db)) {
		/* A store that ignores start-after listed it anyway. */
		mps3_warn("%s: ignoring %s: dated later than any client can write now", mps3_store_url(db->store),
			  e->key);
		return 1;
	}
	if (e->info.size > db->cfg.max_checkpoint_bytes) {
		mps3_warn("%s: ignoring %s: %" PRIu64 " bytes is more than the %zu a checkpoint may have",
			  mps3_store_url(db->store), e->key, e->info.size, db->cfg.max_checkpoint_bytes);
		return 1;
	}
	if (kept_get(db, name, cp))
		return 0; /* read and checked before: checkpoints are never rewritten */
	mps3_buf_init(&buf, db->cfg.max_checkpoint_bytes);
	rc = mps3_store_get_buf(db->store, e->key, &buf, NULL);
	if (rc == 0)
		rc = mps3_checkpoint_parse(cp, name, mps3_buf_cstr(&buf), buf.len);
	mps3_buf_dispose(&buf);
	if (rc == 0)
		kept_put(db, name, cp);
	if (rc == -ENOENT)
		return 1; /* collected since the LIST */
	if (rc == -EINVAL) {
		mps3_warn("%s: ignoring %s: %s; trying an older one", mps3_store_url(db->store), e->key,
			  mps3_error_last(rc));
		return 1;
	}
	return rc;
}

/*
 * The newest valid checkpoint: files (new ref) and its key; files NULL if
 * none.  Checkpoints named after what any client can write now are skipped
 * without being read (fsck reports them).
 */
static int load_checkpoint(struct mps3_db *db, struct mps3_checkpoint *out, char name_out[MPS3_LOGNAME_MAX])
{
	char after[PREFIX_MAX + MPS3_LOGNAME_MAX];
	const struct mps3_list_entry *e;
	struct db_pages it;
	int rc;

	memset(out, 0, sizeof(*out));
	name_out[0] = '\0';
	db_future_cpkey(db, after);
	db_pages_init(&it, db, db->cp_prefix, after);
	while ((rc = db_page_next(&it, &e)) == 1) {
		struct mps3_checkpoint cp;

		rc = db_read_checkpoint(db, e, &cp);
		if (rc == 1)
			continue;
		if (rc)
			break;
		*out = cp;
		snprintf(name_out, MPS3_LOGNAME_MAX, "%s", e->key + strlen(db->cp_prefix));
		break;
	}
	db_pages_dispose(&it);
	return rc < 0 ? rc : 0;
}

/* ---- open and resolve ------------------------------------------------ */

int db_read_head(struct mps3_db *db, const char *if_none_match, char etag[MPS3_ETAG_MAX])
{
	struct mps3_get_opts opts = { if_none_match, 0, 0, 0 };
	struct mps3_objinfo info;
	struct mps3_buf buf;
	struct mps3_sink sink;
	int rc;

	mps3_buf_init(&buf, 4096);
	mps3_sink_buf(&sink, &buf);
	memset(&info, 0, sizeof(info));
	rc = mps3_store_get(db->store, db->head_key, &opts, &sink, &info);
	mps3_buf_dispose(&buf);
	if (rc == 0 || rc == MPS3_NOT_MODIFIED) {
		memcpy(etag, info.etag, MPS3_ETAG_MAX);
		return 0;
	}
	if (rc == -ENOENT) {
		etag[0] = '\0';
		mps3_error_clear();
		return 0; /* an empty database */
	}
	if (rc == -EFBIG) {
		/* Odd content (planted?): its ETag still tells changes apart, so ask for it alone. */
		memset(&info, 0, sizeof(info));
		rc = mps3_store_head(db->store, db->head_key, &info);
		if (rc == 0 && !info.etag[0])
			rc = mps3_error_set(-EIO, "%s: the head object has no ETag", mps3_store_url(db->store));
		if (rc == -ENOENT) {
			info.etag[0] = '\0';
			rc = 0;
		}
		if (rc == 0) {
			memcpy(etag, info.etag, MPS3_ETAG_MAX);
			mps3_error_clear();
		}
		return rc;
	}
	return rc;
}

/*
 * Full resolution: newest valid checkpoint plus the log after it.  Used at
 * open and when a client has been away so long that GC may have removed
 * entries between its horizon and now.
 */
int db_resolve(struct mps3_db *db, struct mps3_changes *changes)
{
	struct pending_list list = { 0 };
	struct mps3_checkpoint cp;
	struct mps3_logkey *covered = NULL;
	char etag[MPS3_ETAG_MAX], cpname[MPS3_LOGNAME_MAX];
	json_t *cpfiles;
	int64_t stop = INT64_MIN, list_time;
	size_t ncovered = 0;
	int rc, skip = 0;

	rc = db_read_head(db, NULL, etag);
	if (rc)
		return rc;
	rc = load_checkpoint(db, &cp, cpname);
	if (rc)
		return rc;
	cpfiles = cp.files;
	if (cpfiles)
		stop = cp.key.t - db->cfg.lag_ms;
	else if (db->branch[0]) {
		/* A branch without a checkpoint of its own: its base, and its whole log over it. */
		int64_t t;

		rc = db_branch_base(db, db->branch, &cpfiles, &t);
		if (rc)
			return rc;
	}
	/*
	 * Everything is applied again from the checkpoint, so the listing must
	 * queue what was applied before too (P2 comes here with a full known
	 * set); what was ignored stays ignored, and is not reported again.
	 */
	pthread_mutex_lock(&db->lock);
	db_known_forget_applied(db);
	pthread_mutex_unlock(&db->lock);
	list_time = mps3_clock_now(db->clock);
	rc = db_list_log(db, stop, &list);
	if (rc == 0 && cp.files)
		rc = skip = db_skip_window(db, &cp, &list, &covered, &ncovered);
	if (rc < 0)
		goto out;
	db_fetch_all(db, &list);

	pthread_mutex_lock(&db->lock);
	/* The window the checkpoint already holds is behind the horizon, known by name. */
	rc = mps3_manifest_reset(db->m, cpfiles, skip ? cp.key.t : stop, changes);
	if (!rc && skip)
		rc = mps3_manifest_note_settled(db->m, stop, covered, ncovered);
	if (!rc)
		rc = db_apply_fetched(db, &list, changes);
	if (rc == 0 || rc == -EIO || rc == -ETIMEDOUT || rc == -ECONNREFUSED) {
		int rc2 = db_settle(db, list_time);

		if (rc == 0)
			rc = rc2;
	}
	if (rc == 0) {
		memcpy(db->head_etag, etag, sizeof(etag));
		snprintf(db->stats.checkpoint, sizeof(db->stats.checkpoint), "%s", cpname);
		db->stats.last_poll_ok = list_time;
	}
	pthread_mutex_unlock(&db->lock);
out:
	json_decref(cpfiles);
	if (rc == 0 && cp.files)
		kept_drop(db, cpname);
	free(covered);
	db_pending_dispose(&list);
	/* The checkpoint's text and JSON were the database's size many times over: give their pages back. */
	mps3_manifest_trim();
	return rc;
}

/* ---- poll ---------------------------------------------------------------- */

int db_maybe_checkpoint(struct mps3_db *db)
{
	int due;

	pthread_mutex_lock(&db->lock);
	/* Bigger maps make bigger checkpoints: space them out in proportion. */
	due = db->cfg.checkpoint_every &&
	      db->settled_since_cp >= db->cfg.checkpoint_every &&
	      db->settled_since_cp >= mps3_manifest_base_size(db->m) / 16;
	pthread_mutex_unlock(&db->lock);
	if (!due)
		return 0;
	return mps3_db_checkpoint(db, NULL);
}

int mps3_db_poll(struct mps3_db *db, int *changed)
{
	struct pending_list list = { 0 };
	struct mps3_changes changes;
	char etag[MPS3_ETAG_MAX], old[MPS3_ETAG_MAX];
	int64_t list_time, horizon, last_list;
	int rc, full;

	if (db->js)
		return db_js_poll(db, changed);

	if (changed)
		*changed = 0;
	mps3_changes_init(&changes);
	pthread_mutex_lock(&db->poll_lock);
	db_flush_head(db);
	pthread_mutex_lock(&db->lock);
	memcpy(old, db->head_etag, sizeof(old));
	last_list = db->last_list;
	horizon = mps3_manifest_horizon(db->m);
	db->stats.polls++;
	pthread_mutex_unlock(&db->lock);

	/* Away longer than half the GC grace: entries we never saw may be gone. */
	full = mps3_clock_now(db->clock) - last_list > db->cfg.gc_grace_ms / 2;
	if (full) {
		mps3_notice("%s: last listing is older than half the GC grace period; resolving afresh",
			    mps3_store_url(db->store));
		pthread_mutex_lock(&db->deliver);
		rc = db_resolve(db, &changes);
		if (rc == 0) {
			pthread_mutex_lock(&db->lock);
			db->stats.polls_changed++;
			pthread_mutex_unlock(&db->lock);
			db_deliver(db, &changes, 0);
		}
		pthread_mutex_unlock(&db->deliver);
		goto out;
	}

	rc = db_read_head(db, old[0] ? old : NULL, etag);
	if (rc)
		goto out;
	/*
	 * Unchanged head: nothing to do, except that a LIST at least every
	 * quarter of the GC grace period also finds entries whose writer died
	 * before updating head, before GC could remove them unseen (P2).
	 */
	if (strcmp(etag, old) == 0 &&
	    mps3_clock_now(db->clock) - last_list <= db->cfg.gc_grace_ms / 4) {
		pthread_mutex_lock(&db->lock);
		db->stats.last_poll_ok = mps3_clock_now(db->clock);
		pthread_mutex_unlock(&db->lock);
		goto out;
	}

	list_time = mps3_clock_now(db->clock);
	rc = db_list_log(db, horizon, &list);
	if (rc)
		goto out;
	db_fetch_all(db, &list);

	pthread_mutex_lock(&db->deliver);
	pthread_mutex_lock(&db->lock);
	rc = db_apply_fetched(db, &list, &changes);
	if (rc == 0) {
		rc = db_settle(db, list_time);
		/* Only a complete pass may move our idea of head forward. */
		if (rc == 0) {
			memcpy(db->head_etag, etag, sizeof(etag));
			db->stats.last_poll_ok = list_time;
			db->stats.polls_changed++;
		}
	}
	pthread_mutex_unlock(&db->lock);
	db_deliver(db, &changes, 0);
	pthread_mutex_unlock(&db->deliver);
	if (rc == 0)
		(void)db_maybe_checkpoint(db);
out:
	if (changed)
		*changed = changes.n > 0;
	pthread_mutex_unlock(&db->poll_lock);
	mps3_changes_dispose(&changes);
	db_pending_dispose(&list);
	return rc;
}

