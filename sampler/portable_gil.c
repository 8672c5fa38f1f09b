/*
 * portable_gil.c: the sampler thread's PyThreadState and the GIL (see portable_gil.h).
 *
 * Public C API only: PyThreadState_New may be called without the GIL; PyEval_RestoreThread and
 * PyEval_SaveThread take and drop it; PyThreadState_Clear and PyThreadState_DeleteCurrent
 * delete the state with the GIL held; PyGC_Disable and PyGC_Enable pause the collector while
 * the sampler holds the GIL. Py_IsFinalizing is public from 3.13; 3.11 and 3.12 call
 * it _Py_IsFinalizing (Include/cpython/pylifecycle.h, not an internal header).
 */
#include "portable_gil.h"

#include <Python.h>

/* The sampler thread's own state, or NULL; a thread-local, so a forked child never sees it. */
static __thread PyThreadState *own_state;

/* Whether the garbage collector was enabled when the GIL was taken (see rs_sampler_gil_take). */
static __thread int collector_was_enabled;

static int
is_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

int
rs_sampler_gil_take(void)
{
    if (is_finalizing()) {
        return -1;
    }
    if (own_state == NULL) {
        own_state = PyThreadState_New(PyInterpreterState_Main());
        if (own_state == NULL) {
            return -1;
        }
    }
    PyEval_RestoreThread(own_state);
    /* The walk materializes frame objects; an allocation must not start a collection here,
     * whose finalizers would run Python code on the sampler thread. A collection due meanwhile
     * runs later on a Python thread. */
    collector_was_enabled = PyGC_Disable();
    return 0;
}

void
rs_sampler_gil_drop(void)
{
    if (collector_was_enabled) {
        PyGC_Enable();
    }
    PyEval_SaveThread();
}

int
rs_sampler_gil_has_thread_state(void)
{
    return own_state != NULL;
}

void
rs_sampler_gil_release_thread_state(void)
{
    if (own_state == NULL) {
        return;
    }
    if (!is_finalizing()) {
        PyEval_RestoreThread(own_state);
        PyThreadState_Clear(own_state);
        PyThreadState_DeleteCurrent();
    }
    own_state = NULL;
}
