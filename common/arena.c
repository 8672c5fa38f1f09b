/*
 * arena.c: the chunks behind arena.h.
 *
 * Chunks grow from FIRST_CHUNK_BYTES, each twice the last up to MAX_CHUNK_BYTES, so a large
 * scope makes few of them; a request bigger than a quarter of the chunk it would start gets a
 * chunk of its own, put behind the current one, which goes on serving small requests. What an
 * owner gives up before a reset (an outgrown table) is not reused: at most what the owner holds
 * at its largest, since the tables that use arenas grow by doubling.
 */
#include "arena.h"

#include <stdint.h>
#include <string.h>

#include "rawalloc.h"

struct rs_arena_chunk {
    rs_arena_chunk *next; /* Older chunks. */
    size_t size;          /* Bytes in data. */
    size_t used;          /* Bytes handed out from data. */
    _Alignas(16) char data[];
};

/* The first chunk holds a typical request's SQL tables (3 statements take about 5 KiB). */
#define FIRST_CHUNK_BYTES (16 * 1024)
#define MAX_CHUNK_BYTES (1024 * 1024)
#define ALIGNMENT 16

static rs_arena_chunk *
new_chunk(size_t size)
{
    if (size > SIZE_MAX - sizeof(rs_arena_chunk)) {
        return NULL;
    }
    rs_arena_chunk *chunk = (rs_arena_chunk *)rs_raw_malloc(sizeof(rs_arena_chunk) + size);
    if (chunk != NULL) {
        chunk->next = NULL;
        chunk->size = size;
        chunk->used = 0;
    }
    return chunk;
}

void *
rs_arena_alloc(rs_arena *arena, size_t size)
{
    if (size > SIZE_MAX - ALIGNMENT) {
        return NULL;
    }
    size = (size + ALIGNMENT - 1) & ~(size_t)(ALIGNMENT - 1);
    rs_arena_chunk *current = arena->chunks;
    if (current != NULL && current->size - current->used >= size) {
        void *memory = current->data + current->used;
        current->used += size;
        return memory;
    }
    size_t next_size = current == NULL                        ? FIRST_CHUNK_BYTES
                       : current->size >= MAX_CHUNK_BYTES / 2 ? MAX_CHUNK_BYTES
                                                              : current->size * 2;
    if (current != NULL && size > next_size / 4) {
        /* Its own chunk, behind the current one, which keeps serving small requests. */
        rs_arena_chunk *own = new_chunk(size);
        if (own == NULL) {
            return NULL;
        }
        own->used = size;
        own->next = current->next;
        current->next = own;
        return own->data;
    }
    rs_arena_chunk *chunk = new_chunk(size > next_size ? size : next_size);
    if (chunk == NULL) {
        return NULL;
    }
    chunk->next = current;
    chunk->used = size;
    arena->chunks = chunk;
    if (arena->kept == NULL) {
        arena->kept = chunk;
    }
    return chunk->data;
}

void *
rs_arena_calloc(rs_arena *arena, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        return NULL;
    }
    void *memory = rs_arena_alloc(arena, count * size);
    if (memory != NULL) {
        memset(memory, 0, count * size);
    }
    return memory;
}

char *
rs_arena_strndup(rs_arena *arena, const char *text, size_t length)
{
    char *copy = length < SIZE_MAX ? (char *)rs_arena_alloc(arena, length + 1) : NULL;
    if (copy != NULL) {
        memcpy(copy, text, length);
        copy[length] = '\0';
    }
    return copy;
}

void
rs_arena_reset(rs_arena *arena)
{
    rs_arena_chunk *chunk = arena->chunks;
    while (chunk != NULL) {
        rs_arena_chunk *next = chunk->next;
        if (chunk != arena->kept) {
            rs_raw_free(chunk);
        }
        chunk = next;
    }
    arena->chunks = arena->kept;
    if (arena->kept != NULL) {
        arena->kept->next = NULL;
        arena->kept->used = 0;
    }
}

void
rs_arena_release(rs_arena *arena)
{
    rs_arena_reset(arena);
    rs_raw_free(arena->kept);
    *arena = RS_ARENA_EMPTY;
}

void
rs_arena_retire(rs_arena *arena, void *owner, void **spare)
{
    if (*spare == NULL) {
        rs_arena_reset(arena);
        *spare = owner;
    }
    else {
        rs_arena_release(arena);
        rs_raw_free(owner);
    }
}
