/*
 * fs/seqhash.h - the hash of a file being written sequentially (fs/seqhash.c),
 * made while it is written instead of at close().
 *
 * A staging file written from empty, each write beginning where the last
 * ended, is hashed behind the writes by a thread of its own (the whole
 * content's SHA-256 and its chunk list, mps3_chunker), which also starts
 * the write-back of what it hashed, so that close() has neither a hash
 * pass nor much of an fsync left.  Any other write - one that leaves a
 * hole, goes back over written bytes, comes out of order - and any
 * truncate make it void for good: close() then hashes the file as before.
 *
 * Threads: wrote/void/finish from any thread without the tree lock (it has
 * a lock of its own, a leaf); a reference each for the stage and for a
 * write in progress (get/put).  Errors: 0 or -ESTALE (void, or never past
 * MPS3FS_SEQHASH_MIN), -ENOMEM, or the read's error.
 */
#ifndef MPS3FS_SEQHASH_H
#define MPS3FS_SEQHASH_H

#include <stdint.h>

#include "mps3/buf.h"
#include "mps3/hash.h"

/* Smaller files are hashed at close (their content goes into the journal anyway). */
#define MPS3FS_SEQHASH_MIN ((uint64_t)8 << 20)

struct seqhash;

/* For a staging file that is empty now (fd is dup'd).  NULL if out of memory (then: no hashing ahead). */
struct seqhash *mps3fs_seqhash_new(int fd);
struct seqhash *mps3fs_seqhash_get(struct seqhash *h);
void mps3fs_seqhash_put(struct seqhash *h);
/* len bytes were written at off (after the write itself). */
void mps3fs_seqhash_wrote(struct seqhash *h, uint64_t off, uint64_t len);
/* The content changed in some other way (truncate). */
void mps3fs_seqhash_void(struct seqhash *h);
/*
 * The writer is done: wait for the hash of everything written and, if it
 * covers exactly size bytes, give the whole hash and the chunk list (text,
 * appended to list).  It is void afterwards whatever the outcome.
 */
int mps3fs_seqhash_finish(struct seqhash *h, uint64_t size, unsigned char whole[MPS3_SHA256_LEN],
			  struct mps3_buf *list);

#endif
