/*
 * fuzz_xml.c - the S3 replies: the input goes to each of the four parsers
 * of mps3/xml.h as the whole document.
 *
 * Properties (mps3/xml.h): only the documented return codes; a failed
 * listing page adds nothing to a listing that already holds an entry;
 * a successful one says how to continue exactly when it is truncated and
 * holds only non-empty keys; the error texts are NUL-terminated in their
 * arrays; failures leave the outputs empty.
 */
#include <errno.h>

#include "fuzz.h"
#include "mps3/xml.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	return 0;
}

static int s3_error_terminated(const struct mps3_s3_error *e)
{
	return memchr(e->code, '\0', sizeof(e->code)) &&
	       memchr(e->message, '\0', sizeof(e->message)) &&
	       memchr(e->request_id, '\0', sizeof(e->request_id));
}

static int s3_error_empty(const struct mps3_s3_error *e)
{
	return !e->code[0] && !e->message[0] && !e->request_id[0];
}

static void check_listing(const char *xml, size_t len)
{
	struct mps3_listing l;
	size_t i;
	int rc;

	mps3_listing_init(&l);
	/* A page already read: a failed page must leave it as it was. */
	if (mps3_listing_add(&l, "log/earlier", strlen("log/earlier"), NULL))
		abort();
	rc = mps3_xml_parse_listing(&l, xml, len);
	FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	FUZZ_CHECK(l.n >= 1 && strcmp(l.v[0].key, "log/earlier") == 0);
	if (rc) {
		FUZZ_CHECK(l.n == 1 && !l.truncated && !l.next_token);
	} else {
		FUZZ_CHECK(!l.truncated == !l.next_token);
		FUZZ_CHECK(!l.next_token || l.next_token[0] != '\0');
		for (i = 1; i < l.n; i++) {
			FUZZ_CHECK(l.v[i].key && l.v[i].key[0] != '\0');
			FUZZ_CHECK(memchr(l.v[i].info.etag, '\0', MPS3_ETAG_MAX));
		}
	}
	mps3_listing_dispose(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	struct mps3_s3_error err;
	char etag[MPS3_ETAG_MAX];
	char *upload_id = (char *)"untouched";
	int rc;

	check_listing(xml, size);

	memset(&err, 0x5a, sizeof(err));
	rc = mps3_xml_parse_error(&err, xml, size);
	FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	FUZZ_CHECK(s3_error_terminated(&err));
	if (rc)
		FUZZ_CHECK(s3_error_empty(&err));

	rc = mps3_xml_parse_upload_id(&upload_id, xml, size);
	FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	if (rc)
		FUZZ_CHECK(upload_id == NULL);
	else
		FUZZ_CHECK(upload_id && upload_id[0] != '\0');
	free(upload_id);

	memset(etag, 0x5a, sizeof(etag));
	memset(&err, 0x5a, sizeof(err));
	rc = mps3_xml_parse_complete(etag, &err, xml, size);
	FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -EPROTO || rc == -ENOMEM);
	FUZZ_CHECK(memchr(etag, '\0', sizeof(etag)));
	FUZZ_CHECK(s3_error_terminated(&err));
	if (rc == 0)
		FUZZ_CHECK(etag[0] != '\0');
	else
		FUZZ_CHECK(etag[0] == '\0');
	if (rc != -EIO)
		FUZZ_CHECK(s3_error_empty(&err));
	return 0;
}
