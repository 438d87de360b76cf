/*
 * fuzz_entry.c - the JSON documents of a bucket: file entries, log entries
 * and checkpoints.
 *
 * The input is parsed three ways: as one JSON value whose every member (and
 * every value of its "files", if any) goes to mps3_entry_parse(); as a log
 * entry / checkpoint document under fixed valid names (t 1234567890, session
 * 0123456789abcdef, seq 7); and, when it has a newline, as an object name
 * (the first line) followed by a document (the rest).
 *
 * The streaming reader of checkpoints (mps3_jscan) must read the input
 * exactly as jansson reads it whole: the same verdict, the same document.
 *
 * Properties: a parsed entry keeps the invariants of mps3/entry.h and
 * survives mps3_entry_to_patch() applied to nothing; an accepted document
 * meets every rule its parser states and re-serialises (mps3_*_dump) to a
 * document the parser accepts again with the same files.
 */
#include <errno.h>

#include "fuzz.h"
#include "mps3/entry.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/jscan.h"
#include "mps3/manifest.h"
#include "mps3/mergepatch.h"

#define LOG_NAME "9999998765432109_0123456789abcdef_7"
#define CP_NAME "9999998765432109_0123456789abcdef"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	return 0;
}

static int is_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return s[64] == '\0';
}

static int xattr_same(json_t *a, json_t *b)
{
	if (a && json_object_size(a) == 0)
		a = NULL;
	if (b && json_object_size(b) == 0)
		b = NULL;
	return fuzz_same(a, b);
}

static int entry_same(const struct mps3_entry *a, const struct mps3_entry *b)
{
	if (a->type != b->type || a->size != b->size || a->mode != b->mode ||
	    a->uid != b->uid || a->gid != b->gid || a->mtime_ns != b->mtime_ns)
		return 0;
	if (a->type == MPS3_FILE && strcmp(a->blob, b->blob) != 0)
		return 0;
	if (a->type == MPS3_LINK && strcmp(a->target, b->target) != 0)
		return 0;
	return xattr_same(a->xattr, b->xattr);
}

/* A value that packs is judged packed as it is as JSON (the tree is built from packed records). */
static void check_packed(json_t *v, int rc, const struct mps3_entry *e)
{
	struct mps3_packed p;
	struct mps3_entry q;

	char why[160];

	if (!mps3_packed_from_json(&p, v))
		return;
	snprintf(why, sizeof(why), "%s", mps3_error_last(rc));
	FUZZ_CHECK(mps3_packed_entry(&q, &p) == rc);
	FUZZ_CHECK(rc != -EINVAL || strncmp(why, mps3_error_last(rc), sizeof(why) - 1) == 0);
	if (rc == 0)
		FUZZ_CHECK(entry_same(e, &q) && q.atime_ns == 0 && q.rdev == 0 && !q.xattr);
}

static void check_entry(json_t *v)
{
	struct mps3_entry e, e2;
	json_t *patch, *back;
	int rc, err = 1;

	rc = mps3_entry_parse(&e, v);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOENT);
	check_packed(v, rc, &e);
	if (rc)
		return;
	FUZZ_CHECK(e.type == MPS3_FILE || e.type == MPS3_DIR || e.type == MPS3_LINK || mps3_ftype_special(e.type));
	FUZZ_CHECK(e.mode == MPS3_UNSET_MODE || e.mode <= 07777);
	FUZZ_CHECK(e.size <= (uint64_t)INT64_MAX);
	FUZZ_CHECK(!e.xattr || json_is_object(e.xattr));
	if (e.type == MPS3_FILE)
		FUZZ_CHECK(is_hex64(e.blob));
	if (e.type == MPS3_LINK) {
		FUZZ_CHECK(e.target && e.target[0] != '\0');
		FUZZ_CHECK(e.size == strlen(e.target));
	} else {
		FUZZ_CHECK(e.target == NULL);
	}

	/* The whole-entry patch over an absent path gives the entry back. */
	patch = mps3_entry_to_patch(&e);
	FUZZ_CHECK(patch != NULL);
	back = mps3_merge_patch(NULL, patch, &err);
	FUZZ_CHECK(err == 0 && back != NULL);
	FUZZ_CHECK(mps3_entry_parse(&e2, back) == 0);
	FUZZ_CHECK(entry_same(&e, &e2));
	json_decref(back);
	json_decref(patch);
}

static void check_files(json_t *files, int checkpoint)
{
	const char *path;
	json_t *v;

	FUZZ_CHECK(json_is_object(files));
	json_object_foreach(files, path, v) {
		FUZZ_CHECK(mps3_path_check(path) == 0);
		if (checkpoint)
			FUZZ_CHECK(json_is_object(v));
		else
			FUZZ_CHECK(json_is_object(v) || json_is_null(v));
		check_entry(v);
	}
}

static void check_log(const char *name, const char *doc, size_t len)
{
	struct mps3_logentry e, e2;
	size_t n = 0;
	char *s;
	int rc;

	memset(&e, 0xa5, sizeof(e));
	rc = mps3_logentry_parse(&e, name, doc, len);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc) {
		FUZZ_CHECK(e.files == NULL);
		return;
	}
	check_files(e.files, 0);
	s = mps3_logentry_dump(&e.key, e.files, &n);
	FUZZ_CHECK(s != NULL && n == strlen(s));
	FUZZ_CHECK(mps3_logentry_parse(&e2, name, s, n) == 0);
	FUZZ_CHECK(mps3_logkey_cmp(&e.key, &e2.key) == 0);
	FUZZ_CHECK(json_equal(e.files, e2.files));
	json_decref(e2.files);
	free(s);
	json_decref(e.files);
}

static void check_cp(const char *name, const char *doc, size_t len)
{
	struct mps3_checkpoint c, c2;
	size_t n = 0;
	char *s;
	int rc;

	memset(&c, 0xa5, sizeof(c));
	rc = mps3_checkpoint_parse(&c, name, doc, len);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc) {
		FUZZ_CHECK(c.files == NULL);
		return;
	}
	FUZZ_CHECK(c.key.seq == 0);
	check_files(c.files, 1);
	s = mps3_checkpoint_dump(&c.key, c.files, c.has_window ? &c.window : NULL, &n);
	FUZZ_CHECK(s != NULL && n == strlen(s));
	FUZZ_CHECK(mps3_checkpoint_parse(&c2, name, s, n) == 0);
	FUZZ_CHECK(mps3_logkey_cmp(&c.key, &c2.key) == 0);
	FUZZ_CHECK(json_equal(c.files, c2.files));
	FUZZ_CHECK(c.has_window == c2.has_window);
	FUZZ_CHECK(!c.has_window || memcmp(&c.window, &c2.window, sizeof(c.window)) == 0);
	json_decref(c2.files);
	free(s);
	json_decref(c.files);
}

static int collect(const char *key, json_t *v, void *ctx)
{
	if (json_object_get(ctx, key))
		return -EINVAL;
	return json_object_set(ctx, key, v) ? -ENOMEM : 0;
}

/* A member taken packed: its JSON, checked against jansson's below, and it packs to the same record. */
static int collect_packed(const char *key, const struct mps3_packed *p, void *ctx)
{
	json_t *v = mps3_packed_to_json(p);
	struct mps3_packed q;
	int rc;

	FUZZ_CHECK(v && mps3_packed_from_json(&q, v) && q.has == p->has);
	rc = collect(key, v, ctx);
	json_decref(v);
	return rc;
}

/* Text taken packed is what jansson's parse packs to. */
static void check_packed_text(const char *doc, size_t len)
{
	struct mps3_packed p, q;
	json_t *v;

	if (!mps3_packed_from_text(&p, doc, len))
		return;
	v = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_CHECK(v && mps3_packed_from_json(&q, v));
	FUZZ_CHECK(p.has == q.has && p.type == q.type && p.size == q.size && p.mtime == q.mtime && p.mode == q.mode &&
		   p.uid == q.uid && p.gid == q.gid && memcmp(p.blob, q.blob, sizeof(p.blob)) == 0);
	json_decref(v);
}

/* A snapshot read member by member takes exactly what the whole-document rules take, and the same map. */
static void check_snapshot(const char *doc, size_t len)
{
	json_t *ref = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL), *files = json_object_get(ref, "files"), *v;
	json_t *t = json_object_get(ref, "t"), *sess = json_object_get(ref, "session");
	struct mps3_checkpoint cp;
	const char *path;
	int want = ref && json_is_integer(t) && json_is_string(sess) && mps3_session_valid(json_string_value(sess)) &&
		   json_is_integer(json_object_get(ref, "v")) && json_integer_value(json_object_get(ref, "v")) == 1 &&
		   json_is_object(files);
	int rc;

	json_object_foreach(files, path, v)
		want = want && mps3_value_check(path, v, 0) == 0;
	rc = mps3_snapshot_parse(&cp, doc, len);
	FUZZ_CHECK((rc == 0) == want);
	if (rc == 0)
		FUZZ_CHECK(json_equal(cp.files, files) && cp.key.t == json_integer_value(t));
	if (rc == 0)
		json_decref(cp.files);
	json_decref(ref);
}

static void check_jscan(const char *doc, size_t len, int packed)
{
	json_t *ref = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL), *big = json_object(), *got = NULL;
	int rc = mps3_jscan_packed(doc, len, "files", collect, packed ? collect_packed : NULL, big, &got);

	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	FUZZ_CHECK((rc == 0) == (ref != NULL));
	FUZZ_CHECK(rc == 0 || got == NULL);
	if (rc == 0) {
		json_t *f = json_object_get(got, "files");

		if (json_is_object(f) && json_object_size(f) == 0)
			json_object_set(got, "files", big);
		else
			FUZZ_CHECK(json_object_size(big) == 0);
		FUZZ_CHECK(json_equal(ref, got));
	}
	json_decref(ref);
	json_decref(got);
	json_decref(big);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *doc = (const char *)data;
	const uint8_t *nl;
	json_t *j;

	/* Any JSON value: it and its members as file entries. */
	j = json_loadb(doc, size, JSON_DECODE_ANY, NULL);
	if (j) {
		const char *name;
		json_t *v, *w;

		check_entry(j);
		json_object_foreach(j, name, v) {
			check_entry(v);
			if (strcmp(name, "files") == 0) {
				const char *path;

				json_object_foreach(v, path, w)
					check_entry(w);
			}
		}
		json_decref(j);
	}

	check_jscan(doc, size, 0);
	check_jscan(doc, size, 1);
	check_packed_text(doc, size);
	check_snapshot(doc, size);
	check_log(LOG_NAME, doc, size);
	check_cp(CP_NAME, doc, size);

	/* "<name>\n<document>": the name as the store would list it. */
	nl = memchr(data, '\n', size);
	if (nl) {
		size_t n = (size_t)(nl - data);
		char *name = fuzz_cstr(data, n);

		check_log(name, doc + n + 1, size - n - 1);
		check_cp(name, doc + n + 1, size - n - 1);
		free(name);
	}
	return 0;
}
