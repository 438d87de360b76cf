/*
 * mps3/uri.h - percent-encoding as S3 and SigV4 define it (RFC 3986
 * unreserved characters pass, every other byte becomes %XX in upper case).
 * Pure and thread-safe.
 */
#ifndef MPS3_URI_H
#define MPS3_URI_H

#include <stddef.h>

#include "mps3/buf.h"

/*
 * Append the encoding of n bytes of s to out.  keep_slash leaves '/' as is
 * (object keys in a path), otherwise it becomes %2F (query values).
 * 0, -ENOMEM or -EFBIG.
 */
int mps3_uri_encode(struct mps3_buf *out, const char *s, size_t n, int keep_slash);

/*
 * Decode %XX escapes of s into out (NUL-terminated).  plus_is_space turns
 * '+' into ' ' (form encoding).  -EINVAL on a malformed escape or an escape
 * of NUL; 0 otherwise.
 */
int mps3_uri_decode(struct mps3_buf *out, const char *s, size_t n, int plus_is_space);

#endif
