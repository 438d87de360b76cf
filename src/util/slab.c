/*
 * util/slab.c - size-class chunks (see mps3/slab.h).  A chunk is CHUNK
 * bytes aligned to CHUNK, so an object finds its chunk from its address;
 * its slots are handed out from a free list, then from the untouched rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mps3/slab.h"

#define CHUNK ((size_t)256 * 1024)

struct mps3_slab_chunk {
	struct mps3_slab_chunk *next, *prev;	/* in its class's partial list, while it has room */
	void *free;				/* freed slots, linked through their first bytes */
	size_t slot, used, bump, nslots;
	int listed;
};

#define FIRST ((sizeof(struct mps3_slab_chunk) + 15) & ~(size_t)15)

static struct mps3_slab_chunk *chunk_map(size_t slot)
{
	uint8_t *p = mmap(NULL, 2 * CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;
	struct mps3_slab_chunk *c;

	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	if ((uintptr_t)p + 2 * CHUNK > a + CHUNK)
		munmap((void *)(a + CHUNK), (uintptr_t)p + 2 * CHUNK - (a + CHUNK));
	c = (struct mps3_slab_chunk *)a;
	c->slot = slot;
	c->nslots = (CHUNK - FIRST) / slot;
	return c;
}

static void unlist(struct mps3_slab *s, size_t cls, struct mps3_slab_chunk *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->partial[cls] = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	c->listed = 0;
}

static void list(struct mps3_slab *s, size_t cls, struct mps3_slab_chunk *c)
{
	c->prev = NULL;
	c->next = s->partial[cls];
	if (c->next)
		c->next->prev = c;
	s->partial[cls] = c;
	c->listed = 1;
}

/* The size class of size bytes: slots of (class + 1) * MPS3_SLAB_ALIGN. */
static size_t class_of(size_t size)
{
	return size ? (size - 1) / MPS3_SLAB_ALIGN : 0;
}

void *mps3_slab_alloc(struct mps3_slab *s, size_t size)
{
	size_t cls = class_of(size);
	struct mps3_slab_chunk *c;
	void *p;

	if (size > MPS3_SLAB_MAX)
		return calloc(1, size);
	c = s->partial[cls];
	if (!c) {
		c = chunk_map((cls + 1) * MPS3_SLAB_ALIGN);
		if (!c)
			return NULL;
		s->chunks++;
		list(s, cls, c);
	}
	if (c->free) {
		p = c->free;
		memcpy(&c->free, p, sizeof(void *));
	} else {
		p = (uint8_t *)c + FIRST + c->bump * c->slot;
		c->bump++;
	}
	c->used++;
	if (c->used == c->nslots)
		unlist(s, cls, c);
	memset(p, 0, c->slot);
	return p;
}

void mps3_slab_free(struct mps3_slab *s, void *p, size_t size)
{
	size_t cls = class_of(size);
	struct mps3_slab_chunk *c;

	if (!p)
		return;
	if (size > MPS3_SLAB_MAX) {
		free(p);
		return;
	}
	c = (struct mps3_slab_chunk *)((uintptr_t)p & ~(uintptr_t)(CHUNK - 1));
	memcpy(p, &c->free, sizeof(void *));
	c->free = p;
	c->used--;
	if (c->used == 0) {
		if (c->listed)
			unlist(s, cls, c);
		munmap(c, CHUNK);
		s->chunks--;
		return;
	}
	if (!c->listed)
		list(s, cls, c);
}
