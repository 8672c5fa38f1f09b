/*
 * arena_hash.h: uthash tables that live in their owner's arena (arena.h), uthash's own
 * allocations (the table and its buckets) included, so nothing of them is freed before the
 * arena's reset. Included after uthash.h by a file whose every table is such a table; each add
 * goes through RS_ARENA_HASH_ADD, which names the arena first. The arena named is the file's
 * own (a static): whatever protects the tables of that file (the GIL, the sampler's lock)
 * protects it.
 */
#ifndef RS_ARENA_HASH_H
#define RS_ARENA_HASH_H

#include "arena.h"
#include "rawalloc.h"

/* The arena of the table being added to; set by RS_ARENA_HASH_ADD only. */
static rs_arena *rs__hash_arena;

#undef uthash_malloc
#undef uthash_free
#define uthash_malloc(size) rs_arena_alloc(rs__hash_arena, size)
#define uthash_free(ptr, size) ((void)(ptr))

/* HASH_ADD(hh, head, field, keylen, entry) with uthash's allocations from `arena`; an add that
 * ran out of memory leaves the entry in no table, which RS_HASH_ADD_FAILED(entry) tells. */
#define RS_ARENA_HASH_ADD(arena, head, field, keylen, entry) \
    do {                                                     \
        rs__hash_arena = (arena);                            \
        HASH_ADD(hh, head, field, keylen, entry);            \
    } while (0)

#endif /* RS_ARENA_HASH_H */
