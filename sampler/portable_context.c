/*
 * portable_context.c: context_reader.h for the portable build, through the mapping protocol.
 *
 * A contextvars.Context is a read-only mapping from ContextVar to value, so the scope a context
 * holds is context[variable], looked up with PyObject_GetItem (a missing variable is a
 * KeyError, cleared). That needs the GIL, which the portable sampler holds while it reads
 * (portable_gil.h); the native reader's walk of CPython's private HAMT is not needed.
 * rs_context_reader_current_value is for the memory tracer's hooks, which the portable build
 * does not have.
 */
#include "context_reader.h"

/* reqscope's ContextVar (strong; module init sets it once, with the GIL). */
static PyObject *variable;

int
rs_context_reader_init(PyObject *scope_variable)
{
    Py_XSETREF(variable, Py_NewRef(scope_variable));
    return 0;
}

const void *
rs_context_reader_value(const void *context)
{
    if (variable == NULL || context == NULL || !PyContext_CheckExact((PyObject *)context)) {
        return NULL;
    }
    PyObject *value = PyObject_GetItem((PyObject *)context, variable);
    if (value == NULL) {
        PyErr_Clear();
        return NULL;
    }
    /* Borrowed: the context keeps it, and nothing can change the context while the GIL is held. */
    Py_DECREF(value);
    return value;
}
