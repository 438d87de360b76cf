/*
 * fs/control.h - the control directory /.mps3 (fs/control.c): read-only,
 * hidden from readdir of the root, answered without the tree.  It holds
 * `status`, the mount's report, and the past: `at/TIME/` and
 * `snapshots/NAME/`, read-only views (fs/view.h) whose inodes it owns too.
 *
 * Locks: none held by callers; status_text takes the tree lock briefly.
 * Errors: 0 or a negative errno (ENOENT for names it does not have, EACCES
 * for any change).
 */
#ifndef MPS3FS_CONTROL_H
#define MPS3FS_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct mps3fs;

#define MPS3FS_CTL_NAME ".mps3"

/* Whether ino belongs to the control directory (views included). */
int mps3fs_ctl_owns(uint64_t ino);
/*
 * Lookup of name in parent, when the control directory answers it: 1 and
 * *err (0 with *ino and *st set, or -ENOENT); 0 when it is not its business.
 */
int mps3fs_ctl_lookup(struct mps3fs *fs, uint64_t parent, const char *name, uint64_t *ino, struct stat *st,
		      int *err);
/* Attributes of a control inode: 0, or -ENOENT for a view inode no longer held. */
int mps3fs_ctl_stat(struct mps3fs *fs, uint64_t ino, struct stat *st);
/* The entries of a control directory, "." and ".." first: add(ctx, name, ino, type) for each. */
int mps3fs_ctl_list(struct mps3fs *fs, uint64_t ino,
		    int (*add)(void *ctx, const char *name, uint64_t ino, mode_t type), void *ctx);
/* The content of a control file, fixed at open: malloc'd text and *len, or NULL and *err. */
char *mps3fs_ctl_open(struct mps3fs *fs, uint64_t ino, int flags, size_t *len, int *err);
/* The text of /.mps3/status (malloc'd). */
char *mps3fs_status_text(struct mps3fs *fs, size_t *len);
/* The same as one JSON object, for mps3 status --json. */
char *mps3fs_status_json(struct mps3fs *fs, size_t *len);

#endif
