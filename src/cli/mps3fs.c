/*
 * cli/mps3fs.c - the mps3fs command: parse `mps3fs [-f] [-d] [-o opt,...]
 * URL MOUNTPOINT` (also as called by mount(8) from /etc/fstab), open the
 * store, and hand over to the daemon (src/fs/mount.c).
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "mps3/error.h"
#include "mps3/log.h"
#include "mps3/s3.h"
#include "mps3_config.h"
#include "../fs/fs.h"
#include "../fs/mount.h"
#include "cachedir.h"
#include "common.h"
#include "progress.h"

struct options {
	char *url;
	char *endpoint, *region, *profile, *passwd_file, *ca_bundle, *addressing;
	char *poll, *cache_dir, *cache_size, *drain, *timeout, *lag, *stale, *notify;
	char *mount_timeout, *connect_timeout, *stall_timeout, *history, *validate, *validate_timeout, *branch;
	char *format, *manifest, *mps3_bucket;
	char *storage_class, *sse, *sse_kms_key_id, *sse_c_key_file, *part_size;
	int requester_pays, parallel;
	char *logfile, *loglevel;
	char *js_bucket, *js_prefix;	/* format=mps3: the names its keys carry */
	struct mps3_jsdb_config jc;
	int sync, insecure, show_help, show_version, ro, nonempty;
	int fsname_set, subtype_set;	/* the user's own -o fsname=, subtype= win over ours */
	int suid, trust_owners, allow_other, default_permissions, no_default_permissions;
	unsigned uid, gid, umask_val, duid, dgid, dumask;	/* uid=...; default_uid=... */
	int uid_set, gid_set, umask_set, duid_set, dgid_set, dumask_set;
	int retries;
};

#define OPT(t, p) { t, offsetof(struct options, p), 1 }

enum {
	KEY_HELP, KEY_VERSION, KEY_DISCARD, KEY_RO, KEY_UID, KEY_GID, KEY_UMASK, KEY_DUID, KEY_DGID, KEY_DUMASK,
	KEY_SUID, KEY_ALLOW_OTHER, KEY_DEFAULT_PERMISSIONS, KEY_NO_DEFAULT_PERMISSIONS, KEY_FSNAME, KEY_SUBTYPE,
};

static const struct fuse_opt opts_spec[] = {
	OPT("endpoint=%s", endpoint),
	OPT("url=%s", endpoint),		/* s3fs spelling */
	OPT("region=%s", region),
	OPT("endpoint_region=%s", region),
	OPT("profile=%s", profile),
	OPT("passwd_file=%s", passwd_file),
	OPT("ca_bundle=%s", ca_bundle),
	OPT("addressing=%s", addressing),
	OPT("poll=%s", poll),
	OPT("notify=%s", notify),
	OPT("cache_dir=%s", cache_dir),
	OPT("cache_size=%s", cache_size),
	OPT("drain=%s", drain),
	OPT("timeout=%s", timeout),
	OPT("lag=%s", lag),
	OPT("stale=%s", stale),
	OPT("retries=%d", retries),
	OPT("mount_timeout=%s", mount_timeout),
	OPT("connect_timeout=%s", connect_timeout),
	OPT("stall_timeout=%s", stall_timeout),
	OPT("history=%s", history),
	OPT("branch=%s", branch),
	OPT("format=%s", format),
	OPT("manifest=%s", manifest),
	OPT("mps3_bucket=%s", mps3_bucket),
	OPT("validate=%s", validate),
	OPT("validate_timeout=%s", validate_timeout),
	OPT("storage_class=%s", storage_class),
	OPT("sse=%s", sse),
	OPT("sse_kms_key_id=%s", sse_kms_key_id),
	OPT("sse_c_key_file=%s", sse_c_key_file),
	OPT("requester_pays", requester_pays),
	OPT("part_size=%s", part_size),
	OPT("parallel=%d", parallel),
	OPT("logfile=%s", logfile),
	OPT("loglevel=%s", loglevel),
	OPT("sync", sync),
	OPT("insecure", insecure),
	OPT("nonempty", nonempty),
	FUSE_OPT_KEY("uid=", KEY_UID),
	FUSE_OPT_KEY("gid=", KEY_GID),
	FUSE_OPT_KEY("umask=", KEY_UMASK),
	FUSE_OPT_KEY("default_uid=", KEY_DUID),
	FUSE_OPT_KEY("default_gid=", KEY_DGID),
	FUSE_OPT_KEY("default_umask=", KEY_DUMASK),
	FUSE_OPT_KEY("ro", KEY_RO),
	OPT("trust_owners", trust_owners),
	FUSE_OPT_KEY("suid", KEY_SUID),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS),
	FUSE_OPT_KEY("no_default_permissions", KEY_NO_DEFAULT_PERMISSIONS),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	FUSE_OPT_KEY("subtype=", KEY_SUBTYPE),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	/* fstab words that mean something to mount(8), not to us. */
	FUSE_OPT_KEY("_netdev", KEY_DISCARD),
	FUSE_OPT_KEY("auto", KEY_DISCARD),
	FUSE_OPT_KEY("noauto", KEY_DISCARD),
	FUSE_OPT_KEY("user", KEY_DISCARD),
	FUSE_OPT_KEY("users", KEY_DISCARD),
	FUSE_OPT_KEY("nouser", KEY_DISCARD),
	FUSE_OPT_KEY("nofail", KEY_DISCARD),
	FUSE_OPT_KEY("defaults", KEY_DISCARD),
	FUSE_OPT_KEY("rw", KEY_DISCARD),
	FUSE_OPT_KEY("exec", KEY_DISCARD),
	FUSE_OPT_KEY("noexec", KEY_DISCARD),
	FUSE_OPT_KEY("x-systemd.%s", KEY_DISCARD),
	FUSE_OPT_KEY("comment=%s", KEY_DISCARD),
	FUSE_OPT_END
};

static const char usage_text[] =
	"usage: mps3fs [-f] [-d] [-o OPTION[,OPTION...]] URL MOUNTPOINT\n"
	"\n"
	"Mount the mps3 database at URL (s3://BUCKET[/PREFIX] or file:///PATH) on MOUNTPOINT.\n"
	"Unmount with: fusermount3 -u MOUNTPOINT\n"
	"\n"
	"mps3fs options (-o):\n"
	"  endpoint=URL          S3 endpoint (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, AWS)\n"
	"  region=REGION         signing region (default: $AWS_REGION or us-east-1)\n"
	"  profile=NAME          profile of ~/.aws/credentials and ~/.aws/config\n"
	"  passwd_file=FILE      s3fs-style [BUCKET:]ACCESS_KEY:SECRET file (mode 600)\n"
	"  addressing=STYLE      path, virtual or auto (default auto)\n"
	"  ca_bundle=FILE        trust these CA certificates\n"
	"  insecure              do not verify TLS certificates (unsafe)\n"
	"  poll=DURATION         how often to look for changes by others (default 1s)\n"
	"  notify=MODE           how others' changes reach this machine: inotify (replayed\n"
	"                        through the mount, so watchers get events; default),\n"
	"                        invalidate (kernel caches dropped, no events) or off\n"
	"  cache_dir=DIR         blob cache, journal and state (default ~/.cache/mps3fs/\n"
	"                        <hash of URL>-<hash of MOUNTPOINT>, /var/cache/mps3fs/... for root)\n"
	"  cache_size=SIZE       blob cache limit, e.g. 512M, 4G (default 1G)\n"
	"  sync                  close() waits until the change is in the bucket\n"
	"  drain=DURATION        how long unmount waits for pending uploads (default 60s)\n"
	"  timeout=SECONDS       kernel attribute and entry cache time (default 5)\n"
	"  uid=N, gid=N          the owner every file is shown with, trust_owners or not\n"
	"                        (default: the mounting user)\n"
	"  umask=NNN             taken from every file's permissions shown, as with s3fs\n"
	"                        (default none)\n"
	"  default_uid=N, default_gid=N, default_umask=NNN\n"
	"                        the owner (with trust_owners) and permissions (default 022)\n"
	"                        of the files that record none\n"
	"  trust_owners          show the owners recorded in the bucket (default: every file\n"
	"                        is shown as owned by the mounting user or default_uid=;\n"
	"                        bucket writers are not trusted with the machine)\n"
	"  suid                  honour setuid, setgid and sticky bits from the bucket\n"
	"                        (default: not shown, and the mount is nosuid)\n"
	"  allow_other           let other users in; implies default_permissions (the\n"
	"                        kernel checks modes) unless no_default_permissions\n"
	"  ro                    read-only mount\n"
	"  nonempty              mount over a directory that is not empty (its files are\n"
	"                        hidden while mounted)\n"
	"  retries=N             attempts per S3 request (default 6)\n"
	"  storage_class=CLASS   storage class of the objects written (STANDARD_IA, ...)\n"
	"  sse=AES256|aws:kms|C  server-side encryption: SSE-S3, SSE-KMS (sse_kms_key_id=ID,\n"
	"                        default the account's key) or SSE-C (sse_c_key_file=FILE:\n"
	"                        32 bytes, raw or base64, mode 600; needed to read them too)\n"
	"  requester_pays        for a requester-pays bucket\n"
	"  part_size=SIZE, parallel=N\n"
	"                        multipart uploads and big reads: part size (5M to 5G,\n"
	"                        default 16M) and parts in flight (default 4)\n";

/* Two strings: one would be longer than C99 promises to compile. */
static const char usage_text2[] =
	"  logfile=FILE          also append the log to FILE (created 0600; SIGHUP reopens\n"
	"                        it, for logrotate). Without it the log goes to stderr with\n"
	"                        -f, to syslog (daemon facility) otherwise\n"
	"  loglevel=LEVEL        err, warn, notice (default), info or debug (-d: debug)\n"
	"  format=mps3           a database of the MPS3 JavaScript client (files only, of at\n"
	"                        most 16 MiB; manifest=KEY, mps3_bucket=NAME as for\n"
	"                        mps3 --format mps3)\n"
	"  branch=NAME           mount branch NAME (mps3 URL branch create NAME) instead of\n"
	"                        the main line: writable, watched, committed with branch commit\n"
	"  validate=PROGRAM      run PROGRAM (absolute path) before each local change; it\n"
	"                        refuses it (EPERM) by exiting non-zero (see mps3fs(1))\n"
	"  validate_timeout=DURATION\n"
	"                        how long PROGRAM may take before the change is refused (10s)\n"
	"  history=DURATION      how far back /.mps3/at/TIME reaches: what gc keeps by\n"
	"                        default (7d; 0: as far as the bucket holds)\n"
	"  mount_timeout=DURATION\n"
	"                        how long the mount waits for the store before it starts\n"
	"                        offline from its saved state, or fails (default 20s; 0: no limit)\n"
	"  connect_timeout=DURATION, stall_timeout=DURATION\n"
	"                        per S3 request: to connect, and with no byte moving\n"
	"                        (default 10s, 30s); the request is then retried\n"
	"  lag=DURATION, stale=DURATION\n"
	"                        protocol parameters; all clients must agree (default 10s, 3s)\n"
	"  fsname=NAME, subtype=TYPE\n"
	"                        source and type shown by mount, findmnt and df\n"
	"                        (default: URL, and fuse.mps3fs)\n"
	"  allow_other, default_permissions and the other FUSE options are passed to FUSE.\n"
	"  fstab words (_netdev, auto, noauto, user, users, nofail, defaults, x-systemd.*)\n"
	"  are accepted and ignored.\n"
	"\n"
	"See mps3fs(1).\n";

static int parse_uint(const char *arg, const char *prefix, int base, unsigned *out)
{
	char *end;
	unsigned long v;

	if (strncmp(arg, prefix, strlen(prefix)) != 0)
		return -1;
	v = strtoul(arg + strlen(prefix), &end, base);
	if (*end || end == arg + strlen(prefix) || v > UINT_MAX)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct options *o = data;

	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!o->url) {
			o->url = strdup(arg);
			return 0; /* ours; the mount point goes on to FUSE */
		}
		return 1;
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case KEY_DISCARD:
		return 0;
	case KEY_SUID:
		o->suid = 1;
		return 1; /* the kernel honours set-id bits only on a suid mount */
	case KEY_ALLOW_OTHER:
		o->allow_other = 1;
		return 1;
	case KEY_DEFAULT_PERMISSIONS:
		o->default_permissions = 1;
		return 1;
	case KEY_NO_DEFAULT_PERMISSIONS:
		o->no_default_permissions = 1;
		return 0;
	case KEY_FSNAME:
		o->fsname_set = 1;
		return 1;
	case KEY_SUBTYPE:
		o->subtype_set = 1;
		return 1;
	case KEY_RO:
		o->ro = 1;
		return 1; /* FUSE makes the mount read-only in the kernel too */
	case KEY_UID:
	case KEY_GID:
	case KEY_UMASK:
	case KEY_DUID:
	case KEY_DGID:
	case KEY_DUMASK: {
		static const struct {
			int key;
			const char *prefix;
			int base;
			size_t val, set;
		} ids[] = {
			{ KEY_UID, "uid=", 10, offsetof(struct options, uid), offsetof(struct options, uid_set) },
			{ KEY_GID, "gid=", 10, offsetof(struct options, gid), offsetof(struct options, gid_set) },
			{ KEY_UMASK, "umask=", 8, offsetof(struct options, umask_val), offsetof(struct options, umask_set) },
			{ KEY_DUID, "default_uid=", 10, offsetof(struct options, duid), offsetof(struct options, duid_set) },
			{ KEY_DGID, "default_gid=", 10, offsetof(struct options, dgid), offsetof(struct options, dgid_set) },
			{ KEY_DUMASK, "default_umask=", 8, offsetof(struct options, dumask),
			  offsetof(struct options, dumask_set) },
		};
		size_t i;

		for (i = 0; i < sizeof(ids) / sizeof(ids[0]) && ids[i].key != key; i++)
			;
		if (parse_uint(arg, ids[i].prefix, ids[i].base, (unsigned *)((char *)o + ids[i].val)) ||
		    (ids[i].base == 8 && *(unsigned *)((char *)o + ids[i].val) > 0777)) {
			fprintf(stderr, "mps3fs: bad option %s\n", arg);
			return -1;
		}
		*(int *)((char *)o + ids[i].set) = 1;
		return 0;
	}
	default:
		return 1;
	}
}

static void free_options(struct options *o)
{
	free(o->url);
	free(o->endpoint);
	free(o->region);
	free(o->profile);
	free(o->passwd_file);
	free(o->ca_bundle);
	free(o->addressing);
	free(o->poll);
	free(o->cache_dir);
	free(o->cache_size);
	free(o->drain);
	free(o->timeout);
	free(o->lag);
	free(o->stale);
	free(o->notify);
	free(o->mount_timeout);
	free(o->connect_timeout);
	free(o->stall_timeout);
	free(o->history);
	free(o->branch);
	free(o->format);
	free(o->manifest);
	free(o->mps3_bucket);
	free(o->js_bucket);
	free(o->js_prefix);
	free(o->validate);
	free(o->validate_timeout);
	free(o->storage_class);
	free(o->sse);
	free(o->sse_kms_key_id);
	free(o->sse_c_key_file);
	free(o->part_size);
	free(o->logfile);
	free(o->loglevel);
}

/* The S3 options of the mount.  0, or 2 (usage) after saying what is wrong. */
static int store_opts(struct mps3_cli_store_opts *so, const struct options *o)
{
	memset(so, 0, sizeof(*so));
	so->profile = o->profile;
	so->endpoint = o->endpoint;
	so->region = o->region;
	so->passwd_file = o->passwd_file;
	so->ca_bundle = o->ca_bundle;
	so->addressing = o->addressing;
	so->insecure = o->insecure;
	so->max_attempts = o->retries;
	so->storage_class = o->storage_class;
	so->sse = o->sse;
	so->sse_kms_key_id = o->sse_kms_key_id;
	so->sse_c_key_file = o->sse_c_key_file;
	so->requester_pays = o->requester_pays;
	if (o->part_size && mps3_cli_size(&so->part_size, o->part_size)) {
		fprintf(stderr, "mps3fs: part_size=%s: need a size like 16M\n", o->part_size);
		return 2;
	}
	if (o->parallel < 0 || o->parallel > 64) {
		fprintf(stderr, "mps3fs: parallel=%d: need 1 to 64\n", o->parallel);
		return 2;
	}
	so->parallel = (unsigned)o->parallel;
	return 0;
}

/* A duration option into *ms; 0, or 2 (usage) after saying what is wrong. */
static int duration_opt(const char *name, const char *val, int64_t *ms)
{
	if (val && mps3_cli_duration_ms(ms, val)) {
		fprintf(stderr, "mps3fs: %s=%s: need a duration, like 1s or 100ms\n", name, val);
		return 2;
	}
	return 0;
}

/* The mount's configuration from the options: 0, or 2 (usage) after saying what is wrong. */
static int build_config(struct mps3fs_config *cfg, struct options *o, const char *mountpoint)
{
	memset(cfg, 0, sizeof(*cfg));
	mps3_db_config_init(&cfg->db);
	cfg->url = o->url;
	cfg->mountpoint = mountpoint;
	cfg->poll_ms = 1000;
	cfg->cache_size = 1ull << 30;
	cfg->drain_ms = 60000;
	cfg->mount_timeout_ms = 20000;
	cfg->validate = o->validate;
	cfg->db.branch = o->branch;
	cfg->validate_timeout_ms = 10000;
	cfg->timeout_s = 5.0;
	/* uid=, gid=, umask= as s3fs and rclone have them: for every entry; default_*= for those that record none. */
	cfg->uid = o->uid_set ? o->uid : o->duid_set ? o->duid : getuid();
	cfg->gid = o->gid_set ? o->gid : o->dgid_set ? o->dgid : getgid();
	cfg->force_uid = o->uid_set;
	cfg->force_gid = o->gid_set;
	cfg->umask = o->dumask_set ? o->dumask : 022;
	cfg->mask = o->umask_set ? o->umask_val : 0;
	cfg->read_only = o->ro;
	cfg->sync_close = o->sync;
	cfg->suid = o->suid;
	cfg->trust_owners = o->trust_owners;
	if (o->format && strcmp(o->format, "mps3") == 0) {
		int rc = mps3_cli_js_names(o->url, o->mps3_bucket, &o->js_bucket, &o->js_prefix);

		if (rc) {
			fprintf(stderr, "mps3fs: format=mps3: %s\n", mps3_error_last(rc));
			return 2;
		}
		if (o->branch) {
			fputs("mps3fs: format=mps3 has no branches\n", stderr);
			return 2;
		}
		o->jc.bucket = o->js_bucket;
		o->jc.prefix = o->js_prefix;
		o->jc.manifest = o->manifest;
		cfg->db.js = &o->jc;
	} else if (o->format && strcmp(o->format, "mps3fs") != 0) {
		fprintf(stderr, "mps3fs: format=%s: use mps3fs (the default) or mps3\n", o->format);
		return 2;
	} else if (o->manifest || o->mps3_bucket) {
		fputs("mps3fs: manifest= and mps3_bucket= go with format=mps3\n", stderr);
		return 2;
	}
	if (o->poll && (mps3_cli_duration_ms(&cfg->poll_ms, o->poll) || cfg->poll_ms < 10)) {
		fprintf(stderr, "mps3fs: poll=%s: need a duration of at least 10ms, like 1s or 100ms\n", o->poll);
		return 2;
	}
	cfg->notify = NOTIFY_INOTIFY;
	if (o->notify && strcmp(o->notify, "invalidate") == 0) {
		cfg->notify = NOTIFY_INVALIDATE;
	} else if (o->notify && strcmp(o->notify, "off") == 0) {
		cfg->notify = NOTIFY_OFF;
	} else if (o->notify && strcmp(o->notify, "inotify") != 0) {
		fprintf(stderr, "mps3fs: notify=%s: use inotify, invalidate or off\n", o->notify);
		return 2;
	}
	if (duration_opt("drain", o->drain, &cfg->drain_ms) || duration_opt("lag", o->lag, &cfg->db.lag_ms) ||
	    duration_opt("stale", o->stale, &cfg->db.stale_ms) ||
	    duration_opt("mount_timeout", o->mount_timeout, &cfg->mount_timeout_ms) ||
	    duration_opt("history", o->history, &cfg->db.history_ms) ||
	    duration_opt("validate_timeout", o->validate_timeout, &cfg->validate_timeout_ms))
		return 2;
	if (o->validate && (o->validate[0] != '/' || access(o->validate, X_OK) != 0)) {
		fprintf(stderr, "mps3fs: validate=%s: need the absolute path of an executable program\n", o->validate);
		return 2;
	}
	if (o->cache_size && mps3_cli_size(&cfg->cache_size, o->cache_size)) {
		fprintf(stderr, "mps3fs: cache_size=%s: need a size like 512M or 4G\n", o->cache_size);
		return 2;
	}
	{
		struct mps3_cli_store_opts so;
		int rc = store_opts(&so, o);

		if (rc)
			return rc;
		rc = mps3_cli_check_store_opts(&so);
		if (rc) {
			fprintf(stderr, "mps3fs: %s\n", mps3_error_last(rc));
			return 2;
		}
	}
	if (o->timeout) {
		char *end;

		cfg->timeout_s = strtod(o->timeout, &end);
		if (*end || cfg->timeout_s < 0) {
			fprintf(stderr, "mps3fs: timeout=%s: need seconds\n", o->timeout);
			return 2;
		}
	}
	return 0;
}

/*
 * What mount(8), findmnt and df show: the URL as the source and
 * fuse.mps3fs as the type, so that an fstab line matches its mount
 * (mount -a compares both).  libfuse splits -o at commas and takes a
 * backslash as an escape, so the URL's own are escaped.  0 or -ENOMEM.
 */
static int add_source_opts(struct fuse_args *args, const struct options *o)
{
	static const char pre[] = "-ofsname=";
	const char *s;
	char *opt, *d;
	int rc;

	if (!o->subtype_set && fuse_opt_add_arg(args, "-osubtype=mps3fs") != 0)
		return -ENOMEM;
	if (o->fsname_set)
		return 0;
	opt = malloc(sizeof(pre) + 2 * strlen(o->url));
	if (!opt)
		return -ENOMEM;
	d = stpcpy(opt, pre);
	for (s = o->url; *s; s++) {
		if (*s == ',' || *s == '\\')
			*d++ = '\\';
		*d++ = *s;
	}
	*d = '\0';
	rc = fuse_opt_add_arg(args, opt) != 0 ? -ENOMEM : 0;
	free(opt);
	return rc;
}

/*
 * Before anything is asked of the store: MOUNTPOINT is a directory, not a
 * mount point already, and empty unless -o nonempty.  The FUSE options are
 * ones libfuse takes (it is asked now, with a session that is not mounted).
 * 0, or the exit status after one line on stderr.
 */
static int preflight(const struct options *o, const char *mnt, struct fuse_args *args)
{
	static const struct fuse_lowlevel_ops none;
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se;
	struct stat st, up;
	char *parent = NULL;
	int i, ok;

	if (stat(mnt, &st) < 0) {
		fprintf(stderr, "mps3fs: mount point %s: %s\n", mnt, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "mps3fs: mount point %s is not a directory\n", mnt);
		return 1;
	}
	if (asprintf(&parent, "%s/..", mnt) < 0)
		return 1;
	ok = stat(parent, &up) == 0;
	free(parent);
	if (ok && (st.st_dev != up.st_dev || st.st_ino == up.st_ino)) {
		fprintf(stderr, "mps3fs: %s is a mount point already\n", mnt);
		return 1;
	}
	if (!o->nonempty) {
		DIR *d = opendir(mnt);
		struct dirent *e;
		int empty = 1;

		while (d && empty && (e = readdir(d)))
			empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
		if (d)
			closedir(d);
		if (!empty) {
			fprintf(stderr, "mps3fs: mount point %s is not empty (-o nonempty mounts over it anyway)\n", mnt);
			return 1;
		}
	}
	for (i = 0; i < args->argc; i++)
		if (fuse_opt_add_arg(&copy, args->argv[i]) != 0) {
			fuse_opt_free_args(&copy);
			return 1;
		}
	se = fuse_session_new(&copy, &none, sizeof(none), NULL);
	fuse_opt_free_args(&copy);
	if (!se) {
		fputs("Try 'mps3fs --help'.\n", stderr);
		return 2;
	}
	fuse_session_destroy(se);
	return 0;
}

/*
 * Where the daemon's lines go and which: loglevel= (else debug with -d,
 * notice otherwise), and logfile= beside stderr or syslog.  A relative
 * path is taken from here: the daemon changes to / when it detaches.
 * 0, or the exit status after one line on stderr.
 */
static int setup_log(const struct options *o, const struct fuse_cmdline_opts *cmd)
{
	enum mps3_log_level level = cmd->debug ? MPS3_LOG_DEBUG : MPS3_LOG_NOTICE;
	char *path = NULL, cwd[PATH_MAX];
	int rc;

	if (o->loglevel && mps3_log_level_parse(&level, o->loglevel)) {
		fprintf(stderr, "mps3fs: loglevel=%s: use err, warn, notice, info or debug\n", o->loglevel);
		return 2;
	}
	mps3_log_set_level(level);
	if (!o->logfile)
		return 0;
	if (!*o->logfile) {
		fputs("mps3fs: logfile= needs a path\n", stderr);
		return 2;
	}
	if (o->logfile[0] != '/' && (!getcwd(cwd, sizeof(cwd)) || asprintf(&path, "%s/%s", cwd, o->logfile) < 0)) {
		fprintf(stderr, "mps3fs: logfile=%s: give an absolute path\n", o->logfile);
		return 2;
	}
	rc = mps3_log_to_file(path ? path : o->logfile);
	free(path);
	if (rc) {
		fprintf(stderr, "mps3fs: logfile=%s: %s\n", o->logfile, mps3_error_last(rc));
		return 1;
	}
	return 0;
}

/* Open the store and run the daemon: the exit status. */
/* cfg.opened: the progress line of the first load ends once the database is open. */
static void progress_done(void *ctx)
{
	static int done;

	if (!done)
		mps3_cli_progress_stop(ctx, 1);
	done = 1;
}

static int mount_it(const struct mps3fs_config *cfg, const struct options *o, struct fuse_args *args,
		    const struct fuse_cmdline_opts *cmd)
{
	struct mps3_cli_store_opts so;
	struct mps3_store *store = NULL;
	int64_t connect_ms = 0, stall_ms = 0;
	int ret = 1, rc;

	if (duration_opt("connect_timeout", o->connect_timeout, &connect_ms) ||
	    duration_opt("stall_timeout", o->stall_timeout, &stall_ms))
		return 2;
	if (mps3_s3_global_init()) {
		fprintf(stderr, "mps3fs: cannot initialise libcurl\n");
		return 1;
	}
	if (store_opts(&so, o))
		return 2;
	so.connect_timeout_ms = (long)connect_ms;
	so.stall_timeout_ms = (long)stall_ms;
	so.verbose = cmd->debug;
	rc = mps3_cli_open_store(&store, o->url, &so);
	if (rc) {
		fprintf(stderr, "mps3fs: %s: %s\n", o->url, mps3_error_last(rc));
	} else {
		/* A first mount of a big tree downloads for a while: say so on a terminal. */
		struct mps3fs_config c2 = *cfg;
		char label[300];

		snprintf(label, sizeof(label), "mps3fs: loading %.250s", o->url);
		c2.opened_ctx = mps3_cli_progress_start(label, 0, 1, cmd->debug);
		c2.opened = progress_done;
		ret = mps3fs_run(&c2, store, args, cmd->foreground);
		progress_done(c2.opened_ctx); /* (a second call does nothing) */
	}
	mps3_store_free(store);
	mps3_s3_global_cleanup();
	return ret;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd;
	struct mps3fs_config cfg;
	struct options o;
	char *cache_dir = NULL;
	int ret = 2;

	mps3_cli_malloc_arenas();
	memset(&o, 0, sizeof(o));
	memset(&cmd, 0, sizeof(cmd));
	mps3_log_set_prefix("mps3fs: ");
	if (fuse_opt_parse(&args, &o, opts_spec, opt_proc) != 0) {
		fputs("Try 'mps3fs --help'.\n", stderr);
		goto out;
	}
	if (o.show_help) {
		fputs(usage_text, stdout);
		fputs(usage_text2, stdout);
		printf("\nFUSE options:\n");
		fflush(stdout);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (o.show_version) {
		printf("mps3fs %s (libfuse %s)\n", MPS3_VERSION, fuse_pkgversion());
		ret = 0;
		goto out;
	}
	if (fuse_parse_cmdline(&args, &cmd) != 0) {
		fputs("Try 'mps3fs --help'.\n", stderr);
		goto out;
	}
	if (!o.url || !cmd.mountpoint) {
		fprintf(stderr, "mps3fs: %s\nTry 'mps3fs --help'.\n",
			!o.url ? "missing URL and MOUNTPOINT" : "missing MOUNTPOINT");
		goto out;
	}
	ret = build_config(&cfg, &o, cmd.mountpoint);
	cfg.singlethread = cmd.singlethread;
	cfg.clone_fd = cmd.clone_fd;
	cfg.max_idle_threads = cmd.max_idle_threads == UINT_MAX ? 0 : cmd.max_idle_threads;
	cfg.max_threads = cmd.max_threads;
	if (!ret)
		ret = setup_log(&o, &cmd);
	if (ret)
		goto out;
	if (add_source_opts(&args, &o)) {
		ret = 1;
		goto out;
	}
	ret = preflight(&o, cmd.mountpoint, &args);
	if (ret)
		goto out;
	/* Other users in, and nobody checking modes, would give each of them the daemon's access. */
	if (o.allow_other && !o.default_permissions && !o.no_default_permissions) {
		mps3_notice("allow_other: adding default_permissions, so the kernel checks every access against the modes shown (-o no_default_permissions turns this off)");
		if (fuse_opt_add_arg(&args, "-odefault_permissions") != 0) {
			ret = 1;
			goto out;
		}
	}
	ret = 1;
	if (!o.cache_dir && o.branch) {
		char *id = NULL; /* a branch's mount has a cache (and a journal) of its own */

		if (asprintf(&id, "%s#branch=%s", o.url, o.branch) >= 0)
			cache_dir = mps3_cli_cache_dir(id, cmd.mountpoint, o.url, o.branch);
		free(id);
	} else {
		cache_dir = o.cache_dir ? realpath(o.cache_dir, NULL)
					: mps3_cli_cache_dir(o.url, cmd.mountpoint, o.url, NULL);
	}
	if (o.cache_dir && !cache_dir)
		cache_dir = strdup(o.cache_dir); /* created later */
	if (!cache_dir || cache_dir[0] != '/') {
		fprintf(stderr, "mps3fs: no cache directory: give -o cache_dir=/ABSOLUTE/PATH\n");
		goto out;
	}
	cfg.cache_dir = cache_dir;
	ret = mount_it(&cfg, &o, &args, &cmd);
out:
	free(cache_dir);
	free(cmd.mountpoint);
	free_options(&o);
	fuse_opt_free_args(&args);
	return ret;
}
