/*
 * mps3/hook.h - running a validation program (src/util/hook.c): the
 * program (an absolute path) with only PATH, HOME, USER, LOGNAME, SHELL,
 * LANG, LC_*, TZ and TMPDIR of the caller's environment (never its
 * credentials) plus the given NAME=value strings, standard input and output on
 * /dev/null, its standard error read, killed with its process group at
 * the deadline.  Thread-safe.
 */
#ifndef MPS3_HOOK_H
#define MPS3_HOOK_H

#include <stddef.h>
#include <stdint.h>

/*
 * 0 when the program exits 0; 1 when it refuses (any other exit, a signal,
 * or no answer within timeout_ms) with the first line of its standard
 * error, or what happened, in why; -errno when it cannot be run.
 */
int mps3_hook_run(const char *program, char *const vars[], int64_t timeout_ms, char *why, size_t cap);

#endif
