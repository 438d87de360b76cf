/*
 * cli/cachedir.c - mps3fs's default cache directory: its name, the move of
 * a directory of the older naming into it, and the word on journals left
 * in other directories of the same database.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/journal.h"
#include "mps3/log.h"
#include "cachedir.h"

/* Where default cache directories live: /var/cache/mps3fs for root, else the user's cache. */
static char *cache_base(void)
{
	const char *base;
	char *dir = NULL;

	if (geteuid() == 0)
		return strdup("/var/cache/mps3fs");
	if ((base = getenv("XDG_CACHE_HOME")) && *base == '/') {
		if (asprintf(&dir, "%s/mps3fs", base) < 0)
			dir = NULL;
	} else if ((base = getenv("HOME")) && *base) {
		if (asprintf(&dir, "%s/.cache/mps3fs", base) < 0)
			dir = NULL;
	}
	return dir;
}

static void hash16(char out[17], const char *s)
{
	char hex[MPS3_SHA256_HEX_LEN + 1];

	mps3_sha256_hex(hex, s, strlen(s));
	memcpy(out, hex, 16);
	out[16] = '\0';
}

/*
 * The other cache directories of this database whose journal holds changes
 * not uploaded yet, left by a mount elsewhere that ended before its uploads
 * did: no other mount replays them, so each is said at every mount.
 */
static void warn_stranded(const char *base, const char *db_hash, const char *mine, const char *url,
			  const char *branch)
{
	DIR *d = opendir(base);
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL) {
		char *dir = NULL, *log = NULL;
		const char *mnt, *state;
		json_t *who = NULL;
		struct stat st;

		if (strncmp(e->d_name, db_hash, 16) != 0 || (e->d_name[16] && e->d_name[16] != '-'))
			continue;
		if (asprintf(&dir, "%s/%s", base, e->d_name) < 0)
			break;
		if (strcmp(dir, mine) != 0 && asprintf(&log, "%s/journal/log", dir) >= 0 && stat(log, &st) == 0 &&
		    st.st_size > 0) {
			mps3_journal_holder(&who, dir);
			mnt = json_string_value(json_object_get(who, "mountpoint"));
			state = json_string_value(json_object_get(who, "state"));
			/* A live mount uploads its own. */
			if (!json_is_true(json_object_get(who, "alive")) || (state && strcmp(state, "unmounted") == 0))
				mps3_warn("%s: the journal in %s%s%s%s holds changes that are not in the bucket yet; mount there again, or upload them with: mps3 %s%s%s%s sync --journal %s",
					  url, dir, mnt ? " (of the mount at " : "", mnt ? mnt : "", mnt ? ")" : "",
					  branch ? "--branch " : "", branch ? branch : "", branch ? " " : "", url, dir);
			json_decref(who);
		}
		free(log);
		free(dir);
	}
	if (d)
		closedir(d);
}

/* BASE/<hash of the database>-<hash of the mount point>; see cachedir.h. */
char *mps3_cli_cache_dir(const char *id, const char *mountpoint, const char *url, const char *branch)
{
	char db_hash[17], mnt_hash[17], *base = cache_base(), *old = NULL, *dir = NULL;
	struct stat st;
	int rc;

	if (!base)
		return NULL;
	hash16(db_hash, id);
	hash16(mnt_hash, mountpoint);
	if (asprintf(&old, "%s/%s", base, db_hash) < 0 || asprintf(&dir, "%s/%s-%s", base, db_hash, mnt_hash) < 0) {
		free(base);
		free(old);
		return NULL;
	}
	if (lstat(dir, &st) < 0 && errno == ENOENT && lstat(old, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = mps3_journal_rename_dir(old, dir);
		if (!rc)
			mps3_notice("%s: moved the cache directory %s to %s (one per mount point now)", url, old, dir);
		else if (rc != -EBUSY) /* in use: by a mount elsewhere, which keeps it */
			mps3_warn("%s: %s", url, mps3_error_last(rc));
	}
	warn_stranded(base, db_hash, dir, url, branch);
	free(old);
	free(base);
	return dir;
}

