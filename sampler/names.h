/*
 * names.h: function, file and line of sampled frames, interned.
 *
 * A sample holds (code object, instruction) addresses that may be freed the moment after, so
 * names are resolved at sampling time, in the sampler thread, and interned: each distinct
 * (function, file, line, first line) gets a small id for good (names.c). The native build
 * resolves them by copying the strings and the line table out of the code object
 * (safe_names.c, through safe_read.h); a cache maps addresses to ids, and its key includes the
 * code object's name and file pointers and first line, and the code cache's serial of the
 * facts (code_cache.h): a code object freed and replaced at the same address by another
 * function misses the cache instead of lying, even when the new function's strings reuse the
 * old ones' addresses too (same-length names, as in code generated in a loop). The cache is
 * cleared when full, so code created and freed in a loop keeps memory flat. The portable build
 * names each frame while it walks it, under the GIL (portable_walker.c), through
 * rs_names_intern_content. The interned names are bounded by RS_NAMES_MAX (then new ones count
 * as dropped). Only the sampler thread interns; rs_names_get needs no lock.
 */
#ifndef RS_NAMES_H
#define RS_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "stack_reader.h"

#define RS_NAMES_MAX (1u << 20)
#define RS_NAME_UNKNOWN 0u /* The id of "<unknown>", for frames that could not be named. */

typedef struct {
    const char *function; /* Qualified name, UTF-8. */
    const char *file;     /* co_filename, UTF-8. */
    int32_t line;         /* Line of the instruction (first line when unknown). */
    int32_t first_line;   /* Line of the def. */
} rs_name;

/* The id of a sampled frame's name (RS_NAME_UNKNOWN when it cannot be read or the table is
 * full). The portable walker has named the frame already: its id is in the frame. */
#ifdef RS_PORTABLE
static inline uint32_t
rs_names_intern(const rs_raw_frame *frame)
{
    return frame->name;
}
#else
uint32_t rs_names_intern(const rs_raw_frame *frame);
#endif

/* The id of the name made of `function` and `file` (UTF-8, copied when new), `line` and
 * `first_line`, interned when new; RS_NAME_UNKNOWN when the table is full or out of memory.
 * The sampler thread only. */
uint32_t rs_names_intern_content(const char *function, const char *file, int32_t line,
                                 int32_t first_line);

/* The name of an id, valid for the life of the process; any thread, no lock. NULL for an id
 * never handed out. */
const rs_name *rs_names_get(uint32_t id);

/* Names that could not be interned because the table was full. */
uint64_t rs_names_dropped(void);

/* Internal to the sampler: counts one name that could not be interned; RS_NAME_UNKNOWN. */
uint32_t rs__names_drop(void);

/* Internal to the sampler: FNV-1a of `length` bytes at `data`, continuing from `hash`. */
static inline uint64_t
rs__names_hash_bytes(uint64_t hash, const void *data, size_t length)
{
    const unsigned char *bytes = data;
    for (size_t i = 0; i < length; i++) {
        hash = (hash ^ bytes[i]) * 0x100000001b3ull;
    }
    return hash;
}

#endif /* RS_NAMES_H */
