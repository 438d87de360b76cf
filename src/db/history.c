/*
 * db/history.c - past states of the database (mps3/history.h): the map at
 * a time (H1), named snapshots (H2), and restoring paths.  The changes
 * that touched a path are in db/changes.c.
 *
 * A past state is R1 applied to the log as it stood then: the newest valid
 * checkpoint not after t, plus every accepted entry from its window up to
 * t.  Accepted means what R2 accepts, a property of the stored object, so
 * every client builds the same past state from the same bucket.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/history.h"
#include "mps3/json.h"
#include "mps3/log.h"
#include "mps3/mergepatch.h"
#include "mps3/timefmt.h"
#include "internal.h"

/* "PREFIX<digits of t>": a listing started after it gives the names of time t and older. */
static void time_key(char *out, size_t n, const char *prefix, int64_t t)
{
	struct mps3_logkey k = { 0, "0000000000000000", 0 };
	char name[MPS3_LOGNAME_MAX];

	k.t = t < 0 ? 0 : t > MPS3_TIME_MAX ? MPS3_TIME_MAX : t;
	if (mps3_cpkey_format(name, &k))
		name[0] = '\0';
	else
		name[MPS3_TIME_DIGITS] = '\0';
	snprintf(out, n, "%s%s", prefix, name);
}

int mps3_db_history_start(struct mps3_db *db, int64_t *from)
{
	struct mps3_buf buf;
	json_t *j;
	int rc, perr = 0;

	*from = INT64_MIN;
	mps3_buf_init(&buf, 4096);
	rc = mps3_store_get_buf(db->store, HISTORY_KEY, &buf, NULL);
	if (rc == -ENOENT) {
		mps3_error_clear();
		mps3_buf_dispose(&buf);
		return 0; /* nothing was ever collected */
	}
	j = rc ? NULL : mps3_json_loadb(buf.data, buf.len, 0, NULL, &perr);
	mps3_buf_dispose(&buf);
	if (rc)
		return rc;
	if (perr == -ENOMEM)
		return mps3_error_set(perr, "out of memory reading %s", HISTORY_KEY);
	if (!json_is_integer(json_object_get(j, "from"))) {
		/* Unreadable: assume the least, that only now is complete. */
		mps3_warn("%s: ignoring %s: not a history record", mps3_store_url(db->store), HISTORY_KEY);
		*from = mps3_clock_now(db->clock);
	} else {
		*from = json_integer_value(json_object_get(j, "from"));
	}
	json_decref(j);
	return 0;
}

/* The newest valid checkpoint not after t: 0 (out->files NULL if none), or the store's error. */
static int checkpoint_at(struct mps3_db *db, int64_t t, struct mps3_checkpoint *out)
{
	char after[PREFIX_MAX + MPS3_LOGNAME_MAX];
	const struct mps3_list_entry *e;
	struct db_pages it;
	int rc;

	memset(out, 0, sizeof(*out));
	time_key(after, sizeof(after), db->cp_prefix, t);
	db_pages_init(&it, db, db->cp_prefix, after);
	while ((rc = db_page_next(&it, &e)) == 1) {
		struct mps3_checkpoint cp;

		rc = db_read_checkpoint(db, e, &cp);
		if (rc == 1)
			continue;
		if (rc)
			break;
		if (cp.key.t > t) { /* a store that ignores start-after */
			json_decref(cp.files);
			continue;
		}
		*out = cp;
		break;
	}
	db_pages_dispose(&it);
	return rc < 0 ? rc : 0;
}

/* The accepted entries named in [stop, t], listed; unparsable, stale and oversized ones left out. */
static int list_between(struct mps3_db *db, int64_t stop, int64_t t, struct pending_list *out)
{
	char after[PREFIX_MAX + MPS3_LOGNAME_MAX];
	const struct mps3_list_entry *e;
	struct db_pages it;
	int rc;

	time_key(after, sizeof(after), db->log_prefix, t);
	db_pages_init(&it, db, db->log_prefix, after);
	while ((rc = db_page_next(&it, &e)) == 1) {
		const char *name = e->key + strlen(db->log_prefix);
		struct mps3_logkey k;

		if (mps3_logkey_parse(&k, name) || k.t > t)
			continue;
		if (k.t < stop) {
			rc = 0;
			break;
		}
		/* R2 and the size limit, as every reader decides. */
		if (!mps3_entry_fresh(k.t, e->info.mtime_ms, db->cfg.stale_ms) ||
		    e->info.size > db->cfg.max_entry_bytes)
			continue;
		rc = db_pending_add(out, name, &e->info);
		if (rc)
			break;
	}
	db_pages_dispose(&it);
	return rc;
}

/* Replay order; entries that could not be read last. */
static int cmp_fetched(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	if (x->rc || y->rc)
		return (x->rc != 0) - (y->rc != 0);
	return mps3_logkey_cmp(&x->entry.key, &y->entry.key);
}

int mps3_db_state_at(struct mps3_db *db, int64_t t, json_t **files)
{
	struct pending_list list = { 0 };
	struct mps3_checkpoint cp = { 0 };
	struct mps3_logkey *covered = NULL;
	json_t *cpfiles = NULL;
	int64_t from, stop = INT64_MIN;
	size_t i, ncovered = 0;
	int rc;

	*files = NULL;
	if (db->js)
		return mps3_error_set(-EOPNOTSUPP, "the MPS3 client's layout keeps no history");
	if (t > mps3_clock_now(db->clock) + db->cfg.stale_ms)
		return mps3_error_set(-EINVAL, "that time has not come yet");
	rc = mps3_db_history_start(db, &from);
	if (rc)
		return rc;
	if (t < from) {
		char when[25];

		mps3_time_format_iso8601(when, from);
		return mps3_error_set(-ENOENT, "states before %s are no longer kept (see gc --history)", when);
	}
	rc = checkpoint_at(db, t, &cp);
	cpfiles = cp.files;
	if (!rc && cpfiles)
		stop = cp.key.t - db->cfg.lag_ms;
	if (!rc)
		rc = list_between(db, stop, t, &list);
	/* The entries of the checkpoint's window it holds already: not fetched again. */
	if (!rc && cpfiles && db_skip_window(db, &cp, &list, &covered, &ncovered) < 0)
		rc = -ENOMEM;
	free(covered);
	if (!rc)
		db_fetch_all(db, &list);
	for (i = 0; !rc && i < list.n; i++) {
		struct pending *p = &list.v[i];

		/* Malformed (every reader ignores it) or collected since the LIST: left out. */
		if (p->rc && p->rc != -EINVAL && p->rc != -ENOENT)
			rc = mps3_error_set(p->rc, "log/%s: %s", p->name, p->err);
	}
	if (!rc) {
		/* In order onto a copy of the checkpoint's map (shared: values are never changed in place). */
		json_t *copy = cpfiles ? json_copy(cpfiles) : json_object();

		if (list.n)
			qsort(list.v, list.n, sizeof(*list.v), cmp_fetched);
		json_decref(cpfiles);
		cpfiles = copy;
		rc = cpfiles ? 0 : -ENOMEM;
	}
	for (i = 0; !rc && i < list.n && list.v[i].rc == 0; i++)
		rc = mps3_files_apply(cpfiles, list.v[i].entry.files);
	if (!rc)
		*files = json_incref(cpfiles);
	json_decref(cpfiles);
	db_pending_dispose(&list);
	return rc;
}

/* ---- named snapshots ------------------------------------------------------------ */

int mps3_snapshot_name_check(const char *name)
{
	size_t i, n = name ? strlen(name) : 0;

	if (n == 0 || n > MPS3_SNAPSHOT_NAME_MAX || name[0] == '.')
		return mps3_error_set(-EINVAL, "a snapshot name is 1 to %d letters, digits, '.', '_' or '-', not starting with '.'",
				      MPS3_SNAPSHOT_NAME_MAX);
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return mps3_error_set(-EINVAL, "a snapshot name is 1 to %d letters, digits, '.', '_' or '-', not starting with '.'",
					      MPS3_SNAPSHOT_NAME_MAX);
	}
	return 0;
}

struct text_sink {
	struct mps3_buf *b;
	int err;
};

static int append_text(const char *p, size_t n, void *ctx)
{
	struct text_sink *t = ctx;

	/* Sticky: jansson 2.14 ignores a failed append of an object key and goes on. */
	if (!t->err)
		t->err = mps3_buf_append(t->b, p, n);
	return t->err ? -1 : 0;
}

int mps3_db_snapshot_create(struct mps3_db *db, const char *name, int64_t t)
{
	char key[sizeof(SNAP_PREFIX) + MPS3_SNAPSHOT_NAME_MAX];
	struct mps3_logkey k;
	struct mps3_body body;
	struct mps3_buf doc;
	json_t *files = NULL;
	int rc = mps3_snapshot_name_check(name);

	if (rc)
		return rc;
	snprintf(key, sizeof(key), SNAP_PREFIX "%s", name);
	rc = mps3_store_head(db->store, key, NULL);
	if (rc == 0)
		return mps3_error_set(-EEXIST, "snapshot %s exists", name);
	if (rc != -ENOENT)
		return rc;
	mps3_error_clear();
	memset(&k, 0, sizeof(k));
	snprintf(k.session, sizeof(k.session), "%s", db->session);
	/* A checkpoint's document, bounded as readers bound it; now's map written as text, never as JSON. */
	mps3_buf_init(&doc, db->cfg.max_checkpoint_bytes);
	rc = mps3_buf_append(&doc, MPS3_CHECKPOINT_OPEN, strlen(MPS3_CHECKPOINT_OPEN));
	if (!rc && t == 0) {
		k.t = mps3_clock_now(db->clock);
		rc = db_files_dump(db, &doc);
	} else if (!rc) {
		struct text_sink sink = { &doc, 0 };

		k.t = t;
		rc = mps3_db_state_at(db, t, &files);
		if (!rc && (mps3_json_dump_callback(files, append_text, &sink, JSON_COMPACT) || sink.err))
			rc = sink.err ? sink.err : -ENOMEM;
		json_decref(files);
	}
	if (!rc)
		rc = mps3_checkpoint_close(&doc, &k, NULL);
	if (rc == -EFBIG)
		rc = mps3_error_set(-EFBIG, "a snapshot of this map would be more than the %zu bytes readers take",
				    db->cfg.max_checkpoint_bytes);
	if (!rc) {
		memset(&body, 0, sizeof(body));
		body.data = doc.data;
		body.len = doc.len;
		rc = mps3_store_put(db->store, key, &body, NULL);
	}
	mps3_buf_dispose(&doc);
	return rc;
}

/*
 * Snapshot name read: its map as JSON into *files (files NULL: only
 * counted, into *paths, never as JSON), its time into *t (may be NULL).
 */
static int snapshot_read(struct mps3_db *db, const char *name, json_t **files, size_t *paths, int64_t *t)
{
	char key[sizeof(SNAP_PREFIX) + MPS3_SNAPSHOT_NAME_MAX];
	struct mps3_base *count = NULL;
	struct mps3_checkpoint cp;
	struct mps3_buf buf;
	int rc = mps3_snapshot_name_check(name);

	if (rc)
		return rc;
	snprintf(key, sizeof(key), SNAP_PREFIX "%s", name);
	mps3_buf_init(&buf, db->cfg.max_checkpoint_bytes);
	rc = mps3_store_get_buf(db->store, key, &buf, NULL);
	if (rc == -ENOENT)
		rc = mps3_error_set(-ENOENT, "no snapshot %s", name);
	if (!rc && files)
		rc = mps3_snapshot_parse(&cp, mps3_buf_cstr(&buf), buf.len);
	else if (!rc && !(count = mps3_base_new()))
		rc = mps3_error_set(-ENOMEM, "out of memory");
	else if (!rc)
		rc = mps3_snapshot_scan(&cp, mps3_buf_cstr(&buf), buf.len, mps3_base_add_fn, mps3_base_add_packed_fn,
					count);
	mps3_buf_dispose(&buf);
	if (!rc && count)
		*paths = mps3_base_size(count);
	mps3_base_free(count);
	if (rc == -EINVAL)
		return mps3_error_set(-EINVAL, "snapshot %s: %s", name, mps3_error_last(rc));
	if (rc)
		return rc;
	if (files)
		*files = cp.files;
	if (t)
		*t = cp.key.t;
	return 0;
}

int mps3_db_snapshot_get(struct mps3_db *db, const char *name, json_t **files, int64_t *t)
{
	*files = NULL;
	return snapshot_read(db, name, files, NULL, t);
}

int mps3_db_snapshot_delete(struct mps3_db *db, const char *name)
{
	char key[sizeof(SNAP_PREFIX) + MPS3_SNAPSHOT_NAME_MAX];
	int rc = mps3_snapshot_name_check(name);

	if (rc)
		return rc;
	snprintf(key, sizeof(key), SNAP_PREFIX "%s", name);
	rc = mps3_store_head(db->store, key, NULL);
	if (rc == -ENOENT)
		return mps3_error_set(-ENOENT, "no snapshot %s", name);
	return rc ? rc : mps3_store_delete(db->store, key);
}

int mps3_db_snapshot_list(struct mps3_db *db, mps3_db_snapshot_fn fn, void *ctx)
{
	const struct mps3_list_entry *e;
	struct db_pages it;
	int rc;

	db_pages_init(&it, db, SNAP_PREFIX, NULL);
	while ((rc = db_page_next(&it, &e)) == 1) {
		struct mps3_snapshot_info si;
		const char *name = e->key + strlen(SNAP_PREFIX);

		if (mps3_snapshot_name_check(name)) {
			mps3_error_clear();
			continue; /* not one of ours */
		}
		rc = snapshot_read(db, name, NULL, &si.paths, &si.t);
		if (rc == -ENOENT)
			continue; /* deleted since the LIST */
		if (rc == -EINVAL) {
			mps3_warn("%s: %s", mps3_store_url(db->store), mps3_error_last(rc));
			continue;
		}
		if (rc)
			break;
		si.name = name;
		si.info = e->info;
		rc = fn(ctx, &si);
		if (rc)
			break;
	}
	db_pages_dispose(&it);
	return rc < 0 || rc > 1 ? rc : 0;
}

/* ---- restore ------------------------------------------------------------------------ */

static int under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	return n == 0 || (strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

static int under_any(const char *path, const char *const *paths, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (under(path, paths[i]))
			return 1;
	return 0;
}

static int is_entry(json_t *v)
{
	struct mps3_entry e;

	return v && mps3_entry_parse(&e, v) == 0;
}

/* The patch that makes a path hold old instead of cur: every field of old, and null for the rest. */
static json_t *replace_with(json_t *cur, json_t *old)
{
	json_t *p = json_deep_copy(old), *v;
	const char *k;

	if (!p)
		return NULL;
	json_object_foreach(cur, k, v)
		if (!json_object_get(old, k))
			json_object_set_new(p, k, json_null());
	return p;
}

json_t *mps3_restore_patch(json_t *cur, json_t *old, const char *const *paths, size_t n)
{
	json_t *patch = json_object(), *v, *c;
	const char *path;

	if (!patch)
		return NULL;
	/* What is there now and was not then goes. */
	json_object_foreach(cur, path, v)
		if (under_any(path, paths, n) && is_entry(v) && !is_entry(json_object_get(old, path)))
			json_object_set_new(patch, path, json_null());
	/* What was there then comes back, as it was. */
	json_object_foreach(old, path, v) {
		if (!under_any(path, paths, n) || !is_entry(v))
			continue;
		c = json_object_get(cur, path);
		if (c && json_equal(c, v))
			continue;
		json_object_set_new(patch, path, is_entry(c) ? replace_with(c, v) : json_deep_copy(v));
	}
	/* A file now where a restored path needs a directory: it goes too (it was not there then). */
	json_object_foreach(patch, path, v) {
		char *p;
		char *s;

		if (json_is_null(v) || !(p = strdup(path)))
			continue;
		while ((s = strrchr(p, '/')) != NULL) {
			struct mps3_entry e;

			*s = '\0';
			c = json_object_get(cur, p);
			if (c && mps3_entry_parse(&e, c) == 0 && e.type != MPS3_DIR && !json_object_get(patch, p))
				json_object_set_new(patch, p, json_null());
		}
		free(p);
	}
	return patch;
}

int mps3_db_restore(struct mps3_db *db, int64_t t, const char *const *paths, size_t n, size_t *changed,
		    struct mps3_logkey *key)
{
	json_t *old = NULL, *cur, *patch;
	size_t i;
	int rc;

	if (changed)
		*changed = 0;
	for (i = 0; i < n; i++) {
		rc = paths[i][0] ? mps3_path_check(paths[i]) : 0;
		if (rc)
			return rc;
	}
	rc = mps3_db_state_at(db, t, &old);
	if (rc)
		return rc;
	cur = mps3_db_files(db);
	patch = cur ? mps3_restore_patch(cur, old, paths, n) : NULL;
	json_decref(cur);
	json_decref(old);
	if (!patch)
		return -ENOMEM;
	if (changed)
		*changed = json_object_size(patch);
	/* The blobs it names are in the bucket: history keeps them (H3). */
	rc = json_object_size(patch) ? mps3_db_commit(db, patch, key) : 0;
	json_decref(patch);
	return rc;
}
