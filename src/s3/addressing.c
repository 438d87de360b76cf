/*
 * s3/addressing.c - where the requests of a client go: the bucket's name
 * checked, the base URL, Host header and path prefix from the endpoint and
 * the addressing style, and the switch to another region when a reply says
 * the bucket is there.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/log.h"
#include "internal.h"

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

/* S3 bucket naming rules, loosely: what can appear in a host name or a path. */
int mps3_s3_bucket_valid(const char *b, int *dns_ok)
{
	size_t n = strlen(b), i;

	*dns_ok = n >= 3 && n <= 63;
	if (n == 0 || n > 255)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)b[i];

		if (islower(c) || isdigit(c) || c == '-')
			continue;
		if (c == '.') {
			/* Dots break TLS wildcard certificates of virtual-hosted names. */
			*dns_ok = 0;
			continue;
		}
		if (isupper(c) || c == '_') {
			*dns_ok = 0;
			continue;
		}
		return 0;
	}
	return 1;
}

/*
 * Where requests go: base URL, Host header and path prefix, from the
 * endpoint (default: AWS in the region) and the addressing style.
 */
int mps3_s3_set_addressing(struct mps3_s3 *s3, const char *bucket, int dns_ok)
{
	const char *scheme, *hostpart;
	char *endpoint = NULL;
	int virtual, rc = 0;
	size_t n;

	if (s3->cfg.endpoint)
		endpoint = strdup(s3->cfg.endpoint);
	else if (asprintf(&endpoint, "https://s3.%s.amazonaws.com", s3->cfg.region) < 0)
		endpoint = NULL;
	if (!endpoint)
		return -ENOMEM;
	n = strlen(endpoint);
	while (n > 0 && endpoint[n - 1] == '/')
		endpoint[--n] = '\0';
	if (strncmp(endpoint, "https://", 8) == 0) {
		scheme = "https://";
	} else if (strncmp(endpoint, "http://", 7) == 0) {
		scheme = "http://";
	} else {
		rc = mps3_error_set(-EINVAL, "endpoint \"%s\" must start with https:// or http://", endpoint);
		goto out;
	}
	hostpart = endpoint + strlen(scheme);
	if (!*hostpart || strchr(hostpart, '/') || strchr(hostpart, '@') || strchr(hostpart, '?')) {
		rc = mps3_error_set(-EINVAL, "endpoint \"%s\" must be scheme://host[:port] only", endpoint);
		goto out;
	}
	if (dup_str(&s3->bucket, bucket) || dup_str(&s3->endpoint_name, hostpart)) {
		rc = -ENOMEM;
		goto out;
	}
	if (s3->cfg.addressing == MPS3_ADDR_PATH)
		virtual = 0;
	else if (s3->cfg.addressing == MPS3_ADDR_VIRTUAL)
		virtual = 1;
	else
		virtual = dns_ok && strstr(hostpart, "amazonaws.com") != NULL;
	if (virtual && !dns_ok) {
		rc = mps3_error_set(-EINVAL, "bucket \"%s\" cannot be addressed virtual-hosted style; use path style",
				    bucket);
		goto out;
	}
	if (virtual) {
		if (asprintf(&s3->host, "%s.%s", bucket, hostpart) < 0 ||
		    asprintf(&s3->base_url, "%s%s", scheme, s3->host) < 0 || dup_str(&s3->path_prefix, ""))
			rc = -ENOMEM;
	} else {
		if (dup_str(&s3->host, hostpart) || asprintf(&s3->base_url, "%s%s", scheme, hostpart) < 0 ||
		    asprintf(&s3->path_prefix, "/%s", bucket) < 0)
			rc = -ENOMEM;
	}
	if (rc)
		goto out;
	/* Host as curl would send it: a default port is not written. */
	n = strlen(s3->host);
	if ((strcmp(scheme, "https://") == 0 && n > 4 && strcmp(s3->host + n - 4, ":443") == 0) ||
	    (strcmp(scheme, "http://") == 0 && n > 3 && strcmp(s3->host + n - 3, ":80") == 0))
		s3->host[strrchr(s3->host, ':') - s3->host] = '\0';
	if (strcmp(scheme, "http://") == 0 && strncmp(hostpart, "127.", 4) != 0 &&
	    strncmp(hostpart, "localhost", 9) != 0 && strncmp(hostpart, "[::1]", 5) != 0)
		mps3_warn("endpoint %s is plain http: requests and data are not encrypted", s3->endpoint_name);
out:
	free(endpoint);
	return rc;
}

void mps3_s3_where(struct mps3_s3 *s3, struct s3_where *w)
{
	pthread_mutex_lock(&s3->lock);
	w->region = s3->cfg.region;
	w->base_url = s3->base_url;
	w->host = s3->host;
	w->path_prefix = s3->path_prefix;
	w->endpoint_name = s3->endpoint_name;
	pthread_mutex_unlock(&s3->lock);
}

int mps3_s3_switch_region(struct mps3_s3 *s3, const char *region)
{
	struct mps3_s3 tmp;
	char **r, *old[5];
	size_t n = strlen(region), i;
	int dns_ok, rc;

	if (n == 0 || n > 32 || strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
		return mps3_error_set(-EINVAL, "\"%.40s\" is not a region", region);

	memset(&tmp, 0, sizeof(tmp));
	tmp.cfg.endpoint = s3->cfg.endpoint;
	tmp.cfg.addressing = s3->cfg.addressing;
	tmp.cfg.region = strdup(region);
	(void)mps3_s3_bucket_valid(s3->bucket, &dns_ok);
	rc = tmp.cfg.region ? mps3_s3_set_addressing(&tmp, s3->bucket, dns_ok) : -ENOMEM;
	free(tmp.bucket);
	pthread_mutex_lock(&s3->lock);
	/* A server that keeps naming other regions is not followed for ever. */
	if (!rc && s3->nretired >= 5 * 4)
		rc = mps3_error_set(-EINVAL, "the bucket's region changed too often");
	r = rc ? NULL : realloc(s3->retired, (s3->nretired + 5) * sizeof(*r));
	if (!rc && !r)
		rc = -ENOMEM;
	if (!rc) {
		s3->retired = r;
		old[0] = s3->cfg.region;
		old[1] = s3->base_url;
		old[2] = s3->host;
		old[3] = s3->path_prefix;
		old[4] = s3->endpoint_name;
		for (i = 0; i < 5; i++)
			s3->retired[s3->nretired++] = old[i];
		s3->cfg.region = tmp.cfg.region;
		s3->base_url = tmp.base_url;
		s3->host = tmp.host;
		s3->path_prefix = tmp.path_prefix;
		s3->endpoint_name = tmp.endpoint_name;
	}
	pthread_mutex_unlock(&s3->lock);
	if (rc) {
		free(tmp.cfg.region);
		free(tmp.base_url);
		free(tmp.host);
		free(tmp.path_prefix);
		free(tmp.endpoint_name);
	}
	return rc;
}
