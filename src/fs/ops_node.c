/*
 * fs/ops_node.c - the namespace: lookup and forget, creating files,
 * directories and links, removing and renaming them.  Every change takes
 * effect in the tree at once and is queued for upload (fs/upload.c);
 * requests of the replay thread apply remote state instead
 * (fs/replay.c's hooks).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mps3/hash.h"
#include "mps3/error.h"
#include "mps3/keys.h"
#include "control.h"
#include "ops.h"
#include "replay.h"
#include "stage.h"
#include "local.h"
#include "upload.h"
#include "view.h"

/* ---- lookup and forget ------------------------------------------------------ */

static int do_lookup(struct mps3fs *fs, fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
	struct node *dir, *n;
	uint64_t ino;
	int err;

	memset(e, 0, sizeof(*e));
	if (strlen(name) > MPS3_NAME_MAX)
		return -ENAMETOOLONG;
	if (mps3fs_ctl_lookup(fs, parent, name, &ino, &e->attr, &err)) {
		e->ino = ino;
		/* Views never change; a relative time ("-2h") means another one at the next lookup. */
		if (!err && IS_VIEW_INO(ino) && !(parent == MPS3FS_AT_INO && name[0] == '-'))
			e->attr_timeout = e->entry_timeout = fs->cfg.timeout_s;
		return err;
	}
	lock(fs);
	dir = mps3fs_node_get(fs, parent);
	n = dir ? mps3fs_child(fs, dir, name) : NULL;
	if (n)
		mps3fs_fill_entry(fs, n, e);
	else
		/* A negative entry, cached like a positive one; remote creations invalidate it. */
		e->entry_timeout = fs->cfg.timeout_s;
	unlock(fs);
	return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int rc = do_lookup(FS(req, parent), parent, name, &e);

	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void forget_one(struct mps3fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	struct node *n;

	if (IS_VIEW_INO(ino))
		mps3fs_view_forget(fs, ino, nlookup);
	if (mps3fs_ctl_owns(ino) || ino == fs->root_ino)
		return;
	n = mps3fs_node_get(fs, ino);
	if (!n)
		return;
	n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
	mps3fs_node_maybe_free(fs, n);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct mps3fs *fs = FS(req, ino);

	lock(fs);
	forget_one(fs, ino, nlookup);
	unlock(fs);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *v)
{
	size_t i;

	for (i = 0; i < count; i++) {
		struct mps3fs *fs = FS(req, v[i].ino);

		lock(fs);
		forget_one(fs, v[i].ino, v[i].nlookup);
		unlock(fs);
	}
	fuse_reply_none(req);
}

/* ---- creating ------------------------------------------------------------------- */

/* The longest path below n, relative to n ("" for a leaf): its length. */
static size_t longest_below(struct node *n)
{
	size_t best = 0, l;
	struct node *c;

	for (c = n->child; c; c = c->next) {
		l = strlen(mps3fs_node_name(c)) + 1 + longest_below(c);
		if (l > best)
			best = l;
	}
	return best;
}

/*
 * Whether dir/name, and everything n holds under it (n may be NULL), are
 * paths the bucket can take (tree lock held): refused now with the errno a
 * user understands, instead of failing every upload later.
 */
static int path_allowed(struct node *dir, const char *name, struct node *n)
{
	char *path = mps3fs_child_path(dir, name);
	int rc;

	if (!path)
		return -ENOMEM;
	rc = mps3_path_check(path);
	if (!rc && n && strlen(path) + longest_below(n) > MPS3_PATH_MAX)
		rc = -ENAMETOOLONG;
	free(path);
	mps3_error_clear();
	return rc == -ENAMETOOLONG || rc == -EILSEQ ? rc : rc ? -EINVAL : 0;
}

/* The directory a new name goes into (tree lock held): -ENOENT, -EEXIST, a path error or 0. */
static int new_name_in(struct mps3fs *fs, fuse_ino_t parent, const char *name, struct node **dir)
{
	*dir = mps3fs_node_get(fs, parent);
	if (!*dir || !(*dir)->in_tree || !(*dir)->is_dir)
		return -ENOENT;
	if (mps3fs_child(fs, *dir, name))
		return -EEXIST;
	return path_allowed(*dir, name, NULL);
}

/* A remote file arriving: its entry as it is, nothing to stage or upload. */
static int create_replayed(struct mps3fs *fs, fuse_ino_t parent, const char *name, struct fh *fh,
			   struct fuse_entry_param *e)
{
	struct node *dir, *n = NULL;
	int rc;

	lock(fs);
	dir = mps3fs_node_get(fs, parent);
	rc = dir ? mps3fs_replay_create(fs, dir, name, &n) : -EEXIST;
	if (!rc) {
		fh->node = n;
		fh->replay = 1;
		n->nopen++;
		mps3fs_fill_entry(fs, n, e);
	}
	unlock(fs);
	return rc;
}

static int do_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fh *fh,
		     struct fuse_entry_param *e)
{
	struct mps3fs *fs = FS(req, parent);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct node *dir, *n = NULL;
	json_t *entry;
	int rc = mps3fs_name_ok(name);

	if (!rc)
		rc = mps3fs_may_change(fs, req, parent);
	if (rc)
		return rc;
	if (mps3fs_req_replay(fs, req))
		return create_replayed(fs, parent, name, fh, e);
	entry = mps3fs_entry_new(fs, MPS3_FILE, mode, &ctx->uid, &ctx->gid, MPS3_EMPTY_SHA256, 0, NULL);
	if (!entry)
		return -ENOMEM;
	lock(fs);
	rc = new_name_in(fs, parent, name, &dir);
	if (!rc) {
		n = mps3fs_node_new(fs, dir, name, entry);
		rc = n ? 0 : -ENOMEM;
	}
	if (rc) {
		unlock(fs);
		json_decref(entry);
		return rc;
	}
	n->nopen++;
	n->nwriters++;
	fh->node = n;
	fh->writer = 1;
	unlock(fs);
	/* An empty staging file: a new file is committed at its close, content and all. */
	rc = mps3fs_stage_open(fs, n, 1);
	lock(fs);
	if (rc) {
		n->nopen--;
		n->nwriters--;
		mps3fs_node_detach(fs, n);
	} else {
		mps3fs_fill_entry(fs, n, e);
	}
	unlock(fs);
	return rc;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct fh *fh = calloc(1, sizeof(*fh));
	int rc = fh ? 0 : -ENOMEM;

	if (fh) {
		fh->fd = -1;
		rc = do_create(req, parent, name, mode, fh, &e);
	}
	if (rc) {
		free(fh);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)fh;
	fuse_reply_create(req, &e, fi);
}

/* mkdir, symlink, mknod: a node with entry (consumed). */
static int do_make(fuse_req_t req, fuse_ino_t parent, const char *name, json_t *entry,
		   struct fuse_entry_param *e)
{
	struct mps3fs *fs = FS(req, parent);
	struct node *dir, *n = NULL;
	char *path;
	int rc = entry ? mps3fs_name_ok(name) : -ENOMEM;

	if (!rc)
		rc = mps3fs_may_change(fs, req, parent);
	if (!rc) {
		struct mps3_entry pe;
		int ok = mps3_entry_parse(&pe, entry) == 0;
		const char *op = ok && pe.type == MPS3_DIR ? "mkdir" : ok && pe.type == MPS3_LINK ? "symlink" : "mknod";

		rc = mps3fs_validate_change(fs, req, op, parent, name, 0, ok && pe.type == MPS3_LINK ? pe.target : NULL,
					    ok && pe.mode != MPS3_UNSET_MODE ? (mode_t)pe.mode : (mode_t)-1);
	}
	if (rc) {
		json_decref(entry);
		return rc;
	}
	lock(fs);
	rc = new_name_in(fs, parent, name, &dir);
	if (rc) {
		json_decref(entry);
	} else if (mps3fs_req_replay(fs, req)) {
		rc = mps3fs_replay_mknode(fs, dir, name, entry, &n);
	} else {
		n = mps3fs_node_new(fs, dir, name, entry);
		if (!n) {
			json_decref(entry);
			rc = -ENOMEM;
		} else {
			path = mps3fs_node_path(n);
			if (path)
				mps3fs_dirty(fs, path);
			free(path);
		}
	}
	if (!rc)
		mps3fs_fill_entry(fs, n, e);
	unlock(fs);
	return rc;
}

static void reply_make(fuse_req_t req, int rc, struct fuse_entry_param *e)
{
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, e);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	json_t *entry = mps3fs_entry_new(FS(req, parent), MPS3_DIR, mode, &ctx->uid, &ctx->gid, NULL, 0, NULL);

	reply_make(req, do_make(req, parent, name, entry, &e), &e);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	json_t *entry;

	if (strlen(link) == 0 || strlen(link) > MPS3_PATH_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if (mps3_db_files_only(FS(req, parent)->db)) {
		fuse_reply_err(req, EPERM); /* as on a file system without links (vfat) */
		return;
	}
	entry = mps3fs_entry_new(FS(req, parent), MPS3_LINK, 0777, &ctx->uid, &ctx->gid, NULL, strlen(link), link);
	reply_make(req, do_make(req, parent, name, entry, &e), &e);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	json_t *entry;

	enum mps3_ftype type;

	if (strlen(name) > MPS3_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	/*
	 * FIFOs, sockets and devices are entries of their own: the name and the
	 * attributes travel, the data never does (the kernel serves it, as on
	 * NFS).  The VFS has checked CAP_MKNOD for devices.
	 */
	switch (mode & S_IFMT) {
	case S_IFIFO:
		type = MPS3_FIFO;
		break;
	case S_IFSOCK:
		type = MPS3_SOCK;
		break;
	case S_IFCHR:
		type = MPS3_CHR;
		break;
	case S_IFBLK:
		type = MPS3_BLK;
		break;
	case S_IFREG:
	case 0:
		type = MPS3_FILE;
		break;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (type != MPS3_FILE && mps3_db_files_only(FS(req, parent)->db)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	entry = mps3fs_entry_new(FS(req, parent), type, mode, &ctx->uid, &ctx->gid,
				 type == MPS3_FILE ? MPS3_EMPTY_SHA256 : NULL, 0, NULL);
	if (entry && (type == MPS3_CHR || type == MPS3_BLK))
		json_object_set_new(entry, "rdev", json_integer((json_int_t)rdev));
	reply_make(req, do_make(req, parent, name, entry, &e), &e);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newparent;
	/* A key has one path: a hard link cannot be represented, and a copy would surprise. */
	fuse_reply_err(req, strlen(newname) > MPS3_NAME_MAX ? ENAMETOOLONG : EPERM);
}

/* ---- removing ------------------------------------------------------------------- */

static int do_remove(fuse_req_t req, fuse_ino_t parent, const char *name, int dir_wanted)
{
	struct mps3fs *fs = FS(req, parent);
	struct node *dir, *n;
	char *path;
	int rc = mps3fs_may_change(fs, req, parent);

	if (!rc && parent == fs->root_ino && strcmp(name, MPS3FS_CTL_NAME) == 0)
		rc = -EACCES;
	if (!rc)
		rc = mps3fs_validate_change(fs, req, dir_wanted ? "rmdir" : "unlink", parent, name, 0, NULL, (mode_t)-1);
	if (rc)
		return rc;
	lock(fs);
	dir = mps3fs_node_get(fs, parent);
	n = dir ? mps3fs_child(fs, dir, name) : NULL;
	if (!n)
		rc = -ENOENT;
	else if (dir_wanted && !n->is_dir)
		rc = -ENOTDIR;
	else if (!dir_wanted && n->is_dir)
		rc = -EISDIR;
	else if (dir_wanted && n->nchildren > 0)
		rc = -ENOTEMPTY;
	else if (mps3fs_req_replay(fs, req))
		rc = mps3fs_replay_remove(fs, dir, n);
	else if (!(path = mps3fs_node_path(n)))
		rc = -ENOMEM;
	else {
		/* Marked after the change, so the journal records the path as absent. */
		mps3fs_node_detach(fs, n);
		mps3fs_dirty(fs, path);
		free(path);
		mps3fs_keep_parent(fs, dir);
	}
	unlock(fs);
	return rc;
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -do_remove(req, parent, name, 0));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -do_remove(req, parent, name, 1));
}

/* ---- renaming ------------------------------------------------------------------- */

static int is_ancestor(struct node *a, struct node *n)
{
	for (; n; n = n->parent)
		if (n == a)
			return 1;
	return 0;
}

/* What rename(2) says of these nodes (tree lock held): 0, 1 (nothing to do) or -errno. */
static int rename_check(struct node *src, struct node *ddir, struct node *dst, unsigned flags)
{
	if (!src || !ddir || !ddir->in_tree)
		return -ENOENT;
	if (src == dst)
		return 1;
	if (is_ancestor(src, ddir))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && dst)
		return -EEXIST;
	if ((flags & RENAME_EXCHANGE) && !dst)
		return -ENOENT;
	if (dst && !(flags & RENAME_EXCHANGE)) {
		if (src->is_dir && !dst->is_dir)
			return -ENOTDIR;
		if (!src->is_dir && dst->is_dir)
			return -EISDIR;
		if (dst->is_dir && dst->nchildren > 0)
			return -ENOTEMPTY;
	}
	return 0;
}

/*
 * RENAME_EXCHANGE: both subtrees change paths, old ones go, new ones come,
 * in one batch.  Every path is marked after the moves, so the journal
 * records what each holds then.
 */
static int rename_exchange(struct mps3fs *fs, struct node *sdir, struct node *src, const char *name,
			   struct node *ddir, struct node *dst, const char *newname)
{
	json_t *before_src, *before_dst;
	char tmpname[64];
	int rc = 0;

	if (is_ancestor(dst, sdir))
		return -EINVAL;
	before_src = mps3fs_subtree_paths(src);
	before_dst = mps3fs_subtree_paths(dst);
	snprintf(tmpname, sizeof(tmpname), ".mps3-exchange-%" PRIu64, src->ino);
	if (!before_src || !before_dst || mps3fs_node_move(fs, src, ddir, tmpname) ||
	    mps3fs_node_move(fs, dst, sdir, name) || mps3fs_node_move(fs, src, ddir, newname))
		rc = -ENOMEM;
	mps3fs_dirty_paths(fs, before_src);
	mps3fs_dirty_paths(fs, before_dst);
	mps3fs_dirty_subtree(fs, src);
	mps3fs_dirty_subtree(fs, dst);
	json_decref(before_src);
	json_decref(before_dst);
	return rc;
}

/* A move of src (and what it holds) over dst, if any: the old paths marked after it, as absent. */
static int rename_local(struct mps3fs *fs, struct node *sdir, struct node *src, struct node *ddir,
			struct node *dst, const char *newname)
{
	json_t *before = mps3fs_subtree_paths(src), *replaced = dst ? mps3fs_subtree_paths(dst) : NULL;
	int rc = 0;

	if (!before || (dst && !replaced)) {
		json_decref(before);
		json_decref(replaced);
		return -ENOMEM;
	}
	if (dst)
		mps3fs_node_detach(fs, dst);
	if (mps3fs_node_move(fs, src, ddir, newname))
		rc = -ENOMEM;
	mps3fs_dirty_paths(fs, before);
	mps3fs_dirty_paths(fs, replaced);
	mps3fs_dirty_subtree(fs, src);
	mps3fs_keep_parent(fs, sdir);
	json_decref(before);
	json_decref(replaced);
	return rc;
}

static int do_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		     const char *newname, unsigned int flags)
{
	struct mps3fs *fs = FS(req, parent);
	struct node *sdir, *ddir, *src, *dst;
	int rc = mps3fs_name_ok(newname);

	if (!rc && FS(req, newparent) != fs)
		rc = -EXDEV; /* between the main line and a branch, or two branches: mv copies */
	if (!rc)
		rc = mps3fs_may_change(fs, req, parent);
	if (!rc)
		rc = mps3fs_may_change(fs, req, newparent);
	if (!rc && (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)))
		rc = -EINVAL;
	if (!rc)
		rc = mps3fs_validate_change(fs, req, "rename", parent, name, newparent, newname, (mode_t)-1);
	if (rc)
		return rc;
	lock(fs);
	sdir = mps3fs_node_get(fs, parent);
	ddir = mps3fs_node_get(fs, newparent);
	src = sdir ? mps3fs_child(fs, sdir, name) : NULL;
	dst = ddir ? mps3fs_child(fs, ddir, newname) : NULL;
	rc = rename_check(src, ddir, dst, flags);
	if (rc == 0)
		rc = path_allowed(ddir, newname, src);
	if (rc == 0 && (flags & RENAME_EXCHANGE))
		rc = path_allowed(sdir, name, dst);
	if (rc == 0) {
		if (flags & RENAME_EXCHANGE)
			rc = rename_exchange(fs, sdir, src, name, ddir, dst, newname);
		else if (mps3fs_req_replay(fs, req))
			rc = mps3fs_replay_rename(fs, sdir, src, ddir, dst, newname);
		else
			rc = rename_local(fs, sdir, src, ddir, dst, newname);
	}
	unlock(fs);
	return rc < 0 ? rc : 0;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	fuse_reply_err(req, -do_rename(req, parent, name, newparent, newname, flags));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct mps3fs *fs = FS(req, ino);
	struct node *n;
	char *target = NULL;
	int err;

	if (IS_VIEW_INO(ino)) {
		target = mps3fs_view_readlink(fs, ino, &err);
		if (target)
			fuse_reply_readlink(req, target);
		else
			fuse_reply_err(req, -err);
		free(target);
		return;
	}
	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (n && n->type == MPS3_LINK && mps3fs_node_target(n) && !n->is_dir)
		target = strdup(mps3fs_node_target(n));
	unlock(fs);
	if (!target) {
		fuse_reply_err(req, n ? EINVAL : ENOENT);
		return;
	}
	fuse_reply_readlink(req, target);
	free(target);
}

void mps3fs_ops_node(struct fuse_lowlevel_ops *o)
{
	o->lookup = op_lookup;
	o->forget = op_forget;
	o->forget_multi = op_forget_multi;
	o->create = op_create;
	o->mkdir = op_mkdir;
	o->symlink = op_symlink;
	o->mknod = op_mknod;
	o->link = op_link;
	o->unlink = op_unlink;
	o->rmdir = op_rmdir;
	o->rename = op_rename;
	o->readlink = op_readlink;
}
