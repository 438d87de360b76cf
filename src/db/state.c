/*
 * db/state.c - the resolved state kept between runs (mps3_db_save_state),
 * and the checks that decide whether a saved state may be used: same URL
 * and parameters, listed recently enough (P2), and of this bucket's
 * history (its newest applied entry still exists).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mps3/buf.h"
#include "mps3/error.h"
#include "mps3/io.h"
#include "mps3/jscan.h"
#include "mps3/json.h"
#include "mps3/log.h"
#include "internal.h"

#define STATE_VERSION 1

/*
 * Save the resolved state, when it changed since the last save.  The small
 * parts are a JSON document; the base, which is the whole settled map, is
 * written as text straight from the map while the lock is held (about
 * 150 bytes an entry, a sixth of what a JSON tree of it would take) and
 * goes to the file after the lock is released.
 */
int mps3_db_save_state(struct mps3_db *db)
{
	json_t *st = NULL, *win = NULL, *ign = NULL;
	char tmp[4096], sig[STATE_SIG_MAX], *head = NULL;
	struct mps3_buf base;
	const char *name;
	json_t *v;
	size_t i, len = 0, nign = 0;
	int fd = -1, rc = -ENOMEM;

	if (db->js)
		return 0; /* the client's layout keeps no state between runs */

	if (!db->cfg.state_file)
		return 0;
	mps3_buf_init(&base, 0);
	pthread_mutex_lock(&db->lock);
	/*
	 * Nothing changed since the last save (an idle mount): the file holds
	 * it already.  Writing out the map takes the lock for a while on a
	 * million-file mount, which must not do it every minute for nothing.
	 */
	json_object_foreach(db->known, name, v)
		nign += json_integer_value(v) == K_IGNORED;
	snprintf(sig, sizeof(sig), "%" PRIu64 " %zu %zu %" PRId64 " %s %s %s",
		 mps3_manifest_generation(db->m), nign, json_object_size(db->unsure),
		 db->last_list, db->head_etag, db->stats.checkpoint, db->branch);
	if (strcmp(sig, db->saved_sig) == 0) {
		pthread_mutex_unlock(&db->lock);
		return 0;
	}
	win = json_array();
	ign = json_array();
	for (i = 0; win && i < mps3_manifest_window_len(db->m); i++) {
		json_t *files;
		const struct mps3_logkey *k = mps3_manifest_window_key(db->m, i, &files);
		char n[MPS3_LOGNAME_MAX];

		mps3_logkey_format(n, k);
		json_array_append_new(win, json_pack("{s:s,s:O}", "name", n, "files", files));
	}
	json_object_foreach(db->known, name, v)
		if (json_integer_value(v) == K_IGNORED)
			json_array_append_new(ign, json_string(name));
	if (win && ign)
		st = json_pack("{s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:s,s:O,s:O}", "v", STATE_VERSION,
			       "url", mps3_store_url(db->store), "lag", (json_int_t)db->cfg.lag_ms,
			       "stale", (json_int_t)db->cfg.stale_ms,
			       "horizon", (json_int_t)mps3_manifest_horizon(db->m),
			       "last_list", (json_int_t)db->last_list,
			       "newest", (json_int_t)db->stats.newest, "head_etag", db->head_etag,
			       "anchor", db->anchor,
			       "checkpoint", db->stats.checkpoint, "window", win, "ignored", ign);
	if (st && db->branch[0] && json_object_set_new(st, "branch", json_string(db->branch))) {
		json_decref(st);
		st = NULL;
	}
	rc = st ? mps3_manifest_base_dump(db->m, &base) : -ENOMEM;
	pthread_mutex_unlock(&db->lock);
	if (rc)
		goto out;
	/* The document with the base as its last member: {...,"base":{...}} */
	rc = -ENOMEM;
	head = mps3_json_dumps(st, JSON_COMPACT);
	if (!head || strlen(head) < 2)
		goto out;
	len = strlen(head) - 1; /* without its closing brace */
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", db->cfg.state_file, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = mps3_error_set(-errno, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = mps3_write_all(fd, head, len);
	if (!rc)
		rc = mps3_write_all(fd, ",\"base\":", 8);
	if (!rc)
		rc = mps3_write_all(fd, base.data, base.len);
	if (!rc)
		rc = mps3_write_all(fd, "}", 1);
	if (rc) {
		rc = mps3_error_set(rc, "cannot write %s: %s", tmp, strerror(-rc));
		goto out;
	}
	if (fsync(fd) < 0 || rename(tmp, db->cfg.state_file) < 0) {
		rc = mps3_error_set(-errno, "cannot save %s: %s", db->cfg.state_file, strerror(errno));
		goto out;
	}
	rc = 0;
	pthread_mutex_lock(&db->lock);
	memcpy(db->saved_sig, sig, sizeof(sig));
	pthread_mutex_unlock(&db->lock);
out:
	if (fd >= 0)
		close(fd);
	if (rc && fd >= 0)
		unlink(tmp);
	len = base.len;
	mps3_buf_dispose(&base);
	free(head);
	json_decref(st);
	json_decref(win);
	json_decref(ign);
	/* What building the window and the text took is freed in pieces the allocator would keep. */
	if (len >= (1u << 20))
		mps3_manifest_trim();
	return rc;
}

static const char *str_or_empty(json_t *v)
{
	const char *s = json_string_value(v);

	return s ? s : "";
}

/*
 * Load a saved state if it is usable: same URL and parameters, and listed
 * recently enough that GC cannot have removed entries it never saw (P2).
 * Returns 1 when loaded, 0 when there was nothing usable.
 */
/* The branch a saved state is of ("" the main line). */
static const char *branch_of(json_t *st)
{
	const char *b = json_string_value(json_object_get(st, "branch"));

	return b ? b : "";
}

/*
 * The state file parsed, its settled map into *out (a new base) rather than
 * into the JSON (whose "base" is left an empty object).  0, or -errno (the
 * file is missing, unreadable or not JSON: detail set).
 */
static int read_state(const char *file, json_t **st, struct mps3_base **out)
{
	struct mps3_base *b = mps3_base_new();
	char *text = NULL;
	struct stat sb;
	int fd, rc;

	*st = NULL;
	*out = NULL;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		rc = -errno;
	else if (fstat(fd, &sb))
		rc = -errno;
	else if (!b || !(text = malloc((size_t)sb.st_size + 1)))
		rc = mps3_error_set(-ENOMEM, "out of memory");
	else
		rc = mps3_pread_all(fd, text, (size_t)sb.st_size, 0);
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		rc = mps3_jscan_packed(text, (size_t)sb.st_size, "base", mps3_base_add_fn, mps3_base_add_packed_fn, b, st);
	else if (rc != -ENOMEM)
		rc = mps3_error_set(rc, "%s", strerror(-rc));
	free(text);
	if (rc) {
		mps3_base_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

int db_load_state(struct mps3_db *db)
{
	json_t *st, *win, *ign, *base, *v;
	struct mps3_base *settled;
	int64_t last_list;
	const char *why = NULL;
	size_t i;
	int rc = 0;

	if (!db->cfg.state_file)
		return 0;
	rc = read_state(db->cfg.state_file, &st, &settled);
	if (rc) {
		if (rc != -ENOENT)
			mps3_notice("ignoring state file %s: %s", db->cfg.state_file, mps3_error_last(rc));
		return 0;
	}
	win = json_object_get(st, "window");
	ign = json_object_get(st, "ignored");
	base = json_object_get(st, "base");
	last_list = json_integer_value(json_object_get(st, "last_list"));
	if (json_integer_value(json_object_get(st, "v")) != STATE_VERSION || !json_is_array(win) ||
	    !json_is_array(ign) || !json_is_object(base) ||
	    !json_is_integer(json_object_get(st, "horizon")))
		why = "unknown format";
	else if (!json_is_string(json_object_get(st, "url")) ||
		 strcmp(json_string_value(json_object_get(st, "url")), mps3_store_url(db->store)) != 0)
		why = "made for another database";
	else if (json_integer_value(json_object_get(st, "lag")) != db->cfg.lag_ms ||
		 json_integer_value(json_object_get(st, "stale")) != db->cfg.stale_ms)
		why = "made with other lag/stale parameters";
	else if (strcmp(branch_of(st), db->branch) != 0)
		why = "made for another branch";
	if (why)
		mps3_notice("ignoring state file %s: %s", db->cfg.state_file, why);
	/* Too old, or unusable: resolve afresh from the bucket. */
	if (why || mps3_clock_now(db->clock) - last_list > db->cfg.gc_grace_ms / 2) {
		json_decref(st);
		mps3_base_free(settled);
		return 0;
	}
	pthread_mutex_lock(&db->lock);
	rc = mps3_manifest_reset_base(db->m, settled, json_integer_value(json_object_get(st, "horizon")), NULL);
	json_object_clear(db->known);
	json_array_foreach(win, i, v) {
		struct mps3_logkey k;
		const char *n = json_string_value(json_object_get(v, "name"));
		json_t *files = json_object_get(v, "files");

		if (rc || !n || mps3_logkey_parse(&k, n) || !json_is_object(files)) {
			rc = rc ? rc : -EINVAL;
			break;
		}
		rc = mps3_manifest_add(db->m, &k, files, NULL);
		if (rc == -EEXIST)
			rc = 0;
		db_known_set(db, n, K_APPLIED);
	}
	json_array_foreach(ign, i, v)
		if (json_is_string(v))
			db_known_set(db, json_string_value(v), K_IGNORED);
	if (rc == 0) {
		db->last_list = last_list;
		db->stats.newest = json_integer_value(json_object_get(st, "newest"));
		snprintf(db->anchor, sizeof(db->anchor), "%s", str_or_empty(json_object_get(st, "anchor")));
		snprintf(db->head_etag, sizeof(db->head_etag), "%s",
			 str_or_empty(json_object_get(st, "head_etag")));
		snprintf(db->stats.checkpoint, sizeof(db->stats.checkpoint), "%s",
			 str_or_empty(json_object_get(st, "checkpoint")));
	} else {
		/* Half-loaded: start clean. */
		mps3_manifest_reset(db->m, NULL, INT64_MIN, NULL);
		json_object_clear(db->known);
	}
	pthread_mutex_unlock(&db->lock);
	json_decref(st);
	mps3_base_free(settled);
	if (rc)
		mps3_notice("ignoring state file %s: malformed", db->cfg.state_file);
	return rc == 0;
}

/*
 * A saved state belongs to this bucket's history if the newest entry it
 * applied is still there.  Checked only when head changed since (a
 * re-created bucket has another head); a state whose anchor was collected
 * meanwhile is resolved afresh too, which is merely slower.  0, -ENOENT
 * (not this history) or the store's error.
 */
int db_check_anchor(struct mps3_db *db)
{
	char etag[MPS3_ETAG_MAX], key[PREFIX_MAX + MPS3_LOGNAME_MAX];
	int rc;

	if (!db->anchor[0] || !db->head_etag[0])
		return 0;
	rc = db_read_head(db, db->head_etag, etag);
	if (rc || strcmp(etag, db->head_etag) == 0)
		return rc;
	snprintf(key, sizeof(key), "%s%s", db->log_prefix, db->anchor);
	rc = mps3_store_head(db->store, key, NULL);
	if (rc == -ENOENT) {
		pthread_mutex_lock(&db->lock);
		mps3_manifest_reset(db->m, NULL, INT64_MIN, NULL);
		json_object_clear(db->known);
		db->head_etag[0] = '\0';
		db->anchor[0] = '\0';
		db->stats.newest = INT64_MIN;
		pthread_mutex_unlock(&db->lock);
	}
	return rc;
}

