/*
 * db/chunks.c - chunk lists (see mps3/chunks.h): made in the same pass
 * that names a blob, and parsed strictly, since they come from the bucket.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mps3/chunks.h"
#include "mps3/io.h"

#define HEADER "mps3-chunks 1 "

int mps3_chunker_init(struct mps3_chunker *k)
{
	int rc;

	memset(k, 0, sizeof(k[0]));
	mps3_buf_init(&k->hashes, 0);
	rc = mps3_sha256_init(&k->whole);
	if (!rc)
		rc = mps3_sha256_init(&k->part);
	if (rc)
		mps3_chunker_dispose(k);
	return rc;
}

static int close_part(struct mps3_chunker *k)
{
	unsigned char md[MPS3_SHA256_LEN];
	char hex[MPS3_SHA256_HEX_LEN + 2];
	int rc;

	mps3_sha256_final(&k->part, md);
	mps3_hex(hex, md, sizeof(md));
	hex[MPS3_SHA256_HEX_LEN] = '\n';
	hex[MPS3_SHA256_HEX_LEN + 1] = '\0';
	rc = mps3_buf_puts(&k->hashes, hex);
	k->in_part = 0;
	return rc ? rc : mps3_sha256_init(&k->part);
}

int mps3_chunker_feed(struct mps3_chunker *k, const void *data, size_t n)
{
	const char *p = data;
	int rc = 0;

	mps3_sha256_update(&k->whole, p, n);
	k->len += n;
	while (n > 0 && !rc) {
		size_t take = MPS3_CHUNK_SIZE - k->in_part < n ? (size_t)(MPS3_CHUNK_SIZE - k->in_part) : n;

		mps3_sha256_update(&k->part, p, take);
		k->in_part += take;
		p += take;
		n -= take;
		if (k->in_part == MPS3_CHUNK_SIZE)
			rc = close_part(k);
	}
	return rc;
}

int mps3_chunker_finish(struct mps3_chunker *k, unsigned char whole[MPS3_SHA256_LEN], struct mps3_buf *list)
{
	int rc = 0;

	if (k->in_part > 0)
		rc = close_part(k);
	if (!rc && mps3_chunks_wanted(k->len))
		rc = mps3_buf_printf(list, HEADER "%" PRIu64 " %" PRIu64 "\n", MPS3_CHUNK_SIZE, k->len);
	if (!rc && mps3_chunks_wanted(k->len))
		rc = mps3_buf_append(list, k->hashes.data, k->hashes.len);
	if (!rc)
		mps3_sha256_final(&k->whole, whole);
	mps3_chunker_dispose(k);
	return rc;
}

void mps3_chunker_dispose(struct mps3_chunker *k)
{
	mps3_sha256_dispose(&k->whole);
	mps3_sha256_dispose(&k->part);
	mps3_buf_dispose(&k->hashes);
}

int mps3_chunks_hash_mem(unsigned char whole[MPS3_SHA256_LEN], struct mps3_buf *list, const void *p,
			 uint64_t len)
{
	struct mps3_chunker k;
	int rc = mps3_chunker_init(&k);

	if (!rc)
		rc = mps3_chunker_feed(&k, p, (size_t)len);
	if (!rc)
		return mps3_chunker_finish(&k, whole, list);
	mps3_chunker_dispose(&k);
	return rc;
}

int mps3_chunks_hash_fd(unsigned char whole[MPS3_SHA256_LEN], struct mps3_buf *list, int fd, off_t start,
			uint64_t len)
{
	size_t bufsz = 1 << 20;
	char *buf = malloc(bufsz);
	struct mps3_chunker k;
	uint64_t off = 0;
	int rc = buf ? mps3_chunker_init(&k) : -ENOMEM;

	if (!buf)
		return rc;
	while (!rc && off < len) {
		size_t want = len - off < bufsz ? (size_t)(len - off) : bufsz;

		rc = mps3_pread_all(fd, buf, want, start + (off_t)off);
		if (!rc)
			rc = mps3_chunker_feed(&k, buf, want);
		off += want;
	}
	free(buf);
	if (!rc)
		return mps3_chunker_finish(&k, whole, list);
	mps3_chunker_dispose(&k);
	return rc;
}

static int unhex(unsigned char *out, const char *s)
{
	size_t i;

	for (i = 0; i < MPS3_SHA256_LEN; i++) {
		int hi = s[2 * i], lo = s[2 * i + 1];

		hi = hi >= '0' && hi <= '9' ? hi - '0' : hi >= 'a' && hi <= 'f' ? hi - 'a' + 10 : -1;
		lo = lo >= '0' && lo <= '9' ? lo - '0' : lo >= 'a' && lo <= 'f' ? lo - 'a' + 10 : -1;
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int mps3_chunks_parse(struct mps3_chunks *out, const char *text, size_t len, uint64_t size)
{
	const char *p = text, *end = text + len, *nl;
	uint64_t chunk, csize;
	char header[96];
	size_t i, n;
	int used = 0;

	memset(out, 0, sizeof(*out));
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl || (size_t)(nl - p) >= sizeof(header))
		return -EINVAL;
	memcpy(header, p, (size_t)(nl - p));
	header[nl - p] = '\0';
	if (sscanf(header, HEADER "%" SCNu64 " %" SCNu64 "%n", &chunk, &csize, &used) != 2 ||
	    (size_t)used != strlen(header) || chunk < 4096 || chunk > ((uint64_t)1 << 30) || csize != size)
		return -EINVAL;
	n = (size_t)((size + chunk - 1) / chunk);
	p = nl + 1;
	/* Exactly n lines of 64 hex digits and a newline: nothing more, nothing less. */
	if ((size_t)(end - p) != n * (MPS3_SHA256_HEX_LEN + 1))
		return -EINVAL;
	out->md = calloc(n ? n : 1, sizeof(*out->md));
	if (!out->md)
		return -ENOMEM;
	for (i = 0; i < n; i++, p += MPS3_SHA256_HEX_LEN + 1) {
		if (p[MPS3_SHA256_HEX_LEN] != '\n' || unhex(out->md[i], p)) {
			mps3_chunks_dispose(out);
			return -EINVAL;
		}
	}
	out->chunk = chunk;
	out->size = size;
	out->n = n;
	return 0;
}

void mps3_chunks_dispose(struct mps3_chunks *c)
{
	free(c->md);
	memset(c, 0, sizeof(*c));
}

int mps3_chunks_match(const struct mps3_chunks *c, size_t i, const void *p, size_t len)
{
	unsigned char md[MPS3_SHA256_LEN];

	if (i >= c->n || len != mps3_chunks_len(c, i))
		return 0;
	mps3_sha256(md, p, len);
	return memcmp(md, c->md[i], sizeof(md)) == 0;
}
