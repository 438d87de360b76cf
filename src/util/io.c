/*
 * util/io.c - whole-buffer reads and writes, copies, sinks and directory
 * helpers shared by the stores, the database, the journal and the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mps3/io.h"

int mps3_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int mps3_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = pwrite(fd, p, len, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		off += w;
		len -= (size_t)w;
	}
	return 0;
}

int mps3_pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len > 0) {
		ssize_t r = pread(fd, p, len, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		p += r;
		off += r;
		len -= (size_t)r;
	}
	return 0;
}

/* read/write fallback for file systems without copy_file_range. */
static int copy_rw(int src, off_t *src_off, int dst, off_t *dst_off, uint64_t len)
{
	size_t chunk = len < (1u << 20) ? (size_t)len : 1u << 20;
	char *buf = malloc(chunk ? chunk : 1);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (len > 0) {
		size_t n = len < chunk ? (size_t)len : chunk;

		rc = mps3_pread_all(src, buf, n, *src_off);
		if (!rc)
			rc = mps3_pwrite_all(dst, buf, n, *dst_off);
		if (rc)
			break;
		*src_off += (off_t)n;
		*dst_off += (off_t)n;
		len -= n;
	}
	free(buf);
	return rc;
}

int mps3_copy_all(int src, off_t *src_off, int dst, off_t *dst_off, uint64_t len)
{
	while (len > 0) {
		loff_t in = *src_off, out = *dst_off;
		ssize_t c = copy_file_range(src, &in, dst, &out, len, 0);

		if (c < 0 && errno == EINTR)
			continue;
		if (c < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
			      errno == EOPNOTSUPP))
			return copy_rw(src, src_off, dst, dst_off, len);
		if (c < 0)
			return -errno;
		if (c == 0)
			return -EIO;
		*src_off = in;
		*dst_off = out;
		len -= (uint64_t)c;
	}
	return 0;
}

int mps3_body_read(const struct mps3_body *body, struct mps3_buf *b)
{
	int rc;

	if (body->data)
		return mps3_buf_append(b, body->data, (size_t)body->len);
	if (body->len > SIZE_MAX - 1)
		return -EFBIG;
	rc = mps3_buf_reserve(b, (size_t)body->len);
	if (rc)
		return rc;
	rc = mps3_pread_all(body->fd, b->data + b->len, (size_t)body->len, body->off);
	if (rc)
		return rc;
	b->len += (size_t)body->len;
	b->data[b->len] = '\0';
	return 0;
}

static int buf_write(void *ctx, const void *p, size_t n)
{
	return mps3_buf_append(ctx, p, n);
}

void mps3_sink_buf(struct mps3_sink *s, struct mps3_buf *b)
{
	s->write = buf_write;
	s->ctx = b;
}

static int fd_write(void *ctx, const void *p, size_t n)
{
	return mps3_write_all(*(int *)ctx, p, n);
}

void mps3_sink_fd(struct mps3_sink *s, int *fd)
{
	s->write = fd_write;
	s->ctx = fd;
}

int mps3_mkdir_p(const char *path, mode_t mode)
{
	char *copy = strdup(path), *p;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST) {
			rc = -errno;
			break;
		}
		*p = '/';
	}
	if (!rc && mkdir(copy, mode) < 0 && errno != EEXIST)
		rc = -errno;
	free(copy);
	return rc;
}

int mps3_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static uint64_t io_up, io_down;

void mps3_io_note(uint64_t up, uint64_t down)
{
	if (up)
		__atomic_add_fetch(&io_up, up, __ATOMIC_RELAXED);
	if (down)
		__atomic_add_fetch(&io_down, down, __ATOMIC_RELAXED);
}

void mps3_io_moved(uint64_t *up, uint64_t *down)
{
	*up = __atomic_load_n(&io_up, __ATOMIC_RELAXED);
	*down = __atomic_load_n(&io_down, __ATOMIC_RELAXED);
}
