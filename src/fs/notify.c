/*
 * fs/notify.c - remote changes as real inotify events.
 *
 * The kernel produces no inotify event for fuse_lowlevel_notify_inval_*
 * (checked on this kernel), only for operations that go through the VFS.
 * So in notify=inotify mode the daemon replays each remote change through
 * its own mount: a replay thread creates, truncates, renames, removes and
 * touches paths under the mount point, and the FUSE handlers recognise its
 * requests (the caller's thread id) and apply the remote value recorded for
 * the path instead of treating them as local writes: nothing is uploaded.
 * Watchers see the IN_CREATE / IN_MODIFY / IN_CLOSE_WRITE / IN_DELETE /
 * IN_MOVED_FROM+IN_MOVED_TO / IN_ATTRIB a local writer would have caused.
 *
 * DESIGN.  mps3fs_on_changes() (poller thread, via the database listener)
 * turns a batch of changes into a list of operations - renames are
 * recognised as a delete and a create of the same value, for directories
 * as a whole subtree of them - and queues it; it never blocks on the mount.
 * The replay thread takes batches in order and for each operation records
 * the expected value under the tree lock, releases it, and makes the
 * syscall; no lock is held across a syscall into the mount, and the replay
 * thread is not a FUSE worker, so the workers always serve it.  An
 * operation the kernel refuses (the tree changed locally meanwhile, or
 * permissions) falls back to applying the value directly, with kernel
 * cache invalidation but no event.
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

#include "mps3/hash.h"
#include "mps3/log.h"
#include "fs.h"

enum rkind { R_MKDIR, R_RENAME, R_CREATE, R_SYMLINK, R_CONTENT, R_ATTR, R_DELETE, R_RMDIR };

struct rop {
	enum rkind kind;
	char *path;
	char *to;		/* renames */
	json_t *value;		/* remote value of path (of `to` for renames); NULL: implicit dir */
	int depth;
};

struct rbatch {
	struct rop *v;
	size_t n, cap;
	struct rbatch *next;
};

struct notifier {
	struct mps3fs *fs;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rbatch *head, *tail;	/* protected by lock */
	int stop;			/* protected by lock */
	int busy;			/* a batch is being replayed; protected by lock */
};

static void rop_dispose(struct rop *o)
{
	free(o->path);
	free(o->to);
	json_decref(o->value);
}

static void batch_free(struct rbatch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		rop_dispose(&b->v[i]);
	free(b->v);
	free(b);
}

static int add_op(struct rbatch *b, enum rkind k, const char *path, const char *to, json_t *value)
{
	struct rop *o;
	const char *p;

	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 16;
		struct rop *v = realloc(b->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->v = v;
		b->cap = ncap;
	}
	o = &b->v[b->n];
	memset(o, 0, sizeof(*o));
	o->kind = k;
	o->path = strdup(path);
	o->to = to ? strdup(to) : NULL;
	o->value = json_incref(value);
	for (p = to ? to : path; *p; p++)
		o->depth += *p == '/';
	if (!o->path || (to && !o->to)) {
		rop_dispose(o);
		return -ENOMEM;
	}
	b->n++;
	return 0;
}

/* ---- classifying a batch of changes ----------------------------------------- */

static int parse(json_t *v, struct mps3_entry *e)
{
	return v && mps3_entry_parse(e, v) == 0;
}

/* Order: mkdirs (shallow first), renames, creates and changes, then removals (deep first). */
static int cmp_op(const void *a, const void *b)
{
	const struct rop *x = a, *y = b;
	int rx = x->kind == R_MKDIR ? 0 : x->kind == R_RENAME ? 1 : x->kind >= R_DELETE ? 3 : 2;
	int ry = y->kind == R_MKDIR ? 0 : y->kind == R_RENAME ? 1 : y->kind >= R_DELETE ? 3 : 2;

	if (rx != ry)
		return rx - ry;
	if (rx == 0)
		return x->depth - y->depth;
	if (rx == 3)
		return y->depth - x->depth;
	return 0;
}

/* Canonical text of a value, to recognise the same value moved elsewhere. */
static char *canon(json_t *v)
{
	return v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("null");
}

static int has_prefix(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* qsort comparator of an array of strings (it is given pointers to the elements). */
static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Directory renames: a directory D1 all of whose tree went away and a
 * directory D2 that appeared with exactly the same entries at the same
 * relative paths.  Fingerprint = sorted "rel\tvalue" lines.
 */
static char *subtree_print(const struct mps3_changes *ch, const char *dir, int removed)
{
	struct mps3_buf b = MPS3_BUF_INIT;
	char **lines = NULL;
	size_t n = 0, i, dlen = strlen(dir);

	lines = calloc(ch->n + 1, sizeof(*lines));
	if (!lines)
		return NULL;
	for (i = 0; i < ch->n; i++) {
		const struct mps3_change *c = &ch->v[i];
		json_t *v = removed ? c->old : c->new;
		json_t *other = removed ? c->new : c->old;
		struct mps3_entry e;
		char *cv;

		if (!has_prefix(c->path, dir) && strcmp(c->path, dir) != 0)
			continue;
		if (!parse(v, &e) || parse(other, &e)) {
			/* Not purely removed (or added) under the directory: no rename. */
			if (parse(other, &e) || parse(v, &e)) {
				for (; n > 0; n--)
					free(lines[n - 1]);
				free(lines);
				return NULL;
			}
			continue;
		}
		cv = canon(v);
		if (!cv || asprintf(&lines[n], "%s\t%s", strcmp(c->path, dir) == 0 ? "." : c->path + dlen + 1, cv) < 0)
			lines[n] = NULL;
		free(cv);
		if (lines[n])
			n++;
	}
	if (n > 1)
		qsort(lines, n, sizeof(*lines), cmp_line);
	for (i = 0; i < n; i++) {
		mps3_buf_puts(&b, lines[i]);
		mps3_buf_puts(&b, "\n");
		free(lines[i]);
	}
	free(lines);
	return n ? mps3_buf_detach(&b, NULL) : (mps3_buf_dispose(&b), NULL);
}

/* Every directory prefix of the paths in the batch whose side was entirely added or removed. */
static void collect_dirs(const struct mps3_changes *ch, json_t *dirs)
{
	size_t i;

	for (i = 0; i < ch->n; i++) {
		char *p = strdup(ch->v[i].path), *s;

		if (!p)
			continue;
		while ((s = strrchr(p, '/')) != NULL) {
			*s = '\0';
			json_object_set_new(dirs, p, json_true());
		}
		free(p);
		{
			struct mps3_entry e;

			if ((parse(ch->v[i].old, &e) && e.type == MPS3_DIR) ||
			    (parse(ch->v[i].new, &e) && e.type == MPS3_DIR))
				json_object_set_new(dirs, ch->v[i].path, json_true());
		}
	}
}

static struct rbatch *plan(struct mps3fs *fs, const struct mps3_changes *ch)
{
	struct rbatch *b = calloc(1, sizeof(*b));
	json_t *done = json_object(), *dirs = json_object(), *gone = json_object(), *came = json_object();
	const char *d;
	json_t *v;
	size_t i;

	if (!b || !done || !dirs || !gone || !came)
		goto out;

	/* Directory renames first: they account for whole subtrees. */
	collect_dirs(ch, dirs);
	json_object_foreach(dirs, d, v) {
		struct node *n = mps3fs_lookup_path(fs, d);
		char *fp;

		if (json_object_get(done, d))
			continue;
		if (n && n->is_dir && !n->entry && n->nchildren > 0) {
			/* Still holds things not in this batch?  Then it is not moving. */
		}
		fp = subtree_print(ch, d, 1);
		if (fp) {
			json_object_set_new(gone, fp, json_string(d));
			free(fp);
		}
		fp = subtree_print(ch, d, 0);
		if (fp) {
			json_object_set_new(came, fp, json_string(d));
			free(fp);
		}
	}
	json_object_foreach(gone, d, v) {
		json_t *to = json_object_get(came, d);
		const char *from = json_string_value(v), *dst;
		size_t k;

		if (!to)
			continue;
		dst = json_string_value(to);
		/* Only the outermost directory of a moved tree is renamed. */
		if (json_object_get(done, from))
			continue;
		{
			int inner = 0;
			const char *k2;
			json_t *v2;

			json_object_foreach(gone, k2, v2) {
				const char *f2 = json_string_value(v2);

				if (has_prefix(from, f2) && json_object_get(came, k2))
					inner = 1;
			}
			if (inner)
				continue;
		}
		{
			json_t *dv = NULL;

			for (k = 0; k < ch->n; k++)
				if (strcmp(ch->v[k].path, dst) == 0)
					dv = ch->v[k].new;
			add_op(b, R_RENAME, from, dst, dv);
		}
		for (k = 0; k < ch->n; k++) {
			if (strcmp(ch->v[k].path, from) == 0 || has_prefix(ch->v[k].path, from) ||
			    strcmp(ch->v[k].path, dst) == 0 || has_prefix(ch->v[k].path, dst))
				json_object_set_new(done, ch->v[k].path, json_true());
		}
		json_object_set_new(done, from, json_true());
		json_object_set_new(done, dst, json_true());
	}

	/* File and link renames: the same value gone from one path and come at another. */
	json_object_clear(gone);
	for (i = 0; i < ch->n; i++) {
		struct mps3_entry a, e;
		char *cv;

		if (json_object_get(done, ch->v[i].path) || !parse(ch->v[i].old, &a) || parse(ch->v[i].new, &e) ||
		    a.type == MPS3_DIR)
			continue;
		cv = canon(ch->v[i].old);
		if (cv && !json_object_get(gone, cv))
			json_object_set_new(gone, cv, json_string(ch->v[i].path));
		free(cv);
	}
	for (i = 0; i < ch->n; i++) {
		struct mps3_entry a, e;
		json_t *from;
		char *cv;

		if (json_object_get(done, ch->v[i].path) || parse(ch->v[i].old, &a) || !parse(ch->v[i].new, &e) ||
		    e.type == MPS3_DIR)
			continue;
		cv = canon(ch->v[i].new);
		from = cv ? json_object_get(gone, cv) : NULL;
		if (from && !json_object_get(done, json_string_value(from))) {
			add_op(b, R_RENAME, json_string_value(from), ch->v[i].path, ch->v[i].new);
			json_object_set_new(done, json_string_value(from), json_true());
			json_object_set_new(done, ch->v[i].path, json_true());
		}
		free(cv);
	}

	/* Everything else, one operation per path. */
	for (i = 0; i < ch->n; i++) {
		const struct mps3_change *c = &ch->v[i];
		struct mps3_entry a, e;
		int had = parse(c->old, &a), has = parse(c->new, &e);

		if (json_object_get(done, c->path))
			continue;
		if (had && (!has || a.type != e.type))
			add_op(b, a.type == MPS3_DIR ? R_RMDIR : R_DELETE, c->path, NULL, NULL);
		if (!has)
			continue;
		if (!had || a.type != e.type)
			add_op(b, e.type == MPS3_DIR ? R_MKDIR : e.type == MPS3_LINK ? R_SYMLINK : R_CREATE, c->path,
			       NULL, c->new);
		else if (e.type == MPS3_FILE && (strcmp(a.blob, e.blob) != 0 || a.size != e.size))
			add_op(b, R_CONTENT, c->path, NULL, c->new);
		else if (e.type == MPS3_LINK && strcmp(a.target, e.target) != 0) {
			add_op(b, R_DELETE, c->path, NULL, NULL);
			add_op(b, R_SYMLINK, c->path, NULL, c->new);
		} else
			add_op(b, R_ATTR, c->path, NULL, c->new);
	}
	if (b->n > 1)
		qsort(b->v, b->n, sizeof(*b->v), cmp_op);
out:
	json_decref(done);
	json_decref(dirs);
	json_decref(gone);
	json_decref(came);
	return b;
}

/* ---- replaying ---------------------------------------------------------------------- */

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

/* Apply without an event: the fallback when the kernel refuses a replay. */
static void apply_direct(struct mps3fs *fs, const char *path, json_t *value)
{
	struct inval inv = { 0 };

	pthread_mutex_lock(&fs->tree_lock);
	if (!json_object_get(fs->dirty, path))
		mps3fs_tree_apply(fs, path, value, &inv);
	pthread_mutex_unlock(&fs->tree_lock);
	mps3fs_inval_send(fs, &inv);
	mps3fs_inval_dispose(&inv);
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

static void replay(struct mps3fs *fs, struct rop *o)
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
			apply_direct(fs, o->path, NULL);
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
			apply_direct(fs, o->path, o->value);
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
		if (ino && fs->session)
			fuse_lowlevel_notify_inval_inode(fs->session, ino, 0, 0);
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
		apply_direct(fs, o->path, o->kind == R_DELETE || o->kind == R_RMDIR ? NULL : o->value);
	}
}

static void *replayer(void *arg)
{
	struct notifier *nt = arg;
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
			replay(fs, &b->v[i]);
		batch_free(b);
		pthread_mutex_lock(&nt->lock);
		nt->busy = 0;
		pthread_cond_broadcast(&nt->cond);
	}
	pthread_mutex_unlock(&nt->lock);
	return NULL;
}

int mps3fs_notify_start(struct mps3fs *fs)
{
	struct notifier *nt = calloc(1, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	nt->fs = fs;
	pthread_mutex_init(&nt->lock, NULL);
	pthread_cond_init(&nt->cond, NULL);
	if (pthread_create(&nt->th, NULL, replayer, nt) != 0) {
		free(nt);
		return -EAGAIN;
	}
	fs->notifier = nt;
	return 0;
}

void mps3fs_notify_stop(struct mps3fs *fs)
{
	struct notifier *nt = fs->notifier;

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
		batch_free(b);
	}
	pthread_mutex_destroy(&nt->lock);
	pthread_cond_destroy(&nt->cond);
	free(nt);
	fs->notifier = NULL;
}

/* Queue the replay of a batch of remote changes (tree lock not held). */
void mps3fs_notify_changes(struct mps3fs *fs, const struct mps3_changes *ch)
{
	struct notifier *nt = fs->notifier;
	struct mps3_changes mine;
	struct rbatch *b;
	size_t i;

	/* Paths with pending local changes keep them (see mps3fs_on_changes). */
	mps3_changes_init(&mine);
	pthread_mutex_lock(&fs->tree_lock);
	for (i = 0; i < ch->n; i++)
		if (!json_object_get(fs->dirty, ch->v[i].path))
			mps3_changes_add(&mine, ch->v[i].path, ch->v[i].old, ch->v[i].new);
	b = plan(fs, &mine);
	pthread_mutex_unlock(&fs->tree_lock);
	mps3_changes_dispose(&mine);
	if (!b)
		return;
	if (b->n == 0) {
		batch_free(b);
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

int mps3fs_notify_idle(struct mps3fs *fs)
{
	struct notifier *nt = fs->notifier;
	int idle;

	if (!nt)
		return 1;
	pthread_mutex_lock(&nt->lock);
	idle = !nt->head && !nt->busy;
	pthread_mutex_unlock(&nt->lock);
	return idle;
}
