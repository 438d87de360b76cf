/*
 * test_cache.c - the blob cache (src/fs/cache.c): least recently used
 * eviction down to the limit, pinned blobs never evicted, the index
 * rebuilt from the directory, a blob removed behind its back forgotten.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "tap.h"

/* A blob name of 64 hex digits ending in the digit d. */
static const char *sha(int d)
{
	static char buf[8][65];
	static int k;
	char *s = buf[k++ % 8];

	memset(s, 'a', 63);
	s[63] = (char)('0' + d);
	s[64] = '\0';
	return s;
}

static void put(struct cache *c, int d, size_t size, int pin)
{
	char path[4200];
	FILE *f;

	mps3fs_cache_path(c, sha(d), path, sizeof(path));
	f = fopen(path, "w");
	if (f) {
		for (size_t i = 0; i < size; i++)
			fputc('x', f);
		fclose(f);
	}
	mps3fs_cache_added(c, sha(d), size, pin);
}

int main(void)
{
	char dir[] = "/tmp/mps3-test-cache-XXXXXX", blobs[128], cmd[160];
	struct cache c;
	int fd;

	if (!mkdtemp(dir))
		return 1;
	snprintf(blobs, sizeof(blobs), "%s/blobs", dir);
	tap_ok(mps3fs_cache_init(&c, blobs, 100) == 0, "init creates the directory");
	put(&c, 1, 40, 0);
	put(&c, 2, 40, 0);
	tap_ok(mps3fs_cache_has(&c, sha(1)) && mps3fs_cache_has(&c, sha(2)), "under the limit both stay");
	fd = mps3fs_cache_open(&c, sha(1)); /* 1 is now the most recent */
	tap_ok(fd >= 0, "open a cached blob");
	if (fd >= 0)
		close(fd);
	put(&c, 3, 40, 0);
	tap_ok(!mps3fs_cache_has(&c, sha(2)) && mps3fs_cache_has(&c, sha(1)) && mps3fs_cache_has(&c, sha(3)),
	       "over the limit the least recently used goes");
	put(&c, 4, 90, 1);
	tap_ok(mps3fs_cache_has(&c, sha(4)), "a blob added pinned stays, even over the limit");
	tap_ok(!mps3fs_cache_has(&c, sha(1)) && !mps3fs_cache_has(&c, sha(3)), "and the unpinned ones make room");
	mps3fs_cache_unpin(&c, sha(4));
	put(&c, 5, 20, 0);
	tap_ok(!mps3fs_cache_has(&c, sha(4)), "unpinned, it can go");
	tap_inteq(mps3fs_cache_size_of(&c, sha(5)), 20, "size_of");
	tap_inteq(mps3fs_cache_open(&c, sha(9)), -ENOENT, "an uncached blob is -ENOENT");
	mps3fs_cache_dispose(&c);

	tap_ok(mps3fs_cache_init(&c, blobs, 100) == 0 && mps3fs_cache_has(&c, sha(5)) &&
		       mps3fs_cache_size_of(&c, sha(5)) == 20,
	       "the index is rebuilt from the directory");
	{
		char path[4200];

		mps3fs_cache_path(&c, sha(5), path, sizeof(path));
		unlink(path);
		tap_ok(mps3fs_cache_open(&c, sha(5)) == -ENOENT && !mps3fs_cache_has(&c, sha(5)),
		       "a blob removed behind the cache's back is forgotten");
	}
	mps3fs_cache_dispose(&c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cleanup failed");
	return tap_done();
}
