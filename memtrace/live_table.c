/*
 * live_table.c: the live-allocation table of live_table.h.
 *
 * The home slot of an address is its bits mixed by a multiplication (Fibonacci hashing) and
 * taken from the top, so neighbouring allocations, which differ in low bits only, spread over
 * the table; the filter's counter is taken from other bits of the same product. Removal is
 * backward-shift deletion for linear probing (Knuth 6.4, algorithm R).
 */
#include "live_table.h"

#include "rawalloc.h"

#include <string.h>

#define FILTER_SIZE (1u << RS_LIVE_FILTER_BITS)

static inline uint64_t
home_of(const rs_live_table *table, uintptr_t address)
{
    uint64_t mixed = (uint64_t)address * 0x9e3779b97f4a7c15ull;
    return (mixed >> 20) & table->mask;
}

static inline void
set_bit(rs_live_table *table, uint64_t position, int on)
{
    uint8_t mask = (uint8_t)(1u << (position & 7));
    if (on) {
        table->filter_bits[position >> 3] |= mask;
    }
    else {
        table->filter_bits[position >> 3] &= (uint8_t)~mask;
    }
}

/* Every counter and bit back to 0. */
static void
clear_filter(rs_live_table *table)
{
    memset(table->filter, 0, FILTER_SIZE + FILTER_SIZE / 8);
    table->saturated = 0;
}

int
rs_live_table_init(rs_live_table *table, uint64_t capacity)
{
    uint64_t slots = 16;
    while (slots < capacity) {
        slots *= 2;
    }
    table->slots = (rs_live_slot *)rs_raw_calloc_resident(slots, sizeof(rs_live_slot));
    /* The counters, then the bits, in one block. */
    table->filter = (uint8_t *)rs_raw_calloc(FILTER_SIZE + FILTER_SIZE / 8, 1);
    table->filter_bits = table->filter != NULL ? table->filter + FILTER_SIZE : NULL;
    if (table->filter == NULL) {
        rs_raw_free(table->slots);
        table->slots = NULL;
    }
    table->mask = table->slots ? slots - 1 : 0;
    table->count = 0;
    table->max_count = table->slots ? slots / 4 * 3 : 0;
    table->dropped = 0;
    return table->slots ? 0 : -1;
}

void
rs_live_table_free(rs_live_table *table)
{
    rs_raw_free(table->slots);
    rs_raw_free(table->filter);
    table->slots = NULL;
    table->filter = NULL;
    table->filter_bits = NULL;
    table->mask = 0;
    table->count = 0;
    table->max_count = 0;
}

void
rs_live_table_clear(rs_live_table *table)
{
    if (table->slots != NULL) {
        memset(table->slots, 0, sizeof(rs_live_slot) * (size_t)(table->mask + 1));
        clear_filter(table);
    }
    table->count = 0;
}

int
rs_live_table_insert(rs_live_table *table, uintptr_t address, uint64_t value)
{
    if (table->slots == NULL) {
        table->dropped++;
        return -1;
    }
    uint64_t index = home_of(table, address);
    while (table->slots[index].address != 0) {
        if (table->slots[index].address == address) {
            table->slots[index].value = value;
            return 0;
        }
        index = (index + 1) & table->mask;
    }
    if (table->count >= table->max_count) {
        table->dropped++;
        return -1;
    }
    table->slots[index].address = address;
    table->slots[index].value = value;
    table->count++;
    uint64_t position = rs__live_filter_position(address);
    uint8_t *counter = &table->filter[position];
    if (*counter < 255) {
        (*counter)++;
    }
    table->saturated |= *counter == 255; /* From now on it stays: never counted down. */
    set_bit(table, position, 1);
    return 1;
}

int
rs_live_table_remove(rs_live_table *table, uintptr_t address, uint64_t *value)
{
    if (table->slots == NULL || address == 0) {
        return 0; /* 0 marks an empty slot: never an entry. */
    }
    uint64_t position = rs__live_filter_position(address);
    uint8_t *counter = &table->filter[position];
    if (*counter == 0) {
        return 0; /* The common case: never sampled. */
    }
    uint64_t hole = home_of(table, address);
    while (table->slots[hole].address != address) {
        if (table->slots[hole].address == 0) {
            return 0; /* A filter's false "maybe". */
        }
        hole = (hole + 1) & table->mask;
    }
    *value = table->slots[hole].value;
    table->count--;
    if (*counter < 255 && --(*counter) == 0) {
        set_bit(table, position, 0);
    }
    if (table->count == 0 && table->saturated) {
        clear_filter(table); /* Stuck counters: nothing is left to count. */
    }
    /* Shift back each later entry of the run that may not sit past the hole. */
    uint64_t next = (hole + 1) & table->mask;
    while (table->slots[next].address != 0) {
        uint64_t home = home_of(table, table->slots[next].address);
        /* Movable when its home is not cyclically within (hole, next]. */
        int home_after_hole =
            hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
        if (!home_after_hole) {
            table->slots[hole] = table->slots[next];
            hole = next;
        }
        next = (next + 1) & table->mask;
    }
    table->slots[hole].address = 0;
    table->slots[hole].value = 0;
    return 1;
}
