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

#include <jansson.h>

#include "mps3/db.h"
#include "mps3/entry.h"
#include "mps3/store.h"

#define EXIT_USAGE 2

struct ctx {
	const char *url;
	struct mps3_store *store;
	struct mps3_db *db;
	int64_t poll_ms;
	struct mps3_db_config *cfg;	/* the database's, for commands that change it */
	int reopen;			/* set by a command: open the database again and rerun */
	const char *validate;		/* --validate PROGRAM: asked before put changes a key */
};

/* Set by SIGINT/SIGTERM in commands that run until interrupted. */
extern volatile sig_atomic_t mps3_cli_stop;
void mps3_cli_on_signal(int sig);

/* "mps3: <message>" and the hint to --help on stderr; returns EXIT_USAGE. */
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

/* Commands: argv[0] is the command's name; the exit status. */
int mps3_cmd_put(struct ctx *c, int argc, char **argv);
int mps3_cmd_get(struct ctx *c, int argc, char **argv);
int mps3_cmd_rm(struct ctx *c, int argc, char **argv);
int mps3_cmd_ls(struct ctx *c, int argc, char **argv);
int mps3_cmd_watch(struct ctx *c, int argc, char **argv);
int mps3_cmd_log(struct ctx *c, int argc, char **argv);
/* log --entries: every log object as stored, with its status (argv without --entries). */
int mps3_cmd_log_entries(struct ctx *c, int argc, char **argv);
int mps3_cmd_checkpoint(struct ctx *c, int argc, char **argv);
int mps3_cmd_gc(struct ctx *c, int argc, char **argv);
int mps3_cmd_fsck(struct ctx *c, int argc, char **argv);
int mps3_cmd_sync_journal(struct ctx *c, int argc, char **argv);
int mps3_cmd_snapshot(struct ctx *c, int argc, char **argv);
int mps3_cmd_restore(struct ctx *c, int argc, char **argv);
int mps3_cmd_branch(struct ctx *c, int argc, char **argv);
/* restore --at TIME PATH... on a mount (no URL): through the mount's view of that time. */
int mps3_cmd_mount_restore(int argc, char **argv);
/* batch MOUNTPOINT [--keep] -- COMMAND: every change while it runs in one log entry, or none. */
int mps3_cmd_mount_batch(int argc, char **argv);
/* --format mps3: whether name is one of its commands, and running it over db (mps3/jsdb.h). */
struct mps3_jsdb;
int mps3_cmd_js_known(const char *name);
int mps3_cmd_js(struct ctx *c, struct mps3_jsdb *db, int argc, char **argv);
/* Commands on a mount point (no URL, no database). */
int mps3_cmd_mount_status(const char *mnt);
int mps3_cmd_mount_sync(const char *mnt);

#endif
