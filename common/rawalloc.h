/*
 * rawalloc.h: reqscope's own memory.
 *
 * Every table that a hook touches lives in memory from the C library allocator, never from
 * PyMem or PyObject_Malloc: the memory tracer hooks those domains, and a hook that allocated
 * through them would re-enter itself. Keeping all of reqscope's bookkeeping on one allocator
 * also keeps it out of the figures it reports. The functions have malloc's contract: NULL on
 * failure, and the caller turns a failure into a sticky "dropped" counter rather than an error.
 */
#ifndef RS_RAWALLOC_H
#define RS_RAWALLOC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline void *
rs_raw_malloc(size_t size)
{
    return malloc(size ? size : 1);
}

static inline void *
rs_raw_calloc(size_t count, size_t size)
{
    return calloc(count ? count : 1, size ? size : 1);
}

/* Like rs_raw_calloc, with every page written now. For a large table that a hook or the
 * sampler touches at random: a page of fresh calloc memory that is read before it is written
 * maps the shared zero page, and the later write then replaces it, which flushes the TLB of
 * every CPU that runs the process (an interrupt to each of the program's threads). Written
 * first, each page is simply made. Costs the whole size in RSS at once. */
static inline void *
rs_raw_calloc_resident(size_t count, size_t size)
{
    count = count ? count : 1;
    size = size ? size : 1;
    if (count > SIZE_MAX / size) {
        return NULL; /* Overflow, as calloc refuses it. */
    }
    size_t bytes = count * size;
    void *memory = malloc(bytes);
    if (memory != NULL) {
        explicit_bzero(memory, bytes); /* memset here would be folded back into calloc. */
    }
    return memory;
}

static inline void *
rs_raw_realloc(void *ptr, size_t size)
{
    return realloc(ptr, size ? size : 1);
}

static inline void
rs_raw_free(void *ptr)
{
    free(ptr);
}

/* Returns a NUL-terminated copy of the first `length` bytes of `text`, or NULL. */
static inline char *
rs_raw_strndup(const char *text, size_t length)
{
    char *copy = (char *)rs_raw_malloc(length + 1);
    if (copy != NULL) {
        memcpy(copy, text, length);
        copy[length] = '\0';
    }
    return copy;
}

/* uthash allocates through these, so its tables are raw memory too. */
#define uthash_malloc(size) rs_raw_malloc(size)
#define uthash_free(ptr, size) rs_raw_free(ptr)

/* uthash reports an add that ran out of memory instead of calling exit(-1), its default, which
 * would end the profiled program: the entry is then in no table, which RS_HASH_ADD_FAILED tells
 * right after the HASH_ADD (the caller counts it as dropped and gives the entry back). */
#define HASH_NONFATAL_OOM 1
#define RS_HASH_ADD_FAILED(entry) ((entry)->hh.tbl == NULL)

#endif /* RS_RAWALLOC_H */
