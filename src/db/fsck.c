/*
 * db/fsck.c - the consistency check: the log, the checkpoints, and every
 * file of the resolved map against the blobs the bucket holds.  The map is
 * walked record by record (packed entries are never built as JSON) and the
 * blobs are looked up in one sorted listing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/log.h"
#include "internal.h"

static int null_write(void *ctx, const void *p, size_t n)
{
	(void)ctx;
	(void)p;
	(void)n;
	return 0;
}

static int fsck_log_item(void *ctx, const struct mps3_log_item *it)
{
	struct mps3_fsck_report *r = ctx;

	if (strcmp(it->status, "ok") == 0)
		return 0;
	if (strcmp(it->status, "stale") == 0)
		r->stale_entries++;
	else
		r->bad_entries++;
	mps3_warn("fsck: log/%s is %s", it->name, it->status);
	return 0;
}

static int fsck_checkpoints(struct mps3_db *db, struct mps3_fsck_report *out)
{
	struct mps3_listing cps;
	size_t i;
	int rc;

	mps3_listing_init(&cps);
	rc = db_list_all(db, db->cp_prefix, &cps);
	for (i = 0; rc == 0 && i < cps.n; i++) {
		struct mps3_checkpoint cp;
		struct mps3_buf buf;
		int prc;

		mps3_buf_init(&buf, db->cfg.max_checkpoint_bytes);
		rc = mps3_store_get_buf(db->store, cps.v[i].key, &buf, NULL);
		prc = rc ? rc : db_scan_checkpoint(&cp, cps.v[i].key + strlen(db->cp_prefix), &buf, NULL);
		mps3_buf_dispose(&buf);
		if (rc == -ENOENT || rc == -EFBIG)
			rc = 0; /* collected since the LIST; too large is reported below */
		if (prc == -ENOMEM)
			rc = prc; /* not the checkpoint's fault */
		if (rc || prc == -ENOENT)
			continue;
		if (prc) {
			out->bad_checkpoints++;
			mps3_warn("fsck: %s: %s", cps.v[i].key, mps3_error_last(prc));
			continue;
		}
		if (cp.key.t > db_future_limit(db)) {
			out->bad_checkpoints++;
			mps3_warn("fsck: %s: dated later than any client can write now (readers ignore it)",
				  cps.v[i].key);
		}
	}
	mps3_listing_dispose(&cps);
	return rc;
}

/* A file of the map, as much as its check needs. */
struct fsck_file {
	uint8_t blob[32];
	uint8_t chunks[32];
	uint64_t size;
	char *path;
	int has_chunks;
};

/* A blob the bucket holds and its size, by hash. */
struct fsck_blob {
	uint8_t h[32];
	uint64_t size;
};

struct fsck_walk {
	struct mps3_fsck_report *out;
	struct fsck_file *v;
	size_t n, cap;
};

/* Under the database lock: count what is not a file, and note each file (no I/O here). */
static int fsck_note(const char *path, const struct mps3_packed *p, json_t *j, void *ctx)
{
	struct fsck_walk *w = ctx;
	struct mps3_entry e;
	struct fsck_file *f;
	int prc = p ? mps3_packed_entry(&e, p) : mps3_entry_parse(&e, j);

	if (prc == -ENOENT)
		return 0;
	if (prc) {
		w->out->bad_entries++;
		mps3_warn("fsck: %s: malformed entry: %s", path, mps3_error_last(prc));
		return 0;
	}
	if (e.type == MPS3_DIR || e.type == MPS3_LINK || mps3_ftype_special(e.type)) {
		w->out->dirs += e.type == MPS3_DIR;
		w->out->links += e.type == MPS3_LINK;
		w->out->specials += mps3_ftype_special(e.type) ? 1 : 0;
		return 0;
	}
	w->out->files++;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 1024;
		struct fsck_file *v = realloc(w->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		w->v = v;
		w->cap = cap;
	}
	f = &w->v[w->n];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	if (!f->path)
		return -ENOMEM;
	mps3_sha256_unhex(f->blob, e.blob);
	f->has_chunks = e.chunks[0] && mps3_sha256_unhex(f->chunks, e.chunks);
	f->size = e.size;
	w->n++;
	return 0;
}

static int by_blob(const void *a, const void *b)
{
	return memcmp(a, b, 32); /* (both structs start with the hash) */
}

/* Each file's chunk list and blob (each blob once) against the listing; with verify, its content too. */
static int fsck_files(struct mps3_db *db, int verify, struct fsck_walk *w, const struct mps3_listing *blobs)
{
	struct fsck_blob *have = calloc(blobs->n ? blobs->n : 1, sizeof(*have));
	size_t i, nhave = 0;
	int rc = 0;

	if (!have)
		return -ENOMEM;
	for (i = 0; i < blobs->n; i++)
		if (mps3_sha256_unhex(have[nhave].h, blobs->v[i].key + strlen(BLOB_PREFIX)))
			have[nhave++].size = blobs->v[i].info.size;
	if (nhave)
		qsort(have, nhave, sizeof(*have), by_blob);
	if (w->n)
		qsort(w->v, w->n, sizeof(*w->v), by_blob); /* (w->v is NULL when there is no file) */
	for (i = 0; i < w->n && !rc; i++) {
		const struct fsck_file *f = &w->v[i];
		const struct fsck_blob *b;
		char hex[65], chex[65];

		mps3_hex(hex, f->blob, 32);
		if (f->has_chunks && !bsearch(f->chunks, have, nhave, sizeof(*have), by_blob)) {
			w->out->missing_blobs++;
			mps3_hex(chex, f->chunks, 32);
			mps3_warn("fsck: %s: the chunk list %s of blob %s is missing", f->path, chex, hex);
		}
		if (i > 0 && memcmp(w->v[i - 1].blob, f->blob, 32) == 0)
			continue; /* checked with another path */
		w->out->blobs_checked++;
		b = bsearch(f->blob, have, nhave, sizeof(*have), by_blob);
		if (!b) {
			w->out->missing_blobs++;
			mps3_warn("fsck: %s: blob %s is missing", f->path, hex);
			continue;
		}
		if (b->size != f->size) {
			w->out->size_mismatch++;
			mps3_warn("fsck: %s: blob %s has %" PRIu64 " bytes, the entry says %" PRIu64, f->path, hex,
				  b->size, f->size);
			continue;
		}
		if (verify) {
			struct mps3_sink sink = { null_write, NULL };
			int grc = mps3_db_blob_get(db, hex, NULL, &sink);

			if (grc == -EBADMSG)
				w->out->corrupt_blobs++;
			else if (grc)
				rc = grc;
		}
	}
	free(have);
	return rc;
}

int mps3_db_fsck(struct mps3_db *db, int verify, struct mps3_fsck_report *out)
{
	struct fsck_walk w = { out, NULL, 0, 0 };
	struct mps3_listing blobs;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	mps3_listing_init(&blobs);
	rc = mps3_db_log(db, 0, fsck_log_item, out);
	if (!rc)
		rc = fsck_checkpoints(db, out);
	/* One LIST of blobs/ instead of a HEAD per file. */
	if (!rc)
		rc = db_list_all(db, BLOB_PREFIX, &blobs);
	if (!rc)
		rc = mps3_db_foreach_raw(db, fsck_note, &w);
	if (rc == -ENOMEM)
		rc = mps3_error_set(rc, "fsck: out of memory");
	if (!rc)
		rc = fsck_files(db, verify, &w, &blobs);
	for (i = 0; i < w.n; i++)
		free(w.v[i].path);
	free(w.v);
	mps3_listing_dispose(&blobs);
	return rc;
}
