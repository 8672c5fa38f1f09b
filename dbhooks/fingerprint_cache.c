/*
 * fingerprint_cache.c: the fingerprint cache of fingerprint_cache.h.
 *
 * A slot holds a statement text's length, two independent 64-bit hashes of its bytes, and its
 * fingerprint; a lookup hashes the bytes eight at a time, goes to the slot the first hash
 * names, and compares length and both hashes. The text itself is not kept: a statement may
 * carry literal values, and reqscope keeps no values unless asked (its normalized text has
 * them replaced). Two different texts of one length with both hashes equal, the only way to
 * get a wrong answer, is a 2^-128 event. Either way the caller gets a copy of the fingerprint
 * whose text is in the caller's arena (the scope's SQL state's): a statement's fingerprint
 * then costs no malloc and no free, where a copy of its own was both, cold, twice per
 * statement when two layers see it. The slots are raw memory (rawalloc.h), never PyMem.
 */
#include "fingerprint_cache.h"

#include <string.h>

typedef struct {
    uint64_t hash, check;  /* Two hashes of the statement's bytes. */
    size_t length;         /* Of the statement. */
    int used;              /* 0 for an empty slot. */
    rs_fingerprint result; /* Its fingerprint (owned). */
} cache_slot;

static cache_slot slots[RS_FP_CACHE_SLOTS];

/* Mixes one more 64-bit word into a hash. */
static inline uint64_t
mix(uint64_t hash, uint64_t word, uint64_t multiplier)
{
    hash = (hash ^ word) * multiplier;
    return hash ^ (hash >> 32);
}

/* Two independent hashes of `length` bytes, eight at a time (slot index and check; not the
 * fingerprint's id). */
static void
text_hashes(const char *text, size_t length, uint64_t *hash, uint64_t *check)
{
    uint64_t first = 0x9e3779b97f4a7c15ull ^ length, second = 0x243f6a8885a308d3ull ^ length;
    size_t i = 0;
    for (; i + 8 <= length; i += 8) {
        uint64_t word;
        memcpy(&word, text + i, 8);
        first = mix(first, word, 0xff51afd7ed558ccdull);
        second = mix(second, word, 0xc4ceb9fe1a85ec53ull);
    }
    uint64_t tail = 0;
    memcpy(&tail, text + i, length - i);
    *hash = mix(first, tail, 0xff51afd7ed558ccdull);
    *check = mix(second, tail, 0xc4ceb9fe1a85ec53ull);
}

/* `from` in `to`, its text copied into `arena`. Returns 0, or -1 when out of memory. */
static int
copy_fingerprint(const rs_fingerprint *from, rs_arena *arena, rs_fingerprint *to)
{
    *to = *from;
    to->text = rs_arena_strndup(arena, from->text, from->length);
    if (to->text == NULL) {
        memset(to, 0, sizeof(*to));
        return -1;
    }
    return 0;
}

int
rs_fp_cache_normalize(const char *sql, size_t length, rs_arena *arena, rs_fingerprint *out)
{
    uint64_t hash = 0, check = 0;
    cache_slot *slot = NULL; /* Where the result is kept; NULL for a text too long to keep. */
    if (length <= RS_FP_CACHE_MAX_TEXT) {
        text_hashes(sql, length, &hash, &check);
        slot = &slots[hash % RS_FP_CACHE_SLOTS];
        if (slot->used && slot->hash == hash && slot->check == check && slot->length == length) {
            return copy_fingerprint(&slot->result, arena, out);
        }
    }
    rs_fingerprint made;
    if (rs_fp_normalize(sql, length, &made) < 0) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    int copied = copy_fingerprint(&made, arena, out);
    if (slot == NULL) {
        rs_fp_release(&made);
        return copied;
    }
    /* Kept for next time, even when the caller's copy could not be made. */
    rs_fp_release(&slot->result);
    slot->result = made;
    slot->used = 1;
    slot->hash = hash;
    slot->check = check;
    slot->length = length;
    return copied;
}
