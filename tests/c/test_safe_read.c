/*
 * test_safe_read.c: the copies the sampler reads frames through, which must fail on memory
 * that is not there instead of faulting, and read a forked child's own memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner.h"
#include "safe_read.h"

/* Two pages mapped readable, the second then unmapped (or made inaccessible with `protect`);
 * returns the first, or NULL. */
static unsigned char *
page_before_a_hole(size_t page, int protect)
{
    unsigned char *pages =
        mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED) {
        return NULL;
    }
    memset(pages, 0x5a, 2 * page);
    if (protect ? mprotect(pages + page, page, PROT_NONE) : munmap(pages + page, page)) {
        return NULL;
    }
    return pages;
}

TEST_IMPL(safe_read_copies_mapped_memory)
{
    char source[100], copy[100];
    for (int i = 0; i < 100; i++) {
        source[i] = (char)i;
    }
    ASSERT_EQ(rs_safe_read(copy, source, sizeof(source)), 0);
    ASSERT(memcmp(copy, source, sizeof(source)) == 0);
}

/* Unmapped, inaccessible, straddling the end of a mapping, or in the first page: each fails,
 * and the process is still here to say so. */
TEST_IMPL(safe_read_fails_where_a_load_would_fault)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char copy[64];
    unsigned char *unmapped = page_before_a_hole(page, 0);
    unsigned char *protected = page_before_a_hole(page, 1);
    ASSERT(unmapped != NULL && protected != NULL);
    ASSERT_EQ(rs_safe_read(copy, unmapped + page, 8), -1);
    ASSERT_EQ(rs_safe_read(copy, protected + page, 8), -1);
    ASSERT_EQ(rs_safe_read(copy, unmapped + page - 8, 16), -1);
    ASSERT_EQ(rs_safe_read(copy, unmapped + page - 8, 8), 0); /* Up to the hole is fine. */
    ASSERT_EQ(copy[0], 0x5a);
    ASSERT_EQ(rs_safe_read(copy, (const void *)16, 8), -1);
    munmap(unmapped, page);
    munmap(protected, 2 * page);
}

/* A vectored read stops at the first range it cannot read whole. */
TEST_IMPL(safe_read_ranges_count_the_leading_ranges_read_whole)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *pages = page_before_a_hole(page, 0);
    ASSERT(pages != NULL);
    uint64_t first = 0, second = 0, third = 0, value = 7;
    rs_safe_range ranges[] = {
        {&first, &value, sizeof(value)},
        {&second, pages + page - 4, sizeof(second)}, /* Half in the hole. */
        {&third, &value, sizeof(value)},
    };
    ASSERT_EQ(rs_safe_read_ranges(ranges, 3), 1);
    ASSERT_EQ(first, 7);
    ranges[1].address = pages;
    ASSERT_EQ(rs_safe_read_ranges(ranges, 3), 3);
    ASSERT_EQ(third, 7);
    munmap(pages, page);
}

/* The reads name a process by its pid, kept after the first read: a forked child that forgets
 * it reads its own memory, not its parent's (which differs once either writes). */
TEST_IMPL(safe_read_in_a_forked_child_reads_the_childs_memory)
{
    static volatile int marker = 1;
    int copy = 0;
    ASSERT_EQ(rs_safe_read(&copy, (const void *)&marker, sizeof(copy)), 0); /* Keeps the pid. */
    ASSERT_EQ(copy, 1);
    pid_t child = fork();
    ASSERT(child >= 0);
    if (child == 0) {
        marker = 2;
        rs_safe_read_after_fork();
        int seen = 0;
        int status = rs_safe_read(&seen, (const void *)&marker, sizeof(seen)) == 0 && seen == 2;
        _exit(status ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    ASSERT_EQ(marker, 1);
}
