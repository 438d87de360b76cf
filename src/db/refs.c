/*
 * db/refs.c - the blobs a collection keeps (refs.h): appended as they are
 * found, sorted and made unique when looked up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/hash.h"
#include "refs.h"

void db_refs_init(struct db_refs *r)
{
	memset(r, 0, sizeof(*r));
}

void db_refs_dispose(struct db_refs *r)
{
	free(r->v);
	db_refs_init(r);
}

static void add(struct db_refs *r, const uint8_t h[32])
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		uint8_t(*v)[32] = cap > SIZE_MAX / 32 ? NULL : realloc(r->v, cap * 32);

		if (!v) {
			r->err = r->err ? r->err : -ENOMEM;
			return;
		}
		r->v = v;
		r->cap = cap;
	}
	memcpy(r->v[r->n++], h, 32);
}

void db_refs_add_hex(struct db_refs *r, const char *hex)
{
	uint8_t h[32];

	if (mps3_sha256_unhex(h, hex))
		add(r, h);
}

void db_refs_add_value(struct db_refs *r, json_t *v)
{
	db_refs_add_hex(r, json_string_value(json_object_get(v, "blob")));
	db_refs_add_hex(r, json_string_value(json_object_get(v, "chunks")));
}

void db_refs_add_files(struct db_refs *r, json_t *files)
{
	const char *path;
	json_t *v;

	json_object_foreach(files, path, v)
		db_refs_add_value(r, v);
}

void db_refs_add_packed(struct db_refs *r, const struct mps3_packed *p)
{
	if (p->has & MPS3_PK_BLOB)
		add(r, p->blob);
}

int db_refs_value_fn(const char *path, json_t *v, void *refs)
{
	db_refs_add_value(refs, v);
	return 0;
}

int db_refs_packed_fn(const char *path, const struct mps3_packed *p, void *refs)
{
	db_refs_add_packed(refs, p);
	return 0;
}

int db_refs_err(const struct db_refs *r)
{
	return r->err;
}

static int cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* Everything added so far sorted, repeats dropped. */
static void seal(struct db_refs *r)
{
	size_t i, out;

	if (r->sorted == r->n)
		return;
	qsort(r->v, r->n, 32, cmp);
	for (i = out = 0; i < r->n; i++)
		if (out == 0 || memcmp(r->v[out - 1], r->v[i], 32) != 0)
			memmove(r->v[out++], r->v[i], 32);
	r->n = r->sorted = out;
}

int db_refs_has_hex(struct db_refs *r, const char *hex)
{
	uint8_t h[32];

	if (!mps3_sha256_unhex(h, hex))
		return 0;
	seal(r);
	return r->n && bsearch(h, r->v, r->n, 32, cmp) != NULL;
}

size_t db_refs_count(struct db_refs *r)
{
	seal(r);
	return r->n;
}
