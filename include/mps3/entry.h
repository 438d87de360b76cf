/*
 * mps3/entry.h - the JSON documents of a database, checked before use.
 *
 * A file entry (a value of the files map):
 *   {"type":"f","blob":"<sha256>","size":N,"chunks":"<sha256>","mode":420,"uid":0,"gid":0,
 *    "mtime":<ns>,"xattr":{"user.x":"text" | {"base64":"..."}}}
 * ("chunks", for files larger than one chunk, names the blob of the
 * content's chunk list: mps3/chunks.h)
 *   {"type":"d",...}            an explicit directory
 *   {"type":"l","target":"..."} a symbolic link
 *   {"type":"p"|"s"|"c"|"b",...} a FIFO, socket, character or block device
 *                               (devices with "rdev"); no content
 *   "atime" (ns) is kept only when set explicitly
 * A log entry object: {"v":1,"t":T,"session":"S","seq":C,"files":{patch}}
 * A checkpoint object: {"v":1,"t":T,"session":"S","files":{map}}, and
 *   optionally "window":{"from":F,"n":N,"sha256":"<hex>"} (mps3_cpwindow)
 *
 * Everything read from a bucket passes through here; whatever does not fit
 * is rejected with -EINVAL and an mps3_error_set() detail, never trusted.
 * Pure and thread-safe; parsed entries borrow from the JSON they came from.
 */
#ifndef MPS3_ENTRY_H
#define MPS3_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mps3/buf.h"
#include "mps3/hash.h"
#include "mps3/jscan.h"
#include "mps3/keys.h"

enum mps3_ftype {
	MPS3_FILE = 'f',
	MPS3_DIR = 'd',
	MPS3_LINK = 'l',
	/* Special files: the name and attributes travel, their data never does (as on NFS). */
	MPS3_FIFO = 'p',
	MPS3_SOCK = 's',
	MPS3_CHR = 'c',
	MPS3_BLK = 'b',
};

/* Whether the type is one of the special files (FIFO, socket, device). */
static inline int mps3_ftype_special(enum mps3_ftype t)
{
	return t == MPS3_FIFO || t == MPS3_SOCK || t == MPS3_CHR || t == MPS3_BLK;
}

/* Absent uid/gid/mode/mtime read as these; the mount substitutes its defaults. */
#define MPS3_UNSET_ID UINT32_MAX
#define MPS3_UNSET_MODE UINT32_MAX

/* A parsed file entry.  Pointers borrow from the JSON value. */
struct mps3_entry {
	enum mps3_ftype type;
	char blob[65];		/* files only */
	char chunks[65];	/* files: the chunk list's blob, "" if none */
	uint64_t size;		/* files: content size; links: strlen(target) */
	uint32_t mode;		/* permission bits (07777) or MPS3_UNSET_MODE */
	uint32_t uid, gid;	/* or MPS3_UNSET_ID */
	int64_t mtime_ns;	/* 0 unknown */
	int64_t atime_ns;	/* set explicitly (utimensat); 0: shown as mtime */
	uint64_t rdev;		/* devices: the device number */
	const char *target;	/* links only */
	json_t *xattr;		/* object or NULL */
};

/*
 * Parse one value of the files map.  A value that is not a complete entry
 * (no valid type: for example what remains when a chmod is merged after a
 * delete) is -ENOENT: the path does not exist.  A value with a valid type but
 * fields of the wrong type or range is -EINVAL with a detail.
 */
int mps3_entry_parse(struct mps3_entry *out, json_t *v);

/*
 * The entry as a merge patch that replaces whatever the path held: every
 * known field is present, absent optional fields as null.  New reference, or
 * NULL on -ENOMEM.
 */
json_t *mps3_entry_to_patch(const struct mps3_entry *e);

/*
 * The merge patch that turns the value CUR (NULL: absent) of a path into
 * WANT (NULL: remove it).  Metadata (mode, uid, gid, mtime, each xattr) is
 * patched field by field, so that concurrent changes of different fields by
 * different writers all survive; the content fields (type, blob, size,
 * target) are written together whenever any of them changes, absent ones as
 * null, so that a merge of two writers' patches can never pair one writer's
 * blob with the other's size.  NULL with *err == 0 means no change; on error
 * NULL and *err < 0.
 */
json_t *mps3_entry_patch(json_t *cur, json_t *want, int *err);

/*
 * Like mps3_entry_patch, when the path's value is CUR or any of ALTS (an
 * array of values, JSON null for absent; NULL: none, see
 * mps3_db_get_unsure): a patch that gives WANT from each of them.
 */
json_t *mps3_entry_patch_any(json_t *cur, json_t *alts, json_t *want, int *err);

/*
 * Values of the files map nest at most this deep (objects and arrays count;
 * an entry with xattrs is 3 deep).  Deeper ones are refused when read
 * (the whole log entry or checkpoint is malformed) and when written, so a
 * hostile entry can neither exhaust a reader's stack nor make a merge fail
 * midway.
 */
#define MPS3_ENTRY_MAX_DEPTH 16

/*
 * Whether (path, v) may be a member of the files map (a checkpoint) or of
 * a patch (null_ok: a removal): path valid (mps3_path_check), v an object
 * (or null) nested no deeper than MPS3_ENTRY_MAX_DEPTH.  0 or -EINVAL with
 * a detail.
 */
int mps3_value_check(const char *path, json_t *v, int null_ok);

/* A parsed log entry.  files is a new reference. */
struct mps3_logentry {
	struct mps3_logkey key;
	json_t *files;		/* merge patch over the files map */
};

/*
 * Check a log entry document against its object name.  The document's t,
 * session and seq must equal the name's (so nobody can forge an order), files
 * must be an object whose keys are valid paths (mps3_path_check) and whose
 * values are objects or null nested at most MPS3_ENTRY_MAX_DEPTH deep
 * (mps3_value_check).  0 or -EINVAL with a detail.
 */
int mps3_logentry_parse(struct mps3_logentry *out, const char *name,
			const char *doc, size_t len);

/* Serialise {"v":1,"t":..,"session":..,"seq":..,"files":files}.  malloc'd, or NULL. */
char *mps3_logentry_dump(const struct mps3_logkey *key, json_t *files, size_t *len);

/*
 * What a checkpoint says of the log entries just before its time, so that
 * a reader who lists the same ones need not replay them (R1, PROTOCOL.md):
 * the n accepted entries with from <= t < the checkpoint's t that it
 * includes, as the SHA-256 of their log names (mps3_logkey_format), each
 * followed by "\n", in log order.
 */
struct mps3_cpwindow {
	int64_t from;
	uint64_t n;
	unsigned char md[MPS3_SHA256_LEN];
};

/* The window of keys[0..n) (in log order, all inside it).  0 or -ENOMEM. */
int mps3_cpwindow_digest(struct mps3_cpwindow *w, int64_t from, const struct mps3_logkey *keys, size_t n);

/* A checkpoint: key.t is the time up to which it includes every entry. */
struct mps3_checkpoint {
	struct mps3_logkey key;
	json_t *files;		/* new reference; values are objects */
	int has_window;		/* the optional "window" was there and well formed */
	struct mps3_cpwindow window;
};

int mps3_checkpoint_parse(struct mps3_checkpoint *out, const char *name,
			  const char *doc, size_t len);
/*
 * The same, without the map as JSON: each path and its value (checked as
 * mps3_checkpoint_parse checks them, borrowed for the call) go to fn in
 * document order, or to pfn as a packed record when it is an ordinary
 * entry written compactly (mps3_jscan_packed; pfn may be NULL), and
 * out->files is NULL.  They must refuse a path given twice (mps3/jscan.h).
 * They may have been called when the document turns out invalid: what
 * they built is then the caller's to drop.
 */
int mps3_checkpoint_scan(struct mps3_checkpoint *out, const char *name, const char *doc, size_t len,
			 mps3_jscan_fn fn, mps3_jscan_packed_fn pfn, void *ctx);
/* window may be NULL (none written: readers then replay the whole lag). */
char *mps3_checkpoint_dump(const struct mps3_logkey *key, json_t *files, const struct mps3_cpwindow *window,
			   size_t *len);
/*
 * The same document assembled around a map already written as text (by
 * mps3_manifest_base_dump), so that the map is never built as JSON: out
 * holds MPS3_CHECKPOINT_OPEN followed by that text, and this appends the
 * rest (what mps3_checkpoint_dump writes after its "files").  The map's
 * keys are then in the map's order, not sorted; readers do not care.
 * 0, -ENOMEM or -EFBIG (out's limit).
 */
#define MPS3_CHECKPOINT_OPEN "{\"files\":"
int mps3_checkpoint_close(struct mps3_buf *out, const struct mps3_logkey *key, const struct mps3_cpwindow *window);
/* A named snapshot: a checkpoint document whose time and session are its own (not in its name). */
int mps3_snapshot_parse(struct mps3_checkpoint *out, const char *doc, size_t len);
/* The same member by member, as mps3_checkpoint_scan: fn and pfn must refuse a path given twice. */
int mps3_snapshot_scan(struct mps3_checkpoint *out, const char *doc, size_t len, mps3_jscan_fn fn,
		       mps3_jscan_packed_fn pfn, void *ctx);

/*
 * The stale rule every reader applies identically: an entry whose name time
 * and the store's LastModified differ by more than stale_ms is ignored.
 */
static inline int mps3_entry_fresh(int64_t t, int64_t lastmod_ms, int64_t stale_ms)
{
	int64_t d = t - lastmod_ms;

	return (d < 0 ? -d : d) <= stale_ms;
}

#endif
