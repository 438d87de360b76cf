/*
 * tests/bench/writers.c - W writers in one process, for scripts/bench-writers.
 * Each writer is a database of its own (mps3_db_open: its own session,
 * counter, clock and head writes), committing one new key a second at a
 * phase of its own, as W separate `mps3 put` loops would without W process
 * starts a second.  Every commit done prints "DONE <ns since the epoch> <key>"
 * (after its head is written: when readers may see it).
 *
 *   mps3-bench-writers URL ENDPOINT W SECONDS
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mps3/db.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/log.h"
#include "mps3/s3.h"
#include "mps3/store.h"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t end_ns;
static char blob[MPS3_SHA256_HEX_LEN + 1];

struct writer {
	pthread_t th;
	int id, n;
	int64_t phase_ns;
	struct mps3_store *store;
	struct mps3_db *db;
	unsigned fails;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t ns)
{
	int64_t d = ns - now_ns();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = (time_t)(d / 1000000000);
	ts.tv_nsec = (long)(d % 1000000000);
	nanosleep(&ts, NULL);
}

static void *run(void *arg)
{
	struct writer *w = arg;
	int64_t next = (now_ns() / 1000000000 + 1) * 1000000000 + w->phase_ns;

	while (next < end_ns) {
		char key[64];
		json_t *patch;

		sleep_until(next);
		next += 1000000000;
		snprintf(key, sizeof(key), "w%d/%d", w->id, w->n++);
		patch = json_pack("{s:{s:s,s:s,s:i,s:I}}", key, "type", "f", "blob", blob, "size", 2, "mtime",
				  (json_int_t)now_ns());
		if (!patch || mps3_db_commit(w->db, patch, NULL)) {
			w->fails++;
		} else {
			pthread_mutex_lock(&out_lock);
			printf("DONE %" PRId64 " %s\n", now_ns(), key);
			fflush(stdout);
			pthread_mutex_unlock(&out_lock);
		}
		json_decref(patch);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct mps3_s3_config s3;
	struct mps3_db_config cfg;
	struct writer *w;
	struct mps3_body body;
	unsigned fails = 0;
	int n, i, rc;

	if (argc != 5) {
		fprintf(stderr, "usage: %s URL ENDPOINT W SECONDS\n", argv[0]);
		return 2;
	}
	n = atoi(argv[3]);
	if (n < 1 || n > 1000)
		return 2;
	mps3_log_set_level(MPS3_LOG_WARN);
	w = calloc((size_t)n, sizeof(*w));
	if (!w)
		return 1;
	mps3_sha256_hex(blob, "x\n", 2);
	for (i = 0; i < n; i++) {
		mps3_s3_config_init(&s3);
		s3.endpoint = strdup(argv[2]);
		s3.access_key = strdup(getenv("AWS_ACCESS_KEY_ID") ? getenv("AWS_ACCESS_KEY_ID") : "test:tester");
		s3.secret_key = strdup(getenv("AWS_SECRET_ACCESS_KEY") ? getenv("AWS_SECRET_ACCESS_KEY") : "testing");
		rc = mps3_store_open(&w[i].store, argv[1], &s3);
		mps3_s3_config_dispose(&s3);
		if (rc) {
			fprintf(stderr, "writers: %s: %s\n", argv[1], mps3_error_last(rc));
			return 1;
		}
		if (i == 0) {
			char key[80];

			memset(&body, 0, sizeof(body));
			body.data = "x\n";
			body.len = 2;
			snprintf(key, sizeof(key), "blobs/%s", blob);
			if (mps3_store_put(w[0].store, key, &body, NULL))
				return 1;
		}
		mps3_db_config_init(&cfg);
		rc = mps3_db_open(&w[i].db, w[i].store, &cfg);
		if (rc) {
			fprintf(stderr, "writers: open: %s\n", mps3_error_last(rc));
			return 1;
		}
		w[i].id = i;
		w[i].phase_ns = (int64_t)i * 1000000000 / n;
	}
	end_ns = now_ns() + (int64_t)atoi(argv[4]) * 1000000000;
	printf("READY %d\n", n);
	fflush(stdout);
	for (i = 0; i < n; i++)
		if (pthread_create(&w[i].th, NULL, run, &w[i]))
			return 1;
	for (i = 0; i < n; i++) {
		pthread_join(w[i].th, NULL);
		fails += w[i].fails;
		mps3_db_free(w[i].db);
		mps3_store_free(w[i].store);
	}
	free(w);
	fprintf(stderr, "writers: %u commits failed\n", fails);
	return 0;
}
