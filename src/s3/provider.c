/*
 * s3/provider.c - credentials that expire and are fetched again: a
 * profile's credential_process, the container endpoint (ECS, EKS Pod
 * Identity), EC2 instance metadata (IMDSv2), and STS (AssumeRoleWithWebIdentity
 * with a token file, AssumeRole from other credentials).
 *
 * DESIGN: one mutex per source.  The client asks for the current keys
 * before it signs each request (mps3_creds_current); the first caller that
 * finds them near their expiry fetches new ones, with the mutex released:
 * the others go on with the old keys while they hold, or wait on the
 * condition for what it brings, so there is one fetch per expiry however
 * many threads sign.  A fetch that fails while the old keys are still valid
 * keeps them, and is tried again no sooner than RETRY_MS later; once they
 * have expired, the caller gets -EACCES and the reason (the client's retry
 * loop asks again).  Secrets are wiped from every buffer that held them and
 * never appear in a message.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "mps3/buf.h"
#include "mps3/error.h"
#include "mps3/log.h"
#include "provider.h"

/* Fetched again this long before expiry (or at half of a shorter lifetime). */
#define REFRESH_MARGIN_MS (5 * 60 * 1000)
/* A failed fetch is not repeated sooner than this while the old keys hold. */
#define RETRY_MS 5000

int64_t mps3_creds_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mps3_creds_wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void mps3_creds_wipe_buf(struct mps3_buf *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->cap);
	mps3_buf_dispose(b);
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

static void spec_dispose(struct mps3_creds_spec *s)
{
	free(s->command);
	free(s->url);
	mps3_creds_wipe_free(s->auth_token);
	free(s->auth_token_file);
	free(s->endpoint);
	free(s->role_arn);
	free(s->session_name);
	free(s->token_file);
	free(s->external_id);
	free(s->region);
	free(s->ca_bundle);
	free(s->access_key);
	mps3_creds_wipe_free(s->secret_key);
	mps3_creds_wipe_free(s->session_token);
	free(s->profile);
	free(s->sso_cache_file);
	free(s->sso_account_id);
	free(s->sso_role_name);
}

static int spec_copy(struct mps3_creds_spec *d, const struct mps3_creds_spec *s)
{
	int rc = 0;

	memset(d, 0, sizeof(*d));
	rc |= dup_opt(&d->command, s->command);
	rc |= dup_opt(&d->url, s->url);
	rc |= dup_opt(&d->auth_token, s->auth_token);
	rc |= dup_opt(&d->auth_token_file, s->auth_token_file);
	rc |= dup_opt(&d->endpoint, s->endpoint);
	rc |= dup_opt(&d->role_arn, s->role_arn);
	rc |= dup_opt(&d->session_name, s->session_name);
	rc |= dup_opt(&d->token_file, s->token_file);
	rc |= dup_opt(&d->external_id, s->external_id);
	rc |= dup_opt(&d->region, s->region);
	rc |= dup_opt(&d->ca_bundle, s->ca_bundle);
	rc |= dup_opt(&d->access_key, s->access_key);
	rc |= dup_opt(&d->secret_key, s->secret_key);
	rc |= dup_opt(&d->session_token, s->session_token);
	rc |= dup_opt(&d->profile, s->profile);
	rc |= dup_opt(&d->sso_cache_file, s->sso_cache_file);
	rc |= dup_opt(&d->sso_account_id, s->sso_account_id);
	rc |= dup_opt(&d->sso_role_name, s->sso_role_name);
	d->duration_s = s->duration_s;
	d->insecure = s->insecure;
	if (rc) {
		spec_dispose(d);
		return -ENOMEM;
	}
	return 0;
}

static int needs_fetch(const struct mps3_creds *c, int64_t now)
{
	int64_t margin;

	if (!c->ak)
		return 1;
	if (c->expires_ms == INT64_MAX)
		return 0;
	margin = (c->expires_ms - c->fetched_ms) / 2;
	if (margin > REFRESH_MARGIN_MS)
		margin = REFRESH_MARGIN_MS;
	return now >= c->expires_ms - margin;
}

/* Whether a key or token from a source is fit for a header line: printable ASCII, no CR/LF. */
static int header_safe(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* A source's keys are checked as hostile input: they go into header lines and the signature. */
static int keys_check(struct creds_keys *k, int64_t now)
{
	if (!header_safe(k->ak) || !header_safe(k->sk) || (k->tok && !header_safe(k->tok)))
		return mps3_error_set(-EPROTO, "the keys hold characters no header may carry");
	if (k->expires_ms <= now)
		return mps3_error_set(-EPROTO, "the keys it gave had expired already");
	return 0;
}

/* Lock held: what the fetch brought (rc 0) or why it failed, with now the time it started. */
static int fetched(struct mps3_creds *c, int rc, struct creds_keys *k, int64_t now)
{
	if (rc == 0) {
		rc = keys_check(k, mps3_creds_now_ms());
		if (rc)
			mps3_creds_keys_dispose(k);
	}
	if (rc == 0) {
		free(c->ak);
		mps3_creds_wipe_free(c->sk);
		mps3_creds_wipe_free(c->tok);
		c->ak = k->ak;
		c->sk = k->sk;
		c->tok = k->tok;
		c->expires_ms = k->expires_ms;
		c->fetched_ms = now;
		c->retry_ms = 0;
		c->why[0] = '\0';
		mps3_debug("credentials from %s, valid until %" PRId64, c->name, c->expires_ms);
		return 0;
	}
	snprintf(c->why, sizeof(c->why), "%s", mps3_error_last(rc));
	c->retry_ms = now + RETRY_MS;
	if (c->ak && mps3_creds_now_ms() < c->expires_ms) {
		mps3_warn("could not refresh the credentials from %s (the current ones hold until they expire): %s",
			  c->name, c->why);
		return 0;
	}
	return rc;
}

int mps3_creds_current(struct mps3_creds *c, struct mps3_creds_value *out)
{
	int64_t now = mps3_creds_now_ms();
	int rc = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	/* After a failure, wait RETRY_MS before asking the source again, even with no keys that hold. */
	if (!c->fetching && needs_fetch(c, now) && now >= c->retry_ms) {
		struct creds_keys k;

		/* Fetched unlocked: while the keys still hold, the other threads go on signing with them. */
		c->fetching = 1;
		pthread_mutex_unlock(&c->lock);
		rc = mps3_creds_fetch(c, &k);
		pthread_mutex_lock(&c->lock);
		c->fetching = 0;
		rc = fetched(c, rc, &k, now);
		pthread_cond_broadcast(&c->cond);
	} else {
		/* No keys that hold while another thread fetches: wait for what it brings. */
		while (c->fetching && (!c->ak || mps3_creds_now_ms() >= c->expires_ms))
			pthread_cond_wait(&c->cond, &c->lock);
		if (!c->ak)
			rc = -EACCES;
	}
	if (!rc && c->ak && mps3_creds_now_ms() >= c->expires_ms)
		rc = -EACCES; /* expired, and the last fetch failed too recently to try again */
	if (rc) {
		rc = mps3_error_set(rc == -ENOMEM ? -ENOMEM : -EACCES, "credentials from %s: %s", c->name,
				    c->why[0] ? c->why : "expired");
	} else {
		out->access_key = strdup(c->ak);
		out->secret_key = strdup(c->sk);
		out->session_token = c->tok ? strdup(c->tok) : NULL;
		out->expires_ms = c->expires_ms;
		if (!out->access_key || !out->secret_key || (c->tok && !out->session_token)) {
			mps3_creds_value_dispose(out);
			rc = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void mps3_creds_value_dispose(struct mps3_creds_value *v)
{
	free(v->access_key);
	mps3_creds_wipe_free(v->secret_key);
	mps3_creds_wipe_free(v->session_token);
	memset(v, 0, sizeof(*v));
}

static const char *kind_name(enum creds_kind k)
{
	switch (k) {
	case K_PROCESS:
		return "credential_process";
	case K_CONTAINER:
		return "the container credentials endpoint";
	case K_IMDS:
		return "EC2 instance metadata";
	case K_WEB_IDENTITY:
		return "web identity (STS AssumeRoleWithWebIdentity)";
	case K_ASSUME_ROLE:
		return "STS AssumeRole";
	case K_SSO:
		return "IAM Identity Center (SSO)";
	}
	return "?";
}

int mps3_creds_new(struct mps3_creds **out, const struct mps3_creds_spec *spec, struct mps3_creds *source)
{
	struct mps3_creds *c;
	enum creds_kind kind;
	int rc;

	*out = NULL;
	if (spec->command)
		kind = K_PROCESS;
	else if (spec->url)
		kind = K_CONTAINER;
	else if (spec->token_file && spec->role_arn)
		kind = K_WEB_IDENTITY;
	else if (spec->sso_cache_file && spec->sso_account_id && spec->sso_role_name)
		kind = K_SSO;
	else if (spec->role_arn && (source || (spec->access_key && spec->secret_key)))
		kind = K_ASSUME_ROLE;
	else if (spec->endpoint && spec->imds)
		kind = K_IMDS;
	else
		return mps3_error_set(-EINVAL, "no credential source described");
	/* The region names a host (sts.REGION.amazonaws.com, portal.sso.REGION...). */
	if (spec->region && (!*spec->region || strlen(spec->region) > 32 ||
			     strspn(spec->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(spec->region)))
		return mps3_error_set(-EINVAL, "\"%.40s\" is not a region name", spec->region);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	rc = spec_copy(&c->spec, spec);
	if (rc) {
		free(c);
		return rc;
	}
	c->kind = kind;
	c->refs = 1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (spec->profile)
		rc = asprintf(&c->name, "%s of profile %s", kind_name(kind), spec->profile) < 0;
	else
		rc = asprintf(&c->name, "%s", kind_name(kind)) < 0;
	if (rc) {
		c->name = NULL;
		mps3_creds_unref(c);
		return -ENOMEM;
	}
	c->source = source ? mps3_creds_ref(source) : NULL;
	*out = c;
	return 0;
}

struct mps3_creds *mps3_creds_ref(struct mps3_creds *c)
{
	if (c)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void mps3_creds_unref(struct mps3_creds *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	mps3_creds_unref(c->source);
	spec_dispose(&c->spec);
	free(c->ak);
	mps3_creds_wipe_free(c->sk);
	mps3_creds_wipe_free(c->tok);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c->name);
	free(c);
}

const char *mps3_creds_describe(const struct mps3_creds *c)
{
	return c->name;
}
