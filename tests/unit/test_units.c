/*
 * test_units.c - small modules without a unit test of their own: the
 * store clock (intersected offset bounds, a stepped clock), base64 (strict
 * decoding), the whole-buffer I/O helpers, the log file, randomness, and
 * the credential chain's order (options, environment, passwd file, profiles).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mps3/error.h"
#include "mps3/base64.h"
#include "mps3/buf.h"
#include "mps3/chunks.h"
#include "mps3/clock.h"
#include "mps3/io.h"
#include "mps3/log.h"
#include "mps3/rand.h"
#include "mps3/s3.h"
#include "tap.h"

static void test_clock(void)
{
	struct mps3_clock c;

	unsetenv("MPS3_CLOCK_SKEW_MS");
	mps3_clock_init(&c);
	tap_inteq(mps3_clock_offset(&c), 0, "clock: no reply yet, no offset");
	/* Sent at 1000, received at 1100 (local); the store stamped second 5000 (precision 1000). */
	mps3_clock_observe(&c, 1000, 1100, 5000, 1000);
	/* offset in [5000 - 1100, 6000 - 1000] = [3900, 5000] */
	tap_ok(mps3_clock_offset(&c) >= 3900 && mps3_clock_offset(&c) <= 5000, "clock: one reply bounds the offset");
	tap_inteq(mps3_clock_uncertainty(&c), 550, "clock: half the interval is the uncertainty");
	/* A second reply narrows it: stamped 5000 again, sent 1500 received 1600 -> [3400, 4500]. */
	mps3_clock_observe(&c, 1500, 1600, 5000, 1000);
	tap_ok(mps3_clock_uncertainty(&c) < 550, "clock: a second reply narrows the interval (%lld)",
	       (long long)mps3_clock_uncertainty(&c));
	/* Disjoint: the store's clock was stepped by an hour; the newest reply wins. */
	mps3_clock_observe(&c, 2000, 2100, 3605000, 1000);
	tap_ok(mps3_clock_offset(&c) > 3600000 - 3000, "clock: a stepped clock restarts from the newest reply");
	mps3_clock_observe(&c, 3000, 2000, 10, 1000);
	tap_ok(mps3_clock_offset(&c) > 3600000 - 3000, "clock: a reply received before it was sent is ignored");
	mps3_clock_dispose(&c);
	setenv("MPS3_CLOCK_SKEW_MS", "-3600000", 1);
	mps3_clock_init(&c);
	{
		struct mps3_clock d;
		int64_t a, b;

		unsetenv("MPS3_CLOCK_SKEW_MS");
		mps3_clock_init(&d);
		a = mps3_clock_local_ms(&c);
		b = mps3_clock_local_ms(&d);
		tap_ok(b - a >= 3600000 - 1000 && b - a <= 3600000 + 1000, "clock: MPS3_CLOCK_SKEW_MS shifts the local clock");
		mps3_clock_dispose(&d);
	}
	mps3_clock_dispose(&c);
}

static void test_base64(void)
{
	static const struct {
		const char *in, *out;
	} v[] = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		  { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } };
	static const char *bad[] = { "Zg=", "Zm9", "Z===", "Zm9v!A==", "Zm 9v", "====" };
	unsigned char *d;
	size_t i, n;
	char *e;

	/* RFC 4648 section 10. */
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		e = mps3_base64_encode(v[i].in, strlen(v[i].in));
		tap_streq(e, v[i].out, "base64: encode \"%s\"", v[i].in);
		free(e);
		d = mps3_base64_decode(v[i].out, &n);
		tap_ok(d && n == strlen(v[i].in) && memcmp(d, v[i].in, n) == 0, "base64: decode %s", v[i].out);
		free(d);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = mps3_base64_decode(bad[i], &n);
		tap_ok(!d && errno == EINVAL, "base64: \"%s\" is refused", bad[i]);
		free(d);
	}
	d = mps3_base64_decode("AP8Q", &n);
	tap_ok(d && n == 3 && d[0] == 0 && d[1] == 0xff && d[2] == 0x10, "base64: binary bytes");
	free(d);
}

static void test_io(void)
{
	char path[] = "/tmp/mps3-test-io-XXXXXX", buf[16];
	char dir[64];
	off_t in = 0, out = 0;
	int fd = mkstemp(path), fd2;
	struct stat st;

	tap_ok(fd >= 0 && mps3_write_all(fd, "hello world", 11) == 0, "io: write_all");
	tap_ok(mps3_pread_all(fd, buf, 5, 6) == 0 && memcmp(buf, "world", 5) == 0, "io: pread_all at an offset");
	tap_inteq(mps3_pread_all(fd, buf, 5, 8), -EIO, "io: pread_all past the end is -EIO, not a short read");
	tap_ok(mps3_pwrite_all(fd, "W", 1, 6) == 0 && mps3_pread_all(fd, buf, 11, 0) == 0 &&
		       memcmp(buf, "hello World", 11) == 0,
	       "io: pwrite_all");
	fd2 = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	tap_ok(fd2 >= 0 && mps3_copy_all(fd, &in, fd2, &out, 11) == 0 && in == 11 && out == 11 &&
		       mps3_pread_all(fd2, buf, 11, 0) == 0 && memcmp(buf, "hello World", 11) == 0,
	       "io: copy_all copies and advances both offsets");
	in = 5;
	tap_inteq(mps3_copy_all(fd, &in, fd2, &out, 100), -EIO, "io: copy_all of more than the source has is -EIO");
	close(fd2);
	close(fd);
	unlink(path);
	snprintf(dir, sizeof(dir), "%s.d/a/b", path);
	tap_ok(mps3_mkdir_p(dir, 0700) == 0 && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
		       mps3_mkdir_p(dir, 0700) == 0,
	       "io: mkdir_p makes every level, and again is fine");
	tap_ok(mps3_fsync_dir(dir) == 0, "io: fsync_dir");
	snprintf(dir, sizeof(dir), "rm -rf '%s.d'", path);
	if (system(dir) != 0)
		tap_diag("cleanup failed");
}

/* The log file: lines with the level's tag, the level filter, and logrotate's reopen. */
static void test_logfile(void)
{
	char dir[] = "/tmp/mps3-test-log-XXXXXX", path[64], rotated[64], buf[512], cmd[96];
	enum mps3_log_level level = MPS3_LOG_NOTICE;
	struct stat st;
	ssize_t n = 0;
	int fd;

	tap_ok(mps3_log_level_parse(&level, "warn") == 0 && level == MPS3_LOG_WARN &&
		       mps3_log_level_parse(&level, "debug") == 0 && level == MPS3_LOG_DEBUG &&
		       mps3_log_level_parse(&level, "loud") == -EINVAL && level == MPS3_LOG_DEBUG,
	       "log: level names, and an unknown one refused");
	tap_inteq(mps3_log_to_file("relative.log"), -EINVAL, "log: a relative path is refused");
	if (!mkdtemp(dir))
		return;
	snprintf(path, sizeof(path), "%s/log", dir);
	snprintf(rotated, sizeof(rotated), "%s/log.1", dir);
	mps3_log_set_stderr(0);
	tap_ok(mps3_log_to_file(path) == 0 && mps3_log_has_file(), "log: to a file");
	mps3_log_set_level(MPS3_LOG_WARN);
	mps3_warn("first %d", 1);
	mps3_info("filtered out");
	tap_ok(rename(path, rotated) == 0, "log: rotated away");
	mps3_log_reopen();
	mps3_err("second");
	mps3_log_set_level(MPS3_LOG_NOTICE);
	fd = open(rotated, O_RDONLY);
	if (fd >= 0)
		n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	tap_ok(strstr(buf, "warning: first 1\n") && !strstr(buf, "filtered") && !strstr(buf, "second"),
	       "log: the rotated file has the warning only");
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "log: reopened, the new file is created 0600");
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	tap_ok(strstr(buf, "error: second\n") != NULL && buf[4] == '-' && buf[23] == 'Z',
	       "log: the new file has the line after the reopen, with its time");
	mps3_log_set_stderr(1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cleanup failed");
}

static void test_rand(void)
{
	char a[17], b[17];

	tap_ok(mps3_random_hex(a, 8) == 0 && mps3_random_hex(b, 8) == 0 && strlen(a) == 16 && strcmp(a, b) != 0,
	       "rand: two random session ids differ");
	tap_ok(mps3_random_below(7) < 7 && mps3_random_below(0) == 0, "rand: random_below stays below its bound");
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(path, mode);
}

/* A config holding profile text; the named profile's credentials loaded into c. */
static int load_profile(struct mps3_s3_config *c, const char *home, const char *profile, const char *config)
{
	struct mps3_creds_opts o;
	char path[256];

	snprintf(path, sizeof(path), "%s/.aws/credentials", home);
	write_file(path, "", 0600);
	snprintf(path, sizeof(path), "%s/.aws/config", home);
	write_file(path, config, 0600);
	memset(&o, 0, sizeof(o));
	o.home = home;
	o.profile = profile;
	mps3_s3_config_init(c);
	return mps3_creds_load(c, &o);
}

/* Sources whose keys expire: credential_process (run for real), and what a profile may get wrong. */
static void test_creds_sources(const char *home)
{
	struct mps3_creds_value v;
	struct mps3_s3_config c;
	char text[1024];
	int rc;

	snprintf(text, sizeof(text),
		 "[profile p]\ncredential_process = printf '{\"Version\": 1, \"AccessKeyId\": \"AKPROC\", "
		 "\"SecretAccessKey\": \"SPROC\", \"SessionToken\": \"TPROC\", "
		 "\"Expiration\": \"2999-01-01T00:00:00Z\"}'\nregion = eu-north-1\n");
	rc = load_profile(&c, home, "p", text);
	tap_ok(rc == 0 && c.creds && !c.access_key && strcmp(c.region, "eu-north-1") == 0,
	       "creds: credential_process makes a source, and the profile's region is kept");
	memset(&v, 0, sizeof(v));
	rc = c.creds ? mps3_creds_current(c.creds, &v) : -1;
	tap_ok(rc == 0 && strcmp(v.access_key, "AKPROC") == 0 && strcmp(v.secret_key, "SPROC") == 0 &&
		       strcmp(v.session_token, "TPROC") == 0 && v.expires_ms > 900000000000000LL / 1000,
	       "creds: the process's keys, token and expiry");
	tap_ok(c.creds && strstr(mps3_creds_describe(c.creds), "credential_process of profile p") != NULL,
	       "creds: the source says what it is");
	mps3_creds_value_dispose(&v);
	mps3_s3_config_dispose(&c);

	rc = load_profile(&c, home, "p", "[profile p]\ncredential_process = echo oops >&2; exit 3\n");
	tap_ok(rc == -EACCES && strstr(mps3_error_last(rc), "exited with status 3"),
	       "creds: a credential_process that fails fails the load, with its status");
	mps3_s3_config_dispose(&c);
	rc = load_profile(&c, home, "p",
			  "[profile p]\ncredential_process = echo '{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}'\n");
	tap_ok(rc == -EACCES && strstr(mps3_error_last(rc), "Version"), "creds: output without Version 1 is refused");
	mps3_s3_config_dispose(&c);
	rc = load_profile(&c, home, "p",
			  "[profile p]\ncredential_process = echo '{\"Version\":1,\"AccessKeyId\":\"A\","
			  "\"SecretAccessKey\":\"S\",\"Expiration\":\"soon\"}'\n");
	tap_ok(rc == -EACCES && strstr(mps3_error_last(rc), "Expiration"), "creds: a malformed Expiration is refused");
	mps3_s3_config_dispose(&c);
	rc = load_profile(&c, home, "p",
			  "[profile p]\ncredential_process = printf '{\"Version\":1,\"AccessKeyId\":\"A\","
			  "\"SecretAccessKey\":\"S\",\"SessionToken\":\"T\\\\r\\\\nX-Injected: yes\"}'\n");
	tap_ok(rc == -EACCES && strstr(mps3_error_last(rc), "no header may carry"),
	       "creds: a token with a line break is refused, never sent as a header");
	mps3_s3_config_dispose(&c);
	rc = load_profile(&c, home, "p",
			  "[profile p]\ncredential_process = echo '{\"Version\":1,\"AccessKeyId\":\"A\","
			  "\"SecretAccessKey\":\"S\",\"Expiration\":\"2001-01-01T00:00:00Z\"}'\n");
	tap_ok(rc == -EACCES && strstr(mps3_error_last(rc), "expired already"), "creds: keys that arrive expired are refused");
	mps3_s3_config_dispose(&c);
	rc = load_profile(&c, home, "p", "[profile p]\nrole_arn = arn:aws:iam::1:role/r\n");
	tap_ok(rc == -EINVAL && strstr(mps3_error_last(rc), "source_profile"), "creds: role_arn alone says what it needs");
	mps3_s3_config_dispose(&c);
	rc = load_profile(&c, home, "p", "[profile p]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = q\n"
					 "[profile q]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = p\n");
	tap_inteq(rc, -ELOOP, "creds: a source_profile loop is found, not followed for ever");
	mps3_s3_config_dispose(&c);
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1", 1); /* refused at once: no network here */
	rc = load_profile(&c, home, "p", "[profile p]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = q\n"
					 "[profile q]\naws_access_key_id = AKQ\naws_secret_access_key = SQ\n");
	tap_ok(rc == -EACCES && strstr(mps3_error_last(rc), "STS AssumeRole of profile p"),
	       "creds: role_arn with a source_profile of keys asks STS (here nobody answers)");
	mps3_s3_config_dispose(&c);
	unsetenv("AWS_ENDPOINT_URL_STS");
	rc = load_profile(&c, home, "p", "[profile p]\nsso_start_url = https://x.awsapps.com/start\n");
	tap_ok(rc == -EINVAL && strstr(mps3_error_last(rc), "sso_account_id"), "creds: an SSO profile says what it lacks");
	mps3_s3_config_dispose(&c);
	rc = load_profile(&c, home, "p", "[profile p]\nsso_session = s\nsso_account_id = 1\nsso_role_name = r\n"
					 "[sso-session s]\nsso_region = eu-west-1\nsso_start_url = https://x\n");
	tap_ok(rc == -EACCES && strstr(mps3_error_last(rc), "aws sso login --profile p"),
	       "creds: SSO without a cached token says to log in");
	mps3_s3_config_dispose(&c);
	rc = load_profile(&c, home, "p", "[profile p]\nrole_arn = r\nsource_profile = p\nduration_seconds = 5\n");
	tap_inteq(rc, -EINVAL, "creds: duration_seconds out of STS's range is refused");
	mps3_s3_config_dispose(&c);
}

static void test_creds(void)
{
	char home[] = "/tmp/mps3-test-creds-XXXXXX", path[256];
	struct mps3_creds_opts o;
	struct mps3_s3_config c;
	int rc;

	if (!mkdtemp(home))
		return;
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1); /* no network in unit tests */
	memset(&o, 0, sizeof(o));
	o.home = home;
	mps3_s3_config_init(&c);
	tap_inteq(mps3_creds_load(&c, &o), -ENOENT, "creds: none anywhere is -ENOENT");
	mps3_s3_config_dispose(&c);

	snprintf(path, sizeof(path), "%s/.aws", home);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/.aws/credentials", home);
	write_file(path, "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = SDEF\n"
			 "[other]\naws_access_key_id=AKOTHER\naws_secret_access_key=SOTHER\n", 0600);
	snprintf(path, sizeof(path), "%s/.aws/config", home);
	write_file(path, "[default]\nregion = eu-west-1\n[profile other]\nregion = ap-south-1\n", 0600);
	mps3_s3_config_init(&c);
	rc = mps3_creds_load(&c, &o);
	tap_ok(rc == 0 && c.access_key && strcmp(c.access_key, "AKDEF") == 0 && c.region &&
		       strcmp(c.region, "eu-west-1") == 0,
	       "creds: the default profile, with its region from config");
	mps3_s3_config_dispose(&c);
	o.profile = "other";
	mps3_s3_config_init(&c);
	rc = mps3_creds_load(&c, &o);
	tap_ok(rc == 0 && strcmp(c.access_key, "AKOTHER") == 0 && strcmp(c.region, "ap-south-1") == 0,
	       "creds: a named profile ([profile NAME] in config)");
	mps3_s3_config_dispose(&c);
	o.profile = NULL;

	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SENV", 1);
	mps3_s3_config_init(&c);
	rc = mps3_creds_load(&c, &o);
	tap_ok(rc == 0 && strcmp(c.access_key, "AKENV") == 0, "creds: the environment before the profile");
	mps3_s3_config_dispose(&c);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");

	snprintf(path, sizeof(path), "%s/passwd", home);
	write_file(path, "AKANY:SANY\nmybucket:AKBUCKET:SBUCKET\n", 0644);
	o.passwd_file = path;
	o.bucket = "mybucket";
	mps3_s3_config_init(&c);
	tap_inteq(mps3_creds_load(&c, &o), -EACCES, "creds: a passwd file readable by others is refused");
	mps3_s3_config_dispose(&c);
	chmod(path, 0600);
	mps3_s3_config_init(&c);
	rc = mps3_creds_load(&c, &o);
	tap_ok(rc == 0 && strcmp(c.access_key, "AKBUCKET") == 0, "creds: the passwd file's line for the bucket");
	mps3_s3_config_dispose(&c);
	o.bucket = "another";
	mps3_s3_config_init(&c);
	rc = mps3_creds_load(&c, &o);
	tap_ok(rc == 0 && strcmp(c.access_key, "AKANY") == 0, "creds: else its line for any bucket");
	mps3_s3_config_dispose(&c);
	o.passwd_file = NULL;
	o.bucket = NULL;
	test_creds_sources(home);
	snprintf(path, sizeof(path), "rm -rf '%s'", home);
	if (system(path) != 0)
		tap_diag("cleanup failed");
}

static void test_chunks(void)
{
	uint64_t size = 2 * MPS3_CHUNK_SIZE + 12345;
	unsigned char *data = malloc(size), w1[MPS3_SHA256_LEN], w2[MPS3_SHA256_LEN], ws[MPS3_SHA256_LEN];
	struct mps3_buf l1 = MPS3_BUF_INIT, l2 = MPS3_BUF_INIT, small = MPS3_BUF_INIT;
	struct mps3_chunks c;
	char path[] = "/tmp/mps3-test-chunks-XXXXXX";
	uint64_t i;
	int fd = mkstemp(path);

	for (i = 0; i < size; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	tap_ok(mps3_chunks_hash_mem(w1, &l1, data, size) == 0 && l1.len > 0, "chunks: a list for content over a chunk");
	tap_ok(fd >= 0 && mps3_write_all(fd, "xx", 2) == 0 && mps3_write_all(fd, data, size) == 0 &&
		       mps3_chunks_hash_fd(w2, &l2, fd, 2, size) == 0 && memcmp(w1, w2, sizeof(w1)) == 0 &&
		       l1.len == l2.len && memcmp(l1.data, l2.data, l1.len) == 0,
	       "chunks: from a file at an offset, the same hash and list");
	{
		unsigned char whole[MPS3_SHA256_LEN];

		mps3_sha256(whole, data, size);
		tap_ok(memcmp(whole, w1, sizeof(whole)) == 0, "chunks: and the whole hash is the content's SHA-256");
	}
	{
		struct mps3_buf l3 = MPS3_BUF_INIT;
		unsigned char w3[MPS3_SHA256_LEN];
		struct mps3_chunker k;
		uint64_t off = 0, step = 777777;
		int rc = mps3_chunker_init(&k);

		/* Pieces that straddle chunk edges, as writes arrive. */
		while (!rc && off < size) {
			uint64_t n = size - off < step ? size - off : step;

			rc = mps3_chunker_feed(&k, data + off, (size_t)n);
			off += n;
			step = step * 3 % 5000011 + 1;
		}
		tap_ok(!rc && mps3_chunker_finish(&k, w3, &l3) == 0 && memcmp(w1, w3, sizeof(w1)) == 0 &&
			       l1.len == l3.len && memcmp(l1.data, l3.data, l1.len) == 0,
		       "chunks: fed in pieces as they come, the same hash and list");
		mps3_buf_dispose(&l3);
	}
	tap_ok(mps3_chunks_hash_mem(ws, &small, data, MPS3_CHUNK_SIZE) == 0 && small.len == 0,
	       "chunks: no list for content of one chunk");
	tap_ok(mps3_chunks_parse(&c, l1.data, l1.len, size) == 0 && c.n == 3 && mps3_chunks_len(&c, 2) == 12345,
	       "chunks: the list parses back: 3 chunks, the last one short");
	tap_ok(mps3_chunks_match(&c, 1, data + MPS3_CHUNK_SIZE, MPS3_CHUNK_SIZE), "chunks: a chunk matches");
	data[MPS3_CHUNK_SIZE + 7] ^= 1;
	tap_ok(!mps3_chunks_match(&c, 1, data + MPS3_CHUNK_SIZE, MPS3_CHUNK_SIZE), "chunks: a changed byte does not");
	tap_ok(!mps3_chunks_match(&c, 3, data, 1) && !mps3_chunks_match(&c, 2, data, 5), "chunks: nor a wrong index or length");
	mps3_chunks_dispose(&c);
	tap_inteq(mps3_chunks_parse(&c, l1.data, l1.len, size + 1), -EINVAL, "chunks: a list for another size is refused");
	tap_inteq(mps3_chunks_parse(&c, l1.data, l1.len - 1, size), -EINVAL, "chunks: a list cut short is refused");
	l1.data[40] = 'G';
	tap_inteq(mps3_chunks_parse(&c, l1.data, l1.len, size), -EINVAL, "chunks: a list with a bad digit is refused");
	tap_inteq(mps3_chunks_parse(&c, "mps3-chunks 1 1 5\n", 18, 5), -EINVAL, "chunks: a silly chunk size is refused");
	if (fd >= 0)
		close(fd);
	unlink(path);
	mps3_buf_dispose(&l1);
	mps3_buf_dispose(&l2);
	mps3_buf_dispose(&small);
	free(data);
}

static void test_escape(void)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "plain name", "plain name" },
		{ "naïve 日本", "naïve 日本" },
		{ "a\nb", "a\\nb" },
		{ "tab\there", "tab\\there" },
		{ "\x1b[31mred", "\\033[31mred" },
		{ "back\\slash", "back\\\\slash" },
		{ "del\x7f", "del\\177" },
		{ "c1\xc2\x9b" "2J", "c1\\302\\2332J" },
		{ "bad\xff", "bad\\377" },
		{ "x\xe2\x80\xaegnp.exe", "x\\342\\200\\256gnp.exe" },	/* U+202E RIGHT-TO-LEFT OVERRIDE */
		{ "\xe2\x81\xa6iso", "\\342\\201\\246iso" },		/* U+2066 LEFT-TO-RIGHT ISOLATE */
		{ "\xef\xbb\xbf" "bom", "\\357\\273\\277bom" },		/* U+FEFF, invisible */
		{ "\xe2\x80\x94" "dash", "\xe2\x80\x94" "dash" },		/* U+2014 is shown */
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *e = mps3_escape(v[i].in);

		tap_streq(e, v[i].out, "escape: %zu", i);
		free(e);
	}
}

int main(void)
{
	test_clock();
	test_escape();
	test_chunks();
	test_base64();
	test_io();
	test_logfile();
	test_rand();
	test_creds();
	return tap_done();
}
