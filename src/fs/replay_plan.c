/*
 * fs/replay_plan.c - the syscalls that reproduce a batch of remote changes
 * (see replay_plan.h).  Pure: values in, operations out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/buf.h"
#include "mps3/entry.h"
#include "mps3/hash.h"
#include "mps3/json.h"
#include "replay_plan.h"

static void rop_dispose(struct rop *o)
{
	free(o->path);
	free(o->to);
	json_decref(o->value);
}

void mps3fs_rbatch_free(struct rbatch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		rop_dispose(&b->v[i]);
	free(b->v);
	free(b);
}

static int add_op(struct rbatch *b, enum rkind k, const char *path, const char *to, json_t *value)
{
	struct rop *o;
	const char *p;

	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 16;
		struct rop *v = realloc(b->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->v = v;
		b->cap = ncap;
	}
	o = &b->v[b->n];
	memset(o, 0, sizeof(*o));
	o->kind = k;
	o->index = b->n;
	o->path = strdup(path);
	o->to = to ? strdup(to) : NULL;
	o->value = json_incref(value);
	for (p = to ? to : path; *p; p++)
		o->depth += *p == '/';
	if (!o->path || (to && !o->to)) {
		rop_dispose(o);
		return -ENOMEM;
	}
	b->n++;
	return 0;
}

/* ---- classifying a batch of changes ----------------------------------------- */

static int parse(json_t *v, struct mps3_entry *e)
{
	return v && mps3_entry_parse(e, v) == 0;
}

/* Order: mkdirs (shallow first), renames, creates and changes, then removals (deep first). */
static int rank(const struct rop *o)
{
	if (o->kind >= R_DELETE)
		return o->replace ? -1 : 3;
	return o->kind == R_MKDIR ? 0 : o->kind == R_RENAME ? 1 : 2;
}

/*
 * Order: removals of paths made again as something else (the new thing
 * needs the name), mkdirs (shallow first), renames, creations and changes,
 * then the other removals (deep first, after whatever moved out).  qsort is
 * not stable: ties keep their order by their index.
 */
static int cmp_op(const void *a, const void *b)
{
	const struct rop *x = a, *y = b;
	int rx = rank(x), ry = rank(y);

	if (rx != ry)
		return rx - ry;
	if (rx == 0 && x->depth != y->depth)
		return x->depth - y->depth;
	if ((rx == 3 || rx == -1) && x->depth != y->depth)
		return y->depth - x->depth;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Canonical text of a value, to recognise the same value moved elsewhere. */
static char *canon(json_t *v)
{
	return v ? mps3_json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("null");
}

/*
 * DIRECTORY RENAMES.  A directory D1 all of whose tree went away and a
 * directory D2 that appeared with the same entries at the same relative
 * paths: one rename.  The changes are sorted with '/' below every other
 * byte, so that a directory and everything under it are one run; counts
 * of each kind of change along that order tell in O(log n) whether a run
 * was purely removed or purely added, and only those runs are hashed
 * ("rel\tvalue\n" lines in order).  A batch of n changes costs
 * O(n log n) plus its runs' sizes, with a budget: a hostile entry of
 * 100,000 directories cannot hold the poller for minutes (red-team
 * finding); past the budget, renames of whole trees are replayed as
 * removals and creations.
 */
#define PRINT_BUDGET (4u << 20)	/* lines hashed per batch */

enum ckind { K_NONE, K_REMOVED, K_ADDED, K_OTHER };

struct dplan {
	const struct mps3_changes *ch;
	size_t *ord;		/* change indices in path order, '/' lowest */
	size_t *cnt[4];		/* cnt[k][i]: changes of kind k among ord[0..i) */
	unsigned char *kind;	/* by change index */
	size_t budget;
};

/* strcmp with '/' below every other byte. */
static int cmp_slash(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = *a == '/' ? 1 : (unsigned char)*a, y = *b == '/' ? 1 : (unsigned char)*b;

		if (x != y || !x)
			return x < y ? -1 : x > y;
	}
}

static int cmp_ord(const void *a, const void *b, void *arg)
{
	const struct mps3_changes *ch = arg;

	return cmp_slash(ch->v[*(const size_t *)a].path, ch->v[*(const size_t *)b].path);
}

/* [*lo, *hi) of ord: dir itself and everything under it. */
static void run_of(const struct dplan *dp, const char *dir, size_t *lo, size_t *hi)
{
	size_t a = 0, b = dp->ch->n, len = strlen(dir);

	while (a < b) { /* first path not below dir */
		size_t m = a + (b - a) / 2;

		if (cmp_slash(dp->ch->v[dp->ord[m]].path, dir) < 0)
			a = m + 1;
		else
			b = m;
	}
	*lo = a;
	b = dp->ch->n;
	while (a < b) { /* first path past dir's tree */
		size_t m = a + (b - a) / 2;
		const char *p = dp->ch->v[dp->ord[m]].path;

		if (strncmp(p, dir, len) == 0 && (p[len] == '\0' || p[len] == '/'))
			a = m + 1;
		else
			b = m;
	}
	*hi = a;
}

static size_t count(const struct dplan *dp, int k, size_t lo, size_t hi)
{
	return dp->cnt[k][hi] - dp->cnt[k][lo];
}

/* SHA-256 of the run's "rel\tvalue" lines, or NULL (not purely side k, or the budget is spent). */
static char *run_print(struct dplan *dp, const char *dir, size_t lo, size_t hi, int k)
{
	unsigned char md[MPS3_SHA256_LEN];
	struct mps3_sha256 h;
	size_t i, dlen = strlen(dir);
	char *hex;

	if (count(dp, k, lo, hi) == 0 || count(dp, K_OTHER, lo, hi) ||
	    count(dp, k == K_REMOVED ? K_ADDED : K_REMOVED, lo, hi) || hi - lo > dp->budget)
		return NULL;
	dp->budget -= hi - lo;
	if (mps3_sha256_init(&h))
		return NULL;
	for (i = lo; i < hi; i++) {
		const struct mps3_change *c = &dp->ch->v[dp->ord[i]];
		const char *rel = c->path[dlen] ? c->path + dlen + 1 : ".";
		char *cv;

		if (dp->kind[dp->ord[i]] != k)
			continue;
		cv = canon(k == K_REMOVED ? c->old : c->new);
		mps3_sha256_update(&h, rel, strlen(rel) + 1);
		if (cv)
			mps3_sha256_update(&h, cv, strlen(cv) + 1);
		free(cv);
	}
	mps3_sha256_final(&h, md);
	hex = malloc(2 * MPS3_SHA256_LEN + 1);
	if (hex)
		mps3_hex(hex, md, sizeof(md));
	return hex;
}

static int dplan_init(struct dplan *dp, const struct mps3_changes *ch)
{
	size_t i, n = ch->n;
	int k;

	memset(dp, 0, sizeof(*dp));
	dp->ch = ch;
	dp->budget = PRINT_BUDGET;
	dp->ord = malloc((n + 1) * sizeof(*dp->ord));
	dp->kind = malloc(n + 1);
	for (k = 0; k < 4; k++)
		dp->cnt[k] = calloc(n + 1, sizeof(size_t));
	if (!dp->ord || !dp->kind || !dp->cnt[0] || !dp->cnt[1] || !dp->cnt[2] || !dp->cnt[3])
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct mps3_entry e;
		int had = parse(ch->v[i].old, &e), has = parse(ch->v[i].new, &e);

		dp->ord[i] = i;
		dp->kind[i] = had && has ? K_OTHER : had ? K_REMOVED : has ? K_ADDED : K_NONE;
	}
	qsort_r(dp->ord, n, sizeof(*dp->ord), cmp_ord, (void *)ch);
	for (i = 0; i < n; i++)
		for (k = 0; k < 4; k++)
			dp->cnt[k][i + 1] = dp->cnt[k][i] + (dp->kind[dp->ord[i]] == k);
	return 0;
}

static void dplan_dispose(struct dplan *dp)
{
	int k;

	free(dp->ord);
	free(dp->kind);
	for (k = 0; k < 4; k++)
		free(dp->cnt[k]);
}

/* The value of path in the batch (new side), or NULL. */
static json_t *new_value(const struct dplan *dp, const char *path)
{
	size_t lo, hi;

	run_of(dp, path, &lo, &hi);
	return lo < hi && strcmp(dp->ch->v[dp->ord[lo]].path, path) == 0 ? dp->ch->v[dp->ord[lo]].new : NULL;
}

static void mark_run(const struct dplan *dp, const char *dir, json_t *done)
{
	size_t lo, hi, i;

	run_of(dp, dir, &lo, &hi);
	for (i = lo; i < hi; i++)
		json_object_set_new(done, dp->ch->v[dp->ord[i]].path, json_true());
	json_object_set_new(done, dir, json_true());
}

/* Whether a proper ancestor of dir was itself moved whole (then only it is renamed). */
static int inner_of_move(const char *dir, json_t *gone_fp, json_t *came)
{
	char *p = strdup(dir), *s;
	int inner = 0;

	while (p && !inner && (s = strrchr(p, '/')) != NULL) {
		json_t *fp;

		*s = '\0';
		fp = json_object_get(gone_fp, p);
		inner = fp && json_object_get(came, json_string_value(fp));
	}
	free(p);
	return inner;
}

/* Every directory prefix of the paths in the batch, and every path that was or is a directory. */
static void collect_dirs(const struct mps3_changes *ch, json_t *dirs)
{
	size_t i;

	for (i = 0; i < ch->n; i++) {
		char *p = strdup(ch->v[i].path), *s;
		struct mps3_entry e;

		if (!p)
			continue;
		while ((s = strrchr(p, '/')) != NULL) {
			*s = '\0';
			if (json_object_get(dirs, p))
				break; /* and its ancestors are there too */
			json_object_set_new(dirs, p, json_true());
		}
		free(p);
		if ((parse(ch->v[i].old, &e) && e.type == MPS3_DIR) || (parse(ch->v[i].new, &e) && e.type == MPS3_DIR))
			json_object_set_new(dirs, ch->v[i].path, json_true());
	}
}

static int cmp_cstr(const void *a, const void *b)
{
	return cmp_slash(*(const char *const *)a, *(const char *const *)b);
}

/* Directory renames: they account for whole subtrees.  Paths done go into done. */
static void plan_dir_renames(struct rbatch *b, const struct mps3_changes *ch, json_t *done)
{
	json_t *dirs = json_object(), *gone_fp = json_object(), *came = json_object(), *used = json_object(), *v;
	const char **names = NULL;
	struct dplan dp;
	size_t nd = 0, i, lo, hi;
	const char *d;

	memset(&dp, 0, sizeof(dp));
	if (!dirs || !gone_fp || !came || !used || dplan_init(&dp, ch))
		goto out;
	collect_dirs(ch, dirs);
	names = malloc((json_object_size(dirs) + 1) * sizeof(*names));
	if (!names)
		goto out;
	json_object_foreach(dirs, d, v)
		names[nd++] = d;
	qsort(names, nd, sizeof(*names), cmp_cstr); /* parents first, and the same order every time */
	for (i = 0; i < nd; i++) {
		char *fp;

		run_of(&dp, names[i], &lo, &hi);
		if ((fp = run_print(&dp, names[i], lo, hi, K_REMOVED)) != NULL)
			json_object_set_new(gone_fp, names[i], json_string(fp));
		free(fp);
		if ((fp = run_print(&dp, names[i], lo, hi, K_ADDED)) != NULL && !json_object_get(came, fp))
			json_object_set_new(came, fp, json_string(names[i]));
		free(fp);
	}
	for (i = 0; i < nd; i++) {
		json_t *fp = json_object_get(gone_fp, names[i]), *to;
		char *dst;

		to = fp ? json_object_get(came, json_string_value(fp)) : NULL;
		if (!to || json_object_get(used, json_string_value(to)) || json_object_get(done, names[i]) ||
		    inner_of_move(names[i], gone_fp, came))
			continue;
		dst = strdup(json_string_value(to));
		if (!dst)
			continue;
		add_op(b, R_RENAME, names[i], dst, new_value(&dp, dst));
		mark_run(&dp, names[i], done);
		mark_run(&dp, dst, done);
		json_object_set_new(used, dst, json_true()); /* one source per destination */
		free(dst);
	}
out:
	free(names);
	dplan_dispose(&dp);
	json_decref(dirs);
	json_decref(gone_fp);
	json_decref(came);
	json_decref(used);
}

/* File and link renames: the same value gone from one path and come at another. */
static void plan_file_renames(struct rbatch *b, const struct mps3_changes *ch, json_t *done)
{
	json_t *gone = json_object(), *from;
	size_t i;

	if (!gone)
		return;
	for (i = 0; i < ch->n; i++) {
		struct mps3_entry a, e;
		char *cv;

		if (json_object_get(done, ch->v[i].path) || !parse(ch->v[i].old, &a) || parse(ch->v[i].new, &e) ||
		    a.type == MPS3_DIR)
			continue;
		cv = canon(ch->v[i].old);
		if (cv && !json_object_get(gone, cv))
			json_object_set_new(gone, cv, json_string(ch->v[i].path));
		free(cv);
	}
	for (i = 0; i < ch->n; i++) {
		struct mps3_entry a, e;
		char *cv;

		if (json_object_get(done, ch->v[i].path) || parse(ch->v[i].old, &a) || !parse(ch->v[i].new, &e) ||
		    e.type == MPS3_DIR)
			continue;
		cv = canon(ch->v[i].new);
		from = cv ? json_object_get(gone, cv) : NULL;
		if (from && !json_object_get(done, json_string_value(from))) {
			add_op(b, R_RENAME, json_string_value(from), ch->v[i].path, ch->v[i].new);
			json_object_set_new(done, json_string_value(from), json_true());
			json_object_set_new(done, ch->v[i].path, json_true());
		}
		free(cv);
	}
	json_decref(gone);
}

/* Everything else, one operation per path. */
static void plan_rest(struct rbatch *b, const struct mps3_changes *ch, json_t *done)
{
	size_t i;

	for (i = 0; i < ch->n; i++) {
		const struct mps3_change *c = &ch->v[i];
		struct mps3_entry a, e;
		int had = parse(c->old, &a), has = parse(c->new, &e);

		if (json_object_get(done, c->path))
			continue;
		if (had && (!has || a.type != e.type)) {
			add_op(b, a.type == MPS3_DIR ? R_RMDIR : R_DELETE, c->path, NULL, NULL);
			b->v[b->n - 1].replace = has;
		}
		if (!has)
			continue;
		if (!had || a.type != e.type)
			add_op(b, e.type == MPS3_DIR ? R_MKDIR : e.type == MPS3_LINK ? R_SYMLINK :
				   mps3_ftype_special(e.type) ? R_MKNOD : R_CREATE, c->path, NULL, c->new);
		else if (e.type == MPS3_FILE && (strcmp(a.blob, e.blob) != 0 || a.size != e.size))
			add_op(b, R_CONTENT, c->path, NULL, c->new);
		else if ((e.type == MPS3_LINK && strcmp(a.target, e.target) != 0) ||
			 ((e.type == MPS3_CHR || e.type == MPS3_BLK) && a.rdev != e.rdev)) {
			add_op(b, R_DELETE, c->path, NULL, NULL);
			b->v[b->n - 1].replace = 1;
			add_op(b, e.type == MPS3_LINK ? R_SYMLINK : R_MKNOD, c->path, NULL, c->new);
		} else
			add_op(b, R_ATTR, c->path, NULL, c->new);
	}
}

struct rbatch *mps3fs_replay_plan(const struct mps3_changes *ch)
{
	struct rbatch *b = calloc(1, sizeof(*b));
	json_t *done = json_object();

	if (!b || !done) {
		free(b);
		json_decref(done);
		return NULL;
	}
	plan_dir_renames(b, ch, done);
	plan_file_renames(b, ch, done);
	plan_rest(b, ch, done);
	if (b->n > 1)
		qsort(b->v, b->n, sizeof(*b->v), cmp_op);
	json_decref(done);
	return b;
}
