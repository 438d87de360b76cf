/*
 * fs/node_entry.c - a tree node's entry: parsed, packed when it is an
 * ordinary one (struct mps3_packed's keys, held in the node's own fields),
 * kept as JSON otherwise, and given back as JSON exactly as it came.
 * Caller holds fs->tree_lock (see tree.h).
 */
#include <errno.h>
#include <string.h>

#include "mps3/hash.h"
#include "tree.h"

/* Nothing: the state every setting starts from. */
static void node_clear(struct node *n)
{
	json_decref(n->json);
	n->json = NULL;
	n->pk_has = 0;
	memset(n->blob, 0, sizeof(n->blob));
	n->type = 0;
	n->mode = n->uid = n->gid = 0;
	n->size = 0;
	n->mtime_ns = 0;
}

static void node_fields(struct node *n, const struct mps3_entry *pe)
{
	n->type = pe->type;
	n->mode = pe->mode;
	n->uid = pe->uid;
	n->gid = pe->gid;
	n->size = pe->size;
	n->mtime_ns = pe->mtime_ns;
}

/*
 * A packed record is held packed when it is a valid entry and e holds its
 * every field exactly: the parse range-checked them (a mode, uid or gid
 * present is never the unset value), and only a file's size is kept.
 */
int mps3fs_packed_fits(const struct mps3_packed *p, struct mps3_entry *e)
{
	return mps3_packed_entry(e, p) == 0 && (e->type == MPS3_FILE || !(p->has & MPS3_PK_SIZE));
}

static void set_packed(struct node *n, const struct mps3_packed *p, const struct mps3_entry *e)
{
	node_clear(n);
	n->has_entry = 1;
	n->valid = 1;
	node_fields(n, e);
	n->pk_has = p->has;
	memcpy(n->blob, p->blob, sizeof(n->blob));
}

/* Content the kernel may cache from an earlier open is this node's only while the blob stays the same. */
static void kept_if_same(struct node *n, const uint8_t was[32])
{
	if (memcmp(was, n->blob, sizeof(n->blob)) != 0)
		n->kept = 0;
}

void mps3fs_node_set_packed(struct node *n, const struct mps3_packed *p, const struct mps3_entry *e)
{
	uint8_t was[32];

	memcpy(was, n->blob, sizeof(was));
	set_packed(n, p, e);
	kept_if_same(n, was);
}

static void set_value(struct node *n, json_t *v);

void mps3fs_node_set_value(struct node *n, json_t *v)
{
	uint8_t was[32];

	memcpy(was, n->blob, sizeof(was));
	set_value(n, v);
	kept_if_same(n, was);
}

static void set_value(struct node *n, json_t *v)
{
	struct mps3_entry pe, fit;
	struct mps3_packed pk;

	node_clear(n);
	n->has_entry = v != NULL;
	n->valid = v && mps3_entry_parse(&pe, v) == 0;
	if (!n->valid) {
		n->type = MPS3_DIR;
		n->mode = MPS3_UNSET_MODE;
		n->uid = MPS3_UNSET_ID;
		n->gid = MPS3_UNSET_ID;
		n->json = v; /* malformed: kept as it is */
		return;
	}
	if (mps3_packed_from_json(&pk, v) && mps3fs_packed_fits(&pk, &fit)) {
		set_packed(n, &pk, &fit);
		json_decref(v); /* node_packed() gives it back exactly */
		return;
	}
	node_fields(n, &pe);
	n->json = v;
	if (pe.type == MPS3_FILE)
		mps3_sha256_unhex(n->blob, pe.blob); /* (the parse checked it) */
}

/* A packed node's entry as struct mps3_packed. */
static void node_packed(const struct node *n, struct mps3_packed *p)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->blob, n->blob, sizeof(p->blob));
	p->size = (int64_t)n->size;
	p->mtime = n->mtime_ns;
	p->mode = n->mode;
	p->uid = n->uid;
	p->gid = n->gid;
	p->type = (char)n->type;
	p->has = n->pk_has;
}

int mps3fs_node_entry(const struct node *n, json_t **out)
{
	struct mps3_packed p;

	*out = NULL;
	if (!n->has_entry)
		return 0;
	if (n->json) {
		*out = json_incref(n->json);
		return 0;
	}
	node_packed(n, &p);
	*out = mps3_packed_to_json(&p);
	return *out ? 0 : -ENOMEM;
}

const char *mps3fs_node_blob(const struct node *n, char buf[65])
{
	buf[0] = '\0';
	if (n->valid && n->type == MPS3_FILE)
		mps3_hex(buf, n->blob, sizeof(n->blob));
	return buf;
}

const char *mps3fs_node_chunks(const struct node *n, char buf[65])
{
	struct mps3_entry pe;

	buf[0] = '\0';
	if (n->valid && n->type == MPS3_FILE && n->json && mps3_entry_parse(&pe, n->json) == 0)
		memcpy(buf, pe.chunks, sizeof(pe.chunks));
	return buf;
}

const char *mps3fs_node_target(const struct node *n)
{
	if (!n->valid || !n->json || n->type != MPS3_LINK)
		return NULL;
	return json_string_value(json_object_get(n->json, "target")); /* (checked by the parse) */
}

json_t *mps3fs_node_xattr(const struct node *n)
{
	json_t *x = n->valid && n->json ? json_object_get(n->json, "xattr") : NULL;

	return json_is_object(x) ? x : NULL;
}

int64_t mps3fs_node_atime(const struct node *n)
{
	json_t *a = n->valid && n->json ? json_object_get(n->json, "atime") : NULL;

	return json_is_integer(a) ? json_integer_value(a) : 0;
}

uint64_t mps3fs_node_rdev(const struct node *n)
{
	json_t *r;

	if (!n->valid || !n->json || (n->type != MPS3_CHR && n->type != MPS3_BLK))
		return 0;
	r = json_object_get(n->json, "rdev");
	return json_is_integer(r) ? (uint64_t)json_integer_value(r) : 0;
}

/* The same fields with the same values (a field's value counts only where it is present). */
static int packed_equal(const struct mps3_packed *p, const struct mps3_packed *q)
{
	uint8_t h = p->has;

	return h == q->has && (!(h & MPS3_PK_TYPE) || p->type == q->type) &&
	       (!(h & MPS3_PK_SIZE) || p->size == q->size) && (!(h & MPS3_PK_MTIME) || p->mtime == q->mtime) &&
	       (!(h & MPS3_PK_MODE) || p->mode == q->mode) && (!(h & MPS3_PK_UID) || p->uid == q->uid) &&
	       (!(h & MPS3_PK_GID) || p->gid == q->gid) &&
	       (!(h & MPS3_PK_BLOB) || memcmp(p->blob, q->blob, sizeof(p->blob)) == 0);
}

int mps3fs_node_entry_is(const struct node *n, json_t *v)
{
	struct mps3_packed p, q;
	json_t *cur;
	int eq;

	if (!n->has_entry)
		return 0;
	if (n->json)
		return json_equal(n->json, v);
	if (mps3_packed_from_json(&p, v)) {
		node_packed(n, &q);
		return packed_equal(&p, &q);
	}
	if (mps3fs_node_entry(n, &cur))
		return 0; /* out of memory: taken as a change, which is only more work */
	eq = json_equal(cur, v);
	json_decref(cur);
	return eq;
}

int mps3fs_node_packed_is(const struct node *n, const struct mps3_packed *p)
{
	struct mps3_packed q;
	json_t *v;
	int eq;

	if (!n->has_entry)
		return 0;
	if (n->json) {
		/* The same entry may be held as JSON with its keys in another order, which packs not. */
		v = mps3_packed_to_json(p);
		eq = v && json_equal(n->json, v);
		json_decref(v);
		return eq;
	}
	node_packed(n, &q);
	return packed_equal(p, &q);
}
