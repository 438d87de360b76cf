/*
 * fs/ops.h - what the FUSE handlers (fs/ops_*.c) share.  Each handler is a
 * thin op_x() that calls a do_x() returning 0 or a negative errno and
 * replies once, in the style of libfuse's example/passthrough_ll.c:
 *   ops_node.c  lookup, forget, create, mkdir, symlink, mknod, link,
 *               unlink, rmdir, rename, readlink
 *   ops_file.c  open, read, write, flush, release, fsync
 *   ops_attr.c  getattr, setattr and extended attributes
 *   ops_dir.c   opendir, readdir(plus), releasedir, fsyncdir, statfs
 *   ops.c       init and the operations table
 *
 * Threads: FUSE workers.  They take fs->tree_lock for the tree and never
 * hold it across I/O (content, the store) or a reply.
 */
#ifndef MPS3FS_OPS_H
#define MPS3FS_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "branches.h"
#include "fs.h"

/* An open file. */
struct fh {
	struct node *node;		/* NULL for control files */
	int fd;				/* cached blob or staging file, -1: fetch on read */
	char blob[MPS3_SHA256_HEX_LEN + 1];
	char chunks[MPS3_SHA256_HEX_LEN + 1];	/* its chunk list, "" if none */
	uint64_t size;			/* of that blob */
	int writer;
	int replay;			/* opened by the replay thread: applies remote state only */
	uint64_t next_off;		/* where a sequential reader goes next */
	char *text;			/* control files: content fixed at open */
	size_t text_len;
	int ctl_batch;			/* /.mps3/batch: commands are written to it */
	uint64_t batch_id;		/* the batch this handle began (aborted at release if still open) */
};

/* The instance (the main line or a branch, fs/branches.h) that inode ino belongs to. */
static inline struct mps3fs *FS(fuse_req_t req, fuse_ino_t ino)
{
	return mps3fs_route(fuse_req_userdata(req), ino);
}

static inline void lock(struct mps3fs *fs)
{
	pthread_mutex_lock(&fs->tree_lock);
}

static inline void unlock(struct mps3fs *fs)
{
	pthread_mutex_unlock(&fs->tree_lock);
}

/* Whether the request comes from the replay thread (fs/replay.c). */
int mps3fs_req_replay(struct mps3fs *fs, fuse_req_t req);
/* An entry reply for n, counting a kernel reference (tree lock held). */
void mps3fs_fill_entry(struct mps3fs *fs, struct node *n, struct fuse_entry_param *e);
/* 0, -ENAMETOOLONG or -EINVAL for a name a directory may hold. */
int mps3fs_name_ok(const char *name);
/* The change a writer asks for may happen: 0, -EROFS or -EACCES (the control directory). */
int mps3fs_may_change(struct mps3fs *fs, fuse_req_t req, fuse_ino_t ino);
/*
 * The validation hook's word on a change of name in parent (to: the other
 * end of a rename, or a link's target when to_parent is 0): 0, or -EPERM.
 * Replayed changes and mounts without a hook always pass.  No lock held.
 */
int mps3fs_validate_change(struct mps3fs *fs, fuse_req_t req, const char *op, fuse_ino_t parent,
			   const char *name, fuse_ino_t to_parent, const char *to, mode_t mode);

/*
 * Node n's written content into the cache and its entry (mps3fs_snapshot),
 * accepted by the validation hook first when the mount has one: -EPERM
 * (refused), -EBUSY (written to all the while the hook looked), or
 * mps3fs_snapshot's errors.  No lock held.
 */
int mps3fs_snapshot_checked(struct mps3fs *fs, struct node *n, int last);
/* No writer left and the hook refused the staged content: it goes, the file keeps what it had.  No lock held. */
void mps3fs_drop_refused(struct mps3fs *fs, struct node *n);

/* Each file fills in its handlers (they are static there). */
void mps3fs_ops_node(struct fuse_lowlevel_ops *o);
void mps3fs_ops_file(struct fuse_lowlevel_ops *o);
void mps3fs_ops_attr(struct fuse_lowlevel_ops *o);
void mps3fs_ops_dir(struct fuse_lowlevel_ops *o);
/* The whole table (ops.c). */
const struct fuse_lowlevel_ops *mps3fs_ops(void);

/*
 * Wait until every change up to MARK (of node n only, if not NULL) is in
 * the bucket: 0, -EIO when what is left is parked (it cannot be uploaded),
 * or -EINTR when the caller gave up (a signal) or the mount is going away
 * (unmount drains).
 */
int mps3fs_wait_uploaded(struct mps3fs *fs, fuse_req_t req, struct node *n, uint64_t mark);

#endif
