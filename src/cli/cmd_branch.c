/*
 * cli/cmd_branch.c - mps3 branch create/ls/diff/commit/rm: branches of the
 * database (mps3/history.h); `mps3 --branch NAME URL put ...` writes to one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/buf.h"
#include "mps3/error.h"
#include "mps3/history.h"
#include "mps3/timefmt.h"
#include "cli.h"

static int on_branch(void *ctx, const char *name, int64_t t)
{
	char when[25];

	(void)ctx;
	mps3_time_format_iso8601(when, t);
	printf("%s  from %s\n", name, when);
	return 0;
}

static int diff(struct ctx *c, const char *name)
{
	json_t *patch = NULL, *v;
	const char *path;
	int rc = mps3_db_branch_diff(c->db, name, &patch);

	if (rc)
		return mps3_cli_fail(rc, "branch diff");
	json_object_foreach(patch, path, v) {
		char *p = mps3_escape(path);
		struct mps3_entry e;

		if (json_is_null(v))
			printf("rm\t%s\n", p ? p : "?");
		else if (mps3_entry_parse(&e, v) == 0 && e.type == MPS3_FILE)
			printf("put\t%s\t%llu B\t%.12s\n", p ? p : "?", (unsigned long long)e.size, e.blob);
		else
			printf("%s\t%s\n", mps3_entry_parse(&e, v) == 0 && e.type == MPS3_DIR ? "mkdir" : "set", p ? p : "?");
		free(p);
	}
	json_decref(patch);
	return 0;
}

static int commit(struct ctx *c, const char *name, int rebase)
{
	json_t *clash = NULL, *v;
	struct mps3_logkey key;
	char kname[MPS3_LOGNAME_MAX];
	size_t n, i;
	int rc = mps3_db_branch_commit(c->db, name, rebase, &clash, &n, &key);

	if (rc == -EEXIST && clash) {
		fprintf(stderr, "mps3: branch commit: %s: %s; nothing committed:\n", name, mps3_error_last(rc));
		json_array_foreach(clash, i, v) {
			char *p = mps3_escape(json_string_value(v));

			fprintf(stderr, "  %s\n", p ? p : "?");
			free(p);
		}
		json_decref(clash);
		return EXIT_FAILURE;
	}
	json_decref(clash);
	if (rc)
		return mps3_cli_fail(rc, "branch commit");
	if (n == 0) {
		printf("branch %s: nothing to commit\n", name);
		return 0;
	}
	mps3_logkey_format(kname, &key);
	printf("branch %s: %zu path%s committed (log/%s)%s\n", name, n, n == 1 ? "" : "s", kname,
	       rebase ? "; its base is the main line now" : "");
	return 0;
}

int mps3_cmd_branch(struct ctx *c, const struct mps3_cli_args *a)
{
	const char *sub = a->pos[0], *name = a->npos == 2 ? a->pos[1] : NULL;
	int64_t at = 0;
	int rc;

	if (strcmp(sub, "ls") == 0 && a->npos == 1) {
		rc = mps3_db_branch_list(c->db, on_branch, NULL);
		return rc ? mps3_cli_fail(rc, "branch ls") : 0;
	}
	if (strcmp(sub, "create") == 0 && name) {
		if (a->val[OPT_AT] && mps3_cli_time(c, a->val[OPT_AT], &at))
			return mps3_cli_usage_error("--at needs a time like 2026-11-30T12:00:00Z, @1790000000 or -2h");
		rc = mps3_db_branch_create(c->db, name, at);
		return rc ? mps3_cli_fail(rc, "branch create") : 0;
	}
	if (strcmp(sub, "diff") == 0 && name)
		return diff(c, name);
	if (strcmp(sub, "commit") == 0 && name)
		return commit(c, name, a->count[OPT_REBASE] > 0);
	if (strcmp(sub, "rm") == 0 && name) {
		rc = mps3_db_branch_delete(c->db, name);
		return rc ? mps3_cli_fail(rc, "branch rm") : 0;
	}
	return mps3_cli_usage_error("unknown subcommand \"%s\"", sub); /* the table's check let it by */
}
