/*
 * test_arena.c: the arena behind a scope's SQL tables, and the key set that lives in one.
 */
#include <stdint.h>
#include <stdlib.h>

#include "arena.h"
#include "keyset.h"
#include "runner.h"

/* Many allocations of varied sizes, across several chunks, each aligned to 16 and holding its
 * own bytes: none overlaps another. */
TEST_IMPL(arena_allocations_are_aligned_and_never_overlap)
{
    rs_arena arena = RS_ARENA_EMPTY;
    enum { COUNT = 2000 };
    unsigned char *blocks[COUNT];
    size_t sizes[COUNT];
    for (int i = 0; i < COUNT; i++) {
        sizes[i] = 1 + (size_t)(i * 37 % 300);
        blocks[i] = (unsigned char *)rs_arena_alloc(&arena, sizes[i]);
        ASSERT(blocks[i] != NULL);
        ASSERT_EQ((uintptr_t)blocks[i] % 16, 0);
        memset(blocks[i], i & 0xff, sizes[i]);
    }
    for (int i = 0; i < COUNT; i++) {
        for (size_t b = 0; b < sizes[i]; b++) {
            ASSERT_EQ(blocks[i][b], i & 0xff);
        }
    }
    rs_arena_release(&arena);
    ASSERT(arena.chunks == NULL && arena.kept == NULL);
}

/* A reset keeps the first chunk: what comes next starts where the first allocation was, and
 * nothing is allocated for it. */
TEST_IMPL(arena_reset_hands_out_the_first_chunk_again)
{
    rs_arena arena = RS_ARENA_EMPTY;
    void *first = rs_arena_alloc(&arena, 100);
    for (int i = 0; i < 1000; i++) {
        ASSERT(rs_arena_alloc(&arena, 200) != NULL); /* Into later chunks. */
    }
    ASSERT(arena.chunks != arena.kept);
    rs_arena_reset(&arena);
    ASSERT(arena.chunks == arena.kept);
    ASSERT(rs_arena_alloc(&arena, 100) == first);
    rs_arena_release(&arena);
}

/* A large request gets a chunk of its own behind the current one, which goes on serving the
 * small ones right after what it had handed out. */
TEST_IMPL(arena_large_request_leaves_the_current_chunk_in_use)
{
    rs_arena arena = RS_ARENA_EMPTY;
    char *small = (char *)rs_arena_alloc(&arena, 16);
    char *large = (char *)rs_arena_alloc(&arena, 1 << 20);
    char *next = (char *)rs_arena_alloc(&arena, 16);
    ASSERT(small != NULL && large != NULL && next != NULL);
    ASSERT(next == small + 16);
    memset(large, 1, 1 << 20);
    rs_arena_release(&arena);
}

/* Zeroed memory is zero even where an earlier use before a reset wrote. */
TEST_IMPL(arena_calloc_zeroes_reused_memory)
{
    rs_arena arena = RS_ARENA_EMPTY;
    unsigned char *dirty = (unsigned char *)rs_arena_alloc(&arena, 256);
    memset(dirty, 0xab, 256);
    rs_arena_reset(&arena);
    unsigned char *clean = (unsigned char *)rs_arena_calloc(&arena, 16, 16);
    ASSERT(clean == dirty);
    for (int i = 0; i < 256; i++) {
        ASSERT_EQ(clean[i], 0);
    }
    rs_arena_release(&arena);
}

/* Sizes that overflow are refused, and the arena is left as it was. */
TEST_IMPL(arena_refuses_overflowing_sizes)
{
    rs_arena arena = RS_ARENA_EMPTY;
    char *before = (char *)rs_arena_alloc(&arena, 32);
    ASSERT(rs_arena_calloc(&arena, SIZE_MAX / 2, 4) == NULL);
    ASSERT(rs_arena_alloc(&arena, SIZE_MAX - 3) == NULL);
    ASSERT(rs_arena_alloc(&arena, 32) == before + 32);
    rs_arena_release(&arena);
}

TEST_IMPL(arena_strndup_copies_the_given_bytes_and_ends_them)
{
    rs_arena arena = RS_ARENA_EMPTY;
    char *copy = rs_arena_strndup(&arena, "select 1; drop", 8);
    ASSERT_STREQ(copy, "select 1");
    rs_arena_release(&arena);
}

/* A key set in an arena grows past many doublings and still tells added from present, and
 * refuses keys past its cap. */
TEST_IMPL(keyset_in_an_arena_grows_and_keeps_its_cap)
{
    rs_arena arena = RS_ARENA_EMPTY;
    rs_keyset set;
    rs_keyset_init(&set, 5000, &arena);
    for (uint64_t key = 0; key < 5000; key++) {
        ASSERT_EQ(rs_keyset_add(&set, key * 0x9e3779b97f4a7c15ull), RS_KEYSET_ADDED);
    }
    for (uint64_t key = 0; key < 5000; key++) {
        ASSERT_EQ(rs_keyset_add(&set, key * 0x9e3779b97f4a7c15ull), RS_KEYSET_PRESENT);
    }
    ASSERT_EQ(rs_keyset_add(&set, 12345), RS_KEYSET_FULL);
    ASSERT_EQ(set.count, 5000);
    rs_arena_release(&arena);
}
