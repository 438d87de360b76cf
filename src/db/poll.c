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

/*
 * A complete LIST is done (lock held): none is owed, but the one that
 * settles what it left in the window once the newest of it is lag old -
 * else the window, and the base's old values a big change left beside
 * it, stayed until some later change (a million removed paths kept about
 * 200 bytes each).
 */
void db_list_done(struct mps3_db *db)
{
	int64_t newest = mps3_manifest_newest(db->m);

	if (mps3_manifest_window_len(db->m) > 0 && newest < INT64_MAX - db->cfg.lag_ms - 1)
		db->list_due = newest + db->cfg.lag_ms + 1;
	else
		db->list_due = INT64_MAX;
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

/* db_read_checkpoint's, with its map either as JSON (kept for the next reader) or, given base, into it. */
static int read_checkpoint(struct mps3_db *db, const struct mps3_list_entry *e, struct mps3_checkpoint *cp,
			   struct mps3_base *base)
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
	if (kept_get(db, name, cp)) {
		/* Read and checked before: checkpoints are never rewritten. */
		if (!base)
			return 0;
		rc = mps3_base_add_json(base, cp->files);
		json_decref(cp->files);
		cp->files = NULL;
		return rc;
	}
	mps3_buf_init(&buf, db->cfg.max_checkpoint_bytes);
	rc = mps3_store_get_buf(db->store, e->key, &buf, NULL);
	if (rc == 0 && base)
		rc = mps3_checkpoint_scan(cp, name, mps3_buf_cstr(&buf), buf.len, mps3_base_add_fn,
					  mps3_base_add_packed_fn, base);
	else if (rc == 0)
		rc = mps3_checkpoint_parse(cp, name, mps3_buf_cstr(&buf), buf.len);
	mps3_buf_dispose(&buf);
	if (rc == 0 && !base)
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

int db_read_checkpoint(struct mps3_db *db, const struct mps3_list_entry *e, struct mps3_checkpoint *cp)
{
	return read_checkpoint(db, e, cp, NULL);
}

/*
 * The newest valid checkpoint: its key and window in out, its map into
 * *base (replaced by an empty one when a checkpoint turned out unusable
 * half read); name_out "" if there is none.  Checkpoints named after what
 * any client can write now are skipped without being read (fsck reports
 * them).  The map is never held as JSON: it is the database's size many
 * times over.
 */
static int load_checkpoint(struct mps3_db *db, struct mps3_checkpoint *out, char name_out[MPS3_LOGNAME_MAX],
			   struct mps3_base **base)
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

		rc = read_checkpoint(db, e, &cp, *base);
		if (rc != 0 && mps3_base_size(*base) > 0) {
			mps3_base_free(*base);
			*base = mps3_base_new();
			if (!*base) {
				rc = -ENOMEM;
				break;
			}
		}
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

void db_head_cache(struct mps3_db *db, const char *etag, const char *body, size_t len)
{
	pthread_mutex_lock(&db->lock);
	db->hb_ok = etag[0] && len <= sizeof(db->hb_body);
	if (db->hb_ok) {
		memcpy(db->hb_body, body, len);
		db->hb_len = len;
		snprintf(db->hb_etag, sizeof(db->hb_etag), "%s", etag);
	}
	pthread_mutex_unlock(&db->lock);
}

int db_read_head_body(struct mps3_db *db, const char *if_none_match, char etag[MPS3_ETAG_MAX],
		      struct mps3_buf *body, int *got, int cached)
{
	struct mps3_get_opts opts = { if_none_match, 0, 0, 0 };
	struct mps3_objinfo info;
	struct mps3_buf own;
	struct mps3_sink sink;
	struct mps3_buf *b = body ? body : &own;
	int rc;

	*got = 0;
	mps3_buf_init(&own, MPS3_HEAD_MAX);
	mps3_buf_reset(b);
	mps3_sink_buf(&sink, b);
	memset(&info, 0, sizeof(info));
	rc = mps3_store_get(db->store, db->head_key, &opts, &sink, &info);
	if (rc == 0) {
		memcpy(etag, info.etag, MPS3_ETAG_MAX);
		db_head_cache(db, etag, b->data, b->len);
		*got = 1;
	} else if (rc == MPS3_NOT_MODIFIED) {
		memcpy(etag, info.etag[0] ? info.etag : if_none_match, MPS3_ETAG_MAX);
		etag[MPS3_ETAG_MAX - 1] = '\0';
		rc = 0;
		if (cached) {
			pthread_mutex_lock(&db->lock);
			if (db->hb_ok && strcmp(db->hb_etag, etag) == 0 &&
			    mps3_buf_append(b, db->hb_body, db->hb_len) == 0)
				*got = 1;
			pthread_mutex_unlock(&db->lock);
		}
	} else if (rc == -ENOENT) {
		etag[0] = '\0';
		mps3_error_clear();
		*got = 1; /* an empty database: no bytes */
		rc = 0;
	} else if (rc == -EFBIG) {
		/* Odd content (planted?): its ETag still tells changes apart, so ask for it alone. */
		mps3_buf_reset(b);
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
	}
	mps3_buf_dispose(&own);
	return rc;
}

int db_read_head(struct mps3_db *db, const char *if_none_match, char etag[MPS3_ETAG_MAX])
{
	int got;

	return db_read_head_body(db, if_none_match, etag, NULL, &got, 0);
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
	char etag[MPS3_ETAG_MAX], cpname[MPS3_LOGNAME_MAX], digest[MPS3_HEAD_DIGEST_HEX + 1];
	struct mps3_buf hb;
	struct mps3_base *base = mps3_base_new();
	int64_t stop = INT64_MIN, list_time;
	size_t ncovered = 0;
	int rc, skip = 0, got;

	mps3_buf_init(&hb, MPS3_HEAD_MAX);
	rc = db_read_head_body(db, NULL, etag, &hb, &got, 0);
	if (got)
		mps3_head_digest(digest, hb.data, hb.len);
	else
		digest[0] = '\0';
	mps3_buf_dispose(&hb);
	if (!rc && !base)
		rc = -ENOMEM;
	if (!rc)
		rc = load_checkpoint(db, &cp, cpname, &base);
	if (rc) {
		mps3_base_free(base);
		return rc;
	}
	if (cpname[0])
		stop = cp.key.t - db->cfg.lag_ms;
	else if (db->branch[0]) {
		/* A branch without a checkpoint of its own: its base, and its whole log over it. */
		json_t *files;
		int64_t t;

		rc = db_branch_base(db, db->branch, &files, &t);
		if (!rc)
			rc = mps3_base_add_json(base, files);
		json_decref(files);
		if (rc) {
			mps3_base_free(base);
			return rc;
		}
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
	if (rc == 0 && cpname[0])
		rc = skip = db_skip_window(db, &cp, &list, &covered, &ncovered);
	if (rc < 0)
		goto out;
	db_fetch_all(db, &list);

	pthread_mutex_lock(&db->lock);
	/* The window the checkpoint already holds is behind the horizon, known by name. */
	rc = mps3_manifest_reset_base(db->m, base, skip ? cp.key.t : stop, changes);
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
		memcpy(db->head_digest, digest, sizeof(digest));
		db_list_done(db);
		snprintf(db->stats.checkpoint, sizeof(db->stats.checkpoint), "%s", cpname);
		db->stats.last_poll_ok = list_time;
	}
	pthread_mutex_unlock(&db->lock);
out:
	mps3_base_free(base);
	if (rc == 0 && cpname[0])
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

/*
 * Whether the store's LastModified makes the entry named at t fresh for
 * every reader (R2), whichever precision their listing gives it: a GET's
 * Last-Modified from S3 is whole seconds (the time truncated), a LIST's may
 * be finer, so the entry must be fresh at both ends of that second.
 */
static int surely_fresh(struct mps3_db *db, int64_t t, const struct mps3_objinfo *info)
{
	if (!info->mtime_ms)
		return 0;
	if (db->exact_mtime)
		return mps3_entry_fresh(t, info->mtime_ms, db->cfg.stale_ms);
	return mps3_entry_fresh(t, info->mtime_ms, db->cfg.stale_ms) &&
	       mps3_entry_fresh(t, info->mtime_ms + 999, db->cfg.stale_ms);
}

/*
 * P3: head names every commit since the head we last caught up with (its
 * first k links): GET those entries and apply them, without a LIST and
 * without moving the horizon.  1 when done (etag and digest adopted), 0
 * when a LIST is to decide after all (an entry missing, odd or doubtful:
 * nothing is applied and nothing remembered), or an error.
 */
static int poll_by_head(struct mps3_db *db, const struct mps3_head *h, unsigned k, const char *etag,
			const char *digest, struct mps3_changes *changes)
{
	struct pending_list list = { 0 };
	struct mps3_objinfo none;
	int64_t horizon, limit = db_future_limit(db), now;
	unsigned i;
	size_t j;
	int rc = 0, ok = 1;

	memset(&none, 0, sizeof(none));
	pthread_mutex_lock(&db->lock);
	horizon = mps3_manifest_horizon(db->m);
	for (i = 0; i < k && ok && !rc; i++) {
		struct mps3_logkey key;

		if (mps3_logkey_parse(&key, h->link[i].name) || key.t > limit)
			ok = 0; /* what no honest writer names: let a LIST judge it */
		else if (!db_known_get(db, h->link[i].name) && key.t >= horizon)
			rc = db_pending_add(&list, h->link[i].name, &none);
		/* (An unknown name behind the horizon never applies (R3), however it is found.) */
	}
	pthread_mutex_unlock(&db->lock);
	if (ok && !rc)
		db_fetch_all(db, &list);
	for (j = 0; ok && !rc && j < list.n; j++) {
		struct pending *p = &list.v[j];

		/* Accepted by R2 only when a LIST would accept it too; anything else waits for one. */
		if (p->rc || p->got.size > db->cfg.max_entry_bytes || !surely_fresh(db, p->entry.key.t, &p->got))
			ok = 0;
	}
	if (!ok || rc) {
		mps3_error_clear();
		db_pending_dispose(&list);
		return rc;
	}
	pthread_mutex_lock(&db->deliver);
	pthread_mutex_lock(&db->lock);
	rc = db_apply_fetched(db, &list, changes);
	if (rc == 0) {
		now = mps3_clock_now(db->clock);
		memcpy(db->head_etag, etag, MPS3_ETAG_MAX);
		memcpy(db->head_digest, digest, MPS3_HEAD_DIGEST_HEX + 1);
		/* Head is an optimisation: a LIST still follows within lag (P3), whatever else is owed later. */
		if (now + db->cfg.lag_ms < db->list_due)
			db->list_due = now + db->cfg.lag_ms;
		db->stats.last_poll_ok = now;
		db->stats.polls_changed++;
	}
	pthread_mutex_unlock(&db->lock);
	db_deliver(db, changes, 0);
	pthread_mutex_unlock(&db->deliver);
	db_pending_dispose(&list);
	return rc ? rc : 1;
}

/* P2: away longer than half the GC grace period, resolve afresh (R1). */
static int poll_afresh(struct mps3_db *db, struct mps3_changes *changes)
{
	int rc;

	mps3_notice("%s: last listing is older than half the GC grace period; resolving afresh",
		    mps3_store_url(db->store));
	pthread_mutex_lock(&db->deliver);
	rc = db_resolve(db, changes);
	if (rc == 0) {
		pthread_mutex_lock(&db->lock);
		db->stats.polls_changed++;
		pthread_mutex_unlock(&db->lock);
		db_deliver(db, changes, 0);
	}
	pthread_mutex_unlock(&db->deliver);
	return rc;
}

int mps3_db_poll(struct mps3_db *db, int *changed)
{
	struct pending_list list = { 0 };
	struct mps3_changes changes;
	struct mps3_buf hb;
	char etag[MPS3_ETAG_MAX], old[MPS3_ETAG_MAX];
	char digest[MPS3_HEAD_DIGEST_HEX + 1], mine[MPS3_HEAD_DIGEST_HEX + 1];
	int64_t list_time, horizon, last_list, list_due, now;
	int rc, full, got = 0, need_list, owed;
	struct mps3_head *h;
	unsigned k;

	if (db->js)
		return db_js_poll(db, changed);
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;

	if (changed)
		*changed = 0;
	mps3_changes_init(&changes);
	mps3_buf_init(&hb, MPS3_HEAD_MAX);
	pthread_mutex_lock(&db->poll_lock);
	db_flush_head(db);
	pthread_mutex_lock(&db->lock);
	memcpy(old, db->head_etag, sizeof(old));
	memcpy(mine, db->head_digest, sizeof(mine));
	last_list = db->last_list;
	list_due = db->list_due;
	/* Entries of ours that may have landed are settled by a LIST (W5): head never names them. */
	need_list = db->need_list || json_object_size(db->unsure) > 0;
	horizon = mps3_manifest_horizon(db->m);
	db->stats.polls++;
	pthread_mutex_unlock(&db->lock);

	/* Away longer than half the GC grace: entries we never saw may be gone. */
	full = mps3_clock_now(db->clock) - last_list > db->cfg.gc_grace_ms / 2;
	if (full) {
		rc = poll_afresh(db, &changes);
		goto out;
	}

	rc = db_read_head_body(db, old[0] ? old : NULL, etag, &hb, &got, 0);
	if (rc)
		goto out;
	/*
	 * Unchanged head: nothing to do, except that a LIST at least every
	 * quarter of the GC grace period also finds entries whose writer died
	 * before updating head, before GC could remove them unseen (P2), and
	 * one is owed within lag of a change taken from head alone (P3).
	 */
	now = mps3_clock_now(db->clock);
	owed = need_list || now >= list_due;
	if (strcmp(etag, old) == 0 && now - last_list <= db->cfg.gc_grace_ms / 4 && !owed) {
		pthread_mutex_lock(&db->lock);
		db->stats.last_poll_ok = now;
		pthread_mutex_unlock(&db->lock);
		goto out;
	}
	if (strcmp(etag, old) == 0) {
		memcpy(digest, mine, sizeof(digest)); /* a LIST owed: what we caught up with stays */
	} else if (got) {
		mps3_head_digest(digest, hb.data, hb.len);
		/* Head names what changed since the head we caught up with: take that alone (P3). */
		if (!owed && mps3_head_parse(h, hb.data, hb.len) == 0 && (k = mps3_head_since(h, mine)) > 0) {
			rc = poll_by_head(db, h, k, etag, digest, &changes);
			if (rc)
				goto done; /* 1: applied; or an error */
		}
	} else {
		digest[0] = '\0'; /* no body to chain from */
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
			memcpy(db->head_digest, digest, sizeof(digest));
			db_list_done(db);
			db->stats.last_poll_ok = list_time;
			db->stats.polls_changed++;
		}
	}
	pthread_mutex_unlock(&db->lock);
	db_deliver(db, &changes, 0);
	pthread_mutex_unlock(&db->deliver);
	if (rc == 0)
		(void)db_maybe_checkpoint(db);
	goto out;
done:
	if (rc == 1)
		rc = 0;
out:
	if (changed)
		*changed = changes.n > 0;
	pthread_mutex_unlock(&db->poll_lock);
	mps3_buf_dispose(&hb);
	mps3_changes_dispose(&changes);
	db_pending_dispose(&list);
	free(h);
	return rc;
}
