/*
 * cli/progress.h - a progress line on a terminal's standard error
 * (cli/progress.c).
 */
#ifndef MPS3_CLI_PROGRESS_H
#define MPS3_CLI_PROGRESS_H

#include <stdint.h>

struct mps3_cli_progress;

/*
 * Start showing "LABEL  done / total  rate  ETA" for the bytes this process
 * sends (down 0) or receives (down 1) from now on; total 0 if unknown.
 * NULL (nothing shown) when quiet, when standard error is not a terminal, or
 * without memory; mps3_cli_progress_stop(NULL, ...) does nothing.
 */
struct mps3_cli_progress *mps3_cli_progress_start(const char *label, uint64_t total, int down, int quiet);
/* Erase the line; when ok and it took a second or more, leave a one-line summary. */
void mps3_cli_progress_stop(struct mps3_cli_progress *p, int ok);

#endif
