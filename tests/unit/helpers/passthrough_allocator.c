/*
 * passthrough_allocator.c: a test helper standing for another tool's allocator hooks (memray
 * with Python allocator tracing, a custom tracer): install_passthrough() chains a hook that
 * only calls through onto the MEM and OBJ domains, above whatever is there. Compiled by
 * tests/unit/test_memory.py and loaded with ctypes.PyDLL (the GIL is held across the call).
 */
#include <Python.h>

static PyMemAllocatorEx below[2];
static int domain_numbers[2] = {0, 1};

static void *
passthrough_malloc(void *context, size_t size)
{
    int i = *(int *)context;
    return below[i].malloc(below[i].ctx, size);
}

static void *
passthrough_calloc(void *context, size_t count, size_t size)
{
    int i = *(int *)context;
    return below[i].calloc(below[i].ctx, count, size);
}

static void *
passthrough_realloc(void *context, void *address, size_t size)
{
    int i = *(int *)context;
    return below[i].realloc(below[i].ctx, address, size);
}

static void
passthrough_free(void *context, void *address)
{
    int i = *(int *)context;
    below[i].free(below[i].ctx, address);
}

void
install_passthrough(void)
{
    const PyMemAllocatorDomain domains[2] = {PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};
    for (int i = 0; i < 2; i++) {
        PyMem_GetAllocator(domains[i], &below[i]);
        PyMemAllocatorEx hook = {&domain_numbers[i], passthrough_malloc, passthrough_calloc,
                                 passthrough_realloc, passthrough_free};
        PyMem_SetAllocator(domains[i], &hook);
    }
}
