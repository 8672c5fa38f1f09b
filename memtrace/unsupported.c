/*
 * unsupported.c: the memory tracer of the portable build, which has none.
 *
 * The allocator hooks (hooks.c) read the interpreter's frame structs inside every sampled
 * allocation, where the public frame API cannot be used (it allocates and may run Python code),
 * so the portable build (RS_PORTABLE, see setup.py) leaves memtrace/hooks.c and growth.c out
 * and links these instead. reqscope's Python layer never asks for memory tracing there: it
 * warns once and records the scope without it (reqscope/_portable.py), so a report has no
 * "memory" section. A direct _core.Scope(memory=True) is refused here with a clear error. The
 * leak view is empty and its drop counters are zero.
 */
#include "growth.h"
#include "memory.h"

int
rs_mem_prepare(void)
{
    PyErr_SetString(PyExc_RuntimeError,
                    "reqscope: the memory tracer is not available in the portable build");
    return -1;
}

int
rs_mem_chained(void)
{
    return 0; /* Never installed. */
}

int
rs_mem_uninstall(void)
{
    return 1; /* Never installed. */
}

void
rs_mem_enable(rs_mem_state *state)
{
    /* Unreachable: no memory state is ever made (rs_mem_prepare refuses). */
}

void
rs_mem_finish(rs_scope *scope, int abandoned)
{
    /* No scope has a memory state to finish. */
}

void
rs_mem_growth_reset(void)
{
    /* Nothing is followed. */
}

PyObject *
rs_growth_report(double min_confidence, int everything)
{
    return PyList_New(0);
}

PyObject *
rs_growth_dropped(void)
{
    return Py_BuildValue("{s:i,s:i}", "routes", 0, "sites", 0);
}

void
rs_growth_set_warmup(uint32_t requests)
{
    /* Nothing is followed. */
}
