/*
 * cli/mps3.c - the command line client of an mps3 database: global
 * options, the table of commands (cli/cmd_*.c), and opening the database
 * the URL names.  Exit status: 0 success, 1 failure, 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mps3/db.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/jsdb.h"
#include "mps3/log.h"
#include "mps3/s3.h"
#include "mps3_config.h"
#include "cli.h"
#include "common.h"

volatile sig_atomic_t mps3_cli_stop;

void mps3_cli_on_signal(int sig)
{
	(void)sig;
	mps3_cli_stop = 1;
}

int mps3_cli_fail(int rc, const char *what)
{
	fprintf(stderr, "mps3: %s: %s\n", what, mps3_error_last(rc));
	return EXIT_FAILURE;
}


int64_t mps3_cli_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The entry at path, parsed; -ENOENT if none. */
int mps3_cli_lookup(struct mps3_db *db, const char *path, struct mps3_entry *e, json_t **hold)
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
int mps3_cli_has_children(json_t *files, const char *path)
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


static const struct mps3_cli_optuse no_opts[] = { { OPT_N, NULL } };
static const struct mps3_cli_optuse get_opts[] = { { OPT_AT, "the value KEY had at TIME" }, { OPT_N, NULL } };
static const struct mps3_cli_optuse rm_opts[] = { { OPT_RECURSIVE, "also every key under KEY/" }, { OPT_N, NULL } };
static const struct mps3_cli_optuse ls_opts[] = {
	{ OPT_LONG, "mode, size and modification time too" },
	{ OPT_JSON, "one JSON object per key, with its whole entry (names exact)" },
	{ OPT_N, NULL },
};
static const struct mps3_cli_optuse watch_opts[] = {
	{ OPT_JSON, "one JSON object per change, with the commit's time and session" },
	{ OPT_N, NULL },
};
static const struct mps3_cli_optuse log_opts[] = {
	{ OPT_COUNT, "only the N newest lines" },
	{ OPT_JSON, "one JSON object per line, with the values before and after" },
	{ OPT_ENTRIES, "the log entries in the bucket as stored, with their status" },
	{ OPT_N, NULL },
};
static const struct mps3_cli_optuse at_opts[] = { { OPT_AT, "the time to go back to" }, { OPT_N, NULL } };
static const struct mps3_cli_optuse snapshot_opts[] = {
	{ OPT_AT, "create: the tree as it was at TIME" },
	{ OPT_N, NULL },
};
static const struct mps3_cli_optuse branch_opts[] = {
	{ OPT_AT, "create: from the main line as it was at TIME" },
	{ OPT_REBASE, "commit: then move the branch's base to the main line" },
	{ OPT_N, NULL },
};
static const struct mps3_cli_optuse gc_opts[] = {
	{ OPT_DRY_RUN, "only report what would be deleted (no short form: -n is a count)" },
	{ OPT_GRACE, "delete nothing younger than DURATION (default 1h)" },
	{ OPT_HISTORY, "keep every state of DURATION ago and since (default 7d; 0: none)" },
	{ OPT_N, NULL },
};
static const struct mps3_cli_optuse fsck_opts[] = {
	{ OPT_VERIFY, "read every blob and check it against its hash" },
	{ OPT_N, NULL },
};
static const struct mps3_cli_optuse sync_opts[] = {
	{ OPT_JOURNAL, "the cache directory an mps3fs left (with a URL)" },
	{ OPT_N, NULL },
};
static const struct mps3_cli_optuse status_opts[] = {
	{ OPT_JSON, "one JSON object (times ISO 8601 or null, sizes in bytes)" }, { OPT_N, NULL }
};
static const struct mps3_cli_optuse umount_opts[] = {
	{ OPT_TIMEOUT, "how long to wait for the uploads before unmounting anyway (default 60s)" }, { OPT_N, NULL }
};
static const struct mps3_cli_optuse batch_opts[] = {
	{ OPT_KEEP, "commit the changes even when COMMAND fails" },
	{ OPT_N, NULL },
};

/* snapshot create NAME | ls | rm NAME, and which options go with which. */
static int check_snapshot(const struct mps3_cli_args *a)
{
	const char *sub = a->pos[0];

	if (strcmp(sub, "create") && strcmp(sub, "ls") && strcmp(sub, "rm"))
		return mps3_cli_usage_error("unknown subcommand \"%s\" (create, ls or rm)", sub);
	if (a->val[OPT_AT] && strcmp(sub, "create") != 0)
		return mps3_cli_usage_error("--at goes with snapshot create");
	if (a->npos != (strcmp(sub, "ls") == 0 ? 1 : 2))
		return mps3_cli_usage_error("%s %s", sub, strcmp(sub, "ls") == 0 ? "takes no NAME" : "takes one NAME");
	return 0;
}

static int check_branch(const struct mps3_cli_args *a)
{
	static const char *const subs[] = { "create", "ls", "diff", "commit", "rm" };
	const char *sub = a->pos[0];
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]) && strcmp(sub, subs[i]) != 0; i++)
		;
	if (i == sizeof(subs) / sizeof(subs[0]))
		return mps3_cli_usage_error("unknown subcommand \"%s\" (create, ls, diff, commit or rm)", sub);
	if (a->val[OPT_AT] && strcmp(sub, "create") != 0)
		return mps3_cli_usage_error("--at goes with branch create");
	if (a->count[OPT_REBASE] && strcmp(sub, "commit") != 0)
		return mps3_cli_usage_error("--rebase goes with branch commit");
	if (a->npos != (strcmp(sub, "ls") == 0 ? 1 : 2))
		return mps3_cli_usage_error("%s %s", sub, strcmp(sub, "ls") == 0 ? "takes no NAME" : "takes one NAME");
	return 0;
}

static int check_log(const struct mps3_cli_args *a)
{
	return a->count[OPT_ENTRIES] && a->npos ? mps3_cli_usage_error("--entries takes no PATH: it lists every entry")
						: 0;
}

static int check_restore(const struct mps3_cli_args *a)
{
	return a->val[OPT_AT] ? 0 : mps3_cli_usage_error("missing --at TIME");
}

/* URL sync --journal DIR, or sync MOUNTPOINT. */
static int check_sync(const struct mps3_cli_args *a)
{
	if (a->url && !a->val[OPT_JOURNAL])
		return mps3_cli_usage_error("missing --journal CACHE_DIR (or, on a mount: mps3 sync MOUNTPOINT)");
	if (a->url && a->npos)
		return mps3_cli_usage_error("unexpected argument \"%s\"", a->pos[0]);
	if (!a->url && a->val[OPT_JOURNAL])
		return mps3_cli_usage_error("--journal goes with a URL: mps3 URL sync --journal DIR");
	if (!a->url && a->npos != 1)
		return mps3_cli_usage_error(a->npos ? "takes one MOUNTPOINT" : "missing MOUNTPOINT");
	return 0;
}

static int check_batch(const struct mps3_cli_args *a)
{
	return a->npos >= 2 ? 0 : mps3_cli_usage_error("missing COMMAND");
}

/* Options after COMMAND in `batch` are COMMAND's: stop_after 1 (the mount point). */
static const struct mps3_cli_command commands[] = {
	{ .name = "put", .synopsis = "[OPTIONS] URL put KEY [FILE|-]",
	  .brief = "store FILE (or standard input) as the value of KEY",
	  .about = "Store FILE, or standard input when FILE is - or absent, as the value of KEY.\n"
		   "An existing key keeps its mode, owner and extended attributes. With --validate\n"
		   "PROGRAM, PROGRAM is asked first. The first put makes the database.",
	  .opts = no_opts, .min_pos = 1, .max_pos = 2, .pos_name = "KEY", .creates = 1, .run = mps3_cmd_put },
	{ .name = "get", .synopsis = "[OPTIONS] URL get [--at TIME] KEY",
	  .brief = "write the value of KEY to standard output",
	  .about = "Write the value of KEY (as it was at TIME) to standard output.",
	  .opts = get_opts, .min_pos = 1, .max_pos = 1, .pos_name = "KEY", .run = mps3_cmd_get },
	{ .name = "rm", .synopsis = "[OPTIONS] URL rm [-r] KEY...", .brief = "remove keys (-r: and everything under KEY/)",
	  .about = "Remove keys, in one log entry.",
	  .opts = rm_opts, .min_pos = 1, .max_pos = -1, .pos_name = "KEY", .run = mps3_cmd_rm },
	{ .name = "ls", .synopsis = "[OPTIONS] URL ls [-l] [--json] [PREFIX]", .brief = "list keys starting with PREFIX",
	  .about = "List the keys that start with PREFIX, in byte order; directories end in a slash.",
	  .opts = ls_opts, .max_pos = 1, .run = mps3_cmd_ls },
	{ .name = "watch", .synopsis = "[OPTIONS] URL watch [--json] [PREFIX]",
	  .brief = "one line per change made by anyone, until interrupted",
	  .about = "Print one line per change under PREFIX made by anyone (op, TAB, key), until\n"
		   "interrupted; changes arrive within one poll interval (--poll).",
	  .opts = watch_opts, .max_pos = 1, .run = mps3_cmd_watch },
	{ .name = "log", .synopsis = "[OPTIONS] URL log [-n N] [--json] [PATH]\n[OPTIONS] URL log --entries [-n N] [--json]",
	  .brief = "every change to PATH (or everything), newest first",
	  .about = "Every change to PATH or under it (everything, without PATH), newest first;\n"
		   "or, with --entries, the log entries in the bucket as stored.",
	  .opts = log_opts, .max_pos = 1, .check = check_log, .run = mps3_cmd_log },
	{ .name = "snapshot",
	  .synopsis = "[OPTIONS] URL snapshot create NAME [--at TIME]\n[OPTIONS] URL snapshot ls\n"
		      "[OPTIONS] URL snapshot rm NAME",
	  .brief = "named snapshots of the whole tree, kept by gc",
	  .about = "Named snapshots of the whole tree, kept by gc however old; every mount shows\n"
		   "them in .mps3/snapshots/NAME.",
	  .opts = snapshot_opts, .min_pos = 1, .max_pos = 2, .pos_name = "create, ls or rm", .check = check_snapshot,
	  .run = mps3_cmd_snapshot },
	{ .name = "restore", .synopsis = "[OPTIONS] URL restore --at TIME PATH...\nrestore --at TIME MOUNTPOINT/PATH...",
	  .brief = "make PATHs what they were at TIME, in one change",
	  .about = "Make each PATH (recursively) what it was at TIME, in one new change. On a mount,\n"
		   "through the mount (watchers see the changes), then wait for the upload.",
	  .opts = at_opts, .min_pos = 1, .max_pos = -1, .pos_name = "PATH", .check = check_restore,
	  .run = mps3_cmd_restore, .run_mount = mps3_cmd_mount_restore },
	{ .name = "branch",
	  .synopsis = "[OPTIONS] URL branch create NAME [--at TIME]\n[OPTIONS] URL branch ls\n"
		      "[OPTIONS] URL branch diff NAME\n[OPTIONS] URL branch commit NAME [--rebase]\n"
		      "[OPTIONS] URL branch rm NAME",
	  .brief = "a line of changes of its own, committed in one change",
	  .about = "A line of changes of its own (write to it with --branch NAME), committed to\n"
		   "the main line in one change, or refused if both changed a path.",
	  .opts = branch_opts, .min_pos = 1, .max_pos = 2, .pos_name = "create, ls, diff, commit or rm",
	  .check = check_branch, .run = mps3_cmd_branch },
	{ .name = "checkpoint", .synopsis = "[OPTIONS] URL checkpoint", .brief = "write a checkpoint of the settled state",
	  .about = "Write a checkpoint of the settled state and print its name.",
	  .opts = no_opts, .run = mps3_cmd_checkpoint },
	{ .name = "gc", .synopsis = "[OPTIONS] URL gc [--dry-run] [--grace DURATION] [--history DURATION]",
	  .brief = "delete what nothing needs any more",
	  .about = "Delete what no checkpoint, log entry, snapshot, current key or state of the\n"
		   "history window needs, once older than the grace period.",
	  .opts = gc_opts, .run = mps3_cmd_gc },
	{ .name = "fsck", .synopsis = "[OPTIONS] URL fsck [--verify]",
	  .brief = "check that every blob named exists (and its hash)",
	  .about = "Check that every blob the current state names exists with the right size, and\n"
		   "report malformed or stale log entries and unreadable checkpoints.",
	  .opts = fsck_opts, .run = mps3_cmd_fsck },
	{ .name = "sync", .synopsis = "[OPTIONS] URL sync --journal DIR\nsync MOUNTPOINT",
	  .brief = "upload a journal; on a mount: wait for its uploads",
	  .about = "With a URL: upload what an mps3fs left in its cache directory DIR.\n"
		   "On a mount: wait until every change made there is in the bucket.",
	  .opts = sync_opts, .max_pos = -1, .check = check_sync, .run = mps3_cmd_sync_journal,
	  .run_mount = mps3_cmd_mount_sync },
	{ .name = "status", .synopsis = "status [--json] MOUNTPOINT",
	  .brief = "online/offline, pending changes, last poll, clock offset",
	  .about = "Print a mount's state: online or offline, pending changes, last poll, clock offset,\n"
		   "the last error and what cannot be uploaded.",
	  .opts = status_opts, .min_pos = 1, .max_pos = 1, .pos_name = "MOUNTPOINT", .run_mount = mps3_cmd_mount_status },
	{ .name = "batch", .synopsis = "batch MOUNTPOINT [--keep] [--] COMMAND [ARGS...]",
	  .brief = "COMMAND's changes on the mount in one entry, or none",
	  .about = "Run COMMAND; every change on the mount while it runs goes to the bucket as one\n"
		   "log entry if it exits 0 (or with --keep), else is thrown away. Options after\n"
		   "COMMAND are COMMAND's.",
	  .opts = batch_opts, .min_pos = 1, .max_pos = -1, .pos_name = "MOUNTPOINT and COMMAND", .check = check_batch,
	  .stop_after = 1, .run_mount = mps3_cmd_mount_batch },
	{ .name = "umount", .synopsis = "umount [--timeout DURATION] MOUNTPOINT",
	  .brief = "wait for a mount's uploads, unmount it, say what stayed in its journal",
	  .about = "Wait until every change made on the mount is in the bucket (at most DURATION),\n"
		   "unmount it, and say what did not reach the bucket: it stays in the mount's\n"
		   "journal for the next mount. Exit status 0 only when everything was uploaded\n"
		   "and the mount is gone.",
	  .opts = umount_opts, .min_pos = 1, .max_pos = 1, .pos_name = "MOUNTPOINT",
	  .run_mount = mps3_cmd_mount_umount },
	{ .name = "help", .synopsis = "help [COMMAND]", .brief = "the usage of mps3, or of COMMAND",
	  .about = "Print the usage of mps3, or of COMMAND.", .opts = no_opts, .max_pos = 1 },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_help(void)
{
	size_t i;

	fputs("usage: mps3 [OPTIONS] URL COMMAND [ARGS]\n"
	      "       mps3 [OPTIONS] status|sync|batch|restore MOUNTPOINT...  (on a mount)\n"
	      "       mps3 help [COMMAND]\n"
	      "\n"
	      "URL is s3://BUCKET[/PREFIX] or file:///PATH (a local directory used as a bucket).\n"
	      "\n"
	      "Commands ('mps3 COMMAND --help' or 'mps3 help COMMAND' for each):\n", stdout);
	for (i = 0; i < NCOMMANDS; i++) {
		const char *s = commands[i].synopsis, *nl;
		int w = 0, forms = 0;

		/* Each form, without what every one of them starts with; then what it does. */
		for (;;) {
			nl = strchr(s, '\n');
			if (strncmp(s, "[OPTIONS] URL ", 14) == 0)
				s += 14;
			if (w)
				putchar('\n');
			w = printf("  %.*s", nl ? (int)(nl - s) : (int)strlen(s), s);
			forms++;
			if (!nl)
				break;
			s = nl + 1;
		}
		if (w >= 24 || forms > 1) {
			putchar('\n');
			w = 0;
		}
		printf("%*s%s\n", 24 - w, "", commands[i].brief);
	}
	fputs("\n"
	      "TIME is 2026-11-30T12:00:00Z, @EPOCH_SECONDS, or relative: -30s, -5m, -2h, -1d.\n"
	      "DURATION is a number with ms, s (the default), m, h or d.\n"
	      "\n", stdout);
	mps3_cli_print_global_options(stdout);
	fputs("\nExit status: 0 success, 1 failure, 2 usage error.  See mps3(1).\n", stdout);
}

/* mps3 help [COMMAND] */
static int run_help(const struct mps3_cli_args *a)
{
	size_t i;

	if (a->npos == 0) {
		print_help();
		return 0;
	}
	if (a->npos > 1)
		return mps3_cli_usage_error("takes at most one COMMAND");
	for (i = 0; i < NCOMMANDS; i++) {
		if (strcmp(a->pos[0], commands[i].name) == 0) {
			mps3_cli_print_usage(stdout, &commands[i]);
			return 0;
		}
	}
	return mps3_cli_usage_error("unknown command \"%s\"", a->pos[0]);
}

struct globals {
	struct mps3_cli_store_opts so;
	int verbose, quiet, no_cache;
	const char *cache_dir;
	int js;				/* --format mps3 */
	const char *manifest, *js_bucket;
};

/* The global options (and the command options that configure the database) into g, c and cfg. */
static void apply_options(const struct mps3_cli_args *a, struct globals *g, struct ctx *c, struct mps3_db_config *cfg)
{
	g->so.profile = a->val[OPT_PROFILE];
	g->so.endpoint = a->val[OPT_ENDPOINT];
	g->so.region = a->val[OPT_REGION];
	g->so.passwd_file = a->val[OPT_PASSWD_FILE];
	g->so.addressing = a->val[OPT_ADDRESSING];
	g->so.ca_bundle = a->val[OPT_CA_BUNDLE];
	g->so.insecure = a->count[OPT_INSECURE] > 0;
	g->so.storage_class = a->val[OPT_STORAGE_CLASS];
	g->so.sse = a->val[OPT_SSE];
	g->so.sse_kms_key_id = a->val[OPT_SSE_KMS_KEY_ID];
	g->so.sse_c_key_file = a->val[OPT_SSE_C_KEY_FILE];
	g->so.requester_pays = a->count[OPT_REQUESTER_PAYS] > 0;
	if (a->count[OPT_PARALLEL])
		g->so.parallel = (unsigned)a->num[OPT_PARALLEL];
	if (a->count[OPT_RETRIES])
		g->so.max_attempts = (int)a->num[OPT_RETRIES];
	c->validate = a->val[OPT_VALIDATE];
	c->quiet = a->count[OPT_QUIET] > 0;
	cfg->branch = a->val[OPT_BRANCH];
	if (a->count[OPT_POLL])
		c->poll_ms = a->num[OPT_POLL];
	if (a->count[OPT_LAG])
		cfg->lag_ms = a->num[OPT_LAG];
	if (a->count[OPT_STALE])
		cfg->stale_ms = a->num[OPT_STALE];
	/* The grace period and the history window are the database's: set before it opens. */
	if (a->count[OPT_GRACE])
		cfg->gc_grace_ms = a->num[OPT_GRACE];
	if (a->count[OPT_HISTORY])
		cfg->history_ms = a->num[OPT_HISTORY];
	g->cache_dir = a->val[OPT_CACHE_DIR];
	g->no_cache = a->count[OPT_NO_CACHE] > 0;
	g->js = a->val[OPT_FORMAT] && strcmp(a->val[OPT_FORMAT], "mps3") == 0;
	g->manifest = a->val[OPT_MANIFEST];
	g->js_bucket = a->val[OPT_MPS3_BUCKET];
	g->verbose = (int)a->count[OPT_VERBOSE];
	g->quiet = a->count[OPT_QUIET] > 0;
}

/* --format mps3: the store, the database in the MPS3 client's layout, the command. */
static int run_js(struct ctx *c, struct globals *g, const struct mps3_cli_args *a)
{
	struct mps3_jsdb_config jc;
	struct mps3_jsdb *db = NULL;
	char *bucket = NULL, *prefix = NULL;
	int rc;

	rc = mps3_cli_js_names(c->url, g->js_bucket, &bucket, &prefix);
	if (rc)
		return mps3_cli_fail(rc, c->url);
	rc = mps3_cli_open_store(&c->store, c->url, &g->so);
	if (rc) {
		rc = mps3_cli_fail(rc, c->url);
		goto out;
	}
	memset(&jc, 0, sizeof(jc));
	jc.bucket = bucket;
	jc.prefix = prefix;
	jc.manifest = g->manifest;
	rc = mps3_jsdb_open(&db, c->store, &jc);
	if (rc) {
		rc = mps3_cli_fail(rc, c->url);
		goto out;
	}
	if (!mps3_jsdb_found(db)) {
		if (a->cmd->creates)
			mps3_info("%s: no MPS3 database there yet; this %s makes one", c->url, a->cmd->name);
		else
			mps3_warn("%s: no MPS3 database there (no %s, no entry of it); is the URL right?", c->url,
				  g->manifest ? g->manifest : MPS3_JS_DEFAULT_MANIFEST);
	}
	rc = mps3_cmd_js(c, db, a);
out:
	mps3_jsdb_free(db);
	mps3_store_free(c->store);
	c->store = NULL;
	free(bucket);
	free(prefix);
	return rc;
}

/* Open the store and the database, run the command. */
static int run_command(const struct mps3_cli_args *a, struct ctx *c, struct globals *g)
{
	char *state_file = NULL;
	int rc;

	if (!g->no_cache) {
		char *id = NULL;

		/* A branch keeps a state of its own. */
		if (c->cfg->branch && asprintf(&id, "%s\n%s", c->url, c->cfg->branch) < 0)
			id = NULL;
		state_file = state_path(g->cache_dir, id ? id : c->url);
		free(id);
		c->cfg->state_file = state_file;
	}
	/* sync --journal writes a mount's changes again: first learn of every entry of its last run (W5). */
	c->cfg->list_at_open = a->cmd->run == mps3_cmd_sync_journal;
	rc = mps3_cli_open_store(&c->store, c->url, &g->so);
	if (rc) {
		rc = mps3_cli_fail(rc, c->url);
		goto out;
	}
	rc = mps3_db_open(&c->db, c->store, c->cfg);
	if (rc) {
		rc = mps3_cli_fail(rc, c->url);
		goto out;
	}
	/* An empty listing from a mistyped prefix looks like an empty database: say which it is. */
	if (!mps3_db_found(c->db)) {
		if (a->cmd->creates)
			mps3_info("%s: no database there yet; this %s makes one", c->url, a->cmd->name);
		else
			mps3_warn("%s: no database there (no head, checkpoint or log entry); is the URL right?", c->url);
	}
	rc = a->cmd->run(c, a);
	if (state_file && mps3_db_save_state(c->db))
		mps3_info("could not save the state file: %s", mps3_error_last(-EIO));
out:
	mps3_db_free(c->db);
	mps3_store_free(c->store);
	free(state_file);
	return rc;
}

/* What the options and the command's form allow: 0, or the usage error's exit status. */
static int check_form(const struct mps3_cli_args *a, const struct globals *g, const struct ctx *c,
		      const struct mps3_db_config *cfg)
{
	const struct mps3_cli_command *cmd = a->cmd;

	if (!cmd)
		return mps3_cli_usage_error(a->url ? "missing COMMAND after the URL" : "missing URL and COMMAND");
	if (a->url && !cmd->run)
		return mps3_cli_usage_error("takes a MOUNTPOINT, not a URL (usage: mps3 %.*s)",
					    (int)strcspn(cmd->synopsis, "\n"), cmd->synopsis);
	if (!a->url && !cmd->run_mount)
		return mps3_cli_usage_error("missing URL (usage: mps3 %.*s)", (int)strcspn(cmd->synopsis, "\n"),
					    cmd->synopsis);
	if (a->npos < cmd->min_pos)
		return mps3_cli_usage_error("missing %s", cmd->pos_name);
	if (cmd->max_pos >= 0 && a->npos > cmd->max_pos)
		return mps3_cli_usage_error("unexpected argument \"%s\"", a->pos[cmd->max_pos]);
	if (cmd->check && cmd->check(a))
		return EXIT_USAGE;
	if (g->js) {
		struct mps3_db_config d;

		mps3_db_config_init(&d);
		if (c->validate || cfg->branch || cfg->lag_ms != d.lag_ms || cfg->stale_ms != d.stale_ms)
			return mps3_cli_usage_error("--validate, --branch, --lag and --stale have no meaning with --format mps3");
		if (mps3_cmd_js_check(a))
			return EXIT_USAGE;
	}
	if (!g->js && (g->manifest || g->js_bucket))
		return mps3_cli_usage_error("--manifest and --mps3-bucket go with --format mps3");
	return 0;
}

int main(int argc, char **argv)
{
	struct mps3_cli_args a;
	struct mps3_db_config cfg;
	struct globals g;
	struct ctx c;
	int rc;

	mps3_cli_malloc_arenas();
	memset(&g, 0, sizeof(g));
	memset(&c, 0, sizeof(c));
	c.poll_ms = 1000;
	c.cfg = &cfg;
	mps3_db_config_init(&cfg);
	mps3_log_set_prefix("mps3: ");
	rc = mps3_cli_parse(&a, argc, argv, commands, NCOMMANDS);
	if (rc)
		goto out;
	if (a.count[OPT_VERSION]) {
		printf("mps3 (mps3fs) %s\n", MPS3_VERSION);
		goto out;
	}
	if (a.count[OPT_HELP]) {
		if (a.cmd)
			mps3_cli_print_usage(stdout, a.cmd);
		else
			print_help();
		goto out;
	}
	if (a.cmd && strcmp(a.cmd->name, "help") == 0) {
		rc = run_help(&a);
		goto out;
	}
	apply_options(&a, &g, &c, &cfg);
	rc = check_form(&a, &g, &c, &cfg);
	if (rc)
		goto out;
	if (a.val[OPT_PART_SIZE] && mps3_cli_size(&g.so.part_size, a.val[OPT_PART_SIZE])) {
		rc = mps3_cli_usage_error("--part-size %s: need a size like 16M", a.val[OPT_PART_SIZE]);
		goto out;
	}
	if (mps3_cli_check_store_opts(&g.so)) {
		rc = mps3_cli_usage_error("%s", mps3_error_last(-EINVAL));
		goto out;
	}
	mps3_log_set_level(g.quiet ? MPS3_LOG_ERR : g.verbose >= 2 ? MPS3_LOG_DEBUG
				     : g.verbose ? MPS3_LOG_INFO : MPS3_LOG_NOTICE);
	g.so.verbose = g.verbose >= 2;
	if (!a.url) {
		rc = a.cmd->run_mount(&a);
		goto out;
	}
	c.url = a.url;
	if (mps3_s3_global_init()) {
		rc = mps3_cli_fail(-ENOMEM, "init");
		goto out;
	}
	if (g.js)
		rc = run_js(&c, &g, &a);
	else
		rc = run_command(&a, &c, &g);
	mps3_s3_global_cleanup();
out:
	mps3_cli_args_dispose(&a);
	return rc;
}
