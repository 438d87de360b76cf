/*
 * mps3/xml.h - the S3 XML documents mps3 reads, parsed with expat.
 *
 * Listings carry keys with every byte S3 allows (entities, CDATA sections,
 * characters that look like markup, UTF-8, and with encoding-type=url
 * percent-escapes); a real XML parser handles them, nothing here is
 * hand-rolled.  All parsers take the whole document and reject a document
 * that is not well-formed or not the expected root element with -EPROTO.
 * Pure and thread-safe (one parser per call).
 */
#ifndef MPS3_XML_H
#define MPS3_XML_H

#include <stddef.h>
#include <stdint.h>

#include "mps3/types.h"

/*
 * ListBucketResult of ListObjectsV2 (and V1).  Keys are URL-decoded when the
 * document says <EncodingType>url</EncodingType>.  Appends to out, which the
 * caller has initialised; sets truncated and next_token.  On failure the
 * listing is left as it was.
 * 0, -EPROTO (malformed, or a bad escape in an url-encoded key) or -ENOMEM.
 */
int mps3_xml_parse_listing(struct mps3_listing *out, const char *xml, size_t len);

struct mps3_s3_error {
	char code[64];		/* "NoSuchKey"; "" when absent */
	char message[256];	/* truncated to fit */
	char request_id[128];
};

/* <Error><Code>..</Code><Message>..</Message><RequestId>..</RequestId></Error>.  0, -EPROTO or -ENOMEM. */
int mps3_xml_parse_error(struct mps3_s3_error *out, const char *xml, size_t len);

/* InitiateMultipartUploadResult: *upload_id is malloc'd.  0, -EPROTO or -ENOMEM. */
int mps3_xml_parse_upload_id(char **upload_id, const char *xml, size_t len);

/*
 * CompleteMultipartUploadResult.  S3 may answer 200 with an <Error> document:
 * then err is filled and -EIO returned.  On success etag (unquoted, at most
 * MPS3_ETAG_MAX - 1 bytes) is filled.  0, -EIO, -EPROTO or -ENOMEM.
 */
int mps3_xml_parse_complete(char etag[MPS3_ETAG_MAX], struct mps3_s3_error *err,
			    const char *xml, size_t len);

/* The Credentials of an STS AssumeRole or AssumeRoleWithWebIdentity reply.  Strings malloc'd. */
struct mps3_sts_credentials {
	char *access_key;
	char *secret_key;	/* wiped on dispose */
	char *session_token;	/* wiped on dispose */
	int64_t expires_ms;
};

/*
 * AssumeRoleResponse or AssumeRoleWithWebIdentityResponse: all four fields,
 * or -EPROTO.  An ErrorResponse fills err and gives -EIO.  out is disposed
 * of on failure.  0, -EIO, -EPROTO or -ENOMEM.
 */
int mps3_xml_parse_sts(struct mps3_sts_credentials *out, struct mps3_s3_error *err, const char *xml,
		       size_t len);
void mps3_sts_credentials_dispose(struct mps3_sts_credentials *c);

#endif
