/*
 * cli/args.c - the command line of mps3, parsed in one place: what each
 * option is, global options anywhere on the line and a command's after its
 * name, "--" ending options, values checked before anything is opened, and
 * each command's usage text for --help.  Every usage error is one line on
 * stderr, a hint to the command's --help, and exit status 2.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mps3/timefmt.h"
#include "cli.h"
#include "common.h"

enum kind {
	K_FLAG,		/* no value */
	K_STRING,
	K_DURATION,	/* num: milliseconds, at least min */
	K_COUNT,	/* num: a whole number, at least min */
	K_TIME,		/* a point in time; resolved against the store's clock by the command */
	K_PROGRAM,	/* the absolute path of an executable */
	K_CHOICE,	/* one of the words in choices */
};

struct opt_desc {
	const char *name;	/* long name, without "--"; NULL: a short option only */
	const char *shorts;	/* its short letters, the first the one shown; NULL: none */
	enum kind kind;
	const char *arg;	/* the value's name in usage texts */
	int64_t min;
	const char *choices;	/* K_CHOICE: the words, separated by spaces */
	const char *help;	/* a global option's line in mps3 --help */
};

/* One meaning per short letter: -n is always a count, -l a long listing, -r recursion. */
static const struct opt_desc opts[OPT_N] = {
	[OPT_PROFILE] = { "profile", NULL, K_STRING, "NAME", 0, NULL,
			  "AWS profile from ~/.aws/credentials and ~/.aws/config" },
	[OPT_ENDPOINT] = { "endpoint", NULL, K_STRING, "URL", 0, NULL,
			   "S3 endpoint (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, AWS)" },
	[OPT_REGION] = { "region", NULL, K_STRING, "REGION", 0, NULL, "signing region (default: $AWS_REGION or us-east-1)" },
	[OPT_PASSWD_FILE] = { "passwd-file", NULL, K_STRING, "FILE", 0, NULL,
			      "s3fs-style [BUCKET:]ACCESS_KEY:SECRET file (mode 600)" },
	[OPT_ADDRESSING] = { "addressing", NULL, K_CHOICE, "STYLE", 0, "path virtual auto",
			     "path, virtual or auto (default auto: virtual-hosted on AWS)" },
	[OPT_CA_BUNDLE] = { "ca-bundle", NULL, K_STRING, "FILE", 0, NULL, "trust these CA certificates for https" },
	[OPT_INSECURE] = { "insecure", NULL, K_FLAG, NULL, 0, NULL, "do not verify TLS certificates (unsafe)" },
	[OPT_RETRIES] = { "retries", NULL, K_COUNT, "N", 1, NULL, "attempts per request (default 6)" },
	[OPT_VALIDATE] = { "validate", NULL, K_PROGRAM, "PROGRAM", 0, NULL,
			   "put asks PROGRAM first, as mps3fs -o validate= does" },
	[OPT_BRANCH] = { "branch", NULL, K_STRING, "NAME", 0, NULL, "work on branch NAME instead of the main line" },
	[OPT_POLL] = { "poll", NULL, K_DURATION, "DURATION", 10, NULL, "watch interval (default 1s; e.g. 100ms, 5s)" },
	[OPT_CACHE_DIR] = { "cache-dir", NULL, K_STRING, "DIR", 0, NULL,
			    "keep the resolved state here between runs\n"
			    "(default $XDG_CACHE_HOME/mps3 or ~/.cache/mps3)" },
	[OPT_NO_CACHE] = { "no-cache", NULL, K_FLAG, NULL, 0, NULL, "resolve everything from the bucket every time" },
	[OPT_FORMAT] = { "format", NULL, K_CHOICE, "FORMAT", 0, "mps3fs mps3",
			 "mps3: a database of the MPS3 JavaScript client (get, put, rm,\n"
			 "ls, watch and log); see \"Sharing a database with MPS3 web apps\"" },
	[OPT_MANIFEST] = { "manifest", NULL, K_STRING, "KEY", 0, NULL,
			   "with --format mps3: its manifest (default manifest.json)" },
	[OPT_MPS3_BUCKET] = { "mps3-bucket", NULL, K_STRING, "NAME", 0, NULL,
			      "with --format mps3: the bucket name in its keys (default: the\n"
			      "URL's bucket, or a file:// directory's last component)" },
	[OPT_LAG] = { "lag", NULL, K_DURATION, "DURATION", 0, NULL,
		      "protocol parameter (default 10s; alike in every client)" },
	[OPT_STALE] = { "stale", NULL, K_DURATION, "DURATION", 0, NULL,
			"protocol parameter (default 3s; alike in every client)" },
	[OPT_STORAGE_CLASS] = { "storage-class", NULL, K_STRING, "CLASS", 0, NULL,
				"storage class of the objects written (STANDARD_IA, ...)" },
	[OPT_SSE] = { "sse", NULL, K_CHOICE, "MODE", 0, "AES256 aws:kms C",
		      "server-side encryption: AES256 (SSE-S3), aws:kms (SSE-KMS), C (SSE-C)" },
	[OPT_SSE_KMS_KEY_ID] = { "sse-kms-key-id", NULL, K_STRING, "ID", 0, NULL,
				 "with --sse aws:kms: the key (default the account's)" },
	[OPT_SSE_C_KEY_FILE] = { "sse-c-key-file", NULL, K_STRING, "FILE", 0, NULL,
				 "with --sse C: the 256-bit key (32 bytes, raw or base64; mode 600)" },
	[OPT_REQUESTER_PAYS] = { "requester-pays", NULL, K_FLAG, NULL, 0, NULL, "for a requester-pays bucket" },
	[OPT_PART_SIZE] = { "part-size", NULL, K_STRING, "SIZE", 0, NULL,
			    "multipart part size, 5M to 5G (default 16M)" },
	[OPT_PARALLEL] = { "parallel", NULL, K_COUNT, "N", 1, NULL, "parts in flight (default 4)" },
	[OPT_VERBOSE] = { "verbose", "v", K_FLAG, NULL, 0, NULL, "more messages (twice: debug)" },
	[OPT_QUIET] = { "quiet", "q", K_FLAG, NULL, 0, NULL, "errors only" },
	[OPT_HELP] = { "help", "h", K_FLAG, NULL, 0, NULL, "this help; mps3 COMMAND --help: the command's" },
	[OPT_VERSION] = { "version", "V", K_FLAG, NULL, 0, NULL, "print the version" },
	[OPT_AT] = { "at", NULL, K_TIME, "TIME", 0, NULL, NULL },
	[OPT_LONG] = { NULL, "l", K_FLAG, NULL, 0, NULL, NULL },
	[OPT_JSON] = { "json", NULL, K_FLAG, NULL, 0, NULL, NULL },
	[OPT_RECURSIVE] = { "recursive", "rR", K_FLAG, NULL, 0, NULL, NULL },
	[OPT_COUNT] = { NULL, "n", K_COUNT, "N", 1, NULL, NULL },
	[OPT_ENTRIES] = { "entries", NULL, K_FLAG, NULL, 0, NULL, NULL },
	[OPT_DRY_RUN] = { "dry-run", NULL, K_FLAG, NULL, 0, NULL, NULL },
	[OPT_GRACE] = { "grace", NULL, K_DURATION, "DURATION", 0, NULL, NULL },
	[OPT_HISTORY] = { "history", NULL, K_DURATION, "DURATION", 0, NULL, NULL },
	[OPT_VERIFY] = { "verify", NULL, K_FLAG, NULL, 0, NULL, NULL },
	[OPT_JOURNAL] = { "journal", NULL, K_STRING, "DIR", 0, NULL, NULL },
	[OPT_KEEP] = { "keep", NULL, K_FLAG, NULL, 0, NULL, NULL },
	[OPT_REBASE] = { "rebase", NULL, K_FLAG, NULL, 0, NULL, NULL },
	[OPT_TIMEOUT] = { "timeout", NULL, K_DURATION, "DURATION", 0, NULL, NULL },
};

/* The command usage errors name; set once by mps3_cli_parse (one thread). */
static const char *usage_cmd;

int mps3_cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mps3: ", stderr);
	if (usage_cmd)
		fprintf(stderr, "%s: ", usage_cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (usage_cmd)
		fprintf(stderr, "\nTry 'mps3 %s --help'.\n", usage_cmd);
	else
		fputs("\nTry 'mps3 --help'.\n", stderr);
	return EXIT_USAGE;
}

/* Whether option id may stand where cmd (NULL: none named yet) is the command. */
static int takes(const struct mps3_cli_command *cmd, enum mps3_cli_opt id)
{
	const struct mps3_cli_optuse *u;

	if (id < OPT_GLOBAL_END)
		return 1;
	for (u = cmd ? cmd->opts : NULL; u && u->id != OPT_N; u++)
		if (u->id == id)
			return 1;
	return 0;
}

/* "--name" or "-x", as the user would write it. */
static const char *spelling(enum mps3_cli_opt id, char buf[32])
{
	if (opts[id].name)
		snprintf(buf, 32, "--%s", opts[id].name);
	else
		snprintf(buf, 32, "-%c", opts[id].shorts[0]);
	return buf;
}

/* The option named (a long name, len bytes: exact, else an unambiguous prefix) that cmd takes. */
static int find_long(const struct mps3_cli_command *cmd, const char *name, size_t len, enum mps3_cli_opt *out)
{
	int i, found = -1, n = 0;

	if (!len)
		return -2; /* "--=x": not a prefix of everything */
	for (i = 0; i < OPT_N; i++) {
		if (!opts[i].name || !takes(cmd, (enum mps3_cli_opt)i) || strncmp(opts[i].name, name, len) != 0)
			continue;
		if (opts[i].name[len] == '\0') {
			*out = (enum mps3_cli_opt)i;
			return 0;
		}
		found = i;
		n++;
	}
	if (n == 1) {
		*out = (enum mps3_cli_opt)found;
		return 0;
	}
	return n > 1 ? -1 : -2;
}

static int find_short(const struct mps3_cli_command *cmd, char c, enum mps3_cli_opt *out)
{
	int i;

	for (i = 0; i < OPT_N; i++) {
		if (opts[i].shorts && strchr(opts[i].shorts, c) && takes(cmd, (enum mps3_cli_opt)i)) {
			*out = (enum mps3_cli_opt)i;
			return 0;
		}
	}
	return -2;
}

/* Which commands take an option this one does not: "get, restore" into buf, or "". */
static void takers(char *buf, size_t size, const struct mps3_cli_command *cmds, size_t ncmds, const char *word,
		   int is_short)
{
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < ncmds; i++) {
		enum mps3_cli_opt id;
		int rc = is_short ? find_short(&cmds[i], word[0], &id) : find_long(&cmds[i], word, strlen(word), &id);

		if (rc == 0 && id >= OPT_GLOBAL_END && len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "", cmds[i].name);
	}
}

static int unknown(const struct mps3_cli_args *a, const struct mps3_cli_command *cmds, size_t ncmds,
		   const char *arg, const char *word, int is_short)
{
	char who[256];

	takers(who, sizeof(who), cmds, ncmds, word, is_short);
	if (!who[0])
		return mps3_cli_usage_error("unknown option %s", arg);
	if (!a->cmd)
		return mps3_cli_usage_error("%s is an option of %s: put it after the command's name", arg, who);
	return mps3_cli_usage_error("%s is not an option of %s (it is one of %s)", arg, a->cmd->name, who);
}

/* Whether v is one of the space-separated words of choices. */
static int is_choice(const char *choices, const char *v)
{
	size_t len = strlen(v);

	while (*choices) {
		size_t n = strcspn(choices, " ");

		if (n == len && strncmp(choices, v, n) == 0)
			return 1;
		choices += n;
		choices += *choices == ' ';
	}
	return 0;
}

/* Check and keep one option's value. */
static int set_value(struct mps3_cli_args *a, enum mps3_cli_opt id, const char *v)
{
	const struct opt_desc *d = &opts[id];
	char sp[32];
	int64_t n = 0;

	spelling(id, sp);
	switch (d->kind) {
	case K_FLAG:
		break;
	case K_STRING:
		if (!*v)
			return mps3_cli_usage_error("%s needs a value", sp);
		break;
	case K_DURATION:
		if (mps3_cli_duration_ms(&n, v) || n < d->min)
			return d->min ? mps3_cli_usage_error("%s needs a duration of at least %lldms, like 1s or 100ms, "
							     "not \"%s\"", sp, (long long)d->min, v)
				      : mps3_cli_usage_error("%s needs a duration like 30s, 5m or 1h, not \"%s\"", sp, v);
		break;
	case K_COUNT: {
		char *end;
		long long l = strtoll(v, &end, 10);

		if (!*v || *end || l < d->min || l > 1000000000)
			return mps3_cli_usage_error("%s needs a whole number of at least %lld, not \"%s\"", sp,
						    (long long)d->min, v);
		n = l;
		break;
	}
	case K_TIME:
		/* Relative times are resolved against the store's clock later: only the form here. */
		if (mps3_time_parse_point(&n, v, 0))
			return mps3_cli_usage_error("%s needs a time like 2026-11-30T12:00:00Z, @1790000000 or -2h, "
						    "not \"%s\"", sp, v);
		break;
	case K_PROGRAM:
		if (v[0] != '/' || access(v, X_OK) != 0)
			return mps3_cli_usage_error("%s needs the absolute path of an executable program, not \"%s\"", sp,
						    v);
		break;
	case K_CHOICE:
		if (!is_choice(d->choices, v))
			return mps3_cli_usage_error("%s is one of: %s; not \"%s\"", sp, d->choices, v);
		break;
	}
	a->val[id] = v;
	a->num[id] = n;
	a->count[id]++;
	return 0;
}

/* An operand: the URL, the command's name, or one of the command's. */
static int operand(struct mps3_cli_args *a, const struct mps3_cli_command *cmds, size_t ncmds, char *s, int *done)
{
	size_t i;

	if (a->cmd) {
		a->pos[a->npos++] = s;
		if (a->cmd->stop_after && a->npos > a->cmd->stop_after)
			*done = 1; /* batch: the rest is the program's */
		return 0;
	}
	if (!a->url && strstr(s, "://")) {
		a->url = s;
		return 0;
	}
	for (i = 0; i < ncmds; i++) {
		if (strcmp(s, cmds[i].name) == 0) {
			a->cmd = &cmds[i];
			/* `mps3 help` has no usage of its own to point at. */
			usage_cmd = strcmp(s, "help") != 0 ? a->cmd->name : NULL;
			return 0;
		}
	}
	if (a->url)
		return mps3_cli_usage_error("unknown command \"%s\"", s);
	return mps3_cli_usage_error("\"%s\" is neither a command nor a URL (s3://BUCKET[/PREFIX], file:///PATH)", s);
}

static int ambiguous(const struct mps3_cli_command *cmd, const char *arg, size_t len)
{
	char which[256];
	size_t n = 0;
	int i;

	which[0] = '\0';
	for (i = 0; i < OPT_N; i++)
		if (opts[i].name && takes(cmd, (enum mps3_cli_opt)i) && strncmp(opts[i].name, arg + 2, len) == 0 &&
		    n < sizeof(which))
			n += (size_t)snprintf(which + n, sizeof(which) - n, "%s--%s", n ? ", " : "", opts[i].name);
	return mps3_cli_usage_error("%.*s is ambiguous (%s)", (int)(len + 2), arg, which);
}

/* One option, argv[*i]; *i moves past its value when that is the next argument. */
static int option(struct mps3_cli_args *a, const struct mps3_cli_command *cmds, size_t ncmds, int argc, char **argv,
		  int *i)
{
	const char *arg = argv[*i];
	enum mps3_cli_opt id;
	char sp[32];
	int rc;

	if (arg[1] == '-') {
		const char *name = arg + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		char word[64];

		rc = find_long(a->cmd, name, len, &id);
		if (rc == -1)
			return ambiguous(a->cmd, arg, len);
		if (rc) {
			snprintf(word, sizeof(word), "%.*s", (int)len, name);
			return unknown(a, cmds, ncmds, arg, word, 0);
		}
		if (opts[id].kind == K_FLAG)
			return eq ? mps3_cli_usage_error("%s takes no value", spelling(id, sp)) : set_value(a, id, "");
		if (eq)
			return set_value(a, id, eq + 1);
		if (*i + 1 >= argc)
			return mps3_cli_usage_error("%s needs a value (%s)", spelling(id, sp), opts[id].arg);
		return set_value(a, id, argv[++*i]);
	}
	/* Short letters, bundled: -lr, -n5, -n 5. */
	for (arg++; *arg; arg++) {
		if (find_short(a->cmd, *arg, &id)) {
			char word[2] = { *arg, '\0' }, shown[3] = { '-', *arg, '\0' };

			return unknown(a, cmds, ncmds, shown, word, 1);
		}
		if (opts[id].kind != K_FLAG) {
			if (arg[1])
				return set_value(a, id, arg + 1);
			if (*i + 1 >= argc)
				return mps3_cli_usage_error("-%c needs a value (%s)", *arg, opts[id].arg);
			return set_value(a, id, argv[++*i]);
		}
		rc = set_value(a, id, "");
		if (rc)
			return rc;
	}
	return 0;
}

int mps3_cli_parse(struct mps3_cli_args *out, int argc, char **argv, const struct mps3_cli_command *cmds,
		   size_t ncmds)
{
	int i, done = 0, rc = 0;

	memset(out, 0, sizeof(*out));
	usage_cmd = NULL;
	out->pos = calloc((size_t)argc + 1, sizeof(*out->pos));
	if (!out->pos) {
		fputs("mps3: out of memory\n", stderr);
		return EXIT_FAILURE;
	}
	for (i = 1; i < argc && rc == 0; i++) {
		char *s = argv[i];

		if (done || s[0] != '-' || s[1] == '\0')
			rc = operand(out, cmds, ncmds, s, &done);
		else if (strcmp(s, "--") == 0)
			done = 1;
		else
			rc = option(out, cmds, ncmds, argc, argv, &i);
		/* Help or the version: the rest of the line does not matter. */
		if (rc == 0 && (out->count[OPT_HELP] || out->count[OPT_VERSION]))
			break;
	}
	return rc;
}

void mps3_cli_args_dispose(struct mps3_cli_args *a)
{
	free(a->pos);
	a->pos = NULL;
}

/* "  -r, --recursive", "  --at TIME", "  -n N" padded to the help column, then the help's lines. */
static void print_option(FILE *f, enum mps3_cli_opt id, const char *help)
{
	const struct opt_desc *d = &opts[id];
	const char *line = help, *nl;
	int w = fprintf(f, "  ");

	if (d->shorts)
		w += fprintf(f, "-%c%s", d->shorts[0], d->name ? ", " : "");
	if (d->name)
		w += fprintf(f, "--%s", d->name);
	if (d->arg)
		w += fprintf(f, " %s", d->arg);
	for (;;) {
		nl = strchr(line, '\n');
		if (w >= 24) {
			fputc('\n', f);
			w = 0;
		}
		fprintf(f, "%*s%.*s\n", 24 - w, "", nl ? (int)(nl - line) : (int)strlen(line), line);
		w = 0;
		if (!nl)
			break;
		line = nl + 1;
	}
}

void mps3_cli_print_global_options(FILE *f)
{
	int i;

	fputs("Options (anywhere on the line; -- ends them):\n", f);
	for (i = 0; i < OPT_GLOBAL_END; i++)
		print_option(f, (enum mps3_cli_opt)i, opts[i].help);
}

void mps3_cli_print_usage(FILE *f, const struct mps3_cli_command *cmd)
{
	const struct mps3_cli_optuse *u;
	const char *line = cmd->synopsis, *nl;
	int first = 1;

	for (;;) {
		nl = strchr(line, '\n');
		fprintf(f, "%s mps3 %.*s\n", first ? "usage:" : "      ", nl ? (int)(nl - line) : (int)strlen(line), line);
		first = 0;
		if (!nl || !nl[1])
			break;
		line = nl + 1;
	}
	fprintf(f, "\n%s\n", cmd->about);
	if (cmd->opts && cmd->opts[0].id != OPT_N) {
		fputs("\nOptions:\n", f);
		for (u = cmd->opts; u->id != OPT_N; u++)
			print_option(f, u->id, u->help);
	}
	fputs("\nGlobal options (--endpoint, --profile, -v, ...) go anywhere on the line: see 'mps3 --help'.\n", f);
}
