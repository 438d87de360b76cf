/*
 * db/branch.c - branches (mps3/history.h, docs/PROTOCOL.md B1-B3): under
 * branch/<name>/ a base (the main line's state it starts from, as a
 * checkpoint document), and a log, checkpoints and head of its own that
 * any client writes through the usual commit path (a database opened with
 * mps3_db_config.branch).  Blobs are shared with the main line.  A commit
 * applies the branch's net change to the main line as one log entry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/history.h"
#include "mps3/json.h"
#include "mps3/log.h"
#include "internal.h"
#include "refs.h"

#define KEY_MAX (sizeof(BRANCH_PREFIX) + MPS3_SNAPSHOT_NAME_MAX + 64)

static int base_key(char out[KEY_MAX], const char *name)
{
	int rc = mps3_snapshot_name_check(name);

	if (rc)
		return mps3_error_set(-EINVAL, "branch: %s", mps3_error_last(rc));
	snprintf(out, KEY_MAX, BRANCH_PREFIX "%s/base", name);
	return 0;
}

int db_branch_base(struct mps3_db *db, const char *name, json_t **files, int64_t *t)
{
	char key[KEY_MAX];
	struct mps3_checkpoint cp;
	struct mps3_buf buf;
	int rc = base_key(key, name);

	*files = NULL;
	if (rc)
		return rc;
	mps3_buf_init(&buf, db->cfg.max_checkpoint_bytes);
	rc = mps3_store_get_buf(db->store, key, &buf, NULL);
	if (rc == -ENOENT)
		rc = mps3_error_set(-ENOENT, "no branch %s", name);
	if (!rc)
		rc = mps3_snapshot_parse(&cp, mps3_buf_cstr(&buf), buf.len);
	mps3_buf_dispose(&buf);
	if (rc)
		return rc == -EINVAL ? mps3_error_set(-EINVAL, "branch %s: its base: %s", name, mps3_error_last(rc)) : rc;
	*files = cp.files;
	if (t)
		*t = cp.key.t;
	return 0;
}

/* Write branch name's base: files as of time t (a checkpoint document). */
static int put_base(struct mps3_db *db, const char *name, json_t *files, int64_t t)
{
	char key[KEY_MAX], *doc;
	struct mps3_logkey k;
	struct mps3_body body;
	size_t len;
	int rc = base_key(key, name);

	if (rc)
		return rc;
	memset(&k, 0, sizeof(k));
	k.t = t;
	snprintf(k.session, sizeof(k.session), "%s", db->session);
	doc = mps3_checkpoint_dump(&k, files, NULL, &len);
	if (!doc)
		return -ENOMEM;
	memset(&body, 0, sizeof(body));
	body.data = doc;
	body.len = len;
	rc = mps3_store_put(db->store, key, &body, NULL);
	free(doc);
	return rc;
}

int mps3_db_branch_create(struct mps3_db *db, const char *name, int64_t t)
{
	char key[KEY_MAX];
	json_t *files = NULL;
	int rc = base_key(key, name);

	if (rc)
		return rc;
	if (db->branch[0])
		return mps3_error_set(-EINVAL, "branches start from the main line, not from branch %s", db->branch);
	rc = mps3_store_head(db->store, key, NULL);
	if (rc == 0)
		return mps3_error_set(-EEXIST, "branch %s exists", name);
	if (rc != -ENOENT)
		return rc;
	mps3_error_clear();
	if (t == 0) {
		t = mps3_clock_now(db->clock);
		files = mps3_db_files(db);
		rc = files ? 0 : -ENOMEM;
	} else {
		rc = mps3_db_state_at(db, t, &files);
	}
	if (!rc)
		rc = put_base(db, name, files, t);
	json_decref(files);
	return rc;
}

int mps3_db_branch_delete(struct mps3_db *db, const char *name)
{
	char key[KEY_MAX], prefix[KEY_MAX];
	struct mps3_listing all;
	size_t i;
	int rc = base_key(key, name);

	if (rc)
		return rc;
	rc = mps3_store_head(db->store, key, NULL);
	if (rc == -ENOENT)
		return mps3_error_set(-ENOENT, "no branch %s", name);
	if (rc)
		return rc;
	snprintf(prefix, sizeof(prefix), BRANCH_PREFIX "%s/", name);
	mps3_listing_init(&all);
	rc = db_list_all(db, prefix, &all);
	/* The base last: until it goes, the branch is there for everyone. */
	for (i = 0; !rc && i < all.n; i++)
		if (strcmp(all.v[i].key, key) != 0)
			rc = mps3_store_delete(db->store, all.v[i].key);
	if (!rc)
		rc = mps3_store_delete(db->store, key);
	mps3_listing_dispose(&all);
	return rc;
}

int mps3_db_branch_list(struct mps3_db *db, mps3_db_branch_fn fn, void *ctx)
{
	struct mps3_listing all;
	size_t i;
	int rc;

	mps3_listing_init(&all);
	rc = db_list_all(db, BRANCH_PREFIX, &all);
	for (i = 0; !rc && i < all.n; i++) {
		const char *k = all.v[i].key + strlen(BRANCH_PREFIX), *slash = strchr(k, '/');
		char name[MPS3_SNAPSHOT_NAME_MAX + 1];
		json_t *files = NULL;
		int64_t t = 0;

		if (!slash || strcmp(slash, "/base") != 0 || (size_t)(slash - k) > MPS3_SNAPSHOT_NAME_MAX)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(slash - k), k);
		if (mps3_snapshot_name_check(name)) {
			mps3_error_clear();
			continue;
		}
		rc = db_branch_base(db, name, &files, &t);
		json_decref(files);
		if (rc == -EINVAL || rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (!rc)
			rc = fn(ctx, name, t);
	}
	mps3_listing_dispose(&all);
	return rc;
}

/* The branch's resolved map (new reference), through a database of its own on the same store. */
/* A database on branch name (no saved state, a session of its own): 0 with *out, -ENOENT, or the store's error. */
static int open_branch(struct mps3_db *db, const char *name, struct mps3_db **out)
{
	struct mps3_db_config cfg = db->cfg;
	char key[KEY_MAX];
	int rc;

	*out = NULL;
	rc = base_key(key, name);
	if (!rc)
		rc = mps3_store_head(db->store, key, NULL);
	if (rc)
		return rc == -ENOENT ? mps3_error_set(-ENOENT, "no branch %s", name) : rc;
	cfg.branch = name;
	cfg.state_file = NULL;
	cfg.session = NULL;
	cfg.allow_offline = 0;
	return mps3_db_open(out, db->store, &cfg);
}

int mps3_db_branch_files(struct mps3_db *db, const char *name, json_t **files)
{
	struct mps3_db *b;
	int rc = open_branch(db, name, &b);

	*files = NULL;
	if (rc)
		return rc;
	*files = mps3_db_files(b);
	mps3_db_free(b);
	return *files ? 0 : -ENOMEM;
}

static int is_entry(json_t *v)
{
	struct mps3_entry e;

	return v && mps3_entry_parse(&e, v) == 0;
}

/* Whether a path's values differ, as files (absent and not-a-file are the same). */
static int differs(json_t *a, json_t *b)
{
	int ea = is_entry(a), eb = is_entry(b);

	return ea != eb || (ea && !json_equal(a, b));
}

/* Whether two lines' values of a path disagree: in more than their times (both wrote the same thing). */
static int clashes(json_t *a, json_t *b)
{
	json_t *x, *y;
	int d;

	if (!is_entry(a) || !is_entry(b))
		return differs(a, b);
	x = json_copy(a);
	y = json_copy(b);
	if (!x || !y) {
		json_decref(x);
		json_decref(y);
		return 1;
	}
	json_object_del(x, "mtime");
	json_object_del(x, "atime");
	json_object_del(y, "mtime");
	json_object_del(y, "atime");
	d = !json_equal(x, y);
	json_decref(x);
	json_decref(y);
	return d;
}

/* Paths where to differs from from (a set, new reference). */
static json_t *changed(json_t *from, json_t *to)
{
	json_t *set = json_object(), *v;
	const char *path;

	if (!set)
		return NULL;
	json_object_foreach(to, path, v)
		if (differs(json_object_get(from, path), v))
			json_object_set_new(set, path, json_true());
	json_object_foreach(from, path, v)
		if (differs(v, json_object_get(to, path)))
			json_object_set_new(set, path, json_true());
	return set;
}

/* The patch that makes each path of paths what it is in to, over cur (new reference). */
static json_t *patch_to(json_t *cur, json_t *to, json_t *paths)
{
	json_t *patch = json_object(), *v;
	const char *path;

	if (!patch)
		return NULL;
	json_object_foreach(paths, path, v) {
		json_t *want = json_object_get(to, path), *now = json_object_get(cur, path), *p;
		const char *k;
		json_t *x;

		(void)v;
		if (!is_entry(want)) {
			json_object_set_new(patch, path, json_null());
			continue;
		}
		/* The branch's value whole: every field of it, null for what only the main line's had. */
		p = json_deep_copy(want);
		if (p && is_entry(now))
			json_object_foreach(now, k, x)
				if (!json_object_get(want, k))
					json_object_set_new(p, k, json_null());
		json_object_set_new(patch, path, p);
	}
	return patch;
}

int mps3_db_branch_diff(struct mps3_db *db, const char *name, json_t **patch)
{
	json_t *base = NULL, *br = NULL, *set = NULL;
	int rc = db_branch_base(db, name, &base, NULL);

	*patch = NULL;
	if (!rc)
		rc = mps3_db_branch_files(db, name, &br);
	if (!rc) {
		set = changed(base, br);
		*patch = set ? patch_to(base, br, set) : NULL;
		rc = *patch ? 0 : -ENOMEM;
	}
	json_decref(set);
	json_decref(base);
	json_decref(br);
	return rc;
}

/*
 * B2's rebase: the branch goes on from the main line as it is now.  What the
 * main line changed since the old base reaches the branch as an entry of the
 * branch's own log, so that every reader of the branch gets it by the usual
 * rules - a live mount, a saved state, a checkpoint made over the old base -
 * and only then is the base moved (for diff and the next commit).  A base
 * swapped under readers that never look at it again would let a stale
 * checkpoint commit the old values back.
 */
static int rebase_onto(struct mps3_db *db, const char *name)
{
	json_t *now = mps3_db_files(db), *br = NULL, *set = NULL, *bring = NULL;
	struct mps3_db *b = NULL;
	int rc = now ? open_branch(db, name, &b) : -ENOMEM;

	if (!rc) {
		br = mps3_db_files(b);
		set = br ? changed(br, now) : NULL;
		bring = set ? patch_to(br, now, set) : NULL;
		rc = bring ? 0 : -ENOMEM;
	}
	if (!rc && json_object_size(bring)) {
		char *dump = mps3_json_dumps(bring, JSON_COMPACT);

		if (!dump)
			rc = -ENOMEM;
		else if (strlen(dump) > db->cfg.max_entry_bytes / 2)
			rc = mps3_error_set(-EFBIG, "what the main line changed since the base (%zu bytes) is more than one log entry of the branch holds",
					    strlen(dump));
		free(dump);
		if (!rc)
			rc = mps3_db_commit(b, bring, NULL);
	}
	if (!rc)
		rc = put_base(db, name, now, mps3_clock_now(db->clock));
	mps3_db_free(b);
	json_decref(bring);
	json_decref(set);
	json_decref(br);
	json_decref(now);
	return rc;
}

int mps3_db_branch_commit(struct mps3_db *db, const char *name, int rebase, json_t **conflicts, size_t *nchanged,
			  struct mps3_logkey *key)
{
	json_t *base = NULL, *br = NULL, *main = NULL, *ours = NULL, *theirs = NULL, *clash = NULL, *patch = NULL;
	const char *path;
	json_t *v;
	int rc;

	if (conflicts)
		*conflicts = NULL;
	if (nchanged)
		*nchanged = 0;
	if (db->branch[0])
		return mps3_error_set(-EINVAL, "a branch is committed to the main line, not to branch %s", db->branch);
	rc = db_branch_base(db, name, &base, NULL);
	if (!rc)
		rc = mps3_db_branch_files(db, name, &br);
	main = rc ? NULL : mps3_db_files(db);
	if (!rc && !main)
		rc = -ENOMEM;
	if (!rc) {
		ours = changed(base, br);
		theirs = changed(base, main);
		clash = json_array();
		rc = ours && theirs && clash ? 0 : -ENOMEM;
	}
	/* B2: a path both lines changed since the base, to different values, is a conflict. */
	if (!rc)
		json_object_foreach(ours, path, v)
			if (json_object_get(theirs, path) &&
			    clashes(json_object_get(br, path), json_object_get(main, path)))
				json_array_append_new(clash, json_string(path));
	if (!rc && json_array_size(clash)) {
		rc = mps3_error_set(-EEXIST, "the main line changed %zu path(s) the branch changed too, since its base",
				    json_array_size(clash));
		if (conflicts)
			*conflicts = json_incref(clash);
	}
	if (!rc) {
		json_t *todo = json_object();
		void *tmp;

		/* What the main line holds already (an earlier commit of the branch) needs no entry. */
		json_object_foreach_safe(ours, tmp, path, v)
			if (todo && differs(json_object_get(br, path), json_object_get(main, path)))
				json_object_set_new(todo, path, json_true());
		patch = todo ? patch_to(main, br, todo) : NULL;
		json_decref(todo);
		rc = patch ? 0 : -ENOMEM;
	}
	/* B3: the whole change in one entry, or none. */
	if (!rc && json_object_size(patch)) {
		char *dump = mps3_json_dumps(patch, JSON_COMPACT);

		if (dump && strlen(dump) > db->cfg.max_entry_bytes / 2)
			rc = mps3_error_set(-EFBIG, "the branch's change (%zu bytes) is more than one log entry holds",
					    strlen(dump));
		free(dump);
		if (!rc)
			rc = mps3_db_commit(db, patch, key);
		if (!rc && nchanged)
			*nchanged = json_object_size(patch);
	}
	if (!rc && rebase)
		rc = rebase_onto(db, name);
	json_decref(patch);
	json_decref(clash);
	json_decref(ours);
	json_decref(theirs);
	json_decref(base);
	json_decref(br);
	json_decref(main);
	return rc;
}

/* ---- gc of the main line: what branches name stays ------------------------------------ */

int db_branch_blobs(struct mps3_db *db, struct db_refs *refs)
{
	struct mps3_listing all;
	size_t i;
	int rc;

	mps3_listing_init(&all);
	rc = db_list_all(db, BRANCH_PREFIX, &all);
	for (i = 0; !rc && i < all.n; i++) {
		const char *k = all.v[i].key;
		struct mps3_buf buf;
		json_t *j = NULL;

		if (!strstr(k, "/base") && !strstr(k, "/log/") && !strstr(k, "/checkpoint/"))
			continue;
		mps3_buf_init(&buf, db->cfg.max_checkpoint_bytes);
		rc = mps3_store_get_buf(db->store, k, &buf, NULL);
		/*
		 * Its "files" member by member, never whole; a broken one keeps what
		 * it named before the break.  Out of memory, the names after it are
		 * lost: the gc stops before it deletes a blob.
		 */
		if (rc == 0 && mps3_jscan_packed(mps3_buf_cstr(&buf), buf.len, "files", db_refs_value_fn,
						 db_refs_packed_fn, refs, &j) == -ENOMEM)
			rc = mps3_error_set(-ENOMEM, "gc: out of memory reading %s; no blob deleted", k);
		json_decref(j);
		mps3_buf_dispose(&buf);
		if (rc == -ENOENT || rc == -EFBIG)
			rc = 0;
	}
	mps3_listing_dispose(&all);
	return rc;
}
