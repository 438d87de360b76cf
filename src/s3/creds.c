/*
 * s3/creds.c - where credentials, region and endpoint come from: explicit
 * options, the AWS environment variables, an s3fs-style passwd file, and the
 * AWS shared credentials and config files.  Secrets read here are copied
 * into the config only and wiped from every temporary buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

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

struct ini_want {
	const char *section;	/* "default", "profile x" */
	const char *alt;	/* also accepted, or NULL */
	const char *keys[6];
	char *values[6];	/* malloc'd, caller frees */
};

/* Read the wanted keys of one section.  A missing file is not an error. */
static int ini_read(const char *path, struct ini_want *w, int *found)
{
	char line[4096];
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
		for (i = 0; i < 6 && w->keys[i]; i++) {
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

	for (i = 0; i < 6; i++) {
		if (w->values[i]) {
			OPENSSL_cleanse(w->values[i], strlen(w->values[i]));
			free(w->values[i]);
			w->values[i] = NULL;
		}
	}
}

static int from_profile(struct mps3_s3_config *cfg, const char *home, const char *profile,
			int explicit_profile)
{
	char cred_path[4096], conf_path[4096], section[256];
	const char *p;
	struct ini_want cw = { .keys = { "aws_access_key_id", "aws_secret_access_key",
					 "aws_session_token", NULL } };
	struct ini_want fw = { .keys = { "region", "endpoint_url", "ca_bundle", NULL } };
	int found1 = 0, found2 = 0, rc;

	p = env("AWS_SHARED_CREDENTIALS_FILE");
	snprintf(cred_path, sizeof(cred_path), "%s", p ? p : "");
	if (!p)
		snprintf(cred_path, sizeof(cred_path), "%s/.aws/credentials", home ? home : "");
	p = env("AWS_CONFIG_FILE");
	snprintf(conf_path, sizeof(conf_path), "%s", p ? p : "");
	if (!p)
		snprintf(conf_path, sizeof(conf_path), "%s/.aws/config", home ? home : "");

	cw.section = profile;
	rc = ini_read(cred_path, &cw, &found1);
	if (rc)
		goto out;
	snprintf(section, sizeof(section), "profile %s", profile);
	fw.section = section;
	fw.alt = strcmp(profile, "default") == 0 ? "default" : NULL;
	/* The config file may also hold credentials. */
	cw.section = section;
	cw.alt = fw.alt;
	rc = ini_read(conf_path, &cw, &found2);
	if (rc)
		goto out;
	rc = ini_read(conf_path, &fw, &found2);
	if (rc)
		goto out;
	if (explicit_profile && !found1 && !found2) {
		rc = mps3_error_set(-ENOENT, "profile \"%s\" not found in %s or %s", profile,
				    cred_path, conf_path);
		goto out;
	}
	if (cw.values[0] && cw.values[1]) {
		rc = set(&cfg->access_key, cw.values[0]);
		if (!rc)
			rc = set_secret(&cfg->secret_key, cw.values[1]);
		if (!rc)
			rc = set_secret(&cfg->session_token, cw.values[2]);
	}
	if (!rc)
		rc = set(&cfg->region, fw.values[0]);
	if (!rc)
		rc = set(&cfg->endpoint, fw.values[1]);
	if (!rc)
		rc = set(&cfg->ca_bundle, fw.values[2]);
out:
	want_dispose(&cw);
	want_dispose(&fw);
	return rc;
}

static int from_env(struct mps3_s3_config *cfg)
{
	int rc = 0;

	if (env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY") && !cfg->access_key) {
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

int mps3_creds_load(struct mps3_s3_config *cfg, const struct mps3_creds_opts *opts)
{
	const char *home = opts && opts->home ? opts->home : getenv("HOME");
	const char *profile = opts && opts->profile ? opts->profile : env("AWS_PROFILE");
	int explicit_profile = opts && opts->profile;
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
	if (!rc && !explicit_profile)
		rc = from_profile(cfg, home, profile ? profile : "default", profile != NULL);
	if (rc)
		return rc;
	if (!cfg->access_key || !cfg->secret_key)
		return mps3_error_set(-ENOENT,
				      "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
				      "use a profile in ~/.aws/credentials, or a passwd file");
	return 0;
}
