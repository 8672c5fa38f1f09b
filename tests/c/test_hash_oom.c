/*
 * test_hash_oom.c: uthash, configured by rawalloc.h, survives running out of memory.
 *
 * Every table of reqscope's is a uthash table. Its default on a failed allocation is exit(-1),
 * which would end the profiled program; rawalloc.h turns that into an add that fails, told by
 * RS_HASH_ADD_FAILED, and the table stays usable.
 */
#include "rawalloc.h"

/* An allocator that fails on demand, in place of rawalloc.h's. */
static int refuse_allocations;

static void *
test_malloc(size_t size)
{
    return refuse_allocations ? NULL : malloc(size);
}

#undef uthash_malloc
#define uthash_malloc(size) test_malloc(size)
#include <uthash.h>

#include "runner.h"

typedef struct {
    int key;
    UT_hash_handle hh;
} entry;

/* The first add makes the table: refused, the entry is in no table and the head stays empty. */
TEST_IMPL(hash_add_without_memory_for_the_table_fails_softly)
{
    entry *table = NULL, one = {.key = 1};
    refuse_allocations = 1;
    HASH_ADD_INT(table, key, &one);
    refuse_allocations = 0;
    ASSERT(RS_HASH_ADD_FAILED(&one));
    ASSERT(table == NULL);
    HASH_ADD_INT(table, key, &one);
    ASSERT(!RS_HASH_ADD_FAILED(&one));
    ASSERT_EQ(HASH_COUNT(table), 1);
    HASH_CLEAR(hh, table);
}

/* An add that needs more buckets, refused: that entry is left out, the others stay findable. */
TEST_IMPL(hash_add_without_memory_for_buckets_keeps_the_table)
{
    enum { COUNT = 4000 };
    entry *table = NULL;
    entry *entries = (entry *)calloc(COUNT, sizeof(entry));
    int failed = 0;
    refuse_allocations = 0;
    for (int i = 0; i < COUNT; i++) {
        entries[i].key = i;
        refuse_allocations = i >= 100; /* The table exists; buckets can no longer grow. */
        HASH_ADD_INT(table, key, &entries[i]);
        failed += RS_HASH_ADD_FAILED(&entries[i]);
    }
    refuse_allocations = 0;
    ASSERT(failed > 0);
    ASSERT_EQ(HASH_COUNT(table), COUNT - failed);
    for (int i = 0; i < COUNT; i++) {
        entry *found;
        HASH_FIND_INT(table, &i, found);
        ASSERT(found == (RS_HASH_ADD_FAILED(&entries[i]) ? NULL : &entries[i]));
    }
    HASH_CLEAR(hh, table);
    free(entries);
}
