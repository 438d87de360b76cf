/*
 * tests/install/consumer.c - a program outside the tree, built by
 * install.sh against the staged headers and libmps3.so through pkg-config:
 * it writes a key into a file:// bucket through one database and reads it
 * back through a second, opened afresh, so the value must have gone through
 * the bucket.  Uses nothing but the installed public API.
 *
 *   consumer DIR   (an existing directory; prints "ok", exit 0, or why not)
 */
#define _GNU_SOURCE /* asprintf */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <mps3/db.h>
#include <mps3/entry.h>
#include <mps3/error.h>
#include <mps3/hash.h>
#include <mps3/io.h>
#include <mps3/s3.h>
#include <mps3/store.h>

static const char content[] = "written through the installed libmps3\n";

static int fail(const char *what, int rc)
{
	fprintf(stderr, "consumer: %s: %s\n", what, mps3_error_last(rc));
	return 1;
}

static int put(struct mps3_store *store, const char *path)
{
	struct mps3_db_config cfg;
	struct mps3_db *db = NULL;
	struct mps3_body body = { .data = content, .fd = -1, .len = sizeof(content) - 1 };
	char hex[MPS3_SHA256_HEX_LEN + 1];
	json_t *patch = NULL;
	int rc;

	mps3_db_config_init(&cfg);
	rc = mps3_db_open(&db, store, &cfg);
	if (rc)
		return fail("open", rc);
	rc = mps3_db_blob_put(db, &body, hex);
	if (rc) {
		rc = fail("blob put", rc);
		goto out;
	}
	patch = json_pack("{s:{s:s,s:s,s:I,s:i}}", path, "type", "f", "blob", hex, "size",
			  (json_int_t)body.len, "mode", 0644);
	if (!patch) {
		rc = fail("patch", -ENOMEM);
		goto out;
	}
	rc = mps3_db_commit(db, patch, NULL);
	if (rc)
		rc = fail("commit", rc);
out:
	json_decref(patch);
	mps3_db_free(db);
	return rc;
}

static int get(struct mps3_store *store, const char *path)
{
	struct mps3_db_config cfg;
	struct mps3_db *db = NULL;
	struct mps3_entry e;
	struct mps3_buf buf = MPS3_BUF_INIT;
	struct mps3_sink sink;
	json_t *v = NULL;
	int rc;

	mps3_db_config_init(&cfg);
	rc = mps3_db_open(&db, store, &cfg);
	if (rc)
		return fail("open again", rc);
	rc = mps3_db_get(db, path, &v);
	if (rc) {
		rc = fail(path, rc);
		goto out;
	}
	rc = mps3_entry_parse(&e, v);
	if (rc) {
		rc = fail("entry", rc);
		goto out;
	}
	mps3_buf_init(&buf, 1 << 20);
	mps3_sink_buf(&sink, &buf);
	rc = mps3_db_blob_get(db, e.blob, NULL, &sink);
	if (rc) {
		rc = fail("blob get", rc);
		goto out;
	}
	if (e.type != MPS3_FILE || e.size != sizeof(content) - 1 || buf.len != e.size ||
	    memcmp(buf.data, content, buf.len) != 0) {
		fprintf(stderr, "consumer: %s read back as %zu bytes \"%s\"\n", path, buf.len,
			mps3_buf_cstr(&buf));
		rc = 1;
	}
out:
	mps3_buf_dispose(&buf);
	json_decref(v);
	mps3_db_free(db);
	return rc;
}

int main(int argc, char **argv)
{
	struct mps3_store *store = NULL;
	char *url = NULL;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: consumer DIR\n");
		return 2;
	}
	if (mps3_s3_global_init())
		return fail("global init", -ENOMEM);
	if (asprintf(&url, "file://%s", argv[1]) < 0) {
		rc = fail("url", -ENOMEM);
		goto out;
	}
	rc = mps3_store_open(&store, url, NULL);
	if (rc) {
		rc = fail(url, rc);
		goto out;
	}
	rc = put(store, "notes/hello.txt");
	if (!rc)
		rc = get(store, "notes/hello.txt");
	if (!rc)
		printf("ok\n");
out:
	mps3_store_free(store);
	free(url);
	mps3_s3_global_cleanup();
	return rc ? 1 : 0;
}
