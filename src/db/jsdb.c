/*
 * db/jsdb.c - a database in the MPS3 JavaScript client's layout
 * (mps3/jsdb.h): its reader rule over one LIST page, and a writer that
 * keeps to that rule without the client's defects.
 *
 * State: the resolved files map and the newest name time seen (the
 * client's latest_timestamp), the entries read before (immutable: kept by
 * name while they are listed), the session and its counter.  db->lock
 * guards all of it and is never held over a request; db->commit_lock
 * serialises writers across their requests.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/clock.h"
#include "mps3/error.h"
#include "mps3/jsdb.h"
#include "mps3/jsfmt.h"
#include "mps3/json.h"
#include "mps3/keys.h"
#include "mps3/log.h"
#include "mps3/mergepatch.h"
#include "mps3/rand.h"

/* An entry holds the writer's whole map: larger ones are not read (nor written). */
#define ENTRY_MAX ((size_t)64 << 20)
#define LIST_MAX 1000
#define COMMIT_TRIES 5

struct mps3_jsdb {
	struct mps3_store *store;
	struct mps3_clock *clock;
	char *bucket, *prefix, *manifest;
	pthread_mutex_t lock;
	pthread_mutex_t commit_lock;	/* held by a writer across its requests */
	json_t *files;			/* the resolved map; protected by lock */
	json_t *entries;		/* name -> {"update": ...} of the entries read and still listed; protected by lock */
	char *base_name;		/* the base entry last read, whole in base_doc; protected by lock */
	json_t *base_doc;
	uint64_t list_gen;		/* refreshes started; protected by lock */
	uint64_t shown_gen;		/* the refresh whose state files is; protected by lock */
	int state_ok;			/* files is what the last listing gives (not kept over an unreadable base) */
	json_t *reported;		/* keys reported as hidden; protected by lock */
	int64_t newest_ms;		/* the newest name time seen; protected by lock */
	int found;			/* the open found M or an entry of it; read-only after open */
	char session[MPS3_JS_SESSION_LEN + 1];	/* protected by commit_lock */
	unsigned counter;		/* the next entry's; protected by commit_lock */
};

static int new_session(struct mps3_jsdb *db)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	unsigned char r[MPS3_JS_SESSION_LEN];
	size_t i;
	int rc = mps3_random_bytes(r, sizeof(r));

	if (rc)
		return rc;
	for (i = 0; i < sizeof(r); i++)
		db->session[i] = digits[r[i] % 36];
	db->session[sizeof(r)] = '\0';
	db->counter = 0;
	return 0;
}

int mps3_jsdb_open(struct mps3_jsdb **out, struct mps3_store *store, const struct mps3_jsdb_config *cfg)
{
	struct mps3_jsdb *db;
	const char *m = cfg->manifest && *cfg->manifest ? cfg->manifest : MPS3_JS_DEFAULT_MANIFEST;
	int rc;

	*out = NULL;
	if (!cfg->bucket || !*cfg->bucket || strchr(cfg->bucket, '/'))
		return mps3_error_set(-EINVAL, "the MPS3 layout needs the bucket's name (--mps3-bucket, mps3_bucket=)");
	if (strchr(m, '@') || m[0] == '/' || m[strlen(m) - 1] == '/')
		return mps3_error_set(-EINVAL, "manifest %s: a key with no '@' and no '/' at either end", m);
	db = calloc(1, sizeof(*db));
	if (!db)
		return -ENOMEM;
	db->store = store;
	db->clock = mps3_store_clock(store);
	db->bucket = strdup(cfg->bucket);
	db->prefix = strdup(cfg->prefix ? cfg->prefix : "");
	db->manifest = strdup(m);
	db->files = json_object();
	db->entries = json_object();
	db->reported = json_object();
	pthread_mutex_init(&db->lock, NULL);
	pthread_mutex_init(&db->commit_lock, NULL);
	rc = !db->bucket || !db->prefix || !db->manifest || !db->files || !db->entries || !db->reported ? -ENOMEM
												 : 0;
	if (!rc)
		rc = new_session(db);
	if (!rc) {
		/* As the client GETs M first: the store's clock is known before names are made from it. */
		struct mps3_objinfo info;

		db->found = mps3_store_head(store, db->manifest, &info) == 0;
		mps3_error_clear();
		rc = mps3_jsdb_refresh(db, NULL);
		db->found = db->found || db->newest_ms > 0;
	}
	if (rc) {
		mps3_jsdb_free(db);
		return rc;
	}
	*out = db;
	return 0;
}

int mps3_jsdb_found(const struct mps3_jsdb *db)
{
	return db->found;
}

void mps3_jsdb_free(struct mps3_jsdb *db)
{
	if (!db)
		return;
	json_decref(db->files);
	json_decref(db->entries);
	json_decref(db->base_doc);
	free(db->base_name);
	json_decref(db->reported);
	free(db->bucket);
	free(db->prefix);
	free(db->manifest);
	pthread_mutex_destroy(&db->lock);
	pthread_mutex_destroy(&db->commit_lock);
	free(db);
}

const char *mps3_jsdb_session(struct mps3_jsdb *db)
{
	return db->session;
}

/* ---- reading ------------------------------------------------------------ */

/* The first page of M@, listed from the name of now + the look-ahead, as the client lists it. */
static int list_log(struct mps3_jsdb *db, struct mps3_listing *page)
{
	char code[10], *prefix = NULL, *after = NULL;
	int64_t now = mps3_clock_now(db->clock) + MPS3_JS_LOOKAHEAD_MS;
	int rc;

	if (mps3_js_time_code(code, now > MPS3_JS_TIME_MAX ? MPS3_JS_TIME_MAX : now))
		return mps3_error_set(-ERANGE, "the store's clock is outside the MPS3 client's times");
	if (asprintf(&prefix, "%s@", db->manifest) < 0 || asprintf(&after, "%s@%s", db->manifest, code) < 0)
		rc = -ENOMEM;
	else
		rc = mps3_store_list(db->store, prefix, after, NULL, LIST_MAX, page);
	free(prefix);
	free(after);
	return rc;
}

/*
 * Entry e's document (no lock held): whole for the base, else only its
 * update, as kept (entries never change) or fetched.  New reference; NULL
 * with *rc -ENOENT (gone: the client skips it), -EINVAL (not an entry),
 * -EFBIG (larger than ENTRY_MAX: not read), or the store's error.
 */
static json_t *entry_doc(struct mps3_jsdb *db, const struct mps3_list_entry *e, int whole, int *rc)
{
	struct mps3_buf buf;
	json_t *doc, *kept;

	pthread_mutex_lock(&db->lock);
	if (whole)
		doc = db->base_name && strcmp(db->base_name, e->key) == 0 ? json_incref(db->base_doc) : NULL;
	else
		doc = json_incref(json_object_get(db->entries, e->key));
	pthread_mutex_unlock(&db->lock);
	*rc = 0;
	if (doc)
		return doc;
	if (e->info.size > ENTRY_MAX) {
		*rc = mps3_error_set(-EFBIG, "%s: %llu bytes is more than the %zu an entry may have here", e->key,
				     (unsigned long long)e->info.size, ENTRY_MAX);
		return NULL;
	}
	mps3_buf_init(&buf, ENTRY_MAX);
	*rc = mps3_store_get_buf(db->store, e->key, &buf, NULL);
	if (*rc == 0)
		*rc = mps3_js_entry_parse(&doc, buf.data ? buf.data : "", buf.len);
	mps3_buf_dispose(&buf);
	if (*rc)
		return NULL;
	/* Only the base's map is ever needed: the others keep their update alone. */
	kept = json_pack("{s:O?}", "update", json_object_get(doc, "update"));
	pthread_mutex_lock(&db->lock);
	if (kept)
		json_object_set(db->entries, e->key, kept);
	if (whole) {
		char *name = strdup(e->key);

		if (name) {
			free(db->base_name);
			json_decref(db->base_doc);
			db->base_name = name;
			db->base_doc = json_incref(doc);
		}
	}
	pthread_mutex_unlock(&db->lock);
	if (!whole) {
		json_decref(doc);
		doc = kept;
	} else {
		json_decref(kept);
	}
	return doc;
}

/* Keep only the entries still listed (lock held). */
static void prune_entries(struct mps3_jsdb *db, const struct mps3_listing *page)
{
	json_t *keep = json_object();
	size_t i;

	if (!keep)
		return;
	for (i = 0; i < page->n; i++) {
		json_t *d = json_object_get(db->entries, page->v[i].key);

		if (d)
			json_object_set(keep, page->v[i].key, d);
	}
	json_decref(db->entries);
	db->entries = keep;
}

/* The state the plan of one listing gives (no lock held): new reference in *files, or the error. */
static int resolve(struct mps3_jsdb *db, const struct mps3_listing *page, long newest, const size_t *apply,
		   size_t napply, json_t **files)
{
	json_t *base, **updates = calloc(napply ? napply : 1, sizeof(*updates));
	size_t i, n = 0;
	int rc, err = 0;

	*files = NULL;
	if (!updates)
		return -ENOMEM;
	base = entry_doc(db, &page->v[newest], 1, &rc);
	for (i = 0; !rc && i < napply; i++) {
		updates[n] = entry_doc(db, &page->v[apply[i]], 0, &rc);
		if (rc == -ENOENT || rc == -EINVAL || rc == -EFBIG) {
			/* Gone since the LIST, or not an entry: the client merges nothing for it. */
			mps3_info("%s: skipping %s: %s", mps3_store_url(db->store), page->v[apply[i]].key,
				  mps3_error_last(rc));
			rc = 0;
			continue;
		}
		n += updates[n] != NULL;
	}
	if (!rc) {
		*files = mps3_js_resolve(base, updates, n, &err);
		rc = err;
	}
	for (i = 0; i < n; i++)
		json_decref(updates[i]);
	free(updates);
	json_decref(base);
	return rc;
}

int mps3_jsdb_refresh(struct mps3_jsdb *db, int *changed)
{
	struct mps3_listing page;
	struct mps3_js_listed *v = NULL;
	size_t *apply = NULL, napply = 0, i;
	json_t *files = NULL;
	int64_t ms = 0;
	uint64_t gen;
	long newest;
	int rc;

	if (changed)
		*changed = 0;
	mps3_listing_init(&page);
	/* Refreshes may overlap (a poll, a commit): only a later listing's state replaces an earlier one's. */
	pthread_mutex_lock(&db->lock);
	gen = ++db->list_gen;
	pthread_mutex_unlock(&db->lock);
	rc = list_log(db, &page);
	if (rc)
		goto out;
	v = calloc(page.n ? page.n : 1, sizeof(*v));
	apply = calloc(page.n ? page.n : 1, sizeof(*apply));
	if (!v || !apply) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < page.n; i++) {
		v[i].name = page.v[i].key;
		v[i].lastmod_ms = page.v[i].info.mtime_ms;
	}
	newest = mps3_js_plan(db->manifest, v, page.n, apply, &napply);
	if (newest == -ENOENT) {
		mps3_error_clear();
		/* No fresh entry: the state stays, as the client keeps it; an empty log's is {}. */
		pthread_mutex_lock(&db->lock);
		if (gen > db->shown_gen)
			db->state_ok = json_object_size(db->files) == 0 || db->state_ok;
		pthread_mutex_unlock(&db->lock);
		goto out;
	}
	if (newest < 0) {
		rc = (int)newest;
		goto out;
	}
	/* Whatever comes of reading it, later names are after this one. */
	(void)mps3_js_entry_time(page.v[newest].key, &ms);
	pthread_mutex_lock(&db->lock);
	if (ms > db->newest_ms)
		db->newest_ms = ms;
	pthread_mutex_unlock(&db->lock);
	rc = resolve(db, &page, newest, apply, napply, &files);
	if (rc == -ENOENT || rc == -EINVAL || rc == -EFBIG) {
		/* The base went away, is no entry or too large: the state stays, and is not written over. */
		mps3_warn("%s: the newest entry %s could not be read (%s); keeping the state", mps3_store_url(db->store),
			  page.v[newest].key, mps3_error_last(rc));
		pthread_mutex_lock(&db->lock);
		if (gen > db->shown_gen)
			db->state_ok = 0;
		pthread_mutex_unlock(&db->lock);
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	pthread_mutex_lock(&db->lock);
	if (gen > db->shown_gen) {
		if (changed)
			*changed = !json_equal(files, db->files);
		json_decref(db->files);
		db->files = files;
		files = NULL;
		db->shown_gen = gen;
		db->state_ok = 1;
		prune_entries(db, &page);
	}
	pthread_mutex_unlock(&db->lock);
out:
	json_decref(files);
	free(v);
	free(apply);
	mps3_listing_dispose(&page);
	return rc;
}

/* The map key of path ("BUCKET/PREFIX/path"), malloc'd. */
static char *map_key(struct mps3_jsdb *db, const char *path)
{
	char *k = NULL;

	if (asprintf(&k, "%s/%s%s%s", db->bucket, db->prefix, *db->prefix ? "/" : "", path) < 0)
		return NULL;
	return k;
}

json_t *mps3_jsdb_paths(struct mps3_jsdb *db)
{
	json_t *out = json_object(), *v;
	const char *key;

	if (!out)
		return NULL;
	pthread_mutex_lock(&db->lock);
	json_object_foreach(db->files, key, v) {
		const char *path;
		int rc = mps3_js_key_path(key, db->bucket, db->prefix, &path);

		if (rc == 0 && json_is_object(v) && mps3_js_version(v)) {
			json_object_set(out, path, v);
			continue;
		}
		if (json_object_get(db->reported, key))
			continue;
		json_object_set_new(db->reported, key, json_true());
		if (rc == -EINVAL)
			mps3_warn("%s: not showing %s: %s", mps3_store_url(db->store), key, mps3_error_last(rc));
		else if (rc == 0)
			mps3_warn("%s: not showing %s: its value names no version", mps3_store_url(db->store), key);
		else
			mps3_info("%s: not showing %s: another bucket's, or outside the prefix", mps3_store_url(db->store),
				  key);
	}
	pthread_mutex_unlock(&db->lock);
	return out;
}

int mps3_jsdb_read_object(struct mps3_jsdb *db, const char *obj, struct mps3_buf *out, struct mps3_objinfo *info)
{
	struct mps3_buf doc;
	int rc;

	/* A document may be larger than its content (escapes, base64): the limit is the content's. */
	mps3_buf_init(&doc, MPS3_JS_VALUE_MAX * 8);
	rc = mps3_store_get_buf(db->store, obj, &doc, info);
	if (rc == -EFBIG)
		rc = mps3_error_set(-EFBIG, "%s: more than an MPS3 value may hold", obj);
	if (!rc) {
		rc = mps3_js_value_decode(out, doc.data ? doc.data : "", doc.len);
		if (rc == -EINVAL)
			rc = mps3_error_set(-EINVAL, "%s is not a JSON document", obj);
	}
	mps3_buf_dispose(&doc);
	return rc;
}

int mps3_jsdb_read(struct mps3_jsdb *db, const char *path, struct mps3_buf *out)
{
	char *key = map_key(db, path), *obj = NULL;
	const char *version = NULL;
	int rc;

	if (!key)
		return -ENOMEM;
	pthread_mutex_lock(&db->lock);
	version = mps3_js_version(json_object_get(db->files, key));
	if (version && asprintf(&obj, "%s@%s", path, version) < 0)
		obj = NULL;
	pthread_mutex_unlock(&db->lock);
	free(key);
	if (!version)
		return mps3_error_set(-ENOENT, "%s: no such key", path);
	if (!obj)
		return -ENOMEM;
	rc = mps3_jsdb_read_object(db, obj, out, NULL);
	if (rc == -ENOENT)
		rc = mps3_error_set(-EIO, "%s: its value %s is not in the bucket (a versioned bucket's values are not read yet)",
				    path, obj);
	free(obj);
	return rc;
}

/* ---- writing --------------------------------------------------------------- */

/* A version 4 UUID, lower case, as the client names values. */
static int uuid4(char out[37])
{
	unsigned char r[16];
	int rc = mps3_random_bytes(r, sizeof(r));

	if (rc)
		return rc;
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
		 r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
	return 0;
}

static int put_mem(struct mps3_jsdb *db, const char *key, const char *data, size_t n, struct mps3_objinfo *info)
{
	struct mps3_body body;

	memset(&body, 0, sizeof(body));
	body.data = data;
	body.len = n;
	return mps3_store_put(db->store, key, &body, info);
}

/* Whether path may be written: an mps3 path whose key the client does not take as its log's. */
static int writable(struct mps3_jsdb *db, const char *path)
{
	size_t m = strlen(db->manifest);
	int rc = mps3_path_check(path);

	if (rc)
		return rc;
	if (strncmp(path, db->manifest, m) == 0 && (path[m] == '\0' || path[m] == '@'))
		return mps3_error_set(-EPERM, "%s: the MPS3 client reads that name as its manifest's", path);
	return 0;
}

/* An entry's PUT: once (a retry after a reply that may be lost would restamp it), under its own name. */
static int put_entry(struct mps3_jsdb *db, const char *name, const char *text, struct mps3_objinfo *info)
{
	struct mps3_body body;

	memset(&body, 0, sizeof(body));
	body.data = text;
	body.len = strlen(text);
	body.once = 1;
	return mps3_store_put(db->store, name, &body, info);
}

/*
 * Whether readers take an entry named at ms, stored as info says.  Where
 * the store does not report LastModified on a PUT (S3), the time is our
 * estimate of its clock, and LastModified itself is whole seconds: a
 * margin of a second and the estimate's uncertainty is kept.
 */
static int entry_taken(struct mps3_jsdb *db, int64_t ms, const struct mps3_objinfo *info)
{
	int64_t stored, d, margin;

	if (info->mtime_ms)
		return mps3_js_entry_fresh(ms, info->mtime_ms);
	stored = mps3_clock_now(db->clock);
	margin = 1000 + (mps3_clock_uncertainty(db->clock) > 0 ? mps3_clock_uncertainty(db->clock) : 0);
	d = stored > ms ? stored - ms : ms - stored;
	return d < MPS3_JS_LAG_MS - margin;
}

/*
 * One entry with update (borrowed) over the state read just before: named
 * again until the store's time of its PUT is within the readers' window of
 * its name.  commit_lock held.  0 or -errno.
 */
static int commit(struct mps3_jsdb *db, json_t *update)
{
	int tries, rc = 0;

	for (tries = 0; tries < COMMIT_TRIES; tries++) {
		struct mps3_objinfo info;
		json_t *doc;
		char *name = NULL, *text;
		int64_t ms, stored;

		rc = mps3_jsdb_refresh(db, NULL);
		if (rc)
			return rc;
		if (db->counter > MPS3_JS_COUNTER_MAX && (rc = new_session(db)) != 0)
			return rc;
		pthread_mutex_lock(&db->lock);
		if (!db->state_ok) {
			/* Our entry would be the next base: without the newest's map it would drop it for everyone. */
			pthread_mutex_unlock(&db->lock);
			return mps3_error_set(-EIO, "the newest entry of %s cannot be read: writing now would lose what it holds",
					      db->manifest);
		}
		/* After every name seen: with an equal time the session's bytes would decide the order. */
		ms = mps3_clock_now(db->clock);
		if (ms <= db->newest_ms)
			ms = db->newest_ms + 1;
		doc = json_pack("{s:O, s:{s:O}}", "files", db->files, "update", "files", update);
		pthread_mutex_unlock(&db->lock);
		rc = mps3_js_entry_name(&name, db->manifest, ms, db->session, db->counter++);
		text = rc || !doc ? NULL : mps3_json_dumps(doc, JSON_COMPACT);
		json_decref(doc);
		if (!rc && !text)
			rc = -ENOMEM;
		if (!rc && strlen(text) > ENTRY_MAX)
			rc = mps3_error_set(-EFBIG, "the map is larger than the %zu bytes an entry may have", ENTRY_MAX);
		memset(&info, 0, sizeof(info));
		if (!rc)
			rc = put_entry(db, name, text, &info);
		free(text);
		if (rc) {
			free(name);
			return rc;
		}
		if (entry_taken(db, ms, &info)) {
			pthread_mutex_lock(&db->lock);
			if (ms > db->newest_ms)
				db->newest_ms = ms;
			pthread_mutex_unlock(&db->lock);
			free(name);
			/* The change signal the client's readers may look at: exactly the JSON "". Not the change itself. */
			if (put_mem(db, db->manifest, "\"\"", 2, NULL))
				mps3_warn("%s: the change is in, but %s was not touched: %s", mps3_store_url(db->store),
					  db->manifest, mps3_error_last(-EIO));
			if (mps3_jsdb_refresh(db, NULL))
				mps3_info("%s: reading the state after a change: %s", mps3_store_url(db->store),
					  mps3_error_last(-EIO));
			return 0;
		}
		stored = info.mtime_ms ? info.mtime_ms : mps3_clock_now(db->clock);
		/* Every reader rejects it: ours to delete, and named again on the store's time. */
		mps3_info("%s: %s was stored %+" PRId64 " ms from its name; writing it again", mps3_store_url(db->store),
			  name, stored - ms);
		(void)mps3_store_delete(db->store, name);
		free(name);
	}
	return mps3_error_set(-ETIMEDOUT, "the store's clock kept moving away from the entries' names");
}

char *mps3_jsdb_map_key(struct mps3_jsdb *db, const char *path)
{
	return map_key(db, path);
}

json_t *mps3_jsdb_value(struct mps3_jsdb *db, const char *path)
{
	char *key = map_key(db, path);
	json_t *v;

	if (!key)
		return NULL;
	pthread_mutex_lock(&db->lock);
	v = json_incref(json_object_get(db->files, key));
	pthread_mutex_unlock(&db->lock);
	free(key);
	return v;
}

int mps3_jsdb_put_value(struct mps3_jsdb *db, const char *path, const void *p, size_t n, char version[37])
{
	struct mps3_buf value = MPS3_BUF_INIT;
	char *obj = NULL;
	int rc = writable(db, path);

	if (!rc)
		rc = mps3_js_value_encode(&value, p, n);
	if (!rc)
		rc = uuid4(version);
	if (!rc && asprintf(&obj, "%s@%s", path, version) < 0)
		rc = -ENOMEM;
	if (!rc)
		rc = put_mem(db, obj, value.data, value.len, NULL);
	mps3_buf_dispose(&value);
	free(obj);
	return rc;
}

int mps3_jsdb_apply(struct mps3_jsdb *db, json_t *update)
{
	int rc;

	pthread_mutex_lock(&db->commit_lock);
	rc = commit(db, update);
	pthread_mutex_unlock(&db->commit_lock);
	return rc;
}

int mps3_jsdb_write(struct mps3_jsdb *db, const char *path, const void *p, size_t n)
{
	char version[37], *key = map_key(db, path);
	json_t *update = NULL;
	int rc = key ? writable(db, path) : -ENOMEM;

	if (!rc && !p) {
		pthread_mutex_lock(&db->lock);
		if (!json_object_get(db->files, key))
			rc = mps3_error_set(-ENOENT, "%s: no such key", path);
		pthread_mutex_unlock(&db->lock);
		update = rc ? NULL : json_pack("{s:n}", key);
	} else if (!rc) {
		/* The value first: an entry never names what is not there. */
		rc = mps3_jsdb_put_value(db, path, p, n, version);
		update = rc ? NULL : json_pack("{s:{s:s, s:s}}", key, "version", version, "replication", "");
	}
	if (!rc && !update)
		rc = -ENOMEM;
	if (!rc)
		rc = mps3_jsdb_apply(db, update);
	json_decref(update);
	free(key);
	return rc;
}

/* ---- the log ------------------------------------------------------------------ */

int mps3_jsdb_log(struct mps3_jsdb *db, int (*fn)(void *arg, const struct mps3_jsdb_entry *e), void *arg)
{
	struct mps3_listing page;
	struct mps3_js_listed *v = NULL;
	size_t *apply = NULL, napply = 0, i, j;
	long newest;
	int rc;

	mps3_listing_init(&page);
	rc = list_log(db, &page);
	if (!rc) {
		v = calloc(page.n ? page.n : 1, sizeof(*v));
		apply = calloc(page.n ? page.n : 1, sizeof(*apply));
		if (!v || !apply)
			rc = -ENOMEM;
	}
	for (i = 0; !rc && i < page.n; i++) {
		v[i].name = page.v[i].key;
		v[i].lastmod_ms = page.v[i].info.mtime_ms;
	}
	newest = rc ? -1 : mps3_js_plan(db->manifest, v, page.n, apply, &napply);
	if (newest == -ENOENT) {
		mps3_error_clear();
		newest = -1; /* no fresh entry */
	} else if (newest < 0 && !rc) {
		rc = (int)newest;
	}
	for (i = 0; !rc && i < page.n; i++) {
		struct mps3_jsdb_entry e;
		json_t *doc = NULL;
		int replayed = 0, err;

		memset(&e, 0, sizeof(e));
		e.name = page.v[i].key;
		e.lastmod_ms = page.v[i].info.mtime_ms;
		e.size = page.v[i].info.size;
		for (j = 0; j < napply; j++)
			replayed |= apply[j] == i;
		if (mps3_js_entry_time(e.name, &e.t)) {
			e.t = 0;
			e.status = "invalid";
		} else if (!mps3_js_entry_fresh(e.t, e.lastmod_ms)) {
			e.status = "stale";
		} else {
			e.status = (long)i == newest ? "base" : replayed ? "replayed" : "old";
			doc = entry_doc(db, &page.v[i], 0, &err);
			e.update = json_object_get(json_object_get(doc, "update"), "files");
		}
		rc = fn(arg, &e);
		json_decref(doc);
	}
	free(v);
	free(apply);
	mps3_listing_dispose(&page);
	return rc;
}
