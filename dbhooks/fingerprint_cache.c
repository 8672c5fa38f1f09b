/*
 * fingerprint_cache.c: the fingerprint cache of fingerprint_cache.h.
 *
 * A slot holds a copy of a statement's text, that text's hash, and its fingerprint; a lookup
 * hashes the bytes eight at a time, goes to the slot the hash names, and compares length and
 * bytes, so a hash collision is never a wrong answer. A hit hands out a copy of the fingerprint
 * (its normalized text duplicated), which the caller owns as if rs_fp_normalize had made it;
 * the slot's own copy stays until another text takes the slot. Everything is raw memory
 * (rawalloc.h), never PyMem.
 */
#include "fingerprint_cache.h"

#include <string.h>

#include "rawalloc.h"

typedef struct {
    uint64_t hash;         /* Of the statement's bytes. */
    char *sql;             /* Copy of the statement's text, or NULL for an empty slot. */
    size_t length;         /* Of `sql`. */
    rs_fingerprint result; /* Its fingerprint (owned). */
} cache_slot;

static cache_slot slots[RS_FP_CACHE_SLOTS];

/* A hash of `length` bytes, eight at a time (not the fingerprint's id: only a slot index). */
static uint64_t
text_hash(const char *text, size_t length)
{
    uint64_t hash = 0x9e3779b97f4a7c15ull ^ length;
    size_t i = 0;
    for (; i + 8 <= length; i += 8) {
        uint64_t word;
        memcpy(&word, text + i, 8);
        hash = (hash ^ word) * 0xff51afd7ed558ccdull;
        hash ^= hash >> 32;
    }
    uint64_t tail = 0;
    memcpy(&tail, text + i, length - i);
    hash = (hash ^ tail) * 0xc4ceb9fe1a85ec53ull;
    return hash ^ (hash >> 29);
}

/* A copy of `from` into `to`, its text duplicated. Returns 0, or -1 when out of memory. */
static int
copy_fingerprint(const rs_fingerprint *from, rs_fingerprint *to)
{
    *to = *from;
    to->text = rs_raw_strndup(from->text, from->length);
    if (to->text == NULL) {
        memset(to, 0, sizeof(*to));
        return -1;
    }
    return 0;
}

static void
empty_slot(cache_slot *slot)
{
    rs_raw_free(slot->sql);
    rs_fp_release(&slot->result);
    memset(slot, 0, sizeof(*slot));
}

int
rs_fp_cache_normalize(const char *sql, size_t length, rs_fingerprint *out)
{
    if (length > RS_FP_CACHE_MAX_TEXT) {
        return rs_fp_normalize(sql, length, out);
    }
    uint64_t hash = text_hash(sql, length);
    cache_slot *slot = &slots[hash % RS_FP_CACHE_SLOTS];
    if (slot->sql != NULL && slot->hash == hash && slot->length == length &&
        memcmp(slot->sql, sql, length) == 0) {
        return copy_fingerprint(&slot->result, out);
    }
    if (rs_fp_normalize(sql, length, out) < 0) {
        return -1;
    }
    /* Kept for next time; a copy that cannot be made only leaves the slot empty. */
    empty_slot(slot);
    slot->sql = rs_raw_strndup(sql, length);
    if (slot->sql == NULL || copy_fingerprint(out, &slot->result) < 0) {
        empty_slot(slot);
        return 0;
    }
    slot->hash = hash;
    slot->length = length;
    return 0;
}
