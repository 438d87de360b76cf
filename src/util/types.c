/*
 * util/types.c - the listing page shared by the S3 parser and the stores.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/types.h"

void mps3_listing_init(struct mps3_listing *l)
{
	memset(l, 0, sizeof(*l));
}

void mps3_listing_dispose(struct mps3_listing *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].key);
	free(l->v);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

int mps3_listing_add(struct mps3_listing *l, const char *key, size_t keylen,
		     const struct mps3_objinfo *info)
{
	struct mps3_list_entry *e;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct mps3_list_entry *v = realloc(l->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = ncap;
	}
	e = &l->v[l->n];
	e->key = strndup(key, keylen);
	if (!e->key)
		return -ENOMEM;
	if (info)
		e->info = *info;
	else
		memset(&e->info, 0, sizeof(e->info));
	l->n++;
	return 0;
}
