/*
 * cli/mps3.c - the command line client of an mps3 database: global
 * options, the table of commands (cli/cmd_*.c), and opening the database
 * the URL names.  Exit status: 0 success, 1 failure, 2 usage error.
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

#include "mps3/db.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/jsdb.h"
#include "mps3/log.h"
#include "mps3/s3.h"
#include "mps3_config.h"
#include "cli.h"
#include "common.h"

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
	"  get --at TIME KEY     the value KEY had at TIME\n"
	"  log [-n N] [--json] [PATH]\n"
	"                        every change to PATH (or everything), newest first\n"
	"  log --entries [-n N] [--json]\n"
	"                        the log entries in the bucket as stored, newest first\n"
	"  snapshot create NAME [--at TIME] | snapshot ls | snapshot rm NAME\n"
	"                        named snapshots of the whole tree, kept by gc\n"
	"  restore --at TIME PATH...\n"
	"                        make PATHs (recursively) what they were at TIME, in one change\n"
	"  branch create NAME [--at TIME] | branch ls | branch diff NAME\n"
	"  branch commit NAME [--rebase] | branch rm NAME\n"
	"                        a line of changes of its own (write to it with --branch NAME),\n"
	"                        committed to the main line in one change\n"
	"  checkpoint            write a checkpoint of the settled state\n"
	"  gc [--dry-run] [--grace DURATION] [--history DURATION]\n"
	"                        delete what no checkpoint, log entry, snapshot or the history\n"
	"                        window (default 7d) needs\n"
	"  fsck [--verify]       check that every referenced blob exists (and matches its hash)\n"
	"  sync --journal DIR    upload what an mps3fs left in its cache directory DIR\n"
	"\n"
	"Commands on a mounted mps3fs (no URL):\n"
	"  mps3 status MOUNTPOINT   online/offline, pending changes, last poll, clock offset\n"
	"  mps3 sync MOUNTPOINT     wait until every change made there is in the bucket\n"
	"  mps3 batch MOUNTPOINT [--keep] -- COMMAND [ARGS...]\n"
	"                           run COMMAND; every change on the mount while it runs goes\n"
	"                           to the bucket as one log entry if it exits 0 (or --keep),\n"
	"                           else is thrown away\n"
	"  mps3 restore --at TIME MOUNTPOINT/PATH...\n"
	"                           make PATHs what MOUNTPOINT/.mps3/at/TIME shows, through the\n"
	"                           mount (watchers see the changes), then wait for the upload\n"
	"\n"
	"TIME is 2026-11-30T12:00:00Z, @EPOCH_SECONDS, or relative: -30s, -5m, -2h, -1d.\n"
	"\n";

/* Two strings: one would be longer than C99 promises to compile. */
static const char usage_options[] =
	"Options:\n"
	"  --profile NAME        AWS profile from ~/.aws/credentials and ~/.aws/config\n"
	"  --endpoint URL        S3 endpoint (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, AWS)\n"
	"  --region REGION       signing region (default: $AWS_REGION or us-east-1)\n"
	"  --passwd-file FILE    s3fs-style [BUCKET:]ACCESS_KEY:SECRET file (mode 600)\n"
	"  --addressing STYLE    path, virtual or auto (default auto: virtual-hosted on AWS)\n"
	"  --ca-bundle FILE      trust these CA certificates for https\n"
	"  --insecure            do not verify TLS certificates (unsafe)\n"
	"  --retries N           attempts per request (default 6)\n"
	"  --validate PROGRAM    put asks PROGRAM first, as mps3fs -o validate= does\n"
	"  --branch NAME         work on branch NAME instead of the main line\n"
	"  --poll DURATION       watch interval (default 1s; e.g. 100ms, 5s)\n"
	"  --cache-dir DIR       keep the resolved state here between runs\n"
	"                        (default $XDG_CACHE_HOME/mps3 or ~/.cache/mps3)\n"
	"  --no-cache            resolve everything from the bucket every time\n"
	"  --format mps3         a database of the MPS3 JavaScript client (get, put, rm, ls,\n"
	"                        watch and log); see \"Sharing a database with MPS3 web apps\"\n"
	"  --manifest KEY        with --format mps3: its manifest (default manifest.json)\n"
	"  --mps3-bucket NAME    with --format mps3: the bucket name in its keys (default: the\n"
	"                        URL's bucket, or a file:// directory's last component)\n"
	"  -v, --verbose         more messages (twice: debug)\n"
	"  -q, --quiet           errors only\n"
	"  -h, --help            this help\n"
	"  -V, --version         print the version\n"
	"\n"
	"See mps3(1).\n";

volatile sig_atomic_t mps3_cli_stop;

void mps3_cli_on_signal(int sig)
{
	(void)sig;
	mps3_cli_stop = 1;
}

int mps3_cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mps3: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'mps3 --help'.\n", stderr);
	return EXIT_USAGE;
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

/* A key must not sit below a file, nor replace a directory that has children. */
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

static const struct command {
	const char *name;
	int (*run)(struct ctx *c, int argc, char **argv);
} commands[] = {
	{ "put", mps3_cmd_put },
	{ "get", mps3_cmd_get },
	{ "rm", mps3_cmd_rm },
	{ "ls", mps3_cmd_ls },
	{ "watch", mps3_cmd_watch },
	{ "log", mps3_cmd_log },
	{ "checkpoint", mps3_cmd_checkpoint },
	{ "gc", mps3_cmd_gc },
	{ "fsck", mps3_cmd_fsck },
	{ "sync", mps3_cmd_sync_journal },
	{ "snapshot", mps3_cmd_snapshot },
	{ "restore", mps3_cmd_restore },
	{ "branch", mps3_cmd_branch },
};

struct globals {
	struct mps3_cli_store_opts so;
	int verbose, quiet, no_cache;
	const char *cache_dir;
	int js;				/* --format mps3 */
	const char *manifest, *js_bucket;
};

static const struct option longopts[] = {
	{ "profile", required_argument, NULL, 'P' },
	{ "endpoint", required_argument, NULL, 'E' },
	{ "region", required_argument, NULL, 'R' },
	{ "passwd-file", required_argument, NULL, 'F' },
	{ "addressing", required_argument, NULL, 'A' },
	{ "ca-bundle", required_argument, NULL, 'C' },
	{ "insecure", no_argument, NULL, 'I' },
	{ "retries", required_argument, NULL, 'T' },
	{ "validate", required_argument, NULL, 'W' },
	{ "branch", required_argument, NULL, 'B' },
	{ "poll", required_argument, NULL, 'p' },
	{ "lag", required_argument, NULL, 'L' },
	{ "stale", required_argument, NULL, 'S' },
	{ "cache-dir", required_argument, NULL, 'D' },
	{ "format", required_argument, NULL, 'f' },
	{ "manifest", required_argument, NULL, 'M' },
	{ "mps3-bucket", required_argument, NULL, 'K' },
	{ "no-cache", no_argument, NULL, 'N' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* One global option.  -1 to go on, else the exit status to return now. */
static int global_option(int opt, struct globals *g, struct ctx *c, struct mps3_db_config *cfg)
{
	int64_t ms;

	switch (opt) {
	case 'P': g->so.profile = optarg; break;
	case 'E': g->so.endpoint = optarg; break;
	case 'R': g->so.region = optarg; break;
	case 'F': g->so.passwd_file = optarg; break;
	case 'A': g->so.addressing = optarg; break;
	case 'C': g->so.ca_bundle = optarg; break;
	case 'I': g->so.insecure = 1; break;
	case 'B': cfg->branch = optarg; break;
	case 'W':
		if (optarg[0] != '/' || access(optarg, X_OK) != 0)
			return mps3_cli_usage_error("--validate needs the absolute path of an executable program");
		c->validate = optarg;
		break;
	case 'D': g->cache_dir = optarg; break;
	case 'f':
		if (strcmp(optarg, "mps3") != 0 && strcmp(optarg, "mps3fs") != 0)
			return mps3_cli_usage_error("--format is mps3fs (the default) or mps3, not %s", optarg);
		g->js = strcmp(optarg, "mps3") == 0;
		break;
	case 'M': g->manifest = optarg; break;
	case 'K': g->js_bucket = optarg; break;
	case 'N': g->no_cache = 1; break;
	case 'v': g->verbose++; break;
	case 'q': g->quiet = 1; break;
	case 'T':
		g->so.max_attempts = atoi(optarg);
		if (g->so.max_attempts < 1)
			return mps3_cli_usage_error("--retries needs a number of at least 1");
		break;
	case 'p':
		if (mps3_cli_duration_ms(&ms, optarg) || ms < 10)
			return mps3_cli_usage_error("--poll needs a duration of at least 10ms, like 1s or 100ms");
		c->poll_ms = ms;
		break;
	case 'L':
		if (mps3_cli_duration_ms(&ms, optarg))
			return mps3_cli_usage_error("--lag needs a duration");
		cfg->lag_ms = ms;
		break;
	case 'S':
		if (mps3_cli_duration_ms(&ms, optarg))
			return mps3_cli_usage_error("--stale needs a duration");
		cfg->stale_ms = ms;
		break;
	case 'h':
		fputs(usage_text, stdout);
		fputs(usage_options, stdout);
		return 0;
	case 'V':
		printf("mps3 (mps3fs) %s\n", MPS3_VERSION);
		return 0;
	default:
		fputs("Try 'mps3 --help'.\n", stderr);
		return EXIT_USAGE;
	}
	return -1;
}

/* --format mps3: the store, the database in the MPS3 client's layout, the command. */
static int run_js(struct ctx *c, struct globals *g, int argc, char **argv)
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
	rc = mps3_cmd_js(c, db, argc, argv);
out:
	mps3_jsdb_free(db);
	mps3_store_free(c->store);
	c->store = NULL;
	free(bucket);
	free(prefix);
	return rc;
}

/* Open the store and the database, run the command; again while it asks to reopen. */
static int run_command(const struct command *cmd, struct ctx *c, struct globals *g, int argc, char **argv)
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
	c->cfg->list_at_open = strcmp(cmd->name, "sync") == 0;
	do {
		c->reopen = 0;
		rc = mps3_cli_open_store(&c->store, c->url, &g->so);
		if (rc) {
			rc = mps3_cli_fail(rc, c->url);
			break;
		}
		rc = mps3_db_open(&c->db, c->store, c->cfg);
		if (rc) {
			rc = mps3_cli_fail(rc, c->url);
			break;
		}
		rc = cmd->run(c, argc, argv);
		if (state_file && mps3_db_save_state(c->db))
			mps3_info("could not save the state file: %s", mps3_error_last(-EIO));
		if (c->reopen) {
			mps3_db_free(c->db);
			mps3_store_free(c->store);
			c->db = NULL;
			c->store = NULL;
		}
	} while (c->reopen);
	mps3_db_free(c->db);
	mps3_store_free(c->store);
	free(state_file);
	return rc;
}

int main(int argc, char **argv)
{
	const struct command *cmd = NULL;
	struct mps3_db_config cfg;
	struct globals g;
	struct ctx c;
	size_t i;
	int opt, rc;

	memset(&g, 0, sizeof(g));
	memset(&c, 0, sizeof(c));
	c.poll_ms = 1000;
	c.cfg = &cfg;
	mps3_db_config_init(&cfg);
	mps3_log_set_prefix("mps3: ");
	/* Stop at the URL: command options belong to the command. */
	while ((opt = getopt_long(argc, argv, "+vqhV", longopts, NULL)) != -1) {
		rc = global_option(opt, &g, &c, &cfg);
		if (rc >= 0)
			return rc;
	}
	/* batch on a mount: mps3 batch MNT [--keep] -- COMMAND... (no URL). */
	if (argc - optind >= 3 && strcmp(argv[optind], "batch") == 0 && !strstr(argv[optind + 1], "://"))
		return mps3_cmd_mount_batch(argc - optind, argv + optind);
	/* restore on a mount: mps3 restore --at TIME MNT/PATH... (no URL). */
	if (argc - optind >= 4 && strcmp(argv[optind], "restore") == 0 && !strstr(argv[optind + 3], "://") &&
	    !strstr(argv[optind + 1], "://") && strcmp(argv[optind + 1], "--at") == 0)
		return mps3_cmd_mount_restore(argc - optind, argv + optind);
	/* Commands on a mount point take no URL. */
	if (argc - optind == 2 && !strstr(argv[optind + 1], "://") &&
	    (strcmp(argv[optind], "status") == 0 || strcmp(argv[optind], "sync") == 0))
		return strcmp(argv[optind], "status") == 0 ? mps3_cmd_mount_status(argv[optind + 1])
							   : mps3_cmd_mount_sync(argv[optind + 1]);
	if (argc - optind < 2)
		return mps3_cli_usage_error(argc - optind < 1 ? "missing URL" : "missing COMMAND");
	c.url = argv[optind];
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind + 1], commands[i].name) == 0)
			cmd = &commands[i];
	if (g.js && !mps3_cmd_js_known(argv[optind + 1]))
		return mps3_cli_usage_error("%s: not a command of --format mps3 (get, put, rm, ls, watch, log)",
					    argv[optind + 1]);
	if (!cmd)
		return mps3_cli_usage_error("unknown command \"%s\"", argv[optind + 1]);
	if (g.js) {
		struct mps3_db_config d;

		mps3_db_config_init(&d);
		if (c.validate || cfg.branch || cfg.lag_ms != d.lag_ms || cfg.stale_ms != d.stale_ms)
			return mps3_cli_usage_error("--validate, --branch, --lag and --stale have no meaning with --format mps3");
	}
	if (!g.js && (g.manifest || g.js_bucket))
		return mps3_cli_usage_error("--manifest and --mps3-bucket go with --format mps3");
	mps3_log_set_level(g.quiet ? MPS3_LOG_ERR : g.verbose >= 2 ? MPS3_LOG_DEBUG
				     : g.verbose ? MPS3_LOG_INFO : MPS3_LOG_NOTICE);
	g.so.verbose = g.verbose >= 2;
	if (mps3_s3_global_init())
		return mps3_cli_fail(-ENOMEM, "init");
	if (g.js)
		rc = run_js(&c, &g, argc - optind - 1, argv + optind + 1);
	else
		rc = run_command(cmd, &c, &g, argc - optind - 1, argv + optind + 1);
	mps3_s3_global_cleanup();
	return rc;
}
