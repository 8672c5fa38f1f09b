/*
 * passthrough_allocator.c: another tool's allocator hooks, at their cheapest (memray with
 * Python allocator tracing, a custom tracer): install_passthrough() chains hooks that only call
 * through onto the MEM and OBJ domains, above whatever is there; uninstall_passthrough() puts
 * back what they found (only right while nothing was chained above them since). Compiled by
 * allocators.py beside it, for the memory tests and for bench/memory_overhead.py (the floor of
 * any tracer built on PyMem_SetAllocator); loaded with ctypes.PyDLL (the GIL is held across
 * the calls).
 */
#include <Python.h>

static const PyMemAllocatorDomain domains[2] = {PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};
static PyMemAllocatorEx below[2]; /* Each hook's context is the allocator it calls. */
static int installed;

static void *
passthrough_malloc(void *context, size_t size)
{
    PyMemAllocatorEx *next = context;
    return next->malloc(next->ctx, size);
}

static void *
passthrough_calloc(void *context, size_t count, size_t size)
{
    PyMemAllocatorEx *next = context;
    return next->calloc(next->ctx, count, size);
}

static void *
passthrough_realloc(void *context, void *address, size_t size)
{
    PyMemAllocatorEx *next = context;
    return next->realloc(next->ctx, address, size);
}

static void
passthrough_free(void *context, void *address)
{
    PyMemAllocatorEx *next = context;
    next->free(next->ctx, address);
}

void
install_passthrough(void)
{
    for (int i = 0; i < 2 && !installed; i++) {
        PyMem_GetAllocator(domains[i], &below[i]);
        PyMemAllocatorEx hook = {&below[i], passthrough_malloc, passthrough_calloc,
                                 passthrough_realloc, passthrough_free};
        PyMem_SetAllocator(domains[i], &hook);
    }
    installed = 1;
}

void
uninstall_passthrough(void)
{
    for (int i = 0; i < 2 && installed; i++) {
        PyMem_SetAllocator(domains[i], &below[i]);
    }
    installed = 0;
}
