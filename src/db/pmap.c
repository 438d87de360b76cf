/*
 * db/pmap.c - the compact path map (pmap.h) and the packing of ordinary
 * entries (mps3/manifest.h): a record per path, chained in a hash table
 * that grows and shrinks with the map.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/buf.h"
#include "mps3/hash.h"
#include "mps3/json.h"
#include "pmap.h"

/*
 * A record: the value first and the hash with the packed flag in one word
 * after it, so the path starts at byte 76 (a record of an 11-byte path
 * fills an 88-byte slab slot; with the flag a byte of its own it took 96).
 */
struct pmap_rec {
	struct pmap_rec *next;
	union {
		struct mps3_packed p;
		json_t *j;
	} v;
	uint32_t hash : 31;	/* hash_path() */
	uint32_t packed : 1;
	char path[];
};
#define REC_SIZE(len) (offsetof(struct pmap_rec, path) + (len) + 1)

/* The packed keys, in the (byte) order they must appear. */
static const struct {
	const char *name;
	uint8_t bit;
} pk_keys[] = {
	{ "blob", MPS3_PK_BLOB }, { "gid", MPS3_PK_GID }, { "mode", MPS3_PK_MODE }, { "mtime", MPS3_PK_MTIME },
	{ "size", MPS3_PK_SIZE }, { "type", MPS3_PK_TYPE }, { "uid", MPS3_PK_UID },
};
#define NPK (sizeof(pk_keys) / sizeof(pk_keys[0]))

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A blob name: exactly 64 lowercase hex digits at s (no terminator needed) into out; 0 if not one. */
static int blob_unhex(uint8_t out[32], const char *s, size_t n)
{
	size_t j;

	if (n != 64)
		return 0;
	for (j = 0; j < 32; j++) {
		int hi = hexval(s[2 * j]), lo = hexval(s[2 * j + 1]);

		if (hi < 0 || lo < 0)
			return 0;
		out[j] = (uint8_t)(hi << 4 | lo);
	}
	return 1;
}

static int get_u32(json_t *v, uint32_t *out)
{
	json_int_t i;

	if (!json_is_integer(v))
		return 0;
	i = json_integer_value(v);
	if (i < 0 || i > (json_int_t)UINT32_MAX)
		return 0;
	*out = (uint32_t)i;
	return 1;
}

int mps3_packed_from_json(struct mps3_packed *p, json_t *v)
{
	const char *k;
	json_t *f;
	size_t next = 0, i;

	if (!json_is_object(v))
		return 0;
	memset(p, 0, sizeof(*p));
	json_object_foreach(v, k, f) {
		for (i = next; i < NPK && strcmp(pk_keys[i].name, k) != 0; i++)
			;
		if (i == NPK)
			return 0; /* unknown, or out of order */
		next = i + 1;
		p->has |= pk_keys[i].bit;
		switch (pk_keys[i].bit) {
		case MPS3_PK_BLOB:
			if (!json_is_string(f) || !blob_unhex(p->blob, json_string_value(f), json_string_length(f)))
				return 0;
			break;
		case MPS3_PK_GID:
			if (!get_u32(f, &p->gid))
				return 0;
			break;
		case MPS3_PK_MODE:
			if (!get_u32(f, &p->mode))
				return 0;
			break;
		case MPS3_PK_UID:
			if (!get_u32(f, &p->uid))
				return 0;
			break;
		case MPS3_PK_MTIME:
			if (!json_is_integer(f))
				return 0;
			p->mtime = json_integer_value(f);
			break;
		case MPS3_PK_SIZE:
			if (!json_is_integer(f))
				return 0;
			p->size = json_integer_value(f);
			break;
		case MPS3_PK_TYPE:
			if (!json_is_string(f) || json_string_length(f) != 1 || json_string_value(f)[0] == '\0')
				return 0;
			p->type = json_string_value(f)[0];
			break;
		}
	}
	return 1;
}

/* The decimal integer at *pp (-?(0|[1-9][0-9]*), at most 19 digits, within [min, INT64_MAX]); past it. */
static int text_int(const char **pp, const char *end, int64_t min, int64_t *out)
{
	const char *p = *pp, *d = p + (p < end && *p == '-');
	uint64_t n = 0;

	for (p = d; p < end && *p >= '0' && *p <= '9' && p - d < 20; p++)
		n = n * 10 + (uint64_t)(*p - '0');
	if (p == d || p - d > 19 || n > INT64_MAX || (*d == '0' && p - d > 1))
		return 0;
	*out = d > *pp ? -(int64_t)n : (int64_t)n;
	if (*out < min)
		return 0;
	*pp = p;
	return 1;
}

/* The plain string at *pp (printable ASCII, no escapes): its contents in [*s, *s + *n); past it. */
static int text_str(const char **pp, const char *end, const char **s, size_t *n)
{
	const char *p = *pp;

	if (p == end || *p++ != '"')
		return 0;
	for (*s = p; p < end && *p != '"'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '\\')
			return 0;
	if (p == end)
		return 0;
	*n = (size_t)(p - *s);
	*pp = p + 1;
	return 1;
}

int mps3_packed_from_text(struct mps3_packed *pk, const char *text, size_t len)
{
	const char *p = text, *end = text + len, *k, *sv;
	size_t next = 0, i, kn, n;

	memset(pk, 0, sizeof(*pk));
	if (p == end || *p++ != '{')
		return 0;
	if (p < end && *p == '}')
		return p + 1 == end; /* {} packs too */
	for (;;) {
		int64_t x;

		if (!text_str(&p, end, &k, &kn) || p == end || *p++ != ':')
			return 0;
		for (i = next; i < NPK && !(strlen(pk_keys[i].name) == kn && memcmp(pk_keys[i].name, k, kn) == 0); i++)
			;
		if (i == NPK)
			return 0; /* unknown, out of order or twice: jansson and mps3_packed_from_json decide */
		next = i + 1;
		pk->has |= pk_keys[i].bit;
		switch (pk_keys[i].bit) {
		case MPS3_PK_BLOB:
			if (!text_str(&p, end, &sv, &n) || !blob_unhex(pk->blob, sv, n))
				return 0;
			break;
		case MPS3_PK_TYPE:
			if (!text_str(&p, end, &sv, &n) || n != 1)
				return 0;
			pk->type = sv[0];
			break;
		case MPS3_PK_GID:
		case MPS3_PK_MODE:
		case MPS3_PK_UID: {
			uint8_t bit = pk_keys[i].bit;
			uint32_t *f = bit == MPS3_PK_GID ? &pk->gid : bit == MPS3_PK_MODE ? &pk->mode : &pk->uid;

			if (!text_int(&p, end, 0, &x) || x > (int64_t)UINT32_MAX)
				return 0;
			*f = (uint32_t)x;
			break;
		}
		default: /* MPS3_PK_MTIME, MPS3_PK_SIZE */
			if (!text_int(&p, end, -INT64_MAX, &x))
				return 0;
			*(pk_keys[i].bit == MPS3_PK_MTIME ? &pk->mtime : &pk->size) = x;
			break;
		}
		if (p == end)
			return 0;
		if (*p == '}')
			return p + 1 == end;
		if (*p++ != ',')
			return 0;
	}
}

json_t *mps3_packed_to_json(const struct mps3_packed *p)
{
	json_t *o = json_object();
	char hex[65], t[2] = { p->type, '\0' };
	int rc = 0;

	if (!o)
		return NULL;
	if (p->has & MPS3_PK_BLOB) {
		mps3_hex(hex, p->blob, sizeof(p->blob));
		rc |= json_object_set_new(o, "blob", json_string(hex));
	}
	if (p->has & MPS3_PK_GID)
		rc |= json_object_set_new(o, "gid", json_integer((json_int_t)p->gid));
	if (p->has & MPS3_PK_MODE)
		rc |= json_object_set_new(o, "mode", json_integer((json_int_t)p->mode));
	if (p->has & MPS3_PK_MTIME)
		rc |= json_object_set_new(o, "mtime", json_integer(p->mtime));
	if (p->has & MPS3_PK_SIZE)
		rc |= json_object_set_new(o, "size", json_integer(p->size));
	if (p->has & MPS3_PK_TYPE)
		rc |= json_object_set_new(o, "type", json_string(t));
	if (p->has & MPS3_PK_UID)
		rc |= json_object_set_new(o, "uid", json_integer((json_int_t)p->uid));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ",\"key\":" (the comma unless first) at o; the end. */
static char *put_key(char *o, const char *key, int *first)
{
	size_t n = strlen(key);

	*o++ = *first ? '{' : ',';
	*first = 0;
	*o++ = '"';
	memcpy(o, key, n);
	o += n;
	*o++ = '"';
	*o++ = ':';
	return o;
}

/* v in decimal at o, as printf's %PRId64 writes it; the end. */
static char *put_int(char *o, int64_t v)
{
	char d[20];
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	int n = 0;

	if (v < 0)
		*o++ = '-';
	do {
		d[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n)
		*o++ = d[--n];
	return o;
}

/*
 * The text json_dumps gives the entry (keys in order, compact), written
 * by hand: the state save writes a million of these under the db lock.
 */
int mps3_packed_dump(const struct mps3_packed *p, struct mps3_buf *b)
{
	char text[256], *o = text;
	char t[2] = { p->type, '\0' };
	int first = 1, rc;

	if (p->has & MPS3_PK_BLOB) {
		o = put_key(o, "blob", &first);
		*o++ = '"';
		mps3_hex(o, p->blob, sizeof(p->blob));
		o += 2 * sizeof(p->blob);
		*o++ = '"';
	}
	if (p->has & MPS3_PK_GID)
		o = put_int(put_key(o, "gid", &first), p->gid);
	if (p->has & MPS3_PK_MODE)
		o = put_int(put_key(o, "mode", &first), p->mode);
	if (p->has & MPS3_PK_MTIME)
		o = put_int(put_key(o, "mtime", &first), p->mtime);
	if (p->has & MPS3_PK_SIZE)
		o = put_int(put_key(o, "size", &first), p->size);
	if (p->has & MPS3_PK_TYPE) {
		o = put_key(o, "type", &first);
		/* Any byte, escaped as JSON escapes it: the one part not written here. */
		rc = mps3_buf_append(b, text, (size_t)(o - text));
		if (!rc)
			rc = mps3_buf_json_string(b, t, 1);
		if (rc)
			return rc;
		o = text;
	}
	if (p->has & MPS3_PK_UID)
		o = put_int(put_key(o, "uid", &first), p->uid);
	if (first)
		*o++ = '{';
	*o++ = '}';
	return mps3_buf_append(b, text, (size_t)(o - text));
}

/* FNV-1a of the path, to the 31 bits a record keeps. */
static uint32_t hash_path(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h & 0x7fffffffu;
}

void db_pmap_init(struct pmap *m)
{
	memset(m, 0, sizeof(*m));
}

static void rec_free(struct pmap *m, struct pmap_rec *r)
{
	if (!r->packed)
		json_decref(r->v.j);
	mps3_slab_free(&m->slab, r, REC_SIZE(strlen(r->path)));
}

void db_pmap_dispose(struct pmap *m)
{
	size_t i;

	for (i = 0; i < m->nb; i++) {
		struct pmap_rec *r = m->b[i], *next;

		for (; r; r = next) {
			next = r->next;
			rec_free(m, r);
		}
	}
	free(m->b);
	memset(m, 0, sizeof(*m));
}

static struct pmap_rec **slot(const struct pmap *m, const char *path, uint32_t h)
{
	struct pmap_rec **pp = &m->b[h & (m->nb - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && strcmp((*pp)->path, path) == 0)
			break;
	return pp;
}

static json_t *rec_value(const struct pmap_rec *r)
{
	return r->packed ? mps3_packed_to_json(&r->v.p) : json_incref(r->v.j);
}

json_t *db_pmap_get(const struct pmap *m, const char *path, int *err)
{
	struct pmap_rec *r;
	json_t *v;

	if (err)
		*err = 0;
	if (!m->n)
		return NULL;
	r = *slot(m, path, hash_path(path));
	if (!r)
		return NULL;
	v = rec_value(r);
	if (!v && err)
		*err = -ENOMEM;
	return v;
}

int db_pmap_has(const struct pmap *m, const char *path)
{
	return m->n && *slot(m, path, hash_path(path)) != NULL;
}

/* Rehash into nb buckets (a power of two); on failure the table stays as it was. */
static int resize(struct pmap *m, size_t nb)
{
	struct pmap_rec **b = calloc(nb, sizeof(*b));
	size_t i;

	if (!b)
		return -ENOMEM;
	for (i = 0; i < m->nb; i++) {
		struct pmap_rec *r = m->b[i], *next;

		for (; r; r = next) {
			next = r->next;
			r->next = b[r->hash & (nb - 1)];
			b[r->hash & (nb - 1)] = r;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

/* A record for path (hash h) holding p, or else v (a reference taken); the table grown for it first. */
static struct pmap_rec *rec_new(struct pmap *m, const char *path, uint32_t h, const struct mps3_packed *p, json_t *v)
{
	size_t len = strlen(path);
	struct pmap_rec *r;

	if (m->n >= m->nb && resize(m, m->nb ? m->nb * 2 : 64))
		return NULL;
	r = mps3_slab_alloc(&m->slab, REC_SIZE(len));
	if (!r)
		return NULL;
	r->hash = h;
	r->packed = p != NULL;
	if (p)
		r->v.p = *p;
	else
		r->v.j = json_incref(v);
	memcpy(r->path, path, len + 1);
	return r;
}

int db_pmap_put(struct pmap *m, const char *path, json_t *v)
{
	uint32_t h = hash_path(path);
	struct pmap_rec **pp, *r, *old;
	struct mps3_packed p;
	int packed;

	if (!v) {
		if (!m->n)
			return 0;
		pp = slot(m, path, h);
		if (!*pp)
			return 0;
		old = *pp;
		*pp = old->next;
		rec_free(m, old);
		m->n--;
		if (m->nb > 64 && m->n < m->nb / 8)
			resize(m, m->nb / 4); /* a failure only leaves the table roomier */
		if (++m->removed >= 65536 && m->removed > m->n) {
			db_pmap_trim(); /* the allocator keeps freed small records; give the pages back */
			m->removed = 0;
		}
		return 0;
	}
	packed = mps3_packed_from_json(&p, v);
	r = rec_new(m, path, h, packed ? &p : NULL, v);
	if (!r)
		return -ENOMEM;
	pp = slot(m, path, h);
	old = *pp;
	r->next = old ? old->next : NULL;
	*pp = r;
	if (old)
		rec_free(m, old);
	else
		m->n++;
	return 0;
}

int db_pmap_add_packed(struct pmap *m, const char *path, const struct mps3_packed *p)
{
	uint32_t h = hash_path(path);
	struct pmap_rec **pp, *r;

	if (m->n && *slot(m, path, h))
		return -EEXIST;
	r = rec_new(m, path, h, p, NULL);
	if (!r)
		return -ENOMEM;
	pp = slot(m, path, h); /* (the table may have grown) */
	r->next = NULL;
	*pp = r;
	m->n++;
	return 0;
}

int db_pmap_foreach(const struct pmap *m, int (*fn)(const char *path, json_t *v, void *ctx), void *ctx)
{
	size_t i;

	for (i = 0; i < m->nb; i++) {
		const struct pmap_rec *r;

		for (r = m->b[i]; r; r = r->next) {
			json_t *v = rec_value(r);
			int rc;

			if (!v)
				return -ENOMEM;
			rc = fn(r->path, v, ctx);
			json_decref(v);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int text_raw(const char *p, size_t n, void *ctx)
{
	struct pmap_text *t = ctx;

	/* Sticky: jansson 2.14 ignores a failed append of an object key and goes on. */
	if (!t->err)
		t->err = mps3_buf_append(t->b, p, n);
	return t->err ? -1 : 0;
}

int db_pmap_text_member(const char *path, const struct mps3_packed *p, json_t *j, void *ctx)
{
	struct pmap_text *t = ctx;
	int rc = t->first ? 0 : mps3_buf_append(t->b, ",", 1);

	t->first = 0;
	if (!rc)
		rc = mps3_buf_json_string(t->b, path, strlen(path));
	if (!rc)
		rc = mps3_buf_append(t->b, ":", 1);
	if (!rc && p)
		rc = mps3_packed_dump(p, t->b);
	else if (!rc && (mps3_json_dump_callback(j, text_raw, t, JSON_COMPACT | JSON_ENCODE_ANY) || t->err))
		rc = t->err ? t->err : -ENOMEM;
	return rc;
}

int db_pmap_foreach_raw(const struct pmap *m, mps3_raw_fn fn, void *ctx)
{
	size_t i;

	for (i = 0; i < m->nb; i++) {
		const struct pmap_rec *r;

		for (r = m->b[i]; r; r = r->next) {
			int rc = r->packed ? fn(r->path, &r->v.p, NULL, ctx) : fn(r->path, NULL, r->v.j, ctx);

			if (rc)
				return rc;
		}
	}
	return 0;
}

void db_pmap_prune(struct pmap *m, int (*drop)(const char *path, json_t *v, void *ctx), void *ctx)
{
	size_t i;

	for (i = 0; i < m->nb; i++) {
		struct pmap_rec **pp = &m->b[i];

		while (*pp) {
			struct pmap_rec *r = *pp;
			json_t *v = rec_value(r);
			int d = v && drop(r->path, v, ctx);

			json_decref(v);
			if (d) {
				*pp = r->next;
				rec_free(m, r);
				m->n--;
			} else {
				pp = &r->next;
			}
		}
	}
	if (m->nb > 64 && m->n < m->nb / 8)
		resize(m, m->nb / 4);
}

static int add_to(const char *path, json_t *v, void *ctx)
{
	return json_object_set(ctx, path, v) ? -ENOMEM : 0;
}

json_t *db_pmap_to_json(const struct pmap *m)
{
	json_t *o = json_object();

	if (o && db_pmap_foreach(m, add_to, o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

void db_pmap_trim(void)
{
	malloc_trim(0);
}
