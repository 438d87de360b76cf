/*
 * mps3/io.h - the I/O vocabulary every layer shares: a body to upload, a
 * sink for downloaded bytes, and whole-buffer reads and writes that retry
 * short transfers and EINTR.
 *
 * Everything here is thread-safe (no state of its own, but the process's
 * byte counters).  Errors are 0 or a
 * negative errno; nothing here records an mps3_error_set() detail, because
 * the caller knows which file it was.
 */
#ifndef MPS3_IO_H
#define MPS3_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mps3/buf.h"

/* Content to upload: either memory (data != NULL) or len bytes of fd from off. */
struct mps3_body {
	const void *data;
	int fd;
	off_t off;
	uint64_t len;
	const char *sha256_hex;	/* of the whole body if known (saves a pass), else NULL */
	int once;		/* the key is written at most once: no attempt after one that
				   may have stored it (then -ECONNRESET; the caller tries again
				   under a new key).  Single PUTs only. */
};

/* Copies the body's bytes (memory or fd range) into b.  0, -EFBIG or a read error. */
int mps3_body_read(const struct mps3_body *body, struct mps3_buf *b);

/* Where downloaded bytes go.  write returns 0 or a negative errno to abort. */
struct mps3_sink {
	int (*write)(void *ctx, const void *p, size_t n);
	void *ctx;
};

/* Sinks into a bounded buffer and into an fd (appending at its offset; *fd borrowed). */
void mps3_sink_buf(struct mps3_sink *s, struct mps3_buf *b);
void mps3_sink_fd(struct mps3_sink *s, int *fd);

/* All len bytes, or -errno (never a short count). */
int mps3_write_all(int fd, const void *buf, size_t len);
int mps3_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Exactly len bytes at off; -EIO if the file is shorter. */
int mps3_pread_all(int fd, void *buf, size_t len, off_t off);
/*
 * Copy len bytes from src at *src_off to dst at *dst_off (both advanced),
 * with copy_file_range where the kernel can and read/write where it cannot.
 * -EIO if src is shorter.
 */
int mps3_copy_all(int src, off_t *src_off, int dst, off_t *dst_off, uint64_t len);

/* mkdir -p with mode for every directory it creates.  0, or -errno of the first failure. */
int mps3_mkdir_p(const char *path, mode_t mode);
/* fsync of a directory (a new or removed name in it is durable after).  0 or -errno. */
int mps3_fsync_dir(const char *path);

/*
 * Bytes this process has sent to and received from stores over the network,
 * all threads together (the S3 client counts them as they move, retries
 * included): for progress displays.  Relaxed atomics.
 */
void mps3_io_note(uint64_t up, uint64_t down);
void mps3_io_moved(uint64_t *up, uint64_t *down);

#endif
