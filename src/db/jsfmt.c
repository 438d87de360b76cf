/*
 * db/jsfmt.c - entry names and value documents of the MPS3 JavaScript
 * client (mps3/jsfmt.h; the facts in docs/MPS3-JS-FORMAT.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mps3/base64.h"
#include "mps3/error.h"
#include "mps3/jsfmt.h"
#include "mps3/json.h"
#include "mps3/keys.h"
#include "mps3/mergepatch.h"

static const char digits32[] = "0123456789abcdefghijklmnopqrstuv";

/* n in base 32, left-padded with '0' to width (n must fit). */
static void base32(char *out, uint64_t n, int width)
{
	int i;

	for (i = width - 1; i >= 0; i--) {
		out[i] = digits32[n % 32];
		n /= 32;
	}
	out[width] = '\0';
}

int mps3_js_time_code(char out[10], int64_t ms)
{
	if (ms < 0 || ms > MPS3_JS_TIME_MAX)
		return mps3_error_set(-ERANGE, "time %lld ms is outside the 42 bits of an MPS3 entry name",
				      (long long)ms);
	base32(out, (uint64_t)(MPS3_JS_TIME_MAX - ms), 9);
	return 0;
}

static int is_name_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

int mps3_js_entry_name(char **out, const char *manifest, int64_t ms,
		       const char *session, unsigned counter)
{
	char t[10], c[3];
	size_t i, n = strlen(session);
	int rc;

	*out = NULL;
	if (n < 1 || n > 32)
		return mps3_error_set(-EINVAL, "an MPS3 session is 1 to 32 characters");
	for (i = 0; i < n; i++)
		if (!is_name_char(session[i]))
			return mps3_error_set(-EINVAL, "an MPS3 session is made of 0-9 and a-z");
	if (counter > MPS3_JS_COUNTER_MAX)
		return mps3_error_set(-ERANGE, "session %s has written %u entries, the most a name can count",
				      session, MPS3_JS_COUNTER_MAX + 1);
	rc = mps3_js_time_code(t, ms);
	if (rc)
		return rc;
	base32(c, MPS3_JS_COUNTER_MAX - counter, 2);
	if (asprintf(out, "%s@%s_%s_%s", manifest, t, session, c) < 0) {
		*out = NULL;
		return mps3_error_set(-ENOMEM, "entry name");
	}
	return 0;
}

/* The value of a base-32 digit, or -1 (w-z are name characters but not digits). */
static int digit32(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'v')
		return c - 'a' + 10;
	return -1;
}

/* The name time of an entry name, or -1 when the client would not take it as one. */
static int64_t name_time(const char *name)
{
	size_t n = strlen(name), i, end;
	uint64_t v = 0;
	int d, any = 0;

	/* From the end, as the regex is anchored there: C, "_", S, "_", T, "@". */
	if (n < 2 || !is_name_char(name[n - 1]) || !is_name_char(name[n - 2]))
		return -1;
	i = n - 2;
	if (i == 0 || name[--i] != '_')
		return -1;
	end = i;
	while (i > 0 && is_name_char(name[i - 1]))
		i--;
	if (i == end || i == 0 || name[--i] != '_')
		return -1;
	end = i;
	while (i > 0 && is_name_char(name[i - 1]))
		i--;
	if (i == end || i == 0 || name[i - 1] != '@')
		return -1;
	/* parseInt(T, 32): the leading digits; none is NaN, which is never fresh. */
	for (; i < end && (d = digit32(name[i])) >= 0; i++) {
		v = v * 32 + (uint64_t)d;
		any = 1;
		if (v > (uint64_t)MPS3_JS_TIME_MAX)
			return -1;
	}
	return any ? MPS3_JS_TIME_MAX - (int64_t)v : -1;
}

int mps3_js_entry_time(const char *name, int64_t *ms)
{
	int64_t t = name_time(name);

	if (t < 0)
		return mps3_error_set(-EINVAL, "\"%s\" is not the name of an MPS3 entry", name);
	*ms = t;
	return 0;
}

int mps3_js_entry_fresh(int64_t name_ms, int64_t lastmod_ms)
{
	int64_t d = name_ms - lastmod_ms;

	return d > -MPS3_JS_LAG_MS && d < MPS3_JS_LAG_MS;
}

/* A listed entry's name time if it is a fresh entry, else -1. */
static int64_t fresh_time(const struct mps3_js_listed *e)
{
	int64_t t = name_time(e->name);

	return t >= 0 && mps3_js_entry_fresh(t, e->lastmod_ms) ? t : -1;
}

long mps3_js_plan(const char *manifest, const struct mps3_js_listed *v, size_t n,
		  size_t *apply, size_t *napply)
{
	char code[10], *gc_point = NULL;
	long newest = -1;
	int64_t ms, newest_ms = 0;
	size_t i;

	*napply = 0;
	for (i = 0; i < n && newest < 0; i++)
		if ((ms = fresh_time(&v[i])) >= 0) {
			newest = (long)i;
			newest_ms = ms;
		}
	if (newest < 0)
		return -ENOENT;
	/* The client's gcPoint: a name with no suffix, so an entry of its very time sorts after it. */
	(void)mps3_js_time_code(code, newest_ms > MPS3_JS_LAG_MS ? newest_ms - MPS3_JS_LAG_MS : 0);
	if (asprintf(&gc_point, "%s@%s", manifest, code) < 0)
		return mps3_error_set(-ENOMEM, "entry plan");
	for (i = n; i-- > (size_t)newest;) {
		if (fresh_time(&v[i]) < 0)
			continue;
		if (i == (size_t)newest || strcmp(v[i].name, v[newest].name) <= 0 ||
		    strcmp(v[i].name, gc_point) <= 0)
			apply[(*napply)++] = i;
	}
	free(gc_point);
	return newest;
}

static int absent_or_object(json_t *j)
{
	return !j || json_is_object(j);
}

int mps3_js_entry_parse(json_t **out, const char *doc, size_t n)
{
	json_error_t jerr;
	int err;
	json_t *j = mps3_json_loadb(doc, n, 0, &jerr, &err), *u;

	*out = NULL;
	if (err == -ENOMEM)
		return mps3_error_set(err, "out of memory reading an MPS3 entry");
	if (!j)
		return mps3_error_set(-EINVAL, "an MPS3 entry that is not a JSON object: %s", jerr.text);
	u = json_object_get(j, "update");
	if (!json_is_object(j) || !mps3_json_depth_within(j, MPS3_JS_MAX_DEPTH) ||
	    !absent_or_object(json_object_get(j, "files")) || !absent_or_object(u) || !absent_or_object(json_object_get(u, "files"))) {
		json_decref(j);
		return mps3_error_set(-EINVAL, "an MPS3 entry whose files or update is not an object, "
				      "or nested more than %d deep", MPS3_JS_MAX_DEPTH);
	}
	*out = j;
	return 0;
}

json_t *mps3_js_resolve(json_t *base, json_t *const *updates, size_t n, int *err)
{
	json_t *state = json_incref(base), *files;
	size_t i;

	*err = 0;
	for (i = 0; i < n; i++) {
		json_t *u = json_object_get(updates[i], "update"), *next;

		/* The client merges an absent update as no change. */
		if (!u)
			continue;
		next = mps3_merge_patch(state, u, err);
		json_decref(state);
		if (*err)
			return NULL;
		state = next;
	}
	files = json_object_get(state, "files");
	files = json_is_object(files) ? json_incref(files) : json_object();
	json_decref(state);
	if (!files)
		*err = -ENOMEM;
	return files;
}

int mps3_js_key_path(const char *key, const char *bucket, const char *prefix, const char **path)
{
	size_t bn = strlen(bucket), pn = strlen(prefix);
	const char *rest;

	*path = NULL;
	/* The client splits "BUCKET/KEY" at the first slash. */
	if (strncmp(key, bucket, bn) != 0 || key[bn] != '/')
		return -ENOENT;
	rest = key + bn + 1;
	if (pn) {
		if (strncmp(rest, prefix, pn) != 0 || rest[pn] != '/')
			return -ENOENT;
		rest += pn + 1;
	}
	if (mps3_path_check(rest))
		return -EINVAL;
	*path = rest;
	return 0;
}

const char *mps3_js_version(json_t *v)
{
	const char *s = json_string_value(json_object_get(v, "version"));

	size_t i, n = s ? strlen(s) : 0;

	/* It names an object (KEY@VERSION): UUIDs and S3 version ids, nothing that could reach a terminal. */
	if (n == 0 || n > 256)
		return NULL;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      strchr("._~+=-", s[i])))
			return NULL;
	return s;
}

/* {"$binary": "<string>"} and nothing else: the document the binary form takes. */
static const char *binary_form(json_t *j)
{
	json_t *b;

	if (!json_is_object(j) || json_object_size(j) != 1)
		return NULL;
	b = json_object_get(j, "$binary");
	return json_is_string(b) ? json_string_value(b) : NULL;
}

static int append_binary(struct mps3_buf *out, const void *p, size_t n)
{
	char *b64 = mps3_base64_encode(p, n);
	int rc;

	if (!b64)
		return mps3_error_set(-ENOMEM, "value");
	rc = mps3_buf_printf(out, "{\"$binary\":\"%s\"}", b64);
	free(b64);
	return rc;
}

int mps3_js_value_encode(struct mps3_buf *out, const void *p, size_t n)
{
	json_t *j;
	char *s;
	int rc;

	if (n > MPS3_JS_VALUE_MAX)
		return mps3_error_set(-EFBIG, "%zu bytes: MPS3 values are at most %zu MiB",
				      n, MPS3_JS_VALUE_MAX >> 20);
	/* An object or an array (jansson's default) is kept byte for byte. */
	j = mps3_json_loadb(p, n, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL, &rc);
	if (rc == -ENOMEM) /* not "not JSON": it would be kept as a string */
		return mps3_error_set(rc, "out of memory encoding a value");
	if (j) {
		int binary = binary_form(j) != NULL;

		json_decref(j);
		return binary ? append_binary(out, p, n) : mps3_buf_append(out, p, n);
	}
	/* json_stringn checks that the bytes are UTF-8 (NULs allowed). */
	j = json_stringn(p, n);
	if (!j)
		return append_binary(out, p, n);
	s = mps3_json_dumps(j, JSON_ENCODE_ANY);
	json_decref(j);
	if (!s)
		return mps3_error_set(-ENOMEM, "value");
	rc = mps3_buf_puts(out, s);
	free(s);
	return rc;
}

int mps3_js_value_decode(struct mps3_buf *out, const char *doc, size_t n)
{
	json_error_t jerr;
	int rc;
	json_t *j = mps3_json_loadb(doc, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr, &rc);
	const char *b64;

	if (rc == -ENOMEM)
		return mps3_error_set(rc, "out of memory decoding a value");
	if (!j)
		return mps3_error_set(-EINVAL, "an MPS3 value that is not JSON: %s", jerr.text);
	if (json_is_string(j)) {
		rc = mps3_buf_append(out, json_string_value(j), json_string_length(j));
	} else if ((b64 = binary_form(j))) {
		size_t len;
		unsigned char *bytes = mps3_base64_decode(b64, &len);

		if (bytes) {
			rc = mps3_buf_append(out, bytes, len);
			free(bytes);
		} else {
			rc = mps3_error_set(errno == ENOMEM ? -ENOMEM : -EINVAL,
					    "an MPS3 value whose $binary is not base64");
		}
	} else {
		rc = mps3_buf_append(out, doc, n);
	}
	json_decref(j);
	return rc;
}
