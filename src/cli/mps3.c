/*
 * cli/mps3.c - the command line client of an mps3 database: put, get, rm,
 * ls, watch, log, checkpoint, gc and fsck, without FUSE.
 * Exit status: 0 success, 1 failure, 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mps3/clock.h"
#include "mps3/db.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/log.h"
#include "mps3/mergepatch.h"
#include "mps3/poller.h"
#include "mps3/s3.h"
#include "mps3/timefmt.h"
#include "mps3_config.h"
#include "mps3/journal.h"
#include "common.h"

#define EXIT_USAGE 2
/* Values up to this size are verified before they are written out. */
#define GET_VERIFY_FIRST (64u << 20)

static const char usage_text[] =
	"usage: mps3 [OPTIONS] URL COMMAND [ARGS]\n"
	"\n"
	"URL is s3://BUCKET[/PREFIX] or file:///PATH (a local directory used as a bucket).\n"
	"\n"
	"Commands:\n"
	"  put KEY [FILE|-]      store FILE (or standard input) as the value of KEY\n"
	"  get KEY               write the value of KEY to standard output\n"
	"  rm [-r] KEY...        remove keys (-r: and everything under KEY/)\n"
	"  ls [-l] [--json] [PREFIX]\n"
	"                        list keys starting with PREFIX\n"
	"  watch [--json] [PREFIX]\n"
	"                        print one line per change made by anyone, until interrupted\n"
	"  log [-n N] [--json]   list log entries, newest first\n"
	"  checkpoint            write a checkpoint of the settled state\n"
	"  gc [--dry-run] [--grace DURATION]\n"
	"                        delete what no retained checkpoint or log entry needs\n"
	"  fsck [--verify]       check that every referenced blob exists (and matches its hash)\n"
	"  sync --journal DIR    upload what an mps3fs left in its cache directory DIR\n"
	"\n"
	"Commands on a mounted mps3fs (no URL):\n"
	"  mps3 status MOUNTPOINT   online/offline, pending changes, last poll, clock offset\n"
	"  mps3 sync MOUNTPOINT     wait until every change made there is in the bucket\n"
	"\n"
	"Options:\n"
	"  --profile NAME        AWS profile from ~/.aws/credentials and ~/.aws/config\n"
	"  --endpoint URL        S3 endpoint (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, AWS)\n"
	"  --region REGION       signing region (default: $AWS_REGION or us-east-1)\n"
	"  --passwd-file FILE    s3fs-style [BUCKET:]ACCESS_KEY:SECRET file (mode 600)\n"
	"  --addressing STYLE    path, virtual or auto (default auto: virtual-hosted on AWS)\n"
	"  --ca-bundle FILE      trust these CA certificates for https\n"
	"  --insecure            do not verify TLS certificates (unsafe)\n"
	"  --retries N           attempts per request (default 6)\n"
	"  --poll DURATION       watch interval (default 1s; e.g. 100ms, 5s)\n"
	"  --cache-dir DIR       keep the resolved state here between runs\n"
	"                        (default $XDG_CACHE_HOME/mps3 or ~/.cache/mps3)\n"
	"  --no-cache            resolve everything from the bucket every time\n"
	"  -v, --verbose         more messages (twice: debug)\n"
	"  -q, --quiet           errors only\n"
	"  -h, --help            this help\n"
	"  -V, --version         print the version\n"
	"\n"
	"See mps3(1).\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mps3: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'mps3 --help'.\n", stderr);
	return EXIT_USAGE;
}

static int fail(int rc, const char *what)
{
	fprintf(stderr, "mps3: %s: %s\n", what, mps3_error_last(rc));
	return EXIT_FAILURE;
}

struct ctx {
	const char *url;
	struct mps3_store *store;
	struct mps3_db *db;
	int64_t poll_ms;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The entry at path, parsed; -ENOENT if none. */
static int lookup(struct mps3_db *db, const char *path, struct mps3_entry *e, json_t **hold)
{
	int rc = mps3_db_get(db, path, hold);

	if (rc)
		return rc;
	rc = mps3_entry_parse(e, *hold);
	if (rc) {
		json_decref(*hold);
		*hold = NULL;
	}
	return rc;
}

/* Whether some existing key lies under path + "/". */
static int has_children(json_t *files, const char *path)
{
	size_t n = strlen(path);
	const char *k;
	json_t *v;

	json_object_foreach(files, k, v) {
		struct mps3_entry e;

		if (strncmp(k, path, n) == 0 && k[n] == '/' && mps3_entry_parse(&e, v) == 0)
			return 1;
	}
	return 0;
}

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
		if (lookup(db, copy, &e, &hold) == 0 && e.type != MPS3_DIR)
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
	if (files && has_children(files, key))
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

static int cmd_put(struct ctx *c, int argc, char **argv)
{
	const char *key, *file;
	struct mps3_body body;
	struct stat st;
	char hex[MPS3_SHA256_HEX_LEN + 1];
	json_t *patch = NULL, *entry = NULL;
	int fd = -1, own_fd = 0, rc;

	if (argc < 2 || argc > 3)
		return usage_error("put needs KEY and optionally FILE");
	key = argv[1];
	file = argc == 3 ? argv[2] : "-";
	rc = mps3_path_check(key);
	if (rc)
		return fail(rc, "put");
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
	rc = mps3_db_blob_put(c->db, &body, hex);
	if (rc)
		goto out;
	/* Content and type change; mode, owner and xattrs of an existing key stay. */
	entry = json_pack("{s:s, s:s, s:I, s:I, s:n}", "type", "f", "blob", hex, "size",
			  (json_int_t)body.len, "mtime", (json_int_t)now_ns(), "target");
	patch = json_object();
	if (!entry || !patch || json_object_set(patch, key, entry)) {
		rc = -ENOMEM;
		goto out;
	}
	rc = mps3_db_commit(c->db, patch, NULL);
out:
	json_decref(entry);
	json_decref(patch);
	if (own_fd)
		close(fd);
	return rc ? fail(rc, "put") : 0;
}

static int cmd_get(struct ctx *c, int argc, char **argv)
{
	struct mps3_entry e;
	struct mps3_sink sink;
	json_t *hold = NULL;
	int fd = STDOUT_FILENO, rc;

	if (argc != 2)
		return usage_error("get needs exactly one KEY");
	rc = mps3_path_check(argv[1]);
	if (rc)
		return fail(rc, "get");
	rc = lookup(c->db, argv[1], &e, &hold);
	if (rc == -ENOENT || rc == -EINVAL) {
		fprintf(stderr, "mps3: get: %s: no such key\n", argv[1]);
		json_decref(hold);
		return EXIT_FAILURE;
	}
	if (e.type == MPS3_DIR) {
		fprintf(stderr, "mps3: get: %s: is a directory\n", argv[1]);
		json_decref(hold);
		return EXIT_FAILURE;
	}
	if (e.type == MPS3_LINK) {
		fprintf(stderr, "mps3: get: %s: is a symbolic link to %s\n", argv[1], e.target);
		json_decref(hold);
		return EXIT_FAILURE;
	}
	if (e.size <= GET_VERIFY_FIRST) {
		/* Checked before a byte goes out: a corrupt blob is never printed. */
		struct mps3_buf buf;

		mps3_buf_init(&buf, (size_t)e.size + 1);
		mps3_sink_buf(&sink, &buf);
		rc = mps3_db_blob_get(c->db, e.blob, NULL, &sink);
		if (rc == 0 && buf.len != e.size)
			rc = mps3_error_set(-EIO, "%s: content has %zu bytes, the entry says %" PRIu64, argv[1],
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
	json_decref(hold);
	if (rc)
		return fail(rc, argv[1]);
	return 0;
}

static int cmd_rm(struct ctx *c, int argc, char **argv)
{
	json_t *patch = json_object(), *files = NULL;
	int recursive = 0, i, rc = 0, missing = 0;

	if (!patch)
		return fail(-ENOMEM, "rm");
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (strcmp(argv[i], "-r") == 0 || strcmp(argv[i], "-R") == 0 ||
		    strcmp(argv[i], "--recursive") == 0) {
			recursive = 1;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			json_decref(patch);
			return usage_error("rm: unknown option %s", argv[i]);
		}
	}
	if (i >= argc) {
		json_decref(patch);
		return usage_error("rm needs at least one KEY");
	}
	files = mps3_db_files(c->db);
	for (; i < argc && files; i++) {
		const char *key = argv[i], *k;
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
			if (e.type == MPS3_DIR && !recursive && has_children(files, key)) {
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
		return fail(rc, "rm");
	return missing ? EXIT_FAILURE : 0;
}

static void mode_string(char out[11], const struct mps3_entry *e)
{
	uint32_t m = e->mode;
	static const char rwx[] = "rwxrwxrwx";
	int i;

	if (m == MPS3_UNSET_MODE)
		m = e->type == MPS3_DIR ? 0755 : e->type == MPS3_LINK ? 0777 : 0644;
	out[0] = e->type == MPS3_DIR ? 'd' : e->type == MPS3_LINK ? 'l' : '-';
	for (i = 0; i < 9; i++)
		out[1 + i] = (m & (1u << (8 - i))) ? rwx[i] : '-';
	out[10] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmd_ls(struct ctx *c, int argc, char **argv)
{
	const char *prefix = "", *k;
	const char **keys = NULL;
	json_t *files, *v;
	size_t n = 0, i, plen;
	int lng = 0, js = 0, a;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-l") == 0)
			lng = 1;
		else if (strcmp(argv[a], "--json") == 0)
			js = 1;
		else if (argv[a][0] == '-' && argv[a][1])
			return usage_error("ls: unknown option %s", argv[a]);
		else if (!*prefix)
			prefix = argv[a];
		else
			return usage_error("ls takes at most one PREFIX");
	}
	files = mps3_db_files(c->db);
	if (!files)
		return fail(-ENOMEM, "ls");
	keys = calloc(json_object_size(files) + 1, sizeof(*keys));
	if (!keys) {
		json_decref(files);
		return fail(-ENOMEM, "ls");
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
			char *s = line ? json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

			if (s)
				printf("%s\n", s);
			free(s);
			json_decref(line);
		} else if (lng) {
			char mode[11], when[32] = "-";
			time_t secs = (time_t)(e.mtime_ns / 1000000000);
			struct tm tm;

			mode_string(mode, &e);
			if (e.mtime_ns && gmtime_r(&secs, &tm))
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			printf("%s %12" PRIu64 " %s %s%s%s%s\n", mode, e.size, when, keys[i],
			       e.type == MPS3_DIR ? "/" : "", e.type == MPS3_LINK ? " -> " : "",
			       e.type == MPS3_LINK ? e.target : "");
		} else {
			printf("%s%s\n", keys[i], e.type == MPS3_DIR ? "/" : "");
		}
	}
	free(keys);
	json_decref(files);
	return fflush(stdout) == 0 ? 0 : EXIT_FAILURE;
}

/* What a change is, in the words of `mps3 watch`. */
static const char *change_op(json_t *old, json_t *new)
{
	struct mps3_entry a, b;
	int had = old && mps3_entry_parse(&a, old) == 0;
	int has = new && mps3_entry_parse(&b, new) == 0;

	if (!has)
		return had ? "rm" : NULL;
	if (!had || a.type != b.type)
		return b.type == MPS3_DIR ? "mkdir" : b.type == MPS3_LINK ? "symlink" : "put";
	if (b.type == MPS3_FILE && (strcmp(a.blob, b.blob) != 0 || a.size != b.size))
		return "put";
	if (b.type == MPS3_LINK && strcmp(a.target, b.target) != 0)
		return "symlink";
	return "attr";
}

struct watch_ctx {
	const char *prefix;
	int json;
};

static void on_change(void *arg, const struct mps3_changes *ch, int local)
{
	struct watch_ctx *w = arg;
	size_t i, plen = strlen(w->prefix);

	(void)local;
	for (i = 0; i < ch->n; i++) {
		const struct mps3_change *x = &ch->v[i];
		const char *op = change_op(x->old, x->new);

		if (!op || strncmp(x->path, w->prefix, plen) != 0)
			continue;
		if (w->json) {
			json_t *line = json_pack("{s:s, s:s, s:O?, s:O?}", "op", op, "key", x->path,
						 "entry", x->new, "old", x->old);
			char *s = line ? json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

			if (s)
				printf("%s\n", s);
			free(s);
			json_decref(line);
		} else {
			printf("%s\t%s\n", op, x->path);
		}
	}
	fflush(stdout);
}

static int cmd_watch(struct ctx *c, int argc, char **argv)
{
	struct watch_ctx w = { "", 0 };
	struct mps3_poller_config pcfg = { 0 };
	struct mps3_poller *poller;
	struct sigaction sa;
	int a, rc;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--json") == 0)
			w.json = 1;
		else if (argv[a][0] == '-' && argv[a][1])
			return usage_error("watch: unknown option %s", argv[a]);
		else if (!*w.prefix)
			w.prefix = argv[a];
		else
			return usage_error("watch takes at most one PREFIX");
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	mps3_db_set_listener(c->db, on_change, &w);
	pcfg.interval_ms = c->poll_ms;
	pcfg.name = "watch";
	rc = mps3_poller_start(&poller, c->db, &pcfg);
	if (rc) {
		mps3_db_set_listener(c->db, NULL, NULL);
		return fail(rc, "watch");
	}
	while (!stop_requested && !ferror(stdout)) {
		struct timespec ts = { 0, 100 * 1000000 };

		nanosleep(&ts, NULL);
	}
	mps3_poller_stop(poller);
	mps3_db_set_listener(c->db, NULL, NULL);
	return 0;
}

struct log_ctx {
	int json;
};

static int on_log(void *arg, const struct mps3_log_item *it)
{
	struct log_ctx *l = arg;
	char when[25] = "-";

	if (it->key.t > 0)
		mps3_time_format_iso8601(when, it->key.t);
	if (l->json) {
		json_t *line = json_pack("{s:s, s:I, s:s, s:I, s:s, s:I, s:O?}", "name", it->name,
					 "t", (json_int_t)it->key.t, "session", it->key.session,
					 "seq", (json_int_t)it->key.seq, "status", it->status,
					 "size", (json_int_t)it->info.size, "files", it->files);
		char *s = line ? json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(line);
	} else {
		char *patch = it->files ? json_dumps(it->files, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

		printf("%s  %s  %6" PRIu64 "  %-9s %s\n", when,
		       it->key.session[0] ? it->key.session : "-", it->key.seq, it->status,
		       patch ? patch : "");
		free(patch);
	}
	return ferror(stdout) ? -EPIPE : 0;
}

static int cmd_log(struct ctx *c, int argc, char **argv)
{
	struct log_ctx l = { 0 };
	unsigned limit = 0;
	int a, rc;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--json") == 0) {
			l.json = 1;
		} else if (strcmp(argv[a], "-n") == 0 && a + 1 < argc) {
			char *end;
			long v = strtol(argv[++a], &end, 10);

			if (*end || v <= 0)
				return usage_error("log: -n needs a positive number");
			limit = (unsigned)v;
		} else {
			return usage_error("log: unexpected argument %s", argv[a]);
		}
	}
	rc = mps3_db_log(c->db, limit, on_log, &l);
	if (rc == -EPIPE)
		return EXIT_FAILURE;
	return rc ? fail(rc, "log") : 0;
}

static int cmd_checkpoint(struct ctx *c, int argc, char **argv)
{
	struct mps3_logkey key;
	char name[MPS3_LOGNAME_MAX];
	int rc;

	(void)argv;
	if (argc != 1)
		return usage_error("checkpoint takes no arguments");
	rc = mps3_db_checkpoint(c->db, &key);
	if (rc)
		return fail(rc, "checkpoint");
	mps3_cpkey_format(name, &key);
	printf("checkpoint/%s\n", name);
	return 0;
}

static int cmd_gc(struct ctx *c, int argc, char **argv, struct mps3_db_config *cfg, int *reopen)
{
	struct mps3_gc_report r;
	int dry = 0, a, rc;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--dry-run") == 0 || strcmp(argv[a], "-n") == 0) {
			dry = 1;
		} else if (strcmp(argv[a], "--grace") == 0 && a + 1 < argc) {
			int64_t ms;

			if (mps3_cli_duration_ms(&ms, argv[++a]))
				return usage_error("gc: bad --grace duration %s", argv[a]);
			if (ms != cfg->gc_grace_ms) {
				cfg->gc_grace_ms = ms;
				*reopen = 1;
				return 0;
			}
		} else {
			return usage_error("gc: unexpected argument %s", argv[a]);
		}
	}
	rc = mps3_db_gc(c->db, dry, &r);
	if (rc)
		return fail(rc, "gc");
	printf("%s: checkpoints %u kept %u deleted; log entries %u kept %u deleted; "
	       "blobs %u kept %u deleted; %" PRIu64 " bytes freed; %u objects still in the grace period\n",
	       dry ? "gc (dry run)" : "gc", r.checkpoints_kept, r.checkpoints_deleted,
	       r.entries_kept, r.entries_deleted, r.blobs_kept, r.blobs_deleted, r.bytes_deleted,
	       r.skipped_young);
	return 0;
}

static int cmd_fsck(struct ctx *c, int argc, char **argv)
{
	struct mps3_fsck_report r;
	int verify = 0, a, rc, bad;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--verify") == 0)
			verify = 1;
		else
			return usage_error("fsck: unexpected argument %s", argv[a]);
	}
	rc = mps3_db_fsck(c->db, verify, &r);
	if (rc)
		return fail(rc, "fsck");
	bad = r.missing_blobs + r.corrupt_blobs + r.size_mismatch + r.bad_entries + r.bad_checkpoints;
	printf("fsck: %u files, %u directories, %u links; %u blobs checked%s; "
	       "%u missing, %u corrupt, %u wrong size; %u malformed entries, %u stale entries, "
	       "%u bad checkpoints: %s\n",
	       r.files, r.dirs, r.links, r.blobs_checked, verify ? " (content verified)" : "",
	       r.missing_blobs, r.corrupt_blobs, r.size_mismatch, r.bad_entries, r.stale_entries,
	       r.bad_checkpoints, bad ? "PROBLEMS FOUND" : "ok");
	return bad ? EXIT_FAILURE : 0;
}

/* `mps3 status MOUNTPOINT`: the mount's own report. */
static int cmd_mount_status(const char *mnt)
{
	char path[4096], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/.mps3/status", mnt);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "mps3: status: %s: %s (is an mps3fs mounted there?)\n", mnt, strerror(errno));
		return EXIT_FAILURE;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
	close(fd);
	return n < 0 ? EXIT_FAILURE : 0;
}

/* `mps3 sync MOUNTPOINT`: fsync of the mount's root waits for every change made so far. */
static int cmd_mount_sync(const char *mnt)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/.mps3", mnt);
	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || access(path, F_OK) < 0) {
		fprintf(stderr, "mps3: sync: %s: %s\n", mnt,
			fd < 0 ? strerror(errno) : "not an mps3fs mount");
		if (fd >= 0)
			close(fd);
		return EXIT_FAILURE;
	}
	if (fsync(fd) < 0) {
		fprintf(stderr, "mps3: sync: %s: %s\n", mnt, strerror(errno));
		close(fd);
		return EXIT_FAILURE;
	}
	close(fd);
	return 0;
}

/* Upload the content a journal item names from DIR/blobs. */
static int upload_journal_blob(struct ctx *c, const char *dir, const struct mps3_journal_item *it)
{
	char blob[4200], hex[MPS3_SHA256_HEX_LEN + 1];
	struct mps3_body body;
	struct mps3_entry e;
	struct stat st;
	int fd, rc;

	if (!it->want || mps3_entry_parse(&e, it->want) || e.type != MPS3_FILE)
		return 0;
	snprintf(blob, sizeof(blob), "%s/blobs/%s", dir, e.blob);
	fd = open(blob, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = mps3_error_set(-ENOENT, "%s: content %s is not in %s/blobs", it->path, e.blob, dir);
	} else {
		memset(&body, 0, sizeof(body));
		body.fd = fd;
		body.len = (uint64_t)st.st_size;
		body.sha256_hex = e.blob;
		rc = mps3_db_blob_put(c->db, &body, hex);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* `mps3 URL sync --journal DIR`: what an mps3fs promised but did not upload. */
static int cmd_sync_journal(struct ctx *c, int argc, char **argv)
{
	struct mps3_journal_plan plan = { 0 };
	struct mps3_journal j;
	json_t *old = NULL, *patch = json_object();
	const char *dir = NULL;
	size_t i;
	int a, rc;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--journal") == 0 && a + 1 < argc)
			dir = argv[++a];
		else
			return usage_error("sync: use: mps3 URL sync --journal CACHE_DIR, or mps3 sync MOUNTPOINT");
	}
	if (!dir)
		return usage_error("sync needs --journal CACHE_DIR (or: mps3 sync MOUNTPOINT)");
	rc = mps3_journal_open(&j, dir, &old);
	if (!rc)
		rc = patch ? mps3_journal_recover(&plan, old, c->db) : -ENOMEM;
	for (i = 0; !rc && i < plan.n; i++) {
		const struct mps3_journal_item *it = &plan.v[i];
		const char *target = it->path;
		json_t *cur = NULL, *d;
		int err = 0;

		if (it->action == MPS3_JOURNAL_LANDED)
			continue;
		if (it->action == MPS3_JOURNAL_CONFLICT && !it->conflict_path) {
			fprintf(stderr, "mps3: sync: %s was changed by another client since; keeping theirs\n",
				it->path);
			continue;
		}
		if (it->action == MPS3_JOURNAL_CONFLICT) {
			fprintf(stderr, "mps3: sync: %s was changed by another client since; the journal's version goes to %s\n",
				it->path, it->conflict_path);
			target = it->conflict_path;
		}
		rc = upload_journal_blob(c, dir, it);
		if (rc)
			break;
		mps3_db_get(c->db, target, &cur);
		d = mps3_entry_patch(cur, it->want, &err);
		json_decref(cur);
		if (err)
			rc = mps3_error_set(err, "%s: cannot express the change", it->path);
		else if (d)
			json_object_set_new(patch, target, d);
	}
	if (!rc && json_object_size(patch) > 0)
		rc = mps3_db_commit(c->db, patch, NULL);
	if (!rc)
		rc = mps3_journal_truncate(&j);
	json_decref(patch);
	json_decref(old);
	mps3_journal_close(&j);
	if (rc) {
		mps3_journal_plan_dispose(&plan);
		return fail(rc, "sync");
	}
	printf("sync: %zu changes uploaded, %zu were already in the bucket, %zu conflicts kept beside the newer version\n",
	       plan.commit, plan.landed, plan.conflicts);
	mps3_journal_plan_dispose(&plan);
	return 0;
}

/*
 * Where this URL's resolved state is kept: DIR/<first 16 hex digits of
 * SHA-256(url)>.state, DIR private (0700).  NULL (no cache) if it cannot be
 * made.
 */
static char *state_path(const char *dir, const char *url)
{
	char hex[MPS3_SHA256_HEX_LEN + 1], *d = NULL, *path = NULL;
	const char *base;

	mps3_sha256_hex(hex, url, strlen(url));
	hex[16] = '\0';
	if (dir) {
		d = strdup(dir);
	} else if ((base = getenv("XDG_CACHE_HOME")) && *base == '/') {
		if (asprintf(&d, "%s/mps3", base) < 0)
			d = NULL;
	} else if ((base = getenv("HOME")) && *base) {
		if (asprintf(&d, "%s/.cache/mps3", base) < 0)
			d = NULL;
	}
	if (!d)
		return NULL;
	/* Create DIR and its parent (~/.cache) if missing; only DIR must be private. */
	{
		char *slash = strrchr(d, '/');

		if (slash && slash != d) {
			*slash = '\0';
			(void)mkdir(d, 0700);
			*slash = '/';
		}
	}
	if ((mkdir(d, 0700) < 0 && errno != EEXIST) || asprintf(&path, "%s/%s.state", d, hex) < 0) {
		mps3_info("not caching state in %s: %s", d, strerror(errno));
		path = NULL;
	}
	free(d);
	return path;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "profile", required_argument, NULL, 'P' },
		{ "endpoint", required_argument, NULL, 'E' },
		{ "region", required_argument, NULL, 'R' },
		{ "passwd-file", required_argument, NULL, 'F' },
		{ "addressing", required_argument, NULL, 'A' },
		{ "ca-bundle", required_argument, NULL, 'C' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "retries", required_argument, NULL, 'T' },
		{ "poll", required_argument, NULL, 'p' },
		{ "lag", required_argument, NULL, 'L' },
		{ "stale", required_argument, NULL, 'S' },
		{ "cache-dir", required_argument, NULL, 'D' },
		{ "no-cache", no_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct mps3_cli_store_opts so;
	struct mps3_db_config cfg;
	struct ctx c;
	const char *cmd;
	int opt, verbose = 0, quiet = 0, rc, reopen, no_cache = 0;
	const char *cache_dir = NULL;
	char *state_file = NULL;
	char **cargv;
	int cargc;

	memset(&so, 0, sizeof(so));
	memset(&c, 0, sizeof(c));
	c.poll_ms = 1000;
	mps3_db_config_init(&cfg);
	mps3_log_set_prefix("mps3: ");
	/* Stop at the URL: command options belong to the command. */
	while ((opt = getopt_long(argc, argv, "+vqhV", longopts, NULL)) != -1) {
		int64_t ms;

		switch (opt) {
		case 'P':
			so.profile = optarg;
			break;
		case 'E':
			so.endpoint = optarg;
			break;
		case 'R':
			so.region = optarg;
			break;
		case 'F':
			so.passwd_file = optarg;
			break;
		case 'A':
			so.addressing = optarg;
			break;
		case 'C':
			so.ca_bundle = optarg;
			break;
		case 'I':
			so.insecure = 1;
			break;
		case 'T':
			so.max_attempts = atoi(optarg);
			if (so.max_attempts < 1)
				return usage_error("--retries needs a number of at least 1");
			break;
		case 'p':
			if (mps3_cli_duration_ms(&ms, optarg) || ms < 10)
				return usage_error("--poll needs a duration of at least 10ms, like 1s or 100ms");
			c.poll_ms = ms;
			break;
		case 'L':
			if (mps3_cli_duration_ms(&ms, optarg))
				return usage_error("--lag needs a duration");
			cfg.lag_ms = ms;
			break;
		case 'S':
			if (mps3_cli_duration_ms(&ms, optarg))
				return usage_error("--stale needs a duration");
			cfg.stale_ms = ms;
			break;
		case 'D':
			cache_dir = optarg;
			break;
		case 'N':
			no_cache = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("mps3 (mps3fs) %s\n", MPS3_VERSION);
			return 0;
		default:
			fputs("Try 'mps3 --help'.\n", stderr);
			return EXIT_USAGE;
		}
	}
	/* Commands on a mount point take no URL. */
	if (argc - optind == 2 && !strstr(argv[optind + 1], "://") &&
	    (strcmp(argv[optind], "status") == 0 || strcmp(argv[optind], "sync") == 0))
		return strcmp(argv[optind], "status") == 0 ? cmd_mount_status(argv[optind + 1])
							   : cmd_mount_sync(argv[optind + 1]);
	if (argc - optind < 2)
		return usage_error(argc - optind < 1 ? "missing URL" : "missing COMMAND");
	c.url = argv[optind];
	cmd = argv[optind + 1];
	cargv = argv + optind + 1;
	cargc = argc - optind - 1;
	if (strcmp(cmd, "put") && strcmp(cmd, "get") && strcmp(cmd, "rm") && strcmp(cmd, "ls") &&
	    strcmp(cmd, "watch") && strcmp(cmd, "log") && strcmp(cmd, "checkpoint") &&
	    strcmp(cmd, "gc") && strcmp(cmd, "fsck") && strcmp(cmd, "sync"))
		return usage_error("unknown command \"%s\"", cmd);
	mps3_log_set_level(quiet ? MPS3_LOG_ERR : verbose >= 2 ? MPS3_LOG_DEBUG
				     : verbose ? MPS3_LOG_INFO : MPS3_LOG_NOTICE);
	so.verbose = verbose >= 2;
	if (mps3_s3_global_init())
		return fail(-ENOMEM, "init");

	if (!no_cache) {
		state_file = state_path(cache_dir, c.url);
		cfg.state_file = state_file;
	}
	do {
		reopen = 0;
		rc = mps3_cli_open_store(&c.store, c.url, &so);
		if (rc) {
			rc = fail(rc, c.url);
			break;
		}
		rc = mps3_db_open(&c.db, c.store, &cfg);
		if (rc) {
			rc = fail(rc, c.url);
			break;
		}
		if (strcmp(cmd, "put") == 0)
			rc = cmd_put(&c, cargc, cargv);
		else if (strcmp(cmd, "get") == 0)
			rc = cmd_get(&c, cargc, cargv);
		else if (strcmp(cmd, "rm") == 0)
			rc = cmd_rm(&c, cargc, cargv);
		else if (strcmp(cmd, "ls") == 0)
			rc = cmd_ls(&c, cargc, cargv);
		else if (strcmp(cmd, "watch") == 0)
			rc = cmd_watch(&c, cargc, cargv);
		else if (strcmp(cmd, "log") == 0)
			rc = cmd_log(&c, cargc, cargv);
		else if (strcmp(cmd, "checkpoint") == 0)
			rc = cmd_checkpoint(&c, cargc, cargv);
		else if (strcmp(cmd, "gc") == 0)
			rc = cmd_gc(&c, cargc, cargv, &cfg, &reopen);
		else if (strcmp(cmd, "sync") == 0)
			rc = cmd_sync_journal(&c, cargc, cargv);
		else
			rc = cmd_fsck(&c, cargc, cargv);
		if (state_file && mps3_db_save_state(c.db))
			mps3_info("could not save the state file: %s", mps3_error_last(-EIO));
		if (reopen) {
			mps3_db_free(c.db);
			mps3_store_free(c.store);
			c.db = NULL;
			c.store = NULL;
		}
	} while (reopen);
	mps3_db_free(c.db);
	mps3_store_free(c.store);
	mps3_s3_global_cleanup();
	free(state_file);
	return rc;
}
