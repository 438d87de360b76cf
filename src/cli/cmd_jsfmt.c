/*
 * cli/cmd_jsfmt.c - the commands of `mps3 --format mps3 URL ...`: get, put,
 * rm, ls, watch and log on a database in the MPS3 JavaScript client's
 * layout (mps3/jsdb.h).  Other commands are usage errors: what they do
 * (checkpoints, history, branches, gc) has no meaning in that layout.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mps3/error.h"
#include "mps3/io.h"
#include "mps3/jsdb.h"
#include "mps3/jsfmt.h"
#include "mps3/json.h"
#include "mps3/timefmt.h"
#include "cli.h"

/* All of fd into b (its limit applies).  0, -EFBIG or the read's error. */
static int read_all(int fd, struct mps3_buf *b)
{
	char chunk[65536];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mps3_error_set(-errno, "read: %s", strerror(errno));
		if (n == 0)
			return 0;
		rc = mps3_buf_append(b, chunk, (size_t)n);
		if (rc)
			return rc == -EFBIG ? mps3_error_set(-EFBIG, "more than the %zu bytes an MPS3 value may have",
							   MPS3_JS_VALUE_MAX)
					    : rc;
	}
}

static int js_put(struct mps3_jsdb *db, const struct mps3_cli_args *a)
{
	struct mps3_buf b;
	const char *file = a->npos == 2 ? a->pos[1] : "-";
	int fd = STDIN_FILENO, rc;

	if (strcmp(file, "-") != 0) {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "mps3: put: %s: %s\n", file, strerror(errno));
			return EXIT_FAILURE;
		}
	}
	mps3_buf_init(&b, MPS3_JS_VALUE_MAX);
	rc = read_all(fd, &b);
	if (fd != STDIN_FILENO)
		close(fd);
	if (!rc)
		rc = mps3_jsdb_write(db, a->pos[0], b.data ? b.data : "", b.len);
	mps3_buf_dispose(&b);
	return rc ? mps3_cli_fail(rc, "put") : 0;
}

static int js_get(struct mps3_jsdb *db, const struct mps3_cli_args *a)
{
	struct mps3_buf b;
	int rc;

	mps3_buf_init(&b, 0);
	rc = mps3_jsdb_read(db, a->pos[0], &b);
	if (!rc && b.len && mps3_write_all(STDOUT_FILENO, b.data, b.len))
		rc = mps3_error_set(-EIO, "standard output: %s", strerror(errno));
	mps3_buf_dispose(&b);
	return rc ? mps3_cli_fail(rc, "get") : 0;
}

static int js_rm(struct mps3_jsdb *db, const struct mps3_cli_args *a)
{
	int i, rc = 0;

	for (i = 0; i < a->npos && !rc; i++)
		rc = mps3_jsdb_write(db, a->pos[i], NULL, 0);
	return rc ? mps3_cli_fail(rc, "rm") : 0;
}

/* One JSON line on standard output (line is consumed; NULL: out of memory, nothing printed). */
static void put_line(json_t *line)
{
	char *s = line ? mps3_json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(line);
}

/* "put"/"rm" lines for the difference of two path maps under prefix. */
static void print_diff(json_t *old, json_t *new, const char *prefix, int as_json)
{
	size_t plen = strlen(prefix);
	const char *path;
	json_t *v;

	json_object_foreach(new, path, v) {
		const char *was = mps3_js_version(json_object_get(old, path)), *now = mps3_js_version(v);

		if (strncmp(path, prefix, plen) != 0 || (was && now && strcmp(was, now) == 0))
			continue;
		if (as_json) {
			put_line(json_pack("{s:s, s:s, s:s?}", "op", "put", "key", path, "version", now));
		} else {
			char *k = mps3_escape(path);

			printf("put\t%s\n", k ? k : "?");
			free(k);
		}
	}
	json_object_foreach(old, path, v) {
		if (strncmp(path, prefix, plen) != 0 || json_object_get(new, path))
			continue;
		if (as_json) {
			put_line(json_pack("{s:s, s:s}", "op", "rm", "key", path));
		} else {
			char *k = mps3_escape(path);

			printf("rm\t%s\n", k ? k : "?");
			free(k);
		}
	}
	fflush(stdout);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int js_ls(struct mps3_jsdb *db, const struct mps3_cli_args *a)
{
	const char *prefix = a->npos ? a->pos[0] : "", *path, **names;
	int long_fmt = a->count[OPT_LONG] > 0, as_json = a->count[OPT_JSON] > 0;
	size_t n = 0, i, plen;
	json_t *paths, *v;

	paths = mps3_jsdb_paths(db);
	names = paths ? calloc(json_object_size(paths) + 1, sizeof(*names)) : NULL;
	if (!names) {
		json_decref(paths);
		return mps3_cli_fail(-ENOMEM, "ls");
	}
	plen = strlen(prefix);
	json_object_foreach(paths, path, v) {
		if (strncmp(path, prefix, plen) == 0)
			names[n++] = path;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		const char *version = mps3_js_version(json_object_get(paths, names[i]));

		if (as_json) {
			put_line(json_pack("{s:s, s:s?}", "key", names[i], "version", version));
		} else {
			char *k = mps3_escape(names[i]), *ver = mps3_escape(version ? version : "-");

			if (long_fmt)
				printf("%-36s  %s\n", ver ? ver : "?", k ? k : "?");
			else
				printf("%s\n", k ? k : "?");
			free(k);
			free(ver);
		}
	}
	free(names);
	json_decref(paths);
	return ferror(stdout) ? EXIT_FAILURE : 0;
}

struct mps3_ctx_js {
	struct mps3_jsdb *db;
	int64_t poll_ms;
	const char *prefix;
	int as_json;
	const char *url;
};

static int js_watch(struct mps3_ctx_js *w)
{
	struct sigaction sa;
	json_t *old = mps3_jsdb_paths(w->db);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = mps3_cli_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if (!old)
		return mps3_cli_fail(-ENOMEM, "watch");
	fprintf(stderr, "mps3: watching %s; changes from now on follow\n", w->url);
	while (!mps3_cli_stop && !ferror(stdout)) {
		struct timespec ts = { (time_t)(w->poll_ms / 1000), (long)(w->poll_ms % 1000) * 1000000 };
		int changed = 0, rc;

		nanosleep(&ts, NULL);
		if (mps3_cli_stop)
			break;
		rc = mps3_jsdb_refresh(w->db, &changed);
		if (rc) {
			fprintf(stderr, "mps3: watch: %s (trying again)\n", mps3_error_last(rc));
			continue;
		}
		if (changed) {
			json_t *now = mps3_jsdb_paths(w->db);

			if (now) {
				print_diff(old, now, w->prefix, w->as_json);
				json_decref(old);
				old = now;
			}
		}
	}
	json_decref(old);
	return 0;
}

struct log_js {
	int as_json;
	unsigned limit, n;
};

static int on_entry(void *arg, const struct mps3_jsdb_entry *e)
{
	struct log_js *l = arg;
	const char *at = strrchr(e->name, '@');
	char when[25] = "-";

	if (l->limit && l->n++ >= l->limit)
		return 1;
	if (e->t > 0)
		mps3_time_format_iso8601(when, e->t);
	if (l->as_json) {
		put_line(json_pack("{s:s, s:I, s:s, s:I, s:O?}", "name", e->name, "t", (json_int_t)e->t, "status",
				   e->status, "size", (json_int_t)e->size, "update", e->update));
	} else {
		/* ASCII only: nothing from the bucket reaches the terminal raw. */
		size_t fl = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII;
		char *u = e->update ? mps3_json_dumps(e->update, fl) : NULL;
		char *name = mps3_escape(at ? at + 1 : e->name);

		printf("%s  %-20s  %-8s  %s\n", when, name ? name : "?", e->status, u ? u : "");
		free(u);
		free(name);
	}
	return ferror(stdout) ? -EPIPE : 0;
}

static int js_log(struct mps3_jsdb *db, const struct mps3_cli_args *a)
{
	struct log_js l = { a->count[OPT_JSON] > 0, (unsigned)a->num[OPT_COUNT], 0 };
	int rc;

	rc = mps3_jsdb_log(db, on_entry, &l);
	if (rc == 1)
		rc = 0;
	if (rc == -EPIPE)
		return EXIT_FAILURE;
	return rc ? mps3_cli_fail(rc, "log") : 0;
}

int mps3_cmd_js_check(const struct mps3_cli_args *a)
{
	static const char *const known[] = { "get", "put", "rm", "ls", "watch", "log" };
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]) && strcmp(a->cmd->name, known[i]) != 0; i++)
		;
	if (i == sizeof(known) / sizeof(known[0]))
		return mps3_cli_usage_error("not a command of --format mps3 (get, put, rm, ls, watch, log)");
	if (a->val[OPT_AT])
		return mps3_cli_usage_error("--at has no meaning with --format mps3 (it keeps no history)");
	if (a->count[OPT_RECURSIVE])
		return mps3_cli_usage_error("-r has no meaning with --format mps3 (its directories are implicit)");
	if (strcmp(a->cmd->name, "log") == 0 && (a->npos || a->count[OPT_ENTRIES]))
		return mps3_cli_usage_error("with --format mps3, log takes only -n N and --json: it lists the "
					    "manifest's entries");
	return 0;
}

int mps3_cmd_js(struct ctx *c, struct mps3_jsdb *db, const struct mps3_cli_args *a)
{
	const char *cmd = a->cmd->name;

	if (strcmp(cmd, "put") == 0)
		return js_put(db, a);
	if (strcmp(cmd, "get") == 0)
		return js_get(db, a);
	if (strcmp(cmd, "rm") == 0)
		return js_rm(db, a);
	if (strcmp(cmd, "ls") == 0)
		return js_ls(db, a);
	if (strcmp(cmd, "log") == 0)
		return js_log(db, a);
	if (strcmp(cmd, "watch") == 0) {
		struct mps3_ctx_js w = { db, c->poll_ms, a->npos ? a->pos[0] : "", a->count[OPT_JSON] > 0, c->url };

		return js_watch(&w);
	}
	return mps3_cli_usage_error("not a command of --format mps3 (get, put, rm, ls, watch, log)");
}
