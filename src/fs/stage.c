/*
 * fs/stage.c - content being written: staging files under CACHE/staging,
 * shared by every writer of a node, and snapshots that make a write part
 * of the file at close() and fsync(): the content is hashed, made durable
 * (in the journal for a small file, fsync'd in the cache otherwise), moved
 * into the blob cache, pinned until uploaded, and named by the node's
 * entry.  No FUSE here.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mps3/hash.h"
#include "mps3/io.h"
#include "fetch.h"
#include "fs.h"
#include "stage.h"
#include "upload.h"

static void lock(struct mps3fs *fs)
{
	pthread_mutex_lock(&fs->tree_lock);
}

static void unlock(struct mps3fs *fs)
{
	pthread_mutex_unlock(&fs->tree_lock);
}

static void staging_path(struct mps3fs *fs, struct node *n, char *out, size_t len)
{
	static uint64_t counter;

	snprintf(out, len, "%s/%" PRIu64 "-%" PRIu64, fs->staging_dir, n->ino,
		 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
}

/* ---- staging (content being written) ------------------------------------------- */

/*
 * Give n a staging file holding its current content (or nothing when
 * truncating), so writes have somewhere to go.  Called without the lock;
 * takes it.  Downloads the content first if it is not cached.
 */
int mps3fs_stage_open(struct mps3fs *fs, struct node *n, int truncate)
{
	char blob[MPS3_SHA256_HEX_LEN + 1], path[512];
	uint64_t size;
	struct stage *st;
	int fd = -1, src = -1, rc;

	lock(fs);
	if (n->stage) {
		unlock(fs);
		return 0;
	}
	snprintf(blob, sizeof(blob), "%s", n->e.type == MPS3_FILE ? n->e.blob : "");
	size = n->e.type == MPS3_FILE ? n->e.size : 0;
	staging_path(fs, n, path, sizeof(path));
	unlock(fs);

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (!truncate && size > 0) {
		src = mps3fs_cache_open(&fs->cache, blob);
		if (src < 0) {
			rc = mps3fs_fetch_whole(fs, blob, size);
			src = rc ? rc : mps3fs_cache_open(&fs->cache, blob);
		}
		if (src < 0) {
			rc = src;
			goto fail;
		}
		{
			off_t in = 0, out = 0;

			rc = mps3_copy_all(src, &in, fd, &out, size);
			if (rc)
				goto fail;
		}
		close(src);
		src = -1;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		rc = -ENOMEM;
		goto fail;
	}
	st->fd = fd;
	st->size = truncate ? 0 : size;
	snprintf(st->path, sizeof(st->path), "%s", path);
	lock(fs);
	if (n->stage) {
		/* Another writer won the race: use theirs. */
		unlock(fs);
		close(fd);
		unlink(path);
		free(st);
		return 0;
	}
	n->stage = st;
	if (truncate) {
		st->dirty = 1;
		st->mtime_ns = mps3fs_now_ns();
	}
	unlock(fs);
	return 0;
fail:
	if (src >= 0)
		close(src);
	close(fd);
	unlink(path);
	return rc;
}

void mps3fs_stage_free(struct stage *st)
{
	if (!st)
		return;
	if (st->fd >= 0)
		close(st->fd);
	if (st->path[0])
		unlink(st->path);
	free(st);
}

/*
 * Hash the SIZE bytes of FD, the file that becomes the blob.  With *small (a
 * buffer for a content small enough for the journal) read them into it; if
 * that fails, or without it, hash the file and fsync it instead (*small is
 * then NULL).  0 or -errno.
 */
static int hash_durable(int fd, uint64_t size, char **small, unsigned char *md)
{
	int rc;

	if (*small && mps3_pread_all(fd, *small, size, 0) == 0) {
		mps3_sha256(md, *small, size);
		return 0;
	}
	free(*small);
	*small = NULL;
	rc = mps3_sha256_fd(md, fd, 0, size);
	if (!rc && fdatasync(fd) < 0)
		rc = -errno;
	return rc;
}

/*
 * Turn the staging file's content into a cached blob and make it the node's
 * entry: the moment a close() or fsync() makes a write part of the file.
 * With last set (no other writer), the staging file itself is renamed into
 * the cache; otherwise it is copied.  Called without the lock.
 */
int mps3fs_snapshot(struct mps3fs *fs, struct node *n, int last)
{
	char tmp[4200], dst[4200], hex[MPS3_SHA256_HEX_LEN + 1];
	unsigned char md[MPS3_SHA256_LEN];
	struct stage *st;
	uint64_t size, wgen;
	int64_t mtime;
	int fd = -1, rc, from_fd, inlined;
	json_t *patch = NULL;
	char *small = NULL;

	lock(fs);
	st = n->stage;
	if (!st || !st->dirty) {
		unlock(fs);
		return 0;
	}
	size = st->size;
	wgen = st->wgen;
	mtime = st->mtime_ns;
	from_fd = st->fd;
	unlock(fs);

	snprintf(tmp, sizeof(tmp), "%s/.snap-%" PRIu64 "-%" PRIu64, fs->cache.dir, n->ino, wgen);
	/*
	 * The content is durable before the journal promises it: a small file's
	 * goes into the journal itself (one fsync at close for everything), a
	 * larger one is fsync'd in the cache.
	 */
	if (fs->journal_open && size <= MPS3_JOURNAL_INLINE_MAX)
		small = malloc(size ? size : 1);
	if (last) {
		rc = hash_durable(from_fd, size, &small, md);
		if (rc)
			return rc;
	} else {
		off_t in = 0, out = 0;

		fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = -errno;
			free(small);
			return rc;
		}
		rc = mps3_copy_all(from_fd, &in, fd, &out, size);
		if (!rc)
			rc = hash_durable(fd, size, &small, md);
		if (rc)
			goto fail;
	}
	mps3_hex(hex, md, sizeof(md));
	mps3fs_cache_path(&fs->cache, hex, dst, sizeof(dst));
	inlined = small != NULL;
	if (small) {
		/* Before the change that names it, so a replay always finds it. */
		rc = mps3_journal_append_blob(&fs->journal, hex, small, size);
		free(small);
		small = NULL;
		if (rc)
			goto fail;
	}

	lock(fs);
	if (last && n->stage == st && st->wgen == wgen) {
		/* Identical content may be cached already; else the staging file becomes the blob. */
		if (rename(st->path, dst) < 0) {
			rc = -errno;
			unlock(fs);
			return rc;
		}
		st->path[0] = '\0';
		n->stage = NULL;
		mps3fs_stage_free(st);
		st = NULL;
	} else if (!last) {
		if (rename(tmp, dst) < 0) {
			rc = -errno;
			unlock(fs);
			goto fail;
		}
		close(fd);
		fd = -1;
	} else {
		/* Written to again while we hashed: the next close snapshots it. */
		unlock(fs);
		return 0;
	}
	if (st && st->wgen == wgen)
		st->dirty = 0;
	mps3fs_cache_added(&fs->cache, hex, size, 0);
	if (!json_object_get(fs->pinned, hex)) {
		mps3fs_cache_pin(&fs->cache, hex);
		json_object_set_new(fs->pinned, hex, json_true());
	}
	if (n->entry && n->e.type == MPS3_FILE)
		patch = json_pack("{s:s,s:I,s:I}", "blob", hex, "size", (json_int_t)size, "mtime",
				  (json_int_t)(mtime ? mtime : mps3fs_now_ns()));
	else
		patch = mps3fs_entry_new(fs, MPS3_FILE, 0666 & ~fs->cfg.umask, NULL, NULL, hex, size, NULL);
	rc = patch ? mps3fs_node_modify(fs, n, patch) : -ENOMEM;
	json_decref(patch);
	unlock(fs);
	/*
	 * The blob's name is durable too (the directory entry) before the caller
	 * journals the change, unless the journal holds the content; outside
	 * the lock, which every request needs.
	 */
	if (!inlined && fs->cache.dirfd >= 0)
		fsync(fs->cache.dirfd);
	return rc;
fail:
	free(small);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

ssize_t mps3fs_stage_write(struct mps3fs *fs, struct node *n, const char *data, size_t size, off_t off,
			   int append)
{
	struct stage *st;
	int rc, fd;

	rc = mps3fs_stage_open(fs, n, 0);
	if (rc)
		return rc;
	lock(fs);
	st = n->stage;
	fd = st ? dup(st->fd) : -1;
	unlock(fs);
	if (fd < 0)
		return -EIO;
	if (append) {
		struct stat sb;

		if (fstat(fd, &sb) == 0)
			off = sb.st_size;
	}
	rc = mps3_pwrite_all(fd, data, size, off);
	close(fd);
	if (rc)
		return rc;
	lock(fs);
	if (n->stage == st) {
		if ((uint64_t)off + size > st->size)
			st->size = (uint64_t)off + size;
		st->dirty = 1;
		st->wgen++;
		st->mtime_ns = mps3fs_now_ns();
	}
	unlock(fs);
	return (ssize_t)size;
}

int mps3fs_stage_truncate(struct mps3fs *fs, struct node *n, uint64_t size)
{
	struct stage *st;
	int rc = 0;

	lock(fs);
	st = n->stage;
	if (!st) {
		rc = -EIO;
	} else if (ftruncate(st->fd, (off_t)size) < 0) {
		rc = -errno;
	} else {
		st->size = size;
		st->dirty = 1;
		st->wgen++;
		st->mtime_ns = mps3fs_now_ns();
	}
	unlock(fs);
	return rc;
}

struct stage *mps3fs_stage_take_clean(struct node *n)
{
	struct stage *st = n->stage;

	if (n->nwriters > 0 || !st || st->dirty)
		return NULL;
	n->stage = NULL;
	return st;
}
