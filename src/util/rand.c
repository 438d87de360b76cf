/*
 * util/rand.c - randomness from OpenSSL's DRBG (seeded from the kernel).
 */
#include <errno.h>

#include <openssl/rand.h>

#include "mps3/hash.h"
#include "mps3/rand.h"

int mps3_random_bytes(void *out, size_t n)
{
	if (n > 0x7fffffff || RAND_bytes(out, (int)n) != 1)
		return -EIO;
	return 0;
}

int mps3_random_hex(char *out, size_t nbytes)
{
	unsigned char r[64];
	int rc;

	if (nbytes > sizeof(r))
		return -EINVAL;
	rc = mps3_random_bytes(r, nbytes);
	if (rc)
		return rc;
	mps3_hex(out, r, nbytes);
	return 0;
}

uint64_t mps3_random_below(uint64_t bound)
{
	uint64_t r = 0;

	if (bound == 0 || mps3_random_bytes(&r, sizeof(r)))
		return 0;
	return r % bound;
}
