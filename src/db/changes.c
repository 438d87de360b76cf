/*
 * db/changes.c - what happened to a path (mps3/history.h): the log the
 * bucket still holds, replayed from the oldest state it can rebuild, one
 * entry at a time, so that each change comes with the values before and
 * after it; renames within an entry paired by value.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/history.h"
#include "internal.h"

const char *mps3_op_name(enum mps3_op op)
{
	static const char *const names[] = { "put", "rm", "mv", "mkdir", "link", "mknod",
					      "chmod", "chown", "touch", "xattr", "type" };

	return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

static int field_differs(json_t *a, json_t *b, const char *k)
{
	json_t *x = json_object_get(a, k), *y = json_object_get(b, k);

	if (json_is_null(x))
		x = NULL;
	if (json_is_null(y))
		y = NULL;
	return !(x == y || (x && y && json_equal(x, y)));
}

enum mps3_op mps3_op_classify(json_t *old, json_t *new)
{
	struct mps3_entry a, b;
	int had = old && mps3_entry_parse(&a, old) == 0, has = new && mps3_entry_parse(&b, new) == 0;

	if (had && !has)
		return MPS3_OP_RM;
	if (!had && has)
		return b.type == MPS3_DIR ? MPS3_OP_MKDIR : b.type == MPS3_LINK ? MPS3_OP_LINK :
		       mps3_ftype_special(b.type) ? MPS3_OP_MKNOD : MPS3_OP_PUT;
	if (!had)
		return MPS3_OP_TOUCH; /* neither is a file: nothing to see */
	if (a.type != b.type)
		return MPS3_OP_TYPE;
	if (b.type == MPS3_FILE && (strcmp(a.blob, b.blob) != 0 || a.size != b.size))
		return MPS3_OP_PUT;
	if (b.type == MPS3_LINK && strcmp(a.target, b.target) != 0)
		return MPS3_OP_LINK;
	if ((b.type == MPS3_CHR || b.type == MPS3_BLK) && a.rdev != b.rdev)
		return MPS3_OP_MKNOD;
	if (field_differs(old, new, "mode"))
		return MPS3_OP_CHMOD;
	if (field_differs(old, new, "uid") || field_differs(old, new, "gid"))
		return MPS3_OP_CHOWN;
	if (field_differs(old, new, "xattr"))
		return MPS3_OP_XATTR;
	return MPS3_OP_TOUCH;
}

static int under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	return n == 0 || (strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

static int valid(json_t *v)
{
	struct mps3_entry e;

	return v && mps3_entry_parse(&e, v) == 0;
}

/* Report one entry's changes under prefix, renames paired (each addition used once). */
static int report(const struct pending *p, const struct mps3_changes *ch, const char *prefix, mps3_db_history_fn fn,
		  void *ctx)
{
	char *used = calloc(ch->n + 1, 1);
	size_t i, j;
	int rc = used ? 0 : -ENOMEM;

	for (i = 0; !rc && i < ch->n; i++) {
		const struct mps3_change *c = &ch->v[i];
		struct mps3_history_item it;

		if (used[i])
			continue;
		memset(&it, 0, sizeof(it));
		it.key = p->entry.key;
		it.name = p->name;
		it.entry_paths = ch->n;
		it.path = c->path;
		it.old = c->old;
		it.new = c->new;
		it.op = mps3_op_classify(c->old, c->new);
		if (it.op == MPS3_OP_RM) {
			for (j = 0; j < ch->n; j++) {
				const struct mps3_change *d = &ch->v[j];

				if (!used[j] && j != i && !valid(d->old) && valid(d->new) &&
				    json_equal(d->new, c->old)) {
					used[j] = 1;
					it.op = MPS3_OP_MV;
					it.to = d->path;
					it.new = d->new;
					break;
				}
			}
		}
		if (under(it.path, prefix) || (it.to && under(it.to, prefix)))
			rc = fn(ctx, &it);
	}
	free(used);
	return rc;
}

static int cmp_entries(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	if (x->rc || y->rc)
		return (x->rc != 0) - (y->rc != 0);
	return mps3_logkey_cmp(&x->entry.key, &y->entry.key);
}

/* The oldest state the bucket can rebuild: empty (nothing collected) or the checkpoint at gc's record. */
static int oldest_base(struct mps3_db *db, json_t **files, int64_t *stop)
{
	int64_t from;
	int rc = mps3_db_history_start(db, &from);

	*files = NULL;
	*stop = INT64_MIN;
	if (rc || from == INT64_MIN)
		return rc;
	rc = mps3_db_state_at(db, from, files);
	if (!rc)
		*stop = from; /* entries before it are folded in: their changes are not told apart */
	return rc;
}

int mps3_db_history(struct mps3_db *db, const char *prefix, mps3_db_history_fn fn, void *ctx)
{
	struct pending_list list = { 0 };
	struct mps3_manifest *m = NULL;
	const struct mps3_list_entry *e;
	struct db_pages it;
	json_t *base = NULL;
	int64_t stop;
	size_t i;
	int rc = oldest_base(db, &base, &stop);

	db_pages_init(&it, db, db->log_prefix, NULL);
	while (!rc && (rc = db_page_next(&it, &e)) == 1) {
		const char *name = e->key + strlen(db->log_prefix);
		struct mps3_logkey k;

		rc = 0;
		if (mps3_logkey_parse(&k, name) || !mps3_entry_fresh(k.t, e->info.mtime_ms, db->cfg.stale_ms) ||
		    e->info.size > db->cfg.max_entry_bytes || k.t > db_future_limit(db))
			continue;
		if (k.t <= stop)
			break;
		rc = db_pending_add(&list, name, &e->info);
	}
	db_pages_dispose(&it);
	if (!rc)
		db_fetch_all(db, &list);
	for (i = 0; !rc && i < list.n; i++)
		if (list.v[i].rc && list.v[i].rc != -EINVAL && list.v[i].rc != -ENOENT)
			rc = mps3_error_set(list.v[i].rc, "log/%s: %s", list.v[i].name, list.v[i].err);
	if (!rc) {
		qsort(list.v, list.n, sizeof(*list.v), cmp_entries);
		m = mps3_manifest_new();
		rc = m ? mps3_manifest_reset(m, base, INT64_MIN, NULL) : -ENOMEM;
	}
	for (i = 0; !rc && i < list.n && list.v[i].rc == 0; i++) {
		struct mps3_changes ch;

		mps3_changes_init(&ch);
		rc = mps3_manifest_add(m, &list.v[i].entry.key, list.v[i].entry.files, &ch);
		if (rc == -EEXIST || rc == -ESTALE)
			rc = 0;
		mps3_changes_compact(&ch);
		if (!rc && ch.n)
			rc = report(&list.v[i], &ch, prefix, fn, ctx);
		mps3_changes_dispose(&ch);
	}
	if (m)
		mps3_manifest_free(m);
	json_decref(base);
	db_pending_dispose(&list);
	return rc;
}
