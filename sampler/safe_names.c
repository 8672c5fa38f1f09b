/*
 * safe_names.c: the name of a sampled frame, read through safe copies (native build).
 *
 * The sampler holds (code object, instruction) addresses that may be freed the moment after,
 * so it names them at once, without the GIL: the qualified name and file are copied out of
 * compact and legacy str objects of any kind and converted to UTF-8, at most NAME_MAX_CHARS
 * characters, and the line comes from co_linetable in the 3.11+ location format
 * (Objects/locations.md in CPython): entries of one header byte (bit 7 set, a 4-bit code, a
 * 3-bit length minus one in code units) and varint payloads, the line as deltas from
 * co_firstlineno. The result is interned by content (names.c). A cache maps the addresses to
 * ids so a hot frame is read once (see names.h for why its key is safe).
 */
#include "names.h"

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
    uint64_t serial; /* The code cache's serial of the facts (0: addresses alone). */
    uint32_t id;
} cache_slot;

/* Addresses to ids. Only the sampler thread names frames, so it needs no lock. */
static cache_slot *cache;
static uint32_t cache_used;

/* One step of the cache's hash: a multiply mixes `word` into every bit, and the fold brings
 * the high bits down to the slot index. */
static inline uint64_t
mix_word(uint64_t hash, uint64_t word)
{
    hash = (hash ^ word) * 0x9e3779b97f4a7c15ull;
    return hash ^ (hash >> 29);
}

/* Copies the str at `address` as UTF-8 into `out` (capacity NAME_MAX_CHARS * 4 + 1). The head
 * is read as far as its layout goes, no further: a short ASCII str may end its mapping, and a
 * read of the longest layout would then fail for it on every sample. */
static int
read_string(const void *address, char *out)
{
    union {
        PyASCIIObject ascii;
        PyCompactUnicodeObject compact;
        PyUnicodeObject legacy;
    } head;
    if (rs_safe_read(&head, address, sizeof(PyASCIIObject)) < 0 ||
        Py_TYPE((PyObject *)&head) != &PyUnicode_Type) {
        return -1;
    }
    Py_ssize_t length = head.ascii.length;
    unsigned int kind = head.ascii.state.kind;
    const void *data;
    if (head.ascii.state.compact && head.ascii.state.ascii) {
        data = (const char *)address + sizeof(PyASCIIObject);
    }
    else if (head.ascii.state.compact) {
        data = (const char *)address + sizeof(PyCompactUnicodeObject);
    }
    else if (rs_safe_read(&head, address, sizeof(PyUnicodeObject)) == 0 &&
             !head.ascii.state.compact) {
        data = head.legacy.data.any;
    }
    else {
        return -1; /* Unreadable, or changed between the two reads. */
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

uint32_t
rs_names_intern(const rs_raw_frame *frame)
{
    if (cache == NULL) {
        cache = (cache_slot *)rs_raw_calloc_resident(CACHE_SLOTS, sizeof(cache_slot));
        if (cache == NULL) {
            return rs__names_drop();
        }
    }
    /* A word at a time: this runs for every frame of every sample. */
    uint64_t hash = mix_word(0xcbf29ce484222325ull, (uintptr_t)frame->code);
    hash = mix_word(hash, (uint32_t)frame->instruction);
    hash = mix_word(hash, (uintptr_t)frame->filename);
    hash = mix_word(hash, (uintptr_t)frame->qualname);
    hash = mix_word(hash, (uint32_t)frame->first_line);
    hash = mix_word(hash, frame->serial);
    hash = hash ? hash : 1;
    uint32_t slot = (uint32_t)hash & (CACHE_SLOTS - 1);
    for (; cache[slot].hash != 0; slot = (slot + 1) & (CACHE_SLOTS - 1)) {
        const cache_slot *entry = &cache[slot];
        if (entry->hash == hash && entry->code == frame->code &&
            entry->instruction == frame->instruction && entry->filename == frame->filename &&
            entry->qualname == frame->qualname && entry->first_line == frame->first_line &&
            entry->serial == frame->serial) {
            return entry->id;
        }
    }
    char function[NAME_MAX_CHARS * 4 + 1], file[NAME_MAX_CHARS * 4 + 1];
    if (read_string(frame->qualname, function) < 0 || read_string(frame->filename, file) < 0) {
        return RS_NAME_UNKNOWN;
    }
    int32_t line = line_of(frame->linetable, frame->first_line, frame->instruction);
    uint32_t id = rs_names_intern_content(function, file, line, frame->first_line);
    if (cache_used * 2 >= CACHE_SLOTS) {
        memset(cache, 0, sizeof(cache_slot) * CACHE_SLOTS);
        cache_used = 0;
        slot = (uint32_t)hash & (CACHE_SLOTS - 1);
    }
    cache[slot] = (cache_slot){hash,
                               frame->code,
                               frame->filename,
                               frame->qualname,
                               frame->instruction,
                               frame->first_line,
                               frame->serial,
                               id};
    cache_used++;
    return id;
}
