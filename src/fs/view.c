/*
 * fs/view.c - past states as read-only directories (see view.h).
 *
 * DESIGN.  A view is built from a files map: its valid entries, sorted by
 * path, become nodes in one array (a node's index is its inode's low 32
 * bits), with the directories their paths imply; an open-addressing table
 * on (parent, name) answers lookups.  A node keeps its name and borrows
 * its value from the map (parsed when asked for), so a view costs little
 * more than the map itself.  Nothing in a view changes after it is built;
 * the views lock guards the list and the lookup counts.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mps3/clock.h"
#include "mps3/error.h"
#include "mps3/history.h"
#include "mps3/log.h"
#include "mps3/timefmt.h"
#include "fs.h"
#include "view.h"

#define IDLE_MS 60000		/* a view nobody holds stays this long */
#define KEEP_IDLE 8		/* and at most this many of them */
/*
 * What all views together may hold, whoever looks them up (any local user,
 * under allow_other): this many views, and nodes worth this many times the
 * live tree (plus a floor for small trees).  Past it, views nobody holds go
 * first; then a new view is refused (EMFILE, one warning).
 */
#define MAX_VIEWS 64
#define NODE_BUDGET(live) (4 * (uint64_t)(live) + 200000)
#define NONE UINT32_MAX

struct vnode {
	char *name;			/* last component; "" for the root */
	uint32_t parent, child, tail, next;
	uint32_t nsubdirs;
	json_t *v;			/* borrowed from the view's files; NULL: implied directory */
	char type;			/* the entry's enum mps3_ftype */
	char is_dir;
};

struct view {
	uint32_t id;
	enum view_kind kind;
	char *name;			/* as looked up */
	int64_t t;			/* the time it shows */
	json_t *files;
	uint32_t *slots;		/* (parent, name) -> node index + 1; 0 empty */
	size_t nslots;			/* a power of two, at least twice n */
	struct vnode *v;
	size_t n, cap;
	uint64_t nlookup;		/* protected by views->lock */
	int64_t last_used;		/* protected by views->lock */
	struct view *next;		/* protected by views->lock */
};

struct views {
	pthread_mutex_t lock;
	pthread_mutex_t build_lock;	/* one view built at a time: held across its store I/O, no other lock */
	struct view *list;		/* protected by lock */
	uint32_t next_id;		/* protected by lock */
	int warned_full;		/* protected by lock */
	pthread_t trimmer;		/* protected by build_lock */
	int trimming;			/* trimmer started, not joined; protected by build_lock */
};

static void view_free(struct view *w)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < w->n; i++)
		free(w->v[i].name);
	free(w->v);
	free(w->slots);
	json_decref(w->files);
	free(w->name);
	free(w);
}

int mps3fs_views_init(struct mps3fs *fs)
{
	struct views *vs = calloc(1, sizeof(*vs));

	if (!vs)
		return -ENOMEM;
	pthread_mutex_init(&vs->lock, NULL);
	pthread_mutex_init(&vs->build_lock, NULL);
	vs->next_id = 1;
	fs->views = vs;
	return 0;
}

void mps3fs_views_dispose(struct mps3fs *fs)
{
	struct views *vs = fs->views;

	if (!vs)
		return;
	while (vs->list) {
		struct view *w = vs->list;

		vs->list = w->next;
		view_free(w);
	}
	if (vs->trimming)
		pthread_join(vs->trimmer, NULL);
	pthread_mutex_destroy(&vs->lock);
	pthread_mutex_destroy(&vs->build_lock);
	free(vs);
	fs->views = NULL;
}

/* ---- building ---------------------------------------------------------------------- */

static void *trim_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "mps3-trim");
	malloc_trim(0);
	return NULL;
}

/*
 * What parsing the past took and gave back goes back to the system, off
 * the reply path (it costs about a tenth of a second at 100,000 paths).
 * build_lock held: the next build waits for the last trim.
 */
static void trim_later(struct views *vs)
{
	if (vs->trimming)
		pthread_join(vs->trimmer, NULL);
	vs->trimming = pthread_create(&vs->trimmer, NULL, trim_main, NULL) == 0;
	if (!vs->trimming)
		malloc_trim(0);
}

static size_t slot_of(const struct view *w, uint32_t parent, const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ parent;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29)) & (w->nslots - 1);
}

/* The child of parent named name[0..len), or NONE. */
static uint32_t child_named(const struct view *w, uint32_t parent, const char *name, size_t len)
{
	size_t i = slot_of(w, parent, name, len);

	for (; w->slots[i]; i = (i + 1) & (w->nslots - 1)) {
		const struct vnode *n = &w->v[w->slots[i] - 1];

		if (n->parent == parent && strncmp(n->name, name, len) == 0 && n->name[len] == '\0')
			return w->slots[i] - 1;
	}
	return NONE;
}

static void slot_put(struct view *w, uint32_t k)
{
	size_t i = slot_of(w, w->v[k].parent, w->v[k].name, strlen(w->v[k].name));

	while (w->slots[i])
		i = (i + 1) & (w->nslots - 1);
	w->slots[i] = k + 1;
}

/* Room for one more node, in the array and the table.  0 or -ENOMEM. */
static int grow(struct view *w)
{
	if (w->n == w->cap) {
		size_t ncap = w->cap * 2;
		struct vnode *v = realloc(w->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		w->v = v;
		w->cap = ncap;
	}
	if ((w->n + 1) * 2 > w->nslots) {
		size_t ns = w->nslots ? w->nslots * 2 : 1024, k;
		uint32_t *slots = calloc(ns, sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		free(w->slots);
		w->slots = slots;
		w->nslots = ns;
		for (k = 1; k < w->n; k++) /* the root is nobody's child */
			slot_put(w, (uint32_t)k);
	}
	return 0;
}

/* The node of path, made with its parents if missing: its index, or NONE on ENOMEM. */
static uint32_t ensure(struct view *w, const char *path)
{
	uint32_t at = 0;
	const char *p = path;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		uint32_t c = child_named(w, at, p, len), i;
		struct vnode *n;

		if (c == NONE) {
			if (w->n >= NONE - 1 || grow(w))
				return NONE;
			i = (uint32_t)w->n;
			n = &w->v[i];
			memset(n, 0, sizeof(*n));
			n->name = strndup(p, len);
			if (!n->name)
				return NONE;
			n->parent = at;
			n->child = n->tail = n->next = NONE;
			n->is_dir = 1; /* until its entry says otherwise */
			w->n++;
			slot_put(w, i);
			/* Appended: children stay in path order. */
			if (w->v[at].tail == NONE)
				w->v[at].child = i;
			else
				w->v[w->v[at].tail].next = i;
			w->v[at].tail = i;
			w->v[at].nsubdirs++;
			c = i;
		}
		at = c;
		p += len + (slash ? 1 : 0);
	}
	return at;
}

/* A path of the map and its type, sorted by path. */
struct vpath {
	const char *path;
	json_t *v;
	char type;
};

static int cmp_vpath(const void *a, const void *b)
{
	return strcmp(((const struct vpath *)a)->path, ((const struct vpath *)b)->path);
}

/* The nodes of files (a new reference taken).  NULL on ENOMEM. */
static struct view *build(json_t *files, int64_t t)
{
	struct view *w = calloc(1, sizeof(*w));
	struct vpath *paths = NULL;
	size_t np = 0, i;
	const char *path;
	json_t *v;

	if (!w)
		return NULL;
	w->t = t;
	w->files = json_incref(files);
	w->cap = 64;
	w->v = calloc(w->cap, sizeof(*w->v));
	paths = malloc((json_object_size(files) + 1) * sizeof(*paths));
	if (!w->v || !paths)
		goto fail;
	w->v[0].name = strdup("");
	w->v[0].child = w->v[0].tail = w->v[0].next = NONE;
	w->v[0].is_dir = 1;
	w->n = 1;
	if (!w->v[0].name || grow(w))
		goto fail;
	json_object_foreach(files, path, v) {
		struct mps3_entry e;

		if (mps3_entry_parse(&e, v) == 0)
			paths[np++] = (struct vpath){ path, v, (char)e.type };
	}
	qsort(paths, np, sizeof(*paths), cmp_vpath);
	for (i = 0; i < np; i++) {
		uint32_t k = ensure(w, paths[i].path);
		struct vnode *n;

		if (k == NONE)
			goto fail;
		n = &w->v[k];
		n->v = paths[i].v;
		n->type = paths[i].type;
		/* A file with keys under it shows as the directory (as the live tree does). */
		if (paths[i].type != MPS3_DIR && n->child == NONE) {
			n->is_dir = 0;
			w->v[n->parent].nsubdirs--;
		}
	}
	/* Files that later became prefixes of other keys were counted as files: directories again. */
	for (i = 1; i < w->n; i++)
		if (!w->v[i].is_dir && w->v[i].child != NONE) {
			w->v[i].is_dir = 1;
			w->v[w->v[i].parent].nsubdirs++;
		}
	free(paths);
	return w;
fail:
	free(paths);
	view_free(w);
	return NULL;
}

/* ---- finding views and nodes ------------------------------------------------------------ */

/* Lock held.  The view of inode ino, or NULL. */
static struct view *find_id(struct views *vs, uint64_t ino)
{
	uint32_t id = (uint32_t)((ino & ~VIEW_FLAG) >> 32);
	struct view *w;

	for (w = vs->list; w; w = w->next)
		if (w->id == id)
			return w;
	return NULL;
}

static struct vnode *node_of(struct view *w, uint64_t ino)
{
	uint32_t i = (uint32_t)ino;

	return w && i < w->n ? &w->v[i] : NULL;
}

/* Lock held: drop views nobody holds that were idle a minute, and the oldest idle beyond KEEP_IDLE. */
static void expire(struct views *vs)
{
	struct view **pp = &vs->list, *w;
	unsigned idle = 0;
	int64_t now = mps3_mono_ms();

	while ((w = *pp) != NULL) {
		if (w->nlookup == 0 && (now - w->last_used > IDLE_MS || ++idle > KEEP_IDLE)) {
			*pp = w->next;
			view_free(w);
			continue;
		}
		pp = &w->next;
	}
}

/*
 * Room for one more view of need nodes within budget (lock held): the
 * views nobody holds go, least recently used first.  0, or -EMFILE.
 */
static int make_room(struct views *vs, size_t need, uint64_t budget)
{
	for (;;) {
		struct view **pp, **oldest = NULL, *w;
		uint64_t nodes = need;
		unsigned count = 1;

		for (w = vs->list; w; w = w->next) {
			nodes += w->n;
			count++;
		}
		if (count <= MAX_VIEWS && nodes <= budget)
			return 0;
		for (pp = &vs->list; *pp; pp = &(*pp)->next)
			if ((*pp)->nlookup == 0 && (!oldest || (*pp)->last_used < (*oldest)->last_used))
				oldest = pp;
		if (!oldest)
			return -EMFILE;
		w = *oldest;
		*oldest = w->next;
		view_free(w);
	}
}

static void fill_stat(struct mps3fs *fs, struct view *w, uint32_t i, struct stat *st)
{
	const struct vnode *n = &w->v[i];
	struct mps3_entry parsed;
	const struct mps3_entry *e = &parsed;
	int64_t mt;
	mode_t perm = 0755, type = S_IFDIR;

	memset(&parsed, 0, sizeof(parsed));
	parsed.mode = MPS3_UNSET_MODE;
	parsed.uid = parsed.gid = MPS3_UNSET_ID;
	if (n->v)
		mps3_entry_parse(&parsed, n->v);
	/* A view's time comes from the bucket (a snapshot's "t"): kept in what nanoseconds can hold. */
	mt = n->v && e->mtime_ns ? e->mtime_ns
	     : w->t > INT64_MAX / 1000000 ? INT64_MAX
	     : w->t < INT64_MIN / 1000000 ? INT64_MIN : w->t * 1000000;

	memset(st, 0, sizeof(*st));
	st->st_ino = VIEW_INO(w->id, i);
	if (n->v && e->mode != MPS3_UNSET_MODE)
		perm = e->mode;
	else if (!n->is_dir)
		perm = e->type == MPS3_LINK ? 0777 : 0666 & ~fs->cfg.umask;
	if (!n->is_dir)
		type = e->type == MPS3_LINK ? S_IFLNK : e->type == MPS3_FIFO ? S_IFIFO :
		       e->type == MPS3_SOCK ? S_IFSOCK : e->type == MPS3_CHR ? S_IFCHR :
		       e->type == MPS3_BLK ? S_IFBLK : S_IFREG;
	st->st_mode = type | (perm & (fs->cfg.suid ? 07777 : 0777) & ~(type == S_IFLNK ? 0 : fs->cfg.mask));
	st->st_nlink = n->is_dir ? 2 + n->nsubdirs : 1;
	st->st_uid = !fs->cfg.force_uid && fs->cfg.trust_owners && n->v && e->uid != MPS3_UNSET_ID ? e->uid
											   : fs->cfg.uid;
	st->st_gid = !fs->cfg.force_gid && fs->cfg.trust_owners && n->v && e->gid != MPS3_UNSET_ID ? e->gid
											   : fs->cfg.gid;
	if (type == S_IFREG || type == S_IFLNK)
		st->st_size = (off_t)e->size;
	if (type == S_IFCHR || type == S_IFBLK)
		st->st_rdev = (dev_t)e->rdev;
	st->st_blksize = 128 * 1024;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtim.tv_sec = (time_t)(mt / 1000000000);
	st->st_mtim.tv_nsec = (long)(mt % 1000000000);
	if (st->st_mtim.tv_nsec < 0) {
		st->st_mtim.tv_sec--;
		st->st_mtim.tv_nsec += 1000000000;
	}
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
	if (n->v && e->atime_ns && e->atime_ns > 0) {
		st->st_atim.tv_sec = (time_t)(e->atime_ns / 1000000000);
		st->st_atim.tv_nsec = (long)(e->atime_ns % 1000000000);
	}
}

/* The files map a view of kind shows under name, and its time. */
static int resolve(struct mps3fs *fs, enum view_kind kind, const char *name, json_t **files, int64_t *t)
{
	int64_t now;
	int rc;

	if (kind == VIEW_SNAPSHOT)
		return mps3_db_snapshot_get(fs->db, name, files, t);
	now = mps3_clock_now(mps3_store_clock(fs->store));

	if (mps3_time_parse_point(t, name, now))
		return -ENOENT; /* not a time: no such name */
	/* Older than the window gc keeps by default (history=): not offered, whatever the bucket still has. */
	if (fs->cfg.db.history_ms > 0 && *t < now - fs->cfg.db.history_ms)
		return -ENOENT;
	rc = mps3_db_state_at(fs->db, *t, files);
	if (rc == -EINVAL)
		rc = -ENOENT; /* a time to come */
	return rc;
}

/* The views hold all they may: -EMFILE, said once. */
static int full(struct mps3fs *fs, struct views *vs)
{
	int warn;

	pthread_mutex_lock(&vs->lock);
	warn = !vs->warned_full;
	vs->warned_full = 1;
	pthread_mutex_unlock(&vs->lock);
	if (warn)
		mps3_warn("%s: the views of the past open in this mount hold all they may (%d views, or nodes worth 4 times the live tree); a new one is refused until some are let go",
			  fs->cfg.url, MAX_VIEWS);
	return -EMFILE;
}

int mps3fs_view_open_root(struct mps3fs *fs, enum view_kind kind, const char *name, uint64_t *ino,
			  struct stat *st)
{
	struct views *vs = fs->views;
	struct view *w, *made = NULL;
	json_t *files = NULL;
	int64_t t = 0;
	int rc, none, relative = name[0] == '-'; /* a moving target: built anew */
	size_t live;

	pthread_mutex_lock(&fs->tree_lock);
	live = fs->tree.nnodes;
	pthread_mutex_unlock(&fs->tree_lock);

	pthread_mutex_lock(&vs->lock);
	expire(vs);
	for (w = relative ? NULL : vs->list; w; w = w->next)
		if (w->kind == kind && strcmp(w->name, name) == 0)
			break;
	if (w) {
		w->nlookup++;
		w->last_used = mps3_mono_ms();
		*ino = VIEW_INO(w->id, 0);
		fill_stat(fs, w, 0, st);
		pthread_mutex_unlock(&vs->lock);
		return 0;
	}
	rc = make_room(vs, 0, UINT64_MAX); /* a slot at all, before the work */
	none = vs->list == NULL;
	pthread_mutex_unlock(&vs->lock);
	if (rc)
		return full(fs, vs);
	if (none)
		mps3_db_forget_past(fs->db); /* no view left of what the older checkpoints it kept hold */
	/* Built outside the lock (it reads the bucket), one at a time: what building takes is bounded too. */
	pthread_mutex_lock(&vs->build_lock);
	rc = resolve(fs, kind, name, &files, &t);
	if (rc == -ENOENT || rc == -EINVAL || (rc == -EOPNOTSUPP && mps3_db_files_only(fs->db))) {
		/* No such time, or a layout that keeps no history (an MPS3 web app's): nothing there. */
		pthread_mutex_unlock(&vs->build_lock);
		json_decref(files);
		return -ENOENT;
	}
	if (rc) {
		pthread_mutex_unlock(&vs->build_lock);
		mps3_warn("%s: cannot open %s%s: %s", fs->cfg.url,
			  kind == VIEW_AT ? "the view at " : "snapshot ", name,
			  mps3_error_last(rc));
		json_decref(files);
		return -EIO;
	}
	made = build(files, t);
	json_decref(files);
	trim_later(vs);
	pthread_mutex_unlock(&vs->build_lock);
	if (made)
		made->name = strdup(name);
	if (!made || !made->name) {
		view_free(made);
		return -ENOMEM;
	}
	made->kind = kind;
	pthread_mutex_lock(&vs->lock);
	if (make_room(vs, made->n, NODE_BUDGET(live)) != 0) {
		pthread_mutex_unlock(&vs->lock);
		view_free(made);
		return full(fs, vs);
	}
	made->id = vs->next_id++;
	if (vs->next_id >= (1u << 30))
		vs->next_id = 1; /* a billion views later: ids of views long gone */
	made->nlookup = 1;
	made->last_used = mps3_mono_ms();
	made->next = vs->list;
	vs->list = made;
	*ino = VIEW_INO(made->id, 0);
	fill_stat(fs, made, 0, st);
	pthread_mutex_unlock(&vs->lock);
	return 0;
}

int mps3fs_view_lookup(struct mps3fs *fs, uint64_t parent, const char *name, uint64_t *ino, struct stat *st)
{
	struct views *vs = fs->views;
	struct view *w;
	struct vnode *dir;
	uint32_t at = NONE;
	int rc = -ENOENT;

	pthread_mutex_lock(&vs->lock);
	w = find_id(vs, parent);
	dir = node_of(w, parent);
	if (dir && dir->is_dir)
		at = child_named(w, (uint32_t)parent, name, strlen(name));
	if (at != NONE) {
		uint32_t i = at;

		w->nlookup++;
		w->last_used = mps3_mono_ms();
		*ino = VIEW_INO(w->id, i);
		fill_stat(fs, w, i, st);
		rc = 0;
	}
	pthread_mutex_unlock(&vs->lock);
	return rc;
}

int mps3fs_view_stat(struct mps3fs *fs, uint64_t ino, struct stat *st)
{
	struct views *vs = fs->views;
	struct view *w;
	int rc = -ENOENT;

	pthread_mutex_lock(&vs->lock);
	w = find_id(vs, ino);
	if (node_of(w, ino)) {
		fill_stat(fs, w, (uint32_t)ino, st);
		rc = 0;
	}
	pthread_mutex_unlock(&vs->lock);
	return rc;
}

void mps3fs_view_forget(struct mps3fs *fs, uint64_t ino, uint64_t nlookup)
{
	struct views *vs = fs->views;
	struct view *w;

	pthread_mutex_lock(&vs->lock);
	w = find_id(vs, ino);
	if (w) {
		w->nlookup = nlookup > w->nlookup ? 0 : w->nlookup - nlookup;
		w->last_used = mps3_mono_ms();
	}
	pthread_mutex_unlock(&vs->lock);
}

void mps3fs_view_ref(struct mps3fs *fs, uint64_t ino)
{
	struct views *vs = fs->views;
	struct view *w;

	pthread_mutex_lock(&vs->lock);
	w = find_id(vs, ino);
	if (w)
		w->nlookup++;
	pthread_mutex_unlock(&vs->lock);
}

int mps3fs_view_list(struct mps3fs *fs, uint64_t ino,
		     int (*add)(void *ctx, const char *name, uint64_t ino, mode_t type), void *ctx)
{
	struct views *vs = fs->views;
	struct view *w;
	struct vnode *dir;
	uint32_t i;
	int rc;

	pthread_mutex_lock(&vs->lock);
	w = find_id(vs, ino);
	dir = node_of(w, ino);
	if (!dir || !dir->is_dir) {
		pthread_mutex_unlock(&vs->lock);
		return dir ? -ENOTDIR : -ENOENT;
	}
	rc = add(ctx, ".", ino, S_IFDIR);
	if (!rc)
		rc = add(ctx, "..", (uint32_t)ino == 0 ? MPS3FS_CTL_INO : VIEW_INO(w->id, dir->parent), S_IFDIR);
	for (i = dir->child; !rc && i != NONE; i = w->v[i].next) {
		struct stat st;

		fill_stat(fs, w, i, &st);
		rc = add(ctx, w->v[i].name, VIEW_INO(w->id, i), st.st_mode & S_IFMT);
	}
	pthread_mutex_unlock(&vs->lock);
	return rc;
}

int mps3fs_view_content(struct mps3fs *fs, uint64_t ino, char blob[MPS3_SHA256_HEX_LEN + 1],
			char chunks[MPS3_SHA256_HEX_LEN + 1], uint64_t *size)
{
	struct views *vs = fs->views;
	struct mps3_entry e;
	struct vnode *n;
	int rc = 0;

	pthread_mutex_lock(&vs->lock);
	n = node_of(find_id(vs, ino), ino);
	if (!n)
		rc = -ENOENT;
	else if (n->is_dir)
		rc = -EISDIR;
	else if (n->type != MPS3_FILE || mps3_entry_parse(&e, n->v))
		rc = -ENXIO; /* a FIFO, socket or device of then: nothing to open */
	if (!rc) {
		memcpy(blob, e.blob, MPS3_SHA256_HEX_LEN + 1);
		memcpy(chunks, e.chunks, MPS3_SHA256_HEX_LEN + 1);
		*size = e.size;
	}
	pthread_mutex_unlock(&vs->lock);
	return rc;
}

char *mps3fs_view_readlink(struct mps3fs *fs, uint64_t ino, int *err)
{
	struct views *vs = fs->views;
	struct mps3_entry e;
	struct vnode *n;
	char *t = NULL;

	pthread_mutex_lock(&vs->lock);
	n = node_of(find_id(vs, ino), ino);
	if (!n)
		*err = -ENOENT;
	else
		*err = n->is_dir || n->type != MPS3_LINK || mps3_entry_parse(&e, n->v) || !e.target ? -EINVAL : 0;
	if (!*err && !(t = strdup(e.target)))
		*err = -ENOMEM;
	pthread_mutex_unlock(&vs->lock);
	return t;
}

json_t *mps3fs_view_entry(struct mps3fs *fs, uint64_t ino)
{
	struct views *vs = fs->views;
	struct vnode *n;
	json_t *v;

	pthread_mutex_lock(&vs->lock);
	n = node_of(find_id(vs, ino), ino);
	v = n && n->v ? json_incref(n->v) : NULL;
	pthread_mutex_unlock(&vs->lock);
	return v;
}
