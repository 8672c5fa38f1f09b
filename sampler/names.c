/*
 * names.c: the table of interned names (see names.h): each distinct (function, file, line,
 * first line) gets a small id for good, readable by any thread without a lock.
 */
#include "names.h"

#include <stdatomic.h>
#include <string.h>

#include "rawalloc.h"

#define CHUNK_NAMES 4096u

/* Names by id, in chunks that never move: readers (report building, with the GIL and without
 * the sampler's lock) see entries below name_count, which the writer publishes with release
 * order after filling them. Everything else below is written only by the sampler thread. */
static rs_name *chunks[RS_NAMES_MAX / CHUNK_NAMES];
static _Atomic uint32_t name_count;
static uint32_t *name_index; /* Open addressing over content hash -> id + 1. */
static uint32_t name_index_mask;
static uint64_t dropped;

static const rs_name unknown_name = {"<unknown>", "<unknown>", 0, 0};

static inline rs_name *
name_at(uint32_t id)
{
    return &chunks[id / CHUNK_NAMES][id % CHUNK_NAMES];
}

static int
ensure_tables(void)
{
    if (name_index == NULL) {
        name_index_mask = (1u << 12) - 1;
        name_index = (uint32_t *)rs_raw_calloc(name_index_mask + 1, sizeof(uint32_t));
        chunks[0] = (rs_name *)rs_raw_calloc(CHUNK_NAMES, sizeof(rs_name));
        if (name_index == NULL || chunks[0] == NULL) {
            rs_raw_free(name_index);
            rs_raw_free(chunks[0]);
            name_index = NULL;
            chunks[0] = NULL;
            return -1;
        }
        chunks[0][0] = unknown_name;
        atomic_store_explicit(&name_count, 1, memory_order_release);
    }
    return 0;
}

static uint64_t
name_hash(const char *function, const char *file, int32_t line, int32_t first_line)
{
    uint64_t hash = rs__names_hash_bytes(0xcbf29ce484222325ull, function, strlen(function) + 1);
    hash = rs__names_hash_bytes(hash, file, strlen(file) + 1);
    hash = rs__names_hash_bytes(hash, &line, sizeof(line));
    return rs__names_hash_bytes(hash, &first_line, sizeof(first_line));
}

static int
grow_index(void)
{
    uint32_t mask = name_index_mask * 2 + 1;
    uint32_t *index = (uint32_t *)rs_raw_calloc(mask + 1, sizeof(uint32_t));
    if (index == NULL) {
        return -1;
    }
    uint32_t count = atomic_load_explicit(&name_count, memory_order_relaxed);
    for (uint32_t id = 1; id < count; id++) {
        const rs_name *name = name_at(id);
        uint64_t hash = name_hash(name->function, name->file, name->line, name->first_line);
        uint32_t slot = (uint32_t)hash & mask;
        while (index[slot] != 0) {
            slot = (slot + 1) & mask;
        }
        index[slot] = id + 1;
    }
    rs_raw_free(name_index);
    name_index = index;
    name_index_mask = mask;
    return 0;
}

/* The id of a name given by its content; interns it when new. */
static uint32_t
intern_content(const char *function, const char *file, int32_t line, int32_t first_line)
{
    uint64_t hash = name_hash(function, file, line, first_line);
    uint32_t slot = (uint32_t)hash & name_index_mask;
    for (; name_index[slot] != 0; slot = (slot + 1) & name_index_mask) {
        const rs_name *name = name_at(name_index[slot] - 1);
        if (name->line == line && name->first_line == first_line &&
            strcmp(name->function, function) == 0 && strcmp(name->file, file) == 0) {
            return name_index[slot] - 1;
        }
    }
    uint32_t id = atomic_load_explicit(&name_count, memory_order_relaxed);
    if (id >= RS_NAMES_MAX || (uint64_t)(id + 1) * 10 > (uint64_t)(name_index_mask + 1) * 9) {
        /* Full, or the index could not grow and is nearly full: probing must stay short. */
        dropped++;
        return RS_NAME_UNKNOWN;
    }
    if (chunks[id / CHUNK_NAMES] == NULL) {
        chunks[id / CHUNK_NAMES] = (rs_name *)rs_raw_calloc(CHUNK_NAMES, sizeof(rs_name));
        if (chunks[id / CHUNK_NAMES] == NULL) {
            dropped++;
            return RS_NAME_UNKNOWN;
        }
    }
    size_t function_size = strlen(function) + 1, file_size = strlen(file) + 1;
    char *strings = (char *)rs_raw_malloc(function_size + file_size);
    if (strings == NULL) {
        dropped++;
        return RS_NAME_UNKNOWN;
    }
    memcpy(strings, function, function_size);
    memcpy(strings + function_size, file, file_size);
    rs_name *name = name_at(id);
    name->function = strings;
    name->file = strings + function_size;
    name->line = line;
    name->first_line = first_line;
    atomic_store_explicit(&name_count, id + 1, memory_order_release);
    name_index[slot] = id + 1;
    if ((id + 1) * 2 > name_index_mask + 1) {
        grow_index(); /* On failure the index stays correct, only fuller. */
    }
    return id;
}

uint32_t
rs_names_intern_content(const char *function, const char *file, int32_t line, int32_t first_line)
{
    if (ensure_tables() < 0) {
        return rs__names_drop();
    }
    return intern_content(function, file, line, first_line);
}

uint32_t
rs__names_drop(void)
{
    dropped++;
    return RS_NAME_UNKNOWN;
}

const rs_name *
rs_names_get(uint32_t id)
{
    if (id >= atomic_load_explicit(&name_count, memory_order_acquire)) {
        return id == RS_NAME_UNKNOWN ? &unknown_name : NULL;
    }
    return name_at(id);
}

uint64_t
rs_names_dropped(void)
{
    return dropped;
}
