/*
 * tests/posix/posix.c - a table-driven POSIX conformance check of a
 * mounted mps3fs, for what pjdfstest and fsx found (they are not in
 * Debian; see README, Conformance): the errno of each operation on each
 * kind of path, parent times on every change of names, atime, ctime and
 * mtime, link counts, special files, long names and paths, fsync that does
 * not wait for other files, listings (names of every length, seekdir,
 * entries removed while open), and a sparse file beyond 2 and 3 GiB.
 *
 *   posix MOUNT    runs in MOUNT/posix, which it makes; TAP on stdout
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../unit/tap.h"

static char name255[256], name256[257];

/* ---- errno table ---------------------------------------------------------------- */

enum op { MKDIR, RMDIR, UNLINK, CREATE, OPENRD, RENAME, SYMLINK, LINK, MKFIFO, STAT, TRUNCATE, CHMOD };

static const char *const op_names[] = { "mkdir", "rmdir", "unlink", "create", "open", "rename",
					"symlink", "link", "mkfifo", "stat", "truncate", "chmod" };

static int do_op(enum op op, const char *a, const char *b)
{
	struct stat st;
	int fd;

	switch (op) {
	case MKDIR:
		return mkdir(a, 0755);
	case RMDIR:
		return rmdir(a);
	case UNLINK:
		return unlink(a);
	case CREATE:
		fd = open(a, O_CREAT | O_EXCL | O_WRONLY, 0644);
		return fd < 0 ? -1 : close(fd);
	case OPENRD:
		fd = open(a, O_RDONLY);
		return fd < 0 ? -1 : close(fd);
	case RENAME:
		return rename(a, b);
	case SYMLINK:
		return symlink(b, a);
	case LINK:
		return link(a, b);
	case MKFIFO:
		return mkfifo(a, 0644);
	case STAT:
		return lstat(a, &st);
	case TRUNCATE:
		return truncate(a, 1);
	case CHMOD:
		return chmod(a, 0600);
	}
	return -1;
}

struct errcase {
	enum op op;
	const char *a, *b;	/* "@255" and "@256" stand for names of that length */
	int want;		/* 0: success */
};

/* s with a trailing "@255" or "@256" spelled out; buf holds the result. */
static const char *arg(const char *s, char *buf, size_t size)
{
	const char *at = s ? strchr(s, '@') : NULL;

	if (!at)
		return s;
	snprintf(buf, size, "%.*s%s", (int)(at - s), s, strcmp(at, "@255") == 0 ? name255 : name256);
	return buf;
}

static const struct errcase errcases[] = {
	/* Fixture: dir/ (with dir/f), empty/, file f, link l -> f. */
	{ MKDIR, "dir", NULL, EEXIST },
	{ MKDIR, "f", NULL, EEXIST },
	{ MKDIR, "nodir/x", NULL, ENOENT },
	{ MKDIR, "f/x", NULL, ENOTDIR },
	{ MKDIR, "@256", NULL, ENAMETOOLONG },
	{ MKDIR, "@255", NULL, 0 },
	{ RMDIR, "@255", NULL, 0 },
	{ RMDIR, "dir", NULL, ENOTEMPTY },
	{ RMDIR, "f", NULL, ENOTDIR },
	{ RMDIR, "nodir", NULL, ENOENT },
	{ RMDIR, "@256", NULL, ENAMETOOLONG },
	{ UNLINK, "dir", NULL, EISDIR },
	{ UNLINK, "nofile", NULL, ENOENT },
	{ UNLINK, "@256", NULL, ENAMETOOLONG },
	{ CREATE, "f", NULL, EEXIST },
	{ CREATE, "l", NULL, EEXIST },
	{ CREATE, "f/x", NULL, ENOTDIR },
	{ CREATE, "@256", NULL, ENAMETOOLONG },
	{ CREATE, "bad\xff", NULL, EILSEQ },
	{ CREATE, "../.mps3", NULL, EEXIST },
	{ MKDIR, "../.mps3", NULL, EEXIST },
	{ OPENRD, "@256", NULL, ENAMETOOLONG },
	{ OPENRD, "nofile", NULL, ENOENT },
	{ STAT, "@256", NULL, ENAMETOOLONG },
	{ TRUNCATE, "@256", NULL, ENAMETOOLONG },
	{ TRUNCATE, "dir", NULL, EISDIR },
	{ CHMOD, "@256", NULL, ENAMETOOLONG },
	{ RENAME, "dir", "dir/sub", EINVAL },
	{ RENAME, "dir", "f", ENOTDIR },
	{ RENAME, "f", "dir", EISDIR },
	{ RENAME, "f", "empty/@256", ENAMETOOLONG },
	{ RENAME, "@256", "g", ENAMETOOLONG },
	{ RENAME, "empty", "dir", ENOTEMPTY },
	{ RENAME, "nofile", "g", ENOENT },
	{ SYMLINK, "f", "x", EEXIST },
	{ SYMLINK, "@256", "x", ENAMETOOLONG },
	{ LINK, "f", "hard", EPERM },
	{ LINK, "f", "@256", ENAMETOOLONG },
	{ MKFIFO, "f", NULL, EEXIST },
	{ MKFIFO, "@256", NULL, ENAMETOOLONG },
};

static void test_errnos(void)
{
	size_t i;
	int fd;

	memset(name255, 'n', 255);
	memset(name256, 'n', 256);
	if (mkdir("dir", 0755) || mkdir("empty", 0755) || mkdir("dir/sub", 0755) || symlink("f", "l")) {
		tap_ok(0, "fixture: %s", strerror(errno));
		return;
	}
	fd = open("f", O_CREAT | O_WRONLY, 0644);
	if (fd >= 0)
		close(fd);
	fd = open("dir/f", O_CREAT | O_WRONLY, 0644);
	if (fd >= 0)
		close(fd);
	for (i = 0; i < sizeof(errcases) / sizeof(errcases[0]); i++) {
		const struct errcase *c = &errcases[i];
		char a[512], b[512];
		int rc, err;

		errno = 0;
		rc = do_op(c->op, arg(c->a, a, sizeof(a)), arg(c->b, b, sizeof(b)));
		err = rc == 0 ? 0 : errno;
		tap_ok(err == c->want, "%s %.16s%s%.16s: %s (got %s)", op_names[c->op], c->a, c->b ? " " : "",
		       c->b ? c->b : "", c->want ? strerror(c->want) : "ok", err ? strerror(err) : "ok");
	}
}

/* ---- long paths ------------------------------------------------------------------ */

static void test_long_paths(void)
{
	char path[8192], comp[201];
	size_t len = 0;
	int i, made = 0, rc = 0;

	memset(comp, 'p', 200);
	comp[200] = '\0';
	/* The first components make a path under 4096 bytes; the one past it is refused. */
	snprintf(path, sizeof(path), "deep");
	mkdir(path, 0755);
	for (i = 0; i < 25; i++) {
		len = strlen(path);
		snprintf(path + len, sizeof(path) - len, "/%s", comp);
		rc = mkdir(path, 0755);
		if (rc)
			break;
		made++;
	}
	tap_ok(rc != 0 && errno == ENAMETOOLONG, "a directory whose path would pass 4096 bytes: ENAMETOOLONG (after %d)",
	       made);
	path[len] = '\0';
	snprintf(path + len, sizeof(path) - len, "/%.*s", (int)(4096 - len - 1 - 5), comp);
	/* Exactly 4096 bytes from the root of the mount's database: "deep/..." relative to the test dir. */
	tap_ok(strlen(path) > 3000, "a long path is built (%zu bytes)", strlen(path));
}

/* ---- times and link counts ----------------------------------------------------------- */

static int64_t ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Whether op on dir/... moved dir's mtime and ctime. */
static void check_parent_times(const char *what, void (*op)(void))
{
	struct stat a, b;
	struct timespec pause = { 0, 20 * 1000000 };

	stat("times", &a);
	nanosleep(&pause, NULL);
	op();
	stat("times", &b);
	tap_ok(ns(b.st_mtim) > ns(a.st_mtim) && ns(b.st_ctim) > ns(a.st_ctim), "%s changes the parent's mtime and ctime",
	       what);
}

static void t_create(void)
{
	int fd = open("times/f", O_CREAT | O_WRONLY, 0644);

	if (fd >= 0)
		close(fd);
}
static void t_mkdir(void) { mkdir("times/d", 0755); }
static void t_symlink(void) { symlink("f", "times/l"); }
static void t_mkfifo(void) { mkfifo("times/p", 0644); }
static void t_rename(void) { rename("times/f", "times/g"); }
static void t_unlink(void) { unlink("times/g"); }
static void t_rmdir(void) { rmdir("times/d"); }

static void test_times(void)
{
	struct stat st, st2;
	struct timespec ts[2] = { { 1900000000, 0 }, { 1950000000, 0 } };
	struct timespec pause = { 0, 20 * 1000000 };
	int fd;

	mkdir("times", 0755);
	check_parent_times("create", t_create);
	check_parent_times("mkdir", t_mkdir);
	check_parent_times("symlink", t_symlink);
	check_parent_times("mkfifo", t_mkfifo);
	check_parent_times("rename", t_rename);
	check_parent_times("unlink", t_unlink);
	check_parent_times("rmdir", t_rmdir);

	fd = open("times/u", O_CREAT | O_RDWR, 0644);
	tap_ok(fd >= 0 && futimens(fd, ts) == 0 && fstat(fd, &st) == 0 && st.st_atim.tv_sec == 1900000000 &&
		       st.st_mtim.tv_sec == 1950000000,
	       "utimensat sets atime and mtime apart");
	nanosleep(&pause, NULL);
	tap_ok(fchmod(fd, 0640) == 0 && fstat(fd, &st2) == 0 && ns(st2.st_ctim) > ns(st.st_ctim) &&
		       st2.st_mtim.tv_sec == 1950000000,
	       "chmod changes ctime, not mtime");
	nanosleep(&pause, NULL);
	tap_ok(ftruncate(fd, 123) == 0 && fstat(fd, &st) == 0 && st.st_size == 123 && ns(st.st_ctim) > ns(st2.st_ctim) &&
		       st.st_mtim.tv_sec < 1900000000 && ns(st.st_mtim) == ns(st.st_ctim),
	       "ftruncate sets mtime and ctime to now, at once");
	nanosleep(&pause, NULL);
	tap_ok(pwrite(fd, "x", 1, 0) == 1 && fstat(fd, &st2) == 0 && ns(st2.st_mtim) > ns(st.st_mtim) &&
		       ns(st2.st_ctim) > ns(st.st_ctim),
	       "a write changes mtime and ctime while the file is open");
	tap_ok(futimens(fd, ts) == 0 && pwrite(fd, "y", 1, 1) == 1 && close(fd) == 0 && stat("times/u", &st) == 0 &&
		       st.st_mtim.tv_sec < 1900000000,
	       "a write after utimensat moves mtime again");

	mkdir("links", 0755);
	mkdir("links/a", 0755);
	mkdir("links/b", 0755);
	close(open("links/f", O_CREAT | O_WRONLY, 0644));
	tap_ok(stat("links", &st) == 0 && st.st_nlink == 4, "a directory's link count is 2 + its subdirectories (%lu)",
	       (unsigned long)st.st_nlink);
	rmdir("links/b");
	tap_ok(stat("links", &st) == 0 && st.st_nlink == 3, "and follows their removal");
	fd = open("links/f", O_RDONLY);
	unlink("links/f");
	tap_ok(fd >= 0 && fstat(fd, &st) == 0 && st.st_nlink == 0, "an unlinked file still open has link count 0");
	if (fd >= 0)
		close(fd);
}

/* ---- special files ------------------------------------------------------------------- */

static void test_special(void)
{
	struct sockaddr_un sa;
	struct stat st;
	int s;

	mkdir("special", 0755);
	tap_ok(mkfifo("special/fifo", 0640) == 0 && lstat("special/fifo", &st) == 0 && S_ISFIFO(st.st_mode) &&
		       (st.st_mode & 0777) == 0640,
	       "mkfifo makes a FIFO with its mode");
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "special/sock");
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	tap_ok(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 && lstat("special/sock", &st) == 0 &&
		       S_ISSOCK(st.st_mode),
	       "bind() of a unix socket makes a socket");
	if (s >= 0)
		close(s);
	if (geteuid() == 0)
		tap_ok(mknod("special/null", S_IFCHR | 0666, makedev(1, 3)) == 0 && lstat("special/null", &st) == 0 &&
			       S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3,
		       "mknod makes a character device with its number");
	tap_ok(rename("special/fifo", "special/fifo2") == 0 && chmod("special/fifo2", 0600) == 0 &&
		       lstat("special/fifo2", &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0600,
	       "a FIFO renames and chmods like a file");
	tap_ok(unlink("special/fifo2") == 0 && unlink("special/sock") == 0, "and is removed like one");
}

/* ---- listings -------------------------------------------------------------------- */

#define NLIST 600 /* about 80 KiB of names: the snapshot grows from malloc into a mapping */

/* Name i of the listing test: "n<i>-" then 'x's to a length from 3 to 250 bytes. */
static void list_name(char *out, int i)
{
	int len = 3 + (i * 37) % 248, n = snprintf(out, 256, "n%d-", i);

	while (n < len)
		out[n++] = 'x';
	out[n] = '\0';
}

/* The path of name i: "list/<name i>". */
static void list_path(char *out, size_t size, int i)
{
	snprintf(out, size, "list/");
	list_name(out + 5, i);
}

/* The index of a listed name, -1 for a dot, -2 for anything else. */
static int list_index(const char *name)
{
	char want[256];
	int i;

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -1;
	if (sscanf(name, "n%d-", &i) != 1 || i < 0 || i >= NLIST)
		return -2;
	list_name(want, i);
	return strcmp(want, name) == 0 ? i : -2;
}

static void test_listing(void)
{
	static char seen[NLIST];
	char name[300], again[300];
	int i, ok = mkdir("list", 0755) == 0, dots = 0, bad = 0, dup = 0, count = 0;
	struct dirent *de;
	long pos = -1;
	DIR *d;

	for (i = 0; ok && i < NLIST; i++) {
		int fd;

		list_path(name, sizeof(name), i);
		fd = open(name, O_CREAT | O_EXCL | O_WRONLY, 0644);
		ok = fd >= 0 && close(fd) == 0;
	}
	tap_ok(ok, "%d files with names of 3 to 250 bytes are made", NLIST);
	d = opendir("list");
	while (d && (de = readdir(d))) {
		int k = list_index(de->d_name);

		if (k == -1)
			dots++;
		else if (k < 0)
			bad++;
		else if (seen[k]++)
			dup++;
		else
			count++;
		if (count == NLIST / 2 && pos < 0) {
			pos = telldir(d);
			/* Removed while the listing is open: the listing is of the opendir. */
			list_path(name, sizeof(name), 0);
			unlink(name);
		}
	}
	tap_ok(d && count == NLIST && dots == 2 && bad == 0 && dup == 0,
	       "readdir gives each name once, with . and .., even one removed meanwhile (%d, %d dots, %d bad, "
	       "%d twice)", count, dots, bad, dup);
	ok = d && pos >= 0;
	if (ok) {
		seekdir(d, pos);
		de = readdir(d);
		ok = de != NULL;
		if (ok)
			snprintf(name, sizeof(name), "%s", de->d_name);
		seekdir(d, pos);
		de = readdir(d);
		ok = ok && de && strcmp(de->d_name, name) == 0 && list_index(name) >= 0;
	}
	tap_ok(ok, "seekdir to a telldir position gives the same entry again");
	if (d) {
		rewinddir(d);
		de = readdir(d);
		snprintf(again, sizeof(again), "%s", de ? de->d_name : "");
		ok = de != NULL;
		/* A position no telldir gave (beyond the end): no entries, no failure. */
		ok = ok && lseek(dirfd(d), (off_t)1 << 40, SEEK_SET) >= 0;
		closedir(d);
	}
	tap_ok(d && ok && (strcmp(again, ".") == 0 || list_index(again) != -2),
	       "rewinddir starts again; a directory seeked past its end is accepted");
	d = opendir("list");
	for (count = 0; d && (de = readdir(d));)
		count += list_index(de->d_name) >= 0;
	tap_ok(d && count == NLIST - 1, "a new listing no longer has the removed name (%d)", count);
	if (d)
		closedir(d);
	for (i = 1; i < NLIST; i++) {
		list_path(name, sizeof(name), i);
		unlink(name);
	}
	tap_ok(rmdir("list") == 0, "and the directory, emptied, is removed");
}

/* ---- fsync does not wait for other files --------------------------------------------- */

static void on_alarm(int sig)
{
	(void)sig;
	_exit(3);
}

static void test_fsync(void)
{
	int a, b;

	signal(SIGALRM, on_alarm);
	alarm(60); /* a hang is a failure, not a stuck test */
	a = open("fsync-a", O_CREAT | O_RDWR, 0644);
	fchmod(a, 0600);
	b = open("fsync-b", O_CREAT | O_WRONLY, 0644);
	tap_ok(a >= 0 && b >= 0 && write(b, "x", 1) == 1 && fsync(b) == 0,
	       "fsync of a file returns while another, created and chmod'ed, is still open");
	alarm(0);
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
}

/* ---- large sparse files ---------------------------------------------------------------- */

static void test_sparse(void)
{
	static const off_t at[] = { (off_t)2 << 30, ((off_t)3 << 30) + 12345 };
	char c = 0;
	size_t i;
	int fd = open("sparse", O_CREAT | O_RDWR, 0644), ok = fd >= 0;

	for (i = 0; ok && i < sizeof(at) / sizeof(at[0]); i++)
		ok = pwrite(fd, "a", 1, at[i]) == 1;
	ok = ok && close(fd) == 0;
	fd = open("sparse", O_RDONLY);
	tap_ok(ok && fd >= 0 && pread(fd, &c, 1, at[1]) == 1 && c == 'a', "a byte written past 3 GiB reads back");
	tap_ok(fd >= 0 && pread(fd, &c, 1, at[0]) == 1 && c == 'a' && pread(fd, &c, 1, 4096) == 1 && c == 0,
	       "and past 2 GiB, with zeros between");
	if (fd >= 0)
		close(fd);
	unlink("sparse");
}

int main(int argc, char **argv)
{
	if (argc != 2 || chdir(argv[1]) != 0 || mkdir("posix", 0755) != 0 || chdir("posix") != 0) {
		fprintf(stderr, "usage: posix MOUNT (the root of a mount, without a directory posix/)\n");
		return 2;
	}
	test_errnos();
	test_long_paths();
	test_times();
	test_special();
	test_listing();
	test_fsync();
	if (!getenv("POSIX_NO_SPARSE"))
		test_sparse();
	return tap_done();
}
