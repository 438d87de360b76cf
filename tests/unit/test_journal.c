/*
 * test_journal.c - the local journal (src/db/journal.c): records survive a
 * reopen, a second user is refused, compaction keeps exactly the records
 * of the paths still pending (and the lock), truncation forgets, a failed
 * append is sticky until the journal is whole again, the holder record
 * names who has the lock (and a dead holder's blocks nothing), and the
 * replay plan judges each path as landed, to commit again, or in conflict.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mps3/error.h"
#include "mps3/journal.h"
#include "mps3/json.h"
#include "tap.h"

static json_t *val(int n)
{
	return json_pack("{s:s,s:i}", "type", "d", "mode", n);
}

/* The paths of an array of records, joined with spaces. */
static char *paths(json_t *recs)
{
	static char buf[256];
	json_t *r;
	size_t i;

	buf[0] = '\0';
	json_array_foreach(recs, i, r) {
		if (i)
			strncat(buf, " ", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, json_string_value(json_object_get(r, "path")), sizeof(buf) - strlen(buf) - 1);
	}
	return buf;
}

/* The "bucket" for the plan: a map of path -> value. */
static json_t *bucket_value(void *ctx, const char *path)
{
	return json_incref(json_object_get(ctx, path));
}

static const char *action_of(const struct mps3_journal_plan *p, const char *path)
{
	static const char *names[] = { "landed", "commit", "conflict" };
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->v[i].path, path) == 0)
			return names[p->v[i].action];
	return "none";
}

static void test_plan(void)
{
	json_t *f1 = json_pack("{s:s,s:s,s:i}", "type", "f", "blob", "1111111111111111111111111111111111111111111111111111111111111111", "size", 1);
	json_t *f2 = json_pack("{s:s,s:s,s:i}", "type", "f", "blob", "2222222222222222222222222222222222222222222222222222222222222222", "size", 2);
	json_t *f3 = json_pack("{s:s,s:s,s:i}", "type", "f", "blob", "3333333333333333333333333333333333333333333333333333333333333333", "size", 3);
	json_t *records = json_pack("[{s:s,s:O,s:n},{s:s,s:O,s:n},{s:s,s:O,s:O},{s:s,s:O,s:n},{s:s,s:n,s:O},{s:s,s:o,s:n}]",
				    "path", "landed", "want", f1, "base",
				    "path", "again", "want", f1, "base",
				    "path", "again", "want", f2, "base", f1,
				    "path", "theirs", "want", f1, "base",
				    "path", "removed", "want", "base", f1,
				    "path", "dir", "want", json_pack("{s:s}", "type", "d"), "base");
	json_t *bucket = json_pack("{s:O,s:O,s:O,s:O,s:O}", "landed", f1, "again", f1, "theirs", f3, "removed", f1,
				   "dir", f3);
	struct mps3_journal_plan p;
	size_t i;

	tap_ok(mps3_journal_plan(&p, records, bucket_value, bucket, "0123456789abcdef") == 0, "plan");
	tap_streq(action_of(&p, "landed"), "landed", "plan: the bucket holds the last want: landed");
	tap_streq(action_of(&p, "again"), "commit", "plan: the bucket holds a value we wrote before: commit again");
	tap_streq(action_of(&p, "removed"), "commit", "plan: a removal whose base is still there: commit it");
	tap_streq(action_of(&p, "theirs"), "conflict", "plan: someone else wrote the path since: conflict");
	for (i = 0; i < p.n; i++) {
		if (strcmp(p.v[i].path, "theirs") == 0)
			tap_streq(p.v[i].conflict_path, "theirs.conflict-01234567", "plan: a file's local version goes beside theirs");
		if (strcmp(p.v[i].path, "dir") == 0)
			tap_ok(p.v[i].action == MPS3_JOURNAL_CONFLICT && !p.v[i].conflict_path,
			       "plan: a conflicting directory is not copied");
		if (strcmp(p.v[i].path, "again") == 0)
			tap_ok(json_equal(p.v[i].want, f2), "plan: commit takes the last want");
	}
	tap_ok(p.landed == 1 && p.commit == 2 && p.conflicts == 2, "plan: counts (%zu landed, %zu commit, %zu conflicts)",
	       p.landed, p.commit, p.conflicts);
	mps3_journal_plan_dispose(&p);
	json_decref(records);
	json_decref(bucket);
	json_decref(f1);
	json_decref(f2);
	json_decref(f3);
}

/* A conflict copy of a name near the limit still gets a name (the red team's 250-byte name lost it). */
static void test_long_conflict(void)
{
	json_t *f1 = json_pack("{s:s,s:s,s:i}", "type", "f", "blob", "1111111111111111111111111111111111111111111111111111111111111111", "size", 1);
	json_t *f3 = json_pack("{s:s,s:s,s:i}", "type", "f", "blob", "3333333333333333333333333333333333333333333333333333333333333333", "size", 3);
	char name[300], path[320];
	json_t *records, *bucket, *utf8;
	struct mps3_journal_plan p;
	const char *last;

	/* 248 bytes of "é" (two bytes each) then "xy": a cut must not split a character. */
	memset(name, 0, sizeof(name));
	for (int i = 0; i < 124; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	strcat(name, "xy");
	snprintf(path, sizeof(path), "d/%s", name);
	records = json_pack("[{s:s,s:O,s:n}]", "path", path, "want", f1, "base");
	bucket = json_pack("{s:O}", path, f3);
	tap_ok(mps3_journal_plan(&p, records, bucket_value, bucket, "0123456789abcdef") == 0 && p.n == 1 &&
		       p.v[0].conflict_path, "plan: a 250-byte name in conflict gets a conflict path");
	last = p.n && p.v[0].conflict_path ? strrchr(p.v[0].conflict_path, '/') + 1 : "";
	utf8 = json_string(last); /* NULL unless valid UTF-8 */
	tap_ok(strlen(last) <= 255 && strncmp(p.v[0].conflict_path, "d/", 2) == 0 &&
		       strstr(last, ".conflict-01234567") && utf8,
	       "plan: its last component fits in 255 bytes, is valid UTF-8 and ends in the suffix (%zu bytes)",
	       strlen(last));
	json_decref(utf8);
	mps3_journal_plan_dispose(&p);
	json_decref(records);
	json_decref(bucket);
	json_decref(f1);
	json_decref(f3);
}

/* An append that fails makes the journal incomplete until it is whole again. */
static void test_sticky(const char *dir)
{
	struct mps3_journal j;
	json_t *old = NULL, *keep = json_object(), *v = val(9);
	int fd;

	tap_ok(mps3_journal_open(&j, dir, &old) == 0, "sticky: open");
	json_decref(old);
	/* Swap the journal's fd for one that cannot be written, as a full disk would refuse. */
	fd = j.fd;
	j.fd = open("/dev/null", O_RDONLY);
	tap_ok(mps3_journal_append(&j, "p", v, NULL) < 0, "sticky: an append that fails is an error");
	close(j.fd);
	j.fd = fd;
	tap_ok(mps3_journal_append(&j, "q", v, NULL) == 0, "sticky: a later append works again");
	tap_ok(mps3_journal_sync(&j) < 0 && mps3_journal_error(&j) < 0,
	       "sticky: but sync reports the lost record, so nothing is acknowledged");
	json_object_set_new(keep, "p", json_true());
	json_object_set_new(keep, "q", json_true());
	tap_ok(mps3_journal_compact(&j, keep) == 0 && mps3_journal_append(&j, "p", v, NULL) == 0 &&
		       mps3_journal_sync(&j) == 0,
	       "sticky: compacted and the pending state appended again, it syncs");
	tap_ok(mps3_journal_truncate(&j) == 0 && mps3_journal_error(&j) == 0, "sticky: truncate leaves it whole");
	mps3_journal_close(&j);
	json_decref(keep);
	json_decref(v);
}

/* The holder record: the pid, what the holder adds, named when the lock is refused; a dead pid's is not alive. */
static void test_holder(const char *dir)
{
	struct mps3_journal j, k;
	json_t *old = NULL, *who = NULL, *about = json_pack("{s:s,s:s}", "mountpoint", "/mnt/x", "state", "mounted");
	char path[600], moved[600], want[64];
	struct stat st;
	FILE *f;

	tap_ok(mps3_journal_open(&j, dir, &old) == 0 && mps3_journal_set_holder(&j, about) == 0, "holder: recorded");
	json_decref(old);
	tap_ok(mps3_journal_holder(&who, dir) == 0 && json_integer_value(json_object_get(who, "pid")) == getpid() &&
		       json_is_true(json_object_get(who, "alive")) &&
		       strcmp(json_string_value(json_object_get(who, "mountpoint")), "/mnt/x") == 0,
	       "holder: the record has the pid, alive, and what the holder added");
	json_decref(who);
	snprintf(path, sizeof(path), "%s/journal/holder", dir);
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "holder: the record is private (0600)");
	snprintf(want, sizeof(want), "in use by process %d", (int)getpid());
	tap_ok(mps3_journal_open(&k, dir, &old) == -EBUSY && strstr(mps3_error_last(-EBUSY), want),
	       "holder: a refused open names it (%s)", mps3_error_last(-EBUSY));
	mps3_journal_close(&k);
	snprintf(moved, sizeof(moved), "%s.moved", dir);
	tap_inteq(mps3_journal_rename_dir(dir, moved), -EBUSY, "holder: a directory in use is not moved");
	mps3_journal_close(&j);
	tap_ok(mps3_journal_rename_dir(dir, moved) == 0 && mps3_journal_rename_dir(moved, dir) == 0,
	       "holder: once released, it is moved (and back)");
	/* A record left by a process that is gone (pid 2^22 + 1 is above Linux's pid_max default and limit). */
	f = fopen(path, "w");
	if (f) {
		fputs("{\"pid\":4194305,\"state\":\"mounted\"}", f);
		fclose(f);
	}
	tap_ok(mps3_journal_holder(&who, dir) == 0 && json_is_false(json_object_get(who, "alive")),
	       "holder: a dead process's record is not alive");
	json_decref(who);
	tap_ok(mps3_journal_open(&j, dir, &old) == 0, "holder: and blocks nothing");
	json_decref(old);
	tap_ok(mps3_journal_holder(&who, dir) == 0 && json_integer_value(json_object_get(who, "pid")) == getpid(),
	       "holder: the new holder replaces it");
	json_decref(who);
	mps3_journal_close(&j);
	f = fopen(path, "w");
	if (f) {
		fputs("{\"pid\":\"1\"}", f);
		fclose(f);
	}
	tap_inteq(mps3_journal_holder(&who, dir), -ENOENT, "holder: a record without a numeric pid is none");
	json_decref(about);
}

/* A batch's changes come back after a crash only if it was marked committed; compaction keeps its marks. */
static void test_batches(const char *dir)
{
	struct mps3_journal j;
	json_t *old = NULL, *v = val(9), *keep = json_pack("{s:b,s:b,s:b}", "in", 1, "out", 1, "done", 1);

	tap_ok(mps3_journal_open(&j, dir, &old) == 0 && mps3_journal_truncate(&j) == 0, "batch: a fresh journal");
	json_decref(old);
	tap_ok(mps3_journal_append(&j, "out", v, NULL) == 0 && mps3_journal_batch(&j, 7, "begin") == 0 &&
		       mps3_journal_append(&j, "in", v, NULL) == 0 && mps3_journal_compact(&j, keep) == 0 &&
		       mps3_journal_sync(&j) == 0,
	       "batch: a change outside, one inside a batch left open, a compaction");
	mps3_journal_close(&j); /* a crash: the batch never ended */
	tap_ok(mps3_journal_open(&j, dir, &old) == 0, "batch: reopen");
	tap_streq(paths(old), "out", "batch: the open batch's change is discarded, the other kept");
	json_decref(old);
	tap_ok(mps3_journal_batch(&j, 8, "begin") == 0 && mps3_journal_append(&j, "done", v, NULL) == 0 &&
		       mps3_journal_batch(&j, 8, "commit") == 0 && mps3_journal_compact(&j, keep) == 0 &&
		       mps3_journal_sync(&j) == 0,
	       "batch: a batch marked committed, then compacted");
	mps3_journal_close(&j);
	tap_ok(mps3_journal_open(&j, dir, &old) == 0, "batch: reopen again");
	tap_streq(paths(old), "out done", "batch: a committed batch's changes come back (to be committed)");
	json_decref(old);
	mps3_journal_truncate(&j);
	mps3_journal_close(&j);
	json_decref(keep);
	json_decref(v);
}

static long oom_left; /* jansson allocations left before the one that fails */

static void *oom_malloc(size_t n)
{
	return oom_left-- == 0 ? NULL : malloc(n);
}

/*
 * Out of memory while the journal is read never makes a good record look
 * torn: replay and compaction drop torn records, and these were
 * acknowledged.  Each jansson allocation in turn fails, alone (as a big one
 * can while small ones still succeed).
 */
static int journal_has(const char *dir, const char *needle)
{
	char path[512], buf[4096];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/journal/log", dir);
	f = fopen(path, "r");
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void test_oom(const char *dir)
{
	/* SHA-256 of "hello\n"; its content record carries it as base64. */
	const char *h = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
	struct mps3_journal j;
	json_t *old = NULL, *v = val(5), *keep = json_pack("{s:b,s:b,s:b}", "p", 1, "q", 1, "r", 1);
	json_t *f = json_pack("{s:s,s:s,s:i}", "type", "f", "blob", h, "size", 6);
	long n, lost = 0, opened = 0, compacted = 0;
	int rc;

	tap_ok(mps3_journal_open(&j, dir, &old) == 0 && mps3_journal_truncate(&j) == 0 &&
		       mps3_journal_append_blob(&j, h, "hello\n", 6) == 0 && mps3_journal_append(&j, "p", f, NULL) == 0 &&
		       mps3_journal_batch(&j, 3, "begin") == 0 && mps3_journal_append(&j, "q", v, NULL) == 0 &&
		       mps3_journal_batch(&j, 3, "commit") == 0 && mps3_journal_append(&j, "r", v, v) == 0 &&
		       mps3_journal_sync(&j) == 0,
	       "oom: acknowledged records: a file with its content, a committed batch, a change");
	json_decref(old);
	mps3_journal_close(&j);
	for (n = 0; n < 400; n++) {
		oom_left = n;
		mps3_json_set_allocator(oom_malloc);
		rc = mps3_journal_open(&j, dir, &old);
		mps3_json_set_allocator(NULL);
		if (rc == 0 && strcmp(paths(old), "p q r") != 0 && !lost++)
			tap_diag("open with %ld allocations: %s", n, paths(old));
		opened += rc == 0;
		json_decref(old);
		old = NULL;
		if (rc == 0) {
			oom_left = n;
			mps3_json_set_allocator(oom_malloc);
			compacted += mps3_journal_compact(&j, keep) == 0;
			mps3_json_set_allocator(NULL);
		}
		mps3_journal_close(&j);
		if (!journal_has(dir, "aGVsbG8K") || mps3_journal_open(&j, dir, &old) != 0 ||
		    strcmp(paths(old), "p q r") != 0) {
			if (!lost++)
				tap_diag("after %ld allocations: %s", n, paths(old));
		}
		json_decref(old);
		old = NULL;
		mps3_journal_close(&j);
		if (oom_left > 0)
			break; /* needed fewer than n: the rest would be the same */
	}
	tap_ok(lost == 0 && opened > 0 && compacted > 0 && n > 3,
	       "oom: at each of %ld failing allocations open and compaction fail or keep every record", n);

	/* A change inside a batch that never commits is discarded at replay, even one appended short of memory. */
	for (lost = 0, n = 0; n < 100; n++) {
		if (mps3_journal_open(&j, dir, &old) != 0 || mps3_journal_truncate(&j) != 0 ||
		    mps3_journal_batch(&j, 9, "begin") != 0) {
			lost++;
			break;
		}
		json_decref(old);
		old = NULL;
		oom_left = n;
		mps3_json_set_allocator(oom_malloc);
		rc = mps3_journal_append(&j, "z", v, NULL);
		mps3_json_set_allocator(NULL);
		if (rc == 0)
			mps3_journal_sync(&j);
		mps3_journal_close(&j); /* a crash before the batch's commit */
		if (mps3_journal_open(&j, dir, &old) != 0 || json_array_size(old) != 0) {
			if (!lost++)
				tap_diag("batch change appended with allocation %ld failing replayed: %s", n, paths(old));
		}
		json_decref(old);
		old = NULL;
		mps3_journal_truncate(&j);
		mps3_journal_close(&j);
		if (oom_left > 0)
			break;
	}
	tap_ok(lost == 0 && n > 2, "oom: a change of an open batch never replays as committed (%ld allocations)", n);
	json_decref(keep);
	json_decref(v);
	json_decref(f);
}

int main(void)
{
	char dir[] = "/tmp/mps3-test-journal.XXXXXX";
	struct mps3_journal j, k;
	json_t *old = NULL, *keep, *v1 = val(1), *v2 = val(2), *v3 = val(3);
	int rc;
	struct stat st;
	char path[512];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	tap_ok(mps3_journal_open(&j, dir, &old) == 0 && json_array_size(old) == 0, "a new journal is empty");
	json_decref(old);
	snprintf(path, sizeof(path), "%s/journal", dir);
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0700, "its directory is private (0700)");
	tap_ok(mps3_journal_append(&j, "a", v1, NULL) == 0 && mps3_journal_append(&j, "b", v1, NULL) == 0 &&
		       mps3_journal_append(&j, "a", v2, v1) == 0 && mps3_journal_append(&j, "c", NULL, v3) == 0,
	       "appends");
	tap_ok(mps3_journal_sync(&j) == 0, "sync");
	tap_ok(mps3_journal_open(&k, dir, &old) == -EBUSY, "a second user is refused");
	mps3_journal_close(&k);
	json_decref(old);
	tap_ok(!mps3_journal_should_compact(&j), "a small journal is not worth compacting");

	keep = json_pack("{s:b,s:b}", "a", 1, "c", 1);
	tap_ok(mps3_journal_compact(&j, keep) == 0, "compaction");
	tap_ok(mps3_journal_append(&j, "d", v3, NULL) == 0 && mps3_journal_sync(&j) == 0, "appends after compaction");
	tap_ok(mps3_journal_open(&k, dir, &old) == -EBUSY, "the compacted journal is still locked");
	mps3_journal_close(&k);
	json_decref(old);
	mps3_journal_close(&j);

	tap_ok(mps3_journal_open(&j, dir, &old) == 0, "reopen");
	tap_ok(strcmp(paths(old), "a a c d") == 0, "kept: every record of the pending paths, in order (%s)", paths(old));
	tap_ok(json_array_size(old) == 4 && json_equal(json_object_get(json_array_get(old, 1), "want"), v2) &&
		       json_equal(json_object_get(json_array_get(old, 1), "base"), v1) &&
		       json_is_null(json_object_get(json_array_get(old, 2), "want")),
	       "records keep their values, removals included");
	json_decref(old);
	tap_ok(mps3_journal_truncate(&j) == 0, "truncate");
	mps3_journal_close(&j);
	tap_ok(mps3_journal_open(&j, dir, &old) == 0 && json_array_size(old) == 0, "nothing left after truncation");
	json_decref(old);
	mps3_journal_close(&j);

	/* Content records: put back where the cached copy is lost or damaged, and only then. */
	{
		/* SHA-256 of "hello\n" and of "other\n". */
		const char *h1 = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
		const char *h2 = "b3e6e2ef2a9a2b3d4b8d8e1d5d7f1b3f0a6a83c3e1b9b1c9f2e0b7a4d5c6e7f8";
		json_t *w1 = json_pack("{s:s,s:s,s:i}", "type", "f", "blob", h1, "size", 6);
		char blob[600], buf[16];
		FILE *f;

		snprintf(blob, sizeof(blob), "%s/blobs/%s", dir, h1);
		tap_ok(mps3_journal_open(&j, dir, &old) == 0, "reopen for content records");
		json_decref(old);
		tap_ok(mps3_journal_append_blob(&j, h1, "hello\n", 6) == 0 &&
			       mps3_journal_append_blob(&j, h2, "forged\n", 7) == 0 &&
			       mps3_journal_append(&j, "x", w1, NULL) == 0 && mps3_journal_sync(&j) == 0,
		       "content records and the change naming the first");
		mps3_journal_close(&j);
		old = NULL; /* the message's argument may be read before the open */
		rc = mps3_journal_open(&j, dir, &old);
		tap_ok(rc == 0 && strcmp(paths(old), "x") == 0, "reopen: the caller sees the change only (%s)",
		       paths(old));
		json_decref(old);
		mps3_journal_close(&j);
		f = fopen(blob, "r");
		tap_ok(f && fgets(buf, sizeof(buf), f) && strcmp(buf, "hello\n") == 0, "lost content put back into the cache");
		if (f)
			fclose(f);
		snprintf(blob, sizeof(blob), "%s/blobs/%s", dir, h2);
		tap_ok(access(blob, F_OK) != 0, "a record whose data does not match its name is not trusted");
		snprintf(blob, sizeof(blob), "%s/blobs/%s", dir, h1);
		f = fopen(blob, "w"); /* damaged: empty, as a power loss may leave it */
		if (f)
			fclose(f);
		tap_ok(mps3_journal_open(&j, dir, &old) == 0, "reopen after damage");
		json_decref(old);
		f = fopen(blob, "r");
		tap_ok(f && fgets(buf, sizeof(buf), f) && strcmp(buf, "hello\n") == 0, "damaged content repaired");
		if (f)
			fclose(f);
		json_decref(keep);
		keep = json_pack("{s:b}", "y", 1);
		tap_ok(mps3_journal_compact(&j, keep) == 0, "compaction dropping x");
		mps3_journal_close(&j);
		unlink(blob);
		tap_ok(mps3_journal_open(&j, dir, &old) == 0 && json_array_size(old) == 0 && access(blob, F_OK) != 0,
		       "content records go with the changes that name them");
		json_decref(old);
		mps3_journal_close(&j);
		json_decref(w1);
	}

	json_decref(keep);
	json_decref(v1);
	json_decref(v2);
	json_decref(v3);
	test_plan();
	test_long_conflict();
	test_batches(dir);
	test_oom(dir);
	test_sticky(dir);
	test_holder(dir);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		tap_diag("could not remove %s", dir);
	return tap_done();
}
