/*
 * store/body.h - helpers the local backends share: read a whole upload body
 * into memory, compute S3-style ETags, and stamp their clock.
 */
#ifndef MPS3_STORE_BODY_H
#define MPS3_STORE_BODY_H

#include "mps3/buf.h"
#include "mps3/store.h"
#include "mps3/types.h"

/* Copies the body's bytes (memory or fd range) into b.  0 or a negative errno. */
int mps3_body_read(const struct mps3_body *body, struct mps3_buf *b);

/* Hex MD5 of p, as S3 reports for a single-part object. */
void mps3_etag_md5(char out[MPS3_ETAG_MAX], const void *p, size_t n);

/* A local backend's clock is the true clock, exact to the millisecond. */
void mps3_store_local_clock_tick(struct mps3_store *s);

#endif
