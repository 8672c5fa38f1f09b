/*
 * code_cache.c: the sampler's code-object facts, and the notice of frees that keeps them
 * true (see code_cache.h).
 *
 * Direct-mapped: a code object's slot comes from its address, and a newer code on the same
 * slot replaces the older one. Writers: the sampler thread fills slots; a free (any thread,
 * with the GIL) bumps the generation and then clears the slot if it names the freed code. The
 * sampler takes the generation before it reads a stack, keeps nothing if any code object was
 * freed since (frees are rare once a program runs), and after publishing an entry checks the
 * generation again; all of these are sequentially consistent, so either the free sees the
 * entry and clears it, or the sampler sees the new generation and clears it itself.
 */
#include "code_cache.h"

#include <Python.h>
#include <stdatomic.h>

#define SLOTS 4096 /* Power of two. */

typedef struct {
    _Atomic(uintptr_t) code; /* 0 = empty. */
    rs_code_facts facts;     /* Written and read by the sampler thread only. */
} entry;

static entry entries[SLOTS];
static _Atomic uint32_t generation; /* Code objects freed so far (mod 2^32). */
static int installed; /* Written once, with the GIL, before any attach starts the sampler. */

static inline uint32_t
slot_of(const void *code)
{
    uint64_t mixed = (uint64_t)(uintptr_t)code * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(mixed >> 52) & (SLOTS - 1);
}

/* A code object is being freed: its entry, if any, goes. */
static void
forget(const void *code)
{
    atomic_fetch_add(&generation, 1);
    uintptr_t expected = (uintptr_t)code;
    atomic_compare_exchange_strong(&entries[slot_of(code)].code, &expected, 0);
}

#if PY_VERSION_HEX >= 0x030C0000
static int
on_code_event(PyCodeEvent event, PyCodeObject *code)
{
    if (event == PY_CODE_EVENT_DESTROY) {
        forget(code);
    }
    return 0;
}

int
rs_code_cache_install(void)
{
    if (!installed) {
        if (PyCode_AddWatcher(on_code_event) < 0) {
            PyErr_Clear();
            return -1;
        }
        installed = 1;
    }
    return 0;
}
#else
/* 3.11 has no code watchers: the code type's deallocator is wrapped instead (for good; a
 * module is never unloaded). It is what every code object's last reference calls. */
static destructor original_dealloc;

static void
dealloc_forgetting(PyObject *code)
{
    forget(code);
    original_dealloc(code);
}

int
rs_code_cache_install(void)
{
    if (!installed) {
        original_dealloc = PyCode_Type.tp_dealloc;
        PyCode_Type.tp_dealloc = dealloc_forgetting;
        installed = 1;
    }
    return 0;
}
#endif

int
rs_code_cache_find(const void *code, rs_code_facts *facts)
{
    entry *slot = &entries[slot_of(code)];
    if (atomic_load(&slot->code) != (uintptr_t)code) {
        return 0;
    }
    *facts = slot->facts;
    return 1;
}

uint64_t
rs_code_cache_serial(void)
{
    static uint64_t serials; /* The sampler thread's own. */
    return installed ? ++serials : 0;
}

uint32_t
rs_code_cache_ticket(void)
{
    return atomic_load(&generation);
}

void
rs_code_cache_keep(const void *code, const rs_code_facts *facts, uint32_t ticket)
{
    entry *slot = &entries[slot_of(code)];
    if (!installed || atomic_load(&generation) != ticket) {
        return;
    }
    atomic_store(&slot->code, 0); /* Not found while its facts change. */
    slot->facts = *facts;
    atomic_store(&slot->code, (uintptr_t)code);
    if (atomic_load(&generation) != ticket) {
        atomic_store(&slot->code, 0); /* A free came meanwhile: perhaps of this one. */
    }
}
