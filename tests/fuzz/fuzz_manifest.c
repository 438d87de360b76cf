/*
 * fuzz_manifest.c - resolution of a log whose entries arrive in any order.
 *
 * The input is up to 64 lines, one log entry each: the first byte picks the
 * time (1000 + byte % 16), the second the session (one of three), the rest
 * is the "files" patch as JSON.  seq is the line number, so every name is
 * distinct.  Each entry goes through mps3_logentry_dump() and
 * mps3_logentry_parse() as one read from a bucket would; entries the parser
 * rejects are dropped, as a reader drops them.
 *
 * The accepted entries are fed to one manifest in input order, settling
 * behind the oldest entry still to come after every add (as a reader that
 * lists them late would), and to another in reverse input order without
 * settling.  Properties (mps3/manifest.h): every add returns 0; both
 * resolve to the plain replay of the sorted log; settling everything leaves
 * base equal to files and an empty window; replaying the reported changes
 * over the empty map gives the resolved map; a name added twice is -EEXIST
 * and one older than the horizon -ESTALE, both without effect; and a
 * checkpoint of everything before some time plus a replay from a little
 * before it resolves like the whole log.
 */
#include <stdlib.h>
#include <errno.h>

#include "fuzz.h"
#include "mps3/entry.h"
#include "mps3/manifest.h"
#include "mps3/mergepatch.h"

/*
 * The manifest's maps as JSON: copies made for the call, kept in a ring of
 * the last few so that a test can compare them inline; freed at exit.
 */
#define RING 8
static json_t *ring[RING];
static unsigned ring_pos;

static void ring_free(void)
{
	unsigned i;

	for (i = 0; i < RING; i++)
		json_decref(ring[i]);
}

static json_t *ring_keep(json_t *v)
{
	if (!ring_pos)
		atexit(ring_free);
	json_decref(ring[ring_pos % RING]);
	ring[ring_pos++ % RING] = v;
	return v;
}

static json_t *ring_files(const struct mps3_manifest *m)
{
	return ring_keep(mps3_manifest_files_copy(m));
}

static json_t *ring_base(const struct mps3_manifest *m)
{
	return ring_keep(mps3_manifest_base_copy(m));
}

#define MAX_ENTRIES 64
#define T0 1000

static const char *const sessions[] = {
	"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "0123456789abcdef",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	return 0;
}

struct ent {
	struct mps3_logkey key;
	json_t *files;
};

static int cmp_ent(const void *a, const void *b)
{
	return mps3_logkey_cmp(&((const struct ent *)a)->key, &((const struct ent *)b)->key);
}

/* One line to an accepted entry, or 0 when a reader would drop it. */
static int decode(struct ent *e, const uint8_t *p, size_t n, uint64_t seq)
{
	struct mps3_logentry le;
	char name[MPS3_LOGNAME_MAX], *doc;
	json_t *files;
	size_t len;
	int rc;

	if (n < 2)
		return 0;
	e->key.t = T0 + p[0] % 16;
	snprintf(e->key.session, sizeof(e->key.session), "%s",
		 sessions[p[1] % (sizeof(sessions) / sizeof(sessions[0]))]);
	e->key.seq = seq;
	files = json_loadb((const char *)p + 2, n - 2, JSON_REJECT_DUPLICATES, NULL);
	if (!files)
		return 0;
	doc = mps3_logentry_dump(&e->key, files, &len);
	json_decref(files);
	if (!doc)
		return 0;
	if (mps3_logkey_format(name, &e->key))
		abort();
	rc = mps3_logentry_parse(&le, name, doc, len);
	free(doc);
	if (rc)
		return 0;
	FUZZ_CHECK(mps3_logkey_cmp(&le.key, &e->key) == 0);
	e->files = le.files;
	return 1;
}

/* Plain replay of the sorted log, path by path; *bad if a patch fails. */
static json_t *reference(const struct ent *e, size_t n, int *bad)
{
	json_t *doc = json_object(), *v, *next;
	const char *path;
	size_t i;
	int err;

	*bad = 0;
	for (i = 0; i < n; i++) {
		json_object_foreach(e[i].files, path, v) {
			next = mps3_merge_patch(json_object_get(doc, path), v, &err);
			if (err)
				*bad = 1;
			if (next)
				json_object_set_new(doc, path, next);
			else
				json_object_del(doc, path);
		}
	}
	return doc;
}


/*
 * A checkpoint of every entry before the first entry's time H, then a
 * replay from H - lag of every entry at or after it, in input order: the
 * suffix replayed over a state that includes it changes nothing
 * (mps3/manifest.h), so this resolves like the whole log.
 */
static void check_checkpoint(const struct ent *e, const struct ent *sorted, size_t n, json_t *want,
			     const uint8_t *data, size_t size)
{
	struct mps3_manifest *m = mps3_manifest_new();
	struct mps3_changes ch;
	json_t *cp, *cp0, *replayed;
	int64_t h, lag;
	size_t first = 0, i;
	int bad;

	if (n == 0 || size < 2) {
		mps3_manifest_free(m);
		return;
	}
	h = e[0].key.t;
	lag = data[1] % 4;
	while (first < n && sorted[first].key.t < h)
		first++;
	cp = reference(sorted, first, &bad);
	FUZZ_CHECK(!bad);
	cp0 = json_deep_copy(cp);
	mps3_changes_init(&ch);
	FUZZ_CHECK(mps3_manifest_reset(m, cp, h - lag, &ch) == 0);
	FUZZ_CHECK(mps3_manifest_horizon(m) == h - lag && mps3_manifest_window_len(m) == 0);
	/* From an empty map, the reported changes are the checkpoint itself. */
	mps3_changes_compact(&ch);
	replayed = json_object();
	for (i = 0; i < ch.n; i++)
		if (ch.v[i].new)
			json_object_set(replayed, ch.v[i].path, ch.v[i].new);
	FUZZ_CHECK(json_equal(replayed, cp));
	json_decref(replayed);
	mps3_changes_dispose(&ch);
	for (i = 0; i < n; i++) {
		int rc = mps3_manifest_add(m, &e[i].key, e[i].files, NULL);

		FUZZ_CHECK(rc == (e[i].key.t >= h - lag ? 0 : -ESTALE));
	}
	FUZZ_CHECK(json_equal(ring_files(m), want));
	/* The checkpoint passed in is borrowed: still as it was. */
	FUZZ_CHECK(json_equal(cp, cp0));
	json_decref(cp);
	json_decref(cp0);
	mps3_manifest_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ent e[MAX_ENTRIES], sorted[MAX_ENTRIES];
	struct mps3_manifest *m1, *m2;
	struct mps3_changes ch;
	json_t *want, *replayed;
	size_t n = 0, off = 0, i, j;
	int bad_rc = 0, ref_bad = 0, rc;

	(void)ref_bad; /* a patch the reference cannot apply fails the adds too */

	while (off < size && n < MAX_ENTRIES) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - data - off) : size - off;

		n += (size_t)decode(&e[n], data + off, len, n + 1);
		off += len + 1;
	}

	memcpy(sorted, e, n * sizeof(e[0]));
	qsort(sorted, n, sizeof(sorted[0]), cmp_ent);
	want = reference(sorted, n, &ref_bad);

	/* Input order, settling behind whatever may still come. */
	m1 = mps3_manifest_new();
	FUZZ_CHECK(m1 != NULL);
	mps3_changes_init(&ch);
	for (i = 0; i < n; i++) {
		int64_t lo = INT64_MAX;

		rc = mps3_manifest_add(m1, &e[i].key, e[i].files, &ch);
		if (rc && !bad_rc)
			bad_rc = rc;
		for (j = i + 1; j < n; j++)
			if (e[j].key.t < lo)
				lo = e[j].key.t;
		rc = lo != INT64_MAX ? mps3_manifest_settle(m1, lo) : 0;
		if (rc && !bad_rc)
			bad_rc = rc;
	}

	/* Reverse order: every entry but the first arrives late. */
	m2 = mps3_manifest_new();
	FUZZ_CHECK(m2 != NULL);
	for (i = n; i-- > 0;) {
		rc = mps3_manifest_add(m2, &e[i].key, e[i].files, NULL);
		if (rc && !bad_rc)
			bad_rc = rc;
		/* The same name again (a listing that shows it twice): no effect. */
		if (rc == 0)
			FUZZ_CHECK(mps3_manifest_add(m2, &e[i].key, e[i].files, NULL) == -EEXIST);
	}
	if (bad_rc == 0) {
		FUZZ_CHECK(json_equal(ring_files(m1), want));
		FUZZ_CHECK(json_equal(ring_files(m2), want));

		mps3_changes_compact(&ch);
		replayed = json_object();
		for (i = 0; i < ch.n; i++) {
			if (ch.v[i].new)
				json_object_set(replayed, ch.v[i].path, ch.v[i].new);
			else
				json_object_del(replayed, ch.v[i].path);
		}
		FUZZ_CHECK(json_equal(replayed, want));
		json_decref(replayed);

		FUZZ_CHECK(mps3_manifest_settle(m1, T0 + 16) == 0);
		FUZZ_CHECK(mps3_manifest_settle(m2, T0 + 16) == 0);
		FUZZ_CHECK(mps3_manifest_window_len(m1) == 0 && mps3_manifest_window_len(m2) == 0);
		FUZZ_CHECK(json_equal(ring_base(m1), want));
		FUZZ_CHECK(json_equal(ring_base(m2), want));
		FUZZ_CHECK(json_equal(ring_files(m2), want));

		/* Older than the horizon now: refused, and nothing changes. */
		if (n > 0)
			FUZZ_CHECK(mps3_manifest_add(m1, &e[0].key, e[0].files, NULL) == -ESTALE);
		FUZZ_CHECK(json_equal(ring_files(m1), want));

		check_checkpoint(e, sorted, n, want, data, size);
	} else {
		/* What a caller does next: settle again later, free at the end. */
		mps3_manifest_settle(m1, T0 + 16);
		mps3_manifest_settle(m2, T0 + 16);
	}
	mps3_changes_dispose(&ch);
	mps3_manifest_free(m1);
	mps3_manifest_free(m2);
	json_decref(want);
	for (i = 0; i < n; i++)
		json_decref(e[i].files);
	/* Checked last, so that a crash a failed add or settle leads to shows first. */
	if (bad_rc)
		fprintf(stderr, "mps3_manifest_add/settle of an accepted entry: %d (%s)\n",
			bad_rc, strerror(-bad_rc));
	FUZZ_CHECK(bad_rc == 0);
	return 0;
}
