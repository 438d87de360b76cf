/*
 * db/jsmode.c - a database opened over the MPS3 JavaScript client's layout
 * (mps3_db_config.js): the state mps3/jsdb.h resolves, shown as a files
 * map of ordinary file entries, so that everything above the database (the
 * mount, its tree, cache, fetcher and watchers) works unchanged.
 *
 * A value KEY@VERSION becomes {"type":"f","blob":SHA,"size":N,"mtime":NS}:
 * SHA and N of the content it stands for (mps3_js_value_decode), NS its
 * object's LastModified, so that every mount shows the same.  A value is
 * read once per version to learn them; the blob SHA then names that object,
 * and mps3_db_blob_get() serves its content, checked against SHA.
 * Directories are implicit.  Read-only for now: commits and uploads are
 * -EROFS.
 *
 * Locks: js->lock guards the tables; db->poll_lock serialises polls as for
 * the native layout; no lock is held over a request.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/jsdb.h"
#include "mps3/jsfmt.h"
#include "mps3/log.h"
#include "internal.h"

struct db_js {
	struct mps3_jsdb *jdb;
	pthread_mutex_t lock;
	json_t *values;		/* "PATH@VERSION" -> {"blob", "size", "mtime"}: values read; protected by lock */
	json_t *blobs;		/* SHA -> "PATH@VERSION" of a value with that content; protected by lock */
	json_t *reported;	/* objects reported unreadable; protected by lock */
};

/* What value object obj stands for, read now if not before (no lock held).  New reference, or NULL with *rc. */
static json_t *value_meta(struct db_js *js, const char *obj, int *rc)
{
	struct mps3_objinfo info;
	struct mps3_buf content;
	char hex[MPS3_SHA256_HEX_LEN + 1];
	json_t *meta;

	pthread_mutex_lock(&js->lock);
	meta = json_incref(json_object_get(js->values, obj));
	pthread_mutex_unlock(&js->lock);
	*rc = 0;
	if (meta)
		return meta;
	memset(&info, 0, sizeof(info));
	mps3_buf_init(&content, MPS3_JS_VALUE_MAX);
	*rc = mps3_jsdb_read_object(js->jdb, obj, &content, &info);
	if (*rc == 0) {
		mps3_sha256_hex(hex, content.data ? content.data : "", content.len);
		meta = json_pack("{s:s, s:I, s:I}", "blob", hex, "size", (json_int_t)content.len, "mtime",
				 (json_int_t)info.mtime_ms * 1000000);
		if (!meta)
			*rc = -ENOMEM;
	}
	mps3_buf_dispose(&content);
	if (!meta)
		return NULL;
	pthread_mutex_lock(&js->lock);
	json_object_set(js->values, obj, meta);
	json_object_set_new(js->blobs, hex, json_string(obj));
	pthread_mutex_unlock(&js->lock);
	return meta;
}

/*
 * The files map of the state jsdb holds (no lock held): new reference, or
 * NULL with *rc, the store's error (a value it could not read for now).
 * Values that are not there or not JSON are left out, reported once.
 */
static json_t *translate(struct mps3_db *db, int *rc)
{
	struct db_js *js = db->js;
	json_t *paths = mps3_jsdb_paths(js->jdb), *files = json_object(), *v;
	const char *path;

	*rc = paths && files ? 0 : -ENOMEM;
	json_object_foreach(paths, path, v) {
		const char *version = mps3_js_version(v);
		char *obj = NULL;
		json_t *meta, *entry;

		if (*rc)
			break;
		if (asprintf(&obj, "%s@%s", path, version) < 0) {
			*rc = -ENOMEM;
			break;
		}
		meta = value_meta(js, obj, rc);
		if (*rc == -ENOENT || *rc == -EINVAL || *rc == -EFBIG) {
			pthread_mutex_lock(&js->lock);
			if (!json_object_get(js->reported, obj)) {
				json_object_set_new(js->reported, obj, json_true());
				mps3_warn("%s: not showing %s: %s", mps3_store_url(db->store), path, mps3_error_last(*rc));
			}
			pthread_mutex_unlock(&js->lock);
			*rc = 0;
			free(obj);
			continue;
		}
		free(obj);
		if (*rc)
			break;
		entry = json_pack("{s:s, s:O, s:O, s:O}", "type", "f", "blob", json_object_get(meta, "blob"), "size",
				  json_object_get(meta, "size"), "mtime", json_object_get(meta, "mtime"));
		json_decref(meta);
		if (!entry || json_object_set_new(files, path, entry)) {
			*rc = -ENOMEM;
			break;
		}
	}
	json_decref(paths);
	if (*rc) {
		json_decref(files);
		return NULL;
	}
	return files;
}

/* Show the state jsdb holds: the changes to whoever listens (db->poll_lock held). */
static int show(struct mps3_db *db, int *changed)
{
	struct mps3_changes changes;
	json_t *files;
	int rc;

	files = translate(db, &rc);
	if (!files)
		return rc;
	mps3_changes_init(&changes);
	pthread_mutex_lock(&db->deliver);
	pthread_mutex_lock(&db->lock);
	rc = mps3_manifest_reset(db->m, files, INT64_MIN, &changes);
	if (!rc) {
		db->stats.last_poll_ok = mps3_clock_now(db->clock);
		db->stats.polls_changed += changes.n > 0;
	}
	pthread_mutex_unlock(&db->lock);
	json_decref(files);
	if (changed)
		*changed = changes.n > 0;
	db_deliver(db, &changes, 0);
	pthread_mutex_unlock(&db->deliver);
	mps3_changes_dispose(&changes);
	return rc;
}

int db_js_open(struct mps3_db *db, const struct mps3_jsdb_config *cfg)
{
	struct db_js *js = calloc(1, sizeof(*js));
	int rc;

	if (!js)
		return -ENOMEM;
	pthread_mutex_init(&js->lock, NULL);
	js->values = json_object();
	js->blobs = json_object();
	js->reported = json_object();
	db->js = js;
	if (!js->values || !js->blobs || !js->reported)
		return -ENOMEM;
	rc = mps3_jsdb_open(&js->jdb, db->store, cfg);
	if (rc)
		return rc;
	pthread_mutex_lock(&db->poll_lock);
	rc = show(db, NULL);
	pthread_mutex_unlock(&db->poll_lock);
	return rc;
}

void db_js_free(struct mps3_db *db)
{
	struct db_js *js = db->js;

	if (!js)
		return;
	mps3_jsdb_free(js->jdb);
	json_decref(js->values);
	json_decref(js->blobs);
	json_decref(js->reported);
	pthread_mutex_destroy(&js->lock);
	free(js);
	db->js = NULL;
}

int db_js_poll(struct mps3_db *db, int *changed)
{
	int rc, ch = 0;

	if (changed)
		*changed = 0;
	pthread_mutex_lock(&db->poll_lock);
	pthread_mutex_lock(&db->lock);
	db->stats.polls++;
	pthread_mutex_unlock(&db->lock);
	rc = mps3_jsdb_refresh(db->js->jdb, &ch);
	if (!rc && ch)
		rc = show(db, changed);
	else if (!rc) {
		pthread_mutex_lock(&db->lock);
		db->stats.last_poll_ok = mps3_clock_now(db->clock);
		pthread_mutex_unlock(&db->lock);
	}
	pthread_mutex_unlock(&db->poll_lock);
	return rc;
}

/* The value object whose content is blob hex, malloc'd, or NULL (-ENOENT set). */
static char *object_of(struct db_js *js, const char *hex)
{
	char *obj;

	pthread_mutex_lock(&js->lock);
	obj = json_string_value(json_object_get(js->blobs, hex)) ? strdup(json_string_value(json_object_get(js->blobs, hex)))
								 : NULL;
	pthread_mutex_unlock(&js->lock);
	if (!obj)
		mps3_error_set(-ENOENT, "no value of this database has the content %s", hex);
	return obj;
}

int db_js_blob_head(struct mps3_db *db, const char *hex, struct mps3_objinfo *info)
{
	char *obj = object_of(db->js, hex);
	json_t *meta;

	if (!obj)
		return -ENOENT;
	pthread_mutex_lock(&db->js->lock);
	meta = json_object_get(db->js->values, obj);
	memset(info, 0, sizeof(*info));
	info->size = (uint64_t)json_integer_value(json_object_get(meta, "size"));
	info->mtime_ms = json_integer_value(json_object_get(meta, "mtime")) / 1000000;
	pthread_mutex_unlock(&db->js->lock);
	free(obj);
	return 0;
}

int db_js_blob_get(struct mps3_db *db, const char *hex, const struct mps3_get_opts *opts, struct mps3_sink *sink)
{
	struct mps3_buf content;
	char got[MPS3_SHA256_HEX_LEN + 1], *obj = object_of(db->js, hex);
	uint64_t off = opts ? opts->off : 0, len;
	int rc;

	if (!obj)
		return -ENOENT;
	mps3_buf_init(&content, MPS3_JS_VALUE_MAX);
	rc = mps3_jsdb_read_object(db->js->jdb, obj, &content, NULL);
	if (!rc) {
		mps3_sha256_hex(got, content.data ? content.data : "", content.len);
		if (strcmp(got, hex) != 0)
			rc = mps3_error_set(-EBADMSG, "%s changed: its content no longer hashes to %s", obj, hex);
	}
	if (!rc && off < content.len) {
		len = opts && opts->len ? opts->len : content.len - off;
		if (len > content.len - off)
			len = content.len - off;
		rc = sink->write(sink->ctx, content.data + off, (size_t)len);
	}
	mps3_buf_dispose(&content);
	free(obj);
	return rc;
}
