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
	return v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("null");
}

static int has_prefix(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* qsort comparator of an array of strings (it is given pointers to the elements). */
static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Directory renames: a directory D1 all of whose tree went away and a
 * directory D2 that appeared with exactly the same entries at the same
 * relative paths.  Fingerprint = sorted "rel\tvalue" lines.
 */
static char *subtree_print(const struct mps3_changes *ch, const char *dir, int removed)
{
	struct mps3_buf b = MPS3_BUF_INIT;
	char **lines = NULL;
	size_t n = 0, i, dlen = strlen(dir);

	lines = calloc(ch->n + 1, sizeof(*lines));
	if (!lines)
		return NULL;
	for (i = 0; i < ch->n; i++) {
		const struct mps3_change *c = &ch->v[i];
		json_t *v = removed ? c->old : c->new;
		json_t *other = removed ? c->new : c->old;
		struct mps3_entry e;
		char *cv;

		if (!has_prefix(c->path, dir) && strcmp(c->path, dir) != 0)
			continue;
		if (!parse(v, &e) || parse(other, &e)) {
			/* Not purely removed (or added) under the directory: no rename. */
			if (parse(other, &e) || parse(v, &e)) {
				for (; n > 0; n--)
					free(lines[n - 1]);
				free(lines);
				return NULL;
			}
			continue;
		}
		cv = canon(v);
		if (!cv || asprintf(&lines[n], "%s\t%s", strcmp(c->path, dir) == 0 ? "." : c->path + dlen + 1, cv) < 0)
			lines[n] = NULL;
		free(cv);
		if (lines[n])
			n++;
	}
	if (n > 1)
		qsort(lines, n, sizeof(*lines), cmp_line);
	for (i = 0; i < n; i++) {
		mps3_buf_puts(&b, lines[i]);
		mps3_buf_puts(&b, "\n");
		free(lines[i]);
	}
	free(lines);
	return n ? mps3_buf_detach(&b, NULL) : (mps3_buf_dispose(&b), NULL);
}

/* Every directory prefix of the paths in the batch whose side was entirely added or removed. */
static void collect_dirs(const struct mps3_changes *ch, json_t *dirs)
{
	size_t i;

	for (i = 0; i < ch->n; i++) {
		char *p = strdup(ch->v[i].path), *s;

		if (!p)
			continue;
		while ((s = strrchr(p, '/')) != NULL) {
			*s = '\0';
			json_object_set_new(dirs, p, json_true());
		}
		free(p);
		{
			struct mps3_entry e;

			if ((parse(ch->v[i].old, &e) && e.type == MPS3_DIR) ||
			    (parse(ch->v[i].new, &e) && e.type == MPS3_DIR))
				json_object_set_new(dirs, ch->v[i].path, json_true());
		}
	}
}

/* Directory renames: they account for whole subtrees.  Paths done go into done. */
static void plan_dir_renames(struct rbatch *b, const struct mps3_changes *ch, json_t *done)
{
	json_t *dirs = json_object(), *gone = json_object(), *came = json_object(), *v;
	const char *d;
	size_t k;

	if (!dirs || !gone || !came)
		goto out;
	collect_dirs(ch, dirs);
	json_object_foreach(dirs, d, v) {
		char *fp = subtree_print(ch, d, 1);

		if (fp) {
			json_object_set_new(gone, fp, json_string(d));
			free(fp);
		}
		fp = subtree_print(ch, d, 0);
		if (fp) {
			json_object_set_new(came, fp, json_string(d));
			free(fp);
		}
	}
	json_object_foreach(gone, d, v) {
		json_t *to = json_object_get(came, d), *dv = NULL, *v2;
		const char *from = json_string_value(v), *dst, *k2;
		int inner = 0;

		if (!to || json_object_get(done, from))
			continue;
		dst = json_string_value(to);
		/* Only the outermost directory of a moved tree is renamed. */
		json_object_foreach(gone, k2, v2)
			if (has_prefix(from, json_string_value(v2)) && json_object_get(came, k2))
				inner = 1;
		if (inner)
			continue;
		for (k = 0; k < ch->n; k++)
			if (strcmp(ch->v[k].path, dst) == 0)
				dv = ch->v[k].new;
		add_op(b, R_RENAME, from, dst, dv);
		for (k = 0; k < ch->n; k++) {
			if (strcmp(ch->v[k].path, from) == 0 || has_prefix(ch->v[k].path, from) ||
			    strcmp(ch->v[k].path, dst) == 0 || has_prefix(ch->v[k].path, dst))
				json_object_set_new(done, ch->v[k].path, json_true());
		}
		json_object_set_new(done, from, json_true());
		json_object_set_new(done, dst, json_true());
	}
out:
	json_decref(dirs);
	json_decref(gone);
	json_decref(came);
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
