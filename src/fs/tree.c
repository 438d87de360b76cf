/*
 * fs/tree.c - the inode tree: nodes found by ino and by (parent, name),
 * children lists for readdir, attributes derived from manifest entries, and
 * the application of resolved values (remote or local) to the tree.
 *
 * Directories come from explicit "d" entries and from key prefixes.  When a
 * path holds a file but other keys sit under it, the directory wins and the
 * file is hidden until those keys are gone (reported once).  Caller holds
 * fs->tree_lock for everything here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mps3/hash.h"
#include "mps3/keys.h"
#include "mps3/log.h"
#include "fs.h"
#include "stage.h"
#include "tree.h"

int64_t mps3fs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t hash_name(uint64_t parent, const char *name)
{
	/* FNV-1a over the parent ino and the name. */
	uint64_t h = 1469598103934665603ull;
	int i;

	for (i = 0; i < 8; i++) {
		h ^= (parent >> (8 * i)) & 0xff;
		h *= 1099511628211ull;
	}
	for (; *name; name++) {
		h ^= (unsigned char)*name;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

static size_t hash_ino(uint64_t ino)
{
	ino ^= ino >> 33;
	ino *= 0xff51afd7ed558ccdull;
	ino ^= ino >> 33;
	return (size_t)ino;
}

/* Rehash both tables into nb buckets (a power of two); on failure they stay as they were. */
static int rehash(struct tree *t, size_t nb)
{
	size_t i;
	struct node **byname = calloc(nb, sizeof(*byname));
	struct node **byino = calloc(nb, sizeof(*byino));

	if (!byname || !byino) {
		free(byname);
		free(byino);
		return -ENOMEM;
	}
	for (i = 0; i < t->nbyino_buckets; i++) {
		struct node *n = t->byino[i], *next;

		for (; n; n = next) {
			size_t b = hash_ino(n->ino) & (nb - 1);

			next = n->inext;
			n->inext = byino[b];
			byino[b] = n;
		}
	}
	for (i = 0; i < t->nbyname_buckets; i++) {
		struct node *n = t->byname[i], *next;

		for (; n; n = next) {
			size_t b = hash_name(n->parent->ino, mps3fs_node_name(n)) & (nb - 1);

			next = n->hnext;
			n->hnext = byname[b];
			byname[b] = n;
		}
	}
	free(t->byname);
	free(t->byino);
	t->byname = byname;
	t->byino = byino;
	t->nbyname_buckets = nb;
	t->nbyino_buckets = nb;
	return 0;
}

static int grow(struct tree *t)
{
	return rehash(t, t->nbyname_buckets ? t->nbyname_buckets * 2 : 1024);
}

int mps3fs_tree_reserve(struct mps3fs *fs, size_t n)
{
	size_t nb = fs->tree.nbyname_buckets ? fs->tree.nbyname_buckets : 1024;

	while (nb < n && nb < SIZE_MAX / 2)
		nb *= 2;
	return nb == fs->tree.nbyname_buckets ? 0 : rehash(&fs->tree, nb);
}

static void ino_insert(struct tree *t, struct node *n)
{
	size_t b = hash_ino(n->ino) & (t->nbyino_buckets - 1);

	n->inext = t->byino[b];
	t->byino[b] = n;
}

static void ino_remove(struct tree *t, struct node *n)
{
	struct node **pp = &t->byino[hash_ino(n->ino) & (t->nbyino_buckets - 1)];

	for (; *pp; pp = &(*pp)->inext) {
		if (*pp == n) {
			*pp = n->inext;
			return;
		}
	}
}

static void name_insert(struct tree *t, struct node *n)
{
	size_t b = hash_name(n->parent->ino, mps3fs_node_name(n)) & (t->nbyname_buckets - 1);

	n->hnext = t->byname[b];
	t->byname[b] = n;
}

static void name_remove(struct tree *t, struct node *n)
{
	struct node **pp = &t->byname[hash_name(n->parent->ino, mps3fs_node_name(n)) & (t->nbyname_buckets - 1)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) {
			*pp = n->hnext;
			return;
		}
	}
}

static void update_kind(struct node *n)
{
	int was = n->is_dir;

	n->is_dir = n->type == MPS3_DIR || n->nchildren > 0 || !n->valid;
	/* The parent's link count follows its subdirectories. */
	if (n->linked && n->parent && was != n->is_dir) {
		if (n->is_dir)
			n->parent->nsubdirs++;
		else
			n->parent->nsubdirs--;
	}
}

/* A zeroed node holding name (of at most MPS3_NAME_MAX bytes) in itself; NULL on ENOMEM. */
static struct node *node_alloc(struct tree *t, const char *name)
{
	size_t len = strnlen(name, MPS3_NAME_MAX);
	/* Room for a pointer, where a rename to a longer name puts it. */
	size_t room = len + 1 < sizeof(char *) ? sizeof(char *) : len + 1;
	struct node *n = mps3_slab_alloc(&t->slab, offsetof(struct node, iname) + room);

	if (!n)
		return NULL;
	memcpy(n->iname, name, len);
	n->iname[len] = '\0';
	n->name_cap = (uint8_t)(room - 1);
	return n;
}

int mps3fs_tree_init(struct mps3fs *fs)
{
	struct tree *t = &fs->tree;
	struct node *root;

	memset(t, 0, sizeof(*t));
	if (grow(t))
		return -ENOMEM;
	root = node_alloc(t, "");
	if (!root)
		return -ENOMEM;
	root->ino = fs->root_ino;
	root->nlookup = 1;
	root->in_tree = 1;
	root->ctime_ns = mps3fs_now_ns();
	mps3fs_node_set_value(root, NULL);
	update_kind(root);
	t->root = root;
	t->next_ino = fs->ino_base | MPS3FS_FIRST_INO;
	ino_insert(t, root);
	t->nnodes = 1;
	return 0;
}

static size_t hold_index(const struct tree *t, const struct node *n)
{
	size_t i;

	for (i = 0; i < t->nholds && t->holds[i].n != n; i++)
		;
	return i;
}

int mps3fs_hold_get(const struct tree *t, const struct node *n, int64_t *until_ms, uint64_t *epoch)
{
	size_t i = n->held ? hold_index(t, n) : t->nholds;

	if (i == t->nholds)
		return 0;
	*until_ms = t->holds[i].until_ms;
	*epoch = t->holds[i].epoch;
	return 1;
}

void mps3fs_hold_set(struct tree *t, struct node *n, int64_t until_ms, uint64_t epoch)
{
	size_t i = n->held ? hold_index(t, n) : t->nholds;

	if (i == t->nholds) {
		if (t->nholds == t->holds_cap) {
			size_t cap = t->holds_cap ? 2 * t->holds_cap : 8;
			struct tree_hold *v = realloc(t->holds, cap * sizeof(*v));

			if (!v)
				return;
			t->holds = v;
			t->holds_cap = cap;
		}
		t->holds[t->nholds++].n = n;
		n->held = 1;
	}
	t->holds[i].until_ms = until_ms;
	t->holds[i].epoch = epoch;
}

int mps3fs_hold_clear(struct tree *t, struct node *n)
{
	size_t i = n->held ? hold_index(t, n) : t->nholds;

	n->held = 0;
	if (i == t->nholds)
		return 0;
	t->holds[i] = t->holds[--t->nholds];
	return 1;
}

static void node_free(struct tree *t, struct node *n)
{
	mps3fs_hold_clear(t, n);
	json_decref(n->json);
	if (n->name_ext)
		free((char *)mps3fs_node_name(n));
	mps3_slab_free(&t->slab, n, offsetof(struct node, iname) + n->name_cap + 1);
}

void mps3fs_tree_dispose(struct mps3fs *fs)
{
	struct tree *t = &fs->tree;
	size_t i;

	for (i = 0; i < t->nbyino_buckets; i++) {
		struct node *n = t->byino[i], *next;

		for (; n; n = next) {
			next = n->inext;
			node_free(t, n);
		}
	}
	free(t->byino);
	free(t->byname);
	free(t->holds);
	memset(t, 0, sizeof(*t));
}

struct node *mps3fs_node_get(struct mps3fs *fs, uint64_t ino)
{
	struct tree *t = &fs->tree;
	struct node *n = t->byino[hash_ino(ino) & (t->nbyino_buckets - 1)];

	for (; n; n = n->inext)
		if (n->ino == ino)
			return n;
	return NULL;
}

struct node *mps3fs_child(struct mps3fs *fs, struct node *dir, const char *name)
{
	struct tree *t = &fs->tree;
	struct node *n = t->byname[hash_name(dir->ino, name) & (t->nbyname_buckets - 1)];

	for (; n; n = n->hnext)
		if (n->parent == dir && strcmp(mps3fs_node_name(n), name) == 0)
			return n;
	return NULL;
}

char *mps3fs_node_path(struct node *n)
{
	size_t len = 0, pos;
	struct node *p;
	char *path;

	for (p = n; p && p->parent; p = p->parent)
		len += strlen(mps3fs_node_name(p)) + 1;
	path = malloc(len ? len : 1);
	if (!path)
		return NULL;
	if (!len) {
		path[0] = '\0';
		return path;
	}
	pos = len - 1;
	path[pos] = '\0';
	for (p = n; p && p->parent; p = p->parent) {
		size_t l = strlen(mps3fs_node_name(p));

		pos -= l;
		memcpy(path + pos, mps3fs_node_name(p), l);
		if (pos > 0)
			path[--pos] = '/';
	}
	return path;
}

char *mps3fs_child_path(struct node *dir, const char *name)
{
	char *dpath = mps3fs_node_path(dir), *path = NULL;

	if (dpath && asprintf(&path, "%s%s%s", dpath, *dpath ? "/" : "", name) < 0)
		path = NULL;
	free(dpath);
	return path;
}

struct node *mps3fs_lookup_path(struct mps3fs *fs, const char *path)
{
	struct node *n = fs->tree.root;
	char name[MPS3_NAME_MAX + 1];
	const char *p = path;

	while (n && *p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 0 || len > MPS3_NAME_MAX)
			return NULL;
		memcpy(name, p, len);
		name[len] = '\0';
		n = mps3fs_child(fs, n, name);
		p += len + (slash ? 1 : 0);
	}
	return n;
}

static void set_time(struct timespec *ts, int64_t ns)
{
	int64_t sec = ns / 1000000000, rem = ns % 1000000000;

	if (rem < 0) { /* before 1970: tv_nsec is never negative */
		sec--;
		rem += 1000000000;
	}
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)rem;
}

/* The type and the permission bits recorded (or the mount's defaults). */
static mode_t node_mode(const struct mps3fs_config *c, uint64_t root_ino, const struct node *n, mode_t *perm)
{
	static const struct {
		enum mps3_ftype t;
		mode_t m;
	} special[] = { { MPS3_FIFO, S_IFIFO }, { MPS3_SOCK, S_IFSOCK }, { MPS3_CHR, S_IFCHR }, { MPS3_BLK, S_IFBLK } };
	size_t i;

	if (n->ino == root_ino || n->is_dir) {
		*perm = (n->ino == root_ino || n->type == MPS3_DIR) && n->mode != MPS3_UNSET_MODE
				? n->mode
				: 0777 & ~c->umask;
		return S_IFDIR;
	}
	if (n->type == MPS3_LINK) {
		*perm = 0777;
		return S_IFLNK;
	}
	*perm = n->mode != MPS3_UNSET_MODE ? n->mode : 0666 & ~c->umask;
	for (i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (n->type == special[i].t)
			return special[i].m;
	return S_IFREG;
}

mode_t mps3fs_node_type(struct mps3fs *fs, struct node *n)
{
	mode_t perm;

	return node_mode(&fs->cfg, fs->root_ino, n, &perm);
}

void mps3fs_node_stat(struct mps3fs *fs, struct node *n, struct stat *st)
{
	const struct mps3fs_config *c = &fs->cfg;
	mode_t perm, type = node_mode(c, fs->root_ino, n, &perm);
	int64_t mt, atime;

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	/*
	 * Bucket writers are trusted with the database, not with this machine:
	 * set-id and sticky bits and owners from an entry are shown only when
	 * the mount opted in (-o suid, -o trust_owners).
	 */
	st->st_mode = type | (perm & (c->suid ? 07777 : 0777) & ~(type == S_IFLNK ? 0 : c->mask));
	if (type == S_IFDIR)
		st->st_nlink = (nlink_t)(2 + n->nsubdirs);
	else
		st->st_nlink = n->in_tree || n->ino == fs->root_ino ? 1 : 0; /* unlinked, still open */
	st->st_uid = !c->force_uid && c->trust_owners && n->uid != MPS3_UNSET_ID ? n->uid : c->uid;
	st->st_gid = !c->force_gid && c->trust_owners && n->gid != MPS3_UNSET_ID ? n->gid : c->gid;
	if (type == S_IFREG)
		st->st_size = (off_t)(n->stage ? n->stage->size : n->size);
	else if (type == S_IFLNK)
		st->st_size = (off_t)n->size;
	else if (type == S_IFCHR || type == S_IFBLK)
		st->st_rdev = (dev_t)mps3fs_node_rdev(n);
	st->st_blksize = 128 * 1024;
	st->st_blocks = (st->st_size + 511) / 512;
	mt = n->mtime_ns ? n->mtime_ns : n->ctime_ns;
	/* Content being written (or its time set since), and names added or removed here, are changes too. */
	if (n->stage && n->stage->mtime_ns)
		mt = n->stage->mtime_ns;
	if (type == S_IFDIR && n->dir_mtime_ns > mt)
		mt = n->dir_mtime_ns;
	set_time(&st->st_mtim, mt);
	atime = mps3fs_node_atime(n);
	set_time(&st->st_atim, atime ? atime : mt);
	/* This mount's own record of the last change: of the entry, a write, or names here. */
	set_time(&st->st_ctim, n->ctime_ns);
}

/* A name added to or removed from dir changes its mtime and ctime (POSIX), unless the tree is being built. */
static void touch_dir(struct mps3fs *fs, struct node *dir)
{
	if (fs->tree.quiet)
		return;
	dir->dir_mtime_ns = mps3fs_now_ns();
	dir->ctime_ns = dir->dir_mtime_ns;
}

static void child_link(struct mps3fs *fs, struct node *dir, struct node *n)
{
	n->prev = NULL;
	n->next = dir->child;
	if (dir->child)
		dir->child->prev = n;
	dir->child = n;
	dir->nchildren++;
	n->linked = 1;
	if (n->is_dir)
		dir->nsubdirs++;
	update_kind(dir);
	touch_dir(fs, dir);
}

static void child_unlink(struct mps3fs *fs, struct node *dir, struct node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		dir->child = n->next;
	if (n->next)
		n->next->prev = n->prev;
	n->prev = n->next = NULL;
	dir->nchildren--;
	n->linked = 0;
	if (n->is_dir)
		dir->nsubdirs--;
	update_kind(dir);
	touch_dir(fs, dir);
}

/*
 * A value put into a node: JSON (a reference the node takes; NULL: none),
 * or a packed record that fits (pk, borrowed) with its entry e.
 */
struct tval {
	json_t *json;
	const struct mps3_packed *pk;
	const struct mps3_entry *e;
};

static void node_fill(struct node *n, const struct tval *v)
{
	if (v->pk)
		mps3fs_node_set_packed(n, v->pk, v->e);
	else
		mps3fs_node_set_value(n, v->json);
}

static struct node *node_new(struct mps3fs *fs, struct node *dir, const char *name, const struct tval *v)
{
	struct tree *t = &fs->tree;
	struct node *n;

	if (t->nnodes >= t->nbyino_buckets && grow(t))
		return NULL;
	n = node_alloc(t, name);
	if (!n)
		return NULL;
	n->ino = t->next_ino++;
	n->parent = dir;
	node_fill(n, v);
	n->ctime_ns = mps3fs_now_ns();
	n->in_tree = 1;
	update_kind(n);
	ino_insert(t, n);
	name_insert(t, n);
	child_link(fs, dir, n);
	t->nnodes++;
	return n;
}

struct node *mps3fs_node_new(struct mps3fs *fs, struct node *dir, const char *name, json_t *entry)
{
	struct tval v = { entry, NULL, NULL };

	return node_new(fs, dir, name, &v);
}

static void node_set(struct node *n, const struct tval *v)
{
	node_fill(n, v);
	n->ctime_ns = mps3fs_now_ns();
	update_kind(n);
}

void mps3fs_node_set_entry(struct node *n, json_t *entry)
{
	struct tval v = { entry, NULL, NULL };

	node_set(n, &v);
}

void mps3fs_node_detach(struct mps3fs *fs, struct node *n)
{
	if (!n->in_tree || !n->parent)
		return;
	name_remove(&fs->tree, n);
	child_unlink(fs, n->parent, n);
	n->in_tree = 0;
	n->parent = NULL;
	mps3fs_node_maybe_free(fs, n);
}

int mps3fs_node_move(struct mps3fs *fs, struct node *n, struct node *dir, const char *name)
{
	size_t len = strlen(name);
	char *ext = NULL, *old = n->name_ext ? (char *)mps3fs_node_name(n) : NULL;

	if (len > n->name_cap && !(ext = strdup(name)))
		return -ENOMEM;
	name_remove(&fs->tree, n);
	child_unlink(fs, n->parent, n);
	if (ext)
		memcpy(n->iname, &ext, sizeof(ext));
	else
		memmove(n->iname, name, len + 1); /* (name may be old, read before it is freed) */
	n->name_ext = ext != NULL;
	free(old);
	n->parent = dir;
	name_insert(&fs->tree, n);
	child_link(fs, dir, n);
	n->ctime_ns = mps3fs_now_ns();
	return 0;
}

void mps3fs_node_maybe_free(struct mps3fs *fs, struct node *n)
{
	if (n->in_tree || n->nlookup > 0 || n->nopen > 0 || n->ino == fs->root_ino)
		return;
	/* A detached directory's children were detached with it, one by one. */
	ino_remove(&fs->tree, n);
	fs->tree.nnodes--;
	node_free(&fs->tree, n);
}

void mps3fs_prune_implicit(struct mps3fs *fs, struct node *n)
{
	while (n && n->in_tree && n->parent && !n->has_entry && n->nchildren == 0) {
		struct node *up = n->parent;

		mps3fs_node_detach(fs, n);
		n = up;
	}
}

void mps3fs_walk(struct node *n, void (*fn)(struct node *, void *), void *ctx)
{
	struct node *c, *next;

	fn(n, ctx);
	for (c = n->child; c; c = next) {
		next = c->next;
		mps3fs_walk(c, fn, ctx);
	}
}

/* ---- applying resolved values ----------------------------------------------- */

/* ---- invalidations ------------------------------------------------------------ */

void mps3fs_inval_add(struct inval *iv, uint64_t parent, const char *name, uint64_t ino)
{
	struct inval_item *it;

	if (!iv)
		return;
	if (iv->n == iv->cap) {
		size_t ncap = iv->cap ? iv->cap * 2 : 16;
		struct inval_item *v = realloc(iv->v, ncap * sizeof(*v));

		if (!v)
			return; /* worst case the kernel keeps a stale entry until its timeout */
		iv->v = v;
		iv->cap = ncap;
	}
	it = &iv->v[iv->n];
	it->parent = parent;
	it->ino = ino;
	it->name = name ? strdup(name) : NULL;
	if (name && !it->name)
		return;
	iv->n++;
}

void mps3fs_inval_dispose(struct inval *iv)
{
	size_t i;

	for (i = 0; i < iv->n; i++)
		free(iv->v[i].name);
	free(iv->v);
	memset(iv, 0, sizeof(*iv));
}

/* Detach a subtree: children first, so nothing is left pointing at it. */
static void detach_subtree(struct mps3fs *fs, struct node *n, struct inval *inv)
{
	while (n->child)
		detach_subtree(fs, n->child, inv);
	mps3fs_inval_add(inv, n->parent ? n->parent->ino : 0, mps3fs_node_name(n), 0);
	mps3fs_node_detach(fs, n);
}

static int same_kind(struct node *n, const struct mps3_entry *e)
{
	if (n->nchildren > 0)
		return 1; /* stays a directory whatever the entry says */
	return (e->type == MPS3_DIR) == n->is_dir && (e->type == MPS3_LINK) == (n->type == MPS3_LINK);
}

/* value (borrowed; NULL: none) or the packed pk that fits, and its entry e (NULL: not an entry). */
static int apply(struct mps3fs *fs, const char *path, json_t *value, const struct mps3_packed *pk,
		 const struct mps3_entry *e, struct inval *inv)
{
	struct node *dir = fs->tree.root, *n;
	char name[MPS3_NAME_MAX + 1];
	const char *p = path;
	int exists = e != NULL;
	struct tval v = { NULL, pk, e };

	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 0 || len > MPS3_NAME_MAX)
			return 0;
		memcpy(name, p, len);
		name[len] = '\0';
		n = mps3fs_child(fs, dir, name);
		if (!slash)
			break;
		if (!n) {
			if (!exists)
				return 0;
			n = mps3fs_node_new(fs, dir, name, NULL);
			if (!n)
				return 0;
			mps3fs_inval_add(inv, dir->ino, name, 0);
		} else if (!n->is_dir) {
			json_t *hidden;

			if (!exists)
				return 0;
			/* A file gains children: shown as a directory, the file hidden. */
			mps3_warn("%s: \"%.*s\" is a file and a prefix of other keys; showing the directory",
				  fs->cfg.url, (int)(slash - path), path);
			/* The old node may be freed by its detach: keep its entry first. */
			if (mps3fs_node_entry(n, &hidden))
				return 0;
			detach_subtree(fs, n, inv);
			n = mps3fs_node_new(fs, dir, name, hidden);
			if (!n) {
				json_decref(hidden);
				return 0;
			}
			/* The new node has no children yet; it becomes a directory with the first. */
		}
		dir = n;
		p = slash + 1;
	}

	if (!exists) {
		if (!n)
			return 0;
		if (n->nchildren > 0) {
			/* Keys remain under it: it stays, as an implicit directory. */
			if (!n->has_entry)
				return 0;
			mps3fs_node_set_entry(n, NULL);
			mps3fs_inval_add(inv, 0, NULL, n->ino);
			return 1;
		}
		detach_subtree(fs, n, inv);
		mps3fs_prune_implicit(fs, dir);
		return 1;
	}
	if (n && (pk ? mps3fs_node_packed_is(n, pk) : mps3fs_node_entry_is(n, value)))
		return 0;
	if (n && !same_kind(n, e)) {
		/* A new kind of object is a new inode: the kernel caches the type. */
		detach_subtree(fs, n, inv);
		n = NULL;
	}
	if (!pk)
		v.json = json_incref(value);
	if (!n) {
		n = node_new(fs, dir, name, &v);
		if (!n) {
			json_decref(v.json);
			return 0;
		}
		mps3fs_inval_add(inv, dir->ino, name, 0);
		return 1;
	}
	node_set(n, &v);
	mps3fs_inval_add(inv, 0, NULL, n->ino);
	return 1;
}

int mps3fs_tree_apply(struct mps3fs *fs, const char *path, json_t *value, struct inval *inv)
{
	struct mps3_entry e;

	return apply(fs, path, value, NULL, value && mps3_entry_parse(&e, value) == 0 ? &e : NULL, inv);
}

int mps3fs_tree_apply_packed(struct mps3fs *fs, const char *path, const struct mps3_packed *p, struct inval *inv)
{
	struct mps3_entry e;
	json_t *v;
	int rc;

	if (mps3fs_packed_fits(p, &e))
		return apply(fs, path, NULL, p, &e, inv);
	v = mps3_packed_to_json(p); /* (out of memory: the path is not shown) */
	rc = v ? mps3fs_tree_apply(fs, path, v, inv) : 0;
	json_decref(v);
	return rc;
}
