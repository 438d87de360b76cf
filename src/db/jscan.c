/*
 * db/jscan.c - a JSON object document read without building its biggest
 * member (mps3/jscan.h).
 *
 * The scanner walks only the document's outer structure: the top object's
 * members and, for the big one, that object's members.  It finds where each
 * member's value ends (strings skipped, brackets counted) and hands the text
 * of each value to jansson, which checks it fully.  What jansson would also
 * check across the whole document is checked here: the structure between
 * values, duplicate keys of the top object, nothing after the end, and the
 * depth limit, since a value parsed alone starts shallower than it sits in
 * the document.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/error.h"
#include "mps3/jscan.h"
#include "mps3/json.h"
#include "mps3/manifest.h"

struct scan {
	const char *doc, *p, *end;
	char *key;		/* the last key read, decoded */
	size_t keycap;
};

static int bad(const struct scan *s, const char *at, const char *what)
{
	return mps3_error_set(-EINVAL, "invalid JSON at byte %zu: %s", (size_t)(at - s->doc), what);
}

/* jansson's verdict on the span at s->p: out of memory is not bad input. */
static int bad_json(const struct scan *s, int err, const json_error_t *jerr)
{
	if (err == -ENOMEM)
		return mps3_error_set(-ENOMEM, "out of memory parsing JSON at byte %zu", (size_t)(s->p - s->doc));
	return bad(s, s->p + jerr->position, jerr->text);
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && is_ws(*s->p))
		s->p++;
}

/* p at an opening quote: the byte after its closing quote, NULL if there is none. */
static const char *string_end(const char *p, const char *end)
{
	const char *q = p + 1;

	for (;;) {
		const char *b;

		q = memchr(q, '"', (size_t)(end - q));
		if (!q)
			return NULL;
		/* Escaped if an odd number of backslashes precede it. */
		for (b = q; b > p + 1 && b[-1] == '\\'; b--)
			;
		if ((q - b) % 2 == 0)
			return q + 1;
		q++;
	}
}

/*
 * The end of the value at s->p, which jansson would parse at depth `depth`
 * (the document itself is at 1, every value inside a container one deeper).
 * Only its extent is found: its text is checked by jansson afterwards.
 */
static int value_end(struct scan *s, int depth, const char **out)
{
	const char *p = s->p;
	int nest = 0;

	if (p == s->end)
		return bad(s, p, "a value was expected");
	if (*p == '"') {
		*out = string_end(p, s->end);
		return *out ? 0 : bad(s, p, "unterminated string");
	}
	if (*p != '{' && *p != '[') {
		while (p < s->end && !is_ws(*p) && !strchr(",:{}[]\"", *p))
			p++;
		if (p == s->p)
			return bad(s, p, "a value was expected");
		/*
		 * jansson reads one byte past a number or a literal and puts it
		 * back; a NUL put back is then skipped.  The value's text keeps
		 * that one NUL so that jansson skips it here too.
		 */
		if (p < s->end && *p == '\0')
			p++;
		*out = p;
		return 0;
	}
	for (;;) {
		char c;

		if (p == s->end)
			return bad(s, s->p, "unterminated object or array");
		c = *p;
		if (c == '"') {
			if (depth + nest > JSON_PARSER_MAX_DEPTH)
				return bad(s, p, "maximum parsing depth reached");
			p = string_end(p, s->end);
			if (!p)
				return bad(s, s->p, "unterminated string");
			continue;
		}
		if (c == '{' || c == '[') {
			if (depth + nest > JSON_PARSER_MAX_DEPTH)
				return bad(s, p, "maximum parsing depth reached");
			nest++;
		} else if (c == '}' || c == ']') {
			if (--nest == 0) {
				*out = p + 1;
				return 0;
			}
		} else if (c != ',' && c != ':' && !is_ws(c) && depth + nest > JSON_PARSER_MAX_DEPTH) {
			return bad(s, p, "maximum parsing depth reached");
		}
		p++;
	}
}

/* A plain string at p: printable ASCII, no escapes.  Its end (past the quote) or NULL. */
static const char *plain_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '\\')
			return NULL;
	}
	return NULL;
}

/*
 * A flat object of plain strings, small integers and literals, written
 * without spaces, as checkpoints are: built directly, as jansson would
 * build it.  NULL for anything else (nested, reals, escapes, big numbers,
 * a key twice, not in that shape at all), which jansson then parses.
 */
static json_t *flat_object(const char *p, const char *end)
{
	json_t *o = json_object();
	char key[64];

	if (!o || *p++ != '{')
		goto no;
	if (p < end && *p == '}' && p + 1 == end)
		return o;
	while (p < end) {
		const char *k = p, *q = *p == '"' ? plain_string(p, end) : NULL;
		json_t *v = NULL;

		if (!q || (size_t)(q - k - 2) >= sizeof(key) || q == end || *q != ':')
			goto no;
		memcpy(key, k + 1, (size_t)(q - k - 2));
		key[q - k - 2] = '\0';
		if (json_object_get(o, key))
			goto no;
		p = q + 1;
		if (p < end && *p == '"') {
			q = plain_string(p, end);
			if (q)
				v = json_stringn(p + 1, (size_t)(q - p - 2));
		} else if (p < end && (*p == '-' || (*p >= '0' && *p <= '9'))) {
			const char *d = p + (*p == '-');
			uint64_t n = 0;

			/* -?(0|[1-9][0-9]*) up to 19 digits (nanosecond times have 19) and INT64_MAX; no real. */
			for (q = d; q < end && *q >= '0' && *q <= '9' && q - d < 20; q++)
				n = n * 10 + (uint64_t)(*q - '0');
			if (q > d && q - d <= 19 && n <= INT64_MAX && !(*d == '0' && q - d > 1))
				v = json_integer(*p == '-' ? -(json_int_t)n : (json_int_t)n);
		} else if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
			q = p + 4;
			v = json_true();
		} else if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
			q = p + 5;
			v = json_false();
		} else if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
			q = p + 4;
			v = json_null();
		}
		if (!v || json_object_set_new(o, key, v))
			goto no;
		if (q == end || (*q != ',' && *q != '}'))
			goto no;
		if (*q == '}') {
			if (q + 1 != end)
				goto no;
			return o;
		}
		p = q + 1;
	}
no:
	json_decref(o);
	return NULL;
}

/* The value at s->p (at depth, see value_end), parsed by jansson; s->p moves past it. */
static int value(struct scan *s, int depth, json_t **v)
{
	json_error_t jerr;
	const char *end;
	int rc = value_end(s, depth, &end), err;

	if (rc)
		return rc;
	if (*s->p == '{' && (*v = flat_object(s->p, end))) {
		s->p = end;
		return 0;
	}
	*v = mps3_json_loadb(s->p, (size_t)(end - s->p), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr, &err);
	if (!*v)
		return bad_json(s, err, &jerr);
	s->p = end;
	return 0;
}

/*
 * The key at s->p, decoded into s->key; s->p moves past it.  Plain
 * printable ASCII is taken as it is; anything else (escapes, UTF-8, which
 * jansson validates) is decoded by jansson.
 */
static int key(struct scan *s)
{
	const char *end, *q;
	const char *text;
	json_t *j = NULL;
	size_t n;

	if (s->p == s->end || *s->p != '"')
		return bad(s, s->p, "string or '}' expected");
	end = string_end(s->p, s->end);
	if (!end)
		return bad(s, s->p, "unterminated string");
	for (q = s->p + 1; q < end - 1; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e || *q == '\\')
			break;
	if (q == end - 1) {
		text = s->p + 1;
		n = (size_t)(end - 1 - text);
	} else {
		json_error_t jerr;
		int err;

		j = mps3_json_loadb(s->p, (size_t)(end - s->p), JSON_DECODE_ANY, &jerr, &err);
		if (!j)
			return bad_json(s, err, &jerr);
		text = json_string_value(j);
		n = json_string_length(j);
	}
	if (n + 1 > s->keycap) {
		size_t cap = n + 1 < 256 ? 256 : 2 * (n + 1);
		char *k = realloc(s->key, cap);

		if (!k) {
			json_decref(j);
			return mps3_error_set(-ENOMEM, "out of memory");
		}
		s->key = k;
		s->keycap = cap;
	}
	memcpy(s->key, text, n);
	s->key[n] = '\0';
	json_decref(j);
	s->p = end;
	return 0;
}

/* After a key: the colon and what follows it up to the value. */
static int colon(struct scan *s)
{
	skip_ws(s);
	if (s->p == s->end || *s->p != ':')
		return bad(s, s->p, "':' expected");
	s->p++;
	skip_ws(s);
	return 0;
}

/* After a member: 1 if another follows (past its comma), 0 at the closing brace (past it). */
static int next_member(struct scan *s, int *rc)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == ',') {
		s->p++;
		skip_ws(s);
		return 1;
	}
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	*rc = bad(s, s->p, "',' or '}' expected");
	return 0;
}

/* Past an object's '{' (at s->p); 1 if it is empty (and past its '}' too). */
static int open_object(struct scan *s)
{
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 1;
	}
	return 0;
}

struct sink {
	mps3_jscan_fn fn;
	mps3_jscan_packed_fn pfn;
	void *ctx;
};

/* The big object's members (s->p at its '{'), each at depth 3, to the sink. */
static int big_members(struct scan *s, const struct sink *to)
{
	int rc = 0;

	if (open_object(s))
		return 0;
	do {
		struct mps3_packed pk;
		const char *end;
		json_t *v;

		rc = key(s);
		if (!rc)
			rc = colon(s);
		if (!rc && to->pfn && s->p < s->end && *s->p == '{' && (rc = value_end(s, 3, &end)) == 0 &&
		    mps3_packed_from_text(&pk, s->p, (size_t)(end - s->p))) {
			s->p = end;
			rc = to->pfn(s->key, &pk, to->ctx);
			if (rc)
				return rc;
			continue;
		}
		if (!rc)
			rc = value(s, 3, &v);
		if (rc)
			return rc;
		rc = to->fn(s->key, v, to->ctx);
		json_decref(v);
		if (rc)
			return rc;
	} while (next_member(s, &rc));
	return rc;
}

static int top_members(struct scan *s, const char *big, const struct sink *to, json_t *top)
{
	int rc = 0;

	if (open_object(s))
		return 0;
	do {
		json_t *v;

		rc = key(s);
		if (!rc && json_object_get(top, s->key))
			rc = bad(s, s->p, "duplicate object key");
		if (!rc)
			rc = colon(s);
		if (rc)
			return rc;
		if (strcmp(s->key, big) == 0 && s->p < s->end && *s->p == '{') {
			/* The key is kept before the members overwrite s->key. */
			v = json_object();
			rc = !v || json_object_set_new(top, big, v) ? -ENOMEM : 0;
			if (!rc)
				rc = big_members(s, to);
		} else {
			rc = value(s, 2, &v);
			if (!rc && json_object_set_new(top, s->key, v))
				rc = -ENOMEM;
		}
		if (rc)
			return rc == -ENOMEM ? mps3_error_set(rc, "out of memory") : rc;
	} while (next_member(s, &rc));
	return rc;
}

int mps3_jscan(const char *doc, size_t len, const char *big, mps3_jscan_fn fn, void *ctx, json_t **out)
{
	return mps3_jscan_packed(doc, len, big, fn, NULL, ctx, out);
}

int mps3_jscan_packed(const char *doc, size_t len, const char *big, mps3_jscan_fn fn, mps3_jscan_packed_fn pfn,
		      void *ctx, json_t **out)
{
	struct sink to = { fn, pfn, ctx };
	struct scan s = { doc, doc, doc + len, NULL, 0 };
	json_t *top;
	int rc;

	*out = NULL;
	skip_ws(&s);
	if (s.p == s.end || *s.p != '{') {
		json_error_t jerr;
		int err;

		/* Not an object: jansson's own answer, for the caller to refuse. */
		*out = mps3_json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr, &err);
		s.p = doc; /* jansson counts from the start */
		return *out ? 0 : bad_json(&s, err, &jerr);
	}
	top = json_object();
	if (!top)
		return mps3_error_set(-ENOMEM, "out of memory");
	rc = top_members(&s, big, &to, top);
	if (!rc) {
		skip_ws(&s);
		if (s.p != s.end)
			rc = bad(&s, s.p, "end of file expected");
	}
	free(s.key);
	if (rc) {
		json_decref(top);
		return rc;
	}
	*out = top;
	return 0;
}
