/*
 * s3/creds_process.c - keys from a profile's credential_process: the command
 * run with /bin/sh -c in a process of its own (own process group, a fresh
 * signal mask, no descriptor of ours but a pipe for its stdout), its output
 * read with a bound and a deadline, the JSON of the AWS CLI's format parsed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "mps3/buf.h"
#include "mps3/error.h"
#include "provider.h"

extern char **environ;

/* No credential document is anywhere near this big. */
#define DOC_LIMIT (64u << 10)
#define PROCESS_TIMEOUT_MS 60000

/* Wait for the child until the deadline (then kill its process group): 0 with *status, or -errno. */
static int reap(pid_t pid, int64_t deadline, int *status, int *timed_out)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno; /* (ECHILD: SIGCHLD ignored; the status is not known) */
		if (r == 0 && mps3_creds_now_ms() >= deadline) {
			*timed_out = 1;
			kill(-pid, SIGKILL);
			deadline = INT64_MAX; /* now wait for it to go */
		}
		if (r == 0)
			usleep(10000);
	}
}

int mps3_creds_fetch_process(struct mps3_creds *c, struct creds_keys *k)
{
	char *argv[] = { "/bin/sh", "-c", c->spec.command, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, deflt;
	struct mps3_buf out = MPS3_BUF_INIT;
	int64_t deadline = mps3_creds_now_ms() + PROCESS_TIMEOUT_MS;
	int fds[2], status = 0, rc = 0, too_big = 0, timed_out = 0, err;
	char chunk[4096];
	pid_t pid;

	/* The whole room at once: a realloc would leave a copy of the keys behind, unwiped. */
	if (mps3_buf_reserve(&out, DOC_LIMIT + 1))
		return -ENOMEM;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		mps3_buf_dispose(&out);
		return mps3_error_set(-errno, "pipe: %s", strerror(errno));
	}
	/*
	 * Its own process group (killed whole at the deadline), the signal
	 * mask and dispositions of a fresh process (a FUSE worker blocks some
	 * and ignores SIGPIPE), and no descriptor of ours but its stdout.
	 */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&deflt);
	sigaddset(&deflt, SIGPIPE);
	sigaddset(&deflt, SIGINT);
	sigaddset(&deflt, SIGTERM);
	sigaddset(&deflt, SIGHUP);
	sigaddset(&deflt, SIGQUIT);
	sigaddset(&deflt, SIGCHLD);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &deflt);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc) {
		close(fds[0]);
		mps3_buf_dispose(&out);
		return mps3_error_set(-rc, "cannot run /bin/sh: %s", strerror(rc));
	}
	for (;;) {
		struct pollfd p = { fds[0], POLLIN, 0 };
		int64_t left = deadline - mps3_creds_now_ms();
		ssize_t n;

		if (left <= 0)
			break;
		if (poll(&p, 1, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
			break;
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fds[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out.len + (size_t)n > DOC_LIMIT) {
			too_big = 1;
			break;
		}
		if (mps3_buf_append(&out, chunk, (size_t)n)) {
			rc = -ENOMEM;
			break;
		}
	}
	OPENSSL_cleanse(chunk, sizeof(chunk));
	close(fds[0]);
	if (too_big || rc)
		kill(-pid, SIGKILL);
	err = reap(pid, (too_big || rc) ? 0 : deadline, &status, &timed_out);
	if (!rc && err)
		rc = mps3_error_set(err, "cannot learn how it ended: %s", strerror(-err));
	if (rc)
		goto out;
	if (too_big) {
		rc = mps3_error_set(-EPROTO, "it wrote more than %u bytes", DOC_LIMIT);
	} else if (timed_out) {
		rc = mps3_error_set(-ETIMEDOUT, "no answer within %d s", PROCESS_TIMEOUT_MS / 1000);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		rc = mps3_error_set(-EACCES, "it %s %d", WIFEXITED(status) ? "exited with status" : "was killed by signal",
				    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	} else {
		rc = mps3_creds_keys_from_json(k, &out, "SessionToken", 0);
	}
out:
	mps3_creds_wipe_buf(&out);
	return rc;
}
