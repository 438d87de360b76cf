/*
 * store/store_file.c - a local directory that behaves like a bucket.
 *
 * Key "a/b/c" lives in ROOT/<esc("a/b/")>/<esc("c")>: one directory per key
 * dirname, so listing a prefix such as "log/" reads one directory, not the
 * whole bucket.  esc() percent-encodes every byte outside [A-Za-z0-9_.-]
 * (and a leading '.'), and writes the empty string as "@", so names are
 * reversible and never collide with ROOT/.tmp.  PUT writes a temporary file,
 * fsyncs it and renames it over the key: readers in any process see the old
 * or the new object, and a crash leaves one of them.  LastModified is the
 * file's mtime; the ETag is the MD5 of the content (as S3 reports for a
 * single-part upload), kept in a user.mps3.etag xattr where the filesystem
 * has xattrs and computed on demand otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "mps3/clock.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/io.h"
#include "mps3/log.h"
#include "mps3/rand.h"
#include "mps3/sys/store_backend.h"
#include "file_keys.h"

#define ETAG_XATTR "user.mps3.etag"
#define TMP_DIR ".tmp"
#define CHUNK (1 << 20)

#define RETIRED_MAX 64
#define DIR_CACHE 4

/*
 * The keys of one directory of objects as last read, reused while the
 * directory is unchanged: paging a long log through 1000-key pages would
 * otherwise read the whole directory once per page.
 */
struct dir_cache {
	char dname[NAME_MAX + 1];
	dev_t dev;
	ino_t ino;
	struct timespec mtim;
	struct mps3_listing keys;	/* every key of the directory */
	uint64_t used;
};

struct file_store {
	struct mps3_store base;
	struct mps3_clock clock;
	char *root;
	pthread_mutex_t lock;
	int rootfd;			/* the directory root names now; protected by lock */
	int retired[RETIRED_MAX];	/* earlier ones, kept open for requests still using them */
	unsigned nretired;		/* protected by lock */
	struct dir_cache dirs[DIR_CACHE];	/* protected by lock */
	uint64_t uses;			/* protected by lock */
};

/*
 * The store's directory as an fd (borrowed), reopened when root names
 * another directory than the one open (removed and made again, as a
 * bucket can be).  A directory that is gone is an error of the store, not
 * an empty one: nothing then looks deleted.
 */
static int root_fd(struct file_store *f, const char *op)
{
	struct stat now, open_st;
	int fd, rc = 0;

	if (stat(f->root, &now) < 0)
		return mps3_error_set(-EIO, "%s: store directory %s: %s", op, f->root, strerror(errno));
	if (!S_ISDIR(now.st_mode))
		return mps3_error_set(-EIO, "%s: store directory %s is not a directory", op, f->root);
	pthread_mutex_lock(&f->lock);
	if (fstat(f->rootfd, &open_st) == 0 && open_st.st_dev == now.st_dev && open_st.st_ino == now.st_ino) {
		fd = f->rootfd;
		pthread_mutex_unlock(&f->lock);
		return fd;
	}
	fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (mkdirat(fd, TMP_DIR, 0700) < 0 && errno != EEXIST)) {
		rc = mps3_error_set(-errno, "%s: cannot open store directory %s: %s", op, f->root, strerror(errno));
		if (fd >= 0)
			close(fd);
		pthread_mutex_unlock(&f->lock);
		return rc;
	}
	if (f->nretired == RETIRED_MAX) {
		close(f->retired[0]); /* 64 directories ago: no request still runs on it */
		memmove(f->retired, f->retired + 1, (RETIRED_MAX - 1) * sizeof(int));
		f->nretired--;
	}
	f->retired[f->nretired++] = f->rootfd;
	f->rootfd = fd;
	pthread_mutex_unlock(&f->lock);
	mps3_notice("file://%s: the store directory was made again; using the new one", f->root);
	return fd;
}

/*
 * The directory of a key's escaped dirname (made first if create): an fd
 * (owned), -ENOENT, or -EIO for anything but a real directory.  Nothing in
 * the bucket directory is followed: a symlink planted there by a writer
 * of the bucket must not lead a put or a sweep outside it.
 */
static int key_dir(struct file_store *f, const char *op, const char *dir, int create)
{
	struct stat st;
	int rfd = root_fd(f, op), dfd;

	if (rfd < 0)
		return rfd;
	if (create && mkdirat(rfd, dir, 0700) < 0 && errno != EEXIST)
		return mps3_error_set(-errno, "%s: cannot create %s/%s: %s", op, f->root, dir, strerror(errno));
	dfd = openat(rfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0)
		return dfd;
	if (create && (errno == ELOOP || errno == ENOTDIR) && fstatat(rfd, dir, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode)) {
		/* A link where a directory of objects belongs holds none of ours: a real directory replaces it. */
		if (unlinkat(rfd, dir, 0) == 0 && mkdirat(rfd, dir, 0700) == 0)
			dfd = openat(rfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd >= 0)
			return dfd;
	}
	if (errno == ENOENT)
		return -ENOENT;
	if (errno == ELOOP || errno == ENOTDIR)
		return mps3_error_set(-EIO, "%s: %s/%s is not a directory (a link or a file planted in the store)", op,
				      f->root, dir);
	return mps3_error_set(-errno, "%s: %s/%s: %s", op, f->root, dir, strerror(errno));
}

/* The store's scratch directory, made again if something else took its name.  fd (owned) or -errno. */
static int tmp_dir(int rfd)
{
	int fd = openat(rfd, TMP_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)) {
		if (errno != ENOENT)
			unlinkat(rfd, TMP_DIR, 0); /* a link or a file: only the name goes */
		if (mkdirat(rfd, TMP_DIR, 0700) < 0 && errno != EEXIST)
			return -errno;
		fd = openat(rfd, TMP_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

static int etag_of_fd(char out[MPS3_ETAG_MAX], int fd, uint64_t size, int cache)
{
	ssize_t n = fgetxattr(fd, ETAG_XATTR, out, MPS3_ETAG_MAX - 1);
	struct mps3_md5 h;
	unsigned char md[16];
	char *buf = NULL;
	off_t off = 0;
	int rc;

	if (n == 32) {
		out[n] = '\0';
		return 0;
	}
	rc = mps3_md5_init(&h);
	if (rc)
		return rc;
	buf = malloc(CHUNK);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while ((uint64_t)off < size) {
		ssize_t got = pread(fd, buf, CHUNK, off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rc = got < 0 ? -errno : -EIO;
			goto out;
		}
		mps3_md5_update(&h, buf, (size_t)got);
		off += got;
	}
	mps3_md5_final(&h, md);
	mps3_hex(out, md, 16);
	if (cache)
		(void)fsetxattr(fd, ETAG_XATTR, out, 32, 0);
out:
	mps3_md5_dispose(&h);
	free(buf);
	return rc;
}

static void fill_info(struct mps3_objinfo *info, const struct stat *st)
{
	info->size = (uint64_t)st->st_size;
	info->mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

/* Open key for reading: fd >= 0, or -ENOENT. */
static int open_key(struct file_store *f, const char *op, const char *key, struct stat *st)
{
	char dir[NAME_MAX + 1], file[NAME_MAX + 1];
	int fd, dfd, rc;

	rc = mps3_file_key_names(op, key, dir, file);
	if (rc)
		return rc;
	dfd = key_dir(f, op, dir, 0);
	if (dfd == -ENOENT)
		return mps3_error_set(-ENOENT, "%s %s: NoSuchKey", op, key);
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	rc = fd < 0 ? -errno : 0;
	close(dfd);
	if (fd < 0) {
		if (rc == -ENOENT)
			return mps3_error_set(-ENOENT, "%s %s: NoSuchKey", op, key);
		if (rc == -ELOOP)
			return mps3_error_set(-EIO, "%s %s: a link in the store, not an object", op, key);
		return mps3_error_set(rc, "%s %s: %s", op, key, strerror(-rc));
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return mps3_error_set(-EIO, "%s %s: not a regular file in the store", op, key);
	}
	return fd;
}

static int file_get(struct mps3_store *s, const char *key, const struct mps3_get_opts *opts,
		    struct mps3_sink *sink, struct mps3_objinfo *info)
{
	struct file_store *f = (struct file_store *)s;
	struct mps3_objinfo tmp;
	struct stat st;
	char *buf = NULL;
	uint64_t off, end;
	int fd, rc = 0;

	mps3_store_local_clock_tick(s);
	if (!info)
		info = &tmp;
	fd = open_key(f, "GetObject", key, &st);
	if (fd < 0)
		return fd;
	fill_info(info, &st);
	rc = etag_of_fd(info->etag, fd, info->size, 1);
	if (rc) {
		rc = mps3_error_set(rc, "GetObject %s: cannot read: %s", key, strerror(-rc));
		goto out;
	}
	if (opts->if_none_match && strcmp(opts->if_none_match, info->etag) == 0) {
		rc = MPS3_NOT_MODIFIED;
		goto out;
	}
	off = opts->off < info->size ? opts->off : info->size;
	end = info->size;
	if (opts->len && opts->len < end - off)
		end = off + opts->len;
	buf = malloc(CHUNK);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (off < end) {
		size_t want = end - off < CHUNK ? (size_t)(end - off) : CHUNK;
		ssize_t got = pread(fd, buf, want, (off_t)off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rc = mps3_error_set(got < 0 ? -errno : -EIO,
					    "GetObject %s: object changed or unreadable while reading", key);
			goto out;
		}
		rc = sink->write(sink->ctx, buf, (size_t)got);
		if (rc)
			goto out;
		off += (uint64_t)got;
	}
out:
	free(buf);
	close(fd);
	return rc;
}

static int file_head(struct mps3_store *s, const char *key, struct mps3_objinfo *info)
{
	struct file_store *f = (struct file_store *)s;
	struct mps3_objinfo tmp;
	struct stat st;
	int fd, rc;

	mps3_store_local_clock_tick(s);
	if (!info)
		info = &tmp;
	fd = open_key(f, "HeadObject", key, &st);
	if (fd < 0)
		return fd;
	fill_info(info, &st);
	rc = etag_of_fd(info->etag, fd, info->size, 1);
	close(fd);
	return rc;
}

/* Copy the body into fd while computing its MD5. */
static int write_body(int fd, const struct mps3_body *body, char etag[MPS3_ETAG_MAX])
{
	struct mps3_md5 h;
	unsigned char md[16];
	char *buf = NULL;
	uint64_t done = 0;
	int rc = mps3_md5_init(&h);

	if (rc)
		return rc;
	if (body->data) {
		mps3_md5_update(&h, body->data, (size_t)body->len);
		rc = mps3_write_all(fd, body->data, (size_t)body->len);
		goto done;
	}
	buf = malloc(CHUNK);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (done < body->len) {
		size_t want = body->len - done < CHUNK ? (size_t)(body->len - done) : CHUNK;

		rc = mps3_pread_all(body->fd, buf, want, body->off + (off_t)done);
		if (!rc) {
			mps3_md5_update(&h, buf, want);
			rc = mps3_write_all(fd, buf, want);
		}
		if (rc)
			goto out;
		done += want;
	}
done:
	if (!rc) {
		mps3_md5_final(&h, md);
		mps3_hex(etag, md, 16);
	}
out:
	mps3_md5_dispose(&h);
	free(buf);
	return rc;
}

static int file_put(struct mps3_store *s, const char *key, const struct mps3_body *body,
		    struct mps3_objinfo *info)
{
	struct file_store *f = (struct file_store *)s;
	char dir[NAME_MAX + 1], file[NAME_MAX + 1];
	char tmp[64], etag[MPS3_ETAG_MAX];
	struct stat st;
	int fd = -1, dfd = -1, tfd = -1, rc, rfd;

	mps3_store_local_clock_tick(s);
	rc = mps3_file_key_names("PutObject", key, dir, file);
	if (rc)
		return rc;
	if (mps3_random_hex(tmp, 8))
		return mps3_error_set(-EIO, "PutObject %s: no randomness", key);
	rfd = root_fd(f, "PutObject");
	if (rfd < 0)
		return rfd;
	dfd = key_dir(f, "PutObject", dir, 1);
	if (dfd < 0)
		return dfd;
	tfd = tmp_dir(rfd);
	fd = tfd < 0 ? -1 : openat(tfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = mps3_error_set(tfd < 0 ? tfd : -errno, "PutObject %s: cannot create a temporary file in %s/%s: %s",
				    key, f->root, TMP_DIR, strerror(tfd < 0 ? -tfd : errno));
		goto fail;
	}
	rc = write_body(fd, body, etag);
	if (rc) {
		rc = mps3_error_set(rc, "PutObject %s: %s", key, strerror(-rc));
		goto fail;
	}
	(void)fsetxattr(fd, ETAG_XATTR, etag, strlen(etag), 0);
	/* Durable before visible: a crash leaves the old or the new object. */
	if (fdatasync(fd) < 0 || fstat(fd, &st) < 0) {
		rc = mps3_error_set(-errno, "PutObject %s: %s", key, strerror(errno));
		goto fail;
	}
	/* rename(2) replaces a final link itself, never what it points to. */
	if (renameat(tfd, tmp, dfd, file) < 0) {
		rc = mps3_error_set(-errno, "PutObject %s: %s", key, strerror(errno));
		goto fail;
	}
	close(fd);
	close(tfd);
	fsync(dfd);
	close(dfd);
	if (info) {
		fill_info(info, &st);
		memcpy(info->etag, etag, sizeof(etag));
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (tfd >= 0) {
		unlinkat(tfd, tmp, 0);
		close(tfd);
	}
	close(dfd);
	return rc;
}

static int file_del(struct mps3_store *s, const char *key)
{
	struct file_store *f = (struct file_store *)s;
	char dir[NAME_MAX + 1], file[NAME_MAX + 1];
	int rc, dfd;

	mps3_store_local_clock_tick(s);
	rc = mps3_file_key_names("DeleteObject", key, dir, file);
	if (rc)
		return rc;
	dfd = key_dir(f, "DeleteObject", dir, 0);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	rc = unlinkat(dfd, file, 0) < 0 && errno != ENOENT ? -errno : 0;
	close(dfd);
	if (rc)
		return mps3_error_set(rc, "DeleteObject %s: %s", key, strerror(-rc));
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct mps3_list_entry *)a)->key,
		      ((const struct mps3_list_entry *)b)->key);
}

/* Every key of the open directory dfd (dname, keys start with dkey) into out. */
static int read_dir(int dfd, const char *dkey, struct mps3_listing *out)
{
	char file[NAME_MAX + 1], key[2 * NAME_MAX + 2];
	size_t dlen = strlen(dkey);
	struct dirent *de;
	DIR *d = fdopendir(dfd);
	int rc = 0;

	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		struct mps3_objinfo info;
		struct stat st;

		if (de->d_name[0] == '.' || mps3_file_unesc(file, de->d_name))
			continue;
		memcpy(key, dkey, dlen);
		strcpy(key + dlen, file);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* deleted while listing */
			rc = -errno;
			break;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		memset(&info, 0, sizeof(info));
		fill_info(&info, &st);
		/* Files never PUT through a store have no cached ETag; listing leaves it empty. */
		{
			char full[PATH_MAX];
			ssize_t n;

			/* Through the directory already open, not its name: nothing is followed. */
			snprintf(full, sizeof(full), "/proc/self/fd/%d/%s", dirfd(d), de->d_name);
			n = lgetxattr(full, ETAG_XATTR, info.etag, MPS3_ETAG_MAX - 1);
			info.etag[n == 32 ? 32 : 0] = '\0';
		}
		rc = mps3_listing_add(out, key, strlen(key), &info);
		if (rc)
			break;
	}
	closedir(d);
	return rc;
}

static int filter_into(const struct mps3_listing *keys, const char *prefix, const char *after,
		       struct mps3_listing *all)
{
	size_t plen = strlen(prefix), i;
	int rc = 0;

	for (i = 0; !rc && i < keys->n; i++) {
		const char *key = keys->v[i].key;

		if (strncmp(key, prefix, plen) == 0 && !(after && strcmp(key, after) <= 0))
			rc = mps3_listing_add(all, key, strlen(key), &keys->v[i].info);
	}
	return rc;
}

/* Lock held: the cached keys of directory dname as it is now (st), or NULL. */
static struct dir_cache *cached(struct file_store *f, const char *dname, const struct stat *st)
{
	size_t i;

	for (i = 0; i < DIR_CACHE; i++) {
		struct dir_cache *c = &f->dirs[i];

		if (c->used && strcmp(c->dname, dname) == 0 && c->dev == st->st_dev && c->ino == st->st_ino &&
		    c->mtim.tv_sec == st->st_mtim.tv_sec && c->mtim.tv_nsec == st->st_mtim.tv_nsec) {
			c->used = ++f->uses;
			return c;
		}
	}
	return NULL;
}

/* Every key of one dirname directory that starts with prefix and sorts after `after`. */
static int list_dir(struct file_store *f, int rfd, const char *dname, const char *dkey,
		    const char *prefix, const char *after, struct mps3_listing *all)
{
	struct mps3_listing keys;
	struct dir_cache *c;
	struct timespec now;
	struct stat st;
	int dfd, rc;

	dfd = openat(rfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT || errno == ELOOP || errno == ENOTDIR ? 0 : -errno; /* not one of ours */
	if (fstat(dfd, &st) < 0) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	pthread_mutex_lock(&f->lock);
	c = cached(f, dname, &st);
	rc = c ? filter_into(&c->keys, prefix, after, all) : 1;
	pthread_mutex_unlock(&f->lock);
	if (rc <= 0) {
		close(dfd);
		return rc;
	}
	mps3_listing_init(&keys);
	rc = read_dir(dfd, dkey, &keys);
	if (!rc)
		rc = filter_into(&keys, prefix, after, all);
	/*
	 * Kept for the next page only if the directory's time is a second old:
	 * a change within the same tick of its clock would not move it.
	 */
	clock_gettime(CLOCK_REALTIME, &now);
	if (!rc && now.tv_sec - st.st_mtim.tv_sec >= 2 && strlen(dname) < NAME_MAX) {
		size_t i, lru = 0;

		pthread_mutex_lock(&f->lock);
		for (i = 1; i < DIR_CACHE; i++)
			if (f->dirs[i].used < f->dirs[lru].used)
				lru = i;
		c = &f->dirs[lru];
		mps3_listing_dispose(&c->keys);
		snprintf(c->dname, sizeof(c->dname), "%s", dname);
		c->dev = st.st_dev;
		c->ino = st.st_ino;
		c->mtim = st.st_mtim;
		c->keys = keys;
		c->used = ++f->uses;
		mps3_listing_init(&keys);
		pthread_mutex_unlock(&f->lock);
	}
	mps3_listing_dispose(&keys);
	return rc;
}

static int file_list(struct mps3_store *s, const char *prefix, const char *start_after,
		     const char *token, unsigned max, struct mps3_listing *out)
{
	struct file_store *f = (struct file_store *)s;
	const char *after = token ? token : start_after;
	struct mps3_listing all;
	char dkey[NAME_MAX + 1];
	struct dirent *de;
	DIR *d = NULL;
	size_t plen = strlen(prefix), i;
	int dfd, rc = 0, rfd;

	mps3_store_local_clock_tick(s);
	mps3_listing_init(&all);
	rfd = root_fd(f, "ListObjectsV2");
	if (rfd < 0)
		return rfd;
	dfd = openat(rfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		rc = mps3_error_set(-errno, "ListObjectsV2 %s: cannot read %s: %s", prefix,
				    f->root, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		size_t dlen;

		if (de->d_name[0] == '.' || mps3_file_unesc(dkey, de->d_name))
			continue;
		dlen = strlen(dkey);
		/* Keys in this directory all start with dkey: skip it unless it can match. */
		if (strncmp(dkey, prefix, dlen < plen ? dlen : plen) != 0)
			continue;
		rc = list_dir(f, rfd, de->d_name, dkey, prefix, after, &all);
		if (rc) {
			rc = mps3_error_set(rc, "ListObjectsV2 %s: %s", prefix, strerror(-rc));
			goto out;
		}
	}
	if (all.n > 1)
		qsort(all.v, all.n, sizeof(*all.v), cmp_entry);
	for (i = 0; i < all.n; i++) {
		if (out->n == max) {
			out->truncated = 1;
			out->next_token = strdup(out->v[out->n - 1].key);
			if (!out->next_token)
				rc = -ENOMEM;
			break;
		}
		rc = mps3_listing_add(out, all.v[i].key, strlen(all.v[i].key), &all.v[i].info);
		if (rc)
			break;
	}
out:
	if (d)
		closedir(d);
	mps3_listing_dispose(&all);
	return rc;
}

static void file_free(struct mps3_store *s)
{
	struct file_store *f = (struct file_store *)s;

	if (f->rootfd >= 0)
		close(f->rootfd);
	while (f->nretired > 0)
		close(f->retired[--f->nretired]);
	for (size_t i = 0; i < DIR_CACHE; i++)
		mps3_listing_dispose(&f->dirs[i].keys);
	pthread_mutex_destroy(&f->lock);
	mps3_clock_dispose(&f->clock);
	free(f->root);
	free(f->base.url);
	free(f);
}

static const struct mps3_store_ops file_ops = {
	.scheme = "file",
	.get = file_get,
	.put = file_put,
	.head = file_head,
	.del = file_del,
	.list = file_list,
	.free = file_free,
};

/* Temporary files of writers that died mid-PUT: gone after an hour. */
static void sweep_tmp(struct file_store *f)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int dfd = tmp_dir(f->rootfd);
	time_t now = time(NULL);

	if (dfd < 0)
		return;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && now - st.st_mtime > 3600)
			unlinkat(dfd, de->d_name, 0);
	}
	closedir(d);
}

int mps3_store_file_new(struct mps3_store **out, const char *dir, int create)
{
	struct file_store *f = NULL;
	size_t len;
	int rc;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->rootfd = -1;
	pthread_mutex_init(&f->lock, NULL);
	mps3_clock_init(&f->clock);
	f->base.ops = &file_ops;
	f->base.clock = &f->clock;
	f->root = strdup(dir);
	if (!f->root) {
		rc = -ENOMEM;
		goto fail;
	}
	len = strlen(f->root);
	while (len > 1 && f->root[len - 1] == '/')
		f->root[--len] = '\0';
	if (asprintf(&f->base.url, "file://%s", f->root) < 0) {
		f->base.url = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	if (create) {
		rc = mps3_mkdir_p(f->root, 0700);
		if (rc) {
			rc = mps3_error_set(rc, "cannot create store directory %s: %s", f->root,
					    strerror(-rc));
			goto fail;
		}
	}
	f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->rootfd < 0) {
		rc = mps3_error_set(-errno, "cannot open store directory %s: %s", f->root,
				    strerror(errno));
		goto fail;
	}
	if (mkdirat(f->rootfd, TMP_DIR, 0700) < 0 && errno != EEXIST) {
		rc = mps3_error_set(-errno, "cannot create %s/%s: %s", f->root, TMP_DIR,
				    strerror(errno));
		goto fail;
	}
	sweep_tmp(f);
	*out = &f->base;
	return 0;
fail:
	file_free(&f->base);
	return rc;
}
