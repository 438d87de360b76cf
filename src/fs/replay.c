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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Parents of path as (implicit) directories, made through the mount. */
static void make_parents(struct mps3fs *fs, const char *path)
{
	char full[8192];
	char *p = strdup(path), *s;

	if (!p)
		return;
	for (s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		snprintf(full, sizeof(full), "%s/%s", fs->cfg.mountpoint, p);
		expect(fs, p, NULL);
		if (mkdir(full, 0777) < 0 && errno != EEXIST)
			mps3_debug("replay mkdir %s: %s", p, strerror(errno));
		unexpect(fs, p);
		*s = '/';
	}
	free(p);
}

static void replay_one(struct mps3fs *fs, struct rop *o)
{
	char full[8192], full2[8192];
	struct mps3_entry e;
	int rc = 0, fd;

	snprintf(full, sizeof(full), "%s/%s", fs->cfg.mountpoint, o->path);
	if (o->value && mps3_entry_parse(&e, o->value))
		memset(&e, 0, sizeof(e));
	switch (o->kind) {
	case R_MKDIR:
		make_parents(fs, o->path);
		expect(fs, o->path, o->value);
		rc = mkdir(full, 0777) < 0 ? -errno : 0;
		unexpect(fs, o->path);
		break;
	case R_RENAME:
		snprintf(full2, sizeof(full2), "%s/%s", fs->cfg.mountpoint, o->to);
		make_parents(fs, o->to);
		expect(fs, o->to, o->value);
		rc = rename(full, full2) < 0 ? -errno : 0;
		unexpect(fs, o->to);
		if (rc) {
			mps3fs_apply_direct(fs, o->path, NULL);
			/* The subtree's values are already in the database: re-read them. */
			mps3fs_resync_subtree(fs, o->to);
			return;
		}
		return;
	case R_CREATE:
		make_parents(fs, o->path);
		expect(fs, o->path, o->value);
		fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0) {
			rc = -errno;
		} else {
			/* IN_MODIFY, as a writer's first write would cause; the size is the remote one. */
			if (ftruncate(fd, (off_t)e.size) < 0)
				mps3_debug("replay truncate %s: %s", o->path, strerror(errno));
			close(fd);
		}
		unexpect(fs, o->path);
		break;
	case R_SYMLINK:
		make_parents(fs, o->path);
		expect(fs, o->path, o->value);
		rc = symlink(e.target ? e.target : "?", full) < 0 ? -errno : 0;
		unexpect(fs, o->path);
		break;
	case R_CONTENT: {
		struct node *n;
		uint64_t ino = 0;

		pthread_mutex_lock(&fs->tree_lock);
		n = mps3fs_lookup_path(fs, o->path);
		if (n && n->stage) {
			/* Being written here: that write wins at its close; no event now. */
			pthread_mutex_unlock(&fs->tree_lock);
			mps3fs_apply_direct(fs, o->path, o->value);
			return;
		}
		pthread_mutex_unlock(&fs->tree_lock);
		expect(fs, o->path, o->value);
		fd = open(full, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = -errno;
		} else {
			if (ftruncate(fd, (off_t)e.size) < 0)
				rc = -errno;
			close(fd);
		}
		unexpect(fs, o->path);
		/* Pages cached for the old content must go, also for readers with it open. */
		pthread_mutex_lock(&fs->tree_lock);
		n = mps3fs_lookup_path(fs, o->path);
		if (n)
			ino = n->ino;
		pthread_mutex_unlock(&fs->tree_lock);
		mps3fs_inval_inode(fs, ino);
		break;
	}
	case R_ATTR: {
		struct timespec ts[2];
		int64_t mt = e.mtime_ns ? e.mtime_ns : mps3fs_now_ns();

		expect(fs, o->path, o->value);
		/* Both times set is what makes the kernel report IN_ATTRIB (mtime alone: IN_MODIFY). */
		ts[1].tv_sec = (time_t)(mt / 1000000000);
		ts[1].tv_nsec = (long)(mt % 1000000000);
		ts[0] = ts[1];
		rc = utimensat(AT_FDCWD, full, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
		unexpect(fs, o->path);
		break;
	}
	case R_DELETE:
		expect(fs, o->path, NULL);
		rc = unlink(full) < 0 ? -errno : 0;
		unexpect(fs, o->path);
		break;
	case R_RMDIR:
		expect(fs, o->path, NULL);
		rc = rmdir(full) < 0 ? -errno : 0;
		unexpect(fs, o->path);
		break;
	}
	if (rc) {
		mps3_debug("replay of %s failed (%s): applied without an event", o->path, strerror(-rc));
		mps3fs_apply_direct(fs, o->path, o->kind == R_DELETE || o->kind == R_RMDIR ? NULL : o->value);
	}
}

static void *replayer(void *arg)
{
	struct replayer *nt = arg;
	struct mps3fs *fs = nt->fs;

	__atomic_store_n(&fs->replay_tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	pthread_mutex_lock(&nt->lock);
	for (;;) {
		struct rbatch *b;
		size_t i;

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
		for (i = 0; i < b->n; i++)
			replay_one(fs, &b->v[i]);
		mps3fs_rbatch_free(b);
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
	if (!n->parent || !wanted(fs, n->parent, n->name, &remote) || !remote)
		return;
	path = mps3fs_node_path(n);
	if (path)
		mps3fs_tree_apply(fs, path, remote, NULL);
	json_decref(remote);
	free(path);
}
