/*
 * fs/ops.c - the FUSE low-level operations.  Metadata (lookup, getattr,
 * readdir) is answered from the in-memory tree; content from the blob
 * cache, the staging file of a file being written, or ranged downloads.
 * Changes update the tree at once and are queued for the upload worker.
 *
 * Remote changes arrive through mps3fs_on_changes() from the poller thread
 * and are applied to the tree; the kernel's caches are invalidated after
 * the tree lock is released (never from a FUSE worker).
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mps3/base64.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/keys.h"
#include "mps3/log.h"
#include "mps3/mergepatch.h"
#include "fs.h"

#define CTL_NAME ".mps3"
#define STATUS_NAME "status"

/* An open file. */
struct fh {
	struct node *node;
	int fd;				/* cached blob or staging file, -1: fetch on read */
	char blob[MPS3_SHA256_HEX_LEN + 1];
	uint64_t size;			/* of that blob */
	int writer;
	int replay;			/* opened by the replay thread: applies remote state only */
	uint64_t next_off;		/* where a sequential reader goes next */
	char *text;			/* control files: content fixed at open */
	size_t text_len;
};

/* An open directory: a snapshot of its entries. */
struct dirh {
	struct dent {
		char *name;
		uint64_t ino;
		mode_t type;
	} *v;
	size_t n;
};

static struct mps3fs *FS(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void lock(struct mps3fs *fs)
{
	pthread_mutex_lock(&fs->tree_lock);
}

static void unlock(struct mps3fs *fs)
{
	pthread_mutex_unlock(&fs->tree_lock);
}

/* Requests of the replay thread apply remote state (fs/notify.c). */
static int is_replay(struct mps3fs *fs, fuse_req_t req)
{
	int tid = __atomic_load_n(&fs->replay_tid, __ATOMIC_ACQUIRE);

	return tid > 0 && fuse_req_ctx(req)->pid == tid;
}

/*
 * The value the replay thread wants at dir/name (lock held): 1 and *out
 * (a new reference, NULL for an implicit directory) when it has one.
 */
static int replay_value(struct mps3fs *fs, struct node *dir, const char *name, json_t **out)
{
	char *dpath = mps3fs_node_path(dir), *path = NULL;
	json_t *v = NULL;

	*out = NULL;
	if (dpath && asprintf(&path, "%s%s%s", dpath, *dpath ? "/" : "", name) >= 0)
		v = json_object_get(fs->replay_expect, path);
	free(dpath);
	free(path);
	if (!v)
		return 0;
	*out = json_is_null(v) ? NULL : json_incref(v);
	return 1;
}

static int replay_value_node(struct mps3fs *fs, struct node *n, json_t **out)
{
	if (!n->parent)
		return 0;
	return replay_value(fs, n->parent, n->name, out);
}

/* ---- control directory ---------------------------------------------------- */

static void ctl_stat(struct mps3fs *fs, uint64_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = fs->cfg.uid;
	st->st_gid = fs->cfg.gid;
	st->st_nlink = 1;
	if (ino == MPS3FS_CTL_INO) {
		st->st_mode = S_IFDIR | 0555;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_size = 4096;
	}
	st->st_mtim.tv_sec = time(NULL);
	st->st_ctim = st->st_atim = st->st_mtim;
}

static int is_ctl(uint64_t ino)
{
	return ino == MPS3FS_CTL_INO || ino == MPS3FS_STATUS_INO;
}

/* ---- helpers --------------------------------------------------------------- */

static void fill_entry(struct mps3fs *fs, struct node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->attr_timeout = fs->cfg.timeout_s;
	e->entry_timeout = fs->cfg.timeout_s;
	mps3fs_node_stat(fs, n, &e->attr);
	n->nlookup++;
}

static int name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n > MPS3_NAME_MAX)
		return -ENAMETOOLONG;
	if (n == 0 || strchr(name, '/'))
		return -EINVAL;
	return 0;
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

/* A new entry value for a path (the uploader turns it into a replacing patch). */
static json_t *new_entry(struct mps3fs *fs, enum mps3_ftype type, mode_t mode, const struct fuse_ctx *ctx,
			 const char *blob, uint64_t size, const char *target)
{
	struct mps3_entry e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	if (blob)
		memcpy(e.blob, blob, sizeof(e.blob));
	e.size = size;
	e.mode = mode & 07777;
	e.uid = ctx ? ctx->uid : fs->cfg.uid;
	e.gid = ctx ? ctx->gid : fs->cfg.gid;
	e.mtime_ns = mps3fs_now_ns();
	e.target = target;
	return entry_value(mps3_entry_to_patch(&e));
}

/*
 * The node's entry with a merge patch applied (a new object, never a change
 * in place: the uploader and the database share the old one).  Implicit
 * directories become explicit.  Marks the path dirty.  Lock held.
 */
static int modify(struct mps3fs *fs, struct node *n, json_t *patch)
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
	n->change_gen++;
	if (n->in_tree) {
		path = mps3fs_node_path(n);
		if (!path)
			return -ENOMEM;
		mps3fs_dirty(fs, path);
		free(path);
	}
	return 0;
}

/*
 * A directory that exists only because of keys under it would vanish with
 * its last child; removing that child here makes it an explicit directory
 * instead, as a local file system would keep it.  Lock held.
 */
static void keep_parent(struct mps3fs *fs, struct node *dir)
{
	json_t *p;

	if (!dir || !dir->parent || dir->entry || dir->nchildren > 0)
		return;
	p = json_pack("{s:s,s:I}", "type", "d", "mtime", (json_int_t)mps3fs_now_ns());
	if (p)
		modify(fs, dir, p);
	json_decref(p);
}

static void touch_dir(struct mps3fs *fs, struct node *dir)
{
	(void)fs;
	dir->ctime_ns = mps3fs_now_ns();
}

static void staging_path(struct mps3fs *fs, struct node *n, char *out, size_t len)
{
	static uint64_t counter;

	snprintf(out, len, "%s/%" PRIu64 "-%" PRIu64, fs->staging_dir, n->ino,
		 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
}

/* ---- lookup, attributes --------------------------------------------------------- */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mps3fs *fs = FS(req);
	struct fuse_entry_param e;
	struct node *dir, *n;

	if (parent == MPS3FS_ROOT_INO && strcmp(name, CTL_NAME) == 0) {
		memset(&e, 0, sizeof(e));
		e.ino = MPS3FS_CTL_INO;
		ctl_stat(fs, e.ino, &e.attr);
		fuse_reply_entry(req, &e);
		return;
	}
	if (parent == MPS3FS_CTL_INO) {
		if (strcmp(name, STATUS_NAME) != 0) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		memset(&e, 0, sizeof(e));
		e.ino = MPS3FS_STATUS_INO;
		ctl_stat(fs, e.ino, &e.attr);
		fuse_reply_entry(req, &e);
		return;
	}
	lock(fs);
	dir = mps3fs_node_get(fs, parent);
	n = dir ? mps3fs_child(fs, dir, name) : NULL;
	if (!n) {
		unlock(fs);
		/* A negative entry, cached like a positive one; remote creations invalidate it. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->cfg.timeout_s;
		fuse_reply_entry(req, &e);
		return;
	}
	fill_entry(fs, n, &e);
	unlock(fs);
	fuse_reply_entry(req, &e);
}

static void forget_one(struct mps3fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	struct node *n;

	if (is_ctl(ino) || ino == MPS3FS_ROOT_INO)
		return;
	n = mps3fs_node_get(fs, ino);
	if (!n)
		return;
	n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
	mps3fs_node_maybe_free(fs, n);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct mps3fs *fs = FS(req);

	lock(fs);
	forget_one(fs, ino, nlookup);
	unlock(fs);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *v)
{
	struct mps3fs *fs = FS(req);
	size_t i;

	lock(fs);
	for (i = 0; i < count; i++)
		forget_one(fs, v[i].ino, v[i].nlookup);
	unlock(fs);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req);
	struct stat st;
	struct node *n;

	(void)fi;
	if (is_ctl(ino)) {
		ctl_stat(fs, ino, &st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (n)
		mps3fs_node_stat(fs, n, &st);
	unlock(fs);
	if (!n)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_attr(req, &st, fs->cfg.timeout_s);
}

/* ---- staging (content being written) ------------------------------------------- */

/*
 * Give n a staging file holding its current content (or nothing when
 * truncating), so writes have somewhere to go.  Called without the lock;
 * takes it.  Downloads the content first if it is not cached.
 */
static int stage_open(struct mps3fs *fs, struct node *n, int truncate)
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
			loff_t in = 0, out = 0;
			uint64_t left = size;

			while (left > 0) {
				ssize_t c = copy_file_range(src, &in, fd, &out, left, 0);

				if (c < 0 && errno == EINTR)
					continue;
				if (c <= 0) {
					rc = c < 0 ? -errno : -EIO;
					goto fail;
				}
				left -= (uint64_t)c;
			}
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

static void stage_free(struct stage *st)
{
	if (!st)
		return;
	if (st->fd >= 0)
		close(st->fd);
	if (st->path[0])
		unlink(st->path);
	free(st);
}

static int pread_all(int fd, char *buf, uint64_t len)
{
	uint64_t off = 0;

	while (off < len) {
		ssize_t r = pread(fd, buf + off, len - off, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		off += (uint64_t)r;
	}
	return 0;
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

	if (*small && pread_all(fd, *small, size) == 0) {
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
static int snapshot(struct mps3fs *fs, struct node *n, int last)
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
		loff_t in = 0, out = 0;
		uint64_t left = size;

		fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = -errno;
			free(small);
			return rc;
		}
		while (left > 0) {
			ssize_t c = copy_file_range(from_fd, &in, fd, &out, left, 0);

			if (c < 0 && errno == EINTR)
				continue;
			if (c <= 0) {
				rc = c < 0 ? -errno : -EIO;
				goto fail;
			}
			left -= (uint64_t)c;
		}
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
		stage_free(st);
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
		patch = new_entry(fs, MPS3_FILE, 0666 & ~fs->cfg.umask, NULL, hex, size, NULL);
	rc = patch ? modify(fs, n, patch) : -ENOMEM;
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

/* ---- open, read, write, close ---------------------------------------------- */

static int open_content(struct mps3fs *fs, struct fh *fh, struct node *n)
{
	/* Lock held.  Read the staging file while the node is being written. */
	if (n->stage) {
		fh->fd = open(n->stage->path, O_RDONLY | O_CLOEXEC);
		fh->blob[0] = '\0';
		return fh->fd < 0 ? -errno : 0;
	}
	fh->fd = -1;
	if (n->e.type != MPS3_FILE)
		return 0;
	memcpy(fh->blob, n->e.blob, sizeof(fh->blob));
	fh->size = n->e.size;
	if (fh->size > 0) {
		int fd = mps3fs_cache_open(&fs->cache, fh->blob);

		fh->fd = fd >= 0 ? fd : -1;
	}
	return 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req);
	int acc = fi->flags & O_ACCMODE, rc = 0, trunc = (fi->flags & O_TRUNC) != 0;
	struct node *n;
	struct fh *fh;

	if (ino == MPS3FS_STATUS_INO) {
		if (acc != O_RDONLY) {
			fuse_reply_err(req, EACCES);
			return;
		}
		fh = calloc(1, sizeof(*fh));
		if (!fh) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		fh->fd = -1;
		fh->text = mps3fs_status_text(fs, &fh->text_len);
		fi->fh = (uintptr_t)fh;
		fi->direct_io = 1;
		fuse_reply_open(req, fi);
		return;
	}
	if (acc != O_RDONLY && fs->cfg.read_only && !is_replay(fs, req)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fh = calloc(1, sizeof(*fh));
	if (!fh) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fh->fd = -1;
	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (!n) {
		unlock(fs);
		free(fh);
		fuse_reply_err(req, ENOENT);
		return;
	}
	n->nopen++;
	fh->node = n;
	if (is_replay(fs, req)) {
		/* The replay only truncates to produce events: no staging, no upload. */
		fh->replay = 1;
		unlock(fs);
		fi->fh = (uintptr_t)fh;
		fi->direct_io = 1;
		fuse_reply_open(req, fi);
		return;
	}
	fh->writer = acc != O_RDONLY;
	if (fh->writer)
		n->nwriters++;
	unlock(fs);

	if (fh->writer && trunc)
		rc = stage_open(fs, n, 1);
	lock(fs);
	if (!rc)
		rc = open_content(fs, fh, n);
	if (!rc && !n->stage && n->e.type == MPS3_FILE &&
	    strcmp(n->kept_blob, n->e.blob) == 0)
		fi->keep_cache = 1;
	if (!rc && n->e.type == MPS3_FILE && !n->stage)
		memcpy(n->kept_blob, n->e.blob, sizeof(n->kept_blob));
	if (rc) {
		n->nopen--;
		if (fh->writer)
			n->nwriters--;
		mps3fs_node_maybe_free(fs, n);
	}
	unlock(fs);
	if (rc) {
		free(fh);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)fh;
	fuse_reply_open(req, fi);
}

static int64_t fs_read_warned;

/* True at most once a minute per counter: for errors that repeat with every read. */
static int ratelimit(int64_t *last)
{
	int64_t now = mps3fs_now_ns() / 1000000, prev = __atomic_load_n(last, __ATOMIC_RELAXED);

	if (prev && now - prev < 60000)
		return 0;
	return __atomic_compare_exchange_n(last, &prev, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req);
	struct fh *fh = (struct fh *)(uintptr_t)fi->fh;
	struct node *n = fh->node;
	char *buf;
	ssize_t got = 0;
	int stage_fd = -1;

	(void)ino;
	if (fh->text) {
		if ((size_t)off >= fh->text_len) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		fuse_reply_buf(req, fh->text + off, (size_t)off + size > fh->text_len ? fh->text_len - (size_t)off : size);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* A writer on this node: everyone reads what has been written so far. */
	lock(fs);
	if (!n->stage && !fh->writer && n->e.type == MPS3_FILE && !n->is_dir &&
	    strcmp(fh->blob, n->e.blob) != 0) {
		/*
		 * The file changed (remotely, or by a local writer's close) while
		 * open here: read the new version, so that tail -f follows.
		 */
		if (fh->fd >= 0)
			close(fh->fd);
		fh->fd = -1;
		memcpy(fh->blob, n->e.blob, sizeof(fh->blob));
		fh->size = n->e.size;
		if (fh->size > 0) {
			int fd = mps3fs_cache_open(&fs->cache, fh->blob);

			fh->fd = fd >= 0 ? fd : -1;
		}
	}
	if (n->stage)
		stage_fd = dup(n->stage->fd);
	else if (fh->fd >= 0)
		stage_fd = dup(fh->fd);
	unlock(fs);
	if (stage_fd >= 0) {
		got = pread(stage_fd, buf, size, off);
		close(stage_fd);
		if (got < 0)
			got = -errno;
	} else if (fh->blob[0] && fh->size > 0) {
		/* Read-ahead from the second sequential read on: `head -c` reads one chunk. */
		int seq = off > 0 && (uint64_t)off == fh->next_off;

		got = mps3fs_fetch_read(fs, fh->blob, fh->size, buf, size, (uint64_t)off, seq);
		/* One line per outage, not per read (corrupt blobs were reported when found). */
		if (got < 0 && got != -EBADMSG && ratelimit(&fs_read_warned))
			mps3_warn("%s: cannot read content (blob %s) from the store: %s; reads of content not in the cache fail with EIO",
				  fs->cfg.url, fh->blob, mps3_error_last((int)got));
		/* Whole and verified now?  Read the cached copy from here on. */
		if (got >= 0 && mps3fs_cache_has(&fs->cache, fh->blob)) {
			int fd = mps3fs_cache_open(&fs->cache, fh->blob);

			lock(fs);
			if (fh->fd < 0 && fd >= 0) {
				fh->fd = fd;
				fd = -1;
			}
			unlock(fs);
			if (fd >= 0)
				close(fd);
		}
	}
	if (got < 0) {
		free(buf);
		fuse_reply_err(req, got == -ENOENT || got == -EBADMSG ? EIO : (int)-got);
		return;
	}
	fh->next_off = (uint64_t)off + (uint64_t)got;
	fuse_reply_buf(req, buf, (size_t)got);
	free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req);
	struct fh *fh = (struct fh *)(uintptr_t)fi->fh;
	struct node *n = fh->node;
	struct stage *st;
	ssize_t w;
	int rc, fd;

	(void)ino;
	if (!fh->writer) {
		fuse_reply_err(req, EBADF);
		return;
	}
	rc = stage_open(fs, n, 0);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	lock(fs);
	st = n->stage;
	fd = st ? dup(st->fd) : -1;
	unlock(fs);
	if (fd < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (fi->flags & O_APPEND) {
		struct stat sb;

		if (fstat(fd, &sb) == 0)
			off = sb.st_size;
	}
	w = pwrite(fd, data, size, off);
	rc = w < 0 ? -errno : 0;
	close(fd);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	lock(fs);
	if (n->stage == st) {
		if ((uint64_t)off + (uint64_t)w > st->size)
			st->size = (uint64_t)off + (uint64_t)w;
		st->dirty = 1;
		st->wgen++;
		st->mtime_ns = mps3fs_now_ns();
	}
	unlock(fs);
	fuse_reply_write(req, (size_t)w);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req);
	struct fh *fh = (struct fh *)(uintptr_t)fi->fh;
	int rc = 0, last;

	(void)ino;
	if (fh->text || !fh->writer) {
		fuse_reply_err(req, 0);
		return;
	}
	lock(fs);
	last = fh->node->nwriters <= 1;
	unlock(fs);
	rc = snapshot(fs, fh->node, last);
	if (rc)
		mps3_warn("%s: cannot keep the content written to inode %" PRIu64 ": %s", fs->cfg.url,
			  fh->node->ino, strerror(-rc));
	/* close() returns only once the change is in the journal, on disk. */
	if (!rc && fs->journal_open)
		rc = mps3_journal_sync(&fs->journal);
	if (!rc && fs->cfg.sync_close)
		rc = mps3fs_wait_committed(fs, -1);
	fuse_reply_err(req, -rc);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req);
	struct fh *fh = (struct fh *)(uintptr_t)fi->fh;
	struct node *n = fh->node;
	struct stage *drop = NULL;

	(void)ino;
	if (fh->fd >= 0)
		close(fh->fd);
	if (n) {
		int again = 0;

		lock(fs);
		if (fh->writer && n->nwriters > 0)
			n->nwriters--;
		/* Content left dirty (a failed flush): one more try now. */
		again = fh->writer && n->nwriters == 0 && n->stage && n->stage->dirty;
		unlock(fs);
		if (again)
			snapshot(fs, n, 1);
		lock(fs);
		if (n->nwriters == 0 && n->stage && !n->stage->dirty) {
			drop = n->stage;
			n->stage = NULL;
		}
		n->nopen--;
		mps3fs_node_maybe_free(fs, n);
		unlock(fs);
		stage_free(drop);
	}
	free(fh->text);
	free(fh);
	fuse_reply_err(req, 0);
}

/*
 * Wait until every change up to MARK is in the bucket: 0, or -EINTR when the
 * caller gave up (a signal) or the mount is going away (unmount drains).
 */
static int wait_uploaded(struct mps3fs *fs, fuse_req_t req, uint64_t mark)
{
	for (;;) {
		int rc = mps3fs_wait_mark(fs, mark, 1000);

		if (rc != -ETIMEDOUT)
			return rc;
		if (fuse_req_interrupted(req) || (fs->session && fuse_session_exited(fs->session)))
			return -EINTR;
	}
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req);
	struct fh *fh = (struct fh *)(uintptr_t)fi->fh;
	uint64_t mark;
	int rc = 0;

	(void)ino;
	(void)datasync;
	if (fh->writer && fh->node)
		rc = snapshot(fs, fh->node, 0);
	if (!rc && fs->journal_open)
		rc = mps3_journal_sync(&fs->journal);
	mark = mps3fs_change_mark(fs);
	fuse_reply_err(req, rc ? -rc : -wait_uploaded(fs, req, mark));
}

/* ---- create, remove, rename ---------------------------------------------------- */

static int reply_new(fuse_req_t req, struct mps3fs *fs, struct node *n, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;

	fill_entry(fs, n, &e);
	unlock(fs);
	if (fi)
		return fuse_reply_create(req, &e, fi);
	return fuse_reply_entry(req, &e);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req);
	struct fuse_entry_param e;
	struct node *dir, *n;
	struct fh *fh;
	json_t *entry;
	int rc = name_ok(name);

	if (rc || fs->cfg.read_only || parent == MPS3FS_CTL_INO) {
		fuse_reply_err(req, rc ? -rc : parent == MPS3FS_CTL_INO ? EACCES : EROFS);
		return;
	}
	fh = calloc(1, sizeof(*fh));
	if (is_replay(fs, req)) {
		/* A remote file arriving: its entry as it is, nothing to stage or upload. */
		lock(fs);
		dir = mps3fs_node_get(fs, parent);
		entry = NULL;
		if (!fh || !dir || !replay_value(fs, dir, name, &entry) || !entry || mps3fs_child(fs, dir, name)) {
			unlock(fs);
			json_decref(entry);
			free(fh);
			fuse_reply_err(req, fh ? EEXIST : ENOMEM);
			return;
		}
		n = mps3fs_node_new(fs, dir, name, entry);
		if (!n) {
			unlock(fs);
			json_decref(entry);
			free(fh);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		fh->fd = -1;
		fh->node = n;
		fh->replay = 1;
		n->nopen++;
		fi->fh = (uintptr_t)fh;
		fill_entry(fs, n, &e);
		unlock(fs);
		fuse_reply_create(req, &e, fi);
		return;
	}
	entry = new_entry(fs, MPS3_FILE, mode, fuse_req_ctx(req), MPS3_EMPTY_SHA256, 0, NULL);
	if (!fh || !entry) {
		free(fh);
		json_decref(entry);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fh->fd = -1;
	lock(fs);
	dir = mps3fs_node_get(fs, parent);
	if (!dir || !dir->in_tree || !dir->is_dir) {
		unlock(fs);
		json_decref(entry);
		free(fh);
		fuse_reply_err(req, ENOENT);
		return;
	}
	n = mps3fs_child(fs, dir, name);
	if (n) {
		unlock(fs);
		json_decref(entry);
		free(fh);
		fuse_reply_err(req, EEXIST);
		return;
	}
	n = mps3fs_node_new(fs, dir, name, entry);
	if (!n) {
		unlock(fs);
		json_decref(entry);
		free(fh);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	touch_dir(fs, dir);
	n->nopen++;
	n->nwriters++;
	fh->node = n;
	fh->writer = 1;
	unlock(fs);
	/* An empty staging file: a new file is committed at its close, content and all. */
	rc = stage_open(fs, n, 1);
	lock(fs);
	if (rc) {
		n->nopen--;
		n->nwriters--;
		mps3fs_node_detach(fs, n);
		unlock(fs);
		free(fh);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)fh;
	fill_entry(fs, n, &e);
	unlock(fs);
	fuse_reply_create(req, &e, fi);
}

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, json_t *entry)
{
	struct mps3fs *fs = FS(req);
	struct node *dir, *n;
	char *path;
	int rc = name_ok(name);

	if (!entry || rc || (fs->cfg.read_only && !is_replay(fs, req)) || parent == MPS3FS_CTL_INO) {
		json_decref(entry);
		fuse_reply_err(req, !entry ? ENOMEM : rc ? -rc : parent == MPS3FS_CTL_INO ? EACCES : EROFS);
		return;
	}
	lock(fs);
	dir = mps3fs_node_get(fs, parent);
	if (!dir || !dir->in_tree || !dir->is_dir) {
		unlock(fs);
		json_decref(entry);
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (mps3fs_child(fs, dir, name)) {
		unlock(fs);
		json_decref(entry);
		fuse_reply_err(req, EEXIST);
		return;
	}
	if (is_replay(fs, req)) {
		json_t *remote;

		/* The remote value (NULL: a directory only implied by keys under it). */
		if (replay_value(fs, dir, name, &remote)) {
			json_decref(entry);
			entry = remote;
		}
		n = mps3fs_node_new(fs, dir, name, entry);
		if (!n) {
			unlock(fs);
			json_decref(entry);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		reply_new(req, fs, n, NULL);
		return;
	}
	n = mps3fs_node_new(fs, dir, name, entry);
	if (!n) {
		unlock(fs);
		json_decref(entry);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	touch_dir(fs, dir);
	path = mps3fs_node_path(n);
	if (path)
		mps3fs_dirty(fs, path);
	free(path);
	reply_new(req, fs, n, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, parent, name,
		  new_entry(FS(req), MPS3_DIR, mode, fuse_req_ctx(req), NULL, 0, NULL));
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	if (strlen(link) == 0 || strlen(link) > MPS3_PATH_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	make_node(req, parent, name,
		  new_entry(FS(req), MPS3_LINK, 0777, fuse_req_ctx(req), NULL, strlen(link), link));
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)rdev;
	/* Regular files only: a bucket has no devices, fifos or sockets. */
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	make_node(req, parent, name,
		  new_entry(FS(req), MPS3_FILE, mode, fuse_req_ctx(req), MPS3_EMPTY_SHA256, 0, NULL));
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	/* A key has one path: a hard link cannot be represented, and a copy would surprise. */
	fuse_reply_err(req, EPERM);
}

static void remove_node(fuse_req_t req, fuse_ino_t parent, const char *name, int dir_wanted)
{
	struct mps3fs *fs = FS(req);
	struct node *dir, *n;
	char *path;
	int err = 0;

	if ((fs->cfg.read_only && !is_replay(fs, req)) || parent == MPS3FS_CTL_INO ||
	    (parent == MPS3FS_ROOT_INO && strcmp(name, CTL_NAME) == 0)) {
		fuse_reply_err(req, fs->cfg.read_only ? EROFS : EACCES);
		return;
	}
	lock(fs);
	dir = mps3fs_node_get(fs, parent);
	n = dir ? mps3fs_child(fs, dir, name) : NULL;
	if (!n)
		err = ENOENT;
	else if (dir_wanted && !n->is_dir)
		err = ENOTDIR;
	else if (!dir_wanted && n->is_dir)
		err = EISDIR;
	else if (dir_wanted && n->nchildren > 0)
		err = ENOTEMPTY;
	if (err) {
		unlock(fs);
		fuse_reply_err(req, err);
		return;
	}
	if (is_replay(fs, req)) {
		/* Removed remotely: nothing to upload; implicit parents go as keys say. */
		mps3fs_node_detach(fs, n);
		mps3fs_prune_implicit(fs, dir);
		unlock(fs);
		fuse_reply_err(req, 0);
		return;
	}
	path = mps3fs_node_path(n);
	if (!path) {
		unlock(fs);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	mps3fs_dirty(fs, path);
	free(path);
	n->change_gen++;
	mps3fs_node_detach(fs, n);
	touch_dir(fs, dir);
	keep_parent(fs, dir);
	unlock(fs);
	fuse_reply_err(req, 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_node(req, parent, name, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_node(req, parent, name, 1);
}

static int is_ancestor(struct node *a, struct node *n)
{
	for (; n; n = n->parent)
		if (n == a)
			return 1;
	return 0;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct mps3fs *fs = FS(req);
	struct node *sdir, *ddir, *src, *dst;
	int err = name_ok(newname);

	if (err || (fs->cfg.read_only && !is_replay(fs, req)) || is_ctl(parent) || is_ctl(newparent)) {
		fuse_reply_err(req, err ? -err : fs->cfg.read_only ? EROFS : EACCES);
		return;
	}
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	lock(fs);
	sdir = mps3fs_node_get(fs, parent);
	ddir = mps3fs_node_get(fs, newparent);
	src = sdir ? mps3fs_child(fs, sdir, name) : NULL;
	dst = ddir ? mps3fs_child(fs, ddir, newname) : NULL;
	if (!src || !ddir || !ddir->in_tree)
		err = ENOENT;
	else if (src == dst)
		err = -1; /* nothing to do */
	else if (is_ancestor(src, ddir))
		err = EINVAL;
	else if ((flags & RENAME_NOREPLACE) && dst)
		err = EEXIST;
	else if ((flags & RENAME_EXCHANGE) && !dst)
		err = ENOENT;
	else if (dst && !(flags & RENAME_EXCHANGE)) {
		if (src->is_dir && !dst->is_dir)
			err = ENOTDIR;
		else if (!src->is_dir && dst->is_dir)
			err = EISDIR;
		else if (dst->is_dir && dst->nchildren > 0)
			err = ENOTEMPTY;
	}
	if (err) {
		unlock(fs);
		fuse_reply_err(req, err < 0 ? 0 : err);
		return;
	}
	if (flags & RENAME_EXCHANGE) {
		char tmpname[64];

		if (is_ancestor(dst, sdir)) {
			unlock(fs);
			fuse_reply_err(req, EINVAL);
			return;
		}
		/* Both subtrees change paths: old ones go, new ones come, in one batch. */
		mps3fs_dirty_subtree(fs, src);
		mps3fs_dirty_subtree(fs, dst);
		snprintf(tmpname, sizeof(tmpname), ".mps3-exchange-%" PRIu64, src->ino);
		if (mps3fs_node_move(fs, src, ddir, tmpname) || mps3fs_node_move(fs, dst, sdir, name) ||
		    mps3fs_node_move(fs, src, ddir, newname)) {
			unlock(fs);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		mps3fs_dirty_subtree(fs, src);
		mps3fs_dirty_subtree(fs, dst);
	} else if (is_replay(fs, req)) {
		json_t *remote;

		/* Moved remotely: the tree follows, nothing to upload. */
		if (dst)
			mps3fs_node_detach(fs, dst);
		if (replay_value(fs, ddir, newname, &remote) && remote)
			mps3fs_node_set_entry(src, remote);
		if (mps3fs_node_move(fs, src, ddir, newname)) {
			unlock(fs);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		mps3fs_prune_implicit(fs, sdir);
	} else {
		mps3fs_dirty_subtree(fs, src);
		if (dst) {
			mps3fs_dirty_subtree(fs, dst);
			mps3fs_node_detach(fs, dst);
		}
		if (mps3fs_node_move(fs, src, ddir, newname)) {
			unlock(fs);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		mps3fs_dirty_subtree(fs, src);
		keep_parent(fs, sdir);
	}
	touch_dir(fs, sdir);
	touch_dir(fs, ddir);
	unlock(fs);
	fuse_reply_err(req, 0);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct mps3fs *fs = FS(req);
	struct node *n;
	char *target = NULL;

	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (n && n->e.type == MPS3_LINK && n->e.target && !n->is_dir)
		target = strdup(n->e.target);
	unlock(fs);
	if (!target) {
		fuse_reply_err(req, n ? EINVAL : ENOENT);
		return;
	}
	fuse_reply_readlink(req, target);
	free(target);
}

/* ---- setattr -------------------------------------------------------------------- */

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req);
	struct node *n;
	struct stat st;
	json_t *patch = NULL;
	int rc = 0;

	if (is_ctl(ino)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (fs->cfg.read_only && !is_replay(fs, req)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (n && is_replay(fs, req)) {
		json_t *remote = NULL;
		char *path = mps3fs_node_path(n);

		/* Content or attributes changed remotely: take the remote entry whole. */
		if (path && replay_value_node(fs, n, &remote) && remote)
			mps3fs_tree_apply(fs, path, remote, NULL);
		json_decref(remote);
		free(path);
		mps3fs_node_stat(fs, n, &st);
		unlock(fs);
		fuse_reply_attr(req, &st, fs->cfg.timeout_s);
		return;
	}
	unlock(fs);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		struct stage *stg;
		unsigned writers;

		lock(fs);
		if (n->is_dir || n->e.type != MPS3_FILE)
			rc = n->is_dir ? -EISDIR : -EINVAL;
		unlock(fs);
		if (!rc)
			rc = stage_open(fs, n, attr->st_size == 0);
		if (!rc) {
			lock(fs);
			stg = n->stage;
			if (stg && ftruncate(stg->fd, attr->st_size) < 0) {
				rc = -errno;
			} else if (stg) {
				stg->size = (uint64_t)attr->st_size;
				stg->dirty = 1;
				stg->wgen++;
				stg->mtime_ns = mps3fs_now_ns();
			}
			unlock(fs);
		}
		/*
		 * truncate(2) with nobody writing: that was the whole change.  With a
		 * writer (also O_TRUNC of a file being created), its close commits.
		 */
		lock(fs);
		writers = n->nwriters;
		unlock(fs);
		if (!rc && writers == 0) {
			int last = 1;

			rc = snapshot(fs, n, last);
			if (!rc && fs->journal_open)
				rc = mps3_journal_sync(&fs->journal);
			if (!rc && last) {
				struct stage *drop;

				lock(fs);
				drop = n->nwriters == 0 && n->stage && !n->stage->dirty ? n->stage : NULL;
				if (drop)
					n->stage = NULL;
				unlock(fs);
				stage_free(drop);
			}
		}
	}
	if (!rc && (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
			      FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))) {
		patch = json_object();
		if (!patch)
			rc = -ENOMEM;
	}
	if (patch) {
		if (to_set & FUSE_SET_ATTR_MODE)
			json_object_set_new(patch, "mode", json_integer(attr->st_mode & 07777));
		if (to_set & FUSE_SET_ATTR_UID)
			json_object_set_new(patch, "uid", json_integer(attr->st_uid));
		if (to_set & FUSE_SET_ATTR_GID)
			json_object_set_new(patch, "gid", json_integer(attr->st_gid));
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			json_object_set_new(patch, "mtime", json_integer(mps3fs_now_ns()));
		else if (to_set & FUSE_SET_ATTR_MTIME)
			json_object_set_new(patch, "mtime",
					    json_integer((json_int_t)attr->st_mtim.tv_sec * 1000000000 +
							 attr->st_mtim.tv_nsec));
		lock(fs);
		if (n->ino == MPS3FS_ROOT_INO)
			rc = -EPERM; /* the root has no entry of its own */
		else
			rc = modify(fs, n, patch);
		/* A writer's pending content keeps the mtime just set. */
		if (!rc && n->stage && (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)))
			n->stage->mtime_ns = n->e.mtime_ns;
		unlock(fs);
		json_decref(patch);
	}
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	lock(fs);
	mps3fs_node_stat(fs, n, &st);
	unlock(fs);
	fuse_reply_attr(req, &st, fs->cfg.timeout_s);
}

/* ---- directories ------------------------------------------------------------------ */

static void dirh_free(struct dirh *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
	free(d);
}

static int dirh_add(struct dirh *d, size_t *cap, const char *name, uint64_t ino, mode_t type)
{
	if (d->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct dent *v = realloc(d->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->v = v;
		*cap = ncap;
	}
	d->v[d->n].name = strdup(name);
	if (!d->v[d->n].name)
		return -ENOMEM;
	d->v[d->n].ino = ino;
	d->v[d->n].type = type;
	d->n++;
	return 0;
}

/* fsync of a directory (and `mps3 sync MOUNTPOINT`): everything so far into the bucket. */
static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req);
	int rc = fs->journal_open ? mps3_journal_sync(&fs->journal) : 0;
	uint64_t mark = mps3fs_change_mark(fs);

	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, rc ? -rc : -wait_uploaded(fs, req, mark));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req);
	struct dirh *d = calloc(1, sizeof(*d));
	size_t cap = 0;
	struct node *n, *c;
	int rc = 0;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (ino == MPS3FS_CTL_INO) {
		rc = dirh_add(d, &cap, ".", ino, S_IFDIR);
		if (!rc)
			rc = dirh_add(d, &cap, "..", MPS3FS_ROOT_INO, S_IFDIR);
		if (!rc)
			rc = dirh_add(d, &cap, STATUS_NAME, MPS3FS_STATUS_INO, S_IFREG);
		goto out;
	}
	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (!n || !n->is_dir) {
		unlock(fs);
		dirh_free(d);
		fuse_reply_err(req, n ? ENOTDIR : ENOENT);
		return;
	}
	/* A snapshot: offsets stay valid while the directory changes. */
	rc = dirh_add(d, &cap, ".", n->ino, S_IFDIR);
	if (!rc)
		rc = dirh_add(d, &cap, "..", n->parent ? n->parent->ino : n->ino, S_IFDIR);
	for (c = n->child; c && !rc; c = c->next)
		rc = dirh_add(d, &cap, c->name, c->ino,
			      c->is_dir ? S_IFDIR : c->e.type == MPS3_LINK ? S_IFLNK : S_IFREG);
	unlock(fs);
out:
	if (rc) {
		dirh_free(d);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	fuse_reply_open(req, fi);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct mps3fs *fs = FS(req);
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0, i;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (plus)
		lock(fs);
	for (i = (size_t)off; i < d->n; i++) {
		struct stat st;
		size_t len;

		memset(&st, 0, sizeof(st));
		st.st_ino = d->v[i].ino;
		st.st_mode = d->v[i].type;
		if (plus) {
			struct fuse_entry_param e;
			struct node *c = NULL;
			int dot = strcmp(d->v[i].name, ".") == 0 || strcmp(d->v[i].name, "..") == 0;

			memset(&e, 0, sizeof(e));
			if (!dot && !is_ctl(d->v[i].ino))
				c = mps3fs_node_get(fs, d->v[i].ino);
			if (c && c->in_tree) {
				mps3fs_node_stat(fs, c, &e.attr);
				e.ino = c->ino;
				e.attr_timeout = fs->cfg.timeout_s;
				e.entry_timeout = fs->cfg.timeout_s;
			} else if (is_ctl(d->v[i].ino) && !dot) {
				ctl_stat(fs, d->v[i].ino, &e.attr);
				e.ino = d->v[i].ino;
			} else {
				/* Dots and entries gone since opendir: name only, no lookup taken. */
				e.attr = st;
			}
			len = fuse_add_direntry_plus(req, buf + used, size - used, d->v[i].name, &e,
						     (off_t)(i + 1));
			if (len > size - used)
				break;
			if (c && c->in_tree)
				c->nlookup++;
		} else {
			len = fuse_add_direntry(req, buf + used, size - used, d->v[i].name, &st,
						(off_t)(i + 1));
			if (len > size - used)
				break;
		}
		used += len;
	}
	if (plus)
		unlock(fs);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	dirh_free((struct dirh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct mps3fs *fs = FS(req);
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	/* A bucket has no fixed size: report plenty, like other S3 file systems. */
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_blocks = (fsblkcnt_t)1 << 40;
	sv.f_bfree = sv.f_blocks;
	sv.f_bavail = sv.f_blocks;
	lock(fs);
	sv.f_files = fs->tree.nnodes + ((fsfilcnt_t)1 << 30);
	sv.f_ffree = (fsfilcnt_t)1 << 30;
	unlock(fs);
	sv.f_favail = sv.f_ffree;
	sv.f_namemax = MPS3_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* ---- extended attributes ---------------------------------------------------------- */

#define XA_VERSION "user.mps3.version"
#define XA_STATE "user.mps3.state"

static int utf8_text(const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == '\0')
			return 0;
	{
		char *copy = strndup(v, n);
		json_t *j = copy ? json_string(copy) : NULL; /* NULL for invalid UTF-8 */
		int ok = j != NULL;

		json_decref(j);
		free(copy);
		return ok;
	}
}

static json_t *xattr_value(const char *v, size_t n)
{
	char *b64;
	json_t *j;

	if (utf8_text(v, n))
		return json_stringn(v, n);
	b64 = mps3_base64_encode(v, n);
	j = b64 ? json_pack("{s:s}", "base64", b64) : NULL;
	free(b64);
	return j;
}

/* Decoded value of an xattr member into buf (or its size when size is 0). */
static ssize_t xattr_decode(json_t *v, char *buf, size_t size)
{
	const char *s;
	unsigned char *bin;
	size_t n;

	if (json_is_string(v)) {
		s = json_string_value(v);
		n = json_string_length(v);
		if (size == 0)
			return (ssize_t)n;
		if (size < n)
			return -ERANGE;
		memcpy(buf, s, n);
		return (ssize_t)n;
	}
	s = json_string_value(json_object_get(v, "base64"));
	bin = s ? mps3_base64_decode(s, &n) : NULL;
	if (!bin)
		return s && errno == ENOMEM ? -ENOMEM : -EIO;
	if (size && n > size) {
		free(bin);
		return -ERANGE;
	}
	if (size)
		memcpy(buf, bin, n);
	free(bin);
	return (ssize_t)n;
}

static int xattr_name_ok(const char *name, int writing)
{
	if (strncmp(name, "user.", 5) != 0)
		return -EOPNOTSUPP;
	if (strlen(name) > 255)
		return -ERANGE;
	if (writing && strncmp(name, "user.mps3.", 10) == 0)
		return -EPERM;
	return 0;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct mps3fs *fs = FS(req);
	struct node *n;
	json_t *patch = NULL, *val;
	int rc = xattr_name_ok(name, 1), exists;

	if (!rc && (fs->cfg.read_only || is_ctl(ino)))
		rc = fs->cfg.read_only ? -EROFS : -EACCES;
	if (!rc && size > 64 * 1024)
		rc = -E2BIG;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	val = xattr_value(value, size);
	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (!n || n->ino == MPS3FS_ROOT_INO) {
		rc = n ? -EPERM : -ENOENT;
	} else {
		exists = n->e.xattr && json_object_get(n->e.xattr, name);
		if ((flags & XATTR_CREATE) && exists)
			rc = -EEXIST;
		else if ((flags & XATTR_REPLACE) && !exists)
			rc = -ENODATA;
		else if (!val)
			rc = -ENOMEM;
	}
	if (!rc) {
		patch = json_pack("{s:{s:O}}", "xattr", name, val);
		rc = patch ? modify(fs, n, patch) : -ENOMEM;
	}
	unlock(fs);
	json_decref(patch);
	json_decref(val);
	fuse_reply_err(req, -rc);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct mps3fs *fs = FS(req);
	char local[256], *buf = NULL;
	struct node *n;
	ssize_t len = 0;
	int rc = xattr_name_ok(name, 0);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (is_ctl(ino)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (size) {
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (!n) {
		len = -ENOENT;
	} else if (strcmp(name, XA_STATE) == 0) {
		char *path = mps3fs_node_path(n);
		int pending = (path && json_object_get(fs->dirty, path)) || (n->stage && n->stage->dirty);

		free(path);
		len = snprintf(local, sizeof(local), "%s", pending ? "pending" : "committed");
	} else if (strcmp(name, XA_VERSION) == 0) {
		if (n->is_dir || n->e.type != MPS3_FILE)
			len = -ENODATA;
		else
			len = snprintf(local, sizeof(local), "%s", n->e.blob);
	} else {
		json_t *v = n->e.xattr ? json_object_get(n->e.xattr, name) : NULL;

		len = v ? xattr_decode(v, buf, size) : -ENODATA;
		local[0] = '\0';
		if (len >= 0) {
			unlock(fs);
			if (size == 0)
				fuse_reply_xattr(req, (size_t)len);
			else
				fuse_reply_buf(req, buf, (size_t)len);
			free(buf);
			return;
		}
	}
	unlock(fs);
	if (len >= 0 && (strcmp(name, XA_STATE) == 0 || strcmp(name, XA_VERSION) == 0)) {
		if (size == 0)
			fuse_reply_xattr(req, (size_t)len);
		else if (size < (size_t)len)
			fuse_reply_err(req, ERANGE);
		else
			fuse_reply_buf(req, local, (size_t)len);
	} else {
		fuse_reply_err(req, (int)-len);
	}
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct mps3fs *fs = FS(req);
	struct mps3_buf names;
	struct node *n;
	const char *k;
	json_t *v;

	mps3_buf_init(&names, 0);
	lock(fs);
	n = is_ctl(ino) ? NULL : mps3fs_node_get(fs, ino);
	if (n && n->e.xattr)
		json_object_foreach(n->e.xattr, k, v)
			mps3_buf_append(&names, k, strlen(k) + 1);
	unlock(fs);
	/* user.mps3.* are virtual and not listed, so copies (cp -a) do not try to set them. */
	if (size == 0)
		fuse_reply_xattr(req, names.len);
	else if (size < names.len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, mps3_buf_cstr(&names), names.len);
	mps3_buf_dispose(&names);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct mps3fs *fs = FS(req);
	struct node *n;
	json_t *patch;
	int rc = xattr_name_ok(name, 1);

	if (!rc && (fs->cfg.read_only || is_ctl(ino)))
		rc = fs->cfg.read_only ? -EROFS : -EACCES;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (!n)
		rc = -ENOENT;
	else if (!n->e.xattr || !json_object_get(n->e.xattr, name))
		rc = -ENODATA;
	if (!rc) {
		/* The last attribute takes the whole map with it. */
		if (json_object_size(n->e.xattr) == 1)
			patch = json_pack("{s:n}", "xattr");
		else
			patch = json_pack("{s:{s:n}}", "xattr", name);
		rc = patch ? modify(fs, n, patch) : -ENOMEM;
		json_decref(patch);
	}
	unlock(fs);
	fuse_reply_err(req, -rc);
}

/* ---- remote changes ----------------------------------------------------------------- */

void mps3fs_inval_send(struct mps3fs *fs, struct inval *iv)
{
	struct fuse_session *se = fs->session;
	size_t i;

	if (!se)
		return;
	for (i = 0; i < iv->n; i++) {
		if (iv->v[i].name)
			fuse_lowlevel_notify_inval_entry(se, iv->v[i].parent, iv->v[i].name,
							 strlen(iv->v[i].name));
		else
			fuse_lowlevel_notify_inval_inode(se, iv->v[i].ino, 0, 0);
	}
}

void mps3fs_on_changes(void *ctx, const struct mps3_changes *ch, int local)
{
	struct mps3fs *fs = ctx;
	struct inval inv = { 0 };
	size_t i;

	if (local)
		return; /* our own commits: the tree has them already */
	if (fs->cfg.notify == NOTIFY_INOTIFY && fs->notifier) {
		mps3fs_notify_changes(fs, ch);
		return;
	}
	lock(fs);
	for (i = 0; i < ch->n; i++) {
		/* A path with local changes not yet committed keeps them; they win when they land. */
		if (json_object_get(fs->dirty, ch->v[i].path))
			continue;
		mps3fs_tree_apply(fs, ch->v[i].path, ch->v[i].new, &inv);
	}
	unlock(fs);
	if (fs->cfg.notify != NOTIFY_OFF)
		mps3fs_inval_send(fs, &inv);
	mps3fs_inval_dispose(&inv);
}

void mps3fs_resync_subtree(struct mps3fs *fs, const char *path)
{
	json_t *files = mps3_db_files(fs->db);
	struct inval inv = { 0 };
	size_t n = strlen(path);
	const char *k;
	json_t *v;

	if (!files)
		return;
	lock(fs);
	json_object_foreach(files, k, v)
		if ((strncmp(k, path, n) == 0 && (k[n] == '/' || k[n] == '\0')) && !json_object_get(fs->dirty, k))
			mps3fs_tree_apply(fs, k, v, &inv);
	unlock(fs);
	json_decref(files);
	mps3fs_inval_send(fs, &inv);
	mps3fs_inval_dispose(&inv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want &= ~(unsigned)FUSE_CAP_EXPORT_SUPPORT;
	/* Big requests: fewer round trips for sequential I/O. */
	conn->max_write = 1u << 20;
	conn->max_readahead = 1u << 20;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

const struct fuse_lowlevel_ops mps3fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.create = op_create,
};
