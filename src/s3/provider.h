/*
 * s3/provider.h - inside a credential source (s3/provider.c): its state,
 * and the fetchers of each kind (s3/creds_fetch.c).
 */
#ifndef MPS3_S3_PROVIDER_H
#define MPS3_S3_PROVIDER_H

#include <pthread.h>
#include <stdint.h>

#include "mps3/buf.h"
#include "mps3/s3.h"

enum creds_kind { K_PROCESS, K_CONTAINER, K_IMDS, K_WEB_IDENTITY, K_ASSUME_ROLE, K_SSO };

struct mps3_creds {
	int refs;			/* atomic */
	pthread_mutex_t lock;
	enum creds_kind kind;
	char *name;			/* what the keys come from, for messages */
	struct mps3_creds_spec spec;	/* owned copies */
	struct mps3_creds *source;	/* AssumeRole's own credentials, if they expire */
	/* The current keys; protected by lock. */
	char *ak, *sk, *tok;
	int64_t expires_ms;		/* wall clock; INT64_MAX: never */
	int64_t fetched_ms;
	int64_t retry_ms;		/* no fetch before this after a failure */
	int fetching;			/* a thread is fetching (unlocked); the others may wait on cond */
	pthread_cond_t cond;
	char why[512];			/* the last failure */
};

/* Keys as fetched: malloc'd, secrets wiped on dispose. */
struct creds_keys {
	char *ak, *sk, *tok;
	int64_t expires_ms;		/* INT64_MAX: never */
};

void mps3_creds_keys_dispose(struct creds_keys *k);
/* New keys from the source, of its kind.  0 or -errno with detail (never a secret). */
int mps3_creds_fetch(struct mps3_creds *c, struct creds_keys *k);
int64_t mps3_creds_now_ms(void);
/* From credential_process (s3/creds_process.c). */
int mps3_creds_fetch_process(struct mps3_creds *c, struct creds_keys *k);
/*
 * {"AccessKeyId", "SecretAccessKey", token_field, "Expiration"} (with
 * "Version": 1 when token_field is "SessionToken", credential_process's
 * format); an absent Expiration only where need_exp is 0.
 */
int mps3_creds_keys_from_json(struct creds_keys *k, const struct mps3_buf *doc, const char *token_field,
			      int need_exp);
/* free() after wiping: for strings that held a secret. */
void mps3_creds_wipe_free(char *s);
void mps3_creds_wipe_buf(struct mps3_buf *b);

#endif
