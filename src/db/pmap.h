/*
 * db/pmap.h - a compact map of paths to values (db/pmap.c), the manifest's
 * resolved map: one record per path holding the path once and the value
 * packed (struct mps3_packed) when it is an ordinary entry, else the JSON
 * value itself.  Values come out as new JSON references built on demand.
 * Not thread-safe (the manifest's caller serialises).  Not installed.
 */
#ifndef MPS3_DB_PMAP_H
#define MPS3_DB_PMAP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mps3/manifest.h"
#include "mps3/slab.h"

struct pmap_rec;

struct pmap {
	struct pmap_rec **b;
	size_t nb, n;
	size_t removed;		/* records freed since the last trim */
	struct mps3_slab slab;	/* the records */
};

void db_pmap_init(struct pmap *m);
void db_pmap_dispose(struct pmap *m);
/* The value at path (new reference) or NULL (absent, or -ENOMEM: *err set when err is given). */
json_t *db_pmap_get(const struct pmap *m, const char *path, int *err);
int db_pmap_has(const struct pmap *m, const char *path);
/* Set path to v (borrowed; NULL removes).  0 or -ENOMEM (the map unchanged). */
int db_pmap_put(struct pmap *m, const char *path, json_t *v);
/* Add path = p, a path not in the map.  0, -EEXIST or -ENOMEM (the map unchanged). */
int db_pmap_add_packed(struct pmap *m, const char *path, const struct mps3_packed *p);
/* Every path in no particular order; fn's value is borrowed for the call; a non-zero return stops. */
int db_pmap_foreach(const struct pmap *m, int (*fn)(const char *path, json_t *v, void *ctx), void *ctx);
/* The same without building values: fn gets the packed value (p) or the JSON one (j), the other NULL. */
int db_pmap_foreach_raw(const struct pmap *m, mps3_raw_fn fn, void *ctx);
/* Remove every path for which drop (given its value, borrowed) returns non-zero (out of memory: kept). */
void db_pmap_prune(struct pmap *m, int (*drop)(const char *path, json_t *v, void *ctx), void *ctx);
/* Members of a JSON object's text, one record at a time (db_pmap_foreach_raw's fn; ctx a struct pmap_text). */
struct pmap_text {
	struct mps3_buf *b;
	int first;	/* no member written yet */
	int err;	/* what the append inside json_dump_callback said */
};
int db_pmap_text_member(const char *path, const struct mps3_packed *p, json_t *j, void *ctx);
/* A JSON object of every path (new reference), NULL on -ENOMEM. */
json_t *db_pmap_to_json(const struct pmap *m);
/* Give the system back what the allocator keeps free after a large removal. */
void db_pmap_trim(void);

#endif
