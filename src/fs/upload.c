/*
 * fs/upload.c - the upload worker: turns locally changed paths into blobs
 * and one log entry.
 *
 * DESIGN.  Local operations change the tree at once and record the path in
 * fs->dirty with a generation number.  The worker waits for dirty paths,
 * lets a burst settle for a few milliseconds, and takes a snapshot of
 * every dirty path's wanted value (the node's entry, or absent).  Outside
 * the lock it uploads the blobs those values name, then commits one merge
 * patch holding, for each path, what differs from the resolved value
 * (mps3_entry_patch: concurrent changes of other metadata fields by other
 * machines merge; content fields always travel together), split
 * into several entries only if it would exceed the entry size limit.  A
 * path leaves fs->dirty only if its generation did not move meanwhile.
 * Failures keep everything dirty and are retried with capped backoff: the
 * mount keeps working offline.  Files still being written (a dirty staging
 * file) wait for their close.  Shutdown: mps3fs_uploader_stop() after the
 * caller drained what it could with mps3fs_wait_committed().
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mps3/error.h"
#include "mps3/log.h"
#include "mps3/mergepatch.h"
#include "fs.h"
#include "inval.h"
#include "stage.h"
#include "upload.h"

#define SETTLE_MS 5
#define MAX_PATCH_BYTES (4u << 20)
#define UPLOAD_THREADS 4

void mps3fs_dirty(struct mps3fs *fs, const char *path)
{
	struct node *n;
	json_t *base = NULL;

	if (!*path)
		return;
	json_object_set_new(fs->dirty, path, json_integer((json_int_t)++fs->dirty_gen));
	if (fs->journal_open) {
		n = mps3fs_lookup_path(fs, path);
		mps3_db_get(fs->db, path, &base);
		mps3_journal_append(&fs->journal, path, n ? n->entry : NULL, base);
		json_decref(base);
	}
	pthread_cond_broadcast(&fs->tree_cond);
}

static void dirty_node(struct node *n, void *ctx)
{
	struct mps3fs *fs = ctx;
	char *path = mps3fs_node_path(n);

	if (path)
		mps3fs_dirty(fs, path);
	free(path);
}

void mps3fs_dirty_subtree(struct mps3fs *fs, struct node *n)
{
	mps3fs_walk(n, dirty_node, fs);
}

int mps3fs_is_dirty(struct mps3fs *fs, const char *path)
{
	return json_object_get(fs->dirty, path) != NULL;
}

/* A patch's nulls removed: what the path holds, as a value. */
static json_t *entry_value(json_t *patch)
{
	const char *k;
	json_t *v;
	void *tmp;

	if (patch)
		json_object_foreach_safe(patch, tmp, k, v)
			if (json_is_null(v))
				json_object_del(patch, k);
	return patch;
}

json_t *mps3fs_entry_new(struct mps3fs *fs, enum mps3_ftype type, mode_t mode, const uid_t *uid,
			 const gid_t *gid, const char *blob, uint64_t size, const char *target)
{
	struct mps3_entry e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	if (blob)
		memcpy(e.blob, blob, sizeof(e.blob));
	e.size = size;
	e.mode = mode & 07777;
	e.uid = uid ? *uid : fs->cfg.uid;
	e.gid = gid ? *gid : fs->cfg.gid;
	e.mtime_ns = mps3fs_now_ns();
	e.target = target;
	return entry_value(mps3_entry_to_patch(&e));
}

int mps3fs_node_modify(struct mps3fs *fs, struct node *n, json_t *patch)
{
	json_t *base = n->entry ? json_incref(n->entry) : json_pack("{s:s}", "type", "d");
	json_t *next;
	char *path;
	int err = 0;

	if (!base)
		return -ENOMEM;
	next = mps3_merge_patch(base, patch, &err);
	json_decref(base);
	if (!next)
		return err ? err : -ENOMEM;
	mps3fs_node_set_entry(n, next);
	if (n->in_tree) {
		path = mps3fs_node_path(n);
		if (!path)
			return -ENOMEM;
		mps3fs_dirty(fs, path);
		free(path);
	}
	return 0;
}

void mps3fs_keep_parent(struct mps3fs *fs, struct node *dir)
{
	json_t *p;

	if (!dir || !dir->parent || dir->entry || dir->nchildren > 0)
		return;
	p = json_pack("{s:s,s:I}", "type", "d", "mtime", (json_int_t)mps3fs_now_ns());
	if (p)
		mps3fs_node_modify(fs, dir, p);
	json_decref(p);
}

int mps3fs_durable(struct mps3fs *fs)
{
	return fs->journal_open ? mps3_journal_sync(&fs->journal) : 0;
}

struct item {
	char *path;
	uint64_t gen;
	json_t *want;		/* wanted value or NULL */
};

struct batch {
	struct item *v;
	size_t n;
	char (*blobs)[MPS3_SHA256_HEX_LEN + 1];
	uint64_t *blob_size;
	size_t nblobs;
	size_t next_blob;	/* for the upload threads; protected by lock */
	pthread_mutex_t lock;
	int err;
	char errmsg[512];
	struct mps3fs *fs;
};

static void batch_dispose(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		free(b->v[i].path);
		json_decref(b->v[i].want);
	}
	free(b->v);
	free(b->blobs);
	free(b->blob_size);
	memset(b, 0, sizeof(*b));
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
		struct item *it;

		/* Still being written: commit at its close, in one piece. */
		if (node && node->stage && node->stage->dirty)
			continue;
		it = &b->v[b->n];
		it->path = strdup(path);
		if (!it->path)
			return -ENOMEM;
		it->gen = (uint64_t)json_integer_value(gen);
		it->want = node && node->entry ? json_incref(node->entry) : NULL;
		b->n++;
	}
	return 0;
}

static int add_blob(struct batch *b, const char *sha, uint64_t size)
{
	size_t i;

	for (i = 0; i < b->nblobs; i++)
		if (strcmp(b->blobs[i], sha) == 0)
			return 0;
	if ((b->nblobs & (b->nblobs - 1)) == 0) {
		size_t ncap = b->nblobs ? b->nblobs * 2 : 8;
		void *v = realloc(b->blobs, ncap * sizeof(*b->blobs));
		void *s = v ? realloc(b->blob_size, ncap * sizeof(*b->blob_size)) : NULL;

		if (v)
			b->blobs = v;
		if (!v || !s)
			return -ENOMEM;
		b->blob_size = s;
	}
	memcpy(b->blobs[b->nblobs], sha, MPS3_SHA256_HEX_LEN + 1);
	b->blob_size[b->nblobs] = size;
	b->nblobs++;
	return 0;
}

static void *upload_thread(void *arg)
{
	struct batch *b = arg;
	struct mps3fs *fs = b->fs;

	for (;;) {
		char sha[MPS3_SHA256_HEX_LEN + 1], hex[MPS3_SHA256_HEX_LEN + 1];
		struct mps3_body body;
		struct stat st;
		size_t i;
		int fd, rc;

		pthread_mutex_lock(&b->lock);
		if (b->err || b->next_blob >= b->nblobs) {
			pthread_mutex_unlock(&b->lock);
			return NULL;
		}
		i = b->next_blob++;
		pthread_mutex_unlock(&b->lock);
		memcpy(sha, b->blobs[i], sizeof(sha));
		fd = mps3fs_cache_open(&fs->cache, sha);
		if (fd < 0) {
			rc = mps3_error_set(fd, "content %s of a local write is missing from the cache %s",
					    sha, fs->cache.dir);
		} else if (fstat(fd, &st) < 0 ||
			   (b->blob_size[i] != UINT64_MAX && (uint64_t)st.st_size != b->blob_size[i])) {
			rc = mps3_error_set(-EIO, "cached content %s has the wrong size", sha);
		} else {
			memset(&body, 0, sizeof(body));
			body.fd = fd;
			body.len = (uint64_t)st.st_size;
			body.sha256_hex = sha;
			rc = mps3_db_blob_put(fs->db, &body, hex);
		}
		if (fd >= 0)
			close(fd);
		if (rc) {
			pthread_mutex_lock(&b->lock);
			if (!b->err) {
				b->err = rc;
				snprintf(b->errmsg, sizeof(b->errmsg), "%s", mps3_error_last(rc));
			}
			pthread_mutex_unlock(&b->lock);
			return NULL;
		}
	}
}

static int upload_blobs(struct batch *b)
{
	pthread_t th[UPLOAD_THREADS];
	unsigned n = b->nblobs < UPLOAD_THREADS ? (unsigned)b->nblobs : UPLOAD_THREADS, i, started = 0;

	pthread_mutex_init(&b->lock, NULL);
	for (i = 1; i < n; i++)
		if (pthread_create(&th[i], NULL, upload_thread, b) == 0)
			started++;
	upload_thread(b);
	for (i = 1; i <= started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&b->lock);
	if (b->err)
		return mps3_error_set(b->err, "%s", b->errmsg);
	return 0;
}

/* Commit patch entries no larger than the limit, in order.  0 or error. */
static int commit_patch(struct mps3fs *fs, json_t *patch)
{
	char *dump = json_dumps(patch, JSON_COMPACT);
	size_t len = dump ? strlen(dump) : 0;
	const char *path;
	json_t *part, *v;
	int rc = 0;

	free(dump);
	if (!dump)
		return -ENOMEM;
	if (len <= MAX_PATCH_BYTES)
		return mps3_db_commit(fs->db, patch, NULL);
	/* Too big for one entry: several, each still a consistent set of paths. */
	mps3_notice("%s: a change of %zu bytes is committed as several log entries", fs->cfg.url, len);
	part = json_object();
	len = 0;
	json_object_foreach(patch, path, v) {
		char *one = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
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
		json_object_set(part, path, v);
		len += l;
	}
	if (!rc && json_object_size(part) > 0)
		rc = mps3_db_commit(fs->db, part, NULL);
	json_decref(part);
	return rc;
}

/* Build the patch against the resolved state, upload, commit. */
static int sync_batch(struct mps3fs *fs, struct batch *b)
{
	json_t *patch = json_object();
	size_t i;
	int rc = 0;

	if (!patch)
		return -ENOMEM;
	for (i = 0; i < b->n && !rc; i++) {
		json_t *cur = NULL, *p;
		struct mps3_entry e;
		int err = 0;

		mps3_db_get(fs->db, b->v[i].path, &cur);
		/* A value that is not an entry (a leftover chmod) counts as absent. */
		if (cur && mps3_entry_parse(&e, cur) == -ENOENT && !b->v[i].want) {
			json_decref(cur);
			continue;
		}
		p = mps3_entry_patch(cur, b->v[i].want, &err);
		if (b->v[i].want && mps3_entry_parse(&e, b->v[i].want) == 0 && e.type == MPS3_FILE) {
			struct mps3_entry ce;

			if (!cur || mps3_entry_parse(&ce, cur) || ce.type != MPS3_FILE ||
			    strcmp(ce.blob, e.blob) != 0)
				rc = add_blob(b, e.blob, e.size);
			/* The chunk list before the entry that names it, like the content (W1). */
			if (!rc && e.chunks[0] && (!cur || mps3_entry_parse(&ce, cur) || strcmp(ce.chunks, e.chunks)))
				rc = add_blob(b, e.chunks, UINT64_MAX);
		}
		json_decref(cur);
		if (err) {
			rc = mps3_error_set(err, "%s: cannot express the change as a patch", b->v[i].path);
			break;
		}
		if (p)
			json_object_set_new(patch, b->v[i].path, p);
	}
	if (!rc && b->nblobs)
		rc = upload_blobs(b);
	if (!rc && json_object_size(patch) > 0)
		rc = commit_patch(fs, patch);
	json_decref(patch);
	return rc;
}

/* Tree lock held: one pin on a local blob until no pending change names it. */
static void pin_blob(struct mps3fs *fs, const char *sha)
{
	if (json_object_get(fs->pinned, sha))
		return;
	mps3fs_cache_pin(&fs->cache, sha);
	json_object_set_new(fs->pinned, sha, json_true());
}

/*
 * The journal of an earlier run: changes whose content and entry were
 * promised but maybe never reached the bucket (mps3_journal_recover()
 * judges each path).  Tree lock not held; called before the mount serves.
 */
int mps3fs_journal_recover(struct mps3fs *fs, json_t *records)
{
	struct mps3_journal_plan plan;
	size_t i;
	int rc;

	if (json_array_size(records) == 0)
		return 0;
	rc = mps3_journal_recover(&plan, records, fs->db);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->tree_lock);
	for (i = 0; i < plan.n; i++) {
		const struct mps3_journal_item *it = &plan.v[i];
		const char *target = it->path;
		struct mps3_entry e;

		if (it->action == MPS3_JOURNAL_LANDED)
			continue;
		if (it->want && mps3_entry_parse(&e, it->want) == 0 && e.type == MPS3_FILE) {
			if (!mps3fs_cache_has(&fs->cache, e.blob) ||
			    (e.chunks[0] && !mps3fs_cache_has(&fs->cache, e.chunks))) {
				mps3_err("%s: the content of %s (blob %s) is missing from %s; that change is lost",
					 fs->cfg.url, it->path, e.blob, fs->cache.dir);
				continue;
			}
			pin_blob(fs, e.blob);
			if (e.chunks[0])
				pin_blob(fs, e.chunks);
		}
		if (it->action == MPS3_JOURNAL_CONFLICT) {
			/* Settled: a later recovery must not make a second copy. */
			json_t *cur = NULL;

			mps3_db_get(fs->db, it->path, &cur);
			mps3_journal_append(&fs->journal, it->path, cur, cur);
			json_decref(cur);
			if (!it->conflict_path) {
				mps3_warn("%s: %s was changed by another client after a local change (%s) that had not been uploaded; keeping theirs",
					  fs->cfg.url, it->path, it->want ? "a new directory or link" : "a removal");
				continue;
			}
			mps3_warn("%s: %s was changed by another client after a local change that had not been uploaded; the local version is kept as %s",
				  fs->cfg.url, it->path, it->conflict_path);
			target = it->conflict_path;
		}
		mps3fs_tree_apply(fs, target, it->want, NULL);
		mps3fs_dirty(fs, target);
	}
	pthread_mutex_unlock(&fs->tree_lock);
	mps3_notice("%s: journal of the last run: %zu changes to upload again, %zu already in the bucket, %zu conflicts",
		    fs->cfg.url, plan.commit, plan.landed, plan.conflicts);
	mps3_journal_plan_dispose(&plan);
	return mps3_journal_sync(&fs->journal);
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

		if (n && n->e.type == MPS3_FILE && n->entry && n->e.blob[0])
			json_object_set_new(wanted, n->e.blob, json_true());
		if (n && n->e.type == MPS3_FILE && n->entry && n->e.chunks[0])
			json_object_set_new(wanted, n->e.chunks, json_true());
	}
	json_object_foreach_safe(fs->pinned, tmp, key, v) {
		if (json_object_get(wanted, key))
			continue;
		mps3fs_cache_unpin(&fs->cache, key);
		json_object_del(fs->pinned, key);
	}
	json_decref(wanted);
}

static void timed_wait(struct mps3fs *fs, int64_t ms)
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

static int ready_count(struct mps3fs *fs)
{
	const char *path;
	json_t *v;
	int n = 0;

	json_object_foreach(fs->dirty, path, v) {
		struct node *node = mps3fs_lookup_path(fs, path);

		if (!(node && node->stage && node->stage->dirty))
			n++;
	}
	return n;
}

static void *uploader(void *arg)
{
	struct mps3fs *fs = arg;
	int64_t backoff = 0;

	pthread_mutex_lock(&fs->tree_lock);
	while (!fs->uploader_stop) {
		struct batch b;
		size_t i;
		int rc;

		if (ready_count(fs) == 0) {
			timed_wait(fs, 1000);
			continue;
		}
		/* Let a burst (cp -r, tar x) gather into one entry. */
		timed_wait(fs, SETTLE_MS);
		memset(&b, 0, sizeof(b));
		b.fs = fs;
		rc = take(fs, &b);
		pthread_mutex_unlock(&fs->tree_lock);
		if (!rc)
			rc = sync_batch(fs, &b);
		pthread_mutex_lock(&fs->tree_lock);
		if (rc) {
			int was = fs->online;

			fs->online = 0;
			fs->commit_failures++;
			snprintf(fs->last_error, sizeof(fs->last_error), "%s", mps3_error_last(rc));
			if (was)
				mps3_warn("%s: cannot upload %zu changed paths, will retry: %s", fs->cfg.url,
					  b.n, fs->last_error);
			backoff = backoff ? (backoff * 2 > 30000 ? 30000 : backoff * 2) : 500;
			batch_dispose(&b);
			if (!fs->uploader_stop)
				timed_wait(fs, backoff);
			continue;
		}
		if (!fs->online)
			mps3_notice("%s: store reachable again; uploading", fs->cfg.url);
		fs->online = 1;
		backoff = 0;
		fs->commits++;
		fs->last_commit_ms = mps3fs_now_ns() / 1000000;
		{
			struct inval inv = { 0 };

			for (i = 0; i < b.n; i++) {
				json_t *g = json_object_get(fs->dirty, b.v[i].path), *cur = NULL;

				if (!g || (uint64_t)json_integer_value(g) != b.v[i].gen)
					continue;
				json_object_del(fs->dirty, b.v[i].path);
				/*
				 * A remote change ordered after ours may have won this path
				 * (its event was held back while ours was pending): show it.
				 */
				mps3_db_get(fs->db, b.v[i].path, &cur);
				if (!(cur == b.v[i].want || (cur && b.v[i].want && json_equal(cur, b.v[i].want))))
					mps3fs_tree_apply(fs, b.v[i].path, cur, &inv);
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
			pthread_mutex_unlock(&fs->tree_lock);
			mps3fs_inval_send(fs, &inv);
			mps3fs_inval_dispose(&inv);
			pthread_mutex_lock(&fs->tree_lock);
		}
		batch_dispose(&b);
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

/* Smallest generation still dirty (tree lock held); UINT64_MAX when none. */
static uint64_t min_dirty(struct mps3fs *fs)
{
	uint64_t m = UINT64_MAX;
	const char *path;
	json_t *v;

	json_object_foreach(fs->dirty, path, v)
		if ((uint64_t)json_integer_value(v) < m)
			m = (uint64_t)json_integer_value(v);
	return m;
}

uint64_t mps3fs_change_mark(struct mps3fs *fs)
{
	uint64_t g;

	pthread_mutex_lock(&fs->tree_lock);
	g = fs->dirty_gen;
	pthread_mutex_unlock(&fs->tree_lock);
	return g;
}

int mps3fs_wait_committed(struct mps3fs *fs, int64_t timeout_ms)
{
	return mps3fs_wait_mark(fs, mps3fs_change_mark(fs), timeout_ms);
}

int mps3fs_wait_mark(struct mps3fs *fs, uint64_t target, int64_t timeout_ms)
{
	int64_t deadline = mps3fs_now_ns() / 1000000 + timeout_ms;
	int rc = 0;

	pthread_mutex_lock(&fs->tree_lock);
	while (min_dirty(fs) <= target) {
		int64_t left = deadline - mps3fs_now_ns() / 1000000;

		if (timeout_ms >= 0 && left <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		pthread_cond_broadcast(&fs->tree_cond); /* wake the uploader */
		timed_wait(fs, timeout_ms < 0 || left > 1000 ? 1000 : left);
	}
	pthread_mutex_unlock(&fs->tree_lock);
	return rc;
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
