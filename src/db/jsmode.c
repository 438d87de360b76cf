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
 * Directories are implicit.
 *
 * Writing (mps3_db_blob_put, then mps3_db_commit): uploaded content waits
 * in memory (a value is at most 16 MiB) until a commit names it; each file
 * of the patch becomes a value PATH@UUID (or keeps its version when its
 * content is the same) with {"mps3": {"v": UUID, "mode", "mtime", "uid", "gid"}} beside
 * the client's fields, trusted only while "v" is the value's version (a
 * web app's write replaces the version and leaves the rest); all of the
 * patch goes in one entry.  Directories, being implicit, are not written;
 * symbolic links, special files and extended attributes cannot be carried
 * (the mount refuses them: mps3_db_limits).
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
#include "mps3/mergepatch.h"
#include "internal.h"

/* Content uploaded and not yet named by a commit. */
struct pend {
	char sha[MPS3_SHA256_HEX_LEN + 1];
	struct mps3_buf b;
	struct pend *next;
};
#define PEND_MAX ((uint64_t)256 << 20) /* bytes of content waiting; past it, the oldest goes */

struct db_js {
	struct mps3_jsdb *jdb;
	pthread_mutex_t lock;
	struct pend *pend;	/* newest first; protected by lock */
	uint64_t pend_bytes;	/* protected by lock */
	json_t *values;		/* "PATH@VERSION" -> {"blob", "size", "mtime"}: values read; protected by lock */
	json_t *blobs;		/* SHA -> "PATH@VERSION" of a value with that content; protected by lock */
	json_t *reported;	/* objects reported unreadable; protected by lock */
	json_t *dirs;		/* path -> entry: directories made here, shown while mounted; protected by lock */
	int unshown;		/* jsdb's state is not all shown yet: show again at the next poll; db->poll_lock */
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

/* What a mount wrote beside the client's fields, while it is still about this version. */
static void apply_ext(json_t *entry, json_t *v, const char *version)
{
	json_t *ext = json_object_get(v, "mps3"), *mode = json_object_get(ext, "mode");
	json_t *mtime = json_object_get(ext, "mtime");

	if (!json_is_object(ext) || !json_is_string(json_object_get(ext, "v")) ||
	    strcmp(json_string_value(json_object_get(ext, "v")), version) != 0)
		return;
	/* Permission bits only: set-ID and sticky bits are not taken from any bucket writer. */
	if (json_is_integer(mode) && json_integer_value(mode) >= 0 && json_integer_value(mode) <= 07777)
		json_object_set_new(entry, "mode", json_integer(json_integer_value(mode) & 0777));
	if (json_is_integer(json_object_get(ext, "uid")) && json_integer_value(json_object_get(ext, "uid")) >= 0 &&
	    json_integer_value(json_object_get(ext, "uid")) < UINT32_MAX)
		json_object_set(entry, "uid", json_object_get(ext, "uid"));
	if (json_is_integer(json_object_get(ext, "gid")) && json_integer_value(json_object_get(ext, "gid")) >= 0 &&
	    json_integer_value(json_object_get(ext, "gid")) < UINT32_MAX)
		json_object_set(entry, "gid", json_object_get(ext, "gid"));
	if (json_is_integer(mtime) && json_integer_value(mtime) >= 0)
		json_object_set(entry, "mtime", mtime);
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
		if (*rc) {
			/* This value cannot be read now (the store's error): the path keeps what it showed. */
			json_t *last;

			mps3_info("%s: %s cannot be read now: %s", mps3_store_url(db->store), path, mps3_error_last(*rc));
			*rc = 0;
			pthread_mutex_lock(&db->lock);
			last = mps3_manifest_get(db->m, path, NULL);
			if (last)
				json_object_set_new(files, path, last);
			pthread_mutex_unlock(&db->lock);
			js->unshown = 1;
			continue;
		}
		entry = json_pack("{s:s, s:O, s:O, s:O}", "type", "f", "blob", json_object_get(meta, "blob"), "size",
				  json_object_get(meta, "size"), "mtime", json_object_get(meta, "mtime"));
		json_decref(meta);
		if (entry)
			apply_ext(entry, v, version);
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
	/* The client's directories are implicit; the ones made here stay while mounted (even empty). */
	pthread_mutex_lock(&js->lock);
	json_object_foreach(js->dirs, path, v) {
		if (!json_object_get(files, path))
			json_object_set(files, path, v);
	}
	pthread_mutex_unlock(&js->lock);
	return files;
}

/*
 * Show the state jsdb holds: the changes to whoever listens (db->poll_lock
 * held).  Those of the paths in ours (a patch just committed, or NULL) are
 * delivered as ours; the rest, others' writes the same read brought, as
 * remote changes, so that they reach the tree.
 */
static int show(struct mps3_db *db, int *changed, json_t *ours)
{
	struct mps3_changes changes, mine;
	json_t *files;
	size_t i, j;
	int rc;

	db->js->unshown = 0;
	files = translate(db, &rc);
	if (!files) {
		db->js->unshown = 1; /* jsdb has moved on: what it holds is shown at the next poll */
		return rc;
	}
	mps3_changes_init(&changes);
	mps3_changes_init(&mine);
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
	for (i = j = 0; ours && i < changes.n; i++) {
		if (json_object_get(ours, changes.v[i].path) && mine.n == mine.cap) {
			size_t ncap = mine.cap ? 2 * mine.cap : 16;
			struct mps3_change *v = realloc(mine.v, ncap * sizeof(*v));

			if (v) {
				mine.v = v;
				mine.cap = ncap;
			}
		}
		if (json_object_get(ours, changes.v[i].path) && mine.n < mine.cap) {
			mine.v[mine.n++] = changes.v[i];
			continue;
		}
		changes.v[j++] = changes.v[i]; /* out of memory: as a remote change, which still reaches the tree */
	}
	if (ours)
		changes.n = j;
	json_decref(changes.index); /* positions moved */
	changes.index = NULL;
	if (mine.n)
		db_deliver(db, &mine, 1);
	db_deliver(db, &changes, 0);
	pthread_mutex_unlock(&db->deliver);
	mps3_changes_dispose(&mine);
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
	js->dirs = json_object();
	db->js = js;
	if (!js->values || !js->blobs || !js->reported || !js->dirs)
		return -ENOMEM;
	rc = mps3_jsdb_open(&js->jdb, db->store, cfg);
	if (rc)
		return rc;
	pthread_mutex_lock(&db->poll_lock);
	rc = show(db, NULL, NULL);
	pthread_mutex_unlock(&db->poll_lock);
	return rc;
}

void db_js_free(struct mps3_db *db)
{
	struct db_js *js = db->js;

	if (!js)
		return;
	mps3_jsdb_free(js->jdb);
	while (js->pend) {
		struct pend *p = js->pend;

		js->pend = p->next;
		mps3_buf_dispose(&p->b);
		free(p);
	}
	json_decref(js->values);
	json_decref(js->blobs);
	json_decref(js->reported);
	json_decref(js->dirs);
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
	if (!rc && (ch || db->js->unshown))
		rc = show(db, changed, NULL);
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
	const char *s;
	char *obj;

	pthread_mutex_lock(&js->lock);
	s = json_string_value(json_object_get(js->blobs, hex));
	obj = s ? strdup(s) : NULL;
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

/* ---- writing ------------------------------------------------------------------ */

int db_js_blob_put(struct mps3_db *db, const struct mps3_body *body, char hex[MPS3_SHA256_HEX_LEN + 1])
{
	struct db_js *js = db->js;
	struct pend *p, **pp;
	int rc;

	if (body->len > MPS3_JS_VALUE_MAX)
		return mps3_error_set(-EFBIG, "an MPS3 value holds at most %zu bytes", MPS3_JS_VALUE_MAX);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	mps3_buf_init(&p->b, MPS3_JS_VALUE_MAX);
	rc = mps3_body_read(body, &p->b);
	if (rc) {
		mps3_buf_dispose(&p->b);
		free(p);
		return rc;
	}
	mps3_sha256_hex(p->sha, p->b.data ? p->b.data : "", p->b.len);
	if (body->sha256_hex && strcmp(body->sha256_hex, p->sha) != 0) {
		mps3_buf_dispose(&p->b);
		free(p);
		return mps3_error_set(-EIO, "the content to upload changed while it was read");
	}
	memcpy(hex, p->sha, sizeof(p->sha));
	pthread_mutex_lock(&js->lock);
	p->next = js->pend;
	js->pend = p;
	js->pend_bytes += p->b.len;
	/* Past the bound the oldest go: a commit naming one reads it from a value that has it, or fails. */
	while (js->pend_bytes > PEND_MAX && js->pend->next) {
		struct pend *old;

		for (pp = &js->pend->next; (*pp)->next; pp = &(*pp)->next)
			;
		old = *pp;
		*pp = NULL;
		js->pend_bytes -= old->b.len;
		mps3_buf_dispose(&old->b);
		free(old);
	}
	pthread_mutex_unlock(&js->lock);
	return 0;
}

/* The content of blob hex into out: waiting to be named, or from a value that has it.  0 or -errno. */
static int content_of(struct mps3_db *db, const char *hex, struct mps3_buf *out)
{
	struct db_js *js = db->js;
	struct pend *p;
	char *obj;
	int rc = -ENOENT;

	pthread_mutex_lock(&js->lock);
	for (p = js->pend; p; p = p->next)
		if (strcmp(p->sha, hex) == 0) {
			rc = mps3_buf_append(out, p->b.data ? p->b.data : "", p->b.len);
			break;
		}
	pthread_mutex_unlock(&js->lock);
	if (rc != -ENOENT)
		return rc;
	obj = object_of(js, hex);
	if (!obj)
		return mps3_error_set(-ENOENT, "the content %s is neither waiting to be written nor in a value", hex);
	rc = mps3_jsdb_read_object(js->jdb, obj, out, NULL);
	free(obj);
	return rc;
}

/* Forget the waiting content a commit has named. */
static void pend_drop(struct db_js *js, json_t *named)
{
	struct pend **pp;

	pthread_mutex_lock(&js->lock);
	for (pp = &js->pend; *pp;) {
		struct pend *p = *pp;

		if (json_object_get(named, p->sha)) {
			*pp = p->next;
			js->pend_bytes -= p->b.len;
			mps3_buf_dispose(&p->b);
			free(p);
			continue;
		}
		pp = &p->next;
	}
	pthread_mutex_unlock(&js->lock);
}

/* The update of one file entry e at path into update (and its value, when its content is new).  0 or -errno. */
static int file_update(struct mps3_db *db, const char *path, const struct mps3_entry *e, json_t *update,
		       json_t *named)
{
	struct db_js *js = db->js;
	char version[37], *key = mps3_jsdb_map_key(js->jdb, path), *obj = NULL;
	json_t *cur = mps3_jsdb_value(js->jdb, path), *meta = NULL, *v;
	const char *curv = mps3_js_version(cur);
	int rc = key ? 0 : -ENOMEM;

	/* The same content under this path already: its version stays, only what rides beside it changes. */
	if (!rc && curv && asprintf(&obj, "%s@%s", path, curv) >= 0) {
		pthread_mutex_lock(&js->lock);
		meta = json_object_get(js->values, obj);
		if (!meta || strcmp(json_string_value(json_object_get(meta, "blob")), e->blob) != 0)
			meta = NULL;
		pthread_mutex_unlock(&js->lock);
	}
	if (!rc && meta) {
		snprintf(version, sizeof(version), "%s", curv);
	} else if (!rc) {
		struct mps3_buf content;

		mps3_buf_init(&content, MPS3_JS_VALUE_MAX);
		rc = content_of(db, e->blob, &content);
		if (!rc)
			rc = mps3_jsdb_put_value(js->jdb, path, content.data ? content.data : "", content.len, version);
		mps3_buf_dispose(&content);
		free(obj);
		obj = NULL;
		if (!rc && asprintf(&obj, "%s@%s", path, version) < 0)
			rc = -ENOMEM;
		if (!rc) {
			/* Known without reading it back. */
			json_t *m = json_pack("{s:s, s:I, s:I}", "blob", e->blob, "size", (json_int_t)e->size, "mtime",
					      (json_int_t)e->mtime_ns);

			pthread_mutex_lock(&js->lock);
			if (m)
				json_object_set_new(js->values, obj, m);
			json_object_set_new(js->blobs, e->blob, json_string(obj));
			pthread_mutex_unlock(&js->lock);
			json_object_set_new(named, e->blob, json_true());
		}
	}
	/*
	 * The update is merged into what is there: every field of "mps3" is
	 * written, null when unset, so that none of an older version survives.
	 */
	v = rc ? NULL : json_pack("{s:s, s:s, s:{s:s, s:I, s:o, s:o, s:o}}", "version", version, "replication",
				  json_is_string(json_object_get(cur, "replication")) && meta
					  ? json_string_value(json_object_get(cur, "replication"))
					  : "",
				  "mps3", "v", version, "mtime", (json_int_t)e->mtime_ns, "mode",
				  e->mode != MPS3_UNSET_MODE ? json_integer(e->mode & 07777) : json_null(), "uid",
				  e->uid != MPS3_UNSET_ID ? json_integer(e->uid) : json_null(), "gid",
				  e->gid != MPS3_UNSET_ID ? json_integer(e->gid) : json_null());
	if (!rc && (!v || json_object_set_new(update, key, v)))
		rc = -ENOMEM;
	json_decref(cur);
	free(obj);
	free(key);
	return rc;
}

int db_js_commit(struct mps3_db *db, json_t *patch)
{
	struct db_js *js = db->js;
	json_t *update = json_object(), *named = json_object(), *v;
	const char *path;
	int rc = update && named ? 0 : -ENOMEM;

	json_object_foreach(patch, path, v) {
		struct mps3_entry e;
		json_t *cur, *next = NULL;
		int err = 0;

		if (rc)
			break;
		/* A patch of the entry shown (RFC 7386, as the native log holds it): the entry it makes. */
		pthread_mutex_lock(&db->lock);
		cur = mps3_manifest_get(db->m, path, NULL);
		pthread_mutex_unlock(&db->lock);
		if (!json_is_null(v)) {
			next = mps3_merge_patch(cur, v, &err);
			rc = err;
		}
		json_decref(cur);
		if (!rc && next && mps3_entry_parse(&e, next) == 0 && e.type == MPS3_DIR) {
			pthread_mutex_lock(&js->lock);
			rc = json_object_set(js->dirs, path, next) ? -ENOMEM : 0;
			pthread_mutex_unlock(&js->lock);
		} else if (!rc && next && mps3_entry_parse(&e, next) == 0) {
			if (e.type != MPS3_FILE)
				rc = mps3_error_set(-EPERM, "%s: the MPS3 client's layout has only files", path);
			else
				rc = file_update(db, path, &e, update, named);
		} else if (!rc) {
			/* Gone: only what the client's map has; a directory made here is forgotten. */
			json_t *there = mps3_jsdb_value(js->jdb, path);

			pthread_mutex_lock(&js->lock);
			json_object_del(js->dirs, path);
			pthread_mutex_unlock(&js->lock);
			if (there) {
				char *key = mps3_jsdb_map_key(js->jdb, path);

				rc = key && json_object_set_new(update, key, json_null()) == 0 ? 0 : -ENOMEM;
				free(key);
			}
			json_decref(there);
		}
		json_decref(next);
	}
	if (!rc && json_object_size(update))
		rc = mps3_jsdb_apply(js->jdb, update);
	if (!rc) {
		pend_drop(js, named);
		/* The change is in: showing it can wait for the next poll, never make the change be written again. */
		pthread_mutex_lock(&db->poll_lock);
		if (show(db, NULL, patch))
			mps3_info("%s: showing the state after a commit: %s", mps3_store_url(db->store),
				  mps3_error_last(-EIO));
		pthread_mutex_unlock(&db->poll_lock);
	}
	json_decref(update);
	json_decref(named);
	return rc;
}
