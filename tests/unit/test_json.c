/*
 * test_json.c - running out of memory is never taken for bad input
 * (mps3/json.h).  jansson reports a failed allocation as a syntax error;
 * every reader that judges bucket objects would then call a good object
 * broken, and gc would delete what it names.  Each reader here is run
 * with its n-th jansson allocation failing (once, and from then on), for
 * every n until one run needs no failure: each run either fails with
 * -ENOMEM or gives exactly what a run with memory gives.  The same for
 * the writer: jansson left a key out of its text and returned the rest.
 * And a parse of secrets, wiping what jansson frees, leaves no copy of
 * them in freed memory, whole or torn.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/buf.h"
#include "mps3/entry.h"
#include "mps3/error.h"
#include "mps3/jsfmt.h"
#include "mps3/json.h"
#include "mps3/keys.h"
#include "tap.h"

static long countdown;	/* allocations left before the failure */
static int sticky;	/* every allocation after it fails too */
static int hit;		/* the failure happened in this run */

static void *failing_malloc(size_t n)
{
	if (countdown-- == 0 || (sticky && countdown < 0)) {
		hit = 1;
		return NULL;
	}
	return malloc(n);
}

static void arm(long n, int all_after)
{
	countdown = n;
	sticky = all_after;
	hit = 0;
	mps3_json_set_allocator(failing_malloc);
}

static void disarm(void)
{
	mps3_json_set_allocator(NULL);
}

/* The free beneath jansson's, looking at each block before it goes: how many, and how many held "SECRET". */
static long freed, freed_secret, freed_nonzero;

static void looking_free(void *p)
{
	size_t n = p ? malloc_usable_size(p) : 0, i;
	const unsigned char *b = p;

	if (p) {
		freed++;
		freed_secret += memmem(p, n, "SECRET", 6) != NULL;
		for (i = 0; i < n && !b[i]; i++)
			;
		freed_nonzero += i < n;
	}
	free(p);
}

/* Blocks with every byte defined, so that looking_free may read all of them (valgrind). */
static void *zeroed_malloc(size_t n)
{
	return calloc(1, n);
}

/* Parse doc (and free it) with frees wiped or not; what looking_free saw. */
static void parse_looking(const char *doc, int wipe)
{
	int was, err;
	json_t *j;

	freed = freed_secret = freed_nonzero = 0;
	mps3_json_set_allocator(zeroed_malloc);
	mps3_json_set_free(looking_free);
	was = mps3_json_wipe_frees(wipe);
	j = mps3_json_loadb(doc, strlen(doc), JSON_REJECT_DUPLICATES, NULL, &err);
	json_decref(j);
	mps3_json_wipe_frees(was);
	mps3_json_set_free(NULL);
	mps3_json_set_allocator(NULL);
}

static void test_wipe(void)
{
	static const char *const docs[] = {
		"{\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"SECRET-0123456789abcdefghijklmnopqrstuvwxyz\","
		"\"Token\":\"SECRET-token-0123456789\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
		/* torn: the parser's buffers and the half-built object go */
		"{\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"SECRET-0123456789abcdefghijklmnopqrstuvwxyz\",\"Tok",
		/* refused: a duplicate key */
		"{\"SecretAccessKey\":\"SECRET-0123456789abcdefghijklmnopqrstuvwxyz\",\"SecretAccessKey\":\"x\"}",
	};
	size_t i;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		parse_looking(docs[i], 0);
		tap_ok(freed > 2 && freed_secret > 0, "doc %zu: unwiped, a freed block holds the secret (%ld of %ld)", i,
		       freed_secret, freed);
		parse_looking(docs[i], 1);
		tap_ok(freed > 2 && freed_secret == 0 && freed_nonzero == 0,
		       "doc %zu: wiped, every freed block is zeros (%ld blocks, %ld not)", i, freed, freed_nonzero);
	}
	tap_ok(mps3_json_wipe_frees(0) == 0, "wiping is off again after each parse");
}

/* A reader under test: 0 and *out (a new reference to compare), or a negative errno. */
typedef int (*reader_fn)(const char *doc, size_t len, json_t **out);

static int read_plain(const char *doc, size_t len, json_t **out)
{
	int err;

	*out = mps3_json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL, &err);
	return err;
}

static const char cp_name[] = "9998209999999999_0123456789abcdef";

static int read_checkpoint(const char *doc, size_t len, json_t **out)
{
	struct mps3_checkpoint cp;
	int rc = mps3_checkpoint_parse(&cp, cp_name, doc, len);

	*out = rc ? NULL : cp.files;
	return rc;
}

static char le_name[MPS3_LOGNAME_MAX];

static int read_logentry(const char *doc, size_t len, json_t **out)
{
	struct mps3_logentry le;
	int rc = mps3_logentry_parse(&le, le_name, doc, len);

	*out = rc ? NULL : le.files;
	return rc;
}

static int read_value(const char *doc, size_t len, json_t **out)
{
	struct mps3_buf b;
	int rc;

	mps3_buf_init(&b, 0);
	rc = mps3_js_value_encode(&b, doc, len);
	*out = rc ? NULL : json_stringn(b.data ? b.data : "", b.len);
	mps3_buf_dispose(&b);
	return rc || *out ? rc : -ENOMEM;
}

static void under_pressure(const char *what, reader_fn fn, const char *doc)
{
	size_t len = strlen(doc);
	json_t *want = NULL, *got;
	long n, wrong = 0, runs = 0;
	int rc, mode;

	rc = fn(doc, len, &want);
	tap_inteq(rc, 0, "%s: read with memory", what);
	if (rc) {
		tap_diag("%s", mps3_error_last(rc));
		return;
	}
	for (mode = 0; mode < 2; mode++) {
		for (n = 0; n < 100000; n++) {
			arm(n, mode);
			got = NULL;
			rc = fn(doc, len, &got);
			disarm();
			runs++;
			if (rc ? rc != -ENOMEM : !json_equal(got, want)) {
				if (!wrong++)
					tap_diag("%s: allocation %ld failing%s: %d (%s)", what, n, mode ? " and after" : "",
						 rc, rc ? mps3_error_last(rc) : "a different result");
			}
			json_decref(got);
			if (!hit)
				break; /* this run needed fewer allocations than n */
		}
	}
	tap_ok(wrong == 0 && runs > 4, "%s: out of memory at each of %ld allocations is -ENOMEM or the same result",
	       what, runs);
	json_decref(want);
}

int main(void)
{
	struct mps3_logkey k = { 1790000000000, "0123456789abcdef", 7 };
	static const char cp[] =
		"{\"files\":{\"a\":{\"type\":\"f\",\"blob\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
		"\"size\":0,\"mode\":420},\"caf\\u00e9 \\\"q\\\"\":{\"type\":\"d\",\"mode\":493},"
		"\"x\":{\"type\":\"f\",\"blob\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
		"\"size\":0,\"xattr\":{\"user.k\":\"dmFs\"},\"odd\":[1,{\"z\":true},2.5,null]}},"
		"\"session\":\"0123456789abcdef\",\"t\":1790000000000,\"v\":1}";
	char le[512];
	json_t *bad;
	int err;

	mps3_logkey_format(le_name, &k);
	snprintf(le, sizeof(le), "{\"v\":1,\"t\":%lld,\"session\":\"%s\",\"seq\":%llu,\"files\":{\"a b\":{\"mode\":384},"
		 "\"d/\\u00e9\":{\"type\":\"d\",\"xattr\":{\"user.a\":\"\"}},\"gone\":null}}",
		 (long long)k.t, k.session, (unsigned long long)k.seq);

	bad = mps3_json_loadb("{\"a\":", 5, 0, NULL, &err);
	tap_ok(!bad && err == -EINVAL, "bad input is -EINVAL");
	arm(0, 1);
	bad = mps3_json_loadb("{\"a\":[1]}", 9, 0, NULL, &err);
	disarm();
	tap_ok(!bad && err == -ENOMEM, "a good document without memory is -ENOMEM");
	tap_ok(mps3_json_failed_allocs() > 0, "the failure was counted");

	under_pressure("json", read_plain, cp);
	under_pressure("checkpoint", read_checkpoint, cp);
	under_pressure("log entry", read_logentry, le);
	under_pressure("value", read_value, "{\"k\":[1,2,{\"deep\":\"v\"}],\"n\":\"caf\\u00e9\"}");
	{
		json_t *r = json_pack("{s:s,s:{s:s,s:i},s:n}", "path", "q", "want", "type", "d", "mode", 5, "base");
		char *want = mps3_json_dumps(r, JSON_COMPACT), *got;
		long n, wrong = 0;
		int mode;

		for (mode = 0; mode < 2; mode++) {
			for (n = 0; n < 1000; n++) {
				arm(n, mode);
				got = mps3_json_dumps(r, JSON_COMPACT);
				disarm();
				if (got && strcmp(got, want) != 0 && !wrong++)
					tap_diag("dump with allocation %ld failing: %s", n, got);
				free(got);
				if (!hit)
					break;
			}
		}
		tap_ok(want && wrong == 0 && n > 2, "dump: out of memory at each allocation is NULL or the whole text");
		free(want);
		json_decref(r);
	}
	test_wipe();
	return tap_done();
}
