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

#include "mps3/chunks.h"
#include "mps3/hash.h"
#include "mps3/io.h"
#include "fetch.h"
#include "fs.h"
#include "stage.h"
#include "local.h"
#include "seqhash.h"
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

/* Copy size bytes from 0 of src to 0 of dst; on a full disk, make room and start over once. */
static int copy_room(struct mps3fs *fs, int src, int dst, uint64_t size)
{
	off_t in = 0, out = 0;
	int rc = mps3_copy_all(src, &in, dst, &out, size);

	if (rc == -ENOSPC && mps3fs_room(fs, size) > 0) {
		in = out = 0;
		rc = mps3_copy_all(src, &in, dst, &out, size);
	}
	return rc;
}

/*
 * Give n a staging file holding its current content (or nothing when
 * truncating), so writes have somewhere to go.  Called without the lock;
 * takes it.  Downloads the content first if it is not cached.
 */
int mps3fs_stage_open(struct mps3fs *fs, struct node *n, int truncate)
{
	char blob[MPS3_SHA256_HEX_LEN + 1], chunks[MPS3_SHA256_HEX_LEN + 1], path[512];
	uint64_t size;
	struct stage *st;
	int fd = -1, src = -1, rc;

	lock(fs);
	if (n->stage) {
		unlock(fs);
		return 0;
	}
	mps3fs_node_blob(n, blob);
	mps3fs_node_chunks(n, chunks);
	size = n->type == MPS3_FILE ? n->size : 0;
	staging_path(fs, n, path, sizeof(path));
	unlock(fs);

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (!truncate && size > 0) {
		src = mps3fs_cache_open(&fs->cache, blob);
		rc = src >= 0 ? copy_room(fs, src, fd, size) : mps3fs_fetch_copy(fs, blob, size, chunks, fd);
		if (rc)
			goto fail;
		if (src >= 0)
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
	/* Written from empty: hashed as it is written, if it is written in order. */
	if (st->size == 0)
		st->sh = mps3fs_seqhash_new(fd);
	snprintf(st->path, sizeof(st->path), "%s", path);
	lock(fs);
	if (n->stage) {
		/* Another writer won the race: use theirs. */
		unlock(fs);
		mps3fs_stage_free(st);
		return 0;
	}
	n->stage = st;
	if (truncate) {
		st->dirty = 1;
		st->mtime_ns = n->ctime_ns = mps3fs_now_ns();
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
	mps3fs_seqhash_put(st->sh);
	if (st->fd >= 0)
		close(st->fd);
	if (st->path[0])
		unlink(st->path);
	free(st);
}

/* What a snapshot made of the staged content. */
struct snap {
	char hex[MPS3_SHA256_HEX_LEN + 1];	/* the content's blob */
	char chunks[MPS3_SHA256_HEX_LEN + 1];	/* its chunk list's blob, "" if none */
	struct mps3_buf list;			/* the chunk list's text */
	char *small;				/* the content itself when it goes into the journal */
	uint64_t size;
	int64_t mtime;
	int hashed_ahead;			/* its hash was made while it was written */
};

static void snap_dispose(struct snap *sn)
{
	mps3_buf_dispose(&sn->list);
	free(sn->small);
	sn->small = NULL;
}

/*
 * Hash the content of fd, the file that becomes the blob, in one pass with
 * its chunk list.  With sn->small (a buffer for content small enough for the
 * journal) read it into that; if that fails, or without it, hash the file
 * (or take the hash made while it was written, sh) and fsync it instead
 * (sn->small is then NULL).  0 or -errno.
 */
static int hash_durable(int fd, struct snap *sn, struct seqhash *sh)
{
	unsigned char md[MPS3_SHA256_LEN];
	int rc;

	if (sn->small && mps3_pread_all(fd, sn->small, sn->size, 0) == 0) {
		rc = mps3_chunks_hash_mem(md, &sn->list, sn->small, sn->size);
	} else {
		free(sn->small);
		sn->small = NULL;
		rc = mps3fs_seqhash_finish(sh, sn->size, md, &sn->list);
		sn->hashed_ahead = !rc;
		if (rc) {
			mps3_buf_reset(&sn->list);
			rc = mps3_chunks_hash_fd(md, &sn->list, fd, 0, sn->size);
		}
		if (!rc && fdatasync(fd) < 0)
			rc = -errno;
	}
	if (!rc)
		mps3_hex(sn->hex, md, sizeof(md));
	return rc;
}

/*
 * A cached blob of bytes held in memory, durable in the journal (a content
 * record) rather than fsync'd, pinned: the chunk list of a large file.
 */
static int cache_small_blob(struct mps3fs *fs, const char *data, size_t len, char hex[MPS3_SHA256_HEX_LEN + 1])
{
	char dst[4200], tmp[4300];
	int fd, rc;

	mps3_sha256_hex(hex, data, len);
	mps3fs_cache_path(&fs->cache, hex, dst, sizeof(dst));
	snprintf(tmp, sizeof(tmp), "%s/.small-%s", fs->cache.dir, hex);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rc = fd < 0 ? -errno : mps3_write_all(fd, data, len);
	if (!rc && !fs->journal_open && fdatasync(fd) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (!rc && fs->journal_open)
		rc = mps3_journal_append_blob(&fs->journal, hex, data, len);
	if (!rc && rename(tmp, dst) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	mps3fs_cache_added(&fs->cache, hex, len, 1);
	return 0;
}

/* Tree lock held: pin a local blob until no pending change names it. */
static void pin_local(struct mps3fs *fs, const char *hex)
{
	if (json_object_get(fs->pinned, hex))
		return;
	json_object_set_new(fs->pinned, hex, json_true());
}

/* Tree lock held: the node's entry names the snapshot's content. */
static int name_content(struct mps3fs *fs, struct node *n, const struct snap *sn)
{
	json_t *patch;
	int rc;

	if (n->has_entry && n->type == MPS3_FILE)
		patch = json_pack("{s:s,s:I,s:I}", "blob", sn->hex, "size", (json_int_t)sn->size, "mtime",
				  (json_int_t)(sn->mtime ? sn->mtime : mps3fs_now_ns()));
	else
		patch = mps3fs_entry_new(fs, MPS3_FILE, 0666 & ~fs->cfg.umask, NULL, NULL, sn->hex, sn->size, NULL);
	if (patch)
		json_object_set_new(patch, "chunks", sn->chunks[0] ? json_string(sn->chunks) : json_null());
	rc = patch ? mps3fs_node_modify(fs, n, patch) : -ENOMEM;
	json_decref(patch);
	return rc;
}

/*
 * The staged content as a durable blob outside the lock: hashed, its chunk
 * list cached, and the content either in the journal (small) or fsync'd;
 * from is the staging file itself (last writer) or a copy made into tmp.
 */
static int make_blob(struct mps3fs *fs, int from_fd, int last, const char *tmp, int *copy_fd, struct snap *sn,
		     struct seqhash *sh)
{
	off_t in = 0, out = 0;
	int rc;

	/*
	 * The content is durable before the journal promises it: a small file's
	 * goes into the journal itself (one fsync at close for everything), a
	 * larger one is fsync'd in the cache.
	 */
	if (fs->journal_open && sn->size <= MPS3_JOURNAL_INLINE_MAX)
		sn->small = malloc(sn->size ? sn->size : 1);
	if (!last) {
		*copy_fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (*copy_fd < 0)
			return -errno;
		rc = mps3_copy_all(from_fd, &in, *copy_fd, &out, sn->size);
		if (rc)
			return rc;
		from_fd = *copy_fd;
	}
	rc = hash_durable(from_fd, sn, last ? sh : NULL);
	if (!rc && sn->list.len)
		rc = cache_small_blob(fs, sn->list.data, sn->list.len, sn->chunks);
	/* Before the change that names it, so a replay always finds it. */
	if (!rc && sn->small)
		rc = mps3_journal_append_blob(&fs->journal, sn->hex, sn->small, sn->size);
	return rc;
}

int mps3fs_snapshot(struct mps3fs *fs, struct node *n, int last, uint64_t want)
{
	char tmp[4200], dst[4200];
	struct seqhash *sh = NULL;
	struct snap sn;
	struct stage *st;
	uint64_t wgen;
	int fd = -1, rc, from_fd, inlined, named = 0;

	memset(&sn, 0, sizeof(sn));
	lock(fs);
	st = n->stage;
	if (!st || !st->dirty) {
		unlock(fs);
		return 0;
	}
	sn.size = st->size;
	wgen = st->wgen;
	sn.mtime = st->mtime_ns;
	from_fd = st->fd;
	if (last)
		sh = mps3fs_seqhash_get(st->sh);
	unlock(fs);
	if (want != MPS3FS_ANY_WGEN && wgen != want) {
		mps3fs_seqhash_put(sh);
		return -EAGAIN;
	}

	snprintf(tmp, sizeof(tmp), "%s/.snap-%" PRIu64 "-%" PRIu64, fs->cache.dir, n->ino, wgen);
	rc = make_blob(fs, from_fd, last, tmp, &fd, &sn, sh);
	if (rc == -ENOSPC && mps3fs_room(fs, sn.size + ((uint64_t)16 << 20)) > 0 && mps3fs_journal_mend(fs) == 0) {
		/* A full disk, and room made: the whole snapshot once more. */
		if (sn.chunks[0])
			mps3fs_cache_unpin(&fs->cache, sn.chunks);
		snap_dispose(&sn);
		sn.chunks[0] = '\0';
		if (fd >= 0)
			close(fd);
		fd = -1;
		rc = make_blob(fs, from_fd, last, tmp, &fd, &sn, NULL);
	}
	inlined = sn.small != NULL;
	if (rc)
		goto out;
	mps3fs_cache_path(&fs->cache, sn.hex, dst, sizeof(dst));
	lock(fs);
	if ((last || want != MPS3FS_ANY_WGEN) && (n->stage != st || st->wgen != wgen)) {
		/* Written to again while we hashed: the next close snapshots it (validated content: again now). */
		unlock(fs);
		rc = want != MPS3FS_ANY_WGEN ? -EAGAIN : 0;
		goto out;
	}
	/* Identical content may be cached already; else the staged file becomes the blob. */
	if (rename(last ? st->path : tmp, dst) < 0) {
		rc = -errno;
		unlock(fs);
		goto out;
	}
	if (last) {
		st->path[0] = '\0';
		n->stage = NULL;
		mps3fs_stage_free(st);
	} else if (st->wgen == wgen) {
		st->dirty = 0;
	}
	/* Pinned as it enters the cache: a trim must never take content not yet uploaded. */
	mps3fs_cache_added(&fs->cache, sn.hex, sn.size, !json_object_get(fs->pinned, sn.hex));
	pin_local(fs, sn.hex);
	if (sn.chunks[0] && json_object_get(fs->pinned, sn.chunks))
		mps3fs_cache_unpin(&fs->cache, sn.chunks); /* one pin per blob */
	if (sn.chunks[0])
		pin_local(fs, sn.chunks);
	rc = name_content(fs, n, &sn);
	named = 1;
	fs->hashed_ahead += (uint64_t)sn.hashed_ahead;
	unlock(fs);
	/*
	 * The blob's name is durable too (the directory entry) before the caller
	 * journals the change, unless the journal holds the content; outside
	 * the lock, which every request needs.
	 */
	if (!inlined && fs->cache.dirfd >= 0 && fsync(fs->cache.dirfd) < 0)
		rc = rc ? rc : -errno;
out:
	mps3fs_seqhash_put(sh);
	/* A chunk list cached for content that did not become the file: its pin goes. */
	if (sn.chunks[0] && !named)
		mps3fs_cache_unpin(&fs->cache, sn.chunks);
	snap_dispose(&sn);
	if (fd >= 0)
		close(fd);
	if (rc || !last)
		unlink(tmp);
	return rc;
}

ssize_t mps3fs_stage_write(struct mps3fs *fs, struct node *n, const char *data, size_t size, off_t off,
			   int append)
{
	struct seqhash *sh;
	struct stage *st;
	int rc, fd;

	rc = mps3fs_stage_open(fs, n, 0);
	if (rc)
		return rc;
	lock(fs);
	st = n->stage;
	fd = st ? dup(st->fd) : -1;
	sh = st ? mps3fs_seqhash_get(st->sh) : NULL;
	unlock(fs);
	if (fd < 0) {
		mps3fs_seqhash_put(sh);
		return -EIO;
	}
	if (append) {
		struct stat sb;

		if (fstat(fd, &sb) == 0)
			off = sb.st_size;
	}
	/* The layout may hold smaller files than the file system (an MPS3 web app's). */
	if ((uint64_t)off + size > mps3_db_max_file(fs->db)) {
		close(fd);
		mps3fs_seqhash_put(sh);
		return -EFBIG;
	}
	rc = mps3_pwrite_all(fd, data, size, off);
	if (rc == -ENOSPC && mps3fs_room(fs, size + ((uint64_t)16 << 20)) > 0)
		rc = mps3_pwrite_all(fd, data, size, off);
	close(fd);
	/* Only once it is in the file may the hasher read it; a failed write leaves the file unknown. */
	if (rc)
		mps3fs_seqhash_void(sh);
	else
		mps3fs_seqhash_wrote(sh, (uint64_t)off, size);
	mps3fs_seqhash_put(sh);
	if (rc)
		return rc;
	lock(fs);
	if (n->stage == st) {
		if ((uint64_t)off + size > st->size)
			st->size = (uint64_t)off + size;
		st->dirty = 1;
		st->wgen++;
		st->mtime_ns = n->ctime_ns = mps3fs_now_ns();
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
		mps3fs_seqhash_void(st->sh);
	} else {
		if (size != st->size)
			mps3fs_seqhash_void(st->sh);
		st->size = size;
		st->dirty = 1;
		st->wgen++;
		st->mtime_ns = n->ctime_ns = mps3fs_now_ns();
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
