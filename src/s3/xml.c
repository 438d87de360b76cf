/*
 * s3/xml.c - the S3 XML replies mps3 reads (listings V2 and V1, Error, the
 * multipart replies) and STS's credentials: one engine over expat collects
 * the text of the few fields each document needs, bounded per field, and
 * skips everything else.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>
#include <openssl/crypto.h>

#include "mps3/buf.h"
#include "mps3/timefmt.h"
#include "mps3/uri.h"
#include "mps3/xml.h"

/*
 * S3 keys are at most 1024 bytes, 3072 once url-encoded; anything longer is
 * not S3 talking.  Tokens are opaque but far shorter in practice.
 */
#define KEY_TEXT_MAX 4096
#define TOKEN_MAX 4096
#define ETAG_TEXT_MAX 256
#define ERROR_TEXT_MAX 4096
#define MAX_DEPTH 32
/* Expat takes int lengths; larger documents are fed in pieces. */
#define FEED_CHUNK (64u << 20)
/* Expat joins namespace URI and local name with this; '|' is no NameChar. */
#define NS_SEP '|'

enum field {
	F_KEY = 1,
	F_SIZE,
	F_MTIME,
	F_ETAG,
	F_TRUNCATED,
	F_NEXT_TOKEN,
	F_NEXT_MARKER,
	F_ENCODING,
	F_KEY_COUNT,
	F_CODE,
	F_MESSAGE,
	F_REQUEST_ID,
	F_UPLOAD_ID,
	F_RESULT_ETAG,
	F_ACCESS_KEY,
	F_SECRET_KEY,
	F_SESSION_TOKEN,
	F_EXPIRATION,
};

struct field_spec {
	const char *name;
	enum field id;
	size_t max;	/* longest text accepted */
	int clip;	/* keep the first max bytes of a longer text instead of failing */
};

struct doc_spec {
	const char *root;
	const char *const *inner;		/* elements between the root and its fields, or NULL */
	const struct field_spec *fields;	/* children of the root (or of the innermost inner) */
	const char *record;			/* repeated child of the root, or NULL */
	const struct field_spec *record_fields;	/* children of a record */
};

static const struct field_spec listing_fields[] = {
	{ "IsTruncated", F_TRUNCATED, 16, 0 },
	{ "NextContinuationToken", F_NEXT_TOKEN, TOKEN_MAX, 0 },
	{ "NextMarker", F_NEXT_MARKER, KEY_TEXT_MAX, 0 },
	{ "EncodingType", F_ENCODING, 16, 0 },
	{ "KeyCount", F_KEY_COUNT, 32, 0 },
	{ NULL, 0, 0, 0 },
};

static const struct field_spec contents_fields[] = {
	{ "Key", F_KEY, KEY_TEXT_MAX, 0 },
	{ "Size", F_SIZE, 32, 0 },
	{ "LastModified", F_MTIME, 64, 0 },
	{ "ETag", F_ETAG, ETAG_TEXT_MAX, 0 },
	{ NULL, 0, 0, 0 },
};

/* Error texts are only reported, so a long one is clipped rather than refused. */
static const struct field_spec error_fields[] = {
	{ "Code", F_CODE, ERROR_TEXT_MAX, 1 },
	{ "Message", F_MESSAGE, ERROR_TEXT_MAX, 1 },
	{ "RequestId", F_REQUEST_ID, ERROR_TEXT_MAX, 1 },
	{ NULL, 0, 0, 0 },
};

static const struct field_spec upload_fields[] = {
	{ "UploadId", F_UPLOAD_ID, TOKEN_MAX, 0 },
	{ NULL, 0, 0, 0 },
};

static const struct field_spec complete_fields[] = {
	{ "ETag", F_RESULT_ETAG, ETAG_TEXT_MAX, 0 },
	{ NULL, 0, 0, 0 },
};

/* Session tokens run to a few KB; 16 KB leaves room for what STS may grow to. */
static const struct field_spec sts_fields[] = {
	{ "AccessKeyId", F_ACCESS_KEY, 256, 0 },
	{ "SecretAccessKey", F_SECRET_KEY, 256, 0 },
	{ "SessionToken", F_SESSION_TOKEN, 16384, 0 },
	{ "Expiration", F_EXPIRATION, 64, 0 },
	{ NULL, 0, 0, 0 },
};

static const char *const assume_inner[] = { "AssumeRoleResult", "Credentials", NULL };
static const char *const web_inner[] = { "AssumeRoleWithWebIdentityResult", "Credentials", NULL };
static const char *const sts_error_inner[] = { "Error", NULL };

static const struct doc_spec listing_doc = { "ListBucketResult", NULL, listing_fields, "Contents", contents_fields };
static const struct doc_spec error_doc = { "Error", NULL, error_fields, NULL, NULL };
static const struct doc_spec upload_doc = { "InitiateMultipartUploadResult", NULL, upload_fields, NULL, NULL };
static const struct doc_spec complete_doc = { "CompleteMultipartUploadResult", NULL, complete_fields, NULL, NULL };
static const struct doc_spec assume_doc = { "AssumeRoleResponse", assume_inner, sts_fields, NULL, NULL };
static const struct doc_spec web_doc = { "AssumeRoleWithWebIdentityResponse", web_inner, sts_fields, NULL, NULL };
static const struct doc_spec sts_error_doc = { "ErrorResponse", sts_error_inner, error_fields, NULL, NULL };

struct parse {
	XML_Parser p;
	const struct doc_spec *const *roots;	/* documents accepted, NULL-terminated */
	const struct doc_spec *doc;		/* the one whose root was found */
	int (*on_field)(struct parse *ps, enum field id, const char *text, size_t len);
	int (*on_record)(struct parse *ps, int begin);	/* NULL when there are no records */
	void *ctx;
	int err;
	unsigned depth;
	int in_record;
	const struct field_spec *field;		/* text being collected, or NULL */
	unsigned field_depth;
	unsigned long seen, record_seen;	/* fields met so far, by id bit */
	unsigned ninner, inner_open;		/* the doc's inner elements, how many are open */
	int inner_done;				/* the outermost inner element was closed */
	struct mps3_buf text;
};

static void fail(struct parse *ps, int err)
{
	if (!ps->err)
		ps->err = err;
	XML_StopParser(ps->p, XML_FALSE);
}

/* Any namespace is accepted: S3 sends one, some compatible servers none. */
static const char *local_name(const char *name)
{
	const char *sep = strrchr(name, NS_SEP);

	return sep ? sep + 1 : name;
}

static const struct field_spec *lookup(const struct field_spec *f, const char *name)
{
	for (; f && f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static void start_root(struct parse *ps, const char *name)
{
	const struct doc_spec *const *d;

	for (d = ps->roots; *d; d++) {
		if (strcmp((*d)->root, name) == 0) {
			ps->doc = *d;
			ps->ninner = 0;
			while ((*d)->inner && (*d)->inner[ps->ninner])
				ps->ninner++;
			return;
		}
	}
	fail(ps, -EPROTO);
}

static void on_start(void *ud, const XML_Char *qname, const XML_Char **attrs)
{
	struct parse *ps = ud;
	const char *name = local_name(qname);
	const struct field_spec *f = NULL;
	unsigned long *seen, bit;

	(void)attrs;
	if (ps->err)
		return;
	ps->depth++;
	/* Fields hold text only; markup inside one is not an S3 document. */
	if (ps->depth > MAX_DEPTH || ps->field) {
		fail(ps, -EPROTO);
		return;
	}
	if (ps->depth == 1) {
		start_root(ps, name);
		return;
	}
	/* Only the first of each inner element is walked into; the fields sit in the innermost. */
	if (ps->depth - 2 < ps->ninner) {
		if (ps->inner_open == ps->depth - 2 && !ps->inner_done &&
		    strcmp(name, ps->doc->inner[ps->depth - 2]) == 0)
			ps->inner_open++;
		return;
	}
	if (ps->depth == 2 && ps->doc->record && strcmp(name, ps->doc->record) == 0) {
		int rc;

		ps->in_record = 1;
		ps->record_seen = 0;
		rc = ps->on_record(ps, 1);
		if (rc)
			fail(ps, rc);
		return;
	}
	if (ps->depth == 2 + ps->ninner && ps->inner_open == ps->ninner)
		f = lookup(ps->doc->fields, name);
	else if (ps->depth == 3 && ps->in_record)
		f = lookup(ps->doc->record_fields, name);
	if (!f)
		return;
	/* The same field twice leaves no way to tell which one S3 meant. */
	seen = ps->in_record ? &ps->record_seen : &ps->seen;
	bit = 1ul << f->id;
	if (*seen & bit) {
		fail(ps, -EPROTO);
		return;
	}
	*seen |= bit;
	ps->field = f;
	ps->field_depth = ps->depth;
	mps3_buf_reset(&ps->text);
}

/* Expat hands text over in pieces (entities, CDATA, line ends, buffer ends). */
static void on_text(void *ud, const XML_Char *s, int len)
{
	struct parse *ps = ud;
	size_t n = len > 0 ? (size_t)len : 0;
	size_t room;
	int rc;

	if (ps->err || !ps->field)
		return;
	room = ps->field->max - ps->text.len;
	if (n > room) {
		if (!ps->field->clip) {
			fail(ps, -EPROTO);
			return;
		}
		n = room;
	}
	rc = mps3_buf_append(&ps->text, s, n);
	if (rc)
		fail(ps, rc);
}

static void on_end(void *ud, const XML_Char *qname)
{
	struct parse *ps = ud;
	int rc = 0;

	(void)qname;
	if (ps->err)
		return;
	if (ps->field && ps->depth == ps->field_depth) {
		rc = ps->on_field(ps, ps->field->id, mps3_buf_cstr(&ps->text), ps->text.len);
		ps->field = NULL;
	} else if (ps->depth == 2 && ps->in_record) {
		rc = ps->on_record(ps, 0);
		ps->in_record = 0;
	} else if (ps->ninner && ps->depth >= 2 && ps->depth - 2 < ps->ninner && ps->inner_open == ps->depth - 1) {
		ps->inner_open--;
		ps->inner_done = ps->inner_open == 0; /* a second path is ignored */
	}
	ps->depth--;
	if (rc)
		fail(ps, rc);
}

/* S3 never sends a DTD; refusing one rules out entity expansion games. */
static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
		       const XML_Char *pubid, int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	fail(ud, -EPROTO);
}

static void on_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
			   int value_len, const XML_Char *base, const XML_Char *sysid,
			   const XML_Char *pubid, const XML_Char *notation)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;
	fail(ud, -EPROTO);
}

static int is_xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int run(struct parse *ps, const char *xml, size_t len)
{
	size_t off = 0;
	int rc = 0;

	ps->p = NULL;
	mps3_buf_init(&ps->text, 0);
	if (!xml) {
		rc = -EPROTO;
		goto out;
	}
	/*
	 * S3 keeps a slow CompleteMultipartUpload alive by sending whitespace
	 * before the document, where XML allows none ahead of the declaration.
	 */
	while (len > 0 && is_xml_space(*xml)) {
		xml++;
		len--;
	}
	ps->p = XML_ParserCreateNS(NULL, NS_SEP);
	if (!ps->p) {
		rc = -ENOMEM;
		goto out;
	}
	XML_SetUserData(ps->p, ps);
	XML_SetElementHandler(ps->p, on_start, on_end);
	XML_SetCharacterDataHandler(ps->p, on_text);
	XML_SetStartDoctypeDeclHandler(ps->p, on_doctype);
	XML_SetEntityDeclHandler(ps->p, on_entity_decl);
	do {
		size_t n = len - off > FEED_CHUNK ? FEED_CHUNK : len - off;
		int last = off + n == len;

		if (XML_Parse(ps->p, xml + off, (int)n, last) != XML_STATUS_OK) {
			if (ps->err)
				rc = ps->err;
			else if (XML_GetErrorCode(ps->p) == XML_ERROR_NO_MEMORY)
				rc = -ENOMEM;
			else
				rc = -EPROTO;
			goto out;
		}
		off += n;
	} while (off < len);
	if (!ps->doc)
		rc = -EPROTO;
out:
	if (ps->p)
		XML_ParserFree(ps->p);
	if (ps->text.data) /* it may have held a secret */
		OPENSSL_cleanse(ps->text.data, ps->text.cap);
	mps3_buf_dispose(&ps->text);
	return rc;
}

/* Strictly digits, no sign, no blanks, no overflow. */
static int parse_u64(uint64_t *out, const char *s, size_t n)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return -EPROTO;
	for (i = 0; i < n; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
			return -EPROTO;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* S3 quotes ETags (literally or as &quot;); an ETag cut short would be wrong. */
static int copy_etag(char dst[MPS3_ETAG_MAX], const char *s, size_t n)
{
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s++;
		n -= 2;
	}
	if (n >= MPS3_ETAG_MAX)
		return -EPROTO;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* Clips to cap - 1 bytes without leaving half a UTF-8 sequence at the end. */
static void copy_clipped(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static int text_is(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* ---- ListBucketResult ---- */

struct listing_ctx {
	struct mps3_listing *out;
	struct mps3_buf key;		/* of the Contents being read */
	struct mps3_objinfo info;
	int have_key, have_size;
	int truncated, url_encoded, v2;
	char *next_token, *next_marker;
};

static int listing_record(struct parse *ps, int begin)
{
	struct listing_ctx *c = ps->ctx;

	if (begin) {
		mps3_buf_reset(&c->key);
		memset(&c->info, 0, sizeof(c->info));
		c->have_key = 0;
		c->have_size = 0;
		return 0;
	}
	/* Without its size an entry would be a wrong file, not a missing one. */
	if (!c->have_key || !c->have_size)
		return -EPROTO;
	/* Keys are decoded once the whole document told whether they are encoded. */
	return mps3_listing_add(c->out, mps3_buf_cstr(&c->key), c->key.len, &c->info);
}

static int dup_text(char **dst, const char *s, size_t n)
{
	*dst = strndup(s, n);
	return *dst ? 0 : -ENOMEM;
}

static int listing_field(struct parse *ps, enum field id, const char *s, size_t n)
{
	struct listing_ctx *c = ps->ctx;

	switch (id) {
	case F_KEY:
		if (n == 0)
			return -EPROTO;
		c->have_key = 1;
		mps3_buf_reset(&c->key);
		return mps3_buf_append(&c->key, s, n);
	case F_SIZE:
		c->have_size = 1;
		return parse_u64(&c->info.size, s, n);
	case F_MTIME:
		return mps3_time_parse_iso8601(&c->info.mtime_ms, s, n) ? -EPROTO : 0;
	case F_ETAG:
		return copy_etag(c->info.etag, s, n);
	case F_TRUNCATED:
		if (text_is(s, n, "true"))
			c->truncated = 1;
		else if (text_is(s, n, "false"))
			c->truncated = 0;
		else
			return -EPROTO;
		return 0;
	case F_NEXT_TOKEN:
		/* An empty token is no way to continue; treat it as absent. */
		return n ? dup_text(&c->next_token, s, n) : 0;
	case F_NEXT_MARKER:
		return n ? dup_text(&c->next_marker, s, n) : 0;
	case F_ENCODING:
		if (text_is(s, n, "url"))
			c->url_encoded = 1;
		else if (n != 0)
			return -EPROTO; /* keys in an encoding we cannot undo */
		return 0;
	case F_KEY_COUNT:
		/* Only ListObjectsV2 sends KeyCount. */
		c->v2 = 1;
		return 0;
	default:
		return 0;
	}
}

/*
 * With encoding-type=url AWS S3 form-encodes keys (a space is '+', a plus
 * "%2B"), while Swift's s3api quotes them (a space is "%20").  A literal '+'
 * is always escaped by both, so reading '+' as a space decodes either.
 */
static int url_decode_dup(char **out, const char *s)
{
	struct mps3_buf b = MPS3_BUF_INIT;
	int rc;

	*out = NULL;
	rc = mps3_uri_decode(&b, s, strlen(s), 1);
	if (rc == 0 && b.len == 0)
		rc = -EPROTO;
	if (rc == 0) {
		*out = mps3_buf_detach(&b, NULL);
		if (!*out)
			rc = -ENOMEM;
	}
	mps3_buf_dispose(&b);
	return rc == -EINVAL ? -EPROTO : rc;
}

static int listing_decode(struct listing_ctx *c, size_t first)
{
	struct mps3_listing *l = c->out;
	char *dec = NULL;
	size_t i;
	int rc;

	for (i = first; i < l->n; i++) {
		rc = url_decode_dup(&dec, l->v[i].key);
		if (rc)
			return rc;
		free(l->v[i].key);
		l->v[i].key = dec;
	}
	if (c->next_marker) {
		rc = url_decode_dup(&dec, c->next_marker);
		if (rc)
			return rc;
		free(c->next_marker);
		c->next_marker = dec;
	}
	return 0;
}

/*
 * The token to continue after a truncated page: V2's continuation token;
 * V1's NextMarker, which S3 only sends with a delimiter; otherwise V1
 * continues after the last key.  A truncated V2 page without a token, or an
 * empty truncated page, gives no way to go on.
 */
static int listing_next(char **token, struct listing_ctx *c, size_t first)
{
	struct mps3_listing *l = c->out;

	*token = NULL;
	if (!c->truncated)
		return 0;
	if (c->next_token) {
		*token = c->next_token;
		c->next_token = NULL;
		return 0;
	}
	if (c->next_marker) {
		*token = c->next_marker;
		c->next_marker = NULL;
		return 0;
	}
	if (c->v2 || l->n == first)
		return -EPROTO;
	*token = strdup(l->v[l->n - 1].key);
	return *token ? 0 : -ENOMEM;
}

int mps3_xml_parse_listing(struct mps3_listing *out, const char *xml, size_t len)
{
	static const struct doc_spec *const roots[] = { &listing_doc, NULL };
	struct listing_ctx c;
	struct parse ps;
	size_t first = out->n, i;
	char *token = NULL;
	int rc;

	memset(&c, 0, sizeof(c));
	c.out = out;
	mps3_buf_init(&c.key, 0);
	memset(&ps, 0, sizeof(ps));
	ps.roots = roots;
	ps.on_field = listing_field;
	ps.on_record = listing_record;
	ps.ctx = &c;

	rc = run(&ps, xml, len);
	if (rc)
		goto out;
	if (c.url_encoded) {
		rc = listing_decode(&c, first);
		if (rc)
			goto out;
	}
	rc = listing_next(&token, &c, first);
	if (rc)
		goto out;
	out->truncated = c.truncated;
	free(out->next_token);
	out->next_token = token;
out:
	if (rc) {
		/* A failed page adds nothing: callers may retry into the same listing. */
		for (i = first; i < out->n; i++)
			free(out->v[i].key);
		out->n = first;
	}
	free(c.next_token);
	free(c.next_marker);
	mps3_buf_dispose(&c.key);
	return rc;
}

/* ---- Error ---- */

static void error_text(struct mps3_s3_error *e, enum field id, const char *s, size_t n)
{
	if (id == F_CODE)
		copy_clipped(e->code, sizeof(e->code), s, n);
	else if (id == F_MESSAGE)
		copy_clipped(e->message, sizeof(e->message), s, n);
	else if (id == F_REQUEST_ID)
		copy_clipped(e->request_id, sizeof(e->request_id), s, n);
}

static int error_field(struct parse *ps, enum field id, const char *s, size_t n)
{
	error_text(ps->ctx, id, s, n);
	return 0;
}

int mps3_xml_parse_error(struct mps3_s3_error *out, const char *xml, size_t len)
{
	static const struct doc_spec *const roots[] = { &error_doc, NULL };
	struct parse ps;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&ps, 0, sizeof(ps));
	ps.roots = roots;
	ps.on_field = error_field;
	ps.ctx = out;
	rc = run(&ps, xml, len);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- InitiateMultipartUploadResult ---- */

static int upload_field(struct parse *ps, enum field id, const char *s, size_t n)
{
	char **upload_id = ps->ctx;

	if (id != F_UPLOAD_ID)
		return 0;
	if (n == 0)
		return -EPROTO;
	return dup_text(upload_id, s, n);
}

int mps3_xml_parse_upload_id(char **upload_id, const char *xml, size_t len)
{
	static const struct doc_spec *const roots[] = { &upload_doc, NULL };
	struct parse ps;
	int rc;

	*upload_id = NULL;
	memset(&ps, 0, sizeof(ps));
	ps.roots = roots;
	ps.on_field = upload_field;
	ps.ctx = upload_id;
	rc = run(&ps, xml, len);
	if (rc == 0 && !*upload_id)
		rc = -EPROTO;
	if (rc) {
		free(*upload_id);
		*upload_id = NULL;
	}
	return rc;
}

/* ---- CompleteMultipartUploadResult, or the Error S3 may send with 200 ---- */

struct complete_ctx {
	char *etag;
	struct mps3_s3_error *err;
};

static int complete_field(struct parse *ps, enum field id, const char *s, size_t n)
{
	struct complete_ctx *c = ps->ctx;

	if (id == F_RESULT_ETAG)
		return copy_etag(c->etag, s, n);
	error_text(c->err, id, s, n);
	return 0;
}

int mps3_xml_parse_complete(char etag[MPS3_ETAG_MAX], struct mps3_s3_error *err,
			    const char *xml, size_t len)
{
	static const struct doc_spec *const roots[] = { &complete_doc, &error_doc, NULL };
	struct complete_ctx c = { etag, err };
	struct parse ps;
	int rc;

	etag[0] = '\0';
	memset(err, 0, sizeof(*err));
	memset(&ps, 0, sizeof(ps));
	ps.roots = roots;
	ps.on_field = complete_field;
	ps.ctx = &c;
	rc = run(&ps, xml, len);
	if (rc == 0 && ps.doc == &error_doc)
		rc = -EIO;
	else if (rc == 0 && etag[0] == '\0')
		rc = -EPROTO;
	if (rc != -EIO)
		memset(err, 0, sizeof(*err));
	if (rc)
		etag[0] = '\0';
	return rc;
}

/* ---- STS: AssumeRole and AssumeRoleWithWebIdentity, or ErrorResponse ---- */

struct sts_ctx {
	struct mps3_sts_credentials *c;
	struct mps3_s3_error *err;
};

static int sts_field(struct parse *ps, enum field id, const char *s, size_t n)
{
	struct sts_ctx *x = ps->ctx;
	char **dst = id == F_ACCESS_KEY	   ? &x->c->access_key
		     : id == F_SECRET_KEY    ? &x->c->secret_key
		     : id == F_SESSION_TOKEN ? &x->c->session_token
					     : NULL;

	if (dst)
		return n ? dup_text(dst, s, n) : -EPROTO;
	if (id == F_EXPIRATION)
		return mps3_time_parse_iso8601(&x->c->expires_ms, s, n) ? -EPROTO : 0;
	error_text(x->err, id, s, n);
	return 0;
}

void mps3_sts_credentials_dispose(struct mps3_sts_credentials *c)
{
	if (c->secret_key)
		OPENSSL_cleanse(c->secret_key, strlen(c->secret_key));
	if (c->session_token)
		OPENSSL_cleanse(c->session_token, strlen(c->session_token));
	free(c->access_key);
	free(c->secret_key);
	free(c->session_token);
	memset(c, 0, sizeof(*c));
}

int mps3_xml_parse_sts(struct mps3_sts_credentials *out, struct mps3_s3_error *err, const char *xml,
		       size_t len)
{
	static const struct doc_spec *const roots[] = { &assume_doc, &web_doc, &sts_error_doc, NULL };
	struct sts_ctx x = { out, err };
	struct parse ps;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	memset(&ps, 0, sizeof(ps));
	ps.roots = roots;
	ps.on_field = sts_field;
	ps.ctx = &x;
	rc = run(&ps, xml, len);
	if (rc == 0 && ps.doc == &sts_error_doc)
		rc = -EIO;
	else if (rc == 0 && (!out->access_key || !out->secret_key || !out->session_token || !out->expires_ms))
		rc = -EPROTO;
	if (rc != -EIO)
		memset(err, 0, sizeof(*err));
	if (rc)
		mps3_sts_credentials_dispose(out);
	return rc;
}
