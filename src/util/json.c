/*
 * json.c - a counting allocator under jansson, so that a parse that ran
 * out of memory is not taken for bad input (see mps3/json.h).
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "mps3/json.h"

static json_malloc_t beneath = malloc, installed = malloc;
static json_free_t beneath_free = free, installed_free = free;
static int can_wipe;	/* the allocator beneath is libc's: malloc_usable_size() knows its blocks */
static _Thread_local unsigned long failed;
static _Thread_local int guarded, failed_guarded, wiping;

/*
 * Once an allocation has failed inside a parse or a dump, every later one
 * in it fails too: jansson 2.14's lexer ignores a failure to grow its
 * token buffer and then decodes the short buffer as if it were whole,
 * writing past the end (seen under valgrind); an allocation after it
 * refused makes it give up cleanly.
 */
static void *counting_malloc(size_t n)
{
	void *p = guarded && failed_guarded ? NULL : beneath(n);

	if (!p) {
		failed++;
		failed_guarded = guarded;
	}
	return p;
}

/* While a thread handles secrets (mps3_json_wipe_frees), what jansson frees in it is zeroed first. */
static void counting_free(void *p)
{
	if (p && wiping && can_wipe)
		explicit_bzero(p, malloc_usable_size(p));
	beneath_free(p);
}

/*
 * Before main and before any other thread: chain to what is installed
 * (a program may have set its own), so a block is always freed by the
 * free that goes with its malloc.
 */
__attribute__((constructor)) static void install(void)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	if (m == counting_malloc)
		return;
	beneath = installed = m ? m : malloc;
	beneath_free = installed_free = f ? f : free;
	can_wipe = beneath == malloc && beneath_free == free;
	json_set_alloc_funcs(counting_malloc, counting_free);
}

/* Unloaded (dlclose of libmps3.so): jansson must not call into code that is gone. */
__attribute__((destructor)) static void uninstall(void)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	if (m == counting_malloc)
		json_set_alloc_funcs(installed, installed_free);
}

unsigned long mps3_json_failed_allocs(void)
{
	return failed;
}

void mps3_json_set_allocator(void *(*fn)(size_t))
{
	beneath = fn ? fn : installed;
}

void mps3_json_set_free(void (*fn)(void *))
{
	beneath_free = fn ? fn : installed_free;
}

int mps3_json_wipe_frees(int on)
{
	int was = wiping;

	wiping = on;
	return was;
}

/* A guarded call: allocations counted from here, and the first failure makes every later one fail. */
static unsigned long guard_begin(void)
{
	guarded = 1;
	failed_guarded = 0;
	return failed;
}

/* The end of it: whether an allocation failed during it. */
static int guard_end(unsigned long before)
{
	guarded = 0;
	return failed != before;
}

json_t *mps3_json_loadb(const char *doc, size_t len, size_t flags, json_error_t *jerr, int *err)
{
	unsigned long before = guard_begin();
	json_t *j = json_loadb(doc ? doc : "", len, flags, jerr);
	int oom = guard_end(before);

	if (j && oom) {
		json_decref(j); /* it got by, but on what? */
		j = NULL;
	}
	*err = j ? 0 : oom ? -ENOMEM : -EINVAL;
	return j;
}

char *mps3_json_dumps(const json_t *j, size_t flags)
{
	unsigned long before = guard_begin();
	char *s = json_dumps(j, flags);

	if (guard_end(before) && s) {
		counting_free(s); /* jansson 2.14 drops an object key it could not append and goes on */
		s = NULL;
	}
	return s;
}

int mps3_json_dump_callback(const json_t *j, json_dump_callback_t fn, void *data, size_t flags)
{
	unsigned long before = guard_begin();
	int rc = json_dump_callback(j, fn, data, flags);

	return guard_end(before) || rc ? -1 : 0;
}
