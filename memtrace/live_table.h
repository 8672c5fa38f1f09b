/*
 * live_table.h: the sampled allocations that are still alive, by address.
 *
 * The memory tracer's free hook looks up every freed pointer here, and almost none were
 * sampled, so a miss must be cheap: open addressing over a power-of-two array of 16-byte
 * slots (four to a cache line), keyed by the address, probed linearly, kept at most 3/4 full.
 * A miss reads the home slot and the few after it: one or two cache lines, and most misses
 * do not get that far: a 2 KiB bit filter in front answers them from one bit. Removal shifts
 * the following entries back instead of leaving tombstones, so probe runs stay as short as the load
 * allows however long the process runs. The capacity is fixed when the table is made (the cap on
 * live samples): when full, new samples are refused and counted, never grown into from inside an
 * allocator. The array is raw memory (rawalloc.h), never PyMem. Not thread-safe: the tracer calls
 * it with the GIL held, which every PyMem MEM or OBJ call holds.
 */
#ifndef RS_LIVE_TABLE_H
#define RS_LIVE_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uintptr_t address; /* 0 = empty. */
    uint64_t value;    /* What the tracer keeps for it (a record index). */
} rs_live_slot;

/* The filter in front of the table: 2^14 bits (2 KiB: 32 cache lines, which stay in L1 while
 * the program frees), bit h set while some live address hashes to h. A free whose bit is clear
 * was never sampled and reads nothing else; with n live samples, a free reaches the table with
 * odds n / 2^14. Behind the bits, a one-byte counter per bit counts those addresses, so a bit
 * is cleared when its last one goes; only inserts and removals touch the counters. A counter
 * that reaches 255 stays there (a lasting false "maybe", never a false "no") until the table
 * is empty again, when every counter and bit is reset. (The counters alone, one byte each,
 * were 16 KiB: in callgrind's cache model 40% of frees then missed L1 on them.) */
#define RS_LIVE_FILTER_BITS 14

typedef struct {
    uint8_t *filter_bits; /* 2^RS_LIVE_FILTER_BITS bits, 8 to a byte. */
    uint8_t *filter;      /* 2^RS_LIVE_FILTER_BITS counters, one byte each. */
    rs_live_slot *slots;  /* mask + 1 slots. */
    uint64_t mask;
    uint64_t count;     /* Live entries. */
    uint64_t max_count; /* 3/4 of the slots. */
    uint64_t dropped;   /* Inserts refused because the table was full. */
    int saturated;      /* Some counter stuck at 255. */
} rs_live_table;

/* Makes an empty table of at least `capacity` slots (rounded up to a power of two, at least
 * 16). Returns 0, or -1 when out of memory (the table is then empty and refuses inserts). */
int rs_live_table_init(rs_live_table *table, uint64_t capacity);

/* Frees the slots; the table is empty afterwards. */
void rs_live_table_free(rs_live_table *table);

/* Empties the table (keeping its memory). */
void rs_live_table_clear(rs_live_table *table);

/* Records `address` with `value`. Returns 1 when added, 0 when it was there (value replaced),
 * -1 when the table is full (counted in `dropped`). `address` must not be 0. */
int rs_live_table_insert(rs_live_table *table, uintptr_t address, uint64_t value);

/* Internal: the filter position (bit and counter) of `address`. */
static inline uint64_t
rs__live_filter_position(uintptr_t address)
{
    return ((uint64_t)address * 0x9e3779b97f4a7c15ull) >> (64 - RS_LIVE_FILTER_BITS);
}

/* Whether `address` may be in the initialised `table`: 0 means certainly not (one bit read;
 * every bit is clear while the table is empty). */
static inline int
rs_live_table_may_hold(const rs_live_table *table, uintptr_t address)
{
    uint64_t bit = rs__live_filter_position(address);
    return (table->filter_bits[bit >> 3] >> (bit & 7)) & 1;
}

/* Removes `address`; returns 1 and its value in `*value` when it was there, 0 when not. */
int rs_live_table_remove(rs_live_table *table, uintptr_t address, uint64_t *value);

#endif /* RS_LIVE_TABLE_H */
