/*
 * db/internal.h - what the files of the database share: the struct behind
 * struct mps3_db, and the steps of reading the log that open, poll,
 * commit and maintenance all use.  Not installed; nothing outside src/db
 * includes it.
 *
 * Locks (the order, never the other way): poll_lock, deliver, lock;
 * head_lock after poll_lock, before lock, never with deliver.  poll_lock
 * only serialises pollers and head_lock writers of head; they are the only
 * locks held across store I/O; deliver serialises listener calls and is held while the listener
 * runs; lock guards the manifest and every field marked so, and is never
 * held across I/O or a listener call.
 */
#ifndef MPS3_DB_INTERNAL_H
#define MPS3_DB_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "mps3/clock.h"
#include "mps3/db.h"
#include "mps3/head.h"
#include "mps3/history.h"
#include "mps3/manifest.h"

/* The keys of the log, the checkpoints and head are the database's (a branch has its own). */
#define PREFIX_MAX 160
#define BLOB_PREFIX "blobs/"
#define BRANCH_PREFIX "branch/"
#define SNAP_PREFIX "snapshot/"
#define HISTORY_KEY "history"	/* from when past states are complete (gc writes it) */

/* What a reader knows of a log entry name at or after its horizon. */
enum known_state { K_APPLIED = 1, K_IGNORED = 2 };

/*
 * A checkpoint read lately (its name under cp_prefix, and its files map),
 * so that views of the past from it parse it once.  The map is shared with
 * whoever asked for it, so it is never changed.  Two.  The one a
 * resolution reads is dropped once the manifest holds it (poll.c): as
 * JSON it costs the database's size several times over.
 */
#define KEPT_CP 2
struct kept_cp {
	char name[MPS3_LOGNAME_MAX];
	json_t *files;			/* NULL: a free slot */
	int64_t t;
	int has_window;
	struct mps3_cpwindow window;
	uint64_t used;
};

#define MPS3_HEAD_OWN 16		/* own commits a writer re-announces when a race dropped them */

/* Room for a saved state's signature: counters, head's ETag, the checkpoint's and branch's names. */
#define STATE_SIG_MAX (96 + MPS3_ETAG_MAX + MPS3_LOGNAME_MAX + MPS3_SNAPSHOT_NAME_MAX)

struct mps3_db {
	struct db_js *js;		/* the MPS3 client's layout (db/jsmode.c), or NULL; set at open */
	struct mps3_store *store;
	struct mps3_clock *clock;
	struct mps3_db_config cfg;
	char session[MPS3_SESSION_LEN + 1];
	int exact_mtime;		/* the store reports LastModified on PUT exactly */
	char log_prefix[PREFIX_MAX];	/* "log/", or "branch/NAME/log/"; read-only after open */
	char cp_prefix[PREFIX_MAX];	/* "checkpoint/", or the branch's */
	char head_key[PREFIX_MAX];	/* "head", or the branch's */
	char branch[MPS3_SNAPSHOT_NAME_MAX + 1];	/* "" for the main line */

	pthread_mutex_t poll_lock;	/* serialises polls; held across their I/O */
	pthread_mutex_t deliver;	/* serialises listener calls */
	mps3_db_listener fn;		/* set before polling starts */
	void *fn_ctx;

	pthread_mutex_t lock;
	struct mps3_manifest *m;	/* protected by lock */
	json_t *known;			/* name -> known_state, at or after the horizon; protected by lock */
	json_t *unsure;			/* name -> {t, patch}: our entries that may have landed; lock */
	int need_list;			/* list_at_open could not LIST: changes wait for one (W5); lock */
	json_t *reported;		/* path -> malformed value reported; protected by lock */
	char head_etag[MPS3_ETAG_MAX];	/* protected by lock */
	char head_pending[MPS3_LOGNAME_MAX]; /* head write that failed, to redo; protected by lock */
	char head_digest[MPS3_HEAD_DIGEST_HEX + 1]; /* of the head we last caught up with, "" none; lock */
	int64_t list_due;		/* store time a LIST is owed by (P3), INT64_MAX none; lock */
	pthread_mutex_t head_lock;	/* serialises our writes of head (read, then PUT) */
	char hb_body[MPS3_HEAD_MAX];	/* the last head body read or written, for P3's chain; lock */
	size_t hb_len;			/* lock */
	char hb_etag[MPS3_ETAG_MAX];	/* its ETag; hb_ok 0: none known; lock */
	int hb_ok;			/* lock */
	char own[MPS3_HEAD_OWN][MPS3_LOGNAME_MAX]; /* our newest commits, a ring (P3's re-announcing); lock */
	unsigned own_next;		/* lock */
	uint64_t seq;			/* protected by lock */
	char anchor[MPS3_LOGNAME_MAX];	/* newest entry applied: proves a saved state is of this bucket; lock */
	int64_t last_t;			/* time of our newest entry; protected by lock */
	int64_t last_list;		/* store time of the last complete LIST; protected by lock */
	unsigned settled_since_cp;	/* protected by lock */
	struct mps3_db_stats stats;	/* protected by lock */
	struct kept_cp kept[KEPT_CP];	/* checkpoints read lately; protected by lock */
	uint64_t kept_clock;		/* protected by lock */
	char saved_sig[STATE_SIG_MAX];	/* what the last state saved held (db/state.c), "" none; lock */
};

/* ---- listing and fetching the log (db/fetch.c) ------------------------- */

/* One log entry (or checkpoint) found by a LIST, and what its GET gave. */
struct pending {
	char *name;			/* under log/ or checkpoint/ */
	struct mps3_objinfo info;
	struct mps3_logentry entry;	/* after fetch */
	struct mps3_objinfo got;	/* what the GET said of it */
	int rc;
	char err[512];
};

struct pending_list {
	struct pending *v;
	size_t n, cap;
};

void db_pending_dispose(struct pending_list *p);
int db_pending_add(struct pending_list *p, const char *name, const struct mps3_objinfo *info);

/*
 * Every key under prefix, page by page, in byte order: db_page_next() gives
 * one entry at a time (borrowed until the next call), 1 while there are
 * more, 0 at the end, or the store's error.
 */
struct db_pages {
	struct mps3_db *db;
	const char *prefix;
	const char *start_after;	/* full key, or NULL */
	struct mps3_listing page;
	size_t i;
	char *token;
	int started, last;
};
void db_pages_init(struct db_pages *it, struct mps3_db *db, const char *prefix, const char *start_after);
int db_page_next(struct db_pages *it, const struct mps3_list_entry **out);
void db_pages_dispose(struct db_pages *it);
/* Every key under prefix, all pages, into out. */
int db_list_all(struct mps3_db *db, const char *prefix, struct mps3_listing *out);

/* Lock held. */
int db_known_get(struct mps3_db *db, const char *name);
void db_known_set(struct mps3_db *db, const char *name, enum known_state s);
/* Forget the names applied, keeping those ignored (lock held): all is to be applied again. */
void db_known_forget_applied(struct mps3_db *db);
void db_known_prune(struct mps3_db *db);

/* ---- our entries that may have landed (db/commit.c), lock held --------- */

/* The poller found the entry (applied or ignored): no longer in doubt. */
void db_unsure_settle(struct mps3_db *db, const char *name);
/* Entries older than the horizon that no LIST showed never apply. */
void db_unsure_prune(struct mps3_db *db, int64_t horizon);

int db_list_log(struct mps3_db *db, int64_t stop, struct pending_list *out);
void db_fetch_all(struct mps3_db *db, struct pending_list *list);
int db_apply_fetched(struct mps3_db *db, struct pending_list *list, struct mps3_changes *changes);

/*
 * The latest time a log entry or checkpoint can carry now: store-now plus
 * the stale window, the clock's uncertainty and LastModified's rounding.
 * Anything named later was not written by a client that follows W3/W4 and
 * is ignored (a checkpoint "from the future" would otherwise freeze the
 * database at its contents).
 */
int64_t db_future_limit(struct mps3_db *db);
/* "checkpoint/<name of db_future_limit()>": a listing started after it skips later names (poll.c). */
void db_future_cpkey(struct mps3_db *db, char out[PREFIX_MAX + MPS3_LOGNAME_MAX]);

/* ---- resolving and polling (db/poll.c) ---------------------------------- */

int db_read_head(struct mps3_db *db, const char *if_none_match, char etag[MPS3_ETAG_MAX]);
/*
 * GET head, conditionally: its ETag into etag, and its body into body
 * (limit MPS3_HEAD_MAX) with *got 1 when known: read now (an absent head
 * has an empty one), or, with cached set, the body we last read or wrote
 * when the store answers 304 to that body's ETag.  *got 0: no body (not
 * modified, or too large to be a head).
 */
/* Remember a head body read or written, with its ETag ("" etag: forget it). */
void db_head_cache(struct mps3_db *db, const char *etag, const char *body, size_t len);
int db_read_head_body(struct mps3_db *db, const char *if_none_match, char etag[MPS3_ETAG_MAX],
		      struct mps3_buf *body, int *got, int cached);
/*
 * Read and check one listed checkpoint: 0 (cp set), 1 (not usable:
 * reported), or the store's error.  cp->files is shared with the next
 * reader of the same checkpoint (db->kept): never change it, json_copy() it.
 */
int db_read_checkpoint(struct mps3_db *db, const struct mps3_list_entry *e, struct mps3_checkpoint *cp);
/*
 * R1's shortcut: when checkpoint cp states its window (from its t - lag)
 * and list (accepted entries) holds exactly the entries it names, they are
 * in cp already: they leave list and their keys, in log order, go to
 * *keys (malloc'd, *n of them).  1 if so, 0 if the window is to be
 * replayed, -ENOMEM.
 */
int db_skip_window(struct mps3_db *db, const struct mps3_checkpoint *cp, struct pending_list *list,
		   struct mps3_logkey **keys, size_t *n);
int db_resolve(struct mps3_db *db, struct mps3_changes *changes);
int db_settle(struct mps3_db *db, int64_t list_time);
/* A complete LIST is done (lock held): the next is owed when what the window holds can settle. */
void db_list_done(struct mps3_db *db);
int db_maybe_checkpoint(struct mps3_db *db);

/* ---- branches (db/branch.c) ---------------------------------------------- */

/* The base of branch name: the main line's files map it starts from (new reference) and its time. */
int db_branch_base(struct mps3_db *db, const char *name, json_t **files, int64_t *t);
/* Add every blob the branches name to refs (for gc of the main line). */
/* The resolved map as JSON text appended to out, never as a JSON tree (under the lock): 0, -ENOMEM, -EFBIG. */
int db_files_dump(struct mps3_db *db, struct mps3_buf *out);
struct db_refs;
int db_branch_blobs(struct mps3_db *db, struct db_refs *refs);
/*
 * A checkpoint's document read as a mount reads it (the same verdict),
 * never its map as JSON; its blobs go to refs (may be NULL) as it goes.
 * What mps3_checkpoint_parse returns, with cp->files NULL (maint.c).
 */
int db_scan_checkpoint(struct mps3_checkpoint *cp, const char *name, struct mps3_buf *buf, struct db_refs *refs);

/* ---- writing (db/commit.c) ----------------------------------------------- */

/* Retry a head update that failed earlier (outside all locks). */
void db_flush_head(struct mps3_db *db);

/* ---- the state file (db/state.c) ---------------------------------------- */

int db_load_state(struct mps3_db *db);
int db_check_anchor(struct mps3_db *db);

/* ---- db/db.c ------------------------------------------------------------- */

/* Call the listener with changes, in order (deliver held by the caller). */
void db_deliver(struct mps3_db *db, struct mps3_changes *changes, int local);

/* The MPS3 client's layout (db/jsmode.c): open (db->js set, even on failure), free, poll, blobs. */
struct db_js;
int db_js_open(struct mps3_db *db, const struct mps3_jsdb_config *cfg);
void db_js_free(struct mps3_db *db);
int db_js_poll(struct mps3_db *db, int *changed);
int db_js_blob_head(struct mps3_db *db, const char *hex, struct mps3_objinfo *info);
int db_js_blob_get(struct mps3_db *db, const char *hex, const struct mps3_get_opts *opts, struct mps3_sink *sink);
int db_js_blob_put(struct mps3_db *db, const struct mps3_body *body, char hex[MPS3_SHA256_HEX_LEN + 1]);
int db_js_commit(struct mps3_db *db, json_t *patch);
#define DB_JS_NO_CHECKPOINT(db)                                                                               \
	((db)->js ? mps3_error_set(-EOPNOTSUPP, "the MPS3 client's layout has no checkpoints") : 0)

#endif
