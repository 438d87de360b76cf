/*
 * db/commit.c - writing: a log entry named with causal store time (W3),
 * accepted only when every reader will find it fresh and visible in time,
 * else committed again under a fresh name (W4); then head (W1).  The
 * committer applies its own entry at once (read-your-writes).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mps3/error.h"
#include "mps3/log.h"
#include "mps3/mergepatch.h"
#include "internal.h"

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	if (ms > 0)
		nanosleep(&ts, NULL);
}


static int check_patch(json_t *patch)
{
	const char *path;
	json_t *v;
	int rc;

	if (!json_is_object(patch) || json_object_size(patch) == 0)
		return mps3_error_set(-EINVAL, "a patch must be a non-empty object of paths");
	json_object_foreach(patch, path, v) {
		/* What readers would refuse is never written. */
		rc = mps3_path_check(path);
		if (!rc)
			rc = mps3_value_check(path, v, 1);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Head after our entry (W1): our link over the links of the head we
 * replace that are younger than lag (mps3/head.h, PROTOCOL.md P3), so that
 * a reader caught up with a recent head learns the entries since from head
 * alone.  The head we replace is read just before, conditionally (usually a
 * 304 on the one we last read or wrote); when it cannot be read, our link
 * has no digest and readers LIST.  Our own writes of head go one at a time.
 */
static int write_head(struct mps3_db *db, const char *name)
{
	struct mps3_head *old = malloc(sizeof(*old)), *neu = malloc(sizeof(*neu));
	char etag[MPS3_ETAG_MAX], inm[MPS3_ETAG_MAX], prev[MPS3_HEAD_DIGEST_HEX + 1], *doc = NULL;
	struct mps3_objinfo info;
	struct mps3_body body;
	struct mps3_buf hb;
	char again[MPS3_HEAD_OWN][MPS3_LOGNAME_MAX];
	const char *againp[MPS3_HEAD_OWN];
	unsigned i, nagain = 0;
	int64_t t = 0;
	int rc, got = 0, len;

	if (!old || !neu || !(doc = malloc(MPS3_HEAD_MAX))) {
		free(old);
		free(neu);
		return -ENOMEM;
	}
	pthread_mutex_lock(&db->head_lock);
	pthread_mutex_lock(&db->lock);
	snprintf(inm, sizeof(inm), "%s", db->hb_ok ? db->hb_etag : "");
	pthread_mutex_unlock(&db->lock);
	mps3_buf_init(&hb, MPS3_HEAD_MAX);
	rc = db_read_head_body(db, inm[0] ? inm : NULL, etag, &hb, &got, 1);
	(void)mps3_logkey_parse_time(&t, name);
	if (rc == 0 && got) {
		mps3_head_digest(prev, hb.data, hb.len);
		if (mps3_head_parse(old, hb.data, hb.len))
			old->v = 0;
	} else {
		mps3_error_clear();
		old->v = 0;
	}
	/* Ours of the last lag that the head we replace lacks: a racing commit's head dropped them. */
	pthread_mutex_lock(&db->lock);
	for (i = 0; i < MPS3_HEAD_OWN; i++) {
		const char *o = db->own[(db->own_next + i) % MPS3_HEAD_OWN];
		int64_t ot;

		if (o[0] && strcmp(o, name) != 0 && mps3_logkey_parse_time(&ot, o) == 0 &&
		    ot >= t - db->cfg.lag_ms && !mps3_head_names(old, o)) {
			memcpy(again[nagain], o, MPS3_LOGNAME_MAX);
			againp[nagain] = again[nagain];
			nagain++;
		}
	}
	pthread_mutex_unlock(&db->lock);
	mps3_head_follow(neu, old, rc == 0 && got ? prev : NULL, name, t - db->cfg.lag_ms, againp, nagain);
	mps3_buf_dispose(&hb);
	len = mps3_head_format(doc, MPS3_HEAD_MAX, neu);
	if (len < 0) {
		rc = mps3_error_set(len, "head of %u links does not fit", neu->n);
		goto out;
	}
	memset(&body, 0, sizeof(body));
	memset(&info, 0, sizeof(info));
	body.data = doc;
	body.len = (size_t)len;
	rc = mps3_store_put(db->store, db->head_key, &body, &info);
	/* What we wrote is what the next commit of ours replaces (unless someone else's came between). */
	db_head_cache(db, rc == 0 ? info.etag : "", doc, (size_t)len);
out:
	pthread_mutex_unlock(&db->head_lock);
	free(old);
	free(neu);
	free(doc);
	return rc;
}

/* Retry a head update that failed earlier (outside all locks). */
void db_flush_head(struct mps3_db *db)
{
	char name[MPS3_LOGNAME_MAX];

	pthread_mutex_lock(&db->lock);
	snprintf(name, sizeof(name), "%s", db->head_pending);
	pthread_mutex_unlock(&db->lock);
	if (!name[0] || write_head(db, name))
		return;
	pthread_mutex_lock(&db->lock);
	if (strcmp(db->head_pending, name) == 0)
		db->head_pending[0] = '\0';
	pthread_mutex_unlock(&db->lock);
}

/*
 * The next name of ours (W3): after everything seen, though not later than
 * cap, and after everything we wrote.
 */
static void next_key(struct mps3_db *db, struct mps3_logkey *key, int64_t now, int64_t cap)
{
	pthread_mutex_lock(&db->lock);
	key->t = now;
	if (db->stats.newest != INT64_MIN && key->t <= db->stats.newest)
		key->t = db->stats.newest < cap ? db->stats.newest + 1 : cap;
	if (key->t <= db->last_t)
		key->t = db->last_t + 1;
	key->seq = ++db->seq;
	db->last_t = key->t;
	pthread_mutex_unlock(&db->lock);
}

/* ---- entries that may have landed (W5) ----------------------------------
 *
 * A PUT that failed may still have stored its entry (the reply was lost),
 * and so may a copy that W4 did not accept.  Until the poller finds such an
 * entry, or its horizon passes it, the bucket may hold either value of each
 * path it names; a later change of those paths must be written as a patch
 * that gives the wanted value from either (mps3_db_get_unsure).  Otherwise
 * a path made and then removed while replies were lost would come back when
 * the first entry turns up.  One record per name; a retry's patch is most
 * often its predecessor's, and then shares it.
 */
#define UNSURE_MAX 4096

/* Lock held. */
static void unsure_add(struct mps3_db *db, const char *name, int64_t t, json_t *patch)
{
	const char *k, *oldest = NULL, *newest = NULL;
	int64_t oldest_t = INT64_MAX, newest_t = INT64_MIN;
	json_t *v, *shared = patch;

	if (db_known_get(db, name))
		return; /* the poller found it meanwhile */
	json_object_foreach(db->unsure, k, v) {
		int64_t vt = json_integer_value(json_object_get(v, "t"));

		if (vt < oldest_t) {
			oldest_t = vt;
			oldest = k;
		}
		if (vt > newest_t) {
			newest_t = vt;
			newest = k;
		}
	}
	if (newest) {
		json_t *p = json_object_get(json_object_get(db->unsure, newest), "patch");

		if (p != patch && json_equal(p, patch))
			shared = p;
	}
	if (json_object_size(db->unsure) >= UNSURE_MAX && oldest) {
		mps3_warn("%s: more than %d log entries of ours may or may not have landed; no longer guarding against log/%s",
			  mps3_store_url(db->store), UNSURE_MAX, oldest);
		json_object_del(db->unsure, oldest);
	}
	if (json_object_set_new(db->unsure, name, json_pack("{s:I,s:O}", "t", (json_int_t)t, "patch", shared)))
		mps3_warn("%s: out of memory: no longer guarding against log/%s", mps3_store_url(db->store), name);
}

void db_unsure_settle(struct mps3_db *db, const char *name)
{
	json_object_del(db->unsure, name);
}

void db_unsure_prune(struct mps3_db *db, int64_t horizon)
{
	const char *k;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(db->unsure, tmp, k, v)
		if (json_integer_value(json_object_get(v, "t")) < horizon)
			json_object_del(db->unsure, k);
}

/* Whether v is in arr (or is cur). */
static int seen_value(json_t *arr, json_t *cur, json_t *v)
{
	json_t *x;
	size_t i;

	if (json_is_null(v) ? !cur : cur && json_equal(cur, v))
		return 1;
	json_array_foreach(arr, i, x)
		if (json_equal(x, v))
			return 1;
	return 0;
}

int mps3_db_get_unsure(struct mps3_db *db, const char *path, json_t **cur, json_t **alts)
{
	json_t *out = json_array(), *v;
	const char *k;
	int rc = out ? 0 : -ENOMEM, gerr;

	pthread_mutex_lock(&db->lock);
	if (db->need_list) {
		pthread_mutex_unlock(&db->lock);
		json_decref(out);
		*cur = *alts = NULL;
		return mps3_error_set(-EAGAIN, "waiting for a listing of the log: an entry of the last run may have landed");
	}
	*cur = mps3_manifest_get(db->m, path, &gerr);
	if (gerr) {
		pthread_mutex_unlock(&db->lock);
		json_decref(out);
		*alts = NULL;
		return gerr;
	}
	json_object_foreach(db->unsure, k, v) {
		json_t *p = json_object_get(json_object_get(v, "patch"), path), *alt;
		int err = 0;

		if (!p || rc)
			continue;
		alt = mps3_merge_patch(*cur, p, &err);
		if (!alt && !err)
			alt = json_null();
		if (err || !alt)
			rc = err ? err : -ENOMEM;
		else if (!seen_value(out, *cur, alt) && json_array_append(out, alt))
			rc = -ENOMEM;
		json_decref(alt);
	}
	pthread_mutex_unlock(&db->lock);
	if (rc) {
		json_decref(*cur);
		*cur = NULL;
	}
	if (rc || json_array_size(out) == 0) {
		json_decref(out);
		out = NULL;
	}
	*alts = out;
	return rc;
}

/*
 * An entry PUT whose fate is unknown is tried again under a new name (the
 * store never writes one entry key twice), this many times at most.
 */
#define LOST_RETRIES 5

/*
 * PUT the entry until one copy is provably fresh for every reader (W4).
 * key and name get the accepted copy's.  0 or the store's error.
 */
static int put_entry(struct mps3_db *db, json_t *patch, struct mps3_logkey *key,
		     char name[MPS3_LOGNAME_MAX])
{
	char objkey[PREFIX_MAX + MPS3_LOGNAME_MAX];
	char *doc = NULL;
	size_t len = 0;
	/* The copies this call PUT without accepting them (W4's and lost ones). */
	char doubted[LOST_RETRIES + 8][MPS3_LOGNAME_MAX];
	int attempt, rc, waited = 0, lost = 0, ndoubted = 0, i;

	for (attempt = 0;; attempt++) {
		struct mps3_objinfo info;
		struct mps3_body body;
		int64_t now, a, b, u, slack;

		if (attempt == 4)
			return mps3_error_set(-ETIME,
					      "cannot commit: the store's clock cannot be tracked closely enough (uncertainty %" PRId64 " ms)",
					      mps3_clock_uncertainty(db->clock));
		u = mps3_clock_uncertainty(db->clock);
		if (u < 0)
			u = 0;
		/* Readers see LastModified rounded to the second. */
		slack = db->exact_mtime ? db->cfg.stale_ms : db->cfg.stale_ms - 1000 - u;
		now = mps3_clock_now(db->clock);
		/*
		 * Follow entries dated ahead of our clock by waiting for them, once:
		 * entries that keep coming from further ahead (a writer whose clock
		 * runs fast, or one doing it on purpose) must not hold ours back forever.
		 */
		next_key(db, key, now, waited ? now + slack / 2 : INT64_MAX);
		if (slack <= 0) {
			/* Not enough replies yet to know the store's time: ask for one. */
			(void)mps3_store_head(db->store, db->head_key, NULL);
			mps3_error_clear();
			continue;
		}
		if (key->t - now > slack / 2) {
			/* Someone's entry is ahead of our clock: wait until ours may follow it. */
			sleep_ms(key->t - now - slack / 2);
			waited = 1;
			attempt--;
			continue;
		}
		rc = mps3_logkey_format(name, key);
		if (rc)
			return mps3_error_set(rc, "time %" PRId64 " out of range", key->t);
		free(doc);
		doc = mps3_logentry_dump(key, patch, &len);
		if (!doc)
			return -ENOMEM;
		if (len > db->cfg.max_entry_bytes) {
			free(doc);
			return mps3_error_set(-EFBIG, "patch of %zu bytes is larger than a log entry may be (%zu)",
					      len, db->cfg.max_entry_bytes);
		}
		snprintf(objkey, sizeof(objkey), "%s%s", db->log_prefix, name);
		memset(&body, 0, sizeof(body));
		body.data = doc;
		body.len = len;
		body.once = 1;
		memset(&info, 0, sizeof(info));
		a = mps3_clock_now(db->clock);
		rc = mps3_store_put(db->store, objkey, &body, &info);
		b = mps3_clock_now(db->clock);
		if (!rc && db->exact_mtime && info.mtime_ms) {
			if (mps3_entry_fresh(key->t, info.mtime_ms, db->cfg.stale_ms))
				break;
		} else if (!rc && key->t - a <= slack && a - key->t <= slack && b - key->t <= slack) {
			break;
		}
		/*
		 * Not accepted, but perhaps stored, and then applied by readers that
		 * find it - unless no attempt reached the store at all.
		 */
		pthread_mutex_lock(&db->lock);
		/* (A refusal is an answer: nothing was stored.) */
		if (rc != -ECONNREFUSED && rc != -EHOSTUNREACH && rc != -EACCES && rc != -ENOENT) {
			unsure_add(db, name, key->t, patch);
			if (ndoubted < (int)(sizeof(doubted) / sizeof(doubted[0])))
				memcpy(doubted[ndoubted++], name, MPS3_LOGNAME_MAX);
		}
		if (!rc)
			db->stats.recommits++;
		pthread_mutex_unlock(&db->lock);
		if (rc == -ECONNRESET && lost < LOST_RETRIES) {
			mps3_info("%s: log/%s: %s; committing it again under a new name",
				  mps3_store_url(db->store), name, mps3_error_last(rc));
			sleep_ms(50LL << lost++);
			attempt--; /* not W4's budget */
			continue;
		}
		if (rc)
			break;
		mps3_notice("%s: log/%s may be judged stale by readers (clock uncertainty %" PRId64 " ms, PUT took %" PRId64 " ms); committing it again",
			    mps3_store_url(db->store), name, u, b - a);
	}
	free(doc);
	/*
	 * The accepted copy gives the same patch later than every earlier one:
	 * whether those landed no longer matters to what comes after.
	 */
	if (rc == 0 && ndoubted > 0) {
		pthread_mutex_lock(&db->lock);
		for (i = 0; i < ndoubted; i++)
			db_unsure_settle(db, doubted[i]);
		pthread_mutex_unlock(&db->lock);
	}
	return rc;
}

/* Our own entry into the resolved map, and to the listener (read-your-writes). */
static int apply_own(struct mps3_db *db, json_t *patch, const struct mps3_logkey *key, const char *name)
{
	struct mps3_changes changes;
	int rc;

	mps3_changes_init(&changes);
	pthread_mutex_lock(&db->deliver);
	pthread_mutex_lock(&db->lock);
	rc = mps3_manifest_add(db->m, key, patch, &changes);
	if (rc == 0 || rc == -EEXIST) {
		db_known_set(db, name, K_APPLIED);
		if (key->t > db->stats.newest) {
			db->stats.newest = key->t;
			snprintf(db->anchor, sizeof(db->anchor), "%s", name);
		}
		db->stats.commits++;
		rc = 0;
	}
	pthread_mutex_unlock(&db->lock);
	if (rc == 0)
		db_deliver(db, &changes, 1);
	pthread_mutex_unlock(&db->deliver);
	mps3_changes_dispose(&changes);
	if (rc == -ESTALE)
		rc = mps3_error_set(-EIO, "log/%s fell behind this client's own horizon", name);
	return rc;
}

int mps3_db_commit(struct mps3_db *db, json_t *patch, struct mps3_logkey *keyout)
{
	struct mps3_logkey key;
	char name[MPS3_LOGNAME_MAX];
	int rc = check_patch(patch);

	if (rc)
		return rc;
	if (db->js) {
		if (keyout)
			memset(keyout, 0, sizeof(*keyout));
		return db_js_commit(db, patch);
	}
	memcpy(key.session, db->session, sizeof(key.session));
	rc = put_entry(db, patch, &key, name);
	if (rc)
		return rc;
	pthread_mutex_lock(&db->lock);
	memcpy(db->own[db->own_next], name, MPS3_LOGNAME_MAX);
	db->own_next = (db->own_next + 1) % MPS3_HEAD_OWN;
	pthread_mutex_unlock(&db->lock);
	rc = write_head(db, name);
	if (rc) {
		mps3_warn("%s: committed log/%s but could not update head (others see it at the next change): %s",
			  mps3_store_url(db->store), name, mps3_error_last(rc));
		pthread_mutex_lock(&db->lock);
		snprintf(db->head_pending, sizeof(db->head_pending), "%s", name);
		pthread_mutex_unlock(&db->lock);
	}
	rc = apply_own(db, patch, &key, name);
	if (rc == 0 && keyout)
		*keyout = key;
	return rc;
}
