/*
 * s3/creds_fetch.c - fetching keys from each kind of credential source over
 * HTTP: the container endpoint, EC2 instance metadata (IMDSv2: a session
 * token first), STS (a form POSTed, signed with SigV4 for AssumeRole) and
 * the IAM Identity Center portal (a credential_process is s3/creds_process.c).
 * One exchange per call, no retries (the S3 client's loop has them), no
 * redirects followed, replies bounded; every buffer that held a secret is
 * wiped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "mps3/buf.h"
#include "mps3/error.h"
#include "mps3/hash.h"
#include "mps3/json.h"
#include "mps3/sigv4.h"
#include "mps3/timefmt.h"
#include "mps3/uri.h"
#include "mps3/xml.h"
#include "provider.h"

/* No credential document is anywhere near this big. */
#define DOC_LIMIT (64u << 10)
#define IMDS_TIMEOUT_MS 2000
#define HTTP_TIMEOUT_MS 10000

/* ---- one small HTTP exchange (no retries: the caller's loop has them) ---- */

struct http_out {
	long status;
	struct mps3_buf body;	/* capped at DOC_LIMIT */
	int too_big;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct http_out *o = ctx;
	size_t n = size * nmemb;

	if (o->body.len + n > DOC_LIMIT) {
		o->too_big = 1;
		return 0;
	}
	return mps3_buf_append(&o->body, p, n) ? 0 : n;
}

/*
 * method url, with header lines and a body; 0 with out->status set (any
 * status), or -errno with detail when nothing came back.  No redirects are
 * followed: a credential endpoint that moves is not one to trust.
 */
static int http(const struct mps3_creds *c, const char *method, const char *url, const char *const *hdrs,
		const char *body, long timeout_ms, struct http_out *out)
{
	struct curl_slist *list = NULL, *l;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	CURL *h;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	mps3_buf_init(&out->body, 0);
	/* The whole room at once: a realloc would leave a copy of the keys behind, unwiped. */
	h = mps3_buf_reserve(&out->body, DOC_LIMIT + 1) == 0 ? curl_easy_init() : NULL;
	if (!h) {
		mps3_buf_dispose(&out->body);
		return -ENOMEM;
	}
	for (; hdrs && *hdrs; hdrs++) {
		l = curl_slist_append(list, *hdrs);
		if (!l) {
			rc = -ENOMEM;
			goto out;
		}
		list = l;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 1000 ? timeout_ms : 1000L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
	/* No proxy from the environment: metadata endpoints are link-local. */
	if (c->kind == K_IMDS || c->kind == K_CONTAINER)
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	if (c->spec.ca_bundle)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->spec.ca_bundle);
	if (c->spec.insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (strcmp(method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		if (!body) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
		}
	}
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		rc = mps3_error_set(out->too_big ? -EPROTO : cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO,
				    "%s", out->too_big ? "reply too big" : errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
out:
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(list);
	curl_easy_cleanup(h);
	if (rc)
		mps3_creds_wipe_buf(&out->body);
	return rc;
}

/* ---- the JSON documents: credential_process, container, IMDS ---- */

void mps3_creds_keys_dispose(struct creds_keys *k)
{
	free(k->ak);
	mps3_creds_wipe_free(k->sk);
	mps3_creds_wipe_free(k->tok);
	memset(k, 0, sizeof(*k));
}

static const char *jstr(json_t *o, const char *name)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s && *s ? s : NULL;
}

/*
 * {"AccessKeyId", "SecretAccessKey", token_field, "Expiration"}; an absent
 * Expiration is allowed only where the source allows it (need_exp 0).
 */
static int keys_from_json(struct creds_keys *k, const struct mps3_buf *doc, const char *token_field, int need_exp)
{
	int rc = 0;
	json_t *o = mps3_json_loadb(doc->data, doc->len, JSON_REJECT_DUPLICATES, NULL, &rc), *ver;
	const char *ak, *sk, *tok, *exp, *code;

	memset(k, 0, sizeof(*k));
	if (rc == -ENOMEM)
		return mps3_error_set(rc, "out of memory reading the reply");
	rc = 0;
	if (!json_is_object(o)) {
		json_decref(o);
		return mps3_error_set(-EPROTO, "the reply is not a JSON object");
	}
	/* credential_process's output says its version (the AWS CLI's format); the services' replies do not. */
	ver = json_object_get(o, "Version");
	if (strcmp(token_field, "SessionToken") == 0 && (!json_is_integer(ver) || json_integer_value(ver) != 1)) {
		rc = mps3_error_set(-EPROTO, "its output has no \"Version\": 1 (see the AWS CLI's credential_process "
					     "documentation)");
		goto out;
	}
	code = jstr(o, "Code");
	if (code && strcmp(code, "Success") != 0) {
		rc = mps3_error_set(-EACCES, "the reply says Code \"%.64s\"", code);
		goto out;
	}
	ak = jstr(o, "AccessKeyId");
	sk = jstr(o, "SecretAccessKey");
	tok = jstr(o, token_field);
	exp = jstr(o, "Expiration");
	if (!ak || !sk) {
		rc = mps3_error_set(-EPROTO, "the reply has no AccessKeyId and SecretAccessKey");
		goto out;
	}
	k->expires_ms = INT64_MAX;
	if (exp && mps3_time_parse_iso8601(&k->expires_ms, exp, strlen(exp))) {
		rc = mps3_error_set(-EPROTO, "the reply's Expiration \"%.40s\" is not an ISO 8601 time", exp);
		goto out;
	}
	if (!exp && need_exp) {
		rc = mps3_error_set(-EPROTO, "the reply has no Expiration");
		goto out;
	}
	k->ak = strdup(ak);
	k->sk = strdup(sk);
	k->tok = tok ? strdup(tok) : NULL;
	if (!k->ak || !k->sk || (tok && !k->tok))
		rc = -ENOMEM;
out:
	json_decref(o);
	if (rc)
		mps3_creds_keys_dispose(k);
	return rc;
}

/* The same with every block jansson frees meanwhile wiped: its copies of the secrets, parsed or not. */
int mps3_creds_keys_from_json(struct creds_keys *k, const struct mps3_buf *doc, const char *token_field,
			       int need_exp)
{
	int was = mps3_json_wipe_frees(1), rc = keys_from_json(k, doc, token_field, need_exp);

	mps3_json_wipe_frees(was);
	return rc;
}

/* ---- the container endpoint ---- */

static int read_small_file(const char *path, char **out)
{
	char buf[16384];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	*out = NULL;
	if (fd < 0)
		return mps3_error_set(-errno, "cannot read %s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		rc = mps3_error_set(-errno, "cannot read %s: %s", path, strerror(errno));
	else if ((size_t)n == sizeof(buf) - 1)
		rc = mps3_error_set(-EPROTO, "%s is too big for a token", path);
	close(fd);
	if (!rc) {
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
			n--;
		buf[n] = '\0';
		if (n == 0)
			rc = mps3_error_set(-EPROTO, "%s is empty", path);
		else if (!(*out = strdup(buf)))
			rc = -ENOMEM;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

static int status_error(const char *what, const struct http_out *o)
{
	return mps3_error_set(o->status == 401 || o->status == 403 ? -EACCES : o->status == 404 ? -ENOENT : -EIO,
			      "%s: HTTP %ld", what, o->status);
}

static int fetch_container(struct mps3_creds *c, struct creds_keys *k)
{
	struct http_out o;
	char *token = NULL, *line = NULL;
	const char *hdrs[2] = { NULL, NULL };
	int rc = 0;

	if (c->spec.auth_token_file)
		rc = read_small_file(c->spec.auth_token_file, &token);
	else if (c->spec.auth_token && !(token = strdup(c->spec.auth_token)))
		rc = -ENOMEM;
	if (rc)
		return rc;
	if (token) {
		if (strpbrk(token, "\r\n")) {
			mps3_creds_wipe_free(token);
			return mps3_error_set(-EPROTO, "the authorization token holds a line break");
		}
		if (asprintf(&line, "Authorization: %s", token) < 0) {
			mps3_creds_wipe_free(token);
			return -ENOMEM;
		}
		hdrs[0] = line;
	}
	rc = http(c, "GET", c->spec.url, hdrs, NULL, HTTP_TIMEOUT_MS, &o);
	mps3_creds_wipe_free(token);
	mps3_creds_wipe_free(line);
	if (rc)
		return rc;
	if (o.status != 200)
		rc = status_error(c->spec.url, &o);
	else
		rc = mps3_creds_keys_from_json(k, &o.body, "Token", 0);
	mps3_creds_wipe_buf(&o.body);
	return rc;
}

/* ---- EC2 instance metadata, version 2 ---- */

static int imds_get(struct mps3_creds *c, const char *path, const char *token, struct http_out *o)
{
	char url[1024], hdr[600];
	const char *hdrs[] = { hdr, NULL };
	int rc;

	snprintf(url, sizeof(url), "%s%s", c->spec.endpoint, path);
	snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", token);
	rc = http(c, "GET", url, hdrs, NULL, IMDS_TIMEOUT_MS, o);
	OPENSSL_cleanse(hdr, sizeof(hdr));
	if (!rc && o->status != 200) {
		rc = status_error(path, o);
		mps3_creds_wipe_buf(&o->body);
	}
	return rc;
}

/* The session token of IMDSv2, into tok (room for 512 bytes). */
static int imds_token(struct mps3_creds *c, char tok[512])
{
	static const char *const hdrs[] = { "X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL };
	struct http_out o;
	char url[1024];
	int rc;

	snprintf(url, sizeof(url), "%s/latest/api/token", c->spec.endpoint);
	rc = http(c, "PUT", url, hdrs, NULL, IMDS_TIMEOUT_MS, &o);
	if (rc)
		return rc;
	if (o.status != 200)
		rc = status_error("PUT /latest/api/token", &o);
	else if (o.body.len == 0 || o.body.len >= 512 || memchr(o.body.data, '\n', o.body.len) ||
		 memchr(o.body.data, '\r', o.body.len))
		rc = mps3_error_set(-EPROTO, "PUT /latest/api/token: not a token");
	else {
		memcpy(tok, o.body.data, o.body.len);
		tok[o.body.len] = '\0';
	}
	mps3_creds_wipe_buf(&o.body);
	return rc;
}

static int fetch_imds(struct mps3_creds *c, struct creds_keys *k)
{
	static const char base[] = "/latest/meta-data/iam/security-credentials/";
	char tok[512], path[512], role[256];
	struct http_out o;
	size_t n;
	int rc;

	rc = imds_token(c, tok);
	if (rc)
		return rc;
	rc = imds_get(c, base, tok, &o);
	if (rc)
		goto out;
	/* The first line names the instance profile's role. */
	for (n = 0; n < o.body.len && n < sizeof(role) - 1 && o.body.data[n] != '\n' && o.body.data[n] != '\r'; n++)
		role[n] = o.body.data[n];
	role[n] = '\0';
	mps3_creds_wipe_buf(&o.body);
	if (n == 0 || strspn(role, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-") != n) {
		rc = mps3_error_set(-ENOENT, "no IAM role attached to this instance");
		goto out;
	}
	snprintf(path, sizeof(path), "%s%s", base, role);
	rc = imds_get(c, path, tok, &o);
	if (rc)
		goto out;
	rc = mps3_creds_keys_from_json(k, &o.body, "Token", 1);
	mps3_creds_wipe_buf(&o.body);
out:
	OPENSSL_cleanse(tok, sizeof(tok));
	return rc;
}

int mps3_imds_region(const char *endpoint, char *out, size_t cap)
{
	struct mps3_creds c;
	struct http_out o;
	char tok[512];
	size_t n;
	int rc;

	memset(&c, 0, sizeof(c));
	c.kind = K_IMDS;
	c.spec.endpoint = (char *)endpoint;
	rc = imds_token(&c, tok);
	if (rc)
		return rc;
	rc = imds_get(&c, "/latest/meta-data/placement/region", tok, &o);
	OPENSSL_cleanse(tok, sizeof(tok));
	if (rc)
		return rc;
	n = o.body.len;
	if (n == 0 || n >= cap || n > 64 || strspn(o.body.data, "abcdefghijklmnopqrstuvwxyz0123456789-") < n)
		rc = mps3_error_set(-EPROTO, "instance metadata: not a region");
	else {
		memcpy(out, o.body.data, n);
		out[n] = '\0';
	}
	mps3_buf_dispose(&o.body);
	return rc;
}

/* ---- STS ---- */

static int form_add(struct mps3_buf *b, const char *name, const char *value)
{
	int rc = mps3_buf_printf(b, "%s%s=", b->len ? "&" : "", name);

	return rc ? rc : mps3_uri_encode(b, value, strlen(value), 0);
}

static const char *sts_session_name(const struct mps3_creds *c, char buf[64])
{
	if (c->spec.session_name)
		return c->spec.session_name;
	snprintf(buf, 64, "mps3-%" PRId64, mps3_creds_now_ms() / 1000);
	return buf;
}

/* The STS endpoint: given, else the region's. */
static int sts_url(const struct mps3_creds *c, struct mps3_buf *url, struct mps3_buf *host)
{
	const char *region = c->spec.region ? c->spec.region : "us-east-1";
	const char *h;
	int rc;

	if (c->spec.endpoint)
		rc = mps3_buf_printf(url, "%s/", c->spec.endpoint);
	else
		rc = mps3_buf_printf(url, "https://sts.%s.amazonaws.com/", region);
	if (rc)
		return rc;
	h = strstr(url->data, "://");
	h = h ? h + 3 : url->data;
	return mps3_buf_append(host, h, strcspn(h, "/"));
}

/* POST the form to STS, signed with src when given; the reply's credentials. */
static int sts_call(struct mps3_creds *c, const struct mps3_buf *form, const struct creds_keys *src,
		    struct creds_keys *k)
{
	struct mps3_buf url = MPS3_BUF_INIT, host = MPS3_BUF_INIT, auth = MPS3_BUF_INIT, tokhdr = MPS3_BUF_INIT;
	struct mps3_sigv4_output sig;
	struct mps3_sts_credentials sc;
	struct mps3_s3_error err;
	char amz_date[17], phash[MPS3_SHA256_HEX_LEN + 1], datehdr[40], hashhdr[100];
	const char *hdrs[6];
	struct http_out o;
	size_t nh = 0;
	int rc;

	mps3_sigv4_output_init(&sig);
	rc = sts_url(c, &url, &host);
	if (rc)
		goto out;
	hdrs[nh++] = "Content-Type: application/x-www-form-urlencoded; charset=utf-8";
	if (src) {
		struct mps3_kv sh[5];
		struct mps3_sigv4_input in;
		size_t n = 0;

		mps3_time_format_amz(amz_date, mps3_creds_now_ms());
		mps3_sha256_hex(phash, form->data, form->len);
		sh[n++] = (struct mps3_kv){ "content-type", "application/x-www-form-urlencoded; charset=utf-8" };
		sh[n++] = (struct mps3_kv){ "host", host.data };
		sh[n++] = (struct mps3_kv){ "x-amz-content-sha256", phash };
		sh[n++] = (struct mps3_kv){ "x-amz-date", amz_date };
		if (src->tok)
			sh[n++] = (struct mps3_kv){ "x-amz-security-token", src->tok };
		memset(&in, 0, sizeof(in));
		in.method = "POST";
		in.path = "/";
		in.headers = sh;
		in.nheaders = n;
		in.payload_hash = phash;
		in.amz_date = amz_date;
		in.region = c->spec.region ? c->spec.region : "us-east-1";
		in.service = "sts";
		in.access_key = src->ak;
		in.secret_key = src->sk;
		rc = mps3_sigv4_sign(&sig, &in);
		if (!rc)
			rc = mps3_buf_printf(&auth, "Authorization: %s", mps3_buf_cstr(&sig.authorization));
		if (!rc && src->tok)
			rc = mps3_buf_printf(&tokhdr, "X-Amz-Security-Token: %s", src->tok);
		if (rc)
			goto out;
		snprintf(datehdr, sizeof(datehdr), "X-Amz-Date: %s", amz_date);
		snprintf(hashhdr, sizeof(hashhdr), "X-Amz-Content-Sha256: %s", phash);
		hdrs[nh++] = datehdr;
		hdrs[nh++] = hashhdr;
		hdrs[nh++] = auth.data;
		if (src->tok)
			hdrs[nh++] = tokhdr.data;
	}
	hdrs[nh] = NULL;
	rc = http(c, "POST", url.data, hdrs, form->data, HTTP_TIMEOUT_MS, &o);
	if (rc)
		goto out;
	rc = mps3_xml_parse_sts(&sc, &err, o.body.data, o.body.len);
	if (rc == -EIO)
		rc = mps3_error_set(o.status == 403 || strstr(err.code, "AccessDenied") ? -EACCES : -EIO,
				    "STS: HTTP %ld %s: %s", o.status, err.code, err.message);
	else if (rc)
		rc = o.status == 200 ? mps3_error_set(rc, "STS: the reply is not a credentials document")
				     : status_error("STS", &o);
	if (!rc) {
		k->ak = sc.access_key;
		k->sk = sc.secret_key;
		k->tok = sc.session_token;
		k->expires_ms = sc.expires_ms;
	}
	mps3_creds_wipe_buf(&o.body);
out:
	mps3_sigv4_output_dispose(&sig);
	mps3_buf_dispose(&url);
	mps3_buf_dispose(&host);
	mps3_creds_wipe_buf(&auth);
	mps3_creds_wipe_buf(&tokhdr);
	return rc;
}

/* The fields both STS actions start with. */
static int sts_form(const struct mps3_creds *c, struct mps3_buf *form, const char *action)
{
	char sn[64];
	int rc = form_add(form, "Action", action);

	if (!rc)
		rc = form_add(form, "Version", "2011-06-15");
	if (!rc)
		rc = form_add(form, "RoleArn", c->spec.role_arn);
	if (!rc)
		rc = form_add(form, "RoleSessionName", sts_session_name(c, sn));
	return rc;
}

static int fetch_web_identity(struct mps3_creds *c, struct creds_keys *k)
{
	struct mps3_buf form = MPS3_BUF_INIT;
	char *token = NULL;
	int rc;

	/* Read each time: the platform rotates the token in place. */
	rc = read_small_file(c->spec.token_file, &token);
	if (!rc)
		rc = sts_form(c, &form, "AssumeRoleWithWebIdentity");
	if (!rc)
		rc = form_add(&form, "WebIdentityToken", token);
	if (!rc)
		rc = sts_call(c, &form, NULL, k);
	mps3_creds_wipe_free(token);
	mps3_creds_wipe_buf(&form);
	return rc;
}

static int fetch_assume_role(struct mps3_creds *c, struct creds_keys *k)
{
	struct mps3_buf form = MPS3_BUF_INIT;
	struct mps3_creds_value v;
	struct creds_keys src;
	char dur[16];
	int rc;

	memset(&src, 0, sizeof(src));
	memset(&v, 0, sizeof(v));
	if (c->source) {
		rc = mps3_creds_current(c->source, &v);
		if (rc)
			return rc;
		src.ak = v.access_key;
		src.sk = v.secret_key;
		src.tok = v.session_token;
	} else {
		src.ak = c->spec.access_key;
		src.sk = c->spec.secret_key;
		src.tok = c->spec.session_token;
	}
	rc = sts_form(c, &form, "AssumeRole");
	if (!rc && c->spec.external_id)
		rc = form_add(&form, "ExternalId", c->spec.external_id);
	if (!rc && c->spec.duration_s) {
		snprintf(dur, sizeof(dur), "%d", c->spec.duration_s);
		rc = form_add(&form, "DurationSeconds", dur);
	}
	if (!rc)
		rc = sts_call(c, &form, &src, k);
	mps3_creds_wipe_buf(&form);
	mps3_creds_value_dispose(&v);
	return rc;
}

/* ---- IAM Identity Center (SSO): the token `aws sso login` cached, traded at the portal ---- */

static int fetch_sso_keys(struct mps3_creds *c, struct creds_keys *k)
{
	struct mps3_buf url = MPS3_BUF_INIT, hdr = MPS3_BUF_INIT;
	const char *hdrs[2] = { NULL, NULL }, *tok, *exp;
	char *cache = NULL;
	json_t *o = NULL, *rc_json, *v;
	struct http_out out;
	int64_t exp_ms = 0;
	int rc;

	memset(k, 0, sizeof(*k));
	rc = read_small_file(c->spec.sso_cache_file, &cache);
	if (rc)
		return mps3_error_wrap(rc, "no SSO session (run: aws sso login%s%s)", c->spec.profile ? " --profile " : "",
				       c->spec.profile ? c->spec.profile : "");
	o = mps3_json_loadb(cache, strlen(cache), 0, NULL, &rc);
	mps3_creds_wipe_free(cache);
	if (rc == -ENOMEM) {
		mps3_error_set(rc, "out of memory reading the SSO token cache");
		goto out;
	}
	rc = 0;
	tok = jstr(o, "accessToken");
	exp = jstr(o, "expiresAt");
	if (!tok || !exp || mps3_time_parse_iso8601(&exp_ms, exp, strlen(exp))) {
		rc = mps3_error_set(-EPROTO, "%s is not an SSO token cache", c->spec.sso_cache_file);
		goto out;
	}
	if (exp_ms <= mps3_creds_now_ms()) {
		rc = mps3_error_set(-EACCES, "the SSO session has expired (run: aws sso login%s%s)",
				    c->spec.profile ? " --profile " : "", c->spec.profile ? c->spec.profile : "");
		goto out;
	}
	if (c->spec.endpoint)
		rc = mps3_buf_printf(&url, "%s/federation/credentials?account_id=", c->spec.endpoint);
	else
		rc = mps3_buf_printf(&url, "https://portal.sso.%s.amazonaws.com/federation/credentials?account_id=",
				     c->spec.region ? c->spec.region : "us-east-1");
	if (!rc)
		rc = mps3_uri_encode(&url, c->spec.sso_account_id, strlen(c->spec.sso_account_id), 0);
	if (!rc)
		rc = mps3_buf_puts(&url, "&role_name=");
	if (!rc)
		rc = mps3_uri_encode(&url, c->spec.sso_role_name, strlen(c->spec.sso_role_name), 0);
	if (!rc && strpbrk(tok, "\r\n"))
		rc = mps3_error_set(-EPROTO, "the SSO token holds a line break");
	if (!rc)
		rc = mps3_buf_printf(&hdr, "x-amz-sso_bearer_token: %s", tok);
	if (rc)
		goto out;
	hdrs[0] = hdr.data;
	rc = http(c, "GET", url.data, hdrs, NULL, HTTP_TIMEOUT_MS, &out);
	if (rc)
		goto out;
	json_decref(o);
	o = NULL;
	if (out.status != 200) {
		rc = status_error("GetRoleCredentials", &out);
	} else {
		o = mps3_json_loadb(out.body.data, out.body.len, 0, NULL, &rc);
		rc_json = json_object_get(o, "roleCredentials");
		v = json_object_get(rc_json, "expiration");
		if (rc == -ENOMEM) {
			mps3_error_set(rc, "GetRoleCredentials: out of memory reading the reply");
		} else if (!json_is_object(rc_json) || !jstr(rc_json, "accessKeyId") || !jstr(rc_json, "secretAccessKey") ||
		    !json_is_integer(v)) {
			rc = mps3_error_set(-EPROTO, "GetRoleCredentials: the reply has no roleCredentials");
		} else {
			rc = 0;
			k->ak = strdup(jstr(rc_json, "accessKeyId"));
			k->sk = strdup(jstr(rc_json, "secretAccessKey"));
			k->tok = jstr(rc_json, "sessionToken") ? strdup(jstr(rc_json, "sessionToken")) : NULL;
			k->expires_ms = json_integer_value(v);
			if (!k->ak || !k->sk || (jstr(rc_json, "sessionToken") && !k->tok))
				rc = -ENOMEM;
		}
	}
	mps3_creds_wipe_buf(&out.body);
out:
	json_decref(o);
	mps3_buf_dispose(&url);
	mps3_creds_wipe_buf(&hdr);
	if (rc)
		mps3_creds_keys_dispose(k);
	return rc;
}

/* The same with every block jansson frees meanwhile wiped: the token and the secrets it parsed. */
static int fetch_sso(struct mps3_creds *c, struct creds_keys *k)
{
	int was = mps3_json_wipe_frees(1), rc = fetch_sso_keys(c, k);

	mps3_json_wipe_frees(was);
	return rc;
}

/* ---- by kind ---- */

int mps3_creds_fetch(struct mps3_creds *c, struct creds_keys *k)
{
	switch (c->kind) {
	case K_PROCESS:
		return mps3_creds_fetch_process(c, k);
	case K_CONTAINER:
		return fetch_container(c, k);
	case K_IMDS:
		return fetch_imds(c, k);
	case K_WEB_IDENTITY:
		return fetch_web_identity(c, k);
	case K_ASSUME_ROLE:
		return fetch_assume_role(c, k);
	case K_SSO:
		return fetch_sso(c, k);
	}
	return -EINVAL;
}
