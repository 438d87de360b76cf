/*
 * fs/ops.c - the FUSE operations table, the session's init, and the
 * helpers every handler file shares (see ops.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mps3/keys.h"
#include "control.h"
#include "hook.h"
#include "ops.h"
#include "view.h"
#include "replay.h"
#include "stage.h"
#include "upload.h"

int mps3fs_req_replay(struct mps3fs *fs, fuse_req_t req)
{
	return mps3fs_replay_is(fs, fuse_req_ctx(req)->pid);
}

void mps3fs_fill_entry(struct mps3fs *fs, struct node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->attr_timeout = fs->cfg.timeout_s;
	e->entry_timeout = fs->cfg.timeout_s;
	mps3fs_node_stat(fs, n, &e->attr);
	n->nlookup++;
}

int mps3fs_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n > MPS3_NAME_MAX)
		return -ENAMETOOLONG;
	if (n == 0 || strchr(name, '/'))
		return -EINVAL;
	return 0;
}

int mps3fs_may_change(struct mps3fs *fs, fuse_req_t req, fuse_ino_t ino)
{
	if (IS_VIEW_INO(ino))
		return -EROFS; /* the past is read-only */
	if (mps3fs_ctl_owns(ino))
		return -EACCES;
	if (fs->cfg.read_only && !mps3fs_req_replay(fs, req))
		return -EROFS;
	return 0;
}

/* Tree lock held: "dir/name" of the node parent, or NULL. */
static char *path_in(struct mps3fs *fs, fuse_ino_t parent, const char *name)
{
	struct node *dir = mps3fs_node_get(fs, parent);
	char *dp = dir ? mps3fs_node_path(dir) : NULL, *p = NULL;

	if (dp && asprintf(&p, "%s%s%s", dp, dp[0] ? "/" : "", name) < 0)
		p = NULL;
	free(dp);
	return p;
}

/* Tree lock held: where the content of file n can be read now ("" if nowhere local). */
static void content_of(struct mps3fs *fs, struct node *n, char *out, size_t cap)
{
	char blob[65];

	out[0] = '\0';
	if (!n || n->is_dir || n->type != MPS3_FILE)
		return;
	if (n->stage)
		snprintf(out, cap, "%s", n->stage->path);
	else if (mps3fs_cache_has(&fs->cache, mps3fs_node_blob(n, blob)))
		mps3fs_cache_path(&fs->cache, blob, out, cap);
}

int mps3fs_validate_change(struct mps3fs *fs, fuse_req_t req, const char *op, fuse_ino_t parent,
			   const char *name, fuse_ino_t to_parent, const char *to, mode_t mode)
{
	char *path, *top = NULL, content[4200] = "";
	int rc;

	if (!fs->cfg.validate || mps3fs_req_replay(fs, req))
		return 0;
	lock(fs);
	path = name ? path_in(fs, parent, name) : NULL;
	/* What is renamed: its type and, for a file, its content, so that a hook can judge it under its new name. */
	if (name && to_parent) {
		struct node *dir = mps3fs_node_get(fs, parent), *n = dir ? mps3fs_child(fs, dir, name) : NULL;

		content_of(fs, n, content, sizeof(content));
		if (n)
			mode = mps3fs_node_type(fs, n);
	}
	if (!name) { /* the node parent itself */
		struct node *n = mps3fs_node_get(fs, parent);

		path = n ? mps3fs_node_path(n) : NULL;
	}
	if (to_parent)
		top = path_in(fs, to_parent, to);
	unlock(fs);
	rc = path ? mps3fs_validate(fs, op, path, to_parent ? top : to, content[0] ? content : NULL, mode) : 0;
	free(path);
	free(top);
	return rc;
}

int mps3fs_wait_uploaded(struct mps3fs *fs, fuse_req_t req, struct node *n, uint64_t mark)
{
	for (;;) {
		int rc = n ? mps3fs_wait_node(fs, n, mark, 1000) : mps3fs_wait_mark(fs, mark, 1000);

		if (rc != -ETIMEDOUT)
			return rc;
		if (fuse_req_interrupted(req) || (fs->session && fuse_session_exited(fs->session)))
			return -EINTR;
	}
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

static struct fuse_lowlevel_ops table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void fill_table(void)
{
	table.init = op_init;
	mps3fs_ops_node(&table);
	mps3fs_ops_file(&table);
	mps3fs_ops_attr(&table);
	mps3fs_ops_dir(&table);
}

const struct fuse_lowlevel_ops *mps3fs_ops(void)
{
	pthread_once(&table_once, fill_table);
	return &table;
}
