/*
 * cli/cmd_keys.c - mps3 put, get, rm and ls: keys and their values.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mps3/chunks.h"
#include "mps3/error.h"
#include "mps3/history.h"
#include "mps3/hook.h"
#include "mps3/hash.h"
#include "mps3/json.h"
#include "mps3/log.h"
#include "cli.h"
#include "progress.h"

/* Values up to this size are verified before they are written out. */
#define GET_VERIFY_FIRST (64u << 20)

/* A key must not sit below a file, nor replace a directory that has children. */
static int check_placement(struct mps3_db *db, const char *key)
{
	char *copy = strdup(key), *slash;
	json_t *files = NULL;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (slash = strchr(copy, '/'); slash; slash = strchr(slash + 1, '/')) {
		struct mps3_entry e;
		json_t *hold = NULL;

		*slash = '\0';
		if (mps3_cli_lookup(db, copy, &e, &hold) == 0 && e.type != MPS3_DIR)
			rc = mps3_error_set(-ENOTDIR, "\"%s\" is a %s, so \"%s\" cannot be stored under it",
					    copy, e.type == MPS3_FILE ? "file" : "symbolic link", key);
		json_decref(hold);
		*slash = '/';
		if (rc)
			break;
	}
	free(copy);
	if (rc)
		return rc;
	files = mps3_db_files(db);
	if (files && mps3_cli_has_children(files, key))
		rc = mps3_error_set(-EISDIR, "\"%s\" is a directory with keys under it", key);
	json_decref(files);
	mps3_error_clear();
	return rc;
}

/* Spool a non-seekable input into an unlinked temporary file. */
static int spool(int in, int *out_fd, uint64_t *len)
{
	const char *dir = getenv("TMPDIR");
	char buf[1 << 16];
	int fd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	*len = 0;
	if (fd < 0)
		return mps3_error_set(-errno, "cannot create a temporary file: %s", strerror(errno));
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		ssize_t w = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			return mps3_error_set(-e, "cannot read input: %s", strerror(e));
		}
		if (n == 0)
			break;
		while (w < n) {
			ssize_t k = write(fd, buf + w, (size_t)(n - w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				int e = errno;

				close(fd);
				return mps3_error_set(-e, "cannot spool input: %s", strerror(e));
			}
			w += k;
		}
		*len += (uint64_t)n;
	}
	*out_fd = fd;
	return 0;
}

int mps3_cmd_put(struct ctx *c, const struct mps3_cli_args *a)
{
	const char *key, *file;
	struct mps3_body body;
	struct mps3_buf list = MPS3_BUF_INIT;
	struct stat st;
	unsigned char md[MPS3_SHA256_LEN];
	char hex[MPS3_SHA256_HEX_LEN + 1], chunks[MPS3_SHA256_HEX_LEN + 1];
	json_t *patch = NULL, *entry = NULL;
	struct mps3_cli_progress *progress = NULL;
	char label[128];
	int fd = -1, own_fd = 0, rc;

	key = a->pos[0];
	file = a->npos == 2 ? a->pos[1] : "-";
	rc = mps3_path_check(key);
	if (rc)
		return mps3_cli_fail(rc, "put");
	if (strcmp(file, "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "mps3: put: %s: %s\n", file, strerror(errno));
			return EXIT_FAILURE;
		}
		own_fd = 1;
	}
	if (fstat(fd, &st) < 0) {
		rc = mps3_error_set(-errno, "%s: %s", file, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = mps3_error_set(-EISDIR, "%s is a directory", file);
		goto out;
	}
	memset(&body, 0, sizeof(body));
	if (S_ISREG(st.st_mode)) {
		body.fd = fd;
		body.off = lseek(fd, 0, SEEK_CUR) > 0 ? lseek(fd, 0, SEEK_CUR) : 0;
		body.len = (uint64_t)(st.st_size - body.off);
	} else {
		int tmp;

		rc = spool(fd, &tmp, &body.len);
		if (rc)
			goto out;
		if (own_fd)
			close(fd);
		fd = tmp;
		own_fd = 1;
		body.fd = fd;
	}
	rc = check_placement(c->db, key);
	if (rc)
		goto out;
	if (c->validate) {
		char content[PATH_MAX], why[512], op[] = "MPS3_OP=close", *vars[4] = { op, NULL, NULL, NULL };
		int v;

		/* The content as the hook of a mount gets it: a file to read. */
		if (body.off == 0 && own_fd && S_ISREG(st.st_mode))
			snprintf(content, sizeof(content), "%s", file);
		else
			snprintf(content, sizeof(content), "/proc/%d/fd/%d", (int)getpid(), body.fd);
		if (asprintf(&vars[1], "MPS3_PATH=%s", key) < 0 || asprintf(&vars[2], "MPS3_CONTENT=%s", content) < 0) {
			rc = -ENOMEM;
			goto out;
		}
		v = mps3_hook_run(c->validate, vars, 10000, why, sizeof(why));
		free(vars[1]);
		free(vars[2]);
		if (v) {
			rc = mps3_error_set(-EPERM, "%s refused by %s: %s", key, c->validate, v < 0 ? strerror(-v) : why);
			goto out;
		}
	}
	/* One pass names the blob and makes its chunk list (a large file's). */
	rc = mps3_chunks_hash_fd(md, &list, body.fd, body.off, body.len);
	if (rc) {
		rc = mps3_error_set(rc, "cannot read %s: %s", file, strerror(-rc));
		goto out;
	}
	mps3_hex(hex, md, sizeof(md));
	body.sha256_hex = hex;
	snprintf(label, sizeof(label), "put %.100s", key);
	progress = mps3_cli_progress_start(label, body.len, 0, c->quiet);
	rc = mps3_db_blob_put(c->db, &body, hex);
	if (!rc && list.len) {
		struct mps3_body lb = { .data = list.data, .fd = -1, .len = list.len };

		rc = mps3_db_blob_put(c->db, &lb, chunks);
	}
	mps3_cli_progress_stop(progress, rc == 0);
	progress = NULL;
	if (rc)
		goto out;
	/* Content and type change; mode, owner and xattrs of an existing key stay. */
	entry = json_pack("{s:s, s:s, s:I, s:I, s:n, s:s?}", "type", "f", "blob", hex, "size",
			  (json_int_t)body.len, "mtime", (json_int_t)mps3_cli_now_ns(), "target", "chunks",
			  list.len ? chunks : NULL);
	if (entry && !list.len)
		json_object_set_new(entry, "chunks", json_null());
	patch = json_object();
	if (!entry || !patch || json_object_set(patch, key, entry)) {
		rc = -ENOMEM;
		goto out;
	}
	rc = mps3_db_commit(c->db, patch, NULL);
out:
	mps3_cli_progress_stop(progress, 0);
	mps3_buf_dispose(&list);
	json_decref(entry);
	json_decref(patch);
	if (own_fd)
		close(fd);
	return rc ? mps3_cli_fail(rc, "put") : 0;
}

int mps3_cmd_get(struct ctx *c, const struct mps3_cli_args *a)
{
	struct mps3_cli_progress *progress;
	char label[128];
	struct mps3_entry e;
	struct mps3_sink sink;
	json_t *hold = NULL;
	const char *key;
	int64_t at = 0;
	int fd = STDOUT_FILENO, rc;

	key = a->pos[0];
	if (a->val[OPT_AT] && mps3_cli_time(c, a->val[OPT_AT], &at))
		return mps3_cli_usage_error("--at needs a time like 2026-11-30T12:00:00Z, @1790000000 or -2h");
	rc = mps3_path_check(key);
	if (rc)
		return mps3_cli_fail(rc, "get");
	if (at) {
		json_t *files = NULL;

		rc = mps3_db_state_at(c->db, at, &files);
		if (rc)
			return mps3_cli_fail(rc, "get --at");
		hold = json_incref(json_object_get(files, key));
		json_decref(files);
		rc = hold ? mps3_entry_parse(&e, hold) : -ENOENT;
	} else {
		rc = mps3_cli_lookup(c->db, key, &e, &hold);
	}
	if (rc == -ENOENT || rc == -EINVAL) {
		fprintf(stderr, "mps3: get: %s: no such key\n", key);
		json_decref(hold);
		return EXIT_FAILURE;
	}
	if (e.type == MPS3_DIR) {
		fprintf(stderr, "mps3: get: %s: is a directory\n", key);
		json_decref(hold);
		return EXIT_FAILURE;
	}
	if (mps3_ftype_special(e.type)) {
		fprintf(stderr, "mps3: get: %s: is a FIFO, socket or device (it has no content)\n", key);
		json_decref(hold);
		return EXIT_FAILURE;
	}
	if (e.type == MPS3_LINK) {
		char *t = mps3_escape(e.target);

		fprintf(stderr, "mps3: get: %s: is a symbolic link to %s\n", key, t ? t : "?");
		free(t);
		json_decref(hold);
		return EXIT_FAILURE;
	}
	snprintf(label, sizeof(label), "get %.100s", key);
	progress = mps3_cli_progress_start(label, e.size, 1, c->quiet);
	if (e.size <= GET_VERIFY_FIRST) {
		/* Checked before a byte goes out: a corrupt blob is never printed. */
		struct mps3_buf buf;

		mps3_buf_init(&buf, (size_t)e.size + 1);
		mps3_sink_buf(&sink, &buf);
		rc = mps3_db_blob_get(c->db, e.blob, NULL, &sink);
		if (rc == 0 && buf.len != e.size)
			rc = mps3_error_set(-EIO, "%s: content has %zu bytes, the entry says %" PRIu64, key,
					    buf.len, e.size);
		if (rc == 0) {
			mps3_sink_fd(&sink, &fd);
			rc = buf.len ? sink.write(sink.ctx, buf.data, buf.len) : 0;
		}
		mps3_buf_dispose(&buf);
	} else {
		struct mps3_get_opts go = { NULL, 0, 0, e.size };

		mps3_sink_fd(&sink, &fd);
		rc = mps3_db_blob_get(c->db, e.blob, &go, &sink);
	}
	mps3_cli_progress_stop(progress, rc == 0);
	json_decref(hold);
	if (rc)
		return mps3_cli_fail(rc, key);
	return 0;
}

int mps3_cmd_rm(struct ctx *c, const struct mps3_cli_args *a)
{
	json_t *patch, *files = NULL;
	int recursive = a->count[OPT_RECURSIVE] > 0, i, rc = 0, missing = 0;

	patch = json_object();
	if (!patch)
		return mps3_cli_fail(-ENOMEM, "rm");
	files = mps3_db_files(c->db);
	for (i = 0; i < a->npos && files; i++) {
		const char *key = a->pos[i], *k;
		size_t n = strlen(key);
		struct mps3_entry e;
		json_t *v;
		int found = 0;

		rc = mps3_path_check(key);
		if (rc)
			break;
		v = json_object_get(files, key);
		if (v && mps3_entry_parse(&e, v) == 0) {
			found = 1;
			if (e.type == MPS3_DIR && !recursive && mps3_cli_has_children(files, key)) {
				rc = mps3_error_set(-ENOTEMPTY, "%s: directory not empty (use rm -r)", key);
				break;
			}
			json_object_set_new(patch, key, json_null());
		}
		json_object_foreach(files, k, v) {
			if (strncmp(k, key, n) == 0 && k[n] == '/' && mps3_entry_parse(&e, v) == 0) {
				if (!recursive) {
					rc = mps3_error_set(-EISDIR, "%s: is a directory (use rm -r)", key);
					break;
				}
				found = 1;
				json_object_set_new(patch, k, json_null());
			}
		}
		if (rc)
			break;
		if (!found) {
			fprintf(stderr, "mps3: rm: %s: no such key\n", key);
			missing = 1;
		}
	}
	if (!files)
		rc = -ENOMEM;
	if (rc == 0 && json_object_size(patch) > 0)
		rc = mps3_db_commit(c->db, patch, NULL);
	json_decref(patch);
	json_decref(files);
	if (rc)
		return mps3_cli_fail(rc, "rm");
	return missing ? EXIT_FAILURE : 0;
}

static void mode_string(char out[11], const struct mps3_entry *e)
{
	uint32_t m = e->mode;
	static const char rwx[] = "rwxrwxrwx";
	const char *types = "fdlpscb", *letters = "-dlpscb";
	int i;

	if (m == MPS3_UNSET_MODE)
		m = e->type == MPS3_DIR ? 0755 : e->type == MPS3_LINK ? 0777 : 0644;
	out[0] = letters[strchr(types, (char)e->type) - types];
	for (i = 0; i < 9; i++)
		out[1 + i] = (m & (1u << (8 - i))) ? rwx[i] : '-';
	out[10] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int mps3_cmd_ls(struct ctx *c, const struct mps3_cli_args *a)
{
	const char *prefix = a->npos ? a->pos[0] : "", *k;
	const char **keys = NULL;
	json_t *files, *v;
	size_t n = 0, i, plen;
	int lng = a->count[OPT_LONG] > 0, js = a->count[OPT_JSON] > 0;
	files = mps3_db_files(c->db);
	if (!files)
		return mps3_cli_fail(-ENOMEM, "ls");
	keys = calloc(json_object_size(files) + 1, sizeof(*keys));
	if (!keys) {
		json_decref(files);
		return mps3_cli_fail(-ENOMEM, "ls");
	}
	plen = strlen(prefix);
	json_object_foreach(files, k, v) {
		struct mps3_entry e;

		if (strncmp(k, prefix, plen) == 0 && mps3_entry_parse(&e, v) == 0)
			keys[n++] = k;
	}
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (i = 0; i < n; i++) {
		json_t *val = json_object_get(files, keys[i]);
		struct mps3_entry e;

		mps3_entry_parse(&e, val);
		if (js) {
			json_t *line = json_pack("{s:s, s:O}", "key", keys[i], "entry", val);
			char *s = line ? mps3_json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

			if (s)
				printf("%s\n", s);
			free(s);
			json_decref(line);
		} else if (lng) {
			char mode[11], when[32] = "-";
			time_t secs = (time_t)(e.mtime_ns / 1000000000);
			struct tm tm;
			char *name = mps3_escape(keys[i]), *t = e.type == MPS3_LINK ? mps3_escape(e.target) : NULL;

			mode_string(mode, &e);
			if (e.mtime_ns && gmtime_r(&secs, &tm))
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			printf("%s %12" PRIu64 " %s %s%s%s%s\n", mode, e.size, when, name ? name : "?",
			       e.type == MPS3_DIR ? "/" : "", e.type == MPS3_LINK ? " -> " : "", t ? t : "");
			free(name);
			free(t);
		} else {
			/* Names from the bucket, for a terminal: escaped as ls -b does (--json is exact). */
			char *name = mps3_escape(keys[i]);

			printf("%s%s\n", name ? name : "?", e.type == MPS3_DIR ? "/" : "");
			free(name);
		}
	}
	free(keys);
	json_decref(files);
	return fflush(stdout) == 0 ? 0 : EXIT_FAILURE;
}
