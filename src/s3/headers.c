/*
 * s3/headers.c - what the configuration adds to a request: the keys it is
 * signed with (the configured ones, or a credential source's current ones)
 * and the headers of who pays, storage class and server-side encryption.
 */
#include <string.h>

#include "mps3/error.h"
#include "internal.h"

int mps3_s3_keys_get(struct mps3_s3 *s3, struct s3_keys *k, const char *w)
{
	int rc;

	memset(k, 0, sizeof(*k));
	if (!s3->cfg.creds) {
		k->access_key = s3->cfg.access_key;
		k->secret_key = s3->cfg.secret_key;
		k->session_token = s3->cfg.session_token;
		return 0;
	}
	rc = mps3_creds_current(s3->cfg.creds, &k->own);
	if (rc)
		return mps3_error_wrap(rc, "%s", w);
	k->access_key = k->own.access_key;
	k->secret_key = k->own.secret_key;
	k->session_token = k->own.session_token;
	return 0;
}

/*
 * What the configuration asks of requests (at most S3_OBJECT_HEADERS): who
 * pays, and for the operations that write an object or read its content,
 * its storage class and encryption.
 */
size_t mps3_s3_object_headers(struct mps3_s3 *s3, const struct s3_req *req, struct mps3_kv *h)
{
	const struct mps3_s3_config *c = &s3->cfg;
	int creates = strcmp(req->op, "PutObject") == 0 || strcmp(req->op, "CreateMultipartUpload") == 0;
	int content = creates || strcmp(req->op, "GetObject") == 0 || strcmp(req->op, "HeadObject") == 0 ||
		      strcmp(req->op, "UploadPart") == 0;
	size_t n = 0;

	if (c->requester_pays)
		h[n++] = (struct mps3_kv){ "x-amz-request-payer", "requester" };
	if (creates && c->storage_class)
		h[n++] = (struct mps3_kv){ "x-amz-storage-class", c->storage_class };
	if (creates && c->sse) {
		h[n++] = (struct mps3_kv){ "x-amz-server-side-encryption", c->sse };
		if (c->sse_kms_key_id)
			h[n++] = (struct mps3_kv){ "x-amz-server-side-encryption-aws-kms-key-id", c->sse_kms_key_id };
	} else if (content && c->sse_c_key) {
		h[n++] = (struct mps3_kv){ "x-amz-server-side-encryption-customer-algorithm", "AES256" };
		h[n++] = (struct mps3_kv){ "x-amz-server-side-encryption-customer-key", c->sse_c_key };
		h[n++] = (struct mps3_kv){ "x-amz-server-side-encryption-customer-key-md5", c->sse_c_key_md5 };
	}
	return n;
}
