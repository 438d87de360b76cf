/*
 * cli/cmd_admin.c - maintenance (checkpoint, gc, fsck), the journal an
 * mps3fs left behind (sync --journal), and the commands on a mount point
 * (status, sync).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mps3/clock.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/io.h"
#include "mps3/journal.h"
#include "mps3/json.h"
#include "mps3/log.h"
#include "cli.h"
#include "progress.h"
#include "common.h"

int mps3_cmd_checkpoint(struct ctx *c, const struct mps3_cli_args *a)
{
	struct mps3_logkey key;
	char name[MPS3_LOGNAME_MAX];
	int rc;

	rc = mps3_db_checkpoint(c->db, &key);
	if (rc)
		return mps3_cli_fail(rc, "checkpoint");
	mps3_cpkey_format(name, &key);
	printf("checkpoint/%s\n", name);
	return 0;
}

/* --grace and --history are the database's: main sets them before it opens. */
int mps3_cmd_gc(struct ctx *c, const struct mps3_cli_args *a)
{
	struct mps3_gc_report r;
	int dry = a->count[OPT_DRY_RUN] > 0, rc;

	rc = mps3_db_gc(c->db, dry, &r);
	if (rc)
		return mps3_cli_fail(rc, "gc");
	printf("%s: checkpoints %u kept %u deleted; log entries %u kept %u deleted; "
	       "blobs %u kept %u deleted; %" PRIu64 " bytes freed; %u objects still in the grace period\n",
	       dry ? "gc (dry run)" : "gc", r.checkpoints_kept, r.checkpoints_deleted,
	       r.entries_kept, r.entries_deleted, r.blobs_kept, r.blobs_deleted, r.bytes_deleted,
	       r.skipped_young);
	return 0;
}

int mps3_cmd_fsck(struct ctx *c, const struct mps3_cli_args *a)
{
	struct mps3_fsck_report r;
	int verify = a->count[OPT_VERIFY] > 0, rc, bad;

	rc = mps3_db_fsck(c->db, verify, &r);
	if (rc)
		return mps3_cli_fail(rc, "fsck");
	bad = r.missing_blobs + r.corrupt_blobs + r.size_mismatch + r.bad_entries + r.bad_checkpoints;
	printf("fsck: %u files, %u directories, %u links, %u special files; %u blobs checked%s; "
	       "%u missing, %u corrupt, %u wrong size; %u malformed entries, %u stale entries, "
	       "%u bad checkpoints: %s\n",
	       r.files, r.dirs, r.links, r.specials, r.blobs_checked, verify ? " (content verified)" : "",
	       r.missing_blobs, r.corrupt_blobs, r.size_mismatch, r.bad_entries, r.stale_entries,
	       r.bad_checkpoints, bad ? "PROBLEMS FOUND" : "ok");
	return bad ? EXIT_FAILURE : 0;
}

/* `mps3 status MOUNTPOINT`: the mount's own report. */
int mps3_cmd_mount_status(const struct mps3_cli_args *a)
{
	char path[4096], buf[4096];
	const char *mnt = a->pos[0];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/.mps3/status%s", mnt, a->count[OPT_JSON] ? ".json" : "");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "mps3: status: %s: %s (is an mps3fs mounted there?)\n", mnt, strerror(errno));
		return EXIT_FAILURE;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
	close(fd);
	return n < 0 ? EXIT_FAILURE : 0;
}

/* `mps3 sync MOUNTPOINT`: fsync of the mount's root waits for every change made so far. */
int mps3_cli_sync_mount(const char *mnt)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/.mps3", mnt);
	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || access(path, F_OK) < 0) {
		fprintf(stderr, "mps3: sync: %s: %s\n", mnt,
			fd < 0 ? strerror(errno) : "not an mps3fs mount");
		if (fd >= 0)
			close(fd);
		return EXIT_FAILURE;
	}
	if (fsync(fd) < 0) {
		fprintf(stderr, "mps3: sync: %s: %s\n", mnt, strerror(errno));
		close(fd);
		return EXIT_FAILURE;
	}
	close(fd);
	return 0;
}

int mps3_cmd_mount_sync(const struct mps3_cli_args *a)
{
	return mps3_cli_sync_mount(a->pos[0]);
}

/* Upload one blob from DIR/blobs. */
static int upload_cached(struct ctx *c, const char *dir, const char *path, const char *sha)
{
	char blob[4200], hex[MPS3_SHA256_HEX_LEN + 1];
	struct mps3_body body;
	struct stat st;
	int fd, rc;

	snprintf(blob, sizeof(blob), "%s/blobs/%s", dir, sha);
	fd = open(blob, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = mps3_error_set(-ENOENT, "%s: content %s is not in %s/blobs", path, sha, dir);
	} else {
		memset(&body, 0, sizeof(body));
		body.fd = fd;
		body.len = (uint64_t)st.st_size;
		body.sha256_hex = sha;
		rc = mps3_db_blob_put(c->db, &body, hex);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Upload the content a journal item names (and its chunk list) from DIR/blobs. */
static int upload_journal_blob(struct ctx *c, const char *dir, const struct mps3_journal_item *it)
{
	struct mps3_entry e;
	int rc;

	if (!it->want || mps3_entry_parse(&e, it->want) || e.type != MPS3_FILE)
		return 0;
	rc = upload_cached(c, dir, it->path, e.blob);
	if (!rc && e.chunks[0])
		rc = upload_cached(c, dir, it->path, e.chunks);
	return rc;
}

/* `mps3 URL sync --journal DIR`: what an mps3fs promised but did not upload. */
int mps3_cmd_sync_journal(struct ctx *c, const struct mps3_cli_args *a)
{
	struct mps3_journal_plan plan = { 0 };
	struct mps3_journal j;
	json_t *old = NULL, *patch;
	const char *dir = a->val[OPT_JOURNAL];
	struct mps3_cli_progress *progress;
	size_t i;
	int rc;

	patch = json_object();
	rc = mps3_journal_open(&j, dir, &old);
	if (!rc)
		rc = patch ? mps3_journal_recover(&plan, old, c->db) : -ENOMEM;
	progress = rc ? NULL : mps3_cli_progress_start("sync: uploading", 0, 0, c->quiet);
	for (i = 0; !rc && i < plan.n; i++) {
		const struct mps3_journal_item *it = &plan.v[i];
		const char *target = it->path;
		json_t *cur = NULL, *d;
		int err = 0;

		if (it->action == MPS3_JOURNAL_LANDED)
			continue;
		if (it->action == MPS3_JOURNAL_CONFLICT && !it->conflict_path) {
			fprintf(stderr, "mps3: sync: %s was changed by another client since; keeping theirs\n",
				it->path);
			continue;
		}
		if (it->action == MPS3_JOURNAL_CONFLICT) {
			fprintf(stderr, "mps3: sync: %s was changed by another client since; the journal's version goes to %s\n",
				it->path, it->conflict_path);
			target = it->conflict_path;
		}
		rc = upload_journal_blob(c, dir, it);
		if (rc)
			break;
		mps3_db_get(c->db, target, &cur);
		d = mps3_entry_patch(cur, it->want, &err);
		json_decref(cur);
		if (err)
			rc = mps3_error_set(err, "%s: cannot express the change", it->path);
		else if (d)
			json_object_set_new(patch, target, d);
	}
	mps3_cli_progress_stop(progress, rc == 0);
	if (!rc && json_object_size(patch) > 0)
		rc = mps3_db_commit(c->db, patch, NULL);
	if (!rc)
		rc = mps3_journal_truncate(&j);
	json_decref(patch);
	json_decref(old);
	mps3_journal_close(&j);
	if (rc) {
		mps3_journal_plan_dispose(&plan);
		return mps3_cli_fail(rc, "sync");
	}
	printf("sync: %zu changes uploaded, %zu were already in the bucket, %zu conflicts kept beside the newer version\n",
	       plan.commit, plan.landed, plan.conflicts);
	mps3_journal_plan_dispose(&plan);
	return 0;
}

/* The mount's status.json, parsed (as every JSON here is: mps3/json.h); NULL if it cannot be read. */
static json_t *mount_status(const char *mnt)
{
	char path[4096], chunk[4096];
	struct mps3_buf b;
	json_t *st = NULL;
	ssize_t n;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/.mps3/status.json", mnt);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	mps3_buf_init(&b, (size_t)1 << 20);
	while (!rc && (n = read(fd, chunk, sizeof(chunk))) != 0)
		rc = n < 0 ? (errno == EINTR ? 0 : -errno) : mps3_buf_append(&b, chunk, (size_t)n);
	close(fd);
	if (!rc)
		st = mps3_json_loadb(b.data, b.len, 0, NULL, &rc);
	mps3_buf_dispose(&b);
	return st;
}

/* Run argv, wait for it: its exit status, or -1 when it cannot be run. */
static int run_wait(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * In a child (so that a wedged mount cannot hold us past the deadline, and
 * no descriptor of ours keeps it busy): wait for the uploads (when sync),
 * then say on fd what is still pending and where its journal is, as
 * "N<TAB>DIR".
 */
static void umount_child(const char *mnt, int sync, int fd)
{
	int rc = sync ? mps3_cli_sync_mount(mnt) : 1;
	json_t *st = mount_status(mnt);
	const char *dir = json_string_value(json_object_get(json_object_get(st, "cache"), "dir"));
	json_t *p = json_object_get(st, "pending_paths");
	char line[4200];
	int n;

	n = json_is_integer(p) ? snprintf(line, sizeof(line), "%" JSON_INTEGER_FORMAT "\t%s\n", json_integer_value(p),
					  dir ? dir : "")
			       : 0;
	if (n > 0 && (size_t)n < sizeof(line))
		(void)mps3_write_all(fd, line, (size_t)n);
	_exit(rc == 0 ? 0 : 1);
}

/*
 * Run umount_child for at most limit ms; what it said into buf (cap bytes).
 * 1 if it synced, 0 if not, -1 when it was killed at the deadline.  The
 * deadline is of the clock, not of loop turns: a child that has closed
 * the pipe (it is exiting) but cannot be reaped yet makes poll() return
 * at once, and counting turns then would end the wait in microseconds.
 */
static int umount_ask(const char *mnt, int sync, int64_t limit, char *buf, size_t cap)
{
	int64_t deadline = mps3_mono_ms() + limit;
	int status = 0, fds[2], res = 0, eof = 0;
	size_t got = 0;
	pid_t pid, r;

	buf[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) < 0)
		return 0;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		umount_child(mnt, sync, fds[1]);
	}
	close(fds[1]);
	while (pid > 0) {
		struct pollfd p = { eof ? -1 : fds[0], POLLIN, 0 };
		ssize_t n;

		r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			res = WIFEXITED(status) && WEXITSTATUS(status) == 0;
			break;
		}
		if (r < 0 && errno != EINTR)
			break;
		if (mps3_mono_ms() >= deadline) {
			kill(pid, SIGKILL); /* FUSE interrupts its fsync */
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			res = -1;
			break;
		}
		/* At end of file the descriptor is left out: poll() then only sleeps until the child can be reaped. */
		if (poll(&p, 1, eof ? 10 : 100) > 0 && !eof) {
			n = got < cap - 1 ? read(fds[0], buf + got, cap - 1 - got) : 0;
			if (n > 0)
				got += (size_t)n;
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				eof = 1; /* (or buf is full: the rest is not needed) */
		}
	}
	for (;;) { /* what it said before it ended */
		ssize_t n = got < cap - 1 ? read(fds[0], buf + got, cap - 1 - got) : 0;

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fds[0]);
	return res;
}

/*
 * `mps3 umount [--timeout D] MNT`: wait until the mount's changes are in
 * the bucket (at most D), learn what is still pending, unmount, report.
 */
int mps3_cmd_mount_umount(const struct mps3_cli_args *a)
{
	const char *mnt = a->pos[0];
	int64_t limit = a->count[OPT_TIMEOUT] ? a->num[OPT_TIMEOUT] : 60000;
	char *um[] = { "fusermount3", "-u", "--", (char *)mnt, NULL }, path[4096], buf[4200] = "";
	long long pending = -1;
	int synced = 0, dead = 0, rc;
	struct stat sb;

	signal(SIGCHLD, SIG_DFL); /* waitpid must see our children */
	snprintf(path, sizeof(path), "%s/.mps3", mnt);
	if (stat(path, &sb) < 0 && errno == ENOTCONN) {
		dead = 1; /* its daemon is gone: nothing to wait for, only the mount to remove */
	} else if (stat(path, &sb) < 0) {
		fprintf(stderr, "mps3: umount: %s: not an mps3fs mount\n", mnt);
		return EXIT_FAILURE;
	}
	if (!dead) {
		synced = umount_ask(mnt, 1, limit, buf, sizeof(buf));
		if (synced < 0) {
			fprintf(stderr, "mps3: umount: %s: the uploads did not finish within %" PRId64 " ms\n", mnt,
				limit);
			(void)umount_ask(mnt, 0, 10000, buf, sizeof(buf)); /* what is still pending, then */
			synced = 0;
		}
		if (buf[0])
			pending = strtoll(buf, NULL, 10);
	}
	rc = run_wait(um);
	if (rc != 0 && geteuid() == 0 && umount2(mnt, dead ? MNT_DETACH : 0) == 0)
		rc = 0; /* root, without fusermount3 */
	if (rc != 0)
		fprintf(stderr, "mps3: umount: %s: could not unmount it (in use?)\n", mnt);
	if (pending > 0) {
		char *dir = strchr(buf, '\t');

		if (dir && dir[1]) {
			dir++;
			dir[strcspn(dir, "\n")] = '\0';
		} else {
			dir = NULL;
		}
		fprintf(stderr, "mps3: umount: %s: %lld changed paths were not uploaded; they stay in the journal in %s "
				"and go at the next mount (or: mps3 URL sync --journal %s)\n",
			mnt, pending, dir ? dir : "the cache directory", dir ? dir : "DIR");
	} else if (pending < 0) {
		fprintf(stderr, "mps3: umount: %s: %s; what was not uploaded stays in the mount's journal\n", mnt,
			dead ? "its daemon had ended" : "whether every change was uploaded is not known");
	}
	return rc == 0 && pending == 0 && synced ? 0 : EXIT_FAILURE;
}
