/*
 * db/db.c - the database over a store: resolve from checkpoint + log,
 * commit (entry, then head), poll head and apply what is new, checkpoint,
 * garbage-collect, check.
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
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mps3/clock.h"
#include "mps3/db.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/log.h"
#include "mps3/rand.h"
#include "mps3/timefmt.h"

#define LOG_PREFIX "log/"
#define CP_PREFIX "checkpoint/"
#define BLOB_PREFIX "blobs/"
#define HEAD_KEY "head"

enum known_state { K_APPLIED = 1, K_IGNORED = 2 };

struct mps3_db {
	struct mps3_store *store;
	struct mps3_clock *clock;
	struct mps3_db_config cfg;
	char session[MPS3_SESSION_LEN + 1];
	int exact_mtime;		/* the store reports LastModified on PUT exactly */

	pthread_mutex_t poll_lock;	/* serialises polls; held across their I/O */
	pthread_mutex_t deliver;	/* serialises listener calls */
	mps3_db_listener fn;		/* set before polling starts */
	void *fn_ctx;

	pthread_mutex_t lock;
	struct mps3_manifest *m;	/* protected by lock */
	json_t *known;			/* name -> known_state, at or after the horizon; protected by lock */
	char head_etag[MPS3_ETAG_MAX];	/* protected by lock */
	char head_pending[MPS3_LOGNAME_MAX]; /* head write that failed, to redo; protected by lock */
	uint64_t seq;			/* protected by lock */
	char anchor[MPS3_LOGNAME_MAX];	/* newest entry applied: proves a saved state is of this bucket; lock */
	int64_t last_t;			/* time of our newest entry; protected by lock */
	int64_t last_list;		/* store time of the last complete LIST; protected by lock */
	unsigned settled_since_cp;	/* protected by lock */
	struct mps3_db_stats stats;	/* protected by lock */
};

void mps3_db_config_init(struct mps3_db_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->lag_ms = 10000;
	cfg->stale_ms = 3000;
	cfg->max_entry_bytes = 8u << 20;
	cfg->max_checkpoint_bytes = 1u << 30;
	cfg->fetch_parallel = 8;
	cfg->gc_grace_ms = 3600 * 1000;
	cfg->keep_checkpoints = 2;
	cfg->checkpoint_every = 256;
}

static int maybe_checkpoint(struct mps3_db *db);

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	if (ms > 0)
		nanosleep(&ts, NULL);
}

/* ---- listing and fetching the log ---------------------------------- */

struct pending {
	char *name;			/* under log/ or checkpoint/ */
	struct mps3_objinfo info;
	struct mps3_logentry entry;	/* after fetch */
	int rc;
	char err[512];
};

struct pending_list {
	struct pending *v;
	size_t n, cap;
};

static void pending_dispose(struct pending_list *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->v[i].name);
		json_decref(p->v[i].entry.files);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static int pending_add(struct pending_list *p, const char *name, const struct mps3_objinfo *info)
{
	struct pending *e;

	if (p->n == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 32;
		struct pending *v = realloc(p->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = ncap;
	}
	e = &p->v[p->n];
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	if (!e->name)
		return -ENOMEM;
	e->info = *info;
	p->n++;
	return 0;
}

/* Mark a name as seen under the lock; returns 1 if it already was. */
static int known_get(struct mps3_db *db, const char *name)
{
	return json_object_get(db->known, name) != NULL;
}

static void known_set(struct mps3_db *db, const char *name, enum known_state s)
{
	json_object_set_new(db->known, name, json_integer(s));
}

/*
 * List log/ newest first down to (not including) entries older than stop,
 * and queue every name not known yet.  Names that are malformed, stale or
 * too large are reported once and remembered as ignored.
 */
static int list_log(struct mps3_db *db, int64_t stop, struct pending_list *out)
{
	struct mps3_listing page;
	char *token = NULL;
	int rc = 0, done = 0;
	size_t i;

	while (!done) {
		mps3_listing_init(&page);
		rc = mps3_store_list(db->store, LOG_PREFIX, NULL, token, 1000, &page);
		free(token);
		token = NULL;
		if (rc) {
			mps3_listing_dispose(&page);
			break;
		}
		for (i = 0; i < page.n && !done; i++) {
			const char *name = page.v[i].key + strlen(LOG_PREFIX);
			const struct mps3_objinfo *info = &page.v[i].info;
			struct mps3_logkey k;
			char a[25], b[25];
			int seen;

			if (mps3_logkey_parse(&k, name)) {
				pthread_mutex_lock(&db->lock);
				seen = known_get(db, name);
				if (!seen)
					known_set(db, name, K_IGNORED);
				pthread_mutex_unlock(&db->lock);
				if (!seen)
					mps3_warn("%s: ignoring log/%s: not a log entry name",
						  mps3_store_url(db->store), name);
				continue;
			}
			if (k.t < stop) {
				done = 1;
				break;
			}
			pthread_mutex_lock(&db->lock);
			seen = known_get(db, name);
			if (!seen && (!mps3_entry_fresh(k.t, info->mtime_ms, db->cfg.stale_ms) ||
				      info->size > db->cfg.max_entry_bytes)) {
				known_set(db, name, K_IGNORED);
				db->stats.entries_ignored++;
				pthread_mutex_unlock(&db->lock);
				if (info->size > db->cfg.max_entry_bytes) {
					mps3_warn("%s: ignoring log/%s: %" PRIu64 " bytes is more than the %zu a log entry may have",
						  mps3_store_url(db->store), name, info->size,
						  db->cfg.max_entry_bytes);
				} else {
					mps3_time_format_iso8601(a, k.t);
					mps3_time_format_iso8601(b, info->mtime_ms);
					mps3_warn("%s: ignoring log/%s: named %s but stored %s (more than %" PRId64 " ms apart: its writer's clock was off)",
						  mps3_store_url(db->store), name, a, b, db->cfg.stale_ms);
				}
				continue;
			}
			pthread_mutex_unlock(&db->lock);
			if (seen)
				continue;
			rc = pending_add(out, name, info);
			if (rc)
				break;
		}
		if (rc || !page.truncated || !page.next_token) {
			mps3_listing_dispose(&page);
			break;
		}
		token = page.next_token;
		page.next_token = NULL;
		mps3_listing_dispose(&page);
	}
	free(token);
	return rc;
}

struct fetch_job {
	struct mps3_db *db;
	struct pending_list *list;
	pthread_mutex_t lock;
	size_t next;			/* protected by lock */
};

static void fetch_one(struct mps3_db *db, struct pending *p)
{
	struct mps3_buf buf;
	char key[sizeof(LOG_PREFIX) + MPS3_LOGNAME_MAX + 64];
	int rc;

	mps3_buf_init(&buf, db->cfg.max_entry_bytes);
	snprintf(key, sizeof(key), LOG_PREFIX "%s", p->name);
	rc = mps3_store_get_buf(db->store, key, &buf, NULL);
	if (rc == 0) {
		rc = mps3_logentry_parse(&p->entry, p->name, mps3_buf_cstr(&buf), buf.len);
		if (rc)
			snprintf(p->err, sizeof(p->err), "%s", mps3_error_last(rc));
	} else {
		snprintf(p->err, sizeof(p->err), "%s", mps3_error_last(rc));
	}
	p->rc = rc;
	mps3_buf_dispose(&buf);
}

static void *fetch_worker(void *arg)
{
	struct fetch_job *j = arg;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&j->lock);
		i = j->next++;
		pthread_mutex_unlock(&j->lock);
		if (i >= j->list->n)
			break;
		fetch_one(j->db, &j->list->v[i]);
	}
	return NULL;
}

/* GET and parse every pending entry, several at a time. */
static void fetch_all(struct mps3_db *db, struct pending_list *list)
{
	struct fetch_job job = { .db = db, .list = list, .next = 0 };
	pthread_t th[64];
	unsigned n = db->cfg.fetch_parallel, started = 0, i;

	if (n > 64)
		n = 64;
	if (n > list->n)
		n = (unsigned)list->n;
	pthread_mutex_init(&job.lock, NULL);
	/* One or two entries (the usual poll): no threads. */
	if (n > 2)
		for (i = 0; i < n; i++)
			if (pthread_create(&th[i], NULL, fetch_worker, &job) == 0)
				started++;
	fetch_worker(&job);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&job.lock);
}

static int cmp_pending(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	if (x->rc || y->rc)
		return (x->rc != 0) - (y->rc != 0);
	return mps3_logkey_cmp(&x->entry.key, &y->entry.key);
}

/*
 * Apply fetched entries to the manifest (lock held), in replay order so
 * that on-time entries take the incremental path.  Fetch failures of a
 * transient kind are left unknown so the next poll retries them; malformed
 * documents are reported once and ignored.  Returns the first transient
 * error, if any.
 */
static int apply_fetched(struct mps3_db *db, struct pending_list *list,
			 struct mps3_changes *changes)
{
	size_t i;
	int first_err = 0, rc;

	if (list->n > 1)
		qsort(list->v, list->n, sizeof(*list->v), cmp_pending);
	for (i = 0; i < list->n; i++) {
		struct pending *p = &list->v[i];

		if (p->rc == -EINVAL || p->rc == -EFBIG || p->rc == -ENOENT) {
			/* Malformed, oversized, or deleted since the LIST (GC). */
			known_set(db, p->name, K_IGNORED);
			db->stats.entries_ignored++;
			if (p->rc != -ENOENT)
				mps3_warn("%s: ignoring log/%s: %s", mps3_store_url(db->store), p->name,
					  p->err);
			continue;
		}
		if (p->rc) {
			if (!first_err) {
				first_err = p->rc;
				mps3_error_set(p->rc, "%s", p->err);
			}
			continue;
		}
		rc = mps3_manifest_add(db->m, &p->entry.key, p->entry.files, changes);
		if (rc == -ESTALE) {
			known_set(db, p->name, K_IGNORED);
			db->stats.entries_ignored++;
			mps3_warn("%s: ignoring log/%s: it became visible later than the %" PRId64 " ms window allows",
				  mps3_store_url(db->store), p->name, db->cfg.lag_ms);
			continue;
		}
		if (rc && rc != -EEXIST)
			return rc;
		known_set(db, p->name, K_APPLIED);
		if (rc == 0)
			db->stats.entries_applied++;
		if (p->entry.key.t > db->stats.newest) {
			db->stats.newest = p->entry.key.t;
			snprintf(db->anchor, sizeof(db->anchor), "%s", p->name);
		}
	}
	return first_err;
}

/* Drop remembered names that fell below the horizon (lock held). */
static void known_prune(struct mps3_db *db)
{
	int64_t h = mps3_manifest_horizon(db->m);
	const char *name;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(db->known, tmp, name, v) {
		int64_t t;

		if (mps3_logkey_parse_time(&t, name) == 0 && t < h)
			json_object_del(db->known, name);
	}
}

/* Fold the window up to the new horizon (lock held). */
static int settle(struct mps3_db *db, int64_t list_time)
{
	size_t before = mps3_manifest_window_len(db->m);
	int rc = mps3_manifest_settle(db->m, list_time - db->cfg.lag_ms);

	if (rc)
		return rc;
	db->settled_since_cp += (unsigned)(before - mps3_manifest_window_len(db->m));
	db->last_list = list_time;
	known_prune(db);
	return 0;
}

/* Call the listener with changes, in order (deliver held by the caller). */
static void deliver(struct mps3_db *db, struct mps3_changes *changes, int local)
{
	mps3_changes_compact(changes);
	if (db->fn && changes->n)
		db->fn(db->fn_ctx, changes, local);
}

/* ---- checkpoints ----------------------------------------------------- */

/* The newest valid checkpoint: files (new ref) and its key; files NULL if none. */
static int load_checkpoint(struct mps3_db *db, json_t **files, struct mps3_logkey *key,
			   char name_out[MPS3_LOGNAME_MAX])
{
	struct mps3_listing page;
	size_t i;
	int rc;

	*files = NULL;
	name_out[0] = '\0';
	mps3_listing_init(&page);
	rc = mps3_store_list(db->store, CP_PREFIX, NULL, NULL, 1000, &page);
	if (rc) {
		mps3_listing_dispose(&page);
		return rc;
	}
	for (i = 0; i < page.n; i++) {
		const char *name = page.v[i].key + strlen(CP_PREFIX);
		struct mps3_checkpoint cp;
		struct mps3_buf buf;

		if (mps3_cpkey_parse(&cp.key, name)) {
			mps3_warn("%s: ignoring %s: not a checkpoint name", mps3_store_url(db->store),
				  page.v[i].key);
			continue;
		}
		if (page.v[i].info.size > db->cfg.max_checkpoint_bytes) {
			mps3_warn("%s: ignoring %s: %" PRIu64 " bytes is more than the %zu a checkpoint may have",
				  mps3_store_url(db->store), page.v[i].key, page.v[i].info.size,
				  db->cfg.max_checkpoint_bytes);
			continue;
		}
		mps3_buf_init(&buf, db->cfg.max_checkpoint_bytes);
		rc = mps3_store_get_buf(db->store, page.v[i].key, &buf, NULL);
		if (rc == -ENOENT) {
			mps3_buf_dispose(&buf);
			continue; /* collected since the LIST */
		}
		if (rc) {
			mps3_buf_dispose(&buf);
			break;
		}
		rc = mps3_checkpoint_parse(&cp, name, mps3_buf_cstr(&buf), buf.len);
		mps3_buf_dispose(&buf);
		if (rc) {
			mps3_warn("%s: ignoring %s: %s; trying an older one", mps3_store_url(db->store),
				  page.v[i].key, mps3_error_last(rc));
			rc = 0;
			continue;
		}
		*files = cp.files;
		*key = cp.key;
		snprintf(name_out, MPS3_LOGNAME_MAX, "%s", name);
		break;
	}
	mps3_listing_dispose(&page);
	return rc;
}

/* ---- open and resolve ------------------------------------------------ */

static int read_head(struct mps3_db *db, const char *if_none_match, char etag[MPS3_ETAG_MAX])
{
	struct mps3_get_opts opts = { if_none_match, 0, 0, 0 };
	struct mps3_objinfo info;
	struct mps3_buf buf;
	struct mps3_sink sink;
	int rc;

	mps3_buf_init(&buf, 4096);
	mps3_sink_buf(&sink, &buf);
	memset(&info, 0, sizeof(info));
	rc = mps3_store_get(db->store, HEAD_KEY, &opts, &sink, &info);
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
	if (rc == -EFBIG)
		return 0; /* odd content; its ETag still tells changes apart */
	return rc;
}

/*
 * Full resolution: newest valid checkpoint plus the log after it.  Used at
 * open and when a client has been away so long that GC may have removed
 * entries between its horizon and now.
 */
static int resolve(struct mps3_db *db, struct mps3_changes *changes)
{
	struct pending_list list = { 0 };
	struct mps3_logkey cpkey;
	char etag[MPS3_ETAG_MAX], cpname[MPS3_LOGNAME_MAX];
	json_t *cpfiles = NULL;
	int64_t stop = INT64_MIN, list_time;
	int rc;

	rc = read_head(db, NULL, etag);
	if (rc)
		return rc;
	rc = load_checkpoint(db, &cpfiles, &cpkey, cpname);
	if (rc)
		return rc;
	if (cpfiles)
		stop = cpkey.t - db->cfg.lag_ms;
	list_time = mps3_clock_now(db->clock);
	rc = list_log(db, stop, &list);
	if (rc)
		goto out;
	fetch_all(db, &list);

	pthread_mutex_lock(&db->lock);
	rc = mps3_manifest_reset(db->m, cpfiles, stop, changes);
	if (!rc) {
		json_object_clear(db->known);
		/* Entries the listing skipped as ignored must be remembered again. */
		rc = apply_fetched(db, &list, changes);
	}
	if (rc == 0 || rc == -EIO || rc == -ETIMEDOUT || rc == -ECONNREFUSED) {
		int rc2 = settle(db, list_time);

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
	pending_dispose(&list);
	return rc;
}

/* ---- state file ------------------------------------------------------- */

#define STATE_VERSION 1

int mps3_db_save_state(struct mps3_db *db)
{
	json_t *st = NULL, *win = NULL, *ign = NULL;
	char tmp[4096], *dump = NULL;
	const char *name;
	json_t *v;
	size_t i, len;
	int fd = -1, rc = -ENOMEM;

	if (!db->cfg.state_file)
		return 0;
	pthread_mutex_lock(&db->lock);
	win = json_array();
	ign = json_array();
	for (i = 0; win && i < mps3_manifest_window_len(db->m); i++) {
		json_t *files;
		const struct mps3_logkey *k = mps3_manifest_window_key(db->m, i, &files);
		char n[MPS3_LOGNAME_MAX];

		mps3_logkey_format(n, k);
		json_array_append_new(win, json_pack("{s:s,s:O}", "name", n, "files", files));
	}
	json_object_foreach(db->known, name, v)
		if (json_integer_value(v) == K_IGNORED)
			json_array_append_new(ign, json_string(name));
	if (win && ign)
		st = json_pack("{s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:s,s:O,s:O,s:O}", "v", STATE_VERSION,
			       "url", mps3_store_url(db->store), "lag", (json_int_t)db->cfg.lag_ms,
			       "stale", (json_int_t)db->cfg.stale_ms,
			       "horizon", (json_int_t)mps3_manifest_horizon(db->m),
			       "last_list", (json_int_t)db->last_list,
			       "newest", (json_int_t)db->stats.newest, "head_etag", db->head_etag,
			       "anchor", db->anchor,
			       "checkpoint", db->stats.checkpoint, "base", mps3_manifest_base(db->m),
			       "window", win, "ignored", ign);
	pthread_mutex_unlock(&db->lock);
	if (!st)
		goto out;
	/* Serialise outside the lock: values are immutable and shared. */
	dump = json_dumps(st, JSON_COMPACT);
	if (!dump)
		goto out;
	len = strlen(dump);
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", db->cfg.state_file, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = mps3_error_set(-errno, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	for (i = 0; i < len;) {
		ssize_t w = write(fd, dump + i, len - i);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = mps3_error_set(-errno, "cannot write %s: %s", tmp, strerror(errno));
			goto out;
		}
		i += (size_t)w;
	}
	if (fsync(fd) < 0 || rename(tmp, db->cfg.state_file) < 0) {
		rc = mps3_error_set(-errno, "cannot save %s: %s", db->cfg.state_file, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	free(dump);
	json_decref(st);
	json_decref(win);
	json_decref(ign);
	return rc;
}

static const char *str_or_empty(json_t *v)
{
	const char *s = json_string_value(v);

	return s ? s : "";
}

/*
 * Load a saved state if it is usable: same URL and parameters, and listed
 * recently enough that GC cannot have removed entries it never saw (P2).
 * Returns 1 when loaded, 0 when there was nothing usable.
 */
static int load_state(struct mps3_db *db)
{
	json_error_t jerr;
	json_t *st, *win, *ign, *base, *v;
	int64_t last_list;
	const char *why = NULL;
	size_t i;
	int rc = 0;

	if (!db->cfg.state_file)
		return 0;
	st = json_load_file(db->cfg.state_file, JSON_REJECT_DUPLICATES, &jerr);
	if (!st) {
		if (access(db->cfg.state_file, F_OK) == 0)
			mps3_notice("ignoring state file %s: %s", db->cfg.state_file, jerr.text);
		return 0;
	}
	win = json_object_get(st, "window");
	ign = json_object_get(st, "ignored");
	base = json_object_get(st, "base");
	last_list = json_integer_value(json_object_get(st, "last_list"));
	if (json_integer_value(json_object_get(st, "v")) != STATE_VERSION || !json_is_array(win) ||
	    !json_is_array(ign) || !json_is_object(base) ||
	    !json_is_integer(json_object_get(st, "horizon")))
		why = "unknown format";
	else if (!json_is_string(json_object_get(st, "url")) ||
		 strcmp(json_string_value(json_object_get(st, "url")), mps3_store_url(db->store)) != 0)
		why = "made for another database";
	else if (json_integer_value(json_object_get(st, "lag")) != db->cfg.lag_ms ||
		 json_integer_value(json_object_get(st, "stale")) != db->cfg.stale_ms)
		why = "made with other lag/stale parameters";
	if (why)
		mps3_notice("ignoring state file %s: %s", db->cfg.state_file, why);
	/* Too old, or unusable: resolve afresh from the bucket. */
	if (why || mps3_clock_now(db->clock) - last_list > db->cfg.gc_grace_ms / 2) {
		json_decref(st);
		return 0;
	}
	pthread_mutex_lock(&db->lock);
	rc = mps3_manifest_reset(db->m, base, json_integer_value(json_object_get(st, "horizon")), NULL);
	json_object_clear(db->known);
	json_array_foreach(win, i, v) {
		struct mps3_logkey k;
		const char *n = json_string_value(json_object_get(v, "name"));
		json_t *files = json_object_get(v, "files");

		if (rc || !n || mps3_logkey_parse(&k, n) || !json_is_object(files)) {
			rc = rc ? rc : -EINVAL;
			break;
		}
		rc = mps3_manifest_add(db->m, &k, files, NULL);
		if (rc == -EEXIST)
			rc = 0;
		known_set(db, n, K_APPLIED);
	}
	json_array_foreach(ign, i, v)
		if (json_is_string(v))
			known_set(db, json_string_value(v), K_IGNORED);
	if (rc == 0) {
		db->last_list = last_list;
		db->stats.newest = json_integer_value(json_object_get(st, "newest"));
		snprintf(db->anchor, sizeof(db->anchor), "%s", str_or_empty(json_object_get(st, "anchor")));
		snprintf(db->head_etag, sizeof(db->head_etag), "%s",
			 str_or_empty(json_object_get(st, "head_etag")));
		snprintf(db->stats.checkpoint, sizeof(db->stats.checkpoint), "%s",
			 str_or_empty(json_object_get(st, "checkpoint")));
	} else {
		/* Half-loaded: start clean. */
		mps3_manifest_reset(db->m, NULL, INT64_MIN, NULL);
		json_object_clear(db->known);
	}
	pthread_mutex_unlock(&db->lock);
	json_decref(st);
	if (rc)
		mps3_notice("ignoring state file %s: malformed", db->cfg.state_file);
	return rc == 0;
}

/*
 * A saved state belongs to this bucket's history if the newest entry it
 * applied is still there.  Checked only when head changed since (a
 * re-created bucket has another head); a state whose anchor was collected
 * meanwhile is resolved afresh too, which is merely slower.  0, -ENOENT
 * (not this history) or the store's error.
 */
static int check_anchor(struct mps3_db *db)
{
	char etag[MPS3_ETAG_MAX], key[sizeof(LOG_PREFIX) + MPS3_LOGNAME_MAX];
	int rc;

	if (!db->anchor[0] || !db->head_etag[0])
		return 0;
	rc = read_head(db, db->head_etag, etag);
	if (rc || strcmp(etag, db->head_etag) == 0)
		return rc;
	snprintf(key, sizeof(key), LOG_PREFIX "%s", db->anchor);
	rc = mps3_store_head(db->store, key, NULL);
	if (rc == -ENOENT) {
		pthread_mutex_lock(&db->lock);
		mps3_manifest_reset(db->m, NULL, INT64_MIN, NULL);
		json_object_clear(db->known);
		db->head_etag[0] = '\0';
		db->anchor[0] = '\0';
		db->stats.newest = INT64_MIN;
		pthread_mutex_unlock(&db->lock);
	}
	return rc;
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
	db->exact_mtime = strcmp(mps3_store_scheme(store), "s3") != 0;
	pthread_mutex_init(&db->lock, NULL);
	pthread_mutex_init(&db->deliver, NULL);
	pthread_mutex_init(&db->poll_lock, NULL);
	db->m = mps3_manifest_new();
	db->known = json_object();
	if (!db->m || !db->known) {
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
	if (load_state(db)) {
		/* Catch up from the saved state: usually one conditional GET. */
		rc = check_anchor(db);
		if (rc == -ENOENT) {
			mps3_notice("%s: the saved state is of another history of this bucket; resolving afresh",
				    mps3_store_url(store));
			rc = resolve(db, NULL);
		} else if (rc == 0) {
			rc = mps3_db_poll(db, NULL);
		}
		if (rc && db->cfg.allow_offline && rc != -EACCES && rc != -EINVAL && rc != -ENOMEM) {
			mps3_warn("%s: store unreachable (%s); starting from the saved state, offline",
				  mps3_store_url(store), mps3_error_last(rc));
			rc = 0;
		}
	} else {
		rc = resolve(db, NULL);
	}
	if (rc)
		goto fail;
	/* A long log since the last checkpoint makes every open slow: shorten it. */
	if (maybe_checkpoint(db))
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
	if (!db)
		return;
	mps3_manifest_free(db->m);
	json_decref(db->known);
	pthread_mutex_destroy(&db->lock);
	pthread_mutex_destroy(&db->deliver);
	pthread_mutex_destroy(&db->poll_lock);
	free(db);
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

	pthread_mutex_lock(&db->lock);
	v = json_incref(json_object_get(mps3_manifest_files(db->m), path));
	pthread_mutex_unlock(&db->lock);
	*out = v;
	return v ? 0 : -ENOENT;
}

json_t *mps3_db_files(struct mps3_db *db)
{
	json_t *copy;

	pthread_mutex_lock(&db->lock);
	copy = json_copy(mps3_manifest_files(db->m));
	pthread_mutex_unlock(&db->lock);
	return copy;
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

/* ---- commit ------------------------------------------------------------- */

static int check_patch(json_t *patch)
{
	const char *path;
	json_t *v;
	int rc;

	if (!json_is_object(patch) || json_object_size(patch) == 0)
		return mps3_error_set(-EINVAL, "a patch must be a non-empty object of paths");
	json_object_foreach(patch, path, v) {
		rc = mps3_path_check(path);
		if (rc)
			return rc;
		if (!json_is_object(v) && !json_is_null(v))
			return mps3_error_set(-EINVAL, "patch for \"%s\" must be an object or null", path);
	}
	return 0;
}

static int write_head(struct mps3_db *db, const char *name)
{
	struct mps3_body body;

	memset(&body, 0, sizeof(body));
	body.data = name;
	body.len = strlen(name);
	return mps3_store_put(db->store, HEAD_KEY, &body, NULL);
}

/* Retry a head update that failed earlier (outside all locks). */
static void flush_head(struct mps3_db *db)
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

int mps3_db_commit(struct mps3_db *db, json_t *patch, struct mps3_logkey *keyout)
{
	struct mps3_changes changes;
	struct mps3_logkey key;
	char name[MPS3_LOGNAME_MAX], objkey[sizeof(LOG_PREFIX) + MPS3_LOGNAME_MAX];
	char *doc = NULL;
	size_t len = 0;
	int attempt, rc;

	rc = check_patch(patch);
	if (rc)
		return rc;
	memcpy(key.session, db->session, sizeof(key.session));
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
		pthread_mutex_lock(&db->lock);
		key.t = now;
		if (db->stats.newest != INT64_MIN && key.t <= db->stats.newest)
			key.t = db->stats.newest + 1;
		if (key.t <= db->last_t)
			key.t = db->last_t + 1;
		key.seq = ++db->seq;
		db->last_t = key.t;
		pthread_mutex_unlock(&db->lock);
		if (slack <= 0) {
			/* Not enough replies yet to know the store's time: ask for one. */
			(void)mps3_store_head(db->store, HEAD_KEY, NULL);
			mps3_error_clear();
			continue;
		}
		if (key.t - now > slack / 2) {
			/* Someone's entry is ahead of our clock: wait until ours may follow it. */
			sleep_ms(key.t - now - slack / 2);
			attempt--;
			continue;
		}
		rc = mps3_logkey_format(name, &key);
		if (rc)
			return mps3_error_set(rc, "time %" PRId64 " out of range", key.t);
		free(doc);
		doc = mps3_logentry_dump(&key, patch, &len);
		if (!doc)
			return -ENOMEM;
		if (len > db->cfg.max_entry_bytes) {
			free(doc);
			return mps3_error_set(-EFBIG, "patch of %zu bytes is larger than a log entry may be (%zu)",
					      len, db->cfg.max_entry_bytes);
		}
		snprintf(objkey, sizeof(objkey), LOG_PREFIX "%s", name);
		memset(&body, 0, sizeof(body));
		body.data = doc;
		body.len = len;
		memset(&info, 0, sizeof(info));
		a = mps3_clock_now(db->clock);
		rc = mps3_store_put(db->store, objkey, &body, &info);
		b = mps3_clock_now(db->clock);
		if (rc) {
			free(doc);
			return rc;
		}
		if (db->exact_mtime && info.mtime_ms) {
			if (mps3_entry_fresh(key.t, info.mtime_ms, db->cfg.stale_ms))
				break;
		} else if (key.t - a <= slack && a - key.t <= slack && b - key.t <= slack) {
			break;
		}
		pthread_mutex_lock(&db->lock);
		db->stats.recommits++;
		pthread_mutex_unlock(&db->lock);
		mps3_notice("%s: log/%s may be judged stale by readers (clock uncertainty %" PRId64 " ms, PUT took %" PRId64 " ms); committing it again",
			    mps3_store_url(db->store), name, u, b - a);
	}
	free(doc);

	rc = write_head(db, name);
	if (rc) {
		mps3_warn("%s: committed log/%s but could not update head (others see it at the next change): %s",
			  mps3_store_url(db->store), name, mps3_error_last(rc));
		pthread_mutex_lock(&db->lock);
		snprintf(db->head_pending, sizeof(db->head_pending), "%s", name);
		pthread_mutex_unlock(&db->lock);
	}

	mps3_changes_init(&changes);
	pthread_mutex_lock(&db->deliver);
	pthread_mutex_lock(&db->lock);
	rc = mps3_manifest_add(db->m, &key, patch, &changes);
	if (rc == 0 || rc == -EEXIST) {
		known_set(db, name, K_APPLIED);
		if (key.t > db->stats.newest) {
			db->stats.newest = key.t;
			snprintf(db->anchor, sizeof(db->anchor), "%s", name);
		}
		db->stats.commits++;
		rc = 0;
	}
	pthread_mutex_unlock(&db->lock);
	if (rc == 0)
		deliver(db, &changes, 1);
	pthread_mutex_unlock(&db->deliver);
	mps3_changes_dispose(&changes);
	if (rc == -ESTALE)
		rc = mps3_error_set(-EIO, "log/%s fell behind this client's own horizon", name);
	if (rc == 0 && keyout)
		*keyout = key;
	return rc;
}

/* ---- poll ---------------------------------------------------------------- */

static int maybe_checkpoint(struct mps3_db *db)
{
	int due;

	pthread_mutex_lock(&db->lock);
	/* Bigger maps make bigger checkpoints: space them out in proportion. */
	due = db->cfg.checkpoint_every &&
	      db->settled_since_cp >= db->cfg.checkpoint_every &&
	      db->settled_since_cp >= json_object_size(mps3_manifest_base(db->m)) / 16;
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

	if (changed)
		*changed = 0;
	mps3_changes_init(&changes);
	pthread_mutex_lock(&db->poll_lock);
	flush_head(db);
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
		rc = resolve(db, &changes);
		if (rc == 0) {
			pthread_mutex_lock(&db->lock);
			db->stats.polls_changed++;
			pthread_mutex_unlock(&db->lock);
			deliver(db, &changes, 0);
		}
		pthread_mutex_unlock(&db->deliver);
		goto out;
	}

	rc = read_head(db, old[0] ? old : NULL, etag);
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
	rc = list_log(db, horizon, &list);
	if (rc)
		goto out;
	fetch_all(db, &list);

	pthread_mutex_lock(&db->deliver);
	pthread_mutex_lock(&db->lock);
	rc = apply_fetched(db, &list, &changes);
	if (rc == 0) {
		rc = settle(db, list_time);
		/* Only a complete pass may move our idea of head forward. */
		if (rc == 0) {
			memcpy(db->head_etag, etag, sizeof(etag));
			db->stats.last_poll_ok = list_time;
			db->stats.polls_changed++;
		}
	}
	pthread_mutex_unlock(&db->lock);
	deliver(db, &changes, 0);
	pthread_mutex_unlock(&db->deliver);
	if (rc == 0)
		(void)maybe_checkpoint(db);
out:
	if (changed)
		*changed = changes.n > 0;
	pthread_mutex_unlock(&db->poll_lock);
	mps3_changes_dispose(&changes);
	pending_dispose(&list);
	return rc;
}

/* ---- checkpoint, log, gc, fsck -------------------------------------------- */

int mps3_db_checkpoint(struct mps3_db *db, struct mps3_logkey *keyout)
{
	char name[MPS3_LOGNAME_MAX], objkey[sizeof(CP_PREFIX) + MPS3_LOGNAME_MAX];
	struct mps3_logkey key;
	struct mps3_body body;
	json_t *files;
	char *doc;
	size_t len = 0;
	int rc;

	pthread_mutex_lock(&db->lock);
	key.t = mps3_manifest_horizon(db->m);
	files = json_copy(mps3_manifest_base(db->m));
	db->settled_since_cp = 0;
	pthread_mutex_unlock(&db->lock);
	if (!files)
		return -ENOMEM;
	memcpy(key.session, db->session, sizeof(key.session));
	key.seq = 0;
	if (key.t < 0) {
		json_decref(files);
		return mps3_error_set(-EAGAIN, "nothing is settled yet to checkpoint");
	}
	rc = mps3_cpkey_format(name, &key);
	doc = rc ? NULL : mps3_checkpoint_dump(&key, files, &len);
	json_decref(files);
	if (!doc)
		return rc ? rc : -ENOMEM;
	snprintf(objkey, sizeof(objkey), CP_PREFIX "%s", name);
	memset(&body, 0, sizeof(body));
	body.data = doc;
	body.len = len;
	rc = mps3_store_put(db->store, objkey, &body, NULL);
	free(doc);
	if (rc == 0) {
		mps3_info("%s: wrote %s", mps3_store_url(db->store), objkey);
		if (keyout)
			*keyout = key;
	}
	return rc;
}

int mps3_db_log(struct mps3_db *db, unsigned limit, mps3_db_log_fn fn, void *ctx)
{
	struct mps3_listing page;
	char *token = NULL;
	unsigned shown = 0;
	int rc = 0;

	for (;;) {
		struct pending_list sub = { 0 };
		size_t i, j, nshow;

		mps3_listing_init(&page);
		rc = mps3_store_list(db->store, LOG_PREFIX, NULL, token, 1000, &page);
		free(token);
		token = NULL;
		nshow = page.n;
		if (limit && nshow > limit - shown)
			nshow = limit - shown;
		/* Fetch the well-named ones in parallel, then report in listing order. */
		for (i = 0; rc == 0 && i < nshow; i++) {
			struct mps3_logkey k;

			if (mps3_logkey_parse(&k, page.v[i].key + strlen(LOG_PREFIX)) == 0 &&
			    page.v[i].info.size <= db->cfg.max_entry_bytes)
				rc = pending_add(&sub, page.v[i].key + strlen(LOG_PREFIX), &page.v[i].info);
		}
		if (rc == 0)
			fetch_all(db, &sub);
		for (i = 0, j = 0; rc == 0 && i < nshow; i++) {
			struct mps3_log_item it;
			struct pending *q;

			memset(&it, 0, sizeof(it));
			it.name = page.v[i].key + strlen(LOG_PREFIX);
			it.info = page.v[i].info;
			if (mps3_logkey_parse(&it.key, it.name)) {
				it.status = "malformed";
			} else if (it.info.size > db->cfg.max_entry_bytes) {
				it.status = "too-large";
			} else {
				q = &sub.v[j++];
				if (q->rc == -ENOENT)
					continue; /* collected since the LIST */
				if (!mps3_entry_fresh(it.key.t, it.info.mtime_ms, db->cfg.stale_ms))
					it.status = "stale";
				else if (q->rc)
					it.status = q->rc == -EINVAL ? "malformed" : "unreadable";
				else
					it.status = "ok";
				it.files = q->rc ? NULL : q->entry.files;
			}
			rc = fn(ctx, &it);
			shown++;
		}
		pending_dispose(&sub);
		if (rc || !page.truncated || !page.next_token || (limit && shown >= limit)) {
			mps3_listing_dispose(&page);
			break;
		}
		token = page.next_token;
		page.next_token = NULL;
		mps3_listing_dispose(&page);
	}
	free(token);
	return rc;
}

/* Every key under prefix, all pages. */
static int list_all(struct mps3_db *db, const char *prefix, struct mps3_listing *out)
{
	char *token = NULL;
	int rc;

	for (;;) {
		struct mps3_listing page;
		size_t i;

		mps3_listing_init(&page);
		rc = mps3_store_list(db->store, prefix, NULL, token, 1000, &page);
		free(token);
		token = NULL;
		for (i = 0; rc == 0 && i < page.n; i++)
			rc = mps3_listing_add(out, page.v[i].key, strlen(page.v[i].key), &page.v[i].info);
		if (rc || !page.truncated || !page.next_token) {
			mps3_listing_dispose(&page);
			return rc;
		}
		token = page.next_token;
		page.next_token = NULL;
		mps3_listing_dispose(&page);
	}
}

/* Add every blob a files map or patch names to the set refs. */
static void collect_blobs(json_t *refs, json_t *files)
{
	const char *path;
	json_t *v;

	json_object_foreach(files, path, v) {
		const char *b = json_string_value(json_object_get(v, "blob"));

		if (b && mps3_is_sha256_hex(b))
			json_object_set_new(refs, b, json_true());
	}
}

struct cp_item {
	const char *key;
	const struct mps3_objinfo *info;
	int valid;
	struct mps3_checkpoint cp;
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

int mps3_db_gc(struct mps3_db *db, int dry_run, struct mps3_gc_report *out)
{
	struct mps3_listing cps, logs, blobs;
	struct pending_list kept = { 0 };
	struct cp_item *items = NULL;
	json_t *refs = json_object(), *files = NULL;
	int64_t now = mps3_clock_now(db->clock), grace = db->cfg.gc_grace_ms;
	int64_t cutoff = INT64_MAX;
	unsigned valid = 0, round;
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	mps3_listing_init(&cps);
	mps3_listing_init(&logs);
	mps3_listing_init(&blobs);
	if (!refs)
		return -ENOMEM;

	for (round = 0; round < 2; round++) {
		rc = list_all(db, CP_PREFIX, &cps);
		if (rc)
			goto out;
		items = calloc(cps.n ? cps.n : 1, sizeof(*items));
		if (!items) {
			rc = -ENOMEM;
			goto out;
		}
		for (i = 0; i < cps.n; i++) {
			struct mps3_buf buf;
			const char *name = cps.v[i].key + strlen(CP_PREFIX);

			items[i].key = cps.v[i].key;
			items[i].info = &cps.v[i].info;
			if (valid >= db->cfg.keep_checkpoints || cps.v[i].info.size > db->cfg.max_checkpoint_bytes)
				continue;
			mps3_buf_init(&buf, db->cfg.max_checkpoint_bytes);
			rc = mps3_store_get_buf(db->store, cps.v[i].key, &buf, NULL);
			if (rc == 0 && mps3_checkpoint_parse(&items[i].cp, name, mps3_buf_cstr(&buf), buf.len) == 0) {
				items[i].valid = 1;
				valid++;
				if (items[i].cp.key.t - db->cfg.lag_ms < cutoff)
					cutoff = items[i].cp.key.t - db->cfg.lag_ms;
				collect_blobs(refs, items[i].cp.files);
			}
			mps3_buf_dispose(&buf);
			if (rc && rc != -ENOENT)
				goto out;
			rc = 0;
		}
		if (valid > 0 || dry_run)
			break;
		/* Nothing to keep the history short with: write a checkpoint first. */
		free(items);
		items = NULL;
		mps3_listing_dispose(&cps);
		mps3_listing_init(&cps);
		rc = mps3_db_checkpoint(db, NULL);
		if (rc)
			goto out;
	}
	if (valid == 0)
		cutoff = INT64_MIN; /* no checkpoint: every log entry is needed */

	/* Checkpoints: keep the retained ones, drop older or broken ones past the grace period. */
	for (i = 0; i < cps.n; i++) {
		if (items[i].valid) {
			out->checkpoints_kept++;
			continue;
		}
		if (valid == 0)
			continue;
		if (now - items[i].info->mtime_ms < grace) {
			out->skipped_young++;
			continue;
		}
		if (gc_delete(db, items[i].key, dry_run) == 0) {
			out->checkpoints_deleted++;
			out->bytes_deleted += items[i].info->size;
		}
	}

	/* Log entries older than the oldest retained checkpoint's window. */
	rc = list_all(db, LOG_PREFIX, &logs);
	if (rc)
		goto out;
	for (i = 0; i < logs.n; i++) {
		const char *name = logs.v[i].key + strlen(LOG_PREFIX);
		struct mps3_logkey k;

		if (mps3_logkey_parse(&k, name))
			continue; /* not ours to judge */
		if (k.t < cutoff) {
			if (now - logs.v[i].info.mtime_ms < grace) {
				out->skipped_young++;
				continue;
			}
			if (gc_delete(db, logs.v[i].key, dry_run) == 0) {
				out->entries_deleted++;
				out->bytes_deleted += logs.v[i].info.size;
			}
			continue;
		}
		out->entries_kept++;
		if (logs.v[i].info.size <= db->cfg.max_entry_bytes) {
			rc = pending_add(&kept, name, &logs.v[i].info);
			if (rc)
				goto out;
		}
	}

	/* Blobs: referenced by a kept checkpoint, a kept entry, or the state we hold. */
	fetch_all(db, &kept);
	for (i = 0; i < kept.n; i++) {
		if (kept.v[i].rc == 0) {
			collect_blobs(refs, kept.v[i].entry.files);
		} else if (kept.v[i].rc != -EINVAL && kept.v[i].rc != -ENOENT) {
			rc = mps3_error_set(kept.v[i].rc, "gc: cannot read log/%s (%s); not deleting blobs",
					    kept.v[i].name, kept.v[i].err);
			goto out;
		}
	}
	files = mps3_db_files(db);
	if (files)
		collect_blobs(refs, files);
	rc = list_all(db, BLOB_PREFIX, &blobs);
	if (rc)
		goto out;
	for (i = 0; i < blobs.n; i++) {
		const char *hex = blobs.v[i].key + strlen(BLOB_PREFIX);

		if (json_object_get(refs, hex)) {
			out->blobs_kept++;
			continue;
		}
		if (now - blobs.v[i].info.mtime_ms < grace) {
			out->skipped_young++;
			continue;
		}
		if (gc_delete(db, blobs.v[i].key, dry_run) == 0) {
			out->blobs_deleted++;
			out->bytes_deleted += blobs.v[i].info.size;
		}
	}
out:
	if (items)
		for (i = 0; i < cps.n; i++)
			json_decref(items[i].cp.files);
	free(items);
	json_decref(files);
	json_decref(refs);
	pending_dispose(&kept);
	mps3_listing_dispose(&cps);
	mps3_listing_dispose(&logs);
	mps3_listing_dispose(&blobs);
	return rc;
}

static int null_write(void *ctx, const void *p, size_t n)
{
	(void)ctx;
	(void)p;
	(void)n;
	return 0;
}

static int fsck_log_item(void *ctx, const struct mps3_log_item *it)
{
	struct mps3_fsck_report *r = ctx;

	if (strcmp(it->status, "ok") == 0)
		return 0;
	if (strcmp(it->status, "stale") == 0)
		r->stale_entries++;
	else
		r->bad_entries++;
	mps3_warn("fsck: log/%s is %s", it->name, it->status);
	return 0;
}

int mps3_db_fsck(struct mps3_db *db, int verify, struct mps3_fsck_report *out)
{
	struct mps3_listing blobs, cps;
	json_t *files = NULL, *sizes = json_object(), *checked = json_object();
	const char *path;
	json_t *v;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	mps3_listing_init(&blobs);
	mps3_listing_init(&cps);
	if (!sizes || !checked) {
		rc = -ENOMEM;
		goto out;
	}
	rc = mps3_db_log(db, 0, fsck_log_item, out);
	if (rc)
		goto out;
	rc = list_all(db, CP_PREFIX, &cps);
	if (rc)
		goto out;
	for (i = 0; i < cps.n; i++) {
		struct mps3_checkpoint cp;
		struct mps3_buf buf;
		int prc;

		mps3_buf_init(&buf, db->cfg.max_checkpoint_bytes);
		rc = mps3_store_get_buf(db->store, cps.v[i].key, &buf, NULL);
		if (rc == -ENOENT) {
			mps3_buf_dispose(&buf);
			rc = 0;
			continue;
		}
		prc = rc ? rc : mps3_checkpoint_parse(&cp, cps.v[i].key + strlen(CP_PREFIX),
						      mps3_buf_cstr(&buf), buf.len);
		mps3_buf_dispose(&buf);
		if (rc && rc != -EFBIG)
			goto out;
		rc = 0;
		if (prc) {
			out->bad_checkpoints++;
			mps3_warn("fsck: %s: %s", cps.v[i].key, mps3_error_last(prc));
			continue;
		}
		json_decref(cp.files);
	}
	/* One LIST of blobs/ instead of a HEAD per file. */
	rc = list_all(db, BLOB_PREFIX, &blobs);
	if (rc)
		goto out;
	for (i = 0; i < blobs.n; i++)
		json_object_set_new(sizes, blobs.v[i].key + strlen(BLOB_PREFIX),
				    json_integer((json_int_t)blobs.v[i].info.size));
	files = mps3_db_files(db);
	if (!files) {
		rc = -ENOMEM;
		goto out;
	}
	json_object_foreach(files, path, v) {
		struct mps3_entry e;
		json_t *sz;
		int prc = mps3_entry_parse(&e, v);

		if (prc == -ENOENT)
			continue;
		if (prc) {
			out->bad_entries++;
			mps3_warn("fsck: %s: malformed entry: %s", path, mps3_error_last(prc));
			continue;
		}
		if (e.type == MPS3_DIR) {
			out->dirs++;
			continue;
		}
		if (e.type == MPS3_LINK) {
			out->links++;
			continue;
		}
		out->files++;
		if (json_object_get(checked, e.blob))
			continue;
		json_object_set_new(checked, e.blob, json_true());
		out->blobs_checked++;
		sz = json_object_get(sizes, e.blob);
		if (!sz) {
			out->missing_blobs++;
			mps3_warn("fsck: %s: blob %s is missing", path, e.blob);
			continue;
		}
		if ((uint64_t)json_integer_value(sz) != e.size) {
			out->size_mismatch++;
			mps3_warn("fsck: %s: blob %s has %" PRId64 " bytes, the entry says %" PRIu64, path,
				  e.blob, (int64_t)json_integer_value(sz), e.size);
			continue;
		}
		if (verify) {
			struct mps3_sink sink = { null_write, NULL };
			int grc = mps3_db_blob_get(db, e.blob, NULL, &sink);

			if (grc == -EBADMSG) {
				out->corrupt_blobs++;
			} else if (grc) {
				rc = grc;
				goto out;
			}
		}
	}
out:
	json_decref(files);
	json_decref(sizes);
	json_decref(checked);
	mps3_listing_dispose(&blobs);
	mps3_listing_dispose(&cps);
	return rc;
}

void mps3_db_get_stats(struct mps3_db *db, struct mps3_db_stats *out)
{
	pthread_mutex_lock(&db->lock);
	*out = db->stats;
	out->horizon = mps3_manifest_horizon(db->m);
	out->window = mps3_manifest_window_len(db->m);
	out->paths = json_object_size(mps3_manifest_files(db->m));
	pthread_mutex_unlock(&db->lock);
	out->clock_offset_ms = mps3_clock_offset(db->clock);
	out->clock_uncertainty_ms = mps3_clock_uncertainty(db->clock);
}
