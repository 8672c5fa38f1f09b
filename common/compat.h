/*
 * compat.h: the CPython-version differences reqscope depends on, in one place.
 *
 * reqscope reads the interpreter's own frame chain (_PyInterpreterFrame) instead of
 * materializing frame objects: PyFrame_GetBack allocates a frame object per level, which would
 * cost more than the statement we time and would allocate through PyMem inside a hook. The
 * struct comes from CPython's internal header for the version we build against (3.11, 3.12 and
 * 3.13 ship it), so field offsets are exact; this file wraps the fields that moved between
 * versions. Include it after Python.h and last: it defines Py_BUILD_CORE for that one header.
 */
#ifndef RS_COMPAT_H
#define RS_COMPAT_H

#include <Python.h>

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030E0000
#error "reqscope supports CPython 3.11, 3.12 and 3.13"
#endif

#define Py_BUILD_CORE 1
#include "internal/pycore_context.h"
#include "internal/pycore_frame.h"
#undef Py_BUILD_CORE

typedef _PyInterpreterFrame rs_pyframe;

/* The innermost frame running on `tstate`, or NULL. The caller holds the GIL. */
static inline rs_pyframe *
rs_compat_current_frame(PyThreadState *tstate)
{
#if PY_VERSION_HEX >= 0x030D0000
    return tstate->current_frame;
#else
    return tstate->cframe != NULL ? tstate->cframe->current_frame : NULL;
#endif
}

/* The calling thread's state, or NULL when it has none (an allocator hook can run then). */
static inline PyThreadState *
rs_compat_thread_state(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyThreadState_GetUnchecked();
#else
    return _PyThreadState_UncheckedGet();
#endif
}

/* The code object a frame runs, or NULL for frames that run no Python code. */
static inline PyCodeObject *
rs_compat_frame_code(rs_pyframe *frame)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *executable = frame->f_executable;
    return (executable != NULL && PyCode_Check(executable)) ? (PyCodeObject *)executable : NULL;
#else
    return frame->f_code;
#endif
}

/* Whether a frame is a real Python frame worth reporting: not a C-stack shim, not one whose
 * first instruction has not run yet. */
static inline int
rs_compat_frame_is_visible(rs_pyframe *frame)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (frame->owner == FRAME_OWNED_BY_CSTACK) {
        return 0;
    }
#endif
    return rs_compat_frame_code(frame) != NULL && !_PyFrame_IsIncomplete(frame);
}

/* The byte offset of the instruction a visible frame is executing, for PyCode_Addr2Line. */
static inline int
rs_compat_frame_instruction(rs_pyframe *frame)
{
    return _PyInterpreterFrame_LASTI(frame) * (int)sizeof(_Py_CODEUNIT);
}

/* The first local ("self" in a method), or NULL; unwraps a cell. Borrowed. */
static inline PyObject *
rs_compat_frame_first_local(rs_pyframe *frame)
{
    PyCodeObject *code = rs_compat_frame_code(frame);
    if (code == NULL || code->co_argcount < 1) {
        return NULL;
    }
    PyObject *first = frame->localsplus[0];
    if (first != NULL && PyCell_Check(first)) {
        first = PyCell_GET(first);
    }
    return first;
}

#endif /* RS_COMPAT_H */
