/*
 * mps3/clock.h - the store's clock as seen from here.
 *
 * Every reply from the store carries the time it was made (S3's Date header,
 * one-second precision).  Each reply bounds the offset between the store's
 * clock and the local clock to an interval: the store stamped the reply
 * between our send and receive times, with up to `precision` of truncation.
 * Intersecting the intervals of many replies narrows the offset to well under
 * a second; an empty intersection (a clock was stepped) restarts from the
 * newest reply, and old bounds widen slowly to allow for drift.
 * Thread-safe (one mutex, a leaf).  Nothing here can fail.
 */
#ifndef MPS3_CLOCK_H
#define MPS3_CLOCK_H

#include <pthread.h>
#include <stdint.h>

struct mps3_clock {
	pthread_mutex_t lock;
	int64_t lo, hi;		/* offset bounds, ms; protected by lock */
	int64_t updated;	/* local time of the last observation; protected by lock */
	int have;		/* protected by lock */
	int64_t skew_ms;	/* test-only shift of the local clock, read-only after init */
};

/*
 * The local clock is CLOCK_REALTIME shifted by MPS3_CLOCK_SKEW_MS from the
 * environment (test hook: lets a test run one client an hour off).
 */
void mps3_clock_init(struct mps3_clock *c);
void mps3_clock_dispose(struct mps3_clock *c);

int64_t mps3_clock_local_ms(const struct mps3_clock *c);

/* Milliseconds of CLOCK_MONOTONIC: for timeouts and holds, never for times stored anywhere. */
int64_t mps3_mono_ms(void);

/*
 * A reply made at store time date_ms (truncated to precision_ms) arrived
 * for a request sent at local time sent and received at local time recv.
 */
void mps3_clock_observe(struct mps3_clock *c, int64_t sent, int64_t recv,
			int64_t date_ms, int64_t precision_ms);

/* Best estimate of store time minus local time, ms (0 before any reply). */
int64_t mps3_clock_offset(struct mps3_clock *c);
/* Half the width of the offset interval: the estimate's uncertainty, ms. */
int64_t mps3_clock_uncertainty(struct mps3_clock *c);
/* Local time plus offset: now on the store's clock. */
int64_t mps3_clock_now(struct mps3_clock *c);

#endif
