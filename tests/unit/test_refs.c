/*
 * The set of blobs a collection keeps (src/db/refs.c): what it takes from
 * values, packed records and hex names, and what it finds.
 */
#include <string.h>

#include "mps3/manifest.h"
#include "refs.h"
#include "tap.h"

#define H1 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define H2 "0000000000000000000000000000000000000000000000000000000000000001"
#define H3 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

int main(void)
{
	struct db_refs r;
	struct mps3_packed p;
	json_t *files = json_loads("{\"a\":{\"type\":\"f\",\"blob\":\"" H2 "\",\"chunks\":\"" H3 "\"},"
				   "\"b\":null,\"c\":7,\"d\":{\"blob\":\"" H2 "\"},\"e\":{\"blob\":\"" H1 "x\"},"
				   "\"f\":{\"blob\":\"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\"},"
				   "\"g\":{\"blob\":17}}",
				   0, NULL);
	size_t i;

	db_refs_init(&r);
	tap_ok(!db_refs_has_hex(&r, H1) && db_refs_count(&r) == 0, "an empty set holds nothing");
	db_refs_add_files(&r, files);
	tap_inteq((long long)db_refs_count(&r), 2, "a map's blobs and chunk lists, each once; nothing else");
	tap_ok(db_refs_has_hex(&r, H2) && db_refs_has_hex(&r, H3) && !db_refs_has_hex(&r, H1),
	       "it finds what was named and only that");
	tap_ok(!db_refs_has_hex(&r, "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855") &&
		       !db_refs_has_hex(&r, "notahash") && !db_refs_has_hex(&r, H1 "0"),
	       "a name that is not a lowercase SHA-256 is never held");
	tap_ok(mps3_packed_from_text(&p, "{\"blob\":\"" H1 "\",\"size\":0,\"type\":\"f\"}",
				     strlen("{\"blob\":\"" H1 "\",\"size\":0,\"type\":\"f\"}")),
	       "a packed record");
	db_refs_add_packed(&r, &p);
	tap_ok(db_refs_has_hex(&r, H1), "its blob is added after a lookup sorted the set");
	memset(&p, 0, sizeof(p));
	p.type = 'd';
	p.has = MPS3_PK_TYPE;
	db_refs_add_packed(&r, &p);
	tap_inteq((long long)db_refs_count(&r), 3, "a record with no blob adds nothing");
	for (i = 0; i < 5000; i++) {
		char hex[65];

		snprintf(hex, sizeof(hex), "%064zx", i % 2500);
		db_refs_add_hex(&r, hex);
	}
	tap_inteq((long long)db_refs_count(&r), 2500 + 2, "thousands, twice each: each held once (H2 among them)");
	tap_ok(db_refs_has_hex(&r, "00000000000000000000000000000000000000000000000000000000000009c3") &&
		       !db_refs_has_hex(&r, "00000000000000000000000000000000000000000000000000000000000009c4"),
	       "the last one in, and not one past it");
	tap_inteq(db_refs_err(&r), 0, "nothing lost");
	db_refs_dispose(&r);
	json_decref(files);
	return tap_done();
}
