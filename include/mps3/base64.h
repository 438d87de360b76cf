/*
 * mps3/base64.h - RFC 4648 base64 (standard alphabet, padded), for binary
 * extended attributes and the journal's content records.  Pure; thread-safe.
 */
#ifndef MPS3_BASE64_H
#define MPS3_BASE64_H

#include <stddef.h>

/* Encoded length of n bytes, without the NUL. */
#define MPS3_BASE64_LEN(n) (4 * (((n) + 2) / 3))

/* The encoding of n bytes of p: malloc'd, NUL-terminated, or NULL (ENOMEM). */
char *mps3_base64_encode(const void *p, size_t n);

/*
 * The bytes s encodes: malloc'd (one spare byte, NUL), length in *len, or
 * NULL when s is not padded base64 of the standard alphabet (errno EINVAL)
 * or memory ran out (errno ENOMEM).
 */
unsigned char *mps3_base64_decode(const char *s, size_t *len);

#endif
