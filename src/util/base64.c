/*
 * util/base64.c - base64 over OpenSSL's block codec, with the strictness
 * the codec lacks: the input must be whole 4-character groups of the
 * standard alphabet, and padding is not counted as data.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "mps3/base64.h"

char *mps3_base64_encode(const void *p, size_t n)
{
	char *out;

	if (n > (size_t)0x7fffffff / 4 * 3)
		return NULL; /* the codec counts in int */
	out = malloc(MPS3_BASE64_LEN(n) + 1);
	if (!out)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

static int b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
	       c == '/';
}

unsigned char *mps3_base64_decode(const char *s, size_t *len)
{
	size_t in = strlen(s), pad = 0, i;
	unsigned char *out;
	int n;

	if (in % 4 != 0 || in > 0x7ffffffc) {
		errno = EINVAL;
		return NULL;
	}
	if (in >= 1 && s[in - 1] == '=')
		pad++;
	if (in >= 2 && s[in - 2] == '=')
		pad++;
	for (i = 0; i < in - pad; i++) {
		if (!b64_char(s[i])) {
			errno = EINVAL;
			return NULL;
		}
	}
	out = malloc(in / 4 * 3 + 1);
	if (!out) {
		errno = ENOMEM;
		return NULL;
	}
	n = in ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)in) : 0;
	if (n < 0 || (size_t)n < pad) {
		free(out);
		errno = EINVAL;
		return NULL;
	}
	/* EVP_DecodeBlock counts padding as zero bytes. */
	*len = (size_t)n - pad;
	out[*len] = '\0';
	return out;
}
