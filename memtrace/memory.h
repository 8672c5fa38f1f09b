/*
 * memory.h: the memory tracer: allocator hooks on the MEM and OBJ domains, and what each
 * scope collects from them.
 *
 * The hooks are installed once per process, on the first scope that traces memory, chained to
 * the allocators they replace (tracemalloc's too, in either order), and never removed: a
 * scope only raises a flag. While no memory scope is active and no sampled allocation is
 * alive, a hook is one test and a call through. A sampled allocation (byte_sampler.h) records
 * its size, weight and Python stack (at most the scope's nframes) in its scope's site table
 * and in the live table (live_table.h), so its free is seen wherever it happens. The scope is
 * the one current in the running context (a task's own, in asyncio), or its nearest enclosing
 * scope that records memory.
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

#define RS_MEM_MAX_SITES 16384        /* Distinct stacks per scope. */
#define RS_MEM_LIVE_SLOTS (1u << 19)  /* Live sampled allocations: 3/4 of this. */
#define RS_MEM_IDLE_RATE (512 * 1024) /* The countdown of a thread that runs no memory scope. */

struct rs_growth_site;

/* One distinct allocation stack of a scope. */
typedef struct rs_mem_site {
    uint64_t hash;
    int depth;
    rs_frame_ref *frames; /* Strong references to the code objects, innermost first. */
    uint64_t allocated_bytes, freed_bytes, count;
    struct rs_mem_site *merged_into; /* Scratch while its scope ends. */
    struct rs_growth_site *growth;   /* Scratch while its scope ends. */
    UT_hash_handle hh;
} rs_mem_site;

typedef struct rs_mem_state {
    int recording; /* Until the scope ends. */
    uint64_t rate; /* Mean bytes between samples; 1 = exact. */
    int nframes;   /* Frames kept per sample. */
    uint64_t allocated_bytes, freed_bytes, live_bytes, peak_bytes, samples;
    uint32_t live_head; /* Its sampled allocations alive, while it records (a record index). */
    rs_mem_site *sites;
    unsigned site_count;
    uint64_t dropped_sites, dropped_live;
    int hooks_removed;          /* Found at its end: another tool took our hooks out of the chain
                                   while it recorded (tracemalloc.stop() after tracemalloc.start()
                                   and this scope's entry), so its figures miss what followed. */
    uint64_t rechains_at_start; /* The hooks' re-chain count when it began recording. */
} rs_mem_state;

/* Makes the tables the hooks record into (once). Returns 0, or -1 with an exception set.
 * Called at a memory scope's entry, before anything that cannot be undone. */
int rs_mem_prepare(void);

/* Removes the hooks when no memory scope records and nothing was chained above them (removing
 * ours would then remove that too), or finds them already taken out of both domains by such a
 * tool; the live samples are forgotten, and the leak view stops following them. Returns 1 when
 * the hooks are gone, 0 when they stay (idle). */
int rs_mem_uninstall(void);

/* Whether we chained the hooks in and have not taken them out since (another tool may have). */
int rs_mem_chained(void);

/* A new state recording with `rate` and `nframes`, or NULL when out of memory. */
rs_mem_state *rs_mem_state_new(uint64_t rate, int nframes);

/* Frees a state that is not recording. */
void rs_mem_state_free(rs_mem_state *state);

/* Chains the hooks in (again, after they left the chain or something took them out) and
 * starts counting `state` as a recording scope (the hooks' fast test), in one step that lets
 * no other thread run: no scope ending meanwhile can take the hooks out under it. The tables
 * must exist (rs_mem_prepare). */
void rs_mem_enable(rs_mem_state *state);

/*
 * Ends the recording of `scope`'s memory state at its exit (or its deallocation): its totals
 * and sites freeze. The sampled allocations it leaves alive go to the nearest enclosing scope
 * that still records memory, whose totals and sites then include everything this scope saw;
 * without one, to the growth tracker (growth.h) under the scope's name, each at the line of
 * the user's code that allocated it. An `abandoned` scope (one whose thread did not survive a
 * fork) hands nothing to the growth tracker: it is no finished request. When then no scope
 * records and no sample is alive, the hooks leave the chain (if nothing sits above them).
 * Called at a safe point, with the GIL; never raises, and leaves an exception in flight
 * untouched.
 */
void rs_mem_finish(rs_scope *scope, int abandoned);

/* Forgets the growth tracker's routes and sites, and the allocations handed to it (the hooks
 * then leave the chain if nothing else needs them). */
void rs_mem_growth_reset(void);

/* Internal to memtrace: the site of a stack in `state`, made on first use (NULL when the
 * table is full). Takes references to the code objects of a new site. */
rs_mem_site *rs__mem_site_for(rs_mem_state *state, const rs_frame_ref *frames, int depth);

#endif /* RS_MEMORY_H */
