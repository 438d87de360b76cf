/*
 * fuzz_keys.c - names read from a listing: log entry and checkpoint names,
 * and file paths (keys of the files map).
 *
 * Properties: a name that parses is the one canonical name of its key (it
 * formats back to itself); a path that mps3_path_check() accepts obeys every
 * rule of mps3/keys.h, checked here independently.
 */
#include <errno.h>

#include "fuzz.h"
#include "mps3/keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	return 0;
}

/* Strict UTF-8 (Unicode 15, table 3-7), written apart from keys.c. */
static int utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		unsigned lo = 0x80, hi = 0xbf;
		size_t k, need;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3;
		else
			return 0;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		if (i + need >= n)
			return 0;
		for (k = 1; k <= need; k++) {
			unsigned b = s[i + k];

			if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf))
				return 0;
		}
		i += need + 1;
	}
	return 1;
}

/* The rules of mps3/keys.h for a path, as a second opinion. */
static int path_ok(const char *path)
{
	size_t len = strlen(path), start = 0, i;

	if (len == 0 || len > MPS3_PATH_MAX || !utf8_ok((const unsigned char *)path, len))
		return 0;
	for (i = 0; i <= len; i++) {
		size_t n;

		if (path[i] != '/' && path[i] != '\0')
			continue;
		n = i - start;
		if (n == 0 || n > MPS3_NAME_MAX)
			return 0;
		if ((n == 1 && path[start] == '.') ||
		    (n == 2 && path[start] == '.' && path[start + 1] == '.'))
			return 0;
		if (start == 0 && n == strlen(MPS3_CONTROL_DIR) &&
		    memcmp(path, MPS3_CONTROL_DIR, n) == 0)
			return 0;
		start = i + 1;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	char out[MPS3_LOGNAME_MAX];
	struct mps3_logkey k;
	int64_t t;
	int rc, trc;

	trc = mps3_logkey_parse_time(&t, s);
	FUZZ_CHECK(trc == 0 || trc == -EINVAL);
	if (trc == 0)
		FUZZ_CHECK(t >= 0 && t <= MPS3_TIME_MAX);

	rc = mps3_logkey_parse(&k, s);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc == 0) {
		FUZZ_CHECK(trc == 0 && k.t == t);
		FUZZ_CHECK(mps3_session_valid(k.session));
		/* One entry has exactly one name. */
		FUZZ_CHECK(mps3_logkey_format(out, &k) == 0);
		FUZZ_CHECK(strcmp(out, s) == 0);
	}

	rc = mps3_cpkey_parse(&k, s);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc == 0) {
		FUZZ_CHECK(trc == 0 && k.t == t && k.seq == 0);
		FUZZ_CHECK(mps3_session_valid(k.session));
		FUZZ_CHECK(mps3_cpkey_format(out, &k) == 0);
		FUZZ_CHECK(strcmp(out, s) == 0);
	}

	rc = mps3_path_check(s);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EILSEQ || rc == -ENAMETOOLONG);
	FUZZ_CHECK((rc == 0) == path_ok(s));

	free(s);
	return 0;
}
