/*
 * db/refs.h - the set of blobs a collection keeps (db/refs.c): binary
 * SHA-256s gathered from every map, entry and branch object that names
 * one, 32 bytes each, looked up once gathering is done.
 *
 * A failure to add (out of memory) is remembered: a set that lost a name
 * says so (db_refs_err), and the collector deletes no blob then, since a
 * blob missing from the set would be taken as unreferenced.  Not
 * thread-safe.  Not installed.
 */
#ifndef MPS3_DB_REFS_H
#define MPS3_DB_REFS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mps3/manifest.h"

struct db_refs {
	uint8_t (*v)[32];
	size_t n, cap;
	size_t sorted;		/* v[0..sorted) is sorted and without repeats */
	int err;		/* the first failure to add, or 0 */
};

void db_refs_init(struct db_refs *r);
void db_refs_dispose(struct db_refs *r);
/* Add hex when it is a SHA-256 in lowercase hex (else nothing). */
void db_refs_add_hex(struct db_refs *r, const char *hex);
/* The blob and the chunk list a value names (any JSON; not an object: nothing). */
void db_refs_add_value(struct db_refs *r, json_t *v);
/* The same for every value of a files map or patch (an object; else nothing). */
void db_refs_add_files(struct db_refs *r, json_t *files);
/* The blob a packed value names. */
void db_refs_add_packed(struct db_refs *r, const struct mps3_packed *p);
/* The same as scan callbacks (mps3_jscan_fn, mps3_jscan_packed_fn; ctx is the set); they return 0. */
int db_refs_value_fn(const char *path, json_t *v, void *refs);
int db_refs_packed_fn(const char *path, const struct mps3_packed *p, void *refs);
/* 0, or the error that lost a name. */
int db_refs_err(const struct db_refs *r);
/* Whether the set holds hex (sorts what was added since the last lookup). */
int db_refs_has_hex(struct db_refs *r, const char *hex);
/* How many distinct blobs it holds. */
size_t db_refs_count(struct db_refs *r);

#endif
