/*
 * cli/common.c - option helpers shared by the two front ends.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "common.h"

int mps3_cli_duration_ms(int64_t *out, const char *s)
{
	char *end = NULL;
	double v, mult = 1000;

	if (!s || !*s)
		return -EINVAL;
	v = strtod(s, &end);
	if (end == s || v < 0 || !isfinite(v))
		return -EINVAL;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else if (strcmp(end, "d") == 0)
		mult = 86400000;
	else
		return -EINVAL;
	if (v * mult > 1e15)
		return -EINVAL;
	*out = (int64_t)(v * mult + 0.5);
	return 0;
}

int mps3_cli_open_store(struct mps3_store **out, const char *url,
			const struct mps3_cli_store_opts *o)
{
	struct mps3_s3_config cfg;
	struct mps3_creds_opts co;
	char bucket[256] = "";
	int rc;

	*out = NULL;
	if (strncmp(url, "s3://", 5) != 0)
		return mps3_store_open(out, url, NULL);

	{
		const char *b = url + 5;
		size_t n = strcspn(b, "/");

		if (n >= sizeof(bucket))
			n = sizeof(bucket) - 1;
		memcpy(bucket, b, n);
		bucket[n] = '\0';
	}
	mps3_s3_config_init(&cfg);
	memset(&co, 0, sizeof(co));
	co.profile = o->profile;
	co.endpoint = o->endpoint;
	co.region = o->region;
	co.passwd_file = o->passwd_file;
	co.bucket = bucket;
	rc = mps3_creds_load(&cfg, &co);
	if (rc)
		goto out;
	if (o->ca_bundle) {
		free(cfg.ca_bundle);
		cfg.ca_bundle = strdup(o->ca_bundle);
		if (!cfg.ca_bundle) {
			rc = -ENOMEM;
			goto out;
		}
	}
	cfg.insecure = o->insecure;
	cfg.max_attempts = o->max_attempts;
	cfg.connect_timeout_ms = o->connect_timeout_ms;
	cfg.stall_timeout_ms = o->stall_timeout_ms;
	cfg.verbose = o->verbose;
	if (o->addressing) {
		if (strcmp(o->addressing, "path") == 0) {
			cfg.addressing = MPS3_ADDR_PATH;
		} else if (strcmp(o->addressing, "virtual") == 0) {
			cfg.addressing = MPS3_ADDR_VIRTUAL;
		} else if (strcmp(o->addressing, "auto") == 0) {
			cfg.addressing = MPS3_ADDR_AUTO;
		} else {
			rc = mps3_error_set(-EINVAL, "addressing must be path, virtual or auto, not \"%s\"",
					    o->addressing);
			goto out;
		}
	}
	rc = mps3_store_open(out, url, &cfg);
out:
	mps3_s3_config_dispose(&cfg);
	return rc;
}
