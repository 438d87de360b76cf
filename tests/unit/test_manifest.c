/*
 * test_manifest.c - resolution: duplicates, late and out-of-order arrivals,
 * settling, checkpoint + replay, change reporting; plus a randomised check
 * that every arrival order resolves to the same map as the sorted log.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/buf.h"
#include "mps3/error.h"
#include "mps3/manifest.h"
#include "mps3/mergepatch.h"
#include "tap.h"

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

/* The base, which its text form (mps3_manifest_base_dump) must equal: else a null that fails the caller's check. */
static json_t *ring_base(const struct mps3_manifest *m)
{
	struct mps3_buf b;
	json_t *copy = mps3_manifest_base_copy(m), *text;

	mps3_buf_init(&b, 0);
	text = mps3_manifest_base_dump(m, &b) == 0 ? json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	mps3_buf_dispose(&b);
	if (!json_equal(copy, text)) {
		json_decref(copy);
		copy = json_null();
	}
	json_decref(text);
	return ring_keep(copy);
}

static struct mps3_logkey key(int64_t t, const char *s, uint64_t seq)
{
	struct mps3_logkey k;

	k.t = t;
	snprintf(k.session, sizeof(k.session), "%s", s);
	k.seq = seq;
	return k;
}

#define SA "aaaaaaaaaaaaaaaa"
#define SB "bbbbbbbbbbbbbbbb"

static json_t *J(const char *s)
{
	json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);

	if (!j)
		tap_diag("bad JSON in test: %s", s);
	return j;
}

static int files_eq(struct mps3_manifest *m, const char *want)
{
	json_t *w = J(want);
	int ok = json_equal(ring_files(m), w);

	if (!ok) {
		char *got = json_dumps(ring_files(m), JSON_COMPACT | JSON_SORT_KEYS);

		tap_diag("got  %s", got);
		tap_diag("want %s", want);
		free(got);
	}
	json_decref(w);
	return ok;
}

static int add(struct mps3_manifest *m, int64_t t, const char *s, uint64_t seq, const char *patch,
	       struct mps3_changes *ch)
{
	struct mps3_logkey k = key(t, s, seq);
	json_t *p = J(patch);
	int rc = mps3_manifest_add(m, &k, p, ch);

	json_decref(p);
	return rc;
}

static void test_basic(void)
{
	struct mps3_manifest *m = mps3_manifest_new();
	struct mps3_changes ch;

	mps3_changes_init(&ch);
	tap_inteq(add(m, 100, SA, 1, "{\"a\":{\"type\":\"f\",\"size\":1}}", &ch), 0, "first entry");
	tap_inteq(add(m, 200, SA, 2, "{\"a\":{\"size\":2},\"b\":{\"type\":\"d\"}}", &ch), 0, "second entry");
	tap_ok(files_eq(m, "{\"a\":{\"type\":\"f\",\"size\":2},\"b\":{\"type\":\"d\"}}"), "in-order resolution");
	mps3_changes_compact(&ch);
	tap_inteq(ch.n, 2, "two paths changed");
	tap_ok(ch.n == 2 && ch.v[0].old == NULL && json_integer_value(json_object_get(ch.v[0].new, "size")) == 2,
	       "changes to one path coalesce: absent -> final");
	mps3_changes_dispose(&ch);

	mps3_changes_init(&ch);
	tap_inteq(add(m, 200, SA, 2, "{\"a\":{\"size\":99}}", &ch), -EEXIST, "duplicate name ignored");
	tap_ok(files_eq(m, "{\"a\":{\"type\":\"f\",\"size\":2},\"b\":{\"type\":\"d\"}}"), "duplicate changed nothing");
	mps3_changes_compact(&ch);
	tap_inteq(ch.n, 0, "duplicate reports no change");

	/* Late: time 150 sorts between the two. */
	tap_inteq(add(m, 150, SB, 1, "{\"a\":{\"size\":15,\"mode\":384}}", &ch), 0, "late entry accepted");
	tap_ok(files_eq(m, "{\"a\":{\"type\":\"f\",\"size\":2,\"mode\":384},\"b\":{\"type\":\"d\"}}"),
	       "late entry replayed in order: later size wins, its mode stays");
	mps3_changes_compact(&ch);
	tap_ok(ch.n == 1 && strcmp(ch.v[0].path, "a") == 0, "late entry reports only its path");
	mps3_changes_dispose(&ch);

	/* Same time, ordered by session. */
	tap_inteq(add(m, 300, SB, 2, "{\"c\":{\"v\":\"B\"}}", NULL), 0, "entry at t=300 from B");
	tap_inteq(add(m, 300, SA, 3, "{\"c\":{\"v\":\"A\"}}", NULL), 0, "entry at t=300 from A, arriving second");
	tap_streq(json_string_value(json_object_get(json_object_get(ring_files(m), "c"), "v")), "B",
		  "same time: session order decides (B after A)");

	/* Settle folds old entries; later arrivals older than the horizon are refused. */
	tap_inteq(mps3_manifest_settle(m, 250), 0, "settle to 250");
	tap_inteq(mps3_manifest_window_len(m), 2, "two entries remain in the window");
	tap_inteq(add(m, 240, SB, 9, "{\"a\":null}", NULL), -ESTALE, "entry older than the horizon refused");
	tap_ok(json_object_get(ring_files(m), "a") != NULL, "refused entry had no effect");
	{
		json_t *base = J("{\"a\":{\"type\":\"f\",\"size\":2,\"mode\":384},\"b\":{\"type\":\"d\"}}");

		tap_ok(json_equal(ring_base(m), base), "base holds exactly the settled entries");
		json_decref(base);
	}

	/* Delete, then a chmod arrives for the deleted path: the value is not an entry. */
	tap_inteq(add(m, 400, SA, 4, "{\"b\":null}", NULL), 0, "delete b");
	tap_inteq(add(m, 410, SB, 3, "{\"b\":{\"mode\":448}}", NULL), 0, "chmod b after its delete");
	{
		json_t *ghost = J("{\"mode\":448}");

		tap_ok(json_equal(json_object_get(ring_files(m), "b"), ghost),
		       "chmod after delete leaves an incomplete value (no type: not a file)");
		json_decref(ghost);
	}
	mps3_changes_dispose(&ch);
	mps3_manifest_free(m);
}

/* ---- randomised equivalence -------------------------------------------- */

#define NPATHS 4
#define NENTRIES 40

static json_t *random_patch(unsigned *seed)
{
	static const char *const paths[NPATHS] = { "a", "b", "d/x", "d/y" };
	json_t *p = json_object();
	int n = 1 + rand_r(seed) % 3, i;

	for (i = 0; i < n; i++) {
		const char *path = paths[rand_r(seed) % NPATHS];
		int kind = rand_r(seed) % 6;
		json_t *v;

		if (kind == 0) {
			v = json_null();
		} else if (kind == 1) {
			v = json_pack("{s:i}", "mode", rand_r(seed) % 512);
		} else if (kind == 2) {
			v = json_pack("{s:s,s:o}", "type", "f", "xattr",
				      rand_r(seed) % 2 ? json_null() : json_pack("{s:i}", "k", rand_r(seed) % 3));
		} else {
			v = json_pack("{s:s,s:i,s:n}", "type", rand_r(seed) % 4 ? "f" : "d", "size",
				      rand_r(seed) % 100, "target");
		}
		json_object_set_new(p, path, v);
	}
	return p;
}

struct ent {
	struct mps3_logkey k;
	json_t *p;
};

static int cmp_ent(const void *a, const void *b)
{
	return mps3_logkey_cmp(&((const struct ent *)a)->k, &((const struct ent *)b)->k);
}

/* The reference: plain merge-patch replay of the sorted log. */
static json_t *reference(struct ent *e, size_t n)
{
	json_t *doc = json_object();
	size_t i;

	for (i = 0; i < n; i++) {
		const char *path;
		json_t *v;

		json_object_foreach(e[i].p, path, v) {
			int err = 0;
			json_t *next = mps3_merge_patch(json_object_get(doc, path), v, &err);

			if (next)
				json_object_set_new(doc, path, next);
			else
				json_object_del(doc, path);
		}
	}
	return doc;
}

static void test_random(void)
{
	unsigned seed = 12345, round;
	int order_ok = 1, cp_ok = 1, change_ok = 1;

	for (round = 0; round < 300; round++) {
		struct ent e[NENTRIES], arrive[NENTRIES];
		json_t *want, *before;
		struct mps3_manifest *m = mps3_manifest_new(), *r = mps3_manifest_new();
		struct mps3_changes ch;
		size_t i, cut;
		int64_t horizon;

		for (i = 0; i < NENTRIES; i++) {
			e[i].k = key(1000 + rand_r(&seed) % 200, rand_r(&seed) % 2 ? SA : SB, i);
			e[i].p = random_patch(&seed);
		}
		qsort(e, NENTRIES, sizeof(e[0]), cmp_ent);
		want = reference(e, NENTRIES);

		/* Arrival order: sorted with random local displacement (late entries). */
		memcpy(arrive, e, sizeof(e));
		for (i = 0; i < NENTRIES; i++) {
			size_t j = i + (size_t)(rand_r(&seed) % 6);

			if (j < NENTRIES) {
				struct ent t = arrive[i];

				arrive[i] = arrive[j];
				arrive[j] = t;
			}
		}
		mps3_changes_init(&ch);
		before = json_deep_copy(ring_files(m));
		for (i = 0; i < NENTRIES; i++) {
			mps3_manifest_add(m, &arrive[i].k, arrive[i].p, &ch);
			/* Settle behind everything that can still arrive. */
			if (i % 7 == 6) {
				int64_t lo = INT64_MAX;
				size_t j;

				for (j = i + 1; j < NENTRIES; j++)
					if (arrive[j].k.t < lo)
						lo = arrive[j].k.t;
				if (lo != INT64_MAX)
					mps3_manifest_settle(m, lo);
			}
		}
		if (!json_equal(ring_files(m), want))
			order_ok = 0;
		/* Replaying the reported changes on the start state gives the end state. */
		mps3_changes_compact(&ch);
		for (i = 0; i < ch.n; i++) {
			if (ch.v[i].new)
				json_object_set(before, ch.v[i].path, ch.v[i].new);
			else
				json_object_del(before, ch.v[i].path);
		}
		if (!json_equal(before, want))
			change_ok = 0;
		mps3_changes_dispose(&ch);
		json_decref(before);

		/*
		 * Checkpoint + replay: a checkpoint of everything before `cut`,
		 * then every entry from (cut time - lag) replayed again on top.
		 */
		cut = (size_t)(rand_r(&seed) % NENTRIES);
		horizon = e[cut].k.t;
		{
			size_t first = 0;
			json_t *cp;

			while (first < NENTRIES && e[first].k.t < horizon)
				first++;
			cp = reference(e, first);
			mps3_manifest_reset(r, cp, horizon - 50, NULL);
			for (i = 0; i < NENTRIES; i++)
				if (e[i].k.t >= horizon - 50)
					mps3_manifest_add(r, &e[i].k, e[i].p, NULL);
			if (!json_equal(ring_files(r), want))
				cp_ok = 0;
			json_decref(cp);
		}
		for (i = 0; i < NENTRIES; i++)
			json_decref(e[i].p);
		json_decref(want);
		mps3_manifest_free(m);
		mps3_manifest_free(r);
	}
	tap_ok(order_ok, "300 random logs: any arrival order (with settling) resolves like the sorted log");
	tap_ok(change_ok, "300 random logs: reported changes turn the old map into the new one");
	tap_ok(cp_ok, "300 random logs: checkpoint plus replay from before it resolves like the full log");
}

static void test_reset_changes(void)
{
	struct mps3_manifest *m = mps3_manifest_new();
	struct mps3_changes ch;
	json_t *cp = J("{\"a\":{\"type\":\"d\"},\"c\":{\"type\":\"d\"}}");

	add(m, 10, SA, 1, "{\"a\":{\"type\":\"d\"},\"b\":{\"type\":\"d\"}}", NULL);
	mps3_changes_init(&ch);
	tap_inteq(mps3_manifest_reset(m, cp, 5, &ch), 0, "reset to a checkpoint");
	mps3_changes_compact(&ch);
	tap_ok(ch.n == 2, "reset reports removed b and added c, not unchanged a");
	tap_inteq(mps3_manifest_horizon(m), 5, "reset sets the horizon");
	tap_inteq(mps3_manifest_window_len(m), 0, "reset empties the window");
	mps3_changes_dispose(&ch);
	json_decref(cp);
	mps3_manifest_free(m);
}

/*
 * Found by tests/fuzz (manifest): a patch nested past the merge limit made
 * add fail after inserting the entry, and settle release folded entries
 * twice.  Now the path keeps its value, for every reader alike.
 */
static void test_too_deep(void)
{
	struct mps3_manifest *m = mps3_manifest_new();
	struct mps3_logkey k = key(200, SB, 1);
	json_t *deep = json_object(), *patch;
	int i;

	for (i = 0; i < 70; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "x", deep);
		deep = o;
	}
	patch = json_pack("{s:o,s:{s:s}}", "p", deep, "q", "type", "d");
	tap_ok(add(m, 100, SA, 1, "{\"p\":{\"type\":\"d\"}}", NULL) == 0, "deep: a first entry");
	tap_inteq(mps3_manifest_add(m, &k, patch, NULL), 0, "deep: an entry nested past the limit is added");
	tap_ok(files_eq(m, "{\"p\":{\"type\":\"d\"},\"q\":{\"type\":\"d\"}}"),
	       "deep: its too-deep path keeps its value; its other paths apply");
	tap_inteq(mps3_manifest_settle(m, 300), 0, "deep: settling over it works");
	tap_ok(files_eq(m, "{\"p\":{\"type\":\"d\"},\"q\":{\"type\":\"d\"}}") &&
		       json_equal(ring_base(m), ring_files(m)),
	       "deep: and gives the same map");
	json_decref(patch);
	mps3_manifest_free(m);
}

/* Whether m states the window [from, horizon) as the digest of keys[0..n). */
static int window_is(struct mps3_manifest *m, int64_t from, const struct mps3_logkey *keys, size_t n)
{
	struct mps3_cpwindow got, want;

	return mps3_manifest_settled_window(m, from, &got) == 0 && mps3_cpwindow_digest(&want, from, keys, n) == 0 &&
	       got.n == n && got.from == from && memcmp(got.md, want.md, sizeof(got.md)) == 0;
}

/* The names of settled entries, for a checkpoint's window (R1's shortcut). */
static void test_settled_window(void)
{
	struct mps3_manifest *m = mps3_manifest_new();
	struct mps3_cpwindow w;
	struct mps3_logkey k[3] = { key(100, SA, 1), key(150, SB, 1), key(250, SA, 2) };
	json_t *cp = J("{\"a\":{\"type\":\"d\"},\"b\":{\"type\":\"d\"}}");

	mps3_manifest_keep_settled(m, 100);
	add(m, 250, SA, 2, "{\"c\":{\"type\":\"d\"}}", NULL);
	add(m, 100, SA, 1, "{\"a\":{\"type\":\"d\"}}", NULL);
	add(m, 150, SB, 1, "{\"b\":{\"type\":\"d\"}}", NULL);
	tap_ok(window_is(m, INT64_MIN, k, 0), "window: nothing settled yet, an empty window");
	mps3_manifest_settle(m, 200);
	tap_ok(window_is(m, 100, k, 2) && window_is(m, 120, k + 1, 1) && window_is(m, 200, k, 0),
	       "window: the settled entries from `from` to the horizon, in log order");
	mps3_manifest_settle(m, 300);
	tap_ok(window_is(m, 200, k + 2, 1), "window: names within keep of the horizon are kept");
	tap_inteq(mps3_manifest_settled_window(m, 199, &w) == 0 ? 0 : -ENOENT, -ENOENT,
		  "window: names pruned behind keep are unknown, not an empty window");
	tap_inteq(mps3_manifest_settled_window(m, 301, &w), -ENOENT, "window: no window beyond the horizon");
	mps3_manifest_reset(m, cp, 1000, NULL);
	tap_inteq(mps3_manifest_settled_window(m, 900, &w), -ENOENT,
		  "window: after a reset, what the base held before its horizon is unknown");
	tap_ok(window_is(m, 1000, k, 0), "window: ... and the horizon itself starts an empty one");
	{
		struct mps3_logkey n[2] = { key(920, SA, 7), key(990, SB, 3) };

		tap_ok(mps3_manifest_note_settled(m, 900, n, 2) == 0 && window_is(m, 900, n, 2) &&
			       window_is(m, 950, n + 1, 1),
		       "window: the names a reader skipped are noted as settled");
		add(m, 1010, SA, 8, "{\"d\":{\"type\":\"d\"}}", NULL);
		mps3_manifest_settle(m, 1050);
		{
			struct mps3_logkey all[3] = { n[0], n[1], key(1010, SA, 8) };

			tap_ok(window_is(m, 950, all + 1, 2), "window: ... and later settled names follow them");
		}
		tap_inteq(mps3_manifest_note_settled(m, 900, n, 2), -EINVAL,
			  "window: names are noted only right after a reset");
	}
	json_decref(cp);
	mps3_manifest_free(m);
}

/*
 * Values go into the compact map and come back byte for byte (keys and
 * their order included): packed ones and those kept as JSON alike.
 */
static void test_exact_values(void)
{
	static const char *const values[] = {
		/* packed: the ordinary keys in order */
		"{\"blob\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"mode\":420,"
		"\"mtime\":1796542245639328501,\"size\":0,\"type\":\"f\"}",
		"{\"gid\":0,\"mode\":0,\"mtime\":-5,\"type\":\"d\",\"uid\":4294967294}",
		"{\"type\":\"d\"}",
		"{}",
		"{\"mtime\":0,\"size\":-1,\"type\":\"x\"}",
		"{\"gid\":4294967295,\"mtime\":-9223372036854775808,\"size\":9223372036854775807,\"type\":\"\\u0001\",\"uid\":0}",
		"{\"mode\":7,\"type\":\"\\\"\"}",
		"{\"mode\":7,\"type\":\"\\n\"}",
		"{\"mode\":7,\"type\":\"\\u001F\"}",
		"{\"mode\":7,\"type\":\"\\t\"}",
		/* kept as JSON */
		"{\"type\":\"f\",\"size\":0,\"blob\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}",
		"{\"blob\":\"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\",\"size\":0,\"type\":\"f\"}",
		"{\"blob\":\"e3b0\",\"size\":0,\"type\":\"f\"}",
		"{\"mode\":4294967296,\"type\":\"f\"}",
		"{\"mode\":-1,\"type\":\"f\"}",
		"{\"mtime\":1.5,\"type\":\"f\"}",
		"{\"size\":0,\"type\":\"ff\"}",
		"{\"target\":\"x\",\"type\":\"l\"}",
		"{\"type\":\"f\",\"xattr\":{\"user.a\":\"b\"}}",
		"{\"future\":[1,{\"x\":null}],\"type\":\"f\"}",
		"{\"size\":null,\"type\":\"f\"}",
		"\"a string\"",
		"[1,2]",
		"7",
	};
	struct mps3_manifest *m = mps3_manifest_new();
	json_t *files = json_object();
	size_t i;
	int packs = 0;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char path[16];
		json_t *v = json_loads(values[i], JSON_DECODE_ANY, NULL);
		struct mps3_packed p;

		snprintf(path, sizeof(path), "p%zu", i);
		json_object_set_new(files, path, v);
		packs += mps3_packed_from_json(&p, v);
	}
	tap_inteq(packs, 10, "the ordinary values pack, the others do not");
	tap_ok(mps3_manifest_reset(m, files, 0, NULL) == 0, "reset");
	tap_inteq((long long)mps3_manifest_size(m), (long long)(sizeof(values) / sizeof(values[0])), "every path kept");
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char path[16], *got;
		json_t *v;
		int err;

		snprintf(path, sizeof(path), "p%zu", i);
		v = mps3_manifest_get(m, path, &err);
		got = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		tap_streq(got ? got : "(none)", values[i], "value %zu comes back exactly", i);
		free(got);
		json_decref(v);
	}
	tap_ok(json_equal(ring_base(m), files), "the base is the same map");
	{
		struct mps3_buf b;
		int exact = 0;

		/* Written as text straight from the map, each value is the bytes that were read. */
		mps3_buf_init(&b, 0);
		tap_inteq(mps3_manifest_base_dump(m, &b), 0, "the base as text");
		for (i = 0; b.data && i < sizeof(values) / sizeof(values[0]); i++) {
			char member[600];

			snprintf(member, sizeof(member), "\"p%zu\":%s", i, values[i]);
			exact += strstr(b.data, member) != NULL;
		}
		tap_inteq(exact, (long long)(sizeof(values) / sizeof(values[0])), "every value in it byte for byte");
		mps3_buf_dispose(&b);
	}
	json_decref(files);
	mps3_manifest_free(m);
	{
		/* A path of odd bytes: its text is the bytes jansson writes for it. */
		static const char odd[] = "a\x01\b\f\n\r\t\x1f\"\\/\x7f\xc3\xa9";
		struct mps3_manifest *m1 = mps3_manifest_new();
		json_t *one = json_pack("{s:{s:s}}", odd, "type", "d");
		struct mps3_buf b;
		char *ref = one ? json_dumps(one, JSON_COMPACT) : NULL;

		mps3_buf_init(&b, 0);
		tap_ok(ref && mps3_manifest_reset(m1, one, 0, NULL) == 0 && mps3_manifest_base_dump(m1, &b) == 0 &&
			       b.len == strlen(ref) && memcmp(b.data, ref, b.len) == 0,
		       "a path with control characters, quotes and UTF-8 is written as jansson writes it");
		if (ref && b.data && (b.len != strlen(ref) || memcmp(b.data, ref, b.len) != 0))
			tap_diag("got %.*s want %s", (int)b.len, b.data, ref);
		mps3_buf_dispose(&b);
		free(ref);
		json_decref(one);
		mps3_manifest_free(m1);
	}
}

/* Same verdict, detail and fields from a packed record as from its JSON. */
static int packed_agrees(const struct mps3_packed *p)
{
	struct mps3_entry a, b;
	json_t *v = mps3_packed_to_json(p);
	char why[128];
	int ra, rb, same;

	mps3_error_clear();
	ra = mps3_entry_parse(&a, v);
	snprintf(why, sizeof(why), "%s", mps3_error_last(ra));
	mps3_error_clear();
	rb = mps3_packed_entry(&b, p);
	same = v && ra == rb && (ra != -EINVAL || strcmp(why, mps3_error_last(rb)) == 0);
	if (same && ra == 0)
		same = a.type == b.type && strcmp(a.blob, b.blob) == 0 && strcmp(a.chunks, b.chunks) == 0 &&
		       a.size == b.size && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid &&
		       a.mtime_ns == b.mtime_ns && a.atime_ns == b.atime_ns && a.rdev == b.rdev && !b.target &&
		       !b.xattr;
	json_decref(v);
	return same;
}

/*
 * A packed record is judged without its JSON (the tree is built so): every
 * type character, every set of fields, and each field at and past its limits.
 */
static void test_packed_entry(void)
{
	static const char types[] = "fdlpscbxF\x01 ";
	static const struct {
		uint32_t mode, uid, gid;
		int64_t size;
	} vals[] = {
		{ 0644, 1000, 1000, 5 },		{ 0, 0, 0, 0 },
		{ 07777, 1000, 1000, 5 },		{ 010000, 1000, 1000, 5 },
		{ UINT32_MAX, 1000, 1000, 5 },		{ 0644, UINT32_MAX - 1, 1000, 5 },
		{ 0644, UINT32_MAX, 1000, 5 },		{ 0644, 1000, UINT32_MAX - 1, 5 },
		{ 0644, 1000, UINT32_MAX, 5 },		{ 0644, 1000, 1000, INT64_MAX },
		{ 0644, 1000, 1000, -1 },		{ 0644, 1000, 1000, INT64_MIN },
		{ 010000, UINT32_MAX, UINT32_MAX, -1 },
	};
	size_t t, i, n = 0, agree = 0, valid = 0;
	unsigned has;

	for (t = 0; t < sizeof(types) - 1; t++)
		for (has = 0; has < 0x80; has++)
			for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
				struct mps3_packed p;
				struct mps3_entry e;

				memset(&p, 0, sizeof(p));
				memset(p.blob, 0xab, sizeof(p.blob));
				p.type = types[t];
				p.has = (uint8_t)has;
				p.mode = vals[i].mode;
				p.uid = vals[i].uid;
				p.gid = vals[i].gid;
				p.size = vals[i].size;
				p.mtime = -(int64_t)i;
				n++;
				agree += packed_agrees(&p);
				valid += mps3_packed_entry(&e, &p) == 0;
			}
	tap_inteq((long long)agree, (long long)n, "a packed record is judged as its JSON is (%zu records)", n);
	tap_ok(valid > 0 && valid < n, "some of them valid (%zu), some not", valid);
}

/* from_text's verdict on text against jansson's parse and mps3_packed_from_json. */
static int text_agrees(const char *text, size_t len, int *took)
{
	struct mps3_packed a, b;
	json_t *v;
	int ok;

	*took = mps3_packed_from_text(&a, text, len);
	if (!*took)
		return 1; /* declining is always allowed: the JSON path decides */
	v = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	ok = v && mps3_packed_from_json(&b, v) && a.has == b.has && a.type == b.type && a.size == b.size &&
	     a.mtime == b.mtime && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid &&
	     memcmp(a.blob, b.blob, sizeof(a.blob)) == 0;
	json_decref(v);
	return ok;
}

/*
 * An entry written compactly is packed straight from its text (how
 * checkpoints are read): the same record as from its JSON, every record
 * mps3_packed_dump writes is taken back, and near misses are left to jansson.
 */
static void test_packed_text(void)
{
	static const char *const taken[] = {
		"{}",
		"{\"type\":\"d\"}",
		"{\"blob\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"mode\":420,"
		"\"mtime\":1796542245639328501,\"size\":0,\"type\":\"f\"}",
		"{\"gid\":4294967295,\"mode\":0,\"mtime\":-9223372036854775807,\"size\":9223372036854775807,\"uid\":0}",
		"{\"mtime\":-0,\"type\":\"~\"}",
		"{\"mode\":-0}",
	};
	static const char *const declined[] = {
		"{ }", "{\"type\":\"d\" }", "{\"type\" :\"d\"}", "{\"type\":\"d\"} ", "{\"type\":\"\\u0064\"}",
		"{\"type\":\"dd\"}", "{\"type\":\"\"}", "{\"type\":\"d\",\"type\":\"d\"}", "{\"uid\":1,\"gid\":1}",
		"{\"mode\":4294967296}", "{\"mode\":-1}", "{\"mode\":01}", "{\"mode\":1.0}", "{\"mode\":1e3}",
		"{\"mtime\":-9223372036854775808}", "{\"mtime\":9223372036854775808}", "{\"size\":00}",
		"{\"size\":12345678901234567890}", "{\"size\":-}", "{\"size\":null}", "{\"size\":\"1\"}",
		"{\"blob\":\"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\"}",
		"{\"blob\":\"e3b0\"}", "{\"x\":1}", "{\"type\":\"d\",}", "{\"type\":\"d\"", "{\"type\":\"d\"}}",
		"[]", "{\"type\":\"d\",\"x\":1}", "{\"size\":1,\"type\":\"f\",\"uid\":1,\"x\":1}",
	};
	size_t i, agree = 0, back = 0, n = 0;
	int took, all = 1;

	for (i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		agree += text_agrees(taken[i], strlen(taken[i]), &took);
		all &= took;
	}
	tap_ok(all && agree == i, "ordinary entries written compactly are taken, as their JSON packs");
	all = 1;
	for (i = 0; i < sizeof(declined) / sizeof(declined[0]); i++) {
		all &= text_agrees(declined[i], strlen(declined[i]), &took);
		if (took)
			tap_diag("taken: %s", declined[i]);
		all &= !took;
	}
	tap_ok(all, "near misses are left to the JSON parser");
	/* Every record written back is read back (a type that needs an escape is declined, not misread). */
	for (i = 0; i < 4096; i++) {
		struct mps3_packed p, q;
		struct mps3_buf b;

		memset(&p, 0, sizeof(p));
		p.has = (uint8_t)(i & 0x7f);
		p.type = (char)(i >> 4);
		p.mode = (uint32_t)(i * 2654435761u);
		p.uid = i & 1 ? UINT32_MAX : (uint32_t)i;
		p.gid = (uint32_t)i;
		p.size = i & 2 ? INT64_MAX : -(int64_t)i;
		p.mtime = i & 4 ? -INT64_MAX : (int64_t)i * 1000000007;
		memset(p.blob, (int)i, sizeof(p.blob));
		if (p.type == '\0')
			p.type = 'f';
		/* Only the fields it has: what is read back has nothing else. */
		p.type = p.has & MPS3_PK_TYPE ? p.type : 0;
		p.mode = p.has & MPS3_PK_MODE ? p.mode : 0;
		p.uid = p.has & MPS3_PK_UID ? p.uid : 0;
		p.gid = p.has & MPS3_PK_GID ? p.gid : 0;
		p.size = p.has & MPS3_PK_SIZE ? p.size : 0;
		p.mtime = p.has & MPS3_PK_MTIME ? p.mtime : 0;
		if (!(p.has & MPS3_PK_BLOB))
			memset(p.blob, 0, sizeof(p.blob));
		mps3_buf_init(&b, 0);
		if (mps3_packed_dump(&p, &b) == 0) {
			n++;
			if (mps3_packed_from_text(&q, b.data, b.len)) {
				back += q.has == p.has && q.type == p.type && q.size == p.size && q.mtime == p.mtime &&
					q.mode == p.mode && q.uid == p.uid && q.gid == p.gid &&
					!memcmp(q.blob, p.blob, sizeof(q.blob));
			} else {
				unsigned char c = (unsigned char)p.type;

				back += (p.has & MPS3_PK_TYPE) && (c == '"' || c == '\\' || c < 0x20 || c > 0x7e);
			}
		}
		mps3_buf_dispose(&b);
	}
	tap_inteq((long long)back, (long long)n, "what mps3_packed_dump writes is read back the same (%zu records)", n);
}

int main(void)
{
	test_packed_text();
	test_packed_entry();
	test_exact_values();
	test_basic();
	test_too_deep();
	test_random();
	test_reset_changes();
	test_settled_window();
	return tap_done();
}
