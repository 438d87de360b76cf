/*
 * cli/cmd_mount.c - commands on a mounted mps3fs.  `mps3 batch MNT -- CMD`
 * runs CMD in a batch (MNT/.mps3/batch): every change of the mount while it
 * runs goes to the bucket in one log entry if it exits 0, or is thrown
 * away.  `mps3 restore --at TIME MNT/PATH...`: the paths are made what
 * MNT/.mps3/at/TIME shows, with ordinary
 * file operations through the mount, so that the mount commits them like
 * any other change and watchers on every mount see the usual events.
 * Content is copied only where it differs (user.mps3.version tells);
 * what was made since TIME is removed.  Then it waits until the mount has
 * put it all in the bucket.  Nothing here is followed out of the mount:
 * every path is opened beneath a directory fd with O_NOFOLLOW.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mps3/io.h"
#include "cli.h"

struct restore {
	int view, live;			/* the view's root and the mount's root */
	unsigned changed, failed;
};

static void report(struct restore *r, const char *what, const char *rel, int err)
{
	fprintf(stderr, "mps3: restore: %s %s: %s\n", what, rel, strerror(err));
	r->failed++;
}

/* Remove rel (a tree) from the mount.  0 or errno. */
static int remove_tree(int at, const char *rel)
{
	struct stat st;
	int fd, rc = 0;
	DIR *d;
	struct dirent *de;

	if (fstatat(at, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(at, rel, 0) < 0 ? errno : 0;
	fd = openat(at, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return errno;
	}
	while (!rc && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = remove_tree(dirfd(d), de->d_name);
	closedir(d);
	return rc ? rc : unlinkat(at, rel, AT_REMOVEDIR) < 0 ? errno : 0;
}

/* Whether two regular files have the same content: the same blob, by the mount's own word. */
static int same_content(int vfd, int lfd)
{
	char a[80] = "", b[80] = "";
	ssize_t na = fgetxattr(vfd, "user.mps3.version", a, sizeof(a) - 1);
	ssize_t nb = fgetxattr(lfd, "user.mps3.version", b, sizeof(b) - 1);

	return na > 0 && na == nb && memcmp(a, b, (size_t)na) == 0;
}

/* user.* attributes of the view's file onto the live one (the virtual user.mps3.* left alone). */
static void copy_xattrs(int vfd, int lfd)
{
	char names[65536], value[65536];
	ssize_t n = flistxattr(vfd, names, sizeof(names)), v;
	char *k;

	for (k = names; n > 0 && k < names + n; k += strlen(k) + 1) {
		if (strncmp(k, "user.", 5) != 0 || strncmp(k, "user.mps3.", 10) == 0)
			continue;
		v = fgetxattr(vfd, k, value, sizeof(value));
		if (v >= 0)
			(void)fsetxattr(lfd, k, value, (size_t)v, 0);
	}
}

static int copy_file(struct restore *r, int vdir, int ldir, const char *name, const struct stat *vs, const char *rel)
{
	struct timespec ts[2] = { vs->st_atim, vs->st_mtim };
	char tmp[NAME_MAX + 1];
	int vfd = openat(vdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), lfd, err = 0;
	off_t in = 0, out = 0;

	if (vfd < 0)
		return errno;
	lfd = openat(ldir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (lfd >= 0 && same_content(vfd, lfd)) {
		struct stat ls;

		/* Content as it was: only what else differs. */
		if (fstat(lfd, &ls) == 0 && (ls.st_mode & 07777) != (vs->st_mode & 07777))
			(void)fchmod(lfd, vs->st_mode & 07777), r->changed++;
		if (fstat(lfd, &ls) == 0 && ls.st_mtim.tv_sec != vs->st_mtim.tv_sec)
			(void)futimens(lfd, ts);
		copy_xattrs(vfd, lfd);
		close(lfd);
		close(vfd);
		return 0;
	}
	if (lfd >= 0)
		close(lfd);
	/* A new file beside it, then renamed over: a reader never sees half of it. */
	snprintf(tmp, sizeof(tmp), ".mps3-restore-%d", (int)getpid());
	lfd = openat(ldir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, vs->st_mode & 0777);
	if (lfd < 0) {
		err = errno;
		close(vfd);
		return err;
	}
	err = -mps3_copy_all(vfd, &in, lfd, &out, (uint64_t)vs->st_size);
	if (!err && fchmod(lfd, vs->st_mode & 07777) < 0)
		err = errno;
	if (!err)
		copy_xattrs(vfd, lfd);
	if (!err && futimens(lfd, ts) < 0)
		err = errno;
	if (close(lfd) < 0 && !err)
		err = errno;
	close(vfd);
	if (!err && renameat(ldir, tmp, ldir, name) < 0)
		err = errno;
	if (err)
		unlinkat(ldir, tmp, 0);
	else
		r->changed++;
	(void)rel;
	return err;
}

static void restore_at(struct restore *r, int vdir, int ldir, const char *name, const char *rel);

/* Directory name of vdir made the same in ldir: what it has now and had not then goes. */
static void restore_dir(struct restore *r, int vdir, int ldir, const char *name, const struct stat *vs,
			const char *rel)
{
	struct timespec ts[2] = { vs->st_atim, vs->st_mtim };
	struct stat ls;
	int vfd, lfd;
	DIR *d;
	struct dirent *de;

	if (fstatat(ldir, name, &ls, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(ls.st_mode)) {
		int err = remove_tree(ldir, name);

		if (err) {
			report(r, "cannot remove", rel, err);
			return;
		}
	}
	if (mkdirat(ldir, name, vs->st_mode & 07777) == 0)
		r->changed++;
	else if (errno != EEXIST) {
		report(r, "cannot make", rel, errno);
		return;
	}
	vfd = openat(vdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	lfd = openat(ldir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vfd < 0 || lfd < 0) {
		report(r, "cannot open", rel, errno);
		goto out;
	}
	/* Gone: what the live directory has and the view has not. */
	d = fdopendir(dup(lfd));
	while (d && (de = readdir(d)) != NULL) {
		struct stat st;
		char sub[PATH_MAX];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || fstatat(vfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name);
		if (remove_tree(lfd, de->d_name))
			report(r, "cannot remove", sub, errno);
		else
			r->changed++;
	}
	if (d)
		closedir(d);
	/* Back: what the view has. */
	d = fdopendir(dup(vfd));
	while (d && (de = readdir(d)) != NULL) {
		char sub[PATH_MAX];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name);
		restore_at(r, vfd, lfd, de->d_name, sub);
	}
	if (d)
		closedir(d);
	if (fstat(lfd, &ls) == 0 && (ls.st_mode & 07777) != (vs->st_mode & 07777) &&
	    fchmod(lfd, vs->st_mode & 07777) == 0)
		r->changed++;
	(void)futimens(lfd, ts);
out:
	if (vfd >= 0)
		close(vfd);
	if (lfd >= 0)
		close(lfd);
}

/* name under vdir (the view) made the same under ldir (the mount); rel for messages. */
static void restore_at(struct restore *r, int vdir, int ldir, const char *name, const char *rel)
{
	struct stat vs, ls;
	int have = fstatat(ldir, name, &ls, AT_SYMLINK_NOFOLLOW) == 0, err = 0;

	if (vdir < 0 || fstatat(vdir, name, &vs, AT_SYMLINK_NOFOLLOW) < 0) {
		if (vdir >= 0 && errno != ENOENT) {
			report(r, "cannot read the past of", rel, errno);
			return;
		}
		/* It was not there then. */
		if (have) {
			err = remove_tree(ldir, name);
			if (err) {
				report(r, "cannot remove", rel, err);
				return;
			}
			r->changed++;
		}
		return;
	}
	if (S_ISDIR(vs.st_mode)) {
		restore_dir(r, vdir, ldir, name, &vs, rel);
		return;
	}
	if (have && (ls.st_mode & S_IFMT) != (vs.st_mode & S_IFMT)) {
		err = remove_tree(ldir, name);
		if (err) {
			report(r, "cannot remove", rel, err);
			return;
		}
		have = 0;
	}
	if (S_ISREG(vs.st_mode)) {
		err = copy_file(r, vdir, ldir, name, &vs, rel);
	} else if (S_ISLNK(vs.st_mode)) {
		char vt[PATH_MAX], lt[PATH_MAX];
		ssize_t nv = readlinkat(vdir, name, vt, sizeof(vt) - 1);
		ssize_t nl = have ? readlinkat(ldir, name, lt, sizeof(lt) - 1) : -1;

		if (nv < 0)
			err = errno;
		else if (nl != nv || memcmp(vt, lt, (size_t)nv) != 0) {
			vt[nv] = '\0';
			if (have)
				(void)unlinkat(ldir, name, 0);
			err = symlinkat(vt, ldir, name) < 0 ? errno : 0;
			r->changed += err == 0;
		}
	} else if (!have || ls.st_rdev != vs.st_rdev || (ls.st_mode & 07777) != (vs.st_mode & 07777)) {
		if (have)
			(void)unlinkat(ldir, name, 0);
		err = mknodat(ldir, name, vs.st_mode, vs.st_rdev) < 0 ? errno : 0;
		r->changed += err == 0;
	}
	if (err)
		report(r, "cannot restore", rel, err);
}

/*
 * rel (several components) restored: its parents walked one component at a
 * time without following links, in the view and in the mount (made in the
 * mount where the view has them and the mount no longer does).
 */
static void restore_path(struct restore *r, const char *rel)
{
	char *copy = strdup(rel), *comp, *next, *save = NULL;
	int vd = dup(r->view), ld = dup(r->live);

	if (!copy || vd < 0 || ld < 0) {
		report(r, "cannot restore", rel, ENOMEM);
		goto out;
	}
	for (comp = strtok_r(copy, "/", &save); comp; comp = next) {
		int nv, nl;

		next = strtok_r(NULL, "/", &save);
		if (!next) {
			restore_at(r, vd, ld, comp, rel);
			break;
		}
		nv = vd >= 0 ? openat(vd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
		nl = openat(ld, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nv >= 0 && nl < 0) {
			/* The view has a directory here that the mount lost: make it (and drop what took its name). */
			if (errno == ENOTDIR || errno == ELOOP)
				(void)unlinkat(ld, comp, 0);
			if (mkdirat(ld, comp, 0755) == 0)
				r->changed++;
			nl = openat(ld, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (vd >= 0)
			close(vd);
		close(ld);
		vd = nv;
		ld = nl;
		if (ld < 0)
			break; /* not in the mount, and (so) nothing to remove: the view's side was made above */
		/* vd < 0: not there then; walking on in the mount only, what is at the end goes. */
	}
out:
	free(copy);
	if (vd >= 0)
		close(vd);
	if (ld >= 0)
		close(ld);
}

/* The mount that holds path: its root (malloc'd), and path relative to it in *rel (into path). */
static char *mount_root(char *path, char **rel)
{
	char *root = strdup(path), *slash, probe[PATH_MAX + 16];

	while (root && *root) {
		struct stat st;

		snprintf(probe, sizeof(probe), "%s/.mps3/status", root[1] ? root : "");
		if (stat(probe, &st) == 0) {
			size_t n = strlen(root);

			*rel = path[n] == '/' ? path + n + 1 : path + n;
			return root;
		}
		slash = strrchr(root, '/');
		if (!slash || slash == root)
			break;
		*slash = '\0';
	}
	free(root);
	return NULL;
}

int mps3_cmd_mount_restore(const struct mps3_cli_args *a)
{
	struct restore r = { -1, -1, 0, 0 };
	char *root = NULL, view[PATH_MAX + 64], **argv = a->pos;
	const char *at = a->val[OPT_AT];
	int i, rc;

	/* TIME names a directory of .mps3/at: never a path that leads elsewhere. */
	if (!at[0] || strchr(at, '/') || strcmp(at, ".") == 0 || strcmp(at, "..") == 0)
		return mps3_cli_usage_error("--at %s is not a time (YYYY-MM-DDTHH:MM:SSZ, @EPOCH, -2h)", at);
	for (i = 0; i < a->npos; i++) {
		char *abs = realpath(argv[i], NULL), *rel = NULL, *dir = NULL, *rootn;

		/* A path made since may not exist now: its parent does. */
		if (!abs) {
			char *copy = strdup(argv[i]), *slash = copy ? strrchr(copy, '/') : NULL;

			if (slash && slash != copy) {
				*slash = '\0';
				dir = realpath(copy, NULL);
				if (dir && asprintf(&abs, "%s/%s", dir, slash + 1) < 0)
					abs = NULL;
			}
			free(copy);
			free(dir);
		}
		rootn = abs ? mount_root(abs, &rel) : NULL;
		if (!rootn || !*rel) {
			fprintf(stderr, "mps3: restore: %s: not a path inside a mounted mps3fs\n", argv[i]);
			free(abs);
			free(rootn);
			r.failed++;
			continue;
		}
		if (!root) {
			root = rootn;
			snprintf(view, sizeof(view), "%s/.mps3/at/%s", root, at);
			r.view = open(view, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			r.live = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (r.view < 0 || r.live < 0) {
				fprintf(stderr, "mps3: restore: %s: %s\n", r.view < 0 ? view : root, strerror(errno));
				free(abs);
				free(root);
				return EXIT_FAILURE;
			}
		} else if (strcmp(root, rootn) != 0) {
			fprintf(stderr, "mps3: restore: %s is not in %s\n", argv[i], root);
			r.failed++;
			free(rootn);
			free(abs);
			continue;
		} else {
			free(rootn);
		}
		restore_path(&r, rel);
		free(abs);
	}
	if (r.view >= 0)
		close(r.view);
	if (r.live >= 0)
		close(r.live);
	rc = root && !r.failed ? mps3_cli_sync_mount(root) : EXIT_FAILURE;
	if (root && rc == 0)
		printf("restored %u path%s as at %s\n", r.changed, r.changed == 1 ? "" : "s", at);
	free(root);
	return rc;
}

/* Write one command to the batch file: 0, or the errno the mount answered. */
static int batch_say(int fd, const char *cmd)
{
	ssize_t n = write(fd, cmd, strlen(cmd));

	return n == (ssize_t)strlen(cmd) ? 0 : n < 0 ? errno : EIO;
}

int mps3_cmd_mount_batch(const struct mps3_cli_args *args)
{
	char path[PATH_MAX + 16], **argv = args->pos;
	int a = 1, keep = args->count[OPT_KEEP] > 0, fd, status, rc, err;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/.mps3/batch", argv[0]);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "mps3: batch: %s: %s (is an mps3fs mounted there?)\n", argv[0], strerror(errno));
		return EXIT_FAILURE;
	}
	err = batch_say(fd, "begin");
	if (err) {
		fprintf(stderr, "mps3: batch: %s: %s\n", argv[0],
			err == EBUSY ? "another batch is open on this mount" : strerror(err));
		close(fd);
		return EXIT_FAILURE;
	}
	pid = fork();
	if (pid == 0) {
		close(fd);
		execvp(argv[a], argv + a);
		fprintf(stderr, "mps3: batch: %s: %s\n", argv[a], strerror(errno));
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		fprintf(stderr, "mps3: batch: cannot run %s: %s\n", argv[a], strerror(errno));
		status = 1 << 8;
	}
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	if (rc == 0 || keep) {
		/* Returns once the one entry is in the bucket. */
		err = batch_say(fd, "commit");
		if (err) {
			fprintf(stderr, "mps3: batch: the commit failed: %s\n",
				err == EFBIG ? "more changes than one log entry holds; nothing was committed"
					     : strerror(err));
			rc = rc ? rc : EXIT_FAILURE;
		}
	} else {
		err = batch_say(fd, "abort");
		fprintf(stderr, "mps3: batch: %s exited with %d; its changes were thrown away%s%s\n", argv[a], rc,
			err ? ": " : "", err ? strerror(err) : "");
	}
	close(fd);
	return rc;
}
