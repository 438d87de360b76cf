/*
 * cli/common.c - what the two front ends share: malloc's arenas, durations,
 * opening a store with the S3 options (credentials, encryption, storage
 * class, who pays), the MPS3 client's names.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mps3/base64.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "common.h"

void mps3_cli_malloc_arenas(void)
{
	const char *t = getenv("GLIBC_TUNABLES");

	if (getenv("MALLOC_ARENA_MAX") || (t && strstr(t, "glibc.malloc.arena_max")))
		return;
	(void)mallopt(M_ARENA_MAX, 2);
}

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

int mps3_cli_size(uint64_t *out, const char *s)
{
	static const char units[] = "KMGT";
	const char *u = NULL;
	char *end;
	double v = strtod(s, &end), mult = 1;

	if (end == s || !(v >= 0) || !isfinite(v))
		return -EINVAL;
	if (*end >= 'a' && *end <= 'z')
		u = strchr(units, *end - 'a' + 'A');
	else if (*end >= 'A' && *end <= 'Z')
		u = strchr(units, *end);
	if (u) {
		mult = (double)(1ull << (10 * (u - units + 1)));
		end++;
	}
	if ((*end == 'i' || *end == 'I') && (end[1] == 'B' || end[1] == 'b'))
		end += 2;
	else if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v * mult > 1.8e19)
		return -EINVAL;
	*out = (uint64_t)(v * mult);
	return 0;
}

/* The SSE-C key: 32 bytes in the file, raw or as base64.  *key and *md5 are base64, malloc'd. */
static int load_sse_c_key(const char *path, char **key, char **md5)
{
	unsigned char raw[129], *dec = NULL, digest[16];
	const unsigned char *k = raw;
	struct stat st;
	size_t n = 0, dn = 0;
	ssize_t r;
	int fd, rc = 0;

	*key = *md5 = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mps3_error_set(-EINVAL, "SSE-C key file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && (st.st_mode & 077)) {
		close(fd);
		return mps3_error_set(-EINVAL, "SSE-C key file %s is accessible by group or others; chmod 600 it", path);
	}
	while (n < sizeof(raw) && (r = read(fd, raw + n, sizeof(raw) - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (n != 32) {
		char text[sizeof(raw) + 1];

		while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == '\r' || raw[n - 1] == ' '))
			n--;
		memcpy(text, raw, n);
		text[n] = '\0';
		dec = n < sizeof(raw) ? mps3_base64_decode(text, &dn) : NULL;
		explicit_bzero(text, sizeof(text));
		if (!dec || dn != 32) {
			rc = mps3_error_set(-EINVAL, "SSE-C key file %s: need a 256-bit key, as 32 bytes or in base64",
					    path);
			goto out;
		}
		k = dec;
	}
	mps3_md5(digest, k, 32);
	*key = mps3_base64_encode(k, 32);
	*md5 = mps3_base64_encode(digest, sizeof(digest));
	if (!*key || !*md5) {
		free(*key);
		free(*md5);
		*key = *md5 = NULL;
		rc = -ENOMEM;
	}
out:
	explicit_bzero(raw, sizeof(raw));
	if (dec) {
		explicit_bzero(dec, dn);
		free(dec);
	}
	return rc;
}

int mps3_cli_check_store_opts(const struct mps3_cli_store_opts *o)
{
	size_t i;

	if (o->sse && strcmp(o->sse, "AES256") != 0 && strcmp(o->sse, "aws:kms") != 0 && strcmp(o->sse, "C") != 0)
		return mps3_error_set(-EINVAL, "sse must be AES256 (SSE-S3), aws:kms (SSE-KMS) or C (SSE-C), not \"%s\"",
				      o->sse);
	if (o->sse_kms_key_id && (!o->sse || strcmp(o->sse, "aws:kms") != 0))
		return mps3_error_set(-EINVAL, "an SSE-KMS key id goes with sse aws:kms");
	if ((o->sse && strcmp(o->sse, "C") == 0) != (o->sse_c_key_file != NULL))
		return mps3_error_set(-EINVAL, "sse C and an SSE-C key file go together");
	if (o->storage_class) {
		for (i = 0; o->storage_class[i]; i++)
			if (!((o->storage_class[i] >= 'A' && o->storage_class[i] <= 'Z') || o->storage_class[i] == '_'))
				break;
		if (i == 0 || o->storage_class[i] || i > 32)
			return mps3_error_set(-EINVAL, "storage class \"%s\": use an S3 name such as STANDARD_IA, "
						       "INTELLIGENT_TIERING or GLACIER_IR", o->storage_class);
	}
	if (o->part_size && (o->part_size < (5ull << 20) || o->part_size > (5ull << 30)))
		return mps3_error_set(-EINVAL, "part size must be between 5M and 5G (S3's limits)");
	if (o->parallel > 64)
		return mps3_error_set(-EINVAL, "parallel must be 1 to 64");
	if (o->sse_c_key_file) {
		char *k, *m;
		int rc = load_sse_c_key(o->sse_c_key_file, &k, &m);

		if (rc)
			return rc;
		explicit_bzero(k, strlen(k));
		free(k);
		free(m);
	}
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
	rc = mps3_cli_check_store_opts(o);
	if (rc)
		goto out;
	cfg.requester_pays = o->requester_pays;
	cfg.part_size = o->part_size;
	cfg.part_parallel = o->parallel;
	if ((o->storage_class && !(cfg.storage_class = strdup(o->storage_class))) ||
	    (o->sse && strcmp(o->sse, "C") != 0 && !(cfg.sse = strdup(o->sse))) ||
	    (o->sse_kms_key_id && !(cfg.sse_kms_key_id = strdup(o->sse_kms_key_id)))) {
		rc = -ENOMEM;
		goto out;
	}
	if (o->sse_c_key_file) {
		rc = load_sse_c_key(o->sse_c_key_file, &cfg.sse_c_key, &cfg.sse_c_key_md5);
		if (rc)
			goto out;
	}
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
