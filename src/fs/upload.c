/*
 * fs/upload.c - the upload worker: turns locally changed paths into blobs
 * and one log entry.
 *
 * DESIGN.  Local operations change the tree at once and record the path in
 * fs->dirty with a generation number (fs/local.c).  The worker waits for
 * dirty paths, lets a burst settle for a few milliseconds, and takes a
 * snapshot of every ready path's wanted value (the node's entry, or
 * absent); files still being written (a dirty staging file) wait for their
 * close, parked paths for their next change.  Outside the lock it works out
 * each path's patch against the resolved value (mps3_entry_patch:
 * concurrent changes of other metadata fields by other machines merge;
 * content fields always travel together), and against every value an
 * earlier failed commit of ours may have stored (mps3_db_get_unsure), so
 * that such an entry turning up later cannot undo this change.  It uploads
 * the blobs the values name, then commits one merge patch, split into
 * several entries only if it would exceed the entry size limit.  A path
 * leaves fs->dirty only if its generation did not move meanwhile.
 *
 * Failures.  What is wrong with one path - a path or value the protocol
 * forbids, content that is gone from the cache and not in the bucket, a
 * blob the store refuses for good - parks that path (fs->stuck) and the
 * others go on.  Anything else (the store unreachable, busy, erring) keeps
 * everything dirty and is retried with capped backoff: the mount keeps
 * working offline.  Shutdown: mps3fs_uploader_stop() after the caller
 * drained what it could with mps3fs_wait_committed().
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mps3/clock.h"
#include "mps3/error.h"
#include "mps3/json.h"
#include "mps3/log.h"
#include "fs.h"
#include "batch.h"
#include "inval.h"
#include "local.h"
#include "stage.h"
#include "tree.h"
#include "upload.h"

#define SETTLE_MS 5
#define MAX_PATCH_BYTES (4u << 20)
/* Blobs uploaded at once: many small ones are round trips; large ones are multipart uploads, each parallel. */
#define UPLOAD_THREADS 16
#define UPLOAD_THREADS_LARGE 4
#define LARGE_BLOB ((uint64_t)8 << 20)
/*
 * A blob this mount uploaded less than SENT_MS ago is not sent again (a
 * rename, a cp of a file just written): it is in the bucket and far younger
 * than the GC grace period (1 h), so no GC deletes it before the entry
 * naming it lands.  A batch whose uploads took so long that such a blob's
 * upload began more than SENT_LATE_MS before its commit is tried again, and
 * then sends it.  At most SENT_MAX remembered.
 */
#define SENT_MS (10 * 60 * 1000)
#define SENT_LATE_MS (20 * 60 * 1000)
#define SENT_MAX 262144

struct blob {
	char sha[MPS3_SHA256_HEX_LEN + 1];
	uint64_t size;			/* UINT64_MAX: not known from the entry */
	int err;			/* of its upload */
	int permanent;			/* the error will not go away by trying again */
	int64_t began;			/* mono ms its upload began; 0: not uploaded */
	char why[256];
};

struct item {
	char *path;
	uint64_t gen;
	json_t *want;			/* wanted value or NULL */
	json_t *patch;			/* against the bucket's value; NULL: no change */
	size_t blob[2];			/* indexes into the batch's blobs, SIZE_MAX: none */
	char *why;			/* parked: the reason */
};

struct batch {
	struct item *v;
	size_t n;
	struct blob *blobs;
	size_t nblobs, capblobs;
	size_t next_blob;		/* for the upload threads; protected by lock */
	pthread_mutex_t lock;
	struct mps3fs *fs;
	int single;			/* a batch's commit: one log entry, or none */
	int64_t oldest_sent;		/* when the oldest blob not sent again was sent; 0: none */
};

static void batch_dispose(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		free(b->v[i].path);
		free(b->v[i].why);
		json_decref(b->v[i].want);
		json_decref(b->v[i].patch);
	}
	free(b->v);
	free(b->blobs);
	memset(b, 0, sizeof(*b));
}

int mps3fs_stuck_at(struct mps3fs *fs, const char *path, json_t *gen)
{
	json_t *s = json_object_get(fs->stuck, path);

	return s && json_integer_value(json_object_get(s, "gen")) == json_integer_value(gen);
}

/* Tree lock held: ms left of n's hold (monotonic: a step of the wall clock neither extends nor ends one), 0 if none. */
static int64_t held(struct mps3fs *fs, struct node *n)
{
	int64_t until, left;
	uint64_t epoch;

	if (!mps3fs_hold_get(&fs->tree, n, &until, &epoch))
		return 0;
	left = until - mps3_mono_ms();
	if (n->nwriters > 0 && epoch == fs->hold_epoch && left > 0)
		return left;
	mps3fs_hold_clear(&fs->tree, n); /* over: the table keeps only live ones */
	return 0;
}

/* Tree lock held: whether the uploader leaves the path for later (being written, or held). */
static int64_t not_yet(struct mps3fs *fs, const char *path)
{
	struct node *node = mps3fs_lookup_path(fs, path);

	if (!node)
		return 0;
	return node->stage && node->stage->dirty ? 1000 : held(fs, node);
}

void mps3fs_hold(struct mps3fs *fs, struct node *n)
{
	/* Only new content is held, and a hold is never extended: at most MPS3FS_HOLD_MS per change. */
	if (!n->stage || !n->stage->dirty || held(fs, n))
		return;
	mps3fs_hold_set(&fs->tree, n, mps3_mono_ms() + MPS3FS_HOLD_MS, fs->hold_epoch);
}

void mps3fs_unhold(struct mps3fs *fs, struct node *n)
{
	if (mps3fs_hold_clear(&fs->tree, n))
		pthread_cond_broadcast(&fs->tree_cond); /* the uploader may take it now */
}

/* Snapshot the dirty paths that are ready (tree lock held). */
static int take(struct mps3fs *fs, struct batch *b)
{
	size_t n = json_object_size(fs->dirty);
	const char *path;
	json_t *gen;

	b->v = calloc(n ? n : 1, sizeof(*b->v));
	if (!b->v)
		return -ENOMEM;
	json_object_foreach(fs->dirty, path, gen) {
		struct node *node = mps3fs_lookup_path(fs, path);
		uint64_t g = (uint64_t)json_integer_value(gen);
		int of_batch = b->single && g > fs->batch_gen;
		struct item *it;

		/* A batch is all or nothing: a path of it that cannot be uploaded fails the whole commit. */
		if (of_batch && mps3fs_stuck_at(fs, path, gen)) {
			char *p = mps3_escape(path);

			mps3_warn("%s: the batch cannot be committed: %s cannot be uploaded", fs->cfg.url, p ? p : "?");
			free(p);
			return -ECANCELED;
		}
		/*
		 * Still being written: commit at its close, in one piece - but a batch
		 * takes what was closed before its commit (what is written now goes at
		 * its own close).  Held by an open batch: at its commit.
		 */
		if ((node && !of_batch && not_yet(fs, path)) || mps3fs_stuck_at(fs, path, gen) ||
		    mps3fs_batch_holds(fs, g))
			continue;
		it = &b->v[b->n];
		it->path = strdup(path);
		if (!it->path)
			return -ENOMEM;
		it->gen = (uint64_t)json_integer_value(gen);
		it->want = NULL;
		if (node && mps3fs_node_entry(node, &it->want)) {
			free(it->path);
			return -ENOMEM;
		}
		it->blob[0] = it->blob[1] = SIZE_MAX;
		b->n++;
	}
	return 0;
}

static int add_blob(struct batch *b, const char *sha, uint64_t size, size_t *index)
{
	size_t i;

	for (i = 0; i < b->nblobs; i++) {
		if (strcmp(b->blobs[i].sha, sha) == 0) {
			*index = i;
			return 0;
		}
	}
	if (b->nblobs == b->capblobs) {
		size_t ncap = b->capblobs ? b->capblobs * 2 : 8;
		struct blob *v = realloc(b->blobs, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->blobs = v;
		b->capblobs = ncap;
	}
	memset(&b->blobs[b->nblobs], 0, sizeof(b->blobs[0]));
	memcpy(b->blobs[b->nblobs].sha, sha, MPS3_SHA256_HEX_LEN + 1);
	b->blobs[b->nblobs].size = size;
	*index = b->nblobs++;
	return 0;
}

/* Errors of a blob's upload that trying again will not cure. */
static int permanent_error(int err)
{
	return err == -EFBIG || err == -EINVAL || err == -ENAMETOOLONG;
}

/*
 * Upload one blob from the cache.  Content that is not cached may still be
 * in the bucket - a file made elsewhere and renamed or copied here - and
 * then nothing needs uploading; if it is in neither, it is gone for good.
 */
static void upload_one(struct mps3fs *fs, struct blob *bl)
{
	char hex[MPS3_SHA256_HEX_LEN + 1];
	struct mps3_objinfo info;
	struct mps3_body body;
	struct stat st;
	int fd, rc;

	memset(&body, 0, sizeof(body));
	bl->began = mps3_mono_ms();
	if (strcmp(bl->sha, MPS3_EMPTY_SHA256) == 0) {
		/* Empty content needs no cache (a file created, its first write not yet kept). */
		body.data = "";
		body.fd = -1;
		body.sha256_hex = bl->sha;
		bl->err = rc = mps3_db_blob_put(fs->db, &body, hex);
		bl->permanent = rc && permanent_error(rc);
		if (rc)
			snprintf(bl->why, sizeof(bl->why), "%s", mps3_error_last(rc));
		return;
	}
	fd = mps3fs_cache_open(&fs->cache, bl->sha);
	if (fd == -ENOENT) {
		bl->began = 0; /* not ours: its age is the bucket's */
		rc = mps3_db_blob_head(fs->db, bl->sha, &info);
		if (rc == 0 && (bl->size == UINT64_MAX || info.size == bl->size))
			return;
		if (rc == 0 || rc == -ENOENT) {
			bl->permanent = 1;
			rc = -ENOENT;
			snprintf(bl->why, sizeof(bl->why), "its content %s is neither in the cache %s nor in the bucket",
				 bl->sha, fs->cache.dir);
		} else {
			snprintf(bl->why, sizeof(bl->why), "%s", mps3_error_last(rc));
		}
		bl->err = rc;
		return;
	}
	if (fd < 0 || fstat(fd, &st) < 0 || (bl->size != UINT64_MAX && (uint64_t)st.st_size != bl->size)) {
		rc = fd < 0 ? fd : -EIO;
		bl->permanent = fd >= 0;
		snprintf(bl->why, sizeof(bl->why), "its cached content %s %s", bl->sha,
			 fd < 0 ? strerror(-fd) : "has the wrong size");
	} else {
		body.fd = fd;
		body.len = (uint64_t)st.st_size;
		body.sha256_hex = bl->sha;
		rc = mps3_db_blob_put(fs->db, &body, hex);
		if (rc) {
			bl->permanent = permanent_error(rc);
			snprintf(bl->why, sizeof(bl->why), "%s", mps3_error_last(rc));
		}
	}
	if (fd >= 0)
		close(fd);
	bl->err = rc;
}

static void *upload_thread(void *arg)
{
	struct batch *b = arg;

	pthread_setname_np(pthread_self(), "mps3-put");
	for (;;) {
		size_t i;

		pthread_mutex_lock(&b->lock);
		i = b->next_blob < b->nblobs ? b->next_blob++ : SIZE_MAX;
		pthread_mutex_unlock(&b->lock);
		if (i == SIZE_MAX)
			return NULL;
		upload_one(b->fs, &b->blobs[i]);
	}
}

static void upload_blobs(struct batch *b)
{
	pthread_t th[UPLOAD_THREADS];
	unsigned most = UPLOAD_THREADS, n, i, started = 0;

	for (i = 0; i < b->nblobs; i++)
		if (b->blobs[i].size != UINT64_MAX && b->blobs[i].size >= LARGE_BLOB)
			most = UPLOAD_THREADS_LARGE;
	n = b->nblobs < most ? (unsigned)b->nblobs : most;
	pthread_mutex_init(&b->lock, NULL);
	for (i = 1; i < n; i++)
		if (pthread_create(&th[started], NULL, upload_thread, b) == 0)
			started++;
	upload_thread(b);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&b->lock);
}

/* Park one item of the batch with a reason. */
static void park(struct item *it, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void park(struct item *it, const char *fmt, ...)
{
	va_list ap;

	if (it->why)
		return;
	va_start(ap, fmt);
	if (vasprintf(&it->why, fmt, ap) < 0)
		it->why = NULL;
	va_end(ap);
	if (!it->why)
		it->why = strdup("cannot be uploaded");
	json_decref(it->patch);
	it->patch = NULL;
}

/* Whether this mount sent the blob recently enough not to send it again (SENT_MS); notes it in b. */
static int sent_lately(struct batch *b, const char *sha)
{
	json_t *v = json_object_get(b->fs->sent, sha);
	int64_t began = v ? (int64_t)json_integer_value(v) : 0;

	if (!began || mps3_mono_ms() - began >= SENT_MS)
		return 0;
	if (!b->oldest_sent || began < b->oldest_sent)
		b->oldest_sent = began;
	return 1;
}

/* The uploader thread: remember what this batch sent; forget what is too old to count. */
static void remember_sent(struct mps3fs *fs, struct batch *b)
{
	int64_t now = mps3_mono_ms();
	const char *sha;
	json_t *v;
	void *tmp;
	size_t k;

	if (json_object_size(fs->sent) + b->nblobs > SENT_MAX) {
		json_object_foreach_safe(fs->sent, tmp, sha, v)
			if (now - (int64_t)json_integer_value(v) >= SENT_MS)
				json_object_del(fs->sent, sha);
		if (json_object_size(fs->sent) + b->nblobs > SENT_MAX)
			json_object_clear(fs->sent); /* they are sent again: slower, never wrong */
	}
	for (k = 0; k < b->nblobs; k++)
		if (!b->blobs[k].err && b->blobs[k].began)
			json_object_set_new(fs->sent, b->blobs[k].sha, json_integer((json_int_t)b->blobs[k].began));
}

/* The blobs an item's wanted value names that the bucket's value does not (and this mount did not just send). */
static int item_blobs(struct batch *b, struct item *it, json_t *cur)
{
	struct mps3_entry e, ce;
	int have = cur && mps3_entry_parse(&ce, cur) == 0 && ce.type == MPS3_FILE, rc = 0;

	if (!it->want || mps3_entry_parse(&e, it->want) || e.type != MPS3_FILE)
		return 0;
	if ((!have || strcmp(ce.blob, e.blob) != 0) && !sent_lately(b, e.blob))
		rc = add_blob(b, e.blob, e.size, &it->blob[0]);
	/* The chunk list before the entry that names it, like the content (W1). */
	if (!rc && e.chunks[0] && (!have || strcmp(ce.chunks, e.chunks) != 0) && !sent_lately(b, e.chunks))
		rc = add_blob(b, e.chunks, UINT64_MAX, &it->blob[1]);
	return rc;
}

/* Each item's patch against the bucket's value, checked as readers will; bad ones parked. */
static int prepare(struct mps3fs *fs, struct batch *b)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < b->n && !rc; i++) {
		struct item *it = &b->v[i];
		json_t *cur = NULL, *alts = NULL;
		struct mps3_entry e;
		char *dump;
		int err = mps3_path_check(it->path);

		if (err) {
			park(it, "%s", mps3_error_last(err));
			continue;
		}
		/* What an earlier attempt of ours may have stored too: the patch must give want from that as well. */
		rc = mps3_db_get_unsure(fs->db, it->path, &cur, &alts);
		/* A value that is not an entry (a leftover chmod) counts as absent. */
		if (!rc && !(cur && !alts && mps3_entry_parse(&e, cur) == -ENOENT && !it->want)) {
			it->patch = mps3_entry_patch_any(cur, alts, it->want, &err);
			if (!err && it->patch)
				err = mps3_value_check(it->path, it->patch, 1);
			if (err) {
				park(it, "the change cannot be written: %s", mps3_error_last(err));
			} else if (it->patch) {
				dump = mps3_json_dumps(it->patch, JSON_COMPACT | JSON_ENCODE_ANY);
				if (dump && strlen(dump) + strlen(it->path) + 64 > MAX_PATCH_BYTES)
					park(it, "its entry would be larger than a log entry may be");
				free(dump);
			}
			if (!it->why)
				rc = item_blobs(b, it, cur);
		}
		json_decref(cur);
		json_decref(alts);
	}
	return rc;
}

/* Commit patch entries no larger than the limit, in order (single: in one, or fail).  0 or error. */
static int commit_patch(struct mps3fs *fs, json_t *patch, int single)
{
	char *dump = mps3_json_dumps(patch, JSON_COMPACT);
	size_t len = dump ? strlen(dump) : 0;
	const char *path;
	json_t *part, *v;
	int rc = 0;

	free(dump);
	if (!dump)
		return -ENOMEM;
	if (len <= MAX_PATCH_BYTES)
		return mps3_db_commit(fs->db, patch, NULL);
	if (single)
		return mps3_error_set(-EFBIG, "a batch of %zu bytes of changes is more than one log entry holds (%u)",
				      len, MAX_PATCH_BYTES);
	/* Too big for one entry: several, each still a consistent set of paths. */
	mps3_notice("%s: a change of %zu bytes is committed as several log entries", fs->cfg.url, len);
	part = json_object();
	len = 0;
	json_object_foreach(patch, path, v) {
		char *one = mps3_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		size_t l = (one ? strlen(one) : 0) + strlen(path) + 8;

		free(one);
		if (len + l > MAX_PATCH_BYTES && json_object_size(part) > 0) {
			rc = mps3_db_commit(fs->db, part, NULL);
			json_decref(part);
			part = json_object();
			len = 0;
			if (rc)
				break;
		}
		/* A path left out would be settled as landed: the batch fails instead (what landed, lands again). */
		if (!part || json_object_set(part, path, v)) {
			rc = mps3_error_set(-ENOMEM, "out of memory splitting a change");
			break;
		}
		len += l;
	}
	if (!rc && json_object_size(part) > 0)
		rc = mps3_db_commit(fs->db, part, NULL);
	json_decref(part);
	return rc;
}

/*
 * Upload, park what failed for good, commit the rest.  0, or the first
 * error that trying again may cure (nothing committed then).
 */
static int sync_batch(struct mps3fs *fs, struct batch *b)
{
	json_t *patch = json_object();
	size_t i, k;
	int rc = patch ? prepare(fs, b) : -ENOMEM;

	if (!rc && b->nblobs) {
		upload_blobs(b);
		remember_sent(fs, b);
	}
	for (k = 0; !rc && k < b->nblobs; k++)
		if (b->blobs[k].err && !b->blobs[k].permanent)
			rc = mps3_error_set(b->blobs[k].err, "%s", b->blobs[k].why);
	/* A blob not sent again must still be far younger than the GC grace when the entry lands. */
	if (!rc && b->oldest_sent && mps3_mono_ms() - b->oldest_sent >= SENT_LATE_MS) {
		json_object_clear(fs->sent);
		rc = mps3_error_set(-EAGAIN, "the uploads took so long that content sent before must be sent again");
	}
	for (i = 0; !rc && i < b->n; i++) {
		struct item *it = &b->v[i];

		for (k = 0; k < 2; k++)
			if (it->blob[k] != SIZE_MAX && b->blobs[it->blob[k]].err)
				park(it, "%s", b->blobs[it->blob[k]].why);
		if (!it->why && it->patch && json_object_set(patch, it->path, it->patch))
			rc = -ENOMEM; /* not a commit without it: settling would take it as landed */
	}
	if (!rc && json_object_size(patch) > 0)
		rc = commit_patch(fs, patch, b->single);
	json_decref(patch);
	return rc;
}

/* Unpin local blobs that no dirty path wants any more (tree lock held). */
static void unpin_settled(struct mps3fs *fs)
{
	json_t *wanted = json_object();
	const char *key;
	json_t *v;
	void *tmp;

	if (!wanted)
		return;
	json_object_foreach(fs->dirty, key, v) {
		struct node *n = mps3fs_lookup_path(fs, key);

		char hex[65];

		/* One missing would unpin content not yet in the bucket: then unpin nothing this time. */
		if (n && n->type == MPS3_FILE && n->has_entry && mps3fs_node_blob(n, hex)[0] &&
		    json_object_set_new(wanted, hex, json_true()))
			goto out;
		if (n && n->type == MPS3_FILE && n->has_entry && mps3fs_node_chunks(n, hex)[0] &&
		    json_object_set_new(wanted, hex, json_true()))
			goto out;
	}
	json_object_foreach_safe(fs->pinned, tmp, key, v) {
		if (json_object_get(wanted, key))
			continue;
		mps3fs_cache_unpin(&fs->cache, key);
		json_object_del(fs->pinned, key);
	}
out:
	json_decref(wanted);
}

void mps3fs_timed_wait(struct mps3fs *fs, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&fs->tree_cond, &fs->tree_lock, &ts);
}

/* Paths ready to commit; *wake: ms until a hold on one of the others ends (1000 if none does sooner). */
static int ready_count(struct mps3fs *fs, int64_t *wake)
{
	const char *path;
	json_t *v;
	int n = 0;

	*wake = 1000;
	json_object_foreach(fs->dirty, path, v) {
		int64_t later = not_yet(fs, path);

		if (later && later < *wake)
			*wake = later;
		if (!later && !mps3fs_stuck_at(fs, path, v) && !mps3fs_batch_holds(fs, (uint64_t)json_integer_value(v)))
			n++;
	}
	return n;
}

/*
 * Tree lock held: the batch is in.  Committed paths leave fs->dirty (if no
 * newer change came meanwhile), parked ones go to fs->stuck, said once.
 */
static void settle_batch(struct mps3fs *fs, struct batch *b, struct inval *inv)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		struct item *it = &b->v[i];
		json_t *g = json_object_get(fs->dirty, it->path), *cur = NULL;

		if (!g || (uint64_t)json_integer_value(g) != it->gen)
			continue;
		if (it->why) {
			if (!json_object_get(fs->stuck, it->path))
				mps3_err("%s: cannot upload %s: %s; it stays on this machine only (mps3 status lists it)",
					 fs->cfg.url, it->path, it->why);
			json_object_set_new(fs->stuck, it->path,
					    json_pack("{s:I,s:s}", "gen", (json_int_t)it->gen, "why", it->why));
			continue;
		}
		json_object_del(fs->dirty, it->path);
		json_object_del(fs->stuck, it->path);
		/*
		 * A remote change ordered after ours may have won this path (its
		 * event was held back while ours was pending): show it.
		 */
		mps3_db_get(fs->db, it->path, &cur);
		if (!(cur == it->want || (cur && it->want && json_equal(cur, it->want))))
			mps3fs_tree_apply(fs, it->path, cur, inv);
		json_decref(cur);
	}
	unpin_settled(fs);
	/* Everything is in the bucket: the journal has nothing left to promise. */
	if (fs->journal_open && json_object_size(fs->dirty) == 0)
		mps3_journal_truncate(&fs->journal);
	else if (fs->journal_open && mps3_journal_should_compact(&fs->journal))
		/* Never empty at once under steady writes: drop what landed. */
		mps3_journal_compact(&fs->journal, fs->dirty);
	pthread_cond_broadcast(&fs->tree_cond);
}

/* Tree lock held: the store failed the batch; try again after a growing pause. */
static void failed_batch(struct mps3fs *fs, struct batch *b, int rc, int64_t *backoff)
{
	int was = fs->online;

	fs->online = 0;
	fs->commit_failures++;
	snprintf(fs->last_error, sizeof(fs->last_error), "%s", mps3_error_last(rc));
	if (was)
		mps3_warn("%s: cannot upload %zu changed paths, will retry: %s", fs->cfg.url, b->n, fs->last_error);
	*backoff = *backoff ? (*backoff * 2 > 30000 ? 30000 : *backoff * 2) : 500;
	if (!fs->uploader_stop)
		mps3fs_timed_wait(fs, *backoff);
}

static void *uploader(void *arg)
{
	struct mps3fs *fs = arg;
	int64_t backoff = 0;

	pthread_setname_np(pthread_self(), "mps3-uploader");
	pthread_mutex_lock(&fs->tree_lock);
	while (!fs->uploader_stop) {
		struct inval inv = { 0 };
		struct batch b;
		int64_t wake;
		int rc;

		if (ready_count(fs, &wake) == 0 && !mps3fs_batch_committing(fs)) {
			mps3fs_timed_wait(fs, wake);
			continue;
		}
		/* Let a burst (cp -r, tar x) gather into one entry; a batch's commit has gathered. */
		if (!mps3fs_batch_committing(fs))
			mps3fs_timed_wait(fs, SETTLE_MS);
		memset(&b, 0, sizeof(b));
		b.fs = fs;
		b.single = mps3fs_batch_committing(fs);
		rc = take(fs, &b);
		pthread_mutex_unlock(&fs->tree_lock);
		if (!rc)
			rc = sync_batch(fs, &b);
		pthread_mutex_lock(&fs->tree_lock);
		if (rc && b.single && (rc == -EFBIG || rc == -ECANCELED)) {
			/* It cannot be one entry (too big, or a path cannot go): the committer aborts it. */
			mps3fs_batch_done(fs, rc);
			fs->batch_state = BATCH_OPEN;
			batch_dispose(&b);
			continue;
		}
		if (rc) {
			failed_batch(fs, &b, rc, &backoff);
			batch_dispose(&b);
			continue;
		}
		if (!fs->online)
			mps3_notice("%s: store reachable again; uploading", fs->cfg.url);
		fs->online = 1;
		backoff = 0;
		fs->commits++;
		fs->last_commit_ms = mps3fs_now_ns() / 1000000;
		settle_batch(fs, &b, &inv);
		if (b.single)
			mps3fs_batch_done(fs, 0);
		pthread_mutex_unlock(&fs->tree_lock);
		mps3fs_inval_send(fs, &inv);
		mps3fs_inval_dispose(&inv);
		batch_dispose(&b);
		pthread_mutex_lock(&fs->tree_lock);
	}
	pthread_mutex_unlock(&fs->tree_lock);
	return NULL;
}

int mps3fs_uploader_start(struct mps3fs *fs)
{
	if (pthread_create(&fs->uploader, NULL, uploader, fs) != 0)
		return -EAGAIN;
	fs->uploader_started = 1;
	return 0;
}

void mps3fs_uploader_stop(struct mps3fs *fs)
{
	if (!fs->uploader_started)
		return;
	pthread_mutex_lock(&fs->tree_lock);
	fs->uploader_stop = 1;
	pthread_cond_broadcast(&fs->tree_cond);
	pthread_mutex_unlock(&fs->tree_lock);
	pthread_join(fs->uploader, NULL);
	fs->uploader_started = 0;
}
