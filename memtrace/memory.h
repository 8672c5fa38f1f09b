/*
 * memory.h: the memory tracer: allocator hooks on the MEM and OBJ domains, and what each
 * scope collects from them.
 *
 * The hooks are installed once per process, on the first scope that traces memory, chained to
 * the allocators they replace (tracemalloc's too, in either order), and never removed: a
 * scope only raises a flag. While no memory scope is active and no sampled allocation is
 * alive, a hook is one test and a call through. A sampled allocation (byte_sampler.h) records
 * its size, weight and Python stack (at most the scope's nframes) in its scope's site table
 * and in the live table (live_table.h), so its free is seen wherever it happens.
 *
 * Everything here runs with the GIL held (every MEM and OBJ call holds it), which protects
 * every table. The hooks never call Python and never allocate through PyMem: their tables are
 * raw memory, and a thread-local guard passes through any allocation made while a hook runs.
 */
#ifndef RS_MEMORY_H
#define RS_MEMORY_H

#include "callsite.h"
#include "rawalloc.h"
#include <uthash.h>

#define RS_MEM_MAX_SITES 16384       /* Distinct stacks per scope. */
#define RS_MEM_LIVE_SLOTS (1u << 19) /* Live sampled allocations: 3/4 of this, 8 MiB. */

/* One distinct allocation stack of a scope. */
typedef struct rs_mem_site {
    uint64_t hash;
    int depth;
    rs_frame_ref *frames; /* Strong references to the code objects, innermost first. */
    uint64_t allocated_bytes, freed_bytes, count;
    uint64_t net_at_exit; /* allocated - freed when the scope ended. */
    UT_hash_handle hh;
} rs_mem_site;

typedef struct rs_mem_state {
    long references; /* The scope's, plus one per live sampled allocation. */
    int recording;   /* Until the scope ends. */
    uint64_t rate;   /* Mean bytes between samples; 1 = exact. */
    int nframes;     /* Frames kept per sample. */
    uint64_t allocated_bytes, freed_bytes, live_bytes, peak_bytes, samples;
    uint64_t net_at_exit;
    rs_mem_site *sites;
    unsigned site_count;
    uint64_t dropped_sites, dropped_live;
} rs_mem_state;

/* Installs the hooks, or chains them again if something removed them. Returns 0, or -1 with
 * an exception set. Called at each memory scope's entry. */
int rs_mem_install(void);

/* A new state recording with `rate` and `nframes`, or NULL when out of memory. */
rs_mem_state *rs_mem_state_new(uint64_t rate, int nframes);

/* Starts and stops counting `state` as a recording scope (the hooks' fast test). */
void rs_mem_enable(rs_mem_state *state);
void rs_mem_disable(rs_mem_state *state);

/* Drops the scope's reference; the state goes when its last live allocation is freed. */
void rs_mem_state_release(rs_mem_state *state);

/* Frees states released inside a hook (where code objects must not be released). Called at
 * safe points: scope entry and exit. */
void rs_mem_collect(void);

/* Internal to memtrace: the site of a captured stack in `state` (NULL when the table is full),
 * and a release made inside an allocator hook, which defers the free to rs_mem_collect. */
rs_mem_site *rs__mem_site_for(rs_mem_state *state, const rs_callsite_capture *capture);
void rs__mem_state_release_in_hook(rs_mem_state *state);

#endif /* RS_MEMORY_H */
