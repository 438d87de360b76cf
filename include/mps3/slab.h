/*
 * mps3/slab.h - small objects of many sizes in mmap'ed chunks of their own
 * size class, so that what a big structure (the resolved map, the tree)
 * holds is not interleaved with the short-lived allocations made while it
 * is built (a checkpoint's JSON), and a chunk whose objects are all freed
 * goes back to the system at once.
 *
 * Not thread-safe: the owner of a slab serialises its calls.  Objects of
 * more than MPS3_SLAB_MAX bytes come from malloc.  The size given to
 * mps3_slab_free() must be the one given to mps3_slab_alloc().
 */
#ifndef MPS3_SLAB_H
#define MPS3_SLAB_H

#include <stddef.h>

#define MPS3_SLAB_MAX 512
#define MPS3_SLAB_ALIGN 8
#define MPS3_SLAB_CLASSES (MPS3_SLAB_MAX / MPS3_SLAB_ALIGN)

struct mps3_slab_chunk;

struct mps3_slab {
	struct mps3_slab_chunk *partial[MPS3_SLAB_CLASSES]; /* chunks with a free slot, per class */
	size_t chunks;			/* chunks mapped */
};

/* Zeroed storage for size bytes (aligned to MPS3_SLAB_ALIGN, a class every 8 bytes), or NULL (ENOMEM). */
void *mps3_slab_alloc(struct mps3_slab *s, size_t size);
void mps3_slab_free(struct mps3_slab *s, void *p, size_t size);

#endif
