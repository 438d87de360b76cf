/*
 * db/manifest.c - the resolved files map as base + ordered replay window;
 * incremental for in-order arrivals, per-path recomputation for late ones.
 * The resolved map is a compact path map (pmap.h); the base is kept as
 * its differences from it: bdiff holds, for every path the window may have
 * changed, the base's value (JSON null: absent), and every other path's
 * base value is its resolved one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/manifest.h"
#include "mps3/mergepatch.h"
#include "pmap.h"

struct wentry {
	struct mps3_logkey key;
	json_t *files;
};

struct mps3_manifest {
	struct pmap bdiff;		/* path -> base value where it may differ from files (JSON null: absent) */
	struct pmap files;
	struct wentry *win;
	size_t nwin, capwin;
	int64_t horizon;
	int64_t newest;
	/* Settled entries' keys, oldest first: every one from done_from on, kept keep_ms behind the horizon. */
	struct mps3_logkey *done;
	size_t ndone, capdone;
	int64_t done_from, keep_ms;
	uint64_t gen;	/* bumped by every change to the map, the window or the horizon */
};

void mps3_changes_init(struct mps3_changes *c)
{
	memset(c, 0, sizeof(*c));
}

void mps3_changes_dispose(struct mps3_changes *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->v[i].path);
		json_decref(c->v[i].old);
		json_decref(c->v[i].new);
	}
	free(c->v);
	json_decref(c->index);
	/* A big change set: its values, and what its listener freed (a tree's nodes), go back to the system. */
	if (c->n >= 4096)
		db_pmap_trim();
	memset(c, 0, sizeof(*c));
}

int mps3_changes_add(struct mps3_changes *c, const char *path, json_t *old, json_t *new)
{
	json_t *pos;
	struct mps3_change *ch;

	if (!c->index) {
		c->index = json_object();
		if (!c->index)
			return -ENOMEM;
	}
	pos = json_object_get(c->index, path);
	if (pos) {
		ch = &c->v[json_integer_value(pos)];
		json_decref(ch->new);
		ch->new = json_incref(new);
		ch->key = c->key;
		return 0;
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		struct mps3_change *v = realloc(c->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = ncap;
	}
	ch = &c->v[c->n];
	ch->path = strdup(path);
	if (!ch->path || json_object_set_new(c->index, path, json_integer((json_int_t)c->n))) {
		free(ch->path);
		return -ENOMEM;
	}
	ch->old = json_incref(old);
	ch->new = json_incref(new);
	ch->key = c->key;
	c->n++;
	return 0;
}

static int same(json_t *a, json_t *b)
{
	if (a == b)
		return 1;
	if (!a || !b)
		return 0;
	return json_equal(a, b);
}

void mps3_changes_compact(struct mps3_changes *c)
{
	size_t i, j = 0;

	for (i = 0; i < c->n; i++) {
		if (same(c->v[i].old, c->v[i].new)) {
			free(c->v[i].path);
			json_decref(c->v[i].old);
			json_decref(c->v[i].new);
			continue;
		}
		c->v[j++] = c->v[i];
	}
	c->n = j;
	/* Positions moved: the index is only valid for the adding phase. */
	json_decref(c->index);
	c->index = NULL;
}

struct mps3_manifest *mps3_manifest_new(void)
{
	struct mps3_manifest *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	db_pmap_init(&m->files);
	db_pmap_init(&m->bdiff);
	m->horizon = INT64_MIN;
	m->newest = INT64_MIN;
	m->done_from = INT64_MIN;
	return m;
}

static void clear_window(struct mps3_manifest *m)
{
	size_t i;

	for (i = 0; i < m->nwin; i++)
		json_decref(m->win[i].files);
	m->nwin = 0;
}

void mps3_manifest_free(struct mps3_manifest *m)
{
	if (!m)
		return;
	clear_window(m);
	free(m->win);
	free(m->done);
	db_pmap_dispose(&m->bdiff);
	db_pmap_dispose(&m->files);
	free(m);
}

/* The base's value of path (new reference, NULL: absent or *err = -ENOMEM). */
static json_t *base_get(const struct mps3_manifest *m, const char *path, int *err)
{
	json_t *d;

	if (!db_pmap_has(&m->bdiff, path))
		return db_pmap_get(&m->files, path, err);
	d = db_pmap_get(&m->bdiff, path, err);
	if (json_is_null(d)) {
		json_decref(d);
		d = NULL;
	}
	return d;
}

/* Before files[path] changes: remember the base's value of it.  0 or -ENOMEM. */
static int keep_base(struct mps3_manifest *m, const char *path, json_t *cur)
{
	if (db_pmap_has(&m->bdiff, path))
		return 0;
	return db_pmap_put(&m->bdiff, path, cur ? cur : json_null());
}

/* Set files[path] = v (NULL deletes), cur its value now; the base keeps its own.  0 or -ENOMEM. */
static int put_files(struct mps3_manifest *m, const char *path, json_t *cur, json_t *v)
{
	int rc;

	if (same(cur, v))
		return 0;
	rc = keep_base(m, path, cur);
	return rc ? rc : db_pmap_put(&m->files, path, v);
}

/* Set map[path] = v (NULL deletes); returns 0 or -ENOMEM. */
static int put(json_t *map, const char *path, json_t *v)
{
	if (!v) {
		json_object_del(map, path);
		return 0;
	}
	return json_object_set(map, path, v) ? -ENOMEM : 0;
}

/*
 * Apply one entry's patch for one path on top of cur (borrowed): *out is a
 * new reference or NULL (absent).  A patch that cannot be applied (nested
 * deeper than the merge allows: the entry parsers refuse those, so only a
 * caller feeding the manifest directly can get here) leaves the path as it
 * was, the same way for every reader; only -ENOMEM is an error.
 */
static int apply_path(json_t **out, json_t *cur, json_t *patch)
{
	int err = 0;

	*out = mps3_merge_patch(cur, patch, &err);
	if (err && err != -ENOMEM) {
		*out = json_incref(cur);
		err = 0;
	} else if (*out && cur && *out != cur && json_equal(*out, cur)) {
		/* No change (an entry replayed onto a checkpoint that has it): keep the value shared. */
		json_decref(*out);
		*out = json_incref(cur);
	}
	return err;
}

static int record(struct mps3_changes *changes, const char *path, json_t *old, json_t *new)
{
	if (!changes || same(old, new))
		return 0;
	return mps3_changes_add(changes, path, old, new);
}

/* A map being read, packed as it arrives (mps3/manifest.h). */
struct mps3_base {
	struct pmap files;
};

struct mps3_base *mps3_base_new(void)
{
	struct mps3_base *b = malloc(sizeof(*b));

	if (b)
		db_pmap_init(&b->files);
	return b;
}

void mps3_base_free(struct mps3_base *b)
{
	if (!b)
		return;
	db_pmap_dispose(&b->files);
	free(b);
}

int mps3_base_add(struct mps3_base *b, const char *path, json_t *v)
{
	if (db_pmap_has(&b->files, path))
		return mps3_error_set(-EINVAL, "duplicate path %s", path);
	return db_pmap_put(&b->files, path, v) ? mps3_error_set(-ENOMEM, "out of memory") : 0;
}

int mps3_base_add_fn(const char *path, json_t *v, void *base)
{
	return mps3_base_add(base, path, v);
}

int mps3_base_add_packed_fn(const char *path, const struct mps3_packed *p, void *base)
{
	int rc = db_pmap_add_packed(&((struct mps3_base *)base)->files, path, p);

	if (rc == -EEXIST)
		return mps3_error_set(-EINVAL, "duplicate path %s", path);
	return rc ? mps3_error_set(-ENOMEM, "out of memory") : 0;
}

int mps3_base_add_json(struct mps3_base *b, json_t *files)
{
	const char *path;
	json_t *v;
	int rc = 0;

	json_object_foreach(files, path, v) {
		rc = mps3_base_add(b, path, v);
		if (rc)
			break;
	}
	return rc;
}

size_t mps3_base_size(const struct mps3_base *b)
{
	return b->files.n;
}

struct reset_ctx {
	const struct pmap *nfiles, *old;
	struct mps3_changes *changes;
};

static int record_gone(const char *path, json_t *v, void *ctx)
{
	struct reset_ctx *c = ctx;
	int err = 0, rc;
	json_t *now = db_pmap_get(c->nfiles, path, &err);

	rc = err ? err : record(c->changes, path, v, now);
	json_decref(now);
	return rc;
}

static int record_new(const char *path, json_t *v, void *ctx)
{
	struct reset_ctx *c = ctx;

	return db_pmap_has(c->old, path) ? 0 : record(c->changes, path, NULL, v);
}

int mps3_manifest_reset_base(struct mps3_manifest *m, struct mps3_base *b, int64_t horizon,
			     struct mps3_changes *changes)
{
	size_t before = m->files.n;
	int rc;

	if (changes) {
		struct reset_ctx c = { &b->files, &m->files, changes };

		memset(&changes->key, 0, sizeof(changes->key)); /* from a checkpoint, not an entry */
		rc = db_pmap_foreach(&m->files, record_gone, &c);
		if (!rc)
			rc = db_pmap_foreach(&b->files, record_new, &c);
		if (rc)
			return rc;
	}
	clear_window(m);
	db_pmap_dispose(&m->bdiff);
	db_pmap_dispose(&m->files);
	m->files = b->files;
	db_pmap_init(&b->files);
	m->horizon = horizon;
	m->gen++;
	m->ndone = 0;
	m->done_from = horizon; /* what the base holds before it is not known by name */
	if (before > 4096 && before > 2 * m->files.n)
		db_pmap_trim();
	return 0;
}

int mps3_manifest_reset(struct mps3_manifest *m, json_t *files, int64_t horizon,
			struct mps3_changes *changes)
{
	struct mps3_base *b = mps3_base_new();
	int rc = b ? mps3_base_add_json(b, files) : -ENOMEM;

	if (!rc)
		rc = mps3_manifest_reset_base(m, b, horizon, changes);
	mps3_base_free(b);
	return rc;
}

/* Position of the first window entry not less than key. */
static size_t lower_bound(const struct mps3_manifest *m, const struct mps3_logkey *key)
{
	size_t lo = 0, hi = m->nwin;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mps3_logkey_cmp(&m->win[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int mps3_manifest_has(const struct mps3_manifest *m, const struct mps3_logkey *key)
{
	size_t i = lower_bound(m, key);

	return i < m->nwin && mps3_logkey_cmp(&m->win[i].key, key) == 0;
}

/* Recompute files[path] from base by replaying every window entry that names it. */
static int recompute(struct mps3_manifest *m, const char *path, struct mps3_changes *changes)
{
	json_t *v, *next, *old;
	size_t i;
	int rc;

	v = base_get(m, path, &rc);
	if (rc)
		return rc;
	for (i = 0; i < m->nwin; i++) {
		json_t *p = json_object_get(m->win[i].files, path);

		if (!p)
			continue;
		rc = apply_path(&next, v, p);
		json_decref(v);
		if (rc)
			return rc;
		v = next;
	}
	old = db_pmap_get(&m->files, path, &rc);
	if (!rc)
		rc = record(changes, path, old, v);
	if (!rc)
		rc = put_files(m, path, old, v);
	json_decref(old);
	json_decref(v);
	return rc;
}

int mps3_manifest_add(struct mps3_manifest *m, const struct mps3_logkey *key,
		      json_t *files, struct mps3_changes *changes)
{
	const char *path;
	json_t *p;
	size_t pos;
	int late, rc;

	if (key->t < m->horizon)
		return -ESTALE;
	if (changes)
		changes->key = *key;
	m->gen++;
	pos = lower_bound(m, key);
	if (pos < m->nwin && mps3_logkey_cmp(&m->win[pos].key, key) == 0)
		return -EEXIST;
	if (m->nwin == m->capwin) {
		size_t ncap = m->capwin ? m->capwin * 2 : 64;
		struct wentry *w = realloc(m->win, ncap * sizeof(*w));

		if (!w)
			return -ENOMEM;
		m->win = w;
		m->capwin = ncap;
	}
	late = pos < m->nwin;
	memmove(&m->win[pos + 1], &m->win[pos], (m->nwin - pos) * sizeof(*m->win));
	m->win[pos].key = *key;
	m->win[pos].files = json_incref(files);
	m->nwin++;
	if (key->t > m->newest)
		m->newest = key->t;

	json_object_foreach(files, path, p) {
		if (late) {
			rc = recompute(m, path, changes);
		} else {
			json_t *old = db_pmap_get(&m->files, path, &rc), *next = NULL;

			if (!rc)
				rc = apply_path(&next, old, p);
			if (!rc)
				rc = record(changes, path, old, next);
			if (!rc)
				rc = put_files(m, path, old, next);
			json_decref(next);
			json_decref(old);
		}
		if (rc)
			return rc;
	}
	return 0;
}

int mps3_files_apply(json_t *files, json_t *patch)
{
	const char *path;
	json_t *p;
	int rc = 0;

	json_object_foreach(patch, path, p) {
		json_t *next;

		rc = apply_path(&next, json_object_get(files, path), p);
		if (!rc)
			rc = put(files, path, next);
		json_decref(next);
		if (rc)
			break;
	}
	return rc;
}

/* Room for n more settled keys.  0 or -ENOMEM. */
static int done_room(struct mps3_manifest *m, size_t n)
{
	struct mps3_logkey *v;
	size_t ncap = m->capdone ? m->capdone : 64;

	if (m->ndone + n <= m->capdone)
		return 0;
	while (ncap < m->ndone + n)
		ncap *= 2;
	v = realloc(m->done, ncap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	m->done = v;
	m->capdone = ncap;
	return 0;
}

/* Forget the settled keys more than keep_ms behind the horizon. */
static void done_prune(struct mps3_manifest *m)
{
	int64_t keep_from = m->horizon == INT64_MIN ? INT64_MIN : m->horizon - m->keep_ms;
	size_t k = 0;

	if (keep_from <= m->done_from)
		return;
	while (k < m->ndone && m->done[k].t < keep_from)
		k++;
	if (k > 0) {
		memmove(m->done, m->done + k, (m->ndone - k) * sizeof(*m->done));
		m->ndone -= k;
	}
	m->done_from = keep_from;
}

/* Forget the base's values that are the resolved ones again (out of memory: kept, which is as true). */
static int bdiff_same(const char *path, json_t *d, void *ctx)
{
	const struct mps3_manifest *m = ctx;
	int err;
	json_t *f = db_pmap_get(&m->files, path, &err);
	int drop = !err && same(json_is_null(d) ? NULL : d, f);

	json_decref(f);
	return drop;
}

static void bdiff_prune(struct mps3_manifest *m)
{
	size_t before = m->bdiff.n;

	db_pmap_prune(&m->bdiff, bdiff_same, m);
	if (before >= 4096 && m->bdiff.n < before / 2)
		db_pmap_trim(); /* the window's old values of a big change are gone */
}

int mps3_manifest_settle(struct mps3_manifest *m, int64_t horizon)
{
	size_t i, n = 0;
	int rc;

	if (horizon <= m->horizon)
		return 0;
	m->gen++;
	while (n < m->nwin && m->win[n].key.t < horizon)
		n++;
	for (i = 0; i < n; i++) {
		const char *path;
		json_t *p;

		json_object_foreach(m->win[i].files, path, p) {
			json_t *cur = base_get(m, path, &rc), *next = NULL;

			if (!rc)
				rc = apply_path(&next, cur, p);
			if (!rc)
				rc = db_pmap_put(&m->bdiff, path, next ? next : json_null());
			json_decref(next);
			json_decref(cur);
			/*
			 * Out of memory: the window is left whole, and replaying it
			 * over the partly folded base later gives the same map (R4).
			 */
			if (rc)
				return rc;
		}
	}
	rc = done_room(m, n);
	for (i = 0; i < n; i++) {
		if (!rc)
			m->done[m->ndone++] = m->win[i].key;
		json_decref(m->win[i].files);
	}
	if (rc) { /* no room to name them: no window can be stated until they are behind */
		m->ndone = 0;
		m->done_from = horizon;
	}
	if (n > 0)
		memmove(m->win, m->win + n, (m->nwin - n) * sizeof(*m->win));
	m->nwin -= n;
	m->horizon = horizon;
	done_prune(m);
	if (n > 0)
		bdiff_prune(m);
	return 0;
}

void mps3_manifest_keep_settled(struct mps3_manifest *m, int64_t keep_ms)
{
	m->keep_ms = keep_ms > 0 ? keep_ms : 0;
	done_prune(m);
}

int mps3_manifest_note_settled(struct mps3_manifest *m, int64_t from, const struct mps3_logkey *keys,
			       size_t n)
{
	int rc;

	if (m->ndone || m->nwin || from > m->horizon)
		return -EINVAL;
	rc = done_room(m, n);
	if (rc)
		return rc;
	if (n > 0) /* (m->done may still be NULL: memcpy must not see it even for 0 bytes) */
		memcpy(m->done, keys, n * sizeof(*keys));
	m->ndone = n;
	m->done_from = from;
	done_prune(m);
	return 0;
}

int mps3_manifest_settled_window(const struct mps3_manifest *m, int64_t from, struct mps3_cpwindow *w)
{
	size_t k = 0;

	if (from < m->done_from || from > m->horizon)
		return -ENOENT;
	while (k < m->ndone && m->done[k].t < from)
		k++;
	return mps3_cpwindow_digest(w, from, m->done + k, m->ndone - k);
}

uint64_t mps3_manifest_generation(const struct mps3_manifest *m)
{
	return m->gen;
}

int64_t mps3_manifest_horizon(const struct mps3_manifest *m)
{
	return m->horizon;
}

int64_t mps3_manifest_newest(const struct mps3_manifest *m)
{
	return m->newest;
}

size_t mps3_manifest_window_len(const struct mps3_manifest *m)
{
	return m->nwin;
}

const struct mps3_logkey *mps3_manifest_window_key(const struct mps3_manifest *m, size_t i,
						   json_t **files)
{
	if (i >= m->nwin)
		return NULL;
	if (files)
		*files = m->win[i].files;
	return &m->win[i].key;
}

json_t *mps3_manifest_get(const struct mps3_manifest *m, const char *path, int *err)
{
	return db_pmap_get(&m->files, path, err);
}

size_t mps3_manifest_size(const struct mps3_manifest *m)
{
	return m->files.n;
}

struct base_count {
	const struct mps3_manifest *m;
	size_t n;
};

static int count_base(const char *path, json_t *d, void *ctx)
{
	struct base_count *c = ctx;

	c->n -= db_pmap_has(&c->m->files, path) ? 1 : 0;
	c->n += json_is_null(d) ? 0 : 1;
	return 0;
}

size_t mps3_manifest_base_size(const struct mps3_manifest *m)
{
	struct base_count c = { m, m->files.n };

	db_pmap_foreach(&m->bdiff, count_base, &c); /* (out of memory: a count near enough for its callers) */
	return c.n;
}

int mps3_manifest_foreach(const struct mps3_manifest *m, int (*fn)(const char *path, json_t *v, void *ctx),
			  void *ctx)
{
	return db_pmap_foreach(&m->files, fn, ctx);
}

int mps3_manifest_foreach_raw(const struct mps3_manifest *m, mps3_raw_fn fn, void *ctx)
{
	return db_pmap_foreach_raw(&m->files, fn, ctx);
}

json_t *mps3_manifest_files_copy(const struct mps3_manifest *m)
{
	return db_pmap_to_json(&m->files);
}

/*
 * Every path of the base, once, as a record of one of the maps: a path of
 * the resolved map the window did not change is in the base as it is; one
 * it changed has its base value in bdiff (null: not in the base).
 */
struct base_walk {
	const struct pmap *skip;	/* the files pass: the paths bdiff holds */
	mps3_raw_fn fn;
	void *ctx;
};

static int walk_rec(const char *path, const struct mps3_packed *p, json_t *j, void *ctx)
{
	struct base_walk *w = ctx;

	if ((w->skip && db_pmap_has(w->skip, path)) || (j && json_is_null(j)))
		return 0;
	return w->fn(path, p, j, w->ctx);
}

static int base_walk(const struct mps3_manifest *m,
		     int (*fn)(const char *path, const struct mps3_packed *p, json_t *j, void *ctx), void *ctx)
{
	struct base_walk w = { &m->bdiff, fn, ctx };
	int rc = db_pmap_foreach_raw(&m->files, walk_rec, &w);

	w.skip = NULL;
	return rc ? rc : db_pmap_foreach_raw(&m->bdiff, walk_rec, &w);
}

int mps3_manifest_base_dump(const struct mps3_manifest *m, struct mps3_buf *out)
{
	struct pmap_text t = { out, 1, 0 };
	int rc = mps3_buf_append(out, "{", 1);

	if (!rc)
		rc = base_walk(m, db_pmap_text_member, &t);
	return rc ? rc : mps3_buf_append(out, "}", 1);
}

int mps3_manifest_files_dump(const struct mps3_manifest *m, struct mps3_buf *out)
{
	struct pmap_text t = { out, 1, 0 };
	int rc = mps3_buf_append(out, "{", 1);

	if (!rc)
		rc = db_pmap_foreach_raw(&m->files, db_pmap_text_member, &t);
	return rc ? rc : mps3_buf_append(out, "}", 1);
}

static int add_base(const char *path, const struct mps3_packed *p, json_t *j, void *ctx)
{
	return json_object_set_new(ctx, path, p ? mps3_packed_to_json(p) : json_incref(j)) ? -ENOMEM : 0;
}

json_t *mps3_manifest_base_copy(const struct mps3_manifest *m)
{
	json_t *o = json_object();

	if (o && base_walk(m, add_base, o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

void mps3_manifest_trim(void)
{
	db_pmap_trim();
}
