/*
 * fs/ops_dir.c - directories: a listing is a snapshot of the children
 * taken at opendir (offsets stay valid while the directory changes);
 * readdirplus answers attributes from the tree; fsyncdir (and so
 * `mps3 sync MOUNTPOINT`) waits until everything so far is in the bucket;
 * statfs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "mps3/keys.h"
#include "control.h"
#include "ops.h"
#include "view.h"
#include "local.h"
#include "upload.h"

/*
 * An open directory: a snapshot of its entries, packed - each record its
 * inode (8 bytes, unaligned), its type (st_mode's S_IFMT bits shifted
 * down, one byte) and its name with its terminator, one after another in
 * one buffer, and where each starts.  About 25 bytes an entry: a listing
 * of a million names held open costs tens of megabytes, not a string and a
 * slot each.  A big listing's arrays are mappings of their own, grown with
 * mremap, so that what it took goes back to the system when it is closed
 * (from malloc it stayed with the process after the second such listing);
 * a small one's come from malloc, so that directories held open cost no
 * mappings (a process has a limited number, vm.max_map_count).
 */
struct dirh {
	char *buf;
	size_t len, cap;	/* bytes */
	size_t *at;		/* record i starts at buf + at[i] */
	size_t n, ncap;		/* bytes of at */
};

/* Record i, decoded: its name points into the snapshot. */
struct dent {
	const char *name;
	uint64_t ino;
	mode_t type;
};

/* Arrays of this many bytes or more are mappings; smaller ones come from malloc. */
#define MAP_MIN ((size_t)64 * 1024)

static void dirh_get(const struct dirh *d, size_t i, struct dent *de)
{
	const char *r = d->buf + d->at[i];

	memcpy(&de->ino, r, sizeof(de->ino));
	de->type = (mode_t)((unsigned char)r[sizeof(de->ino)] << 12);
	de->name = r + sizeof(de->ino) + 1;
}

static void release(void *p, size_t cap)
{
	if (cap >= MAP_MIN)
		munmap(p, cap);
	else
		free(p);
}

static void dirh_free(struct dirh *d)
{
	if (!d)
		return;
	release(d->buf, d->cap);
	release(d->at, d->ncap);
	free(d);
}

/* Grow the array *p of *cap bytes to hold need bytes (doubling, from 256); 0 or -ENOMEM. */
static int grow(void **p, size_t *cap, size_t need)
{
	size_t ncap = *cap ? *cap : 256;
	void *q;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	if (ncap < MAP_MIN) {
		q = realloc(*p, ncap);
		if (!q)
			return -ENOMEM;
	} else if (*cap >= MAP_MIN) {
		q = mremap(*p, *cap, ncap, MREMAP_MAYMOVE);
		if (q == MAP_FAILED)
			return -ENOMEM;
	} else {
		q = mmap(NULL, ncap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (q == MAP_FAILED)
			return -ENOMEM;
		if (*cap)
			memcpy(q, *p, *cap);
		free(*p);
	}
	*p = q;
	*cap = ncap;
	return 0;
}

static int dirh_add(void *ctx, const char *name, uint64_t ino, mode_t type)
{
	struct dirh *d = ctx;
	size_t nlen = strlen(name) + 1, rlen = sizeof(ino) + 1 + nlen;
	unsigned char t = (unsigned char)((type & S_IFMT) >> 12);
	char *r;

	if (grow((void **)&d->at, &d->ncap, (d->n + 1) * sizeof(*d->at)) ||
	    grow((void **)&d->buf, &d->cap, d->len + rlen))
		return -ENOMEM;
	r = d->buf + d->len;
	memcpy(r, &ino, sizeof(ino));
	r[sizeof(ino)] = (char)t;
	memcpy(r + sizeof(ino) + 1, name, nlen);
	d->at[d->n++] = d->len;
	d->len += rlen;
	return 0;
}

static int list_node(struct mps3fs *fs, fuse_ino_t ino, struct dirh *d)
{
	struct node *n, *c;
	int rc;

	lock(fs);
	n = mps3fs_node_get(fs, ino);
	if (!n || !n->is_dir) {
		unlock(fs);
		return n ? -ENOTDIR : -ENOENT;
	}
	rc = dirh_add(d, ".", n->ino, S_IFDIR);
	if (!rc)
		rc = dirh_add(d, "..", n->parent ? n->parent->ino : n->ino, S_IFDIR);
	for (c = n->child; c && !rc; c = c->next)
		rc = dirh_add(d, mps3fs_node_name(c), c->ino, mps3fs_node_type(fs, c));
	unlock(fs);
	return rc;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req, ino);
	struct dirh *d = calloc(1, sizeof(*d));
	int rc = d ? 0 : -ENOMEM;

	if (d)
		rc = mps3fs_ctl_owns(ino) ? mps3fs_ctl_list(fs, ino, dirh_add, d) : list_node(fs, ino, d);
	if (rc) {
		dirh_free(d);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	fuse_reply_open(req, fi);
}

/* One readdirplus entry (tree lock held): attributes and a kernel reference where there is a node. */
static size_t add_plus(struct mps3fs *fs, fuse_req_t req, char *buf, size_t room, const struct dent *de,
		       off_t next)
{
	int dot = strcmp(de->name, ".") == 0 || strcmp(de->name, "..") == 0;
	struct fuse_entry_param e;
	struct node *c = NULL;
	int view_ref = 0;
	size_t len;

	memset(&e, 0, sizeof(e));
	if (!dot && !mps3fs_ctl_owns(de->ino))
		c = mps3fs_node_get(fs, de->ino);
	if (c && c->in_tree) {
		mps3fs_node_stat(fs, c, &e.attr);
		e.ino = c->ino;
		e.attr_timeout = fs->cfg.timeout_s;
		e.entry_timeout = fs->cfg.timeout_s;
	} else if (mps3fs_ctl_owns(de->ino) && !dot && mps3fs_ctl_stat(fs, de->ino, &e.attr) == 0) {
		e.ino = de->ino;
		if (IS_VIEW_INO(de->ino)) {
			e.attr_timeout = e.entry_timeout = fs->cfg.timeout_s;
			view_ref = 1;
		}
	} else {
		/* Dots and entries gone since opendir: name only, no lookup taken. */
		e.attr.st_ino = de->ino;
		e.attr.st_mode = de->type;
	}
	len = fuse_add_direntry_plus(req, buf, room, de->name, &e, next);
	if (len <= room && c && c->in_tree)
		c->nlookup++;
	if (len <= room && view_ref)
		mps3fs_view_ref(fs, de->ino);
	return len;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi, int plus)
{
	struct mps3fs *fs = FS(req, ino);
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0, i;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (plus)
		lock(fs);
	for (i = off < 0 ? d->n : (size_t)off; i < d->n; i++) {
		struct dent de;
		size_t len;

		dirh_get(d, i, &de);
		if (plus) {
			len = add_plus(fs, req, buf + used, size - used, &de, (off_t)(i + 1));
		} else {
			struct stat st;

			memset(&st, 0, sizeof(st));
			st.st_ino = de.ino;
			st.st_mode = de.type;
			len = fuse_add_direntry(req, buf + used, size - used, de.name, &st, (off_t)(i + 1));
		}
		if (len > size - used)
			break;
		used += len;
	}
	if (plus)
		unlock(fs);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, ino, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	dirh_free((struct dirh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* fsync of a directory (and `mps3 sync MOUNTPOINT`): everything so far into the bucket. */
static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct mps3fs *fs = FS(req, ino), *b;
	int rc = mps3fs_durable(fs);
	size_t i;

	(void)datasync;
	(void)fi;
	if (!rc)
		rc = mps3fs_wait_uploaded(fs, req, NULL, mps3fs_change_mark(fs));
	/* The mount's root holds the branches too: `mps3 sync MNT` is everything written under MNT. */
	for (i = 0; !rc && ino == MPS3FS_ROOT_INO && (b = mps3fs_branch_at(fs, i)) != NULL; i++) {
		rc = mps3fs_durable(b);
		if (!rc)
			rc = mps3fs_wait_uploaded(b, req, NULL, mps3fs_change_mark(b));
	}
	fuse_reply_err(req, -rc);
}

/*
 * A bucket has no size, so the figures are of what does: the cache's disk.
 * Used is the content not in the bucket yet (it must stay on this disk
 * until uploaded); Avail what can be written before uploads must catch
 * up: the disk's free space plus the cached content the bucket holds (the
 * cache drops it when the disk fills).  Size is the two together.  Inodes:
 * the nodes of the tree in use, and no limit to more.  See mps3fs(1).
 */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct mps3fs *fs = FS(req, ino);
	struct statvfs sv, disk;
	uint64_t pending, cached, avail, bs = 4096;
	fsfilcnt_t nodes;

	lock(fs);
	pending = mps3fs_pending_bytes(fs);
	nodes = fs->tree.nnodes;
	unlock(fs);
	pthread_mutex_lock(&fs->cache.lock);
	cached = fs->cache.used;
	pthread_mutex_unlock(&fs->cache.lock);
	avail = fstatvfs(fs->cache.dirfd, &disk) == 0 ? (uint64_t)disk.f_bavail * disk.f_frsize : 0;
	avail += cached > pending ? cached - pending : 0;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = bs;
	sv.f_frsize = bs;
	sv.f_bfree = avail / bs;
	sv.f_bavail = sv.f_bfree;
	sv.f_blocks = sv.f_bfree + (pending + bs - 1) / bs;
	sv.f_ffree = (fsfilcnt_t)1 << 30;
	sv.f_favail = sv.f_ffree;
	sv.f_files = nodes + sv.f_ffree;
	sv.f_namemax = MPS3_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

void mps3fs_ops_dir(struct fuse_lowlevel_ops *o)
{
	o->opendir = op_opendir;
	o->readdir = op_readdir;
	o->readdirplus = op_readdirplus;
	o->releasedir = op_releasedir;
	o->fsyncdir = op_fsyncdir;
	o->statfs = op_statfs;
}
