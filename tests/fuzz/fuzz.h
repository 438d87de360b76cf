/*
 * tests/fuzz/fuzz.h - what the libFuzzer harnesses share: the entry points,
 * exact-size copies (so ASan sees an over-read by one byte), and the check
 * that turns a violated property into a crash libFuzzer keeps.
 */
#ifndef MPS3_FUZZ_H
#define MPS3_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property the code documents does not hold: say which, then crash. */
#define FUZZ_CHECK(cond)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "\nPROPERTY VIOLATED: %s\n    at %s:%d\n", \
				#cond, __FILE__, __LINE__);                     \
			fflush(stderr);                                         \
			__builtin_trap();                                       \
		}                                                               \
	} while (0)

/* n bytes plus a NUL, in a block of exactly n + 1 bytes. */
static inline char *fuzz_cstr(const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Both absent, or both present and equal. */
static inline int fuzz_same(json_t *a, json_t *b)
{
	if (!a || !b)
		return a == b;
	return json_equal(a, b);
}

/* A member that is absent and one that is JSON null mean the same: nothing. */
static inline int fuzz_same_member(json_t *a, json_t *b)
{
	if (json_is_null(a))
		a = NULL;
	if (json_is_null(b))
		b = NULL;
	return fuzz_same(a, b);
}

/* Jansson seeds its hash function at random; fixed, a crash replays alike. */
static inline void fuzz_init(void)
{
	json_object_seed(1);
}

#endif
