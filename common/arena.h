/*
 * arena.h: memory handed out by moving an offset, and taken back all at once.
 *
 * A scope's SQL tables gain entries one by one while it runs and are all dropped when it ends.
 * From malloc, every entry was a call to malloc and a later call to free, both cold after a
 * request's own work: in the Django benchmark view, some thirty pairs per request. An arena
 * hands each entry out of a chunk by moving an offset, and a reset drops them all at once. The
 * first chunk survives a reset, so an owner that is reused (the SQL state of the last scope)
 * allocates nothing at all for a typical request.
 *
 * Raw memory (rawalloc.h), never PyMem: hooks allocate from arenas. Not thread-safe: an arena
 * belongs to one owner, protected by whatever protects that owner.
 */
#ifndef RS_ARENA_H
#define RS_ARENA_H

#include <stddef.h>

typedef struct rs_arena_chunk rs_arena_chunk;

typedef struct {
    rs_arena_chunk *chunks; /* The chunk allocated from, first; then the older ones. */
    rs_arena_chunk *kept;   /* The first chunk ever made: kept by a reset. */
} rs_arena;

/* An empty arena; it allocates nothing until the first rs_arena_alloc. */
#define RS_ARENA_EMPTY ((rs_arena){NULL, NULL})

/* `size` bytes aligned to 16, uninitialised, valid until the next reset or release; NULL when
 * out of memory (the arena is then unchanged). */
void *rs_arena_alloc(rs_arena *arena, size_t size);

/* As rs_arena_alloc, for `count` elements of `size` bytes, zeroed; NULL also on overflow. */
void *rs_arena_calloc(rs_arena *arena, size_t count, size_t size);

/* A NUL-terminated copy of the first `length` bytes of `text`, or NULL. */
char *rs_arena_strndup(rs_arena *arena, const char *text, size_t length);

/* Takes back everything allocated; keeps the first chunk for what comes next. */
void rs_arena_reset(rs_arena *arena);

/* Takes back everything and frees all chunks; the arena is empty again. */
void rs_arena_release(rs_arena *arena);

/* Done with `owner`, raw memory (rawalloc.h) that holds `arena`: when `*spare` is empty, the
 * owner goes there for its next user, its arena reset (the first chunk kept); otherwise the
 * arena and the owner are freed. */
void rs_arena_retire(rs_arena *arena, void *owner, void **spare);

#endif /* RS_ARENA_H */
