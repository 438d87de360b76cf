/*
 * db/journal.c - the local journal that makes a close() a promise: every
 * local change is appended to CACHE/journal/log (one JSON line: the path,
 * the value wanted there, the value the bucket had), and fsync'd before
 * close() or fsync() return.  The content it names is durable by then too:
 * a small file's (up to MPS3_JOURNAL_INLINE_MAX) as a content record in the
 * journal itself, appended before the change, so that one fsync covers
 * both; a larger one fsync'd in the blob cache.  A crash, a kill -9 or a
 * power loss then loses nothing that was acknowledged: the next mount (or
 * `mps3 URL sync --journal DIR`) puts content records back into the cache
 * where the cached copy is missing or damaged, and replays the changes.
 *
 * Replay decides per path, from the values the journal saw: if the bucket
 * holds the latest wanted value, the change landed; if it holds a value
 * this client wrote or based its change on, nobody else wrote since and the
 * change is committed again, under a fresh log key (a replay never reuses an
 * old one, so it is never ordered before what others wrote meanwhile); if it
 * holds anything else, another client wrote the path later, and the local
 * version is kept beside it as PATH.conflict-SESSION instead of overwriting
 * the later write.  Torn last lines (a crash mid-append) are ignored.
 *
 * The daemon and `mps3 URL sync --journal` share this file and the replay
 * rule (mps3_journal_recover); neither needs FUSE.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mps3/base64.h"
#include "mps3/db.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/io.h"
#include "mps3/journal.h"
#include "mps3/json.h"
#include "mps3/keys.h"
#include "mps3/log.h"

#define JOURNAL_FILE "log"

static int is_batch_mark(json_t *r)
{
	const char *m = json_string_value(json_object_get(r, "mark"));

	return json_is_integer(json_object_get(r, "batch")) && m &&
	       (strcmp(m, "begin") == 0 || strcmp(m, "commit") == 0 || strcmp(m, "abort") == 0);
}

static int is_blob_record(json_t *r)
{
	return json_is_string(json_object_get(r, "blob")) && json_is_string(json_object_get(r, "data"));
}

/*
 * Read every whole record of the journal into *out (new reference): 0, or
 * -ENOMEM or a read error, and nothing read.  A record is only ever judged
 * torn on what it says, never because memory or a read ran out: compaction
 * and replay drop torn records.
 */
static int read_records(const char *path, int *torn, json_t **out)
{
	json_t *recs = json_array();
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = 0;
	int err = 0;

	*torn = 0;
	*out = NULL;
	if (!f && errno != ENOENT)
		err = mps3_error_set(-errno, "cannot read the journal %s: %s", path, strerror(errno));
	if (!recs && !err)
		err = -ENOMEM;
	while (!err && f && (n = getline(&line, &cap, f)) > 0) {
		json_t *r;

		if (line[n - 1] != '\n') {
			(*torn)++; /* cut short by a crash: it was never acknowledged */
			break;
		}
		r = mps3_json_loadb(line, (size_t)n, 0, NULL, &err);
		if (err == -ENOMEM)
			break; /* a good record may be taken for a torn one: read none */
		err = 0;
		if (!json_is_object(r) || (!json_is_string(json_object_get(r, "path")) && !is_blob_record(r) &&
					    !is_batch_mark(r))) {
			json_decref(r);
			(*torn)++;
			continue;
		}
		if (json_array_append_new(recs, r))
			err = -ENOMEM;
	}
	/* getline's ENOMEM leaves no error flag: only the end of the file ends the read. */
	if (!err && f && n < 0 && (ferror(f) || !feof(f)))
		err = mps3_error_set(errno == ENOMEM ? -ENOMEM : -EIO, "cannot read the journal %s", path);
	free(line);
	if (f)
		fclose(f);
	if (err) {
		json_decref(recs);
		return err;
	}
	*out = recs;
	return 0;
}

/* The batch ids that were committed (a set, new reference). */
static json_t *committed_batches(json_t *recs)
{
	json_t *ids = json_object(), *r;
	size_t i;

	json_array_foreach(recs, i, r) {
		const char *mark = json_string_value(json_object_get(r, "mark"));
		char id[24];

		if (!ids || !is_batch_mark(r))
			continue;
		snprintf(id, sizeof(id), "%" PRIu64, (uint64_t)json_integer_value(json_object_get(r, "batch")));
		if (strcmp(mark, "commit") == 0 && json_object_set_new(ids, id, json_true())) {
			json_decref(ids); /* a committed batch missing would be discarded */
			return NULL;
		} else if (strcmp(mark, "abort") == 0)
			json_object_del(ids, id); /* a commit that could not be made, thrown away after all */
	}
	return ids;
}

/* Whether change record r belongs to a batch that was not committed. */
static int uncommitted(json_t *r, json_t *committed)
{
	json_t *b = json_object_get(r, "batch");
	char id[24];

	if (!json_is_integer(b))
		return 0;
	snprintf(id, sizeof(id), "%" PRIu64, (uint64_t)json_integer_value(b));
	return !json_object_get(committed, id);
}

static int file_has(const char *path, const char *sha, size_t len)
{
	unsigned char md[MPS3_SHA256_LEN];
	char hex[MPS3_SHA256_HEX_LEN + 1];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ok = 0;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size == len && mps3_sha256_fd(md, fd, 0, len) == 0) {
		mps3_hex(hex, md, sizeof(md));
		ok = strcmp(hex, sha) == 0;
	}
	close(fd);
	return ok;
}

/*
 * A blob record: the content of a small file, kept in the journal instead of
 * being fsync'd in the cache.  Put it back into CACHE/blobs if it is missing
 * or damaged there (a power loss can leave a file empty).  1 restored, 0
 * nothing to do, < 0 could not.
 */
static int restore_blob(const char *cache_dir, json_t *r)
{
	const char *sha = json_string_value(json_object_get(r, "blob"));
	unsigned char md[MPS3_SHA256_LEN], *data = NULL;
	char hex[MPS3_SHA256_HEX_LEN + 1], *dst = NULL, *tmp = NULL, *dir = NULL;
	size_t len = 0;
	int fd = -1, rc = -EIO;

	/* The name becomes a file name: only a hash is one. */
	if (mps3_is_sha256_hex(sha))
		data = mps3_base64_decode(json_string_value(json_object_get(r, "data")), &len);
	if (data) {
		mps3_sha256(md, data, len);
		mps3_hex(hex, md, sizeof(md));
	}
	if (!data || strcmp(hex, sha) != 0) {
		/* Not what it claims to be: leave the cache alone. */
		mps3_warn("journal: a content record does not match its name (%.64s); ignored", sha ? sha : "?");
		free(data);
		return -EINVAL;
	}
	if (asprintf(&dir, "%s/blobs", cache_dir) < 0 || asprintf(&dst, "%s/%s", dir, sha) < 0 ||
	    asprintf(&tmp, "%s/.restore-%s", dir, sha) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	if (file_has(dst, sha, len)) {
		rc = 0;
		goto out;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rc = fd < 0 ? -errno : mps3_write_all(fd, data, len);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (!rc && rename(tmp, dst) < 0)
		rc = -errno;
	if (!rc)
		rc = mps3_fsync_dir(dir);
	if (rc) {
		unlink(tmp);
		goto out;
	}
	rc = 1;
out:
	if (rc < 0)
		mps3_warn("journal: cannot put back the content %s into %s/blobs", sha ? sha : "?", cache_dir);
	if (fd >= 0)
		close(fd);
	free(data);
	free(dir);
	free(dst);
	free(tmp);
	return rc;
}

/*
 * One user at a time: a second mount or `mps3 sync --journal` on a live one
 * would race.  The lock must be on the file at the path: a compaction that
 * renamed a new journal over the one just opened leaves a lock on nothing.
 */
static int lock_journal(struct mps3_journal *j)
{
	struct stat held, named;
	json_t *who = NULL;
	int tries;

	for (tries = 0; tries < 100; tries++) {
		j->fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (j->fd < 0)
			return mps3_error_set(-errno, "cannot open %s: %s", j->path, strerror(errno));
		if (flock(j->fd, LOCK_EX | LOCK_NB) < 0)
			break;
		if (fstat(j->fd, &held) == 0 && stat(j->path, &named) == 0 && held.st_dev == named.st_dev &&
		    held.st_ino == named.st_ino)
			return 0;
		close(j->fd);
		j->fd = -1;
	}
	if (j->fd < 0)
		return mps3_error_set(-EAGAIN, "%s keeps being replaced", j->path);
	if (errno != EWOULDBLOCK)
		return mps3_error_set(-errno, "cannot lock %s: %s", j->path, strerror(errno));
	if (mps3_journal_holder(&who, j->cache_dir) == 0 && json_is_true(json_object_get(who, "alive"))) {
		json_int_t pid = json_integer_value(json_object_get(who, "pid"));

		json_decref(who);
		return mps3_error_set(-EBUSY, "%s is in use by process %lld", j->path, (long long)pid);
	}
	json_decref(who);
	return mps3_error_set(-EBUSY, "%s is in use by another mps3fs or mps3 process", j->path);
}

int mps3_journal_open(struct mps3_journal *j, const char *cache_dir, json_t **old)
{
	char *dir = NULL;
	json_t *recs, *r, *committed;
	size_t i;
	int torn = 0, restored = 0, discarded = 0, rc;

	memset(j, 0, sizeof(*j));
	j->fd = -1;
	pthread_mutex_init(&j->lock, NULL);
	*old = NULL;
	j->cache_dir = strdup(cache_dir);
	if (!j->cache_dir || asprintf(&dir, "%s/journal", cache_dir) < 0)
		return -ENOMEM;
	j->dir = dir;
	if (asprintf(&j->path, "%s/" JOURNAL_FILE, dir) < 0) {
		j->path = NULL;
		return -ENOMEM;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return mps3_error_set(-errno, "cannot create %s: %s", dir, strerror(errno));
	rc = lock_journal(j);
	if (rc)
		return rc;
	/* Informational: a mount without it works, the next one is told less. */
	(void)mps3_journal_set_holder(j, NULL);
	rc = read_records(j->path, &torn, &recs);
	if (rc)
		return rc;
	if (torn)
		mps3_notice("journal %s: ignored %d incomplete record(s) left by a crash", j->path, torn);
	/* Content kept in the journal first goes back into the cache; the caller sees changes only. */
	*old = json_array();
	if (!*old) {
		json_decref(recs);
		return -ENOMEM;
	}
	committed = committed_batches(recs);
	if (!committed) {
		json_decref(recs);
		json_decref(*old);
		*old = NULL;
		return -ENOMEM;
	}
	json_array_foreach(recs, i, r) {
		if (is_blob_record(r))
			restored += restore_blob(cache_dir, r) > 0;
		else if (is_batch_mark(r))
			continue;
		else if (uncommitted(r, committed))
			discarded++; /* a batch that never got to its commit: as if it never happened */
		else if (json_array_append(*old, r))
			rc = -ENOMEM; /* a change not replayed would be compacted away */
	}
	json_decref(recs);
	json_decref(committed);
	if (rc) {
		json_decref(*old);
		*old = NULL;
		return rc;
	}
	if (discarded)
		mps3_notice("journal %s: discarded %d change(s) of a batch that was not committed", j->path, discarded);
	if (restored)
		mps3_notice("journal %s: put back %d cached file content(s) that a crash had lost", j->path, restored);
	/*
	 * The old records stay until everything is in the bucket (the upload
	 * worker truncates then): a crash during recovery loses nothing.
	 */
	{
		struct stat st;

		if (fstat(j->fd, &st) == 0)
			j->size = st.st_size;
	}
	rc = mps3_fsync_dir(dir);
	if (rc)
		return mps3_error_set(rc, "cannot sync %s: %s", dir, strerror(-rc));
	return 0;
}

void mps3_journal_close(struct mps3_journal *j)
{
	if (j->fd >= 0) {
		fsync(j->fd);
		close(j->fd);
	}
	free(j->dir);
	free(j->path);
	free(j->cache_dir);
	json_decref(j->holder);
	pthread_mutex_destroy(&j->lock);
	memset(j, 0, sizeof(*j));
	j->fd = -1;
}

static int append_record(struct mps3_journal *j, json_t *r, const char *path);

int mps3_journal_append(struct mps3_journal *j, const char *path, json_t *want, json_t *base)
{
	json_t *r = json_pack("{s:s,s:O?,s:O?}", "path", path, "want", want, "base", base);
	uint64_t batch;

	pthread_mutex_lock(&j->lock);
	batch = j->batch;
	pthread_mutex_unlock(&j->lock);
	if (r && batch && json_object_set_new(r, "batch", json_integer((json_int_t)batch))) {
		json_decref(r); /* without its batch it would replay as committed */
		r = NULL;
	}
	return append_record(j, r, path);
}

int mps3_journal_batch(struct mps3_journal *j, uint64_t id, const char *mark)
{
	int rc = append_record(j, json_pack("{s:I,s:s}", "batch", (json_int_t)id, "mark", mark), "a batch mark");

	pthread_mutex_lock(&j->lock);
	j->batch = strcmp(mark, "begin") == 0 ? id : 0;
	pthread_mutex_unlock(&j->lock);
	return rc;
}

int mps3_journal_append_blob(struct mps3_journal *j, const char *sha, const void *data, size_t len)
{
	char *b64 = mps3_base64_encode(data, len);
	int rc;

	rc = append_record(j, b64 ? json_pack("{s:s,s:s}", "blob", sha, "data", b64) : NULL, sha);
	free(b64);
	return rc;
}

/*
 * Append one record (a new reference, consumed); PATH names it in errors.
 * A failure leaves the journal incomplete: sticky until it is whole again.
 */
static int append_record(struct mps3_journal *j, json_t *r, const char *path)
{
	char *line = r ? mps3_json_dumps(r, JSON_COMPACT) : NULL;
	size_t len = 0;
	int rc = line ? 0 : -ENOMEM, first;

	json_decref(r);
	if (line) {
		len = strlen(line);
		line[len++] = '\n'; /* json_dumps leaves room: the NUL becomes the newline */
	}
	pthread_mutex_lock(&j->lock);
	if (!rc)
		rc = mps3_write_all(j->fd, line, len);
	if (!rc) {
		j->written++;
		j->size += (off_t)len;
	} else if (ftruncate(j->fd, j->size) < 0) {
		/*
		 * The torn line stays and the next record may be glued to it;
		 * the sticky error covers that record too, until the caller
		 * rewrites the journal.
		 */
	}
	first = rc && !j->err;
	if (rc && !j->err)
		j->err = rc;
	pthread_mutex_unlock(&j->lock);
	free(line);
	if (first)
		mps3_err("journal %s: cannot record a change to %s: %s; nothing more is acknowledged until it can",
			 j->path, path, strerror(-rc));
	if (rc)
		return mps3_error_set(rc, "journal %s: cannot record a change to %s: %s", j->path, path,
				      strerror(-rc));
	return 0;
}

void mps3_journal_missed(struct mps3_journal *j, int err)
{
	pthread_mutex_lock(&j->lock);
	if (!j->err)
		j->err = err;
	pthread_mutex_unlock(&j->lock);
}

int mps3_journal_error(struct mps3_journal *j)
{
	int err;

	pthread_mutex_lock(&j->lock);
	err = j->err;
	pthread_mutex_unlock(&j->lock);
	return err;
}

int mps3_journal_sync(struct mps3_journal *j)
{
	uint64_t target;
	int rc = 0, fd = -1;

	pthread_mutex_lock(&j->lock);
	target = j->written;
	if (j->err)
		rc = j->err;
	else if (j->synced < target && (fd = fcntl(j->fd, F_DUPFD_CLOEXEC, 0)) < 0)
		rc = -errno;
	pthread_mutex_unlock(&j->lock);
	/*
	 * Outside the lock, so that appends (made under the tree lock, by every
	 * operation that changes a path) go on meanwhile, and one fsync covers
	 * everyone who appended before it (group commit).  On a dup: a
	 * compaction may put another file in place meanwhile, and then it has
	 * synced everything itself.
	 */
	if (fd >= 0) {
		if (fdatasync(fd) < 0)
			rc = -errno;
		close(fd);
		pthread_mutex_lock(&j->lock);
		if (!rc && j->synced < target)
			j->synced = target;
		pthread_mutex_unlock(&j->lock);
	}
	if (rc)
		return mps3_error_set(rc, "journal %s: %s", j->path, strerror(-rc));
	return 0;
}

int mps3_journal_truncate(struct mps3_journal *j)
{
	int rc = 0;

	pthread_mutex_lock(&j->lock);
	if (j->size > 0 || j->err) {
		if (ftruncate(j->fd, 0) < 0 || fdatasync(j->fd) < 0) {
			rc = -errno;
		} else {
			j->size = j->compacted = 0;
			j->err = 0;
			j->synced = j->written;
		}
	}
	pthread_mutex_unlock(&j->lock);
	return rc;
}

#define COMPACT_MIN ((off_t)4 << 20)

int mps3_journal_should_compact(struct mps3_journal *j)
{
	int yes;

	pthread_mutex_lock(&j->lock);
	yes = j->size >= COMPACT_MIN && j->size >= 2 * j->compacted;
	pthread_mutex_unlock(&j->lock);
	return yes;
}

static const char *batch_id(char out[24], uint64_t id)
{
	snprintf(out, 24, "%" PRIu64, id);
	return out;
}

int mps3_journal_compact(struct mps3_journal *j, json_t *keep)
{
	char *tmp = NULL, id[24];
	json_t *recs = NULL, *blobs = NULL, *batches = NULL, *r;
	off_t size = 0;
	size_t i;
	int fd = -1, torn = 0, rc = 0;

	pthread_mutex_lock(&j->lock);
	if (asprintf(&tmp, "%s.compact", j->path) < 0) {
		tmp = NULL;
		rc = -ENOMEM;
		goto out;
	}
	/* Everything appended so far is in the file (unsynced records in the page cache). */
	rc = read_records(j->path, &torn, &recs);
	if (rc)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		goto out;
	}
	/* Content records stay with the changes that name their blob. */
	blobs = json_object();
	if (!blobs) {
		rc = -ENOMEM;
		goto out;
	}
	/* ... and batch marks with the changes of their batch (and the batch still open). */
	batches = json_object();
	if (!batches) {
		rc = -ENOMEM;
		goto out;
	}
	/* A name missing from either would drop a record still needed. */
	if (j->batch && json_object_set_new(batches, batch_id(id, j->batch), json_true()))
		rc = -ENOMEM;
	json_array_foreach(recs, i, r) {
		const char *b = json_string_value(json_object_get(json_object_get(r, "want"), "blob"));
		json_t *bt = json_object_get(r, "batch");

		if (!json_object_get(keep, json_string_value(json_object_get(r, "path"))) || is_batch_mark(r))
			continue;
		if (b && json_object_set_new(blobs, b, json_true()))
			rc = -ENOMEM;
		if (json_is_integer(bt) && json_object_set_new(batches, batch_id(id, (uint64_t)json_integer_value(bt)),
							       json_true()))
			rc = -ENOMEM;
	}
	if (rc)
		goto out;
	json_array_foreach(recs, i, r) {
		char *line;
		size_t len;

		if (is_batch_mark(r)) {
			if (!json_object_get(batches, batch_id(id, (uint64_t)json_integer_value(json_object_get(r, "batch")))))
				continue;
		} else if (is_blob_record(r) ? !json_object_get(blobs, json_string_value(json_object_get(r, "blob")))
					     : !json_object_get(keep, json_string_value(json_object_get(r, "path")))) {
			continue;
		}
		line = mps3_json_dumps(r, JSON_COMPACT);
		if (!line) {
			rc = -ENOMEM;
			goto out;
		}
		len = strlen(line);
		line[len++] = '\n';
		rc = mps3_write_all(fd, line, len);
		free(line);
		if (rc)
			goto out;
		size += (off_t)len;
	}
	if (fdatasync(fd) < 0 || rename(tmp, j->path) < 0) {
		rc = -errno;
		goto out;
	}
	/* Renamed: from here on the new file is the journal, whatever happens. */
	free(tmp);
	tmp = NULL;
	rc = mps3_fsync_dir(j->dir);
	close(j->fd);
	j->fd = fd;
	fd = -1;
	j->size = j->compacted = size;
	j->synced = j->written;
	j->err = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	pthread_mutex_unlock(&j->lock);
	json_decref(recs);
	json_decref(blobs);
	json_decref(batches);
	if (rc)
		mps3_warn("journal %s: cannot compact it: %s", j->path, strerror(-rc));
	return rc;
}

/* ---- deciding what a replay does ------------------------------------------------ */

static json_t *or_null(json_t *v)
{
	return v ? v : json_null();
}

static int same(json_t *a, json_t *b)
{
	if (!a || json_is_null(a))
		return !b || json_is_null(b);
	return b && json_equal(a, b);
}

void mps3_journal_plan_dispose(struct mps3_journal_plan *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->v[i].path);
		free(p->v[i].conflict_path);
		json_decref(p->v[i].want);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/*
 * "PATH.conflict-<session>", its last component cut short (on a UTF-8
 * boundary) where the suffix would make it longer than a name or a path
 * may be: the local version must be kept under some name.  NULL on ENOMEM.
 */
static char *conflict_name(const char *path, const char *session)
{
	char suffix[32], *out;
	const char *last = strrchr(path, '/');
	size_t base = last ? (size_t)(last + 1 - path) : 0, keep = strlen(path) - base, slen;

	slen = (size_t)snprintf(suffix, sizeof(suffix), ".conflict-%.8s", session);
	if (keep + slen > MPS3_NAME_MAX)
		keep = MPS3_NAME_MAX - slen;
	if (base + keep + slen > MPS3_PATH_MAX)
		keep = MPS3_PATH_MAX > base + slen ? MPS3_PATH_MAX - base - slen : 0;
	while (keep > 0 && ((unsigned char)path[base + keep] & 0xc0) == 0x80)
		keep--; /* not inside a character */
	if (asprintf(&out, "%.*s%s", (int)(base + keep), path, suffix) < 0)
		return NULL;
	return out;
}

/* Per path of the records: every value seen (bases and wants), and the last want. */
static json_t *history(json_t *records)
{
	json_t *bypath = json_object(), *r;
	size_t i;

	if (!bypath)
		return NULL;
	json_array_foreach(records, i, r) {
		const char *p = json_string_value(json_object_get(r, "path"));
		json_t *h = p ? json_object_get(bypath, p) : NULL;

		if (!p)
			continue;
		if (!h) {
			h = json_pack("{s:[],s:n}", "seen", "want");
			if (!h || json_object_set_new(bypath, p, h)) {
				json_decref(bypath);
				return NULL;
			}
		}
		json_array_append(json_object_get(h, "seen"), or_null(json_object_get(r, "base")));
		json_array_append(json_object_get(h, "seen"), or_null(json_object_get(r, "want")));
		json_object_set(h, "want", or_null(json_object_get(r, "want")));
	}
	return bypath;
}

static enum mps3_journal_action judge(json_t *want, json_t *seen, json_t *cur)
{
	json_t *s;
	size_t k;

	if (same(want, cur))
		return MPS3_JOURNAL_LANDED;
	json_array_foreach(seen, k, s)
		if (same(s, cur))
			return MPS3_JOURNAL_COMMIT;
	return MPS3_JOURNAL_CONFLICT;
}

static int is_file(json_t *v)
{
	return json_is_object(v) && json_is_string(json_object_get(v, "type")) &&
	       strcmp(json_string_value(json_object_get(v, "type")), "f") == 0;
}

int mps3_journal_plan(struct mps3_journal_plan *out, json_t *records, mps3_journal_value_fn current,
		      void *ctx, const char *session)
{
	json_t *bypath = history(records), *hist;
	const char *path;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!bypath)
		return -ENOMEM;
	out->v = calloc(json_object_size(bypath) + 1, sizeof(*out->v));
	if (!out->v) {
		json_decref(bypath);
		return -ENOMEM;
	}
	json_object_foreach(bypath, path, hist) {
		struct mps3_journal_item *it = &out->v[out->n];
		json_t *want = json_object_get(hist, "want"), *cur = current(ctx, path);

		it->action = judge(want, json_object_get(hist, "seen"), cur);
		json_decref(cur);
		it->path = strdup(path);
		it->want = json_is_null(want) ? NULL : json_incref(want);
		if (it->action == MPS3_JOURNAL_CONFLICT && is_file(want))
			it->conflict_path = conflict_name(path, session);
		out->n++;
		if (!it->path || (it->action == MPS3_JOURNAL_CONFLICT && is_file(want) && !it->conflict_path)) {
			rc = -ENOMEM;
			break;
		}
		out->landed += it->action == MPS3_JOURNAL_LANDED;
		out->commit += it->action == MPS3_JOURNAL_COMMIT;
		out->conflicts += it->action == MPS3_JOURNAL_CONFLICT;
	}
	json_decref(bypath);
	if (rc)
		mps3_journal_plan_dispose(out);
	return rc;
}

static json_t *db_value(void *ctx, const char *path)
{
	json_t *v = NULL;

	mps3_db_get(ctx, path, &v);
	return v;
}

int mps3_journal_recover(struct mps3_journal_plan *out, json_t *records, struct mps3_db *db)
{
	return mps3_journal_plan(out, records, db_value, db, mps3_db_session(db));
}
