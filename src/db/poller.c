/*
 * db/poller.c - the polling thread that mps3 watch and the daemon share.
 *
 * DESIGN.  One thread: poll, then wait on a condition variable for the
 * interval (or a kick, or stop).  mps3_db_poll() calls the listener from
 * this thread.  Stop sets the flag under the lock and signals; the thread
 * finishes the poll in progress (bounded by the store's timeouts) and
 * exits, and stop joins it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mps3/db.h"
#include "mps3/error.h"
#include "mps3/log.h"
#include "mps3/poller.h"

struct mps3_poller {
	struct mps3_db *db;
	struct mps3_poller_config cfg;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;			/* protected by lock */
	int kicked;			/* protected by lock */
	int failing;			/* atomic */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to ms unless stopped or kicked (lock held).  1 if stopped. */
static int pause_ms(struct mps3_poller *p, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	while (!p->stop && !p->kicked)
		if (pthread_cond_timedwait(&p->cond, &p->lock, &ts) == ETIMEDOUT)
			break;
	p->kicked = 0;
	return p->stop;
}

static void *run(void *arg)
{
	struct mps3_poller *p = arg;
	int64_t last_save = mono_ms(), cap = p->cfg.interval_ms > 10000 ? p->cfg.interval_ms : 10000;
	unsigned failures = 0;

	pthread_setname_np(pthread_self(), "mps3-poller");
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		int64_t wait = p->cfg.interval_ms;
		int rc;

		pthread_mutex_unlock(&p->lock);
		rc = mps3_db_poll(p->db, NULL);
		if (rc && failures++ == 0)
			mps3_warn("%s: cannot poll for changes, will keep trying: %s", p->cfg.name,
				  mps3_error_last(rc));
		else if (!rc && failures) {
			mps3_notice("%s: polling again", p->cfg.name);
			failures = 0;
		}
		__atomic_store_n(&p->failing, failures > 0, __ATOMIC_RELAXED);
		if (failures > 1) {
			wait = p->cfg.interval_ms << (failures < 6 ? failures - 1 : 5);
			if (wait > cap)
				wait = cap;
		}
		if (p->cfg.save_every_ms > 0 && mono_ms() - last_save >= p->cfg.save_every_ms) {
			if (mps3_db_save_state(p->db))
				mps3_info("%s: could not save the state: %s", p->cfg.name, mps3_error_last(-EIO));
			last_save = mono_ms();
		}
		pthread_mutex_lock(&p->lock);
		if (pause_ms(p, wait))
			break;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int mps3_poller_start(struct mps3_poller **out, struct mps3_db *db, const struct mps3_poller_config *cfg)
{
	struct mps3_poller *p;
	pthread_condattr_t ca;

	*out = NULL;
	if (cfg->interval_ms < 10)
		return mps3_error_set(-EINVAL, "poll interval of %lld ms is too short", (long long)cfg->interval_ms);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->db = db;
	p->cfg = *cfg;
	if (!p->cfg.name)
		p->cfg.name = mps3_store_url(mps3_db_store(db));
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&p->th, NULL, run, p) != 0) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->cond);
		free(p);
		return -EAGAIN;
	}
	*out = p;
	return 0;
}

void mps3_poller_stop(struct mps3_poller *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->th, NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

int mps3_poller_failing(struct mps3_poller *p)
{
	return __atomic_load_n(&p->failing, __ATOMIC_RELAXED);
}

void mps3_poller_kick(struct mps3_poller *p)
{
	pthread_mutex_lock(&p->lock);
	p->kicked = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}
