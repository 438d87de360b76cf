/*
 * util/hook.c - running a validation program (see mps3/hook.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mps3/clock.h"
#include "mps3/hook.h"

extern char **environ;

/* Ours, less any MPS3_*, plus vars (the strings are borrowed). */
/* What a hook gets of the daemon's environment: where things are, and the locale.  Never credentials. */
static int passed_on(const char *var)
{
	static const char *const names[] = { "PATH=", "HOME=", "USER=", "LOGNAME=", "SHELL=", "LANG=", "TZ=",
					     "TMPDIR=", "LC_" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(var, names[i], strlen(names[i])) == 0)
			return 1;
	return 0;
}

static char **environment(char *const vars[])
{
	size_t n = 0, m = 0, i, k = 0;
	char **env;

	while (environ[n])
		n++;
	while (vars && vars[m])
		m++;
	env = calloc(n + m + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++)
		if (passed_on(environ[i]))
			env[k++] = environ[i];
	for (i = 0; i < m; i++)
		env[k++] = vars[i];
	env[k] = NULL;
	return env;
}

int mps3_hook_run(const char *program, char *const vars[], int64_t timeout_ms, char *why, size_t cap)
{
	char *argv[] = { (char *)program, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int64_t deadline = mps3_mono_ms() + timeout_ms;
	int pipefd[2], status = 0, rc, done = 0;
	char **env = environment(vars);
	size_t got = 0;
	pid_t pid;

	why[0] = '\0';
	if (!env)
		return -ENOMEM;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		free(env);
		return -errno;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setpgroup(&attr, 0); /* its own group: a timeout kills what it started too */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	rc = posix_spawn(&pid, program, &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(env);
	close(pipefd[1]);
	if (rc) {
		close(pipefd[0]);
		return -rc;
	}
	while (!done) {
		struct pollfd p = { pipefd[0], POLLIN, 0 };
		int64_t left = deadline - mps3_mono_ms();
		char buf[256];
		ssize_t n;

		if (left <= 0) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(why, cap, "no answer within %lld ms", (long long)timeout_ms);
			close(pipefd[0]);
			return 1;
		}
		if (poll(&p, 1, left > 100 ? 100 : (int)left) > 0) {
			n = read(pipefd[0], buf, sizeof(buf));
			if (n > 0 && got + 1 < cap) {
				size_t take = (size_t)n < cap - 1 - got ? (size_t)n : cap - 1 - got;

				memcpy(why + got, buf, take);
				got += take;
				why[got] = '\0';
			}
		}
		done = waitpid(pid, &status, WNOHANG) == pid;
	}
	close(pipefd[0]);
	why[strcspn(why, "\n")] = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (!why[0])
		snprintf(why, cap, "exit status %d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 1;
}
