/*
 * callsite_capture_portable.c: capture of the Python stack under a SQL statement, portable
 * build (no internal CPython header; see setup.py).
 *
 * The same contract as callsite_capture.c through the public frame API: PyEval_GetFrame, then
 * PyFrame_GetBack, PyFrame_GetCode and PyFrame_GetLasti per frame. These materialize frame
 * objects for the interpreter's frames (cached by CPython for the frame's life), so a capture
 * allocates, which the SQL hook may do; the native capture does not. A frame's identity for the
 * nesting checks is its frame object, which rs_callsite_current_frame returns for the innermost
 * frame and rs_callsite_frame_is_running meets again walking out. Code objects are borrowed: each
 * frame on the stack holds its own. The "self" of a registered lazy loader is read with
 * PyFrame_GetVar (CPython 3.12+); on 3.11 the lazy-loader label degrades to none.
 */
#include "callsite.h"

#if PY_VERSION_HEX < 0x030B0000
#error "reqscope needs CPython 3.11 or newer (PyFrame_GetLasti)"
#endif

const void *
rs_callsite_current_frame(void)
{
    return PyEval_GetFrame();
}

int
rs_callsite_frame_is_running(const void *wanted)
{
    PyFrameObject *frame = (PyFrameObject *)Py_XNewRef(PyEval_GetFrame());
    int depth = 0, found = 0; /* Visible frames passed, as a capture counts them. */
    while (frame != NULL && depth < RS_CALLSITE_MAX_DEPTH && !found) {
        if (PyFrame_GetLasti(frame) >= 0) {
            found = (const void *)frame == wanted;
            depth++;
        }
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame); /* Its interpreter frame keeps it while it runs. */
        frame = back;
    }
    Py_XDECREF(frame);
    PyErr_Clear(); /* A frame object that could not be made ends the walk there. */
    return found;
}

/* The first local ("self") of `frame` running `code`, borrowed from the frame, or NULL. */
static PyObject *
first_local(PyFrameObject *frame, PyCodeObject *code)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *arguments = PyObject_GetAttrString((PyObject *)code, "co_argcount");
    long argument_count = arguments != NULL ? PyLong_AsLong(arguments) : 0;
    PyObject *names = argument_count >= 1 ? PyCode_GetVarnames(code) : NULL;
    PyObject *value = NULL;
    if (names != NULL && PyTuple_Check(names) && PyTuple_GET_SIZE(names) > 0) {
        value = PyFrame_GetVar(frame, PyTuple_GET_ITEM(names, 0));
    }
    Py_XDECREF(arguments);
    Py_XDECREF(names);
    PyErr_Clear();
    Py_XDECREF(value); /* The frame's local keeps it. */
    return value;
#else
    return NULL; /* 3.11 has no PyFrame_GetVar: the N+1 finding goes without a label. */
#endif
}

void
rs_callsite_capture_stack(rs_callsite_capture *out)
{
    PyFrameObject *frame = (PyFrameObject *)Py_XNewRef(PyEval_GetFrame());
    rs__callsite_begin(out);
    while (frame != NULL && out->depth < RS_CALLSITE_MAX_DEPTH) {
        int instruction = PyFrame_GetLasti(frame);
        PyCodeObject *code = PyFrame_GetCode(frame);
        if (instruction >= 0) {
            if (out->lazy_owner == NULL) {
                PyObject *labeler = rs__lazy_labeler_of((PyObject *)code);
                if (labeler != NULL) {
                    out->lazy_owner = first_local(frame, code);
                    out->lazy_labeler = out->lazy_owner ? labeler : NULL;
                }
            }
            rs__callsite_keep(out, code, instruction);
        }
        Py_DECREF(code); /* The frame keeps it. */
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame); /* Its interpreter frame keeps it while it runs. */
        frame = back;
    }
    Py_XDECREF(frame);
    PyErr_Clear(); /* A frame object that could not be made ends the capture there. */
}
