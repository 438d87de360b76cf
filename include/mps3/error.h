/*
 * mps3/error.h - the detail behind a negative errno.
 *
 * Functions return 0 or a negative errno.  The layer that fails also records
 * one human-readable sentence in a thread-local slot ("PutObject log/x:
 * 403 SignatureDoesNotMatch: ..."), and the layer that decides what to do
 * with the failure reads it with mps3_error_last() and logs or prints it
 * once.  Like libgit2's git_error_last().
 */
#ifndef MPS3_ERROR_H
#define MPS3_ERROR_H

/*
 * Record the detail of the failure about to be returned; returns err so a
 * caller can write `return mps3_error_set(-EIO, "...")`.  Any thread.
 */
int mps3_error_set(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The calling thread's last detail, or a strerror() text for err when nothing
 * was recorded since mps3_error_clear().  Borrowed; valid until the thread's
 * next mps3_error_* call.
 */
const char *mps3_error_last(int err);

/* Forget the calling thread's detail. */
void mps3_error_clear(void);

/* Prefix the current detail with "<fmt>: " (adds context on the way up). */
int mps3_error_wrap(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
