/*
 * test_store.c - the mem and file backends behave like a bucket (byte-order
 * listing, start-after, paging, conditional and ranged GET, odd keys), and
 * the database over them: commit, poll, convergence of two sessions,
 * malformed and skewed objects skipped, checkpoints, GC, fsck.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mps3/clock.h"
#include "mps3/db.h"
#include "mps3/entry.h"
#include "mps3/error.h"
#include "mps3/history.h"
#include "mps3/keys.h"
#include "mps3/log.h"
#include "mps3/store.h"
#include "mps3/sys/store_backend.h"
#include "tap.h"

static int put_str(struct mps3_store *s, const char *key, const char *v)
{
	struct mps3_body b;

	memset(&b, 0, sizeof(b));
	b.data = v;
	b.len = strlen(v);
	return mps3_store_put(s, key, &b, NULL);
}

static char *get_str(struct mps3_store *s, const char *key)
{
	struct mps3_buf buf;
	int rc;

	mps3_buf_init(&buf, 1 << 20);
	rc = mps3_store_get_buf(s, key, &buf, NULL);
	if (rc) {
		mps3_buf_dispose(&buf);
		return NULL;
	}
	return mps3_buf_detach(&buf, NULL);
}

static void test_backend(const char *name, struct mps3_store *s)
{
	static const char *const keys[] = {
		"a", "a-", "a/b", "a/b/c", "b", "&$@=;  :+,?", "foo<Contents>", "<![CDATA[x]]>",
		"naïve/日本", "with space/x y", "%41", "log/0001", "log/0002", "log/0003",
	};
	size_t n = sizeof(keys) / sizeof(keys[0]), i;
	struct mps3_listing l;
	struct mps3_objinfo info, info2;
	struct mps3_get_opts go;
	struct mps3_buf buf;
	struct mps3_sink sink;
	char *v;
	int ok, rc;

	for (i = 0, ok = 1; i < n; i++)
		if (put_str(s, keys[i], keys[i]))
			ok = 0;
	tap_ok(ok, "%s: put %zu keys with odd characters", name, n);
	for (i = 0, ok = 1; i < n; i++) {
		v = get_str(s, keys[i]);
		if (!v || strcmp(v, keys[i]) != 0) {
			tap_diag("key %s -> %s", keys[i], v ? v : "(null)");
			ok = 0;
		}
		free(v);
	}
	tap_ok(ok, "%s: every key reads back", name);

	mps3_listing_init(&l);
	rc = mps3_store_list(s, "", NULL, NULL, 1000, &l);
	ok = rc == 0 && l.n == n && !l.truncated;
	for (i = 1; ok && i < l.n; i++)
		if (strcmp(l.v[i - 1].key, l.v[i].key) >= 0)
			ok = 0;
	tap_ok(ok, "%s: full listing is complete and in byte order", name);
	mps3_listing_dispose(&l);

	mps3_listing_init(&l);
	rc = mps3_store_list(s, "a", NULL, NULL, 1000, &l);
	tap_ok(rc == 0 && l.n == 4 && strcmp(l.v[0].key, "a") == 0 && strcmp(l.v[1].key, "a-") == 0 &&
		       strcmp(l.v[2].key, "a/b") == 0,
	       "%s: prefix listing orders a, a-, a/b ('-' before '/')", name);
	mps3_listing_dispose(&l);

	mps3_listing_init(&l);
	rc = mps3_store_list(s, "log/", "log/0001", NULL, 1000, &l);
	tap_ok(rc == 0 && l.n == 2 && strcmp(l.v[0].key, "log/0002") == 0, "%s: start-after", name);
	mps3_listing_dispose(&l);

	{
		char *token = NULL;
		size_t seen = 0, pages = 0;

		do {
			mps3_listing_init(&l);
			rc = mps3_store_list(s, "", NULL, token, 3, &l);
			free(token);
			token = l.next_token ? strdup(l.next_token) : NULL;
			seen += l.n;
			pages++;
			mps3_listing_dispose(&l);
		} while (rc == 0 && token);
		tap_ok(rc == 0 && seen == n && pages == (n + 2) / 3, "%s: paging by 3 sees all %zu keys in %zu pages",
		       name, n, pages);
	}

	rc = mps3_store_head(s, "a/b", &info);
	tap_ok(rc == 0 && info.size == 3 && info.etag[0] && info.mtime_ms > 0, "%s: head", name);
	memset(&go, 0, sizeof(go));
	go.if_none_match = info.etag;
	mps3_buf_init(&buf, 100);
	mps3_sink_buf(&sink, &buf);
	rc = mps3_store_get(s, "a/b", &go, &sink, &info2);
	tap_ok(rc == MPS3_NOT_MODIFIED && buf.len == 0, "%s: conditional GET with same ETag is not modified", name);
	put_str(s, "a/b", "changed");
	rc = mps3_store_get(s, "a/b", &go, &sink, &info2);
	tap_ok(rc == 0 && strcmp(mps3_buf_cstr(&buf), "changed") == 0 && strcmp(info2.etag, info.etag) != 0,
	       "%s: conditional GET after a change returns the new content", name);
	mps3_buf_reset(&buf);
	memset(&go, 0, sizeof(go));
	go.off = 2;
	go.len = 3;
	rc = mps3_store_get(s, "a/b", &go, &sink, &info2);
	tap_ok(rc == 0 && strcmp(mps3_buf_cstr(&buf), "ang") == 0 && info2.size == 7, "%s: ranged GET", name);
	mps3_buf_dispose(&buf);

	mps3_buf_init(&buf, 3);
	rc = mps3_store_get_buf(s, "a/b", &buf, NULL);
	tap_inteq(rc, -EFBIG, "%s: GET above the buffer limit is -EFBIG", name);
	mps3_buf_dispose(&buf);

	tap_inteq(mps3_store_get_buf(s, "missing", &buf, NULL), -ENOENT, "%s: missing key", name);
	tap_inteq(mps3_store_delete(s, "a"), 0, "%s: delete", name);
	tap_inteq(mps3_store_delete(s, "a"), 0, "%s: delete of a missing key succeeds", name);
	tap_inteq(mps3_store_head(s, "a", NULL), -ENOENT, "%s: deleted key is gone", name);
	tap_ok(mps3_store_head(s, "a/b", NULL) == 0, "%s: a/b still there after deleting a", name);
	{
		struct mps3_body b;

		memset(&b, 0, sizeof(b));
		b.data = "";
		tap_ok(mps3_store_put(s, "empty", &b, NULL) == 0 && (v = get_str(s, "empty")) && !*v,
		       "%s: empty object", name);
		free(v);
	}
}

/* ---- database ----------------------------------------------------------- */

static void cfg_fast(struct mps3_db_config *cfg)
{
	mps3_db_config_init(cfg);
	cfg->lag_ms = 2000;
	cfg->stale_ms = 1000;
}

static int commit_str(struct mps3_db *db, const char *path, const char *patch)
{
	json_t *p = json_loads(patch, 0, NULL), *o = json_object();
	int rc;

	json_object_set_new(o, path, p);
	rc = mps3_db_commit(db, o, NULL);
	json_decref(o);
	return rc;
}

static const char *blobof(struct mps3_db *db, const char *path, char *out)
{
	json_t *v = NULL;
	struct mps3_entry e;

	if (mps3_db_get(db, path, &v) || mps3_entry_parse(&e, v)) {
		json_decref(v);
		return NULL;
	}
	strcpy(out, e.type == MPS3_FILE ? e.blob : "");
	json_decref(v);
	return out;
}

static int changes_seen;

static void count_changes(void *ctx, const struct mps3_changes *ch, int local)
{
	(void)ctx;
	if (!local)
		changes_seen += (int)ch->n;
}

static void test_db(const char *name, struct mps3_store *s)
{
	struct mps3_db_config cfg;
	struct mps3_db *a = NULL, *b = NULL, *c = NULL;
	struct mps3_body body;
	char hex[65], got[65];
	int rc, changed = 0;

	cfg_fast(&cfg);
	rc = mps3_db_open(&a, s, &cfg);
	tap_ok(rc == 0, "%s: open an empty database", name);
	rc = mps3_db_open(&b, s, &cfg);
	tap_ok(rc == 0 && strcmp(mps3_db_session(a), mps3_db_session(b)) != 0,
	       "%s: a second session with its own id", name);
	if (!a || !b)
		return;
	memset(&body, 0, sizeof(body));
	body.data = "hello\n";
	body.len = 6;
	tap_inteq(mps3_db_blob_put(a, &body, hex), 0, "%s: blob put", name);
	tap_streq(hex, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", "%s: blob named by SHA-256", name);
	{
		char patch[256];

		snprintf(patch, sizeof(patch), "{\"type\":\"f\",\"blob\":\"%s\",\"size\":6}", hex);
		tap_inteq(commit_str(a, "dir/hello.txt", patch), 0, "%s: commit", name);
	}
	tap_ok(blobof(a, "dir/hello.txt", got) && strcmp(got, hex) == 0, "%s: writer reads its own write at once", name);
	tap_ok(!blobof(b, "dir/hello.txt", got), "%s: other session does not see it before polling", name);
	mps3_db_set_listener(b, count_changes, NULL);
	changes_seen = 0;
	tap_inteq(mps3_db_poll(b, &changed), 0, "%s: poll", name);
	tap_ok(changed && changes_seen == 1 && blobof(b, "dir/hello.txt", got) && strcmp(got, hex) == 0,
	       "%s: other session sees it after one poll, with one change event", name);
	changed = 1;
	tap_ok(mps3_db_poll(b, &changed) == 0 && !changed, "%s: idle poll changes nothing", name);

	/* Same key from both sessions: everybody agrees on one winner. */
	tap_ok(commit_str(a, "k", "{\"type\":\"d\",\"mode\":1}") == 0 && usleep(5000) == 0 &&
		       commit_str(b, "k", "{\"type\":\"d\",\"mode\":2}") == 0,
	       "%s: both sessions write k", name);
	mps3_db_poll(a, NULL);
	mps3_db_poll(b, NULL);
	rc = mps3_db_open(&c, s, &cfg);
	{
		json_t *va = NULL, *vb = NULL, *vc = NULL;

		mps3_db_get(a, "k", &va);
		mps3_db_get(b, "k", &vb);
		if (c)
			mps3_db_get(c, "k", &vc);
		tap_ok(va && vb && vc && json_equal(va, vb) && json_equal(vb, vc) &&
			       json_integer_value(json_object_get(va, "mode")) == 2,
		       "%s: concurrent writes of one key converge to the later one everywhere", name);
		json_decref(va);
		json_decref(vb);
		json_decref(vc);
	}

	/* Malformed objects in the log are skipped, once each, never fatal. */
	{
		unsigned long w0 = mps3_log_warnings();
		char n1[MPS3_LOGNAME_MAX + 8], n2[MPS3_LOGNAME_MAX + 8], doc[512];
		struct mps3_logkey k = { 0, "0123456789abcdef", 1 };
		struct mps3_db *d = NULL;

		k.t = mps3_clock_now(mps3_store_clock(s));
		strcpy(n1, "log/");
		mps3_logkey_format(n1 + 4, &k);
		put_str(s, n1, "{not json");
		k.seq = 2;
		k.t -= 60000; /* named a minute before it was stored: skewed writer */
		strcpy(n2, "log/");
		mps3_logkey_format(n2 + 4, &k);
		snprintf(doc, sizeof(doc), "{\"v\":1,\"t\":%lld,\"session\":\"0123456789abcdef\",\"seq\":2,\"files\":{\"skewed\":{\"type\":\"d\"}}}",
			 (long long)k.t);
		put_str(s, n2, doc);
		put_str(s, "log/garbage-name", "{}");
		put_str(s, "head", "poke");
		rc = mps3_db_poll(b, NULL);
		/* The skewed entry and the misnamed one sort past b's horizon: b never lists them. */
		tap_ok(rc == 0 && mps3_log_warnings() - w0 == 1,
		       "%s: poll over a garbage entry succeeds with one warning (got %lu)", name,
		       mps3_log_warnings() - w0);
		put_str(s, "head", "poke again");
		w0 = mps3_log_warnings();
		mps3_db_poll(b, NULL);
		tap_inteq(mps3_log_warnings() - w0, 0, "%s: each bad object is reported once", name);
		w0 = mps3_log_warnings();
		rc = mps3_db_open(&d, s, &cfg);
		tap_ok(rc == 0 && d && blobof(d, "dir/hello.txt", got) && mps3_log_warnings() - w0 == 3,
		       "%s: fresh open over garbage, skewed and misnamed entries works, 3 warnings (got %lu)",
		       name, mps3_log_warnings() - w0);
		tap_ok(d && !blobof(d, "skewed", got), "%s: skewed entry not applied", name);
		mps3_db_free(d);
	}

	/* Checkpoint, then a truncated newer checkpoint: readers fall back. */
	{
		struct mps3_db *d = NULL;
		struct mps3_logkey k;
		char cpname[64];
		unsigned long w0;

		/* Names the saved state's text must escape (it is written from the map, not by jansson). */
		tap_inteq(commit_str(a, "q\"uo\\te\tand\x01\x1f", "{\"type\":\"d\",\"mode\":448}"), 0,
			  "%s: a path with a quote, a backslash and control characters", name);
		tap_inteq(commit_str(a, "\xc3\xa9t\xc3\xa9/\xe2\x82\xac", "{\"type\":\"d\"}"), 0,
			  "%s: a path in UTF-8", name);
		sleep(3); /* let the entries settle (lag 2 s) */
		mps3_db_poll(a, NULL);
		put_str(s, "head", "settle");
		mps3_db_poll(a, NULL);
		rc = mps3_db_checkpoint(a, &k);
		tap_inteq(rc, 0, "%s: checkpoint", name);
		k.t += 1;
		strcpy(cpname, "checkpoint/");
		mps3_cpkey_format(cpname + strlen(cpname), &k);
		put_str(s, cpname, "{\"v\":1,\"t\":1,\"files\":{\"x\":{\"ty");
		w0 = mps3_log_warnings();
		rc = mps3_db_open(&d, s, &cfg);
		tap_ok(rc == 0 && d && blobof(d, "dir/hello.txt", got) && mps3_log_warnings() - w0 >= 1,
		       "%s: truncated newest checkpoint skipped with a warning, older one used", name);
		mps3_db_free(d);
		mps3_store_delete(s, cpname);
	}

	/* fsck finds a missing blob; gc keeps what is referenced. */
	{
		struct mps3_fsck_report fr;
		struct mps3_gc_report gr;
		char key[80];

		rc = mps3_db_fsck(a, 1, &fr);
		tap_ok(rc == 0 && fr.missing_blobs == 0 && fr.corrupt_blobs == 0 && fr.files == 1,
		       "%s: fsck of a healthy database", name);
		snprintf(key, sizeof(key), "blobs/%s", hex);
		put_str(s, key, "tampered");
		rc = mps3_db_fsck(a, 1, &fr);
		tap_ok(rc == 0 && fr.size_mismatch == 1, "%s: fsck sees a blob of the wrong size", name);
		put_str(s, key, "hello!");
		rc = mps3_db_fsck(a, 1, &fr);
		tap_ok(rc == 0 && fr.corrupt_blobs == 1, "%s: fsck --verify sees corrupt content", name);
		{
			struct mps3_buf buf;
			struct mps3_sink sink;

			mps3_buf_init(&buf, 100);
			mps3_sink_buf(&sink, &buf);
			tap_inteq(mps3_db_blob_get(a, hex, NULL, &sink), -EBADMSG, "%s: corrupt blob read is -EBADMSG", name);
			mps3_buf_dispose(&buf);
		}
		put_str(s, key, "hello\n");
		mps3_store_delete(s, key);
		rc = mps3_db_fsck(a, 0, &fr);
		tap_ok(rc == 0 && fr.missing_blobs == 1, "%s: fsck sees a missing blob", name);
		put_str(s, key, "hello\n");
		put_str(s, "blobs/0000000000000000000000000000000000000000000000000000000000000000", "orphan");
		rc = mps3_db_gc(a, 0, &gr);
		tap_ok(rc == 0 && gr.blobs_deleted == 0 && gr.skipped_young >= 1,
		       "%s: gc keeps young garbage inside the grace period", name);
	}
	/* State file: a reopen starts from it and catches up with what changed since. */
	{
		char path[] = "/tmp/mps3-test-state-XXXXXX";
		int fd = mkstemp(path);
		struct mps3_db_config sc = cfg;
		struct mps3_db *d = NULL, *e = NULL;
		json_t *files1 = NULL, *files2 = NULL;
		FILE *f;

		if (fd >= 0)
			close(fd);
		sc.state_file = path;
		rc = mps3_db_open(&d, s, &sc);
		tap_ok(rc == 0 && d && mps3_db_save_state(d) == 0, "%s: save a state file", name);
		{
			/* Read as db_load_state reads it. */
			json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
			json_t *live = d ? mps3_db_files(d) : NULL;
			json_t *base = json_object_get(doc, "base"), *v;
			const char *k;
			size_t n = 0, same = 0;

			/* Settled long ago, the odd names are in the saved base as they are in the map. */
			json_object_foreach(base, k, v) {
				n++;
				same += json_equal(v, json_object_get(live, k));
			}
			tap_ok(json_is_object(base) && n >= 2 &&
				       json_equal(json_object_get(base, "q\"uo\\te\tand\x01\x1f"),
						  json_object_get(live, "q\"uo\\te\tand\x01\x1f")) &&
				       json_equal(json_object_get(base, "\xc3\xa9t\xc3\xa9/\xe2\x82\xac"),
						  json_object_get(live, "\xc3\xa9t\xc3\xa9/\xe2\x82\xac")),
			       "%s: the state file is JSON and its base holds the names and values exactly (%zu of %zu paths "
			       "as now)", name, same, n);
			json_decref(doc);
			json_decref(live);
		}
		{
			struct stat st1, st2;

			/* Each save writes a new file and renames it: an unchanged inode is no save. */
			tap_ok(stat(path, &st1) == 0 && mps3_db_save_state(d) == 0 && stat(path, &st2) == 0 &&
				       st1.st_ino == st2.st_ino,
			       "%s: a save with nothing changed since the last one writes nothing", name);
			tap_inteq(commit_str(a, "before-save", "{\"type\":\"d\"}"), 0, "%s: another session commits", name);
			tap_ok(mps3_db_poll(d, &changed) == 0 && changed && mps3_db_save_state(d) == 0 &&
				       stat(path, &st1) == 0 && st1.st_ino != st2.st_ino,
			       "%s: once a poll brought a change, the state is saved again", name);
		}
		tap_inteq(commit_str(a, "after-save", "{\"type\":\"d\"}"), 0, "%s: another session commits after the save", name);
		rc = mps3_db_open(&e, s, &sc);
		files1 = e ? mps3_db_files(e) : NULL;
		files2 = mps3_db_files(a);
		tap_ok(rc == 0 && files1 && files2 && json_equal(files1, files2) && json_object_get(files1, "after-save"),
		       "%s: reopen from the state file catches up to the same map as a live session", name);
		if (e) {
			struct mps3_db_stats est;

			mps3_db_get_stats(e, &est);
			tap_ok(est.from_state, "%s: that reopen started from the state file, not from the bucket", name);
		}
		json_decref(files1);
		mps3_db_free(e);
		e = NULL;
		f = fopen(path, "w");
		if (f) {
			fputs("{\"v\":1,\"url\":", f);
			fclose(f);
		}
		rc = mps3_db_open(&e, s, &sc);
		files1 = e ? mps3_db_files(e) : NULL;
		tap_ok(rc == 0 && files1 && json_equal(files1, files2), "%s: a corrupt state file is ignored", name);
		if (e) {
			struct mps3_db_stats est;

			mps3_db_get_stats(e, &est);
			tap_ok(!est.from_state, "%s: and that open resolved from the bucket", name);
		}
		json_decref(files1);
		json_decref(files2);
		mps3_db_free(d);
		mps3_db_free(e);
		unlink(path);
	}
	mps3_db_free(a);
	mps3_db_free(b);
	mps3_db_free(c);
}

/* A log entry or checkpoint object of time t, written straight into the store. */
static void plant(struct mps3_store *s, const char *kind, int64_t t, uint64_t seq, const char *files)
{
	struct mps3_logkey k;
	char name[MPS3_LOGNAME_MAX], key[128], doc[8192];

	k.t = t;
	snprintf(k.session, sizeof(k.session), "%s", "feedfacefeedface");
	k.seq = seq;
	if (strcmp(kind, "log") == 0) {
		mps3_logkey_format(name, &k);
		snprintf(doc, sizeof(doc), "{\"v\":1,\"t\":%lld,\"session\":\"%s\",\"seq\":%llu,\"files\":%s}",
			 (long long)t, k.session, (unsigned long long)seq, files);
	} else {
		mps3_cpkey_format(name, &k);
		snprintf(doc, sizeof(doc), "{\"v\":1,\"t\":%lld,\"session\":\"%s\",\"files\":%s}", (long long)t,
			 k.session, files);
	}
	snprintf(key, sizeof(key), "%s/%s", kind, name);
	put_str(s, key, doc);
	put_str(s, "head", name);
}

/* Issue 8: objects no client following the protocol writes never freeze or poison the database. */
static void test_hostile(const char *name, struct mps3_store *s)
{
	struct mps3_db_config cfg;
	struct mps3_db *a = NULL, *b = NULL;
	int64_t now = mps3_clock_now(mps3_store_clock(s));
	char hex[65], *tmp;
	json_t *deep = json_pack("{s:s}", "type", "d"), *patch;
	int i, rc;

	cfg_fast(&cfg);
	cfg.checkpoint_every = 0;
	tap_ok(mps3_db_open(&a, s, &cfg) == 0 && commit_str(a, "good", "{\"type\":\"d\"}") == 0, "%s: hostile: a database", name);
	/* A checkpoint dated a day ahead, holding only "frozen". */
	plant(s, "checkpoint", now + 86400000, 0, "{\"frozen\":{\"type\":\"d\"}}");
	/* A log entry a day ahead: it would push every later commit a day out. */
	plant(s, "log", now + 86400000, 1, "{\"ahead\":{\"type\":\"d\"}}");
	/* An entry nested past the limit, of now. */
	for (i = 0; i <= MPS3_ENTRY_MAX_DEPTH; i++)
		deep = json_pack("{s:o}", "x", deep);
	patch = json_pack("{s:o,s:{s:s}}", "deep", deep, "deep-sibling", "type", "d");
	tmp = json_dumps(patch, JSON_COMPACT);
	plant(s, "log", now, 2, tmp);
	free(tmp);
	json_decref(patch);
	rc = mps3_db_open(&b, s, &cfg);
	tap_ok(rc == 0 && blobof(b, "good", hex) && !blobof(b, "frozen", hex) && !blobof(b, "ahead", hex) &&
		       !blobof(b, "deep-sibling", hex),
	       "%s: hostile: a fresh reader ignores the future checkpoint and entry and the deep entry", name);
	tap_ok(b && commit_str(b, "after", "{\"type\":\"d\"}") == 0 && mps3_db_poll(a, NULL) == 0 &&
		       blobof(a, "after", hex),
	       "%s: hostile: and its writes are seen by others", name);
	tap_ok(mps3_db_poll(a, NULL) == 0 && !blobof(a, "ahead", hex), "%s: hostile: a poller ignores them too", name);
	{
		struct mps3_fsck_report r;

		memset(&r, 0, sizeof(r));
		rc = b ? mps3_db_fsck(b, 0, &r) : -1;
		tap_ok(rc == 0 && r.bad_checkpoints == 1 && r.bad_entries == 2,
		       "%s: hostile: fsck reports them (%u bad checkpoints, %u bad entries)", name, r.bad_checkpoints,
		       r.bad_entries);
	}
	mps3_db_free(a);
	mps3_db_free(b);
}

/* The store's fault hook: a failing store fails a commit and a poll; the next ones recover. */
static void test_retry(void)
{
	struct mps3_store *s = NULL;
	struct mps3_db_config cfg;
	struct mps3_db *a = NULL, *b = NULL;
	char hex[65];

	if (mps3_store_mem_new(&s))
		return;
	cfg_fast(&cfg);
	tap_ok(mps3_db_open(&a, s, &cfg) == 0 && mps3_db_open(&b, s, &cfg) == 0, "retry: two clients");
	mps3_store_mem_fail(s, -EIO, 1);
	tap_inteq(commit_str(a, "x", "{\"type\":\"d\"}"), -EIO, "retry: a commit while the store fails is its error");
	tap_ok(!blobof(a, "x", hex), "retry: and changes nothing");
	tap_ok(commit_str(a, "x", "{\"type\":\"d\"}") == 0, "retry: the next commit works");
	mps3_store_mem_fail(s, -ETIMEDOUT, 1);
	tap_inteq(mps3_db_poll(b, NULL), -ETIMEDOUT, "retry: a poll while the store fails is its error");
	tap_ok(!blobof(b, "x", hex), "retry: the failed poll left the state alone");
	tap_ok(mps3_db_poll(b, NULL) == 0 && blobof(b, "x", hex), "retry: the next poll catches up");
	mps3_db_free(a);
	mps3_db_free(b);
	mps3_store_free(s);
}

/*
 * A commit whose entry was stored though its PUT failed (a lost reply): the
 * path's possible value is known, so removing what it made is written as a
 * removal; the poller settles the doubt, and one never stored expires.
 */
static void test_lost_reply(void)
{
	struct mps3_store *s = NULL;
	struct mps3_db_config cfg;
	struct mps3_db *a = NULL, *c = NULL;
	json_t *alts = NULL, *cur = NULL, *p, *o;
	struct timespec pause = { 2, 300000000 };
	int err = 0;

	if (mps3_store_mem_new(&s))
		return;
	cfg_fast(&cfg);
	tap_ok(mps3_db_open(&a, s, &cfg) == 0, "lost reply: open");
	mps3_store_mem_lose(s, 1);
	tap_inteq(commit_str(a, "k", "{\"type\":\"d\"}"), 0, "lost reply: the entry is committed again under a new name");
	tap_ok(mps3_db_get_unsure(a, "k", &cur, &alts) == 0 && cur && !alts,
	       "lost reply: both copies give the same value, so nothing is in doubt");
	json_decref(cur);
	mps3_store_mem_lose(s, 100);
	tap_inteq(commit_str(a, "d", "{\"type\":\"d\"}"), -ECONNRESET, "lost reply: every reply lost, the commit fails");
	mps3_store_mem_lose(s, 0);
	tap_inteq(mps3_db_get(a, "d", &cur), -ENOENT, "lost reply: and d is not known to exist");
	tap_ok(mps3_db_get_unsure(a, "d", &cur, &alts) == 0 && !cur && json_array_size(alts) == 1 &&
		       !strcmp(json_string_value(json_object_get(json_array_get(alts, 0), "type")), "d"),
	       "lost reply: but d may be a directory in the bucket");
	p = mps3_entry_patch(NULL, NULL, &err);
	tap_ok(!p && err == 0, "lost reply: against the known value alone, removing d is no change");
	p = mps3_entry_patch_any(NULL, alts, NULL, &err);
	tap_ok(p && json_is_null(p) && err == 0, "lost reply: against both, it is a removal");
	o = json_object();
	json_object_set_new(o, "d", p);
	tap_inteq(mps3_db_commit(a, o, NULL), 0, "lost reply: the removal commits");
	json_decref(o);
	json_decref(alts);
	alts = NULL;
	tap_ok(mps3_db_poll(a, NULL) == 0 && mps3_db_get(a, "d", &cur) == -ENOENT,
	       "lost reply: the poll finds both entries, d stays removed");
	tap_ok(mps3_db_get_unsure(a, "d", &cur, &alts) == 0 && !cur && !alts, "lost reply: and the doubt is settled");
	tap_ok(mps3_db_open(&c, s, &cfg) == 0 && mps3_db_get(c, "d", &cur) == -ENOENT,
	       "lost reply: a fresh reader agrees");
	mps3_store_mem_fail(s, -ECONNREFUSED, 1);
	tap_inteq(commit_str(a, "g", "{\"type\":\"d\"}"), -ECONNREFUSED, "lost reply: a PUT that reached no store fails");
	tap_ok(mps3_db_get_unsure(a, "g", &cur, &alts) == 0 && !cur && !alts, "lost reply: and is known to have done nothing");
	mps3_store_mem_fail(s, -EIO, 1);
	tap_inteq(commit_str(a, "e", "{\"type\":\"d\"}"), -EIO, "lost reply: a PUT that stored nothing fails");
	tap_ok(mps3_db_get_unsure(a, "e", &cur, &alts) == 0 && !cur && json_array_size(alts) == 1,
	       "lost reply: its entry may still have landed");
	json_decref(alts);
	nanosleep(&pause, NULL);
	tap_inteq(commit_str(c, "f", "{\"type\":\"d\"}"), 0, "lost reply: another writer's entry, later");
	tap_ok(mps3_db_poll(a, NULL) == 0 && mps3_db_get_unsure(a, "e", &cur, &alts) == 0 && !cur && !alts,
	       "lost reply: once the horizon passes it unseen, it never applies");
	/* Restarting with changes to write again, offline: they wait for a listing. */
	{
		char path[] = "/tmp/mps3-test-state-XXXXXX";
		int fd = mkstemp(path);
		struct mps3_db_config rc_cfg = cfg;
		struct mps3_db *r = NULL;

		if (fd >= 0)
			close(fd);
		rc_cfg.state_file = path;
		rc_cfg.allow_offline = 1;
		mps3_db_free(c);
		c = NULL;
		tap_ok(mps3_db_open(&c, s, &rc_cfg) == 0 && mps3_db_save_state(c) == 0, "lost reply: a state file");
		rc_cfg.list_at_open = 1;
		mps3_store_mem_fail(s, -ECONNREFUSED, 1000);
		tap_ok(mps3_db_open(&r, s, &rc_cfg) == 0, "lost reply: a restart that is to list opens offline");
		tap_inteq(r ? mps3_db_get_unsure(r, "e", &cur, &alts) : 0, -EAGAIN,
			  "lost reply: and its changes wait for a listing");
		mps3_store_mem_fail(s, 0, 0);
		tap_ok(r && mps3_db_poll(r, NULL) == 0 && mps3_db_get_unsure(r, "e", &cur, &alts) == 0 && !alts,
		       "lost reply: after one, they may go");
		json_decref(cur);
		mps3_db_free(r);
		unlink(path);
	}
	mps3_db_free(c);
	mps3_db_free(a);
	mps3_store_free(s);
}

/*
 * P2: a client away longer than half the GC grace period resolves afresh.
 * What it had already applied since the checkpoint, its own commits and
 * others', must survive that: the fresh resolution lists them again.
 */
static void test_reresolve(void)
{
	struct mps3_store *s = NULL;
	struct mps3_db_config cfg;
	struct mps3_db *a = NULL, *b = NULL;
	json_t *v = NULL;

	if (mps3_store_mem_new(&s) != 0)
		return;
	cfg_fast(&cfg);
	cfg.gc_grace_ms = 200; /* away for more than 100 ms: resolve afresh */
	tap_ok(mps3_db_open(&a, s, &cfg) == 0 && mps3_db_open(&b, s, &cfg) == 0, "re-resolve: two clients");
	if (a && b) {
		tap_ok(commit_str(a, "x", "{\"type\":\"d\",\"mode\":1}") == 0 && mps3_db_poll(b, NULL) == 0 &&
			       mps3_db_get(b, "x", &v) == 0,
		       "re-resolve: b applied a's entry");
		json_decref(v);
		v = NULL;
		usleep(150 * 1000);
		tap_ok(mps3_db_poll(b, NULL) == 0 && mps3_db_get(b, "x", &v) == 0,
		       "re-resolve: b still has an entry it had applied before resolving afresh");
		json_decref(v);
		v = NULL;
		tap_ok(mps3_db_poll(a, NULL) == 0 && mps3_db_get(a, "x", &v) == 0,
		       "re-resolve: a still has its own commit after resolving afresh");
		json_decref(v);
	}
	mps3_db_free(a);
	mps3_db_free(b);
	mps3_store_free(s);
}

/* The applied-entry count of db, and whether it holds path. */
static uint64_t applied(struct mps3_db *db)
{
	struct mps3_db_stats st;

	mps3_db_get_stats(db, &st);
	return st.entries_applied;
}

static int has(struct mps3_db *db, const char *path)
{
	json_t *v = NULL;
	int ok = mps3_db_get(db, path, &v) == 0;

	json_decref(v);
	return ok;
}

/* Whether the state of db now, as mps3_db_state_at() builds it, holds path. */
static int state_has(struct mps3_db *db, const char *path)
{
	json_t *files = NULL;
	int ok = mps3_db_state_at(db, mps3_clock_now(mps3_store_clock(mps3_db_store(db))), &files) == 0 &&
		 json_object_get(files, path) != NULL;

	json_decref(files);
	return ok;
}

/*
 * R1's shortcut: a checkpoint states the entries of its last lag it holds,
 * and a reader that lists exactly those does not fetch them again.  One
 * whose window does not match what the reader lists is replayed in full.
 */
static void test_cp_window(void)
{
	struct mps3_store *s = NULL;
	struct mps3_db_config cfg;
	struct mps3_db *a = NULL, *c = NULL, *d = NULL;
	struct mps3_checkpoint cp;
	struct mps3_logkey k;
	char key[128], *doc;
	size_t len = 0;

	if (mps3_store_mem_new(&s) != 0)
		return;
	cfg_fast(&cfg);
	tap_ok(mps3_db_open(&a, s, &cfg) == 0 && commit_str(a, "w1", "{\"type\":\"d\"}") == 0 &&
		       commit_str(a, "w2", "{\"type\":\"d\"}") == 0 && commit_str(a, "w3", "{\"type\":\"d\"}") == 0,
	       "cp window: three entries");
	if (!a)
		goto out;
	sleep(3); /* past the lag (2 s): settled, and inside the checkpoint's window */
	put_str(s, "head", "settle");
	mps3_db_poll(a, NULL);
	tap_inteq(mps3_db_checkpoint(a, &k), 0, "cp window: checkpoint");
	strcpy(key, "checkpoint/");
	mps3_cpkey_format(key + strlen(key), &k);
	doc = get_str(s, key);
	tap_ok(doc && mps3_checkpoint_parse(&cp, key + strlen("checkpoint/"), doc, strlen(doc)) == 0 &&
		       cp.has_window && cp.window.n == 3 && cp.window.from == k.t - cfg.lag_ms,
	       "cp window: the checkpoint names the three entries of its window");
	free(doc);
	tap_inteq(commit_str(a, "w4", "{\"type\":\"d\"}"), 0, "cp window: an entry after it");
	tap_inteq(mps3_db_open(&c, s, &cfg), 0, "cp window: a reader opens");
	tap_ok(c && applied(c) == 1 && has(c, "w1") && has(c, "w3") && has(c, "w4"),
	       "cp window: a reader listing the same entries applies only the one after it (applied %llu)",
	       c ? (unsigned long long)applied(c) : 0ULL);

	tap_ok(state_has(a, "w1") && state_has(a, "w3") && state_has(a, "w4"),
	       "cp window: the state now, as a view builds it, from the checkpoint and the entry after it");

	/* A newer checkpoint whose window does not match, and that lacks w3: the window is replayed. */
	if (cp.files) {
		json_object_del(cp.files, "w3");
		k.t += 1;
		cp.window.from = k.t - cfg.lag_ms;
		cp.window.md[0] ^= 1;
		doc = mps3_checkpoint_dump(&k, cp.files, &cp.window, &len);
		strcpy(key, "checkpoint/");
		mps3_cpkey_format(key + strlen(key), &k);
		put_str(s, key, doc ? doc : "");
		free(doc);
		json_decref(cp.files);
	}
	tap_inteq(mps3_db_open(&d, s, &cfg), 0, "cp window: another reader opens");
	tap_ok(d && applied(d) == 4 && has(d, "w3") && has(d, "w4"),
	       "cp window: one that does not match what is listed is replayed whole (applied %llu)",
	       d ? (unsigned long long)applied(d) : 0ULL);
	tap_ok(state_has(a, "w3") && state_has(a, "w4"), "cp window: ... and so is it for a view");
out:
	mps3_db_free(a);
	mps3_db_free(c);
	mps3_db_free(d);
	mps3_store_free(s);
}

int main(void)
{
	struct mps3_store *s = NULL;
	char dir[] = "/tmp/mps3-test-store-XXXXXX";
	char cmd[128];

	mps3_log_set_prefix("# ");
	if (mps3_store_mem_new(&s) == 0) {
		test_backend("mem", s);
		mps3_store_free(s);
	}
	if (mkdtemp(dir) && mps3_store_file_new(&s, dir, 1) == 0) {
		test_backend("file", s);
		mps3_store_free(s);
	}
	if (mps3_store_mem_new(&s) == 0) {
		test_db("mem", s);
		mps3_store_free(s);
	}
	if (mps3_store_mem_new(&s) == 0) {
		test_hostile("mem", s);
		mps3_store_free(s);
	}
	test_retry();
	test_lost_reply();
	test_reresolve();
	test_cp_window();
	snprintf(cmd, sizeof(cmd), "rm -rf %s/*", dir);
	if (system(cmd) != 0)
		tap_diag("cleanup failed");
	if (mps3_store_file_new(&s, dir, 1) == 0) {
		test_db("file", s);
		mps3_store_free(s);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		tap_diag("cleanup failed");
	return tap_done();
}
