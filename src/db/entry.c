/*
 * db/entry.c - validation and serialisation of file entries, log entries
 * and checkpoints.  Nothing from a bucket is used before it passes here.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "mps3/entry.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/jscan.h"
#include "mps3/json.h"
#include "mps3/manifest.h"
#include "mps3/mergepatch.h"

#define DOC_VERSION 1

/*
 * The ranges of an entry's numeric fields and what is said when one is out
 * of them, for both ways an entry is read: from JSON (mps3_entry_parse) and
 * packed (mps3_packed_entry), which must agree on every value.
 */
#define MODE_MAX 07777u
#define ID_MAX (UINT32_MAX - 1)	/* (uint32_t)-1 is the unset id */
#define SIZE_MAX_ ((uint64_t)INT64_MAX)
#define BAD_MODE "mode is not a permission number"
#define BAD_UID "uid is not a user id"
#define BAD_GID "gid is not a group id"
#define BAD_BLOB "blob is not a SHA-256 in hex"
#define BAD_SIZE "size is missing or not a size"
#define BAD_TARGET "symlink target is missing or too long"
#define BAD_RDEV "rdev is missing or not a device number"

static int in_range(int64_t i, uint64_t max)
{
	return i >= 0 && (uint64_t)i <= max;
}

static int get_uint(json_t *o, const char *name, uint64_t max, uint64_t *out, int *present)
{
	json_t *v = json_object_get(o, name);
	json_int_t i;

	*present = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return -EINVAL;
	i = json_integer_value(v);
	if (!in_range(i, max))
		return -EINVAL;
	*out = (uint64_t)i;
	*present = 1;
	return 0;
}

static int valid_type(int c)
{
	return c != '\0' && strchr("fdlpscb", c) != NULL;
}

/* out with no fields: every id and the mode unset. */
static void entry_init(struct mps3_entry *out)
{
	memset(out, 0, sizeof(*out));
	out->mode = MPS3_UNSET_MODE;
	out->uid = MPS3_UNSET_ID;
	out->gid = MPS3_UNSET_ID;
}

static int xattr_valid(json_t *x)
{
	const char *name;
	json_t *v;

	if (!json_is_object(x))
		return 0;
	json_object_foreach(x, name, v) {
		if (strlen(name) == 0 || strlen(name) > 255)
			return 0;
		if (json_is_string(v))
			continue;
		if (json_is_object(v) && json_object_size(v) == 1 &&
		    json_is_string(json_object_get(v, "base64")))
			continue;
		return 0;
	}
	return 1;
}

int mps3_entry_parse(struct mps3_entry *out, json_t *v)
{
	const char *type;
	json_t *j;
	uint64_t u;
	int present;

	entry_init(out);
	if (!json_is_object(v))
		return -ENOENT;
	type = json_string_value(json_object_get(v, "type"));
	if (!type || strlen(type) != 1 || !valid_type(type[0]))
		return -ENOENT;
	out->type = (enum mps3_ftype)type[0];

	if (get_uint(v, "mode", MODE_MAX, &u, &present))
		return mps3_error_set(-EINVAL, BAD_MODE);
	if (present)
		out->mode = (uint32_t)u;
	if (get_uint(v, "uid", ID_MAX, &u, &present))
		return mps3_error_set(-EINVAL, BAD_UID);
	if (present)
		out->uid = (uint32_t)u;
	if (get_uint(v, "gid", ID_MAX, &u, &present))
		return mps3_error_set(-EINVAL, BAD_GID);
	if (present)
		out->gid = (uint32_t)u;
	j = json_object_get(v, "mtime");
	if (j && !json_is_null(j)) {
		if (!json_is_integer(j))
			return mps3_error_set(-EINVAL, "mtime is not an integer");
		out->mtime_ns = json_integer_value(j);
	}
	j = json_object_get(v, "atime");
	if (j && !json_is_null(j)) {
		if (!json_is_integer(j))
			return mps3_error_set(-EINVAL, "atime is not an integer");
		out->atime_ns = json_integer_value(j);
	}
	j = json_object_get(v, "xattr");
	if (j && !json_is_null(j)) {
		if (!xattr_valid(j))
			return mps3_error_set(-EINVAL, "xattr is not a map of names to values");
		out->xattr = j;
	}

	switch (out->type) {
	case MPS3_FILE: {
		const char *blob = json_string_value(json_object_get(v, "blob"));

		if (!blob || !mps3_is_sha256_hex(blob))
			return mps3_error_set(-EINVAL, BAD_BLOB);
		memcpy(out->blob, blob, sizeof(out->blob));
		if (get_uint(v, "size", SIZE_MAX_, &u, &present) || !present)
			return mps3_error_set(-EINVAL, BAD_SIZE);
		out->size = u;
		j = json_object_get(v, "chunks");
		if (j && !json_is_null(j)) {
			if (!mps3_is_sha256_hex(json_string_value(j)))
				return mps3_error_set(-EINVAL, "chunks is not a SHA-256 in hex");
			memcpy(out->chunks, json_string_value(j), sizeof(out->chunks));
		}
		break;
	}
	case MPS3_LINK:
		out->target = json_string_value(json_object_get(v, "target"));
		if (!out->target || out->target[0] == '\0' || strlen(out->target) > MPS3_PATH_MAX)
			return mps3_error_set(-EINVAL, BAD_TARGET);
		out->size = strlen(out->target);
		break;
	case MPS3_CHR:
	case MPS3_BLK:
		if (get_uint(v, "rdev", UINT64_MAX >> 1, &u, &present) || !present)
			return mps3_error_set(-EINVAL, BAD_RDEV);
		out->rdev = u;
		break;
	case MPS3_DIR:
	case MPS3_FIFO:
	case MPS3_SOCK:
		break;
	}
	return 0;
}

/*
 * The same verdict as mps3_entry_parse of the packed record's JSON
 * (mps3_packed_to_json), without building it.  A packed record has only
 * integers, a one-character type and a well-formed blob, so only ranges
 * and missing fields can be wrong; and it has no target, rdev or chunk
 * list, so a link or a device is never complete.
 */
int mps3_packed_entry(struct mps3_entry *out, const struct mps3_packed *p)
{
	entry_init(out);
	if (!(p->has & MPS3_PK_TYPE) || !valid_type(p->type))
		return -ENOENT;
	out->type = (enum mps3_ftype)p->type;
	if (p->has & MPS3_PK_MODE) {
		if (!in_range(p->mode, MODE_MAX))
			return mps3_error_set(-EINVAL, BAD_MODE);
		out->mode = p->mode;
	}
	if (p->has & MPS3_PK_UID) {
		if (!in_range(p->uid, ID_MAX))
			return mps3_error_set(-EINVAL, BAD_UID);
		out->uid = p->uid;
	}
	if (p->has & MPS3_PK_GID) {
		if (!in_range(p->gid, ID_MAX))
			return mps3_error_set(-EINVAL, BAD_GID);
		out->gid = p->gid;
	}
	if (p->has & MPS3_PK_MTIME)
		out->mtime_ns = p->mtime;
	switch (out->type) {
	case MPS3_FILE:
		if (!(p->has & MPS3_PK_BLOB))
			return mps3_error_set(-EINVAL, BAD_BLOB);
		mps3_hex(out->blob, p->blob, sizeof(p->blob));
		if (!(p->has & MPS3_PK_SIZE) || !in_range(p->size, SIZE_MAX_))
			return mps3_error_set(-EINVAL, BAD_SIZE);
		out->size = (uint64_t)p->size;
		break;
	case MPS3_LINK:
		return mps3_error_set(-EINVAL, BAD_TARGET);
	case MPS3_CHR:
	case MPS3_BLK:
		return mps3_error_set(-EINVAL, BAD_RDEV);
	case MPS3_DIR:
	case MPS3_FIFO:
	case MPS3_SOCK:
		break;
	}
	return 0;
}

json_t *mps3_entry_to_patch(const struct mps3_entry *e)
{
	char type[2] = { (char)e->type, '\0' };
	json_t *o = json_object();
	int rc = 0;

	if (!o)
		return NULL;
	rc |= json_object_set_new(o, "type", json_string(type));
	rc |= json_object_set_new(o, "blob", e->type == MPS3_FILE ? json_string(e->blob) : json_null());
	rc |= json_object_set_new(o, "size", e->type == MPS3_FILE ? json_integer((json_int_t)e->size) : json_null());
	rc |= json_object_set_new(o, "chunks", e->type == MPS3_FILE && e->chunks[0] ? json_string(e->chunks) : json_null());
	rc |= json_object_set_new(o, "target", e->type == MPS3_LINK && e->target ? json_string(e->target) : json_null());
	rc |= json_object_set_new(o, "mode", e->mode != MPS3_UNSET_MODE ? json_integer(e->mode) : json_null());
	rc |= json_object_set_new(o, "uid", e->uid != MPS3_UNSET_ID ? json_integer(e->uid) : json_null());
	rc |= json_object_set_new(o, "gid", e->gid != MPS3_UNSET_ID ? json_integer(e->gid) : json_null());
	rc |= json_object_set_new(o, "mtime", e->mtime_ns ? json_integer(e->mtime_ns) : json_null());
	rc |= json_object_set_new(o, "atime", e->atime_ns ? json_integer(e->atime_ns) : json_null());
	rc |= json_object_set_new(o, "rdev", e->type == MPS3_CHR || e->type == MPS3_BLK ? json_integer((json_int_t)e->rdev)
										: json_null());
	/* xattr values replace as a whole: a fresh object, not a merge. */
	rc |= json_object_set_new(o, "xattr", e->xattr && json_object_size(e->xattr) ? json_deep_copy(e->xattr) : json_null());
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * The patch member that makes cur's field f what want's is, written even
 * when they are equal: a replacing value (objects are diffed member by
 * member, since a merge would keep members of cur's object), or null.
 */
static json_t *field_patch(json_t *cur, json_t *want, const char *f, int *err)
{
	json_t *c = json_is_object(cur) ? json_object_get(cur, f) : NULL, *w = json_object_get(want, f), *d;

	if (!w || json_is_null(w))
		return json_null();
	if (!json_is_object(w) || !json_is_object(c))
		return json_deep_copy(w);
	d = mps3_merge_diff(c, w, err);
	return d ? d : *err ? NULL : json_deep_copy(w);
}

/* Want sent whole (every known field, absent ones null), its xattrs replacing cur's. */
static json_t *whole_patch(json_t *cur, json_t *want, const struct mps3_entry *e, int *err)
{
	json_t *p = mps3_entry_to_patch(e), *x;

	*err = p ? 0 : -ENOMEM;
	if (!p || !e->xattr)
		return p;
	x = field_patch(cur, want, "xattr", err);
	if (!x || json_object_set_new(p, "xattr", x)) {
		json_decref(p);
		*err = *err ? *err : -ENOMEM;
		return NULL;
	}
	return p;
}

json_t *mps3_entry_patch(json_t *cur, json_t *want, int *err)
{
	static const char *const content[] = { "type", "blob", "size", "chunks", "target", "rdev" };
	json_t *p = mps3_merge_diff(cur, want, err);
	struct mps3_entry e;
	size_t i;
	int touched = 0;

	if (*err == -EINVAL && want && mps3_entry_parse(&e, want) == 0) {
		/*
		 * A value a field-wise patch cannot express (a null member): send
		 * the entry whole instead, which every entry can be.
		 */
		return whole_patch(cur, want, &e, err);
	}
	if (*err || !json_is_object(p) || !json_is_object(want))
		return p;
	for (i = 0; i < sizeof(content) / sizeof(content[0]); i++)
		touched |= json_object_get(p, content[i]) != NULL;
	if (!touched)
		return p;
	/* The diff may be want itself (nothing to compare with): never change the caller's value. */
	{
		json_t *own = json_copy(p);

		json_decref(p);
		p = own;
		if (!p) {
			*err = -ENOMEM;
			return NULL;
		}
	}
	for (i = 0; i < sizeof(content) / sizeof(content[0]); i++) {
		json_t *v = field_patch(cur, want, content[i], err);

		if (!v || json_object_set_new(p, content[i], v)) {
			json_decref(p);
			*err = *err ? *err : -ENOMEM;
			return NULL;
		}
	}
	return p;
}

json_t *mps3_entry_patch_any(json_t *cur, json_t *alts, json_t *want, int *err)
{
	json_t *p = mps3_entry_patch(cur, want, err), *alt;
	size_t i;

	json_array_foreach(alts, i, alt) {
		json_t *q, *u;

		if (*err)
			break;
		q = mps3_entry_patch(json_is_null(alt) ? NULL : alt, want, err);
		if (*err)
			break;
		u = mps3_merge_union(p, q, err);
		json_decref(p);
		json_decref(q);
		p = u;
	}
	if (*err) {
		json_decref(p);
		return NULL;
	}
	return p;
}

/* A path of the files map: 0 or -EINVAL with a detail. */
static int key_check(const char *path)
{
	int rc = mps3_path_check(path);

	if (rc)
		return rc == -EILSEQ || rc == -ENAMETOOLONG ? mps3_error_set(-EINVAL, "invalid path: %s",
										 mps3_error_last(rc))
							    : -EINVAL;
	return 0;
}

int mps3_value_check(const char *path, json_t *v, int null_ok)
{
	int rc = key_check(path);

	if (rc)
		return rc;
	if (!json_is_object(v) && !(null_ok && json_is_null(v)))
		return mps3_error_set(-EINVAL, "the value for \"%s\" is neither an object%s", path,
				      null_ok ? " nor null" : "");
	if (!mps3_json_depth_within(v, MPS3_ENTRY_MAX_DEPTH))
		return mps3_error_set(-EINVAL, "the value for \"%s\" nests deeper than %d levels", path,
				      MPS3_ENTRY_MAX_DEPTH);
	return 0;
}

/* Common header of log entries and checkpoints. */
static int parse_header(json_t *doc, const struct mps3_logkey *key, int with_seq)
{
	json_t *v;

	if (!json_is_object(doc))
		return mps3_error_set(-EINVAL, "not a JSON object");
	v = json_object_get(doc, "v");
	if (!json_is_integer(v) || json_integer_value(v) != DOC_VERSION)
		return mps3_error_set(-EINVAL, "unknown format version");
	v = json_object_get(doc, "t");
	if (!json_is_integer(v) || json_integer_value(v) != key->t)
		return mps3_error_set(-EINVAL, "time does not match the object name");
	v = json_object_get(doc, "session");
	if (!json_is_string(v) || strcmp(json_string_value(v), key->session) != 0)
		return mps3_error_set(-EINVAL, "session does not match the object name");
	if (with_seq) {
		v = json_object_get(doc, "seq");
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    (uint64_t)json_integer_value(v) != key->seq)
			return mps3_error_set(-EINVAL, "counter does not match the object name");
	}
	if (!json_is_object(json_object_get(doc, "files")))
		return mps3_error_set(-EINVAL, "files is not an object");
	return 0;
}

/* NULL with *err -ENOMEM or -EINVAL (bad input), the detail recorded. */
static json_t *load(const char *doc, size_t len, int *err)
{
	json_error_t jerr;
	json_t *j = mps3_json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr, err);

	if (!j && *err == -ENOMEM)
		mps3_error_set(-ENOMEM, "out of memory parsing JSON");
	else if (!j)
		mps3_error_set(-EINVAL, "invalid JSON at line %d column %d: %s", jerr.line,
			       jerr.column, jerr.text);
	return j;
}

int mps3_logentry_parse(struct mps3_logentry *out, const char *name, const char *doc,
			size_t len)
{
	const char *path;
	json_t *j = NULL, *files, *v;
	int rc;

	out->files = NULL;
	if (mps3_logkey_parse(&out->key, name))
		return mps3_error_set(-EINVAL, "malformed log entry name");
	j = load(doc, len, &rc);
	if (!j)
		return rc;
	rc = parse_header(j, &out->key, 1);
	if (rc)
		goto fail;
	files = json_object_get(j, "files");
	json_object_foreach(files, path, v) {
		rc = mps3_value_check(path, v, 1);
		if (rc)
			goto fail;
	}
	out->files = json_incref(files);
	json_decref(j);
	return 0;
fail:
	json_decref(j);
	return rc;
}

int mps3_cpwindow_digest(struct mps3_cpwindow *w, int64_t from, const struct mps3_logkey *keys, size_t n)
{
	struct mps3_sha256 h;
	char name[MPS3_LOGNAME_MAX + 1];
	size_t i;
	int rc = mps3_sha256_init(&h);

	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		size_t len;

		if (mps3_logkey_format(name, &keys[i])) {
			mps3_sha256_dispose(&h);
			return mps3_error_set(-EINVAL, "a log key that has no name");
		}
		len = strlen(name);
		name[len++] = '\n';
		mps3_sha256_update(&h, name, len);
	}
	mps3_sha256_final(&h, w->md);
	w->from = from;
	w->n = n;
	return 0;
}

/*
 * The optional window of a checkpoint at t.  It only ever spares a reader
 * work, so one that does not fit is left out (1 if kept), never fatal.
 */
static int parse_window(struct mps3_cpwindow *w, json_t *v, int64_t t)
{
	json_t *from = json_object_get(v, "from"), *n = json_object_get(v, "n");
	const char *hex = json_string_value(json_object_get(v, "sha256"));
	unsigned i;

	memset(w, 0, sizeof(*w));
	if (!json_is_object(v) || !json_is_integer(from) || json_integer_value(from) > t || !json_is_integer(n) ||
	    json_integer_value(n) < 0 || !hex || !mps3_is_sha256_hex(hex))
		return 0;
	w->from = json_integer_value(from);
	w->n = (uint64_t)json_integer_value(n);
	for (i = 0; i < MPS3_SHA256_LEN; i++) {
		unsigned byte;

		if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
			return 0;
		w->md[i] = (unsigned char)byte;
	}
	return 1;
}

struct cp_sink {
	mps3_jscan_fn fn;
	mps3_jscan_packed_fn pfn;
	void *ctx;
};

static int cp_member(const char *path, json_t *v, void *ctx)
{
	struct cp_sink *sink = ctx;
	int rc = mps3_value_check(path, v, 0);

	return rc ? rc : sink->fn(path, v, sink->ctx);
}

/* A packed value is an object one level deep: only its path is left to check. */
static int cp_member_packed(const char *path, const struct mps3_packed *p, void *ctx)
{
	struct cp_sink *sink = ctx;
	int rc = key_check(path);

	return rc ? rc : sink->pfn(path, p, sink->ctx);
}

int mps3_checkpoint_scan(struct mps3_checkpoint *out, const char *name, const char *doc, size_t len,
			 mps3_jscan_fn fn, mps3_jscan_packed_fn pfn, void *ctx)
{
	struct cp_sink sink = { fn, pfn, ctx };
	json_t *j;
	int rc;

	out->files = NULL;
	out->has_window = 0;
	if (mps3_cpkey_parse(&out->key, name))
		return mps3_error_set(-EINVAL, "malformed checkpoint name");
	rc = mps3_jscan_packed(doc, len, "files", cp_member, pfn ? cp_member_packed : NULL, &sink, &j);
	if (rc)
		return rc;
	rc = parse_header(j, &out->key, 0);
	if (rc == 0)
		out->has_window = parse_window(&out->window, json_object_get(j, "window"), out->key.t);
	json_decref(j);
	return rc;
}

/* The sink that builds the map as JSON, refusing a path given twice as jansson would. */
static int add_member(const char *path, json_t *v, void *ctx)
{
	if (json_object_get(ctx, path))
		return mps3_error_set(-EINVAL, "duplicate path %s", path);
	return json_object_set(ctx, path, v) ? mps3_error_set(-ENOMEM, "out of memory") : 0;
}

int mps3_checkpoint_parse(struct mps3_checkpoint *out, const char *name, const char *doc,
			  size_t len)
{
	json_t *files = json_object();
	int rc;

	if (!files)
		return mps3_error_set(-ENOMEM, "out of memory");
	rc = mps3_checkpoint_scan(out, name, doc, len, add_member, NULL, files);
	if (rc) {
		json_decref(files);
		return rc;
	}
	out->files = files;
	return 0;
}

int mps3_snapshot_scan(struct mps3_checkpoint *out, const char *doc, size_t len, mps3_jscan_fn fn,
		       mps3_jscan_packed_fn pfn, void *ctx)
{
	struct cp_sink sink = { fn, pfn, ctx };
	json_t *j, *v;
	int rc;

	out->files = NULL;
	out->has_window = 0;
	memset(&out->key, 0, sizeof(out->key));
	rc = mps3_jscan_packed(doc, len, "files", cp_member, pfn ? cp_member_packed : NULL, &sink, &j);
	if (rc)
		return rc;
	v = json_object_get(j, "session");
	if (!json_is_integer(json_object_get(j, "t")) || !json_is_string(v) ||
	    !mps3_session_valid(json_string_value(v))) {
		json_decref(j);
		return mps3_error_set(-EINVAL, "no time or session");
	}
	out->key.t = json_integer_value(json_object_get(j, "t"));
	snprintf(out->key.session, sizeof(out->key.session), "%s", json_string_value(v));
	rc = parse_header(j, &out->key, 0);
	json_decref(j);
	return rc;
}

int mps3_snapshot_parse(struct mps3_checkpoint *out, const char *doc, size_t len)
{
	json_t *files = json_object();
	int rc;

	if (!files)
		return mps3_error_set(-ENOMEM, "out of memory");
	rc = mps3_snapshot_scan(out, doc, len, add_member, NULL, files);
	if (rc) {
		json_decref(files);
		return rc;
	}
	out->files = files;
	return 0;
}

static char *dump(const struct mps3_logkey *key, json_t *files, int with_seq, const struct mps3_cpwindow *w,
		  size_t *len)
{
	char hex[MPS3_SHA256_HEX_LEN + 1];
	json_t *doc = json_object();
	char *s = NULL;
	int rc = 0;

	if (!doc)
		return NULL;
	rc |= json_object_set_new(doc, "v", json_integer(DOC_VERSION));
	rc |= json_object_set_new(doc, "t", json_integer(key->t));
	rc |= json_object_set_new(doc, "session", json_string(key->session));
	if (with_seq)
		rc |= json_object_set_new(doc, "seq", json_integer((json_int_t)key->seq));
	rc |= json_object_set(doc, "files", files);
	if (w) {
		mps3_hex(hex, w->md, sizeof(w->md));
		rc |= json_object_set_new(doc, "window",
					  json_pack("{sI sI ss}", "from", (json_int_t)w->from, "n", (json_int_t)w->n,
						    "sha256", hex));
	}
	if (!rc)
		s = mps3_json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	if (s && len)
		*len = strlen(s);
	return s;
}

char *mps3_logentry_dump(const struct mps3_logkey *key, json_t *files, size_t *len)
{
	return dump(key, files, 1, NULL, len);
}

char *mps3_checkpoint_dump(const struct mps3_logkey *key, json_t *files, const struct mps3_cpwindow *window,
			   size_t *len)
{
	return dump(key, files, 0, window, len);
}

int mps3_checkpoint_close(struct mps3_buf *out, const struct mps3_logkey *key, const struct mps3_cpwindow *window)
{
	static const char open_empty[] = MPS3_CHECKPOINT_OPEN "{}";
	json_t *none = json_object();
	char *doc = none ? dump(key, none, 0, window, NULL) : NULL;
	int rc;

	json_decref(none);
	if (!doc)
		return -ENOMEM;
	/* Keys sorted: "files" comes first, so the rest follows its empty map. */
	if (strncmp(doc, open_empty, sizeof(open_empty) - 1) != 0)
		rc = mps3_error_set(-EINVAL, "a checkpoint's header does not start with its files");
	else
		rc = mps3_buf_append(out, doc + sizeof(open_empty) - 1, strlen(doc) - (sizeof(open_empty) - 1));
	free(doc);
	return rc;
}
