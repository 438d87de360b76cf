/*
 * db/journal_holder.c - who holds a journal's lock: CACHE/journal/holder,
 * a JSON object the holder rewrites as it goes (its pid, and what the
 * daemon adds: the URL, the mount point, whether it is unmounting), so that
 * whoever is refused the lock can be told who has it.  The lock itself is
 * the flock(2) of CACHE/journal/log (db/journal.c), released by the kernel
 * when its holder dies: a record left by a dead process only informs, it
 * never blocks.  Also the one way to move a cache directory, under its lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "mps3/error.h"
#include "mps3/io.h"
#include "mps3/journal.h"
#include "mps3/json.h"

#define HOLDER_FILE "holder"
#define HOLDER_MAX 8192	/* a record is a few hundred bytes; more is not one */

/* Replace the record whole (a new file renamed over it): a reader never sees half of one. */
static int write_record(const char *dir, json_t *rec)
{
	char *path = NULL, *tmp = NULL, *text = mps3_json_dumps(rec, JSON_COMPACT);
	int fd = -1, rc = text ? 0 : -ENOMEM;

	if (!rc && (asprintf(&path, "%s/" HOLDER_FILE, dir) < 0 || asprintf(&tmp, "%s/" HOLDER_FILE ".tmp", dir) < 0)) {
		path = tmp = NULL;
		rc = -ENOMEM;
	}
	if (!rc) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		rc = fd < 0 ? -errno : mps3_write_all(fd, text, strlen(text));
	}
	if (fd >= 0 && close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc && tmp)
		unlink(tmp);
	free(text);
	free(path);
	free(tmp);
	return rc;
}

int mps3_journal_set_holder(struct mps3_journal *j, json_t *about)
{
	json_t *rec;
	int rc;

	pthread_mutex_lock(&j->lock);
	if (!j->holder)
		j->holder = json_object();
	if (j->holder && about)
		json_object_update(j->holder, about);
	rec = j->holder ? json_deep_copy(j->holder) : NULL;
	pthread_mutex_unlock(&j->lock);
	if (!rec)
		return -ENOMEM;
	/* After a fork (a daemon detaching) the holder is the child: the pid is always the caller's. */
	json_object_set_new(rec, "pid", json_integer((json_int_t)getpid()));
	rc = write_record(j->dir, rec);
	json_decref(rec);
	if (rc)
		return mps3_error_set(rc, "cannot record the holder of %s: %s", j->path, strerror(-rc));
	return 0;
}

int mps3_journal_holder(json_t **out, const char *cache_dir)
{
	char *path = NULL, buf[HOLDER_MAX];
	json_t *rec = NULL;
	json_int_t pid;
	ssize_t n = -1;
	int fd = -1, err = 0;

	*out = NULL;
	if (asprintf(&path, "%s/journal/" HOLDER_FILE, cache_dir) < 0)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	if (n > 0 && (size_t)n < sizeof(buf))
		rec = mps3_json_loadb(buf, (size_t)n, 0, NULL, &err);
	if (err == -ENOMEM)
		return err; /* not "no holder": a live one may be there */
	pid = json_integer_value(json_object_get(rec, "pid"));
	if (!json_is_object(rec) || pid <= 0 || pid != (pid_t)pid) {
		json_decref(rec);
		return -ENOENT;
	}
	/* EPERM: alive, another user's. */
	json_object_set_new(rec, "alive", json_boolean(kill((pid_t)pid, 0) == 0 || errno == EPERM));
	*out = rec;
	return 0;
}

int mps3_journal_rename_dir(const char *from, const char *to)
{
	char *log = NULL;
	int fd, rc = 0;

	if (asprintf(&log, "%s/journal/log", from) < 0)
		return -ENOMEM;
	fd = open(log, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(log);
	if (fd < 0 && errno != ENOENT)
		return mps3_error_set(-errno, "%s: %s", from, strerror(errno));
	/* Held across the rename: nobody opens the journal at the old name meanwhile. */
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0)
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
	if (!rc && rename(from, to) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc)
		return mps3_error_set(rc, "cannot move %s to %s: %s", from, to, strerror(-rc));
	return 0;
}
