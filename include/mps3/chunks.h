/*
 * mps3/chunks.h - chunk lists: the SHA-256 of every 4 MiB of a blob, so
 * that a reader can check each range it downloads before it hands a byte
 * on, instead of trusting a large blob until its last byte arrived.
 *
 * A file entry larger than one chunk names, beside its blob, the blob of
 * its chunk list ("chunks": "<sha256>"); the list is itself a blob, named
 * by its own SHA-256, so it is checked like any other before use:
 *
 *   mps3-chunks 1 <chunk size> <content size>\n
 *   <sha256 of chunk 0>\n
 *   ...
 *   <sha256 of chunk n-1>\n
 *
 * with n = ceil(content size / chunk size) and every hash 64 lower-case hex
 * digits (docs/PROTOCOL.md).  Pure and thread-safe; errors are 0 or a
 * negative errno (-EINVAL for a list that does not fit its content).
 */
#ifndef MPS3_CHUNKS_H
#define MPS3_CHUNKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mps3/buf.h"
#include "mps3/hash.h"

#define MPS3_CHUNK_SIZE ((uint64_t)4 << 20)

/* A parsed chunk list.  Caller allocates; mps3_chunks_dispose() frees. */
struct mps3_chunks {
	uint64_t chunk;		/* bytes per chunk */
	uint64_t size;		/* of the content */
	size_t n;		/* chunks */
	unsigned char (*md)[MPS3_SHA256_LEN];
};

/* Whether content of this size gets a chunk list (it is larger than one chunk). */
static inline int mps3_chunks_wanted(uint64_t size)
{
	return size > MPS3_CHUNK_SIZE;
}

/*
 * Hash len bytes of fd from off in one pass: the whole content's SHA-256 into
 * whole and, when mps3_chunks_wanted(len), its chunk list text into list
 * (left empty otherwise).  0, -ENOMEM, or the read's error (-EIO if short).
 */
int mps3_chunks_hash_fd(unsigned char whole[MPS3_SHA256_LEN], struct mps3_buf *list, int fd, off_t off,
			uint64_t len);
/* The same over memory. */
int mps3_chunks_hash_mem(unsigned char whole[MPS3_SHA256_LEN], struct mps3_buf *list, const void *p,
			 uint64_t len);

/*
 * The same, fed in order as the content arrives (its length need not be
 * known before): init, feed, then finish - which writes the whole hash and
 * the list (when mps3_chunks_wanted of the length fed) and disposes - or
 * dispose.  Caller allocates; one thread at a time.  0 or -ENOMEM.
 */
struct mps3_chunker {
	struct mps3_sha256 whole, part;
	uint64_t len, in_part;
	struct mps3_buf hashes;	/* the list's lines so far */
};
int mps3_chunker_init(struct mps3_chunker *k);
int mps3_chunker_feed(struct mps3_chunker *k, const void *p, size_t n);
int mps3_chunker_finish(struct mps3_chunker *k, unsigned char whole[MPS3_SHA256_LEN], struct mps3_buf *list);
void mps3_chunker_dispose(struct mps3_chunker *k);

/* Parse a list for content of size bytes.  0, -EINVAL or -ENOMEM. */
int mps3_chunks_parse(struct mps3_chunks *out, const char *text, size_t len, uint64_t size);
void mps3_chunks_dispose(struct mps3_chunks *c);

/* Offset and length of chunk i. */
static inline uint64_t mps3_chunks_len(const struct mps3_chunks *c, size_t i)
{
	uint64_t off = (uint64_t)i * c->chunk;

	return off + c->chunk <= c->size ? c->chunk : c->size - off;
}

/* Whether len bytes at p are chunk i of the content. */
int mps3_chunks_match(const struct mps3_chunks *c, size_t i, const void *p, size_t len);

#endif
