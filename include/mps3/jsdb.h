/*
 * mps3/jsdb.h - a database in the layout of the MPS3 JavaScript client
 * (format=mps3; docs/MPS3-JS-FORMAT.md, PROTOCOL.md section 6), read and
 * written so that the client and mps3 compute the same state.
 *
 * Manifest M (a key of the store) has entries M@T_S_C; the state is the
 * newest fresh entry's "files" with the "update" of every entry of its last
 * 5 s merged over it (mps3/jsfmt.h, mps3_js_plan), as the client reads the
 * first page of a LIST.  The files map's keys are "BUCKET/KEY"; file path p
 * is store key p (the store adds its prefix) and map key
 * "BUCKET/PREFIX/p".  A value is a JSON document at KEY@VERSION, the
 * content of a file as mps3_js_value_encode() makes it.
 *
 * Writing: the value first, then an entry named at the store's now, and
 * after every name seen (at an equal time the sessions' bytes would decide
 * which is newer), with the writer's resolved map and the update, named again if
 * the store's time of the PUT is 5 s or more from its name (the readers
 * would not take it), then the 2 bytes "" to M.  Sessions are 12 characters
 * of [0-9a-z], a new one before the counter passes 1023; nothing is deleted
 * but the writer's own rejected entries.
 *
 * Paths that are not mps3 paths, keys of another bucket or outside the
 * prefix are not shown (each reported once).  The paths of M itself and
 * under "M@" cannot be written: the client reads those names as its log.
 *
 * Thread-safe (one lock; no lock is held over a request's wait except the
 * writer's own, which serialises commits).  Errors: negative errno with an
 * mps3_error_set() detail; the store's errors come back unchanged.
 */
#ifndef MPS3_JSDB_H
#define MPS3_JSDB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mps3/buf.h"
#include "mps3/store.h"

#define MPS3_JS_DEFAULT_MANIFEST "manifest.json"
#define MPS3_JS_SESSION_LEN 12

struct mps3_jsdb;

struct mps3_jsdb_config {
	const char *bucket;	/* the bucket's name in the map's keys; required */
	const char *prefix;	/* the store's prefix, "" or "a/b" (no slash at either end) */
	const char *manifest;	/* M, a key of the store; NULL: "manifest.json" */
};

/* Open over store (borrowed; it must outlive the database) and read the state.  0 or -errno. */
int mps3_jsdb_open(struct mps3_jsdb **out, struct mps3_store *store, const struct mps3_jsdb_config *cfg);
void mps3_jsdb_free(struct mps3_jsdb *db);
/* Whether the open found the manifest or an entry of it: 0 where no client ever wrote (a mistyped URL). */
int mps3_jsdb_found(const struct mps3_jsdb *db);

/*
 * Read the log again as the client does (one LIST; entries not read before
 * are fetched, the others are kept by name).  *changed (may be NULL): the
 * state differs from before.  A listing with no fresh entry keeps the
 * state, as the client does.  0 or the store's error.
 */
int mps3_jsdb_refresh(struct mps3_jsdb *db, int *changed);

/*
 * The files the state shows: a new object of path -> the map's value
 * ({"version": ..., ...}), without the keys that are no paths here.
 */
json_t *mps3_jsdb_paths(struct mps3_jsdb *db);

/* The content of path, appended to out (its limit applies).  0, -ENOENT, -EINVAL (a value that is not JSON). */
int mps3_jsdb_read(struct mps3_jsdb *db, const char *path, struct mps3_buf *out);

/*
 * The content of the value object obj ("PATH@VERSION", a key of the store),
 * appended to out; info (may be NULL) gets the object's.  0, -ENOENT,
 * -EINVAL (not JSON), -EFBIG, or the store's error.
 */
int mps3_jsdb_read_object(struct mps3_jsdb *db, const char *obj, struct mps3_buf *out, struct mps3_objinfo *info);

/*
 * Make path's content the n bytes at p (value, entry, M), or remove it
 * (p NULL).  0, -EINVAL (no path), -EPERM (M's names), -EFBIG (above
 * MPS3_JS_VALUE_MAX), -ENOENT (remove of a path that is not there), or the
 * store's error.
 */
int mps3_jsdb_write(struct mps3_jsdb *db, const char *path, const void *p, size_t n);

/* The lower-level writing mps3_jsdb_write() is made of, for a mount (db/jsmode.c). */
/* The map key of path, malloc'd ("BUCKET/PREFIX/path"), or NULL. */
char *mps3_jsdb_map_key(struct mps3_jsdb *db, const char *path);
/* The map's value of path now (new reference), or NULL. */
json_t *mps3_jsdb_value(struct mps3_jsdb *db, const char *path);
/* Store n bytes at p as the value of path under a new version (into version).  0 or as mps3_jsdb_write(). */
int mps3_jsdb_put_value(struct mps3_jsdb *db, const char *path, const void *p, size_t n, char version[37]);
/*
 * One entry with update ({"BUCKET/KEY": value | null}, borrowed; its
 * values already stored), then "" to M; the state is read again.  0 or -errno.
 */
int mps3_jsdb_apply(struct mps3_jsdb *db, json_t *update);

/* One listed name of M's log, newest first, as the client judges it. */
struct mps3_jsdb_entry {
	const char *name;	/* under M@ */
	int64_t t;		/* name time, ms (0 if none) */
	int64_t lastmod_ms;
	uint64_t size;
	const char *status;	/* "base", "replayed", "old", "stale" (name and LastModified 5 s apart), "invalid" */
	json_t *update;		/* its update's files (borrowed), or NULL when not read */
};

/* Each entry of the first LIST page to fn, newest first; fn's non-zero return stops (and is returned). */
int mps3_jsdb_log(struct mps3_jsdb *db, int (*fn)(void *arg, const struct mps3_jsdb_entry *e), void *arg);

/* The session this database writes as (MPS3_JS_SESSION_LEN characters). */
const char *mps3_jsdb_session(struct mps3_jsdb *db);

#endif
