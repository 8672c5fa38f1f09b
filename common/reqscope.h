/*
 * reqscope.h: what every component shares: the scope, its options, and the lookup of the
 * current scope.
 *
 * A scope is one profiled unit of work. Sync code finds its scope through a C thread-local,
 * asyncio code through a ContextVar (each task runs in its own context, so interleaved requests
 * on one loop never see each other's scope). The SQL hooks run with the GIL held and read the
 * ContextVar, which is right for both; the thread-local is what native threads without a Python
 * context (the sampler) will read. When no scope is entered anywhere in the process,
 * rs_active_scopes is zero and every hook returns after that one test.
 */
#ifndef RS_REQSCOPE_H
#define RS_REQSCOPE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

struct rs_sql_state;
struct rs_cpu_state;
struct rs_mem_state;

typedef struct {
    int memory;              /* Trace Python allocations (sampled). */
    long memory_rate;        /* Mean bytes between allocation samples; 1 = every one. */
    int memory_nframes;      /* Frames kept per allocation sample. */
    int cpu;                 /* Sample Python stacks with the native sampler. */
    double interval;         /* Sampling interval, seconds. */
    int sql;                 /* Record SQL statements. */
    int show_params;         /* Keep a repr of each fingerprint's first parameters. */
    int explain;             /* EXPLAIN slow reads once per fingerprint. */
    int explain_analyze;     /* Use EXPLAIN ANALYZE (always rolled back). */
    double slow_ms;          /* A statement at least this long is slow. */
    double slow_share;       /* ... or at least this share of the scope's wall time, */
    double slow_min_ms;      /* ... and at least this long. */
    long n_plus_one_min;     /* Executions from one call site that make an N+1. */
    PyObject *exclude_paths; /* Tuple of str: path prefixes that are never a call site. */
    PyObject *own_paths;     /* Tuple of str: reqscope's own package, never blamed. */
} rs_scope_options;

typedef enum { RS_SCOPE_NEW = 0, RS_SCOPE_ACTIVE, RS_SCOPE_DONE } rs_scope_state;

typedef struct rs_scope {
    PyObject_HEAD
    uint64_t id;               /* Process-unique, increasing. */
    PyObject *name;            /* str. */
    PyObject *request;         /* dict set by a middleware, or None. */
    double started_at;         /* Wall clock at entry, seconds since the epoch. */
    uint64_t start_ns, end_ns; /* Monotonic clock at entry and exit. */
    uint64_t cpu_start_ns;     /* Entering thread's CPU clock at entry. */
    clockid_t cpu_clock;       /* The entering thread's CPU clock, readable from any thread. */
    int has_cpu_clock;
    uint64_t cpu_ns; /* CPU time of the entering thread inside the scope. */
    rs_scope_state state;
    struct rs_scope *parent;          /* The scope that was current at entry (strong), or NULL. */
    struct rs_scope *thread_previous; /* The thread-local's value before entry (strong). */
    PyObject *context_token;          /* Token from ContextVar.set, for reset at exit. */
    rs_scope_options options;
    struct rs_sql_state *sql;    /* Per-scope SQL tables; NULL when SQL is off. */
    struct rs_cpu_state *cpu;    /* Samples from the sampler; NULL when CPU is off. */
    struct rs_mem_state *memory; /* Allocation samples; NULL when memory is off. Outlives the
                                    scope while its sampled allocations are alive. */
    PyObject *coroutine;         /* The asyncio task's root coroutine while it runs, or NULL. */
    pthread_t entering_thread;   /* The thread that entered it. */
    struct rs_scope *active_previous, *active_next; /* The list of active scopes (GIL). */
    PyObject *report;                               /* The report dict, built once after exit. */
} rs_scope;

extern PyTypeObject rs_ScopeType;

/* ScopeOptions: a scope's options, checked once (scope_options.c). */
extern PyTypeObject rs_ScopeOptionsType;

/* Copies a ScopeOptions' options into `options`, with new references to its tuples; -1 with
 * TypeError when `source` is not a ScopeOptions. */
int rs_scope_options_copy(PyObject *source, rs_scope_options *options);

/* Scopes entered and not yet exited, process-wide. Read without the GIL by hooks. */
extern atomic_long rs_active_scopes;

/* Whether no scope is active anywhere: the one test a hook makes before returning. */
static inline int
rs_is_idle(void)
{
    return atomic_load_explicit(&rs_active_scopes, memory_order_relaxed) == 0;
}

/* The ContextVar holding the current scope (set by module init). */
extern PyObject *rs_scope_var;

/* The scope entered last on this thread and not yet exited (strong), or NULL. Sync code only:
 * asyncio tasks interleave on one thread, so readers check that the scope is still active. */
extern __thread rs_scope *rs_thread_scope;

/*
 * Returns the current scope as a new reference, or NULL when none is active: the context's
 * scope, or its nearest active ancestor when that one was exited elsewhere. Never raises:
 * a failing ContextVar read counts as no scope. The caller holds the GIL.
 */
rs_scope *rs_scope_current(void);

/* A new scope, not entered: `name` a str or None, `options` a ScopeOptions or None (the
 * defaults). NULL with an exception when either is wrong. */
rs_scope *rs_scope_new(PyObject *name, PyObject *options);

/* Makes a new scope current in this thread and context; `coroutine` (or NULL) is the running
 * asyncio task's root coroutine, kept while the scope runs so its awaits can be sampled.
 * Returns 0, or -1 with an exception (entered already, a sub-interpreter, out of memory). */
int rs_scope_enter(rs_scope *scope, PyObject *coroutine);

/* Ends an active scope, from any thread or context, and makes the one current before it
 * current again where it was entered. Returns 0, or -1 with RuntimeError when not active. */
int rs_scope_exit(rs_scope *scope);

/* reqscope.profile's C base: its with-block entry and exit (profile.c). */
extern PyTypeObject rs_ProfileBaseType;

/* Readies ProfileBase and the ContextVar of open with-blocks; -1 with an exception. */
int rs_profile_init(void);

/* A new scope, entered (for a CPU scope, with the running asyncio task's root coroutine): what
 * each call of a function decorated with reqscope.profile runs. NULL with an exception. */
rs_scope *rs_profile_begin(PyObject *name, PyObject *options);

/* An exception put aside, around calls that must not run with one set, and put back. */
typedef struct {
    PyObject *type, *value, *traceback; /* From 3.12 the exception is `value` alone. */
} rs_saved_error;

static inline rs_saved_error
rs_error_save(void)
{
    rs_saved_error saved = {NULL, NULL, NULL};
#if PY_VERSION_HEX >= 0x030C0000
    saved.value = PyErr_GetRaisedException();
#else
    PyErr_Fetch(&saved.type, &saved.value, &saved.traceback);
#endif
    return saved;
}

static inline void
rs_error_restore(rs_saved_error saved)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(saved.value);
#else
    PyErr_Restore(saved.type, saved.value, saved.traceback);
#endif
}

/* In a forked child: ends the scopes that other threads of the parent had entered (those
 * threads do not exist here), so that the hooks go back to idle. Holds the GIL. */
void rs_scope_after_fork_in_child(void);

/* The scope's wall time in ms so far (until exit, then at exit). */
double rs_scope_wall_ms(const rs_scope *scope);

#endif /* RS_REQSCOPE_H */
