/*
 * cli/progress.c - a progress line on standard error while a command moves
 * bytes (put, get, sync --journal): bytes so far, of how many, the rate and
 * the time left, redrawn in place every quarter second.  Only when standard
 * error is a terminal; nothing otherwise, so scripts and logs stay clean.
 *
 * DESIGN: a thread samples the process's byte counters (mps3_io_moved) and
 * draws; the command's own thread only starts and stops it.  Stopping
 * erases the line, and leaves a summary when the work took long enough to
 * have been watched.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mps3/io.h"
#include "progress.h"

#define TICK_MS 250
#define SUMMARY_AFTER_MS 1000

struct mps3_cli_progress {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;			/* protected by lock */
	char label[128];
	uint64_t total;			/* 0: unknown */
	int down;			/* count bytes received, else sent */
	uint64_t base;			/* the counter at the start */
	int64_t start_ms;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t moved(const struct mps3_cli_progress *p)
{
	uint64_t up, down;

	mps3_io_moved(&up, &down);
	return (p->down ? down : up) - p->base;
}

/* "512 B", "3.4 KiB", "12.0 MiB", "1.5 GiB". */
static void human(char *out, size_t n, double v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(out, n, "%.0f B", v);
	else
		snprintf(out, n, "%.1f %s", v, unit[i]);
}

static void draw(struct mps3_cli_progress *p, int64_t now)
{
	uint64_t done = moved(p);
	double secs = (double)(now - p->start_ms) / 1000.0, rate = secs > 0 ? (double)done / secs : 0;
	char d[32], t[32], r[32], eta[32] = "";

	human(d, sizeof(d), (double)done);
	human(r, sizeof(r), rate);
	if (p->total) {
		human(t, sizeof(t), (double)p->total);
		if (rate > 0 && done < p->total) {
			uint64_t left = (uint64_t)((double)(p->total - done) / rate);

			snprintf(eta, sizeof(eta), "  ETA %" PRIu64 ":%02" PRIu64, left / 60, left % 60);
		}
		fprintf(stderr, "\r\033[K%s  %s / %s  %s/s%s", p->label, d, t, r, eta);
	} else {
		fprintf(stderr, "\r\033[K%s  %s  %s/s", p->label, d, r);
	}
	fflush(stderr);
}

static void *run(void *arg)
{
	struct mps3_cli_progress *p = arg;
	struct timespec until;

	pthread_setname_np(pthread_self(), "mps3-progress");
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		draw(p, mono_ms());
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!p->stop && pthread_cond_timedwait(&p->cond, &p->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct mps3_cli_progress *mps3_cli_progress_start(const char *label, uint64_t total, int down, int quiet)
{
	struct mps3_cli_progress *p;
	pthread_condattr_t ca;
	uint64_t up, dn;

	if (quiet || !isatty(STDERR_FILENO))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snprintf(p->label, sizeof(p->label), "%s", label);
	p->total = total;
	p->down = down;
	mps3_io_moved(&up, &dn);
	p->base = down ? dn : up;
	p->start_ms = mono_ms();
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&p->thread, NULL, run, p) != 0) {
		pthread_cond_destroy(&p->cond);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return NULL;
	}
	return p;
}

void mps3_cli_progress_stop(struct mps3_cli_progress *p, int ok)
{
	int64_t took;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	took = mono_ms() - p->start_ms;
	fputs("\r\033[K", stderr);
	if (ok && took >= SUMMARY_AFTER_MS) {
		char d[32], r[32];
		uint64_t done = moved(p);

		human(d, sizeof(d), (double)done);
		human(r, sizeof(r), (double)done * 1000.0 / (double)took);
		fprintf(stderr, "%s  %s in %.1f s (%s/s)\n", p->label, d, (double)took / 1000.0, r);
	}
	fflush(stderr);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
