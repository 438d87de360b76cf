/*
 * fs/replay.c - the replay thread and its hooks (see replay.h).
 *
 * DESIGN.  mps3fs_replay_queue() plans a batch (fs/replay_plan.c) and
 * queues it; it never blocks on the mount.  The replay thread takes
 * batches in order and for each operation records the expected value under
 * the tree lock, releases it, and makes the syscall; no lock is held
 * across a syscall into the mount, and the replay thread is not a FUSE
 * worker, so the workers always serve it.  An operation the kernel refuses
 * (the tree changed locally meanwhile, or permissions) falls back to
 * applying the value directly, with kernel cache invalidation but no event.
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "mps3/log.h"
#include "fs.h"
#include "inval.h"
#include "replay.h"
#include "replay_plan.h"

struct replayer {
	struct mps3fs *fs;
	int root;			/* the mount's root while a batch replays; the thread's own */
	int warned;			/* the thread's own */
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rbatch *head, *tail;	/* protected by lock */
	int stop;			/* protected by lock */
	int busy;			/* a batch is being replayed; protected by lock */
};

/* Record what the handlers should apply for path (tree lock taken here). */
static void expect(struct mps3fs *fs, const char *path, json_t *value)
{
	pthread_mutex_lock(&fs->tree_lock);
	json_object_set(fs->replay_expect, path, value ? value : json_null());
	pthread_mutex_unlock(&fs->tree_lock);
}

static void unexpect(struct mps3fs *fs, const char *path)
{
	pthread_mutex_lock(&fs->tree_lock);
	json_object_del(fs->replay_expect, path);
	pthread_mutex_unlock(&fs->tree_lock);
}

/* ---- resolving paths beneath the mount ------------------------------------------- */

/*
 * A directory of the mount, for *at() calls: the path is resolved by the
 * kernel beneath the mount's root and never through a symbolic link (a
 * remote symlink in the middle of a path must not lead the replay, which
 * runs as the daemon's user, anywhere else).  openat2() where the kernel
 * has it; else one component at a time with O_NOFOLLOW.  fd or -errno.
 */
static int open_dir_beneath(int root, const char *path)
{
	struct open_how how;
	char *copy, *comp, *save = NULL;
	int fd, next;

	if (!*path) {
		fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	memset(&how, 0, sizeof(how));
	how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
	fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	if (fd >= 0 || errno != ENOSYS)
		return fd >= 0 ? fd : -errno;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
	for (comp = strtok_r(copy, "/", &save); comp && fd >= 0; comp = strtok_r(NULL, "/", &save)) {
		struct stat st;

		if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
			close(fd);
			fd = -1;
			errno = EINVAL;
			break;
		}
		next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next >= 0 && (fstat(next, &st) < 0 || !S_ISDIR(st.st_mode))) {
			close(next);
			next = -1;
			errno = ENOTDIR;
		}
		close(fd);
		fd = next;
	}
	free(copy);
	return fd >= 0 ? fd : -errno;
}

/* The parent directory of path beneath the mount's root; *name gets the last component. */
static int open_parent(struct replayer *nt, const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	*name = slash ? slash + 1 : path;
	if (!slash)
		return open_dir_beneath(nt->root, "");
	dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return -ENOMEM;
	fd = open_dir_beneath(nt->root, dir);
	free(dir);
	return fd;
}

/* ---- replaying ------------------------------------------------------------------------ */

/* The fallback: the remote state applied to the tree, with invalidation but no event. */
static void apply_without_event(struct mps3fs *fs, const struct rop *o)
{
	if (o->kind == R_RENAME) {
		mps3fs_apply_direct(fs, o->path, NULL);
		/* The subtree's values are already in the database: re-read them. */
		mps3fs_resync_subtree(fs, o->to);
	} else {
		mps3fs_apply_direct(fs, o->path, o->kind == R_DELETE || o->kind == R_RMDIR ? NULL : o->value);
	}
}

/* Parents of path as (implicit) directories, made through the mount. */
static void make_parents(struct replayer *nt, const char *path)
{
	struct mps3fs *fs = nt->fs;
	char *p = strdup(path), *s;

	if (!p)
		return;
	for (s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		const char *name;
		int dfd;

		*s = '\0';
		dfd = open_parent(nt, p, &name);
		expect(fs, p, NULL);
		if (dfd >= 0 && mkdirat(dfd, name, 0777) < 0 && errno != EEXIST)
			mps3_debug("replay mkdir %s: %s", p, strerror(errno));
		unexpect(fs, p);
		if (dfd >= 0)
			close(dfd);
		*s = '/';
	}
	free(p);
}

/* open(2) without following a final symlink, then the remote size: IN_MODIFY (and IN_CREATE). */
static int replay_open_truncate(int dfd, const char *name, int flags, uint64_t size)
{
	int fd = openat(dfd, name, flags | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666), rc = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* A content change: replayed as a truncate, unless it is being written here. */
static int replay_content(struct replayer *nt, struct rop *o, int dfd, const char *name, uint64_t size)
{
	struct mps3fs *fs = nt->fs;
	struct node *n;
	uint64_t ino = 0;
	int rc;

	pthread_mutex_lock(&fs->tree_lock);
	n = mps3fs_lookup_path(fs, o->path);
	if (n && n->stage) {
		/* Being written here: that write wins at its close; no event now. */
		pthread_mutex_unlock(&fs->tree_lock);
		mps3fs_apply_direct(fs, o->path, o->value);
		return 0;
	}
	pthread_mutex_unlock(&fs->tree_lock);
	expect(fs, o->path, o->value);
	rc = replay_open_truncate(dfd, name, 0, size);
	unexpect(fs, o->path);
	/* Pages cached for the old content must go, also for readers with it open. */
	pthread_mutex_lock(&fs->tree_lock);
	n = mps3fs_lookup_path(fs, o->path);
	if (n)
		ino = n->ino;
	pthread_mutex_unlock(&fs->tree_lock);
	mps3fs_inval_inode(fs, ino);
	return rc;
}

static int replay_rename(struct replayer *nt, struct rop *o, int dfd, const char *name)
{
	struct mps3fs *fs = nt->fs;
	const char *toname;
	int tofd, rc;

	make_parents(nt, o->to);
	tofd = open_parent(nt, o->to, &toname);
	expect(fs, o->to, o->value);
	rc = tofd < 0 ? tofd : renameat(dfd, name, tofd, toname) < 0 ? -errno : 0;
	unexpect(fs, o->to);
	if (tofd >= 0)
		close(tofd);
	if (rc) {
		mps3_debug("replay of %s -> %s failed (%s): applied without an event", o->path, o->to,
			   strerror(-rc));
		apply_without_event(fs, o);
	}
	return 0;
}

static mode_t special_mode(enum mps3_ftype t)
{
	return t == MPS3_FIFO ? S_IFIFO : t == MPS3_SOCK ? S_IFSOCK : t == MPS3_CHR ? S_IFCHR : S_IFBLK;
}

/* The syscall of one operation, on the parent dfd. */
static int replay_call(struct replayer *nt, struct rop *o, int dfd, const char *name, const struct mps3_entry *e)
{
	struct timespec ts[2];
	int64_t mt;

	switch (o->kind) {
	case R_MKDIR:
		return mkdirat(dfd, name, 0777) < 0 ? -errno : 0;
	case R_CREATE:
		/* IN_MODIFY too, as a writer's first write would cause; the size is the remote one. */
		return replay_open_truncate(dfd, name, O_CREAT | O_EXCL, e->size);
	case R_SYMLINK:
		return symlinkat(e->target ? e->target : "?", dfd, name) < 0 ? -errno : 0;
	case R_MKNOD:
		return mknodat(dfd, name, special_mode(e->type) | 0600, (dev_t)e->rdev) < 0 ? -errno : 0;
	case R_ATTR:
		/* Both times set is what makes the kernel report IN_ATTRIB (mtime alone: IN_MODIFY). */
		mt = e->mtime_ns ? e->mtime_ns : mps3fs_now_ns();
		ts[1].tv_sec = (time_t)(mt / 1000000000);
		ts[1].tv_nsec = (long)(mt % 1000000000);
		ts[0] = ts[1];
		return utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	case R_DELETE:
		return unlinkat(dfd, name, 0) < 0 ? -errno : 0;
	case R_RMDIR:
		return unlinkat(dfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
	default:
		return -EINVAL;
	}
}

static void replay_one(struct replayer *nt, struct rop *o)
{
	struct mps3fs *fs = nt->fs;
	struct mps3_entry e;
	const char *name;
	int rc, dfd, removal = o->kind == R_DELETE || o->kind == R_RMDIR;

	if (!o->value || mps3_entry_parse(&e, o->value))
		memset(&e, 0, sizeof(e));
	if (o->kind == R_MKDIR || o->kind == R_CREATE || o->kind == R_SYMLINK || o->kind == R_MKNOD)
		make_parents(nt, o->path);
	dfd = open_parent(nt, o->path, &name);
	if (dfd < 0) {
		rc = dfd;
	} else if (o->kind == R_RENAME) {
		rc = replay_rename(nt, o, dfd, name);
	} else if (o->kind == R_CONTENT) {
		rc = replay_content(nt, o, dfd, name, e.size);
	} else {
		expect(fs, o->path, removal ? NULL : o->value);
		rc = replay_call(nt, o, dfd, name, &e);
		unexpect(fs, o->path);
	}
	if (dfd >= 0)
		close(dfd);
	if (rc) {
		mps3_debug("replay of %s failed (%s): applied without an event", o->path, strerror(-rc));
		apply_without_event(fs, o);
	}
}

/*
 * Whether path, which does not exist, is gone with an unmount: its nearest
 * existing ancestor is no FUSE mount.  A branch's root (MNT/.mps3/branches/
 * NAME) stops existing when MNT is unmounted.
 */
static int unmounted_under(const char *path)
{
	char dir[4096];
	struct statfs sfs;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (statfs(dir, &sfs) == 0)
			return sfs.f_type != FUSE_SUPER_MAGIC;
	}
	return 0;
}

/*
 * The mount's root, for one batch.  Opened by this thread, not before the
 * mount serves (opening it waits for the session to answer), and checked to
 * be this mount's root: after a lazy unmount the path names the directory
 * underneath, where nothing must be written.
 */
static void open_root(struct replayer *nt)
{
	struct mps3fs *fs = nt->fs;
	struct statfs sfs;
	struct stat st;
	int fd = open(fs->cfg.mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC), gone = 0;

	if (fd >= 0 && (fstatfs(fd, &sfs) < 0 || sfs.f_type != FUSE_SUPER_MAGIC || fstat(fd, &st) < 0 ||
			st.st_ino != fs->root_ino)) {
		/* No FUSE there any more: unmounted (the session ends soon), or lazily so. */
		gone = fstatfs(fd, &sfs) == 0 && sfs.f_type != FUSE_SUPER_MAGIC;
		close(fd);
		fd = -1;
		errno = ENXIO;
	} else if (fd < 0 && errno == ENOENT) {
		gone = unmounted_under(fs->cfg.mountpoint);
		errno = ENOENT;
	}
	if (fd < 0 && gone) {
		mps3_info("%s: %s is no longer mounted; remote changes apply without inotify events", fs->cfg.url,
			  fs->cfg.mountpoint);
	} else if (fd < 0 && !nt->warned) {
		mps3_warn("%s: %s is not this mount's root (%s); remote changes apply without inotify events",
			  fs->cfg.url, fs->cfg.mountpoint, strerror(errno));
		nt->warned = 1;
	}
	nt->root = fd;
}

static void *replayer(void *arg)
{
	struct replayer *nt = arg;
	struct mps3fs *fs = nt->fs;

	pthread_setname_np(pthread_self(), "mps3-replay");
	__atomic_store_n(&fs->replay_tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	pthread_mutex_lock(&nt->lock);
	for (;;) {
		struct rbatch *b;
		size_t i;
		int big;

		while (!nt->stop && !nt->head)
			pthread_cond_wait(&nt->cond, &nt->lock);
		if (nt->stop)
			break;
		b = nt->head;
		nt->head = b->next;
		if (!nt->head)
			nt->tail = NULL;
		nt->busy = 1;
		pthread_mutex_unlock(&nt->lock);
		open_root(nt);
		for (i = 0; i < b->n; i++)
			if (nt->root >= 0)
				replay_one(nt, &b->v[i]);
			else
				apply_without_event(fs, &b->v[i]);
		/* Held only while replaying: an open fd on the mount would keep umount from working. */
		if (nt->root >= 0)
			close(nt->root);
		nt->root = -1;
		big = b->n >= 4096;
		mps3fs_rbatch_free(b);
		if (big)
			malloc_trim(0); /* what a big batch freed (its plan, the nodes it removed) goes back */
		pthread_mutex_lock(&nt->lock);
		nt->busy = 0;
		pthread_cond_broadcast(&nt->cond);
	}
	pthread_mutex_unlock(&nt->lock);
	return NULL;
}

int mps3fs_replay_start(struct mps3fs *fs)
{
	struct replayer *nt = calloc(1, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	nt->fs = fs;
	nt->root = -1;
	pthread_mutex_init(&nt->lock, NULL);
	pthread_cond_init(&nt->cond, NULL);
	if (pthread_create(&nt->th, NULL, replayer, nt) != 0) {
		pthread_mutex_destroy(&nt->lock);
		pthread_cond_destroy(&nt->cond);
		free(nt);
		return -EAGAIN;
	}
	fs->replayer = nt;
	return 0;
}

void mps3fs_replay_stop(struct mps3fs *fs)
{
	struct replayer *nt = fs->replayer;

	if (!nt)
		return;
	pthread_mutex_lock(&nt->lock);
	nt->stop = 1;
	pthread_cond_broadcast(&nt->cond);
	pthread_mutex_unlock(&nt->lock);
	pthread_join(nt->th, NULL);
	while (nt->head) {
		struct rbatch *b = nt->head;

		nt->head = b->next;
		mps3fs_rbatch_free(b);
	}
	pthread_mutex_destroy(&nt->lock);
	pthread_cond_destroy(&nt->cond);
	free(nt);
	fs->replayer = NULL;
}

void mps3fs_replay_queue(struct mps3fs *fs, const struct mps3_changes *ch)
{
	struct replayer *nt = fs->replayer;
	struct rbatch *b;

	if (!nt || ch->n == 0)
		return;
	b = mps3fs_replay_plan(ch);
	if (!b)
		return;
	if (b->n == 0) {
		mps3fs_rbatch_free(b);
		return;
	}
	pthread_mutex_lock(&nt->lock);
	if (nt->tail)
		nt->tail->next = b;
	else
		nt->head = b;
	nt->tail = b;
	pthread_cond_signal(&nt->cond);
	pthread_mutex_unlock(&nt->lock);
}

int mps3fs_replay_idle(struct mps3fs *fs)
{
	struct replayer *nt = fs->replayer;
	int idle;

	if (!nt)
		return 1;
	pthread_mutex_lock(&nt->lock);
	idle = !nt->head && !nt->busy;
	pthread_mutex_unlock(&nt->lock);
	return idle;
}

/* ---- hooks -------------------------------------------------------------------- */

int mps3fs_replay_is(struct mps3fs *fs, pid_t caller)
{
	int tid = __atomic_load_n(&fs->replay_tid, __ATOMIC_ACQUIRE);

	return tid > 0 && caller == tid;
}

/* The value the replay wants at dir/name: 1 and *out (a new reference, NULL for an implicit directory). */
static int wanted(struct mps3fs *fs, struct node *dir, const char *name, json_t **out)
{
	char *path = mps3fs_child_path(dir, name);
	json_t *v = path ? json_object_get(fs->replay_expect, path) : NULL;

	free(path);
	*out = NULL;
	if (!v)
		return 0;
	*out = json_is_null(v) ? NULL : json_incref(v);
	return 1;
}

int mps3fs_replay_create(struct mps3fs *fs, struct node *dir, const char *name, struct node **out)
{
	json_t *entry = NULL;

	*out = NULL;
	if (!wanted(fs, dir, name, &entry) || !entry || mps3fs_child(fs, dir, name)) {
		json_decref(entry);
		return -EEXIST;
	}
	*out = mps3fs_node_new(fs, dir, name, entry);
	if (!*out) {
		json_decref(entry);
		return -ENOMEM;
	}
	return 0;
}

int mps3fs_replay_mknode(struct mps3fs *fs, struct node *dir, const char *name, json_t *entry,
			 struct node **out)
{
	json_t *remote;

	/* The remote value (NULL: a directory only implied by keys under it). */
	if (wanted(fs, dir, name, &remote)) {
		json_decref(entry);
		entry = remote;
	}
	*out = mps3fs_node_new(fs, dir, name, entry);
	if (!*out) {
		json_decref(entry);
		return -ENOMEM;
	}
	return 0;
}

int mps3fs_replay_remove(struct mps3fs *fs, struct node *dir, struct node *n)
{
	mps3fs_node_detach(fs, n);
	mps3fs_prune_implicit(fs, dir);
	return 0;
}

int mps3fs_replay_rename(struct mps3fs *fs, struct node *sdir, struct node *src, struct node *ddir,
			 struct node *dst, const char *newname)
{
	json_t *remote;

	if (dst)
		mps3fs_node_detach(fs, dst);
	if (wanted(fs, ddir, newname, &remote) && remote)
		mps3fs_node_set_entry(src, remote);
	if (mps3fs_node_move(fs, src, ddir, newname))
		return -ENOMEM;
	mps3fs_prune_implicit(fs, sdir);
	return 0;
}

void mps3fs_replay_setattr(struct mps3fs *fs, struct node *n)
{
	json_t *remote = NULL;
	char *path;

	/* Content or attributes changed remotely: take the remote entry whole. */
	if (!n->parent || !wanted(fs, n->parent, mps3fs_node_name(n), &remote) || !remote)
		return;
	path = mps3fs_node_path(n);
	if (path)
		mps3fs_tree_apply(fs, path, remote, NULL);
	json_decref(remote);
	free(path);
}
