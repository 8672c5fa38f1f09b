/*
 * test_live_table.c: the memory tracer's table of live sampled allocations.
 */
#include <stdlib.h>

#include "live_table.h"
#include "runner.h"

TEST_IMPL(live_table_finds_what_was_inserted_and_misses_the_rest)
{
    rs_live_table table;
    uint64_t value = 0;
    ASSERT_EQ(rs_live_table_init(&table, 64), 0);
    ASSERT_EQ(rs_live_table_insert(&table, 0x1000, 7), 1);
    ASSERT_EQ(rs_live_table_insert(&table, 0x1010, 8), 1);
    ASSERT_EQ(rs_live_table_insert(&table, 0x1000, 9), 0); /* Replaced. */
    ASSERT_EQ(rs_live_table_remove(&table, 0x2000, &value), 0);
    ASSERT_EQ(rs_live_table_remove(&table, 0x1000, &value), 1);
    ASSERT_EQ(value, 9);
    ASSERT_EQ(rs_live_table_remove(&table, 0x1000, &value), 0);
    ASSERT_EQ(table.count, 1);
    rs_live_table_free(&table);
}

TEST_IMPL(live_table_refuses_and_counts_when_full)
{
    rs_live_table table;
    ASSERT_EQ(rs_live_table_init(&table, 16), 0); /* 12 entries at most (3/4). */
    int added = 0;
    for (uintptr_t i = 1; i <= 20; i++) {
        added += rs_live_table_insert(&table, i * 16, i) == 1;
    }
    ASSERT_EQ(added, 12);
    ASSERT_EQ(table.dropped, 8);
    rs_live_table_free(&table);
}

/* Random inserts and removes, checked against a plain array, keep every entry findable:
 * backward-shift removal must never cut a probe run. */
TEST_IMPL(live_table_agrees_with_a_plain_array_under_churn)
{
    enum { KEYS = 3000, STEPS = 200000 };
    static uint64_t expected[KEYS]; /* 0 = absent, else value + 1. */
    rs_live_table table;
    uint64_t value;
    unsigned seed = 12345;
    memset(expected, 0, sizeof(expected));
    ASSERT_EQ(rs_live_table_init(&table, 4096), 0);
    for (int step = 0; step < STEPS; step++) {
        seed = seed * 1103515245u + 12345u;
        int key = (int)((seed >> 8) % KEYS);
        uintptr_t address = 0x7f0000000000u + (uintptr_t)key * 48;
        if ((seed >> 4) & 1) {
            int result = rs_live_table_insert(&table, address, (uint64_t)step);
            if (result >= 0) {
                expected[key] = (uint64_t)step + 1;
            }
        }
        else {
            int found = rs_live_table_remove(&table, address, &value);
            ASSERT_EQ(found, expected[key] != 0);
            if (found) {
                ASSERT_EQ(value + 1, expected[key]);
            }
            expected[key] = 0;
        }
    }
    uint64_t live = 0;
    for (int key = 0; key < KEYS; key++) {
        live += expected[key] != 0;
        uintptr_t address = 0x7f0000000000u + (uintptr_t)key * 48;
        ASSERT_EQ(rs_live_table_remove(&table, address, &value), expected[key] != 0);
    }
    ASSERT_EQ(table.count, 0);
    ASSERT(live > 0);
    rs_live_table_free(&table);
}

TEST_IMPL(live_table_without_memory_refuses_everything)
{
    rs_live_table table = {0};
    uint64_t value;
    ASSERT_EQ(rs_live_table_insert(&table, 0x1000, 1), -1);
    ASSERT_EQ(rs_live_table_remove(&table, 0x1000, &value), 0);
    ASSERT_EQ(table.dropped, 1);
}

/* Fills `addresses` with `count` 16-byte-aligned addresses whose filter counter is `target`. */
static void
addresses_on_counter(unsigned target, uintptr_t *addresses, int count)
{
    int found = 0;
    for (uintptr_t address = 0x10; found < count; address += 0x10) {
        if ((unsigned)rs__live_filter_position(address) == target) {
            addresses[found++] = address;
        }
    }
}

/* Makes `table` (1024 slots) and fills `addresses` with `count` addresses that share the
 * filter position of 0x10, put in `*target`. Returns 0, or -1 when the table was not made. */
static int
table_and_addresses_on_one_position(rs_live_table *table, uintptr_t *addresses, int count,
                                    unsigned *target)
{
    if (rs_live_table_init(table, 1024) < 0) {
        return -1;
    }
    *target = (unsigned)rs__live_filter_position(0x10);
    addresses_on_counter(*target, addresses, count);
    return 0;
}

TEST_IMPL(live_table_filter_saturates_without_ever_losing_an_address)
{
    /* 300 addresses on one filter counter, past its 255 cap: every one is still found; after
     * they are gone the counter stays a "maybe" that the table answers correctly while another
     * entry lives, and every counter is 0 again once the table is empty (a free of any address
     * is then answered by the filter alone). */
    enum { COUNT = 300 };
    static uintptr_t addresses[COUNT];
    rs_live_table table;
    uint64_t value = 0;
    unsigned target = 0;
    ASSERT_EQ(table_and_addresses_on_one_position(&table, addresses, COUNT, &target), 0);
    uintptr_t other = 0x10;
    while ((unsigned)rs__live_filter_position(other) == target) {
        other += 0x10;
    }
    ASSERT_EQ(rs_live_table_insert(&table, other, 1000), 1);
    for (int i = 0; i < COUNT; i++) {
        ASSERT_EQ(rs_live_table_insert(&table, addresses[i], (uint64_t)i), 1);
    }
    ASSERT_EQ(table.counters[target], 255);
    for (int i = 0; i < COUNT; i++) {
        ASSERT_EQ(rs_live_table_remove(&table, addresses[i], &value), 1);
        ASSERT_EQ(value, (uint64_t)i);
    }
    ASSERT_EQ(table.count, 1);
    ASSERT_EQ(rs_live_table_may_hold(&table, addresses[0]), 1); /* Stuck: a false "maybe". */
    ASSERT_EQ(rs_live_table_remove(&table, addresses[0], &value), 0);
    ASSERT_EQ(rs_live_table_remove(&table, other, &value), 1);
    ASSERT_EQ(table.count, 0);
    ASSERT_EQ(rs_live_table_may_hold(&table, addresses[0]), 0); /* Reset once empty. */
    ASSERT_EQ(rs_live_table_insert(&table, addresses[7], 7), 1);
    ASSERT_EQ(rs_live_table_may_hold(&table, addresses[7]), 1);
    ASSERT_EQ(rs_live_table_remove(&table, addresses[7], &value), 1);
    rs_live_table_clear(&table);
    ASSERT_EQ(table.counters[target], 0);
    rs_live_table_free(&table);
}

TEST_IMPL(live_table_never_finds_address_zero)
{
    /* 0 marks an empty slot; looking it up (a free(NULL)) must not return an empty slot. */
    rs_live_table table;
    uint64_t value = 0;
    ASSERT_EQ(rs_live_table_init(&table, 128), 0);
    for (uintptr_t address = 0x10; address < 0x400; address += 0x10) {
        ASSERT_EQ(rs_live_table_insert(&table, address, 1), 1);
    }
    uint64_t count = table.count;
    ASSERT_EQ(rs_live_table_remove(&table, 0, &value), 0);
    ASSERT_EQ(table.count, count);
    rs_live_table_free(&table);
}

TEST_IMPL(live_table_a_counter_that_reaches_255_is_reset_when_the_table_empties)
{
    /* A counter at 255 is never counted down again; reaching it (not only passing it) must
     * mark the filter for the reset, or it stays a "maybe" after the table empties. */
    enum { COUNT = 255 };
    static uintptr_t addresses[COUNT];
    rs_live_table table;
    uint64_t value = 0;
    unsigned target = 0;
    ASSERT_EQ(table_and_addresses_on_one_position(&table, addresses, COUNT, &target), 0);
    for (int i = 0; i < COUNT; i++) {
        ASSERT_EQ(rs_live_table_insert(&table, addresses[i], (uint64_t)i), 1);
    }
    ASSERT_EQ(table.counters[target], 255);
    for (int i = 0; i < COUNT; i++) {
        ASSERT_EQ(rs_live_table_remove(&table, addresses[i], &value), 1);
    }
    ASSERT_EQ(table.count, 0);
    ASSERT_EQ(rs_live_table_may_hold(&table, addresses[0]), 0);
    ASSERT_EQ(table.counters[target], 0);
    rs_live_table_free(&table);
}

TEST_IMPL(live_table_marks_tell_addresses_on_one_position_apart)
{
    /* Addresses that share a filter position: the mark of one live address rules the others
     * out by its tag; with several live the mark says so until the last is gone, and each is
     * found whatever the order of removal. */
    enum { COUNT = 64 };
    static uintptr_t addresses[COUNT];
    rs_live_table table;
    uint64_t value = 0;
    unsigned target = 0;
    ASSERT_EQ(table_and_addresses_on_one_position(&table, addresses, COUNT, &target), 0);
    ASSERT_EQ(rs_live_table_insert(&table, addresses[0], 100), 1);
    uint8_t tag = table.marks[target];
    ASSERT(tag != 0 && tag != RS_LIVE_MARK_SEVERAL);
    for (int i = 1; i < COUNT; i++) {
        ASSERT_EQ(rs_live_table_remove(&table, addresses[i], &value), 0);
        ASSERT_EQ(table.marks[target], tag);
    }
    ASSERT_EQ(table.count, 1);
    ASSERT_EQ(rs_live_table_insert(&table, addresses[1], 101), 1);
    ASSERT_EQ(table.marks[target], RS_LIVE_MARK_SEVERAL);
    ASSERT_EQ(rs_live_table_insert(&table, addresses[2], 102), 1);
    ASSERT_EQ(rs_live_table_remove(&table, addresses[0], &value), 1);
    ASSERT_EQ(value, 100);
    ASSERT_EQ(table.marks[target], RS_LIVE_MARK_SEVERAL);
    ASSERT_EQ(rs_live_table_remove(&table, addresses[2], &value), 1);
    ASSERT_EQ(value, 102);
    ASSERT_EQ(rs_live_table_may_hold(&table, addresses[1]), 1);
    ASSERT_EQ(rs_live_table_remove(&table, addresses[1], &value), 1);
    ASSERT_EQ(value, 101);
    ASSERT_EQ(table.marks[target], 0);
    ASSERT_EQ(table.count, 0);
    rs_live_table_free(&table);
}

/* The first address after `after` (16-byte steps) whose filter position lies in the group of
 * 8 marks `group` but is not `except`. */
static uintptr_t
address_in_group(uint64_t group, uint64_t except, uintptr_t after)
{
    for (uintptr_t address = after + 0x10;; address += 0x10) {
        uint64_t position = rs__live_filter_position(address);
        if (position >> 3 == group && position != except) {
            return address;
        }
    }
}

TEST_IMPL(live_table_summary_bit_stays_while_any_mark_of_its_group_is_set)
{
    /* Two live addresses on two positions of one group of 8 marks share a summary bit: removing
     * one must leave it (or the other's free would be missed), removing both clears it, and an
     * address on a third position of the group passes the summary but not its own mark. */
    rs_live_table table;
    uint64_t value = 0;
    ASSERT_EQ(rs_live_table_init(&table, 1024), 0);
    uintptr_t first = 0x10;
    uint64_t position = rs__live_filter_position(first);
    uint64_t group = position >> 3;
    uintptr_t second = address_in_group(group, position, first);
    uint64_t second_position = rs__live_filter_position(second);
    uintptr_t third = second;
    do {
        third = address_in_group(group, position, third);
    } while (rs__live_filter_position(third) == second_position);
    ASSERT_EQ(rs_live_table_insert(&table, first, 1), 1);
    ASSERT_EQ(rs_live_table_insert(&table, second, 2), 1);
    ASSERT_EQ(rs_live_table_may_hold(&table, third), 0); /* Its mark answers. */
    ASSERT_EQ(rs_live_table_remove(&table, first, &value), 1);
    ASSERT_EQ(rs_live_table_may_hold(&table, second), 1);
    ASSERT_EQ(table.summary[group], 1);
    ASSERT_EQ(rs_live_table_remove(&table, second, &value), 1);
    ASSERT_EQ(value, 2);
    for (unsigned i = 0; i < sizeof(table.summary); i++) {
        ASSERT_EQ(table.summary[i], 0);
    }
    rs_live_table_free(&table);
}
