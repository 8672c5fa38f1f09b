/*
 * keyset.h: a set of 64-bit keys in an arena, with a cap.
 *
 * Open addressing with linear probing over a power-of-two array, grown at 50% load. Keys are
 * hashes already, so they are used as their own slot index. Zero marks an empty slot; a zero
 * key is stored as 1 (a 2^-64 collision we accept). At `cap` keys the set stops growing and
 * refuses new keys, which the caller counts as dropped. Its arrays come from the owner's arena
 * (arena.h): an outgrown array stays there until the arena is reset, which frees the set.
 */
#ifndef RS_KEYSET_H
#define RS_KEYSET_H

#include <stdint.h>

#include "arena.h"

typedef struct {
    uint64_t *slots; /* Capacity entries, 0 = empty; NULL until the first insert. */
    uint64_t mask;   /* Capacity - 1. */
    uint64_t count;  /* Keys stored. */
    uint64_t cap;    /* Most keys ever stored. */
    rs_arena *arena; /* Where the arrays come from. */
} rs_keyset;

typedef enum { RS_KEYSET_PRESENT = 0, RS_KEYSET_ADDED = 1, RS_KEYSET_FULL = -1 } rs_keyset_result;

/* An empty set of at most `cap` keys, its arrays from `arena`; the arena's reset frees it. */
static inline void
rs_keyset_init(rs_keyset *set, uint64_t cap, rs_arena *arena)
{
    set->slots = NULL;
    set->mask = 0;
    set->count = 0;
    set->cap = cap;
    set->arena = arena;
}

/* Places `key` (not 0, not present) in `slots`. */
static inline void
rs__keyset_place(uint64_t *slots, uint64_t mask, uint64_t key)
{
    uint64_t index = key & mask;
    while (slots[index] != 0) {
        index = (index + 1) & mask;
    }
    slots[index] = key;
}

/* Adds `key`. Returns whether it was present, added, or refused (cap reached or no memory;
 * the set is then unchanged). */
static inline rs_keyset_result
rs_keyset_add(rs_keyset *set, uint64_t key)
{
    key = key ? key : 1;
    if (set->slots != NULL) {
        uint64_t index = key & set->mask;
        while (set->slots[index] != 0) {
            if (set->slots[index] == key) {
                return RS_KEYSET_PRESENT;
            }
            index = (index + 1) & set->mask;
        }
    }
    if (set->count >= set->cap) {
        return RS_KEYSET_FULL;
    }
    if (set->slots == NULL || (set->count + 1) * 2 > set->mask + 1) {
        uint64_t capacity = set->slots ? (set->mask + 1) * 2 : 16;
        uint64_t *slots =
            (uint64_t *)rs_arena_calloc(set->arena, (size_t)capacity, sizeof(uint64_t));
        if (slots == NULL) {
            return RS_KEYSET_FULL;
        }
        for (uint64_t i = 0; set->slots != NULL && i <= set->mask; i++) {
            if (set->slots[i] != 0) {
                rs__keyset_place(slots, capacity - 1, set->slots[i]);
            }
        }
        set->slots = slots;
        set->mask = capacity - 1;
    }
    rs__keyset_place(set->slots, set->mask, key);
    set->count++;
    return RS_KEYSET_ADDED;
}

#endif /* RS_KEYSET_H */
