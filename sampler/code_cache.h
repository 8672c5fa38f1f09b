/*
 * code_cache.h: what the sampler needs of a code object, kept from one tick to the next.
 *
 * Each tick used to copy the header of every frame's code object, and those headers sit on as
 * many pages as there are frames: for a 60-frame Django stack, most of the pages the kernel had
 * to look up and pin for the tick. Code objects live long, so their facts (names, line table,
 * bytecode bounds) are kept here by address, in the sampler thread's own memory.
 *
 * An address is reused once its code object is freed, so the cache must hear of every free:
 * CPython 3.12+ tells a code watcher (PyCode_AddWatcher); on 3.11, which has no watchers, the
 * code type's deallocator is wrapped. Either way the notice runs with the GIL, in whichever
 * thread frees the object, and only clears the entry (with atomics: the sampler reads without
 * the GIL). A generation counter closes the race of a free landing while the sampler is still
 * reading a stack and its headers: what such a tick read is used, not kept. Until the notice
 * is installed the cache is never filled, and every tick reads the headers as before.
 */
#ifndef RS_CODE_CACHE_H
#define RS_CODE_CACHE_H

#include <stdint.h>

typedef struct {
    const void *filename, *qualname, *linetable; /* Addresses of the code's str and bytes. */
    int32_t first_line;                          /* co_firstlineno. */
    int32_t first_traceable;                     /* _co_firsttraceable, in code units. */
    intptr_t units;                              /* Length of the bytecode, in code units. */
    uint64_t serial; /* Names this reading of the header (rs_code_cache_serial), so a name
                        cached for it is never taken for a later object at the address. */
} rs_code_facts;

/* Starts hearing of every code object's free (once; with the GIL). Returns 0, or -1 when it
 * cannot (no watcher left): the cache then stays empty, which is only slower. */
int rs_code_cache_install(void);

/* Sampler thread only. Copies the facts of the code object at `code` into `facts` and returns
 * 1, or returns 0 when they are not kept. */
int rs_code_cache_find(const void *code, rs_code_facts *facts);

/* Sampler thread only. A new serial for facts just read from a header: unique while the
 * cache hears of frees, 0 (names then keyed by addresses alone, as without the cache) when
 * it does not. */
uint64_t rs_code_cache_serial(void);

/* Sampler thread only. What to pass to rs_code_cache_keep, taken before a stack is read. */
uint32_t rs_code_cache_ticket(void);

/* Sampler thread only. Keeps the facts read from `code`'s header, unless some code object was
 * freed since `ticket` was taken (they may describe a dead object then). */
void rs_code_cache_keep(const void *code, const rs_code_facts *facts, uint32_t ticket);

#endif /* RS_CODE_CACHE_H */
