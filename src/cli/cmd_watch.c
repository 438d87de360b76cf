/*
 * cli/cmd_watch.c - mps3 watch (a line per change anybody makes) and
 * mps3 log --entries (the log entries in the bucket, as stored).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>

#include "mps3/error.h"
#include "mps3/json.h"
#include "mps3/log.h"
#include "mps3/poller.h"
#include "mps3/timefmt.h"
#include "cli.h"

/* What a change is, in the words of `mps3 watch`. */
static const char *change_op(json_t *old, json_t *new)
{
	struct mps3_entry a, b;
	int had = old && mps3_entry_parse(&a, old) == 0;
	int has = new && mps3_entry_parse(&b, new) == 0;

	if (!has)
		return had ? "rm" : NULL;
	if (!had || a.type != b.type)
		return b.type == MPS3_DIR ? "mkdir" : b.type == MPS3_LINK ? "symlink" : mps3_ftype_special(b.type) ? "mknod" : "put";
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

static int valid(json_t *v)
{
	struct mps3_entry e;

	return v && mps3_entry_parse(&e, v) == 0;
}

/* The change that adds old's value somewhere else in the batch (a rename), or SIZE_MAX. */
static size_t moved_to(const struct mps3_changes *ch, size_t i, const char *used)
{
	size_t j;

	for (j = 0; j < ch->n; j++)
		if (j != i && !used[j] && !valid(ch->v[j].old) && valid(ch->v[j].new) &&
		    json_equal(ch->v[j].new, ch->v[i].old))
			return j;
	return SIZE_MAX;
}

static void print_json(const struct mps3_change *x, const char *op, const char *to, json_t *entry, int local)
{
	json_t *line = json_pack("{s:s, s:s, s:O?, s:O?, s:b}", "op", op, "key", x->path, "entry", entry, "old", x->old,
				 "local", local);
	json_t *m = json_object_get(entry ? entry : x->old, "mode");
	char *s;

	if (!line)
		return;
	if (to)
		json_object_set_new(line, "to", json_string(to));
	if (json_is_integer(m)) {
		char oct[8];

		snprintf(oct, sizeof(oct), "%04llo", (unsigned long long)json_integer_value(m) & 07777);
		json_object_set_new(line, "mode", json_string(oct));
	}
	/* The commit it came with: when, and by whom. */
	if (x->key.t > 0) {
		char when[25];

		mps3_time_format_iso8601(when, x->key.t);
		json_object_set_new(line, "t", json_integer(x->key.t));
		json_object_set_new(line, "time", json_string(when));
		json_object_set_new(line, "session", json_string(x->key.session));
		json_object_set_new(line, "seq", json_integer((json_int_t)x->key.seq));
	}
	s = mps3_json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(line);
}

static void on_change(void *arg, const struct mps3_changes *ch, int local)
{
	struct watch_ctx *w = arg;
	char *used = calloc(ch->n + 1, 1);
	size_t i, plen = strlen(w->prefix);

	if (!used)
		return;
	for (i = 0; i < ch->n; i++) {
		const struct mps3_change *x = &ch->v[i];
		const char *op = change_op(x->old, x->new), *to = NULL;
		json_t *entry = x->new;

		if (used[i] || !op)
			continue;
		/* A rename is one record, at its source. */
		if (strcmp(op, "rm") == 0) {
			size_t j = moved_to(ch, i, used);

			if (j != SIZE_MAX) {
				used[j] = 1;
				op = "mv";
				to = ch->v[j].path;
				entry = ch->v[j].new;
			}
		}
		if (strncmp(x->path, w->prefix, plen) != 0 && !(to && strncmp(to, w->prefix, plen) == 0))
			continue;
		if (w->json) {
			print_json(x, op, to, entry, local);
		} else {
			char *k = mps3_escape(x->path), *t = to ? mps3_escape(to) : NULL;

			printf("%s\t%s%s%s\n", op, k ? k : "?", t ? "\t" : "", t ? t : "");
			free(k);
			free(t);
		}
	}
	free(used);
	fflush(stdout);
}

int mps3_cmd_watch(struct ctx *c, const struct mps3_cli_args *a)
{
	struct watch_ctx w = { a->npos ? a->pos[0] : "", a->count[OPT_JSON] > 0 };
	struct mps3_poller_config pcfg = { 0 };
	struct mps3_poller *poller;
	struct sigaction sa;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = mps3_cli_on_signal;
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
		return mps3_cli_fail(rc, "watch");
	}
	/* As inotifywait says "Watches established.": from here on, every change is reported. */
	fprintf(stderr, "mps3: watching %s; changes from now on follow\n", c->url);
	while (!mps3_cli_stop && !ferror(stdout)) {
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
		char *s = line ? mps3_json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(line);
	} else {
		/* ASCII only: nothing from the bucket reaches the terminal raw. */
		size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII;
		char *patch = it->files ? mps3_json_dumps(it->files, flags) : NULL;

		printf("%s  %s  %6" PRIu64 "  %-9s %s\n", when,
		       it->key.session[0] ? it->key.session : "-", it->key.seq, it->status,
		       patch ? patch : "");
		free(patch);
	}
	return ferror(stdout) ? -EPIPE : 0;
}

int mps3_cmd_log_entries(struct ctx *c, const struct mps3_cli_args *a)
{
	struct log_ctx l = { a->count[OPT_JSON] > 0 };
	int rc;

	rc = mps3_db_log(c->db, (unsigned)a->num[OPT_COUNT], on_log, &l);
	if (rc == -EPIPE)
		return EXIT_FAILURE;
	return rc ? mps3_cli_fail(rc, "log") : 0;
}

