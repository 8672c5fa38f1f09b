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
