/*
 * fs/view.h - past states of the database as read-only directories
 * (fs/view.c): /.mps3/at/TIME/ and /.mps3/snapshots/NAME/.  A view is
 * built once, from mps3_db_state_at() or a snapshot, into an immutable
 * array of nodes; its inodes are VIEW_INO(view, index), disjoint from the
 * live tree's.  Content is read like the live tree's (blob cache, checked
 * downloads); nothing in a view can be changed (EROFS).
 *
 * Views live while the kernel holds a lookup of one of their inodes, and
 * a minute after; the views lock is a leaf, never held across store I/O
 * (a view is built outside it).  Errors: 0 or a negative errno.
 */
#ifndef MPS3FS_VIEW_H
#define MPS3FS_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <jansson.h>

#include "mps3/hash.h"

struct mps3fs;

#define VIEW_FLAG ((uint64_t)1 << 62)
#define VIEW_INO(id, i) (VIEW_FLAG | ((uint64_t)(id) << 32) | (uint64_t)(i))
#define IS_VIEW_INO(ino) (((ino) & VIEW_FLAG) != 0)

enum view_kind { VIEW_AT, VIEW_SNAPSHOT };

int mps3fs_views_init(struct mps3fs *fs);
void mps3fs_views_dispose(struct mps3fs *fs);

/*
 * The root of the view named name under /.mps3/at (a time) or
 * /.mps3/snapshots (a snapshot), made if needed: its inode and attributes,
 * one lookup taken.  -ENOENT (no such time kept, no such snapshot), -EINVAL
 * (not a time), or the store's error.
 */
int mps3fs_view_open_root(struct mps3fs *fs, enum view_kind kind, const char *name, uint64_t *ino,
			  struct stat *st);
/* Lookup of name in view directory parent: 0 with *ino, *st (a lookup taken), or -ENOENT. */
int mps3fs_view_lookup(struct mps3fs *fs, uint64_t parent, const char *name, uint64_t *ino, struct stat *st);
int mps3fs_view_stat(struct mps3fs *fs, uint64_t ino, struct stat *st);
void mps3fs_view_forget(struct mps3fs *fs, uint64_t ino, uint64_t nlookup);
/* One more lookup of ino, which the kernel took from a readdirplus entry. */
void mps3fs_view_ref(struct mps3fs *fs, uint64_t ino);
/* The entries of view directory ino, "." and ".." first. */
int mps3fs_view_list(struct mps3fs *fs, uint64_t ino,
		     int (*add)(void *ctx, const char *name, uint64_t ino, mode_t type), void *ctx);

/* What a reader of view file ino reads: blob, chunk list ("" none) and size.  -EISDIR, -ENOENT. */
int mps3fs_view_content(struct mps3fs *fs, uint64_t ino, char blob[MPS3_SHA256_HEX_LEN + 1],
			char chunks[MPS3_SHA256_HEX_LEN + 1], uint64_t *size);
/* A view link's target (malloc'd), or NULL with *err. */
char *mps3fs_view_readlink(struct mps3fs *fs, uint64_t ino, int *err);
/* The entry of a view node (new reference), for extended attributes; NULL if none. */
json_t *mps3fs_view_entry(struct mps3fs *fs, uint64_t ino);

#endif
