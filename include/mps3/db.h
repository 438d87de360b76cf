/*
 * mps3/db.h - the bucket-backed database: resolve, read, commit, watch,
 * checkpoint, garbage-collect and check.  The protocol and the reasons it
 * converges are in docs/PROTOCOL.md.
 *
 * Thread safety: every function may be called from any thread.  Commits may
 * run concurrently with each other and with a poll; polls are serialised.
 * The resolved map handed out by mps3_db_files() is a snapshot: its values
 * are immutable and it never changes after it is returned.  The listener is
 * called from whichever thread caused the change (poller or committer), one
 * call at a time and in the order the changes were applied; it must not call
 * back into the database's commit or poll.
 */
#ifndef MPS3_DB_H
#define MPS3_DB_H

#include <stdint.h>

#include <jansson.h>

#include "mps3/entry.h"
#include "mps3/hash.h"
#include "mps3/jsdb.h"
#include "mps3/keys.h"
#include "mps3/manifest.h"
#include "mps3/store.h"

struct mps3_db_config {
	int64_t lag_ms;			/* replay window; default 10000 */
	int64_t stale_ms;		/* max |name time - LastModified|; default 3000 */
	size_t max_entry_bytes;		/* larger log entries are skipped; default 8 MiB */
	size_t max_checkpoint_bytes;	/* default 1 GiB */
	unsigned fetch_parallel;	/* concurrent GETs of log entries; default 32 */
	unsigned checkpoint_every;	/* write a checkpoint once this many entries (and at least
					   1/16 of the number of paths) settled since the last; default
					   256; 0 = never */
	int64_t gc_grace_ms;		/* objects younger than this are never collected; default 1 h */
	unsigned keep_checkpoints;	/* default 2 */
	int64_t history_ms;		/* gc keeps every state this far back (mps3/history.h); default 7 days */
	const char *session;		/* NULL = a random one */
	const char *state_file;		/* resolved state kept between runs (see
					   mps3_db_save_state); NULL = none */
	int allow_offline;		/* open from the state file when the store cannot
					   be reached (polls catch up later) */
	const char *branch;		/* open this branch (mps3/history.h) instead of the main line */
	const struct mps3_jsdb_config *js;	/* a database of the MPS3 client's layout (mps3/jsdb.h),
					   shown as file entries (db/jsmode.c, PROTOCOL.md J5): files
					   only, no history or checkpoints.  Borrowed for the open only. */
	int list_at_open;		/* LIST the log at open even when the saved state's head is
					   current: entries of ours whose commit seemed to fail, and
					   so never wrote head, are then known before changes from a
					   journal are written again (W5) */
};

void mps3_db_config_init(struct mps3_db_config *cfg);

struct mps3_db;

/*
 * Open and resolve: newest valid checkpoint, then every log entry after it.
 * The store is borrowed and must outlive the database.  0, or the store's
 * error when it cannot be read (detail set) - unless allow_offline is set
 * and a state file was loaded: then the database opens with that state.
 * Malformed objects are skipped with one warning each, not errors.
 */
int mps3_db_open(struct mps3_db **out, struct mps3_store *store,
		 const struct mps3_db_config *cfg);
void mps3_db_free(struct mps3_db *db);

const char *mps3_db_session(const struct mps3_db *db);

/*
 * Whether the open found a database where the store and prefix point: a
 * head, a checkpoint, a log entry (valid or not) or a saved state of one.
 * 0 when there is no trace of one (a mistyped prefix, or a database not
 * made yet): what a reader of an empty listing cannot tell apart.  Always
 * 1 for a branch (its base was found, or the open failed) and for the MPS3
 * client's layout.
 */
int mps3_db_found(struct mps3_db *db);

/*
 * What the bucket's layout can hold: the largest file (UINT64_MAX, or
 * MPS3_JS_VALUE_MAX in the MPS3 client's), and whether it holds files and
 * implicit directories only (no symbolic links, special files, extended
 * attributes, empty directories).
 */
uint64_t mps3_db_max_file(const struct mps3_db *db);
int mps3_db_files_only(const struct mps3_db *db);
struct mps3_store *mps3_db_store(struct mps3_db *db);

/*
 * The raw value resolved for path (new reference), or -ENOENT.  Use
 * mps3_entry_parse() to read it; a value that does not parse as an entry
 * means the path does not exist.
 */
int mps3_db_get(struct mps3_db *db, const char *path, json_t **out);

/*
 * Every value path may have in the bucket, read at one instant: *cur the
 * resolved one (new reference, NULL: absent), and *alts the others, one for
 * each entry of ours whose commit failed (or was written again under a
 * fresh name) but which may have been stored all the same, until the
 * poller finds it or passes it (W5).  A change of path must give its wanted
 * value from each of them (mps3_entry_patch_any).  *alts: a new array of
 * values, each different from *cur (JSON null for absent), or NULL when
 * there are none.  0, -ENOMEM or -E2BIG (then both are NULL), or -EAGAIN
 * while a database opened with list_at_open has not listed the log yet
 * (it opened offline): what the last run stored is not known.
 */
int mps3_db_get_unsure(struct mps3_db *db, const char *path, json_t **cur, json_t **alts);

/*
 * Snapshot of the whole resolved files map (new reference; treat as
 * read-only).  Built for the call: a big map costs its size in JSON, so
 * walk it with mps3_db_foreach() where a copy is not needed.
 */
json_t *mps3_db_files(struct mps3_db *db);

/*
 * Call fn for every path of the resolved map, in no particular order, with
 * its value (borrowed for the call), holding the database's lock: fn must
 * not call into the database, and the lock order of docs/ARCHITECTURE.md
 * holds (the caller may hold fs->tree_lock; fn takes no lock).  Stops at
 * fn's first non-zero return and returns it; -ENOMEM; 0.
 */
int mps3_db_foreach(struct mps3_db *db, int (*fn)(const char *path, json_t *v, void *ctx), void *ctx);
/*
 * The same without building values: fn gets an ordinary entry packed (p;
 * check it with mps3_packed_entry) or any other value as JSON (j,
 * borrowed), the other NULL.
 */
int mps3_db_foreach_raw(struct mps3_db *db, mps3_raw_fn fn, void *ctx);

/*
 * Upload content as blobs/<sha256>.  The hash is computed unless
 * body->sha256_hex is set.  hex gets the hash.  0 or the store's error.
 */
int mps3_db_blob_put(struct mps3_db *db, const struct mps3_body *body,
		     char hex[MPS3_SHA256_HEX_LEN + 1]);

/* Whether blob hex is in the bucket: 0 (info set), -ENOENT, -EINVAL (not a hash) or the store's error. */
int mps3_db_blob_head(struct mps3_db *db, const char *hex, struct mps3_objinfo *info);

/*
 * Download blob hex (or a range) into sink.  A whole-blob read is checked
 * against its hash at the end: -EBADMSG if it does not match (the bytes were
 * already given to the sink; callers that must never expose them write to a
 * temporary place first).  0, -ENOENT, -EBADMSG or the store's error.
 */
int mps3_db_blob_get(struct mps3_db *db, const char *hex, const struct mps3_get_opts *opts,
		     struct mps3_sink *sink);

/*
 * Append a patch over the files map (borrowed; keys must be valid paths,
 * values objects or null) as one log entry, then update head.  Blobs it
 * names must already be uploaded.  On success the patch is applied to the
 * resolved map before returning (read-your-writes) and key (may be NULL)
 * gets the entry's name.  0, -EINVAL (bad patch), or the store's error:
 * the entry may still have been stored (a lost reply), and until that is
 * settled mps3_db_get_unsure() names the values it may have given.
 */
int mps3_db_commit(struct mps3_db *db, json_t *patch, struct mps3_logkey *key);

typedef void (*mps3_db_listener)(void *ctx, const struct mps3_changes *changes, int local);
/* Install the change listener (NULL to remove).  Call before polling starts. */
void mps3_db_set_listener(struct mps3_db *db, mps3_db_listener fn, void *ctx);

/*
 * One poll: a conditional GET of head; only if it changed, a LIST of the new
 * part of the log and GETs of the new entries.  *changed (may be NULL) says
 * whether the resolved map changed.  0 or the store's error (state kept; the
 * next poll retries).
 */
int mps3_db_poll(struct mps3_db *db, int *changed);

/*
 * Save the resolved state to cfg->state_file (atomically: temporary file,
 * fsync, rename; mode 0600), so that the next open only has to read what
 * changed since.  A state file older than half the GC grace period, made
 * for another URL or other parameters, or unreadable, is ignored at open
 * (with a notice) and the database is resolved from the bucket instead.
 * 0, or a negative errno with detail.
 */
int mps3_db_save_state(struct mps3_db *db);

/* Write a checkpoint of the settled state now.  key (may be NULL) gets its name. */
int mps3_db_checkpoint(struct mps3_db *db, struct mps3_logkey *key);

struct mps3_gc_report {
	unsigned checkpoints_kept, checkpoints_deleted;
	unsigned entries_kept, entries_deleted;
	unsigned blobs_kept, blobs_deleted;
	uint64_t bytes_deleted;
	unsigned skipped_young;		/* garbage still inside the grace period */
};

/*
 * Delete what no retained checkpoint, log entry, snapshot, the history
 * window (cfg.history_ms) or the grace period needs (G1, H3).  dry_run only
 * counts.
 */
int mps3_db_gc(struct mps3_db *db, int dry_run, struct mps3_gc_report *out);

struct mps3_fsck_report {
	unsigned files, dirs, links, specials;
	unsigned blobs_checked;
	unsigned missing_blobs, corrupt_blobs, size_mismatch;
	unsigned bad_entries, stale_entries, bad_checkpoints;
};

/* Check every referenced blob exists (verify = also hash its content).  Problems are logged one per line. */
int mps3_db_fsck(struct mps3_db *db, int verify, struct mps3_fsck_report *out);

/* One log entry as `mps3 log` shows it. */
struct mps3_log_item {
	const char *name;		/* object name under log/ */
	struct mps3_logkey key;
	struct mps3_objinfo info;
	const char *status;		/* "ok", "stale", "malformed", "too-large" */
	json_t *files;			/* the patch when status is "ok", else NULL */
};
typedef int (*mps3_db_log_fn)(void *ctx, const struct mps3_log_item *item);

/* Every log entry in the bucket, newest first, at most limit (0 = all). */
int mps3_db_log(struct mps3_db *db, unsigned limit, mps3_db_log_fn fn, void *ctx);

struct mps3_db_stats {
	int64_t horizon;		/* settled up to here (store time, ms) */
	int64_t newest;			/* newest entry time seen */
	size_t window;			/* entries in the replay window */
	size_t paths;			/* keys in the resolved map */
	uint64_t polls, polls_changed, entries_applied, entries_ignored;
	int64_t last_poll_ok;		/* store time of the last successful poll; 0 never */
	int64_t clock_offset_ms;
	int64_t clock_uncertainty_ms;
	uint64_t commits, recommits;
	char checkpoint[MPS3_LOGNAME_MAX]; /* the checkpoint resolved from, "" none */
	int from_state;			/* opened from the saved state file, not resolved afresh */
};
void mps3_db_get_stats(struct mps3_db *db, struct mps3_db_stats *out);

#endif
