/*
 * test_head.c - the content of head (mps3/head.h): strict parsing of what
 * may be hostile, the old one-name form, the chain a commit writes over
 * the head it replaced, and which links a reader may take as "since".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/head.h"
#include "mps3/keys.h"
#include "tap.h"

#define A "9999998209999877_0123456789abcdef_1"
#define B "9999998209999876_0123456789abcdef_2"
#define C "9999998209999875_fedcba9876543210_7"
#define D1 "0123456789abcdef"
#define D2 "fedcba9876543210"

#define NULHEAD "mps3-head 2\n" A " \0" D1 "\n"
#define TWO "mps3-head 2\n" B " " D1 "\n" A " -\n"

static int parses(const char *s)
{
	struct mps3_head h;

	return mps3_head_parse(&h, s, strlen(s)) == 0;
}

static void test_parse(void)
{
	struct mps3_head h;
	static const char *bad[] = {
		"",
		"\n",
		"mps3-head 2\n",
		"mps3-head 2\n" A "\n",
		"mps3-head 2\n" A " " D1,
		"mps3-head 2\n" A "  " D1 "\n",
		"mps3-head 2\n" A " " D1 "0\n",
		"mps3-head 2\n" A " 0123456789ABCDEF\n",
		"mps3-head 2\n" A " --\n",
		"mps3-head 2\n" A " " D1 "\n" A " " D2 "\n",
		"mps3-head 2\nnot-a-name " D1 "\n",
		"mps3-head 2\n9999998209999877_0123456789abcdef_01 " D1 "\n",
		"mps3-head 3\n" A " " D1 "\n",
		"mps3-head 2\r\n" A " " D1 "\r\n",
		A " " D1,
		A "\n" B,
		"../../etc/passwd",
	};
	char big[MPS3_HEAD_MAX + 64], *p;
	size_t i;
	int n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		tap_ok(!parses(bad[i]), "not a head: case %zu", i);
	tap_ok(mps3_head_parse(&h, NULHEAD, sizeof(NULHEAD) - 1) == -EINVAL && h.v == 0 &&
		       h.n == 0, "a NUL in a link: no head, and nothing of it kept");

	tap_ok(mps3_head_parse(&h, A, strlen(A)) == 0 && h.v == 1 && strcmp(h.name, A) == 0 && h.n == 0,
	       "an old head: one name");
	tap_ok(mps3_head_parse(&h, A "\n", strlen(A) + 1) == 0 && h.v == 1, "an old head with a newline");
	tap_ok(mps3_head_parse(&h, TWO, strlen(TWO)) == 0 && h.v == 2 &&
		       h.n == 2 && strcmp(h.link[0].name, B) == 0 && strcmp(h.link[0].prev, D1) == 0 &&
		       strcmp(h.link[1].name, A) == 0 && h.link[1].prev[0] == '\0',
	       "a chain of two, the second without a digest");

	/* Too many links, and too many bytes. */
	p = big + sprintf(big, "mps3-head 2\n");
	for (n = 0; n <= MPS3_HEAD_LINKS; n++) {
		struct mps3_logkey k = { 1790000000000 - n, "0123456789abcdef", (uint64_t)n + 1 };
		char name[MPS3_LOGNAME_MAX];

		mps3_logkey_format(name, &k);
		p += sprintf(p, "%s %s\n", name, D1);
		if (n == MPS3_HEAD_LINKS - 1)
			tap_ok(mps3_head_parse(&h, big, (size_t)(p - big)) == 0 && h.n == MPS3_HEAD_LINKS,
			       "%d links parse", MPS3_HEAD_LINKS);
	}
	tap_ok(mps3_head_parse(&h, big, (size_t)(p - big)) == -EINVAL, "%d links do not", MPS3_HEAD_LINKS + 1);
	memset(big, 'a', sizeof(big));
	tap_ok(mps3_head_parse(&h, big, sizeof(big)) == -EINVAL, "more than MPS3_HEAD_MAX bytes: no head");
}

static void test_chain(void)
{
	struct mps3_head *h0 = calloc(1, sizeof(*h0)), *h1 = calloc(1, sizeof(*h1)), *h2 = calloc(1, sizeof(*h2));
	struct mps3_head *back = calloc(1, sizeof(*back));
	char body[MPS3_HEAD_MAX], d0[MPS3_HEAD_DIGEST_HEX + 1], d1[MPS3_HEAD_DIGEST_HEX + 1];
	int len, n, ok;
	int64_t t;

	mps3_head_digest(d0, "", 0);
	tap_ok(strlen(d0) == MPS3_HEAD_DIGEST_HEX && strcmp(d0, "e3b0c44298fc1c14") == 0,
	       "digest of an absent head: SHA-256 of no bytes, first 8 bytes");
	mps3_head_follow(h1, NULL, d0, A, 0, NULL, 0);
	len = mps3_head_format(body, sizeof(body), h1);
	tap_ok(len > 0 && mps3_head_parse(back, body, (size_t)len) == 0 && back->n == 1 &&
		       strcmp(back->link[0].prev, d0) == 0, "first commit: one link over the absent head");
	tap_ok(mps3_head_since(back, d0) == 1, "a reader of the absent head takes that link");
	mps3_head_digest(d1, body, (size_t)len);
	mps3_head_follow(h2, back, d1, B, 0, NULL, 0);
	len = mps3_head_format(body, sizeof(body), h2);
	tap_ok(len > 0 && mps3_head_parse(back, body, (size_t)len) == 0 && back->n == 2 &&
		       strcmp(back->link[0].name, B) == 0 && strcmp(back->link[1].name, A) == 0,
	       "second commit: its link over the first");
	tap_ok(mps3_head_since(back, d1) == 1, "a reader of the first head takes the newest link only");
	tap_ok(mps3_head_since(back, d0) == 2, "a reader of the absent head takes both");
	tap_ok(mps3_head_since(back, "0000000000000000") == 0, "a reader of another head: none (it LISTs)");
	tap_ok(mps3_head_since(back, "") == 0, "a reader that knows no head: none");

	/* Old links fall off by time, and the count stays bounded. */
	mps3_logkey_parse_time(&t, B);
	mps3_head_follow(h0, back, d1, C, t + 1, NULL, 0);
	tap_ok(h0->n == 1, "links older than the bound are dropped");
	memset(h0, 0, sizeof(*h0));
	for (n = 0, ok = 1; n < MPS3_HEAD_LINKS + 10; n++) {
		struct mps3_logkey k = { 1790000000000 + n, "0123456789abcdef", (uint64_t)n + 1 };
		char name[MPS3_LOGNAME_MAX];

		mps3_logkey_format(name, &k);
		mps3_head_follow(h1, h0, D1, name, 0, NULL, 0);
		len = mps3_head_format(body, sizeof(body), h1);
		ok = ok && len > 0 && len <= MPS3_HEAD_MAX && h1->n <= MPS3_HEAD_LINKS &&
		     mps3_head_parse(h0, body, (size_t)len) == 0;
	}
	tap_ok(ok && h0->n == MPS3_HEAD_LINKS, "a long run of commits: %d links kept, each head parses",
	       MPS3_HEAD_LINKS);
	/* A commit whose name is already linked (a retried head) is not linked twice. */
	mps3_head_follow(h1, h0, D2, h0->link[3].name, 0, NULL, 0);
	len = mps3_head_format(body, sizeof(body), h1);
	tap_ok(len > 0 && mps3_head_parse(h2, body, (size_t)len) == 0, "a retried head names its entry once");
	/* An old head replaced: only the new link. */
	tap_ok(mps3_head_parse(h2, A, strlen(A)) == 0, "old head");
	mps3_head_follow(h1, h2, D1, B, 0, NULL, 0);
	tap_ok(h1->n == 1 && strcmp(h1->link[0].prev, D1) == 0, "over an old head: one link, its digest");
	/* A race: B's head replaced the one A's commit read, so A's link is gone; A's next commit brings it back. */
	{
		static const char *const again[2] = { A, C };

		mps3_head_follow(h0, NULL, D1, A, 0, NULL, 0);
		mps3_head_follow(h1, NULL, D1, B, 0, NULL, 0); /* over the same head: A's link lost */
		mps3_head_follow(h2, h1, D2, C, 0, again, 2);
		len = mps3_head_format(body, sizeof(body), h2);
		tap_ok(len > 0 && mps3_head_parse(back, body, (size_t)len) == 0 && back->n == 3 &&
			       strcmp(back->link[0].name, A) == 0 && back->link[0].prev[0] == '\0' &&
			       strcmp(back->link[1].name, C) == 0 && strcmp(back->link[1].prev, D2) == 0,
		       "a lost link is announced again above the new one, without a digest");
		tap_ok(mps3_head_since(back, D2) == 2, "and a reader of the head it replaced takes both");
		tap_ok(mps3_head_names(back, A) && mps3_head_names(back, B) && !mps3_head_names(back, "x"),
		       "head_names");
	}
	free(h0);
	free(h1);
	free(h2);
	free(back);
}

int main(void)
{
	test_parse();
	test_chain();
	return tap_done();
}
