/*
 * fs/stage.h - content being written (fs/stage.c): a staging file per node
 * shared by all its writers, and the snapshot that turns it into a cached,
 * durable blob and the node's new entry (at close() and fsync()).
 *
 * Locks: each function takes fs->tree_lock itself for the tree and the
 * stage fields, and releases it for file I/O (staging files live on local
 * disk, never in the mount).  Call without the tree lock unless a function
 * says otherwise.  Errors: 0 or a negative errno from the local file
 * system (ENOSPC, EIO) or the download of the old content.
 */
#ifndef MPS3FS_STAGE_H
#define MPS3FS_STAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mps3fs;
struct node;
struct seqhash;

/* Local content of a file being written.  Fields protected by fs->tree_lock. */
struct stage {
	int fd;
	char path[512];
	uint64_t size;
	int dirty;			/* written since the last snapshot into the cache */
	uint64_t wgen;			/* bumped by every write or truncate */
	int64_t mtime_ns;		/* of the last write */
	int refused;			/* the validation hook refused this content: never committed */
	struct seqhash *sh;		/* hashing it behind sequential writes (fs/seqhash.h), or NULL */
};

/*
 * Give n a staging file holding its current content (or nothing when
 * truncating), so writes have somewhere to go.  Downloads the content first
 * if it is not cached.
 */
int mps3fs_stage_open(struct mps3fs *fs, struct node *n, int truncate);
/* Close and remove a staging file that is no longer any node's. */
void mps3fs_stage_free(struct stage *st);
/* Write size bytes at off (at the end with append).  Bytes written or -errno. */
ssize_t mps3fs_stage_write(struct mps3fs *fs, struct node *n, const char *data, size_t size, off_t off,
			   int append);
/* Set the staged size (stage_open first).  0 or -errno. */
int mps3fs_stage_truncate(struct mps3fs *fs, struct node *n, uint64_t size);
/*
 * Turn the staging file's content into a cached blob and make it the node's
 * entry, durable before the journal promises it.  With last set (no other
 * writer), the staging file itself is renamed into the cache; otherwise it
 * is copied.
 */
#define MPS3FS_ANY_WGEN UINT64_MAX
/*
 * want: MPS3FS_ANY_WGEN, or the write generation (stage->wgen) whose content
 * may become the entry - what the validation hook accepted: -EAGAIN when the
 * file was written to since (nothing installed; validate it again).
 */
int mps3fs_snapshot(struct mps3fs *fs, struct node *n, int last, uint64_t want);
/*
 * Tree lock held: take n's staging file away if nobody writes it and it
 * holds nothing unsaved; the caller frees it after unlocking.
 */
struct stage *mps3fs_stage_take_clean(struct node *n);

#endif
