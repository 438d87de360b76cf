/*
 * mps3/manifest.h - resolution of the log: settled base plus replay window.
 *
 * Pure state machine, no I/O (the database feeds it what it lists and
 * fetches).  It holds
 *   base    - the files map with every entry older than the horizon applied,
 *   window  - the accepted entries at or after the horizon, in replay order
 *             (time, session, counter),
 *   files   - base with the window replayed: the resolved map.
 * An entry that arrives late (older than some already applied, but not older
 * than the horizon) is inserted in order and only the paths it touches are
 * recomputed from base.  Merge patches of one path are independent of other
 * paths, and replaying a suffix of the log over a state that already includes
 * it changes nothing, which is why a checkpoint plus a replay from before its
 * time resolves correctly (docs/PROTOCOL.md).
 *
 * A path's patch that cannot be merged (nested deeper than the merge
 * allows; the entry parsers refuse such entries, so only a caller feeding
 * the manifest directly can give one) leaves that path as it was, the same
 * way for every reader; the entry's other paths apply.
 *
 * Values given to it are copied (packed when they are ordinary entries,
 * see struct mps3_packed) and values it gives are new references; the
 * maps are mutated only by these functions.  Not thread-safe: the
 * database serialises access.
 */
#ifndef MPS3_MANIFEST_H
#define MPS3_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mps3/buf.h"
#include "mps3/entry.h"
#include "mps3/keys.h"

/*
 * An ordinary entry packed: a JSON object whose only keys are, in this
 * (byte) order, blob (64 lowercase hex digits), gid, mode, mtime, size
 * (integers; gid, mode and uid of 32 bits), type (one character) and uid,
 * each optional.  It comes back out as the same object, keys in the same
 * order, so what is written from it (checkpoints, patches, the journal)
 * is byte for byte what was read.  Anything else (xattrs, links, chunk
 * lists, unknown fields) is kept as JSON by whoever packs.
 */
struct mps3_packed {
	uint8_t blob[32];
	int64_t size;
	int64_t mtime;
	uint32_t mode, uid, gid;
	char type;
	uint8_t has;		/* MPS3_PK_* */
};
#define MPS3_PK_BLOB 0x01
#define MPS3_PK_GID 0x02
#define MPS3_PK_MODE 0x04
#define MPS3_PK_MTIME 0x08
#define MPS3_PK_SIZE 0x10
#define MPS3_PK_TYPE 0x20
#define MPS3_PK_UID 0x40

/* Pack v into *p: 1 if v is such an object, 0 if not (then *p is unspecified). */
int mps3_packed_from_json(struct mps3_packed *p, json_t *v);
/*
 * The same from JSON text: 1 if text[0..len) is such an object written
 * compactly, as mps3_packed_dump() writes it (no spaces, strings without
 * escapes), and then *p is what mps3_packed_from_json() gives for its
 * parse; 0 for anything else, which is left to a JSON parser.
 */
int mps3_packed_from_text(struct mps3_packed *p, const char *text, size_t len);
/* The object again (new reference), NULL on -ENOMEM. */
json_t *mps3_packed_to_json(const struct mps3_packed *p);
/* Its compact JSON text appended to b, as json_dumps(JSON_COMPACT) of that object: 0, -ENOMEM or -EFBIG. */
int mps3_packed_dump(const struct mps3_packed *p, struct mps3_buf *b);
/*
 * The packed record as an entry: what mps3_entry_parse says of its JSON
 * (0, -ENOENT or -EINVAL with the same detail), without building it.
 */
int mps3_packed_entry(struct mps3_entry *out, const struct mps3_packed *p);

/* One path whose resolved value changed; values may be NULL (absent). */
struct mps3_change {
	char *path;
	json_t *old;	/* reference owned by the change */
	json_t *new;	/* reference owned by the change */
	struct mps3_logkey key;	/* the log entry whose arrival made it (t 0: a checkpoint or a state) */
};

struct mps3_changes {
	struct mps3_change *v;
	size_t n, cap;
	json_t *index;	/* path -> position in v, for coalescing */
	struct mps3_logkey key;	/* the entry being applied: what mps3_changes_add records */
};

void mps3_changes_init(struct mps3_changes *c);
void mps3_changes_dispose(struct mps3_changes *c);
/* Record that path went from old to new (borrowed); consecutive records of a path coalesce. */
int mps3_changes_add(struct mps3_changes *c, const char *path, json_t *old, json_t *new);
/* Drop records whose old and new are equal. */
void mps3_changes_compact(struct mps3_changes *c);

struct mps3_manifest;

/* Empty map; horizon INT64_MIN (everything is in the window until settled). */
struct mps3_manifest *mps3_manifest_new(void);
void mps3_manifest_free(struct mps3_manifest *m);

/*
 * Start over from a checkpoint's files map (borrowed; NULL = empty) with the
 * given horizon.  Changes (may be NULL) get the difference to the previous
 * resolved map, path by path.  0 or -ENOMEM.
 */
int mps3_manifest_reset(struct mps3_manifest *m, json_t *files, int64_t horizon,
			struct mps3_changes *changes);

/*
 * A map being read (a checkpoint's or a saved state's) held compactly as it
 * arrives, never as one JSON tree, until it replaces a manifest's base.
 */
struct mps3_base;

struct mps3_base *mps3_base_new(void);
void mps3_base_free(struct mps3_base *b);
/* Add path = v (borrowed).  0, -EINVAL (path added before) or -ENOMEM, with a detail. */
int mps3_base_add(struct mps3_base *b, const char *path, json_t *v);
/* Every member of the JSON object files (borrowed; NULL adds nothing). */
int mps3_base_add_json(struct mps3_base *b, json_t *files);
/* The same as a scan callback (mps3_jscan_fn; base is the struct mps3_base). */
int mps3_base_add_fn(const char *path, json_t *v, void *base);
/* Add path = the packed value p, as a scan callback (mps3_jscan_packed_fn; base is the struct mps3_base). */
int mps3_base_add_packed_fn(const char *path, const struct mps3_packed *p, void *base);
size_t mps3_base_size(const struct mps3_base *b);
/* mps3_manifest_reset from b, which is left empty on success (unchanged, as m is, on failure). */
int mps3_manifest_reset_base(struct mps3_manifest *m, struct mps3_base *b, int64_t horizon,
			     struct mps3_changes *changes);

/*
 * Add one accepted log entry (files is borrowed).  Returns 0 when added,
 * -EEXIST when an entry of that name is already known (harmless duplicate),
 * -ESTALE when it is older than the horizon (it should have been seen
 * before; every reader ignores it), -ENOMEM.
 */
int mps3_manifest_add(struct mps3_manifest *m, const struct mps3_logkey *key,
		      json_t *files, struct mps3_changes *changes);

/* Whether an entry of that name is in the window. */
int mps3_manifest_has(const struct mps3_manifest *m, const struct mps3_logkey *key);

/* Fold every window entry older than horizon into base and advance the horizon. */
int mps3_manifest_settle(struct mps3_manifest *m, int64_t horizon);

/*
 * The names of settled entries are kept for keep_ms behind the horizon
 * (default 0: none), so that a checkpoint of the base can state its window
 * (mps3_cpwindow).
 */
void mps3_manifest_keep_settled(struct mps3_manifest *m, int64_t keep_ms);
/*
 * After a reset: keys[0..n) (log order, all older than the horizon) are
 * entries the base already holds, and they are every one from `from` on.
 * 0 or -ENOMEM.
 */
int mps3_manifest_note_settled(struct mps3_manifest *m, int64_t from, const struct mps3_logkey *keys,
			       size_t n);
/*
 * The window [from, horizon) of the base: 0, or -ENOENT when the names of
 * some settled entries from `from` on are not known, or -ENOMEM.
 */
int mps3_manifest_settled_window(const struct mps3_manifest *m, int64_t from, struct mps3_cpwindow *w);

int64_t mps3_manifest_horizon(const struct mps3_manifest *m);
/* A count that changes whenever the map, the window or the horizon does (for "anything to save?"). */
uint64_t mps3_manifest_generation(const struct mps3_manifest *m);
/* Time of the newest entry ever added (INT64_MIN if none). */
int64_t mps3_manifest_newest(const struct mps3_manifest *m);
size_t mps3_manifest_window_len(const struct mps3_manifest *m);
/* The i-th window entry, oldest first (borrowed), for `mps3 log`. */
const struct mps3_logkey *mps3_manifest_window_key(const struct mps3_manifest *m, size_t i,
						   json_t **files);

/*
 * Apply one entry's patch (borrowed) onto a files map in place, path by
 * path, as the manifest does when it replays the window in order: for a
 * map the caller owns, with no window to keep (a past state).  0 or -ENOMEM.
 */
int mps3_files_apply(json_t *files, json_t *patch);

/*
 * The resolved map is held compactly (db/pmap.h), the base as its
 * differences from it (the paths the window changes): values come out as
 * new references built on demand, and the whole maps only as copies.
 */
/* The resolved value of path (new reference), or NULL: absent, or -ENOMEM when *err is set (err may be NULL). */
json_t *mps3_manifest_get(const struct mps3_manifest *m, const char *path, int *err);
/* How many paths the resolved map and the base hold. */
size_t mps3_manifest_size(const struct mps3_manifest *m);
size_t mps3_manifest_base_size(const struct mps3_manifest *m);
/*
 * Call fn for every path of the resolved map, in no particular order, with
 * its value (borrowed for the call).  Stops at fn's first non-zero return
 * and returns it; -ENOMEM; 0.
 */
int mps3_manifest_foreach(const struct mps3_manifest *m, int (*fn)(const char *path, json_t *v, void *ctx),
			  void *ctx);
/* The same without building values: fn gets the packed value (p) or the JSON one (j, borrowed), the other NULL. */
typedef int (*mps3_raw_fn)(const char *path, const struct mps3_packed *p, json_t *j, void *ctx);
int mps3_manifest_foreach_raw(const struct mps3_manifest *m, mps3_raw_fn fn, void *ctx);
/*
 * The settled map as the compact text of a JSON object, appended to out,
 * without building it as JSON first: 0, -ENOMEM or -EFBIG.
 */
int mps3_manifest_base_dump(const struct mps3_manifest *m, struct mps3_buf *out);
/* The resolved map the same way (what mps3_manifest_files_copy holds, as text). */
int mps3_manifest_files_dump(const struct mps3_manifest *m, struct mps3_buf *out);
/*
 * Give the system back the memory freed by a big change (a checkpoint read
 * and dropped, a removal of many paths): the allocator keeps it otherwise.
 */
void mps3_manifest_trim(void);

/* The resolved map and the settled map as JSON objects (new references, NULL on -ENOMEM). */
json_t *mps3_manifest_files_copy(const struct mps3_manifest *m);
json_t *mps3_manifest_base_copy(const struct mps3_manifest *m);

#endif
