/*
 * fs/ops_file.c - open files: reads from the blob cache, the staging file
 * of a file being written, or ranged downloads; writes into the staging
 * file; close() snapshots the content and returns once the change is in
 * the journal, on disk; fsync() waits until it is in the bucket.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mps3/error.h"
#include "mps3/log.h"
#include "batch.h"
#include "control.h"
#include "fetch.h"
#include "hook.h"
#include "inval.h"
#include "ops.h"
#include "stage.h"
#include "local.h"
#include "upload.h"
#include "view.h"

/* Tree lock held.  Read the staging file while the node is being written. */
static int open_content(struct mps3fs *fs, struct fh *fh, struct node *n)
{
	if (n->stage) {
		fh->fd = open(n->stage->path, O_RDONLY | O_CLOEXEC);
		fh->blob[0] = '\0';
		return fh->fd < 0 ? -errno : 0;
	}
	fh->fd = -1;
	if (n->type != MPS3_FILE)
		return 0;
	mps3fs_node_blob(n, fh->blob);
	mps3fs_node_chunks(n, fh->chunks);
	fh->size = n->size;
	if (fh->size > 0) {
		int fd = mps3fs_cache_open(&fs->cache, fh->blob);

		fh->fd = fd >= 0 ? fd : -1;
	}
	return 0;
}

static int open_ctl(struct mps3fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, struct fh *fh)
{
	int err;

	fh->text = mps3fs_ctl_open(fs, ino, fi->flags, &fh->text_len, &err);
	fi->direct_io = 1;
	return err;
}

/* A file of a past state: its content, read like a live file's; never written. */
static int open_view(struct mps3fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, struct fh *fh)
{
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return -EROFS;
	rc = mps3fs_view_content(fs, ino, fh->blob, fh->chunks, &fh->size);
	if (!rc && fh->size > 0) {
		int fd = mps3fs_cache_open(&fs->cache, fh->blob);

		fh->fd = fd >= 0 ? fd : -1;
	}
	fi->keep_cache = 1; /* content named by its hash never changes */
	return rc;
}

static int do_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct fh *fh)
{
	struct mps3fs *fs = FS(req, ino);
	int acc = fi->flags & O_ACCMODE, rc = 0, trunc = (fi->flags & O_TRUNC) != 0;
	struct node *n;

	if (IS_VIEW_INO(ino))
		return open_view(fs, ino, fi, fh);
	if (ino == MPS3FS_BATCH_INO) {
		if (acc == O_RDONLY)
			return -EACCES;
		fh->ctl_batch = 1;
		fi->direct_io = 1;
		return 0;
	}
	if (mps3fs_ctl_owns(ino))
		return open_ctl(fs, ino, fi, fh);
	if (acc != O_RDONLY && fs->cfg.read_only && !mps3fs_req_replay(fs, req))
		return -EROFS;
	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (!n) {
		unlock(fs);
		return -ENOENT;
	}
	n->nopen++;
	fh->node = n;
	if (mps3fs_req_replay(fs, req)) {
		/* The replay only truncates to produce events: no staging, no upload. */
		fh->replay = 1;
		fi->direct_io = 1;
		unlock(fs);
		return 0;
	}
	fh->writer = acc != O_RDONLY;
	if (fh->writer)
		n->nwriters++;
	unlock(fs);

	if (fh->writer && trunc)
		rc = mps3fs_stage_open(fs, n, 1);
	lock(fs);
	if (!rc)
		rc = open_content(fs, fh, n);
	if (!rc && !n->stage && n->type == MPS3_FILE && n->kept)
		fi->keep_cache = 1;
	if (!rc && n->type == MPS3_FILE && !n->stage)
		n->kept = 1;
	if (rc) {
		n->nopen--;
		if (fh->writer)
			n->nwriters--;
		mps3fs_node_maybe_free(fs, n);
	}
	unlock(fs);
	return rc;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *fh = calloc(1, sizeof(*fh));
	int rc = fh ? 0 : -ENOMEM;

	if (fh) {
		fh->fd = -1;
		rc = do_open(req, ino, fi, fh);
	}
	if (rc) {
		if (fh)
			free(fh->text);
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

/*
 * Tree lock held: the fd to read from now.  A writer on this node: everyone
 * reads what has been written so far.  A file that changed (remotely, or by
 * a local writer's close) while open here: the new version, so that tail -f
 * follows.  -1 when the content must be fetched.
 */
static int read_fd(struct mps3fs *fs, struct fh *fh, struct node *n)
{
	char blob[65];

	if (!n->stage && !fh->writer && n->type == MPS3_FILE && !n->is_dir &&
	    strcmp(fh->blob, mps3fs_node_blob(n, blob)) != 0) {
		if (fh->fd >= 0)
			close(fh->fd);
		fh->fd = -1;
		memcpy(fh->blob, blob, sizeof(fh->blob));
		mps3fs_node_chunks(n, fh->chunks);
		fh->size = n->size;
		if (fh->size > 0) {
			int fd = mps3fs_cache_open(&fs->cache, fh->blob);

			fh->fd = fd >= 0 ? fd : -1;
		}
	}
	if (n->stage)
		return dup(n->stage->fd);
	return fh->fd >= 0 ? dup(fh->fd) : -1;
}

/* Content not in the cache: ranged downloads, and the verified copy once it is whole. */
static ssize_t read_fetched(struct mps3fs *fs, struct fh *fh, char *buf, size_t size, off_t off)
{
	/* Read-ahead from the second sequential read on: `head -c` reads one chunk. */
	int seq = off > 0 && (uint64_t)off == fh->next_off, fd = -1;
	ssize_t got = mps3fs_fetch_read(fs, fh->blob, fh->size, fh->chunks, buf, size, (uint64_t)off, seq, &fd);

	/* One line per outage, not per read (corrupt blobs were reported when found). */
	if (got < 0 && got != -EBADMSG && ratelimit(&fs_read_warned))
		mps3_warn("%s: cannot read content (blob %s) from the store: %s; reads of content not in the cache fail with EIO",
			  fs->cfg.url, fh->blob, mps3_error_last((int)got));
	if (fd >= 0) {
		lock(fs);
		if (fh->fd < 0) {
			fh->fd = fd;
			fd = -1;
		}
		unlock(fs);
		if (fd >= 0)
			close(fd);
	}
	return got;
}

static ssize_t do_read(struct mps3fs *fs, struct fh *fh, char *buf, size_t size, off_t off)
{
	ssize_t got = 0;
	int fd;

	if (fh->node) {
		lock(fs);
		fd = read_fd(fs, fh, fh->node);
		unlock(fs);
	} else {
		fd = fh->fd >= 0 ? dup(fh->fd) : -1; /* a view's file: fixed content */
	}
	if (fd >= 0) {
		got = pread(fd, buf, size, off);
		if (got < 0)
			got = -errno;
		close(fd);
	} else if (fh->blob[0] && fh->size > 0) {
		got = read_fetched(fs, fh, buf, size, off);
	}
	/* Content the store lacks, corrupt, or of a size no disk holds: unreadable. */
	if (got == -ENOENT || got == -EBADMSG || got == -EFBIG)
		got = -EIO;
	if (got >= 0)
		fh->next_off = (uint64_t)off + (uint64_t)got;
	return got;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fh *fh = (struct fh *)(uintptr_t)fi->fh;
	char *buf;
	ssize_t got;

	(void)ino;
	if (fh->text) {
		if ((size_t)off >= fh->text_len)
			fuse_reply_buf(req, NULL, 0);
		else
			fuse_reply_buf(req, fh->text + off,
				       (size_t)off + size > fh->text_len ? fh->text_len - (size_t)off : size);
		return;
	}
	buf = malloc(size ? size : 1);
	got = buf ? do_read(FS(req, ino), fh, buf, size, off) : -ENOMEM;
	if (got < 0)
		fuse_reply_err(req, (int)-got);
	else
		fuse_reply_buf(req, buf, (size_t)got);
	free(buf);
}

/* A command written to /.mps3/batch: begin, commit or abort (this handle's batch). */
static int batch_command(struct mps3fs *fs, struct fh *fh, const char *data, size_t size)
{
	char cmd[16];
	size_t n = size < sizeof(cmd) - 1 ? size : sizeof(cmd) - 1;
	int rc;

	memcpy(cmd, data, n);
	cmd[n] = '\0';
	while (n > 0 && (cmd[n - 1] == '\n' || cmd[n - 1] == ' '))
		cmd[--n] = '\0';
	if (strcmp(cmd, "begin") == 0)
		return fh->batch_id ? -EBUSY : mps3fs_batch_begin(fs, &fh->batch_id);
	if (!fh->batch_id || (strcmp(cmd, "commit") != 0 && strcmp(cmd, "abort") != 0))
		return -EINVAL;
	rc = strcmp(cmd, "commit") == 0 ? mps3fs_batch_commit(fs, fh->batch_id) : mps3fs_batch_abort(fs, fh->batch_id);
	fh->batch_id = 0;
	return rc;
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fh *fh = (struct fh *)(uintptr_t)fi->fh;
	ssize_t w;

	(void)ino;
	if (fh->ctl_batch) {
		int rc = batch_command(FS(req, ino), fh, data, size);

		if (rc)
			fuse_reply_err(req, -rc);
		else
			fuse_reply_write(req, size);
		return;
	}
	if (!fh->writer) {
		fuse_reply_err(req, EBADF);
		return;
	}
	w = mps3fs_stage_write(FS(req, ino), fh->node, data, size, off, (fi->flags & O_APPEND) != 0);
	if (w < 0)
		fuse_reply_err(req, (int)-w);
	else
		fuse_reply_write(req, (size_t)w);
}

/*
 * The validation hook's word on the content a close would make the file's.
 * Refused: close() fails with EPERM and the content is not committed; it
 * stays staged while the file is open (a shell closes a redirection's first
 * descriptor before the command writes: that empty state is not the last
 * word), and if it is still refused when the last writer is gone, it is
 * dropped and the file keeps what it had.
 */
static int validate_content(struct mps3fs *fs, struct node *n, uint64_t *validated)
{
	char *path = NULL, stage[512] = "";
	struct stage *st;
	uint64_t wgen = 0;
	int rc;

	*validated = MPS3FS_ANY_WGEN; /* nothing to look at: no content written */
	lock(fs);
	st = n->stage;
	if (st && st->dirty && n->in_tree) {
		path = mps3fs_node_path(n);
		snprintf(stage, sizeof(stage), "%s", st->path);
		wgen = st->wgen;
	}
	unlock(fs);
	if (!path)
		return 0;
	rc = mps3fs_validate(fs, "close", path, NULL, stage, (mode_t)-1);
	free(path);
	lock(fs);
	if (n->stage == st && st->wgen == wgen)
		st->refused = rc != 0;
	unlock(fs);
	*validated = wgen;
	return rc;
}

int mps3fs_snapshot_checked(struct mps3fs *fs, struct node *n, int last)
{
	uint64_t wgen;
	int rc, tries;

	if (!fs->cfg.validate)
		return mps3fs_snapshot(fs, n, last, MPS3FS_ANY_WGEN);
	/* Only what the hook saw becomes the file: content written meanwhile is looked at again. */
	for (tries = 0; tries < 8; tries++) {
		rc = validate_content(fs, n, &wgen);
		if (!rc)
			rc = mps3fs_snapshot(fs, n, last, wgen);
		if (rc != -EAGAIN)
			return rc;
	}
	mps3_warn("%s: inode %" PRIu64 ": its content kept changing while the validation hook looked at it",
		  fs->cfg.url, n->ino);
	return -EBUSY;
}

static int do_flush(struct mps3fs *fs, struct fh *fh)
{
	int rc, last;

	if (fh->text || !fh->writer)
		return 0;
	lock(fs);
	last = fh->node->nwriters <= 1;
	/* Held before the uploader can see it: the release follows, unless another descriptor keeps it open. */
	if (!fs->cfg.sync_close)
		mps3fs_hold(fs, fh->node);
	unlock(fs);
	rc = mps3fs_snapshot_checked(fs, fh->node, last);
	if (rc == -EPERM || rc == -EBUSY)
		return rc; /* refused, and said why */
	if (rc)
		mps3_warn("%s: cannot keep the content written to inode %" PRIu64 ": %s", fs->cfg.url,
			  fh->node->ino, strerror(-rc));
	/* close() returns only once the change is in the journal, on disk. */
	if (!rc)
		rc = mps3fs_durable(fs);
	if (!rc && fs->cfg.sync_close)
		rc = mps3fs_wait_committed(fs, -1);
	return rc;
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_err(req, -do_flush(FS(req, ino), (struct fh *)(uintptr_t)fi->fh));
}

/*
 * The last writer is gone and its content could not be kept (close()
 * said so: ENOSPC, EIO).  The staging file goes, its space with it; the
 * node keeps the entry it had, which is marked so that the bucket and the
 * mount agree on it (a new file: empty).
 */
static void drop_unsaved(struct mps3fs *fs, struct node *n)
{
	struct stage *st;
	char *path;

	lock(fs);
	st = n->stage;
	if (st && n->nwriters == 0) {
		n->stage = NULL;
		n->kept = 0; /* the kernel's pages are of the dropped writes */
		if (n->in_tree && (path = mps3fs_node_path(n)) != NULL) {
			mps3fs_dirty(fs, path);
			free(path);
		}
		mps3_warn("%s: the content last written to inode %" PRIu64 " could not be kept and is dropped",
			  fs->cfg.url, n->ino);
	} else {
		st = NULL;
	}
	unlock(fs);
	mps3fs_stage_free(st);
	if (st) /* a reader still open must not see them either */
		mps3fs_inval_inode(fs, n->ino);
}

/* The last writer is gone and the hook refused what it wrote: the file keeps what it had. */
void mps3fs_drop_refused(struct mps3fs *fs, struct node *n)
{
	struct stage *st;

	lock(fs);
	st = n->nwriters == 0 ? n->stage : NULL;
	if (st) {
		n->stage = NULL;
		n->kept = 0;
	}
	unlock(fs);
	mps3fs_stage_free(st);
	if (st) /* the kernel's size and pages were of the refused content */
		mps3fs_inval_inode(fs, n->ino);
}

static void do_release(struct mps3fs *fs, struct fh *fh)
{
	struct node *n = fh->node;
	struct stage *drop;
	int again, refused;

	if (fh->fd >= 0)
		close(fh->fd);
	if (!n)
		return;
	lock(fs);
	if (fh->writer && n->nwriters > 0 && --n->nwriters == 0)
		mps3fs_unhold(fs, n);
	/* Content left dirty (a failed flush): one more try now, unless the hook refused it. */
	again = fh->writer && n->nwriters == 0 && n->stage && n->stage->dirty;
	refused = again && n->stage->refused;
	unlock(fs);
	if (!refused && again) {
		int rc = mps3fs_snapshot_checked(fs, n, 1);

		refused = rc == -EPERM;
		if (rc && !refused)
			drop_unsaved(fs, n);
	}
	if (refused)
		mps3fs_drop_refused(fs, n);
	lock(fs);
	drop = mps3fs_stage_take_clean(n);
	n->nopen--;
	mps3fs_node_maybe_free(fs, n);
	unlock(fs);
	mps3fs_stage_free(drop);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *fh = (struct fh *)(uintptr_t)fi->fh;

	(void)ino;
	/* A batch whose holder closed (or died) without committing it is thrown away. */
	if (fh->ctl_batch && fh->batch_id)
		mps3fs_batch_abort(FS(req, ino), fh->batch_id);
	do_release(FS(req, ino), fh);
	free(fh->text);
	free(fh);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req, ino);
	struct fh *fh = (struct fh *)(uintptr_t)fi->fh;
	int rc = 0;

	(void)ino;
	(void)datasync;
	if (fh->writer && fh->node)
		rc = mps3fs_snapshot_checked(fs, fh->node, 0);
	if (!rc)
		rc = mps3fs_durable(fs);
	/* fsync(2) promises this file, not the others: a file still open elsewhere does not hold it up. */
	if (!rc)
		rc = mps3fs_wait_uploaded(fs, req, fh->node, mps3fs_change_mark(fs));
	fuse_reply_err(req, -rc);
}

void mps3fs_ops_file(struct fuse_lowlevel_ops *o)
{
	o->open = op_open;
	o->read = op_read;
	o->write = op_write;
	o->flush = op_flush;
	o->release = op_release;
	o->fsync = op_fsync;
}
