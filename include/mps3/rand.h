/*
 * mps3/rand.h - cryptographic randomness (session ids, temporary names,
 * retry jitter).  Thread-safe.
 */
#ifndef MPS3_RAND_H
#define MPS3_RAND_H

#include <stddef.h>
#include <stdint.h>

/* n random bytes.  0 or -EIO. */
int mps3_random_bytes(void *out, size_t n);
/* 2 * nbytes lower-case hex digits and a NUL into out.  0 or -EIO. */
int mps3_random_hex(char *out, size_t nbytes);
/* A uniform number in [0, bound) (bound > 0); 0 when no randomness is to be had. */
uint64_t mps3_random_below(uint64_t bound);

#endif
