/*
 * test_journal.c - the local journal of mps3fs (src/fs/journal.c): records
 * survive a reopen, a second user is refused, compaction keeps exactly the
 * records of the paths still pending (and the lock), truncation forgets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mps3/journal.h"
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

int main(void)
{
	char dir[] = "/tmp/mps3-test-journal.XXXXXX";
	struct mps3_journal j, k;
	json_t *old = NULL, *keep, *v1 = val(1), *v2 = val(2), *v3 = val(3);
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
		tap_ok(mps3_journal_open(&j, dir, &old) == 0 && strcmp(paths(old), "x") == 0,
		       "reopen: the caller sees the change only (%s)", paths(old));
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
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		tap_diag("could not remove %s", dir);
	return tap_done();
}
