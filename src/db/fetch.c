/*
 * db/fetch.c - reading the log: listing it page by page down to a horizon,
 * fetching new entries several at a time, and applying them to the
 * manifest in replay order.  Whatever is malformed, stale or too large is
 * reported once and remembered as ignored, so one bad object never stops
 * the others (docs/PROTOCOL.md, R1-R3).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/log.h"
#include "mps3/timefmt.h"
#include "internal.h"

void db_pending_dispose(struct pending_list *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->v[i].name);
		json_decref(p->v[i].entry.files);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

int db_pending_add(struct pending_list *p, const char *name, const struct mps3_objinfo *info)
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
int db_known_get(struct mps3_db *db, const char *name)
{
	return json_object_get(db->known, name) != NULL;
}

void db_known_forget_applied(struct mps3_db *db)
{
	const char *name;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(db->known, tmp, name, v) {
		if (json_integer_value(v) == K_APPLIED)
			json_object_del(db->known, name);
	}
}

void db_known_set(struct mps3_db *db, const char *name, enum known_state s)
{
	json_object_set_new(db->known, name, json_integer(s));
	db_unsure_settle(db, name);
}

/* ---- listing, page by page --------------------------------------------- */

void db_pages_init(struct db_pages *it, struct mps3_db *db, const char *prefix, const char *start_after)
{
	memset(it, 0, sizeof(*it));
	it->db = db;
	it->prefix = prefix;
	it->start_after = start_after;
	mps3_listing_init(&it->page);
}

void db_pages_dispose(struct db_pages *it)
{
	mps3_listing_dispose(&it->page);
	free(it->token);
	it->token = NULL;
}

int db_page_next(struct db_pages *it, const struct mps3_list_entry **out)
{
	int rc;

	while (it->i >= it->page.n) {
		if (it->started && it->last)
			return 0;
		mps3_listing_dispose(&it->page);
		mps3_listing_init(&it->page);
		rc = mps3_store_list(it->db->store, it->prefix, it->token ? NULL : it->start_after, it->token, 1000,
				     &it->page);
		free(it->token);
		it->token = NULL;
		if (rc)
			return rc;
		it->started = 1;
		it->i = 0;
		it->last = !it->page.truncated || !it->page.next_token;
		if (!it->last) {
			it->token = it->page.next_token;
			it->page.next_token = NULL;
		}
	}
	*out = &it->page.v[it->i++];
	return 1;
}

int db_list_all(struct mps3_db *db, const char *prefix, struct mps3_listing *out)
{
	const struct mps3_list_entry *e;
	struct db_pages it;
	int rc;

	db_pages_init(&it, db, prefix, NULL);
	while ((rc = db_page_next(&it, &e)) == 1) {
		rc = mps3_listing_add(out, e->key, strlen(e->key), &e->info);
		if (rc)
			break;
	}
	db_pages_dispose(&it);
	return rc;
}

int64_t db_future_limit(struct mps3_db *db)
{
	int64_t u = mps3_clock_uncertainty(db->clock);

	return mps3_clock_now(db->clock) + db->cfg.stale_ms + (u > 0 ? u : 0) + 1000;
}

/* ---- the log --------------------------------------------------------------- */

/*
 * Whether a log entry seen for the first time is to be ignored for its name
 * or its listing (lock held): a malformed name, stale by R2 or too large.
 * Reports it (once: it is remembered) and returns 1 if so.
 */
static int ignore_listed(struct mps3_db *db, const char *name, const struct mps3_logkey *k, int parsed,
			 const struct mps3_objinfo *info)
{
	char a[25], b[25];

	if (!parsed) {
		db_known_set(db, name, K_IGNORED);
		mps3_warn("%s: ignoring log/%s: not a log entry name", mps3_store_url(db->store), name);
		return 1;
	}
	if (k->t > db_future_limit(db)) {
		db_known_set(db, name, K_IGNORED);
		db->stats.entries_ignored++;
		mps3_time_format_iso8601(a, k->t);
		mps3_warn("%s: ignoring log/%s: named %s, later than any client can write now",
			  mps3_store_url(db->store), name, a);
		return 1;
	}
	if (mps3_entry_fresh(k->t, info->mtime_ms, db->cfg.stale_ms) && info->size <= db->cfg.max_entry_bytes)
		return 0;
	db_known_set(db, name, K_IGNORED);
	db->stats.entries_ignored++;
	if (info->size > db->cfg.max_entry_bytes) {
		mps3_warn("%s: ignoring log/%s: %" PRIu64 " bytes is more than the %zu a log entry may have",
			  mps3_store_url(db->store), name, info->size, db->cfg.max_entry_bytes);
	} else {
		mps3_time_format_iso8601(a, k->t);
		mps3_time_format_iso8601(b, info->mtime_ms);
		mps3_warn("%s: ignoring log/%s: named %s but stored %s (more than %" PRId64 " ms apart: its writer's clock was off)",
			  mps3_store_url(db->store), name, a, b, db->cfg.stale_ms);
	}
	return 1;
}

/*
 * List log/ newest first down to (not including) entries older than stop,
 * and queue every name not known yet.  Names that are malformed, stale or
 * too large are reported once and remembered as ignored.
 */
int db_list_log(struct mps3_db *db, int64_t stop, struct pending_list *out)
{
	const struct mps3_list_entry *e;
	struct db_pages it;
	int rc;

	db_pages_init(&it, db, db->log_prefix, NULL);
	while ((rc = db_page_next(&it, &e)) == 1) {
		const char *name = e->key + strlen(db->log_prefix);
		struct mps3_logkey k;
		int parsed = mps3_logkey_parse(&k, name) == 0, ignored, seen;

		if (parsed && k.t < stop) {
			rc = 0;
			break;
		}
		pthread_mutex_lock(&db->lock);
		seen = db_known_get(db, name);
		ignored = !seen && ignore_listed(db, name, &k, parsed, &e->info);
		pthread_mutex_unlock(&db->lock);
		if (seen || ignored)
			continue;
		rc = db_pending_add(out, name, &e->info);
		if (rc)
			break;
	}
	db_pages_dispose(&it);
	return rc;
}

static int cmp_key(const void *a, const void *b)
{
	return mps3_logkey_cmp(a, b);
}

int db_skip_window(struct mps3_db *db, const struct mps3_checkpoint *cp, struct pending_list *list,
		   struct mps3_logkey **keys, size_t *n)
{
	int64_t from = cp->key.t - db->cfg.lag_ms;
	struct mps3_cpwindow w;
	struct mps3_logkey *v;
	size_t i, j, k = 0;
	int rc;

	*keys = NULL;
	*n = 0;
	if (!cp->has_window || cp->window.from != from)
		return 0; /* none, or of another lag */
	v = malloc((list->n ? list->n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < list->n; i++) {
		struct mps3_logkey key;

		if (mps3_logkey_parse(&key, list->v[i].name) == 0 && key.t >= from && key.t < cp->key.t)
			v[k++] = key;
	}
	if (k != cp->window.n) {
		free(v);
		return 0;
	}
	qsort(v, k, sizeof(*v), cmp_key);
	rc = mps3_cpwindow_digest(&w, from, v, k);
	if (rc || memcmp(w.md, cp->window.md, sizeof(w.md)) != 0) {
		free(v);
		return rc ? rc : 0;
	}
	/* The same entries: the checkpoint holds them, nobody needs to fetch them. */
	for (i = j = 0; i < list->n; i++) {
		struct mps3_logkey key;

		if (mps3_logkey_parse(&key, list->v[i].name) == 0 && key.t >= from && key.t < cp->key.t) {
			free(list->v[i].name);
			continue;
		}
		list->v[j++] = list->v[i];
	}
	list->n = j;
	*keys = v;
	*n = k;
	return 1;
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
	char key[PREFIX_MAX + MPS3_LOGNAME_MAX + 64];
	int rc;

	mps3_buf_init(&buf, db->cfg.max_entry_bytes);
	snprintf(key, sizeof(key), "%s%s", db->log_prefix, p->name);
	rc = mps3_store_get_buf(db->store, key, &buf, &p->got);
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

	pthread_setname_np(pthread_self(), "mps3-resolve");
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
void db_fetch_all(struct mps3_db *db, struct pending_list *list)
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
int db_apply_fetched(struct mps3_db *db, struct pending_list *list,
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
			db_known_set(db, p->name, K_IGNORED);
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
			db_known_set(db, p->name, K_IGNORED);
			db->stats.entries_ignored++;
			mps3_warn("%s: ignoring log/%s: it became visible later than the %" PRId64 " ms window allows",
				  mps3_store_url(db->store), p->name, db->cfg.lag_ms);
			continue;
		}
		if (rc && rc != -EEXIST)
			return rc;
		db_known_set(db, p->name, K_APPLIED);
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
void db_known_prune(struct mps3_db *db)
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
	db_unsure_prune(db, h);
}

