/*
 * hooks.c: the allocator hooks of the memory tracer (see memory.h).
 *
 * Each hook calls the allocator it replaced first and records afterwards, so reqscope never
 * changes what the program gets. A hook cannot take a lock or call Python: it runs inside
 * every allocation of the interpreter, possibly inside reqscope's own code, with the GIL held;
 * the GIL is what protects the tables, and a thread-local guard lets any allocation made while
 * a hook records pass straight through. The fast tests: an allocation reads the count of
 * recording scopes and then the thread's countdown (the countdown alone while a scope records:
 * choose_malloc_hook), a free one byte of the live table's filter (all zero while no sample is
 * alive).
 *
 * The hooks are in the chain only while something needs them: a memory scope records, or a
 * sampled allocation is alive (its free must be seen). When neither holds and they are still
 * first in both domains, the end of a memory scope takes them out again, so a process that is
 * not profiling memory pays nothing per allocation; the next memory scope chains them afresh.
 * Swapping MEM and OBJ allocators is safe under the GIL, which every call of those domains
 * holds (the known races of PyMem_SetAllocator are the RAW domain's, called without it).
 * They are never taken out from under another tool chained above them. tracemalloc, started
 * before them, puts back what it found when it stops, which removes them: each memory scope's
 * entry checks, and chains them again (forgetting live samples whose frees went unseen).
 */
#include "byte_sampler.h"
#include "context_reader.h"
#include "growth.h"
#include "live_table.h"
#include "memory.h"
#include "clock.h"
#include "reqscope.h"
#include "compat.h"

#define NO_RECORD UINT32_MAX

/* A live sampled allocation: what its free must undo. While its scope records it is on the
 * scope's list; afterwards it belongs to a growth site, or it is gone. */
typedef struct {
    uintptr_t address;   /* 0 while the record is unused. */
    rs_mem_state *state; /* The recording scope's state, or NULL once handed to growth. */
    union {
        rs_mem_site *site;      /* With a state: the site in it, or NULL (table full). */
        rs_growth_site *growth; /* Without: where the growth tracker follows it. */
    } at;
    uint64_t weight;
    uint32_t previous, next; /* The state's list; `next` also links the unused records. */
    uint32_t request;        /* With a growth site: the request that made it. */
} live_record;

/* All below: protected by the GIL. */
static PyMemAllocatorEx originals[2]; /* What our hooks chain to in MEM, OBJ. */
static const PyMemAllocatorDomain domains[2] = {PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};
static int installed;
static long recording_states; /* States recording now. */
static uint64_t rechains;     /* Times live samples were forgotten: a scope recording then
                                 missed frees and allocations (see forget_live_samples). */
static rs_live_table live;    /* Address -> index into records. */
static live_record *records;  /* Raw and zeroed; touched only as far as records_used. */
static uint32_t records_capacity, records_used, first_free_record = NO_RECORD;

/* Per thread: the guard against recording from inside a hook, and the byte sampler. The
 * initial-exec model makes each access one fs-relative load instead of a __tls_get_addr call
 * (this is a dlopen'ed module; these 40 bytes fit glibc's reserve for that). */
#define HOOK_THREAD_LOCAL static __thread __attribute__((tls_model("initial-exec")))
HOOK_THREAD_LOCAL int in_hook;
HOOK_THREAD_LOCAL int probing;             /* chain_in asks which domains still reach us. */
static int probe_reached[2];               /* MEM, OBJ; protected by the GIL. */
HOOK_THREAD_LOCAL rs_byte_sampler sampler; /* Rate 0 until started: it then picks everything. */

static uint32_t
take_record(void)
{
    uint32_t index = first_free_record;
    if (index != NO_RECORD) {
        first_free_record = records[index].next;
        return index;
    }
    return records_used < records_capacity ? records_used++ : NO_RECORD;
}

static void
put_record(uint32_t index)
{
    records[index].address = 0;
    records[index].state = NULL;
    records[index].next = first_free_record;
    first_free_record = index;
}

static void
link_record(rs_mem_state *state, uint32_t index)
{
    records[index].state = state;
    records[index].previous = NO_RECORD;
    records[index].next = state->live_head;
    if (state->live_head != NO_RECORD) {
        records[state->live_head].previous = index;
    }
    state->live_head = index;
}

static void
unlink_record(uint32_t index)
{
    live_record *record = &records[index];
    if (record->previous != NO_RECORD) {
        records[record->previous].next = record->next;
    }
    else {
        record->state->live_head = record->next;
    }
    if (record->next != NO_RECORD) {
        records[record->next].previous = record->previous;
    }
}

/* Undoes a sampled allocation that was freed, and makes its record unused. */
static void
record_freed(uint32_t index)
{
    live_record *record = &records[index];
    rs_mem_state *state = record->state;
    if (state != NULL) {
        unlink_record(index);
        state->freed_bytes += record->weight;
        state->live_bytes -=
            record->weight < state->live_bytes ? record->weight : state->live_bytes;
        if (record->at.site != NULL) {
            record->at.site->freed_bytes += record->weight;
        }
    }
    else {
        rs__growth_remove(record->at.growth, record->request, record->weight);
    }
    put_record(index);
}

/* (Re)starts the calling thread's sampler at `rate`. */
static void
start_sampler(uint64_t rate)
{
    rs_byte_sampler_init(&sampler, rate, (uint64_t)(uintptr_t)&sampler ^ rs_now_ns());
}

/* The memory state recording for the running context: its scope's, or the nearest enclosing
 * recording one. */
static rs_mem_state *
recording_state(void)
{
    for (rs_scope *scope = (rs_scope *)rs_context_reader_current_value(); scope != NULL;
         scope = scope->parent) {
        if (scope->state == RS_SCOPE_ACTIVE && scope->memory != NULL && scope->memory->recording) {
            return scope->memory;
        }
    }
    return NULL;
}

/* The paths that record stay out of line, so that the hooks' idle paths save no registers;
 * the rarest (a sample) is also cold. */
#define RECORDING_PATH __attribute__((noinline))
#define SLOW_PATH __attribute__((noinline, cold))

/* An allocation that reached the countdown: recorded for the running context's scope when
 * the countdown picks it. The countdown comes first and the scope lookup only then, so the
 * lookup is paid once per sample, not per allocation. The countdown runs on while no scope of
 * this thread records, which is harmless: it is memoryless. Entering a scope restarts it at the
 * scope's rate; a pick for a scope of another rate (another task's, a worker's) restarts it and
 * counts again. */
static SLOW_PATH void
sample_allocation(void *address, size_t size)
{
    uint64_t weight = rs_byte_sampler_crossed(&sampler, size);
    if (weight == 0) {
        return; /* On to the reserve: no pick. */
    }
    rs_mem_state *state = recording_state();
    if (state == NULL) {
        /* No scope records here: pick rarely from now on, when the thread never counted or no
         * scope records anywhere. A thread whose countdown ran at an exact scope's rate 1
         * would otherwise take this path on every allocation, where a tool chained above
         * keeps calling hook_malloc_recording. While another scope records, the rate is left
         * alone: a task of this thread may be in an exact scope, which must miss nothing. */
        if (sampler.rate == 0 || recording_states == 0) {
            start_sampler(RS_MEM_IDLE_RATE);
        }
        return;
    }
    if (sampler.rate != state->rate) {
        start_sampler(state->rate);
        weight = rs_byte_sampler_take(&sampler, size);
        if (weight == 0) {
            return;
        }
    }
    rs_callsite_capture capture;
    rs_callsite_capture_stack(&capture);
    rs_mem_site *site = rs__mem_site_for(state, capture.frames, capture.depth);
    uint64_t stale;
    if (rs_live_table_remove(&live, (uintptr_t)address, &stale)) {
        record_freed((uint32_t)stale); /* Its free went unseen: count it freed now. */
    }
    uint32_t index = take_record();
    if (index == NO_RECORD || rs_live_table_insert(&live, (uintptr_t)address, index) < 0) {
        if (index != NO_RECORD) {
            put_record(index);
        }
        state->dropped_live++;
        return;
    }
    live_record *record = &records[index];
    record->address = (uintptr_t)address;
    record->at.site = site;
    record->weight = weight;
    link_record(state, index);
    state->samples++;
    state->allocated_bytes += weight;
    state->live_bytes += weight;
    if (state->live_bytes > state->peak_bytes) {
        state->peak_bytes = state->live_bytes;
    }
    if (site != NULL) {
        site->allocated_bytes += weight;
        site->count++;
    }
}

/* An allocation that reached the countdown (never recorded from inside a hook: the guard). */
static void
on_pick(void *address, size_t size)
{
    if (address != NULL && !in_hook) {
        in_hook = 1;
        sample_allocation(address, size);
        in_hook = 0;
    }
}

/* Whether an allocation of `size` bytes may be recorded: some scope records and it reaches
 * the thread's countdown. Rarely: the hooks' idle paths are then laid out straight, with no
 * taken branch (without the hint the compiler made the idle path the taken one, and perf
 * counted three times the samples in hook_malloc on the allocation-heavy run). */
static inline int
may_pick(size_t size)
{
    return __builtin_expect(recording_states > 0 && rs_byte_sampler_reached(&sampler, size), 0);
}

/* A free that the filter could not rule out. */
static void
on_free(void *address)
{
    uint64_t index;
    if (!in_hook && rs_live_table_remove(&live, (uintptr_t)address, &index)) {
        in_hook = 1;
        record_freed((uint32_t)index);
        in_hook = 0;
    }
}

static int
initialize_tables(void)
{
    if (rs_live_table_init(&live, RS_MEM_LIVE_SLOTS) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    records_capacity = (uint32_t)live.max_count;
    records = (live_record *)rs_raw_calloc(records_capacity, sizeof(live_record));
    if (records == NULL) {
        rs_live_table_free(&live);
        PyErr_NoMemory();
        return -1;
    }
    records_used = 0;
    first_free_record = NO_RECORD;
    return 0;
}

/*
 * The hooks. Each first tests whether there is anything to record (a pick of the countdown, a
 * free that may be of a sampled block) and, when not, ends in a tail call to the allocator it
 * replaced: an idle or unpicked allocation costs a few instructions and a jump. Otherwise an
 * out-of-line function calls the allocator and records.
 *
 * Each domain has its own set, made from the same inline bodies with the domain a constant, so
 * that the allocator a hook chains to is at a fixed address, and each set is installed with the
 * context of the allocator it chains to: a hook passes its own context on untouched, and the
 * chained call is one indirect jump (a context of ours holding the next allocator took four
 * instructions). A tool chained above ours calls them with the context they were installed
 * with, as it calls any allocator it found, and ours are re-chained only in a domain where no
 * chain reaches them (chain_in), so the context a hook receives is always its next allocator's.
 * An allocation while a scope records takes four instructions and a free seven, against ten
 * and eleven before and four of a hook that only passes through: on the allocation-heavy
 * benchmark the hooks went from about 2.5% of its instructions to 1.4%, the pass-through hooks
 * being 1.0% (callgrind, scope per run at 512 KiB).
 */
#define HOOK_BODY static inline __attribute__((always_inline))

static RECORDING_PATH void *
malloc_picked(int domain, size_t size)
{
    PyMemAllocatorEx *below = &originals[domain];
    if (probing) {
        probe_reached[domain] = 1;
        return below->malloc(below->ctx, size);
    }
    void *address = below->malloc(below->ctx, size);
    on_pick(address, size);
    return address;
}

HOOK_BODY void *
hook_malloc(int domain, void *context, size_t size)
{
    if (may_pick(size)) {
        return malloc_picked(domain, size);
    }
    return originals[domain].malloc(context, size);
}

/* hook_malloc without the test of recording_states, for while a scope records (see
 * choose_malloc_hook): the countdown alone, one subtraction and a branch on its borrow. */
HOOK_BODY void *
hook_malloc_recording(int domain, void *context, size_t size)
{
    if (__builtin_expect(rs_byte_sampler_reached(&sampler, size), 0)) {
        return malloc_picked(domain, size);
    }
    return originals[domain].malloc(context, size);
}

static RECORDING_PATH void *
calloc_picked(int domain, size_t count, size_t size)
{
    void *address = originals[domain].calloc(originals[domain].ctx, count, size);
    on_pick(address, count * size);
    return address;
}

HOOK_BODY void *
hook_calloc(int domain, void *context, size_t count, size_t size)
{
    if (may_pick(count * size)) {
        return calloc_picked(domain, count, size);
    }
    return originals[domain].calloc(context, count, size);
}

/* A realloc is a free of the old block and an allocation of the new one. */
static RECORDING_PATH void *
realloc_recorded(int domain, void *old_address, size_t size, int sample)
{
    void *address = originals[domain].realloc(originals[domain].ctx, old_address, size);
    if (address == NULL) {
        return NULL; /* The old block is untouched. */
    }
    if (rs_live_table_may_hold(&live, (uintptr_t)old_address)) {
        on_free(old_address); /* As in hook_free: NULL is never in the table. */
    }
    if (sample) {
        on_pick(address, size);
    }
    return address;
}

HOOK_BODY void *
hook_realloc(int domain, void *context, void *old_address, size_t size)
{
    int sample = may_pick(size);
    /* The old block's filter mark, as in hook_free: while the leak view follows a sample, every
     * realloc used to take the out-of-line path. */
    if (__builtin_expect(sample || rs_live_table_may_hold(&live, (uintptr_t)old_address), 0)) {
        return realloc_recorded(domain, old_address, size, sample);
    }
    return originals[domain].realloc(context, old_address, size);
}

static RECORDING_PATH void
free_recorded(int domain, void *address)
{
    on_free(address);
    originals[domain].free(originals[domain].ctx, address);
}

/* One byte of the filter answers: the tables exist while the hooks are chained, and a free
 * of NULL that the filter lets through finds nothing (address 0 is never in the table). */
HOOK_BODY void
hook_free(int domain, void *context, void *address)
{
    if (rs_live_table_may_hold(&live, (uintptr_t)address)) {
        free_recorded(domain, address);
        return;
    }
    originals[domain].free(context, address);
}

/* The hooks of one domain: `prefix`_malloc and so on. */
#define DOMAIN_HOOKS(prefix, domain)                                         \
    static void *prefix##_malloc(void *context, size_t size)                 \
    {                                                                        \
        return hook_malloc(domain, context, size);                           \
    }                                                                        \
    static void *prefix##_malloc_recording(void *context, size_t size)       \
    {                                                                        \
        return hook_malloc_recording(domain, context, size);                 \
    }                                                                        \
    static void *prefix##_calloc(void *context, size_t count, size_t size)   \
    {                                                                        \
        return hook_calloc(domain, context, count, size);                    \
    }                                                                        \
    static void *prefix##_realloc(void *context, void *address, size_t size) \
    {                                                                        \
        return hook_realloc(domain, context, address, size);                 \
    }                                                                        \
    static void prefix##_free(void *context, void *address)                  \
    {                                                                        \
        hook_free(domain, context, address);                                 \
    }

DOMAIN_HOOKS(mem, 0)
DOMAIN_HOOKS(obj, 1)

typedef struct {
    PyMemAllocatorEx idle; /* With hook_malloc, right whether or not a scope records; its
                              context is set when chained (the next allocator's). */
    void *(*recording)(void *, size_t); /* The malloc hook while a scope records. */
} domain_hooks;

static const domain_hooks hooks[2] = {
    {{NULL, mem_malloc, mem_calloc, mem_realloc, mem_free}, mem_malloc_recording},
    {{NULL, obj_malloc, obj_calloc, obj_realloc, obj_free}, obj_malloc_recording},
};

/* Whether our hooks are still what the MEM and OBJ domains call first (then removing them
 * removes nobody else's). */
static int
on_top(void)
{
    for (int i = 0; i < 2; i++) {
        PyMemAllocatorEx current;
        PyMem_GetAllocator(domains[i], &current);
        if (current.free != hooks[i].idle.free) {
            return 0;
        }
    }
    return 1;
}

/* Puts the malloc hook that suits the moment first in both domains: the recording one while a
 * scope records (a thread with no recording scope reaches its countdown about once in its
 * rate's bytes: a lookup that finds none), hook_malloc otherwise (one test, and an idle
 * thread's countdown is not touched). Each is right in either case, which matters: a tracer chained
 * above ours keeps calling the one it found, so they are switched only while ours are first. */
static void
choose_malloc_hook(void)
{
    if (!installed || !on_top()) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        void *(*wanted)(void *, size_t) =
            recording_states > 0 ? hooks[i].recording : hooks[i].idle.malloc;
        PyMemAllocatorEx current;
        PyMem_GetAllocator(domains[i], &current);
        if (current.malloc != wanted) {
            current.malloc = wanted;
            PyMem_SetAllocator(domains[i], &current);
        }
    }
}

/* Which domains still reach our hooks, wherever they sit in the chain: one allocation in each,
 * made to take the recording path (every allocation picked) with a probe flag that the hook
 * notes and passes through. Asking the chain itself is the only sure way: a tracer chained
 * above us may call us or, once stopped and restarted, not. */
static void
probe_domains(void)
{
    rs_byte_sampler saved = sampler;
    memset(&sampler, 0, sizeof(sampler)); /* Rate 0: picks everything. */
    recording_states++;
    probing = 1;
    probe_reached[0] = probe_reached[1] = 0;
    PyMem_Free(PyMem_Malloc(1));
    PyObject_Free(PyObject_Malloc(1));
    probing = 0;
    recording_states--;
    sampler = saved;
}

/* Forgets every live sample: their frees may have gone unseen while we were unhooked. A
 * sample handed to growth counts as freed, so a leak is missed rather than one invented; one of
 * a recording scope leaves its live bytes (so a later peak is not raised by it) and is counted
 * in its dropped_live. Counted in `rechains`, which a recording scope compares at its end (only
 * another tool taking the hooks out forgets while one records: uninstall refuses then). */
static void
forget_live_samples(void)
{
    rechains++;
    for (uint32_t index = 0; index < records_used; index++) {
        live_record *record = &records[index];
        if (record->address == 0) {
            continue;
        }
        rs_mem_state *state = record->state;
        if (state != NULL) {
            state->dropped_live++;
            state->live_head = NO_RECORD;
            state->live_bytes -=
                record->weight < state->live_bytes ? record->weight : state->live_bytes;
        }
        else {
            rs__growth_remove(record->at.growth, record->request, record->weight);
        }
        record->address = 0;
        record->state = NULL;
    }
    records_used = 0;
    first_free_record = NO_RECORD;
    rs_live_table_clear(&live);
}

/* Takes our hooks out of both domains, putting back what they chain to. The caller checked
 * that they are first in both and that no sample is alive: every record is unused. */
static void
leave_chain(void)
{
    for (int i = 0; i < 2; i++) {
        PyMem_SetAllocator(domains[i], &originals[i]);
    }
    installed = 0;
    records_used = 0;
    first_free_record = NO_RECORD;
}

/* Leaves the chain when nothing needs the hooks: no scope records, no sample is alive (no
 * free to watch), and they are first in both domains. */
static void
leave_chain_when_unneeded(void)
{
    if (installed && recording_states == 0 && live.count == 0 && on_top()) {
        leave_chain();
    }
}

int
rs_mem_chained(void)
{
    return installed;
}

/* Whether a tool took our hooks out of both domains (a probe reaches neither): we are then
 * out of the chain, and what we followed meanwhile is forgotten (see forget_live_samples).
 * Called when they are not first in the chain. */
static int
taken_out_entirely(void)
{
    probe_domains();
    if (probe_reached[0] || probe_reached[1]) {
        return 0;
    }
    forget_live_samples();
    installed = 0;
    return 1;
}

int
rs_mem_uninstall(void)
{
    if (!installed || recording_states > 0) {
        return installed ? 0 : 1;
    }
    if (!on_top()) {
        /* Someone chained above us: removing ours would remove theirs, unless they already
         * took ours out. */
        return taken_out_entirely();
    }
    forget_live_samples();
    leave_chain();
    return 1;
}

int
rs_mem_prepare(void)
{
    if (records == NULL && initialize_tables() < 0) {
        return -1;
    }
    return 0;
}

/* Chains the hooks in: onto what runs now when they are out, again where a tracer took them
 * out (probed), not at all when they are reached. Allocates nothing but two probe blocks and
 * never lets the GIL go, so no other scope can end (and take them out) before the caller
 * counts its state as recording. */
static void
chain_in(void)
{
    int chain[2] = {1, 1}; /* The domains to chain our hooks into. */
    if (installed) {
        if (on_top()) {
            return; /* Called first in both domains: reached for sure, no probe needed. */
        }
        probe_domains();
        if (probe_reached[0] && probe_reached[1]) {
            return;
        }
        /* Removed under us (a tracer started before us restored what it had found when it
         * stopped): chain again, only where we are gone, onto what runs now. Frees may have
         * gone unseen meanwhile, and what recording scopes allocated was missed. */
        forget_live_samples();
        chain[0] = !probe_reached[0];
        chain[1] = !probe_reached[1];
    }
    for (int i = 0; i < 2; i++) {
        if (chain[i]) {
            PyMem_GetAllocator(domains[i], &originals[i]);
            PyMemAllocatorEx ours = hooks[i].idle;
            ours.ctx = originals[i].ctx;
            PyMem_SetAllocator(domains[i], &ours);
        }
    }
    installed = 1;
}

/* The entering thread's sampler starts at the scope's rate at once: a countdown left at
 * another rate would only notice at its next pick, and an exact scope would miss bytes. */
void
rs_mem_enable(rs_mem_state *state)
{
    chain_in();
    state->rechains_at_start = rechains;
    state->recording = 1;
    recording_states++;
    choose_malloc_hook();
    if (sampler.rate != state->rate) {
        start_sampler(state->rate);
    }
}

/* Moves everything `state` saw into `ancestor`, which records: totals, sites, and the live
 * samples, which `ancestor` now owns. */
static void
merge_into(rs_mem_state *state, rs_mem_state *ancestor)
{
    rs_mem_site *site, *next;
    HASH_ITER(hh, state->sites, site, next) {
        rs_mem_site *target = rs__mem_site_for(ancestor, site->frames, site->depth);
        site->merged_into = target;
        if (target != NULL) {
            target->allocated_bytes += site->allocated_bytes;
            target->freed_bytes += site->freed_bytes;
            target->count += site->count;
        }
    }
    ancestor->allocated_bytes += state->allocated_bytes;
    ancestor->freed_bytes += state->freed_bytes;
    ancestor->samples += state->samples;
    ancestor->dropped_sites += state->dropped_sites;
    ancestor->dropped_live += state->dropped_live;
    ancestor->hooks_removed |= state->hooks_removed;
    if (ancestor->live_bytes + state->peak_bytes > ancestor->peak_bytes) {
        ancestor->peak_bytes = ancestor->live_bytes + state->peak_bytes;
    }
    ancestor->live_bytes += state->live_bytes;
    uint32_t index = state->live_head;
    while (index != NO_RECORD) {
        live_record *record = &records[index];
        uint32_t following = record->next;
        record->at.site = record->at.site != NULL ? record->at.site->merged_into : NULL;
        link_record(ancestor, index);
        index = following;
    }
    state->live_head = NO_RECORD;
}

/* Hands the live samples of `state`, whose scope `scope` ended at the top, to the growth
 * tracker under the scope's name; those it cannot follow are forgotten. */
static void
hand_to_growth(rs_mem_state *state, rs_scope *scope, int abandoned)
{
    rs_growth_route *route = NULL;
    int64_t request = -1;
    if (!abandoned && scope->name != NULL && PyUnicode_CheckExact(scope->name)) {
        request = rs__growth_request(scope->name, &route);
    }
    rs_mem_site *site, *next;
    HASH_ITER(hh, state->sites, site, next) {
        site->growth = NULL;
        if (request < 0 || site->allocated_bytes <= site->freed_bytes) {
            continue;
        }
        PyObject *file = NULL, *function = NULL;
        int line = 0;
        if (rs_callsite_resolve(site->frames, site->depth, scope->options.exclude_paths,
                                scope->options.own_paths, &file, &line, &function) < 0) {
            PyErr_Clear();
            continue;
        }
        site->growth = rs__growth_site_for(route, file, line, function);
        Py_DECREF(file);
        Py_DECREF(function);
    }
    uint32_t index = state->live_head;
    while (index != NO_RECORD) {
        live_record *record = &records[index];
        uint32_t following = record->next;
        rs_growth_site *growth = record->at.site != NULL ? record->at.site->growth : NULL;
        if (growth != NULL) {
            record->state = NULL;
            record->at.growth = growth;
            record->request = (uint32_t)request;
            rs__growth_add(growth, record->request, record->weight);
        }
        else {
            uint64_t ignored;
            rs_live_table_remove(&live, record->address, &ignored);
            put_record(index);
        }
        index = following;
    }
    state->live_head = NO_RECORD;
}

void
rs_mem_finish(rs_scope *scope, int abandoned)
{
    rs_mem_state *state = scope->memory;
    if (state == NULL || !state->recording) {
        return;
    }
    state->recording = 0;
    recording_states--;
    /* Hooks chained above a tracer that then stopped were put back out by it, unseen; found
     * now (out of one domain, or of both, which counts as a re-chain), or by a scope that
     * chained them in again meanwhile. */
    if (installed && !on_top() && !taken_out_entirely()) {
        state->hooks_removed = !probe_reached[0] || !probe_reached[1];
    }
    state->hooks_removed |= rechains != state->rechains_at_start;
    rs_mem_state *ancestor = NULL;
    for (rs_scope *outer = scope->parent; outer != NULL && ancestor == NULL;
         outer = outer->parent) {
        if (outer->state == RS_SCOPE_ACTIVE && outer->memory != NULL && outer->memory->recording) {
            ancestor = outer->memory;
        }
    }
    if (ancestor != NULL) {
        merge_into(state, ancestor);
        /* This thread's countdown ran at the inner scope's rate: back to the one now
         * recording here (an exact outer scope would otherwise miss bytes until a pick). */
        rs_mem_state *now = recording_state();
        if (now != NULL && sampler.rate != now->rate) {
            start_sampler(now->rate);
        }
        return;
    }
    /* Resolving lines runs Python code: an exception in flight (a scope dropped while one
     * propagates) is put aside and back. */
    rs_saved_error in_flight = rs_error_save();
    hand_to_growth(state, scope, abandoned);
    rs_error_restore(in_flight);
    leave_chain_when_unneeded();
    choose_malloc_hook();
}

void
rs_mem_growth_reset(void)
{
    for (uint32_t index = 0; index < records_used; index++) {
        if (records[index].address != 0 && records[index].state == NULL) {
            uint64_t ignored;
            rs_live_table_remove(&live, records[index].address, &ignored);
            put_record(index);
        }
    }
    rs__growth_clear();
    leave_chain_when_unneeded();
}
