/*
 * hooks.c: the allocator hooks of the memory tracer (see memory.h).
 *
 * Each hook calls the allocator it replaced first and records afterwards, so reqscope never
 * changes what the program gets. A hook cannot take a lock or call Python: it runs inside
 * every allocation of the interpreter, possibly inside reqscope's own code, with the GIL held;
 * the GIL is what protects the tables, and a thread-local guard lets any allocation made while
 * a hook records pass straight through. The fast test is two integers: recording scopes, and
 * sampled allocations alive (a free must be looked up only while some may be).
 *
 * The hooks are never removed by us, but tracemalloc, started before them, puts back what it
 * found when it stops, which removes them: each memory scope's entry checks, and chains them
 * again (forgetting live samples whose frees went unseen) when they are gone.
 */
#include "byte_sampler.h"
#include "live_table.h"
#include "memory.h"
#include "clock.h"
#include "reqscope.h"

typedef struct {
    PyMemAllocatorEx original; /* The allocator we chain to. */
} hook_context;

/* A live sampled allocation: what its free must undo. */
typedef struct {
    rs_mem_state *state; /* One reference held. */
    rs_mem_site *site;   /* Or NULL when the site table was full. */
    uint64_t weight;
    uint32_t next_free; /* Free-list link when unused. */
} live_record;

/* All below: protected by the GIL. */
static hook_context contexts[2]; /* MEM, OBJ. */
static int installed;
static long recording_states; /* States recording now. */
static rs_live_table live;    /* Address -> index into records. */
static live_record *records;
static uint32_t records_capacity, first_free_record;

/* Per thread: the guard against recording from inside a hook, and the byte sampler. */
static __thread int in_hook;
static __thread rs_byte_sampler sampler;
static __thread uint64_t sampler_rate;

static uint32_t
take_record(void)
{
    uint32_t index = first_free_record;
    if (index < records_capacity) {
        first_free_record = records[index].next_free;
    }
    return index;
}

static void
on_allocation(void *address, size_t size)
{
    rs_scope *scope = rs_thread_scope;
    rs_mem_state *state = scope != NULL && scope->state == RS_SCOPE_ACTIVE ? scope->memory : NULL;
    if (state == NULL || !state->recording) {
        return;
    }
    if (sampler_rate != state->rate) {
        rs_byte_sampler_init(&sampler, state->rate, (uint64_t)(uintptr_t)&sampler ^ rs_now_ns());
        sampler_rate = state->rate;
    }
    uint64_t weight = rs_byte_sampler_take(&sampler, size);
    if (weight == 0) {
        return;
    }
    rs_callsite_capture capture;
    rs_callsite_capture_stack(&capture);
    rs_mem_site *site = rs__mem_site_for(state, &capture);
    uint32_t index = take_record();
    if (index >= records_capacity || rs_live_table_insert(&live, (uintptr_t)address, index) < 0) {
        if (index < records_capacity) {
            records[index].next_free = first_free_record;
            first_free_record = index;
        }
        state->dropped_live++;
        return;
    }
    records[index].state = state;
    records[index].site = site;
    records[index].weight = weight;
    state->references++;
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

static void
on_free(void *address)
{
    uint64_t index;
    if (!rs_live_table_remove(&live, (uintptr_t)address, &index)) {
        return;
    }
    live_record *record = &records[index];
    rs_mem_state *state = record->state;
    state->freed_bytes += record->weight;
    state->live_bytes -= record->weight < state->live_bytes ? record->weight : state->live_bytes;
    if (record->site != NULL) {
        record->site->freed_bytes += record->weight;
    }
    record->state = NULL;
    record->next_free = first_free_record;
    first_free_record = (uint32_t)index;
    rs__mem_state_release_in_hook(state);
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
    for (uint32_t i = 0; i < records_capacity; i++) {
        records[i].next_free = i + 1;
    }
    first_free_record = 0;
    return 0;
}

static void *
hook_malloc(void *context, size_t size)
{
    hook_context *hook = context;
    void *address = hook->original.malloc(hook->original.ctx, size);
    if (address != NULL && recording_states > 0 && !in_hook) {
        in_hook = 1;
        on_allocation(address, size);
        in_hook = 0;
    }
    return address;
}

static void *
hook_calloc(void *context, size_t count, size_t size)
{
    hook_context *hook = context;
    void *address = hook->original.calloc(hook->original.ctx, count, size);
    if (address != NULL && recording_states > 0 && !in_hook) {
        in_hook = 1;
        on_allocation(address, count * size);
        in_hook = 0;
    }
    return address;
}

static void *
hook_realloc(void *context, void *old_address, size_t size)
{
    hook_context *hook = context;
    void *address = hook->original.realloc(hook->original.ctx, old_address, size);
    if (address != NULL && !in_hook && (live.count > 0 || recording_states > 0)) {
        in_hook = 1;
        if (old_address != NULL && live.count > 0) {
            on_free(old_address); /* A realloc is a free of the old block and a new one. */
        }
        if (recording_states > 0) {
            on_allocation(address, size);
        }
        in_hook = 0;
    }
    return address;
}

static void
hook_free(void *context, void *address)
{
    hook_context *hook = context;
    if (address != NULL && live.count > 0 && !in_hook) {
        in_hook = 1;
        on_free(address);
        in_hook = 0;
    }
    hook->original.free(hook->original.ctx, address);
}

/* Whether our hooks are still what the MEM and OBJ domains call first. */
static int
on_top(void)
{
    const PyMemAllocatorDomain domains[2] = {PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};
    for (int i = 0; i < 2; i++) {
        PyMemAllocatorEx current;
        PyMem_GetAllocator(domains[i], &current);
        if (current.ctx != &contexts[i]) {
            return 0;
        }
    }
    return 1;
}

/* Whether tracemalloc traces now (it then sits on top of us and calls us). -1 on error. */
static int
tracemalloc_is_tracing(void)
{
    PyObject *module = PyImport_ImportModule("tracemalloc");
    PyObject *tracing = module ? PyObject_CallMethod(module, "is_tracing", NULL) : NULL;
    int result = tracing ? PyObject_IsTrue(tracing) : -1;
    Py_XDECREF(tracing);
    Py_XDECREF(module);
    return result;
}

/* Forgets every live sample: their frees may have gone unseen while we were unhooked. */
static void
forget_live_samples(void)
{
    for (uint32_t index = 0; index < records_capacity; index++) {
        live_record *record = &records[index];
        if (record->state != NULL) {
            record->state->dropped_live++;
            rs__mem_state_release_in_hook(record->state);
            record->state = NULL;
        }
        record->next_free = index + 1;
    }
    first_free_record = 0;
    memset(live.slots, 0, sizeof(rs_live_slot) * (size_t)(live.mask + 1));
    live.count = 0;
}

int
rs_mem_install(void)
{
    if (installed) {
        if (on_top()) {
            return 0;
        }
        int tracing = tracemalloc_is_tracing();
        if (tracing != 0) {
            return tracing < 0 ? -1 : 0; /* tracemalloc runs above us and calls us. */
        }
        /* Removed under us (tracemalloc, started before us, restored what it had found when
         * it stopped): chain again onto what runs now. */
        forget_live_samples();
    }
    else {
        if (initialize_tables() < 0) {
            return -1;
        }
    }
    const PyMemAllocatorDomain domains[2] = {PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};
    for (int i = 0; i < 2; i++) {
        PyMem_GetAllocator(domains[i], &contexts[i].original);
        PyMemAllocatorEx ours = {&contexts[i], hook_malloc, hook_calloc, hook_realloc, hook_free};
        PyMem_SetAllocator(domains[i], &ours);
    }
    installed = 1;
    return 0;
}

void
rs_mem_enable(rs_mem_state *state)
{
    state->recording = 1;
    recording_states++;
}

void
rs_mem_disable(rs_mem_state *state)
{
    if (state->recording) {
        state->recording = 0;
        recording_states--;
    }
    state->net_at_exit = state->allocated_bytes - state->freed_bytes;
    rs_mem_site *site, *next;
    HASH_ITER(hh, state->sites, site, next) {
        site->net_at_exit = site->allocated_bytes - site->freed_bytes;
    }
}
