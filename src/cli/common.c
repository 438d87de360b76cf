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

int mps3_cli_js_names(const char *url, const char *override, char **bucket, char **prefix)
{
	const char *rest, *slash;
	char *b = NULL, *p = NULL;
	size_t n;

	*bucket = *prefix = NULL;
	if (strncmp(url, "s3://", 5) == 0) {
		rest = url + 5;
		slash = strchr(rest, '/');
		b = slash ? strndup(rest, (size_t)(slash - rest)) : strdup(rest);
		p = strdup(slash ? slash + 1 : "");
	} else if (strncmp(url, "file://", 7) == 0) {
		rest = url + 7;
		n = strlen(rest);
		while (n > 1 && rest[n - 1] == '/')
			n--;
		slash = memrchr(rest, '/', n);
		b = slash ? strndup(slash + 1, n - (size_t)(slash + 1 - rest)) : strndup(rest, n);
		p = strdup("");
	} else {
		b = strdup("mem");
		p = strdup("");
	}
	if (!b || !p) {
		free(b);
		free(p);
		return -ENOMEM;
	}
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		p[--n] = '\0';
	if (override) {
		free(b);
		b = strdup(override);
		if (!b) {
			free(p);
			return -ENOMEM;
		}
	}
	if (!*b) {
		free(b);
		free(p);
		return mps3_error_set(-EINVAL, "%s: no bucket name to put in MPS3 keys (give one with mps3_bucket=)", url);
	}
	*bucket = b;
	*prefix = p;
	return 0;
}
