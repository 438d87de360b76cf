/*
 * util/hash.c - SHA-256, HMAC-SHA256 and MD5 on OpenSSL's EVP interface.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mps3/hash.h"

static int digest_init(void **out, const EVP_MD *md)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	*out = NULL;
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	*out = ctx;
	return 0;
}

int mps3_sha256_init(struct mps3_sha256 *h)
{
	return digest_init(&h->ctx, EVP_sha256());
}

void mps3_sha256_update(struct mps3_sha256 *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->ctx, p, n);
}

void mps3_sha256_final(struct mps3_sha256 *h, unsigned char out[MPS3_SHA256_LEN])
{
	unsigned int n = MPS3_SHA256_LEN;

	EVP_DigestFinal_ex(h->ctx, out, &n);
	mps3_sha256_dispose(h);
}

void mps3_sha256_dispose(struct mps3_sha256 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void mps3_sha256(unsigned char out[MPS3_SHA256_LEN], const void *p, size_t n)
{
	unsigned int len = MPS3_SHA256_LEN;

	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

void mps3_sha256_hex(char out[MPS3_SHA256_HEX_LEN + 1], const void *p, size_t n)
{
	unsigned char md[MPS3_SHA256_LEN];

	mps3_sha256(md, p, n);
	mps3_hex(out, md, sizeof(md));
}

int mps3_sha256_fd(unsigned char out[MPS3_SHA256_LEN], int fd, off_t off, uint64_t len)
{
	struct mps3_sha256 h;
	size_t bufsz = 1 << 20;
	char *buf = NULL;
	int rc;

	rc = mps3_sha256_init(&h);
	if (rc)
		return rc;
	buf = malloc(bufsz);
	if (!buf) {
		rc = -ENOMEM;
		goto fail;
	}
	while (len > 0) {
		size_t want = len < bufsz ? (size_t)len : bufsz;
		ssize_t got = pread(fd, buf, want, off);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto fail;
		}
		if (got == 0) {
			rc = -EIO;
			goto fail;
		}
		mps3_sha256_update(&h, buf, (size_t)got);
		off += got;
		len -= (uint64_t)got;
	}
	free(buf);
	mps3_sha256_final(&h, out);
	return 0;
fail:
	free(buf);
	mps3_sha256_dispose(&h);
	return rc;
}

void mps3_hmac_sha256(unsigned char out[MPS3_SHA256_LEN], const void *key,
		      size_t keylen, const void *msg, size_t msglen)
{
	unsigned int n = MPS3_SHA256_LEN;

	HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &n);
}

void mps3_md5(unsigned char out[16], const void *p, size_t n)
{
	unsigned int len = 16;

	EVP_Digest(p, n, out, &len, EVP_md5(), NULL);
}

int mps3_md5_init(struct mps3_md5 *h)
{
	return digest_init(&h->ctx, EVP_md5());
}

void mps3_md5_update(struct mps3_md5 *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->ctx, p, n);
}

void mps3_md5_final(struct mps3_md5 *h, unsigned char out[16])
{
	unsigned int n = 16;

	EVP_DigestFinal_ex(h->ctx, out, &n);
	mps3_md5_dispose(h);
}

void mps3_md5_dispose(struct mps3_md5 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void mps3_hex(char *out, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int mps3_sha256_unhex(uint8_t out[32], const char *s)
{
	size_t i;

	if (!s || !mps3_is_sha256_hex(s))
		return 0;
	for (i = 0; i < 32; i++) {
		char a = s[2 * i], b = s[2 * i + 1];

		out[i] = (uint8_t)((a <= '9' ? a - '0' : a - 'a' + 10) << 4 | (b <= '9' ? b - '0' : b - 'a' + 10));
	}
	return 1;
}

int mps3_is_sha256_hex(const char *s)
{
	int i;

	for (i = 0; i < MPS3_SHA256_HEX_LEN; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return s[MPS3_SHA256_HEX_LEN] == '\0';
}
