/*
 * fs/mount.c - the daemon's life: resolve the database and build the tree,
 * mount, daemonise, run the FUSE loop with the poller and the upload worker
 * beside it, and at unmount drain what is pending within a bounded time.
 *
 * DESIGN.  Threads: the FUSE workers (fuse_session_loop_mt), one poller
 * (mps3_db_poll every poll interval; remote changes reach the tree through
 * the database listener), one upload worker (fs/upload.c) and the download
 * workers (fs/fetch.c).  Everything that can fail for the user's input (the
 * URL, credentials, the bucket) fails before the fork, on the terminal.
 */
#include <dirent.h>
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

#include "mps3/error.h"
#include "mps3/io.h"
#include "mps3/log.h"
#include "mps3/manifest.h"
#include "mps3/poller.h"
#include "branches.h"
#include "fetch.h"
#include "fs.h"
#include "mount.h"
#include "ops.h"
#include "remote.h"
#include "replay.h"
#include "local.h"
#include "upload.h"
#include "view.h"

static int private_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return mps3_error_set(-errno, "cannot create %s: %s", path, strerror(errno));
	if (lstat(path, &st) < 0)
		return mps3_error_set(-errno, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return mps3_error_set(-ENOTDIR, "%s is not a directory", path);
	if (st.st_uid != geteuid())
		return mps3_error_set(-EPERM, "%s belongs to another user", path);
	if ((st.st_mode & 077) && chmod(path, 0700) < 0)
		return mps3_error_set(-errno, "cannot make %s private: %s", path, strerror(errno));
	return 0;
}

static void clear_dir(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d)) != NULL) {
		char path[4400];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
}

static void fuse_log_sink(enum fuse_log_level level, const char *fmt, va_list ap)
{
	mps3_logv((enum mps3_log_level)level, fmt, ap);
}

static void reopen_log(int sig)
{
	(void)sig;
	mps3_log_reopen();
}

/*
 * For a daemon, SIGHUP is logrotate's "reopen the log" (as for syslogd and
 * nginx), never libfuse's "unmount": no terminal hangs up on a detached
 * daemon, so whoever sends it means the log.  In the foreground, without a
 * log file, it stays the terminal's hangup.  Installed over libfuse's
 * handler, which fuse_remove_signal_handlers() then leaves alone.
 */
static int hup_reopens_log(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = reopen_log;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGHUP, &sa, NULL) < 0) {
		int err = errno;

		mps3_err("cannot set the SIGHUP handler: %s", strerror(err));
		return -err;
	}
	return 0;
}

static int64_t wall_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* What a second mount of this cache directory, or `mps3 sync --journal` on it, is told. */
static void tell_holder(struct mps3fs *fs, const char *state, int64_t until_ms)
{
	json_t *about;

	if (!fs->journal_open)
		return;
	about = json_pack("{s:s,s:s,s:s,s:o}", "url", fs->cfg.url, "mountpoint", fs->cfg.mountpoint, "state", state,
			  "until", until_ms ? json_integer(until_ms) : json_null());
	/* Information only: the lock is the journal's, whatever this says. */
	if (!about || mps3_journal_set_holder(&fs->journal, about))
		mps3_info("journal: %s", about ? mps3_error_last(-EIO) : "cannot record its holder: out of memory");
	json_decref(about);
}

/* After its drain, an unmounting daemon saves its state and exits: this long at most. */
#define UNMOUNT_GRACE_MS 10000
/* A daemon whose mount is gone says it is unmounting within this, however loaded the machine. */
#define NOTICE_GRACE_MS 30000

/*
 * Whether to wait for the holder: a live daemon unmounting that said it is
 * not done yet; or one that says it is mounted at this very mount point,
 * where nothing is mounted now (the preflight saw to that), so that its
 * unmount has begun and it is about to say so.
 */
static int worth_waiting(const struct mps3fs *fs, json_t *who, int64_t since_ms)
{
	const char *state = json_string_value(json_object_get(who, "state"));
	const char *mnt = json_string_value(json_object_get(who, "mountpoint"));
	json_int_t until = json_integer_value(json_object_get(who, "until"));

	if (!json_is_true(json_object_get(who, "alive")) || !state)
		return 0;
	if (strcmp(state, "unmounting") == 0)
		return wall_ms() < until + UNMOUNT_GRACE_MS;
	return fs->main == fs && strcmp(state, "mounted") == 0 && mnt && strcmp(mnt, fs->cfg.mountpoint) == 0 &&
	       wall_ms() < since_ms + NOTICE_GRACE_MS;
}

/* The journal is someone else's: one line on whose, and what to do. */
static void say_busy(const struct mps3fs *fs, json_t *who, const char *detail)
{
	const struct mps3fs_config *cfg = &fs->cfg;
	const char *url = json_string_value(json_object_get(who, "url"));
	const char *mnt = json_string_value(json_object_get(who, "mountpoint"));
	const char *state = json_string_value(json_object_get(who, "state"));
	long long pid = json_integer_value(json_object_get(who, "pid"));

	if (!json_is_true(json_object_get(who, "alive")) || !url || !mnt || !state)
		mps3_err("%s: cache dir %s: %s; wait for it to finish, or give -o cache_dir=", cfg->url,
			 cfg->cache_dir, detail);
	else if (strcmp(state, "unmounting") == 0)
		mps3_err("%s: cache dir %s is still in use by process %lld, unmounted from %s but still uploading what was pending; wait for it to exit, or give -o cache_dir=",
			 cfg->url, cfg->cache_dir, pid, mnt);
	else if (strcmp(url, cfg->url) == 0)
		mps3_err("%s is %s at %s by process %lld (cache dir %s); unmount it or give -o cache_dir=", url,
			 strcmp(state, "mounting") == 0 ? "being mounted" : "already mounted", mnt, pid, cfg->cache_dir);
	else
		mps3_err("%s: cache dir %s is in use by the mount of %s at %s (process %lld); give -o cache_dir= another directory",
			 cfg->url, cfg->cache_dir, url, mnt, pid);
}

/*
 * The journal, locked.  Held by a daemon still unmounting (a remount in the
 * seconds after a umount finds it uploading what was pending): wait, for as
 * long as it said it would take.  Held otherwise: say by whom.
 */
static int open_journal(struct mps3fs *fs, json_t **old)
{
	const struct timespec tick = { 0, 100 * 1000 * 1000 };
	const char *dir = fs->cfg.cache_dir;
	int64_t since = wall_ms();
	char detail[512];
	json_t *who = NULL;
	int rc, waited = 0;

	for (;;) {
		rc = mps3_journal_open(&fs->journal, dir, old);
		if (rc != -EBUSY)
			break;
		snprintf(detail, sizeof(detail), "%s", mps3_error_last(rc));
		json_decref(who);
		if (mps3_journal_holder(&who, dir) != 0)
			who = NULL;
		if (!worth_waiting(fs, who, since))
			break;
		if (!waited++)
			mps3_notice("%s: waiting for process %lld to finish unmounting from %s (cache dir %s)", fs->cfg.url,
				    (long long)json_integer_value(json_object_get(who, "pid")),
				    json_string_value(json_object_get(who, "mountpoint")), dir);
		mps3_journal_close(&fs->journal);
		nanosleep(&tick, NULL);
	}
	if (rc == -EBUSY)
		say_busy(fs, who, detail);
	else if (rc)
		mps3_err("journal: %s", mps3_error_last(rc));
	json_decref(who);
	if (rc)
		mps3_journal_close(&fs->journal);
	return rc;
}

static int populate_one(const char *path, const struct mps3_packed *p, json_t *j, void *ctx)
{
	if (p)
		mps3fs_tree_apply_packed(ctx, path, p, NULL);
	else
		mps3fs_tree_apply(ctx, path, j, NULL);
	return 0;
}

/* Everything the database holds, into the tree (before mounting), one path at a time, no JSON built. */
static int populate(struct mps3fs *fs)
{
	struct mps3_db_stats st;
	int rc;

	mps3_db_get_stats(fs->db, &st);
	pthread_mutex_lock(&fs->tree_lock);
	mps3fs_tree_reserve(fs, st.paths + 1); /* (out of memory: it grows as it goes) */
	rc = mps3_db_foreach_raw(fs->db, populate_one, fs);
	pthread_mutex_unlock(&fs->tree_lock);
	return rc;
}

/*
 * Everything local, in order: the private cache directory, staging, the
 * journal (opening it puts back cached content a crash lost, so that the
 * cache index built next has it), the blob cache.
 */
static int open_local(struct mps3fs *fs, json_t **journal_old)
{
	const struct mps3fs_config *cfg = &fs->cfg;
	char blobs[4200];
	int rc = mps3_mkdir_p(cfg->cache_dir, 0700);

	if (!rc)
		rc = private_dir(cfg->cache_dir);
	if (rc) {
		mps3_err("cache directory: %s", mps3_error_last(rc));
		return rc;
	}
	if (asprintf(&fs->staging_dir, "%s/staging", cfg->cache_dir) < 0 ||
	    asprintf(&fs->state_file, "%s/state.json", cfg->cache_dir) < 0) {
		mps3_err("out of memory");
		return -ENOMEM;
	}
	rc = private_dir(fs->staging_dir);
	if (rc) {
		mps3_err("%s", mps3_error_last(rc));
		return rc;
	}
	clear_dir(fs->staging_dir);
	rc = open_journal(fs, journal_old);
	if (rc)
		return rc;
	fs->journal_open = 1;
	/* A branch opens inside the live mount; the main line is mounted once the tree is built. */
	tell_holder(fs, fs->main == fs ? "mounting" : "mounted", 0);
	snprintf(blobs, sizeof(blobs), "%s/blobs", cfg->cache_dir);
	rc = mps3fs_cache_init(&fs->cache, blobs, cfg->cache_size);
	if (rc)
		mps3_err("blob cache %s: %s", blobs, strerror(-rc));
	return rc;
}

/* The database resolved, the tree built, the last run's journal replayed into it. */
static int open_database(struct mps3fs *fs, json_t *journal_old)
{
	int rc;

	fs->cfg.db.state_file = fs->state_file;
	fs->cfg.db.allow_offline = 1;
	/* Changes to write again: first learn of any entry of the last run whose commit seemed to fail. */
	fs->cfg.db.list_at_open = json_array_size(journal_old) > 0;
	/*
	 * One deadline for everything the mount asks the store, so that mount(8)
	 * and systemd are not left waiting.  Not for a branch opened later: the
	 * deadline is the store's, and the main line's threads use it too.
	 */
	if (fs->cfg.mount_timeout_ms > 0 && fs->main == fs) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		mps3_store_set_deadline(fs->store, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 +
							   fs->cfg.mount_timeout_ms);
	}
	rc = mps3_db_open(&fs->db, fs->store, &fs->cfg.db);
	if (fs->main == fs)
		mps3_store_set_deadline(fs->store, 0);
	if (rc) {
		if (rc == -ETIMEDOUT)
			mps3_err("%s: the store did not answer within mount_timeout=%lldms, and there is no saved state to start offline from: %s",
				 fs->cfg.url, (long long)fs->cfg.mount_timeout_ms, mps3_error_last(rc));
		else
			mps3_err("%s: %s", fs->cfg.url, mps3_error_last(rc));
		return rc;
	}
	rc = mps3fs_tree_init(fs);
	fs->tree.quiet = 1; /* directories show their stored times, not the mount's */
	if (!rc)
		rc = populate(fs);
	if (rc) {
		mps3_err("out of memory building the tree");
		return rc;
	}
	rc = mps3fs_journal_recover(fs, journal_old);
	fs->tree.quiet = 0;
	if (rc) {
		mps3_err("journal: %s", mps3_error_last(rc));
		return rc;
	}
	/* Only now that the journal's blobs are pinned may the cache shrink to its limit. */
	mps3fs_cache_trim(&fs->cache);
	return 0;
}

/* Threads start after the fork: a forked child keeps only the caller's. */
int mps3fs_instance_start(struct mps3fs *fs)
{
	struct mps3_poller_config pcfg = { 0 };
	int rc = mps3fs_fetch_init(fs);

	if (!rc)
		rc = mps3fs_views_init(fs);
	if (!rc)
		rc = mps3fs_uploader_start(fs);
	if (!rc && fs->cfg.notify == NOTIFY_INOTIFY)
		rc = mps3fs_replay_start(fs);
	if (rc) {
		mps3_err("cannot start worker threads: %s", strerror(-rc));
		return rc;
	}
	mps3_db_set_listener(fs->db, mps3fs_on_changes, fs);
	pcfg.interval_ms = fs->cfg.poll_ms;
	pcfg.save_every_ms = 60000;
	pcfg.name = fs->cfg.url;
	rc = mps3_poller_start(&fs->poller, fs->db, &pcfg);
	if (rc)
		mps3_err("cannot start the poller: %s", mps3_error_last(rc));
	return rc;
}

/* No more remote changes; what is pending is uploaded within drain_ms or left in the journal. */
void mps3fs_instance_stop(struct mps3fs *fs)
{
	const struct mps3fs_config *cfg = &fs->cfg;
	int rc;

	tell_holder(fs, "unmounting", wall_ms() + (cfg->drain_ms > 0 ? cfg->drain_ms : 0));
	mps3_poller_stop(fs->poller);
	fs->poller = NULL;
	if (fs->db)
		mps3_db_set_listener(fs->db, NULL, NULL);
	mps3fs_replay_stop(fs);
	if (fs->uploader_started) {
		size_t left;

		rc = mps3fs_wait_committed(fs, cfg->drain_ms);
		if (rc == -EIO) {
			pthread_mutex_lock(&fs->tree_lock);
			left = json_object_size(fs->stuck);
			pthread_mutex_unlock(&fs->tree_lock);
			mps3_err("%s: %zu changed paths cannot be uploaded (see the log); they are kept in the journal in %s",
				 cfg->url, left, cfg->cache_dir);
		} else if (rc != 0) {
			pthread_mutex_lock(&fs->tree_lock);
			left = json_object_size(fs->dirty);
			pthread_mutex_unlock(&fs->tree_lock);
			/* A branch's url says which branch; the CLI takes it as an option. */
			mps3_warn("%s: %zu changed paths were not uploaded within %" PRId64 " ms (%s); they are kept in the journal in %s and uploaded at the next mount (or with: mps3 %s%s%s%s sync --journal %s)",
				  cfg->url, left, cfg->drain_ms, fs->last_error[0] ? fs->last_error : "store busy",
				  cfg->cache_dir, fs->branch_name ? "--branch " : "", fs->branch_name ? fs->branch_name : "",
				  fs->branch_name ? " " : "", fs->main->cfg.url, cfg->cache_dir);
		}
		mps3fs_uploader_stop(fs);
	}
	mps3fs_views_dispose(fs);
	mps3fs_fetch_dispose(fs);
	if (fs->db && mps3_db_save_state(fs->db))
		mps3_info("could not save the state: %s", mps3_error_last(-EIO));
}

void mps3fs_instance_free(struct mps3fs *fs)
{
	if (!fs)
		return;
	if (fs->journal_open) {
		tell_holder(fs, "unmounted", 0);
		mps3_journal_close(&fs->journal);
	}
	if (fs->tree.root)
		mps3fs_tree_dispose(fs);
	mps3_db_free(fs->db);
	mps3fs_cache_dispose(&fs->cache);
	json_decref(fs->dirty);
	json_decref(fs->stuck);
	json_decref(fs->pinned);
	json_decref(fs->sent);
	json_decref(fs->replay_expect);
	free(fs->staging_dir);
	free(fs->state_file);
	if (fs->main != fs) { /* a branch's: strings of its own */
		free((char *)fs->cfg.mountpoint);
		free((char *)fs->cfg.cache_dir);
		free((char *)fs->cfg.url);
		free((char *)fs->branch_name);
	}
	pthread_mutex_destroy(&fs->tree_lock);
	pthread_cond_destroy(&fs->tree_cond);
	free(fs);
}

/* Mount, daemonise, serve until unmounted: the process exit status. */
static int serve(struct mps3fs *fs, struct fuse_args *args, int foreground)
{
	struct fuse_loop_config *lc = NULL;
	struct fuse_session *se;
	int rc, ret = 1, mounted = 0, handlers = 0;

	fuse_set_log_func(fuse_log_sink);
	se = fuse_session_new(args, mps3fs_ops(), sizeof(*mps3fs_ops()), fs);
	if (!se)
		return 1;
	fs->session = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	handlers = 1;
	if ((mps3_log_has_file() || !foreground) && hup_reopens_log())
		goto out;
	if (fuse_session_mount(se, fs->cfg.mountpoint) != 0)
		goto out;
	mounted = 1;
	if (!foreground) {
		/* Detached, stderr is /dev/null: the log goes to the log file, or to syslog without one. */
		if (mps3_log_has_file())
			mps3_log_set_stderr(0);
		else
			mps3_log_use_syslog("mps3fs");
		if (fuse_daemonize(0) != 0)
			goto out;
	}
	tell_holder(fs, "mounted", 0); /* detached, the holder is the child now */
	if (mps3fs_instance_start(fs) || mps3fs_branches_init(fs))
		goto out;
	mps3_info("%s mounted on %s", fs->cfg.url, fs->cfg.mountpoint);
	if (fs->cfg.singlethread) {
		rc = fuse_session_loop(se); /* -s: one thread answers the kernel */
	} else {
		lc = fuse_loop_cfg_create();
		if (!lc)
			goto out;
		fuse_loop_cfg_set_clone_fd(lc, fs->cfg.clone_fd ? 1 : 0);
		fuse_loop_cfg_set_idle_threads(lc, fs->cfg.max_idle_threads ? fs->cfg.max_idle_threads : 10);
		if (fs->cfg.max_threads)
			fuse_loop_cfg_set_max_threads(lc, fs->cfg.max_threads);
		rc = fuse_session_loop_mt(se, lc);
	}
	ret = rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
	mps3_info("%s unmounted from %s", fs->cfg.url, fs->cfg.mountpoint);
out:
	/* At once: a remount may be waiting, and the branches' drains come first. */
	tell_holder(fs, "unmounting", wall_ms() + (fs->cfg.drain_ms > 0 ? fs->cfg.drain_ms : 0));
	mps3fs_branches_stop(fs);
	mps3fs_instance_stop(fs);
	if (lc)
		fuse_loop_cfg_destroy(lc);
	if (mounted)
		fuse_session_unmount(se);
	if (handlers)
		fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	fs->session = NULL;
	return ret;
}

struct mps3fs *mps3fs_instance_new(const struct mps3fs_config *cfg, struct mps3_store *store, struct mps3fs *main)
{
	struct mps3fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->cfg = *cfg;
	fs->store = store;
	fs->main = main ? main : fs;
	fs->root_ino = MPS3FS_ROOT_INO;
	fs->online = 1;
	pthread_mutex_init(&fs->tree_lock, NULL);
	pthread_cond_init(&fs->tree_cond, NULL);
	fs->dirty = json_object();
	fs->stuck = json_object();
	fs->pinned = json_object();
	fs->sent = json_object();
	fs->replay_expect = json_object();
	if (!fs->dirty || !fs->stuck || !fs->pinned || !fs->sent || !fs->replay_expect) {
		fs->main = fs;
		mps3fs_instance_free(fs);
		return NULL;
	}
	return fs;
}

int mps3fs_instance_open(struct mps3fs *fs)
{
	json_t *journal_old = NULL;
	int rc = open_local(fs, &journal_old);

	if (!rc)
		rc = open_database(fs, journal_old);
	json_decref(journal_old);
	return rc;
}

int mps3fs_run(const struct mps3fs_config *cfg, struct mps3_store *store, struct fuse_args *args,
	       int foreground)
{
	struct mps3fs *fs = mps3fs_instance_new(cfg, store, NULL);
	int ret = 1;

	if (!fs) {
		mps3_err("out of memory");
		return 1;
	}
	if (mps3fs_instance_open(fs) == 0) {
		if (cfg->opened)
			cfg->opened(cfg->opened_ctx);
		ret = serve(fs, args, foreground);
	} else if (cfg->opened) {
		cfg->opened(cfg->opened_ctx);
	}
	mps3fs_branches_free(fs);
	mps3fs_instance_free(fs);
	return ret;
}
