/*
 * sampler.h: the native sampling thread and what each scope collects from it.
 *
 * One pthread per process, started on first use, wakes every interval and samples the Python
 * stacks of the threads that currently run a scope with CPU profiling on, and only those. It
 * never takes the GIL: stacks are read through safe copies (stack_reader.h) and named at once
 * (names.h). A thread is sampled for a scope while its current contextvars.Context is one the
 * scope attached: in sync code the thread's own context, in asyncio the running task's, so an
 * event loop's samples go to the request whose task is running, never to another one.
 *
 * Each sample is weighted by the wall time elapsed since that thread was last looked at, and
 * carries that thread's CPU-clock delta, which splits on-CPU from waiting time. A request
 * whose asyncio task is suspended while the loop runs something else gets that time too, off
 * CPU, under its suspended coroutine chain (the awaits from its task's root coroutine down).
 *
 * The portable build (no internal CPython header) takes the GIL once per tick instead and reads
 * stacks with the public frame API (portable_gil.h), at 100 Hz at most.
 *
 * Locking: sampler_lock protects the registry and every attached rs_cpu_state; it is taken by
 * the sampler for one tick, and by Python threads to attach and detach, never across a Python
 * call. A detached state is no longer touched by the sampler and is read without the lock.
 */
#ifndef RS_SAMPLER_H
#define RS_SAMPLER_H

#include <Python.h>
#include <stdint.h>

#include "rawalloc.h"
#include <uthash.h>

#include "arena.h"

#define RS_SAMPLER_MIN_INTERVAL_NS 100000ull    /* 100 us. */
#define RS_SAMPLER_MAX_INTERVAL_NS 100000000ull /* 100 ms. */
#ifdef RS_PORTABLE
/* The portable build takes the GIL every tick (portable_gil.h): 100 Hz at most. Shorter
 * intervals are raised to this one. */
#define RS_SAMPLER_PORTABLE_MIN_INTERVAL_NS 10000000ull /* 10 ms. */
#endif
#define RS_SAMPLER_MAX_THREADS 256
#define RS_SAMPLER_MAX_ATTACHMENTS 4096
#define RS_CPU_MAX_STACKS 65536 /* Distinct stacks per scope. */

/* One distinct stack of a scope, with what its samples added up to. */
typedef struct rs_cpu_stack {
    uint64_t hash;
    uint32_t depth;
    uint64_t samples, wall_ns, cpu_ns;
    UT_hash_handle hh;
    uint32_t names[]; /* Name ids, innermost first. */
} rs_cpu_stack;

/* What one scope collects. Owned by the scope; shared by reference with the threads it hands
 * work to (attachments), freed when the last reference goes. */
typedef struct rs_cpu_state {
    rs_arena arena; /* The stacks and their table: the sampler adds to it under its lock. */
    _Atomic int references;
    int closed; /* Detached for good (its scope ended); attaches are refused. Under the lock. */
    uint64_t interval_ns;
    uint64_t samples;      /* Stacks recorded, one per thread per tick. */
    uint64_t ticks;        /* Ticks that recorded at least one stack. */
    uint64_t tick_wall_ns; /* Elapsed time the ticks stand for, once per tick: the ticks the
                              interval asked for over it, less `ticks`, are the missed ones. */
    uint64_t tick_gap_ns;  /* The longest gap of the last tick's samples. */
    uint64_t wall_ns;      /* Elapsed time the samples stand for, summed over threads. */
    uint64_t cpu_ns;       /* CPU time of the sampled threads over the same periods. */
    uint64_t first_sample_ns, last_sample_ns;
    uint64_t dropped_stacks, truncated_stacks, unreadable;
    unsigned stack_count;
    rs_cpu_stack *stacks;
} rs_cpu_state;

/* A new state sampling every `interval_ns` (portable build: at least every
 * RS_SAMPLER_PORTABLE_MIN_INTERVAL_NS), or NULL when out of memory. Holds the GIL. */
rs_cpu_state *rs_cpu_state_new(uint64_t interval_ns);

/* Releases one reference; the last frees the state. Holds the GIL. */
void rs_cpu_state_release(rs_cpu_state *state);

/*
 * Attaches `state` to the calling thread's current context, or with `whole_thread` to any
 * context the thread runs (a worker doing handed-over work), registering the thread and
 * starting the sampler thread if needed. `coroutine`, when not NULL, is the asyncio task's
 * root coroutine: while the thread runs another context, the time goes to its await chain,
 * unless that context holds `scope` (a task the request spawned), whose stack is then sampled
 * for it. `cpu_now_ns` is the calling thread's CPU clock, just read by the caller (a system
 * call the scope makes anyway): the thread's first sample counts its CPU time from there. The
 * caller keeps `coroutine` alive until it detaches, and holds a reference to `state` across
 * the call (it may release the GIL). Attaching a closed state does nothing. Holds the GIL.
 * Returns 0, or -1 with an exception set (too many threads or attachments, or the thread could
 * not be started).
 */
int rs_sampler_attach(rs_cpu_state *state, int whole_thread, const void *coroutine,
                      const void *scope, uint64_t cpu_now_ns);

/* Undoes one rs_sampler_attach made by the calling thread with the same `whole_thread` (and,
 * without it, in the same context). After it returns the sampler no longer writes to `state`
 * for that attachment. Holds the GIL. */
void rs_sampler_detach(rs_cpu_state *state, int whole_thread);

/* Detaches `state` from every thread and context for good (its scope ended): later attaches
 * of it do nothing. */
void rs_sampler_detach_all(rs_cpu_state *state);

/*
 * Copies `state`'s counters into `copy` (its stack table left empty) and its stacks into a new
 * array `*stacks` of `rs_raw_malloc`ed entries, under the sampler's lock, so a report can be
 * built from a running scope without holding the lock across Python calls. Returns the number
 * of stacks copied, or -1 when out of memory. The caller frees each entry and the array.
 */
int rs_cpu_state_copy_stacks(rs_cpu_state *state, rs_cpu_state *copy, rs_cpu_stack ***stacks);

/* Stops the sampler thread and waits for it (interpreter exit). Attachments stay; a later
 * attach starts it again. A stop that finds another one joining the thread returns at once. */
void rs_sampler_stop(void);

/* Samples taken by the sampler thread since the process started (for tests). */
uint64_t rs_sampler_ticks(void);

#endif /* RS_SAMPLER_H */
