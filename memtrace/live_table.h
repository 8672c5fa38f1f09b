/*
 * live_table.h: the sampled allocations that are still alive, by address.
 *
 * The memory tracer's free hook looks up every freed pointer here, and almost none were
 * sampled, so a miss must be cheap: open addressing over a power-of-two array of 16-byte
 * slots (four to a cache line), keyed by the address, probed linearly, kept at most 3/4 full.
 * A miss reads the home slot and the few after it: one or two cache lines, and most misses
 * do not get that far: a two-level filter in front answers them from one byte. Removal shifts
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

/* The filter in front of the table: 2^12 one-byte marks (4 KiB: 64 cache lines, read only
 * past the summary below), mark h describing the live addresses whose position is h: 0 for none,
 * 255 for several, and for one its tag, 8 bits of its mixed address (1 to 254). A free whose
 * mark is 0 was never sampled and reads nothing else: one byte compared with 0. With n
 * live samples a free finds a mark with odds about n / 2^12; the tag then rules it out but
 * once in 254, and only then is the table probed (most often a cache miss: the slots are
 * megabytes). Behind the marks, a one-byte counter per mark counts its addresses for the
 * removals. A counter that reaches 255 stays there (its mark a lasting false "maybe", never a
 * false "no") until the table is empty again, when every counter and mark is reset; a mark of
 * several stays one until its counter is 0. (Before the marks, a bit filter of 2^14 positions
 * cost four more instructions per free, which are most of a free hook's cost, and a bare count
 * per position sent every false "maybe" to the slots: the hook's most costly path in perf.) */
#define RS_LIVE_FILTER_ORDER 12
#define RS_LIVE_MARK_SEVERAL 255

/* The filter's first level, read by every free before any mark: one byte per group of 8 marks
 * (2^9 bytes in the table itself), 1 while a mark of its group is not 0. With n live samples
 * a free passes it with odds about n / 2^9. (perf on the allocation-heavy run put three
 * quarters of the free hook's samples on the mark's load alone: between two frees the
 * program's own data pushed the 64 lines of the marks out of L1.) */
#define RS_LIVE_SUMMARY_ORDER (RS_LIVE_FILTER_ORDER - 3)

typedef struct {
    uint8_t summary[1u << RS_LIVE_SUMMARY_ORDER] __attribute__((aligned(64)));
    uint8_t *marks;      /* 2^RS_LIVE_FILTER_ORDER marks, one byte each, */
    uint8_t *counters;   /* and as many counters, right after them. */
    rs_live_slot *slots; /* mask + 1 slots. */
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

/* Internal: `address` with its bits mixed by a multiplication (Fibonacci hashing), whose
 * high bits depend on all of its own: a mark's tag is 8 of them, the home slot bits from 20
 * up (live_table.c). */
static inline uint64_t
rs__live_mix(uintptr_t address)
{
    return (uint64_t)address * 0x9e3779b97f4a7c15ull;
}

/* The filter reads the address's own bits from bit 4 up (every block of the MEM and OBJ domains
 * is 16-byte aligned, so the bits below say nothing): a free computes its summary byte with a
 * shift and a mask. Mixed bits scattered neighbours better, but the multiplication was three of
 * the free hook's instructions and most of its latency; neighbours of a live sample (another
 * block of its 128 bytes) pass the summary and are then ruled out by their own marks. */
#define RS_LIVE_ALIGNMENT_BITS 4

/* Internal: the filter position of `address` (its mark and counter). */
static inline uint64_t
rs__live_filter_position(uintptr_t address)
{
    return (address >> RS_LIVE_ALIGNMENT_BITS) & ((1u << RS_LIVE_FILTER_ORDER) - 1);
}

/* Whether `address` may be in the initialised `table`: 0 means certainly not (most often from
 * one byte of the summary; every summary byte and mark is 0 while the table is empty). */
static inline int
rs_live_table_may_hold(const rs_live_table *table, uintptr_t address)
{
    /* The position's summary byte, position >> 3, in one shift. */
    uint64_t group =
        (address >> (RS_LIVE_ALIGNMENT_BITS + 3)) & ((1u << RS_LIVE_SUMMARY_ORDER) - 1);
    if (__builtin_expect(table->summary[group] == 0, 1)) {
        return 0;
    }
    return table->marks[rs__live_filter_position(address)] != 0;
}

/* Removes `address`; returns 1 and its value in `*value` when it was there, 0 when not. */
int rs_live_table_remove(rs_live_table *table, uintptr_t address, uint64_t *value);

#endif /* RS_LIVE_TABLE_H */
