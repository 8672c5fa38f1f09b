/*
 * names.c: interning of sampled frames' names (see names.h).
 *
 * Strings are copied out of compact and legacy str objects of any kind and converted to UTF-8,
 * at most NAME_MAX_CHARS characters. The line comes from co_linetable in the 3.11+ location
 * format (Objects/locations.md in CPython): entries of one header byte (bit 7 set, a 4-bit
 * code, a 3-bit length minus one in code units) and varint payloads, the line as deltas from
 * co_firstlineno.
 */
#include "names.h"

#include <stdatomic.h>
#include <string.h>

#include "compat.h"
#include "rawalloc.h"
#include "safe_read.h"
#include "utf8.h"

#define NAME_MAX_CHARS 256
#define LINETABLE_MAX_BYTES 65536
#define CACHE_SLOTS (1u << 16) /* Power of two; cleared when half full. */

typedef struct {
    uint64_t hash; /* 0 = empty. */
    const void *code, *filename, *qualname;
    int32_t instruction, first_line;
    uint32_t id;
} cache_slot;

#define CHUNK_NAMES 4096u

/* Names by id, in chunks that never move: readers (report building, with the GIL and without
 * the sampler's lock) see entries below name_count, which the writer publishes with release
 * order after filling them. Everything else below is protected by the sampler's lock. */
static rs_name *chunks[RS_NAMES_MAX / CHUNK_NAMES];
static _Atomic uint32_t name_count;
static uint32_t *name_index; /* Open addressing over content hash -> id + 1. */
static uint32_t name_index_mask;
static cache_slot *cache;
static uint32_t cache_used;
static uint64_t dropped;

static uint64_t
hash_bytes(uint64_t hash, const void *data, size_t length)
{
    const unsigned char *bytes = data;
    for (size_t i = 0; i < length; i++) {
        hash = (hash ^ bytes[i]) * 0x100000001b3ull;
    }
    return hash;
}

/* Copies the str at `address` as UTF-8 into `out` (capacity NAME_MAX_CHARS * 4 + 1). */
static int
read_string(const void *address, char *out)
{
    union {
        PyCompactUnicodeObject compact;
        PyUnicodeObject legacy;
    } head;
    if (rs_safe_read(&head, address, sizeof(head)) < 0 ||
        Py_TYPE((PyObject *)&head) != &PyUnicode_Type) {
        return -1;
    }
    Py_ssize_t length = head.compact._base.length;
    unsigned int kind = head.compact._base.state.kind;
    const void *data;
    if (head.compact._base.state.compact) {
        data = (const char *)address + (head.compact._base.state.ascii
                                            ? sizeof(PyASCIIObject)
                                            : sizeof(PyCompactUnicodeObject));
    }
    else {
        data = head.legacy.data.any;
    }
    if (length < 0 || kind < 1 || kind > 4 || kind == 3) {
        return -1;
    }
    if (length > NAME_MAX_CHARS) {
        length = NAME_MAX_CHARS;
    }
    unsigned char raw[NAME_MAX_CHARS * 4];
    if (length > 0 && rs_safe_read(raw, data, (size_t)length * kind) < 0) {
        return -1;
    }
    size_t used = 0; /* Bytes written to out. */
    for (Py_ssize_t i = 0; i < length; i++) {
        uint32_t point;
        if (kind == 1) {
            point = raw[i];
        }
        else if (kind == 2) {
            point = ((const uint16_t *)raw)[i];
        }
        else {
            point = ((const uint32_t *)raw)[i];
        }
        used += rs_utf8_put(point <= 0x10ffff ? point : 0xfffd, out + used); /* Stale bytes. */
    }
    out[used] = '\0';
    return 0;
}

/* A varint of the location table: 6-bit groups, bit 6 says another group follows. */
static unsigned int
read_varint(const unsigned char *table, size_t size, size_t *position)
{
    unsigned int value = 0, shift = 0;
    while (*position < size) {
        unsigned char byte = table[(*position)++];
        value |= (unsigned int)(byte & 63) << shift;
        shift += 6;
        if (!(byte & 64) || shift > 30) {
            break;
        }
    }
    return value;
}

static int
read_signed_varint(const unsigned char *table, size_t size, size_t *position)
{
    unsigned int value = read_varint(table, size, position);
    return (value & 1) ? -(int)(value >> 1) : (int)(value >> 1);
}

/* The line of the instruction at byte offset `instruction`, or `first_line` when unknown. */
static int32_t
line_of(const void *linetable_address, int32_t first_line, int32_t instruction)
{
    struct {
        PyBytesObject head;
    } bytes;
    if (rs_safe_read(&bytes, linetable_address, offsetof(PyBytesObject, ob_sval)) < 0 ||
        Py_TYPE((PyObject *)&bytes) != &PyBytes_Type) {
        return first_line;
    }
    size_t size = (size_t)Py_SIZE(&bytes.head);
    if (size > LINETABLE_MAX_BYTES) {
        size = LINETABLE_MAX_BYTES;
    }
    unsigned char *table = (unsigned char *)rs_raw_malloc(size + 1);
    if (table == NULL ||
        rs_safe_read(table, (const char *)linetable_address + offsetof(PyBytesObject, ob_sval),
                     size) < 0) {
        rs_raw_free(table);
        return first_line;
    }
    int32_t target = instruction / (int32_t)sizeof(_Py_CODEUNIT); /* In code units. */
    int32_t address = 0;                                          /* Start of the entry. */
    int line = first_line, result = first_line;
    size_t position = 0;
    while (position < size) {
        unsigned char header = table[position++];
        int code = (header >> 3) & 15;
        int length = (header & 7) + 1;
        int entry_line;
        if (code == 15) {
            entry_line = -1; /* No location. */
        }
        else if (code == 14) {
            line += read_signed_varint(table, size, &position);
            read_varint(table, size, &position); /* End line delta. */
            read_varint(table, size, &position); /* Column + 1. */
            read_varint(table, size, &position); /* End column + 1. */
            entry_line = line;
        }
        else if (code == 13) {
            line += read_signed_varint(table, size, &position);
            entry_line = line;
        }
        else if (code >= 10) {
            line += code - 10;
            position += 2; /* Start and end columns. */
            entry_line = line;
        }
        else {
            position += 1; /* Column bits. */
            entry_line = line;
        }
        if (target < address + length) {
            result = entry_line >= 0 ? entry_line : first_line;
            break;
        }
        address += length;
        /* Skip continuation bytes up to the next entry header. */
        while (position < size && !(table[position] & 0x80)) {
            position++;
        }
    }
    rs_raw_free(table);
    return result;
}

static const rs_name unknown_name = {"<unknown>", "<unknown>", 0, 0};

static inline rs_name *
name_at(uint32_t id)
{
    return &chunks[id / CHUNK_NAMES][id % CHUNK_NAMES];
}

static int
ensure_tables(void)
{
    if (cache == NULL) {
        cache = (cache_slot *)rs_raw_calloc(CACHE_SLOTS, sizeof(cache_slot));
        name_index_mask = (1u << 12) - 1;
        name_index = (uint32_t *)rs_raw_calloc(name_index_mask + 1, sizeof(uint32_t));
        chunks[0] = (rs_name *)rs_raw_calloc(CHUNK_NAMES, sizeof(rs_name));
        if (cache == NULL || name_index == NULL || chunks[0] == NULL) {
            rs_raw_free(cache);
            rs_raw_free(name_index);
            rs_raw_free(chunks[0]);
            cache = NULL;
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
    uint64_t hash = hash_bytes(0xcbf29ce484222325ull, function, strlen(function) + 1);
    hash = hash_bytes(hash, file, strlen(file) + 1);
    hash = hash_bytes(hash, &line, sizeof(line));
    return hash_bytes(hash, &first_line, sizeof(first_line));
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
rs_names_intern(const rs_raw_frame *frame)
{
    if (ensure_tables() < 0) {
        dropped++;
        return RS_NAME_UNKNOWN;
    }
    /* The fields one by one: the struct's padding is not part of the key. */
    uint64_t hash = hash_bytes(0xcbf29ce484222325ull, &frame->code, sizeof(frame->code));
    hash = hash_bytes(hash, &frame->instruction, sizeof(frame->instruction));
    hash = hash_bytes(hash, &frame->filename, sizeof(frame->filename));
    hash = hash_bytes(hash, &frame->qualname, sizeof(frame->qualname));
    hash = hash_bytes(hash, &frame->first_line, sizeof(frame->first_line));
    hash = hash ? hash : 1;
    uint32_t slot = (uint32_t)hash & (CACHE_SLOTS - 1);
    for (; cache[slot].hash != 0; slot = (slot + 1) & (CACHE_SLOTS - 1)) {
        const cache_slot *entry = &cache[slot];
        if (entry->hash == hash && entry->code == frame->code &&
            entry->instruction == frame->instruction && entry->filename == frame->filename &&
            entry->qualname == frame->qualname && entry->first_line == frame->first_line) {
            return entry->id;
        }
    }
    char function[NAME_MAX_CHARS * 4 + 1], file[NAME_MAX_CHARS * 4 + 1];
    if (read_string(frame->qualname, function) < 0 || read_string(frame->filename, file) < 0) {
        return RS_NAME_UNKNOWN;
    }
    int32_t line = line_of(frame->linetable, frame->first_line, frame->instruction);
    uint32_t id = intern_content(function, file, line, frame->first_line);
    if (cache_used * 2 >= CACHE_SLOTS) {
        memset(cache, 0, sizeof(cache_slot) * CACHE_SLOTS);
        cache_used = 0;
        slot = (uint32_t)hash & (CACHE_SLOTS - 1);
    }
    cache[slot] = (cache_slot){
        hash, frame->code, frame->filename, frame->qualname, frame->instruction, frame->first_line,
        id};
    cache_used++;
    return id;
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
