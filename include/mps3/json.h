/*
 * mps3/json.h - jansson's parser with its two failures told apart.
 *
 * jansson reports an allocation that failed while parsing as a syntax
 * error ("invalid token", "string or '}' expected"), or with no code at
 * all, so a good document read under memory pressure looks malformed; and
 * its writer can return a text with a piece missing.
 * Every reader here that judges bucket objects or journal records would
 * then skip, delete or replace something that was fine.  This module puts
 * a counting allocator under jansson (chained to whatever allocator was
 * installed before, at load time) and answers -ENOMEM when an allocation
 * failed in the calling thread during the parse.  Thread-safe.
 *
 * A program that installs its own jansson allocator after this library
 * is loaded replaces the counting one, and out of memory reads as bad
 * input again: chain to the one json_get_alloc_funcs() gives instead.
 */
#ifndef MPS3_JSON_H
#define MPS3_JSON_H

#include <stddef.h>

#include <jansson.h>

/*
 * json_loadb(doc, len, flags, jerr).  NULL on failure with *err -ENOMEM
 * (an allocation failed: the document may be good) or -EINVAL (jerr says
 * what is wrong with it).  Records no detail: the caller knows what it was
 * reading.  jerr may be NULL.
 */
json_t *mps3_json_loadb(const char *doc, size_t len, size_t flags, json_error_t *jerr, int *err);

/*
 * json_dumps(j, flags), or NULL when any allocation failed during it:
 * jansson 2.14 then leaves an object key out of its text and returns the
 * rest as if it were whole ({"path":"q",":{...}), which a journal or the
 * bucket would keep.  malloc'd (free it with free()).
 */
char *mps3_json_dumps(const json_t *j, size_t flags);

/*
 * json_dump_callback(j, fn, data, flags), -1 also when an allocation
 * failed during it.  fn must keep its own failure (the same jansson goes
 * on after a key fn refused): fail every call after the first failure.
 */
int mps3_json_dump_callback(const json_t *j, json_dump_callback_t fn, void *data, size_t flags);

/* How many jansson allocations have failed in the calling thread, ever: compare two readings. */
unsigned long mps3_json_failed_allocs(void);

/*
 * The allocator beneath the counting one (the one installed before this
 * library loaded, malloc by default), for tests that inject failures.
 * Call it with NULL to restore.  Not thread-safe against concurrent parses.
 * fn must hand out blocks of libc's malloc (it may fail, or calloc): when
 * the one installed at load was libc's, the wipe below takes their size
 * from malloc_usable_size().
 */
void mps3_json_set_allocator(void *(*fn)(size_t));
/* The same for the free beneath (fn must end in libc's free); NULL restores. */
void mps3_json_set_free(void (*fn)(void *));

/*
 * While on (non-zero), in the calling thread, every block jansson frees is
 * zeroed first - the parser's buffers and every value, the strings of a
 * reply that holds credentials among them - when the allocator beneath is
 * libc's (it knows each block's size).  Returns the previous setting:
 * restore it when done, after the last json_decref of the secrets.
 */
int mps3_json_wipe_frees(int on);

#endif
