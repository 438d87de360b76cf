/*
 * mps3/keys.h - names of the objects of one database, and of its files.
 *
 * Under the database prefix P (see docs/PROTOCOL.md):
 *   P/blobs/<sha256>         content, named by its hash
 *   P/log/<T>_<S>_<C>        one log entry
 *   P/checkpoint/<T>_<S>     one checkpoint
 *   P/head                   last-change marker
 * T is a commit time in milliseconds written as MPS3_TIME_DIGITS decimal
 * digits of (MPS3_TIME_MAX - t), so that byte order lists newest first; S is
 * a session id of MPS3_SESSION_LEN lower-case hex digits; C is the session's
 * counter in decimal.
 *
 * A file's path (a key of the files map) is a relative path: non-empty
 * components separated by single '/', none "." or "..", each at most 255
 * bytes, at most MPS3_PATH_MAX bytes in all, valid UTF-8 (as S3 keys and
 * JSON strings must be), and not inside the reserved control directory
 * ".mps3".
 *
 * Pure and thread-safe.  Parsers return 0 or -EINVAL and never read past
 * the NUL of the name they are given.
 */
#ifndef MPS3_KEYS_H
#define MPS3_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define MPS3_TIME_DIGITS 16
#define MPS3_TIME_MAX INT64_C(9999999999999999)
#define MPS3_SESSION_LEN 16
#define MPS3_PATH_MAX 4096
#define MPS3_NAME_MAX 255
#define MPS3_CONTROL_DIR ".mps3"

/* The parsed name of a log entry or checkpoint. */
struct mps3_logkey {
	int64_t t;				/* ms since the epoch */
	char session[MPS3_SESSION_LEN + 1];
	uint64_t seq;				/* 0 for checkpoints */
};

/* Longest "<T>_<S>_<C>" (C up to 20 digits), with its NUL. */
#define MPS3_LOGNAME_MAX (MPS3_TIME_DIGITS + 1 + MPS3_SESSION_LEN + 1 + 20 + 1)

/* "<T>_<S>_<C>" for a log entry.  out has MPS3_LOGNAME_MAX bytes.  -EINVAL if t is out of range. */
int mps3_logkey_format(char *out, const struct mps3_logkey *k);
/* "<T>_<S>" for a checkpoint. */
int mps3_cpkey_format(char *out, const struct mps3_logkey *k);

/* Parse a name (the part after "log/" or "checkpoint/").  0 or -EINVAL. */
int mps3_logkey_parse(struct mps3_logkey *out, const char *name);
int mps3_cpkey_parse(struct mps3_logkey *out, const char *name);

/* The time part of a name alone, for cutting a listing short.  0 or -EINVAL. */
int mps3_logkey_parse_time(int64_t *out, const char *name);

/* Replay order: time, then session, then counter.  <0, 0, >0. */
int mps3_logkey_cmp(const struct mps3_logkey *a, const struct mps3_logkey *b);

/* 1 if s is a session id (MPS3_SESSION_LEN lower-case hex digits). */
int mps3_session_valid(const char *s);

/*
 * 0 if path may name a file, else -EINVAL (with an mps3_error_set() detail
 * that quotes the path and says which rule it breaks), -EILSEQ (not UTF-8)
 * or -ENAMETOOLONG.
 */
int mps3_path_check(const char *path);

#endif
