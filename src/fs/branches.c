/*
 * fs/branches.c - branches served inside a mount (see branches.h).
 *
 * DESIGN.  A branch in a mount is what `mps3fs -o branch=NAME` would be,
 * so it is built from the same parts: an instance (fs/mount.h) whose
 * database is opened on the branch, with a cache directory (and so a
 * journal and a state file) of its own below the main line's.  Only the
 * inodes differ: the instance's carry its slot, so that every handler finds
 * its instance from the inode it is given (ops.h: FS()).  Slots are filled
 * under the open lock and never emptied while the session runs, so readers
 * need no lock: they load the slot (acquire) the opener stored (release).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mps3/history.h"
#include "mps3/keys.h"
#include "mps3/log.h"
#include "branches.h"
#include "fs.h"
#include "mount.h"
#include "tree.h"
#include "view.h"

#define BRANCHES_DIR "branches"		/* below the cache directory, and below /.mps3 */

struct branch_set {
	pthread_mutex_t open_lock;	/* one opening at a time; held across its store I/O */
	struct mps3fs *v[MPS3FS_MAX_BRANCHES]; /* slots: written once (release) under open_lock */
	size_t n;			/* slots filled: written (release) under open_lock */
	int warned_full;		/* open_lock */
	pthread_t recover;		/* the opening of branches with pending journals */
	int recover_started;		/* main thread only */
	int stopping;			/* atomic: unmounting, open nothing more */
};

struct mps3fs *mps3fs_route(struct mps3fs *fs, uint64_t ino)
{
	struct branch_set *set = fs->branches;
	uint64_t k = (ino >> BRANCH_INO_SHIFT) & 0xfffff;
	struct mps3fs *b;

	if (!(ino & BRANCH_INO_FLAG) || IS_VIEW_INO(ino) || !set || k == 0 || k > MPS3FS_MAX_BRANCHES)
		return fs;
	b = __atomic_load_n(&set->v[k - 1], __ATOMIC_ACQUIRE);
	return b ? b : fs; /* an inode of no instance: the main line answers that it has no such node */
}

struct mps3fs *mps3fs_branch_at(struct mps3fs *fs, size_t i)
{
	struct branch_set *set = fs->branches;

	if (!set || i >= __atomic_load_n(&set->n, __ATOMIC_ACQUIRE))
		return NULL;
	return __atomic_load_n(&set->v[i], __ATOMIC_ACQUIRE);
}

struct find_branch {
	const char *name;
	int found;
};

static int find_one(void *ctx, const char *name, int64_t t)
{
	struct find_branch *f = ctx;

	(void)t;
	if (strcmp(name, f->name) == 0)
		f->found = 1;
	return 0;
}

/* Whether branch name exists: 1, 0, or the store's error (one LIST). */
static int branch_exists(struct mps3fs *fs, const char *name)
{
	struct find_branch f = { name, 0 };
	int rc = mps3_db_branch_list(fs->db, find_one, &f);

	return rc < 0 ? rc : f.found;
}

/* A new instance for branch name in slot k, opened and started: 0 with *out, or an error (logged). */
static int open_instance(struct mps3fs *fs, const char *name, size_t k, struct mps3fs **out)
{
	struct mps3fs_config cfg = fs->cfg;
	char *mnt = NULL, *dir = NULL, *url = NULL, *bname = strdup(name);
	struct mps3fs *b = NULL;
	int rc = -ENOMEM;

	if (!bname || asprintf(&mnt, "%s/%s/%s/%s", fs->cfg.mountpoint, MPS3_CONTROL_DIR, BRANCHES_DIR, name) < 0 ||
	    asprintf(&dir, "%s/%s/%s", fs->cfg.cache_dir, BRANCHES_DIR, name) < 0 ||
	    asprintf(&url, "%s#branch=%s", fs->cfg.url, name) < 0)
		goto fail;
	cfg.mountpoint = mnt;
	cfg.cache_dir = dir;
	cfg.url = url;
	cfg.db.branch = bname;
	cfg.mount_timeout_ms = 0;
	b = mps3fs_instance_new(&cfg, fs->store, fs);
	if (!b)
		goto fail;
	b->branch_name = bname;
	b->ino_base = BRANCH_INO_FLAG | (uint64_t)(k + 1) << BRANCH_INO_SHIFT;
	b->root_ino = b->ino_base | MPS3FS_ROOT_INO;
	b->session = fs->session;
	rc = mps3fs_instance_open(b);
	if (!rc)
		rc = mps3fs_instance_start(b);
	if (rc) {
		mps3fs_instance_stop(b);
		mps3fs_instance_free(b); /* frees the strings too */
		return rc;
	}
	mps3_info("%s: branch %s opened on %s", fs->cfg.url, name, mnt);
	*out = b;
	return 0;
fail:
	free(bname);
	free(mnt);
	free(dir);
	free(url);
	mps3_err("%s: branch %s: out of memory", fs->cfg.url, name);
	return rc;
}

/* Branch name's instance, opened if needed (open_lock held): 0 with *out, or an error. */
static int get_instance(struct mps3fs *fs, const char *name, int must_exist, struct mps3fs **out)
{
	struct branch_set *set = fs->branches;
	size_t k;
	int rc;

	for (k = 0; k < set->n; k++)
		if (strcmp(set->v[k]->branch_name, name) == 0) {
			*out = set->v[k];
			return 0;
		}
	if (__atomic_load_n(&set->stopping, __ATOMIC_ACQUIRE))
		return -ESHUTDOWN;
	if (must_exist) { /* a lookup must not make cache directories for names nobody created */
		rc = branch_exists(fs, name);
		if (rc <= 0)
			return rc == 0 ? -ENOENT : -EIO;
	}
	if (set->n == MPS3FS_MAX_BRANCHES) {
		if (!set->warned_full)
			mps3_warn("%s: %d branches are open in this mount; no more can be until it is remounted",
				  fs->cfg.url, MPS3FS_MAX_BRANCHES);
		set->warned_full = 1;
		return -EMFILE;
	}
	rc = open_instance(fs, name, set->n, out);
	if (rc)
		return rc;
	__atomic_store_n(&set->v[set->n], *out, __ATOMIC_RELEASE);
	__atomic_store_n(&set->n, set->n + 1, __ATOMIC_RELEASE);
	return 0;
}

int mps3fs_branch_open_root(struct mps3fs *fs, const char *name, uint64_t *ino, struct stat *st)
{
	struct branch_set *set = fs->branches;
	struct mps3fs *b = NULL;
	int rc;

	if (!set || mps3_snapshot_name_check(name) != 0)
		return -ENOENT;
	pthread_mutex_lock(&set->open_lock);
	rc = get_instance(fs, name, 1, &b);
	pthread_mutex_unlock(&set->open_lock);
	if (rc)
		return rc;
	pthread_mutex_lock(&b->tree_lock);
	mps3fs_node_stat(b, b->tree.root, st);
	b->tree.root->nlookup++;
	pthread_mutex_unlock(&b->tree_lock);
	*ino = b->root_ino;
	return 0;
}

/* Whether DIR/journal/log holds anything. */
static int journal_pending(const char *dir)
{
	char path[4600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/journal/log", dir);
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* Open every branch whose journal (below CACHE_DIR/branches) still holds changes. */
static void *recover(void *arg)
{
	struct mps3fs *fs = arg;
	struct branch_set *set = fs->branches;
	char dir[4200];
	struct dirent *de;
	DIR *d;

	pthread_setname_np(pthread_self(), "mps3-recover");

	snprintf(dir, sizeof(dir), "%s/%s", fs->cfg.cache_dir, BRANCHES_DIR);
	d = opendir(dir);
	while (d && (de = readdir(d)) != NULL && !__atomic_load_n(&set->stopping, __ATOMIC_ACQUIRE)) {
		char sub[4500];
		struct mps3fs *b;
		int rc;

		if (de->d_name[0] == '.' || mps3_snapshot_name_check(de->d_name) != 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (!journal_pending(sub))
			continue;
		mps3_notice("%s: branch %s has changes of the last run in its journal; opening it to upload them",
			    fs->cfg.url, de->d_name);
		pthread_mutex_lock(&set->open_lock);
		rc = get_instance(fs, de->d_name, 0, &b);
		pthread_mutex_unlock(&set->open_lock);
		if (rc && rc != -ESHUTDOWN)
			mps3_warn("%s: branch %s has changes not yet in the bucket, and it cannot be opened (%s); they stay in %s",
				  fs->cfg.url, de->d_name, strerror(-rc), sub);
	}
	if (d)
		closedir(d);
	return NULL;
}

int mps3fs_branches_init(struct mps3fs *fs)
{
	struct branch_set *set = calloc(1, sizeof(*set));

	if (!set)
		return -ENOMEM;
	pthread_mutex_init(&set->open_lock, NULL);
	fs->branches = set;
	if (pthread_create(&set->recover, NULL, recover, fs) == 0)
		set->recover_started = 1;
	else
		mps3_warn("%s: cannot look for branches with pending changes", fs->cfg.url);
	return 0;
}

void mps3fs_branches_stop(struct mps3fs *fs)
{
	struct branch_set *set = fs->branches;
	size_t k;

	if (!set)
		return;
	__atomic_store_n(&set->stopping, 1, __ATOMIC_RELEASE);
	if (set->recover_started)
		pthread_join(set->recover, NULL);
	set->recover_started = 0;
	pthread_mutex_lock(&set->open_lock); /* no opening in progress */
	pthread_mutex_unlock(&set->open_lock);
	for (k = 0; k < set->n; k++)
		mps3fs_instance_stop(set->v[k]);
}

void mps3fs_branches_free(struct mps3fs *fs)
{
	struct branch_set *set = fs->branches;
	size_t k;

	if (!set)
		return;
	for (k = 0; k < set->n; k++)
		mps3fs_instance_free(set->v[k]);
	pthread_mutex_destroy(&set->open_lock);
	free(set);
	fs->branches = NULL;
}
