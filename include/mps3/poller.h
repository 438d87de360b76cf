/*
 * mps3/poller.h - a thread that polls a database at an interval, so that
 * its listener hears of other clients' changes (mps3 watch, the daemon).
 *
 * The listener (mps3_db_set_listener) is called from the poller's thread.
 * An outage is reported once when it starts ("cannot poll ... will keep
 * trying") and once when it ends; while it lasts the pause between polls
 * doubles up to max(interval, 10 s).  With save_every_ms set, the state
 * file is saved that often (mps3_db_save_state).  The database must
 * outlive the poller.
 */
#ifndef MPS3_POLLER_H
#define MPS3_POLLER_H

#include <stdint.h>

struct mps3_db;

struct mps3_poller_config {
	int64_t interval_ms;		/* between polls; at least 10 */
	int64_t save_every_ms;		/* 0: never save the state */
	const char *name;		/* for messages ("watch", the URL) */
};

struct mps3_poller;

/* Start polling (the first poll happens at once).  0, -EINVAL, -ENOMEM or -EAGAIN. */
int mps3_poller_start(struct mps3_poller **out, struct mps3_db *db, const struct mps3_poller_config *cfg);
/* Stop and join: no listener call is in progress or will be after it returns. */
void mps3_poller_stop(struct mps3_poller *p);
/* Whether the last poll failed. */
int mps3_poller_failing(struct mps3_poller *p);
/* Poll now instead of at the end of the current pause. */
void mps3_poller_kick(struct mps3_poller *p);

#endif
