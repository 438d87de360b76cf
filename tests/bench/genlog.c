/*
 * tests/bench/genlog.c - N tiny log entries straight into a bucket, for
 * scripts/bench-writers --catchup: T threads, each a session of its own,
 * PUT entries named at the time of their PUT (so R2 accepts them), each
 * setting one path; then head, in the old form (the last entry's name).
 * No head per entry and no W4 check: a way to make a long log quickly, not
 * a writer.
 *
 *   mps3-bench-genlog URL ENDPOINT N THREADS
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/keys.h"
#include "mps3/s3.h"
#include "mps3/store.h"

static struct mps3_store *store;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long todo, failed;
static char last[MPS3_LOGNAME_MAX], blob[MPS3_SHA256_HEX_LEN + 1];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *run(void *arg)
{
	struct mps3_logkey k;
	char name[MPS3_LOGNAME_MAX], key[MPS3_LOGNAME_MAX + 8], doc[512];
	struct mps3_body body;
	long i;

	memset(&k, 0, sizeof(k));
	snprintf(k.session, sizeof(k.session), "%016lx", (unsigned long)(uintptr_t)arg + 0xbe00000000UL);
	for (;;) {
		pthread_mutex_lock(&lock);
		i = todo--;
		pthread_mutex_unlock(&lock);
		if (i <= 0)
			break;
		k.t = now_ms();
		k.seq++;
		if (mps3_logkey_format(name, &k))
			break;
		snprintf(doc, sizeof(doc),
			 "{\"v\":1,\"t\":%" PRId64 ",\"session\":\"%s\",\"seq\":%" PRIu64
			 ",\"files\":{\"d%ld/f%ld\":{\"type\":\"f\",\"blob\":\"%s\",\"size\":2}}}",
			 k.t, k.session, k.seq, i % 100, i, blob);
		snprintf(key, sizeof(key), "log/%s", name);
		memset(&body, 0, sizeof(body));
		body.data = doc;
		body.len = strlen(doc);
		pthread_mutex_lock(&lock);
		snprintf(last, sizeof(last), "%s", name);
		pthread_mutex_unlock(&lock);
		if (mps3_store_put(store, key, &body, NULL)) {
			pthread_mutex_lock(&lock);
			failed++;
			pthread_mutex_unlock(&lock);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct mps3_s3_config s3;
	struct mps3_body body;
	pthread_t th[64];
	char key[80];
	int n, i;

	if (argc != 5 || (n = atoi(argv[4])) < 1 || n > 64) {
		fprintf(stderr, "usage: %s URL ENDPOINT N THREADS(1-64)\n", argv[0]);
		return 2;
	}
	todo = atol(argv[3]);
	mps3_s3_config_init(&s3);
	s3.endpoint = strdup(argv[2]);
	s3.access_key = strdup(getenv("AWS_ACCESS_KEY_ID") ? getenv("AWS_ACCESS_KEY_ID") : "test:tester");
	s3.secret_key = strdup(getenv("AWS_SECRET_ACCESS_KEY") ? getenv("AWS_SECRET_ACCESS_KEY") : "testing");
	if (mps3_store_open(&store, argv[1], &s3)) {
		fprintf(stderr, "genlog: %s\n", mps3_error_last(-EINVAL));
		return 1;
	}
	mps3_s3_config_dispose(&s3);
	mps3_sha256_hex(blob, "x\n", 2);
	memset(&body, 0, sizeof(body));
	body.data = "x\n";
	body.len = 2;
	snprintf(key, sizeof(key), "blobs/%s", blob);
	if (mps3_store_put(store, key, &body, NULL))
		return 1;
	for (i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, run, (void *)(uintptr_t)i))
			return 1;
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	body.data = last;
	body.len = strlen(last);
	if (last[0] && mps3_store_put(store, "head", &body, NULL))
		failed++;
	mps3_store_free(store);
	fprintf(stderr, "genlog: %ld PUTs failed\n", failed);
	return failed != 0;
}
