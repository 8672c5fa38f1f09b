/*
 * sampler.c: the sampling thread, its registry of threads and attachments, and the per-scope
 * stack tables (see sampler.h).
 *
 * The thread sleeps on a condition variable while nothing is attached, so an installed but
 * idle reqscope costs no wake-ups, and after IDLE_EXIT_SECONDS with nothing attached it exits
 * (the next attach starts a new one): a process that profiled once does not keep a thread
 * forever, which CPython 3.12+ would warn about at every later fork. For IDLE_GRACE_NS after
 * the last detach it keeps waking on its deadlines instead, reading nothing: a server's next
 * request usually comes within that, and its attach then needs no signal, whose futex wake
 * (a system call and an interrupt to the sampler's idle CPU) the request would pay.
 *
 * While something is attached it ticks on absolute deadlines (a timed wait on the condition
 * variable, on the monotonic clock) at the smallest interval any attached scope asked for; a
 * tick that comes late is weighted by the real elapsed time and the ticks it stands for are
 * counted as missed. A scope that asks for a shorter interval than the one being slept cuts
 * the sleep short (it would otherwise wait for the longer deadline, and a short scope got no
 * sample at all), and so does a stop.
 * Each deadline is jittered by up to 10% of the interval either way, so a workload whose
 * period is a multiple of the interval is not always caught at the same phase (aliasing);
 * weighting by elapsed time keeps the estimate unbiased. Signals are blocked in the thread, so
 * they keep going to Python's threads.
 *
 * Fork: a pthread_atfork handler takes the lock around fork, and reading_lock, which the thread
 * holds while it reads stacks without the lock (and interns names and fills the code cache,
 * which the child keeps): a fork while it reads waits until it is done, so the child never
 * copies a table in the middle of a change (an index freed and not yet replaced, say). In the
 * child, where the sampler thread does not exist, it empties the registry and marks the thread
 * stopped; the next attach in the child starts a fresh one.
 *
 * The portable build (RS_PORTABLE) reads stacks with the public frame API, under the GIL
 * (portable_gil.h): each tick takes the GIL first, with the lock released, then runs the same
 * three phases, so no Python thread runs, attaches or detaches until the tick is recorded, and
 * drops it again with the lock released. Its ticks are at most 100 Hz.
 */
#include "sampler.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "arena_hash.h" /* The stack tables: sampler_lock protects their adds. */
#include "clock.h"
#ifndef RS_PORTABLE
#include "code_cache.h"
#endif
#include "context_reader.h"
#include "names.h"
#include "reqscope.h"
#include "safe_read.h"
#include "stack_reader.h"
#ifdef RS_PORTABLE
#include "portable_gil.h"
#endif

typedef struct {
    PyThreadState *tstate; /* Identity and address to read; never dereferenced directly. */
    clockid_t cpu_clock;   /* The thread's CPU clock. */
    int has_cpu_clock;
    uint64_t last_wall_ns, last_cpu_ns;
    int users; /* Attachments on this thread; 0 = free slot. */
} sampled_thread;

typedef struct {
    const void *context;   /* The contextvars.Context whose samples go to `state`, or NULL
                              for any context of the thread (a worker running handed-over
                              work, which may switch contexts inside). */
    int thread;            /* Index into threads. */
    rs_cpu_state *state;   /* One reference held. */
    const void *coroutine; /* The request's root coroutine (kept alive by its scope while
                              attached), or NULL: while another task runs, its await chain. */
    const void *scope;     /* The scope (only compared, never read): a task it spawned runs
                              in a copy of `context` holding it (context_reader.h). */
    uint64_t serial;       /* This attachment's own number: a sample read for it is recorded
                              only while it lasts, never into a state that took its place at
                              the same address (a spare state reused by the next scope). */
} attachment;

/* The registry: protected by sampler_lock. */
static pthread_mutex_t sampler_lock = PTHREAD_MUTEX_INITIALIZER;
/* Held by the sampler thread while it reads stacks (phase 2), taken while it holds sampler_lock;
 * the fork handler takes both, in that order. */
static pthread_mutex_t reading_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sampler_wake = PTHREAD_COND_INITIALIZER;
static sampled_thread threads[RS_SAMPLER_MAX_THREADS];
/* Slots of `threads` ever used, from the first: only they are scanned (a scan of all 256 cost
 * a request's attach about 160 cache lines, cold after the request's own work). */
static int thread_slots;
static attachment attachments[RS_SAMPLER_MAX_ATTACHMENTS];
static int attachment_count;
static int running; /* The thread exists in this process. */
static int stop_requested;
/* What the thread waits on sampler_wake for: the interval of the deadline it sleeps to,
 * WAITING_IDLE with nothing attached, 0 while it is awake. An attach asking for less signals. */
static uint64_t waiting_for;
#define WAITING_IDLE UINT64_MAX
static int woken;            /* The last wait was cut short by an attach. */
static uint64_t detached_at; /* rs_now_ns() when the last attachment went. */
static uint64_t last_interval = RS_SAMPLER_MAX_INTERVAL_NS; /* The last ticks' interval. */
static pthread_t sampler_thread;
static int atfork_installed;       /* Written once with the GIL. */
static uint64_t attachment_serial; /* The last attachment's serial. Under the lock. */

static _Atomic uint64_t ticks;

/* Seconds the thread waits with nothing attached before it exits. */
#define IDLE_EXIT_SECONDS 1

/* After the last detach, the thread keeps its deadlines this long before it waits idle. */
#define IDLE_GRACE_NS 20000000ull /* 20 ms. */

/* sampler_wake runs on the monotonic clock, like the deadlines it waits for. Called before the
 * first thread starts, and again in a forked child. */
static void
init_wake(void)
{
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&sampler_wake, &attributes);
    pthread_condattr_destroy(&attributes);
}

/* A stack read by the sampler, and its names; one, since the sampler is one thread. */
static rs_raw_stack raw_stack;
static uint32_t stack_names[RS_STACK_MAX_DEPTH];

/* The state of the last scope freed, kept for the next one with its arena's first chunk: a
 * CPU scope then allocates nothing at its entry, and its stacks, which the sampler thread
 * made, are not freed one by one from a Python thread (each a free into another thread's
 * malloc arena, under that arena's lock). Protected by the GIL, which both hold. */
static rs_cpu_state *spare_state;

rs_cpu_state *
rs_cpu_state_new(uint64_t interval_ns)
{
#ifdef RS_PORTABLE
    if (interval_ns < RS_SAMPLER_PORTABLE_MIN_INTERVAL_NS) {
        interval_ns = RS_SAMPLER_PORTABLE_MIN_INTERVAL_NS;
    }
#endif
    rs_cpu_state *state = spare_state;
    if (state != NULL) {
        spare_state = NULL;
        rs_arena arena = state->arena; /* Reset when the state was released. */
        memset(state, 0, sizeof(*state));
        state->arena = arena;
    }
    else if ((state = (rs_cpu_state *)rs_raw_calloc(1, sizeof(*state))) == NULL) {
        return NULL;
    }
    atomic_init(&state->references, 1);
    state->interval_ns = interval_ns;
    return state;
}

void
rs_cpu_state_release(rs_cpu_state *state)
{
    if (state == NULL || atomic_fetch_sub(&state->references, 1) != 1) {
        return;
    }
    rs_arena_retire(&state->arena, state, (void **)&spare_state);
}

static uint64_t
hash_names(const uint32_t *names, int depth)
{
    uint64_t hash = 0xcbf29ce484222325ull;
    for (int i = 0; i < depth; i++) {
        hash = (hash ^ names[i]) * 0x100000001b3ull;
        hash ^= hash >> 29;
    }
    return hash;
}

/* Adds one sample to `state`. Called by the sampler with the lock held. */
static void
record_sample(rs_cpu_state *state, const uint32_t *names, int depth, int truncated,
              uint64_t wall_ns, uint64_t cpu_ns, uint64_t now_ns)
{
    state->samples++;
    state->wall_ns += wall_ns;
    state->cpu_ns += cpu_ns;
    state->truncated_stacks += truncated != 0;
    if (state->first_sample_ns == 0) {
        state->first_sample_ns = now_ns;
    }
    if (state->last_sample_ns != now_ns) { /* First of its threads sampled in this tick. */
        state->ticks++;
        state->tick_gap_ns = 0;
    }
    if (wall_ns > state->tick_gap_ns) {
        /* The tick stands for the longest gap of its threads: a worker that attached just
         * before it has a short one, and would make the scope's ticks look on time. */
        state->tick_wall_ns += wall_ns - state->tick_gap_ns;
        state->tick_gap_ns = wall_ns;
    }
    state->last_sample_ns = now_ns;
    uint64_t hash = hash_names(names, depth);
    rs_cpu_stack *stack;
    HASH_FIND(hh, state->stacks, &hash, sizeof(hash), stack);
    if (stack == NULL) {
        if (state->stack_count >= RS_CPU_MAX_STACKS) {
            state->dropped_stacks++;
            return;
        }
        stack = (rs_cpu_stack *)rs_arena_calloc(&state->arena, 1,
                                                sizeof(*stack) + sizeof(uint32_t) * depth);
        if (stack == NULL) {
            state->dropped_stacks++;
            return;
        }
        stack->hash = hash;
        stack->depth = (uint32_t)depth;
        memcpy(stack->names, names, sizeof(uint32_t) * depth);
        RS_ARENA_HASH_ADD(&state->arena, state->stacks, hash, sizeof(stack->hash), stack);
        if (RS_HASH_ADD_FAILED(stack)) {
            state->dropped_stacks++;
            return;
        }
        state->stack_count++;
    }
    stack->samples++;
    stack->wall_ns += wall_ns;
    stack->cpu_ns += cpu_ns;
}

/* Reads the stack of `tstate` into raw_stack while it runs in `context`: the context is read
 * again after the stack, and a stack read across a switch (an event loop moving to another
 * task under us) is read again, at most STACK_READ_ATTEMPTS times. Returns 0, or -1 when no
 * consistent stack could be read. */
#define STACK_READ_ATTEMPTS 3

static int
read_consistent_stack(PyThreadState *tstate, const void *context)
{
    for (int attempt = 0; attempt < STACK_READ_ATTEMPTS; attempt++) {
        if (rs_stack_read(tstate, &raw_stack) < 0) {
            return -1;
        }
        if (raw_stack.context == context && raw_stack.context_after == context) {
            return 0;
        }
    }
    return -1;
}

/* A sample read during a tick, recorded once the lock is taken again. */
typedef struct {
    rs_cpu_state *state; /* As attached when the tick began. */
    uint64_t serial;     /* Its attachment's: checked again before recording. */
    int unreadable;      /* The stack could not be read consistently: only counted. */
    uint64_t wall_ns, cpu_ns;
    int depth, truncated;
    uint32_t names[RS_STACK_MAX_DEPTH];
} pending_sample;

#define MAX_PENDING_SAMPLES 256 /* Per tick; more are dropped (one per attached context). */

/* The sampler thread's own scratch for one tick (only it ticks). */
static struct {
    int index;
    PyThreadState *tstate;
    uint64_t wall_ns, cpu_ns;
} planned_threads[RS_SAMPLER_MAX_THREADS];
static int planned_thread_count;
static attachment planned_attachments[RS_SAMPLER_MAX_ATTACHMENTS];
static int planned_attachment_count;
static char sampled_in_child[RS_SAMPLER_MAX_ATTACHMENTS]; /* This tick, per planned one. */
static pending_sample pending[MAX_PENDING_SAMPLES];
static int pending_count;
static uint64_t pending_dropped;

/* Queues a sample of raw_stack (or an unreadable mark) for `each`. */
static void
queue_sample(const attachment *each, uint64_t wall_ns, uint64_t cpu_ns, int unreadable)
{
    if (pending_count == MAX_PENDING_SAMPLES) {
        pending_dropped++;
        return;
    }
    pending_sample *sample = &pending[pending_count++];
    sample->state = each->state;
    sample->serial = each->serial;
    sample->unreadable = unreadable;
    sample->wall_ns = wall_ns;
    sample->cpu_ns = cpu_ns;
    sample->depth = unreadable ? 0 : raw_stack.depth;
    sample->truncated = raw_stack.truncated;
    memcpy(sample->names, stack_names, sizeof(uint32_t) * (size_t)sample->depth);
}

static void
name_raw_stack(void)
{
    for (int depth = 0; depth < raw_stack.depth; depth++) {
        stack_names[depth] = rs_names_intern(&raw_stack.frames[depth]);
    }
}

/* Phase 1, lock held: each thread's elapsed wall and CPU time since it was last looked at,
 * and a copy of the attachments, so stacks can be read without the lock. */
static void
plan_tick(uint64_t now_ns)
{
    planned_thread_count = 0;
    for (int index = 0; index < thread_slots; index++) {
        sampled_thread *thread = &threads[index];
        if (thread->users == 0) {
            continue;
        }
        uint64_t cpu_now_ns = thread->last_cpu_ns;
        struct timespec cpu_time;
        if (thread->has_cpu_clock && clock_gettime(thread->cpu_clock, &cpu_time) == 0) {
            cpu_now_ns = (uint64_t)cpu_time.tv_sec * 1000000000u + (uint64_t)cpu_time.tv_nsec;
        }
        uint64_t wall_ns = now_ns - thread->last_wall_ns;
        uint64_t cpu_ns = cpu_now_ns > thread->last_cpu_ns ? cpu_now_ns - thread->last_cpu_ns : 0;
        planned_threads[planned_thread_count].index = index;
        planned_threads[planned_thread_count].tstate = thread->tstate;
        planned_threads[planned_thread_count].wall_ns = wall_ns;
        planned_threads[planned_thread_count].cpu_ns = cpu_ns < wall_ns ? cpu_ns : wall_ns;
        planned_thread_count++;
        thread->last_wall_ns = now_ns;
        thread->last_cpu_ns = cpu_now_ns;
    }
    memcpy(planned_attachments, attachments, sizeof(attachment) * (size_t)attachment_count);
    planned_attachment_count = attachment_count;
}

/* The scopes a context holds: reqscope's ContextVar there, then its enclosing scopes, at
 * most RS_CHILD_SCOPE_DEPTH; each checked to be a scope before its parent is read. */
#define RS_CHILD_SCOPE_DEPTH 8

static int
scopes_of_context(const void *context, const void **scopes)
{
    const void *scope = rs_context_reader_value(context);
    int count = 0;
    while (scope != NULL && count < RS_CHILD_SCOPE_DEPTH) {
        const void *type = NULL;
        if (rs_safe_read(&type, (const char *)scope + offsetof(PyObject, ob_type), sizeof(type)) <
                0 ||
            type != (const void *)&rs_ScopeType) {
            break;
        }
        scopes[count++] = scope;
        if (rs_safe_read(&scope, (const char *)scope + offsetof(rs_scope, parent), sizeof(scope)) <
            0) {
            break;
        }
    }
    return count;
}

/* Reads raw_stack for thread `t` once per tick; 1 when read, -1 when unreadable. */
static int
read_once(int *read, int t, const void *context)
{
    if (*read == 0) {
        *read = read_consistent_stack(planned_threads[t].tstate, context) < 0 ? -1 : 1;
        if (*read > 0) {
            name_raw_stack();
        }
    }
    return *read;
}

/* Phase 2, lock released: reads each planned thread's stack once, and the await chains of its
 * requests that are not running, into pending samples. A thread running a context that no
 * scope attached (a task a request spawned) is sampled for the scopes that context holds; the
 * request's await chain is then not sampled as well, which would count that time twice. */
static void
read_planned_stacks(void)
{
    pending_count = 0;
    memset(sampled_in_child, 0, sizeof(sampled_in_child));
    for (int t = 0; t < planned_thread_count; t++) {
        int index = planned_threads[t].index;
        uint64_t wall_ns = planned_threads[t].wall_ns, cpu_ns = planned_threads[t].cpu_ns;
        const void *context = rs_stack_read_context(planned_threads[t].tstate);
        int read = 0; /* 1 when raw_stack holds this thread's stack, -1 when unreadable. */
        int scope_count = -1;
        const void *scopes[RS_CHILD_SCOPE_DEPTH];
        for (int i = 0; i < planned_attachment_count; i++) {
            const attachment *each = &planned_attachments[i];
            if (each->thread != index) {
                continue;
            }
            if (each->context == NULL || each->context == context) {
                queue_sample(each, wall_ns, cpu_ns, read_once(&read, t, context) < 0);
                continue;
            }
            if (scope_count < 0) {
                scope_count = scopes_of_context(context, scopes);
            }
            for (int k = 0; k < scope_count; k++) {
                if (scopes[k] == each->scope) {
                    queue_sample(each, wall_ns, cpu_ns, read_once(&read, t, context) < 0);
                    sampled_in_child[i] = 1;
                    break;
                }
            }
        }
        for (int i = 0; i < planned_attachment_count; i++) {
            const attachment *each = &planned_attachments[i];
            if (each->thread != index || each->coroutine == NULL || each->context == context ||
                sampled_in_child[i] || rs_stack_read_suspended(each->coroutine, &raw_stack) < 0) {
                continue;
            }
            name_raw_stack();
            queue_sample(each, wall_ns, 0, 0);
        }
    }
}

/* Phase 3, lock held: records each pending sample into its state if the attachment it was
 * read for still lasts (a scope may have ended during phase 2). */
static void
record_pending(uint64_t now_ns)
{
    for (int p = 0; p < pending_count; p++) {
        const pending_sample *sample = &pending[p];
        for (int i = 0; i < attachment_count; i++) {
            if (attachments[i].serial != sample->serial) {
                continue;
            }
            if (sample->unreadable) {
                sample->state->unreadable++;
            }
            else {
                record_sample(sample->state, sample->names, sample->depth, sample->truncated,
                              sample->wall_ns, sample->cpu_ns, now_ns);
            }
            break;
        }
    }
}

/* Samples every registered thread once. Called with the lock held; releases it while reading
 * stacks, so Python threads attaching or detaching never wait for stack reads. */
static void
tick(void)
{
    uint64_t now_ns = rs_now_ns();
    plan_tick(now_ns);
    pthread_mutex_lock(&reading_lock);
    pthread_mutex_unlock(&sampler_lock);
    read_planned_stacks();
    pthread_mutex_unlock(&reading_lock);
    pthread_mutex_lock(&sampler_lock);
    record_pending(now_ns);
    atomic_fetch_add_explicit(&ticks, 1, memory_order_relaxed);
}

#ifdef RS_PORTABLE
/* A tick of the portable build: tick() with the GIL, which is taken and dropped with the lock
 * released (a Python thread holding the GIL may be waiting for the lock: at fork, say). No tick
 * while the interpreter finalizes. Called with the lock held, which it holds again at return. */
static void
tick_with_gil(void)
{
    pthread_mutex_unlock(&sampler_lock);
    int taken = rs_sampler_gil_take();
    pthread_mutex_lock(&sampler_lock);
    if (taken < 0) {
        return;
    }
    if (!stop_requested) {
        tick();
    }
    pthread_mutex_unlock(&sampler_lock);
    rs_sampler_gil_drop();
    pthread_mutex_lock(&sampler_lock);
}
#endif

/* The tick interval: the smallest any attached state asked for. Lock held. */
static uint64_t
current_interval(void)
{
    uint64_t interval = RS_SAMPLER_MAX_INTERVAL_NS;
    for (int i = 0; i < attachment_count; i++) {
        if (attachments[i].state->interval_ns < interval) {
            interval = attachments[i].state->interval_ns;
        }
    }
    return interval;
}

/* The next deadline's jitter: uniform in [-interval/10, +interval/10], from xorshift64. */
static int64_t
jitter(uint64_t interval, uint64_t *random_state)
{
    uint64_t x = *random_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *random_state = x;
    uint64_t span = interval / 5 + 1;
    return (int64_t)(x % span) - (int64_t)(span / 2);
}

/* Sleeps, with the lock released, until the deadline after `deadline` (or until woken for a
 * shorter interval: then now); returns it. Lock held at call and return. */
static uint64_t
sleep_until_next_deadline(uint64_t deadline, uint64_t interval, uint64_t *random_state)
{
    deadline += interval + jitter(interval, random_state);
    uint64_t now = rs_now_ns();
    if (deadline < now) {
        deadline = now; /* Late: weights carry the real elapsed time. */
    }
    struct timespec until = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
    waiting_for = interval;
    woken = 0;
    while (!woken && !stop_requested &&
           pthread_cond_timedwait(&sampler_wake, &sampler_lock, &until) != ETIMEDOUT) {
    }
    waiting_for = 0;
    return woken ? rs_now_ns() : deadline; /* Woken: tick now, and count from now. */
}

/* A tick at a deadline, unless a stop came meanwhile. Lock held. */
static void
tick_on_deadline(void)
{
#ifdef RS_PORTABLE
    tick_with_gil();
#else
    if (!stop_requested) {
        tick();
    }
#endif
}

static void *
sampler_main(void *unused)
{
    uint64_t deadline = rs_now_ns();
    uint64_t random_state = deadline | 1; /* Never zero. */
    pthread_mutex_lock(&sampler_lock);
    while (!stop_requested) {
        if (attachment_count == 0) {
#ifdef RS_PORTABLE
            if (rs_sampler_gil_has_thread_state()) {
                /* Idle: no thread state is kept while idle, so an idle exit leaves none. */
                pthread_mutex_unlock(&sampler_lock);
                rs_sampler_gil_release_thread_state();
                pthread_mutex_lock(&sampler_lock);
                continue;
            }
#endif
            if (rs_now_ns() - detached_at < IDLE_GRACE_NS) {
                deadline = sleep_until_next_deadline(deadline, last_interval, &random_state);
                if (attachment_count > 0) {
                    tick_on_deadline(); /* Attached while we slept: this deadline counts. */
                }
                continue;
            }
            struct timespec idle_until;
            clock_gettime(CLOCK_MONOTONIC, &idle_until); /* The condition variable's clock. */
            idle_until.tv_sec += IDLE_EXIT_SECONDS;
            waiting_for = WAITING_IDLE;
            int waited = pthread_cond_timedwait(&sampler_wake, &sampler_lock, &idle_until);
            waiting_for = 0;
            if (waited == ETIMEDOUT && attachment_count == 0 && !stop_requested) {
                /* Idle: go away (decided under the lock, so no stop is joining us). */
                running = 0;
                pthread_detach(pthread_self());
                break;
            }
            deadline = rs_now_ns();
            continue;
        }
        last_interval = current_interval();
        deadline = sleep_until_next_deadline(deadline, last_interval, &random_state);
        tick_on_deadline();
    }
    pthread_mutex_unlock(&sampler_lock);
#ifdef RS_PORTABLE
    rs_sampler_gil_release_thread_state(); /* A stop joins us without the GIL. */
#endif
    return NULL;
}

static void
before_fork(void)
{
    pthread_mutex_lock(&sampler_lock);
    pthread_mutex_lock(&reading_lock);
}

static void
after_fork_in_parent(void)
{
    pthread_mutex_unlock(&reading_lock);
    pthread_mutex_unlock(&sampler_lock);
}

/* In the child only the forking thread exists: forget the sampler thread and every
 * attachment (their states stay valid: the scopes that own them still hold references). */
static void
after_fork_in_child(void)
{
    pthread_mutex_init(&sampler_lock, NULL);
    pthread_mutex_init(&reading_lock, NULL);
    init_wake();
    for (int i = 0; i < attachment_count; i++) {
        atomic_fetch_sub(&attachments[i].state->references, 1);
    }
    attachment_count = 0;
    memset(threads, 0, sizeof(threads));
    thread_slots = 0;
    running = 0;
    stop_requested = 0;
    waiting_for = 0;
    woken = 0;
    detached_at = 0;
    rs_safe_read_after_fork();
}

/* Starts the thread unless it runs. Lock held. Returns 0 or an errno value. */
static int
ensure_running(void)
{
    if (running) {
        return 0;
    }
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    int error = pthread_create(&sampler_thread, NULL, sampler_main, NULL);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (error == 0) {
        running = 1;
        stop_requested = 0;
    }
    return error;
}

/* Takes sampler_lock from a Python thread holding the GIL. While it is busy, waits for it
 * without the GIL (other Python threads run meanwhile), but never holds it while waiting for
 * the GIL: a thread that holds the GIL and takes the lock (the fork handler, for one) would
 * otherwise deadlock with us. */
static void
lock_from_python(void)
{
    while (pthread_mutex_trylock(&sampler_lock) != 0) {
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&sampler_lock);
        pthread_mutex_unlock(&sampler_lock);
        Py_END_ALLOW_THREADS
    }
}

static int
find_or_add_thread(PyThreadState *tstate, uint64_t cpu_now_ns)
{
    int free_slot = -1;
    for (int i = 0; i < thread_slots; i++) {
        if (threads[i].users > 0 && threads[i].tstate == tstate) {
            return i;
        }
        if (threads[i].users == 0 && free_slot < 0) {
            free_slot = i;
        }
    }
    if (free_slot < 0) {
        if (thread_slots == RS_SAMPLER_MAX_THREADS) {
            return -1;
        }
        free_slot = thread_slots++;
    }
    sampled_thread *thread = &threads[free_slot];
    thread->tstate = tstate;
    thread->has_cpu_clock = pthread_getcpuclockid(pthread_self(), &thread->cpu_clock) == 0;
    thread->last_wall_ns = rs_now_ns();
    thread->last_cpu_ns = cpu_now_ns;
    thread->users = 0;
    return free_slot;
}

int
rs_sampler_attach(rs_cpu_state *state, int whole_thread, const void *coroutine, const void *scope,
                  uint64_t cpu_now_ns)
{
    PyThreadState *tstate = PyThreadState_Get();
    const void *context = whole_thread ? NULL : tstate->context;
    if (!atfork_installed) {
        pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
        atfork_installed = 1;
        init_wake(); /* No thread has started yet: nothing waits on it. */
#ifndef RS_PORTABLE
        rs_code_cache_install(); /* When it cannot, stacks are read without the cache. */
#endif
    }
    lock_from_python();
    int thread = find_or_add_thread(tstate, cpu_now_ns);
    if (thread < 0 || attachment_count == RS_SAMPLER_MAX_ATTACHMENTS) {
        pthread_mutex_unlock(&sampler_lock);
        PyErr_SetString(PyExc_RuntimeError,
                        "reqscope: too many threads or scopes sampled at "
                        "once for the CPU sampler");
        return -1;
    }
    if (state->closed) { /* Its scope ended while we waited: nothing to sample. */
        pthread_mutex_unlock(&sampler_lock);
        return 0;
    }
    int error = ensure_running();
    if (error != 0) {
        pthread_mutex_unlock(&sampler_lock);
        errno = error;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    threads[thread].users++;
    atomic_fetch_add(&state->references, 1);
    attachments[attachment_count++] =
        (attachment){context, thread, state, coroutine, scope, ++attachment_serial};
    /* Kept for the grace after it ends, as if the thread had ticked for it: a scope shorter
     * than the thread's wake-up (it then finds nothing attached) would otherwise leave the
     * grace at an older, longer interval, and every such scope pay a signal. */
    if (state->interval_ns < last_interval) {
        last_interval = state->interval_ns;
    }
    if (state->interval_ns < waiting_for) {
        woken = 1;
        pthread_cond_signal(&sampler_wake);
    }
    pthread_mutex_unlock(&sampler_lock);
    return 0;
}

/* Removes attachment `i`. Lock held. */
static void
remove_attachment(int i)
{
    threads[attachments[i].thread].users--;
    atomic_fetch_sub(&attachments[i].state->references, 1);
    attachments[i] = attachments[--attachment_count];
    if (attachment_count == 0) {
        detached_at = rs_now_ns();
    }
}

void
rs_sampler_detach(rs_cpu_state *state, int whole_thread)
{
    PyThreadState *tstate = PyThreadState_Get();
    const void *context = whole_thread ? NULL : tstate->context;
    lock_from_python();
    for (int i = 0; i < attachment_count; i++) {
        if (attachments[i].state == state && threads[attachments[i].thread].tstate == tstate &&
            attachments[i].context == context) {
            remove_attachment(i);
            break;
        }
    }
    pthread_mutex_unlock(&sampler_lock);
}

void
rs_sampler_detach_all(rs_cpu_state *state)
{
    lock_from_python();
    state->closed = 1;
    for (int i = attachment_count - 1; i >= 0; i--) {
        if (attachments[i].state == state) {
            remove_attachment(i);
        }
    }
    pthread_mutex_unlock(&sampler_lock);
}

int
rs_cpu_state_copy_stacks(rs_cpu_state *state, rs_cpu_state *copy, rs_cpu_stack ***stacks)
{
    lock_from_python();
    *copy = *state;
    copy->stacks = NULL;
    *stacks = (rs_cpu_stack **)rs_raw_calloc(state->stack_count + 1, sizeof(rs_cpu_stack *));
    unsigned count = 0;
    rs_cpu_stack *stack, *next;
    HASH_ITER(hh, state->stacks, stack, next) {
        if (*stacks == NULL) {
            break;
        }
        size_t size = sizeof(*stack) + sizeof(uint32_t) * stack->depth;
        rs_cpu_stack *duplicate = (rs_cpu_stack *)rs_raw_malloc(size);
        if (duplicate == NULL) {
            break;
        }
        memcpy(duplicate, stack, size);
        (*stacks)[count++] = duplicate;
    }
    pthread_mutex_unlock(&sampler_lock);
    if (*stacks == NULL) {
        return -1;
    }
    return (int)count;
}

void
rs_sampler_stop(void)
{
    lock_from_python();
    if (!running || stop_requested) {
        /* Not running, or another stop is joining it (a thread is joined only once). */
        pthread_mutex_unlock(&sampler_lock);
        return;
    }
    stop_requested = 1;
    uint64_t last_serial = attachment_serial;
    pthread_cond_signal(&sampler_wake);
    pthread_mutex_unlock(&sampler_lock);
    Py_BEGIN_ALLOW_THREADS
    pthread_join(sampler_thread, NULL);
    Py_END_ALLOW_THREADS
    lock_from_python();
    running = 0;
    stop_requested = 0;
    if (attachment_serial != last_serial) {
        /* A scope attached while we joined (it found the thread running): a new thread serves
         * it (and any scope the stop left, as the next attach would). One that cannot start
         * leaves it unsampled, as at its attach; a stop cannot raise. */
        (void)ensure_running();
    }
    pthread_mutex_unlock(&sampler_lock);
}

uint64_t
rs_sampler_ticks(void)
{
    return atomic_load_explicit(&ticks, memory_order_relaxed);
}
