/*
 * mps3/head.h - the content of P/head (docs/PROTOCOL.md, "Head"): which
 * log entries were committed lately, each with the digest of the head its
 * commit replaced, so that a reader that knows the digest of the head it
 * last caught up with can tell whether head names every entry committed
 * since (then it GETs those, and need not LIST).
 *
 *   mps3-head 2\n
 *   <entry name> <digest>\n        1 to MPS3_HEAD_LINKS lines, newest first
 *
 * Each line (a link) is one commit: the entry it wrote and the digest of
 * the head that commit read just before it replaced it.  A writer keeps the
 * links of the head it replaces that are not older than its own entry's
 * time less lag, and no more than MPS3_HEAD_LINKS in all.
 *
 * <digest> is the first 8 bytes of the SHA-256 of the replaced head's whole
 * body (an absent head: of no bytes), as 16 lower-case hex digits, or "-"
 * when the writer could not read it.  An older head holds one entry name
 * and nothing else; anything else is no head of either kind.
 *
 * Head is hostile input like every object: parsing is bounded
 * (MPS3_HEAD_MAX bytes) and strict, and nothing it names is trusted beyond
 * being a name to GET and check by the usual rules.
 *
 * Pure and thread-safe.  Functions return 0 or a negative errno.
 */
#ifndef MPS3_HEAD_H
#define MPS3_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "mps3/keys.h"

#define MPS3_HEAD_MAX 24576		/* bytes of head a reader reads (256 links of the longest names fit) */
#define MPS3_HEAD_LINKS 256		/* commits one head remembers */
#define MPS3_HEAD_DIGEST_HEX 16

struct mps3_head_link {
	char name[MPS3_LOGNAME_MAX];	/* a valid log entry name */
	char prev[MPS3_HEAD_DIGEST_HEX + 1];	/* digest of the head it replaced, or "" if unknown */
};

struct mps3_head {
	int v;				/* 2: this format; 1: an older head (one name, no links) */
	unsigned n;			/* links (v 2) */
	struct mps3_head_link link[MPS3_HEAD_LINKS];
	char name[MPS3_LOGNAME_MAX];	/* v 1: the name it holds */
};

/* The digest of a head's body (len 0: an absent head). */
void mps3_head_digest(char out[MPS3_HEAD_DIGEST_HEX + 1], const void *body, size_t len);

/*
 * Parse a head's body: 0 and *out (v 2 or 1), or -EINVAL for anything
 * that is neither (out->v 0, n 0).  Every name must parse as a log entry
 * name, none twice; lines must end in '\n'; no more than MPS3_HEAD_LINKS
 * links.
 */
int mps3_head_parse(struct mps3_head *out, const char *body, size_t len);

/*
 * The head a commit of name writes over the one it read: first a link
 * without digest for each of again[0..nagain) (the writer's own earlier
 * commits that replaced lost: re-announced), then its own link (prev =
 * digest of what it read, NULL: not read), then the links of replaced
 * (NULL or v 1: none) named at min_t or later; no name twice, up to
 * MPS3_HEAD_LINKS in all.
 */
void mps3_head_follow(struct mps3_head *out, const struct mps3_head *replaced, const char *prev,
		      const char *name, int64_t min_t, const char *const *again, unsigned nagain);

/* Whether h (v 2) has a link naming name. */
int mps3_head_names(const struct mps3_head *h, const char *name);

/* The body of h into out (cap bytes): its length, or -ENOSPC. */
int mps3_head_format(char *out, size_t cap, const struct mps3_head *h);

/*
 * Whether h names every commit since the head of digest d: the number of
 * links, newest first, from the top down to the one whose prev is d (those
 * name the commits since), or 0 if no link's prev is d.
 */
unsigned mps3_head_since(const struct mps3_head *h, const char *d);

#endif
