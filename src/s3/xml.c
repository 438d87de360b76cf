/*
 * s3/xml.c - the S3 XML documents mps3 reads (listings, errors, multipart
 * replies), parsed with expat.  Text is collected across expat's callbacks
 * and bounded per field, so a hostile server cannot make it grow unbounded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "mps3/buf.h"
#include "mps3/timefmt.h"
#include "mps3/uri.h"
#include "mps3/xml.h"

#define FIELD_LIMIT 4096
#define MAX_DEPTH 16

enum doc { DOC_LISTING, DOC_ERROR, DOC_UPLOAD, DOC_COMPLETE };

struct parse {
	enum doc doc;
	XML_Parser p;
	int depth;
	char path[MAX_DEPTH][48];	/* element names from the root down */
	struct mps3_buf text;		/* character data of the current leaf */
	int err;
	int root_ok;
	int is_error_doc;		/* CompleteMultipartUpload answered <Error> */

	/* listing */
	struct mps3_listing *out;
	int url_encoded;
	int in_contents;
	struct mps3_buf key;
	struct mps3_objinfo info;
	int have_key;
	char *next_token, *next_marker;
	int truncated;
	size_t first;			/* index of the first key this document added */

	/* error / upload id / complete */
	struct mps3_s3_error *e;
	char **upload_id;
	char *etag;
};

static void fail(struct parse *ps, int err)
{
	if (!ps->err)
		ps->err = err;
	XML_StopParser(ps->p, XML_FALSE);
}

/* Element name without a namespace prefix. */
static const char *local(const char *name)
{
	const char *c = strrchr(name, ':');

	return c ? c + 1 : name;
}

static int is(struct parse *ps, int depth, const char *name)
{
	return ps->depth == depth && strcmp(ps->path[depth - 1], name) == 0;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct parse *ps = ud;
	const char *n = local(name);

	(void)attrs;
	if (ps->err)
		return;
	if (ps->depth >= MAX_DEPTH) {
		fail(ps, -EPROTO);
		return;
	}
	if (ps->depth == 0) {
		static const char *const roots[] = { "ListBucketResult", "Error",
						     "InitiateMultipartUploadResult",
						     "CompleteMultipartUploadResult" };

		if (strcmp(n, roots[ps->doc]) == 0) {
			ps->root_ok = 1;
		} else if (ps->doc == DOC_COMPLETE && strcmp(n, "Error") == 0) {
			ps->root_ok = 1;
			ps->is_error_doc = 1;
		} else {
			fail(ps, -EPROTO);
			return;
		}
	}
	snprintf(ps->path[ps->depth], sizeof(ps->path[0]), "%s", n);
	ps->depth++;
	mps3_buf_reset(&ps->text);
	if (ps->doc == DOC_LISTING && is(ps, 2, "Contents")) {
		ps->in_contents = 1;
		ps->have_key = 0;
		mps3_buf_reset(&ps->key);
		memset(&ps->info, 0, sizeof(ps->info));
	}
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	struct parse *ps = ud;

	if (ps->err || len <= 0)
		return;
	if (ps->text.len + (size_t)len > FIELD_LIMIT) {
		fail(ps, -EPROTO);
		return;
	}
	if (mps3_buf_append(&ps->text, s, (size_t)len))
		fail(ps, -ENOMEM);
}

static int parse_u64(uint64_t *out, const char *s)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		uint64_t d = (uint64_t)(*s - '0');

		if (*s < '0' || *s > '9' || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static void copy_field(char *dst, size_t cap, const struct mps3_buf *b)
{
	size_t n = b->len < cap - 1 ? b->len : cap - 1;

	memcpy(dst, mps3_buf_cstr(b), n);
	dst[n] = '\0';
}

static void copy_etag(char dst[MPS3_ETAG_MAX], const struct mps3_buf *b)
{
	const char *s = mps3_buf_cstr(b);
	size_t n = b->len;

	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s++;
		n -= 2;
	}
	if (n >= MPS3_ETAG_MAX)
		n = MPS3_ETAG_MAX - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static char *dup_text(struct parse *ps)
{
	char *s = strndup(mps3_buf_cstr(&ps->text), ps->text.len);

	if (!s)
		fail(ps, -ENOMEM);
	return s;
}

static void end_listing(struct parse *ps)
{
	const char *t = mps3_buf_cstr(&ps->text);

	if (ps->in_contents && ps->depth == 3) {
		const char *n = ps->path[2];

		if (strcmp(n, "Key") == 0) {
			mps3_buf_reset(&ps->key);
			if (mps3_buf_append(&ps->key, t, ps->text.len))
				fail(ps, -ENOMEM);
			ps->have_key = 1;
		} else if (strcmp(n, "Size") == 0) {
			if (parse_u64(&ps->info.size, t))
				fail(ps, -EPROTO);
		} else if (strcmp(n, "LastModified") == 0) {
			if (mps3_time_parse_iso8601(&ps->info.mtime_ms, t, ps->text.len))
				fail(ps, -EPROTO);
		} else if (strcmp(n, "ETag") == 0) {
			copy_etag(ps->info.etag, &ps->text);
		}
		return;
	}
	if (is(ps, 2, "Contents")) {
		ps->in_contents = 0;
		if (!ps->have_key || ps->key.len == 0) {
			fail(ps, -EPROTO);
			return;
		}
		/* Keys are decoded after the document, once EncodingType is known. */
		if (mps3_listing_add(ps->out, mps3_buf_cstr(&ps->key), ps->key.len, &ps->info))
			fail(ps, -ENOMEM);
		return;
	}
	if (ps->depth != 2)
		return;
	if (strcmp(ps->path[1], "IsTruncated") == 0) {
		if (strcmp(t, "true") == 0)
			ps->truncated = 1;
		else if (strcmp(t, "false") == 0)
			ps->truncated = 0;
		else
			fail(ps, -EPROTO);
	} else if (strcmp(ps->path[1], "NextContinuationToken") == 0) {
		free(ps->next_token);
		ps->next_token = dup_text(ps);
	} else if (strcmp(ps->path[1], "NextMarker") == 0) {
		free(ps->next_marker);
		ps->next_marker = dup_text(ps);
	} else if (strcmp(ps->path[1], "EncodingType") == 0) {
		ps->url_encoded = strcmp(t, "url") == 0;
	}
}

static void on_end(void *ud, const XML_Char *name)
{
	struct parse *ps = ud;

	(void)name;
	if (ps->err)
		return;
	switch (ps->doc) {
	case DOC_LISTING:
		end_listing(ps);
		break;
	case DOC_ERROR:
	error_fields:
		if (ps->depth == 2 && ps->e) {
			if (strcmp(ps->path[1], "Code") == 0)
				copy_field(ps->e->code, sizeof(ps->e->code), &ps->text);
			else if (strcmp(ps->path[1], "Message") == 0)
				copy_field(ps->e->message, sizeof(ps->e->message), &ps->text);
			else if (strcmp(ps->path[1], "RequestId") == 0)
				copy_field(ps->e->request_id, sizeof(ps->e->request_id), &ps->text);
		}
		break;
	case DOC_UPLOAD:
		if (is(ps, 2, "UploadId")) {
			free(*ps->upload_id);
			*ps->upload_id = dup_text(ps);
		}
		break;
	case DOC_COMPLETE:
		if (ps->is_error_doc)
			goto error_fields;
		if (is(ps, 2, "ETag"))
			copy_etag(ps->etag, &ps->text);
		break;
	}
	ps->depth--;
	mps3_buf_reset(&ps->text);
}

/* Forbid DOCTYPE declarations: no entity expansion tricks from a server. */
static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
		       const XML_Char *pubid, int has_internal)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal;
	fail(ud, -EPROTO);
}

static int run(struct parse *ps, const char *xml, size_t len)
{
	int rc = 0;

	ps->p = XML_ParserCreate("UTF-8");
	if (!ps->p)
		return -ENOMEM;
	mps3_buf_init(&ps->text, FIELD_LIMIT + 1);
	mps3_buf_init(&ps->key, FIELD_LIMIT + 1);
	XML_SetUserData(ps->p, ps);
	XML_SetElementHandler(ps->p, on_start, on_end);
	XML_SetCharacterDataHandler(ps->p, on_text);
	XML_SetStartDoctypeDeclHandler(ps->p, on_doctype);
	if (len > INT32_MAX ||
	    XML_Parse(ps->p, xml, (int)len, XML_TRUE) != XML_STATUS_OK || ps->err || !ps->root_ok)
		rc = ps->err ? ps->err : -EPROTO;
	XML_ParserFree(ps->p);
	mps3_buf_dispose(&ps->text);
	mps3_buf_dispose(&ps->key);
	return rc;
}

int mps3_xml_parse_listing(struct mps3_listing *out, const char *xml, size_t len)
{
	struct parse ps;
	size_t i;
	int rc;

	memset(&ps, 0, sizeof(ps));
	ps.doc = DOC_LISTING;
	ps.out = out;
	ps.first = out->n;
	rc = run(&ps, xml, len);
	if (rc == 0 && ps.url_encoded) {
		/* With encoding-type=url, S3 form-encodes keys: '+' is a space. */
		for (i = ps.first; i < out->n && rc == 0; i++) {
			struct mps3_buf dec = MPS3_BUF_INIT;

			rc = mps3_uri_decode(&dec, out->v[i].key, strlen(out->v[i].key), 1);
			if (rc == 0 && dec.len == 0)
				rc = -EPROTO;
			if (rc == 0) {
				free(out->v[i].key);
				out->v[i].key = mps3_buf_detach(&dec, NULL);
			} else {
				rc = rc == -ENOMEM ? rc : -EPROTO;
			}
			mps3_buf_dispose(&dec);
		}
		if (rc == 0 && ps.next_marker) {
			struct mps3_buf dec = MPS3_BUF_INIT;

			rc = mps3_uri_decode(&dec, ps.next_marker, strlen(ps.next_marker), 1);
			free(ps.next_marker);
			ps.next_marker = rc ? NULL : mps3_buf_detach(&dec, NULL);
			mps3_buf_dispose(&dec);
			rc = rc ? -EPROTO : 0;
		}
	}
	if (rc == 0) {
		out->truncated = ps.truncated;
		free(out->next_token);
		out->next_token = NULL;
		if (ps.truncated) {
			/* V2 token; V1 marker; V1 without marker continues after the last key. */
			if (ps.next_token) {
				out->next_token = ps.next_token;
				ps.next_token = NULL;
			} else if (ps.next_marker) {
				out->next_token = ps.next_marker;
				ps.next_marker = NULL;
			} else if (out->n > 0) {
				out->next_token = strdup(out->v[out->n - 1].key);
				if (!out->next_token)
					rc = -ENOMEM;
			} else {
				rc = -EPROTO;
			}
		}
	}
	if (rc) {
		/* Leave nothing half-parsed behind. */
		for (i = ps.first; i < out->n; i++)
			free(out->v[i].key);
		out->n = ps.first;
		out->truncated = 0;
		free(out->next_token);
		out->next_token = NULL;
	}
	free(ps.next_token);
	free(ps.next_marker);
	return rc;
}

int mps3_xml_parse_error(struct mps3_s3_error *out, const char *xml, size_t len)
{
	struct parse ps;

	memset(out, 0, sizeof(*out));
	memset(&ps, 0, sizeof(ps));
	ps.doc = DOC_ERROR;
	ps.e = out;
	return run(&ps, xml, len);
}

int mps3_xml_parse_upload_id(char **upload_id, const char *xml, size_t len)
{
	struct parse ps;
	int rc;

	*upload_id = NULL;
	memset(&ps, 0, sizeof(ps));
	ps.doc = DOC_UPLOAD;
	ps.upload_id = upload_id;
	rc = run(&ps, xml, len);
	if (rc == 0 && (!*upload_id || !**upload_id))
		rc = -EPROTO;
	if (rc) {
		free(*upload_id);
		*upload_id = NULL;
	}
	return rc;
}

int mps3_xml_parse_complete(char etag[MPS3_ETAG_MAX], struct mps3_s3_error *err,
			    const char *xml, size_t len)
{
	struct parse ps;
	int rc;

	memset(err, 0, sizeof(*err));
	etag[0] = '\0';
	memset(&ps, 0, sizeof(ps));
	ps.doc = DOC_COMPLETE;
	ps.e = err;
	ps.etag = etag;
	rc = run(&ps, xml, len);
	if (rc)
		return rc;
	if (ps.is_error_doc)
		return -EIO;
	return etag[0] ? 0 : -EPROTO;
}
