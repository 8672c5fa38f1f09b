/*
 * passthrough_hooks.c: the cheapest allocator hooks there are, as a yardstick for the memory
 * tracer's benchmark (bench/memory_overhead.py builds and imports it).
 *
 * install() puts a pair of hooks on the MEM and OBJ domains that only pass each call to the
 * allocator they replaced; uninstall() puts that allocator back. What they cost is the floor
 * for any tracer built on PyMem_SetAllocator (reqscope, tracemalloc, memray's Python hooks):
 * one more indirect call per allocation and per free, and nothing recorded.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyMemAllocatorEx original;
} passthrough;

static const PyMemAllocatorDomain domains[2] = {PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};
static passthrough contexts[2];
static int installed;

static void *
pass_malloc(void *context, size_t size)
{
    passthrough *hook = context;
    return hook->original.malloc(hook->original.ctx, size);
}

static void *
pass_calloc(void *context, size_t count, size_t size)
{
    passthrough *hook = context;
    return hook->original.calloc(hook->original.ctx, count, size);
}

static void *
pass_realloc(void *context, void *address, size_t size)
{
    passthrough *hook = context;
    return hook->original.realloc(hook->original.ctx, address, size);
}

static void
pass_free(void *context, void *address)
{
    passthrough *hook = context;
    hook->original.free(hook->original.ctx, address);
}

static PyObject *
install(PyObject *module, PyObject *unused)
{
    for (int i = 0; i < 2 && !installed; i++) {
        PyMem_GetAllocator(domains[i], &contexts[i].original);
        PyMemAllocatorEx hooks = {&contexts[i], pass_malloc, pass_calloc, pass_realloc, pass_free};
        PyMem_SetAllocator(domains[i], &hooks);
    }
    installed = 1;
    Py_RETURN_NONE;
}

static PyObject *
uninstall(PyObject *module, PyObject *unused)
{
    for (int i = 0; i < 2 && installed; i++) {
        PyMem_SetAllocator(domains[i], &contexts[i].original);
    }
    installed = 0;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS, "Chain the pass-through hooks on MEM and OBJ."},
    {"uninstall", uninstall, METH_NOARGS, "Put back the allocators they replaced."},
    {NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, .m_name = "passthrough_hooks",
                                        .m_size = -1, .m_methods = methods};

PyMODINIT_FUNC
PyInit_passthrough_hooks(void)
{
    return PyModule_Create(&module_def);
}
