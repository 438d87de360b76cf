/*
 * util/clock.c - the offset between the store's clock and ours, narrowed by
 * intersecting the interval each reply allows (see mps3/clock.h).
 */
#include <stdlib.h>
#include <time.h>

#include "mps3/clock.h"

/* Bounds widen by 1 ms per 10 s of age: generous for any real clock drift. */
#define DRIFT_DIVISOR 10000

int64_t mps3_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mps3_clock_init(struct mps3_clock *c)
{
	const char *skew = getenv("MPS3_CLOCK_SKEW_MS");

	pthread_mutex_init(&c->lock, NULL);
	c->lo = 0;
	c->hi = 0;
	c->updated = 0;
	c->have = 0;
	c->skew_ms = skew ? strtoll(skew, NULL, 10) : 0;
}

void mps3_clock_dispose(struct mps3_clock *c)
{
	pthread_mutex_destroy(&c->lock);
}

int64_t mps3_clock_local_ms(const struct mps3_clock *c)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + c->skew_ms;
}

void mps3_clock_observe(struct mps3_clock *c, int64_t sent, int64_t recv,
			int64_t date_ms, int64_t precision_ms)
{
	int64_t lo = date_ms - recv;
	int64_t hi = date_ms + precision_ms - sent;

	if (date_ms <= 0 || recv < sent)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->have) {
		int64_t age = recv - c->updated;
		int64_t widen = age > 0 ? age / DRIFT_DIVISOR + 1 : 1;
		int64_t olo = c->lo - widen, ohi = c->hi + widen;
		int64_t nlo = lo > olo ? lo : olo;
		int64_t nhi = hi < ohi ? hi : ohi;

		/* Disjoint: a clock was stepped; trust the newest reply alone. */
		if (nlo <= nhi) {
			lo = nlo;
			hi = nhi;
		}
	}
	c->lo = lo;
	c->hi = hi;
	c->updated = recv;
	c->have = 1;
	pthread_mutex_unlock(&c->lock);
}

int64_t mps3_clock_offset(struct mps3_clock *c)
{
	int64_t off = 0;

	pthread_mutex_lock(&c->lock);
	if (c->have)
		off = c->lo + (c->hi - c->lo) / 2;
	pthread_mutex_unlock(&c->lock);
	return off;
}

int64_t mps3_clock_uncertainty(struct mps3_clock *c)
{
	int64_t u = -1;

	pthread_mutex_lock(&c->lock);
	if (c->have)
		u = (c->hi - c->lo + 1) / 2;
	pthread_mutex_unlock(&c->lock);
	return u;
}

int64_t mps3_clock_now(struct mps3_clock *c)
{
	return mps3_clock_local_ms(c) + mps3_clock_offset(c);
}
