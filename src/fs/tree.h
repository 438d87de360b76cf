/*
 * fs/tree.h - the inode tree (fs/tree.c): nodes found by inode number and
 * by (parent, name), children lists for readdir, attributes derived from
 * manifest entries, and the application of resolved values to the tree.
 *
 * Lock: every function here is called with fs->tree_lock held, and every
 * field of struct node and struct tree is protected by it.  Nothing here
 * does I/O or blocks.  Errors: functions that can fail return NULL or
 * -ENOMEM; the tree is unchanged then.
 */
#ifndef MPS3FS_TREE_H
#define MPS3FS_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "mps3/entry.h"
#include "mps3/manifest.h"
#include "mps3/slab.h"

struct mps3fs;
struct stage;

/*
 * Kernel invalidations collected under the tree lock while the tree changes,
 * sent after it is released (fs/inval.c), because a notification may wait
 * for the kernel, which may wait for a request that needs the tree lock.
 */
struct inval {
	struct inval_item {
		uint64_t parent;
		char *name;		/* NULL: invalidate the inode (ino) */
		uint64_t ino;
	} *v;
	size_t n, cap;
};

/* Remember one invalidation (iv may be NULL: nothing to do).  Out of memory drops it. */
void mps3fs_inval_add(struct inval *iv, uint64_t parent, const char *name, uint64_t ino);
void mps3fs_inval_dispose(struct inval *iv);

/*
 * One file, directory or link.  A node is in the tree (parent != NULL, or
 * the root) or detached (unlinked or replaced while the kernel still knows
 * it); it is freed when the kernel forgets it and nothing has it open.
 *
 * Its entry (has_entry; none: an implicit directory) is packed when it is
 * an ordinary one (struct mps3_packed's keys: its fields, blob and pk_has say it
 * all, so a million files cost a few hundred bytes each), else kept as
 * JSON in json (xattrs, links, devices, chunk lists, fields this version
 * does not know, malformed values); mps3fs_node_entry() gives it back as
 * JSON either way.  The name is stored with the node when it fits.
 */
struct node {
	uint64_t ino;
	struct node *parent;
	struct node *hnext;		/* chain in the (parent, name) hash */
	struct node *inext;		/* chain in the ino hash */
	struct node *child, *prev, *next; /* children list of a directory (readdir order) */
	uint32_t nchildren;
	uint32_t nsubdirs;		/* children shown as directories (its link count is 2 + these) */
	int64_t dir_mtime_ns;		/* a directory's last change of names here (not stored) */
	uint64_t nlookup;		/* kernel references */
	unsigned nopen;			/* open file handles */
	unsigned nwriters;		/* of which open for writing */
	json_t *json;			/* the entry when not packed, else NULL */
	/*
	 * The entry parsed: the fields of struct mps3_entry every entry may
	 * have (type, mode, uid, gid, size, mtime_ns).  The rest only an entry
	 * kept as JSON has, and the node_* functions read them from it (the
	 * blob, for every valid file, is the node's).
	 */
	uint64_t size;
	int64_t mtime_ns;
	uint8_t blob[32];		/* a valid file's blob */
	int64_t ctime_ns;
	struct stage *stage;		/* local content being written, or NULL */
	uint32_t mode;			/* or MPS3_UNSET_MODE */
	uint32_t uid, gid;		/* or MPS3_UNSET_ID */
	uint8_t type;			/* enum mps3_ftype (a character) */
	unsigned has_entry : 1;		/* explicit entry (0: implicit directory) */
	unsigned valid : 1;		/* the entry parses */
	unsigned linked : 1;		/* on its parent's children list */
	unsigned is_dir : 1;		/* shown as a directory (explicit, or has children) */
	unsigned in_tree : 1;
	unsigned kept : 1;		/* opened since its blob last changed: the kernel may cache its content */
	unsigned held : 1;		/* has a hold in the tree's table (mps3fs_hold_get) */
	unsigned name_ext : 1;		/* iname holds a pointer to the name (a rename to a longer one) */
	uint8_t pk_has;			/* packed: the MPS3_PK_* keys it has */
	uint8_t name_cap;		/* the longest name iname holds (at least a pointer's worth) */
	char iname[];			/* the name, or (name_ext) a char * to it: mps3fs_node_name() */
};
#if UINTPTR_MAX == UINT64_MAX
/* The fields are in the order that leaves no hole: a node of a name of up to 7 bytes is 184 bytes. */
_Static_assert(offsetof(struct node, iname) == 176, "struct node has grown a hole");
#endif

/* The node's name, borrowed: a rename may overwrite it with a pointer, so no copy of it outlives one. */
static inline const char *mps3fs_node_name(const struct node *n)
{
	const char *p;

	if (!n->name_ext)
		return n->iname;
	memcpy(&p, n->iname, sizeof(p));
	return p;
}

/* Set n's entry to v (reference taken; NULL: none): parsed, and packed when it is an ordinary one. */
void mps3fs_node_set_value(struct node *n, json_t *v);
/*
 * Whether a node holds p packed: 1 when it is a valid entry (given in *e)
 * whose every field a node keeps, else 0 (its JSON is needed then).
 */
int mps3fs_packed_fits(const struct mps3_packed *p, struct mps3_entry *e);
/* Set n's entry to p, which fits, with e its entry. */
void mps3fs_node_set_packed(struct node *n, const struct mps3_packed *p, const struct mps3_entry *e);
/* Whether n's entry is v (borrowed, not NULL), or the packed p (as JSON: equal whatever the key order). */
int mps3fs_node_entry_is(const struct node *n, json_t *v);
int mps3fs_node_packed_is(const struct node *n, const struct mps3_packed *p);
/* The node's entry as JSON (new reference; NULL: none).  0 or -ENOMEM. */
int mps3fs_node_entry(const struct node *n, json_t **out);
/* A valid file's blob (or chunk list's blob) in hex into buf, "" if none; returns buf. */
const char *mps3fs_node_blob(const struct node *n, char buf[65]);
const char *mps3fs_node_chunks(const struct node *n, char buf[65]);
/* A link's target, an entry's xattr object (NULL: none), atime (0: unset) and rdev; borrowed. */
const char *mps3fs_node_target(const struct node *n);
json_t *mps3fs_node_xattr(const struct node *n);
int64_t mps3fs_node_atime(const struct node *n);
uint64_t mps3fs_node_rdev(const struct node *n);

struct tree {
	struct node *root;
	int quiet;			/* building the tree: no directory times change */
	struct node **byname;		/* hash of (parent ino, name) */
	size_t nbyname_buckets;
	struct node **byino;
	size_t nbyino_buckets;
	size_t nnodes;
	uint64_t next_ino;
	struct mps3_slab slab;		/* the nodes */
	/*
	 * Holds: a file closed while open elsewhere has its commit wait until
	 * until_ms (mps3_mono_ms()), unless fs->hold_epoch moved past epoch (a
	 * sync voids them).  Few at a time, so a table of their own rather
	 * than two fields in every node.
	 */
	struct tree_hold {
		struct node *n;
		int64_t until_ms;
		uint64_t epoch;
	} *holds;
	size_t nholds, holds_cap;
};

/* n's hold: 1 and its time and epoch, or 0. */
int mps3fs_hold_get(const struct tree *t, const struct node *n, int64_t *until_ms, uint64_t *epoch);
/* Set n's hold; without memory there is none (the commit goes sooner: an extra upload, no loss). */
void mps3fs_hold_set(struct tree *t, struct node *n, int64_t until_ms, uint64_t epoch);
/* Drop n's hold: 1 if it had one. */
int mps3fs_hold_clear(struct tree *t, struct node *n);

int mps3fs_tree_init(struct mps3fs *fs);
/* Room for n nodes without a rehash (a hint: building a big tree).  0 or -ENOMEM. */
int mps3fs_tree_reserve(struct mps3fs *fs, size_t n);
void mps3fs_tree_dispose(struct mps3fs *fs);
struct node *mps3fs_node_get(struct mps3fs *fs, uint64_t ino);
struct node *mps3fs_child(struct mps3fs *fs, struct node *dir, const char *name);
/* Full path of a node in the tree ("" for the root).  malloc'd or NULL. */
char *mps3fs_node_path(struct node *n);
/* dir's path joined with name.  malloc'd or NULL. */
char *mps3fs_child_path(struct node *dir, const char *name);
/* Node at path, or NULL. */
struct node *mps3fs_lookup_path(struct mps3fs *fs, const char *path);
void mps3fs_node_stat(struct mps3fs *fs, struct node *n, struct stat *st);
/* The S_IF* type the node is shown as. */
mode_t mps3fs_node_type(struct mps3fs *fs, struct node *n);
/* New node under dir with an entry (reference taken); NULL on ENOMEM. */
struct node *mps3fs_node_new(struct mps3fs *fs, struct node *dir, const char *name, json_t *entry);
/* Replace a node's entry (reference taken; NULL = none). */
void mps3fs_node_set_entry(struct node *n, json_t *entry);
/* Take a node out of the tree (it stays alive while referenced). */
void mps3fs_node_detach(struct mps3fs *fs, struct node *n);
/* Move n to dir/name (both must be free of a node of that name).  0 or -ENOMEM. */
int mps3fs_node_move(struct mps3fs *fs, struct node *n, struct node *dir, const char *name);
/* Free n if it is detached and unreferenced. */
void mps3fs_node_maybe_free(struct mps3fs *fs, struct node *n);
/* Remove implicit directories left without children, from n upwards. */
void mps3fs_prune_implicit(struct mps3fs *fs, struct node *n);
/* Call fn for every node under n (depth first, n included). */
void mps3fs_walk(struct node *n, void (*fn)(struct node *, void *), void *ctx);

/*
 * Apply a resolved value (may be NULL) at path to the tree: create nodes and
 * implicit parents, update, or remove.  Collects kernel invalidations in inv
 * (may be NULL).  Returns 1 if the tree changed.
 */
int mps3fs_tree_apply(struct mps3fs *fs, const char *path, json_t *value, struct inval *inv);
/* The same for a packed value (borrowed), held packed when it fits. */
int mps3fs_tree_apply_packed(struct mps3fs *fs, const char *path, const struct mps3_packed *p, struct inval *inv);

#endif
