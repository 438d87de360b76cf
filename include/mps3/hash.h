/*
 * mps3/hash.h - SHA-256, HMAC-SHA256, MD5 and hex helpers over OpenSSL EVP.
 *
 * Blobs are named by the SHA-256 of their content, SigV4 needs SHA-256 and
 * HMAC, and the file backend makes S3-style MD5 ETags.
 * Thread-safe; a context belongs to one thread at a time.  Errors: -ENOMEM
 * (a context), -EIO or a read error (files).
 */
#ifndef MPS3_HASH_H
#define MPS3_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MPS3_SHA256_LEN 32
#define MPS3_SHA256_HEX_LEN 64
/* SHA-256 of the empty string: the blob of every empty file. */
#define MPS3_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct mps3_sha256 {
	void *ctx; /* EVP_MD_CTX */
};

/* 0 or -ENOMEM.  Caller allocates the struct. */
int mps3_sha256_init(struct mps3_sha256 *h);
void mps3_sha256_update(struct mps3_sha256 *h, const void *p, size_t n);
/* Writes 32 bytes and disposes the context. */
void mps3_sha256_final(struct mps3_sha256 *h, unsigned char out[MPS3_SHA256_LEN]);
/* Disposes without a result (error paths); safe on an initialised-to-NULL struct. */
void mps3_sha256_dispose(struct mps3_sha256 *h);

void mps3_sha256(unsigned char out[MPS3_SHA256_LEN], const void *p, size_t n);
void mps3_sha256_hex(char out[MPS3_SHA256_HEX_LEN + 1], const void *p, size_t n);
/*
 * SHA-256 of len bytes of fd from offset off (pread, no seek).  0, -EIO on a
 * short file, or a negative errno from the read.
 */
int mps3_sha256_fd(unsigned char out[MPS3_SHA256_LEN], int fd, off_t off, uint64_t len);

void mps3_hmac_sha256(unsigned char out[MPS3_SHA256_LEN], const void *key,
		      size_t keylen, const void *msg, size_t msglen);

void mps3_md5(unsigned char out[16], const void *p, size_t n);

/* Incremental MD5 (S3-style ETags of streamed content); same contract as mps3_sha256_*. */
struct mps3_md5 {
	void *ctx; /* EVP_MD_CTX */
};
int mps3_md5_init(struct mps3_md5 *h);
void mps3_md5_update(struct mps3_md5 *h, const void *p, size_t n);
void mps3_md5_final(struct mps3_md5 *h, unsigned char out[16]);
void mps3_md5_dispose(struct mps3_md5 *h);

/* Lower-case hex; out has room for 2 * n + 1 bytes. */
void mps3_hex(char *out, const unsigned char *p, size_t n);
/* 1 if s is exactly 64 lower-case hex digits. */
int mps3_is_sha256_hex(const char *s);
/* Such a hash back into its 32 bytes: 1, or 0 (out unchanged) when s is not one. */
int mps3_sha256_unhex(uint8_t out[32], const char *s);

#endif
