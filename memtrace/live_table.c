/*
 * live_table.c: the live-allocation table of live_table.h.
 *
 * The home slot of an address comes from its mixed bits (rs__live_mix), so neighbouring
 * allocations, which differ in low bits only, spread over the table; the filter's position
 * and tag are other bits of the same product. Removal is backward-shift deletion for linear
 * probing (Knuth 6.4, algorithm R).
 */
#include "live_table.h"

#include "rawalloc.h"

#include <string.h>

#define FILTER_SIZE (1u << RS_LIVE_FILTER_ORDER)

static inline uint64_t
home_of(const rs_live_table *table, uintptr_t address)
{
    return (rs__live_mix(address) >> 20) & table->mask;
}

/* The tag of `address` in a mark of one: 8 bits of the product below the position's, 1 to 254
 * (0 and 255 mean none and several). */
static inline uint8_t
tag_of(uintptr_t address)
{
    uint8_t tag = (uint8_t)(rs__live_mix(address) >> (56 - RS_LIVE_FILTER_ORDER));
    return tag == 0 || tag == RS_LIVE_MARK_SEVERAL ? 1 : tag;
}

/* Every summary byte, mark and counter back to 0. */
static void
clear_filter(rs_live_table *table)
{
    memset(table->summary, 0, sizeof(table->summary));
    memset(table->marks, 0, 2 * FILTER_SIZE);
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
    table->marks = (uint8_t *)rs_raw_calloc(2 * FILTER_SIZE, 1);
    table->counters = table->marks != NULL ? table->marks + FILTER_SIZE : NULL;
    if (table->marks == NULL) {
        rs_raw_free(table->slots);
        table->slots = NULL;
    }
    memset(table->summary, 0, sizeof(table->summary));
    table->saturated = 0;
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
    rs_raw_free(table->marks);
    table->slots = NULL;
    table->marks = NULL;
    table->counters = NULL;
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
    uint8_t *counter = &table->counters[position];
    if (*counter < 255) {
        (*counter)++;
    }
    table->saturated |= *counter == 255; /* From now on it stays: never counted down. */
    table->marks[position] = *counter == 1 ? tag_of(address) : RS_LIVE_MARK_SEVERAL;
    table->summary[position >> 3] = 1;
    return 1;
}

int
rs_live_table_remove(rs_live_table *table, uintptr_t address, uint64_t *value)
{
    if (table->slots == NULL || address == 0) {
        return 0; /* 0 marks an empty slot: never an entry. */
    }
    uint64_t position = rs__live_filter_position(address);
    uint8_t mark = table->marks[position];
    if (mark == 0 || (mark != RS_LIVE_MARK_SEVERAL && mark != tag_of(address))) {
        return 0; /* The common cases: never sampled, or another address's mark. */
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
    uint8_t *counter = &table->counters[position];
    if (*counter < 255 && --(*counter) == 0) {
        table->marks[position] = 0;
        uint64_t group;
        memcpy(&group, &table->marks[position & ~(uint64_t)7], sizeof(group));
        if (group == 0) {
            table->summary[position >> 3] = 0;
        }
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
