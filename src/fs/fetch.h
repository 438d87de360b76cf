/*
 * fs/fetch.h - content of blobs that are not in the cache yet (fs/fetch.c):
 * ranged GETs of 4 MiB chunks into CACHE/partial, read-ahead workers, and
 * verification before a blob enters the cache.
 *
 * Threads: its own download workers; every function may be called from
 * any thread without locks held (fetch->lock is a leaf, and no call here is
 * made under the tree lock, because downloads block).  Errors: a negative
 * errno; -EBADMSG for content that does not match its hash.
 */
#ifndef MPS3FS_FETCH_H
#define MPS3FS_FETCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mps3fs;

int mps3fs_fetch_init(struct mps3fs *fs);
void mps3fs_fetch_dispose(struct mps3fs *fs);
/*
 * Read size bytes at off of blob sha (of total size blob_size) into buf.
 * With chunks (the blob of its chunk list, or NULL/""), only the chunks
 * needed are downloaded (plus read-ahead when seq is set), each checked
 * before use; without, the whole blob is, and checked, before any byte is
 * given.  Once the blob is whole and verified, *whole_fd (may be NULL; -1
 * on entry) gets an fd of it to read from instead, whether or not the cache
 * keeps it.  Returns bytes read or a negative errno (-EBADMSG: corrupt in
 * the store, reported once).
 */
ssize_t mps3fs_fetch_read(struct mps3fs *fs, const char *sha, uint64_t blob_size, const char *chunks, char *buf,
			  size_t size, uint64_t off, int seq, int *whole_fd);
/*
 * Copy blob sha, verified, into fd from offset 0 (a file being staged for
 * writing): streamed chunk by chunk, so it needs no room in the cache.
 * 0 or a negative errno.
 */
int mps3fs_fetch_copy(struct mps3fs *fs, const char *sha, uint64_t blob_size, const char *chunks, int fd);
/*
 * The cache's disk is full (ENOSPC): evict cached blobs already in the
 * bucket, idle partial downloads and old downloaded chunks, until bytes
 * are freed.  Returns the bytes freed (0: nothing could go).  Called with
 * no lock held, like everything here.
 */
uint64_t mps3fs_room(struct mps3fs *fs, uint64_t bytes);

#endif
