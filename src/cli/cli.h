/*
 * cli/cli.h - what the files of the mps3 command share: the context of one
 * run (the URL, its store and database), the error and usage conventions
 * (exit 1 for a failure, with one line naming what failed; 2 for a usage
 * error), and the commands, one function each (cli/cmd_*.c).
 * Threads: one, except `watch`, whose listener runs on the poller thread
 * while the main thread waits for a signal.
 */
#ifndef MPS3_CLI_H
#define MPS3_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "mps3/db.h"
#include "mps3/entry.h"
#include "mps3/store.h"

#define EXIT_USAGE 2

/* Every option of mps3: the global ones, then those of commands (cli/args.c describes each). */
enum mps3_cli_opt {
	OPT_PROFILE, OPT_ENDPOINT, OPT_REGION, OPT_PASSWD_FILE, OPT_ADDRESSING, OPT_CA_BUNDLE, OPT_INSECURE,
	OPT_RETRIES, OPT_VALIDATE, OPT_BRANCH, OPT_POLL, OPT_CACHE_DIR, OPT_NO_CACHE, OPT_FORMAT, OPT_MANIFEST,
	OPT_MPS3_BUCKET, OPT_LAG, OPT_STALE, OPT_STORAGE_CLASS, OPT_SSE, OPT_SSE_KMS_KEY_ID, OPT_SSE_C_KEY_FILE,
	OPT_REQUESTER_PAYS, OPT_PART_SIZE, OPT_PARALLEL, OPT_VERBOSE, OPT_QUIET, OPT_HELP, OPT_VERSION,
	OPT_GLOBAL_END,
	OPT_AT = OPT_GLOBAL_END, OPT_LONG, OPT_JSON, OPT_RECURSIVE, OPT_COUNT, OPT_ENTRIES, OPT_DRY_RUN,
	OPT_GRACE, OPT_HISTORY, OPT_VERIFY, OPT_JOURNAL, OPT_KEEP, OPT_REBASE, OPT_TIMEOUT,
	OPT_N
};

/* An option a command takes, and what it means there (its line in the command's --help). */
struct mps3_cli_optuse {
	enum mps3_cli_opt id;
	const char *help;
};

struct ctx;
struct mps3_cli_args;

/* One command: its name, its usage text, its options and how it runs. */
struct mps3_cli_command {
	const char *name;
	const char *synopsis;		/* its forms, one a line, each after "mps3 " */
	const char *brief;		/* what it does, in a line of mps3 --help */
	const char *about;		/* what it does, for mps3 COMMAND --help */
	const struct mps3_cli_optuse *opts;	/* ends with { OPT_N, NULL } */
	int min_pos, max_pos;		/* how many operands (max_pos -1: no limit) */
	const char *pos_name;		/* the first operand, for "missing KEY" */
	/* What the table cannot say (subcommands, forms): 0 or EXIT_USAGE, before anything is opened. */
	int (*check)(const struct mps3_cli_args *a);
	int stop_after;			/* options end after the operand that follows this many (batch) */
	int creates;			/* makes a database where there is none: no warning then */
	int (*run)(struct ctx *c, const struct mps3_cli_args *a);	/* on a URL, or NULL */
	int (*run_mount)(const struct mps3_cli_args *a);		/* on a mount point (no URL), or NULL */
};

/* A command line, parsed: which command, on what, with which options and operands. */
struct mps3_cli_args {
	const struct mps3_cli_command *cmd;	/* NULL: none was named */
	const char *url;			/* NULL: none was given */
	char **pos;				/* the operands after the command's name */
	int npos;
	const char *val[OPT_N];			/* each option's last value, NULL if none */
	int64_t num[OPT_N];			/* the same as a number: a count, or a duration in ms */
	unsigned count[OPT_N];			/* how often each option was given */
};

/*
 * Parse argv against the table of commands: global options anywhere, a
 * command's options after its name, "--" ending options.  Values are
 * checked here (durations, counts, times, choices).  Stops at --help or
 * --version (count set).  0, or EXIT_USAGE after one line on stderr.
 * out->pos is malloc'd: mps3_cli_args_dispose.
 */
int mps3_cli_parse(struct mps3_cli_args *out, int argc, char **argv, const struct mps3_cli_command *cmds,
		   size_t ncmds);
void mps3_cli_args_dispose(struct mps3_cli_args *a);
/* A command's usage (for COMMAND --help), and the lines of the global options (for mps3 --help). */
void mps3_cli_print_usage(FILE *f, const struct mps3_cli_command *cmd);
void mps3_cli_print_global_options(FILE *f);

struct ctx {
	const char *url;
	struct mps3_store *store;
	struct mps3_db *db;
	int64_t poll_ms;
	struct mps3_db_config *cfg;	/* the database's, for commands that change it */
	const char *validate;		/* --validate PROGRAM: asked before put changes a key */
	int quiet;			/* -q: errors only (and no progress line) */
};

/* Set by SIGINT/SIGTERM in commands that run until interrupted. */
extern volatile sig_atomic_t mps3_cli_stop;
void mps3_cli_on_signal(int sig);

/*
 * "mps3: CMD: <message>" and "Try 'mps3 CMD --help'." on stderr (CMD: the
 * command mps3_cli_parse found, if any); returns EXIT_USAGE.
 */
int mps3_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "mps3: <what>: <detail of rc>" on stderr; returns EXIT_FAILURE. */
int mps3_cli_fail(int rc, const char *what);
/* The entry at path, parsed (hold gets the value); -ENOENT if none. */
int mps3_cli_lookup(struct mps3_db *db, const char *path, struct mps3_entry *e, json_t **hold);
/* Whether some existing key lies under path + "/". */
int mps3_cli_has_children(json_t *files, const char *path);
int64_t mps3_cli_now_ns(void);
/* A point in time as the user wrote it (mps3_time_parse_point, relative to the store's now).  0 or -EINVAL. */
int mps3_cli_time(struct ctx *c, const char *s, int64_t *ms);

/* Commands on a URL: the exit status. */
int mps3_cmd_put(struct ctx *c, const struct mps3_cli_args *a);
int mps3_cmd_get(struct ctx *c, const struct mps3_cli_args *a);
int mps3_cmd_rm(struct ctx *c, const struct mps3_cli_args *a);
int mps3_cmd_ls(struct ctx *c, const struct mps3_cli_args *a);
int mps3_cmd_watch(struct ctx *c, const struct mps3_cli_args *a);
int mps3_cmd_log(struct ctx *c, const struct mps3_cli_args *a);
/* log --entries: every log object as stored, with its status. */
int mps3_cmd_log_entries(struct ctx *c, const struct mps3_cli_args *a);
int mps3_cmd_checkpoint(struct ctx *c, const struct mps3_cli_args *a);
int mps3_cmd_gc(struct ctx *c, const struct mps3_cli_args *a);
int mps3_cmd_fsck(struct ctx *c, const struct mps3_cli_args *a);
int mps3_cmd_sync_journal(struct ctx *c, const struct mps3_cli_args *a);
int mps3_cmd_snapshot(struct ctx *c, const struct mps3_cli_args *a);
int mps3_cmd_restore(struct ctx *c, const struct mps3_cli_args *a);
int mps3_cmd_branch(struct ctx *c, const struct mps3_cli_args *a);
/*
 * --format mps3: whether the command line is one of its commands (0, or
 * EXIT_USAGE after saying why), and running it over db (mps3/jsdb.h).
 */
struct mps3_jsdb;
int mps3_cmd_js_check(const struct mps3_cli_args *a);
int mps3_cmd_js(struct ctx *c, struct mps3_jsdb *db, const struct mps3_cli_args *a);
/* Commands on a mount point (no URL, no database). */
/* restore --at TIME PATH... on a mount: through the mount's view of that time. */
int mps3_cmd_mount_restore(const struct mps3_cli_args *a);
/* batch MOUNTPOINT [--keep] -- COMMAND: every change while it runs in one log entry, or none. */
int mps3_cmd_mount_batch(const struct mps3_cli_args *a);
int mps3_cmd_mount_status(const struct mps3_cli_args *a);
int mps3_cmd_mount_sync(const struct mps3_cli_args *a);
int mps3_cmd_mount_umount(const struct mps3_cli_args *a);
/* Wait until every change made on the mount at mnt is in the bucket: 0 or EXIT_FAILURE (said why). */
int mps3_cli_sync_mount(const char *mnt);

#endif
