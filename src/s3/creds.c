/*
 * s3/creds.c - where credentials, region and endpoint come from, in the
 * order of the AWS SDKs: explicit options, an s3fs-style passwd file, the
 * AWS environment variables, a web identity token, the shared credentials
 * and config files (keys, role_arn with source_profile or
 * credential_source, credential_process), the container endpoint and EC2
 * instance metadata.  Sources whose keys expire are built here and fetched
 * by s3/provider.c.  Secrets read here are copied into the config only and
 * wiped from every temporary buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "mps3/error.h"
#include "mps3/s3.h"

static int set(char **dst, const char *v)
{
	char *c;

	if (!v || *dst)
		return 0; /* first source wins */
	c = strdup(v);
	if (!c)
		return -ENOMEM;
	*dst = c;
	return 0;
}

static int set_secret(char **dst, const char *v)
{
	return set(dst, v);
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

#define WANT_MAX 20

struct ini_want {
	const char *section;	/* "default", "profile x" */
	const char *alt;	/* also accepted, or NULL */
	const char *keys[WANT_MAX];
	char *values[WANT_MAX];	/* malloc'd, caller frees */
};

/* Read the wanted keys of one section.  A missing file is not an error. */
static int ini_read(const char *path, struct ini_want *w, int *found)
{
	char line[16384]; /* session tokens run to a few KB */
	int in = 0, lineno = 0, rc = 0;
	FILE *f = fopen(path, "re");

	*found = 0;
	if (!f)
		return errno == ENOENT ? 0 : mps3_error_set(-errno, "cannot read %s", path);
	while (fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq;
		size_t i;

		lineno++;
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');

			if (!end) {
				rc = mps3_error_set(-EINVAL, "%s:%d: malformed section header", path, lineno);
				break;
			}
			*end = '\0';
			s = trim(s + 1);
			in = strcmp(s, w->section) == 0 || (w->alt && strcmp(s, w->alt) == 0);
			if (in)
				*found = 1;
			continue;
		}
		if (!in)
			continue;
		eq = strchr(s, '=');
		if (!eq)
			continue; /* nested sub-sections ("s3 =") and continuation lines */
		*eq = '\0';
		for (i = 0; i < WANT_MAX && w->keys[i]; i++) {
			if (strcmp(trim(s), w->keys[i]) == 0 && !w->values[i]) {
				w->values[i] = strdup(trim(eq + 1));
				if (!w->values[i])
					rc = -ENOMEM;
			}
		}
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	return rc;
}

static void want_dispose(struct ini_want *w)
{
	size_t i;

	for (i = 0; i < WANT_MAX; i++) {
		if (w->values[i]) {
			OPENSSL_cleanse(w->values[i], strlen(w->values[i]));
			free(w->values[i]);
			w->values[i] = NULL;
		}
	}
}

/* What a profile says, from the credentials file and then the config file. */
enum { P_AK, P_SK, P_TOK, P_REGION, P_ENDPOINT, P_CA, P_ROLE, P_SOURCE, P_CRED_SOURCE, P_EXTERNAL, P_SESSION,
       P_DURATION, P_PROCESS, P_WEB_TOKEN, P_SSO_URL, P_SSO_SESSION, P_SSO_ACCOUNT, P_SSO_ROLE, P_SSO_REGION, P_N };

static const char *const profile_keys[P_N] = {
	"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "region", "endpoint_url",
	"ca_bundle", "role_arn", "source_profile", "credential_source", "external_id", "role_session_name",
	"duration_seconds", "credential_process", "web_identity_token_file", "sso_start_url", "sso_session",
	"sso_account_id", "sso_role_name", "sso_region",
};

struct files {
	char cred[4096], conf[4096];
};

static void files_init(struct files *f, const char *home)
{
	const char *p = env("AWS_SHARED_CREDENTIALS_FILE");

	if (p)
		snprintf(f->cred, sizeof(f->cred), "%s", p);
	else
		snprintf(f->cred, sizeof(f->cred), "%s/.aws/credentials", home ? home : "");
	p = env("AWS_CONFIG_FILE");
	if (p)
		snprintf(f->conf, sizeof(f->conf), "%s", p);
	else
		snprintf(f->conf, sizeof(f->conf), "%s/.aws/config", home ? home : "");
}

/* The profile's keys into w (values[P_*]); *found when either file has it. */
static int profile_read(const struct files *f, const char *profile, struct ini_want *w, int *found)
{
	char section[256];
	int f1 = 0, f2 = 0, rc;
	size_t i;

	memset(w, 0, sizeof(*w));
	for (i = 0; i < P_N; i++)
		w->keys[i] = profile_keys[i];
	w->section = profile;
	rc = ini_read(f->cred, w, &f1);
	if (rc)
		return rc;
	snprintf(section, sizeof(section), "profile %s", profile);
	w->section = section;
	w->alt = strcmp(profile, "default") == 0 ? "default" : NULL;
	rc = ini_read(f->conf, w, &f2);
	w->section = NULL;
	w->alt = NULL;
	*found = f1 || f2;
	return rc;
}

struct chain {
	struct mps3_s3_config *cfg;
	const struct files *files;
	const char *home;
	const char *region;	/* STS's: the profile's or the configuration's */
};

static int container_creds(struct mps3_creds **out, const struct mps3_s3_config *cfg);
static int imds_creds(struct mps3_creds **out, const struct mps3_s3_config *cfg);

/* The CA bundle, but never insecure: that is for an S3 endpoint, not for where keys come from. */
static void spec_tls(struct mps3_creds_spec *s, const struct mps3_s3_config *cfg)
{
	s->ca_bundle = cfg->ca_bundle;
	s->insecure = 0;
}

/*
 * IAM Identity Center: the token `aws sso login` cached (in
 * ~/.aws/sso/cache/, named by the SHA-1 of the sso-session's name, or of the
 * start URL for a legacy profile) and the account and role to ask keys for.
 */
static int sso_creds(struct chain *ch, const char *profile, const char *const *v, struct mps3_creds **out)
{
	struct mps3_creds_spec spec;
	struct ini_want sw;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, i;
	char section[300], cache[4096], hex[2 * EVP_MAX_MD_SIZE + 1];
	const char *region = v[P_SSO_REGION], *name, *home = ch->home;
	int found = 0, rc = 0;

	memset(&sw, 0, sizeof(sw));
	if (!v[P_SSO_ACCOUNT] || !v[P_SSO_ROLE])
		return mps3_error_set(-EINVAL, "profile %s: SSO needs sso_account_id and sso_role_name", profile);
	if (v[P_SSO_SESSION]) {
		snprintf(section, sizeof(section), "sso-session %s", v[P_SSO_SESSION]);
		sw.section = section;
		sw.keys[0] = "sso_region";
		sw.keys[1] = "sso_start_url";
		rc = ini_read(ch->files->conf, &sw, &found);
		if (!rc && !found)
			rc = mps3_error_set(-ENOENT, "profile %s: [sso-session %s] not found in %s", profile,
					    v[P_SSO_SESSION], ch->files->conf);
		if (rc)
			goto out;
		if (sw.values[0])
			region = sw.values[0];
	}
	name = v[P_SSO_SESSION] ? v[P_SSO_SESSION] : v[P_SSO_URL];
	if (!EVP_Digest(name, strlen(name), md, &mdlen, EVP_sha1(), NULL)) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(cache, sizeof(cache), "%s/.aws/sso/cache/%s.json", home ? home : "", hex);
	memset(&spec, 0, sizeof(spec));
	spec.profile = (char *)profile;
	spec.sso_cache_file = cache;
	spec.sso_account_id = (char *)v[P_SSO_ACCOUNT];
	spec.sso_role_name = (char *)v[P_SSO_ROLE];
	spec.region = (char *)region;
	spec.endpoint = (char *)env("AWS_ENDPOINT_URL_SSO");
	spec_tls(&spec, ch->cfg);
	rc = mps3_creds_new(out, &spec, NULL);
out:
	want_dispose(&sw);
	return rc;
}

/*
 * The credentials a profile names: keys (into *ak, *sk, *tok, borrowed from
 * w's values) or a source (*out).  depth bounds source_profile chains.
 */
static int profile_creds(struct chain *ch, const char *profile, int depth, struct ini_want *w,
			 struct mps3_creds **out, const char **ak, const char **sk, const char **tok)
{
	const char *const *v = (const char *const *)w->values;
	struct mps3_creds_spec spec;
	struct mps3_creds *src = NULL;
	int rc = 0;

	*out = NULL;
	*ak = *sk = *tok = NULL;
	memset(&spec, 0, sizeof(spec));
	spec.profile = (char *)profile;
	spec.region = (char *)(v[P_REGION] ? v[P_REGION] : ch->region);
	spec.endpoint = (char *)env("AWS_ENDPOINT_URL_STS");
	spec.role_arn = (char *)v[P_ROLE];
	spec.session_name = (char *)v[P_SESSION];
	spec.external_id = (char *)v[P_EXTERNAL];
	spec_tls(&spec, ch->cfg);
	if (v[P_DURATION]) {
		char *end;
		long d = strtol(v[P_DURATION], &end, 10);

		if (*end || d < 900 || d > 43200)
			return mps3_error_set(-EINVAL, "profile %s: duration_seconds = %s: need 900 to 43200", profile,
					      v[P_DURATION]);
		spec.duration_s = (int)d;
	}
	if (v[P_ROLE] && v[P_WEB_TOKEN]) {
		spec.token_file = (char *)v[P_WEB_TOKEN];
		return mps3_creds_new(out, &spec, NULL);
	}
	if (v[P_ROLE]) {
		struct ini_want sw;
		const char *sak, *ssk, *stok;
		int found;

		if (v[P_SOURCE] && v[P_CRED_SOURCE])
			return mps3_error_set(-EINVAL, "profile %s: both source_profile and credential_source", profile);
		if (v[P_SOURCE] && strcmp(v[P_SOURCE], profile) == 0) {
			/* Its own keys sign the AssumeRole (as the AWS CLI allows). */
			if (!v[P_AK] || !v[P_SK])
				return mps3_error_set(-EINVAL, "profile %s: source_profile is itself, but it has no keys",
						      profile);
			spec.access_key = (char *)v[P_AK];
			spec.secret_key = (char *)v[P_SK];
			spec.session_token = (char *)v[P_TOK];
			return mps3_creds_new(out, &spec, NULL);
		}
		if (v[P_SOURCE]) {
			if (depth >= 5)
				return mps3_error_set(-ELOOP, "profile %s: source_profile chain too long (a loop?)", profile);
			rc = profile_read(ch->files, v[P_SOURCE], &sw, &found);
			if (!rc && !found)
				rc = mps3_error_set(-ENOENT, "profile %s: source_profile %s not found in %s or %s", profile,
						    v[P_SOURCE], ch->files->cred, ch->files->conf);
			if (!rc)
				rc = profile_creds(ch, v[P_SOURCE], depth + 1, &sw, &src, &sak, &ssk, &stok);
			if (!rc && !src && (!sak || !ssk))
				rc = mps3_error_set(-ENOENT, "profile %s: source_profile %s has no credentials", profile,
						    v[P_SOURCE]);
			if (!rc && !src) {
				spec.access_key = (char *)sak;
				spec.secret_key = (char *)ssk;
				spec.session_token = (char *)stok;
			}
			if (!rc)
				rc = mps3_creds_new(out, &spec, src);
			mps3_creds_unref(src);
			want_dispose(&sw);
			return rc;
		}
		if (!v[P_CRED_SOURCE])
			return mps3_error_set(-EINVAL, "profile %s: role_arn needs source_profile, credential_source or "
						       "web_identity_token_file", profile);
		if (strcmp(v[P_CRED_SOURCE], "Environment") == 0) {
			spec.access_key = (char *)env("AWS_ACCESS_KEY_ID");
			spec.secret_key = (char *)env("AWS_SECRET_ACCESS_KEY");
			spec.session_token = (char *)env("AWS_SESSION_TOKEN");
			if (!spec.access_key || !spec.secret_key)
				return mps3_error_set(-ENOENT, "profile %s: credential_source = Environment, but "
							       "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
						      profile);
			return mps3_creds_new(out, &spec, NULL);
		}
		if (strcmp(v[P_CRED_SOURCE], "Ec2InstanceMetadata") == 0)
			rc = imds_creds(&src, ch->cfg);
		else if (strcmp(v[P_CRED_SOURCE], "EcsContainer") == 0)
			rc = container_creds(&src, ch->cfg);
		else
			return mps3_error_set(-EINVAL, "profile %s: credential_source = %s: use Environment, "
						       "Ec2InstanceMetadata or EcsContainer", profile, v[P_CRED_SOURCE]);
		if (!rc && !src)
			rc = mps3_error_set(-ENOENT, "profile %s: credential_source = %s, but it is not configured",
					    profile, v[P_CRED_SOURCE]);
		if (!rc)
			rc = mps3_creds_new(out, &spec, src);
		mps3_creds_unref(src);
		return rc;
	}
	if (v[P_AK] && v[P_SK]) {
		*ak = v[P_AK];
		*sk = v[P_SK];
		*tok = v[P_TOK];
		return 0;
	}
	if (v[P_PROCESS]) {
		memset(&spec, 0, sizeof(spec));
		spec.profile = (char *)profile;
		spec.command = (char *)v[P_PROCESS];
		return mps3_creds_new(out, &spec, NULL);
	}
	if (v[P_SSO_URL] || v[P_SSO_SESSION])
		return sso_creds(ch, profile, v, out);
	return 0;
}

static int from_profile(struct mps3_s3_config *cfg, const char *home, const char *profile,
			int explicit_profile)
{
	struct files files;
	struct ini_want w;
	struct chain ch;
	struct mps3_creds *src = NULL;
	const char *ak, *sk, *tok;
	int found = 0, rc;

	files_init(&files, home);
	rc = profile_read(&files, profile, &w, &found);
	if (rc)
		goto out;
	if (explicit_profile && !found) {
		rc = mps3_error_set(-ENOENT, "profile \"%s\" not found in %s or %s", profile, files.cred, files.conf);
		goto out;
	}
	rc = set(&cfg->region, w.values[P_REGION]);
	if (!rc)
		rc = set(&cfg->endpoint, w.values[P_ENDPOINT]);
	if (!rc)
		rc = set(&cfg->ca_bundle, w.values[P_CA]);
	if (rc || cfg->access_key || cfg->creds)
		goto out; /* keys from an earlier source win; the region and endpoint still count */
	ch.cfg = cfg;
	ch.files = &files;
	ch.home = home;
	ch.region = cfg->region;
	rc = profile_creds(&ch, profile, 0, &w, &src, &ak, &sk, &tok);
	if (!rc && src) {
		cfg->creds = src;
	} else if (!rc && ak) {
		rc = set(&cfg->access_key, ak);
		if (!rc)
			rc = set_secret(&cfg->secret_key, sk);
		if (!rc)
			rc = set_secret(&cfg->session_token, tok);
	}
out:
	want_dispose(&w);
	return rc;
}

/*
 * AWS_CONTAINER_CREDENTIALS_FULL_URI: https anywhere; plain http only to a
 * loopback address or the container endpoint's link-local ones, judged on
 * the host curl will connect to (no userinfo that hides the real host).
 */
static int container_url_ok(const char *full)
{
	static const char *const local[] = { "localhost", "[::1]", "169.254.170.2", "169.254.170.23",
					      "[fd00:ec2::23]", NULL };
	char *scheme = NULL, *host = NULL, *user = NULL;
	CURLU *u = curl_url();
	int rc = 0, ok = 0;
	size_t i;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, full, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		rc = mps3_error_set(-EINVAL, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && user) {
		rc = mps3_error_set(-EINVAL, "AWS_CONTAINER_CREDENTIALS_FULL_URI: no user name in it, please");
		goto out;
	}
	if (strcmp(scheme, "https") == 0) {
		ok = 1;
	} else if (strcmp(scheme, "http") == 0) {
		unsigned a, b, c, d;
		char tail;

		for (i = 0; !ok && local[i]; i++)
			ok = strcasecmp(host, local[i]) == 0;
		/* 127.0.0.0/8, as four decimal numbers and nothing else. */
		if (!ok && sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4)
			ok = a == 127 && b < 256 && c < 256 && d < 256;
	}
	if (!ok)
		rc = mps3_error_set(-EINVAL, "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http is allowed only to a "
					     "loopback or the container endpoint's address");
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return rc;
}

/* The container endpoint of ECS or EKS Pod Identity, when the environment names one. */
static int container_creds(struct mps3_creds **out, const struct mps3_s3_config *cfg)
{
	const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	struct mps3_creds_spec spec;
	char *url = NULL;
	int rc;

	*out = NULL;
	if (!rel && !full)
		return 0;
	if (rel) {
		if (asprintf(&url, "http://169.254.170.2%s%s", rel[0] == '/' ? "" : "/", rel) < 0)
			return -ENOMEM;
	} else {
		rc = container_url_ok(full);
		if (rc)
			return rc;
		url = strdup(full);
		if (!url)
			return -ENOMEM;
	}
	memset(&spec, 0, sizeof(spec));
	spec.url = url;
	spec.auth_token = (char *)env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	spec.auth_token_file = (char *)env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	spec_tls(&spec, cfg);
	rc = mps3_creds_new(out, &spec, NULL);
	free(url);
	return rc;
}

static int imds_disabled(void)
{
	const char *d = env("AWS_EC2_METADATA_DISABLED");

	return d && strcasecmp(d, "true") == 0;
}

static const char *imds_endpoint(void)
{
	const char *e = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");

	return e ? e : "http://169.254.169.254";
}

static int imds_creds(struct mps3_creds **out, const struct mps3_s3_config *cfg)
{
	struct mps3_creds_spec spec;
	char *e = NULL;
	size_t n;
	int rc;

	*out = NULL;
	if (imds_disabled())
		return 0;
	e = strdup(imds_endpoint());
	if (!e)
		return -ENOMEM;
	n = strlen(e);
	while (n > 0 && e[n - 1] == '/')
		e[--n] = '\0';
	memset(&spec, 0, sizeof(spec));
	spec.imds = 1;
	spec.endpoint = e;
	(void)cfg; /* metadata is plain http on a link-local address: no TLS settings */
	rc = mps3_creds_new(out, &spec, NULL);
	free(e);
	return rc;
}

/* AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN (EKS IRSA, GitHub Actions OIDC and the like). */
static int web_identity_creds(struct mps3_creds **out, const struct mps3_s3_config *cfg)
{
	struct mps3_creds_spec spec;

	*out = NULL;
	if (!env("AWS_WEB_IDENTITY_TOKEN_FILE") || !env("AWS_ROLE_ARN"))
		return 0;
	memset(&spec, 0, sizeof(spec));
	spec.token_file = (char *)env("AWS_WEB_IDENTITY_TOKEN_FILE");
	spec.role_arn = (char *)env("AWS_ROLE_ARN");
	spec.session_name = (char *)env("AWS_ROLE_SESSION_NAME");
	spec.endpoint = (char *)env("AWS_ENDPOINT_URL_STS");
	spec.region = cfg->region;
	spec_tls(&spec, cfg);
	return mps3_creds_new(out, &spec, NULL);
}

static int from_env(struct mps3_s3_config *cfg)
{
	int rc = 0;

	if (env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY") && !cfg->access_key && !cfg->creds) {
		rc = set(&cfg->access_key, env("AWS_ACCESS_KEY_ID"));
		if (!rc)
			rc = set_secret(&cfg->secret_key, env("AWS_SECRET_ACCESS_KEY"));
		if (!rc)
			rc = set_secret(&cfg->session_token, env("AWS_SESSION_TOKEN"));
	}
	if (!rc)
		rc = set(&cfg->region, env("AWS_REGION"));
	if (!rc)
		rc = set(&cfg->region, env("AWS_DEFAULT_REGION"));
	if (!rc)
		rc = set(&cfg->endpoint, env("AWS_ENDPOINT_URL_S3"));
	if (!rc)
		rc = set(&cfg->endpoint, env("AWS_ENDPOINT_URL"));
	if (!rc)
		rc = set(&cfg->ca_bundle, env("AWS_CA_BUNDLE"));
	return rc;
}

/*
 * s3fs format: "ACCESS:SECRET" applies to every bucket; "BUCKET:ACCESS:SECRET"
 * to one.  With more colons the access key holds them (Swift's "account:user"):
 * the bucket ends at the first colon and the secret starts after the last.
 */
static int from_passwd(struct mps3_s3_config *cfg, const char *path, const char *bucket)
{
	char line[4096], *any_ak = NULL, *any_sk = NULL;
	struct stat st;
	int rc = 0, lineno = 0, used = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return mps3_error_set(-errno, "cannot read passwd file %s: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
		fclose(f);
		return mps3_error_set(-EACCES,
				      "passwd file %s is accessible by group or others; chmod 600 it",
				      path);
	}
	while (!used && fgets(line, sizeof(line), f)) {
		char *s = trim(line), *first, *last;

		lineno++;
		if (!*s || *s == '#')
			continue;
		first = strchr(s, ':');
		last = strrchr(s, ':');
		if (!first) {
			rc = mps3_error_set(-EINVAL, "%s:%d: expected [BUCKET:]ACCESS_KEY:SECRET", path, lineno);
			break;
		}
		if (first == last) {
			*first = '\0';
			if (!any_ak) {
				any_ak = strdup(s);
				any_sk = strdup(first + 1);
				if (!any_ak || !any_sk)
					rc = -ENOMEM;
			}
			continue;
		}
		*first = '\0';
		*last = '\0';
		if (bucket && strcmp(s, bucket) == 0) {
			rc = set(&cfg->access_key, first + 1);
			if (!rc)
				rc = set_secret(&cfg->secret_key, last + 1);
			used = 1;
		}
	}
	if (!rc && !used && any_ak) {
		rc = set(&cfg->access_key, any_ak);
		if (!rc)
			rc = set_secret(&cfg->secret_key, any_sk);
	}
	OPENSSL_cleanse(line, sizeof(line));
	if (any_sk) {
		OPENSSL_cleanse(any_sk, strlen(any_sk));
		free(any_sk);
	}
	free(any_ak);
	fclose(f);
	return rc;
}

/* The first keys of a source, so that a bad one fails now, with its reason, not at the first request. */
static int first_fetch(struct mps3_s3_config *cfg)
{
	struct mps3_creds_value v;
	int rc = mps3_creds_current(cfg->creds, &v);

	mps3_creds_value_dispose(&v);
	return rc;
}

int mps3_creds_load(struct mps3_s3_config *cfg, const struct mps3_creds_opts *opts)
{
	const char *home = opts && opts->home ? opts->home : getenv("HOME");
	const char *profile = opts && opts->profile ? opts->profile : env("AWS_PROFILE");
	int explicit_profile = opts && opts->profile, imds = 0;
	int rc;

	rc = set(&cfg->endpoint, opts ? opts->endpoint : NULL);
	if (!rc)
		rc = set(&cfg->region, opts ? opts->region : NULL);
	if (!rc && opts && opts->passwd_file)
		rc = from_passwd(cfg, opts->passwd_file, opts->bucket);
	/* An explicit --profile beats the environment, as with the AWS CLI. */
	if (!rc && explicit_profile)
		rc = from_profile(cfg, home, profile, 1);
	if (!rc)
		rc = from_env(cfg);
	/* Then the order of the AWS SDKs: web identity, the profile, the container, the instance. */
	if (!rc && !cfg->access_key && !cfg->creds)
		rc = web_identity_creds(&cfg->creds, cfg);
	if (!rc && !explicit_profile)
		rc = from_profile(cfg, home, profile ? profile : "default", profile != NULL);
	if (!rc && !cfg->access_key && !cfg->creds)
		rc = container_creds(&cfg->creds, cfg);
	if (!rc && !cfg->access_key && !cfg->creds) {
		rc = imds_creds(&cfg->creds, cfg);
		imds = cfg->creds != NULL;
	}
	if (rc)
		return rc;
	if (cfg->creds) {
		rc = first_fetch(cfg);
		if (rc && imds) /* nothing was configured; this is not an EC2 instance, or it has no role */
			return mps3_error_wrap(-ENOENT, "no S3 credentials: set AWS_ACCESS_KEY_ID and "
							"AWS_SECRET_ACCESS_KEY, use a profile in ~/.aws/credentials, "
							"or a passwd file (and no instance role either)");
		if (rc)
			return rc;
		if (imds && !cfg->region) {
			char region[72];

			if (mps3_imds_region(imds_endpoint(), region, sizeof(region)) == 0)
				rc = set(&cfg->region, region);
		}
		return rc;
	}
	if (!cfg->access_key || !cfg->secret_key)
		return mps3_error_set(-ENOENT,
				      "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
				      "use a profile in ~/.aws/credentials, or a passwd file");
	return 0;
}
