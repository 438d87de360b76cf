/*
 * fs/ops_attr.c - attributes: stat from the tree; chmod, chown, utimens
 * and truncate as changes of the entry (field-wise merge patches); user.*
 * extended attributes kept in the entry, and the read-only virtual ones
 * user.mps3.version and user.mps3.state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mps3/base64.h"
#include "mps3/buf.h"
#include "control.h"
#include "ops.h"
#include "replay.h"
#include "stage.h"
#include "local.h"
#include "upload.h"
#include "view.h"

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req, ino);
	struct stat st;
	struct node *n;

	(void)fi;
	if (mps3fs_ctl_owns(ino)) {
		int rc = mps3fs_ctl_stat(fs, ino, &st);

		if (rc)
			fuse_reply_err(req, -rc);
		else /* a view never changes */
			fuse_reply_attr(req, &st, IS_VIEW_INO(ino) ? fs->cfg.timeout_s : 0);
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

/* ---- setattr -------------------------------------------------------------------- */

/*
 * truncate(2), or ftruncate of an open file.  With nobody writing, that
 * was the whole change and it is snapshotted at once; with a writer (also
 * O_TRUNC of a file being created), its close commits.
 */
static int set_size(struct mps3fs *fs, struct node *n, uint64_t size)
{
	struct stage *drop;
	unsigned writers;
	int rc = 0;

	lock(fs);
	if (n->is_dir || n->type != MPS3_FILE)
		rc = n->is_dir ? -EISDIR : -EINVAL;
	unlock(fs);
	if (!rc && size > mps3_db_max_file(fs->db))
		rc = -EFBIG;
	if (!rc)
		rc = mps3fs_stage_open(fs, n, size == 0);
	if (!rc)
		rc = mps3fs_stage_truncate(fs, n, size);
	lock(fs);
	writers = n->nwriters;
	unlock(fs);
	if (rc || writers > 0)
		return rc;
	rc = mps3fs_snapshot_checked(fs, n, 1);
	if (rc == -EPERM || rc == -EBUSY) { /* the hook refused the truncated content: the file keeps what it had */
		mps3fs_drop_refused(fs, n);
		return rc;
	}
	if (!rc)
		rc = mps3fs_durable(fs);
	if (!rc) {
		lock(fs);
		drop = mps3fs_stage_take_clean(n);
		unlock(fs);
		mps3fs_stage_free(drop);
	}
	return rc;
}

/* chmod, chown, utimens: one field-wise patch of the entry. */
static int set_meta(struct mps3fs *fs, struct node *n, const struct stat *attr, int to_set)
{
	json_t *patch = json_object();
	int rc;

	if (!patch)
		return -ENOMEM;
	if (to_set & FUSE_SET_ATTR_MODE)
		json_object_set_new(patch, "mode", json_integer(attr->st_mode & 07777));
	if (to_set & FUSE_SET_ATTR_UID)
		json_object_set_new(patch, "uid", json_integer(attr->st_uid));
	if (to_set & FUSE_SET_ATTR_GID)
		json_object_set_new(patch, "gid", json_integer(attr->st_gid));
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		json_object_set_new(patch, "mtime", json_integer(mps3fs_now_ns()));
	else if (to_set & FUSE_SET_ATTR_MTIME)
		json_object_set_new(patch, "mtime", json_integer((json_int_t)attr->st_mtim.tv_sec * 1000000000 +
								  attr->st_mtim.tv_nsec));
	/* An access time is kept when set explicitly (touch -a); reads do not change it (as noatime). */
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		json_object_set_new(patch, "atime", json_integer(mps3fs_now_ns()));
	else if (to_set & FUSE_SET_ATTR_ATIME)
		json_object_set_new(patch, "atime", json_integer((json_int_t)attr->st_atim.tv_sec * 1000000000 +
								  attr->st_atim.tv_nsec));
	lock(fs);
	if (n->ino == fs->root_ino)
		rc = -EPERM; /* the root has no entry of its own */
	else
		rc = mps3fs_node_modify(fs, n, patch);
	/* A writer's pending content, and a directory, keep the mtime just set. */
	if (!rc && (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))) {
		if (n->stage)
			n->stage->mtime_ns = n->mtime_ns;
		n->dir_mtime_ns = 0;
	}
	unlock(fs);
	json_decref(patch);
	return rc;
}

static int do_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct stat *st)
{
	struct mps3fs *fs = FS(req, ino);
	struct node *n;
	int rc = mps3fs_may_change(fs, req, ino);

	if (rc)
		return rc;
	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (n && mps3fs_req_replay(fs, req)) {
		mps3fs_replay_setattr(fs, n);
		mps3fs_node_stat(fs, n, st);
		unlock(fs);
		return 0;
	}
	unlock(fs);
	if (!n)
		return -ENOENT;
	if (to_set & FUSE_SET_ATTR_MODE)
		rc = mps3fs_validate_change(fs, req, "chmod", ino, NULL, 0, NULL, attr->st_mode & 07777);
	if (!rc && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		rc = mps3fs_validate_change(fs, req, "chown", ino, NULL, 0, NULL, (mode_t)-1);
	if (rc)
		return rc;
	if (to_set & FUSE_SET_ATTR_SIZE)
		rc = set_size(fs, n, (uint64_t)attr->st_size);
	if (!rc && (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_MTIME |
			      FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)))
		rc = set_meta(fs, n, attr, to_set);
	if (rc)
		return rc;
	lock(fs);
	mps3fs_node_stat(fs, n, st);
	unlock(fs);
	return 0;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct stat st;
	int rc = do_setattr(req, ino, attr, to_set, &st);

	(void)fi;
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, FS(req, ino)->cfg.timeout_s);
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

static int do_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		       int flags)
{
	struct mps3fs *fs = FS(req, ino);
	struct node *n;
	json_t *patch = NULL, *val;
	int rc = xattr_name_ok(name, 1), exists;

	if (!rc && mps3_db_files_only(fs->db))
		rc = -ENOTSUP; /* the layout has nowhere to keep them */
	if (!rc)
		rc = mps3fs_may_change(fs, req, ino);
	if (!rc && size > 64 * 1024)
		rc = -E2BIG;
	if (rc)
		return rc;
	val = xattr_value(value, size);
	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (!n || n->ino == fs->root_ino) {
		rc = n ? -EPERM : -ENOENT;
	} else {
		exists = mps3fs_node_xattr(n) && json_object_get(mps3fs_node_xattr(n), name);
		if ((flags & XATTR_CREATE) && exists)
			rc = -EEXIST;
		else if ((flags & XATTR_REPLACE) && !exists)
			rc = -ENODATA;
		else if (!val)
			rc = -ENOMEM;
	}
	if (!rc) {
		patch = json_pack("{s:{s:O}}", "xattr", name, val);
		rc = patch ? mps3fs_node_modify(fs, n, patch) : -ENOMEM;
	}
	unlock(fs);
	json_decref(patch);
	json_decref(val);
	return rc;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	fuse_reply_err(req, -do_setxattr(req, ino, name, value, size, flags));
}

/* Text of a virtual user.mps3.* attribute of n (tree lock held): its length, or -ENODATA. */
static ssize_t virtual_xattr(struct mps3fs *fs, struct node *n, const char *name, char *out, size_t cap)
{
	if (strcmp(name, XA_STATE) == 0) {
		char *path = mps3fs_node_path(n);
		int pending = (path && mps3fs_is_dirty(fs, path)) || (n->stage && n->stage->dirty);

		free(path);
		return snprintf(out, cap, "%s", pending ? "pending" : "committed");
	}
	if (strcmp(name, XA_VERSION) == 0 && !n->is_dir && n->type == MPS3_FILE) {
		char blob[65];

		return snprintf(out, cap, "%s", mps3fs_node_blob(n, blob));
	}
	return -ENODATA;
}

/* getxattr of a view's node: its entry's user.* attributes, and user.mps3.version of a file. */
static ssize_t view_getxattr(struct mps3fs *fs, uint64_t ino, const char *name, char *buf, size_t size)
{
	json_t *v = mps3fs_view_entry(fs, ino), *x;
	const char *blob = json_string_value(json_object_get(v, "blob"));
	ssize_t len = -ENODATA;

	if (strcmp(name, XA_VERSION) == 0 && blob) {
		len = (ssize_t)strlen(blob);
		if (size && size < (size_t)len)
			len = -ERANGE;
		else if (size)
			memcpy(buf, blob, (size_t)len);
	} else if (strncmp(name, "user.mps3.", 10) != 0 && (x = json_object_get(json_object_get(v, "xattr"), name))) {
		len = xattr_decode(x, buf, size);
	}
	json_decref(v);
	return len;
}

/* The value of name into buf (size 0: only its length).  Length or -errno. */
static ssize_t do_getxattr(struct mps3fs *fs, fuse_ino_t ino, const char *name, char *buf, size_t size)
{
	char local[256];
	struct node *n;
	ssize_t len;
	int rc = xattr_name_ok(name, 0);

	if (rc)
		return rc;
	if (IS_VIEW_INO(ino))
		return view_getxattr(fs, ino, name, buf, size);
	if (mps3fs_ctl_owns(ino))
		return -ENODATA;
	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (!n) {
		len = -ENOENT;
	} else if (strncmp(name, "user.mps3.", 10) == 0) {
		len = virtual_xattr(fs, n, name, local, sizeof(local));
		if (len >= 0 && size && size < (size_t)len)
			len = -ERANGE;
		else if (len >= 0 && size)
			memcpy(buf, local, (size_t)len);
	} else {
		json_t *v = mps3fs_node_xattr(n) ? json_object_get(mps3fs_node_xattr(n), name) : NULL;

		len = v ? xattr_decode(v, buf, size) : -ENODATA;
	}
	unlock(fs);
	return len;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	ssize_t len = size && !buf ? -ENOMEM : do_getxattr(FS(req, ino), ino, name, buf, size);

	if (len < 0)
		fuse_reply_err(req, (int)-len);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else
		fuse_reply_buf(req, buf, (size_t)len);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct mps3fs *fs = FS(req, ino);
	struct mps3_buf names;
	struct node *n;
	const char *k;
	json_t *v, *x;

	mps3_buf_init(&names, 0);
	if (IS_VIEW_INO(ino)) {
		json_t *ve = mps3fs_view_entry(fs, ino);

		json_object_foreach(json_object_get(ve, "xattr"), k, x)
			if (xattr_name_ok(k, 1) == 0)
				mps3_buf_append(&names, k, strlen(k) + 1);
		json_decref(ve);
	}
	lock(fs);
	n = mps3fs_ctl_owns(ino) ? NULL : mps3fs_node_get(fs, ino);
	/*
	 * Only names this mount would let be set: user.*, never the virtual
	 * user.mps3.* (copies with cp -a must not try to set them), and nothing
	 * a bucket writer planted as security.* or trusted.*.
	 */
	if (n && mps3fs_node_xattr(n))
		json_object_foreach(mps3fs_node_xattr(n), k, v)
			if (xattr_name_ok(k, 1) == 0)
				mps3_buf_append(&names, k, strlen(k) + 1);
	unlock(fs);
	if (size == 0)
		fuse_reply_xattr(req, names.len);
	else if (size < names.len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, mps3_buf_cstr(&names), names.len);
	mps3_buf_dispose(&names);
}

static int do_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct mps3fs *fs = FS(req, ino);
	struct node *n;
	json_t *patch;
	int rc = xattr_name_ok(name, 1);

	if (!rc)
		rc = mps3fs_may_change(fs, req, ino);
	if (rc)
		return rc;
	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (!n)
		rc = -ENOENT;
	else if (!mps3fs_node_xattr(n) || !json_object_get(mps3fs_node_xattr(n), name))
		rc = -ENODATA;
	if (!rc) {
		/* The last attribute takes the whole map with it. */
		if (json_object_size(mps3fs_node_xattr(n)) == 1)
			patch = json_pack("{s:n}", "xattr");
		else
			patch = json_pack("{s:{s:n}}", "xattr", name);
		rc = patch ? mps3fs_node_modify(fs, n, patch) : -ENOMEM;
		json_decref(patch);
	}
	unlock(fs);
	return rc;
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, -do_removexattr(req, ino, name));
}

void mps3fs_ops_attr(struct fuse_lowlevel_ops *o)
{
	o->getattr = op_getattr;
	o->setattr = op_setattr;
	o->setxattr = op_setxattr;
	o->getxattr = op_getxattr;
	o->listxattr = op_listxattr;
	o->removexattr = op_removexattr;
}
