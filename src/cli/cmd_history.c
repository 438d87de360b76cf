/*
 * cli/cmd_history.c - time travel from the command line: mps3 log (what
 * happened to a path, newest first), snapshot create/ls/rm, and restore
 * --at TIME (one new log entry).  get --at is in cli/cmd_keys.c; restore
 * on a mount in cli/cmd_mount.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/buf.h"
#include "mps3/clock.h"
#include "mps3/error.h"
#include "mps3/history.h"
#include "mps3/json.h"
#include "mps3/timefmt.h"
#include "cli.h"

#define SUMMARY_AFTER 8	/* an entry changing more paths than this gets one line */

int mps3_cli_time(struct ctx *c, const char *s, int64_t *ms)
{
	return mps3_time_parse_point(ms, s, mps3_clock_now(mps3_store_clock(c->store)));
}

/* ---- mps3 log [PATH] ------------------------------------------------------------- */

struct line_list {
	char **v;
	size_t n, cap;
};

static int line_add(struct line_list *l, char *s)
{
	if (!s)
		return -ENOMEM;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		char **v = realloc(l->v, ncap * sizeof(*v));

		if (!v) {
			free(s);
			return -ENOMEM;
		}
		l->v = v;
		l->cap = ncap;
	}
	l->v[l->n++] = s;
	return 0;
}

/* One entry's items, held until the next entry shows whether they are summarised. */
struct item_copy {
	enum mps3_op op;
	char *path, *to;
	json_t *old, *new;
};

struct log_run {
	int json;
	struct line_list lines;
	struct mps3_logkey key;		/* of the entry being gathered */
	struct item_copy *items;
	size_t n, cap;
	int err;
};

static void octal_mode(char out[8], json_t *v)
{
	json_t *m = json_object_get(v, "mode");

	if (json_is_integer(m))
		snprintf(out, 8, "%04llo", (unsigned long long)json_integer_value(m) & 07777);
	else
		snprintf(out, 8, "-");
}

/* "size 6 blob 1a2b3c4d5e6f", "mode 0644", "-> target": what a reader of the line wants to know. */
static void detail(struct mps3_buf *b, const struct item_copy *it)
{
	json_t *v = it->new ? it->new : it->old;
	struct mps3_entry e;
	char mode[8];

	if (!v || mps3_entry_parse(&e, v))
		return;
	octal_mode(mode, v);
	switch (it->op) {
	case MPS3_OP_PUT:
	case MPS3_OP_MV:
		if (e.type == MPS3_FILE)
			mps3_buf_printf(b, "  %" PRIu64 " B  %.12s", e.size, e.blob);
		break;
	case MPS3_OP_LINK: {
		char *t = mps3_escape(e.target);

		mps3_buf_printf(b, "  -> %s", t ? t : "?");
		free(t);
		break;
	}
	case MPS3_OP_CHMOD:
	case MPS3_OP_MKDIR:
	case MPS3_OP_MKNOD:
		mps3_buf_printf(b, "  mode %s", mode);
		break;
	case MPS3_OP_CHOWN:
		mps3_buf_printf(b, "  owner %lld:%lld", (long long)json_integer_value(json_object_get(v, "uid")),
				(long long)json_integer_value(json_object_get(v, "gid")));
		break;
	case MPS3_OP_TOUCH:
		if (e.mtime_ns) {
			char when[25];

			mps3_time_format_iso8601(when, e.mtime_ns / 1000000);
			mps3_buf_printf(b, "  mtime %s", when);
		}
		break;
	default:
		break;
	}
}

static char *text_line(const struct mps3_logkey *k, const char *body)
{
	char when[25], *s = NULL;

	mps3_time_format_iso8601(when, k->t);
	if (asprintf(&s, "%s  %s  %6" PRIu64 "  %s", when, k->session, k->seq, body) < 0)
		s = NULL;
	return s;
}

static char *json_line(const struct mps3_logkey *k, size_t entry_paths, const struct item_copy *it)
{
	json_t *v = it->new ? it->new : it->old, *j;
	struct mps3_entry e;
	char when[25], mode[8], *s;
	int ok = v && mps3_entry_parse(&e, v) == 0;

	mps3_time_format_iso8601(when, k->t);
	octal_mode(mode, v);
	j = json_pack("{s:I,s:s,s:s,s:I,s:s,s:s,s:I}", "t", (json_int_t)k->t, "time", when, "session", k->session,
		      "seq", (json_int_t)k->seq, "op", mps3_op_name(it->op), "path", it->path, "entry_paths",
		      (json_int_t)entry_paths);
	if (!j)
		return NULL;
	if (it->to)
		json_object_set_new(j, "to", json_string(it->to));
	if (ok && strcmp(mode, "-") != 0)
		json_object_set_new(j, "mode", json_string(mode));
	if (ok && e.type == MPS3_FILE) {
		json_object_set_new(j, "size", json_integer((json_int_t)e.size));
		json_object_set_new(j, "blob", json_string(e.blob));
	}
	if (ok && e.type == MPS3_LINK)
		json_object_set_new(j, "target", json_string(e.target));
	json_object_set(j, "old", it->old ? it->old : json_null());
	json_object_set(j, "new", it->new ? it->new : json_null());
	s = mps3_json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

/* The gathered entry's lines: one per change, or one for all when there are many. */
static void flush_entry(struct log_run *r)
{
	struct mps3_buf b;
	size_t i, count[MPS3_OP_TYPE + 1] = { 0 };

	for (i = 0; !r->err && i < r->n; i++) {
		struct item_copy *it = &r->items[i];

		if (r->json || r->n <= SUMMARY_AFTER) {
			char *p = mps3_escape(it->path), *t = it->to ? mps3_escape(it->to) : NULL;

			mps3_buf_init(&b, 0);
			if (r->json) {
				r->err = line_add(&r->lines, json_line(&r->key, r->n, it));
			} else {
				mps3_buf_printf(&b, "%-5s  %s%s%s", mps3_op_name(it->op), p ? p : "?", t ? " -> " : "",
						t ? t : "");
				detail(&b, it);
				r->err = line_add(&r->lines, text_line(&r->key, mps3_buf_cstr(&b)));
			}
			mps3_buf_dispose(&b);
			free(p);
			free(t);
		}
		count[it->op]++;
	}
	if (!r->err && !r->json && r->n > SUMMARY_AFTER) {
		char *first = mps3_escape(r->items[0].path), *last = mps3_escape(r->items[r->n - 1].path);
		const char *sep = "";
		int op;

		mps3_buf_init(&b, 0);
		mps3_buf_printf(&b, "%zu paths:", r->n);
		for (op = 0; op <= MPS3_OP_TYPE; op++) {
			if (count[op]) {
				mps3_buf_printf(&b, "%s %zu %s", sep, count[op], mps3_op_name(op));
				sep = ",";
			}
		}
		mps3_buf_printf(&b, " (%s ... %s)", first ? first : "?", last ? last : "?");
		r->err = line_add(&r->lines, text_line(&r->key, mps3_buf_cstr(&b)));
		mps3_buf_dispose(&b);
		free(first);
		free(last);
	}
	for (i = 0; i < r->n; i++) {
		free(r->items[i].path);
		free(r->items[i].to);
		json_decref(r->items[i].old);
		json_decref(r->items[i].new);
	}
	r->n = 0;
}

static int on_history(void *ctx, const struct mps3_history_item *it)
{
	struct log_run *r = ctx;
	struct item_copy *c;

	if (r->n && mps3_logkey_cmp(&r->key, &it->key) != 0)
		flush_entry(r);
	if (r->err)
		return r->err;
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		struct item_copy *v = realloc(r->items, ncap * sizeof(*v));

		if (!v)
			return r->err = -ENOMEM;
		r->items = v;
		r->cap = ncap;
	}
	r->key = it->key;
	c = &r->items[r->n++];
	c->op = it->op;
	c->path = strdup(it->path);
	c->to = it->to ? strdup(it->to) : NULL;
	c->old = json_incref(it->old);
	c->new = json_incref(it->new);
	if (!c->path || (it->to && !c->to))
		return r->err = -ENOMEM;
	return 0;
}

int mps3_cmd_log(struct ctx *c, const struct mps3_cli_args *a)
{
	struct log_run r;
	const char *prefix = a->npos ? a->pos[0] : "";
	size_t limit = (size_t)a->num[OPT_COUNT], i;
	int rc;

	if (a->count[OPT_ENTRIES])
		return mps3_cmd_log_entries(c, a);
	if (*prefix) {
		rc = mps3_path_check(prefix);
		if (rc)
			return mps3_cli_fail(rc, "log");
	}
	memset(&r, 0, sizeof(r));
	r.json = a->count[OPT_JSON] > 0;
	rc = mps3_db_history(c->db, prefix, on_history, &r);
	if (!rc && r.n)
		flush_entry(&r);
	if (!rc)
		rc = r.err;
	/* Newest first. */
	for (i = r.lines.n; !rc && i > 0 && (!limit || r.lines.n - i < limit); i--)
		printf("%s\n", r.lines.v[i - 1]);
	for (i = 0; i < r.lines.n; i++)
		free(r.lines.v[i]);
	free(r.lines.v);
	flush_entry(&r);
	free(r.items);
	if (rc)
		return mps3_cli_fail(rc, "log");
	return fflush(stdout) == 0 ? 0 : EXIT_FAILURE;
}

/* ---- mps3 snapshot -------------------------------------------------------------------- */

static int on_snapshot(void *ctx, const struct mps3_snapshot_info *s)
{
	char when[25];

	(void)ctx;
	mps3_time_format_iso8601(when, s->t);
	printf("%s  %s  %zu paths\n", s->name, when, s->paths);
	return 0;
}

int mps3_cmd_snapshot(struct ctx *c, const struct mps3_cli_args *a)
{
	const char *sub = a->pos[0];
	int64_t at = 0;
	int rc;

	if (strcmp(sub, "ls") == 0 && a->npos == 1) {
		rc = mps3_db_snapshot_list(c->db, on_snapshot, NULL);
		return rc ? mps3_cli_fail(rc, "snapshot ls") : 0;
	}
	if (strcmp(sub, "rm") == 0 && a->npos == 2) {
		rc = mps3_db_snapshot_delete(c->db, a->pos[1]);
		return rc ? mps3_cli_fail(rc, "snapshot rm") : 0;
	}
	if (strcmp(sub, "create") == 0 && a->npos == 2) {
		if (a->val[OPT_AT] && mps3_cli_time(c, a->val[OPT_AT], &at))
			return mps3_cli_usage_error("--at needs a time like 2026-11-30T12:00:00Z, @1790000000 or -2h");
		rc = mps3_db_snapshot_create(c->db, a->pos[1], at);
		return rc ? mps3_cli_fail(rc, "snapshot create") : 0;
	}
	return mps3_cli_usage_error("unknown subcommand \"%s\"", sub); /* the table's check let it by */
}

/* ---- mps3 restore --at TIME PATH... ------------------------------------------------------ */

int mps3_cmd_restore(struct ctx *c, const struct mps3_cli_args *a)
{
	struct mps3_logkey key;
	char when[25], name[MPS3_LOGNAME_MAX];
	size_t changed;
	int64_t at;
	int i, rc;

	if (mps3_cli_time(c, a->val[OPT_AT], &at))
		return mps3_cli_usage_error("--at needs a time like 2026-11-30T12:00:00Z, @1790000000 or -2h");
	for (i = 0; i < a->npos; i++) {
		size_t n = strlen(a->pos[i]);

		while (n > 0 && a->pos[i][n - 1] == '/')
			a->pos[i][--n] = '\0'; /* "dir/" is dir */
	}
	rc = mps3_db_restore(c->db, at, (const char *const *)a->pos, (size_t)a->npos, &changed, &key);
	if (rc)
		return mps3_cli_fail(rc, "restore");
	mps3_time_format_iso8601(when, at);
	if (changed == 0) {
		printf("nothing to restore: already as at %s\n", when);
		return 0;
	}
	mps3_logkey_format(name, &key);
	printf("restored %zu path%s as at %s (log/%s)\n", changed, changed == 1 ? "" : "s", when, name);
	return 0;
}
