/*
 * fs/hook.c - validation hooks (see hook.h): the change as MPS3_*
 * variables, the program run by mps3_hook_run().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mps3/buf.h"
#include "mps3/hook.h"
#include "mps3/log.h"
#include "fs.h"
#include "hook.h"

int mps3fs_validate(struct mps3fs *fs, const char *op, const char *path, const char *to, const char *content,
		    mode_t mode)
{
	char why[512], *vars[8] = { NULL }, *p;
	size_t k = 0, i;
	int rc = 0;

	if (!fs->cfg.validate)
		return 0;
	if (asprintf(&vars[k], "MPS3_OP=%s", op) >= 0)
		k++;
	if (asprintf(&vars[k], "MPS3_PATH=%s", path) >= 0)
		k++;
	if (to && asprintf(&vars[k], "MPS3_TO=%s", to) >= 0)
		k++;
	if (content && asprintf(&vars[k], "MPS3_CONTENT=%s", content) >= 0)
		k++;
	if (mode != (mode_t)-1 && (mode & S_IFMT) &&
	    asprintf(&vars[k], "MPS3_TYPE=%s", S_ISDIR(mode) ? "dir" : S_ISREG(mode) ? "file" : S_ISLNK(mode) ? "link"
										       : "special") >= 0)
		k++;
	else if (mode != (mode_t)-1 && asprintf(&vars[k], "MPS3_MODE=%04o", (unsigned)(mode & 07777)) >= 0)
		k++;
	if (asprintf(&vars[k], "MPS3_MOUNT=%s", fs->cfg.mountpoint) >= 0)
		k++;
	vars[k] = NULL;
	rc = k < 3 ? -ENOMEM : mps3_hook_run(fs->cfg.validate, vars, fs->cfg.validate_timeout_ms, why, sizeof(why));
	for (i = 0; i < k; i++)
		free(vars[i]);
	if (rc == 0)
		return 0;
	p = mps3_escape(path);
	if (rc < 0)
		mps3_warn("%s: %s of %s refused: the validation hook %s cannot run: %s", fs->cfg.url, op, p ? p : "?",
			  fs->cfg.validate, strerror(-rc));
	else
		mps3_notice("%s: %s of %s refused by %s: %s", fs->cfg.url, op, p ? p : "?", fs->cfg.validate, why);
	free(p);
	return -EPERM;
}
