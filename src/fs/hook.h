/*
 * fs/hook.h - validation hooks (fs/hook.c): with -o validate=PROGRAM, a
 * local change is accepted only if PROGRAM, run before it is made, exits
 * 0.  PROGRAM gets the change in its environment:
 *
 *   MPS3_OP       close (new content), rename, unlink, rmdir, mkdir, symlink,
 *                 chmod, chown
 *   MPS3_PATH     the path in the database ("docs/a.json")
 *   MPS3_TO       rename: the new path; symlink: the target
 *   MPS3_CONTENT  close: a file holding the new content, to read
 *   MPS3_MODE     mkdir, chmod: the mode, in octal
 *   MPS3_MOUNT    the mount point
 *
 * with standard input from /dev/null; the first line of its standard error
 * is logged when it refuses.  It runs as the daemon's user, with no lock of
 * the daemon held, for at most validate_timeout (then it is killed and the
 * change refused: fail closed).  Changes replayed from other machines are
 * not validated (they were accepted where they were made).
 * Errors: 0 (accepted, or no hook) or -EPERM.
 */
#ifndef MPS3FS_HOOK_H
#define MPS3FS_HOOK_H

#include <sys/types.h>

struct mps3fs;

int mps3fs_validate(struct mps3fs *fs, const char *op, const char *path, const char *to, const char *content,
		    mode_t mode);

#endif
